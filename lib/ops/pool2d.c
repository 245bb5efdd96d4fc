/* SPDX-License-Identifier: MIT */
/* lib/ops/pool2d.c — max and average pooling over the last two dims of [N,C,H,W] (or [C,H,W]).
 *
 * Shape rule: OH = (H + 2*ph - KH) / sh + 1 (floor, PyTorch's ceil_mode=false), likewise OW;
 * padding must be at most half the kernel (PyTorch's rule), so no window is all padding.
 * max: padding acts as -inf; NaN propagates (as PyTorch). Backward routes dy to the argmax,
 *      saved as int32 offsets within the plane in tape scratch.
 * avg: count_include_pad = true, so every window divides by KH*KW.
 * adaptive avg and max: [N,C,H,W] -> [N,C,OH,OW] for any OH, OW >= 1 (larger than H, W too), cell
 *      i covering [floor(i*H/OH), ceil((i+1)*H/OH)); max as max_pool2d (first max wins, NaN
 *      propagates); cells may overlap, so its backward adds.
 * All run in parallel over the N*C planes; each thread owns its planes' outputs and grads. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "cg_internal.h"

cg_pool2d_params cg_pool2d_defaults(int64_t k) {
    return (cg_pool2d_params){ .kernel = { k, k }, .stride = { k, k }, .padding = { 0, 0 } };
}

typedef struct pool_geom {
    int64_t planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow;
} pool_geom;

/* "64" for a square extent, "64x32" otherwise (messages). */
static const char *extent_str(char *b, size_t n, int64_t h, int64_t w) {
    if (h == w) snprintf(b, n, "%lld", (long long)h);
    else snprintf(b, n, "%lldx%lld", (long long)h, (long long)w);
    return b;
}

/* The shape rule of max_pool2d and avg_pool2d (op names them in messages): checks, and
 * x_shape with its last two dims replaced by OH, OW into out_shape. */
static cg_status pool_out_shape(const char *op, int ndim, const int64_t *x_shape, const cg_pool2d_params *p,
                                int64_t *out_shape) {
    char s[96];
    if (ndim != 4 && ndim != 3)
        return cg_error(CG_ESHAPE, "%s: input must be [N,C,H,W] or [C,H,W], got %s", op,
                        ndim >= 0 && ndim <= CG_MAX_DIMS ? cg_shape_str(s, sizeof s, ndim, x_shape) : "?");
    for (int i = 0; i < 2; i++) {
        if (p->kernel[i] <= 0)
            return cg_error(CG_EINVAL, "%s: kernel[%d] = %lld must be positive", op, i, (long long)p->kernel[i]);
        if (p->stride[i] <= 0)
            return cg_error(CG_EINVAL, "%s: stride[%d] = %lld must be positive", op, i, (long long)p->stride[i]);
        if (p->padding[i] < 0 || p->padding[i] > p->kernel[i] / 2)  /* not 2 * padding: it may overflow */
            return cg_error(CG_EINVAL, "%s: padding[%d] = %lld must be in [0, kernel/2 = %lld]", op, i,
                            (long long)p->padding[i], (long long)(p->kernel[i] / 2));
    }
    const int64_t h = x_shape[ndim - 2], w = x_shape[ndim - 1];
    const int64_t planes = ndim == 4 ? x_shape[0] * x_shape[1] : x_shape[0];
    /* Overflow-safe: padding <= kernel/2, but the kernel may be anything up to INT64_MAX. */
    int64_t padh, padw;
    if (__builtin_add_overflow(h, 2 * p->padding[0], &padh))
        return cg_error(CG_EINVAL, "%s: padding[0] = %lld on input height %lld overflows int64", op,
                        (long long)p->padding[0], (long long)h);
    if (__builtin_add_overflow(w, 2 * p->padding[1], &padw))
        return cg_error(CG_EINVAL, "%s: padding[1] = %lld on input width %lld overflows int64", op,
                        (long long)p->padding[1], (long long)w);
    if (p->kernel[0] > padh || p->kernel[1] > padw)
        return cg_error(CG_ESHAPE, "%s: kernel %s is larger than the padded input %lldx%lld", op,
                        extent_str(s, sizeof s, p->kernel[0], p->kernel[1]), (long long)padh, (long long)padw);
    if (h * w > INT32_MAX)
        return cg_error(CG_ESHAPE, "%s: a plane of %lldx%lld is too large", op, (long long)h, (long long)w);
    const int64_t oh = (padh - p->kernel[0]) / p->stride[0] + 1, ow = (padw - p->kernel[1]) / p->stride[1] + 1;
    int64_t out;
    if (__builtin_mul_overflow(oh, ow, &out) || __builtin_mul_overflow(out, planes, &out) ||
        out > ((int64_t)1 << 44))
        return cg_error(CG_ESHAPE, "%s: the output of %lld planes of %lldx%lld is too large (padding [%lld, %lld])",
                        op, (long long)planes, (long long)oh, (long long)ow, (long long)p->padding[0],
                        (long long)p->padding[1]);
    for (int i = 0; i < ndim - 2; i++) out_shape[i] = x_shape[i];
    out_shape[ndim - 2] = oh;
    out_shape[ndim - 1] = ow;
    return CG_OK;
}

