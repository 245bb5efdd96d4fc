/* SPDX-License-Identifier: MIT */
/* tests/test_optim_state.c — optimizer state by index: each parameter's buffers sit in its slot
 * (cg_optim_state(o, i, k)), named only by cg_optim_state_dict and the checkpoint
 * ("<name>.<i>"); an optimizer of one's own declares its buffers and round-trips through a
 * checkpoint; the declarations and indices are checked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <math.h>
#include <string.h>
#include "gradcheck.h"

enum { NP = 3 };

/* NP parameters of 2, 3 and 4 elements, each with grad g = its index + 1 (parameter 1: none when
 * skip_one). */
static void make_params(cg_tensor **p, bool skip_one) {
    for (int i = 0; i < NP; i++) {
        p[i] = cg_tensor_full(1, CG_SHAPE(i + 2), 1.0f);
        cg_tensor_set_requires_grad(p[i], true);
    }
    for (int i = 0; i < NP; i++) {
        if (skip_one && i == 1) continue;
        cg_tensor *l = cg_sum(cg_mul_scalar(p[i], (float)(i + 1)));
        assert_int_equal(cg_backward(l), CG_OK);
        cg_tape_release();
    }
}

static void test_sgd_state_by_index(void **s) {
    (void)s;
    cg_tensor *p[NP];
    make_params(p, true);
    cg_sgd_options so = cg_sgd_defaults();
    so.momentum = 0.9f;
    cg_optimizer *o = cg_sgd_new(p, NP, so);
    assert_non_null(o);
    assert_int_equal(o->n_state_names, 1);
    assert_string_equal(o->state_names[0], "momentum_buffer");
    for (int i = 0; i < NP; i++) assert_null(o->state[i]);         /* made on the first step */
    assert_int_equal(cg_optim_step(o), CG_OK);
    assert_null(o->state[1]);                                       /* parameter 1 had no grad */
    for (int i = 0; i < NP; i += 2) {
        assert_non_null(o->state[i]);
        assert_int_equal(cg_tensor_numel(o->state[i]), i + 2);
        assert_float_equal(cg_tensor_data(o->state[i])[0], (float)(i + 1), 0);   /* buf = first grad */
        bool created = true;
        assert_ptr_equal(cg_optim_state(o, i, 0, &created), o->state[i]);
        assert_false(created);
    }
    cg_named_list l;
    assert_int_equal(cg_optim_state_dict(o, &l), CG_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].name, "momentum_buffer.0");
    assert_string_equal(l.items[1].name, "momentum_buffer.2");
    assert_ptr_equal(l.items[1].tensor, o->state[2]);
    cg_named_list_free(&l);
    /* indices out of range, a second declaration */
    assert_null(cg_optim_state(o, NP, 0, NULL));
    assert_non_null(strstr(cg_last_error(), "3 parameters and 1 buffers"));
    assert_null(cg_optim_state(o, 0, 1, NULL));
    assert_null(cg_optim_state(o, -1, 0, NULL));
    static const char *const again[] = { "x", NULL };
    assert_int_equal(cg_optim_declare_state(o, again), CG_EINVAL);
    cg_optim_free(o);
    /* SGD without momentum keeps nothing */
    o = cg_sgd_new(p, NP, cg_sgd_defaults());
    assert_int_equal(o->n_state_names, 0);
    assert_int_equal(cg_optim_step(o), CG_OK);
    assert_int_equal(cg_optim_state_dict(o, &l), CG_OK);
    assert_int_equal(l.n, 0);
    cg_named_list_free(&l);
    assert_null(cg_optim_state(o, 0, 0, NULL));
    cg_optim_free(o);
    for (int i = 0; i < NP; i++) cg_tensor_free(p[i]);
}

