/* SPDX-License-Identifier: MIT */
/* lib/ops/unary.c — elementwise unary ops and ops with a scalar: neg, exp, log, sqrt,
 * pow (scalar exponent), add_scalar, mul_scalar.
 * Shape rule: y has x's shape. Backward: dx += dy * f'(x), with f' written from x or from y
 * (exp and sqrt reuse the output). x, y, dx, dy all hold n floats, contiguous.
 * The loops say `if (parallel: ...)`: a bare if() on `parallel for simd` also switches off
 * simd when false (OpenMP 5.0, GCC 12), making small tensors 2-3x slower
 * (bench/bench-elementwise). */
#include <math.h>
#include "cg_internal.h"

typedef enum { U_NEG, U_EXP, U_LOG, U_SQRT, U_POW, U_ADDS, U_MULS, U_COUNT } un_kind;

/* y[n] = f(x[n]); s is the scalar (exponent, addend or factor) where the op has one. */
static void unary_forward(un_kind k, float *restrict y, const float *restrict x, int64_t n, float s) {
    switch (k) {
    case U_NEG:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) y[i] = -x[i];
        break;
    case U_EXP:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
        break;
    case U_LOG:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]);
        break;
    case U_SQRT:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) y[i] = sqrtf(x[i]);
        break;
    case U_POW:
        if (s == 2.0f) {
            #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
            for (int64_t i = 0; i < n; i++) y[i] = x[i] * x[i];
        } else {
            #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
            for (int64_t i = 0; i < n; i++) y[i] = powf(x[i], s);
        }
        break;
    case U_ADDS:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] + s;
        break;
    case U_MULS:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * s;
        break;
    default: CG_ASSERT(0);
    }
}

/* dx[n] += dy[n] * f'(x) — accumulates, never overwrites. y is the forward's output. */
static void unary_backward_kernel(un_kind k, float *restrict dx, const float *restrict dy,
                                  const float *restrict x, const float *restrict y, int64_t n, float s) {
    switch (k) {
    case U_NEG:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] -= dy[i];
        break;
    case U_EXP:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * y[i];
        break;
    case U_LOG:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] / x[i];
        break;
    case U_SQRT:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * 0.5f / y[i];
        break;
    case U_POW:
        if (s == 2.0f) {
            #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
            for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * 2.0f * x[i];
        } else if (s == 0.0f) {
            /* d/dx x^0 = 0 everywhere (PyTorch's convention, also at x = 0) */
        } else {
            #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
            for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * s * powf(x[i], s - 1.0f);
        }
        break;
    case U_ADDS:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
        break;
    case U_MULS:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * s;
        break;
    default: CG_ASSERT(0);
    }
}

typedef struct unary_params { un_kind kind; float s; } unary_params;  /* on the node */

static cg_status unary_backward(cg_node *n) {
    float *dx = cg_grad_data(n->in[0]);
    if (!dx) return CG_ENOMEM;
    unary_params p;
    CG_GET_PARAMS(n, &p);
    unary_backward_kernel(p.kind, dx, cg_out_grad(n), n->in[0]->data, n->out->data, n->out->numel, p.s);
    return CG_OK;
}

static const cg_op_def op_unary[U_COUNT] = {
    [U_NEG] = { "neg", unary_backward },   [U_EXP] = { "exp", unary_backward },
    [U_LOG] = { "log", unary_backward },   [U_SQRT] = { "sqrt", unary_backward },
    [U_POW] = { "pow", unary_backward },   [U_ADDS] = { "add_scalar", unary_backward },
    [U_MULS] = { "mul_scalar", unary_backward },
};

static cg_tensor *unary(un_kind k, cg_tensor *x, float s) {
    if (!x) return NULL;
    const cg_op_def *op = &op_unary[k];
    CG_REQUIRE_F32(op->name, "input", x);
    double t0 = cg_profile_begin();
    cg_tensor *y = cg_tape_tensor(x->ndim, x->shape);
    if (!y) return NULL;
    unary_forward(k, y->data, x->data, x->numel, s);
    cg_node *n = cg_record(op, y, 1, &x);
    if (!n) return NULL;
    CG_SET_PARAMS(n, &(unary_params){ .kind = k, .s = s });
    cg_profile_end(op->name, 0, t0);
    return y;
}

cg_tensor *cg_neg(cg_tensor *x) { return unary(U_NEG, x, 0); }
cg_tensor *cg_exp(cg_tensor *x) { return unary(U_EXP, x, 0); }
cg_tensor *cg_log(cg_tensor *x) { return unary(U_LOG, x, 0); }
cg_tensor *cg_sqrt(cg_tensor *x) { return unary(U_SQRT, x, 0); }
cg_tensor *cg_pow(cg_tensor *x, float exponent) { return unary(U_POW, x, exponent); }
cg_tensor *cg_add_scalar(cg_tensor *x, float s) { return unary(U_ADDS, x, s); }
cg_tensor *cg_mul_scalar(cg_tensor *x, float s) { return unary(U_MULS, x, s); }
