/* SPDX-License-Identifier: MIT */
/* tests/test_dataset.c — the dataset interface: sets over tensors (borrowed and copied), subsets
 * (range and indices), IDX image/label pairs of every element type and rank (raw and gzip),
 * their errors and memory bound, label checks, per-channel normalisation in the loader (bytes and
 * floats), statistics computed from the data, a program's own dataset, and a failing get. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "cgrad/cgrad.h"
#include "alloc_probe.h"
#include "batch.h"

static char g_dir[64];
static const char *path_of(const char *name) {
    static char p[2][512];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static int setup(void **s) {
    (void)s;
    strcpy(g_dir, "/tmp/cg_ds_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}
static int teardown(void **s) {
    (void)s;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd);
}

/* ---- writing IDX files --------------------------------------------------------------- */
typedef struct { uint8_t *b; size_t n, cap; } buf;
static void put(buf *o, const void *p, size_t n) {
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2;
        o->b = realloc(o->b, o->cap);
        assert_non_null(o->b);
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static void put_be(buf *o, uint64_t v, int bytes) {
    uint8_t b[8];
    for (int k = 0; k < bytes; k++) b[k] = (uint8_t)(v >> (8 * (bytes - 1 - k)));
    put(o, b, (size_t)bytes);
}
/* The IDX format's element types (the third byte of the magic number). */
typedef enum { CG_IDX_U8 = 0x08, CG_IDX_I8 = 0x09, CG_IDX_I16 = 0x0B, CG_IDX_I32 = 0x0C, CG_IDX_F32 = 0x0D,
               CG_IDX_F64 = 0x0E } cg_idx_type;
static const char *cg_idx_type_name(cg_idx_type t) {
    return t == CG_IDX_U8 ? "u8" : t == CG_IDX_I8 ? "i8" : t == CG_IDX_I16 ? "i16" : t == CG_IDX_I32 ? "i32"
         : t == CG_IDX_F32 ? "f32" : "f64";
}
static int type_bytes(cg_idx_type t) {
    return t == CG_IDX_U8 || t == CG_IDX_I8 ? 1 : t == CG_IDX_I16 ? 2 : t == CG_IDX_F64 ? 8 : 4;
}
/* An IDX file of type t, dims[0..nd), its elements v[i] (as the type holds them). */
static buf idx_bytes(cg_idx_type t, int nd, const uint32_t *dims, const double *v) {
    buf o = { 0 };
    uint8_t h[4] = { 0, 0, (uint8_t)t, (uint8_t)nd };
    put(&o, h, 4);
    size_t n = 1;
    for (int i = 0; i < nd; i++) { put_be(&o, dims[i], 4); n *= dims[i]; }
    for (size_t i = 0; i < n; i++) {
        if (t == CG_IDX_F32) { float f = (float)v[i]; uint32_t u; memcpy(&u, &f, 4); put_be(&o, u, 4); }
        else if (t == CG_IDX_F64) { uint64_t u; memcpy(&u, &v[i], 8); put_be(&o, u, 8); }
        else put_be(&o, (uint64_t)(int64_t)v[i], type_bytes(t));
    }
    return o;
}
static void write_file(const char *name, const buf *b, bool gz) {
    if (gz) {
        gzFile f = gzopen(path_of(name), "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, b->b, (unsigned)b->n), (int)b->n);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path_of(name), "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(b->b, 1, b->n, f), b->n);
        assert_int_equal(fclose(f), 0);
    }
}
static void write_idx(const char *name, cg_idx_type t, int nd, const uint32_t *dims, const double *v, bool gz) {
    buf b = idx_bytes(t, nd, dims, v);
    write_file(name, &b, gz);
    free(b.b);
}

/* cg_dataset_from_tensors over a caller's buffer: x holds n examples of shape[0..ndim), bytes
 * (u8) or floats; y n labels. The tensors only wrap the buffers, which the dataset then borrows
 * (copy false) or copies. */
static cg_status from_buf(const void *x, bool u8, const int64_t *y, int64_t n, int ndim, const int64_t *shape, bool copy,
                          cg_dataset **out) {
    int64_t xs[CG_MAX_DIMS] = { n };
    for (int i = 0; i < ndim; i++) xs[i + 1] = shape[i];
    cg_tensor *tx = cg_tensor_wrap_data(u8 ? CG_U8 : CG_F32, (void *)x, ndim + 1, xs);
    cg_tensor *ty = cg_tensor_wrap_data(CG_I64, (void *)y, 1, &n);
    assert_non_null(tx);
    assert_non_null(ty);
    cg_status st = cg_dataset_from_tensors(tx, ty, copy, out);
    cg_tensor_free(tx); /* the headers only: the data is the caller's */
    cg_tensor_free(ty);
    return st;
}

/* Every value the loader hands out for ds, in order, unshuffled, in one batch. */
static cg_tensor *all_of(const cg_dataset *ds, const cg_normalize *norm, int64_t *labels) {
    cg_loader_options o = cg_loader_defaults();
    o.shuffle = false;
    o.batch_size = ds->n;
    if (norm) o.norm = *norm;
    cg_loader *l = cg_loader_new(ds, &o);
    if (!l) fail_msg("loader: %s", cg_last_error());
    cg_tensor *x;
    const int64_t *y;
    assert_true(next_batch_labels(l, &x, &y));
    cg_tensor *c = cg_tensor_clone(x);
    memcpy(labels, y, (size_t)ds->n * sizeof *labels);
    cg_loader_free(l);
    return c;
}

/* ---- IDX pairs ------------------------------------------------------------------------- */
/* Images of every element type, as [N, H, W], [N, C, H, W] and [N, D], raw and gzip; labels of
 * every integer type. u8 values arrive as byte/255, the others as they are. */
/* Images without labels (labels_path NULL, for prediction): the same values as with a label file,
 * every label 0; a 1-D file (labels) is refused as images. */
static void test_idx_images_only(void **s) {
    (void)s;
    double v[2 * 3 * 5], lab[2] = { 7, 4 };
    for (int i = 0; i < 30; i++) v[i] = (double)((i * 37) % 256);
    write_idx("im", CG_IDX_U8, 3, (const uint32_t[]){ 2, 3, 5 }, v, false);
    write_idx("lb", CG_IDX_U8, 1, (const uint32_t[]){ 2 }, lab, false);
    cg_dataset *a, *b;
    assert_int_equal(cg_dataset_idx_open(path_of("im"), path_of("lb"), &a), CG_OK);
    if (cg_dataset_idx_open(path_of("im"), NULL, &b) != CG_OK) fail_msg("images only: %s", cg_last_error());
    assert_int_equal(b->n, 2);
    assert_int_equal(b->ndim, 3);
    assert_string_equal(b->label_name, "(no labels)");
    int64_t la[2], lb[2];
    cg_tensor *xa = all_of(a, NULL, la), *xb = all_of(b, NULL, lb);
    assert_memory_equal(cg_tensor_cdata(xa), cg_tensor_cdata(xb), 30 * sizeof(float));
    assert_int_equal(la[0], 7);
    assert_int_equal(lb[0], 0);
    assert_int_equal(lb[1], 0);
    cg_tensor_free(xa);
    cg_tensor_free(xb);
    cg_dataset_free(a);
    cg_dataset_free(b);
    cg_dataset *c = (cg_dataset *)1;
    assert_int_equal(cg_dataset_idx_open(path_of("lb"), NULL, &c), CG_EFORMAT);
    assert_null(c);
    assert_non_null(strstr(cg_last_error(), "images need 2 to 4 dimensions"));
    assert_int_equal(cg_dataset_idx_open(NULL, NULL, &c), CG_EINVAL);
}

static void test_idx_pair_every_type_and_rank(void **s) {
    (void)s;
    const cg_idx_type types[] = { CG_IDX_U8, CG_IDX_I8, CG_IDX_I16, CG_IDX_I32, CG_IDX_F32, CG_IDX_F64 };
    const cg_idx_type ltypes[] = { CG_IDX_U8, CG_IDX_I8, CG_IDX_I16, CG_IDX_I32 };
    const uint32_t shapes[3][4] = { { 4, 3, 5 }, { 4, 2, 3, 5 }, { 4, 7 } };
    const int nds[3] = { 3, 4, 2 };
    double v[4 * 2 * 3 * 5], lab[4] = { 3, 0, 11, 2 };
    for (int ti = 0; ti < 6; ti++)
        for (int si = 0; si < 3; si++)
            for (int gz = 0; gz < 2; gz++) {
                cg_idx_type t = types[ti];
                int64_t n = 1;
                for (int i = 0; i < nds[si]; i++) n *= shapes[si][i];
                for (int64_t i = 0; i < n; i++)
                    v[i] = t == CG_IDX_U8 ? (double)((i * 37) % 256)
                         : t == CG_IDX_I8 ? (double)((i * 7) % 200 - 100)
                         : t >= CG_IDX_F32 ? (double)i * 0.5 - 3.25 : (double)(i * 301 - 5000);
                write_idx("im", t, nds[si], shapes[si], v, gz);
                write_idx("lb", ltypes[(ti + si) % 4], 1, (const uint32_t[]){ 4 }, lab, !gz);
                cg_dataset *ds;
                if (cg_dataset_idx_open(path_of("im"), path_of("lb"), &ds) != CG_OK)
                    fail_msg("%s, %d dims: %s", cg_idx_type_name(t), nds[si], cg_last_error());
                assert_int_equal(ds->n, 4);
                if (nds[si] == 3) {
                    assert_int_equal(ds->ndim, 3);
                    assert_int_equal(ds->shape[0], 1);
                    assert_int_equal(ds->shape[1], 3);
                    assert_int_equal(ds->shape[2], 5);
                } else {
                    assert_int_equal(ds->ndim, nds[si] - 1);
                    for (int i = 1; i < nds[si]; i++) assert_int_equal(ds->shape[i - 1], shapes[si][i]);
                }
                assert_true((ds->u8 != NULL) == (t == CG_IDX_U8));
                assert_non_null(strstr(ds->name, "/im"));
                int64_t y[4];
                cg_tensor *x = all_of(ds, NULL, y);
                const float *d = cg_tensor_cdata(x);
                for (int64_t i = 0; i < n; i++) {
                    float want = t == CG_IDX_U8 ? (float)v[i] / 255.0f : (float)v[i];
                    if (d[i] != want) fail_msg("%s, %d dims, element %lld: %g, want %g", cg_idx_type_name(t), nds[si],
                                               (long long)i, (double)d[i], (double)want);
                }
                for (int i = 0; i < 4; i++) assert_int_equal(y[i], (int64_t)lab[i]);
                cg_tensor_free(x);
                cg_dataset_free(ds);
            }
}

static void expect_open_error(const char *images, const char *labels, cg_status want, const char *a, const char *b) {
    cg_dataset *ds = (cg_dataset *)1;
    cg_status st = cg_dataset_idx_open(images, labels, &ds);
    if (st != want || !strstr(cg_last_error(), a) || (b && !strstr(cg_last_error(), b)))
        fail_msg("status %d (want %d), message '%s' (want '%s' and '%s')", st, want, cg_last_error(), a, b ? b : "");
    assert_null(ds);
}

static void test_idx_pair_errors(void **s) {
    (void)s;
    double v[60] = { 0 }, lab[5] = { 1, 2, 3, 4, 5 }, neg[4] = { 1, -1, 2, 0 };
    write_idx("im4", CG_IDX_U8, 3, (const uint32_t[]){ 4, 3, 5 }, v, false);
    write_idx("lb5", CG_IDX_U8, 1, (const uint32_t[]){ 5 }, lab, false);
    write_idx("lb4f", CG_IDX_F32, 1, (const uint32_t[]){ 4 }, lab, false);
    write_idx("lb2d", CG_IDX_U8, 2, (const uint32_t[]){ 4, 1 }, lab, false);
    write_idx("lbneg", CG_IDX_I8, 1, (const uint32_t[]){ 4 }, neg, true);
    write_idx("im1d", CG_IDX_U8, 1, (const uint32_t[]){ 4 }, lab, false);
    expect_open_error(path_of("im4"), path_of("lb5"), CG_EFORMAT, "4 images", "5 labels");
    expect_open_error(path_of("im4"), path_of("lb5"), CG_EFORMAT, "/im4", "/lb5");
    expect_open_error(path_of("im4"), path_of("lb4f"), CG_EFORMAT, "lb4f: labels must be integers", "float");
    expect_open_error(path_of("im4"), path_of("lb2d"), CG_EFORMAT, "lb2d: labels need 1 dimension", NULL);
    expect_open_error(path_of("im4"), path_of("lbneg"), CG_EFORMAT, "lbneg: label -1 at index 1", NULL);
    expect_open_error(path_of("im1d"), path_of("lb5"), CG_EFORMAT, "im1d: images need 2 to 4 dimensions", NULL);
    expect_open_error(path_of("missing"), path_of("lb5"), CG_EIO, "missing", NULL);
    expect_open_error("", path_of("lb5"), CG_EINVAL, "images file name is empty", NULL);
    expect_open_error(path_of("im4"), "", CG_EINVAL, "labels file name is empty", NULL);
}

/* A label file claiming 2^31 labels (32 KB of gzip) beside honest images, and an image file
 * claiming 2^32 - 1 images beside as many claimed labels: both refused with small allocations. */
static void test_idx_pair_lying_headers_are_bounded(void **s) {
    (void)s;
    double v[16] = { 0 };
    write_idx("im", CG_IDX_F32, 2, (const uint32_t[]){ 4, 4 }, v, true);
    buf lb = idx_bytes(CG_IDX_U8, 1, (const uint32_t[]){ 1 }, v);
    lb.b[4] = 0x80; lb.b[5] = lb.b[6] = lb.b[7] = 0;                   /* 2^31 labels */
    uint8_t *zeros = calloc(1, 32u << 20);
    assert_non_null(zeros);
    put(&lb, zeros, 32u << 20);
    write_file("bomb-labels.gz", &lb, true);
    free(lb.b);
    buf im = idx_bytes(CG_IDX_I16, 2, (const uint32_t[]){ 1, 8 }, v);
    im.b[4] = im.b[5] = im.b[6] = im.b[7] = 0xFF;                      /* 2^32 - 1 images */
    put(&im, zeros, 16u << 20);
    write_file("bomb-images.gz", &im, true);
    free(im.b);
    free(zeros);
    buf lb2 = idx_bytes(CG_IDX_U8, 1, (const uint32_t[]){ 1 }, v);
    lb2.b[4] = lb2.b[5] = lb2.b[6] = lb2.b[7] = 0xFF;
    write_file("liar-labels", &lb2, false);
    free(lb2.b);
    cg_allocator a = largest_allocator;
    g_largest = 0;
    cg_set_allocator(&a);
    cg_dataset *d1, *d2;
    cg_status st1 = cg_dataset_idx_open(path_of("im"), path_of("bomb-labels.gz"), &d1);
    char msg1[512];
    snprintf(msg1, sizeof msg1, "%s", cg_last_error());
    cg_status st2 = cg_dataset_idx_open(path_of("bomb-images.gz"), path_of("liar-labels"), &d2);
    cg_set_allocator(NULL);
    assert_int_equal(st1, CG_EFORMAT);
    assert_non_null(strstr(msg1, "2147483648 labels"));
    assert_int_equal(st2, CG_EFORMAT);
    assert_non_null(strstr(cg_last_error(), "bomb-images.gz: the file is shorter than its header says"));
    if (g_largest >= (1u << 20)) fail_msg("largest allocation %zu bytes", g_largest);
    /* An honest signed-byte file of 1 MiB stays 1 MiB in memory (not 4 MiB of floats). */
    static double big[64 * 128 * 128];
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) big[i] = (double)(i % 200) - 100;
    write_idx("i8-images", CG_IDX_I8, 4, (const uint32_t[]){ 64, 1, 128, 128 }, big, true);
    static double labels64[64];
    write_idx("i8-labels", CG_IDX_U8, 1, (const uint32_t[]){ 64 }, labels64, false);
    g_largest = 0;
    cg_set_allocator(&a);
    cg_status st3 = cg_dataset_idx_open(path_of("i8-images"), path_of("i8-labels"), &d1);
    cg_set_allocator(NULL);
    assert_int_equal(st3, CG_OK);
    if (g_largest > (1u << 20) + 4096) fail_msg("largest allocation %zu bytes for 1 MiB of signed bytes", g_largest);
    float x[128 * 128];
    assert_int_equal(d1->get(d1, 63, x), CG_OK);
    assert_float_equal(x[5], big[63 * 128 * 128 + 5], 0);
    cg_dataset_free(d1);
}

