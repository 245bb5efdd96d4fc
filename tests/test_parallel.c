/* SPDX-License-Identifier: MIT */
/* tests/test_parallel.c — branching nets: the spec's parallel(A | B ...) and identity words and
 * the Parallel container (cg_parallel_new) they build: shapes, PyTorch's state-dict names
 * ("i.j.k.weight"), the summary's branch rows, nesting with residual to 8 deep, branches that
 * disagree refused at spec-check time, the forward against cat() of the branches, and a
 * gradcheck of a nested net; then errors inside containers naming the layer path, for nets from
 * a spec and nets built in C, nested. (PyTorch's side: python/cgrad/twin.py, tests/test_torch_specs.c.) */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"
#include "nets.h"
#include "alloc_probe.h"

static const int64_t *MNIST = CG_SHAPE(1, 28, 28);

#define INCEPTION \
    "conv2d(1,4,3,padding=1) relu " \
    "p=parallel(conv2d(4,2,1) | conv2d(4,3,3,padding=1) relu | max_pool2d(3,stride=1,padding=1) conv2d(4,1,1)) " \
    "parallel(identity | conv2d(6,2,3,padding=1)) flatten linear(6272,10)"

static void expect_tensor(const cg_module *m, const char *name, int ndim, const int64_t *shape) {
    cg_tensor *t = cg_module_find(m, name);
    if (!t) fail_msg("no tensor %s", name);
    assert_int_equal(cg_tensor_ndim(t), ndim);
    for (int d = 0; d < ndim; d++) assert_int_equal(cg_tensor_shape(t)[d], shape[d]);
}

static void expect_error(const char *spec, const int64_t *shape, const char *want) {
    cg_net_info info = { .n = 99 };
    cg_module *m = cg_net_from_spec(spec, 3, shape, &info);
    if (m) fail_msg("spec '%s' built; wanted the error '%s'", spec, want);
    if (!strstr(cg_last_error(), want)) fail_msg("spec '%s': error '%s' lacks '%s'", spec, cg_last_error(), want);
    assert_null(info.rows);
    assert_int_not_equal(cg_net_check_spec(spec, 3, shape, 1, NULL), CG_OK);
}

/* An Inception-style block and a DenseNet skip: the modules, names, rows and summary. */
static void test_parallel_spec_names_and_rows(void **s) {
    (void)s;
    cg_net_info info;
    cg_module *m = cg_net_from_spec(INCEPTION, 3, MNIST, &info);
    if (!m) fail_msg("%s", cg_last_error());
    assert_string_equal(m->children[2].module->type->name, "Parallel");
    assert_string_equal(m->children[2].name, "p");
    cg_module *p = m->children[2].module;
    assert_int_equal(p->n_children, 3);
    assert_string_equal(p->children[1].name, "1");
    assert_string_equal(p->children[1].module->type->name, "Sequential");
    assert_string_equal(m->children[3].module->children[0].module->children[0].module->type->name, "Identity");
    expect_tensor(m, "p.0.0.weight", 4, CG_SHAPE(2, 4, 1, 1));
    expect_tensor(m, "p.1.0.weight", 4, CG_SHAPE(3, 4, 3, 3));
    expect_tensor(m, "p.2.1.bias", 1, CG_SHAPE(1));
    expect_tensor(m, "3.1.0.weight", 4, CG_SHAPE(2, 6, 3, 3));
    expect_tensor(m, "5.weight", 2, CG_SHAPE(10, 6272));
    int64_t want = 40 + (8 + 2) + (108 + 3) + (4 + 1) + (108 + 2) + (62720 + 10);
    assert_int_equal(info.params, want);
    assert_int_equal(cg_module_num_parameters(m), want);
    /* Rows in source order: 0 1 p p.0 p.0.0 p.1 p.1.0 p.1.1 p.2 p.2.0 p.2.1 3 3.0 3.0.0 3.1 3.1.0 4 5 */
    assert_int_equal(info.n, 18);
    const char *names[] = { "0", "1", "p", "p.0", "p.0.0", "p.1", "p.1.0", "p.1.1", "p.2", "p.2.0", "p.2.1",
                            "3", "3.0", "3.0.0", "3.1", "3.1.0", "4", "5" };
    const int depth[] = { 0, 0, 0, 1, 2, 1, 2, 2, 1, 2, 2, 0, 1, 2, 1, 2, 0, 0 };
    const int64_t ch[] = { 4, 4, 6, 2, 2, 3, 3, 3, 1, 4, 1, 8, 6, 6, 2, 2, 6272, 10 };
    for (int i = 0; i < 18; i++) {
        assert_string_equal(info.rows[i].name, names[i]);
        assert_int_equal(info.rows[i].depth, depth[i]);
        assert_int_equal(info.rows[i].shape[0], ch[i]);
    }
    assert_string_equal(info.rows[2].op, "parallel");
    assert_string_equal(info.rows[3].op, "branch");
    assert_string_equal(info.rows[13].op, "identity");
    assert_int_equal(info.rows[2].shape[1], 28);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cg_net_info_fprint(f, &info);
    fclose(f);
    assert_non_null(strstr(buf, "\n    p.1                branch               [N,3,28,28]"));
    assert_non_null(strstr(buf, "\n      p.1.0            conv2d               [N,3,28,28]"));
    assert_non_null(strstr(buf, "\n  p                    parallel             [N,6,28,28]"));
    free(buf);
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 1, 28, 28), -1, 1, 3, false);
    cg_tensor *y = cg_module_forward(m, x);
    if (!y) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_tensor_shape(y)[1], 10);
    cg_tape_release();
    cg_tensor_free(x);
    cg_net_info_free(&info);
    cg_module_free(m);
}

