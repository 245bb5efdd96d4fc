/* SPDX-License-Identifier: MIT */
/* mnist-eval — evaluate a saved network (cgrad's checkpoint, which names its net spec, or a
 * PyTorch state_dict saved as safetensors: the seed net or --net) on the MNIST-format test set:
 * the test line, per-class accuracy and the confusion matrix; or, with --predict, write its
 * outputs on unlabelled images to a CSV file. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "seed_net.h"

static const char *prog = "mnist-eval";

static void usage(FILE *f) {
    fprintf(f,
        "usage: mnist-eval --model PATH [options]\n"
        "Evaluates a checkpoint (safetensors) on a test set: the t10k-* files in --data, or the two\n"
        "files --test-images and --test-labels name (IDX or .npy of any element type, raw or .gz; images\n"
        "[N,H,W] or [N,C,H,W]). The network is the one the checkpoint's metadata names (mnist-train\n"
        "saves it); for a file without one (a PyTorch state_dict), --net, or else the seed's CNN.\n"
        "Every tensor must match the network, and the network the images' shape.\n"
        "With --predict IMAGES --out FILE.csv it needs no labels: it writes one row per image, its\n"
        "index, the predicted class (a column named class) and the class probabilities p_0.. (the\n"
        "softmax of a net trained on logits, the exp of log_softmax), or the raw outputs out_0.. of a\n"
        "net trained with mse; the checkpoint's normalisation is applied.\n\n"
        "  --model PATH           checkpoint to evaluate (required)\n"
        "  --net SPEC | @FILE     the network for a file that names none (see docs/nets.md)\n"
        "  --data DIR             data directory (default ./data/mnist if present, else\n"
        "                         /usr/share/datasets/fashion-mnist)\n"
        "  --test-images PATH     the test images, instead of --data (with --test-labels)\n"
        "  --test-labels PATH     the test labels, instead of --data (with --test-images)\n"
        "  --normalize ARG        MEAN,STD or M1,..,Mk/S1,..,Sk per channel, or none (default: the\n"
        "                         checkpoint's, as mnist-train saved them, else 0.1307,0.3081)\n"
        "  --classes FILE         class names, one a line, for the per-class table and the matrix\n"
        "                         (with --predict: a column `name` after `class`)\n"
        "  --predict IMAGES       predict on these images (IDX or .npy, raw or .gz) instead of testing\n"
        "  --out FILE             where --predict writes its CSV (- for stdout); written atomically\n"
        "  --batch-size N         evaluation batch (default 1000)\n"
        "  --threads N            threads (default: OMP_NUM_THREADS if set, else all cores)\n"
        "  --version              the version and the BLAS in use\n"
        "  --help                 this text\n"
        "Options take their value as --flag VALUE or --flag=VALUE.\n");
}

/* ",field", quoted as CSV (RFC 4180) when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) { fprintf(f, ",%s", s); return; }
    fputs(",\"", f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* The CSV so far (*f, a memory stream over *text) to the output: the writer, or stdout for "-";
 * then a fresh, empty stream. Keeps memory at one batch's rows. */
static bool flush_rows(FILE **f, char **text, size_t *len, cg_file_writer *w, const char *out_path) {
    bool ok = fclose(*f) == 0;
    *f = NULL;
    if (!ok) { fprintf(stderr, "%s: out of memory for the CSV\n", prog); return false; }
    ok = w ? cg_file_writer_write(w, *text, *len) == CG_OK : fwrite(*text, 1, *len, stdout) == *len;
    if (!ok) {
        if (w) fprintf(stderr, "%s: --out %s: %s\n", prog, out_path, cg_last_error());
        else fprintf(stderr, "%s: --out -: cannot write to stdout: %s\n", prog, strerror(errno));
        return false;
    }
    free(*text);
    *text = NULL;
    *len = 0;
    if (!(*f = open_memstream(text, len))) { fprintf(stderr, "%s: out of memory\n", prog); return false; }
    return true;
}

/* --predict: the net's outputs on every image of ds, one CSV row each, into out_path ("-":
 * stdout), streamed a batch at a time through the library's writer (the file appears, whole,
 * only on success). 0 on success, 1 on an error (said on stderr). */
