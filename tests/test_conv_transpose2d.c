/* SPDX-License-Identifier: MIT */
/* tests/test_conv_transpose2d.c — conv_transpose2d: values by hand; forward and dx, dw, db
 * against a naive scatter in double over a grid of stride, padding, output_padding, dilation,
 * groups and kernels; central-difference gradchecks of x, w and b; the same results on 1 thread
 * and on the threads-over-images path; shape errors and their messages; the ConvTranspose2d
 * module (names, shapes, PyTorch's init bound); no allocation once warm. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"
#include "alloc_probe.h"

typedef struct geom {
    int64_t n, c, h, w, oc, kh, kw, s, p, op, d, g, oh, ow;
} geom;

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t op, int64_t d) {
    return (in - 1) * s - 2 * p + d * (k - 1) + op + 1;
}

static cg_conv_transpose2d_params params_of(const geom *G) {
    cg_conv_transpose2d_params p = cg_conv_transpose2d_defaults();
    p.stride[0] = p.stride[1] = G->s;
    p.padding[0] = p.padding[1] = G->p;
    p.output_padding[0] = p.output_padding[1] = G->op;
    p.dilation[0] = p.dilation[1] = G->d;
    p.groups = G->g;
    return p;
}

/* The definition, as a scatter in double: x[n, c, ih, iw] * w[c, ocl, ki, kj] goes to
 * y[n, gi*OCg + ocl, ih*s - p + ki*d, iw*s - p + kj*d] (gi = c / Cg) when that lies inside y.
 * With dy given instead, the same loops accumulate dx, dw and db. */
static void naive(double *y, double *dx, double *dw, double *db, const float *dy, const float *x,
                  const float *w, const float *b, const geom *G) {
    const int64_t cg = G->c / G->g, ocg = G->oc / G->g;
    if (y && b)
        for (int64_t n = 0; n < G->n; n++)
            for (int64_t oc = 0; oc < G->oc; oc++)
                for (int64_t i = 0; i < G->oh * G->ow; i++) y[(n * G->oc + oc) * G->oh * G->ow + i] = b[oc];
    if (db)
        for (int64_t n = 0; n < G->n; n++)
            for (int64_t oc = 0; oc < G->oc; oc++)
                for (int64_t i = 0; i < G->oh * G->ow; i++) db[oc] += dy[(n * G->oc + oc) * G->oh * G->ow + i];
    for (int64_t n = 0; n < G->n; n++)
        for (int64_t c = 0; c < G->c; c++)
            for (int64_t ih = 0; ih < G->h; ih++)
                for (int64_t iw = 0; iw < G->w; iw++)
                    for (int64_t ocl = 0; ocl < ocg; ocl++)
                        for (int64_t ki = 0; ki < G->kh; ki++)
                            for (int64_t kj = 0; kj < G->kw; kj++) {
                                int64_t oh = ih * G->s - G->p + ki * G->d, ow = iw * G->s - G->p + kj * G->d;
                                if (oh < 0 || oh >= G->oh || ow < 0 || ow >= G->ow) continue;
                                int64_t oc = (c / cg) * ocg + ocl;
                                int64_t xi = ((n * G->c + c) * G->h + ih) * G->w + iw;
                                int64_t wi = ((c * ocg + ocl) * G->kh + ki) * G->kw + kj;
                                int64_t yi = ((n * G->oc + oc) * G->oh + oh) * G->ow + ow;
                                if (y) y[yi] += (double)x[xi] * w[wi];
                                if (dx) dx[xi] += (double)dy[yi] * w[wi];
                                if (dw) dw[wi] += (double)dy[yi] * x[xi];
                            }
}

static void expect_close(const char *what, const float *got, const double *want, int64_t n, const geom *G) {
    for (int64_t i = 0; i < n; i++)
        if (fabs(got[i] - want[i]) > 1e-4 + 1e-4 * fabs(want[i]))
            fail_msg("%s[%lld]: got %.7g want %.7g (k%lldx%lld s%lld p%lld op%lld d%lld g%lld)", what, (long long)i,
                     got[i], want[i], (long long)G->kh, (long long)G->kw, (long long)G->s, (long long)G->p,
                     (long long)G->op, (long long)G->d, (long long)G->g);
}

