/* SPDX-License-Identifier: MIT */
/* lib/optim/optimizer.c — the Optimizer base: parameter list, groups, step, zero_grad, and the
 * per-parameter state: slot [i * K + k] holds buffer k of parameter i (K buffers declared by the
 * constructor), so a step finds its state by index; names are formatted only to save or load it. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "cg_internal.h"

/* An optimizer its constructor gave up on: no state and no subclass fields yet. */
static void free_bare(cg_optimizer *o) {
    cg_free(o->params);
    cg_free(o->groups);
    cg_free(o);
}

static int by_address(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)*(cg_tensor *const *)a, y = (uintptr_t)*(cg_tensor *const *)b;
    return (x > y) - (x < y);
}

cg_optimizer *cg_optim_new_groups(const cg_optimizer_type *type, size_t size, const cg_param_group *groups,
                                  int n_groups, float lr) {
    if (!type || !type->step) return (cg_optimizer *)CG_FAIL(CG_EINVAL, "cg_optim_new: type needs a step");
    const char *who = type->name ? type->name : "cg_optim_new";
    if (size < sizeof(cg_optimizer)) return (cg_optimizer *)CG_FAIL(CG_EINVAL, "cg_optim_new: size too small");
    if (n_groups < 1 || !groups)
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "%s: needs at least one parameter group (got %d)", who, n_groups);
    if (!(lr >= 0.0f) || !isfinite(lr))
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "%s: lr %g must be finite and >= 0", who, lr);
    int64_t total = 0;
    for (int g = 0; g < n_groups; g++) {
        const cg_param_group *G = &groups[g];
        if (G->n < 0 || (G->n && !G->params) || G->n > INT64_MAX / 2 - total)
            return (cg_optimizer *)CG_FAIL(CG_EINVAL, "%s: group %d: bad parameter list", who, g);
        if (!(G->lr_scale >= 0.0f) || !isfinite(G->lr_scale))
            return (cg_optimizer *)CG_FAIL(CG_EINVAL, "%s: group %d: lr_scale %g must be finite and >= 0", who, g,
                                           G->lr_scale);
        if (!isnan(G->weight_decay) && (!(G->weight_decay >= 0.0f) || !isfinite(G->weight_decay)))
            return (cg_optimizer *)CG_FAIL(CG_EINVAL, "%s: group %d: weight_decay %g must be finite and >= 0 "
                                           "(NAN: the optimizer's)", who, g, G->weight_decay);
        for (int64_t i = 0; i < G->n; i++)
            if (!G->params[i] || !cg_requires_grad(G->params[i]))
                return (cg_optimizer *)CG_FAIL(CG_EINVAL, "%s: group %d: parameter %lld is NULL or does not "
                                               "require grad", who, g, (long long)i);
        total += G->n;
    }
    if (total == 0)   /* as PyTorch's "optimizer got an empty parameter list" */
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "%s: no parameters to optimize: the %d group%s %s empty (a net "
                                       "without parameters, or every parameter left out of the groups)", who, n_groups,
                                       n_groups == 1 ? "" : "s", n_groups == 1 ? "is" : "are all");
    if ((uint64_t)total > SIZE_MAX / sizeof(cg_tensor *))
        return (cg_optimizer *)CG_FAIL(CG_EINVAL, "%s: %lld parameters is too many", who, (long long)total);
    cg_optimizer *o = cg_calloc(1, size);
    if (!o) return NULL;
    o->type = type;
    o->lr = lr;
    o->n_params = total;
    o->params = cg_malloc((size_t)(total ? total : 1) * sizeof *o->params);
    o->groups = cg_malloc((size_t)n_groups * sizeof *o->groups);
    cg_tensor **sorted = cg_malloc((size_t)(total ? total : 1) * sizeof *sorted);
    if (!o->params || !o->groups || !sorted) { cg_free(sorted); free_bare(o); return NULL; }
    o->n_groups = n_groups;
    int64_t at = 0;
    for (int g = 0; g < n_groups; g++) {
        o->groups[g] = (cg_optim_group){ at, groups[g].n, groups[g].lr_scale, groups[g].weight_decay };
        for (int64_t i = 0; i < groups[g].n; i++) o->params[at++] = groups[g].params[i];
    }
    /* A tensor listed twice would be stepped twice: refuse it, as PyTorch does. */
    memcpy(sorted, o->params, (size_t)total * sizeof *sorted);
    qsort(sorted, (size_t)total, sizeof *sorted, by_address);
    for (int64_t i = 1; i < total; i++)
        if (sorted[i] == sorted[i - 1]) {
            int64_t first = -1, second = -1;
            for (int64_t j = 0; j < total; j++)
                if (o->params[j] == sorted[i]) { if (first < 0) first = j; else if (second < 0) second = j; }
            cg_free(sorted);
            free_bare(o);
            return (cg_optimizer *)CG_FAIL(CG_EINVAL, "%s: one tensor is parameters %lld and %lld (over all "
                                           "groups): a parameter may appear only once", who, (long long)first,
                                           (long long)second);
        }
    cg_free(sorted);
    return o;
}

