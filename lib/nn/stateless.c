/* SPDX-License-Identifier: MIT */
/* lib/nn/stateless.c — modules without parameters: Identity, ReLU, LeakyReLU, Sigmoid, Tanh, GELU, SiLU,
 * Hardswish, Softplus, ReLU6, Hardtanh, Flatten,
 * MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Dropout, Dropout2d, LogSoftmax. Each holds only its
 * hyper-parameters; the op it calls checks the input's shape. */
#include <math.h>
#include "cg_internal.h"

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
static cg_fuse_stage maxpool_stage(const cg_module *m) {
    const cg_pool2d_params *p = &((const stateless *)m)->pool;
    return p->kernel[0] == 2 && p->kernel[1] == 2 && p->stride[0] == 2 && p->stride[1] == 2 && p->padding[0] == 0 &&
                   p->padding[1] == 0 ? CG_FUSE_POOL2 : CG_FUSE_NONE;
}
static void maxpool_as_epilogue(cg_module *m, cg_conv_epilogue *ep) { (void)m; ep->pool2 = true; }
static const cg_fusion maxpool_fusion = { .stage = maxpool_stage, .as_epilogue = maxpool_as_epilogue };

static const cg_module_type identity_type = { "Identity", identity_fwd, NULL, NULL };
static const cg_module_type relu_type = { "ReLU", relu_fwd, NULL, &relu_fusion };
static const cg_module_type leaky_type = { "LeakyReLU", leaky_fwd, NULL, NULL };
static const cg_module_type sigmoid_type = { "Sigmoid", sigmoid_fwd, NULL, NULL };
static const cg_module_type tanh_type = { "Tanh", tanh_fwd, NULL, NULL };
static const cg_module_type gelu_type = { "GELU", gelu_fwd, NULL, NULL };
static const cg_module_type silu_type = { "SiLU", silu_fwd, NULL, NULL };
static const cg_module_type hardswish_type = { "Hardswish", hardswish_fwd, NULL, NULL };
static const cg_module_type softplus_type = { "Softplus", softplus_fwd, NULL, NULL };
static const cg_module_type relu6_type = { "ReLU6", relu6_fwd, NULL, NULL };
static const cg_module_type hardtanh_type = { "Hardtanh", hardtanh_fwd, NULL, NULL };
static const cg_module_type upsample_type = { "Upsample", upsample_fwd, NULL, NULL };
static const cg_module_type flatten_type = { "Flatten", flatten_fwd, NULL, NULL };
static const cg_module_type maxpool_type = { "MaxPool2d", maxpool_fwd, NULL, &maxpool_fusion };
static const cg_module_type avgpool_type = { "AvgPool2d", avgpool_fwd, NULL, NULL };
static const cg_module_type adaptive_type = { "AdaptiveAvgPool2d", adaptive_fwd, NULL, NULL };
static cg_tensor *adaptive_max_fwd(cg_module *m, cg_tensor *x) {
    return cg_adaptive_max_pool2d(x, self(m)->pool.kernel[0], self(m)->pool.kernel[1]);
}
static const cg_module_type adaptive_max_type = { "AdaptiveMaxPool2d", adaptive_max_fwd, NULL, NULL };
static const cg_module_type dropout_type = { .name = "Dropout", .forward = dropout_fwd, .set_rng = dropout_set_rng };
static const cg_module_type dropout2d_type = { .name = "Dropout2d", .forward = dropout2d_fwd,
                                               .set_rng = dropout_set_rng };
static const cg_module_type log_softmax_type = { "LogSoftmax", log_softmax_fwd, NULL, NULL };

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
