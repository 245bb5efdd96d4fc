/* SPDX-License-Identifier: MIT */
/* tests/test_tensor.c — constructors, shape queries, element access, item, print, RNG. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"

static void test_constructors(void **s) {
    (void)s;
    cg_tensor *z = cg_tensor_zeros(2, CG_SHAPE(2, 3)), *o = cg_tensor_ones(1, CG_SHAPE(4));
    cg_tensor *f = cg_tensor_full(3, CG_SHAPE(1, 2, 2), -1.5f);
    assert_int_equal(cg_tensor_numel(z), 6);
    assert_int_equal(cg_tensor_ndim(f), 3);
    assert_int_equal(cg_tensor_size(f, -1), 2);
    for (int i = 0; i < 6; i++) assert_float_equal(cg_tensor_data(z)[i], 0, 0);
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_data(o)[i], 1, 0);
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_data(f)[i], -1.5f, 0);
    cg_tensor *a = cg_tensor_arange(0.0f, 1.0f, 0.25f);   /* torch.arange(0, 1, 0.25): 4 values */
    assert_int_equal(cg_tensor_numel(a), 4);
    assert_float_equal(cg_tensor_data(a)[3], 0.75f, 0);
    assert_null(cg_tensor_arange(0, 1, 0));
    float buf[6] = { 1, 2, 3, 4, 5, 6 };
    cg_tensor *c = cg_tensor_from_array(2, CG_SHAPE(3, 2), buf);
    cg_tensor *w = cg_tensor_wrap(buf, 2, CG_SHAPE(2, 3));
    buf[0] = 42;                                          /* wrap borrows, from_array copies */
    assert_float_equal(cg_tensor_data(c)[0], 1, 0);
    assert_float_equal(cg_tensor_data(w)[0], 42, 0);
    assert_float_equal(cg_tensor_get(c, CG_SHAPE(2, 1)), 6, 0);
    assert_int_equal(cg_tensor_set(c, CG_SHAPE(0, 1), 9), CG_OK);
    assert_float_equal(cg_tensor_data(c)[1], 9, 0);
    assert_true(isnan(cg_tensor_get(c, CG_SHAPE(3, 0))));
    assert_int_equal(cg_tensor_set(c, CG_SHAPE(0, 2), 1), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "out of range"));
    cg_tensor *cl = cg_tensor_clone(c);
    assert_true(cg_tensor_same_shape(cl, c));
    assert_memory_equal(cg_tensor_data(cl), cg_tensor_data(c), 6 * sizeof(float));
    cg_tensor *t[] = { z, o, f, a, c, w, cl };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) cg_tensor_free(t[i]);
    cg_tensor_free(NULL);
}

static void test_bad_shapes(void **s) {
    (void)s;
    assert_null(cg_tensor_zeros(9, CG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1, 1)));
    assert_non_null(strstr(cg_last_error(), "ndim"));
    assert_null(cg_tensor_zeros(2, CG_SHAPE(2, -1)));
    assert_non_null(strstr(cg_last_error(), "negative"));
    assert_null(cg_tensor_zeros(3, CG_SHAPE(INT64_C(1) << 40, INT64_C(1) << 40, 16)));  /* no huge allocation */
    assert_null(cg_tensor_wrap(NULL, 1, CG_SHAPE(3)));
}

static void test_item(void **s) {
    (void)s;
    cg_tensor *one = cg_tensor_full(0, NULL, 3.25f), *two = cg_tensor_zeros(1, CG_SHAPE(2));
    assert_float_equal(cg_tensor_item(one), 3.25f, 0);
    assert_true(isnan(cg_tensor_item(two)));
    assert_non_null(strstr(cg_last_error(), "2 elements"));
    cg_tensor_free(one);
    cg_tensor_free(two);
}

