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

#include <stdio.h>
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
/* The confusion of an evaluation: counts of (true class, predicted class) in memory linear in the
 * classes (three counts per class) and in the distinct off-diagonal pairs that occurred (a hash
 * table, never more entries than examples counted): never a classes x classes matrix, so a net
 * with 20,000 outputs evaluates in kilobytes. The caller owns it (cg_confusion_free; NULL is a
 * no-op). cg_confusion_new: NULL on error (classes outside 1..2^31, out of memory). */
typedef struct cg_confusion cg_confusion;
CG_API cg_confusion *cg_confusion_new(int64_t classes);
CG_API void cg_confusion_free(cg_confusion *c);
CG_API void cg_confusion_reset(cg_confusion *c);                 /* every count back to 0 */
/* One example: CG_EINVAL (c untouched) when a class is outside 0..classes-1; CG_ENOMEM when the
 * pair table cannot grow. */
CG_API cg_status cg_confusion_add(cg_confusion *c, int64_t truth, int64_t pred);
CG_API int64_t cg_confusion_classes(const cg_confusion *c);
/* Examples of class truth predicted as pred (0 outside the range). */
CG_API int64_t cg_confusion_count(const cg_confusion *c, int64_t truth, int64_t pred);
/* Examples of class truth (a row's sum). */
CG_API int64_t cg_confusion_total(const cg_confusion *c, int64_t truth);
/* Distinct (truth, pred) pairs with truth != pred that occurred. */
CG_API int64_t cg_confusion_pairs(const cg_confusion *c);
/* The k most frequent off-diagonal pairs into truth[], pred[], count[] (k entries each): count
 * descending, ties by truth then pred ascending; returns how many were written (<= k). */
CG_API int64_t cg_confusion_top_pairs(const cg_confusion *c, int64_t k, int64_t *truth, int64_t *pred,
                                      int64_t *count);
/* Up to this many classes cg_confusion_fprint prints the whole matrix; beyond, a summary. */
#define CG_CONFUSION_FULL_MAX 30
#define CG_CONFUSION_TOP_PAIRS 10
/* The tables to f; names (may be NULL: "class k") names the classes. Up to CG_CONFUSION_FULL_MAX
 * classes: the per-class accuracy (correct of total, every class) and the whole matrix (rows:
 * true class, columns: predicted). Beyond: the per-class accuracy of the classes that have
 * examples (with how many have none), the CG_CONFUSION_TOP_PAIRS most confused pairs, and a line
 * saying the matrix is not printed: output linear in the classes. */
CG_API void cg_confusion_fprint(FILE *f, const cg_confusion *c, const char *const *names);
/* Over the whole loader from its start (cg_loader_set_epoch(loader, 0)): the summed loss of kind
 * (AUTO resolves for model) and the argmax accuracy; with confusion non-NULL (reset here), each
 * example's (label, argmax) pair counted in it (a prediction outside its classes is not counted).
 * A non-finite output or loss is CG_EINVAL naming the batch, the image and the class (argmax over
 * NaN would print a plausible accuracy). */
CG_API cg_status cg_evaluate(cg_module *model, cg_loader *loader, cg_loss_kind kind, cg_confusion *confusion,
                             cg_eval_result *r);
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
CG_API cg_status cg_trainer_evaluate(cg_trainer *t, cg_confusion *confusion, cg_eval_result *r);
/* cg_predict_one with the trainer's normalisation. */
CG_API cg_tensor *cg_trainer_predict_one(cg_trainer *t, const float *example, int ndim, const int64_t *shape);

/* ---- a whole run: its recipe and its state, saved and resumed as one file ---------------
 * A run's recipe (cg_run_config) is what shapes it: the optimizer, the schedule, the loss, the
 * batches, the seed, the normalisation. cg_trainer_new_run builds the optimizer and the schedule
 * from it (the trainer owns them); cg_trainer_save writes the whole run; cg_run_info_load reads a
 * file's recipe back, and cg_trainer_resume puts the run's state into a trainer built from it:
 *
 *   cg_run_config c = cg_run_defaults();              // SGD lr 0.01, a constant lr, 10 epochs
 *   c.optimizer = CG_OPTIM_ADAM; c.lr = 1e-3; c.schedule = CG_SCHED_COSINE; c.epochs = 6;
 *   cg_trainer *t = cg_trainer_new_run(net, train, test, &c, NULL, NULL);
 *   cg_trainer_fit(t, 3);
 *   cg_trainer_save(t, "run.safetensors");            // the model, and everything else of the run
 *   ... another process, the same net and data:
 *   cg_run_info info;
 *   cg_run_info_load("run.safetensors", &info);       // the recipe, the net's spec, the epoch
 *   cg_trainer *t2 = cg_trainer_new_run(net, train, test, &info.config, NULL, NULL);
 *   cg_trainer_resume(t2, "run.safetensors", NULL, NULL, 0);  // exact, or refused: nothing changed
 *   cg_trainer_fit(t2, info.config.epochs);           // epochs 4..6, as an unbroken run would
 *   cg_run_info_free(&info);
 *
 * The file (format "cgrad-run-v1") is one safetensors file in which each part of the run keeps
 * its state under its own prefix: the model's state dict at the top (PyTorch's names, so the file
 * is also a state dict PyTorch loads), the optimizer's under "optim.", the schedule's under
 * "sched.", the RNG streams under "rng.", the epoch, step and loader position under "train.", the
 * normalisation under "data.", the loss under "loss", the recipe under "run." and the net's spec
 * under "net". Tensors are the model's and the optimizer's; every other value is metadata, read
 * back strictly (whole numbers and finite numbers parsed completely, the key named on error).
 * Saving the same run state gives the same bytes, so a resumed run's file equals the unbroken
 * run's. Files of mnist-train's earlier format ("cgrad-train-v2") load too: what they did not
 * keep (the momentum, the schedule's gamma, the planned epochs, the test batch and, for a
 * one-cycle run, the peak lr) comes from the caller's recipe (cg_run_config_resume). */
