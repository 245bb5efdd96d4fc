/* SPDX-License-Identifier: MIT */
/* tests/test_train_eval.c — cg_evaluate (loss, argmax accuracy, confusion matrix; mode restored)
 * and prediction: cg_predict_one on one unbatched example from a float buffer, normalised as the
 * loader normalises, gives the row the loader's batch gives; a warm evaluation of a residual
 * conv net at batch 200, after training steps at another batch size, allocates nothing and
 * touches no new pages (its activations stay in the tape's pool between batches). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
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

    int64_t conf[K * K];
    cg_eval_result r;
    assert_true(net->training);
    assert_int_equal(cg_evaluate(net, l, CG_LOSS_AUTO, K, conf, &r), CG_OK);
    assert_true(net->training);  /* the mode is restored */
    assert_int_equal(r.n, N);
    int64_t total = 0, diag = 0;
    for (int i = 0; i < K * K; i++) total += conf[i];
    for (int i = 0; i < K; i++) diag += conf[i * K + i];
    assert_int_equal(total, N);
    assert_int_equal(diag, r.correct);

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
    assert_int_equal(cg_evaluate(net, NULL, CG_LOSS_AUTO, K, NULL, &r), CG_EINVAL);

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
    assert_int_equal(cg_trainer_evaluate(t, 4, NULL, &r), CG_OK);
    long allocs = g_allocs, faults = minor_faults();
    assert_int_equal(cg_trainer_evaluate(t, 4, NULL, &r), CG_OK);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluate_and_predict),
        cmocka_unit_test(test_warm_evaluation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