static void test_adam_state_names_in_order(void **s) {
    (void)s;
    cg_tensor *p[NP];
    make_params(p, false);
    cg_optimizer *o = cg_adam_new(p, NP, cg_adam_defaults());
    assert_int_equal(cg_optim_step(o), CG_OK);
    cg_named_list l;
    assert_int_equal(cg_optim_state_dict(o, &l), CG_OK);
    assert_int_equal(l.n, 2 * NP);
    for (int i = 0; i < NP; i++) {
        char m[32], v[32];
        snprintf(m, sizeof m, "exp_avg.%d", i);
        snprintf(v, sizeof v, "exp_avg_sq.%d", i);
        assert_string_equal(l.items[2 * i].name, m);
        assert_string_equal(l.items[2 * i + 1].name, v);
        assert_ptr_equal(l.items[2 * i].tensor, cg_optim_state(o, i, 0, NULL));
        assert_ptr_equal(l.items[2 * i + 1].tensor, cg_optim_state(o, i, 1, NULL));
        /* after one step: m = (1-b1) g, v = (1-b2) g^2 */
        assert_float_equal(cg_tensor_data(l.items[2 * i].tensor)[0], 0.1f * (float)(i + 1), 1e-6);
        assert_float_equal(cg_tensor_data(l.items[2 * i + 1].tensor)[0], 0.001f * (float)((i + 1) * (i + 1)), 1e-6);
    }
    cg_named_list_free(&l);
    cg_optim_free(o);
    for (int i = 0; i < NP; i++) cg_tensor_free(p[i]);
}

/* An optimizer of one's own with a buffer: v = v + g; p -= lr * v. */
enum { VELOCITY };
static const char *const velocity_state[] = { [VELOCITY] = "velocity", NULL };
static cg_status vel_step(cg_optimizer *o) {
    for (int64_t i = 0; i < o->n_params; i++) {
        cg_tensor *p = o->params[i], *g = cg_tensor_grad(p);
        if (!g) continue;
        cg_tensor *v = cg_optim_state(o, i, VELOCITY, NULL);
        if (!v) return CG_ENOMEM;
        for (int64_t j = 0; j < cg_tensor_numel(p); j++) {
            cg_tensor_data(v)[j] += cg_tensor_data(g)[j];
            cg_tensor_data(p)[j] -= o->lr * cg_tensor_data(v)[j];
        }
    }
    return CG_OK;
}
static const cg_optimizer_type vel_type = { "Velocity", vel_step, NULL };
static cg_optimizer *vel_new(cg_tensor *const *p, int64_t n) {
    cg_optimizer *o = cg_optim_new(&vel_type, sizeof(cg_optimizer), p, n, 0.5f);
    assert_non_null(o);
    assert_int_equal(cg_optim_declare_state(o, velocity_state), CG_OK);
    return o;
}

static cg_tensor *id_fwd(cg_module *m, cg_tensor *x) { (void)m; return x; }
static const cg_module_type holder_type = { "Holder", id_fwd, NULL };

static void test_own_optimizer_checkpoint(void **s) {
    (void)s;
    /* The parameters live in a module (the checkpoint saves a module's state dict too). */
    cg_module *m = cg_module_new(&holder_type, sizeof(cg_module));
    cg_tensor *p[NP];
    for (int i = 0; i < NP; i++) {
        char name[8];
        snprintf(name, sizeof name, "p%d", i);
        p[i] = cg_module_add_parameter(m, name, cg_tensor_full(1, CG_SHAPE(i + 2), 1.0f));
    }
    for (int i = 0; i < NP; i++) {
        assert_int_equal(cg_backward(cg_sum(cg_mul_scalar(p[i], (float)(i + 1)))), CG_OK);
        cg_tape_release();
    }
    cg_optimizer *a = vel_new(p, NP);
    assert_int_equal(cg_optim_step(a), CG_OK);
    assert_int_equal(cg_optim_step(a), CG_OK);
    const char *path = CG_BINARY_DIR "/tests/optim_state_velocity.safetensors";
    assert_int_equal(cg_checkpoint_save(path, m, a, NULL, 0), CG_OK);
    cg_safetensors *st = NULL;
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
    assert_non_null(cg_safetensors_find(st, "optim.velocity.2"));
    cg_optimizer *b = vel_new(p, NP);
    assert_int_equal(cg_checkpoint_restore(st, m, b), CG_OK);
    cg_safetensors_close(st);
    assert_int_equal(b->step_count, 2);
    for (int i = 0; i < NP; i++) {
        cg_tensor *va = cg_optim_state(a, i, VELOCITY, NULL), *vb = cg_optim_state(b, i, VELOCITY, NULL);
        assert_memory_equal(cg_tensor_data(va), cg_tensor_data(vb), (size_t)(i + 2) * sizeof(float));
        assert_float_equal(cg_tensor_data(vb)[0], 2.0f * (float)(i + 1), 0);
    }
    /* A buffer the optimizer does not declare is refused, naming it. */
    cg_named_tensor items[] = { { "p0", p[0] }, { "p1", p[1] }, { "p2", p[2] }, { "optim.speed.0", p[0] } };
    cg_kv meta[] = { { "optim.type", "Velocity" }, { "optim.step_count", "0" }, { "optim.lr", "0.5" } };
    assert_int_equal(cg_safetensors_save(path, items, 4, meta, 3), CG_OK);
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
    assert_int_equal(cg_checkpoint_restore(st, m, b), CG_EFORMAT);
    assert_non_null(strstr(cg_last_error(), "'optim.speed.0' is not a state of Velocity"));
    cg_safetensors_close(st);
    /* Bad declarations. */
    cg_optimizer *c = cg_optim_new(&vel_type, sizeof(cg_optimizer), p, NP, 0.5f);
    static const char *const dotted[] = { "a.b", NULL }, *const twice[] = { "a", "a", NULL };
    assert_int_equal(cg_optim_declare_state(c, dotted), CG_EINVAL);
    assert_int_equal(cg_optim_declare_state(c, twice), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "'a' declared twice"));
    assert_int_equal(cg_optim_declare_state(c, NULL), CG_EINVAL);
    cg_optim_free(c);
    cg_optim_free(a);
    cg_optim_free(b);
    cg_module_free(m);
    remove(path);
}

