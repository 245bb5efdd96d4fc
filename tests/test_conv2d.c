/* SPDX-License-Identifier: MIT */
/* tests/test_conv2d.c — conv2d against a naive direct convolution (forward and dx, dw, db) over a
 * grid of stride/padding/dilation/groups/kernels; gradcheck; shape errors; no allocation once warm.
 * The fused conv2d_relu against relu(conv2d) on the same grid, its gradcheck, and Sequential's
 * fusion of Conv2d + ReLU. Winograd F(2x2, 3x3) against the naive convolution and by gradcheck. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"
#include "../lib/ops/im2col.h"  /* the im2col/col2im kernels, tested directly below */
#include "../lib/ops/winograd.h" /* cg_wino_force_generic */
#include "alloc_probe.h"
/* lib/cg_internal.h: conv plans made on this thread; whether LIBXSMM runs the GEMMs. */
int64_t cg_conv2d_plans_made(void);
bool cg_gemm_xsmm_usable(void);
bool cg_cpu_has_avx512(void);

/* relu(conv2d(..)) as one op, and [relu] + 2x2 max-pool in the conv's epilogue. */
/* run_relu_case's activation: ReLU, or ReLU6 when set (inputs then spread wider: outputs past 6) */
static bool relu_six;
static int64_t relu_sixes;   /* outputs clamped at 6, over the cases run */
static cg_tensor *conv2d_relu(cg_tensor *x, cg_tensor *w, cg_tensor *b, const cg_conv2d_params *p) {
    return cg_conv2d_ex(x, w, b, p, &(cg_conv_epilogue){ .relu = !relu_six, .relu6 = relu_six });
}
static cg_tensor *conv2d_pool2(cg_tensor *x, cg_tensor *w, cg_tensor *b, const cg_conv2d_params *p, bool relu) {
    return cg_conv2d_ex(x, w, b, p, &(cg_conv_epilogue){ .relu = relu, .pool2 = true });
}

typedef struct geom {
    int64_t n, c, h, w, oc, kh, kw, s, p, d, g, oh, ow;
} geom;

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) { return (in + 2 * p - d * (k - 1) - 1) / s + 1; }

/* Direct convolution in double: y[n,oc,oh,ow] = b[oc] + sum x[n, g*cg+ci, ih, iw] * w[oc, ci, ki, kj]. */
static void naive_forward(double *y, const float *x, const float *w, const float *b, const geom *G) {
    int64_t cg = G->c / G->g, ocg = G->oc / G->g;
    for (int64_t n = 0; n < G->n; n++)
        for (int64_t oc = 0; oc < G->oc; oc++)
            for (int64_t oh = 0; oh < G->oh; oh++)
                for (int64_t ow = 0; ow < G->ow; ow++) {
                    double s = b ? b[oc] : 0;
                    int64_t gi = oc / ocg;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t ki = 0; ki < G->kh; ki++)
                            for (int64_t kj = 0; kj < G->kw; kj++) {
                                int64_t ih = oh * G->s - G->p + ki * G->d, iw = ow * G->s - G->p + kj * G->d;
                                if (ih < 0 || ih >= G->h || iw < 0 || iw >= G->w) continue;
                                int64_t c = gi * cg + ci;
                                s += (double)x[((n * G->c + c) * G->h + ih) * G->w + iw] *
                                     w[((oc * cg + ci) * G->kh + ki) * G->kw + kj];
                            }
                    y[((n * G->oc + oc) * G->oh + oh) * G->ow + ow] = s;
                }
}

/* The transposed loops: dx, dw, db from dy by direct accumulation. */
static void naive_backward(double *dx, double *dw, double *db, const float *dy, const float *x,
                           const float *w, const geom *G) {
    int64_t cg = G->c / G->g, ocg = G->oc / G->g;
    for (int64_t n = 0; n < G->n; n++)
        for (int64_t oc = 0; oc < G->oc; oc++)
            for (int64_t oh = 0; oh < G->oh; oh++)
                for (int64_t ow = 0; ow < G->ow; ow++) {
                    double d = dy[((n * G->oc + oc) * G->oh + oh) * G->ow + ow];
                    db[oc] += d;
                    int64_t gi = oc / ocg;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t ki = 0; ki < G->kh; ki++)
                            for (int64_t kj = 0; kj < G->kw; kj++) {
                                int64_t ih = oh * G->s - G->p + ki * G->d, iw = ow * G->s - G->p + kj * G->d;
                                if (ih < 0 || ih >= G->h || iw < 0 || iw >= G->w) continue;
                                int64_t c = gi * cg + ci;
                                int64_t xi = ((n * G->c + c) * G->h + ih) * G->w + iw;
                                int64_t wi = ((oc * cg + ci) * G->kh + ki) * G->kw + kj;
                                dx[xi] += d * w[wi];
                                dw[wi] += d * x[xi];
                            }
                }
}

static void expect_close(const char *what, const float *got, const double *want, int64_t n, const geom *G) {
    for (int64_t i = 0; i < n; i++)
        if (fabs(got[i] - want[i]) > 1e-4 + 1e-4 * fabs(want[i]))
            fail_msg("%s[%lld]: got %.7g want %.7g (k%lldx%lld s%lld p%lld d%lld g%lld)", what, (long long)i,
                     got[i], want[i], (long long)G->kh, (long long)G->kw, (long long)G->s, (long long)G->p,
                     (long long)G->d, (long long)G->g);
}

static void run_grid_case(geom G, bool with_bias, unsigned salt) {
    G.oh = out_size(G.h, G.kh, G.s, G.p, G.d);
    G.ow = out_size(G.w, G.kw, G.s, G.p, G.d);
    cg_tensor *x = test_tensor(4, CG_SHAPE(G.n, G.c, G.h, G.w), -1, 1, salt, true);
    cg_tensor *w = test_tensor(4, CG_SHAPE(G.oc, G.c / G.g, G.kh, G.kw), -1, 1, salt + 1, true);
    cg_tensor *b = with_bias ? test_tensor(1, CG_SHAPE(G.oc), -1, 1, salt + 2, true) : NULL;
    cg_conv2d_params p = { { G.s, G.s }, { G.p, G.p }, { G.d, G.d }, G.g };
    cg_tensor *y = cg_conv2d(x, w, b, &p);
    if (!y) fail_msg("conv2d failed: %s", cg_last_error());
    int64_t ny = G.n * G.oc * G.oh * G.ow;
    assert_int_equal(cg_tensor_numel(y), ny);
    assert_int_equal(cg_tensor_shape(y)[2], G.oh);
    assert_int_equal(cg_tensor_shape(y)[3], G.ow);
    double *ref = calloc((size_t)ny, sizeof *ref);
    naive_forward(ref, cg_tensor_data(x), cg_tensor_data(w), b ? cg_tensor_data(b) : NULL, &G);
    expect_close("y", cg_tensor_data(y), ref, ny, &G);

    /* Backward with a fixed non-uniform dy: loss = sum(y * R). */
    cg_tensor *r = test_tensor(4, cg_tensor_shape(y), -1, 1, salt + 3, false);
    assert_int_equal(cg_backward(cg_sum(cg_mul(y, r))), CG_OK);
    int64_t nx = cg_tensor_numel(x), nw = cg_tensor_numel(w);
    double *dx = calloc((size_t)nx, sizeof *dx), *dw = calloc((size_t)nw, sizeof *dw), *db = calloc((size_t)G.oc, sizeof *db);
    naive_backward(dx, dw, db, cg_tensor_data(r), cg_tensor_data(x), cg_tensor_data(w), &G);
    expect_close("dx", cg_tensor_data(cg_tensor_grad(x)), dx, nx, &G);
    expect_close("dw", cg_tensor_data(cg_tensor_grad(w)), dw, nw, &G);
    if (b) expect_close("db", cg_tensor_data(cg_tensor_grad(b)), db, G.oc, &G);
    cg_tape_release();
    free(ref); free(dx); free(dw); free(db);
    cg_tensor_free(r); cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(b);
}

/* The 32-case grid: stride, padding, dilation, groups and kernel size 1 or 3, a bias on every
 * other case. Returns the number of cases run. */
static int for_each_grid_case(void (*run)(geom, bool, unsigned), unsigned salt) {
    int64_t strides[] = { 1, 2 }, pads[] = { 0, 1 }, dils[] = { 1, 2 }, groups[] = { 1, 2 }, ks[] = { 1, 3 };
    int cases = 0;
    for (int a = 0; a < 2; a++) for (int bq = 0; bq < 2; bq++) for (int c = 0; c < 2; c++)
    for (int d = 0; d < 2; d++) for (int e = 0; e < 2; e++) {
        geom G = { .n = 2, .c = 4, .h = 7, .w = 5, .oc = 6, .kh = ks[e], .kw = ks[e],
                   .s = strides[a], .p = pads[bq], .d = dils[c], .g = groups[d] };
        run(G, (salt & 1) == 0, salt);
        salt += 5;
        cases++;
    }
    return cases;
}

static void test_grid_vs_naive(void **s) {
    (void)s;
    assert_int_equal(for_each_grid_case(run_grid_case, 10), 32);
    /* Non-square kernel. */
    run_grid_case((geom){ .n = 2, .c = 2, .h = 6, .w = 7, .oc = 3, .kh = 2, .kw = 3, .s = 1, .p = 1, .d = 1, .g = 1 }, true, 99);
}

