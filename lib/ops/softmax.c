/* SPDX-License-Identifier: MIT */
/* lib/ops/softmax.c — softmax and log_softmax along one dim, max-subtracted for stability.
 *
 * Shape rule: y has x's shape; x viewed as [outer, n, inner] around dim.
 * softmax:     y = exp(x - max) / sum exp(x - max);      dx += y * (dy - sum(dy * y))
 * log_softmax: y = x - max - log(sum exp(x - max));      dx += dy - exp(y) * sum(dy)
 * Kernels run in parallel over the outer*inner lanes; each thread owns its lanes. */
#include <math.h>
#include "cg_internal.h"

/* y[outer, n, inner] = (log_)softmax over n of x[outer, n, inner] */
static void softmax_forward(float *restrict y, const float *restrict x, int64_t outer, int64_t n,
                            int64_t inner, bool log_) {
    const int64_t lanes = outer * inner;
    #pragma omp parallel for if (lanes * n >= CG_OMP_MIN) schedule(static)
    for (int64_t l = 0; l < lanes; l++) {
        int64_t o = l / inner, j = l % inner;
        const float *px = x + o * n * inner + j;
        float *py = y + o * n * inner + j;
        float mx = -INFINITY;
        for (int64_t k = 0; k < n; k++) if (px[k * inner] > mx) mx = px[k * inner];
        if (mx == -INFINITY) mx = 0.0f;  /* all -inf: softmax gives NaN, as PyTorch */
        double s = 0;
        for (int64_t k = 0; k < n; k++) s += exp((double)(px[k * inner] - mx));
        if (log_) {
            float ls = (float)log(s);
            for (int64_t k = 0; k < n; k++) py[k * inner] = px[k * inner] - mx - ls;
        } else {
            float inv = (float)(1.0 / s);
            for (int64_t k = 0; k < n; k++) py[k * inner] = expf(px[k * inner] - mx) * inv;
        }
    }
}

/* dx[outer, n, inner] += softmax / log_softmax backward from y and dy */
static void softmax_backward_kernel(float *restrict dx, const float *restrict dy, const float *restrict y,
                                    int64_t outer, int64_t n, int64_t inner, bool log_) {
    const int64_t lanes = outer * inner;
    #pragma omp parallel for if (lanes * n >= CG_OMP_MIN) schedule(static)
    for (int64_t l = 0; l < lanes; l++) {
        int64_t base = (l / inner) * n * inner + l % inner;
        const float *py = y + base, *pd = dy + base;
        float *px = dx + base;
        double s = 0;
        if (log_) {
            for (int64_t k = 0; k < n; k++) s += pd[k * inner];
            for (int64_t k = 0; k < n; k++) px[k * inner] += pd[k * inner] - expf(py[k * inner]) * (float)s;
        } else {
            for (int64_t k = 0; k < n; k++) s += (double)pd[k * inner] * py[k * inner];
            for (int64_t k = 0; k < n; k++) px[k * inner] += py[k * inner] * (pd[k * inner] - (float)s);
        }
    }
}

typedef struct softmax_params { int64_t outer, n, inner; bool log_; } softmax_params;  /* on the node */

static cg_status softmax_backward(cg_node *nd) {
    float *dx = cg_grad_data(nd->in[0]);
    if (!dx) return CG_ENOMEM;
    softmax_params p;
    CG_GET_PARAMS(nd, &p);
    softmax_backward_kernel(dx, cg_out_grad(nd), nd->out->data, p.outer, p.n, p.inner, p.log_);
    return CG_OK;
}

static const cg_op_def op_softmax = { "softmax", softmax_backward };
static const cg_op_def op_log_softmax = { "log_softmax", softmax_backward };

static cg_tensor *softmax(const cg_op_def *op, cg_tensor *x, int dim, bool log_) {
    if (!x) return NULL;
    CG_REQUIRE_F32(op->name, "input", x);
    double t0 = cg_profile_begin();
    int d = cg_norm_dim(op->name, dim, x->ndim);
    if (d < 0) return NULL;
    int64_t outer = 1, n = x->ndim ? x->shape[d] : 1, inner = 1;
    for (int i = 0; i < d; i++) outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++) inner *= x->shape[i];
    cg_tensor *y = cg_tape_tensor(x->ndim, x->shape);
    if (!y) return NULL;
    softmax_forward(y->data, x->data, outer, n, inner, log_);
    cg_node *nd = cg_record(op, y, 1, &x);
    if (!nd) return NULL;
    CG_SET_PARAMS(nd, &(softmax_params){ .outer = outer, .n = n, .inner = inner, .log_ = log_ });
    cg_profile_end(op->name, 0, t0);
    return y;
}

cg_tensor *cg_softmax(cg_tensor *x, int dim) { return softmax(&op_softmax, x, dim, false); }
cg_tensor *cg_log_softmax(cg_tensor *x, int dim) { return softmax(&op_log_softmax, x, dim, true); }