static void run_case(geom G, bool with_bias, unsigned salt) {
    G.oh = out_size(G.h, G.kh, G.s, G.p, G.op, G.d);
    G.ow = out_size(G.w, G.kw, G.s, G.p, G.op, G.d);
    cg_tensor *x = test_tensor(4, CG_SHAPE(G.n, G.c, G.h, G.w), -1, 1, salt, true);
    cg_tensor *w = test_tensor(4, CG_SHAPE(G.c, G.oc / G.g, G.kh, G.kw), -1, 1, salt + 1, true);
    cg_tensor *b = with_bias ? test_tensor(1, CG_SHAPE(G.oc), -1, 1, salt + 2, true) : NULL;
    cg_conv_transpose2d_params p = params_of(&G);
    cg_tensor *y = cg_conv_transpose2d(x, w, b, &p);
    if (!y) fail_msg("conv_transpose2d failed: %s", cg_last_error());
    const int64_t ny = G.n * G.oc * G.oh * G.ow, nx = cg_tensor_numel(x), nw = cg_tensor_numel(w);
    assert_int_equal(cg_tensor_ndim(y), 4);
    assert_int_equal(cg_tensor_shape(y)[1], G.oc);
    assert_int_equal(cg_tensor_shape(y)[2], G.oh);
    assert_int_equal(cg_tensor_shape(y)[3], G.ow);
    double *ref = calloc((size_t)ny, sizeof *ref);
    naive(ref, NULL, NULL, NULL, NULL, cg_tensor_data(x), cg_tensor_data(w), b ? cg_tensor_data(b) : NULL, &G);
    expect_close("y", cg_tensor_data(y), ref, ny, &G);
    cg_tensor *r = test_tensor(4, cg_tensor_shape(y), -1, 1, salt + 3, false);  /* loss = sum(y * R) */
    assert_int_equal(cg_backward(cg_sum(cg_mul(y, r))), CG_OK);
    double *dx = calloc((size_t)nx, sizeof *dx), *dw = calloc((size_t)nw, sizeof *dw);
    double *db = calloc((size_t)G.oc, sizeof *db);
    naive(NULL, dx, dw, db, cg_tensor_data(r), cg_tensor_data(x), cg_tensor_data(w), NULL, &G);
    expect_close("dx", cg_tensor_data(cg_tensor_grad(x)), dx, nx, &G);
    expect_close("dw", cg_tensor_data(cg_tensor_grad(w)), dw, nw, &G);
    if (b) expect_close("db", cg_tensor_data(cg_tensor_grad(b)), db, G.oc, &G);
    cg_tape_release();
    free(ref); free(dx); free(dw); free(db);
    cg_tensor_free(r); cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(b);
}

static void test_values_by_hand(void **s) {
    (void)s;
    /* x = [1 2; 3 4], w = ones 2x2: each input spreads over a 2x2 block of the 3x3 output. */
    cg_tensor *x = cg_tensor_from_array(4, CG_SHAPE(1, 1, 2, 2), (float[]){ 1, 2, 3, 4 });
    cg_tensor *w = cg_tensor_ones(4, CG_SHAPE(1, 1, 2, 2));
    cg_tensor *b = cg_tensor_from_array(1, CG_SHAPE(1), (float[]){ 0.5f });
    cg_tensor *y = cg_conv_transpose2d(x, w, b, NULL);
    assert_non_null(y);
    assert_int_equal(cg_tensor_shape(y)[2], 3);
    const float want[9] = { 1.5f, 3.5f, 2.5f, 4.5f, 10.5f, 6.5f, 3.5f, 7.5f, 4.5f };
    for (int i = 0; i < 9; i++) assert_float_equal(cg_tensor_cdata(y)[i], want[i], 1e-6);
    /* stride 2, output_padding 1: disjoint blocks, and an extra row and column of bias only */
    cg_conv_transpose2d_params p = cg_conv_transpose2d_defaults();
    p.stride[0] = p.stride[1] = 2;
    p.output_padding[0] = p.output_padding[1] = 1;
    y = cg_conv_transpose2d(x, w, NULL, &p);
    assert_non_null(y);
    assert_int_equal(cg_tensor_shape(y)[2], 5);
    assert_int_equal(cg_tensor_shape(y)[3], 5);
    const float want2[25] = { 1, 1, 2, 2, 0, 1, 1, 2, 2, 0, 3, 3, 4, 4, 0, 3, 3, 4, 4, 0, 0, 0, 0, 0, 0 };
    for (int i = 0; i < 25; i++) assert_float_equal(cg_tensor_cdata(y)[i], want2[i], 0);
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(b);
}

