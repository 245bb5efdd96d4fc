/* SPDX-License-Identifier: MIT */
/* tests/test_run.c — a whole run in one file (cg_trainer_save / cg_trainer_resume): a run
 * interrupted after an epoch, or in the middle of one, and resumed in a fresh trainer writes the
 * same bytes as the unbroken run (model, optimizer, schedule, dropout stream, position); a file
 * that does not fit the trainer is refused with nothing changed; the recipe's text forms and the
 * resume policy (cg_run_config_resume); a cgrad-train-v2 file of the older mnist-train loads. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gradcheck.h"

enum { N = 40, F = 8, K = 3 };
#define SPEC "linear(8,16) relu dropout(0.5) linear(16,3)"

static cg_tensor *X, *Y;
static cg_dataset *DS;
static char dir[64];

static int setup(void **st) {
    (void)st;
    X = test_tensor(2, CG_SHAPE(N, F), 0, 0.3f, 5, false);
    int64_t lab[N];
    for (int i = 0; i < N; i++) { lab[i] = i % K; cg_tensor_data(X)[i * F + lab[i]] += 1.0f; }
    Y = cg_tensor_from_i64(1, CG_SHAPE(N), lab);
    snprintf(dir, sizeof dir, "/tmp/cg_test_run.XXXXXX");
    if (!mkdtemp(dir)) return -1;
    return cg_dataset_from_tensors(X, Y, false, &DS) == CG_OK ? 0 : -1;
}
static int teardown(void **st) {
    (void)st;
    cg_dataset_free(DS);
    cg_tensor_free(X);
    cg_tensor_free(Y);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}
static const char *path(const char *name) {
    static char p[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static cg_run_config recipe(void) {
    cg_run_config c = cg_run_defaults();
    c.lr = 0.1;
    c.momentum = 0.9;
    c.schedule = CG_SCHED_COSINE;
    c.epochs = 3;
    c.batch_size = 16;   /* 3 batches an epoch, the last one short */
    c.seed = 7;
    c.norm = (cg_normalize){ .channels = 1, .mean = { 0.1f }, .std = { 0.5f } };
    return c;
}

/* A net as a program makes it: seeded, then built. */
static cg_module *net_new(const cg_run_config *c) {
    cg_manual_seed(c->seed);
    cg_module *m = cg_net_from_spec(SPEC, 1, CG_SHAPE(F), NULL);
    assert_non_null(m);
    return m;
}

