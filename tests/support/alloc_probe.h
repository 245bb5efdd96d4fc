/* SPDX-License-Identifier: MIT */
/* tests/support/alloc_probe.h — an allocator hook (cg_set_allocator) that records the largest
 * request in g_largest and refuses any above 8 MiB, so a test can show that a call on hostile input
 * never asks for much memory:
 *   g_largest = 0; cg_set_allocator(&largest_allocator); ...; cg_set_allocator(NULL);
 *   assert_true(g_largest < (1u << 20)); */
#ifndef CGRAD_TEST_ALLOC_PROBE_H
#define CGRAD_TEST_ALLOC_PROBE_H
#include <stddef.h>
#include <cgrad/cgrad.h>

extern size_t g_largest;
extern const cg_allocator largest_allocator;
/* Counts every allocation in g_allocs (a warm step must leave it unchanged):
 *   cg_set_allocator(&counting_allocator); ...; long before = g_allocs; step(); assert(g_allocs == before); */
extern long g_allocs;
extern const cg_allocator counting_allocator;
#endif
