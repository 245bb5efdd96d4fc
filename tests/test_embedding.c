/* SPDX-License-Identifier: MIT */
/* tests/test_embedding.c — embedding (repeated indices must add up in the weight's gradient) and
 * where: gradients against central differences, values, errors. PyTorch's values are in
 * test_torch_ops. The Embedding layer: int64 indices of any shape (and float32 whole numbers,
 * converted), its gradient, N(0, 1) init, the errors, and the net-spec word. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "gradcheck.h"

static int64_t IDX[6] = { 3, 0, 3, 3, 1, 4 };
static uint8_t COND[12] = { 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0 };

static cg_tensor *apply(cg_tensor **in, void *ctx) {
    switch (*(int *)ctx) {
    case 0: return cg_embedding(in[0], cg_tape_wrap(CG_I64, IDX, 1, CG_SHAPE(6)));
    case 1: return cg_where(cg_tape_wrap(CG_U8, COND, 2, CG_SHAPE(3, 4)), in[0], in[1]);
    default: return cg_embedding(in[0], cg_tape_wrap(CG_I64, IDX, 2, CG_SHAPE(2, 3)));  /* [2, 3] -> [2, 3, D] */
    }
}

static void test_grads(void **s) {
    (void)s;
    int k = 0;
    cg_tensor *w = test_tensor(2, CG_SHAPE(5, 3), -1, 1, 150, true);
    gradcheck(apply, &w, 1, &k, 1e-3, 1e-3, 1e-2);
    k = 2;
    gradcheck(apply, &w, 1, &k, 1e-3, 1e-3, 1e-2);
    k = 1;
    cg_tensor *ab[2] = { test_tensor(2, CG_SHAPE(3, 4), -1, 1, 151, true), test_tensor(2, CG_SHAPE(3, 4), -1, 1, 152, true) };
    gradcheck(apply, ab, 2, &k, 1e-3, 1e-3, 1e-2);
    cg_tensor *cond = cg_tensor_from_u8(2, CG_SHAPE(3, 4), COND);
    cg_tensor_data_u8(cond)[0] = 7;  /* any nonzero byte is true */
    const float *y = cg_tensor_cdata(cg_where(cond, ab[0], ab[1]));
    for (int i = 0; i < 12; i++) assert_float_equal(y[i], cg_tensor_cdata(COND[i] ? ab[0] : ab[1])[i], 0);
    cg_tensor *e = cg_embedding(w, cg_tape_wrap(CG_I64, IDX, 1, CG_SHAPE(6)));
    assert_int_equal(cg_tensor_ndim(e), 2);
    assert_int_equal(cg_tensor_size(e, 0), 6);
    assert_memory_equal(cg_tensor_cdata(e) + 3, cg_tensor_cdata(w), 3 * sizeof(float)); /* row 1 = weight row 0 */
    e = cg_embedding(w, cg_tape_wrap(CG_I64, IDX, 3, CG_SHAPE(3, 1, 2)));  /* any shape [*] -> [*, D] */
    assert_int_equal(cg_tensor_ndim(e), 4);
    assert_int_equal(cg_tensor_size(e, 0), 3);
    assert_int_equal(cg_tensor_size(e, 2), 2);
    assert_int_equal(cg_tensor_size(e, 3), 3);
    assert_memory_equal(cg_tensor_cdata(e) + 15, cg_tensor_cdata(w) + 12, 3 * sizeof(float)); /* [2,0,1] = row 4 */
    assert_null(cg_embedding(w, cg_tape_wrap(CG_I64, (int64_t[]){ 0, 5 }, 1, CG_SHAPE(2))));
    assert_non_null(strstr(cg_last_error(), "embedding: indices[1] = 5 is outside 0..4"));
    assert_null(cg_embedding(w, cg_tape_wrap(CG_F32, (float[]){ 0 }, 1, CG_SHAPE(1))));
    assert_non_null(strstr(cg_last_error(), "embedding: indices is float32, expected int64"));
    assert_null(cg_embedding(cg_tape_wrap(CG_I64, IDX, 2, CG_SHAPE(3, 2)), cg_tape_wrap(CG_I64, IDX, 1, CG_SHAPE(1))));
    assert_non_null(strstr(cg_last_error(), "embedding: weight is int64, expected float32"));
    assert_null(cg_where(cond, ab[0], w));
    assert_non_null(strstr(cg_last_error(), "where: a [3, 4] and b [5, 3]"));
    assert_null(cg_where(cg_tape_wrap(CG_U8, COND, 1, CG_SHAPE(12)), ab[0], ab[1]));
    assert_non_null(strstr(cg_last_error(), "where: cond [12] must have the shape of a and b [3, 4]"));
    assert_null(cg_where(ab[0], ab[0], ab[1]));
    assert_non_null(strstr(cg_last_error(), "where: cond is float32, expected uint8"));
    assert_null(cg_where(cond, cg_tape_wrap(CG_U8, COND, 2, CG_SHAPE(3, 4)), ab[1]));
    assert_non_null(strstr(cg_last_error(), "where: a is uint8, expected float32"));
    cg_tensor_free(cond);
    cg_tape_release();
    cg_tensor_free(w);
    cg_tensor_free(ab[0]);
    cg_tensor_free(ab[1]);
}