static bool same_bytes(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int x = fgetc(fa), y = fgetc(fb);
        if (x != y) same = false;
        if (x == EOF || y == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void retouch(const char *in, const char *out, const char *key, const char *value);

/* Saves mid-epoch at (epoch, step) and stops the run there. */
typedef struct stopper { cg_trainer *t; int64_t epoch, step; const char *path; } stopper;
static cg_status stop_at(void *ctx, const cg_train_event *e) {
    stopper *s = ctx;
    if (e->epoch != s->epoch || e->epoch_step != s->step) return CG_OK;
    assert_int_equal(cg_trainer_save(s->t, s->path), CG_OK);
    return CG_ESTATE;
}

/* The unbroken run's file. */
static void unbroken(const char *file) {
    cg_run_config c = recipe();
    cg_module *m = net_new(&c);
    cg_trainer *t = cg_trainer_new_run(m, DS, DS, &c, NULL, NULL);
    assert_non_null(t);
    assert_int_equal(cg_trainer_fit(t, 3), CG_OK);
    assert_int_equal(cg_trainer_save(t, file), CG_OK);
    cg_trainer_free(t);
    cg_module_free(m);
}

/* A fresh process's resume of file (the recipe read from it), trained to the end and saved. */
static cg_status resumed(const char *file, const char *out) {
    cg_run_info info;
    assert_int_equal(cg_run_info_load(file, &info), CG_OK);
    assert_true(info.has_run);
    assert_string_equal(info.spec, SPEC);
    cg_module *m = net_new(&info.config);
    cg_trainer *t = cg_trainer_new_run(m, DS, DS, &info.config, NULL, NULL);
    assert_non_null(t);
    cg_status st = cg_trainer_resume(t, file, NULL, NULL, 0);
    if (st == CG_OK) st = cg_trainer_fit(t, info.config.epochs);
    if (st == CG_OK) st = cg_trainer_save(t, out);
    cg_trainer_free(t);
    cg_module_free(m);
    cg_run_info_free(&info);
    return st;
}

static void test_resume_equals_unbroken(void **st) {
    (void)st;
    unbroken(path("a.st"));
    /* interrupted after epoch 1 */
    cg_run_config c = recipe();
    cg_module *m = net_new(&c);
    cg_trainer *t = cg_trainer_new_run(m, DS, DS, &c, NULL, NULL);
    assert_int_equal(cg_trainer_fit(t, 1), CG_OK);
    assert_int_equal(cg_trainer_save(t, path("b1.st")), CG_OK);
    cg_trainer_free(t);
    cg_module_free(m);
    assert_false(same_bytes(path("a.st"), path("b1.st")));   /* control: the comparison can fail */
    assert_int_equal(resumed(path("b1.st"), path("b.st")), CG_OK);
    assert_true(same_bytes(path("a.st"), path("b.st")));
    /* interrupted in the middle of epoch 2 (after its second batch), saved from on_step */
    m = net_new(&c);
    stopper s = { .epoch = 2, .step = 2, .path = path("m.st") };
    cg_train_callbacks cb = { .ctx = &s, .on_step = stop_at };
    t = cg_trainer_new_run(m, DS, DS, &c, NULL, &cb);
    s.t = t;
    assert_int_equal(cg_trainer_fit(t, 3), CG_ESTATE);
    cg_trainer_free(t);
    cg_module_free(m);
    cg_run_info info;
    assert_int_equal(cg_run_info_load(path("m.st"), &info), CG_OK);
    assert_int_equal(info.epoch, 1);
    assert_int_equal(info.step, 5);
    cg_run_info_free(&info);
    assert_int_equal(resumed(path("m.st"), path("mb.st")), CG_OK);
    assert_true(same_bytes(path("a.st"), path("mb.st")));
    /* a save between a mid-epoch resume and the next step keeps the position */
    m = net_new(&c);
    t = cg_trainer_new_run(m, DS, DS, &c, NULL, NULL);
    assert_int_equal(cg_trainer_resume(t, path("m.st"), NULL, NULL, 0), CG_OK);
    assert_int_equal(cg_trainer_save(t, path("m2.st")), CG_OK);
    cg_trainer_free(t);
    cg_module_free(m);
    assert_true(same_bytes(path("m.st"), path("m2.st")));
}

/* A trainer of the caller's own objects (cg_trainer_new, cg_trainer_set_scheduler) saves and
 * resumes the same way; its dropout draws from the default stream, which the file keeps. */
static cg_status own_run(int epochs, const char *resume, const char *save) {
    cg_manual_seed(3);
    cg_module *m = cg_net_from_spec(SPEC, 1, CG_SHAPE(F), NULL);
    cg_sgd_options so = cg_sgd_defaults();
    so.lr = 0.05f;
    so.momentum = 0.5f;
    cg_optimizer *o = cg_sgd_new_for(m, so);
    cg_lr_scheduler s = cg_step_lr(o, 1, 0.5f);
    cg_trainer_options to = cg_trainer_defaults();
    to.batch_size = 16;
    cg_trainer *t = cg_trainer_new(m, o, DS, NULL, &to);
    assert_non_null(t);
    assert_int_equal(cg_trainer_set_scheduler(t, &s, CG_SCHED_EVERY_EPOCH), CG_OK);
    cg_status st = resume ? cg_trainer_resume(t, resume, NULL, NULL, 0) : CG_OK;
    if (st == CG_OK) {
        assert_int_equal(cg_trainer_fit(t, epochs), CG_OK);
        assert_int_equal(cg_trainer_save(t, save), CG_OK);
    }
    cg_trainer_free(t);
    cg_optim_free(o);
    cg_module_free(m);
    return st;
}
static void test_own_objects(void **st) {
    (void)st;
    own_run(2, NULL, path("o2.st"));
    own_run(1, NULL, path("o1.st"));
    assert_false(same_bytes(path("o1.st"), path("o2.st")));
    assert_int_equal(own_run(2, path("o1.st"), path("o1b.st")), CG_OK);
    assert_true(same_bytes(path("o2.st"), path("o1b.st")));
    cg_run_info info;   /* no recipe in such a file: no run a program can rebuild, but its loss */
    assert_int_equal(cg_run_info_load(path("o2.st"), &info), CG_OK);
    assert_false(info.has_run);
    assert_true(info.known == (CG_RUN_LOSS | CG_RUN_NORM));
    assert_int_equal(info.config.loss, CG_LOSS_CROSS_ENTROPY);
    assert_string_equal(info.spec, SPEC);
    cg_run_info_free(&info);
    /* its loss and normalisation are always written: missing, they are refused */
    for (int k = 0; k < 2; k++) {
        const char *key = k ? "data.normalize" : "loss";
        retouch(path("o1.st"), path("o1x.st"), key, NULL);
        assert_int_equal(cg_run_info_load(path("o1x.st"), &info), CG_EFORMAT);
        assert_non_null(strstr(cg_last_error(), key));
        assert_int_equal(own_run(2, path("o1x.st"), path("o1y.st")), CG_EFORMAT);
        assert_non_null(strstr(cg_last_error(), key));
    }
}

/* Rewrites metadata key of file in as value (NULL: removes the key) into out, bytes otherwise
 * the same: the header's `"key":"old"` is replaced and the header padded to 8 bytes again. */
static void retouch(const char *in, const char *out, const char *key, const char *value) {
    FILE *f = fopen(in, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)size);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
    char *h = (char *)b + 8, pat[128];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    char *at = strstr(h, pat);
    assert_non_null(at);
    assert_true(at < h + n);
    char *end = strchr(at + strlen(pat), '"') + 1;   /* past the value's closing quote */
    char *cut = at;
    if (!value) {   /* remove the pair and one comma beside it */
        if (*end == ',') end++;
        else if (cut[-1] == ',') cut--;
    }
    size_t head = (size_t)(cut - h), tail = (size_t)(h + n - end);
    char *nh = malloc(n + 256);
    assert_non_null(nh);
    size_t k = head;
    memcpy(nh, h, head);
    if (value) k += (size_t)sprintf(nh + k, "\"%s\":\"%s\"", key, value);
    memcpy(nh + k, end, tail);
    k += tail;
    while (k && nh[k - 1] == ' ') k--;
    while (k % 8) nh[k++] = ' ';
    f = fopen(out, "wb");
    assert_non_null(f);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)k >> (8 * i));
    assert_int_equal(fwrite(len, 1, 8, f), 8);
    assert_int_equal(fwrite(nh, 1, k, f), k);
    assert_int_equal(fwrite(b + 8 + n, 1, (size_t)size - 8 - n, f), (size_t)size - 8 - n);
    assert_int_equal(fclose(f), 0);
    free(nh);
    free(b);
}

