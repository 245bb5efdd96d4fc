/* SPDX-License-Identifier: MIT */
/* tests/test_loader.c — the batch loader: shuffle determinism, every example once per epoch,
 * the shuffle's streams (stream 0 keeps the old seed order), drop_last, batch shapes (the short
 * last batch in tensors of its own), normalisation values, seek/resume, no allocation per batch. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cgrad/cgrad.h"
#include "batch.h"

/* A set of NX examples of 1x2x3 pixels. labels[i] = i identifies the example (the loader does not
 * require 0..9). Pixel p of example i is pix(i, p). */
#define NX 37
#define ROWS 2
#define COLS 3
static uint8_t g_pixels[NX * ROWS * COLS];
static int64_t g_labels[NX];
static cg_tensor *g_x, *g_y; /* uint8 [NX, 1, ROWS, COLS] over g_pixels; int64 [NX] over g_labels */
static cg_dataset *g_ds;     /* borrows g_x, g_y */

static uint8_t pix(int i, int p) { return (uint8_t)((i * 7 + p * 41) % 256); }

static int setup(void **s) {
    (void)s;
    for (int i = 0; i < NX; i++) {
        g_labels[i] = i;
        for (int p = 0; p < ROWS * COLS; p++) g_pixels[i * ROWS * COLS + p] = pix(i, p);
    }
    if (!g_ds) {
        g_x = cg_tensor_wrap_data(CG_U8, g_pixels, 4, CG_SHAPE(NX, 1, ROWS, COLS));
        g_y = cg_tensor_wrap_data(CG_I64, g_labels, 1, CG_SHAPE(NX));
        assert_int_equal(cg_dataset_from_tensors(g_x, g_y, false, &g_ds), CG_OK);
    }
    return 0;
}

static int teardown(void **s) {
    (void)s;
    cg_dataset_free(g_ds);
    cg_tensor_free(g_x);
    cg_tensor_free(g_y);
    g_ds = NULL;
    return 0;
}

/* MNIST's statistics, as the programs' default. */
static cg_normalize mnist_norm(void) { return (cg_normalize){ .channels = 1, .mean = { 0.1307f }, .std = { 0.3081f } }; }

static cg_loader *make(int64_t bs, bool shuffle, bool drop_last, uint64_t seed) {
    cg_loader_options o = cg_loader_defaults();
    o.batch_size = bs;
    o.shuffle = shuffle;
    o.drop_last = drop_last;
    o.rng = cg_rng_new(seed);
    o.norm = mnist_norm();
    cg_loader *l = cg_loader_new(g_ds, &o);
    assert_non_null(l);
    return l;
}

/* The example order of one epoch (from the labels), checking pixels against labels on the way.
 * Returns how many examples were seen. */
static int epoch_order(cg_loader *l, int64_t epoch, int *order) {
    assert_int_equal(cg_loader_set_epoch(l, epoch), CG_OK);
    cg_tensor *x;
    const int64_t *y;
    int k = 0;
    while (next_batch_labels(l, &x, &y)) {
        int64_t n = cg_tensor_size(x, 0);
        for (int64_t b = 0; b < n; b++) {
            order[k++] = (int)y[b];
            /* the pixels are those of example y[b] */
            float want = ((float)pix((int)y[b], 5) / 255.0f - 0.1307f) / 0.3081f;
            assert_float_equal(cg_tensor_data(x)[b * ROWS * COLS + 5], want, 0);
        }
    }
    return k;
}

static void test_every_example_once_per_epoch(void **s) {
    (void)s;
    cg_loader *l = make(8, true, false, 42);
    for (int64_t e = 0; e < 3; e++) {
        int order[NX], seen[NX] = { 0 };
        assert_int_equal(epoch_order(l, e, order), NX);
        for (int i = 0; i < NX; i++) seen[order[i]]++;
        for (int i = 0; i < NX; i++) assert_int_equal(seen[i], 1);
    }
    cg_loader_free(l);
}

