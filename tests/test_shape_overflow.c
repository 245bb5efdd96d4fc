/* SPDX-License-Identifier: MIT */
/* tests/test_shape_overflow.c — the integer arithmetic of shapes (issue 24 defects 7 and 8):
 * cg_check_shape multiplies every dim, a zero one included (an empty [0, 2^40, 2^40] is refused as
 * [2^40, 2^40, 0] is, so no op's outer/inner product of an existing tensor's dims can overflow);
 * slice clamps start and end as PyTorch does (INT64_MAX ends at the dim's end, a huge step keeps
 * one element); reshape, cat and matmul refuse sizes past int64 without computing them; index ops
 * given NULL return NULL. Run under UBSan too (build-fuzz), where a signed overflow fails. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>
#include "cgrad/cgrad.h"

#define BIG ((int64_t)1 << 40)

static void expect_msg(const char *want) {
    if (!strstr(cg_last_error(), want)) fail_msg("error '%s' lacks '%s'", cg_last_error(), want);
}

/* A zero dim anywhere: the others' product is still bounded. */
static void test_zero_dim_does_not_hide_a_huge_shape(void **s) {
    (void)s;
    cg_tensor *t = cg_tensor_zeros(3, CG_SHAPE(BIG, BIG, 0));
    assert_null(t);
    expect_msg("shape has too many elements");
    cg_clear_error();
    assert_null(cg_tensor_zeros(3, CG_SHAPE(0, BIG, BIG)));
    expect_msg("cg_tensor_zeros: shape has too many elements");
    assert_null(cg_tensor_new(CG_I64, 3, CG_SHAPE(BIG, 0, BIG)));
    expect_msg("shape has too many elements");
    /* an empty tensor within the bound is still fine, and ops on it keep their zero */
    t = cg_tensor_zeros(3, CG_SHAPE(0, 1 << 20, 1 << 20));
    assert_non_null(t);
    assert_int_equal(cg_tensor_numel(t), 0);
    cg_tensor *y = cg_sum_dim(t, 1, false);
    assert_non_null(y);
    assert_int_equal(cg_tensor_numel(y), 0);
    assert_non_null(cg_softmax(t, 2));
    assert_non_null(cg_permute(t, (const int[]){ 2, 0, 1 }));
    assert_non_null(cg_add(t, t));
    cg_tape_release();
    cg_tensor_free(t);
}

/* PyTorch: x[0:INT64_MAX] is the whole dim, x[-INT64_MAX:2] its first two, a step past the dim one
 * element: no end - start + step computed. */
static void test_slice_clamps_as_pytorch(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_from_array(2, CG_SHAPE(3, 2), (const float[]){ 0, 1, 2, 3, 4, 5 });
    cg_tensor *y = cg_slice(x, 0, 0, INT64_MAX, 1);
    if (!y) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_tensor_shape(y)[0], 3);
    assert_float_equal(cg_tensor_data(y)[5], 5.0f, 0);
    y = cg_slice(x, 0, 0, 3, INT64_MAX);   /* the recipe: 1 element */
    if (!y) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_tensor_shape(y)[0], 1);
    assert_float_equal(cg_tensor_data(y)[1], 1.0f, 0);
    y = cg_slice(x, 0, INT64_MIN, INT64_MAX, INT64_MAX);
    assert_non_null(y);
    assert_int_equal(cg_tensor_shape(y)[0], 1);
    y = cg_slice(x, 0, -INT64_MAX, 2, 1);
    assert_int_equal(cg_tensor_shape(y)[0], 2);
    y = cg_slice(x, 0, INT64_MAX, INT64_MIN, 1);   /* empty, as x[big:-big] */
    assert_non_null(y);
    assert_int_equal(cg_tensor_shape(y)[0], 0);
    y = cg_slice(x, 1, 1, INT64_MAX, 2);
    assert_int_equal(cg_tensor_shape(y)[1], 1);
    assert_float_equal(cg_tensor_data(y)[2], 5.0f, 0);
    assert_null(cg_narrow(x, 0, 1, INT64_MAX));
    expect_msg("narrow: start 1 and length 9223372036854775807 do not fit");
    cg_tape_release();
    cg_tensor_free(x);
}

