/* SPDX-License-Identifier: MIT */
/* mnist-train — train a network (the seed's by default, or any --net SPEC) on MNIST-format data
 * (the seed's final lesson). Defaults are the seed's recipe: 2 epochs, batch 64, SGD lr 0.025
 * momentum 0.9, test batch 1000, inputs normalised with mean 0.1307 and std 0.3081. The run is
 * the library's (cg_run_config, cg_trainer_new_run, cg_trainer_save / cg_trainer_resume); this
 * program turns flags into a recipe and prints. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "dp.h"
#include "seed_net.h"
#include "train_log.h"

static const char *prog = "mnist-train";
typedef struct options {
    const char *data, *save, *resume, *metrics, *net, *normalize;
    const char *train_images, *train_labels, *test_images, *test_labels;
    cg_run_config run;       /* the recipe the flags give */
    uint32_t given;          /* CG_RUN_* bits of the flags given */
    bool norm_auto, no_dropout, summary, restart_schedule;
    int64_t threads, metrics_every;
} options;

static void usage(FILE *f) {
    fprintf(f,
        "usage: mnist-train [options]\n"
        "Trains a network on IDX or NumPy .npy files (raw or .gz): the four MNIST-format files in --data, or the\n"
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
        "  --normalize ARG        x = (v - mean) / std: MEAN,STD for every channel, M1,..,Mk/S1,..,Sk\n"
        "                         per channel, auto (computed from the training set) or none;\n"
        "                         default MNIST's 0.1307,0.3081 for 1x28x28 images, auto for any\n"
        "                         other shape; saved in the checkpoint, where mnist-eval and\n"
        "                         --resume read it\n"
        "  --net SPEC | @FILE     the network as a spec (see docs/nets.md), or read from FILE;\n"
        "                         --resume takes it from the checkpoint\n"
        "  --summary              print the network's summary (layers, shapes, parameters) and exit\n"
        "  --epochs N             epochs to train in all, counting resumed ones (default 2)\n"
        "  --batch-size N         training batch (default 64)\n"
        "  --test-batch-size N    evaluation batch (default 1000)\n"
        "  --lr X                 SGD learning rate (default 0.025); with --resume, replaces the\n"
        "                         checkpoint's from the first resumed epoch on (a note says so)\n"
        "  --momentum X           SGD momentum (default 0.9; an error with adam and adamw)\n"
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
        "  --warmup N             N epochs of linear warmup from lr/3 before the schedule (at\n"
        "                         most --epochs)\n"
        "  --clip-grad-norm X     scale the gradients to a total L2 norm of at most X\n"
        "  --loss NAME            auto (default: nll when the net ends in log_softmax, else\n"
        "                         cross_entropy), nll, cross_entropy or mse (on one-hot targets);\n"
        "                         checked against the net's output before the first step\n"
        "  --seed N               seed for initialisation, shuffling and dropout (default 0)\n"
        "  --threads N            threads (default: OMP_NUM_THREADS if set, else all cores; per\n"
        "                         rank under mpirun)\n"
        "  --no-dropout           train with dropout off (exact comparisons, e.g. 1 vs K ranks)\n"
        "  --save PATH            write a checkpoint (safetensors) after every epoch\n"
        "  --resume PATH          continue the run saved in PATH exactly (its net, optimizer,\n"
        "                         schedule, loss, seed and normalisation; --epochs, --lr,\n"
        "                         --batch-size, --test-batch-size and --normalize may change, with a\n"
        "                         note; --optimizer, --momentum, --weight-decay, --schedule, --gamma,\n"
        "                         --warmup, --clip-grad-norm, --loss and --seed, if given, must equal\n"
        "                         the checkpoint's, else the resume is refused)\n"
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

static options parse(int argc, char **argv) {
    options o = { .threads = cli_default_threads(), .metrics_every = 100, .run = cg_run_defaults() };
    cg_run_config *r = &o.run;
    r->lr = 0.025;
    r->momentum = 0.9;
    r->epochs = 2;
    r->norm = cli_seed_normalize();
    enum { O_DATA = 256, O_TRAIN_IMAGES, O_TRAIN_LABELS, O_TEST_IMAGES, O_TEST_LABELS, O_NORMALIZE, O_EPOCHS,
           O_BATCH, O_TEST_BATCH, O_LR, O_MOMENTUM, O_GAMMA, O_SEED, O_THREADS, O_SAVE, O_RESUME, O_METRICS,
           O_METRICS_EVERY, O_NO_DROPOUT, O_NET, O_SUMMARY, O_OPTIMIZER, O_WEIGHT_DECAY, O_NO_DECAY_BN, O_SCHEDULE,
           O_WARMUP, O_CLIP, O_LOSS, O_RESTART_SCHEDULE };
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
        { "restart-schedule", no_argument, 0, O_RESTART_SCHEDULE }, { 0, 0, 0, 0 },
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
        case O_NORMALIZE:
            o.normalize = optarg;
            o.given |= CG_RUN_NORM;
            if (!strcmp(optarg, "auto")) o.norm_auto = true;
            else if (cg_normalize_parse(optarg, &r->norm) != CG_OK) cli_usage_error(prog, "--normalize: %s", cg_last_error());
            break;
        case O_EPOCHS: r->epochs = cli_int(prog, flag, optarg, 1, 100000); o.given |= CG_RUN_EPOCHS; break;
        case O_BATCH: r->batch_size = cli_int(prog, flag, optarg, 1, 1 << 20); o.given |= CG_RUN_BATCH; break;
        case O_TEST_BATCH: r->test_batch_size = cli_int(prog, flag, optarg, 1, 1 << 20); o.given |= CG_RUN_TEST_BATCH; break;
        case O_LR: r->lr = cli_float(prog, flag, optarg, 0.0, 1e3); o.given |= CG_RUN_LR; break;
        case O_MOMENTUM: r->momentum = cli_float(prog, flag, optarg, 0.0, 1.0); o.given |= CG_RUN_MOMENTUM; break;
        case O_GAMMA: r->gamma = cli_float(prog, flag, optarg, 0.0, 1e3); o.given |= CG_RUN_GAMMA; break;
        case O_OPTIMIZER:
            if (cg_optim_kind_parse(optarg, &r->optimizer) != CG_OK)
                cli_usage_error(prog, "--optimizer: '%s' is not sgd, adam or adamw", optarg);
            o.given |= CG_RUN_OPTIMIZER;
            break;
        case O_WEIGHT_DECAY: r->weight_decay = cli_float(prog, flag, optarg, 0.0, 1e3); o.given |= CG_RUN_WEIGHT_DECAY; break;
        case O_NO_DECAY_BN: r->no_decay_bias_norm = true; o.given |= CG_RUN_NO_DECAY; break;
        case O_SCHEDULE:
            if (cg_run_parse_schedule(optarg, r) != CG_OK) cli_usage_error(prog, "--schedule: %s", cg_last_error());
            o.given |= CG_RUN_SCHEDULE;
            break;
        case O_WARMUP: r->warmup = cli_int(prog, flag, optarg, 1, 100000); o.given |= CG_RUN_WARMUP; break;
        case O_CLIP: r->clip_grad_norm = cli_float(prog, flag, optarg, 1e-30, 1e30); o.given |= CG_RUN_CLIP; break;
        case O_SEED: r->seed = (uint64_t)cli_int(prog, flag, optarg, 0, INT64_MAX); o.given |= CG_RUN_SEED; break;
        case O_LOSS:
            if (cg_loss_parse(optarg, &r->loss) != CG_OK) cli_usage_error(prog, "--loss: %s", cg_last_error());
            o.given |= CG_RUN_LOSS;
            break;
        case O_THREADS: o.threads = cli_int(prog, flag, optarg, 1, 4096); break;
        case O_SAVE: o.save = cli_path(prog, flag, optarg); break;
        case O_RESUME: o.resume = optarg; break;
        case O_METRICS: o.metrics = cli_path(prog, flag, optarg); break;
        case O_METRICS_EVERY: o.metrics_every = cli_int(prog, flag, optarg, 0, INT64_MAX); break;
        case O_NO_DROPOUT: o.no_dropout = true; break;
        case O_NET: o.net = optarg; break;
        case O_SUMMARY: o.summary = true; break;
        case O_RESTART_SCHEDULE: o.restart_schedule = true; break;
        }
    }
    const char *four[4] = { o.train_images, o.train_labels, o.test_images, o.test_labels };
    const char *flags[4] = { "--train-images", "--train-labels", "--test-images", "--test-labels" };
    int given = 0;
    for (int k = 0; k < 4; k++) given += four[k] != NULL;
    for (int k = 0; given && k < 4; k++)
        if (!four[k]) cli_usage_error(prog, "%s is missing: the four data files go together", flags[k]);
    if (given && o.data) cli_usage_error(prog, "give --data DIR or the four data files, not both");
    if ((o.given & CG_RUN_MOMENTUM) && r->optimizer != CG_OPTIM_SGD)
        cli_usage_error(prog, "--momentum is SGD's; --optimizer %s takes none (its betas are PyTorch's defaults)",
                        cg_optim_kind_name(r->optimizer));
    if (cg_run_check(r) != CG_OK) cli_usage_error(prog, "%s", cg_last_error());
    if (!o.data) o.data = cli_default_data_dir();
    return o;
}

