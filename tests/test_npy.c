/* SPDX-License-Identifier: MIT */
/* tests/test_npy.c — NumPy .npy files read where IDX files are (lib/data/npy.c under idx.c):
 * every dtype cgrad reads, both byte orders, Fortran order, format versions 1 to 3, gzip, the
 * datasets; and hostile files: object, complex and structured arrays, headers that lie, do not
 * parse or claim more than the file holds, values outside int32. The files are built here byte
 * by byte (the format is numpy.lib.format's; a test that numpy itself reads them is in
 * tests/mnist/npy_direct.sh). */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <cmocka.h>
#include "cgrad/cgrad.h"

typedef struct { unsigned char b[4096]; size_t n; } buf;

/* A .npy file: the preamble of `version`, the dict with `descr`, `fortran`, `shape` (the tuple's
 * text), padded to 64 bytes as numpy does, then `len` bytes of data. */
static buf npy_v(int version, const char *descr, bool fortran, const char *shape, const void *data, size_t len) {
    buf f = { .n = 0 };
    char dict[512];
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr,
                      fortran ? "True" : "False", shape);
    size_t pre = version == 1 ? 10 : 12, total = pre + (size_t)dl + 1;
    size_t pad = (64 - total % 64) % 64;
    memcpy(f.b, "\x93NUMPY", 6);
    f.b[6] = (unsigned char)version;
    f.b[7] = 0;
    size_t hl = (size_t)dl + pad + 1;
    f.b[8] = (unsigned char)(hl & 0xFF);
    f.b[9] = (unsigned char)(hl >> 8);
    if (version > 1) f.b[10] = f.b[11] = 0;
    f.n = pre;
    memcpy(f.b + f.n, dict, (size_t)dl);
    f.n += (size_t)dl;
    memset(f.b + f.n, ' ', pad);
    f.n += pad;
    f.b[f.n++] = '\n';
    assert_true(f.n + len <= sizeof f.b);
    if (len) memcpy(f.b + f.n, data, len);
    f.n += len;
    return f;
}
static buf npy(const char *descr, bool fortran, const char *shape, const void *data, size_t len) {
    return npy_v(1, descr, fortran, shape, data, len);
}

static cg_tensor *load(const buf *f) {
    cg_tensor *t = NULL;
    cg_status st = cg_idx_parse_mem(f->b, f->n, "x.npy", &t);
    if (st != CG_OK) fail_msg("refused: %s", cg_last_error());
    return t;
}

static void refused(const buf *f, const char *needle) {
    cg_tensor *t = (cg_tensor *)1;
    assert_int_not_equal(cg_idx_parse_mem(f->b, f->n, "x.npy", &t), CG_OK);
    assert_null(t);
    if (!strstr(cg_last_error(), needle)) fail_msg("message '%s' lacks '%s'", cg_last_error(), needle);
    if (!strstr(cg_last_error(), "x.npy")) fail_msg("message '%s' lacks the file's name", cg_last_error());
}

static void test_float_dtypes(void **s) {
    (void)s;
    const float f4[6] = { 0, 1.5f, -2, 3, 4, 5 };
    buf f = npy("<f4", false, "(2, 3)", f4, sizeof f4);
    cg_tensor *t = load(&f);
    assert_int_equal(cg_tensor_dtype(t), CG_F32);
    assert_int_equal(cg_tensor_ndim(t), 2);
    assert_int_equal(cg_tensor_size(t, 1), 3);
    assert_memory_equal(cg_tensor_cdata(t), f4, sizeof f4);
    cg_tensor_free(t);
    /* big-endian doubles, rounded to float32 */
    unsigned char be[16];
    const double d[2] = { 0.1, -3.25 };
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 8; k++) be[i * 8 + k] = ((const unsigned char *)&d[i])[7 - k];
    f = npy(">f8", false, "(2,)", be, sizeof be);
    t = load(&f);
    assert_int_equal(cg_tensor_dtype(t), CG_F32);
    assert_true(cg_tensor_cdata(t)[0] == (float)0.1 && cg_tensor_cdata(t)[1] == -3.25f);
    cg_tensor_free(t);
    /* float16: 1, -2, 65504 (the largest), 2^-24 (the smallest subnormal), inf, NaN */
    const uint16_t h[6] = { 0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x7E00 };
    f = npy("<f2", false, "(6,)", h, sizeof h);
    t = load(&f);
    const float *v = cg_tensor_cdata(t);
    assert_true(v[0] == 1.0f && v[1] == -2.0f && v[2] == 65504.0f && v[3] == 0x1p-24f && v[4] == INFINITY);
    assert_true(v[5] != v[5]);
    cg_tensor_free(t);
}

