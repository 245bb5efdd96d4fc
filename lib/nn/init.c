/* SPDX-License-Identifier: MIT */
/* lib/nn/init.c — PyTorch's default layer initialisation, and the constructors' size checks.
 * kaiming_uniform_(w, a=sqrt 5): gain = sqrt(2/(1+a^2)) = sqrt(1/3), bound = gain*sqrt(3/fan_in)
 * = 1/sqrt(fan_in). Bias: U(+-1/sqrt(fan_in)). */
#include <math.h>
#include <stdio.h>
#include "init.h"

cg_tensor *cg_init_fan_in_uniform(int ndim, const int64_t *shape, int64_t fan_in) {
    float bound = fan_in > 0 ? (float)(1.0 / sqrt((double)fan_in)) : 0.0f;
    return cg_tensor_uniform(ndim, shape, -bound, bound);
}

/* The same limit as cg_check_shape: numel * sizeof(float) stays far from INT64_MAX. */
cg_status cg_nn_check_size(const char *module, const char *name, int ndim, const int64_t *shape) {
    char s[160];
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(n, shape[i], &n) || n > INT64_MAX / 4)
            return cg_error(CG_EINVAL, "%s: %s %s has too many elements", module, name,
                            cg_shape_str(s, sizeof s, ndim, shape));
    return CG_OK;
}

cg_module *cg_nn_alloc_failed(const char *module, const char *name, int ndim, const int64_t *shape) {
    char why[400], s[160];
    snprintf(why, sizeof why, "%s", cg_last_error());  /* copied: cg_error writes that buffer */
    cg_error(CG_ENOMEM, "%s: %s %s: %s", module, name, cg_shape_str(s, sizeof s, ndim, shape), why);
    return NULL;
}
