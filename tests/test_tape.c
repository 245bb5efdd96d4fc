/* SPDX-License-Identifier: MIT */
/* tests/test_tape.c — tape semantics: gradients of simple graphs, accumulation across
 * backward calls, reuse of a tensor, a diamond, no-grad mode, release, errors, and a training
 * loop that allocates nothing once warm (counted through the allocator hook). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"

static const float *grad_of(const cg_tensor *t) {
    cg_tensor *g = cg_tensor_grad(t);
    assert_non_null(g);
    return cg_tensor_cdata(g);
}

static void test_mul_grads_swap(void **st) {
    (void)st;
    /* y = sum(x * a): x.grad == a and a.grad == x */
    cg_tensor *x = test_tensor(1, CG_SHAPE(5), -2, 2, 1, true), *a = test_tensor(1, CG_SHAPE(5), -2, 2, 2, true);
    assert_int_equal(cg_backward(cg_sum(cg_mul(x, a))), CG_OK);
    for (int i = 0; i < 5; i++) {
        assert_float_equal(grad_of(x)[i], cg_tensor_cdata(a)[i], 0);
        assert_float_equal(grad_of(a)[i], cg_tensor_cdata(x)[i], 0);
    }
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(a);
}

static void test_grads_accumulate_until_zeroed(void **st) {
    (void)st;
    cg_tensor *x = test_tensor(1, CG_SHAPE(4), -2, 2, 3, true), *a = test_tensor(1, CG_SHAPE(4), -2, 2, 4, false);
    cg_tensor *loss = cg_sum(cg_mul(x, a));
    assert_int_equal(cg_backward(loss), CG_OK);
    assert_int_equal(cg_backward(loss), CG_OK);  /* same graph twice: grads add up */
    for (int i = 0; i < 4; i++) assert_float_equal(grad_of(x)[i], 2 * cg_tensor_cdata(a)[i], 1e-6);
    cg_tape_release();
    assert_int_equal(cg_backward(cg_sum(cg_mul(x, a))), CG_OK);  /* a new graph: still adds */
    for (int i = 0; i < 4; i++) assert_float_equal(grad_of(x)[i], 3 * cg_tensor_cdata(a)[i], 1e-6);
    cg_tensor_zero_grad(x);
    for (int i = 0; i < 4; i++) assert_float_equal(grad_of(x)[i], 0, 0);
    assert_int_equal(cg_backward(cg_sum(cg_mul(x, a))), CG_OK);
    for (int i = 0; i < 4; i++) assert_float_equal(grad_of(x)[i], cg_tensor_cdata(a)[i], 0);
    assert_null(cg_tensor_grad(a));  /* a needs no grad and gets none */
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(a);
}

