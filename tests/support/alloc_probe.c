/* SPDX-License-Identifier: MIT */
/* tests/support/alloc_probe.c — see alloc_probe.h. */
#include <stdlib.h>
#include "alloc_probe.h"

size_t g_largest;

static void *largest_alloc(size_t n, void *ctx) {
    (void)ctx;
    if (n > g_largest) g_largest = n;
    return n > (8u << 20) ? NULL : malloc(n);   /* refuse anything big: the test must not use the memory */
}
static void largest_free(void *p, void *ctx) { (void)ctx; free(p); }

const cg_allocator largest_allocator = { largest_alloc, largest_free, NULL };

long g_allocs;
static void *counting_alloc(size_t n, void *ctx) { (void)ctx; g_allocs++; return malloc(n); }
static void counting_free(void *p, void *ctx) { (void)ctx; free(p); }
const cg_allocator counting_allocator = { counting_alloc, counting_free, NULL };
