// SPDX-License-Identifier: MIT
// tests/consumer/main.cpp — a C++17 program against the installed headers, built with
// -Wall -Wextra -pedantic-errors: CG_SHAPE and a cg_named_tensor list of string literals must
// compile cleanly. y = x * a, backward: x.grad == a. Saves {"x", x} as safetensors and reads it.
#include <cgrad/cgrad.h>
#include <cstdio>
#include <cstdlib>

int main() {
    const float xs[3] = { 1.0f, -2.0f, 0.5f }, as[3] = { 3.0f, 4.0f, -5.0f };
    cg_tensor *x = cg_tensor_from_array(1, CG_SHAPE(3), xs);
    cg_tensor *a = cg_tensor_from_array(1, CG_SHAPE(3), as);
    if (!x || !a) { std::fprintf(stderr, "tensor: %s\n", cg_last_error()); return 1; }
    cg_tensor_set_requires_grad(x, true);
    cg_tensor *y = cg_sum(cg_mul(x, a));
    if (!y || cg_backward(y) != CG_OK) { std::fprintf(stderr, "backward: %s\n", cg_last_error()); return 1; }
    const float *gx = cg_tensor_cdata(cg_tensor_grad(x));
    bool bad = gx[0] != 3.0f || gx[1] != 4.0f || gx[2] != -5.0f;
    cg_tape_release();
    const cg_named_tensor items[] = { { "x", x }, { "a", a } };
    const char *path = std::getenv("CONSUMER_TMP");
    char file[512];
    std::snprintf(file, sizeof file, "%s/cxx.safetensors", path ? path : "/tmp");
    if (cg_safetensors_save(file, items, 2, nullptr, 0) != CG_OK) { std::fprintf(stderr, "save: %s\n", cg_last_error()); return 1; }
    cg_tensor_free(x);
    cg_tensor_free(a);
    cg_tape_free_all();
    if (bad) { std::fprintf(stderr, "wrong gradient\n"); return 1; }
    std::printf("OK cgrad %s from C++\n", cg_version());
    return 0;
}
