/* SPDX-License-Identifier: MIT */
/* lib/ops/nll_loss.c — negative log-likelihood over log-probabilities, and cross-entropy.
 *
 * Shape rule: logp[N,C] float32, target [N] int64 class indices in [0, C) -> [] (mean, sum) or
 * [N] (none).
 * loss_i = -logp[i, t_i]; mean divides the sum by N (N = 0 gives NaN, as PyTorch).
 * Backward: dlogp[i, t_i] += -dy_i (none) or -dy * scale (mean: 1/N, sum: 1).
 * The targets are copied into tape scratch, so the caller's array may change after the call. */
#include <math.h>
#include "cg_internal.h"

/* loss over N rows of logp[N,C] at targets t[N]; none: y[N], else y[0] = scale * sum */
static void nll_forward(float *restrict y, const float *restrict logp, const int64_t *restrict t,
                        int64_t N, int64_t C, cg_reduction r) {
    if (r == CG_REDUCTION_NONE) {
        for (int64_t i = 0; i < N; i++) y[i] = -logp[i * C + t[i]];
        return;
    }
    double s = 0;
    for (int64_t i = 0; i < N; i++) s -= logp[i * C + t[i]];
    y[0] = (float)(r == CG_REDUCTION_MEAN ? s / (double)N : s);
}

/* dlogp[i, t_i] += -dy[i or 0] * scale */
typedef struct nll_params { int64_t n, c; cg_reduction reduction; float scale; } nll_params;  /* on the node */

static cg_status nll_backward(cg_node *n) {
    float *dx = cg_grad_data(n->in[0]);
    if (!dx) return CG_ENOMEM;
    nll_params p;
    CG_GET_PARAMS(n, &p);
    const int64_t N = p.n, C = p.c;
    const cg_reduction r = p.reduction;
    const int64_t *t = n->aux;
    const float *dy = cg_out_grad(n);
    for (int64_t i = 0; i < N; i++) {
        float g = r == CG_REDUCTION_NONE ? dy[i] : dy[0] * p.scale;
        dx[i * C + t[i]] -= g;
    }
    return CG_OK;
}

static const cg_op_def op_nll_loss = { "nll_loss", nll_backward };

/* The arguments' checks, shared by both losses and their _ex forms; op names the public entry
 * ("cross_entropy" checks its logits before log_softmax runs), input the first argument. With
 * ignore, a target equal to ignore_index is allowed. */
static cg_status nll_check(const char *op, const char *input, const cg_tensor *x, const cg_tensor *target, bool ignore,
                           int64_t ignore_index, const cg_tensor *weight) {
    char s1[96], s2[96];
    if (cg_check_dtype(op, input, x, CG_F32) != CG_OK || cg_check_dtype(op, "target", target, CG_I64) != CG_OK ||
        cg_check_dtype(op, "weight", weight, CG_F32) != CG_OK)
        return CG_EINVAL;
    if (x->ndim != 2)
        return cg_error(CG_ESHAPE, "%s: %s must be 2-d [N,C], got %s", op, input, cg_shape_str(s1, sizeof s1, x->ndim, x->shape));
    const int64_t N = x->shape[0], C = x->shape[1];
    if (target->ndim != 1 || target->shape[0] != N)
        return cg_error(CG_ESHAPE, "%s: target %s must be [%lld] for an %s of shape %s", op,
                        cg_shape_str(s1, sizeof s1, target->ndim, target->shape), (long long)N, input,
                        cg_shape_str(s2, sizeof s2, x->ndim, x->shape));
    const int64_t *t = cg_i64(target);
    for (int64_t i = 0; i < N; i++)
        if ((!ignore || t[i] != ignore_index) && (t[i] < 0 || t[i] >= C)) {
            if (ignore)
                return cg_error(CG_EINVAL, "%s: target[%lld] = %lld is out of range [0, %lld) (ignore_index %lld)", op,
                                (long long)i, (long long)t[i], (long long)C, (long long)ignore_index);
            return cg_error(CG_EINVAL, "%s: target[%lld] = %lld is out of range [0, %lld)", op, (long long)i,
                            (long long)t[i], (long long)C);
        }
    if (weight) {
        if (weight->ndim != 1 || weight->shape[0] != C)
            return cg_error(CG_ESHAPE, "%s: weight %s must be [%lld], one per class", op,
                            cg_shape_str(s1, sizeof s1, weight->ndim, weight->shape), (long long)C);
        for (int64_t c = 0; c < C; c++)
            if (!isfinite(weight->data[c]) || weight->data[c] < 0)
                return cg_error(CG_EINVAL, "%s: weight[%lld] = %g must be finite and >= 0", op, (long long)c,
                                (double)weight->data[c]);
    }
    return CG_OK;
}

