/* SPDX-License-Identifier: MIT */
/* mnist-train — train a network (the seed's by default, or any --net SPEC) on MNIST-format data
 * (the seed's final lesson). Defaults are the seed's recipe: 2 epochs, batch 64, SGD lr 0.025
 * momentum 0.9, test batch 1000, inputs normalised with mean 0.1307 and std 0.3081. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "cli.h"
#include "dp.h"
#include "seed_net.h"
#include "train_log.h"

static const char *prog = "mnist-train";
/* The largest epoch a run can reach (--epochs' range). */
#define MAX_EPOCHS 100000
typedef struct options {
    const char *data, *save, *resume, *metrics, *net, *normalize;
    const char *train_images, *train_labels, *test_images, *test_labels;
    const char *optimizer, *schedule;   /* "sgd" | "adam" | "adamw"; see parse_schedule */
    const char *loss;                   /* --loss: auto | nll | cross_entropy | mse */
    bool loss_given;
    int64_t warmup;
    double weight_decay, clip;          /* weight_decay < 0: the optimizer's default; clip 0: off */
    bool gamma_given, optimizer_given, schedule_given, warmup_given, weight_decay_given, clip_given;
    bool no_decay_bias_norm;            /* weight decay on tensors of 2+ dims only */
    int64_t epochs, batch, test_batch, threads, metrics_every;
    double lr, momentum, gamma;
    uint64_t seed;
    bool no_dropout, summary, lr_given, restart_schedule;
} options;

static void usage(FILE *f) {
    fprintf(f,
        "usage: mnist-train [options]\n"
        "Trains a network on IDX files (raw or .gz): the four MNIST-format files in --data, or the\n"
        "four that --train-images, --train-labels, --test-images and --test-labels name. Images are\n"
        "[N,H,W] or [N,C,H,W] of any IDX element type (unsigned bytes are scaled by 1/255), labels\n"
        "[N] integers below the net's output size. It tests after each epoch. The default network\n"
        "is the seed's CNN, for 1x28x28 images and 10 classes:\n"
        "  " CG_SEED_NET_SPEC "\n\n"
        "  --data DIR             data directory (default ./data/mnist if present, else\n"
        "                         /usr/share/datasets/fashion-mnist)\n"
        "  --train-images PATH    the four files, instead of --data (all four together)\n"
        "  --train-labels PATH\n"
        "  --test-images PATH\n"
        "  --test-labels PATH\n"
        "  --normalize ARG        x = (v - mean) / std: MEAN,STD for every channel (default\n"
        "                         0.1307,0.3081), M1,..,Mk/S1,..,Sk per channel, auto (computed\n"
        "                         from the training set) or none; saved in the checkpoint, where\n"
        "                         mnist-eval and --resume read it\n"
        "  --net SPEC | @FILE     the network as a spec (see docs/nets.md), or read from FILE;\n"
        "                         --resume takes it from the checkpoint\n"
        "  --summary              print the network's summary (layers, shapes, parameters) and exit\n"
        "  --epochs N             epochs to train in all, counting resumed ones (default 2)\n"
        "  --batch-size N         training batch (default 64)\n"
        "  --test-batch-size N    evaluation batch (default 1000)\n"
        "  --lr X                 SGD learning rate (default 0.025); with --resume, replaces the\n"
        "                         checkpoint's from the first resumed epoch on (a note says so)\n"
        "  --momentum X           SGD momentum (default 0.9)\n"
        "  --optimizer NAME       sgd (default), adam or adamw (PyTorch's defaults but --lr)\n"
        "  --weight-decay X       L2 penalty (sgd, adam) or decoupled decay (adamw; default 0.01;\n"
        "                         the others 0)\n"
        "  --no-decay-bias-norm   no weight decay on biases and norm weights (the tensors of 0 or 1\n"
        "                         dims): two parameter groups\n"
        "  --schedule NAME        the lr schedule (PyTorch's formulas): step (default: --gamma per\n"
        "                         epoch), cosine (over the first run's epochs), multistep:E1,.. (--gamma\n"
        "                         at each, default 0.1), exponential (needs --gamma), onecycle\n"
        "                         (per step, peak --lr), plateau[:PATIENCE] (on the test loss;\n"
        "                         factor --gamma, default 0.1; patience default 10)\n"
        "  --gamma X              the schedule's factor (step: default 1, a constant lr)\n"
        "  --warmup N             N epochs of linear warmup from lr/3 before the schedule\n"
        "  --clip-grad-norm X     scale the gradients to a total L2 norm of at most X\n"
        "  --loss NAME            auto (default: nll when the net ends in log_softmax, else\n"
        "                         cross_entropy), nll, cross_entropy or mse (on one-hot targets);\n"
        "                         checked against the net's output before the first step\n"
        "  --seed N               seed for initialisation, shuffling and dropout (default 0)\n"
        "  --threads N            threads (default: OMP_NUM_THREADS if set, else all cores; per\n"
        "                         rank under mpirun)\n"
        "  --no-dropout           train with dropout off (exact comparisons, e.g. 1 vs K ranks)\n"
        "  --save PATH            write a checkpoint (safetensors) after every epoch\n"
        "  --resume PATH          continue the run saved in PATH exactly\n"
        "  --restart-schedule     with --resume and a longer --epochs: replan a cosine schedule\n"
        "                         over the new length (it ends at the first run's --epochs)\n"
        "  --metrics PATH         append CSV rows (per epoch, and every --metrics-every steps)\n"
        "  --metrics-every N      steps between metrics rows (default 100; 0: epochs only)\n"
        "  --version              the version and the BLAS in use\n"
        "  --help                 this text\n"
        "Options take their value as --flag VALUE or --flag=VALUE.\n"
        "Environment: CG_PROFILE=1 prints a time table at the end (per op, forward and backward\n"
        "calls apart, the optimizer step and data loading, training and evaluation apart).\n"
        "Data-parallel (built with MPI): mpirun -np K mnist-train ...; --batch-size is the global\n"
        "batch (a multiple of K), split across ranks; rank 0 prints, evaluates, saves (docs/distributed.md).\n");
}

