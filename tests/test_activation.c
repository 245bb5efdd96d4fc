/* SPDX-License-Identifier: MIT */
/* tests/test_activation.c — relu, leaky_relu, sigmoid, tanh, gelu (both), silu, hardswish,
 * softplus, clamp, hardtanh, relu6, abs: values, gradients against central differences (inputs
 * kept at least 0.05 from every kink), saturation without overflow, NaN, bad arguments. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "gradcheck.h"

typedef struct { int which; float slope, b; } actx;

static cg_tensor *apply1(cg_tensor **in, void *ctx) {
    const actx *c = ctx;
    switch (c->which) {
    case 0: return cg_relu(in[0]);
    case 1: return cg_leaky_relu(in[0], c->slope);
    case 2: return cg_sigmoid(in[0]);
    case 3: return cg_tanh(in[0]);
    case 4: return cg_gelu(in[0], false);
    case 5: return cg_gelu(in[0], true);
    case 6: return cg_silu(in[0]);
    case 7: return cg_hardswish(in[0]);
    case 8: return cg_softplus(in[0], c->slope, c->b);
    case 9: return cg_clamp(in[0], c->slope, c->b);
    case 10: return cg_hardtanh(in[0], c->slope, c->b);
    case 11: return cg_relu6(in[0]);
    default: return cg_abs(in[0]);
    }
}

/* Values in [lo, hi] kept 0.05 or more from each kink in kinks[0..nk): central differences
 * straddling one would see the kink. */
static cg_tensor *away_from(float lo, float hi, const float *kinks, int nk, unsigned salt) {
    cg_tensor *x = test_tensor(2, CG_SHAPE(5, 7), lo, hi, salt, true);
    float *d = cg_tensor_data(x);
    for (int64_t i = 0; i < cg_tensor_numel(x); i++)
        for (int k = 0; k < nk; k++) {
            float e = d[i] - kinks[k];
            if (fabsf(e) < 0.05f) d[i] = kinks[k] + (e < 0 ? -0.05f + e : 0.05f + e);
        }
    return x;
}
static cg_tensor *away_from_kink(unsigned salt) { return away_from(-2, 2, (const float[]){ 0 }, 1, salt); }

/* act(x) + x: catches a backward that overwrites dx instead of accumulating. */
static cg_tensor *apply1_plus_x(cg_tensor **in, void *ctx) { return cg_add(apply1(in, ctx), in[0]); }

static void check_on(int which, float slope, float b, cg_tensor *x) {
    actx c = { which, slope, b };
    gradcheck(apply1, &x, 1, &c, 1e-3, 1e-3, 1e-2);
    gradcheck(apply1_plus_x, &x, 1, &c, 1e-3, 1e-3, 1e-2);
    cg_tensor_free(x);
}

static void check(int which, float slope) {
    actx c = { which, slope, 0 };
    cg_tensor *x = away_from_kink(11);
    gradcheck(apply1, &x, 1, &c, 1e-3, 1e-3, 1e-2);
    gradcheck(apply1_plus_x, &x, 1, &c, 1e-3, 1e-3, 1e-2);
    cg_tensor_free(x);
}

static void test_relu_grad(void **st) { (void)st; check(0, 0); }
static void test_leaky_relu_grad(void **st) { (void)st; check(1, 0.01f); check(1, 0.3f); }
static void test_sigmoid_grad(void **st) { (void)st; check(2, 0); }
static void test_tanh_grad(void **st) { (void)st; check(3, 0); }
static void test_gelu_grad(void **st) {
    (void)st;
    check_on(4, 0, 0, test_tensor(2, CG_SHAPE(5, 7), -4, 4, 21, true));
    check_on(5, 0, 0, test_tensor(2, CG_SHAPE(5, 7), -4, 4, 22, true));
}
static void test_silu_grad(void **st) { (void)st; check_on(6, 0, 0, test_tensor(2, CG_SHAPE(5, 7), -6, 6, 23, true)); }
static void test_hardswish_grad(void **st) {
    (void)st;
    check_on(7, 0, 0, away_from(-5, 5, (const float[]){ -3, 3 }, 2, 24));
}
static void test_softplus_grad(void **st) {
    (void)st;
    check_on(8, 1, 20, test_tensor(2, CG_SHAPE(5, 7), -25, 25, 25, true));
    check_on(8, 2, 3, away_from(-3, 3, (const float[]){ 1.5f }, 1, 26)); /* beta*x > 3 above 1.5 */
}
static void test_bounded_grad(void **st) {
    (void)st;
    const float b[2] = { -0.5f, 0.7f };
    check_on(9, b[0], b[1], away_from(-2, 2, b, 2, 27));
    check_on(10, b[0], b[1], away_from(-2, 2, b, 2, 28));
    check_on(11, 0, 0, away_from(-2, 8, (const float[]){ 0, 6 }, 2, 29));
    check_on(12, 0, 0, away_from(-2, 2, (const float[]){ 0 }, 1, 30));
}

