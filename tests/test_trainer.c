/* SPDX-License-Identifier: MIT */
/* tests/test_trainer.c — cg_trainer: callbacks see every step and epoch (a short last batch
 * included), the loss is checked before the first step (nll on logits: no step taken), a net
 * that ends in linear learns with the default loss, a communicator's allreduce is called, and a
 * warm training step allocates nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"
#include "alloc_probe.h"

enum { N = 50, F = 6, K = 3 };


typedef struct seen {
    int64_t steps, epochs, last_done, last_total, step_allocs, allreduces;
    long allocs_at;
    cg_eval_result last;
} seen;
static cg_status on_step(void *ctx, const cg_train_event *e) {
    seen *s = ctx;
    if (e->epoch_step >= 3) s->step_allocs += g_allocs - s->allocs_at;  /* warm: from the third step on */
    s->steps++;
    s->last_done = e->done;
    s->last_total = e->total;
    s->allocs_at = g_allocs;
    return CG_OK;
}
static cg_status on_end(void *ctx, const cg_train_event *e, const cg_eval_result *r) {
    seen *s = ctx;
    (void)e;
    s->epochs++;
    if (r) s->last = *r;
    return CG_OK;
}
static cg_status allreduce(void *ctx, cg_optimizer *o, int64_t n, float *loss) {
    (void)o; (void)n; (void)loss;
    ((seen *)ctx)->allreduces++;
    return CG_OK;
}

/* x: class k has feature k set high (learnable), labels i % K */
static cg_dataset *make_set(cg_tensor **x, cg_tensor **y) {
    *x = test_tensor(2, CG_SHAPE(N, F), 0, 0.3f, 5, false);
    int64_t lab[N];
    for (int i = 0; i < N; i++) { lab[i] = i % K; cg_tensor_data(*x)[i * F + lab[i]] += 1.0f; }
    *y = cg_tensor_from_i64(1, CG_SHAPE(N), lab);
    cg_dataset *ds;
    assert_int_equal(cg_dataset_from_tensors(*x, *y, false, &ds), CG_OK);
    return ds;
}

static void test_fit(void **st) {
    (void)st;
    cg_set_allocator(&counting_allocator);
    cg_tensor *x, *y;
    cg_dataset *ds = make_set(&x, &y);
    cg_manual_seed(2);
    cg_module *net = cg_net_from_spec("linear(6,16) relu linear(16,3)", 1, CG_SHAPE(F), NULL);
    cg_named_list pl;
    assert_int_equal(cg_module_parameters(net, &pl), CG_OK);
    cg_tensor *ps[4];
    for (int i = 0; i < 4; i++) ps[i] = pl.items[i].tensor;
    cg_optimizer *opt = cg_sgd_new(ps, 4, (cg_sgd_options){ .lr = 0.1f, .momentum = 0.9f });
    seen s = { 0 };
    cg_trainer_options o = cg_trainer_defaults();
    o.batch_size = 8;  /* 7 batches, the last of 2 */
    o.clip_grad_norm = 5;
    o.callbacks = (cg_train_callbacks){ .ctx = &s, .on_step = on_step, .on_epoch_end = on_end };
    cg_trainer *t = cg_trainer_new(net, opt, ds, ds, &o);
    assert_non_null(t);
    assert_int_equal(cg_trainer_loss(t), CG_LOSS_CROSS_ENTROPY);
    assert_int_equal(cg_trainer_steps_per_epoch(t), 7);
    cg_lr_scheduler sch = cg_step_lr(opt, 1, 0.9f);
    assert_int_equal(cg_trainer_set_scheduler(t, &sch, CG_SCHED_EVERY_EPOCH), CG_OK);
    assert_int_equal(cg_trainer_fit(t, 10), CG_OK);
    assert_int_equal(s.steps, 70);
    assert_int_equal(s.epochs, 10);
    assert_int_equal(cg_trainer_epoch(t), 10);
    assert_int_equal(opt->step_count, 70);
    assert_int_equal(sch.last_epoch, 10);
    assert_int_equal(s.last_done, N);
    assert_int_equal(s.last_total, N);
    assert_int_equal(s.last.n, N);
    assert_true(s.last.correct >= N * 9 / 10);       /* a net that ends in linear learns */
    assert_int_equal(s.step_allocs, 0);               /* warm steps allocate nothing */
    assert_int_equal(cg_trainer_fit(t, 10), CG_OK);   /* nothing left to train */
    assert_int_equal(s.steps, 70);
    /* evaluation with the trainer's loss equals the last epoch's */
    cg_eval_result r;
    assert_int_equal(cg_trainer_evaluate(t, NULL, &r), CG_OK);
    assert_int_equal(r.correct, s.last.correct);
    cg_trainer_free(t);

    /* nll on logits: refused at the first step, before any optimizer step */
    o.loss = CG_LOSS_NLL;
    t = cg_trainer_new(net, opt, ds, NULL, &o);
    assert_non_null(t);
    assert_int_equal(cg_trainer_fit(t, 1), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "log-probabilities"));
    assert_int_equal(opt->step_count, 70);
    cg_trainer_free(t);

    /* a communicator of 2 ranks: each rank's shard, one allreduce per step */
    seen s2 = { 0 };
    cg_comm comm = { .ctx = &s2, .rank = 1, .size = 2, .allreduce_grads = allreduce };
    o.loss = CG_LOSS_AUTO;
    o.comm = &comm;
    o.callbacks = (cg_train_callbacks){ .ctx = &s2, .on_step = on_step, .on_epoch_end = on_end };
    t = cg_trainer_new(net, opt, ds, ds, &o);
    assert_non_null(t);
    assert_int_equal(cg_trainer_fit(t, 1), CG_OK);
    assert_int_equal(s2.allreduces, 7);
    assert_int_equal(s2.epochs, 1);
    assert_int_equal(s2.last.n, 0);   /* rank 1 does not evaluate */
    cg_trainer_free(t);
    o.comm = NULL;
    o.batch_size = 0;
    assert_null(cg_trainer_new(net, opt, ds, ds, &o));
    assert_non_null(strstr(cg_last_error(), "batch_size"));

    cg_named_list_free(&pl);
    cg_optim_free(opt);
    cg_module_free(net);
    cg_dataset_free(ds);
    cg_tensor_free(x);
    cg_tensor_free(y);
    cg_tape_free_all();
    cg_set_allocator(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
