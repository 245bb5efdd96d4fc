/* SPDX-License-Identifier: MIT */
/* lib/data/mnist.c — an MNIST-family folder as a dataset: find the image/label pair by name and
 * open it as cg_dataset_idx_open does (lib/data/dataset.c). */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include "cg_internal.h"

/* Tries base.gz, base, dotted.gz, dotted in dir; the first regular file found goes to path.
 * On failure the error lists every name tried. */
static cg_status find_file(const char *fn, const char *dir, const char *base, const char *dotted, char *path, size_t n) {
    const char *fmt[4] = { "%s/%s.gz", "%s/%s", "%s/%s.gz", "%s/%s" };
    const char *names[4] = { base, base, dotted, dotted };
    for (int i = 0; i < 4; i++) {
        int k = snprintf(path, n, fmt[i], dir, names[i]);
        if (k < 0 || (size_t)k >= n) return cg_error(CG_EINVAL, "%s: directory name too long: %s", fn, dir);
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) return CG_OK;
    }
    return cg_error(CG_EIO, "%s: no %s file in %s; tried %s.gz, %s, %s.gz, %s", fn, base, dir, base, base, dotted,
                    dotted);
}

/* Checks dir and puts the pair's file names in ipath / lpath (cap bytes each). */
static cg_status mnist_paths(const char *fn, const char *dir, bool train, char *ipath, char *lpath, size_t cap) {
    if (!dir) return cg_error(CG_EINVAL, "%s: dir is NULL", fn);
    if (!dir[0]) return cg_error(CG_EINVAL, "%s: the data folder name is empty", fn);
    struct stat sd;
    if (stat(dir, &sd) != 0) return cg_error(CG_EIO, "%s: no data folder %s (%s)", fn, dir, strerror(errno));
    if (!S_ISDIR(sd.st_mode)) return cg_error(CG_EIO, "%s: %s is not a folder", fn, dir);
    const char *pre = train ? "train" : "t10k";
    char ibase[64], idot[64], lbase[64], ldot[64];
    snprintf(ibase, sizeof ibase, "%s-images-idx3-ubyte", pre);
    snprintf(idot, sizeof idot, "%s-images.idx3-ubyte", pre);
    snprintf(lbase, sizeof lbase, "%s-labels-idx1-ubyte", pre);
    snprintf(ldot, sizeof ldot, "%s-labels.idx1-ubyte", pre);
    cg_status st = find_file(fn, dir, ibase, idot, ipath, cap);
    if (st == CG_OK) st = find_file(fn, dir, lbase, ldot, lpath, cap);
    return st;
}

cg_status cg_dataset_mnist_paths(const char *dir, bool train, char *images, char *labels, size_t cap) {
    if (!images || !labels || cap == 0) return cg_error(CG_EINVAL, "cg_dataset_mnist_paths: no buffer for the names");
    return mnist_paths("cg_dataset_mnist_paths", dir, train, images, labels, cap);
}

cg_status cg_dataset_mnist_open(const char *dir, bool train, cg_dataset **out) {
    if (!out) return cg_error(CG_EINVAL, "cg_dataset_mnist_open: out is NULL");
    *out = NULL;
    char ipath[4096], lpath[4096];
    cg_status st = mnist_paths("cg_dataset_mnist_open", dir, train, ipath, lpath, sizeof ipath);
    return st == CG_OK ? cg_dataset_idx_open(ipath, lpath, out) : st;
}
