/* SPDX-License-Identifier: MIT */
/* lib/train/trainer_internal.h — the trainer's fields, shared by trainer.c (the loop) and run.c
 * (the recipe, save and resume). */
#ifndef CGRAD_TRAINER_INTERNAL_H
#define CGRAD_TRAINER_INTERNAL_H
#include "cgrad/train.h"

struct cg_trainer {
    cg_module *net;
    cg_optimizer *opt;
    const cg_dataset *train, *test;
    cg_trainer_options o;
    cg_loss_kind loss;
    cg_loader *train_loader, *test_loader;
    cg_lr_scheduler *sched;
    cg_sched_every every;
    int64_t epoch;          /* epochs completed */
    bool checked;           /* the loss was checked against the net's output */
    bool in_epoch;          /* inside an epoch's batches (a save records the loader's position) */
    int64_t resume_batch;   /* batches of epoch + 1 already done (a resume mid-epoch); 0 else */
    /* cg_trainer_new_run: the recipe, and what the trainer built from it and owns */
    bool has_config;
    cg_run_config config;
    bool owns_opt;
    cg_lr_scheduler own_sched;
    bool has_dropout;       /* drop is the stream the net's dropout draws from */
    cg_rng drop;
};

#endif
