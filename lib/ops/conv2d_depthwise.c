/* SPDX-License-Identifier: MIT */
/* lib/ops/conv2d_depthwise.c — direct depthwise convolution: conv2d with groups == C and
 * OC = M * C (channel multiplier M), any stride, padding and dilation; forward and backward.
 * conv2d's plan chooses it (lib/ops/conv2d.c, CG_CONFIG_CONV_DEPTHWISE); shapes as there.
 *
 * The idea: copy one input plane, zero-padded, into a scratch buffer whose rows are wq floats
 * apart, and split by stride into sh * sw phase planes (phase (a, b) holds the padded input's
 * rows a, a + sh, .. and columns b, b + sw, ..). Then every kernel tap (ki, kj) reads, for the
 * output (oh, ow), the phase plane's element (oh + qi, ow + qj) — a stride-1 read — and the whole
 * output plane, taken as OH rows of wq floats (the wq - OW extra columns are computed and thrown
 * away), is one flat loop per tap:   acc[i] += w[ki, kj] * P[off(ki, kj) + i],  i < OH * wq.
 * No bounds test, no row boundaries: the loop runs over blocks of DW_B floats held in registers
 * across all taps (plain C the compiler vectorises; no intrinsics, no -ffast-math).
 *
 * Backward:
 *   dx: a stride-1 correlation of dy, spread out by the stride (zeros between its rows and
 *       columns) and padded by (K - 1) * d - p, with the kernel flipped: the same loop, its taps
 *       over the M planes of dy that read channel c. (For stride 2 three quarters of the spread
 *       plane are zeros: simple rather than minimal work.)
 *   dw[o, ki, kj] += sum over images and outputs of dy[o] * P[off(ki, kj) + i]: the forward's
 *       packed plane against dy laid out with the same wq-float rows (zeros in the extra columns),
 *       summed in DW_B lanes that are added in a fixed order at the end;
 *   db[o] += the sum of dy[o] (in double per image, as conv2d's general path).
 *   A fused ReLU's backward counts dy where y > 0 (masked as dy is packed).
 *
 * Threads: the forward's work items are (image, channel) pairs, split into one contiguous run per
 * thread (static): each thread then reads x and writes y as one stream. (Dynamic chunks of 4
 * interleaved the threads' planes: every chunk broke the hardware prefetcher's streams and shared
 * y's boundary cache lines between the threads, a 7x7 plane being 196 bytes; the stride-2 layer's
 * forward took twice as long.) The backward's are channels (each thread runs all images of its
 * channels, so dw and db need no partials; it prefetches each next image's planes), handed out so
 * that the channels running at once are far apart (their dx planes share no lines). Every output
 * element is computed by one thread in one fixed order, so results do not depend on the thread
 * count or the schedule. (CG_CONFIG_CONV_SCHEDULE does not apply: no BLAS call runs here.)
 * Workspace: a slab per thread (the packed planes, the accumulators) and the taps' offsets,
 * borrowed for the call from the thread's scratch arena; nothing is allocated once warm. */
#include <omp.h>
#include <string.h>
#include "cg_internal.h"
#include "conv2d_depthwise.h"

/* Floats per accumulator block: 16 keeps four SSE (two AVX) registers of sums across the taps.
 * (GCC 12 keeps 16 in registers and vectorises them; at 32 or 64 it spills and runs 5x slower.) */
#define DW_B 16

/* The two hot loops are built twice on x86-64 ELF with GCC, for AVX2 and for the baseline
 * (SSE2), and the loader picks one by CPUID (target_clones): cgrad is built without -march, and AVX2
 * runs them 1.7x faster (a 16x16 plane, 9 taps: 90 vs 153 ns). The clone adds no FMA (AVX2 alone
 * does not enable it) and keeps each sum's order, so both give the same bits. */
#if defined(__SANITIZE_THREAD__)
#define DW_NO_CLONES 1  /* GCC's TSan: ifunc resolvers run before its runtime is up */
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define DW_NO_CLONES 1  /* Clang's */
#endif
#endif
/* Not with Clang: its resolvers of static clones are global symbols (dot_lanes.resolver), which
 * the library must not export (tests/consumer/check_exports.sh); Clang builds run the baseline. */
#if defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__) && !defined(__clang__) && !defined(DW_NO_CLONES)
#define DW_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DW_CLONES
#endif

