/* SPDX-License-Identifier: MIT */
/* tests/test_spec_write.c — nets write their spec back (cg_module_spec, nn.h): every spec of the
 * zoo (apps/nets), of the fuzz corpus and of test_spec.c round-trips (the same state dict, the
 * same forward bit for bit with the weights copied over, the same text on a second round); a net
 * built in C round-trips, gets a summary through cg_net_check_spec, and is saved by
 * cg_checkpoint_save with its spec, so that the spec and the file alone rebuild it; a module type
 * without the hook is named in the error, and its net's checkpoint holds the weights only. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cgrad/checkpoint.h"
#include "gradcheck.h"

static char *spec_of(const cg_module *m) {
    char *s = NULL;
    if (cg_module_spec(m, &s) != CG_OK) fail_msg("cg_module_spec: %s", cg_last_error());
    assert_non_null(s);
    return s;
}

/* The same state dict (names, dtypes, shapes); then a's values copied into b. */
static void same_state_copy(const cg_module *a, cg_module *b, const char *what) {
    cg_named_list sa, sb;
    assert_int_equal(cg_module_state_dict(a, &sa), CG_OK);
    assert_int_equal(cg_module_state_dict(b, &sb), CG_OK);
    if (sa.n != sb.n) fail_msg("%s: %lld tensors, rebuilt %lld", what, (long long)sa.n, (long long)sb.n);
    for (int64_t i = 0; i < sa.n; i++) {
        const cg_tensor *ta = sa.items[i].tensor;
        cg_tensor *tb = sb.items[i].tensor;
        if (strcmp(sa.items[i].name, sb.items[i].name))
            fail_msg("%s: tensor %lld is %s, rebuilt %s", what, (long long)i, sa.items[i].name, sb.items[i].name);
        assert_int_equal(cg_tensor_dtype(ta), cg_tensor_dtype(tb));
        assert_int_equal(cg_tensor_ndim(ta), cg_tensor_ndim(tb));
        for (int d = 0; d < cg_tensor_ndim(ta); d++) assert_int_equal(cg_tensor_shape(ta)[d], cg_tensor_shape(tb)[d]);
        size_t bytes = (size_t)cg_tensor_numel(ta) * (cg_tensor_dtype(ta) == CG_F32 ? 4 : cg_tensor_dtype(ta) == CG_I64 ? 8 : 1);
        memcpy(cg_tensor_raw(tb), cg_tensor_raw((cg_tensor *)ta), bytes);
    }
    cg_named_list_free(&sa);
    cg_named_list_free(&sb);
}

/* a and b hold bit-equal state (after training forwards: the running statistics, so momentum). */
static void same_state_values(const cg_module *a, const cg_module *b, const char *what) {
    cg_named_list sa, sb;
    assert_int_equal(cg_module_state_dict(a, &sa), CG_OK);
    assert_int_equal(cg_module_state_dict(b, &sb), CG_OK);
    assert_int_equal(sa.n, sb.n);
    for (int64_t i = 0; i < sa.n; i++) {
        cg_tensor *ta = sa.items[i].tensor, *tb = sb.items[i].tensor;
        size_t bytes = (size_t)cg_tensor_numel(ta) * (cg_tensor_dtype(ta) == CG_F32 ? 4 : cg_tensor_dtype(ta) == CG_I64 ? 8 : 1);
        if (memcmp(cg_tensor_raw(ta), cg_tensor_raw(tb), bytes))
            fail_msg("%s: %s differs after the same training forwards", what, sa.items[i].name);
    }
    cg_named_list_free(&sa);
    cg_named_list_free(&sb);
}

/* a and b give bit-equal outputs on the same input, in eval mode and in training mode (dropout
 * drawing the same masks from the same seed), and end with the same state. */
static void same_forward(cg_module *a, cg_module *b, int ndim, const int64_t *shape, const char *what) {
    int64_t xs[CG_MAX_DIMS] = { 2 };
    memcpy(xs + 1, shape, (size_t)ndim * sizeof *xs);
    cg_tensor *x = test_tensor(ndim + 1, xs, -1, 1, 7, false);
    for (int train = 0; train < 2; train++) {
        cg_module_train(a, train);
        cg_module_train(b, train);
        cg_manual_seed(11);
        cg_tensor *ya = cg_module_forward(a, x);
        cg_manual_seed(11);
        cg_tensor *yb = cg_module_forward(b, x);
        if (!ya || !yb) fail_msg("%s: forward: %s", what, cg_last_error());
        assert_int_equal(cg_tensor_numel(ya), cg_tensor_numel(yb));
        if (memcmp(cg_tensor_cdata(ya), cg_tensor_cdata(yb), (size_t)cg_tensor_numel(ya) * sizeof(float)))
            fail_msg("%s: the rebuilt net's output differs (%s)", what, train ? "training" : "eval");
        cg_tape_release();
    }
    same_state_values(a, b, what);
    cg_tensor_free(x);
}

