/* SPDX-License-Identifier: MIT */
/* lib/nn/spec.c — networks from a one-line text spec (grammar and ops: include/cgrad/nn.h).
 *
 * Three passes over one flat array of layers, in source order (a residual is followed by its
 * subtree, a parallel by its branches, each branch an entry of the internal word "branch"
 * followed by the branch's layers; `end` is one past a layer's subtree):
 *   1. parse: tokens into layers, each with its op and its arguments resolved against the op's
 *      parameter table (positional, key=value, defaults, types and ranges);
 *   2. check: the shape rule of every layer applied to one example's shape, parameter counts and
 *      FLOPs, all in overflow-checked int64, before anything is allocated;
 *   3. build: the modules, appended to Sequential/Residual/Parallel containers under PyTorch's
 *      nn.Sequential names (a parallel's branch j is Sequential "j" inside it).
 * Every error names the 1-based character position of the layer (or token) at fault.
 * The words are one table (ops[]): a row holds the word's argument table, its rule (which calls
 * the op's own shape rule, cg_*_out_shape in lib/ops, and adds the parameter count and FLOPs) and
 * its constructor. Adding a word: its op (with its shape rule) and module, then one row here and,
 * where the word has arguments or changes the shape, its rule and constructor just above the table. */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "cg_internal.h"

#define SPEC_MAX_DEPTH 8         /* residuals and parallels nested inside each other, in all */
#define SPEC_MAX_NAME 32
#define SPEC_MAX_INT (1 << 24)   /* largest integer argument (channels, features, kernel, ...) */
#define SPEC_MAX_PARAMS ((int64_t)1 << 31)  /* parameter elements a net may have (8 GiB of floats) */
#define SPEC_MAX_LAYERS 10000    /* layers in one spec, nested ones included */
#define SPEC_MAX_DIM ((int64_t)1 << 31)     /* largest dim of the example shape */
#define SPEC_MAX_PATH 254        /* a layer's dotted name: with the '.' after it, what cg_module_parameters nests */
#define MAX_ARGS 9

/* ---- layers, shapes, messages ---------------------------------------------- */
typedef enum { P_INT, P_NUM, P_BOOL, P_WORD } ptype;
typedef struct param {
    const char *key;
    ptype type;
    bool required;
    double def;          /* NAN: the value of the first argument (a pool's stride = kernel) */
    double lo, hi;       /* inclusive range */
    const char *words;   /* P_WORD: the allowed words, '|'-separated; the value is the index */
} param;

typedef struct layer {
    int op;                     /* its row in ops[] */
    int64_t pos;                /* 0-based offset of the layer's first character (its name, if any) */
    const char *text;           /* op(args) as written, for messages */
    int text_len;
    char name[SPEC_MAX_NAME + 1]; /* given name, or "" */
    double v[MAX_ARGS];         /* resolved argument values (bools as 0/1) */
    int64_t end;                /* one past this layer's subtree (residual, parallel, branch), else index + 1 */
} layer;

typedef struct shape { int nd; int64_t d[CG_MAX_DIMS]; } shape;   /* one example's: no batch dim */