cg_status cg_pool2d_out_shape(int ndim, const int64_t *x_shape, const cg_pool2d_params *p, int64_t *out_shape) {
    if (!x_shape || !p || !out_shape) return cg_error(CG_EINVAL, "pool2d_out_shape: an argument is NULL");
    return pool_out_shape("pool2d", ndim, x_shape, p, out_shape);
}

static cg_status pool_geom_make(const char *op, const cg_tensor *x, const cg_pool2d_params *p, pool_geom *g) {
    if (cg_check_dtype(op, "input", x, CG_F32) != CG_OK) return CG_EINVAL;
    int64_t y_shape[4];
    cg_status st = pool_out_shape(op, x->ndim, x->shape, p, y_shape);
    if (st != CG_OK) return st;
    g->h = x->shape[x->ndim - 2];
    g->w = x->shape[x->ndim - 1];
    if (x->ndim == 4) g->planes = x->shape[0] * x->shape[1];
    else g->planes = x->shape[0];
    g->kh = p->kernel[0]; g->kw = p->kernel[1];
    g->sh = p->stride[0]; g->sw = p->stride[1];
    g->ph = p->padding[0]; g->pw = p->padding[1];
    g->oh = y_shape[x->ndim - 2];
    g->ow = y_shape[x->ndim - 1];
    return CG_OK;
}

/* What both pools do first: check the arguments, fill g, and make the tape-owned output
 * [..., OH, OW]. NULL on error. */
static cg_tensor *pool_output(const char *op, const cg_tensor *x, const cg_pool2d_params *p, pool_geom *g) {
    if (!p) return CG_FAIL(CG_EINVAL, "%s: params is NULL", op);
    if (pool_geom_make(op, x, p, g) != CG_OK) return NULL;
    int64_t shape[4];
    for (int i = 0; i < x->ndim - 2; i++) shape[i] = x->shape[i];
    shape[x->ndim - 2] = g->oh;
    shape[x->ndim - 1] = g->ow;
    return cg_tape_tensor(x->ndim, shape);
}

/* ---- max ----------------------------------------------------------------- */
/* 2x2, stride 2, no padding: y[P,OH,OW], arg[P,OH,OW] from x[P,H,W]. Same result as the
 * general loop: scan order (0,0) (0,1) (1,0) (1,1), strict > (first max wins), and a window
 * holding a NaN takes its first NaN. A pair of input rows without NaN (checked first, in one
 * vector pass) takes a branch-free loop of selects that GCC vectorises; a row pair holding a
 * NaN goes window by window. */
