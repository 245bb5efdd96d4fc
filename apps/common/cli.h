/* SPDX-License-Identifier: MIT */
/* apps/common/cli.h — what the programs share: strict flag parsing (one-line errors, exit 2),
 * the data sets and the net a program opens, the --save path check, the progress bar, and the
 * test line of an evaluation (cg_evaluate). The training log (progress, metrics CSV, test line as
 * the trainer's callbacks) is train_log.h; data parallelism under mpirun is dp.h.
 *
 * Ownership: what a cli_ call returns is the caller's where its comment says so (datasets, specs,
 * nets); the rest returns borrowed strings (optarg, static text) or nothing. */
#ifndef CGRAD_APPS_CLI_H
#define CGRAD_APPS_CLI_H

#include <stdint.h>
#include <getopt.h>
#include <stdio.h>
#include <cgrad/cgrad.h>
#include <cgrad/data.h>

/* Print "prog: message (see prog --help)" and exit(2): bad flags and values. */
void cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* getopt_long over opts (each entry's val unique; 'h' for --help, 'V' for --version, the rest
 * > 255): the next option's val, with *flag its name ("--epochs") and optarg its value; -1 at the
 * end. --name=VALUE and --name VALUE both work. An unknown option, a missing value or a stray
 * argument is a one-line usage error (exit 2). */
int cli_next_opt(const char *prog, int argc, char **argv, const struct option *opts, const char **flag);
/* "prog (cgrad X.Y.Z)" and the BLAS in use, then exit(0). */
void cli_version(const char *prog) __attribute__((noreturn));
/* A flag's value, range-checked; a usage error names the flag. */
int64_t cli_int(const char *prog, const char *flag, const char *value, int64_t lo, int64_t hi);
double cli_float(const char *prog, const char *flag, const char *value, double lo, double hi);
/* A file name: an empty one is a usage error naming the flag. */
const char *cli_path(const char *prog, const char *flag, const char *value);
/* --threads' default: OMP_NUM_THREADS when it is set to a positive integer (its first entry),
 * else 0 (every core). */
int64_t cli_default_threads(void);
/* The default data directory: ./data/mnist if it exists, else Debian's Fashion-MNIST. */
const char *cli_default_data_dir(void);
/* After a failed cg_dataset_mnist_open / cg_dataset_idx_open with status st: "" for a corrupt
 * file, else a hint (how to point --data at a set, or install Debian's), to append to the line. */
const char *cli_data_hint(cg_status st);
double cli_now(void);
/* --save PATH, checked before anything is loaded or trained so that a bad path fails at once:
 * not a directory, a symbolic link or another non-regular file, and a writable directory (the
 * save's temporary has a random name: nothing left beside PATH blocks it). false after printing "prog: --save PATH: <why>". */
bool cli_save_path_ok(const char *prog, const char *path);
/* The files a program opens itself (the library's readers and writers check their own): an input
 * is opened with O_NONBLOCK (a FIFO never blocks the open), kept only if fstat says it is a
 * regular file, then made blocking again; *size (may be NULL) is its size. NULL after printing
 * "prog: WHAT PATH: <why>" (a FIFO, device, socket or directory is refused, named). */
FILE *cli_open_input(const char *prog, const char *what, const char *path, int64_t *size);
/* The one output a program appends to rather than replaces (--metrics: rows accumulate over
 * resumed runs, so lib/io's write-a-temporary-and-rename would copy the file at every row): opened
 * O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW|O_NONBLOCK, so a symbolic link is refused (as --save
 * refuses it) and a FIFO never blocks; then only a regular file is kept (fstat). A hard link to a
 * regular file is appended to, as any regular file. NULL after printing "prog: WHAT PATH: <why>". */
FILE *cli_open_append(const char *prog, const char *what, const char *path);
/* Whether an MPI launcher started this process (mpirun sets OMPI_COMM_WORLD_SIZE, PMIX_RANK, ...). */
bool cli_under_mpi_launcher(void);

/* ---- data ---- */
/* One set's source: the two files, or the pair cg_dataset_mnist_open finds in dir (train: train-*,
 * else t10k-*). A dataset the caller frees; NULL after printing "prog: loading the <what> set:
 * <why><hint>" to stderr. */
