/* SPDX-License-Identifier: MIT */
/* lib/train/trainer.c — the epoch loop (cgrad/train.h): loaders over the datasets, the loss checked
 * at the first step, clipping, the optimizer and schedule steps, the data-parallel average through a
 * cg_comm, evaluation on rank 0 after each epoch, callbacks. Nothing is allocated per step: the
 * loaders own their batches and the tape is released after each step. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "cg_internal.h"
#include "cgrad/train.h"
#include "train/trainer_internal.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

cg_trainer_options cg_trainer_defaults(void) {
    return (cg_trainer_options){ .loss = CG_LOSS_AUTO, .batch_size = 64, .test_batch_size = 1000,
                                 .rng = cg_rng_new(0) };
}

cg_trainer *cg_trainer_new(cg_module *net, cg_optimizer *opt, const cg_dataset *train, const cg_dataset *test,
                           const cg_trainer_options *o) {
    if (!net || !opt || !train || !o)
        return (cg_trainer *)CG_FAIL(CG_EINVAL, "cg_trainer_new: net, opt, train and o must not be NULL");
    if (!cg_loss_name(o->loss))
        return (cg_trainer *)CG_FAIL(CG_EINVAL, "cg_trainer_new: loss %d is not a cg_loss_kind", (int)o->loss);
    if (o->batch_size < 1 || o->test_batch_size < 1)
        return (cg_trainer *)CG_FAIL(CG_EINVAL, "cg_trainer_new: batch_size %lld and test_batch_size %lld must be >= 1",
                                     (long long)o->batch_size, (long long)o->test_batch_size);
    if (!(o->clip_grad_norm >= 0) || !isfinite(o->clip_grad_norm))
        return (cg_trainer *)CG_FAIL(CG_EINVAL, "cg_trainer_new: clip_grad_norm %g must be finite and >= 0",
                                     o->clip_grad_norm);
    if (cg_module_check_names(net) != CG_OK) {   /* its tensors and the run's state share a file */
        char why[300];
        snprintf(why, sizeof why, "%s", cg_last_error());
        return (cg_trainer *)CG_FAIL(CG_EINVAL, "cg_trainer_new: net: %s", why);
    }
    const cg_comm *c = o->comm;
    if (c && (c->size < 1 || c->rank < 0 || c->rank >= c->size || !c->allreduce_grads))
        return (cg_trainer *)CG_FAIL(CG_EINVAL, "cg_trainer_new: comm: rank %d of %d, or allreduce_grads NULL",
                                     c->rank, c->size);
    cg_trainer *t = calloc(1, sizeof *t);
    if (!t) return (cg_trainer *)CG_FAIL(CG_ENOMEM, "cg_trainer_new: out of memory");
    *t = (cg_trainer){ .net = net, .opt = opt, .train = train, .test = test, .o = *o,
                       .loss = cg_loss_resolve(net, o->loss) };
    cg_loader_options lo = cg_loader_defaults();
    lo.batch_size = o->batch_size;
    lo.rng = o->rng;
    lo.norm = o->norm;
    lo.shard_rank = c ? c->rank : 0;
    lo.shard_count = c ? c->size : 1;
    t->train_loader = cg_loader_new(train, &lo);
    if (t->train_loader && test) {
        lo.shard_rank = 0;
        lo.shard_count = 1;
        lo.batch_size = o->test_batch_size;
        lo.shuffle = false;
        t->test_loader = cg_loader_new(test, &lo);
    }
    if (!t->train_loader || (test && !t->test_loader)) {
        cg_trainer_free(t);
        return NULL;
    }
    return t;
}

void cg_trainer_free(cg_trainer *t) {
    if (!t) return;
    cg_loader_free(t->train_loader);
    cg_loader_free(t->test_loader);
    if (t->owns_opt) cg_optim_free(t->opt);
    if (t->has_dropout) cg_module_set_rng(t->net, NULL); /* it pointed into t */
    free(t);
}

cg_status cg_trainer_set_scheduler(cg_trainer *t, cg_lr_scheduler *s, cg_sched_every every) {
    if (!t) return cg_set_error(CG_EINVAL, "cg_trainer_set_scheduler: t must not be NULL");
    if (every < CG_SCHED_EVERY_EPOCH || every > CG_SCHED_ON_TEST_LOSS)
        return cg_set_error(CG_EINVAL, "cg_trainer_set_scheduler: every %d is not a cg_sched_every", (int)every);
    if (s && every == CG_SCHED_ON_TEST_LOSS && (!t->test || (t->o.comm && t->o.comm->size > 1)))
        return cg_set_error(CG_EINVAL, "cg_trainer_set_scheduler: a schedule on the test loss needs a test set and "
                            "one process (rank 0 alone evaluates)");
    t->sched = s;
    t->every = every;
    return CG_OK;
}

int64_t cg_trainer_steps_per_epoch(const cg_trainer *t) { return t ? cg_loader_num_batches(t->train_loader) : 0; }
cg_loss_kind cg_trainer_loss(const cg_trainer *t) { return t ? t->loss : CG_LOSS_AUTO; }
int64_t cg_trainer_epoch(const cg_trainer *t) { return t ? t->epoch : 0; }

cg_status cg_trainer_set_epoch(cg_trainer *t, int64_t epochs_done) {
    if (!t || epochs_done < 0) return cg_set_error(CG_EINVAL, "cg_trainer_set_epoch: t NULL or epochs %lld < 0",
                                                   (long long)epochs_done);
    t->epoch = epochs_done;
    return CG_OK;
}

cg_status cg_trainer_evaluate(cg_trainer *t, cg_confusion *confusion, cg_eval_result *r) {
    if (!t || !t->test_loader) return cg_set_error(CG_EINVAL, "cg_trainer_evaluate: no trainer, or no test set");
    return cg_evaluate(t->net, t->test_loader, t->loss, confusion, r);
}