static cg_tensor *conv_fn(cg_tensor **in, void *ctx) { return cg_conv2d(in[0], in[1], in[2], ctx); }

static void test_gradcheck(void **s) {
    (void)s;
    cg_conv2d_params cfgs[3] = { cg_conv2d_defaults(), { { 2, 1 }, { 1, 0 }, { 1, 2 }, 2 }, cg_conv2d_defaults() };
    int64_t k[3] = { 3, 2, 1 };
    for (int i = 0; i < 3; i++) {
        cg_tensor *in[3] = { test_tensor(4, CG_SHAPE(2, 2, 5, 6), -1, 1, 1 + i, true),
                             test_tensor(4, CG_SHAPE(4, 2 / cfgs[i].groups, k[i], k[i]), -1, 1, 7 + i, true),
                             test_tensor(1, CG_SHAPE(4), -1, 1, 13 + i, true) };
        gradcheck(conv_fn, in, 3, &cfgs[i], 1e-2, 2e-3, 2e-2);
        for (int j = 0; j < 3; j++) cg_tensor_free(in[j]);
    }
}

/* conv2d(x * x, w, b): the conv's input is on the tape, so its gradient starts fresh and the
 * backward writes it (no zeroing first): im2col with padding, a direct 1x1, and Winograd. */
static cg_tensor *conv_sq_fn(cg_tensor **in, void *ctx) { return cg_conv2d(cg_mul(in[0], in[0]), in[1], in[2], ctx); }

static void test_gradcheck_fresh_input_grad(void **s) {
    (void)s;
    const int64_t k[3] = { 3, 1, 3 }, pad[3] = { 1, 0, 1 };
    const int modes[3] = { CG_WINOGRAD_OFF, CG_WINOGRAD_AUTO, CG_WINOGRAD_ALWAYS };
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cg_config_set(CG_CONFIG_CONV_WINOGRAD, modes[i]), CG_OK);
        cg_conv2d_params p = cg_conv2d_defaults();
        p.padding[0] = p.padding[1] = pad[i];
        cg_tensor *in[3] = { test_tensor(4, CG_SHAPE(2, 2, 5, 6), -1, 1, 41 + i, true),
                             test_tensor(4, CG_SHAPE(3, 2, k[i], k[i]), -1, 1, 44 + i, true),
                             test_tensor(1, CG_SHAPE(3), -1, 1, 47 + i, true) };
        gradcheck(conv_sq_fn, in, 3, &p, 1e-2, 2e-3, 2e-2);
        for (int j = 0; j < 3; j++) cg_tensor_free(in[j]);
    }
    assert_int_equal(cg_config_set(CG_CONFIG_CONV_WINOGRAD, CG_WINOGRAD_AUTO), CG_OK);
}

static void test_values_by_hand(void **s) {
    (void)s;
    /* x = 1..9 in 3x3, w = ones 2x2: each output sums a 2x2 window. */
    float xv[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    cg_tensor *x = cg_tensor_from_array(4, CG_SHAPE(1, 1, 3, 3), xv);
    cg_tensor *w = cg_tensor_ones(4, CG_SHAPE(1, 1, 2, 2));
    cg_tensor *b = cg_tensor_from_array(1, CG_SHAPE(1), (float[]){ 0.5f });
    cg_tensor *y = cg_conv2d(x, w, b, NULL);
    assert_non_null(y);
    float want[4] = { 12.5f, 16.5f, 24.5f, 28.5f };
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_data(y)[i], want[i], 1e-6);
    /* padding 1, stride 2 on the padded 5x5: */
    cg_conv2d_params p = { { 2, 2 }, { 1, 1 }, { 1, 1 }, 1 };
    y = cg_conv2d(x, w, NULL, &p);
    assert_non_null(y);
    float want2[4] = { 1, 5, 11, 28 };  /* windows {1}, {2,3}, {4,7}, {5,6,8,9} */
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_data(y)[i], want2[i], 1e-6);
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(b);
}

static void expect_error(cg_tensor *x, cg_tensor *w, cg_tensor *b, cg_conv2d_params p, const char *needle) {
    cg_clear_error();
    assert_null(cg_conv2d(x, w, b, &p));
    if (!strstr(cg_last_error(), needle)) fail_msg("error '%s' lacks '%s'", cg_last_error(), needle);
}

static void test_shape_errors(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_zeros(4, CG_SHAPE(1, 3, 5, 5));
    cg_tensor *w = cg_tensor_zeros(4, CG_SHAPE(4, 3, 3, 3));
    cg_tensor *w1 = cg_tensor_zeros(4, CG_SHAPE(4, 1, 3, 3));
    cg_tensor *wbig = cg_tensor_zeros(4, CG_SHAPE(4, 3, 7, 7));
    cg_tensor *b5 = cg_tensor_zeros(1, CG_SHAPE(5));
    cg_tensor *x3 = cg_tensor_zeros(3, CG_SHAPE(3, 5, 5));
    cg_conv2d_params d = cg_conv2d_defaults();
    expect_error(x3, w, NULL, d, "4-d");
    expect_error(x, w, b5, d, "bias");
    cg_conv2d_params g2 = d; g2.groups = 2;
    expect_error(x, w1, NULL, g2, "not divisible by groups");
    expect_error(x, w1, NULL, d, "input channels per group");
    expect_error(x, wbig, NULL, d, "larger than the padded input");
    cg_conv2d_params st = d; st.stride[1] = 0;
    expect_error(x, w, NULL, st, "stride[1]");
    cg_conv2d_params dl = d; dl.dilation[0] = -1;
    expect_error(x, w, NULL, dl, "dilation[0]");
    cg_conv2d_params pd = d; pd.padding[0] = -1;
    expect_error(x, w, NULL, pd, "padding[0]");
    cg_conv2d_params dil3 = d; dil3.dilation[0] = 3;  /* effective 7x3 kernel on 5x5 */
    expect_error(x, w, NULL, dil3, "larger than the padded input");
    assert_null(cg_conv2d(NULL, w, NULL, &d));
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(w1); cg_tensor_free(wbig);
    cg_tensor_free(b5); cg_tensor_free(x3);
}

/* Geometry that overflows int64 (issue 12, item 14): checked with overflow-safe arithmetic, and
 * the message names conv2d and the parameter. A huge stride is valid: one output position. */
static void test_geometry_overflow(void **s) {
    (void)s;
    cg_tensor *x = test_tensor(4, CG_SHAPE(1, 2, 5, 5), -1, 1, 41, false);
    cg_tensor *w = test_tensor(4, CG_SHAPE(3, 2, 3, 3), -1, 1, 42, false);
    cg_conv2d_params d = cg_conv2d_defaults();
    cg_conv2d_params big = d; big.stride[0] = big.stride[1] = INT64_MAX;
    cg_conv2d_params five = d; five.stride[0] = five.stride[1] = 5;
    cg_tensor *y = cg_conv2d(x, w, NULL, &big), *y5 = cg_conv2d(x, w, NULL, &five);
    assert_non_null(y);
    assert_non_null(y5);
    assert_int_equal(cg_tensor_ndim(y), 4);
    assert_int_equal(cg_tensor_shape(y)[2], 1);
    assert_int_equal(cg_tensor_shape(y)[3], 1);
    for (int i = 0; i < 3; i++) assert_float_equal(cg_tensor_cdata(y)[i], cg_tensor_cdata(y5)[i], 0);
    cg_conv2d_params dl = d; dl.dilation[0] = INT64_MAX;
    expect_error(x, w, NULL, dl, "conv2d: dilation[0]");
    cg_conv2d_params dl1 = d; dl1.dilation[1] = INT64_MAX;
    expect_error(x, w, NULL, dl1, "conv2d: dilation[1]");
    cg_conv2d_params p62 = d; p62.padding[0] = (int64_t)1 << 62;
    expect_error(x, w, NULL, p62, "conv2d: padding[0]");
    cg_conv2d_params p62w = d; p62w.padding[1] = (int64_t)1 << 62;
    expect_error(x, w, NULL, p62w, "conv2d: padding[1]");
    cg_conv2d_params p40 = d; p40.padding[0] = p40.padding[1] = (int64_t)1 << 40;
    expect_error(x, w, NULL, p40, "conv2d: ");
    expect_error(x, w, NULL, p40, "padding");
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(w);
}

/* conv2d_relu on a NaN input gives NaN where the NaN reaches, like relu(conv2d(..)) and
 * PyTorch (it gave 0), and its gradient is 0 there (NaN > 0 is false), as relu's. */
