/* SPDX-License-Identifier: MIT */
/* tests/test_tensor.c — constructors, shape queries, element access, item, print, RNG; the
 * element types (int64, uint8): constructors, typed accessors, get/set/item/fill/copy/clone/print,
 * no gradient; cg_tape_wrap; float ops refusing integer tensors. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"

static void test_constructors(void **s) {
    (void)s;
    cg_tensor *z = cg_tensor_zeros(2, CG_SHAPE(2, 3)), *o = cg_tensor_ones(1, CG_SHAPE(4));
    cg_tensor *f = cg_tensor_full(3, CG_SHAPE(1, 2, 2), -1.5f);
    assert_int_equal(cg_tensor_numel(z), 6);
    assert_int_equal(cg_tensor_ndim(f), 3);
    assert_int_equal(cg_tensor_size(f, -1), 2);
    for (int i = 0; i < 6; i++) assert_float_equal(cg_tensor_data(z)[i], 0, 0);
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_data(o)[i], 1, 0);
    for (int i = 0; i < 4; i++) assert_float_equal(cg_tensor_data(f)[i], -1.5f, 0);
    cg_tensor *a = cg_tensor_arange(0.0f, 1.0f, 0.25f);   /* torch.arange(0, 1, 0.25): 4 values */
    assert_int_equal(cg_tensor_numel(a), 4);
    assert_float_equal(cg_tensor_data(a)[3], 0.75f, 0);
    assert_null(cg_tensor_arange(0, 1, 0));
    float buf[6] = { 1, 2, 3, 4, 5, 6 };
    cg_tensor *c = cg_tensor_from_array(2, CG_SHAPE(3, 2), buf);
    cg_tensor *w = cg_tensor_wrap(buf, 2, CG_SHAPE(2, 3));
    buf[0] = 42;                                          /* wrap borrows, from_array copies */
    assert_float_equal(cg_tensor_data(c)[0], 1, 0);
    assert_float_equal(cg_tensor_data(w)[0], 42, 0);
    assert_float_equal(cg_tensor_get(c, CG_SHAPE(2, 1)), 6, 0);
    assert_int_equal(cg_tensor_set(c, CG_SHAPE(0, 1), 9), CG_OK);
    assert_float_equal(cg_tensor_data(c)[1], 9, 0);
    assert_true(isnan(cg_tensor_get(c, CG_SHAPE(3, 0))));
    assert_int_equal(cg_tensor_set(c, CG_SHAPE(0, 2), 1), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "out of range"));
    cg_tensor *cl = cg_tensor_clone(c);
    assert_true(cg_tensor_same_shape(cl, c));
    assert_memory_equal(cg_tensor_data(cl), cg_tensor_data(c), 6 * sizeof(float));
    cg_tensor *t[] = { z, o, f, a, c, w, cl };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) cg_tensor_free(t[i]);
    cg_tensor_free(NULL);
}

static void test_bad_shapes(void **s) {
    (void)s;
    assert_null(cg_tensor_zeros(9, CG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1, 1)));
    assert_non_null(strstr(cg_last_error(), "ndim"));
    assert_null(cg_tensor_zeros(2, CG_SHAPE(2, -1)));
    assert_non_null(strstr(cg_last_error(), "negative"));
    assert_null(cg_tensor_zeros(3, CG_SHAPE(INT64_C(1) << 40, INT64_C(1) << 40, 16)));  /* no huge allocation */
    assert_null(cg_tensor_wrap(NULL, 1, CG_SHAPE(3)));
}

static void test_item(void **s) {
    (void)s;
    cg_tensor *one = cg_tensor_full(0, NULL, 3.25f), *two = cg_tensor_zeros(1, CG_SHAPE(2));
    assert_float_equal(cg_tensor_item(one), 3.25f, 0);
    assert_true(isnan(cg_tensor_item(two)));
    assert_non_null(strstr(cg_last_error(), "2 elements"));
    cg_tensor_free(one);
    cg_tensor_free(two);
}

static void test_print(void **s) {
    (void)s;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cg_tensor *t = cg_tensor_from_array(2, CG_SHAPE(2, 2), (float[]){ 1, 2, 3, 4 });
    cg_tensor_fprint(f, t);
    cg_tensor *big = cg_tensor_arange(0, 20, 1);
    cg_tensor_fprint(f, big);
    fclose(f);
    assert_non_null(strstr(buf, "[[1.0000, 2.0000],"));
    assert_non_null(strstr(buf, "shape=[2, 2]"));
    assert_non_null(strstr(buf, "2.0000, ..."));   /* the middle of a long dim is elided */
    assert_non_null(strstr(buf, "19.0000]"));
    free(buf);
    cg_tensor_free(t);
    cg_tensor_free(big);
}