static size_t round16(size_t f) { return (f + 15) & ~(size_t)15; }  /* keep slab parts 64-byte aligned */
static int64_t round_b(int64_t f) { return (f + DW_B - 1) / DW_B * DW_B; }

/* The layouts of one call. Forward ("f"): sh * sw phase planes of hq x wq floats, taps at offf[t];
 * outputs OH rows of wq. dx ("d"): M planes of hd x wd floats (dy spread and padded), taps at
 * offd[m * T + t]; outputs H rows of wd. Every tap reads [off, off + Lb) inside its buffer. */
typedef struct dw_geom {
    int64_t n, c, m, T;                      /* images, channels, multiplier, taps KH * KW */
    const cg_im2col_geom *g;
    int64_t hq, wq, pf, nf, Lf, Lbf, ff;     /* forward: plane, planes, outputs, rounded, buffer floats */
    int64_t hd, wd, pd, Ld, Lbd, fd;         /* dx: plane, outputs, rounded, buffer floats */
    int64_t offh, offw;                      /* dx: the spread dy's top and left padding (signed) */
} dw_geom;

static void dw_geom_make(dw_geom *d, const cg_im2col_geom *g, int64_t n, int64_t oc) {
    d->n = n;
    d->c = g->c;
    d->m = oc / g->c;
    d->T = g->kh * g->kw;
    d->g = g;
    const int64_t hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;
    d->hq = (hp + g->sh - 1) / g->sh;
    d->wq = (wp + g->sw - 1) / g->sw;
    d->pf = d->hq * d->wq;
    d->nf = g->sh * g->sw;
    d->Lf = g->oh * d->wq;
    d->Lbf = round_b(d->Lf);
    /* the largest tap offset (with sh or sw > 1 it need not be the last tap's: phases come first) */
    int64_t maxf = 0, maxd;
    for (int64_t ki = 0; ki < g->kh; ki++)
        for (int64_t kj = 0; kj < g->kw; kj++) {
            int64_t o = ((ki * g->dh % g->sh) * g->sw + kj * g->dw % g->sw) * d->pf + ki * g->dh / g->sh * d->wq +
                        kj * g->dw / g->sw;
            if (o > maxf) maxf = o;
        }
    d->ff = d->nf * d->pf > maxf + d->Lbf ? d->nf * d->pf : maxf + d->Lbf;
    d->hd = g->h + (g->kh - 1) * g->dh;
    d->wd = g->w + (g->kw - 1) * g->dw;
    d->pd = d->hd * d->wd;
    d->Ld = g->h * d->wd;
    d->Lbd = round_b(d->Ld);
    maxd = (d->m - 1) * d->pd + (g->kh - 1) * g->dh * d->wd + (g->kw - 1) * g->dw;
    d->fd = d->m * d->pd > maxd + d->Lbd ? d->m * d->pd : maxd + d->Lbd;
    d->offh = (g->kh - 1) * g->dh - g->ph;
    d->offw = (g->kw - 1) * g->dw - g->pw;
}

/* Floats of one thread's slab: forward P | acc; backward P | dy rows | spread dy | acc | lanes |
 * flipped weights | db sums (doubles). */
static size_t slab_forward(const dw_geom *d) { return round16((size_t)d->ff) + round16((size_t)d->Lbf); }
static size_t slab_backward(const dw_geom *d) {
    return round16((size_t)d->ff) + round16((size_t)(d->m * d->Lbf)) + round16((size_t)d->fd) +
           round16((size_t)d->Lbd) + round16((size_t)(d->m * d->T * DW_B)) + round16((size_t)(d->m * d->T)) +
           round16((size_t)(2 * d->m));
}

bool cg_conv_dw_fits(const cg_im2col_geom *g, int64_t oc) {
    if (g->c <= 0 || oc <= 0 || oc % g->c) return false;
    /* in double first: a huge padding or dilation must not overflow the sizes below */
    const double m = (double)(oc / g->c), hp = (double)g->h + 2.0 * (double)g->ph, wp = (double)g->w + 2.0 * (double)g->pw;
    const double hd = (double)g->h + (double)(g->kh - 1) * (double)g->dh, wd = (double)g->w + (double)(g->kw - 1) * (double)g->dw;
    const double need = (hp + (double)g->sh) * (wp + (double)g->sw) * 2.0 + m * (hd + 1.0) * (wd + 1.0) * 2.0 +
                        m * (double)g->oh * (wp + 1.0) + m * (double)(g->kh * g->kw) * (DW_B + 1);
    const double planes = (double)g->h * (double)g->w + m * (double)g->oh * (double)g->ow;
    return need <= 16.0 * planes + 65536.0 && need < 1e12;
}

