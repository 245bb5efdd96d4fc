/* SPDX-License-Identifier: MIT */
/* lib/ops/conv2d.c — 2-D convolution (cross-correlation, as PyTorch) by im2col + sgemm.
 *
 * Shape rule: x[N,C,H,W], w[OC,C/groups,KH,KW], b[OC] or NULL -> y[N,OC,OH,OW] with
 *   OH = (H + 2*ph - dh*(KH-1) - 1) / sh + 1   (and likewise OW).
 * C and OC must be divisible by groups.
 *
 * GEMM layout: one im2col and one sgemm per image and group. The columns of image n are
 * cols[C*KH*KW, OH*OW]; group g owns rows g*Cg*KH*KW .. and y[n, g*OCg.., :] = W_g · cols_g lands
 * in NCHW directly, so no transpose is needed. The column buffer is one image big (not the
 * batch), so it stays in cache-sized territory (seed conv2: 288 x 576 floats = 648 KiB).
 * A 1x1, stride-1, unpadded, undilated conv skips im2col: x[n] already is cols[C, H*W].
 * A 3x3, stride-1, undilated, ungrouped conv with at least 4 input channels takes Winograd
 * F(2x2, 3x3) instead (lib/ops/winograd.c): per image, 16 GEMMs [OC,C] x [C,T] over its T 2x2
 * tiles, 2.25x fewer flops than im2col's; its backward runs the transforms' adjoints, dW's
 * chunks sum the transformed dU (16 x OC x C) and the sum is transformed back once. Measured by
 * bench-train at 1 thread (2026-12-01, SkylakeX kernels): the seed net 1064-1089 -> 1190-1240
 * img/s training, 3956-4029 -> 4989-5182 evaluation; the BatchNorm residual net 267-271 -> 331
 * training, 1057-1080 -> 1385-1430 evaluation. The node records the choice its forward made.
 * A depthwise layer (groups == C, OC = M * C; any stride, padding, dilation) takes direct kernels
 * instead (lib/ops/conv2d_depthwise.c, CG_CONFIG_CONV_DEPTHWISE): im2col there copies every input
 * KH*KW times for GEMMs of one row; its node is "conv2d_dw" ("conv2d_dw_relu", "conv2d_dw_relu6");
 * a fused pool runs as its own op after it.
 *
 * Scheduling (cgrad links OpenBLAS's OpenMP build: an sgemm called inside an OpenMP parallel
 * region runs single-threaded on the calling thread, outside one it uses the whole pool):
 *   - N >= 2 * threads: OpenMP threads over images (dynamic, one image or one dW chunk at a time),
 *     each thread with its own slab of the workspace and single-threaded sgemms;
 *   - otherwise (batch 1 ImageNet layers): one image at a time, BLAS threads inside each sgemm.
 * Measured by bench/bench-conv on the seed's conv2 (2 shared cores, docs/benchmarks.md):
 * forward 9.5 ms threads-over-images vs 19.7 ms serial-with-threaded-BLAS (backward likewise);
 * an earlier batched GEMM (cols for the whole batch) was 53-57 ms with a 41 MiB workspace.
 * Blocking im2col by output rows to keep the block in L2 (CG_CONFIG_CONV_BLOCK_BYTES) did not help.
 *
 * Backward per image:
 *   dW_g += dy_ng · cols_gᵀ     (sgemm, beta = 1) into the partial of the image's chunk: the
 *                               batch is cut into CONV_DW_CHUNKS fixed chunks whose partials are
 *                               added in order, so dW does not depend on the thread count;
 *   dcols_g = W_gᵀ · dy_ng       (sgemm, beta = 0), then col2im into dx[n] (the image's own slice);
 *   db[oc] += sum dy[n,oc,:,:]  per image (in double), into the chunk's partial like dW.
 *
 * Epilogue (cg_conv2d_ex; the decision what fuses is made there, once per call): bias, a batch norm
 * folded into the weights (inference), ReLU or ReLU6, a 2x2 max-pool (inference).
 * Fused ReLU: y = max(conv + b, 0) (ReLU6: min(max(conv + b, 0), 6)) is formed per image right after its GEMM,
 * while the image's output is still in cache, and the backward masks dy by y > 0 (ReLU6: 0 < y < 6) per image into
 * a per-thread buffer that both GEMMs and db's sums then read. Against cg_relu(cg_conv2d(..))
 * this drops a tensor and two passes over memory (relu forward, relu backward); the results are
 * the same
 * (relu passes NaN through; it passes the gradient where its output is positive, NaN counts as
 * not positive).
 * Workspace: borrowed for the call from the thread's scratch arena (lib/core/arena.c, owned by
 * the tape): threads x (cols + dcols [+ masked dy]) + chunks x (dW [+ db]);
 * bench-conv reports its size (seed conv2: 3.1 MiB). After the first step it allocates nothing.
 *
 * Switches (include/cgrad/config.h): conv_plan_make reads them once per call into the plan
 * (Winograd or not, the dense im2col loops, the forward block, the schedule); the loops read the
 * plan, and a node's backward keeps its forward's choices. */
#include <math.h>
#include <omp.h>
#include "cg_internal.h"
#include "conv2d_depthwise.h"
#include "im2col.h"

/* ---- the shape rule ------------------------------------------------------ */
/* "29" for a square extent, "29x31" otherwise (messages). */
static const char *extent_str(char *b, size_t n, int64_t h, int64_t w) {
    if (h == w) snprintf(b, n, "%lld", (long long)h);
    else snprintf(b, n, "%lldx%lld", (long long)h, (long long)w);
    return b;
}

/* What cg_conv2d checks of shapes and parameters, and its output shape (see ops.h). Used by the
 * op's plan and by nets checked before they are built (lib/nn/spec.c). */
cg_status cg_conv2d_out_shape(int ndim, const int64_t *x_shape, const int64_t *w_shape, const cg_conv2d_params *p,
                              int64_t *out_shape) {
    char s1[96], s2[96], k1[48], k2[48];
    if (!x_shape || !w_shape || !p || !out_shape) return cg_error(CG_EINVAL, "conv2d_out_shape: an argument is NULL");
    if (ndim != 4)
        return cg_error(CG_ESHAPE, "conv2d: input must be 4-d [N,C,H,W], got %d dims", ndim);
    for (int i = 0; i < 2; i++) {
        if (p->stride[i] <= 0)
            return cg_error(CG_EINVAL, "conv2d: stride[%d] = %lld must be positive", i, (long long)p->stride[i]);
        if (p->dilation[i] <= 0)
            return cg_error(CG_EINVAL, "conv2d: dilation[%d] = %lld must be positive", i, (long long)p->dilation[i]);
        if (p->padding[i] < 0)
            return cg_error(CG_EINVAL, "conv2d: padding[%d] = %lld must not be negative", i, (long long)p->padding[i]);
    }
    if (p->groups <= 0) return cg_error(CG_EINVAL, "conv2d: groups = %lld must be positive", (long long)p->groups);
    const int64_t N = x_shape[0], C = x_shape[1], H = x_shape[2], W = x_shape[3], OC = w_shape[0];
    const int64_t KH = w_shape[2], KW = w_shape[3];
    if (C % p->groups)
        return cg_error(CG_ESHAPE, "conv2d: input channels %lld are not divisible by groups %lld",
                        (long long)C, (long long)p->groups);
    if (OC % p->groups)
        return cg_error(CG_ESHAPE, "conv2d: output channels %lld are not divisible by groups %lld",
                        (long long)OC, (long long)p->groups);
    if (w_shape[1] != C / p->groups)
        return cg_error(CG_ESHAPE, "conv2d: weight %s expects %lld input channels per group, input %s has %lld (groups %lld)",
                        cg_shape_str(s1, sizeof s1, 4, w_shape), (long long)w_shape[1],
                        cg_shape_str(s2, sizeof s2, 4, x_shape), (long long)(C / p->groups), (long long)p->groups);
    if (KH <= 0 || KW <= 0)
        return cg_error(CG_ESHAPE, "conv2d: kernel %lldx%lld is empty", (long long)KH, (long long)KW);
    /* Overflow-safe: every parameter may be anything up to INT64_MAX. */
    int64_t ekh, ekw, padh, padw, padhw;
    if (__builtin_mul_overflow(p->dilation[0], KH - 1, &ekh) || __builtin_add_overflow(ekh, 1, &ekh))
        return cg_error(CG_EINVAL, "conv2d: dilation[0] = %lld with kernel height %lld spans more than int64 allows",
                        (long long)p->dilation[0], (long long)KH);
    if (__builtin_mul_overflow(p->dilation[1], KW - 1, &ekw) || __builtin_add_overflow(ekw, 1, &ekw))
        return cg_error(CG_EINVAL, "conv2d: dilation[1] = %lld with kernel width %lld spans more than int64 allows",
                        (long long)p->dilation[1], (long long)KW);
    if (__builtin_mul_overflow(p->padding[0], 2, &padh) || __builtin_add_overflow(padh, H, &padh))
        return cg_error(CG_EINVAL, "conv2d: padding[0] = %lld on input height %lld overflows int64",
                        (long long)p->padding[0], (long long)H);
    if (__builtin_mul_overflow(p->padding[1], 2, &padw) || __builtin_add_overflow(padw, W, &padw))
        return cg_error(CG_EINVAL, "conv2d: padding[1] = %lld on input width %lld overflows int64",
                        (long long)p->padding[1], (long long)W);
    if (ekh > padh || ekw > padw)
        return cg_error(CG_ESHAPE, "conv2d: kernel %s (dilated %s) is larger than the padded input %lldx%lld",
                        extent_str(k1, sizeof k1, KH, KW), extent_str(k2, sizeof k2, ekh, ekw),
                        (long long)padh, (long long)padw);
    if (__builtin_mul_overflow(padh, padw, &padhw))
        return cg_error(CG_EINVAL, "conv2d: padding [%lld, %lld] makes a padded input of %lldx%lld, beyond int64",
                        (long long)p->padding[0], (long long)p->padding[1], (long long)padh, (long long)padw);
    const int64_t OH = (padh - ekh) / p->stride[0] + 1, OW = (padw - ekw) / p->stride[1] + 1;
    /* The output must be representable (and allocatable in size_t): at most 2^44 floats. */
    int64_t out;
    if (__builtin_mul_overflow(OH, OW, &out) || __builtin_mul_overflow(out, OC, &out) ||
        __builtin_mul_overflow(out, N ? N : 1, &out) || out > ((int64_t)1 << 44))
        return cg_error(CG_ESHAPE, "conv2d: the output [%lld, %lld, %lld, %lld] is too large "
                        "(padding [%lld, %lld], stride [%lld, %lld])",
                        (long long)N, (long long)OC, (long long)OH, (long long)OW, (long long)p->padding[0],
                        (long long)p->padding[1], (long long)p->stride[0], (long long)p->stride[1]);
    out_shape[0] = N;
    out_shape[1] = OC;
    out_shape[2] = OH;
    out_shape[3] = OW;
    return CG_OK;
}
#include "winograd.h"