typedef enum cg_optim_kind { CG_OPTIM_SGD = 0, CG_OPTIM_ADAM = 1, CG_OPTIM_ADAMW = 2 } cg_optim_kind;
/* "sgd", "adam", "adamw"; NULL outside the enum. */
CG_API const char *cg_optim_kind_name(cg_optim_kind k);
CG_API cg_status cg_optim_kind_parse(const char *name, cg_optim_kind *out);

typedef struct cg_run_config {
    cg_optim_kind optimizer;    /* default SGD */
    double lr;                  /* default 0.01 (onecycle: the peak lr) */
    double momentum;            /* SGD's; default 0 */
    double weight_decay;        /* < 0 (default): the optimizer's own (AdamW 0.01, the others 0) */
    bool no_decay_bias_norm;    /* no decay on tensors of 0 or 1 dims (two parameter groups) */
    cg_sched_kind schedule;     /* default CG_SCHED_STEP (with gamma 1: a constant lr) */
    double gamma;               /* NAN (default): the schedule's own: step 1, multistep and plateau
                                 * 0.1 (exponential needs one); step and exponential per epoch */
    int64_t milestones[CG_SCHED_MAX_MILESTONES];  /* multistep: ascending epochs >= 1 */
    int n_milestones;
    int64_t patience;           /* plateau; default 10 */
    int64_t warmup;             /* epochs of linear warmup from lr/3 in front (not onecycle or
                                 * plateau); default 0 */
    int64_t epochs;             /* the planned length: cosine and onecycle span it; default 10 */
    cg_loss_kind loss;          /* default AUTO */
    int64_t batch_size, test_batch_size;  /* defaults 64 and 1000 (global under a communicator) */
    double clip_grad_norm;      /* 0 (default): off */
    uint64_t seed;              /* the shuffling and dropout streams; default 0 */
    cg_normalize norm;          /* default none */
} cg_run_config;
CG_API cg_run_config cg_run_defaults(void);
/* Every field in range and the schedule's options consistent (exponential has a gamma, warmup
 * not with onecycle or plateau, ...): CG_OK, or CG_EINVAL naming the field. */
CG_API cg_status cg_run_check(const cg_run_config *c);
/* The schedule as text: "step", "cosine", "multistep:E1,E2,..", "exponential", "onecycle",
 * "plateau" or "plateau:PATIENCE". Parsing sets schedule, milestones and patience (CG_EINVAL
 * quoting the text otherwise, c unchanged); formatting writes what parses back to the same. */
CG_API cg_status cg_run_parse_schedule(const char *text, cg_run_config *c);
CG_API void cg_run_format_schedule(const cg_run_config *c, char *buf, size_t cap);
/* The recipe's optimizer over net's parameters (a caller-owned optimizer), and its schedule over
 * opt with steps_per_epoch optimizer steps an epoch (*every: when the trainer steps it). */
CG_API cg_optimizer *cg_run_optimizer(const cg_run_config *c, const cg_module *net);
CG_API cg_status cg_run_schedule(const cg_run_config *c, cg_optimizer *opt, int64_t steps_per_epoch,
                                 cg_lr_scheduler *out, cg_sched_every *every);

/* A trainer of the recipe c: cg_trainer_new with c's loss, batches, clipping, normalisation and
 * shuffling stream (cg_rng_new(seed)), an optimizer and a schedule built from c (owned by the
 * trainer), and dropout drawing from stream `rank` of seed (continuing the default stream's
 * count when cg_manual_seed(seed) initialised the net, so that one process draws what it always
 * did). comm and callbacks may be NULL. net, train and test are borrowed; the net's dropout
 * modules point at the trainer's stream until cg_trainer_free (which points them back at the
 * default stream), so one such trainer per net at a time. NULL on error. */
CG_API cg_trainer *cg_trainer_new_run(cg_module *net, const cg_dataset *train, const cg_dataset *test,
                                      const cg_run_config *c, const cg_comm *comm,
                                      const cg_train_callbacks *callbacks);
/* The trainer's optimizer and schedule (borrowed; the schedule NULL when none is set), and its
 * recipe (NULL for a trainer of cg_trainer_new). */