static void test_rng_reproducible_and_thread_independent(void **s) {
    (void)s;
    const int64_t n = 200000;  /* above the OpenMP threshold */
    cg_manual_seed(7);
    cg_tensor *a = cg_tensor_randn(1, &n, NULL);
    cg_manual_seed(7);
    int prev = omp_get_max_threads();
    omp_set_num_threads(1);
    cg_tensor *b = cg_tensor_randn(1, &n, NULL);
    omp_set_num_threads(prev);
    assert_memory_equal(cg_tensor_data(a), cg_tensor_data(b), (size_t)n * sizeof(float));
    cg_tensor *c = cg_tensor_randn(1, &n, NULL);  /* the stream moves on */
    assert_memory_not_equal(cg_tensor_data(a), cg_tensor_data(c), (size_t)n * sizeof(float));
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++) mean += cg_tensor_data(a)[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) var += pow(cg_tensor_data(a)[i] - mean, 2);
    var /= (double)n;
    assert_true(fabs(mean) < 0.01 && fabs(var - 1) < 0.02);
    cg_tensor *u = cg_tensor_rand(1, &n, NULL);
    double um = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = cg_tensor_data(u)[i];
        assert_true(v >= 0.0f && v < 1.0f);
        um += v;
    }
    assert_true(fabs(um / (double)n - 0.5) < 0.01);
    cg_rng_state st = cg_rng_get_state();                 /* state round trip */
    cg_tensor *d1 = cg_tensor_rand(1, CG_SHAPE(5), NULL);
    cg_rng_set_state(st);
    cg_tensor *d2 = cg_tensor_rand(1, CG_SHAPE(5), NULL);
    assert_memory_equal(cg_tensor_data(d1), cg_tensor_data(d2), 5 * sizeof(float));
    cg_tensor *t[] = { a, b, c, u, d1, d2 };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) cg_tensor_free(t[i]);
}

static void test_inplace_and_status(void **s) {
    (void)s;
    cg_tensor *y = cg_tensor_ones(1, CG_SHAPE(3)), *x = cg_tensor_full(1, CG_SHAPE(3), 2.0f);
    assert_int_equal(cg_tensor_axpy_(y, 0.5f, x), CG_OK);
    assert_float_equal(cg_tensor_data(y)[2], 2.0f, 0);
    assert_int_equal(cg_tensor_scale_(y, 2.0f), CG_OK);
    assert_float_equal(cg_tensor_data(y)[0], 4.0f, 0);
    cg_tensor *z = cg_tensor_zeros(1, CG_SHAPE(4));
    assert_int_equal(cg_tensor_copy_(z, y), CG_ESHAPE);
    assert_string_equal(cg_strerror(CG_ESHAPE), "shape mismatch");
    assert_non_null(cg_version());
    assert_int_equal(strchr(cg_version(), '.') != NULL, 1);
    cg_tensor_free(x); cg_tensor_free(y); cg_tensor_free(z);
}

