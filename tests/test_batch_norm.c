/* SPDX-License-Identifier: MIT */
/* tests/test_batch_norm.c — batch_norm2d: training/eval values and running stats vs PyTorch,
 * gradients in both modes (a leaf input and one on the tape), [N,C] input, errors; the fused
 * batch_norm2d_relu against relu(batch_norm2d). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"

static void test_values_vs_torch(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_from_array(4, CG_SHAPE(2, 2, 2, 1), (float[]){ 1, 2, 3, 4, -1, 0, 2, 5 });
    cg_tensor *rm = cg_tensor_from_array(1, CG_SHAPE(2), (float[]){ 0.5f, -0.5f });
    cg_tensor *rv = cg_tensor_from_array(1, CG_SHAPE(2), (float[]){ 2, 3 });
    cg_tensor *w = cg_tensor_from_array(1, CG_SHAPE(2), (float[]){ 1.5f, -2 });
    cg_tensor *b = cg_tensor_from_array(1, CG_SHAPE(2), (float[]){ 0.1f, 0.2f });
    /* torch.nn.functional.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5) */
    cg_tensor *y = cg_batch_norm2d(x, w, b, rm, rv, true, 0.1f, 1e-5f);
    assert_non_null(y);
    float want[8] = { 0.77081776f, 2.11245322f, 1.09442353f, -0.69442368f, -1.91245317f, -0.57081771f, 2.88327074f, -2.48327088f };
    for (int i = 0; i < 8; i++) assert_float_equal(cg_tensor_data(y)[i], want[i], 1e-5);
    assert_float_equal(cg_tensor_data(rm)[0], 0.5f, 1e-6);
    assert_float_equal(cg_tensor_data(rm)[1], -0.1f, 1e-6);
    assert_float_equal(cg_tensor_data(rv)[0], 1.96666658f, 1e-6);
    assert_float_equal(cg_tensor_data(rv)[1], 2.86666656f, 1e-6);
    /* then eval with the updated running stats */
    y = cg_batch_norm2d(x, w, b, rm, rv, false, 0.1f, 1e-5f);
    float want_eval[8] = { 0.63480413f, 1.70441246f, -3.46186495f, -4.64311171f, -1.50441253f, -0.43480417f, -2.28061819f, -5.82435846f };
    for (int i = 0; i < 8; i++) assert_float_equal(cg_tensor_data(y)[i], want_eval[i], 1e-5);
    assert_float_equal(cg_tensor_data(rm)[1], -0.1f, 1e-6);  /* eval leaves them alone */
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(rm); cg_tensor_free(rv); cg_tensor_free(w); cg_tensor_free(b);
}

/* tape: the input is x*x, a tensor on the tape, whose gradient the backward writes fresh. */
typedef struct { cg_tensor *rm, *rv; bool training; bool affine; bool tape; } bn_ctx;
static cg_tensor *bn_fn(cg_tensor **in, void *p) {
    bn_ctx *c = p;
    cg_tensor *x = c->tape ? cg_mul(in[0], in[0]) : in[0];
    return cg_batch_norm2d(x, c->affine ? in[1] : NULL, c->affine ? in[2] : NULL, c->rm, c->rv,
                           c->training, 0.1f, 1e-5f);
}

static void check(int ndim, const int64_t *shape, bool training, bool affine, unsigned salt, bool tape) {
    int64_t C = shape[1];
    cg_tensor *in[3] = { test_tensor(ndim, shape, -2, 2, salt, true), test_tensor(1, CG_SHAPE(C), 0.5f, 1.5f, salt + 1, true),
                         test_tensor(1, CG_SHAPE(C), -1, 1, salt + 2, true) };
    bn_ctx c = { test_tensor(1, CG_SHAPE(C), -0.5f, 0.5f, salt + 3, false), test_tensor(1, CG_SHAPE(C), 0.5f, 2, salt + 4, false),
                 training, affine, tape };
    gradcheck(bn_fn, in, affine ? 3 : 1, &c, 1e-3, 2e-3, 2e-2);
    for (int i = 0; i < 3; i++) cg_tensor_free(in[i]);
    cg_tensor_free(c.rm); cg_tensor_free(c.rv);
}

