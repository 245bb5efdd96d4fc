/* SPDX-License-Identifier: MIT */
/* lib/ops/mse_loss.c — mean squared error, (pred - target)^2 reduced by mean, sum or none.
 * Shape rule: pred and target have the same shape; MEAN and SUM give [] (0-d), NONE gives
 * pred's shape. Backward: dpred += 2 (pred - target) dy * scale and dtarget gets the negative
 * (only when target requires grad, as PyTorch), with scale 1/n for MEAN. */
#include "cg_internal.h"

/* y[n] = (p - t)^2 elementwise */
static void mse_none_forward(float *restrict y, const float *restrict p, const float *restrict t, int64_t n) {
    #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) { float d = p[i] - t[i]; y[i] = d * d; }
}

/* sum over n of (p - t)^2, in double; serial so that the loss does not depend on the
 * thread count or on the order in which threads finish */
static double mse_sum(const float *restrict p, const float *restrict t, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) { double d = (double)p[i] - t[i]; s += d * d; }
    return s;
}

/* g[n] += sign * 2 (p - t) * dy[i or 0] * scale; dy has n elements (NONE) or one. */
static void mse_backward_kernel(float *restrict g, const float *restrict p, const float *restrict t,
                                const float *restrict dy, bool per_elem, float scale, float sign, int64_t n) {
    if (per_elem) {
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) g[i] += sign * 2.0f * (p[i] - t[i]) * dy[i];
    } else {
        float c = sign * 2.0f * dy[0] * scale;
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) g[i] += c * (p[i] - t[i]);
    }
}

typedef struct mse_params { cg_reduction reduction; float scale; } mse_params;  /* on the node */

static cg_status mse_backward(cg_node *n) {
    cg_tensor *p = n->in[0], *t = n->in[1];
    mse_params mp;
    CG_GET_PARAMS(n, &mp);
    bool per_elem = mp.reduction == CG_REDUCTION_NONE;
    for (int side = 0; side < 2; side++) {
        if (!cg_requires_grad(n->in[side])) continue;
        float *g = cg_grad_data(n->in[side]);
        if (!g) return CG_ENOMEM;
        mse_backward_kernel(g, p->data, t->data, cg_out_grad(n), per_elem, mp.scale,
                            side ? -1.0f : 1.0f, p->numel);
    }
    return CG_OK;
}

static const cg_op_def op_mse = { "mse_loss", mse_backward };

cg_tensor *cg_mse_loss(cg_tensor *pred, cg_tensor *target, cg_reduction r) {
    if (!pred || !target) return NULL;
    CG_REQUIRE_F32("mse_loss", "input", pred);
    CG_REQUIRE_F32("mse_loss", "target", target);
    double t0 = cg_profile_begin();
    if (r != CG_REDUCTION_MEAN && r != CG_REDUCTION_SUM && r != CG_REDUCTION_NONE)
        return CG_FAIL(CG_EINVAL, "mse_loss: reduction %d is not MEAN, SUM or NONE", (int)r);
    if (!cg_tensor_same_shape(pred, target)) {
        char s1[96], s2[96];
        return CG_FAIL(CG_ESHAPE, "mse_loss: pred %s and target %s must have the same shape",
                       cg_shape_str(s1, sizeof s1, pred->ndim, pred->shape),
                       cg_shape_str(s2, sizeof s2, target->ndim, target->shape));
    }
    int64_t n = pred->numel;
    if (r == CG_REDUCTION_MEAN && n == 0) return CG_FAIL(CG_ESHAPE, "mse_loss: mean over an empty tensor");
    float scale = r == CG_REDUCTION_MEAN ? 1.0f / (float)n : 1.0f;
    cg_tensor *y;
    if (r == CG_REDUCTION_NONE) {
        y = cg_tape_tensor(pred->ndim, pred->shape);
        if (!y) return NULL;
        mse_none_forward(y->data, pred->data, target->data, n);
    } else {
        y = cg_tape_tensor(0, NULL);
        if (!y) return NULL;
        double s = mse_sum(pred->data, target->data, n);
        y->data[0] = (float)(r == CG_REDUCTION_MEAN ? s / (double)n : s);
    }
    cg_node *node = cg_record(&op_mse, y, 2, (cg_tensor *[]){ pred, target });
    if (!node) return NULL;
    CG_SET_PARAMS(node, &(mse_params){ .reduction = r, .scale = scale });
    cg_profile_end("mse_loss", 0, t0);
    return y;
}