cg_tensor *cg_trainer_predict_one(cg_trainer *t, const float *example, int ndim, const int64_t *shape) {
    if (!t) return (cg_tensor *)CG_FAIL(CG_EINVAL, "cg_trainer_predict_one: t must not be NULL");
    return cg_predict_one(t->net, example, ndim, shape, &t->o.norm);
}

/* One training step on batch b; *loss the (rank-averaged) loss. */
static cg_status step(cg_trainer *t, const cg_batch *b, int64_t epoch, int64_t epoch_step, float *loss) {
    const cg_comm *c = t->o.comm;
    cg_optim_zero_grad(t->opt);
    cg_tensor *out = cg_module_forward(t->net, b->x);
    if (!out) return CG_EINVAL; /* the message is the op's */
    /* The first step's outputs show whether the loss fits the net: refused before any step. */
    cg_status st;
    if (!t->checked && (st = cg_loss_check(t->loss, out, b->y)) != CG_OK) return st;
    t->checked = true;
    cg_tensor *l = cg_loss(t->loss, out, b->y, CG_REDUCTION_MEAN);
    if ((st = cg_backward(l)) != CG_OK) return st;
    *loss = cg_tensor_item(l);
    if (c && c->size > 1 && (st = c->allreduce_grads(c->ctx, t->opt, cg_tensor_size(b->y, 0), loss)) != CG_OK)
        return st;
    /* A non-finite loss would step every weight to NaN (and save them): stop instead. */
    if (!isfinite(*loss))
        return cg_set_error(CG_EINVAL, "epoch %lld, step %lld: the training loss is %g (diverged: try a lower --lr, "
                            "or check the data and the checkpoint)", (long long)epoch, (long long)epoch_step,
                            (double)*loss);
    if (t->o.clip_grad_norm > 0 &&
        (st = cg_clip_grad_norm(t->opt->params, t->opt->n_params, t->o.clip_grad_norm, 2.0, NULL)) != CG_OK)
        return st;
    if ((st = cg_optim_step(t->opt)) != CG_OK) return st;
    if (t->sched && t->every == CG_SCHED_EVERY_STEP && (st = cg_sched_step(t->sched)) != CG_OK) return st;
    return CG_OK;
}

static cg_status epoch_run(cg_trainer *t, int64_t epoch) {
    const cg_train_callbacks *cb = &t->o.callbacks;
    const bool rank0 = !t->o.comm || t->o.comm->rank == 0;
    cg_module_train(t->net, true);
    cg_status st;
    if (cb->on_epoch_start && (st = cb->on_epoch_start(cb->ctx, t->net, epoch)) != CG_OK) return st;
    if ((st = cg_loader_set_epoch(t->train_loader, epoch - 1)) != CG_OK) return st;
    cg_train_event e = { .epoch = epoch, .total = t->train->n };
    if (t->resume_batch > 0) { /* a run saved mid-epoch continues after the batches it had done */
        if ((st = cg_loader_seek(t->train_loader, t->resume_batch)) != CG_OK) return st;
        e.epoch_step = t->resume_batch;
        int64_t done = t->resume_batch * t->o.batch_size;
        e.done = done > t->train->n ? t->train->n : done;
        t->resume_batch = 0;
    }
    t->in_epoch = true;
    double t0 = now();
    cg_batch b;
    while (cg_loader_next(t->train_loader, &b) || cg_loader_status(t->train_loader) != CG_OK) {
        if ((st = cg_loader_status(t->train_loader)) != CG_OK) { t->in_epoch = false; return st; }
        e.lr = t->opt->lr;
        st = step(t, &b, epoch, e.epoch_step + 1, &e.loss);
        cg_tape_release();
        if (st != CG_OK) { t->in_epoch = false; return st; }
        int64_t done = cg_loader_position(t->train_loader) * t->o.batch_size; /* global rows */
        e.done = done > t->train->n ? t->train->n : done;
        e.epoch_step++;
        e.step = t->opt->step_count;
        if (cb->on_step && (st = cb->on_step(cb->ctx, &e)) != CG_OK) { t->in_epoch = false; return st; }
    }
    t->in_epoch = false;
    e.seconds = now() - t0;
    e.lr = t->opt->lr;
    if (t->sched && t->every == CG_SCHED_EVERY_EPOCH && (st = cg_sched_step(t->sched)) != CG_OK) return st;
    cg_eval_result r, *rp = NULL;
    if (rank0 && t->test_loader) {
        if ((st = cg_evaluate(t->net, t->test_loader, t->loss, NULL, &r)) != CG_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", cg_last_error());
            return cg_set_error(st, "epoch %lld: evaluation: %s", (long long)epoch, why);
        }
        rp = &r;
        if (t->sched && t->every == CG_SCHED_ON_TEST_LOSS &&
            (st = cg_sched_step_metric(t->sched, r.loss_sum / (double)(r.n ? r.n : 1))) != CG_OK)
            return st;
    }
    t->epoch = epoch;
    if (cb->on_epoch_end && (st = cb->on_epoch_end(cb->ctx, &e, rp)) != CG_OK) return st;
    return CG_OK;
}

cg_status cg_trainer_fit(cg_trainer *t, int64_t epochs) {
    if (!t) return cg_set_error(CG_EINVAL, "cg_trainer_fit: t must not be NULL");
    const char *phase = cg_profile_phase();
    cg_profile_set_phase("train");
    cg_status st = CG_OK;
    for (int64_t epoch = t->epoch + 1; st == CG_OK && epoch <= epochs; epoch++) st = epoch_run(t, epoch);
    cg_profile_set_phase(phase);
    return st;
}
