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
 *   static const cg_module_type simple_type = { "SimpleLinear", simple_forward, NULL };
 *   simple_linear *s = (simple_linear *)cg_module_new(&simple_type, sizeof *s);
 *   s->w = cg_module_add_parameter(&s->base, "w", cg_tensor_zeros(1, CG_SHAPE(1)));
 */
#ifndef CGRAD_NN_H
#define CGRAD_NN_H

#include "cgrad/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cg_module cg_module;

typedef struct cg_module_type {
    const char *name;                                      /* "Conv2d" */
    cg_tensor *(*forward)(cg_module *m, cg_tensor *x);     /* result belongs to the tape */
    void (*destroy)(cg_module *m);                         /* extra state only; may be NULL */
} cg_module_type;

typedef struct cg_named_tensor { char *name; cg_tensor *tensor; } cg_named_tensor;
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
CG_API cg_module *cg_max_pool2d_new(int64_t kernel);
CG_API cg_module *cg_dropout_new(float p);
CG_API cg_module *cg_dropout2d_new(float p);
CG_API cg_module *cg_relu_new(void);
CG_API cg_module *cg_flatten_new(void);              /* flatten(x, 1, -1) */
CG_API cg_module *cg_log_softmax_new(int dim);
CG_API cg_module *cg_batch_norm2d_new(int64_t channels, float eps, float momentum);
/* Sequential: runs children in order; names them "0", "1", ... unless given a name. A Conv2d
 * followed by a ReLU runs as one fused op (cg_conv2d_relu) while fusion is on; values, gradients
 * and the state dict are the same either way. */
CG_API cg_module *cg_sequential_new(void);
CG_API cg_module *cg_sequential_append(cg_module *seq, const char *name /* NULL: index */,
                                       cg_module *child);
/* Layer fusion in Sequential, on by default; process-wide. Off is for A/B measurements. */
CG_API void cg_set_fusion(bool on);
CG_API bool cg_fusion_enabled(void);

/* The seed network (PyTorch tutorial's MNIST Net), defined once for apps, benches and tests:
 * conv1(1->32,3) relu conv2(32->64,3) relu maxpool2 dropout(.25) flatten fc1(9216->128) relu
 * dropout(.5) fc2(128->10) log_softmax. Input [N,1,28,28], output [N,10] log-probabilities.
 * Parameter names match PyTorch's state_dict: conv1.weight ... fc2.bias. */
CG_API cg_module *cg_seed_net_new(void);

#ifdef __cplusplus
}
#endif
#endif
