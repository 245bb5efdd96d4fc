/* SPDX-License-Identifier: MIT */
/* lib/optim/scheduler.c — StepLR and CosineAnnealingLR (closed forms of PyTorch's schedules):
 *   StepLR:  lr = base * gamma^floor(epoch / step_size)
 *   Cosine:  lr = eta_min + (base - eta_min) * (1 + cos(pi * epoch / t_max)) / 2 */
#include <math.h>
#include "cg_internal.h"

enum { SCHED_STEP = 0, SCHED_COSINE = 1 };

cg_lr_scheduler cg_step_lr(cg_optimizer *o, int64_t step_size, float gamma) {
    return (cg_lr_scheduler){ .opt = o, .kind = SCHED_STEP, .base_lr = o ? o->lr : 0,
                              .gamma = gamma, .step_size = step_size > 0 ? step_size : 1 };
}

cg_lr_scheduler cg_cosine_lr(cg_optimizer *o, int64_t t_max, float eta_min) {
    return (cg_lr_scheduler){ .opt = o, .kind = SCHED_COSINE, .base_lr = o ? o->lr : 0,
                              .eta_min = eta_min, .t_max = t_max > 0 ? t_max : 1 };
}

cg_status cg_sched_step(cg_lr_scheduler *s) {
    if (!s || !s->opt) return cg_error(CG_EINVAL, "cg_sched_step: scheduler or its optimizer is NULL");
    if (s->last_epoch < 0 || s->last_epoch == INT64_MAX)
        return cg_error(CG_EINVAL, "cg_sched_step: last_epoch %lld is outside 0..%lld", (long long)s->last_epoch,
                        (long long)INT64_MAX - 1);
    s->last_epoch++;
    double e = (double)s->last_epoch;
    if (s->kind == SCHED_STEP)
        s->opt->lr = (float)(s->base_lr * pow(s->gamma, floor(e / (double)s->step_size)));
    else
        s->opt->lr = (float)(s->eta_min + (s->base_lr - s->eta_min) *
                             (1.0 + cos(3.14159265358979323846 * e / (double)s->t_max)) / 2.0);
    return CG_OK;
}