cg_dataset *cli_open_set(const char *prog, const char *what, const char *dir, const char *images,
                         const char *labels, bool train);
/* One example's [C, H, W] of ds, in chw; false after printing why (images that are not
 * [N, H, W] or [N, C, H, W]). */
bool cli_example_chw(const char *prog, const cg_dataset *ds, int64_t chw[3]);
/* One example's [C, H, W] of train in chw, the same as test's; false after printing why. */
bool cli_sets_chw(const char *prog, const cg_dataset *train, const cg_dataset *test, int64_t chw[3]);
/* Whether norm (what names it in the message) fits images of c channels (those of data); false
 * after printing why. */
bool cli_norm_fits(const char *prog, const char *what, const cg_normalize *norm, int64_t c, const char *data);
/* The seed's normalisation: mean 0.1307, std 0.3081 for every channel. */
cg_normalize cli_seed_normalize(void);
/* The net's classes: its output must be [K] per example (K >= 2 is not required: K >= 1). 0 after
 * printing why. */
int64_t cli_net_classes(const char *prog, const char *source, const cg_net_info *info);
/* The class names of path, one a line (blank lines skipped, names cut to 64 bytes): exactly
 * `classes` of them. One allocation (the array and its strings), the caller's to free; NULL
 * after printing "prog: --classes PATH: <why>". */
char **cli_read_classes(const char *prog, const char *path, int64_t classes);

/* ---- networks ---- */
/* The spec that --net ARG names: ARG itself, or with ARG = @FILE the file's text. A copy the
 * caller frees; NULL after printing "prog: --net @FILE: <why>" to stderr. */
char *cli_read_spec(const char *prog, const char *arg);
/* Builds the net of spec for one example of shape [c, h, w] (info filled, the caller's to free
 * with cg_net_info_free), after checking that its forward at `batch` examples fits the machine's
 * memory (cg_net_check_spec). NULL after printing "prog: <source>: <why>", where source says where
 * the spec came from ("--net", "the checkpoint's net spec", ...); a spec that does not fit the
 * example's shape is said as such, naming data (the images file) and the layer. */
cg_module *cli_build_net(const char *prog, const char *source, const char *spec, int64_t c, int64_t h,
                         int64_t w, int64_t batch, const char *data, cg_net_info *info);

/* Whether the net saved as spec `saved` is the one built from the text `given` (built): the same
 * text, or the spec built writes of itself (cg_module_spec: files keep that form, without the
 * comments and line breaks of a spec file). */
bool cli_same_net(const char *saved, const char *given, const cg_module *built);

/* Progress bar:
 *   "Train epoch 1: 6400/60000, [---->      ] 10%  loss 0.4123  1523 img/s  0:04 elapsed  ETA 0:35"
 * On a terminal it is redrawn in place, fitted to the terminal's width (read again after a
 * SIGWINCH: the elapsed time and ETA go first, then the bar, the example counts, img/s and the
 * percentage; the epoch and the loss stay) and cleared to the end of the line, so it never wraps. When stdout is not a terminal, or under an MPI launcher (whose pty
 * would join the redraws into one line), it prints a plain line every tenth of the epoch. loss is
 * the mean of the last PROGRESS_WINDOW steps' training losses. */
#define PROGRESS_WINDOW 20
typedef struct progress {
    FILE *f;
    bool tty;
    int epoch;
    int64_t total, last_tenth;
    double t0;
    double win[PROGRESS_WINDOW];
    int64_t steps;
} progress;
void progress_start(progress *p, FILE *f, int epoch, int64_t total);
/* done: examples so far; loss: this step's training loss. */
void progress_update(progress *p, int64_t done, double loss);
void progress_finish(progress *p, int64_t done);
/* The progress line into buf (cap bytes) for a terminal of cols columns (0: no limit, the full
 * line). For the tests of the fitting. */
void progress_format(const progress *p, int64_t done, bool final, int cols, char *buf, size_t cap);

/* "Test: average loss: %.4f, accuracy: %d/%d (%.0f%%)" */
void print_test_line(FILE *f, const cg_eval_result *r);

#endif
