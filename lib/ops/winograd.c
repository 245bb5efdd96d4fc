/* SPDX-License-Identifier: MIT */
/* lib/ops/winograd.c — Winograd F(2x2, 3x3) transforms for conv2d (see winograd.h).
 *
 * The 1-D maps, applied along both axes of a tile (Lavin & Gray, "Fast Algorithms for
 * Convolutional Neural Networks", 2015):
 *   input   Bᵀ v = [v0 - v2, v1 + v2, v2 - v1, v1 - v3]        adjoint  B u = [u0, u1 - u2 + u3, u2 + u1 - u0, -u3]
 *   kernel  G g  = [g0, (g0 + g1 + g2)/2, (g0 - g1 + g2)/2, g2]  adjoint  Gᵀ u = [u0 + (u1 + u2)/2, (u1 - u2)/2, (u1 + u2)/2 + u3]
 *   output  Aᵀ m = [m0 + m1 + m2, m1 - m2 - m3]                 adjoint  A y = [y0, y0 + y1, y0 - y1, -y1]
 * Transform position ξ = 4*i + k for row i and column k of the 4x4 tile. The generic loops copy
 * each input channel once into a zero-bordered scratch, so no tile loop checks bounds; they run
 * over a row of tiles and vectorise (the 16 values of a tile sit in 16 planes). */
#include "winograd.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include "cg_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CG_WINO_AVX512 1
#include <immintrin.h>
#endif

/* AVX-512 forms of the four per-image transforms (input, output, and their adjoints for dM and
 * dx): a tile row of up to 16 tiles per masked vector. The library is otherwise built for baseline
 * x86-64, whose 4-wide loops ran a row of 14 tiles as three vectors and two scalars. They do the
 * same adds in the same order as the generic loops, and no multiplies, so the bits are the same
 * (tests/test_conv2d.c, test_winograd_isa_bits). Chosen once per process from CPUID
 * (cg_cpu_detect). The AVX-512 input transform reads x itself, not the padded copy (masked loads
 * give the border's zeros), and prefetches the rows it reads next: x comes from L3, and the copy
 * had hidden that latency by streaming. Copy and transform took 11.4% of the residual net's
 * training (perf, 2 threads), the direct form 6.1%; without the prefetch it also took 11.4%. */
static _Atomic int wino_generic;   /* tests: 1 runs the generic loops (cg_wino_force_generic) */

void cg_wino_force_generic(bool on) { atomic_store_explicit(&wino_generic, on, memory_order_relaxed); }

static bool wino_avx512(void) {
#ifdef CG_WINO_AVX512
    return !atomic_load_explicit(&wino_generic, memory_order_relaxed) && cg_cpu_has_avx512();
#else
    return false;
#endif
}

int64_t cg_wino_plane(int64_t n) { return ((n + 15) & ~(int64_t)15) + 16; }

cg_wino_geom cg_wino_geom_make(int64_t c, int64_t h, int64_t w, int64_t ph, int64_t pw, int64_t oh, int64_t ow) {
    return (cg_wino_geom){ .c = c, .h = h, .w = w, .ph = ph, .pw = pw, .oh = oh, .ow = ow,
                           .th = (oh + 1) / 2, .tw = (ow + 1) / 2 };
}

/* The scratch: (2*th + 2) rows of (2*tw + 2) floats, element [r][s] at input (r - ph, s - pw).
 * For a stride-1 3x3 layer (oh = h + 2*ph - 2) it covers every input row and column. */
int64_t cg_wino_pad_floats(const cg_wino_geom *g) { return (2 * g->th + 2) * (2 * g->tw + 2); }

void cg_wino_weights(float *restrict U, const float *restrict w, int64_t oc, int64_t c) {
    const int64_t plane = cg_wino_plane(oc * c);
    for (int64_t o = 0; o < oc; o++)
        for (int64_t ci = 0; ci < c; ci++) {
            const float *g = w + (o * c + ci) * 9;
            float t[4][3];
            for (int s = 0; s < 3; s++) {
                float g0 = g[s], g1 = g[3 + s], g2 = g[6 + s];
                t[0][s] = g0;
                t[1][s] = 0.5f * (g0 + g1 + g2);
                t[2][s] = 0.5f * (g0 - g1 + g2);
                t[3][s] = g2;
            }
            float *u = U + o * c + ci;
            for (int i = 0; i < 4; i++) {
                float a = t[i][0], b = t[i][1], d = t[i][2];
                u[(4 * i + 0) * plane] = a;
                u[(4 * i + 1) * plane] = 0.5f * (a + b + d);
                u[(4 * i + 2) * plane] = 0.5f * (a - b + d);
                u[(4 * i + 3) * plane] = d;
            }
        }
}

