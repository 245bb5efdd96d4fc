/* SPDX-License-Identifier: MIT */
/* tests/mpi/dist_equiv.c — data parallelism is exact (run under mpirun by tests/mpi.cmake).
 *
 *   dist_equiv [STEPS]             every rank trains a reference model alone on the global batch
 *                                  of 64 and a data-parallel one (its shard, the gradients averaged and
 *                                  the weights broadcast from rank 0 over a different local init through
 *                                  cg_dist_comm's calls), then checks that parameters and per-step
 *                                  losses agree within 1e-5
 *   dist_equiv --exit-rank1-after K  rank 1 exits(3) after K steps; the job must end, not hang
 *   dist_equiv --write-idx DIR     writes a tiny MNIST-format set (256 train / 64 test, 28x28) for
 *                                  mnist-train tests
 * Exit 0 and "OK: ..." on success. Synthetic data: each label has its own bright 7x7 square. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cgrad/cgrad.h"
#include "cgrad/dist.h"

#define BATCH 64
static int g_rank;
static const cg_comm *g_comm; /* cg_dist_comm(): the trainer's view of cgrad_dist */

static void die(const char *what) {
    fprintf(stderr, "dist_equiv: rank %d: %s: %s\n", g_rank, what, cg_last_error());
    cg_dist_abort(1);
    exit(1);
}

static uint32_t hash(uint32_t x) {
    x ^= x >> 16; x *= 0x7feb352dU; x ^= x >> 15; x *= 0x846ca68bU; x ^= x >> 16;
    return x;
}

/* n images of side x side (bytes) and their labels (0..9). */
typedef struct image_set {
    uint8_t *pixels;
    int64_t *labels;
    int64_t n, side;
} image_set;

/* n images of side x side: noise plus a bright square whose position is the label's. */
static void make_set(image_set *s, int64_t n, int64_t side, uint32_t salt) {
    *s = (image_set){ malloc((size_t)(n * side * side)), malloc((size_t)n * sizeof(int64_t)), n, side };
    for (int64_t i = 0; i < n; i++) {
        int lab = (int)(hash((uint32_t)i * 7919u + salt) % 10);
        s->labels[i] = lab;
        uint8_t *px = s->pixels + i * side * side;
        for (int64_t p = 0; p < side * side; p++) px[p] = (uint8_t)(hash((uint32_t)(i * side * side + p) ^ salt) % 64);
        int64_t cell = side / 4, r0 = (lab / 4) * cell, c0 = (lab % 4) * cell;
        for (int64_t r = r0; r < r0 + cell && r < side; r++)
            for (int64_t c = c0; c < c0 + cell; c++) px[r * side + c] = 255;
    }
}

static void free_set(image_set *s) {
    free(s->pixels);
    free(s->labels);
}

static cg_module *small_net(uint64_t seed) {
    cg_manual_seed(seed);
    cg_module *s = cg_sequential_new();
    cg_sequential_append(s, "conv", cg_conv2d_new(1, 4, 3, NULL, true));
    cg_sequential_append(s, NULL, cg_relu_new());
    cg_sequential_append(s, NULL, cg_max_pool2d_new(2));
    cg_sequential_append(s, NULL, cg_flatten_new());
    cg_sequential_append(s, "fc", cg_linear_new(4 * 5 * 5, 10, true));
    cg_sequential_append(s, NULL, cg_log_softmax_new(1));
    if (cg_module_num_parameters(s) != 4 * 9 + 4 + 100 * 10 + 10) die("building the model");
    return s;
}

static cg_optimizer *sgd(cg_module *m) {
    cg_named_list pl;
    if (cg_module_parameters(m, &pl) != CG_OK) die("parameters");
    cg_tensor *ps[16];
    for (int64_t i = 0; i < pl.n; i++) ps[i] = pl.items[i].tensor;
    cg_optimizer *o = cg_sgd_new(ps, pl.n, (cg_sgd_options){ .lr = 0.01f, .momentum = 0.9f });
    cg_named_list_free(&pl);
    if (!o) die("optimizer");
    return o;
}

