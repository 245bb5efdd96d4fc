/* SPDX-License-Identifier: MIT */
/* lib/nn/init.c — PyTorch's default layer initialisation, the constructors' size checks, and
 * torch.nn.init's initialisers (in place).
 * kaiming_uniform_(w, a=sqrt 5): gain = sqrt(2/(1+a^2)) = sqrt(1/3), bound = gain*sqrt(3/fan_in)
 * = 1/sqrt(fan_in). Bias: U(+-1/sqrt(fan_in)). */
#include <math.h>
#include <stdio.h>
#include "init.h"

cg_tensor *cg_init_fan_in_uniform(int ndim, const int64_t *shape, int64_t fan_in) {
    float bound = fan_in > 0 ? (float)(1.0 / sqrt((double)fan_in)) : 0.0f;
    return cg_tensor_uniform(ndim, shape, -bound, bound, NULL);
}

/* The same limit as cg_check_shape (a zero dim counted as 1): numel * sizeof(float) stays far
 * from INT64_MAX. */
cg_status cg_nn_check_size(const char *module, const char *name, int ndim, const int64_t *shape) {
    char s[160];
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(n, shape[i] ? shape[i] : 1, &n) || n > INT64_MAX / 4)
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

/* ---- torch.nn.init, in place ------------------------------------------------------------ */
/* PyTorch's _calculate_fan_in_and_fan_out: fan_in = size(1) * receptive field, fan_out =
 * size(0) * receptive field, receptive field = the product of the dims after the second. */
static cg_status fans(const char *fn, const cg_tensor *t, double *fan_in, double *fan_out) {
    if (!t) return cg_error(CG_EINVAL, "%s: tensor is NULL", fn);
    if (cg_check_dtype(fn, "t", t, CG_F32)) return CG_EINVAL;
    if (t->ndim < 2)
        return cg_error(CG_ESHAPE, "%s: fan in and fan out need a tensor of 2 or more dimensions, got %d", fn, t->ndim);
    double rf = 1;
    for (int i = 2; i < t->ndim; i++) rf *= (double)t->shape[i];
    *fan_in = (double)t->shape[1] * rf;
    *fan_out = (double)t->shape[0] * rf;
    return CG_OK;
}

/* t = lo + (hi - lo) * u or mean + std * z, in place, from rng (NULL: the default stream), the
 * numbers cg_tensor_uniform and cg_tensor_randn would draw (the same stream and order). */
static cg_status fill_uniform(cg_tensor *t, double lo, double hi, cg_rng *rng) {
    cg_rng_fill_uniform(t->data, t->numel, (float)lo, (float)hi, rng);
    return CG_OK;
}
static cg_status fill_normal(cg_tensor *t, double mean, double std, cg_rng *rng) {
    cg_rng_fill_normal(t->data, t->numel, rng);
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)(mean + std * (double)t->data[i]);
    return CG_OK;
}