/* The recipe of the tampered-file tests: every option that the run state keeps set. */
static cg_run_config hostile_recipe(void) {
    cg_run_config c = recipe();
    c.clip_grad_norm = 1;
    c.warmup = 1;
    c.weight_decay = 0.01;
    return c;
}

/* A trainer of c resumes file: the status; on refusal nothing changed (weights, epoch, lr). */
static cg_status resume_checked(const cg_run_config *c, const char *file) {
    cg_module *m = net_new(c);
    cg_trainer *t = cg_trainer_new_run(m, DS, DS, c, NULL, NULL);
    assert_non_null(t);
    cg_optimizer *o = cg_trainer_optimizer(t);
    float w0 = cg_tensor_data(o->params[0])[0], lr0 = o->lr;
    cg_status st = cg_trainer_resume(t, file, NULL, NULL, 0);
    if (st != CG_OK) {
        assert_true(cg_tensor_data(o->params[0])[0] == w0);
        assert_true(o->lr == lr0);
        assert_int_equal(o->step_count, 0);
        assert_int_equal(cg_trainer_epoch(t), 0);
    }
    cg_trainer_free(t);
    cg_module_free(m);
    return st;
}

/* A file that does not fit the trainer is refused, naming what differs, and changes nothing. */
static void test_refusals(void **st) {
    (void)st;
    cg_run_config c = recipe();
    c.epochs = 1;
    cg_module *m = net_new(&c);
    cg_trainer *t = cg_trainer_new_run(m, DS, DS, &c, NULL, NULL);
    assert_int_equal(cg_trainer_fit(t, 1), CG_OK);
    assert_int_equal(cg_trainer_save(t, path("r.st")), CG_OK);
    cg_trainer_free(t);
    cg_module_free(m);
    char note[256];
    /* another optimizer */
    cg_run_config d = recipe();
    d.epochs = 1;
    d.optimizer = CG_OPTIM_ADAM;
    m = net_new(&d);
    t = cg_trainer_new_run(m, DS, DS, &d, NULL, NULL);
    float w0 = cg_tensor_data(cg_trainer_optimizer(t)->params[0])[0];
    assert_int_equal(cg_trainer_resume(t, path("r.st"), NULL, note, sizeof note), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "optimizer"));
    assert_true(cg_tensor_data(cg_trainer_optimizer(t)->params[0])[0] == w0);   /* nothing changed */
    assert_int_equal(cg_trainer_epoch(t), 0);
    cg_trainer_free(t);
    cg_module_free(m);
    /* a longer cosine: refused, naming the switch; replanned when asked, with a note */
    d = recipe();
    m = net_new(&d);
    t = cg_trainer_new_run(m, DS, DS, &d, NULL, NULL);
    cg_resume_options ro = { .replan_flag = "--restart-schedule" };
    assert_int_equal(cg_trainer_resume(t, path("r.st"), &ro, note, sizeof note), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "give --restart-schedule to replan it over 3 epochs"));
    ro.replan = true;
    assert_int_equal(cg_trainer_resume(t, path("r.st"), &ro, note, sizeof note), CG_OK);
    assert_non_null(strstr(note, "replanned over 3 epochs (was 1)"));
    /* epoch 1 of a 3-epoch cosine from lr 0.1: 0.1 * (1 + cos(pi / 3)) / 2 = 0.075 */
    assert_float_equal(cg_trainer_optimizer(t)->lr, 0.075, 1e-6);
    assert_int_equal(cg_trainer_epoch(t), 1);
    cg_trainer_free(t);
    cg_module_free(m);
    /* another lr: refused, unless the caller brings it (then a note) */
    d = recipe();
    d.epochs = 1;
    d.lr = 0.05;
    m = net_new(&d);
    t = cg_trainer_new_run(m, DS, DS, &d, NULL, NULL);
    assert_int_equal(cg_trainer_resume(t, path("r.st"), NULL, note, sizeof note), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "lr 0.05 differs from the checkpoint's 0.1"));
    ro = (cg_resume_options){ .new_lr = true };
    assert_int_equal(cg_trainer_resume(t, path("r.st"), &ro, note, sizeof note), CG_OK);
    assert_string_equal(note, "lr 0.05 replaces the checkpoint's 0.1 from epoch 2 on");
    cg_trainer_free(t);
    cg_module_free(m);
    /* another momentum (the recipe is the file's): refused */
    d = recipe();
    d.epochs = 1;
    d.momentum = 0.5;
    m = net_new(&d);
    t = cg_trainer_new_run(m, DS, DS, &d, NULL, NULL);
    assert_int_equal(cg_trainer_resume(t, path("r.st"), NULL, NULL, 0), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "momentum 0.5 differs from the checkpoint's 0.9"));
    assert_int_equal(cg_trainer_epoch(t), 0);
    cg_trainer_free(t);
    cg_module_free(m);
    /* another seed: refused */
    d = recipe();
    d.epochs = 1;
    d.seed = 8;
    m = net_new(&d);
    t = cg_trainer_new_run(m, DS, DS, &d, NULL, NULL);
    assert_int_equal(cg_trainer_resume(t, path("r.st"), NULL, NULL, 0), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "seed 7"));
    cg_trainer_free(t);
    cg_module_free(m);
    /* not a run file */
    assert_int_equal(cg_trainer_resume(NULL, path("r.st"), NULL, NULL, 0), CG_EINVAL);
    cg_run_info info;
    assert_int_equal(cg_run_info_load(path("nothing.st"), &info), CG_EIO);
    /* a PyTorch state dict (metadata format "pt") is no run, but it is no error to read */
    cg_named_tensor one = { "w", X };
    cg_kv pt = { "format", "pt" };
    assert_int_equal(cg_safetensors_save(path("pt.st"), &one, 1, &pt, 1), CG_OK);
    assert_int_equal(cg_run_info_load(path("pt.st"), &info), CG_OK);
    assert_false(info.has_run);
    assert_string_equal(info.format, "pt");
    assert_null(info.spec);
    cg_run_info_free(&info);
    assert_int_equal(cg_trainer_resume(NULL, path("pt.st"), NULL, NULL, 0), CG_EINVAL);
}

