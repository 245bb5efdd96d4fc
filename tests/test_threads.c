/* SPDX-License-Identifier: MIT */
/* tests/test_threads.c — the thread contract (include/cgrad/base.h, docs/design.md), on pthreads:
 *   - cg_set_num_threads is process-wide: a pthread sees the count the main thread set;
 *   - the RNG is one atomic counter: threads drawing at once never lose or share a draw;
 *   - a thread that exits without cg_tape_free_all() leaks nothing (a pthread key destructor
 *     frees its tape pool and conv2d workspace), and cg_tape_free_all frees the workspace too;
 *   - cg_backward on another thread's loss, or after cg_tape_release(), is an error (CG_ESTATE);
 *   - two models on two threads train to the same result as on one.
 * scripts/test also runs this file under ThreadSanitizer (build-tsan/). After the first test the
 * process runs with one OpenMP thread, so no OpenMP team is formed: libomp's own synchronisation
 * is not instrumented, and what is under test here is cgrad's state across pthreads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"
#include "../lib/ops/im2col.h"

/* cmocka's asserts longjmp: only on the test's own thread. Other threads count failures. */
static atomic_int thread_failures;
#define CHECK(c) do { if (!(c)) { atomic_fetch_add(&thread_failures, 1); \
    fprintf(stderr, "%s:%d: failed on a pthread: %s (%s)\n", __FILE__, __LINE__, #c, cg_last_error()); } } while (0)

typedef void *(*thread_fn)(void *);
static void run_threads(int n, thread_fn f, void **args) {
    pthread_t t[8];
    assert_true(n <= 8);
    atomic_store(&thread_failures, 0);
    for (int i = 0; i < n; i++) assert_int_equal(pthread_create(&t[i], NULL, f, args ? args[i] : NULL), 0);
    for (int i = 0; i < n; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(atomic_load(&thread_failures), 0);
}

/* ---- the thread count is process-wide -------------------------------------------------- */
static void *report_threads(void *out) {
    int *r = out;
    r[0] = cg_get_num_threads();
    cg_tensor *x = cg_tensor_zeros(1, CG_SHAPE(4));  /* an entry point: syncs as well */
    cg_tensor_free(x);
    r[1] = cg_get_num_threads();
    return NULL;
}

static void test_num_threads_is_process_wide(void **s) {
    (void)s;
    int before = cg_get_num_threads();   /* OMP_NUM_THREADS=2 under ctest */
    int want = before == 1 ? 2 : 1;
    int r[2] = { 0, 0 };
    cg_set_num_threads(want);
    assert_int_equal(cg_get_num_threads(), want);
    run_threads(1, report_threads, (void *[]){ r });
    assert_int_equal(r[0], want);
    assert_int_equal(r[1], want);
    cg_set_num_threads(1);  /* the rest of this program: no OpenMP teams (see the header) */
}

/* ---- the RNG counter is atomic ---------------------------------------------------------- */
#define DRAWS 20000
static void *draw_many(void *unused) {
    (void)unused;
    for (int i = 0; i < DRAWS; i++) cg_tensor_free(cg_tensor_uniform(1, CG_SHAPE(3), 0, 1, NULL));
    return NULL;
}

uint64_t cg_rng_reserve(uint64_t n);  /* lib/cg_internal.h: what every random op calls */
#define RESERVES 1000000
static void *reserve_many(void *unused) {
    (void)unused;
    for (int i = 0; i < RESERVES; i++) cg_rng_reserve(1);
    return NULL;
}

static void test_rng_reserve_is_atomic(void **s) {
    (void)s;
    cg_manual_seed(1);
    run_threads(4, draw_many, NULL);
    assert_int_equal(cg_rng_get_state().offset, 4 * DRAWS * 3);  /* no reservation lost */
    cg_manual_seed(1);
    run_threads(4, reserve_many, NULL);  /* a tight loop: a plain += loses updates at once */
    assert_int_equal(cg_rng_get_state().offset, 4 * RESERVES);
}

/* ---- a thread's tape and workspace are freed when it exits ------------------------------ */
static atomic_long live_blocks;
static void *count_alloc(size_t n, void *ctx) {
    (void)ctx;
    void *p = malloc(n);
    if (p) atomic_fetch_add(&live_blocks, 1);
    return p;
}
static void count_free(void *p, void *ctx) {
    (void)ctx;
    if (p) atomic_fetch_sub(&live_blocks, 1);
    free(p);
}

/* A conv2d (im2col: the workspace) + linear graph, forward and backward, then exit without
 * cg_tape_free_all(). Every leaf is freed here; only the tape and the workspace remain. */
static void *train_and_exit(void *unused) {
    (void)unused;
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 2, 6, 6), -1, 1, 1, false);
    cg_tensor *w = test_tensor(4, CG_SHAPE(3, 2, 3, 3), -1, 1, 2, true);
    cg_tensor *l = test_tensor(2, CG_SHAPE(4, 48), -1, 1, 3, true);
    cg_conv2d_params p = cg_conv2d_defaults();
    cg_tensor *y = cg_linear(cg_flatten(cg_relu(cg_conv2d(x, w, NULL, &p)), 1, -1), l, NULL);
    CHECK(cg_backward(cg_sum(y)) == CG_OK);
    CHECK(cg_conv2d_workspace_bytes() > 0);
    CHECK(cg_tape_pool_bytes() > 0);
    cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(l);
    return NULL;
}

