/* SPDX-License-Identifier: MIT */
/* lib/ops/conv_transpose2d.c — transposed 2-D convolution (F.conv_transpose2d), the adjoint of
 * conv2d in its input, by sgemm + col2im.
 *
 * Shape rule: x[N,C,H,W], w[C,OC/groups,KH,KW], b[OC] or NULL -> y[N,OC,OH,OW] with
 *   OH = (H-1)*sh - 2*ph + dh*(KH-1) + oph + 1   (and likewise OW),
 * oph < sh or oph < dh (PyTorch's rule; per dim), C and OC divisible by groups.
 *
 * The geometry is conv2d's with the roles of input and output swapped: a conv2d over y's
 * [OC, OH, OW] with the same kernel, stride, padding and dilation has x's H x W positions (H of
 * its (OH + 2ph - dh(KH-1) - 1)/sh + 1 rows: output padding only adds rows no window starts on).
 * So one cg_im2col_geom g = { c OC, h OH, w OW, ..., oh H, ow W } serves both directions: the
 * columns of image n are cols[OC*KH*KW, H*W], group gi owning rows gi*OCg*KH*KW.., and per
 * image and group (Cg = C/groups, OCg = OC/groups, K = KH*KW, HW = H*W):
 *   forward   cols_g[OCg*K, HW] = W_gᵀ · x_g      W_g = w[gi*Cg.., :] as [Cg, OCg*K], x_g [Cg, HW]
 *             y[n] = b + col2im(cols)              (conv2d's input-gradient path)
 *   backward  dcols = im2col(dy[n])                (conv2d's forward path)
 *             dx_g [Cg, HW]    += W_g · dcols_g    (the image's own slice of dx)
 *             dW_g [Cg, OCg*K] += x_g · dcols_gᵀ   (into the partial of the image's chunk)
 *             db[oc] += sum dy[n, oc]              (per image, blocked float sums in double)
 *
 * Scheduling and memory follow conv2d (lib/ops/conv2d.c): threads over images when there are at
 * least two images per thread (cg_conv_threads), each thread with its own slab of the workspace
 * borrowed from the thread's scratch arena (cg_scratch_borrow) and single-threaded sgemms; otherwise one image
 * at a time with BLAS's threads inside each sgemm. dW and db are summed in a fixed number of
 * chunks of images whose partials are added in chunk order, so the result does not depend on
 * the thread count. After the first step nothing is allocated. */
#include <omp.h>
#include "cg_internal.h"
#include "im2col.h"

typedef struct ct_plan {
    int64_t n, c, oc, groups, cg, ocg;  /* images, x's channels, y's channels, per group */
    cg_im2col_geom g;                   /* the conv2d geometry over y (see the top) */
    bool dx_fresh;                      /* backward: dx is uninitialised: write it */
    int schedule;                       /* CG_CONFIG_CONV_SCHEDULE, read once by the forward */
} ct_plan;

cg_conv_transpose2d_params cg_conv_transpose2d_defaults(void) {
    return (cg_conv_transpose2d_params){ .stride = { 1, 1 }, .padding = { 0, 0 }, .output_padding = { 0, 0 },
                                         .dilation = { 1, 1 }, .groups = 1 };
}

static size_t round16(size_t f) { return (f + 15) & ~(size_t)15; }  /* 64-byte aligned slabs */

/* ---- shapes -------------------------------------------------------------- */
/* One output extent, overflow-safe: (in-1)*st - 2*pad + dil*(k-1) + opad + 1 into *out.
 * false when a step overflows int64 (every input is >= 0 here, in >= 1, k >= 1). */
static bool out_extent(int64_t in, int64_t k, int64_t st, int64_t pad, int64_t opad, int64_t dil, int64_t *out) {
    int64_t a, e, p2;
    if (__builtin_mul_overflow(in - 1, st, &a) || __builtin_mul_overflow(dil, k - 1, &e) ||
        __builtin_add_overflow(a, e, &a) || __builtin_add_overflow(a, opad, &a) || __builtin_add_overflow(a, 1, &a) ||
        __builtin_mul_overflow(pad, 2, &p2))
        return false;
    *out = a - p2;  /* both >= 0: no overflow */
    return true;
}

