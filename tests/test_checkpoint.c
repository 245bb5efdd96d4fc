/* SPDX-License-Identifier: MIT */
/* tests/test_checkpoint.c — cg_checkpoint_save / cg_checkpoint_restore on the seed network with
 * SGD momentum: a bit-exact round trip (weights, momentum buffers, step count, lr); restores that
 * must fail (wrong shape, missing tensor, truncated file, optimizer state from a weights-only
 * file) and leave the model and optimizer unchanged; an atomic save that fails and leaves the
 * previous file intact; and resume equivalence: 2 epochs straight vs 1 epoch + save + fresh
 * model/optimizer + restore (+ RNG state) + 1 epoch give bit-identical weights, dropout on. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cgrad/cgrad.h"
#include "cgrad/checkpoint.h"
#include "cgrad/data.h"
#include "nets.h"
#include "batch.h"

/* ---- a temporary directory per test --------------------------------------- */
static char g_dir[64];
static int setup(void **s) {
    (void)s;
    strcpy(g_dir, "/tmp/cg_test_ckpt_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}
static int teardown(void **s) {
    (void)s;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}
static const char *path_in(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", g_dir, name);
    return buf;
}

/* ---- a tiny synthetic set: label k is a bright vertical bar at column 3 + 2k -------------- */
#define NIMG 32
static uint8_t g_pix[NIMG * 28 * 28];
static int64_t g_lab[NIMG];
static void tiny_set(void) {
    uint64_t r = 12345;
    for (int i = 0; i < NIMG; i++) {
        int k = (i * 7) % 10;
        g_lab[i] = k;
        for (int p = 0; p < 28 * 28; p++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            int col = p % 28, row = p / 28;
            bool bar = (col == 3 + 2 * k || col == 4 + 2 * k) && row >= 4 && row < 24;
            g_pix[i * 784 + p] = (uint8_t)(bar ? 200 + (r >> 59) : (r >> 58));
        }
    }
}

/* A dataset over the tiny set ([1, 28, 28] bytes each), made once: loaders borrow it, so it lives
 * to the end. */
static cg_dataset *tiny_ds(void) {
    static cg_dataset *ds;
    if (!ds) {
        tiny_set();
        cg_tensor *x = cg_tensor_wrap_data(CG_U8, g_pix, 4, CG_SHAPE(NIMG, 1, 28, 28));
        cg_tensor *y = cg_tensor_wrap_data(CG_I64, g_lab, 1, CG_SHAPE(NIMG));
        assert_int_equal(cg_dataset_from_tensors(x, y, true, &ds), CG_OK);
        cg_tensor_free(x);
        cg_tensor_free(y);
    }
    return ds;
}

/* The MNIST statistics, as mnist-train normalises. */
static const cg_normalize k_mnist_norm = { .channels = 1, .mean = { 0.1307f }, .std = { 0.3081f } };

/* The tiny set in order, 4 images a batch. */
static cg_loader *ordered_loader(void) {
    cg_loader_options lo = cg_loader_defaults();
    lo.batch_size = 4;
    lo.shuffle = false;
    lo.norm = k_mnist_norm;
    cg_loader *l = cg_loader_new(tiny_ds(), &lo);
    assert_non_null(l);
    return l;
}

/* ---- model, optimizer, snapshots ----------------------------------------- */
typedef struct run { cg_module *m; cg_optimizer *o; } run;

static run make_run(uint64_t seed, float lr) {
    cg_manual_seed(seed);
    run r = { test_seed_net(), NULL };
    assert_non_null(r.m);
    cg_named_list pl;
    assert_int_equal(cg_module_parameters(r.m, &pl), CG_OK);
    cg_tensor **ps = malloc((size_t)pl.n * sizeof *ps);
    assert_non_null(ps);
    for (int64_t i = 0; i < pl.n; i++) ps[i] = pl.items[i].tensor;
    r.o = cg_sgd_new(ps, pl.n, (cg_sgd_options){ .lr = lr, .momentum = 0.9f });
    assert_non_null(r.o);
    free(ps);
    cg_named_list_free(&pl);
    return r;
}
static void free_run(run *r) {
    cg_optim_free(r->o);
    cg_module_free(r->m);
    *r = (run){ 0 };
}

/* One training step on a batch (dropout on). */
static void train_step(run *r, cg_tensor *x, cg_tensor *y) {
    cg_module_train(r->m, true);
    cg_optim_zero_grad(r->o);
    cg_tensor *loss = cg_nll_loss(cg_module_forward(r->m, x), y, CG_REDUCTION_MEAN);
    assert_non_null(loss);
    assert_int_equal(cg_backward(loss), CG_OK);
    assert_int_equal(cg_optim_step(r->o), CG_OK);
    cg_tape_release();
}

static void train_epoch(run *r, cg_loader *l, int64_t epoch) {
    assert_int_equal(cg_loader_set_epoch(l, epoch), CG_OK);
    cg_tensor *x;
    cg_tensor *y;
    while (next_batch(l, &x, &y)) train_step(r, x, y);
}

/* A byte copy of every state-dict tensor and every optimizer state tensor, in order. */
typedef struct snapshot { char *bytes; size_t n; int64_t steps; float lr; } snapshot;
static size_t add_bytes(char **buf, size_t n, const cg_tensor *t) {
    size_t k = 4 * (size_t)cg_tensor_numel(t);
    *buf = realloc(*buf, n + k + 1);
    assert_non_null(*buf);
    memcpy(*buf + n, cg_tensor_cdata(t), k);
    return n + k;
}
/* How many state buffers o holds. */
static int64_t n_state(const cg_optimizer *o) {
    cg_named_list l;
    assert_int_equal(cg_optim_state_dict(o, &l), CG_OK);
    int64_t n = l.n;
    cg_named_list_free(&l);
    return n;
}

static snapshot snap(const run *r) {
    snapshot s = { NULL, 0, r->o ? r->o->step_count : -1, r->o ? r->o->lr : -1 };
    cg_named_list sd;
    assert_int_equal(cg_module_state_dict(r->m, &sd), CG_OK);
    for (int64_t i = 0; i < sd.n; i++) s.n = add_bytes(&s.bytes, s.n, sd.items[i].tensor);
    cg_named_list_free(&sd);
    if (r->o) {
        cg_named_list os;
        assert_int_equal(cg_optim_state_dict(r->o, &os), CG_OK);
        for (int64_t i = 0; i < os.n; i++) s.n = add_bytes(&s.bytes, s.n, os.items[i].tensor);
        cg_named_list_free(&os);
    }
    return s;
}
static bool snap_equal(const snapshot *a, const snapshot *b) {
    return a->n == b->n && !memcmp(a->bytes, b->bytes, a->n) && a->steps == b->steps &&
           !memcmp(&a->lr, &b->lr, sizeof a->lr);
}

/* A trained run: two steps on a fixed batch, so the momentum buffers exist and differ from
 * the gradients; lr set to a value that needs all 9 digits. */
static run trained_run(uint64_t seed) {
    run r = make_run(seed, 0.025f);
    cg_loader *l = ordered_loader();
    cg_tensor *x;
    cg_tensor *y;
    for (int k = 0; k < 2; k++) {
        assert_true(next_batch(l, &x, &y));
        train_step(&r, x, y);
    }
    cg_loader_free(l);
    r.o->lr = 0.0123456789f;
    return r;
}

static cg_safetensors *open_ok(const char *path) {
    cg_safetensors *st = NULL;
    if (cg_safetensors_open(path, &st) != CG_OK) fail_msg("open %s: %s", path, cg_last_error());
    return st;
}

/* ---- round trip ---------------------------------------------------------- */
static void test_round_trip_is_bit_exact(void **s) {
    (void)s;
    char p[128];
    run a = trained_run(1);
    assert_int_equal(a.o->step_count, 2);
    assert_int_equal(n_state(a.o), 8);   /* one momentum buffer per parameter */
    cg_kv meta[] = { { "epoch", "3" } };
    assert_int_equal(cg_checkpoint_save(path_in(p, sizeof p, "a.safetensors"), a.m, a.o, meta, 1), CG_OK);
    snapshot sa = snap(&a);

    run b = make_run(2, 0.5f);           /* other weights, no momentum buffers, other lr */
    snapshot sb0 = snap(&b);
    assert_false(snap_equal(&sa, &sb0));
    cg_safetensors *st = open_ok(p);
    assert_string_equal(cg_safetensors_meta(st, "epoch"), "3");
    assert_string_equal(cg_safetensors_meta(st, "optim.type"), a.o->type->name);
    assert_int_equal(cg_checkpoint_restore(st, b.m, b.o), CG_OK);
    cg_safetensors_close(st);
    assert_int_equal(b.o->step_count, 2);
    assert_true(b.o->lr == 0.0123456789f);
    cg_named_list na, nb;
    assert_int_equal(cg_optim_state_dict(a.o, &na), CG_OK);
    assert_int_equal(cg_optim_state_dict(b.o, &nb), CG_OK);
    assert_int_equal(nb.n, 8);
    for (int i = 0; i < 8; i++) {
        char want[32];
        snprintf(want, sizeof want, "momentum_buffer.%d", i);
        assert_string_equal(na.items[i].name, want);
        assert_string_equal(nb.items[i].name, want);
    }
    cg_named_list_free(&na);
    cg_named_list_free(&nb);
    snapshot sb = snap(&b);
    assert_true(snap_equal(&sa, &sb));

    /* The next step from the restored run equals the next step from the original. */
    cg_loader *l = ordered_loader();
    cg_tensor *x;
    cg_tensor *y;
    assert_true(next_batch(l, &x, &y));
    cg_module_train(a.m, false);   /* no dropout: the two runs' RNG streams differ */
    cg_module_train(b.m, false);
    for (run *r = &a; r; r = r == &a ? &b : NULL) {
        cg_optim_zero_grad(r->o);
        cg_tensor *loss = cg_nll_loss(cg_module_forward(r->m, x), y, CG_REDUCTION_MEAN);
        assert_int_equal(cg_backward(loss), CG_OK);
        assert_int_equal(cg_optim_step(r->o), CG_OK);
        cg_tape_release();
    }
    cg_loader_free(l);
    snapshot sa2 = snap(&a), sb2 = snap(&b);
    assert_true(snap_equal(&sa2, &sb2));
    assert_false(snap_equal(&sa, &sa2));

    /* A weights-only checkpoint restores into a model without an optimizer. */
    assert_int_equal(cg_checkpoint_save(path_in(p, sizeof p, "w.safetensors"), a.m, NULL, NULL, 0), CG_OK);
    run c = make_run(3, 0.1f);
    st = open_ok(p);
    assert_null(cg_safetensors_find(st, "optim.momentum_buffer.0"));
    assert_int_equal(cg_checkpoint_restore(st, c.m, NULL), CG_OK);
    cg_safetensors_close(st);
    snapshot wa = snap(&(run){ a.m, NULL }), wc = snap(&(run){ c.m, NULL });   /* weights only */
    assert_true(wa.n == wc.n && !memcmp(wa.bytes, wc.bytes, wc.n));

    free(sa.bytes); free(sb0.bytes); free(sb.bytes); free(sa2.bytes); free(sb2.bytes);
    free(wa.bytes); free(wc.bytes);
    free_run(&a);
    free_run(&b);
    free_run(&c);
    cg_tape_free_all();
}

/* ---- failing restores leave everything unchanged ---------------------------- */

/* Write r's checkpoint (state dict and optimizer state, as cg_checkpoint_save would) with
 * fc2.weight replaced by `replacement` (NULL: dropped). */
static void write_altered(const char *path, const run *r, cg_tensor *replacement) {
    cg_named_list sd;
    assert_int_equal(cg_module_state_dict(r->m, &sd), CG_OK);
    cg_named_tensor items[32];
    char names[16][64];
    int64_t n = 0;
    for (int64_t i = 0; i < sd.n; i++) {
        if (!strcmp(sd.items[i].name, "fc2.weight")) {
            if (!replacement) continue;
            items[n++] = (cg_named_tensor){ sd.items[i].name, replacement };
        } else {
            items[n++] = sd.items[i];
        }
    }
    cg_named_list os;
    assert_int_equal(cg_optim_state_dict(r->o, &os), CG_OK);
    assert_true(os.n <= 16);
    for (int64_t i = 0; i < os.n; i++) {
        snprintf(names[i], sizeof names[i], "optim.%s", os.items[i].name);
        items[n++] = (cg_named_tensor){ names[i], os.items[i].tensor };
    }
    char steps[32];
    snprintf(steps, sizeof steps, "%lld", (long long)r->o->step_count);
    cg_kv meta[] = { { "optim.type", r->o->type->name }, { "optim.step_count", steps }, { "optim.lr", "0.5" } };
    assert_int_equal(cg_safetensors_save(path, items, n, meta, 3), CG_OK);
    cg_named_list_free(&sd);
    cg_named_list_free(&os);
}

static void expect_restore_fails(const char *path, run *target, cg_status want, const char *needle) {
    snapshot before = snap(target);
    cg_safetensors *st = open_ok(path);
    cg_status got = cg_checkpoint_restore(st, target->m, target->o);
    cg_safetensors_close(st);
    if (got != want) fail_msg("restore %s: status %d (%s), want %d", path, got, cg_last_error(), want);
    if (!strstr(cg_last_error(), needle))
        fail_msg("restore %s: message '%s' does not mention '%s'", path, cg_last_error(), needle);
    snapshot after = snap(target);
    assert_true(snap_equal(&before, &after));
    free(before.bytes);
    free(after.bytes);
}

static void test_wrong_shape_or_missing_tensor_fails_cleanly(void **s) {
    (void)s;
    char p[128];
    run src = trained_run(5);
    run dst = trained_run(6);            /* has momentum state that must survive */

    cg_tensor *wrong = cg_tensor_zeros(2, CG_SHAPE(10, 64));
    write_altered(path_in(p, sizeof p, "shape.safetensors"), &src, wrong);
    expect_restore_fails(p, &dst, CG_ESHAPE, "fc2.weight");
    expect_restore_fails(p, &dst, CG_ESHAPE, "[10, 64]");
    cg_tensor_free(wrong);

    write_altered(path_in(p, sizeof p, "missing.safetensors"), &src, NULL);
    expect_restore_fails(p, &dst, CG_EFORMAT, "fc2.weight");

    /* Model state present, optimizer state absent: nothing changes, not even the model. */
    assert_int_equal(cg_checkpoint_save(path_in(p, sizeof p, "weights.safetensors"), src.m, NULL, NULL, 0), CG_OK);
    expect_restore_fails(p, &dst, CG_EFORMAT, "no optimizer state");

    /* Optimizer state of the wrong size. */
    cg_named_list sd;
    assert_int_equal(cg_module_state_dict(src.m, &sd), CG_OK);
    cg_named_tensor items[16];
    for (int64_t i = 0; i < sd.n; i++) items[i] = sd.items[i];
    cg_tensor *bad = cg_tensor_zeros(1, CG_SHAPE(3));
    items[sd.n] = (cg_named_tensor){ "optim.momentum_buffer.0", bad };
    cg_kv meta[] = { { "optim.type", dst.o->type->name }, { "optim.step_count", "9" }, { "optim.lr", "0.5" } };
    assert_int_equal(cg_safetensors_save(path_in(p, sizeof p, "badopt.safetensors"), items, sd.n + 1, meta, 3), CG_OK);
    expect_restore_fails(p, &dst, CG_EFORMAT, "optim.momentum_buffer.0");
    cg_tensor_free(bad);
    cg_named_list_free(&sd);

    free_run(&src);
    free_run(&dst);
    cg_tape_free_all();
}

static void test_truncated_file_is_rejected(void **s) {
    (void)s;
    char p[128], q[128];
    run r = trained_run(7);
    assert_int_equal(cg_checkpoint_save(path_in(p, sizeof p, "full.safetensors"), r.m, r.o, NULL, 0), CG_OK);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)size);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    const long cuts[] = { 4, 100, size / 2, size - 1 };   /* in the length, the header, the data */
    for (int k = 0; k < 4; k++) {
        path_in(q, sizeof q, "cut.safetensors");
        f = fopen(q, "wb");
        assert_int_equal(fwrite(buf, 1, (size_t)cuts[k], f), (size_t)cuts[k]);
        fclose(f);
        cg_safetensors *st = (cg_safetensors *)1;
        cg_status got = cg_safetensors_open(q, &st);
        if (got == CG_OK) fail_msg("a file cut to %ld of %ld bytes opened", cuts[k], size);
        assert_null(st);
        if (!strstr(cg_last_error(), "cut.safetensors"))
            fail_msg("message '%s' does not name the file", cg_last_error());
    }
    free(buf);
    free_run(&r);
    cg_tape_free_all();
}

