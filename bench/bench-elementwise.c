/* SPDX-License-Identifier: MIT */
/* bench/bench-elementwise.c — where does an OpenMP elementwise loop start to pay?
 *
 * For n = 1K .. 4M floats, times the relu and add kernels (the loops cgrad's ops run, same
 * pragmas) once forced serial (if(parallel: 0)) and once on the team, each the median of many
 * repetitions, and prints serial/parallel. The crossover is the smallest n from which the
 * parallel loop is faster for every larger n too; CG_OMP_MIN in lib/cg_internal.h should sit
 * near it.
 *
 *   OMP_NUM_THREADS=2 OMP_PROC_BIND=false ./build/bin/bench-elementwise [trials]
 */
#include "bench_util.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* y[n] = max(x[n], 0) */
static void relu_kernel(float *restrict y, const float *restrict x, long n, int par) {
    #pragma omp parallel for simd if (parallel: par) schedule(static)
    for (long i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* y[n] = a[n] + b[n] */
static void add_kernel(float *restrict y, const float *restrict a, const float *restrict b, long n, int par) {
    #pragma omp parallel for simd if (parallel: par) schedule(static)
    for (long i = 0; i < n; i++) y[i] = a[i] + b[i];
}

static double time_once(int which, float *y, const float *a, const float *b, long n, int par, int reps) {
    double t0 = bench_now();
    for (int r = 0; r < reps; r++) {
        if (which == 0) relu_kernel(y, a, n, par);
        else add_kernel(y, a, b, n, par);
    }
    return (bench_now() - t0) / reps;
}

/* Medians over `trials` of the mean time of `reps` calls, serial and parallel trials
 * interleaved so that load from other processes hits both alike. */
static void time_pair(int which, float *y, const float *a, const float *b, long n, int trials,
                      int reps, double *ser, double *par) {
    double ts[64], tp[64];
    for (int k = 0; k < trials; k++) {
        ts[k] = time_once(which, y, a, b, n, 0, reps);
        tp[k] = time_once(which, y, a, b, n, 1, reps);
    }
    qsort(ts, (size_t)trials, sizeof *ts, bench_cmp_double);
    qsort(tp, (size_t)trials, sizeof *tp, bench_cmp_double);
    *ser = ts[trials / 2];
    *par = tp[trials / 2];
}

int main(int argc, char **argv) {
    bench_std_flags("bench-elementwise", argc, argv,
                    "usage: bench-elementwise [TRIALS]\n"
                    "Times relu and add, serial against the OpenMP team, for 1K..4M floats (TRIALS repetitions,\n"
                    "1..64, default 15), and prints where the parallel loop starts to pay.\n", 1);
    if (argc > 2) { fprintf(stderr, "bench-elementwise: one argument at most (see --help)\n"); return 2; }
    int trials = 15;
    if (argc > 1) {
        char *end;
        long t = strtol(argv[1], &end, 10);
        if (*end || end == argv[1] || t < 1 || t > 64) {
            fprintf(stderr, "bench-elementwise: TRIALS '%s' is not an integer in 1..64\n", argv[1]);
            return 2;
        }
        trials = (int)t;
    }
    const long max_n = 4L << 20;
    float *a = malloc(max_n * sizeof *a), *b = malloc(max_n * sizeof *b), *y = malloc(max_n * sizeof *y);
    if (!a || !b || !y) { fprintf(stderr, "out of memory\n"); return 1; }
    for (long i = 0; i < max_n; i++) { a[i] = (float)((i * 7919) % 2001 - 1000) / 1000.0f; b[i] = 0.5f; }
    printf("threads: %d\n", omp_get_max_threads());
    const char *names[2] = { "relu", "add" };
    long crossover[2] = { 0, 0 };
    for (int which = 0; which < 2; which++) {
        printf("\n%-5s %9s %12s %12s %8s\n", names[which], "n", "serial_us", "parallel_us", "ser/par");
        long sizes[32];
        double ratio[32];
        int ns = 0;
        for (long n = 1024; n <= max_n; n *= 2) {
            /* about 20 M elements of work per trial, at least 4 calls */
            int reps = (int)(20000000 / n);
            if (reps < 4) reps = 4;
            time_once(which, y, a, b, n, 1, reps);  /* warm the team and the caches */
            double ts, tp;
            time_pair(which, y, a, b, n, trials, reps, &ts, &tp);
            sizes[ns] = n;
            ratio[ns++] = ts / tp;
            printf("%-5s %9ld %12.3f %12.3f %8.2f\n", names[which], n, ts * 1e6, tp * 1e6, ts / tp);
        }
        /* smallest n from which parallel wins at every larger size */
        crossover[which] = -1;
        for (int i = ns - 1; i >= 0 && ratio[i] > 1.0; i--) crossover[which] = sizes[i];
    }
    printf("\ncrossover (parallel faster from here on): relu %ld, add %ld elements\n", crossover[0], crossover[1]);
    free(a); free(b); free(y);
    return 0;
}
