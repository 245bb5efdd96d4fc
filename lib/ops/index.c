/* SPDX-License-Identifier: MIT */
/* lib/ops/index.c — slice (start, end, step), narrow, index_select and gather along a dim.
 * Shape rules: slice keeps ceil((end - start) / step) entries of dim, with PyTorch's clamping of
 * start and end (negative ones count from the end; step >= 1); narrow(start, length) must fit;
 * index_select takes an int64 1-d index of n entries in 0..size-1 (the dim becomes n); gather's
 * int64 index has x's ndim, each of its sizes at most x's but at dim, and values in
 * 0..size(dim)-1 (out has index's shape). x is float32.
 * Backward: dx gets dy scattered back, repeated indices adding up (serially: no races). */
#include "cg_internal.h"

typedef struct pick_params { int64_t outer, inner, xsize, ysize; } pick_params; /* aux: ysize source rows */

/* y[o, j, i] = x[o, src[j], i]; backward: dx[o, src[j], i] += dy[o, j, i]. */
static cg_status pick_backward(cg_node *n) {
    pick_params p;
    CG_GET_PARAMS(n, &p);
    float *dx = cg_grad_data(n->in[0]);
    if (!dx) return CG_ENOMEM;
    const float *dy = cg_out_grad(n);
    const int64_t *src = n->aux;
    for (int64_t o = 0; o < p.outer; o++)
        for (int64_t j = 0; j < p.ysize; j++) {
            float *d = dx + (o * p.xsize + src[j]) * p.inner;
            const float *g = dy + (o * p.ysize + j) * p.inner;
            for (int64_t i = 0; i < p.inner; i++) d[i] += g[i];
        }
    return CG_OK;
}

static const cg_op_def op_slice = { "slice", pick_backward };
static const cg_op_def op_index_select = { "index_select", pick_backward };

/* y = rows src[0..m) of x along d. src is copied to the tape. */
static cg_tensor *pick(const cg_op_def *op, cg_tensor *x, int d, const int64_t *src, int64_t m) {
    CG_REQUIRE_F32(op->name, "input", x);
    double t0 = cg_profile_begin();
    pick_params p = { .outer = 1, .inner = 1, .xsize = x->shape[d], .ysize = m };
    for (int i = 0; i < d; i++) p.outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++) p.inner *= x->shape[i];
    int64_t shape[CG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = i == d ? m : x->shape[i];
    cg_tensor *y = cg_tape_tensor(x->ndim, shape);
    int64_t *keep = cg_tape_scratch((size_t)(m ? m : 1) * sizeof *keep);
    if (!y || !keep) return NULL;
    if (m) memcpy(keep, src, (size_t)m * sizeof *keep);
    #pragma omp parallel for if (y->numel >= CG_OMP_MIN) schedule(static)
    for (int64_t o = 0; o < p.outer; o++)
        for (int64_t j = 0; j < m; j++)
            memcpy(y->data + (o * m + j) * p.inner, x->data + (o * p.xsize + keep[j]) * p.inner,
                   (size_t)p.inner * sizeof(float));
    cg_node *n = cg_record(op, y, 1, &x);
    if (!n) return NULL;
    CG_SET_PARAMS(n, &p);
    n->aux = keep;
    cg_profile_end(op->name, 0, t0);
    return y;
}

cg_tensor *cg_slice(cg_tensor *x, int dim, int64_t start, int64_t end, int64_t step) {
    if (!x) return NULL;
    if (x->ndim == 0) return CG_FAIL(CG_ESHAPE, "slice: a 0-d tensor has no dim to slice");
    int d = cg_norm_dim("slice", dim, x->ndim);
    if (d < 0) return NULL;
    if (step < 1) return CG_FAIL(CG_EINVAL, "slice: step %lld must be >= 1", (long long)step);
    const int64_t size = x->shape[d];
    if (start < 0) start += size;
    if (end < 0) end += size;
    start = start < 0 ? 0 : (start > size ? size : start);
    end = end < start ? start : (end > size ? size : end);
    const int64_t m = end > start ? 1 + (end - start - 1) / step : 0;   /* ceil, without end - start + step */
    int64_t *src = cg_tape_scratch((size_t)(m ? m : 1) * sizeof *src);
    if (!src) return NULL;
    for (int64_t j = 0; j < m; j++) src[j] = start + j * step;
    return pick(&op_slice, x, d, src, m);
}

cg_tensor *cg_narrow(cg_tensor *x, int dim, int64_t start, int64_t length) {
    if (!x) return NULL;
    if (x->ndim == 0) return CG_FAIL(CG_ESHAPE, "narrow: a 0-d tensor has no dim to narrow");
    int d = cg_norm_dim("narrow", dim, x->ndim);
    if (d < 0) return NULL;
    const int64_t size = x->shape[d];
    if (start < 0) start += size;
    if (start < 0 || length < 0 || start > size || length > size - start)
        return CG_FAIL(CG_ESHAPE, "narrow: start %lld and length %lld do not fit dim %d of size %lld", (long long)start,
                       (long long)length, d, (long long)size);
    return cg_slice(x, d, start, start + length, 1);
}

