/* SPDX-License-Identifier: MIT */
/* lib/core/error.c — the thread-local error message and status names. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "cg_internal.h"

static _Thread_local char last_error[512];
static _Thread_local uint64_t serial;   /* messages set on this thread so far */

const char *cg_strerror(cg_status s) {
    switch (s) {
    case CG_OK: return "success";
    case CG_ENOMEM: return "out of memory";
    case CG_ESHAPE: return "shape mismatch";
    case CG_EIO: return "I/O error";
    case CG_EFORMAT: return "malformed data";
    case CG_EINVAL: return "invalid argument";
    case CG_ESTATE: return "invalid state";
    }
    return "unknown status";
}

const char *cg_last_error(void) { return last_error; }
void cg_clear_error(void) { last_error[0] = '\0'; serial++; }
uint64_t cg_error_serial(void) { return serial; }

cg_status cg_set_error(cg_status s, const char *fmt, ...) {
    /* Formatted into a local buffer first: an argument may be cg_last_error() itself (a caller
     * wrapping the previous message), and a vsnprintf into its own source is undefined. Callers
     * in the library still copy it first (the rule in lib/cg_internal.h); this keeps a caller
     * that forgets, or a user of cg_set_error, from garbling the message. */
    char buf[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    memcpy(last_error, buf, strlen(buf) + 1);
    serial++;
    return s;
}

_Noreturn void cg_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "cgrad: internal error: %s (%s:%d)\n", expr, file, line);
    abort(); /* an invariant of the library broke: not a user error */
}
