/* SPDX-License-Identifier: MIT */
/* cgrad/nn.h — modules: a forward function, named parameters, child modules, train/eval mode.
 *
 * Ownership: a module owns its parameters, its buffers and its children; cg_module_free frees
 * them all, children first (NULL is a no-op). cg_module_add_parameter/_buffer/_child take
 * ownership of what they are given, even when they fail.
 *
 * A module of your own, in a few lines:
 *   typedef struct { cg_module base; cg_tensor *w, *b; } simple_linear;
 *   static cg_tensor *simple_forward(cg_module *m, cg_tensor *x) {
 *       simple_linear *s = (simple_linear *)m;
 *       return cg_add(cg_mul(s->w, x), s->b);
 *   }
 *   static const cg_module_type simple_type = { "SimpleLinear", simple_forward, NULL, NULL };
 *   simple_linear *s = (simple_linear *)cg_module_new(&simple_type, sizeof *s);
 *   s->w = cg_module_add_parameter(&s->base, "w", cg_tensor_zeros(1, CG_SHAPE(1)));
 */
#ifndef CGRAD_NN_H
#define CGRAD_NN_H

#include <stdio.h>
#include "cgrad/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cg_module cg_module;

/* ---- fusion: what a module type can fuse with its neighbours in a Sequential or Residual ----
 * A producer (Conv2d, Residual) runs its forward with an epilogue (ops.h: cg_conv_epilogue) and
 * says which stages it accepts; an epilogue module (BatchNorm2d, ReLU, MaxPool2d(2)) says which
 * stage it is and writes itself into the epilogue. A container's plan, made once when a child is
 * appended, covers a producer and the epilogue modules right after it, in stage order, each stage
 * once, as far as the producer accepts them; the producer then decides per call what it can fuse
 * in the current mode (training or eval, a gradient to record or not) and runs the rest unfused.
 * A module type of your own can take part: a ReLU-like activation of yours, for example,
 *   static cg_fuse_stage my_stage(const cg_module *m) { return CG_FUSE_RELU; }
 *   static void my_epilogue(cg_module *m, cg_conv_epilogue *ep) { ep->relu = true; }
 *   static const cg_fusion my_fusion = { .stage = my_stage, .as_epilogue = my_epilogue };
 *   static const cg_module_type my_type = { "MyReLU", my_forward, NULL, &my_fusion };
 * promises that its forward is relu(x): a Conv2d before it then runs as cg_conv2d_ex with .relu. */
typedef enum cg_fuse_stage {
    CG_FUSE_NONE = 0,
    CG_FUSE_BN = 1,       /* a BatchNorm2d: fills ep->bn (training or eval) */
    CG_FUSE_RELU = 2,     /* ReLU: sets ep->relu */
    CG_FUSE_POOL2 = 4,    /* max_pool2d with kernel 2, stride 2, no padding: sets ep->pool2 */
    CG_FUSE_RELU6 = 8,    /* ReLU6: sets ep->relu6; in the ReLU's place in the order (after a batch
                           * norm, before the pool), and one of the two at most */
} cg_fuse_stage;

typedef struct cg_fusion {
    /* Producer: the stages it accepts (a mask of cg_fuse_stage; 0: not a producer) and its forward
     * with an epilogue: the values of its forward followed by the epilogue's stages. */
    unsigned accepts;
    cg_tensor *(*forward_ep)(cg_module *m, cg_tensor *x, const cg_conv_epilogue *ep);
    /* Epilogue: the stage this module is, from its hyper-parameters only (not its mode: it is
     * asked once, when the plan is made; CG_FUSE_NONE: none, e.g. a 3x3 max-pool), and, called in
     * place of its forward, writes itself into ep (BatchNorm2d counts the batch here in training,
     * as its forward would). */
    cg_fuse_stage (*stage)(const cg_module *m);
    void (*as_epilogue)(cg_module *m, cg_conv_epilogue *ep);
} cg_fusion;