static void test_integer_dtypes(void **s) {
    (void)s;
    const int64_t l[4] = { 0, 9, -3, 2147483647 };
    buf f = npy("<i8", false, "(4,)", l, sizeof l);
    cg_tensor *t = load(&f);
    assert_int_equal(cg_tensor_dtype(t), CG_I64);
    assert_memory_equal(cg_tensor_craw(t), l, sizeof l);
    cg_tensor_free(t);
    const uint16_t u[3] = { 0, 65535, 7 };
    f = npy("<u2", false, "(3,)", u, sizeof u);
    t = load(&f);
    assert_int_equal(((const int64_t *)cg_tensor_craw(t))[1], 65535);
    cg_tensor_free(t);
    const unsigned char b[3] = { 1, 0, 5 };   /* numpy's bools are 0/1; anything else reads as true */
    f = npy("|b1", false, "(3,)", b, sizeof b);
    t = load(&f);
    assert_int_equal(cg_tensor_dtype(t), CG_U8);
    assert_memory_equal(cg_tensor_craw(t), ((unsigned char[]){ 1, 0, 1 }), 3);
    cg_tensor_free(t);
    f = npy("|u1", false, "(3,)", b, sizeof b);
    t = load(&f);
    assert_memory_equal(cg_tensor_craw(t), b, 3);
    cg_tensor_free(t);
    const unsigned char be[4] = { 0xFF, 0xFE, 0x00, 0x05 };   /* >i2: -2, 5 */
    f = npy(">i2", false, "(2,)", be, sizeof be);
    t = load(&f);
    assert_int_equal(((const int64_t *)cg_tensor_craw(t))[0], -2);
    assert_int_equal(((const int64_t *)cg_tensor_craw(t))[1], 5);
    cg_tensor_free(t);
    /* outside int32: refused naming the element */
    const int64_t big[2] = { 1, (int64_t)1 << 40 };
    f = npy("<i8", false, "(2,)", big, sizeof big);
    refused(&f, "element 1 is 1099511627776, outside int32");
    const uint32_t ub[1] = { 0x80000000u };
    f = npy("<u4", false, "(1,)", ub, sizeof ub);
    refused(&f, "element 0 is 2147483648");
}

static void test_fortran_order_and_versions(void **s) {
    (void)s;
    /* a [2,3,4] array in Fortran order: element (i,j,k) stored at i + 2*(j + 3*k) */
    int32_t fo[24], want[24];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++) {
                int32_t v = 100 * i + 10 * j + k;
                fo[i + 2 * (j + 3 * k)] = v;
                want[(i * 3 + j) * 4 + k] = v;
            }
    buf f = npy("<i4", true, "(2, 3, 4)", fo, sizeof fo);
    cg_tensor *t = load(&f);
    for (int i = 0; i < 24; i++) assert_int_equal(((const int64_t *)cg_tensor_craw(t))[i], want[i]);
    cg_tensor_free(t);
    for (int version = 2; version <= 3; version++) {
        f = npy_v(version, "<f4", false, "(2, 3)", want, 6 * sizeof(float));   /* bytes only matter */
        t = load(&f);
        assert_int_equal(cg_tensor_numel(t), 6);
        cg_tensor_free(t);
    }
    f = npy_v(4, "<f4", false, "(1,)", want, 4);
    refused(&f, "version 4.0");
}

static void test_gzip(void **s) {
    (void)s;
    const float x[4] = { 1, 2, 3, 4 };
    buf f = npy("<f4", false, "(4,)", x, sizeof x);
    char path[] = "/tmp/cg_test_npy_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    gzFile z = gzdopen(fd, "wb");
    assert_int_equal(gzwrite(z, f.b, (unsigned)f.n), (int)f.n);
    gzclose(z);
    cg_tensor *t = NULL;
    assert_int_equal(cg_idx_load(path, &t), CG_OK);
    assert_memory_equal(cg_tensor_cdata(t), x, sizeof x);
    cg_tensor_free(t);
    remove(path);
}

