/* SPDX-License-Identifier: MIT */
/* lib/data/dataset.c — the dataset interface and the library's three kinds: an IDX image/label
 * pair (lib/data/mnist.c finds one in an MNIST-family folder), a caller's tensors (borrowed or
 * copied) and a subset of any dataset; plus label checks and per-channel statistics.
 *
 * Every kind keeps its examples contiguous, in the element type they came in: an IDX pair of
 * unsigned bytes stays bytes (the loader's table turns them into floats per batch), and every
 * other type is converted to float one example at a time by get. Memory is then the file's own
 * size, never a multiple of it (a signed-byte file widened to float at load would take 4x). */
#include <math.h>
#include <stdio.h>
#include "cg_internal.h"
#include "idx_internal.h"

void cg_dataset_free(cg_dataset *d) {
    if (d && d->destroy) d->destroy(d);
}

int64_t cg_dataset_item(const cg_dataset *d) {
    int64_t item = 1;
    for (int i = 0; i < d->ndim; i++) item *= d->shape[i];
    return item;
}

int64_t cg_dataset_channels(const cg_dataset *d) { return d->ndim == 3 ? d->shape[0] : 1; }

/* ---- contiguous storage: the IDX pair and the tensors kind ---------------- */
typedef struct store {
    cg_dataset ds;
    void *x;                /* n * item elements of type */
    cg_idx_type type;
    int64_t *y;             /* n labels */
    bool owns;              /* x and y are ours */
    int64_t item;
    char *name, *label_name;
} store;

static const uint8_t *store_u8(const cg_dataset *d, int64_t i) {
    const store *s = d->impl;
    return (const uint8_t *)s->x + i * s->item;
}

static cg_status store_get(const cg_dataset *d, int64_t i, float *x) {
    const store *s = d->impl;
    const int64_t k = s->item, o = i * k;
    switch (s->type) {
    case CG_IDX_F32: memcpy(x, (const float *)s->x + o, (size_t)k * sizeof *x); break;
    case CG_IDX_I8: { const int8_t *p = (const int8_t *)s->x + o; for (int64_t j = 0; j < k; j++) x[j] = p[j]; break; }
    case CG_IDX_I16: { const int16_t *p = (const int16_t *)s->x + o; for (int64_t j = 0; j < k; j++) x[j] = p[j]; break; }
    case CG_IDX_I32: { const int32_t *p = (const int32_t *)s->x + o; for (int64_t j = 0; j < k; j++) x[j] = (float)p[j]; break; }
    case CG_IDX_F64: { const double *p = (const double *)s->x + o; for (int64_t j = 0; j < k; j++) x[j] = (float)p[j]; break; }
    default: return cg_error(CG_EINVAL, "%s: element type %s has no float reading", d->name, cg_idx_type_name(s->type));
    }
    return CG_OK;
}

static int64_t store_label(const cg_dataset *d, int64_t i) { return ((const store *)d->impl)->y[i]; }

static void store_destroy(cg_dataset *d) {
    store *s = d->impl;
    if (s->owns) {
        cg_free(s->x);
        cg_free(s->y);
    }
    cg_free(s->name);
    cg_free(s->label_name);
    cg_free(s);
}

static char *dup_str(const char *p) {
    size_t n = strlen(p) + 1;
    char *c = cg_malloc(n);
    if (c) memcpy(c, p, n);
    return c;
}

/* A store over x/y (taken as they are: owned when owns) with its names copied. */
static cg_status store_new(void *x, cg_idx_type type, int64_t *y, bool owns, int64_t n, int ndim, const int64_t *shape,
                           const char *name, const char *label_name, cg_dataset **out) {
    store *s = cg_calloc(1, sizeof *s);
    if (!s) return CG_ENOMEM;
    s->x = x;
    s->type = type;
    s->y = y;
    const bool is_u8 = type == CG_IDX_U8;
    s->owns = owns;
    s->name = dup_str(name);
    s->label_name = dup_str(label_name);
    s->ds = (cg_dataset){ .n = n, .ndim = ndim, .name = s->name, .label_name = s->label_name,
                          .u8 = is_u8 ? store_u8 : NULL, .get = is_u8 ? NULL : store_get, .label = store_label,
                          .destroy = store_destroy, .impl = s };
    for (int i = 0; i < ndim; i++) s->ds.shape[i] = shape[i];
    s->item = cg_dataset_item(&s->ds);
    if (!s->name || !s->label_name) {
        s->owns = false; /* the caller still owns x and y on failure */
        store_destroy(&s->ds);
        return CG_ENOMEM;
    }
    *out = &s->ds;
    return CG_OK;
}

