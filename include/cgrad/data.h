/* cgrad/data.h — IDX (MNIST-format) files and a batch loader.
 *
 *   cg_mnist_set train;
 *   if (cg_mnist_load("/usr/share/datasets/fashion-mnist", true, &train) != CG_OK)
 *       fprintf(stderr, "%s\n", cg_last_error());      // names the file and the problem
 *   cg_loader *l = cg_loader_new(&train, NULL);        // batch 64, shuffled, seed 0, MNIST mean/std
 *   for (int64_t epoch = 0; epoch < 10; epoch++) {
 *       cg_loader_set_epoch(l, epoch);                 // the order is a pure function of (seed, epoch)
 *       cg_tensor *x; const int64_t *y;
 *       while (cg_loader_next(l, &x, &y)) { ... cg_cross_entropy(logits, y, cg_tensor_size(x, 0), ...) ... }
 *   }
 *   cg_loader_free(l);
 *   cg_mnist_free(&train);
 *
 * Ownership: the pixel and label arrays filled in by a load belong to the caller, who releases
 * them with the matching *_free (a NULL pointer or an already freed struct is a no-op); a loader
 * borrows its cg_mnist_set, which must outlive it, and owns the batch tensor and label array that
 * cg_loader_next hands out (valid until the next cg_loader_next or cg_loader_free).
 *
 * Files are read through zlib: a name ending in anything may hold raw or gzip data (told apart by
 * the gzip magic bytes). Every header field is checked against the bytes that actually arrive, so
 * a header that lies about its size never causes a large allocation: a claim larger than a raw
 * file, or than 1032 times a gzip file (deflate's largest expansion), is refused before any body
 * is read, and at most 4 KiB past the claim is read to report trailing data. cg_mnist_load reads
 * both headers and compares the counts before reading either body. */
#ifndef CGRAD_DATA_H
#define CGRAD_DATA_H

#include "cgrad/base.h"
#include "cgrad/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- IDX files ------------------------------------------------------------ */
typedef struct cg_idx_images {
    uint8_t *pixels;        /* n * rows * cols bytes, image-major, row-major */
    int64_t n, rows, cols;
} cg_idx_images;

typedef struct cg_idx_labels {
    uint8_t *labels;        /* n bytes */
    int64_t n;
    int max_label;          /* the largest label in the file (-1 when n == 0) */
} cg_idx_labels;

/* An IDX3 unsigned-byte image file (magic 2051) / IDX1 label file (magic 2049), raw or gzip.
 * On error *out is left empty ({0}) and cg_last_error() names the path and the problem:
 * CG_EIO (missing, unreadable, not a regular file: a FIFO or device is refused without waiting
 * on it), CG_EFORMAT (bad magic or dimensions, shorter or longer than the
 * header says, corrupt gzip data, empty file), CG_ENOMEM. */
CG_API cg_status cg_idx_load_images(const char *path, cg_idx_images *out);
CG_API cg_status cg_idx_load_labels(const char *path, cg_idx_labels *out);
/* The same from a buffer in memory (raw or gzip); `name` is used in messages only. */
CG_API cg_status cg_idx_parse_images_mem(const void *data, size_t len, const char *name, cg_idx_images *out);
CG_API cg_status cg_idx_parse_labels_mem(const void *data, size_t len, const char *name, cg_idx_labels *out);
CG_API void cg_idx_images_free(cg_idx_images *im);
CG_API void cg_idx_labels_free(cg_idx_labels *lb);

/* Any IDX file: every element type of the format, 1 to CG_IDX_MAX_DIMS dimensions. data holds
 * numel = dims[0] * .. * dims[ndim-1] elements of elem_size bytes, row-major, in host byte order
 * (the file's are big-endian). The array belongs to the caller (cg_idx_array_free). Errors as
 * cg_idx_load_images gives, plus an unknown element type, 0 or more than 4 dimensions, a zero
 * dimension, or more than 256 MiB per entry of the first dimension; memory is bounded by the
 * data that arrives (the header's claim is never allocated on trust). */