/* parallel(identity | f) is cat([x, f(x)], 1), and a C-built Parallel is the same. */
static void test_parallel_is_cat_of_branches(void **s) {
    (void)s;
    cg_manual_seed(7);
    cg_module *m = cg_net_from_spec("parallel(identity | conv2d(2,3,3,padding=1) tanh | avg_pool2d(2))", 3,
                                    CG_SHAPE(2, 6, 6), NULL);
    assert_null(m);   /* avg_pool2d halves H and W */
    assert_non_null(strstr(cg_last_error(), "branch 0 gives [N,2,6,6], branch 2 gives [N,2,3,3]"));
    cg_manual_seed(7);
    m = cg_net_from_spec("parallel(identity | conv2d(2,3,3,padding=1) tanh)", 3, CG_SHAPE(2, 6, 6), NULL);
    if (!m) fail_msg("%s", cg_last_error());
    cg_manual_seed(7);
    cg_conv2d_params cp = cg_conv2d_defaults();
    cp.padding[0] = cp.padding[1] = 1;
    cg_module *b = cg_sequential_new(), *pc = cg_parallel_new(), *net = cg_sequential_new();
    assert_non_null(cg_sequential_append(b, NULL, cg_conv2d_new(2, 3, 3, &cp, true)));
    assert_non_null(cg_sequential_append(b, NULL, cg_tanh_new()));
    assert_non_null(cg_parallel_append(pc, NULL, cg_identity_new()));
    assert_non_null(cg_parallel_append(pc, NULL, b));
    assert_non_null(cg_sequential_append(net, NULL, pc));
    assert_null(cg_parallel_append(net, NULL, cg_relu_new()));   /* not a Parallel */
    assert_non_null(strstr(cg_last_error(), "cg_parallel_append: not a Parallel"));
    cg_named_list a, c;
    assert_int_equal(cg_module_state_dict(m, &a), CG_OK);
    assert_int_equal(cg_module_state_dict(net, &c), CG_OK);
    assert_int_equal(a.n, 2);
    assert_int_equal(c.n, 2);
    for (int i = 0; i < 2; i++) assert_string_equal(a.items[i].name, c.items[i].name);
    assert_string_equal(a.items[0].name, "0.1.0.weight");
    cg_named_list_free(&a);
    cg_named_list_free(&c);
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 2, 6, 6), -1, 1, 9, false);
    cg_tensor *y = cg_module_forward(m, x), *yc = cg_module_forward(net, x);
    cg_tensor *fx = cg_module_forward(b, x);
    if (!y || !yc || !fx) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_tensor_shape(y)[1], 5);
    const float *py = cg_tensor_cdata(y), *pyc = cg_tensor_cdata(yc), *px = cg_tensor_cdata(x), *pf = cg_tensor_cdata(fx);
    for (int n = 0; n < 2; n++)
        for (int k = 0; k < 5 * 36; k++) {
            float want = k < 72 ? px[n * 72 + k] : pf[n * 108 + k - 72];
            assert_float_equal(py[n * 180 + k], want, 0);
            assert_float_equal(pyc[n * 180 + k], want, 0);
        }
    cg_tape_release();
    cg_tensor_free(x);
    cg_module_free(m);
    cg_module_free(net);
}

