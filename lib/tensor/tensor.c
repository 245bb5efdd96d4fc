/* SPDX-License-Identifier: MIT */
/* lib/tensor/tensor.c — caller-owned tensors: constructors, access, in-place updates, printing. */
#include <math.h>
#include <stdio.h>
#include "cg_internal.h"

int64_t cg_shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

const char *cg_shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

cg_status cg_check_shape(const char *what, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > CG_MAX_DIMS)
        return cg_error(CG_ESHAPE, "%s: ndim %d is outside 0..%d", what, ndim, CG_MAX_DIMS);
    if (ndim > 0 && !shape) return cg_error(CG_EINVAL, "%s: shape is NULL", what);
    /* The product of every dim, a zero one counted as 1: an empty tensor of [0, 2^40, 2^40] is
     * refused as [2^40, 2^40, 0] is, so that any product of some of a tensor's dims (an op's outer
     * and inner counts, its strides) fits in int64, and numel * sizeof stays far from INT64_MAX. */
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return cg_error(CG_ESHAPE, "%s: dim %d has negative size %lld", what, i, (long long)shape[i]);
        if (shape[i] && n > INT64_MAX / 4 / shape[i])
            return cg_error(CG_ESHAPE, "%s: shape has too many elements", what);
        if (shape[i]) n *= shape[i];
    }
    return CG_OK;
}

int cg_norm_dim(const char *op, int dim, int ndim) {
    int d = dim < 0 ? dim + ndim : dim;
    if (d < 0 || d >= (ndim ? ndim : 1)) {
        cg_error(CG_EINVAL, "%s: dim %d is out of range for a %d-d tensor", op, dim, ndim);
        return -1;
    }
    return d;
}

const char *cg_dtype_name(cg_dtype d) {
    switch (d) {
    case CG_F32: return "float32";
    case CG_I64: return "int64";
    case CG_U8: return "uint8";
    }
    return "unknown";
}

size_t cg_dtype_size(cg_dtype d) {
    switch (d) {
    case CG_F32: return sizeof(float);
    case CG_I64: return sizeof(int64_t);
    case CG_U8: return sizeof(uint8_t);
    }
    return 0;
}

cg_status cg_check_dtype(const char *op, const char *arg, const cg_tensor *t, cg_dtype want) {
    if (!t || t->dtype == want) return CG_OK;
    return cg_error(CG_EINVAL, "%s: %s is %s, expected %s", op, arg, cg_dtype_name(t->dtype), cg_dtype_name(want));
}

/* A caller-owned tensor of `dtype`; data is allocated unless `borrow` is given. */
static cg_tensor *tensor_make_typed(const char *what, cg_dtype dtype, int ndim, const int64_t *shape,
                                    void *borrow) {
    cg_threads_sync();  /* the fills below may run a parallel loop */
    if (!cg_dtype_size(dtype)) return CG_FAIL(CG_EINVAL, "%s: unknown element type %d", what, (int)dtype);
    if (cg_check_shape(what, ndim, shape) != CG_OK) return NULL;
    cg_tensor *t = cg_calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ndim = ndim;
    t->dtype = dtype;
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->numel = cg_shape_numel(ndim, shape);
    if (borrow) {
        t->raw = borrow;
    } else {
        t->raw = cg_malloc((size_t)(t->numel ? t->numel : 1) * cg_dtype_size(dtype));
        if (!t->raw) { cg_free(t); return NULL; }
        t->flags |= CG_T_OWNS_DATA;
    }
    return t;
}
static cg_tensor *tensor_make(const char *what, int ndim, const int64_t *shape, float *borrow) {
    return tensor_make_typed(what, CG_F32, ndim, shape, borrow);
}