/* What cg_conv_transpose2d checks of shapes and parameters, and its output shape (see ops.h).
 * Used by the op's plan and by nets checked before they are built (lib/nn/spec.c). */
cg_status cg_conv_transpose2d_out_shape(int ndim, const int64_t *x_shape, const int64_t *w_shape,
                                        const cg_conv_transpose2d_params *p, int64_t *out_shape) {
    char s1[96], s2[96];
    static const char *const hw[2] = { "height", "width" };
    if (!x_shape || !w_shape || !p || !out_shape)
        return cg_error(CG_EINVAL, "conv_transpose2d_out_shape: an argument is NULL");
    if (ndim != 4)
        return cg_error(CG_ESHAPE, "conv_transpose2d: input must be 4-d [N,C,H,W], got %d dims", ndim);
    for (int i = 0; i < 2; i++) {
        if (p->stride[i] <= 0)
            return cg_error(CG_EINVAL, "conv_transpose2d: stride[%d] = %lld must be positive", i, (long long)p->stride[i]);
        if (p->dilation[i] <= 0)
            return cg_error(CG_EINVAL, "conv_transpose2d: dilation[%d] = %lld must be positive", i,
                            (long long)p->dilation[i]);
        if (p->padding[i] < 0)
            return cg_error(CG_EINVAL, "conv_transpose2d: padding[%d] = %lld must not be negative", i,
                            (long long)p->padding[i]);
    }
    if (p->groups <= 0)
        return cg_error(CG_EINVAL, "conv_transpose2d: groups = %lld must be positive", (long long)p->groups);
    for (int i = 0; i < 2; i++) {
        if (p->output_padding[i] < 0)
            return cg_error(CG_EINVAL, "conv_transpose2d: output_padding[%d] = %lld must not be negative", i,
                            (long long)p->output_padding[i]);
        if (p->output_padding[i] >= p->stride[i] && p->output_padding[i] >= p->dilation[i])
            return cg_error(CG_EINVAL, "conv_transpose2d: output_padding[%d] = %lld must be smaller than "
                            "stride[%d] = %lld or dilation[%d] = %lld", i, (long long)p->output_padding[i], i,
                            (long long)p->stride[i], i, (long long)p->dilation[i]);
    }
    const int64_t C = x_shape[1];
    if (C % p->groups)
        return cg_error(CG_ESHAPE, "conv_transpose2d: input channels %lld are not divisible by groups %lld",
                        (long long)C, (long long)p->groups);
    if (w_shape[0] != C)
        return cg_error(CG_ESHAPE, "conv_transpose2d: weight %s expects %lld input channels, input %s has %lld",
                        cg_shape_str(s1, sizeof s1, 4, w_shape), (long long)w_shape[0],
                        cg_shape_str(s2, sizeof s2, 4, x_shape), (long long)C);
    int64_t OC;
    if (__builtin_mul_overflow(w_shape[1], p->groups, &OC))
        return cg_error(CG_ESHAPE, "conv_transpose2d: weight %s with groups %lld has more output channels than "
                        "int64 holds", cg_shape_str(s1, sizeof s1, 4, w_shape), (long long)p->groups);
    if (w_shape[2] <= 0 || w_shape[3] <= 0)
        return cg_error(CG_ESHAPE, "conv_transpose2d: kernel %lldx%lld is empty", (long long)w_shape[2],
                        (long long)w_shape[3]);
    if (x_shape[2] <= 0 || x_shape[3] <= 0)
        return cg_error(CG_ESHAPE, "conv_transpose2d: input %s has no positions (height and width must be at "
                        "least 1)", cg_shape_str(s1, sizeof s1, 4, x_shape));
    out_shape[0] = x_shape[0];
    out_shape[1] = OC;
    int64_t *out = out_shape + 2;
    for (int i = 0; i < 2; i++) {
        const int64_t in = x_shape[2 + i], k = w_shape[2 + i];
        if (!out_extent(in, k, p->stride[i], p->padding[i], p->output_padding[i], p->dilation[i], &out[i]))
            return cg_error(CG_EINVAL, "conv_transpose2d: the output %s from input %lld, kernel %lld, stride %lld, "
                            "padding %lld, dilation %lld overflows int64", hw[i], (long long)in, (long long)k,
                            (long long)p->stride[i], (long long)p->padding[i], (long long)p->dilation[i]);
        if (out[i] < 1)   /* out_shape keeps the extent: a caller can say which (see ops.h) */
            return cg_error(CG_ESHAPE, "conv_transpose2d: the output %s (%lld-1)*stride %lld - 2*padding %lld + "
                            "dilation %lld*(kernel %lld-1) + output_padding %lld + 1 = %lld is below 1", hw[i],
                            (long long)in, (long long)p->stride[i], (long long)p->padding[i],
                            (long long)p->dilation[i], (long long)k, (long long)p->output_padding[i],
                            (long long)out[i]);
    }
    /* The output must be representable (and allocatable in size_t): at most 2^44 floats, as
     * conv2d's limit. */
    int64_t numel;
    if (__builtin_mul_overflow(out[0], out[1], &numel) || __builtin_mul_overflow(numel, OC, &numel) ||
        __builtin_mul_overflow(numel, x_shape[0] ? x_shape[0] : 1, &numel) || numel > ((int64_t)1 << 44))
        return cg_error(CG_ESHAPE, "conv_transpose2d: the output [%lld, %lld, %lld, %lld] is too large",
                        (long long)x_shape[0], (long long)OC, (long long)out[0], (long long)out[1]);
    return CG_OK;
}