/* Nesting: 8 containers deep in all is built, 9 refused; the other parallel errors. */
static void test_parallel_nesting_and_errors(void **s) {
    (void)s;
    const char *deep8 = "parallel(residual(parallel(residual(parallel(residual(parallel(residual(relu)))))))) "
                        "residual(relu)";
    cg_net_info info;
    cg_module *m = cg_net_from_spec(deep8, 3, CG_SHAPE(2, 3, 3), &info);
    if (!m) fail_msg("%s", cg_last_error());
    assert_int_equal(info.n, 15);   /* 4 parallels, 4 branches, 4 residuals, the relu; then residual, relu */
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 3, 3, 3), -1, 1, 4, false);
    cg_tensor *y = cg_module_forward(m, x);
    if (!y) fail_msg("%s", cg_last_error());
    cg_tape_release();
    cg_tensor_free(x);
    cg_net_info_free(&info);
    cg_module_free(m);
    expect_error("parallel(residual(parallel(residual(parallel(residual(parallel(residual(parallel(relu)))))))))",
                 CG_SHAPE(2, 3, 3), "char 73: residual and parallel nest deeper than 8 in all");
    expect_error("conv2d(1,4,3) parallel(conv2d(4,2,3) | conv2d(4,2,1))", MNIST,
                 "net spec, char 15: parallel(conv2d(4,2,3) | conv2d(4,2,1)) branches disagree: branch 0 gives "
                 "[N,2,24,24], branch 1 gives [N,2,26,26]; they must agree in every dim but dim 1");
    expect_error("parallel(flatten | relu)", MNIST, "branch 0 gives [N,784], branch 1 gives [N,1,28,28]");
    expect_error("relu | relu", MNIST, "char 6: '|' separates the branches of a parallel(A | B) only");
    expect_error("residual(relu | relu)", MNIST, "char 15: '|' separates the branches");
    expect_error("parallel(relu | )", MNIST, "char 17: parallel: branch 1 holds no layers");
    expect_error("parallel()", MNIST, "branch 0 holds no layers");
    expect_error("parallel relu", MNIST, "char 1: parallel needs its branches in parentheses");
    expect_error("parallel(relu | relu", MNIST, "char 9: parallel: '(' is never closed");
    expect_error("parallel(a=relu | a=relu) parallel(b=relu b=tanh)", MNIST, "char 43: layer name 'b' is used twice");
    expect_error("branch(relu)", MNIST, "unknown op 'branch'");
    expect_error("identity(1)", MNIST, "identity takes 0 arguments");
    /* Without spaces around '|', and a branch that is itself one parallel. */
    m = cg_net_from_spec("parallel(relu|parallel(tanh|sigmoid)|identity)", 3, CG_SHAPE(2, 3, 3), &info);
    if (!m) fail_msg("%s", cg_last_error());
    assert_int_equal(info.rows[0].shape[0], 8);
    cg_net_info_free(&info);
    cg_module_free(m);
}

static cg_tensor *net_fwd(cg_tensor **in, void *ctx) { return cg_module_forward(ctx, in[0]); }

