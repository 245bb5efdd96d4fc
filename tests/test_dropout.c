/* SPDX-License-Identifier: MIT */
/* tests/test_dropout.c — dropout and dropout2d: rate, scaling, eval identity, whole channels,
 * seeding, thread-count independence, gradients, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "gradcheck.h"

static void test_rate_and_scale(void **s) {
    (void)s;
    cg_manual_seed(1);
    const int64_t n = 200000;
    cg_tensor *x = cg_tensor_ones(1, CG_SHAPE(n));
    float ps[3] = { 0.1f, 0.5f, 0.8f };
    for (int k = 0; k < 3; k++) {
        cg_tensor *y = cg_dropout(x, ps[k], true, NULL);
        assert_non_null(y);
        int64_t zeros = 0;
        float scale = 1.0f / (1.0f - ps[k]);
        for (int64_t i = 0; i < n; i++) {
            float v = cg_tensor_data(y)[i];
            if (v == 0.0f) zeros++;
            else assert_float_equal(v, scale, 1e-6);
        }
        double rate = (double)zeros / (double)n;  /* sd ~ 0.0011 at p = 0.5 */
        if (fabs(rate - ps[k]) > 0.006) fail_msg("p=%g: dropped %.4f", (double)ps[k], rate);
    }
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_eval_identity_and_edges(void **s) {
    (void)s;
    cg_tensor *x = test_tensor(2, CG_SHAPE(3, 4), -1, 1, 1, true);
    cg_rng_state before = cg_rng_get_state();
    cg_tensor *y = cg_dropout(x, 0.5f, false, NULL);
    assert_non_null(y);
    for (int i = 0; i < 12; i++) assert_float_equal(cg_tensor_data(y)[i], cg_tensor_data(x)[i], 0);
    cg_tensor *x3 = test_tensor(3, CG_SHAPE(3, 2, 2), -1, 1, 2, false);
    cg_tensor *z = cg_dropout2d(x3, 0.3f, false, NULL);
    for (int i = 0; i < 12; i++) assert_float_equal(cg_tensor_data(z)[i], cg_tensor_data(x3)[i], 0);
    cg_tensor *y0 = cg_dropout(x, 0.0f, true, NULL);
    for (int i = 0; i < 12; i++) assert_float_equal(cg_tensor_data(y0)[i], cg_tensor_data(x)[i], 0);
    assert_true(cg_rng_get_state().offset == before.offset);  /* no draws used */
    /* grads flow through the identity */
    assert_int_equal(cg_backward(cg_sum(cg_add(y, y0))), CG_OK);
    for (int i = 0; i < 12; i++) assert_float_equal(cg_tensor_data(cg_tensor_grad(x))[i], 2.0f, 0);
    cg_tape_release();
    /* p = 1: zeros, zero grads */
    cg_tensor_zero_grad(x);
    cg_tensor *y1 = cg_dropout(x, 1.0f, true, NULL);
    assert_non_null(y1);
    for (int i = 0; i < 12; i++) assert_float_equal(cg_tensor_data(y1)[i], 0.0f, 0);
    assert_int_equal(cg_backward(cg_sum(y1)), CG_OK);
    for (int i = 0; i < 12; i++) assert_float_equal(cg_tensor_data(cg_tensor_grad(x))[i], 0.0f, 0);
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(x3);
}

static void test_dropout2d_whole_channels(void **s) {
    (void)s;
    cg_manual_seed(7);
    const int64_t N = 8, C = 16, H = 3, W = 5;
    cg_tensor *x = cg_tensor_ones(4, CG_SHAPE(N, C, H, W));
    cg_tensor *y = cg_dropout2d(x, 0.5f, true, NULL);
    assert_non_null(y);
    int dropped = 0;
    for (int64_t p = 0; p < N * C; p++) {
        const float *q = cg_tensor_data(y) + p * H * W;
        for (int64_t i = 1; i < H * W; i++) assert_float_equal(q[i], q[0], 0);
        if (q[0] == 0.0f) dropped++;
        else assert_float_equal(q[0], 2.0f, 0);
    }
    assert_true(dropped > 30 && dropped < 98);  /* 128 channels at p = 0.5 */
    /* [N,C,L] too */
    cg_tensor *x3 = cg_tensor_ones(3, CG_SHAPE(4, 6, 10));
    y = cg_dropout2d(x3, 0.5f, true, NULL);
    assert_non_null(y);
    for (int64_t p = 0; p < 24; p++)
        for (int64_t i = 1; i < 10; i++) assert_float_equal(cg_tensor_data(y)[p * 10 + i], cg_tensor_data(y)[p * 10], 0);
    /* [N,F]: each feature is a channel of one element, so the mask is element-wise, as PyTorch
     * 1.13's nn.Dropout2d on a 2-d input. Per row, some features drop and some stay. */
    cg_tensor *x2 = cg_tensor_ones(2, CG_SHAPE(4, 128));
    y = cg_dropout2d(x2, 0.5f, true, NULL);
    assert_non_null(y);
    for (int64_t r = 0; r < 4; r++) {
        int zeros = 0;
        for (int64_t i = 0; i < 128; i++) {
            float v = cg_tensor_data(y)[r * 128 + i];
            assert_true(v == 0.0f || v == 2.0f);
            zeros += v == 0.0f;
        }
        assert_true(zeros > 30 && zeros < 98);
    }
    cg_tensor_free(x2);
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(x3);
}

