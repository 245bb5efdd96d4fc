/* SPDX-License-Identifier: MIT */
/* cgrad/config.h — the library's switches, in one place (lib/core/config.c).
 *
 * Each switch is one process-wide atomic, set and read by key (zstd's ZSTD_CCtx_setParameter):
 *
 *   cg_config_set(CG_CONFIG_CONV_WINOGRAD, CG_WINOGRAD_OFF);   // 3x3 convs by im2col (A/B)
 *   cg_config_set(CG_CONFIG_CONV_DEPTHWISE, CG_DEPTHWISE_OFF); // depthwise convs by im2col (A/B)
 *   cg_config_set(CG_CONFIG_FUSION, 0);                        // every layer runs alone (A/B)
 *   int64_t on = cg_config_get(CG_CONFIG_FUSION);
 *
 * An op reads the switches once, when it is called, and runs to its end with what it read; a
 * recorded node's backward keeps its forward's choices (Winograd or im2col, the fused epilogue).
 * Any thread may change a switch at any time without a data race: an op already running is
 * unaffected, the next one sees the new value. None of them changes a result beyond float
 * rounding: Winograd, the direct depthwise kernels, the GEMM engine, a non-default forward block, and fusion's fold of an eval-mode BatchNorm2d
 * into the conv's weights (every other fusion is bit-equal to the unfused ops); the rest not at
 * all. They exist for A/B runs and tests.
 * Defaults: every switch as the library would choose. */
#ifndef CGRAD_CONFIG_H
#define CGRAD_CONFIG_H

#include "cgrad/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cg_config_key {
    /* 1 (default): Sequential fuses layers (Conv2d + ReLU as one op, ...: docs/design.md,
     * "Fusion"); 0: every layer runs on its own. */
    CG_CONFIG_FUSION = 0,
    /* A cg_winograd_mode: when conv2d takes Winograd F(2x2, 3x3) for its 3x3 stride-1 layers. */
    CG_CONFIG_CONV_WINOGRAD = 1,
    /* A cg_conv_schedule: how conv2d and conv_transpose2d spread a batch over threads. */
    CG_CONFIG_CONV_SCHEDULE = 2,
    /* 1 (default): conv2d's im2col/col2im loops specialised for unit width stride and dilation;
     * 0: the general loop only. */
    CG_CONFIG_CONV_DENSE = 3,
    /* conv2d's forward builds its im2col columns in blocks of output rows of at most this many
     * bytes (at least one row), each multiplied while in cache; >= 1, default
     * CG_CONV_BLOCK_BYTES_DEFAULT (1 GiB: in effect the whole image). */
    CG_CONFIG_CONV_BLOCK_BYTES = 4,
    /* A cg_depthwise_mode: when conv2d takes its direct depthwise kernels (groups == input
     * channels) instead of im2col + one GEMM per group. */
    CG_CONFIG_CONV_DEPTHWISE = 5,
    /* A cg_gemm_engine: which engine runs the library's GEMMs. Unlike the others, this one is
     * read at each GEMM (an op's GEMMs may change engine midway if it is changed meanwhile). */
    CG_CONFIG_GEMM_ENGINE = 6,
} cg_config_key;
#define CG_CONFIG_NUM_KEYS 7
#define CG_CONV_BLOCK_BYTES_DEFAULT ((int64_t)1 << 30)

typedef enum cg_winograd_mode {
    CG_WINOGRAD_OFF = 0,     /* never: im2col for every layer */
    CG_WINOGRAD_AUTO = 1,    /* default: 3x3, stride-1, undilated, ungrouped layers with >= 4 input channels */
    CG_WINOGRAD_ALWAYS = 2,  /* every 3x3, stride-1, undilated, ungrouped layer (tests) */
} cg_winograd_mode;

typedef enum cg_depthwise_mode {
    CG_DEPTHWISE_OFF = 0,     /* never: im2col + one GEMM per group for every grouped layer */
    CG_DEPTHWISE_AUTO = 1,    /* default: groups == input channels >= 2, output channels a multiple */
    CG_DEPTHWISE_ALWAYS = 2,  /* also a one-channel, ungrouped layer (groups == input channels == 1; tests) */
} cg_depthwise_mode;

typedef enum cg_gemm_engine {
    CG_GEMM_BLAS = 0,  /* every GEMM by the linked CBLAS */
    CG_GEMM_AUTO = 1,  /* default: LIBXSMM's JIT kernels (chosen from CPUID) where the build has
                        * LIBXSMM, in blocks fixed by the shape (so the bits do not depend on the
                        * thread count); the CBLAS where it has no kernel (cg_blas_info() says) */
} cg_gemm_engine;

typedef enum cg_conv_schedule {
    CG_CONV_SCHEDULE_AUTO = 0,    /* default: IMAGES with at least two images per thread, else SERIAL */
    CG_CONV_SCHEDULE_SERIAL = 1,  /* one image at a time, BLAS's threads inside each sgemm */
    CG_CONV_SCHEDULE_IMAGES = 2,  /* OpenMP threads over images, single-threaded sgemms */
} cg_conv_schedule;

/* Set a switch. CG_EINVAL (the switch unchanged) for an unknown key or a value out of its range,
 * naming both. */
CG_API cg_status cg_config_set(cg_config_key key, int64_t value);
/* A switch's current value; -1 with CG_EINVAL set for an unknown key. */
CG_API int64_t cg_config_get(cg_config_key key);
/* The switch's name ("fusion", "conv_winograd", ...), or NULL for an unknown key. */
CG_API const char *cg_config_name(cg_config_key key);
/* Every switch back to its default. */
CG_API void cg_config_reset(void);

#ifdef __cplusplus
}
#endif
#endif
