/* SPDX-License-Identifier: MIT */
/* cgrad/train.h — training in the library: the loss that fits the net, and evaluation.
 *
 *   cg_loss_kind k = cg_loss_resolve(net, CG_LOSS_AUTO);  // nll after a log_softmax, else cross_entropy
 *   ...first batch: cg_tensor *out = cg_module_forward(net, b.x);
 *   if (cg_loss_check(k, out, b.y) != CG_OK) ...          // before the first step: does k fit out?
 *   cg_tensor *loss = cg_loss(k, out, b.y, CG_REDUCTION_MEAN);
 */
#ifndef CGRAD_TRAIN_H
#define CGRAD_TRAIN_H

#include "cgrad/base.h"
#include "cgrad/tensor.h"
#include "cgrad/ops.h"
#include "cgrad/nn.h"
#include "cgrad/data.h"
#include "cgrad/optim.h"
#include "cgrad/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the loss ----------------------------------------------------------------------------
 * A classifier's loss over outputs [N, C] and int64 class targets [N]:
 *   CG_LOSS_NLL            cg_nll_loss: the outputs are log-probabilities (a net that ends in
 *                          log_softmax)
 *   CG_LOSS_CROSS_ENTROPY  cg_cross_entropy: the outputs are logits (a net that ends in linear)
 *   CG_LOSS_MSE            cg_mse_loss against the one-hot targets
 *   CG_LOSS_AUTO           nll when the net ends in log_softmax, cross_entropy otherwise
 *                          (cg_loss_resolve). */
typedef enum cg_loss_kind {
    CG_LOSS_AUTO = 0,
    CG_LOSS_NLL = 1,
    CG_LOSS_CROSS_ENTROPY = 2,
    CG_LOSS_MSE = 3,
} cg_loss_kind;
/* "auto", "nll", "cross_entropy", "mse"; NULL for a value outside the enum. */
CG_API const char *cg_loss_name(cg_loss_kind k);
/* The kind a name gives (the names above); CG_EINVAL naming the choices otherwise. */
CG_API cg_status cg_loss_parse(const char *name, cg_loss_kind *out);
/* Whether the net's last module (inside nested Sequentials) is a LogSoftmax. */
CG_API bool cg_module_ends_in_log_softmax(const cg_module *net);
/* k with CG_LOSS_AUTO resolved for net (k itself otherwise). */
CG_API cg_loss_kind cg_loss_resolve(const cg_module *net, cg_loss_kind k);
/* Whether k can train on outputs out for targets y, before the first step: out [N, C] float32
 * (C >= 1), y int64 [N]; for nll, every row of exp(out) sums to 1 (within 1e-3), i.e. out is
 * log-probabilities. CG_EINVAL with a message that names the loss, the shapes or the row and its
 * sum (and what to use instead); CG_OK else. A row with NaN or inf is left to the loss (a run that
 * diverged is not a loss that does not fit). A NULL argument is CG_EINVAL. Reads the values of
 * out (no tape, no allocation). */
CG_API cg_status cg_loss_check(cg_loss_kind k, const cg_tensor *out, const cg_tensor *y);
/* The loss of k (not AUTO: resolve it first) on the tape; NULL on error (cg_last_error). */
CG_API cg_tensor *cg_loss(cg_loss_kind k, cg_tensor *out, const cg_tensor *y, cg_reduction r);

/* ---- evaluation and prediction ---------------------------------------------------------
 * Both run the net in eval mode (dropout off, batch norm's running statistics) without gradients,
 * and leave its mode as it was. */
typedef struct cg_eval_result {
    double loss_sum;     /* the loss summed over the examples (mse: each row's mean over classes) */
    int64_t correct, n;  /* argmax == target, of n examples */
} cg_eval_result;
/* Over the whole loader from its start (cg_loader_set_epoch(loader, 0)): the summed loss of kind
 * (AUTO resolves for model) and the argmax accuracy; with confusion non-NULL, the classes x
 * classes confusion matrix (rows: true class, columns: predicted; the caller's array, zeroed here),
 * whose rows give the per-class counts. A non-finite output or loss is CG_EINVAL naming the batch,
 * the image and the class (argmax over NaN would print a plausible accuracy). */
CG_API cg_status cg_evaluate(cg_module *model, cg_loader *loader, cg_loss_kind kind, int64_t classes,
                             int64_t *confusion, cg_eval_result *r);
/* The net's outputs for a batch x (a caller-owned copy); NULL on error. */
CG_API cg_tensor *cg_predict(cg_module *net, cg_tensor *x);
/* The net's outputs [1, K] (a caller-owned tensor) for ONE unbatched example of shape
 * shape[0..ndim) ([C, H, W] for an image), read from a float buffer the caller owns and
 * normalised first as the loader normalises a batch (norm may be NULL or channels 0: none; 1: one
 * mean and std; else one per channel, shape[0] of them). The argmax of the result is the class:
 *   cg_tensor *p = cg_predict_one(net, pixels, 3, (int64_t[]){ 1, 28, 28 }, &norm);
 *   int64_t k = cg_tensor_cdata_i64(cg_argmax(p, 1, false))[0]; */
CG_API cg_tensor *cg_predict_one(cg_module *net, const float *example, int ndim, const int64_t *shape,
                                 const cg_normalize *norm);

