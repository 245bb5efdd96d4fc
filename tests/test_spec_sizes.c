/* SPDX-License-Identifier: MIT */
/* tests/test_spec_sizes.c — the spec check's sizes (issue 24): every activation counted in
 * overflow-checked int64 at the caller's batch, a forward larger than the machine's memory refused
 * before anything is allocated (naming the layer's position), the outputs the fuzzer crashed on,
 * dotted names nested past what a state-dict name holds, and "'(' is never closed" for a word
 * without arguments. Run under ASan/UBSan too (build-fuzz), where an overflow is a failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "cgrad/cgrad.h"

static const int64_t *MNIST = CG_SHAPE(1, 28, 28);

/* The check at batch refuses spec with status st (CG_OK: any), and its message holds every want
 * (NULL-ended). */
static void expect_refused(const char *spec, const int64_t *shape, int64_t batch, cg_status st, ...) {
    cg_net_info info = { .n = 99 };
    cg_status got = cg_net_check_spec(spec, 3, shape, batch, &info);
    if (got == CG_OK) fail_msg("spec '%s' at batch %lld passed", spec, (long long)batch);
    if (st != CG_OK && got != st) fail_msg("spec '%s': status %d, wanted %d (%s)", spec, (int)got, (int)st, cg_last_error());
    assert_int_equal(info.n, 0);
    assert_null(info.rows);
    va_list ap;
    va_start(ap, st);
    for (const char *w; (w = va_arg(ap, const char *));)
        if (!strstr(cg_last_error(), w)) fail_msg("spec '%s': error '%s' lacks '%s'", spec, cg_last_error(), w);
    va_end(ap);
}

/* The fuzzer's crash: adaptive_max_pool2d(2^24) asked ASan for 3 * 2^50 bytes at the forward; the
 * check now refuses it, at the layer, on every example shape the fuzz target tries. */
static void test_huge_pool_output_refused(void **s) {
    (void)s;
    expect_refused("adaptive_max_pool2d(16777216)", MNIST, 1, CG_ENOMEM, "net spec, char 1: adaptive_max_pool2d(16777216)",
                   "brings the forward at batch 1 to", "GiB of memory", (const char *)NULL);
    expect_refused("adaptive_max_pool2d(16777216)", CG_SHAPE(3, 5, 5), 1, CG_ENOMEM, "char 1: adaptive_max_pool2d",
                   (const char *)NULL);
    expect_refused("relu adaptive_avg_pool2d(16777216)", MNIST, 1, CG_ENOMEM, "char 6: adaptive_avg_pool2d",
                   (const char *)NULL);
    /* and cg_net_from_spec (a batch of 1) builds nothing */
    assert_null(cg_net_from_spec("adaptive_max_pool2d(16777216)", 3, MNIST, NULL));
    assert_non_null(strstr(cg_last_error(), "char 1: adaptive_max_pool2d"));
}

/* An output whose element count overflows int64 (2^24 channels of 2^24 x 2^24) is refused, never
 * "OK": here at the conv already (52 GB at batch 1 is more than any test machine holds, 2^40
 * examples more than int64 counts); an output that overflows is said so. */
static void test_overflowing_output_refused(void **s) {
    (void)s;
    expect_refused("conv2d(1,16777216,1) adaptive_avg_pool2d(16777216)", MNIST, 1 << 20, CG_ENOMEM,
                   "char 1: conv2d(1,16777216,1)", "batch 1048576", (const char *)NULL);
    expect_refused("conv2d(1,16777216,1) adaptive_avg_pool2d(16777216)", MNIST, (int64_t)1 << 40, CG_ENOMEM,
                   "net spec: the input of 1099511627776 examples", (const char *)NULL);
    /* [2^24, 2^24, 2^24] after a pool that shrinks nothing: too large to count at the pool itself */
    expect_refused("adaptive_avg_pool2d(16777216) conv2d(1,16777216,1)", CG_SHAPE(1, 1, 1), 1, CG_OK,
                   "char 1: adaptive_avg_pool2d(16777216)", (const char *)NULL);
}

