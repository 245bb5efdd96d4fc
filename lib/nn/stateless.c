/* SPDX-License-Identifier: MIT */
/* lib/nn/stateless.c — modules without parameters: Identity, ReLU, LeakyReLU, Sigmoid, Tanh, GELU, SiLU,
 * Hardswish, Softplus, ReLU6, Hardtanh, Flatten,
 * MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Dropout, Dropout2d, LogSoftmax. Each holds only its
 * hyper-parameters; the op it calls checks the input's shape. */
#include <math.h>
#include "spec_write.h"

typedef struct stateless {
    cg_module base;
    float p, q;              /* dropout probability, leaky slope; softplus beta and threshold;
                              * hardtanh min and max */
    bool flag;               /* GELU: approximate='tanh' */
    int dim;                 /* log_softmax */
    cg_pool2d_params pool;   /* pools; adaptive: kernel[] holds the output size */
    cg_rng *rng;             /* dropout: the stream its masks come from (NULL: the default), borrowed */
} stateless;

static stateless *self(cg_module *m) { return (stateless *)m; }
static cg_tensor *identity_fwd(cg_module *m, cg_tensor *x) { (void)m; return x; }
static cg_tensor *relu_fwd(cg_module *m, cg_tensor *x) { (void)m; return cg_relu(x); }
static cg_tensor *leaky_fwd(cg_module *m, cg_tensor *x) { return cg_leaky_relu(x, self(m)->p); }
static cg_tensor *sigmoid_fwd(cg_module *m, cg_tensor *x) { (void)m; return cg_sigmoid(x); }
static cg_tensor *tanh_fwd(cg_module *m, cg_tensor *x) { (void)m; return cg_tanh(x); }
static cg_tensor *gelu_fwd(cg_module *m, cg_tensor *x) { return cg_gelu(x, self(m)->flag); }
static cg_tensor *silu_fwd(cg_module *m, cg_tensor *x) { (void)m; return cg_silu(x); }
static cg_tensor *hardswish_fwd(cg_module *m, cg_tensor *x) { (void)m; return cg_hardswish(x); }
static cg_tensor *softplus_fwd(cg_module *m, cg_tensor *x) { return cg_softplus(x, self(m)->p, self(m)->q); }
static cg_tensor *relu6_fwd(cg_module *m, cg_tensor *x) { (void)m; return cg_relu6(x); }
static cg_tensor *hardtanh_fwd(cg_module *m, cg_tensor *x) { return cg_hardtanh(x, self(m)->p, self(m)->q); }
static cg_tensor *upsample_fwd(cg_module *m, cg_tensor *x) {
    return cg_upsample_nearest2d(x, self(m)->pool.kernel[0], self(m)->pool.kernel[1]);
}
static cg_tensor *flatten_fwd(cg_module *m, cg_tensor *x) { (void)m; return cg_flatten(x, 1, -1); }
static cg_tensor *maxpool_fwd(cg_module *m, cg_tensor *x) { return cg_max_pool2d(x, &self(m)->pool); }
static cg_tensor *avgpool_fwd(cg_module *m, cg_tensor *x) { return cg_avg_pool2d(x, &self(m)->pool); }
static cg_tensor *adaptive_fwd(cg_module *m, cg_tensor *x) {
    return cg_adaptive_avg_pool2d(x, self(m)->pool.kernel[0], self(m)->pool.kernel[1]);
}
static cg_tensor *dropout_fwd(cg_module *m, cg_tensor *x) {
    return cg_dropout(x, self(m)->p, m->training, self(m)->rng);
}
static cg_tensor *dropout2d_fwd(cg_module *m, cg_tensor *x) {
    return cg_dropout2d(x, self(m)->p, m->training, self(m)->rng);
}
static void dropout_set_rng(cg_module *m, cg_rng *rng) { self(m)->rng = rng; }
static cg_tensor *log_softmax_fwd(cg_module *m, cg_tensor *x) { return cg_log_softmax(x, self(m)->dim); }

