/* SPDX-License-Identifier: MIT */
/* tests/test_torch_optim.c — SGD (plain, momentum, nesterov + weight decay, dampening), Adam
 * (plain, weight decay), AdamW and the LR schedules against PyTorch (tests/fixtures/optim.txt):
 * 5 steps on stored gradients; parameters after every step within 1e-6 + 1e-6*|want|. Also
 * cg_sgd_defaults/cg_adam_defaults and the constructors' option checks, and that step_count
 * and last_epoch at INT64_MAX are refused rather than wrapped. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "fixture.h"

#define TOL 1e-6
#define STEPS 5
#define NP 2

static fixture *FX;
static fixture *fx(void) {
    if (!FX) FX = fixture_load("optim.txt");
    return FX;
}

typedef cg_optimizer *(*make_fn)(cg_tensor *const *params, int64_t n);

/* Runs case `name`: params from NAME.p<k>.init, grads NAME.p<k>.grad<s> put into each .grad before
 * step s, compared with NAME.p<k>.step<s> after it. */
static void run(const char *name, make_fn make) {
    cg_tensor *p[NP];
    for (int k = 0; k < NP; k++) {
        p[k] = fixture_tensor(fx(), "%s.p%d.init", name, k);
        cg_tensor_set_requires_grad(p[k], true);
    }
    /* One backward makes each .grad (then overwritten with the stored gradients). */
    cg_tensor *loss = cg_add(cg_sum(p[0]), cg_sum(p[1]));
    assert_int_equal(cg_backward(loss), CG_OK);
    cg_tape_release();
    cg_optimizer *o = make(p, NP);
    assert_non_null(o);
    for (int s = 0; s < STEPS; s++) {
        for (int k = 0; k < NP; k++) {
            cg_tensor *g = fixture_tensor(fx(), "%s.p%d.grad%d", name, k, s);
            assert_non_null(cg_tensor_grad(p[k]));
            assert_int_equal(cg_tensor_copy_(cg_tensor_grad(p[k]), g), CG_OK);
            cg_tensor_free(g);
        }
        assert_int_equal(cg_optim_step(o), CG_OK);
        for (int k = 0; k < NP; k++) {
            char key[128];
            snprintf(key, sizeof key, "%s.p%d.step%d", name, k, s);
            fixture_expect(fx(), key, p[k], TOL, TOL, true);
        }
    }
    assert_int_equal(o->step_count, STEPS);
    cg_optim_free(o);
    for (int k = 0; k < NP; k++) cg_tensor_free(p[k]);
}

static cg_optimizer *sgd_plain(cg_tensor *const *p, int64_t n) {
    return cg_sgd_new(p, n, (cg_sgd_options){ .lr = 0.1f });
}
static cg_optimizer *sgd_momentum(cg_tensor *const *p, int64_t n) {
    return cg_sgd_new(p, n, (cg_sgd_options){ .lr = 0.1f, .momentum = 0.9f });
}
static cg_optimizer *sgd_nesterov_wd(cg_tensor *const *p, int64_t n) {
    return cg_sgd_new(p, n, (cg_sgd_options){ .lr = 0.1f, .momentum = 0.9f, .nesterov = true, .weight_decay = 0.01f });
}
static cg_optimizer *sgd_dampening(cg_tensor *const *p, int64_t n) {
    return cg_sgd_new(p, n, (cg_sgd_options){ .lr = 0.1f, .momentum = 0.9f, .dampening = 0.1f });
}
static const cg_adam_options ADAM = { .lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f };
static cg_optimizer *adam(cg_tensor *const *p, int64_t n) { return cg_adam_new(p, n, ADAM); }
static cg_optimizer *adam_wd(cg_tensor *const *p, int64_t n) {
    cg_adam_options o = ADAM;
    o.weight_decay = 0.1f;
    return cg_adam_new(p, n, o);
}
static cg_optimizer *adamw(cg_tensor *const *p, int64_t n) {
    cg_adam_options o = ADAM;
    o.weight_decay = 0.01f;
    return cg_adamw_new(p, n, o);
}
static cg_optimizer *adamw_betas(cg_tensor *const *p, int64_t n) {
    return cg_adamw_new(p, n, (cg_adam_options){ .lr = 3e-3f, .beta1 = 0.8f, .beta2 = 0.95f, .eps = 1e-6f,
                                                 .weight_decay = 0.1f });
}

