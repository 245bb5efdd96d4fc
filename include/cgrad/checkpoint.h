/* SPDX-License-Identifier: MIT */
/* cgrad/checkpoint.h — a training run saved as one safetensors file: the module's state dict
 * under its own names (PyTorch's: "conv1.weight", ...), the optimizer's state under "optim.<name>"
 * ("optim.momentum_buffer.0"), and string metadata (the caller's, plus "net": the net's spec,
 * and "optim.type", "optim.step_count", "optim.lr").
 *
 * Ownership: these calls borrow everything they are given and keep nothing. */
#ifndef CGRAD_CHECKPOINT_H
#define CGRAD_CHECKPOINT_H

#include "cgrad/io.h"
#include "cgrad/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Atomic (write to a temporary file, fsync, rename). o may be NULL. The net's spec
 * (cg_module_spec, nn.h) goes into the metadata under "net" unless meta has a "net" of its own;
 * a net that cannot write its spec (a module type without a to_spec hook) is saved with its
 * weights only: the call still returns CG_OK, and cg_last_error() holds the note ("cg_checkpoint_save:
 * saved the weights only, without the net's spec: layer 3 (MyLayer) has no spec ..."); after a
 * save with the spec, cg_last_error() is "". A checkpoint with a spec rebuilds its net with
 * cg_net_from_spec(cg_safetensors_meta(st, "net"), ...) and cg_checkpoint_restore. */
CG_API cg_status cg_checkpoint_save(const char *path, const cg_module *m, const cg_optimizer *o,
                                    const cg_kv *meta, int64_t n_meta);
/* Restore the module's state dict from st, strictly: every entry must be present with the same
 * shape, and every tensor of the file outside "optim.*" must be one of the model's (nothing is
 * changed otherwise; the error names the tensor). When o is not NULL, also the optimizer's state tensors, step
 * count and lr; a file without optimizer state is an error then. The optimizer's part is exact or
 * refused: optim.step_count must be a whole number in 0..INT64_MAX-1 and optim.lr a finite
 * number >= 0 (both parsed completely); every "optim.<prefix>.<i>" tensor must be F32, shaped like
 * parameter i, with i written as a plain decimal index (no sign, no leading zero), and <prefix>
 * one of the optimizer's declared buffers (cg_optimizer.state_names: "momentum_buffer" for SGD
 * with momentum, "exp_avg" and "exp_avg_sq" for Adam and AdamW, none for SGD without momentum);
 * after one step or more every parameter must have every declared buffer (a parameter that never
 * had a gradient has none, so a checkpoint of such a run is refused), while at step 0 none may
 * be present. */
CG_API cg_status cg_checkpoint_restore(const cg_safetensors *st, cg_module *m, cg_optimizer *o);

/* Checkpoint metadata read strictly, for programs that keep their own keys: the value of key
 * parsed completely as a whole number (decimal digits, '-' only when lo < 0; no spaces, '+' or
 * leading zeros) in lo..hi, as an unsigned 64-bit number (u64), or as a finite number in lo..hi
 * (f64). A missing key, an empty value, a value that does not parse or lies out of range gives
 * CG_EFORMAT with a message naming the key and the value; *v is set only on success. */
CG_API cg_status cg_checkpoint_meta_int(const cg_safetensors *st, const char *key, int64_t lo, int64_t hi,
                                        int64_t *v);
CG_API cg_status cg_checkpoint_meta_u64(const cg_safetensors *st, const char *key, uint64_t *v);
CG_API cg_status cg_checkpoint_meta_f64(const cg_safetensors *st, const char *key, double lo, double hi,
                                        double *v);

#ifdef __cplusplus
}
#endif
#endif
