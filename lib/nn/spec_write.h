/* SPDX-License-Identifier: MIT */
/* lib/nn/spec_write.h — what the built-in modules' to_spec hooks share (lib/nn/spec_write.c). */
#ifndef CG_NN_SPEC_WRITE_H
#define CG_NN_SPEC_WRITE_H
#include "cg_internal.h"

/* The shortest decimal that reads back (strtod, then float) as v: "0.5", "1e-05". */
#define CG_SPEC_NUM_LEN 32
const char *cg_spec_float(char buf[CG_SPEC_NUM_LEN], float v);
/* A container that writes its children as a bare list (Sequential) calls this: true where the
 * module being written may be one (the net itself, a branch), and then marks it done; false
 * elsewhere (a Sequential inside a Sequential has no word). */
bool cg_spec_take_list(cg_spec_writer *w);

#endif