/* 48 cases: stride 1/2, padding 0/1, dilation 1/2, groups 1/2, kernel 1/3, output_padding 0 and,
 * where stride or dilation allows it, 1; a bias on every other case. Then odd shapes. */
static void test_grid_vs_naive(void **s) {
    (void)s;
    const int64_t strides[] = { 1, 2 }, pads[] = { 0, 1 }, dils[] = { 1, 2 }, groups[] = { 1, 2 }, ks[] = { 1, 3 };
    unsigned salt = 10;
    int cases = 0;
    for (int a = 0; a < 2; a++) for (int bq = 0; bq < 2; bq++) for (int c = 0; c < 2; c++)
    for (int d = 0; d < 2; d++) for (int e = 0; e < 2; e++) for (int op = 0; op < 2; op++) {
        if (op && strides[a] == 1 && dils[c] == 1) continue;
        geom G = { .n = 2, .c = 4, .h = 5, .w = 4, .oc = 6, .kh = ks[e], .kw = ks[e], .s = strides[a],
                   .p = pads[bq], .op = op, .d = dils[c], .g = groups[d] };
        if (out_size(G.h, G.kh, G.s, G.p, G.op, G.d) < 1) continue;
        run_case(G, cases % 2 == 0, salt);
        salt += 5;
        cases++;
    }
    assert_int_equal(cases, 56);  /* 32 without output padding, 24 with */
    /* non-square kernel, one input channel per group, a 1x1 input */
    run_case((geom){ .n = 2, .c = 2, .h = 3, .w = 4, .oc = 3, .kh = 2, .kw = 3, .s = 1, .p = 1, .d = 1,
                     .g = 1 }, true, 99);
    run_case((geom){ .n = 1, .c = 3, .h = 4, .w = 3, .oc = 6, .kh = 3, .kw = 3, .s = 3, .p = 2, .op = 2, .d = 1,
                     .g = 3 }, true, 120);
    run_case((geom){ .n = 3, .c = 2, .h = 1, .w = 1, .oc = 2, .kh = 4, .kw = 4, .s = 2, .p = 0, .d = 1,
                     .g = 1 }, false, 130);
    /* 40 images: more than the 32 chunks of dW and db, so a chunk sums two images */
    run_case((geom){ .n = 40, .c = 2, .h = 3, .w = 2, .oc = 4, .kh = 2, .kw = 2, .s = 2, .p = 0, .op = 1, .d = 1,
                     .g = 2 }, true, 140);
}

static cg_tensor *ct_fn(cg_tensor **in, void *ctx) { return cg_conv_transpose2d(in[0], in[1], in[2], ctx); }
/* The op's input on the tape: its gradient starts fresh and the backward writes it (=). */
static cg_tensor *ct_sq_fn(cg_tensor **in, void *ctx) {
    return cg_conv_transpose2d(cg_mul(in[0], in[0]), in[1], in[2], ctx);
}