/* ---- in-memory sets ---------------------------------------------------------------- */
static void test_memory_borrowed_and_copied(void **s) {
    (void)s;
    float x[6 * 12];
    int64_t y[6] = { 5, 4, 3, 2, 1, 0 }, got[6];
    for (int i = 0; i < 72; i++) x[i] = (float)i * 0.5f - 9.0f;
    cg_dataset *borrowed, *copied;
    assert_int_equal(from_buf(x, false, y, 6, 3, CG_SHAPE(3, 2, 2), false, &borrowed), CG_OK);
    assert_int_equal(from_buf(x, false, y, 6, 3, CG_SHAPE(3, 2, 2), true, &copied), CG_OK);
    assert_int_equal(cg_dataset_item(borrowed), 12);
    assert_int_equal(cg_dataset_channels(borrowed), 3);
    x[13] = 1000.0f; /* example 1, value 1 */
    y[2] = 9;
    cg_tensor *tb = all_of(borrowed, NULL, got);
    assert_int_equal(cg_tensor_ndim(tb), 4);
    assert_int_equal(cg_tensor_size(tb, 1), 3);
    assert_float_equal(cg_tensor_data(tb)[13], 1000.0f, 0);
    assert_int_equal(got[2], 9);
    cg_tensor *tc = all_of(copied, NULL, got);
    assert_float_equal(cg_tensor_data(tc)[13], 13 * 0.5f - 9.0f, 0);
    assert_int_equal(got[2], 3);
    for (int i = 0; i < 72; i++) if (i != 13) assert_float_equal(cg_tensor_data(tc)[i], x[i], 0);
    cg_tensor_free(tb);
    cg_tensor_free(tc);
    cg_dataset_free(borrowed);
    cg_dataset_free(copied);
    /* errors, each naming the argument */
    cg_dataset *d = (cg_dataset *)1;
    cg_tensor *xi = cg_tensor_new(CG_I64, 2, CG_SHAPE(6, 12)), *yt = cg_tensor_wrap_data(CG_I64, y, 1, CG_SHAPE(6));
    cg_tensor *yf = cg_tensor_zeros(1, CG_SHAPE(6)), *y5 = cg_tensor_wrap_data(CG_I64, y, 1, CG_SHAPE(5));
    cg_tensor *xt = cg_tensor_wrap_data(CG_F32, x, 2, CG_SHAPE(6, 12)), *x0 = cg_tensor_wrap_data(CG_F32, x, 2, CG_SHAPE(0, 12));
    cg_tensor *x1 = cg_tensor_wrap_data(CG_F32, x, 1, CG_SHAPE(72)), *y0 = cg_tensor_wrap_data(CG_I64, y, 1, CG_SHAPE(0));
    assert_int_equal(cg_dataset_from_tensors(xi, yt, false, &d), CG_EINVAL);            /* an int64 x */
    assert_non_null(strstr(cg_last_error(), "x is int64"));
    assert_null(d);
    assert_int_equal(cg_dataset_from_tensors(x0, y0, false, &d), CG_EINVAL);            /* no example */
    assert_non_null(strstr(cg_last_error(), "holds no example"));
    assert_int_equal(from_buf(x, false, y, 6, 4, CG_SHAPE(1, 1, 3, 4), false, &d), CG_EINVAL); /* rank 4 example */
    assert_non_null(strstr(cg_last_error(), "2 to 4 dimensions"));
    assert_int_equal(cg_dataset_from_tensors(x1, yt, false, &d), CG_EINVAL);            /* no example dims */
    assert_non_null(strstr(cg_last_error(), "2 to 4 dimensions"));
    assert_int_equal(from_buf(x, false, y, 6, 2, CG_SHAPE(0, 12), false, &d), CG_EINVAL); /* an empty dim */
    assert_non_null(strstr(cg_last_error(), "empty example dimension"));
    /* a size that overflows is refused where the tensor is made */
    assert_null(cg_tensor_wrap_data(CG_F32, x, 3, CG_SHAPE(6, INT64_MAX / 2, 4)));
    assert_non_null(strstr(cg_last_error(), "too many elements"));
    assert_int_equal(cg_dataset_from_tensors(xt, yf, false, &d), CG_EINVAL);            /* float labels */
    assert_non_null(strstr(cg_last_error(), "y is float32"));
    assert_int_equal(cg_dataset_from_tensors(xt, y5, false, &d), CG_EINVAL);            /* 5 labels for 6 */
    assert_non_null(strstr(cg_last_error(), "one label per example"));
    assert_int_equal(cg_dataset_from_tensors(NULL, yt, false, &d), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "x is NULL"));
    assert_int_equal(cg_dataset_from_tensors(xt, NULL, false, &d), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "y is NULL"));
    assert_int_equal(cg_dataset_from_tensors(xt, yt, false, NULL), CG_EINVAL);
    y[4] = -3;
    assert_int_equal(from_buf(x, false, y, 6, 1, CG_SHAPE(12), true, &d), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "label -3 at index 4"));
    assert_null(d);
    cg_tensor *all[] = { xi, yt, yf, y5, xt, x0, x1, y0 };
    for (int i = 0; i < 8; i++) cg_tensor_free(all[i]);
}