/* ---- workspace ----------------------------------------------------------- */
/* Room for `floats` floats, borrowed from the thread's scratch arena for this call. */
static float *workspace(size_t floats) { return cg_scratch_borrow(floats * sizeof(float)); }

cg_status cg_conv_check_args(const char *op, const cg_tensor *x, const cg_tensor *w, const char *w_layout,
                             const int64_t stride[2], const int64_t dilation[2], const int64_t padding[2],
                             int64_t groups) {
    char s[96];
    if (x->ndim != 4)
        return cg_error(CG_ESHAPE, "%s: input must be 4-d [N,C,H,W], got %s", op,
                        cg_shape_str(s, sizeof s, x->ndim, x->shape));
    if (w->ndim != 4)
        return cg_error(CG_ESHAPE, "%s: weight must be 4-d %s, got %s", op, w_layout,
                        cg_shape_str(s, sizeof s, w->ndim, w->shape));
    for (int i = 0; i < 2; i++) {
        if (stride[i] <= 0)
            return cg_error(CG_EINVAL, "%s: stride[%d] = %lld must be positive", op, i, (long long)stride[i]);
        if (dilation[i] <= 0)
            return cg_error(CG_EINVAL, "%s: dilation[%d] = %lld must be positive", op, i, (long long)dilation[i]);
        if (padding[i] < 0)
            return cg_error(CG_EINVAL, "%s: padding[%d] = %lld must not be negative", op, i, (long long)padding[i]);
    }
    if (groups <= 0) return cg_error(CG_EINVAL, "%s: groups = %lld must be positive", op, (long long)groups);
    return CG_OK;
}

/* ---- im2col / col2im ----------------------------------------------------- */

/* im2col_rows for width stride 1, width dilation 1 and no padding (the seed's convs, most 3x3
 * layers without padding): every row is OW contiguous floats of x and nothing needs a bounds
 * check; the geometry sits in locals, not behind a pointer in an OpenMP-outlined loop. */
static void im2col_rows_dense(float *restrict cols, const float *restrict x, const cg_im2col_geom *g,
                              int64_t oh0, int64_t oh1) {
    const int64_t C = g->c, KH = g->kh, KW = g->kw, HW = g->h * g->w, W = g->w, OW = g->ow;
    const int64_t step = g->sh * W, nrows = oh1 - oh0;
    float *d = cols;
    for (int64_t c = 0; c < C; c++)
        for (int64_t ki = 0; ki < KH; ki++)
            for (int64_t kj = 0; kj < KW; kj++) {
                const float *s = x + c * HW + (oh0 * g->sh + ki * g->dh) * W + kj;
                for (int64_t r = 0; r < nrows; r++, d += OW, s += step) {
                    #pragma omp simd
                    for (int64_t i = 0; i < OW; i++) d[i] = s[i];
                }
            }
}

/* im2col_rows for width stride 1 and width dilation 1 with padding (the 3x3 "same" convs of
 * residual nets; any height stride and dilation): each row is a contiguous run of x between zero
 * borders, found once per (kj) column offset; the geometry sits in locals, as in the dense case. */
static void im2col_rows_padded(float *restrict cols, const float *restrict x, const cg_im2col_geom *g,
                               int64_t oh0, int64_t oh1) {
    const int64_t C = g->c, KH = g->kh, KW = g->kw, H = g->h, W = g->w, HW = H * W, OW = g->ow;
    const int64_t SH = g->sh, DH = g->dh, PH = g->ph, PW = g->pw;
    float *d = cols;
    for (int64_t c = 0; c < C; c++)
        for (int64_t ki = 0; ki < KH; ki++)
            for (int64_t kj = 0; kj < KW; kj++) {
                const int64_t iw0 = kj - PW;   /* input column of output column 0 */
                int64_t lo = iw0 < 0 ? -iw0 : 0, hi = W - iw0;
                if (hi > OW) hi = OW;
                if (hi < lo) hi = lo;
                for (int64_t oh = oh0; oh < oh1; oh++, d += OW) {
                    const int64_t ih = oh * SH - PH + ki * DH;
                    if (ih < 0 || ih >= H) {
                        for (int64_t i = 0; i < OW; i++) d[i] = 0.0f;
                        continue;
                    }
                    const float *s = x + c * HW + ih * W;
                    for (int64_t i = 0; i < lo; i++) d[i] = 0.0f;
                    #pragma omp simd
                    for (int64_t i = lo; i < hi; i++) d[i] = s[iw0 + i];
                    for (int64_t i = hi; i < OW; i++) d[i] = 0.0f;
                }
            }
}

/* The valid output columns [lo, hi) of kernel column kj: those whose input column
 * ow*SW + kj - PW lies in [0, W). */
static void valid_cols(int64_t kj, int64_t SW, int64_t PW, int64_t W, int64_t OW, int64_t *lo, int64_t *hi) {
    const int64_t iw0 = kj - PW;
    int64_t l = iw0 < 0 ? (-iw0 + SW - 1) / SW : 0, h = W - iw0 <= 0 ? 0 : (W - iw0 + SW - 1) / SW;
    if (h > OW) h = OW;
    if (l > OW) l = OW;
    if (h < l) h = l;
    *lo = l;
    *hi = h;
}

/* im2col_rows for width stride > 1 and width dilation 1 (the stride-2 convs of residual nets,
 * padded or not): each row is a strided run of x between zero borders, found once per kernel
 * column; the geometry sits in locals, as in the dense cases. */