/* A spec writer (lib/nn/spec_write.c): the text of a net being written, and the path of the
 * layer being written, for the messages. Opaque; a type's to_spec hook receives one. */
typedef struct cg_spec_writer cg_spec_writer;

typedef struct cg_module_type {
    const char *name;                                      /* "Conv2d" */
    cg_tensor *(*forward)(cg_module *m, cg_tensor *x);     /* result belongs to the tape */
    void (*destroy)(cg_module *m);                         /* extra state only; may be NULL */
    const cg_fusion *fuse;                                 /* NULL: fuses with nothing */
    /* A type whose forward draws random numbers (Dropout) sets this: it takes the stream the
     * module draws from from now on (NULL: the default stream). cg_module_set_rng calls it. */
    void (*set_rng)(cg_module *m, cg_rng *rng);
    /* Writes this module as the spec grammar says it (cg_net_from_spec, below), with
     * cg_spec_printf: its word and the arguments that differ from the word's defaults, PyTorch's
     * names, e.g. "conv2d(1,8,3,padding=1)"; a container writes its children with
     * cg_spec_children. Returns CG_OK, or an error (cg_error's message names the problem; the
     * writer adds the layer's path and type). NULL: the module has no spec, and cg_module_spec
     * says so ("layer 3 (MyLayer) has no spec"). Every built-in type has one. A type of your own
     * whose forward equals a spec word's can write that word:
     *   static cg_status my_spec(const cg_module *m, cg_spec_writer *w) {
     *       return cg_spec_printf(w, "linear(%lld,%lld)", (long long)in, (long long)out);
     *   }
     *   static const cg_module_type my_type = { .name = "MyLinear", .forward = my_forward,
     *                                           .to_spec = my_spec };
     * The text must rebuild the same state dict (names and shapes) and the same forward. */
    cg_status (*to_spec)(const cg_module *m, cg_spec_writer *w);
} cg_module_type;

/* name: the library's own copy in every struct the library fills (a module's parameters, a
 * cg_named_list, an optimizer's state), freed with its owner; in an array a program passes in
 * (cg_safetensors_save), the program's, e.g. a string literal: {"w", t}. */
typedef struct cg_named_tensor { const char *name; cg_tensor *tensor; } cg_named_tensor;
typedef struct cg_named_module { char *name; cg_module *module; } cg_named_module;

struct cg_module {
    const cg_module_type *type;
    bool training;                 /* true after cg_module_new */
    cg_named_tensor *params; int n_params;
    cg_named_tensor *buffers; int n_buffers;  /* state that is saved but not trained */
    cg_named_module *children; int n_children;
};

/* size >= sizeof(cg_module): the module struct that embeds cg_module first. Zeroed. */
CG_API cg_module *cg_module_new(const cg_module_type *type, size_t size);
CG_API void cg_module_free(cg_module *m);
/* Registers p (requires_grad set) under name; returns p, or NULL on error (p is freed). */
CG_API cg_tensor *cg_module_add_parameter(cg_module *m, const char *name, cg_tensor *p);
CG_API cg_tensor *cg_module_add_buffer(cg_module *m, const char *name, cg_tensor *b);
CG_API cg_module *cg_module_add_child(cg_module *m, const char *name, cg_module *child);

CG_API cg_tensor *cg_module_forward(cg_module *m, cg_tensor *x);
/* Recursively sets training mode (dropout, batch norm). */
CG_API void cg_module_train(cg_module *m, bool training);
/* Recursively gives every module that draws (its type has set_rng: Dropout, Dropout2d) the
 * stream rng to draw from (NULL, the modules' start: the default stream). rng is borrowed: it
 * must outlive the modules' forwards or be replaced, and its counter advances with every mask
 * drawn (one thread at a time, as the module itself). m NULL: no-op. */
CG_API void cg_module_set_rng(cg_module *m, cg_rng *rng);

/* All parameters (or parameters and buffers: the state dict), depth first, with dotted names
 * ("conv1.weight"). The list is the caller's (free with cg_named_list_free); the tensors are
 * borrowed from the module. */