/* The gradients through branches, identity skips and a residual around a parallel. */
static void test_parallel_gradcheck(void **s) {
    (void)s;
    cg_manual_seed(3);
    cg_module *m = cg_net_from_spec("parallel(identity | conv2d(2,3,3,padding=1) tanh | "
                                    "avg_pool2d(3,stride=1,padding=1) conv2d(2,1,1)) "
                                    "residual(parallel(conv2d(6,3,1) | conv2d(6,3,1) sigmoid)) tanh",
                                    3, CG_SHAPE(2, 4, 4), NULL);
    if (!m) fail_msg("%s", cg_last_error());
    cg_tensor *in[4] = { test_tensor(4, CG_SHAPE(2, 2, 4, 4), -1, 1, 5, true), cg_module_find(m, "0.1.0.weight"),
                         cg_module_find(m, "0.2.1.weight"), cg_module_find(m, "1.0.1.0.bias") };
    for (int k = 1; k < 4; k++) assert_non_null(in[k]);
    gradcheck(net_fwd, in, 4, m, 1e-3, 2e-3, 2e-2);
    cg_tensor_free(in[0]);
    cg_module_free(m);
}

/* A training step of a branching net (the Inception block, the identity skip) allocates nothing
 * once warm: the branch outputs' array is tape scratch. */

static void test_parallel_step_allocates_nothing_once_warm(void **s) {
    (void)s;
    cg_set_allocator(&counting_allocator);
    cg_manual_seed(5);
    cg_module *net = cg_net_from_spec(INCEPTION " log_softmax", 3, MNIST, NULL);
    if (!net) fail_msg("%s", cg_last_error());
    cg_named_list pl;
    assert_int_equal(cg_module_parameters(net, &pl), CG_OK);
    cg_tensor *ps[16];
    assert_true(pl.n <= 16);
    for (int64_t i = 0; i < pl.n; i++) ps[i] = pl.items[i].tensor;
    cg_optimizer *opt = cg_sgd_new(ps, (int)pl.n, (cg_sgd_options){ .lr = 0.01f, .momentum = 0.9f });
    assert_non_null(opt);
    cg_tensor *x = test_tensor(4, CG_SHAPE(4, 1, 28, 28), -0.5f, 2.0f, 11, false);
    int64_t y[4] = { 0, 1, 2, 3 };
    for (int step = 0; step < 6; step++) {
        if (step == 3) g_allocs = 0;   /* warm from here on */
        cg_optim_zero_grad(opt);
        cg_tensor *loss = cg_nll_loss(cg_module_forward(net, x), cg_tape_wrap(CG_I64, y, 1, CG_SHAPE(4)), CG_REDUCTION_MEAN);
        assert_int_equal(cg_backward(loss), CG_OK);
        assert_int_equal(cg_optim_step(opt), CG_OK);
        cg_tape_release();
        bool prev = cg_set_grad_enabled(false);
        assert_non_null(cg_module_forward(net, x));
        cg_set_grad_enabled(prev);
        cg_tape_release();
    }
    assert_int_equal(g_allocs, 0);
    cg_tensor_free(x);
    cg_optim_free(opt);
    cg_named_list_free(&pl);
    cg_module_free(net);
    cg_tape_free_all();
    cg_set_allocator(NULL);
}

/* ---- errors name the layer path ---- */
static int count(const char *s, const char *sub) {
    int n = 0;
    for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub)) n++;
    return n;
}

static void expect_forward_error(cg_module *m, int ndim, const int64_t *shape, const char *want) {
    for (int round = 0; round < 2; round++) {   /* the second failure is named afresh, not prefixed again */
        cg_tensor *x = test_tensor(ndim, shape, -1, 1, 2, false);
        assert_null(cg_module_forward(m, x));
        if (strncmp(cg_last_error(), want, strlen(want)))
            fail_msg("error '%s' does not start with '%s'", cg_last_error(), want);
        assert_int_equal(count(cg_last_error(), "of the net)"), 1);
        cg_tape_release();
        cg_tensor_free(x);
    }
}

