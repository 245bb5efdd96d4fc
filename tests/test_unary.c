/* SPDX-License-Identifier: MIT */
/* tests/test_unary.c — neg, exp, log, sqrt, pow, add_scalar, mul_scalar: values, gradients,
 * NULL propagation. Inputs for log/sqrt/pow are positive, away from the pole at 0. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "gradcheck.h"

typedef struct { int which; float s; } uctx;

static cg_tensor *apply1(cg_tensor **in, void *ctx) {
    const uctx *c = ctx;
    switch (c->which) {
    case 0: return cg_neg(in[0]);
    case 1: return cg_exp(in[0]);
    case 2: return cg_log(in[0]);
    case 3: return cg_sqrt(in[0]);
    case 4: return cg_pow(in[0], c->s);
    case 5: return cg_add_scalar(in[0], c->s);
    default: return cg_mul_scalar(in[0], c->s);
    }
}

/* op(x) + x: add's backward reaches x first, so a backward that overwrites dx instead of
 * accumulating loses the + x part and fails. */
static cg_tensor *apply1_plus_x(cg_tensor **in, void *ctx) { return cg_add(apply1(in, ctx), in[0]); }

static void check(int which, float s, float lo, float hi) {
    uctx c = { which, s };
    cg_tensor *x = test_tensor(3, CG_SHAPE(2, 3, 4), lo, hi, 7, true);
    gradcheck(apply1, &x, 1, &c, 1e-3, 1e-3, 1e-2);
    gradcheck(apply1_plus_x, &x, 1, &c, 1e-3, 1e-3, 1e-2);
    cg_tensor_free(x);
}

static void test_neg_grad(void **st) { (void)st; check(0, 0, -2, 2); }
static void test_exp_grad(void **st) { (void)st; check(1, 0, -2, 2); }
static void test_log_grad(void **st) { (void)st; check(2, 0, 0.5f, 3); }
static void test_sqrt_grad(void **st) { (void)st; check(3, 0, 0.5f, 3); }
static void test_pow_grad(void **st) {
    (void)st;
    check(4, 2.0f, -2, 2);   /* the x*x fast path */
    check(4, 3.0f, -2, 2);
    check(4, 0.5f, 0.5f, 3);
    check(4, -1.5f, 0.5f, 3);
    check(4, 0.0f, 0.5f, 3);
}
static void test_add_scalar_grad(void **st) { (void)st; check(5, 2.5f, -2, 2); }
static void test_mul_scalar_grad(void **st) { (void)st; check(6, -1.5f, -2, 2); }

static void test_values(void **st) {
    (void)st;
    cg_tensor *x = cg_tensor_from_array(1, CG_SHAPE(4), (float[]){ 1, 4, 9, 0.25f });
    const float *y;
    y = cg_tensor_cdata(cg_neg(x));
    assert_float_equal(y[0], -1, 0); assert_float_equal(y[3], -0.25f, 0);
    y = cg_tensor_cdata(cg_exp(x));
    assert_float_equal(y[0], 2.7182817f, 1e-6); assert_float_equal(y[3], 1.2840254f, 1e-6);
    y = cg_tensor_cdata(cg_log(x));
    assert_float_equal(y[0], 0, 0); assert_float_equal(y[1], 1.3862944f, 1e-6);
    y = cg_tensor_cdata(cg_sqrt(x));
    assert_float_equal(y[1], 2, 0); assert_float_equal(y[2], 3, 0); assert_float_equal(y[3], 0.5f, 0);
    y = cg_tensor_cdata(cg_pow(x, 2));
    assert_float_equal(y[2], 81, 0);
    y = cg_tensor_cdata(cg_pow(x, -0.5f));
    assert_float_equal(y[1], 0.5f, 1e-7); assert_float_equal(y[3], 2, 1e-6);
    y = cg_tensor_cdata(cg_add_scalar(x, -1));
    assert_float_equal(y[1], 3, 0);
    y = cg_tensor_cdata(cg_mul_scalar(x, 3));
    assert_float_equal(y[2], 27, 0);
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_shape_kept_and_large(void **st) {
    (void)st;
    /* above CG_OMP_MIN: the parallel path gives the same numbers as the formula */
    int64_t n = 100000;
    cg_tensor *x = test_tensor(2, CG_SHAPE(n / 100, 100), -1, 1, 3, false);
    cg_tensor *y = cg_mul_scalar(cg_add_scalar(x, 1), 2);
    assert_non_null(y);
    assert_int_equal(cg_tensor_ndim(y), 2);
    assert_int_equal(cg_tensor_shape(y)[0], n / 100);
    for (int64_t i = 0; i < n; i += 997)
        assert_float_equal(cg_tensor_cdata(y)[i], (cg_tensor_cdata(x)[i] + 1) * 2, 1e-6);
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_null_propagates(void **st) {
    (void)st;
    cg_clear_error();
    assert_null(cg_exp(NULL));
    assert_null(cg_pow(NULL, 2));
    assert_null(cg_mul_scalar(NULL, 2));
    assert_string_equal(cg_last_error(), "");  /* NULL input leaves the message alone */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_neg_grad),
        cmocka_unit_test(test_exp_grad),
        cmocka_unit_test(test_log_grad),
        cmocka_unit_test(test_sqrt_grad),
        cmocka_unit_test(test_pow_grad),
        cmocka_unit_test(test_add_scalar_grad),
        cmocka_unit_test(test_mul_scalar_grad),
        cmocka_unit_test(test_shape_kept_and_large),
        cmocka_unit_test(test_null_propagates),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
