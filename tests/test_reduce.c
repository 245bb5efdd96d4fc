/* SPDX-License-Identifier: MIT */
/* tests/test_reduce.c — sum, mean, sum_dim, mean_dim: values, keepdim, negative dims,
 * gradients, dim errors. */
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

static void test_all_values(void **st) {
    (void)st;
    cg_tensor *x = cg_tensor_from_array(2, CG_SHAPE(2, 3), (float[]){ 1, 2, 3, 4, 5, 6 });
    cg_tensor *s = cg_sum(x), *m = cg_mean(x);
    assert_shape(s, 0, NULL);
    assert_float_equal(cg_tensor_item(s), 21, 0);
    assert_float_equal(cg_tensor_item(m), 3.5f, 0);
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_dim_values(void **st) {
    (void)st;
    /* x = [[1,2,3],[4,5,6]] */
    cg_tensor *x = cg_tensor_from_array(2, CG_SHAPE(2, 3), (float[]){ 1, 2, 3, 4, 5, 6 });
    cg_tensor *y = cg_sum_dim(x, 0, false);
    assert_shape(y, 1, CG_SHAPE(3));
    float s0[] = { 5, 7, 9 };
    for (int i = 0; i < 3; i++) assert_float_equal(cg_tensor_cdata(y)[i], s0[i], 0);
    y = cg_sum_dim(x, -1, false);
    assert_shape(y, 1, CG_SHAPE(2));
    assert_float_equal(cg_tensor_cdata(y)[0], 6, 0);
    assert_float_equal(cg_tensor_cdata(y)[1], 15, 0);
    y = cg_sum_dim(x, 1, true);
    assert_shape(y, 2, CG_SHAPE(2, 1));
    assert_float_equal(cg_tensor_cdata(y)[1], 15, 0);
    y = cg_mean_dim(x, -2, true);
    assert_shape(y, 2, CG_SHAPE(1, 3));
    float m0[] = { 2.5f, 3.5f, 4.5f };
    for (int i = 0; i < 3; i++) assert_float_equal(cg_tensor_cdata(y)[i], m0[i], 0);
    y = cg_mean_dim(x, 1, false);
    assert_float_equal(cg_tensor_cdata(y)[0], 2, 0);
    assert_float_equal(cg_tensor_cdata(y)[1], 5, 0);
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_middle_dim_3d(void **st) {
    (void)st;
    /* x[i,j,k] = 12i + 4j + k over [2,3,4]; sum over j: 3*(12i + k) + 12 */
    cg_tensor *x = cg_tensor_arange(0, 24, 1);
    cg_tensor *y = cg_sum_dim(cg_reshape(x, 3, CG_SHAPE(2, 3, 4)), 1, true);
    assert_shape(y, 3, CG_SHAPE(2, 1, 4));
    for (int64_t i = 0; i < 2; i++)
        for (int64_t k = 0; k < 4; k++)
            assert_float_equal(cg_tensor_get(y, (int64_t[]){ i, 0, k }), (float)(3 * (12 * i + k) + 12), 0);
    cg_tape_release();
    cg_tensor_free(x);
}

typedef struct { int kind, dim; bool keepdim; } rctx;
static cg_tensor *red(cg_tensor **in, void *ctx) {
    const rctx *c = ctx;
    switch (c->kind) {
    case 0: return cg_sum(in[0]);
    case 1: return cg_mean(in[0]);
    case 2: return cg_sum_dim(in[0], c->dim, c->keepdim);
    default: return cg_mean_dim(in[0], c->dim, c->keepdim);
    }
}

static void test_grads(void **st) {
    (void)st;
    rctx cases[] = { { 0, 0, false }, { 1, 0, false }, { 2, 0, false }, { 2, 1, true }, { 2, -1, false },
                     { 3, 2, false }, { 3, -3, true }, { 3, 1, false } };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        cg_tensor *x = test_tensor(3, CG_SHAPE(2, 3, 4), -1, 1, 4, true);
        gradcheck(red, &x, 1, &cases[c], 1e-3, 1e-3, 1e-2);
        cg_tensor_free(x);
    }
}

static void test_grad_values(void **st) {
    (void)st;
    /* d mean(x) / dx = 1/n everywhere */
    cg_tensor *x = test_tensor(2, CG_SHAPE(2, 4), -1, 1, 1, true);
    assert_int_equal(cg_backward(cg_mean(x)), CG_OK);
    for (int i = 0; i < 8; i++) assert_float_equal(cg_tensor_cdata(cg_tensor_grad(x))[i], 0.125f, 0);
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_dim_errors(void **st) {
    (void)st;
    cg_tensor *x = cg_tensor_zeros(2, CG_SHAPE(2, 3));
    assert_null(cg_sum_dim(x, 2, false));
    assert_non_null(strstr(cg_last_error(), "sum"));
    assert_non_null(strstr(cg_last_error(), "out of range"));
    assert_null(cg_mean_dim(x, -3, true));
    assert_non_null(strstr(cg_last_error(), "mean"));
    cg_tensor *e = cg_tensor_zeros(2, CG_SHAPE(2, 0));
    assert_null(cg_mean_dim(e, 1, false));
    assert_non_null(strstr(cg_last_error(), "empty"));
    assert_null(cg_sum(NULL));
    assert_null(cg_mean_dim(NULL, 0, false));
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_values),
        cmocka_unit_test(test_dim_values),
        cmocka_unit_test(test_middle_dim_3d),
        cmocka_unit_test(test_grads),
        cmocka_unit_test(test_grad_values),
        cmocka_unit_test(test_dim_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
