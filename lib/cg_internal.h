/* SPDX-License-Identifier: MIT */
/* lib/cg_internal.h — what the library's files share and users do not see.
 * The tensor's layout, the tape's node, the op table and the helpers every op uses. */
#ifndef CG_INTERNAL_H
#define CG_INTERNAL_H

#include <stddef.h>
#include <string.h>
#include "cgrad/cgrad.h"

/* ---- errors -------------------------------------------------------------- */
/* Set the thread-local message and return s. printf-style. Never pass cg_last_error() as an
 * argument: copy it to a local buffer first (cg_set_error also formats through a copy). */
#define cg_error cg_set_error  /* the public setter (base.h): one implementation */
/* For ops that return pointers: set the error and return NULL. */
#define CG_FAIL(status, ...) (cg_error((status), __VA_ARGS__), (cg_tensor *)NULL)
/* Internal invariants only: never user errors. */
#define CG_ASSERT(c) do { if (!(c)) cg_assert_fail(#c, __FILE__, __LINE__); } while (0)
_Noreturn void cg_assert_fail(const char *expr, const char *file, int line);
/* How many messages this thread has set (cg_set_error, cg_clear_error): a container that rewrote
 * the message to name a layer path knows, by the serial, whether the message is still its own. */
uint64_t cg_error_serial(void);

/* ---- memory: all heap use goes through the allocator hook ---------------- */
void *cg_malloc(size_t size);              /* 64-byte aligned; sets CG_ENOMEM and returns NULL */
void *cg_calloc(size_t n, size_t size);
void  cg_free(void *p);
char *cg_strdup(const char *s);

/* ---- threads ------------------------------------------------------------- */
/* Below this many elements an elementwise kernel runs on one thread: forking a team costs
 * more than it saves. Measured with bench/bench-elementwise (docs/benchmarks.md), 2 cores,
 * GCC 12, vectorised loops, quiet machine, serial/parallel time: relu 0.81-0.98 at 32K,
 * 0.93-1.24 at 64K, 1.56-1.63 at 128K; add 0.95-1.07 at 32K, 1.26-1.38 at 64K. Crossover
 * ~64K (was 32768). With other processes on the cores the team loses at every size.
 * Write `if (parallel: n >= CG_OMP_MIN)` on `parallel for simd`: a bare if() also turns off
 * simd when false, making the serial path 2-3x slower. */
#define CG_OMP_MIN 65536

/* s + sum(p[0..n)), the sum taken over blocks of 256 floats in float (vectorised) and the blocks
 * added to s in double, in order. A double accumulator inside the loop runs 2 wide as one
 * latency-bound chain (GCC 12 on baseline x86-64); this is what batch norm's and conv2d's bias
 * sums use instead. */
static inline double cg_sum_blocks(double s, const float *p, int64_t n) {
    for (int64_t i0 = 0; i0 < n; i0 += 256) {
        const int64_t i1 = i0 + 256 < n ? i0 + 256 : n;
        float b = 0.0f;
        #pragma omp simd reduction(+ : b)
        for (int64_t i = i0; i < i1; i++) b += p[i];
        s += b;
    }
    return s;
}
/* Ask the cache for `floats` floats from base + off, one prefetch per 64-byte line. The address
 * is formed as an integer, so it may lie outside base's object (a prefetch never faults): a loop
 * may prefetch what it reads next without checking that there is a next. */
static inline void cg_prefetch(const float *base, int64_t off, int64_t floats) {
    const uintptr_t p = (uintptr_t)base + (uintptr_t)off * sizeof(float);
    for (int64_t by = 0; by < floats * (int64_t)sizeof(float); by += 64) __builtin_prefetch((const void *)(p + (uintptr_t)by), 0, 3);
}
/* The first floats of a plane the caller reads next (up to 4 KiB; the hardware prefetcher follows
 * the stream once it runs). For per-channel loops that walk [N,C,H,W] one image's plane at a
 * time: each jump to the next image's plane starts a new stream, whose first lines came from L3
 * while the loop waited. */
static inline void cg_prefetch_plane(const float *p, int64_t floats) { cg_prefetch(p, 0, floats < 1024 ? floats : 1024); }