static void im2col_rows_strided(float *restrict cols, const float *restrict x, const cg_im2col_geom *g,
                                int64_t oh0, int64_t oh1) {
    const int64_t C = g->c, KH = g->kh, KW = g->kw, H = g->h, W = g->w, HW = H * W, OW = g->ow;
    const int64_t SH = g->sh, SW = g->sw, DH = g->dh, PH = g->ph, PW = g->pw;
    float *d = cols;
    for (int64_t c = 0; c < C; c++)
        for (int64_t ki = 0; ki < KH; ki++)
            for (int64_t kj = 0; kj < KW; kj++) {
                const int64_t iw0 = kj - PW;
                int64_t lo, hi;
                valid_cols(kj, SW, PW, W, OW, &lo, &hi);
                for (int64_t oh = oh0; oh < oh1; oh++, d += OW) {
                    const int64_t ih = oh * SH - PH + ki * DH;
                    if (ih < 0 || ih >= H) {
                        for (int64_t i = 0; i < OW; i++) d[i] = 0.0f;
                        continue;
                    }
                    const float *s = x + c * HW + ih * W + iw0;
                    for (int64_t i = 0; i < lo; i++) d[i] = 0.0f;
                    #pragma omp simd
                    for (int64_t i = lo; i < hi; i++) d[i] = s[i * SW];
                    for (int64_t i = hi; i < OW; i++) d[i] = 0.0f;
                }
            }
}

/* cols[C*KH*KW, (oh1-oh0)*OW] from x[C,H,W] for output rows oh0..oh1; padding reads as 0.
 * Parallel over rows when `par`. */
static void im2col_rows(float *restrict cols, const float *restrict x, const cg_im2col_geom *g,
                        int64_t oh0, int64_t oh1, bool par) {
    if (!par && g->dense && g->dw == 1) {
        if (g->sw > 1) im2col_rows_strided(cols, x, g, oh0, oh1);
        else if (g->ph == 0 && g->pw == 0) im2col_rows_dense(cols, x, g, oh0, oh1);
        else im2col_rows_padded(cols, x, g, oh0, oh1);
        return;
    }
    const int64_t K = g->kh * g->kw, rows = g->c * K, ohw = (oh1 - oh0) * g->ow;
    #pragma omp parallel for if (par && rows * ohw >= CG_OMP_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t c = r / K, ki = (r % K) / g->kw, kj = r % g->kw;
        const float *xc = x + c * g->h * g->w;
        float *dst = cols + r * ohw;
        for (int64_t oh = oh0; oh < oh1; oh++) {
            int64_t ih = oh * g->sh - g->ph + ki * g->dh;
            float *d = dst + (oh - oh0) * g->ow;
            if (ih < 0 || ih >= g->h) {
                for (int64_t ow = 0; ow < g->ow; ow++) d[ow] = 0.0f;
                continue;
            }
            const float *xr = xc + ih * g->w;
            int64_t iw0 = kj * g->dw - g->pw;
            if (g->sw == 1) {  /* a contiguous run of x between zero borders */
                int64_t lo = iw0 < 0 ? -iw0 : 0, hi = g->w - iw0;
                if (hi > g->ow) hi = g->ow;
                if (hi < lo) hi = lo;
                for (int64_t ow = 0; ow < lo; ow++) d[ow] = 0.0f;
                const float *xs = xr + iw0 + lo;
                float *ds = d + lo;
                #pragma omp simd  /* rows are short (tens of floats): a loop beats a memcpy call */
                for (int64_t i = 0; i < hi - lo; i++) ds[i] = xs[i];
                for (int64_t ow = hi; ow < g->ow; ow++) d[ow] = 0.0f;
                continue;
            }
            for (int64_t ow = 0; ow < g->ow; ow++) {
                int64_t iw = iw0 + ow * g->sw;
                d[ow] = (iw >= 0 && iw < g->w) ? xr[iw] : 0.0f;
            }
        }
    }
}

/* cols[C*KH*KW, OH*OW] from x[C,H,W] */
void cg_im2col(float *restrict cols, const float *restrict x, const cg_im2col_geom *g, bool par) {
    im2col_rows(cols, x, g, 0, g->oh, par);
}

/* cg_col2im_add for the dense case of im2col_rows_dense: every row adds OW contiguous floats. */
static void col2im_add_dense(float *restrict dx, const float *restrict dcols, const cg_im2col_geom *g) {
    const int64_t C = g->c, KH = g->kh, KW = g->kw, HW = g->h * g->w, W = g->w, OW = g->ow, OH = g->oh;
    const int64_t step = g->sh * W;
    const float *s = dcols;
    for (int64_t c = 0; c < C; c++)
        for (int64_t ki = 0; ki < KH; ki++)
            for (int64_t kj = 0; kj < KW; kj++) {
                float *d = dx + c * HW + ki * g->dh * W + kj;
                for (int64_t r = 0; r < OH; r++, s += OW, d += step) {
                    #pragma omp simd
                    for (int64_t i = 0; i < OW; i++) d[i] += s[i];
                }
            }
}

/* cg_col2im_add for the case of im2col_rows_padded: each row adds its valid run of OW floats. */
static void col2im_add_padded(float *restrict dx, const float *restrict dcols, const cg_im2col_geom *g) {
    const int64_t C = g->c, KH = g->kh, KW = g->kw, H = g->h, W = g->w, HW = H * W, OW = g->ow, OH = g->oh;
    const int64_t SH = g->sh, DH = g->dh, PH = g->ph, PW = g->pw;
    const float *s = dcols;
    for (int64_t c = 0; c < C; c++)
        for (int64_t ki = 0; ki < KH; ki++)
            for (int64_t kj = 0; kj < KW; kj++) {
                const int64_t iw0 = kj - PW;
                int64_t lo = iw0 < 0 ? -iw0 : 0, hi = W - iw0;
                if (hi > OW) hi = OW;
                for (int64_t oh = 0; oh < OH; oh++, s += OW) {
                    const int64_t ih = oh * SH - PH + ki * DH;
                    if (ih < 0 || ih >= H) continue;
                    float *d = dx + c * HW + ih * W;
                    #pragma omp simd
                    for (int64_t i = lo; i < hi; i++) d[iw0 + i] += s[i];
                }
            }
}

/* cg_col2im_add for the case of im2col_rows_strided: each row adds its valid strided run. */
static void col2im_add_strided(float *restrict dx, const float *restrict dcols, const cg_im2col_geom *g) {
    const int64_t C = g->c, KH = g->kh, KW = g->kw, H = g->h, W = g->w, HW = H * W, OW = g->ow, OH = g->oh;
    const int64_t SH = g->sh, SW = g->sw, DH = g->dh, PH = g->ph, PW = g->pw;
    const float *s = dcols;
    for (int64_t c = 0; c < C; c++)
        for (int64_t ki = 0; ki < KH; ki++)
            for (int64_t kj = 0; kj < KW; kj++) {
                const int64_t iw0 = kj - PW;
                int64_t lo, hi;
                valid_cols(kj, SW, PW, W, OW, &lo, &hi);
                for (int64_t oh = 0; oh < OH; oh++, s += OW) {
                    const int64_t ih = oh * SH - PH + ki * DH;
                    if (ih < 0 || ih >= H) continue;
                    float *d = dx + c * HW + ih * W + iw0;
                    #pragma omp simd  /* distinct i hit distinct columns (SW >= 1) */
                    for (int64_t i = lo; i < hi; i++) d[i * SW] += s[i];
                }
            }
}

/* dx[C,H,W] += col2im(dcols[C*KH*KW, OH*OW]). Parallel over channels when `par`: channel c's
 * rows write only dx[c], so threads never race. */
void cg_col2im_add(float *restrict dx, const float *restrict dcols, const cg_im2col_geom *g, bool par) {
    if (!par && g->dense && g->dw == 1) {
        if (g->sw > 1) col2im_add_strided(dx, dcols, g);
        else if (g->ph == 0 && g->pw == 0) col2im_add_dense(dx, dcols, g);
        else col2im_add_padded(dx, dcols, g);
        return;
    }
    const int64_t K = g->kh * g->kw, ohw = g->oh * g->ow;
    #pragma omp parallel for if (par && g->c * K * ohw >= CG_OMP_MIN) schedule(static)
    for (int64_t c = 0; c < g->c; c++) {
        float *dxc = dx + c * g->h * g->w;
        for (int64_t k = 0; k < K; k++) {
            int64_t ki = k / g->kw, kj = k % g->kw;
            const float *src = dcols + (c * K + k) * ohw;
            for (int64_t oh = 0; oh < g->oh; oh++) {
                int64_t ih = oh * g->sh - g->ph + ki * g->dh;
                if (ih < 0 || ih >= g->h) continue;
                float *xr = dxc + ih * g->w;
                const float *s = src + oh * g->ow;
                int64_t iw0 = kj * g->dw - g->pw;
                if (g->sw == 1) {  /* contiguous: vectorisable add over the valid run */
                    int64_t lo = iw0 < 0 ? -iw0 : 0, hi = g->w - iw0;
                    if (hi > g->ow) hi = g->ow;
                    #pragma omp simd
                    for (int64_t ow = lo; ow < hi; ow++) xr[iw0 + ow] += s[ow];
                    continue;
                }
                for (int64_t ow = 0; ow < g->ow; ow++) {
                    int64_t iw = iw0 + ow * g->sw;
                    if (iw >= 0 && iw < g->w) xr[iw] += s[ow];
                }
            }
        }
    }
}

