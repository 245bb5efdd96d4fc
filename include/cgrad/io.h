/* SPDX-License-Identifier: MIT */
/* cgrad/io.h — checkpoints in the safetensors format (https://huggingface.co/docs/safetensors).
 *
 *   cg_named_list sd; cg_module_state_dict(model, &sd);
 *   cg_kv meta[] = { { "epoch", "3" } };
 *   if (cg_safetensors_save("model.safetensors", sd.items, sd.n, meta, 1) != CG_OK)
 *       fprintf(stderr, "%s\n", cg_last_error());
 *
 *   cg_safetensors *st;
 *   if (cg_safetensors_open("model.safetensors", &st) == CG_OK &&
 *       cg_safetensors_load_into(st, sd.items, sd.n) == CG_OK) { ... }
 *   cg_safetensors_close(st);
 *
 * Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping each tensor name
 * to {"dtype", "shape", "data_offsets": [begin, end]} (plus an optional "__metadata__" object of
 * strings), then the raw little-endian data; offsets count from the first byte after the header.
 *
 * Ownership: a cg_safetensors returned by cg_safetensors_open* belongs to the caller, who frees it
 * with cg_safetensors_close (NULL is a no-op), and every name, view, data pointer and metadata
 * string obtained from it is borrowed and lives until that close. */
#ifndef CGRAD_IO_H
#define CGRAD_IO_H

#include "cgrad/base.h"
#include "cgrad/tensor.h"
#include "cgrad/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A metadata entry: both strings are UTF-8 and are copied by the call that takes them. */
typedef struct cg_kv { const char *key; const char *value; } cg_kv;

/* Element types a file may hold. cgrad's tensors are F32; the others can be read via views. */
typedef enum cg_st_dtype {
    CG_ST_BOOL, CG_ST_U8, CG_ST_I8, CG_ST_I16, CG_ST_U16, CG_ST_F16, CG_ST_BF16,
    CG_ST_I32, CG_ST_U32, CG_ST_F32, CG_ST_I64, CG_ST_U64, CG_ST_F64,
} cg_st_dtype;
CG_API const char *cg_st_dtype_name(cg_st_dtype d);   /* "F32"; "?" if unknown */
CG_API int cg_st_dtype_size(cg_st_dtype d);           /* bytes per element; 0 if unknown */

/* A borrowed view of one stored tensor. data holds nbytes raw little-endian bytes; it is
 * aligned to the element size whenever the file's begin offset is a multiple of it (files cgrad
 * writes always are), else read it with memcpy or cg_safetensors_to_f32. */
typedef struct cg_st_tensor {
    const char *name;
    cg_st_dtype dtype;
    int ndim;                       /* 0 (a scalar) .. CG_MAX_DIMS */
    int64_t shape[CG_MAX_DIMS];
    int64_t numel;
    const void *data;
    int64_t nbytes;
} cg_st_tensor;

typedef struct cg_safetensors cg_safetensors;   /* opaque: a parsed file, held in memory */

/* Write items (sorted by name) and meta to path atomically: the bytes go to a new temporary
 * "<path>.<16 random hex digits>.tmp" in the same directory, are flushed and fsync'ed, then renamed over path, and the directory is synced,
 * so a crash leaves either the old file or the new one. Names must be unique, valid UTF-8 and not
 * "__metadata__"; meta keys likewise unique. meta may be NULL when n_meta == 0.
 *
 * What is at path and beside it is not the save's to follow, replace or delete:
 *   - path must be absent or a regular file. A directory, device node, FIFO or socket is refused,
 *     and so is a symbolic link (dangling or not): the link is not replaced and its target is not
 *     written; save to the target's own path instead.
 *   - The temporary's name is drawn from getrandom (no one can plant a file or link there in
 *     advance) and created with O_CREAT|O_EXCL|O_NOFOLLOW: a name already taken is left alone and
 *     another drawn, so concurrent saves each get their own. The save only ever removes the
 *     temporary it created itself; one left by a save killed with SIGKILL stays, to be removed by
 *     hand ("<path>.*.tmp").
 *   - Signals are left alone unless the program opted in with cg_safetensors_set_defer_signals
 *     (below): then a SIGINT, SIGTERM or SIGHUP during the save does not leave its temporary.
 *     Without it, such a signal ends the process with the temporary behind, and the old file
 *     intact (as SIGKILL always does).
 * CG_EINVAL for bad arguments, CG_EIO (naming the path) for any write failure or refusal. */