static void test_conv2d_relu_nan(void **s) {
    (void)s;
    cg_tensor *x = test_tensor(4, CG_SHAPE(1, 1, 4, 4), -1, 1, 51, true);
    cg_tensor *w = test_tensor(4, CG_SHAPE(2, 1, 3, 3), -1, 1, 52, false);
    cg_tensor_data(x)[0] = NAN;  /* reaches output (0, 0) of each channel only */
    cg_conv2d_params d = cg_conv2d_defaults();
    cg_tensor *y = conv2d_relu(x, w, NULL, &d), *r = cg_relu(cg_conv2d(x, w, NULL, &d));
    assert_non_null(y);
    assert_non_null(r);
    const float *yd = cg_tensor_cdata(y), *rd = cg_tensor_cdata(r);
    for (int64_t i = 0; i < cg_tensor_numel(y); i++) {
        bool reached = i % 4 == 0;  /* [1, 2, 2, 2]: (oc, 0, 0) */
        assert_int_equal(isnan(yd[i]) != 0, reached);
        assert_int_equal(isnan(rd[i]) != 0, reached);
        if (!reached) assert_float_equal(yd[i], rd[i], 0);
    }
    assert_int_equal(cg_backward(cg_sum(y)), CG_OK);
    const float *gx = cg_tensor_cdata(cg_tensor_grad(x));
    assert_float_equal(gx[0], 0, 0);  /* only the masked NaN output touches x[0] */
    for (int i = 0; i < 16; i++) assert_true(isfinite(gx[i]));
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(w);
}

/* A fused ReLU6 on the values at its edges: -0, 0, 6, just inside and outside, +-inf and NaN,
 * through a 1x1 identity conv (the direct GEMM path) and a 1x1 depthwise one (groups == C), with
 * and without a bias of 0: the values and the input's gradient are relu6(conv2d)'s, bit for bit
 * (a -0 input leaves the GEMM as +0: that case shows only that both paths agree). A mask that
 * passes the gradient at y = 6 fails it. */
static void test_relu6_fused_edges(void **s) {
    (void)s;
    const float vals[] = { -0.0f, 0.0f, 6.0f, 5.9999995f, 6.0000005f, 1e-30f, -1e-30f, INFINITY, -INFINITY, NAN, 3.0f, -2.0f };
    const int64_t n = (int64_t)(sizeof vals / sizeof vals[0]);
    for (int dw = 0; dw < 2; dw++)
        for (int bias = 0; bias < 2; bias++) {
            float *out[2], *gx[2];
            for (int fused = 0; fused < 2; fused++) {
                cg_tensor *x = cg_tensor_zeros(4, CG_SHAPE(1, 2, 1, n));
                assert_non_null(x);
                for (int c = 0; c < 2; c++) memcpy(cg_tensor_data(x) + c * n, vals, sizeof vals);
                cg_tensor_set_requires_grad(x, true);
                cg_tensor *w = cg_tensor_zeros(4, CG_SHAPE(2, dw ? 1 : 2, 1, 1));
                cg_tensor_data(w)[0] = 1.0f;               /* oc 0 = channel 0 */
                cg_tensor_data(w)[dw ? 1 : 3] = 1.0f;      /* oc 1 = channel 1 */
                cg_tensor *b = bias ? cg_tensor_zeros(1, CG_SHAPE(2)) : NULL;
                cg_conv2d_params p = cg_conv2d_defaults();
                p.groups = dw ? 2 : 1;
                cg_profile_enable(true);
                cg_profile_reset();
                cg_tensor *y = fused ? cg_conv2d_ex(x, w, b, &p, &(cg_conv_epilogue){ .relu6 = true })
                                     : cg_relu6(cg_conv2d(x, w, b, &p));
                assert_non_null(y);
                if (fused) assert_true(profile_has(dw ? "conv2d_dw_relu6" : "conv2d_relu6"));
                cg_profile_enable(false);
                out[fused] = malloc(2 * (size_t)n * sizeof(float));
                memcpy(out[fused], cg_tensor_data(y), 2 * (size_t)n * sizeof(float));
                cg_tensor *r = cg_tensor_full(4, CG_SHAPE(1, 2, 1, n), 1.5f);
                assert_int_equal(cg_backward(cg_sum(cg_mul(y, r))), CG_OK);
                gx[fused] = malloc(2 * (size_t)n * sizeof(float));
                memcpy(gx[fused], cg_tensor_data(cg_tensor_grad(x)), 2 * (size_t)n * sizeof(float));
                cg_tape_release();
                cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(b); cg_tensor_free(r);
            }
            if (memcmp(out[0], out[1], 2 * (size_t)n * sizeof(float)))
                fail_msg("%s, bias %d: the fused ReLU6's values differ from relu6(conv2d)'s", dw ? "depthwise" : "GEMM", bias);
            if (memcmp(gx[0], gx[1], 2 * (size_t)n * sizeof(float)))
                fail_msg("%s, bias %d: the fused ReLU6's dx differs from relu6(conv2d)'s", dw ? "depthwise" : "GEMM", bias);
            assert_true(isnan(out[1][9]));
            assert_float_equal(out[1][7], 6.0f, 0);
            assert_float_equal(gx[1][2], 0.0f, 0);      /* y = 6: no gradient */
            assert_float_equal(gx[1][3], 1.5f, 0);      /* just below 6 */
            for (int f = 0; f < 2; f++) { free(out[f]); free(gx[f]); }
        }
}

/* ---- allocation counting ------------------------------------------------- */

static void conv_step(cg_tensor *x, cg_tensor *w, cg_tensor *b, const cg_conv2d_params *p) {
    cg_tensor *y = cg_conv2d(x, w, b, p);
    assert_non_null(y);
    assert_int_equal(cg_backward(cg_sum(y)), CG_OK);
    cg_tape_release();
}

static void test_no_allocation_when_warm(void **s) {
    (void)s;
    cg_tape_free_all();  /* memory from now on is freed through the counting hook */
    cg_allocator a = counting_allocator;
    cg_set_allocator(&a);
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 4, 9, 9), -1, 1, 3, true);
    cg_tensor *w = test_tensor(4, CG_SHAPE(8, 4, 3, 3), -1, 1, 4, true);
    cg_tensor *w1 = test_tensor(4, CG_SHAPE(8, 8, 1, 1), -1, 1, 5, true);
    cg_tensor *b = test_tensor(1, CG_SHAPE(8), -1, 1, 6, true);
    cg_conv2d_params p = cg_conv2d_defaults();
    p.padding[0] = p.padding[1] = 1;
    cg_conv2d_params d = cg_conv2d_defaults();
    for (int i = 0; i < 3; i++) {
        cg_tensor *y = cg_conv2d(cg_conv2d(x, w, b, &p), w1, NULL, &d);  /* 3x3 then a 1x1 */
        assert_non_null(y);
        assert_int_equal(cg_backward(cg_sum(y)), CG_OK);
        cg_tape_release();
        conv_step(x, w, b, &p);
    }
    long before = g_allocs;
    for (int i = 0; i < 5; i++) {
        cg_tensor *y = cg_conv2d(cg_conv2d(x, w, b, &p), w1, NULL, &d);
        assert_non_null(y);
        assert_int_equal(cg_backward(cg_sum(y)), CG_OK);
        cg_tape_release();
        conv_step(x, w, b, &p);
    }
    assert_int_equal(g_allocs - before, 0);
    cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(w1); cg_tensor_free(b);
    cg_tape_free_all();
    cg_set_allocator(NULL);
}


static cg_tensor *conv3(cg_tensor **in) {
    cg_conv2d_params p = cg_conv2d_defaults();
    p.padding[0] = p.padding[1] = 1;
    return cg_conv2d(in[0], in[1], in[2], &p);
}
static cg_tensor *conv1x1(cg_tensor **in) { return cg_conv2d(in[0], in[1], in[2], NULL); }
static void test_grads_accumulate(void **s) {
    (void)s;
    cg_tensor *in[3] = { test_tensor(4, CG_SHAPE(2, 3, 5, 4), -1, 1, 1, true), test_tensor(4, CG_SHAPE(4, 3, 3, 3), -1, 1, 2, true),
                         test_tensor(1, CG_SHAPE(4), -1, 1, 3, true) };
    check_accumulates(in, 3, conv3);
    cg_tensor *w1 = test_tensor(4, CG_SHAPE(4, 3, 1, 1), -1, 1, 4, true);
    cg_tensor_zero_grad(in[0]); cg_tensor_zero_grad(in[2]);
    check_accumulates((cg_tensor *[]){ in[0], w1, in[2] }, 3, conv1x1);
    for (int i = 0; i < 3; i++) cg_tensor_free(in[i]);
    cg_tensor_free(w1);
}

/* ---- fused conv2d + relu ---------------------------------------------------- */
/* One grid case: y, dx, dw, db of conv2d_relu against relu(conv2d) with the same inputs: the
 * same arithmetic in the same order, so bit-equal. Checks that some outputs were masked. */
