/* SPDX-License-Identifier: MIT */
/* tests/test_rng.c — cg_rng streams: (seed, k) repeats, different k differ, stream 0 is the
 * default stream, forks for ranks do not overlap; the functions that draw (cg_tensor_rand*,
 * the initialisers, dropout and the Dropout modules) take a stream, leave the default stream
 * alone when given one, and give the same numbers for any thread count. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"

/* lib/cg_internal.h: the draws themselves, to compare streams bit for bit. */
uint64_t cg_rng_take(cg_rng *r, uint64_t n, uint64_t *key);
uint64_t cg_rng_bits(uint64_t seed, uint64_t counter);

enum { N = 1 << 16 };  /* above CG_OMP_MIN: the parallel fills run */

/* n draws of U[0,1) from r (NULL: the default stream), copied out. */
static void rand_into(float *out, int64_t n, cg_rng *r) {
    cg_tensor *t = cg_tensor_rand(1, &n, r);
    assert_non_null(t);
    memcpy(out, cg_tensor_data(t), (size_t)n * sizeof(float));
    cg_tensor_free(t);
}

static void test_streams_repeat_and_differ(void **s) {
    (void)s;
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *c = malloc(N * sizeof *c);
    cg_rng r1 = cg_rng_fork(11, 1), r1b = cg_rng_fork(11, 1), r2 = cg_rng_fork(11, 2);
    rand_into(a, N, &r1);
    rand_into(b, N, &r1b);
    assert_memory_equal(a, b, N * sizeof(float));           /* the same (seed, k) repeats */
    assert_int_equal(r1.counter, N);                         /* one draw per element */
    rand_into(c, N, &r2);
    assert_memory_not_equal(a, c, N * sizeof(float));       /* another k differs */
    cg_rng other = cg_rng_fork(12, 1);
    rand_into(c, N, &other);
    assert_memory_not_equal(a, c, N * sizeof(float));       /* another seed differs */
    /* a cg_rng is a value: a copy saves the stream, assigning restores it */
    cg_rng saved = r1;
    rand_into(a, N, &r1);
    r1 = saved;
    rand_into(b, N, &r1);
    assert_memory_equal(a, b, N * sizeof(float));
    rand_into(c, N, &r1);
    assert_memory_not_equal(b, c, N * sizeof(float));       /* the stream moves on */
    free(a); free(b); free(c);
}

static void test_stream0_is_the_default_stream(void **s) {
    (void)s;
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    for (uint64_t seed = 0; seed < 3; seed++) {
        cg_manual_seed(seed);
        cg_rng r = cg_rng_new(seed);
        for (int round = 0; round < 2; round++) {   /* and it continues in step */
            rand_into(a, N, NULL);
            rand_into(b, N, &r);
            assert_memory_equal(a, b, N * sizeof(float));
        }
        assert_int_equal(r.counter, cg_rng_get_state().offset);
        cg_rng f = cg_rng_fork(seed, 0);
        assert_true(f.seed == r.seed && f.stream == 0 && f.counter == 0);
    }
    /* randn, uniform and the initialisers draw the same numbers from either */
    cg_manual_seed(5);
    cg_rng r = cg_rng_new(5);
    int64_t n = 1000;
    cg_tensor *x = cg_tensor_randn(1, &n, NULL), *y = cg_tensor_randn(1, &n, &r);
    assert_memory_equal(cg_tensor_data(x), cg_tensor_data(y), 1000 * sizeof(float));
    assert_int_equal(cg_init_kaiming_uniform_(x, 0, CG_FAN_IN, "relu", NULL), CG_ESHAPE);  /* 1-d */
    cg_tensor *w1 = cg_tensor_zeros(2, CG_SHAPE(20, 30)), *w2 = cg_tensor_zeros(2, CG_SHAPE(20, 30));
    assert_int_equal(cg_init_kaiming_uniform_(w1, 0, CG_FAN_IN, "relu", NULL), CG_OK);
    assert_int_equal(cg_init_kaiming_uniform_(w2, 0, CG_FAN_IN, "relu", &r), CG_OK);
    assert_memory_equal(cg_tensor_data(w1), cg_tensor_data(w2), 600 * sizeof(float));
    assert_int_equal(cg_init_normal_(w1, 1, 2, NULL), CG_OK);
    assert_int_equal(cg_init_normal_(w2, 1, 2, &r), CG_OK);
    assert_memory_equal(cg_tensor_data(w1), cg_tensor_data(w2), 600 * sizeof(float));
    cg_tensor *t[] = { x, y, w1, w2 };
    for (size_t i = 0; i < 4; i++) cg_tensor_free(t[i]);
    free(a); free(b);
}

