/* SPDX-License-Identifier: MIT */
/* lib/data/idx_internal.h — the IDX reader under the datasets (lib/data/dataset.c) and
 * cg_idx_load: an IDX file in its own element type, so a dataset keeps the file's size in memory.
 * Every check of data.h's file paragraph applies. */
#ifndef CGRAD_IDX_INTERNAL_H
#define CGRAD_IDX_INTERNAL_H
#include "cgrad/data.h"

/* The format's element types (the third byte of the magic number). */
#define CG_IDX_MAX_DIMS 4
typedef enum cg_idx_type {
    CG_IDX_U8 = 0x08, CG_IDX_I8 = 0x09, CG_IDX_I16 = 0x0B, CG_IDX_I32 = 0x0C, CG_IDX_F32 = 0x0D, CG_IDX_F64 = 0x0E
} cg_idx_type;
/* numel = dims[0] * .. * dims[ndim-1] elements of elem_size bytes, row-major, in host byte order
 * (the file's are big-endian); data belongs to the holder (cg_idx_array_free). */
typedef struct cg_idx_array {
    void *data;
    cg_idx_type type;
    int ndim;
    int64_t dims[CG_IDX_MAX_DIMS];
    int64_t numel, elem_size;
} cg_idx_array;

/* Any IDX file, raw or gzip; on error *out is left empty ({0}) and cg_last_error() names the
 * path and the problem. */
cg_status cg_idx_read(const char *path, cg_idx_array *out);
cg_status cg_idx_read_mem(const void *data, size_t len, const char *name, cg_idx_array *out);
/* Only the header, checked as cg_idx_read checks it: type, ndim, dims, numel and elem_size are
 * filled, data stays NULL and no body byte is read (two files' counts can then be compared before
 * either body is read). */
cg_status cg_idx_read_header(const char *path, cg_idx_array *out);
void cg_idx_array_free(cg_idx_array *a);   /* NULL or an emptied array: a no-op */
/* "unsigned byte", "signed byte", "short", "int", "float", "double" (or "unknown"). */
const char *cg_idx_type_name(cg_idx_type t);

/* ---- .npy under the same reader (lib/data/npy.c) ----
 * A .npy header: kind 'b' (bool), 'i', 'u' or 'f', size in bytes, byte order, order and shape. */
typedef struct cg_npy_header {
    char kind;
    int size;
    bool big_endian, fortran;
    int ndim;
    int64_t dims[CG_IDX_MAX_DIMS];
} cg_npy_header;
/* The header's dict text (len bytes, after the magic, version and length fields); refuses what
 * npy.c's top says cgrad does not read, naming `name`. */
cg_status cg_npy_parse_header(const char *text, size_t len, const char *name, cg_npy_header *out);
/* The IDX element type and size a header's array becomes. */
cg_idx_type cg_npy_idx_type(const cg_npy_header *h, int64_t *elem_size);
/* raw (a->numel elements as the file has them; taken over, freed on error) into a's data in
 * host and C order and the type cg_npy_idx_type says. */
cg_status cg_npy_finish(const cg_npy_header *h, uint8_t *raw, const char *name, cg_idx_array *a);

#endif