static void run_relu_case(geom G, bool with_bias, unsigned salt) {
    G.oh = out_size(G.h, G.kh, G.s, G.p, G.d);
    G.ow = out_size(G.w, G.kw, G.s, G.p, G.d);
    cg_conv2d_params p = { { G.s, G.s }, { G.p, G.p }, { G.d, G.d }, G.g };
    cg_tensor *in[2][3], *grads[2][3];
    float *y[2];
    int64_t ny = G.n * G.oc * G.oh * G.ow;
    for (int fused = 0; fused < 2; fused++) {
        const float span = relu_six ? 8.0f : 1.0f;
        in[fused][0] = test_tensor(4, CG_SHAPE(G.n, G.c, G.h, G.w), -span, span, salt, true);
        in[fused][1] = test_tensor(4, CG_SHAPE(G.oc, G.c / G.g, G.kh, G.kw), -1, 1, salt + 1, true);
        in[fused][2] = with_bias ? test_tensor(1, CG_SHAPE(G.oc), -1, 1, salt + 2, true) : NULL;
        cg_tensor *z = fused ? NULL : cg_conv2d(in[fused][0], in[fused][1], in[fused][2], &p);
        cg_tensor *out = fused ? conv2d_relu(in[fused][0], in[fused][1], in[fused][2], &p)
                               : relu_six ? cg_relu6(z) : cg_relu(z);
        if (!out) fail_msg("conv2d%s failed: %s", fused ? "_relu" : "", cg_last_error());
        assert_int_equal(cg_tensor_numel(out), ny);
        y[fused] = malloc((size_t)ny * sizeof(float));
        memcpy(y[fused], cg_tensor_data(out), (size_t)ny * sizeof(float));
        cg_tensor *r = test_tensor(4, cg_tensor_shape(out), -1, 1, salt + 3, false);
        assert_int_equal(cg_backward(cg_sum(cg_mul(out, r))), CG_OK);
        for (int i = 0; i < 3; i++) grads[fused][i] = in[fused][i] ? cg_tensor_grad(in[fused][i]) : NULL;
        cg_tape_release();
        cg_tensor_free(r);
    }
    int64_t zeros = 0, sixes = 0;
    for (int64_t i = 0; i < ny; i++) zeros += y[1][i] == 0.0f, sixes += y[1][i] == 6.0f;
    assert_true(zeros > 0 && zeros + sixes < ny);  /* the mask did something, and not everything */
    relu_sixes += sixes;
    assert_memory_equal(y[0], y[1], (size_t)ny * sizeof(float));
    assert_memory_equal(cg_tensor_data(grads[0][0]), cg_tensor_data(grads[1][0]),
                        (size_t)cg_tensor_numel(grads[0][0]) * sizeof(float));
    assert_memory_equal(cg_tensor_data(grads[0][1]), cg_tensor_data(grads[1][1]),
                        (size_t)cg_tensor_numel(grads[0][1]) * sizeof(float));
    if (with_bias)
        assert_memory_equal(cg_tensor_data(grads[0][2]), cg_tensor_data(grads[1][2]), (size_t)G.oc * sizeof(float));
    for (int f = 0; f < 2; f++) {
        free(y[f]);
        for (int i = 0; i < 3; i++) cg_tensor_free(in[f][i]);
    }
}

static void test_relu_fused_matches_unfused(void **s) {
    (void)s;
    assert_int_equal(for_each_grid_case(run_relu_case, 200), 32);
    /* A batch big enough for threads over images and more images than dW/db chunks (32). */
    run_relu_case((geom){ .n = 37, .c = 3, .h = 9, .w = 8, .oc = 5, .kh = 3, .kw = 3, .s = 1, .p = 0, .d = 1, .g = 1 }, true, 300);
    run_relu_case((geom){ .n = 37, .c = 3, .h = 9, .w = 8, .oc = 5, .kh = 3, .kw = 3, .s = 1, .p = 1, .d = 1, .g = 1 }, false, 301);
}

/* The same for a fused ReLU6, on the grid and on depthwise layers (groups == C, multiplier 1 and 2:
 * the direct kernels, their mask bounded at 6 too). */
static void test_relu6_fused_matches_unfused(void **s) {
    (void)s;
    relu_six = true;
    relu_sixes = 0;
    assert_int_equal(for_each_grid_case(run_relu_case, 400), 32);
    run_relu_case((geom){ .n = 37, .c = 3, .h = 9, .w = 8, .oc = 5, .kh = 3, .kw = 3, .s = 1, .p = 1, .d = 1, .g = 1 }, true, 500);
    run_relu_case((geom){ .n = 3, .c = 4, .h = 9, .w = 8, .oc = 4, .kh = 3, .kw = 3, .s = 1, .p = 1, .d = 1, .g = 4 }, true, 510);
    run_relu_case((geom){ .n = 3, .c = 4, .h = 9, .w = 8, .oc = 8, .kh = 3, .kw = 3, .s = 2, .p = 1, .d = 1, .g = 4 }, false, 520);
    relu_six = false;
    assert_true(relu_sixes > 100);   /* the upper bound was reached, in value and in the backward's mask */
}

static cg_tensor *conv_relu_fn(cg_tensor **in, void *ctx) { return conv2d_relu(in[0], in[1], in[2], ctx); }

/* Central differences cannot cross ReLU's kink: pick (deterministically) the first salt whose
 * outputs all lie at least 0.012 from zero, then gradcheck with eps 1e-2 (inputs in [-0.5, 0.5]:
 * one nudged input moves an output by at most 0.01). */
static void test_relu_fused_gradcheck(void **s) {
    (void)s;
    cg_conv2d_params cfgs[2] = { cg_conv2d_defaults(), { { 2, 1 }, { 1, 0 }, { 1, 2 }, 2 } };
    int64_t k[2] = { 3, 2 };
    for (int i = 0; i < 2; i++) {
        bool done = false;
        for (unsigned salt = 1; salt < 2000 && !done; salt += 3) {
            cg_tensor *in[3] = { test_tensor(4, CG_SHAPE(2, 2, 4, 5), -0.5f, 0.5f, salt, true),
                                 test_tensor(4, CG_SHAPE(4, 2 / cfgs[i].groups, k[i], k[i]), -0.5f, 0.5f, salt + 1, true),
                                 test_tensor(1, CG_SHAPE(4), -0.5f, 0.5f, salt + 2, true) };
            cg_tensor *z = cg_conv2d(in[0], in[1], in[2], &cfgs[i]);
            assert_non_null(z);
            bool clear = true;
            int64_t pos = 0;
            for (int64_t j = 0; j < cg_tensor_numel(z); j++) {
                clear = clear && fabsf(cg_tensor_data(z)[j]) >= 0.012f;
                pos += cg_tensor_data(z)[j] > 0.0f;
            }
            cg_tape_release();
            if (clear && pos > 0 && pos < cg_tensor_numel(z)) {
                gradcheck(conv_relu_fn, in, 3, &cfgs[i], 1e-2, 2e-3, 2e-2);
                done = true;
            }
            for (int j = 0; j < 3; j++) cg_tensor_free(in[j]);
        }
        assert_true(done);
    }
}

/* Sequential runs Conv2d + ReLU as one op while fusion is on: one tape node fewer, and the same
 * output and weight gradients as with fusion off. */
static void test_sequential_fuses_conv_relu(void **s) {
    (void)s;
    float out[2][2 * 4 * 4 * 3], gw[2][4 * 3 * 9];
    int64_t nodes[2];
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 3, 6, 5), -1, 1, 77, false);
    for (int fuse = 0; fuse < 2; fuse++) {
        assert_int_equal(cg_config_set(CG_CONFIG_FUSION, fuse), CG_OK);
        assert_int_equal(cg_config_get(CG_CONFIG_FUSION), fuse);
        cg_manual_seed(5);
        cg_module *m = cg_sequential_new();
        assert_non_null(cg_sequential_append(m, "conv", cg_conv2d_new(3, 4, 3, NULL, true)));
        assert_non_null(cg_sequential_append(m, "relu", cg_relu_new()));
        cg_tensor *y = cg_module_forward(m, x);
        assert_non_null(y);
        assert_int_equal(cg_tensor_numel(y), 2 * 4 * 4 * 3);
        memcpy(out[fuse], cg_tensor_data(y), sizeof out[fuse]);
        nodes[fuse] = cg_tape_num_nodes();
        assert_int_equal(cg_backward(cg_sum(y)), CG_OK);
        memcpy(gw[fuse], cg_tensor_data(cg_tensor_grad(cg_module_find(m, "conv.weight"))), sizeof gw[fuse]);
        cg_tape_release();
        cg_module_free(m);
    }
    assert_int_equal(cg_config_set(CG_CONFIG_FUSION, true), CG_OK);
    assert_int_equal(nodes[1], nodes[0] - 1);
    assert_memory_equal(out[0], out[1], sizeof out[0]);
    assert_memory_equal(gw[0], gw[1], sizeof gw[0]);
    cg_tensor_free(x);
}

/* In inference, Sequential runs Conv2d [+ ReLU] + MaxPool2d(2) with the pool in the conv's
 * epilogue (the profile shows the fused op ran, or did not with fusion off): bit-equal to the
 * unfused ops, for odd output sizes (the pool floors), NaN inputs (a ReLU passes them through,
 * as PyTorch's; the window's first NaN wins, as in max_pool2d), and one thread or
 * several; with grad on it falls back. The exact seed net has conv2 -> max_pool2d, no ReLU. */