/* The fused activations of conv2d and batch norm. ReLU6 as cg_relu6 (hardtanh(0, 6)): NaN stays.
 * Their backward passes dy where the output y has y > 0 and not y >= hi, with hi cg_act_hi(six):
 * a ReLU6's 0 < y < 6, a ReLU's y > 0 (+inf too: hi is NaN, and y >= NaN is false). */
static inline float cg_relu6_value(float v) { return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v); }
static inline float cg_act_hi(bool six) { return six ? 6.0f : __builtin_nanf(""); }
static inline bool cg_act_passes(float y, float hi) { return y > 0.0f && !(y >= hi); }
/* Bring this thread's OpenMP thread count up to date with cg_set_num_threads (process-wide):
 * called at the library's entry points (lib/core/threads.c). Cheap: one atomic load. */
void cg_threads_sync(void);
/* Register the calling thread so that its tape pool is freed when it exits (a pthread key
 * destructor running cg_tape_free_all, lib/autograd/tape.c). Idempotent. */
void cg_thread_cleanup_register(void);

/* ---- the switches (lib/core/config.c, include/cgrad/config.h) ----------- */
/* Every switch, read once: an op takes this snapshot at entry and reads only its copy after. */
typedef struct cg_settings {
    bool fusion;               /* CG_CONFIG_FUSION */
    bool conv_dense;           /* CG_CONFIG_CONV_DENSE */
    int conv_winograd;         /* CG_CONFIG_CONV_WINOGRAD: a cg_winograd_mode */
    int conv_schedule;         /* CG_CONFIG_CONV_SCHEDULE: a cg_conv_schedule */
    int64_t conv_block_bytes;  /* CG_CONFIG_CONV_BLOCK_BYTES */
    int conv_depthwise;        /* CG_CONFIG_CONV_DEPTHWISE: a cg_depthwise_mode */
} cg_settings;
cg_settings cg_config_snapshot(void);

/* ---- the per-thread scratch arena (lib/core/arena.c) -------------------- */
/* This thread's scratch buffer with room for `bytes` (grow-only, 64-byte aligned; NULL with
 * CG_ENOMEM set on failure). Valid until the thread's next borrow, cg_tape_release() or
 * cg_tape_free_all(): an op borrows once per call and never keeps it. Freed at thread exit. */
void *cg_scratch_borrow(size_t bytes);
/* This thread's second grow-only buffer, cg_gemm's alone (valid until its next call on the
 * thread), so that a GEMM inside an op's borrow does not disturb it; NULL on failure. */
void *cg_gemm_scratch(size_t bytes);
/* Free this thread's buffers (the tape's cg_tape_free_all). */
void cg_scratch_free(void);
/* Bytes held by this thread's buffers (public as cg_tape_scratch_bytes). */
int64_t cg_scratch_bytes(void);

/* ---- tensors ------------------------------------------------------------- */
enum {
    CG_T_OWNS_DATA = 1u << 0,  /* data came from cg_malloc and is freed with the tensor */
    CG_T_ON_TAPE   = 1u << 1,  /* the tape owns this tensor */
    CG_T_REQ_GRAD  = 1u << 2,
};

typedef struct cg_node cg_node;

struct cg_tensor {
    union {
        float *data;    /* CG_F32: the elements */
        void *raw;      /* any type: cg_i64(t), cg_u8(t) read it typed */
    };
    cg_dtype dtype;
    int64_t shape[CG_MAX_DIMS];
    int ndim;
    int64_t numel;
    unsigned flags;
    cg_tensor *grad;    /* leaf: owned by the tensor; tape tensor: owned by the tape */
    cg_node *node;      /* the node that produced it, NULL for a leaf or unrecorded result */
    void *pool_buf;     /* tape tensor: its pooled buffer (NULL for a view) */
};

