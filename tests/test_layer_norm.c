/* SPDX-License-Identifier: MIT */
/* tests/test_layer_norm.c — layer_norm over the last 1 and 2 dims and group_norm, with and
 * without weight and bias: gradients of x, weight and bias against central differences,
 * normalised rows, shape errors, the LayerNorm and GroupNorm modules' parameters. PyTorch's
 * values are in test_torch_ops. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "gradcheck.h"

typedef struct { int k; bool affine; } lnctx;

static cg_tensor *apply(cg_tensor **in, void *ctx) {
    const lnctx *c = ctx;
    return cg_layer_norm(in[0], c->k, c->affine ? in[1] : NULL, c->affine ? in[2] : NULL, 1e-5f);
}

static void test_grad(void **s) {
    (void)s;
    for (int k = 1; k <= 2; k++)
        for (int affine = 0; affine < 2; affine++) {
            cg_tensor *in[3];
            in[0] = test_tensor(3, CG_SHAPE(3, 4, 5), -2, 2, 60 + (unsigned)k, true);
            const int64_t *ws = k == 1 ? CG_SHAPE(5) : CG_SHAPE(4, 5);
            in[1] = test_tensor(k, ws, 0.5f, 1.5f, 70, true);
            in[2] = test_tensor(k, ws, -0.5f, 0.5f, 71, true);
            lnctx c = { k, affine != 0 };
            gradcheck(apply, in, affine ? 3 : 1, &c, 1e-3, 2e-3, 1e-2);
            for (int i = 0; i < 3; i++) cg_tensor_free(in[i]);
        }
}

static void test_rows_are_normalised_and_errors(void **s) {
    (void)s;
    cg_tensor *x = test_tensor(2, CG_SHAPE(6, 32), -3, 5, 80, false);
    const float *y = cg_tensor_cdata(cg_layer_norm(x, 1, NULL, NULL, 1e-5f));
    for (int r = 0; r < 6; r++) {
        double m = 0, q = 0;
        for (int j = 0; j < 32; j++) m += y[r * 32 + j];
        m /= 32;
        for (int j = 0; j < 32; j++) q += (y[r * 32 + j] - m) * (y[r * 32 + j] - m);
        assert_true(fabs(m) < 1e-6 && fabs(q / 32 - 1) < 1e-3);
    }
    cg_tensor *w = cg_tensor_ones(1, CG_SHAPE(31));
    assert_null(cg_layer_norm(x, 1, w, NULL, 1e-5f));
    assert_non_null(strstr(cg_last_error(), "layer_norm: weight [31] must have the input's last 1 dims [32]"));
    assert_null(cg_layer_norm(x, 3, NULL, NULL, 1e-5f));
    assert_null(cg_layer_norm(x, 1, NULL, NULL, 0));
    cg_tape_release();
    cg_module *m = cg_layer_norm_new(32, 1e-5f, true);
    assert_non_null(m);
    assert_int_equal(cg_module_num_parameters(m), 64);
    assert_non_null(cg_module_find(m, "weight"));
    assert_non_null(cg_module_find(m, "bias"));
    cg_module *m2 = cg_layer_norm_new(32, 1e-5f, false);
    assert_int_equal(cg_module_num_parameters(m2), 0);
    assert_null(cg_layer_norm_new(0, 1e-5f, true));
    cg_module_free(m);
    cg_module_free(m2);
    cg_tensor_free(x);
    cg_tensor_free(w);
}

static cg_tensor *gn_apply(cg_tensor **in, void *ctx) {
    int g = *(int *)ctx;
    return cg_group_norm(in[0], g < 0 ? -g : g, g > 0 ? in[1] : NULL, g > 0 ? in[2] : NULL, 1e-5f);
}
static void test_group_norm(void **s) {
    (void)s;
    const int cases[3] = { 2, 3, -1 }; /* groups; negative: no weight/bias */
    for (int k = 0; k < 3; k++) {
        cg_tensor *in[3] = { test_tensor(4, CG_SHAPE(2, 6, 2, 3), -2, 2, 180 + (unsigned)k, true),
                             test_tensor(1, CG_SHAPE(6), 0.5f, 1.5f, 190, true), test_tensor(1, CG_SHAPE(6), -0.5f, 0.5f, 191, true) };
        gradcheck(gn_apply, in, cases[k] > 0 ? 3 : 1, (void *)&cases[k], 1e-3, 2e-3, 1e-2);
        for (int i = 0; i < 3; i++) cg_tensor_free(in[i]);
    }
    cg_tensor *x = cg_tensor_zeros(3, CG_SHAPE(2, 6, 4));
    assert_null(cg_group_norm(x, 4, NULL, NULL, 1e-5f));
    assert_non_null(strstr(cg_last_error(), "6 channels are not divisible into 4 groups"));
    cg_module *m = cg_group_norm_new(3, 6, 1e-5f, true);
    assert_int_equal(cg_module_num_parameters(m), 12);
    assert_null(cg_group_norm_new(4, 6, 1e-5f, true));
    cg_module_free(m);
    cg_tensor_free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_grad), cmocka_unit_test(test_rows_are_normalised_and_errors),
                                        cmocka_unit_test(test_group_norm) };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
