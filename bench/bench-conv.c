/* SPDX-License-Identifier: MIT */
/* bench-conv — conv2d forward, backward-data and backward-weight against the raw sgemm roofline.
 *   bench-conv [--threads N] [--reps R] [--csv] [--mode auto|serial|images] [--quick] [--only TEXT]
 *              [--block BYTES] [--no-dense] [--no-winograd] [--no-depthwise]
 *              [--shape N,C,H,W,OC,K[,STRIDE,PADDING,DILATION,GROUPS]]...
 * For each layer shape: median ms and GFLOP/s of each pass through the public API: forward is
 * cg_conv2d in no-grad mode; backward data (dx only) and backward weight (dw only) are
 * cg_backward(cg_sum(cg_conv2d(x, w, b))) with only x, or only w, requiring grad, the backward
 * alone timed (it includes the sum's backward: one pass writing dy = 1 over the output),
 * beside the GFLOP/s of cblas_sgemm alone on the same GEMM shapes (N calls of
 * [OC x OH*OW x C*KH*KW] (grouped: N*groups calls of one group's GEMM), scheduled like the conv: threads over images with single-threaded
 * sgemm, or one image at a time with threaded sgemm — the better of the two is the roofline),
 * and the conv workspace in bytes (the thread's scratch arena, cg_tape_scratch_bytes). Prints the
 * OpenBLAS build and kernel (cg_blas_info). Built on cgrad's public headers only (config.h's
 * switches), so it builds against an installed cgrad.
 * --csv: a header line and one row per layer (bench/compare_pytorch.py --conv reads it by name).
 * --mode, --block, --no-dense, --no-winograd: A/B switches (cgrad/config.h:
 * CG_CONFIG_CONV_SCHEDULE; CG_CONFIG_CONV_BLOCK_BYTES, forward im2col in row blocks;
 * CG_CONFIG_CONV_DENSE 0, the dense im2col/col2im off; CG_CONFIG_CONV_WINOGRAD CG_WINOGRAD_OFF,
 * 3x3 stride-1 layers by im2col instead of Winograd F(2x2, 3x3); CG_CONFIG_CONV_DEPTHWISE
 * CG_DEPTHWISE_OFF, depthwise layers by im2col + a GEMM per group instead of the direct kernels).
 * --only TEXT: only the layers whose name contains TEXT (e.g. "dw." for the depthwise ones).
 * --shape (repeatable): the user's own layers instead of the built-in list. Each layer's row is
 * followed by the algorithm cgrad runs for it (cg_conv2d_algorithm: Winograd, 1x1 GEMM, im2col +
 * GEMM, depthwise direct) and the engine of its GEMMs; the passes' GF/s stand beside the GEMM
 * ceiling (cblas_sgemm alone on the im2col GEMM shapes). */
#include "bench_util.h"
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cgrad/cgrad.h"

typedef struct layer {
    const char *name;
    int64_t n, c, h, w, oc, k, stride, pad, groups;  /* groups 0: 1 */
    int64_t dil;                                      /* 0: 1 */
} layer;

/* --shape N,C,H,W,OC,K[,STRIDE,PADDING,DILATION,GROUPS]: whole numbers, N..K >= 1, stride and
 * dilation >= 1 (default 1), padding >= 0 (default 0), groups >= 1 (default 1). false after
 * printing why. */
static bool parse_shape(const char *text, layer *L, char *name, size_t cap) {
    int64_t v[10] = { 0, 0, 0, 0, 0, 0, 1, 0, 1, 1 };
    int k = 0;
    const char *p = text;
    while (k < 10) {
        char *end;
        if (*p < '0' || *p > '9') break;
        long long x = strtoll(p, &end, 10);
        if (x > (1LL << 40)) break;
        v[k++] = x;
        p = end;
        if (*p != ',') break;
        p++;
    }
    bool ok = !*p && (k == 6 || k == 10);
    for (int i = 0; ok && i < 10; i++) ok = i == 7 ? v[i] >= 0 : v[i] >= 1;
    if (!ok) {
        fprintf(stderr, "bench-conv: --shape '%s': want N,C,H,W,OC,K or N,C,H,W,OC,K,STRIDE,PADDING,DILATION,GROUPS "
                "(whole numbers; padding >= 0, the others >= 1)\n", text);
        return false;
    }
    *L = (layer){ name, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[9], v[8] };
    snprintf(name, cap, "%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld", (long long)v[0], (long long)v[1],
             (long long)v[2], (long long)v[3], (long long)v[4], (long long)v[5], (long long)v[6], (long long)v[7],
             (long long)v[8], (long long)v[9]);
    return true;
}