static void test_gradcheck(void **s) {
    (void)s;
    /* { stride, padding, output_padding, dilation, groups, kernel, bias } per config, batch 2 */
    const struct { int64_t s, p, op, d, g, k; bool bias; } cfg[] = {
        { 1, 0, 0, 1, 1, 3, true },   /* defaults */
        { 2, 1, 1, 1, 1, 3, true },   /* stride 2, padding 1, output_padding 1 */
        { 1, 1, 1, 2, 2, 3, false },  /* dilation 2 (output_padding 1 < dilation), groups 2, no bias */
        { 2, 0, 1, 2, 2, 2, true },   /* everything at once */
    };
    for (int i = 0; i < (int)(sizeof cfg / sizeof cfg[0]); i++) {
        cg_conv_transpose2d_params p = cg_conv_transpose2d_defaults();
        p.stride[0] = p.stride[1] = cfg[i].s;
        p.padding[0] = p.padding[1] = cfg[i].p;
        p.output_padding[0] = p.output_padding[1] = cfg[i].op;
        p.dilation[0] = p.dilation[1] = cfg[i].d;
        p.groups = cfg[i].g;
        cg_tensor *in[3] = { test_tensor(4, CG_SHAPE(2, 4, 3, 4), -1, 1, 1 + i, true),
                             test_tensor(4, CG_SHAPE(4, 6 / cfg[i].g, cfg[i].k, cfg[i].k), -1, 1, 7 + i, true),
                             cfg[i].bias ? test_tensor(1, CG_SHAPE(6), -1, 1, 13 + i, true) : NULL };
        gradcheck(ct_fn, in, 3, &p, 1e-2, 2e-3, 2e-2);
        gradcheck(ct_sq_fn, in, 3, &p, 1e-2, 2e-3, 2e-2);
        for (int j = 0; j < 3; j++) cg_tensor_free(in[j]);
    }
    /* per-dim parameters differ: stride (2, 1), padding (0, 1), output_padding (1, 0), kernel 2x3 */
    cg_conv_transpose2d_params p = cg_conv_transpose2d_defaults();
    p.stride[0] = 2; p.padding[1] = 1; p.output_padding[0] = 1;
    cg_tensor *in[3] = { test_tensor(4, CG_SHAPE(2, 2, 3, 4), -1, 1, 31, true),
                         test_tensor(4, CG_SHAPE(2, 3, 2, 3), -1, 1, 32, true),
                         test_tensor(1, CG_SHAPE(3), -1, 1, 33, true) };
    gradcheck(ct_fn, in, 3, &p, 1e-2, 2e-3, 2e-2);
    for (int j = 0; j < 3; j++) cg_tensor_free(in[j]);
}

/* 40 images (chunks of one and two): with 4 threads they run threads-over-images (each its own
 * slab, single-threaded sgemms), on 1 thread serially; y and every gradient must be bitwise the
 * same. */
static void run_big(int threads, float *out, int64_t ny, int64_t nx, int64_t nw) {
    cg_set_num_threads(threads);
    cg_tensor *x = test_tensor(4, CG_SHAPE(40, 4, 5, 5), -1, 1, 61, true);
    cg_tensor *w = test_tensor(4, CG_SHAPE(4, 3, 3, 3), -1, 1, 62, true);
    cg_tensor *b = test_tensor(1, CG_SHAPE(6), -1, 1, 63, true);
    cg_conv_transpose2d_params p = cg_conv_transpose2d_defaults();
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    p.output_padding[0] = p.output_padding[1] = 1;
    p.groups = 2;
    cg_tensor *y = cg_conv_transpose2d(x, w, b, &p);
    assert_non_null(y);
    assert_int_equal(cg_tensor_numel(y), ny);
    cg_tensor *r = test_tensor(4, cg_tensor_shape(y), -1, 1, 64, false);
    assert_int_equal(cg_backward(cg_sum(cg_mul(y, r))), CG_OK);
    memcpy(out, cg_tensor_cdata(y), (size_t)ny * 4);
    memcpy(out + ny, cg_tensor_cdata(cg_tensor_grad(x)), (size_t)nx * 4);
    memcpy(out + ny + nx, cg_tensor_cdata(cg_tensor_grad(w)), (size_t)nw * 4);
    memcpy(out + ny + nx + nw, cg_tensor_cdata(cg_tensor_grad(b)), 6 * 4);
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(b); cg_tensor_free(r);
}

