/* SPDX-License-Identifier: MIT */
/* lib/data/idx.c — IDX (MNIST-format) files of any element type, raw or gzip, from a file or memory.
 *
 * One reader serves files and memory buffers alike, and does its own inflate (zlib's inflate with
 * the gzip wrapper) rather than gzread: the fuzzer then covers the same code a file load runs,
 * and every gzip failure (bad deflate data, CRC mismatch, stream cut short) is an error rather
 * than a silently short read.
 *
 * Header (big-endian): 0x00 0x00 <type> <ndims>, then ndims uint32 sizes. Every type of the
 * format (0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E) with 1 to 4 dims is read, and the big-endian
 * elements are turned to host order. cg_idx_read keeps the file's element type (the datasets'
 * storage, idx_internal.h); cg_idx_load hands the same back as a tensor (data.h).
 * The body is read in chunks into a buffer that doubles as bytes actually arrive, capped by the
 * header's claim: a header claiming 4 billion images costs at most twice the real data. The whole
 * body is allocated at once only when the input can hold it: a raw input at least that long, or a
 * gzip input whose trailer (ISIZE) agrees and whose compressed size allows it at deflate's maximum
 * ratio (1032:1). That halves the load time of a real set (no regrowth copies, fewer page faults). */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat, fdopen, O_CLOEXEC */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <unistd.h>
#include <zlib.h>
#include "cg_internal.h"
#include "idx_internal.h"

#define IDX_MAX_ITEM (1 << 28)   /* any IDX file: bytes per entry of the first dimension (256 MiB) */
#define IDX_FIRST_CHUNK (64 * 1024)
#define IDX_IN_CHUNK (64 * 1024)
#define IDX_MAX_RATIO 1032       /* deflate's largest expansion: 258 bytes from 2 bits */
#define IDX_TAIL 4096            /* bytes read past the header's claim, to report trailing data */
#define NPY_MAX_HEADER 65536     /* a .npy header's dict: numpy writes far less */

/* ---- the byte source: a FILE or a memory buffer, raw or gzip ---------------- */
typedef struct idx_src {
    const char *name;
    FILE *f;                    /* NULL: memory */
    const uint8_t *mem;
    size_t mem_len, mem_pos;
    uint8_t *inbuf;             /* file + gzip: compressed input */
    bool in_eof;                /* no more compressed/raw input */
    bool gz, z_init, z_done;
    z_stream zs;
    cg_status err;              /* why the last read returned -1 */
    uint64_t total;             /* bytes in the file or buffer (compressed size for gzip) */
    uint32_t isize;             /* gzip: the last member's trailer, uncompressed size mod 2^32 */
} idx_src;

/* zlib needs no zeroed memory (items * size < 2^64: both are 32-bit). */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size) { (void)opaque; return cg_malloc((size_t)items * size); }
static void z_free(voidpf opaque, voidpf p) { (void)opaque; cg_free(p); }

/* Raw bytes from the underlying file or buffer: up to n, fewer only at the end; -1 on error. */
static int64_t src_raw(idx_src *s, uint8_t *buf, size_t n) {
    if (!s->f) {
        size_t k = s->mem_len - s->mem_pos < n ? s->mem_len - s->mem_pos : n;
        if (k) memcpy(buf, s->mem + s->mem_pos, k);
        s->mem_pos += k;
        return (int64_t)k;
    }
    size_t k = fread(buf, 1, n, s->f);
    if (k < n && ferror(s->f)) {
        s->err = cg_error(CG_EIO, "%s: read error: %s", s->name, strerror(errno));
        return -1;
    }
    return (int64_t)k;
}

/* Refill the inflate input, keeping any unread bytes. */
static int src_refill(idx_src *s) {
    if (s->in_eof) return 0;
    if (!s->f) { /* memory: point inflate at the rest of the buffer, 1 GiB at a time */
        if (s->zs.avail_in) s->mem_pos = (size_t)(s->zs.next_in - s->mem);
        size_t rem = s->mem_len - s->mem_pos, k = rem < (1u << 30) ? rem : (1u << 30);
        s->zs.next_in = (Bytef *)(s->mem + s->mem_pos);
        s->zs.avail_in = (uInt)k;
        s->mem_pos += k;
        s->in_eof = s->mem_pos == s->mem_len;
        return 0;
    }
    if (s->zs.avail_in) memmove(s->inbuf, s->zs.next_in, s->zs.avail_in);
    size_t ask = IDX_IN_CHUNK - s->zs.avail_in;
    int64_t k = src_raw(s, s->inbuf + s->zs.avail_in, ask);
    if (k < 0) return -1;
    if ((size_t)k < ask) s->in_eof = true;
    s->zs.next_in = s->inbuf;
    s->zs.avail_in += (uInt)k;
    return 0;
}