/* --schedule's form (the values are used when the optimizer exists, make_schedule). */
static bool schedule_syntax_ok(const options *o, char *why, size_t n) {
    const char *s = o->schedule;
    if (!strcmp(s, "step") || !strcmp(s, "cosine") || !strcmp(s, "onecycle") || !strcmp(s, "plateau")) goto warm;
    if (!strcmp(s, "exponential")) {
        if (!o->gamma_given) { snprintf(why, n, "exponential needs --gamma (the factor per epoch)"); return false; }
        goto warm;
    }
    if (!strncmp(s, "plateau:", 8) || !strncmp(s, "multistep:", 10)) {
        const char *p = strchr(s, ':') + 1;
        int k = 0;
        long long prev = 0;
        for (;;) {
            char *end;
            errno = 0;
            long long v = strtoll(p, &end, 10);
            if (end == p || errno || v < (s[0] == 'p' ? 0 : 1) || v > MAX_EPOCHS || (s[0] == 'm' && v <= prev)) {
                snprintf(why, n, "'%s': want %s", s, s[0] == 'p' ? "plateau:PATIENCE (an integer >= 0)"
                                                             : "multistep:E1,E2,... (ascending epochs >= 1, at most 8)");
                return false;
            }
            prev = v;
            k++;
            if (*end == ',' && s[0] == 'm' && k < CG_SCHED_MAX_MILESTONES) { p = end + 1; continue; }
            if (*end) { snprintf(why, n, "'%s': unexpected '%s'", s, end); return false; }
            break;
        }
        goto warm;
    }
    snprintf(why, n, "'%s' is not step, cosine, multistep:E1,E2,.., exponential, onecycle or plateau[:PATIENCE]", s);
    return false;
warm:
    if (o->warmup && (!strcmp(s, "onecycle") || !strncmp(s, "plateau", 7))) {
        snprintf(why, n, "--warmup does not go with %s (%s)", s, s[0] == 'o' ? "it warms up itself" : "it follows a metric");
        return false;
    }
    return true;
}

