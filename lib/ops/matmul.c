/* SPDX-License-Identifier: MIT */
/* lib/ops/matmul.c — y = a · b through one GEMM (cg_gemm).
 * Shape rule: a[M,K] x b[K,N] -> y[M,N]; both inputs 2-d with matching inner sizes.
 * Backward: da[M,K] += dy[M,N] · bᵀ, db[K,N] += aᵀ · dy, each one sgemm with beta = 1 that
 * accumulates straight into the grad buffer (no temporary). */
#include "cg_internal.h"

typedef struct matmul_params { int64_t m, k, n; } matmul_params;  /* on the node */

static cg_status matmul_backward(cg_node *n) {
    cg_tensor *a = n->in[0], *b = n->in[1];
    matmul_params p;
    CG_GET_PARAMS(n, &p);
    int64_t M = p.m, K = p.k, N = p.n;
    const float *dy = cg_out_grad(n);
    if (M == 0 || N == 0 || K == 0) {  /* nothing flows; still materialise the grads */
        if (cg_requires_grad(a) && !cg_grad_data(a)) return CG_ENOMEM;
        if (cg_requires_grad(b) && !cg_grad_data(b)) return CG_ENOMEM;
        return CG_OK;
    }
    if (cg_requires_grad(a)) {
        float *da = cg_grad_data(a);
        if (!da) return CG_ENOMEM;
        /* da[M,K] += dy[M,N] · b[K,N]ᵀ */
        cg_gemm(false, true, M, K, N, 1.0f, dy, N, b->data, N, 1.0f, da, K);
    }
    if (cg_requires_grad(b)) {
        float *db = cg_grad_data(b);
        if (!db) return CG_ENOMEM;
        /* db[K,N] += a[M,K]ᵀ · dy[M,N] */
        cg_gemm(true, false, K, N, M, 1.0f, a->data, K, dy, N, 1.0f, db, N);
    }
    return CG_OK;
}

static const cg_op_def op_matmul = { "matmul", matmul_backward };

cg_tensor *cg_matmul(cg_tensor *a, cg_tensor *b) {
    if (!a || !b) return NULL;
    double t0 = cg_profile_begin();
    char s1[96], s2[96];
    if (a->ndim != 2 || b->ndim != 2)
        return CG_FAIL(CG_ESHAPE, "matmul: inputs must be 2-d, got a %s and b %s",
                       cg_shape_str(s1, sizeof s1, a->ndim, a->shape),
                       cg_shape_str(s2, sizeof s2, b->ndim, b->shape));
    int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
    if (b->shape[0] != K)
        return CG_FAIL(CG_ESHAPE, "matmul: a %s and b %s do not fit (a's dim 1 is %lld, b's dim 0 is %lld)",
                       cg_shape_str(s1, sizeof s1, a->ndim, a->shape),
                       cg_shape_str(s2, sizeof s2, b->ndim, b->shape), (long long)K, (long long)b->shape[0]);
    if (cg_gemm_check("matmul", M, N, K) != CG_OK) return NULL;
    cg_tensor *y = cg_tape_tensor(2, (int64_t[]){ M, N });
    if (!y) return NULL;
    if (M && N && K) {
        /* y[M,N] = a[M,K] · b[K,N] */
        cg_gemm(false, false, M, N, K, 1.0f, a->data, K, b->data, N, 0.0f, y->data, N);
    } else if (y->numel) {
        memset(y->data, 0, (size_t)y->numel * sizeof(float));  /* empty sum: zeros */
    }
    cg_node *n = cg_record(&op_matmul, y, 2, (cg_tensor *[]){ a, b });
    if (!n) return NULL;
    CG_SET_PARAMS(n, &(matmul_params){ .m = M, .k = K, .n = N });
    cg_profile_end("matmul", 0, t0);
    return y;
}
