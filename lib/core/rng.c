/* lib/core/rng.c — the global counter-based generator.
 * Draw i of a stream is a pure function of (seed, i): two rounds of the SplitMix64 / Stafford
 * "Mix13" finaliser over the counter keyed by the seed. Ops reserve a block of counters and
 * fill it in parallel, so the numbers do not depend on the thread count. */
#include "cg_internal.h"

static uint64_t g_seed = 0x853c49e6748fea9bULL;
static uint64_t g_offset = 0;

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t cg_rng_bits(uint64_t seed, uint64_t counter) {
    return mix64(mix64(counter * 0x9e3779b97f4a7c15ULL + seed) ^ seed);
}

void cg_manual_seed(uint64_t seed) { g_seed = mix64(seed + 0x9e3779b97f4a7c15ULL); g_offset = 0; }
cg_rng_state cg_rng_get_state(void) { return (cg_rng_state){ g_seed, g_offset }; }
void cg_rng_set_state(cg_rng_state s) { g_seed = s.seed; g_offset = s.offset; }
uint64_t cg_rng_seed(void) { return g_seed; }

uint64_t cg_rng_reserve(uint64_t n) {
    uint64_t first = g_offset;
    g_offset += n;
    return first;
}