void cg_wino_weights_grad_add(float *restrict dw, const float *restrict dU, int64_t oc, int64_t c) {
    const int64_t plane = cg_wino_plane(oc * c);
    for (int64_t o = 0; o < oc; o++)
        for (int64_t ci = 0; ci < c; ci++) {
            const float *u = dU + o * c + ci;
            float v[3][4];
            for (int k = 0; k < 4; k++) {
                float u0 = u[k * plane], u1 = u[(4 + k) * plane], u2 = u[(8 + k) * plane], u3 = u[(12 + k) * plane];
                v[0][k] = u0 + 0.5f * (u1 + u2);
                v[1][k] = 0.5f * (u1 - u2);
                v[2][k] = 0.5f * (u1 + u2) + u3;
            }
            float *g = dw + (o * c + ci) * 9;
            for (int r = 0; r < 3; r++) {
                float u0 = v[r][0], u1 = v[r][1], u2 = v[r][2], u3 = v[r][3];
                g[3 * r + 0] += u0 + 0.5f * (u1 + u2);
                g[3 * r + 1] += 0.5f * (u1 - u2);
                g[3 * r + 2] += 0.5f * (u1 + u2) + u3;
            }
        }
}

/* pad <- channel xc with its zero border (see cg_wino_pad_floats), each padded row split into its
 * even columns, then its odd ones: E[s] = row[2s] at pad + r*PC, O[s] = row[2s+1] at
 * pad + r*PC + TW + 1. The input transform then reads a tile's four columns 2tj .. 2tj+3 as
 * E[tj], O[tj], E[tj+1], O[tj+1]: unit-stride loads of data written long before. */
static void pad_channel_split(float *restrict pad, const float *restrict xc, const cg_wino_geom *g) {
    const int64_t PR = 2 * g->th + 2, PC = 2 * g->tw + 2, H = g->tw + 1, W = g->w, pw = g->pw;
    /* s in [s0, s1): both 2s - pw and 2s + 1 - pw inside [0, W); the rest, with the border, scalar */
    int64_t s1 = (W + pw) / 2, s0 = (pw + 1) / 2;
    if (s1 > H) s1 = H;
    if (s0 > s1) s0 = s1;
    for (int64_t r = 0; r < PR; r++) {
        float *e = pad + r * PC, *o = e + H;
        const int64_t ih = r - g->ph;
        if (ih < 0 || ih >= g->h) { memset(e, 0, (size_t)PC * sizeof(float)); continue; }
        const float *xr = xc + ih * W;
        for (int64_t u = 0; u < H; u++) {
            if (u == s0) u = s1;   /* the middle below */
            if (u >= H) break;
            const int64_t i0 = 2 * u - pw, i1 = i0 + 1;
            e[u] = i0 >= 0 && i0 < W ? xr[i0] : 0.0f;
            o[u] = i1 >= 0 && i1 < W ? xr[i1] : 0.0f;
        }
        #pragma omp simd
        for (int64_t u = s0; u < s1; u++) {
            e[u] = xr[2 * u - pw];
            o[u] = xr[2 * u + 1 - pw];
        }
    }
}

/* The pad scratch holds the padded channel, then (cg_wino_input_grad_add) 16 rows of tw floats. */
int64_t cg_wino_pad_floats_total(const cg_wino_geom *g) { return cg_wino_pad_floats(g) + 16 * (g->tw + 1); }

