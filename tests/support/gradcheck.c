/* SPDX-License-Identifier: MIT */
/* tests/support/gradcheck.c — central-difference gradient checks for the op tests. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"

cg_tensor *test_tensor(int ndim, const int64_t *shape, float lo, float hi, unsigned salt, bool rg) {
    cg_tensor *t = cg_tensor_zeros(ndim, shape);
    assert_non_null(t);
    float *d = cg_tensor_data(t);
    for (int64_t i = 0; i < cg_tensor_numel(t); i++) {
        uint32_t h = (uint32_t)(i * 2654435761u) ^ (salt * 0x9e3779b9u);
        h ^= h >> 15; h *= 0x2c1b3c6du; h ^= h >> 12; h *= 0x297a2d39u; h ^= h >> 15;
        d[i] = lo + (hi - lo) * (float)(h >> 8) / 16777216.0f;
    }
    if (rg) cg_tensor_set_requires_grad(t, true);
    return t;
}

static double weighted_sum(const cg_tensor *out, const float *r) {
    double s = 0;
    const float *d = cg_tensor_cdata(out);
    for (int64_t i = 0; i < cg_tensor_numel(out); i++) s += (double)d[i] * r[i];
    return s;
}

double gradcheck(gradcheck_fn f, cg_tensor **in, int n_in, void *ctx, double eps, double atol, double rtol) {
    cg_rng_state rng = cg_rng_get_state();
    for (int k = 0; k < n_in; k++) if (cg_tensor_grad(in[k])) cg_tensor_zero_grad(in[k]);

    /* Analytic: backward of sum(out * R). */
    cg_tensor *out = f(in, ctx);
    if (!out) fail_msg("forward failed: %s", cg_last_error());
    int64_t n_out = cg_tensor_numel(out);
    float *r = malloc((size_t)n_out * sizeof *r);
    for (int64_t i = 0; i < n_out; i++) r[i] = 0.5f + 0.5f * sinf(0.7f * (float)i + 0.3f);
    cg_tensor *rt = cg_tensor_wrap(r, cg_tensor_ndim(out), cg_tensor_shape(out));
    cg_tensor *loss = cg_sum(cg_mul(out, rt));
    assert_non_null(loss);
    if (cg_backward(loss) != CG_OK) fail_msg("backward failed: %s", cg_last_error());
    cg_tape_release();

    double worst = 0;
    bool prev = cg_set_grad_enabled(false);
    for (int k = 0; k < n_in; k++) {
        if (!cg_tensor_requires_grad(in[k])) continue;
        cg_tensor *g = cg_tensor_grad(in[k]);
        if (!g) fail_msg("input %d requires grad but got none", k);
        float *x = cg_tensor_data(in[k]);
        const float *ga = cg_tensor_cdata(g);
        for (int64_t i = 0; i < cg_tensor_numel(in[k]); i++) {
            float x0 = x[i];
            x[i] = (float)(x0 + eps);
            cg_rng_set_state(rng);
            double lp = weighted_sum(f(in, ctx), r);
            cg_tape_release();
            x[i] = (float)(x0 - eps);
            cg_rng_set_state(rng);
            double lm = weighted_sum(f(in, ctx), r);
            cg_tape_release();
            x[i] = x0;
            double num = (lp - lm) / (2 * eps), err = fabs(ga[i] - num);
            if (err > worst) worst = err;
            if (err > atol + rtol * fabs(num)) {
                cg_set_grad_enabled(prev);  /* fail_msg jumps out: leave the next test a sane mode */
                fail_msg("input %d element %lld: analytic %.6g, numeric %.6g (err %.3g)",
                         k, (long long)i, ga[i], num, err);
            }
        }
    }
    cg_set_grad_enabled(prev);
    cg_rng_set_state(rng);
    cg_tensor_free(rt);
    free(r);
    return worst;
}

/* Backward accumulates (+=) into leaf grads: two backward passes give twice the grad. */
void check_accumulates(cg_tensor **in, int n_in, cg_tensor *(*f)(cg_tensor **)) {
    float *first[3] = { 0 };
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(cg_backward(cg_sum(f(in))), CG_OK);
        cg_tape_release();
        for (int k = 0; k < n_in && pass == 0; k++) {
            int64_t n = cg_tensor_numel(in[k]);
            first[k] = malloc((size_t)n * sizeof(float));
            memcpy(first[k], cg_tensor_data(cg_tensor_grad(in[k])), (size_t)n * sizeof(float));
        }
    }
    for (int k = 0; k < n_in; k++) {
        for (int64_t i = 0; i < cg_tensor_numel(in[k]); i++)
            assert_float_equal(cg_tensor_data(cg_tensor_grad(in[k]))[i], 2 * first[k][i], 1e-4);
        free(first[k]);
    }
}

/* Whether the profile since the last reset names op `name` (cg_profile_fprint into a tmpfile). */
bool profile_has(const char *name) {
    FILE *f = tmpfile();
    assert_non_null(f);
    cg_profile_fprint(f);
    rewind(f);
    char line[256];
    bool found = false;
    char phase[64], op[64];
    while (fgets(line, sizeof line, f)) /* rows: phase op fwd-ms fwd-calls bwd-ms bwd-calls share */
        if (sscanf(line, "%63s %63s", phase, op) == 2 && strcmp(op, name) == 0) found = true;
    fclose(f);
    return found;
}
