/* SPDX-License-Identifier: MIT */
/* lib/io/file_write.c — a program's own output files through the library's one writer
 * (atomic_file.h): no link followed, no FIFO or device written, an exclusive temporary beside the
 * path, renamed over it on commit. cg_file_write writes a whole buffer; cg_file_writer streams. */
#include "cgrad/io.h"
#include "atomic_file.h"
#include "cg_internal.h"

struct cg_file_writer {
    cg_atomic_file w;
    char *path;   /* the writer's own copy: atomic_file borrows it until commit/abort */
};

cg_status cg_file_writer_open(const char *path, cg_file_writer **out) {
    if (!out) return cg_error(CG_EINVAL, "cg_file_writer_open: out is NULL");
    *out = NULL;
    if (!path || !path[0]) return cg_error(CG_EINVAL, "cg_file_writer_open: the path is NULL or empty");
    cg_file_writer *fw = cg_calloc(1, sizeof *fw);
    size_t n = strlen(path) + 1;
    if (!fw || !(fw->path = cg_malloc(n))) {
        cg_free(fw);
        return cg_error(CG_ENOMEM, "cg_file_writer_open %s: out of memory", path);
    }
    memcpy(fw->path, path, n);
    cg_status st = cg_atomic_file_open(&fw->w, "cg_file_writer", fw->path, false);
    if (st != CG_OK) {
        cg_free(fw->path);
        cg_free(fw);
        return st;
    }
    *out = fw;
    return CG_OK;
}

cg_status cg_file_writer_write(cg_file_writer *fw, const void *data, size_t n) {
    if (!fw) return cg_error(CG_EINVAL, "cg_file_writer_write: the writer is NULL");
    if (!data && n) return cg_error(CG_EINVAL, "cg_file_writer_write: data is NULL");
    return n ? cg_atomic_file_write(&fw->w, data, n) : CG_OK;
}

static void writer_free(cg_file_writer *fw) {
    cg_free(fw->path);
    cg_free(fw);
}

cg_status cg_file_writer_commit(cg_file_writer *fw) {
    if (!fw) return cg_error(CG_EINVAL, "cg_file_writer_commit: the writer is NULL");
    cg_status st = cg_atomic_file_commit(&fw->w);
    writer_free(fw);
    return st;
}

void cg_file_writer_abort(cg_file_writer *fw) {
    if (!fw) return;
    cg_atomic_file_abort(&fw->w);
    writer_free(fw);
}

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