static void max_pool_forward_2x2(float *restrict y, int32_t *restrict arg, const float *restrict x, const pool_geom *g) {
    const int64_t ohw = g->oh * g->ow, hw = g->h * g->w, W = g->w, OW = g->ow;
    #pragma omp parallel for if (g->planes * ohw * 4 >= CG_OMP_MIN) schedule(static)
    for (int64_t p = 0; p < g->planes; p++) {
        const float *xp = x + p * hw;
        float *yp = y + p * ohw;
        int32_t *ap = arg + p * ohw;
        for (int64_t oh = 0; oh < g->oh; oh++) {
            const float *r0 = xp + 2 * oh * W, *r1 = r0 + W;
            int nan = 0;
            #pragma omp simd reduction(| : nan)
            for (int64_t j = 0; j < 2 * OW; j++) nan |= (r0[j] != r0[j]) | (r1[j] != r1[j]);
            if (!nan) {
                const int32_t base = (int32_t)(2 * oh * W), w32 = (int32_t)W;
                float *yr = yp + oh * OW;
                int32_t *ar = ap + oh * OW;
                #pragma omp simd
                for (int64_t ow = 0; ow < OW; ow++) {
                    float v0 = r0[2 * ow], v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];
                    int32_t i0 = base + 2 * (int32_t)ow, k = i0;
                    float m = v0;
                    k = v1 > m ? i0 + 1 : k;       m = v1 > m ? v1 : m;
                    k = v2 > m ? i0 + w32 : k;     m = v2 > m ? v2 : m;
                    k = v3 > m ? i0 + w32 + 1 : k; m = v3 > m ? v3 : m;
                    yr[ow] = m;
                    ar[ow] = k;
                }
                continue;
            }
            for (int64_t ow = 0; ow < OW; ow++) {
                float v[4] = { r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1] };
                int k = 0;
                if (v[0] == v[0] && v[1] == v[1] && v[2] == v[2] && v[3] == v[3]) {
                    float m = v[0];  /* no NaN: branch-free strict-> chain (first max wins) */
                    k = v[1] > m ? 1 : 0; m = v[1] > m ? v[1] : m;
                    k = v[2] > m ? 2 : k; m = v[2] > m ? v[2] : m;
                    k = v[3] > m ? 3 : k;
                } else if (!isnan(v[0])) {
                    for (int j = 1; j < 4; j++)
                        if (v[j] > v[k] || isnan(v[j])) { k = j; if (isnan(v[j])) break; }
                }
                yp[oh * g->ow + ow] = v[k];
                ap[oh * g->ow + ow] = (int32_t)((2 * oh + (k >> 1)) * W + 2 * ow + (k & 1));
            }
        }
    }
}

/* y[P,OH,OW] = max over the window of x[P,H,W]; arg[P,OH,OW] = offset of the max in its plane */
static void max_pool_forward(float *restrict y, int32_t *restrict arg, const float *restrict x, const pool_geom *g) {
    const int64_t ohw = g->oh * g->ow, hw = g->h * g->w;
    if (g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0) {
        max_pool_forward_2x2(y, arg, x, g);
        return;
    }
    #pragma omp parallel for if (g->planes * ohw * g->kh * g->kw >= CG_OMP_MIN) schedule(static)
    for (int64_t p = 0; p < g->planes; p++) {
        const float *xp = x + p * hw;
        for (int64_t oh = 0; oh < g->oh; oh++) {
            int64_t h0 = oh * g->sh - g->ph;
            for (int64_t ow = 0; ow < g->ow; ow++) {
                int64_t w0 = ow * g->sw - g->pw;
                float best = -INFINITY;
                int64_t bi = -1;
                for (int64_t i = h0 < 0 ? 0 : h0; i < h0 + g->kh && i < g->h; i++)
                    for (int64_t j = w0 < 0 ? 0 : w0; j < w0 + g->kw && j < g->w; j++) {
                        float v = xp[i * g->w + j];
                        if (bi < 0 || v > best || isnan(v)) {
                            best = v;
                            bi = i * g->w + j;
                            if (isnan(v)) goto done;
                        }
                    }
            done:
                y[p * ohw + oh * g->ow + ow] = best;
                arg[p * ohw + oh * g->ow + ow] = (int32_t)bi;
            }
        }
    }
}

