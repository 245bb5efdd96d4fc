/* SPDX-License-Identifier: MIT */
/* cgrad/optim.h — optimizers: step and zero_grad over a list of parameters.
 *
 * Ownership: an optimizer borrows its parameters (they must outlive it) and owns its state
 * (momentum buffers, moments: by parameter index, see cg_optimizer.state); cg_optim_free frees
 * that state and the optimizer (NULL: no-op).
 *
 * An optimizer of your own: embed cg_optimizer first, give a cg_optimizer_type with step(),
 * and make it with cg_optim_new(&type, sizeof(mine), params, n, lr) (or cg_optim_new_groups).
 *
 * Parameter groups (PyTorch's param_groups, with Caffe's lr_mult): each group has its own
 * learning-rate scale and weight decay. A group's lr is the optimizer's lr (which schedules set)
 * times its lr_scale, so schedules keep the groups' ratios:
 *
 *   cg_param_groups g;                              // decay on weights, none on biases and norms
 *   cg_module_decay_groups(net, &g);
 *   cg_optimizer *o = cg_adamw_new_groups(g.groups, g.n, opts);  // copies the lists
 *   cg_param_groups_free(&g);
 *
 * This matches PyTorch's groups of lr = base * lr_scale under StepLR, MultiStepLR, ExponentialLR,
 * CosineAnnealingLR with eta_min 0, warmup and ReduceLROnPlateau (while min_lr is not reached);
 * OneCycleLR here scales every group's curve, where PyTorch gives all groups one max_lr. */
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
    /* The state buffers (by name) that hold no negative value (Adam's exp_avg_sq): a checkpoint
     * restore refuses a negative one there, as it refuses a non-finite one anywhere. NULL or
     * NULL-terminated. */
    const char *const *nonnegative_state;
} cg_optimizer_type;

/* One group as given to a constructor: its parameters (borrowed; the optimizer copies the
 * list), its lr scale (finite, >= 0; 1: the optimizer's lr) and its weight decay (finite, >= 0;
 * NAN: the optimizer's). */
typedef struct cg_param_group {
    cg_tensor *const *params;
    int64_t n;
    float lr_scale, weight_decay;
} cg_param_group;

/* A group inside an optimizer: params[first .. first + n). */
typedef struct cg_optim_group { int64_t first, n; float lr_scale, weight_decay; } cg_optim_group;

struct cg_optimizer {
    const cg_optimizer_type *type;
    cg_tensor **params;     /* borrowed tensors; the array is owned */
    int64_t n_params;
    float lr;
    int64_t step_count;     /* steps taken */
    /* Per-parameter state, by index: every parameter keeps the same buffers, named in
     * state_names (NULL-terminated: "momentum_buffer" for SGD with momentum; "exp_avg",
     * "exp_avg_sq" for Adam), set by the constructor with cg_optim_declare_state; a buffer's id
     * is its position there. Buffer k of parameter i is state[i * n_state_names + k], NULL until
     * cg_optim_state makes it. The names appear only when the state is saved or loaded
     * (cg_optim_state_dict, cg_checkpoint_save/_restore: "<name>.<i>"). No state: NULL, 0, NULL. */
    const char *const *state_names;
    int n_state_names;
    cg_tensor **state;      /* owned: n_params * n_state_names slots, and the tensors in them */
    /* The groups, in order; their parameters are params[] group after group, so state index i
     * is the i-th parameter over all groups, as in PyTorch's state_dict. Always >= 1 group. */
    cg_optim_group *groups; /* owned */
    int n_groups;
};

/* Groups of a module's parameters, for the *_new_groups constructors. Owns its arrays:
 * cg_param_groups_free frees them (the tensors stay the module's). */
typedef struct cg_param_groups { cg_param_group *groups; int n; cg_tensor **all; } cg_param_groups;
/* Splits m's parameters (cg_module_parameters order within each group) into n_groups groups:
 * group_of(name, tensor, ctx) returns each one's group in 0..n_groups-1, or -1 to leave it out
 * (a frozen layer). Every group starts at lr_scale 1 and weight_decay NAN; set them after. */
CG_API cg_status cg_module_param_groups(const cg_module *m, int n_groups,
                                        int (*group_of)(const char *name, const cg_tensor *p, void *ctx),
                                        void *ctx, cg_param_groups *out);
