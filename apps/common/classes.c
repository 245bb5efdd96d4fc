/* SPDX-License-Identifier: MIT */
/* apps/common/classes.c — class names for the evaluation tables (mnist-eval --classes). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* The class names of path, one a line (classes of them, exactly); NULL after printing why. The
 * array and its strings are one allocation, the caller's to free. */
char **cli_read_classes(const char *prog, const char *path, int64_t classes) {
    FILE *f = cli_open_input(prog, "--classes", path, NULL);   /* a FIFO or device is refused, named */
    if (!f) return NULL;
    enum { MAX_NAME = 64 };
    char **names = calloc((size_t)classes, sizeof *names + MAX_NAME + 1);
    if (!names) { fclose(f); fprintf(stderr, "%s: --classes %s: out of memory\n", prog, path); return NULL; }
    char *store = (char *)(names + classes), line[4096];
    int64_t k = 0, lineno = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strcspn(line, "\r\n");
        if (line[n] == '\0' && !feof(f)) {
            fprintf(stderr, "%s: --classes %s: line %lld is too long\n", prog, path, (long long)lineno);
            ok = false;
            break;
        }
        line[n] = '\0';
        if (n == 0) continue; /* blank lines (a trailing one) are not classes */
        if (k == classes) {
            fprintf(stderr, "%s: --classes %s: more than %lld names, but the net has %lld classes\n", prog, path,
                    (long long)classes, (long long)classes);
            ok = false;
            break;
        }
        names[k] = store + k * (MAX_NAME + 1);
        size_t m = n < MAX_NAME ? n : MAX_NAME; /* longer names are cut to fit the table */
        memcpy(names[k], line, m);
        names[k][m] = '\0';
        k++;
    }
    if (ok && ferror(f)) { fprintf(stderr, "%s: --classes %s: read error\n", prog, path); ok = false; }
    if (ok && k < classes) {
        fprintf(stderr, "%s: --classes %s: %lld names, but the net has %lld classes\n", prog, path, (long long)k,
                (long long)classes);
        ok = false;
    }
    fclose(f);
    if (!ok) { free(names); return NULL; }
    return names;
}

