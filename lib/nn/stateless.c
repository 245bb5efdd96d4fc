/* lib/nn/stateless.c — modules without parameters: ReLU, Flatten, MaxPool2d, Dropout,
 * Dropout2d, LogSoftmax. Each holds only its hyper-parameters. */
#include "cg_internal.h"

typedef struct stateless { cg_module base; float p; int64_t k; int dim; } stateless;

static cg_tensor *relu_fwd(cg_module *m, cg_tensor *x) { (void)m; return cg_relu(x); }
static cg_tensor *flatten_fwd(cg_module *m, cg_tensor *x) { (void)m; return cg_flatten(x, 1, -1); }
static cg_tensor *maxpool_fwd(cg_module *m, cg_tensor *x) {
    cg_pool2d_params p = cg_pool2d_defaults(((stateless *)m)->k);
    return cg_max_pool2d(x, &p);
}
static cg_tensor *dropout_fwd(cg_module *m, cg_tensor *x) { return cg_dropout(x, ((stateless *)m)->p, m->training); }
static cg_tensor *dropout2d_fwd(cg_module *m, cg_tensor *x) { return cg_dropout2d(x, ((stateless *)m)->p, m->training); }
static cg_tensor *log_softmax_fwd(cg_module *m, cg_tensor *x) { return cg_log_softmax(x, ((stateless *)m)->dim); }

static const cg_module_type relu_type = { "ReLU", relu_fwd, NULL };
static const cg_module_type flatten_type = { "Flatten", flatten_fwd, NULL };
static const cg_module_type maxpool_type = { "MaxPool2d", maxpool_fwd, NULL };
static const cg_module_type dropout_type = { "Dropout", dropout_fwd, NULL };
static const cg_module_type dropout2d_type = { "Dropout2d", dropout2d_fwd, NULL };
static const cg_module_type log_softmax_type = { "LogSoftmax", log_softmax_fwd, NULL };

static cg_module *make(const cg_module_type *t, float p, int64_t k, int dim) {
    stateless *s = (stateless *)cg_module_new(t, sizeof *s);
    if (!s) return NULL;
    s->p = p;
    s->k = k;
    s->dim = dim;
    return &s->base;
}

static bool bad_p(const char *who, float p) {
    if (p >= 0.0f && p <= 1.0f) return false;
    cg_error(CG_EINVAL, "%s: p = %g is outside [0, 1]", who, p);
    return true;
}

cg_module *cg_relu_new(void) { return make(&relu_type, 0, 0, 0); }
bool cg_module_is_relu(const cg_module *m) { return m && m->type == &relu_type; }
int64_t cg_module_maxpool_kernel(const cg_module *m) { return m && m->type == &maxpool_type ? ((const stateless *)m)->k : 0; }
cg_module *cg_flatten_new(void) { return make(&flatten_type, 0, 0, 0); }
cg_module *cg_log_softmax_new(int dim) { return make(&log_softmax_type, 0, 0, dim); }
cg_module *cg_max_pool2d_new(int64_t kernel) {
    if (kernel <= 0) return (cg_module *)CG_FAIL(CG_EINVAL, "MaxPool2d: kernel %lld must be positive", (long long)kernel);
    return make(&maxpool_type, 0, kernel, 0);
}
cg_module *cg_dropout_new(float p) { return bad_p("Dropout", p) ? NULL : make(&dropout_type, p, 0, 0); }
cg_module *cg_dropout2d_new(float p) { return bad_p("Dropout2d", p) ? NULL : make(&dropout2d_type, p, 0, 0); }
