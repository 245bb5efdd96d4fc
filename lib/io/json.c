/* SPDX-License-Identifier: MIT */
/* lib/io/json.c — the strict, schema-directed JSON reader behind the safetensors header (see
 * json.h): strings with escapes, integers, arrays of integers; no recursion, no allocation. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "cg_internal.h"
#include "json.h"

/* ---- UTF-8 --------------------------------------------------------------- */
/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. Rejects overlong
 * forms, surrogates and code points past U+10FFFF. */
int cg_utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned cp, min;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

bool cg_utf8_valid(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        int l = cg_utf8_len((const unsigned char *)s + i, n - i);
        if (!l) return false;
        i += (size_t)l;
    }
    return true;
}

cg_status cg_json_error(cg_json *p, size_t pos, const char *fmt, ...) {
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cg_error(CG_EFORMAT, "%s: byte %zu of the file (in %s): %s", p->file, pos + p->base, p->where, msg);
}

void cg_json_skip_ws(cg_json *p) {
    while (p->pos < p->n) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

const char *cg_json_show(int c) {  /* a byte for a message */
    static _Thread_local char buf[16];
    if (c < 0) return "end of header";
    if (c >= 0x20 && c < 0x7F) snprintf(buf, sizeof buf, "'%c'", c);
    else snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
}

int cg_json_peek(cg_json *p) { cg_json_skip_ws(p); return p->pos < p->n ? p->s[p->pos] : -1; }

cg_status cg_json_expect(cg_json *p, char c, const char *where) {
    int got = cg_json_peek(p);
    if (got != c) return cg_json_error(p, p->pos, "expected '%c' %s, found %s", c, where, cg_json_show(got));
    p->pos++;
    return CG_OK;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_u4(cg_json *p, size_t at, unsigned *out) {
    if (at + 4 > p->n) return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[at + (size_t)i]);
        if (h < 0) return false;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return true;
}

/* A JSON string, decoded to NUL-terminated UTF-8 in the arena. Each decoded string with its NUL
 * is no longer than its quoted source, so the arena (header size + 1) never overflows. */
cg_status cg_json_string(cg_json *p, const char **out, const char *what) {
    if (cg_json_peek(p) != '"') return cg_json_error(p, p->pos, "expected a string (%s), found %s", what, cg_json_show(cg_json_peek(p)));
    size_t start = p->pos++;
    char *d = p->arena + p->arena_used, *d0 = d;
    for (;;) {
        if (p->pos >= p->n) return cg_json_error(p, start, "unterminated string (%s)", what);
        unsigned char c = p->s[p->pos];
        if (c == '"') { p->pos++; break; }
        if (c < 0x20) return cg_json_error(p, p->pos, "control character 0x%02x in a string (%s); escape it", c, what);
        if (c != '\\') {
            int l = cg_utf8_len(p->s + p->pos, p->n - p->pos);
            if (!l) return cg_json_error(p, p->pos, "invalid UTF-8 in a string (%s)", what);
            memcpy(d, p->s + p->pos, (size_t)l);
            d += l;
            p->pos += (size_t)l;
            continue;
        }
        size_t esc = p->pos++;
        if (p->pos >= p->n) return cg_json_error(p, start, "unterminated string (%s)", what);
        c = p->s[p->pos++];
        switch (c) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '/': *d++ = '/'; break;
        case 'b': *d++ = '\b'; break;
        case 'f': *d++ = '\f'; break;
        case 'n': *d++ = '\n'; break;
        case 'r': *d++ = '\r'; break;
        case 't': *d++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (!read_u4(p, p->pos, &cp)) return cg_json_error(p, esc, "\\u must be followed by 4 hex digits (%s)", what);
            p->pos += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return cg_json_error(p, esc, "lone low surrogate \\u%04X (%s)", cp, what);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->pos + 2 > p->n || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
                    !read_u4(p, p->pos + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return cg_json_error(p, esc, "high surrogate \\u%04X without a low surrogate (%s)", cp, what);
                p->pos += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0) return cg_json_error(p, esc, "\\u0000 (NUL) is not allowed in a string (%s)", what);
            if (cp < 0x80) *d++ = (char)cp;
            else if (cp < 0x800) { *d++ = (char)(0xC0 | cp >> 6); *d++ = (char)(0x80 | (cp & 0x3F)); }
            else if (cp < 0x10000) {
                *d++ = (char)(0xE0 | cp >> 12); *d++ = (char)(0x80 | (cp >> 6 & 0x3F));
                *d++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *d++ = (char)(0xF0 | cp >> 18); *d++ = (char)(0x80 | (cp >> 12 & 0x3F));
                *d++ = (char)(0x80 | (cp >> 6 & 0x3F)); *d++ = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: return cg_json_error(p, esc, "invalid escape '\\%s' in a string (%s)", cg_json_show(c), what);
        }
    }
    *d++ = '\0';
    p->arena_used += (size_t)(d - d0);
    *out = d0;
    return CG_OK;
}

/* A JSON integer in [-2^53, 2^53]. Fractions and exponents are refused: shapes and offsets are
 * integers. */
cg_status cg_json_int(cg_json *p, int64_t *out, const char *what) {
    int c = cg_json_peek(p);
    size_t start = p->pos;
    bool neg = false;
    if (c == '-') { neg = true; p->pos++; c = p->pos < p->n ? p->s[p->pos] : -1; }
    if (c < '0' || c > '9') return cg_json_error(p, start, "expected an integer (%s), found %s", what, cg_json_show(c));
    if (c == '0' && p->pos + 1 < p->n && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
        return cg_json_error(p, start, "leading zero in an integer (%s)", what);
    int64_t v = 0;
    while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        v = v * 10 + (p->s[p->pos++] - '0');
        if (v > CG_JSON_MAX_INT) return cg_json_error(p, start, "integer too large (%s)", what);
    }
    if (p->pos < p->n && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
        return cg_json_error(p, start, "expected an integer (%s), found a number with a fraction or exponent", what);
    *out = neg ? -v : v;
    return CG_OK;
}

/* [int, ...] with at most max entries. */
cg_status cg_json_int_array(cg_json *p, int64_t *out, int max, int *count, const char *what) {
    cg_status s;
    size_t start = p->pos;
    if ((s = cg_json_expect(p, '[', what))) return s;
    *count = 0;
    if (cg_json_peek(p) == ']') { p->pos++; return CG_OK; }
    for (;;) {
        if (*count == max) return cg_json_error(p, start, "%s has more than %d entries", what, max);
        if ((s = cg_json_int(p, &out[*count], what))) return s;
        (*count)++;
        int c = cg_json_peek(p);
        if (c == ',') { p->pos++; continue; }
        if (c == ']') { p->pos++; return CG_OK; }
        return cg_json_error(p, p->pos, "expected ',' or ']' in %s, found %s", what, cg_json_show(c));
    }
}

