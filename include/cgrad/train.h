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

#ifdef __cplusplus
}
#endif
#endif