static void test_thread_exit_frees_tape(void **s) {
    (void)s;
    cg_tape_free_all();  /* the main thread holds nothing either */
    cg_set_allocator(&(cg_allocator){ count_alloc, count_free, NULL });
    atomic_store(&live_blocks, 0);
    run_threads(4, train_and_exit, NULL);
    long left = atomic_load(&live_blocks);
    cg_set_allocator(NULL);
    assert_int_equal(left, 0);
}

static void test_free_all_frees_conv_workspace(void **s) {
    (void)s;
    cg_tensor *x = test_tensor(4, CG_SHAPE(1, 2, 6, 6), -1, 1, 4, true);
    cg_tensor *w = test_tensor(4, CG_SHAPE(3, 2, 3, 3), -1, 1, 5, true);
    cg_conv2d_params p = cg_conv2d_defaults();
    assert_int_equal(cg_backward(cg_sum(cg_conv2d(x, w, NULL, &p))), CG_OK);
    assert_true(cg_conv2d_workspace_bytes() > 0);
    cg_tape_free_all();
    assert_int_equal(cg_conv2d_workspace_bytes(), 0);
    assert_int_equal(cg_tape_pool_bytes(), 0);
    cg_tensor_free(x); cg_tensor_free(w);
}

/* ---- backward on the wrong thread, or after release ------------------------------------ */
typedef struct { cg_tensor *loss; cg_status st; char msg[512]; } far_backward;
static void *backward_elsewhere(void *arg) {
    far_backward *f = arg;
    f->st = cg_backward(f->loss);
    snprintf(f->msg, sizeof f->msg, "%s", cg_last_error());
    return NULL;
}

static void test_backward_needs_the_recording_tape(void **s) {
    (void)s;
    cg_tensor *x = test_tensor(1, CG_SHAPE(5), -1, 1, 6, true);
    far_backward f = { .loss = cg_sum(cg_mul(x, x)) };
    assert_non_null(f.loss);
    run_threads(1, backward_elsewhere, (void *[]){ &f });
    assert_int_equal(f.st, CG_ESTATE);
    if (!strstr(f.msg, "another thread")) fail_msg("message: %s", f.msg);
    assert_null(cg_tensor_grad(x));   /* nothing was computed */
    assert_int_equal(cg_backward(f.loss), CG_OK);  /* the recording thread still can */
    assert_non_null(cg_tensor_grad(x));
    cg_tensor_zero_grad(x);
    cg_tape_release();
    assert_int_equal(cg_backward(f.loss), CG_ESTATE);
    if (!strstr(cg_last_error(), "cg_tape_release")) fail_msg("message: %s", cg_last_error());
    for (int i = 0; i < 5; i++) assert_float_equal(cg_tensor_cdata(cg_tensor_grad(x))[i], 0, 0);
    cg_tensor_free(x);
}

/* ---- two models on two threads ---------------------------------------------------------- */
typedef struct { cg_tensor *w1, *w2; float loss; } model;
static void *train_model(void *arg) {
    model *m = arg;
    cg_tensor *x = test_tensor(2, CG_SHAPE(8, 6), -1, 1, 7, false);
    for (int step = 0; step < 20; step++) {
        cg_tensor *h = cg_tanh(cg_matmul(x, m->w1));
        cg_tensor *loss = cg_mean(cg_mul(cg_matmul(h, m->w2), cg_matmul(h, m->w2)));
        CHECK(loss != NULL);
        if (!loss) break;
        m->loss = cg_tensor_item(loss);
        CHECK(cg_backward(loss) == CG_OK);
        bool prev = cg_set_grad_enabled(false);
        CHECK(cg_tensor_axpy_(m->w1, -0.1f, cg_tensor_grad(m->w1)) == CG_OK);
        CHECK(cg_tensor_axpy_(m->w2, -0.1f, cg_tensor_grad(m->w2)) == CG_OK);
        cg_tensor_zero_grad(m->w1);
        cg_tensor_zero_grad(m->w2);
        cg_set_grad_enabled(prev);
        cg_tape_release();
    }
    cg_tensor_free(x);
    return NULL;
}

static void test_two_models_two_threads(void **s) {
    (void)s;
    model m[3];
    for (int i = 0; i < 3; i++)
        m[i] = (model){ test_tensor(2, CG_SHAPE(6, 5), -1, 1, 8, true), test_tensor(2, CG_SHAPE(5, 3), -1, 1, 9, true), 0 };
    train_model(&m[0]);   /* the reference, on this thread */
    run_threads(2, train_model, (void *[]){ &m[1], &m[2] });
    for (int i = 1; i < 3; i++) {
        assert_memory_equal(&m[i].loss, &m[0].loss, sizeof(float));
        assert_memory_equal(cg_tensor_cdata(m[i].w1), cg_tensor_cdata(m[0].w1), 30 * sizeof(float));
        assert_memory_equal(cg_tensor_cdata(m[i].w2), cg_tensor_cdata(m[0].w2), 15 * sizeof(float));
    }
    for (int i = 0; i < 3; i++) { cg_tensor_free(m[i].w1); cg_tensor_free(m[i].w2); }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_num_threads_is_process_wide),
        cmocka_unit_test(test_rng_reserve_is_atomic),
        cmocka_unit_test(test_thread_exit_frees_tape),
        cmocka_unit_test(test_free_all_frees_conv_workspace),
        cmocka_unit_test(test_backward_needs_the_recording_tape),
        cmocka_unit_test(test_two_models_two_threads),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
