/* SPDX-License-Identifier: MIT */
/* lib/nn/conv2d.c — Conv2d: weight [out, in/groups, k, k], bias [out]. */
#include "init.h"

typedef struct conv2d { cg_module base; cg_tensor *weight, *bias; cg_conv2d_params p; } conv2d;

static cg_tensor *conv2d_forward_ep(cg_module *m, cg_tensor *x, const cg_conv_epilogue *ep) {
    conv2d *c = (conv2d *)m;
    return cg_conv2d_ex(x, c->weight, c->bias, &c->p, ep);
}

static cg_tensor *conv2d_forward(cg_module *m, cg_tensor *x) { return conv2d_forward_ep(m, x, NULL); }

/* A producer of every epilogue stage: cg_conv2d_ex decides per call what fuses. */
static const cg_fusion conv2d_fusion = { .accepts = CG_FUSE_BN | CG_FUSE_RELU | CG_FUSE_RELU6 | CG_FUSE_POOL2,
                                         .forward_ep = conv2d_forward_ep };
/* conv2d(in, out, kernel[, stride=, padding=, dilation=, groups=, bias=false]): square settings only. */
static cg_status conv2d_spec(const cg_module *m, cg_spec_writer *w) {
    const conv2d *c = (const conv2d *)m;
    const cg_conv2d_params *p = &c->p;
    const int64_t *ws = c->weight->shape;
    if (ws[2] != ws[3] || p->stride[0] != p->stride[1] || p->padding[0] != p->padding[1] ||
        p->dilation[0] != p->dilation[1])
        return cg_error(CG_EINVAL, "the spec's conv2d is square: kernel %lldx%lld, stride %lldx%lld, padding "
                        "%lldx%lld, dilation %lldx%lld", (long long)ws[2], (long long)ws[3], (long long)p->stride[0],
                        (long long)p->stride[1], (long long)p->padding[0], (long long)p->padding[1],
                        (long long)p->dilation[0], (long long)p->dilation[1]);
    cg_status st = cg_spec_printf(w, "conv2d(%lld,%lld,%lld", (long long)(ws[1] * p->groups), (long long)ws[0],
                                  (long long)ws[2]);
    if (st == CG_OK && p->stride[0] != 1) st = cg_spec_printf(w, ",stride=%lld", (long long)p->stride[0]);
    if (st == CG_OK && p->padding[0] != 0) st = cg_spec_printf(w, ",padding=%lld", (long long)p->padding[0]);
    if (st == CG_OK && p->dilation[0] != 1) st = cg_spec_printf(w, ",dilation=%lld", (long long)p->dilation[0]);
    if (st == CG_OK && p->groups != 1) st = cg_spec_printf(w, ",groups=%lld", (long long)p->groups);
    if (st == CG_OK && !c->bias) st = cg_spec_printf(w, ",bias=false");
    return st == CG_OK ? cg_spec_printf(w, ")") : st;
}

static const cg_module_type conv2d_type = { .name = "Conv2d", .forward = conv2d_forward, .fuse = &conv2d_fusion,
                                            .to_spec = conv2d_spec };

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