/* Mask of a fresh seed with the given thread count, copied into out. */
static void mask_with(uint64_t seed, int threads, float *out, int64_t n, bool channels) {
    int prev = omp_get_max_threads();
    cg_set_num_threads(threads);
    cg_manual_seed(seed);
    cg_tensor *x = cg_tensor_ones(channels ? 4 : 1, channels ? CG_SHAPE(n / 64, 8, 4, 2) : CG_SHAPE(n));
    cg_tensor *y = channels ? cg_dropout2d(x, 0.3f, true, NULL) : cg_dropout(x, 0.3f, true, NULL);
    assert_non_null(y);
    memcpy(out, cg_tensor_data(y), (size_t)n * sizeof(float));
    cg_tape_release();
    cg_tensor_free(x);
    cg_set_num_threads(prev);
}

static void test_seed_and_threads(void **s) {
    (void)s;
    const int64_t n = 1 << 17;  /* above CG_OMP_MIN so the parallel path runs */
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    for (int ch = 0; ch < 2; ch++) {
        mask_with(42, 1, a, n, ch);
        mask_with(42, 2, b, n, ch);
        mask_with(43, 2, c, n, ch);
        assert_memory_equal(a, b, (size_t)n * sizeof(float));
        assert_true(memcmp(a, c, (size_t)n * sizeof(float)) != 0);
    }
    /* consecutive calls draw fresh masks */
    cg_manual_seed(5);
    cg_tensor *x = cg_tensor_ones(1, CG_SHAPE(1000));
    cg_tensor *y1 = cg_dropout(x, 0.5f, true, NULL), *y2 = cg_dropout(x, 0.5f, true, NULL);
    assert_true(memcmp(cg_tensor_data(y1), cg_tensor_data(y2), 1000 * sizeof(float)) != 0);
    cg_tape_release();
    cg_tensor_free(x);
    free(a); free(b); free(c);
}

static cg_tensor *drop_fn(cg_tensor **in, void *ctx) { return cg_dropout(in[0], *(float *)ctx, true, NULL); }
static cg_tensor *drop2d_fn(cg_tensor **in, void *ctx) { return cg_dropout2d(in[0], *(float *)ctx, true, NULL); }

static void test_gradcheck(void **s) {
    (void)s;
    cg_manual_seed(3);
    float p = 0.4f;
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 3, 2, 3), -1, 1, 2, true);
    gradcheck(drop_fn, &x, 1, &p, 1e-3, 1e-3, 1e-2);
    gradcheck(drop2d_fn, &x, 1, &p, 1e-3, 1e-3, 1e-2);
    /* backward uses the forward's mask: grad is 0 or 1/(1-p) where y is 0 or x/(1-p) */
    cg_tensor_zero_grad(x);
    cg_tensor *y = cg_dropout(x, p, true, NULL);
    assert_int_equal(cg_backward(cg_sum(y)), CG_OK);
    for (int i = 0; i < 36; i++) {
        float yi = cg_tensor_data(y)[i], gi = cg_tensor_data(cg_tensor_grad(x))[i];
        assert_float_equal(gi, yi == 0.0f ? 0.0f : 1.0f / (1.0f - p), 1e-6);
    }
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_errors(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_ones(2, CG_SHAPE(2, 2));
    assert_null(cg_dropout(x, 1.5f, true, NULL));
    assert_non_null(strstr(cg_last_error(), "outside [0, 1]"));
    assert_null(cg_dropout(x, -0.1f, false, NULL));
    assert_null(cg_dropout(x, NAN, true, NULL));
    cg_tensor *x1 = cg_tensor_ones(1, CG_SHAPE(4));
    assert_null(cg_dropout2d(x1, 0.5f, true, NULL));
    assert_non_null(strstr(cg_last_error(), "[N,C,H,W]"));
    cg_tensor_free(x1);
    assert_null(cg_dropout(NULL, 0.5f, true, NULL));
    cg_tape_release();
    cg_tensor_free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_and_scale),
        cmocka_unit_test(test_eval_identity_and_edges),
        cmocka_unit_test(test_dropout2d_whole_channels),
        cmocka_unit_test(test_seed_and_threads),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
