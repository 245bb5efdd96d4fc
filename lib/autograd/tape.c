/* SPDX-License-Identifier: MIT */
/* lib/autograd/tape.c — the per-thread tape: tape-owned tensors, pooled buffers, nodes,
 * backward, grad mode.
 *
 * Memory: nodes and tensor structs live in chunks that are never moved (tensors point at their
 * node), and data buffers in a pool matched best-fit by size. cg_tape_release() marks all of it
 * free without returning it to the allocator, so a step that repeats the last one's requests
 * is served entirely from the pool. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include "cg_internal.h"

#define CHUNK 256

typedef struct pool_buf { void *p; size_t bytes; bool used; } pool_buf;

typedef struct tape {
    cg_node **node_chunks; int64_t n_node_chunks, n_nodes;
    cg_tensor **tensor_chunks; int64_t n_tensor_chunks, n_tensors;
    pool_buf *bufs; int64_t n_bufs, cap_bufs;
    int64_t pool_bytes;
} tape;

static _Thread_local tape T;
static _Thread_local bool grad_enabled = true;

/* ---- thread exit ---------------------------------------------------------- */
/* A thread that allocated tape memory is registered under a pthread key whose destructor frees
 * it when the thread exits (thread-local variables are still reachable while key destructors
 * run; the scratch arena has a key of its own, lib/core/arena.c). The main thread's destructors
 * do not run at exit(): free it there with cg_tape_free_all(), or let the process end. */
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static _Thread_local bool exit_registered;
static bool exit_key_ok;

static void thread_exit(void *unused) { (void)unused; cg_tape_free_all(); }
static void exit_key_make(void) { exit_key_ok = pthread_key_create(&exit_key, thread_exit) == 0; }

void cg_thread_cleanup_register(void) {
    if (exit_registered) return;
    pthread_once(&exit_once, exit_key_make);
    /* any non-NULL value: the destructor only runs for one */
    if (exit_key_ok && pthread_setspecific(exit_key, &exit_registered) == 0) exit_registered = true;
}

/* ---- pooled buffers ------------------------------------------------------ */
static void *pool_get(size_t bytes) {
    cg_thread_cleanup_register();
    if (bytes == 0) bytes = 64;
    int64_t best = -1;
    for (int64_t i = 0; i < T.n_bufs; i++) {
        pool_buf *b = &T.bufs[i];
        if (!b->used && b->bytes >= bytes && (best < 0 || b->bytes < T.bufs[best].bytes)) best = i;
    }
    if (best >= 0) { T.bufs[best].used = true; return T.bufs[best].p; }
    if (T.n_bufs == T.cap_bufs) {
        int64_t cap = T.cap_bufs ? 2 * T.cap_bufs : 64;
        pool_buf *nb = cg_malloc((size_t)cap * sizeof *nb);
        if (!nb) return NULL;
        if (T.n_bufs) memcpy(nb, T.bufs, (size_t)T.n_bufs * sizeof *nb);
        cg_free(T.bufs);
        T.bufs = nb;
        T.cap_bufs = cap;
    }
    void *p = cg_malloc(bytes);
    if (!p) return NULL;
    T.bufs[T.n_bufs++] = (pool_buf){ p, bytes, true };
    T.pool_bytes += (int64_t)bytes;
    return p;
}

void *cg_tape_scratch(size_t bytes) { return pool_get(bytes); }

/* Grow a chunk list so that it holds `need` items. */
static bool chunks_reserve(void ***chunks, int64_t *n_chunks, int64_t need, size_t item) {
    if (*n_chunks * CHUNK < need) cg_thread_cleanup_register();
    while (*n_chunks * CHUNK < need) {
        void **nc = cg_malloc((size_t)(*n_chunks + 1) * sizeof *nc);
        if (!nc) return false;
        if (*n_chunks) memcpy(nc, *chunks, (size_t)*n_chunks * sizeof *nc);
        nc[*n_chunks] = cg_calloc(CHUNK, item);
        if (!nc[*n_chunks]) { cg_free(nc); return false; }
        cg_free(*chunks);
        *chunks = nc;
        (*n_chunks)++;
    }
    return true;
}

static cg_tensor *tensor_slot(void) {
    if (!chunks_reserve((void ***)&T.tensor_chunks, &T.n_tensor_chunks, T.n_tensors + 1, sizeof(cg_tensor)))
        return NULL;
    int64_t i = T.n_tensors++;
    cg_tensor *t = &((cg_tensor *)T.tensor_chunks[i / CHUNK])[i % CHUNK];
    memset(t, 0, sizeof *t);
    t->flags = CG_T_ON_TAPE;
    return t;
}

