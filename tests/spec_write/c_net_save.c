/* SPDX-License-Identifier: MIT */
/* tests/spec_write/c_net_save.c — a net built in C, saved with cg_checkpoint_save, for mnist-eval
 * to load through the spec the save wrote (tests/spec_write/eval.sh).
 *   c_net_save DATA_DIR OUT.safetensors [--own-type]
 * Prints "correct N/M": its own argmax accuracy on DATA_DIR's test set (no normalisation), which
 * mnist-eval --normalize none must repeat. --own-type adds a module type without a to_spec hook:
 * the file then holds the weights only, and the note saying so goes to stderr. */
#include <stdio.h>
#include <string.h>
#include "cgrad/cgrad.h"

static cg_tensor *own_forward(cg_module *m, cg_tensor *x) { (void)m; return cg_relu(x); }
static const cg_module_type own_type = { .name = "MyReLU", .forward = own_forward };

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: c_net_save DATA_DIR OUT [--own-type]\n"); return 2; }
    const bool own = argc > 3 && !strcmp(argv[3], "--own-type");
    cg_manual_seed(5);
    cg_conv2d_params same = cg_conv2d_defaults();
    same.padding[0] = same.padding[1] = 1;
    cg_module *net = cg_sequential_new(), *block = cg_residual_new();
    cg_sequential_append(net, "conv", cg_conv2d_new(1, 4, 3, &same, true));
    cg_sequential_append(net, NULL, cg_batch_norm2d_new(4, 1e-5f, 0.1f));
    cg_sequential_append(net, NULL, own ? cg_module_new(&own_type, sizeof(cg_module)) : cg_relu_new());
    cg_sequential_append(block, NULL, cg_conv2d_new(4, 4, 3, &same, false));
    cg_sequential_append(block, NULL, cg_tanh_new());
    cg_sequential_append(net, "block", block);
    cg_sequential_append(net, NULL, cg_max_pool2d_new(2));
    cg_sequential_append(net, NULL, cg_flatten_new());
    cg_sequential_append(net, "fc", cg_linear_new(4 * 14 * 14, 10, true));
    if (!cg_sequential_append(net, NULL, cg_log_softmax_new(1))) { fprintf(stderr, "%s\n", cg_last_error()); return 1; }

    /* Three epochs of SGD on the training set, so that the accuracy compared says something. */
    cg_dataset *train = NULL, *test = NULL;
    if (cg_dataset_mnist_open(argv[1], true, &train) != CG_OK) { fprintf(stderr, "%s\n", cg_last_error()); return 1; }
    cg_loader_options to = cg_loader_defaults();
    to.batch_size = 16;
    cg_loader *tl = cg_loader_new(train, &to);
    cg_sgd_options so = cg_sgd_defaults();
    so.lr = 0.05f;
    so.momentum = 0.9f;
    cg_optimizer *o = cg_sgd_new_for(net, so);
    if (!tl || !o) { fprintf(stderr, "%s\n", cg_last_error()); return 1; }
    for (int e = 0; e < 3; e++) {
        cg_loader_set_epoch(tl, e);
        for (cg_batch b; cg_loader_next(tl, &b);) {
            cg_optim_zero_grad(o);
            if (cg_backward(cg_nll_loss(cg_module_forward(net, b.x), b.y, CG_REDUCTION_MEAN)) != CG_OK ||
                cg_optim_step(o) != CG_OK) { fprintf(stderr, "%s\n", cg_last_error()); return 1; }
            cg_tape_release();
        }
    }
    cg_optim_free(o);
    cg_loader_free(tl);
    cg_dataset_free(train);
    cg_module_train(net, false);

    if (cg_dataset_mnist_open(argv[1], false, &test) != CG_OK) { fprintf(stderr, "%s\n", cg_last_error()); return 1; }
    cg_loader_options lo = cg_loader_defaults();
    lo.shuffle = false;
    cg_loader *l = cg_loader_new(test, &lo);
    if (!l) { fprintf(stderr, "%s\n", cg_last_error()); return 1; }
    int64_t correct = 0, n = 0;
    for (cg_batch b; cg_loader_next(l, &b);) {
        cg_tensor *pred = cg_argmax(cg_module_forward(net, b.x), 1, false);
        if (!pred) { fprintf(stderr, "%s\n", cg_last_error()); return 1; }
        const int64_t *p = cg_tensor_cdata_i64(pred), *y = cg_tensor_cdata_i64(b.y);
        for (int64_t i = 0; i < cg_tensor_numel(b.y); i++) correct += p[i] == y[i];
        n += cg_tensor_numel(b.y);
        cg_tape_release();
    }
    printf("correct %lld/%lld\n", (long long)correct, (long long)n);
    if (cg_checkpoint_save(argv[2], net, NULL, NULL, 0) != CG_OK) { fprintf(stderr, "%s\n", cg_last_error()); return 1; }
    if (cg_last_error()[0]) fprintf(stderr, "%s\n", cg_last_error());
    cg_loader_free(l);
    cg_dataset_free(test);
    cg_module_free(net);
    return 0;
}
