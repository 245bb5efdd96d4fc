/* SPDX-License-Identifier: MIT */
/* lib/ops/matmul.c — y = a · b through cg_gemm, one GEMM per matrix of the batch.
 * Shape rule: a[..., M, K] x b[..., K, N] -> y[..., M, N] (both at least 2-d); the leading
 * (batch) dims broadcast as NumPy's and PyTorch's matmul do; 2-d x 2-d is one GEMM. bmm is the
 * strict form: [B, M, K] x [B, K, N].
 * Backward: per batch entry, da += dy · bᵀ and db += aᵀ · dy, each an sgemm with beta = 1 that
 * accumulates straight into the grad buffer (no temporary); an operand broadcast over the batch
 * gets the sum, the batch entries taken in order (deterministic). */
#include "cg_internal.h"

#define MM_MAX_BATCH (CG_MAX_DIMS - 2)
typedef struct matmul_params {
    int64_t m, k, n, batches;
    int nb;                                   /* batch dims */
    int64_t shape[MM_MAX_BATCH], sa[MM_MAX_BATCH], sb[MM_MAX_BATCH]; /* a's and b's batch strides in matrices (0: broadcast) */
} matmul_params;  /* on the node */

/* The matrix offsets of a and b for batch entry t. */
static void mm_offsets(const matmul_params *p, int64_t t, int64_t *oa, int64_t *ob) {
    int64_t a = 0, b = 0;
    for (int d = p->nb - 1; d >= 0; d--) {
        int64_t c = t % p->shape[d];
        t /= p->shape[d];
        a += c * p->sa[d];
        b += c * p->sb[d];
    }
    *oa = a * p->m * p->k;
    *ob = b * p->k * p->n;
}

static cg_status matmul_backward(cg_node *n) {
    cg_tensor *a = n->in[0], *b = n->in[1];
    matmul_params p;
    CG_GET_PARAMS(n, &p);
    const int64_t M = p.m, K = p.k, N = p.n;
    const float *dy = cg_out_grad(n);
    float *da = NULL, *db = NULL;
    if (cg_requires_grad(a) && !(da = cg_grad_data(a))) return CG_ENOMEM;
    if (cg_requires_grad(b) && !(db = cg_grad_data(b))) return CG_ENOMEM;
    if (M == 0 || N == 0 || K == 0) return CG_OK; /* nothing flows; the grads exist */
    for (int64_t t = 0; t < p.batches; t++) {
        int64_t oa, ob;
        mm_offsets(&p, t, &oa, &ob);
        const float *dyt = dy + t * M * N;
        /* da[M,K] += dy[M,N] · b[K,N]ᵀ */
        if (da) cg_gemm(false, true, M, K, N, 1.0f, dyt, N, b->data + ob, N, 1.0f, da + oa, K);
        /* db[K,N] += a[M,K]ᵀ · dy[M,N] */
        if (db) cg_gemm(true, false, K, N, M, 1.0f, a->data + oa, K, dyt, N, 1.0f, db + ob, N);
    }
    return CG_OK;
}

static const cg_op_def op_matmul = { "matmul", matmul_backward };

