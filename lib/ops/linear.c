/* SPDX-License-Identifier: MIT */
/* lib/ops/linear.c — y = x · wᵀ + b by one GEMM (cg_gemm).
 *
 * Shape rule: x[..., in] (N = all leading dims together, one row if x is 1-d), w[out, in],
 * b[out] or NULL -> y[..., out].
 * Backward: dx[N,in] += dy[N,out] · w;  dw[out,in] += dyᵀ · x;  db[out] += column sums of dy.
 * Each sgemm owns its whole output, so nothing races. */
#include "cg_internal.h"

/* The shape rule (see ops.h): x[..., in] and w[out, in] -> [..., out]. */
cg_status cg_linear_out_shape(int ndim, const int64_t *x_shape, const int64_t *w_shape, int64_t *out_shape) {
    char s1[96], s2[96];
    if (!x_shape || !w_shape || !out_shape) return cg_error(CG_EINVAL, "linear_out_shape: an argument is NULL");
    if (ndim < 1 || ndim > CG_MAX_DIMS || x_shape[ndim - 1] != w_shape[1])
        return cg_error(CG_ESHAPE, "linear: input %s does not end in the weight's in-features %lld (weight %s)",
                        ndim >= 0 && ndim <= CG_MAX_DIMS ? cg_shape_str(s1, sizeof s1, ndim, x_shape) : "?",
                        (long long)w_shape[1], cg_shape_str(s2, sizeof s2, 2, w_shape));
    for (int i = 0; i < ndim - 1; i++) out_shape[i] = x_shape[i];
    out_shape[ndim - 1] = w_shape[0];
    return CG_OK;
}

/* y[N,out] = x[N,in] · w[out,in]ᵀ + b[out] */
static void linear_forward(float *restrict y, const float *restrict x, const float *restrict w,
                           const float *restrict b, int64_t N, int64_t in, int64_t out) {
    if (N == 0 || out == 0) return;
    if (b) {
        #pragma omp parallel for if (N * out >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < N; i++) memcpy(y + i * out, b, (size_t)out * sizeof(float));
    } else {
        memset(y, 0, (size_t)(N * out) * sizeof(float));
    }
    if (in == 0) return;
    cg_gemm(false, true, N, out, in, 1.0f, x, in, w, in, 1.0f, y, out);
}

/* db[out] += sum_i dy[i, o] — parallel over o */
static void linear_backward_bias(float *restrict db, const float *restrict dy, int64_t N, int64_t out) {
    #pragma omp parallel for if (N * out >= CG_OMP_MIN) schedule(static)
    for (int64_t o = 0; o < out; o++) {
        double s = 0;
        for (int64_t i = 0; i < N; i++) s += dy[i * out + o];
        db[o] += (float)s;
    }
}

typedef struct linear_params { int64_t n, in, out; } linear_params;  /* on the node */

static cg_status linear_backward(cg_node *n) {
    cg_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    linear_params p;
    CG_GET_PARAMS(n, &p);
    const int64_t N = p.n, in = p.in, out = p.out;
    const float *dy = cg_out_grad(n);
    bool work = N > 0 && in > 0 && out > 0;
    if (cg_requires_grad(x)) {
        bool fresh;  /* a fresh grad is uninitialised: sgemm writes it with beta = 0 */
        float *dx = cg_grad_data_fresh(x, &fresh);
        if (!dx) return CG_ENOMEM;
        if (work)  /* dx[N,in] += dy[N,out] · w[out,in] */
            cg_gemm(false, false, N, in, out, 1.0f, dy, out, w->data, in, fresh ? 0.0f : 1.0f, dx, in);
        else if (fresh) memset(dx, 0, (size_t)(N * in) * sizeof(float));
    }
    if (cg_requires_grad(w)) {
        float *dw = cg_grad_data(w);
        if (!dw) return CG_ENOMEM;
        if (work)  /* dw[out,in] += dy[N,out]ᵀ · x[N,in] */
            cg_gemm(true, false, out, in, N, 1.0f, dy, out, x->data, in, 1.0f, dw, in);
    }
    if (cg_requires_grad(b)) {
        float *db = cg_grad_data(b);
        if (!db) return CG_ENOMEM;
        linear_backward_bias(db, dy, N, out);
    }
    return CG_OK;
}

static const cg_op_def op_linear = { "linear", linear_backward };

cg_tensor *cg_linear(cg_tensor *x, cg_tensor *w, cg_tensor *b) {
    if (!x || !w) return NULL;
    CG_REQUIRE_F32("linear", "input", x);
    CG_REQUIRE_F32("linear", "weight", w);
    CG_REQUIRE_F32("linear", "bias", b);
    double t0 = cg_profile_begin();
    char s1[96];
    if (w->ndim != 2)
        return CG_FAIL(CG_ESHAPE, "linear: weight must be 2-d [out, in], got %s",
                       cg_shape_str(s1, sizeof s1, w->ndim, w->shape));
    const int64_t out = w->shape[0], in = w->shape[1];
    int64_t shape[CG_MAX_DIMS];
    if (cg_linear_out_shape(x->ndim, x->shape, w->shape, shape) != CG_OK) return NULL;
    if (b && (b->ndim != 1 || b->shape[0] != out))
        return CG_FAIL(CG_ESHAPE, "linear: bias must be [%lld], got %s", (long long)out,
                       cg_shape_str(s1, sizeof s1, b->ndim, b->shape));
    int64_t N = in ? x->numel / in : 1;
    if (!in) { N = 1; for (int i = 0; i < x->ndim - 1; i++) N *= x->shape[i]; }
    if (cg_gemm_check("linear", N, out, in) != CG_OK) return NULL;
    cg_tensor *y = cg_tape_tensor(x->ndim, shape);
    if (!y) return NULL;
    linear_forward(y->data, x->data, w->data, b ? b->data : NULL, N, in, out);
    cg_node *n = cg_record(&op_linear, y, 3, (cg_tensor *[]){ x, w, b });
    if (!n) return NULL;
    CG_SET_PARAMS(n, &(linear_params){ .n = N, .in = in, .out = out });
    cg_profile_end("linear", 0, t0);
    return y;
}
