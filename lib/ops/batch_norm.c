/* lib/ops/batch_norm.c — batch normalisation over the channel dim of [N,C,H,W] (or [N,C], [N,C,L]).
 *
 * Shape rule: x[N,C,*], weight/bias [C] or NULL, running_mean/var [C] (may be NULL in training)
 * -> y of x's shape. Per channel c over its M = N*inner elements:
 *   training: mean, var = batch statistics (biased var normalises); running stats, when given,
 *             become (1-momentum)*running + momentum*stat with the unbiased var (var*M/(M-1)).
 *   eval:     mean, var = running statistics.
 *   xhat = (x - mean) * invstd, invstd = 1/sqrt(var + eps);  y = xhat * w + b.
 * Backward (per channel, g = dy * w):
 *   training: dx += invstd/M * (M*g - sum(g) - xhat*sum(g*xhat))
 *   eval:     dx += g * invstd
 *   dw += sum(dy * xhat), db += sum(dy).
 * Kernels run in parallel over channels; each thread owns its channel's elements.
 * mean and invstd are saved in tape scratch (2*C floats). */
#include <math.h>
#include "cg_internal.h"

typedef struct bn_geom { int64_t n, c, inner; } bn_geom;

/* stats[0..C) = mean, stats[C..2C) = invstd; y = normalised x; updates running stats */
static void bn_forward(float *restrict y, float *restrict stats, const float *restrict x,
                       const float *w, const float *b, float *rm, float *rv,
                       const bn_geom *g, bool training, float momentum, float eps) {
    const int64_t C = g->c, inner = g->inner, M = g->n * inner;
    #pragma omp parallel for if (g->n * C * inner >= CG_OMP_MIN) schedule(static)
    for (int64_t c = 0; c < C; c++) {
        double mean, var;
        if (training) {
            double s = 0;
            for (int64_t n = 0; n < g->n; n++) {
                const float *p = x + (n * C + c) * inner;
                for (int64_t i = 0; i < inner; i++) s += p[i];
            }
            mean = s / (double)M;
            double v = 0;
            for (int64_t n = 0; n < g->n; n++) {
                const float *p = x + (n * C + c) * inner;
                for (int64_t i = 0; i < inner; i++) { double d = p[i] - mean; v += d * d; }
            }
            var = v / (double)M;
            if (rm) rm[c] = (1.0f - momentum) * rm[c] + momentum * (float)mean;
            if (rv) rv[c] = (1.0f - momentum) * rv[c] + momentum * (float)(v / (double)(M - 1));
        } else {
            mean = rm[c];
            var = rv[c];
        }
        float fm = (float)mean, is = (float)(1.0 / sqrt(var + (double)eps));
        stats[c] = fm;
        stats[C + c] = is;
        float sc = w ? w[c] : 1.0f, sh = b ? b[c] : 0.0f;
        for (int64_t n = 0; n < g->n; n++) {
            const float *p = x + (n * C + c) * inner;
            float *q = y + (n * C + c) * inner;
            for (int64_t i = 0; i < inner; i++) q[i] = (p[i] - fm) * is * sc + sh;
        }
    }
}

/* dx, dw, db (each may be NULL) += from dy; x, stats as saved by the forward */
static void bn_backward_kernel(float *dx, float *dw, float *db, const float *restrict dy,
                               const float *restrict x, const float *w, const float *restrict stats,
                               const bn_geom *g, bool training) {
    const int64_t C = g->c, inner = g->inner, M = g->n * inner;
    #pragma omp parallel for if (g->n * C * inner >= CG_OMP_MIN) schedule(static)
    for (int64_t c = 0; c < C; c++) {
        const float fm = stats[c], is = stats[C + c], sc = w ? w[c] : 1.0f;
        double sdy = 0, sdyx = 0;  /* sum(dy), sum(dy * xhat) */
        for (int64_t n = 0; n < g->n; n++) {
            const float *p = x + (n * C + c) * inner, *d = dy + (n * C + c) * inner;
            for (int64_t i = 0; i < inner; i++) { sdy += d[i]; sdyx += (double)d[i] * ((p[i] - fm) * is); }
        }
        if (dw) dw[c] += (float)sdyx;
        if (db) db[c] += (float)sdy;
        if (!dx) continue;
        if (training) {
            /* g = dy*sc: sum(g) = sc*sdy, sum(g*xhat) = sc*sdyx */
            const float k = sc * is, a = (float)(sdy / (double)M), bb = (float)(sdyx / (double)M);
            for (int64_t n = 0; n < g->n; n++) {
                const float *p = x + (n * C + c) * inner, *d = dy + (n * C + c) * inner;
                float *q = dx + (n * C + c) * inner;
                for (int64_t i = 0; i < inner; i++) q[i] += k * (d[i] - a - (p[i] - fm) * is * bb);
            }
        } else {
            const float k = sc * is;
            for (int64_t n = 0; n < g->n; n++) {
                const float *d = dy + (n * C + c) * inner;
                float *q = dx + (n * C + c) * inner;
                for (int64_t i = 0; i < inner; i++) q[i] += k * d[i];
            }
        }
    }
}