static int predict_csv(cg_module *model, cg_dataset *ds, const cg_normalize *norm, int64_t batch, cg_loss_kind kind,
                       int64_t classes, const char *const *names, const char *out_path) {
    char *text = NULL;
    size_t len = 0;
    cg_file_writer *w = NULL;
    cg_loader *loader = NULL;
    double *p = malloc((size_t)classes * sizeof *p);
    FILE *f = open_memstream(&text, &len);
    int rc = 1;
    int64_t row = 0;
    if (!f || !p) { fprintf(stderr, "%s: out of memory\n", prog); goto done; }
    if (strcmp(out_path, "-") && cg_file_writer_open(out_path, &w) != CG_OK) {
        fprintf(stderr, "%s: --out %s: %s\n", prog, out_path, cg_last_error());
        goto done;
    }
    const char *col = kind == CG_LOSS_MSE ? "out" : "p";
    fprintf(f, "index,class%s", names ? ",name" : "");
    for (int64_t j = 0; j < classes; j++) fprintf(f, ",%s_%lld", col, (long long)j);
    fputc('\n', f);
    cg_loader_options lo = cg_loader_defaults();
    lo.batch_size = batch;
    lo.shuffle = false;
    lo.norm = *norm;
    if (!(loader = cg_loader_new(ds, &lo))) goto fail;
    cg_batch b;
    while (cg_loader_next(loader, &b)) {
        cg_tensor *y = cg_predict(model, b.x);
        if (!y) goto fail;
        const int64_t n = cg_tensor_size(y, 0);
        const float *v = cg_tensor_cdata(y);
        for (int64_t i = 0; i < n; i++, row++) {
            const float *o = v + i * classes;
            int64_t best = 0;
            for (int64_t j = 0; j < classes; j++) {
                if (!isfinite(o[j])) {
                    fprintf(stderr, "%s: image %lld of %s has a non-finite output %g (column %lld): the weights or "
                            "the data hold NaN/inf\n", prog, (long long)row, ds->name, (double)o[j], (long long)j);
                    cg_tensor_free(y);
                    goto done;
                }
                if (o[j] > o[best]) best = j;
            }
            /* Probabilities: exp of log-probabilities, or the softmax of logits (shifted by the max). */
            double sum = 0;
            for (int64_t j = 0; j < classes; j++) {
                p[j] = kind == CG_LOSS_MSE ? o[j] : kind == CG_LOSS_NLL ? exp(o[j]) : exp((double)o[j] - o[best]);
                sum += p[j];
            }
            fprintf(f, "%lld,%lld", (long long)row, (long long)best);
            if (names) csv_field(f, names[best]);
            for (int64_t j = 0; j < classes; j++) fprintf(f, ",%.6g", kind == CG_LOSS_CROSS_ENTROPY ? p[j] / sum : p[j]);
            fputc('\n', f);
        }
        cg_tensor_free(y);
        if (!flush_rows(&f, &text, &len, w, out_path)) goto done;
    }
    if (cg_loader_status(loader) != CG_OK) goto fail;
    if (!flush_rows(&f, &text, &len, w, out_path)) goto done;
    if (w) {
        cg_status st = cg_file_writer_commit(w);
        w = NULL;
        if (st != CG_OK) { fprintf(stderr, "%s: --out %s: %s\n", prog, out_path, cg_last_error()); goto done; }
        printf("Predicted %lld images of %s: %s\n", (long long)row, ds->name, out_path);
    } else if (fflush(stdout) != 0) {
        fprintf(stderr, "%s: --out -: cannot write to stdout: %s\n", prog, strerror(errno));
        goto done;
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "%s: prediction on %s: %s\n", prog, ds->name, cg_last_error());
done:
    cg_file_writer_abort(w);   /* the temporary goes; an existing file at out_path stays */
    if (f) fclose(f);
    free(text);
    free(p);
    cg_loader_free(loader);
    return rc;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *data = NULL, *net = NULL, *images = NULL, *labels = NULL, *norm_arg = NULL,
               *classes_path = NULL, *predict = NULL, *out_path = NULL;
    int64_t batch = 1000, threads = cli_default_threads();
    enum { O_MODEL = 256, O_DATA, O_TEST_IMAGES, O_TEST_LABELS, O_NORMALIZE, O_CLASSES, O_NET, O_BATCH, O_THREADS,
           O_PREDICT, O_OUT };
    static const struct option opts[] = {
        { "help", no_argument, 0, 'h' }, { "version", no_argument, 0, 'V' },
        { "model", required_argument, 0, O_MODEL }, { "data", required_argument, 0, O_DATA },
        { "test-images", required_argument, 0, O_TEST_IMAGES }, { "test-labels", required_argument, 0, O_TEST_LABELS },
        { "normalize", required_argument, 0, O_NORMALIZE }, { "classes", required_argument, 0, O_CLASSES },
        { "net", required_argument, 0, O_NET }, { "batch-size", required_argument, 0, O_BATCH },
        { "threads", required_argument, 0, O_THREADS }, { "predict", required_argument, 0, O_PREDICT },
        { "out", required_argument, 0, O_OUT }, { 0, 0, 0, 0 },
    };
    const char *flag;
    for (int c; (c = cli_next_opt(prog, argc, argv, opts, &flag)) != -1;) {
        switch (c) {
        case 'h': usage(stdout); return 0;
        case 'V': cli_version(prog);
        case O_MODEL: model_path = cli_path(prog, flag, optarg); break;
        case O_DATA: data = optarg; break;
        case O_TEST_IMAGES: images = cli_path(prog, flag, optarg); break;
        case O_TEST_LABELS: labels = cli_path(prog, flag, optarg); break;
        case O_NORMALIZE: norm_arg = optarg; break;
        case O_CLASSES: classes_path = cli_path(prog, flag, optarg); break;
        case O_NET: net = optarg; break;
        case O_BATCH: batch = cli_int(prog, flag, optarg, 1, 1 << 20); break;
        case O_THREADS: threads = cli_int(prog, flag, optarg, 1, 4096); break;
        case O_PREDICT: predict = cli_path(prog, flag, optarg); break;
        case O_OUT: out_path = cli_path(prog, flag, optarg); break;
        }
    }
    if (!model_path) cli_usage_error(prog, "--model PATH is required");
    if (!images != !labels) cli_usage_error(prog, "--test-images and --test-labels go together: give both");
    if (images && data) cli_usage_error(prog, "give --data DIR or --test-images/--test-labels, not both");
    if (predict && (images || data))
        cli_usage_error(prog, "--predict IMAGES replaces the test set: leave out --data and --test-images/--test-labels");
    if (!predict != !out_path) cli_usage_error(prog, "--predict IMAGES and --out FILE go together: give both");
    cg_normalize norm = cli_seed_normalize();
    if (norm_arg && !strcmp(norm_arg, "auto"))
        cli_usage_error(prog, "--normalize auto is for mnist-train (it saves the statistics in the checkpoint)");
    if (norm_arg && cg_normalize_parse(norm_arg, &norm) != CG_OK) cli_usage_error(prog, "--normalize: %s", cg_last_error());
    if (!data && !predict) data = cli_default_data_dir();
    cg_set_num_threads((int)threads);

    /* Everything main owns, released at `out` on success and on every error alike. */
    int rc = 1;
    cg_dataset *test = NULL;
    cg_loader *loader = NULL;
    cg_safetensors *st = NULL;
    cg_module *model = NULL;
    char *spec = NULL, **names = NULL;
    cg_confusion *confusion = NULL;
    cg_net_info info = { 0 };
    cg_run_info run = { 0 };
    if (net && !(spec = cli_read_spec(prog, net))) goto out;
    /* The file's net, normalisation and loss (a run file), or a plain state dict. */
    if (cg_run_info_load(model_path, &run) != CG_OK || cg_safetensors_open(model_path, &st) != CG_OK) {
        const char *e = cg_last_error();
        size_t pl = strlen(model_path);
        if (!strncmp(e, model_path, pl) && e[pl] == ':') fprintf(stderr, "%s: --model: %s\n", prog, e); /* named once */
        else fprintf(stderr, "%s: --model %s: %s\n", prog, model_path, e);
        goto out;
    }
    const char *source = spec ? "--net" : "the seed net";
    if (run.spec) source = "the checkpoint's net spec";
    if (!spec && !(spec = strdup(run.spec ? run.spec : CG_SEED_NET_SPEC))) { fprintf(stderr, "%s: out of memory\n", prog); goto out; }
    if ((run.known & CG_RUN_NORM) && !norm_arg) norm = run.config.norm;   /* the statistics training used */

    if (predict) test = cli_open_set(prog, "prediction", NULL, predict, NULL, false);
    else test = cli_open_set(prog, "test", data, images, labels, false);
    if (!test) goto out;
    int64_t chw[3];
    if (!cli_example_chw(prog, test, chw)) goto out;
    if (!(model = cli_build_net(prog, source, spec, chw[0], chw[1], chw[2], batch, test->name, &info))) goto out;
    if (net && run.spec && !cli_same_net(run.spec, spec, model)) {
        fprintf(stderr, "%s: --net differs from the net spec saved in %s (leave --net out to use the file's)\n",
                prog, model_path);
        goto out;
    }
    /* The loss training used, else the one that fits the net (auto). */
    cg_loss_kind loss_kind = cg_loss_resolve(model, run.known & CG_RUN_LOSS ? run.config.loss : CG_LOSS_AUTO);
    if (cg_checkpoint_restore(st, model, NULL) != CG_OK) {
        fprintf(stderr, "%s: --model %s does not fit %s: %s\n", prog, model_path, source, cg_last_error());
        goto out;
    }
    int64_t classes = cli_net_classes(prog, source, &info);
    if (!classes) goto out;
    if (predict) {
        if (classes_path && !(names = cli_read_classes(prog, classes_path, classes))) goto out;
        if (!cli_norm_fits(prog, norm_arg ? "--normalize" : "the checkpoint's normalize", &norm, chw[0], test->name))
            goto out;
        rc = predict_csv(model, test, &norm, batch, loss_kind, classes, (const char *const *)names, out_path);
        goto out;
    }
    if (cg_dataset_check_labels(test, classes) != CG_OK) {
        fprintf(stderr, "%s: %s\n", prog, cg_last_error());
        goto out;
    }
    if (classes_path && !(names = cli_read_classes(prog, classes_path, classes))) goto out;
    if (!cli_norm_fits(prog, norm_arg ? "--normalize" : "the checkpoint's normalize", &norm, chw[0], test->name))
        goto out;
    char normtxt[512];
    cg_normalize_format(&norm, normtxt, sizeof normtxt);
    printf("Model %s: %lld parameters (%s)\n", model_path, (long long)info.params, source);
    printf("Data %s: %lld images [%lld, %lld, %lld], %lld classes, normalize %s\n", test->name, (long long)test->n,
           (long long)chw[0], (long long)chw[1], (long long)chw[2], (long long)classes, normtxt);
    printf("Loss: %s%s\n", cg_loss_name(loss_kind), run.known & CG_RUN_LOSS ? "" : " (auto)");

    cg_loader_options lo = cg_loader_defaults();
    lo.batch_size = batch;
    lo.shuffle = false;
    lo.norm = norm;
    loader = cg_loader_new(test, &lo);
    cg_eval_result r;
    /* memory linear in the classes: a net with 20,000 outputs needs no 20,000^2 matrix */
    if (!(confusion = cg_confusion_new(classes))) {
        fprintf(stderr, "%s: %s\n", prog, cg_last_error());
        goto out;
    }
    if (!loader || cg_evaluate(model, loader, loss_kind, confusion, &r) != CG_OK) {
        fprintf(stderr, "%s: evaluation: %s\n", prog, cg_last_error());
        goto out;
    }
    print_test_line(stdout, &r);

    cg_confusion_fprint(stdout, confusion, (const char *const *)names);
    if (cg_profile_enabled()) cg_profile_fprint(stdout);
    rc = 0;
out:
    cg_safetensors_close(st);
    cg_run_info_free(&run);
    cg_net_info_free(&info);
    free(spec);
    free(names);
    cg_confusion_free(confusion);
    cg_loader_free(loader);
    cg_dataset_free(test);
    cg_module_free(model);
    cg_tape_free_all();
    return rc;
}