/* dx[P,H,W] += dy routed to the saved argmax — parallel over planes. fresh: dx is uninitialised,
 * so each plane is zeroed first (by the thread that owns it, while it is in cache). */
static void max_pool_backward_kernel(float *restrict dx, const float *restrict dy, const int32_t *restrict arg,
                                     int64_t planes, int64_t ohw, int64_t hw, bool fresh) {
    #pragma omp parallel for if (planes * ohw >= CG_OMP_MIN) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        if (fresh) memset(dx + p * hw, 0, (size_t)hw * sizeof(float));
        for (int64_t i = 0; i < ohw; i++) {
            int32_t a = arg[p * ohw + i];
            if (a >= 0) dx[p * hw + a] += dy[p * ohw + i];
        }
    }
}

static cg_status max_pool_backward(cg_node *n) {
    bool fresh;
    float *dx = cg_grad_data_fresh(n->in[0], &fresh);
    if (!dx) return CG_ENOMEM;
    pool_geom g;
    CG_GET_PARAMS(n, &g);
    max_pool_backward_kernel(dx, cg_out_grad(n), n->aux, g.planes, g.oh * g.ow, g.h * g.w, fresh);
    return CG_OK;
}

static const cg_op_def op_max_pool2d = { "max_pool2d", max_pool_backward };

/* Records a max pooling (plain or adaptive) of x into y, whose argmax offsets are arg. */
static cg_tensor *record_max(const cg_op_def *def, cg_tensor *x, cg_tensor *y, int32_t *arg, const pool_geom *g,
                             double t0) {
    cg_node *n = cg_record(def, y, 1, &x);
    if (!n) return NULL;
    CG_SET_PARAMS(n, g);
    n->aux = arg;
    cg_profile_end(def->name, 0, t0);
    return y;
}

cg_tensor *cg_max_pool2d(cg_tensor *x, const cg_pool2d_params *p) {
    if (!x) return NULL;
    double t0 = cg_profile_begin();
    pool_geom g;
    cg_tensor *y = pool_output("max_pool2d", x, p, &g);
    if (!y) return NULL;
    int32_t *arg = cg_tape_scratch((size_t)y->numel * sizeof(int32_t));
    if (!arg) return NULL;
    max_pool_forward(y->data, arg, x->data, &g);
    return record_max(&op_max_pool2d, x, y, arg, &g, t0);
}

/* ---- average ------------------------------------------------------------- */
/* y[P,OH,OW] = sum over the window of x[P,H,W] / (KH*KW); padding counts as zeros */
static void avg_pool_forward(float *restrict y, const float *restrict x, const pool_geom *g) {
    const int64_t ohw = g->oh * g->ow, hw = g->h * g->w;
    const float inv = 1.0f / (float)(g->kh * g->kw);
    #pragma omp parallel for if (g->planes * ohw * g->kh * g->kw >= CG_OMP_MIN) schedule(static)
    for (int64_t p = 0; p < g->planes; p++) {
        const float *xp = x + p * hw;
        for (int64_t oh = 0; oh < g->oh; oh++) {
            int64_t h0 = oh * g->sh - g->ph;
            for (int64_t ow = 0; ow < g->ow; ow++) {
                int64_t w0 = ow * g->sw - g->pw;
                float s = 0.0f;
                for (int64_t i = h0 < 0 ? 0 : h0; i < h0 + g->kh && i < g->h; i++)
                    for (int64_t j = w0 < 0 ? 0 : w0; j < w0 + g->kw && j < g->w; j++) s += xp[i * g->w + j];
                y[p * ohw + oh * g->ow + ow] = s * inv;
            }
        }
    }
}

