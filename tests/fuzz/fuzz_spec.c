/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_spec.c — libFuzzer target for the net spec parser (lib/nn/spec.c).
 * Each input, as a NUL-terminated string, is parsed and checked against three example shapes
 * (MNIST's [1,28,28], a small [3,5,5], a flat [10]) with cg_net_check_spec, which allocates no
 * weights. A success must give a consistent summary (rows, a non-negative parameter count within
 * the limit, the forward's bytes counted); nothing may crash, leak, hang or read past the string.
 * When the check passes on the small shape and the net is small (parameters and forward), it is
 * also built and run forward on one example. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cgrad/cgrad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *spec = malloc(size + 1);
    if (!spec) return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';
    const int64_t shapes[3][3] = { { 1, 28, 28 }, { 3, 5, 5 }, { 10, 0, 0 } };
    const int ndims[3] = { 3, 3, 1 };
    for (int k = 0; k < 3; k++) {
        cg_net_info info;
        if (cg_net_check_spec(spec, ndims[k], shapes[k], 1, &info) != CG_OK) {
            if (!cg_last_error()[0] || info.rows || info.n) abort();   /* an error is named, nothing kept */
            continue;
        }
        if (info.n < 1 || !info.rows || info.params < 0 || info.params > ((int64_t)1 << 31) || info.forward_bytes < 4)
            abort();
        /* Built and run only where the forward stays well inside -rss_limit_mb (the check bounds it
         * by the machine's memory, not by the fuzzer's). */
        if (k == 1 && info.params < 100000 && info.peak_bytes < ((int64_t)64 << 20)) {
            cg_module *m = cg_net_from_spec(spec, ndims[k], shapes[k], NULL);
            if (!m) abort();   /* the check passed, so the build must */
            cg_module_train(m, false);
            cg_tensor *x = cg_tensor_zeros(4, CG_SHAPE(1, 3, 5, 5));
            bool prev = cg_set_grad_enabled(false);
            cg_module_forward(m, x);   /* may fail cleanly (e.g. log_softmax of a 0-d input) */
            cg_set_grad_enabled(prev);
            cg_tape_release();
            cg_tensor_free(x);
            cg_module_free(m);
        }
        cg_net_info_free(&info);
    }
    free(spec);
    return 0;
}
