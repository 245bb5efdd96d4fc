/* SPDX-License-Identifier: MIT */
/* lib/core/config.c — the library's switches (include/cgrad/config.h): one table of atomics.
 *
 * Every switch is an _Atomic int64_t read and written with relaxed order: the switches are
 * independent of each other and publish no data, so a relaxed load is all an op needs, and it
 * makes changing one from another thread while ops run race-free (tests/test_threads.c runs that
 * under ThreadSanitizer). Ops take one snapshot at entry (cg_config_snapshot) and never read the
 * table again in their loops. */
#include <stdatomic.h>
#include "cg_internal.h"

typedef struct cfg_def {
    const char *name;
    int64_t def, lo, hi;  /* default and valid range [lo, hi] */
} cfg_def;

static const cfg_def DEFS[CG_CONFIG_NUM_KEYS] = {
    [CG_CONFIG_FUSION] = { "fusion", 1, 0, 1 },
    [CG_CONFIG_CONV_WINOGRAD] = { "conv_winograd", CG_WINOGRAD_AUTO, CG_WINOGRAD_OFF, CG_WINOGRAD_ALWAYS },
    [CG_CONFIG_CONV_SCHEDULE] = { "conv_schedule", CG_CONV_SCHEDULE_AUTO, CG_CONV_SCHEDULE_AUTO,
                                  CG_CONV_SCHEDULE_IMAGES },
    [CG_CONFIG_CONV_DENSE] = { "conv_dense", 1, 0, 1 },
    [CG_CONFIG_CONV_BLOCK_BYTES] = { "conv_block_bytes", CG_CONV_BLOCK_BYTES_DEFAULT, 1, INT64_MAX },
    [CG_CONFIG_CONV_DEPTHWISE] = { "conv_depthwise", CG_DEPTHWISE_AUTO, CG_DEPTHWISE_OFF, CG_DEPTHWISE_ALWAYS },
    [CG_CONFIG_GEMM_ENGINE] = { "gemm_engine", CG_GEMM_AUTO, CG_GEMM_BLAS, CG_GEMM_AUTO },
};

/* The switches' values; a never-set switch holds its default (the initialisers below). */
static _Atomic int64_t values[CG_CONFIG_NUM_KEYS] = {
    [CG_CONFIG_FUSION] = 1,
    [CG_CONFIG_CONV_WINOGRAD] = CG_WINOGRAD_AUTO,
    [CG_CONFIG_CONV_SCHEDULE] = CG_CONV_SCHEDULE_AUTO,
    [CG_CONFIG_CONV_DENSE] = 1,
    [CG_CONFIG_CONV_BLOCK_BYTES] = CG_CONV_BLOCK_BYTES_DEFAULT,
    [CG_CONFIG_CONV_DEPTHWISE] = CG_DEPTHWISE_AUTO,
    [CG_CONFIG_GEMM_ENGINE] = CG_GEMM_AUTO,
};

static bool key_ok(cg_config_key key) { return (unsigned)key < CG_CONFIG_NUM_KEYS; }

const char *cg_config_name(cg_config_key key) { return key_ok(key) ? DEFS[key].name : NULL; }

cg_status cg_config_set(cg_config_key key, int64_t value) {
    if (!key_ok(key))
        return cg_error(CG_EINVAL, "cg_config_set: key %d is not a cg_config_key (0..%d)", (int)key,
                        CG_CONFIG_NUM_KEYS - 1);
    const cfg_def *d = &DEFS[key];
    if (value < d->lo || value > d->hi)
        return cg_error(CG_EINVAL, "cg_config_set: %s = %lld is out of range [%lld, %lld]", d->name,
                        (long long)value, (long long)d->lo, (long long)d->hi);
    atomic_store_explicit(&values[key], value, memory_order_relaxed);
    return CG_OK;
}

int64_t cg_config_get(cg_config_key key) {
    if (!key_ok(key)) {
        cg_error(CG_EINVAL, "cg_config_get: key %d is not a cg_config_key (0..%d)", (int)key, CG_CONFIG_NUM_KEYS - 1);
        return -1;
    }
    return atomic_load_explicit(&values[key], memory_order_relaxed);
}

void cg_config_reset(void) {
    for (int k = 0; k < CG_CONFIG_NUM_KEYS; k++) atomic_store_explicit(&values[k], DEFS[k].def, memory_order_relaxed);
}

cg_settings cg_config_snapshot(void) {
    return (cg_settings){
        .fusion = atomic_load_explicit(&values[CG_CONFIG_FUSION], memory_order_relaxed) != 0,
        .conv_dense = atomic_load_explicit(&values[CG_CONFIG_CONV_DENSE], memory_order_relaxed) != 0,
        .conv_winograd = (int)atomic_load_explicit(&values[CG_CONFIG_CONV_WINOGRAD], memory_order_relaxed),
        .conv_schedule = (int)atomic_load_explicit(&values[CG_CONFIG_CONV_SCHEDULE], memory_order_relaxed),
        .conv_block_bytes = atomic_load_explicit(&values[CG_CONFIG_CONV_BLOCK_BYTES], memory_order_relaxed),
        .conv_depthwise = (int)atomic_load_explicit(&values[CG_CONFIG_CONV_DEPTHWISE], memory_order_relaxed),
    };
}
