/* SPDX-License-Identifier: MIT */
/* tests/test_threads.c — the thread contract (include/cgrad/base.h, docs/design.md), on pthreads:
 *   - cg_set_num_threads is process-wide: a pthread sees the count the main thread set;
 *   - the RNG is one atomic counter: threads drawing at once never lose or share a draw;
 *   - a thread that exits without cg_tape_free_all() leaks nothing (pthread key destructors
 *     free its tape pool and scratch arena), and cg_tape_free_all frees the arena too;
 *   - the switches (cgrad/config.h) may change on one thread while convs run on others: no data
 *     race (ThreadSanitizer), and every result is what some setting gives;
 *   - cg_backward on another thread's loss, or after cg_tape_release(), is an error (CG_ESTATE);
 *   - two models on two threads train to the same result as on one.
 *   - pthreads whose ops are big enough to start OpenMP teams of their own compute what one
 *     thread computes (teams inside pthreads, the shape of a caller's serving threads).
 * scripts/test also runs this file, and the rest of the unit suite, under ThreadSanitizer
 * (build-tsan/, -DCGRAD_TSAN=ON) with teams of 2; tests/tsan/omp_race.c shows that stage sees a
 * race inside an OpenMP region. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"

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
    cg_set_num_threads(2);  /* the rest of this program: teams of 2 where an op is big enough */
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
    CHECK(cg_tape_scratch_bytes() > 0);
    CHECK(cg_tape_pool_bytes() > 0);
    cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(l);
    return NULL;
}

void *cg_scratch_borrow(size_t bytes);  /* lib/cg_internal.h: the arena in lib/core, below the tape */
/* A thread that borrowed scratch and never touched the tape: the arena's own key frees it. */
static void *borrow_and_exit(void *unused) {
    (void)unused;
    CHECK(cg_scratch_borrow(1 << 16) != NULL);
    CHECK(cg_tape_scratch_bytes() == 1 << 16);
    return NULL;
}

static void test_thread_exit_frees_tape(void **s) {
    (void)s;
    cg_tape_free_all();  /* the main thread holds nothing either */
    cg_set_allocator(&(cg_allocator){ count_alloc, count_free, NULL });
    atomic_store(&live_blocks, 0);
    run_threads(4, train_and_exit, NULL);
    run_threads(2, borrow_and_exit, NULL);
    long left = atomic_load(&live_blocks);
    cg_set_allocator(NULL);
    assert_int_equal(left, 0);
}

static void test_free_all_frees_scratch(void **s) {
    (void)s;
    cg_tensor *x = test_tensor(4, CG_SHAPE(1, 2, 6, 6), -1, 1, 4, true);
    cg_tensor *w = test_tensor(4, CG_SHAPE(3, 2, 3, 3), -1, 1, 5, true);
    cg_conv2d_params p = cg_conv2d_defaults();
    assert_int_equal(cg_backward(cg_sum(cg_conv2d(x, w, NULL, &p))), CG_OK);
    assert_true(cg_tape_scratch_bytes() > 0);
    cg_tape_free_all();
    assert_int_equal(cg_tape_scratch_bytes(), 0);
    assert_int_equal(cg_tape_pool_bytes(), 0);
    cg_tensor_free(x); cg_tensor_free(w);
}

/* ---- the switches change while convs run ------------------------------------------------ */
/* Workers run conv2d (3x3 padded, 4 channels: Winograd in AUTO, im2col's padded loop otherwise),
 * conv_transpose2d and a Sequential Conv2d + ReLU, forward and backward, while another thread
 * flips every switch. Each op reads the switches once at entry, so every result is that of one
 * setting: within float rounding of the reference (Winograd and the forward's row blocks round
 * differently; conv_transpose2d has neither and stays bit-equal). ThreadSanitizer sees any plain
 * read of a switch. */
