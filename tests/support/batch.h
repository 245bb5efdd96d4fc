/* SPDX-License-Identifier: MIT */
/* tests/support/batch.h — cg_loader_next with the batch's form checked on the way (cmocka asserts):
 * x float32 [n, ...], y int64 [n]; at the end of the epoch both NULL. */
#ifndef CG_TEST_BATCH_H
#define CG_TEST_BATCH_H

#include <stdbool.h>
#include <stdint.h>
#include "cgrad/cgrad.h"

/* The next batch's x and y; false at the end of the epoch (or on a failed read). */
bool next_batch(cg_loader *l, cg_tensor **x, cg_tensor **y);
/* The same, with y's labels handed back as a pointer (valid until the next call). */
bool next_batch_labels(cg_loader *l, cg_tensor **x, const int64_t **labels);

#endif
