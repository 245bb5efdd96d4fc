/* SPDX-License-Identifier: MIT */
/* tests/test_view.c — reshape and flatten: shapes, -1 inference, data sharing, gradients,
 * errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "gradcheck.h"

static void assert_shape(const cg_tensor *t, int nd, const int64_t *s) {
    assert_non_null(t);
    assert_int_equal(cg_tensor_ndim(t), nd);
    for (int i = 0; i < nd; i++) assert_int_equal(cg_tensor_shape(t)[i], s[i]);
}

static void test_reshape_shapes(void **st) {
    (void)st;
    cg_tensor *x = cg_tensor_arange(0, 24, 1);
    assert_shape(cg_reshape(x, 3, CG_SHAPE(2, 3, 4)), 3, CG_SHAPE(2, 3, 4));
    assert_shape(cg_reshape(x, 2, CG_SHAPE(-1, 6)), 2, CG_SHAPE(4, 6));
    assert_shape(cg_reshape(x, 3, CG_SHAPE(2, -1, 3)), 3, CG_SHAPE(2, 4, 3));
    assert_shape(cg_reshape(x, 1, CG_SHAPE(-1)), 1, CG_SHAPE(24));
    cg_tensor *y = cg_reshape(x, 2, CG_SHAPE(4, 6));
    assert_float_equal(cg_tensor_get(y, (int64_t[]){ 2, 3 }), 15, 0);
    /* a view: it shares x's data */
    assert_ptr_equal(cg_tensor_cdata(y), cg_tensor_cdata(x));
    cg_tensor *one = cg_tensor_full(1, CG_SHAPE(1), 5);
    assert_shape(cg_reshape(one, 0, NULL), 0, NULL);
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(one);
}

static void test_reshape_errors(void **st) {
    (void)st;
    cg_tensor *x = cg_tensor_zeros(2, CG_SHAPE(4, 6));
    assert_null(cg_reshape(x, 2, CG_SHAPE(5, 5)));
    assert_non_null(strstr(cg_last_error(), "reshape"));
    assert_non_null(strstr(cg_last_error(), "24 elements"));
    assert_null(cg_reshape(x, 3, CG_SHAPE(-1, -1, 2)));
    assert_non_null(strstr(cg_last_error(), "only one dim may be -1"));
    assert_null(cg_reshape(x, 2, CG_SHAPE(-1, 5)));
    assert_non_null(strstr(cg_last_error(), "cannot infer"));
    assert_null(cg_reshape(x, 2, CG_SHAPE(-2, 12)));
    assert_non_null(strstr(cg_last_error(), "invalid size"));
    assert_null(cg_reshape(x, 9, CG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1, 24)));
    assert_null(cg_reshape(NULL, 1, CG_SHAPE(1)));
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_flatten_shapes(void **st) {
    (void)st;
    cg_tensor *x = cg_tensor_zeros(4, CG_SHAPE(2, 3, 4, 5));
    assert_shape(cg_flatten(x, 0, -1), 1, CG_SHAPE(120));
    assert_shape(cg_flatten(x, 1, -1), 2, CG_SHAPE(2, 60));
    assert_shape(cg_flatten(x, 1, 2), 3, CG_SHAPE(2, 12, 5));
    assert_shape(cg_flatten(x, -2, -1), 3, CG_SHAPE(2, 3, 20));
    assert_shape(cg_flatten(x, 2, 2), 4, CG_SHAPE(2, 3, 4, 5));
    cg_tensor *s = cg_tensor_full(0, NULL, 3);
    assert_shape(cg_flatten(s, 0, -1), 1, CG_SHAPE(1));
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(s);
}

static void test_flatten_errors(void **st) {
    (void)st;
    cg_tensor *x = cg_tensor_zeros(3, CG_SHAPE(2, 3, 4));
    assert_null(cg_flatten(x, 2, 1));
    assert_non_null(strstr(cg_last_error(), "flatten"));
    assert_non_null(strstr(cg_last_error(), "after end_dim"));
    assert_null(cg_flatten(x, 0, 3));
    assert_non_null(strstr(cg_last_error(), "out of range"));
    assert_null(cg_flatten(x, -4, 1));
    assert_null(cg_flatten(NULL, 0, -1));
    cg_tape_release();
    cg_tensor_free(x);
}

/* The view feeds an op that makes the gradient non-uniform (mul by a fixed tensor inside
 * gradcheck), and a transpose after reshape catches a backward that ignores the layout. */
static cg_tensor *reshape_then_transpose(cg_tensor **in, void *ctx) {
    (void)ctx;
    return cg_transpose(cg_reshape(in[0], 3, CG_SHAPE(3, -1, 2)), 0, 2);
}
static cg_tensor *flatten_then_exp(cg_tensor **in, void *ctx) {
    (void)ctx;
    return cg_exp(cg_flatten(in[0], 1, -1));
}
static cg_tensor *reshape_only(cg_tensor **in, void *ctx) { (void)ctx; return cg_reshape(in[0], 2, CG_SHAPE(6, 4)); }
/* x reaches the output twice; mul's backward runs first, so a view backward that overwrites
 * dx instead of accumulating fails. */
static cg_tensor *reshape_times_x(cg_tensor **in, void *ctx) { (void)ctx; return cg_mul(cg_reshape(in[0], 2, CG_SHAPE(4, -1)), in[0]); }
static cg_tensor *flatten_times_x(cg_tensor **in, void *ctx) { (void)ctx; return cg_mul(cg_flatten(in[0], 1, 1), in[0]); }

static void test_grads(void **st) {
    (void)st;
    cg_tensor *x = test_tensor(2, CG_SHAPE(4, 6), -1, 1, 3, true);
    gradcheck(reshape_then_transpose, &x, 1, NULL, 1e-3, 1e-3, 1e-2);
    gradcheck(flatten_then_exp, &x, 1, NULL, 1e-3, 1e-3, 1e-2);
    gradcheck(reshape_only, &x, 1, NULL, 1e-3, 1e-3, 1e-2);
    gradcheck(reshape_times_x, &x, 1, NULL, 1e-3, 1e-3, 1e-2);
    gradcheck(flatten_times_x, &x, 1, NULL, 1e-3, 1e-3, 1e-2);
    cg_tensor_free(x);
}

static void test_view_of_op_result_backward(void **st) {
    (void)st;
    /* y = reshape(x*2) ; d sum(y*y) / dx = 8x */
    cg_tensor *x = test_tensor(2, CG_SHAPE(2, 3), -1, 1, 9, true);
    cg_tensor *y = cg_reshape(cg_mul_scalar(x, 2), 1, CG_SHAPE(-1));
    assert_int_equal(cg_backward(cg_sum(cg_mul(y, y))), CG_OK);
    for (int i = 0; i < 6; i++)
        assert_float_equal(cg_tensor_cdata(cg_tensor_grad(x))[i], 8 * cg_tensor_cdata(x)[i], 1e-5);
    cg_tape_release();
    cg_tensor_free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reshape_shapes),
        cmocka_unit_test(test_reshape_errors),
        cmocka_unit_test(test_flatten_shapes),
        cmocka_unit_test(test_flatten_errors),
        cmocka_unit_test(test_grads),
        cmocka_unit_test(test_view_of_op_result_backward),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
