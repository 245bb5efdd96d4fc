/* SPDX-License-Identifier: MIT */
/* tests/test_nll_loss.c — nll_loss and cross_entropy: values vs PyTorch, reductions, gradients,
 * target range, type and shape errors (each naming the public op). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "gradcheck.h"

/* An int64 target [n] over the caller's array, owned by the tape. */
#define TGT_OF(arr, n) cg_tape_wrap(CG_I64, (void *)(arr), 1, CG_SHAPE(n))

static void test_values(void **s) {
    (void)s;
    cg_tensor *logp = cg_tensor_from_array(2, CG_SHAPE(2, 3), (float[]){ -1, -2, -3, -0.5f, -4, -6 });
    int64_t t[2] = { 1, 0 };
    cg_tensor *y = cg_nll_loss(logp, TGT_OF(t, 2), CG_REDUCTION_MEAN);
    assert_non_null(y);
    assert_int_equal(cg_tensor_ndim(y), 0);
    assert_float_equal(cg_tensor_item(y), 1.25f, 1e-6);
    assert_float_equal(cg_tensor_item(cg_nll_loss(logp, TGT_OF(t, 2), CG_REDUCTION_SUM)), 2.5f, 1e-6);
    y = cg_nll_loss(logp, TGT_OF(t, 2), CG_REDUCTION_NONE);
    assert_int_equal(cg_tensor_ndim(y), 1);
    assert_float_equal(cg_tensor_data(y)[0], 2.0f, 0);
    assert_float_equal(cg_tensor_data(y)[1], 0.5f, 0);
    /* torch.nn.functional.cross_entropy */
    cg_tensor *x = cg_tensor_from_array(2, CG_SHAPE(2, 3), (float[]){ 1, 2, 3, 1, -1, 0.5f });
    int64_t t2[2] = { 2, 0 };
    assert_float_equal(cg_tensor_item(cg_cross_entropy(x, TGT_OF(t2, 2), CG_REDUCTION_MEAN)), 0.48128146f, 1e-6);
    assert_float_equal(cg_tensor_item(cg_cross_entropy(x, TGT_OF(t2, 2), CG_REDUCTION_SUM)), 0.96256292f, 1e-6);
    cg_tape_release();
    cg_tensor_free(logp);
    cg_tensor_free(x);
}

static void test_backward_values(void **s) {
    (void)s;
    cg_tensor *logp = cg_tensor_from_array(2, CG_SHAPE(2, 3), (float[]){ -1, -2, -3, -0.5f, -4, -6 });
    cg_tensor_set_requires_grad(logp, true);
    int64_t t[2] = { 1, 0 };
    cg_tensor *y = cg_nll_loss(logp, TGT_OF(t, 2), CG_REDUCTION_MEAN);
    t[0] = 2;  /* the op copied the targets */
    assert_int_equal(cg_backward(y), CG_OK);
    float want[6] = { 0, -0.5f, 0, -0.5f, 0, 0 };
    for (int i = 0; i < 6; i++) assert_float_equal(cg_tensor_data(cg_tensor_grad(logp))[i], want[i], 0);
    cg_tape_release();
    cg_tensor_free(logp);
}

typedef struct { int64_t t[4]; cg_reduction r; bool ce; } ctx_t;
static cg_tensor *loss_fn(cg_tensor **in, void *p) {
    ctx_t *c = p;
    return c->ce ? cg_cross_entropy(in[0], TGT_OF(c->t, 4), c->r) : cg_nll_loss(in[0], TGT_OF(c->t, 4), c->r);
}

static void test_gradcheck(void **s) {
    (void)s;
    for (int ce = 0; ce < 2; ce++)
        for (int r = 0; r < 3; r++) {
            ctx_t c = { { 2, 0, 4, 2 }, (cg_reduction)r, ce };
            cg_tensor *x = test_tensor(2, CG_SHAPE(4, 5), -2, 2, 3 + r, true);
            gradcheck(loss_fn, &x, 1, &c, 1e-3, 1e-3, 1e-2);
            cg_tensor_free(x);
        }
}