static const layer LAYERS[] = {
    { "seed.conv1", 64, 1, 28, 28, 32, 3, 1, 0 },
    { "seed.conv2", 64, 32, 26, 26, 64, 3, 1, 0 },
    /* the BatchNorm residual net of docs/nets.md: padded and stride-2 3x3 convs */
    { "resnet.3x3p1.1-32.28", 64, 1, 28, 28, 32, 3, 1, 1 },
    { "resnet.3x3p1.32-32.28", 64, 32, 28, 28, 32, 3, 1, 1 },
    { "resnet.3x3s2p1.32-64.28", 64, 32, 28, 28, 64, 3, 2, 1 },
    { "resnet.3x3p1.64-64.14", 64, 64, 14, 14, 64, 3, 1, 1 },
    { "imagenet.7x7s2.3-64.224", 1, 3, 224, 224, 64, 7, 2, 3 },
    { "imagenet.3x3.64-64.56", 1, 64, 56, 56, 64, 3, 1, 1 },
    { "imagenet.3x3.128-128.28", 1, 128, 28, 28, 128, 3, 1, 1 },
    { "imagenet.3x3.256-256.14", 1, 256, 14, 14, 256, 3, 1, 1 },
    { "imagenet.1x1.256-64.56", 1, 256, 56, 56, 64, 1, 1, 0 },
    { "imagenet.7x7s2.3-64.224", 32, 3, 224, 224, 64, 7, 2, 3 },
    { "imagenet.3x3.64-64.56", 32, 64, 56, 56, 64, 3, 1, 1 },
    { "imagenet.3x3.128-128.28", 32, 128, 28, 28, 128, 3, 1, 1 },
    { "imagenet.3x3.256-256.14", 32, 256, 14, 14, 256, 3, 1, 1 },
    { "imagenet.1x1.256-64.56", 32, 256, 56, 56, 64, 1, 1, 0 },
    /* depthwise (groups == C): apps/nets/mobilenet_v2.net's two, and MobileNet-v2's 144-channel 28x28 */
    { "dw.3x3p1.64.14", 64, 64, 14, 14, 64, 3, 1, 1, 64 },
    { "dw.3x3s2p1.96.14", 64, 96, 14, 14, 96, 3, 2, 1, 96 },
    { "dw.3x3p1.144.28", 64, 144, 28, 28, 144, 3, 1, 1, 144 },
    { "dw.3x3s2p1.144.28", 64, 144, 28, 28, 144, 3, 2, 1, 144 },
};

static float *filled(int64_t n, unsigned seed) {
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p) { fprintf(stderr, "bench-conv: out of memory\n"); exit(1); }
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

/* Raw GEMMs of one conv pass: n calls of C[m,nn] = A[m,kk] · B[kk,nn] (transposes as the pass
 * uses them), per-image buffers, either over threads (single-threaded sgemm) or serially. */
static void raw_gemms(int pass, bool images, int64_t n, int64_t m, int64_t nn, int64_t kk,
                      const float *a, const float *b, float *c) {
    #pragma omp parallel for if (images) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        int t = omp_get_thread_num();
        const float *bi = b + (size_t)t * (size_t)(kk * nn);
        float *ci = c + (size_t)t * (size_t)(m * nn);
        if (pass == 0)       /* y[OC, ohw] = W[OC, ck] · cols[ck, ohw] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)nn, (int)kk, 1.0f, a, (int)kk,
                        bi, (int)nn, 0.0f, ci, (int)nn);
        else if (pass == 1)  /* dcols[ck, ohw] = Wᵀ · dy[OC, ohw]: m = ck, kk = OC */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)nn, (int)kk, 1.0f, a, (int)m,
                        bi, (int)nn, 0.0f, ci, (int)nn);
        else                 /* dW[OC, ck] += dy[OC, ohw] · cols[ck, ohw]ᵀ: nn = ck, kk = ohw */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nn, (int)kk, 1.0f, bi, (int)kk,
                        a, (int)kk, 1.0f, ci, (int)nn);
    }
}

