/* SPDX-License-Identifier: MIT */
/* tests/test_spec.c — networks from a text spec (cg_net_from_spec): the seed net and a BatchNorm
 * residual net with PyTorch's nn.Sequential state-dict names, the summary rows, comments and
 * key=value arguments, every error kind with its character position, the residual's forward,
 * Sequential's fusion plan on nets from specs, and BatchNorm's num_batches_tracked as an I64
 * scalar in checkpoints. (PyTorch's side of the same nets: tests/torch_interop.py.) */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cgrad/checkpoint.h"
#include "gradcheck.h"
#include "nets.h"

#define RESNET \
    "conv2d(1,32,3,padding=1) batch_norm2d(32) relu residual(conv2d(32,32,3,padding=1) batch_norm2d(32) relu " \
    "conv2d(32,32,3,padding=1) batch_norm2d(32)) relu conv2d(32,64,3,stride=2,padding=1) batch_norm2d(64) relu " \
    "residual(conv2d(64,64,3,padding=1) batch_norm2d(64) relu conv2d(64,64,3,padding=1) batch_norm2d(64)) relu " \
    "adaptive_avg_pool2d(1) flatten linear(64,10) log_softmax"

static const int64_t *MNIST = CG_SHAPE(1, 28, 28);

static void expect_tensor(const cg_module *m, const char *name, int ndim, const int64_t *shape) {
    cg_tensor *t = cg_module_find(m, name);
    if (!t) fail_msg("no tensor %s", name);
    assert_int_equal(cg_tensor_ndim(t), ndim);
    for (int d = 0; d < ndim; d++) assert_int_equal(cg_tensor_shape(t)[d], shape[d]);
}

static void test_seed_spec(void **s) {
    (void)s;
    cg_net_info info;
    cg_module *m = cg_net_from_spec(CG_SEED_NET_SPEC, 3, MNIST, &info);
    if (!m) fail_msg("%s", cg_last_error());
    cg_named_list sd;
    assert_int_equal(cg_module_state_dict(m, &sd), CG_OK);
    const char *names[] = { "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                            "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias" };
    assert_int_equal(sd.n, 8);
    for (int i = 0; i < 8; i++) assert_string_equal(sd.items[i].name, names[i]);
    cg_named_list_free(&sd);
    /* Exactly the seed's layers: no ReLU after conv2, Dropout2d twice. */
    const char *types[] = { "Conv2d", "ReLU", "Conv2d", "MaxPool2d", "Dropout2d", "Flatten",
                            "Linear", "ReLU", "Dropout2d", "Linear", "LogSoftmax" };
    assert_int_equal(m->n_children, 11);
    for (int i = 0; i < 11; i++) assert_string_equal(m->children[i].module->type->name, types[i]);
    assert_string_equal(m->children[1].name, "1");   /* unnamed: its position */
    assert_string_equal(m->children[4].name, "dropout1");
    /* Summary: rows, shapes, totals. */
    assert_int_equal(info.n, 11);
    assert_int_equal(info.params, 1199882);
    assert_int_equal(info.params, cg_module_num_parameters(m));
    assert_string_equal(info.rows[3].op, "max_pool2d");
    assert_int_equal(info.rows[3].ndim, 3);
    assert_int_equal(info.rows[3].shape[0], 64);
    assert_int_equal(info.rows[3].shape[1], 12);
    assert_int_equal(info.rows[5].shape[0], 9216);
    assert_int_equal(info.rows[6].params, 9216 * 128 + 128);
    double want = 2.0 * (26 * 26 * 32 * 9 + 24 * 24 * 64 * 288 + 9216 * 128 + 128 * 10);
    assert_float_equal(info.flops, want, 1);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cg_net_info_fprint(f, &info);
    fclose(f);
    assert_non_null(strstr(buf, "[N,64,12,12]"));
    assert_non_null(strstr(buf, "1199882 parameters"));
    free(buf);
    /* A forward: [2,1,28,28] -> [2,10]. */
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 1, 28, 28), -1, 1, 3, false);
    cg_tensor *y = cg_module_forward(m, x);
    assert_non_null(y);
    assert_int_equal(cg_tensor_shape(y)[1], 10);
    cg_tape_release();
    cg_tensor_free(x);
    cg_net_info_free(&info);
    cg_net_info_free(&info);   /* freed twice: a no-op */
    cg_module_free(m);
}

