/* SPDX-License-Identifier: MIT */
/* tests/test_shape_ops.c — unsqueeze, squeeze, permute, cat (and its chaining past a node's
 * inputs), stack, slice, narrow, index_select, gather, upsample_nearest2d: gradients against central differences
 * (repeated indices included, where dx must add up), shapes, and every error naming the op. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "gradcheck.h"

static int64_t IDX[5] = { 2, 0, 2, 3, 1 };
static int64_t GIDX[6] = { 1, 1, 0, 3, 2, 0 }; /* [2, 3] into dim 1 of [2, 4] */
/* int64 index tensors over the arrays, owned by the tape */
#define I64_OF(arr, ...) cg_tape_wrap(CG_I64, (void *)(arr), (int)(sizeof((int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t)), CG_SHAPE(__VA_ARGS__))

static cg_tensor *apply(cg_tensor **in, void *ctx) {
    switch (*(int *)ctx) {
    case 0: return cg_squeeze(cg_unsqueeze(in[0], 0), 0);
    case 1: return cg_permute(in[0], (const int[]){ 1, 2, 0 });
    case 2: return cg_cat(in, 3, -1);
    case 3: { cg_tensor *xs[7] = { in[0], in[1], in[0], in[2], in[1], in[0], in[2] }; return cg_cat(xs, 7, 0); }
    case 4: { cg_tensor *xs[3] = { in[0], in[0], in[0] }; return cg_stack(xs, 3, 2); }
    case 5: return cg_slice(in[0], 1, 1, 100, 2);
    case 6: return cg_narrow(in[0], 0, 1, 2);
    case 7: return cg_index_select(in[0], 1, I64_OF(IDX, 5));
    case 8: return cg_gather(in[0], 1, I64_OF(GIDX, 2, 3));
    default: return cg_upsample_nearest2d(cg_reshape(in[0], 4, CG_SHAPE(1, 3, 4, 2)), 3, 2);
    }
}

static void test_grads(void **s) {
    (void)s;
    for (int k = 0; k <= 9; k++) {
        cg_tensor *in[3];
        if (k == 2 || k == 3) { /* three inputs: [3, 4] x 3 (cat on the last dim) or rows (cat on dim 0) */
            for (int i = 0; i < 3; i++) in[i] = test_tensor(2, CG_SHAPE(3, 4), -1, 1, 90 + (unsigned)i, true);
        } else if (k == 8) {
            in[0] = test_tensor(2, CG_SHAPE(2, 4), -1, 1, 95, true);
        } else {
            in[0] = test_tensor(3, CG_SHAPE(3, 4, 2), -1, 1, 96 + (unsigned)k, true);
        }
        int n = k == 2 || k == 3 ? 3 : 1;
        gradcheck(apply, in, n, &k, 1e-3, 1e-3, 1e-2);
        for (int i = 0; i < n; i++) cg_tensor_free(in[i]);
    }
}

static void test_shapes_and_errors(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_zeros(3, CG_SHAPE(2, 1, 5)), *y = cg_tensor_zeros(2, CG_SHAPE(3, 5));
    assert_int_equal(cg_tensor_ndim(cg_squeeze(x, 0)), 3);   /* size 2: unchanged, as PyTorch */
    assert_int_equal(cg_tensor_ndim(cg_squeeze_all(x)), 2);
    assert_int_equal(cg_tensor_size(cg_unsqueeze(x, -1), 3), 1);
    assert_int_equal(cg_tensor_size(cg_slice(y, 1, -100, 100, 3), 1), 2); /* 0, 3 */
    assert_int_equal(cg_tensor_size(cg_slice(y, 1, 4, 2, 1), 1), 0);     /* empty, not an error */
    assert_null(cg_slice(y, 1, 0, 5, 0));
    assert_non_null(strstr(cg_last_error(), "step 0"));
    assert_null(cg_narrow(y, 1, 3, 3));
    assert_non_null(strstr(cg_last_error(), "narrow: start 3 and length 3 do not fit dim 1 of size 5"));
    assert_null(cg_index_select(y, 0, I64_OF(((int64_t[]){ 0, 3 }), 2)));
    assert_non_null(strstr(cg_last_error(), "index_select: index[1] = 3 is outside 0..2"));
    assert_null(cg_index_select(y, 0, I64_OF(IDX, 1, 1)));
    assert_non_null(strstr(cg_last_error(), "index_select: index must be 1-d, got [1, 1]"));
    assert_null(cg_index_select(y, 0, cg_tape_wrap(CG_F32, (float[]){ 0 }, 1, CG_SHAPE(1))));
    assert_non_null(strstr(cg_last_error(), "index_select: index is float32, expected int64"));
    assert_null(cg_gather(y, 1, I64_OF(((int64_t[]){ 0, 5 }), 1, 2)));
    assert_non_null(strstr(cg_last_error(), "gather: index[1] = 5 is outside"));
    assert_null(cg_gather(y, 0, I64_OF(((int64_t[]){ 0 }), 1)));
    assert_null(cg_gather(y, 0, cg_tape_wrap(CG_U8, (uint8_t[]){ 0, 0 }, 2, CG_SHAPE(1, 2))));
    assert_non_null(strstr(cg_last_error(), "gather: index is uint8, expected int64"));
    {   /* an integer input is refused, not read as floats */
        cg_tensor *yi = cg_tape_wrap(CG_I64, GIDX, 2, CG_SHAPE(2, 3));
        assert_null(cg_index_select(yi, 0, I64_OF(IDX, 1)));
        assert_non_null(strstr(cg_last_error(), "index_select: input is int64, expected float32"));
        assert_null(cg_gather(yi, 1, I64_OF(GIDX, 2, 3)));
        assert_non_null(strstr(cg_last_error(), "gather: input is int64, expected float32"));
        assert_null(cg_permute(yi, (const int[]){ 1, 0 }));
        assert_non_null(strstr(cg_last_error(), "permute: input is int64"));
        cg_tensor *ys[2] = { y, yi };
        assert_null(cg_cat(ys, 2, 0));
        assert_non_null(strstr(cg_last_error(), "cat: xs[1] is int64, expected float32"));
        assert_null(cg_slice(yi, 0, 0, 1, 1));
        assert_non_null(strstr(cg_last_error(), "slice: input is int64"));
        /* the views move an integer tensor's elements as they are */
        cg_tensor *v = cg_reshape(yi, 1, CG_SHAPE(6));
        assert_non_null(v);
        assert_int_equal(cg_tensor_dtype(v), CG_I64);
        assert_int_equal(cg_tensor_cdata_i64(cg_unsqueeze(v, 0))[5], 0);
        assert_int_equal(cg_tensor_cdata_i64(cg_flatten(yi, 0, 1))[3], 3);
    }
    assert_null(cg_permute(y, (const int[]){ 0, 0 }));
    assert_non_null(strstr(cg_last_error(), "permute"));
    cg_tensor *xs[2] = { x, y };
    assert_null(cg_cat(xs, 2, 0));
    assert_non_null(strstr(cg_last_error(), "cat: input 1 [3, 5] does not fit input 0 [2, 1, 5]"));
    assert_null(cg_stack(xs, 2, 0));
    assert_null(cg_cat(xs, 0, 0));
    assert_null(cg_upsample_nearest2d(y, 2, 2));
    assert_non_null(strstr(cg_last_error(), "upsample_nearest2d: input must be [N,C,H,W]"));
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(y);
}

int main(void) {
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_grads), cmocka_unit_test(test_shapes_and_errors) };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