/* Epilogue stages (cg_fusion, nn.h): ReLU always; MaxPool2d when it is 2x2, stride 2, unpadded. */
static cg_fuse_stage relu_stage(const cg_module *m) { (void)m; return CG_FUSE_RELU; }
static void relu_as_epilogue(cg_module *m, cg_conv_epilogue *ep) { (void)m; ep->relu = true; }
static const cg_fusion relu_fusion = { .stage = relu_stage, .as_epilogue = relu_as_epilogue };
/* ReLU6: a stage of its own, so that only producers that know it take it (Conv2d: a batch norm that
 * runs as its own op runs it fused, batch_norm2d_relu6; else the conv's own epilogue does,
 * conv2d_relu6; Residual: relu6 on the sum). */
static cg_fuse_stage relu6_stage(const cg_module *m) { (void)m; return CG_FUSE_RELU6; }
static void relu6_as_epilogue(cg_module *m, cg_conv_epilogue *ep) { (void)m; ep->relu6 = true; }
static const cg_fusion relu6_fusion = { .stage = relu6_stage, .as_epilogue = relu6_as_epilogue };
static cg_fuse_stage maxpool_stage(const cg_module *m) {
    const cg_pool2d_params *p = &((const stateless *)m)->pool;
    return p->kernel[0] == 2 && p->kernel[1] == 2 && p->stride[0] == 2 && p->stride[1] == 2 && p->padding[0] == 0 &&
                   p->padding[1] == 0 ? CG_FUSE_POOL2 : CG_FUSE_NONE;
}
static void maxpool_as_epilogue(cg_module *m, cg_conv_epilogue *ep) { (void)m; ep->pool2 = true; }
static const cg_fusion maxpool_fusion = { .stage = maxpool_stage, .as_epilogue = maxpool_as_epilogue };

