/* SPDX-License-Identifier: MIT */
/* lib/nn/sequential.c — Sequential, Residual and Parallel: children run in the order they were
 * appended; Residual returns x + children(x); Parallel runs each child (a branch) on x and
 * concatenates their outputs along dim 1.
 *
 * Layer paths in errors: when a child's forward fails, its container rewrites cg_last_error as
 * "<path> (layer K of the net): <the op's message>", path the child's name. A container above it
 * finds the message still the one a container wrote (cg_error_serial unchanged since) and puts
 * its own child's name in front of the path and its own K in place of the inner one, so the
 * outermost container leaves the full dotted path (the state-dict prefix: "3.1.0") exactly once.
 *
 * Fusion plan (cg_fusion, nn.h): made once, when a child is appended, from the children's types
 * alone. A producer (a child whose type's fusion accepts stages: Conv2d, Residual) and the
 * epilogue modules right after it, each of a stage the producer accepts, in stage order
 * (BatchNorm2d, ReLU or ReLU6, MaxPool2d(2)), each stage once, form a run. A run calls the producer's
 * forward_ep with the epilogue its members write (as_epilogue, in place of their forwards); the
 * producer decides per call what fuses in the current mode (cg_conv2d_ex: the ReLU always, the
 * batch-norm fold and the pool in inference). Nothing here knows a layer kind, and the plan does
 * not depend on the mode, so cg_module_train needs no new plan. The fold changes values by float
 * rounding only; every other fusion is bit-equal to the unfused ops, and the state dict is the
 * same with fusion on or off (cg_config_set(CG_CONFIG_FUSION, ..), read once per forward). Children
 * added with cg_module_add_child instead of cg_sequential_append are not in the plan: such a
 * container runs unfused.
 *
 * Residual is a producer of one stage, ReLU: relu(x + children(x)) as one op (add_relu); a ReLU6
 * there runs as relu6 on the sum. The add
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
                /* one known stage, accepted, after the stages before it (a ReLU6 ranks as a ReLU) */
                if (st != CG_FUSE_BN && st != CG_FUSE_RELU && st != CG_FUSE_RELU6 && st != CG_FUSE_POOL2) break;
                const unsigned rank = st == CG_FUSE_RELU6 ? CG_FUSE_RELU : st;
                if (!(st & f->accepts) || rank <= last) break;
                last = rank;
            }
        }
        s->span[i] = j - i;
    }
    s->n_plan = m->n_children;
}

/* The failure being named, on this thread: the op's own message and the path so far, valid while
 * cg_error_serial() is still `serial` (nothing has set a message since a container wrote it). */
static _Thread_local struct { uint64_t serial; char path[160]; char orig[512]; } failure;

/* Child i of m returned NULL: name it in the message (what: "layer" or "branch"). */
static void name_failure(const cg_module *m, int i, const char *what) {
    const char *child = m->children[i].name;
    char path[sizeof failure.path];
    if (failure.serial && failure.serial == cg_error_serial()) {
        if (snprintf(path, sizeof path, "%s.%s", child, failure.path) >= (int)sizeof path)
            path[sizeof path - 2] = '~';   /* deeper than the buffer: marked cut */
    } else {
        snprintf(failure.orig, sizeof failure.orig, "%s", *cg_last_error() ? cg_last_error() : "failed without a message");
        snprintf(path, sizeof path, "%s", child);
    }
    memcpy(failure.path, path, sizeof path);
    cg_error(CG_EINVAL, "%s (%s %d of the net): %s", failure.path, what, i + 1, failure.orig);
    failure.serial = cg_error_serial();
}

static cg_tensor *run_children(cg_module *m, cg_tensor *x) {
    sequential *s = (sequential *)m;
    const bool fuse = cg_config_snapshot().fusion && s->n_plan == m->n_children;
    for (int i = 0; i < m->n_children && x;) {
        cg_module *c = m->children[i].module;
        const int span = fuse ? s->span[i] : 1;
        if (span == 1) {
            if (!(x = cg_module_forward(c, x))) name_failure(m, i, "layer");
            i++;
            continue;
        }
        cg_conv_epilogue ep = { 0 };
        for (int k = 1; k < span; k++) {
            cg_module *e = m->children[i + k].module;
            e->type->fuse->as_epilogue(e, &ep);
        }
        if (!(x = c->type->fuse->forward_ep(c, x, &ep))) name_failure(m, i, "layer");   /* the producer's name */
        i += span;
    }
    return x;
}