CG_API cg_optimizer *cg_trainer_optimizer(const cg_trainer *t);
CG_API cg_lr_scheduler *cg_trainer_scheduler(const cg_trainer *t);
CG_API const cg_run_config *cg_trainer_config(const cg_trainer *t);

/* Writes the whole run to path, atomically (cg_checkpoint_save): the model, the optimizer, the
 * schedule, the streams, the epochs done and, from an on_step callback, the position in the
 * epoch, the normalisation, the loss, the recipe (a trainer of cg_trainer_new_run) and the net's
 * spec (when it can write one: see cg_checkpoint_save). Rank 0 saves; other ranks' calls are
 * CG_OK and write nothing. */
CG_API cg_status cg_trainer_save(cg_trainer *t, const char *path);

/* What a resume may change (a zeroed struct: nothing; NULL is the same). */
typedef struct cg_resume_options {
    bool new_lr;   /* the trainer's lr (its schedule's base) replaces the file's from the next epoch on */
    bool replan;   /* a cosine schedule planned longer than the file's is replanned (else refused) */
    const char *replan_flag;  /* how the refusal names the replan switch (NULL: "replan") */
} cg_resume_options;
/* Restores the run saved in path into t, exactly: the model's and the optimizer's tensors, the
 * optimizer's step and lr, the schedule's state, the dropout stream, the epochs done and the
 * position in the epoch. The file must fit t: the same recipe as t's (a trainer of
 * cg_trainer_new_run: optimizer and its options, schedule, loss, clipping, seed), the same kind of
 * schedule with the same plan, and, mid-epoch, the same batch size (else CG_EINVAL naming what
 * differs and both values); the normalisation is t's (cg_run_config_resume notes a change);
 * a schedule that cannot continue (onecycle over a different number of steps; cosine planned
 * for fewer epochs than t's, unless ro->replan) is refused with the way out. Nothing changes
 * unless everything fits. note (may be NULL; cap bytes) gets what the resume changed by ro
 * ("lr 0.01 replaces the checkpoint's 0.05 from epoch 2 on"), or "". */
CG_API cg_status cg_trainer_resume(cg_trainer *t, const char *path, const cg_resume_options *ro, char *note,
                                   size_t cap);

/* What a file holds about its run, for a program that rebuilds the run from it. */
typedef struct cg_run_info {
    char format[32];       /* "cgrad-run-v1", "cgrad-train-v2", or "" (a plain state dict) */
    char *spec;            /* the net's spec; NULL when the file has none */
    bool has_run;          /* the file is a run (a recipe and a state): the fields below hold */
    cg_run_config config;  /* the file's recipe (cgrad-train-v2: momentum 0 and gamma NAN, which
                            * the file does not hold; lr the schedule's base) */
    uint32_t known;        /* the fields of config the file holds (CG_RUN_* bits) */
    int64_t epoch;         /* epochs completed */
    int64_t step;          /* optimizer steps taken */
} cg_run_info;
/* Reads path's run information (strictly: every value of a run file parses and lies in range,
 * else CG_EFORMAT naming the key). A file that is no run (a state dict, with no 'format' or
 * another one, such as PyTorch's "pt") gives has_run false and CG_OK: its spec, if any, is still
 * read; so does the file of a trainer of the caller's own objects (cg_trainer_new: no recipe),
 * whose loss and normalisation are still read (known says so). Free with cg_run_info_free. */
CG_API cg_status cg_run_info_load(const char *path, cg_run_info *out);
CG_API void cg_run_info_free(cg_run_info *info);

/* The fields of a recipe, as bits: which a caller set, which a file holds. */
enum {
    CG_RUN_OPTIMIZER = 1u << 0, CG_RUN_LR = 1u << 1, CG_RUN_MOMENTUM = 1u << 2, CG_RUN_WEIGHT_DECAY = 1u << 3,
    CG_RUN_NO_DECAY = 1u << 4, CG_RUN_SCHEDULE = 1u << 5, CG_RUN_GAMMA = 1u << 6, CG_RUN_WARMUP = 1u << 7,
    CG_RUN_EPOCHS = 1u << 8, CG_RUN_LOSS = 1u << 9, CG_RUN_BATCH = 1u << 10, CG_RUN_TEST_BATCH = 1u << 11,
    CG_RUN_CLIP = 1u << 12, CG_RUN_SEED = 1u << 13, CG_RUN_NORM = 1u << 14, CG_RUN_ALL = (1u << 15) - 1,
};
/* The recipe to resume the run of info with: the file's, except where the caller set a field
 * (`given` bits, values in asked). The length (epochs), the lr (then give cg_trainer_resume
 * new_lr), the batch sizes and the normalisation may change (note gets one line per change);
 * any other field set to a value other than the file's is refused (CG_EINVAL naming the field
 * and both values: the run would not continue exactly). A field the file does not hold is
 * asked's. */
CG_API cg_status cg_run_config_resume(const cg_run_info *info, const cg_run_config *asked, uint32_t given,
                                      cg_run_config *out, char *note, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
