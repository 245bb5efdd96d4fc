/* SPDX-License-Identifier: MIT */
/* lib/io/file_write.c — cg_file_write: a whole file of the caller's bytes, replaced atomically by
 * the same writer as every other output of the library (atomic_file.h): no link followed, no FIFO
 * or device written, an exclusive temporary renamed over the path. */
#include "cgrad/io.h"
#include "atomic_file.h"
#include "cg_internal.h"

cg_status cg_file_write(const char *path, const void *data, size_t n) {
    if (!path || !path[0]) return cg_error(CG_EINVAL, "cg_file_write: the path is NULL or empty");
    if (!data && n) return cg_error(CG_EINVAL, "cg_file_write: data is NULL");
    cg_atomic_file w;
    cg_status st = cg_atomic_file_open(&w, "cg_file_write", path, false);
    if (st != CG_OK) return st;
    if (n && (st = cg_atomic_file_write(&w, data, n)) != CG_OK) {
        cg_atomic_file_abort(&w);
        return st;
    }
    return cg_atomic_file_commit(&w);
}
