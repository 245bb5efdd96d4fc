/* SPDX-License-Identifier: MIT */
/* tests/test_conv_depthwise.c — conv2d's direct depthwise kernels (lib/ops/conv2d_depthwise.c):
 * against the general im2col path (CG_CONFIG_CONV_DEPTHWISE off) on a grid of stride, padding,
 * dilation, kernel, channel multiplier, batch, bias and fused ReLU (forward, dx, dw, db); gradcheck
 * of dx, dw, db through the direct path (the input's gradient accumulated and fresh); results
 * bit-identical for 1, 2 and 3 threads; the epilogue (batch norm, ReLU, pool) against the unfused
 * ops; no allocation once warm. Each run checks, by the op's name
 * in the profile, that the path it meant to test ran. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"
#include "alloc_probe.h"

typedef struct dcase {
    int64_t n, c, m, h, w, k, s, p, d;  /* batch, channels, multiplier (OC = m * c), size, kernel, stride, padding, dilation */
    int64_t groups;                     /* 0: c (depthwise); 1 with c == 1: the one-channel ungrouped conv */
    bool bias, relu;
} dcase;

/* One pass's results, malloc'ed copies. */
typedef struct result {
    float *y, *dx, *dw, *db;
    int64_t ny, nx, nw, nb;
} result;

static float *copy(cg_tensor *t) {
    int64_t n = cg_tensor_numel(t);
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    assert_non_null(p);
    memcpy(p, cg_tensor_data(t), (size_t)n * sizeof(float));
    return p;
}

static void result_free(result *r) { free(r->y); free(r->dx); free(r->dw); free(r->db); }

/* conv (with the fused ReLU when asked) forward and backward of sum(y * R) under the depthwise
 * mode `mode`; fails unless the op that ran is the direct one exactly when `direct`. */
static result run_case(const dcase *D, int mode, bool direct, unsigned salt) {
    assert_int_equal(cg_config_set(CG_CONFIG_CONV_DEPTHWISE, mode), CG_OK);
    const int64_t g = D->groups ? D->groups : D->c, oc = D->m * D->c;
    cg_tensor *x = test_tensor(4, CG_SHAPE(D->n, D->c, D->h, D->w), -1, 1, salt, true);
    cg_tensor *w = test_tensor(4, CG_SHAPE(oc, D->c / g, D->k, D->k), -1, 1, salt + 1, true);
    cg_tensor *b = D->bias ? test_tensor(1, CG_SHAPE(oc), -1, 1, salt + 2, true) : NULL;
    cg_conv2d_params p = { { D->s, D->s }, { D->p, D->p }, { D->d, D->d }, g };
    cg_profile_enable(true);
    cg_profile_reset();
    cg_tensor *y = cg_conv2d_ex(x, w, b, &p, &(cg_conv_epilogue){ .relu = D->relu });
    if (!y) fail_msg("conv2d failed: %s", cg_last_error());
    cg_tensor *r = test_tensor(4, cg_tensor_shape(y), -1, 1, salt + 3, false);
    assert_int_equal(cg_backward(cg_sum(cg_mul(y, r))), CG_OK);
    const char *name = direct ? (D->relu ? "conv2d_dw_relu" : "conv2d_dw") : (D->relu ? "conv2d_relu" : "conv2d");
    if (!profile_has(name)) fail_msg("mode %d: op %s did not run", mode, name);
    cg_profile_enable(false);
    result res = { copy(y), copy(cg_tensor_grad(x)), copy(cg_tensor_grad(w)), b ? copy(cg_tensor_grad(b)) : NULL,
                   cg_tensor_numel(y), cg_tensor_numel(x), cg_tensor_numel(w), b ? oc : 0 };
    cg_tape_release();
    cg_tensor_free(r); cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(b);
    assert_int_equal(cg_config_set(CG_CONFIG_CONV_DEPTHWISE, CG_DEPTHWISE_AUTO), CG_OK);
    return res;
}

/* |got - want| <= 1e-5 * (max |want| + |want|): float rounding of sums in another order. */
static double expect_close(const char *what, const float *got, const float *want, int64_t n, const dcase *D) {
    double scale = 0, worst = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (e > 1e-5 * (scale + fabs(want[i])))
            fail_msg("%s[%lld]: direct %.9g, general %.9g (n%lld c%lld m%lld %lldx%lld k%lld s%lld p%lld d%lld%s%s)",
                     what, (long long)i, got[i], want[i], (long long)D->n, (long long)D->c, (long long)D->m,
                     (long long)D->h, (long long)D->w, (long long)D->k, (long long)D->s, (long long)D->p,
                     (long long)D->d, D->bias ? " bias" : "", D->relu ? " relu" : "");
        if (scale > 0) worst = fmax(worst, e / scale);
    }
    return worst;
}

