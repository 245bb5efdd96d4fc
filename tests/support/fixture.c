/* SPDX-License-Identifier: MIT */
/* tests/support/fixture.c — loader and comparisons for the files in tests/fixtures/. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fixture.h"

typedef struct fx_entry {
    char *name;
    int ndim;
    int64_t shape[CG_MAX_DIMS];
    int64_t numel;
    float *data;
} fx_entry;

struct fixture {
    char *path;
    fx_entry *e;
    int n, cap;
};

static char *read_all(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += k;
        if (n == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(fp);
    if (buf) buf[n] = '\0';
    *len = n;
    return buf;
}

/* Next whitespace-separated token of *p, skipping '#' comments to end of line. */
static char *next_token(char **p) {
    char *s = *p;
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
        if (*s == '#') { while (*s && *s != '\n') s++; continue; }
        break;
    }
    if (!*s) { *p = s; return NULL; }
    char *t = s;
    while (*s && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') s++;
    if (*s) *s++ = '\0';
    *p = s;
    return t;
}

static int64_t parse_int(const char *path, const char *name, const char *tok) {
    char *end;
    errno = 0;
    long long v = tok ? strtoll(tok, &end, 10) : -1;
    if (!tok || errno || *end || v < 0) fail_msg("%s: tensor %s: bad integer \"%s\"", path, name, tok ? tok : "(eof)");
    return (int64_t)v;
}

fixture *fixture_load(const char *file) {
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    size_t plen = strlen(CG_FIXTURE_DIR) + strlen(file) + 2;
    f->path = malloc(plen);
    snprintf(f->path, plen, "%s/%s", CG_FIXTURE_DIR, file);
    size_t len;
    char *text = read_all(f->path, &len);
    if (!text) fail_msg("%s: cannot read (%s); regenerate with /usr/bin/python3 tests/gen_fixtures.py", f->path,
                        strerror(errno));
    char *p = text, *tok;
    while ((tok = next_token(&p)) != NULL) {
        if (strcmp(tok, "tensor") != 0) fail_msg("%s: expected \"tensor\", found \"%s\"", f->path, tok);
        char *name = next_token(&p);
        if (!name) fail_msg("%s: \"tensor\" without a name at the end", f->path);
        fx_entry e = { 0 };
        e.name = malloc(strlen(name) + 1);
        assert_non_null(e.name);
        strcpy(e.name, name);
        e.ndim = (int)parse_int(f->path, name, next_token(&p));
        if (e.ndim > CG_MAX_DIMS) fail_msg("%s: tensor %s: ndim %d too large", f->path, name, e.ndim);
        e.numel = 1;
        for (int d = 0; d < e.ndim; d++) e.numel *= (e.shape[d] = parse_int(f->path, name, next_token(&p)));
        e.data = malloc((size_t)(e.numel ? e.numel : 1) * sizeof(float));
        assert_non_null(e.data);
        for (int64_t i = 0; i < e.numel; i++) {
            char *v = next_token(&p), *end;
            if (!v) fail_msg("%s: tensor %s: file ends after %lld of %lld values", f->path, e.name, (long long)i,
                             (long long)e.numel);
            e.data[i] = strtof(v, &end);
            if (*end) fail_msg("%s: tensor %s: value %lld is \"%s\", not a number", f->path, e.name, (long long)i, v);
        }
        if (f->n == f->cap) {
            f->cap = f->cap ? 2 * f->cap : 64;
            f->e = realloc(f->e, (size_t)f->cap * sizeof *f->e);
            assert_non_null(f->e);
        }
        f->e[f->n++] = e;
    }
    free(text);
    return f;
}

void fixture_free(fixture *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) { free(f->e[i].name); free(f->e[i].data); }
    free(f->e);
    free(f->path);
    free(f);
}

static const fx_entry *find(const fixture *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->e[i].name, name) == 0) return &f->e[i];
    return NULL;
}

static const fx_entry *get(const fixture *f, const char *name) {
    const fx_entry *e = find(f, name);
    if (!e) fail_msg("%s: no tensor \"%s\" (regenerate with /usr/bin/python3 tests/gen_fixtures.py?)", f->path, name);
    return e;
}

