/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_idx.c — libFuzzer target for the IDX reader.
 * Each input is parsed as an IDX file into a tensor (cg_idx_parse_mem, cg_idx_load) three ways:
 * from memory as given (raw, or gzip when it starts with gzip's magic), from memory after
 * gzip-compressing it (the header and body checks behind inflate), and from a file (the FILE
 * reader and its refills); a file that reads then opens as a dataset's images
 * (cg_dataset_idx_open) beside a label file made to match, and every example is read.
 * Any success must hand back a consistent result; nothing may crash, leak or allocate wildly. */
#define _XOPEN_SOURCE 700 /* mkstemp */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "cgrad/cgrad.h"

/* The input goes to an unlinked temporary file, read back through /proc/self/fd/N, so nothing is
 * left behind however the fuzzer exits. */
static int g_fd = -1, g_lfd = -1;   /* the input; a label file made to match it */
static char g_path[64], g_lpath[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    char tmpl[] = "/dev/shm/cg_fuzz_idx_XXXXXX"; /* tmpfs: ext4 flushes a truncated file on close */
    g_fd = mkstemp(tmpl);
    if (g_fd < 0) {
        strcpy(tmpl, "/tmp/cg_fuzz_idx_XXXXXX");
        g_fd = mkstemp(tmpl);
    }
    if (g_fd < 0) { perror("mkstemp"); abort(); }
    unlink(tmpl);
    snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
    char ltmpl[] = "/tmp/cg_fuzz_idx_labels_XXXXXX";
    g_lfd = mkstemp(ltmpl);
    if (g_lfd < 0) { perror("mkstemp"); abort(); }
    unlink(ltmpl);
    snprintf(g_lpath, sizeof g_lpath, "/proc/self/fd/%d", g_lfd);
    return 0;
}

/* A success hands back a tensor of the file's shape (1 to 4 dims, none 0) in a dtype that fits
 * the element type; a failure hands back NULL and says why. */
static void check_any(cg_status st, cg_tensor *t) {
    if (st == CG_OK) {
        if (!t || cg_tensor_ndim(t) < 1 || cg_tensor_ndim(t) > 4) abort();
        int64_t n = 1;
        for (int i = 0; i < cg_tensor_ndim(t); i++) { if (cg_tensor_size(t, i) <= 0) abort(); n *= cg_tensor_size(t, i); }
        if (n != cg_tensor_numel(t)) abort();
        cg_dtype d = cg_tensor_dtype(t);
        if (d != CG_U8 && d != CG_I64 && d != CG_F32) abort();
        volatile uint8_t last = ((const uint8_t *)cg_tensor_craw(t))[n * (int64_t)cg_dtype_size(d) - 1]; /* ASan checks the extent */
        (void)last;
    } else if (t || !cg_last_error()[0]) {
        abort(); /* a failure leaves out empty and says why */
    }
    cg_tensor_free(t);
}

static void parse_all(const uint8_t *data, size_t size) {
    cg_tensor *t = NULL;
    cg_clear_error();
    check_any(cg_idx_parse_mem(data, size, "fuzz", &t), t);
}

/* The file as a dataset's images, beside a label file of as many zeros as it has examples (when
 * it reads as a tensor of rank 2 to 4): the dataset must open, and every example must read. */
static void as_dataset(void) {
    cg_tensor *t = NULL;
    if (cg_idx_load(g_path, &t) != CG_OK) return;
    int64_t n = cg_tensor_size(t, 0);
    int nd = cg_tensor_ndim(t);
    cg_tensor_free(t);
    if (nd < 2 || n > (1 << 16)) return;
    uint8_t h[8] = { 0, 0, 0x08, 1, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
    static uint8_t zeros[1 << 16];
    if (ftruncate(g_lfd, 0) != 0 || pwrite(g_lfd, h, 8, 0) != 8 || pwrite(g_lfd, zeros, (size_t)n, 8) != (ssize_t)n) abort();
    cg_dataset *ds = NULL;
    if (cg_dataset_idx_open(g_path, g_lpath, &ds) != CG_OK || !ds || ds->n != n) abort();
    int64_t item = cg_dataset_item(ds);
    float *x = malloc((size_t)item * sizeof *x);
    for (int64_t i = 0; i < n; i++) {
        if (ds->label(ds, i) != 0) abort();
        if (ds->u8) {
            volatile uint8_t last = ds->u8(ds, i)[item - 1];
            (void)last;
        } else if (ds->get(ds, i, x) != CG_OK) {
            abort();
        }
    }
    free(x);
    cg_dataset_free(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    parse_all(data, size);

    /* gzip it and parse again */
    z_stream zs = { 0 };
    if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + 9, 1, Z_DEFAULT_STRATEGY) /* small and cheap */ != Z_OK) abort();
    uLong cap = deflateBound(&zs, size);
    uint8_t *gz = malloc(cap);
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)size;
    zs.next_out = gz;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) abort();
    size_t gzn = cap - zs.avail_out;
    deflateEnd(&zs);
    parse_all(gz, gzn);
    free(gz);

    /* through a file, as a tensor and as a dataset's images */
    if (ftruncate(g_fd, 0) != 0) abort();
    if (size && pwrite(g_fd, data, size, 0) != (ssize_t)size) abort();
    cg_tensor *t = NULL;
    cg_clear_error();
    check_any(cg_idx_load(g_path, &t), t);
    as_dataset();
    return 0;
}
