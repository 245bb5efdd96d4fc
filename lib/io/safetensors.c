/* SPDX-License-Identifier: MIT */
/* lib/io/safetensors.c — read and write safetensors checkpoints.
 *
 * Reading trusts nothing in the file: the header length is checked against the file's size
 * before anything is allocated, the header is parsed by a strict, schema-directed JSON reader
 * (objects, arrays, strings with escapes, integers; no recursion), and every tensor's offsets
 * must match dtype x shape and tile the data section exactly, without gaps or overlaps.
 * The JSON reader is json.c; writing goes through the atomic file writer (atomic_file.c):
 * "<path>.<random>.tmp", created exclusively, fsync'ed and renamed over path, with terminating signals
 * deferred meanwhile when the program asked for it (cg_safetensors_set_defer_signals). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cg_internal.h"
#include "cgrad/io.h"
#include "atomic_file.h"
#include "json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#define ST_MAX_HEADER (100u * 1000u * 1000u)   /* 100 MB, as the reference implementation */
#define ST_MAX_INT CG_JSON_MAX_INT

/* ---- dtypes -------------------------------------------------------------- */
static const struct { const char *name; int size; } dtypes[] = {
    [CG_ST_BOOL] = { "BOOL", 1 }, [CG_ST_U8] = { "U8", 1 },   [CG_ST_I8] = { "I8", 1 },
    [CG_ST_I16] = { "I16", 2 },   [CG_ST_U16] = { "U16", 2 }, [CG_ST_F16] = { "F16", 2 },
    [CG_ST_BF16] = { "BF16", 2 }, [CG_ST_I32] = { "I32", 4 }, [CG_ST_U32] = { "U32", 4 },
    [CG_ST_F32] = { "F32", 4 },   [CG_ST_I64] = { "I64", 8 }, [CG_ST_U64] = { "U64", 8 },
    [CG_ST_F64] = { "F64", 8 },
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

const char *cg_st_dtype_name(cg_st_dtype d) {
    return (int)d >= 0 && (int)d < N_DTYPES ? dtypes[d].name : "?";
}
int cg_st_dtype_size(cg_st_dtype d) { return (int)d >= 0 && (int)d < N_DTYPES ? dtypes[d].size : 0; }

/* ---- the parsed file ----------------------------------------------------- */
struct cg_safetensors {
    char *name;            /* file name, for messages */
    unsigned char *data;   /* the data section, 64-byte aligned */
    int64_t data_size;
    char *strings;         /* arena of decoded names, keys and values */
    cg_st_tensor *tensors; /* sorted by name */
    int64_t n;
    const char **meta;     /* 2 * n_meta: key, value, ... sorted by key */
    int64_t n_meta;
};

void cg_safetensors_close(cg_safetensors *st) {
    if (!st) return;
    cg_free(st->name);
    cg_free(st->data);
    cg_free(st->strings);
    cg_free(st->tensors);
    cg_free(st->meta);
    cg_free(st);
}

/* Grow *p (elements of `size` bytes, capacity *cap) to hold at least need. */
static bool grow(void **p, int64_t *cap, int64_t need, size_t size) {
    if (need <= *cap) return true;
    int64_t c = *cap ? *cap * 2 : 16;
    if (c < need) c = need;
    void *q = cg_malloc((size_t)c * size);
    if (!q) return false;
    if (*p) memcpy(q, *p, (size_t)*cap * size);
    cg_free(*p);
    *p = q;
    *cap = c;
    return true;
}

typedef struct entry {
    cg_st_tensor t;
    int64_t begin, end;
    size_t pos;   /* where its name starts, for messages */
} entry;

/* {"dtype": "F32", "shape": [..], "data_offsets": [b, e]} in any order, each exactly once. */
static cg_status parse_entry(cg_json *p, entry *e) {
    cg_status s;
    size_t start = p->pos;
    char what[96];
    snprintf(what, sizeof what, "tensor '%.60s'", e->t.name);
    if ((s = cg_json_expect(p, '{', "to open a tensor entry"))) return s;
    bool have_dtype = false, have_shape = false, have_off = false;
    if (cg_json_peek(p) != '}') {
        for (;;) {
            const char *key;
            size_t kpos = (cg_json_skip_ws(p), p->pos);
            if ((s = cg_json_string(p, &key, "a field of a tensor entry"))) return s;
            if ((s = cg_json_expect(p, ':', "after a field name"))) return s;
            if (!strcmp(key, "dtype")) {
                if (have_dtype) return cg_json_error(p, kpos, "duplicate field \"dtype\" in %s", what);
                const char *dt;
                size_t dpos = (cg_json_skip_ws(p), p->pos);
                if ((s = cg_json_string(p, &dt, "dtype"))) return s;
                int k = 0;
                while (k < N_DTYPES && strcmp(dtypes[k].name, dt)) k++;
                if (k == N_DTYPES) return cg_json_error(p, dpos, "unknown dtype \"%.32s\" in %s", dt, what);
                e->t.dtype = (cg_st_dtype)k;
                have_dtype = true;
            } else if (!strcmp(key, "shape")) {
                if (have_shape) return cg_json_error(p, kpos, "duplicate field \"shape\" in %s", what);
                size_t spos = (cg_json_skip_ws(p), p->pos);
                char w[120];
                snprintf(w, sizeof w, "the shape of %s", what);
                if ((s = cg_json_int_array(p, e->t.shape, CG_MAX_DIMS, &e->t.ndim, w))) return s;
                for (int i = 0; i < e->t.ndim; i++)
                    if (e->t.shape[i] < 0)
                        return cg_json_error(p, spos, "negative dimension %" PRId64 " in %s", e->t.shape[i], w);
                have_shape = true;
            } else if (!strcmp(key, "data_offsets")) {
                if (have_off) return cg_json_error(p, kpos, "duplicate field \"data_offsets\" in %s", what);
                int64_t o[3];
                int k;
                size_t opos = (cg_json_skip_ws(p), p->pos);
                char w[120];
                snprintf(w, sizeof w, "data_offsets of %s", what);
                if ((s = cg_json_int_array(p, o, 2, &k, w))) return s;
                if (k != 2) return cg_json_error(p, opos, "%s must hold 2 integers, holds %d", w, k);
                if (o[0] < 0 || o[1] < o[0])
                    return cg_json_error(p, opos, "%s [%" PRId64 ", %" PRId64 "] are not 0 <= begin <= end", w, o[0], o[1]);
                e->begin = o[0];
                e->end = o[1];
                have_off = true;
            } else {
                return cg_json_error(p, kpos, "unknown field \"%.40s\" in %s", key, what);
            }
            int c = cg_json_peek(p);
            if (c == ',') { p->pos++; continue; }
            if (c == '}') break;
            return cg_json_error(p, p->pos, "expected ',' or '}' in %s, found %s", what, cg_json_show(c));
        }
    }
    p->pos++;   /* '}' */
    if (!have_dtype || !have_shape || !have_off)
        return cg_json_error(p, start, "%s lacks \"%s\"", what,
                    !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    /* numel and bytes, with overflow checks: a dimension can be absurd even when another is 0. */
    int64_t numel = 1, bytes;
    for (int i = 0; i < e->t.ndim; i++)
        if (__builtin_mul_overflow(numel, e->t.shape[i], &numel) || numel > ST_MAX_INT)
            return cg_json_error(p, start, "the shape of %s has an absurd element count", what);
    if (__builtin_mul_overflow(numel, (int64_t)dtypes[e->t.dtype].size, &bytes))
        return cg_json_error(p, start, "the shape of %s has an absurd byte count", what);
    if (bytes != e->end - e->begin) {
        char sb[160];
        return cg_json_error(p, start, "%s: dtype %s x shape %s needs %" PRId64 " bytes, data_offsets [%" PRId64
                    ", %" PRId64 "] span %" PRId64, what, dtypes[e->t.dtype].name,
                    cg_shape_str(sb, sizeof sb, e->t.ndim, e->t.shape), bytes, e->begin, e->end,
                    e->end - e->begin);
    }
    e->t.numel = numel;
    e->t.nbytes = bytes;
    return CG_OK;
}

/* {"key": "value", ...} -> pairs appended to *meta (2 strings each). */
static cg_status parse_meta(cg_json *p, const char ***meta, int64_t *n_meta) {
    cg_status s;
    int64_t cap = 0;
    if ((s = cg_json_expect(p, '{', "to open __metadata__"))) return s;
    if (cg_json_peek(p) == '}') { p->pos++; return CG_OK; }
    for (;;) {
        const char *k, *v;
        if ((s = cg_json_string(p, &k, "a __metadata__ key"))) return s;
        if ((s = cg_json_expect(p, ':', "after a __metadata__ key"))) return s;
        if ((s = cg_json_string(p, &v, "a __metadata__ value (only strings are allowed)"))) return s;
        if (!grow((void **)meta, &cap, 2 * (*n_meta + 1), sizeof **meta)) return CG_ENOMEM;
        (*meta)[2 * *n_meta] = k;
        (*meta)[2 * *n_meta + 1] = v;
        (*n_meta)++;
        int c = cg_json_peek(p);
        if (c == ',') { p->pos++; continue; }
        if (c == '}') { p->pos++; return CG_OK; }
        return cg_json_error(p, p->pos, "expected ',' or '}' in __metadata__, found %s", cg_json_show(c));
    }
}

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp(((const entry *)a)->t.name, ((const entry *)b)->t.name);
}
static int cmp_entry_off(const void *a, const void *b) {
    const entry *x = *(entry *const *)a, *y = *(entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}
static int cmp_meta(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Parse header (n bytes) against a data section of st->data_size bytes; fill st and allocate
 * st->data, which the caller then fills with the data section. */
static cg_status parse_header(cg_safetensors *st, const unsigned char *header, size_t n) {
    cg_status s;
    cg_json p = { .file = st->name, .where = "the JSON header", .base = 8, .s = header, .n = n };
    entry *es = NULL, **by_off = NULL;
    int64_t n_e = 0, cap = 0;
    bool have_meta = false;
    if (!(p.arena = st->strings = cg_malloc(n + 1))) return CG_ENOMEM;

    if (cg_json_peek(&p) != '{') { s = cg_json_error(&p, p.pos, "the header must be a JSON object, found %s", cg_json_show(cg_json_peek(&p))); goto out; }
    p.pos++;
    if (cg_json_peek(&p) == '}') p.pos++;
    else for (;;) {
        const char *key;
        size_t kpos = (cg_json_skip_ws(&p), p.pos);
        if ((s = cg_json_string(&p, &key, "a tensor name"))) goto out;
        if ((s = cg_json_expect(&p, ':', "after a tensor name"))) goto out;
        if (!strcmp(key, "__metadata__")) {
            if (have_meta) { s = cg_json_error(&p, kpos, "duplicate \"__metadata__\""); goto out; }
            have_meta = true;
            if ((s = parse_meta(&p, &st->meta, &st->n_meta))) goto out;
        } else {
            if (!grow((void **)&es, &cap, n_e + 1, sizeof *es)) { s = CG_ENOMEM; goto out; }
            entry *e = &es[n_e++];
            memset(e, 0, sizeof *e);
            e->t.name = key;
            e->pos = kpos;
            if ((s = parse_entry(&p, e))) goto out;
        }
        int c = cg_json_peek(&p);
        if (c == ',') { p.pos++; continue; }
        if (c == '}') { p.pos++; break; }
        s = cg_json_error(&p, p.pos, "expected ',' or '}' after a header entry, found %s", cg_json_show(c));
        goto out;
    }
    cg_json_skip_ws(&p);
    if (p.pos != p.n) { s = cg_json_error(&p, p.pos, "trailing garbage after the header's JSON object"); goto out; }

    /* Names and keys are unique. */
    if (n_e > 1) qsort(es, (size_t)n_e, sizeof *es, cmp_entry_name);
    for (int64_t i = 1; i < n_e; i++)
        if (!strcmp(es[i].t.name, es[i - 1].t.name)) {
            s = cg_json_error(&p, es[i].pos > es[i - 1].pos ? es[i].pos : es[i - 1].pos,
                     "duplicate tensor name '%.80s'", es[i].t.name);
            goto out;
        }
    if (st->n_meta > 1) qsort(st->meta, (size_t)st->n_meta, 2 * sizeof *st->meta, cmp_meta);
    for (int64_t i = 1; i < st->n_meta; i++)
        if (!strcmp(st->meta[2 * i], st->meta[2 * i - 2])) {
            s = cg_error(CG_EFORMAT, "%s: duplicate __metadata__ key '%.80s'", st->name, st->meta[2 * i]);
            goto out;
        }

    /* The tensors tile the data section: sorted by offset, each begins where the last ended. */
    if (n_e && !(by_off = cg_malloc((size_t)n_e * sizeof *by_off))) { s = CG_ENOMEM; goto out; }
    for (int64_t i = 0; i < n_e; i++) by_off[i] = &es[i];
    if (n_e > 1) qsort(by_off, (size_t)n_e, sizeof *by_off, cmp_entry_off);
    int64_t at = 0;
    for (int64_t i = 0; i < n_e; i++) {
        entry *e = by_off[i];
        if (e->end > st->data_size) {
            s = cg_json_error(&p, e->pos, "tensor '%.80s': data_offsets [%" PRId64 ", %" PRId64 "] run past the data section "
                     "(%" PRId64 " bytes; the file is truncated or the header is wrong)",
                     e->t.name, e->begin, e->end, st->data_size);
            goto out;
        }
        if (e->begin != at) {
            s = cg_json_error(&p, e->pos, "tensor '%.80s': data_offsets [%" PRId64 ", %" PRId64 "] %s (expected begin %" PRId64 ")",
                     e->t.name, e->begin, e->end, e->begin < at ? "overlap another tensor" : "leave a gap", at);
            goto out;
        }
        at = e->end;
    }
    if (at != st->data_size) {
        s = cg_error(CG_EFORMAT, "%s: the tensors cover %" PRId64 " bytes of a %" PRId64
                     "-byte data section (trailing garbage)", st->name, at, st->data_size);
        goto out;
    }

    /* Only now, with the header checked against the data section's size, is the data allocated
     * (the caller fills it): a file longer than its header covers is refused without reading it. */
    if (!(st->data = cg_malloc(st->data_size ? (size_t)st->data_size : 1))) { s = CG_ENOMEM; goto out; }
    if (n_e && !(st->tensors = cg_malloc((size_t)n_e * sizeof *st->tensors))) { s = CG_ENOMEM; goto out; }
    for (int64_t i = 0; i < n_e; i++) {
        st->tensors[i] = es[i].t;
        st->tensors[i].data = st->data + es[i].begin;
    }
    st->n = n_e;
    s = CG_OK;
out:
    cg_free(es);
    cg_free(by_off);
    return s;
}

static uint64_t le64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

/* Checks the 8-byte prefix against the total size; on success *hlen is the header length. */
static cg_status check_prefix(const char *name, const unsigned char *b8, uint64_t total, size_t *hlen) {
    if (total < 8)
        return cg_error(CG_EIO, "%s: truncated: %" PRIu64 " bytes, shorter than the 8-byte header length", name, total);
    uint64_t n = le64(b8);
    /* Text (a README, a JSON file, a net spec) gives a huge "length": say what the file is first. */
    bool text = true;
    for (int i = 0; i < 8; i++) text &= (b8[i] >= 0x20 && b8[i] < 0x7f) || (b8[i] >= 0x09 && b8[i] <= 0x0d);
    if (text) {
        char shown[9];
        for (int i = 0; i < 8; i++) shown[i] = b8[i] >= 0x20 && b8[i] < 0x7f ? (char)b8[i] : ' ';
        shown[8] = '\0';
        return cg_error(CG_EFORMAT, "%s: not a safetensors file: it starts with text (\"%s\"), where a safetensors "
                        "file starts with its 8-byte header length", name, shown);
    }
    if (n > ST_MAX_HEADER)
        return cg_error(CG_EFORMAT, "%s: header length %" PRIu64 " exceeds the 100 MB limit", name, n);
    if (n > total - 8)
        return cg_error(CG_EIO, "%s: truncated: header length %" PRIu64 " but only %" PRIu64
                        " bytes follow the length field", name, n, total - 8);
    if (n < 2) return cg_error(CG_EFORMAT, "%s: header length %" PRIu64 " is too short for a JSON object", name, n);
    *hlen = (size_t)n;
    return CG_OK;
}

static cg_safetensors *st_new(const char *name, int64_t data_size) {
    cg_safetensors *st = cg_calloc(1, sizeof *st);
    if (!st) return NULL;
    st->data_size = data_size;   /* st->data is allocated by parse_header */
    if (!(st->name = cg_strdup(name))) {
        cg_safetensors_close(st);
        return NULL;
    }
    return st;
}

cg_status cg_safetensors_open_mem(const void *buf, size_t size, const char *name, cg_safetensors **out) {
    if (!out) return cg_error(CG_EINVAL, "cg_safetensors_open_mem: out is NULL");
    *out = NULL;
    if (!name) name = "<memory>";
    if (!buf && size) return cg_error(CG_EINVAL, "cg_safetensors_open_mem: buf is NULL");
    const unsigned char *b = buf;
    size_t hlen = 0;
    cg_status s = check_prefix(name, b, size, &hlen);
    if (s) return s;
    cg_safetensors *st = st_new(name, (int64_t)(size - 8 - hlen));
    if (!st) return CG_ENOMEM;
    if ((s = parse_header(st, b + 8, hlen))) { cg_safetensors_close(st); return s; }
    memcpy(st->data, b + 8 + hlen, size - 8 - hlen);
    *out = st;
    return CG_OK;
}

cg_status cg_safetensors_open(const char *path, cg_safetensors **out) {
    if (!out) return cg_error(CG_EINVAL, "cg_safetensors_open: out is NULL");
    *out = NULL;
    if (!path) return cg_error(CG_EINVAL, "cg_safetensors_open: path is NULL");
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; only regular files are read. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return cg_error(CG_EIO, "%s: cannot open: %s", path, strerror(errno));
    FILE *f = fdopen(fd, "rb");
    if (!f) { int e = errno; close(fd); return cg_error(CG_EIO, "%s: cannot open: %s", path, strerror(e)); }
    cg_status s;
    unsigned char b8[8];
    unsigned char *header = NULL;
    cg_safetensors *st = NULL;
    struct stat sb;
    size_t hlen = 0;
    if (fstat(fileno(f), &sb) != 0) { s = cg_error(CG_EIO, "%s: cannot stat: %s", path, strerror(errno)); goto fail; }
    if (!S_ISREG(sb.st_mode)) { s = cg_error(CG_EIO, "%s: not a regular file", path); goto fail; }
    uint64_t total = (uint64_t)sb.st_size;
    size_t got = fread(b8, 1, total < 8 ? (size_t)total : 8, f);
    if (got != (total < 8 ? total : 8)) { s = cg_error(CG_EIO, "%s: read failed", path); goto fail; }
    if ((s = check_prefix(path, b8, total, &hlen))) goto fail;
    /* The header first, checked against the file's size; then only the data it covers (a sparse
     * `truncate -s 3G` of a checkpoint is refused before its tail is read). */
    if (!(header = cg_malloc(hlen))) { s = CG_ENOMEM; goto fail; }
    int64_t data_size = (int64_t)(total - 8 - hlen);
    if (!(st = st_new(path, data_size))) { s = CG_ENOMEM; goto fail; }
    if (fread(header, 1, hlen, f) != hlen) {
        s = cg_error(CG_EIO, "%s: %s while reading the %zu-byte header", path,
                     ferror(f) ? strerror(errno) : "the file shrank", hlen);
        goto fail;
    }
    if ((s = parse_header(st, header, hlen))) goto fail;
    cg_free(header);
    header = NULL;
    if (fread(st->data, 1, (size_t)data_size, f) != (size_t)data_size) {
        s = cg_error(CG_EIO, "%s: %s while reading %" PRIu64 " bytes", path,
                     ferror(f) ? strerror(errno) : "the file shrank", total);
        goto fail;
    }
    fclose(f);
    f = NULL;
    *out = st;
    return CG_OK;
fail:
    if (f) fclose(f);
    cg_free(header);
    cg_safetensors_close(st);
    return s;
}

/* ---- queries ------------------------------------------------------------- */
int64_t cg_safetensors_count(const cg_safetensors *st) { return st ? st->n : 0; }

const cg_st_tensor *cg_safetensors_at(const cg_safetensors *st, int64_t i) {
    return st && i >= 0 && i < st->n ? &st->tensors[i] : NULL;
}

const cg_st_tensor *cg_safetensors_find(const cg_safetensors *st, const char *name) {
    if (!st || !name) return NULL;
    int64_t lo = 0, hi = st->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, st->tensors[mid].name);
        if (!c) return &st->tensors[mid];
        if (c < 0) hi = mid; else lo = mid + 1;
    }
    return NULL;
}

const char *cg_safetensors_meta(const cg_safetensors *st, const char *key) {
    if (!st || !key) return NULL;
    for (int64_t i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta[2 * i], key)) return st->meta[2 * i + 1];
    return NULL;
}