cg_tensor *cg_matmul(cg_tensor *a, cg_tensor *b) {
    if (!a || !b) return NULL;
    CG_REQUIRE_F32("matmul", "a", a);
    CG_REQUIRE_F32("matmul", "b", b);
    double t0 = cg_profile_begin();
    char s1[96], s2[96];
    if (a->ndim < 2 || b->ndim < 2)
        return CG_FAIL(CG_ESHAPE, "matmul: inputs must be at least 2-d, got a %s and b %s (reshape a vector to [1, K] "
                       "or [K, 1])", cg_shape_str(s1, sizeof s1, a->ndim, a->shape),
                       cg_shape_str(s2, sizeof s2, b->ndim, b->shape));
    const int64_t M = a->shape[a->ndim - 2], K = a->shape[a->ndim - 1], N = b->shape[b->ndim - 1];
    if (b->shape[b->ndim - 2] != K)
        return CG_FAIL(CG_ESHAPE, "matmul: a %s and b %s do not fit (a's last dim is %lld, b's second to last %lld)",
                       cg_shape_str(s1, sizeof s1, a->ndim, a->shape),
                       cg_shape_str(s2, sizeof s2, b->ndim, b->shape), (long long)K, (long long)b->shape[b->ndim - 2]);
    matmul_params p = { .m = M, .k = K, .n = N, .batches = 1 };
    const int na = a->ndim - 2, nbd = b->ndim - 2;
    p.nb = na > nbd ? na : nbd;
    int64_t out[CG_MAX_DIMS];
    for (int d = 0; d < p.nb; d++) { /* aligned from the right, as NumPy */
        int ia = d - (p.nb - na), ib = d - (p.nb - nbd);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return CG_FAIL(CG_ESHAPE, "matmul: the batch dims of a %s and b %s do not broadcast (%lld and %lld)",
                           cg_shape_str(s1, sizeof s1, a->ndim, a->shape), cg_shape_str(s2, sizeof s2, b->ndim, b->shape),
                           (long long)da, (long long)db);
        p.shape[d] = da == 1 ? db : da;
        out[d] = p.shape[d];
        if (__builtin_mul_overflow(p.batches, p.shape[d], &p.batches))   /* the result's shape check bounds the rest */
            return CG_FAIL(CG_ESHAPE, "matmul: the batch dims of a %s and b %s broadcast to too many matrices",
                           cg_shape_str(s1, sizeof s1, a->ndim, a->shape), cg_shape_str(s2, sizeof s2, b->ndim, b->shape));
    }
    /* batch strides, in matrices, of each operand (0 where it broadcasts) */
    int64_t acc_a = 1, acc_b = 1;
    for (int d = p.nb - 1; d >= 0; d--) {
        int ia = d - (p.nb - na), ib = d - (p.nb - nbd);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        p.sa[d] = da == 1 ? 0 : acc_a;
        p.sb[d] = db == 1 ? 0 : acc_b;
        acc_a *= da;
        acc_b *= db;
    }
    out[p.nb] = M;
    out[p.nb + 1] = N;
    if (cg_gemm_check("matmul", M, N, K) != CG_OK) return NULL;
    cg_tensor *y = cg_tape_tensor(p.nb + 2, out);
    if (!y) return NULL;
    if (M && N && K) {
        for (int64_t t = 0; t < p.batches; t++) {
            int64_t oa, ob;
            mm_offsets(&p, t, &oa, &ob);
            /* y[M,N] = a[M,K] · b[K,N] */
            cg_gemm(false, false, M, N, K, 1.0f, a->data + oa, K, b->data + ob, N, 0.0f, y->data + t * M * N, N);
        }
    } else if (y->numel) {
        memset(y->data, 0, (size_t)y->numel * sizeof(float));  /* empty sum: zeros */
    }
    cg_node *n = cg_record(&op_matmul, y, 2, (cg_tensor *[]){ a, b });
    if (!n) return NULL;
    CG_SET_PARAMS(n, &p);
    cg_profile_end("matmul", 0, t0);
    return y;
}

cg_tensor *cg_bmm(cg_tensor *a, cg_tensor *b) {
    if (!a || !b) return NULL;
    CG_REQUIRE_F32("bmm", "a", a);
    CG_REQUIRE_F32("bmm", "b", b);
    char s1[96], s2[96];
    if (a->ndim != 3 || b->ndim != 3 || a->shape[0] != b->shape[0])
        return CG_FAIL(CG_ESHAPE, "bmm: a %s and b %s must be [B, M, K] and [B, K, N] with the same B",
                       cg_shape_str(s1, sizeof s1, a->ndim, a->shape), cg_shape_str(s2, sizeof s2, b->ndim, b->shape));
    return cg_matmul(a, b);
}
