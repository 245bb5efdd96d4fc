/* SPDX-License-Identifier: MIT */
/* lib/nn/linear.c — Linear: y = x . weight^T + bias; weight [out,in], bias [out]. */
#include "init.h"

typedef struct linear { cg_module base; cg_tensor *weight, *bias; } linear;

static cg_tensor *linear_forward(cg_module *m, cg_tensor *x) {
    linear *l = (linear *)m;
    return cg_linear(x, l->weight, l->bias);
}

/* linear(in, out[, bias=false]) */
static cg_status linear_spec(const cg_module *m, cg_spec_writer *w) {
    const linear *l = (const linear *)m;
    return cg_spec_printf(w, "linear(%lld,%lld%s)", (long long)l->weight->shape[1], (long long)l->weight->shape[0],
                          l->bias ? "" : ",bias=false");
}

static const cg_module_type linear_type = { .name = "Linear", .forward = linear_forward, .to_spec = linear_spec };

cg_module *cg_linear_new(int64_t in_features, int64_t out_features, bool bias) {
    if (in_features <= 0 || out_features <= 0)
        return (cg_module *)CG_FAIL(CG_EINVAL, "Linear: in_features %lld and out_features %lld must be positive",
                                    (long long)in_features, (long long)out_features);
    /* Every size is checked before anything is allocated, and each tensor only after the one
     * before it exists: a weight too large must not leave a bias of 8 GB being filled. */
    const int64_t *ws = CG_SHAPE(out_features, in_features), *bs = CG_SHAPE(out_features);
    if (cg_nn_check_size("Linear", "weight", 2, ws) != CG_OK) return NULL;
    linear *l = (linear *)cg_module_new(&linear_type, sizeof *l);
    if (!l) return NULL;
    l->weight = cg_module_add_parameter(&l->base, "weight", cg_init_fan_in_uniform(2, ws, in_features));
    if (!l->weight) { cg_module_free(&l->base); return cg_nn_alloc_failed("Linear", "weight", 2, ws); }
    if (bias) {
        l->bias = cg_module_add_parameter(&l->base, "bias", cg_init_fan_in_uniform(1, bs, in_features));
        if (!l->bias) { cg_module_free(&l->base); return cg_nn_alloc_failed("Linear", "bias", 1, bs); }
    }
    return &l->base;
}