static void test_dtypes(void **s) {
    (void)s;
    assert_string_equal(cg_dtype_name(CG_F32), "float32");
    assert_string_equal(cg_dtype_name(CG_I64), "int64");
    assert_string_equal(cg_dtype_name(CG_U8), "uint8");
    assert_string_equal(cg_dtype_name((cg_dtype)9), "unknown");
    assert_int_equal(cg_dtype_size(CG_I64), 8);
    assert_int_equal(cg_dtype_size(CG_U8), 1);
    assert_int_equal(cg_dtype_size((cg_dtype)9), 0);
    assert_null(cg_tensor_new((cg_dtype)9, 1, CG_SHAPE(2)));
    assert_non_null(strstr(cg_last_error(), "unknown element type"));

    /* constructors: zeros, a copy, a borrowed buffer */
    cg_tensor *z = cg_tensor_new(CG_I64, 2, CG_SHAPE(2, 3));
    assert_int_equal(cg_tensor_dtype(z), CG_I64);
    for (int i = 0; i < 6; i++) assert_int_equal(cg_tensor_cdata_i64(z)[i], 0);
    int64_t big[3] = { INT64_C(1) << 40, -7, (INT64_C(1) << 24) + 1 };
    cg_tensor *a = cg_tensor_from_i64(1, CG_SHAPE(3), big);
    cg_tensor *w = cg_tensor_wrap_data(CG_I64, big, 1, CG_SHAPE(3));
    big[1] = 99;                                          /* wrap borrows, from_i64 copies */
    assert_int_equal(cg_tensor_cdata_i64(a)[1], -7);
    assert_int_equal(cg_tensor_cdata_i64(w)[1], 99);
    assert_int_equal(cg_tensor_cdata_i64(a)[2], (INT64_C(1) << 24) + 1);  /* exact past 2^24 */
    assert_ptr_equal(cg_tensor_raw(w), big);
    uint8_t bytes[4] = { 0, 1, 200, 255 };
    cg_tensor *u = cg_tensor_from_u8(2, CG_SHAPE(2, 2), bytes);
    assert_int_equal(cg_tensor_dtype(u), CG_U8);
    assert_int_equal(cg_tensor_cdata_u8(u)[3], 255);
    assert_null(cg_tensor_from_data(CG_U8, 1, CG_SHAPE(1), NULL));
    assert_null(cg_tensor_wrap_data(CG_I64, NULL, 1, CG_SHAPE(1)));

    /* typed accessors refuse the wrong type */
    assert_null(cg_tensor_data(a));
    assert_non_null(strstr(cg_last_error(), "cg_tensor_data: the tensor is int64, not float32"));
    assert_null(cg_tensor_cdata_u8(a));
    assert_non_null(strstr(cg_last_error(), "the tensor is int64, not uint8"));
    assert_null(cg_tensor_data_i64(u));
    assert_non_null(strstr(cg_last_error(), "the tensor is uint8, not int64"));
    cg_tensor *f = cg_tensor_zeros(1, CG_SHAPE(2));
    assert_null(cg_tensor_cdata_i64(f));
    assert_null(cg_tensor_data_i64(NULL));
    assert_int_equal(cg_tensor_dtype(NULL), CG_F32);

    /* get / set / item, converted to and from float; set refuses what the type cannot hold */
    assert_float_equal(cg_tensor_get(a, CG_SHAPE(1)), -7, 0);
    assert_float_equal(cg_tensor_get(u, CG_SHAPE(1, 0)), 200, 0);
    assert_int_equal(cg_tensor_set(z, CG_SHAPE(1, 2), -5.0f), CG_OK);
    assert_int_equal(cg_tensor_cdata_i64(z)[5], -5);
    assert_int_equal(cg_tensor_set(z, CG_SHAPE(0, 0), 2.5f), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "2.5 is not an int64 value"));
    assert_int_equal(cg_tensor_set(u, CG_SHAPE(0, 0), 256.0f), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "256 is not a uint8 value"));
    assert_int_equal(cg_tensor_set(u, CG_SHAPE(0, 0), -1.0f), CG_EINVAL);
    assert_int_equal(cg_tensor_set(u, CG_SHAPE(0, 0), NAN), CG_EINVAL);
    assert_int_equal(cg_tensor_set(u, CG_SHAPE(0, 0), 17.0f), CG_OK);
    assert_int_equal(cg_tensor_cdata_u8(u)[0], 17);
    cg_tensor *one = cg_tensor_from_i64(0, NULL, (const int64_t[]){ 42 });
    assert_float_equal(cg_tensor_item(one), 42, 0);
    cg_tensor *oneu = cg_tensor_from_u8(1, CG_SHAPE(1), (const uint8_t[]){ 9 });
    assert_float_equal(cg_tensor_item(oneu), 9, 0);
    assert_true(isnan(cg_tensor_item(a)));

    /* fill_, copy_ (same type only), clone keeps the type */
    assert_int_equal(cg_tensor_fill_(z, 3.0f), CG_OK);
    for (int i = 0; i < 6; i++) assert_int_equal(cg_tensor_cdata_i64(z)[i], 3);
    assert_int_equal(cg_tensor_fill_(z, 0.5f), CG_EINVAL);
    assert_int_equal(cg_tensor_fill_(u, 300.0f), CG_EINVAL);
    assert_int_equal(cg_tensor_fill_(u, 4.0f), CG_OK);
    assert_int_equal(cg_tensor_cdata_u8(u)[2], 4);
    cg_tensor *b = cg_tensor_new(CG_I64, 1, CG_SHAPE(3));
    assert_int_equal(cg_tensor_copy_(b, a), CG_OK);
    assert_memory_equal(cg_tensor_cdata_i64(b), cg_tensor_cdata_i64(a), 3 * sizeof(int64_t));
    cg_tensor *f3 = cg_tensor_zeros(1, CG_SHAPE(3));
    assert_int_equal(cg_tensor_copy_(f3, a), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "int64 into float32"));
    assert_int_equal(cg_tensor_axpy_(f3, 1.0f, a), CG_EINVAL);
    assert_int_equal(cg_tensor_scale_(b, 2.0f), CG_EINVAL);
    cg_tensor *c = cg_tensor_clone(u);
    assert_int_equal(cg_tensor_dtype(c), CG_U8);
    assert_memory_equal(cg_tensor_cdata_u8(c), cg_tensor_cdata_u8(u), 4);
    assert_ptr_not_equal(cg_tensor_craw(c), cg_tensor_craw(u));

    /* no gradient on integers */
    assert_int_equal(cg_tensor_set_requires_grad(a, true), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "a int64 tensor carries no gradient"));
    assert_int_equal(cg_tensor_set_requires_grad(u, true), CG_EINVAL);
    assert_false(cg_tensor_requires_grad(a));
    assert_int_equal(cg_tensor_set_requires_grad(a, false), CG_OK);

    /* print: integers as integers, and the type named */
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    cg_tensor_fprint(fp, a);
    cg_tensor_fprint(fp, u);
    fclose(fp);
    assert_non_null(strstr(buf, "tensor([1099511627776, -7, 16777217], shape=[3], dtype=int64)"));
    assert_non_null(strstr(buf, "[[4, 4],"));
    assert_non_null(strstr(buf, "dtype=uint8)"));
    free(buf);
    cg_tensor *t[] = { z, a, w, u, f, one, oneu, b, f3, c };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) cg_tensor_free(t[i]);
}