/* Specs: the word and the arguments that differ from its defaults (nn.h). */
static cg_status word_spec(cg_spec_writer *w, const char *word) { return cg_spec_printf(w, "%s", word); }
static cg_status identity_spec(const cg_module *m, cg_spec_writer *w) { (void)m; return word_spec(w, "identity"); }
static cg_status relu_spec(const cg_module *m, cg_spec_writer *w) { (void)m; return word_spec(w, "relu"); }
static cg_status sigmoid_spec(const cg_module *m, cg_spec_writer *w) { (void)m; return word_spec(w, "sigmoid"); }
static cg_status tanh_spec(const cg_module *m, cg_spec_writer *w) { (void)m; return word_spec(w, "tanh"); }
static cg_status silu_spec(const cg_module *m, cg_spec_writer *w) { (void)m; return word_spec(w, "silu"); }
static cg_status hardswish_spec(const cg_module *m, cg_spec_writer *w) { (void)m; return word_spec(w, "hardswish"); }
static cg_status relu6_spec(const cg_module *m, cg_spec_writer *w) { (void)m; return word_spec(w, "relu6"); }
static cg_status flatten_spec(const cg_module *m, cg_spec_writer *w) { (void)m; return word_spec(w, "flatten"); }
static cg_status gelu_spec(const cg_module *m, cg_spec_writer *w) {
    return word_spec(w, ((const stateless *)m)->flag ? "gelu(approximate=tanh)" : "gelu");
}
static cg_status leaky_spec(const cg_module *m, cg_spec_writer *w) {
    char a[CG_SPEC_NUM_LEN];
    float p = ((const stateless *)m)->p;
    return p == 0.01f ? word_spec(w, "leaky_relu") : cg_spec_printf(w, "leaky_relu(%s)", cg_spec_float(a, p));
}
static cg_status softplus_spec(const cg_module *m, cg_spec_writer *w) {
    const stateless *s = (const stateless *)m;
    char a[CG_SPEC_NUM_LEN], b[CG_SPEC_NUM_LEN];
    if (s->p == 1.0f && s->q == 20.0f) return word_spec(w, "softplus");
    return cg_spec_printf(w, "softplus(beta=%s,threshold=%s)", cg_spec_float(a, s->p), cg_spec_float(b, s->q));
}
static cg_status hardtanh_spec(const cg_module *m, cg_spec_writer *w) {
    const stateless *s = (const stateless *)m;
    char a[CG_SPEC_NUM_LEN], b[CG_SPEC_NUM_LEN];
    if (s->p == -1.0f && s->q == 1.0f) return word_spec(w, "hardtanh");
    return cg_spec_printf(w, "hardtanh(min_val=%s,max_val=%s)", cg_spec_float(a, s->p), cg_spec_float(b, s->q));
}
static cg_status dropout_spec(const cg_module *m, cg_spec_writer *w) {
    char a[CG_SPEC_NUM_LEN];
    return cg_spec_printf(w, "%s(%s)", strcmp(m->type->name, "Dropout2d") ? "dropout" : "dropout2d",
                          cg_spec_float(a, ((const stateless *)m)->p));
}
static cg_status log_softmax_spec(const cg_module *m, cg_spec_writer *w) {
    int dim = ((const stateless *)m)->dim;
    if (dim != 1) return cg_error(CG_EINVAL, "the spec's log_softmax is over dim 1, this one over dim %d", dim);
    return word_spec(w, "log_softmax");
}
/* A square size: "k"; else an error naming what. */
static bool square(const int64_t *v, const char *what, const char *type) {
    if (v[0] == v[1]) return true;
    cg_error(CG_EINVAL, "the spec's %s is square, this %s is %lldx%lld", type, what, (long long)v[0], (long long)v[1]);
    return false;
}
static cg_status upsample_spec(const cg_module *m, cg_spec_writer *w) {
    const int64_t *f = ((const stateless *)m)->pool.kernel;
    if (!square(f, "scale factor", "upsample")) return CG_EINVAL;
    return cg_spec_printf(w, "upsample(%lld)", (long long)f[0]);
}
static cg_status pool_spec(const cg_module *m, cg_spec_writer *w, const char *word) {
    const cg_pool2d_params *p = &((const stateless *)m)->pool;
    if (!square(p->kernel, "kernel", word) || !square(p->stride, "stride", word) || !square(p->padding, "padding", word))
        return CG_EINVAL;
    cg_status st = cg_spec_printf(w, "%s(%lld", word, (long long)p->kernel[0]);
    if (st == CG_OK && p->stride[0] != p->kernel[0]) st = cg_spec_printf(w, ",stride=%lld", (long long)p->stride[0]);
    if (st == CG_OK && p->padding[0] != 0) st = cg_spec_printf(w, ",padding=%lld", (long long)p->padding[0]);
    return st == CG_OK ? cg_spec_printf(w, ")") : st;
}
static cg_status maxpool_spec(const cg_module *m, cg_spec_writer *w) { return pool_spec(m, w, "max_pool2d"); }
static cg_status avgpool_spec(const cg_module *m, cg_spec_writer *w) { return pool_spec(m, w, "avg_pool2d"); }
static cg_status adaptive_spec_word(const cg_module *m, cg_spec_writer *w, const char *word) {
    const int64_t *o = ((const stateless *)m)->pool.kernel;
    if (!square(o, "output size", word)) return CG_EINVAL;
    return cg_spec_printf(w, "%s(%lld)", word, (long long)o[0]);
}
static cg_status adaptive_spec(const cg_module *m, cg_spec_writer *w) {
    return adaptive_spec_word(m, w, "adaptive_avg_pool2d");
}
static cg_status adaptive_max_spec(const cg_module *m, cg_spec_writer *w) {
    return adaptive_spec_word(m, w, "adaptive_max_pool2d");
}

