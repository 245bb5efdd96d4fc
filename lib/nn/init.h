/* lib/nn/init.h — PyTorch's default initialisation, shared by Linear and Conv2d. */
#ifndef CG_NN_INIT_H
#define CG_NN_INIT_H
#include "cg_internal.h"
/* kaiming_uniform_(a=sqrt(5)) on a weight with this fan_in is U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
 * the same bound PyTorch gives the bias. */
cg_tensor *cg_init_fan_in_uniform(int ndim, const int64_t *shape, int64_t fan_in);
#endif