static void test_resnet_names_and_forward(void **s) {
    (void)s;
    cg_module *m = cg_net_from_spec(RESNET, 3, MNIST, NULL);
    if (!m) fail_msg("%s", cg_last_error());
    expect_tensor(m, "0.weight", 4, CG_SHAPE(32, 1, 3, 3));
    expect_tensor(m, "1.weight", 1, CG_SHAPE(32));
    expect_tensor(m, "1.running_mean", 1, CG_SHAPE(32));
    expect_tensor(m, "1.num_batches_tracked", 0, NULL);
    expect_tensor(m, "3.0.weight", 4, CG_SHAPE(32, 32, 3, 3));
    expect_tensor(m, "3.4.running_var", 1, CG_SHAPE(32));
    expect_tensor(m, "5.weight", 4, CG_SHAPE(64, 32, 3, 3));
    expect_tensor(m, "8.3.bias", 1, CG_SHAPE(64));
    expect_tensor(m, "12.weight", 2, CG_SHAPE(10, 64));
    cg_tensor *x = test_tensor(4, CG_SHAPE(3, 1, 28, 28), -1, 1, 5, false);
    cg_tensor *y = cg_module_forward(m, x);
    if (!y) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_tensor_shape(y)[0], 3);
    assert_int_equal(cg_tensor_shape(y)[1], 10);
    assert_int_equal(cg_backward(cg_mean(y)), CG_OK);
    assert_non_null(cg_tensor_grad(cg_module_find(m, "8.0.weight")));
    cg_tape_release();
    cg_tensor_free(x);
    cg_module_free(m);
}

/* residual(layers) is x + layers(x): compared with the layers run on their own. */
static void test_residual_adds_its_input(void **s) {
    (void)s;
    cg_manual_seed(4);
    cg_module *r = cg_net_from_spec("residual(conv2d(2,2,3,padding=1) tanh)", 3, CG_SHAPE(2, 5, 5), NULL);
    cg_manual_seed(4);
    cg_module *f = cg_net_from_spec("conv2d(2,2,3,padding=1) tanh", 3, CG_SHAPE(2, 5, 5), NULL);
    assert_non_null(r);
    assert_non_null(f);
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 2, 5, 5), -1, 1, 9, false);
    cg_tensor *yr = cg_module_forward(r, x), *yf = cg_module_forward(f, x);
    assert_non_null(yr);
    assert_non_null(yf);
    for (int64_t i = 0; i < cg_tensor_numel(x); i++)
        assert_float_equal(cg_tensor_data(yr)[i], cg_tensor_data(x)[i] + cg_tensor_data(yf)[i], 1e-6);
    cg_tape_release();
    cg_tensor_free(x);
    cg_module_free(r);
    cg_module_free(f);
}

/* Every op of the grammar, key=value, bools, decimals, comments across lines. */
static void test_every_op_and_syntax(void **s) {
    (void)s;
    const char *spec =
        "# a comment line\n"
        "c1=conv2d(3, 8, 3, stride=1, padding=1, dilation=1, groups=1, bias=false)  # trailing\n"
        "batch_norm2d(8, eps=1e-3, momentum=0.2) leaky_relu(negative_slope=0.2)\n"
        "conv2d(8,8,3,padding=2,dilation=2,groups=2) sigmoid max_pool2d(3,stride=2,padding=1)\n"
        "avg_pool2d(2,stride=1,padding=1) tanh dropout2d(.1) residual(relu() conv2d(8,8,1))\n"
        "adaptive_avg_pool2d(1) flatten dropout(0.5) linear(8, 5, bias=true) relu log_softmax";
    cg_net_info info;
    cg_module *m = cg_net_from_spec(spec, 3, CG_SHAPE(3, 9, 9), &info);
    if (!m) fail_msg("%s", cg_last_error());
    assert_null(cg_module_find(m, "c1.bias"));
    expect_tensor(m, "c1.weight", 4, CG_SHAPE(8, 3, 3, 3));
    expect_tensor(m, "3.weight", 4, CG_SHAPE(8, 4, 3, 3));
    expect_tensor(m, "9.1.weight", 4, CG_SHAPE(8, 8, 1, 1));
    assert_int_equal(info.rows[5].shape[1], 5);   /* max_pool2d(3,2,1) on 9x9 */
    assert_int_equal(info.rows[6].shape[1], 6);   /* avg_pool2d(2,1,1) on 5x5 */
    assert_int_equal(info.n, 18);
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 3, 9, 9), -1, 1, 11, false);
    cg_tensor *y = cg_module_forward(m, x);
    if (!y) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_tensor_shape(y)[1], 5);
    cg_tape_release();
    cg_tensor_free(x);
    cg_net_info_free(&info);
    cg_module_free(m);
    /* The one-line and the multi-line forms give the same state dict. */
    cg_module *a = cg_net_from_spec("conv2d(1,2,3)\nrelu # x\n\tflatten linear(1352,3)", 3, MNIST, NULL);
    cg_module *b = cg_net_from_spec("conv2d(1,2,3) relu flatten linear(1352,3)", 3, MNIST, NULL);
    assert_non_null(a);
    assert_non_null(b);
    expect_tensor(a, "3.weight", 2, CG_SHAPE(3, 1352));
    expect_tensor(b, "3.weight", 2, CG_SHAPE(3, 1352));
    cg_module_free(a);
    cg_module_free(b);
}

/* The activations of the zoo as words, with PyTorch's names, arguments and defaults; each layer
 * computes what its op does. */