#ifdef CG_WINO_AVX512
/* Lanes k of 16 whose column base + k lies in [0, w): what a masked load may touch of a row. */
static inline __mmask16 cols_mask(int64_t base, int64_t w) {
    int64_t lo = -base, hi = w - base;
    lo = lo < 0 ? 0 : lo;
    hi = hi > 16 ? 16 : hi;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

/* p + k floats as an address only: a masked load may start before or after the row it reads,
 * touching none of its masked-out lanes (no pointer arithmetic outside the object). */
static inline const float *float_at(const float *p, int64_t k) {
    return (const float *)((uintptr_t)p + (uintptr_t)k * sizeof(float));
}

/* cg_wino_input straight from x, no padded copy: per tile row and chunk of 16 tiles, each of the
 * four input rows is read as 48 columns from 2j - pw (three masked loads: the border and the
 * overhang read as 0, as in the padded channel), split by two permutes into the tiles' columns
 * 2tj (a) and 2tj+1 (b), and by two more into 2tj+2 (d) and 2tj+3 (f). The same values as the
 * generic loops read from the split channel, the same adds in the same order. */
enum { PF_AHEAD = 2 };   /* tile rows */
__attribute__((target("avx512f"))) static void input_direct_avx512(float *V, const float *x, const cg_wino_geom *g) {
    const int64_t T = g->th * g->tw, plane = cg_wino_plane(g->c * T), TW = g->tw, W = g->w;
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const __m512i sh0 = _mm512_set_epi32(16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
    const __m512i sh1 = _mm512_set_epi32(17, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
    for (int64_t c = 0; c < g->c; c++) {
        const float *xc = x + c * g->h * W;
        for (int64_t ti = 0; ti < g->th; ti++) {
            const float *rows[4];
            for (int r = 0; r < 4; r++) {
                const int64_t ih = 2 * ti + r - g->ph;
                rows[r] = ih >= 0 && ih < g->h ? xc + ih * W : NULL;
            }
            /* the two rows that tile row ti + PF_AHEAD will read first (they may be the next
             * channel's): x comes from L3, and without this the loads waited for it */
            cg_prefetch(xc, (2 * (ti + PF_AHEAD) + 2 - g->ph) * W, 2 * W);
            float *v = V + c * T + ti * TW;
            for (int64_t j = 0; j < TW; j += 16) {
                const __mmask16 m = (__mmask16)(TW - j >= 16 ? 0xffff : (1u << (TW - j)) - 1);
                const int64_t base = 2 * j - g->pw;
                const __mmask16 k0 = cols_mask(base, W), k1 = cols_mask(base + 16, W), k2 = cols_mask(base + 32, W);
                __m512 a[4], b[4], d[4], f[4];
                for (int r = 0; r < 4; r++) {
                    if (!rows[r]) { a[r] = b[r] = d[r] = f[r] = _mm512_setzero_ps(); continue; }
                    const __m512 l0 = _mm512_maskz_loadu_ps(k0, float_at(rows[r], base));
                    const __m512 l1 = _mm512_maskz_loadu_ps(k1, float_at(rows[r], base + 16));
                    const __m512 l2 = _mm512_maskz_loadu_ps(k2, float_at(rows[r], base + 32));
                    a[r] = _mm512_permutex2var_ps(l0, ev, l1);
                    b[r] = _mm512_permutex2var_ps(l0, od, l1);
                    d[r] = _mm512_permutex2var_ps(a[r], sh0, l2);   /* [a1 .. a15, column 32] */
                    f[r] = _mm512_permutex2var_ps(b[r], sh1, l2);   /* [b1 .. b15, column 33] */
                }
                __m512 ta[4], tb[4], td[4], tf[4];
                ta[0] = _mm512_sub_ps(a[0], a[2]), tb[0] = _mm512_sub_ps(b[0], b[2]);
                td[0] = _mm512_sub_ps(d[0], d[2]), tf[0] = _mm512_sub_ps(f[0], f[2]);
                ta[1] = _mm512_add_ps(a[1], a[2]), tb[1] = _mm512_add_ps(b[1], b[2]);
                td[1] = _mm512_add_ps(d[1], d[2]), tf[1] = _mm512_add_ps(f[1], f[2]);
                ta[2] = _mm512_sub_ps(a[2], a[1]), tb[2] = _mm512_sub_ps(b[2], b[1]);
                td[2] = _mm512_sub_ps(d[2], d[1]), tf[2] = _mm512_sub_ps(f[2], f[1]);
                ta[3] = _mm512_sub_ps(a[1], a[3]), tb[3] = _mm512_sub_ps(b[1], b[3]);
                td[3] = _mm512_sub_ps(d[1], d[3]), tf[3] = _mm512_sub_ps(f[1], f[3]);
                for (int i = 0; i < 4; i++) {
                    float *vi = v + (4 * i) * plane + j;
                    _mm512_mask_storeu_ps(vi, m, _mm512_sub_ps(ta[i], td[i]));
                    _mm512_mask_storeu_ps(vi + plane, m, _mm512_add_ps(tb[i], td[i]));
                    _mm512_mask_storeu_ps(vi + 2 * plane, m, _mm512_sub_ps(td[i], tb[i]));
                    _mm512_mask_storeu_ps(vi + 3 * plane, m, _mm512_sub_ps(tb[i], tf[i]));
                }
            }
        }
    }
}

/* One tile row of cg_wino_output: m the row's first tile in plane 0, y0/y1 its two output rows
 * (rows: 1 for an odd height's last), ow_left = output columns of the row. */
__attribute__((target("avx512f"))) static void output_row_avx512(float *y0, float *y1, int rows, const float *m,
                                                                 int64_t plane, int64_t TW, int64_t OW) {
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    for (int64_t j = 0; j < TW; j += 16) {
        const __mmask16 mk = (__mmask16)(TW - j >= 16 ? 0xffff : (1u << (TW - j)) - 1);
        __m512 s[2][4];
        for (int k = 0; k < 4; k++) {
            const float *m0 = m + k * plane + j;
            const __m512 a = _mm512_maskz_loadu_ps(mk, m0), b = _mm512_maskz_loadu_ps(mk, m0 + 4 * plane);
            const __m512 c = _mm512_maskz_loadu_ps(mk, m0 + 8 * plane), d = _mm512_maskz_loadu_ps(mk, m0 + 12 * plane);
            s[0][k] = _mm512_add_ps(_mm512_add_ps(a, b), c);
            s[1][k] = _mm512_sub_ps(_mm512_sub_ps(b, c), d);
        }
        const int64_t cols = OW - 2 * j < 32 ? OW - 2 * j : 32;   /* output columns of these tiles */
        const __mmask16 m_lo = (__mmask16)(cols >= 16 ? 0xffff : (1u << cols) - 1);
        const __mmask16 m_hi = (__mmask16)(cols >= 32 ? 0xffff : cols > 16 ? (1u << (cols - 16)) - 1 : 0);
        for (int r = 0; r < rows; r++) {
            const __m512 even = _mm512_add_ps(_mm512_add_ps(s[r][0], s[r][1]), s[r][2]);
            const __m512 odd = _mm512_sub_ps(_mm512_sub_ps(s[r][1], s[r][2]), s[r][3]);
            float *yo = (r ? y1 : y0) + 2 * j;
            _mm512_mask_storeu_ps(yo, m_lo, _mm512_permutex2var_ps(even, lo, odd));
            _mm512_mask_storeu_ps(yo + 16, m_hi, _mm512_permutex2var_ps(even, hi, odd));
        }
    }
}
#endif

/* Bᵀ d B of every tile of a tile row, straight from the split rows: per tile, row combination
 * t_i = (Bᵀ on rows 2ti..2ti+3) at the tile's four columns, then Bᵀ across them, into 16 planes. */
void cg_wino_input(float *restrict V, const float *restrict x, const cg_wino_geom *g, float *restrict pad) {
    const int64_t T = g->th * g->tw, plane = cg_wino_plane(g->c * T), PC = 2 * g->tw + 2, TW = g->tw, H = TW + 1;
#ifdef CG_WINO_AVX512
    if (wino_avx512()) { input_direct_avx512(V, x, g); return; }
#endif
    for (int64_t c = 0; c < g->c; c++) {
        pad_channel_split(pad, x + c * g->h * g->w, g);
        for (int64_t ti = 0; ti < g->th; ti++) {
            const float *e0 = pad + 2 * ti * PC, *e1 = e0 + PC, *e2 = e1 + PC, *e3 = e2 + PC;
            const float *o0 = e0 + H, *o1 = e1 + H, *o2 = e2 + H, *o3 = e3 + H;
            float *v = V + c * T + ti * TW;
            float *v0 = v, *v1 = v0 + plane, *v2 = v1 + plane, *v3 = v2 + plane, *v4 = v3 + plane, *v5 = v4 + plane,
                  *v6 = v5 + plane, *v7 = v6 + plane, *v8 = v7 + plane, *v9 = v8 + plane, *v10 = v9 + plane,
                  *v11 = v10 + plane, *v12 = v11 + plane, *v13 = v12 + plane, *v14 = v13 + plane, *v15 = v14 + plane;
            #pragma omp simd
            for (int64_t tj = 0; tj < TW; tj++) {
                /* columns 2tj (a), 2tj+1 (b), 2tj+2 (d), 2tj+3 (f) of rows 0..3 */
                const float a0 = e0[tj], b0 = o0[tj], d0 = e0[tj + 1], f0 = o0[tj + 1];
                const float a1 = e1[tj], b1 = o1[tj], d1 = e1[tj + 1], f1 = o1[tj + 1];
                const float a2 = e2[tj], b2 = o2[tj], d2 = e2[tj + 1], f2 = o2[tj + 1];
                const float a3 = e3[tj], b3 = o3[tj], d3 = e3[tj + 1], f3 = o3[tj + 1];
                /* Bᵀ on the rows: t0 = r0 - r2, t1 = r1 + r2, t2 = r2 - r1, t3 = r1 - r3 */
                const float ta0 = a0 - a2, tb0 = b0 - b2, td0 = d0 - d2, tf0 = f0 - f2;
                const float ta1 = a1 + a2, tb1 = b1 + b2, td1 = d1 + d2, tf1 = f1 + f2;
                const float ta2 = a2 - a1, tb2 = b2 - b1, td2 = d2 - d1, tf2 = f2 - f1;
                const float ta3 = a1 - a3, tb3 = b1 - b3, td3 = d1 - d3, tf3 = f1 - f3;
                /* then across the columns: [a - d, b + d, d - b, b - f] */
                v0[tj] = ta0 - td0;
                v1[tj] = tb0 + td0;
                v2[tj] = td0 - tb0;
                v3[tj] = tb0 - tf0;
                v4[tj] = ta1 - td1;
                v5[tj] = tb1 + td1;
                v6[tj] = td1 - tb1;
                v7[tj] = tb1 - tf1;
                v8[tj] = ta2 - td2;
                v9[tj] = tb2 + td2;
                v10[tj] = td2 - tb2;
                v11[tj] = tb2 - tf2;
                v12[tj] = ta3 - td3;
                v13[tj] = tb3 + td3;
                v14[tj] = td3 - tb3;
                v15[tj] = tb3 - tf3;
            }
        }
    }
}

#ifdef CG_WINO_AVX512
/* Sign flip without arithmetic (0 - x would turn -0 into +0; the generic loops negate). */
__attribute__((target("avx512f"))) static inline __m512 neg512(__m512 x) {
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u)));
}