/* Drawing from a stream of one's own leaves the default stream where it was. */
static void test_own_stream_leaves_the_default(void **s) {
    (void)s;
    cg_manual_seed(3);
    cg_rng_state before = cg_rng_get_state();
    cg_rng r = cg_rng_fork(3, 7);
    int64_t n = 5000;
    cg_tensor *t = cg_tensor_uniform(1, &n, -1, 1, &r);
    cg_tensor *w = cg_tensor_zeros(2, CG_SHAPE(10, 10));
    assert_int_equal(cg_init_xavier_normal_(w, 1, &r), CG_OK);
    cg_tensor *x = cg_tensor_ones(2, CG_SHAPE(10, 10));
    assert_non_null(cg_dropout(x, 0.5f, true, &r));
    assert_non_null(cg_dropout2d(x, 0.5f, true, &r));
    cg_rng_state after = cg_rng_get_state();
    assert_true(after.seed == before.seed && after.offset == before.offset);
    assert_int_equal(r.counter, 5000 + 100 + 50 + 50);  /* dropout: a draw per two mask entries */
    cg_tape_release();
    cg_tensor_free(t); cg_tensor_free(w); cg_tensor_free(x);
}

/* The mask of dropout (or dropout2d) on ones of n elements, drawn from a fresh fork(seed, k),
 * with the given thread count, after `noise` draws from the default stream. */
static void mask_with(float *out, int64_t n, bool channels, uint64_t seed, uint64_t k, int threads, int64_t noise) {
    int prev = cg_get_num_threads();
    cg_set_num_threads(threads);
    cg_manual_seed(seed + 100);
    if (noise) cg_tensor_free(cg_tensor_rand(1, &noise, NULL));
    cg_rng r = cg_rng_fork(seed, k);
    cg_tensor *x = cg_tensor_ones(channels ? 4 : 1, channels ? CG_SHAPE(n / 64, 8, 4, 2) : CG_SHAPE(n));
    cg_tensor *y = channels ? cg_dropout2d(x, 0.3f, true, &r) : cg_dropout(x, 0.3f, true, &r);
    assert_non_null(y);
    memcpy(out, cg_tensor_data(y), (size_t)n * sizeof(float));
    cg_tape_release();
    cg_tensor_free(x);
    cg_set_num_threads(prev);
}

static void test_dropout_with_a_stream(void **s) {
    (void)s;
    const int64_t n = 1 << 17;  /* dropout2d: n / 64 * 8 channels; dropout: above CG_OMP_MIN */
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    for (int ch = 0; ch < 2; ch++) {
        mask_with(a, n, ch, 42, 1, 1, 0);
        mask_with(b, n, ch, 42, 1, 2, 777);   /* other threads, other default-stream draws */
        assert_memory_equal(a, b, (size_t)n * sizeof(float));
        mask_with(c, n, ch, 42, 2, 2, 0);     /* another stream */
        assert_memory_not_equal(a, c, (size_t)n * sizeof(float));
    }
    free(a); free(b); free(c);
}

