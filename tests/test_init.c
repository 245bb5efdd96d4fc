/* SPDX-License-Identifier: MIT */
/* tests/test_init.c — torch.nn.init's initialisers: the fans, gains, bounds and stds of
 * PyTorch's formulas (tests/fixtures/init.txt, from tests/gen_fixtures.py), and samples that
 * keep to them (every value within the bound and filling it; mean and std of the normal ones);
 * the same seed gives the same values; errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "cgrad/cgrad.h"
#include "fixture.h"

static fixture *FX;
static fixture *fx(void) {
    if (!FX) FX = fixture_load("init.txt");
    return FX;
}
static double want(const char *name, const char *what) {
    char key[96];
    snprintf(key, sizeof key, "%s.%s", name, what);
    int64_t n;
    const float *v = fixture_values(fx(), key, &n);
    assert_int_equal(n, 1);
    return v[0];
}

static void stats(const cg_tensor *t, double *maxabs, double *mean, double *std) {
    const float *d = cg_tensor_cdata(t);
    int64_t n = cg_tensor_numel(t);
    double s = 0, q = 0, m = 0;
    for (int64_t i = 0; i < n; i++) { s += d[i]; q += (double)d[i] * d[i]; m = fabs(d[i]) > m ? fabs(d[i]) : m; }
    *maxabs = m;
    *mean = s / (double)n;
    *std = sqrt(q / (double)n - *mean * *mean);
}

/* A tensor of shape with its first dim scaled by k (many samples, the same fans per row... no:
 * the fans change with dim 0), so the checks use the shapes as given, k copies at a time. */
static void test_against_pytorch(void **s) {
    (void)s;
    struct { const char *name; int nd; int64_t shape[4]; } cs[] = {
        { "lin", 2, { 16, 8 } }, { "conv", 4, { 32, 4, 3, 3 } }, { "conv1d", 3, { 6, 2, 5 } },
    };
    for (int c = 0; c < 3; c++) {
        cg_tensor *t = cg_tensor_zeros(cs[c].nd, cs[c].shape);
        double mx, mean, sd;
        double b_xu = want(cs[c].name, "xavier_uniform_g1_5"), s_xn = want(cs[c].name, "xavier_normal_g1");
        double b_ku = want(cs[c].name, "kaiming_uniform_a0_2_out"), s_kn = want(cs[c].name, "kaiming_normal_relu_in");
        /* many draws of the same shape: pool their statistics */
        double pool_mx[4] = { 0 }, pool_sd[2] = { 0 }, pool_mean[2] = { 0 };
        const int R = 200;
        for (int r = 0; r < R; r++) {
            assert_int_equal(cg_init_xavier_uniform_(t, 1.5f, NULL), CG_OK);
            stats(t, &mx, &mean, &sd);
            if (mx > pool_mx[0]) pool_mx[0] = mx;
            assert_int_equal(cg_init_kaiming_uniform_(t, 0.2f, CG_FAN_OUT, "leaky_relu", NULL), CG_OK);
            stats(t, &mx, &mean, &sd);
            if (mx > pool_mx[1]) pool_mx[1] = mx;
            assert_int_equal(cg_init_xavier_normal_(t, 1.0f, NULL), CG_OK);
            stats(t, &mx, &mean, &sd);
            pool_sd[0] += sd * sd / R; pool_mean[0] += mean / R;
            assert_int_equal(cg_init_kaiming_normal_(t, 0, CG_FAN_IN, "relu", NULL), CG_OK);
            stats(t, &mx, &mean, &sd);
            pool_sd[1] += sd * sd / R; pool_mean[1] += mean / R;
        }
        if (!(pool_mx[0] <= b_xu && pool_mx[0] > 0.98 * b_xu)) fail_msg("%s xavier_uniform_: max %g, bound %g", cs[c].name, pool_mx[0], b_xu);
        if (!(pool_mx[1] <= b_ku && pool_mx[1] > 0.98 * b_ku)) fail_msg("%s kaiming_uniform_: max %g, bound %g", cs[c].name, pool_mx[1], b_ku);
        if (fabs(sqrt(pool_sd[0]) - s_xn) > 0.03 * s_xn) fail_msg("%s xavier_normal_: std %g, want %g", cs[c].name, sqrt(pool_sd[0]), s_xn);
        if (fabs(sqrt(pool_sd[1]) - s_kn) > 0.03 * s_kn) fail_msg("%s kaiming_normal_: std %g, want %g", cs[c].name, sqrt(pool_sd[1]), s_kn);
        assert_true(fabs(pool_mean[0]) < 0.05 * s_xn && fabs(pool_mean[1]) < 0.05 * s_kn);
        cg_tensor_free(t);
    }
    const char *nls[] = { "linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu" };
    for (int i = 0; i < 7; i++)
        assert_float_equal(cg_init_calculate_gain(nls[i], 0.2), want("gains", nls[i]), 1e-6);
    assert_true(isnan(cg_init_calculate_gain("gelu_typo", 0)));
}