static void test_same_seed_same_order(void **s) {
    (void)s;
    cg_loader *a = make(8, true, false, 7), *b = make(5, true, false, 7), *c = make(8, true, false, 8);
    int oa[NX], ob[NX], oc[NX], oa1[NX], again[NX];
    epoch_order(a, 0, oa);
    epoch_order(b, 0, ob);  /* the batch size does not change the order */
    epoch_order(c, 0, oc);
    epoch_order(a, 1, oa1);
    epoch_order(a, 0, again); /* recomputed for a resume */
    assert_memory_equal(oa, ob, sizeof oa);
    assert_memory_equal(oa, again, sizeof oa);
    assert_memory_not_equal(oa, oc, sizeof oa);  /* another seed */
    assert_memory_not_equal(oa, oa1, sizeof oa); /* another epoch */
    int ident = 1;
    for (int i = 0; i < NX; i++) ident &= oa[i] == i;
    assert_false(ident); /* shuffled at all */
    cg_loader_free(a);
    cg_loader_free(b);
    cg_loader_free(c);
}

static void test_no_shuffle_is_in_order(void **s) {
    (void)s;
    cg_loader *l = make(10, false, false, 7);
    int o[NX];
    assert_int_equal(epoch_order(l, 3, o), NX);
    for (int i = 0; i < NX; i++) assert_int_equal(o[i], i);
    cg_loader_free(l);
}

static void test_batch_shapes_and_drop_last(void **s) {
    (void)s;
    for (int drop = 0; drop <= 1; drop++) {
        cg_loader *l = make(10, true, drop, 1);
        assert_int_equal(cg_loader_num_batches(l), drop ? 3 : 4);
        cg_tensor *x;
        const int64_t *y;
        int64_t sizes[8], nb = 0;
        while (next_batch_labels(l, &x, &y)) {
            assert_int_equal(cg_tensor_ndim(x), 4);
            assert_int_equal(cg_tensor_size(x, 1), 1);
            assert_int_equal(cg_tensor_size(x, 2), ROWS);
            assert_int_equal(cg_tensor_size(x, 3), COLS);
            assert_int_equal(cg_tensor_numel(x), cg_tensor_size(x, 0) * ROWS * COLS);
            sizes[nb++] = cg_tensor_size(x, 0);
        }
        assert_int_equal(nb, drop ? 3 : 4);
        for (int i = 0; i < 3; i++) assert_int_equal(sizes[i], 10);
        if (!drop) assert_int_equal(sizes[3], 7);
        assert_false(next_batch_labels(l, &x, &y)); /* stays at the end */
        /* the next epoch starts with a full batch again */
        cg_loader_set_epoch(l, 1);
        assert_true(next_batch_labels(l, &x, &y));
        assert_int_equal(cg_tensor_size(x, 0), 10);
        cg_loader_free(l);
    }
    /* a batch larger than the set: one batch of all */
    cg_loader *l = make(100, false, false, 0);
    assert_int_equal(cg_loader_num_batches(l), 1);
    cg_tensor *x;
    const int64_t *y;
    assert_true(next_batch_labels(l, &x, &y));
    assert_int_equal(cg_tensor_size(x, 0), NX);
    cg_loader_free(l);
}