/* Every value of the run state is read strictly (issue 24): a checkpoint with one value made
 * malformed, non-finite, negative, out of range or missing is refused by cg_run_info_load and
 * cg_trainer_resume, naming the key, the value and the file, and the trainer is left as it was. */
static void test_tampered_values(void **st) {
    (void)st;
    cg_run_config c = hostile_recipe();
    cg_module *m = net_new(&c);
    cg_trainer *t = cg_trainer_new_run(m, DS, DS, &c, NULL, NULL);
    assert_non_null(t);
    assert_int_equal(cg_trainer_fit(t, 1), CG_OK);
    assert_int_equal(cg_trainer_save(t, path("h.st")), CG_OK);
    cg_trainer_free(t);
    cg_module_free(m);
    /* control: the rewrite itself keeps a resumable file */
    retouch(path("h.st"), path("h0.st"), "train.clip_grad_norm", "1");
    assert_int_equal(resume_checked(&c, path("h0.st")), CG_OK);
    static const struct { const char *key, *value; bool in_info; } bad[] = {
        { "train.clip_grad_norm", "abc", true }, { "train.clip_grad_norm", "nan", true },
        { "train.clip_grad_norm", "-1", true }, { "train.clip_grad_norm", "inf", true },
        { "train.clip_grad_norm", "", true }, { "train.clip_grad_norm", NULL, true },
        { "run.warmup", "abc", true }, { "run.warmup", "-1", true }, { "run.warmup", "99999999999", true },
        { "run.warmup", "4", true },   /* more than the run's 3 epochs */
        { "run.warmup", NULL, true },
        { "run.weight_decay", "nan", true }, { "run.weight_decay", "abc", true }, { "run.weight_decay", "-2", true },
        { "run.weight_decay", "-0.5", true },
        { "run.weight_decay", NULL, true },
        { "run.momentum", "nan", true }, { "run.lr", "nan", true }, { "run.lr", NULL, true },
        { "run.epochs", "0", true }, { "run.schedule", NULL, true }, { "run.optimizer", NULL, true },
        { "run.gamma", "nan", true }, { "loss", NULL, true }, { "data.normalize", NULL, true },
        { "train.batch_size", "0", true }, { "train.epoch", "-1", true },
        { "sched.warmup_epochs", "-1", false }, { "sched.warmup_start", "nan", false },
        { "sched.num_bad_epochs", "11", false },   /* above its patience */
        { "sched.cooldown_counter", "1", false },  /* above its cooldown, 0 */
        { "sched.best", "nan", false }, { "sched.base_lr", "-0.1", false },
        { "optim.lr", "nan", false }, { "optim.lr", "-1", false }, { "optim.step_count", "-1", false },
        { "rng.dropout.counter", "x", false },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        retouch(path("h.st"), path("hx.st"), bad[i].key, bad[i].value);
        char want[200];
        cg_status s = resume_checked(&c, path("hx.st"));
        if (s == CG_OK) fail_msg("%s = '%s' resumed", bad[i].key, bad[i].value ? bad[i].value : "(removed)");
        const char *e = cg_last_error();
        if (!strstr(e, bad[i].key) || !strstr(e, path("hx.st")))
            fail_msg("%s = '%s': '%s' names not the key and the file", bad[i].key, bad[i].value, e);
        snprintf(want, sizeof want, "'%s'", bad[i].value ? bad[i].value : "");
        if (bad[i].value && bad[i].value[0] && !strstr(e, want) && !strstr(e, bad[i].value))
            fail_msg("%s = '%s': '%s' names not the value", bad[i].key, bad[i].value, e);
        if (!bad[i].in_info) continue;
        cg_run_info info;
        if (cg_run_info_load(path("hx.st"), &info) == CG_OK) fail_msg("cg_run_info_load took %s = '%s'", bad[i].key, bad[i].value);
        e = cg_last_error();
        if (!strstr(e, bad[i].key) || !strstr(e, path("hx.st")))
            fail_msg("cg_run_info_load: %s: '%s' names not the key and the file", bad[i].key, e);
    }
    /* a huge warmup in both places agrees with itself, and is still refused */
    retouch(path("h.st"), path("hy.st"), "run.warmup", "99999999999");
    retouch(path("hy.st"), path("hy.st"), "sched.warmup_epochs", "99999999999");
    assert_int_not_equal(resume_checked(&c, path("hy.st")), CG_OK);
    assert_non_null(strstr(cg_last_error(), "'run.warmup' = '99999999999'"));
}

