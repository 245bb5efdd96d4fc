/* lib/data/loader.c — batches over an in-memory MNIST-family set.
 *
 * Pixels stay uint8 in the set (47 MB for 60000 x 28 x 28); a batch is converted to float on
 * demand through a 256-entry table of (p/255 - mean)/std, computed in float as torchvision's
 * ToTensor + Normalize do. Each epoch's order is a Fisher-Yates shuffle driven by
 * cg_rng_bits(key, i) with key = cg_rng_bits(seed, epoch): a pure function of (seed, epoch), so
 * a resumed run recomputes it with cg_loader_set_epoch. Nothing is allocated after cg_loader_new.
 * Sharding (shard_rank r of shard_count K) keeps batch_size and the permutation global and hands
 * out rows [r*n/K, (r+1)*n/K) of each global batch of n rows. */
#include <math.h>
#include "cg_internal.h"

struct cg_loader {
    const cg_mnist_set *set;        /* borrowed */
    cg_loader_options opt;
    int64_t n, item;                /* examples; pixels per example (rows * cols) */
    int64_t nbatches, epoch, pos;   /* pos: the batch the next call returns */
    int64_t *perm;                  /* [n] this epoch's order */
    cg_tensor *batch;               /* [B, 1, rows, cols]; shape[0] shrinks for a partial batch */
    int64_t *labels;                /* [B] (B / K rows are used with K shards) */
    float lut[256];
};

cg_loader_options cg_loader_defaults(void) {
    return (cg_loader_options){ .batch_size = 64, .shuffle = true, .drop_last = false, .seed = 0,
                                .mean = 0.1307f, .std = 0.3081f, .shard_rank = 0, .shard_count = 1 };
}

cg_loader *cg_loader_new(const cg_mnist_set *set, const cg_loader_options *opt) {
    cg_loader_options o = opt ? *opt : cg_loader_defaults();
    if (!set) return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: set is NULL");
    const cg_idx_images *im = &set->images;
    if (!im->pixels || !set->labels.labels || im->n <= 0 || im->rows <= 0 || im->cols <= 0)
        return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: the set is empty (load it with cg_mnist_load)");
    if (set->labels.n != im->n)
        return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: %lld images but %lld labels", (long long)im->n,
                                    (long long)set->labels.n);
    if (o.batch_size < 1)
        return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: batch_size %lld must be >= 1", (long long)o.batch_size);
    if (o.drop_last && o.batch_size > im->n)
        return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: drop_last with batch_size %lld > %lld examples leaves "
                                    "no batch", (long long)o.batch_size, (long long)im->n);
    if (o.shard_count < 1 || o.shard_rank < 0 || o.shard_rank >= o.shard_count)
        return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: shard_rank %lld of shard_count %lld: need "
                                    "0 <= shard_rank < shard_count", (long long)o.shard_rank, (long long)o.shard_count);
    if (o.batch_size % o.shard_count != 0)
        return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: batch_size %lld is not a multiple of shard_count %lld "
                                    "(the global batch is split evenly)", (long long)o.batch_size, (long long)o.shard_count);
    if (o.shard_count > im->n)
        return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: shard_count %lld > %lld examples leaves a shard empty",
                                    (long long)o.shard_count, (long long)im->n);
    if (!isfinite(o.mean) || !isfinite(o.std) || !(o.std > 0))
        return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: mean %g and std %g must be finite, std > 0",
                                    (double)o.mean, (double)o.std);

    cg_loader *l = cg_calloc(1, sizeof *l);
    if (!l) return NULL;
    l->set = set;
    l->opt = o;
    l->n = im->n;
    l->item = im->rows * im->cols;
    if (o.batch_size > l->n) /* nothing larger is ever needed (kept a multiple of shard_count) */
        o.batch_size = l->opt.batch_size = l->n / o.shard_count * o.shard_count;
    l->nbatches = o.drop_last ? l->n / o.batch_size : (l->n + o.batch_size - 1) / o.batch_size;
    if (!o.drop_last && l->n % o.batch_size != 0 && l->n % o.batch_size < o.shard_count)
        l->nbatches--; /* a last batch too small to give every shard a row */
    l->perm = cg_malloc((size_t)l->n * sizeof *l->perm);
    int64_t rows = o.batch_size / o.shard_count; /* a shard's rows of any batch: at most B/K */
    l->labels = cg_malloc((size_t)rows * sizeof *l->labels);
    l->batch = cg_tensor_zeros(4, CG_SHAPE(rows, 1, im->rows, im->cols));
    if (!l->perm || !l->labels || !l->batch) {
        cg_loader_free(l);
        return NULL;
    }
    for (int p = 0; p < 256; p++) l->lut[p] = ((float)p / 255.0f - o.mean) / o.std;
    cg_loader_set_epoch(l, 0);
    return l;
}

