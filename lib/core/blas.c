/* SPDX-License-Identifier: MIT */
/* lib/core/blas.c — the library's one GEMM entry (cg_gemm), BLAS thread control, and the choice
 * of OpenBLAS's kernel ("core") for this CPU.
 *
 * Kernel choice. Debian's OpenBLAS 0.3.21 picks its kernels from the CPU model at load time, and
 * on CPUs newer than it knows (Intel family 6 model 207, say) it falls back to Prescott (SSE3),
 * 4-5x slower than its AVX-512 kernels. Before the first GEMM, once per process:
 *   1. OPENBLAS_CORETYPE set in the environment: respected, nothing changes (some machines set it
 *      on purpose, on CPUs where other kernels compute wrong results).
 *   2. CG_BLAS_CORE=keep: OpenBLAS's own choice stays; CG_BLAS_CORE=NAME: that core.
 *   3. Otherwise the core for the CPU's features (cg_blas_core_for): AVX-512 F/BW/DQ/VL with the
 *      OS saving ZMM state -> SkylakeX; AVX2 + FMA -> Haswell; else OpenBLAS's choice. A pick of
 *      OpenBLAS's that already runs such kernels (Cooperlake for SkylakeX; Zen for Haswell) stays.
 * A switch goes through OpenBLAS's gotoblas_dynamic_quit/_init, which re-read OPENBLAS_CORETYPE
 * (set for the call, then restored). A small sgemm is then checked against a plain loop; on a
 * mismatch OpenBLAS's own choice comes back. Other BLAS libraries: nothing to choose.
 *
 * Threads: cg_set_num_threads (lib/core/threads.c) sets the BLAS's count here too, through
 * OpenBLAS's or BLIS's setter when the linked library has one (declared weak, so any CBLAS
 * links). */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <omp.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include "cg_internal.h"

extern void openblas_set_num_threads(int n) __attribute__((weak));
extern char *openblas_get_corename(void) __attribute__((weak));
extern char *openblas_get_config(void) __attribute__((weak));
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));
extern void bli_thread_set_num_threads(long n) __attribute__((weak));

/* ---- the CPU's features -------------------------------------------------- */
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
cg_cpu_features cg_cpu_detect(void) {
    cg_cpu_features f = { 0 };
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool osxsave = c & bit_OSXSAVE, fma = c & bit_FMA, avx = c & bit_AVX;
    if (!osxsave || !avx) return f;
    const uint64_t xcr0 = xgetbv0();
    const bool ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6;  /* SSE+AVX; + opmask, ZMM */
    if (!ymm || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
    f.fma = fma;
    f.avx2 = b & bit_AVX2;
    if (zmm) {
        f.avx512f = b & bit_AVX512F;
        f.avx512dq = b & bit_AVX512DQ;
        f.avx512bw = b & bit_AVX512BW;
        f.avx512vl = b & bit_AVX512VL;
    }
    return f;
}
#else
cg_cpu_features cg_cpu_detect(void) { return (cg_cpu_features){ 0 }; }
#endif

bool cg_cpu_has_avx512(void) {
    static _Atomic int have = -1;   /* -1: not asked yet; a race only asks CPUID twice */
    int h = atomic_load_explicit(&have, memory_order_relaxed);
    if (h < 0) {
        cg_cpu_features f = cg_cpu_detect();
        h = f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl;
        atomic_store_explicit(&have, h, memory_order_relaxed);
    }
    return h;
}

const char *cg_blas_core_for(const cg_cpu_features *f) {
    if (!f) return NULL;
    if (f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl) return "SkylakeX";
    if (f->avx2 && f->fma) return "Haswell";
    return NULL;
}

/* Cores that already run the kernels a choice asks for, or better ones: no switch then. */
static bool core_covers(const char *have, const char *want) {
    static const char *const avx512[] = { "SkylakeX", "Cooperlake", "SapphireRapids", NULL };
    static const char *const avx2[] = { "Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", NULL };
    const char *const *set = !strcasecmp(want, "SkylakeX") ? avx512 : !strcasecmp(want, "Haswell") ? avx2 : NULL;
    if (!set) return !strcasecmp(have, want);
    for (int i = 0; set[i]; i++) if (!strcasecmp(have, set[i])) return true;
    return false;
}

/* ---- the choice, once ---------------------------------------------------- */
static pthread_once_t core_once = PTHREAD_ONCE_INIT;
static char core_reason[200] = "";

/* C[2x3] = A[2x4] B[4x3] (and transposed forms) against a plain loop in double. */
static bool sgemm_agrees(void) {
    float A[4 * 7], B[7 * 5], C[4 * 5];
    for (int i = 0; i < 28; i++) A[i] = (float)((i * 7) % 11) * 0.25f - 1.0f;
    for (int i = 0; i < 35; i++) B[i] = (float)((i * 5) % 13) * 0.125f - 0.75f;
    for (int t = 0; t < 2; t++) {
        /* t = 1: A read as its transpose, stored [7,4]. */
        cblas_sgemm(CblasRowMajor, t ? CblasTrans : CblasNoTrans, CblasNoTrans, 4, 5, 7, 1.0f, A, t ? 4 : 7,
                    B, 5, 0.0f, C, 5);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 5; j++) {
                double s = 0;
                for (int k = 0; k < 7; k++) s += (double)(t ? A[k * 4 + i] : A[i * 7 + k]) * B[k * 5 + j];
                if (!(fabs(C[i * 5 + j] - s) <= 1e-5 * (1 + fabs(s)))) return false;
            }
    }
    return true;
}