static double compare_paths(const dcase *D, int direct_mode, unsigned salt) {
    result a = run_case(D, direct_mode, true, salt), b = run_case(D, CG_DEPTHWISE_OFF, false, salt);
    assert_int_equal(a.ny, b.ny);
    double w = expect_close("y", a.y, b.y, a.ny, D);
    w = fmax(w, expect_close("dx", a.dx, b.dx, a.nx, D));
    w = fmax(w, expect_close("dw", a.dw, b.dw, a.nw, D));
    if (D->bias) w = fmax(w, expect_close("db", a.db, b.db, a.nb, D));
    result_free(&a);
    result_free(&b);
    return w;
}

/* The grid: stride 1/2, padding 0/1/2, dilation 1/2, kernel 1/3/5, multiplier 1/2, batch 1/3, with
 * and without bias and fused ReLU, on odd sizes (11x10, 3 channels): 576 layers. */
static void test_direct_matches_general(void **s) {
    (void)s;
    const int64_t strides[] = { 1, 2 }, pads[] = { 0, 1, 2 }, dils[] = { 1, 2 }, ks[] = { 1, 3, 5 }, ms[] = { 1, 2 },
                  ns[] = { 1, 3 };
    unsigned salt = 100;
    int cases = 0;
    double worst = 0;
    for (int a = 0; a < 2; a++) for (int b = 0; b < 3; b++) for (int c = 0; c < 2; c++) for (int k = 0; k < 3; k++)
    for (int m = 0; m < 2; m++) for (int n = 0; n < 2; n++) for (int f = 0; f < 4; f++) {
        dcase D = { .n = ns[n], .c = 3, .m = ms[m], .h = 11, .w = 10, .k = ks[k], .s = strides[a], .p = pads[b],
                    .d = dils[c], .bias = f & 1, .relu = f & 2 };
        worst = fmax(worst, compare_paths(&D, CG_DEPTHWISE_AUTO, salt));
        salt += 7;
        cases++;
    }
    assert_int_equal(cases, 576);
    print_message("worst difference, relative to each array's largest value: %.3g\n", worst);
    /* Larger planes (several accumulator blocks a row), a wide stride, a non-square input. */
    const dcase more[] = {
        { .n = 2, .c = 5, .m = 1, .h = 29, .w = 31, .k = 3, .s = 1, .p = 1, .d = 1, .bias = true, .relu = true },
        { .n = 2, .c = 4, .m = 3, .h = 28, .w = 28, .k = 3, .s = 2, .p = 1, .d = 1, .bias = true },
        { .n = 1, .c = 2, .m = 1, .h = 13, .w = 17, .k = 5, .s = 3, .p = 2, .d = 1, .relu = true },
        { .n = 2, .c = 2, .m = 2, .h = 9, .w = 12, .k = 3, .s = 4, .p = 0, .d = 3, .bias = true },
        { .n = 3, .c = 2, .m = 1, .h = 5, .w = 6, .k = 3, .s = 1, .p = 4, .d = 1 },  /* padding beyond the kernel */
        { .n = 1, .c = 2, .m = 1, .h = 9, .w = 40, .k = 3, .s = 2, .p = 1, .d = 1, .bias = true },  /* stride 2 on rows wider than 32 */
        /* inputs narrower than the stride: phases with no row or no column */
        { .n = 2, .c = 2, .m = 2, .h = 1, .w = 1, .k = 3, .s = 2, .p = 1, .d = 1, .bias = true },
        { .n = 1, .c = 3, .m = 1, .h = 5, .w = 2, .k = 3, .s = 3, .p = 1, .d = 1, .relu = true },
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) compare_paths(&more[i], CG_DEPTHWISE_AUTO, salt += 7);
}

/* A one-channel ungrouped conv (groups == C == 1) takes the direct kernels only when forced. */
static void test_one_channel_only_when_forced(void **s) {
    (void)s;
    const dcase D = { .n = 3, .c = 1, .m = 4, .h = 12, .w = 11, .k = 3, .s = 1, .p = 1, .d = 1, .groups = 1, .bias = true };
    compare_paths(&D, CG_DEPTHWISE_ALWAYS, 900);
    result r = run_case(&D, CG_DEPTHWISE_AUTO, false, 900);  /* fails unless "conv2d" ran */
    result_free(&r);
}