static void test_activation_words(void **s) {
    (void)s;
    const char *spec = "gelu gelu(approximate='tanh') gelu(tanh) gelu(approximate=\"none\") silu hardswish "
                       "softplus softplus(beta=2, threshold=3) relu6 hardtanh hardtanh(min_val=-0.5, max_val=0.7)";
    cg_net_info info;
    cg_module *m = cg_net_from_spec(spec, 1, CG_SHAPE(6), &info);
    if (!m) fail_msg("%s", cg_last_error());
    assert_int_equal(info.n, 11);
    const char *types[] = { "GELU", "GELU", "GELU", "GELU", "SiLU", "Hardswish", "Softplus", "Softplus", "ReLU6",
                            "Hardtanh", "Hardtanh" };
    for (int i = 0; i < 11; i++) assert_string_equal(m->children[i].module->type->name, types[i]);
    cg_tensor *x = test_tensor(2, CG_SHAPE(3, 6), -4, 4, 5, false);
    cg_tensor *want[11] = {
        cg_gelu(x, false), cg_gelu(x, true), cg_gelu(x, true), cg_gelu(x, false), cg_silu(x), cg_hardswish(x),
        cg_softplus(x, 1, 20), cg_softplus(x, 2, 3), cg_relu6(x), cg_hardtanh(x, -1, 1), cg_hardtanh(x, -0.5f, 0.7f),
    };
    for (int i = 0; i < 11; i++) {
        cg_tensor *y = cg_module_forward(m->children[i].module, x);
        assert_non_null(y);
        assert_memory_equal(cg_tensor_cdata(y), cg_tensor_cdata(want[i]), 18 * sizeof(float));
    }
    cg_tape_release();
    cg_tensor_free(x);
    cg_net_info_free(&info);
    cg_module_free(m);
}

/* Each error: the call fails, builds nothing, and the message holds the expected text. */
static void expect_error(const char *spec, const int64_t *shape, const char *want) {
    cg_net_info info = { .n = 99 };
    cg_module *m = cg_net_from_spec(spec, 3, shape, &info);
    if (m) fail_msg("spec '%s' built; wanted the error '%s'", spec, want);
    if (!strstr(cg_last_error(), want)) fail_msg("spec '%s': error '%s' lacks '%s'", spec, cg_last_error(), want);
    assert_int_equal(info.n, 0);
    assert_null(info.rows);
    assert_int_not_equal(cg_net_check_spec(spec, 3, shape, 1, NULL), CG_OK);
}

/* batch_norm1d on [N,C] and [N,C,L] (BatchNorm1d, BatchNorm2d's state names); adaptive average
 * pooling to a size other than 1. */
static void test_norm_words(void **s) {
    (void)s;
    cg_net_info info;
    cg_module *m = cg_net_from_spec("conv2d(1,4,3) adaptive_avg_pool2d(3) flatten batch_norm1d(36) "
                                    "linear(36,8) layer_norm(8)", 3, MNIST, &info);
    if (!m) fail_msg("%s", cg_last_error());
    assert_int_equal(info.rows[1].shape[1], 3);
    assert_string_equal(m->children[3].module->type->name, "BatchNorm1d");
    assert_non_null(cg_module_find(m, "3.running_var"));
    assert_non_null(cg_module_find(m, "5.weight"));
    cg_net_info_free(&info);
    cg_module_free(m);
    m = cg_net_from_spec("batch_norm1d(5)", 2, CG_SHAPE(5, 7), NULL);   /* [N, C, L] */
    assert_non_null(m);
    cg_module_free(m);
    /* adaptive pooling to any size, larger than its input too (PyTorch allows it) */
    m = cg_net_from_spec("conv2d(1,2,3) adaptive_max_pool2d(4) adaptive_avg_pool2d(30) flatten linear(1800,3)", 3,
                         MNIST, &info);
    if (!m) fail_msg("%s", cg_last_error());
    assert_string_equal(m->children[1].module->type->name, "AdaptiveMaxPool2d");
    assert_int_equal(info.rows[1].shape[2], 4);
    assert_int_equal(info.rows[2].shape[2], 30);
    cg_tensor *x = cg_tensor_zeros(4, CG_SHAPE(2, 1, 28, 28));
    cg_tensor *y = cg_module_forward(m, x);
    assert_non_null(y);
    assert_int_equal(cg_tensor_shape(y)[1], 3);
    cg_tape_release();
    cg_tensor_free(x);
    cg_net_info_free(&info);
    cg_module_free(m);
    expect_error("flatten adaptive_max_pool2d(2)", MNIST, "needs [N,C,H,W] input");
    expect_error("flatten batch_norm1d(3)", MNIST, "needs [N,3] or [N,3,L] input, gets [N,784]");
    expect_error("flatten layer_norm(10)", MNIST, "normalises a last dim of 10, gets [N,784]");
}

/* conv_transpose2d: nn.ConvTranspose2d's argument order, its shape rule, parameters and FLOPs,
 * the [in, out/groups, k, k] weight, and its errors. */
