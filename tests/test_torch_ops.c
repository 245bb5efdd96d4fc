/* SPDX-License-Identifier: MIT */
/* tests/test_torch_ops.c — every op of include/cgrad/ops.h against PyTorch on fixed inputs.
 *
 * For each case NAME of tests/fixtures/ops.txt (written by tests/gen_fixtures.py): the inputs
 * NAME.x<k>, the output NAME.out, and the input gradients NAME.g<k> of loss = sum(out * NAME.R)
 * must match PyTorch's within |got - want| <= 1e-5 + 1e-4*|want|. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fixture.h"

#define ATOL 1e-5
#define RTOL 1e-4
#define MAX_IN 8

static fixture *FX;
static fixture *fx(void) {
    if (!FX) FX = fixture_load("ops.txt");
    return FX;
}

/* Tensors a case keeps alive until after backward (running stats). */
static cg_tensor *KEEP[4];

typedef cg_tensor *(*case_fn)(cg_tensor **x, const char *name);
typedef struct case_def { const char *name; case_fn fn; } case_def;

static cg_tensor *extra(const char *name, const char *what) { return fixture_tensor(fx(), "%s.%s", name, what); }
static const float *params(const char *name, const char *what, int64_t want_n) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", name, what);
    int64_t n;
    const float *v = fixture_values(fx(), key, &n);
    assert_int_equal(n, want_n);
    return v;
}

/* ---- the op under test, per case ---------------------------------------------------------- */
static cg_tensor *f_add(cg_tensor **x, const char *n) { (void)n; return cg_add(x[0], x[1]); }
static cg_tensor *f_sub(cg_tensor **x, const char *n) { (void)n; return cg_sub(x[0], x[1]); }
static cg_tensor *f_mul(cg_tensor **x, const char *n) { (void)n; return cg_mul(x[0], x[1]); }
static cg_tensor *f_div(cg_tensor **x, const char *n) { (void)n; return cg_div(x[0], x[1]); }
static cg_tensor *f_add_scalar(cg_tensor **x, const char *n) { (void)n; return cg_add_scalar(x[0], 0.75f); }
static cg_tensor *f_mul_scalar(cg_tensor **x, const char *n) { (void)n; return cg_mul_scalar(x[0], -1.5f); }
static cg_tensor *f_neg(cg_tensor **x, const char *n) { (void)n; return cg_neg(x[0]); }
static cg_tensor *f_pow_2_5(cg_tensor **x, const char *n) { (void)n; return cg_pow(x[0], 2.5f); }
static cg_tensor *f_pow_3(cg_tensor **x, const char *n) { (void)n; return cg_pow(x[0], 3.0f); }
static cg_tensor *f_pow_m0_5(cg_tensor **x, const char *n) { (void)n; return cg_pow(x[0], -0.5f); }
static cg_tensor *f_exp(cg_tensor **x, const char *n) { (void)n; return cg_exp(x[0]); }
static cg_tensor *f_log(cg_tensor **x, const char *n) { (void)n; return cg_log(x[0]); }
static cg_tensor *f_sqrt(cg_tensor **x, const char *n) { (void)n; return cg_sqrt(x[0]); }
static cg_tensor *f_relu(cg_tensor **x, const char *n) { (void)n; return cg_relu(x[0]); }
static cg_tensor *f_leaky_relu(cg_tensor **x, const char *n) { (void)n; return cg_leaky_relu(x[0], 0.1f); }
static cg_tensor *f_sigmoid(cg_tensor **x, const char *n) { (void)n; return cg_sigmoid(x[0]); }
static cg_tensor *f_gelu(cg_tensor **x, const char *n) { (void)n; return cg_gelu(x[0], false); }
static cg_tensor *f_gelu_tanh(cg_tensor **x, const char *n) { (void)n; return cg_gelu(x[0], true); }
static cg_tensor *f_silu(cg_tensor **x, const char *n) { (void)n; return cg_silu(x[0]); }
static cg_tensor *f_hardswish(cg_tensor **x, const char *n) { (void)n; return cg_hardswish(x[0]); }
static cg_tensor *f_softplus(cg_tensor **x, const char *n) { (void)n; return cg_softplus(x[0], 1.0f, 20.0f); }
static cg_tensor *f_softplus_b2(cg_tensor **x, const char *n) { (void)n; return cg_softplus(x[0], 2.0f, 3.0f); }
static cg_tensor *f_clamp(cg_tensor **x, const char *n) { (void)n; return cg_clamp(x[0], -0.5f, 0.7f); }
static cg_tensor *f_hardtanh(cg_tensor **x, const char *n) { (void)n; return cg_hardtanh(x[0], -0.5f, 0.7f); }
static cg_tensor *f_relu6(cg_tensor **x, const char *n) { (void)n; return cg_relu6(x[0]); }
static cg_tensor *f_abs(cg_tensor **x, const char *n) { (void)n; return cg_abs(x[0]); }
static cg_tensor *f_tanh(cg_tensor **x, const char *n) { (void)n; return cg_tanh(x[0]); }
static cg_tensor *f_sum(cg_tensor **x, const char *n) { (void)n; return cg_sum(x[0]); }
static cg_tensor *f_mean(cg_tensor **x, const char *n) { (void)n; return cg_mean(x[0]); }
static cg_tensor *f_sum_dim1(cg_tensor **x, const char *n) { (void)n; return cg_sum_dim(x[0], 1, false); }
static cg_tensor *f_sum_dimm1_keep(cg_tensor **x, const char *n) { (void)n; return cg_sum_dim(x[0], -1, true); }
static cg_tensor *f_mean_dim0(cg_tensor **x, const char *n) { (void)n; return cg_mean_dim(x[0], 0, false); }
static cg_tensor *f_mean_dim2_keep(cg_tensor **x, const char *n) { (void)n; return cg_mean_dim(x[0], 2, true); }
static cg_tensor *f_matmul(cg_tensor **x, const char *n) { (void)n; return cg_matmul(x[0], x[1]); }
static cg_tensor *f_transpose_02(cg_tensor **x, const char *n) { (void)n; return cg_transpose(x[0], 0, 2); }
static cg_tensor *f_transpose_m1m2(cg_tensor **x, const char *n) { (void)n; return cg_transpose(x[0], -1, -2); }
static cg_tensor *f_linear(cg_tensor **x, const char *n) { (void)n; return cg_linear(x[0], x[1], x[2]); }
static cg_tensor *f_mse_mean(cg_tensor **x, const char *n) { (void)n; return cg_mse_loss(x[0], x[1], CG_REDUCTION_MEAN); }
static cg_tensor *f_mse_sum(cg_tensor **x, const char *n) { (void)n; return cg_mse_loss(x[0], x[1], CG_REDUCTION_SUM); }
static cg_tensor *f_mse_none(cg_tensor **x, const char *n) { (void)n; return cg_mse_loss(x[0], x[1], CG_REDUCTION_NONE); }

