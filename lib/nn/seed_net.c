/* lib/nn/seed_net.c — the seed's MNIST network, defined once (apps, benches and tests use it).
 * Children are named so that the state dict is PyTorch's: conv1.*, conv2.*, fc1.*, fc2.*. */
#include "cg_internal.h"

cg_module *cg_seed_net_new(void) {
    cg_module *s = cg_sequential_new();
    if (!s) return NULL;
    struct { const char *name; cg_module *m; } layers[] = {
        { "conv1", cg_conv2d_new(1, 32, 3, NULL, true) },   /* [N,32,26,26] */
        { "relu1", cg_relu_new() },
        { "conv2", cg_conv2d_new(32, 64, 3, NULL, true) },  /* [N,64,24,24] */
        { "relu2", cg_relu_new() },
        { "pool", cg_max_pool2d_new(2) },                  /* [N,64,12,12] */
        { "dropout1", cg_dropout_new(0.25f) },
        { "flatten", cg_flatten_new() },                   /* [N,9216] */
        { "fc1", cg_linear_new(9216, 128, true) },
        { "relu3", cg_relu_new() },
        { "dropout2", cg_dropout_new(0.5f) },
        { "fc2", cg_linear_new(128, 10, true) },
        { "log_softmax", cg_log_softmax_new(1) },
    };
    int n = (int)(sizeof layers / sizeof layers[0]);
    bool ok = true;
    for (int i = 0; i < n; i++) {
        if (!ok) { cg_module_free(layers[i].m); continue; }
        ok = cg_sequential_append(s, layers[i].name, layers[i].m) != NULL;
    }
    if (!ok) { cg_module_free(s); return NULL; }
    return s;
}
