/* SPDX-License-Identifier: MIT */
/* lib/train/loss.c — the loss that fits the net (cgrad/train.h): its names, auto (nll after a
 * log_softmax, cross_entropy otherwise), and the check before the first step that refuses a loss
 * the net's outputs cannot feed (nll on logits trains to -inf). */
#include <math.h>
#include <string.h>
#include "cg_internal.h"
#include "cgrad/train.h"

static const char *const names[] = { "auto", "nll", "cross_entropy", "mse" };
#define N_KINDS ((int)(sizeof names / sizeof names[0]))

const char *cg_loss_name(cg_loss_kind k) { return (int)k >= 0 && (int)k < N_KINDS ? names[k] : NULL; }

cg_status cg_loss_parse(const char *name, cg_loss_kind *out) {
    if (!name || !out) return cg_set_error(CG_EINVAL, "cg_loss_parse: name and out must not be NULL");
    for (int k = 0; k < N_KINDS; k++)
        if (!strcmp(name, names[k])) { *out = (cg_loss_kind)k; return CG_OK; }
    return cg_set_error(CG_EINVAL, "loss '%.40s' is not auto, nll, cross_entropy or mse", name);
}

bool cg_module_ends_in_log_softmax(const cg_module *net) {
    while (net && !strcmp(net->type->name, "Sequential") && net->n_children > 0)
        net = net->children[net->n_children - 1].module;
    return net && !strcmp(net->type->name, "LogSoftmax");
}

cg_loss_kind cg_loss_resolve(const cg_module *net, cg_loss_kind k) {
    if (k != CG_LOSS_AUTO) return k;
    return cg_module_ends_in_log_softmax(net) ? CG_LOSS_NLL : CG_LOSS_CROSS_ENTROPY;
}

cg_status cg_loss_check(cg_loss_kind k, const cg_tensor *out, const cg_tensor *y) {
    const char *name = cg_loss_name(k);
    if (!name || k == CG_LOSS_AUTO)
        return cg_set_error(CG_EINVAL, "cg_loss_check: kind %d is not nll, cross_entropy or mse (resolve auto "
                            "with cg_loss_resolve)", (int)k);
    if (!out || !y) return cg_set_error(CG_EINVAL, "cg_loss_check: out and y must not be NULL");
    if (cg_tensor_dtype(out) != CG_F32)
        return cg_set_error(CG_EINVAL, "loss %s: the net's output is %s; it needs float32 scores", name,
                            cg_dtype_name(cg_tensor_dtype(out)));
    if (cg_tensor_ndim(out) != 2)
        return cg_set_error(CG_EINVAL, "loss %s: the net's output is %dD; it needs [N, C] float32 (one score per "
                            "class)", name, cg_tensor_ndim(out));
    if (cg_tensor_dtype(y) != CG_I64 || cg_tensor_ndim(y) != 1)
        return cg_set_error(CG_EINVAL, "loss %s: the targets need to be int64 [N] class indices", name);
    const int64_t n = cg_tensor_size(out, 0), c = cg_tensor_size(out, 1);
    if (cg_tensor_size(y, 0) != n)
        return cg_set_error(CG_EINVAL, "loss %s: %lld outputs but %lld targets", name, (long long)n,
                            (long long)cg_tensor_size(y, 0));
    if (k != CG_LOSS_NLL) return CG_OK;
    /* log-probabilities: every row's exp sums to 1 (a log_softmax's output, up to rounding). */
    const float *v = cg_tensor_cdata(out);
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < c; j++) s += exp((double)v[i * c + j]);
        if (!isfinite(s)) continue; /* NaN/inf outputs: the loss says so (a diverged run), not this check */
        if (!(fabs(s - 1.0) <= 1e-3))
            return cg_set_error(CG_EINVAL, "loss nll needs log-probabilities, but row %lld of the net's output "
                                "[%lld, %lld] has exp-sum %g, not 1: end the net in log_softmax, or use "
                                "cross_entropy (the loss for logits)", (long long)i, (long long)n, (long long)c, s);
    }
    return CG_OK;
}

cg_tensor *cg_loss(cg_loss_kind k, cg_tensor *out, const cg_tensor *y, cg_reduction r) {
    if (!out || !y) return NULL;
    switch (k) {
    case CG_LOSS_NLL: return cg_nll_loss(out, y, r);
    case CG_LOSS_CROSS_ENTROPY: return cg_cross_entropy(out, y, r);
    case CG_LOSS_MSE: {
        if (cg_loss_check(k, out, y) != CG_OK) return NULL;
        const int64_t n = cg_tensor_size(out, 0), c = cg_tensor_size(out, 1), shape[2] = { n, c };
        const int64_t *t = cg_tensor_cdata_i64(y);
        for (int64_t i = 0; i < n; i++)
            if (t[i] < 0 || t[i] >= c) {
                cg_set_error(CG_EINVAL, "loss mse: target %lld of row %lld is outside the %lld classes",
                             (long long)t[i], (long long)i, (long long)c);
                return NULL;
            }
        cg_tensor *hot = cg_tape_tensor_zeros(2, shape);
        if (!hot) return NULL;
        for (int64_t i = 0; i < n; i++) hot->data[i * c + t[i]] = 1.0f;
        return cg_mse_loss(out, hot, r);
    }
    default:
        cg_set_error(CG_EINVAL, "cg_loss: kind %d is not nll, cross_entropy or mse (resolve auto with "
                     "cg_loss_resolve)", (int)k);
        return NULL;
    }
}
