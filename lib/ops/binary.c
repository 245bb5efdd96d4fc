/* SPDX-License-Identifier: MIT */
/* lib/ops/binary.c — add, sub, mul, div with NumPy/PyTorch broadcasting.
 * Shape rule: align shapes at the right; each pair of sizes must be equal or one of them 1.
 * Backward: the gradient w.r.t. a broadcast input is summed over its broadcast dims. */
#include "cg_internal.h"

typedef enum { B_ADD, B_SUB, B_MUL, B_DIV } bin_kind;

typedef struct bcast {
    int nd;
    int64_t shape[CG_MAX_DIMS];             /* out shape */
    int64_t sa[CG_MAX_DIMS], sb[CG_MAX_DIMS]; /* element strides of a, b in out's index space */
} bcast;

static cg_status bcast_plan(const char *op, const cg_tensor *a, const cg_tensor *b, bcast *p) {
    p->nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t stra = 1, strb = 1;
    for (int d = p->nd - 1; d >= 0; d--) {
        int da = d - (p->nd - a->ndim), db = d - (p->nd - b->ndim);
        int64_t na = da >= 0 ? a->shape[da] : 1, nb = db >= 0 ? b->shape[db] : 1;
        if (na != nb && na != 1 && nb != 1) {
            char s1[96], s2[96];
            return cg_error(CG_ESHAPE, "%s: shapes %s and %s do not broadcast (dim %d: %lld vs %lld)",
                            op, cg_shape_str(s1, sizeof s1, a->ndim, a->shape),
                            cg_shape_str(s2, sizeof s2, b->ndim, b->shape), d, (long long)na, (long long)nb);
        }
        p->shape[d] = na > nb ? na : nb;
        if (na == 0 || nb == 0) p->shape[d] = 0;
        p->sa[d] = na == 1 ? 0 : stra;
        p->sb[d] = nb == 1 ? 0 : strb;
        stra *= na;
        strb *= nb;
    }
    return CG_OK;
}

/* Offsets of a and b for out's flat row r (all dims but the last). */
static inline void row_offsets(const bcast *p, int64_t r, int64_t *oa, int64_t *ob) {
    int64_t a = 0, b = 0;
    for (int d = p->nd - 2; d >= 0; d--) {
        int64_t i = r % p->shape[d];
        r /= p->shape[d];
        a += i * p->sa[d];
        b += i * p->sb[d];
    }
    *oa = a;
    *ob = b;
}

static inline float apply(bin_kind k, float x, float y) {
    switch (k) {
    case B_ADD: return x + y;
    case B_SUB: return x - y;
    case B_MUL: return x * y;
    default:    return x / y;
    }
}

/* y[out] = a[bcast] (op) b[bcast] */
static void binary_forward(bin_kind k, float *restrict y, const float *restrict a,
                           const float *restrict b, const bcast *p, int64_t numel, bool same) {
    if (same) {
        switch (k) {
        case B_ADD:
            #pragma omp parallel for simd if (parallel: numel >= CG_OMP_MIN) schedule(static)
            for (int64_t i = 0; i < numel; i++) y[i] = a[i] + b[i];
            break;
        case B_SUB:
            #pragma omp parallel for simd if (parallel: numel >= CG_OMP_MIN) schedule(static)
            for (int64_t i = 0; i < numel; i++) y[i] = a[i] - b[i];
            break;
        case B_MUL:
            #pragma omp parallel for simd if (parallel: numel >= CG_OMP_MIN) schedule(static)
            for (int64_t i = 0; i < numel; i++) y[i] = a[i] * b[i];
            break;
        case B_DIV:
            #pragma omp parallel for simd if (parallel: numel >= CG_OMP_MIN) schedule(static)
            for (int64_t i = 0; i < numel; i++) y[i] = a[i] / b[i];
            break;
        }
        return;
    }
    int64_t inner = p->nd ? p->shape[p->nd - 1] : 1;
    int64_t rows = inner ? numel / inner : 0;
    int64_t ia = p->nd ? p->sa[p->nd - 1] : 0, ib = p->nd ? p->sb[p->nd - 1] : 0;
    #pragma omp parallel for if (numel >= CG_OMP_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t oa, ob;
        row_offsets(p, r, &oa, &ob);
        for (int64_t j = 0; j < inner; j++) y[r * inner + j] = apply(k, a[oa + j * ia], b[ob + j * ib]);
    }
}

