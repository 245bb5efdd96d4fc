/* SPDX-License-Identifier: MIT */
/* cgrad/tensor.h — N-d tensors: row-major, contiguous, int64_t shapes, up to 8 dims, of one element
 * type each (cg_dtype): float32 for values, which ops differentiate, and int64 / uint8 for
 * indices, class targets, masks and counts, which carry no gradient.
 *
 * Ownership: a tensor made by a cg_tensor_* constructor belongs to the caller, who frees it with
 * cg_tensor_free (NULL is a no-op); a tensor returned by an op (cg_add, cg_conv2d, ...) belongs to
 * the tape and lives until cg_tape_release(); cg_tensor_free on it does nothing.
 * A leaf's .grad belongs to the leaf. cg_tensor_wrap borrows the caller's buffer, which must
 * outlive the tensor. */
#ifndef CGRAD_TENSOR_H
#define CGRAD_TENSOR_H

#include <stdio.h>
#include "cgrad/base.h"

#ifdef __cplusplus
#include <initializer_list>
extern "C" {
#endif

#define CG_MAX_DIMS 8

typedef struct cg_tensor cg_tensor;

/* Element types. Ops compute on CG_F32; CG_I64 holds indices and class targets (PyTorch's long),
 * CG_U8 masks and bytes (PyTorch's uint8/bool). Integer tensors never require grad. */
typedef enum cg_dtype { CG_F32 = 0, CG_I64 = 1, CG_U8 = 2 } cg_dtype;
CG_API const char *cg_dtype_name(cg_dtype d);   /* "float32", "int64", "uint8", or "unknown" */
CG_API size_t cg_dtype_size(cg_dtype d);        /* bytes per element; 0 for an unknown type */

/* Constructors: NULL on error (bad shape, out of memory), with cg_last_error() set. */
CG_API cg_tensor *cg_tensor_zeros(int ndim, const int64_t *shape);
CG_API cg_tensor *cg_tensor_ones(int ndim, const int64_t *shape);
CG_API cg_tensor *cg_tensor_full(int ndim, const int64_t *shape, float value);
/* 1-D [start, end) by step, as torch.arange. */
CG_API cg_tensor *cg_tensor_arange(float start, float end, float step);
/* Copies src (numel floats). */
CG_API cg_tensor *cg_tensor_from_array(int ndim, const int64_t *shape, const float *src);
/* Borrows data (not copied, not freed). */
CG_API cg_tensor *cg_tensor_wrap(float *data, int ndim, const int64_t *shape);
/* U[0,1), N(0,1) and U[lo,hi), one draw per element from rng (NULL: the default stream,
 * cg_manual_seed); the numbers do not depend on the thread count. */
CG_API cg_tensor *cg_tensor_rand(int ndim, const int64_t *shape, cg_rng *rng);
CG_API cg_tensor *cg_tensor_randn(int ndim, const int64_t *shape, cg_rng *rng);
CG_API cg_tensor *cg_tensor_uniform(int ndim, const int64_t *shape, float lo, float hi, cg_rng *rng);
/* Any element type: zeros of `dtype`; a copy of src (numel elements of that type); a borrowed
 * buffer (not copied, not freed). cg_tensor_from_i64 / _from_u8 are the typed shorthands. */
CG_API cg_tensor *cg_tensor_new(cg_dtype dtype, int ndim, const int64_t *shape);
CG_API cg_tensor *cg_tensor_from_data(cg_dtype dtype, int ndim, const int64_t *shape, const void *src);
CG_API cg_tensor *cg_tensor_wrap_data(cg_dtype dtype, void *data, int ndim, const int64_t *shape);
CG_API cg_tensor *cg_tensor_from_i64(int ndim, const int64_t *shape, const int64_t *src);
CG_API cg_tensor *cg_tensor_from_u8(int ndim, const int64_t *shape, const uint8_t *src);
/* A caller-owned copy of t's data (same element type), detached from any graph. */
CG_API cg_tensor *cg_tensor_clone(const cg_tensor *t);
CG_API void cg_tensor_free(cg_tensor *t);

/* Shape and data. */
CG_API int cg_tensor_ndim(const cg_tensor *t);
CG_API const int64_t *cg_tensor_shape(const cg_tensor *t);
CG_API int64_t cg_tensor_size(const cg_tensor *t, int dim); /* dim may be negative; -1 on error */
CG_API int64_t cg_tensor_numel(const cg_tensor *t);
CG_API cg_dtype cg_tensor_dtype(const cg_tensor *t);   /* CG_F32 for NULL */
/* The elements, typed: each returns NULL (and sets the error) when t is NULL or of another type. */
CG_API float *cg_tensor_data(cg_tensor *t);
CG_API const float *cg_tensor_cdata(const cg_tensor *t);
CG_API int64_t *cg_tensor_data_i64(cg_tensor *t);
CG_API const int64_t *cg_tensor_cdata_i64(const cg_tensor *t);
CG_API uint8_t *cg_tensor_data_u8(cg_tensor *t);
CG_API const uint8_t *cg_tensor_cdata_u8(const cg_tensor *t);
/* The elements untyped, whatever the type (cg_tensor_numel * cg_dtype_size bytes). */
CG_API void *cg_tensor_raw(cg_tensor *t);
CG_API const void *cg_tensor_craw(const cg_tensor *t);
CG_API bool cg_tensor_same_shape(const cg_tensor *a, const cg_tensor *b);

/* Element access by index (ndim indices), any element type, the value converted to or from float
 * (an int64 beyond 2^24 loses precision: read cg_tensor_data_i64 for exact values). get returns
 * NaN on a bad index; set refuses a value the integer type cannot hold (non-integral, out of
 * range). */
CG_API float cg_tensor_get(const cg_tensor *t, const int64_t *index);
CG_API cg_status cg_tensor_set(cg_tensor *t, const int64_t *index, float value);
/* The value of a one-element tensor; NaN (and an error) otherwise. */
CG_API float cg_tensor_item(const cg_tensor *t);

/* In-place updates on data, never recorded on the tape. fill_ and copy_ take any element type
 * (copy_: the same type on both sides); axpy_ and scale_ float32 only. */
CG_API cg_status cg_tensor_fill_(cg_tensor *t, float value);
CG_API cg_status cg_tensor_copy_(cg_tensor *dst, const cg_tensor *src);   /* same numel */
CG_API cg_status cg_tensor_axpy_(cg_tensor *y, float alpha, const cg_tensor *x); /* y += alpha*x */
CG_API cg_status cg_tensor_scale_(cg_tensor *t, float alpha);

/* Autograd flags and gradient. The grad is NULL until a backward reaches the tensor. Only
 * float32 tensors can require grad (CG_EINVAL otherwise). */
CG_API cg_status cg_tensor_set_requires_grad(cg_tensor *t, bool requires_grad);
CG_API bool cg_tensor_requires_grad(const cg_tensor *t);
CG_API cg_tensor *cg_tensor_grad(const cg_tensor *t);   /* borrowed */
CG_API void cg_tensor_zero_grad(cg_tensor *t);          /* zero the grad's data if there is one */

/* Printing: "tensor([[1.0000, 2.0000], ...], shape=[2, 2])". */
CG_API void cg_tensor_fprint(FILE *f, const cg_tensor *t);
CG_API void cg_tensor_print(const cg_tensor *t);

/* Shape helper: CG_SHAPE(2, 3) -> (const int64_t[]){2, 3}, an array that lives to the end of the
 * enclosing block. C++ has no compound literals: there it is the array of a temporary
 * initializer_list, which lives to the end of the full expression (the call it is passed to). */
#ifdef __cplusplus
#define CG_SHAPE(...) (std::initializer_list<int64_t>{__VA_ARGS__}.begin())
#else
#define CG_SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#endif

#ifdef __cplusplus
}
#endif
#endif