double cg_init_calculate_gain(const char *nonlinearity, double param) {
    if (!nonlinearity) return NAN;
    const char *linear[] = { "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                             "conv_transpose3d", "sigmoid" };
    for (size_t i = 0; i < sizeof linear / sizeof linear[0]; i++)
        if (!strcmp(nonlinearity, linear[i])) return 1.0;
    if (!strcmp(nonlinearity, "tanh")) return 5.0 / 3.0;
    if (!strcmp(nonlinearity, "relu")) return sqrt(2.0);
    if (!strcmp(nonlinearity, "leaky_relu")) return sqrt(2.0 / (1.0 + param * param)); /* param: the slope */
    if (!strcmp(nonlinearity, "selu")) return 3.0 / 4.0;
    return NAN;
}

cg_status cg_init_uniform_(cg_tensor *t, float a, float b, cg_rng *rng) {
    if (!t) return cg_error(CG_EINVAL, "cg_init_uniform_: tensor is NULL");
    if (cg_check_dtype("cg_init_uniform_", "t", t, CG_F32)) return CG_EINVAL;
    if (!(a <= b) || !isfinite(a) || !isfinite(b)) return cg_error(CG_EINVAL, "cg_init_uniform_: want finite a <= b, got %g, %g", (double)a, (double)b);
    return fill_uniform(t, a, b, rng);
}
cg_status cg_init_normal_(cg_tensor *t, float mean, float std, cg_rng *rng) {
    if (!t) return cg_error(CG_EINVAL, "cg_init_normal_: tensor is NULL");
    if (cg_check_dtype("cg_init_normal_", "t", t, CG_F32)) return CG_EINVAL;
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean)) return cg_error(CG_EINVAL, "cg_init_normal_: want a finite mean and std >= 0, got %g, %g", (double)mean, (double)std);
    return fill_normal(t, mean, std, rng);
}
cg_status cg_init_constant_(cg_tensor *t, float value) {
    if (!t) return cg_error(CG_EINVAL, "cg_init_constant_: tensor is NULL");
    if (cg_check_dtype("cg_init_constant_", "t", t, CG_F32)) return CG_EINVAL;
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = value;
    return CG_OK;
}
cg_status cg_init_zeros_(cg_tensor *t) { return cg_init_constant_(t, 0.0f); }
cg_status cg_init_ones_(cg_tensor *t) { return cg_init_constant_(t, 1.0f); }

cg_status cg_init_xavier_uniform_(cg_tensor *t, float gain, cg_rng *rng) {
    double fi = 0, fo = 0;
    cg_status st = fans("cg_init_xavier_uniform_", t, &fi, &fo);
    if (st != CG_OK) return st;
    double bound = gain * sqrt(2.0 / (fi + fo)) * sqrt(3.0);
    return fill_uniform(t, -bound, bound, rng);
}
cg_status cg_init_xavier_normal_(cg_tensor *t, float gain, cg_rng *rng) {
    double fi = 0, fo = 0;
    cg_status st = fans("cg_init_xavier_normal_", t, &fi, &fo);
    if (st != CG_OK) return st;
    return fill_normal(t, 0.0, gain * sqrt(2.0 / (fi + fo)), rng);
}

/* kaiming's std: gain(nonlinearity, a) / sqrt(fan) */
static cg_status kaiming_std(const char *fn, const cg_tensor *t, float a, cg_fan_mode mode, const char *nonlinearity,
                             double *std) {
    double fi = 0, fo = 0;
    cg_status st = fans(fn, t, &fi, &fo);
    if (st != CG_OK) return st;
    if (mode != CG_FAN_IN && mode != CG_FAN_OUT) return cg_error(CG_EINVAL, "%s: mode %d is not CG_FAN_IN or CG_FAN_OUT", fn, (int)mode);
    double gain = cg_init_calculate_gain(nonlinearity ? nonlinearity : "leaky_relu", a);
    if (isnan(gain))
        return cg_error(CG_EINVAL, "%s: unknown nonlinearity '%s' (linear, conv2d, sigmoid, tanh, relu, leaky_relu, selu)",
                        fn, nonlinearity);
    double fan = mode == CG_FAN_IN ? fi : fo;
    if (fan <= 0) return cg_error(CG_ESHAPE, "%s: the fan is 0 (a zero dimension)", fn);
    *std = gain / sqrt(fan);
    return CG_OK;
}
cg_status cg_init_kaiming_uniform_(cg_tensor *t, float a, cg_fan_mode mode, const char *nonlinearity,
                                   cg_rng *rng) {
    double std = 0;
    cg_status st = kaiming_std("cg_init_kaiming_uniform_", t, a, mode, nonlinearity, &std);
    if (st != CG_OK) return st;
    return fill_uniform(t, -sqrt(3.0) * std, sqrt(3.0) * std, rng);
}
cg_status cg_init_kaiming_normal_(cg_tensor *t, float a, cg_fan_mode mode, const char *nonlinearity,
                                  cg_rng *rng) {
    double std = 0;
    cg_status st = kaiming_std("cg_init_kaiming_normal_", t, a, mode, nonlinearity, &std);
    if (st != CG_OK) return st;
    return fill_normal(t, 0.0, std, rng);
}
