/* SPDX-License-Identifier: MIT */
/* lib/nn/module.c — the Module base: parameters, buffers, children, traversal, train/eval. */
#include <stdio.h>
#include "cg_internal.h"

cg_module *cg_module_new(const cg_module_type *type, size_t size) {
    if (!type || !type->forward) return (cg_module *)CG_FAIL(CG_EINVAL, "cg_module_new: type needs a forward");
    if (size < sizeof(cg_module))
        return (cg_module *)CG_FAIL(CG_EINVAL, "cg_module_new: size %zu is smaller than cg_module", size);
    cg_module *m = cg_calloc(1, size);
    if (!m) return NULL;
    m->type = type;
    m->training = true;
    return m;
}

static void free_named(cg_named_tensor *v, int n) {
    for (int i = 0; i < n; i++) { cg_free((char *)v[i].name); cg_tensor_free(v[i].tensor); }
    cg_free(v);
}

void cg_module_free(cg_module *m) {
    if (!m) return;
    for (int i = 0; i < m->n_children; i++) {
        cg_free(m->children[i].name);
        cg_module_free(m->children[i].module);
    }
    cg_free(m->children);
    if (m->type->destroy) m->type->destroy(m);
    free_named(m->params, m->n_params);
    free_named(m->buffers, m->n_buffers);
    cg_free(m);
}

/* Append (name, t) to a named array; takes t even on failure. */
static cg_tensor *add_named(cg_named_tensor **v, int *n, const char *what, const char *name, cg_tensor *t) {
    if (!t) return NULL;
    if (!name || !*name || strchr(name, '.')) {
        cg_tensor_free(t);
        return CG_FAIL(CG_EINVAL, "%s: name \"%s\" must be non-empty and have no '.'", what, name ? name : "");
    }
    for (int i = 0; i < *n; i++)
        if (strcmp((*v)[i].name, name) == 0) {
            cg_tensor_free(t);
            return CG_FAIL(CG_EINVAL, "%s: \"%s\" is already registered", what, name);
        }
    cg_named_tensor *nv = cg_malloc((size_t)(*n + 1) * sizeof *nv);
    char *nm = cg_strdup(name);
    if (!nv || !nm) { cg_free(nv); cg_free(nm); cg_tensor_free(t); return NULL; }
    if (*n) memcpy(nv, *v, (size_t)*n * sizeof *nv);
    nv[*n] = (cg_named_tensor){ nm, t };
    cg_free(*v);
    *v = nv;
    (*n)++;
    return t;
}

cg_tensor *cg_module_add_parameter(cg_module *m, const char *name, cg_tensor *p) {
    if (!m) { cg_tensor_free(p); return CG_FAIL(CG_EINVAL, "cg_module_add_parameter: module is NULL"); }
    if (p) cg_tensor_set_requires_grad(p, true);
    return add_named(&m->params, &m->n_params, "cg_module_add_parameter", name, p);
}

cg_tensor *cg_module_add_buffer(cg_module *m, const char *name, cg_tensor *b) {
    if (!m) { cg_tensor_free(b); return CG_FAIL(CG_EINVAL, "cg_module_add_buffer: module is NULL"); }
    return add_named(&m->buffers, &m->n_buffers, "cg_module_add_buffer", name, b);
}

cg_module *cg_module_add_child(cg_module *m, const char *name, cg_module *child) {
    if (!child) return NULL;
    if (!m || !name || !*name || strchr(name, '.')) {
        cg_module_free(child);
        cg_error(CG_EINVAL, "cg_module_add_child: need a module and a name without '.'");
        return NULL;
    }
    for (int i = 0; i < m->n_children; i++)
        if (strcmp(m->children[i].name, name) == 0) {
            cg_module_free(child);
            cg_error(CG_EINVAL, "cg_module_add_child: \"%s\" is already registered", name);
            return NULL;
        }
    cg_named_module *nc = cg_malloc((size_t)(m->n_children + 1) * sizeof *nc);
    char *nm = cg_strdup(name);
    if (!nc || !nm) { cg_free(nc); cg_free(nm); cg_module_free(child); return NULL; }
    if (m->n_children) memcpy(nc, m->children, (size_t)m->n_children * sizeof *nc);
    nc[m->n_children] = (cg_named_module){ nm, child };
    cg_free(m->children);
    m->children = nc;
    m->n_children++;
    child->training = m->training;
    return child;
}

cg_tensor *cg_module_forward(cg_module *m, cg_tensor *x) {
    if (!m) return CG_FAIL(CG_EINVAL, "cg_module_forward: module is NULL");
    if (!x) return NULL;
    return m->type->forward(m, x);
}

void cg_module_train(cg_module *m, bool training) {
    if (!m) return;
    m->training = training;
    for (int i = 0; i < m->n_children; i++) cg_module_train(m->children[i].module, training);
}

void cg_module_set_rng(cg_module *m, cg_rng *rng) {
    if (!m) return;
    if (m->type->set_rng) m->type->set_rng(m, rng);
    for (int i = 0; i < m->n_children; i++) cg_module_set_rng(m->children[i].module, rng);
}

/* ---- the run's namespaces (cg_internal.h): the one list ---------------------- */
static const char *const run_namespaces[] = CG_NS_LIST;
#define N_NAMESPACES (sizeof run_namespaces / sizeof run_namespaces[0])

const char *cg_run_namespace(const char *name, size_t len) {
    for (size_t k = 0; name && k < N_NAMESPACES; k++)
        if (strlen(run_namespaces[k]) == len && !strncmp(name, run_namespaces[k], len)) return run_namespaces[k];
    return NULL;
}

