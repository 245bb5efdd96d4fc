/* SPDX-License-Identifier: MIT */
/* apps/common/cli.c — flag parsing, data sets, nets, the --save check, the progress bar and the test
 * line, shared by the programs (cli.h). */
#define _DEFAULT_SOURCE /* TIOCGWINSZ, SIGWINCH with the POSIX set */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

void cli_usage_error(const char *prog, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see %s --help)\n", prog);
    exit(2);
}

int cli_next_opt(const char *prog, int argc, char **argv, const struct option *opts, const char **flag) {
    static char name[64];
    opterr = 0; /* our messages, one line each */
    int idx = -1;
    int c = getopt_long(argc, argv, ":hV", opts, &idx);
    if (c == -1) {
        if (optind < argc) cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (c == '?') {
        if (optopt && optopt < 256) cli_usage_error(prog, "unknown option '-%c'", optopt);
        cli_usage_error(prog, "unknown option '%s'", argv[optind - 1]);
    }
    if (c == ':') {
        for (const struct option *o = opts; o->name; o++)
            if (o->val == optopt) cli_usage_error(prog, "--%s needs a value", o->name);
        cli_usage_error(prog, "%s needs a value", argv[optind - 1]);
    }
    if (idx < 0) /* a short option: find its long name */
        for (int k = 0; opts[k].name; k++)
            if (opts[k].val == c) { idx = k; break; }
    snprintf(name, sizeof name, "--%s", idx >= 0 ? opts[idx].name : "?");
    if (flag) *flag = name;
    return c;
}

void cli_version(const char *prog) {
    printf("%s (cgrad %s)\n%s\n", prog, cg_version(), cg_blas_info());
    exit(0);
}

const char *cli_path(const char *prog, const char *flag, const char *s) {
    if (!*s) cli_usage_error(prog, "%s: the path is empty", flag);
    return s;
}

int64_t cli_int(const char *prog, const char *flag, const char *s, int64_t lo, int64_t hi) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        cli_usage_error(prog, "%s: '%s' is not an integer", flag, s);
    if (v < lo || v > hi)
        cli_usage_error(prog, "%s: %lld is outside %lld..%lld", flag, v, (long long)lo, (long long)hi);
    return v;
}

double cli_float(const char *prog, const char *flag, const char *s, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        cli_usage_error(prog, "%s: '%s' is not a number", flag, s);
    if (v < lo || v > hi) cli_usage_error(prog, "%s: %g is outside %g..%g", flag, v, lo, hi);
    return v;
}

int64_t cli_default_threads(void) {
    const char *e = getenv("OMP_NUM_THREADS");
    if (!e) return 0;
    char *end;
    errno = 0;
    long v = strtol(e, &end, 10);
    return (!errno && end != e && (*end == '\0' || *end == ',') && v > 0 && v <= 4096) ? v : 0;
}

const char *cli_data_hint(cg_status st) {
    if (st != CG_EIO && st != CG_EINVAL) return "";
    return " (pass --data DIR, a folder with the four MNIST-format IDX files, raw or .gz; or "
           "apt-get install dataset-fashion-mnist, which puts Fashion-MNIST in /usr/share/datasets/fashion-mnist)";
}

