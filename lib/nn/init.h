/* SPDX-License-Identifier: MIT */
/* lib/nn/init.h — PyTorch's default initialisation, shared by Linear and Conv2d, and the size
 * checks every layer constructor makes before it allocates anything. */
#ifndef CG_NN_INIT_H
#define CG_NN_INIT_H
#include "cg_internal.h"
#include "spec_write.h"
/* kaiming_uniform_(a=sqrt(5)) on a weight with this fan_in is U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
 * the same bound PyTorch gives the bias. */
cg_tensor *cg_init_fan_in_uniform(int ndim, const int64_t *shape, int64_t fan_in);
/* CG_OK when a tensor of this shape can exist (its element count, overflow-safe, within the
 * tensor limit); else an error "<module>: <name> [shape] has too many elements". */
cg_status cg_nn_check_size(const char *module, const char *name, int ndim, const int64_t *shape);
/* After a parameter or buffer failed to allocate: prefix the message with the module and the
 * tensor's name ("Linear: weight [4096, 4096]: out of memory allocating ..."). Returns NULL. */
cg_module *cg_nn_alloc_failed(const char *module, const char *name, int ndim, const int64_t *shape);
#endif
