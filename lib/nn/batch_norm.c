/* SPDX-License-Identifier: MIT */
/* lib/nn/batch_norm.c — BatchNorm2d: weight=1, bias=0, running_mean=0, running_var=1,
 * num_batches_tracked as PyTorch's state_dict has it (saved as an I64 scalar of shape []); and
 * LayerNorm over the last dim: weight=1, bias=0 (elementwise_affine), as PyTorch's. */
#include <math.h>
#include "init.h"

typedef struct bn2d {
    cg_module base;
    cg_tensor *weight, *bias, *running_mean, *running_var, *num_batches;
    float eps, momentum;
} bn2d;

static cg_tensor *bn2d_forward(cg_module *m, cg_tensor *x) {
    bn2d *b = (bn2d *)m;
    if (m->training) cg_i64(b->num_batches)[0] += 1;
    return cg_batch_norm2d(x, b->weight, b->bias, b->running_mean, b->running_var, m->training,
                           b->momentum, b->eps);
}

/* BatchNorm2d as a conv's epilogue stage: its tensors and mode go into ep->bn, and cg_conv2d_ex
 * folds it (eval, nothing to record) or runs it as its op. The batch is counted here, as
 * bn2d_forward counts it. */
static cg_fuse_stage bn2d_stage(const cg_module *m) { (void)m; return CG_FUSE_BN; }
static void bn2d_as_epilogue(cg_module *m, cg_conv_epilogue *ep) {
    bn2d *b = (bn2d *)m;
    if (m->training) cg_i64(b->num_batches)[0] += 1;
    ep->bn.on = true;
    ep->bn.training = m->training;
    ep->bn.weight = b->weight;
    ep->bn.bias = b->bias;
    ep->bn.running_mean = b->running_mean;
    ep->bn.running_var = b->running_var;
    ep->bn.momentum = b->momentum;
    ep->bn.eps = b->eps;
}
static const cg_fusion bn2d_fusion = { .stage = bn2d_stage, .as_epilogue = bn2d_as_epilogue };
/* batch_norm2d / batch_norm1d(channels[, eps=][, momentum=]) */
static cg_status bn_spec(const cg_module *m, cg_spec_writer *w) {
    const bn2d *b = (const bn2d *)m;
    char e[CG_SPEC_NUM_LEN], mo[CG_SPEC_NUM_LEN];
    cg_status st = cg_spec_printf(w, "%s(%lld", strcmp(m->type->name, "BatchNorm1d") ? "batch_norm2d" : "batch_norm1d",
                                  (long long)b->weight->shape[0]);
    if (st == CG_OK && b->eps != 1e-5f) st = cg_spec_printf(w, ",eps=%s", cg_spec_float(e, b->eps));
    if (st == CG_OK && b->momentum != 0.1f) st = cg_spec_printf(w, ",momentum=%s", cg_spec_float(mo, b->momentum));
    return st == CG_OK ? cg_spec_printf(w, ")") : st;
}

static const cg_module_type bn2d_type = { .name = "BatchNorm2d", .forward = bn2d_forward, .fuse = &bn2d_fusion,
                                          .to_spec = bn_spec };

static const cg_module_type bn1d_type = { .name = "BatchNorm1d", .forward = bn2d_forward, .to_spec = bn_spec };

/* BatchNorm2d and BatchNorm1d: the same state and op (the op normalises per channel over N and
 * the dims after C), another type name. */
static cg_module *bn_new(const cg_module_type *type, int64_t channels, float eps, float momentum) {
    const char *who = type->name;
    if (channels <= 0) return (cg_module *)CG_FAIL(CG_EINVAL, "%s: channels must be positive", who);
    const int64_t *c = CG_SHAPE(channels);
    if (cg_nn_check_size(who, "weight", 1, c) != CG_OK) return NULL;
    bn2d *b = (bn2d *)cg_module_new(type, sizeof *b);
    if (!b) return NULL;
    b->eps = eps;
    b->momentum = momentum;
    /* One tensor at a time: after a failure nothing more is allocated. */
    const char *names[4] = { "weight", "bias", "running_mean", "running_var" };
    cg_tensor **slots[4] = { &b->weight, &b->bias, &b->running_mean, &b->running_var };
    for (int i = 0; i < 4; i++) {
        cg_tensor *t = (i == 0 || i == 3) ? cg_tensor_ones(1, c) : cg_tensor_zeros(1, c);
        *slots[i] = i < 2 ? cg_module_add_parameter(&b->base, names[i], t) : cg_module_add_buffer(&b->base, names[i], t);
        if (!*slots[i]) { cg_module_free(&b->base); return cg_nn_alloc_failed(who, names[i], 1, c); }
    }
    b->num_batches = cg_module_add_buffer(&b->base, "num_batches_tracked", cg_tensor_new(CG_I64, 0, NULL));
    if (!b->num_batches) { cg_module_free(&b->base); return cg_nn_alloc_failed(who, "num_batches_tracked", 0, NULL); }
    return &b->base;
}

cg_module *cg_batch_norm2d_new(int64_t channels, float eps, float momentum) {
    return bn_new(&bn2d_type, channels, eps, momentum);
}

cg_module *cg_batch_norm1d_new(int64_t num_features, float eps, float momentum) {
    return bn_new(&bn1d_type, num_features, eps, momentum);
}