/* m (built in C or from a spec) -> its spec -> a rebuilt net: same state dict, same forward,
 * the same spec again. Returns the spec (the caller's). */
static char *round_trip(cg_module *m, int ndim, const int64_t *shape, const char *what) {
    char *text = spec_of(m);
    cg_module *b = cg_net_from_spec(text, ndim, shape, NULL);
    if (!b) fail_msg("%s: its spec '%s' does not build: %s", what, text, cg_last_error());
    same_state_copy(m, b, what);
    same_forward(m, b, ndim, shape, what);
    char *again = spec_of(b);
    if (strcmp(text, again)) fail_msg("%s: second round '%s' differs from '%s'", what, again, text);
    cg_module_spec_free(again);
    cg_module_free(b);
    return text;
}

/* A spec with the first example shape it checks against (the fuzz corpus's shapes). */
static void round_trip_spec(const char *spec, const char *what) {
    static const int ndims[] = { 3, 3, 3, 3, 1, 2 };
    static const int64_t shapes[][3] = { { 1, 28, 28 }, { 3, 9, 9 }, { 3, 5, 5 }, { 2, 5, 5 }, { 6, 0, 0 }, { 5, 7, 0 } };
    for (int k = 0; k < 6; k++) {
        if (cg_net_check_spec(spec, ndims[k], shapes[k], 1, NULL) != CG_OK) continue;
        cg_module *m = cg_net_from_spec(spec, ndims[k], shapes[k], NULL);
        if (!m) fail_msg("%s: %s", what, cg_last_error());
        cg_module_spec_free(round_trip(m, ndims[k], shapes[k], what));
        cg_module_free(m);
        return;
    }
    fail_msg("%s: checks against none of the shapes: %s", what, cg_last_error());
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Every file of a folder (ending in suffix), round-tripped; returns how many. */
static int round_trip_dir(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        if (e->d_name[0] == '.' || len < sl || strcmp(e->d_name + len - sl, suffix)) continue;
        if (!strncmp(e->d_name, "refused-", 8)) continue;   /* fuzz seeds the check refuses (issue 24's crash) */
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        char *spec = slurp(path);
        round_trip_spec(spec, path);
        free(spec);
        n++;
    }
    closedir(d);
    return n;
}

static void test_zoo_and_corpus_round_trip(void **s) {
    (void)s;
    assert_true(round_trip_dir(CG_SOURCE_DIR "/apps/nets", ".net") >= 6);
    assert_true(round_trip_dir(CG_SOURCE_DIR "/tests/fuzz/corpus_spec", "") >= 5);
}