/* dx[P,H,W] += dy[P,OH,OW] / (KH*KW) spread over each window — parallel over planes */
static void avg_pool_backward_kernel(float *restrict dx, const float *restrict dy, const pool_geom *g) {
    const int64_t ohw = g->oh * g->ow, hw = g->h * g->w;
    const float inv = 1.0f / (float)(g->kh * g->kw);
    #pragma omp parallel for if (g->planes * ohw * g->kh * g->kw >= CG_OMP_MIN) schedule(static)
    for (int64_t p = 0; p < g->planes; p++) {
        float *dxp = dx + p * hw;
        for (int64_t oh = 0; oh < g->oh; oh++) {
            int64_t h0 = oh * g->sh - g->ph;
            for (int64_t ow = 0; ow < g->ow; ow++) {
                int64_t w0 = ow * g->sw - g->pw;
                float d = dy[p * ohw + oh * g->ow + ow] * inv;
                for (int64_t i = h0 < 0 ? 0 : h0; i < h0 + g->kh && i < g->h; i++)
                    for (int64_t j = w0 < 0 ? 0 : w0; j < w0 + g->kw && j < g->w; j++) dxp[i * g->w + j] += d;
            }
        }
    }
}

static cg_status avg_pool_backward(cg_node *n) {
    float *dx = cg_grad_data(n->in[0]);
    if (!dx) return CG_ENOMEM;
    pool_geom g;
    CG_GET_PARAMS(n, &g);
    avg_pool_backward_kernel(dx, cg_out_grad(n), &g);
    return CG_OK;
}

static const cg_op_def op_avg_pool2d = { "avg_pool2d", avg_pool_backward };

cg_tensor *cg_avg_pool2d(cg_tensor *x, const cg_pool2d_params *p) {
    if (!x) return NULL;
    double t0 = cg_profile_begin();
    pool_geom g;
    cg_tensor *y = pool_output("avg_pool2d", x, p, &g);
    if (!y) return NULL;
    avg_pool_forward(y->data, x->data, &g);
    cg_node *n = cg_record(&op_avg_pool2d, y, 1, &x);
    if (!n) return NULL;
    CG_SET_PARAMS(n, &g);
    cg_profile_end("avg_pool2d", 0, t0);
    return y;
}

/* ---- adaptive average ---------------------------------------------------- */
/* Output cell i of n over an input extent of len covers [floor(i*len/n), ceil((i+1)*len/n)). */
static inline int64_t bin_lo(int64_t i, int64_t len, int64_t n) { return i * len / n; }
static inline int64_t bin_hi(int64_t i, int64_t len, int64_t n) { return ((i + 1) * len + n - 1) / n; }

/* y[P,OH,OW] = the mean of each cell's window of x[P,H,W]; sums in double */
static void adaptive_avg_forward(float *restrict y, const float *restrict x, const pool_geom *g) {
    const int64_t ohw = g->oh * g->ow, hw = g->h * g->w;
    #pragma omp parallel for if (g->planes * hw >= CG_OMP_MIN) schedule(static)
    for (int64_t p = 0; p < g->planes; p++) {
        const float *xp = x + p * hw;
        for (int64_t oh = 0; oh < g->oh; oh++) {
            const int64_t h0 = bin_lo(oh, g->h, g->oh), h1 = bin_hi(oh, g->h, g->oh);
            for (int64_t ow = 0; ow < g->ow; ow++) {
                const int64_t w0 = bin_lo(ow, g->w, g->ow), w1 = bin_hi(ow, g->w, g->ow);
                double s = 0.0;
                for (int64_t i = h0; i < h1; i++)
                    for (int64_t j = w0; j < w1; j++) s += xp[i * g->w + j];
                y[p * ohw + oh * g->ow + ow] = (float)(s / (double)((h1 - h0) * (w1 - w0)));
            }
        }
    }
}

