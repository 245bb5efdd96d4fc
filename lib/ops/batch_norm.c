/* SPDX-License-Identifier: MIT */
/* lib/ops/batch_norm.c — batch normalisation over the channel dim of [N,C,H,W] (or [N,C], [N,C,L]).
 *
 * Shape rule: x[N,C,*], weight/bias [C] or NULL, running_mean/var [C] (may be NULL in training)
 * -> y of x's shape. Per channel c over its M = N*inner elements:
 *   training: mean, var = batch statistics (biased var normalises); running stats, when given,
 *             become (1-momentum)*running + momentum*stat with the unbiased var (var*M/(M-1)).
 *   eval:     mean, var = running statistics.
 *   xhat = (x - mean) * invstd, invstd = 1/sqrt(var + eps);  y = xhat * w + b.
 * Backward (per channel, g = dy * w):
 *   training: dx += invstd/M * (M*g - sum(g) - xhat*sum(g*xhat))
 *   eval:     dx += g * invstd
 *   dw += sum(dy * xhat), db += sum(dy).
 * Kernels run in parallel over channels; each thread owns its channel's elements.
 * mean and invstd are saved in tape scratch (2*C floats).
 * Fused ReLU (cg_batch_norm2d_relu, what cg_conv2d_ex runs for a conv's batch norm that cannot
 * fold, followed by a ReLU): y =
 * max(bn(x), 0) in the same pass, and the backward masks dy by y > 0 as it reads it; the same
 * values and gradients as relu(batch_norm2d(x)), one tensor and two passes over memory fewer.
 * cg_batch_norm2d_relu6 does the same for a ReLU6 (y = hardtanh(bn(x), 0, 6), dy passed on
 * 0 < y < 6): the values and gradients of relu6(batch_norm2d(x)). */
#include <math.h>
#include "cg_internal.h"

typedef struct bn_geom { int64_t n, c, inner; } bn_geom;

/* Sums run over blocks of BN_BLOCK floats in float (vectorised: a double accumulator kept GCC's
 * loops scalar, 10% of the residual net's training step in perf), the blocks added in double, as
 * cg_sum_blocks does for the plain sum. */
#define BN_BLOCK 256

enum { BN_NONE = 0, BN_RELU = 1, BN_RELU6 = 2 };   /* the activation fused after the normalisation */

/* Channel c of bn_forward. Built twice (below): for the baseline and for AVX-512, where the CPU
 * has it; the two may differ in the last bits (wider vectors sum the blocks in another order, and
 * AVX-512 contracts to FMA), never with the thread count. */
static inline __attribute__((always_inline)) void bn_forward_channel(
    int64_t c, float *restrict y, float *restrict stats, const float *restrict x, const float *w, const float *b,
    float *rm, float *rv, const bn_geom *g, bool training, float momentum, float eps, int act) {
    const int64_t C = g->c, inner = g->inner, M = g->n * inner;
    double mean, var;
    if (training) {
        double s = 0;
        for (int64_t n = 0; n < g->n; n++) {
            if (n + 1 < g->n) cg_prefetch_plane(x + ((n + 1) * C + c) * inner, inner);
            s = cg_sum_blocks(s, x + (n * C + c) * inner, inner);
        }
        mean = s / (double)M;
        const float fmean = (float)mean;
        double v = 0;  /* about the float mean: its rounding shifts the sum by M * err^2 only */
        for (int64_t n = 0; n < g->n; n++) {
            const float *p = x + (n * C + c) * inner;
            for (int64_t i0 = 0; i0 < inner; i0 += BN_BLOCK) {
                const int64_t i1 = i0 + BN_BLOCK < inner ? i0 + BN_BLOCK : inner;
                float b2 = 0.0f;
                #pragma omp simd reduction(+ : b2)
                for (int64_t i = i0; i < i1; i++) { float d = p[i] - fmean; b2 += d * d; }
                v += b2;
            }
        }
        {   /* the exact correction for centring on the float mean: sum (x - m)^2 = sum (x - fm)^2 - M (m - fm)^2 */
            double e = mean - (double)fmean;
            v -= (double)M * e * e;
            if (v < 0) v = 0;
        }
        var = v / (double)M;
        if (rm) rm[c] = (1.0f - momentum) * rm[c] + momentum * (float)mean;
        if (rv) rv[c] = (1.0f - momentum) * rv[c] + momentum * (float)(v / (double)(M - 1));
    } else {
        mean = rm[c];
        var = rv[c];
    }
    float fm = (float)mean, is = (float)(1.0 / sqrt(var + (double)eps));
    stats[c] = fm;
    stats[C + c] = is;
    float sc = w ? w[c] : 1.0f, sh = b ? b[c] : 0.0f;
    for (int64_t n = 0; n < g->n; n++) {
        const float *p = x + (n * C + c) * inner;
        float *q = y + (n * C + c) * inner;
        if (act == BN_RELU) {
            #pragma omp simd
            for (int64_t i = 0; i < inner; i++) { float v = (p[i] - fm) * is * sc + sh; q[i] = v <= 0.0f ? 0.0f : v; }
        } else if (act == BN_RELU6) {  /* as cg_relu6 (hardtanh(0, 6)): NaN stays */
            #pragma omp simd
            for (int64_t i = 0; i < inner; i++) {
                float v = (p[i] - fm) * is * sc + sh;
                q[i] = cg_relu6_value(v);
            }
        } else {
            #pragma omp simd
            for (int64_t i = 0; i < inner; i++) q[i] = (p[i] - fm) * is * sc + sh;
        }
    }
}