/* Make OpenBLAS load the kernels of core `name` (NULL: its own choice from the CPU model). */
static void openblas_load(const char *name) {
    if (name) setenv("OPENBLAS_CORETYPE", name, 1);
    else unsetenv("OPENBLAS_CORETYPE");
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");   /* the environment stays as it came */
}

static void choose_core(void) {
    if (!openblas_get_corename) { snprintf(core_reason, sizeof core_reason, "not OpenBLAS: nothing to choose"); return; }
    const char *env = getenv("OPENBLAS_CORETYPE"), *mine = getenv("CG_BLAS_CORE");
    if (env && *env) {
        snprintf(core_reason, sizeof core_reason, "OPENBLAS_CORETYPE=%s set by the environment", env);
        return;
    }
    if (mine && !strcmp(mine, "keep")) {
        snprintf(core_reason, sizeof core_reason, "OpenBLAS's own choice: CG_BLAS_CORE=keep");
        return;
    }
    char picked[32];
    snprintf(picked, sizeof picked, "%s", openblas_get_corename());
    cg_cpu_features f = cg_cpu_detect();
    const char *want = mine && *mine ? mine : cg_blas_core_for(&f);
    if (!want) {
        snprintf(core_reason, sizeof core_reason, "OpenBLAS's own choice: no AVX2+FMA or AVX-512 on this CPU");
        return;
    }
    if (mine && *mine ? !strcasecmp(picked, want) : core_covers(picked, want)) {
        snprintf(core_reason, sizeof core_reason, "OpenBLAS's own choice, as good as the %s cgrad would pick", want);
        return;
    }
    if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit) {
        snprintf(core_reason, sizeof core_reason, "OpenBLAS's own choice: this OpenBLAS cannot switch kernels");
        return;
    }
    openblas_load(want);
    const char *now = openblas_get_corename();
    if (strcasecmp(now, want) != 0 || !sgemm_agrees()) {
        char got[32];
        snprintf(got, sizeof got, "%s", now);
        openblas_load(NULL);
        snprintf(core_reason, sizeof core_reason, "OpenBLAS's own choice: core %s %s, so cgrad went back",
                 want, strcasecmp(got, want) ? "did not load" : "failed its sgemm check");
        return;
    }
    snprintf(core_reason, sizeof core_reason, "chosen by cgrad%s: OpenBLAS picked %s on a CPU with %s",
             mine && *mine ? " (CG_BLAS_CORE)" : "", picked,
             f.avx512f ? "AVX-512" : f.avx2 ? "AVX2+FMA" : "these features");
}

void cg_blas_init(void) { pthread_once(&core_once, choose_core); }

/* ---- the GEMM entry ------------------------------------------------------ */
cg_status cg_gemm_check(const char *op, int64_t m, int64_t n, int64_t k) {
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
        return cg_error(CG_ESHAPE, "%s: a GEMM of %lldx%lldx%lld has a dimension beyond BLAS's int range", op,
                        (long long)m, (long long)n, (long long)k);
    return CG_OK;
}

