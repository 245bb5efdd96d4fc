/* SPDX-License-Identifier: MIT */
/* lib/data/npy.c — NumPy's .npy format under the IDX reader (lib/data/idx.c): a file that starts
 * with "\x93NUMPY" is read wherever an IDX file is, raw or gzip, with the same checks and memory
 * bound (the header's claim is checked against the input before the body is allocated).
 *
 * Format (numpy.lib.format, versions 1.0, 2.0 and 3.0): the 6-byte magic, major and minor version
 * bytes, the header's length (little-endian uint16 for 1.0, uint32 for 2.0 and 3.0), then the
 * header: a Python dict literal with exactly the keys 'descr' (a type string such as '<f4'),
 * 'fortran_order' (True or False) and 'shape' (a tuple of ints), padded with spaces and ending in
 * a newline. The data follows, C or Fortran order, in the byte order the descr says.
 *
 * What is read: 1 to 4 dimensions, none of them 0, of bool, int8/16/32/64, uint8/16/32/64, float16,
 * float32 or float64, either byte order and either order. The result is an IDX array in host order
 * and C order: bool and uint8 as unsigned bytes, int8, int16 as they are, uint16 and the 32- and
 * 64-bit integers as int (a value outside int32 is refused, naming its index), float16 and float32
 * as float, float64 as double. Object, string, complex, structured and datetime arrays are refused
 * naming the descr; so is a header that does not parse, with the byte position. */
#include <stdlib.h>
#include "cg_internal.h"
#include "idx_internal.h"



/* ---- the header's dict literal ---------------------------------------------------------- */
typedef struct npy_lex { const char *s; size_t n, i; const char *name; } npy_lex;

static void skip_ws(npy_lex *l) {
    while (l->i < l->n && (l->s[l->i] == ' ' || l->s[l->i] == '\t' || l->s[l->i] == '\n' || l->s[l->i] == '\r'))
        l->i++;
}

static cg_status bad(npy_lex *l, const char *what) {
    return cg_error(CG_EFORMAT, "%s: .npy header, byte %zu: %s (header: %.80s)", l->name, l->i + 1, what, l->s);
}

static bool eat(npy_lex *l, char c) {
    skip_ws(l);
    if (l->i < l->n && l->s[l->i] == c) { l->i++; return true; }
    return false;
}

/* A quoted string (single or double quotes, no escapes: numpy's keys and descrs have none). */
static cg_status string(npy_lex *l, char *out, size_t cap) {
    skip_ws(l);
    if (l->i >= l->n || (l->s[l->i] != '\'' && l->s[l->i] != '"')) return bad(l, "a quoted string expected");
    char q = l->s[l->i++];
    size_t k = 0;
    while (l->i < l->n && l->s[l->i] != q) {
        if (l->s[l->i] == '\\' || k + 1 >= cap) return bad(l, "unexpected string (too long, or escaped)");
        out[k++] = l->s[l->i++];
    }
    if (l->i >= l->n) return bad(l, "a string is never closed");
    l->i++;
    out[k] = '\0';
    return CG_OK;
}

static cg_status shape(npy_lex *l, cg_npy_header *h) {
    if (!eat(l, '(')) return bad(l, "'shape' must be a tuple: '(' expected");
    h->ndim = 0;
    for (;;) {
        if (eat(l, ')')) return CG_OK;
        skip_ws(l);
        if (l->i >= l->n || l->s[l->i] < '0' || l->s[l->i] > '9') return bad(l, "a dimension (a number) expected");
        int64_t v = 0;
        while (l->i < l->n && l->s[l->i] >= '0' && l->s[l->i] <= '9') {
            if (v > (INT64_MAX - 9) / 10) return bad(l, "a dimension is too large");
            v = v * 10 + (l->s[l->i++] - '0');
        }
        if (l->i < l->n && l->s[l->i] == 'L') l->i++;   /* Python 2's long suffix */
        if (h->ndim == CG_IDX_MAX_DIMS)
            return cg_error(CG_EFORMAT, "%s: more than %d dimensions; cgrad reads arrays of 1 to %d", l->name,
                            CG_IDX_MAX_DIMS, CG_IDX_MAX_DIMS);
        h->dims[h->ndim++] = v;
        if (!eat(l, ',')) {
            if (eat(l, ')')) return CG_OK;
            return bad(l, "',' or ')' expected in 'shape'");
        }
    }
}

