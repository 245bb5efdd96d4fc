/* SPDX-License-Identifier: MIT */
/* tests/support/batch.c — see batch.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "batch.h"

bool next_batch(cg_loader *l, cg_tensor **x, cg_tensor **y) {
    cg_batch b = { (cg_tensor *)1, (cg_tensor *)1 };
    if (!cg_loader_next(l, &b)) {
        assert_null(b.x);
        assert_null(b.y);
        return false;
    }
    assert_int_equal(cg_tensor_dtype(b.x), CG_F32);
    assert_int_equal(cg_tensor_dtype(b.y), CG_I64);
    assert_int_equal(cg_tensor_ndim(b.y), 1);
    assert_int_equal(cg_tensor_size(b.y, 0), cg_tensor_size(b.x, 0));
    *x = b.x;
    *y = b.y;
    return true;
}

bool next_batch_labels(cg_loader *l, cg_tensor **x, const int64_t **labels) {
    cg_tensor *y;
    if (!next_batch(l, x, &y)) return false;
    *labels = cg_tensor_cdata_i64(y);
    return true;
}