static void test_conv_transpose2d_word(void **s) {
    (void)s;
    cg_net_info info;
    /* 28 -> 14 -> 28 (k3 s2 p1 op1: (14-1)*2 - 2 + 2 + 1 + 1), then 28 -> 30 with dilation 2 */
    cg_module *m = cg_net_from_spec("conv2d(1,4,3,stride=2,padding=1) up=conv_transpose2d(4,6,3,2,1,1,2) relu "
                                    "conv_transpose2d(6,2,2,bias=false,dilation=2)", 3, MNIST, &info);
    if (!m) fail_msg("%s", cg_last_error());
    assert_string_equal(info.rows[1].op, "conv_transpose2d");
    assert_int_equal(info.rows[1].ndim, 3);
    assert_int_equal(info.rows[1].shape[0], 6);
    assert_int_equal(info.rows[1].shape[1], 28);
    assert_int_equal(info.rows[1].shape[2], 28);
    assert_int_equal(info.rows[1].params, 4 * 3 * 9 + 6);
    assert_true(fabs(info.rows[1].flops - 2.0 * 4 * 14 * 14 * 3 * 9) < 1);
    assert_int_equal(info.rows[3].shape[1], 30);
    assert_int_equal(info.rows[3].params, 6 * 2 * 4);
    assert_string_equal(m->children[1].module->type->name, "ConvTranspose2d");
    expect_tensor(m, "up.weight", 4, CG_SHAPE(4, 3, 3, 3));
    expect_tensor(m, "up.bias", 1, CG_SHAPE(6));
    expect_tensor(m, "3.weight", 4, CG_SHAPE(6, 2, 2, 2));
    assert_null(cg_module_find(m, "3.bias"));
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 1, 28, 28), -1, 1, 21, false);
    cg_tensor *y = cg_module_forward(m, x);
    if (!y) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_tensor_shape(y)[1], 2);
    assert_int_equal(cg_tensor_shape(y)[2], 30);
    assert_int_equal(cg_tensor_shape(y)[3], 30);
    cg_tape_release();
    cg_tensor_free(x);
    cg_net_info_free(&info);
    cg_module_free(m);
    expect_error("conv_transpose2d(1,2,3,output_padding=1)", MNIST,
                 "char 17: conv_transpose2d: output_padding 1 must be smaller than stride 1 or dilation 1");
    expect_error("conv_transpose2d(2,2,3)", MNIST, "conv_transpose2d(2,2,3) expects 2 input channels, gets 1");
    expect_error("conv_transpose2d(1,3,3,groups=2)", MNIST, "must both be divisible by groups 2");
    expect_error("conv_transpose2d(1,2,3,padding=20)", MNIST,
                 "gives an output height of -10 from input [N,1,28,28]");
    expect_error("flatten conv_transpose2d(1,2,3)", MNIST, "needs [N,C,H,W] input, gets [N,784]");
    expect_error("conv_transpose2d(1,2,3,1,0,0,1,true,1,7)", MNIST, "conv_transpose2d takes 9 arguments, got more");
}

