/* SPDX-License-Identifier: MIT */
/* apps/common/train_log.h — the programs' training log, as the trainer's callbacks
 * (cg_train_callbacks): per step the progress bar (cli.h) and every metrics_every steps a CSV
 * row; per epoch the bar's last line, the test line ("Test: average loss: ..."), an epoch row,
 * then the program's own after_test hook (mnist-train saves its checkpoint there).
 *
 *   FILE *mf = path ? metrics_open(prog, path) : NULL;   // checked before anything is trained
 *   train_log log = train_log_new(prog, opt, train->n);
 *   log.metrics = mf; log.metrics_path = path; log.metrics_every = 100;
 *   log.after_test = save_hook; log.hook_ctx = &mine;
 *   to.callbacks = train_log_callbacks(&log);
 *   if (cg_trainer_fit(t, epochs) != CG_OK && !log.printed) ...print cg_last_error()
 *
 * CSV: "kind,epoch,step,loss,accuracy,img_per_s,lr,seconds", appended; the header is written when
 * the file is new or empty. Every write, flush and close is checked: a failure stops the run
 * (CG_EIO) after a line naming the file (a full disk, /dev/full, ...).
 *
 * Ownership: the log borrows its optimizer, its metrics FILE (the caller opens and closes it) and
 * the hook's ctx; it allocates nothing. It must outlive the trainer's use of its callbacks. */
#ifndef CGRAD_APPS_TRAIN_LOG_H
#define CGRAD_APPS_TRAIN_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "cli.h"

typedef struct train_log {
    /* set by the caller (train_log_new fills the first three and the start time) */
    const char *prog;            /* messages: "prog: --metrics PATH: ..." */
    const cg_optimizer *opt;     /* the step rows' lr: opt->lr after the step */
    int64_t total;               /* examples per epoch: the progress bar's 100% */
    FILE *metrics;               /* NULL: no CSV */
    const char *metrics_path;    /* named in the messages */
    int64_t metrics_every;       /* steps between step rows; 0: epoch rows only */
    bool no_dropout;             /* dropout_off at each epoch's start */
    /* After the test line and the epoch row (on the rank that evaluates). A status other than
     * CG_OK stops the run: the hook has printed why. */
    cg_status (*after_test)(void *ctx, const cg_train_event *e);
    /* After each step's bookkeeping, before the bar is redrawn; same rule. */
    cg_status (*after_step)(void *ctx, const cg_train_event *e);
    void *hook_ctx;
    bool printed;                /* a callback printed why it stopped the run */
    /* the log's own */
    progress pb;
    double t0, win_loss, win_t0;
    int64_t win_n, win_imgs, done;
} train_log;

/* A log of prog's run (stdout), started now (the seconds column counts from here). */
train_log train_log_new(const char *prog, const cg_optimizer *opt, int64_t total);
/* The trainer's callbacks over log (ctx = log). */
cg_train_callbacks train_log_callbacks(train_log *log);

/* The CSV at path, opened for appending (header written if it is empty); NULL after printing
 * "prog: --metrics PATH: <why>". The caller fcloses it (and checks the close). */
FILE *metrics_open(const char *prog, const char *path);
/* One row (acc < 0: left empty); true when f is NULL. false after printing why. */
bool metrics_row(const char *prog, FILE *f, const char *path, const char *kind, int64_t epoch, int64_t step,
                 double loss, double acc, double ips, double lr, double secs);
/* --no-dropout: dropout modules (Dropout, Dropout2d, nested) stay in eval mode (identity) while
 * the rest trains. */
void dropout_off(cg_module *m);

#endif