static bool is_int_type(cg_idx_type t) {
    return t == CG_IDX_U8 || t == CG_IDX_I8 || t == CG_IDX_I16 || t == CG_IDX_I32;
}

/* Element i of a loaded IDX array, as a double. */
static double idx_value(const cg_idx_array *a, int64_t i) {
    switch (a->type) {
    case CG_IDX_U8: return ((const uint8_t *)a->data)[i];
    case CG_IDX_I8: return ((const int8_t *)a->data)[i];
    case CG_IDX_I16: return ((const int16_t *)a->data)[i];
    case CG_IDX_I32: return ((const int32_t *)a->data)[i];
    case CG_IDX_F32: return ((const float *)a->data)[i];
    default: return ((const double *)a->data)[i];
    }
}

/* The example shape of an images array [N, ...]: [N, H, W] is one channel, [1, H, W]. */
static int example_shape(const cg_idx_array *im, int64_t shape[3]) {
    if (im->ndim == 3) { shape[0] = 1; shape[1] = im->dims[1]; shape[2] = im->dims[2]; return 3; }
    for (int i = 1; i < im->ndim; i++) shape[i - 1] = im->dims[i];
    return im->ndim - 1;
}

/* Images without labels (for prediction): every label is 0, label_name "(no labels)". */
static cg_status images_only(const char *images_path, cg_dataset **out) {
    cg_idx_array im = { 0 };
    cg_status st = cg_idx_read(images_path, &im);
    if (st != CG_OK) return st;
    if (im.ndim < 2) {
        cg_idx_array_free(&im);
        return cg_error(CG_EFORMAT, "%s: images need 2 to 4 dimensions ([N, D], [N, H, W] or [N, C, H, W]); "
                        "the file has 1 (a label file?)", images_path);
    }
    const int64_t n = im.dims[0];
    int64_t *y = cg_calloc((size_t)n, sizeof *y), shape[3];
    if (!y) { cg_idx_array_free(&im); return CG_ENOMEM; }
    int ndim = example_shape(&im, shape);
    st = store_new(im.data, im.type, y, true, n, ndim, shape, images_path, "(no labels)", out);
    if (st != CG_OK) { cg_idx_array_free(&im); cg_free(y); }
    return st;
}

