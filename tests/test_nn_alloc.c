/* SPDX-License-Identifier: MIT */
/* tests/test_nn_alloc.c — layer constructors check every size before they allocate anything,
 * and stop at the first failed allocation (issue 12, item 11: cg_linear_new(2^31, 2^31, true)
 * allocated and filled an 8 GB bias after its weight had failed). Watched through the allocator
 * hook: it counts the requests, and fails every request above a limit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "cgrad/cgrad.h"

static size_t fail_above;
static long n_requests, n_after_failure;
static bool failed;
static void *hook_alloc(size_t size, void *ctx) {
    (void)ctx;
    n_requests++;
    if (failed) n_after_failure++;
    if (size > fail_above) { failed = true; return NULL; }
    return malloc(size);
}
static void hook_free(void *p, void *ctx) { (void)ctx; free(p); }

static void watch(size_t limit) {
    n_requests = n_after_failure = 0; failed = false; fail_above = limit;
    cg_set_allocator(&(cg_allocator){ hook_alloc, hook_free, NULL });
    cg_clear_error();
}
static void unwatch(void) { cg_set_allocator(NULL); }

static void expect_msg(const char *needle) {
    if (!strstr(cg_last_error(), needle)) fail_msg("error '%s' lacks '%s'", cg_last_error(), needle);
}

/* Too many elements: refused before any request (no 8 GB bias). */
static void test_huge_sizes_allocate_nothing(void **s) {
    (void)s;
    const int64_t g = (int64_t)1 << 31;
    watch(SIZE_MAX);
    assert_null(cg_linear_new(g, g, true));
    unwatch();
    expect_msg("Linear: weight [2147483648, 2147483648] has too many elements");
    assert_int_equal(n_requests, 0);
    watch(SIZE_MAX);
    assert_null(cg_conv2d_new(g, g, 3, NULL, true));
    unwatch();
    expect_msg("Conv2d: weight");
    assert_int_equal(n_requests, 0);
    watch(SIZE_MAX);  /* kernel * kernel overflows int64 */
    assert_null(cg_conv2d_new(1, 1, (int64_t)1 << 32, NULL, true));
    unwatch();
    expect_msg("Conv2d: weight");
    assert_int_equal(n_requests, 0);
    watch(SIZE_MAX);
    assert_null(cg_batch_norm2d_new(INT64_MAX / 2, 1e-5f, 0.1f));
    unwatch();
    expect_msg("BatchNorm2d");
    assert_int_equal(n_requests, 0);
}

/* A size that passes the checks but does not fit in memory: the first failure ends the
 * constructor (no bias, no buffers after it), and the message names the layer and tensor. */
static void test_stops_at_first_failed_allocation(void **s) {
    (void)s;
    watch(1 << 20);
    assert_null(cg_linear_new(1024, 1024, true));  /* weight 4 MiB > 1 MiB limit; bias 4 KiB */
    unwatch();
    assert_true(failed);
    assert_int_equal(n_after_failure, 0);
    expect_msg("Linear: weight [1024, 1024]");
    expect_msg("out of memory");
    watch(1 << 20);
    assert_null(cg_conv2d_new(256, 256, 3, NULL, true));  /* 2.25 MiB weight */
    unwatch();
    assert_true(failed);
    assert_int_equal(n_after_failure, 0);
    expect_msg("Conv2d: weight [256, 256, 3, 3]");
    watch(1 << 20);
    assert_null(cg_batch_norm2d_new(1 << 20, 1e-5f, 0.1f));  /* 4 MiB per tensor */
    unwatch();
    assert_true(failed);
    assert_int_equal(n_after_failure, 0);
    expect_msg("BatchNorm2d: weight [1048576]");
    /* Sizes that fit still work, through the same hook. */
    watch(SIZE_MAX);
    cg_module *m = cg_linear_new(8, 4, true);
    assert_non_null(m);
    cg_module_free(m);
    unwatch();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_sizes_allocate_nothing),
        cmocka_unit_test(test_stops_at_first_failed_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