#define CG_IDX_MAX_DIMS 4
typedef enum cg_idx_type {
    CG_IDX_U8 = 0x08, CG_IDX_I8 = 0x09, CG_IDX_I16 = 0x0B, CG_IDX_I32 = 0x0C, CG_IDX_F32 = 0x0D, CG_IDX_F64 = 0x0E
} cg_idx_type;
typedef struct cg_idx_array {
    void *data;
    cg_idx_type type;
    int ndim;
    int64_t dims[CG_IDX_MAX_DIMS];
    int64_t numel, elem_size;
} cg_idx_array;
CG_API cg_status cg_idx_load(const char *path, cg_idx_array *out);
CG_API cg_status cg_idx_parse_mem(const void *data, size_t len, const char *name, cg_idx_array *out);
CG_API void cg_idx_array_free(cg_idx_array *a);
/* "unsigned byte", "signed byte", "short", "int", "float", "double" (or "unknown"). */
CG_API const char *cg_idx_type_name(cg_idx_type t);

/* ---- MNIST-family sets ------------------------------------------------------ */
typedef struct cg_mnist_set {
    cg_idx_images images;
    cg_idx_labels labels;   /* labels.n == images.n, every label in 0..9 */
} cg_mnist_set;

/* Loads the training (train-*) or test (t10k-*) pair from dir. For each file it tries, in order,
 * NAME.gz, NAME, then the dotted spelling (train-images.idx3-ubyte.gz, train-images.idx3-ubyte);
 * when none exists the error lists the names tried. Checks that the counts agree and that every
 * label is in 0..9. Works for MNIST, Fashion-MNIST and KMNIST. */
CG_API cg_status cg_mnist_load(const char *dir, bool train, cg_mnist_set *out);
CG_API void cg_mnist_free(cg_mnist_set *s);

/* ---- batch loader ----------------------------------------------------------- */
typedef struct cg_loader cg_loader;

typedef struct cg_loader_options {
    int64_t batch_size;     /* default 64 */
    bool shuffle;           /* default true: each epoch a permutation drawn from (seed, epoch) */
    bool drop_last;         /* default false: the last partial batch is returned */
    uint64_t seed;          /* default 0 */
    float mean, std;        /* x = (pixel/255 - mean) / std; default 0.1307, 0.3081 */
    /* Data-parallel sharding, as PyTorch's DistributedSampler but per batch: every shard draws the
     * same permutation (same seed) and batch_size stays the GLOBAL batch B; shard r of K gets rows
     * [r*n/K, (r+1)*n/K) of each global batch of n rows (n == B except for the last one). B must
     * be a multiple of K, so full batches split evenly; a last partial batch is split the same way
     * (shares may then differ by one row), and dropped when it has fewer than K rows, so every
     * shard sees the same number of batches. Default 0 of 1: no sharding. */
    int64_t shard_rank, shard_count;
} cg_loader_options;

CG_API cg_loader_options cg_loader_defaults(void);
/* Borrows set (must outlive the loader). opt NULL means cg_loader_defaults(). Starts at epoch 0,
 * batch 0. NULL on error (bad option, empty set, out of memory) with cg_last_error() set. */
CG_API cg_loader *cg_loader_new(const cg_mnist_set *set, const cg_loader_options *opt);
CG_API void cg_loader_free(cg_loader *l);

/* Batches per epoch (with drop_last, only full batches; the same on every shard). */
CG_API int64_t cg_loader_num_batches(const cg_loader *l);
/* The batch the next cg_loader_next returns, 0..num_batches; and the current epoch. */
CG_API int64_t cg_loader_position(const cg_loader *l);
CG_API int64_t cg_loader_epoch(const cg_loader *l);
/* Start epoch `epoch` (>= 0) at batch 0: recomputes the permutation from (seed, epoch), so a
 * resumed run sees exactly the order the interrupted one would have. No allocation. */
CG_API cg_status cg_loader_set_epoch(cg_loader *l, int64_t epoch);
/* Jump to batch `batch_index` (0..num_batches) of the current epoch, for resuming. */
CG_API cg_status cg_loader_seek(cg_loader *l, int64_t batch_index);

/* The next batch of the epoch, or false at its end. *images is the loader's tensor, shaped
 * [n, 1, rows, cols] with n = batch_size (batch_size / shard_count with sharding), or fewer for a
 * last partial batch; *labels its n labels. Both belong to the loader and are overwritten by the next call. Allocates nothing. */
CG_API bool cg_loader_next(cg_loader *l, cg_tensor **images, const int64_t **labels);
/* The same into caller memory: images must hold at least batch_size*rows*cols floats (any
 * shape; the first n*rows*cols are written), labels batch_size entries. *batch_n = n, 0 at the
 * end of the epoch. */
CG_API cg_status cg_loader_next_into(cg_loader *l, cg_tensor *images, int64_t *labels, int64_t *batch_n);

#ifdef __cplusplus
}
#endif
#endif
