/* SPDX-License-Identifier: MIT */
/* tests/test_pointwise_loss.c — l1, smooth_l1, huber, bce_with_logits (with pos_weight) and
 * kl_div (both target forms): gradients of the input and of the target against central
 * differences (inputs kept off the kinks), every reduction, and bad arguments. PyTorch's values
 * are checked in test_torch_ops. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "gradcheck.h"

typedef struct { int which; cg_reduction r; const cg_tensor *pw; } lctx;

static cg_tensor *apply(cg_tensor **in, void *ctx) {
    const lctx *c = ctx;
    switch (c->which) {
    case 0: return cg_l1_loss(in[0], in[1], c->r);
    case 1: return cg_smooth_l1_loss(in[0], in[1], 0.5f, c->r);
    case 2: return cg_huber_loss(in[0], in[1], 0.7f, c->r);
    case 3: return cg_bce_with_logits(in[0], in[1], c->pw, c->r);
    case 4: return cg_kl_div(in[0], in[1], false, c->r);
    default: return cg_kl_div(in[0], in[1], true, c->r);
    }
}

/* x and t with x - t kept 0.05 away from 0 and from +-kink. */
static void pair(cg_tensor **in, float kink, unsigned salt, float lo, float hi) {
    in[0] = test_tensor(2, CG_SHAPE(4, 5), lo, hi, salt, true);
    in[1] = test_tensor(2, CG_SHAPE(4, 5), lo, hi, salt + 1, true);
    float *x = cg_tensor_data(in[0]);
    const float *t = cg_tensor_cdata(in[1]);
    const float ks[3] = { 0, kink, -kink };
    for (int i = 0; i < 20; i++)
        for (int k = 0; k < 3; k++) {
            float d = x[i] - t[i] - ks[k];
            if (fabsf(d) < 0.05f) x[i] += d < 0 ? -0.06f : 0.06f;
        }
}

static void check(int which, float kink, float lo, float hi, const cg_tensor *pw) {
    const cg_reduction rs[3] = { CG_REDUCTION_MEAN, CG_REDUCTION_SUM, CG_REDUCTION_NONE };
    for (int r = 0; r < 3; r++) {
        cg_tensor *in[2];
        pair(in, kink, 40 + (unsigned)which * 3 + (unsigned)r, lo, hi);
        if (which >= 4) { /* kl_div: input log-probabilities; target probabilities or their logs */
            float *t = cg_tensor_data(in[1]);
            for (int i = 0; i < 20; i++) t[i] = which == 4 ? 0.05f + 0.9f * (t[i] - lo) / (hi - lo) : t[i] - 1.0f;
        }
        if (which == 3) { /* targets in [0, 1] */
            float *t = cg_tensor_data(in[1]);
            for (int i = 0; i < 20; i++) t[i] = (t[i] - lo) / (hi - lo);
        }
        lctx c = { which, rs[r], pw };
        gradcheck(apply, in, 2, &c, 1e-3, 2e-3, 1e-2);
        cg_tensor_free(in[0]);
        cg_tensor_free(in[1]);
    }
}

static void test_l1(void **s) { (void)s; check(0, 0, -1, 1, NULL); }
static void test_smooth_l1(void **s) { (void)s; check(1, 0.5f, -1.5f, 1.5f, NULL); }
static void test_huber(void **s) { (void)s; check(2, 0.7f, -2, 2, NULL); }
static void test_bce_with_logits(void **s) {
    (void)s;
    check(3, 0, -4, 4, NULL);
    cg_tensor *pw = cg_tensor_from_array(1, CG_SHAPE(5), (float[]){ 0.5f, 1, 2, 3, 0.25f });
    check(3, 0, -4, 4, pw);
    cg_tensor *pw1 = cg_tensor_from_array(1, CG_SHAPE(1), (float[]){ 2.5f });
    check(3, 0, -4, 4, pw1);
    cg_tensor_free(pw);
    cg_tensor_free(pw1);
}
static void test_kl_div(void **s) { (void)s; check(4, 0, -2, 0, NULL); check(5, 0, -2, 0, NULL); }

/* Stable at extreme logits; a zero kl_div target adds 0; the errors name the op. */
static void test_edges_and_errors(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_from_array(1, CG_SHAPE(2), (float[]){ 100.0f, -100.0f });
    cg_tensor *t = cg_tensor_from_array(1, CG_SHAPE(2), (float[]){ 1.0f, 0.0f });
    cg_tensor *l = cg_bce_with_logits(x, t, NULL, CG_REDUCTION_SUM);
    assert_non_null(l);
    assert_true(isfinite(cg_tensor_item(l)) && cg_tensor_item(l) < 1e-30f);
    cg_tensor *lp = cg_tensor_from_array(1, CG_SHAPE(2), (float[]){ -0.5f, -1.0f });
    cg_tensor *tp = cg_tensor_from_array(1, CG_SHAPE(2), (float[]){ 0.0f, 0.5f });
    l = cg_kl_div(lp, tp, false, CG_REDUCTION_SUM);
    assert_float_equal(cg_tensor_item(l), 0.5f * (logf(0.5f) + 1.0f), 1e-6);
    cg_tensor *y = cg_tensor_zeros(1, CG_SHAPE(3));
    assert_null(cg_l1_loss(x, y, CG_REDUCTION_MEAN));
    assert_non_null(strstr(cg_last_error(), "l1_loss: input [2] and target [3] must have the same shape"));
    assert_null(cg_l1_loss(x, t, (cg_reduction)7));
    assert_null(cg_smooth_l1_loss(x, t, -1, CG_REDUCTION_MEAN));
    assert_null(cg_huber_loss(x, t, 0, CG_REDUCTION_MEAN));
    assert_non_null(strstr(cg_last_error(), "delta"));
    cg_tensor *pw = cg_tensor_zeros(1, CG_SHAPE(3));
    assert_null(cg_bce_with_logits(x, t, pw, CG_REDUCTION_MEAN));
    assert_non_null(strstr(cg_last_error(), "pos_weight [3] must be [2]"));
    assert_null(cg_kl_div(NULL, t, false, CG_REDUCTION_SUM));
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(t); cg_tensor_free(lp); cg_tensor_free(tp); cg_tensor_free(y); cg_tensor_free(pw);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_l1), cmocka_unit_test(test_smooth_l1), cmocka_unit_test(test_huber),
        cmocka_unit_test(test_bce_with_logits), cmocka_unit_test(test_kl_div), cmocka_unit_test(test_edges_and_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