static cg_status plan_make(const cg_tensor *x, const cg_tensor *w, const cg_tensor *b,
                           const cg_conv_transpose2d_params *p, ct_plan *pl) {
    const cg_settings cfg = cg_config_snapshot();  /* the switches, once per call */
    char s1[96], s2[96];
    cg_status st = cg_conv_check_args("conv_transpose2d", x, w, "[C,OC/groups,KH,KW]", p->stride, p->dilation,
                                      p->padding, p->groups);
    if (st != CG_OK) return st;
    int64_t y_shape[4];
    if ((st = cg_conv_transpose2d_out_shape(4, x->shape, w->shape, p, y_shape)) != CG_OK) return st;
    const int64_t C = x->shape[1], OC = y_shape[1], out[2] = { y_shape[2], y_shape[3] };
    if (b && (b->ndim != 1 || b->shape[0] != OC))
        return cg_error(CG_ESHAPE, "conv_transpose2d: bias must be [%lld] (weight %s, groups %lld), got %s",
                        (long long)OC, cg_shape_str(s1, sizeof s1, w->ndim, w->shape), (long long)p->groups,
                        cg_shape_str(s2, sizeof s2, b->ndim, b->shape));
    /* One image's columns must be representable (and allocatable in size_t with a slab per
     * thread): at most 2^44 floats, as the output (checked by the rule) and conv2d's limit. */
    const int64_t lim = (int64_t)1 << 44;
    int64_t hwin, rows, cols;
    if (__builtin_mul_overflow(x->shape[2], x->shape[3], &hwin) || __builtin_mul_overflow(OC, w->shape[2], &rows) ||
        __builtin_mul_overflow(rows, w->shape[3], &rows) || __builtin_mul_overflow(rows, hwin, &cols) || cols > lim)
        return cg_error(CG_ESHAPE, "conv_transpose2d: one image's columns (%lld output channels x %lldx%lld kernel "
                        "x %lldx%lld inputs) are too large", (long long)OC, (long long)w->shape[2],
                        (long long)w->shape[3], (long long)x->shape[2], (long long)x->shape[3]);
    cg_im2col_geom *g = &pl->g;
    g->c = OC; g->h = out[0]; g->w = out[1];
    g->kh = w->shape[2]; g->kw = w->shape[3];
    g->sh = p->stride[0]; g->sw = p->stride[1];
    g->ph = p->padding[0]; g->pw = p->padding[1];
    g->dh = p->dilation[0]; g->dw = p->dilation[1];
    g->oh = x->shape[2]; g->ow = x->shape[3];
    g->dense = cfg.conv_dense;
    pl->schedule = cfg.conv_schedule;
    pl->n = x->shape[0];
    pl->c = C;
    pl->oc = OC;
    pl->groups = p->groups;
    pl->cg = C / p->groups;
    pl->ocg = w->shape[1];
    pl->dx_fresh = false;
    /* forward [OCg*K, HW] x [HW.., Cg]; backward dx [Cg, HW] over OCg*K, dW [Cg, OCg*K] over HW */
    const int64_t ck = pl->ocg * g->kh * g->kw;
    st = cg_gemm_check("conv_transpose2d", ck, hwin, pl->cg);
    if (st == CG_OK) st = cg_gemm_check("conv_transpose2d", pl->cg, ck, hwin);
    return st;
}