static void test_threads_do_not_change_results(void **s) {
    (void)s;
    const int64_t ny = 40 * 6 * 10 * 10, nx = 40 * 4 * 25, nw = 4 * 3 * 9, n = ny + nx + nw + 6;
    float *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4);
    run_big(1, a, ny, nx, nw);
    run_big(4, b, ny, nx, nw);
    assert_memory_equal(a, b, (size_t)n * 4);
    cg_set_num_threads(2);
    free(a); free(b);
}

static void expect_error(cg_tensor *x, cg_tensor *w, cg_tensor *b, cg_conv_transpose2d_params p, const char *needle) {
    cg_clear_error();
    assert_null(cg_conv_transpose2d(x, w, b, &p));
    if (!strstr(cg_last_error(), needle)) fail_msg("error '%s' lacks '%s'", cg_last_error(), needle);
}

static void test_shape_errors(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_zeros(4, CG_SHAPE(1, 4, 5, 5));
    cg_tensor *w = cg_tensor_zeros(4, CG_SHAPE(4, 3, 3, 3));
    cg_tensor *w3 = cg_tensor_zeros(4, CG_SHAPE(3, 3, 3, 3));
    cg_tensor *w0 = cg_tensor_zeros(4, CG_SHAPE(4, 3, 0, 3));
    cg_tensor *b5 = cg_tensor_zeros(1, CG_SHAPE(5));
    cg_tensor *b6 = cg_tensor_zeros(1, CG_SHAPE(6));
    cg_tensor *x3 = cg_tensor_zeros(3, CG_SHAPE(4, 5, 5));
    cg_tensor *w2d = cg_tensor_zeros(2, CG_SHAPE(4, 3));
    cg_tensor *xe = cg_tensor_zeros(4, CG_SHAPE(1, 4, 0, 5));
    const cg_conv_transpose2d_params d = cg_conv_transpose2d_defaults();
    expect_error(x3, w, NULL, d, "conv_transpose2d: input must be 4-d [N,C,H,W], got [4, 5, 5]");
    expect_error(x, w2d, NULL, d, "conv_transpose2d: weight must be 4-d [C,OC/groups,KH,KW], got [4, 3]");
    expect_error(x, w3, NULL, d,
                 "conv_transpose2d: weight [3, 3, 3, 3] expects 3 input channels, input [1, 4, 5, 5] has 4");
    expect_error(x, w, b5, d, "conv_transpose2d: bias must be [3]");
    cg_conv_transpose2d_params g2 = d; g2.groups = 2;
    expect_error(x, w, b5, g2, "bias must be [6] (weight [4, 3, 3, 3], groups 2), got [5]");
    cg_conv_transpose2d_params g3 = d; g3.groups = 3;
    expect_error(x, w, NULL, g3, "conv_transpose2d: input channels 4 are not divisible by groups 3");
    cg_conv_transpose2d_params g0 = d; g0.groups = 0;
    expect_error(x, w, NULL, g0, "conv_transpose2d: groups = 0 must be positive");
    cg_conv_transpose2d_params st = d; st.stride[1] = 0;
    expect_error(x, w, NULL, st, "conv_transpose2d: stride[1] = 0 must be positive");
    cg_conv_transpose2d_params dl = d; dl.dilation[0] = -1;
    expect_error(x, w, NULL, dl, "conv_transpose2d: dilation[0] = -1 must be positive");
    cg_conv_transpose2d_params pd = d; pd.padding[0] = -1;
    expect_error(x, w, NULL, pd, "conv_transpose2d: padding[0] = -1 must not be negative");
    cg_conv_transpose2d_params opn = d; opn.output_padding[1] = -1;
    expect_error(x, w, NULL, opn, "conv_transpose2d: output_padding[1] = -1 must not be negative");
    cg_conv_transpose2d_params op1 = d; op1.output_padding[0] = 1;  /* stride 1, dilation 1 */
    expect_error(x, w, NULL, op1, "conv_transpose2d: output_padding[0] = 1 must be smaller than stride[0] = 1 "
                                  "or dilation[0] = 1");
    cg_conv_transpose2d_params op2 = d; op2.stride[1] = 2; op2.dilation[1] = 2; op2.output_padding[1] = 2;
    expect_error(x, w, NULL, op2, "output_padding[1] = 2 must be smaller than stride[1] = 2 or dilation[1] = 2");
    cg_conv_transpose2d_params pbig = d; pbig.padding[0] = 4;  /* (5-1) - 8 + 2 + 1 = -1 */
    expect_error(x, w, NULL, pbig, "conv_transpose2d: the output height (5-1)*stride 1 - 2*padding 4 + dilation "
                                   "1*(kernel 3-1) + output_padding 0 + 1 = -1 is below 1");
    cg_conv_transpose2d_params pw = d; pw.padding[1] = 4;
    expect_error(x, w, NULL, pw, "the output width");
    expect_error(x, w0, NULL, d, "conv_transpose2d: kernel 0x3 is empty");
    expect_error(xe, w, NULL, d, "conv_transpose2d: input [1, 4, 0, 5] has no positions");
    /* int64 overflow in the output size, and outputs too large to make */
    cg_conv_transpose2d_params huge = d; huge.stride[0] = INT64_MAX;
    expect_error(x, w, NULL, huge, "conv_transpose2d: the output height from input 5, kernel 3, stride "
                                   "9223372036854775807");
    cg_conv_transpose2d_params hd = d; hd.dilation[1] = INT64_MAX / 2;
    expect_error(x, w, NULL, hd, "the output width");
    expect_error(x, w, NULL, hd, "overflows int64");
    cg_conv_transpose2d_params big = d; big.stride[0] = big.stride[1] = (int64_t)1 << 30;
    expect_error(x, w, NULL, big, "conv_transpose2d: the output [1, 3, ");
    expect_error(x, w, NULL, big, "is too large");
    cg_conv_transpose2d_params hp = d; hp.padding[0] = INT64_MAX;
    expect_error(x, w, NULL, hp, "conv_transpose2d: the output height");
    /* NULL in, NULL out; a valid call still works after the errors */
    assert_null(cg_conv_transpose2d(NULL, w, NULL, &d));
    assert_null(cg_conv_transpose2d(x, NULL, NULL, &d));
    assert_non_null(cg_conv_transpose2d(x, w, NULL, &d));
    cg_tensor *yg = cg_conv_transpose2d(x, w, b6, &g2);
    assert_non_null(yg);
    assert_int_equal(cg_tensor_shape(yg)[1], 6);
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(w3); cg_tensor_free(w0); cg_tensor_free(b5);
    cg_tensor_free(b6); cg_tensor_free(x3); cg_tensor_free(w2d); cg_tensor_free(xe);
}