typedef struct cg_named_list { cg_named_tensor *items; int64_t n; } cg_named_list;
CG_API cg_status cg_module_parameters(const cg_module *m, cg_named_list *out);
CG_API cg_status cg_module_state_dict(const cg_module *m, cg_named_list *out);
CG_API void cg_named_list_free(cg_named_list *l);
CG_API cg_tensor *cg_module_find(const cg_module *m, const char *dotted_name); /* borrowed */
CG_API int64_t cg_module_num_parameters(const cg_module *m); /* element count */
CG_API void cg_module_zero_grad(cg_module *m);

/* Layers. Weights start as PyTorch's do: kaiming-uniform(a=sqrt 5), biases U(+-1/sqrt fan_in). */
CG_API cg_module *cg_linear_new(int64_t in_features, int64_t out_features, bool bias);
CG_API cg_module *cg_conv2d_new(int64_t in_ch, int64_t out_ch, int64_t kernel,
                                const cg_conv2d_params *p /* NULL: defaults */, bool bias);
/* nn.ConvTranspose2d: weight [in, out/groups, k, k], bias [out]; PyTorch's fan_in for it is
 * (out/groups)*k*k (dim 1 of the weight times the kernel). */
CG_API cg_module *cg_conv_transpose2d_new(int64_t in_ch, int64_t out_ch, int64_t kernel,
                                          const cg_conv_transpose2d_params *p /* NULL: defaults */,
                                          bool bias);
CG_API cg_module *cg_max_pool2d_new(int64_t kernel);                 /* kernel k, stride k */
CG_API cg_module *cg_max_pool2d_new_p(const cg_pool2d_params *p);
CG_API cg_module *cg_avg_pool2d_new(const cg_pool2d_params *p);
CG_API cg_module *cg_adaptive_avg_pool2d_new(int64_t oh, int64_t ow);
CG_API cg_module *cg_adaptive_max_pool2d_new(int64_t oh, int64_t ow);
CG_API cg_module *cg_dropout_new(float p);
CG_API cg_module *cg_dropout2d_new(float p);
/* nn.Identity: returns its input itself (no copy, no node): parallel(identity | ...) is a
 * DenseNet or U-Net skip, cat([x, f(x)], 1). */
CG_API cg_module *cg_identity_new(void);
CG_API cg_module *cg_relu_new(void);
CG_API cg_module *cg_leaky_relu_new(float negative_slope);
CG_API cg_module *cg_sigmoid_new(void);
CG_API cg_module *cg_tanh_new(void);
CG_API cg_module *cg_gelu_new(bool tanh_approx);      /* nn.GELU(approximate='none' | 'tanh') */
CG_API cg_module *cg_silu_new(void);
CG_API cg_module *cg_hardswish_new(void);
CG_API cg_module *cg_softplus_new(float beta, float threshold);   /* PyTorch: 1, 20 */
CG_API cg_module *cg_relu6_new(void);
CG_API cg_module *cg_hardtanh_new(float min_val, float max_val);  /* PyTorch: -1, 1 */
CG_API cg_module *cg_upsample_nearest2d_new(int64_t scale_factor); /* nn.Upsample(scale_factor, mode='nearest') */
/* nn.Embedding: weight [num_embeddings, embedding_dim] ~ N(0, 1); input an int64 tensor [*] of
 * indices in 0..num_embeddings-1 -> [*, embedding_dim]. A float32 input of whole numbers is
 * converted (what a Sequential net fed float data gives it); any other value is refused. */
