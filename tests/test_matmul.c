/* SPDX-License-Identifier: MIT */
/* tests/test_matmul.c — matmul and transpose: values, gradients, shape errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "gradcheck.h"

static cg_tensor *mm(cg_tensor **in, void *ctx) { (void)ctx; return cg_matmul(in[0], in[1]); }

static void test_values(void **st) {
    (void)st;
    /* [[1,2,3],[4,5,6]] . [[7,8],[9,10],[11,12]] = [[58,64],[139,154]] */
    cg_tensor *a = cg_tensor_from_array(2, CG_SHAPE(2, 3), (float[]){ 1, 2, 3, 4, 5, 6 });
    cg_tensor *b = cg_tensor_from_array(2, CG_SHAPE(3, 2), (float[]){ 7, 8, 9, 10, 11, 12 });
    cg_tensor *y = cg_matmul(a, b);
    assert_non_null(y);
    assert_int_equal(cg_tensor_shape(y)[0], 2);
    assert_int_equal(cg_tensor_shape(y)[1], 2);
    float want[] = { 58, 64, 139, 154 };
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_cdata(y)[i], want[i], 0);
    cg_tape_release();
    cg_tensor_free(a);
    cg_tensor_free(b);
}

static void test_grad_values(void **st) {
    (void)st;
    /* loss = sum(a.b): da = 1[M,N].bᵀ (row sums of b), db = aᵀ.1 (column sums of a) */
    cg_tensor *a = cg_tensor_from_array(2, CG_SHAPE(2, 3), (float[]){ 1, 2, 3, 4, 5, 6 });
    cg_tensor *b = cg_tensor_from_array(2, CG_SHAPE(3, 2), (float[]){ 7, 8, 9, 10, 11, 12 });
    cg_tensor_set_requires_grad(a, true);
    cg_tensor_set_requires_grad(b, true);
    assert_int_equal(cg_backward(cg_sum(cg_matmul(a, b))), CG_OK);
    float da[] = { 15, 19, 23, 15, 19, 23 }, db[] = { 5, 5, 7, 7, 9, 9 };
    for (int i = 0; i < 6; i++) {
        assert_float_equal(cg_tensor_cdata(cg_tensor_grad(a))[i], da[i], 0);
        assert_float_equal(cg_tensor_cdata(cg_tensor_grad(b))[i], db[i], 0);
    }
    /* a second backward accumulates (sgemm beta = 1) */
    assert_int_equal(cg_backward(cg_sum(cg_matmul(a, b))), CG_OK);
    assert_float_equal(cg_tensor_cdata(cg_tensor_grad(a))[0], 30, 0);
    assert_float_equal(cg_tensor_cdata(cg_tensor_grad(b))[5], 18, 0);
    cg_tape_release();
    cg_tensor_free(a);
    cg_tensor_free(b);
}

static void check_mm(int64_t M, int64_t K, int64_t N, bool ga, bool gb) {
    cg_tensor *in[2] = { test_tensor(2, CG_SHAPE(M, K), -1, 1, 1, ga), test_tensor(2, CG_SHAPE(K, N), -1, 1, 2, gb) };
    gradcheck(mm, in, 2, NULL, 1e-2, 2e-3, 1e-2);
    cg_tensor_free(in[0]);
    cg_tensor_free(in[1]);
}

static void test_grad(void **st) {
    (void)st;
    check_mm(3, 4, 5, true, true);
    check_mm(1, 7, 1, true, true);
    check_mm(6, 2, 3, true, false);  /* only a */
    check_mm(6, 2, 3, false, true);  /* only b */
}

/* Batched and broadcast: gradients of both operands against central differences, including an
 * operand broadcast over the batch (its gradient is the sum over the batch). */
static cg_tensor *mm_nd(cg_tensor **in, void *ctx) {
    return *(int *)ctx ? cg_bmm(in[0], in[1]) : cg_matmul(in[0], in[1]);
}
static void test_batched_grad(void **st) {
    (void)st;
    struct { int bmm, na, nb; int64_t sa[4], sb[4]; } cs[] = {
        { 1, 3, 3, { 3, 2, 4 }, { 3, 4, 5 } },
        { 0, 4, 3, { 2, 1, 3, 4 }, { 5, 4, 2 } },
        { 0, 3, 2, { 2, 3, 4 }, { 4, 5 } },
        { 0, 2, 3, { 3, 4 }, { 2, 4, 2 } },
    };
    for (int c = 0; c < 4; c++) {
        cg_tensor *in[2] = { test_tensor(cs[c].na, cs[c].sa, -1, 1, 130 + (unsigned)c, true),
                             test_tensor(cs[c].nb, cs[c].sb, -1, 1, 140 + (unsigned)c, true) };
        gradcheck(mm_nd, in, 2, &cs[c].bmm, 1e-3, 1e-3, 1e-2);
        cg_tensor_free(in[0]);
        cg_tensor_free(in[1]);
    }
    cg_tensor *a = cg_tensor_zeros(3, CG_SHAPE(2, 3, 4)), *b = cg_tensor_zeros(3, CG_SHAPE(3, 4, 5));
    assert_null(cg_matmul(a, b));
    assert_non_null(strstr(cg_last_error(), "do not broadcast (2 and 3)"));
    assert_null(cg_bmm(a, b));
    assert_non_null(strstr(cg_last_error(), "bmm"));
    cg_tape_release();
    cg_tensor_free(a);
    cg_tensor_free(b);
}