static inline bool cg_requires_grad(const cg_tensor *t) { return t && (t->flags & CG_T_REQ_GRAD); }
static inline int64_t *cg_i64(const cg_tensor *t) { return (int64_t *)t->raw; }
static inline uint8_t *cg_u8(const cg_tensor *t) { return (uint8_t *)t->raw; }
/* CG_OK when t is of type `want`; else CG_EINVAL naming op and arg ("nll_loss: target is float32,
 * expected int64"). NULL passes (ops pass NULL inputs on without a new message). */
cg_status cg_check_dtype(const char *op, const char *arg, const cg_tensor *t, cg_dtype want);
/* In an op returning a tensor: return NULL (the error set) unless t is float32 or NULL. Every
 * float op's shared entry helper runs it on its tensor arguments before reading them. */
#define CG_REQUIRE_F32(op, arg, t) \
    do { if (cg_check_dtype((op), (arg), (t), CG_F32) != CG_OK) return NULL; } while (0)
int64_t cg_shape_numel(int ndim, const int64_t *shape);
/* Validates ndim and shape entries; names `what` in the error. */
cg_status cg_check_shape(const char *what, int ndim, const int64_t *shape);
/* "[2, 3, 4]" into buf. */
const char *cg_shape_str(char *buf, size_t n, int ndim, const int64_t *shape);
/* Normalise a possibly negative dim against ndim; -1 and an error if out of range. */
int cg_norm_dim(const char *op, int dim, int ndim);

/* ---- the tape ------------------------------------------------------------ */
#define CG_MAX_INPUTS 5

typedef cg_status (*cg_backward_fn)(cg_node *n);
typedef struct cg_op_def {
    const char *name;
    cg_backward_fn backward;  /* accumulates into the inputs' grads (cg_grad_data) */
} cg_op_def;

/* Typed op parameters: each op keeps one struct of its own on its node (its geometry, flags,
 * scale; conv2d its whole plan), written once by the forward and read back by the backward:
 *     CG_SET_PARAMS(nd, &geom);    (forward)
 *     pool_geom g; CG_GET_PARAMS(nd, &g);    (backward)
 * The struct is copied in and out (no aliasing questions); one that does not fit
 * CG_NODE_PARAMS bytes fails to compile. */
#define CG_NODE_PARAMS 320

struct cg_node {
    const cg_op_def *op;
    cg_tensor *out;
    cg_tensor *in[CG_MAX_INPUTS];
    int n_in;
    unsigned params_size;                                   /* bytes in params, for the check */
    _Alignas(max_align_t) unsigned char params[CG_NODE_PARAMS]; /* the op's struct */
    void *aux;          /* tape-owned scratch saved for backward (mask, argmax, targets) */
};

static inline void cg_node_set_params_(cg_node *n, const void *p, size_t size) {
    memcpy(n->params, p, size);
    n->params_size = (unsigned)size;
}
static inline void cg_node_get_params_(const cg_node *n, void *p, size_t size) {
    memcpy(p, n->params, size < n->params_size ? size : n->params_size);
}
#define CG_PARAMS_FIT_(...) ((void)sizeof(char[sizeof *(__VA_ARGS__) <= CG_NODE_PARAMS ? 1 : -1]))
/* Variadic so that a compound literal's commas pass through: CG_SET_PARAMS(nd, &(T){ .a = 1, .b = 2 }). */
#define CG_SET_PARAMS(nd, ...) (CG_PARAMS_FIT_(__VA_ARGS__), cg_node_set_params_((nd), (__VA_ARGS__), sizeof *(__VA_ARGS__)))
#define CG_GET_PARAMS(nd, p) (CG_PARAMS_FIT_(p), cg_node_get_params_((nd), (p), sizeof *(p)))

/* A new tape-owned tensor, data uninitialised (or zeroed). Pooled buffers. */
cg_tensor *cg_tape_tensor(int ndim, const int64_t *shape);
cg_tensor *cg_tape_tensor_zeros(int ndim, const int64_t *shape);
/* The same of another element type (integer results: indices, masks). */
cg_tensor *cg_tape_tensor_dtype(cg_dtype dtype, int ndim, const int64_t *shape, bool zero);
/* A tape-owned view of base's data with another shape (same numel). */
cg_tensor *cg_tape_view(cg_tensor *base, int ndim, const int64_t *shape);
/* Tape-owned scratch of `bytes` bytes, 64-byte aligned, released with the tape: for what a
 * node keeps for its backward (an op's workspace for one call is cg_scratch_borrow's). */