static void test_sgd_plain(void **s) { (void)s; run("sgd_plain", sgd_plain); }
static void test_sgd_momentum(void **s) { (void)s; run("sgd_momentum", sgd_momentum); }
static void test_sgd_nesterov_weight_decay(void **s) { (void)s; run("sgd_nesterov_wd", sgd_nesterov_wd); }
static void test_sgd_dampening(void **s) { (void)s; run("sgd_dampening", sgd_dampening); }
static void test_adam(void **s) { (void)s; run("adam", adam); }
static void test_adam_weight_decay(void **s) { (void)s; run("adam_wd", adam_wd); }
static void test_adamw(void **s) { (void)s; run("adamw", adamw); }
static void test_adamw_betas(void **s) { (void)s; run("adamw_betas", adamw_betas); }

/* NAME.lr[e] is PyTorch's lr after e scheduler steps (e = 0: before any). */
static void run_sched(const char *name, float base, int kind, int64_t a, float b) {
    char key[128];
    snprintf(key, sizeof key, "%s.lr", name);
    int64_t n;
    const float *want = fixture_values(fx(), key, &n);
    cg_tensor *p = cg_tensor_zeros(1, CG_SHAPE(1));
    cg_tensor_set_requires_grad(p, true);
    cg_optimizer *o = cg_sgd_new(&p, 1, (cg_sgd_options){ .lr = base });
    assert_non_null(o);
    cg_lr_scheduler s = kind == 0 ? cg_step_lr(o, a, b) : cg_cosine_lr(o, a, b);
    for (int64_t e = 0; e < n; e++) {
        if (e > 0) {
            assert_int_equal(cg_optim_step(o), CG_OK); /* no grad: nothing to do, as in PyTorch */
            assert_int_equal(cg_sched_step(&s), CG_OK);
        }
        double got = o->lr;
        if (fabs(got - want[e]) > TOL + TOL * fabs(want[e]))
            fail_msg("%s: epoch %lld: lr %.9g, PyTorch %.9g", name, (long long)e, got, want[e]);
    }
    assert_int_equal(s.last_epoch, n - 1);
    cg_optim_free(o);
    cg_tensor_free(p);
}

static void test_step_lr(void **st) {
    (void)st;
    run_sched("steplr_3_0_5", 0.1f, 0, 3, 0.5f);
    run_sched("steplr_1_0_9", 1.0f, 0, 1, 0.9f);
}
static void test_cosine_lr(void **st) {
    (void)st;
    run_sched("cosine_10", 0.1f, 1, 10, 0.001f);
    run_sched("cosine_4_0", 0.5f, 1, 4, 0.0f);
}