/* An empty batch gives an empty output; the backward runs and leaves the grads at 0. */
static void test_empty_batch(void **s) {
    (void)s;
    cg_tensor *x = test_tensor(4, CG_SHAPE(0, 2, 3, 3), -1, 1, 71, true);
    cg_tensor *w = test_tensor(4, CG_SHAPE(2, 3, 2, 2), -1, 1, 72, true);
    cg_tensor *b = test_tensor(1, CG_SHAPE(3), -1, 1, 73, true);
    cg_tensor *y = cg_conv_transpose2d(x, w, b, NULL);
    assert_non_null(y);
    assert_int_equal(cg_tensor_numel(y), 0);
    assert_int_equal(cg_tensor_shape(y)[2], 4);
    assert_int_equal(cg_backward(cg_sum(y)), CG_OK);
    for (int64_t i = 0; i < cg_tensor_numel(w); i++) assert_float_equal(cg_tensor_cdata(cg_tensor_grad(w))[i], 0, 0);
    for (int i = 0; i < 3; i++) assert_float_equal(cg_tensor_cdata(cg_tensor_grad(b))[i], 0, 0);
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(b);
}

static void test_module(void **s) {
    (void)s;
    cg_conv_transpose2d_params p = cg_conv_transpose2d_defaults();
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    p.output_padding[0] = p.output_padding[1] = 1;
    p.groups = 2;
    cg_manual_seed(5);
    cg_module *m = cg_conv_transpose2d_new(4, 6, 3, &p, true);
    assert_non_null(m);
    cg_tensor *w = cg_module_find(m, "weight"), *b = cg_module_find(m, "bias");
    assert_non_null(w);
    assert_non_null(b);
    assert_int_equal(cg_tensor_ndim(w), 4);
    assert_int_equal(cg_tensor_shape(w)[0], 4);
    assert_int_equal(cg_tensor_shape(w)[1], 3);  /* out / groups */
    assert_int_equal(cg_tensor_shape(w)[2], 3);
    assert_int_equal(cg_tensor_shape(b)[0], 6);
    assert_int_equal(cg_module_num_parameters(m), 4 * 3 * 9 + 6);
    /* PyTorch's bound: 1/sqrt(fan_in), fan_in = weight.size(1) * k * k = 27 (not 4 * 9) */
    const double bound = 1.0 / sqrt(27.0);
    float wmax = 0, bmax = 0;
    for (int64_t i = 0; i < cg_tensor_numel(w); i++) wmax = fmaxf(wmax, fabsf(cg_tensor_cdata(w)[i]));
    for (int64_t i = 0; i < 6; i++) bmax = fmaxf(bmax, fabsf(cg_tensor_cdata(b)[i]));
    assert_true(wmax <= bound && wmax > 0.8 * bound);  /* 108 draws: the largest is near the bound */
    assert_true(bmax <= bound && bmax > 0);
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 4, 5, 6), -1, 1, 81, false);
    cg_tensor *y = cg_module_forward(m, x);
    assert_non_null(y);
    assert_int_equal(cg_tensor_shape(y)[0], 2);
    assert_int_equal(cg_tensor_shape(y)[1], 6);
    assert_int_equal(cg_tensor_shape(y)[2], 10);
    assert_int_equal(cg_tensor_shape(y)[3], 12);
    assert_int_equal(cg_backward(cg_sum(y)), CG_OK);
    assert_non_null(cg_tensor_grad(w));
    cg_tape_release();
    cg_module *nb = cg_conv_transpose2d_new(2, 2, 1, NULL, false);
    assert_non_null(nb);
    assert_null(cg_module_find(nb, "bias"));
    cg_module_free(nb);
    cg_clear_error();
    assert_null(cg_conv_transpose2d_new(4, 5, 3, &p, true));
    assert_non_null(strstr(cg_last_error(), "ConvTranspose2d"));
    cg_conv_transpose2d_params bad = cg_conv_transpose2d_defaults();
    bad.output_padding[1] = 1;
    assert_null(cg_conv_transpose2d_new(4, 4, 3, &bad, true));
    assert_non_null(strstr(cg_last_error(), "output_padding"));
    cg_module_free(m);
    cg_tensor_free(x);
}