typedef void bn_forward_fn(int64_t, float *restrict, float *restrict, const float *restrict, const float *,
                           const float *, float *, float *, const bn_geom *, bool, float, float, int);
static void bn_forward_generic(int64_t c, float *restrict y, float *restrict stats, const float *restrict x,
                               const float *w, const float *b, float *rm, float *rv, const bn_geom *g,
                               bool training, float momentum, float eps, int act) {
    bn_forward_channel(c, y, stats, x, w, b, rm, rv, g, training, momentum, eps, act);
}
#ifdef CG_HAVE_TARGET_AVX512
CG_TARGET_AVX512 static void bn_forward_avx512(int64_t c, float *restrict y, float *restrict stats,
                                               const float *restrict x, const float *w, const float *b, float *rm,
                                               float *rv, const bn_geom *g, bool training, float momentum,
                                               float eps, int act) {
    bn_forward_channel(c, y, stats, x, w, b, rm, rv, g, training, momentum, eps, act);
}
#endif

/* stats[0..C) = mean, stats[C..2C) = invstd; y = normalised x (then act: ReLU or ReLU6);
 * updates running stats. */
static void bn_forward(float *restrict y, float *restrict stats, const float *restrict x,
                       const float *w, const float *b, float *rm, float *rv,
                       const bn_geom *g, bool training, float momentum, float eps, int act) {
    const int64_t C = g->c, inner = g->inner;
    bn_forward_fn *fn = bn_forward_generic;
#ifdef CG_HAVE_TARGET_AVX512
    if (cg_cpu_has_avx512()) fn = bn_forward_avx512;
#endif
    #pragma omp parallel for if (g->n * C * inner >= CG_OMP_MIN) schedule(static)
    for (int64_t c = 0; c < C; c++) fn(c, y, stats, x, w, b, rm, rv, g, training, momentum, eps, act);
}

/* Channel c of bn_backward_kernel, built twice as bn_forward_channel. */
static inline __attribute__((always_inline)) void bn_backward_channel(
    int64_t c, float *dx, float *dw, float *db, const float *restrict dy, const float *restrict x,
    const float *restrict y, const float *w, const float *restrict stats, const bn_geom *g, bool training, bool fresh,
    bool six) {
    const int64_t C = g->c, inner = g->inner, M = g->n * inner;
    const float fm = stats[c], is = stats[C + c], sc = w ? w[c] : 1.0f;
    /* the mask: y > lim and not y >= hi. A ReLU6 passes dy on 0 < y < 6 (hardtanh's open
     * interval); a ReLU on y > 0, +inf too, so its hi is NaN (y >= NaN is false). One loop for
     * every case: a branch on `six` inside it let GCC build differently vectorised copies of the
     * loop, whose sums then differed from the unfused ops' in the last bits. */
    const float hi = cg_act_hi(six);
    double sdy = 0, sdyx = 0;  /* sum(dy), sum(dy * xhat): float blocks, added in double */
    const float lim = y ? 0.0f : -INFINITY;  /* no ReLU: the mask (dy against -inf) keeps all */
    for (int64_t n = 0; n < g->n; n++) {
        const int64_t o = (n * C + c) * inner;
        const float *p = x + o, *d = dy + o, *r = y ? y + o : d;
        if (n + 1 < g->n) {
            cg_prefetch_plane(p + C * inner, inner);
            cg_prefetch_plane(d + C * inner, inner);
            if (y) cg_prefetch_plane(r + C * inner, inner);
        }
        for (int64_t i0 = 0; i0 < inner; i0 += BN_BLOCK) {
            const int64_t i1 = i0 + BN_BLOCK < inner ? i0 + BN_BLOCK : inner;
            float s1 = 0.0f, s2 = 0.0f;
            #pragma omp simd reduction(+ : s1, s2)
            for (int64_t i = i0; i < i1; i++) {  /* every load first: see activation.c */
                float dv = d[i], rv = r[i], pv = p[i];
                float m = rv > lim && !(rv >= hi) ? dv : 0.0f;
                s1 += m;
                s2 += m * ((pv - fm) * is);
            }
            sdy += s1;
            sdyx += s2;
        }
    }
    if (dw) dw[c] += (float)sdyx;
    if (db) db[c] += (float)sdy;
    if (!dx) return;
    /* training, g = dy*sc: sum(g) = sc*sdy, sum(g*xhat) = sc*sdyx; eval: a = bb = 0 */
    const float k = sc * is, a = training ? (float)(sdy / (double)M) : 0.0f;
    const float bb = training ? (float)(sdyx / (double)M) : 0.0f;
    for (int64_t n = 0; n < g->n; n++) {
        const int64_t o = (n * C + c) * inner;
        /* without a ReLU the mask reads dy itself against -inf: always true except for
         * NaN, where either choice gives NaN */
        const float *p = x + o, *d = dy + o, *r = y ? y + o : d, lim = y ? 0.0f : -INFINITY;
        float *q = dx + o;
        if (fresh) {
            #pragma omp simd
            for (int64_t i = 0; i < inner; i++) {
                float dv = d[i], rv = r[i], pv = p[i];
                float m = rv > lim && !(rv >= hi) ? dv : 0.0f;
                q[i] = k * (m - a - (pv - fm) * is * bb);
            }
        } else {
            #pragma omp simd
            for (int64_t i = 0; i < inner; i++) {
                float dv = d[i], rv = r[i], pv = p[i], qv = q[i];
                float m = rv > lim && !(rv >= hi) ? dv : 0.0f;
                q[i] = qv + k * (m - a - (pv - fm) * is * bb);
            }
        }
    }
}

