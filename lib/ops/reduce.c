/* SPDX-License-Identifier: MIT */
/* lib/ops/reduce.c — sum and mean, over everything or along one dim.
 * Shape rule: all -> [] (0-d, one element); along dim d of [outer, n, inner] -> [outer, inner]
 * (keepdim leaves a 1 at d). Backward broadcasts dy back, scaled by 1/n for mean. */
#include "cg_internal.h"

/* y[outer, inner] = scale * sum_k x[outer, k, inner] */
static void reduce_forward(float *restrict y, const float *restrict x, int64_t outer, int64_t n,
                           int64_t inner, float scale) {
    #pragma omp parallel for if (outer * n * inner >= CG_OMP_MIN) schedule(static)
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t j = 0; j < inner; j++) {
            double s = 0;  /* double accumulator: sums of 1e6 floats stay exact enough */
            const float *px = x + o * n * inner + j;
            for (int64_t k = 0; k < n; k++) s += px[k * inner];
            y[o * inner + j] = (float)(s * scale);
        }
    }
}

/* dx[outer, k, inner] += scale * dy[outer, inner] */
static void reduce_backward_kernel(float *restrict dx, const float *restrict dy, int64_t outer,
                                   int64_t n, int64_t inner, float scale) {
    #pragma omp parallel for if (outer * n * inner >= CG_OMP_MIN) schedule(static)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < n; k++)
            for (int64_t j = 0; j < inner; j++)
                dx[(o * n + k) * inner + j] += scale * dy[o * inner + j];
}

typedef struct reduce_params { int64_t outer, n, inner; float scale; } reduce_params;  /* on the node */

static cg_status reduce_backward(cg_node *n) {
    float *dx = cg_grad_data(n->in[0]);
    if (!dx) return CG_ENOMEM;
    reduce_params p;
    CG_GET_PARAMS(n, &p);
    reduce_backward_kernel(dx, cg_out_grad(n), p.outer, p.n, p.inner, p.scale);
    return CG_OK;
}

static const cg_op_def op_sum = { "sum", reduce_backward };
static const cg_op_def op_mean = { "mean", reduce_backward };

static cg_tensor *reduce(const cg_op_def *op, cg_tensor *x, bool all, int dim, bool keepdim, bool mean) {
    if (!x) return NULL;
    CG_REQUIRE_F32(op->name, "input", x);
    double t0 = cg_profile_begin();
    int64_t outer = 1, n = x->numel, inner = 1, shape[CG_MAX_DIMS];
    int nd = 0;
    if (!all) {
        int d = cg_norm_dim(op->name, dim, x->ndim);
        if (d < 0) return NULL;
        if (x->ndim == 0) { n = 1; }
        else {
            n = x->shape[d];
            for (int i = 0; i < d; i++) outer *= x->shape[i];
            for (int i = d + 1; i < x->ndim; i++) inner *= x->shape[i];
            for (int i = 0; i < x->ndim; i++) {
                if (i != d) shape[nd++] = x->shape[i];
                else if (keepdim) shape[nd++] = 1;
            }
        }
    }
    if (mean && n == 0) return CG_FAIL(CG_ESHAPE, "mean: reducing over an empty dim");
    float scale = mean ? 1.0f / (float)n : 1.0f;
    cg_tensor *y = cg_tape_tensor(nd, shape);
    if (!y) return NULL;
    reduce_forward(y->data, x->data, outer, n, inner, scale);
    cg_node *node = cg_record(op, y, 1, &x);
    if (!node) return NULL;
    CG_SET_PARAMS(node, &(reduce_params){ .outer = outer, .n = n, .inner = inner, .scale = scale });
    cg_profile_end(op->name, 0, t0);
    return y;
}

cg_tensor *cg_sum(cg_tensor *x) { return reduce(&op_sum, x, true, 0, false, false); }
cg_tensor *cg_mean(cg_tensor *x) { return reduce(&op_mean, x, true, 0, false, true); }
cg_tensor *cg_sum_dim(cg_tensor *x, int dim, bool keepdim) { return reduce(&op_sum, x, false, dim, keepdim, false); }
cg_tensor *cg_mean_dim(cg_tensor *x, int dim, bool keepdim) { return reduce(&op_mean, x, false, dim, keepdim, true); }
