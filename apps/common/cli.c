/* apps/common/cli.c — flag parsing, progress bar and evaluation shared by the programs. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
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

const char *cli_str(const char *prog, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) cli_usage_error(prog, "%s needs a value", argv[*i]);
    return argv[++*i];
}

int64_t cli_int(const char *prog, int argc, char **argv, int *i, int64_t lo, int64_t hi) {
    const char *flag = argv[*i], *s = cli_str(prog, argc, argv, i);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        cli_usage_error(prog, "%s: '%s' is not an integer", flag, s);
    if (v < lo || v > hi)
        cli_usage_error(prog, "%s: %lld is outside %lld..%lld", flag, v, (long long)lo, (long long)hi);
    return v;
}

double cli_float(const char *prog, int argc, char **argv, int *i, double lo, double hi) {
    const char *flag = argv[*i], *s = cli_str(prog, argc, argv, i);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        cli_usage_error(prog, "%s: '%s' is not a number", flag, s);
    if (v < lo || v > hi) cli_usage_error(prog, "%s: %g is outside %g..%g", flag, v, lo, hi);
    return v;
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

/* ---- progress ------------------------------------------------------------ */
void progress_start(progress *p, FILE *f, int epoch, int64_t total) {
    *p = (progress){ .f = f, .tty = isatty(fileno(f)), .epoch = epoch, .total = total,
                     .last_tenth = 0, .t0 = cli_now() };
}

static void progress_draw(progress *p, int64_t done, bool final) {
    enum { WIDTH = 30 };
    double frac = p->total ? (double)done / (double)p->total : 1.0;
    int fill = (int)(frac * WIDTH);
    char bar[WIDTH + 1];
    for (int k = 0; k < WIDTH; k++) bar[k] = k < fill - 1 ? '-' : (k == fill - 1 ? '>' : ' ');
    bar[WIDTH] = '\0';
    double el = cli_now() - p->t0, rate = el > 0 ? (double)done / el : 0;
    double eta = rate > 0 ? (double)(p->total - done) / rate : 0;
    fprintf(p->f, "%sTrain epoch %d: %lld/%lld, [%s] %d%%  %.0f img/s  %s %d:%02d%s",
            p->tty ? "\r" : "", p->epoch, (long long)done, (long long)p->total, bar,
            (int)(frac * 100.0), rate, final ? "took" : "ETA", (int)(final ? el : eta) / 60,
            (int)(final ? el : eta) % 60, p->tty && !final ? "" : "\n");
    fflush(p->f);
}

void progress_update(progress *p, int64_t done) {
    if (p->tty) { progress_draw(p, done, false); return; }
    int64_t tenth = p->total ? done * 10 / p->total : 10;
    if (tenth > p->last_tenth && done < p->total) {
        p->last_tenth = tenth;
        progress_draw(p, done, false);
    }
}

void progress_finish(progress *p, int64_t done) { progress_draw(p, done, true); }

/* ---- evaluation ---------------------------------------------------------- */
cg_status evaluate(cg_module *model, cg_loader *loader, eval_result *r) {
    memset(r, 0, sizeof *r);
    bool was_training = model->training;
    cg_module_train(model, false);
    bool prev = cg_set_grad_enabled(false);
    cg_status st = cg_loader_set_epoch(loader, 0);
    int64_t batch = 0;
    cg_tensor *x;
    const int64_t *y;
    while (st == CG_OK && cg_loader_next(loader, &x, &y)) {
        int64_t n = cg_tensor_size(x, 0);
        cg_tensor *logp = cg_module_forward(model, x);
        cg_tensor *loss = cg_nll_loss(logp, y, n, CG_REDUCTION_SUM);
        if (!loss) { st = CG_EINVAL; break; }
        const float *lp = cg_tensor_data(logp);
        int64_t c = cg_tensor_size(logp, 1);
        /* argmax over NaN would pick class 0 and print a plausible accuracy: refuse instead. */
        for (int64_t i = 0; st == CG_OK && i < n * c; i++)
            if (!isfinite(lp[i]))
                st = cg_set_error(CG_EINVAL, "batch %lld: image %lld has a non-finite output %g (class %lld): "
                                  "the weights or the data hold NaN/inf", (long long)batch + 1,
                                  (long long)(r->n + i / c), (double)lp[i], (long long)(i % c));
        float l = cg_tensor_item(loss);
        if (st == CG_OK && !isfinite(l))
            st = cg_set_error(CG_EINVAL, "batch %lld: the loss is %g", (long long)batch + 1, (double)l);
        if (st != CG_OK) { cg_tape_release(); break; }
        batch++;
        r->loss_sum += l;
        for (int64_t i = 0; i < n; i++) {
            int64_t best = 0;
            for (int64_t k = 1; k < c; k++) if (lp[i * c + k] > lp[i * c + best]) best = k;
            r->correct += best == y[i];
            if (y[i] >= 0 && y[i] < 10 && best < 10) r->confusion[y[i]][best]++;
        }
        r->n += n;
        cg_tape_release();
    }
    cg_set_grad_enabled(prev);
    cg_module_train(model, was_training);
    return st;
}

void print_test_line(FILE *f, const eval_result *r) {
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
    struct stat st;
    FILE *f = NULL;
    char *buf = NULL;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: --net @%s: %s\n", prog, path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "%s: --net @%s: not a regular file\n", prog, path);
        return NULL;
    }
    if (st.st_size > CLI_MAX_SPEC_BYTES) {
        fprintf(stderr, "%s: --net @%s: %lld bytes is too long for a net spec (at most %d)\n", prog, path,
                (long long)st.st_size, CLI_MAX_SPEC_BYTES);
        return NULL;
    }
    if (!(f = fopen(path, "rb")) || !(buf = malloc((size_t)st.st_size + 1))) {
        fprintf(stderr, "%s: --net @%s: %s\n", prog, path, f ? "out of memory" : strerror(errno));
        if (f) fclose(f);
        return NULL;
    }
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    bool bad = ferror(f) || n != (size_t)st.st_size || memchr(buf, '\0', n);
    fclose(f);
    if (bad) {
        fprintf(stderr, "%s: --net @%s: %s\n", prog, path, n != (size_t)st.st_size ? "read failed" : "holds a NUL byte");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

cg_module *cli_build_net(const char *prog, const char *source, const char *spec, int64_t c, int64_t h,
                         int64_t w, cg_net_info *info) {
    cg_module *m = cg_net_from_spec(spec, 3, CG_SHAPE(c, h, w), info);
    if (!m) fprintf(stderr, "%s: %s: %s\n", prog, source, cg_last_error());
    return m;
}
