/* SPDX-License-Identifier: MIT */
/* lib/nn/embedding.c — Embedding: a table weight [num_embeddings, embedding_dim], looked up by
 * an int64 input of any shape [*] with elements in 0..num_embeddings-1 -> [*, embedding_dim].
 * A float32 input of whole numbers is taken too (converted; anything else refused), so that a
 * Sequential net fed float data, e.g. a spec net starting with `embedding`, works. Initialised
 * N(0, 1), as PyTorch. The input gets no gradient. */
#include <math.h>
#include "init.h"

typedef struct embedding { cg_module base; cg_tensor *weight; } embedding;

static cg_tensor *embedding_forward(cg_module *m, cg_tensor *x) {
    embedding *e = (embedding *)m;
    if (!x) return NULL;
    if (x->dtype == CG_I64) return cg_embedding(e->weight, x);
    if (x->dtype != CG_F32)
        return CG_FAIL(CG_EINVAL, "Embedding: input is %s, expected int64 (or float32 whole numbers)",
                       cg_dtype_name(x->dtype));
    /* float32 whole numbers: converted into a tape tensor (pooled: no allocation once warm) */
    cg_tensor *idx = cg_tape_tensor_dtype(CG_I64, x->ndim, x->shape, false);
    if (!idx) return NULL;
    const int64_t n = x->numel, V = e->weight->shape[0];
    const float *xv = x->data;
    int64_t *iv = cg_i64(idx);
    for (int64_t i = 0; i < n; i++) {
        float v = xv[i];
        if (!(v >= 0.0f) || !(v < (float)V) || v != floorf(v))
            return CG_FAIL(CG_EINVAL, "Embedding: input element %lld is %g, not a whole number in 0..%lld",
                           (long long)i, (double)v, (long long)V - 1);
        iv[i] = (int64_t)v;
    }
    return cg_embedding(e->weight, idx);
}

static cg_status embedding_spec(const cg_module *m, cg_spec_writer *w) {
    const embedding *e = (const embedding *)m;
    return cg_spec_printf(w, "embedding(%lld,%lld)", (long long)e->weight->shape[0], (long long)e->weight->shape[1]);
}

static const cg_module_type embedding_type = { .name = "Embedding", .forward = embedding_forward,
                                               .to_spec = embedding_spec };

cg_module *cg_embedding_new(int64_t num_embeddings, int64_t embedding_dim) {
    if (num_embeddings <= 0 || embedding_dim <= 0)
        return (cg_module *)CG_FAIL(CG_EINVAL, "Embedding: num_embeddings %lld and embedding_dim %lld must be positive",
                                    (long long)num_embeddings, (long long)embedding_dim);
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
