/* cgrad/checkpoint.h — a training run saved as one safetensors file: the module's state dict
 * under its own names (PyTorch's: "conv1.weight", ...), the optimizer's state under "optim.<name>"
 * ("optim.momentum_buffer.0"), and string metadata (the caller's, plus "optim.type",
 * "optim.step_count", "optim.lr").
 *
 * Ownership: these calls borrow everything they are given and keep nothing. */
#ifndef CGRAD_CHECKPOINT_H
#define CGRAD_CHECKPOINT_H

#include "cgrad/io.h"
#include "cgrad/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Atomic (write to a temporary file, fsync, rename). o may be NULL. */
CG_API cg_status cg_checkpoint_save(const char *path, const cg_module *m, const cg_optimizer *o,
                                    const cg_kv *meta, int64_t n_meta);
/* Restore the module's state dict from st, strictly: every entry must be present with the same
 * shape, and every tensor of the file outside "optim.*" must be one of the model's (nothing is
 * changed otherwise; the error names the tensor). When o is not NULL, also the optimizer's state tensors, step
 * count and lr; a file without optimizer state is an error then. */
CG_API cg_status cg_checkpoint_restore(const cg_safetensors *st, cg_module *m, cg_optimizer *o);

#ifdef __cplusplus
}
#endif
#endif
