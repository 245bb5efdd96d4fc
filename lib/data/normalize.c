/* SPDX-License-Identifier: MIT */
/* lib/data/normalize.c — cg_normalize as text (data.h): "MEAN,STD", "M1,..,Mk/S1,..,Sk" or "none",
 * parsed strictly and written with %.9g, so that a value read back is the same float. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "cg_internal.h"

/* Up to CG_NORM_MAX_CHANNELS comma-separated finite numbers from s to the first '/' or the end;
 * the count, or -1 for a malformed list. *endp: where parsing stopped. */
static int parse_list(const char *s, float *v, const char **endp) {
    int k = 0;
    for (;;) {
        char *end;
        errno = 0;
        if (*s == ' ' || (*s >= '\t' && *s <= '\r')) return -1;
        double x = strtod(s, &end);
        if (end == s || errno || !isfinite((float)x) || k == CG_NORM_MAX_CHANNELS) return -1;
        v[k++] = (float)x;
        s = end;
        if (*s != ',') break;
        s++;
    }
    *endp = s;
    return k;
}

cg_status cg_normalize_parse(const char *text, cg_normalize *out) {
    if (!text || !out) return cg_error(CG_EINVAL, "cg_normalize_parse: text and out must not be NULL");
    if (!strcmp(text, "none")) { *out = (cg_normalize){ 0 }; return CG_OK; }
    cg_normalize n = { 0 };
    const char *p = text;
    int a = parse_list(p, n.mean, &p), b;
    if (a > 0 && *p == '/') {
        b = parse_list(p + 1, n.std, &p);
        if (b != a || *p)
            return cg_error(CG_EINVAL, "'%.80s': give as many stds as means (M1,M2,M3/S1,S2,S3), at most %d", text,
                            CG_NORM_MAX_CHANNELS);
        n.channels = a;
    } else if (a == 2 && !*p) {
        n.channels = 1;
        n.std[0] = n.mean[1];
    } else {
        return cg_error(CG_EINVAL, "'%.80s' is not MEAN,STD, M1,..,Mk/S1,..,Sk or none", text);
    }
    for (int c = 0; c < n.channels; c++)
        if (!(n.std[c] > 0)) return cg_error(CG_EINVAL, "'%.80s': std %g must be > 0", text, (double)n.std[c]);
    *out = n;
    return CG_OK;
}

void cg_normalize_format(const cg_normalize *n, char *buf, size_t cap) {
    if (!buf || !cap) return;
    buf[0] = '\0';
    if (!n || n->channels <= 0) { snprintf(buf, cap, "none"); return; }
    size_t k = 0;
    for (int part = 0; part < 2; part++)
        for (int c = 0; c < n->channels && c < CG_NORM_MAX_CHANNELS && k < cap; c++)
            k += (size_t)snprintf(buf + k, cap - k, "%s%.9g", c ? "," : (part ? "/" : ""),
                                  (double)(part ? n->std[c] : n->mean[c]));
}