/* The usual split: group 0 the tensors of 2 or more dims (weights, decayed with the optimizer's
 * weight_decay), group 1 those of 0 or 1 dim (biases, norm weights; weight_decay 0). */
CG_API cg_status cg_module_decay_groups(const cg_module *m, cg_param_groups *out);
CG_API void cg_param_groups_free(cg_param_groups *g);

CG_API cg_optimizer *cg_optim_new(const cg_optimizer_type *type, size_t size,
                                  cg_tensor *const *params, int64_t n_params, float lr);
/* Parameters of a module, in cg_module_parameters order. */
CG_API cg_optimizer *cg_optim_new_for(const cg_optimizer_type *type, size_t size,
                                      const cg_module *m, float lr);
/* Groups as above (n_groups >= 1, at least one parameter in all: every group empty, e.g. every
 * parameter left out as frozen, is refused); a parameter in two groups is refused, as in PyTorch. */
CG_API cg_optimizer *cg_optim_new_groups(const cg_optimizer_type *type, size_t size,
                                         const cg_param_group *groups, int n_groups, float lr);
/* Group g's learning rate (o->lr * lr_scale) and weight decay (its own, or `fallback` for NAN). */
CG_API float cg_optim_group_lr(const cg_optimizer *o, int g);
CG_API float cg_optim_group_weight_decay(const cg_optimizer *o, int g, float fallback);
CG_API void cg_optim_free(cg_optimizer *o);
CG_API cg_status cg_optim_step(cg_optimizer *o);
CG_API void cg_optim_zero_grad(cg_optimizer *o);
/* Declares the buffers each parameter keeps (names: NULL-terminated, borrowed: static strings;
 * at most 8), once, in the constructor: allocates the n_params slots per buffer, so that steps
 * allocate nothing but the buffers themselves (on first use). CG_EINVAL when called twice. */
CG_API cg_status cg_optim_declare_state(cg_optimizer *o, const char *const *names);
/* Buffer k of parameter i, made on first use (zeros shaped like the parameter; *created, which
 * may be NULL, says so: PyTorch starts some buffers from the first gradient). NULL with the
 * error set for an index out of range or no memory. */
CG_API cg_tensor *cg_optim_state(cg_optimizer *o, int64_t i, int k, bool *created);
/* The buffers made so far as "<name>.<i>" (PyTorch's state_dict keys, flattened), parameter by
 * parameter, in state_names order; the list is the caller's (cg_named_list_free), the tensors
 * are borrowed from the optimizer. */
CG_API cg_status cg_optim_state_dict(const cg_optimizer *o, cg_named_list *out);

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
CG_API cg_optimizer *cg_sgd_new_groups(const cg_param_group *groups, int n_groups, cg_sgd_options o);
CG_API cg_optimizer *cg_sgd_new_for(const cg_module *m, cg_sgd_options o); /* all of m's parameters */

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
CG_API cg_optimizer *cg_adam_new_groups(const cg_param_group *groups, int n_groups, cg_adam_options o);
CG_API cg_optimizer *cg_adamw_new_groups(const cg_param_group *groups, int n_groups, cg_adam_options o);
CG_API cg_optimizer *cg_adam_new_for(const cg_module *m, cg_adam_options o);
CG_API cg_optimizer *cg_adamw_new_for(const cg_module *m, cg_adam_options o);

/* Gradient clipping, as torch.nn.utils: cg_clip_grad_norm scales every gradient by
 * max_norm / (norm + 1e-6) when the norm of all of them together (norm_type 2, 1, any p > 0, or
 * INFINITY for the largest magnitude) exceeds max_norm; *total_norm (may be NULL) gets the norm
 * before clipping. cg_clip_grad_value clamps each gradient element to [-clip_value, clip_value].
 * Parameters without a gradient are skipped. For an optimizer's: (o->params, o->n_params). */
CG_API cg_status cg_clip_grad_norm(cg_tensor *const *params, int64_t n, double max_norm, double norm_type,
                                   double *total_norm);
CG_API cg_status cg_clip_grad_value(cg_tensor *const *params, int64_t n, double clip_value);