/* cg_tape_wrap: a tape tensor over the caller's buffer (not copied, not freed), released with
 * the tape; its slot is pooled. */
static void test_tape_wrap(void **s) {
    (void)s;
    int64_t lab[4] = { 3, 1, 4, 1 };
    cg_tensor *t = cg_tape_wrap(CG_I64, lab, 2, CG_SHAPE(2, 2));
    assert_non_null(t);
    assert_int_equal(cg_tensor_dtype(t), CG_I64);
    assert_ptr_equal(cg_tensor_cdata_i64(t), lab);
    assert_false(cg_tensor_requires_grad(t));
    int64_t before = cg_tape_num_tensors();
    assert_true(before >= 1);
    cg_tensor_free(t);                                   /* the tape's: a no-op */
    assert_int_equal(lab[3], 1);
    assert_null(cg_tape_wrap(CG_I64, NULL, 1, CG_SHAPE(2)));
    assert_non_null(strstr(cg_last_error(), "data is NULL"));
    assert_null(cg_tape_wrap((cg_dtype)7, lab, 1, CG_SHAPE(2)));
    assert_null(cg_tape_wrap(CG_U8, lab, 1, CG_SHAPE(-1)));
    assert_non_null(cg_tape_wrap(CG_F32, NULL, 1, CG_SHAPE(0)));  /* nothing to point at */
    cg_tape_release();
    assert_int_equal(cg_tape_num_tensors(), 0);
    assert_int_equal(lab[0], 3);
}

/* Every op family's entry refuses an integer tensor, naming the op and the argument, rather
 * than reading its bytes as floats (a uint8 tensor is a quarter of the bytes). */
