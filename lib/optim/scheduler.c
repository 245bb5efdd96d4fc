/* SPDX-License-Identifier: MIT */
/* lib/optim/scheduler.c — PyTorch's LR schedules in closed form (include/cgrad/optim.h gives
 * each formula): StepLR, CosineAnnealingLR, MultiStepLR, ExponentialLR, OneCycleLR (per step),
 * ReduceLROnPlateau (per epoch, on a metric), and a linear warmup in front of any but OneCycle.
 * Every lr is computed in double from the epoch and the base, never by repeated multiplication,
 * so a resumed run (last_epoch restored) continues exactly. Every constructor starts the state
 * alike (best = INFINITY, as optim.h says), so that a fresh schedule and a restored one save the
 * same values. */
#include <math.h>
#include "cg_internal.h"

#define PI 3.14159265358979323846

cg_lr_scheduler cg_step_lr(cg_optimizer *o, int64_t step_size, float gamma) {
    return (cg_lr_scheduler){ .opt = o, .kind = CG_SCHED_STEP, .base_lr = o ? o->lr : 0,
                              .gamma = gamma, .step_size = step_size > 0 ? step_size : 1, .best = INFINITY };
}

cg_lr_scheduler cg_cosine_lr(cg_optimizer *o, int64_t t_max, float eta_min) {
    return (cg_lr_scheduler){ .opt = o, .kind = CG_SCHED_COSINE, .base_lr = o ? o->lr : 0,
                              .eta_min = eta_min, .t_max = t_max > 0 ? t_max : 1, .best = INFINITY };
}

cg_lr_scheduler cg_multistep_lr(cg_optimizer *o, const int64_t *milestones, int n, float gamma) {
    cg_lr_scheduler s = { .opt = o, .kind = CG_SCHED_MULTISTEP, .base_lr = o ? o->lr : 0, .gamma = gamma,
                          .n_milestones = n, .best = INFINITY };
    for (int i = 0; milestones && i < n && i < CG_SCHED_MAX_MILESTONES; i++) s.milestones[i] = milestones[i];
    return s;
}

cg_lr_scheduler cg_exponential_lr(cg_optimizer *o, float gamma) {
    return (cg_lr_scheduler){ .opt = o, .kind = CG_SCHED_EXPONENTIAL, .base_lr = o ? o->lr : 0, .gamma = gamma,
                              .best = INFINITY };
}

cg_lr_scheduler cg_onecycle_lr(cg_optimizer *o, float max_lr, int64_t total_steps, float pct_start,
                               float div_factor, float final_div_factor) {
    cg_lr_scheduler s = { .opt = o, .kind = CG_SCHED_ONECYCLE, .max_lr = max_lr, .total_steps = total_steps,
                          .pct_start = pct_start, .div_factor = div_factor, .final_div_factor = final_div_factor,
                          .best = INFINITY };
    s.base_lr = div_factor > 0 ? max_lr / div_factor : 0;
    if (o && div_factor > 0) o->lr = s.base_lr;
    return s;
}

cg_lr_scheduler cg_plateau_lr(cg_optimizer *o, float factor, int64_t patience, float threshold, int64_t cooldown,
                              float min_lr) {
    return (cg_lr_scheduler){ .opt = o, .kind = CG_SCHED_PLATEAU, .base_lr = o ? o->lr : 0, .factor = factor,
                              .patience = patience, .threshold = threshold, .cooldown = cooldown, .min_lr = min_lr,
                              .best = INFINITY };
}