/* reshape of [3, 4] to [2^62, 2^62, 0] (and orders): refused without multiplying past int64. */
static void test_reshape_refuses_huge_products(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_zeros(2, CG_SHAPE(3, 4));
    const int64_t H = (int64_t)1 << 62;
    assert_null(cg_reshape(x, 3, CG_SHAPE(H, H, 0)));
    expect_msg("reshape: shape [4611686018427387904, 4611686018427387904, 0] has too many elements");
    assert_null(cg_reshape(x, 3, CG_SHAPE(0, H, H)));
    expect_msg("too many elements");
    assert_null(cg_reshape(x, 3, CG_SHAPE(H, -1, H)));
    expect_msg("too many elements");
    cg_tensor *e = cg_tensor_zeros(2, CG_SHAPE(0, 4));
    assert_null(cg_reshape(e, 3, CG_SHAPE(0, H, 4)));   /* 0 elements both, but no tensor can be [0, 2^62, 4] */
    expect_msg("too many elements");
    assert_non_null(cg_reshape(e, 3, CG_SHAPE(0, 2, 2)));
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(e);
}

/* cat of empty tensors whose catted sizes add up past int64; matmul's batch dims likewise. */
static void test_cat_and_matmul_sizes_past_int64(void **s) {
    (void)s;
    const int64_t H = INT64_MAX / 4;   /* the largest size a tensor may have */
    cg_tensor *t = cg_tensor_zeros(2, CG_SHAPE(0, H));
    if (!t) fail_msg("%s", cg_last_error());
    cg_tensor *xs[5] = { t, t, t, t, t };
    assert_null(cg_cat(xs, 5, 1));
    expect_msg("cat: the sizes along dim 1 add up past int64");
    cg_clear_error();
    assert_null(cg_cat(xs, 2, 1));   /* 2^61 fits int64 but not a tensor */
    expect_msg("too many elements");
    cg_tensor *a = cg_tensor_zeros(5, CG_SHAPE(1 << 21, 1, 1 << 20, 0, 1));
    cg_tensor *b = cg_tensor_zeros(5, CG_SHAPE(1, 1 << 21, 1, 1, 0));
    if (!a || !b) fail_msg("%s", cg_last_error());
    cg_tensor *c = cg_tensor_zeros(6, CG_SHAPE(1 << 21, 1, 1 << 21, 1, 0, 1));
    cg_tensor *d = cg_tensor_zeros(6, CG_SHAPE(1, 1 << 21, 1, 1 << 21, 1, 0));
    if (!c || !d) fail_msg("%s", cg_last_error());
    assert_null(cg_matmul(a, b));   /* 2^62 matrices: refused by the result's shape */
    expect_msg("too many elements");
    assert_null(cg_matmul(c, d));   /* 2^84 matrices: refused before the count overflows */
    expect_msg("matmul: the batch dims");
    cg_tape_release();
    cg_tensor_free(t);
    cg_tensor_free(a);
    cg_tensor_free(b);
    cg_tensor_free(c);
    cg_tensor_free(d);
}

/* NULL in any tensor argument of the index ops: NULL, no crash; and an index shape with a huge
 * gathered dim is a tensor that cannot exist ([2^62, 4]). */
static void test_index_ops_given_null(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_zeros(2, CG_SHAPE(3, 4));
    cg_tensor *idx = cg_tensor_from_i64(2, CG_SHAPE(1, 2), (const int64_t[]){ 0, 1 });
    assert_non_null(idx);
    cg_clear_error();
    assert_null(cg_gather(x, 0, NULL));
    expect_msg("gather: index is NULL");
    cg_clear_error();
    assert_null(cg_index_select(x, 0, NULL));
    expect_msg("index_select: index is NULL");
    assert_null(cg_tensor_from_i64(1, CG_SHAPE(2), NULL));   /* an index that failed: its own message stays */
    assert_null(cg_gather(x, 0, cg_tensor_from_i64(1, CG_SHAPE(2), NULL)));
    expect_msg("src is NULL");
    assert_null(cg_gather(NULL, 0, idx));
    assert_null(cg_index_select(NULL, 0, idx));
    assert_null(cg_slice(NULL, 0, 0, 1, 1));
    assert_null(cg_narrow(NULL, 0, 0, 1));
    assert_null(cg_tensor_from_i64(2, CG_SHAPE((int64_t)1 << 62, 4), (const int64_t[]){ 0 }));
    expect_msg("too many elements");
    cg_tensor *y = cg_gather(x, 0, idx);
    if (!y) fail_msg("%s", cg_last_error());
    cg_tape_release();
    cg_tensor_free(idx);
    cg_tensor_free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_dim_does_not_hide_a_huge_shape),
        cmocka_unit_test(test_slice_clamps_as_pytorch),
        cmocka_unit_test(test_reshape_refuses_huge_products),
        cmocka_unit_test(test_cat_and_matmul_sizes_past_int64),
        cmocka_unit_test(test_index_ops_given_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
