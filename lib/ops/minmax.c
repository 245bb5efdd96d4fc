/* SPDX-License-Identifier: MIT */
/* lib/ops/minmax.c — max and min along a dim (values and indices), argmax and argmin, and
 * logsumexp, as PyTorch's.
 * Shape rule: dim is removed (kept as size 1 with keepdim). NaN wins (PyTorch propagates it and
 * points its index at the NaN); among equal values the first index wins.
 * Backward: max/min send dy to the chosen element; logsumexp sends dy * exp(x - y). */
#include <math.h>
#include "cg_internal.h"

typedef struct red_geom { int64_t outer, n, inner; } red_geom; /* on the node; aux: the indices */

static cg_status red_geom_make(const char *op, const cg_tensor *x, int dim, bool keepdim, red_geom *g, int *ndim,
                               int64_t *shape) {
    if (cg_check_dtype(op, "input", x, CG_F32) != CG_OK) return CG_EINVAL;
    if (x->ndim == 0) return cg_error(CG_ESHAPE, "%s: a 0-d tensor has no dim to reduce", op);
    int d = cg_norm_dim(op, dim, x->ndim);
    if (d < 0) return CG_EINVAL;
    if (x->shape[d] == 0) return cg_error(CG_ESHAPE, "%s: dim %d is empty", op, d);
    *g = (red_geom){ 1, x->shape[d], 1 };
    for (int i = 0; i < d; i++) g->outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++) g->inner *= x->shape[i];
    *ndim = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != d) shape[(*ndim)++] = x->shape[i];
        else if (keepdim) shape[(*ndim)++] = 1;
    return CG_OK;
}

/* idx[o, i] = the position of the max (min: want_max false) along the dim, NaN first. */
static void arg_kernel(const float *x, const red_geom *g, bool want_max, int64_t *idx) {
    #pragma omp parallel for if (g->outer * g->n * g->inner >= CG_OMP_MIN) schedule(static)
    for (int64_t o = 0; o < g->outer; o++)
        for (int64_t i = 0; i < g->inner; i++) {
            const float *p = x + o * g->n * g->inner + i;
            int64_t best = 0;
            float bv = p[0];
            for (int64_t j = 1; j < g->n && !isnan(bv); j++) {
                float v = p[j * g->inner];
                if (isnan(v) || (want_max ? v > bv : v < bv)) { bv = v; best = j; }
            }
            idx[o * g->inner + i] = best;
        }
}

static cg_status pick_backward(cg_node *n) {
    red_geom g;
    CG_GET_PARAMS(n, &g);
    float *dx = cg_grad_data(n->in[0]);
    if (!dx) return CG_ENOMEM;
    const float *dy = cg_out_grad(n);
    const int64_t *idx = n->aux;
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t i = 0; i < g.inner; i++)
            dx[(o * g.n + idx[o * g.inner + i]) * g.inner + i] += dy[o * g.inner + i];
    return CG_OK;
}

static const cg_op_def op_max = { "max_dim", pick_backward }, op_min = { "min_dim", pick_backward };

static cg_tensor *minmax(bool want_max, cg_tensor *x, int dim, bool keepdim, cg_tensor **indices) {
    if (indices) *indices = NULL;
    if (!x) return NULL;
    const cg_op_def *op = want_max ? &op_max : &op_min;
    double t0 = cg_profile_begin();
    red_geom g;
    int nd = 0;
    int64_t shape[CG_MAX_DIMS];
    if (red_geom_make(op->name, x, dim, keepdim, &g, &nd, shape) != CG_OK) return NULL;
    cg_tensor *y = cg_tape_tensor(nd, shape);
    const int64_t m = g.outer * g.inner;
    int64_t *idx = cg_tape_scratch((size_t)(m > 0 ? m : 1) * sizeof *idx);
    if (!y || !idx) return NULL;
    cg_tensor *it = NULL;
    if (indices && !(it = cg_tape_tensor_dtype(CG_I64, nd, shape, false))) return NULL;
    arg_kernel(x->data, &g, want_max, idx);
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t i = 0; i < g.inner; i++)
            y->data[o * g.inner + i] = x->data[(o * g.n + idx[o * g.inner + i]) * g.inner + i];
    /* The caller's copy apart from the node's: changing it cannot move the gradient. */
    if (it && m) memcpy(cg_i64(it), idx, (size_t)m * sizeof *idx);
    cg_node *n = cg_record(op, y, 1, &x);
    if (!n) return NULL;
    CG_SET_PARAMS(n, &g);
    n->aux = idx;
    if (indices) *indices = it;
    cg_profile_end(op->name, 0, t0);
    return y;
}