const char *cli_default_data_dir(void) {
    struct stat st;
    if (stat("data/mnist", &st) == 0 && S_ISDIR(st.st_mode)) return "data/mnist";
    return "/usr/share/datasets/fashion-mnist";
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- data ---------------------------------------------------------------- */
cg_dataset *cli_open_set(const char *prog, const char *what, const char *dir, const char *images,
                         const char *labels, bool train) {
    cg_dataset *ds = NULL;
    cg_status st = images ? cg_dataset_idx_open(images, labels, &ds) : cg_dataset_mnist_open(dir, train, &ds);
    if (st != CG_OK) {
        /* The hint is for a folder that is missing or incomplete; a file named one by one is its own
         * message (the path and the problem). */
        fprintf(stderr, "%s: loading the %s set: %s%s\n", prog, what, cg_last_error(), images ? "" : cli_data_hint(st));
        return NULL;
    }
    return ds;
}

bool cli_example_chw(const char *prog, const cg_dataset *ds, int64_t chw[3]) {
    if (ds->ndim != 3) {
        fprintf(stderr, "%s: %s: the images are [N, %lld]; the programs need [N, H, W] or [N, C, H, W]\n", prog,
                ds->name, (long long)ds->shape[0]);
        return false;
    }
    for (int i = 0; i < 3; i++) chw[i] = ds->shape[i];
    return true;
}

cg_normalize cli_seed_normalize(void) {
    return (cg_normalize){ .channels = 1, .mean = { 0.1307f }, .std = { 0.3081f } };
}

bool cli_sets_chw(const char *prog, const cg_dataset *train, const cg_dataset *test, int64_t chw[3]) {
    int64_t t[3];
    if (!cli_example_chw(prog, train, chw) || !cli_example_chw(prog, test, t)) return false;
    if (memcmp(chw, t, sizeof t) == 0) return true;
    fprintf(stderr, "%s: the training images (%s) are [%lld, %lld, %lld] but the test images (%s) [%lld, %lld, "
            "%lld]: both sets need one example shape\n", prog, train->name, (long long)chw[0], (long long)chw[1],
            (long long)chw[2], test->name, (long long)t[0], (long long)t[1], (long long)t[2]);
    return false;
}

bool cli_norm_fits(const char *prog, const char *what, const cg_normalize *norm, int64_t c, const char *data) {
    if (norm->channels <= 1 || norm->channels == c) return true;
    fprintf(stderr, "%s: %s: %d channels, but the images in %s have %lld\n", prog, what, norm->channels, data,
            (long long)c);
    return false;
}

bool cli_same_net(const char *saved, const char *given, const cg_module *built) {
    if (!strcmp(saved, given)) return true;
    char *own = NULL;
    bool same = cg_module_spec(built, &own) == CG_OK && !strcmp(own, saved);
    cg_module_spec_free(own);
    return same;
}

int64_t cli_net_classes(const char *prog, const char *source, const cg_net_info *info) {
    const cg_net_row *last = info->n ? &info->rows[info->n - 1] : NULL;
    if (!last || last->ndim != 1) {
        fprintf(stderr, "%s: %s: the net's output per example must be [classes] (log-probabilities), not %d-D\n",
                prog, source, last ? last->ndim : 0);
        return 0;
    }
    return last->shape[0];
}

/* ---- progress ------------------------------------------------------------ */
static volatile sig_atomic_t g_winch = 1; /* 1: read the width at the first draw */
static void on_winch(int sig) { (void)sig; g_winch = 1; }

bool cli_under_mpi_launcher(void) {
    const char *vars[] = { "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK" };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) if (getenv(vars[i])) return true;
    return false;
}

static int term_cols(FILE *f) {
    static int cols = 80;
    if (g_winch) {
        g_winch = 0;
        struct winsize ws;
        if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) cols = ws.ws_col;
    }
    return cols;
}

void progress_start(progress *p, FILE *f, int epoch, int64_t total) {
    *p = (progress){ .f = f, .tty = isatty(fileno(f)) && !cli_under_mpi_launcher(), .epoch = epoch, .total = total,
                     .last_tenth = 0, .t0 = cli_now() };
    static bool installed;
    if (p->tty && !installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_winch;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGWINCH, &sa, NULL);
        installed = true;
    }
}

