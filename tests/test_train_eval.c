/* SPDX-License-Identifier: MIT */
/* tests/test_train_eval.c — cg_evaluate (loss, argmax accuracy, the confusion; mode restored)
 * and prediction: cg_predict_one on one unbatched example from a float buffer, normalised as the
 * loader normalises, gives the row the loader's batch gives; a warm evaluation of a residual
 * conv net at batch 200, after training steps at another batch size, allocates nothing and
 * touches no new pages (its activations stay in the tape's pool between batches). */
#define _POSIX_C_SOURCE 200809L   /* open_memstream */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "gradcheck.h"
#include "alloc_probe.h"

enum { N = 10, C = 2, H = 3, W = 3, K = 4 };

static void test_evaluate_and_predict(void **st) {
    (void)st;
    cg_manual_seed(1);
    cg_tensor *x = test_tensor(4, CG_SHAPE(N, C, H, W), 0, 1, 7, false);
    int64_t labels[N];
    for (int i = 0; i < N; i++) labels[i] = i % K;
    cg_tensor *y = cg_tensor_from_i64(1, CG_SHAPE(N), labels);
    cg_dataset *ds;
    assert_int_equal(cg_dataset_from_tensors(x, y, true, &ds), CG_OK);
    cg_module *net = cg_net_from_spec("flatten linear(18,4) dropout(0.5)", 3, CG_SHAPE(C, H, W), NULL);
    assert_non_null(net);
    cg_loader_options lo = cg_loader_defaults();
    lo.batch_size = 4;  /* a short last batch of 2 */
    lo.shuffle = false;
    lo.norm = (cg_normalize){ .channels = 2, .mean = { 0.25f, 0.5f }, .std = { 0.5f, 2.0f } };
    cg_loader *l = cg_loader_new(ds, &lo);
    assert_non_null(l);

    cg_confusion *conf = cg_confusion_new(K);
    assert_non_null(conf);
    assert_int_equal(cg_confusion_add(conf, 0, 1), CG_OK);   /* evaluate resets it */
    cg_eval_result r;
    assert_true(net->training);
    assert_int_equal(cg_evaluate(net, l, CG_LOSS_AUTO, conf, &r), CG_OK);
    assert_true(net->training);  /* the mode is restored */
    assert_int_equal(r.n, N);
    int64_t total = 0, diag = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) total += cg_confusion_count(conf, i, j);
    for (int i = 0; i < K; i++) diag += cg_confusion_count(conf, i, i);
    for (int i = 0; i < K; i++) assert_int_equal(cg_confusion_total(conf, i), (N - i + K - 1) / K);
    assert_int_equal(total, N);
    assert_int_equal(diag, r.correct);
    cg_confusion_free(conf);

    /* one example at a time, from the raw float values: the same outputs as the loader's batches,
     * the same argmax count and the same summed cross-entropy */
    const float *xv = cg_tensor_cdata(x);
    int64_t correct = 0;
    double loss = 0;
    for (int i = 0; i < N; i++) {
        cg_tensor *p = cg_predict_one(net, xv + i * C * H * W, 3, CG_SHAPE(C, H, W), &lo.norm);
        assert_non_null(p);
        assert_int_equal(cg_tensor_ndim(p), 2);
        assert_int_equal(cg_tensor_size(p, 1), K);
        correct += cg_tensor_cdata_i64(cg_argmax(p, 1, false))[0] == labels[i];
        cg_tensor *yi = cg_tensor_from_i64(1, CG_SHAPE(1), &labels[i]);
        loss += cg_tensor_item(cg_cross_entropy(p, yi, CG_REDUCTION_SUM));
        cg_tape_release();
        cg_tensor_free(yi);
        cg_tensor_free(p);
    }
    assert_int_equal(correct, r.correct);
    assert_float_equal(loss, r.loss_sum, 1e-4);

    /* a batch: cg_predict equals the forward in eval mode */
    cg_batch b;
    assert_int_equal(cg_loader_set_epoch(l, 0), CG_OK);
    assert_true(cg_loader_next(l, &b));
    cg_tensor *pb = cg_predict(net, b.x);
    assert_non_null(pb);
    cg_tensor *p0 = cg_predict_one(net, xv, 3, CG_SHAPE(C, H, W), &lo.norm);
    for (int k = 0; k < K; k++) assert_float_equal(cg_tensor_cdata(pb)[k], cg_tensor_cdata(p0)[k], 1e-6);

    /* errors */
    assert_null(cg_predict_one(net, xv, 3, CG_SHAPE(C, H, W),
                               &(cg_normalize){ .channels = 3, .mean = { 0 }, .std = { 1, 1, 1 } }));
    assert_non_null(strstr(cg_last_error(), "3 channels"));
    assert_null(cg_predict_one(net, NULL, 3, CG_SHAPE(C, H, W), NULL));
    assert_int_equal(cg_evaluate(net, NULL, CG_LOSS_AUTO, NULL, &r), CG_EINVAL);

    cg_tensor_free(pb);
    cg_tensor_free(p0);
    cg_loader_free(l);
    cg_dataset_free(ds);
    cg_module_free(net);
    cg_tensor_free(x);
    cg_tensor_free(y);
}