static void test_simple_and_seeded(void **s) {
    (void)s;
    cg_tensor *a = cg_tensor_zeros(2, CG_SHAPE(50, 40)), *b = cg_tensor_zeros(2, CG_SHAPE(50, 40));
    cg_manual_seed(7);
    assert_int_equal(cg_init_uniform_(a, -0.5f, 2.0f, NULL), CG_OK);
    cg_manual_seed(7);
    assert_int_equal(cg_init_uniform_(b, -0.5f, 2.0f, NULL), CG_OK);
    assert_memory_equal(cg_tensor_cdata(a), cg_tensor_cdata(b), 2000 * sizeof(float));
    double mx, mean, sd;
    stats(a, &mx, &mean, &sd);
    assert_true(mean > 0.7 && mean < 0.8); /* (a + b) / 2 = 0.75 */
    for (int i = 0; i < 2000; i++) assert_true(cg_tensor_cdata(a)[i] >= -0.5f && cg_tensor_cdata(a)[i] < 2.0f);
    assert_int_equal(cg_init_normal_(a, 3.0f, 0.5f, NULL), CG_OK);
    stats(a, &mx, &mean, &sd);
    assert_true(fabs(mean - 3.0) < 0.05 && fabs(sd - 0.5) < 0.03);
    assert_int_equal(cg_init_constant_(a, 1.25f), CG_OK);
    assert_int_equal(cg_init_zeros_(b), CG_OK);
    for (int i = 0; i < 2000; i++) { assert_float_equal(cg_tensor_cdata(a)[i], 1.25f, 0); assert_float_equal(cg_tensor_cdata(b)[i], 0, 0); }
    assert_int_equal(cg_init_ones_(b), CG_OK);
    assert_float_equal(cg_tensor_cdata(b)[1999], 1.0f, 0);
    /* errors */
    cg_tensor *v = cg_tensor_zeros(1, CG_SHAPE(5));
    assert_int_equal(cg_init_xavier_uniform_(v, 1, NULL), CG_ESHAPE);
    assert_non_null(strstr(cg_last_error(), "2 or more dimensions"));
    assert_int_equal(cg_init_kaiming_normal_(a, 0, CG_FAN_IN, "swish", NULL), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "unknown nonlinearity 'swish'"));
    assert_int_equal(cg_init_uniform_(a, 2, 1, NULL), CG_EINVAL);
    assert_int_equal(cg_init_normal_(a, 0, -1, NULL), CG_EINVAL);
    assert_int_equal(cg_init_zeros_(NULL), CG_EINVAL);
    cg_tensor_free(a); cg_tensor_free(b); cg_tensor_free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_against_pytorch), cmocka_unit_test(test_simple_and_seeded) };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fixture_free(FX);
    return rc;
}
