/* SPDX-License-Identifier: MIT */
/* cgrad/data.h — datasets and a batch loader.
 *
 *   cg_dataset *train;
 *   if (cg_dataset_mnist_open("data/mnist", true, &train) != CG_OK)   // or cg_dataset_idx_open(images, labels, ..)
 *       fprintf(stderr, "%s\n", cg_last_error());      // names the file and the problem
 *   cg_loader_options o = cg_loader_defaults();        // batch 64, shuffled by cg_rng_new(0), no normalisation
 *   cg_dataset_stats(train, &o.norm);                  // or set o.norm by hand, per channel
 *   cg_loader *l = cg_loader_new(train, &o);
 *   for (int64_t epoch = 0; epoch < 10; epoch++) {
 *       cg_loader_set_epoch(l, epoch);                 // the order is a pure function of (rng, epoch)
 *       cg_batch b;                                    // b.x: float32 [n, C, H, W]; b.y: int64 [n]
 *       while (cg_loader_next(l, &b)) { ... cg_cross_entropy(logits, b.y, CG_REDUCTION_MEAN) ... }
 *   }
 *   cg_loader_free(l);
 *   cg_dataset_free(train);
 *
 * Ownership: a dataset made by a cg_dataset_* constructor belongs to the caller (cg_dataset_free)
 * and owns what it read or copied, while what it borrows (a caller's tensors, a subset's base set)
 * must outlive it; a tensor made by cg_idx_load belongs to the caller (cg_tensor_free); a loader
 * borrows its dataset and owns the tensors of the batches it hands out (their values change at the
 * next cg_loader_next; they go with cg_loader_free).
 *
 * Files are read through zlib: a name ending in anything may hold raw or gzip data (told apart by
 * the gzip magic bytes). Every header field is checked against the bytes that actually arrive, so
 * a header that lies about its size never causes a large allocation: a claim larger than a raw
 * file, or than 1032 times a gzip file (deflate's largest expansion), is refused before any body
 * is read, and at most 4 KiB past the claim is read to report trailing data. Only regular files
 * are opened: a FIFO or device is refused without waiting on it. */
#ifndef CGRAD_DATA_H
#define CGRAD_DATA_H

#include "cgrad/base.h"
#include "cgrad/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

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
 * example is [1, H, W]), [N, C, H, W], or [N, D] (an example is [D]); of any element type of the
 * format: unsigned bytes stay compact (value byte/255), every other type (signed byte, short,
 * int, float, double) stays as the file has it and is converted to float per example, as it is
 * (no scaling), so memory is the data's own size. Labels are [N] of an integer type (unsigned or
 * signed byte, short, int), each >= 0. Both headers are read and their counts compared before
 * either body is read, so memory stays within the headers' claims (and those within the data that
 * arrives; see above). Errors name the file: CG_EIO (missing, unreadable, not a regular file),
 * CG_EFORMAT (not an IDX file, an unknown element type, 0 or more than 4 dimensions, a zero
 * dimension, more than 256 MiB per example, shorter or longer than the header says, corrupt gzip
 * data, an empty file, a float label file, a count mismatch, a negative label), CG_ENOMEM.
 * labels_path NULL opens the images alone (to predict on): every label is 0 and label_name is
 * "(no labels)". */
CG_API cg_status cg_dataset_idx_open(const char *images_path, const char *labels_path, cg_dataset **out);

/* An MNIST-family folder (MNIST, Fashion-MNIST, KMNIST): the training pair (train-images-idx3-ubyte,
 * train-labels-idx1-ubyte) or the test pair (t10k-*), opened as cg_dataset_idx_open does. For each
 * file it tries, in order, NAME.gz, NAME, then the dotted spelling (train-images.idx3-ubyte.gz,
 * train-images.idx3-ubyte); when none exists the error lists the names tried. The dataset's name
 * and label_name are the two files. Labels are not checked against a class count: call
 * cg_dataset_check_labels(ds, 10) for MNIST's. */
CG_API cg_status cg_dataset_mnist_open(const char *dir, bool train, cg_dataset **out);
/* The two file names cg_dataset_mnist_open would read from dir (images, labels), each into a
 * buffer of cap bytes, without reading them; errors as cg_dataset_mnist_open gives for a missing
 * or empty folder name or a missing file. */
CG_API cg_status cg_dataset_mnist_paths(const char *dir, bool train, char *images, char *labels, size_t cap);

/* A dataset over tensors: x of shape [N, example...] (an example of rank 1 to 3), uint8 (each
 * value meaning byte/255, as cg_dataset_idx_open reads unsigned bytes) or float32 (taken as it
 * is); y int64 of shape [N], each >= 0. copy true: the dataset copies both (the caller's may go);
 * false: it borrows their data (the tensors must outlive it and stay unchanged while a loader
 * reads). CG_EINVAL names the argument: NULL, a wrong dtype, a rank, N disagreeing, a negative
 * label. */
CG_API cg_status cg_dataset_from_tensors(const cg_tensor *x, const cg_tensor *y, bool copy, cg_dataset **out);
/* Examples [start, start + count) of base, or the examples base[index[0]], .., base[index[n-1]]
 * for index an int64 1-d tensor of n >= 1 entries (copied; repeats allowed). Borrows base, which
 * must outlive the subset. */