/* One phase plane dst[hq, wq] of a virtual plane V: V[r][v] = src[(r - offh) / uh][(v - offw) / uw]
 * when r - offh is a multiple of uh in [0, uh * hs), and likewise v, else 0;
 * dst[i][j] = V[i * sh + a][j * sw + b]. src[hs, ws]; mask (NULL or [hs, ws]): src where
 * cg_act_passes(mask, mhi), else 0 (a fused ReLU's or ReLU6's dy: mhi is cg_act_hi's). Either sw or uw is 1 (forward: u = 1; dx: s = 1).
 * Writes only the elements that come from src: where V is 0 dst must already hold zeros. The
 * zeros sit in the same places for every plane of a call, so each thread zeroes its buffers
 * once per call (zeroing them per plane, in many short runs, took a quarter of the forward). */
static void pack_plane(float *restrict dst, const float *restrict src, const float *restrict mask, float mhi, int64_t hs,
                       int64_t ws, int64_t hq, int64_t wq, int64_t a, int64_t b, int64_t sh, int64_t sw, int64_t uh,
                       int64_t uw, int64_t offh, int64_t offw) {
    int64_t lo, hi;   /* uw == 1: the valid j; uw > 1: the valid source columns q */
    const int64_t e = b - offw;  /* the source column of j (uw == 1) is j * sw + e */
    if (uw == 1) {
        lo = e < 0 ? (-e + sw - 1) / sw : 0;
        hi = ws - 1 - e < 0 ? 0 : (ws - 1 - e) / sw + 1;
        if (hi > wq) hi = wq;
    } else {  /* j = q * uw - e must lie in [0, wq) */
        lo = e > 0 ? (e + uw - 1) / uw : 0;
        hi = wq - 1 + e < 0 ? 0 : (wq - 1 + e) / uw + 1;
        if (hi > ws) hi = ws;
    }
    if (hi <= lo) return;
    for (int64_t i = 0; i < hq; i++) {
        float *restrict d = dst + i * wq;
        const int64_t t = i * sh + a - offh;
        if (t < 0 || t % uh || t / uh >= hs) continue;
        const float *s = src + t / uh * ws, *mk = mask ? mask + t / uh * ws : NULL;
        if (uw > 1) {
            for (int64_t q = lo; q < hi; q++) d[q * uw - e] = mk ? (cg_act_passes(mk[q], mhi) ? s[q] : 0.0f) : s[q];
        } else if (sw == 1) {
            if (mk) {
                #pragma omp simd
                for (int64_t j = lo; j < hi; j++) d[j] = cg_act_passes(mk[j + e], mhi) ? s[j + e] : 0.0f;
            } else {
                #pragma omp simd
                for (int64_t j = lo; j < hi; j++) d[j] = s[j + e];
            }
        } else if (sw == 2 && !mk) {  /* the stride-2 forward: a constant stride the compiler vectorises */
            for (int64_t j = lo; j < hi; j++) d[j] = s[2 * j + e];
        } else {
            for (int64_t j = lo; j < hi; j++) d[j] = !mk || cg_act_passes(mk[j * sw + e], mhi) ? s[j * sw + e] : 0.0f;
        }
    }
}

/* acc[Lb] = sum over taps t (in order) of wt[t] * P[off[t] + i], in blocks of DW_B floats kept in
 * registers across the taps. Lb is a multiple of DW_B. */
DW_CLONES static void taps_acc(float *restrict acc, const float *restrict P, const int64_t *restrict off,
                     const float *restrict wt, int64_t T, int64_t Lb) {
    for (int64_t i0 = 0; i0 < Lb; i0 += DW_B) {
        float a[DW_B];
        for (int k = 0; k < DW_B; k++) a[k] = 0.0f;
        for (int64_t t = 0; t < T; t++) {
            const float wv = wt[t];
            const float *restrict p = P + off[t] + i0;
            for (int k = 0; k < DW_B; k++) a[k] += wv * p[k];
        }
        for (int k = 0; k < DW_B; k++) acc[i0 + k] = a[k];
    }
}

