/* SPDX-License-Identifier: MIT */
/* tests/test_gemm_engine.c — cg_gemm's two engines (lib/core/blas.c): LIBXSMM's JIT kernels (one
 * kernel for a small GEMM, blocks fixed by the shape past 2^24 multiply-adds) and the CBLAS.
 *   - Every transpose form, beta 0 and 1, leading dimensions wider than the matrices, shapes on
 *     both sides of the size limit: each engine against a plain loop in double, with the padding
 *     of C (beyond each row, and the rows after it) left as it was, and beta 0 overwriting a NaN.
 *   - Which GEMMs go where: the rule (alpha 1, beta 0 or 1, the switch CG_CONFIG_GEMM_ENGINE) as
 *     cg_gemm_takes_xsmm states it.
 *   - A GEMM past the size limit runs in blocks: the same bits at 1 and 2 threads, with B read as
 *     it is and read transposed.
 *   - After a GEMM by LIBXSMM the upper halves of the vector registers are clean (XINUSE, read by
 *     XGETBV 1): the library's SSE code after it ran 2.5x slower while they were not.
 * In a build without LIBXSMM (-DCGRAD_XSMM=OFF) or on a CPU below AVX2 the first part checks
 * the BLAS twice and the rest checks that nothing goes to LIBXSMM. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cgrad/cgrad.h"
#include "../lib/cg_internal.h"

static float frand(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* C[m,n] (ld ldc) = op(A) op(B) + beta C by cg_gemm under `engine`, checked against doubles. */
static void check_one(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float beta, int engine) {
    const int64_t pad = 3;
    const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
    const int64_t arows = ta ? k : m, brows = tb ? n : k;
    float *a = malloc((size_t)(arows * lda) * sizeof(float)), *b = malloc((size_t)(brows * ldb) * sizeof(float));
    float *c = malloc((size_t)((m + 1) * ldc) * sizeof(float)), *c0 = malloc((size_t)((m + 1) * ldc) * sizeof(float));
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(c0);
    uint32_t s = (uint32_t)(m * 7919 + n * 104729 + k * 13 + ta * 2 + tb);
    for (int64_t i = 0; i < arows * lda; i++) a[i] = frand(&s);
    for (int64_t i = 0; i < brows * ldb; i++) b[i] = frand(&s);
    for (int64_t i = 0; i < (m + 1) * ldc; i++) c0[i] = c[i] = frand(&s);
    if (beta == 0.0f) c[0] = c0[0] = NAN;   /* beta 0: C is written, never read */
    assert_int_equal(cg_config_set(CG_CONFIG_GEMM_ENGINE, engine), CG_OK);
    cg_gemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
    assert_int_equal(cg_config_set(CG_CONFIG_GEMM_ENGINE, CG_GEMM_AUTO), CG_OK);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double want = beta != 0.0f ? (double)c0[i * ldc + j] : 0.0, mag = fabs(want);
            for (int64_t p = 0; p < k; p++) {
                double x = ta ? a[p * lda + i] : a[i * lda + p], y = tb ? b[j * ldb + p] : b[p * ldb + j];
                want += x * y;
                mag += fabs(x * y);
            }
            double got = c[i * ldc + j];
            if (!(fabs(got - want) <= 1e-5 * mag + 1e-6))
                fail_msg("%c%c %lldx%lldx%lld beta %g engine %d: C[%lld,%lld] = %.8g, want %.8g", ta ? 'T' : 'N',
                         tb ? 'T' : 'N', (long long)m, (long long)n, (long long)k, beta, engine, (long long)i,
                         (long long)j, got, want);
        }
    for (int64_t i = 0; i <= m; i++)   /* the padding of every row, and the row after C: untouched */
        for (int64_t j = i < m ? n : 0; j < ldc; j++)
            if (memcmp(&c[i * ldc + j], &c0[i * ldc + j], sizeof(float)))
                fail_msg("%c%c %lldx%lldx%lld: C's padding at [%lld,%lld] was written", ta ? 'T' : 'N', tb ? 'T' : 'N',
                         (long long)m, (long long)n, (long long)k, (long long)i, (long long)j);
    free(a);
    free(b);
    free(c);
    free(c0);
}

static void test_every_form(void **st) {
    (void)st;
    /* conv-like shapes (Winograd's, im2col's, a one-channel first layer's), odd ones, and two
     * past the size limit (256*256*257 and 64*1000*300 > 2^24: in blocks, with narrower last ones) */
    static const int64_t shapes[][3] = { { 32, 196, 32 }, { 64, 49, 64 }, { 32, 784, 9 }, { 7, 5, 3 },
                                         { 1, 1, 1 },     { 17, 33, 65 }, { 256, 256, 257 }, { 64, 1000, 300 } };
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int form = 0; form < 4; form++)
            for (int bi = 0; bi < 2; bi++)
                for (int engine = CG_GEMM_BLAS; engine <= CG_GEMM_AUTO; engine++)
                    check_one(form & 1, form & 2, shapes[si][0], shapes[si][1], shapes[si][2], bi ? 1.0f : 0.0f,
                              engine);
}

