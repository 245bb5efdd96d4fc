/* SPDX-License-Identifier: MIT */
/* tests/test_torch_seednet.c — the seed network (cg_seed_net_new) against PyTorch's tutorial Net
 * (tests/fixtures/seednet.txt), in eval mode: log-probs, nll loss and every parameter gradient
 * within |got - want| <= 1e-5 + 1e-4*|want|.
 *
 * The weights are not stored: both sides compute them from seed_weight() below, the same formula
 * as tests/gen_fixtures.py (in double, rounded to float32). fc1.weight's gradient is checked
 * through every FC1_STRIDE-th element plus its sum and sum of absolute values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fixture.h"
#include "nets.h"

#define ATOL 1e-5
#define RTOL 1e-4
#define FC1_STRIDE 97

static const struct { const char *name; int ndim; int64_t shape[4]; int64_t fan_in; } PARAMS[] = {
    { "conv1.weight", 4, { 32, 1, 3, 3 }, 9 },  { "conv1.bias", 1, { 32 }, 9 },
    { "conv2.weight", 4, { 64, 32, 3, 3 }, 288 }, { "conv2.bias", 1, { 64 }, 288 },
    { "fc1.weight", 2, { 128, 9216 }, 9216 },  { "fc1.bias", 1, { 128 }, 9216 },
    { "fc2.weight", 2, { 10, 128 }, 128 },     { "fc2.bias", 1, { 10 }, 128 },
};
enum { N_PARAMS = sizeof PARAMS / sizeof PARAMS[0] };

/* w[i] = (1/sqrt(fan_in)) * sin(0.37*i + 1.3*k), as gen_fixtures.py's seed_weight. */
static void seed_weight(float *w, int64_t n, int k, int64_t fan_in) {
    double a = 1.0 / sqrt((double)fan_in);
    for (int64_t i = 0; i < n; i++) w[i] = (float)(a * sin(0.37 * (double)i + 1.3 * (double)k));
}

static cg_module *make_net(void) {
    cg_module *m = test_seed_net();
    if (!m) fail_msg("cg_seed_net_new: %s", cg_last_error());
    for (int k = 0; k < N_PARAMS; k++) {
        cg_tensor *p = cg_module_find(m, PARAMS[k].name);
        if (!p) fail_msg("seed net has no parameter %s", PARAMS[k].name);
        assert_int_equal(cg_tensor_ndim(p), PARAMS[k].ndim);
        for (int d = 0; d < PARAMS[k].ndim; d++) assert_int_equal(cg_tensor_shape(p)[d], PARAMS[k].shape[d]);
        seed_weight(cg_tensor_data(p), cg_tensor_numel(p), k, PARAMS[k].fan_in);
    }
    cg_module_train(m, false);
    return m;
}

static void test_seed_net_eval_matches_pytorch(void **s) {
    (void)s;
    fixture *f = fixture_load("seednet.txt");
    cg_module *m = make_net();
    cg_tensor *x = fixture_tensor(f, "x");
    int64_t n;
    int64_t *target = fixture_indices(f, "target", &n);
    assert_int_equal(n, 8);

    cg_tensor *logp = cg_module_forward(m, x);
    fixture_expect(f, "logp", logp, ATOL, RTOL, true);
    cg_tensor *loss = cg_nll_loss(logp, cg_tape_wrap(CG_I64, target, 1, &n), CG_REDUCTION_MEAN);
    fixture_expect(f, "loss", loss, ATOL, RTOL, true);
    assert_int_equal(cg_backward(loss), CG_OK);

    for (int k = 0; k < N_PARAMS; k++) {
        const char *name = PARAMS[k].name;
        cg_tensor *g = cg_tensor_grad(cg_module_find(m, name));
        if (!g) fail_msg("%s has no gradient after backward", name);
        char key[128];
        if (strcmp(name, "fc1.weight") != 0) {
            snprintf(key, sizeof key, "grad.%s", name);
            fixture_expect(f, key, g, ATOL, RTOL, true);
            continue;
        }
        const float *gd = cg_tensor_cdata(g);
        int64_t ng = cg_tensor_numel(g), nsub = (ng + FC1_STRIDE - 1) / FC1_STRIDE;
        cg_tensor *sub = cg_tensor_zeros(1, CG_SHAPE(nsub));
        double sum = 0, abssum = 0;
        for (int64_t i = 0; i < ng; i++) {
            if (i % FC1_STRIDE == 0) cg_tensor_data(sub)[i / FC1_STRIDE] = gd[i];
            sum += gd[i];
            abssum += fabs(gd[i]);
        }
        fixture_expect(f, "grad_sub.fc1.weight", sub, ATOL, RTOL, true);
        float sums[2] = { (float)sum, (float)abssum };
        cg_tensor *ts = cg_tensor_from_array(0, NULL, &sums[0]), *ta = cg_tensor_from_array(0, NULL, &sums[1]);
        fixture_expect(f, "grad_sum.fc1.weight", ts, 0, RTOL, true);
        fixture_expect(f, "grad_abssum.fc1.weight", ta, 0, RTOL, true);
        cg_tensor_free(sub);
        cg_tensor_free(ts);
        cg_tensor_free(ta);
    }
    cg_tape_release();
    free(target);
    cg_tensor_free(x);
    cg_module_free(m);
    fixture_free(f);
}

/* Eval mode makes dropout the identity: two forwards give the same log-probs, whatever the RNG. */
static void test_eval_forward_is_deterministic(void **s) {
    (void)s;
    cg_module *m = make_net();
    cg_tensor *x = test_tensor(4, CG_SHAPE(2, 1, 28, 28), 0.0f, 1.0f, 7, false);
    cg_manual_seed(1);
    cg_tensor *y = cg_module_forward(m, x);
    if (!y) fail_msg("seed net forward: %s", cg_last_error());
    cg_tensor *a = cg_tensor_clone(y);
    cg_manual_seed(2);
    cg_tensor *b = cg_module_forward(m, x);
    expect_close("eval forward twice", b, a, 0, 0);
    cg_tape_release();
    cg_tensor_free(a);
    cg_tensor_free(x);
    cg_module_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_net_eval_matches_pytorch),
        cmocka_unit_test(test_eval_forward_is_deterministic),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