static cg_tensor *f_conv(cg_tensor **x, const char *n) {
    const float *v = params(n, "p", 7); /* sh sw ph pw dh dw groups */
    cg_conv2d_params p = cg_conv2d_defaults();
    for (int i = 0; i < 2; i++) {
        p.stride[i] = (int64_t)v[i];
        p.padding[i] = (int64_t)v[2 + i];
        p.dilation[i] = (int64_t)v[4 + i];
    }
    p.groups = (int64_t)v[6];
    return cg_conv2d(x[0], x[1], x[2], &p);
}

static cg_tensor *f_conv_transpose(cg_tensor **x, const char *n) {
    const float *v = params(n, "p", 9); /* sh sw ph pw oph opw dh dw groups */
    cg_conv_transpose2d_params p = cg_conv_transpose2d_defaults();
    for (int i = 0; i < 2; i++) {
        p.stride[i] = (int64_t)v[i];
        p.padding[i] = (int64_t)v[2 + i];
        p.output_padding[i] = (int64_t)v[4 + i];
        p.dilation[i] = (int64_t)v[6 + i];
    }
    p.groups = (int64_t)v[8];
    return cg_conv_transpose2d(x[0], x[1], x[2], &p);
}

static cg_pool2d_params pool_params(const char *n) {
    const float *v = params(n, "p", 6); /* kh kw sh sw ph pw */
    cg_pool2d_params p = cg_pool2d_defaults(1);
    for (int i = 0; i < 2; i++) {
        p.kernel[i] = (int64_t)v[i];
        p.stride[i] = (int64_t)v[2 + i];
        p.padding[i] = (int64_t)v[4 + i];
    }
    return p;
}
static cg_tensor *f_max_pool(cg_tensor **x, const char *n) { cg_pool2d_params p = pool_params(n); return cg_max_pool2d(x[0], &p); }
static cg_tensor *f_avg_pool(cg_tensor **x, const char *n) { cg_pool2d_params p = pool_params(n); return cg_avg_pool2d(x[0], &p); }