static void test_tensor_used_twice(void **st) {
    (void)st;
    cg_tensor *x = test_tensor(1, CG_SHAPE(6), -2, 2, 5, true);
    assert_int_equal(cg_backward(cg_sum(cg_mul(x, x))), CG_OK);
    for (int i = 0; i < 6; i++) assert_float_equal(grad_of(x)[i], 2 * cg_tensor_cdata(x)[i], 1e-6);
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_diamond(void **st) {
    (void)st;
    /* b = 2x, c = 3x, y = sum(b * c) = sum(6 x^2): dy/dx = 12x */
    cg_tensor *x = test_tensor(1, CG_SHAPE(6), -2, 2, 6, true);
    cg_tensor *b = cg_mul_scalar(x, 2), *c = cg_mul_scalar(x, 3);
    assert_int_equal(cg_backward(cg_sum(cg_mul(b, c))), CG_OK);
    for (int i = 0; i < 6; i++) assert_float_equal(grad_of(x)[i], 12 * cg_tensor_cdata(x)[i], 1e-5);
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_no_grad_records_nothing(void **st) {
    (void)st;
    cg_tape_release();
    cg_tensor *x = test_tensor(2, CG_SHAPE(2, 3), -2, 2, 7, true);
    bool prev = cg_set_grad_enabled(false);
    assert_true(prev);
    assert_false(cg_is_grad_enabled());
    cg_tensor *y = cg_sum(cg_relu(cg_mul(x, x)));
    assert_non_null(y);
    assert_int_equal(cg_tape_num_nodes(), 0);
    assert_true(cg_tape_num_tensors() > 0);  /* results are still tape-owned */
    assert_false(cg_tensor_requires_grad(y));
    cg_set_grad_enabled(prev);
    assert_int_not_equal(cg_backward(y), CG_OK);
    assert_non_null(strstr(cg_last_error(), "does not require grad"));
    assert_null(cg_tensor_grad(x));
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_release_resets_counts(void **st) {
    (void)st;
    cg_tensor *x = test_tensor(1, CG_SHAPE(3), -2, 2, 8, true);
    cg_tensor *y = cg_sum(cg_exp(cg_mul_scalar(x, 2)));
    assert_non_null(y);
    assert_int_equal(cg_tape_num_nodes(), 3);
    assert_true(cg_tape_num_tensors() >= 3);
    int64_t pool = cg_tape_pool_bytes();
    assert_true(pool > 0);
    cg_tape_release();
    assert_int_equal(cg_tape_num_nodes(), 0);
    assert_int_equal(cg_tape_num_tensors(), 0);
    assert_int_equal(cg_tape_pool_bytes(), pool);  /* buffers kept for the next step */
    cg_tensor_free(x);
}

static void test_backward_errors(void **st) {
    (void)st;
    cg_tensor *x = test_tensor(1, CG_SHAPE(3), -2, 2, 9, true);
    assert_int_equal(cg_backward(cg_exp(x)), CG_ESHAPE);  /* 3 elements, not a scalar */
    assert_non_null(strstr(cg_last_error(), "one"));
    assert_int_equal(cg_backward(NULL), CG_EINVAL);
    assert_null(cg_tensor_grad(x));
    cg_tape_release();
    cg_tensor_free(x);
}

/* A failed op, then cg_backward(NULL): the message names the op's failure exactly once, cleanly
 * (it used to format cg_last_error() into its own buffer, an overlapping vsnprintf). */
static void test_backward_null_keeps_op_message(void **st) {
    (void)st;
    cg_tensor *x = test_tensor(4, CG_SHAPE(1, 1, 1, 1), -1, 1, 16, true);
    cg_tensor *w = test_tensor(4, CG_SHAPE(2, 1, 3, 3), -1, 1, 17, true);
    cg_tensor *y = cg_conv2d(x, w, NULL, &(cg_conv2d_params){ .stride = { 1, 1 }, .dilation = { 1, 1 }, .groups = 1 });
    assert_null(y);
    char op_msg[512];
    snprintf(op_msg, sizeof op_msg, "%s", cg_last_error());
    assert_non_null(strstr(op_msg, "conv2d"));
    assert_int_equal(cg_backward(cg_sum(y)), CG_EINVAL);
    const char *msg = cg_last_error();
    char want[700];
    snprintf(want, sizeof want, "cg_backward: loss is NULL (an op before it failed: %s)", op_msg);
    assert_string_equal(msg, want);
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(w);
}

/* ---- a training loop that allocates nothing once warm ------------------------------ */
static int64_t n_allocs, n_frees;
static void *count_alloc(size_t size, void *ctx) { (void)ctx; n_allocs++; return malloc(size); }
static void count_free(void *p, void *ctx) { (void)ctx; n_frees++; free(p); }

typedef struct { cg_tensor *x, *t, *w1, *b1, *w2, *b2; } mlp;

/* One step of a 2-layer MLP regression: forward, backward, SGD by hand, zero_grad, release. */
static float mlp_step(mlp *m, float lr) {
    cg_tensor *h = cg_relu(cg_add(cg_matmul(m->x, m->w1), m->b1));
    cg_tensor *p = cg_add(cg_matmul(h, m->w2), m->b2);
    cg_tensor *loss = cg_mse_loss(p, m->t, CG_REDUCTION_MEAN);
    assert_non_null(loss);
    float l = cg_tensor_item(loss);
    assert_int_equal(cg_backward(loss), CG_OK);
    bool prev = cg_set_grad_enabled(false);
    cg_tensor *params[] = { m->w1, m->b1, m->w2, m->b2 };
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cg_tensor_axpy_(params[i], -lr, cg_tensor_grad(params[i])), CG_OK);
        cg_tensor_zero_grad(params[i]);
    }
    cg_set_grad_enabled(prev);
    cg_tape_release();
    return l;
}

static void test_warm_training_loop_allocates_nothing(void **st) {
    (void)st;
    mlp m = {
        .x = test_tensor(2, CG_SHAPE(8, 4), -1, 1, 10, false),
        .t = test_tensor(2, CG_SHAPE(8, 1), -1, 1, 11, false),
        .w1 = test_tensor(2, CG_SHAPE(4, 16), -0.5f, 0.5f, 12, true),
        .b1 = test_tensor(1, CG_SHAPE(16), -0.1f, 0.1f, 13, true),
        .w2 = test_tensor(2, CG_SHAPE(16, 1), -0.5f, 0.5f, 14, true),
        .b2 = test_tensor(1, CG_SHAPE(1), -0.1f, 0.1f, 15, true),
    };
    cg_allocator counting = { count_alloc, count_free, NULL };
    cg_set_allocator(&counting);
    n_allocs = n_frees = 0;
    float first = mlp_step(&m, 0.1f);
    for (int i = 0; i < 2; i++) mlp_step(&m, 0.1f);  /* warm-up: grads and pool get made */
    assert_true(n_allocs > 0);  /* the counter sees the library's allocations */
    int64_t warm = n_allocs;
    float last = 0;
    for (int i = 0; i < 10; i++) last = mlp_step(&m, 0.1f);
    int64_t during = n_allocs - warm;
    cg_set_allocator(NULL);
    assert_int_equal(during, 0);
    assert_true(last < first);  /* and it does learn */
    cg_tensor *all[] = { m.x, m.t, m.w1, m.b1, m.w2, m.b2 };
    for (int i = 0; i < 6; i++) cg_tensor_free(all[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mul_grads_swap),
        cmocka_unit_test(test_grads_accumulate_until_zeroed),
        cmocka_unit_test(test_tensor_used_twice),
        cmocka_unit_test(test_diamond),
        cmocka_unit_test(test_no_grad_records_nothing),
        cmocka_unit_test(test_release_resets_counts),
        cmocka_unit_test(test_backward_errors),
        cmocka_unit_test(test_backward_null_keeps_op_message),
        cmocka_unit_test(test_warm_training_loop_allocates_nothing),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
