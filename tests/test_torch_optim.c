/* SPDX-License-Identifier: MIT */
/* tests/test_torch_optim.c — SGD (plain, momentum, nesterov + weight decay, dampening), Adam
 * (plain, weight decay), AdamW and the LR schedules against PyTorch (tests/fixtures/optim.txt):
 * 5 steps on stored gradients; parameters after every step within 1e-6 + 1e-6*|want|. Also
 * cg_sgd_defaults/cg_adam_defaults and the constructors' option checks, and that step_count
 * and last_epoch at INT64_MAX are refused rather than wrapped. Parameter groups (own lr scale and
 * weight decay, under a schedule) against PyTorch's param_groups; the group checks; groups and
 * optimizers made from a module. */
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
typedef cg_lr_scheduler (*sched_fn)(cg_optimizer *o);

/* Runs case `name`: params from NAME.p<k>.init, grads NAME.p<k>.grad<s> put into each .grad before
 * step s, compared with NAME.p<k>.step<s> after it; with a schedule (may be NULL) stepped after
 * every optimizer step. */
static void run_sched_steps(const char *name, make_fn make, sched_fn sched) {
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
    if (!o) fail_msg("%s: %s", name, cg_last_error());
    cg_lr_scheduler sch;
    if (sched) sch = sched(o);
    for (int s = 0; s < STEPS; s++) {
        for (int k = 0; k < NP; k++) {
            cg_tensor *g = fixture_tensor(fx(), "%s.p%d.grad%d", name, k, s);
            assert_non_null(cg_tensor_grad(p[k]));
            assert_int_equal(cg_tensor_copy_(cg_tensor_grad(p[k]), g), CG_OK);
            cg_tensor_free(g);
        }
        assert_int_equal(cg_optim_step(o), CG_OK);
        if (sched) assert_int_equal(cg_sched_step(&sch), CG_OK);
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

static void run(const char *name, make_fn make) { run_sched_steps(name, make, NULL); }

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

/* Parameter groups: p0 in group 0 and p1 in group 1, as gen_optim's groups_* cases. */
static cg_optimizer *groups_sgd(cg_tensor *const *p, int64_t n) {
    assert_int_equal(n, 2);
    cg_param_group g[2] = { { p, 1, 1.0f, NAN }, { p + 1, 1, 0.5f, 0.0f } };
    return cg_sgd_new_groups(g, 2, (cg_sgd_options){ .lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f });
}
static cg_optimizer *groups_adam(cg_tensor *const *p, int64_t n) {
    assert_int_equal(n, 2);
    cg_param_group g[2] = { { p, 1, 2.0f, 0.1f }, { p + 1, 1, 1.0f, NAN } };
    return cg_adam_new_groups(g, 2, ADAM);
}
static cg_optimizer *groups_adamw(cg_tensor *const *p, int64_t n) {
    assert_int_equal(n, 2);
    cg_adam_options o = ADAM;
    o.weight_decay = 0.1f;
    cg_param_group g[2] = { { p, 1, 1.0f, NAN }, { p + 1, 1, 0.25f, 0.0f } };
    return cg_adamw_new_groups(g, 2, o);
}
static cg_lr_scheduler step_2_half(cg_optimizer *o) { return cg_step_lr(o, 2, 0.5f); }
static cg_lr_scheduler exp_0_9(cg_optimizer *o) { return cg_exponential_lr(o, 0.9f); }
static cg_lr_scheduler multistep_1_3(cg_optimizer *o) { return cg_multistep_lr(o, (int64_t[]){ 1, 3 }, 2, 0.3f); }

static void test_param_groups(void **s) {
    (void)s;
    run_sched_steps("groups_sgd", groups_sgd, step_2_half);
    run_sched_steps("groups_adam", groups_adam, exp_0_9);
    run_sched_steps("groups_adamw", groups_adamw, multistep_1_3);
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

/* The zoo's schedules, each from a made scheduler s against NAME.lr (metric: ReduceLROnPlateau's
 * values, NAME.metric). */
static void run_sched_made(const char *name, float base, cg_lr_scheduler (*make)(cg_optimizer *), int warmup,
                           float warm_start) {
    char key[128];
    snprintf(key, sizeof key, "%s.lr", name);
    int64_t n, nm = 0;
    const float *want = fixture_values(fx(), key, &n), *metric = NULL;
    cg_tensor *p = cg_tensor_zeros(1, CG_SHAPE(1));
    cg_tensor_set_requires_grad(p, true);
    cg_optimizer *o = cg_sgd_new(&p, 1, (cg_sgd_options){ .lr = base });
    assert_non_null(o);
    cg_lr_scheduler s = make(o);
    if (s.kind == CG_SCHED_PLATEAU) {
        snprintf(key, sizeof key, "%s.metric", name);
        metric = fixture_values(fx(), key, &nm);
        assert_int_equal(nm, n - 1);
    }
    if (warmup) assert_int_equal(cg_sched_warmup(&s, warmup, warm_start), CG_OK);
    for (int64_t e = 0; e < n; e++) {
        if (e > 0) {
            assert_int_equal(cg_optim_step(o), CG_OK);
            assert_int_equal(metric ? cg_sched_step_metric(&s, metric[e - 1]) : cg_sched_step(&s), CG_OK);
        }
        double got = o->lr;
        if (fabs(got - want[e]) > TOL + TOL * fabs(want[e]))
            fail_msg("%s: epoch %lld: lr %.9g, PyTorch %.9g", name, (long long)e, got, want[e]);
    }
    cg_optim_free(o);
    cg_tensor_free(p);
}
static cg_lr_scheduler mk_multistep(cg_optimizer *o) { return cg_multistep_lr(o, (const int64_t[]){ 2, 5, 6 }, 3, 0.3f); }
static cg_lr_scheduler mk_exp(cg_optimizer *o) { return cg_exponential_lr(o, 0.8f); }
static cg_lr_scheduler mk_step2(cg_optimizer *o) { return cg_step_lr(o, 2, 0.5f); }
static cg_lr_scheduler mk_cos6(cg_optimizer *o) { return cg_cosine_lr(o, 6, 0.001f); }
static cg_lr_scheduler mk_onecycle(cg_optimizer *o) { return cg_onecycle_lr(o, 0.5f, 20, 0.3f, 25, 1e4f); }
static cg_lr_scheduler mk_onecycle9(cg_optimizer *o) { return cg_onecycle_lr(o, 0.2f, 9, 0.4f, 10, 100); }
static cg_lr_scheduler mk_plateau(cg_optimizer *o) { return cg_plateau_lr(o, 0.5f, 2, 0.01f, 1, 0.02f); }

static void test_zoo_schedules(void **st) {
    (void)st;
    run_sched_made("multistep_2_5_6", 0.1f, mk_multistep, 0, 0);
    run_sched_made("exponential_0_8", 0.2f, mk_exp, 0, 0);
    run_sched_made("warmup3_step", 0.1f, mk_step2, 3, 0.1f);
    run_sched_made("warmup2_cosine", 0.4f, mk_cos6, 2, 0.25f);
    run_sched_made("onecycle_20", 0.01f, mk_onecycle, 0, 0);
    run_sched_made("onecycle_9_p04", 0.01f, mk_onecycle9, 0, 0);
    run_sched_made("plateau", 0.1f, mk_plateau, 0, 0);
}

/* A schedule with a bad option is refused at its first step, naming it; OneCycle past its
 * total, warmup on OneCycle or Plateau, and a plain step of ReduceLROnPlateau too. */
static void test_schedule_errors(void **st) {
    (void)st;
    cg_tensor *p = cg_tensor_zeros(1, CG_SHAPE(1));
    cg_tensor_set_requires_grad(p, true);
    cg_optimizer *o = cg_sgd_new(&p, 1, (cg_sgd_options){ .lr = 0.1f });
    assert_non_null(o);
    struct { cg_lr_scheduler s; const char *needle; } cs[] = {
        { cg_multistep_lr(o, (const int64_t[]){ 5, 3 }, 2, 0.1f), "ascending" },
        { cg_multistep_lr(o, (const int64_t[]){ 1, 2, 3, 4, 5, 6, 7, 8, 9 }, 9, 0.1f), "at most 8" },
        { cg_exponential_lr(o, -1), "gamma" },
        { cg_onecycle_lr(o, 0.5f, 1, 0.3f, 25, 1e4f), "total_steps" },
        { cg_onecycle_lr(o, 0.5f, 10, 1.5f, 25, 1e4f), "pct_start" },
        { cg_plateau_lr(o, 1.5f, 2, 0.01f, 0, 0), "factor" },
    };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        float lr = o->lr;
        cg_status stt = cs[k].s.kind == CG_SCHED_PLATEAU ? cg_sched_step_metric(&cs[k].s, 1.0) : cg_sched_step(&cs[k].s);
        assert_int_equal(stt, CG_EINVAL);
        if (!strstr(cg_last_error(), cs[k].needle)) fail_msg("case %zu: '%s' lacks '%s'", k, cg_last_error(), cs[k].needle);
        assert_float_equal(o->lr, lr, 0); /* nothing changed */
    }
    cg_lr_scheduler oc = cg_onecycle_lr(o, 0.5f, 3, 0.3f, 25, 1e4f);
    for (int i = 0; i < 3; i++) assert_int_equal(cg_sched_step(&oc), CG_OK);
    assert_int_equal(cg_sched_step(&oc), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "past total_steps"));
    assert_int_equal(cg_sched_warmup(&oc, 2, 0.1f), CG_EINVAL);
    cg_lr_scheduler pl = cg_plateau_lr(o, 0.5f, 2, 0.01f, 0, 0);
    assert_int_equal(cg_sched_step(&pl), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "cg_sched_step_metric"));
    assert_int_equal(cg_sched_step_metric(&pl, NAN), CG_EINVAL);
    cg_lr_scheduler sl = cg_step_lr(o, 2, 0.5f);
    assert_int_equal(cg_sched_warmup(&sl, 0, 0.1f), CG_EINVAL);
    assert_int_equal(cg_sched_warmup(&sl, 2, 0), CG_EINVAL);
    cg_optim_free(o);
    cg_tensor_free(p);
}