/* Past the size limit, C's column blocks go to the threads: 1 and 2 threads give the same bits. */
static void test_blocks_thread_independent(void **st) {
    (void)st;
    const int64_t m = 70, n = 1100, k = 300;   /* 23 M multiply-adds: past 2^24; 4 blocks of 256 and 76 */
    float *a = malloc((size_t)(m * k) * sizeof(float)), *b = malloc((size_t)(k * n) * sizeof(float));
    float *c[2] = { malloc((size_t)(m * n) * sizeof(float)), malloc((size_t)(m * n) * sizeof(float)) };
    uint32_t s = 5;
    for (int64_t i = 0; i < m * k; i++) a[i] = frand(&s);
    for (int64_t i = 0; i < k * n; i++) b[i] = frand(&s);
    const int saved = cg_get_num_threads();
    for (int tb = 0; tb < 2; tb++) {   /* B [k,n], then B [n,k] read transposed (the same values) */
        float *bt = malloc((size_t)(k * n) * sizeof(float));
        for (int64_t i = 0; i < k; i++)
            for (int64_t j = 0; j < n; j++) bt[j * k + i] = b[i * n + j];
        for (int t = 0; t < 2; t++) {
            cg_set_num_threads(t + 1);
            memset(c[t], 0xff, (size_t)(m * n) * sizeof(float));   /* NaN: beta 0 must overwrite */
            cg_gemm(false, tb, m, n, k, 1.0f, a, k, tb ? bt : b, tb ? k : n, 0.0f, c[t], n);
        }
        assert_memory_equal(c[0], c[1], (size_t)(m * n) * sizeof(float));
        free(bt);
    }
    cg_set_num_threads(saved);
    free(a); free(b); free(c[0]); free(c[1]);
}

static void test_routing(void **st) {
    (void)st;
    const bool on = cg_gemm_xsmm_usable();
    assert_int_equal(cg_config_get(CG_CONFIG_GEMM_ENGINE), CG_GEMM_AUTO);   /* the default */
    assert_int_equal(cg_gemm_takes_xsmm(64, 196, 576, 1.0f, 0.0f), on);
    assert_int_equal(cg_gemm_takes_xsmm(64, 128, 9216, 1.0f, 1.0f), on);    /* past 2^24: in column blocks */
    assert_false(cg_gemm_takes_xsmm(32, 32, 32, 2.0f, 0.0f));               /* alpha != 1 */
    assert_false(cg_gemm_takes_xsmm(32, 32, 32, 1.0f, 0.5f));               /* beta not 0 or 1 */
    assert_false(cg_gemm_takes_xsmm(0, 32, 32, 1.0f, 0.0f));
    assert_int_equal(cg_config_set(CG_CONFIG_GEMM_ENGINE, CG_GEMM_BLAS), CG_OK);
    assert_false(cg_gemm_takes_xsmm(32, 32, 32, 1.0f, 0.0f));
    assert_non_null(strstr(cg_blas_info(), "GEMMs: all by the BLAS"));
    assert_int_equal(cg_config_set(CG_CONFIG_GEMM_ENGINE, CG_GEMM_AUTO), CG_OK);
    assert_non_null(strstr(cg_blas_info(), on ? "GEMMs: LIBXSMM" : "GEMMs: all by the BLAS"));
    assert_int_equal(cg_config_set(CG_CONFIG_GEMM_ENGINE, 2), CG_EINVAL);
    assert_string_equal(cg_config_name(CG_CONFIG_GEMM_ENGINE), "gemm_engine");
}

#if defined(__x86_64__)
#include <cpuid.h>
/* XINUSE (XGETBV with ECX = 1): bit 2 the YMM upper halves, bit 6 the upper halves of ZMM0-15. */
static bool xinuse_readable(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return false;
    return __get_cpuid_count(0xd, 1, &a, &b, &c, &d) && (a & (1u << 2));
}
static uint64_t xinuse(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
    return ((uint64_t)hi << 32) | lo;
}
#endif

static void test_upper_state_clean(void **st) {
    (void)st;
#if defined(__x86_64__)
    if (!cg_gemm_xsmm_usable() || !xinuse_readable()) { skip(); return; }
    static float a[64 * 64], b[64 * 64], c[64 * 64];
    for (int i = 0; i < 64 * 64; i++) a[i] = b[i] = (float)(i % 7) - 3.0f;
    for (int form = 0; form < 4; form++) {
        assert_true(cg_gemm_takes_xsmm(64, 64, 64, 1.0f, 0.0f));
        cg_gemm(form & 1, form & 2, 64, 64, 64, 1.0f, a, 64, b, 64, 0.0f, c, 64);
        uint64_t used = xinuse();
        if (used & 0x44)  /* YMM upper halves (2), ZMM0-15 upper halves (6); not 16-31 (7), which SSE cannot touch */
            fail_msg("form %d: XINUSE = %#llx after a LIBXSMM GEMM: vector upper halves left dirty", form,
                     (unsigned long long)used);
    }
#else
    skip();
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_form),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_blocks_thread_independent),
        cmocka_unit_test(test_upper_state_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
