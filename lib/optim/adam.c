/* SPDX-License-Identifier: MIT */
/* lib/optim/adam.c — torch.optim.Adam and AdamW (PyTorch 1.13's single-tensor path):
 *   t += 1; Adam: g += wd*p;  AdamW: p *= 1 - lr*wd
 *   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g
 *   p -= (lr / (1-b1^t)) * m / (sqrt(v) / sqrt(1-b2^t) + eps)
 * Scalars in double, tensors in float, as PyTorch computes them. Per parameter group: lr = the
 * optimizer's lr * lr_scale, and the group's weight_decay.
 * State: two buffers per parameter, "exp_avg" and "exp_avg_sq" (saved as "exp_avg.<i>", ...); the
 * step count is the optimizer's step_count. */
#include <math.h>
#include "cg_internal.h"

typedef struct adam { cg_optimizer base; cg_adam_options o; bool decoupled; } adam;
enum { ADAM_EXP_AVG, ADAM_EXP_AVG_SQ };  /* the state's ids: positions in adam_state */

/* p, g, m, v hold n floats. */
static void adam_kernel(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                        int64_t n, float b1, float b2, float eps, float wd, float lr, bool decoupled,
                        float step_size, float bc2_sqrt) {
    #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        if (decoupled) p[i] = p[i] * (1.0f - lr * wd);
        else if (wd != 0.0f) gi = gi + wd * p[i];
        m[i] = m[i] * b1 + (1.0f - b1) * gi;
        v[i] = v[i] * b2 + (1.0f - b2) * gi * gi;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] = p[i] + (-step_size) * (m[i] / denom);
    }
}

static cg_status adam_step(cg_optimizer *base) {
    adam *a = (adam *)base;
    cg_adam_options o = a->o;
    double t = (double)(base->step_count + 1);
    double bc1 = 1.0 - pow((double)o.beta1, t), bc2 = 1.0 - pow((double)o.beta2, t);
    float bc2_sqrt = (float)sqrt(bc2);
    for (int gi = 0; gi < base->n_groups; gi++) {
        float lr = cg_optim_group_lr(base, gi), wd = cg_optim_group_weight_decay(base, gi, o.weight_decay);
        float step_size = (float)((double)lr / bc1);
        const cg_optim_group *G = &base->groups[gi];
        for (int64_t i = G->first; i < G->first + G->n; i++) {
            cg_tensor *p = base->params[i];
            if (!p->grad) continue;
            cg_tensor *m = cg_optim_state(base, i, ADAM_EXP_AVG, NULL);
            cg_tensor *v = cg_optim_state(base, i, ADAM_EXP_AVG_SQ, NULL);
            if (!m || !v) return CG_ENOMEM;
            adam_kernel(p->data, p->grad->data, m->data, v->data, p->numel, o.beta1, o.beta2, o.eps, wd, lr,
                        a->decoupled, step_size, bc2_sqrt);
        }
    }
    return CG_OK;
}

static const char *const adam_state[] = { [ADAM_EXP_AVG] = "exp_avg", [ADAM_EXP_AVG_SQ] = "exp_avg_sq", NULL };
static const char *const adam_nonneg[] = { "exp_avg_sq", NULL };   /* a running mean of g^2 */
static const cg_optimizer_type adam_type = { "Adam", adam_step, NULL, adam_nonneg };
static const cg_optimizer_type adamw_type = { "AdamW", adam_step, NULL, adam_nonneg };

cg_adam_options cg_adam_defaults(void) {
    return (cg_adam_options){ .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0 };
}

static cg_optimizer *make(const cg_optimizer_type *type, const cg_param_group *groups, int n_groups,
                          cg_adam_options o, bool decoupled) {
    const char *n_ = type->name;
    if (!(o.lr >= 0) || !isfinite(o.lr))
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "%s: lr %g must be finite and >= 0", n_, o.lr);
    if (!(o.beta1 >= 0 && o.beta1 < 1))
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "%s: beta1 %g must be in [0, 1)", n_, o.beta1);
    if (!(o.beta2 >= 0 && o.beta2 < 1))
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "%s: beta2 %g must be in [0, 1)", n_, o.beta2);
    if (!(o.eps > 0) || !isfinite(o.eps))
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "%s: eps %g must be finite and > 0 (start from cg_adam_defaults())",
                                       n_, o.eps);
    if (!(o.weight_decay >= 0) || !isfinite(o.weight_decay))
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "%s: weight_decay %g must be finite and >= 0", n_, o.weight_decay);
    adam *a = (adam *)cg_optim_new_groups(type, sizeof *a, groups, n_groups, o.lr);
    if (!a) return NULL;
    a->o = o;
    a->decoupled = decoupled;
    if (cg_optim_declare_state(&a->base, adam_state) != CG_OK) {
        cg_optim_free(&a->base);
        return NULL;
    }
    return &a->base;
}

cg_optimizer *cg_adam_new_groups(const cg_param_group *groups, int n_groups, cg_adam_options o) {
    return make(&adam_type, groups, n_groups, o, false);
}
cg_optimizer *cg_adamw_new_groups(const cg_param_group *groups, int n_groups, cg_adam_options o) {
    return make(&adamw_type, groups, n_groups, o, true);
}
cg_optimizer *cg_adam_new(cg_tensor *const *params, int64_t n, cg_adam_options o) {
    return make(&adam_type, &(cg_param_group){ params, n, 1.0f, NAN }, 1, o, false);
}
cg_optimizer *cg_adamw_new(cg_tensor *const *params, int64_t n, cg_adam_options o) {
    return make(&adamw_type, &(cg_param_group){ params, n, 1.0f, NAN }, 1, o, true);
}

static cg_optimizer *make_for(const cg_optimizer_type *type, const cg_module *m, cg_adam_options o, bool decoupled) {
    cg_param_groups g;
    if (cg_module_param_groups(m, 1, NULL, NULL, &g) != CG_OK) return NULL;
    cg_optimizer *opt = make(type, g.groups, g.n, o, decoupled);
    cg_param_groups_free(&g);
    return opt;
}
cg_optimizer *cg_adam_new_for(const cg_module *m, cg_adam_options o) { return make_for(&adam_type, m, o, false); }
cg_optimizer *cg_adamw_new_for(const cg_module *m, cg_adam_options o) { return make_for(&adamw_type, m, o, true); }