static options parse(int argc, char **argv) {
    options o = { .data = NULL, .epochs = 2, .batch = 64, .test_batch = 1000, .threads = 0,
                  .metrics_every = 100, .lr = 0.025, .momentum = 0.9, .gamma = 1.0, .seed = 0,
                  .optimizer = "sgd", .schedule = "step", .weight_decay = -1, .loss = "auto" };
    o.threads = cli_default_threads();
    enum { O_DATA = 256, O_TRAIN_IMAGES, O_TRAIN_LABELS, O_TEST_IMAGES, O_TEST_LABELS, O_NORMALIZE, O_EPOCHS,
           O_BATCH, O_TEST_BATCH, O_LR, O_MOMENTUM, O_GAMMA, O_SEED, O_THREADS, O_SAVE, O_RESUME, O_METRICS,
           O_METRICS_EVERY, O_NO_DROPOUT, O_NET, O_SUMMARY, O_OPTIMIZER, O_WEIGHT_DECAY, O_NO_DECAY_BN, O_SCHEDULE, O_WARMUP,
           O_CLIP, O_LOSS, O_RESTART_SCHEDULE };
    static const struct option opts[] = {
        { "help", no_argument, 0, 'h' }, { "version", no_argument, 0, 'V' },
        { "data", required_argument, 0, O_DATA }, { "train-images", required_argument, 0, O_TRAIN_IMAGES },
        { "train-labels", required_argument, 0, O_TRAIN_LABELS }, { "test-images", required_argument, 0, O_TEST_IMAGES },
        { "test-labels", required_argument, 0, O_TEST_LABELS }, { "normalize", required_argument, 0, O_NORMALIZE },
        { "epochs", required_argument, 0, O_EPOCHS }, { "batch-size", required_argument, 0, O_BATCH },
        { "test-batch-size", required_argument, 0, O_TEST_BATCH }, { "lr", required_argument, 0, O_LR },
        { "momentum", required_argument, 0, O_MOMENTUM }, { "gamma", required_argument, 0, O_GAMMA },
        { "seed", required_argument, 0, O_SEED }, { "threads", required_argument, 0, O_THREADS },
        { "save", required_argument, 0, O_SAVE }, { "resume", required_argument, 0, O_RESUME },
        { "metrics", required_argument, 0, O_METRICS }, { "metrics-every", required_argument, 0, O_METRICS_EVERY },
        { "no-dropout", no_argument, 0, O_NO_DROPOUT }, { "net", required_argument, 0, O_NET },
        { "summary", no_argument, 0, O_SUMMARY }, { "optimizer", required_argument, 0, O_OPTIMIZER },
        { "weight-decay", required_argument, 0, O_WEIGHT_DECAY }, { "schedule", required_argument, 0, O_SCHEDULE },
        { "warmup", required_argument, 0, O_WARMUP }, { "clip-grad-norm", required_argument, 0, O_CLIP },
        { "no-decay-bias-norm", no_argument, 0, O_NO_DECAY_BN }, { "loss", required_argument, 0, O_LOSS },
        { "restart-schedule", no_argument, 0, O_RESTART_SCHEDULE },
        { 0, 0, 0, 0 },
    };
    const char *flag;
    for (int c; (c = cli_next_opt(prog, argc, argv, opts, &flag)) != -1;) {
        switch (c) {
        case 'h': usage(stdout); exit(0);
        case 'V': cli_version(prog);
        case O_DATA: o.data = optarg; break;
        case O_TRAIN_IMAGES: o.train_images = cli_path(prog, flag, optarg); break;
        case O_TRAIN_LABELS: o.train_labels = cli_path(prog, flag, optarg); break;
        case O_TEST_IMAGES: o.test_images = cli_path(prog, flag, optarg); break;
        case O_TEST_LABELS: o.test_labels = cli_path(prog, flag, optarg); break;
        case O_NORMALIZE: o.normalize = optarg; break;
        case O_EPOCHS: o.epochs = cli_int(prog, flag, optarg, 1, 100000); break;
        case O_BATCH: o.batch = cli_int(prog, flag, optarg, 1, 1 << 20); break;
        case O_TEST_BATCH: o.test_batch = cli_int(prog, flag, optarg, 1, 1 << 20); break;
        case O_LR: o.lr = cli_float(prog, flag, optarg, 0.0, 1e3); o.lr_given = true; break;
        case O_MOMENTUM: o.momentum = cli_float(prog, flag, optarg, 0.0, 1.0); break;
        case O_GAMMA: o.gamma = cli_float(prog, flag, optarg, 0.0, 1e3); o.gamma_given = true; break;
        case O_OPTIMIZER:
            if (strcmp(optarg, "sgd") && strcmp(optarg, "adam") && strcmp(optarg, "adamw"))
                cli_usage_error(prog, "--optimizer: '%s' is not sgd, adam or adamw", optarg);
            o.optimizer = optarg;
            o.optimizer_given = true;
            break;
        case O_WEIGHT_DECAY: o.weight_decay = cli_float(prog, flag, optarg, 0.0, 1e3); o.weight_decay_given = true; break;
        case O_NO_DECAY_BN: o.no_decay_bias_norm = true; break;
        case O_SCHEDULE: o.schedule = optarg; o.schedule_given = true; break;
        case O_WARMUP: o.warmup = cli_int(prog, flag, optarg, 1, 100000); o.warmup_given = true; break;
        case O_CLIP: o.clip = cli_float(prog, flag, optarg, 1e-30, 1e30); o.clip_given = true; break;
        case O_SEED: o.seed = (uint64_t)cli_int(prog, flag, optarg, 0, INT64_MAX); break;
        case O_THREADS: o.threads = cli_int(prog, flag, optarg, 1, 4096); break;
        case O_SAVE: o.save = cli_path(prog, flag, optarg); break;
        case O_RESUME: o.resume = optarg; break;
        case O_METRICS: o.metrics = cli_path(prog, flag, optarg); break;
        case O_METRICS_EVERY: o.metrics_every = cli_int(prog, flag, optarg, 0, INT64_MAX); break;
        case O_NO_DROPOUT: o.no_dropout = true; break;
        case O_NET: o.net = optarg; break;
        case O_SUMMARY: o.summary = true; break;
        case O_RESTART_SCHEDULE: o.restart_schedule = true; break;
        case O_LOSS: {
            cg_loss_kind k;
            if (cg_loss_parse(optarg, &k) != CG_OK) cli_usage_error(prog, "--loss: %s", cg_last_error());
            o.loss = optarg;
            o.loss_given = true;
            break;
        }
        }
    }
    const char *four[4] = { o.train_images, o.train_labels, o.test_images, o.test_labels };
    const char *flags[4] = { "--train-images", "--train-labels", "--test-images", "--test-labels" };
    int given = 0;
    for (int k = 0; k < 4; k++) given += four[k] != NULL;
    for (int k = 0; given && k < 4; k++)
        if (!four[k]) cli_usage_error(prog, "%s is missing: the four data files go together", flags[k]);
    if (given && o.data) cli_usage_error(prog, "give --data DIR or the four data files, not both");
    if (o.normalize) {
        cg_normalize n;
        bool is_auto;
        char err[256];
        if (!cli_parse_normalize(o.normalize, &n, &is_auto, err, sizeof err)) cli_usage_error(prog, "--normalize: %s", err);
    }
    char why[160];
    if (!schedule_syntax_ok(&o, why, sizeof why)) cli_usage_error(prog, "--schedule: %s", why);
    if (!o.data) o.data = cli_default_data_dir();
    return o;
}

static int fail(const char *what) {
    fprintf(stderr, "%s: %s: %s\n", prog, what, cg_last_error());
    return 1;
}

/* ---- checkpoint metadata: what a resumed run needs besides tensors ---- */
/* rng.seed and rng.offset: the key of --seed's stream 0 (the default stream's, cg_rng_get_state)
 * and the draws rank 0's dropout stream has taken. */