/* The nets of tests/test_spec.c. */
static void test_spec_cases_round_trip(void **s) {
    (void)s;
    const char *specs[] = {
        "conv1=conv2d(1,32,3) relu conv2=conv2d(32,64,3) max_pool2d(2) dropout1=dropout2d(0.25) flatten "
        "fc1=linear(9216,128) relu dropout2=dropout2d(0.5) fc2=linear(128,10) log_softmax",
        "conv2d(1,32,3,padding=1) batch_norm2d(32) relu residual(conv2d(32,32,3,padding=1) batch_norm2d(32) relu "
        "conv2d(32,32,3,padding=1) batch_norm2d(32)) relu conv2d(32,64,3,stride=2,padding=1) batch_norm2d(64) relu "
        "residual(conv2d(64,64,3,padding=1) batch_norm2d(64) relu conv2d(64,64,3,padding=1) batch_norm2d(64)) relu "
        "adaptive_avg_pool2d(1) flatten linear(64,10) log_softmax",
        "residual(conv2d(2,2,3,padding=1) tanh)",
        "# a comment line\n"
        "c1=conv2d(3, 8, 3, stride=1, padding=1, dilation=1, groups=1, bias=false)  # trailing\n"
        "batch_norm2d(8, eps=1e-3, momentum=0.2) leaky_relu(negative_slope=0.2)\n"
        "conv2d(8,8,3,padding=2,dilation=2,groups=2) sigmoid max_pool2d(3,stride=2,padding=1)\n"
        "avg_pool2d(2,stride=1,padding=1) tanh dropout2d(.1) residual(relu() conv2d(8,8,1))\n"
        "adaptive_avg_pool2d(1) flatten dropout(0.5) linear(8, 5, bias=true) relu log_softmax",
        "gelu gelu(approximate='tanh') gelu(tanh) gelu(approximate=\"none\") silu hardswish "
        "softplus softplus(beta=2, threshold=3) relu6 hardtanh hardtanh(min_val=-0.5, max_val=0.7)",
        "conv2d(1,4,3) adaptive_avg_pool2d(3) flatten batch_norm1d(36) linear(36,8) layer_norm(8)",
        "batch_norm1d(5)",
        "conv2d(1,2,3) adaptive_max_pool2d(4) adaptive_avg_pool2d(30) flatten linear(1800,3)",
        "conv2d(1,4,3,stride=2,padding=1) up=conv_transpose2d(4,6,3,2,1,1,2) relu "
        "conv_transpose2d(6,2,2,bias=false,dilation=2)",
        "conv2d(1,2,3) batch_norm2d(2)",
        "conv2d(1,4,3,padding=1) batch_norm2d(4) relu",
        /* and the words and settings the cases above leave out */
        "conv2d(1,4,3) upsample(2) group_norm(2,4,eps=0.001,affine=false) leaky_relu(0.1) "
        "batch_norm2d(4,momentum=0.25) flatten layer_norm(10816,eps=1e-6,elementwise_affine=false) "
        "softplus(threshold=5) hardtanh(max_val=2) log_softmax",
        "residual(residual(conv2d(1,1,3,padding=1,bias=false) relu) tanh) avg_pool2d(3,padding=1) "
        "max_pool2d(2,stride=1)",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) round_trip_spec(specs[i], specs[i]);
}

/* Exactly what is written: positions and names, only non-default arguments, short decimals. */
static void test_written_text(void **s) {
    (void)s;
    cg_module *m = cg_net_from_spec("c1=conv2d(3, 8, 3, stride=1, padding=1, groups=1, bias=false) "
                                    "batch_norm2d(8, eps=1e-3, momentum=0.1) leaky_relu(negative_slope=0.2) "
                                    "residual(relu() b=conv2d(8,8,1)) max_pool2d(3,3) dropout2d(.1) flatten "
                                    "gelu(tanh) dropout(0.5) linear(72, 5) log_softmax",
                                    3, CG_SHAPE(3, 9, 9), NULL);
    if (!m) fail_msg("%s", cg_last_error());
    char *text = spec_of(m);
    assert_string_equal(text, "c1=conv2d(3,8,3,padding=1,bias=false) batch_norm2d(8,eps=0.001) leaky_relu(0.2) "
                              "residual(relu b=conv2d(8,8,1)) max_pool2d(3) dropout2d(0.1) flatten "
                              "gelu(approximate=tanh) dropout(0.5) linear(72,5) log_softmax");
    cg_module_spec_free(text);
    cg_module_spec_free(NULL);
    cg_module_free(m);
}

/* embedding: its input is indices, so the forward gets whole numbers. */
static void test_embedding_round_trip(void **s) {
    (void)s;
    const char *spec = "emb=embedding(10,4) flatten linear(12,3)";
    cg_module *a = cg_net_from_spec(spec, 1, CG_SHAPE(3), NULL);
    assert_non_null(a);
    char *text = spec_of(a);
    assert_string_equal(text, spec);
    cg_module *b = cg_net_from_spec(text, 1, CG_SHAPE(3), NULL);
    assert_non_null(b);
    same_state_copy(a, b, spec);
    cg_tensor *x = cg_tensor_from_data(CG_F32, 2, CG_SHAPE(2, 3), (const float[]){ 0, 9, 3, 4, 4, 1 });
    cg_tensor *ya = cg_module_forward(a, x), *yb = cg_module_forward(b, x);
    assert_non_null(ya);
    assert_non_null(yb);
    assert_memory_equal(cg_tensor_cdata(ya), cg_tensor_cdata(yb), 6 * sizeof(float));
    cg_tape_release();
    cg_tensor_free(x);
    cg_module_spec_free(text);
    cg_module_free(a);
    cg_module_free(b);
}