static void test_sequential_fuses_conv_pool(void **s) {
    (void)s;
    struct { int64_t n, c, h, w; } cases[] = { { 5, 3, 9, 8 }, { 1, 2, 7, 7 }, { 6, 1, 28, 28 } };
    for (int relu = 0; relu < 2; relu++)
    for (int k = 0; k < 3; k++) {
        cg_tensor *x = test_tensor(4, CG_SHAPE(cases[k].n, cases[k].c, cases[k].h, cases[k].w), -1, 1, 40 + k, false);
        cg_tensor_data(x)[3] = NAN;
        cg_tensor_data(x)[cg_tensor_numel(x) - 1] = NAN;
        float *out[2] = { NULL, NULL };
        int64_t numel = 0;
        for (int fuse = 0; fuse < 2; fuse++) {
            assert_int_equal(cg_config_set(CG_CONFIG_FUSION, fuse), CG_OK);
            cg_manual_seed(9);
            cg_module *m = cg_sequential_new();
            assert_non_null(cg_sequential_append(m, "conv", cg_conv2d_new(cases[k].c, 4, 3, NULL, true)));
            if (relu) assert_non_null(cg_sequential_append(m, "relu", cg_relu_new()));
            assert_non_null(cg_sequential_append(m, "pool", cg_max_pool2d_new(2)));
            bool prev = cg_set_grad_enabled(false);
            cg_profile_enable(true);
            cg_profile_reset();
            cg_tensor *y = cg_module_forward(m, x);
            cg_set_grad_enabled(prev);
            if (!y) fail_msg("forward: %s", cg_last_error());
            assert_int_equal(profile_has(relu ? "conv2d_relu_pool2" : "conv2d_pool2"), fuse);
            assert_int_equal(profile_has("max_pool2d"), !fuse);
            cg_profile_enable(false);
            assert_int_equal(cg_tensor_shape(y)[2], (cases[k].h - 2) / 2);
            assert_int_equal(cg_tensor_shape(y)[3], (cases[k].w - 2) / 2);
            numel = cg_tensor_numel(y);
            out[fuse] = malloc((size_t)numel * sizeof(float));
            memcpy(out[fuse], cg_tensor_data(y), (size_t)numel * sizeof(float));
            cg_tape_release();
            /* With grad on, the same module trains: the fused path steps aside. */
            cg_tensor *yg = cg_module_forward(m, x);
            assert_non_null(yg);
            assert_memory_equal(cg_tensor_data(yg), out[fuse], (size_t)numel * sizeof(float));
            assert_int_equal(cg_backward(cg_sum(yg)), CG_OK);
            assert_non_null(cg_tensor_grad(cg_module_find(m, "conv.weight")));
            cg_tape_release();
            cg_module_free(m);
        }
        assert_int_equal(cg_config_set(CG_CONFIG_FUSION, true), CG_OK);
        bool any_nan = false;
        for (int64_t i = 0; i < numel; i++) any_nan |= isnan(out[1][i]);
        assert_true(any_nan);   /* the NaN inputs reach the output, through a ReLU too (as PyTorch) */
        assert_memory_equal(out[0], out[1], (size_t)numel * sizeof(float));
        free(out[0]); free(out[1]);
        cg_tensor_free(x);
    }
}

/* cg_conv2d_ex against the unfused ops it stands for, conv2d -> batch_norm2d -> relu ->
 * max_pool2d(2), for every epilogue (no batch norm, a training one, an eval one; ReLU or not;
 * pool or not), with a gradient to record or not: the output, the running statistics and every
 * gradient bit-equal, but for the eval batch norm folded into the weights (grad off: within float
 * rounding, and the fold did change something). Each call plans the conv once. */
/* An eval batch norm whose statistics are not float32 cannot fold: the conv runs the batch norm
 * as its own op, which refuses it by name (no integer read as floats, no read past the buffer). */
static void test_conv2d_ex_refuses_integer_bn_stats(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_ones(4, CG_SHAPE(1, 2, 4, 4)), *w = cg_tensor_ones(4, CG_SHAPE(3, 2, 3, 3));
    cg_tensor *rm = cg_tensor_new(CG_U8, 1, CG_SHAPE(3)), *rv = cg_tensor_ones(1, CG_SHAPE(3));
    cg_conv_epilogue ep = { .bn = { .on = true, .training = false, .running_mean = rm, .running_var = rv,
                                    .momentum = 0.1f, .eps = 1e-5f } };
    bool prev = cg_set_grad_enabled(false);
    assert_null(cg_conv2d_ex(x, w, NULL, NULL, &ep));
    assert_non_null(strstr(cg_last_error(), "running_mean is uint8"));
    cg_set_grad_enabled(prev);
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(w);
    cg_tensor_free(rm);
    cg_tensor_free(rv);
}

static void test_conv2d_ex_matches_unfused(void **s) {
    (void)s;
    cg_conv2d_params p = cg_conv2d_defaults();
    p.padding[0] = p.padding[1] = 1;
    const int64_t n = 3, c = 2, h = 7, w = 6, oc = 4;
    for (int bn = 0; bn < 3; bn++)   /* none, training, eval */
    for (int relu = 0; relu < 3; relu++)   /* none, ReLU, ReLU6 */
    for (int pool = 0; pool < 2; pool++)
    for (int grad = 0; grad < 2; grad++) {
        float *out[2], *gx[2], *gw[2], *gb[2], *gg[2], *rs[2];
        int64_t ny = 0;
        for (int fused = 0; fused < 2; fused++) {
            cg_tensor *x = test_tensor(4, CG_SHAPE(n, c, h, w), -1, 1, 90, grad);
            cg_tensor *wt = test_tensor(4, CG_SHAPE(oc, c, 3, 3), -1, 1, 91, grad);
            cg_tensor *b = test_tensor(1, CG_SHAPE(oc), -1, 1, 92, grad);
            cg_tensor *gamma = test_tensor(1, CG_SHAPE(oc), 0.5f, 1.5f, 93, grad);
            cg_tensor *beta = test_tensor(1, CG_SHAPE(oc), -0.5f, 0.5f, 94, grad);
            cg_tensor *rm = test_tensor(1, CG_SHAPE(oc), -0.3f, 0.3f, 95, false);
            cg_tensor *rv = test_tensor(1, CG_SHAPE(oc), 0.5f, 2.0f, 96, false);
            cg_pool2d_params pp = cg_pool2d_defaults(2);
            cg_tensor *y;
            int64_t plans = cg_conv2d_plans_made();
            if (fused) {
                cg_conv_epilogue ep = { .relu = relu == 1, .relu6 = relu == 2, .pool2 = pool };
                if (bn) {
                    ep.bn.on = true;
                    ep.bn.training = bn == 1;
                    ep.bn.weight = gamma; ep.bn.bias = beta; ep.bn.running_mean = rm; ep.bn.running_var = rv;
                    ep.bn.momentum = 0.1f; ep.bn.eps = 1e-5f;
                }
                y = cg_conv2d_ex(x, wt, b, &p, &ep);
            } else {
                y = cg_conv2d(x, wt, b, &p);
                if (bn) y = cg_batch_norm2d(y, gamma, beta, rm, rv, bn == 1, 0.1f, 1e-5f);
                if (relu) y = relu == 2 ? cg_relu6(y) : cg_relu(y);
                if (pool) y = cg_max_pool2d(y, &pp);
            }
            if (!y) fail_msg("%s", cg_last_error());
            assert_int_equal(cg_conv2d_plans_made() - plans, 1);
            ny = cg_tensor_numel(y);
            assert_int_equal(ny, n * oc * (pool ? (h / 2) * (w / 2) : h * w));
            out[fused] = malloc((size_t)ny * sizeof(float));
            memcpy(out[fused], cg_tensor_data(y), (size_t)ny * sizeof(float));
            rs[fused] = malloc(2 * oc * sizeof(float));
            memcpy(rs[fused], cg_tensor_data(rm), oc * sizeof(float));
            memcpy(rs[fused] + oc, cg_tensor_data(rv), oc * sizeof(float));
            if (grad) {
                cg_tensor *r = test_tensor(4, cg_tensor_shape(y), -1, 1, 97, false);
                assert_int_equal(cg_backward(cg_sum(cg_mul(y, r))), CG_OK);
                cg_tensor_free(r);
                float **dst[5] = { &gx[fused], &gw[fused], &gb[fused], &gg[fused], NULL };
                cg_tensor *src[4] = { x, wt, b, gamma };
                for (int i = 0; i < 4; i++) {
                    int64_t k = cg_tensor_numel(src[i]);
                    *dst[i] = calloc((size_t)k, sizeof(float));
                    if (cg_tensor_grad(src[i]))
                        memcpy(*dst[i], cg_tensor_data(cg_tensor_grad(src[i])), (size_t)k * sizeof(float));
                }
            }
            cg_tape_release();
            cg_tensor *all[7] = { x, wt, b, gamma, beta, rm, rv };
            for (int i = 0; i < 7; i++) cg_tensor_free(all[i]);
        }
        if (bn == 2 && !grad) {   /* folded: close, and not bit-equal somewhere */
            double diff = 0;
            for (int64_t i = 0; i < ny; i++) {
                assert_float_equal(out[1][i], out[0][i], 1e-5 + 1e-5 * fabs(out[0][i]));
                diff += fabs(out[1][i] - out[0][i]);
            }
            assert_true(diff > 0);
        } else {
            assert_memory_equal(out[0], out[1], (size_t)ny * sizeof(float));
        }
        assert_memory_equal(rs[0], rs[1], 2 * oc * sizeof(float));
        if (grad) {
            assert_memory_equal(gx[0], gx[1], (size_t)(n * c * h * w) * sizeof(float));
            assert_memory_equal(gw[0], gw[1], (size_t)(oc * c * 9) * sizeof(float));
            assert_memory_equal(gb[0], gb[1], (size_t)oc * sizeof(float));
            assert_memory_equal(gg[0], gg[1], (size_t)oc * sizeof(float));
            for (int f = 0; f < 2; f++) { free(gx[f]); free(gw[f]); free(gb[f]); free(gg[f]); }
        }
        for (int f = 0; f < 2; f++) { free(out[f]); free(rs[f]); }
    }
}

