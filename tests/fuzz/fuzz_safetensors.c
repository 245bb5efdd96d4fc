/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_safetensors.c — libFuzzer target for the safetensors reader.
 * Parses the input from memory; when it is accepted, touches every view, converts what converts
 * and reads all metadata, so out-of-range offsets would show up under ASan.
 * Seeds: tests/fuzz/corpus_safetensors. Crashes found become tests in tests/test_safetensors.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cgrad/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cg_safetensors *st;
    if (cg_safetensors_open_mem(data, size, "fuzz", &st) != CG_OK) {
        if (st || !cg_last_error()[0]) abort();   /* a failure must leave NULL and a message */
        return 0;
    }
    volatile unsigned sum = 0;
    for (int64_t i = 0; i < cg_safetensors_count(st); i++) {
        const cg_st_tensor *t = cg_safetensors_at(st, i);
        if (cg_safetensors_find(st, t->name) != t) abort();
        if (t->nbytes != t->numel * cg_st_dtype_size(t->dtype)) abort();
        const unsigned char *b = t->data;
        for (int64_t k = 0; k < t->nbytes; k++) sum += b[k];
        if (t->numel <= 4096) {
            float buf[4096];
            cg_safetensors_to_f32(t, buf, t->numel);
        }
    }
    for (int64_t i = 0; i < cg_safetensors_meta_count(st); i++) {
        const char *k, *v;
        if (cg_safetensors_meta_at(st, i, &k, &v) != CG_OK) abort();
        if (cg_safetensors_meta(st, k) == NULL) abort();
        sum += (unsigned)strlen(v);
    }
    cg_safetensors_close(st);
    return 0;
}
