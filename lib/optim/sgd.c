/* SPDX-License-Identifier: MIT */
/* lib/optim/sgd.c — torch.optim.SGD, same equations:
 *   d = g + wd*p
 *   if momentum: buf = d on the first step, else buf = momentum*buf + (1-dampening)*d
 *                d = nesterov ? d + momentum*buf : buf
 *   p -= lr*d
 * Per parameter group: lr = the optimizer's lr * lr_scale, and the group's weight_decay.
 * State: one buffer per parameter, "momentum_buffer" (saved as "momentum_buffer.<i>"). */
#include <math.h>
#include "cg_internal.h"

typedef struct sgd { cg_optimizer base; cg_sgd_options o; } sgd;
enum { SGD_MOMENTUM };  /* the state's ids: positions in sgd_state */

/* p[n] -= lr * d, with d built from g[n] and buf[n] (NULL when momentum == 0). The options are
 * loop-invariant selects and every load is unconditional, so that the loops vectorise (an `if`
 * around a load or store leaves GCC's loop scalar). */
static void sgd_kernel(float *restrict p, const float *restrict g, float *restrict buf, int64_t n,
                       cg_sgd_options o, bool first) {
    const float wd = o.weight_decay, m = o.momentum, keep = 1.0f - o.dampening, lr = o.lr;
    const bool decay = wd != 0.0f, nesterov = o.nesterov;
    if (!buf) {
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float pi = p[i], d = g[i], dw = d + wd * pi;
            d = decay ? dw : d;
            p[i] = pi - lr * d;
        }
        return;
    }
    #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i], d = g[i], dw = d + wd * pi;
        d = decay ? dw : d;
        float b_old = buf[i], b_next = m * b_old + keep * d;  /* buf is zeros on the first step */
        float b = first ? d : b_next;
        buf[i] = b;
        float dn = d + m * b;
        d = nesterov ? dn : b;
        p[i] = pi - lr * d;
    }
}

static cg_status sgd_step(cg_optimizer *base) {
    sgd *s = (sgd *)base;
    for (int gi = 0; gi < base->n_groups; gi++) {
        cg_sgd_options o = s->o;
        o.lr = cg_optim_group_lr(base, gi); /* schedulers change base->lr */
        o.weight_decay = cg_optim_group_weight_decay(base, gi, s->o.weight_decay);
        const cg_optim_group *G = &base->groups[gi];
        for (int64_t i = G->first; i < G->first + G->n; i++) {
            cg_tensor *p = base->params[i];
            if (!p->grad) continue;  /* PyTorch skips parameters without a grad */
            float *buf = NULL;
            bool first = false;
            if (o.momentum != 0.0f) {
                cg_tensor *b = cg_optim_state(base, i, SGD_MOMENTUM, &first);
                if (!b) return CG_ENOMEM;
                buf = b->data;
            }
            sgd_kernel(p->data, p->grad->data, buf, p->numel, o, first);
        }
    }
    return CG_OK;
}

static const cg_optimizer_type sgd_type = { "SGD", sgd_step, NULL };
static const char *const sgd_state[] = { [SGD_MOMENTUM] = "momentum_buffer", NULL }, *const sgd_no_state[] = { NULL };

cg_sgd_options cg_sgd_defaults(void) {
    return (cg_sgd_options){ .lr = 1e-3f, .momentum = 0, .dampening = 0, .weight_decay = 0, .nesterov = false };
}

cg_optimizer *cg_sgd_new_groups(const cg_param_group *groups, int n_groups, cg_sgd_options o) {
    if (!(o.lr >= 0) || !isfinite(o.lr))
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "SGD: lr %g must be finite and >= 0", o.lr);
    if (!(o.momentum >= 0 && o.momentum <= 1))
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "SGD: momentum %g must be in [0, 1]", o.momentum);
    if (!(o.dampening >= 0 && o.dampening <= 1))
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "SGD: dampening %g must be in [0, 1]", o.dampening);
    if (!(o.weight_decay >= 0) || !isfinite(o.weight_decay))
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "SGD: weight_decay %g must be finite and >= 0", o.weight_decay);
    if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "SGD: nesterov needs momentum > 0 and zero dampening");
    sgd *s = (sgd *)cg_optim_new_groups(&sgd_type, sizeof *s, groups, n_groups, o.lr);
    if (!s) return NULL;
    s->o = o;
    if (cg_optim_declare_state(&s->base, o.momentum != 0.0f ? sgd_state : sgd_no_state) != CG_OK) {
        cg_optim_free(&s->base);
        return NULL;
    }
    return &s->base;
}

cg_optimizer *cg_sgd_new(cg_tensor *const *params, int64_t n, cg_sgd_options o) {
    return cg_sgd_new_groups(&(cg_param_group){ params, n, 1.0f, NAN }, 1, o);
}

cg_optimizer *cg_sgd_new_for(const cg_module *m, cg_sgd_options o) {
    cg_param_groups g;
    if (cg_module_param_groups(m, 1, NULL, NULL, &g) != CG_OK) return NULL;
    cg_optimizer *opt = cg_sgd_new_groups(g.groups, g.n, o);
    cg_param_groups_free(&g);
    return opt;
}