static long minor_faults(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_minflt;
}

static void test_warm_evaluation(void **st) {
    (void)st;
    cg_set_allocator(&counting_allocator);
    cg_manual_seed(2);
    enum { NE = 600, B = 200 };
    cg_tensor *x = test_tensor(4, CG_SHAPE(NE, 1, 12, 12), 0, 1, 3, false);
    int64_t labels[NE];
    for (int i = 0; i < NE; i++) labels[i] = i % 4;
    cg_tensor *y = cg_tensor_from_i64(1, CG_SHAPE(NE), labels);
    cg_dataset *ds;
    assert_int_equal(cg_dataset_from_tensors(x, y, false, &ds), CG_OK);
    cg_module *net = cg_net_from_spec("conv2d(1,16,3,padding=1) batch_norm2d(16) relu "
                                      "residual(conv2d(16,16,3,padding=1) batch_norm2d(16) relu "
                                      "conv2d(16,16,3,padding=1) batch_norm2d(16)) relu "
                                      "max_pool2d(2) flatten linear(576,4)", 3, CG_SHAPE(1, 12, 12), NULL);
    assert_non_null(net);
    cg_run_config c = cg_run_defaults();
    c.batch_size = 32;
    c.test_batch_size = B;
    c.epochs = 3;
    cg_trainer *t = cg_trainer_new_run(net, ds, ds, &c, NULL, NULL);
    assert_non_null(t);
    assert_int_equal(cg_trainer_fit(t, 1), CG_OK);   /* warm: one epoch of steps, one evaluation */
    cg_eval_result r;
    assert_int_equal(cg_trainer_evaluate(t, NULL, &r), CG_OK);
    long allocs = g_allocs, faults = minor_faults();
    assert_int_equal(cg_trainer_evaluate(t, NULL, &r), CG_OK);
    long evaluated_faults = minor_faults() - faults;
    assert_int_equal(g_allocs, allocs);
    /* Handing the activations back would fault each batch's 200 x 16 x 12 x 12 floats (hundreds
     * of pages per layer) anew; a few stray faults (a thread's stack) are not that. Not under a
     * sanitizer: its allocator and shadow memory fault pages of their own. */
#if defined(__SANITIZE_ADDRESS__)
    (void)evaluated_faults;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
    (void)evaluated_faults;
#else
    assert_true(evaluated_faults < 64);
#endif
#else
    assert_true(evaluated_faults < 64);
#endif
    assert_int_equal(r.n, NE);
    cg_trainer_free(t);
    cg_module_free(net);
    cg_dataset_free(ds);
    cg_tensor_free(x);
    cg_tensor_free(y);
    cg_tape_free_all();
    cg_set_allocator(NULL);
}

/* ---- the confusion: counts, the most confused pairs, and memory and output linear in the classes */
static char *print_confusion(const cg_confusion *c, const char *const *names, size_t *len) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    assert_non_null(f);
    cg_confusion_fprint(f, c, names);
    fclose(f);
    return buf;
}

