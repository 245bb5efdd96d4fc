/* SPDX-License-Identifier: MIT */
/* lib/nn/conv2d.c — Conv2d: weight [out, in/groups, k, k], bias [out]. */
#include "init.h"

typedef struct conv2d { cg_module base; cg_tensor *weight, *bias; cg_conv2d_params p; } conv2d;

static cg_tensor *conv2d_forward(cg_module *m, cg_tensor *x) {
    conv2d *c = (conv2d *)m;
    return cg_conv2d(x, c->weight, c->bias, &c->p);
}

static const cg_module_type conv2d_type = { "Conv2d", conv2d_forward, NULL };

cg_tensor *cg_conv2d_module_forward_fused(cg_module *m, cg_tensor *x, bool relu, bool pool2) {
    conv2d *c = (conv2d *)m;
    if (pool2) return cg_conv2d_pool2(x, c->weight, c->bias, &c->p, relu);
    return relu ? cg_conv2d_relu(x, c->weight, c->bias, &c->p) : cg_conv2d(x, c->weight, c->bias, &c->p);
}

bool cg_module_is_conv2d(const cg_module *m) { return m && m->type == &conv2d_type; }

/* Inference: conv2d then an eval-mode BatchNorm2d as one conv with folded weights
 * w'[oc] = w[oc] * scale[oc], b'[oc] = b[oc] * scale[oc] + shift[oc] (tape-owned, pooled: no
 * allocation once warm), then [relu] [pool2]. NULL with *folded false when it does not apply (a
 * gradient would be recorded, the batch norm is training, or the channels differ): the caller
 * runs the layers unfused. */
cg_tensor *cg_conv2d_module_forward_bn(cg_module *m, cg_module *bn, cg_tensor *x, bool relu, bool pool2,
                                       bool *folded) {
    conv2d *c = (conv2d *)m;
    *folded = false;
    if (!x) return NULL;
    if (bn->training || cg_needs_record(2, (cg_tensor *[]){ x, c->weight }) ||
        (c->bias && cg_needs_record(1, &c->bias)))
        return NULL;
    const int64_t oc = c->weight->shape[0], per = c->weight->numel / (oc ? oc : 1);
    double *scale = cg_tape_scratch((size_t)(2 * oc) * sizeof(double));
    cg_tensor *w = cg_tape_tensor(c->weight->ndim, c->weight->shape), *b = cg_tape_tensor(1, CG_SHAPE(oc));
    if (!scale || !w || !b) return NULL;
    double *shift = scale + oc;
    if (!cg_batch_norm2d_module_affine(bn, oc, scale, shift)) return NULL;
    for (int64_t o = 0; o < oc; o++) {
        const float *src = c->weight->data + o * per;
        float *dst = w->data + o * per;
        for (int64_t i = 0; i < per; i++) dst[i] = (float)((double)src[i] * scale[o]);
        b->data[o] = (float)((c->bias ? (double)c->bias->data[o] : 0.0) * scale[o] + shift[o]);
    }
    *folded = true;
    if (pool2) return cg_conv2d_pool2(x, w, b, &c->p, relu);
    return relu ? cg_conv2d_relu(x, w, b, &c->p) : cg_conv2d(x, w, b, &c->p);
}

cg_module *cg_conv2d_new(int64_t in_ch, int64_t out_ch, int64_t kernel, const cg_conv2d_params *p, bool bias) {
    cg_conv2d_params prm = p ? *p : cg_conv2d_defaults();
    if (in_ch <= 0 || out_ch <= 0 || kernel <= 0 || prm.groups <= 0 || in_ch % prm.groups || out_ch % prm.groups)
        return (cg_module *)CG_FAIL(CG_EINVAL, "Conv2d: in %lld, out %lld, kernel %lld, groups %lld: sizes must be "
                                    "positive and channels divisible by groups", (long long)in_ch,
                                    (long long)out_ch, (long long)kernel, (long long)prm.groups);
    /* Every size is checked (overflow-safe) before anything is allocated, and each tensor only
     * after the one before it exists. */
    int64_t ws[4] = { out_ch, in_ch / prm.groups, kernel, kernel };
    const int64_t *bs = CG_SHAPE(out_ch);
    if (cg_nn_check_size("Conv2d", "weight", 4, ws) != CG_OK) return NULL;
    conv2d *c = (conv2d *)cg_module_new(&conv2d_type, sizeof *c);
    if (!c) return NULL;
    c->p = prm;
    int64_t fan_in = ws[1] * kernel * kernel;  /* <= the weight's element count: no overflow */
    c->weight = cg_module_add_parameter(&c->base, "weight", cg_init_fan_in_uniform(4, ws, fan_in));
    if (!c->weight) { cg_module_free(&c->base); return cg_nn_alloc_failed("Conv2d", "weight", 4, ws); }
    if (bias) {
        c->bias = cg_module_add_parameter(&c->base, "bias", cg_init_fan_in_uniform(1, bs, fan_in));
        if (!c->bias) { cg_module_free(&c->base); return cg_nn_alloc_failed("Conv2d", "bias", 1, bs); }
    }
    return &c->base;
}