/* ---- shapes -------------------------------------------------------------- */
cg_conv2d_params cg_conv2d_defaults(void) {
    return (cg_conv2d_params){ .stride = { 1, 1 }, .padding = { 0, 0 }, .dilation = { 1, 1 }, .groups = 1 };
}

typedef struct conv_plan {
    int64_t n, oc, groups, cg, ocg;
    cg_im2col_geom g;
    bool direct;  /* 1x1, stride 1, no padding, dilation 1: x is the column matrix */
    bool relu;    /* fused ReLU on the output (cg_conv2d_ex's epilogue) */
    bool relu6;   /* with relu: the ReLU6 instead, min(max(v, 0), 6) as cg_relu6 (dy passed on 0 < y < 6) */
    bool pool2;   /* then a fused 2x2, stride-2 max-pool (inference only: no backward) */
    bool wino;    /* 3x3, stride 1: Winograd F(2x2, 3x3) instead of im2col (see wino_choose) */
    bool depthwise;  /* groups == C, OC = M * C: the direct kernels of conv2d_depthwise.c (dw_choose) */
    cg_wino_geom wg;
    const float *wino_u;  /* the transformed weights U[16][OC][C], set by the pass that runs */
    bool dx_fresh;        /* backward: dx is uninitialised (a fresh tape gradient): write it */
    int schedule;         /* the cg_conv_schedule read when the plan was made */
    int64_t block_bytes;  /* forward im2col block bytes (CG_CONFIG_CONV_BLOCK_BYTES) */
} conv_plan;

/* ---- Winograd ------------------------------------------------------------ */
/* Whether the plan's layer takes Winograd F(2x2, 3x3) (lib/ops/winograd.c): a 3x3, stride-1,
 * undilated, ungrouped layer; in AUTO mode also at least CONV_WINO_MIN_C input channels (a
 * 1-channel layer such as the seed's conv1 has K = 1 GEMMs: im2col's K = 9 one is faster). */
#define CONV_WINO_MIN_C 4
static void wino_choose(conv_plan *pl, int wino_mode) {
    const cg_im2col_geom *g = &pl->g;
    pl->wino = false;
    pl->wino_u = NULL;
    if (wino_mode == CG_WINOGRAD_OFF || g->kh != 3 || g->kw != 3 || g->sh != 1 || g->sw != 1 || g->dh != 1 ||
        g->dw != 1 || pl->groups != 1 || pl->cg == 0 || pl->ocg == 0 || g->oh <= 0 || g->ow <= 0)
        return;
    if (wino_mode == CG_WINOGRAD_AUTO && pl->cg < CONV_WINO_MIN_C) return;
    pl->wg = cg_wino_geom_make(g->c, g->h, g->w, g->ph, g->pw, g->oh, g->ow);
    pl->wino = true;
}

/* Whether the plan's layer takes the direct depthwise kernels (lib/ops/conv2d_depthwise.c): one
 * input channel per group and at least one output channel per group, any stride, padding and
 * dilation; in AUTO mode also at least two groups (a one-channel ungrouped layer, such as the
 * seed's conv1, stays a GEMM: its K = 9 GEMM is another question, and the seed's numbers must not
 * move). Not when the kernels' workspace would dwarf the layer (cg_conv_dw_fits). */
static bool dw_choose(const conv_plan *pl, int mode) {
    if (mode == CG_DEPTHWISE_OFF || pl->cg != 1 || pl->ocg < 1 || pl->g.oh <= 0 || pl->g.ow <= 0) return false;
    if (mode == CG_DEPTHWISE_AUTO && pl->groups < 2) return false;
    return cg_conv_dw_fits(&pl->g, pl->oc);
}

static cg_status conv_plan_make(const cg_tensor *x, const cg_tensor *w, const cg_tensor *b,
                                const cg_conv2d_params *p, conv_plan *pl) {
    const cg_settings cfg = cg_config_snapshot();  /* the switches, once per call */
    char s1[96];
    cg_status st = cg_conv_check_args("conv2d", x, w, "[OC,C/groups,KH,KW]", p->stride, p->dilation, p->padding,
                                      p->groups);
    if (st != CG_OK) return st;
    int64_t C = x->shape[1], OC = w->shape[0], y_shape[4];
    if ((st = cg_conv2d_out_shape(4, x->shape, w->shape, p, y_shape)) != CG_OK) return st;
    if (b && (b->ndim != 1 || b->shape[0] != OC))
        return cg_error(CG_ESHAPE, "conv2d: bias must be [%lld], got %s", (long long)OC,
                        cg_shape_str(s1, sizeof s1, b->ndim, b->shape));
    cg_im2col_geom *g = &pl->g;
    g->c = C; g->h = x->shape[2]; g->w = x->shape[3];
    g->kh = w->shape[2]; g->kw = w->shape[3];
    g->sh = p->stride[0]; g->sw = p->stride[1];
    g->ph = p->padding[0]; g->pw = p->padding[1];
    g->dh = p->dilation[0]; g->dw = p->dilation[1];
    g->dense = cfg.conv_dense;
    g->oh = y_shape[2];
    g->ow = y_shape[3];
    /* A stride beyond the padded input gives one output row (column) as any such stride does:
     * clamp it there, so that the kernels' offsets (stride x width) stay within int64. */
    const int64_t padh = g->h + 2 * g->ph, padw = g->w + 2 * g->pw;   /* checked by the rule */
    if (g->sh > padh) g->sh = padh;
    if (g->sw > padw) g->sw = padw;
    /* One image's columns must be representable (and allocatable in size_t with room for a slab
     * per thread): at most 2^44 floats, as the output (checked by the rule). */
    const int64_t lim = (int64_t)1 << 44;
    int64_t ohw = g->oh * g->ow, rows, cols;
    if (__builtin_mul_overflow(C, g->kh, &rows) || __builtin_mul_overflow(rows, g->kw, &rows) ||
        __builtin_mul_overflow(rows, ohw, &cols) || cols > lim)
        return cg_error(CG_ESHAPE, "conv2d: one image's im2col columns (%lld channels x %lldx%lld kernel x "
                        "%lldx%lld outputs) are too large", (long long)C, (long long)g->kh, (long long)g->kw,
                        (long long)g->oh, (long long)g->ow);
    pl->n = x->shape[0];
    pl->oc = OC;
    pl->groups = p->groups;
    pl->cg = C / p->groups;
    pl->ocg = OC / p->groups;
    pl->direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
    pl->relu = false;
    pl->relu6 = false;
    pl->pool2 = false;
    pl->dx_fresh = false;
    pl->schedule = cfg.conv_schedule;
    pl->block_bytes = cfg.conv_block_bytes;
    /* Per image and group: [OC/g, C/g*KH*KW] x [C/g*KH*KW, OH*OW]; Winograd's GEMMs are smaller. */
    st = cg_gemm_check("conv2d", pl->ocg, g->oh * g->ow, pl->cg * g->kh * g->kw);
    pl->depthwise = st == CG_OK && dw_choose(pl, cfg.conv_depthwise);
    pl->wino = false;
    pl->wino_u = NULL;
    if (st == CG_OK && !pl->depthwise) wino_choose(pl, cfg.conv_winograd);
    return st;
}

cg_status cg_conv2d_algorithm(const int64_t x_shape[4], const int64_t w_shape[4], const cg_conv2d_params *p,
                              cg_conv2d_algo *out) {
    if (!x_shape || !w_shape || !p || !out) return cg_error(CG_EINVAL, "cg_conv2d_algorithm: an argument is NULL");
    cg_tensor x = { .dtype = CG_F32, .ndim = 4 }, w = { .dtype = CG_F32, .ndim = 4 };  /* shapes only */
    memcpy(x.shape, x_shape, 4 * sizeof *x_shape);
    memcpy(w.shape, w_shape, 4 * sizeof *w_shape);
    conv_plan pl;
    cg_status st = conv_plan_make(&x, &w, NULL, p, &pl);
    if (st != CG_OK) return st;
    out->algorithm = pl.depthwise ? "depthwise direct" : pl.wino ? "winograd F(2x2,3x3)"
                   : pl.direct ? "1x1 GEMM (no im2col)" : "im2col + GEMM";
    const int64_t T = pl.wino ? pl.wg.th * pl.wg.tw : 0, ck = pl.cg * pl.g.kh * pl.g.kw;  /* wg: Winograd plans only */
    const int64_t m = pl.wino ? pl.oc : pl.ocg, n = pl.wino ? T : pl.g.oh * pl.g.ow, k = pl.wino ? pl.g.c : ck;
    out->gemm = pl.depthwise ? "none (direct kernels)"
              : cg_gemm_takes_xsmm(m, n, k, 1.0f, 0.0f) ? "LIBXSMM (JIT kernels chosen from CPUID)" : "the BLAS";
    return CG_OK;
}

