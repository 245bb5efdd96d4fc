/* SPDX-License-Identifier: MIT */
/* lib/ops/winograd.h — Winograd F(2x2, 3x3) transforms for conv2d's 3x3, stride-1 layers.
 *
 * A 3x3 stride-1 convolution computed on 2x2 output tiles: each 4x4 input tile d goes to
 * V = Bᵀ d B, each 3x3 kernel g to U = G g Gᵀ, and the tile's output is Aᵀ (Σ_c U ⊙ V) A. The
 * sum over channels is 16 GEMMs, one per transform position ξ (M[ξ] = U[ξ] · V[ξ]), with 16
 * multiplies per 4 outputs instead of 36: 2.25x fewer GEMM flops than im2col. The backward passes
 * are the exact adjoints of the same linear maps (dM = A dY Aᵀ, dV = Uᵀ dM, dd = B dV Bᵀ,
 * dg = Gᵀ dU G), so they need no flipped kernel and handle any padding the same way.
 *
 * Layouts (all row-major floats): U[16][OC][C], V[16][C][T], M[16][OC][T], where the T = th*tw
 * tiles of one image run row-major over its th x tw tile grid, and consecutive planes ξ lie
 * cg_wino_plane(size of one) floats apart: 16 floats more than the size rounded up to 16, so that
 * the 16 streams a transform reads or writes do not all map to the same cache sets (planes 4 KiB
 * apart did: the seed conv2's dM transform ran 46% of its dW pass). The callers own every buffer. */
#ifndef CG_WINOGRAD_H
#define CG_WINOGRAD_H

#include <stdbool.h>
#include <stdint.h>

/* One image's geometry: input [c,h,w], padding ph/pw, output oh x ow, tile grid th x tw
 * (th = ceil(oh/2), tw = ceil(ow/2)). */
typedef struct cg_wino_geom {
    int64_t c, h, w, ph, pw, oh, ow, th, tw;
} cg_wino_geom;

int64_t cg_wino_plane(int64_t n);
/* Tests: true runs the transforms' generic loops even where the CPU has AVX-512 (whose kernels
 * give the same bits); false goes back to the choice from CPUID. */
void cg_wino_force_generic(bool on);
cg_wino_geom cg_wino_geom_make(int64_t c, int64_t h, int64_t w, int64_t ph, int64_t pw, int64_t oh, int64_t ow);
/* Floats of the scratch that cg_wino_input and cg_wino_input_grad_add take: one padded channel
 * (the first), and that with room for the transforms' row combinations (the second). */
int64_t cg_wino_pad_floats(const cg_wino_geom *g);
int64_t cg_wino_pad_floats_total(const cg_wino_geom *g);

/* U[16][oc][c] from w[oc][c][3][3]. */
void cg_wino_weights(float *restrict U, const float *restrict w, int64_t oc, int64_t c);
/* dw[oc][c][3][3] += Gᵀ dU G, from dU[16][oc][c]. */
void cg_wino_weights_grad_add(float *restrict dw, const float *restrict dU, int64_t oc, int64_t c);
/* V[16][c][T] from one image x[c][h][w] (padding and the tiles' overhang read as 0). */
void cg_wino_input(float *restrict V, const float *restrict x, const cg_wino_geom *g, float *restrict pad);
/* dx[c][h][w] += (set: =) the adjoint of cg_wino_input applied to dV[16][c][T]. */
void cg_wino_input_grad_add(float *restrict dx, const float *restrict dV, const cg_wino_geom *g,
                            float *restrict pad, bool set);
/* y[oc][oh][ow] = Aᵀ m A per tile, from M[16][oc][T] (the tiles' overhang is dropped). */
void cg_wino_output(float *restrict y, const float *restrict M, const cg_wino_geom *g, int64_t oc);
/* dM[16][oc][T] = A dy Aᵀ per tile, from dy[oc][oh][ow] (the overhang reads as 0). */
void cg_wino_output_grad(float *restrict dM, const float *restrict dy, const cg_wino_geom *g, int64_t oc);

#endif