/* Sequential's runs plan the conv once per layer call, in training too, where the pool (and a
 * batch norm) cannot fuse and run after the conv: conv [+ batch norm] + relu + pool, one plan
 * per forward in each mode, with grad on and off. */
static void test_conv_pool_planned_once(void **s) {
    (void)s;
    cg_tensor *x = test_tensor(4, CG_SHAPE(4, 2, 8, 8), -1, 1, 61, false);
    for (int bn = 0; bn < 2; bn++) {
        cg_manual_seed(3);
        cg_module *m = cg_sequential_new();
        assert_non_null(cg_sequential_append(m, NULL, cg_conv2d_new(2, 3, 3, NULL, true)));
        if (bn) assert_non_null(cg_sequential_append(m, NULL, cg_batch_norm2d_new(3, 1e-5f, 0.1f)));
        assert_non_null(cg_sequential_append(m, NULL, cg_relu_new()));
        assert_non_null(cg_sequential_append(m, NULL, cg_max_pool2d_new(2)));
        for (int training = 1; training >= 0; training--) {
            cg_module_train(m, training);
            for (int grad = 1; grad >= 0; grad--) {
                bool prev = cg_set_grad_enabled(grad);
                cg_profile_enable(true);
                cg_profile_reset();
                int64_t plans = cg_conv2d_plans_made();
                cg_tensor *y = cg_module_forward(m, x);
                cg_set_grad_enabled(prev);
                if (!y) fail_msg("%s", cg_last_error());
                assert_int_equal(cg_conv2d_plans_made() - plans, 1);
                /* the pool fuses only when nothing is recorded and no batch norm runs on its own */
                const bool pooled = !grad && !(bn && training);
                assert_int_equal(profile_has("max_pool2d"), !pooled);
                assert_int_equal(profile_has("conv2d_relu_pool2"), pooled);
                cg_profile_enable(false);
                assert_int_equal(cg_tensor_shape(y)[2], 3);
                cg_tape_release();
            }
        }
        cg_module_free(m);
    }
    cg_tensor_free(x);
}

/* A module type of the program's own that declares itself a ReLU-like epilogue through its
 * type's cg_fusion: Sequential runs Conv2d + it as one conv with a fused ReLU (its forward is not
 * called), bit-equal to running it unfused; the same type declaring no stage is not fused. */
static int my_relu_calls;
static cg_tensor *my_relu_forward(cg_module *m, cg_tensor *x) { (void)m; my_relu_calls++; return cg_relu(x); }
static cg_fuse_stage my_relu_stage(const cg_module *m) { (void)m; return CG_FUSE_RELU; }
static cg_fuse_stage my_none_stage(const cg_module *m) { (void)m; return CG_FUSE_NONE; }
static void my_relu_epilogue(cg_module *m, cg_conv_epilogue *ep) { (void)m; ep->relu = true; }
static const cg_fusion my_relu_fusion = { .stage = my_relu_stage, .as_epilogue = my_relu_epilogue };
static const cg_fusion my_none_fusion = { .stage = my_none_stage, .as_epilogue = my_relu_epilogue };
static const cg_module_type my_relu_type = { "MyReLU", my_relu_forward, NULL, &my_relu_fusion };
static const cg_module_type my_plain_type = { "MyReLU", my_relu_forward, NULL, &my_none_fusion };

static void test_user_module_fuses_as_epilogue(void **s) {
    (void)s;
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 3, 6, 5), -1, 1, 78, false);
    const cg_module_type *types[2] = { &my_relu_type, &my_plain_type };
    float out[3][2 * 4 * 4 * 3], gw[3][4 * 3 * 9];
    for (int k = 0; k < 3; k++) {   /* 0: fusion off, 1: fusing type, 2: a type with no stage */
        cg_config_set(CG_CONFIG_FUSION, k != 0);
        cg_manual_seed(5);
        cg_module *m = cg_sequential_new();
        assert_non_null(cg_sequential_append(m, "conv", cg_conv2d_new(3, 4, 3, NULL, true)));
        assert_non_null(cg_sequential_append(m, "act", cg_module_new(types[k == 2], sizeof(cg_module))));
        my_relu_calls = 0;
        cg_profile_enable(true);
        cg_profile_reset();
        cg_tensor *y = cg_module_forward(m, x);
        if (!y) fail_msg("%s", cg_last_error());
        assert_int_equal(my_relu_calls, k == 1 ? 0 : 1);
        assert_int_equal(profile_has("conv2d_relu"), k == 1);
        assert_int_equal(profile_has("relu"), k != 1);
        cg_profile_enable(false);
        memcpy(out[k], cg_tensor_data(y), sizeof out[k]);
        assert_int_equal(cg_backward(cg_sum(y)), CG_OK);
        memcpy(gw[k], cg_tensor_data(cg_tensor_grad(cg_module_find(m, "conv.weight"))), sizeof gw[k]);
        cg_tape_release();
        cg_module_free(m);
    }
    cg_config_set(CG_CONFIG_FUSION, 1);
    for (int k = 1; k < 3; k++) {
        assert_memory_equal(out[0], out[k], sizeof out[0]);
        assert_memory_equal(gw[0], gw[k], sizeof gw[0]);
    }
    cg_tensor_free(x);
}

/* Winograd F(2x2, 3x3) (lib/ops/winograd.c) against the naive convolution, forward and all three
 * gradients: paddings 0 to 2, odd and even sizes (tiles that overhang the output), a 1x1 image,
 * more images than dW's chunks (threads over images, the chunks' dU summed in order), with the
 * mode forced to ALWAYS (any channel count); the same cases by im2col (OFF); the fused ReLU
 * against relu(conv) and the fused inference pool against max_pool2d(conv), bit for bit. */
static void test_winograd_vs_naive(void **s) {
    (void)s;
    struct { int64_t n, c, h, w, oc, p; } cs[] = {
        { 2, 5, 7, 5, 3, 0 }, { 3, 4, 6, 8, 6, 1 }, { 1, 3, 3, 3, 2, 0 }, { 2, 6, 4, 9, 5, 2 },
        { 1, 1, 1, 1, 2, 1 }, { 37, 4, 5, 6, 3, 1 }, { 2, 17, 10, 11, 9, 1 },
        { 2, 3, 5, 37, 4, 1 }, { 1, 2, 3, 66, 3, 0 },  /* tile rows of 19 and 32 tiles: AVX-512's 16 + a masked rest */
    };
    const int modes[2] = { CG_WINOGRAD_ALWAYS, CG_WINOGRAD_OFF };
    for (int m = 0; m < 2; m++) {
        assert_int_equal(cg_config_set(CG_CONFIG_CONV_WINOGRAD, modes[m]), CG_OK);
        for (unsigned i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            geom G = { .n = cs[i].n, .c = cs[i].c, .h = cs[i].h, .w = cs[i].w, .oc = cs[i].oc,
                       .kh = 3, .kw = 3, .s = 1, .p = cs[i].p, .d = 1, .g = 1 };
            run_grid_case(G, i % 2 == 0, 500 + 10 * i);
            if (G.h + 2 * G.p - 2 > 1) run_relu_case(G, i % 2 == 1, 600 + 10 * i);
        }
        for (int relu = 0; relu < 2; relu++) {
            cg_tensor *x = test_tensor(4, CG_SHAPE(5, 6, 9, 8), -1, 1, 70 + relu, false);
            cg_tensor *w = test_tensor(4, CG_SHAPE(7, 6, 3, 3), -1, 1, 72, false);
            cg_tensor *b = test_tensor(1, CG_SHAPE(7), -1, 1, 73, false);
            cg_conv2d_params p = cg_conv2d_defaults();
            p.padding[0] = p.padding[1] = 1;
            cg_pool2d_params pp = cg_pool2d_defaults(2);
            cg_tensor *c = relu ? conv2d_relu(x, w, b, &p) : cg_conv2d(x, w, b, &p);
            cg_tensor *y0 = cg_max_pool2d(c, &pp), *y1 = conv2d_pool2(x, w, b, &p, relu);
            assert_non_null(y0);
            assert_non_null(y1);
            assert_int_equal(cg_tensor_numel(y0), 5 * 7 * 4 * 4);
            assert_memory_equal(cg_tensor_data(y0), cg_tensor_data(y1), (size_t)cg_tensor_numel(y0) * sizeof(float));
            cg_tape_release();
            cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(b);
        }
    }
    assert_int_equal(cg_config_set(CG_CONFIG_CONV_WINOGRAD, CG_WINOGRAD_AUTO), CG_OK);
}

/* The Winograd transforms' AVX-512 kernels (where the CPU has them) and their generic loops give
 * the same bits: forward output and all three gradients, tile rows of 1 to 40 tiles (one masked
 * vector, full vectors, full + masked), both paddings, odd and even sizes. */
