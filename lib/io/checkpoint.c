/* SPDX-License-Identifier: MIT */
/* lib/io/checkpoint.c — module + optimizer state in one safetensors file. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "cg_internal.h"

#define OPT_PREFIX CG_NS_OPTIM "."   /* the run's namespaces: cg_internal.h */
#define SPEC_KEY CG_NS_NET   /* the net's spec (cg_module_spec): the key mnist-train has always written */

cg_status cg_checkpoint_save(const char *path, const cg_module *m, const cg_optimizer *o,
                             const cg_kv *meta, int64_t n_meta) {
    if (!path || !m) return cg_error(CG_EINVAL, "cg_checkpoint_save: path and module are required");
    if (n_meta < 0 || (n_meta && !meta)) return cg_error(CG_EINVAL, "cg_checkpoint_save: bad metadata");
    /* With an optimizer, the file holds its state under "optim.": a layer of that name would mix with it. */
    if (o && cg_module_check_names(m) != CG_OK) return CG_EINVAL;
    /* The net's spec, unless the caller gives one: a net that cannot write its spec (a module type
     * without a to_spec hook) is saved with its weights only, and the note says why. */
    char *spec = NULL, note[512] = "";
    bool has_spec = false;
    for (int64_t i = 0; i < n_meta; i++) has_spec |= meta[i].key && !strcmp(meta[i].key, SPEC_KEY);
    cg_status ss = has_spec ? CG_OK : cg_module_spec(m, &spec);
    if (ss == CG_ENOMEM) return ss;
    if (ss != CG_OK) {
        char why[400];   /* copied: snprintf must not read the buffer it is given */
        snprintf(why, sizeof why, "%s", cg_last_error());
        snprintf(note, sizeof note, "cg_checkpoint_save: saved the weights only, without the net's spec: %s", why);
    }
    cg_named_list sd, os = { 0 };
    cg_status st = cg_module_state_dict(m, &sd);
    if (st != CG_OK) { cg_module_spec_free(spec); return st; }
    if (o && (st = cg_optim_state_dict(o, &os)) != CG_OK) {
        cg_named_list_free(&sd);
        cg_module_spec_free(spec);
        return st;
    }
    int64_t n = sd.n + os.n;
    cg_named_tensor *items = cg_calloc((size_t)(n ? n : 1), sizeof *items);
    cg_kv *kv = cg_calloc((size_t)n_meta + 4, sizeof *kv);
    char step[32], lr[32];
    if (!items || !kv) { st = CG_ENOMEM; goto done; }
    for (int64_t i = 0; i < sd.n; i++) items[i] = sd.items[i];
    for (int64_t i = 0; i < os.n; i++) {
        size_t len = strlen(OPT_PREFIX) + strlen(os.items[i].name) + 1;
        char *name = cg_malloc(len);
        if (!name) { st = CG_ENOMEM; goto done; }
        snprintf(name, len, OPT_PREFIX "%s", os.items[i].name);
        items[sd.n + i].name = name;
        items[sd.n + i].tensor = os.items[i].tensor;
    }
    for (int64_t i = 0; i < n_meta; i++) kv[i] = meta[i];
    int64_t nk = n_meta;
    if (spec) kv[nk++] = (cg_kv){ SPEC_KEY, spec };
    if (o) {
        snprintf(step, sizeof step, "%lld", (long long)o->step_count);
        snprintf(lr, sizeof lr, "%.9g", o->lr);
        kv[nk++] = (cg_kv){ OPT_PREFIX "type", o->type->name };
        kv[nk++] = (cg_kv){ OPT_PREFIX "step_count", step };
        kv[nk++] = (cg_kv){ OPT_PREFIX "lr", lr };
    }
    st = cg_safetensors_save(path, items, n, kv, nk);
done:
    if (items) for (int64_t i = 0; i < os.n; i++) cg_free((char *)items[sd.n + i].name);
    cg_free(items);
    cg_free(kv);
    cg_named_list_free(&sd);
    cg_named_list_free(&os);
    cg_module_spec_free(spec);
    if (st == CG_OK) {
        if (note[0]) cg_error(CG_OK, "%s", note);
        else cg_clear_error();
    }
    return st;
}

