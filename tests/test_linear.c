/* SPDX-License-Identifier: MIT */
/* tests/test_linear.c — linear: values, bias/no bias, leading dims, gradients, shape errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"

static void test_values(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_from_array(2, CG_SHAPE(2, 3), (float[]){ 1, 2, 3, 4, 5, 6 });
    cg_tensor *w = cg_tensor_from_array(2, CG_SHAPE(2, 3), (float[]){ 1, 0, -1, 0.5f, 0.5f, 0.5f });
    cg_tensor *b = cg_tensor_from_array(1, CG_SHAPE(2), (float[]){ 10, 20 });
    cg_tensor *y = cg_linear(x, w, b);
    assert_non_null(y);
    assert_int_equal(cg_tensor_shape(y)[0], 2);
    assert_int_equal(cg_tensor_shape(y)[1], 2);
    float want[4] = { 8, 23, 8, 27.5f };
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_data(y)[i], want[i], 1e-6);
    y = cg_linear(x, w, NULL);
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_data(y)[i], want[i] - (i % 2 ? 20 : 10), 1e-6);
    /* leading dims: [2,1,3] -> [2,1,2] */
    cg_tensor *x3 = cg_tensor_from_array(3, CG_SHAPE(2, 1, 3), (float[]){ 1, 2, 3, 4, 5, 6 });
    y = cg_linear(x3, w, b);
    assert_int_equal(cg_tensor_ndim(y), 3);
    assert_float_equal(cg_tensor_data(y)[3], 27.5f, 1e-6);
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(b); cg_tensor_free(x3);
}

static cg_tensor *lin_fn(cg_tensor **in, void *ctx) { return cg_linear(in[0], in[1], ctx ? in[2] : NULL); }

static void test_gradcheck(void **s) {
    (void)s;
    for (int bias = 0; bias < 2; bias++) {
        cg_tensor *in[3] = { test_tensor(2, CG_SHAPE(5, 4), -1, 1, 1, true),
                             test_tensor(2, CG_SHAPE(3, 4), -1, 1, 2, true),
                             test_tensor(1, CG_SHAPE(3), -1, 1, 3, true) };
        gradcheck(lin_fn, in, bias ? 3 : 2, bias ? (void *)1 : NULL, 1e-2, 1e-3, 1e-2);
        for (int i = 0; i < 3; i++) cg_tensor_free(in[i]);
    }
    /* only w needs grad */
    cg_tensor *in[3] = { test_tensor(2, CG_SHAPE(5, 4), -1, 1, 4, false),
                         test_tensor(2, CG_SHAPE(3, 4), -1, 1, 5, true),
                         test_tensor(1, CG_SHAPE(3), -1, 1, 6, false) };
    gradcheck(lin_fn, in, 3, (void *)1, 1e-2, 1e-3, 1e-2);
    for (int i = 0; i < 3; i++) cg_tensor_free(in[i]);
}

static void test_errors(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_zeros(2, CG_SHAPE(2, 3)), *w = cg_tensor_zeros(2, CG_SHAPE(4, 5));
    cg_tensor *w3 = cg_tensor_zeros(3, CG_SHAPE(1, 4, 3)), *w43 = cg_tensor_zeros(2, CG_SHAPE(4, 3));
    cg_tensor *b = cg_tensor_zeros(1, CG_SHAPE(3));
    assert_null(cg_linear(x, w, NULL));
    assert_non_null(strstr(cg_last_error(), "in-features 5"));
    assert_null(cg_linear(x, w3, NULL));
    assert_non_null(strstr(cg_last_error(), "2-d"));
    assert_null(cg_linear(x, w43, b));
    assert_non_null(strstr(cg_last_error(), "bias must be [4]"));
    assert_null(cg_linear(NULL, w43, NULL));
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(w3); cg_tensor_free(w43); cg_tensor_free(b);
}


static cg_tensor *lin3(cg_tensor **in) { return cg_linear(in[0], in[1], in[2]); }
static void test_grads_accumulate(void **s) {
    (void)s;
    cg_tensor *in[3] = { test_tensor(2, CG_SHAPE(5, 4), -1, 1, 1, true), test_tensor(2, CG_SHAPE(3, 4), -1, 1, 2, true),
                         test_tensor(1, CG_SHAPE(3), -1, 1, 3, true) };
    check_accumulates(in, 3, lin3);
    for (int i = 0; i < 3; i++) cg_tensor_free(in[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_grads_accumulate),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