cg_status cg_dataset_idx_open(const char *images_path, const char *labels_path, cg_dataset **out) {
    if (!out) return cg_error(CG_EINVAL, "cg_dataset_idx_open: out is NULL");
    *out = NULL;
    if (!images_path) return cg_error(CG_EINVAL, "cg_dataset_idx_open: the images path is NULL");
    if (!images_path[0]) return cg_error(CG_EINVAL, "cg_dataset_idx_open: the images file name is empty");
    if (labels_path && !labels_path[0]) return cg_error(CG_EINVAL, "cg_dataset_idx_open: the labels file name is empty");
    if (!labels_path) return images_only(images_path, out);
    /* Both headers before either body: a pair whose counts disagree costs nothing to refuse. */
    cg_idx_array hi, hl;
    cg_status st = cg_idx_read_header(images_path, &hi);
    if (st != CG_OK) return st;
    if ((st = cg_idx_read_header(labels_path, &hl)) != CG_OK) return st;
    if (hi.ndim < 2)
        return cg_error(CG_EFORMAT, "%s: images need 2 to 4 dimensions ([N, D], [N, H, W] or [N, C, H, W]); "
                        "the header gives 1 (a label file?)", images_path);
    if (hl.ndim != 1)
        return cg_error(CG_EFORMAT, "%s: labels need 1 dimension ([N]); the header gives %d (an image file?)",
                        labels_path, hl.ndim);
    if (!is_int_type(hl.type))
        return cg_error(CG_EFORMAT, "%s: labels must be integers (unsigned or signed byte, short, int), not %s",
                        labels_path, cg_idx_type_name(hl.type));
    if (hi.dims[0] != hl.dims[0])
        return cg_error(CG_EFORMAT, "%s: the header says %lld images but %s says %lld labels: the counts must agree",
                        images_path, (long long)hi.dims[0], labels_path, (long long)hl.dims[0]);

    cg_idx_array im = { 0 }, lb = { 0 };
    int64_t *y = NULL;
    if ((st = cg_idx_read(images_path, &im)) != CG_OK) goto fail;
    if ((st = cg_idx_read(labels_path, &lb)) != CG_OK) goto fail;
    /* The files may have changed between the header reads and the loads. */
    if (im.dims[0] != lb.dims[0] || im.ndim < 2 || lb.ndim != 1 || !is_int_type(lb.type)) {
        st = cg_error(CG_EFORMAT, "%s / %s: the files changed while they were read", images_path, labels_path);
        goto fail;
    }
    const int64_t n = im.dims[0];
    if (!(y = cg_malloc((size_t)n * sizeof *y))) { st = CG_ENOMEM; goto fail; }
    for (int64_t i = 0; i < n; i++) {
        double v = idx_value(&lb, i);
        if (v < 0) {
            st = cg_error(CG_EFORMAT, "%s: label %lld at index %lld is negative", labels_path, (long long)v,
                          (long long)i);
            goto fail;
        }
        y[i] = (int64_t)v;
    }
    cg_idx_array_free(&lb);
    int64_t shape[3];
    int ndim = example_shape(&im, shape);
    st = store_new(im.data, im.type, y, true, n, ndim, shape, images_path, labels_path, out);
    if (st == CG_OK) return CG_OK;
fail:
    cg_idx_array_free(&im);
    cg_idx_array_free(&lb);
    cg_free(y);
    return st;
}

cg_status cg_dataset_from_tensors(const cg_tensor *x, const cg_tensor *y, bool copy, cg_dataset **out) {
    static const char fn[] = "cg_dataset_from_tensors";
    if (!out) return cg_error(CG_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!x) return cg_error(CG_EINVAL, "%s: x is NULL", fn);
    if (!y) return cg_error(CG_EINVAL, "%s: y is NULL", fn);
    char sx[96], sy[96];
    cg_shape_str(sx, sizeof sx, x->ndim, x->shape);
    cg_shape_str(sy, sizeof sy, y->ndim, y->shape);
    if (x->dtype != CG_U8 && x->dtype != CG_F32)
        return cg_error(CG_EINVAL, "%s: x is %s; it must be uint8 (bytes, each meaning byte/255) or float32", fn,
                        cg_dtype_name(x->dtype));
    if (x->ndim < 2 || x->ndim > CG_DATASET_MAX_DIMS + 1)
        return cg_error(CG_EINVAL, "%s: x is %s; it needs 2 to %d dimensions ([N, example...], an example of rank "
                        "1 to %d)", fn, sx, CG_DATASET_MAX_DIMS + 1, CG_DATASET_MAX_DIMS);
    if (y->dtype != CG_I64) return cg_error(CG_EINVAL, "%s: y is %s; the labels must be int64", fn, cg_dtype_name(y->dtype));
    if (y->ndim != 1 || y->shape[0] != x->shape[0])
        return cg_error(CG_EINVAL, "%s: y is %s; it must be [%lld], one label per example of x %s", fn, sy,
                        (long long)x->shape[0], sx);
    const int64_t n = x->shape[0];
    if (n < 1) return cg_error(CG_EINVAL, "%s: x %s holds no example", fn, sx);
    for (int i = 1; i < x->ndim; i++)
        if (x->shape[i] < 1) return cg_error(CG_EINVAL, "%s: x %s has an empty example dimension", fn, sx);
    const int64_t *lab = cg_i64(y);
    for (int64_t i = 0; i < n; i++)
        if (lab[i] < 0)
            return cg_error(CG_EINVAL, "%s: label %lld at index %lld is negative", fn, (long long)lab[i], (long long)i);
    const size_t xbytes = (size_t)x->numel * cg_dtype_size(x->dtype), ybytes = (size_t)n * sizeof(int64_t);
    void *xc = x->raw;
    int64_t *yc = cg_i64(y);
    if (copy) {
        xc = cg_malloc(xbytes ? xbytes : 1);
        yc = cg_malloc(ybytes);
        if (!xc || !yc) { cg_free(xc); cg_free(yc); return CG_ENOMEM; }
        memcpy(xc, x->raw, xbytes);
        memcpy(yc, lab, ybytes);
    }
    cg_status st = store_new(xc, x->dtype == CG_U8 ? CG_IDX_U8 : CG_IDX_F32, yc, copy, n, x->ndim - 1, x->shape + 1,
                             "<tensor x>", "<tensor y>", out);
    if (st != CG_OK && copy) { cg_free(xc); cg_free(yc); }
    return st;
}