/* The descr: byte order ('<' little, '>' big, '|' or '=' none/native), kind, size. */
static cg_status descr(npy_lex *l, const char *d, cg_npy_header *h) {
    const char *p = d;
    char order = '=';
    if (*p == '<' || *p == '>' || *p == '|' || *p == '=') order = *p++;
    char kind = *p ? *p++ : 0;
    char *end;
    long size = *p >= '1' && *p <= '9' ? strtol(p, &end, 10) : 0;
    if (!size || *end) goto refuse;
    h->kind = kind;
    h->size = (int)size;
    h->big_endian = order == '>';
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    if (order == '=') h->big_endian = true;
#endif
    switch (kind) {
    case 'b': if (size == 1) return CG_OK; break;
    case 'i': case 'u': if (size == 1 || size == 2 || size == 4 || size == 8) return CG_OK; break;
    case 'f': if (size == 2 || size == 4 || size == 8) return CG_OK; break;
    default: break;
    }
refuse:
    (void)l;
    return cg_error(CG_EFORMAT, "%s: .npy dtype '%s' is not read by cgrad (it reads bool, int8..int64, uint8..uint64, "
                    "float16, float32 and float64; no object, string, complex, structured or datetime arrays)",
                    l->name, d);
}

cg_status cg_npy_parse_header(const char *text, size_t len, const char *name, cg_npy_header *out) {
    npy_lex l = { .s = text, .n = len, .name = name };
    *out = (cg_npy_header){ 0 };
    bool got_descr = false, got_order = false, got_shape = false;
    if (!eat(&l, '{')) return bad(&l, "'{' expected");
    for (;;) {
        if (eat(&l, '}')) break;
        char key[32], val[64];
        cg_status st = string(&l, key, sizeof key);
        if (st != CG_OK) return st;
        if (!eat(&l, ':')) return bad(&l, "':' expected");
        if (!strcmp(key, "descr")) {
            skip_ws(&l);
            if (l.i < l.n && l.s[l.i] == '[')
                return cg_error(CG_EFORMAT, "%s: a structured .npy array (its descr is a list of fields); cgrad "
                                "reads plain numeric arrays", name);
            if ((st = string(&l, val, sizeof val)) != CG_OK || (st = descr(&l, val, out)) != CG_OK) return st;
            got_descr = true;
        } else if (!strcmp(key, "fortran_order")) {
            skip_ws(&l);
            if (l.n - l.i >= 4 && !memcmp(l.s + l.i, "True", 4)) { out->fortran = true; l.i += 4; }
            else if (l.n - l.i >= 5 && !memcmp(l.s + l.i, "False", 5)) { out->fortran = false; l.i += 5; }
            else return bad(&l, "'fortran_order' must be True or False");
            got_order = true;
        } else if (!strcmp(key, "shape")) {
            if ((st = shape(&l, out)) != CG_OK) return st;
            got_shape = true;
        } else {
            return cg_error(CG_EFORMAT, "%s: .npy header has an unknown key '%s' (only descr, fortran_order, shape)",
                            name, key);
        }
        if (!eat(&l, ',')) {
            if (eat(&l, '}')) break;
            return bad(&l, "',' or '}' expected");
        }
    }
    skip_ws(&l);
    if (l.i != l.n) return bad(&l, "text after the header's '}'");
    if (!got_descr || !got_order || !got_shape)
        return cg_error(CG_EFORMAT, "%s: .npy header lacks '%s'", name,
                        !got_descr ? "descr" : !got_order ? "fortran_order" : "shape");
    if (out->ndim == 0)
        return cg_error(CG_EFORMAT, "%s: a 0-dimensional .npy array (a scalar); cgrad reads arrays of 1 to %d dimensions",
                        name, CG_IDX_MAX_DIMS);
    for (int i = 0; i < out->ndim; i++)
        if (out->dims[i] == 0) return cg_error(CG_EFORMAT, "%s: dimension %d is 0", name, i);
    if (out->dims[0] > UINT32_MAX)
        return cg_error(CG_EFORMAT, "%s: %lld entries in the first dimension; at most %u", name,
                        (long long)out->dims[0], UINT32_MAX);
    return CG_OK;
}

/* ---- the body into an IDX array ----------------------------------------------------------- */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0x1F) bits = sign | 0x7F800000u | (man << 13);           /* inf, NaN */
    else if (exp) bits = sign | ((exp + 112) << 23) | (man << 13);      /* normal */
    else if (!man) bits = sign;                                          /* zero */
    else {                                                               /* subnormal: normalise */
        int e = -1;
        do { man <<= 1; e++; } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3FF) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void swap_bytes(uint8_t *p, int64_t n, int es) {
    if (es == 1) return;
    for (int64_t i = 0; i < n; i++, p += es)
        for (int a = 0, b = es - 1; a < b; a++, b--) { uint8_t t = p[a]; p[a] = p[b]; p[b] = t; }
}