bool fixture_has(const fixture *f, const char *name) { return find(f, name) != NULL; }

cg_tensor *fixture_tensor(const fixture *f, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const fx_entry *e = get(f, name);
    cg_tensor *t = cg_tensor_from_array(e->ndim, e->shape, e->data);
    if (!t) fail_msg("%s: tensor %s: cg_tensor_from_array failed: %s", f->path, name, cg_last_error());
    return t;
}

const float *fixture_values(const fixture *f, const char *name, int64_t *numel) {
    const fx_entry *e = get(f, name);
    if (numel) *numel = e->numel;
    return e->data;
}

int64_t *fixture_indices(const fixture *f, const char *name, int64_t *n) {
    const fx_entry *e = get(f, name);
    int64_t *idx = malloc((size_t)(e->numel ? e->numel : 1) * sizeof *idx);
    assert_non_null(idx);
    for (int64_t i = 0; i < e->numel; i++) idx[i] = (int64_t)e->data[i];
    if (n) *n = e->numel;
    return idx;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++) k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

static double compare(const char *what, const float *got, const float *want, int64_t n, double atol, double rtol) {
    double worst = 0;
    int64_t wi = -1;
    for (int64_t i = 0; i < n; i++) {
        double a = got[i], b = want[i];
        double tol = atol + rtol * fabs(b), d = fabs(a - b), r;
        if (isnan(a) || isnan(b)) r = isnan(a) && isnan(b) ? 0 : INFINITY;
        else if (isinf(a) || isinf(b)) r = a == b ? 0 : INFINITY;
        else r = d == 0 ? 0 : tol > 0 ? d / tol : INFINITY;
        if (r > worst || wi < 0) { worst = r; wi = i; }
    }
    if (getenv("CG_FIXTURE_VERBOSE")) printf("  %-32s worst |diff| = %.3f of the tolerance\n", what, worst);
    if (wi >= 0 && worst > 1.0)
        fail_msg("%s: element %lld: got %.9g, PyTorch %.9g (|diff| %.3g > %.3g + %.3g*|ref|)", what, (long long)wi,
                 got[wi], want[wi], fabs((double)got[wi] - want[wi]), atol, rtol);
    return worst;
}

double expect_close(const char *what, const cg_tensor *got, const cg_tensor *want, double atol, double rtol) {
    if (!got) fail_msg("%s: result is NULL (%s)", what, cg_last_error());
    if (!cg_tensor_same_shape(got, want)) {
        char a[128], b[128];
        shape_str(a, sizeof a, cg_tensor_ndim(got), cg_tensor_shape(got));
        shape_str(b, sizeof b, cg_tensor_ndim(want), cg_tensor_shape(want));
        fail_msg("%s: shape %s, PyTorch's is %s", what, a, b);
    }
    return compare(what, cg_tensor_cdata(got), cg_tensor_cdata(want), cg_tensor_numel(want), atol, rtol);
}

double fixture_expect(const fixture *f, const char *name, const cg_tensor *got, double atol, double rtol,
                      bool check_shape) {
    const fx_entry *e = get(f, name);
    if (!got) fail_msg("%s: result is NULL (%s)", name, cg_last_error());
    char a[128], b[128];
    shape_str(a, sizeof a, cg_tensor_ndim(got), cg_tensor_shape(got));
    shape_str(b, sizeof b, e->ndim, e->shape);
    if (check_shape ? strcmp(a, b) != 0 : cg_tensor_numel(got) != e->numel)
        fail_msg("%s: shape %s, PyTorch's is %s", name, a, b);
    if (cg_tensor_dtype(got) == CG_I64) {   /* a count or index tensor: exact */
        const int64_t *g = cg_tensor_cdata_i64(got);
        for (int64_t i = 0; i < e->numel; i++)
            if ((double)g[i] != (double)e->data[i])
                fail_msg("%s: element %lld: got %lld, PyTorch %.9g", name, (long long)i, (long long)g[i], (double)e->data[i]);
        return 0;
    }
    return compare(name, cg_tensor_cdata(got), e->data, e->numel, atol, rtol);
}
