/* SPDX-License-Identifier: MIT */
/* tests/test_module.c — the Module API without PyTorch: a user-defined module, the seed net's
 * state-dict names/order/shapes and size, train/eval propagation, cg_module_find, registration
 * errors, default initialisation bounds and moments, NULL handling. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "gradcheck.h"
#include "nets.h"

/* ---- a module of your own, as in nn.h's comment ------------------------------------------ */
typedef struct simple_linear { cg_module base; cg_tensor *w, *b; } simple_linear;
static cg_tensor *simple_forward(cg_module *m, cg_tensor *x) {
    simple_linear *s = (simple_linear *)m;
    return cg_add(cg_mul(s->w, x), s->b);
}
static int destroyed;
static void simple_destroy(cg_module *m) { (void)m; destroyed++; }
static const cg_module_type simple_type = { "SimpleLinear", simple_forward, simple_destroy, NULL };

static simple_linear *simple_new(float w, float b) {
    simple_linear *s = (simple_linear *)cg_module_new(&simple_type, sizeof *s);
    assert_non_null(s);
    s->w = cg_module_add_parameter(&s->base, "w", cg_tensor_full(1, CG_SHAPE(1), w));
    s->b = cg_module_add_parameter(&s->base, "b", cg_tensor_full(1, CG_SHAPE(1), b));
    assert_non_null(s->w);
    assert_non_null(s->b);
    return s;
}

static void test_user_module_forward_backward(void **st) {
    (void)st;
    destroyed = 0;
    simple_linear *s = simple_new(2.0f, 0.5f);
    assert_true(s->base.training);
    assert_true(cg_tensor_requires_grad(s->w));
    assert_int_equal(cg_module_num_parameters(&s->base), 2);
    cg_tensor *x = cg_tensor_from_array(1, CG_SHAPE(3), (float[]){ 1, 2, 3 });
    cg_tensor *y = cg_module_forward(&s->base, x);
    assert_non_null(y);
    assert_float_equal(cg_tensor_data(y)[2], 6.5f, 0);
    assert_int_equal(cg_backward(cg_sum(y)), CG_OK);
    assert_float_equal(cg_tensor_data(cg_tensor_grad(s->w))[0], 6.0f, 0); /* sum x */
    assert_float_equal(cg_tensor_data(cg_tensor_grad(s->b))[0], 3.0f, 0);
    cg_module_zero_grad(&s->base);
    assert_float_equal(cg_tensor_data(cg_tensor_grad(s->w))[0], 0.0f, 0);
    assert_ptr_equal(cg_module_find(&s->base, "w"), s->w);
    cg_tape_release();
    cg_tensor_free(x);
    cg_module_free(&s->base);
    assert_int_equal(destroyed, 1);
}

/* Children nest: a parent's state dict has dotted names, depth first, params before buffers. */
static void test_nesting_and_state_dict(void **st) {
    (void)st;
    cg_module *seq = cg_sequential_new();
    assert_non_null(cg_sequential_append(seq, NULL, &simple_new(1, 0)->base));
    assert_non_null(cg_sequential_append(seq, "named", &simple_new(3, 1)->base));
    assert_non_null(cg_module_add_buffer(seq->children[1].module, "count",
                                         cg_tensor_zeros(1, CG_SHAPE(1))));
    cg_named_list l;
    assert_int_equal(cg_module_parameters(seq, &l), CG_OK);
    const char *want[] = { "0.w", "0.b", "named.w", "named.b" };
    assert_int_equal(l.n, 4);
    for (int i = 0; i < 4; i++) assert_string_equal(l.items[i].name, want[i]);
    cg_named_list_free(&l);
    assert_int_equal(l.n, 0);
    assert_int_equal(cg_module_state_dict(seq, &l), CG_OK);
    assert_int_equal(l.n, 5);
    assert_string_equal(l.items[4].name, "named.count");
    assert_false(cg_tensor_requires_grad(l.items[4].tensor)); /* buffers are not trained */
    cg_named_list_free(&l);
    /* Forward runs the children in order: (x*1+0)*3+1. */
    cg_tensor *x = cg_tensor_full(1, CG_SHAPE(2), 2.0f);
    cg_tensor *y = cg_module_forward(seq, x);
    assert_non_null(y);
    assert_float_equal(cg_tensor_data(y)[0], 7.0f, 0);
    cg_tape_release();
    cg_tensor_free(x);
    cg_module_free(seq);
}

