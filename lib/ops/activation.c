/* SPDX-License-Identifier: MIT */
/* lib/ops/activation.c — relu, leaky_relu, sigmoid, tanh, gelu (exact and tanh), silu,
 * hardswish, softplus, clamp, hardtanh (relu6 = hardtanh(0, 6)), abs.
 * Shape rule: y has x's shape. Backward: dx += dy * f'(.), from x (relu, leaky_relu: the kink
 * at 0 takes the slope of the left side, as PyTorch) or from y (sigmoid, tanh). At the other
 * kinks the gradient is PyTorch's: clamp passes it on [lo, hi] (ends included), hardtanh on
 * (lo, hi) (ends excluded), hardswish takes x/3 + 1/2 on [-3, 3], abs 0 at 0; softplus is x
 * itself where beta*x > threshold. NaN passes through every forward here.
 * NaN, as in PyTorch: relu(NaN) = leaky_relu(NaN) = NaN; relu's gradient at NaN is 0 (NaN > 0
 * is false) and leaky_relu's is the slope.
 * x, y, dx, dy all hold n floats, contiguous. Every load in a loop is unconditional (`float d =
 * dy[i]; .. x > 0 ? d : 0`): a load inside the ?: is control flow to GCC, which then leaves the
 * loop scalar and branchy (relu backward ran 10-20x slower on random signs). */
#include <math.h>
#include "cg_internal.h"

typedef enum {
    A_RELU, A_LEAKY, A_SIGMOID, A_TANH, A_GELU, A_GELU_TANH, A_SILU, A_HARDSWISH, A_SOFTPLUS, A_CLAMP,
    A_HARDTANH, A_ABS, A_COUNT
} act_kind;

#define SQRT1_2 0.70710678118654752440f   /* 1/sqrt(2) */
#define SQRT2_PI 0.79788456080286535588f  /* sqrt(2/pi) */
#define INV_SQRT_2PI 0.39894228040143267794f
#define GELU_C 0.044715f

static inline float sigmoidf_(float v) {
    float e = expf(-fabsf(v));
    return v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

/* y[n] = f(x[n]); a, b: leaky_relu's slope; softplus's beta and threshold; clamp's and
 * hardtanh's bounds. */
static void act_forward(act_kind k, float *restrict y, const float *restrict x, int64_t n, float slope, float b) {
    switch (k) {
    case A_GELU:
        #pragma omp parallel for if (n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) { float v = x[i]; y[i] = 0.5f * v * (1.0f + erff(v * SQRT1_2)); }
        break;
    case A_GELU_TANH:
        #pragma omp parallel for if (n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + tanhf(SQRT2_PI * (v + GELU_C * v * v * v)));
        }
        break;
    case A_SILU:
        #pragma omp parallel for if (n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * sigmoidf_(x[i]);
        break;
    case A_HARDSWISH:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i], r = v + 3.0f;
            r = r < 0.0f ? 0.0f : (r > 6.0f ? 6.0f : r);
            y[i] = v * r / 6.0f;
        }
        break;
    case A_SOFTPLUS: /* slope = beta, b = threshold */
        #pragma omp parallel for if (n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i], z = v * slope;
            y[i] = z > b ? v : log1pf(expf(z)) / slope;
        }
        break;
    case A_CLAMP: case A_HARDTANH: /* slope = lo, b = hi; NaN stays NaN */
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) { float v = x[i]; y[i] = v < slope ? slope : (v > b ? b : v); }
        break;
    case A_ABS:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) y[i] = fabsf(x[i]);
        break;
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
                                const float *restrict x, const float *restrict y, int64_t n, float slope, float b) {
    switch (k) {
    case A_GELU:
        #pragma omp parallel for if (n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float cdf = 0.5f * (1.0f + erff(v * SQRT1_2)), pdf = INV_SQRT_2PI * expf(-0.5f * v * v);
            dx[i] += dy[i] * (cdf + v * pdf);
        }
        break;
    case A_GELU_TANH:
        #pragma omp parallel for if (n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i], t = tanhf(SQRT2_PI * (v + GELU_C * v * v * v));
            float du = SQRT2_PI * (1.0f + 3.0f * GELU_C * v * v);
            dx[i] += dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
        }
        break;
    case A_SILU:
        #pragma omp parallel for if (n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float s = sigmoidf_(x[i]);
            dx[i] += dy[i] * s * (1.0f + x[i] * (1.0f - s));
        }
        break;
    case A_HARDSWISH:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i], d = dy[i];
            dx[i] += v < -3.0f ? 0.0f : (v <= 3.0f ? d * (v / 3.0f + 0.5f) : d);
        }
        break;
    case A_SOFTPLUS:
        #pragma omp parallel for if (n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float z = x[i] * slope, d = dy[i];
            dx[i] += z > b ? d : d * sigmoidf_(z);
        }
        break;
    case A_CLAMP:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) { float v = x[i], d = dy[i]; dx[i] += v >= slope && v <= b ? d : 0.0f; }
        break;
    case A_HARDTANH:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) { float v = x[i], d = dy[i]; dx[i] += v > slope && v < b ? d : 0.0f; }
        break;
    case A_ABS:
        #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i], d = dy[i];
            dx[i] += v > 0.0f ? d : (v < 0.0f ? -d : 0.0f);
        }
        break;
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