static void test_normalisation_values(void **s) {
    (void)s;
    cg_loader_options o = cg_loader_defaults();
    assert_int_equal(o.norm.channels, 0); /* no normalisation unless asked */
    o.shuffle = false;
    o.batch_size = NX;
    cg_loader *l = cg_loader_new(g_ds, &o);
    cg_tensor *x0;
    const int64_t *y0;
    assert_true(next_batch_labels(l, &x0, &y0));
    for (int p = 0; p < ROWS * COLS; p++) assert_float_equal(cg_tensor_data(x0)[p], (float)pix(0, p) / 255.0f, 0);
    cg_loader_free(l);
    o.norm = (cg_normalize){ .channels = 1, .mean = { 0.5f }, .std = { 0.25f } };
    l = cg_loader_new(g_ds, &o);
    cg_tensor *x;
    const int64_t *y;
    assert_true(next_batch_labels(l, &x, &y));
    const float *d = cg_tensor_cdata(x);
    for (int i = 0; i < NX; i++)
        for (int p = 0; p < ROWS * COLS; p++) {
            double want = ((double)pix(i, p) / 255.0 - 0.5) / 0.25;
            assert_float_equal(d[i * ROWS * COLS + p], want, 1e-6);
        }
    /* pixel 0 -> -2, 255 -> 2 */
    g_pixels[0] = 0;
    g_pixels[1] = 255;
    cg_loader_set_epoch(l, 0);
    assert_true(next_batch_labels(l, &x, &y));
    assert_float_equal(cg_tensor_data(x)[0], -2.0f, 1e-6);
    assert_float_equal(cg_tensor_data(x)[1], 2.0f, 1e-6);
    cg_loader_free(l);
    setup(NULL);
}

static void test_seek_resumes_the_same_batches(void **s) {
    (void)s;
    cg_loader *a = make(6, true, false, 99), *b = make(6, true, false, 99);
    cg_tensor *x;
    const int64_t *y;
    int64_t want[NX];
    cg_loader_set_epoch(a, 4);
    for (int i = 0; i < 3; i++) assert_true(next_batch_labels(a, &x, &y));
    assert_int_equal(cg_loader_position(a), 3);
    memcpy(want, y, 6 * sizeof *y);                 /* batch 2 of epoch 4 */
    cg_loader_set_epoch(b, 4);
    assert_int_equal(cg_loader_seek(b, 2), CG_OK);
    assert_true(next_batch_labels(b, &x, &y));
    assert_memory_equal(y, want, 6 * sizeof *y);
    assert_int_equal(cg_loader_epoch(b), 4);
    /* to the end, and out of range */
    assert_int_equal(cg_loader_seek(b, cg_loader_num_batches(b)), CG_OK);
    assert_false(next_batch_labels(b, &x, &y));
    assert_int_equal(cg_loader_seek(b, cg_loader_num_batches(b) + 1), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "cg_loader_seek"));
    assert_int_equal(cg_loader_seek(b, -1), CG_EINVAL);
    assert_int_equal(cg_loader_set_epoch(b, -1), CG_EINVAL);
    cg_loader_free(a);
    cg_loader_free(b);
}

/* The shuffle's numbers, written out as the loader drew them before it took a cg_rng (its `seed`
 * option): key = bits(seed, epoch), then Fisher-Yates with bits(key, i) % (i + 1), where
 * bits(k, c) is two rounds of the SplitMix64 finaliser. Stream 0 of cg_rng_new(seed) must give
 * exactly this order (the seed recipe's first epoch depends on it). */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static uint64_t old_bits(uint64_t seed, uint64_t c) { return mix64(mix64(c * 0x9e3779b97f4a7c15ULL + seed) ^ seed); }