/* ---- options: the defaults, and every option checked (issue 12, item 16) ---- */
/* NULL from make(o) with a message containing needle. */
#define EXPECT_REFUSED(call, needle)                                                                 \
    do {                                                                                             \
        cg_optimizer *o_ = (call);                                                                   \
        if (o_) { cg_optim_free(o_); fail_msg("%s was accepted", #call); }                           \
        if (!strstr(cg_last_error(), needle))                                                        \
            fail_msg("%s: message '%s' does not name '%s'", #call, cg_last_error(), needle);         \
    } while (0)

static cg_tensor *param_with_grad(void) {
    cg_tensor *p = cg_tensor_full(1, CG_SHAPE(3), 1.0f);
    cg_tensor_set_requires_grad(p, true);
    assert_int_equal(cg_backward(cg_sum(cg_mul(p, p))), CG_OK);
    cg_tape_release();
    return p;
}

static void test_adam_defaults_and_checks(void **st) {
    (void)st;
    cg_adam_options d = cg_adam_defaults();
    assert_true(d.lr == 1e-3f && d.beta1 == 0.9f && d.beta2 == 0.999f && d.eps == 1e-8f && d.weight_decay == 0);
    cg_tensor *p = param_with_grad();
    /* The repro: a zeroed struct with only lr set stepped to NaN. */
    EXPECT_REFUSED(cg_adam_new(&p, 1, (cg_adam_options){ .lr = 1e-3f }), "eps");
    cg_adam_options o = d;
    o.beta1 = 1.0f;  EXPECT_REFUSED(cg_adam_new(&p, 1, o), "beta1");
    o = d; o.beta1 = -0.1f;  EXPECT_REFUSED(cg_adamw_new(&p, 1, o), "beta1");
    o = d; o.beta2 = 1.0f;   EXPECT_REFUSED(cg_adam_new(&p, 1, o), "beta2");
    o = d; o.beta2 = NAN;    EXPECT_REFUSED(cg_adam_new(&p, 1, o), "beta2");
    o = d; o.eps = INFINITY; EXPECT_REFUSED(cg_adam_new(&p, 1, o), "eps");
    o = d; o.eps = -1e-8f;   EXPECT_REFUSED(cg_adam_new(&p, 1, o), "eps");
    o = d; o.lr = -1.0f;     EXPECT_REFUSED(cg_adam_new(&p, 1, o), "lr");
    o = d; o.lr = INFINITY;  EXPECT_REFUSED(cg_adamw_new(&p, 1, o), "lr");
    o = d; o.weight_decay = NAN; EXPECT_REFUSED(cg_adam_new(&p, 1, o), "weight_decay");
    o = d; o.weight_decay = -0.1f; EXPECT_REFUSED(cg_adamw_new(&p, 1, o), "weight_decay");
    /* The defaults take a finite step. */
    cg_optimizer *a = cg_adam_new(&p, 1, d);
    assert_non_null(a);
    assert_int_equal(cg_optim_step(a), CG_OK);
    for (int i = 0; i < 3; i++) assert_true(isfinite(cg_tensor_cdata(p)[i]) && cg_tensor_cdata(p)[i] < 1.0f);
    cg_optim_free(a);
    cg_tensor_free(p);
}

static void test_sgd_defaults_and_checks(void **st) {
    (void)st;
    cg_sgd_options d = cg_sgd_defaults();
    assert_true(d.lr == 1e-3f && d.momentum == 0 && d.dampening == 0 && d.weight_decay == 0 && !d.nesterov);
    cg_tensor *p = param_with_grad();
    cg_sgd_options o = d;
    o.lr = NAN;            EXPECT_REFUSED(cg_sgd_new(&p, 1, o), "lr");
    o = d; o.lr = INFINITY; EXPECT_REFUSED(cg_sgd_new(&p, 1, o), "lr");
    o = d; o.momentum = 1.5f; EXPECT_REFUSED(cg_sgd_new(&p, 1, o), "momentum");
    o = d; o.momentum = NAN;  EXPECT_REFUSED(cg_sgd_new(&p, 1, o), "momentum");
    o = d; o.dampening = -1;  EXPECT_REFUSED(cg_sgd_new(&p, 1, o), "dampening");
    o = d; o.dampening = 2;   EXPECT_REFUSED(cg_sgd_new(&p, 1, o), "dampening");
    o = d; o.weight_decay = INFINITY; EXPECT_REFUSED(cg_sgd_new(&p, 1, o), "weight_decay");
    o = d; o.nesterov = true; EXPECT_REFUSED(cg_sgd_new(&p, 1, o), "nesterov");
    cg_optimizer *s = cg_sgd_new(&p, 1, d);
    assert_non_null(s);
    assert_int_equal(cg_optim_step(s), CG_OK);
    assert_true(cg_tensor_cdata(p)[0] == 1.0f - 1e-3f * 2.0f);
    /* A step count or a schedule epoch at INT64_MAX (a corrupt checkpoint) cannot advance. */
    s->step_count = INT64_MAX;
    assert_int_equal(cg_optim_step(s), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "step_count"));
    assert_true(s->step_count == INT64_MAX);
    cg_lr_scheduler sc = cg_step_lr(s, 1, 0.5f);
    sc.last_epoch = INT64_MAX;
    assert_int_equal(cg_sched_step(&sc), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "last_epoch"));
    assert_true(sc.last_epoch == INT64_MAX);
    sc.last_epoch = -1;
    assert_int_equal(cg_sched_step(&sc), CG_EINVAL);
    cg_optim_free(s);
    cg_tensor_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain),
        cmocka_unit_test(test_sgd_momentum),
        cmocka_unit_test(test_sgd_nesterov_weight_decay),
        cmocka_unit_test(test_sgd_dampening),
        cmocka_unit_test(test_adam),
        cmocka_unit_test(test_adam_weight_decay),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_adamw_betas),
        cmocka_unit_test(test_step_lr),
        cmocka_unit_test(test_cosine_lr),
        cmocka_unit_test(test_adam_defaults_and_checks),
        cmocka_unit_test(test_sgd_defaults_and_checks),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fixture_free(FX);
    cg_tape_free_all();
    return rc;
}
