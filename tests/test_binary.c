/* SPDX-License-Identifier: MIT */
/* tests/test_binary.c — add/sub/mul/div: values, broadcasting, gradients, shape errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "gradcheck.h"

typedef cg_tensor *(*binop)(cg_tensor *, cg_tensor *);
static cg_tensor *apply2(cg_tensor **in, void *ctx) { return ((binop)ctx)(in[0], in[1]); }

static void check_all(int nda, const int64_t *sa, int ndb, const int64_t *sb) {
    binop ops[] = { cg_add, cg_sub, cg_mul, cg_div };
    for (int k = 0; k < 4; k++) {
        cg_tensor *in[2] = { test_tensor(nda, sa, 0.5f, 2.0f, 1, true), test_tensor(ndb, sb, 0.5f, 2.0f, 2, true) };
        gradcheck(apply2, in, 2, (void *)ops[k], 1e-3, 1e-3, 1e-2);
        cg_tensor_free(in[0]);
        cg_tensor_free(in[1]);
    }
}

static void test_same_shape_grad(void **s) { (void)s; check_all(2, CG_SHAPE(3, 4), 2, CG_SHAPE(3, 4)); }
static void test_broadcast_row_grad(void **s) { (void)s; check_all(2, CG_SHAPE(3, 4), 1, CG_SHAPE(4)); }
static void test_broadcast_both_grad(void **s) { (void)s; check_all(3, CG_SHAPE(2, 1, 4), 2, CG_SHAPE(3, 1)); }
static void test_scalar_grad(void **s) { (void)s; check_all(1, CG_SHAPE(1), 2, CG_SHAPE(2, 3)); }

/* op(t, in1) + op(in1, t) with t = in0 * 1 on the tape and in0 used once more: the same-shape
 * backward writes a fresh tape grad (t's first side), accumulates into it (t's second side), and
 * accumulates into leaves' grads that already hold a value. */
static cg_tensor *apply_twice(cg_tensor **in, void *ctx) {
    binop op = (binop)ctx;
    cg_tensor *t = cg_mul(in[0], in[2]);
    return cg_add(cg_add(op(t, in[1]), op(in[1], t)), op(in[0], in[1]));
}

static void test_same_shape_grad_accumulates(void **s) {
    (void)s;
    binop ops[] = { cg_add, cg_sub, cg_mul, cg_div };
    for (int k = 0; k < 4; k++) {
        cg_tensor *in[3] = { test_tensor(2, CG_SHAPE(3, 4), 0.5f, 2.0f, 3, true),
                             test_tensor(2, CG_SHAPE(3, 4), 0.5f, 2.0f, 4, true),
                             test_tensor(2, CG_SHAPE(3, 4), 0.5f, 2.0f, 5, true) };
        gradcheck(apply_twice, in, 3, (void *)ops[k], 1e-3, 1e-3, 1e-2);
        for (int i = 0; i < 3; i++) cg_tensor_free(in[i]);
    }
}

static void test_values(void **s) {
    (void)s;
    cg_tensor *a = cg_tensor_from_array(2, CG_SHAPE(2, 2), (float[]){ 1, 2, 3, 4 });
    cg_tensor *b = cg_tensor_from_array(1, CG_SHAPE(2), (float[]){ 10, 20 });
    cg_tensor *y = cg_add(a, b);
    assert_non_null(y);
    float want[] = { 11, 22, 13, 24 };
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_data(y)[i], want[i], 0);
    y = cg_div(a, b);
    assert_float_equal(cg_tensor_data(y)[3], 0.2f, 1e-7);
    cg_tape_release();
    cg_tensor_free(a);
    cg_tensor_free(b);
}

static void test_shape_mismatch_is_an_error(void **s) {
    (void)s;
    cg_tensor *a = cg_tensor_zeros(2, CG_SHAPE(2, 3)), *b = cg_tensor_zeros(2, CG_SHAPE(2, 4));
    assert_null(cg_mul(a, b));
    assert_non_null(strstr(cg_last_error(), "do not broadcast"));
    assert_null(cg_add(NULL, b)); /* NULL propagates */
    cg_tape_release();
    cg_tensor_free(a);
    cg_tensor_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_same_shape_grad),
        cmocka_unit_test(test_same_shape_grad_accumulates),
        cmocka_unit_test(test_broadcast_row_grad),
        cmocka_unit_test(test_broadcast_both_grad),
        cmocka_unit_test(test_scalar_grad),
        cmocka_unit_test(test_shape_mismatch_is_an_error),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