cg_tensor *cg_tensor_new(cg_dtype dtype, int ndim, const int64_t *shape) {
    cg_tensor *t = tensor_make_typed("cg_tensor_new", dtype, ndim, shape, NULL);
    if (t) memset(t->raw, 0, (size_t)t->numel * cg_dtype_size(dtype));
    return t;
}
cg_tensor *cg_tensor_from_data(cg_dtype dtype, int ndim, const int64_t *shape, const void *src) {
    if (!src) return CG_FAIL(CG_EINVAL, "cg_tensor_from_data: src is NULL");
    cg_tensor *t = tensor_make_typed("cg_tensor_from_data", dtype, ndim, shape, NULL);
    if (t) memcpy(t->raw, src, (size_t)t->numel * cg_dtype_size(dtype));
    return t;
}
cg_tensor *cg_tensor_wrap_data(cg_dtype dtype, void *data, int ndim, const int64_t *shape) {
    if (!data) return CG_FAIL(CG_EINVAL, "cg_tensor_wrap_data: data is NULL");
    return tensor_make_typed("cg_tensor_wrap_data", dtype, ndim, shape, data);
}
cg_tensor *cg_tensor_from_i64(int ndim, const int64_t *shape, const int64_t *src) {
    return cg_tensor_from_data(CG_I64, ndim, shape, src);
}
cg_tensor *cg_tensor_from_u8(int ndim, const int64_t *shape, const uint8_t *src) {
    return cg_tensor_from_data(CG_U8, ndim, shape, src);
}

cg_tensor *cg_tensor_full(int ndim, const int64_t *shape, float value) {
    cg_tensor *t = tensor_make("cg_tensor_full", ndim, shape, NULL);
    if (t) for (int64_t i = 0; i < t->numel; i++) t->data[i] = value;
    return t;
}
cg_tensor *cg_tensor_zeros(int ndim, const int64_t *shape) {
    cg_tensor *t = tensor_make("cg_tensor_zeros", ndim, shape, NULL);
    if (t) memset(t->data, 0, (size_t)t->numel * sizeof(float));
    return t;
}
cg_tensor *cg_tensor_ones(int ndim, const int64_t *shape) { return cg_tensor_full(ndim, shape, 1.0f); }

cg_tensor *cg_tensor_arange(float start, float end, float step) {
    if (step == 0.0f || !isfinite(start) || !isfinite(end) || !isfinite(step))
        return CG_FAIL(CG_EINVAL, "cg_tensor_arange: need finite start/end and a non-zero step");
    double n = ceil(((double)end - start) / step);
    if (n < 0) n = 0;
    if (n > 1e12) return CG_FAIL(CG_EINVAL, "cg_tensor_arange: %.0f elements is too many", n);
    int64_t len = (int64_t)n;
    cg_tensor *t = tensor_make("cg_tensor_arange", 1, &len, NULL);
    if (t) for (int64_t i = 0; i < len; i++) t->data[i] = (float)(start + (double)i * step);
    return t;
}

cg_tensor *cg_tensor_from_array(int ndim, const int64_t *shape, const float *src) {
    if (!src) return CG_FAIL(CG_EINVAL, "cg_tensor_from_array: src is NULL");
    cg_tensor *t = tensor_make("cg_tensor_from_array", ndim, shape, NULL);
    if (t) memcpy(t->data, src, (size_t)t->numel * sizeof(float));
    return t;
}

cg_tensor *cg_tensor_wrap(float *data, int ndim, const int64_t *shape) {
    if (!data) return CG_FAIL(CG_EINVAL, "cg_tensor_wrap: data is NULL");
    return tensor_make("cg_tensor_wrap", ndim, shape, data);
}

/* d[n] = lo + (hi - lo) * u, u in [0,1) from n draws of rng (NULL: the default stream). */
void cg_rng_fill_uniform(float *d, int64_t n, float lo, float hi, cg_rng *rng) {
    cg_threads_sync();  /* an entry point of its own (the initialisers) */
    uint64_t key, c0 = cg_rng_take(rng, (uint64_t)n, &key);
    #pragma omp parallel for if (n >= CG_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) d[i] = lo + (hi - lo) * cg_rng_u01(cg_rng_bits(key, c0 + (uint64_t)i));
}