static cg_status bn_backward(cg_node *nd) {
    cg_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    float *dx = NULL, *dw = NULL, *db = NULL;
    if (cg_requires_grad(x) && !(dx = cg_grad_data(x))) return CG_ENOMEM;
    if (cg_requires_grad(w) && !(dw = cg_grad_data(w))) return CG_ENOMEM;
    if (cg_requires_grad(b) && !(db = cg_grad_data(b))) return CG_ENOMEM;
    bn_geom g = { nd->iarg[0], nd->iarg[1], nd->iarg[2] };
    bn_backward_kernel(dx, dw, db, cg_out_grad(nd), x->data, w ? w->data : NULL, nd->aux, &g, nd->iarg[3] != 0);
    return CG_OK;
}

static const cg_op_def op_batch_norm = { "batch_norm2d", bn_backward };

static bool is_channel_vec(const cg_tensor *t, int64_t C) { return !t || (t->ndim == 1 && t->shape[0] == C); }

cg_tensor *cg_batch_norm2d(cg_tensor *x, cg_tensor *weight, cg_tensor *bias, cg_tensor *running_mean,
                           cg_tensor *running_var, bool training, float momentum, float eps) {
    if (!x) return NULL;
    double t0 = cg_profile_begin();
    char s[96];
    if (x->ndim < 2 || x->ndim > 4)
        return CG_FAIL(CG_ESHAPE, "batch_norm2d: input must be [N,C,H,W], [N,C,L] or [N,C], got %s",
                       cg_shape_str(s, sizeof s, x->ndim, x->shape));
    bn_geom g = { x->shape[0], x->shape[1], 1 };
    for (int i = 2; i < x->ndim; i++) g.inner *= x->shape[i];
    const char *names[4] = { "weight", "bias", "running_mean", "running_var" };
    cg_tensor *vecs[4] = { weight, bias, running_mean, running_var };
    for (int i = 0; i < 4; i++)
        if (!is_channel_vec(vecs[i], g.c))
            return CG_FAIL(CG_ESHAPE, "batch_norm2d: %s must be [%lld] for input %s", names[i],
                           (long long)g.c, cg_shape_str(s, sizeof s, x->ndim, x->shape));
    if (!training && (!running_mean || !running_var))
        return CG_FAIL(CG_EINVAL, "batch_norm2d: eval mode needs running_mean and running_var");
    if (training && g.n * g.inner <= 1)
        return CG_FAIL(CG_ESHAPE, "batch_norm2d: training needs more than 1 value per channel, input %s",
                       cg_shape_str(s, sizeof s, x->ndim, x->shape));
    if (!(eps > 0.0f) && !(eps == 0.0f))
        return CG_FAIL(CG_EINVAL, "batch_norm2d: eps = %g must not be negative", (double)eps);
    cg_tensor *y = cg_tape_tensor(x->ndim, x->shape);
    float *stats = cg_tape_scratch((size_t)(2 * (g.c ? g.c : 1)) * sizeof(float));
    if (!y || !stats) return NULL;
    bn_forward(y->data, stats, x->data, weight ? weight->data : NULL, bias ? bias->data : NULL,
               running_mean ? running_mean->data : NULL, running_var ? running_var->data : NULL,
               &g, training, momentum, eps);
    cg_node *nd = cg_record(&op_batch_norm, y, 3, (cg_tensor *[]){ x, weight, bias });
    if (!nd) return NULL;
    nd->iarg[0] = g.n; nd->iarg[1] = g.c; nd->iarg[2] = g.inner; nd->iarg[3] = training;
    nd->aux = stats;
    cg_profile_end("batch_norm2d", 0, t0);
    return y;
}