static void test_errors(void **s) {
    (void)s;
    /* refused before parsing anything: the checker's state must still be freed safely */
    assert_int_equal(cg_net_check_spec(NULL, 3, CG_SHAPE(1, 28, 28), 1, NULL), CG_EINVAL);
    assert_int_not_equal(cg_net_check_spec("relu", 3, CG_SHAPE(1, -28, 28), 1, NULL), CG_OK);
    assert_int_not_equal(cg_net_check_spec("relu", 99, CG_SHAPE(1, 28, 28), 1, NULL), CG_OK);
    /* The example: the layer, its character position, the features, the input. */
    expect_error("conv2d(1,32,3,padding=1) relu conv2d(32,64,3,padding=1) max_pool2d(2) flatten linear(9216,128)",
                 MNIST, "net spec, char 79: linear(9216,128) gets 12544 input features (input [N,64,14,14])");
    expect_error("conv2d(1,8,3) lienar(8,2)", MNIST, "char 15: unknown op 'lienar'");
    expect_error("conv2d(1,8)", MNIST, "char 7: conv2d: missing argument 'kernel'");
    expect_error("linear(1,2,true,4)", CG_SHAPE(1, 1, 1), "linear takes 3 arguments, got more");
    expect_error("conv2d(1,8,3,strides=2)", MNIST, "conv2d has no argument 'strides'");
    expect_error("conv2d(1,8,3,stride=2,stride=1)", MNIST, "argument 'stride' is given twice");
    expect_error("conv2d(1,8,kernel=3,3)", MNIST, "a positional argument after key=value");
    expect_error("conv2d(1,8,3.5)", MNIST, "kernel must be an integer");
    expect_error("conv2d(1,8,3,bias=1)", MNIST, "bias must be true or false");
    expect_error("dropout(true)", MNIST, "p must be a number");
    expect_error("dropout(1.5)", MNIST, "p = 1.5 is outside [0, 1]");
    expect_error("conv2d(1,8,0)", MNIST, "kernel = 0 is outside");
    expect_error("conv2d(1,8,x)", MNIST, "'x' is not a value");
    expect_error("conv2d(1,8,3", MNIST, "char 7: conv2d: '(' is never closed");
    expect_error("relu)", MNIST, "char 5: ')' closes nothing");
    expect_error("residual(relu", MNIST, "char 9: residual: '(' is never closed");
    expect_error("residual(relu))", MNIST, "char 15: ')' closes nothing");
    expect_error("conv2d(1,8,3 2)", MNIST, "expected ',' or ')'");
    expect_error("relu,flatten", MNIST, "expected whitespace between layers");
    expect_error("relu residual", MNIST, "residual needs its layers in parentheses");
    expect_error("residual()", MNIST, "residual() holds no layers");
    expect_error("", MNIST, "net spec is empty");
    expect_error("  # only a comment\n", MNIST, "net spec is empty");
    expect_error("a=relu a=relu", MNIST, "char 8: layer name 'a' is used twice");
    expect_error("=relu", MNIST, "expected a layer");
    expect_error("conv2d(3,8,3)", MNIST, "conv2d(3,8,3) expects 3 input channels, gets 1 (input [N,1,28,28])");
    expect_error("conv2d(1,6,3,groups=4)", MNIST, "divisible by groups 4");
    expect_error("conv2d(1,8,29)", MNIST, "kernel 29 (dilated 29) is larger than the padded input 28x28");
    expect_error("linear(784,10)", MNIST, "needs [N,features] input, gets [N,1,28,28] (put flatten before it)");
    expect_error("flatten conv2d(1,2,3)", MNIST, "char 9: conv2d(1,2,3) needs [N,C,H,W] input, gets [N,784]");
    expect_error("batch_norm2d(3)", MNIST, "expects 3 channels, gets 1");
    expect_error("max_pool2d(3,padding=2)", MNIST, "padding 2 must be at most half the kernel 3");
    expect_error("max_pool2d(64)", MNIST, "kernel 64 is larger than the padded input 28x28");
    expect_error("adaptive_max_pool2d(0)", MNIST, "output_size");
    expect_error("residual(conv2d(1,2,3))", MNIST, "changes the shape [N,1,28,28] to [N,2,26,26]");
    expect_error("residual(residual(residual(residual(residual(residual(residual(residual(residual(relu)))))))))",
                 MNIST, "residual and parallel nest deeper than 8 in all");
    expect_error("flatten linear(784,16000000) linear(16000000,200)", MNIST, "more than cgrad builds");
    expect_error("conv2d(1,8,3,stride=99999999999999999999)", MNIST, "not a number in range");
    expect_error("conv2d(1,8,3,stride=-1)", MNIST, "stride = -1 is outside");
    expect_error("abcdefghijabcdefghijabcdefghijabcdefghij=relu", MNIST, "is longer than 32 characters");
    expect_error("gelu(approximate=exact)", MNIST, "char 18: gelu: approximate must be one of none|tanh");
    expect_error("gelu(approximate='tanh)", MNIST, "a quoted word must end with its quote");
    expect_error("gelu(approximate=1)", MNIST, "approximate must be one of none|tanh");
    expect_error("softplus(beta=0)", MNIST, "beta = 0 is outside");
    expect_error("hardtanh(1, -1)", MNIST, "min_val 1 must not exceed max_val -1");
    expect_error("relu6(6)", MNIST, "relu6 takes 0 arguments");
    /* Bad calls. */
    assert_null(cg_net_from_spec(NULL, 3, MNIST, NULL));
    assert_null(cg_net_from_spec("relu", 0, MNIST, NULL));
    assert_non_null(strstr(cg_last_error(), "example shape"));
    assert_null(cg_net_from_spec("relu", 3, CG_SHAPE(1, 0, 28), NULL));
    assert_non_null(strstr(cg_last_error(), "must be in [1, 2^31]"));
    assert_null(cg_net_from_spec("flatten", 3, CG_SHAPE(INT64_MAX, 2, 2), NULL));
    assert_non_null(strstr(cg_last_error(), "must be in [1, 2^31]"));
    assert_null(cg_net_from_spec("flatten", 3, CG_SHAPE(1 << 30, 1 << 30, 1 << 30), NULL));
    assert_non_null(strstr(cg_last_error(), "too large"));
    /* A kernel as large as the padded input, on many channels: counted without overflow. */
    expect_error("conv2d(16777216,16777216,16777216,padding=8388607)", CG_SHAPE(16777216, 2, 2),
                 "is too large to count");
    /* Many layers: refused past the limit, quickly (the name check is per sequence). */
    size_t n = 10001 * 5 + 1;
    char *many = malloc(n);
    for (size_t i = 0; i < 10001; i++) memcpy(many + 5 * i, "relu ", 5);
    many[n - 1] = '\0';
    expect_error(many, MNIST, "more than 10000 layers");
    free(many);
}

/* The seed net from its spec: in evaluation conv1+relu run fused, and conv2 (no ReLU) with the
 * max-pool in its epilogue; with fusion off neither. The outputs are bit-equal. */
