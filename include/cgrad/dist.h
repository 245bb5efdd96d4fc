/* SPDX-License-Identifier: MIT */
/* cgrad/dist.h — data-parallel training over MPI (library cgrad_dist, built when CMake finds MPI
 * and CGRAD_WITH_MPI is ON; targets that link it get CGRAD_WITH_MPI defined). Not included by
 * cgrad/cgrad.h: the core library never depends on MPI.
 *
 *   cg_dist_init(&argc, &argv);                        // MPI_Init_thread, errors returned
 *   int rank = cg_dist_rank(), size = cg_dist_size();
 *   cg_manual_seed(seed); cg_module *m = cg_net_from_spec(spec, 3, shape, NULL); cg_optimizer *o = ...;
 *   cg_dist_broadcast_module(m, 0);                    // everyone starts from rank 0's weights
 *   lo.batch_size = 64; lo.shard_rank = rank; lo.shard_count = size;   // 64 is the global batch
 *   cg_batch b;                                        // every rank: the same lo.rng
 *   while (cg_loader_next(l, &b)) {
 *       int64_t n = cg_tensor_size(b.y, 0);            // this rank's rows (64 / size)
 *       cg_optim_zero_grad(o);
 *       cg_tensor *loss = cg_nll_loss(cg_module_forward(m, b.x), b.y, CG_REDUCTION_MEAN);
 *       cg_backward(loss);
 *       float l = cg_tensor_item(loss);
 *       if (cg_dist_allreduce_grads(o, n, &l) != CG_OK) { ...; cg_dist_abort(1); }
 *       cg_optim_step(o);                              // identical on every rank; l: global mean
 *   }
 *   cg_dist_finalize();
 *
 * The trainer (cgrad/train.h) takes the same calls as a communicator:
 *
 *   cg_trainer_options to = cg_trainer_defaults();
 *   to.comm = cg_dist_comm();                          // after cg_dist_init; batch_size is global
 *
 * Every call but cg_dist_rank/size/comm/abort is collective: all ranks make it, in the same order.
 * Errors follow the library's convention (cg_status, cg_last_error() names the call and the MPI
 * error); MPI errors are returned, not fatal (MPI_ERRORS_RETURN), and the library never exits:
 * an app that gets an error calls cg_dist_abort, which ends every rank of the job.
 *
 * Ownership: the gradient buffer is the library's (allocated on the first allreduce, grown only if
 * a larger optimizer comes along, freed by cg_dist_finalize), and so is cg_dist_comm's struct;
 * modules and optimizers are borrowed. */
#ifndef CGRAD_DIST_H
#define CGRAD_DIST_H

#include "cgrad/optim.h"
#include "cgrad/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Initialises MPI (unless the caller already did) with MPI_THREAD_FUNNELED: only the main thread
 * calls MPI, OpenMP threads compute. argc/argv may be NULL. */
CG_API cg_status cg_dist_init(int *argc, char ***argv);
/* This process's rank and the number of ranks in MPI_COMM_WORLD: 0 and 1 before cg_dist_init. */
CG_API int cg_dist_rank(void);
CG_API int cg_dist_size(void);
/* Copies every parameter and buffer (the state dict) of root's module to the other ranks'
 * modules, which must have the same structure (checked collectively: CG_ESHAPE everywhere if any
 * rank's tensors differ in number or size). */
CG_API cg_status cg_dist_broadcast_module(cg_module *m, int root);
/* Replaces each parameter's gradient with the weighted mean over ranks, weighted by local_n (this
 * rank's batch rows): one MPI_Allreduce over one fused float buffer that also carries *loss (may
 * be NULL), which becomes the same weighted mean, i.e. the global batch's mean loss. With equal
 * shards this is DistributedDataParallel's average. A parameter without a gradient counts as zero.
 * local_n >= 1. */
CG_API cg_status cg_dist_allreduce_grads(const cg_optimizer *o, int64_t local_n, float *loss);
/* The communicator over MPI_COMM_WORLD for the trainer (cgrad/comm.h): rank and size as above,
 * allreduce_grads = cg_dist_allreduce_grads, broadcast_module = cg_dist_broadcast_module, ctx NULL.
 * The library's struct (do not free it), valid until cg_dist_finalize; NULL before cg_dist_init
 * (CG_ESTATE in cg_last_error). Not collective. */
CG_API const cg_comm *cg_dist_comm(void);
/* In-place sum over ranks of n doubles (metrics, counts). */
CG_API cg_status cg_dist_allreduce_sum(double *v, int64_t n);
CG_API cg_status cg_dist_barrier(void);
/* Checks that every rank holds the same n values v (set sizes, options that shape the schedule,
 * a data checksum...; names[i] names v[i]): one MPI_Allreduce of 2n int64s (min and max). The
 * result is the same on every rank: CG_OK, or CG_EINVAL with a message naming the first value
 * that differs ("ranks disagree on --epochs: 1 on some ranks, 2 on others (this rank: 2)"), so
 * that all ranks can stop together instead of waiting forever in a later collective. n <= 64. */
CG_API cg_status cg_dist_agree(const char *const *names, const int64_t *v, int n);
/* MPI_Abort on MPI_COMM_WORLD: ends every rank with `code`. For programs, after an error. */
CG_API void cg_dist_abort(int code);
/* Frees the gradient buffer and finalizes MPI (if cg_dist_init initialised it). */
CG_API cg_status cg_dist_finalize(void);

#ifdef __cplusplus
}
#endif
#endif
