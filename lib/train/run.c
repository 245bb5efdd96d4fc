/* SPDX-License-Identifier: MIT */
/* lib/train/run.c — a whole run (cgrad/train.h): the recipe (cg_run_config), the optimizer and
 * schedule built from it, and the run saved and resumed as one safetensors file.
 *
 * Each part writes its own keys under its own prefix (the model and the optimizer through
 * cg_checkpoint_save): "sched." the schedule's every field, "rng." the streams, "train." the
 * epoch, position and batch, "data.normalize", "loss", "run." the recipe. Values are written in
 * one fixed form each (%lld, %.9g for floats, %.17g for doubles), so that the same state gives
 * the same bytes; they are read back strictly. A resume checks everything before it changes
 * anything. Files of mnist-train's "cgrad-train-v2" format are read through a table that names,
 * for each key of today's format, the older key holding the same value (or none). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "cg_internal.h"
#include "cgrad/checkpoint.h"
#include "train/trainer_internal.h"

#define FORMAT "cgrad-run-v1"
#define FORMAT_V2 "cgrad-train-v2"

/* ---- names ---- */
static const char *const optim_names[] = { "sgd", "adam", "adamw" };
const char *cg_optim_kind_name(cg_optim_kind k) {
    return (unsigned)k < sizeof optim_names / sizeof optim_names[0] ? optim_names[k] : NULL;
}
cg_status cg_optim_kind_parse(const char *name, cg_optim_kind *out) {
    for (int k = 0; name && out && k < 3; k++)
        if (!strcmp(name, optim_names[k])) { *out = (cg_optim_kind)k; return CG_OK; }
    return cg_error(CG_EINVAL, "optimizer '%.40s' is not sgd, adam or adamw", name ? name : "(null)");
}
static const char *const sched_names[] = { "step", "cosine", "multistep", "exponential", "onecycle", "plateau" };
#define N_SCHED ((int)(sizeof sched_names / sizeof sched_names[0]))

cg_run_config cg_run_defaults(void) {
    return (cg_run_config){ .optimizer = CG_OPTIM_SGD, .lr = 0.01, .weight_decay = -1, .schedule = CG_SCHED_STEP,
                            .gamma = NAN, .patience = 10, .epochs = 10, .loss = CG_LOSS_AUTO, .batch_size = 64,
                            .test_batch_size = 1000 };
}

/* ---- the schedule as text ---- */
cg_status cg_run_parse_schedule(const char *text, cg_run_config *c) {
    if (!text || !c) return cg_error(CG_EINVAL, "cg_run_parse_schedule: text and c must not be NULL");
    cg_run_config r = *c;
    r.n_milestones = 0;
    for (int k = 0; k < N_SCHED; k++) {
        size_t n = strlen(sched_names[k]);
        if (strncmp(text, sched_names[k], n) != 0 || (text[n] && text[n] != ':')) continue;
        r.schedule = (cg_sched_kind)k;
        if (k == CG_SCHED_PLATEAU) r.patience = 10;
        if (!text[n]) {
            if (k == CG_SCHED_MULTISTEP) break; /* needs its milestones */
            *c = r;
            return CG_OK;
        }
        if (k != CG_SCHED_MULTISTEP && k != CG_SCHED_PLATEAU) break;
        const char *p = text + n + 1;
        for (;;) {
            if (*p < '0' || *p > '9') goto bad;
            char *end;
            errno = 0;
            long long v = strtoll(p, &end, 10);
            if (errno || v > INT64_MAX / 4) goto bad;
            if (k == CG_SCHED_PLATEAU) {
                if (*end) goto bad;
                r.patience = v;
                break;
            }
            if (v < 1 || (r.n_milestones && v <= r.milestones[r.n_milestones - 1]) ||
                r.n_milestones == CG_SCHED_MAX_MILESTONES)
                goto bad;
            r.milestones[r.n_milestones++] = v;
            if (*end == ',') { p = end + 1; continue; }
            if (*end) goto bad;
            break;
        }
        *c = r;
        return CG_OK;
    bad:
        return cg_error(CG_EINVAL, "'%.60s': want %s", text, k == CG_SCHED_PLATEAU
                        ? "plateau:PATIENCE (an integer >= 0)"
                        : "multistep:E1,E2,... (ascending epochs >= 1, at most 8)");
    }
    if (!strcmp(text, "multistep"))
        return cg_error(CG_EINVAL, "'multistep': want multistep:E1,E2,... (ascending epochs >= 1, at most 8)");
    return cg_error(CG_EINVAL, "'%.60s' is not step, cosine, multistep:E1,E2,.., exponential, onecycle or "
                    "plateau[:PATIENCE]", text);
}