/* Clipping against torch.nn.utils.clip_grad_norm_ / clip_grad_value_ on the same gradients. */
static void set_grads(cg_tensor **ps) {
    for (int k = 0; k < 2; k++) {
        char key[32];
        snprintf(key, sizeof key, "clip.g%d", k);
        int64_t n;
        const float *g = fixture_values(fx(), key, &n);
        assert_int_equal(n, cg_tensor_numel(ps[k]));
        cg_tensor_zero_grad(ps[k]);
        cg_tensor *gt = cg_tensor_from_array(cg_tensor_ndim(ps[k]), cg_tensor_shape(ps[k]), g);
        assert_int_equal(cg_backward(cg_sum(cg_mul(ps[k], gt))), CG_OK); /* d/dp sum(p * g) = g */
        cg_tape_release();
        cg_tensor_free(gt);
    }
}
static void expect_grads(cg_tensor **ps, const char *tag) {
    for (int k = 0; k < 2; k++) {
        char key[48];
        snprintf(key, sizeof key, "%s.g%d", tag, k);
        int64_t n;
        const float *want = fixture_values(fx(), key, &n);
        const float *got = cg_tensor_cdata(cg_tensor_grad(ps[k]));
        for (int64_t i = 0; i < n; i++)
            if (fabsf(got[i] - want[i]) > 1e-6f + 1e-6f * fabsf(want[i]))
                fail_msg("%s: grad %d[%lld] %.9g, PyTorch %.9g", tag, k, (long long)i, (double)got[i], (double)want[i]);
    }
}
static void test_clip_grad(void **st) {
    (void)st;
    cg_tensor *ps[2] = { cg_tensor_zeros(2, CG_SHAPE(3, 4)), cg_tensor_zeros(1, CG_SHAPE(5)) };
    for (int k = 0; k < 2; k++) cg_tensor_set_requires_grad(ps[k], true);
    struct { const char *tag; double max, type; } cs[] = {
        { "clip_n2_0_5", 0.5, 2 }, { "clip_ninf_0_5", 0.5, INFINITY }, { "clip_n1_2", 2, 1 }, { "clip_n2_100", 100, 2 },
    };
    for (int c = 0; c < 4; c++) {
        set_grads(ps);
        double norm;
        assert_int_equal(cg_clip_grad_norm(ps, 2, cs[c].max, cs[c].type, &norm), CG_OK);
        char key[48];
        snprintf(key, sizeof key, "%s.norm", cs[c].tag);
        int64_t n;
        const float *want = fixture_values(fx(), key, &n);
        if (fabs(norm - want[0]) > 1e-6 * fabs(want[0])) fail_msg("%s: norm %.9g, PyTorch %.9g", cs[c].tag, norm, want[0]);
        expect_grads(ps, cs[c].tag);
    }
    set_grads(ps);
    assert_int_equal(cg_clip_grad_value(ps, 2, 0.3), CG_OK);
    expect_grads(ps, "clipv_0_3");
    assert_int_equal(cg_clip_grad_norm(ps, 2, -1, 2, NULL), CG_EINVAL);
    assert_int_equal(cg_clip_grad_norm(ps, 2, 1, 0, NULL), CG_EINVAL);
    assert_int_equal(cg_clip_grad_value(ps, 2, NAN), CG_EINVAL);
    assert_int_equal(cg_clip_grad_norm(NULL, 2, 1, 2, NULL), CG_EINVAL);
    for (int k = 0; k < 2; k++) cg_tensor_free(ps[k]);
    cg_tape_free_all();
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

static int skip_first_group_rest(const char *name, const cg_tensor *p, void *ctx) {
    (void)p;
    int *calls = ctx;
    ++*calls;
    return strncmp(name, "0.", 2) == 0 ? -1 : 0; /* freeze layer 0 */
}
static int bad_group(const char *name, const cg_tensor *p, void *ctx) { (void)name, (void)p, (void)ctx; return 5; }

/* The constructors' group checks, and groups made from a module: which tensor lands where. */
static void test_param_group_checks(void **st) {
    (void)st;
    cg_tensor *a = param_with_grad(), *b = param_with_grad();
    cg_tensor *ab[2] = { a, b };
    cg_sgd_options d = cg_sgd_defaults();
    cg_param_group twice[2] = { { ab, 2, 1.0f, NAN }, { &a, 1, 1.0f, NAN } };
    EXPECT_REFUSED(cg_sgd_new_groups(twice, 2, d), "only once");
    cg_param_group g[2] = { { &a, 1, 1.0f, NAN }, { &b, 1, -1.0f, NAN } };
    EXPECT_REFUSED(cg_sgd_new_groups(g, 2, d), "group 1: lr_scale");
    g[1].lr_scale = INFINITY;  EXPECT_REFUSED(cg_adam_new_groups(g, 2, cg_adam_defaults()), "group 1: lr_scale");
    g[1].lr_scale = 1.0f; g[0].weight_decay = -0.5f;
    EXPECT_REFUSED(cg_adamw_new_groups(g, 2, cg_adam_defaults()), "group 0: weight_decay");
    g[0].weight_decay = NAN; g[1].n = -1;
    EXPECT_REFUSED(cg_sgd_new_groups(g, 2, d), "group 1: bad parameter list");
    g[1].n = 1;
    EXPECT_REFUSED(cg_sgd_new_groups(g, 0, d), "at least one parameter group");
    EXPECT_REFUSED(cg_sgd_new_groups(NULL, 1, d), "at least one parameter group");
    cg_optimizer *o = cg_sgd_new_groups(g, 2, d);
    assert_non_null(o);
    assert_int_equal(o->n_groups, 2);
    assert_true(o->params[0] == a && o->params[1] == b && o->groups[1].first == 1 && o->groups[1].n == 1);
    assert_true(isnan(cg_optim_group_lr(o, 2)) && isnan(cg_optim_group_lr(o, -1)));
    cg_optim_free(o);

    /* decay groups: weights (ndim >= 2) in group 0, biases and norm weights in group 1 at 0. */
    cg_module *m = cg_net_from_spec("conv2d(1,2,3) batch_norm2d(2) relu flatten linear(8,3)", 3, CG_SHAPE(1, 4, 4),
                                    NULL);
    if (!m) fail_msg("%s", cg_last_error());
    cg_param_groups pg;
    assert_int_equal(cg_module_decay_groups(m, &pg), CG_OK);
    assert_int_equal(pg.n, 2);
    assert_int_equal(pg.groups[0].n, 2);
    assert_int_equal(pg.groups[1].n, 4);
    assert_true(pg.groups[0].params[0] == cg_module_find(m, "0.weight"));
    assert_true(pg.groups[0].params[1] == cg_module_find(m, "4.weight"));
    assert_true(pg.groups[1].params[0] == cg_module_find(m, "0.bias"));
    assert_true(pg.groups[1].params[1] == cg_module_find(m, "1.weight"));
    assert_true(isnan(pg.groups[0].weight_decay) && pg.groups[1].weight_decay == 0.0f);
    cg_sgd_options wd = d;
    wd.weight_decay = 0.1f;
    o = cg_sgd_new_groups(pg.groups, pg.n, wd);
    cg_param_groups_free(&pg);
    assert_non_null(o);
    assert_true(cg_optim_group_weight_decay(o, 0, wd.weight_decay) == 0.1f);
    assert_true(cg_optim_group_weight_decay(o, 1, wd.weight_decay) == 0.0f);
    cg_optim_free(o);

    int calls = 0;
    assert_int_equal(cg_module_param_groups(m, 1, skip_first_group_rest, &calls, &pg), CG_OK);
    assert_int_equal(calls, 6);
    assert_int_equal(pg.groups[0].n, 4); /* 0.weight and 0.bias left out */
    cg_param_groups_free(&pg);
    assert_int_equal(cg_module_param_groups(m, 2, bad_group, NULL, &pg), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "0.weight was put in group 5 of 2"));
    assert_null(pg.groups);
    assert_int_equal(cg_module_param_groups(m, 0, NULL, NULL, &pg), CG_EINVAL);

    /* Built straight from a module: every parameter, one group. */
    cg_optimizer *os[3] = { cg_sgd_new_for(m, d), cg_adam_new_for(m, cg_adam_defaults()),
                            cg_adamw_new_for(m, cg_adam_defaults()) };
    for (int i = 0; i < 3; i++) {
        assert_non_null(os[i]);
        assert_int_equal(os[i]->n_params, 6);
        assert_int_equal(os[i]->n_groups, 1);
        assert_true(os[i]->params[5] == cg_module_find(m, "4.bias"));
        cg_optim_free(os[i]);
    }
    assert_null(cg_sgd_new_for(NULL, d));
    cg_module_free(m);
    cg_tensor_free(a);
    cg_tensor_free(b);
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
        cmocka_unit_test(test_param_groups),
        cmocka_unit_test(test_param_group_checks),
        cmocka_unit_test(test_step_lr),
        cmocka_unit_test(test_cosine_lr),
        cmocka_unit_test(test_zoo_schedules),
        cmocka_unit_test(test_schedule_errors),
        cmocka_unit_test(test_clip_grad),
        cmocka_unit_test(test_adam_defaults_and_checks),
        cmocka_unit_test(test_sgd_defaults_and_checks),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fixture_free(FX);
    cg_tape_free_all();
    return rc;
}
