/* SPDX-License-Identifier: MIT */
/* lib/core/arena.c — the per-thread scratch arena: one grow-only buffer per thread that an op
 * borrows for the length of one call (conv2d's im2col columns and dW partials, Winograd's tiles,
 * conv_transpose2d's columns). It lives in lib/core so that the ops borrow from below them, and
 * the tape, which owns it, reaches it from above: a borrow lasts until the next borrow on the
 * thread or the tape's release (no op keeps one across calls), and cg_tape_free_all() frees the
 * buffer; a thread that exits frees its own (a pthread key's destructor, as the tape's pool).
 * The buffer only grows, to the largest request the thread has made, so a step that repeats the
 * last one allocates nothing. One borrow at a time: an op borrows once, before its parallel
 * region, and hands each OpenMP thread its own slab of it. */
#define _POSIX_C_SOURCE 200809L  /* posix_memalign */
#include <pthread.h>
#include <stdlib.h>
#include "cg_internal.h"

static _Thread_local void *scratch;
static _Thread_local size_t scratch_bytes;
static _Thread_local void *gemm_scratch;        /* cg_gemm's own: a transposed operand */
static _Thread_local size_t gemm_scratch_bytes;

/* ---- thread exit: free this thread's buffer (the main thread's: cg_tape_free_all or exit) ---- */
static pthread_key_t exit_key;                        /* made once; its destructor frees the buffer */
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static bool exit_key_ok;                              /* written once, under exit_once */
static _Thread_local bool exit_registered;

static void thread_exit(void *unused) { (void)unused; cg_scratch_free(); }
static void exit_key_make(void) { exit_key_ok = pthread_key_create(&exit_key, thread_exit) == 0; }

static void register_thread_exit(void) {
    if (exit_registered) return;
    pthread_once(&exit_once, exit_key_make);
    if (exit_key_ok && pthread_setspecific(exit_key, &exit_registered) == 0) exit_registered = true;
}

/* A grow-only buffer (*buf, *have bytes) with room for `bytes`. */
static void *grow(void **buf, size_t *have, size_t bytes) {
    if (bytes <= *have && *buf) return *buf;
    register_thread_exit();
    void *p = cg_malloc(bytes ? bytes : 64);
    if (!p) return NULL;
    cg_free(*buf);
    *buf = p;
    *have = bytes ? bytes : 64;
    return p;
}

void *cg_scratch_borrow(size_t bytes) { return grow(&scratch, &scratch_bytes, bytes); }

/* cg_gemm's buffer: apart from the ops' one, since cg_gemm runs inside their borrows. It is taken
 * on OpenMP's worker threads too (a per-image dW GEMM), and freed when they exit, which may be
 * at any time: so from malloc, not through the allocator hook, whose functions the caller may
 * change meanwhile (a block from one hook freed by another) and need not make thread-safe. No
 * error is set on failure: cg_gemm then runs the BLAS. */
void *cg_gemm_scratch(size_t bytes) {
    if (bytes <= gemm_scratch_bytes && gemm_scratch) return gemm_scratch;
    register_thread_exit();
    const size_t n = ((bytes ? bytes : 64) + 63) / 64 * 64;
    void *p = NULL;
    if (n < bytes || posix_memalign(&p, 64, n) != 0) return NULL;
    free(gemm_scratch);
    gemm_scratch = p;
    gemm_scratch_bytes = n;
    return p;
}

void cg_scratch_free(void) {
    cg_free(scratch);
    scratch = NULL;
    scratch_bytes = 0;
    free(gemm_scratch);
    gemm_scratch = NULL;
    gemm_scratch_bytes = 0;
}

int64_t cg_scratch_bytes(void) { return (int64_t)(scratch_bytes + gemm_scratch_bytes); }
