/* SPDX-License-Identifier: MIT */
/* tests/test_loader.c — the batch loader: shuffle determinism, every example once per epoch,
 * drop_last, batch shapes, normalisation values, seek/resume, no allocation per batch. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cgrad/cgrad.h"

/* A set of NX examples of 2x3 pixels. labels[i] = i identifies the example (the loader does not
 * require 0..9; cg_mnist_load does). Pixel p of example i is pix(i, p). */
#define NX 37
#define ROWS 2
#define COLS 3
static uint8_t g_pixels[NX * ROWS * COLS], g_labels[NX];
static cg_mnist_set g_set;
static cg_dataset *g_ds;   /* over g_set */

static uint8_t pix(int i, int p) { return (uint8_t)((i * 7 + p * 41) % 256); }

static int setup(void **s) {
    (void)s;
    for (int i = 0; i < NX; i++) {
        g_labels[i] = (uint8_t)i;
        for (int p = 0; p < ROWS * COLS; p++) g_pixels[i * ROWS * COLS + p] = pix(i, p);
    }
    g_set = (cg_mnist_set){ .images = { g_pixels, NX, ROWS, COLS }, .labels = { g_labels, NX, NX - 1 } };
    if (!g_ds) assert_int_equal(cg_dataset_from_mnist(&g_set, &g_ds), CG_OK);
    return 0;
}

static int teardown(void **s) {
    (void)s;
    cg_dataset_free(g_ds);
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
    o.seed = seed;
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
    while (cg_loader_next(l, &x, &y)) {
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
        while (cg_loader_next(l, &x, &y)) {
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
        assert_false(cg_loader_next(l, &x, &y)); /* stays at the end */
        /* the next epoch starts with a full batch again */
        cg_loader_set_epoch(l, 1);
        assert_true(cg_loader_next(l, &x, &y));
        assert_int_equal(cg_tensor_size(x, 0), 10);
        cg_loader_free(l);
    }
    /* a batch larger than the set: one batch of all */
    cg_loader *l = make(100, false, false, 0);
    assert_int_equal(cg_loader_num_batches(l), 1);
    cg_tensor *x;
    const int64_t *y;
    assert_true(cg_loader_next(l, &x, &y));
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
    assert_true(cg_loader_next(l, &x0, &y0));
    for (int p = 0; p < ROWS * COLS; p++) assert_float_equal(cg_tensor_data(x0)[p], (float)pix(0, p) / 255.0f, 0);
    cg_loader_free(l);
    o.norm = (cg_normalize){ .channels = 1, .mean = { 0.5f }, .std = { 0.25f } };
    l = cg_loader_new(g_ds, &o);
    cg_tensor *x;
    const int64_t *y;
    assert_true(cg_loader_next(l, &x, &y));
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
    assert_true(cg_loader_next(l, &x, &y));
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
    for (int i = 0; i < 3; i++) assert_true(cg_loader_next(a, &x, &y));
    assert_int_equal(cg_loader_position(a), 3);
    memcpy(want, y, 6 * sizeof *y);                 /* batch 2 of epoch 4 */
    cg_loader_set_epoch(b, 4);
    assert_int_equal(cg_loader_seek(b, 2), CG_OK);
    assert_true(cg_loader_next(b, &x, &y));
    assert_memory_equal(y, want, 6 * sizeof *y);
    assert_int_equal(cg_loader_epoch(b), 4);
    /* to the end, and out of range */
    assert_int_equal(cg_loader_seek(b, cg_loader_num_batches(b)), CG_OK);
    assert_false(cg_loader_next(b, &x, &y));
    assert_int_equal(cg_loader_seek(b, cg_loader_num_batches(b) + 1), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "cg_loader_seek"));
    assert_int_equal(cg_loader_seek(b, -1), CG_EINVAL);
    assert_int_equal(cg_loader_set_epoch(b, -1), CG_EINVAL);
    cg_loader_free(a);
    cg_loader_free(b);
}

static void test_next_into_caller_tensor(void **s) {
    (void)s;
    cg_loader *l = make(8, true, false, 3), *ref = make(8, true, false, 3);
    cg_tensor *mine = cg_tensor_zeros(4, CG_SHAPE(8, 1, ROWS, COLS)), *x;
    int64_t labels[8], n, total = 0;
    const int64_t *y;
    while (cg_loader_next_into(l, mine, labels, &n) == CG_OK && n > 0) {
        assert_true(cg_loader_next(ref, &x, &y));
        assert_int_equal(n, cg_tensor_size(x, 0));
        assert_memory_equal(labels, y, (size_t)n * sizeof *y);
        assert_memory_equal(cg_tensor_data(mine), cg_tensor_data(x), (size_t)(n * ROWS * COLS) * sizeof(float));
        total += n;
    }
    assert_int_equal(total, NX);
    cg_tensor *small = cg_tensor_zeros(1, CG_SHAPE(5));
    cg_loader_set_epoch(l, 0);
    assert_int_equal(cg_loader_next_into(l, small, labels, &n), CG_ESHAPE);
    assert_int_equal(cg_loader_next_into(l, NULL, labels, &n), CG_EINVAL);
    cg_tensor_free(small);
    cg_tensor_free(mine);
    cg_loader_free(l);
    cg_loader_free(ref);
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
        while (cg_loader_next(l, &x, &y)) {}
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
        cmocka_unit_test(test_next_into_caller_tensor),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_no_allocation_per_batch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