/* ---- strict metadata numbers ---- */
static cg_status meta_value(const cg_safetensors *st, const char *key, const char **s) {
    if (!st || !key) return cg_error(CG_EINVAL, "cg_checkpoint_meta: file and key are required");
    *s = cg_safetensors_meta(st, key);
    if (!*s) return cg_error(CG_EFORMAT, "checkpoint metadata has no '%s'", key);
    return CG_OK;
}

/* A plain decimal: optional '-' (when allowed), then "0" or digits without a leading zero. */
static bool plain_decimal(const char *s, bool sign_ok) {
    if (sign_ok && *s == '-') s++;
    if (!*s || (s[0] == '0' && s[1])) return false;
    for (; *s; s++) if (*s < '0' || *s > '9') return false;
    return true;
}

/* The value-level parsers (cg_internal.h): run.c reads its keys through them too. */
cg_status cg_meta_parse_int(const char *key, const char *s, int64_t lo, int64_t hi, int64_t *v) {
    errno = 0;
    long long x = plain_decimal(s, lo < 0) ? strtoll(s, NULL, 10) : 0;
    if (!plain_decimal(s, lo < 0) || errno == ERANGE || x < lo || x > hi)
        return cg_error(CG_EFORMAT, "checkpoint metadata '%s' = '%.40s' is not a whole number in %lld..%lld", key, s,
                        (long long)lo, (long long)hi);
    *v = (int64_t)x;
    return CG_OK;
}

cg_status cg_meta_parse_u64(const char *key, const char *s, uint64_t *v) {
    errno = 0;
    unsigned long long x = plain_decimal(s, false) ? strtoull(s, NULL, 10) : 0;
    if (!plain_decimal(s, false) || errno == ERANGE)
        return cg_error(CG_EFORMAT, "checkpoint metadata '%s' = '%.40s' is not a whole number in 0..%llu", key, s,
                        (unsigned long long)UINT64_MAX);
    *v = (uint64_t)x;
    return CG_OK;
}

cg_status cg_meta_parse_f64(const char *key, const char *s, double lo, double hi, double *v) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    /* strtod skips leading white space and reads "nan"/"inf": both are refused here. */
    if (!*s || *end || end == s || s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r') || errno == ERANGE ||
        !isfinite(x) || x < lo || x > hi)
        return cg_error(CG_EFORMAT, "checkpoint metadata '%s' = '%.40s' is not a finite number in %g..%g", key, s,
                        lo, hi);
    *v = x;
    return CG_OK;
}

cg_status cg_checkpoint_meta_int(const cg_safetensors *st, const char *key, int64_t lo, int64_t hi, int64_t *v) {
    const char *s;
    cg_status r = meta_value(st, key, &s);
    return r != CG_OK ? r : cg_meta_parse_int(key, s, lo, hi, v);
}

cg_status cg_checkpoint_meta_u64(const cg_safetensors *st, const char *key, uint64_t *v) {
    const char *s;
    cg_status r = meta_value(st, key, &s);
    return r != CG_OK ? r : cg_meta_parse_u64(key, s, v);
}

cg_status cg_checkpoint_meta_f64(const cg_safetensors *st, const char *key, double lo, double hi, double *v) {
    const char *s;
    cg_status r = meta_value(st, key, &s);
    return r != CG_OK ? r : cg_meta_parse_f64(key, s, lo, hi, v);
}

/* Splits an optimizer state name "<prefix>.<i>" (without "optim."): the prefix's length and the
 * parameter index i in 0..n_params-1, written as a plain decimal; false otherwise. */
static bool state_name_split(const char *name, int64_t n_params, size_t *plen, int64_t *index) {
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || !plain_decimal(dot + 1, false)) return false;
    errno = 0;
    long long i = strtoll(dot + 1, NULL, 10);
    if (errno || i >= n_params) return false;
    *plen = (size_t)(dot - name);
    *index = (int64_t)i;
    return true;
}

