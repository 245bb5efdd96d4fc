/* SPDX-License-Identifier: MIT */
/* lib/nn/conv_transpose2d.c — ConvTranspose2d: weight [in, out/groups, k, k], bias [out].
 * PyTorch initialises it as any _ConvNd: kaiming_uniform_(a=sqrt 5) on the weight and the bias
 * U(+-1/sqrt(fan_in)), with fan_in from _calculate_fan_in_and_fan_out(weight) = size(1) * k * k =
 * (out/groups) * k * k — not the in channels, as the transposed layout puts out in dim 1. */
#include "init.h"

typedef struct conv_transpose2d {
    cg_module base;
    cg_tensor *weight, *bias;
    cg_conv_transpose2d_params p;
} conv_transpose2d;

static cg_tensor *ct_forward(cg_module *m, cg_tensor *x) {
    conv_transpose2d *c = (conv_transpose2d *)m;
    return cg_conv_transpose2d(x, c->weight, c->bias, &c->p);
}

/* conv_transpose2d(in, out, kernel[, stride=, padding=, output_padding=, groups=, bias=false,
 * dilation=]): square settings only. */
static cg_status ct_spec(const cg_module *m, cg_spec_writer *w) {
    const conv_transpose2d *c = (const conv_transpose2d *)m;
    const cg_conv_transpose2d_params *p = &c->p;
    const int64_t *ws = c->weight->shape;
    if (ws[2] != ws[3] || p->stride[0] != p->stride[1] || p->padding[0] != p->padding[1] ||
        p->output_padding[0] != p->output_padding[1] || p->dilation[0] != p->dilation[1])
        return cg_error(CG_EINVAL, "the spec's conv_transpose2d is square: kernel %lldx%lld, stride %lldx%lld, "
                        "padding %lldx%lld, output_padding %lldx%lld, dilation %lldx%lld", (long long)ws[2],
                        (long long)ws[3], (long long)p->stride[0], (long long)p->stride[1], (long long)p->padding[0],
                        (long long)p->padding[1], (long long)p->output_padding[0], (long long)p->output_padding[1],
                        (long long)p->dilation[0], (long long)p->dilation[1]);
    cg_status st = cg_spec_printf(w, "conv_transpose2d(%lld,%lld,%lld", (long long)ws[0], (long long)(ws[1] * p->groups),
                                  (long long)ws[2]);
    if (st == CG_OK && p->stride[0] != 1) st = cg_spec_printf(w, ",stride=%lld", (long long)p->stride[0]);
    if (st == CG_OK && p->padding[0] != 0) st = cg_spec_printf(w, ",padding=%lld", (long long)p->padding[0]);
    if (st == CG_OK && p->output_padding[0] != 0)
        st = cg_spec_printf(w, ",output_padding=%lld", (long long)p->output_padding[0]);
    if (st == CG_OK && p->groups != 1) st = cg_spec_printf(w, ",groups=%lld", (long long)p->groups);
    if (st == CG_OK && !c->bias) st = cg_spec_printf(w, ",bias=false");
    if (st == CG_OK && p->dilation[0] != 1) st = cg_spec_printf(w, ",dilation=%lld", (long long)p->dilation[0]);
    return st == CG_OK ? cg_spec_printf(w, ")") : st;
}

static const cg_module_type conv_transpose2d_type = { .name = "ConvTranspose2d", .forward = ct_forward,
                                                      .to_spec = ct_spec };

cg_module *cg_conv_transpose2d_new(int64_t in_ch, int64_t out_ch, int64_t kernel, const cg_conv_transpose2d_params *p,
                                   bool bias) {
    cg_conv_transpose2d_params prm = p ? *p : cg_conv_transpose2d_defaults();
    if (in_ch <= 0 || out_ch <= 0 || kernel <= 0 || prm.groups <= 0 || in_ch % prm.groups || out_ch % prm.groups)
        return (cg_module *)CG_FAIL(CG_EINVAL, "ConvTranspose2d: in %lld, out %lld, kernel %lld, groups %lld: sizes "
                                    "must be positive and channels divisible by groups", (long long)in_ch,
                                    (long long)out_ch, (long long)kernel, (long long)prm.groups);
    for (int i = 0; i < 2; i++)
        if (prm.stride[i] <= 0 || prm.dilation[i] <= 0 || prm.padding[i] < 0 || prm.output_padding[i] < 0 ||
            (prm.output_padding[i] >= prm.stride[i] && prm.output_padding[i] >= prm.dilation[i]))
            return (cg_module *)CG_FAIL(CG_EINVAL, "ConvTranspose2d: stride[%d] %lld, padding[%d] %lld, "
                                        "output_padding[%d] %lld, dilation[%d] %lld: stride and dilation must be "
                                        "positive, padding and output_padding not negative, output_padding smaller "
                                        "than stride or dilation", i, (long long)prm.stride[i], i,
                                        (long long)prm.padding[i], i, (long long)prm.output_padding[i], i,
                                        (long long)prm.dilation[i]);
    /* Every size is checked (overflow-safe) before anything is allocated. */
    int64_t ws[4] = { in_ch, out_ch / prm.groups, kernel, kernel };
    const int64_t *bs = CG_SHAPE(out_ch);
    if (cg_nn_check_size("ConvTranspose2d", "weight", 4, ws) != CG_OK) return NULL;
    conv_transpose2d *c = (conv_transpose2d *)cg_module_new(&conv_transpose2d_type, sizeof *c);
    if (!c) return NULL;
    c->p = prm;
    int64_t fan_in = ws[1] * kernel * kernel;  /* <= the weight's element count: no overflow */
    c->weight = cg_module_add_parameter(&c->base, "weight", cg_init_fan_in_uniform(4, ws, fan_in));
    if (!c->weight) { cg_module_free(&c->base); return cg_nn_alloc_failed("ConvTranspose2d", "weight", 4, ws); }
    if (bias) {
        c->bias = cg_module_add_parameter(&c->base, "bias", cg_init_fan_in_uniform(1, bs, fan_in));
        if (!c->bias) { cg_module_free(&c->base); return cg_nn_alloc_failed("ConvTranspose2d", "bias", 1, bs); }
    }
    return &c->base;
}