void *cg_tape_scratch(size_t bytes);

/* True when an op with these inputs must record a node (grad mode on, an input needs grad). */
bool cg_needs_record(int n_in, cg_tensor *const *in);
/* Record a node producing out from in[0..n_in) and mark out as requiring grad, when
 * cg_needs_record says so. Returns the node to fill (CG_SET_PARAMS, aux); when nothing needs
 * recording, a thread-local scratch node that backward never sees (cg_node_recorded() tells).
 * NULL only on allocation failure, with the error set: the op then returns NULL. */
cg_node *cg_record(const cg_op_def *op, cg_tensor *out, int n_in, cg_tensor *const *in);
bool cg_node_recorded(const cg_node *n);

/* The grad buffer of t for accumulation (zeroed when first made), or NULL when t needs no grad.
 * On allocation failure returns NULL and sets cg_last_error; callers check cg_requires_grad
 * first to tell the two apart. */
float *cg_grad_data(cg_tensor *t);
/* As cg_grad_data, but a tape tensor's grad made by this call is left uninitialised and *fresh
 * is set: the caller must then WRITE every element (=) instead of accumulating (+=). Saves a
 * memset and a read of zeros in memory-bound backwards. */
float *cg_grad_data_fresh(cg_tensor *t, bool *fresh);
/* The incoming gradient of a node's output (always present when backward calls an op). */
static inline const float *cg_out_grad(const cg_node *n) { return n->out->grad->data; }

/* Profiling: ops bracket their forward with these (no-ops unless profiling is on). */
double cg_profile_begin(void);
void cg_profile_end(const char *op, int backward, double t0);

/* ---- random numbers ------------------------------------------------------ */
/* Reserve n consecutive draws of the global generator: returns the first counter. */
uint64_t cg_rng_reserve(uint64_t n);
/* Draw number `counter` of stream `seed`: 64 random bits; pure, so threads can share it. */
uint64_t cg_rng_bits(uint64_t seed, uint64_t counter);
static inline float cg_rng_u01(uint64_t bits) { return (float)(bits >> 40) * (1.0f / 16777216.0f); }
uint64_t cg_rng_seed(void);
/* The key of stream r (what cg_rng_bits takes as its seed). */
uint64_t cg_rng_key(const cg_rng *r);
/* Take n consecutive draws from r (NULL: the default stream, atomically): returns the first
 * counter and sets *key to the stream's key; draw i is cg_rng_bits(*key, first + i). */
uint64_t cg_rng_take(cg_rng *r, uint64_t n, uint64_t *key);
/* Fill d[n] from n draws of r (NULL: the default stream), in parallel, the same numbers for any
 * thread count: lo + (hi - lo) * U[0,1) (cg_tensor_uniform), N(0,1) (cg_tensor_randn). */
void cg_rng_fill_uniform(float *d, int64_t n, float lo, float hi, cg_rng *r);
void cg_rng_fill_normal(float *d, int64_t n, cg_rng *r);

/* ---- a run file's namespaces (lib/nn/module.c) -------------------------------
 * A run's checkpoint keeps the model's tensors, named by its layers, beside the run's own state,
 * named under these first components: the optimizer's tensors and metadata under "optim."
 * (lib/io/checkpoint.c), the schedule, streams, position and recipe under "sched.", "rng.",
 * "train.", "data.", "run." (lib/train/run.c), the loss and the net's spec as "loss" and "net".
 * No top-level layer may take one of these names: the spec check refuses it with its position,
 * cg_module_check_names a net built in C (cg_trainer_new, cg_trainer_save, cg_checkpoint_save
 * with an optimizer), and the run's writer asserts that its keys stay inside the list. */