/* ---- subsets ----------------------------------------------------------------- */
typedef struct subset {
    cg_dataset ds;
    const cg_dataset *base;
    int64_t start;          /* range: examples start.. of base */
    int64_t *idx;           /* or a list (NULL for a range) */
} subset;

static int64_t sub_map(const cg_dataset *d, int64_t i) {
    const subset *s = d->impl;
    return s->idx ? s->idx[i] : s->start + i;
}
static const uint8_t *sub_u8(const cg_dataset *d, int64_t i) {
    const subset *s = d->impl;
    return s->base->u8(s->base, sub_map(d, i));
}
static cg_status sub_get(const cg_dataset *d, int64_t i, float *x) {
    const subset *s = d->impl;
    return s->base->get(s->base, sub_map(d, i), x);
}
static int64_t sub_label(const cg_dataset *d, int64_t i) {
    const subset *s = d->impl;
    return s->base->label(s->base, sub_map(d, i));
}
static void sub_destroy(cg_dataset *d) {
    subset *s = d->impl;
    cg_free(s->idx);
    cg_free(s);
}

static cg_status check_base(const cg_dataset *b, const char *fn) {
    if (!b) return cg_error(CG_EINVAL, "%s: base is NULL", fn);
    if (b->n < 1 || b->ndim < 1 || b->ndim > CG_DATASET_MAX_DIMS || !b->label || (!b->u8 && !b->get))
        return cg_error(CG_EINVAL, "%s: the base dataset is empty or lacks label/u8/get", fn);
    return CG_OK;
}

static cg_status subset_new(const cg_dataset *base, int64_t start, int64_t *idx, int64_t n, cg_dataset **out) {
    subset *s = cg_calloc(1, sizeof *s);
    if (!s) return CG_ENOMEM;
    *s = (subset){ .base = base, .start = start, .idx = idx };
    s->ds = *base;
    s->ds.n = n;
    s->ds.u8 = base->u8 ? sub_u8 : NULL;
    s->ds.get = base->u8 ? NULL : sub_get;
    s->ds.label = sub_label;
    s->ds.destroy = sub_destroy;
    s->ds.impl = s;
    *out = &s->ds;
    return CG_OK;
}

cg_status cg_dataset_subset(const cg_dataset *base, int64_t start, int64_t count, cg_dataset **out) {
    if (!out) return cg_error(CG_EINVAL, "cg_dataset_subset: out is NULL");
    *out = NULL;
    cg_status st = check_base(base, "cg_dataset_subset");
    if (st != CG_OK) return st;
    if (start < 0 || count < 1 || start > base->n - count)
        return cg_error(CG_EINVAL, "cg_dataset_subset: examples %lld..%lld+%lld are not inside 0..%lld (and the "
                        "subset needs at least one)", (long long)start, (long long)start, (long long)count,
                        (long long)base->n);
    return subset_new(base, start, NULL, count, out);
}