/* Gradient for one side: g[bcast] += dy * d(op)/d(side). which = 0 for a, 1 for b.
 * Reduced (broadcast) sides accumulate serially: their rows alias. */
static void binary_backward_side(bin_kind k, int which, float *restrict g, const float *restrict dy,
                                 const float *restrict a, const float *restrict b, const bcast *p,
                                 int64_t numel, bool same_as_out) {
    int64_t inner = p->nd ? p->shape[p->nd - 1] : 1;
    int64_t rows = inner ? numel / inner : 0;
    int64_t ia = p->nd ? p->sa[p->nd - 1] : 0, ib = p->nd ? p->sb[p->nd - 1] : 0;
    #pragma omp parallel for if (same_as_out && numel >= CG_OMP_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t oa, ob;
        row_offsets(p, r, &oa, &ob);
        for (int64_t j = 0; j < inner; j++) {
            float x = a[oa + j * ia], z = b[ob + j * ib], d = dy[r * inner + j], v;
            switch (k) {
            case B_ADD: v = d; break;
            case B_SUB: v = which ? -d : d; break;
            case B_MUL: v = which ? d * x : d * z; break;
            default:    v = which ? -d * x / (z * z) : d / z; break;
            }
            if (which) g[ob + j * ib] += v;
            else g[oa + j * ia] += v;
        }
    }
}

/* The gradient for one side when a, b and the output have one shape (a residual's add): one
 * vectorised pass; fresh: g is uninitialised, so = instead of += (no memset, no read). */
static void binary_backward_same(bin_kind k, int which, float *restrict g, const float *restrict dy,
                                 const float *restrict a, const float *restrict b, int64_t numel, bool fresh) {
    const float sign = (k == B_SUB && which) ? -1.0f : 1.0f;
    switch (k) {
    case B_ADD:
    case B_SUB:
        if (fresh) {
            #pragma omp parallel for simd if (parallel: numel >= CG_OMP_MIN) schedule(static)
            for (int64_t i = 0; i < numel; i++) g[i] = sign * dy[i];
        } else {
            #pragma omp parallel for simd if (parallel: numel >= CG_OMP_MIN) schedule(static)
            for (int64_t i = 0; i < numel; i++) g[i] += sign * dy[i];
        }
        break;
    case B_MUL: {
        const float *o = which ? a : b;
        if (fresh) {
            #pragma omp parallel for simd if (parallel: numel >= CG_OMP_MIN) schedule(static)
            for (int64_t i = 0; i < numel; i++) g[i] = dy[i] * o[i];
        } else {
            #pragma omp parallel for simd if (parallel: numel >= CG_OMP_MIN) schedule(static)
            for (int64_t i = 0; i < numel; i++) g[i] += dy[i] * o[i];
        }
        break;
    }
    default:
        if (fresh) memset(g, 0, (size_t)numel * sizeof(float));
        #pragma omp parallel for simd if (parallel: numel >= CG_OMP_MIN) schedule(static)
        for (int64_t i = 0; i < numel; i++) g[i] += which ? -dy[i] * a[i] / (b[i] * b[i]) : dy[i] / b[i];
        break;
    }
}

static cg_status binary_backward(cg_node *n) {
    bin_kind k;
    CG_GET_PARAMS(n, &k);
    cg_tensor *a = n->in[0], *b = n->in[1];
    bcast p;
    bcast_plan("backward", a, b, &p);
    const float *dy = cg_out_grad(n);
    const bool same = cg_tensor_same_shape(a, b) && a->numel == n->out->numel;
    for (int side = 0; side < 2; side++) {
        cg_tensor *t = n->in[side];
        if (!cg_requires_grad(t)) continue;
        if (same) {  /* (x + x: the second side finds the first one's grad, not fresh) */
            bool fresh;
            float *g = cg_grad_data_fresh(t, &fresh);
            if (!g) return CG_ENOMEM;
            binary_backward_same(k, side, g, dy, a->data, b->data, n->out->numel, fresh);
            continue;
        }
        float *g = cg_grad_data(t);
        if (!g) return CG_ENOMEM;
        binary_backward_side(k, side, g, dy, a->data, b->data, &p, n->out->numel,
                             t->numel == n->out->numel);
    }
    return CG_OK;
}