static bool reduction_ok(const char *op, cg_reduction r) {
    if (r == CG_REDUCTION_MEAN || r == CG_REDUCTION_SUM || r == CG_REDUCTION_NONE) return true;
    cg_error(CG_EINVAL, "%s: unknown reduction %d", op, (int)r);
    return false;
}

/* nll_loss on checked arguments. */
static cg_tensor *nll_core(cg_tensor *logp, const cg_tensor *target, cg_reduction r) {
    double t0 = cg_profile_begin();
    const int64_t N = logp->shape[0], C = logp->shape[1];
    const int64_t *target_v = cg_i64(target);
    cg_tensor *y = r == CG_REDUCTION_NONE ? cg_tape_tensor(1, (int64_t[]){ N }) : cg_tape_tensor(0, NULL);
    if (!y) return NULL;
    nll_forward(y->data, logp->data, target_v, N, C, r);
    cg_node *nd = cg_record(&op_nll_loss, y, 1, &logp);
    if (!nd) return NULL;
    if (cg_node_recorded(nd)) {
        int64_t *t = cg_tape_scratch((size_t)(N ? N : 1) * sizeof(int64_t));
        if (!t) return NULL;
        if (N) memcpy(t, target_v, (size_t)N * sizeof(int64_t));
        nd->aux = t;
    }
    CG_SET_PARAMS(nd, &(nll_params){ .n = N, .c = C, .reduction = r,
                                     .scale = r == CG_REDUCTION_MEAN ? 1.0f / (float)N : 1.0f });
    cg_profile_end("nll_loss", 0, t0);
    return y;
}

cg_tensor *cg_nll_loss(cg_tensor *logp, const cg_tensor *target, cg_reduction r) {
    if (!logp || !target) return NULL;
    if (!reduction_ok("nll_loss", r) || nll_check("nll_loss", "input", logp, target, false, 0, NULL) != CG_OK)
        return NULL;
    return nll_core(logp, target, r);
}

cg_tensor *cg_cross_entropy(cg_tensor *logits, const cg_tensor *target, cg_reduction r) {
    if (!logits || !target) return NULL;
    if (!reduction_ok("cross_entropy", r) ||
        nll_check("cross_entropy", "logits", logits, target, false, 0, NULL) != CG_OK)
        return NULL;
    cg_tensor *logp = cg_log_softmax(logits, 1);
    return logp ? nll_core(logp, target, r) : NULL;
}

/* ---- nll / cross-entropy with PyTorch's options: class weights, ignore_index, label smoothing ----
 * Per row i (not ignored): loss_i = (1 - eps) * w[t_i] * (-logp[i, t_i]) + eps / C * sum_c w[c] * (-logp[i, c]);
 * an ignored row gives 0. mean divides the sum by sum of w[t_i] over the rows not ignored (N of
 * them without weights), as PyTorch does. Backward: dlogp[i, c] = -g_i * ((1 - eps) w[t_i] [c = t_i]
 * + eps / C * w[c]), g_i = dy_i (none) or dy / denominator (mean) or dy (sum). */
typedef struct nllx_params { int64_t n, c; cg_reduction reduction; float eps; double denom; bool has_w; } nllx_params;
/* aux: [n] targets (int64), then [c] weights (float) when has_w */

cg_nll_options cg_nll_defaults(void) {
    return (cg_nll_options){ .weight = NULL, .ignore_index = -100, .label_smoothing = 0.0f, .reduction = CG_REDUCTION_MEAN };
}