/* dx[P,H,W] += dy[P,OH,OW] / cell size, spread over each cell's window */
static void adaptive_avg_backward_kernel(float *restrict dx, const float *restrict dy, const pool_geom *g) {
    const int64_t ohw = g->oh * g->ow, hw = g->h * g->w;
    #pragma omp parallel for if (g->planes * hw >= CG_OMP_MIN) schedule(static)
    for (int64_t p = 0; p < g->planes; p++) {
        float *dxp = dx + p * hw;
        for (int64_t oh = 0; oh < g->oh; oh++) {
            const int64_t h0 = bin_lo(oh, g->h, g->oh), h1 = bin_hi(oh, g->h, g->oh);
            for (int64_t ow = 0; ow < g->ow; ow++) {
                const int64_t w0 = bin_lo(ow, g->w, g->ow), w1 = bin_hi(ow, g->w, g->ow);
                const float d = dy[p * ohw + oh * g->ow + ow] / (float)((h1 - h0) * (w1 - w0));
                for (int64_t i = h0; i < h1; i++)
                    for (int64_t j = w0; j < w1; j++) dxp[i * g->w + j] += d;
            }
        }
    }
}

static cg_status adaptive_avg_backward(cg_node *n) {
    float *dx = cg_grad_data(n->in[0]);
    if (!dx) return CG_ENOMEM;
    pool_geom g;
    CG_GET_PARAMS(n, &g);
    adaptive_avg_backward_kernel(dx, cg_out_grad(n), &g);
    return CG_OK;
}

static const cg_op_def op_adaptive_avg_pool2d = { "adaptive_avg_pool2d", adaptive_avg_backward };

/* The shape rule of adaptive pooling (op names it in messages): x[N,C,H,W] -> [N,C,oh,ow]. */
static cg_status adaptive_out_shape(const char *op, int ndim, const int64_t *x_shape, int64_t oh, int64_t ow,
                                    int64_t *out_shape) {
    char s[96];
    if (ndim != 4)
        return cg_error(CG_ESHAPE, "%s: input must be [N,C,H,W], got %s", op,
                        ndim >= 0 && ndim <= CG_MAX_DIMS ? cg_shape_str(s, sizeof s, ndim, x_shape) : "?");
    /* bin_hi multiplies (i + 1) * len with i < the output size */
    if (oh <= 0 || ow <= 0 || oh > INT32_MAX || ow > INT32_MAX || x_shape[2] > INT32_MAX || x_shape[3] > INT32_MAX)
        return cg_error(CG_EINVAL, "%s: output %lldx%lld must be positive and at most 2^31-1 each (input %s)", op,
                        (long long)oh, (long long)ow, cg_shape_str(s, sizeof s, ndim, x_shape));
    if (x_shape[2] == 0 || x_shape[3] == 0)
        return cg_error(CG_ESHAPE, "%s: input %s has an empty plane", op, cg_shape_str(s, sizeof s, ndim, x_shape));
    int64_t shape[4] = { x_shape[0], x_shape[1], oh, ow };
    cg_status st = cg_check_shape(op, 4, shape);
    if (st != CG_OK) return st;
    memcpy(out_shape, shape, sizeof shape);
    return CG_OK;
}

cg_status cg_adaptive_pool2d_out_shape(int ndim, const int64_t *x_shape, int64_t oh, int64_t ow, int64_t *out_shape) {
    if (!x_shape || !out_shape) return cg_error(CG_EINVAL, "adaptive_pool2d_out_shape: an argument is NULL");
    return adaptive_out_shape("adaptive_pool2d", ndim, x_shape, oh, ow, out_shape);
}