/* lanes[DW_B] += the products dy[i] * P[i], i < Lb, lane i % DW_B. */
DW_CLONES static void dot_lanes(float *restrict lanes, const float *restrict dy, const float *restrict P, int64_t Lb) {
    float a[DW_B];
    for (int k = 0; k < DW_B; k++) a[k] = lanes[k];
    for (int64_t i0 = 0; i0 < Lb; i0 += DW_B)
        for (int k = 0; k < DW_B; k++) a[k] += dy[i0 + k] * P[i0 + k];
    for (int k = 0; k < DW_B; k++) lanes[k] = a[k];
}

/* The lanes' sum, pairwise in a fixed order. */
static float lanes_sum(const float *l) {
    float s[DW_B / 2];
    for (int k = 0; k < DW_B / 2; k++) s[k] = l[k] + l[k + DW_B / 2];
    for (int h = DW_B / 4; h >= 1; h /= 2)
        for (int k = 0; k < h; k++) s[k] += s[k + h];
    return s[0];
}

/* The forward's tap offsets into the phase planes: off[ki * KW + kj]. */
static void offsets_forward(int64_t *off, const dw_geom *d) {
    const cg_im2col_geom *g = d->g;
    for (int64_t ki = 0; ki < g->kh; ki++)
        for (int64_t kj = 0; kj < g->kw; kj++)
            off[ki * g->kw + kj] = ((ki * g->dh % g->sh) * g->sw + kj * g->dw % g->sw) * d->pf +
                                   ki * g->dh / g->sh * d->wq + kj * g->dw / g->sw;
}

/* x[C-plane, h, w] into the forward's phase planes P, zeroed by the caller (see pack_plane). */
static void pack_input(float *P, const float *xc, const dw_geom *d) {
    const cg_im2col_geom *g = d->g;
    for (int64_t a = 0; a < g->sh; a++)
        for (int64_t b = 0; b < g->sw; b++)
            pack_plane(P + (a * g->sw + b) * d->pf, xc, NULL, cg_act_hi(false), g->h, g->w, d->hq, d->wq, a, b, g->sh, g->sw, 1, 1,
                       g->ph, g->pw);
}

/* Threads for `units` work items of `macs` multiply-adds in all (not inside a parallel region). */
static int dw_threads(int64_t units, double macs) {
    if (omp_in_parallel()) return 1;
    cg_threads_sync();
    int nt = omp_get_max_threads();
    if (nt <= 1 || units < 2 || macs < (double)CG_OMP_MIN) return 1;
    return units < nt ? (int)units : nt;
}

/* ---- forward ------------------------------------------------------------- */
/* Image n, channel c: its M output planes. slab: this thread's P | acc. */
static void forward_unit(float *restrict y, const float *restrict x, const float *restrict w, const float *restrict b,
                         const dw_geom *d, const int64_t *off, bool relu, bool six, float *slab, int64_t n, int64_t c) {
    const cg_im2col_geom *g = d->g;
    const int64_t ohw = g->oh * g->ow, OW = g->ow, wq = d->wq;
    float *P = slab, *acc = slab + round16((size_t)d->ff);  /* P zeroed by the caller, once per call */
    pack_input(P, x + (n * d->c + c) * g->h * g->w, d);
    for (int64_t m = 0; m < d->m; m++) {
        const int64_t o = c * d->m + m;
        taps_acc(acc, P, off, w + o * d->T, d->T, d->Lbf);
        float *yo = y + (n * d->c * d->m + o) * ohw;
        const bool bias = b != NULL;
        const float bv = bias ? b[o] : 0.0f;
        for (int64_t r = 0; r < g->oh; r++) {
            const float *s = acc + r * wq;
            float *yr = yo + r * OW;
            if (six) {   /* as cg_relu6 (hardtanh(0, 6)): NaN stays */
                #pragma omp simd
                for (int64_t j = 0; j < OW; j++) {
                    float v = bias ? s[j] + bv : s[j];
                    yr[j] = cg_relu6_value(v);
                }
            } else if (relu) {
                #pragma omp simd
                for (int64_t j = 0; j < OW; j++) { float v = bias ? s[j] + bv : s[j]; yr[j] = v <= 0.0f ? 0.0f : v; }  /* NaN stays */
            } else if (bias) {
                #pragma omp simd
                for (int64_t j = 0; j < OW; j++) yr[j] = s[j] + bv;
            } else {
                #pragma omp simd
                for (int64_t j = 0; j < OW; j++) yr[j] = s[j];
            }
        }
    }
}

