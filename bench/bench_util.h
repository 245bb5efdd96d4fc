/* SPDX-License-Identifier: MIT */
/* bench/bench_util.h — what every benchmark needs: a monotonic clock and medians.
 * Include it first (it asks for POSIX clocks). */
#ifndef CGRAD_BENCH_UTIL_H
#define CGRAD_BENCH_UTIL_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cgrad/cgrad.h"

/* --help (usage to stdout) and --version anywhere in argv: print and exit 0. With positional
 * true, any other argument starting with '-' is an unknown option (exit 2): the benchmarks that
 * take a positional argument must not read a flag as one. */
static inline void bench_std_flags(const char *prog, int argc, char **argv, const char *usage, int positional) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { fputs(usage, stdout); exit(0); }
        if (!strcmp(argv[i], "--version")) { printf("%s (cgrad %s)\n%s\n", prog, cg_version(), cg_blas_info()); exit(0); }
        if (positional && argv[i][0] == '-') {
            fprintf(stderr, "%s: unknown option '%s' (see %s --help)\n", prog, argv[i], prog);
            exit(2);
        }
    }
}

/* Seconds on a monotonic clock. */
static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (sorts v in place). */
static inline double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#endif
