/* SPDX-License-Identifier: MIT */
/* lib/data/loader.c — batches over any dataset (include/cgrad/data.h).
 *
 * A dataset of bytes stays bytes (47 MB for 60000 x 28 x 28); a batch is converted to float on
 * demand through a 256-entry table per channel of (p/255 - mean)/std, computed in float as
 * torchvision's ToTensor + Normalize do. A float dataset is copied into the batch and normalised
 * there. Each epoch's order is a Fisher-Yates shuffle driven by cg_rng_bits(key, i) with
 * key = cg_rng_bits(base, epoch), base = the seed itself for stream 0 (the recipe of the loader's
 * old `seed` option, kept so that the seed recipe's order does not move) and the stream's key
 * (cg_rng_key) for any other stream: a pure function of (seed, stream, epoch), so a resumed run
 * recomputes it with cg_loader_set_epoch.
 * A batch is a pair of tensors made at cg_loader_new: one for full batches and, when the epoch
 * ends in a shorter one, a second pair of that shape viewing the same memory. No tensor's shape
 * changes after it is made and nothing is allocated after cg_loader_new.
 * Sharding (shard_rank r of shard_count K) keeps batch_size and the permutation global and hands
 * out rows [r*n/K, (r+1)*n/K) of each global batch of n rows. */
#include <math.h>
#include "cg_internal.h"

struct cg_loader {
    const cg_dataset *ds;           /* borrowed */
    cg_loader_options opt;
    int64_t n, item, channels;      /* examples; values per example; channels of one example */
    int64_t nbatches, epoch, pos;   /* pos: the batch the next call returns */
    int64_t *perm;                  /* [n] this epoch's order */
    cg_batch full;                  /* x [rows, shape...], y [rows]: rows = B / K */
    cg_batch last;                  /* the last batch's [m, shape...] and [m] over full's memory
                                     * when m < rows; else {NULL, NULL} */
    uint64_t shuffle_base;          /* base of the per-epoch key (see above) */
    float *lut;                     /* u8 data: [channels][256] (one table when norm is shared) */
    float mean[CG_NORM_MAX_CHANNELS], std[CG_NORM_MAX_CHANNELS]; /* per channel (index 0 when shared) */
    cg_status status;               /* what ended the last cg_loader_next early */
};

cg_loader_options cg_loader_defaults(void) {
    return (cg_loader_options){ .batch_size = 64, .shuffle = true, .drop_last = false, .rng = cg_rng_new(0),
                                .norm = { .channels = 0 }, .shard_rank = 0, .shard_count = 1 };
}

cg_loader *cg_loader_new(const cg_dataset *ds, const cg_loader_options *opt) {
    cg_loader_options o = opt ? *opt : cg_loader_defaults();
    if (!ds) return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: dataset is NULL");
    if (ds->n <= 0 || ds->ndim < 1 || ds->ndim > CG_DATASET_MAX_DIMS || !ds->label || (!ds->u8 && !ds->get))
        return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: the dataset is empty or lacks label and u8/get");
    for (int i = 0; i < ds->ndim; i++)
        if (ds->shape[i] < 1 || ds->shape[i] > (INT64_C(1) << 31))
            return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: example dimension %d is %lld", i,
                                        (long long)ds->shape[i]);
    const int64_t n = ds->n, item = cg_dataset_item(ds), C = cg_dataset_channels(ds);
    if (o.batch_size < 1)
        return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: batch_size %lld must be >= 1", (long long)o.batch_size);
    if (o.drop_last && o.batch_size > n)
        return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: drop_last with batch_size %lld > %lld examples leaves "
                                    "no batch", (long long)o.batch_size, (long long)n);
    if (o.shard_count < 1 || o.shard_rank < 0 || o.shard_rank >= o.shard_count)
        return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: shard_rank %lld of shard_count %lld: need "
                                    "0 <= shard_rank < shard_count", (long long)o.shard_rank, (long long)o.shard_count);
    if (o.batch_size % o.shard_count != 0)
        return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: batch_size %lld is not a multiple of shard_count %lld "
                                    "(the global batch is split evenly)", (long long)o.batch_size, (long long)o.shard_count);
    if (o.shard_count > n)
        return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: shard_count %lld > %lld examples leaves a shard empty",
                                    (long long)o.shard_count, (long long)n);
    const cg_normalize *nm = &o.norm;
    if (nm->channels < 0 || nm->channels > CG_NORM_MAX_CHANNELS || (nm->channels > 1 && nm->channels != C))
        return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: normalisation for %d channels, but an example has %lld "
                                    "(give 1 mean/std for all, or one per channel)", nm->channels, (long long)C);
    for (int c = 0; c < nm->channels; c++)
        if (!isfinite(nm->mean[c]) || !isfinite(nm->std[c]) || !(nm->std[c] > 0))
            return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: channel %d: mean %g and std %g must be finite, "
                                        "std > 0", c, (double)nm->mean[c], (double)nm->std[c]);

    cg_loader *l = cg_calloc(1, sizeof *l);
    if (!l) return NULL;
    l->ds = ds;
    l->opt = o;
    l->n = n;
    l->item = item;
    l->channels = C;
    for (int64_t c = 0; c < C && c < CG_NORM_MAX_CHANNELS; c++) {
        int k = nm->channels > 1 ? (int)c : 0;
        l->mean[c] = nm->channels ? nm->mean[k] : 0.0f;
        l->std[c] = nm->channels ? nm->std[k] : 1.0f;
    }
    if (o.batch_size > l->n) /* nothing larger is ever needed (kept a multiple of shard_count) */
        o.batch_size = l->opt.batch_size = l->n / o.shard_count * o.shard_count;
    l->nbatches = o.drop_last ? l->n / o.batch_size : (l->n + o.batch_size - 1) / o.batch_size;
    if (!o.drop_last && l->n % o.batch_size != 0 && l->n % o.batch_size < o.shard_count)
        l->nbatches--; /* a last batch too small to give every shard a row */
    int64_t rows = o.batch_size / o.shard_count; /* a shard's rows of any batch: at most B/K */
    int64_t shape[CG_DATASET_MAX_DIMS + 1] = { rows };
    for (int i = 0; i < ds->ndim; i++) shape[i + 1] = ds->shape[i];
    int64_t tables = nm->channels > 1 ? C : 1;
    if (item > INT64_MAX / rows) { cg_free(l); return (cg_loader *)CG_FAIL(CG_EINVAL, "cg_loader_new: a batch is too large"); }
    l->shuffle_base = o.rng.stream ? cg_rng_key(&o.rng) : o.rng.seed;
    l->perm = cg_malloc((size_t)l->n * sizeof *l->perm);
    l->full.x = cg_tensor_zeros(ds->ndim + 1, shape);
    l->full.y = cg_tensor_new(CG_I64, 1, shape);
    if (ds->u8) l->lut = cg_malloc((size_t)tables * 256 * sizeof *l->lut);
    if (!l->perm || !l->full.x || !l->full.y || (ds->u8 && !l->lut)) {
        cg_loader_free(l);
        return NULL;
    }
    /* The last batch of an epoch: this shard's rows of its global rows, when fewer than a full
     * batch's (batches before it are full). */
    const int64_t K = o.shard_count, r = o.shard_rank;
    int64_t last_n = l->n - (l->nbatches - 1) * o.batch_size;
    if (last_n > o.batch_size) last_n = o.batch_size; /* a too-small last batch was dropped */
    const int64_t m = (r + 1) * last_n / K - r * last_n / K;
    if (m < rows) {
        shape[0] = m;
        l->last.x = cg_tensor_wrap_data(CG_F32, l->full.x->raw, ds->ndim + 1, shape);
        l->last.y = cg_tensor_wrap_data(CG_I64, l->full.y->raw, 1, shape);
        if (!l->last.x || !l->last.y) {
            cg_loader_free(l);
            return NULL;
        }
    }
    if (ds->u8)
        for (int64_t t = 0; t < tables; t++)
            for (int p = 0; p < 256; p++) l->lut[t * 256 + p] = ((float)p / 255.0f - l->mean[t]) / l->std[t];
    cg_loader_set_epoch(l, 0);
    return l;
}