/* One tile row of cg_wino_output_grad: d0/d1 the row's two dy rows (d1 NULL: overhang, zeros),
 * m the row's first tile in plane 0. */
__attribute__((target("avx512f"))) static void output_grad_row_avx512(float *m, int64_t plane, const float *d0,
                                                                      const float *d1, int64_t TW, int64_t OW) {
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    for (int64_t j = 0; j < TW; j += 16) {
        const __mmask16 mk = (__mmask16)(TW - j >= 16 ? 0xffff : (1u << (TW - j)) - 1);
        const int64_t cols = OW - 2 * j < 32 ? OW - 2 * j : 32;
        const __mmask16 m_lo = (__mmask16)(cols >= 16 ? 0xffff : (1u << cols) - 1);
        const __mmask16 m_hi = (__mmask16)(cols >= 32 ? 0xffff : cols > 16 ? (1u << (cols - 16)) - 1 : 0);
        const __m512 a_lo = _mm512_maskz_loadu_ps(m_lo, d0 + 2 * j), a_hi = _mm512_maskz_loadu_ps(m_hi, d0 + 2 * j + 16);
        const __m512 y00 = _mm512_permutex2var_ps(a_lo, ev, a_hi), y01 = _mm512_permutex2var_ps(a_lo, od, a_hi);
        __m512 y10 = _mm512_setzero_ps(), y11 = _mm512_setzero_ps();
        if (d1) {
            const __m512 b_lo = _mm512_maskz_loadu_ps(m_lo, d1 + 2 * j), b_hi = _mm512_maskz_loadu_ps(m_hi, d1 + 2 * j + 16);
            y10 = _mm512_permutex2var_ps(b_lo, ev, b_hi);
            y11 = _mm512_permutex2var_ps(b_lo, od, b_hi);
        }
        /* as out_grad_tile: u = A y, then m = u Aᵀ */
        const __m512 u[4][2] = { { y00, y01 },
                                 { _mm512_add_ps(y00, y10), _mm512_add_ps(y01, y11) },
                                 { _mm512_sub_ps(y00, y10), _mm512_sub_ps(y01, y11) },
                                 { neg512(y10), neg512(y11) } };
        for (int i = 0; i < 4; i++) {
            float *mi = m + (4 * i) * plane + j;
            _mm512_mask_storeu_ps(mi, mk, u[i][0]);
            _mm512_mask_storeu_ps(mi + plane, mk, _mm512_add_ps(u[i][0], u[i][1]));
            _mm512_mask_storeu_ps(mi + 2 * plane, mk, _mm512_sub_ps(u[i][0], u[i][1]));
            _mm512_mask_storeu_ps(mi + 3 * plane, mk, neg512(u[i][1]));
        }
    }
}