static cg_tensor *residual_forward_ep(cg_module *m, cg_tensor *x, const cg_conv_epilogue *ep) {
    cg_tensor *y = run_children(m, x);
    if (ep && ep->relu && !ep->relu6) return cg_add_relu(x, y);
    cg_tensor *s = cg_add(x, y);
    return s && ep && ep->relu6 ? cg_relu6(s) : s;
}
static cg_tensor *residual_forward(cg_module *m, cg_tensor *x) { return residual_forward_ep(m, x, NULL); }

static void sequential_destroy(cg_module *m) { cg_free(((sequential *)m)->span); }

/* cat([branch(x) for each branch], 1); every dim but 1 must agree. The output array is the
 * tape's scratch (no allocation of its own once warm). */
static cg_tensor *parallel_forward(cg_module *m, cg_tensor *x) {
    const int n = m->n_children;
    if (n < 1) return CG_FAIL(CG_EINVAL, "Parallel: has no branches (cg_parallel_append)");
    cg_tensor **ys = cg_tape_scratch((size_t)n * sizeof *ys);
    if (!ys) return NULL;
    for (int j = 0; j < n; j++)
        if (!(ys[j] = cg_module_forward(m->children[j].module, x))) { name_failure(m, j, "branch"); return NULL; }
    for (int j = 1; j < n; j++) {
        bool same = ys[j]->ndim == ys[0]->ndim && ys[0]->ndim >= 2;
        for (int d = 0; same && d < ys[0]->ndim; d++) same = d == 1 || ys[j]->shape[d] == ys[0]->shape[d];
        if (!same) {
            char a[96], b[96];
            return CG_FAIL(CG_ESHAPE, "Parallel: branch %s gives %s, branch %s gives %s: the branches must agree in "
                           "every dim but dim 1, where they are concatenated", m->children[0].name,
                           cg_shape_str(a, sizeof a, ys[0]->ndim, ys[0]->shape), m->children[j].name,
                           cg_shape_str(b, sizeof b, ys[j]->ndim, ys[j]->shape));
        }
    }
    return cg_cat(ys, n, 1);
}

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

static const cg_fusion residual_fusion = { .accepts = CG_FUSE_RELU | CG_FUSE_RELU6, .forward_ep = residual_forward_ep };
static const cg_module_type sequential_type = { .name = "Sequential", .forward = run_children,
                                                .destroy = sequential_destroy, .to_spec = sequential_spec };
static const cg_module_type residual_type = { .name = "Residual", .forward = residual_forward,
                                              .destroy = sequential_destroy, .fuse = &residual_fusion,
                                              .to_spec = residual_spec };

/* parallel(branch | branch | ...): each branch a Sequential written as its list of layers. */
static cg_status parallel_spec(const cg_module *m, cg_spec_writer *w) {
    if (!m->n_children) return cg_error(CG_EINVAL, "it holds no branches (parallel() needs one)");
    cg_status st = cg_spec_printf(w, "parallel(");
    if (st == CG_OK) st = cg_spec_children(w, m, " | ");
    return st == CG_OK ? cg_spec_printf(w, ")") : st;
}
static const cg_module_type parallel_type = { .name = "Parallel", .forward = parallel_forward,
                                              .to_spec = parallel_spec };

static cg_module *container_new(const cg_module_type *t) {
    return cg_module_new(t, sizeof(sequential));
}
cg_module *cg_sequential_new(void) { return container_new(&sequential_type); }
cg_module *cg_residual_new(void) { return container_new(&residual_type); }
cg_module *cg_parallel_new(void) { return cg_module_new(&parallel_type, sizeof(cg_module)); }

cg_module *cg_parallel_append(cg_module *par, const char *name, cg_module *branch) {
    if (!branch) return NULL;
    if (!par || par->type != &parallel_type) {
        cg_module_free(branch);
        cg_error(CG_EINVAL, "cg_parallel_append: not a Parallel");
        return NULL;
    }
    char idx[24];
    if (!name) { snprintf(idx, sizeof idx, "%d", par->n_children); name = idx; }
    return cg_module_add_child(par, name, branch);
}

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