static void test_errors(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_zeros(2, CG_SHAPE(3, 4));
    int64_t bad[3] = { 0, 4, 1 }, neg[3] = { 0, 1, -1 }, ok[3] = { 0, 1, 2 };
    assert_null(cg_nll_loss(x, TGT_OF(bad, 3), CG_REDUCTION_MEAN));
    assert_non_null(strstr(cg_last_error(), "nll_loss: target[1] = 4"));
    assert_null(cg_cross_entropy(x, TGT_OF(bad, 3), CG_REDUCTION_MEAN));
    assert_non_null(strstr(cg_last_error(), "cross_entropy: target[1] = 4 is out of range [0, 4)"));
    assert_null(cg_cross_entropy(x, TGT_OF(neg, 3), CG_REDUCTION_SUM));
    assert_non_null(strstr(cg_last_error(), "cross_entropy: target[2] = -1"));
    assert_null(cg_nll_loss(x, TGT_OF(ok, 2), CG_REDUCTION_MEAN));
    assert_non_null(strstr(cg_last_error(), "nll_loss: target [2] must be [3]"));
    assert_null(cg_cross_entropy(x, TGT_OF(ok, 2), CG_REDUCTION_MEAN));
    assert_non_null(strstr(cg_last_error(), "cross_entropy: target [2] must be [3]"));
    assert_null(cg_nll_loss(x, cg_tape_wrap(CG_I64, ok, 2, CG_SHAPE(3, 1)), CG_REDUCTION_MEAN));
    assert_non_null(strstr(cg_last_error(), "target [3, 1] must be [3]"));
    /* the wrong element types: a float target, an int64 input */
    assert_null(cg_nll_loss(x, x, CG_REDUCTION_MEAN));
    assert_non_null(strstr(cg_last_error(), "nll_loss: target is float32, expected int64"));
    cg_tensor *xi = cg_tensor_new(CG_I64, 2, CG_SHAPE(3, 4));
    assert_null(cg_cross_entropy(xi, TGT_OF(ok, 3), CG_REDUCTION_MEAN));
    assert_non_null(strstr(cg_last_error(), "cross_entropy: logits is int64, expected float32"));
    assert_null(cg_nll_loss(xi, TGT_OF(ok, 3), CG_REDUCTION_MEAN));
    assert_non_null(strstr(cg_last_error(), "nll_loss: input is int64, expected float32"));
    cg_tensor_free(xi);
    assert_null(cg_nll_loss(x, NULL, CG_REDUCTION_MEAN));
    cg_tensor *x1 = cg_tensor_zeros(1, CG_SHAPE(4));
    assert_null(cg_nll_loss(x1, TGT_OF(ok, 1), CG_REDUCTION_MEAN));
    assert_null(cg_cross_entropy(x1, TGT_OF(ok, 1), CG_REDUCTION_MEAN));
    assert_null(cg_nll_loss(x, TGT_OF(ok, 3), (cg_reduction)7));
    assert_null(cg_nll_loss(NULL, TGT_OF(ok, 3), CG_REDUCTION_MEAN));
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(x1);
}

/* cross_entropy with weight, ignore_index and label smoothing: the gradient of the logits
 * against central differences for each reduction; an out-of-range target (not the ignored one),
 * a bad smoothing and a negative weight are refused. */
static const int64_t TGT[6] = { 2, -100, 4, 1, -100, 3 };
static float W[5] = { 0.5f, 1.5f, 1.0f, 2.0f, 0.25f };
static cg_tensor *cex(cg_tensor **in, void *ctx) {
    cg_nll_options o = cg_nll_defaults();
    o.reduction = *(cg_reduction *)ctx;
    o.weight = cg_tape_wrap(CG_F32, W, 1, CG_SHAPE(5));
    o.label_smoothing = 0.15f;
    return cg_cross_entropy_ex(in[0], TGT_OF(TGT, 6), &o);
}
static void test_cross_entropy_options(void **s) {
    (void)s;
    const cg_reduction rs[3] = { CG_REDUCTION_MEAN, CG_REDUCTION_SUM, CG_REDUCTION_NONE };
    for (int r = 0; r < 3; r++) {
        cg_tensor *x = test_tensor(2, CG_SHAPE(6, 5), -2, 2, 160 + (unsigned)r, true);
        cg_reduction red = rs[r];
        gradcheck(cex, &x, 1, &red, 1e-3, 1e-3, 1e-2);
        cg_tensor_free(x);
    }
    cg_tensor *x = test_tensor(2, CG_SHAPE(6, 5), -2, 2, 170, false);
    cg_nll_options o = cg_nll_defaults();
    assert_non_null(cg_cross_entropy_ex(x, TGT_OF(TGT, 6), &o)); /* -100 is the default ignore_index */
    o.ignore_index = -1;
    assert_null(cg_cross_entropy_ex(x, TGT_OF(TGT, 6), &o));
    assert_non_null(strstr(cg_last_error(), "target[1] = -100 is out of range"));
    o = cg_nll_defaults();
    o.label_smoothing = 1.5f;
    assert_null(cg_cross_entropy_ex(x, TGT_OF(TGT, 6), &o));
    o = cg_nll_defaults();
    o.weight = cg_tape_wrap(CG_F32, (float[]){ 1, -1, 1, 1, 1 }, 1, CG_SHAPE(5));
    assert_null(cg_cross_entropy_ex(x, TGT_OF(TGT, 6), &o));
    assert_non_null(strstr(cg_last_error(), "cross_entropy: weight[1]"));
    o.weight = cg_tape_wrap(CG_F32, W, 1, CG_SHAPE(4));
    assert_null(cg_nll_loss_ex(x, TGT_OF(TGT, 6), &o));
    assert_non_null(strstr(cg_last_error(), "nll_loss: weight [4] must be [5]"));
    o.weight = cg_tape_wrap(CG_I64, (int64_t[]){ 1, 1, 1, 1, 1 }, 1, CG_SHAPE(5));
    assert_null(cg_nll_loss_ex(x, TGT_OF(TGT, 6), &o));
    assert_non_null(strstr(cg_last_error(), "nll_loss: weight is int64, expected float32"));
    cg_tape_release();
    cg_tensor_free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_entropy_options),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_backward_values),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
