/* SPDX-License-Identifier: MIT */
/* lib/ops/view.c — reshape, flatten, unsqueeze and squeeze: views that share x's data (no copy).
 * Shape rule: reshape keeps numel, with at most one -1 inferred; flatten(start, end) merges
 * dims start..end (negative dims count from the end) into one; unsqueeze(dim) inserts a dim of
 * size 1 at dim (in -ndim-1..ndim); squeeze(dim) removes dim if its size is 1 (else leaves the
 * shape, as PyTorch), squeeze_all every size-1 dim.
 * Backward: dx[n] += dy[n] (same elements, another shape). */
#include "cg_internal.h"

/* dx[n] += dy[n] */
static cg_status view_backward(cg_node *n) {
    bool fresh;
    float *dx = cg_grad_data_fresh(n->in[0], &fresh);
    if (!dx) return CG_ENOMEM;
    const float *dy = cg_out_grad(n);
    int64_t numel = n->out->numel;
    if (fresh) { memcpy(dx, dy, (size_t)numel * sizeof(float)); return CG_OK; }
    #pragma omp parallel for simd if (parallel: numel >= CG_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < numel; i++) dx[i] += dy[i];
    return CG_OK;
}

static const cg_op_def op_reshape = { "reshape", view_backward };
static const cg_op_def op_flatten = { "flatten", view_backward };
static const cg_op_def op_unsqueeze = { "unsqueeze", view_backward };
static const cg_op_def op_squeeze = { "squeeze", view_backward };

static cg_tensor *view(const cg_op_def *op, cg_tensor *x, int ndim, const int64_t *shape) {
    cg_tensor *y = cg_tape_view(x, ndim, shape);
    if (!y) return NULL;
    cg_node *n = cg_record(op, y, 1, &x);
    if (!n) return NULL;
    return y;
}

cg_tensor *cg_reshape(cg_tensor *x, int ndim, const int64_t *shape) {
    if (!x) return NULL;
    double t0 = cg_profile_begin();
    if (ndim < 0 || ndim > CG_MAX_DIMS)
        return CG_FAIL(CG_ESHAPE, "reshape: ndim %d is outside 0..%d", ndim, CG_MAX_DIMS);
    if (ndim > 0 && !shape) return CG_FAIL(CG_EINVAL, "reshape: shape is NULL");
    int64_t s[CG_MAX_DIMS], known = 1, nonzero = 1;
    int infer = -1;
    char b1[96], b2[96];
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0) return CG_FAIL(CG_ESHAPE, "reshape: only one dim may be -1 (dims %d and %d are)", infer, i);
            infer = i;
        } else if (shape[i] < 0) {
            return CG_FAIL(CG_ESHAPE, "reshape: dim %d has invalid size %lld", i, (long long)shape[i]);
        } else if (__builtin_mul_overflow(nonzero, shape[i] ? shape[i] : 1, &nonzero)) {
            /* every product of the sizes, a zero one counted as 1 (cg_check_shape's rule) */
            return CG_FAIL(CG_ESHAPE, "reshape: shape %s has too many elements",
                           cg_shape_str(b1, sizeof b1, ndim, shape));
        } else {
            known *= shape[i];   /* at most nonzero in size */
        }
    }
    if (infer >= 0) {
        if (known == 0 || x->numel % known != 0)
            return CG_FAIL(CG_ESHAPE, "reshape: cannot infer the -1 in %s for %lld elements (input %s)",
                           cg_shape_str(b1, sizeof b1, ndim, shape), (long long)x->numel,
                           cg_shape_str(b2, sizeof b2, x->ndim, x->shape));
        s[infer] = x->numel / known;
    } else if (known != x->numel) {
        return CG_FAIL(CG_ESHAPE, "reshape: input %s has %lld elements, shape %s has %lld",
                       cg_shape_str(b1, sizeof b1, x->ndim, x->shape), (long long)x->numel,
                       cg_shape_str(b2, sizeof b2, ndim, shape), (long long)known);
    }
    cg_tensor *y = view(&op_reshape, x, ndim, s);
    if (y) cg_profile_end("reshape", 0, t0);
    return y;
}

cg_tensor *cg_flatten(cg_tensor *x, int start_dim, int end_dim) {
    if (!x) return NULL;
    double t0 = cg_profile_begin();
    if (x->ndim == 0) {  /* as PyTorch: a 0-d tensor flattens to [1]; dims 0 and -1 name it */
        int s = cg_norm_dim("flatten", start_dim, 1), e = s < 0 ? -1 : cg_norm_dim("flatten", end_dim, 1);
        if (s < 0 || e < 0) return NULL;
        cg_tensor *y = view(&op_flatten, x, 1, (int64_t[]){ 1 });
        if (y) cg_profile_end("flatten", 0, t0);
        return y;
    }
    int s = cg_norm_dim("flatten", start_dim, x->ndim);
    if (s < 0) return NULL;
    int e = cg_norm_dim("flatten", end_dim, x->ndim);
    if (e < 0) return NULL;
    if (s > e)
        return CG_FAIL(CG_EINVAL, "flatten: start_dim %d comes after end_dim %d", start_dim, end_dim);
    int64_t shape[CG_MAX_DIMS], merged = 1;
    int nd = 0;
    for (int i = 0; i < s; i++) shape[nd++] = x->shape[i];
    for (int i = s; i <= e; i++) merged *= x->shape[i];
    shape[nd++] = merged;
    for (int i = e + 1; i < x->ndim; i++) shape[nd++] = x->shape[i];
    cg_tensor *y = view(&op_flatten, x, nd, shape);
    if (y) cg_profile_end("flatten", 0, t0);
    return y;
}

cg_tensor *cg_unsqueeze(cg_tensor *x, int dim) {
    if (!x) return NULL;
    if (x->ndim >= CG_MAX_DIMS) return CG_FAIL(CG_ESHAPE, "unsqueeze: the input has %d dims already", x->ndim);
    int d = cg_norm_dim("unsqueeze", dim, x->ndim + 1);
    if (d < 0) return NULL;
    int64_t s[CG_MAX_DIMS];
    for (int i = 0, j = 0; i <= x->ndim; i++) s[i] = i == d ? 1 : x->shape[j++];
    return view(&op_unsqueeze, x, x->ndim + 1, s);
}

cg_tensor *cg_squeeze(cg_tensor *x, int dim) {
    if (!x) return NULL;
    int d = cg_norm_dim("squeeze", dim, x->ndim);
    if (d < 0) return NULL;
    int64_t s[CG_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != d || x->shape[i] != 1) s[n++] = x->shape[i];
    return view(&op_squeeze, x, n, s);
}

cg_tensor *cg_squeeze_all(cg_tensor *x) {
    if (!x) return NULL;
    int64_t s[CG_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < x->ndim; i++)
        if (x->shape[i] != 1) s[n++] = x->shape[i];
    return view(&op_squeeze, x, n, s);
}
