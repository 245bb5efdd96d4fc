/* SPDX-License-Identifier: MIT */
/* cgrad/autograd.h — the reverse-mode tape.
 *
 * Each thread has one tape. While grad mode is on, every op whose inputs require grad records a
 * node; cg_backward(loss) walks the nodes in reverse and accumulates into each leaf's .grad
 * (PyTorch's semantics: grads add up across backward calls until zeroed).
 *
 * Ownership: every tensor an op returns belongs to the tape, recorded or not (no-grad mode too);
 * cg_tape_release() hands them all back at once. Their buffers are kept and recycled, so a loop
 * that builds the same graph each step stops allocating after its first step. */
#ifndef CGRAD_AUTOGRAD_H
#define CGRAD_AUTOGRAD_H

#include "cgrad/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* loss must have one element. Intermediate grads are recomputed by each call. Call it on the
 * thread that recorded loss, before cg_tape_release(): otherwise CG_ESTATE. */
CG_API cg_status cg_backward(cg_tensor *loss);

/* Release every tensor the tape owns (their buffers stay pooled for the next step). */
CG_API void cg_tape_release(void);
/* Free the pooled buffers and the thread's scratch arena too (e.g. at program exit). Implies
 * cg_tape_release(). A thread that exits does this for itself. */
CG_API void cg_tape_free_all(void);
/* A tape-owned tensor that borrows data (any element type; not copied, not freed) until
 * cg_tape_release(): e.g. a batch's class labels handed to cg_nll_loss. Its slot is pooled, so a
 * warm training step that makes one allocates nothing. It never requires grad. */
CG_API cg_tensor *cg_tape_wrap(cg_dtype dtype, void *data, int ndim, const int64_t *shape);
CG_API int64_t cg_tape_num_nodes(void);
CG_API int64_t cg_tape_num_tensors(void);
/* Bytes held by the tape's pool (in use and free). */
CG_API int64_t cg_tape_pool_bytes(void);
/* Bytes held by this thread's scratch arena: the workspace ops borrow for one call (conv2d's
 * im2col columns, Winograd's tiles, conv_transpose2d's columns). It grows to the largest
 * request and is freed by cg_tape_free_all() or when the thread exits. */
CG_API int64_t cg_tape_scratch_bytes(void);

/* Grad mode. No-grad: ops compute but record nothing (evaluation, parameter updates).
 *   bool prev = cg_set_grad_enabled(false); ... cg_set_grad_enabled(prev); */
CG_API bool cg_set_grad_enabled(bool enabled); /* returns the previous mode */
CG_API bool cg_is_grad_enabled(void);

/* Profile (also on when the environment has CG_PROFILE=1): the wall time of each op's forward
 * and backward, calls counted apart, summed by (phase, op); the optimizer step
 * (optimizer_step) and the loader's batches (data_loading) are rows of their own. The phase is a
 * label the program sets ("train", "eval"; default "-"; a static string). cg_profile_fprint
 * prints the table sorted by time, with the total against the wall time since profiling began.
 * With CG_PROFILE set, a program that never calls cg_profile_fprint gets the table on stderr at
 * exit. Profile while one thread runs ops (base.h). */
CG_API void cg_profile_enable(bool on);
CG_API bool cg_profile_enabled(void);
CG_API void cg_profile_reset(void);
CG_API void cg_profile_set_phase(const char *phase);
CG_API const char *cg_profile_phase(void);
CG_API void cg_profile_fprint(FILE *f);

#ifdef __cplusplus
}
#endif
#endif
