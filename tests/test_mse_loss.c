/* SPDX-License-Identifier: MIT */
/* tests/test_mse_loss.c — mse_loss with mean/sum/none: values, gradients to pred (and to
 * target when it requires grad), errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "gradcheck.h"

static cg_tensor *mse(cg_tensor **in, void *ctx) { return cg_mse_loss(in[0], in[1], *(cg_reduction *)ctx); }

static void test_values(void **st) {
    (void)st;
    /* diffs 1, -2, 0.5, 3 -> squares 1, 4, 0.25, 9: sum 14.25, mean 3.5625 */
    cg_tensor *p = cg_tensor_from_array(2, CG_SHAPE(2, 2), (float[]){ 2, 0, 1.5f, 4 });
    cg_tensor *t = cg_tensor_from_array(2, CG_SHAPE(2, 2), (float[]){ 1, 2, 1, 1 });
    cg_tensor *m = cg_mse_loss(p, t, CG_REDUCTION_MEAN);
    assert_non_null(m);
    assert_int_equal(cg_tensor_ndim(m), 0);
    assert_float_equal(cg_tensor_item(m), 3.5625f, 0);
    assert_float_equal(cg_tensor_item(cg_mse_loss(p, t, CG_REDUCTION_SUM)), 14.25f, 0);
    cg_tensor *n = cg_mse_loss(p, t, CG_REDUCTION_NONE);
    assert_int_equal(cg_tensor_ndim(n), 2);
    float want[] = { 1, 4, 0.25f, 9 };
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_cdata(n)[i], want[i], 0);
    cg_tape_release();
    cg_tensor_free(p);
    cg_tensor_free(t);
}

static void test_grad_values(void **st) {
    (void)st;
    /* mean: dpred = 2 (p - t) / n = [0.5, -1, 0.25, 1.5]; target gets no grad by default */
    cg_tensor *p = cg_tensor_from_array(1, CG_SHAPE(4), (float[]){ 2, 0, 1.5f, 4 });
    cg_tensor *t = cg_tensor_from_array(1, CG_SHAPE(4), (float[]){ 1, 2, 1, 1 });
    cg_tensor_set_requires_grad(p, true);
    assert_int_equal(cg_backward(cg_mse_loss(p, t, CG_REDUCTION_MEAN)), CG_OK);
    float want[] = { 0.5f, -1, 0.25f, 1.5f };
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_cdata(cg_tensor_grad(p))[i], want[i], 0);
    assert_null(cg_tensor_grad(t));
    cg_tape_release();
    cg_tensor_free(p);
    cg_tensor_free(t);
}

static void check(cg_reduction r, bool target_grad) {
    cg_tensor *in[2] = { test_tensor(2, CG_SHAPE(3, 5), -1, 1, 1, true),
                         test_tensor(2, CG_SHAPE(3, 5), -1, 1, 2, target_grad) };
    gradcheck(mse, in, 2, &r, 1e-3, 1e-3, 1e-2);
    if (!target_grad) assert_null(cg_tensor_grad(in[1]));
    cg_tensor_free(in[0]);
    cg_tensor_free(in[1]);
}

static void test_grad_mean(void **st) { (void)st; check(CG_REDUCTION_MEAN, false); check(CG_REDUCTION_MEAN, true); }
static void test_grad_sum(void **st) { (void)st; check(CG_REDUCTION_SUM, false); check(CG_REDUCTION_SUM, true); }
static void test_grad_none(void **st) { (void)st; check(CG_REDUCTION_NONE, false); check(CG_REDUCTION_NONE, true); }

/* mse(p, t) + p: add's backward reaches p first, so an overwriting backward fails. */
static cg_tensor *mse_plus_p(cg_tensor **in, void *ctx) { (void)ctx; return cg_add(cg_mse_loss(in[0], in[1], CG_REDUCTION_NONE), in[0]); }
static void test_grad_accumulates(void **st) {
    (void)st;
    cg_tensor *in[2] = { test_tensor(1, CG_SHAPE(6), -1, 1, 3, true), test_tensor(1, CG_SHAPE(6), -1, 1, 4, true) };
    gradcheck(mse_plus_p, in, 2, NULL, 1e-3, 1e-3, 1e-2);
    cg_tensor_free(in[0]);
    cg_tensor_free(in[1]);
}

static void test_errors(void **st) {
    (void)st;
    cg_tensor *p = cg_tensor_zeros(2, CG_SHAPE(2, 3)), *t = cg_tensor_zeros(2, CG_SHAPE(3, 2));
    cg_tensor *e = cg_tensor_zeros(1, CG_SHAPE(0));
    assert_null(cg_mse_loss(p, t, CG_REDUCTION_MEAN));
    assert_non_null(strstr(cg_last_error(), "mse_loss"));
    assert_non_null(strstr(cg_last_error(), "same shape"));
    assert_null(cg_mse_loss(p, p, (cg_reduction)7));
    assert_non_null(strstr(cg_last_error(), "reduction"));
    assert_null(cg_mse_loss(e, e, CG_REDUCTION_MEAN));
    assert_non_null(strstr(cg_last_error(), "empty"));
    assert_float_equal(cg_tensor_item(cg_mse_loss(e, e, CG_REDUCTION_SUM)), 0, 0);
    assert_null(cg_mse_loss(NULL, t, CG_REDUCTION_SUM));
    assert_null(cg_mse_loss(p, NULL, CG_REDUCTION_SUM));
    cg_tape_release();
    cg_tensor_free(p);
    cg_tensor_free(t);
    cg_tensor_free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_grad_values),
        cmocka_unit_test(test_grad_mean),
        cmocka_unit_test(test_grad_sum),
        cmocka_unit_test(test_grad_none),
        cmocka_unit_test(test_grad_accumulates),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