cg_status cg_conv_dw_forward(float *y, const float *x, const float *w, const float *b, const cg_im2col_geom *g,
                             int64_t n, int64_t oc, bool relu, bool six) {
    dw_geom d;
    dw_geom_make(&d, g, n, oc);
    const size_t per = slab_forward(&d), shared = round16((size_t)(2 * d.T));
    const int nt = dw_threads(n * d.c, (double)n * (double)oc * (double)d.Lf * (double)d.T);
    float *ws = cg_scratch_borrow((shared + per * (size_t)nt) * sizeof(float));
    if (!ws) return CG_ENOMEM;
    int64_t *off = (int64_t *)(void *)ws;
    offsets_forward(off, &d);
    float *slabs = ws + shared;
    const int64_t units = n * d.c;
    if (nt == 1) {
        memset(slabs, 0, (size_t)d.ff * sizeof(float));
        for (int64_t u = 0; u < units; u++) forward_unit(y, x, w, b, &d, off, relu, six, slabs, u / d.c, u % d.c);
        return CG_OK;
    }
    #pragma omp parallel num_threads(nt)
    {
        float *slab = slabs + (size_t)omp_get_thread_num() * per;
        memset(slab, 0, (size_t)d.ff * sizeof(float));
        #pragma omp for schedule(static)
        for (int64_t u = 0; u < units; u++) forward_unit(y, x, w, b, &d, off, relu, six, slab, u / d.c, u % d.c);
    }
    return CG_OK;
}

/* ---- backward ------------------------------------------------------------ */
typedef struct dw_back {
    float *dx, *dw, *db;
    const float *dy, *y, *x, *w;
    const int64_t *offf, *offd;
    bool dx_fresh;
    float mhi;   /* the mask's upper bound: 6 for a fused ReLU6, NaN (none) for a ReLU */
} dw_back;

/* Zero a backward slab's packed planes (P, dy rows, spread dy), once per call: see pack_plane. */
static void backward_zero(const dw_geom *d, float *slab) {
    const size_t n = round16((size_t)d->ff) + round16((size_t)(d->m * d->Lbf)) + (size_t)d->fd;
    memset(slab, 0, n * sizeof(float));
}

/* Channel c over all images: dx[:, c], dw and db of its M output channels. slab: this thread's
 * (see slab_backward). */
static void backward_channel(const dw_back *j, const dw_geom *d, float *slab, int64_t c) {
    const cg_im2col_geom *g = d->g;
    const int64_t M = d->m, T = d->T, hw = g->h * g->w, ohw = g->oh * g->ow, OC = d->c * M;
    float *P = slab;
    float *dyq = P + round16((size_t)d->ff);
    float *U = dyq + round16((size_t)(M * d->Lbf));
    float *acc = U + round16((size_t)d->fd);
    float *lanes = acc + round16((size_t)d->Lbd);
    float *wflip = lanes + round16((size_t)(M * T * DW_B));
    double *dbs = (double *)(void *)(wflip + round16((size_t)(M * T)));
    const bool rows = j->dw || j->db;  /* dy in wq-float rows */
    if (j->dw) memset(lanes, 0, (size_t)(M * T * DW_B) * sizeof(float));
    for (int64_t m = 0; m < M; m++) dbs[m] = 0.0;
    if (j->dx)  /* tap t of plane m takes the kernel's tap T-1-t: the flipped kernel */
        for (int64_t m = 0; m < M; m++)
            for (int64_t t = 0; t < T; t++) wflip[m * T + t] = j->w[(c * M + m) * T + T - 1 - t];
    for (int64_t n = 0; n < d->n; n++) {
        const float *dyn = j->dy + (n * OC + c * M) * ohw, *yn = j->y ? j->y + (n * OC + c * M) * ohw : NULL;
        if (n + 1 < d->n) {  /* the next image's planes: each is a new stream (see cg_prefetch_plane) */
            cg_prefetch_plane(dyn + OC * ohw, M * ohw);
            if (yn) cg_prefetch_plane(yn + OC * ohw, M * ohw);
            if (j->dw) cg_prefetch_plane(j->x + ((n + 1) * d->c + c) * hw, hw);
            if (j->dx) cg_prefetch_plane(j->dx + ((n + 1) * d->c + c) * hw, hw);
        }
        if (rows)
            for (int64_t m = 0; m < M; m++) {
                float *q = dyq + m * d->Lbf;
                pack_plane(q, dyn + m * ohw, yn ? yn + m * ohw : NULL, j->mhi, g->oh, g->ow, g->oh, d->wq, 0, 0, 1, 1, 1, 1, 0, 0);
                if (j->db) dbs[m] += cg_sum_blocks(0.0, q, d->Lf);
            }
        if (j->dw) {
            pack_input(P, j->x + (n * d->c + c) * hw, d);
            for (int64_t m = 0; m < M; m++)
                for (int64_t t = 0; t < T; t++)
                    dot_lanes(lanes + (m * T + t) * DW_B, dyq + m * d->Lbf, P + j->offf[t], d->Lbf);
        }
        if (j->dx) {
            for (int64_t m = 0; m < M; m++)
                pack_plane(U + m * d->pd, dyn + m * ohw, yn ? yn + m * ohw : NULL, j->mhi, g->oh, g->ow, d->hd, d->wd, 0, 0,
                           1, 1, g->sh, g->sw, d->offh, d->offw);
            taps_acc(acc, U, j->offd, wflip, M * T, d->Lbd);
            float *dxc = j->dx + (n * d->c + c) * hw;
            for (int64_t r = 0; r < g->h; r++) {
                const float *s = acc + r * d->wd;
                float *o = dxc + r * g->w;
                if (j->dx_fresh) {
                    #pragma omp simd
                    for (int64_t i = 0; i < g->w; i++) o[i] = s[i];
                } else {
                    #pragma omp simd
                    for (int64_t i = 0; i < g->w; i++) o[i] += s[i];
                }
            }
        }
    }
    if (j->dw)
        for (int64_t k = 0; k < M * T; k++) j->dw[c * M * T + k] += lanes_sum(lanes + k * DW_B);
    if (j->db)
        for (int64_t m = 0; m < M; m++) j->db[c * M + m] += (float)dbs[m];
}