#define CG_NS_OPTIM "optim"
#define CG_NS_NET "net"
#define CG_NS_LIST { CG_NS_OPTIM, "sched", "rng", "train", "data", "loss", "run", CG_NS_NET }
/* The namespace name[0..len) is, or NULL when it is none of them. */
const char *cg_run_namespace(const char *name, size_t len);
/* The list as text ("optim., sched., ..."), for messages. */
void cg_run_namespaces_text(char *buf, size_t cap);
/* CG_EINVAL naming the first top-level parameter, buffer or child of m named like a namespace. */
cg_status cg_module_check_names(const cg_module *m);

/* ---- strict checkpoint metadata (lib/io/checkpoint.c) ------------------------
 * The value s of metadata key parsed completely: a plain decimal in lo..hi (no sign unless lo < 0,
 * no spaces, '+' or leading zeros), an unsigned 64-bit one, or a finite number in lo..hi; else
 * CG_EFORMAT naming the key and the value. *v is set only on success. */
cg_status cg_meta_parse_int(const char *key, const char *s, int64_t lo, int64_t hi, int64_t *v);
cg_status cg_meta_parse_u64(const char *key, const char *s, uint64_t *v);
cg_status cg_meta_parse_f64(const char *key, const char *s, double lo, double hi, double *v);

/* ---- BLAS (lib/core/blas.c) --------------------------------------------- */
void cg_blas_set_threads(int n);
/* Chooses OpenBLAS's kernel for this CPU once per process (see blas.c); every GEMM entry calls it. */
void cg_blas_init(void);
typedef struct cg_cpu_features { bool fma, avx2, avx512f, avx512dq, avx512bw, avx512vl; } cg_cpu_features;
cg_cpu_features cg_cpu_detect(void);   /* CPUID, with the OS's saving of YMM/ZMM state */
/* AVX-512 F/BW/DQ/VL usable (cg_cpu_detect, asked once per process): the kernels built with
 * CG_TARGET_AVX512 may run. */
bool cg_cpu_has_avx512(void);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CG_HAVE_TARGET_AVX512 1
#define CG_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#endif
/* The OpenBLAS core for these features ("SkylakeX", "Haswell"), or NULL: leave OpenBLAS's choice. */
const char *cg_blas_core_for(const cg_cpu_features *f);
/* The one GEMM entry: row-major C[m,n] = alpha op(A) op(B) + beta C. Sizes must fit BLAS's int,
 * which ops check when they plan (cg_gemm_check names the op); cg_gemm asserts it. */
cg_status cg_gemm_check(const char *op, int64_t m, int64_t n, int64_t k);
/* Whether LIBXSMM is built in and usable on this CPU (then it runs the GEMMs: lib/core/blas.c). */
bool cg_gemm_xsmm_usable(void);
/* Whether cg_gemm gives a GEMM of this shape and these scalars to LIBXSMM (it still falls back to
 * the BLAS where LIBXSMM has no kernel for it or no memory for a transposed copy). */
bool cg_gemm_takes_xsmm(int64_t m, int64_t n, int64_t k, float alpha, float beta);
void cg_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
             const float *b, int64_t ldb, float beta, float *c, int64_t ldc);



/* ---- fused ops (the fusion plan: lib/nn/sequential.c, cg_fusion in nn.h) ----- */
/* relu(batch_norm2d(x)) as one op (lib/ops/batch_norm.c): cg_conv2d_ex runs it for a batch norm
 * that cannot fold (training, or a gradient to record) followed by a ReLU. */
cg_tensor *cg_batch_norm2d_relu(cg_tensor *x, cg_tensor *weight, cg_tensor *bias, cg_tensor *running_mean,
                                cg_tensor *running_var, bool training, float momentum, float eps);
/* relu6(batch_norm2d(x)) as one op, likewise. */
cg_tensor *cg_batch_norm2d_relu6(cg_tensor *x, cg_tensor *weight, cg_tensor *bias, cg_tensor *running_mean,
                                 cg_tensor *running_var, bool training, float momentum, float eps);
/* relu(a + b) as one op (lib/ops/binary.c): Residual's epilogue, a Residual followed by a ReLU. */
cg_tensor *cg_add_relu(cg_tensor *a, cg_tensor *b);
/* For tests: how many conv plans this thread has made (cg_conv2d_ex plans once per call). */
int64_t cg_conv2d_plans_made(void);
#endif
