/* SPDX-License-Identifier: MIT */
/* lib/ops/nll_loss.c — negative log-likelihood over log-probabilities, and cross-entropy.
 *
 * Shape rule: logp[N,C], target: N int64 class indices in [0, C) -> [] (mean, sum) or [N] (none).
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

cg_tensor *cg_nll_loss(cg_tensor *logp, const int64_t *target, int64_t n, cg_reduction r) {
    if (!logp) return NULL;
    double t0 = cg_profile_begin();
    char s[96];
    if (logp->ndim != 2)
        return CG_FAIL(CG_ESHAPE, "nll_loss: input must be 2-d [N,C], got %s",
                       cg_shape_str(s, sizeof s, logp->ndim, logp->shape));
    if (r != CG_REDUCTION_MEAN && r != CG_REDUCTION_SUM && r != CG_REDUCTION_NONE)
        return CG_FAIL(CG_EINVAL, "nll_loss: unknown reduction %d", (int)r);
    const int64_t N = logp->shape[0], C = logp->shape[1];
    if (n != N)
        return CG_FAIL(CG_ESHAPE, "nll_loss: %lld targets for an input of %lld rows %s", (long long)n,
                       (long long)N, cg_shape_str(s, sizeof s, logp->ndim, logp->shape));
    if (N > 0 && !target) return CG_FAIL(CG_EINVAL, "nll_loss: target is NULL");
    for (int64_t i = 0; i < N; i++)
        if (target[i] < 0 || target[i] >= C)
            return CG_FAIL(CG_EINVAL, "nll_loss: target[%lld] = %lld is out of range [0, %lld)",
                           (long long)i, (long long)target[i], (long long)C);
    cg_tensor *y = r == CG_REDUCTION_NONE ? cg_tape_tensor(1, (int64_t[]){ N }) : cg_tape_tensor(0, NULL);
    if (!y) return NULL;
    nll_forward(y->data, logp->data, target, N, C, r);
    cg_node *nd = cg_record(&op_nll_loss, y, 1, &logp);
    if (!nd) return NULL;
    if (cg_node_recorded(nd)) {
        int64_t *t = cg_tape_scratch((size_t)(N ? N : 1) * sizeof(int64_t));
        if (!t) return NULL;
        if (N) memcpy(t, target, (size_t)N * sizeof(int64_t));
        nd->aux = t;
    }
    CG_SET_PARAMS(nd, &(nll_params){ .n = N, .c = C, .reduction = r,
                                     .scale = r == CG_REDUCTION_MEAN ? 1.0f / (float)N : 1.0f });
    cg_profile_end("nll_loss", 0, t0);
    return y;
}

cg_tensor *cg_cross_entropy(cg_tensor *logits, const int64_t *target, int64_t n, cg_reduction r) {
    if (!logits) return NULL;
    if (logits->ndim != 2) {
        char s[96];
        return CG_FAIL(CG_ESHAPE, "cross_entropy: logits must be 2-d [N,C], got %s",
                       cg_shape_str(s, sizeof s, logits->ndim, logits->shape));
    }
    return cg_nll_loss(cg_log_softmax(logits, 1), target, n, r);
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

cg_tensor *cg_nll_loss_ex(cg_tensor *logp, const int64_t *target, int64_t n, const cg_nll_options *o) {
    if (!logp) return NULL;
    cg_nll_options opt = o ? *o : cg_nll_defaults();
    double t0 = cg_profile_begin();
    char s[96];
    if (logp->ndim != 2)
        return CG_FAIL(CG_ESHAPE, "nll_loss: input must be 2-d [N,C], got %s", cg_shape_str(s, sizeof s, logp->ndim, logp->shape));
    const cg_reduction r = opt.reduction;
    if (r != CG_REDUCTION_MEAN && r != CG_REDUCTION_SUM && r != CG_REDUCTION_NONE)
        return CG_FAIL(CG_EINVAL, "nll_loss: unknown reduction %d", (int)r);
    if (!(opt.label_smoothing >= 0 && opt.label_smoothing <= 1))
        return CG_FAIL(CG_EINVAL, "nll_loss: label_smoothing %g must be in [0, 1]", (double)opt.label_smoothing);
    const int64_t N = logp->shape[0], C = logp->shape[1];
    if (n != N)
        return CG_FAIL(CG_ESHAPE, "nll_loss: %lld targets for an input of %lld rows %s", (long long)n, (long long)N,
                       cg_shape_str(s, sizeof s, logp->ndim, logp->shape));
    if (N > 0 && !target) return CG_FAIL(CG_EINVAL, "nll_loss: target is NULL");
    for (int64_t i = 0; i < N; i++)
        if (target[i] != opt.ignore_index && (target[i] < 0 || target[i] >= C))
            return CG_FAIL(CG_EINVAL, "nll_loss: target[%lld] = %lld is out of range [0, %lld) (ignore_index %lld)",
                           (long long)i, (long long)target[i], (long long)C, (long long)opt.ignore_index);
    const float *w = opt.weight;
    for (int64_t c = 0; w && c < C; c++)
        if (!isfinite(w[c]) || w[c] < 0) return CG_FAIL(CG_EINVAL, "nll_loss: weight[%lld] = %g must be finite and >= 0", (long long)c, (double)w[c]);
    size_t bytes = (size_t)(N ? N : 1) * sizeof(int64_t) + (w ? (size_t)C * sizeof(float) : 0);
    int64_t *t = cg_tape_scratch(bytes);
    if (!t) return NULL;
    double denom = 0, sum = 0;
    cg_tensor *y = r == CG_REDUCTION_NONE ? cg_tape_tensor(1, (int64_t[]){ N }) : cg_tape_tensor(0, NULL);
    if (!y) return NULL;
    const double eps = opt.label_smoothing;
    for (int64_t i = 0; i < N; i++) {
        bool ign = target[i] == opt.ignore_index;
        t[i] = ign ? -1 : target[i];
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

cg_tensor *cg_cross_entropy_ex(cg_tensor *logits, const int64_t *target, int64_t n, const cg_nll_options *o) {
    if (!logits) return NULL;
    if (logits->ndim != 2) {
        char s[96];
        return CG_FAIL(CG_ESHAPE, "cross_entropy: logits must be 2-d [N,C], got %s", cg_shape_str(s, sizeof s, logits->ndim, logits->shape));
    }
    return cg_nll_loss_ex(cg_log_softmax(logits, 1), target, n, o);
}
