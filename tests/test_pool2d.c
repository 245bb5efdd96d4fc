/* SPDX-License-Identifier: MIT */
/* tests/test_pool2d.c — max and average pooling: values, padding rules, gradients, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "gradcheck.h"

static void test_max_values(void **s) {
    (void)s;
    /* 4x4 = 0..15 with a few swaps; 2x2 windows */
    float xv[16] = { 1, 5, 2, 0, 3, 4, 7, 6, 9, 8, 10, 11, 12, 15, 14, 13 };
    cg_tensor *x = cg_tensor_from_array(4, CG_SHAPE(1, 1, 4, 4), xv);
    cg_pool2d_params p = cg_pool2d_defaults(2);
    cg_tensor *y = cg_max_pool2d(x, &p);
    assert_non_null(y);
    assert_int_equal(cg_tensor_shape(y)[2], 2);
    float want[4] = { 5, 7, 15, 14 };
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_data(y)[i], want[i], 0);
    /* padding 1, kernel 3, stride 2: padded cells are -inf, so negatives still win */
    cg_tensor *neg = cg_tensor_full(4, CG_SHAPE(1, 1, 3, 3), -4.0f);
    cg_tensor_data(neg)[0] = -7.0f;
    cg_pool2d_params q = { { 3, 3 }, { 2, 2 }, { 1, 1 } };
    y = cg_max_pool2d(neg, &q);
    assert_non_null(y);
    assert_int_equal(cg_tensor_numel(y), 4);
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_data(y)[i], -4.0f, 0);
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(neg);
}

static void test_max_backward_routes_to_argmax(void **s) {
    (void)s;
    float xv[16] = { 1, 5, 2, 0, 3, 4, 7, 6, 9, 8, 10, 11, 12, 15, 14, 13 };
    cg_tensor *x = cg_tensor_from_array(4, CG_SHAPE(1, 1, 4, 4), xv);
    cg_tensor_set_requires_grad(x, true);
    cg_pool2d_params p = cg_pool2d_defaults(2);
    cg_tensor *r = cg_tensor_from_array(4, CG_SHAPE(1, 1, 2, 2), (float[]){ 1, 2, 3, 4 });
    assert_int_equal(cg_backward(cg_sum(cg_mul(cg_max_pool2d(x, &p), r))), CG_OK);
    float want[16] = { 0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 3, 4, 0 };
    for (int i = 0; i < 16; i++) assert_float_equal(cg_tensor_data(cg_tensor_grad(x))[i], want[i], 0);
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(r);
}

/* The 2x2/stride-2 fast path agrees with a naive reference: odd sizes (last row/col dropped),
 * ties (first in scan order wins) and NaNs (first NaN wins); backward routes to that element. */
static void test_max_2x2_fast_path_ties_nan(void **s) {
    (void)s;
    enum { P = 6, H = 5, W = 7, OH = 2, OW = 3 };
    float xv[P * H * W];
    for (int i = 0; i < P * H * W; i++) xv[i] = (float)((i / 2 + i / (2 * W)) % 3);  /* many ties */
    xv[0 * H * W + 1] = NAN; xv[0 * H * W + W] = NAN;  /* plane 0, window 0: NaNs at scan 1 and 2 */
    xv[1 * H * W + 1 * W + 3] = NAN;                    /* plane 1, window (0,1): NaN last in scan */
    cg_tensor *x = cg_tensor_from_array(4, CG_SHAPE(2, 3, H, W), xv);
    cg_tensor_set_requires_grad(x, true);
    cg_pool2d_params p = cg_pool2d_defaults(2);
    cg_tensor *y = cg_max_pool2d(x, &p);
    assert_non_null(y);
    assert_int_equal(cg_tensor_numel(y), P * OH * OW);
    float gx[P * H * W] = { 0 };
    for (int pl = 0; pl < P; pl++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                int bi = -1;
                for (int k = 0; k < 4 && !(bi >= 0 && isnan(xv[bi])); k++) {
                    int idx = pl * H * W + (2 * oh + k / 2) * W + 2 * ow + k % 2;
                    if (bi < 0 || xv[idx] > xv[bi] || isnan(xv[idx])) bi = idx;
                }
                float got = cg_tensor_data(y)[(pl * OH + oh) * OW + ow];
                if (isnan(xv[bi])) assert_true(isnan(got));
                else assert_float_equal(got, xv[bi], 0);
                gx[bi] += 1.0f + (float)((pl * OH + oh) * OW + ow);
            }
    cg_tensor *r = cg_tensor_arange(1.0f, (float)(P * OH * OW + 1), 1.0f);
    cg_tensor *r4 = cg_tensor_from_array(4, CG_SHAPE(2, 3, OH, OW), cg_tensor_data(r));
    assert_int_equal(cg_backward(cg_sum(cg_mul(cg_max_pool2d(x, &p), r4))), CG_OK);
    for (int i = 0; i < P * H * W; i++) assert_float_equal(cg_tensor_data(cg_tensor_grad(x))[i], gx[i], 0);
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(r); cg_tensor_free(r4);
}

