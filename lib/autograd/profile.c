/* SPDX-License-Identifier: MIT */
/* lib/autograd/profile.c — per-op wall time, summed by op name (CG_PROFILE=1 or
 * cg_profile_enable). Off by default: then each bracket costs one branch. */
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include "cg_internal.h"

#define MAX_OPS 64
typedef struct prof_row { const char *name; double secs[2]; int64_t calls[2]; } prof_row;
static prof_row rows[MAX_OPS];
static int n_rows;
/* -1: not yet read from the environment. Atomic: every op on every thread reads it (the rows
 * themselves are not thread-safe: profile while one thread runs ops, see base.h). */
static atomic_int enabled = -1;

bool cg_profile_enabled(void) {
    int e = atomic_load_explicit(&enabled, memory_order_relaxed);
    if (e < 0) {
        const char *v = getenv("CG_PROFILE");
        int want = v && *v && strcmp(v, "0") != 0;
        atomic_compare_exchange_strong(&enabled, &e, want);  /* a concurrent enable wins */
        e = atomic_load_explicit(&enabled, memory_order_relaxed);
    }
    return e > 0;
}
void cg_profile_enable(bool on) { atomic_store(&enabled, on ? 1 : 0); }
void cg_profile_reset(void) { n_rows = 0; memset(rows, 0, sizeof rows); }

double cg_profile_begin(void) { return cg_profile_enabled() ? omp_get_wtime() : 0.0; }

void cg_profile_end(const char *op, int backward, double t0) {
    if (!cg_profile_enabled() || omp_in_parallel()) return;
    double dt = omp_get_wtime() - t0;
    int i = 0;
    while (i < n_rows && rows[i].name != op && strcmp(rows[i].name, op) != 0) i++;
    if (i == n_rows) {
        if (n_rows == MAX_OPS) return;
        rows[n_rows++].name = op;
    }
    rows[i].secs[backward] += dt;
    rows[i].calls[backward]++;
}

void cg_profile_fprint(FILE *f) {
    double total = 0;
    for (int i = 0; i < n_rows; i++) total += rows[i].secs[0] + rows[i].secs[1];
    fprintf(f, "%-16s %10s %10s %10s %7s\n", "op", "fwd ms", "bwd ms", "calls", "share");
    for (int i = 0; i < n_rows; i++) {
        double s = rows[i].secs[0] + rows[i].secs[1];
        fprintf(f, "%-16s %10.2f %10.2f %10lld %6.1f%%\n", rows[i].name, rows[i].secs[0] * 1e3,
                rows[i].secs[1] * 1e3, (long long)(rows[i].calls[0] + rows[i].calls[1]),
                total > 0 ? 100.0 * s / total : 0.0);
    }
}
