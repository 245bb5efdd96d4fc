/* SPDX-License-Identifier: MIT */
/* lib/nn/embedding.c — Embedding: a table weight [num_embeddings, embedding_dim], looked up by
 * an input of any shape [*] whose elements are whole numbers in 0..num_embeddings-1 (cgrad's
 * tensors are float; indices up to 2^24 are exact) -> [*, embedding_dim]. Initialised N(0, 1), as
 * PyTorch. The input gets no gradient (PyTorch's indices are integers). */
#include <math.h>
#include "init.h"

typedef struct embedding { cg_module base; cg_tensor *weight; } embedding;

static cg_tensor *embedding_forward(cg_module *m, cg_tensor *x) {
    embedding *e = (embedding *)m;
    if (!x) return NULL;
    char s[96];
    if (x->ndim >= CG_MAX_DIMS)
        return CG_FAIL(CG_ESHAPE, "Embedding: input %s has %d dims; at most %d (the output adds one)",
                       cg_shape_str(s, sizeof s, x->ndim, x->shape), x->ndim, CG_MAX_DIMS - 1);
    const int64_t n = x->numel, V = e->weight->shape[0];
    int64_t *idx = cg_tape_scratch((size_t)(n ? n : 1) * sizeof *idx);
    if (!idx) return NULL;
    const float *xv = x->data;
    for (int64_t i = 0; i < n; i++) {
        float v = xv[i];
        if (!(v >= 0.0f) || !(v < (float)V) || v != floorf(v))
            return CG_FAIL(CG_EINVAL, "Embedding: input element %lld is %g, not a whole number in 0..%lld",
                           (long long)i, (double)v, (long long)V - 1);
        idx[i] = (int64_t)v;
    }
    cg_tensor *y = cg_embedding(e->weight, idx, n);
    if (!y) return NULL;
    int64_t shape[CG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
    shape[x->ndim] = e->weight->shape[1];
    return cg_reshape(y, x->ndim + 1, shape);
}

static const cg_module_type embedding_type = { "Embedding", embedding_forward, NULL, NULL };

cg_module *cg_embedding_new(int64_t num_embeddings, int64_t embedding_dim) {
    if (num_embeddings <= 0 || embedding_dim <= 0)
        return (cg_module *)CG_FAIL(CG_EINVAL, "Embedding: num_embeddings %lld and embedding_dim %lld must be positive",
                                    (long long)num_embeddings, (long long)embedding_dim);
    if (num_embeddings > (INT64_C(1) << 24))
        return (cg_module *)CG_FAIL(CG_EINVAL, "Embedding: num_embeddings %lld is over 2^24, the largest index a float "
                                    "input holds exactly", (long long)num_embeddings);
    const int64_t *ws = CG_SHAPE(num_embeddings, embedding_dim);
    if (cg_nn_check_size("Embedding", "weight", 2, ws) != CG_OK) return NULL;
    embedding *e = (embedding *)cg_module_new(&embedding_type, sizeof *e);
    if (!e) return NULL;
    cg_tensor *w = cg_tensor_zeros(2, ws);
    if (!w) { cg_module_free(&e->base); return cg_nn_alloc_failed("Embedding", "weight", 2, ws); }
    if (cg_init_normal_(w, 0.0f, 1.0f, NULL) != CG_OK) { cg_tensor_free(w); cg_module_free(&e->base); return NULL; }
    e->weight = cg_module_add_parameter(&e->base, "weight", w);
    if (!e->weight) { cg_module_free(&e->base); return NULL; }
    return &e->base;
}
