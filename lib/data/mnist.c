/* SPDX-License-Identifier: MIT */
/* lib/data/mnist.c — find and load an MNIST-family pair (images + labels) from a directory. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include "cg_internal.h"
#include "idx_internal.h"

/* Tries base.gz, base, dotted.gz, dotted in dir; the first regular file found goes to path.
 * On failure the error lists every name tried. */
static cg_status find_file(const char *dir, const char *base, const char *dotted, char *path, size_t n) {
    const char *fmt[4] = { "%s/%s.gz", "%s/%s", "%s/%s.gz", "%s/%s" };
    const char *names[4] = { base, base, dotted, dotted };
    for (int i = 0; i < 4; i++) {
        int k = snprintf(path, n, fmt[i], dir, names[i]);
        if (k < 0 || (size_t)k >= n) return cg_error(CG_EINVAL, "cg_mnist_load: directory name too long: %s", dir);
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) return CG_OK;
    }
    return cg_error(CG_EIO, "cg_mnist_load: no %s file in %s; tried %s.gz, %s, %s.gz, %s", base, dir, base, base,
                    dotted, dotted);
}

/* Checks dir and puts the pair's file names in ipath / lpath (cap bytes each). */
static cg_status mnist_paths(const char *dir, bool train, char *ipath, char *lpath, size_t cap) {
    if (!dir) return cg_error(CG_EINVAL, "cg_mnist_load: dir is NULL");
    if (!dir[0]) return cg_error(CG_EINVAL, "cg_mnist_load: the data folder name is empty");
    struct stat sd;
    if (stat(dir, &sd) != 0) return cg_error(CG_EIO, "cg_mnist_load: no data folder %s (%s)", dir, strerror(errno));
    if (!S_ISDIR(sd.st_mode)) return cg_error(CG_EIO, "cg_mnist_load: %s is not a folder", dir);
    const char *pre = train ? "train" : "t10k";
    char ibase[64], idot[64], lbase[64], ldot[64];
    snprintf(ibase, sizeof ibase, "%s-images-idx3-ubyte", pre);
    snprintf(idot, sizeof idot, "%s-images.idx3-ubyte", pre);
    snprintf(lbase, sizeof lbase, "%s-labels-idx1-ubyte", pre);
    snprintf(ldot, sizeof ldot, "%s-labels.idx1-ubyte", pre);
    cg_status st = find_file(dir, ibase, idot, ipath, cap);
    if (st == CG_OK) st = find_file(dir, lbase, ldot, lpath, cap);
    return st;
}

cg_status cg_mnist_paths(const char *dir, bool train, char *images, char *labels, size_t cap) {
    if (!images || !labels || cap == 0) return cg_error(CG_EINVAL, "cg_mnist_paths: no buffer for the names");
    return mnist_paths(dir, train, images, labels, cap);
}

cg_status cg_mnist_load(const char *dir, bool train, cg_mnist_set *out) {
    if (!out) return cg_error(CG_EINVAL, "cg_mnist_load: out is NULL");
    *out = (cg_mnist_set){ .labels.max_label = -1 };
    char ipath[4096], lpath[4096];
    cg_status st = mnist_paths(dir, train, ipath, lpath, sizeof ipath);
    /* Both headers first: a pair whose counts disagree is refused before either body is read
     * (a label file claiming 2^31 labels must not cost the images' load, nor the reverse). */
    int64_t ni = 0, nl = 0;
    if (st == CG_OK) st = cg_idx_header_count(ipath, true, &ni);
    if (st == CG_OK) st = cg_idx_header_count(lpath, false, &nl);
    if (st == CG_OK && ni != nl)
        st = cg_error(CG_EFORMAT, "%s: the header says %lld images but %s says %lld labels: the counts must agree",
                      ipath, (long long)ni, lpath, (long long)nl);
    if (st == CG_OK) st = cg_idx_load_images(ipath, &out->images);
    if (st == CG_OK) st = cg_idx_load_labels(lpath, &out->labels);
    if (st == CG_OK && out->images.n != out->labels.n)
        st = cg_error(CG_EFORMAT, "%s holds %lld images but %s holds %lld labels: the counts must agree", ipath,
                      (long long)out->images.n, lpath, (long long)out->labels.n);
    if (st == CG_OK && out->labels.max_label > 9) {
        int64_t i = 0;
        while (out->labels.labels[i] <= 9) i++;
        st = cg_error(CG_EFORMAT, "%s: label %d at index %lld is outside 0..9", lpath, out->labels.labels[i],
                      (long long)i);
    }
    if (st != CG_OK) cg_mnist_free(out);
    return st;
}

void cg_mnist_free(cg_mnist_set *s) {
    if (!s) return;
    cg_idx_images_free(&s->images);
    cg_idx_labels_free(&s->labels);
}

/* ---- a dataset over a loaded set ---- */
typedef struct mnist_ds { cg_dataset ds; const cg_mnist_set *s; int64_t item; } mnist_ds;
static const uint8_t *mnist_u8(const cg_dataset *d, int64_t i) {
    const mnist_ds *m = d->impl;
    return m->s->images.pixels + i * m->item;
}
static int64_t mnist_label(const cg_dataset *d, int64_t i) { return ((const mnist_ds *)d->impl)->s->labels.labels[i]; }
static void mnist_destroy(cg_dataset *d) { cg_free(d->impl); }

cg_status cg_dataset_from_mnist(const cg_mnist_set *s, cg_dataset **out) {
    if (!out) return cg_error(CG_EINVAL, "cg_dataset_from_mnist: out is NULL");
    *out = NULL;
    if (!s || !s->images.pixels || !s->labels.labels || s->images.n <= 0 || s->images.rows <= 0 || s->images.cols <= 0)
        return cg_error(CG_EINVAL, "cg_dataset_from_mnist: the set is empty (load it with cg_mnist_load)");
    if (s->labels.n != s->images.n)
        return cg_error(CG_EINVAL, "cg_dataset_from_mnist: %lld images but %lld labels", (long long)s->images.n,
                        (long long)s->labels.n);
    mnist_ds *m = cg_calloc(1, sizeof *m);
    if (!m) return CG_ENOMEM;
    m->s = s;
    m->item = s->images.rows * s->images.cols;
    m->ds = (cg_dataset){ .n = s->images.n, .ndim = 3, .shape = { 1, s->images.rows, s->images.cols },
                          .name = "<MNIST images>", .label_name = "<MNIST labels>", .u8 = mnist_u8,
                          .label = mnist_label, .destroy = mnist_destroy, .impl = m };
    *out = &m->ds;
    return CG_OK;
}
