/* SPDX-License-Identifier: MIT */
/* bench/bench-load.c — time cg_dataset_mnist_open on a real set (gzip), and one epoch of the loader.
 *   bench-load [dir]   (default /usr/share/datasets/fashion-mnist)
 * Prints seconds and MB/s, MB counting the decompressed IDX bytes (pixels + labels). */
#include "bench_util.h"
#include <stdio.h>
#include <time.h>
#include "cgrad/cgrad.h"

int main(int argc, char **argv) {
    bench_std_flags("bench-load", argc, argv,
                    "usage: bench-load [DIR]\n"
                    "Times cg_dataset_mnist_open on the MNIST-format set in DIR (default\n"
                    "/usr/share/datasets/fashion-mnist) and one shuffled epoch of the batch loader.\n", 1);
    if (argc > 2) { fprintf(stderr, "bench-load: one argument at most (see --help)\n"); return 2; }
    const char *dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    for (int train = 1; train >= 0; train--) {
        cg_dataset *ds = NULL;
        double t0 = bench_now();
        if (cg_dataset_mnist_open(dir, train, &ds) != CG_OK) {
            fprintf(stderr, "bench-load: %s\n", cg_last_error());
            return 1;
        }
        double dt = bench_now() - t0;
        double mb = (double)(ds->n * cg_dataset_item(ds) + ds->n) / 1e6;
        printf("%-5s %6lld images %lldx%lld: %.3f s, %.1f MB, %.1f MB/s (decompressed)\n", train ? "train" : "test",
               (long long)ds->n, (long long)ds->shape[1], (long long)ds->shape[2], dt, mb, mb / dt);
        cg_loader_options o = cg_loader_defaults();
        o.norm = (cg_normalize){ .channels = 1, .mean = { 0.1307f }, .std = { 0.3081f } };
        cg_loader *l = cg_loader_new(ds, &o);
        if (!l) {
            fprintf(stderr, "bench-load: %s\n", cg_last_error());
            return 1;
        }
        cg_batch b;
        int64_t batches = 0;
        t0 = bench_now();
        while (cg_loader_next(l, &b)) batches++;
        dt = bench_now() - t0;
        printf("      one shuffled epoch, %lld batches of 64 to float: %.3f s (%.1f Mimages/s)\n",
               (long long)batches, dt, (double)ds->n / dt / 1e6);
        cg_loader_free(l);
        cg_dataset_free(ds);
    }
    return 0;
}
