/* apps/common/cli.h — what the programs share: strict flag parsing (one-line errors, exit 2),
 * the progress bar, and the evaluation loop with its test line. */
#ifndef CGRAD_APPS_CLI_H
#define CGRAD_APPS_CLI_H

#include <stdint.h>
#include <stdio.h>
#include <cgrad/cgrad.h>
#include <cgrad/data.h>

/* Print "prog: message" and exit(2): bad flags and values. */
void cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* Parse argv[*i + 1] as the value of flag argv[*i] (advancing *i); range-checked. */
int64_t cli_int(const char *prog, int argc, char **argv, int *i, int64_t lo, int64_t hi);
double cli_float(const char *prog, int argc, char **argv, int *i, double lo, double hi);
const char *cli_str(const char *prog, int argc, char **argv, int *i);
/* The default data directory: ./data/mnist if it exists, else Debian's Fashion-MNIST. */
const char *cli_default_data_dir(void);
/* After a failed cg_mnist_load with status st: "" for a corrupt file, else a hint (how to point
 * --data at a set, or install Debian's), to append to the same line. */
const char *cli_data_hint(cg_status st);
double cli_now(void);

/* ---- networks ---- */
/* The spec that --net ARG names: ARG itself, or with ARG = @FILE the file's text. A copy the
 * caller frees; NULL after printing "prog: --net @FILE: <why>" to stderr. */
char *cli_read_spec(const char *prog, const char *arg);
/* Builds the net of spec for one example of shape [c, h, w] (info filled, the caller's to free
 * with cg_net_info_free). NULL after printing "prog: <source>: <why>", where source says where
 * the spec came from ("--net", "the checkpoint's net spec", ...). */
cg_module *cli_build_net(const char *prog, const char *source, const char *spec, int64_t c, int64_t h,
                         int64_t w, cg_net_info *info);

/* Progress bar: "Train epoch 1: 6400/60000, [---->      ] 10%  1523 img/s  ETA 0:35".
 * Redraws in place on a terminal; otherwise prints a plain line every tenth of the epoch. */
typedef struct progress {
    FILE *f;
    bool tty;
    int epoch;
    int64_t total, last_tenth;
    double t0;
} progress;
void progress_start(progress *p, FILE *f, int epoch, int64_t total);
void progress_update(progress *p, int64_t done);
void progress_finish(progress *p, int64_t done);

/* Evaluation over a whole loader in eval mode and no-grad mode: summed NLL and correct count,
 * optionally a 10x10 confusion matrix (rows: true class). A non-finite output or loss is an
 * error (CG_EINVAL, the message names the batch, the image and the class). */
typedef struct eval_result { double loss_sum; int64_t correct, n; int64_t confusion[10][10]; } eval_result;
cg_status evaluate(cg_module *model, cg_loader *loader, eval_result *r);
/* "Test: average loss: %.4f, accuracy: %d/%d (%.0f%%)" */
void print_test_line(FILE *f, const eval_result *r);

#endif
