/* SPDX-License-Identifier: MIT */
/* lib/nn/spec_write.c — a net's spec written back from its modules (cg_module_spec, nn.h).
 *
 * The writer walks the module tree depth first. Each module writes itself through its type's
 * to_spec hook (the leaves in their own files; Sequential and Residual in sequential.c); a
 * container writes its children through cg_spec_children, which keeps the dotted path of the
 * module being written, so that an error names the layer as the state dict does ("layer 2.1
 * (MyLayer) has no spec"). The first error stops the walk; the message is the one the hook set,
 * prefixed once with the path and type of the deepest layer that failed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "spec_write.h"

#define PATH_MAX_LEN 256

struct cg_spec_writer {
    char *buf;
    size_t len, cap;
    cg_status st;            /* the first failure, already named: later calls do nothing */
    char path[PATH_MAX_LEN]; /* the module being written: "" for the net, "3", "2.1" */
    bool list_ok;            /* the module being written may be a bare list (the net, a branch) */
    bool list_taken;         /* ... and it was written as one */
};

const char *cg_spec_float(char buf[CG_SPEC_NUM_LEN], float v) {
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, CG_SPEC_NUM_LEN, "%.*g", prec, (double)v);
        if ((float)strtod(buf, NULL) == v) break;
    }
    return buf;
}

bool cg_spec_take_list(cg_spec_writer *w) {
    if (!w || !w->list_ok) return false;
    w->list_taken = true;
    return true;
}

static cg_status grow(cg_spec_writer *w, size_t need) {
    if (w->len + need + 1 <= w->cap) return CG_OK;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + need + 1) cap *= 2;
    char *nb = cg_malloc(cap);
    if (!nb) return CG_ENOMEM;
    if (w->len) memcpy(nb, w->buf, w->len);
    nb[w->len] = '\0';
    cg_free(w->buf);
    w->buf = nb;
    w->cap = cap;
    return CG_OK;
}

cg_status cg_spec_printf(cg_spec_writer *w, const char *fmt, ...) {
    if (!w || !fmt) return cg_error(CG_EINVAL, "cg_spec_printf: writer and format are required");
    if (w->st != CG_OK) return w->st;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return cg_error(CG_EINVAL, "cg_spec_printf: bad format");
    if (grow(w, (size_t)n) != CG_OK) return w->st = CG_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
    va_end(ap);
    w->len += (size_t)n;
    return CG_OK;
}

/* A name the grammar can say: a letter or '_' first, then letters, digits, '_'; at most 32. */
static bool spec_name_ok(const char *s) {
    size_t n = strlen(s);
    if (!n || n > 32) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && (i == 0 || c < '0' || c > '9')) return false;
    }
    return true;
}

/* "layer 2.1 (Type)" or "the net (Type)" */
static void who(const cg_spec_writer *w, const cg_module *m, char *out, size_t n) {
    if (w->path[0]) snprintf(out, n, "layer %s (%s)", w->path, m->type->name);
    else snprintf(out, n, "the net (%s)", m->type->name);
}

/* One module, through its hook; list_ok: it may be written as a bare list. */
static cg_status write_module(cg_spec_writer *w, const cg_module *m, bool list_ok) {
    char w_[PATH_MAX_LEN + 64];
    who(w, m, w_, sizeof w_);
    if (!m->type->to_spec)
        return w->st = cg_error(CG_EINVAL, "cg_module_spec: %s has no spec (its cg_module_type has no to_spec "
                                "hook); a checkpoint of this net holds the weights only", w_);
    bool saved_ok = w->list_ok, saved_taken = w->list_taken;
    w->list_ok = list_ok;
    w->list_taken = false;
    cg_status st = m->type->to_spec(m, w);
    bool taken = w->list_taken;
    w->list_ok = saved_ok;
    w->list_taken = saved_taken;
    if (st != CG_OK && w->st == CG_OK) {   /* the hook's own error: name the layer once */
        char why[400];
        snprintf(why, sizeof why, "%s", cg_last_error());
        return w->st = cg_error(st, "cg_module_spec: %s: %s", w_, why);
    }
    if (st != CG_OK) return st;
    if (list_ok && !taken)
        return w->st = cg_error(CG_EINVAL, "cg_module_spec: %s is not a Sequential: a spec describes a Sequential "
                                "of layers (append this one to cg_sequential_new())", w_);
    return CG_OK;
}

cg_status cg_spec_children(cg_spec_writer *w, const cg_module *m, const char *sep) {
    if (!w || !m || !sep) return cg_error(CG_EINVAL, "cg_spec_children: writer, module and separator are required");
    if (w->st != CG_OK) return w->st;
    const bool branches = strchr(sep, '|') != NULL;   /* each child a branch: a bare list */
    size_t plen = strlen(w->path);
    for (int i = 0; i < m->n_children; i++) {
        const char *name = m->children[i].name;
        char pos[24];
        snprintf(pos, sizeof pos, "%d", i);
        bool named = strcmp(name, pos) != 0;
        int k = snprintf(w->path + plen, sizeof w->path - plen, "%s%s", plen ? "." : "", name);
        if (k < 0 || (size_t)k >= sizeof w->path - plen) {
            w->path[plen] = '\0';
            return w->st = cg_error(CG_EINVAL, "cg_module_spec: layer %s.%s: the path is too long", w->path, name);
        }
        cg_status st = CG_OK;
        if (named && (branches || !spec_name_ok(name)))
            st = w->st = cg_error(CG_EINVAL, "cg_module_spec: layer %s (%s): the spec cannot name it '%s' at position "
                                  "%d (%s)", w->path, m->children[i].module->type->name, name, i,
                                  branches ? "a branch is named by its position"
                                           : "a name is a letter or '_', then letters, digits or '_', at most 32");
        if (st == CG_OK && i > 0) st = cg_spec_printf(w, "%s", sep);
        if (st == CG_OK && named) st = cg_spec_printf(w, "%s=", name);
        if (st == CG_OK) st = write_module(w, m->children[i].module, branches);
        w->path[plen] = '\0';
        if (st != CG_OK) return st;
    }
    return CG_OK;
}

cg_status cg_module_spec(const cg_module *m, char **out) {
    if (!out) return cg_error(CG_EINVAL, "cg_module_spec: out is NULL");
    *out = NULL;
    if (!m) return cg_error(CG_EINVAL, "cg_module_spec: module is NULL");
    cg_spec_writer w = { 0 };
    cg_status st = grow(&w, 0);
    if (st == CG_OK) st = write_module(&w, m, true);
    if (st == CG_OK && w.len == 0) st = cg_error(CG_EINVAL, "cg_module_spec: the net (%s) has no layers", m->type->name);
    if (st != CG_OK) { cg_free(w.buf); return st; }
    *out = w.buf;
    return CG_OK;
}

void cg_module_spec_free(char *spec) { cg_free(spec); }
