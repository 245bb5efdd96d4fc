/* SPDX-License-Identifier: MIT */
/* lib/dist/dist.c — data parallelism over MPI (library cgrad_dist; see cgrad/dist.h).
 *
 * Built only with CGRAD_WITH_MPI, on cgrad's public API alone (the core library knows nothing of
 * it). Gradients travel in one fused float buffer, [grads of every parameter..., n*loss, n],
 * summed by one MPI_Allreduce and divided by the summed n: the weighted mean over ranks. The
 * buffer is allocated once and reused, so a step allocates nothing. */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cgrad/dist.h"

static bool g_init, g_we_initialised;
static int g_rank = 0, g_size = 1;
static float *g_buf;
static int64_t g_cap;

/* Returns CG_OK, or sets "what: MPI error text" and returns CG_EIO. */
static cg_status mpi_check(int rc, const char *what) {
    if (rc == MPI_SUCCESS) return CG_OK;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "MPI error %d", rc);
    return cg_set_error(CG_EIO, "%s failed on rank %d of %d: %s (another rank may have died)", what, g_rank,
                        g_size, msg);
}

static cg_status need_init(const char *fn) {
    return g_init ? CG_OK : cg_set_error(CG_ESTATE, "%s: call cg_dist_init first", fn);
}

cg_status cg_dist_init(int *argc, char ***argv) {
    if (g_init) return CG_OK;
    int already = 0;
    MPI_Initialized(&already);
    if (!already) {
        int provided = 0;
        int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return cg_set_error(CG_EIO, "cg_dist_init: MPI_Init_thread failed (%d)", rc);
        g_we_initialised = true;
    }
    /* Errors come back as codes, so a dead peer gives a message instead of MPI's default abort
     * without context; Open MPI's mpirun also ends the job when a rank exits non-zero. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_init = true;
    return CG_OK;
}

int cg_dist_rank(void) { return g_rank; }
int cg_dist_size(void) { return g_size; }

/* MPI counts are int: move n floats in pieces of at most 2^30. */
static cg_status bcast_floats(float *p, int64_t n, int root) {
    for (int64_t off = 0; off < n; off += 1 << 30) {
        int cnt = (int)(n - off < (1 << 30) ? n - off : (1 << 30));
        cg_status st = mpi_check(MPI_Bcast(p + off, cnt, MPI_FLOAT, root, MPI_COMM_WORLD), "cg_dist_broadcast_module: MPI_Bcast");
        if (st != CG_OK) return st;
    }
    return CG_OK;
}

cg_status cg_dist_broadcast_module(cg_module *m, int root) {
    cg_status st = need_init("cg_dist_broadcast_module");
    if (st != CG_OK) return st;
    if (root < 0 || root >= g_size)
        return cg_set_error(CG_EINVAL, "cg_dist_broadcast_module: root %d is outside 0..%d", root, g_size - 1);
    cg_named_list sd = { 0 };
    int bad = !m || cg_module_state_dict(m, &sd) != CG_OK;
    /* Structure check: every rank compares its (count, sizes) with root's, then all agree. */
    uint64_t sig[2] = { (uint64_t)sd.n, 0 };
    for (int64_t i = 0; i < sd.n; i++) sig[1] = sig[1] * 1000003u + (uint64_t)cg_tensor_numel(sd.items[i].tensor);
    uint64_t rsig[2] = { sig[0], sig[1] };
    st = mpi_check(MPI_Bcast(rsig, 2, MPI_UINT64_T, root, MPI_COMM_WORLD), "cg_dist_broadcast_module: MPI_Bcast");
    if (st == CG_OK) {
        int mine = bad || rsig[0] != sig[0] || rsig[1] != sig[1], any = 0;
        st = mpi_check(MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD),
                       "cg_dist_broadcast_module: MPI_Allreduce");
        if (st == CG_OK && any)
            st = cg_set_error(CG_ESHAPE, "cg_dist_broadcast_module: the modules differ across ranks (this rank: %lld "
                              "tensors%s)", (long long)sd.n, mine ? ", unlike root's" : "");
    }
    for (int64_t i = 0; st == CG_OK && i < sd.n; i++)
        st = bcast_floats(cg_tensor_data(sd.items[i].tensor), cg_tensor_numel(sd.items[i].tensor), root);
    cg_named_list_free(&sd);
    return st;
}