void cg_run_format_schedule(const cg_run_config *c, char *buf, size_t cap) {
    if (!buf || !cap) return;
    buf[0] = '\0';
    if (!c || (unsigned)c->schedule >= (unsigned)N_SCHED) return;
    size_t k = (size_t)snprintf(buf, cap, "%s", sched_names[c->schedule]);
    if (c->schedule == CG_SCHED_PLATEAU && c->patience != 10 && k < cap)
        snprintf(buf + k, cap - k, ":%lld", (long long)c->patience);
    for (int i = 0; c->schedule == CG_SCHED_MULTISTEP && i < c->n_milestones && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%c%lld", i ? ',' : ':', (long long)c->milestones[i]);
}

cg_status cg_run_check(const cg_run_config *c) {
    if (!c) return cg_error(CG_EINVAL, "cg_run_check: c must not be NULL");
    if (!cg_optim_kind_name(c->optimizer)) return cg_error(CG_EINVAL, "optimizer %d is not a cg_optim_kind", (int)c->optimizer);
    if (!(c->lr >= 0 && c->lr <= 1e3)) return cg_error(CG_EINVAL, "lr %g is outside 0..1000", c->lr);
    if (!(c->momentum >= 0 && c->momentum <= 1)) return cg_error(CG_EINVAL, "momentum %g is outside 0..1", c->momentum);
    if (!(c->weight_decay <= 1e3) || !isfinite(c->weight_decay))
        return cg_error(CG_EINVAL, "weight_decay %g must be finite and at most 1000 (< 0: the optimizer's own)",
                        c->weight_decay);
    if ((unsigned)c->schedule >= (unsigned)N_SCHED) return cg_error(CG_EINVAL, "schedule %d is not a cg_sched_kind", (int)c->schedule);
    if (!isnan(c->gamma) && !(c->gamma >= 0 && c->gamma <= 1e3))
        return cg_error(CG_EINVAL, "gamma %g is outside 0..1000 (NAN: the schedule's own)", c->gamma);
    if (c->schedule == CG_SCHED_EXPONENTIAL && isnan(c->gamma))
        return cg_error(CG_EINVAL, "exponential needs a gamma (the factor per epoch)");
    if (c->n_milestones < 0 || c->n_milestones > CG_SCHED_MAX_MILESTONES ||
        (c->schedule == CG_SCHED_MULTISTEP && c->n_milestones == 0))
        return cg_error(CG_EINVAL, "multistep needs 1..%d milestones, not %d", CG_SCHED_MAX_MILESTONES, c->n_milestones);
    for (int i = 0; i < c->n_milestones; i++)
        if (c->milestones[i] < 1 || (i && c->milestones[i] <= c->milestones[i - 1]))
            return cg_error(CG_EINVAL, "milestones must be ascending epochs >= 1 (milestone %d is %lld)", i,
                            (long long)c->milestones[i]);
    if (c->patience < 0 || c->patience > INT64_MAX / 4) return cg_error(CG_EINVAL, "patience %lld must be >= 0", (long long)c->patience);
    if (c->warmup < 0 || c->warmup > INT64_MAX / 4) return cg_error(CG_EINVAL, "warmup %lld must be >= 0", (long long)c->warmup);
    if (c->warmup && (c->schedule == CG_SCHED_ONECYCLE || c->schedule == CG_SCHED_PLATEAU))
        return cg_error(CG_EINVAL, "warmup does not go with %s (%s)", sched_names[c->schedule],
                        c->schedule == CG_SCHED_ONECYCLE ? "it warms up itself" : "it follows a metric");
    if (c->epochs < 1 || c->epochs > INT64_MAX / 4) return cg_error(CG_EINVAL, "epochs %lld must be >= 1", (long long)c->epochs);
    if (c->warmup > c->epochs)   /* a warmup past the run's end would never reach the schedule */
        return cg_error(CG_EINVAL, "warmup %lld is longer than the run's %lld epochs", (long long)c->warmup,
                        (long long)c->epochs);
    if (!cg_loss_name(c->loss)) return cg_error(CG_EINVAL, "loss %d is not a cg_loss_kind", (int)c->loss);
    if (c->batch_size < 1 || c->test_batch_size < 1 || c->batch_size > INT64_MAX / 4 || c->test_batch_size > INT64_MAX / 4)
        return cg_error(CG_EINVAL, "batch_size %lld and test_batch_size %lld must be >= 1", (long long)c->batch_size,
                        (long long)c->test_batch_size);
    if (!(c->clip_grad_norm >= 0 && c->clip_grad_norm <= 1e30))
        return cg_error(CG_EINVAL, "clip_grad_norm %g must be in 0..1e30 (0: off)", c->clip_grad_norm);
    if (c->seed > (uint64_t)INT64_MAX) return cg_error(CG_EINVAL, "seed %llu is above %lld", (unsigned long long)c->seed,
                                                       (long long)INT64_MAX);
    if (c->norm.channels < 0 || c->norm.channels > CG_NORM_MAX_CHANNELS)
        return cg_error(CG_EINVAL, "norm.channels %d is outside 0..%d", c->norm.channels, CG_NORM_MAX_CHANNELS);
    for (int k = 0; k < c->norm.channels; k++)
        if (!isfinite(c->norm.mean[k]) || !(c->norm.std[k] > 0) || !isfinite(c->norm.std[k]))
            return cg_error(CG_EINVAL, "norm channel %d: mean %g, std %g (finite, std > 0)", k, (double)c->norm.mean[k],
                            (double)c->norm.std[k]);
    return CG_OK;
}

/* ---- building the optimizer and the schedule ---- */
cg_optimizer *cg_run_optimizer(const cg_run_config *c, const cg_module *net) {
    if (!net) return (cg_optimizer *)CG_FAIL(CG_EINVAL, "cg_run_optimizer: net must not be NULL");
    if (cg_run_check(c) != CG_OK) return NULL;
    cg_param_groups g;
    cg_status st = c->no_decay_bias_norm ? cg_module_decay_groups(net, &g)
                                         : cg_module_param_groups(net, 1, NULL, NULL, &g);
    if (st != CG_OK) return NULL;
    cg_optimizer *opt;
    if (c->optimizer == CG_OPTIM_SGD) {
        cg_sgd_options so = cg_sgd_defaults();
        so.lr = (float)c->lr;
        so.momentum = (float)c->momentum;
        so.weight_decay = c->weight_decay > 0 ? (float)c->weight_decay : 0.0f;
        opt = cg_sgd_new_groups(g.groups, g.n, so);
    } else {
        bool w = c->optimizer == CG_OPTIM_ADAMW;
        cg_adam_options ao = cg_adam_defaults();
        ao.lr = (float)c->lr;
        ao.weight_decay = c->weight_decay >= 0 ? (float)c->weight_decay : (w ? 0.01f : 0.0f);
        opt = w ? cg_adamw_new_groups(g.groups, g.n, ao) : cg_adam_new_groups(g.groups, g.n, ao);
    }
    cg_param_groups_free(&g);
    return opt;
}

cg_status cg_run_schedule(const cg_run_config *c, cg_optimizer *opt, int64_t steps_per_epoch, cg_lr_scheduler *out,
                          cg_sched_every *every) {
    if (!opt || !out || !every) return cg_error(CG_EINVAL, "cg_run_schedule: opt, out and every must not be NULL");
    cg_status st = cg_run_check(c);
    if (st != CG_OK) return st;
    if (steps_per_epoch < 1) return cg_error(CG_EINVAL, "cg_run_schedule: %lld steps per epoch", (long long)steps_per_epoch);
    float g = (float)c->gamma;
    bool dflt = isnan(c->gamma);
    *every = CG_SCHED_EVERY_EPOCH;
    switch (c->schedule) {
    case CG_SCHED_STEP: *out = cg_step_lr(opt, 1, dflt ? 1.0f : g); break;
    case CG_SCHED_COSINE: *out = cg_cosine_lr(opt, c->epochs - c->warmup > 0 ? c->epochs - c->warmup : 1, 0); break;
    case CG_SCHED_MULTISTEP: *out = cg_multistep_lr(opt, c->milestones, c->n_milestones, dflt ? 0.1f : g); break;
    case CG_SCHED_EXPONENTIAL: *out = cg_exponential_lr(opt, g); break;
    case CG_SCHED_ONECYCLE:
        if (steps_per_epoch > INT64_MAX / c->epochs) return cg_error(CG_EINVAL, "onecycle: too many steps");
        *out = cg_onecycle_lr(opt, (float)c->lr, c->epochs * steps_per_epoch, 0.3f, 25, 1e4f);
        *every = CG_SCHED_EVERY_STEP;
        break;
    case CG_SCHED_PLATEAU:
        *out = cg_plateau_lr(opt, dflt ? 0.1f : g, c->patience, 1e-4f, 0, 0);
        *every = CG_SCHED_ON_TEST_LOSS;
        break;
    }
    return c->warmup ? cg_sched_warmup(out, c->warmup, 1.0f / 3.0f) : CG_OK;
}

cg_trainer *cg_trainer_new_run(cg_module *net, const cg_dataset *train, const cg_dataset *test,
                               const cg_run_config *c, const cg_comm *comm, const cg_train_callbacks *callbacks) {
    if (!net || !train || !c)
        return (cg_trainer *)CG_FAIL(CG_EINVAL, "cg_trainer_new_run: net, train and c must not be NULL");
    if (cg_run_check(c) != CG_OK) return NULL;
    cg_optimizer *opt = cg_run_optimizer(c, net);
    if (!opt) return NULL;
    cg_trainer_options o = cg_trainer_defaults();
    o.loss = c->loss;
    o.batch_size = c->batch_size;
    o.test_batch_size = c->test_batch_size;
    o.rng = cg_rng_new(c->seed);
    o.norm = c->norm;
    o.clip_grad_norm = c->clip_grad_norm;
    o.comm = comm;
    if (callbacks) o.callbacks = *callbacks;
    cg_trainer *t = cg_trainer_new(net, opt, train, test, &o);
    if (!t) { cg_optim_free(opt); return NULL; }
    t->owns_opt = true;
    t->has_config = true;
    t->config = *c;
    cg_sched_every every;
    if (cg_run_schedule(c, opt, cg_trainer_steps_per_epoch(t), &t->own_sched, &every) != CG_OK ||
        cg_trainer_set_scheduler(t, &t->own_sched, every) != CG_OK) {
        cg_trainer_free(t);
        return NULL;
    }
    /* Dropout: stream `rank` of the seed; when the default stream is the seed's (the net was just
     * initialised after cg_manual_seed(seed)), from where the initialisation left it. */
    t->drop = cg_rng_fork(c->seed, comm ? (uint64_t)comm->rank : 0);
    cg_rng_state d = cg_rng_get_state();
    cg_rng s0 = cg_rng_new(c->seed);
    if (d.seed == cg_rng_key(&s0)) t->drop.counter = d.offset;
    t->has_dropout = true;
    cg_module_set_rng(net, &t->drop);
    return t;
}

cg_optimizer *cg_trainer_optimizer(const cg_trainer *t) { return t ? t->opt : NULL; }
cg_lr_scheduler *cg_trainer_scheduler(const cg_trainer *t) { return t ? t->sched : NULL; }
const cg_run_config *cg_trainer_config(const cg_trainer *t) { return t && t->has_config ? &t->config : NULL; }

/* ---- writing: one fixed form per type ---- */
typedef struct kvbuf {
    cg_kv kv[96];
    char val[96][48];
    int n;
    bool full;
} kvbuf;
/* Every key of the run's state lies in one of the run's namespaces (cg_internal.h: the list the
 * spec check and cg_module_check_names keep the model's layers out of), but the file's own two. */
static bool run_key(const char *key) {
    return !strcmp(key, "format") || !strcmp(key, "cgrad_version") || cg_run_namespace(key, strcspn(key, "."));
}
static void put(kvbuf *b, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(kvbuf *b, const char *key, const char *fmt, ...) {
    CG_ASSERT(run_key(key));
    if (b->n == (int)(sizeof b->kv / sizeof b->kv[0])) { b->full = true; return; }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->val[b->n], sizeof b->val[b->n], fmt, ap);
    va_end(ap);
    b->kv[b->n] = (cg_kv){ key, b->val[b->n] };
    b->n++;
}
static void put_str(kvbuf *b, const char *key, const char *value) {
    CG_ASSERT(run_key(key));
    if (b->n == (int)(sizeof b->kv / sizeof b->kv[0])) { b->full = true; return; }
    b->kv[b->n++] = (cg_kv){ key, value };
}
static void put_i(kvbuf *b, const char *key, int64_t v) { put(b, key, "%lld", (long long)v); }
static void put_u(kvbuf *b, const char *key, uint64_t v) { put(b, key, "%llu", (unsigned long long)v); }
static void put_f(kvbuf *b, const char *key, float v) { put(b, key, "%.9g", (double)v); }
static void put_d(kvbuf *b, const char *key, double v) { put(b, key, "%.17g", v); }

/* The schedule's every field, under "sched.". */
static void sched_save(kvbuf *b, const cg_lr_scheduler *s, char *ms, size_t cap) {
    put_str(b, "sched.kind", (unsigned)s->kind < (unsigned)N_SCHED ? sched_names[s->kind] : "?");
    put_f(b, "sched.base_lr", s->base_lr);
    put_f(b, "sched.gamma", s->gamma);
    put_f(b, "sched.eta_min", s->eta_min);
    put_i(b, "sched.step_size", s->step_size);
    put_i(b, "sched.t_max", s->t_max);
    size_t k = 0;
    ms[0] = '\0';
    for (int i = 0; i < s->n_milestones && i < CG_SCHED_MAX_MILESTONES && k < cap; i++)
        k += (size_t)snprintf(ms + k, cap - k, "%s%lld", i ? "," : "", (long long)s->milestones[i]);
    put_str(b, "sched.milestones", ms);
    put_f(b, "sched.max_lr", s->max_lr);
    put_f(b, "sched.pct_start", s->pct_start);
    put_f(b, "sched.div_factor", s->div_factor);
    put_f(b, "sched.final_div_factor", s->final_div_factor);
    put_i(b, "sched.total_steps", s->total_steps);
    put_f(b, "sched.factor", s->factor);
    put_f(b, "sched.threshold", s->threshold);
    put_f(b, "sched.min_lr", s->min_lr);
    put_i(b, "sched.patience", s->patience);
    put_i(b, "sched.cooldown", s->cooldown);
    put_i(b, "sched.warmup_epochs", s->warmup_epochs);
    put_f(b, "sched.warmup_start", s->warmup_start);
    put_i(b, "sched.last_epoch", s->last_epoch);
    put_d(b, "sched.best", s->best);
    put_i(b, "sched.num_bad_epochs", s->num_bad_epochs);
    put_i(b, "sched.cooldown_counter", s->cooldown_counter);
}

static void rng_save(kvbuf *b, const char *seed_key, const char *stream_key, const char *counter_key, const cg_rng *r) {
    put_u(b, seed_key, r->seed);
    put_u(b, stream_key, r->stream);
    put_u(b, counter_key, r->counter);
}

cg_status cg_trainer_save(cg_trainer *t, const char *path) {
    if (!t || !path) return cg_error(CG_EINVAL, "cg_trainer_save: t and path must not be NULL");
    if (t->o.comm && t->o.comm->rank != 0) return CG_OK;
    kvbuf *b = calloc(1, sizeof *b);
    if (!b) return cg_error(CG_ENOMEM, "cg_trainer_save: out of memory");
    char norm[CG_NORM_MAX_CHANNELS * 40 + 8], ms[CG_SCHED_MAX_MILESTONES * 24 + 1], sched_text[256];
    put_str(b, "format", FORMAT);
    put_str(b, "cgrad_version", cg_version());
    put_str(b, "loss", cg_loss_name(t->loss));
    cg_normalize_format(&t->o.norm, norm, sizeof norm);
    put_str(b, "data.normalize", norm);
    put_i(b, "train.epoch", t->epoch);
    put_i(b, "train.batch", t->in_epoch ? cg_loader_position(t->train_loader) : t->resume_batch);
    put_i(b, "train.batch_size", t->o.batch_size);
    put_d(b, "train.clip_grad_norm", t->o.clip_grad_norm);
    rng_save(b, "rng.shuffle.seed", "rng.shuffle.stream", "rng.shuffle.counter", &t->o.rng);
    cg_rng_state d = cg_rng_get_state();
    put_u(b, "rng.default.key", d.seed);
    put_u(b, "rng.default.offset", d.offset);
    if (t->has_dropout) {
        cg_rng r = t->drop;   /* saved as rank 0's stream: a resume under K ranks gives rank k stream + k */
        if (t->o.comm) r.stream -= (uint64_t)t->o.comm->rank;
        rng_save(b, "rng.dropout.seed", "rng.dropout.stream", "rng.dropout.counter", &r);
    }
    if (t->sched) sched_save(b, t->sched, ms, sizeof ms);
    if (t->has_config) {
        const cg_run_config *c = &t->config;
        put_str(b, "run.optimizer", cg_optim_kind_name(c->optimizer));
        put_d(b, "run.lr", c->lr);
        put_d(b, "run.momentum", c->momentum);
        put_d(b, "run.weight_decay", c->weight_decay < 0 ? -1 : c->weight_decay);
        put_i(b, "run.no_decay_bias_norm", c->no_decay_bias_norm);
        cg_run_format_schedule(c, sched_text, sizeof sched_text);
        put_str(b, "run.schedule", sched_text);
        if (isnan(c->gamma)) put_str(b, "run.gamma", "default");
        else put_d(b, "run.gamma", c->gamma);
        put_i(b, "run.warmup", c->warmup);
        put_i(b, "run.epochs", c->epochs);
        put_i(b, "run.test_batch_size", c->test_batch_size);
    }
    cg_status st = b->full ? cg_error(CG_EINVAL, "cg_trainer_save: too many metadata entries")
                           : cg_checkpoint_save(path, t->net, t->opt, b->kv, b->n);
    free(b);
    return st;
}

/* ---- reading ----
 * A run file's values by today's keys. For a cgrad-train-v2 file, v2[] names the older key that
 * holds the same value ("" where the old format kept none: the value is then absent, or the
 * constant after '='). */
typedef struct run_file {
    const cg_safetensors *st;
    bool v2;
    int v2_gen;   /* which mnist-train wrote a v2 file: v2_gen_of */
} run_file;
static const struct { const char *key, *old, *dflt; int since; } v2_keys[] = {
    { "train.epoch", "epoch" }, { "train.batch", "=0" }, { "train.batch_size", "batch_size" },
    { "data.normalize", "normalize" }, { "loss", "loss" },
    { "rng.shuffle.seed", "seed" }, { "rng.shuffle.stream", "=0" }, { "rng.shuffle.counter", "=0" },
    { "rng.default.key", "rng.seed" }, { "rng.default.offset", "rng.offset" },
    { "rng.dropout.seed", "seed" }, { "rng.dropout.stream", "=0" }, { "rng.dropout.counter", "rng.offset" },
    { "sched.base_lr", "sched.base_lr" }, { "sched.t_max", "sched.t_max" }, { "sched.total_steps", "sched.total_steps" },
    { "sched.last_epoch", "sched.last_epoch" }, { "sched.best", "sched.best" },
    { "sched.num_bad_epochs", "sched.num_bad_epochs" }, { "sched.cooldown_counter", "sched.cooldown_counter" },
    /* The oldest v2 files kept none of these: their runs were the defaults of that mnist-train,
     * which had no flag for them (SGD, a constant lr, no decay, warmup or clipping). The default
     * holds only for a file older than the key ('since', v2_gen_of): in a newer one the key is
     * missing by damage, and refused naming it. */
    { "run.optimizer", "optimizer", "sgd", 3 }, { "run.schedule", "schedule", "step", 3 },
    { "run.weight_decay", "weight_decay", "-1", 3 }, { "run.no_decay_bias_norm", "no_decay_bias_norm", "0", 4 },
    { "run.warmup", "warmup", "0", 3 }, { "train.clip_grad_norm", "clip_grad_norm", "0", 3 }, { "run.lr", "sched.base_lr" },
};
/* mnist-train's v2 files grew in steps, each step's keys written always (git history of
 * apps/mnist-train.c): 2, no recipe; 3 (3ba7aec), the recipe and the schedule's whole state
 * (the keys below); 4 (b84b1ec), "no_decay_bias_norm"; 5 (b1a4156), "loss". A file is of the
 * newest step one of whose keys it holds. */
static int v2_gen_of(const cg_safetensors *st) {
    static const char *const gen3[] = { "optimizer", "schedule", "weight_decay", "warmup", "clip_grad_norm",
                                        "sched.best", "sched.num_bad_epochs", "sched.cooldown_counter",
                                        "sched.total_steps", "sched.t_max" };
    if (cg_safetensors_meta(st, "loss")) return 5;
    if (cg_safetensors_meta(st, "no_decay_bias_norm")) return 4;
    for (size_t i = 0; i < sizeof gen3 / sizeof gen3[0]; i++)
        if (cg_safetensors_meta(st, gen3[i])) return 3;
    return 2;
}
static run_file run_file_of(const cg_safetensors *st) {
    const char *format = cg_safetensors_meta(st, "format");
    run_file f = { .st = st, .v2 = format && !strcmp(format, FORMAT_V2) };
    if (f.v2) f.v2_gen = v2_gen_of(st);
    return f;
}
static const char *get(const run_file *f, const char *key) {
    if (!f->v2) return cg_safetensors_meta(f->st, key);
    for (size_t i = 0; i < sizeof v2_keys / sizeof v2_keys[0]; i++)
        if (!strcmp(v2_keys[i].key, key)) {
            if (v2_keys[i].old[0] == '=') return v2_keys[i].old + 1;
            const char *v = cg_safetensors_meta(f->st, v2_keys[i].old);
            return v || f->v2_gen >= v2_keys[i].since ? v : v2_keys[i].dflt;
        }
    return NULL;
}
/* Whether f holds a recipe: every v2 file (the defaults of its mnist-train where it kept none)
 * and a v1 file of cg_trainer_new_run, which keeps a dropout stream beside it ("run.*" and
 * "rng.dropout.*" are written together: a file with one and not the other is damaged, and the
 * recipe's missing key is refused). A v1 file of cg_trainer_new keeps neither. */
static bool has_recipe(const run_file *f) {
    return f->v2 || get(f, "run.optimizer") || get(f, "rng.dropout.seed");
}
/* Whether f keeps the schedule's whole state (sched.best, .total_steps, .t_max, ...). */
static bool full_sched(const run_file *f) { return !f->v2 || f->v2_gen >= 3; }
/* The key as the file spells it, for messages. */
static const char *spelled(const run_file *f, const char *key) {
    for (size_t i = 0; f->v2 && i < sizeof v2_keys / sizeof v2_keys[0]; i++)
        if (!strcmp(v2_keys[i].key, key) && v2_keys[i].old[0] != '=') return v2_keys[i].old;
    return key;
}
static cg_status missing(const run_file *f, const char *key) {
    return cg_error(CG_EFORMAT, "checkpoint metadata has no '%s'", spelled(f, key));
}
static cg_status get_i(const run_file *f, const char *key, int64_t lo, int64_t hi, int64_t *v) {
    const char *s = get(f, key);
    return s ? cg_meta_parse_int(spelled(f, key), s, lo, hi, v) : missing(f, key);
}
static cg_status get_u(const run_file *f, const char *key, uint64_t *v) {
    const char *s = get(f, key);
    return s ? cg_meta_parse_u64(spelled(f, key), s, v) : missing(f, key);
}
/* A finite number in lo..hi; with inf_ok, also "inf" (a plateau's best before any metric). */
static cg_status get_num(const run_file *f, const char *key, double lo, double hi, bool inf_ok, double *v) {
    const char *s = get(f, key);
    if (!s) return missing(f, key);
    if (inf_ok && !strcmp(s, "inf")) { *v = INFINITY; return CG_OK; }
    return cg_meta_parse_f64(spelled(f, key), s, lo, hi, v);
}
static cg_status get_f(const run_file *f, const char *key, float *v) {
    double x;
    cg_status st = get_num(f, key, -FLT_MAX, FLT_MAX, false, &x);
    if (st == CG_OK) *v = (float)x;
    return st;
}

/* A refusal of the file at path names it (as the safetensors reader's own messages do). */
static cg_status named(const char *path, cg_status s) {
    if (s == CG_OK) return s;
    const char *m = cg_last_error();
    size_t n = strlen(path);
    if (!strncmp(m, path, n) && m[n] == ':') return s;
    char why[600];   /* copied: cg_error writes the buffer m points into */
    snprintf(why, sizeof why, "%s", m);
    return cg_error(s, "%.300s: %s", path, why);
}

static cg_status open_run(const char *path, cg_safetensors **st, run_file *f) {
    cg_status s = cg_safetensors_open(path, st);
    if (s != CG_OK) return s;
    *f = run_file_of(*st);
    const char *format = cg_safetensors_meta(*st, "format");
    if (!f->v2 && (!format || strcmp(format, FORMAT) != 0)) {
        s = format ? cg_error(CG_EFORMAT, "metadata 'format' is '%.40s', not %s (a run file of cg_trainer_save) "
                              "or the older %s", format, FORMAT, FORMAT_V2)
                   : cg_error(CG_EFORMAT, "no metadata 'format': not a run file of cg_trainer_save (a state dict "
                              "loads with cg_checkpoint_restore)");
        cg_safetensors_close(*st);
        *st = NULL;
    }
    return s;
}

/* The recipe a file holds (*known: which fields). */
static cg_status read_config(const run_file *f, cg_run_config *c, uint32_t *known) {
    cg_run_config r = cg_run_defaults();
    uint32_t k = CG_RUN_ALL;
    const char *s;
    cg_status st = CG_OK;
    int64_t v;
    double x;
    if (!(s = get(f, "run.optimizer"))) return missing(f, "run.optimizer");
    if (cg_optim_kind_parse(s, &r.optimizer) != CG_OK)
        return cg_error(CG_EFORMAT, "checkpoint metadata '%s': optimizer '%.40s' is not sgd, adam or adamw",
                        spelled(f, "run.optimizer"), s);
    if (!(s = get(f, "run.schedule"))) return missing(f, "run.schedule");
    if (cg_run_parse_schedule(s, &r) != CG_OK) {
        char why[200];
        snprintf(why, sizeof why, "%s", cg_last_error());
        return cg_error(CG_EFORMAT, "checkpoint metadata '%s': %s", spelled(f, "run.schedule"), why);
    }
    if (get(f, "run.lr") || !f->v2) { if ((st = get_num(f, "run.lr", 0, 1e3, false, &r.lr)) != CG_OK) return st; }
    else k &= ~(uint32_t)CG_RUN_LR;
    if (f->v2 && (k & CG_RUN_LR)) { /* v2 kept the lr as a float: take the shortest decimal of it (0.05) */
        float fl = (float)r.lr;
        for (int p = 1; p <= 9; p++) {
            char buf[32];
            snprintf(buf, sizeof buf, "%.*g", p, (double)fl);
            double y = strtod(buf, NULL);
            if ((float)y == fl) { r.lr = y; break; }
        }
    }
    if (f->v2 && r.schedule == CG_SCHED_ONECYCLE) k &= ~(uint32_t)CG_RUN_LR; /* v2 kept max_lr / 25 there */
    if (f->v2) k &= ~(uint32_t)(CG_RUN_MOMENTUM | CG_RUN_GAMMA | CG_RUN_EPOCHS | CG_RUN_TEST_BATCH);
    else {
        if ((st = get_num(f, "run.momentum", 0, 1, false, &r.momentum)) != CG_OK) return st;
        if (!(s = get(f, "run.gamma"))) return missing(f, "run.gamma");
        if (strcmp(s, "default") && (st = get_num(f, "run.gamma", 0, 1e3, false, &r.gamma)) != CG_OK) return st;
        if ((st = get_i(f, "run.epochs", 1, INT64_MAX / 4, &r.epochs)) != CG_OK) return st;
        if ((st = get_i(f, "run.test_batch_size", 1, INT64_MAX / 4, &r.test_batch_size)) != CG_OK) return st;
    }
    if ((st = get_num(f, "run.weight_decay", -1, 1e3, false, &r.weight_decay)) != CG_OK) return st;
    if (r.weight_decay < 0 && r.weight_decay != -1)   /* written as -1 (the optimizer's own) or >= 0 */
        return cg_error(CG_EFORMAT, "checkpoint metadata '%s' = '%.40s' is neither -1 (the optimizer's own) nor in "
                        "0..1000", spelled(f, "run.weight_decay"), get(f, "run.weight_decay"));
    if ((st = get_i(f, "run.no_decay_bias_norm", 0, 1, &v)) != CG_OK) return st;
    r.no_decay_bias_norm = v;
    /* at most the run's epochs (cg_run_check); v2 kept none: its mnist-train's --warmup limit */
    if ((st = get_i(f, "run.warmup", 0, f->v2 ? 100000 : r.epochs, &r.warmup)) != CG_OK) return st;
    if ((st = get_i(f, "train.batch_size", 1, INT64_MAX / 4, &r.batch_size)) != CG_OK) return st;
    if ((st = get_num(f, "train.clip_grad_norm", 0, 1e30, false, &x)) != CG_OK) return st;
    r.clip_grad_norm = x;
    if ((st = get_u(f, "rng.shuffle.seed", &r.seed)) != CG_OK) return st;
    if (r.seed > (uint64_t)INT64_MAX)
        return cg_error(CG_EFORMAT, "checkpoint metadata '%s' = '%llu' is above %lld", spelled(f, "rng.shuffle.seed"),
                        (unsigned long long)r.seed, (long long)INT64_MAX);
    if (!(s = get(f, "loss")) && !f->v2) return missing(f, "loss");
    if (!s) k &= ~(uint32_t)CG_RUN_LOSS;  /* v2 files before --loss: the net's (auto) */
    else if (cg_loss_parse(s, &r.loss) != CG_OK)
        return cg_error(CG_EFORMAT, "checkpoint metadata 'loss': '%.40s' is not auto, nll, cross_entropy or mse", s);
    if (!(s = get(f, "data.normalize"))) return missing(f, "data.normalize");
    if (cg_normalize_parse(s, &r.norm) != CG_OK) {
        char why[200];
        snprintf(why, sizeof why, "%s", cg_last_error());
        return cg_error(CG_EFORMAT, "checkpoint metadata '%s': %s", spelled(f, "data.normalize"), why);
    }
    *c = r;
    *known = k;
    return CG_OK;
}

cg_status cg_run_info_load(const char *path, cg_run_info *out) {
    if (!path || !out) return cg_error(CG_EINVAL, "cg_run_info_load: path and out must not be NULL");
    memset(out, 0, sizeof *out);
    cg_safetensors *st;
    cg_status s = cg_safetensors_open(path, &st);
    if (s != CG_OK) return s;
    const char *spec = cg_safetensors_meta(st, "net");
    if (spec && !(out->spec = strdup(spec))) { cg_safetensors_close(st); return cg_error(CG_ENOMEM, "out of memory"); }
    const char *format = cg_safetensors_meta(st, "format");
    if (format) snprintf(out->format, sizeof out->format, "%s", format);
    run_file f = run_file_of(st);
    if (format && !f.v2 && !strcmp(format, FORMAT) && !has_recipe(&f)) {
        /* a trainer of the caller's own objects: no recipe, but its loss and normalisation */
        const char *loss = get(&f, "loss"), *norm = get(&f, "data.normalize");
        out->config = cg_run_defaults();
        if (!loss || !norm)   /* cg_trainer_save writes both */
            s = missing(&f, loss ? "data.normalize" : "loss");
        else if (cg_loss_parse(loss, &out->config.loss) != CG_OK)
            s = cg_error(CG_EFORMAT, "checkpoint metadata 'loss': '%.40s' is not auto, nll, cross_entropy or mse", loss);
        else if (cg_normalize_parse(norm, &out->config.norm) != CG_OK)
            s = cg_error(CG_EFORMAT, "checkpoint metadata 'data.normalize' = '%.80s' is not MEAN,STD, M/S or none", norm);
        out->known = (loss ? (uint32_t)CG_RUN_LOSS : 0) | (norm ? (uint32_t)CG_RUN_NORM : 0);
    } else if (format && (f.v2 || !strcmp(format, FORMAT))) {
        s = read_config(&f, &out->config, &out->known);
        if (s == CG_OK) s = get_i(&f, "train.epoch", 0, INT64_MAX / 4, &out->epoch);
        if (s == CG_OK) s = cg_checkpoint_meta_int(st, "optim.step_count", 0, INT64_MAX - 1, &out->step);
        out->has_run = s == CG_OK;
    } /* another format (a PyTorch file's "pt"): weights only, has_run stays false */
    cg_safetensors_close(st);
    if (s != CG_OK) cg_run_info_free(out);
    return named(path, s);
}

void cg_run_info_free(cg_run_info *info) {
    if (!info) return;
    free(info->spec);
    info->spec = NULL;
}

/* ---- the recipe of a resumed run ---- */
static void add_note(char *note, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_note(char *note, size_t cap, const char *fmt, ...) {
    if (!note || !cap) return;
    size_t k = strlen(note);
    if (k && k + 1 < cap) { note[k++] = '\n'; note[k] = '\0'; }
    va_list ap;
    va_start(ap, fmt);
    if (k < cap) vsnprintf(note + k, cap - k, fmt, ap);
    va_end(ap);
}

cg_status cg_run_config_resume(const cg_run_info *info, const cg_run_config *asked, uint32_t given,
                               cg_run_config *out, char *note, size_t cap) {
    if (!info || !asked || !out) return cg_error(CG_EINVAL, "cg_run_config_resume: info, asked and out must not be NULL");
    if (note && cap) note[0] = '\0';
    if (!info->has_run) return cg_error(CG_EINVAL, "the file holds no run to resume (format '%s')", info->format);
    cg_status cs = cg_run_check(asked);
    if (cs != CG_OK) return cs;
    const cg_run_config *f = &info->config;
    cg_run_config r = *f;
    char a[256], b[256];
    /* Fields that shape the state: the caller's value, if given, must be the file's. */
#define SAME(bit, name, cond, fmt, av, fv) \
    if ((given & (bit)) && (info->known & (bit)) && !(cond)) \
        return cg_error(CG_EINVAL, "%s " fmt " differs from the checkpoint's " fmt " (a resumed run keeps it)", name, av, fv)
    SAME(CG_RUN_OPTIMIZER, "optimizer", asked->optimizer == f->optimizer, "%s", cg_optim_kind_name(asked->optimizer),
         cg_optim_kind_name(f->optimizer));
    if ((given & CG_RUN_MOMENTUM) && (info->known & CG_RUN_OPTIMIZER) && f->optimizer != CG_OPTIM_SGD)
        return cg_error(CG_EINVAL, "momentum is SGD's, and the checkpoint's optimizer is %s (its betas are PyTorch's "
                        "defaults): leave momentum out", cg_optim_kind_name(f->optimizer));
    SAME(CG_RUN_MOMENTUM, "momentum", asked->momentum == f->momentum, "%g", asked->momentum, f->momentum);
    SAME(CG_RUN_WEIGHT_DECAY, "weight_decay", asked->weight_decay == f->weight_decay, "%g", asked->weight_decay,
         f->weight_decay);
    if ((given & CG_RUN_NO_DECAY) && asked->no_decay_bias_norm != f->no_decay_bias_norm)
        return cg_error(CG_EINVAL, "no_decay_bias_norm differs from the checkpoint, which %s",
                        f->no_decay_bias_norm ? "decays weights only" : "decays every parameter");
    cg_run_format_schedule(asked, a, sizeof a);
    cg_run_format_schedule(f, b, sizeof b);
    SAME(CG_RUN_SCHEDULE, "schedule", !strcmp(a, b), "%s", a, b);
    SAME(CG_RUN_GAMMA, "gamma", (isnan(asked->gamma) && isnan(f->gamma)) || asked->gamma == f->gamma, "%g",
         asked->gamma, f->gamma);
    SAME(CG_RUN_WARMUP, "warmup", asked->warmup == f->warmup, "%lld", (long long)asked->warmup, (long long)f->warmup);
    SAME(CG_RUN_LOSS, "loss", asked->loss == f->loss || asked->loss == CG_LOSS_AUTO, "%s", cg_loss_name(asked->loss),
         cg_loss_name(f->loss));
    SAME(CG_RUN_CLIP, "clip_grad_norm", asked->clip_grad_norm == f->clip_grad_norm, "%g", asked->clip_grad_norm,
         f->clip_grad_norm);
    SAME(CG_RUN_SEED, "seed", asked->seed == f->seed, "%llu", (unsigned long long)asked->seed,
         (unsigned long long)f->seed);
#undef SAME
    /* What the file does not hold is the caller's. */
    if (!(info->known & CG_RUN_LR)) r.lr = asked->lr;
    if (!(info->known & CG_RUN_MOMENTUM)) r.momentum = asked->momentum;
    if (!(info->known & CG_RUN_GAMMA)) r.gamma = asked->gamma;
    if (!(info->known & CG_RUN_EPOCHS)) r.epochs = asked->epochs;
    if (!(info->known & CG_RUN_TEST_BATCH)) r.test_batch_size = asked->test_batch_size;
    if (!(info->known & CG_RUN_LOSS)) r.loss = asked->loss;
    /* An older file kept the lr as a float: the caller's lr that rounds to it is the same run's. */
    if (!strcmp(info->format, FORMAT_V2) && (info->known & CG_RUN_LR) && (float)asked->lr == (float)f->lr)
        r.lr = asked->lr;
    /* What may change. */
    if (given & CG_RUN_EPOCHS) r.epochs = asked->epochs;
    if (given & CG_RUN_LR) r.lr = asked->lr;
    if (given & CG_RUN_TEST_BATCH) r.test_batch_size = asked->test_batch_size;
    if ((given & CG_RUN_BATCH) && asked->batch_size != f->batch_size) {
        add_note(note, cap, "batch_size %lld differs from the checkpoint's %lld", (long long)asked->batch_size,
                 (long long)f->batch_size);
        r.batch_size = asked->batch_size;
    }
    if (given & CG_RUN_NORM) {
        cg_normalize_format(&asked->norm, a, sizeof a);
        cg_normalize_format(&f->norm, b, sizeof b);
        if (strcmp(a, b)) add_note(note, cap, "normalize %s replaces the checkpoint's %s", a, b);
        r.norm = asked->norm;
    }
    cg_status st = cg_run_check(&r);
    if (st == CG_OK) *out = r;
    return st;
}

/* ---- resume ---- */
/* The schedule's state and plan from f into *s (a copy of the trainer's), checked against the
 * trainer's plan: what must agree, what the options may change. */
static cg_status sched_load(const run_file *f, const cg_trainer *t, const cg_resume_options *ro, int64_t epoch,
                            cg_lr_scheduler *s, bool *replanned, bool *new_lr, char *note, size_t cap) {
    const cg_lr_scheduler *mine = t->sched;
    cg_lr_scheduler fs = *mine;   /* the file's schedule; v2 kept only part of it: the rest is ours */
    cg_status st = CG_OK;
    double x;
    int64_t v;
    const char *kind = get(f, "sched.kind");
    if (!f->v2) {
        if (!kind) return missing(f, "sched.kind");
        int k = 0;
        while (k < N_SCHED && strcmp(kind, sched_names[k])) k++;
        if (k == N_SCHED) return cg_error(CG_EFORMAT, "checkpoint metadata 'sched.kind' = '%.40s' is no schedule", kind);
        if (k != mine->kind)
            return cg_error(CG_EINVAL, "the checkpoint's schedule is %s, the trainer's %s", kind, sched_names[mine->kind]);
        struct { const char *key; float *p; } fl[] = {
            { "sched.gamma", &fs.gamma }, { "sched.eta_min", &fs.eta_min }, { "sched.max_lr", &fs.max_lr },
            { "sched.pct_start", &fs.pct_start }, { "sched.div_factor", &fs.div_factor },
            { "sched.final_div_factor", &fs.final_div_factor }, { "sched.factor", &fs.factor },
            { "sched.threshold", &fs.threshold }, { "sched.min_lr", &fs.min_lr }, { "sched.warmup_start", &fs.warmup_start },
        };
        for (size_t i = 0; st == CG_OK && i < sizeof fl / sizeof fl[0]; i++) st = get_f(f, fl[i].key, fl[i].p);
        struct { const char *key; int64_t *p; } in[] = {
            { "sched.step_size", &fs.step_size }, { "sched.patience", &fs.patience }, { "sched.cooldown", &fs.cooldown },
            { "sched.warmup_epochs", &fs.warmup_epochs },
        };
        for (size_t i = 0; st == CG_OK && i < sizeof in / sizeof in[0]; i++) st = get_i(f, in[i].key, 0, INT64_MAX / 4, in[i].p);
        const char *ms = get(f, "sched.milestones");
        if (st == CG_OK && !ms) st = missing(f, "sched.milestones");
        if (st != CG_OK) return st;
        fs.n_milestones = 0;
        for (const char *p = ms; *p;) {
            char *end;
            errno = 0;
            long long m = strtoll(p, &end, 10);
            if (end == p || *p < '0' || *p > '9' || errno || fs.n_milestones == CG_SCHED_MAX_MILESTONES ||
                (*end && *end != ','))
                return cg_error(CG_EFORMAT, "checkpoint metadata 'sched.milestones' = '%.60s' is not E1,E2,..", ms);
            fs.milestones[fs.n_milestones++] = m;
            p = *end ? end + 1 : end;
        }
        double file_lr;   /* the lr a resume may change: onecycle's and plateau's follow the run */
        if ((mine->kind == CG_SCHED_ONECYCLE || mine->kind == CG_SCHED_PLATEAU) && ro->new_lr &&
            (st = get_num(f, "sched.base_lr", 0, FLT_MAX, false, &file_lr)) == CG_OK &&
            (mine->kind == CG_SCHED_ONECYCLE ? fs.max_lr != mine->max_lr : (float)file_lr != mine->base_lr))
            return cg_error(CG_EINVAL, "the lr cannot change on resume with the %s schedule (its lr follows the run)",
                            sched_names[mine->kind]);
        if (st != CG_OK) return st;
        /* The plan must be the trainer's, field by field (the lr, t_max and total_steps below). */
        bool same = fs.gamma == mine->gamma && fs.eta_min == mine->eta_min && fs.max_lr == mine->max_lr &&
                    fs.pct_start == mine->pct_start && fs.div_factor == mine->div_factor &&
                    fs.final_div_factor == mine->final_div_factor && fs.factor == mine->factor &&
                    fs.threshold == mine->threshold && fs.min_lr == mine->min_lr &&
                    fs.warmup_start == mine->warmup_start && fs.step_size == mine->step_size &&
                    fs.patience == mine->patience && fs.cooldown == mine->cooldown &&
                    fs.warmup_epochs == mine->warmup_epochs && fs.n_milestones == mine->n_milestones;
        for (int i = 0; same && i < fs.n_milestones; i++) same = fs.milestones[i] == mine->milestones[i];
        if (!same)
            return cg_error(CG_EINVAL, "the checkpoint's %s schedule has other options than the trainer's (gamma %g vs "
                            "%g, warmup %lld vs %lld, ...): a resumed run keeps its schedule", kind, (double)fs.gamma,
                            (double)mine->gamma, (long long)fs.warmup_epochs, (long long)mine->warmup_epochs);
    }
    if ((st = get_num(f, "sched.base_lr", 0, FLT_MAX, false, &x)) != CG_OK) return st;
    fs.base_lr = (float)x;
    if ((st = get_i(f, "sched.last_epoch", 0, INT64_MAX / 2, &fs.last_epoch)) != CG_OK) return st;
    if (full_sched(f)) {
        if ((st = get_num(f, "sched.best", -1e300, 1e300, true, &x)) != CG_OK) return st;
        fs.best = x;
        /* a plateau's counters after any step: at most its patience and its cooldown */
        if ((st = get_i(f, "sched.num_bad_epochs", 0, fs.patience, &fs.num_bad_epochs)) != CG_OK ||
            (st = get_i(f, "sched.cooldown_counter", 0, fs.cooldown, &fs.cooldown_counter)) != CG_OK)
            return st;
    }
    bool per_step = mine->kind == CG_SCHED_ONECYCLE;
    if (full_sched(f)) {
        if ((st = get_i(f, "sched.total_steps", 0, INT64_MAX / 2, &v)) != CG_OK) return st;
        if (per_step && v != mine->total_steps)
            return cg_error(CG_EINVAL, "onecycle was planned for %lld steps, and this run has %lld: a one-cycle run "
                            "cannot be made longer or shorter", (long long)v, (long long)mine->total_steps);
    }
    if (!per_step && fs.last_epoch != epoch)
        return cg_error(CG_EFORMAT, "checkpoint metadata 'sched.last_epoch' = %lld differs from '%s' = %lld (the "
                        "schedule steps once per epoch)", (long long)fs.last_epoch, spelled(f, "train.epoch"),
                        (long long)epoch);
    /* cosine: the plan is the first run's; a longer run is refused unless replanned. */
    fs.t_max = mine->t_max;
    if (mine->kind == CG_SCHED_COSINE && full_sched(f)) {
        if ((st = get_i(f, "sched.t_max", f->v2 ? 0 : 1, INT64_MAX / 2, &v)) != CG_OK) return st;
        if (v < 1) return cg_error(CG_EFORMAT, "checkpoint metadata 'sched.t_max' = 0 for a cosine schedule");
        fs.t_max = v;
        if (mine->t_max > v) {
            if (!ro->replan) {
                const char *flag = ro->replan_flag ? ro->replan_flag : "replan";
                return cg_error(CG_EINVAL, "the cosine schedule was planned for %lld epochs (the first run's) and "
                                "reaches lr 0 there; %lld epochs would train past its end: give %s to replan it over "
                                "%lld epochs, or stop at %lld", (long long)(v + fs.warmup_epochs),
                                (long long)(mine->t_max + mine->warmup_epochs), flag,
                                (long long)(mine->t_max + mine->warmup_epochs), (long long)(v + fs.warmup_epochs));
            }
            add_note(note, cap, "the cosine schedule replanned over %lld epochs (was %lld)",
                     (long long)(mine->t_max + mine->warmup_epochs), (long long)(v + fs.warmup_epochs));
            fs.t_max = mine->t_max;
            *replanned = true;
        }
    }
    /* The lr: the file's base, unless the caller brings a new one. */
    if (mine->base_lr != fs.base_lr && !f->v2 && mine->kind != CG_SCHED_ONECYCLE) {
        if (!ro->new_lr)
            return cg_error(CG_EINVAL, "the trainer's lr %g differs from the checkpoint's %g (resume with new_lr to "
                            "change it)", (double)mine->base_lr, (double)fs.base_lr);
    }
    if (ro->new_lr && mine->base_lr != fs.base_lr) {
        if (per_step || mine->kind == CG_SCHED_PLATEAU)
            return cg_error(CG_EINVAL, "the lr cannot change on resume with the %s schedule (its lr follows the run)",
                            sched_names[mine->kind]);
        add_note(note, cap, "lr %g replaces the checkpoint's %g from epoch %lld on", (double)mine->base_lr,
                 (double)fs.base_lr, (long long)epoch + 1);
        fs.base_lr = mine->base_lr;
        *new_lr = true;
    }
    if (per_step && f->v2 && fs.base_lr != mine->base_lr)   /* v2 kept max_lr / div_factor */
        return cg_error(CG_EINVAL, "the checkpoint's one-cycle run peaked at lr %g, the trainer's at %g: give its lr",
                        (double)fs.base_lr * (double)mine->div_factor, (double)mine->max_lr);
    if (per_step) fs.base_lr = mine->base_lr;
    *s = fs;
    return CG_OK;
}

cg_status cg_trainer_resume(cg_trainer *t, const char *path, const cg_resume_options *ro, char *note, size_t cap) {
    if (!t || !path) return cg_error(CG_EINVAL, "cg_trainer_resume: t and path must not be NULL");
    static const cg_resume_options none;
    if (!ro) ro = &none;
    if (note && cap) note[0] = '\0';
    cg_safetensors *st;
    run_file f;
    cg_status s = open_run(path, &st, &f);
    if (s != CG_OK) return s;
    int64_t epoch, batch, bs;
    uint64_t dkey, doff;
    cg_rng shuffle, drop = t->drop;
    const char *v;
    double clip;
    /* Everything is read and checked first: nothing changes unless it all fits. */
    if ((s = get_i(&f, "train.epoch", 0, INT64_MAX / 4, &epoch)) != CG_OK) goto out;
    if ((s = get_i(&f, "train.batch", 0, INT64_MAX / 4, &batch)) != CG_OK) goto out;
    if ((s = get_i(&f, "train.batch_size", 1, INT64_MAX / 4, &bs)) != CG_OK) goto out;
    if ((s = get_num(&f, "train.clip_grad_norm", 0, 1e30, false, &clip)) != CG_OK) goto out;
    if ((s = get_u(&f, "rng.shuffle.seed", &shuffle.seed)) != CG_OK || (s = get_u(&f, "rng.shuffle.stream", &shuffle.stream)) != CG_OK ||
        (s = get_u(&f, "rng.shuffle.counter", &shuffle.counter)) != CG_OK)
        goto out;
    if ((s = get_u(&f, "rng.default.key", &dkey)) != CG_OK || (s = get_u(&f, "rng.default.offset", &doff)) != CG_OK) goto out;
    if (f.v2) { /* v2's rng.seed is the key of its seed's stream 0: they must agree */
        cg_rng r0 = cg_rng_new(shuffle.seed);
        if (cg_rng_key(&r0) != dkey) {
            s = cg_error(CG_EFORMAT, "checkpoint metadata 'rng.seed' = '%llu' is not the stream of 'seed' = '%llu'",
                         (unsigned long long)dkey, (unsigned long long)shuffle.seed);
            goto out;
        }
    }
    if (t->has_dropout && (get(&f, "rng.dropout.seed") || !f.v2)) {
        if ((s = get_u(&f, "rng.dropout.seed", &drop.seed)) != CG_OK || (s = get_u(&f, "rng.dropout.stream", &drop.stream)) != CG_OK ||
            (s = get_u(&f, "rng.dropout.counter", &drop.counter)) != CG_OK)
            goto out;
        if (t->o.comm) drop.stream += (uint64_t)t->o.comm->rank;
    }
    if (shuffle.seed != t->o.rng.seed || shuffle.stream != t->o.rng.stream || shuffle.counter != t->o.rng.counter) {
        s = cg_error(CG_EINVAL, "the checkpoint shuffles with seed %llu (stream %llu), the trainer with seed %llu "
                     "(stream %llu): a resumed run keeps its seed", (unsigned long long)shuffle.seed,
                     (unsigned long long)shuffle.stream, (unsigned long long)t->o.rng.seed,
                     (unsigned long long)t->o.rng.stream);
        goto out;
    }
    if (!(v = get(&f, "loss")) && !f.v2) {
        s = missing(&f, "loss");
        goto out;
    }
    if (v) {
        cg_loss_kind k;
        if (cg_loss_parse(v, &k) != CG_OK) {
            s = cg_error(CG_EFORMAT, "checkpoint metadata 'loss': '%.40s' is not auto, nll, cross_entropy or mse", v);
            goto out;
        }
        if (cg_loss_resolve(t->net, k) != t->loss) {
            s = cg_error(CG_EINVAL, "loss %s differs from the checkpoint's %s", cg_loss_name(t->loss), v);
            goto out;
        }
    }
    if ((v = get(&f, "data.normalize"))) {
        cg_normalize n;
        if (cg_normalize_parse(v, &n) != CG_OK) {
            char why[200];
            snprintf(why, sizeof why, "%s", cg_last_error());
            s = cg_error(CG_EFORMAT, "checkpoint metadata '%s': %s", spelled(&f, "data.normalize"), why);
            goto out;
        }
    } else {
        s = missing(&f, "data.normalize");
        goto out;
    }
    if (t->has_config && has_recipe(&f)) {   /* the file's recipe must be the trainer's */
        cg_run_info fi = { .has_run = true };
        snprintf(fi.format, sizeof fi.format, "%s", f.v2 ? FORMAT_V2 : FORMAT);
        cg_run_config tmp;
        if ((s = read_config(&f, &fi.config, &fi.known)) != CG_OK ||
            (s = cg_run_config_resume(&fi, &t->config, CG_RUN_OPTIMIZER | CG_RUN_WEIGHT_DECAY |
                                      (t->config.optimizer == CG_OPTIM_SGD ? CG_RUN_MOMENTUM : 0) |
                                      CG_RUN_NO_DECAY | CG_RUN_SCHEDULE | CG_RUN_GAMMA | CG_RUN_WARMUP | CG_RUN_LOSS |
                                      CG_RUN_CLIP | CG_RUN_SEED, &tmp, NULL, 0)) != CG_OK)
            goto out;
    }
    if (!t->sched && get(&f, "sched.kind")) {
        s = cg_error(CG_EINVAL, "the checkpoint's run has a %s schedule, the trainer none", get(&f, "sched.kind"));
        goto out;
    }
    if (!t->has_dropout && !f.v2 && get(&f, "rng.dropout.seed")) {
        s = cg_error(CG_EINVAL, "the checkpoint's dropout drew from a stream of its run (cg_trainer_new_run); this "
                     "trainer has none: resume it in a trainer of cg_trainer_new_run");
        goto out;
    }
    if (clip != t->o.clip_grad_norm) {
        s = cg_error(CG_EINVAL, "clip_grad_norm %g differs from the checkpoint's %g", t->o.clip_grad_norm, clip);
        goto out;
    }
    if (batch > 0 && bs != t->o.batch_size) {
        s = cg_error(CG_EINVAL, "the checkpoint was saved after batch %lld of epoch %lld with batch size %lld; the "
                     "trainer's is %lld (a run saved mid-epoch resumes with its batch size)", (long long)batch,
                     (long long)epoch + 1, (long long)bs, (long long)t->o.batch_size);
        goto out;
    }
    if (batch > cg_loader_num_batches(t->train_loader)) {
        s = cg_error(CG_EFORMAT, "checkpoint metadata 'train.batch' = %lld is beyond the epoch's %lld batches",
                     (long long)batch, (long long)cg_loader_num_batches(t->train_loader));
        goto out;
    }
    cg_lr_scheduler sched;
    bool replanned = false, new_lr = false;
    if (t->sched && (s = sched_load(&f, t, ro, epoch, &sched, &replanned, &new_lr, note, cap)) != CG_OK) goto out;
    int64_t steps;
    if ((s = cg_checkpoint_meta_int(st, "optim.step_count", 0, INT64_MAX - 1, &steps)) != CG_OK) goto out;
    if (t->sched && sched.kind == CG_SCHED_ONECYCLE && sched.last_epoch != steps) {
        s = cg_error(CG_EFORMAT, "checkpoint metadata 'sched.last_epoch' = %lld differs from 'optim.step_count' = "
                     "%lld (onecycle steps once per optimizer step)", (long long)sched.last_epoch, (long long)steps);
        goto out;
    }
    /* A replanned curve or a new base gives this epoch another lr than the one saved: computed
     * now, on a copy, so that nothing can fail after the tensors are in. */
    float lr = 0;
    bool set_lr = t->sched && (replanned || new_lr);
    if (set_lr && sched.last_epoch == 0) {
        lr = sched.base_lr * (sched.warmup_epochs ? sched.warmup_start : 1.0f);
    } else if (set_lr) {
        cg_optimizer dry = *t->opt;
        cg_lr_scheduler c = sched;
        c.opt = &dry;
        c.last_epoch--;
        if ((s = cg_sched_step(&c)) != CG_OK) goto out;
        lr = dry.lr;
    }
    /* The tensors last: cg_checkpoint_restore checks all of them before it copies any. */
    if ((s = cg_checkpoint_restore(st, t->net, t->opt)) != CG_OK) goto out;
    t->epoch = epoch;
    t->resume_batch = batch;
    /* v2's rng.offset was the dropout counter, not the default stream's: that stays as the
     * caller's seeding and initialisation left it. */
    if (!f.v2) cg_rng_set_state((cg_rng_state){ dkey, doff });
    if (t->has_dropout) t->drop = drop;
    if (t->sched) {
        *t->sched = sched;
        t->sched->opt = t->opt;
        if (set_lr) t->opt->lr = lr;
    }
out:
    cg_safetensors_close(st);
    return named(path, s);
}