/* One tile row of cg_wino_input_grad_add: B dV B of its tiles, added into the padded rows
 * 2ti .. 2ti+3 (pad0 the first, PC apart). Tile m's columns 2m .. 2m+3 overlap tile m+1's first
 * two, so output column pair m (columns 2m, 2m+1) takes tile m's first two and tile m-1's last
 * two: the lanes run over pairs m = 0 .. TW, tile m-1 reaching lane m by a one-lane shift (with
 * the last lane of the chunk before), tiles outside [0, TW) read as zeros. Same adds in the same
 * order as the generic loop. */
__attribute__((target("avx512f"))) static void input_grad_row_avx512(float *pad0, int64_t PC, const float *v,
                                                                     int64_t plane, int64_t TW) {
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    __m512 carry[4][4];   /* q[r][k] of the chunk before (its lane 15: tile m0 - 1) */
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < 4; k++) carry[r][k] = _mm512_setzero_ps();
    for (int64_t m0 = 0; m0 <= TW; m0 += 16) {
        const int64_t nt = TW - m0 < 0 ? 0 : TW - m0;   /* real tiles in this chunk (<= 16 used) */
        const __mmask16 mk = (__mmask16)(nt >= 16 ? 0xffff : (1u << nt) - 1);
        /* w[i'][k]: B on the columns of each tile (w0 = a, w1 = b - d + e, w2 = d + b - a, w3 = -e) */
        __m512 q[4][4];
        for (int k = 0; k < 4; k++) {
            const float *v0 = v + k * plane + m0;
            const __m512 a = _mm512_maskz_loadu_ps(mk, v0), b = _mm512_maskz_loadu_ps(mk, v0 + 4 * plane);
            const __m512 d = _mm512_maskz_loadu_ps(mk, v0 + 8 * plane), e = _mm512_maskz_loadu_ps(mk, v0 + 12 * plane);
            q[0][k] = a;
            q[1][k] = _mm512_add_ps(_mm512_sub_ps(b, d), e);
            q[2][k] = _mm512_sub_ps(_mm512_add_ps(d, b), a);
            q[3][k] = neg512(e);
        }
        const int64_t pairs = TW + 1 - m0 < 16 ? TW + 1 - m0 : 16;   /* column pairs m0 .. m0+pairs-1 */
        const int64_t cols = 2 * pairs;
        const __mmask16 m_lo = (__mmask16)(cols >= 16 ? 0xffff : (1u << cols) - 1);
        const __mmask16 m_hi = (__mmask16)(cols >= 32 ? 0xffff : cols > 16 ? (1u << (cols - 16)) - 1 : 0);
        for (int r = 0; r < 4; r++) {
            const __m512 a = q[r][0], b = q[r][1], d = q[r][2], e = q[r][3];
            /* tile m-1 in lane m: [carry lane 15, this chunk's lanes 0..14] */
            const __m512 pa = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(a), _mm512_castps_si512(carry[r][0]), 15));
            const __m512 pb = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(b), _mm512_castps_si512(carry[r][1]), 15));
            const __m512 pd = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(d), _mm512_castps_si512(carry[r][2]), 15));
            const __m512 pe = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(e), _mm512_castps_si512(carry[r][3]), 15));
            /* generic: 2m += a + (pd + pb - pa), 2m+1 += (b - d + e) - pe; pair 0 takes a and
             * b - d + e alone, pair TW takes pd + pb - pa and -pe alone */
            __m512 even = _mm512_add_ps(a, _mm512_sub_ps(_mm512_add_ps(pd, pb), pa));
            __m512 odd = _mm512_sub_ps(_mm512_add_ps(_mm512_sub_ps(b, d), e), pe);
            if (m0 == 0) {
                even = _mm512_mask_blend_ps(1, even, a);
                odd = _mm512_mask_blend_ps(1, odd, _mm512_add_ps(_mm512_sub_ps(b, d), e));
            }
            if (TW - m0 < 16) {   /* lane TW - m0 is pair TW */
                const __mmask16 last = (__mmask16)(1u << (TW - m0));
                even = _mm512_mask_blend_ps(last, even, _mm512_sub_ps(_mm512_add_ps(pd, pb), pa));
                odd = _mm512_mask_blend_ps(last, odd, neg512(pe));
            }
            float *row = pad0 + r * PC + 2 * m0;
            const __m512 lo_v = _mm512_permutex2var_ps(even, lo, odd), hi_v = _mm512_permutex2var_ps(even, hi, odd);
            _mm512_mask_storeu_ps(row, m_lo, _mm512_add_ps(_mm512_maskz_loadu_ps(m_lo, row), lo_v));
            _mm512_mask_storeu_ps(row + 16, m_hi, _mm512_add_ps(_mm512_maskz_loadu_ps(m_hi, row + 16), hi_v));
            carry[r][0] = a, carry[r][1] = b, carry[r][2] = d, carry[r][3] = e;
        }
    }
}
#endif