static cg_status save_checkpoint(const options *o, const char *spec, const char *norm, cg_module *model,
                                 cg_optimizer *opt, const cg_lr_scheduler *sched, int64_t epoch,
                                 const cg_rng *drop, cg_loss_kind loss) {
    char ep[32], seed[32], rs[32], ro[32], se[32], bs[32], blr[32], wu[32], wd[32], cl[32], best[32], nb[32], cc[32],
         ts[32], tm[32];
    cg_rng_state r = cg_rng_get_state();
    snprintf(ep, sizeof ep, "%lld", (long long)epoch);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    snprintf(rs, sizeof rs, "%llu", (unsigned long long)r.seed);
    snprintf(ro, sizeof ro, "%llu", (unsigned long long)drop->counter);
    snprintf(se, sizeof se, "%lld", (long long)sched->last_epoch);
    snprintf(bs, sizeof bs, "%lld", (long long)o->batch);
    snprintf(blr, sizeof blr, "%.9g", sched->base_lr);
    snprintf(wu, sizeof wu, "%lld", (long long)o->warmup);
    snprintf(wd, sizeof wd, "%.9g", o->weight_decay);
    snprintf(cl, sizeof cl, "%.9g", o->clip);
    snprintf(best, sizeof best, "%.17g", sched->best);
    snprintf(nb, sizeof nb, "%lld", (long long)sched->num_bad_epochs);
    snprintf(cc, sizeof cc, "%lld", (long long)sched->cooldown_counter);
    snprintf(ts, sizeof ts, "%lld", (long long)sched->total_steps);
    snprintf(tm, sizeof tm, "%lld", (long long)sched->t_max);
    cg_kv meta[] = { { "format", "cgrad-train-v2" }, { "net", spec }, { "epoch", ep },
                     { "seed", seed }, { "rng.seed", rs }, { "rng.offset", ro },
                     { "sched.last_epoch", se }, { "sched.base_lr", blr }, { "batch_size", bs },
                     { "normalize", norm }, { "optimizer", o->optimizer }, { "schedule", o->schedule },
                     { "warmup", wu }, { "weight_decay", wd }, { "clip_grad_norm", cl }, { "sched.best", best },
                     { "no_decay_bias_norm", o->no_decay_bias_norm ? "1" : "0" },
                     { "sched.num_bad_epochs", nb }, { "sched.cooldown_counter", cc }, { "sched.total_steps", ts },
                     { "sched.t_max", tm }, { "loss", cg_loss_name(loss) },
                     { "cgrad_version", cg_version() } };
    return cg_checkpoint_save(o->save, model, opt, meta, (int64_t)(sizeof meta / sizeof meta[0]));
}


static bool sched_per_step(const options *o) { return !strcmp(o->schedule, "onecycle"); }
static bool sched_on_metric(const options *o) { return !strncmp(o->schedule, "plateau", 7); }

/* The optimizer --optimizer names, over the model's parameters: one group, or with
 * --no-decay-bias-norm the decayed weights and the undecayed biases and norm weights. */
static cg_optimizer *make_optimizer(const options *o, const cg_module *model) {
    cg_param_groups g;
    cg_status st = o->no_decay_bias_norm ? cg_module_decay_groups(model, &g)
                                         : cg_module_param_groups(model, 1, NULL, NULL, &g);
    if (st != CG_OK) return NULL;
    cg_optimizer *opt;
    if (!strcmp(o->optimizer, "sgd")) {
        cg_sgd_options so = cg_sgd_defaults();
        so.lr = (float)o->lr;
        so.momentum = (float)o->momentum;
        so.weight_decay = o->weight_decay > 0 ? (float)o->weight_decay : 0.0f;
        opt = cg_sgd_new_groups(g.groups, g.n, so);
    } else {
        bool w = !strcmp(o->optimizer, "adamw");
        cg_adam_options ao = cg_adam_defaults();
        ao.lr = (float)o->lr;
        ao.weight_decay = o->weight_decay >= 0 ? (float)o->weight_decay : (w ? 0.01f : 0.0f);
        opt = w ? cg_adamw_new_groups(g.groups, g.n, ao) : cg_adam_new_groups(g.groups, g.n, ao);
    }
    cg_param_groups_free(&g);
    return opt;
}

/* The schedule --schedule names (its syntax was checked by parse), with --warmup in front. */
static cg_status make_schedule(const options *o, cg_optimizer *opt, int64_t steps_per_epoch, cg_lr_scheduler *out) {
    const char *s = o->schedule;
    float g = (float)o->gamma;
    if (!strcmp(s, "step")) *out = cg_step_lr(opt, 1, g);
    else if (!strcmp(s, "cosine")) *out = cg_cosine_lr(opt, o->epochs - o->warmup > 0 ? o->epochs - o->warmup : 1, 0);
    else if (!strcmp(s, "exponential")) *out = cg_exponential_lr(opt, g);
    else if (!strcmp(s, "onecycle")) *out = cg_onecycle_lr(opt, (float)o->lr, o->epochs * steps_per_epoch, 0.3f, 25, 1e4f);
    else if (!strncmp(s, "plateau", 7))
        *out = cg_plateau_lr(opt, o->gamma_given ? g : 0.1f, s[7] == ':' ? atoll(s + 8) : 10, 1e-4f, 0, 0);
    else { /* multistep:E1,E2,.. */
        int64_t m[CG_SCHED_MAX_MILESTONES];
        int k = 0;
        for (const char *p = s + 10; *p && k < CG_SCHED_MAX_MILESTONES; p = strchr(p, ',') ? strchr(p, ',') + 1 : "")
            m[k++] = atoll(p);
        *out = cg_multistep_lr(opt, m, k, o->gamma_given ? g : 0.1f);
    }
    return o->warmup ? cg_sched_warmup(out, o->warmup, 1.0f / 3.0f) : CG_OK;
}

/* st: the open --resume file (the caller closes it). Every metadata value is checked (parsed
 * completely, in range, the key named in the message) before anything changes: a resume is exact
 * or refused. */