/* The optimizer's state values: finite, and Adam's exp_avg_sq >= 0; refused before anything is
 * copied. */
static void test_tampered_optimizer_state(void **st) {
    (void)st;
    for (int kind = 0; kind < 2; kind++) {
        cg_run_config c = recipe();
        if (kind) c.optimizer = CG_OPTIM_ADAM;
        cg_module *m = net_new(&c);
        cg_trainer *t = cg_trainer_new_run(m, DS, DS, &c, NULL, NULL);
        assert_int_equal(cg_trainer_fit(t, 1), CG_OK);
        cg_optimizer *o = cg_trainer_optimizer(t);
        assert_int_equal(cg_trainer_save(t, path("os.st")), CG_OK);
        /* SGD: a NaN in momentum_buffer.1; Adam: a negative exp_avg_sq.2 */
        cg_tensor *b = cg_optim_state(o, kind ? 2 : 1, kind ? 1 : 0, NULL);
        assert_non_null(b);
        cg_tensor_data(b)[0] = kind ? -1.0f : NAN;
        assert_int_equal(cg_trainer_save(t, path("osx.st")), CG_OK);
        cg_trainer_free(t);
        cg_module_free(m);
        assert_int_equal(resume_checked(&c, path("os.st")), CG_OK);   /* control */
        assert_int_equal(resume_checked(&c, path("osx.st")), CG_EFORMAT);
        assert_non_null(strstr(cg_last_error(), kind ? "optim.exp_avg_sq.2' holds -1 at element 0 (want a finite number >= 0)"
                                                     : "optim.momentum_buffer.1' holds nan at element 0"));
    }
}