/* ---- subsets ------------------------------------------------------------------------- */
static void test_subsets(void **s) {
    (void)s;
    uint8_t px[10 * 4];
    int64_t y[10], got[10];
    for (int i = 0; i < 40; i++) px[i] = (uint8_t)(i * 6);
    for (int i = 0; i < 10; i++) y[i] = 100 + i;
    cg_dataset *base, *range, *list, *nested;
    assert_int_equal(from_buf(px, true, y, 10, 2, CG_SHAPE(2, 2), false, &base), CG_OK);
    assert_int_equal(cg_dataset_subset(base, 3, 4, &range), CG_OK);
    assert_int_equal(range->n, 4);
    const int64_t idx[5] = { 9, 0, 9, 4, 2 };
    cg_tensor *idx_t = cg_tensor_from_i64(1, CG_SHAPE(5), idx);
    assert_int_equal(cg_dataset_subset_indices(base, idx_t, &list), CG_OK);
    assert_int_equal(cg_dataset_subset(list, 1, 3, &nested), CG_OK); /* 0, 9, 4 */
    const int64_t want_r[4] = { 3, 4, 5, 6 }, want_n[3] = { 0, 9, 4 };
    struct { cg_dataset *d; const int64_t *w; int n; } cs[3] = { { range, want_r, 4 }, { list, idx, 5 }, { nested, want_n, 3 } };
    for (int c = 0; c < 3; c++) {
        cg_tensor *x = all_of(cs[c].d, NULL, got);
        for (int i = 0; i < cs[c].n; i++) {
            assert_int_equal(got[i], 100 + cs[c].w[i]);
            for (int p = 0; p < 4; p++)
                assert_float_equal(cg_tensor_data(x)[i * 4 + p], (float)px[cs[c].w[i] * 4 + p] / 255.0f, 0);
        }
        cg_tensor_free(x);
    }
    /* a shuffled epoch over a subset visits exactly its examples */
    cg_loader_options o = cg_loader_defaults();
    o.batch_size = 3;
    o.rng = cg_rng_new(7);
    cg_loader *l = cg_loader_new(range, &o);
    cg_tensor *x;
    const int64_t *yy;
    int seen[10] = { 0 }, total = 0;
    while (next_batch_labels(l, &x, &yy))
        for (int64_t i = 0; i < cg_tensor_size(x, 0); i++) { seen[yy[i] - 100]++; total++; }
    assert_int_equal(total, 4);
    for (int i = 0; i < 10; i++) assert_int_equal(seen[i], i >= 3 && i <= 6);
    cg_loader_free(l);
    /* errors */
    cg_dataset *d;
    assert_int_equal(cg_dataset_subset(base, 8, 3, &d), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "not inside 0..10"));
    assert_int_equal(cg_dataset_subset(base, -1, 2, &d), CG_EINVAL);
    assert_int_equal(cg_dataset_subset(base, 0, 0, &d), CG_EINVAL);
    cg_tensor *bad = cg_tensor_from_i64(1, CG_SHAPE(2), (const int64_t[]){ 1, 10 });
    assert_int_equal(cg_dataset_subset_indices(base, bad, &d), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "index 10 at position 1"));
    cg_tensor_free(bad);
    bad = cg_tensor_new(CG_I64, 1, CG_SHAPE(0));
    assert_int_equal(cg_dataset_subset_indices(base, bad, &d), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "the index list is empty"));
    cg_tensor_free(bad);
    bad = cg_tensor_new(CG_F32, 1, CG_SHAPE(2));
    assert_int_equal(cg_dataset_subset_indices(base, bad, &d), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "index is float32, expected int64"));
    cg_tensor_free(bad);
    bad = cg_tensor_new(CG_I64, 2, CG_SHAPE(1, 2));
    assert_int_equal(cg_dataset_subset_indices(base, bad, &d), CG_ESHAPE);
    cg_tensor_free(bad);
    assert_int_equal(cg_dataset_subset_indices(base, NULL, &d), CG_EINVAL);
    cg_tensor_free(idx_t);
    assert_int_equal(cg_dataset_subset(NULL, 0, 1, &d), CG_EINVAL);
    assert_null(d);
    cg_dataset_free(nested);
    cg_dataset_free(list);
    cg_dataset_free(range);
    cg_dataset_free(base);
}