/* ---- atomic save ---------------------------------------------------------- */
static void test_failed_save_leaves_previous_file(void **s) {
    (void)s;
    char p[128], tmp[140];
    run r = trained_run(8);
    path_in(p, sizeof p, "keep.safetensors");
    assert_int_equal(cg_checkpoint_save(p, r.m, r.o, NULL, 0), CG_OK);
    struct stat st0;
    assert_int_equal(stat(p, &st0), 0);
    FILE *f = fopen(p, "rb");
    char *old = malloc((size_t)st0.st_size);
    assert_int_equal(fread(old, 1, (size_t)st0.st_size, f), (size_t)st0.st_size);
    fclose(f);

    /* A path in a directory that does not exist. */
    char nodir[160];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.safetensors", g_dir);
    assert_int_equal(cg_checkpoint_save(nodir, r.m, r.o, NULL, 0), CG_EIO);
    assert_non_null(strstr(cg_last_error(), "no/such/dir/x.safetensors"));

    /* The temporary cannot be written (a file size limit of 1 KiB, SIGXFSZ ignored so that write
     * fails with EFBIG; works as root, where a read-only directory would not stop the write): the
     * save fails, the old file stays, and no temporary is left. */
    r.o->step_count = 99;
    struct rlimit lim0, lim1;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &lim0), 0);
    lim1 = lim0;
    lim1.rlim_cur = 1024;
    void (*xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim1), 0);
    cg_status failed = cg_checkpoint_save(p, r.m, r.o, NULL, 0);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim0), 0);
    signal(SIGXFSZ, xfsz);
    assert_int_equal(failed, CG_EIO);
    assert_non_null(strstr(cg_last_error(), "keep.safetensors"));
    struct stat st1;
    assert_int_equal(stat(p, &st1), 0);
    assert_int_equal(st1.st_size, st0.st_size);
    f = fopen(p, "rb");
    char *now = malloc((size_t)st1.st_size);
    assert_int_equal(fread(now, 1, (size_t)st1.st_size, f), (size_t)st1.st_size);
    fclose(f);
    assert_memory_equal(old, now, (size_t)st0.st_size);
    cg_safetensors *stf = open_ok(p);
    assert_string_equal(cg_safetensors_meta(stf, "optim.step_count"), "2");
    cg_safetensors_close(stf);
    snprintf(tmp, sizeof tmp, "%s", g_dir);
    DIR *d = opendir(tmp);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        if (!strncmp(e->d_name, "keep.safetensors.", 17)) fail_msg("a temporary was left: %s", e->d_name);
    closedir(d);

    /* Unwritable directory, where permissions are enforced (not for root). */
    if (geteuid() != 0) {
        char ro[140], rop[160];
        path_in(ro, sizeof ro, "ro");
        assert_int_equal(mkdir(ro, 0700), 0);
        snprintf(rop, sizeof rop, "%s/k.safetensors", ro);
        r.o->step_count = 2;
        assert_int_equal(cg_checkpoint_save(rop, r.m, r.o, NULL, 0), CG_OK);
        chmod(ro, 0500);
        r.o->step_count = 99;
        cg_status got = cg_checkpoint_save(rop, r.m, r.o, NULL, 0);
        chmod(ro, 0700);
        assert_int_equal(got, CG_EIO);
        stf = open_ok(rop);
        assert_string_equal(cg_safetensors_meta(stf, "optim.step_count"), "2");
        cg_safetensors_close(stf);
    }
    free(old);
    free(now);
    free_run(&r);
    cg_tape_free_all();
}