/* ---- the trainer -----------------------------------------------------------------------
 * The epoch loop over a dataset: shuffled per epoch from the trainer's own stream (opts.rng), the
 * short last batch kept, the loss (checked against the net's outputs at the first step), the
 * optimizer step with gradient clipping, the schedule's steps (per step, per epoch, or on the test
 * loss), the data-parallel averaging when a communicator is given, and an evaluation on the test
 * set after each epoch. Progress reaches the caller through callbacks.
 *
 *   cg_trainer_options o = cg_trainer_defaults();    // batch 64, loss auto, shuffled by cg_rng_new(0)
 *   o.norm = norm;
 *   cg_trainer *t = cg_trainer_new(net, opt, train, test, &o);
 *   cg_lr_scheduler s = cg_cosine_lr(opt, 10, 0);
 *   cg_trainer_set_scheduler(t, &s, CG_SCHED_EVERY_EPOCH);
 *   cg_trainer_fit(t, 10);                           // epochs 1..10 (from cg_trainer_epoch(t) + 1)
 *   cg_trainer_free(t);                              // net, opt, datasets stay the caller's
 *
 * Data parallel: a communicator (cg_comm, cgrad/comm.h) of K ranks; every rank runs the same
 * trainer over its shard of each global batch (batch_size stays global: a multiple of K); the
 * gradients and the loss are averaged (allreduce) before each step; rank 0 alone evaluates. The
 * library links no MPI: cgrad_dist's cg_dist_comm() gives one over MPI (or fill the struct for
 * any transport of yours). */

typedef enum cg_sched_every {
    CG_SCHED_EVERY_EPOCH = 0,   /* cg_sched_step after each epoch */
    CG_SCHED_EVERY_STEP = 1,    /* cg_sched_step after each optimizer step (OneCycleLR) */
    CG_SCHED_ON_TEST_LOSS = 2,  /* cg_sched_step_metric with the test loss after each epoch (plateau) */
} cg_sched_every;

/* What a callback sees. */
typedef struct cg_train_event {
    int64_t epoch;          /* 1-based */
    int64_t step;           /* optimizer steps taken in all (opt->step_count) */
    int64_t epoch_step;     /* steps taken in this epoch */
    int64_t done, total;    /* examples of this epoch so far (all ranks), and in the epoch */
    float loss;             /* this step's training loss (averaged over ranks) */
    float lr;               /* the lr of this step (on_epoch_end: of the epoch's steps) */
    double seconds;         /* on_epoch_end: the epoch's training time */
} cg_train_event;
/* Each may be NULL; a status other than CG_OK stops the run with it (cg_trainer_fit returns it). */
typedef struct cg_train_callbacks {
    void *ctx;
    cg_status (*on_epoch_start)(void *ctx, cg_module *net, int64_t epoch);
    cg_status (*on_step)(void *ctx, const cg_train_event *e);
    /* test: the evaluation of the epoch (NULL without a test set, or on ranks other than 0). */
    cg_status (*on_epoch_end)(void *ctx, const cg_train_event *e, const cg_eval_result *test);
} cg_train_callbacks;

typedef struct cg_trainer_options {
    cg_loss_kind loss;        /* default AUTO: resolved for the net (cg_loss_resolve) */
    int64_t batch_size;       /* default 64; global under a communicator */
    int64_t test_batch_size;  /* default 1000 */
    cg_rng rng;               /* the shuffling stream; default cg_rng_new(0) */
    cg_normalize norm;        /* applied to every batch (and by cg_trainer_predict_one); default none */
    double clip_grad_norm;    /* > 0: total L2 norm at most this; default 0 (off) */
    const cg_comm *comm;      /* NULL: one process */
    cg_train_callbacks callbacks;
} cg_trainer_options;
typedef struct cg_trainer cg_trainer;

CG_API cg_trainer_options cg_trainer_defaults(void);
/* Borrows net, opt, train and test (test may be NULL: no evaluation); they must outlive the
 * trainer. NULL on error (cg_last_error: the option named). */
CG_API cg_trainer *cg_trainer_new(cg_module *net, cg_optimizer *opt, const cg_dataset *train,
                                  const cg_dataset *test, const cg_trainer_options *o);
CG_API void cg_trainer_free(cg_trainer *t);
/* The schedule (borrowed; NULL: none) and when it steps. */
CG_API cg_status cg_trainer_set_scheduler(cg_trainer *t, cg_lr_scheduler *s, cg_sched_every every);
/* Optimizer steps per epoch (the loader's batches: a last batch too small for every rank is dropped). */
CG_API int64_t cg_trainer_steps_per_epoch(const cg_trainer *t);
/* The loss in use (AUTO resolved). */
CG_API cg_loss_kind cg_trainer_loss(const cg_trainer *t);
/* Epochs completed (0 for a new run); set it when a run continues from a checkpoint. */
CG_API int64_t cg_trainer_epoch(const cg_trainer *t);
CG_API cg_status cg_trainer_set_epoch(cg_trainer *t, int64_t epochs_done);
/* Trains epochs cg_trainer_epoch(t) + 1 .. epochs (nothing when already there). A non-finite
 * training loss stops the run (CG_EINVAL naming the epoch and step: the weights are not stepped
 * to NaN). */
CG_API cg_status cg_trainer_fit(cg_trainer *t, int64_t epochs);
/* cg_evaluate over the test set with the trainer's loss and normalisation. */
CG_API cg_status cg_trainer_evaluate(cg_trainer *t, int64_t classes, int64_t *confusion, cg_eval_result *r);
/* cg_predict_one with the trainer's normalisation. */
CG_API cg_tensor *cg_trainer_predict_one(cg_trainer *t, const float *example, int ndim, const int64_t *shape);

#ifdef __cplusplus
}
#endif
#endif