static cg_tensor *f_adaptive_avg(cg_tensor **x, const char *n) {
    const float *v = params(n, "p", 2); /* oh ow */
    return cg_adaptive_avg_pool2d(x[0], (int64_t)v[0], (int64_t)v[1]);
}

static cg_tensor *f_adaptive_max(cg_tensor **x, const char *n) {
    const float *v = params(n, "p", 2); /* oh ow */
    return cg_adaptive_max_pool2d(x[0], (int64_t)v[0], (int64_t)v[1]);
}

static cg_tensor *f_softmax_1(cg_tensor **x, const char *n) { (void)n; return cg_softmax(x[0], 1); }
static cg_tensor *f_softmax_m1(cg_tensor **x, const char *n) { (void)n; return cg_softmax(x[0], -1); }
static cg_tensor *f_softmax_0(cg_tensor **x, const char *n) { (void)n; return cg_softmax(x[0], 0); }
static cg_tensor *f_log_softmax_1(cg_tensor **x, const char *n) { (void)n; return cg_log_softmax(x[0], 1); }

static cg_tensor *loss_with_target(cg_tensor **x, const char *n, bool ce) {
    char key[128];
    snprintf(key, sizeof key, "%s.target", n);
    int64_t nt;
    int64_t *t = fixture_indices(fx(), key, &nt);
    cg_reduction r = strstr(n, "_mean") ? CG_REDUCTION_MEAN : strstr(n, "_sum") ? CG_REDUCTION_SUM : CG_REDUCTION_NONE;
    cg_tensor *tt = cg_tensor_from_i64(1, &nt, t);
    cg_tensor *y = ce ? cg_cross_entropy(x[0], tt, r) : cg_nll_loss(x[0], tt, r);
    cg_tensor_free(tt); /* the op copies the targets */
    free(t);
    return y;
}
static cg_tensor *f_cross_entropy_ex(cg_tensor **x, const char *n) {
    char key[128];
    snprintf(key, sizeof key, "%s.target", n);
    int64_t nt, nw;
    int64_t *t = fixture_indices(fx(), key, &nt);
    const float *cfg = params(n, "cfg", 2);
    snprintf(key, sizeof key, "%s.weight", n);
    const float *w = fixture_values(fx(), key, &nw);
    cg_nll_options o = cg_nll_defaults();
    o.reduction = strstr(n, "_mean") ? CG_REDUCTION_MEAN : strstr(n, "_sum") ? CG_REDUCTION_SUM : CG_REDUCTION_NONE;
    o.label_smoothing = cfg[0];
    cg_tensor *wt = cfg[1] != 0 ? cg_tensor_from_array(1, &nw, w) : NULL, *tt = cg_tensor_from_i64(1, &nt, t);
    o.weight = cfg[1] != 0 ? wt : NULL;
    cg_tensor *y = cg_cross_entropy_ex(x[0], tt, &o);
    cg_tensor_free(tt); /* the op copies the targets and the weights */
    cg_tensor_free(wt);
    free(t);
    return y;
}
static cg_tensor *f_nll(cg_tensor **x, const char *n) { return loss_with_target(x, n, false); }
static cg_tensor *f_cross_entropy(cg_tensor **x, const char *n) { return loss_with_target(x, n, true); }

static cg_tensor *f_batch_norm(cg_tensor **x, const char *n) {
    const float *cfg = params(n, "cfg", 2); /* momentum eps */
    bool training = strstr(n, "train") != NULL;
    cg_tensor *rm = KEEP[0] = extra(n, "rm0"), *rv = KEEP[1] = extra(n, "rv0");
    cg_tensor *y = cg_batch_norm2d(x[0], x[1], x[1] ? x[2] : NULL, rm, rv, training, cfg[0], cfg[1]);
    char key[128];
    snprintf(key, sizeof key, "%s.rm1", n);
    fixture_expect(fx(), key, rm, ATOL, RTOL, true);
    snprintf(key, sizeof key, "%s.rv1", n);
    fixture_expect(fx(), key, rv, ATOL, RTOL, true);
    return y;
}

