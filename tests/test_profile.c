/* SPDX-License-Identifier: MIT */
/* tests/test_profile.c — the CG_PROFILE table: rows per (phase, op) with forward and backward
 * calls counted apart, the optimizer step and the loader's batches as rows of their own, training
 * and evaluation kept apart by phase, sorted by time, and a total against wall time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cgrad/cgrad.h"
#include "batch.h"

typedef struct row { char phase[16], op[32]; double fwd_ms, bwd_ms; long long fwd_calls, bwd_calls; } row;

/* The table's rows (and whether a total line was seen). */
static int read_table(row *r, int max, bool *total_line) {
    FILE *f = tmpfile();
    assert_non_null(f);
    cg_profile_fprint(f);
    rewind(f);
    char line[512];
    int n = 0;
    *total_line = false;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "total ", 6) && strstr(line, "wall time")) *total_line = true;
        row x;
        if (n < max && sscanf(line, "%15s %31s %lf %lld %lf %lld", x.phase, x.op, &x.fwd_ms, &x.fwd_calls, &x.bwd_ms,
                              &x.bwd_calls) == 6)
            r[n++] = x;
    }
    fclose(f);
    return n;
}

static const row *find(const row *r, int n, const char *phase, const char *op) {
    for (int i = 0; i < n; i++) if (!strcmp(r[i].phase, phase) && !strcmp(r[i].op, op)) return &r[i];
    return NULL;
}

static void test_table(void **s) {
    (void)s;
    enum { N = 24, D = 6, STEPS = 3 };
    static float x[N * D];
    int64_t y[N];
    for (int i = 0; i < N * D; i++) x[i] = (float)((i * 37) % 11) / 11.0f;
    for (int i = 0; i < N; i++) y[i] = i % 3;
    cg_dataset *ds;
    cg_tensor *tx = cg_tensor_wrap_data(CG_F32, x, 2, CG_SHAPE(N, D)), *ty = cg_tensor_wrap_data(CG_I64, y, 1, CG_SHAPE(N));
    assert_int_equal(cg_dataset_from_tensors(tx, ty, false, &ds), CG_OK);
    cg_loader_options lo = cg_loader_defaults();
    lo.batch_size = 8;
    cg_loader *l = cg_loader_new(ds, &lo);
    cg_manual_seed(1);
    cg_module *m = cg_net_from_spec("linear(6,3) log_softmax", 1, CG_SHAPE(D), NULL);
    assert_non_null(m);
    cg_named_list pl;
    assert_int_equal(cg_module_parameters(m, &pl), CG_OK);
    cg_tensor *ps[2] = { pl.items[0].tensor, pl.items[1].tensor };
    cg_optimizer *o = cg_sgd_new(ps, 2, cg_sgd_defaults());
    cg_named_list_free(&pl);

    cg_profile_reset();
    cg_profile_enable(true);
    cg_profile_set_phase("train");
    cg_tensor *xb;
    cg_tensor *yb;
    for (int k = 0; k < STEPS && next_batch(l, &xb, &yb); k++) {
        cg_optim_zero_grad(o);
        cg_tensor *loss = cg_nll_loss(cg_module_forward(m, xb), yb, CG_REDUCTION_MEAN);
        assert_int_equal(cg_backward(loss), CG_OK);
        assert_int_equal(cg_optim_step(o), CG_OK);
        cg_tape_release();
    }
    cg_profile_set_phase("eval");
    bool prev = cg_set_grad_enabled(false);
    cg_loader_set_epoch(l, 0);
    assert_true(next_batch(l, &xb, &yb));
    assert_non_null(cg_module_forward(m, xb));
    cg_tape_release();
    cg_set_grad_enabled(prev);
    cg_profile_set_phase(NULL);
    cg_profile_enable(false);

    row r[64];
    bool total;
    int n = read_table(r, 64, &total);
    assert_true(total);
    const row *opt = find(r, n, "train", "optimizer_step"), *load = find(r, n, "train", "data_loading");
    const row *lin = find(r, n, "train", "linear"), *elin = find(r, n, "eval", "linear");
    const row *eload = find(r, n, "eval", "data_loading");
    assert_non_null(opt);
    assert_non_null(load);
    assert_non_null(lin);
    assert_non_null(elin);
    assert_non_null(eload);
    assert_int_equal(opt->fwd_calls, STEPS);
    assert_int_equal(opt->bwd_calls, 0);
    assert_int_equal(load->fwd_calls, STEPS);
    assert_int_equal(eload->fwd_calls, 1);
    assert_int_equal(lin->fwd_calls, STEPS);
    assert_int_equal(lin->bwd_calls, STEPS);
    assert_int_equal(elin->fwd_calls, 1);
    assert_int_equal(elin->bwd_calls, 0);
    /* Sorted by time, largest first. The table prints each time rounded to 0.01 ms, so two
     * printed times summed can be up to 0.01 ms off the exact sum the rows were sorted by. */
    for (int i = 1; i < n; i++)
        assert_true(r[i - 1].fwd_ms + r[i - 1].bwd_ms >= r[i].fwd_ms + r[i].bwd_ms - 0.0101);
    cg_optim_free(o);
    cg_module_free(m);
    cg_loader_free(l);
    cg_dataset_free(ds);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    cg_tape_free_all();
}

int main(void) {
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_table) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