static int fail(const char *what) {
    fprintf(stderr, "%s: %s: %s\n", prog, what, cg_last_error());
    return 1;
}
/* Each line of the library's note, as "prog: note: line". */
static void notes(const char *note) {
    for (const char *p = note; *p;) {
        size_t n = strcspn(p, "\n");
        fprintf(stderr, "%s: note: %.*s\n", prog, (int)n, p);
        p += n + (p[n] == '\n');
    }
}

/* ---- the training log's hooks: --save after each epoch's test line, the MPI test's fault ---- */
typedef struct save_ctx { const char *path; cg_trainer *trainer; } save_ctx;
static cg_status save_after_test(void *ctx, const cg_train_event *e) {
    save_ctx *r = ctx;
    if (cg_trainer_save(r->trainer, r->path) != CG_OK) {
        fprintf(stderr, "%s: --save: %s\n", prog, cg_last_error());
        return CG_EIO;
    }
    printf("Saved %s (epoch %lld)\n", r->path, (long long)e->epoch);
    return CG_OK;
}
static cg_status fault_after_step(void *ctx, const cg_train_event *e) {
    (void)ctx;
    dp_test_fault(prog, e->step);
    return CG_OK;
}

int main(int argc, char **argv) {
    options o = parse(argc, argv);
    cg_run_config *r = &o.run;
    setvbuf(stdout, NULL, _IOLBF, 0);  /* logs show each line as it happens */
    dp_init(prog, &argc, &argv);
    cg_set_num_threads((int)o.threads);
    /* Everything main owns, released at `out` on success and on every error alike. */
    int rc = 1;
    cg_dataset *train = NULL, *test = NULL;
    cg_module *model = NULL;
    cg_trainer *trainer = NULL;
    FILE *mf = NULL;
    char *spec = NULL, note[1024], resume[4200];
    snprintf(resume, sizeof resume, "--resume %s", o.resume ? o.resume : "");
    cg_net_info info = { 0 };
    cg_run_info saved = { 0 };
#define FAIL(what) do { rc = fail(what); goto out; } while (0)
    printf("cgrad %s, %d thread%s, %s\n", cg_version(), cg_get_num_threads(), cg_get_num_threads() == 1 ? "" : "s",
           cg_blas_info());
    if (dp_size() > 1)
        printf("Data-parallel: %d ranks x %d threads, global batch %lld (%lld per rank)\n", dp_size(),
               cg_get_num_threads(), (long long)r->batch_size, (long long)(r->batch_size / dp_size()));
    /* Outputs are checked before anything is loaded or trained: rank 0 writes them. Ctrl-C during
     * a save must not leave its temporary behind: the library defers SIGINT/SIGTERM/SIGHUP then. */
    if (dp_rank() == 0 && !o.summary) {
        if (o.save && !cli_save_path_ok(prog, o.save)) goto out;
        if (o.save) cg_safetensors_set_defer_signals(true);
        if (o.metrics && !(mf = metrics_open(prog, o.metrics))) goto out;
    }
    /* The network: the checkpoint's spec when resuming, else --net, else the seed net. */
    const char *source = o.net ? "--net" : "the seed net";
    if (o.net && !(spec = cli_read_spec(prog, o.net))) goto out;
    if (o.resume) {
        if (cg_run_info_load(o.resume, &saved) != CG_OK) FAIL("--resume");   /* the message names the file */
        if (!saved.has_run) {
            fprintf(stderr, "%s: --resume %s: not a run file of mnist-train or cg_trainer_save (metadata 'format' is "
                    "'%s'): a state dict holds weights only: evaluate it with mnist-eval\n", prog, o.resume, saved.format);
            goto out;
        }
        if (saved.spec && !spec) {
            if (!(spec = strdup(saved.spec))) FAIL("memory");
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
    int64_t chw[3];
    if (!cli_sets_chw(prog, train, test, chw)) goto out;
    /* The seed's constants are MNIST's: other data (any shape but 1x28x28) without --normalize
     * gets its own statistics, and the line below says so. */
    const bool seed_shaped = chw[0] == 1 && chw[1] == 28 && chw[2] == 28;
    const bool implicit_auto = !o.normalize && !o.resume && !seed_shaped;
    if ((o.norm_auto || implicit_auto) && cg_dataset_stats(train, &r->norm) != CG_OK) FAIL("--normalize auto");
    /* A resumed run is the file's, with what the flags may change (cg_run_config_resume). */
    if (o.resume && cg_run_config_resume(&saved, r, o.given, r, note, sizeof note) != CG_OK) FAIL(resume);
    if (o.resume) notes(note);
    const char *norm_src = o.normalize ? (o.norm_auto ? "auto, from the training set" : "--normalize")
                           : o.resume ? "the --resume checkpoint"
                           : implicit_auto ? "auto, from the training set: the seed's 0.1307,0.3081 are for 1x28x28 "
                                             "MNIST-format images; --normalize to choose"
                                           : "the default, MNIST's";
    if (!cli_norm_fits(prog, o.normalize ? "--normalize" : "the checkpoint's normalize", &r->norm, chw[0], train->name))
        goto out;
    char normtxt[512];
    cg_normalize_format(&r->norm, normtxt, sizeof normtxt);

    cg_manual_seed(r->seed);
    /* The largest forward a rank runs: a training batch (its share) or an evaluation batch. */
    const int64_t per_rank = r->batch_size / dp_size(), forward_batch = per_rank > r->test_batch_size ? per_rank
                                                                                                      : r->test_batch_size;
    if (!(model = cli_build_net(prog, source, spec, chw[0], chw[1], chw[2], forward_batch, train->name, &info)))
        goto out;
    if (o.net && saved.spec && !cli_same_net(saved.spec, spec, model)) {
        fprintf(stderr, "%s: --net differs from the net spec saved in %s (leave --net out to resume the file's)\n",
                prog, o.resume);
        goto out;
    }
    int64_t classes = cli_net_classes(prog, source, &info);
    if (!classes) goto out;
    if (cg_dataset_check_labels(train, classes) != CG_OK || cg_dataset_check_labels(test, classes) != CG_OK) FAIL("data");
    printf("Net (%s), input [N,%lld,%lld,%lld], %lld classes, normalize %s (%s):\n", source, (long long)chw[0],
           (long long)chw[1], (long long)chw[2], (long long)classes, normtxt, norm_src);
    cg_net_info_fprint(stdout, &info);
    if (o.summary) { rc = 0; goto out; }
    cg_loss_kind loss = cg_loss_resolve(model, r->loss);
    printf("Loss: %s%s\n", cg_loss_name(loss), r->loss != CG_LOSS_AUTO ? "" : loss == CG_LOSS_NLL
           ? " (auto: the net ends in log_softmax)" : " (auto: the net does not end in log_softmax)");
    if (r->schedule == CG_SCHED_PLATEAU && dp_size() > 1) {
        fprintf(stderr, "%s: --schedule plateau follows rank 0's test loss; it does not run under mpirun\n", prog);
        goto out;
    }
    train_log tlog = train_log_new(prog, NULL, train->n);
    save_ctx save = { .path = o.save };
    tlog.metrics = mf;
    tlog.metrics_path = o.metrics;
    tlog.metrics_every = o.metrics_every;
    tlog.no_dropout = o.no_dropout;
    tlog.after_test = o.save ? save_after_test : NULL;
    tlog.after_step = fault_after_step;
    tlog.hook_ctx = &save;
    cg_train_callbacks cb = train_log_callbacks(&tlog);
    if (!(trainer = save.trainer = cg_trainer_new_run(model, train, test, r, dp_comm(), &cb))) FAIL("the run");
    tlog.opt = cg_trainer_optimizer(trainer);
    if (o.resume) {
        cg_resume_options ro = { .new_lr = o.given & CG_RUN_LR, .replan = o.restart_schedule,
                                 .replan_flag = "--restart-schedule" };
        if (cg_trainer_resume(trainer, o.resume, &ro, note, sizeof note) != CG_OK) FAIL("--resume");
        notes(note);
        printf("Resumed %s at epoch %lld (step %lld)\n", o.resume, (long long)cg_trainer_epoch(trainer),
               (long long)tlog.opt->step_count);
    }
    if (dp_check_agreement(r, o.no_dropout, spec, train, test, cg_trainer_epoch(trainer), tlog.opt) != CG_OK) {
        if (dp_rank() == 0) fprintf(stderr, "%s: %s\n", prog, cg_last_error());
        goto out;
    }
    if (dp_sync_model(model) != CG_OK) FAIL("broadcasting the model");
    if (cg_trainer_epoch(trainer) >= r->epochs)
        printf("Checkpoint is at epoch %lld; --epochs %lld leaves nothing to train\n",
               (long long)cg_trainer_epoch(trainer), (long long)r->epochs);
    if (cg_trainer_fit(trainer, r->epochs) != CG_OK) {
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
    cg_run_info_free(&saved);
    cg_net_info_free(&info);
    free(spec);
    cg_trainer_free(trainer);
    cg_dataset_free(train);
    cg_dataset_free(test);
    cg_module_free(model);
    cg_tape_free_all();
    dp_finalize(rc);
    return rc;
#undef FAIL
}