static void test_shape_errors(void **st) {
    (void)st;
    cg_tensor *a = cg_tensor_zeros(2, CG_SHAPE(2, 3)), *b = cg_tensor_zeros(2, CG_SHAPE(4, 2));
    cg_tensor *v = cg_tensor_zeros(1, CG_SHAPE(3));
    assert_null(cg_matmul(a, b));
    assert_non_null(strstr(cg_last_error(), "matmul"));
    assert_non_null(strstr(cg_last_error(), "do not fit"));
    assert_null(cg_matmul(a, v));
    assert_non_null(strstr(cg_last_error(), "2-d"));
    assert_null(cg_matmul(NULL, b));
    cg_tape_release();
    cg_tensor_free(a);
    cg_tensor_free(b);
    cg_tensor_free(v);
}

static void test_empty_inner_dim(void **st) {
    (void)st;
    cg_tensor *a = cg_tensor_zeros(2, CG_SHAPE(2, 0)), *b = cg_tensor_zeros(2, CG_SHAPE(0, 3));
    cg_tensor *y = cg_matmul(a, b);
    assert_non_null(y);
    assert_int_equal(cg_tensor_numel(y), 6);
    for (int i = 0; i < 6; i++) assert_float_equal(cg_tensor_cdata(y)[i], 0, 0);
    cg_tape_release();
    cg_tensor_free(a);
    cg_tensor_free(b);
}

/* ---- transpose ---- */
typedef struct { int d0, d1; } tctx;
static cg_tensor *tr(cg_tensor **in, void *ctx) { const tctx *c = ctx; return cg_transpose(in[0], c->d0, c->d1); }

static void test_transpose_values(void **st) {
    (void)st;
    cg_tensor *x = cg_tensor_arange(0, 24, 1);
    cg_tensor *x3 = cg_reshape(x, 3, CG_SHAPE(2, 3, 4));
    cg_tensor *y = cg_transpose(x3, 0, 2);  /* [4, 3, 2]: y[k,j,i] = x[i,j,k] = 12i + 4j + k */
    assert_non_null(y);
    assert_int_equal(cg_tensor_shape(y)[0], 4);
    assert_int_equal(cg_tensor_shape(y)[1], 3);
    assert_int_equal(cg_tensor_shape(y)[2], 2);
    for (int64_t k = 0; k < 4; k++)
        for (int64_t j = 0; j < 3; j++)
            for (int64_t i = 0; i < 2; i++)
                assert_float_equal(cg_tensor_get(y, (int64_t[]){ k, j, i }), (float)(12 * i + 4 * j + k), 0);
    cg_tensor *m = cg_transpose(cg_reshape(x, 2, CG_SHAPE(4, 6)), -1, -2);  /* 2-d, negative dims */
    assert_int_equal(cg_tensor_shape(m)[0], 6);
    assert_float_equal(cg_tensor_get(m, (int64_t[]){ 5, 1 }), 11, 0);
    cg_tensor *same = cg_transpose(x3, 1, 1);
    for (int i = 0; i < 24; i++) assert_float_equal(cg_tensor_cdata(same)[i], (float)i, 0);
    cg_tape_release();
    cg_tensor_free(x);
}

static void test_transpose_grad(void **st) {
    (void)st;
    tctx cases[] = { { 0, 1 }, { 0, 3 }, { 1, 2 }, { -1, 1 }, { 2, 2 } };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        cg_tensor *x = test_tensor(4, CG_SHAPE(2, 3, 2, 4), -1, 1, 5, true);
        gradcheck(tr, &x, 1, &cases[c], 1e-3, 1e-3, 1e-2);
        cg_tensor_free(x);
    }
}

/* transpose(x) + x on a square matrix: catches a backward that overwrites dx. */
static cg_tensor *tr_plus_x(cg_tensor **in, void *ctx) { (void)ctx; return cg_add(cg_transpose(in[0], 0, 1), in[0]); }
static void test_transpose_grad_accumulates(void **st) {
    (void)st;
    cg_tensor *x = test_tensor(2, CG_SHAPE(4, 4), -1, 1, 6, true);
    gradcheck(tr_plus_x, &x, 1, NULL, 1e-3, 1e-3, 1e-2);
    cg_tensor_free(x);
}

/* a . a on a square matrix: both sides' grads land in one buffer and must add up. */
static cg_tensor *mm_self(cg_tensor **in, void *ctx) { (void)ctx; return cg_matmul(in[0], in[0]); }
static void test_grad_same_input_twice(void **st) {
    (void)st;
    cg_tensor *x = test_tensor(2, CG_SHAPE(4, 4), -1, 1, 8, true);
    gradcheck(mm_self, &x, 1, NULL, 1e-2, 2e-3, 1e-2);
    cg_tensor_free(x);
}

static void test_transpose_errors(void **st) {
    (void)st;
    cg_tensor *x = cg_tensor_zeros(2, CG_SHAPE(2, 3));
    assert_null(cg_transpose(x, 0, 2));
    assert_non_null(strstr(cg_last_error(), "transpose"));
    assert_non_null(strstr(cg_last_error(), "out of range"));
    assert_null(cg_transpose(x, -3, 0));
    assert_null(cg_transpose(NULL, 0, 1));
    cg_tensor_free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_grad_values),
        cmocka_unit_test(test_grad),
        cmocka_unit_test(test_batched_grad),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_empty_inner_dim),
        cmocka_unit_test(test_transpose_values),
        cmocka_unit_test(test_transpose_grad),
        cmocka_unit_test(test_transpose_grad_accumulates),
        cmocka_unit_test(test_grad_same_input_twice),
        cmocka_unit_test(test_transpose_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