/* weight = 1 and bias = 0 of n elements on m (LayerNorm's, GroupNorm's); false after freeing m
 * with the error naming who and the tensor. */
static bool add_affine(cg_module *m, const char *who, int64_t n, cg_tensor **weight, cg_tensor **bias) {
    const int64_t *d = CG_SHAPE(n);
    if (!(*weight = cg_module_add_parameter(m, "weight", cg_tensor_ones(1, d)))) {
        cg_module_free(m);
        cg_nn_alloc_failed(who, "weight", 1, d);
        return false;
    }
    if (!(*bias = cg_module_add_parameter(m, "bias", cg_tensor_zeros(1, d)))) {
        cg_module_free(m);
        cg_nn_alloc_failed(who, "bias", 1, d);
        return false;
    }
    return true;
}

/* ---- LayerNorm(normalized_shape = D: the last dim) ---- */
typedef struct ln_mod { cg_module base; cg_tensor *weight, *bias; int64_t dim; float eps; } ln_mod;
static cg_tensor *ln_forward(cg_module *m, cg_tensor *x) {
    ln_mod *l = (ln_mod *)m;
    return cg_layer_norm(x, 1, l->weight, l->bias, l->eps);
}
/* layer_norm(normalized_shape[, eps=][, elementwise_affine=false]) */
static cg_status ln_spec(const cg_module *m, cg_spec_writer *w) {
    const ln_mod *l = (const ln_mod *)m;
    char e[CG_SPEC_NUM_LEN];
    cg_status st = cg_spec_printf(w, "layer_norm(%lld", (long long)l->dim);
    if (st == CG_OK && l->eps != 1e-5f) st = cg_spec_printf(w, ",eps=%s", cg_spec_float(e, l->eps));
    if (st == CG_OK && !l->weight) st = cg_spec_printf(w, ",elementwise_affine=false");
    return st == CG_OK ? cg_spec_printf(w, ")") : st;
}
static const cg_module_type ln_type = { .name = "LayerNorm", .forward = ln_forward, .to_spec = ln_spec };

cg_module *cg_layer_norm_new(int64_t normalized_shape, float eps, bool elementwise_affine) {
    if (normalized_shape <= 0) return (cg_module *)CG_FAIL(CG_EINVAL, "LayerNorm: normalized_shape must be positive");
    if (!(eps > 0) || !isfinite(eps)) return (cg_module *)CG_FAIL(CG_EINVAL, "LayerNorm: eps %g must be finite and > 0", (double)eps);
    const int64_t *d = CG_SHAPE(normalized_shape);
    if (cg_nn_check_size("LayerNorm", "weight", 1, d) != CG_OK) return NULL;
    ln_mod *l = (ln_mod *)cg_module_new(&ln_type, sizeof *l);
    if (!l) return NULL;
    l->eps = eps;
    l->dim = normalized_shape;
    if (elementwise_affine && !add_affine(&l->base, "LayerNorm", normalized_shape, &l->weight, &l->bias)) return NULL;
    return &l->base;
}

/* ---- GroupNorm(num_groups, num_channels) ---- */
typedef struct gn_mod { cg_module base; cg_tensor *weight, *bias; int64_t groups, channels; float eps; } gn_mod;
static cg_tensor *gn_forward(cg_module *m, cg_tensor *x) {
    gn_mod *g = (gn_mod *)m;
    return cg_group_norm(x, g->groups, g->weight, g->bias, g->eps);
}
/* group_norm(num_groups, num_channels[, eps=][, affine=false]) */
static cg_status gn_spec(const cg_module *m, cg_spec_writer *w) {
    const gn_mod *g = (const gn_mod *)m;
    char e[CG_SPEC_NUM_LEN];
    cg_status st = cg_spec_printf(w, "group_norm(%lld,%lld", (long long)g->groups, (long long)g->channels);
    if (st == CG_OK && g->eps != 1e-5f) st = cg_spec_printf(w, ",eps=%s", cg_spec_float(e, g->eps));
    if (st == CG_OK && !g->weight) st = cg_spec_printf(w, ",affine=false");
    return st == CG_OK ? cg_spec_printf(w, ")") : st;
}
static const cg_module_type gn_type = { .name = "GroupNorm", .forward = gn_forward, .to_spec = gn_spec };

cg_module *cg_group_norm_new(int64_t num_groups, int64_t num_channels, float eps, bool affine) {
    if (num_groups <= 0 || num_channels <= 0 || num_channels % num_groups)
        return (cg_module *)CG_FAIL(CG_EINVAL, "GroupNorm: %lld channels are not divisible into %lld groups",
                                    (long long)num_channels, (long long)num_groups);
    if (!(eps > 0) || !isfinite(eps)) return (cg_module *)CG_FAIL(CG_EINVAL, "GroupNorm: eps %g must be finite and > 0", (double)eps);
    const int64_t *c = CG_SHAPE(num_channels);
    if (cg_nn_check_size("GroupNorm", "weight", 1, c) != CG_OK) return NULL;
    gn_mod *g = (gn_mod *)cg_module_new(&gn_type, sizeof *g);
    if (!g) return NULL;
    g->groups = num_groups;
    g->channels = num_channels;
    g->eps = eps;
    if (affine && !add_affine(&g->base, "GroupNorm", num_channels, &g->weight, &g->bias)) return NULL;
    return &g->base;
}