static size_t round16(size_t f) { return (f + 15) & ~(size_t)15; }  /* keep slabs 64-byte aligned */

/* One thread's slab: cols (not for a direct 1x1), then for backward dcols (likewise), then one
 * image's output-sized buffer: the masked dy of a fused ReLU's backward, or the unpooled output
 * of a forward with a fused pool. Returns the slab's floats; *off_dcols, *off_buf (may be NULL)
 * get the offsets of the last two. */
static size_t workspace_layout(const conv_plan *pl, bool backward, size_t *off_dcols, size_t *off_buf) {
    const int64_t rows = pl->g.c * pl->g.kh * pl->g.kw, ohw = pl->g.oh * pl->g.ow;
    if (pl->wino) {  /* V[16][C][T] (dV in backward), M[16][OC][T] (dM), the padded channel, buf */
        const int64_t T = pl->wg.th * pl->wg.tw;
        size_t v = (size_t)(16 * cg_wino_plane(pl->g.c * T)), m = (size_t)(16 * cg_wino_plane(pl->oc * T));
        size_t pad = round16((size_t)cg_wino_pad_floats_total(&pl->wg));
        size_t buf = (backward ? pl->relu : pl->pool2) ? round16((size_t)(pl->oc * ohw)) : 0;
        if (off_dcols) *off_dcols = v;  /* M */
        if (off_buf) *off_buf = v + m + pad;
        return v + m + pad + buf;
    }
    size_t cols = pl->direct ? 0 : round16((size_t)(rows * ohw));
    size_t dcols = backward ? cols : 0;
    size_t buf = (backward ? pl->relu : pl->pool2) ? round16((size_t)(pl->oc * ohw)) : 0;
    if (off_dcols) *off_dcols = cols;
    if (off_buf) *off_buf = cols + dcols;
    return cols + dcols + buf;
}

/* A Winograd slab's V (or dV), M (or dM) and padded-channel scratch (see workspace_layout). */
static void wino_slab(const conv_plan *pl, float *ws, float **V, float **M, float **pad) {
    size_t off_m, off_buf;
    workspace_layout(pl, false, &off_m, &off_buf);
    *V = ws;
    *M = ws + off_m;
    *pad = ws + off_buf - round16((size_t)cg_wino_pad_floats_total(&pl->wg));
}

/* One image by Winograd: yn[OC, OH, OW] = conv(xn) without bias; 16 GEMMs [OC,C] x [C,T]. */
static void wino_forward_image(float *restrict yn, const float *restrict xn, const conv_plan *pl, float *ws) {
    float *V, *M, *pad;
    wino_slab(pl, ws, &V, &M, &pad);
    const int64_t C = pl->g.c, OC = pl->oc, T = pl->wg.th * pl->wg.tw;
    const int64_t pu = cg_wino_plane(OC * C), pv = cg_wino_plane(C * T), pm = cg_wino_plane(OC * T);
    cg_wino_input(V, xn, &pl->wg, pad);
    for (int64_t xi = 0; xi < 16; xi++)
        cg_gemm(false, false, OC, T, C, 1.0f, pl->wino_u + xi * pu, C, V + xi * pv, T, 0.0f, M + xi * pm, T);
    cg_wino_output(yn, M, &pl->wg, OC);
}

/* ---- forward ------------------------------------------------------------- */
/* One image's fused 2x2, stride-2 max-pool: out[OC, OH/2, OW/2] from the image's output
 * in[OC, OH, OW] — the values cg_max_pool2d would give: a window's first NaN wins, as in
 * cg_max_pool2d (a NaN candidate replaces a maximum that is not yet NaN). A fused ReLU passes
 * NaN through (as relu does), so it takes the same loop. The loop vectorises. */
static void pool2_image(float *restrict out, const float *restrict in, const conv_plan *pl) {
    const int64_t OW = pl->g.ow, PH = pl->g.oh / 2, PW = OW / 2;
    for (int64_t oc = 0; oc < pl->oc; oc++)
        for (int64_t ph = 0; ph < PH; ph++) {
            const float *r0 = in + (oc * pl->g.oh + 2 * ph) * OW, *r1 = r0 + OW;
            float *o = out + (oc * PH + ph) * PW;
            #pragma omp simd
            for (int64_t pw = 0; pw < PW; pw++) {
                float m = r0[2 * pw], v1 = r0[2 * pw + 1], v2 = r1[2 * pw], v3 = r1[2 * pw + 1];
                m = (v1 > m || (v1 != v1 && m == m)) ? v1 : m;
                m = (v2 > m || (v2 != v2 && m == m)) ? v2 : m;
                o[pw] = (v3 > m || (v3 != v3 && m == m)) ? v3 : m;
            }
        }
}

/* Images [n0, n1): y[n] = W · im2col(x[n]) (+ b), then ReLU and the 2x2 pool when fused.
 * y[N,OC,OH,OW] (pooled: [N,OC,OH/2,OW/2]), x[N,C,H,W], w[OC,Cg,KH,KW]; ws: this caller's own
 * workspace_layout(pl, false) slab. */
static void forward_images(float *restrict y, const float *restrict x, const float *restrict w,
                           const float *restrict b, const conv_plan *pl, float *ws, int64_t n0, int64_t n1) {
    const bool relu = pl->relu, six = pl->relu6;
    const cg_im2col_geom *g = &pl->g;
    const int64_t ohw = g->oh * g->ow, hw = g->h * g->w, ck = pl->cg * g->kh * g->kw;
    const int64_t pooled = pl->oc * (g->oh / 2) * (g->ow / 2);
    size_t off_buf;
    workspace_layout(pl, false, NULL, &off_buf);
    float *cols = ws;
    for (int64_t n = n0; n < n1; n++) {
        const float *xn = x + n * g->c * hw;
        float *yn = pl->pool2 ? ws + off_buf : y + n * pl->oc * ohw;  /* pooled: the full output is scratch */
        if (ck == 0) memset(yn, 0, (size_t)(pl->oc * ohw) * sizeof(float)); /* no input channels */
        else if (pl->wino) wino_forward_image(yn, xn, pl, ws);
        else {
            /* Blocks of output rows whose columns take at most block_bytes (CG_CONFIG_CONV_BLOCK_BYTES):
             * im2col a block, then multiply it while it is still in cache. direct: one block, x is
             * the column matrix. */
            int64_t bh = pl->direct ? g->oh : pl->block_bytes / (int64_t)(g->c * g->kh * g->kw * g->ow * 4);
            if (bh < 1) bh = 1;
            for (int64_t oh0 = 0; oh0 < g->oh; oh0 += bh) {
                int64_t oh1 = oh0 + bh < g->oh ? oh0 + bh : g->oh, nb = (oh1 - oh0) * g->ow;
                const float *cn = xn;
                if (!pl->direct) { im2col_rows(cols, xn, g, oh0, oh1, false); cn = cols; }
                for (int64_t gi = 0; gi < pl->groups; gi++)
                    cg_gemm(false, false, pl->ocg, nb, ck, 1.0f, w + gi * pl->ocg * ck, ck, cn + gi * ck * nb, nb,
                            0.0f, yn + gi * pl->ocg * ohw + oh0 * g->ow, ohw);
            }
        }
        /* Epilogue on the image's output while it is in cache: + bias, then ReLU if fused. */
        if (b || relu)
            for (int64_t oc = 0; oc < pl->oc; oc++) {
                float bv = b ? b[oc] : 0.0f, *yp = yn + oc * ohw;
                if (six) {   /* as cg_relu6 (hardtanh(0, 6)): NaN stays */
                    #pragma omp simd
                    for (int64_t i = 0; i < ohw; i++) {   /* no bias: no add (-0 + 0 would be +0) */
                        float v = b ? yp[i] + bv : yp[i];
                        yp[i] = cg_relu6_value(v);
                    }
                } else if (relu) {
                    #pragma omp simd
                    for (int64_t i = 0; i < ohw; i++) { float v = yp[i] + bv; yp[i] = v <= 0.0f ? 0.0f : v; }  /* NaN stays */
                } else {
                    #pragma omp simd
                    for (int64_t i = 0; i < ohw; i++) yp[i] += bv;
                }
            }
        if (pl->pool2) pool2_image(y + n * pooled, yn, pl);
    }
}