typedef struct gctx { cg_conv2d_params p; bool square; } gctx;
static cg_tensor *conv_fn(cg_tensor **in, void *ctx) {
    const gctx *g = ctx;
    return cg_conv2d(g->square ? cg_mul(in[0], in[0]) : in[0], in[1], in[2], &g->p);
}

/* Central differences through the direct path: dx (accumulated into a leaf's gradient, and fresh
 * on the tape when the conv's input is x * x), dw, db. */
static void test_gradcheck(void **s) {
    (void)s;
    const struct { int64_t n, c, m, h, w, k, st, p, d; } G[] = {
        { 2, 3, 2, 6, 7, 3, 2, 1, 1 },
        { 2, 2, 1, 7, 6, 3, 1, 2, 2 },
        { 1, 2, 3, 5, 8, 5, 1, 2, 1 },
        { 2, 3, 1, 7, 7, 2, 3, 0, 1 },
    };
    for (size_t i = 0; i < sizeof G / sizeof G[0]; i++)
        for (int sq = 0; sq < 2; sq++) {
            gctx ctx = { { { G[i].st, G[i].st }, { G[i].p, G[i].p }, { G[i].d, G[i].d }, G[i].c }, sq };
            cg_tensor *in[3] = { test_tensor(4, CG_SHAPE(G[i].n, G[i].c, G[i].h, G[i].w), -1, 1, 31 + (unsigned)i, true),
                                 test_tensor(4, CG_SHAPE(G[i].m * G[i].c, 1, G[i].k, G[i].k), -1, 1, 37 + (unsigned)i, true),
                                 test_tensor(1, CG_SHAPE(G[i].m * G[i].c), -1, 1, 41 + (unsigned)i, true) };
            cg_profile_enable(true);
            cg_profile_reset();
            gradcheck(conv_fn, in, 3, &ctx, 1e-2, 2e-3, 2e-2);
            assert_true(profile_has("conv2d_dw"));
            cg_profile_enable(false);
            for (int j = 0; j < 3; j++) cg_tensor_free(in[j]);
        }
}

