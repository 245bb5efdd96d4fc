/* SPDX-License-Identifier: MIT */
/* tests/mnist/st_compare.c — do two safetensors files hold the same tensors, byte for byte?
 *   st_compare A B      exit 0: the same names, dtypes, shapes and bytes (metadata ignored);
 *                       exit 1 naming the first difference; exit 2 on a usage or read error.
 * Used by tests/mnist/resume.sh to compare a resumed run's checkpoint with an uninterrupted one. */
#include <stdio.h>
#include <string.h>
#include "cgrad/cgrad.h"

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: st_compare A B\n"); return 2; }
    cg_safetensors *a = NULL, *b = NULL;
    if (cg_safetensors_open(argv[1], &a) != CG_OK || cg_safetensors_open(argv[2], &b) != CG_OK) {
        fprintf(stderr, "st_compare: %s\n", cg_last_error());
        cg_safetensors_close(a);
        return 2;
    }
    int rc = 0;
    int64_t n = cg_safetensors_count(a);
    if (n != cg_safetensors_count(b)) {
        fprintf(stderr, "st_compare: %s holds %lld tensors, %s %lld\n", argv[1], (long long)n, argv[2],
                (long long)cg_safetensors_count(b));
        rc = 1;
    }
    for (int64_t i = 0; !rc && i < n; i++) {
        const cg_st_tensor *x = cg_safetensors_at(a, i), *y = cg_safetensors_find(b, x->name);
        if (!y) { fprintf(stderr, "st_compare: '%s' is missing from %s\n", x->name, argv[2]); rc = 1; break; }
        bool same = x->dtype == y->dtype && x->ndim == y->ndim && x->nbytes == y->nbytes;
        for (int d = 0; same && d < x->ndim; d++) same = x->shape[d] == y->shape[d];
        if (!same) { fprintf(stderr, "st_compare: '%s' differs in dtype or shape\n", x->name); rc = 1; break; }
        if (x->nbytes && memcmp(x->data, y->data, (size_t)x->nbytes) != 0) {
            int64_t k = 0;
            while (((const unsigned char *)x->data)[k] == ((const unsigned char *)y->data)[k]) k++;
            fprintf(stderr, "st_compare: '%s' differs (first at byte %lld)\n", x->name, (long long)k);
            rc = 1;
        }
    }
    if (!rc) printf("st_compare: %lld tensors identical\n", (long long)n);
    cg_safetensors_close(a);
    cg_safetensors_close(b);
    return rc;
}