/* ---- forward ------------------------------------------------------------- */
/* Images [n0, n1): y[n] = b + col2im(W_gᵀ · x_g for each group). y[N,OC,OH,OW], x[N,C,H,W],
 * w[C,OCg,KH,KW]; cols: this caller's slab of OC*KH*KW*H*W floats. */
static void forward_images(float *restrict y, const float *restrict x, const float *restrict w,
                           const float *restrict b, const ct_plan *pl, float *cols, int64_t n0, int64_t n1) {
    const cg_im2col_geom *g = &pl->g;
    const int64_t ohw = g->h * g->w, hw = g->oh * g->ow, ck = pl->ocg * g->kh * g->kw;
    for (int64_t n = n0; n < n1; n++) {
        float *yn = y + n * pl->oc * ohw;
        for (int64_t oc = 0; oc < pl->oc; oc++) {
            const float bv = b ? b[oc] : 0.0f;
            float *yp = yn + oc * ohw;
            #pragma omp simd
            for (int64_t i = 0; i < ohw; i++) yp[i] = bv;
        }
        if (pl->cg == 0) continue;  /* no input channels: y is the bias */
        const float *xn = x + n * pl->c * hw;
        for (int64_t gi = 0; gi < pl->groups; gi++)
            cg_gemm(true, false, ck, hw, pl->cg, 1.0f, w + gi * pl->cg * ck, ck, xn + gi * pl->cg * hw, hw, 0.0f,
                    cols + gi * ck * hw, hw);
        cg_col2im_add(yn, cols, g, false);
    }
}

static cg_status ct_forward(float *y, const float *x, const float *w, const float *b, const ct_plan *pl) {
    const int nt = cg_conv_threads(pl->n, pl->schedule);
    const size_t per = round16((size_t)(pl->oc * pl->g.kh * pl->g.kw * pl->g.oh * pl->g.ow));
    float *ws = NULL;
    if (pl->cg && !(ws = cg_scratch_borrow(per * (size_t)nt * sizeof(float)))) return CG_ENOMEM;
    if (nt == 1) { forward_images(y, x, w, b, pl, ws, 0, pl->n); return CG_OK; }
    #pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t n = 0; n < pl->n; n++)
        forward_images(y, x, w, b, pl, ws ? ws + (size_t)omp_get_thread_num() * per : NULL, n, n + 1);
    return CG_OK;
}

/* ---- backward ------------------------------------------------------------ */
/* Images [n0, n1) of one chunk: dcols = im2col(dy[n]); dx[n]_g (+)= W_g · dcols_g; dw_g (its
 * partial, written by the chunk's first image) += x_g · dcols_gᵀ; db (likewise) += sum dy[n, oc].
 * Any of dx, dw, db may be NULL; dcols: the caller's own slab. */