cg_status cg_dataset_subset_indices(const cg_dataset *base, const cg_tensor *index, cg_dataset **out) {
    if (!out) return cg_error(CG_EINVAL, "cg_dataset_subset_indices: out is NULL");
    *out = NULL;
    cg_status st = check_base(base, "cg_dataset_subset_indices");
    if (st != CG_OK) return st;
    if (!index) return cg_error(CG_EINVAL, "cg_dataset_subset_indices: index is NULL");
    if ((st = cg_check_dtype("cg_dataset_subset_indices", "index", index, CG_I64)) != CG_OK) return st;
    if (index->ndim != 1)
        return cg_error(CG_ESHAPE, "cg_dataset_subset_indices: index must be 1-d, it has %d dims", index->ndim);
    const int64_t *idx = cg_i64(index), n = index->numel;
    if (n < 1) return cg_error(CG_EINVAL, "cg_dataset_subset_indices: the index list is empty");
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= base->n)
            return cg_error(CG_EINVAL, "cg_dataset_subset_indices: index %lld at position %lld is outside 0..%lld",
                            (long long)idx[i], (long long)i, (long long)base->n - 1);
    if ((uint64_t)n > SIZE_MAX / sizeof *idx) return CG_ENOMEM;
    int64_t *c = cg_malloc((size_t)n * sizeof *c);
    if (!c) return CG_ENOMEM;
    memcpy(c, idx, (size_t)n * sizeof *c);
    st = subset_new(base, 0, c, n, out);
    if (st != CG_OK) cg_free(c);
    return st;
}

/* ---- checks and statistics ------------------------------------------------------ */
cg_status cg_dataset_check_labels(const cg_dataset *d, int64_t classes) {
    cg_status st = check_base(d, "cg_dataset_check_labels");
    if (st != CG_OK) return st;
    for (int64_t i = 0; i < d->n; i++) {
        int64_t y = d->label(d, i);
        if (y < 0 || y >= classes)
            return cg_error(CG_EFORMAT, "%s: label %lld at index %lld is outside 0..%lld (the net has %lld classes)",
                            d->label_name ? d->label_name : "the labels", (long long)y, (long long)i,
                            (long long)classes - 1, (long long)classes);
    }
    return CG_OK;
}

cg_status cg_dataset_stats(const cg_dataset *d, cg_normalize *out) {
    if (!out) return cg_error(CG_EINVAL, "cg_dataset_stats: out is NULL");
    cg_status st = check_base(d, "cg_dataset_stats");
    if (st != CG_OK) return st;
    const int64_t C = cg_dataset_channels(d), item = cg_dataset_item(d), plane = item / C;
    if (C > CG_NORM_MAX_CHANNELS)
        return cg_error(CG_EINVAL, "cg_dataset_stats: %lld channels; at most %d are normalised per channel",
                        (long long)C, CG_NORM_MAX_CHANNELS);
    double sum[CG_NORM_MAX_CHANNELS] = { 0 }, sq[CG_NORM_MAX_CHANNELS] = { 0 };
    float *buf = NULL;
    if (!d->u8 && !(buf = cg_malloc((size_t)item * sizeof *buf))) return CG_ENOMEM;
    /* Sums of v and v^2 per example first, then across examples: each partial stays small. */
    for (int64_t i = 0; i < d->n && st == CG_OK; i++) {
        const uint8_t *b = d->u8 ? d->u8(d, i) : NULL;
        if (!b && (st = d->get(d, i, buf)) != CG_OK) break;
        for (int64_t c = 0; c < C; c++) {
            double s = 0, q = 0;
            for (int64_t p = c * plane; p < (c + 1) * plane; p++) {
                double v = b ? (double)b[p] / 255.0 : (double)buf[p];
                s += v;
                q += v * v;
            }
            if (!isfinite(s) || !isfinite(q)) {
                st = cg_error(CG_EFORMAT, "%s: example %lld holds a non-finite value (channel %lld)",
                              d->name ? d->name : "the dataset", (long long)i, (long long)c);
                break;
            }
            sum[c] += s;
            sq[c] += q;
        }
    }
    cg_free(buf);
    if (st != CG_OK) return st;
    cg_normalize r = { .channels = (int)C };
    const double cnt = (double)d->n * (double)plane;
    for (int64_t c = 0; c < C; c++) {
        double m = sum[c] / cnt, var = sq[c] / cnt - m * m;
        double sd = var > 0 ? sqrt(var) : 0;
        if (!(sd > 1e-12 * (fabs(m) > 1 ? fabs(m) : 1)))
            return cg_error(CG_EINVAL, "cg_dataset_stats: %s: channel %lld is constant (%g): its std is 0",
                            d->name ? d->name : "the dataset", (long long)c, m);
        r.mean[c] = (float)m;
        r.std[c] = (float)sd;
    }
    *out = r;
    return CG_OK;
}