static void mmss(char *b, size_t n, double secs) {
    int s = secs > 0 && secs < 1e7 ? (int)secs : 0;
    if (s >= 3600) snprintf(b, n, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    else snprintf(b, n, "%d:%02d", s / 60, s % 60);
}

void progress_format(const progress *p, int64_t done, bool final, int cols, char *buf, size_t cap) {
    double frac = p->total ? (double)done / (double)p->total : 1.0;
    if (frac > 1) frac = 1;
    double el = cli_now() - p->t0, rate = el > 0 ? (double)done / el : 0;
    double eta = rate > 0 ? (double)(p->total - done) / rate : 0;
    int64_t k = p->steps < PROGRESS_WINDOW ? p->steps : PROGRESS_WINDOW;
    double lsum = 0;
    for (int64_t i = 0; i < k; i++) lsum += p->win[i];
    char t1[24], t2[24];
    mmss(t1, sizeof t1, el);
    mmss(t2, sizeof t2, eta);
    /* The line's parts in order. When it is too long for the terminal they go by rank: the times
     * first, then the bar (after shrinking to 10), the example counts, img/s, the percentage.
     * The epoch and the loss, the figure a person watches, never go. */
    enum { P_EPOCH, P_COUNTS, P_BAR, P_PCT, P_LOSS, P_RATE, P_TIME, P_N };
    struct { char text[80]; int rank; bool keep; } pt[P_N];
    static const int rank[P_N] = { [P_EPOCH] = -1, [P_COUNTS] = 2, [P_BAR] = 1, [P_PCT] = 4,
                                   [P_LOSS] = -1, [P_RATE] = 3, [P_TIME] = 0 };
    snprintf(pt[P_EPOCH].text, sizeof pt[0].text, "Train epoch %d:", p->epoch);
    snprintf(pt[P_COUNTS].text, sizeof pt[0].text, " %lld/%lld,", (long long)done, (long long)p->total);
    pt[P_BAR].text[0] = '\0';   /* drawn below, once its width is known */
    snprintf(pt[P_PCT].text, sizeof pt[0].text, " %d%%", (int)(frac * 100.0));
    if (k) snprintf(pt[P_LOSS].text, sizeof pt[0].text, "  loss %.4f", lsum / (double)k);
    else pt[P_LOSS].text[0] = '\0';
    snprintf(pt[P_RATE].text, sizeof pt[0].text, "  %.0f img/s", rate);
    if (final) snprintf(pt[P_TIME].text, sizeof pt[0].text, "  took %s", t1);
    else snprintf(pt[P_TIME].text, sizeof pt[0].text, "  %s elapsed  ETA %s", t1, t2);
    for (int i = 0; i < P_N; i++) { pt[i].rank = rank[i]; pt[i].keep = true; }
    /* Fit: the bar is " [" + 30 + "]" when there is room and shrinks to 10 before it goes; a line
     * never reaches the last column (some terminals wrap there). */
    int avail = cols > 0 ? cols - 1 : 1 << 20, bar = 30;
    for (int r = 0;; r++) {
        int len = 0;
        for (int i = 0; i < P_N; i++) if (pt[i].keep) len += (int)strlen(pt[i].text);
        if (!pt[P_BAR].keep) { bar = 0; if (len <= avail) break; }
        else if (len + 3 + bar <= avail) break;
        else if (len + 3 + 10 <= avail) { bar = avail - len - 3; break; }
        if (r > 4) break;   /* only the epoch and the loss are left: cut at the end below */
        for (int i = 0; i < P_N; i++) if (pt[i].rank == r) pt[i].keep = false;
    }
    if (pt[P_BAR].keep) {
        if (bar > 30) bar = 30;
        int fill = (int)(frac * bar), n = snprintf(pt[P_BAR].text, sizeof pt[0].text, " [");
        for (int i = 0; i < bar; i++) pt[P_BAR].text[n++] = i < fill - 1 ? '-' : (i == fill - 1 ? '>' : ' ');
        pt[P_BAR].text[n++] = ']';
        pt[P_BAR].text[n] = '\0';
    }
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < P_N && n < cap; i++)
        if (pt[i].keep) n += (size_t)snprintf(buf + n, cap - n, "%s", pt[i].text);
    if (cols > 0 && (int)strlen(buf) > avail) buf[avail > 0 ? avail : 0] = '\0'; /* a tiny terminal */
}

static void progress_draw(progress *p, int64_t done, bool final) {
    char line[512];
    progress_format(p, done, final, p->tty ? term_cols(p->f) : 0, line, sizeof line);
    if (p->tty) fprintf(p->f, "\r%s\033[K%s", line, final ? "\n" : "");
    else fprintf(p->f, "%s\n", line);
    fflush(p->f);
}

void progress_update(progress *p, int64_t done, double loss) {
    p->win[p->steps % PROGRESS_WINDOW] = loss;
    p->steps++;
    if (p->tty) { progress_draw(p, done, false); return; }
    int64_t tenth = p->total ? done * 10 / p->total : 10;
    if (tenth > p->last_tenth && done < p->total) {
        p->last_tenth = tenth;
        progress_draw(p, done, false);
    }
}

void progress_finish(progress *p, int64_t done) { progress_draw(p, done, true); }

/* ---- evaluation ---------------------------------------------------------- */
void print_test_line(FILE *f, const cg_eval_result *r) {
    double n = r->n ? (double)r->n : 1.0;
    fprintf(f, "Test: average loss: %.4f, accuracy: %d/%d (%.0f%%)\n", r->loss_sum / n,
            (int)r->correct, (int)r->n, 100.0 * (double)r->correct / n);
}

/* ---- networks ---- */
#define CLI_MAX_SPEC_BYTES (1 << 20)