/* The same results, bit for bit, on 1, 2 and 3 threads (a layer big enough to be split). */
static void test_threads_bit_identical(void **s) {
    (void)s;
    const int before = cg_get_num_threads();
    const dcase cases[] = {
        { .n = 3, .c = 16, .m = 2, .h = 20, .w = 19, .k = 3, .s = 1, .p = 1, .d = 1, .bias = true, .relu = true },
        { .n = 5, .c = 24, .m = 1, .h = 28, .w = 28, .k = 3, .s = 2, .p = 1, .d = 1, .bias = true },
        { .n = 2, .c = 12, .m = 1, .h = 30, .w = 30, .k = 5, .s = 1, .p = 2, .d = 2 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cg_set_num_threads(1);
        result one = run_case(&cases[i], CG_DEPTHWISE_AUTO, true, 500 + (unsigned)i);
        for (int t = 2; t <= 3; t++) {
            cg_set_num_threads(t);
            result r = run_case(&cases[i], CG_DEPTHWISE_AUTO, true, 500 + (unsigned)i);
            assert_memory_equal(r.y, one.y, (size_t)one.ny * sizeof(float));
            assert_memory_equal(r.dx, one.dx, (size_t)one.nx * sizeof(float));
            assert_memory_equal(r.dw, one.dw, (size_t)one.nw * sizeof(float));
            if (cases[i].bias) assert_memory_equal(r.db, one.db, (size_t)one.nb * sizeof(float));
            result_free(&r);
        }
        result_free(&one);
    }
    cg_set_num_threads(before);
}

/* cg_conv2d_ex's epilogue on a depthwise conv against the unfused ops (conv, batch norm, ReLU,
 * 2x2 max-pool; every mode, with and without grad): bit-equal, but for the eval batch norm folded
 * into the weights (within rounding). The fused pool runs as max_pool2d after the direct conv. */
static void test_epilogue_matches_unfused(void **s) {
    (void)s;
    cg_conv2d_params p = { { 1, 1 }, { 1, 1 }, { 1, 1 }, 3 };
    const int64_t n = 3, c = 3, h = 7, w = 6, oc = 6;
    for (int bn = 0; bn < 3; bn++)   /* none, training, eval */
    for (int relu = 0; relu < 2; relu++)
    for (int pool = 0; pool < 2; pool++)
    for (int grad = 0; grad < 2; grad++) {
        float *out[2], *g[2][4];
        int64_t ny = 0, ng[4] = { n * c * h * w, oc * 9, oc, oc };
        for (int fused = 0; fused < 2; fused++) {
            cg_tensor *x = test_tensor(4, CG_SHAPE(n, c, h, w), -1, 1, 70, grad);
            cg_tensor *wt = test_tensor(4, CG_SHAPE(oc, 1, 3, 3), -1, 1, 71, grad);
            cg_tensor *b = test_tensor(1, CG_SHAPE(oc), -1, 1, 72, grad);
            cg_tensor *gamma = test_tensor(1, CG_SHAPE(oc), 0.5f, 1.5f, 73, grad);
            cg_tensor *beta = test_tensor(1, CG_SHAPE(oc), -0.5f, 0.5f, 74, grad);
            cg_tensor *rm = test_tensor(1, CG_SHAPE(oc), -0.3f, 0.3f, 75, false);
            cg_tensor *rv = test_tensor(1, CG_SHAPE(oc), 0.5f, 2.0f, 76, false);
            cg_pool2d_params pp = cg_pool2d_defaults(2);
            cg_tensor *y;
            cg_profile_enable(true);
            cg_profile_reset();
            if (fused) {
                cg_conv_epilogue ep = { .relu = relu, .pool2 = pool };
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
                if (relu) y = cg_relu(y);
                if (pool) y = cg_max_pool2d(y, &pp);
            }
            if (!y) fail_msg("%s", cg_last_error());
            assert_true(profile_has("conv2d_dw") || profile_has("conv2d_dw_relu"));
            cg_profile_enable(false);
            ny = cg_tensor_numel(y);
            assert_int_equal(ny, n * oc * (pool ? (h / 2) * (w / 2) : h * w));
            out[fused] = copy(y);
            if (grad) {
                cg_tensor *r = test_tensor(4, cg_tensor_shape(y), -1, 1, 77, false);
                assert_int_equal(cg_backward(cg_sum(cg_mul(y, r))), CG_OK);
                cg_tensor_free(r);
                cg_tensor *src[4] = { x, wt, b, gamma };
                for (int i = 0; i < 4; i++) {
                    g[fused][i] = calloc((size_t)ng[i], sizeof(float));
                    if (cg_tensor_grad(src[i]))
                        memcpy(g[fused][i], cg_tensor_data(cg_tensor_grad(src[i])), (size_t)ng[i] * sizeof(float));
                }
            }
            cg_tape_release();
            cg_tensor *all[7] = { x, wt, b, gamma, beta, rm, rv };
            for (int i = 0; i < 7; i++) cg_tensor_free(all[i]);
        }
        if (bn == 2 && !grad) {   /* folded */
            for (int64_t i = 0; i < ny; i++) assert_float_equal(out[1][i], out[0][i], 1e-5 + 1e-5 * fabs(out[0][i]));
        } else {
            assert_memory_equal(out[0], out[1], (size_t)ny * sizeof(float));
        }
        if (grad)
            for (int i = 0; i < 4; i++) {
                assert_memory_equal(g[0][i], g[1][i], (size_t)ng[i] * sizeof(float));
                free(g[0][i]);
                free(g[1][i]);
            }
        free(out[0]);
        free(out[1]);
    }
}

/* A warm training step through the direct kernels allocates nothing. */
static void test_no_allocation_when_warm(void **s) {
    (void)s;
    cg_tape_free_all();
    cg_allocator a = counting_allocator;
    cg_set_allocator(&a);
    cg_tensor *x = test_tensor(4, CG_SHAPE(4, 8, 14, 14), -1, 1, 3, true);
    cg_tensor *w = test_tensor(4, CG_SHAPE(8, 1, 3, 3), -1, 1, 4, true);
    cg_tensor *b = test_tensor(1, CG_SHAPE(8), -1, 1, 6, true);
    cg_conv2d_params p = { { 2, 2 }, { 1, 1 }, { 1, 1 }, 8 };
    long before = 0;
    for (int i = 0; i < 8; i++) {
        if (i == 3) before = g_allocs;
        cg_tensor *y = cg_conv2d_ex(x, w, b, &p, &(cg_conv_epilogue){ .relu = true });
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
        cmocka_unit_test(test_direct_matches_general),
        cmocka_unit_test(test_one_channel_only_when_forced),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_epilogue_matches_unfused),
        cmocka_unit_test(test_no_allocation_when_warm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