/* At the kinks the gradient is PyTorch's: clamp passes it at its bounds, hardtanh (relu6) does
 * not; hardswish's is x/3 + 1/2 at -3 and 3; abs's is 0 at 0. NaN passes through every forward. */
static void test_kinks_and_nan(void **st) {
    (void)st;
    const float xs[] = { -0.5f, 0.7f, 0.0f, 6.0f, -3.0f, 3.0f, NAN };
    cg_tensor *x = cg_tensor_from_array(1, CG_SHAPE(7), xs);
    cg_tensor_set_requires_grad(x, true);
    struct { int which; float a, b; float want[6]; } cs[] = {
        { 9, -0.5f, 0.7f, { 1, 1, 1, 0, 0, 0 } },
        { 10, -0.5f, 0.7f, { 0, 0, 1, 0, 0, 0 } },
        { 11, 0, 0, { 0, 1, 0, 0, 0, 1 } },
        { 7, 0, 0, { 1.0f / 3, 0.7f / 3 + 0.5f, 0.5f, 1, -0.5f, 1.5f } },
        { 12, 0, 0, { -1, 1, 0, 1, -1, 1 } },
    };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        actx c = { cs[k].which, cs[k].a, cs[k].b };
        cg_tensor *y = apply1(&x, &c);
        assert_non_null(y);
        assert_true(isnan(cg_tensor_cdata(y)[6]));
        cg_tensor_zero_grad(x);
        assert_int_equal(cg_backward(cg_sum(y)), CG_OK);
        for (int i = 0; i < 6; i++)
            if (fabsf(cg_tensor_cdata(cg_tensor_grad(x))[i] - cs[k].want[i]) > 1e-6f)
                fail_msg("kind %d at x = %g: grad %g, want %g", cs[k].which, (double)xs[i],
                         (double)cg_tensor_cdata(cg_tensor_grad(x))[i], (double)cs[k].want[i]);
        cg_tape_release();
    }
    const int nan_kinds[] = { 4, 5, 6, 8 };
    for (int k = 0; k < 4; k++) {
        actx c = { nan_kinds[k], 1, 20 };
        assert_true(isnan(cg_tensor_cdata(apply1(&x, &c))[6]));
    }
    cg_tape_release();
    cg_tensor_free(x);
    /* bad arguments */
    cg_tensor *z = cg_tensor_zeros(1, CG_SHAPE(3));
    assert_null(cg_softplus(z, 0, 20));
    assert_non_null(strstr(cg_last_error(), "beta"));
    assert_null(cg_clamp(z, 1, -1));
    assert_non_null(strstr(cg_last_error(), "clamp"));
    assert_null(cg_hardtanh(z, NAN, 1));
    assert_null(cg_softplus_new(-1, 20));
    assert_null(cg_hardtanh_new(2, 1));
    cg_tensor_free(z);
}

