/* SPDX-License-Identifier: MIT */
/* tests/test_train_loss.c — the loss that fits the net (cgrad/train.h): names, auto from the net's
 * last module, the check that refuses nll on logits and shape mismatches, mse on one-hot targets
 * (value and gradient). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "gradcheck.h"

static void test_names(void **st) {
    (void)st;
    const char *n[] = { "auto", "nll", "cross_entropy", "mse" };
    for (int k = 0; k < 4; k++) {
        cg_loss_kind got;
        assert_int_equal(cg_loss_parse(n[k], &got), CG_OK);
        assert_int_equal(got, k);
        assert_string_equal(cg_loss_name(got), n[k]);
    }
    cg_loss_kind got;
    assert_int_equal(cg_loss_parse("hinge", &got), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "'hinge'"));
    assert_null(cg_loss_name((cg_loss_kind)42));
}

static void test_auto(void **st) {
    (void)st;
    cg_manual_seed(0);
    cg_module *logits = cg_net_from_spec("flatten linear(4,3)", 2, CG_SHAPE(2, 2), NULL);
    cg_module *logp = cg_net_from_spec("flatten linear(4,3) log_softmax", 2, CG_SHAPE(2, 2), NULL);
    assert_non_null(logits);
    assert_non_null(logp);
    assert_false(cg_module_ends_in_log_softmax(logits));
    assert_true(cg_module_ends_in_log_softmax(logp));
    assert_int_equal(cg_loss_resolve(logits, CG_LOSS_AUTO), CG_LOSS_CROSS_ENTROPY);
    assert_int_equal(cg_loss_resolve(logp, CG_LOSS_AUTO), CG_LOSS_NLL);
    assert_int_equal(cg_loss_resolve(logp, CG_LOSS_MSE), CG_LOSS_MSE);
    cg_module_free(logits);
    cg_module_free(logp);
}

static void test_check(void **st) {
    (void)st;
    cg_tensor *raw = cg_tensor_from_array(2, CG_SHAPE(2, 3), (float[]){ 1, 2, 3, -1, 0, 5 });
    cg_tensor *lp = cg_log_softmax(raw, 1);
    cg_tensor *y = cg_tensor_from_i64(1, CG_SHAPE(2), (int64_t[]){ 2, 0 });
    cg_tensor *y3 = cg_tensor_from_i64(1, CG_SHAPE(3), (int64_t[]){ 2, 0, 1 });
    assert_int_equal(cg_loss_check(CG_LOSS_NLL, lp, y), CG_OK);
    assert_int_equal(cg_loss_check(CG_LOSS_CROSS_ENTROPY, raw, y), CG_OK);
    assert_int_equal(cg_loss_check(CG_LOSS_CROSS_ENTROPY, lp, y), CG_OK);
    assert_int_equal(cg_loss_check(CG_LOSS_MSE, raw, y), CG_OK);
    assert_int_equal(cg_loss_check(CG_LOSS_NLL, raw, y), CG_EINVAL);  /* logits are not log-probabilities */
    assert_non_null(strstr(cg_last_error(), "log-probabilities"));
    assert_non_null(strstr(cg_last_error(), "cross_entropy"));
    assert_int_equal(cg_loss_check(CG_LOSS_CROSS_ENTROPY, raw, y3), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "2 outputs but 3 targets"));
    assert_int_equal(cg_loss_check(CG_LOSS_NLL, y, y), CG_EINVAL);
    assert_int_equal(cg_loss_check(CG_LOSS_AUTO, lp, y), CG_EINVAL);
    assert_int_equal(cg_loss_check(CG_LOSS_NLL, NULL, y), CG_EINVAL);
    assert_null(cg_loss(CG_LOSS_AUTO, raw, y, CG_REDUCTION_MEAN));
    assert_null(cg_loss(CG_LOSS_NLL, NULL, y, CG_REDUCTION_MEAN));
    cg_tape_release();
    cg_tensor_free(raw);
    cg_tensor_free(y);
    cg_tensor_free(y3);
}

static cg_tensor *mse_fn(cg_tensor **in, void *ctx) { return cg_loss(CG_LOSS_MSE, in[0], (const cg_tensor *)ctx, CG_REDUCTION_MEAN); }

static void test_mse_one_hot(void **st) {
    (void)st;
    /* targets 1, 0 of 2 classes: one-hot [0 1; 1 0]; diffs -1, 1, 1, -1 -> mean 1 */
    cg_tensor *p = cg_tensor_from_array(2, CG_SHAPE(2, 2), (float[]){ -1, 2, 2, -1 });
    cg_tensor *y = cg_tensor_from_i64(1, CG_SHAPE(2), (int64_t[]){ 1, 0 });
    assert_float_equal(cg_tensor_item(cg_loss(CG_LOSS_MSE, p, y, CG_REDUCTION_MEAN)), 1.0f, 0);
    assert_float_equal(cg_tensor_item(cg_loss(CG_LOSS_NLL, cg_log_softmax(p, 1), y, CG_REDUCTION_SUM)),
                       cg_tensor_item(cg_loss(CG_LOSS_CROSS_ENTROPY, p, y, CG_REDUCTION_SUM)), 1e-6);
    cg_tensor *bad = cg_tensor_from_i64(1, CG_SHAPE(2), (int64_t[]){ 1, 2 });
    assert_null(cg_loss(CG_LOSS_MSE, p, bad, CG_REDUCTION_MEAN));
    assert_non_null(strstr(cg_last_error(), "target 2 of row 1"));
    cg_tape_release();
    cg_tensor_set_requires_grad(p, true);
    gradcheck(mse_fn, (cg_tensor *[]){ p }, 1, y, 1e-3, 1e-3, 1e-2);
    cg_tensor_free(p);
    cg_tensor_free(y);
    cg_tensor_free(bad);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_auto),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_mse_one_hot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
