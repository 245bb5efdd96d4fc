/* SPDX-License-Identifier: MIT */
/* lib/ops/layer_norm.c — layer normalisation over the last k dims, as torch.nn.functional.layer_norm.
 * Shape rule: x is [..., D1..Dk]; weight and bias (each optional) have the last k dims' shape;
 * y has x's shape. Per row r of D = D1*..*Dk values: mean and the biased variance (in double),
 * rstd = 1 / sqrt(var + eps), xhat = (x - mean) * rstd, y = xhat * w + b.
 * Backward, with g = dy * w: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)); dw = sum over rows
 * of dy * xhat, db = sum of dy. Rows run in parallel for y and dx; dw and db are summed over the
 * rows in order (serially), so the result does not depend on the thread count. */
#include <math.h>
#include "cg_internal.h"

typedef struct ln_params { int64_t rows, d; float eps; } ln_params;  /* on the node; aux: [rows] mean, rstd */

static cg_status ln_backward(cg_node *n) {
    ln_params p;
    CG_GET_PARAMS(n, &p);
    cg_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    const float *dy = cg_out_grad(n), *xd = x->data, *wd = w ? w->data : NULL, *stats = n->aux;
    float *dx = cg_requires_grad(x) ? cg_grad_data(x) : NULL;
    float *dw = cg_requires_grad(w) ? cg_grad_data(w) : NULL, *db = cg_requires_grad(b) ? cg_grad_data(b) : NULL;
    if ((cg_requires_grad(x) && !dx) || (cg_requires_grad(w) && !dw) || (cg_requires_grad(b) && !db)) return CG_ENOMEM;
    const int64_t R = p.rows, D = p.d;
    if (dx) {
        #pragma omp parallel for if (R * D >= CG_OMP_MIN) schedule(static)
        for (int64_t r = 0; r < R; r++) {
            const float *xr = xd + r * D, *gr = dy + r * D;
            const double mean = stats[2 * r], rstd = stats[2 * r + 1];
            double sg = 0, sgx = 0;
            for (int64_t j = 0; j < D; j++) {
                double g = (double)gr[j] * (wd ? wd[j] : 1.0), xh = ((double)xr[j] - mean) * rstd;
                sg += g;
                sgx += g * xh;
            }
            sg /= (double)D;
            sgx /= (double)D;
            for (int64_t j = 0; j < D; j++) {
                double g = (double)gr[j] * (wd ? wd[j] : 1.0), xh = ((double)xr[j] - mean) * rstd;
                dx[r * D + j] += (float)(rstd * (g - sg - xh * sgx));
            }
        }
    }
    if (dw || db)
        for (int64_t r = 0; r < R; r++) {
            const float *xr = xd + r * D, *gr = dy + r * D;
            const double mean = stats[2 * r], rstd = stats[2 * r + 1];
            for (int64_t j = 0; j < D; j++) {
                if (dw) dw[j] += (float)((double)gr[j] * ((double)xr[j] - mean) * rstd);
                if (db) db[j] += gr[j];
            }
        }
    return CG_OK;
}

static const cg_op_def op_layer_norm = { "layer_norm", ln_backward };

cg_tensor *cg_layer_norm(cg_tensor *x, int k, cg_tensor *weight, cg_tensor *bias, float eps) {
    if (!x) return NULL;
    CG_REQUIRE_F32("layer_norm", "input", x);
    CG_REQUIRE_F32("layer_norm", "weight", weight);
    CG_REQUIRE_F32("layer_norm", "bias", bias);
    double t0 = cg_profile_begin();
    char s1[96], s2[96];
    if (k < 1 || k > x->ndim)
        return CG_FAIL(CG_ESHAPE, "layer_norm: %d normalised dims for an input %s", k,
                       cg_shape_str(s1, sizeof s1, x->ndim, x->shape));
    if (!(eps > 0) || !isfinite(eps)) return CG_FAIL(CG_EINVAL, "layer_norm: eps %g must be finite and > 0", (double)eps);
    const int64_t *last = x->shape + x->ndim - k;
    int64_t D = 1;
    for (int i = 0; i < k; i++) D *= last[i];
    for (int side = 0; side < 2; side++) {
        const cg_tensor *t = side ? bias : weight;
        if (!t) continue;
        bool ok = t->ndim == k;
        for (int i = 0; ok && i < k; i++) ok = t->shape[i] == last[i];
        if (!ok)
            return CG_FAIL(CG_ESHAPE, "layer_norm: %s %s must have the input's last %d dims %s", side ? "bias" : "weight",
                           cg_shape_str(s1, sizeof s1, t->ndim, t->shape), k, cg_shape_str(s2, sizeof s2, k, last));
    }
    const int64_t R = D ? x->numel / D : 0;
    cg_tensor *y = cg_tape_tensor(x->ndim, x->shape);
    float *stats = cg_tape_scratch((size_t)(R ? 2 * R : 1) * sizeof(float));
    if (!y || !stats) return NULL;
    const float *xd = x->data, *wd = weight ? weight->data : NULL, *bd = bias ? bias->data : NULL;
    #pragma omp parallel for if (R * D >= CG_OMP_MIN) schedule(static)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = xd + r * D;
        double s = 0, q = 0;
        for (int64_t j = 0; j < D; j++) s += xr[j];
        const double mean = s / (double)D;
        for (int64_t j = 0; j < D; j++) { double e = xr[j] - mean; q += e * e; }
        const double rstd = 1.0 / sqrt(q / (double)D + (double)eps);
        stats[2 * r] = (float)mean;
        stats[2 * r + 1] = (float)rstd;
        for (int64_t j = 0; j < D; j++) {
            double v = ((double)xr[j] - mean) * rstd;
            y->data[r * D + j] = (float)(v * (wd ? wd[j] : 1.0) + (bd ? bd[j] : 0.0));
        }
    }
    cg_node *n = cg_record(&op_layer_norm, y, 3, (cg_tensor *[]){ x, weight, bias });
    if (!n) return NULL;
    CG_SET_PARAMS(n, &(ln_params){ .rows = R, .d = D, .eps = eps });
    n->aux = stats;
    cg_profile_end("layer_norm", 0, t0);
    return y;
}
