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

/* max/min along a dim and logsumexp: gradients against central differences (distinct values,
 * so the chosen element is stable under eps), NaN and ties as PyTorch, errors. */
static cg_tensor *mm_apply(cg_tensor **in, void *ctx) {
    switch (*(int *)ctx) {
    case 0: return cg_max_dim(in[0], 1, false, NULL);
    case 1: return cg_min_dim(in[0], -1, true, NULL);
    default: return cg_logsumexp(in[0], 0, false);
    }
}
static void test_minmax_logsumexp(void **s) {
    (void)s;
    for (int k = 0; k < 3; k++) {
        cg_tensor *x = test_tensor(3, CG_SHAPE(3, 4, 5), -2, 2, 120 + (unsigned)k, true);
        gradcheck(mm_apply, &x, 1, &k, 1e-3, 1e-3, 1e-2);
        cg_tensor_free(x);
    }
    cg_tensor *x = cg_tensor_from_array(2, CG_SHAPE(2, 4), (float[]){ 1, 3, 3, 0, 2, NAN, 5, 1 });
    cg_tensor *it = NULL;
    const float *v = cg_tensor_cdata(cg_max_dim(x, 1, false, &it));
    assert_int_equal(cg_tensor_dtype(it), CG_I64);
    assert_int_equal(cg_tensor_ndim(it), 1);
    assert_int_equal(cg_tensor_size(it, 0), 2);
    const int64_t *idx = cg_tensor_cdata_i64(it);
    assert_float_equal(v[0], 3, 0);
    assert_int_equal(idx[0], 1);           /* the first of the tie */
    assert_true(isnan(v[1]));
    assert_int_equal(idx[1], 1);           /* NaN wins */
    assert_non_null(cg_min_dim(x, 1, true, &it));
    assert_int_equal(cg_tensor_ndim(it), 2);  /* keepdim: [2, 1] */
    assert_int_equal(cg_tensor_size(it, 1), 1);
    assert_int_equal(cg_tensor_cdata_i64(it)[0], 3);
    assert_int_equal(cg_tensor_cdata_i64(it)[1], 1);
    cg_tensor *am = cg_argmin(x, 1, false);
    assert_int_equal(cg_tensor_dtype(am), CG_I64);
    assert_false(cg_tensor_requires_grad(am));
    assert_int_equal(cg_tensor_cdata_i64(am)[0], 3);
    assert_int_equal(cg_tensor_cdata_i64(am)[1], 1);
    am = cg_argmax(x, 0, true);            /* [1, 4]: NaN wins in column 1 */
    assert_int_equal(cg_tensor_ndim(am), 2);
    assert_int_equal(cg_tensor_size(am, 0), 1);
    const int64_t want_am[4] = { 1, 1, 1, 1 };
    for (int i = 0; i < 4; i++) assert_int_equal(cg_tensor_cdata_i64(am)[i], want_am[i]);
    assert_null(cg_argmax(x, 2, false));
    assert_non_null(strstr(cg_last_error(), "argmax"));
    cg_tensor *xi = cg_tensor_new(CG_I64, 2, CG_SHAPE(2, 4));
    assert_null(cg_argmax(xi, 1, false));
    assert_non_null(strstr(cg_last_error(), "argmax: input is int64, expected float32"));
    it = x;  /* set to NULL on failure */
    assert_null(cg_max_dim(xi, 1, false, &it));
    assert_null(it);
    assert_non_null(strstr(cg_last_error(), "max_dim: input is int64, expected float32"));
    assert_null(cg_logsumexp(xi, 1, false));
    assert_null(cg_sum(xi));
    assert_non_null(strstr(cg_last_error(), "sum: input is int64, expected float32"));
    cg_tensor_free(xi);
    cg_tensor *z = cg_tensor_zeros(0, NULL);
    assert_null(cg_max_dim(z, 0, false, NULL));
    assert_null(cg_logsumexp(x, 2, false));
    cg_tensor *inf = cg_tensor_from_array(1, CG_SHAPE(2), (float[]){ -INFINITY, -INFINITY });
    assert_true(isinf(cg_tensor_cdata(cg_logsumexp(inf, 0, false))[0]));
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(z);
    cg_tensor_free(inf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_values),
        cmocka_unit_test(test_dim_values),
        cmocka_unit_test(test_middle_dim_3d),
        cmocka_unit_test(test_grads),
        cmocka_unit_test(test_grad_values),
        cmocka_unit_test(test_dim_errors),
        cmocka_unit_test(test_minmax_logsumexp),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