/* ---- resume equivalence ---------------------------------------------------- */
static cg_loader *tiny_loader(void) {
    cg_loader_options lo = cg_loader_defaults();
    lo.batch_size = 8;
    lo.rng = cg_rng_new(11);
    lo.norm = k_mnist_norm;
    cg_loader *l = cg_loader_new(tiny_ds(), &lo);
    assert_non_null(l);
    return l;
}

static void test_resume_equals_uninterrupted_run(void **s) {
    (void)s;
    char p[128];
    cg_loader *l = tiny_loader();

    /* Uninterrupted: 2 epochs. */
    run a = make_run(42, 0.025f);
    train_epoch(&a, l, 0);
    train_epoch(&a, l, 1);
    snapshot sa = snap(&a);
    free_run(&a);

    /* Interrupted: 1 epoch, save (with the RNG state), everything freed. */
    run b = make_run(42, 0.025f);
    train_epoch(&b, l, 0);
    cg_rng_state rs = cg_rng_get_state();
    assert_int_equal(cg_checkpoint_save(path_in(p, sizeof p, "e1.safetensors"), b.m, b.o, NULL, 0), CG_OK);
    free_run(&b);
    cg_loader_free(l);
    cg_tape_free_all();

    /* Resumed in a fresh model and optimizer, built after another seed. */
    for (int restore_rng = 1; restore_rng >= 0; restore_rng--) {
        l = tiny_loader();
        run c = make_run(1000 + (uint64_t)restore_rng, 0.9f);
        cg_safetensors *st = open_ok(p);
        assert_int_equal(cg_checkpoint_restore(st, c.m, c.o), CG_OK);
        cg_safetensors_close(st);
        if (restore_rng) cg_rng_set_state(rs);
        train_epoch(&c, l, 1);
        snapshot sc = snap(&c);
        assert_int_equal(sc.steps, sa.steps);
        assert_int_equal(sc.n, sa.n);
        if (restore_rng) {
            if (memcmp(sa.bytes, sc.bytes, sa.n) != 0) fail_msg("resumed run's weights differ from the uninterrupted run's");
        } else {
            /* Control: without the RNG state, dropout draws other masks and the weights differ,
             * so the comparison above is sensitive to dropout. */
            assert_true(memcmp(sa.bytes, sc.bytes, sa.n) != 0);
        }
        free(sc.bytes);
        free_run(&c);
        cg_loader_free(l);
        cg_tape_free_all();
    }
    free(sa.bytes);
}