static cg_tensor *tape_tensor(const char *what, cg_dtype dtype, int ndim, const int64_t *shape, bool zero) {
    cg_threads_sync();  /* every op makes its result here first: its loops use the process count */
    if (cg_check_shape(what, ndim, shape) != CG_OK) return NULL;
    cg_tensor *t = tensor_slot();
    if (!t) return NULL;
    t->ndim = ndim;
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->numel = cg_shape_numel(ndim, shape);
    t->dtype = dtype;
    const size_t bytes = (size_t)t->numel * cg_dtype_size(dtype);
    t->pool_buf = pool_get(bytes);
    if (!t->pool_buf) { T.n_tensors--; return NULL; }
    t->raw = t->pool_buf;
    if (zero) memset(t->raw, 0, bytes);
    return t;
}

cg_tensor *cg_tape_tensor(int ndim, const int64_t *shape) { return tape_tensor("op result", CG_F32, ndim, shape, false); }
cg_tensor *cg_tape_tensor_zeros(int ndim, const int64_t *shape) {
    return tape_tensor("op result", CG_F32, ndim, shape, true);
}
cg_tensor *cg_tape_tensor_dtype(cg_dtype dtype, int ndim, const int64_t *shape, bool zero) {
    return tape_tensor("op result", dtype, ndim, shape, zero);
}

cg_tensor *cg_tape_wrap(cg_dtype dtype, void *data, int ndim, const int64_t *shape) {
    if (cg_dtype_size(dtype) == 0) return CG_FAIL(CG_EINVAL, "cg_tape_wrap: unknown element type %d", (int)dtype);
    if (cg_check_shape("cg_tape_wrap", ndim, shape) != CG_OK) return NULL;
    const int64_t numel = cg_shape_numel(ndim, shape);
    if (numel > 0 && !data) return CG_FAIL(CG_EINVAL, "cg_tape_wrap: data is NULL for %lld elements", (long long)numel);
    cg_tensor *t = tensor_slot();
    if (!t) return NULL;
    t->ndim = ndim;
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->numel = numel;
    t->dtype = dtype;
    t->raw = data;
    return t;
}

cg_tensor *cg_tape_view(cg_tensor *base, int ndim, const int64_t *shape) {
    if (cg_check_shape("view", ndim, shape) != CG_OK) return NULL;
    if (cg_shape_numel(ndim, shape) != base->numel)
        return CG_FAIL(CG_ESHAPE, "view: %lld elements cannot take a shape of %lld",
                       (long long)base->numel, (long long)cg_shape_numel(ndim, shape));
    cg_tensor *t = tensor_slot();
    if (!t) return NULL;
    t->ndim = ndim;
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->numel = base->numel;
    t->dtype = base->dtype;
    t->raw = base->raw;
    return t;
}

/* ---- nodes --------------------------------------------------------------- */
bool cg_needs_record(int n_in, cg_tensor *const *in) {
    if (!grad_enabled) return false;
    for (int i = 0; i < n_in; i++) if (cg_requires_grad(in[i])) return true;
    return false;
}

static _Thread_local cg_node unrecorded;

bool cg_node_recorded(const cg_node *n) { return n && n != &unrecorded; }

cg_node *cg_record(const cg_op_def *op, cg_tensor *out, int n_in, cg_tensor *const *in) {
    CG_ASSERT(n_in <= CG_MAX_INPUTS);
    if (!cg_needs_record(n_in, in)) { memset(&unrecorded, 0, sizeof unrecorded); return &unrecorded; }
    if (!chunks_reserve((void ***)&T.node_chunks, &T.n_node_chunks, T.n_nodes + 1, sizeof(cg_node)))
        return NULL;
    int64_t i = T.n_nodes++;
    cg_node *n = &((cg_node *)T.node_chunks[i / CHUNK])[i % CHUNK];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->out = out;
    n->n_in = n_in;
    for (int k = 0; k < n_in; k++) n->in[k] = in[k];
    out->node = n;
    out->flags |= CG_T_REQ_GRAD;
    return n;
}

static cg_node *node_at(int64_t i) { return &((cg_node *)T.node_chunks[i / CHUNK])[i % CHUNK]; }

float *cg_grad_data(cg_tensor *t) {
    if (!cg_requires_grad(t)) return NULL;
    if (!t->grad) {
        t->grad = (t->flags & CG_T_ON_TAPE) ? cg_tape_tensor_zeros(t->ndim, t->shape)
                                            : cg_tensor_zeros(t->ndim, t->shape);
        if (!t->grad) return NULL;
    }
    return t->grad->data;
}