static void test_seed_net_fusion_plan(void **s) {
    (void)s;
    cg_tensor *x = test_tensor(4, CG_SHAPE(5, 1, 28, 28), -1, 1, 17, false);
    float *out[2];
    for (int fuse = 0; fuse < 2; fuse++) {
        assert_int_equal(cg_config_set(CG_CONFIG_FUSION, fuse), CG_OK);
        cg_manual_seed(2);
        cg_module *m = test_seed_net();
        cg_module_train(m, false);
        bool prev = cg_set_grad_enabled(false);
        cg_profile_enable(true);
        cg_profile_reset();
        cg_tensor *y = cg_module_forward(m, x);
        cg_set_grad_enabled(prev);
        assert_non_null(y);
        assert_int_equal(profile_has("conv2d_relu"), fuse);
        assert_int_equal(profile_has("conv2d_pool2"), fuse);
        assert_int_equal(profile_has("max_pool2d"), !fuse);
        cg_profile_enable(false);
        out[fuse] = malloc(50 * sizeof(float));
        memcpy(out[fuse], cg_tensor_data(y), 50 * sizeof(float));
        cg_tape_release();
        cg_module_free(m);
    }
    assert_int_equal(cg_config_set(CG_CONFIG_FUSION, true), CG_OK);
    assert_memory_equal(out[0], out[1], 50 * sizeof(float));
    free(out[0]);
    free(out[1]);
    cg_tensor_free(x);
}

/* The BatchNorm residual net in training: with fusion on, each batch_norm2d + relu runs as one
 * op (batch_norm2d_relu in the profile), and each residual + relu too (add_relu); the output, every parameter's gradient and the running
 * statistics are bit-equal to fusion off. */
static void test_batch_norm_relu_fuses_in_training(void **s) {
    (void)s;
    cg_tensor *x = test_tensor(4, CG_SHAPE(3, 1, 28, 28), -1, 1, 29, false);
    float *out[2], *grads[2], *stats[2];
    int64_t ng = 0, ns = 0;
    for (int fuse = 0; fuse < 2; fuse++) {
        assert_int_equal(cg_config_set(CG_CONFIG_FUSION, fuse), CG_OK);
        cg_manual_seed(6);
        cg_module *m = cg_net_from_spec(RESNET, 3, MNIST, NULL);
        assert_non_null(m);
        cg_profile_enable(true);
        cg_profile_reset();
        cg_tensor *y = cg_module_forward(m, x);
        if (!y) fail_msg("%s", cg_last_error());
        assert_int_equal(profile_has("batch_norm2d_relu"), fuse);
        assert_int_equal(profile_has("add_relu"), fuse);   /* residual(...) relu */
        cg_profile_enable(false);
        out[fuse] = malloc(30 * sizeof(float));
        memcpy(out[fuse], cg_tensor_data(y), 30 * sizeof(float));
        assert_int_equal(cg_backward(cg_sum(y)), CG_OK);
        cg_named_list ps;
        assert_int_equal(cg_module_parameters(m, &ps), CG_OK);
        ng = 0;
        for (int64_t i = 0; i < ps.n; i++) ng += cg_tensor_numel(ps.items[i].tensor);
        grads[fuse] = malloc((size_t)ng * sizeof(float));
        for (int64_t i = 0, o = 0; i < ps.n; i++) {
            cg_tensor *p = ps.items[i].tensor;
            memcpy(grads[fuse] + o, cg_tensor_data(cg_tensor_grad(p)), (size_t)cg_tensor_numel(p) * sizeof(float));
            o += cg_tensor_numel(p);
        }
        cg_named_list_free(&ps);
        cg_tensor *rv = cg_module_find(m, "6.running_var");
        assert_non_null(rv);
        ns = cg_tensor_numel(rv);
        stats[fuse] = malloc((size_t)ns * sizeof(float));
        memcpy(stats[fuse], cg_tensor_data(rv), (size_t)ns * sizeof(float));
        cg_tape_release();
        cg_module_free(m);
    }
    assert_int_equal(cg_config_set(CG_CONFIG_FUSION, true), CG_OK);
    assert_memory_equal(out[0], out[1], 30 * sizeof(float));
    assert_memory_equal(grads[0], grads[1], (size_t)ng * sizeof(float));
    assert_memory_equal(stats[0], stats[1], (size_t)ns * sizeof(float));
    for (int f = 0; f < 2; f++) { free(out[f]); free(grads[f]); free(stats[f]); }
    cg_tensor_free(x);
}

/* ReLU6 fuses like ReLU: in training each batch_norm2d + relu6 runs as one op (batch_norm2d_relu6
 * in the profile, no hardtanh for them), a conv without a batch norm runs it in its epilogue
 * (conv2d_relu6), a residual runs relu6 after its add; output and every gradient bit-equal to
 * fusion off. In evaluation the batch norms fold and each conv + relu6 is one op (conv2d_relu6,
 * the depthwise conv2d_dw_relu6, the pooled conv2d_relu6_pool2), within float rounding of fusion
 * off. Inputs reach past 6. */