static int resume(options *o, const cg_safetensors *st, cg_module *model, cg_optimizer *opt,
                  cg_lr_scheduler *sched, int64_t *epoch) {
    const char *format = cg_safetensors_meta(st, "format");
    if (!format) {
        fprintf(stderr, "%s: --resume %s: not a mnist-train checkpoint (metadata missing)\n", prog, o->resume);
        return 1;
    }
    if (strcmp(format, "cgrad-train-v2") != 0) {
        fprintf(stderr, "%s: --resume %s: not a mnist-train checkpoint (metadata 'format' is '%.40s', not cgrad-train-v2)\n",
                prog, o->resume, format);
        return 1;
    }
    int64_t ep, se, bs;
    uint64_t seed, rs, ro;
    double base_lr = o->lr;
    cg_status s = cg_checkpoint_meta_int(st, "epoch", 0, MAX_EPOCHS, &ep);
    if (s == CG_OK) s = cg_checkpoint_meta_u64(st, "seed", &seed);
    if (s == CG_OK) s = cg_checkpoint_meta_u64(st, "rng.seed", &rs);
    if (s == CG_OK) s = cg_checkpoint_meta_u64(st, "rng.offset", &ro);
    if (s == CG_OK) s = cg_checkpoint_meta_int(st, "sched.last_epoch", 0, INT64_MAX / 2, &se);
    if (s == CG_OK) s = cg_checkpoint_meta_int(st, "batch_size", 1, 1 << 20, &bs);
    /* Files from before sched.base_lr was saved: the scheduler's base is --lr, as then. */
    if (s == CG_OK && cg_safetensors_meta(st, "sched.base_lr"))
        s = cg_checkpoint_meta_f64(st, "sched.base_lr", 0.0, 1e3, &base_lr);
    if (s == CG_OK && seed > (uint64_t)INT64_MAX)
        s = cg_set_error(CG_EFORMAT, "checkpoint metadata 'seed' = '%llu' is outside --seed's 0..%lld",
                         (unsigned long long)seed, (long long)INT64_MAX);
    if (s == CG_OK) {  /* dropout continues on stream 0 of 'seed': 'rng.seed' must be its key */
        cg_manual_seed(seed);
        if (cg_rng_get_state().seed != rs)
            s = cg_set_error(CG_EFORMAT, "checkpoint metadata 'rng.seed' = '%llu' is not the stream of 'seed' = "
                             "'%llu'", (unsigned long long)rs, (unsigned long long)seed);
    }
    if (s == CG_OK && !sched_per_step(o) && se != ep)
        s = cg_set_error(CG_EFORMAT, "checkpoint metadata 'sched.last_epoch' = %lld differs from 'epoch' = %lld "
                         "(the schedule steps once per epoch)", (long long)se, (long long)ep);
    int64_t nbad = 0, cool = 0;
    double best = INFINITY;
    if (s == CG_OK && sched_on_metric(o) && cg_safetensors_meta(st, "sched.num_bad_epochs")) {
        s = cg_checkpoint_meta_int(st, "sched.num_bad_epochs", 0, INT64_MAX / 2, &nbad);
        if (s == CG_OK) s = cg_checkpoint_meta_int(st, "sched.cooldown_counter", 0, INT64_MAX / 2, &cool);
        if (s == CG_OK && strcmp(cg_safetensors_meta(st, "sched.best") ? cg_safetensors_meta(st, "sched.best") : "", "inf"))
            s = cg_checkpoint_meta_f64(st, "sched.best", -1e300, 1e300, &best);
    }
    int64_t ts = sched->total_steps;
    if (s == CG_OK && sched_per_step(o) && cg_safetensors_meta(st, "sched.total_steps"))
        s = cg_checkpoint_meta_int(st, "sched.total_steps", 0, INT64_MAX / 2, &ts);
    if (s == CG_OK && sched_per_step(o) && ts != sched->total_steps)
        s = cg_set_error(CG_EINVAL, "onecycle was planned for %lld steps, and --epochs %lld gives %lld: a one-cycle "
                         "run cannot be made longer or shorter", (long long)ts, (long long)o->epochs,
                         (long long)sched->total_steps);
    /* cosine's period was set by the first run's --epochs: a longer run continues that curve */
    int64_t tmax = sched->t_max;
    bool replanned = false;
    if (s == CG_OK && !strcmp(o->schedule, "cosine") && cg_safetensors_meta(st, "sched.t_max"))
        s = cg_checkpoint_meta_int(st, "sched.t_max", 1, INT64_MAX / 2, &tmax);
    /* ... but past its end the curve gives lr 0 (then climbs again): say so, unless asked to replan. */
    if (s == CG_OK && !strcmp(o->schedule, "cosine") && o->epochs > tmax + o->warmup) {
        if (!o->restart_schedule)
            s = cg_set_error(CG_EINVAL, "the cosine schedule was planned for %lld epochs (the first run's --epochs) "
                             "and reaches lr 0 there; --epochs %lld would train past its end: give "
                             "--restart-schedule to replan it over %lld epochs, or --epochs %lld",
                             (long long)(tmax + o->warmup), (long long)o->epochs, (long long)o->epochs,
                             (long long)(tmax + o->warmup));
        else {
            fprintf(stderr, "%s: note: --restart-schedule: cosine replanned over %lld epochs (was %lld)\n", prog,
                    (long long)o->epochs, (long long)(tmax + o->warmup));
            tmax = sched->t_max;
            replanned = true;
        }
    }
    if (s == CG_OK) s = cg_checkpoint_restore(st, model, opt);
    if (s == CG_OK) sched->t_max = tmax;
    if (s == CG_OK && sched_per_step(o) && se != opt->step_count)
        s = cg_set_error(CG_EFORMAT, "checkpoint metadata 'sched.last_epoch' = %lld differs from the step count %lld "
                         "(onecycle steps once per optimizer step)", (long long)se, (long long)opt->step_count);
    if (s != CG_OK) {
        fprintf(stderr, "%s: --resume %s: %s\n", prog, o->resume, cg_last_error());
        return 1;
    }
    if (seed != o->seed)
        fprintf(stderr, "%s: note: continuing with the checkpoint's seed %llu\n", prog, (unsigned long long)seed);
    if (bs != o->batch)
        fprintf(stderr, "%s: note: --batch-size %lld differs from the checkpoint's %lld\n", prog,
                (long long)o->batch, (long long)bs);
    o->seed = seed;
    cg_rng_set_state((cg_rng_state){ rs, ro });
    if (!sched_per_step(o)) sched->base_lr = (float)base_lr;
    sched->last_epoch = se;
    sched->best = best;
    sched->num_bad_epochs = nbad;
    sched->cooldown_counter = cool;
    if (replanned && se > 0) { /* the saved lr is the old curve's: take the new one's for this epoch */
        sched->last_epoch = se - 1;
        if (cg_sched_step(sched) != CG_OK) {
            fprintf(stderr, "%s: --resume %s: %s\n", prog, o->resume, cg_last_error());
            return 1;
        }
    }
    if (o->lr_given && (float)o->lr != (float)base_lr && (sched_per_step(o) || sched_on_metric(o))) {
        fprintf(stderr, "%s: --resume %s: --lr cannot change on resume with --schedule %s (its lr follows the run)\n",
                prog, o->resume, o->schedule);
        return 1;
    }
    /* A new --lr replaces the checkpoint's base rate at once: the resumed epochs run at the rate
     * the schedule gives for the new base (the saved optim.lr belongs to the old one). */
    if (o->lr_given && (float)o->lr != sched->base_lr) {
        fprintf(stderr, "%s: note: --lr %g replaces the checkpoint's %g from epoch %lld on\n", prog, o->lr,
                (double)sched->base_lr, (long long)ep + 1);
        sched->base_lr = (float)o->lr;
        if (se == 0) opt->lr = sched->base_lr;
        else {
            sched->last_epoch = se - 1;
            if (cg_sched_step(sched) != CG_OK) {
                fprintf(stderr, "%s: --resume %s: %s\n", prog, o->resume, cg_last_error());
                return 1;
            }
        }
    }
    *epoch = ep;
    printf("Resumed %s at epoch %lld (step %lld)\n", o->resume, (long long)ep, (long long)opt->step_count);
    return 0;
}

