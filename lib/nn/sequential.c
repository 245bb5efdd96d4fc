/* lib/nn/sequential.c — Sequential: children run in the order they were appended. */
#include <stdio.h>
#include "cg_internal.h"

static cg_tensor *sequential_forward(cg_module *m, cg_tensor *x) {
    for (int i = 0; i < m->n_children && x; i++) x = cg_module_forward(m->children[i].module, x);
    return x;
}

static const cg_module_type sequential_type = { "Sequential", sequential_forward, NULL };

cg_module *cg_sequential_new(void) { return cg_module_new(&sequential_type, sizeof(cg_module)); }

cg_module *cg_sequential_append(cg_module *seq, const char *name, cg_module *child) {
    if (!child) return NULL;
    if (!seq || seq->type != &sequential_type) {
        cg_module_free(child);
        cg_error(CG_EINVAL, "cg_sequential_append: not a Sequential");
        return NULL;
    }
    char idx[24];
    if (!name) { snprintf(idx, sizeof idx, "%d", seq->n_children); name = idx; }
    return cg_module_add_child(seq, name, child);
}