cg_optimizer *cg_optim_new(const cg_optimizer_type *type, size_t size, cg_tensor *const *params,
                           int64_t n_params, float lr) {
    cg_param_group g = { params, n_params, 1.0f, NAN };
    return cg_optim_new_groups(type, size, &g, 1, lr);
}

cg_optimizer *cg_optim_new_for(const cg_optimizer_type *type, size_t size, const cg_module *m, float lr) {
    cg_param_groups g;
    if (cg_module_param_groups(m, 1, NULL, NULL, &g) != CG_OK) return NULL;
    cg_optimizer *o = cg_optim_new_groups(type, size, g.groups, g.n, lr);
    cg_param_groups_free(&g);
    return o;
}

float cg_optim_group_lr(const cg_optimizer *o, int g) {
    if (!o || g < 0 || g >= o->n_groups) return NAN;
    return o->lr * o->groups[g].lr_scale;
}

float cg_optim_group_weight_decay(const cg_optimizer *o, int g, float fallback) {
    if (!o || g < 0 || g >= o->n_groups) return NAN;
    return isnan(o->groups[g].weight_decay) ? fallback : o->groups[g].weight_decay;
}

/* ---- groups of a module's parameters ---- */
void cg_param_groups_free(cg_param_groups *g) {
    if (!g) return;
    cg_free(g->groups);
    cg_free(g->all);
    *g = (cg_param_groups){ 0 };
}

cg_status cg_module_param_groups(const cg_module *m, int n_groups,
                                 int (*group_of)(const char *name, const cg_tensor *p, void *ctx), void *ctx,
                                 cg_param_groups *out) {
    if (!out) return cg_error(CG_EINVAL, "cg_module_param_groups: out is NULL");
    *out = (cg_param_groups){ 0 };
    if (!m) return cg_error(CG_EINVAL, "cg_module_param_groups: module is NULL");
    if (n_groups < 1 || n_groups > 1024)
        return cg_error(CG_EINVAL, "cg_module_param_groups: n_groups %d must be in 1..1024", n_groups);
    cg_named_list l;
    cg_status st = cg_module_parameters(m, &l);
    if (st != CG_OK) return st;
    int *which = cg_malloc((size_t)(l.n ? l.n : 1) * sizeof *which);
    out->groups = cg_calloc((size_t)n_groups, sizeof *out->groups);
    out->all = cg_malloc((size_t)(l.n ? l.n : 1) * sizeof *out->all);
    if (!which || !out->groups || !out->all) { st = CG_ENOMEM; goto done; }
    out->n = n_groups;
    for (int64_t i = 0; i < l.n; i++) {
        int k = group_of ? group_of(l.items[i].name, l.items[i].tensor, ctx) : 0;
        if (k < -1 || k >= n_groups) {
            st = cg_error(CG_EINVAL, "cg_module_param_groups: parameter %s was put in group %d of %d",
                          l.items[i].name, k, n_groups);
            goto done;
        }
        which[i] = k;
    }
    int64_t at = 0;
    for (int g = 0; g < n_groups; g++) {
        out->groups[g] = (cg_param_group){ out->all + at, 0, 1.0f, NAN };
        for (int64_t i = 0; i < l.n; i++)
            if (which[i] == g) out->all[at++] = l.items[i].tensor;
        out->groups[g].n = out->all + at - out->groups[g].params;
    }
done:
    cg_free(which);
    cg_named_list_free(&l);
    if (st != CG_OK) cg_param_groups_free(out);
    return st;
}