/* d[n] ~ N(0,1), one draw per element: Box-Muller on its two 24-bit halves. */
void cg_rng_fill_normal(float *d, int64_t n, cg_rng *rng) {
    cg_threads_sync();  /* an entry point of its own (the initialisers) */
    uint64_t key, c0 = cg_rng_take(rng, (uint64_t)n, &key);
    #pragma omp parallel for if (n >= CG_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        uint64_t b = cg_rng_bits(key, c0 + (uint64_t)i);
        double u1 = ((double)(b >> 40) + 1.0) / 16777217.0; /* (0,1]: log is finite */
        double u2 = (double)(b & 0xffffffu) / 16777216.0;
        d[i] = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
}

cg_tensor *cg_tensor_uniform(int ndim, const int64_t *shape, float lo, float hi, cg_rng *rng) {
    cg_tensor *t = tensor_make("cg_tensor_uniform", ndim, shape, NULL);
    if (t) cg_rng_fill_uniform(t->data, t->numel, lo, hi, rng);
    return t;
}
cg_tensor *cg_tensor_rand(int ndim, const int64_t *shape, cg_rng *rng) {
    return cg_tensor_uniform(ndim, shape, 0.0f, 1.0f, rng);
}

cg_tensor *cg_tensor_randn(int ndim, const int64_t *shape, cg_rng *rng) {
    cg_tensor *t = tensor_make("cg_tensor_randn", ndim, shape, NULL);
    if (t) cg_rng_fill_normal(t->data, t->numel, rng);
    return t;
}

cg_tensor *cg_tensor_clone(const cg_tensor *src) {
    if (!src) return NULL;
    return cg_tensor_from_data(src->dtype, src->ndim, src->shape, src->raw);
}

void cg_tensor_free(cg_tensor *t) {
    if (!t || (t->flags & CG_T_ON_TAPE)) return;
    if (t->grad) cg_tensor_free(t->grad);
    if (t->flags & CG_T_OWNS_DATA) cg_free(t->data);
    cg_free(t);
}

int cg_tensor_ndim(const cg_tensor *t) { return t ? t->ndim : -1; }
const int64_t *cg_tensor_shape(const cg_tensor *t) { return t ? t->shape : NULL; }
int64_t cg_tensor_numel(const cg_tensor *t) { return t ? t->numel : -1; }
cg_dtype cg_tensor_dtype(const cg_tensor *t) { return t ? t->dtype : CG_F32; }

/* t's elements when it is of type `want`, else NULL with the error set. */
static void *typed_data(const char *fn, const cg_tensor *t, cg_dtype want) {
    if (!t) { cg_error(CG_EINVAL, "%s: tensor is NULL", fn); return NULL; }
    if (t->dtype != want) {
        cg_error(CG_EINVAL, "%s: the tensor is %s, not %s", fn, cg_dtype_name(t->dtype), cg_dtype_name(want));
        return NULL;
    }
    return t->raw;
}
float *cg_tensor_data(cg_tensor *t) { return typed_data("cg_tensor_data", t, CG_F32); }
const float *cg_tensor_cdata(const cg_tensor *t) { return typed_data("cg_tensor_cdata", t, CG_F32); }
int64_t *cg_tensor_data_i64(cg_tensor *t) { return typed_data("cg_tensor_data_i64", t, CG_I64); }
const int64_t *cg_tensor_cdata_i64(const cg_tensor *t) { return typed_data("cg_tensor_cdata_i64", t, CG_I64); }
uint8_t *cg_tensor_data_u8(cg_tensor *t) { return typed_data("cg_tensor_data_u8", t, CG_U8); }
const uint8_t *cg_tensor_cdata_u8(const cg_tensor *t) { return typed_data("cg_tensor_cdata_u8", t, CG_U8); }
void *cg_tensor_raw(cg_tensor *t) { return t ? t->raw : NULL; }
const void *cg_tensor_craw(const cg_tensor *t) { return t ? t->raw : NULL; }

/* Element `off` of t as a double, whatever its type. */
static double elem_get(const cg_tensor *t, int64_t off) {
    switch (t->dtype) {
    case CG_I64: return (double)cg_i64(t)[off];
    case CG_U8: return cg_u8(t)[off];
    default: return t->data[off];
    }
}