static void test_check_labels(void **s) {
    (void)s;
    double v[12] = { 0 }, lab[3] = { 0, 9, 10 };
    write_idx("im", CG_IDX_U8, 3, (const uint32_t[]){ 3, 2, 2 }, v, false);
    write_idx("labels-11", CG_IDX_I16, 1, (const uint32_t[]){ 3 }, lab, false);
    cg_dataset *ds;
    assert_int_equal(cg_dataset_idx_open(path_of("im"), path_of("labels-11"), &ds), CG_OK);
    assert_int_equal(cg_dataset_check_labels(ds, 11), CG_OK);
    assert_int_equal(cg_dataset_check_labels(ds, 10), CG_EFORMAT);
    assert_non_null(strstr(cg_last_error(), "labels-11: label 10 at index 2 is outside 0..9"));
    cg_dataset_free(ds);
}

/* ---- normalisation -------------------------------------------------------------------- */
/* Bytes through the per-channel tables and floats in place give (v - mean[c]) / std[c] exactly
 * as float computes it; one mean/std applies to every channel. */
static void test_per_channel_normalisation(void **s) {
    (void)s;
    enum { NE = 5, CH = 3, PL = 4 };
    uint8_t px[NE * CH * PL];
    float fx[NE * CH * PL];
    int64_t y[NE] = { 0 }, got[NE];
    for (int i = 0; i < NE * CH * PL; i++) { px[i] = (uint8_t)(i * 11 % 256); fx[i] = (float)px[i] / 255.0f; }
    cg_normalize per = { .channels = 3, .mean = { 0.1f, 0.5f, 0.9f }, .std = { 0.2f, 0.4f, 0.25f } };
    cg_normalize one = { .channels = 1, .mean = { 0.3f }, .std = { 0.7f } };
    cg_dataset *du8, *df;
    assert_int_equal(from_buf(px, true, y, NE, 3, CG_SHAPE(CH, 2, 2), false, &du8), CG_OK);
    assert_int_equal(from_buf(fx, false, y, NE, 3, CG_SHAPE(CH, 2, 2), false, &df), CG_OK);
    for (int k = 0; k < 2; k++) {
        const cg_normalize *nm = k ? &one : &per;
        cg_tensor *a = all_of(du8, nm, got), *b = all_of(df, nm, got);
        for (int i = 0; i < NE * CH * PL; i++) {
            int c = (i / PL) % CH, j = nm->channels > 1 ? c : 0;
            float want = ((float)px[i] / 255.0f - nm->mean[j]) / nm->std[j];
            if (cg_tensor_data(a)[i] != want || cg_tensor_data(b)[i] != want)
                fail_msg("norm %d, value %d (channel %d): %g / %g, want %g", k, i, c, (double)cg_tensor_data(a)[i],
                         (double)cg_tensor_data(b)[i], (double)want);
        }
        cg_tensor_free(a);
        cg_tensor_free(b);
    }
    /* 2 channels of normalisation for 3-channel data */
    cg_loader_options o = cg_loader_defaults();
    o.norm = (cg_normalize){ .channels = 2, .mean = { 0, 0 }, .std = { 1, 1 } };
    assert_null(cg_loader_new(df, &o));
    assert_non_null(strstr(cg_last_error(), "2 channels"));
    cg_dataset_free(du8);
    cg_dataset_free(df);
}

