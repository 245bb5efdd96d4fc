/* SPDX-License-Identifier: MIT */
/* tests/test_train_alloc.c — a whole training step of the seed network (conv, pool, dropout,
 * linear, log-softmax, NLL, backward, SGD with momentum, tape release) and an evaluation step
 * allocate nothing once warm, as the tape's pooling promises. */
#include <stdlib.h>
#include "gradcheck.h"
#include "nets.h"
#include "alloc_probe.h"


static void test_seed_net_step_allocates_nothing_once_warm(void **s) {
    (void)s;
    cg_set_allocator(&counting_allocator);
    cg_manual_seed(3);
    cg_module *net = test_seed_net();
    assert_non_null(net);
    cg_named_list pl;
    assert_int_equal(cg_module_parameters(net, &pl), CG_OK);
    cg_tensor *ps[8];
    assert_int_equal(pl.n, 8);
    for (int i = 0; i < 8; i++) ps[i] = pl.items[i].tensor;
    cg_optimizer *opt = cg_sgd_new(ps, 8, (cg_sgd_options){ .lr = 0.025f, .momentum = 0.9f });
    assert_non_null(opt);
    cg_tensor *x = test_tensor(4, CG_SHAPE(8, 1, 28, 28), -0.5f, 2.0f, 11, false);
    int64_t y[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    float first = 0, last = 0;
    for (int step = 0; step < 8; step++) {
        if (step == 3) g_allocs = 0;                 /* warm from here on */
        cg_optim_zero_grad(opt);
        cg_tensor *loss = cg_nll_loss(cg_module_forward(net, x), cg_tape_wrap(CG_I64, y, 1, CG_SHAPE(8)), CG_REDUCTION_MEAN);
        assert_int_equal(cg_backward(loss), CG_OK);
        assert_int_equal(cg_optim_step(opt), CG_OK);
        if (step == 0) first = cg_tensor_item(loss);
        last = cg_tensor_item(loss);
        cg_tape_release();
        /* evaluation in between, as mnist-train does once an epoch */
        cg_module_train(net, false);
        bool prev = cg_set_grad_enabled(false);
        assert_non_null(cg_module_forward(net, x));
        cg_set_grad_enabled(prev);
        cg_module_train(net, true);
        cg_tape_release();
    }
    assert_int_equal(g_allocs, 0);
    assert_true(last < first);                       /* and it does learn the 8 examples */
    cg_tensor_free(x);
    cg_optim_free(opt);
    cg_named_list_free(&pl);
    cg_module_free(net);
    cg_tape_free_all();
    cg_set_allocator(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_net_step_allocates_nothing_once_warm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
