/* SPDX-License-Identifier: MIT */
/* lib/nn/sequential.c — Sequential and Residual: children run in the order they were appended;
 * Residual returns x + children(x).
 *
 * Fusion plan (cg_fusion, nn.h): made once, when a child is appended, from the children's types
 * alone. A producer (a child whose type's fusion accepts stages: Conv2d, Residual) and the
 * epilogue modules right after it, each of a stage the producer accepts, in stage order
 * (BatchNorm2d, ReLU, MaxPool2d(2)), each stage once, form a run. A run calls the producer's
 * forward_ep with the epilogue its members write (as_epilogue, in place of their forwards); the
 * producer decides per call what fuses in the current mode (cg_conv2d_ex: the ReLU always, the
 * batch-norm fold and the pool in inference). Nothing here knows a layer kind, and the plan does
 * not depend on the mode, so cg_module_train needs no new plan. The fold changes values by float
 * rounding only; every other fusion is bit-equal to the unfused ops. Values, gradients and the
 * state dict are the same with fusion on or off (cg_config_set(CG_CONFIG_FUSION, ..), read once per forward). Children
 * added with cg_module_add_child instead of cg_sequential_append are not in the plan: such a
 * container runs unfused.
 *
 * Residual is a producer of one stage, ReLU: relu(x + children(x)) as one op (add_relu). The add
 * stays the Residual's own epilogue rather than joining a conv's: it comes after the whole block,
 * which usually ends in a BatchNorm2d that cannot fold in training. */
#include <stdio.h>
#include "spec_write.h"


typedef struct sequential {
    cg_module base;
    int *span;   /* n_plan entries, one per child: how many children the run starting there covers
                  * (1: the child alone; children inside a run: 1, unused) */
    int n_plan;
} sequential;

static const cg_fusion *fusion_of(const cg_module *m) { return m ? m->type->fuse : NULL; }

static void plan_make(sequential *s) {
    const cg_module *m = &s->base;
    for (int i = 0; i < m->n_children; i++) {
        const cg_fusion *f = fusion_of(m->children[i].module);
        int j = i + 1;
        if (f && f->accepts && f->forward_ep) {
            unsigned last = 0;
            for (; j < m->n_children; j++) {
                const cg_fusion *e = fusion_of(m->children[j].module);
                if (!e || !e->stage || !e->as_epilogue) break;
                unsigned st = (unsigned)e->stage(m->children[j].module);
                /* one known stage, accepted, after the stages before it */
                if (st != CG_FUSE_BN && st != CG_FUSE_RELU && st != CG_FUSE_POOL2) break;
                if (!(st & f->accepts) || st <= last) break;
                last = st;
            }
        }
        s->span[i] = j - i;
    }
    s->n_plan = m->n_children;
}

static cg_tensor *run_children(cg_module *m, cg_tensor *x) {
    sequential *s = (sequential *)m;
    const bool fuse = cg_config_snapshot().fusion && s->n_plan == m->n_children;
    for (int i = 0; i < m->n_children && x;) {
        cg_module *c = m->children[i].module;
        const int span = fuse ? s->span[i] : 1;
        if (span == 1) { x = cg_module_forward(c, x); i++; continue; }
        cg_conv_epilogue ep = { 0 };
        for (int k = 1; k < span; k++) {
            cg_module *e = m->children[i + k].module;
            e->type->fuse->as_epilogue(e, &ep);
        }
        x = c->type->fuse->forward_ep(c, x, &ep);
        i += span;
    }
    return x;
}

static cg_tensor *residual_forward_ep(cg_module *m, cg_tensor *x, const cg_conv_epilogue *ep) {
    cg_tensor *y = run_children(m, x);
    return ep && ep->relu ? cg_add_relu(x, y) : cg_add(x, y);
}
static cg_tensor *residual_forward(cg_module *m, cg_tensor *x) { return residual_forward_ep(m, x, NULL); }

static void sequential_destroy(cg_module *m) { cg_free(((sequential *)m)->span); }

/* Specs: a Sequential is the bare list of its children (the net itself, or a branch); there is
 * no word for a Sequential inside a Sequential. A Residual is residual(children). */
static cg_status sequential_spec(const cg_module *m, cg_spec_writer *w) {
    if (!cg_spec_take_list(w))
        return cg_error(CG_EINVAL, "a Sequential inside a Sequential or Residual has no spec word (append its "
                        "layers to the outer one, or make it a Residual)");
    if (!m->n_children) return cg_error(CG_EINVAL, "it holds no layers");
    return cg_spec_children(w, m, " ");
}
static cg_status residual_spec(const cg_module *m, cg_spec_writer *w) {
    if (!m->n_children) return cg_error(CG_EINVAL, "it holds no layers (residual() needs one)");
    cg_status st = cg_spec_printf(w, "residual(");
    if (st == CG_OK) st = cg_spec_children(w, m, " ");
    return st == CG_OK ? cg_spec_printf(w, ")") : st;
}

static const cg_fusion residual_fusion = { .accepts = CG_FUSE_RELU, .forward_ep = residual_forward_ep };
static const cg_module_type sequential_type = { .name = "Sequential", .forward = run_children,
                                                .destroy = sequential_destroy, .to_spec = sequential_spec };
static const cg_module_type residual_type = { .name = "Residual", .forward = residual_forward,
                                              .destroy = sequential_destroy, .fuse = &residual_fusion,
                                              .to_spec = residual_spec };

static cg_module *container_new(const cg_module_type *t) {
    return cg_module_new(t, sizeof(sequential));
}
cg_module *cg_sequential_new(void) { return container_new(&sequential_type); }
cg_module *cg_residual_new(void) { return container_new(&residual_type); }

cg_module *cg_sequential_append(cg_module *seq, const char *name, cg_module *child) {
    if (!child) return NULL;
    if (!seq || (seq->type != &sequential_type && seq->type != &residual_type)) {
        cg_module_free(child);
        cg_error(CG_EINVAL, "cg_sequential_append: not a Sequential or Residual");
        return NULL;
    }
    sequential *s = (sequential *)seq;
    int *span = cg_malloc((size_t)(seq->n_children + 1) * sizeof *span);
    if (!span) { cg_module_free(child); return NULL; }
    char idx[24];
    if (!name) { snprintf(idx, sizeof idx, "%d", seq->n_children); name = idx; }
    if (!cg_module_add_child(seq, name, child)) { cg_free(span); return NULL; }
    cg_free(s->span);
    s->span = span;
    plan_make(s);
    return child;
}
