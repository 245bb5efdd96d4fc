/* SPDX-License-Identifier: MIT */
/* tests/consumer/main.c — an out-of-tree program built against an installed cgrad.
 * y = x * a, backward: x.grad must equal a (and a.grad x). Prints OK and exits 0 on success. */
#include <cgrad/cgrad.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    if (strcmp(cg_version(), CG_VERSION_STRING) != 0) {
        fprintf(stderr, "cg_version() is %s, headers say %s\n", cg_version(), CG_VERSION_STRING);
        return 1;
    }
    const float xs[3] = { 1.0f, -2.0f, 0.5f }, as[3] = { 3.0f, 4.0f, -5.0f };
    cg_tensor *x = cg_tensor_from_array(1, CG_SHAPE(3), xs);
    cg_tensor *a = cg_tensor_from_array(1, CG_SHAPE(3), as);
    if (!x || !a) { fprintf(stderr, "tensor: %s\n", cg_last_error()); return 1; }
    cg_tensor_set_requires_grad(x, true);
    cg_tensor_set_requires_grad(a, true);
    cg_tensor *y = cg_sum(cg_mul(x, a));            /* y = sum(x * a) */
    if (!y || cg_backward(y) != CG_OK) { fprintf(stderr, "backward: %s\n", cg_last_error()); return 1; }
    const float *gx = cg_tensor_cdata(cg_tensor_grad(x)), *ga = cg_tensor_cdata(cg_tensor_grad(a));
    int bad = 0;
    for (int i = 0; i < 3; i++) bad |= gx[i] != as[i] || ga[i] != xs[i];
    float value = cg_tensor_item(y);
    cg_tape_release();
    cg_tensor_free(x);
    cg_tensor_free(a);
    cg_tape_free_all();
    if (bad || value != 1.0f * 3.0f - 2.0f * 4.0f - 0.5f * 5.0f) {
        fprintf(stderr, "wrong result: y=%g\n", value);
        return 1;
    }
    printf("OK cgrad %s\n", cg_version());
    return 0;
}
