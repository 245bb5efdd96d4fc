/* mnist-train — train the seed network on MNIST-format data (the seed's final lesson).
 * Defaults are the seed's recipe: 2 epochs, batch 64, SGD lr 0.025 momentum 0.9, test batch
 * 1000, inputs normalised with mean 0.1307 and std 0.3081. */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char *prog = "mnist-train";

typedef struct options {
    const char *data, *save, *resume, *metrics;
    int64_t epochs, batch, test_batch, threads, metrics_every;
    double lr, momentum, gamma;
    uint64_t seed;
} options;

static void usage(FILE *f) {
    fprintf(f,
        "usage: mnist-train [options]\n"
        "Trains the seed CNN (conv 1->32, conv 32->64, max-pool, dropout, fc 9216->128, fc 128->10)\n"
        "on the four MNIST-format IDX files in --data (raw or .gz), testing after each epoch.\n\n"
        "  --data DIR             data directory (default ./data/mnist if present, else\n"
        "                         /usr/share/datasets/fashion-mnist)\n"
        "  --epochs N             epochs to train in all, counting resumed ones (default 2)\n"
        "  --batch-size N         training batch (default 64)\n"
        "  --test-batch-size N    evaluation batch (default 1000)\n"
        "  --lr X                 SGD learning rate (default 0.025)\n"
        "  --momentum X           SGD momentum (default 0.9)\n"
        "  --gamma X              StepLR decay per epoch (default 1: constant lr)\n"
        "  --seed N               seed for initialisation, shuffling and dropout (default 0)\n"
        "  --threads N            threads (default: all cores)\n"
        "  --save PATH            write a checkpoint (safetensors) after every epoch\n"
        "  --resume PATH          continue the run saved in PATH exactly\n"
        "  --metrics PATH         append CSV rows (per epoch, and every --metrics-every steps)\n"
        "  --metrics-every N      steps between metrics rows (default 100; 0: epochs only)\n"
        "  --help                 this text\n"
        "Environment: CG_PROFILE=1 prints a per-op time breakdown at the end.\n");
}

static options parse(int argc, char **argv) {
    options o = { .data = NULL, .epochs = 2, .batch = 64, .test_batch = 1000, .threads = 0,
                  .metrics_every = 100, .lr = 0.025, .momentum = 0.9, .gamma = 1.0, .seed = 0 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); exit(0); }
        else if (!strcmp(a, "--data")) o.data = cli_str(prog, argc, argv, &i);
        else if (!strcmp(a, "--epochs")) o.epochs = cli_int(prog, argc, argv, &i, 1, 100000);
        else if (!strcmp(a, "--batch-size")) o.batch = cli_int(prog, argc, argv, &i, 1, 1 << 20);
        else if (!strcmp(a, "--test-batch-size")) o.test_batch = cli_int(prog, argc, argv, &i, 1, 1 << 20);
        else if (!strcmp(a, "--lr")) o.lr = cli_float(prog, argc, argv, &i, 0.0, 1e3);
        else if (!strcmp(a, "--momentum")) o.momentum = cli_float(prog, argc, argv, &i, 0.0, 1.0);
        else if (!strcmp(a, "--gamma")) o.gamma = cli_float(prog, argc, argv, &i, 0.0, 1e3);
        else if (!strcmp(a, "--seed")) o.seed = (uint64_t)cli_int(prog, argc, argv, &i, 0, INT64_MAX);
        else if (!strcmp(a, "--threads")) o.threads = cli_int(prog, argc, argv, &i, 1, 4096);
        else if (!strcmp(a, "--save")) o.save = cli_str(prog, argc, argv, &i);
        else if (!strcmp(a, "--resume")) o.resume = cli_str(prog, argc, argv, &i);
        else if (!strcmp(a, "--metrics")) o.metrics = cli_str(prog, argc, argv, &i);
        else if (!strcmp(a, "--metrics-every")) o.metrics_every = cli_int(prog, argc, argv, &i, 0, INT64_MAX);
        else cli_usage_error(prog, "unknown option '%s'", a);
    }
    if (!o.data) o.data = cli_default_data_dir();
    return o;
}

static int fail(const char *what) {
    fprintf(stderr, "%s: %s: %s\n", prog, what, cg_last_error());
    return 1;
}

/* ---- metrics: CSV, appended; the header is written when the file is new or empty ---- */
static FILE *metrics_open(const char *path) {
    FILE *f = fopen(path, "a");
    if (!f) return NULL;
    if (ftell(f) == 0) fprintf(f, "kind,epoch,step,loss,accuracy,img_per_s,lr,seconds\n");
    return f;
}