static cg_tensor *f_l1(cg_tensor **x, const char *n) {
    return cg_l1_loss(x[0], x[1], strstr(n, "sum") ? CG_REDUCTION_SUM : strstr(n, "none") ? CG_REDUCTION_NONE : CG_REDUCTION_MEAN);
}
static cg_tensor *f_smooth_l1(cg_tensor **x, const char *n) {
    return strstr(n, "b05") ? cg_smooth_l1_loss(x[0], x[1], 0.5f, CG_REDUCTION_MEAN)
                            : cg_smooth_l1_loss(x[0], x[1], 0.0f, CG_REDUCTION_SUM);
}
static cg_tensor *f_huber(cg_tensor **x, const char *n) {
    return strstr(n, "d07") ? cg_huber_loss(x[0], x[1], 0.7f, CG_REDUCTION_NONE) : cg_huber_loss(x[0], x[1], 1.0f, CG_REDUCTION_MEAN);
}
static cg_tensor *f_bce_logits(cg_tensor **x, const char *n) {
    if (!strstr(n, "pw")) return cg_bce_with_logits(x[0], x[1], NULL, CG_REDUCTION_MEAN);
    cg_tensor *w = KEEP[0] = extra(n, "pos_weight"); /* freed by the runner */
    return cg_bce_with_logits(x[0], x[1], w, CG_REDUCTION_SUM);
}
static cg_tensor *f_kl(cg_tensor **x, const char *n) {
    if (strstr(n, "log")) return cg_kl_div(x[0], x[1], true, CG_REDUCTION_NONE);
    return cg_kl_div(x[0], x[1], false, strstr(n, "mean") ? CG_REDUCTION_MEAN : CG_REDUCTION_SUM);
}

