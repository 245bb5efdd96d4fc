/* SPDX-License-Identifier: MIT */
/* lib/nn/sequential.c — Sequential and Residual: children run in the order they were appended;
 * Residual returns x + children(x).
 *
 * Fusion plan: made once, when a child is appended, from the children's layer kinds. A Conv2d
 * followed by a ReLU runs as one op (cg_conv2d_relu); a Conv2d [+ ReLU] followed by a
 * MaxPool2d(2) (kernel 2, stride 2, no padding) runs, when nothing is recorded for backward, as
 * one op with the pool in the conv's epilogue (cg_conv2d_pool2; it falls back to the unfused ops
 * itself when a gradient would be recorded). In inference (nothing recorded, the batch norm in
 * eval mode) a BatchNorm2d right after a Conv2d is folded into the conv's weights, and a ReLU and
 * pool after it fuse as above; otherwise the conv runs alone and a BatchNorm2d + ReLU after it
 * run as one op (cg_batch_norm2d_relu); a Residual followed by a ReLU runs its add and the ReLU as
 * one op (cg_add_relu). The fold changes values by float
 * rounding only; every other fusion is bit-equal to the unfused ops. Values, gradients and the state dict are the same
 * with fusion on or off (cg_config_set(CG_CONFIG_FUSION, 0), read once per forward). Children
 * added with cg_module_add_child instead of cg_sequential_append are not in the plan: such a
 * container runs unfused. */
#include <stdio.h>
#include "cg_internal.h"

/* The plan entry of the first child of a run: how many children the run covers and what fuses. */
typedef struct plan_step { int span; bool bn, relu, pool2, residual_relu; } plan_step;

typedef struct sequential {
    cg_module base;
    plan_step *plan;   /* n_plan entries, one per child (children inside a run: span 1, unused) */
    int n_plan;
} sequential;

static bool is_residual(const cg_module *m);

static void plan_make(sequential *s) {
    const cg_module *m = &s->base;
    for (int i = 0; i < m->n_children; i++) {
        plan_step st = { 1, false, false, false, false };
        if (is_residual(m->children[i].module) && i + 1 < m->n_children &&
            cg_module_is_relu(m->children[i + 1].module)) {
            st.residual_relu = true;
            st.span = 2;
        }
        if (cg_module_is_conv2d(m->children[i].module)) {
            int j = i + 1;
            if (j < m->n_children && cg_module_is_batch_norm2d(m->children[j].module)) { st.bn = true; j++; }
            if (j < m->n_children && cg_module_is_relu(m->children[j].module)) { st.relu = true; j++; }
            if (j < m->n_children && cg_module_is_pool2x2(m->children[j].module)) { st.pool2 = true; j++; }
            st.span = j - i;
        }
        s->plan[i] = st;
    }
    s->n_plan = m->n_children;
}

static cg_tensor *run_children(cg_module *m, cg_tensor *x) {
    sequential *s = (sequential *)m;
    const bool fuse = cg_config_snapshot().fusion && s->n_plan == m->n_children;
    for (int i = 0; i < m->n_children && x;) {
        cg_module *c = m->children[i].module;
        plan_step st = fuse ? s->plan[i] : (plan_step){ 1, false, false, false, false };
        if (st.residual_relu) {  /* relu(x + children(x)) as one op */
            x = cg_add_relu(x, run_children(c, x));
            i += 2;
            continue;
        }
        if (st.bn) {   /* folded only in inference; else conv and batch norm run as they are */
            bool folded;
            cg_tensor *y = cg_conv2d_module_forward_bn(c, m->children[i + 1].module, x, st.relu, st.pool2, &folded);
            if (folded) { x = y; i += st.span; continue; }
            x = cg_module_forward(c, x);
            if (st.relu) {  /* batch norm + relu as one op; a pool after them runs on its own */
                x = cg_batch_norm2d_module_forward_relu(m->children[i + 1].module, x);
                i += 3;
            } else {
                x = cg_module_forward(m->children[i + 1].module, x);
                i += 2;
            }
            continue;
        }
        x = st.span > 1 ? cg_conv2d_module_forward_fused(c, x, st.relu, st.pool2) : cg_module_forward(c, x);
        i += st.span;
    }
    return x;
}

static cg_tensor *residual_forward(cg_module *m, cg_tensor *x) { return cg_add(x, run_children(m, x)); }

static void sequential_destroy(cg_module *m) { cg_free(((sequential *)m)->plan); }

static const cg_module_type sequential_type = { "Sequential", run_children, sequential_destroy };
static const cg_module_type residual_type = { "Residual", residual_forward, sequential_destroy };

static cg_module *container_new(const cg_module_type *t) {
    return cg_module_new(t, sizeof(sequential));
}
cg_module *cg_sequential_new(void) { return container_new(&sequential_type); }
static bool is_residual(const cg_module *m) { return m && m->type == &residual_type; }
cg_module *cg_residual_new(void) { return container_new(&residual_type); }

cg_module *cg_sequential_append(cg_module *seq, const char *name, cg_module *child) {
    if (!child) return NULL;
    if (!seq || (seq->type != &sequential_type && seq->type != &residual_type)) {
        cg_module_free(child);
        cg_error(CG_EINVAL, "cg_sequential_append: not a Sequential or Residual");
        return NULL;
    }
    sequential *s = (sequential *)seq;
    plan_step *plan = cg_malloc((size_t)(seq->n_children + 1) * sizeof *plan);
    if (!plan) { cg_module_free(child); return NULL; }
    char idx[24];
    if (!name) { snprintf(idx, sizeof idx, "%d", seq->n_children); name = idx; }
    if (!cg_module_add_child(seq, name, child)) { cg_free(plan); return NULL; }
    cg_free(s->plan);
    s->plan = plan;
    plan_make(s);
    return child;
}
