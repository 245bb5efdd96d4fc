/* SPDX-License-Identifier: MIT */
/* lib/core/alloc.c — every heap allocation of the library, through the allocator hook.
 * Blocks are 64-byte aligned (cache line, AVX-512 loads): the hook's block is over-allocated
 * and the offset to its start is stored just before the aligned pointer. */
#include <stdlib.h>
#include "cg_internal.h"

static void *default_alloc(size_t size, void *ctx) { (void)ctx; return malloc(size); }
static void default_free(void *p, void *ctx) { (void)ctx; free(p); }
static cg_allocator allocator = { default_alloc, default_free, NULL };

void cg_set_allocator(const cg_allocator *a) {
    if (a && a->alloc && a->free) allocator = *a;
    else allocator = (cg_allocator){ default_alloc, default_free, NULL };
}

#define CG_ALIGN 64

void *cg_malloc(size_t size) {
    if (size > SIZE_MAX - CG_ALIGN - sizeof(void *)) {
        cg_error(CG_ENOMEM, "allocation of %zu bytes is too large", size);
        return NULL;
    }
    unsigned char *raw = allocator.alloc(size + CG_ALIGN, allocator.ctx);
    if (!raw) {
        cg_error(CG_ENOMEM, "out of memory allocating %zu bytes", size);
        return NULL;
    }
    uintptr_t p = ((uintptr_t)raw + sizeof(size_t) + CG_ALIGN - 1) & ~(uintptr_t)(CG_ALIGN - 1);
    ((size_t *)p)[-1] = (size_t)(p - (uintptr_t)raw);
    return (void *)p;
}

void *cg_calloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) {
        cg_error(CG_ENOMEM, "allocation of %zu x %zu bytes is too large", n, size);
        return NULL;
    }
    void *p = cg_malloc(n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

void cg_free(void *p) {
    if (!p) return;
    size_t off = ((size_t *)p)[-1];
    allocator.free((unsigned char *)p - off, allocator.ctx);
}

char *cg_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = cg_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