CG_API cg_module *cg_embedding_new(int64_t num_embeddings, int64_t embedding_dim);
CG_API cg_module *cg_flatten_new(void);              /* flatten(x, 1, -1) */
CG_API cg_module *cg_log_softmax_new(int dim);
CG_API cg_module *cg_batch_norm2d_new(int64_t channels, float eps, float momentum);
/* nn.BatchNorm1d on [N, C] or [N, C, L]: BatchNorm2d's state and names. */
CG_API cg_module *cg_batch_norm1d_new(int64_t num_features, float eps, float momentum);
/* nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=true) on [N, C, ...]. */
CG_API cg_module *cg_group_norm_new(int64_t num_groups, int64_t num_channels, float eps, bool affine);
/* nn.LayerNorm(normalized_shape) over the last dim (PyTorch: eps 1e-5, elementwise_affine). */
CG_API cg_module *cg_layer_norm_new(int64_t normalized_shape, float eps, bool elementwise_affine);
/* Sequential: runs children in order; names them "0", "1", ... unless given a name. Residual is
 * a Sequential whose forward returns x + children(x). Fusion: a plan made from the children's
 * types' cg_fusion when a child is appended (not per forward) runs a producer and the epilogue
 * modules after it as one call: Conv2d [+ BatchNorm2d] [+ ReLU] [+ MaxPool2d(2)] as cg_conv2d_ex,
 * and a Residual followed by a ReLU as relu(x + children(x)) in one op. The state dict is the
 * same either way, and so are values and gradients, but for the batch-norm fold's float rounding
 * (inference). Children added with cg_module_add_child are not in the plan: such a container runs
 * unfused. cg_sequential_append takes either container. Fusion is on by default;
 * cg_config_set(CG_CONFIG_FUSION, 0) turns it off (A/B measurements, config.h), read once per
 * container forward: off, every child runs its own forward. */
CG_API cg_module *cg_sequential_new(void);
CG_API cg_module *cg_residual_new(void);
CG_API cg_module *cg_sequential_append(cg_module *seq, const char *name /* NULL: index */,
                                       cg_module *child);
/* Parallel: runs every branch on the same input and concatenates their outputs along dim 1
 * (cg_cat); every other dim must agree, else the forward fails naming the branches and their
 * shapes. A branch is any module, usually a Sequential (as the spec's parallel(A | B) builds:
 * layer k of branch j of a Parallel named i is "i.j.k.weight", PyTorch's ModuleList of
 * nn.Sequential). Branches are named "0", "1", ... unless given a name; append takes the branch
 * even when it fails.
 *   cg_module *p = cg_parallel_new(), *b = cg_sequential_new();
 *   cg_sequential_append(b, NULL, cg_conv2d_new(16, 8, 1, NULL, true));   // 1x1: keeps H, W
 *   cg_parallel_append(p, NULL, cg_identity_new());   // cat([x, conv(x)], 1)
 *   cg_parallel_append(p, NULL, b);
 * Errors: when a child of a Sequential, Residual or Parallel fails, the message names its path,
 * "fc (layer 7 of the net): linear: ...", nested "3.1.0 (layer 4 of the net): conv2d: ..." (the
 * dotted state-dict prefix, whatever depth the containers are). */
CG_API cg_module *cg_parallel_new(void);
CG_API cg_module *cg_parallel_append(cg_module *par, const char *name /* NULL: index */, cg_module *branch);