/* Fortran order (the first index fastest) to C order, elements of es bytes. */
static uint8_t *to_c_order(const uint8_t *src, const int64_t *dims, int nd, int64_t numel, int es) {
    uint8_t *dst = cg_malloc((size_t)numel * (size_t)es);
    if (!dst) return NULL;
    int64_t idx[CG_IDX_MAX_DIMS] = { 0 }, fstride[CG_IDX_MAX_DIMS];
    fstride[0] = 1;
    for (int d = 1; d < nd; d++) fstride[d] = fstride[d - 1] * dims[d - 1];
    for (int64_t c = 0; c < numel; c++) {   /* c walks C order; idx is its multi-index */
        int64_t f = 0;
        for (int d = 0; d < nd; d++) f += idx[d] * fstride[d];
        memcpy(dst + c * es, src + f * es, (size_t)es);
        for (int d = nd - 1; d >= 0 && ++idx[d] == dims[d]; d--) idx[d] = 0;
    }
    return dst;
}

cg_idx_type cg_npy_idx_type(const cg_npy_header *h, int64_t *elem_size) {
    const int es = h->size;
    cg_idx_type t;
    switch (h->kind) {
    case 'b': t = CG_IDX_U8; break;
    case 'u': t = es == 1 ? CG_IDX_U8 : CG_IDX_I32; break;
    case 'i': t = es == 1 ? CG_IDX_I8 : es == 2 ? CG_IDX_I16 : CG_IDX_I32; break;
    default: t = es == 8 ? CG_IDX_F64 : CG_IDX_F32; break;
    }
    *elem_size = t == CG_IDX_U8 || t == CG_IDX_I8 ? 1 : t == CG_IDX_I16 ? 2 : t == CG_IDX_F64 ? 8 : 4;
    return t;
}

cg_status cg_npy_finish(const cg_npy_header *h, uint8_t *raw, const char *name, cg_idx_array *a) {
    const int64_t n = a->numel;
    const int es = h->size;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    if (!h->big_endian) swap_bytes(raw, n, es);
#else
    if (h->big_endian) swap_bytes(raw, n, es);
#endif
    if (h->fortran && h->ndim > 1) {
        uint8_t *c = to_c_order(raw, h->dims, h->ndim, n, es);
        cg_free(raw);
        if (!c) return CG_ENOMEM;
        raw = c;
    }
    int64_t out_es;
    const cg_idx_type t = cg_npy_idx_type(h, &out_es);
    uint8_t *out = raw;
    if (out_es != es || h->kind == 'b' || (h->kind == 'u' && es == 4)) {
        out = out_es > es ? cg_malloc((size_t)n * (size_t)out_es) : raw;   /* narrowing goes in place */
        if (!out) { cg_free(raw); return CG_ENOMEM; }
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *p = raw + i * es;
            if (h->kind == 'b') { out[i] = p[0] != 0; continue; }
            if (h->kind == 'f') { uint16_t v; memcpy(&v, p, 2); float f = half_to_float(v); memcpy(out + i * 4, &f, 4); continue; }
            int64_t v;
            if (h->kind == 'u') {
                uint64_t u = 0;
                if (es == 2) { uint16_t x; memcpy(&x, p, 2); u = x; }
                else if (es == 4) { uint32_t x; memcpy(&x, p, 4); u = x; }
                else memcpy(&u, p, 8);
                if (u > INT32_MAX) {
                    if (out != raw) cg_free(out);
                    cg_free(raw);
                    return cg_error(CG_EFORMAT, "%s: element %lld is %llu, outside int32 (cgrad keeps integer "
                                    "arrays as int32)", name, (long long)i, (unsigned long long)u);
                }
                v = (int64_t)u;
            } else {
                int64_t x;
                memcpy(&x, p, 8);
                v = x;
                if (v < INT32_MIN || v > INT32_MAX) {
                    if (out != raw) cg_free(out);
                    cg_free(raw);
                    return cg_error(CG_EFORMAT, "%s: element %lld is %lld, outside int32 (cgrad keeps integer "
                                    "arrays as int32)", name, (long long)i, (long long)v);
                }
            }
            int32_t w = (int32_t)v;
            memcpy(out + i * 4, &w, 4);
        }
        if (out != raw) cg_free(raw);
    }
    a->data = out;
    a->type = t;
    a->elem_size = out_es;
    return CG_OK;
}
