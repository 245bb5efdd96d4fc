/* lib/autograd/profile.c — per-op wall time, summed by op name (CG_PROFILE=1 or
 * cg_profile_enable). Off by default: then each bracket costs one branch. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include "cg_internal.h"

#define MAX_OPS 64
typedef struct prof_row { const char *name; double secs[2]; int64_t calls[2]; } prof_row;
static prof_row rows[MAX_OPS];
static int n_rows;
static int enabled = -1;  /* -1: not yet read from the environment */

bool cg_profile_enabled(void) {
    if (enabled < 0) {
        const char *e = getenv("CG_PROFILE");
        enabled = e && *e && strcmp(e, "0") != 0;
    }
    return enabled;
}
void cg_profile_enable(bool on) { enabled = on; }
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