void cg_loader_free(cg_loader *l) {
    if (!l) return;
    cg_free(l->perm);
    cg_free(l->labels);
    cg_tensor_free(l->batch);
    cg_free(l);
}

int64_t cg_loader_num_batches(const cg_loader *l) { return l ? l->nbatches : -1; }
int64_t cg_loader_position(const cg_loader *l) { return l ? l->pos : -1; }
int64_t cg_loader_epoch(const cg_loader *l) { return l ? l->epoch : -1; }

cg_status cg_loader_set_epoch(cg_loader *l, int64_t epoch) {
    if (!l) return cg_error(CG_EINVAL, "cg_loader_set_epoch: loader is NULL");
    if (epoch < 0) return cg_error(CG_EINVAL, "cg_loader_set_epoch: epoch %lld must be >= 0", (long long)epoch);
    l->epoch = epoch;
    l->pos = 0;
    for (int64_t i = 0; i < l->n; i++) l->perm[i] = i;
    if (l->opt.shuffle) {
        uint64_t key = cg_rng_bits(l->opt.seed, (uint64_t)epoch);
        for (int64_t i = l->n - 1; i > 0; i--) {
            int64_t j = (int64_t)(cg_rng_bits(key, (uint64_t)i) % (uint64_t)(i + 1)); /* bias < n / 2^64 */
            int64_t t = l->perm[i];
            l->perm[i] = l->perm[j];
            l->perm[j] = t;
        }
    }
    return CG_OK;
}

cg_status cg_loader_seek(cg_loader *l, int64_t batch_index) {
    if (!l) return cg_error(CG_EINVAL, "cg_loader_seek: loader is NULL");
    if (batch_index < 0 || batch_index > l->nbatches)
        return cg_error(CG_EINVAL, "cg_loader_seek: batch %lld is outside 0..%lld", (long long)batch_index,
                        (long long)l->nbatches);
    l->pos = batch_index;
    return CG_OK;
}

/* This shard's rows of batch l->pos into x [n, item] and y [n]; returns n (0 at the end of the
 * epoch) and advances. */
static int64_t fill_batch(cg_loader *l, float *restrict x, int64_t *restrict y) {
    if (l->pos >= l->nbatches) return 0;
    int64_t B = l->opt.batch_size, start = l->pos * B, n = l->n - start < B ? l->n - start : B, item = l->item;
    int64_t K = l->opt.shard_count, r = l->opt.shard_rank, lo = r * n / K, hi = (r + 1) * n / K;
    start += lo;
    n = hi - lo;
    const uint8_t *px = l->set->images.pixels, *lb = l->set->labels.labels;
    const int64_t *perm = l->perm + start;
    const float *lut = l->lut;
    /* One thread on purpose: a batch of 64 MNIST images is ~50 us of table lookups, and forking an
     * OpenMP team per batch cost 40x that on a loaded 2-core machine (bench/bench-load). */
    for (int64_t b = 0; b < n; b++) {
        const uint8_t *src = px + perm[b] * item;
        float *dst = x + b * item;
        for (int64_t p = 0; p < item; p++) dst[p] = lut[src[p]];
        y[b] = lb[perm[b]];
    }
    l->pos++;
    return n;
}

bool cg_loader_next(cg_loader *l, cg_tensor **images, const int64_t **labels) {
    if (!l || !images || !labels) return false;
    int64_t n = fill_batch(l, l->batch->data, l->labels);
    if (n == 0) return false;
    l->batch->shape[0] = n;
    l->batch->numel = n * l->item;
    *images = l->batch;
    *labels = l->labels;
    return true;
}

cg_status cg_loader_next_into(cg_loader *l, cg_tensor *images, int64_t *labels, int64_t *batch_n) {
    if (!l || !images || !labels || !batch_n) return cg_error(CG_EINVAL, "cg_loader_next_into: NULL argument");
    int64_t rows = l->opt.batch_size / l->opt.shard_count;
    if (images->numel < rows * l->item)
        return cg_error(CG_ESHAPE, "cg_loader_next_into: images holds %lld floats, a batch needs %lld",
                        (long long)images->numel, (long long)(rows * l->item));
    *batch_n = fill_batch(l, images->data, labels);
    return CG_OK;
}