/* Store v into element `off` of t; an integer type refuses a value it cannot hold. */
static cg_status elem_set(const char *fn, cg_tensor *t, int64_t off, float v) {
    switch (t->dtype) {
    case CG_I64:
        if (!(v == floorf(v) && v >= -9223372036854775808.0f && v < 9223372036854775808.0f))
            return cg_error(CG_EINVAL, "%s: %g is not an int64 value", fn, (double)v);
        cg_i64(t)[off] = (int64_t)v;
        return CG_OK;
    case CG_U8:
        if (!(v == floorf(v) && v >= 0.0f && v <= 255.0f))
            return cg_error(CG_EINVAL, "%s: %g is not a uint8 value", fn, (double)v);
        cg_u8(t)[off] = (uint8_t)v;
        return CG_OK;
    default:
        t->data[off] = v;
        return CG_OK;
    }
}

int64_t cg_tensor_size(const cg_tensor *t, int dim) {
    if (!t) return -1;
    int d = cg_norm_dim("cg_tensor_size", dim, t->ndim);
    return d < 0 || t->ndim == 0 ? -1 : t->shape[d];
}

bool cg_tensor_same_shape(const cg_tensor *a, const cg_tensor *b) {
    if (!a || !b || a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++) if (a->shape[i] != b->shape[i]) return false;
    return true;
}

static int64_t offset_of(const cg_tensor *t, const int64_t *index) {
    if (!t) { cg_error(CG_EINVAL, "tensor is NULL"); return -1; }
    if (t->ndim && !index) { cg_error(CG_EINVAL, "index is NULL"); return -1; }
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (index[i] < 0 || index[i] >= t->shape[i]) {
            cg_error(CG_EINVAL, "index %lld is out of range for dim %d of size %lld",
                     (long long)index[i], i, (long long)t->shape[i]);
            return -1;
        }
        off = off * t->shape[i] + index[i];
    }
    return off;
}

float cg_tensor_get(const cg_tensor *t, const int64_t *index) {
    int64_t off = offset_of(t, index);
    return off < 0 ? NAN : (float)elem_get(t, off);
}

cg_status cg_tensor_set(cg_tensor *t, const int64_t *index, float value) {
    int64_t off = offset_of(t, index);
    if (off < 0) return CG_EINVAL;
    return elem_set("cg_tensor_set", t, off, value);
}

float cg_tensor_item(const cg_tensor *t) {
    if (!t) { cg_error(CG_EINVAL, "cg_tensor_item: tensor is NULL"); return NAN; }
    if (t->numel != 1) {
        cg_error(CG_ESHAPE, "cg_tensor_item: tensor has %lld elements, not 1", (long long)t->numel);
        return NAN;
    }
    return (float)elem_get(t, 0);
}

cg_status cg_tensor_fill_(cg_tensor *t, float value) {
    if (!t) return cg_error(CG_EINVAL, "cg_tensor_fill_: tensor is NULL");
    if (t->dtype != CG_F32) {
        for (int64_t i = 0; i < t->numel; i++)
            if (elem_set("cg_tensor_fill_", t, i, value) != CG_OK) return CG_EINVAL;
        return CG_OK;
    }
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = value;
    return CG_OK;
}

cg_status cg_tensor_copy_(cg_tensor *dst, const cg_tensor *src) {
    if (!dst || !src) return cg_error(CG_EINVAL, "cg_tensor_copy_: tensor is NULL");
    if (dst->numel != src->numel)
        return cg_error(CG_ESHAPE, "cg_tensor_copy_: %lld elements into %lld",
                        (long long)src->numel, (long long)dst->numel);
    if (dst->dtype != src->dtype)
        return cg_error(CG_EINVAL, "cg_tensor_copy_: %s into %s", cg_dtype_name(src->dtype), cg_dtype_name(dst->dtype));
    memmove(dst->raw, src->raw, (size_t)dst->numel * cg_dtype_size(dst->dtype));
    return CG_OK;
}

