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

cg_status cg_mnist_load(const char *dir, bool train, cg_mnist_set *out) {
    if (!out) return cg_error(CG_EINVAL, "cg_mnist_load: out is NULL");
    *out = (cg_mnist_set){ .labels.max_label = -1 };
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

    char ipath[4096], lpath[4096];
    cg_status st = find_file(dir, ibase, idot, ipath, sizeof ipath);
    if (st == CG_OK) st = find_file(dir, lbase, ldot, lpath, sizeof lpath);
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
