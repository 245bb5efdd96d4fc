/* SPDX-License-Identifier: MIT */
/* lib/autograd/profile.c — wall time per op, summed by (phase, op name), forward and backward
 * apart (CG_PROFILE=1 or cg_profile_enable). Besides the ops, the optimizer step and the data
 * loader's batches are rows of their own. Off by default: then each bracket costs one branch.
 * When CG_PROFILE turns it on, the table is printed to stderr at exit unless the program printed
 * it itself (cg_profile_fprint). */
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include "cg_internal.h"

#define MAX_ROWS 128
typedef struct prof_row { const char *phase, *name; double secs[2]; int64_t calls[2]; } prof_row;
static prof_row rows[MAX_ROWS];
static int n_rows;
static const char *g_phase = "-";
static double g_t0 = -1;        /* wall clock at the first bracket after enabling or a reset */
static bool g_printed;
/* -1: not yet read from the environment. Atomic: every op on every thread reads it (the rows
 * themselves are not thread-safe: profile while one thread runs ops, see base.h). */
static atomic_int enabled = -1;

static void print_at_exit(void) {
    if (!g_printed && n_rows > 0) cg_profile_fprint(stderr);
}

bool cg_profile_enabled(void) {
    int e = atomic_load_explicit(&enabled, memory_order_relaxed);
    if (e < 0) {
        const char *v = getenv("CG_PROFILE");
        int want = v && *v && strcmp(v, "0") != 0;
        if (atomic_compare_exchange_strong(&enabled, &e, want) && want) atexit(print_at_exit);
        e = atomic_load_explicit(&enabled, memory_order_relaxed);
    }
    return e > 0;
}
void cg_profile_enable(bool on) {
    cg_profile_enabled(); /* the environment is read once, first */
    atomic_store(&enabled, on ? 1 : 0);
}
void cg_profile_reset(void) {
    n_rows = 0;
    memset(rows, 0, sizeof rows);
    g_t0 = -1;
    g_printed = false;
}
void cg_profile_set_phase(const char *phase) { g_phase = phase && *phase ? phase : "-"; }
const char *cg_profile_phase(void) { return g_phase; }

double cg_profile_begin(void) {
    if (!cg_profile_enabled()) return 0.0;
    double t = omp_get_wtime();
    if (g_t0 < 0 && !omp_in_parallel()) g_t0 = t;
    return t;
}

void cg_profile_end(const char *op, int backward, double t0) {
    if (!cg_profile_enabled() || omp_in_parallel()) return;
    double dt = omp_get_wtime() - t0;
    int i = 0;
    while (i < n_rows && !((rows[i].name == op || strcmp(rows[i].name, op) == 0) &&
                           (rows[i].phase == g_phase || strcmp(rows[i].phase, g_phase) == 0)))
        i++;
    if (i == n_rows) {
        if (n_rows == MAX_ROWS) return;
        rows[n_rows].name = op;
        rows[n_rows++].phase = g_phase;
    }
    rows[i].secs[backward] += dt;
    rows[i].calls[backward]++;
}

static int by_time(const void *a, const void *b) {
    const prof_row *x = a, *y = b;
    double sx = x->secs[0] + x->secs[1], sy = y->secs[0] + y->secs[1];
    return (sx < sy) - (sx > sy);
}

void cg_profile_fprint(FILE *f) {
    g_printed = true;
    prof_row sorted[MAX_ROWS];
    memcpy(sorted, rows, (size_t)n_rows * sizeof *rows);
    qsort(sorted, (size_t)n_rows, sizeof *sorted, by_time);
    double total = 0;
    for (int i = 0; i < n_rows; i++) total += sorted[i].secs[0] + sorted[i].secs[1];
    double wall = g_t0 >= 0 ? omp_get_wtime() - g_t0 : 0;
    fprintf(f, "cgrad profile (CG_PROFILE), sorted by time:\n");
    fprintf(f, "%-6s %-18s %11s %9s %11s %9s %7s\n", "phase", "op", "fwd ms", "fwd calls", "bwd ms", "bwd calls",
            "share");
    for (int i = 0; i < n_rows; i++) {
        const prof_row *r = &sorted[i];
        double s = r->secs[0] + r->secs[1];
        fprintf(f, "%-6s %-18s %11.2f %9lld %11.2f %9lld %6.1f%%\n", r->phase, r->name, r->secs[0] * 1e3,
                (long long)r->calls[0], r->secs[1] * 1e3, (long long)r->calls[1], total > 0 ? 100.0 * s / total : 0.0);
    }
    fprintf(f, "total %.1f ms in the rows above, of %.1f ms wall time since profiling began (%.1f%%; the rest "
            "is outside cgrad's ops, the optimizer and the loader)\n", total * 1e3, wall * 1e3,
            wall > 0 ? 100.0 * total / wall : 0.0);
}