/* The third recipe: padding=3000 makes one example's conv output 6028 x 6028 floats
 * (145 MB), and 9.3 GB at batch 64: refused at the batch the program runs, before any allocation.
 * 2^17 examples ask for 19 TB, more than any machine that runs this test. */
static void test_padding_blowup_refused_at_batch(void **s) {
    (void)s;
    const char *spec = "conv2d(1,1,1,padding=3000) relu max_pool2d(1000) flatten linear(36,10) log_softmax";
    cg_net_info info;
    assert_int_equal(cg_net_check_spec(spec, 3, MNIST, 1, &info), CG_OK);   /* one example fits */
    /* the input, conv, relu, pool, linear and log_softmax outputs (flatten is a view) */
    assert_int_equal(info.forward_bytes, 4 * (28 * 28 + 2 * 6028LL * 6028 + 36 + 10 + 10));
    cg_net_info_free(&info);
    expect_refused(spec, MNIST, (int64_t)1 << 17, CG_ENOMEM, "net spec, char 1: conv2d(1,1,1,padding=3000) brings "
                   "the forward at batch 131072 to", "more than this machine's", (const char *)NULL);
    expect_refused(spec, MNIST, 0, CG_EINVAL, "batch 0 must be at least 1", (const char *)NULL);
}

/* The count, exactly, for the seed net at 64: every output but flatten's, and the input. */
static void test_forward_bytes_counted(void **s) {
    (void)s;
    cg_net_info info;
    assert_int_equal(cg_net_check_spec("conv2d(1,8,3) relu max_pool2d(2) flatten linear(1352,10) log_softmax", 3,
                                       MNIST, 64, &info), CG_OK);
    assert_int_equal(info.forward_bytes, 64 * 4 * (784 + 8 * 26 * 26 * 2 + 8 * 13 * 13 + 10 + 10));
    /* the peak: the conv's moment (input, output, one image's 9 x 676 columns per thread) is below
     * the whole forward's, which is then the peak */
    const int64_t nt = cg_get_num_threads();
    assert_true(4 * (64 * (784 + 8 * 26 * 26) + 9 * 676 * nt) < info.forward_bytes);
    assert_int_equal(info.peak_bytes, info.forward_bytes);
    cg_net_info_free(&info);
    /* A small net whose workspace is huge (a 20x20 kernel over 1000x1000 padded outputs: 1200 x 10^6
     * floats of columns per thread) has a peak far above its forward. */
    assert_int_equal(cg_net_check_spec("conv2d(3,1,20,padding=507)", 3, CG_SHAPE(3, 5, 5), 1, &info), CG_OK);
    assert_true(info.forward_bytes < ((int64_t)8 << 20));
    assert_int_equal(info.peak_bytes, info.forward_bytes + 4LL * 1200 * 1000 * 1000 * nt);
    cg_net_info_free(&info);
    /* residual: its layers and the add; parallel: each branch's layers and the cat */
    assert_int_equal(cg_net_check_spec("residual(relu) parallel(relu | tanh sigmoid)", 3, CG_SHAPE(2, 3, 3), 2, &info),
                     CG_OK);
    assert_int_equal(info.forward_bytes, 2 * 4 * (18 + 18 * 2 + 18 * 3 + 36));
    cg_net_info_free(&info);
}

/* Names nest into a state-dict prefix that cg_module_parameters holds in 255 characters with its
 * '.': the check refuses one that would not fit, with the layer's position, where it used to pass
 * and fail at the optimizer ("module names nest too deep"). */
