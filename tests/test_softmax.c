/* SPDX-License-Identifier: MIT */
/* tests/test_softmax.c — softmax / log_softmax: values vs PyTorch, stability, any dim, gradients. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "gradcheck.h"

static void test_values(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_from_array(2, CG_SHAPE(2, 3), (float[]){ 1, 2, 3, 1, -1, 0.5f });
    cg_tensor *y = cg_softmax(x, 1);
    assert_non_null(y);
    /* torch.softmax(x, 1) */
    float want[6] = { 0.09003057f, 0.24472848f, 0.66524094f, 0.57409698f, 0.07769558f, 0.34820741f };
    for (int i = 0; i < 6; i++) assert_float_equal(cg_tensor_data(y)[i], want[i], 1e-6);
    y = cg_log_softmax(x, 0);
    assert_non_null(y);
    /* torch.log_softmax(x, 0) */
    float want0[6] = { -0.69314718f, -0.04858733f, -0.07888975f, -0.69314718f, -3.04858732f, -2.57888985f };
    for (int i = 0; i < 6; i++) assert_float_equal(cg_tensor_data(y)[i], want0[i], 1e-6);
    y = cg_log_softmax(x, -1);  /* negative dim */
    assert_non_null(y);
    assert_float_equal(expf(cg_tensor_data(y)[2]), want[2], 1e-6);
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_stable_for_large_inputs(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_from_array(1, CG_SHAPE(3), (float[]){ 1000, 1001, 999 });
    cg_tensor *y = cg_softmax(x, 0), *ly = cg_log_softmax(x, 0);
    assert_non_null(y);
    for (int i = 0; i < 3; i++) {
        assert_false(isnan(cg_tensor_data(y)[i]));
        assert_float_equal(logf(cg_tensor_data(y)[i]), cg_tensor_data(ly)[i], 1e-5);
    }
    assert_float_equal(cg_tensor_data(ly)[1], -0.40760596f, 1e-5);
    cg_tape_release();
    cg_tensor_free(x);
}

static cg_tensor *sm_fn(cg_tensor **in, void *ctx) { return cg_softmax(in[0], *(int *)ctx); }
static cg_tensor *lsm_fn(cg_tensor **in, void *ctx) { return cg_log_softmax(in[0], *(int *)ctx); }

static void test_gradcheck(void **s) {
    (void)s;
    for (int dim = -3; dim < 3; dim++) {
        cg_tensor *x = test_tensor(3, CG_SHAPE(2, 3, 4), -2, 2, 5 + dim, true);
        gradcheck(sm_fn, &x, 1, &dim, 1e-3, 1e-3, 1e-2);
        gradcheck(lsm_fn, &x, 1, &dim, 1e-3, 1e-3, 1e-2);
        cg_tensor_free(x);
    }
}

static void test_errors(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_zeros(2, CG_SHAPE(2, 3));
    assert_null(cg_softmax(x, 2));
    assert_non_null(strstr(cg_last_error(), "softmax"));
    assert_null(cg_log_softmax(x, -3));
    assert_null(cg_softmax(NULL, 0));
    cg_tensor_free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_stable_for_large_inputs),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
