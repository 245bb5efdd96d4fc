/* SPDX-License-Identifier: MIT */
/* tests/test_loader_shard.c — the loader's data-parallel sharding (shard_rank of shard_count):
 * the shards of each global batch, concatenated in rank order, are exactly the unsharded batch;
 * every shard sees the same number of batches; a too-small last batch is dropped; bad options. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include "cgrad/cgrad.h"
#include "batch.h"

#define NX 37
#define ROWS 2
#define COLS 3
static uint8_t g_pixels[NX * ROWS * COLS];
static int64_t g_labels[NX];
static cg_tensor *g_x, *g_y;
static cg_dataset *g_ds;   /* over g_x (uint8 [NX, 1, ROWS, COLS]) and g_y (int64 [NX]) */

static int setup(void **s) {
    (void)s;
    for (int i = 0; i < NX; i++) {
        g_labels[i] = i;
        for (int p = 0; p < ROWS * COLS; p++) g_pixels[i * ROWS * COLS + p] = (uint8_t)((i * 7 + p * 41) % 256);
    }
    g_x = cg_tensor_wrap_data(CG_U8, g_pixels, 4, CG_SHAPE(NX, 1, ROWS, COLS));
    g_y = cg_tensor_wrap_data(CG_I64, g_labels, 1, CG_SHAPE(NX));
    return cg_dataset_from_tensors(g_x, g_y, false, &g_ds) == CG_OK ? 0 : -1;
}

static int teardown(void **s) {
    (void)s;
    cg_dataset_free(g_ds);
    cg_tensor_free(g_x);
    cg_tensor_free(g_y);
    return 0;
}

static cg_loader *make(int64_t bs, int64_t rank, int64_t count) {
    cg_loader_options o = cg_loader_defaults();
    o.batch_size = bs;
    o.rng = cg_rng_new(11);
    o.shard_rank = rank;
    o.shard_count = count;
    return cg_loader_new(g_ds, &o);
}

/* For K shards of global batch B: per batch, shard r's labels and pixels are rows
 * [r*n/K, (r+1)*n/K) of the unsharded batch. Returns the number of batches compared. */
static int64_t check_shards(int64_t B, int64_t K, int64_t epoch) {
    cg_loader *full = make(B, 0, 1), *sh[8];
    assert_non_null(full);
    assert_true(K <= 8);
    for (int64_t r = 0; r < K; r++) {
        sh[r] = make(B, r, K);
        assert_non_null(sh[r]);
        assert_int_equal(cg_loader_set_epoch(sh[r], epoch), CG_OK);
    }
    assert_int_equal(cg_loader_set_epoch(full, epoch), CG_OK);
    int64_t nb = cg_loader_num_batches(sh[0]), batches = 0;
    for (int64_t r = 1; r < K; r++) assert_int_equal(cg_loader_num_batches(sh[r]), nb);
    cg_tensor *x;
    const int64_t *y;
    while (batches < nb && next_batch_labels(full, &x, &y)) {
        int64_t n = cg_tensor_size(x, 0), row = 0;
        float want[NX * ROWS * COLS];
        int64_t wy[NX];
        memcpy(want, cg_tensor_data(x), (size_t)(n * ROWS * COLS) * sizeof(float));
        memcpy(wy, y, (size_t)n * sizeof(int64_t));
        for (int64_t r = 0; r < K; r++) {
            cg_tensor *xs;
            const int64_t *ys;
            assert_true(next_batch_labels(sh[r], &xs, &ys));
            int64_t m = cg_tensor_size(xs, 0);
            assert_int_equal(m, (r + 1) * n / K - r * n / K);
            assert_true(m >= 1);
            for (int64_t b = 0; b < m; b++) assert_int_equal(ys[b], wy[row + b]);
            assert_memory_equal(cg_tensor_data(xs), want + row * ROWS * COLS, (size_t)(m * ROWS * COLS) * sizeof(float));
            row += m;
        }
        assert_int_equal(row, n);
        batches++;
    }
    for (int64_t r = 0; r < K; r++) {
        assert_false(next_batch_labels(sh[r], &x, &y)); /* every shard ends together */
        cg_loader_free(sh[r]);
    }
    cg_loader_free(full);
    return batches;
}

static void test_shards_partition_each_global_batch(void **s) {
    (void)s;
    /* 37 = 4*8 + 5: the last batch of 5 splits 2+3 over 2 shards, 1+1+1+2 over 4 */
    assert_int_equal(check_shards(8, 1, 0), 5);
    assert_int_equal(check_shards(8, 2, 0), 5);
    assert_int_equal(check_shards(8, 2, 3), 5);
    assert_int_equal(check_shards(8, 4, 1), 5);
    assert_int_equal(check_shards(6, 3, 2), 6); /* 37 = 6*6 + 1: the last row is dropped */
}

static void test_last_batch_smaller_than_shard_count_is_dropped(void **s) {
    (void)s;
    cg_loader *a = make(12, 1, 4);
    assert_non_null(a);
    assert_int_equal(cg_loader_num_batches(a), 3); /* 37 = 3*12 + 1 */
    cg_loader_free(a);
    cg_loader *b = make(12, 0, 1);
    assert_int_equal(cg_loader_num_batches(b), 4); /* unsharded: unchanged */
    cg_loader_free(b);
}

static void test_bad_shard_options(void **s) {
    (void)s;
    assert_null(make(8, 0, 3));
    assert_non_null(strstr(cg_last_error(), "not a multiple of shard_count"));
    assert_null(make(8, 2, 2));
    assert_non_null(strstr(cg_last_error(), "shard_rank"));
    assert_null(make(8, -1, 2));
    assert_null(make(8, 0, 0));
    cg_loader_options o = cg_loader_defaults();
    assert_int_equal(o.shard_rank, 0);
    assert_int_equal(o.shard_count, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shards_partition_each_global_batch),
        cmocka_unit_test(test_last_batch_smaller_than_shard_count_is_dropped),
        cmocka_unit_test(test_bad_shard_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
