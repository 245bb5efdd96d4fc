/* SPDX-License-Identifier: MIT */
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
/* cli_str for a file name: an empty one is a usage error naming the flag. */
const char *cli_path(const char *prog, int argc, char **argv, int *i);
/* The default data directory: ./data/mnist if it exists, else Debian's Fashion-MNIST. */
const char *cli_default_data_dir(void);
/* After a failed cg_mnist_load with status st: "" for a corrupt file, else a hint (how to point
 * --data at a set, or install Debian's), to append to the same line. */
const char *cli_data_hint(cg_status st);
double cli_now(void);

/* ---- data ---- */
/* One set's source: the two files, or the pair cg_mnist_paths finds in dir (train: train-*,
 * else t10k-*). A dataset the caller frees; NULL after printing "prog: loading the <what> set:
 * <why><hint>" to stderr. */
cg_dataset *cli_open_set(const char *prog, const char *what, const char *dir, const char *images,
                         const char *labels, bool train);
/* One example's [C, H, W] of ds, in chw; false after printing why (images that are not
 * [N, H, W] or [N, C, H, W]). */
bool cli_example_chw(const char *prog, const cg_dataset *ds, int64_t chw[3]);
/* --normalize ARG: "MEAN,STD", "M1,..,Mk/S1,..,Sk", "none"; "auto" sets *is_auto (out untouched).
 * false (the message in err, err_cap bytes) for anything else. */
bool cli_parse_normalize(const char *arg, cg_normalize *out, bool *is_auto, char *err, size_t err_cap);
/* "M1,..,Mk/S1,..,Sk" (%.9g: parses back to the same floats), "none" for no normalisation. */
void cli_format_normalize(const cg_normalize *n, char *buf, size_t cap);
/* The seed's normalisation: mean 0.1307, std 0.3081 for every channel. */
cg_normalize cli_seed_normalize(void);
/* The net's classes: its output must be [K] per example (K >= 2 is not required: K >= 1). 0 after
 * printing why. */
int64_t cli_net_classes(const char *prog, const char *source, const cg_net_info *info);

/* ---- networks ---- */
/* The spec that --net ARG names: ARG itself, or with ARG = @FILE the file's text. A copy the
 * caller frees; NULL after printing "prog: --net @FILE: <why>" to stderr. */
char *cli_read_spec(const char *prog, const char *arg);
/* Builds the net of spec for one example of shape [c, h, w] (info filled, the caller's to free
 * with cg_net_info_free). NULL after printing "prog: <source>: <why>", where source says where
 * the spec came from ("--net", "the checkpoint's net spec", ...); a spec that does not fit the
 * example's shape is said as such, naming data (the images file) and the layer. */
cg_module *cli_build_net(const char *prog, const char *source, const char *spec, int64_t c, int64_t h,
                         int64_t w, const char *data, cg_net_info *info);

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

/* Evaluation over a whole loader in eval mode and no-grad mode: summed NLL and correct count;
 * with confusion non-NULL, the classes x classes confusion matrix (rows: true class; the
 * caller's array, zeroed here). A non-finite output or loss is an error (CG_EINVAL, the message
 * names the batch, the image and the class). */
typedef struct eval_result { double loss_sum; int64_t correct, n; } eval_result;
cg_status evaluate(cg_module *model, cg_loader *loader, int64_t classes, int64_t *confusion, eval_result *r);
/* "Test: average loss: %.4f, accuracy: %d/%d (%.0f%%)" */
void print_test_line(FILE *f, const eval_result *r);

#endif
