/* SPDX-License-Identifier: MIT */
/* tests/support/gradcheck.h — compare an op's backward with central differences.
 *
 * f builds an output from inputs; the loss is sum(out * R) for a fixed, non-uniform R, so a
 * backward that ignores its incoming gradient fails too. Each numeric derivative is
 * (L(x+eps) - L(x-eps)) / 2eps with L summed in double. The global RNG state is restored
 * before each evaluation, so random ops (dropout) see the same mask every time. */
#ifndef CG_TEST_GRADCHECK_H
#define CG_TEST_GRADCHECK_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "cgrad/cgrad.h"

typedef cg_tensor *(*gradcheck_fn)(cg_tensor **inputs, void *ctx);

/* Fails the cmocka test on any element where |analytic - numeric| > atol + rtol*|numeric|.
 * Inputs that do not require grad are held fixed. Returns the worst error seen. */
double gradcheck(gradcheck_fn f, cg_tensor **inputs, int n_inputs, void *ctx,
                 double eps, double atol, double rtol);

/* A caller-owned tensor filled with fixed values in [lo, hi) from a simple hash of i and salt;
 * requires_grad set as asked. */
cg_tensor *test_tensor(int ndim, const int64_t *shape, float lo, float hi, unsigned salt, bool requires_grad);

/* Two backward passes of sum(f(in)) must give each of in[0..n_in) (n_in <= 3) twice the
 * grad of one: backward accumulates (+=) into leaf grads. */
void check_accumulates(cg_tensor **in, int n_in, cg_tensor *(*f)(cg_tensor **));

/* Whether the profile since the last cg_profile_reset has a row for op `name` (exact name). */
bool profile_has(const char *name);

#endif