#define TYPE(var, nm, fwd, ...) static const cg_module_type var = { .name = nm, .forward = fwd, __VA_ARGS__ }
TYPE(identity_type, "Identity", identity_fwd, .to_spec = identity_spec);
TYPE(relu_type, "ReLU", relu_fwd, .fuse = &relu_fusion, .to_spec = relu_spec);
TYPE(leaky_type, "LeakyReLU", leaky_fwd, .to_spec = leaky_spec);
TYPE(sigmoid_type, "Sigmoid", sigmoid_fwd, .to_spec = sigmoid_spec);
TYPE(tanh_type, "Tanh", tanh_fwd, .to_spec = tanh_spec);
TYPE(gelu_type, "GELU", gelu_fwd, .to_spec = gelu_spec);
TYPE(silu_type, "SiLU", silu_fwd, .to_spec = silu_spec);
TYPE(hardswish_type, "Hardswish", hardswish_fwd, .to_spec = hardswish_spec);
TYPE(softplus_type, "Softplus", softplus_fwd, .to_spec = softplus_spec);
TYPE(relu6_type, "ReLU6", relu6_fwd, .fuse = &relu6_fusion, .to_spec = relu6_spec);
TYPE(hardtanh_type, "Hardtanh", hardtanh_fwd, .to_spec = hardtanh_spec);
TYPE(upsample_type, "Upsample", upsample_fwd, .to_spec = upsample_spec);
TYPE(flatten_type, "Flatten", flatten_fwd, .to_spec = flatten_spec);
TYPE(maxpool_type, "MaxPool2d", maxpool_fwd, .fuse = &maxpool_fusion, .to_spec = maxpool_spec);
TYPE(avgpool_type, "AvgPool2d", avgpool_fwd, .to_spec = avgpool_spec);
TYPE(adaptive_type, "AdaptiveAvgPool2d", adaptive_fwd, .to_spec = adaptive_spec);
static cg_tensor *adaptive_max_fwd(cg_module *m, cg_tensor *x) {
    return cg_adaptive_max_pool2d(x, self(m)->pool.kernel[0], self(m)->pool.kernel[1]);
}
TYPE(adaptive_max_type, "AdaptiveMaxPool2d", adaptive_max_fwd, .to_spec = adaptive_max_spec);
TYPE(dropout_type, "Dropout", dropout_fwd, .set_rng = dropout_set_rng, .to_spec = dropout_spec);
TYPE(dropout2d_type, "Dropout2d", dropout2d_fwd, .set_rng = dropout_set_rng, .to_spec = dropout_spec);
TYPE(log_softmax_type, "LogSoftmax", log_softmax_fwd, .to_spec = log_softmax_spec);
#undef TYPE

static cg_module *make(const cg_module_type *t, float p, int dim, const cg_pool2d_params *pool) {
    stateless *s = (stateless *)cg_module_new(t, sizeof *s);
    if (!s) return NULL;
    s->p = p;
    s->dim = dim;
    if (pool) s->pool = *pool;
    return &s->base;
}

static bool bad_p(const char *who, float p) {
    if (p >= 0.0f && p <= 1.0f) return false;
    cg_error(CG_EINVAL, "%s: p = %g is outside [0, 1]", who, p);
    return true;
}

/* The checks the pool op makes on its parameters, made once when the module is built. */
static bool bad_pool(const char *who, const cg_pool2d_params *p) {
    if (!p) { cg_error(CG_EINVAL, "%s: params is NULL", who); return true; }
    for (int i = 0; i < 2; i++) {
        if (p->kernel[i] <= 0 || p->stride[i] <= 0) {
            cg_error(CG_EINVAL, "%s: kernel %lld and stride %lld must be positive", who,
                     (long long)p->kernel[i], (long long)p->stride[i]);
            return true;
        }
        if (p->padding[i] < 0 || p->padding[i] > p->kernel[i] / 2) {
            cg_error(CG_EINVAL, "%s: padding %lld must be in [0, kernel/2 = %lld]", who,
                     (long long)p->padding[i], (long long)(p->kernel[i] / 2));
            return true;
        }
    }
    return false;
}