/* A file of the previous format takes a recipe default only where that mnist-train kept none:
 * the recipe's keys came in together (with "optimizer"), "no_decay_bias_norm" later, "loss"
 * last; a newer file that lacks one is damaged. */
static void test_v2_missing_keys(void **st) {
    (void)st;
    const char *fx = CG_FIXTURE_DIR "/train-v2.safetensors";
    cg_run_info info;
    static const char *const need[] = { "schedule", "optimizer", "warmup", "weight_decay", "clip_grad_norm",
                                        "no_decay_bias_norm", "sched.best" };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        retouch(fx, path("v2x.st"), need[i], NULL);
        cg_status s = cg_run_info_load(path("v2x.st"), &info);
        if (!strcmp(need[i], "sched.best")) {   /* read by the resume: a trainer of the fixture's recipe */
            assert_int_equal(s, CG_OK);
            cg_run_config c = info.config;
            c.momentum = 0.9;   /* v2 kept none: mnist-train's */
            cg_run_info_free(&info);
            cg_manual_seed(c.seed);
            int64_t shape[3] = { 1, 28, 28 };
            cg_module *m = cg_net_from_spec("conv2d(1,4,3) relu max_pool2d(2) dropout2d(0.25) flatten linear(676,10) "
                                            "log_softmax", 3, shape, NULL);
            cg_tensor *x = cg_tensor_zeros(4, CG_SHAPE(64, 1, 28, 28));
            int64_t lab[64] = { 0 };
            cg_tensor *y = cg_tensor_from_i64(1, CG_SHAPE(64), lab);
            cg_dataset *ds;
            assert_int_equal(cg_dataset_from_tensors(x, y, false, &ds), CG_OK);
            cg_trainer *t = cg_trainer_new_run(m, ds, NULL, &c, NULL, NULL);
            assert_non_null(t);
            if (cg_trainer_resume(t, fx, NULL, NULL, 0) != CG_OK) fail_msg("the fixture: %s", cg_last_error());   /* control */
            assert_int_equal(cg_trainer_resume(t, path("v2x.st"), NULL, NULL, 0), CG_EFORMAT);
            cg_trainer_free(t);
            cg_dataset_free(ds);
            cg_tensor_free(x);
            cg_tensor_free(y);
            cg_module_free(m);
        } else {
            assert_int_equal(s, CG_EFORMAT);
        }
        char want[64];
        snprintf(want, sizeof want, "has no '%s'", need[i]);
        if (!strstr(cg_last_error(), want)) fail_msg("without %s: '%s'", need[i], cg_last_error());
        assert_non_null(strstr(cg_last_error(), path("v2x.st")));
    }
    /* the oldest v2 files kept no recipe at all: those resume with that mnist-train's only one */
    static const char *const recipe_keys[] = { "optimizer", "schedule", "warmup", "weight_decay", "clip_grad_norm",
                                               "no_decay_bias_norm", "loss", "sched.best", "sched.num_bad_epochs",
                                               "sched.cooldown_counter", "sched.total_steps", "sched.t_max" };
    retouch(fx, path("v2old.st"), recipe_keys[0], NULL);
    for (size_t i = 1; i < sizeof recipe_keys / sizeof recipe_keys[0]; i++)
        retouch(path("v2old.st"), path("v2old.st"), recipe_keys[i], NULL);
    assert_int_equal(cg_run_info_load(path("v2old.st"), &info), CG_OK);
    assert_int_equal(info.config.optimizer, CG_OPTIM_SGD);
    assert_int_equal(info.config.schedule, CG_SCHED_STEP);
    assert_int_equal(info.config.warmup, 0);
    assert_true(info.config.clip_grad_norm == 0);
    cg_run_info_free(&info);
}

