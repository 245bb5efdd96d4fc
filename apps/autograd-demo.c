/* SPDX-License-Identifier: MIT */
/* autograd-demo — the seed's first lesson: reverse-mode autograd on scalars.
 *   x = 2, a = 4, y = x * a: dy/dx = a = 4, dy/da = x = 2
 *   y = x^4 at x = 2:        dy/dx = 4 x^3 = 32 */
#include <stdio.h>
#include <string.h>
#include <cgrad/cgrad.h>

static int fail(const char *what) {
    fprintf(stderr, "autograd-demo: %s: %s\n", what, cg_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--version")) {
        printf("autograd-demo (cgrad %s)\n", cg_version());
        return 0;
    }
    if (argc > 1) {
        int help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        fprintf(help ? stdout : stderr, "usage: autograd-demo [--help | --version]\n"
                "Computes y = x * a and y = x^4 with cgrad's autograd and prints the gradients.\n");
        return help ? 0 : 2;
    }
    cg_tensor *x = cg_tensor_full(1, CG_SHAPE(1), 2.0f);
    cg_tensor *a = cg_tensor_full(1, CG_SHAPE(1), 4.0f);
    if (!x || !a) return fail("creating tensors");
    cg_tensor_set_requires_grad(x, true);
    cg_tensor_set_requires_grad(a, true);

    cg_tensor *y = cg_mul(x, a);  /* y belongs to the tape */
    if (cg_backward(y) != CG_OK) return fail("backward of x * a");
    printf("y = x * a = %.1f\n", cg_tensor_item(y));
    printf("x.grad = %.1f\n", cg_tensor_item(cg_tensor_grad(x)));
    printf("a.grad = %.1f\n", cg_tensor_item(cg_tensor_grad(a)));
    cg_tape_release();

    cg_tensor_zero_grad(x);
    y = cg_pow(x, 4.0f);
    if (cg_backward(y) != CG_OK) return fail("backward of x^4");
    printf("y = x^4 = %.1f\n", cg_tensor_item(y));
    printf("dy/dx = %.1f\n", cg_tensor_item(cg_tensor_grad(x)));

    cg_tape_free_all();
    cg_tensor_free(x);
    cg_tensor_free(a);
    return 0;
}