static void test_winograd_isa_bits(void **s) {
    (void)s;
    if (!cg_cpu_has_avx512()) { skip(); return; }   /* the generic loops only: nothing to compare */
    struct { int64_t n, c, h, w, oc, p, pw; } cs[] = {   /* pw < 0: pw = p */
        { 2, 4, 6, 8, 5, 1, -1 }, { 3, 5, 7, 35, 6, 0, -1 }, { 2, 3, 9, 64, 4, 1, -1 }, { 1, 6, 4, 81, 3, 1, -1 },
        { 2, 2, 3, 3, 2, 0, -1 }, { 2, 3, 28, 28, 4, 1, -1 }, { 1, 2, 5, 33, 3, 2, -1 }, { 1, 2, 6, 30, 2, 3, -1 },
        { 2, 4, 14, 14, 3, 1, -1 },
        /* unequal paddings, and inputs narrower or shorter than the kernel, read through the border */
        { 1, 2, 7, 20, 3, 0, 2 }, { 1, 3, 9, 17, 2, 2, 0 }, { 2, 2, 1, 2, 2, 1, 1 }, { 1, 2, 2, 1, 3, 2, 1 },
        { 1, 2, 5, 40, 2, 1, 3 },
    };
    assert_int_equal(cg_config_set(CG_CONFIG_CONV_WINOGRAD, CG_WINOGRAD_ALWAYS), CG_OK);
    for (unsigned i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        float *out[2][4] = { { 0 } };
        int64_t len[4] = { 0 };
        for (int generic = 0; generic < 2; generic++) {
            cg_wino_force_generic(generic);
            cg_tensor *x = test_tensor(4, CG_SHAPE(cs[i].n, cs[i].c, cs[i].h, cs[i].w), -1, 1, 900 + i, true);
            cg_tensor *w = test_tensor(4, CG_SHAPE(cs[i].oc, cs[i].c, 3, 3), -1, 1, 910 + i, true);
            cg_tensor *b = test_tensor(1, CG_SHAPE(cs[i].oc), -1, 1, 920 + i, true);
            cg_conv2d_params p = cg_conv2d_defaults();
            p.padding[0] = cs[i].p;
            p.padding[1] = cs[i].pw < 0 ? cs[i].p : cs[i].pw;
            cg_tensor *y = cg_conv2d(x, w, b, &p);
            assert_non_null(y);
            cg_tensor *wt = test_tensor(cg_tensor_ndim(y), cg_tensor_shape(y), -1, 1, 930 + i, false);
            cg_tensor *l = cg_sum(cg_mul(y, wt));
            assert_int_equal(cg_backward(l), CG_OK);
            cg_tensor *t[4] = { y, cg_tensor_grad(x), cg_tensor_grad(w), cg_tensor_grad(b) };
            for (int k = 0; k < 4; k++) {
                assert_non_null(t[k]);
                len[k] = cg_tensor_numel(t[k]);
                out[generic][k] = malloc((size_t)len[k] * sizeof(float));
                memcpy(out[generic][k], cg_tensor_data(t[k]), (size_t)len[k] * sizeof(float));
            }
            cg_tape_release();
            cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(b); cg_tensor_free(wt);
        }
        for (int k = 0; k < 4; k++) {
            if (memcmp(out[0][k], out[1][k], (size_t)len[k] * sizeof(float)))
                fail_msg("case %u: %s differs between the AVX-512 and generic transforms", i,
                         (const char *[]){ "y", "dx", "dw", "db" }[k]);
            free(out[0][k]);
            free(out[1][k]);
        }
    }
    cg_wino_force_generic(false);
    assert_int_equal(cg_config_set(CG_CONFIG_CONV_WINOGRAD, CG_WINOGRAD_AUTO), CG_OK);
}

/* Central differences through the Winograd path (ALWAYS: 2 channels), unpadded and padded. */
static void test_winograd_gradcheck(void **s) {
    (void)s;
    assert_int_equal(cg_config_set(CG_CONFIG_CONV_WINOGRAD, CG_WINOGRAD_ALWAYS), CG_OK);
    for (int pad = 0; pad < 2; pad++) {
        cg_conv2d_params p = cg_conv2d_defaults();
        p.padding[0] = p.padding[1] = pad;
        cg_tensor *in[3] = { test_tensor(4, CG_SHAPE(2, 2, 5, 6), -1, 1, 21 + pad, true),
                             test_tensor(4, CG_SHAPE(3, 2, 3, 3), -1, 1, 23 + pad, true),
                             test_tensor(1, CG_SHAPE(3), -1, 1, 25 + pad, true) };
        gradcheck(conv_fn, in, 3, &p, 1e-2, 2e-3, 2e-2);
        for (int j = 0; j < 3; j++) cg_tensor_free(in[j]);
    }
    assert_int_equal(cg_config_set(CG_CONFIG_CONV_WINOGRAD, CG_WINOGRAD_AUTO), CG_OK);
}

/* The parallel im2col/col2im paths (race-free by construction) match the serial ones. Width
 * stride and dilation 1 take the dense loops when serial (unpadded, or padded), so those cases
 * check them against the general loop: height stride and dilation 2; the residual nets' 3x3
 * "same" conv; uneven padding wider than the kernel's reach, so whole rows and runs are zero. */
static void im2col_case(cg_im2col_geom g);
static void test_im2col_parallel_matches_serial(void **s) {
    (void)s;
    im2col_case((cg_im2col_geom){ .c = 32, .h = 20, .w = 19, .kh = 3, .kw = 3, .sh = 1, .sw = 2, .ph = 1, .pw = 1, .dh = 2, .dw = 1 });
    im2col_case((cg_im2col_geom){ .c = 32, .h = 41, .w = 19, .kh = 3, .kw = 2, .sh = 2, .sw = 1, .ph = 0, .pw = 0, .dh = 2, .dw = 1 });
    im2col_case((cg_im2col_geom){ .c = 8, .h = 28, .w = 28, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1, .dw = 1 });
    im2col_case((cg_im2col_geom){ .c = 32, .h = 15, .w = 13, .kh = 3, .kw = 3, .sh = 2, .sw = 1, .ph = 2, .pw = 3, .dh = 2, .dw = 1 });
    im2col_case((cg_im2col_geom){ .c = 64, .h = 9, .w = 2, .kh = 2, .kw = 5, .sh = 1, .sw = 1, .ph = 1, .pw = 4, .dh = 1, .dw = 1 });
    /* width stride > 1 (the strided loops): the residual net's stride-2 conv, stride 3 with a
     * wide padding and an odd width */
    im2col_case((cg_im2col_geom){ .c = 32, .h = 28, .w = 28, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .ph = 1, .pw = 1, .dh = 1, .dw = 1 });
    im2col_case((cg_im2col_geom){ .c = 32, .h = 11, .w = 13, .kh = 4, .kw = 5, .sh = 1, .sw = 3, .ph = 2, .pw = 3, .dh = 1, .dw = 1 });
}