/* Model tensors and run state do not share names: a top-level layer named like one of the run's
 * namespaces is refused by the spec check (with its position), by cg_trainer_new and by
 * cg_checkpoint_save with an optimizer; nested, the name is the model's own. */
static void test_namespaces(void **st) {
    (void)st;
    static const char *const taken[] = { "optim", "sched", "rng", "train", "data", "loss", "run", "net" };
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
        char spec[96];
        snprintf(spec, sizeof spec, "linear(8,16) relu %s=linear(16,3)", taken[i]);
        assert_int_equal(cg_net_check_spec(spec, 1, CG_SHAPE(F), 1, NULL), CG_EINVAL);
        char want[80];
        snprintf(want, sizeof want, "char 19: layer name '%s' is reserved", taken[i]);
        if (!strstr(cg_last_error(), want)) fail_msg("%s: '%s'", spec, cg_last_error());
        assert_null(cg_net_from_spec(spec, 1, CG_SHAPE(F), NULL));
    }
    assert_int_equal(cg_net_check_spec("linear(8,16) optimizer=relu residual(optim=linear(16,16)) linear(16,3)", 1,
                                       CG_SHAPE(F), 1, NULL), CG_OK);
    /* a net built in C */
    cg_module *m = cg_sequential_new();
    assert_non_null(cg_sequential_append(m, "optim", cg_linear_new(8, 3, true)));
    cg_sgd_options so = cg_sgd_defaults();
    cg_optimizer *o = cg_sgd_new_for(m, so);
    assert_non_null(o);
    cg_trainer_options to = cg_trainer_defaults();
    assert_null(cg_trainer_new(m, o, DS, NULL, &to));
    assert_non_null(strstr(cg_last_error(), "cg_trainer_new: net: layer name 'optim' is reserved"));
    assert_int_equal(cg_checkpoint_save(path("ns.st"), m, o, NULL, 0), CG_EINVAL);
    assert_int_equal(access(path("ns.st"), F_OK), -1);
    assert_int_equal(cg_checkpoint_save(path("ns.st"), m, NULL, NULL, 0), CG_OK);   /* weights only: no clash */
    cg_optim_free(o);
    cg_module_free(m);
}

/* The resume policy: shaping fields given with other values are refused; length, lr, batch and
 * normalisation may change. */
static void test_config_resume(void **st) {
    (void)st;
    cg_run_info info = { .has_run = true, .config = recipe(), .known = CG_RUN_ALL };
    cg_run_config asked = recipe(), out;
    char note[256];
    asked.optimizer = CG_OPTIM_ADAMW;
    assert_int_equal(cg_run_config_resume(&info, &asked, CG_RUN_OPTIMIZER, &out, note, sizeof note), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "optimizer adamw differs from the checkpoint's sgd"));
    assert_int_equal(cg_run_config_resume(&info, &asked, 0, &out, note, sizeof note), CG_OK);  /* not given */
    assert_int_equal(out.optimizer, CG_OPTIM_SGD);
    asked = recipe();
    asked.schedule = CG_SCHED_STEP;
    assert_int_equal(cg_run_config_resume(&info, &asked, CG_RUN_SCHEDULE, &out, note, sizeof note), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "schedule step differs from the checkpoint's cosine"));
    asked = recipe();
    asked.epochs = 9;
    asked.lr = 0.5;
    asked.batch_size = 8;
    assert_int_equal(cg_run_config_resume(&info, &asked, CG_RUN_EPOCHS | CG_RUN_LR | CG_RUN_BATCH, &out, note,
                                          sizeof note), CG_OK);
    assert_int_equal(out.epochs, 9);
    assert_true(out.lr == 0.5);
    assert_int_equal(out.batch_size, 8);
    assert_string_equal(note, "batch_size 8 differs from the checkpoint's 16");
    /* momentum is SGD's: given with an adam run, it is refused, not ignored */
    cg_run_info adam = info;
    adam.config.optimizer = CG_OPTIM_ADAM;
    asked = recipe();
    asked.momentum = 0.9;
    assert_int_equal(cg_run_config_resume(&adam, &asked, CG_RUN_MOMENTUM, &out, NULL, 0), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "momentum is SGD's, and the checkpoint's optimizer is adam"));
    assert_int_equal(cg_run_config_resume(&adam, &asked, 0, &out, NULL, 0), CG_OK);
    /* a warmup longer than the run */
    asked = recipe();
    asked.warmup = 4;
    assert_int_equal(cg_run_check(&asked), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "warmup 4 is longer than the run's 3 epochs"));
    /* a field the file does not hold is the caller's */
    info.known &= ~(uint32_t)CG_RUN_MOMENTUM;
    asked = recipe();
    asked.momentum = 0.5;
    assert_int_equal(cg_run_config_resume(&info, &asked, CG_RUN_MOMENTUM, &out, NULL, 0), CG_OK);
    assert_true(out.momentum == 0.5);
}

