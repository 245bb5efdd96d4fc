/* lib/nn/linear.c — Linear: y = x . weight^T + bias; weight [out,in], bias [out]. */
#include "init.h"

typedef struct linear { cg_module base; cg_tensor *weight, *bias; } linear;

static cg_tensor *linear_forward(cg_module *m, cg_tensor *x) {
    linear *l = (linear *)m;
    return cg_linear(x, l->weight, l->bias);
}

static const cg_module_type linear_type = { "Linear", linear_forward, NULL };

cg_module *cg_linear_new(int64_t in_features, int64_t out_features, bool bias) {
    if (in_features <= 0 || out_features <= 0)
        return (cg_module *)CG_FAIL(CG_EINVAL, "Linear: in_features %lld and out_features %lld must be positive",
                                    (long long)in_features, (long long)out_features);
    linear *l = (linear *)cg_module_new(&linear_type, sizeof *l);
    if (!l) return NULL;
    l->weight = cg_module_add_parameter(&l->base, "weight",
        cg_init_fan_in_uniform(2, CG_SHAPE(out_features, in_features), in_features));
    if (bias) l->bias = cg_module_add_parameter(&l->base, "bias",
        cg_init_fan_in_uniform(1, CG_SHAPE(out_features), in_features));
    if (!l->weight || (bias && !l->bias)) { cg_module_free(&l->base); return NULL; }
    return &l->base;
}