/* ---- the optimizer's state is complete and exactly shaped (issue 12, item 3) ---------------- */

/* Writes r's checkpoint with optimizer state `drop` left out (NULL: none) and state `swap`
 * (NULL: none) replaced by `replacement`. */
static void write_state_variant(const char *path, const run *r, const char *drop, const char *swap,
                                cg_tensor *replacement) {
    cg_named_list sd;
    assert_int_equal(cg_module_state_dict(r->m, &sd), CG_OK);
    cg_named_tensor items[48];
    char names[32][64];
    int64_t n = 0;
    for (int64_t i = 0; i < sd.n; i++) items[n++] = sd.items[i];
    cg_named_list os;
    assert_int_equal(cg_optim_state_dict(r->o, &os), CG_OK);
    assert_true(os.n <= 32);
    for (int64_t i = 0; i < os.n; i++) {
        const char *name = os.items[i].name;
        if (drop && !strcmp(name, drop)) continue;
        snprintf(names[i], sizeof names[i], "optim.%s", name);
        items[n++] = (cg_named_tensor){ names[i], swap && !strcmp(name, swap) ? replacement : os.items[i].tensor };
    }
    char steps[32];
    snprintf(steps, sizeof steps, "%lld", (long long)r->o->step_count);
    cg_kv meta[] = { { "optim.type", r->o->type->name }, { "optim.step_count", steps }, { "optim.lr", "0.5" } };
    assert_int_equal(cg_safetensors_save(path, items, n, meta, 3), CG_OK);
    cg_named_list_free(&sd);
    cg_named_list_free(&os);
}