/* Every option in range, else CG_EINVAL naming it. */
static cg_status check(const cg_lr_scheduler *s, const char *fn) {
    if (!s || !s->opt) return cg_error(CG_EINVAL, "%s: scheduler or its optimizer is NULL", fn);
    if (s->last_epoch < 0 || s->last_epoch == INT64_MAX)
        return cg_error(CG_EINVAL, "%s: last_epoch %lld is outside 0..%lld", fn, (long long)s->last_epoch,
                        (long long)INT64_MAX - 1);
    if (!isfinite(s->base_lr) || s->base_lr < 0) return cg_error(CG_EINVAL, "%s: base_lr %g must be finite and >= 0", fn, (double)s->base_lr);
    switch (s->kind) {
    case CG_SCHED_STEP: case CG_SCHED_EXPONENTIAL:
        if (!isfinite(s->gamma) || s->gamma < 0) return cg_error(CG_EINVAL, "%s: gamma %g must be finite and >= 0", fn, (double)s->gamma);
        break;
    case CG_SCHED_COSINE:
        if (!isfinite(s->eta_min)) return cg_error(CG_EINVAL, "%s: eta_min %g must be finite", fn, (double)s->eta_min);
        break;
    case CG_SCHED_MULTISTEP:
        if (!isfinite(s->gamma) || s->gamma < 0) return cg_error(CG_EINVAL, "%s: gamma %g must be finite and >= 0", fn, (double)s->gamma);
        if (s->n_milestones < 0 || s->n_milestones > CG_SCHED_MAX_MILESTONES)
            return cg_error(CG_EINVAL, "%s: %d milestones; at most %d", fn, s->n_milestones, CG_SCHED_MAX_MILESTONES);
        for (int i = 0; i < s->n_milestones; i++)
            if (s->milestones[i] < 1 || (i && s->milestones[i] <= s->milestones[i - 1]))
                return cg_error(CG_EINVAL, "%s: milestones must be ascending and >= 1 (milestone %d is %lld)", fn, i,
                                (long long)s->milestones[i]);
        break;
    case CG_SCHED_ONECYCLE:
        if (!isfinite(s->max_lr) || s->max_lr <= 0) return cg_error(CG_EINVAL, "%s: max_lr %g must be finite and > 0", fn, (double)s->max_lr);
        if (s->total_steps < 2) return cg_error(CG_EINVAL, "%s: total_steps %lld must be >= 2", fn, (long long)s->total_steps);
        if (!(s->pct_start > 0 && s->pct_start < 1)) return cg_error(CG_EINVAL, "%s: pct_start %g must be in (0, 1)", fn, (double)s->pct_start);
        if (!(s->div_factor > 0) || !(s->final_div_factor > 0) || !isfinite(s->div_factor) || !isfinite(s->final_div_factor))
            return cg_error(CG_EINVAL, "%s: div_factor %g and final_div_factor %g must be finite and > 0", fn,
                            (double)s->div_factor, (double)s->final_div_factor);
        if (s->warmup_epochs) return cg_error(CG_EINVAL, "%s: OneCycleLR takes no warmup (it warms up itself)", fn);
        if (s->last_epoch >= s->total_steps)
            return cg_error(CG_EINVAL, "%s: OneCycleLR stepped %lld times, past total_steps %lld", fn,
                            (long long)s->last_epoch + 1, (long long)s->total_steps);
        break;
    case CG_SCHED_PLATEAU:
        if (!(s->factor > 0 && s->factor < 1)) return cg_error(CG_EINVAL, "%s: factor %g must be in (0, 1)", fn, (double)s->factor);
        if (s->patience < 0 || s->cooldown < 0) return cg_error(CG_EINVAL, "%s: patience and cooldown must be >= 0", fn);
        if (!(s->threshold >= 0) || !isfinite(s->threshold)) return cg_error(CG_EINVAL, "%s: threshold %g must be finite and >= 0", fn, (double)s->threshold);
        if (!(s->min_lr >= 0) || !isfinite(s->min_lr)) return cg_error(CG_EINVAL, "%s: min_lr %g must be finite and >= 0", fn, (double)s->min_lr);
        break;
    default: return cg_error(CG_EINVAL, "%s: unknown schedule kind %d", fn, s->kind);
    }
    if (s->warmup_epochs < 0 || (s->warmup_epochs && !(s->warmup_start > 0 && s->warmup_start <= 1)))
        return cg_error(CG_EINVAL, "%s: warmup of %lld epochs from %g: want epochs >= 0, start_factor in (0, 1]", fn,
                        (long long)s->warmup_epochs, (double)s->warmup_start);
    return CG_OK;
}