/* A NULL index: NULL, passing on the error that made it, else naming it. */
static cg_tensor *null_index(const char *op) {
    return cg_last_error()[0] ? NULL : CG_FAIL(CG_EINVAL, "%s: index is NULL", op);
}

cg_tensor *cg_index_select(cg_tensor *x, int dim, const cg_tensor *index) {
    if (!x) return NULL;
    if (!index) return null_index("index_select");
    CG_REQUIRE_F32("index_select", "input", x);
    if (cg_check_dtype("index_select", "index", index, CG_I64) != CG_OK) return NULL;
    if (x->ndim == 0) return CG_FAIL(CG_ESHAPE, "index_select: a 0-d tensor has no dim to index");
    int d = cg_norm_dim("index_select", dim, x->ndim);
    if (d < 0) return NULL;
    char s1[96];
    if (index->ndim != 1)
        return CG_FAIL(CG_ESHAPE, "index_select: index must be 1-d, got %s",
                       cg_shape_str(s1, sizeof s1, index->ndim, index->shape));
    const int64_t n = index->numel, *iv = cg_i64(index);
    for (int64_t j = 0; j < n; j++)
        if (iv[j] < 0 || iv[j] >= x->shape[d])
            return CG_FAIL(CG_EINVAL, "index_select: index[%lld] = %lld is outside 0..%lld (dim %d)", (long long)j,
                           (long long)iv[j], (long long)x->shape[d] - 1, d);
    return pick(&op_index_select, x, d, iv, n);
}

/* ---- gather ---- */
typedef struct gather_params { int ndim, dim; int64_t xshape[CG_MAX_DIMS]; } gather_params; /* aux: the index */

/* The x offset of out element i (index's shape = out's). */
static inline int64_t gather_offset(const gather_params *p, const int64_t *oshape, const int64_t *idx, int64_t i) {
    int64_t rem = i, off = 0, stride = 1;
    for (int d = p->ndim - 1; d >= 0; d--) {
        int64_t c = rem % oshape[d];
        rem /= oshape[d];
        off += (d == p->dim ? idx[i] : c) * stride;
        stride *= p->xshape[d];
    }
    return off;
}

static cg_status gather_backward(cg_node *n) {
    gather_params p;
    CG_GET_PARAMS(n, &p);
    float *dx = cg_grad_data(n->in[0]);
    if (!dx) return CG_ENOMEM;
    const float *dy = cg_out_grad(n);
    for (int64_t i = 0; i < n->out->numel; i++) dx[gather_offset(&p, n->out->shape, n->aux, i)] += dy[i];
    return CG_OK;
}

static const cg_op_def op_gather = { "gather", gather_backward };

cg_tensor *cg_gather(cg_tensor *x, int dim, const cg_tensor *index_t) {
    if (!x) return NULL;
    if (!index_t) return null_index("gather");
    CG_REQUIRE_F32("gather", "input", x);
    if (cg_check_dtype("gather", "index", index_t, CG_I64) != CG_OK) return NULL;
    const int ndim = index_t->ndim;
    const int64_t *shape = index_t->shape, *index = cg_i64(index_t);
    char s1[96], s2[96];
    if (x->ndim == 0 || ndim != x->ndim)
        return CG_FAIL(CG_ESHAPE, "gather: the index has %d dims, the input %s %d (they must agree, >= 1)", ndim,
                       cg_shape_str(s1, sizeof s1, x->ndim, x->shape), x->ndim);
    int d = cg_norm_dim("gather", dim, x->ndim);
    if (d < 0) return NULL;
    gather_params p = { .ndim = x->ndim, .dim = d };
    int64_t m = 1;
    for (int i = 0; i < x->ndim; i++) {
        p.xshape[i] = x->shape[i];
        if (shape[i] < 0 || (i != d && shape[i] > x->shape[i]))
            return CG_FAIL(CG_ESHAPE, "gather: index %s does not fit input %s (each size at most the input's but at dim %d)",
                           cg_shape_str(s1, sizeof s1, ndim, shape), cg_shape_str(s2, sizeof s2, x->ndim, x->shape), d);
        m *= shape[i];
    }
    for (int64_t i = 0; i < m; i++)
        if (index[i] < 0 || index[i] >= x->shape[d])
            return CG_FAIL(CG_EINVAL, "gather: index[%lld] = %lld is outside 0..%lld (dim %d)", (long long)i,
                           (long long)index[i], (long long)x->shape[d] - 1, d);
    double t0 = cg_profile_begin();
    cg_tensor *y = cg_tape_tensor(ndim, shape);
    int64_t *keep = cg_tape_scratch((size_t)(m ? m : 1) * sizeof *keep);
    if (!y || !keep) return NULL;
    if (m) memcpy(keep, index, (size_t)m * sizeof *keep);
    #pragma omp parallel for if (m >= CG_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < m; i++) y->data[i] = x->data[gather_offset(&p, shape, keep, i)];
    cg_node *n = cg_record(&op_gather, y, 1, &x);
    if (!n) return NULL;
    CG_SET_PARAMS(n, &p);
    n->aux = keep;
    cg_profile_end("gather", 0, t0);
    return y;
}