/* LR schedules, as torch.optim.lr_scheduler, in closed form. Call cg_sched_step once per epoch
 * (OneCycleLR: once per optimizer step; ReduceLROnPlateau: cg_sched_step_metric once per epoch
 * with the monitored value). It fails (CG_EINVAL, nothing changed, the message names the option)
 * when s or its optimizer is NULL, an option is out of range, or last_epoch is outside
 * 0..INT64_MAX-1 (e.g. a corrupt value restored from a checkpoint).
 *   StepLR        base * gamma^floor(e / step_size)
 *   CosineAnnealingLR  eta_min + (base - eta_min) * (1 + cos(pi e / t_max)) / 2
 *   MultiStepLR   base * gamma^(milestones <= e)      (milestones ascending, at most 8)
 *   ExponentialLR base * gamma^e
 *   OneCycleLR    cosine from max_lr/div_factor up to max_lr over pct_start of total_steps,
 *                 then down to max_lr/(div_factor*final_div_factor) (PyTorch with
 *                 cycle_momentum=False: the momentum is left as it is)
 *   ReduceLROnPlateau  mode 'min', threshold_mode 'rel': lr *= factor (not below min_lr) after
 *                 more than patience epochs without a relative improvement of threshold, then
 *                 cooldown epochs of rest
 * cg_sched_warmup adds a linear warmup in front of any of them, as PyTorch's
 * SequentialLR([LinearLR(start_factor, total_iters=W), schedule], milestones=[W]): epochs 0..W-1
 * run base * (start_factor + (1 - start_factor) * e / W), then the schedule from its epoch 0.
 * The fields below the line are state to checkpoint. */
#define CG_SCHED_MAX_MILESTONES 8
typedef enum cg_sched_kind {
    CG_SCHED_STEP = 0, CG_SCHED_COSINE = 1, CG_SCHED_MULTISTEP, CG_SCHED_EXPONENTIAL, CG_SCHED_ONECYCLE,
    CG_SCHED_PLATEAU
} cg_sched_kind;
typedef struct cg_lr_scheduler {
    cg_optimizer *opt;  /* borrowed */
    int kind;           /* cg_sched_kind */
    float base_lr, gamma, eta_min;
    int64_t step_size, t_max;
    int64_t milestones[CG_SCHED_MAX_MILESTONES];
    int n_milestones;
    float max_lr, pct_start, div_factor, final_div_factor;  /* OneCycleLR */
    int64_t total_steps;
    float factor, threshold, min_lr;                         /* ReduceLROnPlateau */
    int64_t patience, cooldown;
    int64_t warmup_epochs;                                   /* 0: none */
    float warmup_start;
    /* ---- state ---- */
    int64_t last_epoch; /* epochs (OneCycleLR: steps) taken */
    double best;        /* ReduceLROnPlateau: the best metric so far (INFINITY before any) */
    int64_t num_bad_epochs, cooldown_counter;
} cg_lr_scheduler;
CG_API cg_lr_scheduler cg_step_lr(cg_optimizer *o, int64_t step_size, float gamma);
CG_API cg_lr_scheduler cg_cosine_lr(cg_optimizer *o, int64_t t_max, float eta_min);
CG_API cg_lr_scheduler cg_multistep_lr(cg_optimizer *o, const int64_t *milestones, int n, float gamma);
CG_API cg_lr_scheduler cg_exponential_lr(cg_optimizer *o, float gamma);
/* Sets the optimizer's lr to the first step's (max_lr / div_factor). PyTorch: pct_start 0.3,
 * div_factor 25, final_div_factor 1e4. */
CG_API cg_lr_scheduler cg_onecycle_lr(cg_optimizer *o, float max_lr, int64_t total_steps, float pct_start,
                                      float div_factor, float final_div_factor);
/* PyTorch: factor 0.1, patience 10, threshold 1e-4, cooldown 0, min_lr 0. */
CG_API cg_lr_scheduler cg_plateau_lr(cg_optimizer *o, float factor, int64_t patience, float threshold,
                                     int64_t cooldown, float min_lr);
/* A linear warmup of epochs (>= 1) from start_factor (in (0, 1]) in front of s; sets the
 * optimizer's lr to the first epoch's. Not for OneCycleLR (it warms up itself). */
CG_API cg_status cg_sched_warmup(cg_lr_scheduler *s, int64_t epochs, float start_factor);
CG_API cg_status cg_sched_step(cg_lr_scheduler *s);
CG_API cg_status cg_sched_step_metric(cg_lr_scheduler *s, double metric);

#ifdef __cplusplus
}
#endif
#endif
