/* lib/core/threads.c — one thread count for cgrad's OpenMP kernels and for BLAS.
 * OpenBLAS's own setters are declared weak so that another BLAS links too. */
#include <omp.h>
#include "cg_internal.h"
#include "cgrad/version.h"

extern void openblas_set_num_threads(int n) __attribute__((weak));
extern char *openblas_get_corename(void) __attribute__((weak));
extern char *openblas_get_config(void) __attribute__((weak));

void cg_blas_set_threads(int n) {
    if (openblas_set_num_threads) openblas_set_num_threads(n);
}

void cg_set_num_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    cg_blas_set_threads(n);
}

int cg_get_num_threads(void) { return omp_get_max_threads(); }

const char *cg_blas_info(void) {
    static _Thread_local char buf[256];
    if (!openblas_get_corename) return "unknown";
    snprintf(buf, sizeof buf, "OpenBLAS %s (core %s)",
             openblas_get_config ? openblas_get_config() : "?", openblas_get_corename());
    return buf;
}

const char *cg_version(void) { return CG_VERSION_STRING; }