/* The statistics of each channel against a direct two-pass computation in double. */
static void test_stats(void **s) {
    (void)s;
    enum { NE = 7, CH = 2, PL = 6 };
    float fx[NE * CH * PL];
    uint8_t px[NE * CH * PL];
    int64_t y[NE] = { 0 };
    for (int i = 0; i < NE * CH * PL; i++) {
        int c = (i / PL) % CH;
        fx[i] = c ? (float)(i % 13) * 0.3f - 1.0f : (float)(i * i % 17) + 40.0f;
        px[i] = (uint8_t)(i * 29 % 256);
    }
    for (int kind = 0; kind < 2; kind++) {
        cg_dataset *d;
        assert_int_equal(kind ? from_buf(px, true, y, NE, 3, CG_SHAPE(CH, 2, 3), false, &d)
                              : from_buf(fx, false, y, NE, 3, CG_SHAPE(CH, 2, 3), false, &d), CG_OK);
        cg_normalize st;
        assert_int_equal(cg_dataset_stats(d, &st), CG_OK);
        assert_int_equal(st.channels, CH);
        for (int c = 0; c < CH; c++) {
            double m = 0, v = 0, cnt = NE * PL;
            for (int i = 0; i < NE * CH * PL; i++)
                if ((i / PL) % CH == c) m += kind ? px[i] / 255.0 : fx[i];
            m /= cnt;
            for (int i = 0; i < NE * CH * PL; i++)
                if ((i / PL) % CH == c) { double e = (kind ? px[i] / 255.0 : fx[i]) - m; v += e * e; }
            double sd = sqrt(v / cnt);
            assert_float_equal(st.mean[c], m, 1e-6 * fabs(m) + 1e-7);
            assert_float_equal(st.std[c], sd, 1e-5 * sd);
        }
        cg_dataset_free(d);
    }
    /* a constant channel, and too many channels */
    float flat[2 * 20] = { 0 };
    int64_t y2[2] = { 0, 1 };
    cg_dataset *d;
    cg_normalize st;
    assert_int_equal(from_buf(flat, false, y2, 2, 3, CG_SHAPE(2, 2, 5), false, &d), CG_OK);
    assert_int_equal(cg_dataset_stats(d, &st), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "channel 0 is constant"));
    cg_dataset_free(d);
    assert_int_equal(from_buf(flat, false, y2, 2, 3, CG_SHAPE(20, 1, 1), false, &d), CG_OK);
    assert_int_equal(cg_dataset_stats(d, &st), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "20 channels"));
    cg_dataset_free(d);
    flat[3] = NAN;
    assert_int_equal(from_buf(flat, false, y2, 2, 1, CG_SHAPE(20), false, &d), CG_OK);
    assert_int_equal(cg_dataset_stats(d, &st), CG_EFORMAT);
    assert_non_null(strstr(cg_last_error(), "example 0"));
    cg_dataset_free(d);
}

