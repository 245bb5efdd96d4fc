/* SPDX-License-Identifier: MIT */
/* lib/ops/pointwise_loss.c — losses of an input and a same-shaped target, element by element,
 * reduced by mean, sum or none, with PyTorch's formulas (d = x - t):
 *   l1_loss          |d|                      d/dx: sign(d) (0 at 0)
 *   smooth_l1_loss   |d| < beta: d^2/(2 beta), else |d| - beta/2   (beta 0: l1)
 *   huber_loss       |d| <= delta: d^2/2, else delta (|d| - delta/2)
 *   bce_with_logits  pw*t*softplus(-x) + (1-t)*softplus(x), pw: pos_weight over the last dim
 *                    (1 without it); stable for any x
 *   kl_div           t (log t - x), 0 where t = 0 (xlogy); log_target: exp(t) (t - x)
 * The target gets a gradient too when it requires one, as in PyTorch. MEAN divides by the
 * element count (kl_div's 'mean', not 'batchmean'). Sums are taken in double, serially, so the
 * loss does not depend on the thread count. */
#include <math.h>
#include "cg_internal.h"

typedef enum { PL_L1, PL_SMOOTH_L1, PL_HUBER, PL_BCE_LOGITS, PL_KL, PL_KL_LOG, PL_COUNT } pl_kind;

typedef struct pl_params {
    pl_kind kind;
    cg_reduction reduction;
    float a;            /* beta, delta */
    float scale;        /* 1/n for MEAN */
    int64_t pw_len;     /* bce: pos_weight's length (the last dim), 0: none */
} pl_params;  /* on the node; pos_weight's values in aux */

static inline double softplus_d(double v) { return v > 0 ? v + log1p(exp(-v)) : log1p(exp(v)); }
static inline double sigmoid_d(double v) {
    double e = exp(-fabs(v));
    return v >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/* The loss of element i (x, t), in double. */
static double pl_value(const pl_params *p, const float *pw, int64_t i, double x, double t) {
    double d = x - t, ad = fabs(d);
    switch (p->kind) {
    case PL_L1: return ad;
    case PL_SMOOTH_L1: return p->a > 0 && ad < p->a ? 0.5 * d * d / p->a : ad - 0.5 * p->a;
    case PL_HUBER: return ad <= p->a ? 0.5 * d * d : p->a * (ad - 0.5 * p->a);
    case PL_BCE_LOGITS: {
        double w = p->pw_len ? pw[i % p->pw_len] : 1.0;
        return w * t * softplus_d(-x) + (1.0 - t) * softplus_d(x);
    }
    case PL_KL: return t > 0 ? t * (log(t) - x) : (t == 0 ? 0.0 : NAN);
    case PL_KL_LOG: return exp(t) * (t - x);
    default: return NAN;
    }
}

/* d loss / d x and d loss / d t of element i. */
static void pl_grad(const pl_params *p, const float *pw, int64_t i, double x, double t, double *gx, double *gt) {
    double d = x - t, ad = fabs(d), sg = d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0);
    switch (p->kind) {
    case PL_L1: *gx = sg; *gt = -sg; return;
    case PL_SMOOTH_L1: *gx = p->a > 0 && ad < p->a ? d / p->a : sg; *gt = -*gx; return;
    case PL_HUBER: *gx = d < -p->a ? -p->a : (d > p->a ? p->a : d); *gt = -*gx; return;
    case PL_BCE_LOGITS: {
        double w = p->pw_len ? pw[i % p->pw_len] : 1.0, s = sigmoid_d(x);
        *gx = s * (w * t + 1.0 - t) - w * t;
        *gt = w * softplus_d(-x) - softplus_d(x);
        return;
    }
    case PL_KL: *gx = -t; *gt = t > 0 ? log(t) + 1.0 - x : 0.0; return;
    case PL_KL_LOG: { double e = exp(t); *gx = -e; *gt = e * (t - x + 1.0); return; }
    default: *gx = *gt = NAN; return;
    }
}

static cg_status pl_backward(cg_node *n) {
    pl_params p;
    CG_GET_PARAMS(n, &p);
    cg_tensor *x = n->in[0], *t = n->in[1];
    float *gx = cg_requires_grad(x) ? cg_grad_data(x) : NULL, *gt = cg_requires_grad(t) ? cg_grad_data(t) : NULL;
    if ((cg_requires_grad(x) && !gx) || (cg_requires_grad(t) && !gt)) return CG_ENOMEM;
    const float *dy = cg_out_grad(n), *xd = x->data, *td = t->data, *pw = n->aux;
    const bool per = p.reduction == CG_REDUCTION_NONE;
    const int64_t m = x->numel;
    #pragma omp parallel for if (m >= CG_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < m; i++) {
        double a, b, g = per ? dy[i] : (double)dy[0] * p.scale;
        pl_grad(&p, pw, i, xd[i], td[i], &a, &b);
        if (gx) gx[i] += (float)(g * a);
        if (gt) gt[i] += (float)(g * b);
    }
    return CG_OK;
}

