/* SPDX-License-Identifier: MIT */
/* linreg — the seed's second and third lessons: fit y = 2x + 3 on 100 points.
 *   Part 1: w, b from zero, updated by hand (w -= lr * w.grad), lr 0.015, 200 iterations.
 *   Part 2: the same fit through a user-defined module (SimpleLinear: w * x + b) and a
 *           user-defined optimizer (plain gradient descent), lr 0.3, 10 epochs.
 * Both write only through cgrad's public API, as a user would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cgrad/cgrad.h>

#define N_POINTS 100

static int die(const char *what) {
    fprintf(stderr, "linreg: %s: %s\n", what, cg_last_error());
    return 1;
}

/* ---- Part 2's module: a user's own, in a few lines ----------------------- */
typedef struct simple_linear { cg_module base; cg_tensor *w, *b; } simple_linear;

static cg_tensor *simple_linear_forward(cg_module *m, cg_tensor *x) {
    simple_linear *s = (simple_linear *)m;
    return cg_add(cg_mul(s->w, x), s->b);
}
static const cg_module_type simple_linear_type = { "SimpleLinear", simple_linear_forward, NULL, NULL };

static cg_module *simple_linear_new(void) {
    simple_linear *s = (simple_linear *)cg_module_new(&simple_linear_type, sizeof *s);
    if (!s) return NULL;
    s->w = cg_module_add_parameter(&s->base, "w", cg_tensor_zeros(1, CG_SHAPE(1)));
    s->b = cg_module_add_parameter(&s->base, "b", cg_tensor_zeros(1, CG_SHAPE(1)));
    if (!s->w || !s->b) { cg_module_free(&s->base); return NULL; }
    return &s->base;
}

/* ---- Part 2's optimizer: a user's own, against the Optimizer interface --- */
static cg_status gd_step(cg_optimizer *o) {
    for (int64_t i = 0; i < o->n_params; i++) {
        cg_tensor *g = cg_tensor_grad(o->params[i]);
        if (g) cg_tensor_axpy_(o->params[i], -o->lr, g);  /* p -= lr * p.grad */
    }
    return CG_OK;
}
static const cg_optimizer_type gd_type = { "GradientDescent", gd_step, NULL };

static int usage(FILE *f, int code) {
    fprintf(f, "usage: linreg [--seed N] [--help | --version]\n"
               "Fits y = 2x + 3 by gradient descent, by hand and through a Module and an Optimizer.\n");
    return code;
}

int main(int argc, char **argv) {
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout, 0);
        if (!strcmp(argv[i], "--version")) { printf("linreg (cgrad %s)\n", cg_version()); return 0; }
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            char *end;
            seed = strtoull(argv[++i], &end, 10);
            if (*end || !*argv[i]) { fprintf(stderr, "linreg: --seed: '%s' is not a number\n", argv[i]); return 2; }
        } else {
            fprintf(stderr, "linreg: unknown argument '%s'\n", argv[i]);
            return usage(stderr, 2);
        }
    }
    cg_manual_seed(seed);
    cg_tensor *x = cg_tensor_rand(2, CG_SHAPE(N_POINTS, 1), NULL);          /* x ~ U[0, 1) */
    cg_tensor *y = cg_tensor_zeros(2, CG_SHAPE(N_POINTS, 1));
    if (!x || !y) return die("data");
    for (int i = 0; i < N_POINTS; i++) cg_tensor_data(y)[i] = 2.0f * cg_tensor_data(x)[i] + 3.0f;

    /* Part 1: by hand. */
    printf("Part 1: gradient descent by hand (lr 0.015, 200 iterations)\n");
    cg_tensor *w = cg_tensor_zeros(1, CG_SHAPE(1)), *b = cg_tensor_zeros(1, CG_SHAPE(1));
    if (!w || !b) return die("parameters");
    cg_tensor_set_requires_grad(w, true);
    cg_tensor_set_requires_grad(b, true);
    const float lr1 = 0.015f;
    for (int it = 1; it <= 200; it++) {
        cg_tensor *loss = cg_mse_loss(cg_add(cg_mul(w, x), b), y, CG_REDUCTION_MEAN);
        if (cg_backward(loss) != CG_OK) return die("backward");
        float l = cg_tensor_item(loss);
        cg_tape_release();
        bool prev = cg_set_grad_enabled(false);             /* w.data -= lr * w.grad */
        cg_tensor_axpy_(w, -lr1, cg_tensor_grad(w));
        cg_tensor_axpy_(b, -lr1, cg_tensor_grad(b));
        cg_set_grad_enabled(prev);
        cg_tensor_zero_grad(w);
        cg_tensor_zero_grad(b);
        if (it % 10 == 0)
            printf("Iter: %d, w: %.4f, b: %.4f, training loss: %.4f\n", it, cg_tensor_item(w),
                   cg_tensor_item(b), l);
    }
    cg_tensor_free(w);
    cg_tensor_free(b);

    /* Part 2: a Module and an Optimizer. */
    printf("Part 2: SimpleLinear module + optimizer (lr 0.3, 10 epochs)\n");
    cg_module *model = simple_linear_new();
    if (!model) return die("SimpleLinear");
    cg_optimizer *opt = cg_optim_new_for(&gd_type, sizeof(cg_optimizer), model, 0.3f);
    if (!opt) return die("optimizer");
    for (int epoch = 1; epoch <= 10; epoch++) {
        cg_optim_zero_grad(opt);
        cg_tensor *loss = cg_mse_loss(cg_module_forward(model, x), y, CG_REDUCTION_MEAN);
        if (cg_backward(loss) != CG_OK) return die("backward");
        if (cg_optim_step(opt) != CG_OK) return die("step");
        simple_linear *s = (simple_linear *)model;
        printf("Epoch %d,w:%.4f b:%.4f,loss is %.4f\n", epoch, cg_tensor_item(s->w),
               cg_tensor_item(s->b), cg_tensor_item(loss));
        cg_tape_release();
    }
    cg_optim_free(opt);
    cg_module_free(model);
    cg_tensor_free(x);
    cg_tensor_free(y);
    cg_tape_free_all();
    return 0;
}