/* The output of adaptive pooling x[N,C,H,W] to [N,C,oh,ow], or NULL with the error set. */
static cg_tensor *adaptive_output(const char *op, const cg_tensor *x, int64_t oh, int64_t ow, pool_geom *g) {
    CG_REQUIRE_F32(op, "input", x);
    int64_t shape[4];
    if (adaptive_out_shape(op, x->ndim, x->shape, oh, ow, shape) != CG_OK) return NULL;
    *g = (pool_geom){ .planes = x->shape[0] * x->shape[1], .h = x->shape[2], .w = x->shape[3], .oh = oh, .ow = ow };
    return cg_tape_tensor(4, shape);
}

cg_tensor *cg_adaptive_avg_pool2d(cg_tensor *x, int64_t oh, int64_t ow) {
    if (!x) return NULL;
    double t0 = cg_profile_begin();
    pool_geom g;
    cg_tensor *y = adaptive_output("adaptive_avg_pool2d", x, oh, ow, &g);
    if (!y) return NULL;
    adaptive_avg_forward(y->data, x->data, &g);
    cg_node *n = cg_record(&op_adaptive_avg_pool2d, y, 1, &x);
    if (!n) return NULL;
    CG_SET_PARAMS(n, &g);
    cg_profile_end("adaptive_avg_pool2d", 0, t0);
    return y;
}

/* ---- adaptive max -------------------------------------------------------- */
/* y[P,OH,OW] = the max of each cell's window of x[P,H,W]; arg = its offset in the plane */
static void adaptive_max_forward(float *restrict y, int32_t *restrict arg, const float *restrict x, const pool_geom *g) {
    const int64_t ohw = g->oh * g->ow, hw = g->h * g->w;
    #pragma omp parallel for if (g->planes * (ohw > hw ? ohw : hw) >= CG_OMP_MIN) schedule(static)
    for (int64_t p = 0; p < g->planes; p++) {
        const float *xp = x + p * hw;
        for (int64_t oh = 0; oh < g->oh; oh++) {
            const int64_t h0 = bin_lo(oh, g->h, g->oh), h1 = bin_hi(oh, g->h, g->oh);
            for (int64_t ow = 0; ow < g->ow; ow++) {
                const int64_t w0 = bin_lo(ow, g->w, g->ow), w1 = bin_hi(ow, g->w, g->ow);
                int64_t bi = h0 * g->w + w0;
                float best = xp[bi];
                for (int64_t i = h0; i < h1 && !isnan(best); i++)
                    for (int64_t j = w0; j < w1; j++) {
                        float v = xp[i * g->w + j];
                        if (v > best || isnan(v)) {
                            best = v;
                            bi = i * g->w + j;
                            if (isnan(v)) break;
                        }
                    }
                y[p * ohw + oh * g->ow + ow] = best;
                arg[p * ohw + oh * g->ow + ow] = (int32_t)bi;
            }
        }
    }
}

/* The backward is max_pool2d's: dy to each cell's argmax, adding where cells share one. */
static const cg_op_def op_adaptive_max_pool2d = { "adaptive_max_pool2d", max_pool_backward };

cg_tensor *cg_adaptive_max_pool2d(cg_tensor *x, int64_t oh, int64_t ow) {
    if (!x) return NULL;
    double t0 = cg_profile_begin();
    pool_geom g;
    cg_tensor *y = adaptive_output("adaptive_max_pool2d", x, oh, ow, &g);
    if (!y) return NULL;
    if (g.h * g.w > INT32_MAX)
        return CG_FAIL(CG_EINVAL, "adaptive_max_pool2d: a plane of %lldx%lld is over 2^31-1 elements",
                       (long long)g.h, (long long)g.w);
    int32_t *arg = cg_tape_scratch((size_t)y->numel * sizeof(int32_t));
    if (!arg) return NULL;
    adaptive_max_forward(y->data, arg, x->data, &g);
    return record_max(&op_adaptive_max_pool2d, x, y, arg, &g, t0);
}