static atomic_bool switches_stop;
static void *flip_switches(void *unused) {
    (void)unused;
    for (int i = 0; !atomic_load(&switches_stop); i++) {
        CHECK(cg_config_set(CG_CONFIG_CONV_WINOGRAD, i % 3) == CG_OK);
        CHECK(cg_config_set(CG_CONFIG_CONV_DENSE, i % 2) == CG_OK);
        CHECK(cg_config_set(CG_CONFIG_CONV_DEPTHWISE, i % 3) == CG_OK);
        CHECK(cg_config_set(CG_CONFIG_CONV_SCHEDULE, (i / 2) % 3) == CG_OK);
        CHECK(cg_config_set(CG_CONFIG_CONV_BLOCK_BYTES, i % 4 ? 256 : CG_CONV_BLOCK_BYTES_DEFAULT) == CG_OK);
        CHECK(cg_config_set(CG_CONFIG_FUSION, (i / 3) % 2) == CG_OK);
    }
    return NULL;
}

typedef struct { float y[2 * 4 * 6 * 6], gw[4 * 4 * 9], yt[2 * 3 * 8 * 8], ys[2 * 4 * 6 * 6]; } conv_result;
static void conv_once(conv_result *r) {
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 4, 6, 6), -1, 1, 21, false);
    cg_tensor *w = test_tensor(4, CG_SHAPE(4, 4, 3, 3), -1, 1, 22, true);
    cg_tensor *wt = test_tensor(4, CG_SHAPE(4, 3, 3, 3), -1, 1, 23, true);
    cg_conv2d_params p = cg_conv2d_defaults();
    p.padding[0] = p.padding[1] = 1;
    cg_conv_transpose2d_params pt = cg_conv_transpose2d_defaults();
    cg_tensor *y = cg_conv2d(x, w, NULL, &p);
    cg_tensor *yt = cg_conv_transpose2d(x, wt, NULL, &pt);
    CHECK(y && yt && cg_backward(cg_add(cg_sum(cg_mul(y, y)), cg_sum(yt))) == CG_OK);
    if (y && yt && cg_tensor_grad(w)) {
        memcpy(r->y, cg_tensor_cdata(y), sizeof r->y);
        memcpy(r->yt, cg_tensor_cdata(yt), sizeof r->yt);
        memcpy(r->gw, cg_tensor_cdata(cg_tensor_grad(w)), sizeof r->gw);
    }
    cg_tape_release();
    cg_tensor_free(x); cg_tensor_free(w); cg_tensor_free(wt);
}

typedef struct { const conv_result *ref; cg_module *net; const cg_tensor *xs; } conv_job;  /* a net per thread */
static void *convs_while_flipping(void *arg) {
    const conv_job *j = arg;
    for (int it = 0; it < 40; it++) {
        conv_result r;
        memset(&r, 0, sizeof r);
        conv_once(&r);
        for (size_t i = 0; i < sizeof r.y / sizeof r.y[0]; i++)
            CHECK(fabsf(r.y[i] - j->ref->y[i]) <= 1e-5f * (1.0f + fabsf(j->ref->y[i])));
        for (size_t i = 0; i < sizeof r.gw / sizeof r.gw[0]; i++)
            CHECK(fabsf(r.gw[i] - j->ref->gw[i]) <= 1e-4f * (1.0f + fabsf(j->ref->gw[i])));
        CHECK(!memcmp(r.yt, j->ref->yt, sizeof r.yt));  /* conv_transpose2d: no Winograd, bit-equal */
        cg_tensor *ys = cg_module_forward(j->net, (cg_tensor *)j->xs);
        CHECK(ys && cg_backward(cg_sum(ys)) == CG_OK);
        if (ys)
            for (size_t i = 0; i < sizeof r.ys / sizeof r.ys[0]; i++)
                CHECK(fabsf(cg_tensor_cdata(ys)[i] - j->ref->ys[i]) <= 1e-5f * (1.0f + fabsf(j->ref->ys[i])));
        cg_tape_release();
    }
    return NULL;
}

