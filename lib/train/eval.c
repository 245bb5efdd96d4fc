/* SPDX-License-Identifier: MIT */
/* lib/train/eval.c — evaluation over a loader (loss, argmax accuracy, the confusion: confusion.c) and
 * prediction (a batch, or one unbatched example with the run's normalisation), both in eval mode
 * without gradients, the module's mode restored after. */
#include <math.h>
#include <string.h>
#include "cg_internal.h"
#include "cgrad/train.h"

cg_status cg_evaluate(cg_module *model, cg_loader *loader, cg_loss_kind kind, cg_confusion *confusion,
                      cg_eval_result *r) {
    if (!model || !loader || !r) return cg_set_error(CG_EINVAL, "cg_evaluate: model, loader and r must not be NULL");
    if (kind == CG_LOSS_AUTO) kind = cg_loss_resolve(model, kind);
    if (!cg_loss_name(kind)) return cg_set_error(CG_EINVAL, "cg_evaluate: loss kind %d is not a cg_loss_kind", (int)kind);
    memset(r, 0, sizeof *r);
    cg_confusion_reset(confusion);
    const int64_t classes = cg_confusion_classes(confusion);
    bool was_training = model->training;
    cg_module_train(model, false);
    bool prev = cg_set_grad_enabled(false);
    const char *phase = cg_profile_phase();
    cg_profile_set_phase("eval");
    cg_status st = cg_loader_set_epoch(loader, 0);
    int64_t batch = 0;
    cg_batch b;
    while (st == CG_OK && cg_loader_next(loader, &b)) {
        const int64_t n = cg_tensor_size(b.y, 0), *y = cg_tensor_cdata_i64(b.y);
        cg_tensor *logp = cg_module_forward(model, b.x);
        cg_tensor *loss = cg_loss(kind, logp, b.y, CG_REDUCTION_SUM);
        if (!loss) { st = CG_EINVAL; cg_tape_release(); break; }
        const float *lp = cg_tensor_data(logp);
        int64_t c = cg_tensor_size(logp, 1);
        /* argmax over NaN would pick class 0 and print a plausible accuracy: refuse instead. */
        for (int64_t i = 0; st == CG_OK && i < n * c; i++)
            if (!isfinite(lp[i]))
                st = cg_set_error(CG_EINVAL, "batch %lld: image %lld has a non-finite output %g (class %lld): "
                                  "the weights or the data hold NaN/inf", (long long)batch + 1,
                                  (long long)(r->n + i / c), (double)lp[i], (long long)(i % c));
        float l = cg_tensor_item(loss);
        if (kind == CG_LOSS_MSE) l /= (float)c; /* the mean over a row's classes, as training's mean */
        if (st == CG_OK && !isfinite(l))
            st = cg_set_error(CG_EINVAL, "batch %lld: the loss is %g", (long long)batch + 1, (double)l);
        if (st != CG_OK) { cg_tape_release(); break; }
        batch++;
        r->loss_sum += l;
        const int64_t *pred = cg_tensor_cdata_i64(cg_argmax(logp, 1, false));
        if (!pred) { st = CG_ENOMEM; cg_tape_release(); break; }
        for (int64_t i = 0; st == CG_OK && i < n; i++) {
            int64_t best = pred[i];
            r->correct += best == y[i];
            if (confusion && y[i] >= 0 && y[i] < classes && best < classes) st = cg_confusion_add(confusion, y[i], best);
        }
        if (st != CG_OK) { cg_tape_release(); break; }
        r->n += n;
        cg_tape_release();
    }
    if (st == CG_OK) st = cg_loader_status(loader);   /* a read that failed ended the epoch early */
    cg_set_grad_enabled(prev);
    cg_profile_set_phase(phase);
    cg_module_train(model, was_training);
    return st;
}


/* Runs net on x in eval mode without gradients; a caller-owned copy of the output. */
static cg_tensor *forward_eval(cg_module *net, cg_tensor *x) {
    bool was_training = net->training;
    cg_module_train(net, false);
    bool prev = cg_set_grad_enabled(false);
    cg_tensor *y = cg_module_forward(net, x);
    cg_tensor *out = y ? cg_tensor_clone(y) : NULL;
    cg_tape_release();
    cg_set_grad_enabled(prev);
    cg_module_train(net, was_training);
    return out;
}

cg_tensor *cg_predict(cg_module *net, cg_tensor *x) {
    if (!net || !x) {
        cg_set_error(CG_EINVAL, "cg_predict: net and x must not be NULL");
        return NULL;
    }
    return forward_eval(net, x);
}

cg_tensor *cg_predict_one(cg_module *net, const float *example, int ndim, const int64_t *shape,
                          const cg_normalize *norm) {
    if (!net || !example || !shape || ndim < 1 || ndim >= CG_MAX_DIMS) {
        cg_set_error(CG_EINVAL, "cg_predict_one: net, example and shape must not be NULL, ndim (%d) in 1..%d", ndim,
                     CG_MAX_DIMS - 1);
        return NULL;
    }
    int64_t full[CG_MAX_DIMS], n = 1;
    full[0] = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 1 || n > INT64_MAX / shape[d]) {
            cg_set_error(CG_EINVAL, "cg_predict_one: shape[%d] = %lld must be >= 1 (and the size fit int64)", d,
                         (long long)shape[d]);
            return NULL;
        }
        n *= shape[d];
        full[d + 1] = shape[d];
    }
    const int64_t c = ndim >= 3 ? shape[0] : 1, plane = n / c;
    if (norm && (norm->channels < 0 || norm->channels > CG_NORM_MAX_CHANNELS ||
                 (norm->channels > 1 && norm->channels != c))) {
        cg_set_error(CG_EINVAL, "cg_predict_one: normalisation for %d channels, but the example has %lld",
                     norm ? norm->channels : 0, (long long)c);
        return NULL;
    }
    cg_tensor *x = cg_tensor_new(CG_F32, ndim + 1, full);
    if (!x) return NULL;
    float *v = cg_tensor_data(x);
    memcpy(v, example, (size_t)n * sizeof *v);
    if (norm && norm->channels > 0)   /* as the loader: (v - mean[c]) / std[c], in float */
        for (int64_t k = 0; k < c; k++) {
            const float m = norm->mean[norm->channels == 1 ? 0 : k], s = norm->std[norm->channels == 1 ? 0 : k];
            for (int64_t p = k * plane; p < (k + 1) * plane; p++) v[p] = (v[p] - m) / s;
        }
    cg_tensor *out = forward_eval(net, x);
    cg_tensor_free(x);
    return out;
}