/* steps SGD steps on (rank, size)'s shard; dist: average over ranks. Losses go to loss[]. */
static void train(cg_module *m, const image_set *set, int rank, int size, bool dist, int steps,
                  int exit_rank1_after, float *loss) {
    cg_optimizer *o = sgd(m);
    cg_loader_options lo = cg_loader_defaults();
    lo.batch_size = BATCH;
    lo.rng = cg_rng_new(5);
    lo.shard_rank = rank;
    lo.shard_count = size;
    lo.norm = (cg_normalize){ .channels = 1, .mean = { 0.1307f }, .std = { 0.3081f } };
    cg_dataset *ds = NULL;
    cg_tensor *tx = cg_tensor_wrap_data(CG_U8, set->pixels, 4, (int64_t[]){ set->n, 1, set->side, set->side });
    cg_tensor *ty = cg_tensor_wrap_data(CG_I64, set->labels, 1, &set->n);
    if (cg_dataset_from_tensors(tx, ty, false, &ds) != CG_OK) die("dataset");
    cg_tensor_free(tx); /* the headers: the dataset borrows set's memory */
    cg_tensor_free(ty);
    cg_loader *l = cg_loader_new(ds, &lo);
    if (!l) die("loader");
    int64_t epoch = 0;
    for (int s = 0; s < steps; s++) {
        cg_batch b;
        while (!cg_loader_next(l, &b)) cg_loader_set_epoch(l, ++epoch);
        int64_t n = cg_tensor_size(b.y, 0);
        cg_optim_zero_grad(o);
        cg_tensor *lt = cg_nll_loss(cg_module_forward(m, b.x), b.y, CG_REDUCTION_MEAN);
        if (cg_backward(lt) != CG_OK) die("backward");
        float lv = cg_tensor_item(lt);
        if (dist && g_comm->allreduce_grads(g_comm->ctx, o, n, &lv) != CG_OK) die("allreduce");
        if (cg_optim_step(o) != CG_OK) die("step");
        cg_tape_release();
        if (loss) loss[s] = lv;
        if (exit_rank1_after >= 0 && rank == 1 && s + 1 >= exit_rank1_after) {
            fprintf(stderr, "dist_equiv: rank 1 exits after %d steps (test)\n", s + 1);
            exit(3);
        }
    }
    cg_loader_free(l);
    cg_dataset_free(ds);
    cg_optim_free(o);
}