/* ---- backward ------------------------------------------------------------ */
/* Images [n0, n1): dx[n] += col2im(Wᵀ · g[n]) and dw[OC,Cg,KH,KW] += g[n] · im2col(x[n])ᵀ, where
 * g = dy, or with a fused ReLU (y given) g = dy where y > 0 (ReLU6: 0 < y < 6), else 0, and then db[oc] += sum g[n, oc].
 * Any of dx, dw, db may be NULL. ws: the caller's own workspace_layout() slab. A Winograd plan
 * adds into dU[16][OC][C] at dw instead (the caller transforms the sum back, once). */
static void backward_images(float *dx, float *dw, float *db, const float *dy, const float *y,
                            const float *x, const float *w, const conv_plan *pl, float *ws,
                            int64_t n0, int64_t n1, bool parts_fresh) {
    const cg_im2col_geom *g = &pl->g;
    const int64_t ohw = g->oh * g->ow, hw = g->h * g->w, K = g->kh * g->kw;
    const int64_t ck = pl->cg * K;
    size_t off_dcols, off_mask;
    workspace_layout(pl, true, &off_dcols, &off_mask);  /* the buffer holds the masked dy */
    float *cols = ws, *dcols = ws ? ws + off_dcols : NULL, *mask = ws ? ws + off_mask : NULL;
    for (int64_t n = n0; n < n1; n++) {
        const float *xn = x + n * g->c * hw, *dyn = dy + n * pl->oc * ohw;
        /* parts_fresh: dw and db are the chunk's uninitialised partials; its first image writes them */
        const bool set = parts_fresh && n == n0;
        const float beta_w = set ? 0.0f : 1.0f;
        if (y) {  /* fused ReLU: mask dy by the output, in cache for the GEMMs below */
            const float *yn = y + n * pl->oc * ohw;
            const float hi = cg_act_hi(pl->relu6);
            for (int64_t oc = 0; oc < pl->oc; oc++) {
                const float *d = dyn + oc * ohw, *yo = yn + oc * ohw;
                float *m = mask + oc * ohw;
                #pragma omp simd
                for (int64_t i = 0; i < ohw; i++) { float v = d[i]; m[i] = cg_act_passes(yo[i], hi) ? v : 0.0f; }
            }
            dyn = mask;
        }
        if (db)  /* db's per-image sums (a loop of its own: a reduction inside the mask loop kept
                  * GCC from vectorising it; a plain double accumulator was 34% of backward_team) */
            for (int64_t oc = 0; oc < pl->oc; oc++)
                db[oc] = (set ? 0.0f : db[oc]) + (float)cg_sum_blocks(0.0, dyn + oc * ohw, ohw);
        if (pl->wino) {  /* dM = A dy Aᵀ; dU[ξ] += dM[ξ] · V[ξ]ᵀ; dV[ξ] = U[ξ]ᵀ · dM[ξ], then into dx */
            float *V, *M, *pad;
            wino_slab(pl, ws, &V, &M, &pad);
            const int64_t C = g->c, OC = pl->oc, T = pl->wg.th * pl->wg.tw;
            const int64_t pu = cg_wino_plane(OC * C), pv = cg_wino_plane(C * T), pm = cg_wino_plane(OC * T);
            cg_wino_output_grad(M, dyn, &pl->wg, OC);
            if (dw) {
                cg_wino_input(V, xn, &pl->wg, pad);
                for (int64_t xi = 0; xi < 16; xi++)
                    cg_gemm(false, true, OC, C, T, 1.0f, M + xi * pm, T, V + xi * pv, T, beta_w, dw + xi * pu, C);
            }
            if (dx) {
                for (int64_t xi = 0; xi < 16; xi++)
                    cg_gemm(true, false, C, T, OC, 1.0f, pl->wino_u + xi * pu, C, M + xi * pm, T, 0.0f,
                            V + xi * pv, T);
                cg_wino_input_grad_add(dx + n * g->c * hw, V, &pl->wg, pad, pl->dx_fresh);
            }
            continue;
        }
        if (dw) {
            const float *cn = xn;
            if (!pl->direct) { cg_im2col(cols, xn, g, false); cn = cols; }
            for (int64_t gi = 0; gi < pl->groups; gi++)  /* dW_g[OCg, ck] += dy_g[OCg, ohw] · cols_gᵀ */
                cg_gemm(false, true, pl->ocg, ck, ohw, 1.0f, dyn + gi * pl->ocg * ohw, ohw, cn + gi * ck * ohw, ohw,
                        beta_w, dw + gi * pl->ocg * ck, ck);
        }
        if (dx) {
            float *dxn = dx + n * g->c * hw;
            /* direct: dx_g[Cg, hw] += W_gᵀ · dy_g; else dcols_g = W_gᵀ · dy_g, then col2im. */
            float *dst = pl->direct ? dxn : dcols;
            float beta = pl->direct && !pl->dx_fresh ? 1.0f : 0.0f;
            if (!pl->direct && pl->dx_fresh) memset(dxn, 0, (size_t)(g->c * hw) * sizeof(float));  /* in cache, for col2im */
            for (int64_t gi = 0; gi < pl->groups; gi++)
                cg_gemm(true, false, ck, ohw, pl->ocg, 1.0f, w + gi * pl->ocg * ck, ck, dyn + gi * pl->ocg * ohw, ohw,
                        beta, dst + gi * ck * ohw, ohw);
            if (!pl->direct) cg_col2im_add(dxn, dcols, g, false);
        }
    }
}

/* ---- scheduling ---------------------------------------------------------- */
/* Threads over images when there are at least two images per thread and we are not already
 * inside a parallel region; otherwise one image at a time with BLAS's threads. schedule: a
 * cg_conv_schedule, read by the caller once per call. */
int cg_conv_threads(int64_t n, int schedule) {
    if (omp_in_parallel()) return 1;
    cg_threads_sync();
    int nt = omp_get_max_threads();
    if (schedule == CG_CONV_SCHEDULE_SERIAL || nt <= 1) return 1;
    if (schedule == CG_CONV_SCHEDULE_AUTO && n < 2 * nt) return 1;
    return nt;
}

/* dW is summed in CONV_DW_CHUNKS fixed chunks of images, each into its own partial, and the
 * partials are added in chunk order: the result does not depend on the thread count or on which
 * thread ran which chunk (dynamic scheduling: on a shared machine a descheduled thread's work is
 * picked up by the others instead of stalling the whole region). The chunks are the backward's
 * only work items when dW is wanted, so their count caps its threads: 32 keeps a 16- or 32-core
 * machine busy (8 left half of 16 threads idle). Cost on 2 cores: 32 memsets and a 32-way sum of
 * dW, within noise of 8 in interleaved bench-train runs (1705/1669/1642/1613 vs
 * 1577/1611/1562/1613 img/s). A layer with a big dW gets fewer chunks: at most
 * CONV_DW_PARTS_BYTES (4 MiB) of partials, but 16 chunks where CONV_DW_PARTS_MAX (64 MiB) allows
 * them, so that a 16-core machine stays busy, and never fewer than 8 (a 512x512 3x3 layer: 8 x
 * 9.4 MB). 4 MiB, not 64 as before: the residual net's 64-channel Winograd layers (partials of
 * 16 x 64 x 64 floats, 263 KB) then sum 16 partials instead of 32, whose 8 MB came back from L3
 * at every step (the sum was 2% of training); interleaved bench-train, Zen 5, 2 threads, with 15
 * chunks: 1428/1508/1424/1427 vs 1396/1456/1406/1355 img/s. The count depends on the layer
 * only, never on the threads. */
#define CONV_DW_CHUNKS 32
#define CONV_DW_CHUNKS_MIN 8
#define CONV_DW_PARTS_BYTES ((int64_t)4 << 20)
#define CONV_DW_PARTS_MAX ((int64_t)64 << 20)
#define CONV_DW_CHUNKS_WIDE 16

static int64_t dw_chunks(const conv_plan *pl, int64_t floats_per_partial) {
    const int64_t bytes = floats_per_partial * (int64_t)sizeof(float) + 1;
    int64_t p = CONV_DW_PARTS_BYTES / bytes;
    if (p < CONV_DW_CHUNKS_WIDE) {   /* 16 if the larger budget holds them */
        const int64_t q = CONV_DW_PARTS_MAX / bytes;
        p = q < CONV_DW_CHUNKS_WIDE ? q : CONV_DW_CHUNKS_WIDE;
    }
    p = p > CONV_DW_CHUNKS ? CONV_DW_CHUNKS : p < CONV_DW_CHUNKS_MIN ? CONV_DW_CHUNKS_MIN : p;
    return pl->n < p ? pl->n : p;
}