static void metrics_row(FILE *f, const char *kind, int64_t epoch, int64_t step, double loss,
                        double acc, double ips, double lr, double secs) {
    if (!f) return;
    fprintf(f, "%s,%lld,%lld,%.6f,", kind, (long long)epoch, (long long)step, loss);
    if (acc >= 0) fprintf(f, "%.4f", acc);
    fprintf(f, ",%.1f,%.6g,%.3f\n", ips, lr, secs);
    fflush(f);
}

/* ---- checkpoint metadata: what a resumed run needs besides tensors ---- */
static cg_status save_checkpoint(const options *o, cg_module *model, cg_optimizer *opt,
                                 const cg_lr_scheduler *sched, int64_t epoch) {
    char ep[32], seed[32], rs[32], ro[32], se[32], bs[32];
    cg_rng_state r = cg_rng_get_state();
    snprintf(ep, sizeof ep, "%lld", (long long)epoch);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    snprintf(rs, sizeof rs, "%llu", (unsigned long long)r.seed);
    snprintf(ro, sizeof ro, "%llu", (unsigned long long)r.offset);
    snprintf(se, sizeof se, "%lld", (long long)sched->last_epoch);
    snprintf(bs, sizeof bs, "%lld", (long long)o->batch);
    cg_kv meta[] = { { "format", "cgrad-train-v1" }, { "model", "seed_net" }, { "epoch", ep },
                     { "seed", seed }, { "rng.seed", rs }, { "rng.offset", ro },
                     { "sched.last_epoch", se }, { "batch_size", bs }, { "cgrad_version", cg_version() } };
    return cg_checkpoint_save(o->save, model, opt, meta, (int64_t)(sizeof meta / sizeof meta[0]));
}

static bool meta_u64(const cg_safetensors *st, const char *key, unsigned long long *v) {
    const char *s = cg_safetensors_meta(st, key);
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    *v = strtoull(s, &end, 10);
    return !errno && !*end;
}

static int resume(options *o, cg_module *model, cg_optimizer *opt, cg_lr_scheduler *sched, int64_t *epoch) {
    cg_safetensors *st;
    if (cg_safetensors_open(o->resume, &st) != CG_OK) return fail("--resume");
    unsigned long long ep, seed, rs, ro, se, bs;
    if (!meta_u64(st, "epoch", &ep) || !meta_u64(st, "seed", &seed) || !meta_u64(st, "rng.seed", &rs) ||
        !meta_u64(st, "rng.offset", &ro) || !meta_u64(st, "sched.last_epoch", &se) ||
        !meta_u64(st, "batch_size", &bs)) {
        fprintf(stderr, "%s: --resume %s: not a mnist-train checkpoint (metadata missing)\n", prog, o->resume);
        cg_safetensors_close(st);
        return 1;
    }
    if (cg_checkpoint_restore(st, model, opt) != CG_OK) {
        fprintf(stderr, "%s: --resume %s: %s\n", prog, o->resume, cg_last_error());
        cg_safetensors_close(st);
        return 1;
    }
    cg_safetensors_close(st);
    if ((uint64_t)seed != o->seed)
        fprintf(stderr, "%s: note: continuing with the checkpoint's seed %llu\n", prog, seed);
    if ((int64_t)bs != o->batch)
        fprintf(stderr, "%s: note: --batch-size %lld differs from the checkpoint's %llu\n", prog,
                (long long)o->batch, bs);
    o->seed = seed;
    cg_rng_set_state((cg_rng_state){ rs, ro });
    sched->last_epoch = (int64_t)se;
    *epoch = (int64_t)ep;
    printf("Resumed %s at epoch %lld (step %lld)\n", o->resume, (long long)ep, (long long)opt->step_count);
    return 0;
}