typedef struct act_params { act_kind kind; float a, b; } act_params;  /* on the node */

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
    act_backward_kernel(p.kind, dx, cg_out_grad(n), n->in[0]->data, n->out->data, n->out->numel, p.a, p.b);
    return CG_OK;
}

static const cg_op_def op_act[A_COUNT] = {
    [A_RELU] = { "relu", act_backward },       [A_LEAKY] = { "leaky_relu", act_backward },
    [A_SIGMOID] = { "sigmoid", act_backward }, [A_TANH] = { "tanh", act_backward },
    [A_GELU] = { "gelu", act_backward },       [A_GELU_TANH] = { "gelu_tanh", act_backward },
    [A_SILU] = { "silu", act_backward },       [A_HARDSWISH] = { "hardswish", act_backward },
    [A_SOFTPLUS] = { "softplus", act_backward }, [A_CLAMP] = { "clamp", act_backward },
    [A_HARDTANH] = { "hardtanh", act_backward }, [A_ABS] = { "abs", act_backward },
};

static cg_tensor *activation(act_kind k, cg_tensor *x, float slope, float b) {
    if (!x) return NULL;
    const cg_op_def *op = &op_act[k];
    CG_REQUIRE_F32(op->name, "input", x);
    double t0 = cg_profile_begin();
    cg_tensor *y = cg_tape_tensor(x->ndim, x->shape);
    if (!y) return NULL;
    act_forward(k, y->data, x->data, x->numel, slope, b);
    cg_node *n = cg_record(op, y, 1, &x);
    if (!n) return NULL;
    CG_SET_PARAMS(n, &(act_params){ .kind = k, .a = slope, .b = b });
    cg_profile_end(op->name, 0, t0);
    return y;
}

cg_tensor *cg_relu(cg_tensor *x) { return activation(A_RELU, x, 0, 0); }
cg_tensor *cg_leaky_relu(cg_tensor *x, float negative_slope) { return activation(A_LEAKY, x, negative_slope, 0); }
cg_tensor *cg_sigmoid(cg_tensor *x) { return activation(A_SIGMOID, x, 0, 0); }
cg_tensor *cg_tanh(cg_tensor *x) { return activation(A_TANH, x, 0, 0); }
cg_tensor *cg_gelu(cg_tensor *x, bool tanh_approx) { return activation(tanh_approx ? A_GELU_TANH : A_GELU, x, 0, 0); }
cg_tensor *cg_silu(cg_tensor *x) { return activation(A_SILU, x, 0, 0); }
cg_tensor *cg_hardswish(cg_tensor *x) { return activation(A_HARDSWISH, x, 0, 0); }
cg_tensor *cg_abs(cg_tensor *x) { return activation(A_ABS, x, 0, 0); }
cg_tensor *cg_softplus(cg_tensor *x, float beta, float threshold) {
    if (!(beta > 0) || !isfinite(beta) || isnan(threshold))
        return CG_FAIL(CG_EINVAL, "softplus: beta %g must be finite and > 0, threshold %g a number", (double)beta,
                       (double)threshold);
    return activation(A_SOFTPLUS, x, beta, threshold);
}
static cg_tensor *bounded(act_kind k, const char *name, cg_tensor *x, float lo, float hi) {
    if (isnan(lo) || isnan(hi) || lo > hi)
        return CG_FAIL(CG_EINVAL, "%s: min %g must not exceed max %g (and neither NaN)", name, (double)lo, (double)hi);
    return activation(k, x, lo, hi);
}
cg_tensor *cg_clamp(cg_tensor *x, float min, float max) { return bounded(A_CLAMP, "clamp", x, min, max); }
cg_tensor *cg_hardtanh(cg_tensor *x, float min_val, float max_val) {
    return bounded(A_HARDTANH, "hardtanh", x, min_val, max_val);
}
cg_tensor *cg_relu6(cg_tensor *x) { return activation(A_HARDTANH, x, 0.0f, 6.0f); }