/* "net spec, char K: ..." for the 0-based offset at. */
static cg_status perr(int64_t at, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cg_status perr(int64_t at, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cg_error(CG_EINVAL, "net spec, char %lld: %s", (long long)(at + 1), msg);
}

/* "net spec, char K: <layer as written> <message>". */
static cg_status lerr(const layer *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cg_status lerr(const layer *L, const char *fmt, ...) {
    char msg[360];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cg_error(CG_ESHAPE, "net spec, char %lld: %.*s %s", (long long)(L->pos + 1), L->text_len, L->text, msg);
}

static const char *shape_n(char *buf, size_t n, const shape *s) {   /* "[N,64,12,12]" */
    size_t k = (size_t)snprintf(buf, n, "[N");
    for (int i = 0; i < s->nd && k < n; i++) k += (size_t)snprintf(buf + k, n - k, ",%lld", (long long)s->d[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

static bool numel_of(const shape *s, int64_t *out) {
    int64_t m = 1;
    for (int i = 0; i < s->nd; i++)
        if (__builtin_mul_overflow(m, s->d[i], &m)) return false;
    *out = m;
    return true;
}

/* ---- each word's shape rule, parameters, FLOPs and constructor -------------------------------- */
/* A rule gets one example's input shape (in; shown: what to name as the input in messages, a
 * flatten's input where one came just before) and sets out, params and flops. The shape itself
 * comes from the op's own rule (cg_*_out_shape in lib/ops), run on [1, in...]; what a rule checks
 * itself is the word's arguments against the input (a layer declares its in-channels, the op reads
 * them from the weight). A word without a rule keeps the shape and has no parameters. */
typedef struct rule_io {
    const layer *L;
    shape in;
    const shape *shown;
    shape out;
    int64_t params;
    double flops;
    int64_t scratch;    /* floats of workspace the op borrows for one example (conv's im2col), or 0 */
} rule_io;

/* [1, in...] for an op's shape rule, and back. */
static void batch1(const shape *s, int64_t *x) { x[0] = 1; memcpy(x + 1, s->d, (size_t)s->nd * sizeof *x); }
static shape unbatch(int nd, const int64_t *y) {
    shape s = { nd - 1, { 0 } };
    memcpy(s.d, y + 1, (size_t)(nd - 1) * sizeof *y);
    return s;
}

/* The op's rule refused: its message (without the op's name) for this layer and input. */
static cg_status op_refused(const rule_io *r) {
    char why[320], b[160];
    const char *m = cg_last_error(), *colon = strstr(m, ": ");
    snprintf(why, sizeof why, "%s", colon ? colon + 2 : m);   /* copied: lerr writes that buffer */
    if (strstr(why, "(input ")) return lerr(r->L, "%s", why);   /* the op named it already */
    return lerr(r->L, "%s (input %s)", why, shape_n(b, sizeof b, &r->in));
}

/* A conv layer's (plain or transposed) channels against its input and its groups. */
static cg_status conv_channels(const layer *L, const shape *in, int64_t ic, int64_t oc, int64_t g) {
    char b[160];
    if (in->d[0] != ic)
        return lerr(L, "expects %lld input channels, gets %lld (input %s)", (long long)ic, (long long)in->d[0],
                    shape_n(b, sizeof b, in));
    if (ic % g || oc % g)
        return lerr(L, "channels in %lld and out %lld must both be divisible by groups %lld", (long long)ic,
                    (long long)oc, (long long)g);
    return CG_OK;
}

/* conv2d(in, out, kernel, stride, padding, dilation, groups, bias) */
static cg_conv2d_params conv2d_params(const double *v) {
    int64_t st = (int64_t)v[3], pad = (int64_t)v[4], dil = (int64_t)v[5];
    return (cg_conv2d_params){ .stride = { st, st }, .padding = { pad, pad }, .dilation = { dil, dil },
                               .groups = (int64_t)v[6] };
}
static cg_status conv2d_rule(rule_io *r) {
    const double *v = r->L->v;
    int64_t ic = (int64_t)v[0], oc = (int64_t)v[1], k = (int64_t)v[2], g = (int64_t)v[6], x[4], y[4];
    cg_status cs = conv_channels(r->L, &r->in, ic, oc, g);
    if (cs != CG_OK) return cs;
    cg_conv2d_params p = conv2d_params(v);
    batch1(&r->in, x);
    if (cg_conv2d_out_shape(4, x, (int64_t[4]){ oc, ic / g, k, k }, &p, y) != CG_OK) return op_refused(r);
    r->out = unbatch(4, y);
    int64_t ck, w, b = v[7] != 0 ? oc : 0, outn;
    if (__builtin_mul_overflow(ic / g, k, &ck) || __builtin_mul_overflow(ck, k, &ck) ||
        __builtin_mul_overflow(oc, ck, &w) || __builtin_add_overflow(w, b, &r->params) || !numel_of(&r->out, &outn) ||
        __builtin_mul_overflow(ck, r->out.d[1] * r->out.d[2], &r->scratch))   /* im2col of one image, one group */
        return lerr(r->L, "is too large to count");
    if (k == 1 && v[3] == 1 && v[4] == 0) r->scratch = 0;   /* a 1x1 conv multiplies the input itself */
    r->flops = 2.0 * (double)outn * (double)ck;
    return CG_OK;
}
static cg_module *conv2d_build(const double *v) {
    cg_conv2d_params p = conv2d_params(v);
    return cg_conv2d_new((int64_t)v[0], (int64_t)v[1], (int64_t)v[2], &p, v[7] != 0);
}

/* conv_transpose2d(in, out, kernel, stride, padding, output_padding, groups, bias, dilation):
 * nn.ConvTranspose2d's positional order */
static cg_conv_transpose2d_params conv_transpose2d_params(const double *v) {
    int64_t st = (int64_t)v[3], pad = (int64_t)v[4], opad = (int64_t)v[5], dil = (int64_t)v[8];
    return (cg_conv_transpose2d_params){ .stride = { st, st }, .padding = { pad, pad }, .output_padding = { opad, opad },
                                         .dilation = { dil, dil }, .groups = (int64_t)v[6] };
}
static cg_status conv_transpose2d_args(const layer *L, int64_t at) {
    if (L->v[5] >= L->v[3] && L->v[5] >= L->v[8])
        return perr(at, "conv_transpose2d: output_padding %g must be smaller than stride %g or dilation %g",
                    L->v[5], L->v[3], L->v[8]);
    return CG_OK;
}
static cg_status conv_transpose2d_rule(rule_io *r) {
    const double *v = r->L->v;
    int64_t ic = (int64_t)v[0], oc = (int64_t)v[1], k = (int64_t)v[2], g = (int64_t)v[6], x[4], y[4] = { 0, 0, 1, 1 };
    char b[160];
    cg_status cs = conv_channels(r->L, &r->in, ic, oc, g);
    if (cs != CG_OK) return cs;
    cg_conv_transpose2d_params p = conv_transpose2d_params(v);
    batch1(&r->in, x);
    if (cg_conv_transpose2d_out_shape(4, x, (int64_t[4]){ ic, oc / g, k, k }, &p, y) != CG_OK) {
        for (int d = 0; d < 2; d++)   /* the rule leaves an extent below 1 in y */
            if (y[2 + d] < 1)
                return lerr(r->L, "gives an output %s of %lld from input %s: (in-1)*stride - 2*padding + "
                            "dilation*(kernel-1) + output_padding + 1 must be at least 1", d ? "width" : "height",
                            (long long)y[2 + d], shape_n(b, sizeof b, &r->in));
        return op_refused(r);
    }
    if (y[2] > SPEC_MAX_DIM || y[3] > SPEC_MAX_DIM) return lerr(r->L, "is too large to count");
    r->out = unbatch(4, y);
    int64_t ck, w, bias = v[7] != 0 ? oc : 0, inn;
    if (__builtin_mul_overflow(oc / g, k, &ck) || __builtin_mul_overflow(ck, k, &ck) ||
        __builtin_mul_overflow(ic, ck, &w) || __builtin_add_overflow(w, bias, &r->params) || !numel_of(&r->in, &inn) ||
        __builtin_mul_overflow(ck, r->in.d[1] * r->in.d[2], &r->scratch))   /* columns of one image, one group */
        return lerr(r->L, "is too large to count");
    r->flops = 2.0 * (double)inn * (double)ck;   /* every input meets (out/groups)*k*k weights */
    return CG_OK;
}
static cg_module *conv_transpose2d_build(const double *v) {
    cg_conv_transpose2d_params p = conv_transpose2d_params(v);
    return cg_conv_transpose2d_new((int64_t)v[0], (int64_t)v[1], (int64_t)v[2], &p, v[7] != 0);
}

/* linear(in, out, bias) */
static cg_status linear_rule(rule_io *r) {
    const double *v = r->L->v;
    int64_t fi = (int64_t)v[0], fo = (int64_t)v[1], x[CG_MAX_DIMS], y[CG_MAX_DIMS];
    char b[160];
    if (r->in.nd != 1)
        return lerr(r->L, "needs [N,features] input, gets %s (put flatten before it)", shape_n(b, sizeof b, &r->in));
    if (r->in.d[0] != fi)
        return lerr(r->L, "gets %lld input features (input %s)", (long long)r->in.d[0], shape_n(b, sizeof b, r->shown));
    batch1(&r->in, x);
    if (cg_linear_out_shape(2, x, (int64_t[2]){ fo, fi }, y) != CG_OK) return op_refused(r);
    r->out = unbatch(2, y);
    int64_t w;
    if (__builtin_mul_overflow(fi, fo, &w) || __builtin_add_overflow(w, v[2] != 0 ? fo : 0, &r->params))
        return lerr(r->L, "is too large to count");
    r->flops = 2.0 * (double)fi * (double)fo;
    return CG_OK;
}
static cg_module *linear_build(const double *v) { return cg_linear_new((int64_t)v[0], (int64_t)v[1], v[2] != 0); }

/* max_pool2d, avg_pool2d(kernel, stride = kernel, padding) */
static cg_pool2d_params pool2d_params(const double *v) {
    int64_t k = (int64_t)v[0], st = (int64_t)v[1], pad = (int64_t)v[2];
    return (cg_pool2d_params){ .kernel = { k, k }, .stride = { st, st }, .padding = { pad, pad } };
}
static cg_status pool2d_rule(rule_io *r) {
    int64_t k = (int64_t)r->L->v[0], pad = (int64_t)r->L->v[2], x[4], y[4];
    if (2 * pad > k) return lerr(r->L, "padding %lld must be at most half the kernel %lld", (long long)pad, (long long)k);
    cg_pool2d_params p = pool2d_params(r->L->v);
    batch1(&r->in, x);
    if (cg_pool2d_out_shape(4, x, &p, y) != CG_OK) return op_refused(r);
    r->out = unbatch(4, y);
    return CG_OK;
}
static cg_module *max_pool2d_build(const double *v) { cg_pool2d_params p = pool2d_params(v); return cg_max_pool2d_new_p(&p); }
static cg_module *avg_pool2d_build(const double *v) { cg_pool2d_params p = pool2d_params(v); return cg_avg_pool2d_new(&p); }

/* adaptive_avg_pool2d, adaptive_max_pool2d(output_size): any size, as PyTorch */
static cg_status adaptive_pool2d_rule(rule_io *r) {
    int64_t o = (int64_t)r->L->v[0], x[4], y[4];
    batch1(&r->in, x);
    if (cg_adaptive_pool2d_out_shape(4, x, o, o, y) != CG_OK) return op_refused(r);
    r->out = unbatch(4, y);
    return CG_OK;
}
static cg_module *adaptive_avg_pool2d_build(const double *v) { return cg_adaptive_avg_pool2d_new((int64_t)v[0], (int64_t)v[0]); }
static cg_module *adaptive_max_pool2d_build(const double *v) { return cg_adaptive_max_pool2d_new((int64_t)v[0], (int64_t)v[0]); }

/* upsample(scale_factor) */
static cg_status upsample_rule(rule_io *r) {
    int64_t f = (int64_t)r->L->v[0], x[4], y[4];
    batch1(&r->in, x);
    if (cg_upsample_nearest2d_out_shape(4, x, f, f, y) != CG_OK || y[2] > SPEC_MAX_DIM || y[3] > SPEC_MAX_DIM)
        return lerr(r->L, "is too large to count");
    r->out = unbatch(4, y);
    return CG_OK;
}
static cg_module *upsample_build(const double *v) { return cg_upsample_nearest2d_new((int64_t)v[0]); }

/* embedding(num_embeddings, embedding_dim) */
static cg_status embedding_rule(rule_io *r) {
    int64_t V = (int64_t)r->L->v[0], D = (int64_t)r->L->v[1], x[CG_MAX_DIMS], y[CG_MAX_DIMS];
    char b[160];
    if (r->in.nd > 2)
        return lerr(r->L, "needs indices of [N], [N,L] or [N,H,W], gets %s", shape_n(b, sizeof b, &r->in));
    batch1(&r->in, x);
    if (cg_embedding_out_shape(r->in.nd + 1, x, (int64_t[2]){ V, D }, y) != CG_OK) return op_refused(r);
    r->out = unbatch(r->in.nd + 2, y);
    if (__builtin_mul_overflow(V, D, &r->params)) return lerr(r->L, "is too large to count");
    return CG_OK;
}
static cg_module *embedding_build(const double *v) { return cg_embedding_new((int64_t)v[0], (int64_t)v[1]); }

/* The norms keep the shape; their channel count is the word's argument. */
static cg_status batch_norm2d_rule(rule_io *r) {
    char b[160];
    if (r->in.d[0] != (int64_t)r->L->v[0])
        return lerr(r->L, "expects %lld channels, gets %lld (input %s)", (long long)r->L->v[0], (long long)r->in.d[0],
                    shape_n(b, sizeof b, &r->in));
    r->params = 2 * (int64_t)r->L->v[0];
    return CG_OK;
}
static cg_module *batch_norm2d_build(const double *v) { return cg_batch_norm2d_new((int64_t)v[0], (float)v[1], (float)v[2]); }

static cg_status batch_norm1d_rule(rule_io *r) {
    char b[160];
    const double *v = r->L->v;
    if ((r->in.nd != 1 && r->in.nd != 2) || r->in.d[0] != (int64_t)v[0])
        return lerr(r->L, "needs [N,%lld] or [N,%lld,L] input, gets %s", (long long)v[0], (long long)v[0],
                    shape_n(b, sizeof b, &r->in));
    r->params = 2 * (int64_t)v[0];
    return CG_OK;
}
static cg_module *batch_norm1d_build(const double *v) { return cg_batch_norm1d_new((int64_t)v[0], (float)v[1], (float)v[2]); }

static cg_status layer_norm_rule(rule_io *r) {
    char b[160];
    const double *v = r->L->v;
    if (r->in.nd < 1 || r->in.d[r->in.nd - 1] != (int64_t)v[0])
        return lerr(r->L, "normalises a last dim of %lld, gets %s", (long long)v[0], shape_n(b, sizeof b, &r->in));
    r->params = v[2] != 0 ? 2 * (int64_t)v[0] : 0;
    return CG_OK;
}
static cg_module *layer_norm_build(const double *v) { return cg_layer_norm_new((int64_t)v[0], (float)v[1], v[2] != 0); }

static cg_status group_norm_rule(rule_io *r) {
    char b[160];
    const double *v = r->L->v;
    if (r->in.nd < 1 || r->in.d[0] != (int64_t)v[1])
        return lerr(r->L, "expects %lld channels, gets %s", (long long)v[1], shape_n(b, sizeof b, &r->in));
    if ((int64_t)v[1] % (int64_t)v[0])
        return lerr(r->L, "%lld channels are not divisible into %lld groups", (long long)v[1], (long long)v[0]);
    r->params = v[3] != 0 ? 2 * (int64_t)v[1] : 0;
    return CG_OK;
}
static cg_module *group_norm_build(const double *v) { return cg_group_norm_new((int64_t)v[0], (int64_t)v[1], (float)v[2], v[3] != 0); }

static cg_status dropout2d_rule(rule_io *r) {
    char b[160];
    if (r->in.nd < 1 || r->in.nd > 3)
        return lerr(r->L, "needs [N,C,H,W], [N,C,L] or [N,F] input, gets %s", shape_n(b, sizeof b, &r->in));
    return CG_OK;
}
static cg_module *dropout2d_build(const double *v) { return cg_dropout2d_new((float)v[0]); }

static cg_status flatten_rule(rule_io *r) {
    int64_t numel = 0;
    numel_of(&r->in, &numel);   /* checked by the caller */
    r->out = (shape){ 1, { numel } };
    return CG_OK;
}
static cg_module *flatten_build(const double *v) { (void)v; return cg_flatten_new(); }

static cg_status log_softmax_rule(rule_io *r) {
    char b[160];
    if (r->in.nd < 1) return lerr(r->L, "needs a dim 1, gets %s", shape_n(b, sizeof b, &r->in));
    return CG_OK;
}
static cg_module *log_softmax_build(const double *v) { (void)v; return cg_log_softmax_new(1); }

static cg_status hardtanh_args(const layer *L, int64_t at) {
    if (L->v[0] > L->v[1]) return perr(at, "hardtanh: min_val %g must not exceed max_val %g", L->v[0], L->v[1]);
    return CG_OK;
}
static cg_module *hardtanh_build(const double *v) { return cg_hardtanh_new((float)v[0], (float)v[1]); }

static cg_module *dropout_build(const double *v) { return cg_dropout_new((float)v[0]); }
static cg_module *leaky_relu_build(const double *v) { return cg_leaky_relu_new((float)v[0]); }
static cg_module *gelu_build(const double *v) { return cg_gelu_new(v[0] != 0); }
static cg_module *softplus_build(const double *v) { return cg_softplus_new((float)v[0], (float)v[1]); }
static cg_module *residual_build(const double *v) { (void)v; return cg_residual_new(); }
static cg_module *parallel_build(const double *v) { (void)v; return cg_parallel_new(); }

/* ---- the word table: one row per word ------------------------------------------------------ */
typedef struct op_info {
    const char *name;
    int n_params;
    param params[MAX_ARGS];
    bool image;                                    /* needs [N,C,H,W] input */
    cg_status (*args)(const layer *L, int64_t at); /* arguments against each other, or NULL */
    cg_status (*rule)(rule_io *r);                 /* shape, parameters, FLOPs; NULL: the shape stays */
    cg_module *(*build)(const double *v);          /* the module, or NULL: new0 */
    cg_module *(*new0)(void);                      /* a constructor without arguments */
    bool flattens;                                 /* the next layer's messages name this one's input */
    enum { C_NONE, C_RESIDUAL, C_PARALLEL, C_BRANCH } container;   /* layers in parentheses */
} op_info;

#define I_(k, req, d, lo, hi) { k, P_INT, req, d, lo, hi, NULL }
#define N_(k, req, d, lo, hi) { k, P_NUM, req, d, lo, hi, NULL }
#define B_(k, d) { k, P_BOOL, false, d, 0, 1, NULL }
#define W_(k, d, words) { k, P_WORD, false, d, 0, 1e9, words }
#define NO_PARAMS 0, { { 0 } }
#define POOL_PARAMS 3, { I_("kernel", true, 0, 1, SPEC_MAX_INT), I_("stride", false, NAN, 1, SPEC_MAX_INT), \
                         I_("padding", false, 0, 0, SPEC_MAX_INT) }
static const op_info ops[] = {
    { "conv2d", 8, { I_("in", true, 0, 1, SPEC_MAX_INT), I_("out", true, 0, 1, SPEC_MAX_INT),
                     I_("kernel", true, 0, 1, SPEC_MAX_INT), I_("stride", false, 1, 1, SPEC_MAX_INT),
                     I_("padding", false, 0, 0, SPEC_MAX_INT), I_("dilation", false, 1, 1, SPEC_MAX_INT),
                     I_("groups", false, 1, 1, SPEC_MAX_INT), B_("bias", 1) },
      .image = true, .rule = conv2d_rule, .build = conv2d_build },
    { "linear", 3, { I_("in", true, 0, 1, SPEC_MAX_INT), I_("out", true, 0, 1, SPEC_MAX_INT), B_("bias", 1) },
      .rule = linear_rule, .build = linear_build },
    { "batch_norm2d", 3, { I_("channels", true, 0, 1, SPEC_MAX_INT), N_("eps", false, 1e-5, 1e-30, 1),
                           N_("momentum", false, 0.1, 0, 1) },
      .image = true, .rule = batch_norm2d_rule, .build = batch_norm2d_build },
    { "max_pool2d", POOL_PARAMS, .image = true, .rule = pool2d_rule, .build = max_pool2d_build },
    { "avg_pool2d", POOL_PARAMS, .image = true, .rule = pool2d_rule, .build = avg_pool2d_build },
    { "adaptive_avg_pool2d", 1, { I_("output_size", true, 0, 1, SPEC_MAX_INT) },
      .image = true, .rule = adaptive_pool2d_rule, .build = adaptive_avg_pool2d_build },
    { "dropout", 1, { N_("p", true, 0, 0, 1) }, .build = dropout_build },
    { "dropout2d", 1, { N_("p", true, 0, 0, 1) }, .rule = dropout2d_rule, .build = dropout2d_build },
    { "leaky_relu", 1, { N_("negative_slope", false, 0.01, -1e30, 1e30) }, .build = leaky_relu_build },
    { "relu", NO_PARAMS, .new0 = cg_relu_new },
    { "sigmoid", NO_PARAMS, .new0 = cg_sigmoid_new },
    { "tanh", NO_PARAMS, .new0 = cg_tanh_new },
    { "flatten", NO_PARAMS, .rule = flatten_rule, .build = flatten_build, .flattens = true },
    { "log_softmax", NO_PARAMS, .rule = log_softmax_rule, .build = log_softmax_build },
    { "residual", NO_PARAMS, .build = residual_build, .container = C_RESIDUAL },
    { "parallel", NO_PARAMS, .build = parallel_build, .container = C_PARALLEL },
    { "branch", NO_PARAMS, .container = C_BRANCH },   /* internal: one branch of a parallel, never a word */
    { "identity", NO_PARAMS, .new0 = cg_identity_new },
    { "gelu", 1, { W_("approximate", 0, "none|tanh") }, .build = gelu_build },
    { "silu", NO_PARAMS, .new0 = cg_silu_new },
    { "hardswish", NO_PARAMS, .new0 = cg_hardswish_new },
    { "softplus", 2, { N_("beta", false, 1, 1e-30, 1e30), N_("threshold", false, 20, -1e30, 1e30) },
      .build = softplus_build },
    { "relu6", NO_PARAMS, .new0 = cg_relu6_new },
    { "hardtanh", 2, { N_("min_val", false, -1, -1e30, 1e30), N_("max_val", false, 1, -1e30, 1e30) },
      .args = hardtanh_args, .build = hardtanh_build },
    { "layer_norm", 3, { I_("normalized_shape", true, 0, 1, SPEC_MAX_INT), N_("eps", false, 1e-5, 1e-30, 1),
                         B_("elementwise_affine", 1) },
      .rule = layer_norm_rule, .build = layer_norm_build },
    { "batch_norm1d", 3, { I_("num_features", true, 0, 1, SPEC_MAX_INT), N_("eps", false, 1e-5, 1e-30, 1),
                           N_("momentum", false, 0.1, 0, 1) },
      .rule = batch_norm1d_rule, .build = batch_norm1d_build },
    { "group_norm", 4, { I_("num_groups", true, 0, 1, SPEC_MAX_INT), I_("num_channels", true, 0, 1, SPEC_MAX_INT),
                         N_("eps", false, 1e-5, 1e-30, 1), B_("affine", 1) },
      .rule = group_norm_rule, .build = group_norm_build },
    { "upsample", 1, { I_("scale_factor", true, 0, 1, 1024) }, .image = true, .rule = upsample_rule,
      .build = upsample_build },
    { "adaptive_max_pool2d", 1, { I_("output_size", true, 0, 1, SPEC_MAX_INT) },
      .image = true, .rule = adaptive_pool2d_rule, .build = adaptive_max_pool2d_build },
    { "embedding", 2, { I_("num_embeddings", true, 0, 1, 1 << 24), I_("embedding_dim", true, 0, 1, SPEC_MAX_INT) },
      .rule = embedding_rule, .build = embedding_build },
    { "conv_transpose2d", 9, { I_("in", true, 0, 1, SPEC_MAX_INT), I_("out", true, 0, 1, SPEC_MAX_INT),
                               I_("kernel", true, 0, 1, SPEC_MAX_INT), I_("stride", false, 1, 1, SPEC_MAX_INT),
                               I_("padding", false, 0, 0, SPEC_MAX_INT), I_("output_padding", false, 0, 0, SPEC_MAX_INT),
                               I_("groups", false, 1, 1, SPEC_MAX_INT), B_("bias", 1),
                               I_("dilation", false, 1, 1, SPEC_MAX_INT) },
      .image = true, .args = conv_transpose2d_args, .rule = conv_transpose2d_rule, .build = conv_transpose2d_build },
};
#define N_OPS ((int)(sizeof ops / sizeof ops[0]))
static int branch_op(void) {   /* the row of the internal word "branch" */
    int k = 0;
    while (ops[k].container != C_BRANCH) k++;
    return k;
}
#undef I_
#undef N_
#undef B_
#undef W_
#undef NO_PARAMS
#undef POOL_PARAMS

/* ---- parsing ------------------------------------------------------------- */
typedef struct parser {
    const char *s;
    int64_t i, len;
    layer *l;
    int64_t n, cap;
} parser;

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Skip whitespace and comments. */
static void skip(parser *p) {
    while (p->i < p->len) {
        char c = p->s[p->i];
        if (is_space(c)) p->i++;
        else if (c == '#') while (p->i < p->len && p->s[p->i] != '\n') p->i++;
        else break;
    }
}

static int64_t ident_len(const parser *p, int64_t at) {
    int64_t j = at;
    if (j < p->len && is_alpha(p->s[j]))
        while (j < p->len && (is_alpha(p->s[j]) || is_digit(p->s[j]))) j++;
    return j - at;
}

static bool ident_is(const parser *p, int64_t at, int64_t n, const char *word) {
    return (int64_t)strlen(word) == n && !strncmp(p->s + at, word, (size_t)n);
}

/* A value: true/false, an integer or a decimal. *is_int says which number it was. */
static cg_status parse_value(parser *p, const char *key, double *v, bool *is_bool, bool *is_int) {
    int64_t at = p->i, n = ident_len(p, at);
    *is_bool = *is_int = false;
    if (n) {
        if (ident_is(p, at, n, "true") || ident_is(p, at, n, "false")) {
            *v = p->s[at] == 't';
            *is_bool = true;
            p->i += n;
            return CG_OK;
        }
        return perr(at, "%s: '%.*s' is not a value (integers, decimals, true or false)", key, (int)(n > 40 ? 40 : n), p->s + at);
    }
    int64_t j = at;
    bool frac = false;
    if (j < p->len && (p->s[j] == '-' || p->s[j] == '+')) j++;
    int64_t digits = 0;
    while (j < p->len && (is_digit(p->s[j]) || p->s[j] == '.')) { frac |= p->s[j] == '.'; digits += is_digit(p->s[j]); j++; }
    if (digits && j < p->len && (p->s[j] == 'e' || p->s[j] == 'E')) {
        int64_t k = j + 1;
        if (k < p->len && (p->s[k] == '-' || p->s[k] == '+')) k++;
        if (k < p->len && is_digit(p->s[k])) {
            frac = true;
            j = k;
            while (j < p->len && is_digit(p->s[j])) j++;
        }
    }
    if (!digits) return perr(at, "%s: expected a value (integers, decimals, true or false)", key);
    char buf[64];
    if (j - at >= (int64_t)sizeof buf) return perr(at, "%s: number '%.20s...' is too long", key, p->s + at);
    memcpy(buf, p->s + at, (size_t)(j - at));
    buf[j - at] = '\0';
    char *end;
    errno = 0;
    if (frac) *v = strtod(buf, &end);
    else { long long iv = strtoll(buf, &end, 10); *v = (double)iv; }
    if (*end || errno || !isfinite(*v)) return perr(at, "%s: '%s' is not a number in range", key, buf);
    *is_int = !frac;
    p->i = j;
    return CG_OK;
}

/* Defaults for the arguments not given; a missing required one is an error at char `at`. */
static cg_status resolve_defaults(layer *L, const bool *given, int64_t at) {
    const op_info *op = &ops[L->op];
    for (int k = 0; k < op->n_params; k++) {
        if (given[k]) continue;
        const param *pr = &op->params[k];
        if (pr->required) return perr(at, "%s: missing argument '%s'", op->name, pr->key);
        L->v[k] = isnan(pr->def) ? L->v[0] : pr->def;
    }
    return CG_OK;
}

/* Arguments after '(' of op: positional first, then key=value; resolves defaults and checks types
 * and ranges into L->v. Leaves p->i after ')'. */
/* A word among pr->words ("none|tanh"), bare or in quotes ('tanh', "tanh"): *v is its index. */
static cg_status parse_word(parser *p, const char *opname, const param *pr, double *v) {
    int64_t at = p->i;
    char q = at < p->len && (p->s[at] == '\'' || p->s[at] == '"') ? p->s[at] : 0;
    int64_t w0 = at + (q != 0), n = ident_len(p, w0);
    if (q && (w0 + n >= p->len || p->s[w0 + n] != q))
        return perr(at, "%s: %s: a quoted word must end with its quote", opname, pr->key);
    int idx = 0;
    for (const char *w = pr->words; n && *w; idx++) {
        size_t len = strcspn(w, "|");
        if ((int64_t)len == n && strncmp(w, p->s + w0, len) == 0) {
            *v = idx;
            p->i = w0 + n + (q != 0);
            return CG_OK;
        }
        w += len + (w[len] == '|');
    }
    return perr(at, "%s: %s must be one of %s", opname, pr->key, pr->words);
}

static cg_status parse_args(parser *p, layer *L, int64_t open_at) {
    const op_info *op = &ops[L->op];
    bool given[MAX_ARGS] = { false };
    bool keyed = false;
    int npos = 0;
    cg_status s;
    skip(p);
    if (p->i < p->len && p->s[p->i] == ')') { p->i++; goto resolve; }
    for (;;) {
        skip(p);
        if (p->i >= p->len) return perr(open_at, "%s: '(' is never closed", op->name);   /* "relu(", "f(1," */
        int64_t at = p->i, n = ident_len(p, at);
        int k = -1;
        if (n && p->i + n < p->len) {       /* key=value? */
            int64_t j = at + n;
            while (j < p->len && is_space(p->s[j])) j++;
            if (j < p->len && p->s[j] == '=') {
                for (int q = 0; q < op->n_params; q++)
                    if (ident_is(p, at, n, op->params[q].key)) k = q;
                if (k < 0) return perr(at, "%s has no argument '%.*s'", op->name, (int)(n > 40 ? 40 : n), p->s + at);
                if (given[k]) return perr(at, "%s: argument '%s' is given twice", op->name, op->params[k].key);
                keyed = true;
                p->i = j + 1;
                skip(p);
            }
        }
        if (k < 0) {
            if (keyed) return perr(at, "%s: a positional argument after key=value arguments", op->name);
            if (npos >= op->n_params)
                return perr(at, "%s takes %d argument%s, got more", op->name, op->n_params, op->n_params == 1 ? "" : "s");
            k = npos++;
        }
        const param *pr = &op->params[k];
        double v = 0;
        bool is_bool, is_int;
        int64_t vat = p->i;
        if (pr->type == P_WORD) {
            if ((s = parse_word(p, op->name, pr, &v))) return s;
            is_bool = false;
            is_int = true;
        } else if ((s = parse_value(p, pr->key, &v, &is_bool, &is_int))) return s;
        if (pr->type == P_WORD) { /* in range by construction */ }
        else if (pr->type == P_BOOL && !is_bool) return perr(vat, "%s: %s must be true or false", op->name, pr->key);
        if (pr->type != P_BOOL && is_bool) return perr(vat, "%s: %s must be a number, not true/false", op->name, pr->key);
        if (pr->type == P_INT && !is_int) return perr(vat, "%s: %s must be an integer", op->name, pr->key);
        if (!(v >= pr->lo && v <= pr->hi))
            return perr(vat, "%s: %s = %g is outside [%g, %g]", op->name, pr->key, v, pr->lo, pr->hi);
        L->v[k] = v;
        given[k] = true;
        skip(p);
        if (p->i >= p->len) return perr(open_at, "%s: '(' is never closed", op->name);
        if (p->s[p->i] == ',') { p->i++; continue; }
        if (p->s[p->i] == ')') { p->i++; break; }
        return perr(p->i, "%s: expected ',' or ')' after an argument", op->name);
    }
resolve:
    if ((s = resolve_defaults(L, given, open_at))) return s;
    return op->args ? op->args(L, open_at) : CG_OK;
}

static layer *push(parser *p) {
    if (p->n == p->cap) {
        int64_t cap = p->cap ? 2 * p->cap : 16;
        layer *nl = cg_malloc((size_t)cap * sizeof *nl);
        if (!nl) return NULL;
        if (p->n) memcpy(nl, p->l, (size_t)p->n * sizeof *nl);
        cg_free(p->l);
        p->l = nl;
        p->cap = cap;
    }
    layer *L = &p->l[p->n++];
    memset(L, 0, sizeof *L);
    return L;
}

static cg_status parse_list(parser *p, int depth, int64_t open_at, const char *in);

/* The branches of the parallel opened at open_at, up to its ')' (left unconsumed): each an entry
 * of the word "branch" followed by its layers. */
static cg_status parse_branches(parser *p, int depth, int64_t open_at) {
    cg_status s;
    for (int j = 0;; j++) {
        skip(p);
        int64_t b = p->n;
        if (b >= SPEC_MAX_LAYERS) return perr(p->i, "more than %d layers", SPEC_MAX_LAYERS);
        layer *B = push(p);
        if (!B) return CG_ENOMEM;
        *B = (layer){ .op = branch_op(), .pos = p->i, .text = p->s + p->i };
        if ((s = parse_list(p, depth, open_at, "parallel"))) return s;
        B = &p->l[b];   /* push() may have moved the array */
        if (p->n == b + 1) return perr(B->pos, "parallel: branch %d holds no layers (identity passes x on)", j);
        int64_t tl = p->i - B->pos;
        while (tl > 0 && is_space(B->text[tl - 1])) tl--;
        B->text_len = (int)(tl > 60 ? 60 : tl);
        B->end = p->n;
        if (p->s[p->i] == ')') return CG_OK;
        p->i++;   /* the '|' */
    }
}

/* Layers until the end (depth 0), the ')' closing a container or a '|' ending a parallel's
 * branch (in: the container's word, NULL at top level; the ')' or '|' is left unconsumed). */
static cg_status parse_list(parser *p, int depth, int64_t open_at, const char *in) {
    cg_status s;
    for (;;) {
        skip(p);
        if (p->i >= p->len) {
            if (depth) return perr(open_at, "%s: '(' is never closed", in);
            return CG_OK;
        }
        if (p->s[p->i] == ')') {
            if (!depth) return perr(p->i, "')' closes nothing");
            return CG_OK;
        }
        if (p->s[p->i] == '|') {
            if (!in || strcmp(in, "parallel")) return perr(p->i, "'|' separates the branches of a parallel(A | B) only");
            return CG_OK;
        }
        int64_t at = p->i, n = ident_len(p, at);
        if (!n) return perr(at, "expected a layer (an op name such as conv2d or relu), got '%c'", p->s[at]);
        int64_t idx = p->n;
        if (idx >= SPEC_MAX_LAYERS) return perr(at, "more than %d layers", SPEC_MAX_LAYERS);
        layer *L = push(p);
        if (!L) return CG_ENOMEM;
        L->pos = at;
        p->i += n;
        if (p->i < p->len && p->s[p->i] == '=') {   /* name=op */
            if (n > SPEC_MAX_NAME) return perr(at, "layer name '%.32s...' is longer than %d characters", p->s + at, SPEC_MAX_NAME);
            memcpy(L->name, p->s + at, (size_t)n);
            L->name[n] = '\0';
            if (!depth && cg_run_namespace(L->name, (size_t)n)) {   /* its tensors would be the run's state's */
                char list[160];
                cg_run_namespaces_text(list, sizeof list);
                return perr(at, "layer name '%s' is reserved: a run's checkpoint keeps its own state under %s "
                            "(rename the layer)", L->name, list);
            }
            p->i++;
            at = p->i;
            n = ident_len(p, at);
            if (!n) return perr(at, "expected an op after '%s='", L->name);
            p->i += n;
        }
        int k = 0;
        while (k < N_OPS && (ops[k].container == C_BRANCH || !ident_is(p, at, n, ops[k].name))) k++;
        if (k == N_OPS) return perr(at, "unknown op '%.*s'", (int)(n > 40 ? 40 : n), p->s + at);
        L->op = k;
        L->text = p->s + at;
        if (p->i < p->len && p->s[p->i] == '(') {
            int64_t open = p->i++;
            if (ops[L->op].container) {
                if (depth + 1 > SPEC_MAX_DEPTH)
                    return perr(at, "residual and parallel nest deeper than %d in all", SPEC_MAX_DEPTH);
                if (ops[L->op].container == C_PARALLEL) s = parse_branches(p, depth + 1, open);
                else s = parse_list(p, depth + 1, open, ops[L->op].name);
                if (s) return s;
                p->i++;   /* the ')' */
                if (p->n == idx + 1) return perr(at, "residual() holds no layers");
            } else if ((s = parse_args(p, &p->l[idx], open))) {
                return s;
            }
        } else if (ops[L->op].container == C_PARALLEL) {
            return perr(at, "parallel needs its branches in parentheses: parallel(A | B ...)");
        } else if (ops[L->op].container) {
            return perr(at, "residual needs its layers in parentheses: residual(...)");
        } else if ((s = resolve_defaults(L, (bool[MAX_ARGS]){ false }, at))) {   /* no parentheses */
            return s;
        }
        L = &p->l[idx];   /* push() may have moved the array */
        int64_t tl = p->i - (L->text - p->s);
        L->text_len = (int)(tl > 60 ? 60 : tl);
        L->end = p->n;
        if (p->i < p->len && !is_space(p->s[p->i]) && p->s[p->i] != '#' && p->s[p->i] != ')' && p->s[p->i] != '|')
            return perr(p->i, "expected whitespace between layers, got '%c'", p->s[p->i]);
    }
}

/* ---- shapes, parameters, FLOPs ------------------------------------------ */
typedef struct checker {
    const parser *p;
    cg_net_row *rows;   /* one per layer, or NULL */
    int64_t params;
    double flops;
    int64_t batch;      /* examples in one forward */
    int64_t bytes;      /* the forward's outputs so far at that batch (the input included) */
    int64_t peak;       /* the most held at once: bytes so far plus a layer's workspace */
    int64_t threads;    /* the workspace is one example's per thread (conv2d's im2col) */
    int64_t limit;      /* what the machine can hold (machine_memory) */
} checker;

/* The machine's memory in bytes: physical memory, or the cgroup's limit where one is set lower. */
static int64_t machine_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    int64_t m = pages > 0 && page > 0 && pages <= INT64_MAX / page ? (int64_t)pages * page : INT64_MAX;
    FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");   /* cgroup v2; "max" when unlimited */
    if (f) {
        long long v;
        if (fscanf(f, "%lld", &v) == 1 && v > 0 && v < m) m = v;
        fclose(f);
    }
    return m;
}

static double gib(int64_t bytes) { return (double)bytes / (1024.0 * 1024.0 * 1024.0); }

/* Adds layer L's output (floats of one example, at the batch) to what the forward holds (training
 * keeps every output for backward), with its workspace (floats of one example) on top while it
 * runs: refused, naming the layer, when that is more than the machine's memory. */
static cg_status count_bytes(checker *c, const layer *L, int64_t out_floats, int64_t scratch_floats) {
    int64_t out, scratch, peak;
    if (__builtin_mul_overflow(out_floats, (int64_t)sizeof(float), &out) || __builtin_mul_overflow(out, c->batch, &out) ||
        __builtin_add_overflow(c->bytes, out, &c->bytes) ||
        __builtin_mul_overflow(scratch_floats, (int64_t)sizeof(float), &scratch) ||
        __builtin_mul_overflow(scratch, c->threads, &scratch) || __builtin_add_overflow(c->bytes, scratch, &peak))
        return cg_error(CG_ENOMEM, "net spec, char %lld: %.*s: the forward at batch %lld needs more bytes than int64 "
                        "counts (every layer's output is kept for backward)", (long long)(L->pos + 1), L->text_len,
                        L->text, (long long)c->batch);
    if (peak > c->peak) c->peak = peak;
    if (peak > c->limit)
        return cg_error(CG_ENOMEM, "net spec, char %lld: %.*s brings the forward at batch %lld to %.1f GiB (every "
                        "layer's output up to here, kept for backward%s), more than this machine's %.1f GiB of memory",
                        (long long)(L->pos + 1), L->text_len, L->text, (long long)c->batch, gib(peak),
                        scratch ? ", and this layer's workspace, one example per thread" : "", gib(c->limit));
    return CG_OK;
}

static cg_status check_list(checker *c, int64_t lo, int64_t hi, shape *s, const char *prefix, int depth);

static void row_name(cg_net_row *row, const char *path) {   /* the summary's column: cut to fit */
    size_t n = strlen(path);
    if (n >= sizeof row->name) n = sizeof row->name - 1;
    memcpy(row->name, path, n);
    row->name[n] = '\0';
}

/* The parallel at i (row name, depth) on r->in: each branch from that input, a row per branch
 * with its output; the outputs must agree in every dim but the first of one example's (dim 1 of
 * the batch), where they are concatenated into r->out. */
static cg_status check_parallel(checker *c, int64_t i, rule_io *r, const char *name, int depth) {
    const layer *L = &c->p->l[i];
    char b1[160], b2[160], path[SPEC_MAX_PATH + 32];
    shape first = { 0 };
    int64_t channels = 0;
    int j = 0;
    for (int64_t b = i + 1; b < L->end; b = c->p->l[b].end, j++) {
        cg_net_row row = { .depth = depth + 1 };
        snprintf(path, sizeof path, "%s.%d", name, j);
        if (strlen(path) > SPEC_MAX_PATH)
            return perr(c->p->l[b].pos, "branch %d of this parallel nests past %d characters: its dotted name "
                        "'%.40s...' has %zu (a state-dict name holds it and a '.' within 255)", j,
                        SPEC_MAX_PATH + 1, path, strlen(path));
        row_name(&row, path);
        shape s = r->in;
        cg_status st = check_list(c, b + 1, c->p->l[b].end, &s, path, depth + 2);
        if (st) return st;
        if (!j) first = s;
        bool same = s.nd == first.nd;
        for (int d = 1; same && d < s.nd; d++) same = s.d[d] == first.d[d];
        if (!same)
            return lerr(L, "branches disagree: branch 0 gives %s, branch %d gives %s; they must agree in every dim "
                        "but dim 1, where they are concatenated", shape_n(b1, sizeof b1, &first), j,
                        shape_n(b2, sizeof b2, &s));
        if (__builtin_add_overflow(channels, s.d[0], &channels) || channels > SPEC_MAX_DIM)
            return lerr(L, "is too large to count");
        snprintf(row.op, sizeof row.op, "branch");
        row.ndim = s.nd;
        memcpy(row.shape, s.d, sizeof row.shape);
        if (c->rows) c->rows[b] = row;
    }
    r->out = first;
    r->out.d[0] = channels;
    return CG_OK;
}

/* Layers [lo, hi) of one sequence, starting from shape *s (updated); prefix: the dotted name of
 * the enclosing residual or branch ("" at top level). Each layer's own part is its row's rule. */
static cg_status check_list(checker *c, int64_t lo, int64_t hi, shape *s, const char *prefix, int depth) {
    char b1[160], b2[160];
    int64_t pos = 0;
    shape flat_from = { 0 }, flat_in = { 0 };   /* a flatten's input, for the next layer's messages */
    for (int64_t i = lo; i < hi; i = c->p->l[i].end, pos++, flat_from = flat_in, flat_in = (shape){ 0 }) {
        const layer *L = &c->p->l[i];
        const op_info *op = &ops[L->op];
        for (int64_t j = lo; j < i; j = c->p->l[j].end)
            if (L->name[0] && !strcmp(c->p->l[j].name, L->name))
                return perr(L->pos, "layer name '%s' is used twice", L->name);
        cg_net_row row = { .depth = depth };
        char path[SPEC_MAX_PATH + 64];   /* prefix is at most SPEC_MAX_PATH, a name SPEC_MAX_NAME */
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", L->name);
        if (!L->name[0]) snprintf(path + strlen(path), sizeof path - strlen(path), "%lld", (long long)pos);
        if (strlen(path) > SPEC_MAX_PATH)
            return perr(L->pos, "layer name '%s' nests past %d characters: its dotted name '%.40s...' has %zu (a "
                        "state-dict name holds it and a '.' within 255)", L->name[0] ? L->name : path + strlen(prefix) + 1,
                        SPEC_MAX_PATH + 1, path, strlen(path));
        row_name(&row, path);
        snprintf(row.op, sizeof row.op, "%s", op->name);
        rule_io r = { .L = L, .in = *s, .shown = flat_from.nd ? &flat_from : &r.in, .out = *s };
        int64_t numel;
        if (!numel_of(&r.in, &numel)) return lerr(L, "gets an input too large to count (%s)", shape_n(b1, sizeof b1, &r.in));
        if (op->image && r.in.nd != 3) return lerr(L, "needs [N,C,H,W] input, gets %s", shape_n(b1, sizeof b1, &r.in));
        if (op->container == C_PARALLEL) {
            cg_status st = check_parallel(c, i, &r, path, depth);
            if (st) return st;
        } else if (op->container) {
            cg_status st = check_list(c, i + 1, L->end, &r.out, path, depth + 1);
            if (st) return st;
            bool same = r.out.nd == r.in.nd;
            for (int d = 0; same && d < r.in.nd; d++) same = r.out.d[d] == r.in.d[d];
            if (!same)
                return lerr(L, "changes the shape %s to %s, but x + layers(x) needs them equal",
                            shape_n(b1, sizeof b1, &r.in), shape_n(b2, sizeof b2, &r.out));
            r.flops = (double)numel;   /* the add */
        } else if (op->rule) {
            cg_status st = op->rule(&r);
            if (st) return st;
        }
        int64_t out_numel;
        if (!numel_of(&r.out, &out_numel))
            return lerr(L, "gives an output too large to count (%s)", shape_n(b1, sizeof b1, &r.out));
        if (!op->flattens) {   /* flatten is a view: no memory of its own */
            cg_status st = count_bytes(c, L, out_numel, r.scratch);
            if (st) return st;
        }
        if (op->flattens) flat_in = r.in;
        *s = r.out;
        if (__builtin_add_overflow(c->params, r.params, &c->params) || c->params > SPEC_MAX_PARAMS)
            return lerr(L, "brings the net over %lld parameters, more than cgrad builds", (long long)SPEC_MAX_PARAMS);
        c->flops += r.flops;
        row.ndim = s->nd;
        memcpy(row.shape, s->d, sizeof row.shape);
        row.params = r.params;
        row.flops = r.flops;
        if (c->rows) c->rows[i] = row;
    }
    return CG_OK;
}

/* ---- building ------------------------------------------------------------ */
static cg_module *build_layer(const layer *L) {
    const op_info *op = &ops[L->op];
    return op->build ? op->build(L->v) : op->new0();
}

static cg_status build_list(const parser *p, int64_t lo, int64_t hi, cg_module *seq);

/* The branches of the parallel at i into par, each a Sequential. */
static cg_status build_branches(const parser *p, int64_t i, cg_module *par) {
    for (int64_t b = i + 1; b < p->l[i].end; b = p->l[b].end) {
        cg_module *br = cg_sequential_new();
        if (!br) return CG_ENOMEM;
        if (build_list(p, b + 1, p->l[b].end, br) != CG_OK) { cg_module_free(br); return CG_ENOMEM; }
        if (!cg_parallel_append(par, NULL, br)) return CG_ENOMEM;
    }
    return CG_OK;
}

static cg_status build_list(const parser *p, int64_t lo, int64_t hi, cg_module *seq) {
    for (int64_t i = lo; i < hi; i = p->l[i].end) {
        const layer *L = &p->l[i];
        cg_module *m = build_layer(L);
        if (m && ops[L->op].container &&
            (ops[L->op].container == C_PARALLEL ? build_branches(p, i, m) : build_list(p, i + 1, L->end, m)) != CG_OK) {
            cg_module_free(m);
            return CG_ENOMEM;
        }
        if (!cg_sequential_append(seq, L->name[0] ? L->name : NULL, m)) {
            char why[400];   /* copied: cg_error writes the buffer cg_last_error reads */
            snprintf(why, sizeof why, "%s", cg_last_error());
            return cg_error(CG_ENOMEM, "net spec, char %lld: %.*s could not be built: %s", (long long)(L->pos + 1),
                            L->text_len, L->text, why);
        }
    }
    return CG_OK;
}

/* ---- the entry points ---------------------------------------------------- */
static cg_status parse_and_check(const char *spec, int ndim, const int64_t *example, int64_t batch, parser *p,
                                 cg_net_info *info) {
    if (info) *info = (cg_net_info){ 0 };
    if (!spec) return cg_error(CG_EINVAL, "net spec is NULL");
    if (batch < 1) return cg_error(CG_EINVAL, "net spec: batch %lld must be at least 1", (long long)batch);
    if (ndim < 1 || ndim >= CG_MAX_DIMS || !example)
        return cg_error(CG_EINVAL, "net spec: the example shape needs 1 to %d dims (the batch dim left out), got %d",
                        CG_MAX_DIMS - 1, ndim);
    shape s = { ndim, { 0 } };
    for (int d = 0; d < ndim; d++) {
        if (example[d] <= 0 || example[d] > SPEC_MAX_DIM)
            return cg_error(CG_EINVAL, "net spec: example shape dim %d is %lld, must be in [1, 2^31]", d,
                            (long long)example[d]);
        s.d[d] = example[d];
    }
    *p = (parser){ .s = spec, .len = (int64_t)strlen(spec) };
    cg_status st = parse_list(p, 0, 0, NULL);
    if (st) return st;
    if (!p->n) return cg_error(CG_EINVAL, "net spec is empty: it names no layer");
    checker c = { .p = p, .batch = batch, .limit = machine_memory(), .threads = cg_get_num_threads() };
    if (c.threads < 1) c.threads = 1;
    int64_t in_numel;
    if (!numel_of(&s, &in_numel)) return cg_error(CG_EINVAL, "net spec: the example shape is too large to count");
    if (__builtin_mul_overflow(in_numel, (int64_t)sizeof(float), &c.bytes) ||
        __builtin_mul_overflow(c.bytes, batch, &c.bytes) || c.bytes > c.limit)
        return cg_error(CG_ENOMEM, "net spec: the input of %lld examples of this shape is more than this machine's "
                        "%.1f GiB of memory", (long long)batch, gib(c.limit));
    if (info && !(c.rows = cg_calloc((size_t)p->n, sizeof *c.rows))) return CG_ENOMEM;
    if ((st = check_list(&c, 0, p->n, &s, "", 0))) { cg_free(c.rows); return st; }
    if (info) *info = (cg_net_info){ c.rows, p->n, c.params, c.flops, c.bytes, c.peak > c.bytes ? c.peak : c.bytes };
    return CG_OK;
}

cg_status cg_net_check_spec(const char *spec, int ndim, const int64_t *example_shape, int64_t batch,
                            cg_net_info *info) {
    parser p = { 0 };   /* parse_and_check may return before it sets p (a NULL spec, a bad shape) */
    cg_status st = parse_and_check(spec, ndim, example_shape, batch, &p, info);
    cg_free(p.l);
    return st;
}

cg_module *cg_net_from_spec(const char *spec, int ndim, const int64_t *example_shape, cg_net_info *info) {
    parser p = { 0 };
    cg_module *net = NULL;
    if (parse_and_check(spec, ndim, example_shape, 1, &p, info) == CG_OK && (net = cg_sequential_new()) &&
        build_list(&p, 0, p.n, net) != CG_OK) {
        cg_module_free(net);
        net = NULL;
    }
    if (!net && info) cg_net_info_free(info);
    cg_free(p.l);
    return net;
}

void cg_net_info_free(cg_net_info *info) {
    if (!info) return;
    cg_free(info->rows);
    *info = (cg_net_info){ 0 };
}

void cg_net_info_fprint(FILE *f, const cg_net_info *info) {
    if (!f || !info) return;
    fprintf(f, "  %-20s %-20s %-18s %12s\n", "layer", "op", "output", "parameters");
    for (int64_t i = 0; i < info->n; i++) {
        const cg_net_row *r = &info->rows[i];
        char sh[160], nm[64];
        shape s = { r->ndim, { 0 } };
        memcpy(s.d, r->shape, sizeof s.d);
        snprintf(nm, sizeof nm, "%*s%s", 2 * r->depth, "", r->name);
        fprintf(f, "  %-20s %-20s %-18s %12lld\n", nm, r->op, shape_n(sh, sizeof sh, &s), (long long)r->params);
    }
    fprintf(f, "  %lld parameters (%.2f MiB as float32), %.2f MFLOP per example forward (conv, linear, residual adds)\n",
            (long long)info->params, (double)info->params * 4.0 / 1048576.0, info->flops / 1e6);
}