/* ---- networks from a text spec (lib/nn/spec.c) ---------------------------------------------
 * A spec is a whitespace-separated list of layers `[name=]op[(args)]`; args are positional
 * first, then key=value; values are integers, decimals or true/false; `#` comments run to the
 * end of the line; `residual(layers...)` computes x + layers(x); `parallel(A | B | ...)` runs
 * each branch (layers) on x and concatenates along dim 1, cat([A(x), B(x), ...], 1), the other
 * dims agreeing; residual and parallel nest 8 deep in all. Ops and their arguments are
 * PyTorch's constructors':
 *   conv2d(in, out, kernel, stride=1, padding=0, dilation=1, groups=1, bias=true)
 *   conv_transpose2d(in, out, kernel, stride=1, padding=0, output_padding=0, groups=1, bias=true,
 *                    dilation=1)   (nn.ConvTranspose2d's order)
 *   linear(in, out, bias=true)            batch_norm2d(channels, eps=1e-5, momentum=0.1)
 *   max_pool2d(kernel, stride=kernel, padding=0)   avg_pool2d(kernel, stride=kernel, padding=0)
 *   adaptive_avg_pool2d(1)    dropout(p)    dropout2d(p)    leaky_relu(negative_slope=0.01)
 *   relu  sigmoid  tanh  flatten  log_softmax (dim 1)  silu  hardswish  relu6  identity
 *   gelu(approximate=none)  (or tanh; the word may be quoted: 'tanh')
 *   softplus(beta=1, threshold=20)    hardtanh(min_val=-1, max_val=1)
 *   layer_norm(normalized_shape, eps=1e-5, elementwise_affine=true)   (over the last dim)
 *   batch_norm1d(num_features, eps=1e-5, momentum=0.1)   ([N,C] or [N,C,L])
 *   group_norm(num_groups, num_channels, eps=1e-5, affine=true)    upsample(scale_factor)  (nearest)
 * The state dict has PyTorch's nn.Sequential names: a layer is its given name, else its 0-based
 * position ("0.weight"); inside a residual at position i, layer j is "i.j.weight"; layer k of
 * branch j of a parallel at position i is "i.j.k.weight".
 *
 *   cg_net_info info;
 *   cg_module *net = cg_net_from_spec("conv2d(1,8,3) relu flatten linear(5408,10)",
 *                                     3, CG_SHAPE(1, 28, 28), &info);
 *   if (!net) fprintf(stderr, "%s\n", cg_last_error());  // "net spec, char 28: linear(...) ..."
 *
 * The spec is parsed and checked against the shape of one example (without the batch dim)
 * before anything is allocated; an error names the character position and the layer. The
 * module is the caller's (cg_module_free); info, when not NULL, is filled with one row per layer
 * and is the caller's too (cg_net_info_free). */
typedef struct cg_net_row {
    char name[48];          /* the dotted state-dict prefix: "conv1", "3.0" */
    char op[24];            /* "conv2d" */
    int depth;              /* 0 at top level, 1 inside a residual or for a parallel's branch
                             * (op "branch": its output), 2 inside that branch, ... */
    int ndim;               /* output shape of one example, the batch dim left out */
    int64_t shape[CG_MAX_DIMS];
    int64_t params;         /* parameter elements (buffers not counted) */
    double flops;           /* forward FLOPs per example (a multiply-add counts 2) */
} cg_net_row;
typedef struct cg_net_info {
    cg_net_row *rows;
    int64_t n;
    int64_t params;
    double flops;
    int64_t forward_bytes;  /* the input and every layer's output (flatten, a view, aside) at the
                             * checked batch: what a training step keeps for backward */
    int64_t peak_bytes;     /* forward_bytes up to the layer where the most is held at once,
                             * plus that layer's workspace (a conv's im2col: one example per
                             * thread, at cg_get_num_threads()) */
} cg_net_info;

/* Checks at a batch of 1 (see cg_net_check_spec). */
CG_API cg_module *cg_net_from_spec(const char *spec, int ndim, const int64_t *example_shape,
                                   cg_net_info *info /* may be NULL */);
/* The same parse and checks, without building anything (a summary, or a check up front), for a
 * forward of `batch` (>= 1) examples: every size is counted in overflow-checked int64, and a net
 * whose forward cannot fit in the machine's memory is refused with CG_ENOMEM before anything is
 * allocated. The count is the input, every layer's output (a training step keeps them all for
 * backward) and, while a conv runs, its im2col columns of one image; the machine's memory is its
 * physical memory, or the cgroup's memory.max where that is lower. The message names the layer
 * at which the sum passes it: "net spec, char 1: conv2d(1,1,1,padding=3000) brings the forward at
 * batch 64 to 8.67 GiB (...), more than this machine's 7.5 GiB of memory". This is a floor of what
 * training needs (gradients, optimizer state and the weights come on top): a net that passes may
 * still not fit, one that fails never would. */
CG_API cg_status cg_net_check_spec(const char *spec, int ndim, const int64_t *example_shape, int64_t batch,
                                   cg_net_info *info /* may be NULL */);
