/* SPDX-License-Identifier: MIT */
/* examples/inception.c — a small CNN with an Inception-style block, built through the C API,
 * trained on data made in memory with Adam and a cosine schedule, saved, resumed in a second
 * process, then asked about single images held in a float buffer (docs/training-from-c.md).
 *
 *   inception train run.safetensors     # epochs 1..3, then save
 *   inception resume run.safetensors    # restore the run, epochs 4..6, predict */
#include <cgrad/cgrad.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N_TRAIN = 512, N_TEST = 128, CLASSES = 4, HW = 12, EPOCHS = 6, HALF = 3 };

/* Image of class k: a bright 4x4 square in quadrant k, plus noise (a fixed LCG: reproducible). */
static void make_image(float *img, int k, unsigned *state) {
    for (int i = 0; i < HW * HW; i++) {
        *state = *state * 1664525u + 1013904223u;
        img[i] = (float)(*state >> 8) / 16777216.0f * 0.5f;
    }
    int r0 = (k / 2) * 6 + 1, c0 = (k % 2) * 6 + 1;
    for (int r = r0; r < r0 + 4; r++)
        for (int c = c0; c < c0 + 4; c++) img[r * HW + c] += 0.8f;
}

static cg_dataset *make_set(int64_t n, unsigned seed, float *x, int64_t *y) {
    for (int64_t i = 0; i < n; i++) {
        y[i] = i % CLASSES;
        make_image(x + i * HW * HW, (int)y[i], &seed);
    }
    cg_tensor *tx = cg_tensor_from_data(CG_F32, 4, (int64_t[]){ n, 1, HW, HW }, x);
    cg_tensor *ty = cg_tensor_from_i64(1, (int64_t[]){ n }, y);
    cg_dataset *d = NULL;
    if (tx && ty) cg_dataset_from_tensors(tx, ty, true, &d);  /* copies: tx, ty may go */
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    return d;
}

static cg_module *conv(int64_t in, int64_t out, int64_t k) {
    cg_conv2d_params p = cg_conv2d_defaults();
    p.padding[0] = p.padding[1] = k / 2;  /* "same" padding: every branch keeps H and W */
    return cg_conv2d_new(in, out, k, &p, true);
}

/* conv 3x3 -> relu -> [1x1 | 1x1 -> 3x3 | maxpool 3x3 -> 1x1] concatenated -> relu -> pool ->
 * linear. The net ends in linear: the trainer's default loss (auto) is cross_entropy. */
static cg_module *build_net(void) {
    cg_module *net = cg_sequential_new(), *block = cg_parallel_new();
    cg_module *b1 = cg_sequential_new(), *b2 = cg_sequential_new(), *b3 = cg_sequential_new();
    cg_pool2d_params pool3 = { { 3, 3 }, { 1, 1 }, { 1, 1 } };
    cg_sequential_append(b1, NULL, conv(8, 4, 1));  /* each branch a Sequential (what a spec says) */
    cg_sequential_append(b2, NULL, conv(8, 4, 1));
    cg_sequential_append(b2, NULL, conv(4, 4, 3));
    cg_sequential_append(b3, NULL, cg_max_pool2d_new_p(&pool3));
    cg_sequential_append(b3, NULL, conv(8, 4, 1));
    cg_parallel_append(block, NULL, b1);  /* branches go by position: 0, 1, 2 */
    cg_parallel_append(block, NULL, b2);
    cg_parallel_append(block, NULL, b3);
    cg_sequential_append(net, "stem", conv(1, 8, 3));
    cg_sequential_append(net, NULL, cg_relu_new());
    cg_sequential_append(net, "inception", block);          /* 12 channels, 12x12 */
    cg_sequential_append(net, NULL, cg_relu_new());
    cg_sequential_append(net, NULL, cg_max_pool2d_new(2));  /* 12 x 6 x 6 */
    cg_sequential_append(net, NULL, cg_flatten_new());
    cg_sequential_append(net, "fc", cg_linear_new(12 * 6 * 6, CLASSES, true));
    return net;
}

static cg_status on_epoch_end(void *ctx, const cg_train_event *e, const cg_eval_result *test) {
    (void)ctx;
    printf("epoch %lld  lr %.5f  loss %.4f  test accuracy %.3f\n", (long long)e->epoch, e->lr, e->loss,
           (double)test->correct / (double)test->n);
    return CG_OK;
}

#define CHECK(ok) do { if (!(ok)) { fprintf(stderr, "inception: %s\n", cg_last_error()); return 1; } } while (0)

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "train") && strcmp(argv[1], "resume"))) {
        fprintf(stderr, "usage: inception train|resume FILE\n");
        return 2;
    }
    bool resume = strcmp(argv[1], "resume") == 0;
    cg_manual_seed(1);  /* the weights' initial values */
    static float xtr[N_TRAIN * HW * HW], xte[N_TEST * HW * HW];
    static int64_t ytr[N_TRAIN], yte[N_TEST];
    cg_dataset *train = make_set(N_TRAIN, 7, xtr, ytr), *test = make_set(N_TEST, 99, xte, yte);
    cg_module *net = build_net();
    CHECK(train && test && net);

    /* The run's recipe: Adam, a cosine schedule over 6 epochs, batch 32. On resume, the file's. */
    cg_run_config c = cg_run_defaults();
    c.optimizer = CG_OPTIM_ADAM;
    c.lr = 3e-3;
    c.schedule = CG_SCHED_COSINE;
    c.epochs = EPOCHS;
    c.batch_size = 32;
    cg_run_info info = { 0 };
    if (resume) {
        CHECK(cg_run_info_load(argv[2], &info) == CG_OK && info.has_run);
        c = info.config;
        printf("net: %s\n", info.spec ? info.spec : "(none)");  /* the net's spec, saved with it */
    }
    cg_train_callbacks cb = { .on_epoch_end = on_epoch_end };
    cg_trainer *t = cg_trainer_new_run(net, train, test, &c, NULL, &cb);  /* builds Adam and the schedule */
    CHECK(t);
    if (resume) {  /* a second process: weights, Adam's moments, the schedule, the streams, the epoch */
        CHECK(cg_trainer_resume(t, argv[2], NULL, NULL, 0) == CG_OK);
        printf("resumed %s at epoch %lld, lr %.5f\n", argv[2], (long long)cg_trainer_epoch(t),
               cg_trainer_optimizer(t)->lr);
    }
    CHECK(cg_trainer_fit(t, resume ? c.epochs : HALF) == CG_OK);

    if (!resume) {  /* the whole run in one file */
        CHECK(cg_trainer_save(t, argv[2]) == CG_OK);
        printf("saved %s\n", argv[2]);
    } else {  /* single images from a buffer we own: [1, 12, 12], one per class */
        float img[HW * HW];
        unsigned seed = 12345;
        for (int k = 0; k < CLASSES; k++) {
            make_image(img, k, &seed);
            cg_tensor *p = cg_trainer_predict_one(t, img, 3, (int64_t[]){ 1, HW, HW });
            CHECK(p);
            cg_tensor *c = cg_argmax(p, 1, false);
            CHECK(c);
            printf("image of class %d: predicted %lld\n", k, (long long)cg_tensor_cdata_i64(c)[0]);
            cg_tensor_free(p);
            cg_tape_release();
        }
    }
    cg_run_info_free(&info);
    cg_trainer_free(t);
    cg_module_free(net);
    cg_dataset_free(train);
    cg_dataset_free(test);
    return 0;
}