static void test_gradcheck(void **s) {
    (void)s;
    for (int tape = 0; tape < 2; tape++) {
        check(4, CG_SHAPE(3, 2, 2, 3), true, true, 1, tape);
        check(4, CG_SHAPE(3, 2, 2, 3), false, true, 2, tape);
        check(4, CG_SHAPE(2, 3, 2, 2), true, false, 3, tape);
        check(2, CG_SHAPE(5, 3), true, true, 4, tape);
        check(2, CG_SHAPE(5, 3), false, true, 5, tape);
    }
}

/* lib/cg_internal.h: batch norm with the ReLU fused (what cg_conv2d_ex runs for an unfolded batch
 * norm + ReLU). */
cg_tensor *cg_batch_norm2d_relu(cg_tensor *x, cg_tensor *weight, cg_tensor *bias, cg_tensor *running_mean,
                                cg_tensor *running_var, bool training, float momentum, float eps);
cg_tensor *cg_batch_norm2d_relu6(cg_tensor *x, cg_tensor *weight, cg_tensor *bias, cg_tensor *running_mean,
                                 cg_tensor *running_var, bool training, float momentum, float eps);

/* The fused ops give relu(batch_norm2d(x))'s and relu6(batch_norm2d(x))'s values, running stats
 * and gradients bit for bit: training and eval, a leaf input and one on the tape (a fresh
 * gradient), NaN included; for the ReLU6 with weights that take outputs past 6 (clamped, and no
 * gradient there). */
static void test_relu_fused_matches_unfused(void **s) {
    (void)s;
    for (int six = 0; six < 2; six++)
    for (int training = 0; training < 2; training++)
    for (int tape = 0; tape < 2; tape++) {
        float *out[2], *grad[2][3], stats[2][4];
        const int64_t n = 4 * 3 * 5 * 6;
        for (int fused = 0; fused < 2; fused++) {
            cg_tensor *x = test_tensor(4, CG_SHAPE(4, 3, 5, 6), -2, 2, 30, true);
            cg_tensor *w = test_tensor(1, CG_SHAPE(3), six ? 4.0f : 0.5f, six ? 6.0f : 1.5f, 31, true);
            cg_tensor *b = test_tensor(1, CG_SHAPE(3), -1, 1, 32, true);
            cg_tensor *rm = test_tensor(1, CG_SHAPE(3), -0.5f, 0.5f, 33, false), *rv = test_tensor(1, CG_SHAPE(3), 0.5f, 2, 34, false);
            cg_tensor_data(x)[7] = NAN;
            cg_tensor *xi = tape ? cg_mul(x, x) : x;
            cg_tensor *y = six ? (fused ? cg_batch_norm2d_relu6(xi, w, b, rm, rv, training, 0.1f, 1e-5f)
                                        : cg_relu6(cg_batch_norm2d(xi, w, b, rm, rv, training, 0.1f, 1e-5f)))
                               : fused ? cg_batch_norm2d_relu(xi, w, b, rm, rv, training, 0.1f, 1e-5f)
                                       : cg_relu(cg_batch_norm2d(xi, w, b, rm, rv, training, 0.1f, 1e-5f));
            assert_non_null(y);
            out[fused] = malloc((size_t)n * sizeof(float));
            memcpy(out[fused], cg_tensor_data(y), (size_t)n * sizeof(float));
            cg_tensor *r = test_tensor(4, cg_tensor_shape(y), -1, 1, 35, false);
            assert_int_equal(cg_backward(cg_sum(cg_mul(y, r))), CG_OK);
            cg_tensor *ts[3] = { x, w, b };
            for (int i = 0; i < 3; i++) {
                int64_t k = cg_tensor_numel(ts[i]);
                grad[fused][i] = malloc((size_t)k * sizeof(float));
                memcpy(grad[fused][i], cg_tensor_data(cg_tensor_grad(ts[i])), (size_t)k * sizeof(float));
            }
            for (int i = 0; i < 2; i++) { stats[fused][i] = cg_tensor_data(rm)[i]; stats[fused][2 + i] = cg_tensor_data(rv)[i]; }
            cg_tape_release();
            cg_tensor_free(r); cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(b); cg_tensor_free(rm); cg_tensor_free(rv);
        }
        int64_t zeros = 0, nans = 0, sixes = 0;
        for (int64_t i = 0; i < n; i++) { zeros += out[1][i] == 0.0f; nans += isnan(out[1][i]); sixes += out[1][i] == 6.0f; }
        assert_true(zeros > 0 && zeros < n);
        if (six) assert_true(sixes > 0 && sixes < n);
        if (training) assert_int_equal(nans, 4 * 5 * 6);   /* a NaN poisons its channel's statistics */
        else assert_int_equal(nans, 1);
        assert_memory_equal(out[0], out[1], (size_t)n * sizeof(float));
        for (int i = 0; i < 3; i++)
            for (int64_t k = 0; k < (i ? 3 : n); k++)
                if (memcmp(&grad[0][i][k], &grad[1][i][k], sizeof(float)))
                    fail_msg("six %d training %d tape %d: gradient %d [%lld]: unfused %.9g, fused %.9g", six, training,
                             tape, i, (long long)k, grad[0][i][k], grad[1][i][k]);
        assert_memory_equal(stats[0], stats[1], sizeof stats[0]);
        for (int f = 0; f < 2; f++) { free(out[f]); for (int i = 0; i < 3; i++) free(grad[f][i]); }
    }
}

