/* lib/core/threads.c — one thread count for cgrad's OpenMP kernels and for BLAS (whose setter
 * is in lib/core/blas.c), and the version string. */
#include <omp.h>
#include "cg_internal.h"
#include "cgrad/version.h"

void cg_set_num_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    cg_blas_set_threads(n);
}

int cg_get_num_threads(void) { return omp_get_max_threads(); }

const char *cg_version(void) { return CG_VERSION_STRING; }
