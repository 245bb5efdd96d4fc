/* SPDX-License-Identifier: MIT */
/* lib/ops/upsample.c — nearest-neighbour upsampling of [N, C, H, W] by integer factors, as
 * torch.nn.functional.interpolate(mode='nearest', scale_factor=(sh, sw)).
 * Shape rule: y is [N, C, H*sh, W*sw]; y[.., i, j] = x[.., i / sh, j / sw].
 * Backward: dx[.., i, j] += the sum of dy over its sh x sw block. */
#include "cg_internal.h"

typedef struct up_params { int64_t planes, h, w, sh, sw; } up_params; /* on the node */

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
    char s[96];
    if (x->ndim != 4)
        return CG_FAIL(CG_ESHAPE, "upsample_nearest2d: input must be [N,C,H,W], got %s", cg_shape_str(s, sizeof s, x->ndim, x->shape));
    if (scale_h < 1 || scale_w < 1 || scale_h > 1024 || scale_w > 1024)
        return CG_FAIL(CG_EINVAL, "upsample_nearest2d: scale factors %lld x %lld must be in 1..1024", (long long)scale_h,
                       (long long)scale_w);
    double t0 = cg_profile_begin();
    up_params p = { x->shape[0] * x->shape[1], x->shape[2], x->shape[3], scale_h, scale_w };
    const int64_t oh = p.h * p.sh, ow = p.w * p.sw;
    cg_tensor *y = cg_tape_tensor(4, (int64_t[]){ x->shape[0], x->shape[1], oh, ow });
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