typedef void bn_backward_fn(int64_t, float *, float *, float *, const float *restrict, const float *restrict,
                            const float *restrict, const float *, const float *restrict, const bn_geom *, bool, bool,
                            bool);
static void bn_backward_generic(int64_t c, float *dx, float *dw, float *db, const float *restrict dy,
                                const float *restrict x, const float *restrict y, const float *w,
                                const float *restrict stats, const bn_geom *g, bool training, bool fresh, bool six) {
    bn_backward_channel(c, dx, dw, db, dy, x, y, w, stats, g, training, fresh, six);
}
#ifdef CG_HAVE_TARGET_AVX512
CG_TARGET_AVX512 static void bn_backward_avx512(int64_t c, float *dx, float *dw, float *db, const float *restrict dy,
                                                const float *restrict x, const float *restrict y, const float *w,
                                                const float *restrict stats, const bn_geom *g, bool training,
                                                bool fresh, bool six) {
    bn_backward_channel(c, dx, dw, db, dy, x, y, w, stats, g, training, fresh, six);
}
#endif

/* dx, dw, db (each may be NULL) += from dy; x, stats as saved by the forward. With a fused
 * ReLU (y, its output, given) dy counts only where y > 0, as relu's backward passes it; with a
 * ReLU6 (six) only where 0 < y < 6, as relu6's. fresh: dx is uninitialised, so = instead of +=. */
static void bn_backward_kernel(float *dx, float *dw, float *db, const float *restrict dy,
                               const float *restrict x, const float *restrict y, const float *w,
                               const float *restrict stats, const bn_geom *g, bool training, bool fresh, bool six) {
    const int64_t C = g->c, inner = g->inner;
    bn_backward_fn *fn = bn_backward_generic;
#ifdef CG_HAVE_TARGET_AVX512
    if (cg_cpu_has_avx512()) fn = bn_backward_avx512;
#endif
    #pragma omp parallel for if (g->n * C * inner >= CG_OMP_MIN) schedule(static)
    for (int64_t c = 0; c < C; c++) fn(c, dx, dw, db, dy, x, y, w, stats, g, training, fresh, six);
}

typedef struct bn_params { bn_geom g; bool training; int act; } bn_params;  /* on the node */

static cg_status bn_backward(cg_node *nd) {
    cg_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    float *dx = NULL, *dw = NULL, *db = NULL;
    bool fresh = false;
    if (cg_requires_grad(x) && !(dx = cg_grad_data_fresh(x, &fresh))) return CG_ENOMEM;
    if (cg_requires_grad(w) && !(dw = cg_grad_data(w))) return CG_ENOMEM;
    if (cg_requires_grad(b) && !(db = cg_grad_data(b))) return CG_ENOMEM;
    bn_params p;
    CG_GET_PARAMS(nd, &p);
    const float *y = p.act != BN_NONE ? nd->out->data : NULL;
    bn_backward_kernel(dx, dw, db, cg_out_grad(nd), x->data, y, w ? w->data : NULL, nd->aux, &p.g, p.training,
                       fresh, p.act == BN_RELU6);
    return CG_OK;
}