/* Floats of the transformed weights a Winograd pass keeps ahead of the slabs (0 otherwise). */
static size_t wino_u_floats(const conv_plan *pl) { return pl->wino ? (size_t)(16 * cg_wino_plane(pl->oc * pl->g.c)) : 0; }

static cg_status conv2d_forward(float *y, const float *x, const float *w, const float *b, conv_plan *pl) {
    if (pl->depthwise) return cg_conv_dw_forward(y, x, w, b, &pl->g, pl->n, pl->oc, pl->relu, pl->relu6);
    int nt = cg_conv_threads(pl->n, pl->schedule);
    size_t per = workspace_layout(pl, false, NULL, NULL), shared = wino_u_floats(pl);
    float *ws = NULL;
    if (per + shared && !(ws = workspace(shared + per * (size_t)nt))) return CG_ENOMEM;
    if (pl->wino) {
        cg_wino_weights(ws, w, pl->oc, pl->g.c);
        pl->wino_u = ws;
        ws += shared;
    }
    if (nt == 1) { forward_images(y, x, w, b, pl, ws, 0, pl->n); return CG_OK; }
    #pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t n = 0; n < pl->n; n++)
        forward_images(y, x, w, b, pl, ws ? ws + (size_t)omp_get_thread_num() * per : NULL, n, n + 1);
    return CG_OK;
}

/* What one thread of the backward team does (or the whole backward, called outside any parallel
 * region): its share of the chunks, then its share of the partial sums. The worksharing loops
 * are orphaned, so the same code runs in a team or alone. Never inside a serialized
 * `parallel if(0)` region: OpenBLAS's OpenMP build sees no active region there, starts threads of
 * its own, and under clang's libomp that nested team gets one thread and deadlocks in sgemm. */
typedef struct backward_job {
    float *dx, *dw, *db, *ws, *parts;
    const float *dy, *y, *x, *w;
    const conv_plan *pl;
    size_t per, pw, pb;
    int64_t P, nw;
    bool chunked;
} backward_job;

enum { SUM_BLOCK = 1024 };   /* floats of dW a thread sums over the chunks at a time */

static void backward_team(const backward_job *j) {
    float *dx = j->dx, *dw = j->dw, *db = j->db, *ws = j->ws, *parts = j->parts;
    const float *dy = j->dy, *y = j->y, *x = j->x, *w = j->w;
    const conv_plan *pl = j->pl;
    const size_t per = j->per, pw = j->pw, pb = j->pb;
    const int64_t P = j->P, nw = j->nw;
    const bool chunked = j->chunked;
    float *mine = ws ? ws + (size_t)omp_get_thread_num() * per : NULL;
    #pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < P; c++) {
        float *pdw = NULL, *pdb = NULL;
        if (chunked && pw + pb) {  /* (an OC = 0 layer has empty partials) */
            pdw = dw ? parts + (size_t)c * (pw + pb) : NULL;
            pdb = db ? parts + (size_t)c * (pw + pb) + pw : NULL;
        }
        /* every chunk has an image (P <= n): its first writes the partials, no memset */
        backward_images(dx, pdw, pdb, dy, y, x, w, pl, mine, pl->n * c / P, pl->n * (c + 1) / P, true);
    }
    /* The sums below add each element's chunks in chunk order, as one loop over the chunks per
     * element would, but a block of elements at a time, chunk after chunk: unit-stride loops that
     * vectorise (the per-element loop, strided by a partial's size, was half of this function's
     * time in the residual net). */
    if (dw && pl->wino) {  /* sum the chunks' dU in chunk order into the first, then dW += Gᵀ dU G */
        const int64_t ocg = pl->oc * pl->g.c, pu = cg_wino_plane(ocg), nb = (ocg + SUM_BLOCK - 1) / SUM_BLOCK;
        #pragma omp for schedule(static)
        for (int64_t kb = 0; kb < 16 * nb; kb++) {  /* the planes' entries only: their gaps are never written */
            const int64_t i0 = (kb % nb) * SUM_BLOCK, len = ocg - i0 < SUM_BLOCK ? ocg - i0 : SUM_BLOCK;
            float *restrict acc = parts + (kb / nb) * pu + i0;
            for (int64_t c = 1; c < P; c++) {
                const float *restrict pc = acc + (size_t)c * (pw + pb);
                #pragma omp simd
                for (int64_t i = 0; i < len; i++) acc[i] += pc[i];
            }
        }
        #pragma omp single
        cg_wino_weights_grad_add(dw, parts, pl->oc, pl->g.c);
    } else if (dw) {
        #pragma omp for schedule(static)
        for (int64_t i0 = 0; i0 < nw; i0 += SUM_BLOCK) {
            const int64_t len = nw - i0 < SUM_BLOCK ? nw - i0 : SUM_BLOCK;
            float *restrict acc = dw + i0;
            for (int64_t c = 0; c < P; c++) {
                const float *restrict pc = parts + (size_t)c * (pw + pb) + (size_t)i0;
                #pragma omp simd
                for (int64_t i = 0; i < len; i++) acc[i] += pc[i];
            }
        }
    }
    if (db) {
        #pragma omp for schedule(static)
        for (int64_t i = 0; i < pl->oc; i++) {
            float s = db[i];
            for (int64_t c = 0; c < P; c++) s += parts[(size_t)c * (pw + pb) + pw + (size_t)i];
            db[i] = s;
        }
    }
}

/* dx +=, dw += and db += over all images (y: a fused ReLU's output, else NULL). Workspace: nt slabs (see
 * workspace_layout), then one partial of dW [and db] per chunk. */
static cg_status conv2d_backward_all(float *dx, float *dw, float *db, const float *dy, const float *y,
                                     const float *x, const float *w, conv_plan *pl) {
    int nt = cg_conv_threads(pl->n, pl->schedule);
    const int64_t nw = pl->oc * pl->cg * pl->g.kh * pl->g.kw;
    const bool chunked = dw || db;
    size_t per = workspace_layout(pl, true, NULL, NULL), shared = dx ? wino_u_floats(pl) : 0;
    size_t pw = dw ? (pl->wino ? (size_t)(16 * cg_wino_plane(pl->oc * pl->g.c)) : round16((size_t)nw)) : 0, pb = db ? round16((size_t)pl->oc) : 0;
    const int64_t P = chunked ? dw_chunks(pl, (int64_t)(pw + pb)) : pl->n;  /* work items */
    size_t total = shared + per * (size_t)nt + (pw + pb) * (size_t)P;
    float *ws = NULL;
    if (total && !(ws = workspace(total))) return CG_ENOMEM;
    if (shared) {  /* a Winograd dx needs U, shared by every thread */
        cg_wino_weights(ws, w, pl->oc, pl->g.c);
        pl->wino_u = ws;
        ws += shared;
    }
    backward_job job = { dx, dw, db, ws, ws ? ws + per * (size_t)nt : NULL, dy, y, x, w, pl, per, pw, pb, P, nw, chunked };
    if (nt > 1) {
        #pragma omp parallel num_threads(nt)
        backward_team(&job);
    } else {
        backward_team(&job);
    }
    return CG_OK;
}

/* The plan the forward made and saved on the node, once: the backward uses its very choices
 * (Winograd or im2col, the fused ReLU) whatever the switches are now. Only the backward's own
 * fields start afresh. */
static void plan_from_node(const cg_node *nd, conv_plan *pl) {
    CG_GET_PARAMS(nd, pl);
    pl->dx_fresh = false;
    pl->wino_u = NULL;
}

static cg_status conv2d_backward(cg_node *nd) {
    conv_plan pl;
    plan_from_node(nd, &pl);
    cg_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    const float *dy = cg_out_grad(nd), *y = pl.relu ? nd->out->data : NULL;
    const int64_t ohw = pl.g.oh * pl.g.ow;
    float *dx = NULL, *dw = NULL, *db = NULL;
    bool fresh = false;
    if (cg_requires_grad(b) && !(db = cg_grad_data(b))) return CG_ENOMEM;
    if (cg_requires_grad(x) && !(dx = cg_grad_data_fresh(x, &fresh))) return CG_ENOMEM;
    if (cg_requires_grad(w) && !(dw = cg_grad_data(w))) return CG_ENOMEM;
    pl.dx_fresh = dx && fresh;  /* every image's dx is written once, by its own work item */
    if (pl.dx_fresh && (pl.n == 0 || ohw == 0 || pl.cg == 0 || pl.ocg == 0))
        memset(dx, 0, (size_t)x->numel * sizeof(float));  /* no image pass will write it */
    if (pl.n == 0 || ohw == 0) return CG_OK;
    if (pl.cg == 0 || pl.ocg == 0) dx = dw = NULL;  /* no GEMM to run: only db is left */
    if (!dx && !dw && !db) return CG_OK;
    if (pl.depthwise)
        return cg_conv_dw_backward(dx, pl.dx_fresh, dw, db, dy, y, pl.relu6, x->data, w->data, &pl.g, pl.n, pl.oc);
    return conv2d_backward_all(dx, dw, db, dy, y, x->data, w->data, &pl);
}

