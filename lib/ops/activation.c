/* SPDX-License-Identifier: MIT */
/* lib/ops/activation.c — relu, leaky_relu, sigmoid, tanh.
 * Shape rule: y has x's shape. Backward: dx += dy * f'(.), from x (relu, leaky_relu: the kink
 * at 0 takes the slope of the left side, as PyTorch) or from y (sigmoid, tanh).
 * NaN, as in PyTorch: relu(NaN) = leaky_relu(NaN) = NaN; relu's gradient at NaN is 0 (NaN > 0
 * is false) and leaky_relu's is the slope.
 * x, y, dx, dy all hold n floats, contiguous. Every load in a loop is unconditional (`float d =
 * dy[i]; .. x > 0 ? d : 0`): a load inside the ?: is control flow to GCC, which then leaves the
 * loop scalar and branchy (relu backward ran 10-20x slower on random signs). */
#include <math.h>
#include "cg_internal.h"

typedef enum { A_RELU, A_LEAKY, A_SIGMOID, A_TANH, A_COUNT } act_kind;

/* y[n] = f(x[n]); slope is leaky_relu's negative slope. */
static void act_forward(act_kind k, float *restrict y, const float *restrict x, int64_t n, float slope) {
    switch (k) {
    case A_RELU:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        /* v <= 0 ? 0 : v, not v > 0 ? v : 0: a NaN passes through, as in PyTorch */
        for (int64_t i = 0; i < n; i++) { float v = x[i]; y[i] = v <= 0.0f ? 0.0f : v; }
        break;
    case A_LEAKY:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) { float v = x[i], a = slope * v; y[i] = v > 0.0f ? v : a; }
        break;
    case A_SIGMOID:
        /* two branches so that exp never overflows: for x < 0, e^x / (1 + e^x) */
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float e = expf(-fabsf(x[i]));
            y[i] = x[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
        }
        break;
    case A_TANH:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    default: CG_ASSERT(0);
    }
}

/* dx[n] += dy[n] * f'(x) — accumulates. */
static void act_backward_kernel(act_kind k, float *restrict dx, const float *restrict dy,
                                const float *restrict x, const float *restrict y, int64_t n, float slope) {
    switch (k) {
    case A_RELU:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) { float d = dy[i]; dx[i] += x[i] > 0.0f ? d : 0.0f; }
        break;
    case A_LEAKY:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) { float d = dy[i], a = slope * d; dx[i] += x[i] > 0.0f ? d : a; }
        break;
    case A_SIGMOID:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
        break;
    case A_TANH:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
        break;
    default: CG_ASSERT(0);
    }
}

/* dx[n] = dy[n] where x > 0, else 0 — relu's backward into a fresh (uninitialised) grad */
static void relu_backward_set(float *restrict dx, const float *restrict dy, const float *restrict x, int64_t n) {
    #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) { float d = dy[i]; dx[i] = x[i] > 0.0f ? d : 0.0f; }
}

typedef struct act_params { act_kind kind; float slope; } act_params;  /* on the node */

static cg_status act_backward(cg_node *n) {
    bool fresh;
    float *dx = cg_grad_data_fresh(n->in[0], &fresh);
    if (!dx) return CG_ENOMEM;
    act_params p;
    CG_GET_PARAMS(n, &p);
    if (fresh && p.kind == A_RELU) {
        relu_backward_set(dx, cg_out_grad(n), n->in[0]->data, n->out->numel);
        return CG_OK;
    }
    if (fresh) memset(dx, 0, (size_t)n->out->numel * sizeof(float));
    act_backward_kernel(p.kind, dx, cg_out_grad(n), n->in[0]->data, n->out->data, n->out->numel, p.slope);
    return CG_OK;
}

static const cg_op_def op_act[A_COUNT] = {
    [A_RELU] = { "relu", act_backward },       [A_LEAKY] = { "leaky_relu", act_backward },
    [A_SIGMOID] = { "sigmoid", act_backward }, [A_TANH] = { "tanh", act_backward },
};

static cg_tensor *activation(act_kind k, cg_tensor *x, float slope) {
    if (!x) return NULL;
    const cg_op_def *op = &op_act[k];
    double t0 = cg_profile_begin();
    cg_tensor *y = cg_tape_tensor(x->ndim, x->shape);
    if (!y) return NULL;
    act_forward(k, y->data, x->data, x->numel, slope);
    cg_node *n = cg_record(op, y, 1, &x);
    if (!n) return NULL;
    CG_SET_PARAMS(n, &(act_params){ .kind = k, .slope = slope });
    cg_profile_end(op->name, 0, t0);
    return y;
}

cg_tensor *cg_relu(cg_tensor *x) { return activation(A_RELU, x, 0); }
cg_tensor *cg_leaky_relu(cg_tensor *x, float negative_slope) { return activation(A_LEAKY, x, negative_slope); }
cg_tensor *cg_sigmoid(cg_tensor *x) { return activation(A_SIGMOID, x, 0); }
cg_tensor *cg_tanh(cg_tensor *x) { return activation(A_TANH, x, 0); }