/* ---- the GEMM engine (LIBXSMM) -------------------------------------------- */
/* LIBXSMM JIT-compiles a kernel per shape for the instruction set CPUID reports (AVX2, AVX-512),
 * whatever OPENBLAS_CORETYPE says: OPENBLAS_CORETYPE keeps governing OpenBLAS alone. It runs a
 * GEMM on the calling thread without packing its operands, which is what the per-image GEMMs of
 * conv2d (Winograd's 16 per image, im2col's one) want: measured 2.0-2.4x OpenBLAS's Haswell
 * kernels and 1.1-1.3x its SkylakeX ones on those shapes (docs/benchmarks.md).
 *
 * Which GEMMs it takes: those with alpha 1 and beta 0 or 1, all of cgrad's, where a kernel was
 * generated for the shape (libxsmm_smmdispatch is not NULL); the BLAS the rest. How:
 *   - LIBXSMM 1.17 JITs column-major NN and NT, which are row-major NN and TN; a row-major B read
 *     transposed is first copied out transposed (libxsmm_otrans, into cg_gemm_scratch): n*k
 *     floats moved against 2*m*n*k flops, measured 2x the BLAS's NT on the conv backward's dW
 *     shapes all the same;
 *   - up to CG_XSMM_MAX_MNK multiply-adds, one kernel on the calling thread (conv2d's per-image
 *     GEMMs run on the thread that owns the image). Past it, blocks of C fixed by the shape,
 *     spread over the threads when called outside a parallel region.
 * Each element of C is one kernel's over the whole K in both, so the bits depend on the shape
 * alone, never on the thread count (OpenBLAS's threaded sgemm rounds differently at 1 and 2
 * threads: the seed recipe's first epoch ended at 0.3358 / 8790 with one thread and 0.3429 / 8735
 * with two; now both end alike).
 * The engine is on when the build has it (-DCGRAD_XSMM=ON, the default where libxsmm-dev is
 * installed), CG_CONFIG_GEMM_ENGINE is CG_GEMM_AUTO (the default), and LIBXSMM found AVX2 or
 * better (below that its kernels would not beat the BLAS). */
#define CG_XSMM_MAX_MNK ((int64_t)1 << 24)
#define XSMM_NB 256     /* columns of C per kernel for a GEMM past CG_XSMM_MAX_MNK */
#define XSMM_BLOCKS 16  /* blocks such a GEMM aims at, rows permitting */

/* m*n*k > lim, without overflow (each factor fits an int). */
static inline bool above(int64_t m, int64_t n, int64_t k, int64_t lim) { return k > 0 && m * n > lim / k; }

static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static bool xsmm_usable;            /* built in and the CPU is AVX2 or better */
static char engine_reason[160] = "";

#ifdef CGRAD_WITH_XSMM
#include <libxsmm.h>

/* After each kernel: it leaves the vector registers' upper halves dirty; cgrad's own code is SSE
 * (baseline x86-64), and every SSE instruction after that pays a merge with them: batch norm's
 * forward ran 2.5x slower after each conv until this (docs/benchmarks.md). */
static inline void vzeroupper(void) {
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("vzeroupper" ::: "memory");
#endif
}
static void choose_engine(void) {
    libxsmm_init();
    const int arch = libxsmm_get_target_archid();
    xsmm_usable = arch >= LIBXSMM_X86_AVX2;
    snprintf(engine_reason, sizeof engine_reason, "LIBXSMM %s (%s kernels%s)", LIBXSMM_VERSION,
             libxsmm_get_target_arch(), xsmm_usable ? ", chosen from CPUID" : ": below AVX2, so the BLAS runs every GEMM");
}

