/* SPDX-License-Identifier: MIT */
/* lib/optim/optimizer.c — the Optimizer base: parameter list, named state, step, zero_grad. */
#include <math.h>
#include <stdio.h>
#include "cg_internal.h"

cg_optimizer *cg_optim_new(const cg_optimizer_type *type, size_t size, cg_tensor *const *params,
                           int64_t n_params, float lr) {
    if (!type || !type->step) return (cg_optimizer *)CG_FAIL(CG_EINVAL, "cg_optim_new: type needs a step");
    if (size < sizeof(cg_optimizer)) return (cg_optimizer *)CG_FAIL(CG_EINVAL, "cg_optim_new: size too small");
    if (n_params < 0 || (n_params && !params))
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "cg_optim_new: bad parameter list");
    if (!(lr >= 0.0f) || !isfinite(lr))
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "%s: lr %g must be finite and >= 0", type->name ? type->name : "cg_optim_new", lr);
    for (int64_t i = 0; i < n_params; i++)
        if (!params[i] || !cg_requires_grad(params[i]))
            return (cg_optimizer *)CG_FAIL(CG_EINVAL, "cg_optim_new: parameter %lld is NULL or does not require grad",
                                           (long long)i);
    cg_optimizer *o = cg_calloc(1, size);
    if (!o) return NULL;
    o->type = type;
    o->lr = lr;
    o->n_params = n_params;
    o->params = cg_malloc((size_t)(n_params ? n_params : 1) * sizeof *o->params);
    if (!o->params) { cg_free(o); return NULL; }
    for (int64_t i = 0; i < n_params; i++) o->params[i] = params[i];
    return o;
}

cg_optimizer *cg_optim_new_for(const cg_optimizer_type *type, size_t size, const cg_module *m, float lr) {
    cg_named_list l;
    if (cg_module_parameters(m, &l) != CG_OK) return NULL;
    cg_tensor **ps = cg_malloc((size_t)(l.n ? l.n : 1) * sizeof *ps);
    cg_optimizer *o = NULL;
    if (ps) {
        for (int64_t i = 0; i < l.n; i++) ps[i] = l.items[i].tensor;
        o = cg_optim_new(type, size, ps, l.n, lr);
    }
    cg_free(ps);
    cg_named_list_free(&l);
    return o;
}

void cg_optim_free(cg_optimizer *o) {
    if (!o) return;
    if (o->type->destroy) o->type->destroy(o);
    for (int i = 0; i < o->n_state; i++) { cg_free((char *)o->state[i].name); cg_tensor_free(o->state[i].tensor); }
    cg_free(o->state);
    cg_free(o->params);
    cg_free(o);
}

cg_status cg_optim_step(cg_optimizer *o) {
    if (!o) return cg_error(CG_EINVAL, "cg_optim_step: optimizer is NULL");
    if (o->step_count < 0 || o->step_count == INT64_MAX)
        return cg_error(CG_EINVAL, "cg_optim_step: step_count %lld is outside 0..%lld", (long long)o->step_count,
                        (long long)INT64_MAX - 1);
    bool prev = cg_set_grad_enabled(false);
    double t0 = cg_profile_begin();
    cg_status st = o->type->step(o);
    cg_profile_end("optimizer_step", 0, t0);
    cg_set_grad_enabled(prev);
    if (st == CG_OK) o->step_count++;
    return st;
}

void cg_optim_zero_grad(cg_optimizer *o) {
    if (!o) return;
    for (int64_t i = 0; i < o->n_params; i++) cg_tensor_zero_grad(o->params[i]);
}

cg_tensor *cg_optim_find_state(const cg_optimizer *o, const char *name) {
    if (!o || !name) return NULL;
    for (int i = 0; i < o->n_state; i++) if (strcmp(o->state[i].name, name) == 0) return o->state[i].tensor;
    return NULL;
}

cg_tensor *cg_optim_add_state(cg_optimizer *o, const char *name, const cg_tensor *like) {
    if (!o || !name || !like) return CG_FAIL(CG_EINVAL, "cg_optim_add_state: bad argument");
    if (cg_optim_find_state(o, name)) return CG_FAIL(CG_EINVAL, "cg_optim_add_state: \"%s\" exists", name);
    cg_named_tensor *ns = cg_malloc((size_t)(o->n_state + 1) * sizeof *ns);
    char *nm = cg_strdup(name);
    cg_tensor *t = cg_tensor_zeros(like->ndim, like->shape);
    if (!ns || !nm || !t) { cg_free(ns); cg_free(nm); cg_tensor_free(t); return NULL; }
    if (o->n_state) memcpy(ns, o->state, (size_t)o->n_state * sizeof *ns);
    ns[o->n_state++] = (cg_named_tensor){ nm, t };
    cg_free(o->state);
    o->state = ns;
    return t;
}

/* State tensor "<prefix>.<i>" for parameter i, made on first use (zeros). */
cg_tensor *cg_optim_param_state(cg_optimizer *o, const char *prefix, int64_t i, bool *created) {
    char name[64];
    snprintf(name, sizeof name, "%s.%lld", prefix, (long long)i);
    cg_tensor *t = cg_optim_find_state(o, name);
    if (created) *created = !t;
    return t ? t : cg_optim_add_state(o, name, o->params[i]);
}
