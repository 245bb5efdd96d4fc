/* lib/io/checkpoint.c — module + optimizer state in one safetensors file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "cg_internal.h"

#define OPT_PREFIX "optim."

cg_status cg_checkpoint_save(const char *path, const cg_module *m, const cg_optimizer *o,
                             const cg_kv *meta, int64_t n_meta) {
    if (!path || !m) return cg_error(CG_EINVAL, "cg_checkpoint_save: path and module are required");
    if (n_meta < 0 || (n_meta && !meta)) return cg_error(CG_EINVAL, "cg_checkpoint_save: bad metadata");
    cg_named_list sd;
    cg_status st = cg_module_state_dict(m, &sd);
    if (st != CG_OK) return st;
    int64_t n_opt = o ? o->n_state : 0, n = sd.n + n_opt;
    cg_named_tensor *items = cg_calloc((size_t)(n ? n : 1), sizeof *items);
    cg_kv *kv = cg_calloc((size_t)n_meta + 3, sizeof *kv);
    char step[32], lr[32];
    if (!items || !kv) { st = CG_ENOMEM; goto done; }
    for (int64_t i = 0; i < sd.n; i++) items[i] = sd.items[i];
    for (int64_t i = 0; i < n_opt; i++) {
        size_t len = strlen(OPT_PREFIX) + strlen(o->state[i].name) + 1;
        items[sd.n + i].name = cg_malloc(len);
        if (!items[sd.n + i].name) { st = CG_ENOMEM; goto done; }
        snprintf(items[sd.n + i].name, len, OPT_PREFIX "%s", o->state[i].name);
        items[sd.n + i].tensor = o->state[i].tensor;
    }
    for (int64_t i = 0; i < n_meta; i++) kv[i] = meta[i];
    int64_t nk = n_meta;
    if (o) {
        snprintf(step, sizeof step, "%lld", (long long)o->step_count);
        snprintf(lr, sizeof lr, "%.9g", o->lr);
        kv[nk++] = (cg_kv){ OPT_PREFIX "type", o->type->name };
        kv[nk++] = (cg_kv){ OPT_PREFIX "step_count", step };
        kv[nk++] = (cg_kv){ OPT_PREFIX "lr", lr };
    }
    st = cg_safetensors_save(path, items, n, kv, nk);
done:
    if (items) for (int64_t i = 0; i < n_opt; i++) cg_free(items[sd.n + i].name);
    cg_free(items);
    cg_free(kv);
    cg_named_list_free(&sd);
    return st;
}

/* The parameter index i of an optimizer state name "<prefix>.<i>", or -1. */
static int64_t state_param_index(const char *name, int64_t n_params) {
    const char *dot = strrchr(name, '.');
    if (!dot || !dot[1]) return -1;
    char *end;
    errno = 0;
    long long i = strtoll(dot + 1, &end, 10);
    return (errno || *end || i < 0 || i >= n_params) ? -1 : (int64_t)i;
}

/* Checks the optimizer's part of st (metadata, state names and sizes) and, when apply is true,
 * copies it into o. Checking comes first so that a failing restore changes nothing. */
static cg_status restore_optimizer(const cg_safetensors *st, cg_optimizer *o, bool apply) {
    const char *type = cg_safetensors_meta(st, OPT_PREFIX "type");
    const char *step = cg_safetensors_meta(st, OPT_PREFIX "step_count");
    const char *lr = cg_safetensors_meta(st, OPT_PREFIX "lr");
    if (!type || !step || !lr)
        return cg_error(CG_EFORMAT, "checkpoint holds no optimizer state (no optim.type/step_count/lr)");
    if (strcmp(type, o->type->name) != 0)
        return cg_error(CG_EFORMAT, "checkpoint's optimizer is %s, not %s", type, o->type->name);
    char *end;
    long long steps = strtoll(step, &end, 10);
    if (*end || steps < 0) return cg_error(CG_EFORMAT, "checkpoint: optim.step_count '%s' is not a count", step);
    float rate = strtof(lr, &end);
    if (*end || !(rate >= 0)) return cg_error(CG_EFORMAT, "checkpoint: optim.lr '%s' is not a rate", lr);
    /* Check every state tensor before changing anything. */
    size_t plen = strlen(OPT_PREFIX);
    for (int64_t i = 0; i < cg_safetensors_count(st); i++) {
        const cg_st_tensor *t = cg_safetensors_at(st, i);
        if (strncmp(t->name, OPT_PREFIX, plen) != 0) continue;
        int64_t p = state_param_index(t->name + plen, o->n_params);
        if (p < 0) return cg_error(CG_EFORMAT, "checkpoint: optimizer state '%s' names no parameter", t->name);
        if (t->dtype != CG_ST_F32 || t->numel != o->params[p]->numel)
            return cg_error(CG_EFORMAT, "checkpoint: optimizer state '%s' has the wrong type or size", t->name);
    }
    if (!apply) return CG_OK;
    for (int64_t i = 0; i < cg_safetensors_count(st); i++) {
        const cg_st_tensor *t = cg_safetensors_at(st, i);
        if (strncmp(t->name, OPT_PREFIX, plen) != 0) continue;
        const char *name = t->name + plen;
        cg_tensor *s = cg_optim_find_state(o, name);
        if (!s) s = cg_optim_add_state(o, name, o->params[state_param_index(name, o->n_params)]);
        if (!s) return CG_ENOMEM;
        memcpy(s->data, t->data, (size_t)t->nbytes);
    }
    o->step_count = steps;
    o->lr = rate;
    return CG_OK;
}

cg_status cg_checkpoint_restore(const cg_safetensors *st, cg_module *m, cg_optimizer *o) {
    if (!st || !m) return cg_error(CG_EINVAL, "cg_checkpoint_restore: file and module are required");
    /* The optimizer's part is checked before the module is touched: nothing changes on error. */
    cg_status s = o ? restore_optimizer(st, o, false) : CG_OK;
    if (s != CG_OK) return s;
    cg_named_list sd;
    if ((s = cg_module_state_dict(m, &sd)) != CG_OK) return s;
    /* Strict, as PyTorch's load_state_dict(strict=True): a tensor the model does not have is an
     * error too (load_into reports a missing or misshapen one). */
    for (int64_t i = 0; s == CG_OK && i < cg_safetensors_count(st); i++) {
        const char *name = cg_safetensors_at(st, i)->name;
        if (!strncmp(name, OPT_PREFIX, strlen(OPT_PREFIX))) continue;
        bool known = false;
        for (int64_t k = 0; !known && k < sd.n; k++) known = !strcmp(sd.items[k].name, name);
        if (!known) s = cg_error(CG_EFORMAT, "checkpoint has a tensor '%s' that the model does not", name);
    }
    if (s == CG_OK) s = cg_safetensors_load_into(st, sd.items, sd.n);
    cg_named_list_free(&sd);
    if (s == CG_OK && o) s = restore_optimizer(st, o, true);
    return s;
}