static void test_values(void **st) {
    (void)st;
    cg_tensor *x = cg_tensor_from_array(1, CG_SHAPE(5), (float[]){ -2, -0.5f, 0, 0.5f, 3 });
    const float *y;
    y = cg_tensor_cdata(cg_relu(x));
    float relu[] = { 0, 0, 0, 0.5f, 3 };
    for (int i = 0; i < 5; i++) assert_float_equal(y[i], relu[i], 0);
    y = cg_tensor_cdata(cg_leaky_relu(x, 0.1f));
    float leaky[] = { -0.2f, -0.05f, 0, 0.5f, 3 };
    for (int i = 0; i < 5; i++) assert_float_equal(y[i], leaky[i], 1e-7);
    y = cg_tensor_cdata(cg_sigmoid(x));
    float sig[] = { 0.11920292f, 0.37754067f, 0.5f, 0.62245933f, 0.95257413f };
    for (int i = 0; i < 5; i++) assert_float_equal(y[i], sig[i], 1e-6);
    y = cg_tensor_cdata(cg_tanh(x));
    float th[] = { -0.96402758f, -0.46211716f, 0, 0.46211716f, 0.99505475f };
    for (int i = 0; i < 5; i++) assert_float_equal(y[i], th[i], 1e-6);
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_relu_grad_values(void **st) {
    (void)st;
    /* d/dx sum(relu(x)) is 1 where x > 0, 0 elsewhere (0 at the kink, as PyTorch) */
    cg_tensor *x = cg_tensor_from_array(1, CG_SHAPE(4), (float[]){ -1, 0, 0.5f, 2 });
    cg_tensor_set_requires_grad(x, true);
    assert_int_equal(cg_backward(cg_sum(cg_relu(x))), CG_OK);
    float want[] = { 0, 0, 1, 1 };
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_cdata(cg_tensor_grad(x))[i], want[i], 0);
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_sigmoid_saturates(void **st) {
    (void)st;
    cg_tensor *x = cg_tensor_from_array(1, CG_SHAPE(2), (float[]){ -200, 200 });
    const float *y = cg_tensor_cdata(cg_sigmoid(x));
    assert_true(isfinite(y[0]) && isfinite(y[1]));
    assert_float_equal(y[0], 0, 1e-30);
    assert_float_equal(y[1], 1, 0);
    cg_tape_release();
    cg_tensor_free(x);
}

/* NaN as PyTorch: relu(NaN) = leaky_relu(NaN) = NaN (relu gave 0); relu's grad at NaN is 0
 * (NaN > 0 is false) and leaky_relu's the slope. Small (serial) and large (parallel) tensors. */
static void test_nan_like_pytorch(void **st) {
    (void)st;
    const int64_t sizes[] = { 5, 70001 };
    for (int k = 0; k < 2; k++) {
        int64_t n = sizes[k];
        cg_tensor *x = cg_tensor_zeros(1, CG_SHAPE(n));
        float *xd = cg_tensor_data(x);
        for (int64_t i = 0; i < n; i++) xd[i] = (float)(i % 5) - 2.0f;  /* -2 -1 0 1 2 */
        for (int64_t i = 0; i < n; i += 5) xd[i] = NAN;
        cg_tensor_set_requires_grad(x, true);
        cg_tensor *r = cg_relu(x), *l = cg_leaky_relu(x, 0.1f);
        assert_non_null(r);
        assert_non_null(l);
        for (int64_t i = 0; i < n; i++) {
            float v = xd[i];
            if (isnan(v)) {
                assert_true(isnan(cg_tensor_cdata(r)[i]));
                assert_true(isnan(cg_tensor_cdata(l)[i]));
            } else {
                assert_float_equal(cg_tensor_cdata(r)[i], v > 0 ? v : 0, 0);
                assert_float_equal(cg_tensor_cdata(l)[i], v > 0 ? v : 0.1f * v, 1e-7);
            }
        }
        assert_int_equal(cg_backward(cg_sum(r)), CG_OK);
        for (int64_t i = 0; i < n; i++)
            assert_float_equal(cg_tensor_cdata(cg_tensor_grad(x))[i], xd[i] > 0 ? 1 : 0, 0);
        cg_tensor_zero_grad(x);
        assert_int_equal(cg_backward(cg_sum(l)), CG_OK);
        for (int64_t i = 0; i < n; i++)
            assert_float_equal(cg_tensor_cdata(cg_tensor_grad(x))[i], xd[i] > 0 ? 1 : 0.1f, 1e-7);
        cg_tape_release();
        cg_tensor_free(x);
    }
}

static void test_null_propagates(void **st) {
    (void)st;
    assert_null(cg_relu(NULL));
    assert_null(cg_leaky_relu(NULL, 0.1f));
    assert_null(cg_sigmoid(NULL));
    assert_null(cg_tanh(NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_relu_grad),
        cmocka_unit_test(test_leaky_relu_grad),
        cmocka_unit_test(test_sigmoid_grad),
        cmocka_unit_test(test_tanh_grad),
        cmocka_unit_test(test_gelu_grad),
        cmocka_unit_test(test_silu_grad),
        cmocka_unit_test(test_hardswish_grad),
        cmocka_unit_test(test_softplus_grad),
        cmocka_unit_test(test_bounded_grad),
        cmocka_unit_test(test_kinks_and_nan),
        cmocka_unit_test(test_relu_grad_values),
        cmocka_unit_test(test_sigmoid_saturates),
        cmocka_unit_test(test_nan_like_pytorch),
        cmocka_unit_test(test_null_propagates),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
