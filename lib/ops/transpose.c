/* SPDX-License-Identifier: MIT */
/* lib/ops/transpose.c — swap two dims of an N-d tensor into a contiguous copy.
 * Shape rule: y's shape is x's with dims d0 and d1 swapped (negative dims count from the end).
 * With d0 < d1, x is seen as [outer, A, mid, B, inner] and y as [outer, B, mid, A, inner].
 * Backward: dx += dyᵀ, the same permutation the other way. */
#include "cg_internal.h"

/* dst[outer, B, mid, A, inner] (+)= src[outer, A, mid, B, inner].
 * Each (o, b) row block of dst belongs to one thread: no races. */
static void permute_kernel(float *restrict dst, const float *restrict src, int64_t outer, int64_t A,
                           int64_t mid, int64_t B, int64_t inner, bool accumulate) {
    int64_t total = outer * A * mid * B * inner;
    #pragma omp parallel for collapse(2) if (total >= CG_OMP_MIN) schedule(static)
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t b = 0; b < B; b++) {
            for (int64_t m = 0; m < mid; m++) {
                for (int64_t a = 0; a < A; a++) {
                    float *d = dst + (((o * B + b) * mid + m) * A + a) * inner;
                    const float *s = src + (((o * A + a) * mid + m) * B + b) * inner;
                    if (accumulate) for (int64_t i = 0; i < inner; i++) d[i] += s[i];
                    else for (int64_t i = 0; i < inner; i++) d[i] = s[i];
                }
            }
        }
    }
}

typedef struct permute_params { int64_t outer, a, mid, b, inner; } permute_params;  /* on the node */

static cg_status transpose_backward(cg_node *n) {
    float *dx = cg_grad_data(n->in[0]);
    if (!dx) return CG_ENOMEM;
    /* dx[outer, A, mid, B, inner] += dy[outer, B, mid, A, inner] */
    permute_params p;
    CG_GET_PARAMS(n, &p);
    permute_kernel(dx, cg_out_grad(n), p.outer, p.b, p.mid, p.a, p.inner, true);
    return CG_OK;
}

static const cg_op_def op_transpose = { "transpose", transpose_backward };

cg_tensor *cg_transpose(cg_tensor *x, int dim0, int dim1) {
    if (!x) return NULL;
    CG_REQUIRE_F32("transpose", "input", x);
    double t0 = cg_profile_begin();
    int d0 = cg_norm_dim("transpose", dim0, x->ndim);
    if (d0 < 0) return NULL;
    int d1 = cg_norm_dim("transpose", dim1, x->ndim);
    if (d1 < 0) return NULL;
    if (d0 > d1) { int t = d0; d0 = d1; d1 = t; }
    int64_t shape[CG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    int64_t outer = 1, A = 1, mid = 1, B = 1, inner = 1;
    if (x->ndim > 0) {
        shape[d0] = x->shape[d1];
        shape[d1] = x->shape[d0];
        for (int i = 0; i < d0; i++) outer *= x->shape[i];
        A = x->shape[d0];
        for (int i = d0 + 1; i < d1; i++) mid *= x->shape[i];
        B = d1 > d0 ? x->shape[d1] : 1;
        for (int i = d1 + 1; i < x->ndim; i++) inner *= x->shape[i];
        if (d0 == d1) { inner *= A; A = 1; }  /* swapping a dim with itself: a plain copy */
    }
    cg_tensor *y = cg_tape_tensor(x->ndim, shape);
    if (!y) return NULL;
    permute_kernel(y->data, x->data, outer, A, mid, B, inner, false);
    cg_node *n = cg_record(&op_transpose, y, 1, &x);
    if (!n) return NULL;
    CG_SET_PARAMS(n, &(permute_params){ .outer = outer, .a = A, .mid = mid, .b = B, .inner = inner });
    cg_profile_end("transpose", 0, t0);
    return y;
}