int64_t cg_safetensors_meta_count(const cg_safetensors *st) { return st ? st->n_meta : 0; }

cg_status cg_safetensors_meta_at(const cg_safetensors *st, int64_t i, const char **key, const char **value) {
    if (!st || i < 0 || i >= st->n_meta)
        return cg_error(CG_EINVAL, "cg_safetensors_meta_at: index %" PRId64 " out of range", i);
    if (key) *key = st->meta[2 * i];
    if (value) *value = st->meta[2 * i + 1];
    return CG_OK;
}

cg_status cg_safetensors_to_f32(const cg_st_tensor *t, float *dst, int64_t n) {
    if (!t || (!dst && n)) return cg_error(CG_EINVAL, "cg_safetensors_to_f32: NULL argument");
    if (n != t->numel)
        return cg_error(CG_ESHAPE, "cg_safetensors_to_f32: tensor '%s' holds %" PRId64 " elements, dst %" PRId64,
                        t->name, t->numel, n);
    const unsigned char *b = t->data;
    switch (t->dtype) {
    case CG_ST_F32: if (n) memcpy(dst, b, (size_t)n * 4); return CG_OK;
    case CG_ST_F64: for (int64_t i = 0; i < n; i++) { double v; memcpy(&v, b + 8 * i, 8); dst[i] = (float)v; } return CG_OK;
    case CG_ST_I64: for (int64_t i = 0; i < n; i++) { int64_t v; memcpy(&v, b + 8 * i, 8); dst[i] = (float)v; } return CG_OK;
    case CG_ST_I32: for (int64_t i = 0; i < n; i++) { int32_t v; memcpy(&v, b + 4 * i, 4); dst[i] = (float)v; } return CG_OK;
    default:
        return cg_error(CG_EFORMAT, "cg_safetensors_to_f32: tensor '%s' has dtype %s; F32, F64, I64 and I32 convert",
                        t->name, cg_st_dtype_name(t->dtype));
    }
}