static int write_idx(const char *dir) {
    static const char *names[4] = { "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" };
    for (int t = 0; t < 2; t++) {
        image_set s;
        int64_t n = t == 0 ? 256 : 64;
        make_set(&s, n, 28, t ? 77u : 11u);
        uint8_t lab[256];
        for (int64_t i = 0; i < n; i++) lab[i] = (uint8_t)s.labels[i];
        for (int k = 0; k < 2; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, names[2 * t + k]);
            FILE *f = fopen(path, "wb");
            if (!f) { perror(path); return 1; }
            uint8_t hdr[16] = { 0, 0, 8, k ? 1 : 3, 0, 0, (uint8_t)(n >> 8), (uint8_t)n, 0, 0, 0, 28, 0, 0, 0, 28 };
            fwrite(hdr, 1, k ? 8 : 16, f);
            fwrite(k ? lab : s.pixels, 1, (size_t)(k ? n : n * 28 * 28), f);
            if (fclose(f)) { perror(path); return 1; }
        }
        free_set(&s);
    }
    printf("OK: wrote a tiny IDX set to %s\n", dir);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write-idx")) return write_idx(argv[2]);
    int steps = 20, exit_after = -1;
    if (argc == 3 && !strcmp(argv[1], "--exit-rank1-after")) { exit_after = atoi(argv[2]); steps = 100000; }
    else if (argc == 2) steps = atoi(argv[1]);
    if (cg_dist_comm() != NULL) { fprintf(stderr, "dist_equiv: cg_dist_comm() before cg_dist_init is not NULL\n"); return 1; }
    if (cg_dist_init(&argc, &argv) != CG_OK) { fprintf(stderr, "%s\n", cg_last_error()); return 1; }
    g_rank = cg_dist_rank();
    int size = cg_dist_size();
    g_comm = cg_dist_comm();
    if (!g_comm || g_comm->rank != g_rank || g_comm->size != size || !g_comm->allreduce_grads ||
        !g_comm->broadcast_module)
        die("cg_dist_comm() after cg_dist_init: NULL, or not this rank's rank and size, or a call missing");
    cg_set_num_threads(1);

    image_set set;
    make_set(&set, 1000, 12, 3u);
    float *ref_loss = calloc((size_t)steps, sizeof(float)), *dp_loss = calloc((size_t)steps, sizeof(float));
    cg_module *ref = NULL;
    if (exit_after < 0) { /* the 1-rank reference: the whole global batch, no MPI */
        ref = small_net(42);
        train(ref, &set, 0, 1, false, steps, -1, ref_loss);
    }
    /* data parallel: a different init on every rank but 0, replaced by rank 0's */
    cg_module *dp = small_net(42 + (uint64_t)g_rank * 1000);
    if (g_comm->broadcast_module(g_comm->ctx, dp, 0) != CG_OK) die("broadcast");
    train(dp, &set, g_rank, size, true, steps, exit_after, dp_loss);

    int bad = 0;
    double worst = 0, worst_loss = 0, moved = 0;
    cg_named_list a, b;
    cg_module *init = small_net(42);
    cg_named_list c;
    if (cg_module_parameters(ref, &a) || cg_module_parameters(dp, &b) || cg_module_parameters(init, &c)) die("params");
    for (int64_t i = 0; i < a.n; i++) {
        const float *pa = cg_tensor_cdata(a.items[i].tensor), *pb = cg_tensor_cdata(b.items[i].tensor);
        const float *pc = cg_tensor_cdata(c.items[i].tensor);
        int64_t n = cg_tensor_numel(a.items[i].tensor);
        double amax = 0, dmax = 0;
        for (int64_t k = 0; k < n; k++) {
            amax = fmax(amax, fabs(pa[k]));
            dmax = fmax(dmax, fabs((double)pa[k] - pb[k]));
            moved = fmax(moved, fabs((double)pa[k] - pc[k]));
        }
        double rel = dmax / (amax > 0 ? amax : 1);
        if (rel > worst) worst = rel;
        if (rel > 1e-5) {
            fprintf(stderr, "rank %d: %s differs: max |diff| %.3g, relative %.3g\n", g_rank, a.items[i].name, dmax, rel);
            bad = 1;
        }
    }
    for (int s = 0; s < steps; s++) {
        double rel = fabs((double)ref_loss[s] - dp_loss[s]) / fabs(ref_loss[s]);
        if (rel > worst_loss) worst_loss = rel;
        if (rel > 1e-5) {
            fprintf(stderr, "rank %d: step %d loss %.7g (1 rank) vs %.7g (%d ranks)\n", g_rank, s, ref_loss[s], dp_loss[s], size);
            bad = 1;
        }
    }
    if (moved < 1e-3) { fprintf(stderr, "rank %d: training did not move the parameters\n", g_rank); bad = 1; }
    double v[1] = { bad };
    if (cg_dist_allreduce_sum(v, 1) != CG_OK) die("allreduce_sum");
    if (g_rank == 0 && v[0] == 0)
        printf("OK: %d ranks x %d rows == 1 rank x %d rows after %d steps: max relative parameter diff %.2g, "
               "loss diff %.2g (loss %.4f -> %.4f)\n", size, BATCH / size, BATCH, steps, worst, worst_loss,
               ref_loss[0], ref_loss[steps - 1]);
    cg_named_list_free(&a);
    cg_named_list_free(&b);
    cg_named_list_free(&c);
    cg_module_free(ref);
    cg_module_free(dp);
    cg_module_free(init);
    free_set(&set);
    free(ref_loss);
    free(dp_loss);
    cg_tape_free_all();
    cg_dist_finalize();
    return v[0] == 0 ? 0 : 1;
}
