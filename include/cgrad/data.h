/* SPDX-License-Identifier: MIT */
/* cgrad/data.h — IDX files, datasets and a batch loader.
 *
 *   cg_dataset *train;
 *   if (cg_dataset_idx_open("train-images.idx.gz", "train-labels.idx.gz", &train) != CG_OK)
 *       fprintf(stderr, "%s\n", cg_last_error());      // names the file and the problem
 *   cg_loader_options o = cg_loader_defaults();        // batch 64, shuffled, seed 0, no normalisation
 *   cg_dataset_stats(train, &o.norm);                  // or set o.norm by hand, per channel
 *   cg_loader *l = cg_loader_new(train, &o);
 *   for (int64_t epoch = 0; epoch < 10; epoch++) {
 *       cg_loader_set_epoch(l, epoch);                 // the order is a pure function of (seed, epoch)
 *       cg_tensor *x; const int64_t *y;                // x: [n, C, H, W] (the example's shape)
 *       while (cg_loader_next(l, &x, &y)) { ... cg_cross_entropy(logits, cg_tape_wrap(CG_I64, (void *)y, 1, CG_SHAPE(cg_tensor_size(x, 0))), ...) ... }
 *   }
 *   cg_loader_free(l);
 *   cg_dataset_free(train);
 *
 * Ownership: arrays filled in by an IDX load belong to the caller, who releases them with the
 * matching *_free (a NULL pointer or an already freed struct is a no-op); a dataset made by a
 * cg_dataset_* constructor belongs to the caller (cg_dataset_free) and owns what it copied, while
 * what it borrows (a caller's buffer, a subset's base set) must outlive it; a loader borrows its
 * dataset and owns the batch tensor and label array that cg_loader_next hands out (valid until the
 * next cg_loader_next or cg_loader_free).
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
/* Only the header, checked as cg_idx_load checks it: type, ndim, dims, numel and elem_size are
 * filled, data stays NULL and no body byte is read. Lets a caller compare two files' counts
 * (images and labels) before reading either. */
CG_API cg_status cg_idx_read_header(const char *path, cg_idx_array *out);
/* "unsigned byte", "signed byte", "short", "int", "float", "double" (or "unknown"). */
CG_API const char *cg_idx_type_name(cg_idx_type t);

/* ---- datasets ------------------------------------------------------------------
 * A dataset is n examples of one shape (rank 1 to 3, e.g. [C, H, W]) with an int64 label each.
 * Its values reach the loader in one of two ways: u8 (compact bytes, each meaning byte/255, as
 * torchvision's ToTensor reads images; the loader converts a batch through a table) or get
 * (floats, taken as they are). A program may fill the struct itself for its own kind of data:
 * set n, ndim, shape, name, label_name, label, one of u8/get, and destroy (NULL: nothing to free;
 * cg_dataset_free then does nothing). The library's kinds are made by the constructors below. */
#define CG_DATASET_MAX_DIMS 3
typedef struct cg_dataset cg_dataset;
struct cg_dataset {
    int64_t n;                                   /* examples, >= 1 */
    int ndim;                                    /* rank of one example, 1..3 */
    int64_t shape[CG_DATASET_MAX_DIMS];          /* one example's shape: [C, H, W] for images */
    const char *name;                            /* where the examples come from (messages) */
    const char *label_name;                      /* where the labels come from (messages) */
    const uint8_t *(*u8)(const cg_dataset *d, int64_t i);          /* example i's bytes, or NULL */
    cg_status (*get)(const cg_dataset *d, int64_t i, float *x);    /* example i's values into x */
    int64_t (*label)(const cg_dataset *d, int64_t i);
    void (*destroy)(cg_dataset *d);              /* releases impl and d itself */
    void *impl;
};
CG_API void cg_dataset_free(cg_dataset *d);     /* NULL is a no-op */
/* Values per example (the product of shape) and channels (shape[0] for rank 3, else 1). */
CG_API int64_t cg_dataset_item(const cg_dataset *d);
CG_API int64_t cg_dataset_channels(const cg_dataset *d);

/* An IDX image file and an IDX label file, raw or gzip. Images are [N, H, W] (one channel: an
 * example is [1, H, W]), [N, C, H, W], or [N, D] (an example is [D]); of any element type:
 * unsigned bytes stay compact (value byte/255), every other type stays as the file has it and is
 * converted to float per example, as it is (no scaling), so memory is the data's own size. Labels are [N] of an integer type (unsigned or signed byte, short,
 * int), each >= 0. Both headers are read and their counts compared before either body is read, so
 * memory stays within the headers' claims (and those within the data that arrives; see above).
 * Errors name the file: CG_EIO, CG_EFORMAT (the IDX checks, a float label file, a count mismatch,
 * a negative label), CG_ENOMEM. */
