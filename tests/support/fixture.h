/* SPDX-License-Identifier: MIT */
/* tests/support/fixture.h — read the PyTorch reference files of tests/fixtures/ (written by
 * tests/gen_fixtures.py) and compare cgrad's results with them.
 *
 * File format: '#' lines are comments; a tensor is "tensor NAME NDIM D0 ... Dn-1" on one line,
 * then its numel values (any whitespace between them). All calls fail the running cmocka test
 * with a message naming the file and tensor when something is missing or malformed.
 * CG_FIXTURE_VERBOSE=1 in the environment prints how close each comparison came to its tolerance. */
#ifndef CG_TEST_FIXTURE_H
#define CG_TEST_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "cgrad/cgrad.h"
#include "gradcheck.h" /* test_tensor */

typedef struct fixture fixture;

/* Loads CG_FIXTURE_DIR/<file>. Caller frees with fixture_free (NULL: no-op). */
fixture *fixture_load(const char *file);
void fixture_free(fixture *f);
bool fixture_has(const fixture *f, const char *name);
/* A caller-owned copy of tensor `name` (printf-style). */
cg_tensor *fixture_tensor(const fixture *f, const char *fmt, ...);
/* Borrowed view of the stored values; *numel set when not NULL. */
const float *fixture_values(const fixture *f, const char *name, int64_t *numel);
/* Class indices stored as floats, as a malloc'ed int64 array (free()). */
int64_t *fixture_indices(const fixture *f, const char *name, int64_t *n);

/* Fails the test unless got has want's shape and |got-want| <= atol + rtol*|want| everywhere;
 * the message names `what`, the worst element and its index. Returns the worst excess ratio. */
double expect_close(const char *what, const cg_tensor *got, const cg_tensor *want, double atol, double rtol);
/* Same, against fixture tensor `name`; only numel is compared when check_shape is false. */
double fixture_expect(const fixture *f, const char *name, const cg_tensor *got, double atol, double rtol,
                      bool check_shape);

#endif
