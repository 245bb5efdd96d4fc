/* SPDX-License-Identifier: MIT */
/* cgrad/cgrad.h — the umbrella header: include this one.
 *
 *   cg_tensor *x = cg_tensor_full(1, CG_SHAPE(1), 2.0f), *a = cg_tensor_full(1, CG_SHAPE(1), 4.0f);
 *   cg_tensor_set_requires_grad(x, true); cg_tensor_set_requires_grad(a, true);
 *   cg_tensor *y = cg_mul(x, a);          // y belongs to the tape
 *   cg_backward(y);                       // x.grad == 4, a.grad == 2
 *   cg_tape_release();                    // recycle the step's intermediates
 *   cg_tensor_free(x); cg_tensor_free(a); // leaves belong to the caller
 *
 * Layers: tensor -> autograd (tape) -> ops -> nn (modules) / optim -> data, io.
 * Switches (fusion, conv algorithms) for A/B runs: cgrad/config.h. */
#ifndef CGRAD_CGRAD_H
#define CGRAD_CGRAD_H

#include "cgrad/version.h"
#include "cgrad/base.h"
#include "cgrad/config.h"
#include "cgrad/tensor.h"
#include "cgrad/autograd.h"
#include "cgrad/ops.h"
#include "cgrad/nn.h"
#include "cgrad/optim.h"
#include "cgrad/data.h"
#include "cgrad/io.h"
#include "cgrad/checkpoint.h"
#include "cgrad/comm.h"
#include "cgrad/train.h"

#endif