void cg_wino_input_grad_add(float *restrict dx, const float *restrict dV, const cg_wino_geom *g,
                            float *restrict pad, bool set) {
    const int64_t T = g->th * g->tw, plane = cg_wino_plane(g->c * T), PR = 2 * g->th + 2, PC = 2 * g->tw + 2;
    const int64_t TW = g->tw;
    float *restrict w = pad + cg_wino_pad_floats(g);  /* w[4][4][TW]: B on the columns, per tile */
    const bool avx512 = wino_avx512();
    (void)avx512;
    for (int64_t c = 0; c < g->c; c++) {
        memset(pad, 0, (size_t)(PR * PC) * sizeof(float));
        for (int64_t ti = 0; ti < g->th; ti++) {
            const float *v = dV + c * T + ti * TW;
#ifdef CG_WINO_AVX512
            if (avx512) { input_grad_row_avx512(pad + 2 * ti * PC, PC, v, plane, TW); continue; }
#endif
            for (int k = 0; k < 4; k++) {  /* B on the columns of every tile of the row */
                const float *v0 = v + k * plane, *v1 = v0 + 4 * plane, *v2 = v1 + 4 * plane, *v3 = v2 + 4 * plane;
                float *w0 = w + k * TW, *w1 = w0 + 4 * TW, *w2 = w1 + 4 * TW, *w3 = w2 + 4 * TW;
                #pragma omp simd
                for (int64_t tj = 0; tj < TW; tj++) {
                    float a = v0[tj], b = v1[tj], d = v2[tj], e = v3[tj];
                    w0[tj] = a;
                    w1[tj] = b - d + e;
                    w2[tj] = d + b - a;
                    w3[tj] = -e;
                }
            }
            /* then B on the rows, added into the padded channel: tile tj gives columns 2tj..2tj+3,
             * so column 2m gathers tile m's first and tile m-1's third, 2m+1 the second and fourth */
            for (int r = 0; r < 4; r++) {
                const float *q0 = w + (4 * r) * TW, *q1 = q0 + TW, *q2 = q1 + TW, *q3 = q2 + TW;
                float *row = pad + (2 * ti + r) * PC;
                row[0] += q0[0];
                row[1] += q1[0] - q2[0] + q3[0];
                #pragma omp simd
                for (int64_t m = 1; m < TW; m++) {
                    float a = q0[m], b = q1[m], d = q2[m], e = q3[m];
                    float pa = q0[m - 1], pb = q1[m - 1], pd = q2[m - 1], pe = q3[m - 1];
                    row[2 * m] += a + (pd + pb - pa);
                    row[2 * m + 1] += (b - d + e) - pe;
                }
                row[2 * TW] += q2[TW - 1] + q1[TW - 1] - q0[TW - 1];
                row[2 * TW + 1] -= q3[TW - 1];
            }
        }
        float *dxc = dx + c * g->h * g->w;
        for (int64_t ih = 0; ih < g->h; ih++) {
            const float *p = pad + (ih + g->ph) * PC + g->pw;
            float *d = dxc + ih * g->w;
            if (set) {
                #pragma omp simd
                for (int64_t iw = 0; iw < g->w; iw++) d[iw] = p[iw];
            } else {
                #pragma omp simd
                for (int64_t iw = 0; iw < g->w; iw++) d[iw] += p[iw];
            }
        }
    }
}

