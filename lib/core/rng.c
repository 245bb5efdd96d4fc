/* SPDX-License-Identifier: MIT */
/* lib/core/rng.c — the global counter-based generator.
 * Draw i of a stream is a pure function of (seed, i): two rounds of the SplitMix64 / Stafford
 * "Mix13" finaliser over the counter keyed by the seed. Ops reserve a block of counters and
 * fill it in parallel, so the numbers do not depend on the thread count.
 *
 * Process-wide and atomic (the thread contract, base.h): one seed and one counter for all threads.
 * cg_rng_reserve is an atomic fetch-add, so threads that draw at once get disjoint blocks, never
 * the same numbers and never a data race; which thread gets which block follows the order in
 * which they reserve. An op reserves once per call, outside its OpenMP loop, so the numbers never
 * depend on the OpenMP thread count. Seed, state get/set are single atomic loads and stores each:
 * calling them while another thread draws is safe but leaves the order between them open. */
#include <stdatomic.h>
#include "cg_internal.h"

static _Atomic uint64_t g_seed = 0x853c49e6748fea9bULL;
static _Atomic uint64_t g_offset = 0;

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t cg_rng_bits(uint64_t seed, uint64_t counter) {
    return mix64(mix64(counter * 0x9e3779b97f4a7c15ULL + seed) ^ seed);
}

void cg_manual_seed(uint64_t seed) {
    atomic_store(&g_seed, mix64(seed + 0x9e3779b97f4a7c15ULL));
    atomic_store(&g_offset, 0);
}
cg_rng_state cg_rng_get_state(void) { return (cg_rng_state){ atomic_load(&g_seed), atomic_load(&g_offset) }; }
void cg_rng_set_state(cg_rng_state s) { atomic_store(&g_seed, s.seed); atomic_store(&g_offset, s.offset); }
uint64_t cg_rng_seed(void) { return atomic_load_explicit(&g_seed, memory_order_relaxed); }

uint64_t cg_rng_reserve(uint64_t n) { return atomic_fetch_add_explicit(&g_offset, n, memory_order_relaxed); }

/* A stream's key: stream 0 of a seed is what cg_manual_seed gives the default stream, so code
 * that moves from the default stream to its own cg_rng keeps its numbers. */
uint64_t cg_rng_key(const cg_rng *r) {
    const uint64_t k0 = mix64(r->seed + 0x9e3779b97f4a7c15ULL);
    return r->stream ? mix64(k0 ^ mix64(r->stream * 0xd1b54a32d192ed03ULL + 0x8cb92ba72f3d8dd7ULL)) : k0;
}

cg_rng cg_rng_new(uint64_t seed) { return (cg_rng){ seed, 0, 0 }; }
cg_rng cg_rng_fork(uint64_t seed, uint64_t k) { return (cg_rng){ seed, k, 0 }; }

uint64_t cg_rng_take(cg_rng *r, uint64_t n, uint64_t *key) {
    if (!r) {
        *key = cg_rng_seed();
        return cg_rng_reserve(n);
    }
    *key = cg_rng_key(r);
    const uint64_t c0 = r->counter;
    r->counter += n;
    return c0;
}
