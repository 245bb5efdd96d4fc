/* SPDX-License-Identifier: MIT */
/* lib/ops/im2col.h — im2col/col2im for conv2d, and conv2d's thread-local workspace. */
#ifndef CG_IM2COL_H
#define CG_IM2COL_H

#include <stdbool.h>
#include <stdint.h>

/* One image's geometry: input [c,h,w], kernel kh x kw, stride, padding, dilation, output oh x ow. */
typedef struct cg_im2col_geom {
    int64_t c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
} cg_im2col_geom;

/* cols[c*kh*kw, oh*ow] from x[c,h,w]; padding reads as 0. par: OpenMP over rows. */
void cg_im2col(float *restrict cols, const float *restrict x, const cg_im2col_geom *g, bool par);
/* dx[c,h,w] += col2im(dcols[c*kh*kw, oh*ow]); par: OpenMP over channels, race-free. */
void cg_col2im_add(float *restrict dx, const float *restrict dcols, const cg_im2col_geom *g, bool par);

/* Bytes held by this thread's conv2d workspace (it only grows), and a way to free it. */
int64_t cg_conv2d_workspace_bytes(void);
void cg_conv2d_workspace_free(void);
/* That workspace with room for `floats` floats (grow-only; NULL with CG_ENOMEM set on failure):
 * conv2d's, shared with conv_transpose2d, so a net with both keeps one buffer per thread. */
float *cg_conv_workspace(size_t floats);
/* The OpenMP threads a conv pass over n images runs on: conv2d's rule (cg_conv2d_set_mode). */
int cg_conv_threads(int64_t n);
/* CG_OK when x and w are 4-d (w_layout names the weight's dims in the message), stride and
 * dilation are positive, padding is not negative and groups is positive; else the error, naming
 * op and the argument. Shared by conv2d and conv_transpose2d. */
cg_status cg_conv_check_args(const char *op, const cg_tensor *x, const cg_tensor *w, const char *w_layout,
                             const int64_t stride[2], const int64_t dilation[2], const int64_t padding[2],
                             int64_t groups);

/* Scheduling of conv2d's images (for bench-conv's A/B runs; the library default is AUTO):
 * SERIAL: one image at a time, BLAS threads inside each sgemm; IMAGES: OpenMP threads over
 * images, each with its own workspace slab and a single-threaded sgemm; AUTO: IMAGES when there
 * are at least two images per thread, else SERIAL. */
enum { CG_CONV_AUTO, CG_CONV_SERIAL, CG_CONV_IMAGES };
void cg_conv2d_set_mode(int mode);
/* Forward im2col block: output rows whose columns take at most this many bytes (bench A/B). */
void cg_conv2d_set_block(int64_t bytes);
/* The unpadded stride-1 im2col fast path (default on; off for bench A/B). */
void cg_conv2d_set_dense(bool on);

/* Winograd F(2x2, 3x3) for 3x3 stride-1 layers (lib/ops/winograd.c): OFF never; AUTO (the
 * default) for layers with at least 4 input channels; ALWAYS for every 3x3 stride-1 undilated
 * ungrouped layer (tests). A node keeps the choice of its forward. */
enum { CG_WINO_OFF, CG_WINO_AUTO, CG_WINO_ALWAYS };
void cg_conv2d_set_winograd(int mode);

/* Raw conv2d passes without the tape, for bench-conv. geom = {n, c, h, w, oc, k, stride, pad}
 * (square kernel, groups 1, dilation 1). pass 0: y = conv(x, w) + b; 1: dx += (dx only);
 * 2: dw += (dw only). out is y, dx or dw. */
cg_status cg_conv2d_raw(int pass, const int64_t geom[8], float *out, const float *x, const float *w,
                        const float *b, const float *dy);

#endif