/* A net built in C from built-in modules: the shape of an Inception-less small CNN with a named
 * residual block. */
static cg_module *c_built_net(void) {
    cg_conv2d_params p = cg_conv2d_defaults();
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    cg_module *net = cg_sequential_new();
    cg_sequential_append(net, "stem", cg_conv2d_new(1, 8, 3, &p, false));
    cg_sequential_append(net, NULL, cg_batch_norm2d_new(8, 1e-5f, 0.1f));
    cg_sequential_append(net, NULL, cg_relu_new());
    cg_module *block = cg_residual_new();
    cg_conv2d_params same = cg_conv2d_defaults();
    same.padding[0] = same.padding[1] = 1;
    cg_sequential_append(block, "conv", cg_conv2d_new(8, 8, 3, &same, true));
    cg_sequential_append(block, NULL, cg_batch_norm2d_new(8, 1e-5f, 0.1f));
    cg_sequential_append(net, "block", block);
    cg_sequential_append(net, NULL, cg_relu_new());
    cg_sequential_append(net, NULL, cg_max_pool2d_new(2));
    cg_sequential_append(net, NULL, cg_dropout_new(0.25f));
    cg_sequential_append(net, NULL, cg_flatten_new());
    cg_sequential_append(net, "fc", cg_linear_new(8 * 7 * 7, 10, true));
    assert_non_null(cg_sequential_append(net, NULL, cg_log_softmax_new(1)));
    return net;
}
#define C_NET_SPEC "stem=conv2d(1,8,3,stride=2,padding=1,bias=false) batch_norm2d(8) relu " \
                   "block=residual(conv=conv2d(8,8,3,padding=1) batch_norm2d(8)) relu max_pool2d(2) dropout(0.25) " \
                   "flatten fc=linear(392,10) log_softmax"

static void test_c_built_net_round_trip(void **s) {
    (void)s;
    cg_module *net = c_built_net();
    char *text = round_trip(net, 3, CG_SHAPE(1, 28, 28), "C-built net");
    assert_string_equal(text, C_NET_SPEC);
    /* and its summary, from the written spec */
    cg_net_info info;
    assert_int_equal(cg_net_check_spec(text, 3, CG_SHAPE(1, 28, 28), 1, &info), CG_OK);
    assert_int_equal(info.params, cg_module_num_parameters(net));
    assert_int_equal(info.n, 12);
    assert_string_equal(info.rows[3].name, "block");
    assert_string_equal(info.rows[4].name, "block.conv");
    assert_string_equal(info.rows[10].name, "fc");
    assert_int_equal(info.rows[10].shape[0], 10);
    cg_net_info_free(&info);
    cg_module_spec_free(text);
    cg_module_free(net);
}

/* A checkpoint of the C-built net holds its spec under "net": the spec and the file alone rebuild
 * the net, and it computes what the saved one did. A spec the caller gives is kept as given. */
static void test_checkpoint_of_c_built_net(void **s) {
    (void)s;
    char path[] = "/tmp/cg_spec_write_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    cg_module *net = c_built_net();
    cg_tensor *x = test_tensor(4, CG_SHAPE(3, 1, 28, 28), -1, 1, 5, false);
    cg_module_train(net, true);
    cg_manual_seed(3);
    assert_non_null(cg_module_forward(net, x));   /* moves the batch-norm statistics */
    cg_tape_release();
    cg_module_train(net, false);
    assert_int_equal(cg_checkpoint_save(path, net, NULL, NULL, 0), CG_OK);
    assert_string_equal(cg_last_error(), "");   /* no note: the spec was saved */
    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
    const char *spec = cg_safetensors_meta(st, "net");
    assert_non_null(spec);
    assert_string_equal(spec, C_NET_SPEC);
    cg_module *back = cg_net_from_spec(spec, 3, CG_SHAPE(1, 28, 28), NULL);
    assert_non_null(back);
    assert_int_equal(cg_checkpoint_restore(st, back, NULL), CG_OK);
    cg_module_train(back, false);
    cg_tensor *ya = cg_module_forward(net, x), *yb = cg_module_forward(back, x);
    assert_non_null(ya);
    assert_non_null(yb);
    assert_memory_equal(cg_tensor_cdata(ya), cg_tensor_cdata(yb), 30 * sizeof(float));
    cg_tape_release();
    cg_safetensors_close(st);
    cg_module_free(back);
    /* the caller's "net" wins, once */
    cg_kv meta[] = { { "net", "given" }, { "epoch", "3" } };
    assert_int_equal(cg_checkpoint_save(path, net, NULL, meta, 2), CG_OK);
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
    assert_string_equal(cg_safetensors_meta(st, "net"), "given");
    assert_int_equal(cg_safetensors_meta_count(st), 2);
    cg_safetensors_close(st);
    cg_tensor_free(x);
    cg_module_free(net);
    unlink(path);
}