static void set_or_die(cg_config_key key, int64_t value) {
    if (cg_config_set(key, value) != CG_OK) { fprintf(stderr, "bench-conv: %s\n", cg_last_error()); exit(2); }
}

/* One timed pass of the layer, through the public API (see the top): 0 forward, 1 backward
 * data, 2 backward weight. Seconds, or a negative value on error (cg_last_error says why). */
static double time_pass(int pass, cg_tensor *x, cg_tensor *w, cg_tensor *b, const cg_conv2d_params *p) {
    if (pass == 0) {
        bool prev = cg_set_grad_enabled(false);
        double t0 = bench_now();
        cg_tensor *y = cg_conv2d(x, w, b, p);
        double t = bench_now() - t0;
        cg_set_grad_enabled(prev);
        cg_tape_release();
        return y ? t : -1;
    }
    cg_tensor *loss = cg_sum(cg_conv2d(x, w, b, p));
    double t0 = bench_now();
    cg_status st = cg_backward(loss);
    double t = bench_now() - t0;
    cg_tape_release();
    return st == CG_OK ? t : -1;
}

int main(int argc, char **argv) {
    int threads = 0, reps = 0, csv = 0, quick = 0, n_shapes = 0;
    const char *only = NULL;
    enum { MAX_SHAPES = 64 };
    static layer shapes[MAX_SHAPES];
    static char shape_names[MAX_SHAPES][256];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--version")) { printf("%s (cgrad %s)\n%s\n", "bench-conv", cg_version(), cg_blas_info()); return 0; }
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--csv")) csv = 1;
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
            if (n_shapes == MAX_SHAPES) { fprintf(stderr, "bench-conv: at most %d --shape layers\n", MAX_SHAPES); return 2; }
            if (!parse_shape(argv[++i], &shapes[n_shapes], shape_names[n_shapes], sizeof shape_names[0])) return 2;
            n_shapes++;
        }
        else if (!strcmp(argv[i], "--no-depthwise")) set_or_die(CG_CONFIG_CONV_DEPTHWISE, CG_DEPTHWISE_OFF);
        else if (!strcmp(argv[i], "--block") && i + 1 < argc) set_or_die(CG_CONFIG_CONV_BLOCK_BYTES, atoll(argv[++i]));
        else if (!strcmp(argv[i], "--no-dense")) set_or_die(CG_CONFIG_CONV_DENSE, 0);
        else if (!strcmp(argv[i], "--no-winograd")) set_or_die(CG_CONFIG_CONV_WINOGRAD, CG_WINOGRAD_OFF);
        else if (!strcmp(argv[i], "--gemm-blas")) set_or_die(CG_CONFIG_GEMM_ENGINE, CG_GEMM_BLAS);
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            const char *m = argv[++i];
            if (strcmp(m, "auto") && strcmp(m, "serial") && strcmp(m, "images")) {
                fprintf(stderr, "bench-conv: --mode '%s' is not auto, serial or images\n", m);
                return 2;
            }
            set_or_die(CG_CONFIG_CONV_SCHEDULE, !strcmp(m, "serial") ? CG_CONV_SCHEDULE_SERIAL
                                                : !strcmp(m, "images") ? CG_CONV_SCHEDULE_IMAGES
                                                                       : CG_CONV_SCHEDULE_AUTO);
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bench-conv [--threads N] [--reps R] [--csv] [--mode auto|serial|images] [--quick] [--only TEXT]\n"
                   "                  [--block BYTES] [--no-dense] [--no-winograd] [--no-depthwise] [--gemm-blas]\n"
                   "                  [--shape N,C,H,W,OC,K[,STRIDE,PADDING,DILATION,GROUPS]]...\n"
                   "  --shape S       your own layer (repeatable) instead of the built-in list: batch N, C input\n"
                   "                  channels, HxW input, OC output channels, KxK kernel; stride, dilation and\n"
                   "                  groups default to 1, padding to 0. Each row is followed by the algorithm\n"
                   "                  cgrad runs for the layer and the engine of its GEMMs\n"
                   "  --only TEXT     only the layers whose name contains TEXT (\"dw.\": the depthwise ones)\n"
                   "  --mode          conv's schedule (CG_CONFIG_CONV_SCHEDULE; default auto)\n"
                   "  --block BYTES   forward im2col in row blocks of at most BYTES (CG_CONFIG_CONV_BLOCK_BYTES)\n"
                   "  --no-dense      the general im2col/col2im loop only (CG_CONFIG_CONV_DENSE 0)\n"
                   "  --no-winograd   3x3 stride-1 layers by im2col (CG_CONFIG_CONV_WINOGRAD off)\n"
                   "  --no-depthwise  depthwise layers by im2col + a GEMM per group (CG_CONFIG_CONV_DEPTHWISE off)\n"
                   "  --gemm-blas     every GEMM by the BLAS, none by LIBXSMM (CG_CONFIG_GEMM_ENGINE blas)\n");
            return 0;
        } else { fprintf(stderr, "bench-conv: unknown option '%s'\n", argv[i]); return 2; }
    }
    cg_set_num_threads(threads);
    int nt = cg_get_num_threads();
    if (csv)
        printf("layer,n,c,h,w,oc,k,stride,pad,fwd_ms,bwd_data_ms,bwd_weight_ms,fwd_gflops,bwd_data_gflops,"
               "bwd_weight_gflops,gemm_gflops,gemm_fwd_gflops,gemm_bwd_data_gflops,gemm_bwd_weight_gflops,"
               "workspace_bytes,threads,groups,dilation,algorithm\n");
    else
        printf("bench-conv: threads %d, %s\n%-26s %4s | %21s | %21s | %21s | %9s\n%-26s %4s | %10s %10s | %10s %10s | %10s %10s | %9s\n",
               nt, cg_blas_info(), "layer", "n", "forward", "backward data", "backward weight", "workspace",
               "", "", "ms", "GF/s(gemm)", "ms", "GF/s(gemm)", "ms", "GF/s(gemm)", "MiB");
    size_t n_layers = n_shapes ? (size_t)n_shapes : sizeof LAYERS / sizeof LAYERS[0];
    for (size_t li = 0; li < n_layers; li++) {
        const layer *L = n_shapes ? &shapes[li] : &LAYERS[li];
        if (quick && !n_shapes && L->n > 1 && L->n != 64) continue;
        if (only && !strstr(L->name, only)) continue;
        const int64_t G = L->groups > 0 ? L->groups : 1, D = L->dil > 0 ? L->dil : 1, cg = L->c / G, ocg = L->oc / G;
        cg_conv2d_params cp = cg_conv2d_defaults();
        cp.stride[0] = cp.stride[1] = L->stride;
        cp.padding[0] = cp.padding[1] = L->pad;
        cp.dilation[0] = cp.dilation[1] = D;
        cp.groups = G;
        /* The shape rules say whether the layer fits (a user's --shape may not), and what runs. */
        int64_t y_shape[4];
        cg_conv2d_algo algo;
        if (cg_conv2d_out_shape(4, CG_SHAPE(L->n, L->c, L->h, L->w), CG_SHAPE(L->oc, cg, L->k, L->k), &cp, y_shape) != CG_OK ||
            cg_conv2d_algorithm(CG_SHAPE(L->n, L->c, L->h, L->w), CG_SHAPE(L->oc, cg, L->k, L->k), &cp, &algo) != CG_OK) {
            fprintf(stderr, "bench-conv: %s: %s\n", L->name, cg_last_error());
            return 2;
        }
        int64_t oh = y_shape[2], ow = y_shape[3];
        int64_t ohw = oh * ow, ck = cg * L->k * L->k;  /* per group */
        int64_t nx = L->n * L->c * L->h * L->w, nw = L->oc * ck;
        double flop = 2.0 * (double)L->n * (double)L->oc * (double)ohw * (double)ck;  /* per pass */
        int r = reps > 0 ? reps : (flop * 3 > 4e10 ? 3 : flop * 3 > 4e9 ? 5 : 11);
        float *x = filled(nx, 1), *w = filled(nw, 2), *b = filled(L->oc, 3);
        cg_tensor *tx = cg_tensor_wrap(x, 4, CG_SHAPE(L->n, L->c, L->h, L->w));
        cg_tensor *tw = cg_tensor_wrap(w, 4, CG_SHAPE(L->oc, cg, L->k, L->k));
        cg_tensor *tb = cg_tensor_wrap(b, 1, CG_SHAPE(L->oc));
        if (!tx || !tw || !tb) { fprintf(stderr, "bench-conv: %s: %s\n", L->name, cg_last_error()); return 1; }
        double ms[3];
        cg_tape_free_all();  /* the scratch arena starts empty: its size below is this layer's */
        for (int pass = 0; pass < 3; pass++) {
            cg_tensor_set_requires_grad(tx, pass == 1);
            cg_tensor_set_requires_grad(tw, pass == 2);
            double *t = malloc((size_t)(r + 1) * sizeof *t);
            for (int i = -1; i < r; i++) {
                double s = time_pass(pass, tx, tw, tb, &cp);
                if (s < 0) {
                    fprintf(stderr, "bench-conv: %s: %s\n", L->name, cg_last_error());
                    return 1;
                }
                if (i >= 0) t[i] = s;
            }
            ms[pass] = 1e3 * bench_median(t, r);
            free(t);
        }
        int64_t ws = cg_tape_scratch_bytes();
        cg_tensor_free(tx); cg_tensor_free(tw); cg_tensor_free(tb);
        /* roofline: the same GEMMs, best of threads-over-images and serial-with-threaded-BLAS */
        double gemm[3];
        /* per thread: B and C of any pass are at most max(ck, OC) * max(ohw, ck) floats */
        int64_t big = (ck > ocg ? ck : ocg) * (ohw > ck ? ohw : ck);
        float *ga = filled(nw > ck * ohw ? nw : ck * ohw, 8), *gb = filled((int64_t)nt * big, 9);
        float *gc = filled((int64_t)nt * big, 10);
        for (int pass = 0; pass < 3; pass++) {
            int64_t m = pass == 1 ? ck : ocg, nn = pass == 2 ? ck : ohw, kk = pass == 0 ? ck : pass == 1 ? ocg : ohw;
            double best = 1e30;
            for (int images = 0; images < 2; images++) {
                if (images && L->n < 2) continue;
                double *t = malloc((size_t)(r + 1) * sizeof *t);
                for (int i = -1; i < r; i++) {
                    double t0 = bench_now();
                    raw_gemms(pass, images, L->n * G, m, nn, kk, ga, gb, gc);
                    if (i >= 0) t[i] = bench_now() - t0;
                }
                double med = bench_median(t, r);
                if (med < best) best = med;
                free(t);
            }
            gemm[pass] = flop / best / 1e9;
        }
        free(ga); free(gb); free(gc);
        double gf[3] = { flop / ms[0] / 1e6, flop / ms[1] / 1e6, flop / ms[2] / 1e6 };
        if (csv)
            printf("%s,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%.3f,%.3f,%.3f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%lld,%d,%lld,"
                   "%lld,%s\n",
                   L->name, (long long)L->n, (long long)L->c, (long long)L->h, (long long)L->w, (long long)L->oc,
                   (long long)L->k, (long long)L->stride, (long long)L->pad, ms[0], ms[1], ms[2], gf[0], gf[1], gf[2],
                   gemm[0], gemm[0], gemm[1], gemm[2], (long long)ws, nt, (long long)G, (long long)D, algo.algorithm);
        else
            printf("%-26s %4lld | %10.3f %5.0f(%3.0f) | %10.3f %5.0f(%3.0f) | %10.3f %5.0f(%3.0f) | %9.2f\n", L->name,
                   (long long)L->n, ms[0], gf[0], gemm[0], ms[1], gf[1], gemm[1], ms[2], gf[2], gemm[2],
                   (double)ws / (1 << 20));
        if (!csv)
            printf("%-26s      every pass: %s; GEMMs: %s\n", "", algo.algorithm,
                   strcmp(algo.gemm, "the BLAS") ? algo.gemm : "the BLAS above");
        fflush(stdout);
        free(x); free(w); free(b);
    }
    if (!csv)
        printf("GF/s: 2*N*OC*OH*OW*(C/groups)*KH*KW per pass / median time; (gemm): cblas_sgemm alone on the same shapes\n");
    cg_tape_free_all();
    return 0;
}