static void test_avg_values(void **s) {
    (void)s;
    float xv[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    cg_tensor *x = cg_tensor_from_array(3, CG_SHAPE(1, 3, 3), xv);  /* [C,H,W] is accepted */
    cg_pool2d_params p = { { 2, 2 }, { 1, 1 }, { 0, 0 } };
    cg_tensor *y = cg_avg_pool2d(x, &p);
    assert_non_null(y);
    float want[4] = { 3, 4, 6, 7 };
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_data(y)[i], want[i], 1e-6);
    /* count_include_pad: kernel 2, stride 2, pad 1: corner window {1} / 4 */
    cg_pool2d_params q = { { 2, 2 }, { 2, 2 }, { 1, 1 } };
    y = cg_avg_pool2d(x, &q);
    assert_non_null(y);
    float want2[4] = { 0.25f, 1.25f, 2.75f, 7.0f };
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_data(y)[i], want2[i], 1e-6);
    cg_tape_release();
    cg_tensor_free(x);
}

static cg_tensor *max_fn(cg_tensor **in, void *ctx) { return cg_max_pool2d(in[0], ctx); }
static cg_tensor *avg_fn(cg_tensor **in, void *ctx) { return cg_avg_pool2d(in[0], ctx); }
static cg_tensor *adaptive_fn(cg_tensor **in, void *ctx) {
    const int64_t *o = ctx;
    return cg_adaptive_avg_pool2d(in[0], o[0], o[1]);
}

static cg_tensor *adaptive_max_fn(cg_tensor **in, void *ctx) {
    const int64_t *o = ctx;
    return cg_adaptive_max_pool2d(in[0], o[0], o[1]);
}

/* Distinct values spaced 0.1 apart (shuffled), so eps = 1e-3 never changes an argmax. */
static cg_tensor *distinct(int64_t n, int64_t c, int64_t h, int64_t w) {
    cg_tensor *t = cg_tensor_zeros(4, CG_SHAPE(n, c, h, w));
    int64_t N = cg_tensor_numel(t);
    for (int64_t i = 0; i < N; i++) cg_tensor_data(t)[i] = 0.1f * (float)((i * 37) % N) - 3.0f;
    cg_tensor_set_requires_grad(t, true);
    return t;
}

static void test_gradcheck(void **s) {
    (void)s;
    cg_pool2d_params cfg[3] = { cg_pool2d_defaults(2), { { 3, 3 }, { 2, 2 }, { 1, 1 } }, { { 3, 2 }, { 1, 2 }, { 1, 0 } } };
    for (int i = 0; i < 3; i++) {
        cg_tensor *x = distinct(2, 3, 7, 5);
        gradcheck(max_fn, &x, 1, &cfg[i], 1e-3, 1e-3, 1e-2);
        gradcheck(avg_fn, &x, 1, &cfg[i], 1e-3, 1e-3, 1e-2);
        cg_tensor_free(x);
    }
    /* adaptive: global, uneven overlapping cells (7 rows into 3, 5 columns into 2), the identity,
     * and more cells than inputs (each input then feeds several cells: the backward adds) */
    int64_t outs[5][2] = { { 1, 1 }, { 3, 2 }, { 7, 5 }, { 9, 8 }, { 2, 11 } };
    for (int i = 0; i < 5; i++) {
        cg_tensor *x = distinct(2, 3, 7, 5);
        gradcheck(adaptive_fn, &x, 1, outs[i], 1e-3, 1e-3, 1e-2);
        gradcheck(adaptive_max_fn, &x, 1, outs[i], 1e-3, 1e-3, 1e-2);
        cg_tensor_free(x);
    }
}

