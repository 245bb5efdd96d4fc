/* SPDX-License-Identifier: MIT */
/* cgrad/comm.h — the communicator of data-parallel training: the two collective calls the
 * trainer (cgrad/train.h) needs, as a struct of function pointers, so that the library links no
 * MPI. cgrad_dist's cg_dist_comm() (cgrad/dist.h) gives one over MPI_COMM_WORLD; any transport of
 * yours can fill the struct instead:
 *
 *   cg_dist_init(&argc, &argv);
 *   cg_trainer_options o = cg_trainer_defaults();
 *   o.comm = cg_dist_comm();        // rank, size and the calls; NULL before cg_dist_init
 *
 * Every rank runs the same trainer over its shard of each global batch; both calls are
 * collective (all ranks make them, in the same order).
 *
 * Ownership: the struct and its ctx belong to whoever made them (cg_dist_comm's: cgrad_dist's,
 * valid until cg_dist_finalize); the trainer borrows them. The calls borrow the optimizer and the
 * module they are given. */
#ifndef CGRAD_COMM_H
#define CGRAD_COMM_H

#include "cgrad/base.h"
#include "cgrad/nn.h"
#include "cgrad/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cg_comm {
    void *ctx;
    int rank, size;
    /* Average the optimizer's gradients and *loss over the ranks (local_n: this rank's rows). */
    cg_status (*allreduce_grads)(void *ctx, cg_optimizer *opt, int64_t local_n, float *loss);
    /* Copy root's parameters and buffers to every rank. */
    cg_status (*broadcast_module)(void *ctx, cg_module *m, int root);
} cg_comm;

#ifdef __cplusplus
}
#endif
#endif