/* The lr of epoch e of the schedule itself (no warmup). */
static double sched_lr(const cg_lr_scheduler *s, int64_t e) {
    const double base = s->base_lr, de = (double)e;
    switch (s->kind) {
    case CG_SCHED_STEP: return base * pow(s->gamma, floor(de / (double)s->step_size));
    case CG_SCHED_COSINE: return s->eta_min + (base - s->eta_min) * (1.0 + cos(PI * de / (double)s->t_max)) / 2.0;
    case CG_SCHED_MULTISTEP: {
        int k = 0;
        while (k < s->n_milestones && s->milestones[k] <= e) k++;
        return base * pow(s->gamma, k);
    }
    case CG_SCHED_EXPONENTIAL: return base * pow(s->gamma, de);
    case CG_SCHED_ONECYCLE: {
        const double lo = (double)s->max_lr / s->div_factor, hi = s->max_lr, end = lo / s->final_div_factor;
        const double up = (double)s->pct_start * (double)s->total_steps - 1, down = (double)s->total_steps - 1;
        double a, b, pct;
        if (de <= up) { a = lo; b = hi; pct = de / up; }
        else { a = hi; b = end; pct = (de - up) / (down - up); }
        return b + (a - b) / 2.0 * (cos(PI * pct) + 1.0);
    }
    default: return base;
    }
}

static double warmed_lr(const cg_lr_scheduler *s, int64_t e) {
    if (e < s->warmup_epochs)
        return s->base_lr * (s->warmup_start + (1.0 - s->warmup_start) * (double)e / (double)s->warmup_epochs);
    return sched_lr(s, e - s->warmup_epochs);
}

cg_status cg_sched_warmup(cg_lr_scheduler *s, int64_t epochs, float start_factor) {
    if (!s) return cg_error(CG_EINVAL, "cg_sched_warmup: scheduler is NULL");
    if (s->kind == CG_SCHED_ONECYCLE || s->kind == CG_SCHED_PLATEAU)
        return cg_error(CG_EINVAL, "cg_sched_warmup: %s takes no warmup", s->kind == CG_SCHED_ONECYCLE ?
                        "OneCycleLR (it warms up itself)" : "ReduceLROnPlateau");
    cg_lr_scheduler t = *s;
    t.warmup_epochs = epochs;
    t.warmup_start = start_factor;
    cg_status st = epochs < 1 ? cg_error(CG_EINVAL, "cg_sched_warmup: epochs %lld must be >= 1", (long long)epochs)
                              : check(&t, "cg_sched_warmup");
    if (st != CG_OK) return st;
    *s = t;
    s->opt->lr = (float)warmed_lr(s, s->last_epoch);
    return CG_OK;
}

cg_status cg_sched_step(cg_lr_scheduler *s) {
    cg_status st = check(s, "cg_sched_step");
    if (st != CG_OK) return st;
    if (s->kind == CG_SCHED_PLATEAU)
        return cg_error(CG_EINVAL, "cg_sched_step: ReduceLROnPlateau steps on a metric (cg_sched_step_metric)");
    s->last_epoch++;
    s->opt->lr = (float)warmed_lr(s, s->last_epoch);
    return CG_OK;
}

cg_status cg_sched_step_metric(cg_lr_scheduler *s, double metric) {
    cg_status st = check(s, "cg_sched_step_metric");
    if (st != CG_OK) return st;
    if (s->kind != CG_SCHED_PLATEAU) return cg_sched_step(s);
    if (isnan(metric)) return cg_error(CG_EINVAL, "cg_sched_step_metric: the metric is NaN");
    s->last_epoch++;
    if (metric < s->best * (1.0 - (double)s->threshold)) {
        s->best = metric;
        s->num_bad_epochs = 0;
    } else {
        s->num_bad_epochs++;
    }
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->num_bad_epochs = 0; /* PyTorch ignores bad epochs in cooldown */
    }
    if (s->num_bad_epochs > s->patience) {
        double old = s->opt->lr, nl = old * s->factor;
        if (nl < s->min_lr) nl = s->min_lr;
        if (old - nl > 1e-8) s->opt->lr = (float)nl; /* PyTorch's eps */
        s->cooldown_counter = s->cooldown;
        s->num_bad_epochs = 0;
    }
    return CG_OK;
}