float *cg_grad_data_fresh(cg_tensor *t, bool *fresh) {
    *fresh = false;
    if (!cg_requires_grad(t)) return NULL;
    if (!t->grad && (t->flags & CG_T_ON_TAPE)) {
        if (!(t->grad = cg_tape_tensor(t->ndim, t->shape))) return NULL;
        *fresh = true;
        return t->grad->data;
    }
    return cg_grad_data(t);
}

/* ---- backward ------------------------------------------------------------ */
/* Where a tape tensor's struct sits on this thread's tape: 1 live, 0 released (a slot of this
 * tape beyond the tensors in use), -1 not this thread's tape at all. */
static int tape_holds(const cg_tensor *t) {
    const uintptr_t a = (uintptr_t)t;
    for (int64_t c = 0; c < T.n_tensor_chunks; c++) {
        const uintptr_t lo = (uintptr_t)T.tensor_chunks[c], hi = lo + CHUNK * sizeof(cg_tensor);
        if (a >= lo && a < hi) return c * CHUNK + (int64_t)((a - lo) / sizeof(cg_tensor)) < T.n_tensors;
    }
    return -1;
}

cg_status cg_backward(cg_tensor *loss) {
    if (!loss) {
        /* Copied first: cg_error writes the very buffer cg_last_error() returns, and an
         * overlapping vsnprintf is undefined (it garbled the message). */
        char why[400];
        snprintf(why, sizeof why, "%s", cg_last_error());
        return cg_error(CG_EINVAL, "cg_backward: loss is NULL (an op before it failed: %s)",
                        why[0] ? why : "no message");
    }
    if (loss->flags & CG_T_ON_TAPE) {
        int where = tape_holds(loss);
        if (where == 0)
            return cg_error(CG_ESTATE, "cg_backward: loss was released by cg_tape_release(); call backward "
                                       "before releasing the tape");
        if (where < 0)
            return cg_error(CG_ESTATE, "cg_backward: loss is not on this thread's tape (it was recorded on "
                                       "another thread); call backward on the thread that recorded it");
    }
    cg_threads_sync();
    if (loss->numel != 1)
        return cg_error(CG_ESHAPE, "cg_backward: loss has %lld elements; backward needs one",
                        (long long)loss->numel);
    if (!cg_requires_grad(loss))
        return cg_error(CG_ESTATE, "cg_backward: loss does not require grad (no input needs grad, "
                                   "or it was computed in no-grad mode)");
    /* Intermediate grads belong to one backward pass: start them afresh. */
    for (int64_t i = 0; i < T.n_nodes; i++) node_at(i)->out->grad = NULL;
    float *g = cg_grad_data(loss);
    if (!g) return CG_ENOMEM;
    if (!loss->node) { g[0] += 1.0f; return CG_OK; }  /* a leaf: accumulate like any leaf */
    g[0] = 1.0f;
    bool prev = cg_set_grad_enabled(false);
    cg_status st = CG_OK;
    for (int64_t i = T.n_nodes - 1; i >= 0 && st == CG_OK; i--) {
        cg_node *n = node_at(i);
        if (!n->out->grad) continue;  /* not on a path to the loss */
        double t0 = cg_profile_begin();
        st = n->op->backward(n);
        cg_profile_end(n->op->name, 1, t0);
    }
    cg_set_grad_enabled(prev);
    return st;
}

void cg_tape_release(void) {
    for (int64_t i = 0; i < T.n_bufs; i++) T.bufs[i].used = false;
    T.n_nodes = 0;
    T.n_tensors = 0;
}

void cg_tape_free_all(void) {
    for (int64_t i = 0; i < T.n_bufs; i++) cg_free(T.bufs[i].p);
    for (int64_t i = 0; i < T.n_node_chunks; i++) cg_free(T.node_chunks[i]);
    for (int64_t i = 0; i < T.n_tensor_chunks; i++) cg_free(T.tensor_chunks[i]);
    cg_free(T.bufs);
    cg_free(T.node_chunks);
    cg_free(T.tensor_chunks);
    memset(&T, 0, sizeof T);
    cg_scratch_free();  /* the arena the ops borrow from: the tape owns it */
}

int64_t cg_tape_num_nodes(void) { return T.n_nodes; }
int64_t cg_tape_num_tensors(void) { return T.n_tensors; }
int64_t cg_tape_pool_bytes(void) { return T.pool_bytes; }
int64_t cg_tape_scratch_bytes(void) { return cg_scratch_bytes(); }

bool cg_set_grad_enabled(bool enabled) { bool prev = grad_enabled; grad_enabled = enabled; return prev; }
bool cg_is_grad_enabled(void) { return grad_enabled; }