static void test_errors_name_the_layer_path(void **s) {
    (void)s;
    /* The seed net on 20x20 images: fc1 gets 4096 features, not 9216 (conv1, relu, conv2 and the
     * pool fuse into one run, which accepts the size). */
    cg_module *m = cg_net_from_spec(CG_SEED_NET_SPEC, 3, MNIST, NULL);
    assert_non_null(m);
    expect_forward_error(m, 4, CG_SHAPE(2, 1, 20, 20), "fc1 (layer 7 of the net): linear: input [2, 4096]");
    /* A fused run names its producer: conv2d+relu with the wrong channels. */
    expect_forward_error(m, 4, CG_SHAPE(2, 3, 28, 28), "conv1 (layer 1 of the net): conv2d");
    cg_module_free(m);
    /* Nested, from a spec: residual > parallel > branch > layer. */
    m = cg_net_from_spec("relu a=residual(tanh parallel(linear(4,2) | fc=linear(4,2)))", 1, CG_SHAPE(4), NULL);
    if (!m) fail_msg("%s", cg_last_error());
    expect_forward_error(m, 2, CG_SHAPE(2, 3), "a.1.0.0 (layer 2 of the net): linear: input [2, 3]");
    cg_module_free(m);
    /* Nested, built in C; a failing second branch. */
    cg_module *net = cg_sequential_new(), *body = cg_residual_new(), *par = cg_parallel_new();
    cg_module *b0 = cg_sequential_new(), *b1 = cg_sequential_new();
    assert_non_null(cg_sequential_append(b0, NULL, cg_tanh_new()));
    assert_non_null(cg_sequential_append(b1, "fc", cg_linear_new(4, 1, true)));
    assert_non_null(cg_parallel_append(par, "left", b0));
    assert_non_null(cg_parallel_append(par, "right", b1));
    assert_non_null(cg_sequential_append(body, NULL, par));
    assert_non_null(cg_sequential_append(net, NULL, cg_relu_new()));
    assert_non_null(cg_sequential_append(net, "body", body));
    expect_forward_error(net, 2, CG_SHAPE(2, 3), "body.0.right.fc (layer 2 of the net): linear: input [2, 3]");
    /* The residual's add fails: named as the residual. */
    cg_tensor *x = test_tensor(2, CG_SHAPE(2, 4), -1, 1, 2, false);
    assert_null(cg_module_forward(net, x));
    assert_non_null(strstr(cg_last_error(), "body (layer 2 of the net): add: shapes [2, 4] and [2, 5]"));
    cg_tape_release();
    cg_tensor_free(x);
    /* Branches that disagree at run time: the Parallel names them, its container the path. */
    cg_module *net2 = cg_sequential_new(), *p2 = cg_parallel_new();
    assert_non_null(cg_parallel_append(p2, NULL, cg_tanh_new()));
    assert_non_null(cg_parallel_append(p2, NULL, cg_flatten_new()));
    assert_non_null(cg_sequential_append(net2, NULL, p2));
    x = test_tensor(4, CG_SHAPE(2, 2, 2, 2), -1, 1, 2, false);
    assert_null(cg_module_forward(net2, x));
    if (!strstr(cg_last_error(), "0 (layer 1 of the net): Parallel: branch 0 gives [2, 2, 2, 2], branch 1 gives [2, 8]"))
        fail_msg("%s", cg_last_error());
    cg_tape_release();
    cg_tensor_free(x);
    cg_module_free(net2);
    /* The Parallel on its own: a branch path. */
    x = test_tensor(2, CG_SHAPE(2, 3), -1, 1, 2, false);
    assert_null(cg_module_forward(par, x));
    assert_non_null(strstr(cg_last_error(), "right.fc (branch 2 of the net): linear:"));
    cg_tape_release();
    cg_tensor_free(x);
    cg_module_free(net);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parallel_spec_names_and_rows),
        cmocka_unit_test(test_parallel_is_cat_of_branches),
        cmocka_unit_test(test_parallel_nesting_and_errors),
        cmocka_unit_test(test_parallel_gradcheck),
        cmocka_unit_test(test_parallel_step_allocates_nothing_once_warm),
        cmocka_unit_test(test_errors_name_the_layer_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