int main(int argc, char **argv) {
    options o = parse(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);  /* logs show each line as it happens */
    cg_set_num_threads((int)o.threads);
    /* Everything main owns, released at `out` on success and on every error alike. */
    int rc = 1;
    cg_mnist_set train = { 0 }, test = { 0 };
    cg_module *model = NULL;
    cg_optimizer *opt = NULL;
    cg_loader *train_loader = NULL, *test_loader = NULL;
    FILE *mf = NULL;
#define FAIL(what) do { rc = fail(what); goto out; } while (0)
    printf("cgrad %s, %d threads, %s\n", cg_version(), cg_get_num_threads(), cg_blas_info());

    double t = cli_now();
    if (cg_mnist_load(o.data, true, &train) != CG_OK) FAIL("loading the training set");
    if (cg_mnist_load(o.data, false, &test) != CG_OK) FAIL("loading the test set");
    printf("Loaded %lld training and %lld test images from %s in %.2f s\n", (long long)train.images.n,
           (long long)test.images.n, o.data, cli_now() - t);

    cg_manual_seed(o.seed);
    model = cg_seed_net_new();
    if (!model) FAIL("building the model");
    cg_named_list params;
    if (cg_module_parameters(model, &params) != CG_OK) FAIL("parameters");
    cg_tensor **ps = malloc((size_t)params.n * sizeof *ps);
    if (!ps) { cg_named_list_free(&params); FAIL("memory"); }
    for (int64_t i = 0; i < params.n; i++) ps[i] = params.items[i].tensor;
    opt = cg_sgd_new(ps, params.n, (cg_sgd_options){ .lr = (float)o.lr, .momentum = (float)o.momentum });
    free(ps);
    cg_named_list_free(&params);
    if (!opt) FAIL("optimizer");
    cg_lr_scheduler sched = cg_step_lr(opt, 1, (float)o.gamma);

    int64_t start_epoch = 0;
    if (o.resume && resume(&o, model, opt, &sched, &start_epoch)) goto out;

    cg_loader_options lo = cg_loader_defaults();
    lo.batch_size = o.batch;
    lo.seed = o.seed;
    train_loader = cg_loader_new(&train, &lo);
    lo.batch_size = o.test_batch;
    lo.shuffle = false;
    test_loader = cg_loader_new(&test, &lo);
    if (!train_loader || !test_loader) FAIL("data loader");

    if (o.metrics && !(mf = metrics_open(o.metrics))) {
        fprintf(stderr, "%s: --metrics %s: cannot open for appending: %s\n", prog, o.metrics, strerror(errno));
        goto out;
    }
    if (start_epoch >= o.epochs)
        printf("Checkpoint is at epoch %lld; --epochs %lld leaves nothing to train\n",
               (long long)start_epoch, (long long)o.epochs);

    double run_t0 = cli_now();
    for (int64_t epoch = start_epoch + 1; epoch <= o.epochs; epoch++) {
        cg_module_train(model, true);
        if (cg_loader_set_epoch(train_loader, epoch - 1) != CG_OK) FAIL("loader");
        progress pb;
        progress_start(&pb, stdout, (int)epoch, train.images.n);
        int64_t done = 0, step = 0;
        double win_loss = 0, win_t0 = cli_now(), ep_t0 = win_t0;
        int64_t win_n = 0, win_imgs = 0;
        cg_tensor *x;
        const int64_t *y;
        while (cg_loader_next(train_loader, &x, &y)) {
            int64_t n = cg_tensor_size(x, 0);
            cg_optim_zero_grad(opt);
            cg_tensor *loss = cg_nll_loss(cg_module_forward(model, x), y, n, CG_REDUCTION_MEAN);
            if (cg_backward(loss) != CG_OK) FAIL("training step");
            if (cg_optim_step(opt) != CG_OK) FAIL("optimizer step");
            win_loss += cg_tensor_item(loss);
            win_n++;
            win_imgs += n;
            cg_tape_release();
            done += n;
            step++;
            progress_update(&pb, done);
            if (mf && o.metrics_every && step % o.metrics_every == 0) {
                double now = cli_now();
                metrics_row(mf, "step", epoch, opt->step_count, win_loss / (double)win_n, -1,
                            (double)win_imgs / (now - win_t0), opt->lr, now - run_t0);
                win_loss = 0;
                win_n = win_imgs = 0;
                win_t0 = now;
            }
        }
        progress_finish(&pb, done);
        double ep_secs = cli_now() - ep_t0;
        eval_result r;
        if (evaluate(model, test_loader, &r) != CG_OK) FAIL("evaluation");
        print_test_line(stdout, &r);
        fflush(stdout);
        double lr_used = opt->lr;
        cg_sched_step(&sched);
        metrics_row(mf, "epoch", epoch, opt->step_count, r.loss_sum / (double)(r.n ? r.n : 1),
                    (double)r.correct / (double)(r.n ? r.n : 1), (double)done / ep_secs, lr_used,
                    cli_now() - run_t0);
        if (o.save) {
            if (save_checkpoint(&o, model, opt, &sched, epoch) != CG_OK) FAIL("--save");
            printf("Saved %s (epoch %lld)\n", o.save, (long long)epoch);
        }
    }
    if (cg_profile_enabled()) cg_profile_fprint(stdout);
    rc = 0;
out:
    if (mf) fclose(mf);
    cg_loader_free(train_loader);
    cg_loader_free(test_loader);
    cg_mnist_free(&train);
    cg_mnist_free(&test);
    cg_optim_free(opt);
    cg_module_free(model);
    cg_tape_free_all();
    return rc;
#undef FAIL
}
