/* SPDX-License-Identifier: MIT */
/* lib/ops/cat.c — cat and stack along a dim.
 * Shape rule (cat): every input has the same ndim and the same sizes but at dim; the output's
 * dim is their sum. stack(dim) unsqueezes each input at dim (all the same shape) and cats.
 * Backward: each input gets its slice of dy. A node holds at most CG_MAX_INPUTS inputs: longer
 * lists are joined in runs of that many (cat is associative along a dim). */
#include "cg_internal.h"

typedef struct cat_params { int n; int64_t outer, inner, size[CG_MAX_INPUTS]; } cat_params; /* on the node */

static cg_status cat_backward(cg_node *nd) {
    cat_params p;
    CG_GET_PARAMS(nd, &p);
    const float *dy = cg_out_grad(nd);
    int64_t total = 0;
    for (int k = 0; k < p.n; k++) total += p.size[k];
    int64_t off = 0;
    for (int k = 0; k < p.n; off += p.size[k], k++) {
        if (!cg_requires_grad(nd->in[k])) continue;
        float *dx = cg_grad_data(nd->in[k]);
        if (!dx) return CG_ENOMEM;
        const int64_t w = p.size[k] * p.inner;
        for (int64_t o = 0; o < p.outer; o++) {
            const float *src = dy + (o * total + off) * p.inner;
            for (int64_t j = 0; j < w; j++) dx[o * w + j] += src[j];
        }
    }
    return CG_OK;
}

static const cg_op_def op_cat = { "cat", cat_backward };

/* One node over n <= CG_MAX_INPUTS inputs. */
static cg_tensor *cat_few(cg_tensor *const *xs, int n, int d) {
    const cg_tensor *a = xs[0];
    char s1[96], s2[96];
    cat_params p = { .n = n, .outer = 1, .inner = 1 };
    for (int i = 0; i < d; i++) p.outer *= a->shape[i];
    for (int i = d + 1; i < a->ndim; i++) p.inner *= a->shape[i];
    int64_t total = 0;
    for (int k = 0; k < n; k++) {
        const cg_tensor *b = xs[k];
        bool ok = b->ndim == a->ndim;
        for (int i = 0; ok && i < a->ndim; i++) ok = i == d || b->shape[i] == a->shape[i];
        if (!ok)
            return CG_FAIL(CG_ESHAPE, "cat: input %d %s does not fit input 0 %s along dim %d (all other sizes must agree)",
                           k, cg_shape_str(s1, sizeof s1, b->ndim, b->shape), cg_shape_str(s2, sizeof s2, a->ndim, a->shape), d);
        p.size[k] = b->shape[d];
        if (__builtin_add_overflow(total, b->shape[d], &total))   /* the result's shape check bounds the rest */
            return CG_FAIL(CG_ESHAPE, "cat: the sizes along dim %d add up past int64 (input %d %s)", d, k,
                           cg_shape_str(s1, sizeof s1, b->ndim, b->shape));
    }
    int64_t shape[CG_MAX_DIMS];
    for (int i = 0; i < a->ndim; i++) shape[i] = i == d ? total : a->shape[i];
    cg_tensor *y = cg_tape_tensor(a->ndim, shape);
    if (!y) return NULL;
    int64_t off = 0;
    for (int k = 0; k < n; off += p.size[k], k++) {
        const int64_t w = p.size[k] * p.inner;
        for (int64_t o = 0; o < p.outer; o++)
            memcpy(y->data + (o * total + off) * p.inner, xs[k]->data + o * w, (size_t)w * sizeof(float));
    }
    cg_node *nd = cg_record(&op_cat, y, n, xs);
    if (!nd) return NULL;
    CG_SET_PARAMS(nd, &p);
    return y;
}

cg_tensor *cg_cat(cg_tensor *const *xs, int n, int dim) {
    if (!xs || n < 1) return CG_FAIL(CG_EINVAL, "cat: no inputs");
    for (int k = 0; k < n; k++) if (!xs[k]) return NULL;
    for (int k = 0; k < n; k++)
        if (xs[k]->dtype != CG_F32)
            return CG_FAIL(CG_EINVAL, "cat: xs[%d] is %s, expected float32", k, cg_dtype_name(xs[k]->dtype));
    if (xs[0]->ndim == 0) return CG_FAIL(CG_ESHAPE, "cat: 0-d tensors cannot be concatenated (stack them)");
    int d = cg_norm_dim("cat", dim, xs[0]->ndim);
    if (d < 0) return NULL;
    double t0 = cg_profile_begin();
    cg_tensor *acc = NULL;
    for (int k = 0; k < n;) {
        cg_tensor *run[CG_MAX_INPUTS];
        int m = 0;
        if (acc) run[m++] = acc;
        while (m < CG_MAX_INPUTS && k < n) run[m++] = xs[k++];
        acc = cat_few(run, m, d);
        if (!acc) return NULL;
    }
    cg_profile_end("cat", 0, t0);
    return acc;
}

cg_tensor *cg_stack(cg_tensor *const *xs, int n, int dim) {
    if (!xs || n < 1) return CG_FAIL(CG_EINVAL, "stack: no inputs");
    for (int k = 0; k < n; k++) {
        if (!xs[k]) return NULL;
        if (xs[k]->dtype != CG_F32)
            return CG_FAIL(CG_EINVAL, "stack: xs[%d] is %s, expected float32", k, cg_dtype_name(xs[k]->dtype));
        if (!cg_tensor_same_shape(xs[k], xs[0])) {
            char s1[96], s2[96];
            return CG_FAIL(CG_ESHAPE, "stack: input %d %s differs from input 0 %s (stack needs one shape)", k,
                           cg_shape_str(s1, sizeof s1, xs[k]->ndim, xs[k]->shape),
                           cg_shape_str(s2, sizeof s2, xs[0]->ndim, xs[0]->shape));
        }
    }
    int d = cg_norm_dim("stack", dim, xs[0]->ndim + 1);
    if (d < 0) return NULL;
    cg_tensor **u = cg_tape_scratch((size_t)n * sizeof *u);
    if (!u) return NULL;
    for (int k = 0; k < n; k++) if (!(u[k] = cg_unsqueeze(xs[k], d))) return NULL;
    return cg_cat(u, n, d);
}