static const cg_op_def op_pl[PL_COUNT] = {
    [PL_L1] = { "l1_loss", pl_backward }, [PL_SMOOTH_L1] = { "smooth_l1_loss", pl_backward },
    [PL_HUBER] = { "huber_loss", pl_backward }, [PL_BCE_LOGITS] = { "bce_with_logits", pl_backward },
    [PL_KL] = { "kl_div", pl_backward }, [PL_KL_LOG] = { "kl_div", pl_backward },
};

static cg_tensor *pointwise_loss(pl_kind k, cg_tensor *x, cg_tensor *t, float a, const cg_tensor *pos_weight,
                                 cg_reduction r) {
    if (!x || !t) return NULL;
    const char *name = op_pl[k].name;
    CG_REQUIRE_F32(name, "input", x);
    CG_REQUIRE_F32(name, "target", t);
    CG_REQUIRE_F32(name, "pos_weight", pos_weight);
    double t0 = cg_profile_begin();
    if (r != CG_REDUCTION_MEAN && r != CG_REDUCTION_SUM && r != CG_REDUCTION_NONE)
        return CG_FAIL(CG_EINVAL, "%s: reduction %d is not MEAN, SUM or NONE", name, (int)r);
    if (!cg_tensor_same_shape(x, t)) {
        char s1[96], s2[96];
        return CG_FAIL(CG_ESHAPE, "%s: input %s and target %s must have the same shape", name,
                       cg_shape_str(s1, sizeof s1, x->ndim, x->shape), cg_shape_str(s2, sizeof s2, t->ndim, t->shape));
    }
    const int64_t m = x->numel;
    if (r == CG_REDUCTION_MEAN && m == 0) return CG_FAIL(CG_ESHAPE, "%s: mean over an empty tensor", name);
    pl_params p = { .kind = k, .reduction = r, .a = a, .scale = r == CG_REDUCTION_MEAN ? 1.0f / (float)m : 1.0f };
    float *pw = NULL;
    if (pos_weight) {
        const int64_t last = x->ndim ? x->shape[x->ndim - 1] : 1;
        if (pos_weight->ndim != 1 || (pos_weight->numel != last && pos_weight->numel != 1)) {
            char s1[96], s2[96];
            return CG_FAIL(CG_ESHAPE, "%s: pos_weight %s must be [%lld] (the last dim of %s) or [1]", name,
                           cg_shape_str(s1, sizeof s1, pos_weight->ndim, pos_weight->shape), (long long)last,
                           cg_shape_str(s2, sizeof s2, x->ndim, x->shape));
        }
        if (!(pw = cg_tape_scratch((size_t)pos_weight->numel * sizeof *pw))) return NULL;
        memcpy(pw, pos_weight->data, (size_t)pos_weight->numel * sizeof *pw); /* the caller's may change */
        p.pw_len = pos_weight->numel;
    }
    cg_tensor *y = r == CG_REDUCTION_NONE ? cg_tape_tensor(x->ndim, x->shape) : cg_tape_tensor(0, NULL);
    if (!y) return NULL;
    if (r == CG_REDUCTION_NONE) {
        #pragma omp parallel for if (m >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < m; i++) y->data[i] = (float)pl_value(&p, pw, i, x->data[i], t->data[i]);
    } else {
        double s = 0;
        for (int64_t i = 0; i < m; i++) s += pl_value(&p, pw, i, x->data[i], t->data[i]);
        y->data[0] = (float)(r == CG_REDUCTION_MEAN ? s / (double)m : s);
    }
    cg_node *n = cg_record(&op_pl[k], y, 2, (cg_tensor *[]){ x, t });
    if (!n) return NULL;
    CG_SET_PARAMS(n, &p);
    n->aux = pw;
    cg_profile_end(name, 0, t0);
    return y;
}

cg_tensor *cg_l1_loss(cg_tensor *pred, cg_tensor *target, cg_reduction r) {
    return pointwise_loss(PL_L1, pred, target, 0, NULL, r);
}
cg_tensor *cg_smooth_l1_loss(cg_tensor *pred, cg_tensor *target, float beta, cg_reduction r) {
    if (!(beta >= 0) || !isfinite(beta)) return CG_FAIL(CG_EINVAL, "smooth_l1_loss: beta %g must be finite and >= 0", (double)beta);
    return pointwise_loss(PL_SMOOTH_L1, pred, target, beta, NULL, r);
}
cg_tensor *cg_huber_loss(cg_tensor *pred, cg_tensor *target, float delta, cg_reduction r) {
    if (!(delta > 0) || !isfinite(delta)) return CG_FAIL(CG_EINVAL, "huber_loss: delta %g must be finite and > 0", (double)delta);
    return pointwise_loss(PL_HUBER, pred, target, delta, NULL, r);
}
cg_tensor *cg_bce_with_logits(cg_tensor *logits, cg_tensor *target, const cg_tensor *pos_weight, cg_reduction r) {
    return pointwise_loss(PL_BCE_LOGITS, logits, target, 0, pos_weight, r);
}
cg_tensor *cg_kl_div(cg_tensor *input, cg_tensor *target, bool log_target, cg_reduction r) {
    return pointwise_loss(log_target ? PL_KL_LOG : PL_KL, input, target, 0, NULL, r);
}
