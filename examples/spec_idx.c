/* SPDX-License-Identifier: MIT */
/* examples/spec_idx.c — a net from a spec string, trained on IDX files (MNIST's format) through
 * the trainer, with progress reported by its callbacks.
 *
 *   spec_idx TRAIN_IMAGES TRAIN_LABELS TEST_IMAGES TEST_LABELS [EPOCHS [SPEC]]
 *
 * The files may be raw or gzip (train-images-idx3-ubyte.gz, ...). */
#include <cgrad/cgrad.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_SPEC "conv2d(1,8,3) relu max_pool2d(2) flatten linear(1352,10)"
enum { PRINT_EVERY = 10 };

/* A line every PRINT_EVERY steps (and at an epoch's last step). */
static cg_status on_step(void *ctx, const cg_train_event *e) {
    (void)ctx;
    if (e->epoch_step % PRINT_EVERY == 0 || e->done == e->total)
        printf("epoch %lld step %lld  [%lld/%lld]  loss %.4f  lr %.4g\n", (long long)e->epoch,
               (long long)e->step, (long long)e->done, (long long)e->total, e->loss, e->lr);
    return CG_OK;
}

/* The test set's accuracy after each epoch. */
static cg_status on_epoch_end(void *ctx, const cg_train_event *e, const cg_eval_result *test) {
    (void)ctx;
    if (test)
        printf("epoch %lld done in %.2fs  test loss %.4f  accuracy %.2f%% (%lld/%lld)\n",
               (long long)e->epoch, e->seconds, test->loss_sum / (double)test->n,
               100.0 * (double)test->correct / (double)test->n, (long long)test->correct,
               (long long)test->n);
    return CG_OK;
}

int main(int argc, char **argv) {
    if (argc < 5 || argc > 7) {
        fprintf(stderr, "usage: spec_idx TRAIN_IMAGES TRAIN_LABELS TEST_IMAGES TEST_LABELS [EPOCHS [SPEC]]\n");
        return 2;
    }
    int64_t epochs = argc > 5 ? atoll(argv[5]) : 2;
    const char *spec = argc > 6 ? argv[6] : DEFAULT_SPEC;
    cg_dataset *train = NULL, *test = NULL;
    cg_module *net = NULL;
    cg_optimizer *opt = NULL;
    cg_trainer *t = NULL;
    int rc = 1;

    if (cg_dataset_idx_open(argv[1], argv[2], &train) != CG_OK ||
        cg_dataset_idx_open(argv[3], argv[4], &test) != CG_OK)
        goto out;
    cg_manual_seed(0);
    /* The spec is checked against one example's shape ([1, 28, 28] for MNIST). */
    net = cg_net_from_spec(spec, train->ndim, train->shape, NULL);
    if (!net) goto out;
    printf("net: %s (%lld parameters), %lld training and %lld test examples\n", spec,
           (long long)cg_module_num_parameters(net), (long long)train->n, (long long)test->n);

    cg_sgd_options so = cg_sgd_defaults();
    so.lr = 0.05f;
    so.momentum = 0.9f;
    if (!(opt = cg_sgd_new_for(net, so))) goto out;

    cg_trainer_options o = cg_trainer_defaults();  /* batch 64, loss auto: cross_entropy here */
    o.batch_size = 32;
    if (cg_dataset_stats(train, &o.norm) != CG_OK) goto out;  /* normalise by the set's mean and std */
    o.callbacks.on_step = on_step;
    o.callbacks.on_epoch_end = on_epoch_end;
    if (!(t = cg_trainer_new(net, opt, train, test, &o))) goto out;
    printf("loss %s, %lld steps per epoch\n", cg_loss_name(cg_trainer_loss(t)),
           (long long)cg_trainer_steps_per_epoch(t));
    if (cg_trainer_fit(t, epochs) != CG_OK) goto out;
    rc = 0;
out:
    if (rc) fprintf(stderr, "spec_idx: %s\n", cg_last_error());
    cg_trainer_free(t);
    cg_optim_free(opt);
    cg_module_free(net);
    cg_dataset_free(train);
    cg_dataset_free(test);
    return rc;
}
