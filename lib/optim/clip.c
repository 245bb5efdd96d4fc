/* SPDX-License-Identifier: MIT */
/* lib/optim/clip.c — gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_.
 * The norm is summed in double over every gradient (PyTorch sums per tensor in float, then the
 * tensors' norms: the two agree to float rounding). Parameters without a gradient are skipped.
 * The gradients are scaled in place; no allocation. */
#include <math.h>
#include "cg_internal.h"

cg_status cg_clip_grad_norm(cg_tensor *const *params, int64_t n, double max_norm, double norm_type,
                            double *total_norm) {
    if (total_norm) *total_norm = 0;
    if (!params && n) return cg_error(CG_EINVAL, "cg_clip_grad_norm: params is NULL");
    if (n < 0) return cg_error(CG_EINVAL, "cg_clip_grad_norm: n %lld must be >= 0", (long long)n);
    if (!(max_norm >= 0) || isinf(max_norm))
        return cg_error(CG_EINVAL, "cg_clip_grad_norm: max_norm %g must be finite and >= 0", max_norm);
    if (!(norm_type > 0)) return cg_error(CG_EINVAL, "cg_clip_grad_norm: norm_type %g must be > 0 (or INFINITY)", norm_type);
    double acc = 0;
    for (int64_t k = 0; k < n; k++) {
        const cg_tensor *g = params[k] ? params[k]->grad : NULL;
        if (!g) continue;
        const float *d = g->data;
        for (int64_t i = 0; i < g->numel; i++) {
            double a = fabs((double)d[i]);
            if (isinf(norm_type)) acc = a > acc || isnan(a) ? a : acc;
            else if (norm_type == 2) acc += a * a;
            else if (norm_type == 1) acc += a;
            else acc += pow(a, norm_type);
        }
    }
    double norm = isinf(norm_type) ? acc : norm_type == 2 ? sqrt(acc) : norm_type == 1 ? acc : pow(acc, 1.0 / norm_type);
    if (total_norm) *total_norm = norm;
    double coef = max_norm / (norm + 1e-6);
    if (!(coef < 1.0)) return CG_OK; /* PyTorch clamps the coefficient at 1; NaN norms scale to NaN there */
    float c = (float)coef;
    for (int64_t k = 0; k < n; k++) {
        cg_tensor *g = params[k] ? params[k]->grad : NULL;
        if (!g) continue;
        for (int64_t i = 0; i < g->numel; i++) g->data[i] *= c;
    }
    return CG_OK;
}

cg_status cg_clip_grad_value(cg_tensor *const *params, int64_t n, double clip_value) {
    if (!params && n) return cg_error(CG_EINVAL, "cg_clip_grad_value: params is NULL");
    if (!(clip_value >= 0) || isinf(clip_value))
        return cg_error(CG_EINVAL, "cg_clip_grad_value: clip_value %g must be finite and >= 0", clip_value);
    const float v = (float)clip_value;
    for (int64_t k = 0; k < n; k++) {
        cg_tensor *g = params[k] ? params[k]->grad : NULL;
        if (!g) continue;
        for (int64_t i = 0; i < g->numel; i++) {
            float x = g->data[i];
            g->data[i] = x < -v ? -v : (x > v ? v : x); /* NaN stays NaN, as torch.clamp */
        }
    }
    return CG_OK;
}