static void test_confusion_counts(void **st) {
    (void)st;
    cg_confusion *c = cg_confusion_new(5);
    assert_non_null(c);
    /* (true, pred): 3 x (1,2), 3 x (4,0), 2 x (0,3), 1 x (2,1), and 4 correct */
    const int64_t pairs[][2] = { { 1, 2 }, { 4, 0 }, { 0, 3 }, { 1, 2 }, { 4, 0 }, { 2, 1 }, { 0, 3 },
                                 { 1, 2 }, { 4, 0 }, { 0, 0 }, { 1, 1 }, { 3, 3 }, { 3, 3 } };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        assert_int_equal(cg_confusion_add(c, pairs[i][0], pairs[i][1]), CG_OK);
    assert_int_equal(cg_confusion_count(c, 1, 2), 3);
    assert_int_equal(cg_confusion_count(c, 2, 1), 1);
    assert_int_equal(cg_confusion_count(c, 3, 3), 2);
    assert_int_equal(cg_confusion_count(c, 2, 4), 0);
    assert_int_equal(cg_confusion_total(c, 1), 4);
    assert_int_equal(cg_confusion_total(c, 4), 3);
    assert_int_equal(cg_confusion_pairs(c), 4);
    /* out of range: refused, nothing counted */
    assert_int_equal(cg_confusion_add(c, 5, 0), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "outside 0..4"));
    assert_int_equal(cg_confusion_add(c, 0, -1), CG_EINVAL);
    assert_int_equal(cg_confusion_total(c, 0), 3);
    /* the top pairs: count descending, ties by true class */
    int64_t t[3], p[3], n[3];
    assert_int_equal(cg_confusion_top_pairs(c, 3, t, p, n), 3);
    assert_int_equal(t[0], 1); assert_int_equal(p[0], 2); assert_int_equal(n[0], 3);
    assert_int_equal(t[1], 4); assert_int_equal(p[1], 0); assert_int_equal(n[1], 3);
    assert_int_equal(t[2], 0); assert_int_equal(p[2], 3); assert_int_equal(n[2], 2);
    /* five classes: the whole matrix */
    size_t len;
    char *out = print_confusion(c, NULL, &len);
    assert_non_null(strstr(out, "  class 1:     1/    4 ( 25.0%)"));
    assert_non_null(strstr(out, "Confusion matrix (rows: true class, columns: predicted):"));
    assert_non_null(strstr(out, "   1:      0     1     3     0     0\n"));
    free(out);
    cg_confusion_reset(c);
    assert_int_equal(cg_confusion_count(c, 1, 2), 0);
    assert_int_equal(cg_confusion_total(c, 1), 0);
    assert_int_equal(cg_confusion_pairs(c), 0);
    cg_confusion_free(c);
    cg_confusion_free(NULL);
    assert_null(cg_confusion_new(0));
}

static void test_confusion_many_classes(void **st) {
    (void)st;
    /* 30 classes: still the whole matrix; 31: the summary */
    for (int64_t k = 30; k <= 31; k++) {
        cg_confusion *c = cg_confusion_new(k);
        assert_int_equal(cg_confusion_add(c, 0, 1), CG_OK);
        size_t len;
        char *out = print_confusion(c, NULL, &len);
        assert_int_equal(strstr(out, "Confusion matrix (rows") != NULL, k == 30);
        assert_int_equal(strstr(out, "Most confused pairs") != NULL, k == 31);
        free(out);
        cg_confusion_free(c);
    }
    /* A net with 20,000 outputs and 64 test images (issue 24: a 20,000^2 matrix is 3.2 GB): no
     * allocation above 1 MiB, and a summary of a few kilobytes. */
    enum { KBIG = 20000, NIMG = 64 };
    g_largest = 0;
    cg_set_allocator(&largest_allocator);
    cg_confusion *c = cg_confusion_new(KBIG);
    assert_non_null(c);
    for (int64_t i = 0; i < NIMG; i++)   /* image i: true class 7i, predicted 7i + (i % 4 ? 1 : 0) */
        assert_int_equal(cg_confusion_add(c, 7 * i, 7 * i + (i % 4 ? 1 : 0)), CG_OK);
    for (int64_t i = 0; i < 5; i++) assert_int_equal(cg_confusion_add(c, 19999, 5), CG_OK);   /* the top pair */
    cg_set_allocator(NULL);
    assert_true(g_largest < (1u << 20));
    assert_int_equal(cg_confusion_pairs(c), 49);
    size_t len;
    char *out = print_confusion(c, NULL, &len);
    assert_true(len < 8192);
    assert_non_null(strstr(out, "Per-class accuracy (the 65 classes with test examples; 19935 of 20000 have none):"));
    assert_non_null(strstr(out, "  class 28:     1/    1 (100.0%)"));
    assert_non_null(strstr(out, "Most confused pairs (true -> predicted; 10 of 49 distinct pairs):\n"
                                "  class 19999 -> class 5: 5 (100.0% of class 19999)\n"
                                "  class 7 -> class 8: 1 (100.0% of class 7)\n"));
    assert_non_null(strstr(out, "Confusion matrix: not printed for 20000 classes (more than 30)"));
    assert_null(strstr(out, "Confusion matrix (rows"));
    free(out);
    cg_confusion_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluate_and_predict),
        cmocka_unit_test(test_warm_evaluation),
        cmocka_unit_test(test_confusion_counts),
        cmocka_unit_test(test_confusion_many_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
