/* SPDX-License-Identifier: MIT */
/* lib/core/threads.c — one process-wide thread count for cgrad's OpenMP kernels and for BLAS
 * (whose setter is in lib/core/blas.c), and the version string.
 *
 * omp_set_num_threads() reaches only the calling thread's data environment: a pthread started
 * before or after it still sees OMP_NUM_THREADS (or all cores). So the count lives in an atomic,
 * with a generation that cg_set_num_threads bumps; every thread compares its own copy of the
 * generation at the library's entry points (cg_threads_sync: a tape tensor, a new tensor,
 * backward, conv2d's scheduling) and calls omp_set_num_threads for itself when it changed. One
 * relaxed-enough atomic load and a compare on the fast path. OpenBLAS's OpenMP build follows the
 * calling thread's omp_get_max_threads(), so it follows too. */
#include <omp.h>
#include <stdatomic.h>
#include "cg_internal.h"
#include "cgrad/version.h"

static atomic_int g_threads;        /* 0: never set, each thread keeps OpenMP's default */
static atomic_uint g_generation;    /* bumped by every cg_set_num_threads */
static _Thread_local unsigned seen_generation;

void cg_threads_sync(void) {
    unsigned gen = atomic_load_explicit(&g_generation, memory_order_acquire);
    if (gen == seen_generation) return;
    seen_generation = gen;
    int n = atomic_load_explicit(&g_threads, memory_order_relaxed);
    if (n > 0) omp_set_num_threads(n);
}

void cg_set_num_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    atomic_store_explicit(&g_threads, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_generation, 1, memory_order_release);
    cg_threads_sync();
    cg_blas_set_threads(n);
}

int cg_get_num_threads(void) {
    cg_threads_sync();
    return omp_get_max_threads();
}

const char *cg_version(void) { return CG_VERSION_STRING; }