CG_API cg_status cg_dataset_idx_open(const char *images_path, const char *labels_path, cg_dataset **out);
/* n examples of shape[0..ndim) over a caller's buffer: x holds n * item values, uint8 (type
 * CG_IDX_U8, each meaning byte/255) or float (CG_IDX_F32); labels holds n values >= 0. copy true:
 * the dataset copies both (the caller's may go); false: it borrows them (they must outlive it
 * and stay unchanged while a loader reads). */
CG_API cg_status cg_dataset_from_memory(const void *x, cg_idx_type type, const int64_t *labels, int64_t n, int ndim,
                                        const int64_t *shape, bool copy, cg_dataset **out);
/* Examples [start, start + count) of base, or the n examples base[idx[0]], .., base[idx[n-1]]
 * (idx is copied; repeats allowed). Borrows base, which must outlive the subset. */
CG_API cg_status cg_dataset_subset(const cg_dataset *base, int64_t start, int64_t count, cg_dataset **out);
CG_API cg_status cg_dataset_subset_indices(const cg_dataset *base, const int64_t *idx, int64_t n, cg_dataset **out);
/* Every label in 0..classes-1, else CG_EFORMAT naming label_name, the index and the value. */
CG_API cg_status cg_dataset_check_labels(const cg_dataset *d, int64_t classes);

/* Per-channel normalisation: x = (v - mean[c]) / std[c], computed in float as torchvision's
 * Normalize does. channels 0: none; 1: the same mean and std for every channel; else one per
 * channel, which must equal the dataset's channel count. */
#define CG_NORM_MAX_CHANNELS 16
typedef struct cg_normalize {
    int channels;
    float mean[CG_NORM_MAX_CHANNELS], std[CG_NORM_MAX_CHANNELS];
} cg_normalize;
/* The mean and (population) standard deviation of each channel over the whole dataset, in
 * double, of the values the loader sees before normalising: out->channels becomes the dataset's
 * channel count. CG_EINVAL for more than CG_NORM_MAX_CHANNELS channels or a constant channel
 * (std 0), CG_EFORMAT for a non-finite value (named by example). */
CG_API cg_status cg_dataset_stats(const cg_dataset *d, cg_normalize *out);

/* ---- MNIST-family sets: a convenience over the IDX readers ---------------------- */
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
/* The two file names cg_mnist_load would read from dir (images, labels), each into a buffer of
 * cap bytes; errors as cg_mnist_load gives for a missing folder or file. */
CG_API cg_status cg_mnist_paths(const char *dir, bool train, char *images, char *labels, size_t cap);
/* A dataset over s ([1, rows, cols] bytes), borrowing s, which must outlive it. */
CG_API cg_status cg_dataset_from_mnist(const cg_mnist_set *s, cg_dataset **out);

/* ---- batch loader ----------------------------------------------------------- */
typedef struct cg_loader cg_loader;

typedef struct cg_loader_options {
    int64_t batch_size;     /* default 64 */
    bool shuffle;           /* default true: each epoch a permutation drawn from (seed, epoch) */
    bool drop_last;         /* default false: the last partial batch is returned */
    uint64_t seed;          /* default 0 */
    cg_normalize norm;      /* default none (channels 0); see cg_dataset_stats */
    /* Data-parallel sharding, as PyTorch's DistributedSampler but per batch: every shard draws the
     * same permutation (same seed) and batch_size stays the GLOBAL batch B; shard r of K gets rows
     * [r*n/K, (r+1)*n/K) of each global batch of n rows (n == B except for the last one). B must
     * be a multiple of K, so full batches split evenly; a last partial batch is split the same way
     * (shares may then differ by one row), and dropped when it has fewer than K rows, so every
     * shard sees the same number of batches. Default 0 of 1: no sharding. */
    int64_t shard_rank, shard_count;
} cg_loader_options;

CG_API cg_loader_options cg_loader_defaults(void);
/* Borrows ds (must outlive the loader). opt NULL means cg_loader_defaults(). Starts at epoch 0,
 * batch 0. NULL on error (bad option, empty set, normalisation that does not fit the channels,
 * out of memory) with cg_last_error() set. */
CG_API cg_loader *cg_loader_new(const cg_dataset *ds, const cg_loader_options *opt);
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

/* The next batch of the epoch, or false at its end or when the dataset's get failed
 * (cg_loader_status tells which; cg_last_error() says why). *images is the loader's tensor,
 * shaped [n, shape...] with n = batch_size (batch_size / shard_count with sharding), or fewer for
 * a last partial batch; *labels its n labels. Both belong to the loader and are overwritten by
 * the next call. Allocates nothing. */
CG_API bool cg_loader_next(cg_loader *l, cg_tensor **images, const int64_t **labels);
/* CG_OK, or the error that ended the last cg_loader_next early. */
CG_API cg_status cg_loader_status(const cg_loader *l);
/* The same into caller memory: images must hold at least batch_size*item floats (any shape; the
 * first n*item are written), labels batch_size entries. *batch_n = n, 0 at the end of the epoch. */
CG_API cg_status cg_loader_next_into(cg_loader *l, cg_tensor *images, int64_t *labels, int64_t *batch_n);

#ifdef __cplusplus
}
#endif
#endif