static void test_batch_norm_relu6_fuses(void **s) {
    (void)s;
    const char *spec = "conv2d(1,4,3,padding=1) batch_norm2d(4) relu6 "
                       "residual(conv2d(4,4,3,padding=1,groups=4) batch_norm2d(4) relu6 conv2d(4,4,1)) relu6 "
                       "conv2d(4,4,3,padding=1) relu6 max_pool2d(2) flatten linear(784,10)";
    cg_tensor *x = test_tensor(4, CG_SHAPE(3, 1, 28, 28), -8, 8, 41, false);
    for (int training = 1; training >= 0; training--) {
        float *out[2], *grads[2];
        int64_t ng = 0;
        for (int fuse = 0; fuse < 2; fuse++) {
            assert_int_equal(cg_config_set(CG_CONFIG_FUSION, fuse), CG_OK);
            cg_manual_seed(7);
            cg_module *m = cg_net_from_spec(spec, 3, MNIST, NULL);
            if (!m) fail_msg("%s", cg_last_error());
            cg_module_train(m, training);
            cg_profile_enable(true);
            cg_profile_reset();
            const bool prev = cg_set_grad_enabled(training);   /* evaluation: nothing recorded, so the batch norms fold */
            cg_tensor *y = cg_module_forward(m, x);
            cg_set_grad_enabled(prev);
            if (!y) fail_msg("%s", cg_last_error());
            if (training) assert_int_equal(profile_has("batch_norm2d_relu6"), fuse);
            assert_int_equal(profile_has(training ? "conv2d_relu6" : "conv2d_relu6_pool2"), fuse);
            if (!training) assert_int_equal(profile_has("conv2d_dw_relu6"), fuse);
            cg_profile_enable(false);
            out[fuse] = malloc(30 * sizeof(float));
            memcpy(out[fuse], cg_tensor_data(y), 30 * sizeof(float));
            cg_named_list ps;
            assert_int_equal(cg_module_parameters(m, &ps), CG_OK);
            ng = 0;
            for (int64_t i = 0; i < ps.n; i++) ng += cg_tensor_numel(ps.items[i].tensor);
            grads[fuse] = calloc((size_t)ng, sizeof(float));
            if (training) {
                assert_int_equal(cg_backward(cg_sum(y)), CG_OK);
                for (int64_t i = 0, o = 0; i < ps.n; i++) {
                    cg_tensor *p = ps.items[i].tensor;
                    memcpy(grads[fuse] + o, cg_tensor_data(cg_tensor_grad(p)), (size_t)cg_tensor_numel(p) * sizeof(float));
                    o += cg_tensor_numel(p);
                }
            }
            cg_named_list_free(&ps);
            cg_tape_release();
            cg_module_free(m);
        }
        assert_int_equal(cg_config_set(CG_CONFIG_FUSION, true), CG_OK);
        if (training) {
            assert_memory_equal(out[0], out[1], 30 * sizeof(float));
            assert_memory_equal(grads[0], grads[1], (size_t)ng * sizeof(float));
        } else
            for (int i = 0; i < 30; i++) assert_float_equal(out[0][i], out[1][i], 1e-3f * (1.0f + fabsf(out[0][i])));
        for (int f = 0; f < 2; f++) { free(out[f]); free(grads[f]); }
    }
    cg_tensor_free(x);
}

/* The BatchNorm residual net in evaluation: with fusion on, each conv + batch_norm2d runs as one
 * conv with folded weights (no batch_norm2d op in the profile), within float rounding of the
 * unfused layers; with a gradient to record, or in training, nothing is folded and the values are
 * bit-equal to fusion off. */
