/* SPDX-License-Identifier: MIT */
/* lib/ops/conv2d_depthwise.h — conv2d's direct depthwise kernels (lib/ops/conv2d_depthwise.c),
 * which conv2d's plan takes for groups == C with OC = M * C (a channel multiplier M >= 1), any
 * stride, padding and dilation (lib/ops/conv2d.c). Include after cg_internal.h.
 * Geometry: g (g->c = C), n images, oc = M * C output channels; w is [OC, 1, KH, KW] and output
 * channel o reads input channel o / M. Workspaces are borrowed from the thread's scratch arena. */
#ifndef CG_CONV2D_DEPTHWISE_H
#define CG_CONV2D_DEPTHWISE_H

#include <stdbool.h>
#include <stdint.h>
#include "im2col.h"

/* Whether the direct kernels take this layer: oc a positive multiple of g->c, and their
 * per-thread workspace within a small multiple of the layer's input and output planes (a huge
 * padding with a huge stride would make it far larger; im2col then stays the cheaper path). */
bool cg_conv_dw_fits(const cg_im2col_geom *g, int64_t oc);

/* y[N, OC, OH, OW] = conv(x[N,C,H,W], w[OC,1,KH,KW]) + b[OC] (b may be NULL), then ReLU when
 * relu (max(v, 0), NaN passes), or ReLU6 when six too (min(max(v, 0), 6) as cg_relu6). Overwrites
 * y. CG_ENOMEM when the workspace cannot be borrowed. */
cg_status cg_conv_dw_forward(float *y, const float *x, const float *w, const float *b, const cg_im2col_geom *g,
                             int64_t n, int64_t oc, bool relu, bool six);

/* dx[N,C,H,W] += (dx_fresh: =) the input gradient, dw[OC,1,KH,KW] += and db[OC] += the weight and
 * bias gradients of dy[N,OC,OH,OW]; any of dx, dw, db may be NULL. y: the output of a fused ReLU
 * (dy counts where y > 0) or, with six, of a fused ReLU6 (where 0 < y < 6); else NULL. CG_ENOMEM
 * when the workspace cannot be borrowed. */
cg_status cg_conv_dw_backward(float *dx, bool dx_fresh, float *dw, float *db, const float *dy, const float *y,
                              bool six, const float *x, const float *w, const cg_im2col_geom *g, int64_t n,
                              int64_t oc);

#endif
