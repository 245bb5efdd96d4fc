/* SPDX-License-Identifier: MIT */
/* lib/data/idx_internal.h — what mnist.c needs of idx.c beyond the public API. */
#ifndef CGRAD_IDX_INTERNAL_H
#define CGRAD_IDX_INTERNAL_H
#include "cgrad/data.h"

/* Read and check only the header of an IDX image (images true) or label file and put its item
 * count in *n: no body is read or allocated. Errors as cg_idx_load_images/labels would give. */
cg_status cg_idx_header_count(const char *path, bool images, int64_t *n);

#endif