static cg_tensor *f_layer_norm(cg_tensor **x, const char *n) {
    return strstr(n, "noaffine") ? cg_layer_norm(x[0], 2, NULL, NULL, 1e-5f) : cg_layer_norm(x[0], 1, x[1], x[2], 1e-5f);
}
static cg_tensor *f_unsqueeze(cg_tensor **x, const char *n) { (void)n; return cg_unsqueeze(x[0], 1); }
static cg_tensor *f_squeeze(cg_tensor **x, const char *n) { (void)n; return cg_squeeze(x[0], -2); }
static cg_tensor *f_permute(cg_tensor **x, const char *n) {
    return strstr(n, "4d") ? cg_permute(x[0], (const int[]){ 0, 3, 1, 2 }) : cg_permute(x[0], (const int[]){ 2, 0, 1 });
}
static cg_tensor *f_cat(cg_tensor **x, const char *n) {
    return strstr(n, "cat7") ? cg_cat(x, 7, 0) : cg_cat(x, 3, 1);
}
static cg_tensor *f_stack(cg_tensor **x, const char *n) { (void)n; return cg_stack(x, 3, 1); }
static cg_tensor *f_slice(cg_tensor **x, const char *n) { (void)n; return cg_slice(x[0], 1, -5, 9, 2); }
static cg_tensor *f_narrow(cg_tensor **x, const char *n) { (void)n; return cg_narrow(x[0], 2, 1, 3); }
/* NAME.index as a malloc'ed int64 array (free()), *k its length. */
static int64_t *case_index(const char *n, int64_t *k) {
    char key[96];
    snprintf(key, sizeof key, "%s.index", n);
    return fixture_indices(fx(), key, k);
}
static cg_tensor *f_index_select(cg_tensor **x, const char *n) {
    int64_t k;
    int64_t *idx = case_index(n, &k);
    cg_tensor *it = cg_tensor_from_i64(1, &k, idx);
    cg_tensor *y = cg_index_select(x[0], 1, it);
    cg_tensor_free(it);
    free(idx);
    return y;
}
static cg_tensor *f_gather(cg_tensor **x, const char *n) {
    int64_t k;
    int64_t *idx = case_index(n, &k);
    assert_int_equal(k, 6);
    cg_tensor *it = cg_tensor_from_i64(2, CG_SHAPE(2, 3), idx);
    cg_tensor *y = cg_gather(x[0], 1, it);
    cg_tensor_free(it);
    free(idx);
    return y;
}
/* max/min: the values, and the indices checked against PyTorch's NAME.idx here */
static cg_tensor *f_minmax(cg_tensor **x, const char *n) {
    int64_t k;
    bool mx = !strncmp(n, "max", 3);
    cg_tensor *gt = NULL;
    cg_tensor *y = mx ? cg_max_dim(x[0], 1, false, &gt) : cg_min_dim(x[0], -1, true, &gt);
    assert_true(cg_tensor_same_shape(gt, y));
    const int64_t *got = cg_tensor_cdata_i64(gt);
    char key[96];
    snprintf(key, sizeof key, "%s.idx", n);
    int64_t *want = fixture_indices(fx(), key, &k);
    assert_int_equal(k, cg_tensor_numel(y));
    assert_memory_equal(got, want, (size_t)k * sizeof *got);
    cg_tensor *at = mx ? cg_argmax(x[0], 1, false) : cg_argmin(x[0], -1, true);
    assert_true(cg_tensor_same_shape(at, y));
    assert_memory_equal(cg_tensor_cdata_i64(at), want, (size_t)k * sizeof *want);
    free(want);
    return y;
}
static cg_tensor *f_bmm(cg_tensor **x, const char *n) { (void)n; return cg_bmm(x[0], x[1]); }
static cg_tensor *f_matmul_nd(cg_tensor **x, const char *n) { (void)n; return cg_matmul(x[0], x[1]); }
static cg_tensor *f_embedding(cg_tensor **x, const char *n) {
    int64_t k;
    int64_t *idx = case_index(n, &k);
    cg_tensor *it = cg_tensor_from_i64(1, &k, idx);
    cg_tensor *y = cg_embedding(x[0], it);
    cg_tensor_free(it);
    free(idx);
    return y;
}
static cg_tensor *f_where(cg_tensor **x, const char *n) {
    char key[96];
    snprintf(key, sizeof key, "%s.cond", n);
    int64_t k;
    const float *c = fixture_values(fx(), key, &k);
    uint8_t cond[64];
    assert_true(k == cg_tensor_numel(x[0]) && k <= 64);
    for (int64_t i = 0; i < k; i++) cond[i] = c[i] != 0;
    cg_tensor *ct = cg_tensor_from_u8(cg_tensor_ndim(x[0]), cg_tensor_shape(x[0]), cond);
    cg_tensor *y = cg_where(ct, x[0], x[1]);
    cg_tensor_free(ct);
    return y;
}
static cg_tensor *f_group_norm(cg_tensor **x, const char *n) {
    return strstr(n, "noaffine") ? cg_group_norm(x[0], 1, NULL, NULL, 1e-5f) : cg_group_norm(x[0], 2, x[1], x[2], 1e-5f);
}
static cg_tensor *f_upsample(cg_tensor **x, const char *n) { (void)n; return cg_upsample_nearest2d(x[0], 2, 3); }
static cg_tensor *f_logsumexp(cg_tensor **x, const char *n) {
    return strstr(n, "keep") ? cg_logsumexp(x[0], -1, true) : cg_logsumexp(x[0], 1, false);
}
static cg_tensor *f_dropout_eval(cg_tensor **x, const char *n) { (void)n; return cg_dropout(x[0], 0.5f, false, NULL); }
static cg_tensor *f_dropout_p0(cg_tensor **x, const char *n) { (void)n; return cg_dropout(x[0], 0.0f, true, NULL); }