/* Plans made by conv_plan_make on this thread (tests: a conv with an epilogue plans once). */
static _Thread_local int64_t plans_made;
int64_t cg_conv2d_plans_made(void) { return plans_made; }

/* The eval-mode batch norm of ep folded into w[OC, ...] and b[OC] (b may be NULL): *wf, *bf are
 * tape tensors (pooled: no allocation once warm) with w' = w * scale, b' = b * scale + shift,
 * scale = weight / sqrt(running_var + eps), shift = bias - running_mean * scale, in double. false
 * when it cannot fold (a vector missing, not float32, or not [OC]): the caller runs the batch norm as its op,
 * which names the problem. NULL weight/bias: 1 and 0, as cg_batch_norm2d's. */
static bool bn_fold(const cg_conv_epilogue *ep, const cg_tensor *w, const cg_tensor *b, cg_tensor **wf,
                    cg_tensor **bf) {
    const int64_t oc = w->shape[0], per = w->numel / (oc ? oc : 1);
    const cg_tensor *vecs[4] = { ep->bn.weight, ep->bn.bias, ep->bn.running_mean, ep->bn.running_var };
    if (!ep->bn.running_mean || !ep->bn.running_var) return false;
    for (int i = 0; i < 4; i++)   /* an integer vector would be read as floats (or past its end) */
        if (vecs[i] && (vecs[i]->dtype != CG_F32 || vecs[i]->ndim != 1 || vecs[i]->shape[0] != oc)) return false;
    if (!(ep->bn.eps >= 0.0f)) return false;
    double *scale = cg_tape_scratch((size_t)(2 * (oc ? oc : 1)) * sizeof(double));
    cg_tensor *wt = cg_tape_tensor(w->ndim, w->shape), *bt = cg_tape_tensor(1, CG_SHAPE(oc));
    if (!scale || !wt || !bt) return false;
    double *shift = scale + oc;
    const float *gw = ep->bn.weight ? ep->bn.weight->data : NULL, *gb = ep->bn.bias ? ep->bn.bias->data : NULL;
    const float *rm = ep->bn.running_mean->data, *rv = ep->bn.running_var->data;
    for (int64_t i = 0; i < oc; i++) {
        double inv = 1.0 / sqrt((double)rv[i] + (double)ep->bn.eps);
        scale[i] = (gw ? (double)gw[i] : 1.0) * inv;
        shift[i] = (gb ? (double)gb[i] : 0.0) - (double)rm[i] * scale[i];
    }
    for (int64_t o = 0; o < oc; o++) {
        const float *src = w->data + o * per;
        float *dst = wt->data + o * per;
        for (int64_t i = 0; i < per; i++) dst[i] = (float)((double)src[i] * scale[o]);
        bt->data[o] = (float)((b ? (double)b->data[o] : 0.0) * scale[o] + shift[o]);
    }
    *wf = wt;
    *bf = bt;
    return true;
}

static const cg_op_def op_conv2d = { "conv2d", conv2d_backward };
static const cg_op_def op_conv2d_relu = { "conv2d_relu", conv2d_backward };
static const cg_op_def op_conv2d_relu6 = { "conv2d_relu6", conv2d_backward };
/* the same op by the direct depthwise kernels (its own names: profiles and tests tell the paths apart) */
static const cg_op_def op_conv2d_dw = { "conv2d_dw", conv2d_backward };
static const cg_op_def op_conv2d_dw_relu = { "conv2d_dw_relu", conv2d_backward };
static const cg_op_def op_conv2d_dw_relu6 = { "conv2d_dw_relu6", conv2d_backward };

/* The one entry: plans the conv once, decides what of ep fuses in the current mode (see ops.h),
 * runs the conv with the fused part and the rest as the unfused ops. A pooled conv records no
 * node (it runs only when nothing is recorded). */
cg_tensor *cg_conv2d_ex(cg_tensor *x, cg_tensor *w, cg_tensor *b, const cg_conv2d_params *p,
                        const cg_conv_epilogue *ep) {
    if (!x || !w) return NULL;
    CG_REQUIRE_F32("conv2d", "input", x);
    CG_REQUIRE_F32("conv2d", "weight", w);
    CG_REQUIRE_F32("conv2d", "bias", b);
    double t0 = cg_profile_begin();
    const cg_conv_epilogue none = { 0 };
    if (!ep) ep = &none;
    cg_conv2d_params def = cg_conv2d_defaults();
    if (!p) p = &def;
    conv_plan pl;
    if (conv_plan_make(x, w, b, p, &pl) != CG_OK) return NULL;
    plans_made++;
    const bool record = cg_needs_record(3, (cg_tensor *[]){ x, w, b });
    /* A batch norm folds only in eval mode with nothing to record (its own parameters included);
     * otherwise it runs as its op after the conv, and the ReLU and pool go with it. */
    bool bn_op = ep->bn.on;
    if (bn_op && !ep->bn.training && !record &&
        !cg_needs_record(2, (cg_tensor *[]){ ep->bn.weight, ep->bn.bias })) {
        cg_tensor *wf, *bf;
        if (bn_fold(ep, w, b, &wf, &bf)) { w = wf; b = bf; bn_op = false; }
    }
    pl.relu = (ep->relu || ep->relu6) && !bn_op;
    pl.relu6 = ep->relu6 && !bn_op;   /* relu6(relu(v)) is relu6(v) */
    /* (a depthwise layer pools as its own op after the conv) */
    pl.pool2 = ep->pool2 && !bn_op && !record && !pl.depthwise && pl.g.oh >= 2 && pl.g.ow >= 2;
    const int64_t f = pl.pool2 ? 2 : 1;
    cg_tensor *y = cg_tape_tensor(4, (int64_t[]){ pl.n, pl.oc, pl.g.oh / f, pl.g.ow / f });
    if (!y) return NULL;
    if (y->numel && conv2d_forward(y->data, x->data, w->data, b ? b->data : NULL, &pl) != CG_OK) return NULL;
    if (pl.pool2) {
        cg_profile_end(pl.relu6 ? "conv2d_relu6_pool2" : pl.relu ? "conv2d_relu_pool2" : "conv2d_pool2", 0, t0);
        return y;
    }
    const cg_op_def *op = pl.depthwise ? (pl.relu6 ? &op_conv2d_dw_relu6 : pl.relu ? &op_conv2d_dw_relu : &op_conv2d_dw)
                                       : pl.relu6 ? &op_conv2d_relu6 : pl.relu ? &op_conv2d_relu : &op_conv2d;
    cg_node *nd = cg_record(op, y, 3, (cg_tensor *[]){ x, w, b });
    if (!nd) return NULL;
    CG_SET_PARAMS(nd, &pl);
    cg_profile_end(op->name, 0, t0);
    if (bn_op)
        y = ep->relu6 ? cg_batch_norm2d_relu6(y, ep->bn.weight, ep->bn.bias, ep->bn.running_mean,
                                              ep->bn.running_var, ep->bn.training, ep->bn.momentum, ep->bn.eps)
          : ep->relu ? cg_batch_norm2d_relu(y, ep->bn.weight, ep->bn.bias, ep->bn.running_mean, ep->bn.running_var,
                                            ep->bn.training, ep->bn.momentum, ep->bn.eps)
                      : cg_batch_norm2d(y, ep->bn.weight, ep->bn.bias, ep->bn.running_mean, ep->bn.running_var,
                                        ep->bn.training, ep->bn.momentum, ep->bn.eps);
    if (ep->pool2) {  /* not fused: the pool on the conv's (or batch norm's) output */
        cg_pool2d_params pp = cg_pool2d_defaults(2);
        y = cg_max_pool2d(y, &pp);
    }
    return y;
}

cg_tensor *cg_conv2d(cg_tensor *x, cg_tensor *w, cg_tensor *b, const cg_conv2d_params *p) {
    return cg_conv2d_ex(x, w, b, p, NULL);
}