/* An int64 tensor takes I64 or I32 values, and (files from before cgrad had integer tensors)
 * F32 whole numbers that a float holds exactly; a uint8 tensor takes U8 or BOOL. */
static bool int_value(const cg_st_tensor *v, int64_t i, cg_dtype want, int64_t *out) {
    const unsigned char *b = v->data;
    if (want == CG_U8) {
        if (v->dtype != CG_ST_U8 && v->dtype != CG_ST_BOOL) return false;
        *out = b[i];
        return true;
    }
    if (v->dtype == CG_ST_I64) { memcpy(out, b + 8 * i, 8); return true; }
    if (v->dtype == CG_ST_I32) { int32_t x; memcpy(&x, b + 4 * i, 4); *out = x; return true; }
    if (v->dtype != CG_ST_F32) return false;
    float x;
    memcpy(&x, b + 4 * i, 4);
    if (!(x >= -16777216.0f && x <= 16777216.0f) || x != floorf(x)) return false;
    *out = (int64_t)x;
    return true;
}

cg_status cg_safetensors_load_into(const cg_safetensors *st, const cg_named_tensor *items, int64_t n) {
    if (!st) return cg_error(CG_EINVAL, "cg_safetensors_load_into: st is NULL");
    if (n < 0 || (n && !items)) return cg_error(CG_EINVAL, "cg_safetensors_load_into: bad items/n");
    char a[160], b[160];
    for (int64_t i = 0; i < n; i++) {   /* check everything before copying anything */
        const char *name = items[i].name;
        cg_tensor *t = items[i].tensor;
        if (!name || !t) return cg_error(CG_EINVAL, "cg_safetensors_load_into: item %" PRId64 " has a NULL name or tensor", i);
        const cg_st_tensor *v = cg_safetensors_find(st, name);
        if (!v) return cg_error(CG_EFORMAT, "%s: no tensor named '%s'", st->name, name);
        int nd = cg_tensor_ndim(t);
        const int64_t *sh = cg_tensor_shape(t);
        bool same = nd == v->ndim;
        for (int d = 0; same && d < nd; d++) same = sh[d] == v->shape[d];
        if (!same)
            return cg_error(CG_ESHAPE, "%s: tensor '%s' has shape %s in the file, the model's is %s", st->name, name,
                            cg_shape_str(a, sizeof a, v->ndim, v->shape), cg_shape_str(b, sizeof b, nd, sh));
        if (t->dtype != CG_F32) {
            int64_t x;
            for (int64_t k = 0; k < v->numel; k++)
                if (!int_value(v, k, t->dtype, &x))
                    return cg_error(CG_EFORMAT, "%s: tensor '%s' is %s in the model; the file's must hold %s "
                                    "(dtype %s)", st->name, name, cg_dtype_name(t->dtype),
                                    t->dtype == CG_U8 ? "U8 or BOOL" : "I64, I32, or whole numbers in F32",
                                    cg_st_dtype_name(v->dtype));
            continue;
        }
        if (v->dtype != CG_ST_F32)
            return cg_error(CG_EFORMAT, "%s: tensor '%s' has dtype %s; only F32 loads into a cgrad tensor",
                            st->name, name, cg_st_dtype_name(v->dtype));
        if (v->numel != cg_tensor_numel(t) || v->nbytes != 4 * v->numel)   /* guaranteed by open; cheap */
            return cg_error(CG_EFORMAT, "%s: tensor '%s' holds %" PRId64 " bytes, the model's %" PRId64 " floats",
                            st->name, name, v->nbytes, cg_tensor_numel(t));
    }
    for (int64_t i = 0; i < n; i++) {
        const cg_st_tensor *v = cg_safetensors_find(st, items[i].name);
        cg_tensor *t = items[i].tensor;
        int64_t x = 0;
        if (t->dtype == CG_I64) for (int64_t k = 0; k < v->numel; k++) int_value(v, k, CG_I64, &cg_i64(t)[k]);
        else if (t->dtype == CG_U8) for (int64_t k = 0; k < v->numel; k++) { int_value(v, k, CG_U8, &x); cg_u8(t)[k] = (uint8_t)x; }
        else if (v->nbytes) memcpy(cg_tensor_data(t), v->data, (size_t)v->nbytes);
    }
    return CG_OK;
}