/* ---- the runner ------------------------------------------------------------------------- */
static void run_case(void **state) {
    const case_def *c = *state;
    const char *n = c->name;
    char key[160];
    cg_tensor *x[MAX_IN] = { 0 };
    int n_in = 0;
    for (;; n_in++) {
        snprintf(key, sizeof key, "%s.x%d", n, n_in);
        if (!fixture_has(fx(), key)) break;
        assert_true(n_in < MAX_IN);
        x[n_in] = fixture_tensor(fx(), "%s", key);
        snprintf(key, sizeof key, "%s.g%d", n, n_in);
        cg_tensor_set_requires_grad(x[n_in], fixture_has(fx(), key));
    }
    assert_true(n_in > 0);

    cg_tensor *out = c->fn(x, n);
    snprintf(key, sizeof key, "%s.out", n);
    fixture_expect(fx(), key, out, ATOL, RTOL, true);

    cg_tensor *R = extra(n, "R");
    cg_tensor *loss = cg_sum(cg_mul(out, R));
    assert_non_null(loss);
    assert_int_equal(cg_backward(loss), CG_OK);
    for (int k = 0; k < n_in; k++) {
        snprintf(key, sizeof key, "%s.g%d", n, k);
        if (!fixture_has(fx(), key)) continue;
        cg_tensor *g = cg_tensor_grad(x[k]);
        if (!g) fail_msg("%s: input %d got no gradient", n, k);
        fixture_expect(fx(), key, g, ATOL, RTOL, true);
    }
    cg_tape_release();
    cg_tensor_free(R);
    for (int k = 0; k < n_in; k++) cg_tensor_free(x[k]);
    for (int k = 0; k < 4; k++) { cg_tensor_free(KEEP[k]); KEEP[k] = NULL; }
}

static const case_def CASES[] = {
    { "add_same", f_add }, { "add_row", f_add }, { "add_both", f_add }, { "add_lead", f_add },
    { "sub_same", f_sub }, { "sub_row", f_sub }, { "sub_both", f_sub }, { "sub_lead", f_sub },
    { "mul_same", f_mul }, { "mul_row", f_mul }, { "mul_both", f_mul }, { "mul_lead", f_mul },
    { "div_same", f_div }, { "div_row", f_div }, { "div_both", f_div }, { "div_lead", f_div },
    { "add_scalar", f_add_scalar }, { "mul_scalar", f_mul_scalar }, { "neg", f_neg },
    { "pow_2_5", f_pow_2_5 }, { "pow_3", f_pow_3 }, { "pow_m0_5", f_pow_m0_5 },
    { "exp", f_exp }, { "log", f_log }, { "sqrt", f_sqrt },
    { "relu", f_relu }, { "leaky_relu", f_leaky_relu }, { "sigmoid", f_sigmoid }, { "tanh", f_tanh },
    { "gelu", f_gelu }, { "gelu_tanh", f_gelu_tanh }, { "silu", f_silu }, { "hardswish", f_hardswish },
    { "softplus", f_softplus }, { "softplus_b2_t3", f_softplus_b2 }, { "clamp", f_clamp },
    { "hardtanh", f_hardtanh }, { "relu6", f_relu6 }, { "abs", f_abs },
    { "sum", f_sum }, { "mean", f_mean }, { "sum_dim1", f_sum_dim1 }, { "sum_dimm1_keep", f_sum_dimm1_keep },
    { "mean_dim0", f_mean_dim0 }, { "mean_dim2_keep", f_mean_dim2_keep },
    { "matmul", f_matmul }, { "transpose_02", f_transpose_02 }, { "transpose_m1m2", f_transpose_m1m2 },
    { "linear", f_linear }, { "linear_nobias", f_linear },
    { "mse_mean", f_mse_mean }, { "mse_sum", f_mse_sum }, { "mse_none", f_mse_none },
    { "conv_basic", f_conv }, { "conv_stride2_pad1", f_conv }, { "conv_dilation2", f_conv },
    { "conv_groups2", f_conv }, { "conv_mixed", f_conv }, { "conv_nobias_1x1", f_conv },
    { "max_pool_k2", f_max_pool }, { "max_pool_k3s2p1", f_max_pool }, { "max_pool_k2x3s1", f_max_pool },
    { "avg_pool_k2", f_avg_pool }, { "avg_pool_k3s2p1", f_avg_pool }, { "avg_pool_k2x3s1", f_avg_pool },
    { "adaptive_avg_1", f_adaptive_avg }, { "adaptive_avg_3x2", f_adaptive_avg },
    { "softmax_dim1", f_softmax_1 }, { "softmax_dimm1_3d", f_softmax_m1 }, { "softmax_dim0", f_softmax_0 },
    { "log_softmax_dim1", f_log_softmax_1 }, { "log_softmax_dim1_3d", f_log_softmax_1 },
    { "log_softmax_big", f_log_softmax_1 },
    { "nll_mean", f_nll }, { "nll_sum", f_nll }, { "nll_none", f_nll },
    { "cross_entropy_mean", f_cross_entropy }, { "cross_entropy_sum", f_cross_entropy },
    { "cross_entropy_none", f_cross_entropy },
    { "bn_train", f_batch_norm }, { "bn_eval", f_batch_norm }, { "bn_train_noaffine", f_batch_norm },
    { "bn_train_2d", f_batch_norm },
    { "dropout_eval", f_dropout_eval }, { "dropout_p0_train", f_dropout_p0 },
    { "l1_mean", f_l1 }, { "l1_sum", f_l1 }, { "l1_none", f_l1 }, { "smooth_l1_b05", f_smooth_l1 },
    { "smooth_l1_b0_sum", f_smooth_l1 }, { "huber_d07_none", f_huber }, { "huber_d1", f_huber },
    { "bce_logits", f_bce_logits }, { "bce_logits_pw_sum", f_bce_logits }, { "kl_div_sum", f_kl },
    { "kl_div_log_none", f_kl }, { "kl_div_mean", f_kl },
    { "layer_norm_1", f_layer_norm }, { "layer_norm_2_noaffine", f_layer_norm },
    { "unsqueeze_1", f_unsqueeze }, { "squeeze_m2", f_squeeze }, { "permute_201", f_permute },
    { "permute_4d", f_permute }, { "cat3_dim1", f_cat }, { "cat7_dim0", f_cat }, { "stack3_dim1", f_stack },
    { "slice_m5_9_2", f_slice }, { "narrow_2_1_3", f_narrow }, { "index_select_1", f_index_select },
    { "gather_1", f_gather }, { "max_dim1", f_minmax }, { "min_dimm1_keep", f_minmax },
    { "logsumexp_1", f_logsumexp }, { "logsumexp_big_keep", f_logsumexp }, { "bmm", f_bmm },
    { "matmul_bcast", f_matmul_nd }, { "matmul_3d_2d", f_matmul_nd }, { "embedding", f_embedding },
    { "where", f_where }, { "cex_ignore_mean", f_cross_entropy_ex }, { "cex_w_ls_sum", f_cross_entropy_ex },
    { "cex_w_ignore_ls_mean", f_cross_entropy_ex }, { "cex_w_none", f_cross_entropy_ex },
    { "group_norm_2", f_group_norm }, { "group_norm_1_noaffine", f_group_norm }, { "upsample_2x3", f_upsample },
    { "adaptive_max_3x2", f_adaptive_max }, { "adaptive_max_1", f_adaptive_max }, { "adaptive_max_up", f_adaptive_max },
    { "adaptive_avg_up", f_adaptive_avg },
    { "convT_basic", f_conv_transpose }, { "convT_s2_p1_op1", f_conv_transpose },
    { "convT_dil2_g2_nobias", f_conv_transpose }, { "convT_mixed", f_conv_transpose },
};

