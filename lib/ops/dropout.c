/* SPDX-License-Identifier: MIT */
/* lib/ops/dropout.c — dropout and dropout2d (whole channels).
 *
 * Shape rule: y has x's shape. dropout2d takes [N,C,H,W] or [N,C,L] and draws one keep/drop per
 * (n, c), applied to the channel's H*W (or L) elements; on a 2-d [N,F] input each feature is a
 * channel of one element, so it drops element-wise (PyTorch 1.13's nn.Dropout2d does the same).
 * y = x * m, m = 1/(1-p) with probability 1-p and 0 otherwise; backward dx += dy * m.
 * Identity (a recorded view, so grads flow) when !training or p == 0; zeros when p == 1.
 * Masks: take one draw per two mask elements from the stream (the caller's cg_rng, or the default
 * stream for NULL) and compute them from draw c0 + j in parallel, so the mask does not depend
 * on the thread count.
 * The mask is saved as floats (0 or the scale) in tape scratch. */
#include <math.h>
#include "cg_internal.h"

/* m[k] = scale if u < 1-p else 0 — k over nm mask entries. One 64-bit draw serves two entries:
 * entry 2j takes the top 24 bits of draw c0+j's low half, entry 2j+1 those of its high half
 * (24 bits, like cg_rng_u01). Halves the hashing, which dominated dropout's forward. */
static void dropout_mask(float *restrict m, int64_t nm, float p, cg_rng *rng) {
    const float keep = 1.0f - p, scale = p < 1.0f ? 1.0f / keep : 0.0f;
    const int64_t pairs = (nm + 1) / 2;
    uint64_t seed;
    const uint64_t c0 = cg_rng_take(rng, (uint64_t)pairs, &seed);
    #pragma omp parallel for if (nm >= CG_OMP_MIN) schedule(static)
    for (int64_t j = 0; j < pairs; j++) {
        uint64_t bits = cg_rng_bits(seed, c0 + (uint64_t)j);
        float u0 = (float)((uint32_t)bits >> 8) * (1.0f / 16777216.0f);
        float u1 = (float)(bits >> 40) * (1.0f / 16777216.0f);
        m[2 * j] = u0 < keep ? scale : 0.0f;
        if (2 * j + 1 < nm) m[2 * j + 1] = u1 < keep ? scale : 0.0f;
    }
}

/* y[rows, inner] = x[rows, inner] * m[rows] (inner == 1 for plain dropout) */
static void dropout_apply(float *restrict y, const float *restrict x, const float *restrict m,
                          int64_t rows, int64_t inner) {
    if (inner == 1) {
        #pragma omp parallel for simd if (parallel: rows >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < rows; i++) y[i] = x[i] * m[i];
        return;
    }
    #pragma omp parallel for if (rows * inner >= CG_OMP_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < inner; j++) y[r * inner + j] = x[r * inner + j] * m[r];
}

/* dx[rows, inner] += dy[rows, inner] * m[rows]; fresh: dx is uninitialised, so = instead of += */
static void dropout_backward_kernel(float *restrict dx, const float *restrict dy, const float *restrict m,
                                    int64_t rows, int64_t inner, bool fresh) {
    if (fresh) {
        dropout_apply(dx, dy, m, rows, inner);
        return;
    }
    if (inner == 1) {
        #pragma omp parallel for simd if (parallel: rows >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < rows; i++) dx[i] += dy[i] * m[i];
        return;
    }
    #pragma omp parallel for if (rows * inner >= CG_OMP_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < inner; j++) dx[r * inner + j] += dy[r * inner + j] * m[r];
}

typedef struct dropout_params { int64_t rows, inner; } dropout_params;  /* on the node */

static cg_status dropout_backward(cg_node *n) {
    bool fresh;
    float *dx = cg_grad_data_fresh(n->in[0], &fresh);
    if (!dx) return CG_ENOMEM;
    dropout_params p;
    CG_GET_PARAMS(n, &p);
    dropout_backward_kernel(dx, cg_out_grad(n), n->aux, p.rows, p.inner, fresh);
    return CG_OK;
}

/* dx += dy */
static cg_status identity_backward(cg_node *n) {
    float *dx = cg_grad_data(n->in[0]);
    if (!dx) return CG_ENOMEM;
    const float *dy = cg_out_grad(n);
    int64_t numel = n->out->numel;
    #pragma omp parallel for simd if (parallel: numel >= CG_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < numel; i++) dx[i] += dy[i];
    return CG_OK;
}

static const cg_op_def op_dropout = { "dropout", dropout_backward };
static const cg_op_def op_dropout2d = { "dropout2d", dropout_backward };
static const cg_op_def op_dropout_identity = { "dropout(identity)", identity_backward };

static cg_tensor *dropout(const cg_op_def *op, cg_tensor *x, float p, bool training, bool channels, cg_rng *rng) {
    if (!x) return NULL;
    CG_REQUIRE_F32(op->name, "input", x);
    double t0 = cg_profile_begin();
    if (!(p >= 0.0f && p <= 1.0f))
        return CG_FAIL(CG_EINVAL, "%s: probability p = %g is outside [0, 1]", op->name, (double)p);
    int64_t rows = x->numel, inner = 1;
    if (channels) {
        if (x->ndim < 2 || x->ndim > 4) {
            char s[96];
            return CG_FAIL(CG_ESHAPE, "%s: input must be [N,C,H,W], [N,C,L] or [N,F], got %s", op->name,
                           cg_shape_str(s, sizeof s, x->ndim, x->shape));
        }
        rows = x->shape[0] * x->shape[1];
        inner = rows ? x->numel / rows : 0;
    }
    if (!training || p == 0.0f) {
        cg_tensor *y = cg_tape_view(x, x->ndim, x->shape);
        if (!y) return NULL;
        if (!cg_record(&op_dropout_identity, y, 1, &x)) return NULL;
        cg_profile_end(op->name, 0, t0);
        return y;
    }
    cg_tensor *y = cg_tape_tensor(x->ndim, x->shape);
    float *m = cg_tape_scratch((size_t)rows * sizeof(float));
    if (!y || !m) return NULL;
    if (p == 1.0f) {
        memset(m, 0, (size_t)rows * sizeof(float));   /* no draws needed: everything is dropped */
        memset(y->data, 0, (size_t)y->numel * sizeof(float));
    } else {
        dropout_mask(m, rows, p, rng);
        dropout_apply(y->data, x->data, m, rows, inner);
    }
    cg_node *n = cg_record(op, y, 1, &x);
    if (!n) return NULL;
    CG_SET_PARAMS(n, &(dropout_params){ .rows = rows, .inner = inner });
    n->aux = m;
    cg_profile_end(op->name, 0, t0);
    return y;
}

cg_tensor *cg_dropout(cg_tensor *x, float p, bool training, cg_rng *rng) {
    return dropout(&op_dropout, x, p, training, false, rng);
}
cg_tensor *cg_dropout2d(cg_tensor *x, float p, bool training, cg_rng *rng) {
    return dropout(&op_dropout2d, x, p, training, true, rng);
}