static void test_schedule_text(void **st) {
    (void)st;
    const char *ok[] = { "step", "cosine", "multistep:2,5,9", "exponential", "onecycle", "plateau", "plateau:3" };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cg_run_config c = cg_run_defaults();
        char back[64];
        assert_int_equal(cg_run_parse_schedule(ok[i], &c), CG_OK);
        cg_run_format_schedule(&c, back, sizeof back);
        assert_string_equal(back, ok[i]);
    }
    const char *bad[] = { "", "linear", "multistep", "multistep:", "multistep:3,2", "multistep:0", "multistep:1,",
                          "plateau:", "plateau:-1", "plateau:2x", "cosine:3", "steps", "multistep:1,2,3,4,5,6,7,8,9" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cg_run_config c = cg_run_defaults();
        assert_int_equal(cg_run_parse_schedule(bad[i], &c), CG_EINVAL);
        assert_int_equal(c.schedule, CG_SCHED_STEP);   /* unchanged */
    }
    cg_run_config c = cg_run_defaults();
    c.schedule = CG_SCHED_EXPONENTIAL;
    assert_int_equal(cg_run_check(&c), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "exponential needs a gamma"));
    c = cg_run_defaults();
    c.schedule = CG_SCHED_ONECYCLE;
    c.warmup = 2;
    assert_int_equal(cg_run_check(&c), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "warmup does not go with onecycle"));
}

/* A file of the older mnist-train (cgrad-train-v2, tests/fixtures/train-v2.safetensors: 1 epoch
 * of `conv2d(1,4,3) relu max_pool2d(2) dropout2d(0.25) flatten linear(676,10) log_softmax`, batch 32,
 * seed 5) reads as a run. */
static void test_v2_file(void **st) {
    (void)st;
    cg_run_info info;
    assert_int_equal(cg_run_info_load(CG_FIXTURE_DIR "/train-v2.safetensors", &info), CG_OK);
    assert_true(info.has_run);
    assert_string_equal(info.format, "cgrad-train-v2");
    assert_string_equal(info.spec, "conv2d(1,4,3) relu max_pool2d(2) dropout2d(0.25) flatten linear(676,10) log_softmax");
    assert_int_equal(info.config.optimizer, CG_OPTIM_SGD);
    assert_int_equal(info.config.schedule, CG_SCHED_STEP);
    assert_int_equal(info.config.batch_size, 32);
    assert_int_equal((int64_t)info.config.seed, 5);
    assert_int_equal(info.config.loss, CG_LOSS_NLL);
    assert_int_equal(info.config.norm.channels, 1);
    assert_float_equal(info.config.norm.mean[0], 0.1307f, 0);
    assert_true(info.config.lr == 0.025);   /* the shortest decimal of the float v2 kept */
    assert_int_equal(info.epoch, 1);
    assert_int_equal(info.step, 2);
    assert_false(info.known & CG_RUN_MOMENTUM);   /* v2 did not keep it */
    assert_true(info.known & CG_RUN_OPTIMIZER);
    cg_run_info_free(&info);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_equals_unbroken),
        cmocka_unit_test(test_own_objects),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_config_resume),
        cmocka_unit_test(test_schedule_text),
        cmocka_unit_test(test_v2_file),
        cmocka_unit_test(test_tampered_values),
        cmocka_unit_test(test_tampered_optimizer_state),
        cmocka_unit_test(test_v2_missing_keys),
        cmocka_unit_test(test_namespaces),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