CG_API cg_status cg_dataset_subset(const cg_dataset *base, int64_t start, int64_t count, cg_dataset **out);
CG_API cg_status cg_dataset_subset_indices(const cg_dataset *base, const cg_tensor *index, cg_dataset **out);
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
/* As text: "MEAN,STD" (every channel), "M1,..,Mk/S1,..,Sk" (one pair per channel) or "none".
 * cg_normalize_parse reads it strictly (finite numbers, stds > 0, at most CG_NORM_MAX_CHANNELS;
 * CG_EINVAL quoting the text otherwise, *out unchanged); cg_normalize_format writes the
 * "M1,..,Mk/S1,..,Sk" form with %.9g (it parses back to the same floats), or "none". */
CG_API cg_status cg_normalize_parse(const char *text, cg_normalize *out);
CG_API void cg_normalize_format(const cg_normalize *n, char *buf, size_t cap);

/* ---- IDX and .npy files as tensors -----------------------------------------------------
 * A NumPy .npy file (versions 1 to 3) is read wherever an IDX file is, told by its magic: bool and
 * uint8 as unsigned bytes, int8/int16 as signed byte/short, uint16 and the 32- and 64-bit integers
 * as int (a value outside int32 is CG_EFORMAT naming its index), float16/float32 as float, float64
 * as double; either byte order, Fortran order turned to C order; object, string, complex,
 * structured and datetime arrays are CG_EFORMAT naming the dtype (lib/data/npy.c).
 * Any IDX file, raw or gzip, read with every check described at the top: 1 to 4 dimensions, the
 * tensor's shape is the file's; unsigned bytes become a uint8 tensor, signed byte / short / int
 * an int64 tensor, float / double a float32 tensor (a double rounded to the nearest float). The
 * tensor belongs to the caller. Errors as cg_dataset_idx_open gives for one file (CG_EINVAL for
 * a NULL argument). cg_idx_parse_mem reads the same from a buffer; `name` is used in messages. */
CG_API cg_status cg_idx_load(const char *path, cg_tensor **out);
CG_API cg_status cg_idx_parse_mem(const void *data, size_t len, const char *name, cg_tensor **out);

/* ---- batch loader ----------------------------------------------------------- */
typedef struct cg_loader cg_loader;

typedef struct cg_loader_options {
    int64_t batch_size;     /* default 64 */
    bool shuffle;           /* default true: each epoch a permutation drawn from (rng, epoch) */
    bool drop_last;         /* default false: the last partial batch is returned */
    /* The shuffle's stream, default cg_rng_new(0). The permutation of epoch e is a pure function
     * of (rng.seed, rng.stream, e): the loader keeps its own copy and never advances rng.counter,
     * which it ignores, so a resumed run recomputes any epoch's order. Stream 0 of seed s gives
     * the order earlier cgrad versions gave for `seed = s`. */
    cg_rng rng;
    cg_normalize norm;      /* default none (channels 0); see cg_dataset_stats */
    /* Data-parallel sharding, as PyTorch's DistributedSampler but per batch: every shard draws the
     * same permutation (same rng) and batch_size stays the GLOBAL batch B; shard r of K gets rows
     * [r*n/K, (r+1)*n/K) of each global batch of n rows (n == B except for the last one). B must
     * be a multiple of K, so full batches split evenly; a last partial batch is split the same way
     * (shares may then differ by one row), and dropped when it has fewer than K rows, so every
     * shard sees the same number of batches. Default 0 of 1: no sharding. */
    int64_t shard_rank, shard_count;
} cg_loader_options;

CG_API cg_loader_options cg_loader_defaults(void);
/* Borrows ds (must outlive the loader). opt NULL means cg_loader_defaults(). Makes every tensor a
 * batch will use: nothing is allocated after this. Starts at epoch 0, batch 0. NULL on error (bad
 * option, empty set, normalisation that does not fit the channels, out of memory) with
 * cg_last_error() set. */
CG_API cg_loader *cg_loader_new(const cg_dataset *ds, const cg_loader_options *opt);
CG_API void cg_loader_free(cg_loader *l);

/* Batches per epoch (with drop_last, only full batches; the same on every shard). */
CG_API int64_t cg_loader_num_batches(const cg_loader *l);
/* The batch the next cg_loader_next returns, 0..num_batches; and the current epoch. */
CG_API int64_t cg_loader_position(const cg_loader *l);
CG_API int64_t cg_loader_epoch(const cg_loader *l);
/* Start epoch `epoch` (>= 0) at batch 0: recomputes the permutation from (rng, epoch), so a
 * resumed run sees exactly the order the interrupted one would have. No allocation. */
CG_API cg_status cg_loader_set_epoch(cg_loader *l, int64_t epoch);
/* Jump to batch `batch_index` (0..num_batches) of the current epoch, for resuming. */
CG_API cg_status cg_loader_seek(cg_loader *l, int64_t batch_index);

/* One batch: x float32 [n, example...], normalised; y int64 [n], the labels. */
typedef struct cg_batch {
    cg_tensor *x;
    cg_tensor *y;
} cg_batch;
/* The next batch of the epoch into *out, or false at its end or when the dataset's get failed
 * (cg_loader_status tells which; cg_last_error() says why; *out is then {NULL, NULL}).
 * n = batch_size (batch_size / shard_count with sharding), or fewer for a last partial batch,
 * which has tensors of its own shape: the loader changes no tensor's shape after handing it out.
 * Both tensors belong to the loader (do not free them); their values are overwritten by the next
 * call. Allocates nothing. */
CG_API bool cg_loader_next(cg_loader *l, cg_batch *out);
/* CG_OK, or the error that ended the last cg_loader_next early. */
CG_API cg_status cg_loader_status(const cg_loader *l);

#ifdef __cplusplus
}
#endif
#endif
