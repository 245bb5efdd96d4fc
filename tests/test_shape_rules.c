/* SPDX-License-Identifier: MIT */
/* tests/test_shape_rules.c — the ops' public shape rules (cg_*_out_shape) give the shape the op
 * returns, and refuse what the op refuses with the op's own message, so net specs (which check
 * with them) and the ops cannot drift apart. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "cgrad/cgrad.h"

/* The op's result y (or NULL and its error) against the rule's status, shape and message. */
static void same(cg_tensor *y, cg_status rule, const int64_t *out, const char *rule_msg) {
    if (!y) {
        if (rule == CG_OK) fail_msg("the op refused (%s), the rule accepted", cg_last_error());
        if (strcmp(cg_last_error(), rule_msg))
            fail_msg("messages differ: op '%s', rule '%s'", cg_last_error(), rule_msg);
        return;
    }
    if (rule != CG_OK) fail_msg("the rule refused (%s), the op accepted", rule_msg);
    for (int d = 0; d < cg_tensor_ndim(y); d++)
        if (cg_tensor_shape(y)[d] != out[d])
            fail_msg("dim %d: op %lld, rule %lld", d, (long long)cg_tensor_shape(y)[d], (long long)out[d]);
}

#define RULE(call) do { s = (call); snprintf(msg, sizeof msg, "%s", s ? cg_last_error() : ""); } while (0)

static void test_conv2d_rule_matches_the_op(void **st) {
    (void)st;
    const int64_t in[][4] = { { 2, 4, 9, 7 }, { 1, 4, 3, 3 }, { 1, 4, 2, 9 } };
    const int64_t ws[][4] = { { 6, 2, 3, 3 }, { 6, 4, 5, 1 }, { 6, 4, 3, 3 }, { 6, 3, 1, 1 } };
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 4; j++)
            for (int64_t stv = 1; stv <= 3; stv++)
                for (int64_t pad = 0; pad <= 2; pad++)
                    for (int64_t g = 1; g <= 2; g++) {
                        cg_conv2d_params p = { .stride = { stv, 1 }, .padding = { pad, 0 }, .dilation = { 1, 2 },
                                               .groups = g };
                        cg_tensor *x = cg_tensor_full(4, in[i], 0.5f), *w = cg_tensor_full(4, ws[j], 0.25f);
                        int64_t out[4];
                        char msg[512];
                        cg_status s;
                        RULE(cg_conv2d_out_shape(4, in[i], ws[j], &p, out));
                        same(cg_conv2d(x, w, NULL, &p), s, out, msg);
                        cg_tape_release();
                        cg_tensor_free(x);
                        cg_tensor_free(w);
                    }
}

static void test_conv_transpose2d_rule_matches_the_op(void **st) {
    (void)st;
    const int64_t in[][4] = { { 2, 4, 3, 5 }, { 1, 4, 1, 1 } };
    const int64_t ws[][4] = { { 4, 3, 3, 3 }, { 4, 2, 2, 4 }, { 3, 2, 3, 3 } };
    for (size_t i = 0; i < 2; i++)
        for (size_t j = 0; j < 3; j++)
            for (int64_t stv = 1; stv <= 3; stv++)
                for (int64_t pad = 0; pad <= 3; pad++)
                    for (int64_t opad = 0; opad <= 1; opad++) {
                        cg_conv_transpose2d_params p = cg_conv_transpose2d_defaults();
                        p.stride[0] = stv;
                        p.padding[0] = p.padding[1] = pad;
                        p.output_padding[0] = opad;
                        p.groups = j == 1 ? 2 : 1;
                        cg_tensor *x = cg_tensor_full(4, in[i], 0.5f), *w = cg_tensor_full(4, ws[j], 0.25f);
                        int64_t out[4];
                        char msg[512];
                        cg_status s;
                        RULE(cg_conv_transpose2d_out_shape(4, in[i], ws[j], &p, out));
                        same(cg_conv_transpose2d(x, w, NULL, &p), s, out, msg);
                        cg_tape_release();
                        cg_tensor_free(x);
                        cg_tensor_free(w);
                    }
}

static void test_pool_and_upsample_rules_match_the_ops(void **st) {
    (void)st;
    const int64_t in[][4] = { { 2, 3, 7, 6 }, { 1, 1, 2, 2 } };
    for (size_t i = 0; i < 2; i++) {
        cg_tensor *x = cg_tensor_full(4, in[i], 1.0f);
        int64_t out[4];
        char msg[512];
        cg_status s;
        for (int64_t k = 1; k <= 4; k++)
            for (int64_t stv = 1; stv <= 3; stv++)
                for (int64_t pad = 0; pad <= 2; pad++) {
                    cg_pool2d_params p = { .kernel = { k, 2 }, .stride = { stv, stv }, .padding = { pad, 0 } };
                    RULE(cg_pool2d_out_shape(4, in[i], &p, out));
                    cg_tensor *y = cg_max_pool2d(x, &p);
                    if (!y) {   /* the op names itself where the rule says "pool2d" */
                        char op_msg[512];
                        snprintf(op_msg, sizeof op_msg, "%s", cg_last_error());
                        assert_string_equal(strchr(op_msg, ':'), strchr(msg, ':'));
                    } else {
                        same(y, s, out, msg);
                        same(cg_avg_pool2d(x, &p), s, out, msg);
                    }
                }
        for (int64_t o = 1; o <= 9; o += 4) {
            RULE(cg_adaptive_pool2d_out_shape(4, in[i], o, o + 1, out));
            same(cg_adaptive_avg_pool2d(x, o, o + 1), s, out, msg);
        }
        for (int64_t f = 0; f <= 3; f++) {
            RULE(cg_upsample_nearest2d_out_shape(4, in[i], f, 2, out));
            same(cg_upsample_nearest2d(x, f, 2), s, out, msg);
        }
        cg_tape_release();
        cg_tensor_free(x);
    }
}

static void test_linear_and_embedding_rules(void **st) {
    (void)st;
    int64_t out[4];
    char msg[512];
    cg_status s;
    cg_tensor *x = cg_tensor_full(3, CG_SHAPE(2, 3, 5), 1.0f), *w = cg_tensor_full(2, CG_SHAPE(4, 5), 1.0f);
    RULE(cg_linear_out_shape(3, CG_SHAPE(2, 3, 5), CG_SHAPE(4, 5), out));
    same(cg_linear(x, w, NULL), s, out, msg);
    RULE(cg_linear_out_shape(3, CG_SHAPE(2, 3, 5), CG_SHAPE(4, 6), out));
    assert_int_equal(s, CG_ESHAPE);
    assert_non_null(strstr(msg, "does not end in the weight's in-features 6"));
    /* embedding: indices of shape S give S + [D] */
    assert_int_equal(cg_embedding_out_shape(2, CG_SHAPE(3, 7), CG_SHAPE(10, 4), out), CG_OK);
    assert_int_equal(out[0], 3);
    assert_int_equal(out[1], 7);
    assert_int_equal(out[2], 4);
    assert_int_equal(cg_embedding_out_shape(CG_MAX_DIMS, CG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1), CG_SHAPE(10, 4), out),
                     CG_ESHAPE);
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_rule_matches_the_op),
        cmocka_unit_test(test_conv_transpose2d_rule_matches_the_op),
        cmocka_unit_test(test_pool_and_upsample_rules_match_the_ops),
        cmocka_unit_test(test_linear_and_embedding_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