static const cg_op_def op_batch_norm = { "batch_norm2d", bn_backward };
static const cg_op_def op_batch_norm_relu = { "batch_norm2d_relu", bn_backward };
static const cg_op_def op_batch_norm_relu6 = { "batch_norm2d_relu6", bn_backward };

static bool is_channel_vec(const cg_tensor *t, int64_t C) { return !t || (t->ndim == 1 && t->shape[0] == C); }

static cg_tensor *batch_norm_op(cg_tensor *x, cg_tensor *weight, cg_tensor *bias, cg_tensor *running_mean,
                               cg_tensor *running_var, bool training, float momentum, float eps, int act) {
    if (!x) return NULL;
    CG_REQUIRE_F32("batch_norm2d", "input", x);
    CG_REQUIRE_F32("batch_norm2d", "weight", weight);
    CG_REQUIRE_F32("batch_norm2d", "bias", bias);
    CG_REQUIRE_F32("batch_norm2d", "running_mean", running_mean);
    CG_REQUIRE_F32("batch_norm2d", "running_var", running_var);
    double t0 = cg_profile_begin();
    char s[96];
    if (x->ndim < 2 || x->ndim > 4)
        return CG_FAIL(CG_ESHAPE, "batch_norm2d: input must be [N,C,H,W], [N,C,L] or [N,C], got %s",
                       cg_shape_str(s, sizeof s, x->ndim, x->shape));
    bn_geom g = { x->shape[0], x->shape[1], 1 };
    for (int i = 2; i < x->ndim; i++) g.inner *= x->shape[i];
    const char *names[4] = { "weight", "bias", "running_mean", "running_var" };
    cg_tensor *vecs[4] = { weight, bias, running_mean, running_var };
    for (int i = 0; i < 4; i++)
        if (!is_channel_vec(vecs[i], g.c))
            return CG_FAIL(CG_ESHAPE, "batch_norm2d: %s must be [%lld] for input %s", names[i],
                           (long long)g.c, cg_shape_str(s, sizeof s, x->ndim, x->shape));
    if (!training && (!running_mean || !running_var))
        return CG_FAIL(CG_EINVAL, "batch_norm2d: eval mode needs running_mean and running_var");
    if (training && g.n * g.inner <= 1)
        return CG_FAIL(CG_ESHAPE, "batch_norm2d: training needs more than 1 value per channel, input %s",
                       cg_shape_str(s, sizeof s, x->ndim, x->shape));
    if (!(eps > 0.0f) && !(eps == 0.0f))
        return CG_FAIL(CG_EINVAL, "batch_norm2d: eps = %g must not be negative", (double)eps);
    cg_tensor *y = cg_tape_tensor(x->ndim, x->shape);
    float *stats = cg_tape_scratch((size_t)(2 * (g.c ? g.c : 1)) * sizeof(float));
    if (!y || !stats) return NULL;
    bn_forward(y->data, stats, x->data, weight ? weight->data : NULL, bias ? bias->data : NULL,
               running_mean ? running_mean->data : NULL, running_var ? running_var->data : NULL,
               &g, training, momentum, eps, act);
    const cg_op_def *op = act == BN_RELU6 ? &op_batch_norm_relu6 : act == BN_RELU ? &op_batch_norm_relu : &op_batch_norm;
    cg_node *nd = cg_record(op, y, 3, (cg_tensor *[]){ x, weight, bias });
    if (!nd) return NULL;
    CG_SET_PARAMS(nd, &(bn_params){ .g = g, .training = training, .act = act });
    nd->aux = stats;
    cg_profile_end(op->name, 0, t0);
    return y;
}

cg_tensor *cg_batch_norm2d(cg_tensor *x, cg_tensor *weight, cg_tensor *bias, cg_tensor *running_mean,
                           cg_tensor *running_var, bool training, float momentum, float eps) {
    return batch_norm_op(x, weight, bias, running_mean, running_var, training, momentum, eps, BN_NONE);
}

cg_tensor *cg_batch_norm2d_relu(cg_tensor *x, cg_tensor *weight, cg_tensor *bias, cg_tensor *running_mean,
                                cg_tensor *running_var, bool training, float momentum, float eps) {
    return batch_norm_op(x, weight, bias, running_mean, running_var, training, momentum, eps, BN_RELU);
}

cg_tensor *cg_batch_norm2d_relu6(cg_tensor *x, cg_tensor *weight, cg_tensor *bias, cg_tensor *running_mean,
                                 cg_tensor *running_var, bool training, float momentum, float eps) {
    return batch_norm_op(x, weight, bias, running_mean, running_var, training, momentum, eps, BN_RELU6);
}
