/* SPDX-License-Identifier: MIT */
/* tests/test_lessons.c — the seed's first three lessons against PyTorch (tests/fixtures/lessons.txt):
 * y = x * a and y = x^4 gradients; linear regression by hand (w -= lr * w.grad) and through a
 * user-defined Module and Optimizer, on the same 100 points PyTorch used. */
#include <math.h>
#include "fixture.h"

static void test_autograd_lesson(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_full(1, CG_SHAPE(1), 2.0f), *a = cg_tensor_full(1, CG_SHAPE(1), 4.0f);
    cg_tensor_set_requires_grad(x, true);
    cg_tensor_set_requires_grad(a, true);
    assert_int_equal(cg_backward(cg_mul(x, a)), CG_OK);
    assert_float_equal(cg_tensor_item(cg_tensor_grad(x)), 4.0f, 0);  /* dy/dx = a */
    assert_float_equal(cg_tensor_item(cg_tensor_grad(a)), 2.0f, 0);  /* dy/da = x */
    cg_tape_release();
    cg_tensor_zero_grad(x);
    assert_int_equal(cg_backward(cg_pow(x, 4.0f)), CG_OK);
    assert_float_equal(cg_tensor_item(cg_tensor_grad(x)), 32.0f, 1e-5);  /* 4 x^3 */
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(a);
}

/* ---- a user's module and optimizer, as apps/linreg.c writes them ---------- */
typedef struct simple_linear { cg_module base; cg_tensor *w, *b; } simple_linear;
static cg_tensor *sl_forward(cg_module *m, cg_tensor *x) {
    simple_linear *l = (simple_linear *)m;
    return cg_add(cg_mul(l->w, x), l->b);
}
static const cg_module_type sl_type = { "SimpleLinear", sl_forward, NULL, NULL };
static cg_status gd_step(cg_optimizer *o) {
    for (int64_t i = 0; i < o->n_params; i++) cg_tensor_axpy_(o->params[i], -o->lr, cg_tensor_grad(o->params[i]));
    return CG_OK;
}
static const cg_optimizer_type gd_type = { "GD", gd_step, NULL };

static void check_row(const cg_tensor *want, int64_t row, float w, float b, float loss) {
    const float *r = cg_tensor_cdata(want) + row * 3;
    /* float32 on both sides, summed in different orders: agree to ~1e-5 relative */
    assert_true(fabsf(w - r[0]) <= 1e-5f + 1e-4f * fabsf(r[0]));
    assert_true(fabsf(b - r[1]) <= 1e-5f + 1e-4f * fabsf(r[1]));
    assert_true(fabsf(loss - r[2]) <= 1e-5f + 1e-4f * fabsf(r[2]));
}

static void test_linreg_by_hand_matches_torch(void **s) {
    (void)s;
    fixture *f = fixture_load("lessons.txt");
    cg_tensor *x = fixture_tensor(f, "x"), *want = fixture_tensor(f, "part1");
    cg_tensor *y = cg_tensor_clone(x);
    for (int i = 0; i < 100; i++) cg_tensor_data(y)[i] = 2.0f * cg_tensor_data(x)[i] + 3.0f;
    cg_tensor *w = cg_tensor_zeros(1, CG_SHAPE(1)), *b = cg_tensor_zeros(1, CG_SHAPE(1));
    cg_tensor_set_requires_grad(w, true);
    cg_tensor_set_requires_grad(b, true);
    for (int it = 1; it <= 200; it++) {
        cg_tensor *loss = cg_mse_loss(cg_add(cg_mul(w, x), b), y, CG_REDUCTION_MEAN);
        assert_int_equal(cg_backward(loss), CG_OK);
        float l = cg_tensor_item(loss);
        cg_tape_release();
        cg_tensor_axpy_(w, -0.015f, cg_tensor_grad(w));
        cg_tensor_axpy_(b, -0.015f, cg_tensor_grad(b));
        cg_tensor_zero_grad(w);
        cg_tensor_zero_grad(b);
        if (it % 10 == 0) check_row(want, it / 10 - 1, cg_tensor_item(w), cg_tensor_item(b), l);
    }
    /* The seed's PyTorch figures for this recipe: w 1.76-1.78, b 3.115-3.125, loss ~0.004. */
    assert_true(cg_tensor_item(w) > 1.7f && cg_tensor_item(w) < 1.85f);
    cg_tensor_free(w); cg_tensor_free(b); cg_tensor_free(x); cg_tensor_free(y); cg_tensor_free(want);
    fixture_free(f);
}

static void test_linreg_module_optimizer_matches_torch(void **s) {
    (void)s;
    fixture *f = fixture_load("lessons.txt");
    cg_tensor *x = fixture_tensor(f, "x"), *want = fixture_tensor(f, "part2");
    cg_tensor *y = cg_tensor_clone(x);
    for (int i = 0; i < 100; i++) cg_tensor_data(y)[i] = 2.0f * cg_tensor_data(x)[i] + 3.0f;
    simple_linear *m = (simple_linear *)cg_module_new(&sl_type, sizeof *m);
    m->w = cg_module_add_parameter(&m->base, "w", cg_tensor_zeros(1, CG_SHAPE(1)));
    m->b = cg_module_add_parameter(&m->base, "b", cg_tensor_zeros(1, CG_SHAPE(1)));
    cg_optimizer *opt = cg_optim_new_for(&gd_type, sizeof(cg_optimizer), &m->base, 0.3f);
    assert_non_null(opt);
    assert_int_equal(opt->n_params, 2);
    for (int epoch = 0; epoch < 10; epoch++) {
        cg_optim_zero_grad(opt);
        cg_tensor *loss = cg_mse_loss(cg_module_forward(&m->base, x), y, CG_REDUCTION_MEAN);
        assert_int_equal(cg_backward(loss), CG_OK);
        assert_int_equal(cg_optim_step(opt), CG_OK);
        check_row(want, epoch, cg_tensor_item(m->w), cg_tensor_item(m->b), cg_tensor_item(loss));
        cg_tape_release();
    }
    assert_int_equal(opt->step_count, 10);
    cg_optim_free(opt);
    cg_module_free(&m->base);
    cg_tensor_free(x); cg_tensor_free(y); cg_tensor_free(want);
    fixture_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_autograd_lesson),
        cmocka_unit_test(test_linreg_by_hand_matches_torch),
        cmocka_unit_test(test_linreg_module_optimizer_matches_torch),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
