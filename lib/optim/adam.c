/* SPDX-License-Identifier: MIT */
/* lib/optim/adam.c — torch.optim.Adam and AdamW (PyTorch 1.13's single-tensor path):
 *   t += 1; Adam: g += wd*p;  AdamW: p *= 1 - lr*wd
 *   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g
 *   p -= (lr / (1-b1^t)) * m / (sqrt(v) / sqrt(1-b2^t) + eps)
 * Scalars in double, tensors in float, as PyTorch computes them.
 * State: "exp_avg.<i>", "exp_avg_sq.<i>"; the step count is the optimizer's step_count. */
#include <math.h>
#include "cg_internal.h"

typedef struct adam { cg_optimizer base; cg_adam_options o; bool decoupled; } adam;

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
    float step_size = (float)((double)base->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    for (int64_t i = 0; i < base->n_params; i++) {
        cg_tensor *p = base->params[i];
        if (!p->grad) continue;
        cg_tensor *m = cg_optim_param_state(base, "exp_avg", i, NULL);
        cg_tensor *v = cg_optim_param_state(base, "exp_avg_sq", i, NULL);
        if (!m || !v) return CG_ENOMEM;
        adam_kernel(p->data, p->grad->data, m->data, v->data, p->numel, o.beta1, o.beta2, o.eps,
                    o.weight_decay, base->lr, a->decoupled, step_size, bc2_sqrt);
    }
    return CG_OK;
}

static const cg_optimizer_type adam_type = { "Adam", adam_step, NULL };
static const cg_optimizer_type adamw_type = { "AdamW", adam_step, NULL };
static const char *const adam_state[] = { "exp_avg", "exp_avg_sq", NULL };

cg_adam_options cg_adam_defaults(void) {
    return (cg_adam_options){ .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0 };
}

static cg_optimizer *make(const cg_optimizer_type *type, cg_tensor *const *params, int64_t n,
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
    adam *a = (adam *)cg_optim_new(type, sizeof *a, params, n, o.lr);
    if (!a) return NULL;
    a->o = o;
    a->decoupled = decoupled;
    a->base.state_prefixes = adam_state;
    return &a->base;
}

cg_optimizer *cg_adam_new(cg_tensor *const *params, int64_t n, cg_adam_options o) {
    return make(&adam_type, params, n, o, false);
}
cg_optimizer *cg_adamw_new(cg_tensor *const *params, int64_t n, cg_adam_options o) {
    return make(&adamw_type, params, n, o, true);
}