/* ---- allocation counting ------------------------------------------------- */

static void test_no_allocation_when_warm(void **s) {
    (void)s;
    cg_tape_free_all();
    cg_allocator a = counting_allocator;
    cg_set_allocator(&a);
    cg_tensor *x = test_tensor(4, CG_SHAPE(4, 4, 6, 6), -1, 1, 91, true);
    cg_tensor *w = test_tensor(4, CG_SHAPE(4, 4, 3, 3), -1, 1, 92, true);
    cg_tensor *b = test_tensor(1, CG_SHAPE(8), -1, 1, 93, true);
    cg_conv_transpose2d_params p = cg_conv_transpose2d_defaults();
    p.stride[0] = p.stride[1] = 2;
    p.output_padding[0] = p.output_padding[1] = 1;
    p.groups = 2;
    long before = 0;
    for (int i = 0; i < 8; i++) {
        if (i == 3) before = g_allocs;
        cg_tensor *y = cg_conv_transpose2d(x, w, b, &p);
        assert_non_null(y);
        assert_int_equal(cg_backward(cg_sum(y)), CG_OK);
        cg_tape_release();
    }
    assert_int_equal(g_allocs - before, 0);
    cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(b);
    cg_tape_free_all();
    cg_set_allocator(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_by_hand),
        cmocka_unit_test(test_grid_vs_naive),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_threads_do_not_change_results),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_empty_batch),
        cmocka_unit_test(test_module),
        cmocka_unit_test(test_no_allocation_when_warm),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