cg_status cg_tensor_axpy_(cg_tensor *y, float alpha, const cg_tensor *x) {
    if (!y || !x) return cg_error(CG_EINVAL, "cg_tensor_axpy_: tensor is NULL");
    if (y->numel != x->numel)
        return cg_error(CG_ESHAPE, "cg_tensor_axpy_: %lld elements into %lld",
                        (long long)x->numel, (long long)y->numel);
    if (cg_check_dtype("cg_tensor_axpy_", "y", y, CG_F32) || cg_check_dtype("cg_tensor_axpy_", "x", x, CG_F32))
        return CG_EINVAL;
    float *restrict yd = y->data;
    const float *restrict xd = x->data;
    int64_t n = y->numel;
    #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) yd[i] += alpha * xd[i];
    return CG_OK;
}

cg_status cg_tensor_scale_(cg_tensor *t, float alpha) {
    if (!t) return cg_error(CG_EINVAL, "cg_tensor_scale_: tensor is NULL");
    if (cg_check_dtype("cg_tensor_scale_", "t", t, CG_F32)) return CG_EINVAL;
    float *d = t->data;
    int64_t n = t->numel;
    #pragma omp parallel for simd if (parallel: n >= CG_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) d[i] *= alpha;
    return CG_OK;
}

cg_status cg_tensor_set_requires_grad(cg_tensor *t, bool requires_grad) {
    if (!t) return cg_error(CG_EINVAL, "cg_tensor_set_requires_grad: tensor is NULL");
    if (t->node)
        return cg_error(CG_ESTATE, "cg_tensor_set_requires_grad: only leaves can change it");
    if (requires_grad && t->dtype != CG_F32)
        return cg_error(CG_EINVAL, "cg_tensor_set_requires_grad: a %s tensor carries no gradient (only float32 does)",
                        cg_dtype_name(t->dtype));
    if (requires_grad) t->flags |= CG_T_REQ_GRAD;
    else t->flags &= ~(unsigned)CG_T_REQ_GRAD;
    return CG_OK;
}

bool cg_tensor_requires_grad(const cg_tensor *t) { return cg_requires_grad(t); }
cg_tensor *cg_tensor_grad(const cg_tensor *t) { return t ? t->grad : NULL; }

void cg_tensor_zero_grad(cg_tensor *t) {
    if (t && t->grad) memset(t->grad->data, 0, (size_t)t->grad->numel * sizeof(float));
}

static void print_elem(FILE *f, const cg_tensor *t, int64_t off) {
    if (t->dtype == CG_F32) fprintf(f, "%.4f", t->data[off]);
    else if (t->dtype == CG_I64) fprintf(f, "%lld", (long long)cg_i64(t)[off]);
    else fprintf(f, "%u", (unsigned)cg_u8(t)[off]);
}

static void print_rec(FILE *f, const cg_tensor *t, int dim, int64_t *off, int indent) {
    if (t->ndim == 0) { print_elem(f, t, 0); return; }
    fputc('[', f);
    int64_t n = t->shape[dim];
    for (int64_t i = 0; i < n; i++) {
        if (n > 8 && i == 3) {  /* elide the middle of long dims, as PyTorch does */
            fputs("...", f);
            int64_t skip = n - 6, inner = 1;
            for (int d = dim + 1; d < t->ndim; d++) inner *= t->shape[d];
            *off += skip * inner;
            i += skip - 1;
        } else if (dim == t->ndim - 1) {
            print_elem(f, t, (*off)++);
        } else {
            print_rec(f, t, dim + 1, off, indent + 1);
        }
        if (i + 1 < n) {
            if (dim == t->ndim - 1) fputs(", ", f);
            else fprintf(f, ",\n%*s", indent + 8, "");
        }
    }
    fputc(']', f);
}

void cg_tensor_fprint(FILE *f, const cg_tensor *t) {
    if (!t) { fputs("tensor(NULL)\n", f); return; }
    char buf[128];
    int64_t off = 0;
    fputs("tensor(", f);
    print_rec(f, t, 0, &off, 0);
    fprintf(f, ", shape=%s%s%s%s)\n", cg_shape_str(buf, sizeof buf, t->ndim, t->shape),
            t->dtype != CG_F32 ? ", dtype=" : "", t->dtype != CG_F32 ? cg_dtype_name(t->dtype) : "",
            cg_requires_grad(t) ? ", requires_grad" : "");
}

void cg_tensor_print(const cg_tensor *t) { cg_tensor_fprint(stdout, t); }