cg_status cg_conv_dw_backward(float *dx, bool dx_fresh, float *dw, float *db, const float *dy, const float *y,
                              bool six, const float *x, const float *w, const cg_im2col_geom *g, int64_t n,
                              int64_t oc) {
    if (!dx && !dw && !db) return CG_OK;
    dw_geom d;
    dw_geom_make(&d, g, n, oc);
    const int64_t T = d.T, M = d.m;
    const size_t per = slab_backward(&d), shared = round16((size_t)(2 * T)) + round16((size_t)(2 * M * T));
    const double macs = (double)n * (double)oc * ((dx ? (double)d.Ld : 0.0) + (dw ? (double)d.Lf : 0.0)) * (double)T;
    const int nt = dw_threads(d.c, macs);
    float *ws = cg_scratch_borrow((shared + per * (size_t)nt) * sizeof(float));
    if (!ws) return CG_ENOMEM;
    int64_t *offf = (int64_t *)(void *)ws, *offd = (int64_t *)(void *)(ws + round16((size_t)(2 * T)));
    offsets_forward(offf, &d);
    for (int64_t m = 0; m < M; m++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++)
                offd[m * T + ki * g->kw + kj] = m * d.pd + ki * g->dh * d.wd + kj * g->dw;
    float *slabs = ws + shared;
    const dw_back job = { dx, dw, db, dy, y, x, w, offf, offd, dx_fresh, cg_act_hi(six) };
    if (nt == 1) {
        backward_zero(&d, slabs);
        for (int64_t c = 0; c < d.c; c++) backward_channel(&job, &d, slabs, c);
        return CG_OK;
    }
    /* The channels run at once (items k .. k + nt - 1) lie span apart, not side by side: neighbours
     * share the boundary cache lines of their dx planes in every image (a 14x14 plane is 12.25
     * lines), and two threads writing them at once took a third of the dx pass (bench-conv). */
    const int64_t span = (d.c + nt - 1) / nt;
    #pragma omp parallel num_threads(nt)
    {
        float *slab = slabs + (size_t)omp_get_thread_num() * per;
        backward_zero(&d, slab);
        #pragma omp for schedule(dynamic, 1)
        for (int64_t k = 0; k < span * nt; k++) {  /* item k: channel (k % nt) * span + k / nt */
            const int64_t c = k % nt * span + k / nt;
            if (c < d.c) backward_channel(&job, &d, slab, c);
        }
    }
    return CG_OK;
}