/* Every schedule starts its state alike (optim.h: best is INFINITY before any metric), so a fresh
 * schedule and one restored from a checkpoint save the same values (issue 22: sched.best was 0 in
 * a fresh run, inf in a resumed one). */
static void test_sched_state_starts_alike(void **st) {
    (void)st;
    cg_tensor *w = test_tensor(1, CG_SHAPE(2), -1, 1, 1, true);
    cg_optimizer *o = cg_sgd_new(&w, 1, cg_sgd_defaults());
    int64_t m[] = { 2 };
    cg_lr_scheduler s[] = { cg_step_lr(o, 1, 0.5f), cg_cosine_lr(o, 4, 0), cg_multistep_lr(o, m, 1, 0.1f),
                            cg_exponential_lr(o, 0.9f), cg_onecycle_lr(o, 0.1f, 10, 0.3f, 25, 1e4f),
                            cg_plateau_lr(o, 0.1f, 10, 1e-4f, 0, 0) };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        assert_true(isinf(s[i].best) && s[i].best > 0);
        assert_int_equal(s[i].last_epoch, 0);
        assert_int_equal(s[i].num_bad_epochs, 0);
        assert_int_equal(s[i].cooldown_counter, 0);
    }
    cg_optim_free(o);
    cg_tensor_free(w);
}

/* An optimizer with nothing to optimize is refused (PyTorch: "optimizer got an empty parameter
 * list"): no parameters, empty groups, every parameter left out (frozen); one empty group beside
 * a full one is fine (the decay groups of a net without biases). */
static int leave_out(const char *name, const cg_tensor *p, void *ctx) { (void)name, (void)p, (void)ctx; return -1; }
static void test_empty_groups_refused(void **st) {
    (void)st;
    cg_module *m = cg_linear_new(4, 3, false);
    assert_null(cg_sgd_new(NULL, 0, cg_sgd_defaults()));
    assert_non_null(strstr(cg_last_error(), "SGD: no parameters to optimize: the 1 group is empty"));
    cg_param_groups g;
    assert_int_equal(cg_module_param_groups(m, 2, leave_out, NULL, &g), CG_OK);
    assert_null(cg_adam_new_groups(g.groups, g.n, cg_adam_defaults()));
    assert_non_null(strstr(cg_last_error(), "Adam: no parameters to optimize: the 2 groups are all empty"));
    assert_null(cg_adamw_new_groups(g.groups, g.n, cg_adam_defaults()));
    cg_param_groups_free(&g);
    assert_int_equal(cg_module_decay_groups(m, &g), CG_OK);   /* group 1 (biases) empty */
    assert_int_equal(g.groups[1].n, 0);
    cg_optimizer *o = cg_sgd_new_groups(g.groups, g.n, cg_sgd_defaults());
    assert_non_null(o);
    cg_optim_free(o);
    cg_param_groups_free(&g);
    cg_module_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_state_by_index),
        cmocka_unit_test(test_sched_state_starts_alike),
        cmocka_unit_test(test_adam_state_names_in_order),
        cmocka_unit_test(test_own_optimizer_checkpoint),
        cmocka_unit_test(test_empty_groups_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cg_tape_free_all();
    return rc;
}