/* ---- writing ------------------------------------------------------------- */
typedef struct sbuf { char *p; int64_t n, cap; bool oom; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (!grow((void **)&b->p, &b->cap, b->n + (int64_t)n + 1, 1)) { b->oom = true; return; }
    memcpy(b->p + b->n, s, n);
    b->n += (int64_t)n;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_json(sbuf *b, const char *s) {   /* a quoted, escaped JSON string */
    sb_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char e[8];
        if (*c == '"') sb_put(b, "\\\"", 2);
        else if (*c == '\\') sb_put(b, "\\\\", 2);
        else if (*c == '\n') sb_put(b, "\\n", 2);
        else if (*c == '\t') sb_put(b, "\\t", 2);
        else if (*c < 0x20) { snprintf(e, sizeof e, "\\u%04x", *c); sb_put(b, e, 6); }
        else sb_put(b, (const char *)c, 1);
    }
    sb_put(b, "\"", 1);
}
static void sb_int(sbuf *b, int64_t v) { char s[24]; snprintf(s, sizeof s, "%" PRId64, v); sb_str(b, s); }

/* A name and its index, to sort items and metadata without reordering the caller's arrays. */
typedef struct keyed { const char *key; int64_t i; } keyed;
static int cmp_keyed(const void *a, const void *b) {
    return strcmp(((const keyed *)a)->key, ((const keyed *)b)->key);
}

