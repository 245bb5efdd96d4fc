/* SPDX-License-Identifier: MIT */
/* apps/common/train_log.c — the training log: progress bar, metrics CSV, test line (train_log.h). */
#include <errno.h>
#include <string.h>
#include "train_log.h"

FILE *metrics_open(const char *prog, const char *path) {
    FILE *f = cli_open_append(prog, "--metrics", path);   /* no link followed, no FIFO or device */
    if (!f) return NULL;
    errno = 0;
    long pos = ftell(f);
    if ((pos == 0 && fprintf(f, "kind,epoch,step,loss,accuracy,img_per_s,lr,seconds\n") < 0) || fflush(f) != 0) {
        fprintf(stderr, "%s: --metrics %s: write failed: %s\n", prog, path, strerror(errno ? errno : EIO));
        fclose(f);
        return NULL;
    }
    return f;
}

bool metrics_row(const char *prog, FILE *f, const char *path, const char *kind, int64_t epoch, int64_t step,
                 double loss, double acc, double ips, double lr, double secs) {
    if (!f) return true;
    errno = 0;
    bool ok = fprintf(f, "%s,%lld,%lld,%.6f,", kind, (long long)epoch, (long long)step, loss) >= 0;
    if (ok && acc >= 0) ok = fprintf(f, "%.4f", acc) >= 0;
    ok = ok && fprintf(f, ",%.1f,%.6g,%.3f\n", ips, lr, secs) >= 0 && fflush(f) == 0 && !ferror(f);
    if (!ok) fprintf(stderr, "%s: --metrics %s: write failed: %s\n", prog, path, strerror(errno ? errno : EIO));
    return ok;
}

void dropout_off(cg_module *m) {
    if (!strcmp(m->type->name, "Dropout") || !strcmp(m->type->name, "Dropout2d")) m->training = false;
    for (int i = 0; i < m->n_children; i++) dropout_off(m->children[i].module);
}

train_log train_log_new(const char *prog, const cg_optimizer *opt, int64_t total) {
    return (train_log){ .prog = prog, .opt = opt, .total = total, .t0 = cli_now() };
}

static cg_status log_epoch_start(void *ctx, cg_module *net, int64_t epoch) {
    train_log *r = ctx;
    if (r->no_dropout) dropout_off(net);
    progress_start(&r->pb, stdout, (int)epoch, r->total);
    r->win_loss = 0;
    r->win_n = r->win_imgs = r->done = 0;
    r->win_t0 = cli_now();
    return CG_OK;
}

static cg_status log_step(void *ctx, const cg_train_event *e) {
    train_log *r = ctx;
    r->win_loss += e->loss;
    r->win_n++;
    r->win_imgs += e->done - r->done;
    r->done = e->done;
    cg_status st;
    if (r->after_step && (st = r->after_step(r->hook_ctx, e)) != CG_OK) {
        r->printed = true;
        return st;
    }
    progress_update(&r->pb, e->done, e->loss);
    if (r->metrics && r->metrics_every && e->epoch_step % r->metrics_every == 0) {
        double now = cli_now();
        if (!metrics_row(r->prog, r->metrics, r->metrics_path, "step", e->epoch, e->step,
                         r->win_loss / (double)r->win_n, -1, (double)r->win_imgs / (now - r->win_t0), r->opt->lr,
                         now - r->t0)) {
            r->printed = true;
            return CG_EIO;
        }
        r->win_loss = 0;
        r->win_n = r->win_imgs = 0;
        r->win_t0 = now;
    }
    return CG_OK;
}

static cg_status log_epoch_end(void *ctx, const cg_train_event *e, const cg_eval_result *t) {
    train_log *r = ctx;
    progress_finish(&r->pb, e->done);
    if (!t) return CG_OK; /* the rank that evaluates records (and the hook saves) */
    print_test_line(stdout, t);
    fflush(stdout);
    double n = (double)(t->n ? t->n : 1);
    if (!metrics_row(r->prog, r->metrics, r->metrics_path, "epoch", e->epoch, e->step, t->loss_sum / n,
                     (double)t->correct / n, (double)e->done / e->seconds, e->lr, cli_now() - r->t0)) {
        r->printed = true;
        return CG_EIO;
    }
    cg_status st;
    if (r->after_test && (st = r->after_test(r->hook_ctx, e)) != CG_OK) {
        r->printed = true;
        return st;
    }
    return CG_OK;
}

cg_train_callbacks train_log_callbacks(train_log *log) {
    return (cg_train_callbacks){ log, log_epoch_start, log_step, log_epoch_end };
}
