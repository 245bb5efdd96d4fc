/* SPDX-License-Identifier: MIT */
/* cgrad/base.h — export macro, status codes, errors, version, threads, allocator, RNG.
 *
 * Error convention (the whole library follows it):
 *   - Functions that do I/O, parsing or in-place updates return a cg_status (CG_OK == 0).
 *   - Functions that build tensors or graph nodes return a pointer, NULL on error.
 *     An op given a NULL input returns NULL without touching the error message, so a caller
 *     may chain ops and check once, at the loss.
 *   - Every error sets a thread-local message, read with cg_last_error(), that names the
 *     argument or file and the problem. cg_strerror() names a status.
 *   - The library never calls exit() or abort() on user error.
 *
 * Thread contract (docs/design.md, "The thread contract"; tested in tests/test_threads.c):
 *   Per thread: the tape (every op result belongs to the calling thread's tape; cg_backward must
 *     run on that thread and before cg_tape_release(), else CG_ESTATE), grad mode, the last
 *     error message, the scratch arena ops borrow workspaces from. A thread's tape and arena are
 *     freed when it exits; the main thread's by cg_tape_free_all() or at process end.
 *   Process-wide: the thread count (cg_set_num_threads reaches every thread), the default RNG
 *     stream (one key, one atomic counter: concurrent draws get disjoint numbers, in the order the
 *     threads draw; a cg_rng of the caller's own is the caller's), the switches (config.h:
 *     atomics that any thread may change at any time; an op reads them once, at entry),
 *     profiling on/off, the allocator hook.
 *   Not thread-safe: a tensor written by two threads at once, in particular a leaf's grad (two
 *     threads backpropagating into one shared parameter at the same time lose updates); one
 *     module, optimizer or loader used by two threads at once; changing the seed or the
 *     allocator while other threads run ops; the profile's rows. */
#ifndef CGRAD_BASE_H
#define CGRAD_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(CG_BUILDING_LIBRARY)
#define CG_API __attribute__((visibility("default")))
#else
#define CG_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cg_status {
    CG_OK = 0,
    CG_ENOMEM = -1,   /* an allocation failed */
    CG_ESHAPE = -2,   /* shapes do not fit the operation */
    CG_EIO = -3,      /* a file could not be opened, read or written */
    CG_EFORMAT = -4,  /* a file's contents are malformed */
    CG_EINVAL = -5,   /* an argument is out of range */
    CG_ESTATE = -6,   /* the call does not fit the object's state (e.g. backward without a graph) */
} cg_status;

CG_API const char *cg_strerror(cg_status s);
/* Detail of the last error on this thread; "" if none. Valid until the next error. */
CG_API const char *cg_last_error(void);
CG_API void cg_clear_error(void);
/* Set this thread's message and return s: for libraries built on cgrad's public API (cgrad_dist),
 * so their errors follow the same convention. */
CG_API cg_status cg_set_error(cg_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "MAJOR.MINOR.PATCH" of the library that is linked. */
CG_API const char *cg_version(void);

/* Threads for cgrad's OpenMP kernels and for BLAS together, for every thread of the process
 * (each applies it the next time it enters the library). n <= 0 means all cores. */
CG_API void cg_set_num_threads(int n);
CG_API int cg_get_num_threads(void);
/* One line on the GEMMs: the BLAS, its kernel and why (OpenBLAS's core and the reason for it), then
 * the engine that runs the library's GEMMs (LIBXSMM and its instruction set, or the BLAS, and
 * why). A thread-local buffer, valid until the thread's next call. */
CG_API const char *cg_blas_info(void);

/* Allocator hook. Every heap allocation the library makes goes through it, so a caller can
 * count allocations (a training loop allocates nothing once warm) or route memory elsewhere.
 * NULL restores malloc/free. Set it before creating any object: memory is freed through the
 * hook that is current when it is freed. The one exception: the buffer each thread keeps for a
 * GEMM operand it transposes (grow-only, freed when the thread exits, taken on the library's
 * OpenMP worker threads too) comes from malloc, so the hook is only ever called on the threads
 * that call the library. */
typedef struct cg_allocator {
    void *(*alloc)(size_t size, void *ctx);
    void (*free)(void *ptr, void *ctx);
    void *ctx;
} cg_allocator;
CG_API void cg_set_allocator(const cg_allocator *a);

/* Random numbers: counter-based streams (a SplitMix64-style mixer over (key, counter)), so draw i
 * of a stream is a pure function of (seed, stream, i) and never depends on the thread count.
 *
 * A cg_rng is a stream the caller owns, a plain value: copy it to save it, assign it to restore
 * it; the counter advances by the draws taken from it (one caller at a time, like any object).
 * Functions that draw (dropout masks, the initialisers, cg_tensor_rand*, the loader's shuffle)
 * take a `cg_rng *`; NULL means the default stream, which is process-wide and atomic: threads
 * that draw from it at once never share a number, in the order they draw. cg_manual_seed(s)
 * makes the default stream the same as cg_rng_new(s). cg_rng_fork(seed, k) is stream k of seed,
 * independent of every other k (rank k of a data-parallel run, a loader, a worker). */
typedef struct cg_rng {
    uint64_t seed;     /* the user's seed */
    uint64_t stream;   /* 0 for cg_rng_new; k for cg_rng_fork(seed, k) */
    uint64_t counter;  /* how many 64-bit draws have been taken */
} cg_rng;
CG_API cg_rng cg_rng_new(uint64_t seed);
CG_API cg_rng cg_rng_fork(uint64_t seed, uint64_t k);

/* The default stream. Its state is (seed, offset): the stream key that cg_manual_seed derived
 * and the draws taken, two integers for a checkpoint. */
typedef struct cg_rng_state {
    uint64_t seed;   /* the stream's key (derived from the seed given to cg_manual_seed) */
    uint64_t offset; /* how many 64-bit draws have been used */
} cg_rng_state;
CG_API void cg_manual_seed(uint64_t seed);
CG_API cg_rng_state cg_rng_get_state(void);
CG_API void cg_rng_set_state(cg_rng_state s);

#ifdef __cplusplus
}
#endif
#endif
