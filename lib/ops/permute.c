/* SPDX-License-Identifier: MIT */
/* lib/ops/permute.c — permute: y's dim i is x's dim perm[i] (a copy, contiguous).
 * Shape rule: perm is a permutation of 0..ndim-1 (negative entries count from the end).
 * Backward: dx[x index] += dy[y index], the same walk the other way. */
#include "cg_internal.h"

typedef struct permute_op { int ndim; int64_t yshape[CG_MAX_DIMS], xstride[CG_MAX_DIMS]; } permute_op; /* on the node */

/* For every y element in order, the x offset: x strides taken in y's dim order. add: dx += dy. */
static void permute_walk(float *restrict a, const float *restrict b, const permute_op *p, int64_t n, bool to_x) {
    #pragma omp parallel for if (n >= CG_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, off = 0;
        for (int d = p->ndim - 1; d >= 0; d--) {
            off += (rem % p->yshape[d]) * p->xstride[d];
            rem /= p->yshape[d];
        }
        if (to_x) a[off] += b[i]; /* distinct offsets: no race */
        else a[i] = b[off];
    }
}

static cg_status permute_backward(cg_node *n) {
    permute_op p;
    CG_GET_PARAMS(n, &p);
    float *dx = cg_grad_data(n->in[0]);
    if (!dx) return CG_ENOMEM;
    permute_walk(dx, cg_out_grad(n), &p, n->out->numel, true);
    return CG_OK;
}

static const cg_op_def op_permute = { "permute", permute_backward };

cg_tensor *cg_permute(cg_tensor *x, const int *perm) {
    if (!x) return NULL;
    CG_REQUIRE_F32("permute", "input", x);
    if (!perm && x->ndim) return CG_FAIL(CG_EINVAL, "permute: perm is NULL");
    double t0 = cg_profile_begin();
    permute_op p = { .ndim = x->ndim };
    int64_t stride[CG_MAX_DIMS];
    bool seen[CG_MAX_DIMS] = { false };
    int64_t acc = 1;
    for (int i = x->ndim - 1; i >= 0; i--) { stride[i] = acc; acc *= x->shape[i]; }
    for (int i = 0; i < x->ndim; i++) {
        int d = perm[i] < 0 ? perm[i] + x->ndim : perm[i];
        if (d < 0 || d >= x->ndim || seen[d])
            return CG_FAIL(CG_EINVAL, "permute: entry %d (%d) is not a free dim of a %d-d tensor (each of 0..%d once)",
                           i, perm[i], x->ndim, x->ndim - 1);
        seen[d] = true;
        p.yshape[i] = x->shape[d];
        p.xstride[i] = stride[d];
    }
    cg_tensor *y = cg_tape_tensor(x->ndim, p.yshape);
    if (!y) return NULL;
    permute_walk(y->data, x->data, &p, y->numel, false);
    cg_node *n = cg_record(&op_permute, y, 1, &x);
    if (!n) return NULL;
    CG_SET_PARAMS(n, &p);
    cg_profile_end("permute", 0, t0);
    return y;
}