/* ---- the seed net ------------------------------------------------------------------------ */
static const struct { const char *name; int ndim; int64_t shape[4]; } SEED[] = {
    { "conv1.weight", 4, { 32, 1, 3, 3 } }, { "conv1.bias", 1, { 32 } },
    { "conv2.weight", 4, { 64, 32, 3, 3 } }, { "conv2.bias", 1, { 64 } },
    { "fc1.weight", 2, { 128, 9216 } },     { "fc1.bias", 1, { 128 } },
    { "fc2.weight", 2, { 10, 128 } },       { "fc2.bias", 1, { 10 } },
};

static void test_seed_net_state_dict_is_pytorchs(void **st) {
    (void)st;
    cg_module *m = test_seed_net();
    if (!m) fail_msg("cg_seed_net_new: %s", cg_last_error());
    cg_named_list l;
    assert_int_equal(cg_module_state_dict(m, &l), CG_OK);
    assert_int_equal(l.n, 8);
    for (int i = 0; i < 8; i++) {
        assert_string_equal(l.items[i].name, SEED[i].name);
        cg_tensor *t = l.items[i].tensor;
        assert_int_equal(cg_tensor_ndim(t), SEED[i].ndim);
        for (int d = 0; d < SEED[i].ndim; d++) assert_int_equal(cg_tensor_shape(t)[d], SEED[i].shape[d]);
        assert_true(cg_tensor_requires_grad(t));
        assert_ptr_equal(cg_module_find(m, SEED[i].name), t);
    }
    cg_named_list_free(&l);
    assert_int_equal(cg_module_num_parameters(m), 1199882);
    cg_module_free(m);
}

static void check_mode(const cg_module *m, bool training) {
    assert_int_equal(m->training, training);
    for (int i = 0; i < m->n_children; i++) check_mode(m->children[i].module, training);
}

static void test_train_eval_propagates(void **st) {
    (void)st;
    cg_module *m = test_seed_net();
    assert_non_null(m);
    assert_true(m->n_children > 0);
    check_mode(m, true);
    cg_module_train(m, false);
    check_mode(m, false);
    /* A child added to a module in eval mode joins it in eval mode. */
    cg_module *extra = cg_module_add_child(m, "extra", cg_dropout_new(0.5f));
    assert_non_null(extra);
    assert_false(extra->training);
    cg_module_train(m, true);
    check_mode(m, true);
    cg_module_train(NULL, false); /* no-op */
    cg_module_free(m);
}

static void test_find(void **st) {
    (void)st;
    cg_module *m = test_seed_net();
    assert_non_null(m);
    assert_non_null(cg_module_find(m, "fc2.bias"));
    assert_null(cg_module_find(m, "fc2"));          /* a module, not a tensor */
    assert_null(cg_module_find(m, "fc3.weight"));
    assert_null(cg_module_find(m, "fc2.weight.x"));
    assert_null(cg_module_find(m, "conv1."));
    assert_null(cg_module_find(m, ""));
    assert_null(cg_module_find(m, NULL));
    assert_null(cg_module_find(NULL, "fc2.bias"));
    cg_module_free(m);
}

static void test_registration_errors(void **st) {
    (void)st;
    simple_linear *s = simple_new(1, 0);
    cg_module *m = &s->base;
    assert_null(cg_module_add_parameter(m, "w", cg_tensor_zeros(1, CG_SHAPE(1)))); /* taken, freed */
    assert_non_null(strstr(cg_last_error(), "already registered"));
    assert_null(cg_module_add_parameter(m, "a.b", cg_tensor_zeros(1, CG_SHAPE(1))));
    assert_non_null(strstr(cg_last_error(), "'.'"));
    assert_null(cg_module_add_parameter(m, "", cg_tensor_zeros(1, CG_SHAPE(1))));
    assert_null(cg_module_add_buffer(m, "x.y", cg_tensor_zeros(1, CG_SHAPE(1))));
    assert_null(cg_module_add_parameter(m, "ok", NULL));
    assert_null(cg_module_add_parameter(NULL, "p", cg_tensor_zeros(1, CG_SHAPE(1))));
    assert_non_null(cg_module_add_child(m, "child", cg_relu_new()));
    assert_null(cg_module_add_child(m, "child", cg_relu_new()));
    assert_non_null(strstr(cg_last_error(), "already registered"));
    assert_null(cg_module_add_child(m, "c.d", cg_relu_new()));
    assert_int_equal(m->n_params, 2);
    assert_int_equal(m->n_buffers, 0);
    assert_int_equal(m->n_children, 1);
    /* A type without forward is refused. */
    static const cg_module_type no_forward = { "Broken", NULL, NULL, NULL };
    assert_null(cg_module_new(&no_forward, sizeof(cg_module)));
    assert_null(cg_module_new(&simple_type, sizeof(cg_module) - 1));
    assert_null(cg_module_forward(NULL, NULL));
    cg_module_free(m);
}