/* The layer through a loss: the weight's gradient is, per row, the sum of the output gradients
 * of the positions that looked it up (here d loss / d y = y's position weights). */
static void test_layer(void **s) {
    (void)s;
    cg_manual_seed(7);
    cg_module *m = cg_embedding_new(6, 3);
    assert_non_null(m);
    assert_string_equal(m->type->name, "Embedding");
    cg_tensor *w = cg_module_find(m, "weight");
    assert_non_null(w);
    assert_true(cg_tensor_requires_grad(w));
    const int64_t idx[2 * 3] = { 5, 0, 5, 2, 2, 2 };
    cg_tensor *x = cg_tensor_from_i64(2, CG_SHAPE(2, 3), idx);
    cg_tensor *y = cg_module_forward(m, x);
    if (!y) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_tensor_ndim(y), 3);
    assert_int_equal(cg_tensor_size(y, 2), 3);
    for (int i = 0; i < 6; i++)
        assert_memory_equal(cg_tensor_cdata(y) + 3 * i, cg_tensor_cdata(w) + 3 * (int)idx[i], 3 * sizeof(float));
    cg_tensor *pw = test_tensor(3, CG_SHAPE(2, 3, 3), -1, 1, 160, false); /* loss = sum(y * pw) */
    assert_int_equal(cg_backward(cg_sum(cg_mul(y, pw))), CG_OK);
    const float *g = cg_tensor_cdata(cg_tensor_grad(w)), *p = cg_tensor_cdata(pw);
    for (int r = 0; r < 6; r++)
        for (int j = 0; j < 3; j++) {
            double want = 0;
            for (int i = 0; i < 6; i++) if (idx[i] == r) want += p[3 * i + j];
            assert_float_equal(g[3 * r + j], want, 1e-6);
        }
    cg_tape_release();
    /* float32 whole numbers give the same rows (what a Sequential net fed float data passes) */
    const float fidx[2 * 3] = { 5, 0, 5, 2, 2, 2 };
    cg_tensor *xf = cg_tensor_from_array(2, CG_SHAPE(2, 3), fidx);
    cg_tensor *yf = cg_module_forward(m, xf);
    if (!yf) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_tensor_ndim(yf), 3);
    assert_int_equal(cg_tensor_size(yf, 0), 2);
    assert_int_equal(cg_tensor_size(yf, 1), 3);
    for (int i = 0; i < 6; i++)
        assert_memory_equal(cg_tensor_cdata(yf) + 3 * i, cg_tensor_cdata(w) + 3 * (int)idx[i], 3 * sizeof(float));
    cg_tensor_free(xf);
    /* an int64 index out of range, and a uint8 input, are refused */
    cg_tensor *xb = cg_tensor_from_i64(1, CG_SHAPE(2), (const int64_t[]){ 1, 6 });
    assert_null(cg_module_forward(m, xb));
    assert_non_null(strstr(cg_last_error(), "indices[1] = 6 is outside 0..5"));
    cg_tensor_free(xb);
    xb = cg_tensor_new(CG_U8, 1, CG_SHAPE(2));
    assert_null(cg_module_forward(m, xb));
    assert_non_null(strstr(cg_last_error(), "Embedding: input is uint8"));
    cg_tensor_free(xb);
    cg_tape_release();
    /* whole numbers in range only: the message names the element and the range */
    const float bad[4] = { 1.5f, -1.0f, 6.0f, NAN };
    const char *why[4] = { "element 0 is 1.5, not a whole number in 0..5", "is -1", "is 6", "is nan" };
    for (int i = 0; i < 4; i++) {
        cg_tensor *b = cg_tensor_from_array(1, CG_SHAPE(1), &bad[i]);
        assert_null(cg_module_forward(m, b));
        if (!strstr(cg_last_error(), why[i])) fail_msg("got '%s', wanted '%s'", cg_last_error(), why[i]);
        cg_tensor_free(b);
    }
    cg_tape_release();
    assert_null(cg_embedding_new(0, 3));
    assert_non_null(strstr(cg_last_error(), "must be positive"));
    {   /* no 2^24 limit: an int64 index past it looks up its own row */
        const int64_t big = (INT64_C(1) << 24) + 2;
        cg_module *mb = cg_embedding_new(big, 1);
        assert_non_null(mb);
        cg_tensor *wb = cg_module_find(mb, "weight");
        cg_tensor_data(wb)[big - 1] = 42.0f;
        cg_tensor_data(wb)[big - 2] = -1.0f;
        cg_tensor *xi = cg_tensor_from_i64(1, CG_SHAPE(2), (const int64_t[]){ big - 1, big - 2 });
        cg_tensor *yb = cg_module_forward(mb, xi);
        assert_non_null(yb);
        assert_float_equal(cg_tensor_cdata(yb)[0], 42.0f, 0);
        assert_float_equal(cg_tensor_cdata(yb)[1], -1.0f, 0);
        cg_tape_release();
        cg_tensor_free(xi);
        cg_module_free(mb);
    }
    assert_null(cg_embedding_new(INT64_C(1) << 20, INT64_C(1) << 50));
    assert_non_null(strstr(cg_last_error(), "too many elements"));
    cg_tensor_free(pw);
    cg_tensor_free(x);
    cg_module_free(m);

    /* N(0, 1): 40000 draws, mean within 4.5 sigma/sqrt(n), variance within 5% */
    m = cg_embedding_new(10000, 4);
    w = cg_module_find(m, "weight");
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < 40000; i++) { double v = cg_tensor_cdata(w)[i]; s1 += v; s2 += v * v; }
    assert_true(fabs(s1 / 40000) < 4.5 / 200);
    assert_true(fabs(s2 / 40000 - 1.0) < 0.05);
    cg_module_free(m);

    /* the word: [N, L] indices -> [N, L, D] */
    cg_net_info info;
    m = cg_net_from_spec("embedding(12, 4) layer_norm(4) flatten linear(20, 3) log_softmax", 1, CG_SHAPE(5), &info);
    if (!m) fail_msg("%s", cg_last_error());
    assert_int_equal(info.rows[0].shape[1], 4);
    assert_true(info.params == 12 * 4 + 8 + 20 * 3 + 3);
    float toks[2 * 5] = { 0, 1, 2, 3, 11, 11, 10, 9, 8, 0 };
    x = cg_tensor_from_array(2, CG_SHAPE(2, 5), toks);
    y = cg_module_forward(m, x);
    if (!y) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_tensor_size(y, 1), 3);
    cg_tape_release();
    cg_tensor_free(x);
    cg_net_info_free(&info);
    cg_module_free(m);
    assert_null(cg_net_from_spec("embedding(12, 4)", 3, CG_SHAPE(1, 28, 28), NULL));
    assert_non_null(strstr(cg_last_error(), "needs indices of [N], [N,L] or [N,H,W], gets [N,1,28,28]"));
    assert_null(cg_net_from_spec("embedding(16777217, 4)", 1, CG_SHAPE(5), NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_grads), cmocka_unit_test(test_layer) };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
