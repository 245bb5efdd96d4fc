/* lib/nn/sequential.c — Sequential: children run in the order they were appended; a Conv2d
 * child followed by a ReLU child runs as one fused op (cg_conv2d_relu), and with a MaxPool2d(2)
 * after them, in inference, as cg_conv2d_relu_pool2. */
#include <stdatomic.h>
#include <stdio.h>
#include "cg_internal.h"

static atomic_bool fusion = true;
void cg_set_fusion(bool on) { atomic_store(&fusion, on); }
bool cg_fusion_enabled(void) { return atomic_load(&fusion); }

static cg_tensor *sequential_forward(cg_module *m, cg_tensor *x) {
    const bool fuse = cg_fusion_enabled();
    for (int i = 0; i < m->n_children && x; i++) {
        cg_module *c = m->children[i].module;
        if (fuse && cg_module_is_conv2d(c) && i + 1 < m->n_children && cg_module_is_relu(m->children[i + 1].module)) {
            if (i + 2 < m->n_children && cg_module_maxpool_kernel(m->children[i + 2].module) == 2) {
                x = cg_conv2d_module_forward_relu_pool2(c, x);  /* fused only when nothing is recorded */
                i += 2;
            } else {
                x = cg_conv2d_module_forward_relu(c, x);
                i++;  /* the ReLU ran inside */
            }
        } else {
            x = cg_module_forward(c, x);
        }
    }
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