static cg_module *conv_relu_net(void) {
    cg_manual_seed(4);
    cg_conv2d_params p = cg_conv2d_defaults();
    p.padding[0] = p.padding[1] = 1;
    cg_module *net = cg_sequential_new();
    assert_non_null(cg_sequential_append(net, NULL, cg_conv2d_new(4, 4, 3, &p, true)));
    assert_non_null(cg_sequential_append(net, NULL, cg_relu_new()));
    return net;
}

static void test_switches_change_while_convs_run(void **s) {
    (void)s;
    cg_config_reset();
    static conv_result ref;
    cg_tensor *xs = test_tensor(4, CG_SHAPE(2, 4, 6, 6), -1, 1, 24, false);
    conv_job job[2] = { { &ref, conv_relu_net(), xs }, { &ref, conv_relu_net(), xs } };
    conv_once(&ref);
    cg_tensor *ys = cg_module_forward(job[0].net, xs);
    assert_non_null(ys);
    memcpy(ref.ys, cg_tensor_cdata(ys), sizeof ref.ys);
    cg_tape_release();
    atomic_store(&switches_stop, false);
    atomic_store(&thread_failures, 0);
    pthread_t flipper, workers[2];
    assert_int_equal(pthread_create(&flipper, NULL, flip_switches, NULL), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&workers[i], NULL, convs_while_flipping, &job[i]), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(workers[i], NULL), 0);
    atomic_store(&switches_stop, true);
    assert_int_equal(pthread_join(flipper, NULL), 0);
    assert_int_equal(atomic_load(&thread_failures), 0);
    cg_config_reset();
    assert_int_equal(cg_config_get(CG_CONFIG_CONV_WINOGRAD), CG_WINOGRAD_AUTO);
    cg_tensor_free(xs);
    for (int i = 0; i < 2; i++) cg_module_free(job[i].net);
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

/* ---- OpenMP teams inside pthreads ------------------------------------------------------ */
/* Each op here has at least CG_OMP_MIN (65536) elements, so every pthread starts a team of 2:
 * under ThreadSanitizer this is the case where a race inside a kernel's parallel loop shows. */
enum { TEAM_N = 1 << 17 };
typedef struct { double sum; float g[16]; } team_result;
static void *team_work(void *out) {
    team_result *r = out;
    cg_tensor *x = test_tensor(2, CG_SHAPE(TEAM_N / 16, 16), -1, 1, 31, true);
    cg_tensor *b = test_tensor(1, CG_SHAPE(16), -1, 1, 32, true);
    cg_tensor *y = cg_mean(cg_relu(cg_mul(cg_add(x, b), x)));
    CHECK(y && cg_backward(y) == CG_OK);
    if (y && cg_tensor_grad(b)) {
        r->sum = cg_tensor_item(y);
        memcpy(r->g, cg_tensor_cdata(cg_tensor_grad(b)), sizeof r->g);
    }
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(b);
    return NULL;
}

static void test_teams_inside_pthreads(void **s) {
    (void)s;
    assert_int_equal(cg_get_num_threads(), 2);
    team_result ref = { 0 }, r[3];
    memset(r, 0, sizeof r);
    team_work(&ref);
    assert_true(ref.sum > 0);
    run_threads(3, team_work, (void *[]){ &r[0], &r[1], &r[2] });
    for (int i = 0; i < 3; i++) {
        assert_memory_equal(&r[i].sum, &ref.sum, sizeof ref.sum);
        assert_memory_equal(r[i].g, ref.g, sizeof ref.g);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_num_threads_is_process_wide),
        cmocka_unit_test(test_rng_reserve_is_atomic),
        cmocka_unit_test(test_thread_exit_frees_tape),
        cmocka_unit_test(test_free_all_frees_scratch),
        cmocka_unit_test(test_switches_change_while_convs_run),
        cmocka_unit_test(test_backward_needs_the_recording_tape),
        cmocka_unit_test(test_two_models_two_threads),
        cmocka_unit_test(test_teams_inside_pthreads),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
