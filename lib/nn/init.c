/* lib/nn/init.c — PyTorch's default layer initialisation.
 * kaiming_uniform_(w, a=sqrt 5): gain = sqrt(2/(1+a^2)) = sqrt(1/3), bound = gain*sqrt(3/fan_in)
 * = 1/sqrt(fan_in). Bias: U(+-1/sqrt(fan_in)). */
#include <math.h>
#include "init.h"

cg_tensor *cg_init_fan_in_uniform(int ndim, const int64_t *shape, int64_t fan_in) {
    float bound = fan_in > 0 ? (float)(1.0 / sqrt((double)fan_in)) : 0.0f;
    return cg_tensor_uniform(ndim, shape, -bound, bound);
}