static const cg_op_def op_binary[4] = {
    { "add", binary_backward }, { "sub", binary_backward },
    { "mul", binary_backward }, { "div", binary_backward },
};

static cg_tensor *binary(bin_kind k, cg_tensor *a, cg_tensor *b) {
    if (!a || !b) return NULL;
    CG_REQUIRE_F32(op_binary[k].name, "a", a);
    CG_REQUIRE_F32(op_binary[k].name, "b", b);
    double t0 = cg_profile_begin();
    bcast p;
    if (bcast_plan(op_binary[k].name, a, b, &p) != CG_OK) return NULL;
    cg_tensor *y = cg_tape_tensor(p.nd, p.shape);
    if (!y) return NULL;
    bool same = cg_tensor_same_shape(a, b);
    binary_forward(k, y->data, a->data, b->data, &p, y->numel, same);
    cg_node *n = cg_record(&op_binary[k], y, 2, (cg_tensor *[]){ a, b });
    if (!n) return NULL;
    CG_SET_PARAMS(n, &k);
    cg_profile_end(op_binary[k].name, 0, t0);
    return y;
}

/* relu(a + b) for a and b of one shape, as one op (what Residual + ReLU runs): one tensor and
 * two passes fewer; the same values and gradients (relu passes the gradient where its output is
 * positive; NaN is not). Other shapes run relu(add(a, b)). */
static cg_status add_relu_backward(cg_node *n) {
    const float *dy = cg_out_grad(n), *y = n->out->data;
    const int64_t numel = n->out->numel;
    for (int side = 0; side < 2; side++) {
        cg_tensor *t = n->in[side];
        if (!cg_requires_grad(t)) continue;
        bool fresh;
        float *g = cg_grad_data_fresh(t, &fresh);
        if (!g) return CG_ENOMEM;
        if (fresh) {
            #pragma omp parallel for simd if (parallel: numel >= CG_OMP_MIN) schedule(static)
            for (int64_t i = 0; i < numel; i++) { float d = dy[i], v = y[i]; g[i] = v > 0.0f ? d : 0.0f; }
        } else {
            #pragma omp parallel for simd if (parallel: numel >= CG_OMP_MIN) schedule(static)
            for (int64_t i = 0; i < numel; i++) { float d = dy[i], v = y[i], o = g[i]; g[i] = o + (v > 0.0f ? d : 0.0f); }
        }
    }
    return CG_OK;
}

static const cg_op_def op_add_relu = { "add_relu", add_relu_backward };

cg_tensor *cg_add_relu(cg_tensor *a, cg_tensor *b) {
    if (!a || !b) return NULL;
    CG_REQUIRE_F32("add", "a", a);
    CG_REQUIRE_F32("add", "b", b);
    if (!cg_tensor_same_shape(a, b)) return cg_relu(cg_add(a, b));
    double t0 = cg_profile_begin();
    cg_tensor *y = cg_tape_tensor(a->ndim, a->shape);
    if (!y) return NULL;
    const float *pa = a->data, *pb = b->data;
    float *py = y->data;
    const int64_t numel = y->numel;
    #pragma omp parallel for simd if (parallel: numel >= CG_OMP_MIN) schedule(static)
    for (int64_t i = 0; i < numel; i++) { float v = pa[i] + pb[i]; py[i] = v <= 0.0f ? 0.0f : v; }  /* NaN stays */
    if (!cg_record(&op_add_relu, y, 2, (cg_tensor *[]){ a, b })) return NULL;
    cg_profile_end(op_add_relu.name, 0, t0);
    return y;
}

cg_tensor *cg_add(cg_tensor *a, cg_tensor *b) { return binary(B_ADD, a, b); }
cg_tensor *cg_sub(cg_tensor *a, cg_tensor *b) { return binary(B_SUB, a, b); }
cg_tensor *cg_mul(cg_tensor *a, cg_tensor *b) { return binary(B_MUL, a, b); }
cg_tensor *cg_div(cg_tensor *a, cg_tensor *b) { return binary(B_DIV, a, b); }