static void im2col_case(cg_im2col_geom g) {
    g.dense = true;  /* serial: the specialised loops; parallel: the general one */
    g.oh = (g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
    g.ow = (g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
    int64_t nc = g.c * g.kh * g.kw * g.oh * g.ow, nx = g.c * g.h * g.w;
    assert_true(nc >= 32768);
    cg_tensor *x = test_tensor(1, CG_SHAPE(nx), -1, 1, 3, false), *d = test_tensor(1, CG_SHAPE(nc), -1, 1, 4, false);
    float *c1 = calloc((size_t)nc, 4), *c2 = calloc((size_t)nc, 4), *x1 = calloc((size_t)nx, 4), *x2 = calloc((size_t)nx, 4);
    cg_im2col(c1, cg_tensor_data(x), &g, false);
    cg_im2col(c2, cg_tensor_data(x), &g, true);
    assert_memory_equal(c1, c2, (size_t)nc * 4);
    cg_col2im_add(x1, cg_tensor_data(d), &g, false);
    cg_col2im_add(x2, cg_tensor_data(d), &g, true);
    assert_memory_equal(x1, x2, (size_t)nx * 4);
    free(c1); free(c2); free(x1); free(x2);
    cg_tensor_free(x); cg_tensor_free(d);
}

/* The conv switches that pick loops and schedules (cgrad/config.h) change no value: forward, dx
 * and dw bit-equal to the defaults' on a padded and a strided layer. The forward's row blocks
 * change the GEMMs' shapes, so BLAS may round differently: within 1e-4 (dW sums with
 * cancellation). Bad values are refused by name and leave the switch as it was. */
static void conv_run(const int64_t *xs, const int64_t *ws, const cg_conv2d_params *p, float *out, size_t n_out) {
    cg_tensor *x = test_tensor(4, xs, -1, 1, 91, true), *w = test_tensor(4, ws, -1, 1, 92, true);
    cg_tensor *y = cg_conv2d(x, w, NULL, p);
    assert_non_null(y);
    assert_int_equal(cg_backward(cg_sum(cg_mul(y, y))), CG_OK);
    size_t ny = (size_t)cg_tensor_numel(y), nx = (size_t)cg_tensor_numel(x), nw = (size_t)cg_tensor_numel(w);
    assert_true(ny + nx + nw <= n_out);
    memcpy(out, cg_tensor_cdata(y), ny * 4);
    memcpy(out + ny, cg_tensor_cdata(cg_tensor_grad(x)), nx * 4);
    memcpy(out + ny + nx, cg_tensor_cdata(cg_tensor_grad(w)), nw * 4);
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(w);
}

static void test_switches_keep_values(void **s) {
    (void)s;
    enum { N = 20000 };
    static float ref[N], got[N];
    const int64_t xs[4] = { 5, 3, 13, 11 }, ws[4] = { 4, 3, 3, 3 };
    for (int layer = 0; layer < 2; layer++) {
        cg_conv2d_params p = cg_conv2d_defaults();
        p.padding[0] = p.padding[1] = 1;
        if (layer) p.stride[0] = p.stride[1] = 2;
        cg_config_reset();
        memset(ref, 0, sizeof ref);
        conv_run(xs, ws, &p, ref, N);
        const struct { cg_config_key k; int64_t v; } sw[] = {
            { CG_CONFIG_CONV_DENSE, 0 }, { CG_CONFIG_CONV_BLOCK_BYTES, 1 }, { CG_CONFIG_CONV_BLOCK_BYTES, 400 },
            { CG_CONFIG_CONV_SCHEDULE, CG_CONV_SCHEDULE_SERIAL }, { CG_CONFIG_CONV_SCHEDULE, CG_CONV_SCHEDULE_IMAGES },
        };
        for (size_t i = 0; i < sizeof sw / sizeof sw[0]; i++) {
            cg_config_reset();
            assert_int_equal(cg_config_set(sw[i].k, sw[i].v), CG_OK);
            assert_int_equal(cg_config_get(sw[i].k), sw[i].v);
            memset(got, 0, sizeof got);
            conv_run(xs, ws, &p, got, N);
            if (sw[i].k == CG_CONFIG_CONV_BLOCK_BYTES) {
                for (int j = 0; j < N; j++)
                    if (fabsf(ref[j] - got[j]) > 1e-4f * (1.0f + fabsf(ref[j])))
                        fail_msg("layer %d: %s = %lld: value %d is %g, not %g", layer, cg_config_name(sw[i].k),
                                 (long long)sw[i].v, j, got[j], ref[j]);
            } else if (memcmp(ref, got, sizeof ref)) {
                fail_msg("layer %d: %s = %lld changed a value", layer, cg_config_name(sw[i].k), (long long)sw[i].v);
            }
        }
    }
    cg_config_reset();
    const struct { cg_config_key k; int64_t v; const char *msg; } bad[] = {
        { CG_CONFIG_CONV_WINOGRAD, 3, "conv_winograd = 3 is out of range [0, 2]" },
        { CG_CONFIG_CONV_SCHEDULE, -1, "conv_schedule = -1 is out of range" },
        { CG_CONFIG_CONV_DENSE, 2, "conv_dense = 2" },
        { CG_CONFIG_CONV_BLOCK_BYTES, 0, "conv_block_bytes = 0" },
        { CG_CONFIG_CONV_DEPTHWISE, 3, "conv_depthwise = 3 is out of range [0, 2]" },
        { CG_CONFIG_FUSION, -3, "fusion = -3" },
        { (cg_config_key)CG_CONFIG_NUM_KEYS, 0, "is not a cg_config_key" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t before = cg_config_get(bad[i].k);
        assert_int_equal(cg_config_set(bad[i].k, bad[i].v), CG_EINVAL);
        if (!strstr(cg_last_error(), bad[i].msg)) fail_msg("message: %s", cg_last_error());
        assert_int_equal(cg_config_get(bad[i].k), before);
    }
    assert_int_equal(cg_config_get((cg_config_key)-1), -1);
    assert_null(cg_config_name((cg_config_key)CG_CONFIG_NUM_KEYS));
    assert_string_equal(cg_config_name(CG_CONFIG_CONV_WINOGRAD), "conv_winograd");
    assert_int_equal(cg_config_get(CG_CONFIG_CONV_BLOCK_BYTES), CG_CONV_BLOCK_BYTES_DEFAULT);
}

/* cg_conv2d_algorithm names what cg_conv2d runs, following the switches; a layer that does not
 * fit gets the shape rule's error. */
static void test_algorithm(void **st) {
    (void)st;
    cg_conv2d_params p = cg_conv2d_defaults();
    cg_conv2d_algo a;
    assert_int_equal(cg_conv2d_algorithm(CG_SHAPE(2, 8, 10, 10), CG_SHAPE(16, 8, 3, 3), &p, &a), CG_OK);
    assert_string_equal(a.algorithm, "winograd F(2x2,3x3)");
    /* a small layer's GEMMs go to LIBXSMM where it is built in and usable, else to the BLAS */
    assert_string_equal(a.gemm, cg_gemm_xsmm_usable() ? "LIBXSMM (JIT kernels chosen from CPUID)" : "the BLAS");
    assert_int_equal(cg_config_set(CG_CONFIG_GEMM_ENGINE, CG_GEMM_BLAS), CG_OK);
    assert_int_equal(cg_conv2d_algorithm(CG_SHAPE(2, 8, 10, 10), CG_SHAPE(16, 8, 3, 3), &p, &a), CG_OK);
    assert_string_equal(a.gemm, "the BLAS");
    assert_int_equal(cg_config_set(CG_CONFIG_GEMM_ENGINE, CG_GEMM_AUTO), CG_OK);
    /* a big layer (a 1x1 one whose GEMMs are 512 x 4356 x 512 multiply-adds) too, in blocks */
    assert_int_equal(cg_conv2d_algorithm(CG_SHAPE(1, 512, 66, 66), CG_SHAPE(512, 512, 1, 1), &p, &a), CG_OK);
    assert_string_equal(a.gemm, cg_gemm_xsmm_usable() ? "LIBXSMM (JIT kernels chosen from CPUID)" : "the BLAS");
    assert_int_equal(cg_config_set(CG_CONFIG_CONV_WINOGRAD, CG_WINOGRAD_OFF), CG_OK);
    assert_int_equal(cg_conv2d_algorithm(CG_SHAPE(2, 8, 10, 10), CG_SHAPE(16, 8, 3, 3), &p, &a), CG_OK);
    assert_string_equal(a.algorithm, "im2col + GEMM");
    assert_int_equal(cg_config_set(CG_CONFIG_CONV_WINOGRAD, CG_WINOGRAD_AUTO), CG_OK);
    assert_int_equal(cg_conv2d_algorithm(CG_SHAPE(2, 8, 10, 10), CG_SHAPE(16, 8, 1, 1), &p, &a), CG_OK);
    assert_string_equal(a.algorithm, "1x1 GEMM (no im2col)");
    p.groups = 8;
    p.padding[0] = p.padding[1] = 1;
    assert_int_equal(cg_conv2d_algorithm(CG_SHAPE(2, 8, 10, 10), CG_SHAPE(8, 1, 3, 3), &p, &a), CG_OK);
    assert_string_equal(a.algorithm, "depthwise direct");
    assert_string_equal(a.gemm, "none (direct kernels)");
    p = cg_conv2d_defaults();
    p.stride[0] = p.stride[1] = 2;
    assert_int_equal(cg_conv2d_algorithm(CG_SHAPE(2, 8, 10, 10), CG_SHAPE(16, 8, 3, 3), &p, &a), CG_OK);
    assert_string_equal(a.algorithm, "im2col + GEMM");
    assert_int_equal(cg_conv2d_algorithm(CG_SHAPE(2, 8, 4, 4), CG_SHAPE(16, 8, 5, 5), &p, &a), CG_ESHAPE);
    assert_non_null(strstr(cg_last_error(), "larger than the padded input"));
    assert_int_equal(cg_conv2d_algorithm(CG_SHAPE(2, 8, 4, 4), NULL, &p, &a), CG_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_by_hand),
        cmocka_unit_test(test_algorithm),
        cmocka_unit_test(test_grid_vs_naive),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_gradcheck_fresh_input_grad),
        cmocka_unit_test(test_grads_accumulate),
        cmocka_unit_test(test_relu_fused_matches_unfused),
        cmocka_unit_test(test_relu_fused_gradcheck),
        cmocka_unit_test(test_sequential_fuses_conv_relu),
        cmocka_unit_test(test_sequential_fuses_conv_pool),
        cmocka_unit_test(test_conv2d_ex_matches_unfused),
        cmocka_unit_test(test_conv2d_ex_refuses_integer_bn_stats),
        cmocka_unit_test(test_conv_pool_planned_once),
        cmocka_unit_test(test_user_module_fuses_as_epilogue),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_geometry_overflow),
        cmocka_unit_test(test_conv2d_relu_nan),
        cmocka_unit_test(test_im2col_parallel_matches_serial),
        cmocka_unit_test(test_winograd_vs_naive),
        cmocka_unit_test(test_winograd_gradcheck),
        cmocka_unit_test(test_winograd_isa_bits),
        cmocka_unit_test(test_relu6_fused_matches_unfused),
        cmocka_unit_test(test_relu6_fused_edges),
        cmocka_unit_test(test_switches_keep_values),
        cmocka_unit_test(test_no_allocation_when_warm),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