static void backward_images(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                            const ct_plan *pl, float *dcols, int64_t n0, int64_t n1) {
    const cg_im2col_geom *g = &pl->g;
    const int64_t ohw = g->h * g->w, hw = g->oh * g->ow, ck = pl->ocg * g->kh * g->kw;
    for (int64_t n = n0; n < n1; n++) {
        const float *dyn = dy + n * pl->oc * ohw, *xn = x + n * pl->c * hw;
        const bool first = n == n0;
        if (db)
            for (int64_t oc = 0; oc < pl->oc; oc++)
                db[oc] = (first ? 0.0f : db[oc]) + (float)cg_sum_blocks(0.0, dyn + oc * ohw, ohw);
        if (!dx && !dw) continue;
        cg_im2col(dcols, dyn, g, false);
        for (int64_t gi = 0; gi < pl->groups; gi++) {
            const float *dc = dcols + gi * ck * hw;
            if (dw)
                cg_gemm(false, true, pl->cg, ck, hw, 1.0f, xn + gi * pl->cg * hw, hw, dc, hw, first ? 0.0f : 1.0f,
                        dw + gi * pl->cg * ck, ck);
            if (dx)
                cg_gemm(false, false, pl->cg, hw, ck, 1.0f, w + gi * pl->cg * ck, ck, dc, hw,
                        pl->dx_fresh ? 0.0f : 1.0f, dx + n * pl->c * hw + gi * pl->cg * hw, hw);
        }
    }
}

/* dW and db are summed over CT_CHUNKS fixed chunks of images (fewer when the partials would pass
 * CT_PARTS_BYTES, never fewer than CT_CHUNKS_MIN, never more than the images): conv2d's scheme,
 * so the sums do not depend on the thread count. */
#define CT_CHUNKS 32
#define CT_CHUNKS_MIN 8
#define CT_PARTS_BYTES ((int64_t)64 << 20)

typedef struct ct_job {
    float *dx, *dw, *db, *ws, *parts;
    const float *dy, *x, *w;
    const ct_plan *pl;
    size_t per, pw, pb;
    int64_t P;
} ct_job;

/* One thread's share of the work items (chunks, or images when only dx is wanted), then of the
 * partial sums. Orphaned worksharing loops: the same code runs in a team or alone (never in a
 * serialized parallel region: see conv2d's backward_team for OpenBLAS's deadlock there). */
static void backward_team(const ct_job *j) {
    const ct_plan *pl = j->pl;
    float *mine = j->ws ? j->ws + (size_t)omp_get_thread_num() * j->per : NULL;
    const bool chunked = j->dw || j->db;
    #pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < j->P; c++) {
        float *pdw = j->dw ? j->parts + (size_t)c * (j->pw + j->pb) : NULL;
        float *pdb = j->db ? j->parts + (size_t)c * (j->pw + j->pb) + j->pw : NULL;
        const int64_t n0 = chunked ? pl->n * c / j->P : c, n1 = chunked ? pl->n * (c + 1) / j->P : c + 1;
        backward_images(j->dx, pdw, pdb, j->dy, j->x, j->w, pl, mine, n0, n1);
    }
    if (j->dw) {
        const int64_t nw = pl->c * pl->ocg * pl->g.kh * pl->g.kw;
        #pragma omp for schedule(static)
        for (int64_t i = 0; i < nw; i++) {
            float s = j->dw[i];
            for (int64_t c = 0; c < j->P; c++) s += j->parts[(size_t)c * (j->pw + j->pb) + (size_t)i];
            j->dw[i] = s;
        }
    }
    if (j->db) {
        #pragma omp for schedule(static)
        for (int64_t i = 0; i < pl->oc; i++) {
            float s = j->db[i];
            for (int64_t c = 0; c < j->P; c++) s += j->parts[(size_t)c * (j->pw + j->pb) + j->pw + (size_t)i];
            j->db[i] = s;
        }
    }
}

