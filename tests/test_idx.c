/* SPDX-License-Identifier: MIT */
/* tests/test_idx.c — IDX files: raw and gzip loads (cg_idx_load, cg_idx_parse_mem and the
 * datasets over them), MNIST folder lookup (cg_dataset_mnist_open), every malformed case (each
 * must fail with a message naming the file and the problem, for images and for labels), a lying
 * header that must not allocate, and the real Fashion-MNIST set when it is installed; cg_idx_load
 * on every element type and 1 to 4 dims (the tensor's dtype), its header errors, and its memory
 * bound under a lying header. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "cgrad/cgrad.h"
#include "alloc_probe.h"

#define N 5
#define R 4
#define C 3

static char g_dir[64];

static int setup(void **s) {
    (void)s;
    strcpy(g_dir, "/tmp/cg_idx_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **s) {
    (void)s;
    DIR *d = opendir(g_dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    return rmdir(g_dir);
}

/* Two calls may share an expression (an image and a label path): two buffers in turn. */
static const char *path_of(const char *name) {
    static char p[2][512];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

/* ---- building files ---------------------------------------------------------------- */
typedef struct { uint8_t b[4096]; size_t n; } buf;

static void put32(buf *o, uint32_t v) {
    o->b[o->n++] = (uint8_t)(v >> 24); o->b[o->n++] = (uint8_t)(v >> 16);
    o->b[o->n++] = (uint8_t)(v >> 8);  o->b[o->n++] = (uint8_t)v;
}
static uint8_t pixel(int i, int p) { return (uint8_t)(i * 37 + p * 5 + 1); }

/* An image file: header (magic, n, rows, cols) then `have` images of rows*cols pixels. */
static buf images_file(uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols, int have) {
    buf o = { .n = 0 };
    put32(&o, magic); put32(&o, n); put32(&o, rows); put32(&o, cols);
    for (int i = 0; i < have; i++)
        for (uint32_t p = 0; p < rows * cols; p++) o.b[o.n++] = pixel(i, (int)p);
    return o;
}
static buf good_images(void) { return images_file(2051, N, R, C, N); }

static buf labels_file(uint32_t magic, uint32_t n, int have, int first_label) {
    buf o = { .n = 0 };
    put32(&o, magic); put32(&o, n);
    for (int i = 0; i < have; i++) o.b[o.n++] = (uint8_t)(i == 0 ? first_label : (i * 3) % 10);
    return o;
}
static buf good_labels(void) { return labels_file(2049, N, N, 7); }

static void write_raw(const char *name, const void *d, size_t n) {
    FILE *f = fopen(path_of(name), "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(d, 1, n, f), n);
    fclose(f);
}
static void write_gz(const char *name, const void *d, size_t n) {
    gzFile g = gzopen(path_of(name), "wb");
    assert_non_null(g);
    if (n) assert_int_equal(gzwrite(g, d, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
}
/* The gzip bytes of d, for corrupting by hand. */
static buf gz_bytes(const void *d, size_t n) {
    write_gz("tmp.gz", d, n);
    buf o = { .n = 0 };
    FILE *f = fopen(path_of("tmp.gz"), "rb");
    o.n = fread(o.b, 1, sizeof o.b, f);
    fclose(f);
    unlink(path_of("tmp.gz"));
    return o;
}

/* A good image file read as a tensor: uint8 [N, R, C] of pixel(i, p). Frees t. */
static void check_images(cg_tensor *t) {
    assert_non_null(t);
    assert_int_equal(cg_tensor_dtype(t), CG_U8);
    assert_int_equal(cg_tensor_ndim(t), 3);
    assert_int_equal(cg_tensor_size(t, 0), N);
    assert_int_equal(cg_tensor_size(t, 1), R);
    assert_int_equal(cg_tensor_size(t, 2), C);
    const uint8_t *px = cg_tensor_cdata_u8(t);
    for (int i = 0; i < N; i++)
        for (int p = 0; p < R * C; p++) assert_int_equal(px[i * R * C + p], pixel(i, p));
    cg_tensor_free(t);
}
/* The same for a dataset over a good image file: [1, R, C] bytes per example. */
static void check_set(const cg_dataset *ds) {
    assert_non_null(ds);
    assert_int_equal(ds->n, N);
    assert_int_equal(ds->ndim, 3);
    assert_int_equal(ds->shape[0], 1);
    assert_int_equal(ds->shape[1], R);
    assert_int_equal(ds->shape[2], C);
    assert_non_null(ds->u8);
    for (int i = 0; i < N; i++)
        for (int p = 0; p < R * C; p++) assert_int_equal(ds->u8(ds, i)[p], pixel(i, p));
}

/* ---- good files ---------------------------------------------------------------------- */
static void test_images_raw_and_gz(void **s) {
    (void)s;
    buf b = good_images();
    write_raw("im", b.b, b.n);
    write_gz("im.gz", b.b, b.n);
    cg_tensor *im;
    assert_int_equal(cg_idx_load(path_of("im"), &im), CG_OK);
    check_images(im);
    assert_int_equal(cg_idx_load(path_of("im.gz"), &im), CG_OK);
    check_images(im);
    /* from memory, raw and gzip */
    assert_int_equal(cg_idx_parse_mem(b.b, b.n, "mem", &im), CG_OK);
    check_images(im);
    buf z = gz_bytes(b.b, b.n);
    assert_int_equal(cg_idx_parse_mem(z.b, z.n, "mem.gz", &im), CG_OK);
    check_images(im);
    /* and as a dataset's images, raw and gzip */
    buf lb = good_labels();
    write_raw("lb", lb.b, lb.n);
    cg_dataset *ds;
    assert_int_equal(cg_dataset_idx_open(path_of("im"), path_of("lb"), &ds), CG_OK);
    check_set(ds);
    cg_dataset_free(ds);
    assert_int_equal(cg_dataset_idx_open(path_of("im.gz"), path_of("lb"), &ds), CG_OK);
    check_set(ds);
    cg_dataset_free(ds);
    cg_dataset_free(NULL);
}

static void test_labels_raw_and_gz(void **s) {
    (void)s;
    buf b = good_labels();
    write_raw("lb", b.b, b.n);
    write_gz("lb.gz", b.b, b.n);
    const char *names[2] = { "lb", "lb.gz" };
    buf im = good_images();
    write_raw("im", im.b, im.n);
    for (int k = 0; k < 2; k++) {
        cg_tensor *lb;
        assert_int_equal(cg_idx_load(path_of(names[k]), &lb), CG_OK);
        assert_int_equal(cg_tensor_dtype(lb), CG_U8);
        assert_int_equal(cg_tensor_ndim(lb), 1);
        assert_int_equal(cg_tensor_size(lb, 0), N);
        assert_int_equal(cg_tensor_cdata_u8(lb)[0], 7);
        for (int i = 1; i < N; i++) assert_int_equal(cg_tensor_cdata_u8(lb)[i], (i * 3) % 10);
        cg_tensor_free(lb);
        cg_dataset *ds;
        assert_int_equal(cg_dataset_idx_open(path_of("im"), path_of(names[k]), &ds), CG_OK);
        assert_int_equal(ds->label(ds, 0), 7);
        for (int i = 1; i < N; i++) assert_int_equal(ds->label(ds, i), (i * 3) % 10);
        assert_non_null(strstr(ds->label_name, names[k]));
        cg_dataset_free(ds);
    }
}

static void test_concatenated_gzip_members(void **s) {
    (void)s;
    buf b = good_images(), z1 = gz_bytes(b.b, 20), z2 = gz_bytes(b.b + 20, b.n - 20);
    buf cat = z1;
    memcpy(cat.b + cat.n, z2.b, z2.n);
    cat.n += z2.n;
    write_raw("cat.gz", cat.b, cat.n);
    cg_tensor *im;
    assert_int_equal(cg_idx_load(path_of("cat.gz"), &im), CG_OK);
    check_images(im);
}

/* ---- MNIST names ------------------------------------------------------------------------ */
static void test_mnist_prefers_gz_over_raw(void **s) {
    (void)s;
    buf im = good_images(), lb = good_labels(), other = images_file(2051, N, R, C, N);
    for (size_t i = 16; i < other.n; i++) other.b[i] = 0; /* the raw copy differs */
    write_gz("train-images-idx3-ubyte.gz", im.b, im.n);
    write_raw("train-images-idx3-ubyte", other.b, other.n);
    write_raw("train-labels-idx1-ubyte", lb.b, lb.n);
    cg_dataset *set;
    assert_int_equal(cg_dataset_mnist_open(g_dir, true, &set), CG_OK);
    check_set(set); /* the .gz one */
    assert_non_null(strstr(set->name, "train-images-idx3-ubyte.gz"));
    assert_non_null(strstr(set->label_name, "train-labels-idx1-ubyte"));
    cg_dataset_free(set);
    /* the names alone */
    char ip[512], lp[512];
    assert_int_equal(cg_dataset_mnist_paths(g_dir, true, ip, lp, sizeof ip), CG_OK);
    assert_string_equal(ip, path_of("train-images-idx3-ubyte.gz"));
    assert_string_equal(lp, path_of("train-labels-idx1-ubyte"));
    assert_int_equal(cg_dataset_mnist_paths(g_dir, true, ip, lp, 8), CG_EINVAL); /* too small */
    assert_int_equal(cg_dataset_mnist_paths(g_dir, true, NULL, lp, sizeof ip), CG_EINVAL);
    /* the test pair is missing */
    set = (cg_dataset *)1;
    assert_int_not_equal(cg_dataset_mnist_open(g_dir, false, &set), CG_OK);
    assert_null(set);
    assert_int_not_equal(cg_dataset_mnist_paths(g_dir, false, ip, lp, sizeof ip), CG_OK);
}

static void test_mnist_dotted_names(void **s) {
    (void)s;
    buf im = good_images(), lb = good_labels();
    write_raw("t10k-images.idx3-ubyte", im.b, im.n);
    write_gz("t10k-labels.idx1-ubyte.gz", lb.b, lb.n);
    cg_dataset *set;
    assert_int_equal(cg_dataset_mnist_open(g_dir, false, &set), CG_OK);
    check_set(set);
    assert_int_equal(set->label(set, 0), 7);
    cg_dataset_free(set);
}

static void test_mnist_missing_lists_names(void **s) {
    (void)s;
    cg_dataset *set;
    assert_int_equal(cg_dataset_mnist_open(g_dir, true, &set), CG_EIO);
    const char *e = cg_last_error();
    assert_non_null(strstr(e, "tried"));
    assert_non_null(strstr(e, "train-images-idx3-ubyte.gz"));
    assert_non_null(strstr(e, "train-images-idx3-ubyte,"));
    assert_non_null(strstr(e, "train-images.idx3-ubyte.gz"));
    assert_non_null(strstr(e, "train-images.idx3-ubyte"));
    assert_non_null(strstr(e, g_dir));
    /* a folder that is not there, or not a folder, or an empty name: said as such */
    assert_int_equal(cg_dataset_mnist_open("/nonexistent/dir", false, &set), CG_EIO);
    assert_non_null(strstr(cg_last_error(), "no data folder /nonexistent/dir"));
    write_raw("plain", "x", 1);
    assert_int_equal(cg_dataset_mnist_open(path_of("plain"), false, &set), CG_EIO);
    assert_non_null(strstr(cg_last_error(), "is not a folder"));
    assert_int_equal(cg_dataset_mnist_open("", true, &set), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "the data folder name is empty"));
    assert_int_equal(cg_dataset_mnist_open(NULL, true, &set), CG_EINVAL);
    assert_int_equal(cg_dataset_mnist_open(g_dir, true, NULL), CG_EINVAL);
}

static void test_mnist_counts_disagree(void **s) {
    (void)s;
    buf im = good_images(), lb = labels_file(2049, N - 1, N - 1, 1);
    write_raw("train-images-idx3-ubyte", im.b, im.n);
    write_raw("train-labels-idx1-ubyte", lb.b, lb.n);
    cg_dataset *set = (cg_dataset *)1;
    assert_int_equal(cg_dataset_mnist_open(g_dir, true, &set), CG_EFORMAT);
    assert_non_null(strstr(cg_last_error(), "train-labels-idx1-ubyte"));
    assert_non_null(strstr(cg_last_error(), "must agree"));
    assert_null(set);
}

static void test_mnist_label_out_of_range(void **s) {
    (void)s;
    buf im = good_images(), lb = labels_file(2049, N, N, 10);
    write_raw("train-images-idx3-ubyte", im.b, im.n);
    write_gz("train-labels-idx1-ubyte.gz", lb.b, lb.n);
    /* The folder opens (a label range is the net's business); MNIST's 10 classes refuse it. */
    cg_dataset *set;
    assert_int_equal(cg_dataset_mnist_open(g_dir, true, &set), CG_OK);
    assert_int_equal(cg_dataset_check_labels(set, 10), CG_EFORMAT);
    assert_non_null(strstr(cg_last_error(), "train-labels-idx1-ubyte.gz"));
    assert_non_null(strstr(cg_last_error(), "label 10 at index 0 is outside 0..9"));
    assert_int_equal(cg_dataset_check_labels(set, 11), CG_OK);
    cg_dataset_free(set);
}

/* ---- every malformed case ------------------------------------------------------------------ */
/* Open `name` as a dataset's images (beside N good labels) and, when `generic` (an error of the
 * format, not of the file's role), as a tensor through cg_idx_load; expect failure with `hint` and
 * the name in the message, and nothing handed back. */
static void expect_error(const char *name, bool as_images, bool generic, cg_status want, const char *hint) {
    buf other = as_images ? good_labels() : good_images();
    write_raw(as_images ? "good-labels" : "good-images", other.b, other.n);
    cg_dataset *ds = (cg_dataset *)1;
    cg_status st = as_images ? cg_dataset_idx_open(path_of(name), path_of("good-labels"), &ds)
                             : cg_dataset_idx_open(path_of("good-images"), path_of(name), &ds);
    if (st == CG_OK || !strstr(cg_last_error(), name) || !strstr(cg_last_error(), hint))
        print_error("%s as %s: status %d, message \"%s\", wanted \"%s\"\n", name, as_images ? "images" : "labels", st,
                    cg_last_error(), hint);
    assert_int_equal(st, want);
    assert_non_null(strstr(cg_last_error(), name));
    assert_non_null(strstr(cg_last_error(), hint));
    assert_null(ds);
    if (!generic) return;
    cg_tensor *t = (cg_tensor *)1;
    st = cg_idx_load(path_of(name), &t);
    if (st == CG_OK || !strstr(cg_last_error(), name) || !strstr(cg_last_error(), hint))
        print_error("%s: cg_idx_load status %d, message \"%s\", wanted \"%s\"\n", name, st, cg_last_error(), hint);
    assert_int_equal(st, want);
    assert_non_null(strstr(cg_last_error(), name));
    assert_non_null(strstr(cg_last_error(), hint));
    assert_null(t);
}
static void expect_images_error(const char *name, cg_status want, const char *hint) {
    expect_error(name, true, true, want, hint);
}
static void expect_labels_error(const char *name, cg_status want, const char *hint) {
    expect_error(name, false, true, want, hint);
}
/* Write b raw and gzip and expect the same error from both, as images. */
static void both_images_role(const char *name, buf b, bool generic, const char *hint) {
    char gz[128];
    snprintf(gz, sizeof gz, "%s.gz", name);
    write_raw(name, b.b, b.n);
    write_gz(gz, b.b, b.n);
    expect_error(name, true, generic, CG_EFORMAT, hint);
    expect_error(gz, true, generic, CG_EFORMAT, hint);
}
static void both_images(const char *name, buf b, const char *hint) { both_images_role(name, b, true, hint); }

static void test_bad_magic(void **s) {
    (void)s;
    both_images("magic", images_file(0x12345678, N, R, C, N), "not an IDX file");
    both_images("type0a", images_file(0x00000A03, N, R, C, N), "unknown IDX element type 0x0a");
    /* a label file's header (one dimension) where images belong, and the reverse */
    both_images_role("labelmagic", images_file(2049, N, R, C, N), false, "images need 2 to 4 dimensions");
    both_images_role("labelmagic2", images_file(2049, N, R, C, N), false, "(a label file?)");
    buf lb = good_images();
    write_raw("imgaslabels", lb.b, lb.n);
    expect_error("imgaslabels", false, false, CG_EFORMAT, "labels need 1 dimension");
    expect_error("imgaslabels", false, false, CG_EFORMAT, "(an image file?)");
    /* float images are read as floats: this file holds a quarter of the bytes its header claims */
    both_images("floattype", images_file(0x00000D03, N, R, C, N), "shorter than its header says");
    buf fl = labels_file(0x00000D01, N, 0, 0);
    for (int i = 0; i < N; i++) { uint8_t one[4] = { 0x3f, 0x80, 0, 0 }; memcpy(fl.b + fl.n, one, 4); fl.n += 4; }
    write_raw("floatlabels", fl.b, fl.n);
    expect_error("floatlabels", false, false, CG_EFORMAT, "labels must be integers");
}

static void test_bad_ndims(void **s) {
    (void)s;
    both_images("ndims5", images_file(0x00000805, N, R, C, N), "5 dimensions; cgrad reads IDX files of 1 to 4");
    both_images("ndims0", images_file(0x00000800, N, R, C, N), "0 dimensions");
    /* ranks 2 and 4 are images too ([N, D], [N, C, H, W]): these headers misdescribe the body */
    both_images("ndims2", images_file(0x00000802, N, R, C, N), "longer than its header says");
    both_images("ndims4", images_file(0x00000804, N, R, C, N), "shorter than its header says");
}

static void test_bad_dimensions(void **s) {
    (void)s;
    both_images("zerorows", images_file(2051, N, 0, C, 0), "dimension 1 is 0");
    both_images("zerocols", images_file(2051, N, R, 0, 0), "dimension 2 is 0");
    both_images("zerocount", images_file(2051, 0, R, C, 0), "dimension 0 is 0");
    both_images("hugerows", images_file(2051, N, 100000, C, 0), "shorter than its header says");
    both_images("hugeimage", images_file(2051, N, 60000, 60000, 0), "unreasonable dimensions");
    buf lb = labels_file(2049, 0, 0, 0);
    write_raw("zerolabels", lb.b, lb.n);
    expect_labels_error("zerolabels", CG_EFORMAT, "dimension 0 is 0");
}

static void test_shorter_than_header(void **s) {
    (void)s;
    buf b = good_images();
    b.n -= 5; /* half an image missing */
    both_images("short", b, "shorter than its header says");
    both_images("noimages", images_file(2051, N, R, C, 0), "shorter than its header says");
    buf lb = good_labels();
    lb.n -= 1;
    write_gz("shortlabels.gz", lb.b, lb.n);
    expect_labels_error("shortlabels.gz", CG_EFORMAT, "shorter than its header says");
    buf h = good_images();
    h.n = 10; /* inside the header */
    both_images("shortheader", h, "truncated header");
    h.n = 3;
    both_images("shortmagic", h, "truncated header");
}

static void test_longer_than_header(void **s) {
    (void)s;
    buf b = good_images();
    b.b[b.n++] = 1; b.b[b.n++] = 2; b.b[b.n++] = 3;
    both_images("long", b, "longer than its header says: 3 trailing bytes");
    buf lb = good_labels();
    lb.b[lb.n++] = 0;
    write_raw("longlabels", lb.b, lb.n);
    expect_labels_error("longlabels", CG_EFORMAT, "longer than its header says");
}

static void test_empty_and_missing(void **s) {
    (void)s;
    write_raw("empty", "", 0);
    expect_images_error("empty", CG_EFORMAT, "empty");
    write_gz("emptygz.gz", "", 0);
    expect_images_error("emptygz.gz", CG_EFORMAT, "empty");
    expect_labels_error("emptygz.gz", CG_EFORMAT, "empty");
    expect_images_error("does-not-exist", CG_EIO, "cannot open");
    expect_labels_error("does-not-exist", CG_EIO, "cannot open");
    cg_tensor *im;
    assert_int_equal(cg_idx_load(NULL, &im), CG_EINVAL);
    assert_int_equal(cg_idx_load(path_of("empty"), NULL), CG_EINVAL);
    assert_int_equal(cg_idx_parse_mem(NULL, 0, "nothing", &im), CG_EFORMAT);
    assert_non_null(strstr(cg_last_error(), "nothing: the file is empty"));
    assert_null(im);
    assert_int_equal(cg_idx_parse_mem(NULL, 4, "nothing", &im), CG_EINVAL);
    cg_dataset *ds;
    assert_int_equal(cg_dataset_idx_open(NULL, path_of("empty"), &ds), CG_EINVAL);
    assert_int_equal(cg_dataset_idx_open(path_of("empty"), path_of("empty"), NULL), CG_EINVAL);
}

static void test_corrupt_gzip(void **s) {
    (void)s;
    buf b = good_images();
    buf z = gz_bytes(b.b, b.n);
    /* deflate data damaged in the middle */
    buf bad = z;
    for (size_t i = 12; i < bad.n - 8; i++) bad.b[i] ^= 0x5a;
    write_raw("damaged.gz", bad.b, bad.n);
    expect_images_error("damaged.gz", CG_EFORMAT, "corrupt gzip data");
    /* CRC of the trailer wrong */
    bad = z;
    bad.b[bad.n - 6] ^= 0xff;
    write_raw("badcrc.gz", bad.b, bad.n);
    expect_images_error("badcrc.gz", CG_EFORMAT, "corrupt gzip data");
    /* cut short: the trailer and some data missing */
    bad = z;
    bad.n -= 12;
    write_raw("cut.gz", bad.b, bad.n);
    expect_images_error("cut.gz", CG_EFORMAT, "corrupt gzip data");
    bad.n = 5; /* only the start of the gzip header */
    write_raw("cuthead.gz", bad.b, bad.n);
    expect_images_error("cuthead.gz", CG_EFORMAT, "corrupt gzip data");
    /* the same from memory */
    cg_tensor *im;
    assert_int_equal(cg_idx_parse_mem(bad.b, bad.n, "mem.gz", &im), CG_EFORMAT);
    assert_non_null(strstr(cg_last_error(), "mem.gz: corrupt gzip data"));
    assert_null(im);
}

/* ---- a header that lies must not allocate ---------------------------------------------------- */
static size_t g_live, g_peak, g_total;
static void *count_alloc(size_t n, void *ctx) {
    (void)ctx;
    size_t *p = malloc(n + 16);
    if (!p) return NULL;
    p[0] = n;
    g_live += n;
    g_total += n;
    if (g_live > g_peak) g_peak = g_live;
    return (char *)p + 16;
}
static void count_free(void *q, void *ctx) {
    (void)ctx;
    size_t *p = (size_t *)((char *)q - 16);
    g_live -= p[0];
    free(p);
}

static void test_lying_header_does_not_allocate(void **s) {
    (void)s;
    buf b = images_file(2051, 0xFFFFFFF0u, 28, 28, 2); /* claims 4 billion images, holds 2 */
    write_raw("liar", b.b, b.n);
    write_gz("liar.gz", b.b, b.n);
    buf lb = labels_file(2049, 0xFFFFFFF0u, 3, 1);
    write_raw("liarlabels.gz", lb.b, lb.n);
    /* a gzip trailer forged to agree with the lie: the compressed size still rules it out */
    buf forged = gz_bytes(b.b, b.n);
    uint32_t claim = (uint32_t)(16 + 0xFFFFFFF0ull * 28 * 28);
    for (int i = 0; i < 4; i++) forged.b[forged.n - 4 + i] = (uint8_t)(claim >> (8 * i));
    write_raw("forged.gz", forged.b, forged.n);
    cg_allocator counting = { count_alloc, count_free, NULL };
    cg_set_allocator(&counting);
    g_live = g_peak = g_total = 0;
    cg_tensor *im, *lbl;
    cg_status st1 = cg_idx_load(path_of("liar"), &im);
    cg_status st2 = cg_idx_load(path_of("liar.gz"), &im);
    cg_status st3 = cg_idx_parse_mem(b.b, b.n, "liar-mem", &im);
    cg_status st5 = cg_idx_load(path_of("forged.gz"), &im);
    cg_status st6 = cg_idx_parse_mem(forged.b, forged.n, "forged-mem", &im);
    cg_status st4 = cg_idx_load(path_of("liarlabels.gz"), &lbl);
    size_t live = g_live, peak = g_peak, total = g_total;
    cg_set_allocator(NULL);
    assert_int_equal(st1, CG_EFORMAT);
    assert_int_equal(st2, CG_EFORMAT);
    assert_int_equal(st3, CG_EFORMAT);
    assert_int_equal(st4, CG_EFORMAT);
    assert_int_equal(st5, CG_EFORMAT);
    assert_int_equal(st6, CG_EFORMAT);
    assert_non_null(strstr(cg_last_error(), "liarlabels.gz: the file is shorter than its header says"));
    assert_int_equal(live, 0);               /* nothing leaked */
    assert_true(peak < (1u << 20));
    assert_true(total < (1u << 20));
    assert_true(total > 0);                  /* the hook did see the loads */
}

/* ---- gzip bombs: a huge claim over a small file must be refused before any large allocation ---- */

/* Write `name` as gzip: the header bytes h, then `zeros` zero bytes (which deflate ~1000:1). */
static void write_gz_zeros(const char *name, const buf *h, size_t zeros) {
    static uint8_t in[1 << 16], out[1 << 16];
    z_stream z = { 0 };
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
    FILE *f = fopen(path_of(name), "wb");
    assert_non_null(f);
    memset(in, 0, sizeof in);
    z.next_in = (Bytef *)h->b;
    z.avail_in = (uInt)h->n;
    int flush = Z_NO_FLUSH;
    for (;;) {
        if (z.avail_in == 0 && flush == Z_NO_FLUSH) {
            size_t k = zeros < sizeof in ? zeros : sizeof in;
            zeros -= k;
            z.next_in = in;
            z.avail_in = (uInt)k;
            if (zeros == 0) flush = Z_FINISH;
        }
        z.next_out = out;
        z.avail_out = sizeof out;
        int rc = deflate(&z, flush);
        assert_true(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR);
        size_t have = sizeof out - z.avail_out;
        if (have) assert_int_equal(fwrite(out, 1, have, f), have);
        if (rc == Z_STREAM_END) break;
    }
    deflateEnd(&z);
    fclose(f);
}

static void test_gzip_bomb_is_refused_with_bounded_memory(void **s) {
    (void)s;
    buf h = images_file(2051, 0xFFFFFFFFu, 28, 28, 0); /* 3.4 TB claimed ... */
    write_gz_zeros("bomb-images.gz", &h, 32u << 20);   /* ... 32 MB inflated, 32 KB on disk */
    buf hl = labels_file(2049, 0x80000000u, 0, 0);     /* 2 GB of labels claimed */
    write_gz_zeros("bomb-labels.gz", &hl, 32u << 20);
    struct stat sb;
    assert_int_equal(stat(path_of("bomb-images.gz"), &sb), 0);
    assert_true(sb.st_size < (1 << 20));
    cg_allocator a = largest_allocator;
    const char *names[2] = { "bomb-images.gz", "bomb-labels.gz" };
    for (int k = 0; k < 2; k++) {
        cg_tensor *t;
        g_largest = 0;
        cg_set_allocator(&a);
        cg_status st = cg_idx_load(path_of(names[k]), &t);
        cg_set_allocator(NULL);
        if (st != CG_EFORMAT || g_largest >= (1u << 20))
            print_error("%s: status %d, largest allocation %zu, message \"%s\"\n", names[k], st, g_largest,
                        cg_last_error());
        assert_int_equal(st, CG_EFORMAT);
        assert_non_null(strstr(cg_last_error(), names[k]));
        assert_non_null(strstr(cg_last_error(), "shorter than its header says"));
        assert_true(g_largest < (1u << 20));
    }
}

/* An image/label pair whose counts disagree is refused on the headers, before either body. */
static void test_mnist_counts_checked_before_bodies(void **s) {
    (void)s;
    buf h = images_file(2051, 8000, 28, 28, 0);            /* 6.3 MB of honest (zero) images */
    write_gz_zeros("train-images-idx3-ubyte.gz", &h, (size_t)8000 * 28 * 28);
    buf lb = good_labels();                                /* 5 labels */
    write_raw("train-labels-idx1-ubyte", lb.b, lb.n);
    buf bomb = labels_file(2049, 0x80000000u, 0, 0);       /* and a label file claiming 2^31 */
    write_gz_zeros("t10k-labels-idx1-ubyte.gz", &bomb, 32u << 20);
    buf h2 = images_file(2051, 8000, 28, 28, 0);
    write_gz_zeros("t10k-images-idx3-ubyte.gz", &h2, (size_t)8000 * 28 * 28);
    cg_allocator a = largest_allocator;
    for (int train = 1; train >= 0; train--) {
        cg_dataset *set = (cg_dataset *)1;
        g_largest = 0;
        cg_set_allocator(&a);
        cg_status st = cg_dataset_mnist_open(g_dir, train, &set);
        cg_set_allocator(NULL);
        if (st != CG_EFORMAT || g_largest >= (1u << 20))
            print_error("train=%d: status %d, largest allocation %zu, message \"%s\"\n", train, st, g_largest,
                        cg_last_error());
        assert_int_equal(st, CG_EFORMAT);
        assert_non_null(strstr(cg_last_error(), train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte.gz"));
        assert_true(g_largest < (1u << 20));
        assert_null(set);
    }
}

/* ---- a FIFO must not block ------------------------------------------------------------------- */
static void test_fifo_is_refused(void **s) {
    (void)s;
    assert_int_equal(mkfifo(path_of("fifo"), 0600), 0);
    alarm(20); /* before the fix the open waited forever for a writer: SIGALRM ends the test */
    buf gi = good_images();
    write_raw("good-images", gi.b, gi.n);
    cg_tensor *im;
    cg_dataset *ds;
    cg_status st1 = cg_idx_load(path_of("fifo"), &im);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", cg_last_error());
    cg_status st2 = cg_dataset_idx_open(path_of("good-images"), path_of("fifo"), &ds); /* as labels */
    char msg2[512];
    snprintf(msg2, sizeof msg2, "%s", cg_last_error());
    cg_status st3 = cg_dataset_idx_open(path_of("fifo"), path_of("good-images"), &ds); /* as images */
    alarm(0);
    assert_int_equal(st1, CG_EIO);
    assert_non_null(strstr(msg, "fifo: not a regular file"));
    assert_int_equal(st2, CG_EIO);
    assert_non_null(strstr(msg2, "fifo: not a regular file"));
    assert_int_equal(st3, CG_EIO);
    assert_non_null(strstr(cg_last_error(), "fifo: not a regular file"));
    assert_null(im);
    assert_null(ds);
    /* a directory is refused the same way */
    assert_int_equal(cg_idx_load(g_dir, &im), CG_EIO);
    assert_non_null(strstr(cg_last_error(), "not a regular file"));
    assert_int_equal(cg_dataset_mnist_open(path_of("fifo"), true, &ds), CG_EIO); /* not a folder */
}

/* ---- the real set ---------------------------------------------------------------------------- */
/* ---- any IDX file (cg_idx_load) ------------------------------------------------------ */
/* The format's element types (the third byte of the magic number). */
enum { CG_IDX_U8 = 0x08, CG_IDX_I8 = 0x09, CG_IDX_I16 = 0x0B, CG_IDX_I32 = 0x0C, CG_IDX_F32 = 0x0D, CG_IDX_F64 = 0x0E };
/* A file of type t with nd dims and prod(dims) elements, element i = i * 3 - 7 (as the type
 * holds it), each written big-endian as the format says. */
static buf any_file(uint8_t t, int nd, const uint32_t *dims, int es) {
    buf o = { .n = 0 };
    o.b[o.n++] = 0; o.b[o.n++] = 0; o.b[o.n++] = t; o.b[o.n++] = (uint8_t)nd;
    uint32_t n = 1;
    for (int i = 0; i < nd; i++) { put32(&o, dims[i]); n *= dims[i]; }
    for (uint32_t i = 0; i < n; i++) {
        double v = (double)i * 3 - 7;
        uint8_t b[8];
        if (t == CG_IDX_F32) { float f = (float)v + 0.25f; uint32_t u; memcpy(&u, &f, 4); for (int k = 0; k < 4; k++) b[k] = (uint8_t)(u >> (24 - 8 * k)); }
        else if (t == CG_IDX_F64) { double d = v + 0.125; uint64_t u; memcpy(&u, &d, 8); for (int k = 0; k < 8; k++) b[k] = (uint8_t)(u >> (56 - 8 * k)); }
        else { int64_t x = (int64_t)v; uint64_t u = (uint64_t)x; for (int k = 0; k < es; k++) b[k] = (uint8_t)(u >> (8 * (es - 1 - k))); }
        memcpy(o.b + o.n, b, (size_t)es);
        o.n += (size_t)es;
    }
    return o;
}

static double any_value(const cg_tensor *t, int64_t i) {
    switch (cg_tensor_dtype(t)) {
    case CG_U8: return cg_tensor_cdata_u8(t)[i];
    case CG_I64: return (double)cg_tensor_cdata_i64(t)[i];
    default: return cg_tensor_cdata(t)[i];
    }
}

/* Every element type, 1 to 4 dims, raw and gzip, file and memory: the dtype that fits (uint8;
 * int64 for the signed integers; float32 for float and double), shape and values exact. */
static void test_any_type_and_rank(void **s) {
    (void)s;
    const struct { uint8_t t; int es; cg_dtype dt; } types[] = {
        { CG_IDX_U8, 1, CG_U8 }, { CG_IDX_I8, 1, CG_I64 }, { CG_IDX_I16, 2, CG_I64 },
        { CG_IDX_I32, 4, CG_I64 }, { CG_IDX_F32, 4, CG_F32 }, { CG_IDX_F64, 8, CG_F32 } };
    const uint32_t dims[4] = { 3, 2, 4, 5 };
    for (int ti = 0; ti < 6; ti++)
        for (int nd = 1; nd <= 4; nd++) {
            buf b = any_file(types[ti].t, nd, dims, types[ti].es);
            write_raw("any", b.b, b.n);
            write_gz("any.gz", b.b, b.n);
            for (int how = 0; how < 3; how++) {
                cg_tensor *a;
                cg_status st = how == 0 ? cg_idx_load(path_of("any"), &a)
                             : how == 1 ? cg_idx_load(path_of("any.gz"), &a)
                                        : cg_idx_parse_mem(b.b, b.n, "any-mem", &a);
                if (st != CG_OK) fail_msg("type 0x%02x, %d dims: %s", types[ti].t, nd, cg_last_error());
                assert_int_equal(cg_tensor_dtype(a), types[ti].dt);
                assert_int_equal(cg_tensor_ndim(a), nd);
                int64_t n = 1;
                for (int i = 0; i < nd; i++) { assert_int_equal(cg_tensor_size(a, i), dims[i]); n *= dims[i]; }
                assert_int_equal(cg_tensor_numel(a), n);
                for (int64_t i = 0; i < n; i++) {
                    double v = (double)i * 3 - 7, want;
                    switch (types[ti].t) {
                    case CG_IDX_U8: want = (uint8_t)(int64_t)v; break;
                    case CG_IDX_I8: want = (int8_t)(int64_t)v; break;
                    case CG_IDX_F32: want = (float)v + 0.25f; break;
                    case CG_IDX_F64: want = v + 0.125; break;
                    default: want = v; break;
                    }
                    if (any_value(a, i) != want)
                        fail_msg("type 0x%02x, %d dims, element %lld: got %g want %g", types[ti].t, nd,
                                 (long long)i, any_value(a, i), want);
                }
                cg_tensor_free(a);
            }
        }
}

/* Each malformed header gets its own message naming the file; short and long bodies too. */
static void test_any_errors(void **s) {
    (void)s;
    const uint32_t dims[2] = { 2, 3 };
    struct { const char *name; buf b; const char *msg; } cs[6];
    cs[0].b = any_file(CG_IDX_I16, 2, dims, 2); cs[0].b.b[0] = 1; cs[0].name = "notidx"; cs[0].msg = "not an IDX file";
    cs[1].b = any_file(CG_IDX_I16, 2, dims, 2); cs[1].b.b[2] = 0x0A; cs[1].name = "type"; cs[1].msg = "unknown IDX element type 0x0a";
    cs[2].b = any_file(CG_IDX_I16, 2, dims, 2); cs[2].b.b[3] = 5; cs[2].name = "rank5"; cs[2].msg = "5 dimensions";
    cs[3].b = any_file(CG_IDX_I16, 2, dims, 2); cs[3].b.b[3] = 0; cs[3].name = "rank0"; cs[3].msg = "0 dimensions";
    cs[4].b = any_file(CG_IDX_I16, 2, dims, 2); cs[4].b.n -= 1; cs[4].name = "short"; cs[4].msg = "shorter than its header says";
    cs[5].b = any_file(CG_IDX_I16, 2, dims, 2); cs[5].b.b[cs[5].b.n++] = 9; cs[5].name = "long"; cs[5].msg = "longer than its header says";
    for (int i = 0; i < 6; i++) {
        write_raw(cs[i].name, cs[i].b.b, cs[i].b.n);
        cg_tensor *a = (cg_tensor *)1;
        assert_int_equal(cg_idx_load(path_of(cs[i].name), &a), CG_EFORMAT);
        assert_null(a);
        if (!strstr(cg_last_error(), cs[i].msg) || !strstr(cg_last_error(), cs[i].name))
            fail_msg("%s: message '%s' lacks '%s'", cs[i].name, cg_last_error(), cs[i].msg);
    }
    buf z = any_file(CG_IDX_F32, 2, (const uint32_t[]){ 2, 0 }, 4);
    write_raw("zero", z.b, z.n);
    cg_tensor *a;
    assert_int_equal(cg_idx_load(path_of("zero"), &a), CG_EFORMAT);
    assert_non_null(strstr(cg_last_error(), "dimension 1 is 0"));
}

/* A header that claims 2^32 - 1 entries of 16 doubles over 2 real ones costs at most a few times
 * the real data, raw and gzip; and an entry of more than 256 MiB is refused from the header. */
static void test_any_lying_header_is_bounded(void **s) {
    (void)s;
    buf b = any_file(CG_IDX_F64, 2, (const uint32_t[]){ 2, 16 }, 8);
    b.b[4] = b.b[5] = b.b[6] = 0xFF; b.b[7] = 0xFF;  /* dims[0] = 2^32 - 1 */
    write_raw("liar", b.b, b.n);
    write_gz("liar.gz", b.b, b.n);
    buf big = any_file(CG_IDX_F64, 1, (const uint32_t[]){ 1 }, 8);
    big.b[3] = 3; big.n = 4;
    put32(&big, 1); put32(&big, 1 << 15); put32(&big, 1 << 15);   /* one entry of 8 GiB */
    write_raw("huge", big.b, big.n);
    cg_allocator counting = { count_alloc, count_free, NULL };
    cg_set_allocator(&counting);
    g_live = g_peak = g_total = 0;
    cg_tensor *a;
    cg_status st1 = cg_idx_load(path_of("liar"), &a), st2 = cg_idx_load(path_of("liar.gz"), &a);
    cg_status st3 = cg_idx_load(path_of("huge"), &a);
    size_t peak = g_peak, live = g_live;
    cg_set_allocator(NULL);
    assert_int_equal(st1, CG_EFORMAT);
    assert_int_equal(st2, CG_EFORMAT);
    assert_int_equal(st3, CG_EFORMAT);
    assert_int_equal(live, 0);
    if (peak > ((size_t)1 << 20)) fail_msg("peak allocation %zu bytes for a 272-byte file", peak);
}

static void test_real_fashion_mnist(void **s) {
    (void)s;
    const char *dir = "/usr/share/datasets/fashion-mnist";
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        print_message("note: %s is missing; the real-set test is skipped\n", dir);
        skip();
    }
    for (int train = 1; train >= 0; train--) {
        cg_dataset *set;
        assert_int_equal(cg_dataset_mnist_open(dir, train, &set), CG_OK);
        assert_int_equal(set->n, train ? 60000 : 10000);
        assert_int_equal(set->ndim, 3);
        assert_int_equal(set->shape[0], 1);
        assert_int_equal(set->shape[1], 28);
        assert_int_equal(set->shape[2], 28);
        assert_non_null(set->u8);
        assert_int_equal(cg_dataset_check_labels(set, 10), CG_OK);
        int64_t count[10] = { 0 };
        for (int64_t i = 0; i < set->n; i++) count[set->label(set, i)]++;
        for (int k = 0; k < 10; k++) assert_int_equal(count[k], set->n / 10); /* balanced */
        cg_dataset_free(set);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_images_raw_and_gz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_labels_raw_and_gz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concatenated_gzip_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mnist_prefers_gz_over_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mnist_dotted_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mnist_missing_lists_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mnist_counts_disagree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mnist_label_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_magic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_ndims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_dimensions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shorter_than_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_longer_than_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lying_header_does_not_allocate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip_bomb_is_refused_with_bounded_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mnist_counts_checked_before_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_any_type_and_rank, setup, teardown),
        cmocka_unit_test_setup_teardown(test_any_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_any_lying_header_is_bounded, setup, teardown),
        cmocka_unit_test(test_real_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
