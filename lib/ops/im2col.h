/* SPDX-License-Identifier: MIT */
/* lib/ops/im2col.h — im2col/col2im and the scheduling rule that conv2d and conv_transpose2d share.
 * Their workspaces are borrowed from the thread's scratch arena (cg_scratch_borrow). */
#ifndef CG_IM2COL_H
#define CG_IM2COL_H

#include <stdbool.h>
#include <stdint.h>

/* One image's geometry: input [c,h,w], kernel kh x kw, stride, padding, dilation, output oh x ow;
 * dense: take the loops specialised for unit width dilation (CG_CONFIG_CONV_DENSE, read once by
 * the op that makes the geometry). */
typedef struct cg_im2col_geom {
    int64_t c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
    bool dense;
} cg_im2col_geom;

/* cols[c*kh*kw, oh*ow] from x[c,h,w]; padding reads as 0. par: OpenMP over rows. */
void cg_im2col(float *restrict cols, const float *restrict x, const cg_im2col_geom *g, bool par);
/* dx[c,h,w] += col2im(dcols[c*kh*kw, oh*ow]); par: OpenMP over channels, race-free. */
void cg_col2im_add(float *restrict dx, const float *restrict dcols, const cg_im2col_geom *g, bool par);

/* The OpenMP threads a conv pass over n images runs on under `schedule` (a cg_conv_schedule,
 * CG_CONFIG_CONV_SCHEDULE as the op read it at entry). */
int cg_conv_threads(int64_t n, int schedule);
/* CG_OK when x and w are 4-d (w_layout names the weight's dims in the message), stride and
 * dilation are positive, padding is not negative and groups is positive; else the error, naming
 * op and the argument. Shared by conv2d and conv_transpose2d. */
cg_status cg_conv_check_args(const char *op, const cg_tensor *x, const cg_tensor *w, const char *w_layout,
                             const int64_t stride[2], const int64_t dilation[2], const int64_t padding[2],
                             int64_t groups);

#endif