static void test_names_nested_past_255_refused(void **s) {
    (void)s;
    char spec[1024] = "", name[40];
    size_t k = 0, eighth_at = 0;
    for (int d = 0; d < 8; d++) {   /* 8 residuals named abc...d (32 chars): the 8th's name is 263 long */
        snprintf(name, sizeof name, "%.31s%d", "abcdefghijklmnopqrstuvwxyzabcdefgh", d);
        eighth_at = k;
        k += (size_t)snprintf(spec + k, sizeof spec - k, "%s=residual(", name);
    }
    k += (size_t)snprintf(spec + k, sizeof spec - k, "relu");
    for (int d = 0; d < 8; d++) k += (size_t)snprintf(spec + k, sizeof spec - k, ")");
    char want[96];
    snprintf(want, sizeof want, "net spec, char %zu: layer name 'abcdefghijklmnopqrstuvwxyzabcde7'", eighth_at + 1);
    expect_refused(spec, MNIST, 1, CG_EINVAL, want, "nests past 255 characters", "has 263", (const char *)NULL);
    /* 7 deep with a short innermost name fits (7 * 33 + 4 = 235), builds, and names its parameters */
    char ok[1024] = "";
    k = 0;
    for (int d = 0; d < 7; d++) {
        snprintf(name, sizeof name, "%.31s%d", "abcdefghijklmnopqrstuvwxyzabcdefgh", d);
        k += (size_t)snprintf(ok + k, sizeof ok - k, "%s=residual(", name);
    }
    k += (size_t)snprintf(ok + k, sizeof ok - k, "conv=conv2d(1,1,1)");
    for (int d = 0; d < 7; d++) k += (size_t)snprintf(ok + k, sizeof ok - k, ")");
    cg_module *m = cg_net_from_spec(ok, 3, MNIST, NULL);
    if (!m) fail_msg("%s", cg_last_error());
    cg_named_list params;
    assert_int_equal(cg_module_parameters(m, &params), CG_OK);
    assert_int_equal(params.n, 2);
    cg_named_list_free(&params);
    cg_module_free(m);
    /* a parallel's branch index counts too */
    char par[1024] = "";
    k = 0;
    for (int d = 0; d < 7; d++) {
        snprintf(name, sizeof name, "%.31s%d", "abcdefghijklmnopqrstuvwxyzabcdefgh", d);
        k += (size_t)snprintf(par + k, sizeof par - k, "%s=residual(", name);
    }
    size_t branch_at = k + 23 + 9;   /* after "ppp...=parallel(" */
    k += (size_t)snprintf(par + k, sizeof par - k, "pppppppppppppppppppppp=parallel(relu | relu) conv2d(2,1,1)");
    for (int d = 0; d < 7; d++) k += (size_t)snprintf(par + k, sizeof par - k, ")");
    char at[64];   /* its name, 253 characters, fits; its branch "0" (255) does not */
    snprintf(at, sizeof at, "net spec, char %zu: branch 0 of this parallel", branch_at + 1);
    expect_refused(par, MNIST, 1, CG_EINVAL, at, "nests past 255 characters", "has 255", (const char *)NULL);
}

/* A word given '(' and nothing after it says so, at the '(' (not "takes 0 arguments, got more"). */
static void test_open_paren_never_closed(void **s) {
    (void)s;
    expect_refused("relu(", MNIST, 1, CG_EINVAL, "net spec, char 5: relu: '(' is never closed", (const char *)NULL);
    expect_refused("flatten log_softmax(", MNIST, 1, CG_EINVAL, "char 20: log_softmax: '(' is never closed",
                   (const char *)NULL);
    expect_refused("relu(  # a comment", MNIST, 1, CG_EINVAL, "char 5: relu: '(' is never closed", (const char *)NULL);
    expect_refused("conv2d(1,8,", MNIST, 1, CG_EINVAL, "char 7: conv2d: '(' is never closed", (const char *)NULL);
    expect_refused("relu(1)", MNIST, 1, CG_EINVAL, "relu takes 0 arguments, got more", (const char *)NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_pool_output_refused),
        cmocka_unit_test(test_overflowing_output_refused),
        cmocka_unit_test(test_padding_blowup_refused_at_batch),
        cmocka_unit_test(test_forward_bytes_counted),
        cmocka_unit_test(test_names_nested_past_255_refused),
        cmocka_unit_test(test_open_paren_never_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