static void test_print(void **s) {
    (void)s;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cg_tensor *t = cg_tensor_from_array(2, CG_SHAPE(2, 2), (float[]){ 1, 2, 3, 4 });
    cg_tensor_fprint(f, t);
    cg_tensor *big = cg_tensor_arange(0, 20, 1);
    cg_tensor_fprint(f, big);
    fclose(f);
    assert_non_null(strstr(buf, "[[1.0000, 2.0000],"));
    assert_non_null(strstr(buf, "shape=[2, 2]"));
    assert_non_null(strstr(buf, "2.0000, ..."));   /* the middle of a long dim is elided */
    assert_non_null(strstr(buf, "19.0000]"));
    free(buf);
    cg_tensor_free(t);
    cg_tensor_free(big);
}

static void test_rng_reproducible_and_thread_independent(void **s) {
    (void)s;
    const int64_t n = 200000;  /* above the OpenMP threshold */
    cg_manual_seed(7);
    cg_tensor *a = cg_tensor_randn(1, &n, NULL);
    cg_manual_seed(7);
    int prev = omp_get_max_threads();
    omp_set_num_threads(1);
    cg_tensor *b = cg_tensor_randn(1, &n, NULL);
    omp_set_num_threads(prev);
    assert_memory_equal(cg_tensor_data(a), cg_tensor_data(b), (size_t)n * sizeof(float));
    cg_tensor *c = cg_tensor_randn(1, &n, NULL);  /* the stream moves on */
    assert_memory_not_equal(cg_tensor_data(a), cg_tensor_data(c), (size_t)n * sizeof(float));
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++) mean += cg_tensor_data(a)[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) var += pow(cg_tensor_data(a)[i] - mean, 2);
    var /= (double)n;
    assert_true(fabs(mean) < 0.01 && fabs(var - 1) < 0.02);
    cg_tensor *u = cg_tensor_rand(1, &n, NULL);
    double um = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = cg_tensor_data(u)[i];
        assert_true(v >= 0.0f && v < 1.0f);
        um += v;
    }
    assert_true(fabs(um / (double)n - 0.5) < 0.01);
    cg_rng_state st = cg_rng_get_state();                 /* state round trip */
    cg_tensor *d1 = cg_tensor_rand(1, CG_SHAPE(5), NULL);
    cg_rng_set_state(st);
    cg_tensor *d2 = cg_tensor_rand(1, CG_SHAPE(5), NULL);
    assert_memory_equal(cg_tensor_data(d1), cg_tensor_data(d2), 5 * sizeof(float));
    cg_tensor *t[] = { a, b, c, u, d1, d2 };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) cg_tensor_free(t[i]);
}

static void test_inplace_and_status(void **s) {
    (void)s;
    cg_tensor *y = cg_tensor_ones(1, CG_SHAPE(3)), *x = cg_tensor_full(1, CG_SHAPE(3), 2.0f);
    assert_int_equal(cg_tensor_axpy_(y, 0.5f, x), CG_OK);
    assert_float_equal(cg_tensor_data(y)[2], 2.0f, 0);
    assert_int_equal(cg_tensor_scale_(y, 2.0f), CG_OK);
    assert_float_equal(cg_tensor_data(y)[0], 4.0f, 0);
    cg_tensor *z = cg_tensor_zeros(1, CG_SHAPE(4));
    assert_int_equal(cg_tensor_copy_(z, y), CG_ESHAPE);
    assert_string_equal(cg_strerror(CG_ESHAPE), "shape mismatch");
    assert_non_null(cg_version());
    assert_int_equal(strchr(cg_version(), '.') != NULL, 1);
    cg_tensor_free(x); cg_tensor_free(y); cg_tensor_free(z);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constructors),
        cmocka_unit_test(test_bad_shapes),
        cmocka_unit_test(test_item),
        cmocka_unit_test(test_print),
        cmocka_unit_test(test_rng_reproducible_and_thread_independent),
        cmocka_unit_test(test_inplace_and_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