void cg_run_namespaces_text(char *buf, size_t cap) {
    size_t k = 0;
    if (cap) buf[0] = '\0';
    for (size_t i = 0; i < N_NAMESPACES && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%s.", i ? ", " : "", run_namespaces[i]);
}

cg_status cg_module_check_names(const cg_module *m) {
    if (!m) return cg_error(CG_EINVAL, "cg_module_check_names: module is NULL");
    const char *bad = NULL, *what = NULL;
    for (int i = 0; !bad && i < m->n_children; i++)
        if (cg_run_namespace(m->children[i].name, strlen(m->children[i].name))) bad = m->children[i].name, what = "layer";
    for (int i = 0; !bad && i < m->n_params; i++)
        if (cg_run_namespace(m->params[i].name, strlen(m->params[i].name))) bad = m->params[i].name, what = "parameter";
    for (int i = 0; !bad && i < m->n_buffers; i++)
        if (cg_run_namespace(m->buffers[i].name, strlen(m->buffers[i].name))) bad = m->buffers[i].name, what = "buffer";
    if (!bad) return CG_OK;
    char list[160];
    cg_run_namespaces_text(list, sizeof list);
    return cg_error(CG_EINVAL, "%s name '%s' is reserved: a run's checkpoint keeps its own state under %s (rename "
                    "the %s)", what, bad, list, what);
}

/* ---- traversal ----------------------------------------------------------- */
typedef struct collector { cg_named_list *out; int64_t cap; bool buffers; } collector;

static cg_status push(collector *c, const char *prefix, const char *name, cg_tensor *t) {
    cg_named_list *l = c->out;
    if (l->n == c->cap) {
        int64_t cap = c->cap ? 2 * c->cap : 16;
        cg_named_tensor *nv = cg_malloc((size_t)cap * sizeof *nv);
        if (!nv) return CG_ENOMEM;
        if (l->n) memcpy(nv, l->items, (size_t)l->n * sizeof *nv);
        cg_free(l->items);
        l->items = nv;
        c->cap = cap;
    }
    size_t len = strlen(prefix) + strlen(name) + 1;
    char *full = cg_malloc(len);
    if (!full) return CG_ENOMEM;
    snprintf(full, len, "%s%s", prefix, name);
    l->items[l->n++] = (cg_named_tensor){ full, t };
    return CG_OK;
}

static cg_status collect(collector *c, const cg_module *m, const char *prefix) {
    cg_status st;
    for (int i = 0; i < m->n_params; i++)
        if ((st = push(c, prefix, m->params[i].name, m->params[i].tensor)) != CG_OK) return st;
    if (c->buffers)
        for (int i = 0; i < m->n_buffers; i++)
            if ((st = push(c, prefix, m->buffers[i].name, m->buffers[i].tensor)) != CG_OK) return st;
    for (int i = 0; i < m->n_children; i++) {
        char sub[256];
        int k = snprintf(sub, sizeof sub, "%s%s.", prefix, m->children[i].name);
        if (k < 0 || (size_t)k >= sizeof sub) return cg_error(CG_EINVAL, "module names nest too deep");
        if ((st = collect(c, m->children[i].module, sub)) != CG_OK) return st;
    }
    return CG_OK;
}

static cg_status gather(const cg_module *m, cg_named_list *out, bool buffers) {
    if (!out) return cg_error(CG_EINVAL, "cg_module_parameters: out is NULL");
    *out = (cg_named_list){ 0 };
    if (!m) return cg_error(CG_EINVAL, "cg_module_parameters: module is NULL");
    collector c = { out, 0, buffers };
    cg_status st = collect(&c, m, "");
    if (st != CG_OK) cg_named_list_free(out);
    return st;
}

cg_status cg_module_parameters(const cg_module *m, cg_named_list *out) { return gather(m, out, false); }
cg_status cg_module_state_dict(const cg_module *m, cg_named_list *out) { return gather(m, out, true); }

void cg_named_list_free(cg_named_list *l) {
    if (!l) return;
    for (int64_t i = 0; i < l->n; i++) cg_free((char *)l->items[i].name);
    cg_free(l->items);
    *l = (cg_named_list){ 0 };
}

cg_tensor *cg_module_find(const cg_module *m, const char *dotted) {
    if (!m || !dotted) return NULL;
    const char *dot = strchr(dotted, '.');
    if (!dot) {
        for (int i = 0; i < m->n_params; i++) if (strcmp(m->params[i].name, dotted) == 0) return m->params[i].tensor;
        for (int i = 0; i < m->n_buffers; i++) if (strcmp(m->buffers[i].name, dotted) == 0) return m->buffers[i].tensor;
        return NULL;
    }
    size_t len = (size_t)(dot - dotted);
    for (int i = 0; i < m->n_children; i++)
        if (strlen(m->children[i].name) == len && strncmp(m->children[i].name, dotted, len) == 0)
            return cg_module_find(m->children[i].module, dot + 1);
    return NULL;
}

int64_t cg_module_num_parameters(const cg_module *m) {
    if (!m) return 0;
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++) n += m->params[i].tensor->numel;
    for (int i = 0; i < m->n_children; i++) n += cg_module_num_parameters(m->children[i].module);
    return n;
}

void cg_module_zero_grad(cg_module *m) {
    if (!m) return;
    for (int i = 0; i < m->n_params; i++) cg_tensor_zero_grad(m->params[i].tensor);
    for (int i = 0; i < m->n_children; i++) cg_module_zero_grad(m->children[i].module);
}
