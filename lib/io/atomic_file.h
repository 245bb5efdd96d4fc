/* SPDX-License-Identifier: MIT */
/* lib/io/atomic_file.h — replace a file atomically (private to lib/io; every library writer uses it).
 *
 *   cg_atomic_file w;
 *   if ((s = cg_atomic_file_open(&w, "cg_safetensors_save", path, defer))) return s;
 *   if ((s = cg_atomic_file_write(&w, bytes, n))) { cg_atomic_file_abort(&w); return s; }
 *   return cg_atomic_file_commit(&w);   // finishes w whatever it returns
 *
 * The bytes go to "<path>.<16 random hex digits>.tmp" in the same directory (getrandom: a name
 * no one can plant in advance), created with O_CREAT|O_EXCL|O_NOFOLLOW (never followed, never
 * someone else's: a name already taken is left alone and another drawn); commit flushes and fsyncs it, checks that path is still absent or a regular file and that
 * the temporary is still the one created, renames it over path and syncs the directory. path must
 * be absent or a regular file: a symbolic link (dangling or not), directory, device, FIFO or socket
 * is refused. On any failure, and on abort, the temporary this writer created (and only that one)
 * is removed and path is untouched.
 *
 * With defer_signals, SIGINT, SIGTERM and SIGHUP whose disposition is the default are deferred from
 * the creation of the temporary until it is renamed or removed, then re-sent (see io.h,
 * cg_safetensors_set_defer_signals). Messages read "<who> <path>: ...". */
#ifndef CG_IO_ATOMIC_FILE_H
#define CG_IO_ATOMIC_FILE_H
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include "cgrad/base.h"

typedef struct cg_atomic_file {
    const char *who;    /* the public entry point, for messages */
    const char *path;   /* borrowed from the caller until commit/abort */
    char *tmp;          /* "<path>.<random>.tmp" */
    FILE *f;
    dev_t dev;          /* the temporary's identity */
    ino_t ino;
    bool created;       /* the temporary exists and is ours to remove */
    bool deferred;      /* signals are deferred until commit/abort */
} cg_atomic_file;

/* Checks path and creates the temporary. On failure nothing is left to abort. */
cg_status cg_atomic_file_open(cg_atomic_file *w, const char *who, const char *path, bool defer_signals);
cg_status cg_atomic_file_write(cg_atomic_file *w, const void *p, size_t n);
/* Syncs, renames over path, syncs the directory; w is finished on return, success or not. */
cg_status cg_atomic_file_commit(cg_atomic_file *w);
/* Drops the temporary; path is untouched. A no-op on a finished writer. */
void cg_atomic_file_abort(cg_atomic_file *w);

#endif
