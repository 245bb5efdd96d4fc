/* SPDX-License-Identifier: MIT */
/* apps/common/dp.h — data parallelism for the programs: K ranks under mpirun (docs/distributed.md),
 * one rank otherwise. Built into a program with cgrad_dist (CGRAD_WITH_MPI defined, library
 * cgrad_apps_dp) or without (every call is the one-rank answer).
 *
 *   dp_init(prog, &argc, &argv);                // MPI only under a launcher; rank > 0: stdout to /dev/null
 *   ...build the net and the optimizer, resume...
 *   if (dp_check_agreement(&recipe, no_dropout, spec, train, test, epoch, opt) != CG_OK) ...  // all stop
 *   dp_sync_model(net);                         // rank 0's weights everywhere
 *   to.comm = dp_comm();                        // the trainer's communicator (NULL: one process)
 *   ...
 *   dp_finalize(rc);                            // after an error on one rank: ends the whole job
 *
 * Each rank takes batch/K rows of every global batch (same shuffle); gradients and the loss are
 * averaged in one allreduce, so every rank takes the same step. Rank 0 alone prints, evaluates,
 * writes metrics and checkpoints.
 *
 * Ownership: nothing here allocates for the caller; dp_comm's struct is cgrad_dist's
 * (cg_dist_comm), valid until dp_finalize. Modules, optimizers and datasets are borrowed. */
#ifndef CGRAD_APPS_DP_H
#define CGRAD_APPS_DP_H

#include <stdbool.h>
#include <stdint.h>
#include <cgrad/cgrad.h>

/* Starts MPI when an MPI launcher started the process (cli_under_mpi_launcher): a plain run stays
 * one process that never loads Open MPI. On failure prints "prog: <why>" and exits 1. Ranks other
 * than 0 send their stdout to /dev/null. */
void dp_init(const char *prog, int *argc, char ***argv);
/* This rank and the number of ranks: 0 and 1 without MPI. */
int dp_rank(void);
int dp_size(void);
/* Rank 0's parameters and buffers to every rank (CG_OK at once with one process). */
cg_status dp_sync_model(cg_module *m);
/* The trainer's communicator: cg_dist_comm() under mpirun, NULL in a plain run. */
const cg_comm *dp_comm(void);
/* cg_dist_agree under mpirun (CG_OK in a plain run): every rank gets the same answer, so all stop
 * together on a disagreement (and dp_finalize does not abort the job). */
cg_status dp_agree(const char *const *names, const int64_t *v, int n);
/* After an error on one rank (rc != 0) the others may wait in a collective: ends the whole job;
 * then finalizes MPI. */
void dp_finalize(int rc);

/* Under mpirun the ranks must agree on everything that shapes the run: set sizes and contents
 * (FNV-1a checksums), the image shape, the recipe c (its normalisation, length, batches, seed,
 * momentum, gamma; the rest as one hash), no_dropout, the net spec (a hash), and the resume point
 * (start_epoch, opt's step count and lr). Otherwise they would wait forever in an allreduce
 * (different step counts) or train silently with wrong shards. CG_EINVAL naming the first
 * difference by its flag ("ranks disagree on --epochs: ..."), the same on every rank; CG_OK with
 * one rank. */
cg_status dp_check_agreement(const cg_run_config *c, bool no_dropout, const char *spec, const cg_dataset *train,
                             const cg_dataset *test, int64_t start_epoch, const cg_optimizer *opt);
/* Test hook (tests/mpi.cmake): CGRAD_TEST_RANK1_EXIT_AFTER=k makes rank 1 print
 * "prog: rank 1: exiting after N steps" and exit(3) once steps >= k. */
void dp_test_fault(const char *prog, int64_t steps);

#endif
