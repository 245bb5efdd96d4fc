/* SPDX-License-Identifier: MIT */
/* tests/test_blas.c — the BLAS kernel choice (lib/core/blas.c): the feature-to-core mapping as a
 * pure function; and, in child processes of this test with their own environments, that a set
 * OPENBLAS_CORETYPE is respected (never overridden) and that CG_BLAS_CORE=keep|NAME does what
 * it says, each with a matmul that agrees with a plain loop. The test never sets
 * OPENBLAS_CORETYPE for itself; the children get only cores that every x86-64 CPU with AVX runs
 * (Sandybridge) or the one the environment already forces. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "gradcheck.h"
#include "../lib/cg_internal.h"

extern char **environ;
static const char *self_path;

static void test_core_for_features(void **s) {
    (void)s;
    cg_cpu_features none = { 0 };
    assert_null(cg_blas_core_for(&none));
    assert_null(cg_blas_core_for(NULL));
    cg_cpu_features avx2 = { .fma = true, .avx2 = true };
    assert_string_equal(cg_blas_core_for(&avx2), "Haswell");
    cg_cpu_features avx2_nofma = { .avx2 = true };
    assert_null(cg_blas_core_for(&avx2_nofma));
    cg_cpu_features avx512 = { .fma = true, .avx2 = true, .avx512f = true, .avx512dq = true, .avx512bw = true,
                               .avx512vl = true };
    assert_string_equal(cg_blas_core_for(&avx512), "SkylakeX");
    cg_cpu_features f_only = avx512;   /* AVX-512F without BW: Knights-style, not SkylakeX */
    f_only.avx512bw = false;
    assert_string_equal(cg_blas_core_for(&f_only), "Haswell");
    /* This CPU: detection is consistent (AVX-512 parts imply AVX2 on every real CPU). */
    cg_cpu_features me = cg_cpu_detect();
    if (me.avx512f && me.avx512bw) assert_true(me.avx2);
}

/* Runs this test as `self --print-core` with the environment edited: each of `set` is "K=V" to
 * add, each of `unset` a name to drop. The child's one output line goes to out. */
static void run_child(const char *const *set, const char *const *unset, char *out, size_t n) {
    int count = 0;
    while (environ[count]) count++;
    char **env = calloc((size_t)count + 8, sizeof *env);
    int k = 0;
    for (int i = 0; i < count; i++) {
        bool drop = false;
        for (int u = 0; unset && unset[u]; u++) {
            size_t len = strlen(unset[u]);
            drop |= !strncmp(environ[i], unset[u], len) && environ[i][len] == '=';
        }
        for (int a = 0; set && set[a]; a++) {
            size_t len = strcspn(set[a], "=") + 1;
            drop |= !strncmp(environ[i], set[a], len);
        }
        if (!drop) env[k++] = environ[i];
    }
    for (int a = 0; set && set[a]; a++) env[k++] = (char *)set[a];
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    char *argv[] = { (char *)self_path, "--print-core", NULL };
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, self_path, &fa, NULL, argv, env), 0);
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    if (!fgets(out, (int)n, f)) out[0] = '\0';
    fclose(f);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
}

static void expect_core(const char *line, const char *core, const char *reason) {
    char want[64];
    snprintf(want, sizeof want, "(core %s, ", core);
    if (!strstr(line, want) || !strstr(line, reason) || !strstr(line, "matmul ok"))
        fail_msg("child said '%s'; wanted core %s and '%s'", line, core, reason);
}

static void test_environment_is_respected(void **s) {
    (void)s;
    char line[1024];
    extern char *openblas_get_corename(void) __attribute__((weak));
    if (!openblas_get_corename) skip();   /* another BLAS: nothing is chosen */
    /* A set OPENBLAS_CORETYPE stays, even one weaker than this CPU's best and even with
     * CG_BLAS_CORE naming another. */
    run_child((const char *[]){ "OPENBLAS_CORETYPE=Sandybridge", "CG_BLAS_CORE=Haswell", NULL }, NULL, line, sizeof line);
    expect_core(line, "Sandybridge", "OPENBLAS_CORETYPE=Sandybridge set by the environment");
    const char *env = getenv("OPENBLAS_CORETYPE");
    if (env && *env) {   /* this machine's own setting (as CI's environment has it) */
        run_child(NULL, (const char *[]){ "CG_BLAS_CORE", NULL }, line, sizeof line);
        expect_core(line, env, "set by the environment");
    }
    /* Unset: CG_BLAS_CORE names the core, and cgrad switches OpenBLAS to it. */
    run_child((const char *[]){ "CG_BLAS_CORE=Sandybridge", NULL }, (const char *[]){ "OPENBLAS_CORETYPE", NULL }, line,
              sizeof line);
    expect_core(line, "Sandybridge", "chosen by cgrad (CG_BLAS_CORE)");
    /* A name OpenBLAS does not know: its own choice comes back, and says so. */
    run_child((const char *[]){ "CG_BLAS_CORE=NoSuchCore", "OPENBLAS_VERBOSE=0", NULL },
              (const char *[]){ "OPENBLAS_CORETYPE", NULL }, line, sizeof line);
    if (!strstr(line, "core NoSuchCore did not load, so cgrad went back") || !strstr(line, "matmul ok"))
        fail_msg("child said '%s'", line);
    /* keep: OpenBLAS's choice, untouched. */
    run_child((const char *[]){ "CG_BLAS_CORE=keep", "OPENBLAS_CORETYPE=Sandybridge", NULL }, NULL, line, sizeof line);
    expect_core(line, "Sandybridge", "set by the environment");
}

/* The child: the banner, then a 33x17x9 matmul against a plain loop. */
static int print_core(void) {
    const char *info = cg_blas_info();
    cg_tensor *a = test_tensor(2, CG_SHAPE(33, 9), -1, 1, 1, false), *b = test_tensor(2, CG_SHAPE(9, 17), -1, 1, 2, false);
    cg_tensor *c = cg_matmul(a, b);
    bool ok = c != NULL;
    for (int i = 0; ok && i < 33; i++)
        for (int j = 0; j < 17; j++) {
            double s = 0;
            for (int k = 0; k < 9; k++) s += (double)cg_tensor_data(a)[i * 9 + k] * cg_tensor_data(b)[k * 17 + j];
            ok &= fabs(cg_tensor_data(c)[i * 17 + j] - s) < 1e-5;
        }
    printf("%s %s\n", info, ok ? "matmul ok" : "matmul WRONG");
    cg_tape_release();
    cg_tensor_free(a);
    cg_tensor_free(b);
    return 0;
}

int main(int argc, char **argv) {
    self_path = argv[0];
    if (argc > 1 && !strcmp(argv[1], "--print-core")) return print_core();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core_for_features),
        cmocka_unit_test(test_environment_is_respected),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
