/* SPDX-License-Identifier: MIT */
/* lib/ops/winograd.c — Winograd F(2x2, 3x3) transforms for conv2d (see winograd.h).
 *
 * The 1-D maps, applied along both axes of a tile (Lavin & Gray, "Fast Algorithms for
 * Convolutional Neural Networks", 2015):
 *   input   Bᵀ v = [v0 - v2, v1 + v2, v2 - v1, v1 - v3]        adjoint  B u = [u0, u1 - u2 + u3, u2 + u1 - u0, -u3]
 *   kernel  G g  = [g0, (g0 + g1 + g2)/2, (g0 - g1 + g2)/2, g2]  adjoint  Gᵀ u = [u0 + (u1 + u2)/2, (u1 - u2)/2, (u1 + u2)/2 + u3]
 *   output  Aᵀ m = [m0 + m1 + m2, m1 - m2 - m3]                 adjoint  A y = [y0, y0 + y1, y0 - y1, -y1]
 * Transform position ξ = 4*i + k for row i and column k of the 4x4 tile. Inputs are copied once
 * per channel into a zero-bordered scratch, so no tile loop checks bounds; the tile loops run
 * over a row of tiles and vectorise (the 16 values of a tile sit in 16 planes). */
#include "winograd.h"

#include <stdbool.h>
#include <string.h>

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

/* pad <- channel xc with its zero border (see cg_wino_pad_floats). */
static void pad_channel(float *restrict pad, const float *restrict xc, const cg_wino_geom *g) {
    const int64_t PR = 2 * g->th + 2, PC = 2 * g->tw + 2;
    int64_t lo = g->pw < PC ? g->pw : PC, hi = g->pw + g->w < PC ? g->pw + g->w : PC;
    for (int64_t r = 0; r < PR; r++) {
        float *p = pad + r * PC;
        const int64_t ih = r - g->ph;
        if (ih < 0 || ih >= g->h) { memset(p, 0, (size_t)PC * sizeof(float)); continue; }
        const float *xr = xc + ih * g->w - g->pw;
        for (int64_t s = 0; s < lo; s++) p[s] = 0.0f;
        #pragma omp simd
        for (int64_t s = lo; s < hi; s++) p[s] = xr[s];
        for (int64_t s = hi; s < PC; s++) p[s] = 0.0f;
    }
}

/* The pad scratch holds the padded channel, then the row combinations: 4 rows of 2*tw + 2 floats
 * (cg_wino_input) or 16 of tw (cg_wino_input_grad_add). */
int64_t cg_wino_pad_floats_total(const cg_wino_geom *g) { return cg_wino_pad_floats(g) + 16 * (g->tw + 1); }

void cg_wino_input(float *restrict V, const float *restrict x, const cg_wino_geom *g, float *restrict pad) {
    const int64_t T = g->th * g->tw, plane = cg_wino_plane(g->c * T), PC = 2 * g->tw + 2, TW = g->tw;
    float *restrict t = pad + cg_wino_pad_floats(g);  /* t[4][PC]: Bᵀ on the columns of a tile row */
    for (int64_t c = 0; c < g->c; c++) {
        pad_channel(pad, x + c * g->h * g->w, g);
        for (int64_t ti = 0; ti < g->th; ti++) {
            const float *r0 = pad + 2 * ti * PC, *r1 = r0 + PC, *r2 = r1 + PC, *r3 = r2 + PC;
            float *t0 = t, *t1 = t + PC, *t2 = t + 2 * PC, *t3 = t + 3 * PC;
            #pragma omp simd
            for (int64_t j = 0; j < PC; j++) {
                float d0 = r0[j], d1 = r1[j], d2 = r2[j], d3 = r3[j];
                t0[j] = d0 - d2;
                t1[j] = d1 + d2;
                t2[j] = d2 - d1;
                t3[j] = d1 - d3;
            }
            float *v = V + c * T + ti * TW;
            for (int i = 0; i < 4; i++) {  /* then Bᵀ on the rows: columns 2tj .. 2tj+3 */
                const float *ri = t + i * PC;
                float *v0 = v + (4 * i) * plane, *v1 = v0 + plane, *v2 = v1 + plane, *v3 = v2 + plane;
                #pragma omp simd
                for (int64_t tj = 0; tj < TW; tj++) {
                    float a = ri[2 * tj], b = ri[2 * tj + 1], e = ri[2 * tj + 2], f = ri[2 * tj + 3];
                    v0[tj] = a - e;
                    v1[tj] = b + e;
                    v2[tj] = e - b;
                    v3[tj] = b - f;
                }
            }
        }
    }
}

void cg_wino_input_grad_add(float *restrict dx, const float *restrict dV, const cg_wino_geom *g,
                            float *restrict pad, bool set) {
    const int64_t T = g->th * g->tw, plane = cg_wino_plane(g->c * T), PR = 2 * g->th + 2, PC = 2 * g->tw + 2;
    const int64_t TW = g->tw;
    float *restrict w = pad + cg_wino_pad_floats(g);  /* w[4][4][TW]: B on the columns, per tile */
    for (int64_t c = 0; c < g->c; c++) {
        memset(pad, 0, (size_t)(PR * PC) * sizeof(float));
        for (int64_t ti = 0; ti < g->th; ti++) {
            const float *v = dV + c * T + ti * TW;
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
    for (int64_t o = 0; o < oc; o++)
        for (int64_t ti = 0; ti < g->th; ti++) {
            const float *m = M + o * T + ti * TW;
            float *yr[2] = { y + (o * OH + 2 * ti) * OW, y + (o * OH + 2 * ti + 1) * OW };
            const int rows = 2 * ti + 1 < OH ? 2 : 1;  /* an odd height's last tile row: 1 */
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
    for (int64_t o = 0; o < oc; o++)
        for (int64_t ti = 0; ti < g->th; ti++) {
            const float *d0 = dy + (o * OH + 2 * ti) * OW, *d1 = d0 + OW;
            const bool row1 = 2 * ti + 1 < OH;  /* else the tile's second row is overhang: 0 */
            float *m = dM + o * T + ti * g->tw;
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
