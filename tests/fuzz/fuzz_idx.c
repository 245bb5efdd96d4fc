/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_idx.c — libFuzzer target for the IDX reader.
 * Each input is parsed as an image file, as a label file and as any IDX file (cg_idx_load), three ways: from memory as given
 * (raw, or gzip when it starts with gzip's magic), from memory after gzip-compressing it (the
 * header and body checks behind inflate), and from a file (the FILE reader and its refills).
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
static int g_fd = -1;
static char g_path[64];

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
    return 0;
}

static void check_images(cg_status st, cg_idx_images *im) {
    if (st == CG_OK) {
        if (im->n <= 0 || im->rows <= 0 || im->cols <= 0 || !im->pixels) abort();
        volatile uint8_t last = im->pixels[im->n * im->rows * im->cols - 1]; /* ASan checks the extent */
        (void)last;
    } else if (im->pixels || !cg_last_error()[0]) {
        abort(); /* a failure leaves out empty and says why */
    }
    cg_idx_images_free(im);
}

static void check_labels(cg_status st, cg_idx_labels *lb) {
    if (st == CG_OK) {
        if (lb->n <= 0 || !lb->labels) abort();
        int mx = -1;
        for (int64_t i = 0; i < lb->n; i++) mx = lb->labels[i] > mx ? lb->labels[i] : mx;
        if (mx != lb->max_label) abort();
    } else if (lb->labels || !cg_last_error()[0]) {
        abort();
    }
    cg_idx_labels_free(lb);
}

static void check_any(cg_status st, cg_idx_array *a) {
    if (st == CG_OK) {
        if (a->ndim < 1 || a->ndim > CG_IDX_MAX_DIMS || !a->data || a->elem_size < 1 || a->elem_size > 8) abort();
        int64_t n = 1;
        for (int i = 0; i < a->ndim; i++) { if (a->dims[i] <= 0) abort(); n *= a->dims[i]; }
        if (n != a->numel) abort();
        volatile uint8_t last = ((uint8_t *)a->data)[a->numel * a->elem_size - 1]; /* ASan checks the extent */
        (void)last;
    } else if (a->data || !cg_last_error()[0]) {
        abort();
    }
    cg_idx_array_free(a);
}

static void parse_all(const uint8_t *data, size_t size) {
    cg_idx_images im;
    cg_idx_labels lb;
    cg_idx_array a;
    cg_clear_error();
    check_images(cg_idx_parse_images_mem(data, size, "fuzz", &im), &im);
    cg_clear_error();
    check_labels(cg_idx_parse_labels_mem(data, size, "fuzz", &lb), &lb);
    cg_clear_error();
    check_any(cg_idx_parse_mem(data, size, "fuzz", &a), &a);
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

    /* through a file */
    if (ftruncate(g_fd, 0) != 0) abort();
    if (size && pwrite(g_fd, data, size, 0) != (ssize_t)size) abort();
    cg_idx_images im;
    cg_idx_labels lb;
    cg_clear_error();
    check_images(cg_idx_load_images(g_path, &im), &im);
    cg_clear_error();
    check_labels(cg_idx_load_labels(g_path, &lb), &lb);
    cg_idx_array a;
    cg_clear_error();
    check_any(cg_idx_load(g_path, &a), &a);
    return 0;
}