/* The id of the buffer named name[0..len) among o's declared state, or -1. */
static int state_id(const cg_optimizer *o, const char *name, size_t len) {
    for (int k = 0; k < o->n_state_names; k++)
        if (strlen(o->state_names[k]) == len && !strncmp(o->state_names[k], name, len)) return k;
    return -1;
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
        return cg_error(CG_EFORMAT, "checkpoint's optimizer (optim.type) is %s, not %s", type, o->type->name);
    int64_t steps;
    double rate;
    /* INT64_MAX - 1: the next step must still be countable. FLT_MAX: lr is a float. */
    cg_status r = cg_checkpoint_meta_int(st, OPT_PREFIX "step_count", 0, INT64_MAX - 1, &steps);
    if (r == CG_OK) r = cg_checkpoint_meta_f64(st, OPT_PREFIX "lr", 0.0, FLT_MAX, &rate);
    if (r != CG_OK) return r;
    /* Check every state tensor before changing anything. */
    size_t plen = strlen(OPT_PREFIX);
    int64_t n_state = 0;
    for (int64_t i = 0; i < cg_safetensors_count(st); i++) {
        const cg_st_tensor *t = cg_safetensors_at(st, i);
        if (strncmp(t->name, OPT_PREFIX, plen) != 0) continue;
        size_t len;
        int64_t p;
        if (!state_name_split(t->name + plen, o->n_params, &len, &p))
            return cg_error(CG_EFORMAT, "checkpoint: optimizer state '%s' names no parameter (want '<state>.<i>', "
                            "i in 0..%lld written plainly)", t->name, (long long)o->n_params - 1);
        if (state_id(o, t->name + plen, len) < 0)
            return cg_error(CG_EFORMAT, "checkpoint: optimizer state '%s' is not a state of %s", t->name,
                            o->type->name);
        const cg_tensor *q = o->params[p];
        bool same = t->dtype == CG_ST_F32 && t->ndim == q->ndim;
        for (int d = 0; same && d < q->ndim; d++) same = t->shape[d] == q->shape[d];
        if (!same)
            return cg_error(CG_EFORMAT, "checkpoint: optimizer state '%s' has the wrong type or shape "
                            "(want F32 shaped like parameter %lld)", t->name, (long long)p);
        /* Values: finite, and >= 0 where the optimizer keeps squares (one bad value would make
         * every later step of that parameter NaN). */
        bool nonneg = false;
        for (const char *const *q = o->type->nonnegative_state; q && *q && !nonneg; q++)
            nonneg = strlen(*q) == len && !strncmp(*q, t->name + plen, len);
        for (int64_t e = 0; e < t->numel; e++) {
            float x;
            memcpy(&x, (const char *)t->data + 4 * e, 4);
            if (!isfinite(x) || (nonneg && x < 0))
                return cg_error(CG_EFORMAT, "checkpoint: optimizer state '%s' holds %g at element %lld (want a "
                                "finite number%s)", t->name, (double)x, (long long)e, nonneg ? " >= 0" : "");
        }
        n_state++;
    }
    if (steps == 0 && n_state > 0)
        return cg_error(CG_EFORMAT, "checkpoint: optim.step_count is 0 but the file holds %lld optimizer state tensors",
                        (long long)n_state);
    if (steps > 0)
        for (int k = 0; k < o->n_state_names; k++)
            for (int64_t p = 0; p < o->n_params; p++) {
                char name[96];
                snprintf(name, sizeof name, OPT_PREFIX "%s.%lld", o->state_names[k], (long long)p);
                if (!cg_safetensors_find(st, name))
                    return cg_error(CG_EFORMAT, "checkpoint: optimizer state '%s' is missing (%s after %lld steps "
                                    "keeps '%s.<i>' for every parameter)", name, o->type->name, (long long)steps,
                                    o->state_names[k]);
            }
    if (!apply) return CG_OK;
    for (int64_t i = 0; i < cg_safetensors_count(st); i++) {
        const cg_st_tensor *t = cg_safetensors_at(st, i);
        if (strncmp(t->name, OPT_PREFIX, plen) != 0) continue;
        const char *name = t->name + plen;
        size_t len;
        int64_t p;
        state_name_split(name, o->n_params, &len, &p);
        cg_tensor *s = cg_optim_state(o, p, state_id(o, name, len), NULL);
        if (!s) return CG_ENOMEM;
        memcpy(s->data, t->data, (size_t)t->nbytes);
    }
    o->step_count = steps;
    o->lr = (float)rate;
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