CG_API void cg_net_info_free(cg_net_info *info);   /* NULL is a no-op */
/* The summary table: one line per layer (name, op, output shape, parameters), indented by its
 * depth (a parallel's branches, then their layers), then totals and MFLOP per example. */
CG_API void cg_net_info_fprint(FILE *f, const cg_net_info *info);

/* ---- writing a net's spec back (lib/nn/spec_write.c) -----------------------------------------
 * cg_module_spec writes the spec of net m, a Sequential (what cg_net_from_spec builds), from its
 * modules' to_spec hooks: children by position, or `name=op(args)` where a child's name is not its
 * position, residual blocks as `residual(...)`, only the arguments that differ from the defaults.
 * cg_net_from_spec(text) then builds a net with the same state dict (names, shapes) and the same
 * forward (bit-equal with the same weights), and writing that net again gives the same text.
 * *out is the caller's (cg_module_spec_free) and NULL on error: a module without a hook ("layer
 * 2.1 (MyLayer) has no spec"), a root that is not a Sequential, a Sequential inside a Sequential,
 * a name or setting the grammar cannot say (a non-square stride, a child named "1" at position
 * 0); the message names the layer's path and type. cg_checkpoint_save (checkpoint.h) stores it. */
CG_API cg_status cg_module_spec(const cg_module *m, char **out);
CG_API void cg_module_spec_free(char *spec);   /* NULL is a no-op */
/* For to_spec hooks: appends printf-style text to the spec being written. */
CG_API cg_status cg_spec_printf(cg_spec_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* For a container's hook: writes m's children in order, sep (" ") between them, each as
 * `[name=]text` from its own hook (the name only where it is not the child's position). A sep
 * holding '|' (" | ") writes each child as a branch: a Sequential written as the bare list of its
 * layers, named by its position. */
CG_API cg_status cg_spec_children(cg_spec_writer *w, const cg_module *m, const char *sep);

/* ---- initialisation, as torch.nn.init (in place, drawing from rng; NULL: the default stream,
 * cg_manual_seed) ----
 * fan_in = size(1) * receptive field and fan_out = size(0) * receptive field (the product of
 * the dims after the second), as PyTorch's: the fan-based ones need 2 or more dims (CG_ESHAPE).
 *   xavier_uniform_  U(-b, b), b = gain sqrt(6 / (fan_in + fan_out));  xavier_normal_ N(0, gain sqrt(2 / (fan_in + fan_out)))
 *   kaiming_uniform_ U(-b, b), b = sqrt(3) gain / sqrt(fan);  kaiming_normal_ N(0, gain / sqrt(fan))
 *   with gain = cg_init_calculate_gain(nonlinearity, a); PyTorch's defaults: a 0, CG_FAN_IN,
 *   "leaky_relu" (NULL means "leaky_relu"). The numbers differ from PyTorch's (another
 *   generator); the distributions are the same. */
typedef enum cg_fan_mode { CG_FAN_IN = 0, CG_FAN_OUT = 1 } cg_fan_mode;
CG_API double cg_init_calculate_gain(const char *nonlinearity, double param); /* NAN: unknown */
CG_API cg_status cg_init_uniform_(cg_tensor *t, float a, float b, cg_rng *rng);
CG_API cg_status cg_init_normal_(cg_tensor *t, float mean, float std, cg_rng *rng);
CG_API cg_status cg_init_constant_(cg_tensor *t, float value);
CG_API cg_status cg_init_zeros_(cg_tensor *t);
CG_API cg_status cg_init_ones_(cg_tensor *t);
CG_API cg_status cg_init_xavier_uniform_(cg_tensor *t, float gain, cg_rng *rng);
CG_API cg_status cg_init_xavier_normal_(cg_tensor *t, float gain, cg_rng *rng);
CG_API cg_status cg_init_kaiming_uniform_(cg_tensor *t, float a, cg_fan_mode mode, const char *nonlinearity,
                                          cg_rng *rng);
CG_API cg_status cg_init_kaiming_normal_(cg_tensor *t, float a, cg_fan_mode mode, const char *nonlinearity,
                                         cg_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
