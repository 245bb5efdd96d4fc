/* SPDX-License-Identifier: MIT */
/* cgrad/optim.h — optimizers: step and zero_grad over a list of parameters.
 *
 * Ownership: an optimizer borrows its parameters (they must outlive it) and owns its state
 * (momentum buffers, moments); cg_optim_free frees that state and the optimizer (NULL: no-op).
 *
 * An optimizer of your own: embed cg_optimizer first, give a cg_optimizer_type with step(),
 * and make it with cg_optim_new(&type, sizeof(mine), params, n, lr). */
#ifndef CGRAD_OPTIM_H
#define CGRAD_OPTIM_H

#include "cgrad/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cg_optimizer cg_optimizer;

typedef struct cg_optimizer_type {
    const char *name;
    cg_status (*step)(cg_optimizer *o);       /* called in no-grad mode */
    void (*destroy)(cg_optimizer *o);         /* extra state; may be NULL */
} cg_optimizer_type;

struct cg_optimizer {
    const cg_optimizer_type *type;
    cg_tensor **params;     /* borrowed tensors; the array is owned */
    int64_t n_params;
    float lr;
    int64_t step_count;     /* steps taken */
    cg_named_tensor *state; /* named state tensors, owned ("momentum_buffer.0", "exp_avg.3") */
    int n_state;
    /* The prefixes of the per-parameter state this optimizer keeps once it has stepped
     * ("momentum_buffer" for "momentum_buffer.<i>"), NULL-terminated, set by its constructor;
     * cg_checkpoint_restore then requires exactly these. NULL (cg_optim_new's default): the state
     * is checked only for its names and shapes. */
    const char *const *state_prefixes;
};

CG_API cg_optimizer *cg_optim_new(const cg_optimizer_type *type, size_t size,
                                  cg_tensor *const *params, int64_t n_params, float lr);
/* Parameters of a module, in cg_module_parameters order. */
CG_API cg_optimizer *cg_optim_new_for(const cg_optimizer_type *type, size_t size,
                                      const cg_module *m, float lr);
CG_API void cg_optim_free(cg_optimizer *o);
CG_API cg_status cg_optim_step(cg_optimizer *o);
CG_API void cg_optim_zero_grad(cg_optimizer *o);
/* Registers an owned state tensor (zeros, shaped like `like`), for optimizers' own use. */
CG_API cg_tensor *cg_optim_add_state(cg_optimizer *o, const char *name, const cg_tensor *like);
CG_API cg_tensor *cg_optim_find_state(const cg_optimizer *o, const char *name);

/* torch.optim.SGD. The momentum buffer starts as the first step's gradient (d_p).
 * Start from cg_sgd_defaults() (lr 1e-3, everything else 0/false) and change what you need.
 * cg_sgd_new checks every option (NULL and a message naming it otherwise): lr finite and >= 0,
 * momentum and dampening in [0, 1], weight_decay finite and >= 0, nesterov only with
 * momentum > 0 and dampening 0. */
typedef struct cg_sgd_options {
    float lr, momentum, dampening, weight_decay;
    bool nesterov;
} cg_sgd_options;
CG_API cg_sgd_options cg_sgd_defaults(void);
CG_API cg_optimizer *cg_sgd_new(cg_tensor *const *params, int64_t n, cg_sgd_options o);

/* torch.optim.Adam / AdamW (decoupled weight decay). Start from cg_adam_defaults(), PyTorch's
 * Adam defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0 (PyTorch's AdamW uses
 * weight_decay 0.01: set it). A zeroed struct is refused (eps must be > 0). The constructors check
 * every option: lr finite and >= 0, betas in [0, 1), eps finite and > 0, weight_decay finite and >= 0. */
typedef struct cg_adam_options {
    float lr, beta1, beta2, eps, weight_decay;
} cg_adam_options;
CG_API cg_adam_options cg_adam_defaults(void);
CG_API cg_optimizer *cg_adam_new(cg_tensor *const *params, int64_t n, cg_adam_options o);
CG_API cg_optimizer *cg_adamw_new(cg_tensor *const *params, int64_t n, cg_adam_options o);

/* LR schedules, as torch.optim.lr_scheduler. Call cg_sched_step once per epoch; it fails
 * (CG_EINVAL, nothing changed) when s or its optimizer is NULL or last_epoch is outside
 * 0..INT64_MAX-1 (e.g. a corrupt value restored from a checkpoint). */
typedef struct cg_lr_scheduler {
    cg_optimizer *opt;  /* borrowed */
    int kind;           /* 0 StepLR, 1 CosineAnnealingLR */
    float base_lr, gamma, eta_min;
    int64_t step_size, t_max;
    int64_t last_epoch; /* state to checkpoint */
} cg_lr_scheduler;
CG_API cg_lr_scheduler cg_step_lr(cg_optimizer *o, int64_t step_size, float gamma);
CG_API cg_lr_scheduler cg_cosine_lr(cg_optimizer *o, int64_t t_max, float eta_min);
CG_API cg_status cg_sched_step(cg_lr_scheduler *s);

#ifdef __cplusplus
}
#endif
#endif