cg_module *cg_identity_new(void) { return make(&identity_type, 0, 0, NULL); }
cg_module *cg_relu_new(void) { return make(&relu_type, 0, 0, NULL); }
cg_module *cg_leaky_relu_new(float negative_slope) { return make(&leaky_type, negative_slope, 0, NULL); }
cg_module *cg_sigmoid_new(void) { return make(&sigmoid_type, 0, 0, NULL); }
cg_module *cg_tanh_new(void) { return make(&tanh_type, 0, 0, NULL); }
cg_module *cg_gelu_new(bool tanh_approx) {
    cg_module *m = make(&gelu_type, 0, 0, NULL);
    if (m) self(m)->flag = tanh_approx;
    return m;
}
cg_module *cg_silu_new(void) { return make(&silu_type, 0, 0, NULL); }
cg_module *cg_hardswish_new(void) { return make(&hardswish_type, 0, 0, NULL); }
cg_module *cg_relu6_new(void) { return make(&relu6_type, 0, 0, NULL); }
cg_module *cg_softplus_new(float beta, float threshold) {
    if (!(beta > 0) || !isfinite(beta) || isnan(threshold))
        return (cg_module *)CG_FAIL(CG_EINVAL, "Softplus: beta %g must be finite and > 0, threshold %g a number",
                                    (double)beta, (double)threshold);
    cg_module *m = make(&softplus_type, beta, 0, NULL);
    if (m) self(m)->q = threshold;
    return m;
}
cg_module *cg_hardtanh_new(float min_val, float max_val) {
    if (isnan(min_val) || isnan(max_val) || min_val > max_val)
        return (cg_module *)CG_FAIL(CG_EINVAL, "Hardtanh: min_val %g must not exceed max_val %g", (double)min_val,
                                    (double)max_val);
    cg_module *m = make(&hardtanh_type, min_val, 0, NULL);
    if (m) self(m)->q = max_val;
    return m;
}
cg_module *cg_upsample_nearest2d_new(int64_t scale_factor) {
    if (scale_factor < 1 || scale_factor > 1024)
        return (cg_module *)CG_FAIL(CG_EINVAL, "Upsample: scale_factor %lld must be in 1..1024", (long long)scale_factor);
    cg_pool2d_params p = { .kernel = { scale_factor, scale_factor } };
    return make(&upsample_type, 0, 0, &p);
}
cg_module *cg_flatten_new(void) { return make(&flatten_type, 0, 0, NULL); }
cg_module *cg_log_softmax_new(int dim) { return make(&log_softmax_type, 0, dim, NULL); }
cg_module *cg_max_pool2d_new(int64_t kernel) {
    cg_pool2d_params p = cg_pool2d_defaults(kernel);
    return cg_max_pool2d_new_p(&p);
}
cg_module *cg_max_pool2d_new_p(const cg_pool2d_params *p) {
    return bad_pool("MaxPool2d", p) ? NULL : make(&maxpool_type, 0, 0, p);
}
cg_module *cg_avg_pool2d_new(const cg_pool2d_params *p) {
    return bad_pool("AvgPool2d", p) ? NULL : make(&avgpool_type, 0, 0, p);
}
static cg_module *adaptive_new(const cg_module_type *t, int64_t oh, int64_t ow) {
    if (oh <= 0 || ow <= 0)
        return (cg_module *)CG_FAIL(CG_EINVAL, "%s: output size %lldx%lld must be positive", t->name,
                                    (long long)oh, (long long)ow);
    cg_pool2d_params p = { .kernel = { oh, ow } };
    return make(t, 0, 0, &p);
}
cg_module *cg_adaptive_avg_pool2d_new(int64_t oh, int64_t ow) { return adaptive_new(&adaptive_type, oh, ow); }
cg_module *cg_adaptive_max_pool2d_new(int64_t oh, int64_t ow) { return adaptive_new(&adaptive_max_type, oh, ow); }
cg_module *cg_dropout_new(float p) { return bad_p("Dropout", p) ? NULL : make(&dropout_type, p, 0, NULL); }
cg_module *cg_dropout2d_new(float p) { return bad_p("Dropout2d", p) ? NULL : make(&dropout2d_type, p, 0, NULL); }