/* Decompressed (or raw) bytes: up to n, fewer only at the end of the data; -1 on error
 * (s->err and the message set). */
static int64_t src_read(idx_src *s, uint8_t *buf, size_t n) {
    if (!s->gz) return src_raw(s, buf, n);
    size_t got = 0;
    while (got < n && !s->z_done) {
        if (s->zs.avail_in == 0 && src_refill(s) < 0) return -1;
        s->zs.next_out = buf + got;
        s->zs.avail_out = (uInt)(n - got > (1u << 30) ? (1u << 30) : n - got);
        uInt before = s->zs.avail_out;
        int rc = inflate(&s->zs, Z_NO_FLUSH);
        got += before - s->zs.avail_out;
        if (rc == Z_OK) continue;
        if (rc == Z_STREAM_END) {
            /* Another gzip member follows (concatenated .gz)? Otherwise stop: anything after the
             * last member is ignored, as gzip -d does. */
            if (s->zs.avail_in < 2 && src_refill(s) < 0) return -1;
            if (s->zs.avail_in >= 2 && s->zs.next_in[0] == 0x1f && s->zs.next_in[1] == 0x8b) {
                inflateReset(&s->zs);
                continue;
            }
            s->z_done = true;
        } else if (rc == Z_BUF_ERROR) { /* no progress: input needed */
            if (s->zs.avail_in == 0 && s->in_eof) {
                s->err = cg_error(CG_EFORMAT, "%s: corrupt gzip data: the compressed stream is cut short", s->name);
                return -1;
            }
        } else if (rc == Z_MEM_ERROR) {
            s->err = cg_error(CG_ENOMEM, "%s: out of memory in inflate", s->name);
            return -1;
        } else {
            s->err = cg_error(CG_EFORMAT, "%s: corrupt gzip data (%s)", s->name, s->zs.msg ? s->zs.msg : "inflate failed");
            return -1;
        }
    }
    return (int64_t)got;
}