void cg_wino_output(float *restrict y, const float *restrict M, const cg_wino_geom *g, int64_t oc) {
    const int64_t T = g->th * g->tw, plane = cg_wino_plane(oc * T), OH = g->oh, OW = g->ow, TW = g->tw;
    enum { B = 64 };  /* tiles per block: Aᵀ on the columns into s[2][4][B], then on the rows */
    float s[2][4][B];
    const bool avx512 = wino_avx512();
    (void)avx512;
    for (int64_t o = 0; o < oc; o++)
        for (int64_t ti = 0; ti < g->th; ti++) {
            const float *m = M + o * T + ti * TW;
            float *yr[2] = { y + (o * OH + 2 * ti) * OW, y + (o * OH + 2 * ti + 1) * OW };
            const int rows = 2 * ti + 1 < OH ? 2 : 1;  /* an odd height's last tile row: 1 */
#ifdef CG_WINO_AVX512
            if (avx512) { output_row_avx512(yr[0], yr[1], rows, m, plane, TW, OW); continue; }
#endif
            for (int64_t j0 = 0; j0 < TW; j0 += B) {
                const int64_t nb = TW - j0 < B ? TW - j0 : B;
                for (int k = 0; k < 4; k++) {
                    const float *m0 = m + k * plane + j0, *m1 = m0 + 4 * plane, *m2 = m1 + 4 * plane, *m3 = m2 + 4 * plane;
                    float *s0 = s[0][k], *s1 = s[1][k];
                    #pragma omp simd
                    for (int64_t j = 0; j < nb; j++) {
                        float a = m0[j], b = m1[j], c = m2[j], d = m3[j];
                        s0[j] = a + b + c;
                        s1[j] = b - c - d;
                    }
                }
                /* full tiles write 2 columns; an odd width's last tile writes 1 */
                const int64_t full = (2 * (j0 + nb) <= OW) ? nb : nb - 1;
                for (int a = 0; a < rows; a++) {
                    const float *q0 = s[a][0], *q1 = s[a][1], *q2 = s[a][2], *q3 = s[a][3];
                    float *yo = yr[a] + 2 * j0;
                    #pragma omp simd
                    for (int64_t j = 0; j < full; j++) {
                        float e0 = q0[j], e1 = q1[j], e2 = q2[j], e3 = q3[j];
                        yo[2 * j] = e0 + e1 + e2;
                        yo[2 * j + 1] = e1 - e2 - e3;
                    }
                    if (full < nb) yo[2 * full] = q0[full] + q1[full] + q2[full];
                }
            }
        }
}