void cg_loader_free(cg_loader *l) {
    if (!l) return;
    cg_free(l->perm);
    cg_free(l->lut);
    cg_tensor_free(l->last.x); /* views first: they borrow full's memory */
    cg_tensor_free(l->last.y);
    cg_tensor_free(l->full.x);
    cg_tensor_free(l->full.y);
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
        uint64_t key = cg_rng_bits(l->shuffle_base, (uint64_t)epoch);
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
 * epoch, -1 when the dataset's get failed) and advances. */
static int64_t fill_batch(cg_loader *l, float *restrict x, int64_t *restrict y) {
    if (l->pos >= l->nbatches) return 0;
    int64_t B = l->opt.batch_size, start = l->pos * B, n = l->n - start < B ? l->n - start : B, item = l->item;
    int64_t K = l->opt.shard_count, r = l->opt.shard_rank, lo = r * n / K, hi = (r + 1) * n / K;
    start += lo;
    n = hi - lo;
    const cg_dataset *ds = l->ds;
    const int64_t *perm = l->perm + start;
    const int64_t C = l->channels, plane = item / C;
    const bool shared = l->opt.norm.channels <= 1, norm = l->opt.norm.channels > 0;
    /* One thread on purpose: a batch of 64 MNIST images is ~50 us of table lookups, and forking an
     * OpenMP team per batch cost 40x that on a loaded 2-core machine (bench/bench-load). */
    for (int64_t b = 0; b < n; b++) {
        float *dst = x + b * item;
        if (ds->u8) {
            const uint8_t *src = ds->u8(ds, perm[b]);
            for (int64_t c = 0; c < C; c++) {
                const float *lut = l->lut + (shared ? 0 : c * 256);
                for (int64_t p = c * plane; p < (c + 1) * plane; p++) dst[p] = lut[src[p]];
            }
        } else {
            cg_status st = ds->get(ds, perm[b], dst);
            if (st != CG_OK) { l->status = st; return -1; }
            if (norm)
                for (int64_t c = 0; c < C; c++) {
                    const float m = l->mean[shared ? 0 : c], s = l->std[shared ? 0 : c];
                    for (int64_t p = c * plane; p < (c + 1) * plane; p++) dst[p] = (dst[p] - m) / s;
                }
        }
        y[b] = ds->label(ds, perm[b]);
    }
    l->pos++;
    return n;
}

bool cg_loader_next(cg_loader *l, cg_batch *out) {
    if (!out) return false;
    *out = (cg_batch){ NULL, NULL };
    if (!l) return false;
    l->status = CG_OK;
    double t0 = cg_profile_begin();
    int64_t n = fill_batch(l, l->full.x->data, cg_i64(l->full.y));
    if (n <= 0) return false;
    cg_profile_end("data_loading", 0, t0);
    *out = n == l->full.y->shape[0] ? l->full : l->last;
    CG_ASSERT(out->x && out->y && out->y->shape[0] == n);
    return true;
}

cg_status cg_loader_status(const cg_loader *l) {
    return l ? l->status : cg_error(CG_EINVAL, "cg_loader_status: loader is NULL");
}
