/* SPDX-License-Identifier: MIT */
/* bench-train — training and evaluation throughput of a network (default: the seed net) on
 * synthetic [N,1,28,28] data.
 *   bench-train [--batch 64] [--eval-batch 1000] [--threads N] [--windows 5] [--steps 20]
 *               [--warmup 5] [--profile] [--no-fuse] [--json] [--net SPEC] [--no-dense] [--no-winograd]
 * Reports the median img/s over several timed windows after warm-up, the peak RSS, and (with
 * --profile, or CG_PROFILE=1) the per-op time breakdown. --no-fuse, --no-dense and --no-winograd
 * are A/B switches set through cgrad/config.h (CG_CONFIG_FUSION, CG_CONFIG_CONV_DENSE,
 * CG_CONFIG_CONV_WINOGRAD). Built on cgrad's public headers only. */
#include "bench_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <cgrad/cgrad.h>
#include "seed_net.h"

static void die(const char *what) {
    fprintf(stderr, "bench-train: %s: %s\n", what, cg_last_error());
    exit(1);
}

static long arg_long(int argc, char **argv, int *i, long lo, long hi) {
    if (*i + 1 >= argc) { fprintf(stderr, "bench-train: %s needs a value\n", argv[*i]); exit(2); }
    char *end;
    long v = strtol(argv[++*i], &end, 10);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "bench-train: %s: '%s' is not in %ld..%ld\n", argv[*i - 1], argv[*i], lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    long batch = 64, eval_batch = 1000, threads = 0, windows = 5, steps = 20, warmup = 5;
    int profile = 0, json = 0;
    const char *spec = CG_SEED_NET_SPEC;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--version")) { printf("%s (cgrad %s)\n%s\n", "bench-train", cg_version(), cg_blas_info()); return 0; }
        if (!strcmp(argv[i], "--batch")) batch = arg_long(argc, argv, &i, 1, 1 << 16);
        else if (!strcmp(argv[i], "--eval-batch")) eval_batch = arg_long(argc, argv, &i, 1, 1 << 16);
        else if (!strcmp(argv[i], "--threads")) threads = arg_long(argc, argv, &i, 1, 4096);
        else if (!strcmp(argv[i], "--windows")) windows = arg_long(argc, argv, &i, 1, 1000);
        else if (!strcmp(argv[i], "--steps")) steps = arg_long(argc, argv, &i, 1, 100000);
        else if (!strcmp(argv[i], "--warmup")) warmup = arg_long(argc, argv, &i, 0, 100000);
        else if (!strcmp(argv[i], "--profile")) profile = 1;
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--no-fuse")) cg_config_set(CG_CONFIG_FUSION, 0);
        else if (!strcmp(argv[i], "--no-dense")) cg_config_set(CG_CONFIG_CONV_DENSE, 0);
        else if (!strcmp(argv[i], "--no-winograd")) cg_config_set(CG_CONFIG_CONV_WINOGRAD, CG_WINOGRAD_OFF);
        else if (!strcmp(argv[i], "--gemm-blas")) cg_config_set(CG_CONFIG_GEMM_ENGINE, CG_GEMM_BLAS);
        else if (!strcmp(argv[i], "--net") && i + 1 < argc) spec = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bench-train [--batch 64] [--eval-batch 1000] [--threads N] [--windows 5]\n"
                   "                   [--steps 20] [--warmup 5] [--profile] [--json]\n"
                   "                   [--no-fuse]    (Sequential's layer fusion off: CG_CONFIG_FUSION 0, A/B)\n"
                   "                   [--net SPEC]   (default: the seed net; input [N,1,28,28])\n"
                   "                   [--no-dense]   (conv's dense im2col/col2im loops off:\n"
                   "                                  CG_CONFIG_CONV_DENSE 0, A/B)\n"
                   "                   [--no-winograd] (3x3 stride-1 convs by im2col, not Winograd:\n"
                   "                                  CG_CONFIG_CONV_WINOGRAD off, A/B)\n"
                   "                   [--gemm-blas]  (every GEMM by the BLAS, none by LIBXSMM:\n"
                   "                                  CG_CONFIG_GEMM_ENGINE blas, A/B)\n");
            return 0;
        } else { fprintf(stderr, "bench-train: unknown option '%s'\n", argv[i]); return 2; }
    }
    cg_set_num_threads((int)threads);
    cg_manual_seed(1);
    cg_module *net = cg_net_from_spec(spec, 3, CG_SHAPE(1, 28, 28), NULL);
    if (!net) die("--net");
    cg_named_list pl;
    if (cg_module_parameters(net, &pl) != CG_OK) die("parameters");
    cg_tensor **ps = malloc((size_t)pl.n * sizeof *ps);
    for (int64_t i = 0; i < pl.n; i++) ps[i] = pl.items[i].tensor;
    cg_optimizer *opt = cg_sgd_new(ps, pl.n, (cg_sgd_options){ .lr = 0.025f, .momentum = 0.9f });
    if (!opt) die("optimizer");

    cg_tensor *x = cg_tensor_randn(4, CG_SHAPE(batch, 1, 28, 28), NULL);
    cg_tensor *xe = cg_tensor_randn(4, CG_SHAPE(eval_batch, 1, 28, 28), NULL);
    int64_t *y = malloc((size_t)(batch > eval_batch ? batch : eval_batch) * sizeof *y);
    for (long i = 0; i < (batch > eval_batch ? batch : eval_batch); i++) y[i] = i % 10;
    cg_tensor *target = y ? cg_tensor_wrap_data(CG_I64, y, 1, CG_SHAPE(batch)) : NULL;  /* borrows y */
    if (!x || !xe || !y || !target) die("data");

    /* Training. */
    double *ips = malloc((size_t)windows * sizeof *ips);
    for (long w = -1; w < windows; w++) {
        long n_steps = w < 0 ? warmup : steps;
        if (w == 0 && (profile || cg_profile_enabled())) { cg_profile_enable(true); cg_profile_reset(); }
        double t0 = bench_now();
        for (long s = 0; s < n_steps; s++) {
            cg_optim_zero_grad(opt);
            cg_tensor *loss = cg_nll_loss(cg_module_forward(net, x), target, CG_REDUCTION_MEAN);
            if (cg_backward(loss) != CG_OK) die("backward");
            if (cg_optim_step(opt) != CG_OK) die("step");
            cg_tape_release();
        }
        if (w >= 0) ips[w] = (double)(n_steps * batch) / (bench_now() - t0);
    }
    double train_ips = bench_median(ips, (int)windows);
    if (cg_profile_enabled()) {
        printf("per-op time, training (%ld windows x %ld steps):\n", windows, steps);
        cg_profile_fprint(stdout);
        cg_profile_reset();
    }

    /* Evaluation: no-grad, eval mode. */
    cg_module_train(net, false);
    bool prev = cg_set_grad_enabled(false);
    long eval_steps = steps / 4 > 0 ? steps / 4 : 1;
    for (long w = -1; w < windows; w++) {
        long n_steps = w < 0 ? 1 : eval_steps;
        if (w == 0 && cg_profile_enabled()) cg_profile_reset();  /* not the warm-up pass */
        double t0 = bench_now();
        for (long s = 0; s < n_steps; s++) {
            if (!cg_module_forward(net, xe)) die("eval forward");
            cg_tape_release();
        }
        if (w >= 0) ips[w] = (double)(n_steps * eval_batch) / (bench_now() - t0);
    }
    cg_set_grad_enabled(prev);
    double eval_ips = bench_median(ips, (int)windows);
    if (cg_profile_enabled()) { printf("per-op time, evaluation:\n"); cg_profile_fprint(stdout); }

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (json)
        printf("{\"threads\": %d, \"batch\": %ld, \"train_img_s\": %.1f, \"eval_batch\": %ld, "
               "\"eval_img_s\": %.1f, \"peak_rss_mb\": %.1f, \"fusion\": %s, \"blas\": \"%s\"}\n",
               cg_get_num_threads(), batch, train_ips, eval_batch, eval_ips, ru.ru_maxrss / 1024.0,
               cg_config_get(CG_CONFIG_FUSION) ? "true" : "false", cg_blas_info());
    else
        printf("threads %d  %s  fusion %s\ntrain: batch %ld  %.1f img/s (median of %ld windows)\n"
               "eval:  batch %ld  %.1f img/s\npeak RSS: %.1f MB\n",
               cg_get_num_threads(), cg_blas_info(), cg_config_get(CG_CONFIG_FUSION) ? "on" : "off", batch, train_ips,
               windows, eval_batch, eval_ips, ru.ru_maxrss / 1024.0);
    free(ips);
    cg_tensor_free(target);
    free(y);
    free(ps);
    cg_named_list_free(&pl);
    cg_tensor_free(x);
    cg_tensor_free(xe);
    cg_optim_free(opt);
    cg_module_free(net);
    cg_tape_free_all();
    return 0;
}