/* A module type of the user's own, without the hook (and one with it). */
typedef struct my_layer { cg_module base; } my_layer;
static cg_tensor *my_forward(cg_module *m, cg_tensor *x) { (void)m; return cg_relu(x); }
static const cg_module_type my_type = { .name = "MyLayer", .forward = my_forward };
static cg_status my_spec(const cg_module *m, cg_spec_writer *w) { (void)m; return cg_spec_printf(w, "relu"); }
static const cg_module_type my_spec_type = { .name = "MyReLU", .forward = my_forward, .to_spec = my_spec };

static void expect_spec_error(const cg_module *m, const char *want) {
    char *text = (char *)1;
    assert_int_not_equal(cg_module_spec(m, &text), CG_OK);
    assert_null(text);
    if (!strstr(cg_last_error(), want)) fail_msg("error '%s' lacks '%s'", cg_last_error(), want);
}

static void test_user_type_without_spec(void **s) {
    (void)s;
    cg_module *net = cg_sequential_new();
    cg_sequential_append(net, NULL, cg_linear_new(4, 3, true));
    cg_sequential_append(net, NULL, cg_relu_new());
    cg_module *r = cg_residual_new();
    cg_sequential_append(r, NULL, cg_module_new(&my_type, sizeof(my_layer)));
    cg_sequential_append(net, NULL, r);
    cg_sequential_append(net, "act", cg_module_new(&my_type, sizeof(my_layer)));
    expect_spec_error(net, "layer 2.0 (MyLayer) has no spec");
    /* the checkpoint holds the weights, and says it has no spec */
    char path[] = "/tmp/cg_spec_write_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(cg_checkpoint_save(path, net, NULL, NULL, 0), CG_OK);
    assert_non_null(strstr(cg_last_error(), "saved the weights only"));
    assert_non_null(strstr(cg_last_error(), "layer 2.0 (MyLayer) has no spec"));
    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
    assert_null(cg_safetensors_meta(st, "net"));
    assert_non_null(cg_safetensors_find(st, "0.weight"));
    assert_int_equal(cg_checkpoint_restore(st, net, NULL), CG_OK);
    cg_safetensors_close(st);
    unlink(path);
    cg_module_free(net);
    /* the top-level layer's path; and a type with the hook writes itself */
    net = cg_sequential_new();
    cg_sequential_append(net, NULL, cg_flatten_new());
    cg_sequential_append(net, NULL, cg_module_new(&my_spec_type, sizeof(my_layer)));
    cg_sequential_append(net, "act", cg_module_new(&my_type, sizeof(my_layer)));
    expect_spec_error(net, "layer act (MyLayer) has no spec");
    cg_module_free(net);
    net = cg_sequential_new();
    cg_sequential_append(net, NULL, cg_flatten_new());
    cg_sequential_append(net, NULL, cg_module_new(&my_spec_type, sizeof(my_layer)));
    char *text = spec_of(net);
    assert_string_equal(text, "flatten relu");
    cg_module_spec_free(text);
    cg_module_free(net);
}

/* A container of the user's own writes its children through cg_spec_children: as a list (a
 * Residual-like block), or as branches (" | ": each a Sequential written as its bare list, named
 * by its position), the way a parallel(A | B) container writes itself. Only the text is checked:
 * the words are made up. */
static cg_tensor *id_forward(cg_module *m, cg_tensor *x) { (void)m; return x; }
static cg_status branches_spec(const cg_module *m, cg_spec_writer *w) {
    cg_status st = cg_spec_printf(w, "branches(");
    if (st == CG_OK) st = cg_spec_children(w, m, " | ");
    return st == CG_OK ? cg_spec_printf(w, ")") : st;
}
static const cg_module_type branches_type = { .name = "Branches", .forward = id_forward, .to_spec = branches_spec };