/* ---- default initialisation ---------------------------------------------------------------- */
static void check_uniform(const cg_tensor *t, double bound, const char *what, double mean_tol, double var_rtol) {
    const float *d = cg_tensor_cdata(t);
    int64_t n = cg_tensor_numel(t);
    double s = 0, s2 = 0, lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        s += d[i];
        s2 += (double)d[i] * d[i];
        lo = fmin(lo, d[i]);
        hi = fmax(hi, d[i]);
    }
    double mean = s / (double)n, var = s2 / (double)n - mean * mean, want_var = bound * bound / 3.0;
    float fb = (float)bound; /* the library rounds the bound to float */
    if (lo < -fb || hi > fb) fail_msg("%s: values in [%g, %g], outside +-%g", what, lo, hi, bound);
    if (fabs(mean) > mean_tol * bound) fail_msg("%s: mean %g, want ~0 (bound %g)", what, mean, bound);
    if (fabs(var - want_var) > var_rtol * want_var) fail_msg("%s: variance %g, want ~%g", what, var, want_var);
    if (hi - lo < 2.0 * bound * (1.0 - 10.0 / (double)n)) fail_msg("%s: range [%g, %g] does not cover +-%g", what, lo, hi, bound);
}

static void test_default_init_bounds(void **st) {
    (void)st;
    cg_manual_seed(123);
    cg_module *m = test_seed_net();
    assert_non_null(m);
    /* std error of the mean of n U(-b,b) is b/sqrt(3n); of the variance ~ 0.9*var/sqrt(n). */
    check_uniform(cg_module_find(m, "conv1.weight"), 1.0 / 3.0, "conv1.weight", 0.2, 0.3);
    check_uniform(cg_module_find(m, "conv1.bias"), 1.0 / 3.0, "conv1.bias", 0.5, 0.8);
    check_uniform(cg_module_find(m, "conv2.weight"), 1.0 / sqrt(288.0), "conv2.weight", 0.03, 0.05);
    check_uniform(cg_module_find(m, "fc1.weight"), 1.0 / sqrt(9216.0), "fc1.weight", 0.005, 0.01);
    check_uniform(cg_module_find(m, "fc1.bias"), 1.0 / sqrt(9216.0), "fc1.bias", 0.3, 0.5);
    check_uniform(cg_module_find(m, "fc2.weight"), 1.0 / sqrt(128.0), "fc2.weight", 0.1, 0.15);
    /* The same seed gives the same weights. */
    cg_manual_seed(123);
    cg_module *m2 = test_seed_net();
    assert_non_null(m2);
    assert_memory_equal(cg_tensor_cdata(cg_module_find(m, "fc1.weight")),
                        cg_tensor_cdata(cg_module_find(m2, "fc1.weight")), 128 * 9216 * sizeof(float));
    cg_module_free(m2);
    cg_module_free(m);
}

static void test_free_null(void **st) {
    (void)st;
    cg_module_free(NULL);
    cg_named_list_free(NULL);
    cg_module_zero_grad(NULL);
    assert_int_equal(cg_module_num_parameters(NULL), 0);
    cg_named_list l;
    assert_int_not_equal(cg_module_parameters(NULL, &l), CG_OK);
    assert_int_equal(l.n, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_module_forward_backward),
        cmocka_unit_test(test_nesting_and_state_dict),
        cmocka_unit_test(test_seed_net_state_dict_is_pytorchs),
        cmocka_unit_test(test_train_eval_propagates),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_registration_errors),
        cmocka_unit_test(test_default_init_bounds),
        cmocka_unit_test(test_free_null),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
