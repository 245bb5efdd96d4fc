/* SPDX-License-Identifier: MIT */
/* lib/io/json.h — a strict JSON reader for file headers (private to lib/io).
 *
 * Schema-directed: the caller walks the document and asks for the value it expects next (an
 * object's brace, a string, an integer, an array of integers); nothing recurses, nothing is
 * allocated. Strings are decoded (escapes, surrogate pairs) to NUL-terminated UTF-8 in an arena
 * the caller provides: n + 1 bytes for an n-byte document always suffice. Every error is
 * CG_EFORMAT with the detail "<file>: byte <offset in the file> of the file (in <where>): ...". */
#ifndef CG_IO_JSON_H
#define CG_IO_JSON_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cgrad/base.h"

#define CG_JSON_MAX_INT ((int64_t)1 << 53)   /* larger integers in a header are absurd */

typedef struct cg_json {
    const char *file;          /* for messages */
    const char *where;         /* for messages: "the JSON header" */
    size_t base;               /* offset of s[0] in the file, for messages */
    const unsigned char *s;    /* the document's bytes */
    size_t n, pos;
    char *arena;               /* decoded strings go here; n + 1 bytes suffice */
    size_t arena_used;
} cg_json;

/* Length of the valid UTF-8 sequence at s (n > 0 bytes available), 0 if invalid. Rejects overlong
 * forms, surrogates and code points past U+10FFFF. */
int cg_utf8_len(const unsigned char *s, size_t n);
bool cg_utf8_valid(const char *s);   /* the whole NUL-terminated string */

/* Sets the error detail for a problem at byte pos of the document; returns CG_EFORMAT. */
cg_status cg_json_error(cg_json *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cg_json_skip_ws(cg_json *p);
int cg_json_peek(cg_json *p);        /* the next byte after white space, -1 at the end */
const char *cg_json_show(int c);     /* a byte for a message (thread-local buffer) */
/* The byte c (after white space), else an error "expected 'c' <where>, found ...". */
cg_status cg_json_expect(cg_json *p, char c, const char *where);
/* A string, decoded into the arena; *out points there. what names it in messages. */
cg_status cg_json_string(cg_json *p, const char **out, const char *what);
/* An integer in [-2^53, 2^53]; fractions and exponents are refused. */
cg_status cg_json_int(cg_json *p, int64_t *out, const char *what);
/* [int, ...] with at most max entries; *count gets how many. */
cg_status cg_json_int_array(cg_json *p, int64_t *out, int max, int *count, const char *what);

#endif