static void test_container_of_own(void **s) {
    (void)s;
    cg_module *net = cg_sequential_new(), *br = cg_module_new(&branches_type, sizeof(cg_module));
    cg_module *b0 = cg_sequential_new(), *b1 = cg_sequential_new();
    cg_sequential_append(b0, NULL, cg_relu_new());
    cg_sequential_append(b1, "c", cg_conv2d_new(1, 2, 1, NULL, true));
    cg_sequential_append(b1, NULL, cg_tanh_new());
    assert_non_null(cg_module_add_child(br, "0", b0));
    assert_non_null(cg_module_add_child(br, "1", b1));
    cg_sequential_append(net, NULL, cg_flatten_new());
    cg_sequential_append(net, "br", br);
    char *text = spec_of(net);
    assert_string_equal(text, "flatten br=branches(relu | c=conv2d(1,2,1) tanh)");
    cg_module_spec_free(text);
    /* a branch that is not a Sequential, and a layer without a spec inside a branch: named */
    assert_non_null(cg_module_add_child(br, "2", cg_relu_new()));
    expect_spec_error(net, "layer br.2 (ReLU) is not a Sequential");
    cg_module_free(net);
    net = cg_sequential_new();
    br = cg_sequential_append(net, NULL, cg_module_new(&branches_type, sizeof(cg_module)));
    b0 = cg_module_add_child(br, "0", cg_sequential_new());
    cg_sequential_append(b0, NULL, cg_module_new(&my_type, sizeof(my_layer)));
    expect_spec_error(net, "layer 0.0.0 (MyLayer) has no spec");
    cg_module_free(net);
    net = cg_sequential_new();
    br = cg_sequential_append(net, NULL, cg_module_new(&branches_type, sizeof(cg_module)));
    b0 = cg_module_add_child(br, "left", cg_sequential_new());
    cg_sequential_append(b0, NULL, cg_relu_new());
    expect_spec_error(net, "a branch is named by its position");
    cg_module_free(net);
}

/* What the grammar cannot say is refused, naming the layer. */
static void test_unwritable_nets(void **s) {
    (void)s;
    cg_module *lin = cg_linear_new(3, 2, true);
    expect_spec_error(lin, "the net (Linear) is not a Sequential");
    cg_module_free(lin);
    cg_module *empty = cg_sequential_new();
    expect_spec_error(empty, "holds no layers");
    cg_module_free(empty);
    cg_module *net = cg_sequential_new(), *inner = cg_sequential_new();
    cg_sequential_append(inner, NULL, cg_relu_new());
    cg_sequential_append(net, NULL, cg_relu_new());
    cg_sequential_append(net, "inner", inner);
    expect_spec_error(net, "layer inner (Sequential): a Sequential inside a Sequential or Residual has no spec word");
    cg_module_free(net);
    cg_conv2d_params p = cg_conv2d_defaults();
    p.stride[1] = 2;
    net = cg_sequential_new();
    cg_sequential_append(net, NULL, cg_conv2d_new(1, 2, 3, &p, true));
    expect_spec_error(net, "layer 0 (Conv2d): the spec's conv2d is square");
    cg_module_free(net);
    net = cg_sequential_new();
    cg_sequential_append(net, NULL, cg_relu_new());
    cg_sequential_append(net, NULL, cg_log_softmax_new(0));
    expect_spec_error(net, "layer 1 (LogSoftmax): the spec's log_softmax is over dim 1");
    cg_module_free(net);
    net = cg_sequential_new();
    cg_sequential_append(net, "1", cg_relu_new());
    expect_spec_error(net, "the spec cannot name it '1' at position 0");
    cg_module_free(net);
    net = cg_sequential_new();
    cg_sequential_append(net, NULL, cg_adaptive_avg_pool2d_new(2, 3));
    expect_spec_error(net, "layer 0 (AdaptiveAvgPool2d)");
    cg_module_free(net);
    assert_int_not_equal(cg_module_spec(NULL, &(char *){ NULL }), CG_OK);
    assert_int_not_equal(cg_module_spec(net = cg_sequential_new(), NULL), CG_OK);
    cg_module_free(net);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zoo_and_corpus_round_trip),
        cmocka_unit_test(test_spec_cases_round_trip),
        cmocka_unit_test(test_written_text),
        cmocka_unit_test(test_embedding_round_trip),
        cmocka_unit_test(test_c_built_net_round_trip),
        cmocka_unit_test(test_checkpoint_of_c_built_net),
        cmocka_unit_test(test_user_type_without_spec),
        cmocka_unit_test(test_container_of_own),
        cmocka_unit_test(test_unwritable_nets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
