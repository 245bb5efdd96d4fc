/* mnist-eval — evaluate a saved network (cgrad's checkpoint, which names its net spec, or a
 * PyTorch state_dict saved as safetensors: the seed net or --net) on the MNIST-format test set:
 * the test line, per-class accuracy and the confusion matrix. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "seed_net.h"

static const char *prog = "mnist-eval";

static void usage(FILE *f) {
    fprintf(f,
        "usage: mnist-eval --model PATH [options]\n"
        "Evaluates a checkpoint (safetensors) on the t10k-* test files in --data. The network is\n"
        "the one the checkpoint's metadata names (mnist-train saves it); for a file without one (a\n"
        "PyTorch state_dict), --net, or else the seed's CNN. Every tensor must match the network.\n\n"
        "  --model PATH           checkpoint to evaluate (required)\n"
        "  --net SPEC | @FILE     the network for a file that names none (see docs/nets.md)\n"
        "  --data DIR             data directory (default ./data/mnist if present, else\n"
        "                         /usr/share/datasets/fashion-mnist)\n"
        "  --batch-size N         evaluation batch (default 1000)\n"
        "  --threads N            threads (default: all cores)\n"
        "  --help                 this text\n");
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *data = NULL, *net = NULL;
    int64_t batch = 1000, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--model")) model_path = cli_str(prog, argc, argv, &i);
        else if (!strcmp(a, "--data")) data = cli_str(prog, argc, argv, &i);
        else if (!strcmp(a, "--net")) net = cli_str(prog, argc, argv, &i);
        else if (!strcmp(a, "--batch-size")) batch = cli_int(prog, argc, argv, &i, 1, 1 << 20);
        else if (!strcmp(a, "--threads")) threads = cli_int(prog, argc, argv, &i, 1, 4096);
        else cli_usage_error(prog, "unknown option '%s'", a);
    }
    if (!model_path) cli_usage_error(prog, "--model PATH is required");
    if (!data) data = cli_default_data_dir();
    cg_set_num_threads((int)threads);

    /* Everything main owns, released at `out` on success and on every error alike. */
    int rc = 1;
    cg_mnist_set test = { 0 };
    cg_loader *loader = NULL;
    cg_safetensors *st = NULL;
    cg_module *model = NULL;
    char *spec = NULL;
    cg_net_info info = { 0 };
    if (net && !(spec = cli_read_spec(prog, net))) goto out;
    if (cg_safetensors_open(model_path, &st) != CG_OK) {
        fprintf(stderr, "%s: --model %s: %s\n", prog, model_path, cg_last_error());
        goto out;
    }
    const char *saved = cg_safetensors_meta(st, "net"), *source = spec ? "--net" : "the seed net";
    if (saved && spec && strcmp(saved, spec) != 0) {
        fprintf(stderr, "%s: --net differs from the net spec saved in %s (leave --net out to use the file's)\n",
                prog, model_path);
        goto out;
    }
    if (saved) source = "the checkpoint's net spec";
    if (!spec && !(spec = strdup(saved ? saved : CG_SEED_NET_SPEC))) { fprintf(stderr, "%s: out of memory\n", prog); goto out; }

    cg_status lst = cg_mnist_load(data, false, &test);
    if (lst != CG_OK) {
        fprintf(stderr, "%s: loading the test set: %s%s\n", prog, cg_last_error(), cli_data_hint(lst));
        goto out;
    }
    if (!(model = cli_build_net(prog, source, spec, 1, test.images.rows, test.images.cols, &info))) goto out;
    if (cg_checkpoint_restore(st, model, NULL) != CG_OK) {
        fprintf(stderr, "%s: --model %s does not fit %s: %s\n", prog, model_path, source, cg_last_error());
        goto out;
    }
    cg_safetensors_close(st);
    st = NULL;
    printf("Model %s: %lld parameters (%s)\n", model_path, (long long)info.params, source);

    cg_loader_options lo = cg_loader_defaults();
    lo.batch_size = batch;
    lo.shuffle = false;
    loader = cg_loader_new(&test, &lo);
    eval_result r;
    if (!loader || evaluate(model, loader, &r) != CG_OK) {
        fprintf(stderr, "%s: evaluation: %s\n", prog, cg_last_error());
        goto out;
    }
    print_test_line(stdout, &r);

    printf("\nPer-class accuracy:\n");
    for (int c = 0; c < 10; c++) {
        int64_t total = 0;
        for (int k = 0; k < 10; k++) total += r.confusion[c][k];
        printf("  class %d: %5lld/%5lld (%5.1f%%)\n", c, (long long)r.confusion[c][c], (long long)total,
               total ? 100.0 * (double)r.confusion[c][c] / (double)total : 0.0);
    }
    printf("\nConfusion matrix (rows: true class, columns: predicted):\n      ");
    for (int k = 0; k < 10; k++) printf("%6d", k);
    printf("\n");
    for (int c = 0; c < 10; c++) {
        printf("  %2d: ", c);
        for (int k = 0; k < 10; k++) printf("%6lld", (long long)r.confusion[c][k]);
        printf("\n");
    }
    rc = 0;
out:
    cg_safetensors_close(st);
    cg_net_info_free(&info);
    free(spec);
    cg_loader_free(loader);
    cg_mnist_free(&test);
    cg_module_free(model);
    cg_tape_free_all();
    return rc;
}