cg_tensor *cg_max_dim(cg_tensor *x, int dim, bool keepdim, cg_tensor **indices) { return minmax(true, x, dim, keepdim, indices); }
cg_tensor *cg_min_dim(cg_tensor *x, int dim, bool keepdim, cg_tensor **indices) { return minmax(false, x, dim, keepdim, indices); }

static cg_tensor *arg(bool want_max, const cg_tensor *x, int dim, bool keepdim) {
    if (!x) return NULL;
    const char *name = want_max ? "argmax" : "argmin";
    red_geom g;
    int nd = 0;
    int64_t shape[CG_MAX_DIMS];
    if (red_geom_make(name, x, dim, keepdim, &g, &nd, shape) != CG_OK) return NULL;
    cg_tensor *y = cg_tape_tensor_dtype(CG_I64, nd, shape, false);
    if (!y) return NULL;
    arg_kernel(x->data, &g, want_max, cg_i64(y));
    return y;
}
cg_tensor *cg_argmax(const cg_tensor *x, int dim, bool keepdim) { return arg(true, x, dim, keepdim); }
cg_tensor *cg_argmin(const cg_tensor *x, int dim, bool keepdim) { return arg(false, x, dim, keepdim); }

/* ---- logsumexp ---- */
static cg_status lse_backward(cg_node *n) {
    red_geom g;
    CG_GET_PARAMS(n, &g);
    float *dx = cg_grad_data(n->in[0]);
    if (!dx) return CG_ENOMEM;
    const float *dy = cg_out_grad(n), *x = n->in[0]->data, *y = n->out->data;
    #pragma omp parallel for if (g.outer * g.n * g.inner >= CG_OMP_MIN) schedule(static)
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t j = 0; j < g.n; j++)
            for (int64_t i = 0; i < g.inner; i++) {
                int64_t k = o * g.inner + i, e = (o * g.n + j) * g.inner + i;
                dx[e] += dy[k] * expf(x[e] - y[k]);
            }
    return CG_OK;
}

static const cg_op_def op_lse = { "logsumexp", lse_backward };

cg_tensor *cg_logsumexp(cg_tensor *x, int dim, bool keepdim) {
    if (!x) return NULL;
    double t0 = cg_profile_begin();
    red_geom g;
    int nd = 0;
    int64_t shape[CG_MAX_DIMS];
    if (red_geom_make("logsumexp", x, dim, keepdim, &g, &nd, shape) != CG_OK) return NULL;
    cg_tensor *y = cg_tape_tensor(nd, shape);
    if (!y) return NULL;
    #pragma omp parallel for if (g.outer * g.n * g.inner >= CG_OMP_MIN) schedule(static)
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t i = 0; i < g.inner; i++) {
            const float *p = x->data + o * g.n * g.inner + i;
            float m = p[0];
            for (int64_t j = 1; j < g.n; j++) m = p[j * g.inner] > m ? p[j * g.inner] : m;
            double s = 0;
            if (isinf(m)) { y->data[o * g.inner + i] = m; continue; } /* all -inf, or an inf: PyTorch's value */
            for (int64_t j = 0; j < g.n; j++) s += exp((double)p[j * g.inner] - m);
            y->data[o * g.inner + i] = (float)(m + log(s));
        }
    cg_node *n = cg_record(&op_lse, y, 1, &x);
    if (!n) return NULL;
    CG_SET_PARAMS(n, &g);
    cg_profile_end("logsumexp", 0, t0);
    return y;
}
