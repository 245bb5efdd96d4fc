/* SPDX-License-Identifier: MIT */
/* lib/ops/embedding.c — embedding lookup and where.
 * embedding(weight [V, D] float32, indices [*] int64) -> [*, D]: row idx[i] of weight; each index
 * in 0..V-1. Backward: dweight[idx[i]] += dy[i] (repeats add up; serial). where(cond, a, b):
 * y = cond ? a : b elementwise over one shape (cond: uint8 of that shape, nonzero = true);
 * backward: da += dy where cond, db += dy elsewhere. */
#include "cg_internal.h"

typedef struct emb_params { int64_t n, d; } emb_params; /* on the node; aux: the indices */

static cg_status emb_backward(cg_node *nd) {
    emb_params p;
    CG_GET_PARAMS(nd, &p);
    float *dw = cg_grad_data(nd->in[0]);
    if (!dw) return CG_ENOMEM;
    const float *dy = cg_out_grad(nd);
    const int64_t *idx = nd->aux;
    for (int64_t i = 0; i < p.n; i++)
        for (int64_t j = 0; j < p.d; j++) dw[idx[i] * p.d + j] += dy[i * p.d + j];
    return CG_OK;
}

static const cg_op_def op_embedding = { "embedding", emb_backward };

/* The shape rule (see ops.h): indices of any shape S and weight [V, D] -> S + [D]. */
cg_status cg_embedding_out_shape(int ndim, const int64_t *idx_shape, const int64_t *w_shape, int64_t *out_shape) {
    char s[96];
    if ((ndim && !idx_shape) || !w_shape || !out_shape)
        return cg_error(CG_EINVAL, "embedding_out_shape: an argument is NULL");
    if (ndim < 0 || ndim >= CG_MAX_DIMS)
        return cg_error(CG_ESHAPE, "embedding: indices of %d dims give an output of more than %d", ndim, CG_MAX_DIMS);
    if (w_shape[0] < 0 || w_shape[1] < 0)
        return cg_error(CG_ESHAPE, "embedding: weight %s has a negative size", cg_shape_str(s, sizeof s, 2, w_shape));
    for (int i = 0; i < ndim; i++) out_shape[i] = idx_shape[i];
    out_shape[ndim] = w_shape[1];
    return cg_check_shape("embedding", ndim + 1, out_shape);
}

cg_tensor *cg_embedding(cg_tensor *weight, const cg_tensor *indices) {
    if (!weight || !indices) return NULL;
    CG_REQUIRE_F32("embedding", "weight", weight);
    if (cg_check_dtype("embedding", "indices", indices, CG_I64) != CG_OK) return NULL;
    char s1[96];
    if (weight->ndim != 2)
        return CG_FAIL(CG_ESHAPE, "embedding: weight must be [num_embeddings, dim], got %s",
                       cg_shape_str(s1, sizeof s1, weight->ndim, weight->shape));
    if (indices->ndim >= CG_MAX_DIMS)
        return CG_FAIL(CG_ESHAPE, "embedding: indices %s have %d dims; at most %d (the output adds one)",
                       cg_shape_str(s1, sizeof s1, indices->ndim, indices->shape), indices->ndim, CG_MAX_DIMS - 1);
    const int64_t n = indices->numel, V = weight->shape[0], D = weight->shape[1], *iv = cg_i64(indices);
    for (int64_t i = 0; i < n; i++)
        if (iv[i] < 0 || iv[i] >= V)
            return CG_FAIL(CG_EINVAL, "embedding: indices[%lld] = %lld is outside 0..%lld", (long long)i, (long long)iv[i],
                           (long long)V - 1);
    double t0 = cg_profile_begin();
    int64_t shape[CG_MAX_DIMS];
    if (cg_embedding_out_shape(indices->ndim, indices->shape, weight->shape, shape) != CG_OK) return NULL;
    cg_tensor *y = cg_tape_tensor(indices->ndim + 1, shape);
    int64_t *keep = cg_tape_scratch((size_t)(n ? n : 1) * sizeof *keep);
    if (!y || !keep) return NULL;
    if (n) memcpy(keep, iv, (size_t)n * sizeof *keep);
    for (int64_t i = 0; i < n; i++) memcpy(y->data + i * D, weight->data + keep[i] * D, (size_t)D * sizeof(float));
    cg_node *nd = cg_record(&op_embedding, y, 1, &weight);
    if (!nd) return NULL;
    CG_SET_PARAMS(nd, &(emb_params){ .n = n, .d = D });
    nd->aux = keep;
    cg_profile_end("embedding", 0, t0);
    return y;
}

/* ---- where ---- */
static cg_status where_backward(cg_node *nd) {
    const uint8_t *c = nd->aux;
    const float *dy = cg_out_grad(nd);
    const int64_t m = nd->out->numel;
    for (int side = 0; side < 2; side++) {
        if (!cg_requires_grad(nd->in[side])) continue;
        float *g = cg_grad_data(nd->in[side]);
        if (!g) return CG_ENOMEM;
        const uint8_t want = side == 0;
        #pragma omp parallel for simd if (parallel: m >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < m; i++) { float d = dy[i]; g[i] += (c[i] != 0) == want ? d : 0.0f; }
    }
    return CG_OK;
}

static const cg_op_def op_where = { "where", where_backward };

cg_tensor *cg_where(const cg_tensor *cond_t, cg_tensor *a, cg_tensor *b) {
    if (!cond_t || !a || !b) return NULL;
    if (cg_check_dtype("where", "cond", cond_t, CG_U8) != CG_OK) return NULL;
    CG_REQUIRE_F32("where", "a", a);
    CG_REQUIRE_F32("where", "b", b);
    char s1[96], s2[96];
    if (!cg_tensor_same_shape(a, b))
        return CG_FAIL(CG_ESHAPE, "where: a %s and b %s must have the same shape", cg_shape_str(s1, sizeof s1, a->ndim, a->shape),
                       cg_shape_str(s2, sizeof s2, b->ndim, b->shape));
    if (!cg_tensor_same_shape(cond_t, a))
        return CG_FAIL(CG_ESHAPE, "where: cond %s must have the shape of a and b %s",
                       cg_shape_str(s1, sizeof s1, cond_t->ndim, cond_t->shape), cg_shape_str(s2, sizeof s2, a->ndim, a->shape));
    const int64_t m = a->numel;
    const uint8_t *cond = cg_u8(cond_t);
    double t0 = cg_profile_begin();
    cg_tensor *y = cg_tape_tensor(a->ndim, a->shape);
    uint8_t *c = cg_tape_scratch((size_t)(m ? m : 1));
    if (!y || !c) return NULL;
    if (m) memcpy(c, cond, (size_t)m);
    #pragma omp parallel for simd if (parallel: m >= CG_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < m; i++) { float u = a->data[i], v = b->data[i]; y->data[i] = c[i] ? u : v; }
    cg_node *nd = cg_record(&op_where, y, 2, (cg_tensor *[]){ a, b });
    if (!nd) return NULL;
    nd->aux = c;
    cg_profile_end("where", 0, t0);
    return y;
}