static void old_order(uint64_t seed, int64_t epoch, int *perm) {
    for (int i = 0; i < NX; i++) perm[i] = i;
    uint64_t key = old_bits(seed, (uint64_t)epoch);
    for (int i = NX - 1; i > 0; i--) {
        int j = (int)(old_bits(key, (uint64_t)i) % (uint64_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static cg_loader *make_rng(cg_rng rng) {
    cg_loader_options o = cg_loader_defaults();
    o.batch_size = 8;
    o.rng = rng;
    o.norm = mnist_norm();
    cg_loader *l = cg_loader_new(g_ds, &o);
    assert_non_null(l);
    return l;
}

static void test_stream0_keeps_the_old_seed_order(void **s) {
    (void)s;
    const uint64_t seeds[] = { 0, 1, 7, 0xFFFFFFFFFFFFFFFFull };
    for (int k = 0; k < 4; k++) {
        cg_loader *l = make_rng(cg_rng_new(seeds[k]));
        for (int64_t e = 0; e < 3; e++) {
            int got[NX], want[NX];
            assert_int_equal(epoch_order(l, e, got), NX);
            old_order(seeds[k], e, want);
            assert_memory_equal(got, want, sizeof got);
        }
        cg_loader_free(l);
    }
    /* the defaults shuffle with stream 0 of seed 0 */
    cg_loader_options o = cg_loader_defaults();
    assert_true(o.shuffle);
    assert_int_equal(o.rng.seed, 0);
    assert_int_equal(o.rng.stream, 0);
    o.batch_size = 8;
    o.norm = mnist_norm();
    cg_loader *l = cg_loader_new(g_ds, &o);
    int got[NX], want[NX];
    epoch_order(l, 2, got);
    old_order(0, 2, want);
    assert_memory_equal(got, want, sizeof got);
    cg_loader_free(l);
}

static void test_streams_give_their_own_orders(void **s) {
    (void)s;
    cg_rng counted = cg_rng_new(7);
    counted.counter = 12345; /* the counter is not part of the order */
    cg_loader *s0 = make_rng(cg_rng_new(7)), *s0c = make_rng(counted), *s1 = make_rng(cg_rng_fork(7, 1)),
              *s1b = make_rng(cg_rng_fork(7, 1)), *s2 = make_rng(cg_rng_fork(7, 2)), *o1 = make_rng(cg_rng_fork(8, 1));
    for (int64_t e = 0; e < 2; e++) {
        int a[NX], ac[NX], b[NX], bb[NX], c[NX], d[NX], again[NX];
        epoch_order(s0, e, a);
        epoch_order(s0c, e, ac);
        epoch_order(s1, e, b);
        epoch_order(s1b, e, bb);
        epoch_order(s2, e, c);
        epoch_order(o1, e, d);
        epoch_order(s1, e, again); /* recomputed, as a resume does */
        assert_memory_equal(a, ac, sizeof a);
        assert_memory_equal(b, bb, sizeof b);
        assert_memory_equal(b, again, sizeof b);
        assert_memory_not_equal(a, b, sizeof a);
        assert_memory_not_equal(b, c, sizeof b);
        assert_memory_not_equal(b, d, sizeof b);
        int seen[NX] = { 0 };
        for (int i = 0; i < NX; i++) seen[b[i]]++;
        for (int i = 0; i < NX; i++) assert_int_equal(seen[i], 1);
    }
    cg_loader *all[] = { s0, s0c, s1, s1b, s2, o1 };
    for (int i = 0; i < 6; i++) cg_loader_free(all[i]);
}

/* The short last batch comes in tensors of its own shape: the full batch's tensors keep theirs,
 * before, during and after it. */
static void test_short_last_batch_has_its_own_tensors(void **s) {
    (void)s;
    cg_loader *l = make(10, true, false, 4);
    for (int64_t e = 0; e < 2; e++) {
        assert_int_equal(cg_loader_set_epoch(l, e), CG_OK);
        cg_batch b[4];
        int seen[NX] = { 0 };
        for (int i = 0; i < 4; i++) {
            assert_true(cg_loader_next(l, &b[i]));
            const int64_t n = i < 3 ? 10 : 7;
            assert_int_equal(cg_tensor_size(b[i].x, 0), n);
            assert_int_equal(cg_tensor_numel(b[i].x), n * ROWS * COLS);
            assert_int_equal(cg_tensor_size(b[i].y, 0), n);
            assert_int_equal(cg_tensor_numel(b[i].y), n);
            const int64_t *y = cg_tensor_cdata_i64(b[i].y);
            for (int64_t k = 0; k < n; k++) seen[y[k]]++;
        }
        assert_ptr_equal(b[0].x, b[1].x); /* full batches reuse one pair */
        assert_ptr_equal(b[0].y, b[2].y);
        assert_ptr_not_equal(b[3].x, b[0].x);
        assert_ptr_not_equal(b[3].y, b[0].y);
        assert_int_equal(cg_tensor_size(b[0].x, 0), 10); /* unchanged by the short batch */
        assert_int_equal(cg_tensor_numel(b[0].x), 10 * ROWS * COLS);
        assert_int_equal(cg_tensor_size(b[0].y, 0), 10);
        for (int i = 0; i < NX; i++) assert_int_equal(seen[i], 1);
        cg_batch end = { b[0].x, b[0].y };
        assert_false(cg_loader_next(l, &end));
        assert_null(end.x);
        assert_null(end.y);
        assert_int_equal(cg_loader_status(l), CG_OK);
    }
    /* a set that divides evenly has no short batch */
    cg_loader *even = make(37, false, false, 0);
    cg_batch b;
    assert_true(cg_loader_next(even, &b));
    assert_int_equal(cg_tensor_size(b.x, 0), NX);
    assert_false(cg_loader_next(even, &b));
    assert_false(cg_loader_next(NULL, &b));
    assert_false(cg_loader_next(even, NULL));
    cg_loader_free(even);
    cg_loader_free(l);
}

static void test_bad_options(void **s) {
    (void)s;
    cg_loader_options o = cg_loader_defaults();
    o.batch_size = 0;
    assert_null(cg_loader_new(g_ds, &o));
    assert_non_null(strstr(cg_last_error(), "batch_size"));
    o = cg_loader_defaults();
    o.norm = mnist_norm();
    o.norm.std[0] = 0;
    assert_null(cg_loader_new(g_ds, &o));
    assert_non_null(strstr(cg_last_error(), "std"));
    o.norm = (cg_normalize){ .channels = 3, .mean = { 0, 0, 0 }, .std = { 1, 1, 1 } }; /* the set has 1 */
    assert_null(cg_loader_new(g_ds, &o));
    assert_non_null(strstr(cg_last_error(), "3 channels"));
    o = cg_loader_defaults();
    o.drop_last = true;
    o.batch_size = NX + 1;
    assert_null(cg_loader_new(g_ds, &o));
    assert_non_null(strstr(cg_last_error(), "drop_last"));
    assert_null(cg_loader_new(NULL, NULL));
    cg_dataset empty = { 0 };
    assert_null(cg_loader_new(&empty, NULL));
    assert_non_null(strstr(cg_last_error(), "empty"));
    cg_loader_free(NULL);
    assert_int_equal(cg_loader_num_batches(NULL), -1);
}

/* Once made, a loader allocates nothing: a training loop stays allocation-free. */
static size_t g_allocs;
static void *count_alloc(size_t n, void *ctx) { (void)ctx; g_allocs++; return malloc(n); }
static void count_free(void *p, void *ctx) { (void)ctx; free(p); }

static void test_no_allocation_per_batch(void **s) {
    (void)s;
    cg_loader *l = make(8, true, false, 5);
    cg_allocator counting = { count_alloc, count_free, NULL };
    cg_set_allocator(&counting);
    g_allocs = 0;
    cg_tensor *x;
    const int64_t *y;
    for (int64_t e = 0; e < 3; e++) {
        cg_loader_set_epoch(l, e);
        cg_loader_seek(l, 1);
        while (next_batch_labels(l, &x, &y)) {}
    }
    size_t allocs = g_allocs;
    cg_set_allocator(NULL);
    assert_int_equal(allocs, 0);
    cg_loader_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_example_once_per_epoch),
        cmocka_unit_test(test_same_seed_same_order),
        cmocka_unit_test(test_no_shuffle_is_in_order),
        cmocka_unit_test(test_batch_shapes_and_drop_last),
        cmocka_unit_test(test_normalisation_values),
        cmocka_unit_test(test_seek_resumes_the_same_batches),
        cmocka_unit_test(test_stream0_keeps_the_old_seed_order),
        cmocka_unit_test(test_streams_give_their_own_orders),
        cmocka_unit_test(test_short_last_batch_has_its_own_tensors),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_no_allocation_per_batch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