static run adam_run(uint64_t seed) {
    run r = make_run(seed, 0.025f);
    cg_optim_free(r.o);
    cg_named_list pl;
    assert_int_equal(cg_module_parameters(r.m, &pl), CG_OK);
    cg_tensor *ps[16];
    for (int64_t i = 0; i < pl.n; i++) ps[i] = pl.items[i].tensor;
    r.o = cg_adam_new(ps, pl.n, cg_adam_defaults());
    assert_non_null(r.o);
    cg_named_list_free(&pl);
    return r;
}

static void test_optimizer_state_must_be_complete_and_exact(void **s) {
    (void)s;
    char p[128];
    run src = trained_run(5);
    run dst = trained_run(6);
    /* Same number of elements, another shape: [32,9] for conv1.weight's [32,1,3,3]. */
    cg_tensor *flat = cg_tensor_zeros(2, CG_SHAPE(32, 9));
    write_state_variant(path_in(p, sizeof p, "flat.safetensors"), &src, NULL, "momentum_buffer.0", flat);
    expect_restore_fails(p, &dst, CG_EFORMAT, "'optim.momentum_buffer.0' has the wrong type or shape");
    cg_tensor_free(flat);
    write_state_variant(path_in(p, sizeof p, "drop5.safetensors"), &src, "momentum_buffer.5", NULL, NULL);
    expect_restore_fails(p, &dst, CG_EFORMAT, "'optim.momentum_buffer.5' is missing");

    /* Adam after one step keeps exp_avg and exp_avg_sq for every parameter. */
    run a = adam_run(7), b = adam_run(8);
    cg_loader *l = ordered_loader();
    cg_tensor *x;
    cg_tensor *y;
    assert_true(next_batch(l, &x, &y));
    train_step(&a, x, y);
    cg_loader_free(l);
    write_state_variant(path_in(p, sizeof p, "adam.safetensors"), &a, "exp_avg_sq.2", NULL, NULL);
    expect_restore_fails(p, &b, CG_EFORMAT, "'optim.exp_avg_sq.2' is missing");
    write_state_variant(path_in(p, sizeof p, "adam_full.safetensors"), &a, NULL, NULL, NULL);
    cg_safetensors *st = open_ok(p);
    assert_int_equal(cg_checkpoint_restore(st, b.m, b.o), CG_OK);
    cg_safetensors_close(st);
    assert_int_equal(n_state(b.o), n_state(a.o));
    assert_int_equal(n_state(b.o), 2 * 8);
    /* SGD's momentum buffers are not Adam's state. */
    run c = adam_run(9);
    write_state_variant(path_in(p, sizeof p, "sgd_as_adam.safetensors"), &src, NULL, NULL, NULL);
    st = open_ok(p);
    assert_int_equal(cg_checkpoint_restore(st, c.m, c.o), CG_EFORMAT);  /* optim.type SGD, not Adam */
    cg_safetensors_close(st);
    free_run(&a);
    free_run(&b);
    free_run(&c);
    free_run(&src);
    free_run(&dst);
    cg_tape_free_all();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_is_bit_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_shape_or_missing_tensor_fails_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_file_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_optimizer_state_must_be_complete_and_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_save_leaves_previous_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_equals_uninterrupted_run, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