CG_API cg_status cg_safetensors_save(const char *path, const cg_named_tensor *items, int64_t n,
                                     const cg_kv *meta, int64_t n_meta);

/* Opt in (on = true) to deferring terminating signals during every later save in this process
 * (cg_safetensors_save, cg_checkpoint_save); off by default, so that library code never installs
 * signal handlers behind its caller's back. Returns the previous setting. The programs (mnist-train
 * --save) turn it on. When on, SIGINT, SIGTERM and SIGHUP are deferred from the creation of the
 * temporary until it is renamed or removed, when their disposition is the default (terminate): a
 * signal that arrives meanwhile is re-sent to the process once the temporary is gone, so the
 * process still ends but never leaves a partial temporary. Signals the program ignores or
 * handles itself are left alone, and the dispositions are restored before the save returns (so a
 * program must not change those three dispositions from another thread during a save). SIGKILL
 * cannot be deferred. Thread-safe (an atomic). */
CG_API bool cg_safetensors_set_defer_signals(bool on);

/* Writes n bytes to path by the same rules as cg_safetensors_save (an exclusive temporary beside
 * it, renamed over it; a link, directory, device, FIFO or socket at path refused, the old file
 * intact on any failure): for a program's other outputs (mnist-eval --out). CG_EINVAL, CG_EIO. */
CG_API cg_status cg_file_write(const char *path, const void *data, size_t n);
/* The same, streamed: open checks path and creates the temporary; write appends; commit syncs and
 * renames it over path, abort removes it (path untouched). Both commit and abort free the writer,
 * which is the caller's from open until then. */
typedef struct cg_file_writer cg_file_writer;
CG_API cg_status cg_file_writer_open(const char *path, cg_file_writer **out);
CG_API cg_status cg_file_writer_write(cg_file_writer *w, const void *data, size_t n);
CG_API cg_status cg_file_writer_commit(cg_file_writer *w);
CG_API void cg_file_writer_abort(cg_file_writer *w);   /* NULL is a no-op */

/* Read and validate the whole file (header, offsets, coverage of the data section). The header
 * is read and checked against the file's size first, and the data section is read only when the
 * header covers it exactly: a file longer than that (a sparse `truncate -s 3G`) is refused as
 * trailing garbage without reading its tail, and memory stays bounded by the header (at most
 * 100 MB) plus the data it describes. Only regular files are read (a FIFO is refused at once). On error
 * *out is NULL and cg_last_error() names the file and, for a malformed header, the byte offset.
 * CG_EIO: the file cannot be read or is truncated; CG_EFORMAT: its contents are malformed. */
CG_API cg_status cg_safetensors_open(const char *path, cg_safetensors **out);
/* The same from bytes in memory (copied; buf may be freed afterwards). `name` labels errors. */
CG_API cg_status cg_safetensors_open_mem(const void *buf, size_t size, const char *name,
                                         cg_safetensors **out);
CG_API void cg_safetensors_close(cg_safetensors *st);

/* Tensors in name order (strcmp): i in [0, count). NULL when i is out of range. */
CG_API int64_t cg_safetensors_count(const cg_safetensors *st);
CG_API const cg_st_tensor *cg_safetensors_at(const cg_safetensors *st, int64_t i);
/* The tensor named name, or NULL (no error is set: absence is an answer, not a failure). */
CG_API const cg_st_tensor *cg_safetensors_find(const cg_safetensors *st, const char *name);

/* Metadata: the value for key or NULL; and iteration in key order. */
CG_API const char *cg_safetensors_meta(const cg_safetensors *st, const char *key);
CG_API int64_t cg_safetensors_meta_count(const cg_safetensors *st);
CG_API cg_status cg_safetensors_meta_at(const cg_safetensors *st, int64_t i,
                                        const char **key, const char **value);

/* Convert a view of dtype F32, F64, I64 or I32 to n == numel floats. */
CG_API cg_status cg_safetensors_to_f32(const cg_st_tensor *t, float *dst, int64_t n);

/* Copy each named tensor into items[i].tensor. All items are checked first (the name exists,
 * dtype is F32, the shape matches exactly) and nothing is copied unless every one passes.
 * Tensors in the file that no item names are ignored. A count (BatchNorm2d's
 * num_batches_tracked) loads from I64, I32 or F32 whole numbers, and cg_safetensors_save writes
 * it as I64, as PyTorch does; every other tensor is F32. */
CG_API cg_status cg_safetensors_load_into(const cg_safetensors *st, const cg_named_tensor *items,
                                          int64_t n);

#ifdef __cplusplus
}
#endif
#endif
