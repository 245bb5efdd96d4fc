/* SPDX-License-Identifier: MIT */
/* apps/common/dp.c — data parallelism for the programs (see dp.h): cgrad_dist under mpirun,
 * one rank otherwise. Compiled into library cgrad_apps_dp, which links cgrad_dist (and so gets
 * CGRAD_WITH_MPI) when MPI is built; apps/common's other files never touch MPI.
 *
 * Dropout masks under K ranks: rank r draws from stream r of --seed (cg_rng_fork), from the offset
 * the initialisation left; stream 0 is the default stream that initialised the net, so one
 * process draws what it always did (the program sets this up). A checkpoint holds only global
 * state, so --resume works under any rank count. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "dp.h"
#ifdef CGRAD_WITH_MPI
#include <cgrad/dist.h>
#endif

#ifdef CGRAD_WITH_MPI
/* MPI starts only under a launcher (cli_under_mpi_launcher): a plain run stays a single process
 * that never loads Open MPI (faster start; no MPI runtime state at exit). */
static bool dp_active;
int dp_rank(void) { return dp_active ? cg_dist_rank() : 0; }
int dp_size(void) { return dp_active ? cg_dist_size() : 1; }
void dp_init(const char *prog, int *argc, char ***argv) {
    if (!cli_under_mpi_launcher()) return;
    if (cg_dist_init(argc, argv) != CG_OK) {
        fprintf(stderr, "%s: %s\n", prog, cg_last_error());
        exit(1);
    }
    dp_active = true;
    if (cg_dist_rank() != 0 && !freopen("/dev/null", "w", stdout)) exit(1);
}
cg_status dp_sync_model(cg_module *m) { return dp_active ? cg_dist_broadcast_module(m, 0) : CG_OK; }
const cg_comm *dp_comm(void) { return dp_active ? cg_dist_comm() : NULL; }
/* Every rank checks the same values, so every rank learns of a disagreement and all stop
 * together (no abort); rank 0 prints it. */
static bool dp_all_stopped;
cg_status dp_agree(const char *const *names, const int64_t *v, int n) {
    if (!dp_active) return CG_OK;
    cg_status st = cg_dist_agree(names, v, n);
    if (st == CG_EINVAL) dp_all_stopped = true;
    return st;
}
void dp_finalize(int rc) {
    if (!dp_active) return;
    if (rc != 0 && cg_dist_size() > 1 && !dp_all_stopped) cg_dist_abort(rc);
    cg_dist_finalize();
}
#else
int dp_rank(void) { return 0; }
int dp_size(void) { return 1; }
void dp_init(const char *prog, int *argc, char ***argv) { (void)prog; (void)argc; (void)argv; }
cg_status dp_sync_model(cg_module *m) { (void)m; return CG_OK; }
const cg_comm *dp_comm(void) { return NULL; }
void dp_finalize(int rc) { (void)rc; }
cg_status dp_agree(const char *const *names, const int64_t *v, int n) { (void)names; (void)v; (void)n; return CG_OK; }
#endif

/* FNV-1a over n bytes, folded into h: the data checksum the ranks compare. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}
/* Over every example's values and label; 0 when a float example cannot be read. */
static int64_t set_checksum(const cg_dataset *s) {
    uint64_t h = 0xCBF29CE484222325ull;
    int64_t item = cg_dataset_item(s);
    float *buf = s->u8 ? NULL : malloc((size_t)item * sizeof *buf);
    if (!s->u8 && !buf) return 0;
    for (int64_t i = 0; i < s->n; i++) {
        if (s->u8) h = fnv1a(h, s->u8(s, i), (size_t)item);
        else if (s->get(s, i, buf) == CG_OK) h = fnv1a(h, buf, (size_t)item * sizeof *buf);
        int64_t y = s->label(s, i);
        h = fnv1a(h, &y, sizeof y);
    }
    free(buf);
    int64_t v;
    memcpy(&v, &h, sizeof v);
    return v;
}
static int64_t opt_hash(const cg_run_config *c) {
    char sched[256];
    cg_run_format_schedule(c, sched, sizeof sched);
    const char *opt = cg_optim_kind_name(c->optimizer), *loss = cg_loss_name(c->loss);
    uint64_t h = fnv1a(0xCBF29CE484222325ull, opt, strlen(opt));
    h = fnv1a(h, sched, strlen(sched));
    h = fnv1a(h, &c->warmup, sizeof c->warmup);
    h = fnv1a(h, &c->weight_decay, sizeof c->weight_decay);
    h = fnv1a(h, &c->clip_grad_norm, sizeof c->clip_grad_norm);
    h = fnv1a(h, &c->no_decay_bias_norm, sizeof c->no_decay_bias_norm);
    h = fnv1a(h, loss, strlen(loss));
    return (int64_t)h;
}
static int64_t bits_of(double x) {
    int64_t v;
    memcpy(&v, &x, sizeof v);
    return v;
}

cg_status dp_check_agreement(const cg_run_config *c, bool no_dropout, const char *spec, const cg_dataset *train,
                             const cg_dataset *test, int64_t start_epoch, const cg_optimizer *opt) {
    if (dp_size() == 1) return CG_OK;
    static const char *const names[] = {
        "the training set size (--data)", "the test set size (--data)", "the image channels (--data)",
        "the image height (--data)", "the image width (--data)", "--normalize", "--epochs", "--batch-size", "--test-batch-size",
        "--seed (the checkpoint's, with --resume)", "the resume epoch (--resume)", "the resume step (--resume)",
        "the learning rate (--lr, or the checkpoint's)", "--momentum", "--gamma", "--no-dropout",
        "--optimizer, --schedule, --warmup, --weight-decay, --no-decay-bias-norm, --clip-grad-norm, --loss (a hash)",
        "--net (a hash of the spec)", "the training data (a checksum of --data)", "the test data (a checksum of --data)",
    };
    char norm[CG_NORM_MAX_CHANNELS * 40 + 8];
    cg_normalize_format(&c->norm, norm, sizeof norm);
    int64_t v[] = {
        train->n, test->n, train->shape[0], train->shape[1], train->shape[2],
        (int64_t)fnv1a(0xCBF29CE484222325ull, norm, strlen(norm)), c->epochs, c->batch_size,
        c->test_batch_size, (int64_t)c->seed, start_epoch, opt->step_count, bits_of(opt->lr), bits_of(c->momentum),
        bits_of(c->gamma), no_dropout, opt_hash(c), (int64_t)fnv1a(0xCBF29CE484222325ull, spec, strlen(spec)),
        set_checksum(train), set_checksum(test),
    };
    return dp_agree(names, v, (int)(sizeof v / sizeof v[0]));
}

void dp_test_fault(const char *prog, int64_t steps) {
    static long long k = -2;
    if (k == -2) { const char *e = getenv("CGRAD_TEST_RANK1_EXIT_AFTER"); k = e ? atoll(e) : -1; }
    if (k >= 0 && dp_rank() == 1 && steps >= k) {
        fprintf(stderr, "%s: rank 1: exiting after %lld steps (CGRAD_TEST_RANK1_EXIT_AFTER)\n", prog, (long long)steps);
        exit(3);
    }
}