static cg_status ct_backward(cg_node *nd) {
    ct_plan pl;
    CG_GET_PARAMS(nd, &pl);
    cg_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    float *dx = NULL, *dw = NULL, *db = NULL;
    bool fresh = false;
    if (cg_requires_grad(b) && !(db = cg_grad_data(b))) return CG_ENOMEM;
    if (cg_requires_grad(x) && !(dx = cg_grad_data_fresh(x, &fresh))) return CG_ENOMEM;
    if (cg_requires_grad(w) && !(dw = cg_grad_data(w))) return CG_ENOMEM;
    pl.dx_fresh = dx && fresh;  /* every image's dx is written once per group, by its own item */
    const bool no_gemm = pl.n == 0 || pl.cg == 0 || pl.ocg == 0;
    if (pl.dx_fresh && no_gemm) memset(dx, 0, (size_t)x->numel * sizeof(float));
    if (pl.n == 0 || pl.oc == 0) return CG_OK;
    if (no_gemm) dx = dw = NULL;  /* only db is left */
    if (!dx && !dw && !db) return CG_OK;
    const int nt = cg_conv_threads(pl.n, pl.schedule);
    const int64_t nw = pl.c * pl.ocg * pl.g.kh * pl.g.kw;
    const size_t per = dx || dw ? round16((size_t)(pl.oc * pl.g.kh * pl.g.kw * pl.g.oh * pl.g.ow)) : 0;
    const size_t pw = dw ? round16((size_t)nw) : 0, pb = db ? round16((size_t)pl.oc) : 0;
    int64_t P = pl.n;
    if (dw || db) {
        P = CT_PARTS_BYTES / ((int64_t)((pw + pb) * sizeof(float)) + 1);
        P = P > CT_CHUNKS ? CT_CHUNKS : P < CT_CHUNKS_MIN ? CT_CHUNKS_MIN : P;
        if (P > pl.n) P = pl.n;
    }
    const size_t total = per * (size_t)nt + (pw + pb) * (size_t)(dw || db ? P : 0);
    float *ws = NULL;
    if (total && !(ws = cg_scratch_borrow(total * sizeof(float)))) return CG_ENOMEM;
    ct_job job = { dx, dw, db, ws, ws ? ws + per * (size_t)nt : NULL, cg_out_grad(nd), x->data, w->data, &pl,
                   per, pw, pb, P };
    if (nt > 1) {
        #pragma omp parallel num_threads(nt)
        backward_team(&job);
    } else {
        backward_team(&job);
    }
    return CG_OK;
}

static const cg_op_def op_conv_transpose2d = { "conv_transpose2d", ct_backward };

cg_tensor *cg_conv_transpose2d(cg_tensor *x, cg_tensor *w, cg_tensor *b, const cg_conv_transpose2d_params *p) {
    if (!x || !w) return NULL;
    CG_REQUIRE_F32("conv_transpose2d", "input", x);
    CG_REQUIRE_F32("conv_transpose2d", "weight", w);
    CG_REQUIRE_F32("conv_transpose2d", "bias", b);
    double t0 = cg_profile_begin();
    cg_conv_transpose2d_params def = cg_conv_transpose2d_defaults();
    if (!p) p = &def;
    ct_plan pl;
    if (plan_make(x, w, b, p, &pl) != CG_OK) return NULL;
    cg_tensor *y = cg_tape_tensor(4, (int64_t[]){ pl.n, pl.oc, pl.g.h, pl.g.w });
    if (!y) return NULL;
    if (y->numel && ct_forward(y->data, x->data, w->data, b ? b->data : NULL, &pl) != CG_OK) return NULL;
    cg_node *nd = cg_record(&op_conv_transpose2d, y, 3, (cg_tensor *[]){ x, w, b });
    if (!nd) return NULL;
    CG_SET_PARAMS(nd, &pl);
    cg_profile_end(op_conv_transpose2d.name, 0, t0);
    return y;
}
