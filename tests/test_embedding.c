/* SPDX-License-Identifier: MIT */
/* tests/test_embedding.c — embedding (repeated indices must add up in the weight's gradient) and
 * where: gradients against central differences, values, errors. PyTorch's values are in
 * test_torch_ops. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "gradcheck.h"

static const int64_t IDX[6] = { 3, 0, 3, 3, 1, 4 };
static const uint8_t COND[12] = { 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0 };

static cg_tensor *apply(cg_tensor **in, void *ctx) {
    return *(int *)ctx ? cg_where(COND, in[0], in[1]) : cg_embedding(in[0], IDX, 6);
}

static void test_grads(void **s) {
    (void)s;
    int k = 0;
    cg_tensor *w = test_tensor(2, CG_SHAPE(5, 3), -1, 1, 150, true);
    gradcheck(apply, &w, 1, &k, 1e-3, 1e-3, 1e-2);
    k = 1;
    cg_tensor *ab[2] = { test_tensor(2, CG_SHAPE(3, 4), -1, 1, 151, true), test_tensor(2, CG_SHAPE(3, 4), -1, 1, 152, true) };
    gradcheck(apply, ab, 2, &k, 1e-3, 1e-3, 1e-2);
    const float *y = cg_tensor_cdata(cg_where(COND, ab[0], ab[1]));
    for (int i = 0; i < 12; i++) assert_float_equal(y[i], cg_tensor_cdata(COND[i] ? ab[0] : ab[1])[i], 0);
    cg_tensor *e = cg_embedding(w, IDX, 6);
    assert_int_equal(cg_tensor_size(e, 0), 6);
    assert_memory_equal(cg_tensor_cdata(e) + 3, cg_tensor_cdata(w), 3 * sizeof(float)); /* row 1 = weight row 0 */
    assert_null(cg_embedding(w, (const int64_t[]){ 5 }, 1));
    assert_non_null(strstr(cg_last_error(), "embedding: index 5 at position 0 is outside 0..4"));
    assert_null(cg_where(COND, ab[0], w));
    assert_non_null(strstr(cg_last_error(), "where"));
    cg_tape_release();
    cg_tensor_free(w);
    cg_tensor_free(ab[0]);
    cg_tensor_free(ab[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_grads) };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