/* A dataset from .npy images and labels, as the programs open one. */
static void test_dataset(void **s) {
    (void)s;
    unsigned char img[3 * 2 * 2] = { 0, 255, 0, 255, 1, 2, 3, 4, 9, 9, 9, 9 };
    const int64_t lab[3] = { 1, 0, 2 };
    buf fi = npy("|u1", false, "(3, 2, 2)", img, sizeof img), fl = npy("<i8", false, "(3,)", lab, sizeof lab);
    char pi[] = "/tmp/cg_test_npy_iXXXXXX", pl[] = "/tmp/cg_test_npy_lXXXXXX";
    int a = mkstemp(pi), b = mkstemp(pl);
    assert_true(a >= 0 && b >= 0);
    FILE *f = fdopen(a, "wb");
    fwrite(fi.b, 1, fi.n, f);
    fclose(f);
    f = fdopen(b, "wb");
    fwrite(fl.b, 1, fl.n, f);
    fclose(f);
    cg_dataset *d = NULL;
    assert_int_equal(cg_dataset_idx_open(pi, pl, &d), CG_OK);
    assert_int_equal(d->n, 3);
    assert_int_equal(cg_dataset_item(d), 4);
    assert_int_equal(d->label(d, 2), 2);
    cg_dataset_free(d);
    remove(pi);
    remove(pl);
}

static void test_hostile(void **s) {
    (void)s;
    const float x[4] = { 0 };
    buf f = npy("|O", false, "(2,)", x, 16);
    refused(&f, "dtype '|O' is not read");
    f = npy("<c8", false, "(2,)", x, 16);
    refused(&f, "dtype '<c8'");
    f = npy("<U3", false, "(1,)", x, 12);
    refused(&f, "dtype '<U3'");
    f = npy("<M8[ns]", false, "(1,)", x, 8);
    refused(&f, "dtype '<M8[ns]'");
    f = npy("<f4", false, "()", x, 4);
    refused(&f, "0-dimensional");
    f = npy("<f4", false, "(1, 1, 1, 1, 1)", x, 4);
    refused(&f, "more than 4 dimensions");
    f = npy("<f4", false, "(2, 0)", x, 0);
    refused(&f, "dimension 1 is 0");
    f = npy("<f4", false, "(5,)", x, 16);
    refused(&f, "shorter than its header says");
    f = npy("<f4", false, "(3,)", x, 16);
    refused(&f, "longer than its header says");
    /* 40 GiB claimed in a 100-byte file: refused before any allocation */
    f = npy("<f4", false, "(10000000, 1024)", x, 16);
    refused(&f, "shorter than its header says");
    f = npy("<f4", false, "(1, 100000000000)", x, 16);
    refused(&f, "unreasonable dimensions");
    f = npy("<f4", false, "(99999999999999999999,)", x, 16);
    refused(&f, "too large");
    /* the dict itself */
    static const char *const dicts[][2] = {
        { "{'descr': '<f4', 'fortran_order': False}", "lacks 'shape'" },
        { "{'descr': '<f4', 'shape': (1,), 'fortran_order': 0}", "must be True or False" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "unknown key 'extra'" },
        { "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", "structured" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1,) x", "byte 56" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", "'shape' must be a tuple" },
        { "{'descr: '<f4'}", "':' expected" },
        { "", "'{' expected" },
    };
    for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++) {
        buf g = { .n = 10 };
        memcpy(g.b, "\x93NUMPY\x01\x00", 8);
        size_t dl = strlen(dicts[i][0]);
        g.b[8] = (unsigned char)dl;
        g.b[9] = 0;
        memcpy(g.b + 10, dicts[i][0], dl);
        g.n += dl;
        memcpy(g.b + g.n, x, 4);
        g.n += 4;
        refused(&g, dicts[i][1]);
    }
    /* the preamble cut short, a header length past the end, a NUL in the header */
    buf g = { .n = 7 };
    memcpy(g.b, "\x93NUMPY\x01", 7);
    refused(&g, "the magic is cut short");
    g = (buf){ .n = 12 };
    memcpy(g.b, "\x93NUMPY\x01\x00\xff\x7f{}", 12);
    refused(&g, "truncated .npy header");
    g = (buf){ .n = 10 };
    memcpy(g.b, "\x93NUMPX\x01\x00\x00\x00", 10);
    refused(&g, "not a .npy file");
    f = npy("<f4", false, "(1,)", x, 4);
    f.b[20] = '\0';
    refused(&f, "NUL byte");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_dtypes),
        cmocka_unit_test(test_integer_dtypes),
        cmocka_unit_test(test_fortran_order_and_versions),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_dataset),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