static void test_no_running_stats_in_training(void **s) {
    (void)s;
    cg_tensor *x = test_tensor(2, CG_SHAPE(6, 2), -1, 1, 9, false);
    cg_tensor *y = cg_batch_norm2d(x, NULL, NULL, NULL, NULL, true, 0.1f, 1e-5f);
    assert_non_null(y);
    for (int c = 0; c < 2; c++) {  /* normalised: mean 0, biased var ~1 */
        double m = 0, v = 0;
        for (int n = 0; n < 6; n++) m += cg_tensor_data(y)[n * 2 + c];
        m /= 6;
        for (int n = 0; n < 6; n++) v += pow(cg_tensor_data(y)[n * 2 + c] - m, 2);
        assert_float_equal(m, 0.0, 1e-6);
        assert_float_equal(v / 6, 1.0, 1e-3);
    }
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_errors(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_zeros(4, CG_SHAPE(2, 3, 2, 2)), *v2 = cg_tensor_ones(1, CG_SHAPE(2)), *v3 = cg_tensor_ones(1, CG_SHAPE(3));
    cg_tensor *x1 = cg_tensor_zeros(2, CG_SHAPE(1, 3)), *x5 = cg_tensor_zeros(1, CG_SHAPE(3));
    assert_null(cg_batch_norm2d(x, v2, NULL, NULL, NULL, true, 0.1f, 1e-5f));
    assert_non_null(strstr(cg_last_error(), "weight must be [3]"));
    assert_null(cg_batch_norm2d(x, NULL, NULL, v3, v2, true, 0.1f, 1e-5f));
    assert_non_null(strstr(cg_last_error(), "running_var"));
    assert_null(cg_batch_norm2d(x, NULL, NULL, NULL, NULL, false, 0.1f, 1e-5f));
    assert_non_null(strstr(cg_last_error(), "eval mode"));
    assert_null(cg_batch_norm2d(x1, NULL, NULL, NULL, NULL, true, 0.1f, 1e-5f));
    assert_non_null(strstr(cg_last_error(), "more than 1 value"));
    assert_non_null(cg_batch_norm2d(x1, NULL, NULL, v3, v3, false, 0.1f, 1e-5f));  /* eval is fine */
    assert_null(cg_batch_norm2d(x5, NULL, NULL, NULL, NULL, true, 0.1f, 1e-5f));
    assert_null(cg_batch_norm2d(NULL, NULL, NULL, NULL, NULL, true, 0.1f, 1e-5f));
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(v2); cg_tensor_free(v3); cg_tensor_free(x1); cg_tensor_free(x5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_vs_torch),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_relu_fused_matches_unfused),
        cmocka_unit_test(test_no_running_stats_in_training),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