/* Global average pooling by hand: each plane's mean; the errors name the op. */
static void test_adaptive_values_and_errors(void **s) {
    (void)s;
    cg_tensor *x = distinct(2, 3, 4, 5);
    cg_tensor *y = cg_adaptive_avg_pool2d(x, 1, 1);
    assert_non_null(y);
    assert_int_equal(cg_tensor_ndim(y), 4);
    assert_int_equal(cg_tensor_shape(y)[2], 1);
    for (int64_t p = 0; p < 6; p++) {
        double m = 0;
        for (int64_t i = 0; i < 20; i++) m += cg_tensor_data(x)[p * 20 + i];
        assert_float_equal(cg_tensor_data(y)[p], (float)(m / 20), 1e-6);
    }
    /* adaptive max: each plane's max, and where its gradient goes */
    cg_tensor *m = cg_adaptive_max_pool2d(x, 1, 1);
    assert_non_null(m);
    for (int64_t p = 0; p < 6; p++) {
        float best = -INFINITY;
        for (int64_t i = 0; i < 20; i++) best = fmaxf(best, cg_tensor_data(x)[p * 20 + i]);
        assert_true(cg_tensor_data(m)[p] == best);
    }
    /* the first max wins a tie; NaN wins over everything */
    cg_tensor *t = cg_tensor_zeros(4, CG_SHAPE(1, 1, 2, 2));
    cg_tensor_set_requires_grad(t, true);
    float tv[4] = { 1, 5, 5, 2 };
    memcpy(cg_tensor_data(t), tv, sizeof tv);
    assert_int_equal(cg_backward(cg_sum(cg_adaptive_max_pool2d(t, 1, 1))), CG_OK);
    float want[4] = { 0, 1, 0, 0 };
    for (int i = 0; i < 4; i++) assert_true(cg_tensor_data(cg_tensor_grad(t))[i] == want[i]);
    cg_tape_release();
    cg_tensor_data(t)[3] = NAN;
    assert_true(isnan(cg_tensor_data(cg_adaptive_max_pool2d(t, 1, 1))[0]));
    cg_tape_release();
    cg_tensor_free(t);
    /* errors name the op and the problem; an output larger than the input is fine */
    assert_non_null(cg_adaptive_avg_pool2d(x, 5, 9));
    assert_null(cg_adaptive_avg_pool2d(x, 0, 1));
    assert_non_null(strstr(cg_last_error(), "adaptive_avg_pool2d: output 0x1 must be positive"));
    assert_null(cg_adaptive_max_pool2d(x, 1, INT64_C(1) << 40));
    assert_non_null(strstr(cg_last_error(), "adaptive_max_pool2d: output 1x1099511627776"));
    assert_null(cg_adaptive_max_pool2d(x, INT32_MAX, INT32_MAX));
    assert_non_null(strstr(cg_last_error(), "too many elements"));
    cg_tensor *x2 = cg_tensor_zeros(2, CG_SHAPE(4, 4));
    assert_null(cg_adaptive_avg_pool2d(x2, 1, 1));
    assert_non_null(strstr(cg_last_error(), "[N,C,H,W]"));
    assert_null(cg_adaptive_max_pool2d(x2, 1, 1));
    assert_non_null(strstr(cg_last_error(), "adaptive_max_pool2d: input must be [N,C,H,W]"));
    cg_tensor *x3 = cg_tensor_zeros(4, CG_SHAPE(1, 1, 0, 3));
    assert_null(cg_adaptive_max_pool2d(x3, 1, 1));
    assert_non_null(strstr(cg_last_error(), "empty plane"));
    cg_tensor_free(x3);
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(x2);
}

static void test_errors(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_zeros(4, CG_SHAPE(1, 1, 4, 4)), *x2 = cg_tensor_zeros(2, CG_SHAPE(4, 4));
    cg_pool2d_params p = cg_pool2d_defaults(2);
    assert_null(cg_max_pool2d(x2, &p));
    assert_non_null(strstr(cg_last_error(), "[N,C,H,W]"));
    cg_pool2d_params bad = { { 2, 2 }, { 2, 2 }, { 2, 0 } };
    assert_null(cg_avg_pool2d(x, &bad));
    assert_non_null(strstr(cg_last_error(), "padding[0]"));
    cg_pool2d_params zero = { { 2, 2 }, { 0, 2 }, { 0, 0 } };
    assert_null(cg_max_pool2d(x, &zero));
    assert_non_null(strstr(cg_last_error(), "stride[0]"));
    cg_pool2d_params big = cg_pool2d_defaults(5);
    assert_null(cg_max_pool2d(x, &big));
    assert_non_null(strstr(cg_last_error(), "larger than"));
    assert_null(cg_max_pool2d(NULL, &p));
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(x2);
}

/* Geometry that overflows int64 (issue 12, item 14): named by op and parameter. */
static void test_geometry_overflow(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_zeros(4, CG_SHAPE(1, 1, 4, 4));
    cg_pool2d_params p62 = { { INT64_MAX, 2 }, { 1, 1 }, { (int64_t)1 << 62, 0 } };
    assert_null(cg_max_pool2d(x, &p62));
    if (!strstr(cg_last_error(), "max_pool2d: padding[0]")) fail_msg("message: %s", cg_last_error());
    cg_pool2d_params p62w = { { 2, INT64_MAX }, { 1, 1 }, { 0, (int64_t)1 << 62 } };
    assert_null(cg_avg_pool2d(x, &p62w));
    if (!strstr(cg_last_error(), "avg_pool2d: padding[1]")) fail_msg("message: %s", cg_last_error());
    cg_pool2d_params p63 = { { 2, 2 }, { 1, 1 }, { INT64_MAX / 2 + 1, 0 } };  /* 2 * padding overflows */
    assert_null(cg_max_pool2d(x, &p63));
    if (!strstr(cg_last_error(), "padding[0]")) fail_msg("message: %s", cg_last_error());
    cg_pool2d_params huge = { { 2, 2 }, { INT64_MAX, INT64_MAX }, { 0, 0 } };
    cg_tensor *y = cg_max_pool2d(x, &huge);
    assert_non_null(y);
    assert_int_equal(cg_tensor_shape(y)[2], 1);
    cg_tape_release();
    cg_tensor_free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_values),
        cmocka_unit_test(test_max_backward_routes_to_argmax),
        cmocka_unit_test(test_max_2x2_fast_path_ties_nan),
        cmocka_unit_test(test_avg_values),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_adaptive_values_and_errors),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_geometry_overflow),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