/* ---- a program's own dataset, and one whose get fails ------------------------------------ */
static cg_status own_get(const cg_dataset *d, int64_t i, float *x) {
    if (i == *(const int64_t *)d->impl) return cg_set_error(CG_EIO, "own dataset: example %lld is unreadable", (long long)i);
    for (int p = 0; p < 3; p++) x[p] = (float)(i * 10 + p);
    return CG_OK;
}
static int64_t own_label(const cg_dataset *d, int64_t i) { (void)d; return i % 2; }

static void test_own_dataset_and_failing_get(void **s) {
    (void)s;
    int64_t bad = -1;
    cg_dataset own = { .n = 9, .ndim = 1, .shape = { 3 }, .name = "own", .label_name = "own labels",
                       .get = own_get, .label = own_label, .impl = &bad };
    int64_t got[9];
    cg_tensor *x = all_of(&own, NULL, got);
    for (int i = 0; i < 9; i++) {
        assert_int_equal(got[i], i % 2);
        for (int p = 0; p < 3; p++) assert_float_equal(cg_tensor_data(x)[i * 3 + p], i * 10 + p, 0);
    }
    cg_tensor_free(x);
    bad = 5;
    cg_loader_options o = cg_loader_defaults();
    o.batch_size = 4;
    o.shuffle = false;
    cg_loader *l = cg_loader_new(&own, &o);
    const int64_t *y;
    assert_true(next_batch_labels(l, &x, &y));
    assert_int_equal(cg_loader_status(l), CG_OK);
    assert_false(next_batch_labels(l, &x, &y)); /* examples 4..7: 5 fails */
    assert_int_equal(cg_loader_status(l), CG_EIO);
    assert_non_null(strstr(cg_last_error(), "example 5 is unreadable"));
    /* the same failure again after a seek, and the batch is left empty */
    cg_loader_set_epoch(l, 0);
    assert_int_equal(cg_loader_seek(l, 1), CG_OK);
    cg_batch b = { x, x };
    assert_false(cg_loader_next(l, &b));
    assert_int_equal(cg_loader_status(l), CG_EIO);
    assert_null(b.x);
    assert_null(b.y);
    cg_loader_free(l);
    cg_dataset_free(&own); /* destroy is NULL: nothing to do */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_pair_every_type_and_rank),
        cmocka_unit_test(test_idx_images_only),
        cmocka_unit_test(test_idx_pair_errors),
        cmocka_unit_test(test_idx_pair_lying_headers_are_bounded),
        cmocka_unit_test(test_memory_borrowed_and_copied),
        cmocka_unit_test(test_subsets),
        cmocka_unit_test(test_check_labels),
        cmocka_unit_test(test_per_channel_normalisation),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_own_dataset_and_failing_get),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