static void test_float_ops_refuse_integers(void **s) {
    (void)s;
    cg_tensor *f = cg_tensor_ones(2, CG_SHAPE(2, 4)), *i = cg_tensor_new(CG_I64, 2, CG_SHAPE(2, 4));
    cg_tensor *u = cg_tensor_new(CG_U8, 2, CG_SHAPE(2, 4));
    cg_tensor *f4 = cg_tensor_ones(4, CG_SHAPE(1, 1, 4, 4)), *u4 = cg_tensor_new(CG_U8, 4, CG_SHAPE(1, 1, 4, 4));
    cg_tensor *w4 = cg_tensor_ones(4, CG_SHAPE(1, 1, 3, 3));
    cg_tensor *fw = cg_tensor_ones(2, CG_SHAPE(3, 4)), *iw = cg_tensor_new(CG_I64, 2, CG_SHAPE(3, 4));
    cg_tensor *ib = cg_tensor_new(CG_I64, 1, CG_SHAPE(3)), *f1 = cg_tensor_ones(1, CG_SHAPE(1));
    cg_tensor *i1 = cg_tensor_new(CG_I64, 1, CG_SHAPE(1));
    cg_pool2d_params pp = cg_pool2d_defaults(2);
#define REFUSES(expr, msg)                                                                      \
    do {                                                                                        \
        if ((expr) != NULL) fail_msg("%s accepted an integer tensor", #expr);                   \
        if (!strstr(cg_last_error(), msg)) fail_msg("%s: got '%s', wanted '%s'", #expr, cg_last_error(), msg); \
    } while (0)
    REFUSES(cg_add(f, i), "add: b is int64, expected float32");
    REFUSES(cg_mul(u, f), "mul: a is uint8, expected float32");
    REFUSES(cg_add_scalar(i, 1.0f), "is int64, expected float32");
    REFUSES(cg_exp(u), "exp: input is uint8");
    REFUSES(cg_relu(i), "relu: input is int64");
    REFUSES(cg_gelu(u, false), "input is uint8");
    REFUSES(cg_clamp(i, 0, 1), "input is int64");
    REFUSES(cg_sum(u), "sum: input is uint8");
    REFUSES(cg_mean_dim(i, 1, false), "input is int64");
    REFUSES(cg_softmax(i, 1), "softmax: input is int64");
    REFUSES(cg_log_softmax(u, 1), "log_softmax: input is uint8");
    REFUSES(cg_logsumexp(u, 1, false), "logsumexp: input is uint8");
    REFUSES(cg_matmul(f, cg_transpose(iw, 0, 1)), "transpose: input is int64");
    REFUSES(cg_matmul(i, fw), "matmul: a is int64");
    REFUSES(cg_linear(f, iw, NULL), "linear: weight is int64");
    REFUSES(cg_linear(f, fw, ib), "linear: bias is int64");
    REFUSES(cg_conv2d(u4, w4, NULL, NULL), "conv2d: input is uint8");
    REFUSES(cg_conv_transpose2d(f4, u4, NULL, NULL), "conv_transpose2d: weight is uint8");
    REFUSES(cg_max_pool2d(u4, &pp), "max_pool2d: input is uint8");
    REFUSES(cg_avg_pool2d(u4, &pp), "avg_pool2d: input is uint8");
    REFUSES(cg_adaptive_avg_pool2d(u4, 1, 1), "adaptive_avg_pool2d: input is uint8");
    REFUSES(cg_upsample_nearest2d(u4, 2, 2), "upsample_nearest2d: input is uint8");
    REFUSES(cg_batch_norm2d(f4, i1, NULL, NULL, NULL, true, 0.1f, 1e-5f), "batch_norm2d: weight is int64");
    REFUSES(cg_layer_norm(i, 1, NULL, NULL, 1e-5f), "layer_norm: input is int64");
    REFUSES(cg_group_norm(u4, 1, NULL, NULL, 1e-5f), "group_norm: input is uint8");
    REFUSES(cg_dropout(i, 0.5f, true, NULL), "dropout: input is int64");
    REFUSES(cg_mse_loss(f, i, CG_REDUCTION_MEAN), "mse_loss: target is int64");
    REFUSES(cg_l1_loss(u, f, CG_REDUCTION_MEAN), "l1_loss: input is uint8");
    REFUSES(cg_bce_with_logits(f, f, i1, CG_REDUCTION_MEAN), "pos_weight is int64");
    REFUSES(cg_permute(u, (const int[]){ 1, 0 }), "permute: input is uint8");
    REFUSES(cg_stack((cg_tensor *[]){ f, u }, 2, 0), "stack: xs[1] is uint8");
#undef REFUSES
    (void)f1;
    cg_tape_release();
    cg_tensor *t[] = { f, i, u, f4, u4, w4, fw, iw, ib, f1, i1 };
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) cg_tensor_free(t[k]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constructors),
        cmocka_unit_test(test_bad_shapes),
        cmocka_unit_test(test_item),
        cmocka_unit_test(test_print),
        cmocka_unit_test(test_rng_reproducible_and_thread_independent),
        cmocka_unit_test(test_inplace_and_status),
        cmocka_unit_test(test_dtypes),
        cmocka_unit_test(test_tape_wrap),
        cmocka_unit_test(test_float_ops_refuse_integers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