cg_status cg_dist_allreduce_grads(const cg_optimizer *o, int64_t local_n, float *loss) {
    cg_status st = need_init("cg_dist_allreduce_grads");
    if (st != CG_OK) return st;
    if (!o) return cg_set_error(CG_EINVAL, "cg_dist_allreduce_grads: optimizer is NULL");
    if (local_n < 1) return cg_set_error(CG_EINVAL, "cg_dist_allreduce_grads: local_n %lld must be >= 1", (long long)local_n);
    if (g_size == 1) return CG_OK; /* one rank: already the mean, bit for bit as without MPI */
    int64_t total = 0;
    for (int64_t i = 0; i < o->n_params; i++) total += cg_tensor_numel(o->params[i]);
    int64_t len = total + 2;
    if (len > INT_MAX) /* 2^31 floats = 8 GB of gradients: bucket before that */
        return cg_set_error(CG_EINVAL, "cg_dist_allreduce_grads: %lld gradient values exceed one MPI message", (long long)total);
    if (len > g_cap) {
        float *b = realloc(g_buf, (size_t)len * sizeof *b);
        if (!b) return cg_set_error(CG_ENOMEM, "cg_dist_allreduce_grads: %lld floats", (long long)len);
        g_buf = b;
        g_cap = len;
    }
    /* buf = local_n * [g..., loss, 1]: summed, then divided by the summed local_n. */
    const float w = (float)local_n;
    int64_t off = 0;
    for (int64_t i = 0; i < o->n_params; i++) {
        int64_t n = cg_tensor_numel(o->params[i]);
        const cg_tensor *g = cg_tensor_grad(o->params[i]);
        const float *gd = g ? cg_tensor_cdata(g) : NULL;
        float *dst = g_buf + off;
        if (gd) for (int64_t k = 0; k < n; k++) dst[k] = w * gd[k];
        else memset(dst, 0, (size_t)n * sizeof *dst);
        off += n;
    }
    g_buf[total] = loss ? w * *loss : 0.0f;
    g_buf[total + 1] = w;
    st = mpi_check(MPI_Allreduce(MPI_IN_PLACE, g_buf, (int)len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
                   "cg_dist_allreduce_grads: MPI_Allreduce");
    if (st != CG_OK) return st;
    const float sum_n = g_buf[total + 1];
    off = 0;
    for (int64_t i = 0; i < o->n_params; i++) {
        int64_t n = cg_tensor_numel(o->params[i]);
        cg_tensor *g = cg_tensor_grad(o->params[i]);
        if (g) {
            float *gd = cg_tensor_data(g);
            const float *src = g_buf + off;
            for (int64_t k = 0; k < n; k++) gd[k] = src[k] / sum_n;
        }
        off += n;
    }
    if (loss) *loss = g_buf[total] / sum_n;
    return CG_OK;
}

/* cg_dist_comm's calls: the communicator's signatures around the functions above. */
static cg_status comm_allreduce_grads(void *ctx, cg_optimizer *o, int64_t local_n, float *loss) {
    (void)ctx;
    return cg_dist_allreduce_grads(o, local_n, loss);
}

static cg_status comm_broadcast_module(void *ctx, cg_module *m, int root) {
    (void)ctx;
    return cg_dist_broadcast_module(m, root);
}

const cg_comm *cg_dist_comm(void) {
    static cg_comm comm;
    if (!g_init) {
        cg_set_error(CG_ESTATE, "cg_dist_comm: call cg_dist_init first");
        return NULL;
    }
    comm = (cg_comm){ NULL, g_rank, g_size, comm_allreduce_grads, comm_broadcast_module };
    return &comm;
}

cg_status cg_dist_allreduce_sum(double *v, int64_t n) {
    cg_status st = need_init("cg_dist_allreduce_sum");
    if (st != CG_OK) return st;
    if (n < 0 || n > INT_MAX || (n && !v)) return cg_set_error(CG_EINVAL, "cg_dist_allreduce_sum: bad buffer (%lld values)", (long long)n);
    if (g_size == 1 || n == 0) return CG_OK;
    return mpi_check(MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
                     "cg_dist_allreduce_sum: MPI_Allreduce");
}

cg_status cg_dist_agree(const char *const *names, const int64_t *v, int n) {
    cg_status st = need_init("cg_dist_agree");
    if (st != CG_OK) return st;
    enum { MAX_AGREE = 64 };
    if (n < 0 || n > MAX_AGREE || (n && (!v || !names)))
        return cg_set_error(CG_EINVAL, "cg_dist_agree: bad arguments (%d values, at most %d)", n, MAX_AGREE);
    /* min(v) and max(v) in one MPI_MIN: max(v) = ~min(~v), as ~ (= -v - 1) reverses the order
     * and, unlike -v, is defined for INT64_MIN. */
    int64_t buf[2 * MAX_AGREE];
    for (int i = 0; i < n; i++) { buf[i] = v[i]; buf[n + i] = ~v[i]; }
    if (g_size > 1 && n > 0 &&
        (st = mpi_check(MPI_Allreduce(MPI_IN_PLACE, buf, 2 * n, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD),
                        "cg_dist_agree: MPI_Allreduce")) != CG_OK)
        return st;
    for (int i = 0; i < n; i++) {
        int64_t lo = buf[i], hi = ~buf[n + i];
        if (lo != hi)
            return cg_set_error(CG_EINVAL, "ranks disagree on %s: %lld on some ranks, %lld on others (rank %d: %lld)",
                                names[i] ? names[i] : "?", (long long)lo, (long long)hi, g_rank, (long long)v[i]);
    }
    return CG_OK;
}

cg_status cg_dist_barrier(void) {
    cg_status st = need_init("cg_dist_barrier");
    if (st != CG_OK) return st;
    return mpi_check(MPI_Barrier(MPI_COMM_WORLD), "cg_dist_barrier: MPI_Barrier");
}

void cg_dist_abort(int code) {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Abort(MPI_COMM_WORLD, code);
}

cg_status cg_dist_finalize(void) {
    free(g_buf);
    g_buf = NULL;
    g_cap = 0;
    if (!g_init) return CG_OK;
    g_init = false;
    int fin = 0;
    MPI_Finalized(&fin);
    cg_status st = CG_OK;
    if (g_we_initialised && !fin) st = mpi_check(MPI_Finalize(), "cg_dist_finalize: MPI_Finalize");
    g_we_initialised = false;
    g_rank = 0;
    g_size = 1;
    return st;
}
