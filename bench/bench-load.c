/* SPDX-License-Identifier: MIT */
/* bench/bench-load.c — time cg_mnist_load on a real set (gzip), and one epoch of the loader.
 *   bench-load [dir]   (default /usr/share/datasets/fashion-mnist)
 * Prints seconds and MB/s, MB counting the decompressed IDX bytes (pixels + labels). */
#include "bench_util.h"
#include <stdio.h>
#include <time.h>
#include "cgrad/cgrad.h"

int main(int argc, char **argv) {
    bench_std_flags("bench-load", argc, argv,
                    "usage: bench-load [DIR]\n"
                    "Times cg_mnist_load on the MNIST-format set in DIR (default\n"
                    "/usr/share/datasets/fashion-mnist) and one shuffled epoch of the batch loader.\n", 1);
    if (argc > 2) { fprintf(stderr, "bench-load: one argument at most (see --help)\n"); return 2; }
    const char *dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    for (int train = 1; train >= 0; train--) {
        cg_mnist_set s;
        double t0 = bench_now();
        if (cg_mnist_load(dir, train, &s) != CG_OK) {
            fprintf(stderr, "bench-load: %s\n", cg_last_error());
            return 1;
        }
        double dt = bench_now() - t0;
        double mb = (double)(s.images.n * s.images.rows * s.images.cols + s.labels.n) / 1e6;
        printf("%-5s %6lld images %lldx%lld: %.3f s, %.1f MB, %.1f MB/s (decompressed)\n", train ? "train" : "test",
               (long long)s.images.n, (long long)s.images.rows, (long long)s.images.cols, dt, mb, mb / dt);
        cg_dataset *ds = NULL;
        if (cg_dataset_from_mnist(&s, &ds) != CG_OK) {
            fprintf(stderr, "bench-load: %s\n", cg_last_error());
            return 1;
        }
        cg_loader_options o = cg_loader_defaults();
        o.norm = (cg_normalize){ .channels = 1, .mean = { 0.1307f }, .std = { 0.3081f } };
        cg_loader *l = cg_loader_new(ds, &o);
        cg_tensor *x;
        const int64_t *y;
        int64_t batches = 0;
        t0 = bench_now();
        while (cg_loader_next(l, &x, &y)) batches++;
        dt = bench_now() - t0;
        printf("      one shuffled epoch, %lld batches of 64 to float: %.3f s (%.1f Mimages/s)\n",
               (long long)batches, dt, (double)s.images.n / dt / 1e6);
        cg_loader_free(l);
        cg_dataset_free(ds);
        cg_mnist_free(&s);
    }
    return 0;
}