/* Look at the first bytes and set up inflate if they are gzip's magic. */
static cg_status src_start(idx_src *s) {
    uint8_t head[2];
    int64_t k;
    if (s->f) {
        k = src_raw(s, head, 2);
        if (k < 0) return s->err;
        if (k == 0) return cg_error(CG_EFORMAT, "%s: the file is empty", s->name);
        struct stat sb;
        if (fstat(fileno(s->f), &sb) == 0 && sb.st_size > 0) s->total = (uint64_t)sb.st_size;
        uint8_t t[4];
        if (k == 2 && head[0] == 0x1f && head[1] == 0x8b && s->total >= 18 && fseek(s->f, -4, SEEK_END) == 0 &&
            fread(t, 1, 4, s->f) == 4)
            s->isize = (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
        if (fseek(s->f, 0, SEEK_SET) != 0)
            return cg_error(CG_EIO, "%s: cannot seek: %s", s->name, strerror(errno));
    } else {
        k = s->mem_len < 2 ? (int64_t)s->mem_len : 2;
        if (k == 0) return cg_error(CG_EFORMAT, "%s: the file is empty", s->name);
        memcpy(head, s->mem, (size_t)k);
        s->total = s->mem_len;
        if (s->mem_len >= 18) {
            const uint8_t *t = s->mem + s->mem_len - 4;
            s->isize = (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
        }
    }
    if (k < 2 || head[0] != 0x1f || head[1] != 0x8b) return CG_OK;
    s->gz = true;
    if (s->f && !(s->inbuf = cg_malloc(IDX_IN_CHUNK))) return CG_ENOMEM;
    s->zs.zalloc = z_alloc;
    s->zs.zfree = z_free;
    s->zs.opaque = Z_NULL;
    s->zs.next_in = Z_NULL;
    s->zs.avail_in = 0;
    int rc = inflateInit2(&s->zs, 16 + MAX_WBITS); /* gzip wrapper only */
    if (rc != Z_OK)
        return cg_error(rc == Z_MEM_ERROR ? CG_ENOMEM : CG_EFORMAT, "%s: inflateInit2 failed", s->name);
    s->z_init = true;
    return CG_OK;
}

static void src_close(idx_src *s) {
    if (s->z_init) inflateEnd(&s->zs);
    cg_free(s->inbuf);
    if (s->f) fclose(s->f);
}

/* ---- the format ---------------------------------------------------------------- */
static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The body of `count` items of `item` bytes: reads what arrives, growing geometrically up to
 * count*item, then checks that nothing follows. */
static cg_status read_body(idx_src *s, size_t hdr, int64_t count, int64_t item, uint8_t **out) {
    const char *kind = "entrie"; /* + "s" in the messages */
    size_t want = (size_t)count * (size_t)item; /* count < 2^32, item <= 2^28: fits in 64 bits */
    size_t cap = want < IDX_FIRST_CHUNK ? want : IDX_FIRST_CHUNK, got = 0;
    uint64_t need = hdr + want; /* the whole input, decompressed, if the header is honest */
    /* A claim the input cannot hold is refused before anything is read or allocated: a raw input
     * holds its size, a gzip one inflates to at most IDX_MAX_RATIO times its size (a gzip bomb
     * under a huge claim would otherwise be inflated into memory). */
    if (s->total && !s->gz && need > s->total) {
        size_t have = (size_t)(s->total - hdr);
        return cg_error(CG_EFORMAT, "%s: the file is shorter than its header says: the header says %lld %ss "
                        "(%zu bytes of data), the file holds %zu bytes (%lld whole %ss)", s->name,
                        (long long)count, kind, want, have, (long long)(have / (size_t)item), kind);
    }
    if (s->total && s->gz && need / IDX_MAX_RATIO > s->total)
        return cg_error(CG_EFORMAT, "%s: the file is shorter than its header says: the header says %lld %ss "
                        "(%zu bytes of data), but %llu bytes of gzip data inflate to at most %llu bytes", s->name,
                        (long long)count, kind, want, (unsigned long long)s->total,
                        (unsigned long long)s->total * IDX_MAX_RATIO);
    if (s->gz ? s->isize == (uint32_t)need && need / IDX_MAX_RATIO <= s->total : need <= s->total) cap = want;
    uint8_t *buf = cg_malloc(cap ? cap : 1);
    if (!buf) return CG_ENOMEM;
    while (got < want) {
        if (got == cap) {
            size_t ncap = cap > want / 2 ? want : cap * 2;
            uint8_t *nb = cg_malloc(ncap);
            if (!nb) { cg_free(buf); return CG_ENOMEM; }
            memcpy(nb, buf, got);
            cg_free(buf);
            buf = nb;
            cap = ncap;
        }
        size_t ask = cap - got;
        int64_t k = src_read(s, buf + got, ask);
        if (k < 0) { cg_free(buf); return s->err; }
        got += (size_t)k;
        if ((size_t)k < ask) break; /* a short read: the end of the data */
    }
    if (got < want) {
        cg_free(buf);
        return cg_error(CG_EFORMAT, "%s: the file is shorter than its header says: the header says %lld %ss "
                        "(%zu bytes of data), the file holds %zu bytes (%lld whole %ss)", s->name,
                        (long long)count, kind, want, got, (long long)(got / (size_t)item), kind);
    }
    /* Anything after the last item means the header and the data disagree. One read of at most
     * IDX_TAIL bytes tells (a raw file's size gives the exact count): never inflate much more than
     * the header claims. */
    uint8_t tail[IDX_TAIL];
    int64_t extra = src_read(s, tail, sizeof tail);
    if (extra < 0) { cg_free(buf); return s->err; }
    if (extra > 0) {
        cg_free(buf);
        bool exact = extra < IDX_TAIL;
        if (!s->gz && s->total > need) { extra = (int64_t)(s->total - need); exact = true; }
        return cg_error(CG_EFORMAT, "%s: the file is longer than its header says: %s%lld trailing bytes after "
                        "%lld %ss", s->name, exact ? "" : "at least ", (long long)extra,
                        (long long)count, kind);
    }
    *out = buf;
    return CG_OK;
}

/* ---- entry points --------------------------------------------------------------- */
/* O_NONBLOCK: opening a FIFO must not wait for a writer; only regular files are read (a FIFO,
 * device or directory could block forever or never end). */
static cg_status open_file(idx_src *s, const char *path) {
    *s = (idx_src){ .name = path };
    if (!path) return cg_error(CG_EINVAL, "cg_idx_load: path is NULL");
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return cg_error(CG_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return cg_error(CG_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return cg_error(CG_EIO, "%s: not a regular file", path);
    }
    s->f = fdopen(fd, "rb");
    if (!s->f) {
        int e = errno;
        close(fd);
        return cg_error(CG_EIO, "%s: cannot open: %s", path, strerror(e));
    }
    return CG_OK;
}

/* ---- any IDX file: every element type, 1 to 4 dimensions ------------------------ */
static int64_t type_size(uint8_t t) {
    switch (t) {
    case CG_IDX_U8: case CG_IDX_I8: return 1;
    case CG_IDX_I16: return 2;
    case CG_IDX_I32: case CG_IDX_F32: return 4;
    case CG_IDX_F64: return 8;
    default: return 0;
    }
}

const char *cg_idx_type_name(cg_idx_type t) {
    switch (t) {
    case CG_IDX_U8: return "unsigned byte";
    case CG_IDX_I8: return "signed byte";
    case CG_IDX_I16: return "short";
    case CG_IDX_I32: return "int";
    case CG_IDX_F32: return "float";
    case CG_IDX_F64: return "double";
    default: return "unknown";
    }
}

/* The body's big-endian elements to host order, in place. */
static void to_host(uint8_t *p, int64_t n, int64_t es) {
    if (es == 1) return;
    for (int64_t i = 0; i < n; i++, p += es)
        for (int64_t a = 0, b = es - 1; a < b; a++, b--) { uint8_t t = p[a]; p[a] = p[b]; p[b] = t; }
}

/* After the magic's first 4 bytes: the rest of a .npy preamble and its header (lib/data/npy.c).
 * *a gets the array's IDX type, dims and numel; *item the file's bytes per entry of the first
 * dimension (bounded like an IDX file's), *hlen the whole preamble's length. */
static cg_status npy_header(idx_src *s, cg_idx_array *a, cg_npy_header *npy, size_t *hlen_out, int64_t *item_out) {
    uint8_t p[8];
    int64_t k = src_read(s, p, 4);   /* "PY", major, minor */
    if (k < 0) return s->err;
    if (k < 4 || memcmp(p, "PY", 2))
        return cg_error(CG_EFORMAT, "%s: not a .npy file: it starts like one (0x93 \"NUM\") but the magic is cut short "
                        "or wrong", s->name);
    const int major = p[2];
    if (major < 1 || major > 3)
        return cg_error(CG_EFORMAT, "%s: .npy format version %d.%d; cgrad reads 1.0, 2.0 and 3.0", s->name, major, p[3]);
    const size_t lenlen = major == 1 ? 2 : 4;
    k = src_read(s, p, lenlen);
    if (k < 0) return s->err;
    if ((size_t)k < lenlen) return cg_error(CG_EFORMAT, "%s: truncated .npy header", s->name);
    const uint32_t hl = lenlen == 2 ? (uint32_t)p[0] | (uint32_t)p[1] << 8
                                    : (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (hl > NPY_MAX_HEADER)
        return cg_error(CG_EFORMAT, "%s: .npy header of %u bytes; at most %d", s->name, hl, NPY_MAX_HEADER);
    char *text = cg_malloc((size_t)hl + 1);   /* up to 64 KiB: not on a caller's thread stack */
    if (!text) return CG_ENOMEM;
    k = src_read(s, (uint8_t *)text, hl);
    cg_status st = k < 0 ? s->err : CG_OK;
    if (st == CG_OK && (uint32_t)k < hl)
        st = cg_error(CG_EFORMAT, "%s: truncated .npy header: %lld of %u bytes", s->name, (long long)k, hl);
    if (st == CG_OK) {
        text[hl] = '\0';
        if (strlen(text) != hl) st = cg_error(CG_EFORMAT, "%s: a NUL byte inside the .npy header", s->name);
    }
    if (st == CG_OK) st = cg_npy_parse_header(text, hl, s->name, npy);
    cg_free(text);
    if (st != CG_OK) return st;
    int64_t es;
    *a = (cg_idx_array){ .type = cg_npy_idx_type(npy, &es), .ndim = npy->ndim, .elem_size = es };
    int64_t item = npy->size;
    for (int i = 0; i < npy->ndim; i++) {
        a->dims[i] = npy->dims[i];
        if (i > 0) {
            if (npy->dims[i] > IDX_MAX_ITEM || (item *= npy->dims[i]) > IDX_MAX_ITEM)
                return cg_error(CG_EFORMAT, "%s: unreasonable dimensions: one entry of the first dimension "
                                "would take more than %d bytes", s->name, IDX_MAX_ITEM);
        }
    }
    a->numel = a->dims[0] * (item / npy->size);
    *hlen_out = 6 + 2 + lenlen + hl;
    *item_out = item;
    return CG_OK;
}

/* Start the source and read an IDX header of any type: *a gets type, ndim, dims, elem_size
 * (no data); *hlen the header's length and *item the bytes per entry of the first dimension. */
static cg_status any_header(idx_src *s, cg_idx_array *a, cg_npy_header *npy, size_t *hlen_out, int64_t *item_out) {
    npy->kind = 0;
    cg_status st = src_start(s);
    if (st != CG_OK) return st;
    uint8_t h[4 + 4 * CG_IDX_MAX_DIMS];
    int64_t k = src_read(s, h, 4);
    if (k < 0) return s->err;
    if (k == 0) return cg_error(CG_EFORMAT, "%s: the file is empty (no data after decompression)", s->name);
    if (k < 4) return cg_error(CG_EFORMAT, "%s: truncated header: %lld of at least 4 bytes", s->name, (long long)k);
    if (h[0] == 0x93 && !memcmp(h + 1, "NUM", 3)) return npy_header(s, a, npy, hlen_out, item_out);
    if (h[0] || h[1])
        return cg_error(CG_EFORMAT, "%s: not an IDX file (nor .npy): the magic number's first two bytes are 0x%02x 0x%02x, "
                        "not 0", s->name, h[0], h[1]);
    const int64_t es = type_size(h[2]);
    if (!es)
        return cg_error(CG_EFORMAT, "%s: unknown IDX element type 0x%02x (0x08 unsigned byte, 0x09 signed byte, "
                        "0x0B short, 0x0C int, 0x0D float, 0x0E double)", s->name, h[2]);
    const int nd = h[3];
    if (nd < 1 || nd > CG_IDX_MAX_DIMS)
        return cg_error(CG_EFORMAT, "%s: %d dimensions; cgrad reads IDX files of 1 to %d", s->name, nd, CG_IDX_MAX_DIMS);
    const size_t hlen = 4 + 4 * (size_t)nd;
    k = src_read(s, h + 4, hlen - 4);
    if (k < 0) return s->err;
    if ((size_t)k < hlen - 4)
        return cg_error(CG_EFORMAT, "%s: truncated header: %lld of %zu bytes", s->name, (long long)k + 4, hlen);
    *a = (cg_idx_array){ .type = (cg_idx_type)h[2], .ndim = nd, .elem_size = es };
    int64_t item = es;   /* bytes per entry of the first dimension: bounded so that count * item fits */
    for (int i = 0; i < nd; i++) {
        a->dims[i] = be32(h + 4 + 4 * i);
        if (a->dims[i] == 0) return cg_error(CG_EFORMAT, "%s: dimension %d is 0", s->name, i);
        if (i > 0) {
            item *= a->dims[i];
            if (item > IDX_MAX_ITEM)
                return cg_error(CG_EFORMAT, "%s: unreasonable dimensions: one entry of the first dimension "
                                "would take more than %d bytes", s->name, IDX_MAX_ITEM);
        }
    }
    a->numel = a->dims[0] * (item / es);
    *hlen_out = hlen;
    *item_out = item;
    return CG_OK;
}

static cg_status parse_any(idx_src *s, cg_idx_array *out) {
    cg_idx_array a;
    cg_npy_header npy;
    size_t hlen;
    int64_t item;
    cg_status st = any_header(s, &a, &npy, &hlen, &item);
    if (st != CG_OK) return st;
    uint8_t *body;
    st = read_body(s, hlen, a.dims[0], item, &body);
    if (st != CG_OK) return st;
    if (npy.kind) {
        if ((st = cg_npy_finish(&npy, body, s->name, &a)) != CG_OK) return st;
    } else {
        a.data = body;
        to_host(a.data, a.numel, a.elem_size);
    }
    *out = a;
    return CG_OK;
}

cg_status cg_idx_read_header(const char *path, cg_idx_array *out) {
    if (!out) return cg_error(CG_EINVAL, "cg_idx_read_header: out is NULL");
    *out = (cg_idx_array){ 0 };
    idx_src s;
    cg_npy_header npy;
    size_t hlen;
    int64_t item;
    cg_status st = open_file(&s, path);
    if (st == CG_OK) st = any_header(&s, out, &npy, &hlen, &item);
    src_close(&s);
    if (st != CG_OK) *out = (cg_idx_array){ 0 };
    return st;
}

cg_status cg_idx_read(const char *path, cg_idx_array *out) {
    if (!out) return cg_error(CG_EINVAL, "cg_idx_read: out is NULL");
    *out = (cg_idx_array){ 0 };
    idx_src s;
    cg_status st = open_file(&s, path);
    if (st == CG_OK) st = parse_any(&s, out);
    src_close(&s);
    return st;
}

cg_status cg_idx_read_mem(const void *data, size_t len, const char *name, cg_idx_array *out) {
    if (!out) return cg_error(CG_EINVAL, "cg_idx_read_mem: out is NULL");
    *out = (cg_idx_array){ 0 };
    if (!data && len) return cg_error(CG_EINVAL, "cg_idx_read_mem: data is NULL");
    idx_src s = { .name = name ? name : "<memory>", .mem = data, .mem_len = len };
    cg_status st = parse_any(&s, out);
    src_close(&s);
    return st;
}

void cg_idx_array_free(cg_idx_array *a) {
    if (!a) return;
    cg_free(a->data);
    *a = (cg_idx_array){ 0 };
}

/* ---- as a tensor (data.h) ---------------------------------------------------------------- */
/* a's elements into a new tensor of the fitting dtype: u8 as uint8, the integer types widened to
 * int64, float and double as float32. a is released either way. */
static cg_status to_tensor(const char *fn, cg_idx_array *a, cg_tensor **out) {
    const cg_dtype dt = a->type == CG_IDX_U8 ? CG_U8 : a->type == CG_IDX_F32 || a->type == CG_IDX_F64 ? CG_F32 : CG_I64;
    const int64_t n = a->numel;
    cg_tensor *t = cg_tensor_new(dt, a->ndim, a->dims);
    if (!t) {
        cg_idx_array_free(a);
        return cg_error(CG_ENOMEM, "%s: out of memory for a tensor of %lld elements", fn, (long long)n);
    }
    const void *p = a->data;
    switch (a->type) {
    case CG_IDX_U8: memcpy(t->raw, p, (size_t)n); break;
    case CG_IDX_F32: memcpy(t->raw, p, (size_t)n * sizeof(float)); break;
    case CG_IDX_F64: for (int64_t i = 0; i < n; i++) t->data[i] = (float)((const double *)p)[i]; break;
    case CG_IDX_I8: for (int64_t i = 0; i < n; i++) cg_i64(t)[i] = ((const int8_t *)p)[i]; break;
    case CG_IDX_I16: for (int64_t i = 0; i < n; i++) cg_i64(t)[i] = ((const int16_t *)p)[i]; break;
    default: for (int64_t i = 0; i < n; i++) cg_i64(t)[i] = ((const int32_t *)p)[i]; break;
    }
    cg_idx_array_free(a);
    *out = t;
    return CG_OK;
}

cg_status cg_idx_load(const char *path, cg_tensor **out) {
    if (!out) return cg_error(CG_EINVAL, "cg_idx_load: out is NULL");
    *out = NULL;
    if (!path) return cg_error(CG_EINVAL, "cg_idx_load: path is NULL");
    cg_idx_array a;
    cg_status st = cg_idx_read(path, &a);
    return st == CG_OK ? to_tensor("cg_idx_load", &a, out) : st;
}

cg_status cg_idx_parse_mem(const void *data, size_t len, const char *name, cg_tensor **out) {
    if (!out) return cg_error(CG_EINVAL, "cg_idx_parse_mem: out is NULL");
    *out = NULL;
    if (!data && len) return cg_error(CG_EINVAL, "cg_idx_parse_mem: data is NULL");
    cg_idx_array a;
    cg_status st = cg_idx_read_mem(data, len, name, &a);
    return st == CG_OK ? to_tensor("cg_idx_parse_mem", &a, out) : st;
}
