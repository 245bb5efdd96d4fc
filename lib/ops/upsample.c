/* SPDX-License-Identifier: MIT */
/* lib/ops/upsample.c — nearest-neighbour upsampling of [N, C, H, W] by integer factors, as
 * torch.nn.functional.interpolate(mode='nearest', scale_factor=(sh, sw)).
 * Shape rule: y is [N, C, H*sh, W*sw]; y[.., i, j] = x[.., i / sh, j / sw].
 * Backward: dx[.., i, j] += the sum of dy over its sh x sw block. */
#include <string.h>
#include "cg_internal.h"

typedef struct up_params { int64_t planes, h, w, sh, sw; } up_params; /* on the node */

/* The shape rule (see ops.h): x[N,C,H,W] -> [N,C,H*sh,W*sw]. */
cg_status cg_upsample_nearest2d_out_shape(int ndim, const int64_t *x_shape, int64_t scale_h, int64_t scale_w,
                                          int64_t *out_shape) {
    char s[96];
    if (!x_shape || !out_shape) return cg_error(CG_EINVAL, "upsample_nearest2d_out_shape: an argument is NULL");
    if (ndim != 4)
        return cg_error(CG_ESHAPE, "upsample_nearest2d: input must be [N,C,H,W], got %s",
                        ndim >= 0 && ndim <= CG_MAX_DIMS ? cg_shape_str(s, sizeof s, ndim, x_shape) : "?");
    if (scale_h < 1 || scale_w < 1 || scale_h > 1024 || scale_w > 1024)
        return cg_error(CG_EINVAL, "upsample_nearest2d: scale factors %lld x %lld must be in 1..1024", (long long)scale_h,
                        (long long)scale_w);
    int64_t y[4] = { x_shape[0], x_shape[1], 0, 0 };
    if (__builtin_mul_overflow(x_shape[2], scale_h, &y[2]) || __builtin_mul_overflow(x_shape[3], scale_w, &y[3]))
        return cg_error(CG_ESHAPE, "upsample_nearest2d: input %s times %lld x %lld overflows int64",
                        cg_shape_str(s, sizeof s, ndim, x_shape), (long long)scale_h, (long long)scale_w);
    cg_status st = cg_check_shape("upsample_nearest2d", 4, y);
    if (st != CG_OK) return st;
    memcpy(out_shape, y, sizeof y);
    return CG_OK;
}

static cg_status up_backward(cg_node *n) {
    up_params p;
    CG_GET_PARAMS(n, &p);
    float *dx = cg_grad_data(n->in[0]);
    if (!dx) return CG_ENOMEM;
    const float *dy = cg_out_grad(n);
    const int64_t oh = p.h * p.sh, ow = p.w * p.sw;
    #pragma omp parallel for if (p.planes * oh * ow >= CG_OMP_MIN) schedule(static)
    for (int64_t q = 0; q < p.planes; q++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) dx[(q * p.h + i / p.sh) * p.w + j / p.sw] += dy[(q * oh + i) * ow + j];
    return CG_OK;
}

static const cg_op_def op_upsample = { "upsample_nearest2d", up_backward };

cg_tensor *cg_upsample_nearest2d(cg_tensor *x, int64_t scale_h, int64_t scale_w) {
    if (!x) return NULL;
    CG_REQUIRE_F32("upsample_nearest2d", "input", x);
    int64_t y_shape[4];
    if (cg_upsample_nearest2d_out_shape(x->ndim, x->shape, scale_h, scale_w, y_shape) != CG_OK) return NULL;
    double t0 = cg_profile_begin();
    up_params p = { x->shape[0] * x->shape[1], x->shape[2], x->shape[3], scale_h, scale_w };
    const int64_t oh = p.h * p.sh, ow = p.w * p.sw;
    cg_tensor *y = cg_tape_tensor(4, y_shape);
    if (!y) return NULL;
    #pragma omp parallel for if (y->numel >= CG_OMP_MIN) schedule(static)
    for (int64_t q = 0; q < p.planes; q++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) y->data[(q * oh + i) * ow + j] = x->data[(q * p.h + i / p.sh) * p.w + j / p.sw];
    cg_node *n = cg_record(&op_upsample, y, 1, &x);
    if (!n) return NULL;
    CG_SET_PARAMS(n, &p);
    cg_profile_end("upsample_nearest2d", 0, t0);
    return y;
}