/* ---- the training log's hooks: --save after each epoch's test line, the MPI test's fault ---- */
typedef struct save_ctx {
    const options *o;
    const char *spec, *norm;
    cg_module *model;
    cg_optimizer *opt;
    cg_lr_scheduler *sched;
    const cg_rng *drop;
    cg_loss_kind loss;
} save_ctx;
static cg_status save_after_test(void *ctx, const cg_train_event *e) {
    save_ctx *r = ctx;
    if (save_checkpoint(r->o, r->spec, r->norm, r->model, r->opt, r->sched, e->epoch, r->drop, r->loss) != CG_OK) {
        fprintf(stderr, "%s: --save: %s\n", prog, cg_last_error());
        return CG_EIO;
    }
    printf("Saved %s (epoch %lld)\n", r->o->save, (long long)e->epoch);
    return CG_OK;
}
static cg_status fault_after_step(void *ctx, const cg_train_event *e) {
    (void)ctx;
    dp_test_fault(prog, e->step);
    return CG_OK;
}

int main(int argc, char **argv) {
    options o = parse(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);  /* logs show each line as it happens */
    dp_init(prog, &argc, &argv);
    cg_set_num_threads((int)o.threads);
    /* Everything main owns, released at `out` on success and on every error alike. */
    int rc = 1;
    cg_dataset *train = NULL, *test = NULL;
    cg_module *model = NULL;
    cg_optimizer *opt = NULL;
    cg_trainer *trainer = NULL;
    FILE *mf = NULL;
    cg_safetensors *ck = NULL;
    char *spec = NULL;
    cg_net_info info = { 0 };
#define FAIL(what) do { rc = fail(what); goto out; } while (0)
    printf("cgrad %s, %d thread%s, %s\n", cg_version(), cg_get_num_threads(), cg_get_num_threads() == 1 ? "" : "s",
           cg_blas_info());
    if (dp_size() > 1)
        printf("Data-parallel: %d ranks x %d threads, global batch %lld (%lld per rank)\n", dp_size(),
               cg_get_num_threads(), (long long)o.batch, (long long)(o.batch / dp_size()));

    /* Outputs are checked before anything is loaded or trained: rank 0 writes them. */
    if (dp_rank() == 0 && !o.summary) {
        if (o.save && !cli_save_path_ok(prog, o.save)) goto out;
        /* Ctrl-C during a checkpoint save must not leave PATH.tmp behind: the library defers
         * SIGINT/SIGTERM/SIGHUP while it writes, when a program asks for it. */
        if (o.save) cg_safetensors_set_defer_signals(true);
        if (o.metrics && !(mf = metrics_open(prog, o.metrics))) goto out;
    }

    /* The network: the checkpoint's spec when resuming, else --net, else the seed net. */
    const char *source = o.net ? "--net" : "the seed net";
    if (o.net && !(spec = cli_read_spec(prog, o.net))) goto out;
    if (o.resume) {
        if (cg_safetensors_open(o.resume, &ck) != CG_OK) FAIL("--resume");
        const char *saved = cg_safetensors_meta(ck, "net");
        if (saved && spec && strcmp(saved, spec) != 0) {
            fprintf(stderr, "%s: --net differs from the net spec saved in %s (leave --net out to resume the file's)\n",
                    prog, o.resume);
            goto out;
        }
        if (saved && !spec) {
            if (!(spec = strdup(saved))) FAIL("memory");
            source = "the --resume checkpoint's net spec";
        }
    }
    if (!spec && !(spec = strdup(CG_SEED_NET_SPEC))) FAIL("memory");

    double t = cli_now();
    if (!(train = cli_open_set(prog, "training", o.data, o.train_images, o.train_labels, true))) goto out;
    if (!(test = cli_open_set(prog, "test", o.data, o.test_images, o.test_labels, false))) goto out;
    printf("Loaded %lld training and %lld test images from %s in %.2f s\n", (long long)train->n,
           (long long)test->n, o.train_images ? train->name : o.data, cli_now() - t);
    /* Everything about the data is checked against the net before the first step. */
    int64_t chw[3], tchw[3];
    if (!cli_example_chw(prog, train, chw) || !cli_example_chw(prog, test, tchw)) goto out;
    if (memcmp(chw, tchw, sizeof chw) != 0) {
        fprintf(stderr, "%s: the training images (%s) are [%lld, %lld, %lld] but the test images (%s) [%lld, %lld, "
                "%lld]: both sets need one example shape\n", prog, train->name, (long long)chw[0], (long long)chw[1],
                (long long)chw[2], test->name, (long long)tchw[0], (long long)tchw[1], (long long)tchw[2]);
        goto out;
    }
    /* Normalisation: --normalize, else the --resume checkpoint's, else the seed's. */
    cg_normalize norm = cli_seed_normalize();
    bool norm_auto = false;
    const char *norm_src = o.normalize ? "--normalize" : "the default";
    char err[256];
    if (o.normalize && !cli_parse_normalize(o.normalize, &norm, &norm_auto, err, sizeof err)) {
        fprintf(stderr, "%s: --normalize: %s\n", prog, err);
        goto out;
    }
    const char *saved_norm = ck ? cg_safetensors_meta(ck, "normalize") : NULL;
    if (saved_norm && !o.normalize) {
        if (!cli_parse_normalize(saved_norm, &norm, &norm_auto, err, sizeof err) || norm_auto) {
            fprintf(stderr, "%s: --resume %s: checkpoint metadata 'normalize': %s\n", prog, o.resume,
                    norm_auto ? "'auto' is not a value" : err);
            goto out;
        }
        norm_src = "the --resume checkpoint";
    }
    if (norm_auto) {
        if (cg_dataset_stats(train, &norm) != CG_OK) {
            fprintf(stderr, "%s: --normalize auto: %s\n", prog, cg_last_error());
            goto out;
        }
        norm_src = "auto, from the training set";
    }
    if (norm.channels > 1 && norm.channels != chw[0]) {
        fprintf(stderr, "%s: %s: %d channels, but the images in %s have %lld\n", prog,
                o.normalize ? "--normalize" : "the checkpoint's normalize", norm.channels, train->name, (long long)chw[0]);
        goto out;
    }
    char normtxt[512];
    cli_format_normalize(&norm, normtxt, sizeof normtxt);
    if (saved_norm && o.normalize && strcmp(saved_norm, normtxt) != 0)
        fprintf(stderr, "%s: note: --normalize %s replaces the checkpoint's %s\n", prog, normtxt, saved_norm);

    cg_manual_seed(o.seed);
    model = cli_build_net(prog, source, spec, chw[0], chw[1], chw[2], train->name, &info);
    if (!model) goto out;
    int64_t classes = cli_net_classes(prog, source, &info);
    if (!classes) goto out;
    if (cg_dataset_check_labels(train, classes) != CG_OK || cg_dataset_check_labels(test, classes) != CG_OK) {
        fprintf(stderr, "%s: %s\n", prog, cg_last_error());
        goto out;
    }
    printf("Net (%s), input [N,%lld,%lld,%lld], %lld classes, normalize %s (%s):\n", source, (long long)chw[0],
           (long long)chw[1], (long long)chw[2], (long long)classes, normtxt, norm_src);
    cg_net_info_fprint(stdout, &info);
    if (o.summary) { rc = 0; goto out; }
    /* A resumed run keeps its optimizer and schedule: the checkpoint's, unless the flags say the
     * same (a different one is refused: the state would not fit, or the run would not be exact). */
    if (ck) {
        static char kept[3][128]; /* the checkpoint's values outlive it (it is closed after resume) */
        struct { const char *key, *flag; const char **val; bool given; } keep[] = {
            { "optimizer", "--optimizer", &o.optimizer, o.optimizer_given },
            { "schedule", "--schedule", &o.schedule, o.schedule_given },
            { "loss", "--loss", &o.loss, o.loss_given },
        };
        for (int k = 0; k < 3; k++) {
            const char *saved = cg_safetensors_meta(ck, keep[k].key);
            if (!saved) continue; /* an older checkpoint: sgd with the step schedule, nll (auto) */
            cg_loss_kind lk;
            if (k == 2 && cg_loss_parse(saved, &lk) != CG_OK) {
                fprintf(stderr, "%s: --resume %s: checkpoint metadata 'loss': %s\n", prog, o.resume, cg_last_error());
                goto out;
            }
            if (keep[k].given && strcmp(saved, *keep[k].val) != 0 &&
                !(k == 2 && !strcmp(*keep[k].val, "auto"))) {
                fprintf(stderr, "%s: --resume %s: %s %s differs from the checkpoint's %s\n", prog, o.resume,
                        keep[k].flag, *keep[k].val, saved);
                goto out;
            }
            snprintf(kept[k], sizeof kept[k], "%s", saved);
            *keep[k].val = kept[k];
        }
        int64_t wu;
        if (cg_safetensors_meta(ck, "warmup") && !o.warmup_given &&
            cg_checkpoint_meta_int(ck, "warmup", 0, MAX_EPOCHS, &wu) == CG_OK)
            o.warmup = wu;
        double v;
        if (cg_safetensors_meta(ck, "weight_decay") && !o.weight_decay_given &&
            cg_checkpoint_meta_f64(ck, "weight_decay", -1, 1e3, &v) == CG_OK)
            o.weight_decay = v;
        /* The groups order the optimizer's state: a run resumes with the checkpoint's. */
        const char *nd = cg_safetensors_meta(ck, "no_decay_bias_norm");
        if (nd && strcmp(nd, "0") && strcmp(nd, "1")) {
            fprintf(stderr, "%s: --resume %s: checkpoint metadata 'no_decay_bias_norm' is '%.20s', not 0 or 1\n", prog,
                    o.resume, nd);
            goto out;
        }
        if (nd && o.no_decay_bias_norm && !strcmp(nd, "0")) {
            fprintf(stderr, "%s: --resume %s: --no-decay-bias-norm differs from the checkpoint, which decays every "
                    "parameter\n", prog, o.resume);
            goto out;
        }
        if (nd && !strcmp(nd, "1")) o.no_decay_bias_norm = true;
        if (cg_safetensors_meta(ck, "clip_grad_norm") && !o.clip_given &&
            cg_checkpoint_meta_f64(ck, "clip_grad_norm", 0, 1e30, &v) == CG_OK)
            o.clip = v;
        char why[160];
        if (!schedule_syntax_ok(&o, why, sizeof why)) {
            fprintf(stderr, "%s: --resume %s: checkpoint metadata 'schedule': %s\n", prog, o.resume, why);
            goto out;
        }
    }
    cg_loss_kind loss_kind;
    if (cg_loss_parse(o.loss, &loss_kind) != CG_OK) FAIL("--loss");
    bool loss_auto = loss_kind == CG_LOSS_AUTO;
    loss_kind = cg_loss_resolve(model, loss_kind);
    printf("Loss: %s%s\n", cg_loss_name(loss_kind), !loss_auto ? "" : loss_kind == CG_LOSS_NLL
           ? " (auto: the net ends in log_softmax)" : " (auto: the net does not end in log_softmax)");
    if (sched_on_metric(&o) && dp_size() > 1) {
        fprintf(stderr, "%s: --schedule %s follows rank 0's test loss; it does not run under mpirun\n", prog, o.schedule);
        goto out;
    }
    opt = make_optimizer(&o, model);
    if (!opt) FAIL("optimizer");
    /* Batches per epoch, as the loader will give them (a last batch too small for every shard
     * is dropped). */
    int64_t per_epoch = (train->n + o.batch - 1) / o.batch;
    if (train->n % o.batch && train->n % o.batch < dp_size()) per_epoch--;
    cg_lr_scheduler sched;
    if (make_schedule(&o, opt, per_epoch, &sched) != CG_OK) FAIL("--schedule");

    int64_t start_epoch = 0;
    if (ck && resume(&o, ck, model, opt, &sched, &start_epoch)) goto out;
    cg_safetensors_close(ck);
    ck = NULL;
    dp_run_values dv = { o.epochs, o.batch, o.test_batch, o.seed, o.momentum, o.gamma, o.no_dropout, o.optimizer,
                         o.schedule, o.loss, o.warmup, o.weight_decay, o.clip, o.no_decay_bias_norm };
    if (dp_check_agreement(&dv, spec, train, test, normtxt, start_epoch, opt) != CG_OK) {
        if (dp_rank() == 0) fprintf(stderr, "%s: %s\n", prog, cg_last_error());
        goto out;
    }
    if (dp_sync_model(model) != CG_OK) FAIL("broadcasting the model");
    /* Each rank's dropout stream, from where the initialisation (or the checkpoint) left off. */
    cg_rng drop = cg_rng_fork(o.seed, (uint64_t)dp_rank());
    drop.counter = cg_rng_get_state().offset;
    cg_module_set_rng(model, &drop);

    cg_trainer_options to = cg_trainer_defaults();
    to.loss = loss_kind;
    to.batch_size = o.batch;
    to.test_batch_size = o.test_batch;
    to.rng = cg_rng_new(o.seed);
    to.norm = norm;
    to.clip_grad_norm = o.clip;
    to.comm = dp_comm();
    save_ctx save = { .o = &o, .spec = spec, .norm = normtxt, .model = model, .opt = opt, .sched = &sched,
                      .drop = &drop, .loss = loss_kind };
    train_log tlog = train_log_new(prog, opt, train->n);
    tlog.metrics = mf;
    tlog.metrics_path = o.metrics;
    tlog.metrics_every = o.metrics_every;
    tlog.no_dropout = o.no_dropout;
    tlog.after_test = o.save ? save_after_test : NULL;
    tlog.after_step = fault_after_step;
    tlog.hook_ctx = &save;
    to.callbacks = train_log_callbacks(&tlog);
    if (!(trainer = cg_trainer_new(model, opt, train, test, &to))) FAIL("data loader");
    if (cg_trainer_set_scheduler(trainer, &sched, sched_per_step(&o) ? CG_SCHED_EVERY_STEP : sched_on_metric(&o)
                                 ? CG_SCHED_ON_TEST_LOSS : CG_SCHED_EVERY_EPOCH) != CG_OK ||
        cg_trainer_set_epoch(trainer, start_epoch) != CG_OK)
        FAIL("--schedule");

    if (start_epoch >= o.epochs)
        printf("Checkpoint is at epoch %lld; --epochs %lld leaves nothing to train\n",
               (long long)start_epoch, (long long)o.epochs);
    if (cg_trainer_fit(trainer, o.epochs) != CG_OK) {
        if (!tlog.printed) fprintf(stderr, "%s: %s\n", prog, cg_last_error());
        goto out;
    }
    if (cg_profile_enabled()) cg_profile_fprint(stdout);
    rc = 0;
out:
    if (mf && fclose(mf) != 0 && rc == 0) {
        fprintf(stderr, "%s: --metrics %s: closing failed: %s\n", prog, o.metrics, strerror(errno));
        rc = 1;
    }
    cg_safetensors_close(ck);
    cg_net_info_free(&info);
    free(spec);
    cg_trainer_free(trainer);
    cg_dataset_free(train);
    cg_dataset_free(test);
    cg_optim_free(opt);
    cg_module_free(model);
    cg_tape_free_all();
    dp_finalize(rc);
    return rc;
#undef FAIL
}