/* Row-major C[m,n] = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: LIBXSMM's A is our B. */
static bool xsmm_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                      const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (tb) {  /* B[n,k] read as its transpose: copy it to Bt[k,n] (n*k floats, against 2mnk flops) */
        float *bt = cg_gemm_scratch((size_t)(n * k) * sizeof(float));
        if (!bt) return false;
        libxsmm_otrans(bt, b, sizeof(float), (libxsmm_blasint)k, (libxsmm_blasint)n, (libxsmm_blasint)ldb,
                       (libxsmm_blasint)n);
        b = bt;
        ldb = n;
    }
    const int flags = ta ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE;
    /* no prefetch, whatever LIBXSMM_GEMM_PREFETCH says: such kernels take three more arguments */
    const int pf = LIBXSMM_GEMM_PREFETCH_NONE;
    const libxsmm_blasint la = (libxsmm_blasint)ldb, lb = (libxsmm_blasint)lda, lc = (libxsmm_blasint)ldc;
    const float one = 1.0f;
    if (above(m, n, k, CG_XSMM_MAX_MNK)) {
        /* Blocks of C fixed by the shape: columns XSMM_NB wide, rows enough for about XSMM_BLOCKS
         * blocks (at least 16 rows), the last of each narrower; spread over the threads outside a
         * parallel region, one after another inside one. */
        const int64_t nb = n < XSMM_NB ? n : XSMM_NB, ncb = (n + nb - 1) / nb;
        int64_t mb = ncb >= XSMM_BLOCKS ? m : (m * ncb + XSMM_BLOCKS - 1) / XSMM_BLOCKS;
        mb = (mb + 15) / 16 * 16;
        if (mb > m) mb = m;
        const int64_t nrb = (m + mb - 1) / mb, nt = n - (ncb - 1) * nb, mt = m - (nrb - 1) * mb;
        libxsmm_smmfunction f[2][2];   /* [last row block][last column block] */
        for (int r = 0; r < 2; r++)
            for (int q = 0; q < 2; q++) {
                const libxsmm_blasint M = (libxsmm_blasint)(q ? nt : nb), N = (libxsmm_blasint)(r ? mt : mb);
                const libxsmm_blasint K = (libxsmm_blasint)k;
                if (!(f[r][q] = libxsmm_smmdispatch(M, N, K, &la, &lb, &lc, &one, &beta, &flags, &pf))) return false;
            }
        const int64_t blocks = nrb * ncb;
        cg_threads_sync();
        #pragma omp parallel for schedule(static) if (!omp_in_parallel() && blocks > 1)
        for (int64_t t = 0; t < blocks; t++) {
            const int64_t i = t / ncb, j = t % ncb, i0 = i * mb, j0 = j * nb;
            f[i == nrb - 1][j == ncb - 1](b + j0, ta ? a + i0 : a + i0 * lda, c + i0 * ldc + j0);
            vzeroupper();
        }
        return true;
    }
    const libxsmm_blasint M = (libxsmm_blasint)n, N = (libxsmm_blasint)m, K = (libxsmm_blasint)k;
    libxsmm_smmfunction f = libxsmm_smmdispatch(M, N, K, &la, &lb, &lc, &one, &beta, &flags, &pf);
    if (!f) return false;
    f(b, a, c);
    vzeroupper();
    return true;
}
#else
static void choose_engine(void) {
    snprintf(engine_reason, sizeof engine_reason, "LIBXSMM off: built without it (-DCGRAD_XSMM=OFF or libxsmm-dev not found)");
}
static bool xsmm_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                      const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)beta, (void)c, (void)ldc;
    return false;
}
#endif

static void engine_init(void) { pthread_once(&engine_once, choose_engine); }

bool cg_gemm_xsmm_usable(void) {
    engine_init();
    return xsmm_usable;
}

bool cg_gemm_takes_xsmm(int64_t m, int64_t n, int64_t k, float alpha, float beta) {
    engine_init();
    return xsmm_usable && alpha == 1.0f && (beta == 0.0f || beta == 1.0f) && m > 0 && n > 0 && k > 0 &&
           cg_config_get(CG_CONFIG_GEMM_ENGINE) == CG_GEMM_AUTO;
}

void cg_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
             const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    CG_ASSERT(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX);
    if (cg_gemm_takes_xsmm(m, n, k, alpha, beta) && xsmm_gemm(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc))
        return;
    cg_blas_init();
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n,
                (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* ---- threads and the banner ---------------------------------------------- */
void cg_blas_set_threads(int n) {
    cg_blas_init();
    if (openblas_set_num_threads) openblas_set_num_threads(n);
    else if (bli_thread_set_num_threads) bli_thread_set_num_threads(n);
}

const char *cg_blas_info(void) {
    static _Thread_local char buf[768];
    char blas[512];
    cg_blas_init();
    engine_init();
    if (openblas_get_corename) {
        /* The config string starts with "OpenBLAS <version>" in the releases we know; say it once. */
        const char *cfg = openblas_get_config ? openblas_get_config() : "?";
        snprintf(blas, sizeof blas, "%s%s (core %s, %s)", strncmp(cfg, "OpenBLAS", 8) ? "OpenBLAS " : "", cfg,
                 openblas_get_corename(), core_reason);
    }
    else if (bli_thread_set_num_threads)
        snprintf(blas, sizeof blas, "BLIS (its kernels are chosen at run time by BLIS)");
    else
        snprintf(blas, sizeof blas, "a CBLAS without a known vendor API (reference or other)");
    if (!xsmm_usable)
        snprintf(buf, sizeof buf, "%s; GEMMs: all by the BLAS (%s)", blas, engine_reason);
    else if (cg_config_get(CG_CONFIG_GEMM_ENGINE) != CG_GEMM_AUTO)
        snprintf(buf, sizeof buf, "%s; GEMMs: all by the BLAS (gemm_engine = blas; %s unused)", blas, engine_reason);
    else
        snprintf(buf, sizeof buf, "%s; GEMMs: %s, the BLAS only where it has no kernel", blas, engine_reason);
    return buf;
}