/* ---- signals: the programs opt in ------------------------------------------ */
static atomic_bool defer_signals;   /* false: a library caller's dispositions are never touched */

bool cg_safetensors_set_defer_signals(bool on) { return atomic_exchange(&defer_signals, on); }

cg_status cg_safetensors_save(const char *path, const cg_named_tensor *items, int64_t n,
                              const cg_kv *meta, int64_t n_meta) {
    if (!path || !*path) return cg_error(CG_EINVAL, "cg_safetensors_save: path is NULL or empty");
    if (n < 0 || (n && !items)) return cg_error(CG_EINVAL, "cg_safetensors_save %s: bad items/n", path);
    if (n_meta < 0 || (n_meta && !meta)) return cg_error(CG_EINVAL, "cg_safetensors_save %s: bad meta/n_meta", path);
    for (int64_t i = 0; i < n; i++) {
        const char *nm = items[i].name;
        if (!nm || !items[i].tensor)
            return cg_error(CG_EINVAL, "cg_safetensors_save %s: item %" PRId64 " has a NULL name or tensor", path, i);
        if (!cg_utf8_valid(nm)) return cg_error(CG_EINVAL, "cg_safetensors_save %s: item %" PRId64 "'s name is not valid UTF-8", path, i);
        if (!strcmp(nm, "__metadata__")) return cg_error(CG_EINVAL, "cg_safetensors_save %s: \"__metadata__\" is reserved", path);
    }
    for (int64_t i = 0; i < n_meta; i++) {
        if (!meta[i].key || !meta[i].value)
            return cg_error(CG_EINVAL, "cg_safetensors_save %s: metadata %" PRId64 " has a NULL key or value", path, i);
        if (!cg_utf8_valid(meta[i].key) || !cg_utf8_valid(meta[i].value))
            return cg_error(CG_EINVAL, "cg_safetensors_save %s: metadata '%s' is not valid UTF-8", path, meta[i].key);
    }

    cg_status s = CG_OK;
    sbuf h = { 0 };
    keyed *ks = cg_malloc((size_t)(n + n_meta + 1) * sizeof *ks), *ms = ks + n;
    if (!ks) return CG_ENOMEM;
    for (int64_t i = 0; i < n; i++) ks[i] = (keyed){ items[i].name, i };
    for (int64_t i = 0; i < n_meta; i++) ms[i] = (keyed){ meta[i].key, i };
    qsort(ks, (size_t)n, sizeof *ks, cmp_keyed);
    qsort(ms, (size_t)n_meta, sizeof *ms, cmp_keyed);
    for (int64_t i = 1; i < n; i++)
        if (!strcmp(ks[i].key, ks[i - 1].key)) {
            s = cg_error(CG_EINVAL, "cg_safetensors_save %s: duplicate tensor name '%s'", path, ks[i].key);
            goto out;
        }
    for (int64_t i = 1; i < n_meta; i++)
        if (!strcmp(ms[i].key, ms[i - 1].key)) {
            s = cg_error(CG_EINVAL, "cg_safetensors_save %s: duplicate metadata key '%s'", path, ms[i].key);
            goto out;
        }

    /* The header: metadata first, then the tensors by name, their data back to back. */
    sb_str(&h, "{");
    if (n_meta) {
        sb_str(&h, "\"__metadata__\":{");
        for (int64_t i = 0; i < n_meta; i++) {
            if (i) sb_str(&h, ",");
            sb_json(&h, meta[ms[i].i].key);
            sb_str(&h, ":");
            sb_json(&h, meta[ms[i].i].value);
        }
        sb_str(&h, "}");
    }
    int64_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        const cg_tensor *t = items[ks[i].i].tensor;
        if (i || n_meta) sb_str(&h, ",");
        sb_json(&h, items[ks[i].i].name);
        sb_str(&h, t->dtype == CG_I64 ? ":{\"dtype\":\"I64\",\"shape\":["
                   : t->dtype == CG_U8 ? ":{\"dtype\":\"U8\",\"shape\":[" : ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < cg_tensor_ndim(t); d++) {
            if (d) sb_str(&h, ",");
            sb_int(&h, cg_tensor_shape(t)[d]);
        }
        sb_str(&h, "],\"data_offsets\":[");
        sb_int(&h, off);
        sb_str(&h, ",");
        off += (int64_t)cg_dtype_size(t->dtype) * cg_tensor_numel(t);
        sb_int(&h, off);
        sb_str(&h, "]}");
    }
    sb_str(&h, "}");
    while (!h.oom && h.n % 8) sb_str(&h, " ");   /* the data starts 8-byte aligned */
    if (h.oom) { s = CG_ENOMEM; goto out; }
    if (h.n > (int64_t)ST_MAX_HEADER) {
        s = cg_error(CG_EINVAL, "cg_safetensors_save %s: header of %" PRId64 " bytes exceeds 100 MB", path, h.n);
        goto out;
    }

    cg_atomic_file w;
    if ((s = cg_atomic_file_open(&w, "cg_safetensors_save", path, atomic_load(&defer_signals)))) goto out;
    unsigned char b8[8];
    for (int i = 0; i < 8; i++) b8[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    if ((s = cg_atomic_file_write(&w, b8, 8)) || (s = cg_atomic_file_write(&w, h.p, (size_t)h.n))) goto fail;
    for (int64_t i = 0; i < n; i++) {
        const cg_tensor *t = items[ks[i].i].tensor;
        /* little-endian hosts only (x86-64, arm64): the file's byte order is the memory's */
        if ((s = cg_atomic_file_write(&w, t->raw, cg_dtype_size(t->dtype) * (size_t)t->numel))) goto fail;
    }
    s = cg_atomic_file_commit(&w);
    goto out;
fail:
    cg_atomic_file_abort(&w);   /* the old file stays; the partial one goes */
out:
    cg_free(h.p);
    cg_free(ks);
    return s;
}