static void test_batch_norm_folds_in_inference(void **s) {
    (void)s;
    cg_tensor *x = test_tensor(4, CG_SHAPE(3, 1, 28, 28), -1, 1, 23, false);
    float *out[2][2];   /* [fuse][grad] */
    for (int fuse = 0; fuse < 2; fuse++) {
        assert_int_equal(cg_config_set(CG_CONFIG_FUSION, fuse), CG_OK);
        cg_manual_seed(6);
        cg_module *m = cg_net_from_spec(RESNET, 3, MNIST, NULL);
        assert_non_null(m);
        /* A few training steps' worth of running statistics, so the fold has work to do. */
        for (int k = 0; k < 3; k++) { assert_non_null(cg_module_forward(m, x)); cg_tape_release(); }
        cg_module_train(m, false);
        for (int grad = 0; grad < 2; grad++) {
            bool prev = cg_set_grad_enabled(grad);
            cg_profile_enable(true);
            cg_profile_reset();
            cg_tensor *y = cg_module_forward(m, x);
            cg_set_grad_enabled(prev);
            if (!y) fail_msg("%s", cg_last_error());
            assert_int_equal(profile_has("batch_norm2d"), !(fuse && !grad));
            cg_profile_enable(false);
            out[fuse][grad] = malloc(30 * sizeof(float));
            memcpy(out[fuse][grad], cg_tensor_data(y), 30 * sizeof(float));
            cg_tape_release();
        }
        cg_module_free(m);
    }
    assert_int_equal(cg_config_set(CG_CONFIG_FUSION, true), CG_OK);
    assert_memory_equal(out[1][1], out[0][1], 30 * sizeof(float));   /* grad on: not folded */
    assert_memory_equal(out[0][0], out[0][1], 30 * sizeof(float));
    for (int i = 0; i < 30; i++)
        assert_float_equal(out[1][0][i], out[0][0][i], 1e-5 + 1e-5 * fabs(out[0][0][i]));
    for (int f = 0; f < 2; f++) for (int g = 0; g < 2; g++) free(out[f][g]);
    /* One conv + batch norm with non-trivial statistics and affine: folded, close, not equal. */
    float *o[2];
    int64_t n = 0;
    for (int fuse = 0; fuse < 2; fuse++) {
        assert_int_equal(cg_config_set(CG_CONFIG_FUSION, fuse), CG_OK);
        cg_manual_seed(8);
        cg_module *m = cg_net_from_spec("conv2d(1,4,3,padding=1) batch_norm2d(4) relu", 3, MNIST, NULL);
        assert_non_null(m);
        for (int k = 0; k < 4; k++) { assert_non_null(cg_module_forward(m, x)); cg_tape_release(); }
        float *gamma = cg_tensor_data(cg_module_find(m, "1.weight")), *beta = cg_tensor_data(cg_module_find(m, "1.bias"));
        for (int c = 0; c < 4; c++) { gamma[c] = 0.5f + 0.3f * (float)c; beta[c] = 0.1f * (float)c - 0.15f; }
        cg_module_train(m, false);
        bool prev = cg_set_grad_enabled(false);
        cg_tensor *y = cg_module_forward(m, x);
        cg_set_grad_enabled(prev);
        assert_non_null(y);
        n = cg_tensor_numel(y);
        o[fuse] = malloc((size_t)n * sizeof(float));
        memcpy(o[fuse], cg_tensor_data(y), (size_t)n * sizeof(float));
        cg_tape_release();
        cg_module_free(m);
    }
    assert_int_equal(cg_config_set(CG_CONFIG_FUSION, true), CG_OK);
    double diff = 0;
    for (int64_t i = 0; i < n; i++) {
        assert_float_equal(o[1][i], o[0][i], 1e-5 + 1e-5 * fabs(o[0][i]));
        diff += fabs(o[1][i] - o[0][i]);
    }
    assert_true(diff > 0);   /* the fold did run: rounding differs somewhere */
    free(o[0]);
    free(o[1]);
    cg_tensor_free(x);
}

/* num_batches_tracked goes to the file as an I64 scalar of shape [] (PyTorch's), and back. A
 * tensor the model lacks is an error naming it. */
static void test_batch_norm_count_is_i64(void **s) {
    (void)s;
    char path[] = "/tmp/cg_test_spec_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    cg_module *m = cg_net_from_spec("conv2d(1,2,3) batch_norm2d(2)", 3, CG_SHAPE(1, 6, 6), NULL);
    assert_non_null(m);
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 1, 6, 6), -1, 1, 21, false);
    for (int i = 0; i < 3; i++) { assert_non_null(cg_module_forward(m, x)); cg_tape_release(); }
    assert_int_equal(cg_tensor_dtype(cg_module_find(m, "1.num_batches_tracked")), CG_I64);
    assert_int_equal(cg_tensor_data_i64(cg_module_find(m, "1.num_batches_tracked"))[0], 3);
    assert_int_equal(cg_checkpoint_save(path, m, NULL, NULL, 0), CG_OK);
    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
    const cg_st_tensor *t = cg_safetensors_find(st, "1.num_batches_tracked");
    assert_non_null(t);
    assert_int_equal(t->dtype, CG_ST_I64);
    assert_int_equal(t->ndim, 0);
    int64_t v;
    memcpy(&v, t->data, 8);
    assert_int_equal(v, 3);
    cg_module *m2 = cg_net_from_spec("conv2d(1,2,3) batch_norm2d(2)", 3, CG_SHAPE(1, 6, 6), NULL);
    assert_int_equal(cg_checkpoint_restore(st, m2, NULL), CG_OK);
    assert_int_equal(cg_tensor_data_i64(cg_module_find(m2, "1.num_batches_tracked"))[0], 3);
    cg_safetensors_close(st);
    /* The same file into a net without the batch norm: its tensors are extra. */
    cg_module *m3 = cg_net_from_spec("conv2d(1,2,3) relu", 3, CG_SHAPE(1, 6, 6), NULL);
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
    assert_int_not_equal(cg_checkpoint_restore(st, m3, NULL), CG_OK);
    assert_non_null(strstr(cg_last_error(), "'1.bias' that the model does not"));
    cg_safetensors_close(st);
    unlink(path);
    cg_tensor_free(x);
    cg_module_free(m);
    cg_module_free(m2);
    cg_module_free(m3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_spec),
        cmocka_unit_test(test_resnet_names_and_forward),
        cmocka_unit_test(test_residual_adds_its_input),
        cmocka_unit_test(test_every_op_and_syntax),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_activation_words),
        cmocka_unit_test(test_norm_words),
        cmocka_unit_test(test_conv_transpose2d_word),
        cmocka_unit_test(test_seed_net_fusion_plan),
        cmocka_unit_test(test_batch_norm_folds_in_inference),
        cmocka_unit_test(test_batch_norm_relu_fuses_in_training),
        cmocka_unit_test(test_batch_norm_relu6_fuses),
        cmocka_unit_test(test_batch_norm_count_is_i64),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
