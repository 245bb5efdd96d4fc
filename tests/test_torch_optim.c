/* tests/test_torch_optim.c — SGD (plain, momentum, nesterov + weight decay, dampening), Adam
 * (plain, weight decay), AdamW and the LR schedules against PyTorch (tests/fixtures/optim.txt):
 * 5 steps on stored gradients; parameters after every step within 1e-6 + 1e-6*|want|. */
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
            cg_sched_step(&s);
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
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fixture_free(FX);
    cg_tape_free_all();
    return rc;
}