char *cli_read_spec(const char *prog, const char *arg) {
    if (arg[0] != '@') {
        char *s = strdup(arg);
        if (!s) fprintf(stderr, "%s: --net: out of memory\n", prog);
        return s;
    }
    const char *path = arg + 1;
    int64_t size;
    FILE *f = cli_open_input(prog, "--net @", path, &size);
    char *buf = NULL;
    if (!f) return NULL;
    if (size > CLI_MAX_SPEC_BYTES) {
        fprintf(stderr, "%s: --net @%s: %lld bytes is too long for a net spec (at most %d)\n", prog, path,
                (long long)size, CLI_MAX_SPEC_BYTES);
        fclose(f);
        return NULL;
    }
    if (!(buf = malloc((size_t)size + 1))) {
        fprintf(stderr, "%s: --net @%s: out of memory\n", prog, path);
        fclose(f);
        return NULL;
    }
    size_t n = fread(buf, 1, (size_t)size, f);
    bool bad = ferror(f) || n != (size_t)size || memchr(buf, '\0', n);
    fclose(f);
    if (bad) {
        fprintf(stderr, "%s: --net @%s: %s\n", prog, path, n != (size_t)size ? "read failed" : "holds a NUL byte");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

cg_module *cli_build_net(const char *prog, const char *source, const char *spec, int64_t c, int64_t h,
                         int64_t w, int64_t batch, const char *data, cg_net_info *info) {
    /* The check first: its status tells a spec that does not fit the data from a malformed one (or
     * from a forward too large for the machine at this batch, CG_ENOMEM). */
    cg_status st = cg_net_check_spec(spec, 3, CG_SHAPE(c, h, w), batch, NULL);
    if (st == CG_ESHAPE) {
        fprintf(stderr, "%s: %s does not fit the images in %s (one example is [%lld, %lld, %lld]): %s\n", prog,
                source, data, (long long)c, (long long)h, (long long)w, cg_last_error());
        return NULL;
    }
    cg_module *m = st == CG_OK ? cg_net_from_spec(spec, 3, CG_SHAPE(c, h, w), info) : NULL;
    if (!m) fprintf(stderr, "%s: %s: %s\n", prog, source, cg_last_error());
    return m;
}

/* ---- the files the programs open themselves ---- */
/* what and path joined as the flag shows them: "--classes" "x" -> "--classes x", "--net @" "x" -> "--net @x" */
static const char *sep(const char *what) { return what[0] && what[strlen(what) - 1] == '@' ? "" : " "; }

FILE *cli_open_input(const char *prog, const char *what, const char *path, int64_t *size) {
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; then only a regular file is read. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "%s: %s%s%s: %s\n", prog, what, sep(what), path, strerror(errno));
        return NULL;
    }
    struct stat st;
    const char *why = NULL;
    if (fstat(fd, &st) != 0) why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file (a FIFO, device or socket); give a file";
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) why = strerror(errno);
    FILE *f = why ? NULL : fdopen(fd, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s%s%s: %s\n", prog, what, sep(what), path, why ? why : strerror(errno));
        close(fd);
        return NULL;
    }
    if (size) *size = (int64_t)st.st_size;
    return f;
}

FILE *cli_open_append(const char *prog, const char *what, const char *path) {
    /* O_NOFOLLOW: a symbolic link (dangling or not) is refused as --save refuses it; O_NONBLOCK: a
     * FIFO without a reader fails at once (ENXIO), one with a reader and a device are refused by
     * the fstat. */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        struct stat st;
        if (e == ELOOP || (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)))
            fprintf(stderr, "%s: %s %s: is a symbolic link; give the file it points to\n", prog, what, path);
        else if (e == EISDIR || (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)))
            fprintf(stderr, "%s: %s %s: is a directory\n", prog, what, path);
        else if (e == ENXIO || (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)))
            fprintf(stderr, "%s: %s %s: exists and is not a regular file (a FIFO, device or socket)\n", prog, what,
                    path);
        else
            fprintf(stderr, "%s: %s %s: cannot open for appending: %s\n", prog, what, path, strerror(e));
        return NULL;
    }
    struct stat st;
    const char *why = NULL;
    if (fstat(fd, &st) != 0) why = strerror(errno);
    else if (!S_ISREG(st.st_mode)) why = "exists and is not a regular file (a FIFO, device or socket)";
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) why = strerror(errno);
    /* fdopen does not move to the end (fopen's "a" does): without this, ftell says 0 for a file
     * that has rows, and the caller would write its header again. */
    else if (lseek(fd, 0, SEEK_END) < 0) why = strerror(errno);
    FILE *f = why ? NULL : fdopen(fd, "a");
    if (!f) {
        fprintf(stderr, "%s: %s %s: %s\n", prog, what, path, why ? why : strerror(errno));
        close(fd);
        return NULL;
    }
    return f;
}

/* ---- --save ---- */
bool cli_save_path_ok(const char *prog, const char *path) {
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: --save %s: is a directory\n", prog, path);
        return false;
    }
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {   /* cg_safetensors_save refuses links */
        fprintf(stderr, "%s: --save %s: is a symbolic link; give the file it points to\n", prog, path);
        return false;
    }
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        fprintf(stderr, "%s: --save %s: exists and is not a regular file\n", prog, path);
        return false;
    }
    char *copy = strdup(path);
    if (!copy) { fprintf(stderr, "%s: --save %s: out of memory\n", prog, path); return false; }
    const char *dir = dirname(copy);
    bool ok = false;
    if (stat(dir, &st) != 0)
        fprintf(stderr, "%s: --save %s: directory %s: %s\n", prog, path, dir, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        fprintf(stderr, "%s: --save %s: %s is not a directory\n", prog, path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        fprintf(stderr, "%s: --save %s: directory %s is not writable: %s\n", prog, path, dir, strerror(errno));
    else
        ok = true;
    free(copy);
    return ok;
}