static cg_status nllx_backward(cg_node *nd) {
    nllx_params p;
    CG_GET_PARAMS(nd, &p);
    float *dx = cg_grad_data(nd->in[0]);
    if (!dx) return CG_ENOMEM;
    const int64_t *t = nd->aux;
    const float *w = p.has_w ? (const float *)(t + p.n) : NULL, *dy = cg_out_grad(nd);
    const double eps = p.eps;
    for (int64_t i = 0; i < p.n; i++) {
        if (t[i] < 0) continue; /* ignored (stored as -1) */
        double g = p.reduction == CG_REDUCTION_NONE ? dy[i] : dy[0] / (p.reduction == CG_REDUCTION_MEAN ? p.denom : 1.0);
        float *row = dx + i * p.c;
        row[t[i]] -= (float)(g * (1.0 - eps) * (w ? w[t[i]] : 1.0));
        if (eps > 0)
            for (int64_t c = 0; c < p.c; c++) row[c] -= (float)(g * eps / (double)p.c * (w ? w[c] : 1.0));
    }
    return CG_OK;
}

static const cg_op_def op_nll_ex = { "nll_loss", nllx_backward };

/* nll_loss_ex on checked arguments. */
static cg_tensor *nllx_core(cg_tensor *logp, const cg_tensor *target, const cg_nll_options *o) {
    double t0 = cg_profile_begin();
    const cg_reduction r = o->reduction;
    const int64_t N = logp->shape[0], C = logp->shape[1];
    const int64_t *target_v = cg_i64(target);
    const float *w = o->weight ? o->weight->data : NULL;
    size_t bytes = (size_t)(N ? N : 1) * sizeof(int64_t) + (w ? (size_t)C * sizeof(float) : 0);
    int64_t *t = cg_tape_scratch(bytes);
    if (!t) return NULL;
    double denom = 0, sum = 0;
    cg_tensor *y = r == CG_REDUCTION_NONE ? cg_tape_tensor(1, (int64_t[]){ N }) : cg_tape_tensor(0, NULL);
    if (!y) return NULL;
    const double eps = o->label_smoothing;
    for (int64_t i = 0; i < N; i++) {
        bool ign = target_v[i] == o->ignore_index;
        t[i] = ign ? -1 : target_v[i];
        double li = 0;
        if (!ign) {
            const float *row = logp->data + i * C;
            li = (1.0 - eps) * (w ? w[t[i]] : 1.0) * -(double)row[t[i]];
            if (eps > 0) {
                double sm = 0;
                for (int64_t c = 0; c < C; c++) sm += (w ? w[c] : 1.0) * -(double)row[c];
                li += eps / (double)C * sm;
            }
            denom += w ? w[t[i]] : 1.0;
        }
        if (r == CG_REDUCTION_NONE) y->data[i] = (float)li;
        else sum += li;
    }
    if (r != CG_REDUCTION_NONE) y->data[0] = (float)(r == CG_REDUCTION_MEAN ? sum / denom : sum); /* 0/0: NaN, as PyTorch */
    if (w) memcpy(t + N, w, (size_t)C * sizeof(float));
    cg_node *nd = cg_record(&op_nll_ex, y, 1, &logp);
    if (!nd) return NULL;
    CG_SET_PARAMS(nd, &(nllx_params){ .n = N, .c = C, .reduction = r, .eps = (float)eps, .denom = denom, .has_w = w != NULL });
    nd->aux = t;
    cg_profile_end("nll_loss", 0, t0);
    return y;
}

static bool options_ok(const char *op, const cg_nll_options *o) {
    if (!reduction_ok(op, o->reduction)) return false;
    if (o->label_smoothing >= 0 && o->label_smoothing <= 1) return true;
    cg_error(CG_EINVAL, "%s: label_smoothing %g must be in [0, 1]", op, (double)o->label_smoothing);
    return false;
}

cg_tensor *cg_nll_loss_ex(cg_tensor *logp, const cg_tensor *target, const cg_nll_options *o) {
    if (!logp || !target) return NULL;
    cg_nll_options opt = o ? *o : cg_nll_defaults();
    if (!options_ok("nll_loss", &opt) ||
        nll_check("nll_loss", "input", logp, target, true, opt.ignore_index, opt.weight) != CG_OK)
        return NULL;
    return nllx_core(logp, target, &opt);
}

cg_tensor *cg_cross_entropy_ex(cg_tensor *logits, const cg_tensor *target, const cg_nll_options *o) {
    if (!logits || !target) return NULL;
    cg_nll_options opt = o ? *o : cg_nll_defaults();
    if (!options_ok("cross_entropy", &opt) ||
        nll_check("cross_entropy", "logits", logits, target, true, opt.ignore_index, opt.weight) != CG_OK)
        return NULL;
    cg_tensor *logp = cg_log_softmax(logits, 1);
    return logp ? nllx_core(logp, target, &opt) : NULL;
}
