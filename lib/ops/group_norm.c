/* SPDX-License-Identifier: MIT */
/* lib/ops/group_norm.c — group normalisation, as torch.nn.functional.group_norm.
 * Shape rule: x is [N, C, ...] with C divisible by G; weight and bias (each optional) are [C];
 * y has x's shape. Each of the N*G groups (C/G channels and every position after them, one
 * contiguous block) is normalised with its mean and biased variance (in double), then scaled
 * and shifted per channel. Backward as layer_norm's within a group, with g = dy * w[c]; dw and db
 * are summed over the images and positions in order (serially: thread-count independent). */
#include <math.h>
#include "cg_internal.h"

typedef struct gn_params { int64_t n, c, g, inner; float eps; } gn_params; /* on the node; aux: mean, rstd per group */

static cg_status gn_backward(cg_node *nd) {
    gn_params p;
    CG_GET_PARAMS(nd, &p);
    cg_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    const float *dy = cg_out_grad(nd), *xd = x->data, *wd = w ? w->data : NULL, *st = nd->aux;
    float *dx = cg_requires_grad(x) ? cg_grad_data(x) : NULL;
    float *dw = cg_requires_grad(w) ? cg_grad_data(w) : NULL, *db = cg_requires_grad(b) ? cg_grad_data(b) : NULL;
    if ((cg_requires_grad(x) && !dx) || (cg_requires_grad(w) && !dw) || (cg_requires_grad(b) && !db)) return CG_ENOMEM;
    const int64_t cpg = p.c / p.g, len = cpg * p.inner, groups = p.n * p.g;
    if (dx) {
        #pragma omp parallel for if (groups * len >= CG_OMP_MIN) schedule(static)
        for (int64_t q = 0; q < groups; q++) {
            const int64_t c0 = (q % p.g) * cpg;
            const float *xq = xd + q * len, *gq = dy + q * len;
            const double mean = st[2 * q], rstd = st[2 * q + 1];
            double sg = 0, sgx = 0;
            for (int64_t j = 0; j < len; j++) {
                double g = (double)gq[j] * (wd ? wd[c0 + j / p.inner] : 1.0), xh = ((double)xq[j] - mean) * rstd;
                sg += g;
                sgx += g * xh;
            }
            sg /= (double)len;
            sgx /= (double)len;
            for (int64_t j = 0; j < len; j++) {
                double g = (double)gq[j] * (wd ? wd[c0 + j / p.inner] : 1.0), xh = ((double)xq[j] - mean) * rstd;
                dx[q * len + j] += (float)(rstd * (g - sg - xh * sgx));
            }
        }
    }
    if (dw || db)
        for (int64_t q = 0; q < groups; q++) {
            const int64_t c0 = (q % p.g) * cpg;
            const double mean = st[2 * q], rstd = st[2 * q + 1];
            for (int64_t j = 0; j < len; j++) {
                const int64_t c = c0 + j / p.inner;
                const double g = dy[q * len + j];
                if (dw) dw[c] += (float)(g * ((double)xd[q * len + j] - mean) * rstd);
                if (db) db[c] += (float)g;
            }
        }
    return CG_OK;
}

static const cg_op_def op_group_norm = { "group_norm", gn_backward };

cg_tensor *cg_group_norm(cg_tensor *x, int64_t num_groups, cg_tensor *weight, cg_tensor *bias, float eps) {
    if (!x) return NULL;
    CG_REQUIRE_F32("group_norm", "input", x);
    CG_REQUIRE_F32("group_norm", "weight", weight);
    CG_REQUIRE_F32("group_norm", "bias", bias);
    double t0 = cg_profile_begin();
    char s1[96];
    if (x->ndim < 2) return CG_FAIL(CG_ESHAPE, "group_norm: input %s needs [N, C, ...]", cg_shape_str(s1, sizeof s1, x->ndim, x->shape));
    const int64_t N = x->shape[0], C = x->shape[1];
    if (num_groups < 1 || C % num_groups)
        return CG_FAIL(CG_EINVAL, "group_norm: %lld channels are not divisible into %lld groups", (long long)C, (long long)num_groups);
    if (!(eps > 0) || !isfinite(eps)) return CG_FAIL(CG_EINVAL, "group_norm: eps %g must be finite and > 0", (double)eps);
    for (int side = 0; side < 2; side++) {
        const cg_tensor *t = side ? bias : weight;
        if (t && (t->ndim != 1 || t->shape[0] != C))
            return CG_FAIL(CG_ESHAPE, "group_norm: %s %s must be [%lld]", side ? "bias" : "weight",
                           cg_shape_str(s1, sizeof s1, t->ndim, t->shape), (long long)C);
    }
    int64_t inner = 1;
    for (int i = 2; i < x->ndim; i++) inner *= x->shape[i];
    const int64_t cpg = C / num_groups, len = cpg * inner, groups = N * num_groups;
    cg_tensor *y = cg_tape_tensor(x->ndim, x->shape);
    float *st = cg_tape_scratch((size_t)(groups ? 2 * groups : 1) * sizeof(float));
    if (!y || !st) return NULL;
    const float *xd = x->data, *wd = weight ? weight->data : NULL, *bd = bias ? bias->data : NULL;
    #pragma omp parallel for if (groups * len >= CG_OMP_MIN) schedule(static)
    for (int64_t q = 0; q < groups; q++) {
        const float *xq = xd + q * len;
        const int64_t c0 = (q % num_groups) * cpg;
        double s = 0, v = 0;
        for (int64_t j = 0; j < len; j++) s += xq[j];
        const double mean = len ? s / (double)len : 0;
        for (int64_t j = 0; j < len; j++) { double e = xq[j] - mean; v += e * e; }
        const double rstd = 1.0 / sqrt((len ? v / (double)len : 0) + (double)eps);
        st[2 * q] = (float)mean;
        st[2 * q + 1] = (float)rstd;
        for (int64_t j = 0; j < len; j++) {
            const int64_t c = c0 + j / inner;
            y->data[q * len + j] = (float)(((double)xq[j] - mean) * rstd * (wd ? wd[c] : 1.0) + (bd ? bd[c] : 0.0));
        }
    }
    cg_node *n = cg_record(&op_group_norm, y, 3, (cg_tensor *[]){ x, weight, bias });
    if (!n) return NULL;
    CG_SET_PARAMS(n, &(gn_params){ .n = N, .c = C, .g = num_groups, .inner = inner, .eps = eps });
    n->aux = st;
    cg_profile_end("group_norm", 0, t0);
    return y;
}