static int decay_group(const char *name, const cg_tensor *p, void *ctx) {
    (void)name, (void)ctx;
    return cg_tensor_ndim(p) >= 2 ? 0 : 1;
}

cg_status cg_module_decay_groups(const cg_module *m, cg_param_groups *out) {
    cg_status st = cg_module_param_groups(m, 2, decay_group, NULL, out);
    if (st == CG_OK) out->groups[1].weight_decay = 0.0f;
    return st;
}

void cg_optim_free(cg_optimizer *o) {
    if (!o) return;
    if (o->type->destroy) o->type->destroy(o);
    int64_t slots = o->state ? o->n_params * o->n_state_names : 0;
    for (int64_t i = 0; i < slots; i++) cg_tensor_free(o->state[i]);
    cg_free(o->state);
    cg_free(o->params);
    cg_free(o->groups);
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

/* ---- per-parameter state, by index ---- */
cg_status cg_optim_declare_state(cg_optimizer *o, const char *const *names) {
    if (!o || !names) return cg_error(CG_EINVAL, "cg_optim_declare_state: optimizer and names are required");
    if (o->state_names) return cg_error(CG_EINVAL, "%s: state declared twice", o->type->name);
    int k = 0;
    for (; names[k]; k++) {
        size_t len = strlen(names[k]);
        if (k == 8 || !len || len > 48 || strchr(names[k], '.') || strchr(names[k], ','))
            return cg_error(CG_EINVAL, "%s: state name %d ('%.60s'): want at most 8 names of 1..48 characters "
                            "without '.'", o->type->name, k, names[k]);
        for (int j = 0; j < k; j++)
            if (!strcmp(names[j], names[k]))
                return cg_error(CG_EINVAL, "%s: state name '%s' declared twice", o->type->name, names[k]);
    }
    if (k && o->n_params) {
        o->state = cg_calloc((size_t)o->n_params * (size_t)k, sizeof *o->state);
        if (!o->state) return CG_ENOMEM;
    }
    o->state_names = names;
    o->n_state_names = k;
    return CG_OK;
}

cg_tensor *cg_optim_state(cg_optimizer *o, int64_t i, int k, bool *created) {
    if (created) *created = false;
    if (!o) return CG_FAIL(CG_EINVAL, "cg_optim_state: optimizer is NULL");
    if (i < 0 || i >= o->n_params || k < 0 || k >= o->n_state_names)
        return CG_FAIL(CG_EINVAL, "%s: state %d of parameter %lld: the optimizer has %lld parameters and %d "
                       "buffers each", o->type->name, k, (long long)i, (long long)o->n_params, o->n_state_names);
    cg_tensor **slot = &o->state[i * o->n_state_names + k];
    if (!*slot) {
        const cg_tensor *p = o->params[i];
        *slot = cg_tensor_zeros(p->ndim, p->shape);
        if (!*slot) return NULL;
        if (created) *created = true;
    }
    return *slot;
}

cg_status cg_optim_state_dict(const cg_optimizer *o, cg_named_list *out) {
    if (!out) return cg_error(CG_EINVAL, "cg_optim_state_dict: out is NULL");
    *out = (cg_named_list){ 0 };
    if (!o) return cg_error(CG_EINVAL, "cg_optim_state_dict: optimizer is NULL");
    const int64_t slots = o->state ? o->n_params * o->n_state_names : 0;
    int64_t n = 0;
    for (int64_t s = 0; s < slots; s++) n += o->state[s] != NULL;
    out->items = cg_calloc((size_t)(n ? n : 1), sizeof *out->items);
    if (!out->items) return CG_ENOMEM;
    for (int64_t s = 0; s < slots; s++) {
        if (!o->state[s]) continue;
        char name[80];
        snprintf(name, sizeof name, "%s.%lld", o->state_names[s % o->n_state_names],
                 (long long)(s / o->n_state_names));
        char *copy = cg_strdup(name);
        if (!copy) { cg_named_list_free(out); return CG_ENOMEM; }
        out->items[out->n++] = (cg_named_tensor){ copy, o->state[s] };
    }
    return CG_OK;
}