/* The 16 values A y Aᵀ of one tile's 2x2 gradient y, stored at m[ξ * plane]. */
static inline void out_grad_tile(float *m, int64_t plane, float y00, float y01, float y10, float y11) {
    const float u[4][2] = { { y00, y01 }, { y00 + y10, y01 + y11 }, { y00 - y10, y01 - y11 }, { -y10, -y11 } };
    for (int i = 0; i < 4; i++) {
        m[(4 * i + 0) * plane] = u[i][0];
        m[(4 * i + 1) * plane] = u[i][0] + u[i][1];
        m[(4 * i + 2) * plane] = u[i][0] - u[i][1];
        m[(4 * i + 3) * plane] = -u[i][1];
    }
}

void cg_wino_output_grad(float *restrict dM, const float *restrict dy, const cg_wino_geom *g, int64_t oc) {
    const int64_t T = g->th * g->tw, plane = cg_wino_plane(oc * T), OH = g->oh, OW = g->ow, full = OW / 2;
    const bool avx512 = wino_avx512();
    (void)avx512;
    for (int64_t o = 0; o < oc; o++)
        for (int64_t ti = 0; ti < g->th; ti++) {
            const float *d0 = dy + (o * OH + 2 * ti) * OW, *d1 = d0 + OW;
            const bool row1 = 2 * ti + 1 < OH;  /* else the tile's second row is overhang: 0 */
            float *m = dM + o * T + ti * g->tw;
#ifdef CG_WINO_AVX512
            if (avx512) { output_grad_row_avx512(m, plane, d0, row1 ? d1 : NULL, g->tw, OW); continue; }
#endif
            if (row1) {
                #pragma omp simd
                for (int64_t tj = 0; tj < full; tj++)
                    out_grad_tile(m + tj, plane, d0[2 * tj], d0[2 * tj + 1], d1[2 * tj], d1[2 * tj + 1]);
            } else {
                #pragma omp simd
                for (int64_t tj = 0; tj < full; tj++)
                    out_grad_tile(m + tj, plane, d0[2 * tj], d0[2 * tj + 1], 0.0f, 0.0f);
            }
            if (full < g->tw)  /* odd width: the last tile's second column is overhang */
                out_grad_tile(m + full, plane, d0[2 * full], 0.0f, row1 ? d1[2 * full] : 0.0f, 0.0f);
        }
}