/* Modules that draw take the stream through cg_module_set_rng, down the tree. */
static void test_module_set_rng(void **s) {
    (void)s;
    cg_module *net = cg_sequential_new();
    assert_non_null(cg_sequential_append(net, NULL, cg_dropout_new(0.5f)));
    cg_module *inner = cg_sequential_new();
    assert_non_null(cg_sequential_append(inner, NULL, cg_relu_new()));
    assert_non_null(cg_sequential_append(inner, NULL, cg_dropout2d_new(0.5f)));
    assert_non_null(cg_sequential_append(net, "inner", inner));
    cg_tensor *x = cg_tensor_ones(4, CG_SHAPE(4, 16, 8, 8));
    const size_t bytes = 4 * 16 * 8 * 8 * sizeof(float);
    float *a = malloc(bytes), *b = malloc(bytes);

    cg_rng r = cg_rng_fork(9, 3);
    cg_module_set_rng(net, &r);
    cg_manual_seed(1);
    cg_tensor *y = cg_module_forward(net, x);
    assert_non_null(y);
    memcpy(a, cg_tensor_data(y), bytes);
    cg_tape_release();
    assert_int_equal(cg_rng_get_state().offset, 0);           /* nothing from the default stream */
    assert_int_equal(r.counter, 4 * 16 * 8 * 8 / 2 + 4 * 16 / 2);  /* both modules drew from r */

    r = cg_rng_fork(9, 3);                                     /* the same stream again */
    cg_manual_seed(2);
    y = cg_module_forward(net, x);
    memcpy(b, cg_tensor_data(y), bytes);
    cg_tape_release();
    assert_memory_equal(a, b, bytes);

    cg_module_set_rng(net, NULL);                               /* back to the default stream */
    cg_manual_seed(9);
    cg_rng r0 = cg_rng_new(9);
    y = cg_module_forward(net, x);
    memcpy(a, cg_tensor_data(y), bytes);
    cg_tape_release();
    assert_int_equal(cg_rng_get_state().offset, 4 * 16 * 8 * 8 / 2 + 4 * 16 / 2);
    cg_module_set_rng(net, &r0);                                /* stream 0 of the same seed */
    y = cg_module_forward(net, x);
    memcpy(b, cg_tensor_data(y), bytes);
    cg_tape_release();
    assert_memory_equal(a, b, bytes);
    cg_module_set_rng(NULL, &r0);                               /* no-op */

    cg_tensor_free(x);
    cg_module_free(net);
    free(a); free(b);
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* Streams of 8 ranks: their first 1e5 64-bit draws are 8e5 distinct numbers (a collision among
 * 8e5 random 64-bit values has probability ~2e-8), and stream 0's continue the default stream. */
static void test_rank_forks_do_not_overlap(void **s) {
    (void)s;
    enum { RANKS = 8, DRAWS = 100000 };
    uint64_t *all = malloc((size_t)RANKS * DRAWS * sizeof *all);
    for (uint64_t k = 0; k < RANKS; k++) {
        cg_rng r = cg_rng_fork(2024, k);
        uint64_t key, c0 = cg_rng_take(&r, DRAWS, &key);
        assert_int_equal(c0, 0);
        for (uint64_t i = 0; i < DRAWS; i++) all[k * DRAWS + i] = cg_rng_bits(key, c0 + i);
    }
    qsort(all, (size_t)RANKS * DRAWS, sizeof *all, cmp_u64);
    for (size_t i = 1; i < (size_t)RANKS * DRAWS; i++)
        if (all[i] == all[i - 1]) fail_msg("draw %llx appears twice", (unsigned long long)all[i]);
    free(all);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streams_repeat_and_differ),
        cmocka_unit_test(test_stream0_is_the_default_stream),
        cmocka_unit_test(test_own_stream_leaves_the_default),
        cmocka_unit_test(test_dropout_with_a_stream),
        cmocka_unit_test(test_module_set_rng),
        cmocka_unit_test(test_rank_forks_do_not_overlap),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