/* The fixture itself: every case of ops.txt is run here, so a case added to the generator
 * without a C counterpart fails. */
static void test_every_fixture_case_is_run(void **s) {
    (void)s;
    int64_t n_cases = (int64_t)(sizeof CASES / sizeof CASES[0]);
    char key[160];
    for (int64_t i = 0; i < n_cases; i++) {
        snprintf(key, sizeof key, "%s.out", CASES[i].name);
        if (!fixture_has(fx(), key)) fail_msg("case %s is not in ops.txt", CASES[i].name);
    }
    /* Count the cases in the file through their R tensors. */
    FILE *fp = fopen(CG_FIXTURE_DIR "/ops.txt", "r");
    assert_non_null(fp);
    char line[512];
    int64_t n_file = 0;
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, "tensor ", 7) == 0) {
            char *dot = strstr(line + 7, ".R ");
            if (dot) n_file++;
        }
    fclose(fp);
    assert_int_equal(n_file, n_cases);
}

int main(void) {
    enum { N = sizeof CASES / sizeof CASES[0] };
    struct CMUnitTest tests[N + 1];
    tests[0] = (struct CMUnitTest){ "every_fixture_case_is_run", test_every_fixture_case_is_run, NULL, NULL, NULL };
    for (int i = 0; i < N; i++)
        tests[i + 1] = (struct CMUnitTest){ CASES[i].name, run_case, NULL, NULL, (void *)&CASES[i] };
    int rc = _cmocka_run_group_tests("torch_ops", tests, N + 1, NULL, NULL);
    fixture_free(FX);
    cg_tape_free_all();
    return rc;
}
