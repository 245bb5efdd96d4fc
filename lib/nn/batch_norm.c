/* lib/nn/batch_norm.c — BatchNorm2d: weight=1, bias=0, running_mean=0, running_var=1,
 * num_batches_tracked as PyTorch's state_dict has it (saved as an I64 scalar of shape []). */
#include "init.h"

typedef struct bn2d {
    cg_module base;
    cg_tensor *weight, *bias, *running_mean, *running_var, *num_batches;
    float eps, momentum;
} bn2d;

static cg_tensor *bn2d_forward(cg_module *m, cg_tensor *x) {
    bn2d *b = (bn2d *)m;
    if (m->training) b->num_batches->data[0] += 1.0f;
    return cg_batch_norm2d(x, b->weight, b->bias, b->running_mean, b->running_var, m->training,
                           b->momentum, b->eps);
}

static const cg_module_type bn2d_type = { "BatchNorm2d", bn2d_forward, NULL };

cg_module *cg_batch_norm2d_new(int64_t channels, float eps, float momentum) {
    if (channels <= 0) return (cg_module *)CG_FAIL(CG_EINVAL, "BatchNorm2d: channels must be positive");
    const int64_t *c = CG_SHAPE(channels);
    if (cg_nn_check_size("BatchNorm2d", "weight", 1, c) != CG_OK) return NULL;
    bn2d *b = (bn2d *)cg_module_new(&bn2d_type, sizeof *b);
    if (!b) return NULL;
    b->eps = eps;
    b->momentum = momentum;
    /* One tensor at a time: after a failure nothing more is allocated. */
    const char *names[4] = { "weight", "bias", "running_mean", "running_var" };
    cg_tensor **slots[4] = { &b->weight, &b->bias, &b->running_mean, &b->running_var };
    for (int i = 0; i < 4; i++) {
        cg_tensor *t = (i == 0 || i == 3) ? cg_tensor_ones(1, c) : cg_tensor_zeros(1, c);
        *slots[i] = i < 2 ? cg_module_add_parameter(&b->base, names[i], t) : cg_module_add_buffer(&b->base, names[i], t);
        if (!*slots[i]) { cg_module_free(&b->base); return cg_nn_alloc_failed("BatchNorm2d", names[i], 1, c); }
    }
    b->num_batches = cg_module_add_buffer(&b->base, "num_batches_tracked", cg_tensor_zeros(0, NULL));
    if (!b->num_batches) { cg_module_free(&b->base); return cg_nn_alloc_failed("BatchNorm2d", "num_batches_tracked", 0, NULL); }
    b->num_batches->flags |= CG_T_COUNT;   /* PyTorch stores it as an I64 scalar of shape [] */
    return &b->base;
}
