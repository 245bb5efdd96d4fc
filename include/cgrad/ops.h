/* SPDX-License-Identifier: MIT */
/* cgrad/ops.h — differentiable functional ops.
 *
 * Every op returns a new tensor owned by the tape (see autograd.h), or NULL on error with
 * cg_last_error() set; given a NULL input it returns NULL. Inputs must stay alive, unchanged,
 * until backward has run. Shapes follow PyTorch. */
#ifndef CGRAD_OPS_H
#define CGRAD_OPS_H

#include "cgrad/autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cg_reduction { CG_REDUCTION_MEAN = 0, CG_REDUCTION_SUM = 1, CG_REDUCTION_NONE = 2 } cg_reduction;

/* Elementwise binary, with NumPy/PyTorch broadcasting. */
CG_API cg_tensor *cg_add(cg_tensor *a, cg_tensor *b);
CG_API cg_tensor *cg_sub(cg_tensor *a, cg_tensor *b);
CG_API cg_tensor *cg_mul(cg_tensor *a, cg_tensor *b);
CG_API cg_tensor *cg_div(cg_tensor *a, cg_tensor *b);
/* Elementwise with a scalar. */
CG_API cg_tensor *cg_add_scalar(cg_tensor *x, float s);
CG_API cg_tensor *cg_mul_scalar(cg_tensor *x, float s);
CG_API cg_tensor *cg_pow(cg_tensor *x, float exponent);
/* Elementwise unary. */
CG_API cg_tensor *cg_neg(cg_tensor *x);
CG_API cg_tensor *cg_exp(cg_tensor *x);
CG_API cg_tensor *cg_log(cg_tensor *x);
CG_API cg_tensor *cg_sqrt(cg_tensor *x);
CG_API cg_tensor *cg_relu(cg_tensor *x);
CG_API cg_tensor *cg_leaky_relu(cg_tensor *x, float negative_slope);
CG_API cg_tensor *cg_sigmoid(cg_tensor *x);
CG_API cg_tensor *cg_tanh(cg_tensor *x);
/* PyTorch's formulas and gradients (lib/ops/activation.c has the kinks): gelu exact
 * (x * Phi(x)) or, with tanh_approx, PyTorch's approximate='tanh'; silu x*sigmoid(x);
 * hardswish x*relu6(x+3)/6; softplus log(1+exp(beta*x))/beta, x itself where beta*x >
 * threshold (PyTorch: beta 1, threshold 20); clamp to [min, max]; hardtanh likewise (its
 * gradient is 0 at the ends); relu6 = hardtanh(0, 6); abs. */
CG_API cg_tensor *cg_gelu(cg_tensor *x, bool tanh_approx);
CG_API cg_tensor *cg_silu(cg_tensor *x);
CG_API cg_tensor *cg_hardswish(cg_tensor *x);
CG_API cg_tensor *cg_softplus(cg_tensor *x, float beta, float threshold);
CG_API cg_tensor *cg_clamp(cg_tensor *x, float min, float max);
CG_API cg_tensor *cg_hardtanh(cg_tensor *x, float min_val, float max_val);
CG_API cg_tensor *cg_relu6(cg_tensor *x);
CG_API cg_tensor *cg_abs(cg_tensor *x);

/* Reductions: over everything (a one-element tensor of shape [] ... stored as ndim 0) or one dim. */
CG_API cg_tensor *cg_sum(cg_tensor *x);
CG_API cg_tensor *cg_mean(cg_tensor *x);
CG_API cg_tensor *cg_sum_dim(cg_tensor *x, int dim, bool keepdim);
CG_API cg_tensor *cg_mean_dim(cg_tensor *x, int dim, bool keepdim);
/* max and min along dim, as torch.max(x, dim) / torch.min: the values (a tape tensor; the
 * gradient goes to the chosen element) and, when indices is not NULL, *indices = the positions
 * (an int64 tape tensor of the values' shape, no gradient). NaN wins; ties go to the first.
 * argmax/argmin (torch.argmax(x, dim, keepdim)) return only the positions, an int64 tape tensor.
 * logsumexp along dim, max-shifted. */
CG_API cg_tensor *cg_max_dim(cg_tensor *x, int dim, bool keepdim, cg_tensor **indices);
CG_API cg_tensor *cg_min_dim(cg_tensor *x, int dim, bool keepdim, cg_tensor **indices);
CG_API cg_tensor *cg_argmax(const cg_tensor *x, int dim, bool keepdim);
CG_API cg_tensor *cg_argmin(const cg_tensor *x, int dim, bool keepdim);
CG_API cg_tensor *cg_logsumexp(cg_tensor *x, int dim, bool keepdim);

/* Linear algebra (cblas_sgemm). matmul: [M,K] x [K,N] -> [M,N]. */
/* a[..., M, K] · b[..., K, N]: the batch dims broadcast (PyTorch's matmul, both inputs at
 * least 2-d); bmm: [B, M, K] · [B, K, N] only. */
CG_API cg_tensor *cg_matmul(cg_tensor *a, cg_tensor *b);
CG_API cg_tensor *cg_bmm(cg_tensor *a, cg_tensor *b);
/* Swap two dims (a copy; tensors are always contiguous). */
CG_API cg_tensor *cg_transpose(cg_tensor *x, int dim0, int dim1);
/* linear: x[N,in] . w[out,in]^T + b[out] -> [N,out]; b may be NULL. */
CG_API cg_tensor *cg_linear(cg_tensor *x, cg_tensor *w, cg_tensor *b);

/* Views: share x's data; one dim of shape may be -1. */
CG_API cg_tensor *cg_reshape(cg_tensor *x, int ndim, const int64_t *shape);
CG_API cg_tensor *cg_flatten(cg_tensor *x, int start_dim, int end_dim);
/* Shapes, as PyTorch's (negative dims count from the end; every result is a tape tensor):
 * unsqueeze inserts a size-1 dim; squeeze removes dim if it has size 1 (squeeze_all: every such
 * dim); permute(perm) moves x's dim perm[i] to i (a copy); cat joins n tensors along dim (all
 * other sizes equal), stack joins same-shaped tensors along a new dim; slice(dim, start, end,
 * step) is x[..., start:end:step] with Python's clamping (step >= 1), narrow(dim, start, length)
 * the same but must fit; index_select(dim, index) takes the entries of dim that the int64 1-d
 * tensor index names (repeats allowed); gather(dim, index) picks x[..., index[...], ...] along
 * dim as torch.gather, index an int64 tensor of x's rank (the result has its shape). Indices are
 * copied; a NULL index gives NULL, its message "gather: index is NULL" unless one is already set
 * (the error that made it). The views (reshape, flatten, squeeze, unsqueeze) take a tensor of any element type;
 * every other op computes on float32 and refuses an integer tensor (CG_EINVAL). */
CG_API cg_tensor *cg_unsqueeze(cg_tensor *x, int dim);
CG_API cg_tensor *cg_squeeze(cg_tensor *x, int dim);
CG_API cg_tensor *cg_squeeze_all(cg_tensor *x);
CG_API cg_tensor *cg_permute(cg_tensor *x, const int *perm);
CG_API cg_tensor *cg_cat(cg_tensor *const *xs, int n, int dim);
CG_API cg_tensor *cg_stack(cg_tensor *const *xs, int n, int dim);
CG_API cg_tensor *cg_slice(cg_tensor *x, int dim, int64_t start, int64_t end, int64_t step);
CG_API cg_tensor *cg_narrow(cg_tensor *x, int dim, int64_t start, int64_t length);
CG_API cg_tensor *cg_index_select(cg_tensor *x, int dim, const cg_tensor *index);
CG_API cg_tensor *cg_gather(cg_tensor *x, int dim, const cg_tensor *index);
/* embedding(weight [V, D], indices): the rows of weight that indices (int64, any shape [*],
 * each in 0..V-1) name -> [*, D] (the gradient of a repeated row adds up). where(cond, a, b):
 * cond ? a : b elementwise over one shape, cond a uint8 tensor of that shape (nonzero: true,
 * PyTorch's bool). Both copy their indices or condition. */
CG_API cg_tensor *cg_embedding(cg_tensor *weight, const cg_tensor *indices);
CG_API cg_tensor *cg_where(const cg_tensor *cond, cg_tensor *a, cg_tensor *b);

/* Convolution and pooling on NCHW tensors. */
typedef struct cg_conv2d_params {
    int64_t stride[2], padding[2], dilation[2];
    int64_t groups;
} cg_conv2d_params;
/* Stride 1, no padding, dilation 1, one group. */
CG_API cg_conv2d_params cg_conv2d_defaults(void);
/* x[N,C,H,W], w[OC,C/groups,KH,KW], b[OC] (may be NULL) -> [N,OC,OH,OW]. im2col + sgemm,
 * Winograd F(2x2, 3x3) for 3x3 stride-1 layers, or direct kernels for depthwise layers
 * (groups == C) (the switches: CG_CONFIG_CONV_*, config.h). */
CG_API cg_tensor *cg_conv2d(cg_tensor *x, cg_tensor *w, cg_tensor *b, const cg_conv2d_params *p);
/* What runs on a convolution's output, in this order: bias (b), then a BatchNorm2d (bn), then a
 * ReLU (or a ReLU6), then a 2x2, stride-2 max-pool: cg_conv2d_ex(x, w, b, p, ep) has the values and
 * gradients of
 *   max_pool2d(relu(batch_norm2d(conv2d(x, w, b), bn...)), 2)   (each stage only when asked for).
 * A zeroed epilogue ({0}) asks for nothing: cg_conv2d_ex is then cg_conv2d. The tensors are
 * borrowed for the call. */
typedef struct cg_conv_epilogue {
    struct {
        bool on;          /* a BatchNorm2d follows the conv */
        bool training;    /* batch statistics (updating running_mean/var) or the running ones */
        cg_tensor *weight, *bias, *running_mean, *running_var;   /* as cg_batch_norm2d's */
        float momentum, eps;
    } bn;
    bool relu;
    bool pool2;           /* max_pool2d with kernel 2, stride 2, no padding */
    bool relu6;           /* a ReLU6 (min(max(x, 0), 6), cg_relu6) in the ReLU's place; with relu
                           * also set, the ReLU6 alone (relu6(relu(x)) is relu6(x)) */
} cg_conv_epilogue;
/* conv2d with an epilogue (NULL: none). The op decides once per call, from the mode it runs in,
 * what it can fuse, and runs the rest as the unfused ops (the same values, errors and gradients):
 *   - bias and ReLU (or ReLU6) are formed on each image's output while it is in cache, and the
 *     backward masks dy per image (always, training included: bit-equal to relu(conv2d(..)) and
 *     relu6(conv2d(..)));
 *   - an eval-mode batch norm is folded into the weights, w' = w * scale, b' = b * scale + shift
 *     (scale and shift in double), when nothing is recorded for backward: equal to the unfused
 *     layers within float rounding; a training one (or one with a gradient to record) runs as its
 *     own op after the conv, with the ReLU (or ReLU6) fused into it (batch_norm2d_relu[6]);
 *   - the 2x2 max-pool is formed per image from the image's output in cache (the full-size output
 *     never reaches memory) when nothing is recorded and no batch norm runs on its own; else (and
 *     after a depthwise conv) it runs as max_pool2d on the conv's output. The conv is planned once
 *     per call either way.
 * Sequential and Residual call it for Conv2d [+ BatchNorm2d] [+ ReLU] [+ MaxPool2d(2)] (nn.h:
 * cg_fusion). */
CG_API cg_tensor *cg_conv2d_ex(cg_tensor *x, cg_tensor *w, cg_tensor *b, const cg_conv2d_params *p,
                               const cg_conv_epilogue *ep);
/* Transposed convolution (F.conv_transpose2d, the adjoint of conv2d in x): x[N,C,H,W],
 * w[C, OC/groups, KH, KW] (PyTorch's layout), b[OC] (may be NULL) -> [N,OC,OH,OW] with
 *   OH = (H-1)*stride - 2*padding + dilation*(KH-1) + output_padding + 1   (and likewise OW).
 * output_padding must be smaller than stride or dilation (per dim), as PyTorch requires; C and
 * OC divisible by groups. sgemm + col2im per image and group. */
typedef struct cg_conv_transpose2d_params {
    int64_t stride[2], padding[2], output_padding[2], dilation[2];
    int64_t groups;
} cg_conv_transpose2d_params;
/* Stride 1, no padding, no output padding, dilation 1, one group. */
CG_API cg_conv_transpose2d_params cg_conv_transpose2d_defaults(void);
CG_API cg_tensor *cg_conv_transpose2d(cg_tensor *x, cg_tensor *w, cg_tensor *b,
                                      const cg_conv_transpose2d_params *p /* NULL: defaults */);

typedef struct cg_pool2d_params {
    int64_t kernel[2], stride[2], padding[2];
} cg_pool2d_params;
/* kernel k, stride k, no padding (PyTorch's default stride is the kernel). */
CG_API cg_pool2d_params cg_pool2d_defaults(int64_t k);
CG_API cg_tensor *cg_max_pool2d(cg_tensor *x, const cg_pool2d_params *p);
/* Nearest-neighbour upsampling of [N,C,H,W] by integer factors (F.interpolate, mode 'nearest'). */
CG_API cg_tensor *cg_upsample_nearest2d(cg_tensor *x, int64_t scale_h, int64_t scale_w);
/* count_include_pad = true, as PyTorch's default. */
CG_API cg_tensor *cg_avg_pool2d(cg_tensor *x, const cg_pool2d_params *p);
/* x[N,C,H,W] -> [N,C,OH,OW], PyTorch's adaptive average pooling: output cell (i, j) averages rows
 * floor(i*H/OH) .. ceil((i+1)*H/OH)-1 and the columns likewise. OH = OW = 1 is global pooling.
 * Any OH, OW >= 1, larger than the input too (cells then repeat input elements). */
CG_API cg_tensor *cg_adaptive_avg_pool2d(cg_tensor *x, int64_t oh, int64_t ow);
/* The same cells, each reduced to its max (PyTorch's adaptive_max_pool2d; the first max wins and
 * NaN propagates, as max_pool2d). */
CG_API cg_tensor *cg_adaptive_max_pool2d(cg_tensor *x, int64_t oh, int64_t ow);

/* Shape rules, without tensors: what the op checks of its input's shape and its parameters, and
 * the shape it returns. The op runs the same function on its arguments, and net specs are checked
 * with them before anything is built (cg_net_check_spec), so a caller can validate its own
 * layers the same way. Each returns CG_OK and fills out_shape (out_ndim dims: the input's rank,
 * one more for embedding), or the op's error (CG_ESHAPE or CG_EINVAL, cg_last_error() naming the
 * op and the problem). Pools name themselves "pool2d"/"adaptive_pool2d" in messages.
 *   conv2d            x [N,C,H,W], w [OC,C/groups,KH,KW]              -> [N,OC,OH,OW]
 *   conv_transpose2d  x [N,C,H,W], w [C,OC/groups,KH,KW]              -> [N,OC,OH,OW]; when an
 *                     extent is below 1 (CG_ESHAPE) out_shape still holds it, so a caller can say which
 *   pool2d            x [N,C,H,W] or [C,H,W] (max and avg pooling)    -> [..,OH,OW]
 *   adaptive_pool2d   x [N,C,H,W], oh, ow                             -> [N,C,oh,ow]
 *   upsample          x [N,C,H,W], scale_h, scale_w                   -> [N,C,H*scale_h,W*scale_w]
 *   linear            x [..., in], w [out, in]                        -> [..., out]
 *   embedding         indices of any shape S (ndim < CG_MAX_DIMS), w [V, D] -> S + [D] */
/* What cg_conv2d runs for a layer of input x_shape [N,C,H,W] and weight w_shape
 * [OC,C/groups,KH,KW] under the switches as they are now (config.h), its forward and both
 * backward passes alike: algorithm is "winograd F(2x2,3x3)", "1x1 GEMM (no im2col)",
 * "im2col + GEMM" or "depthwise direct"; gemm names the engine of its GEMMs: "LIBXSMM (JIT
 * kernels chosen from CPUID)", "the BLAS" (cg_blas_info() says which and why) or
 * "none (direct kernels)". Strings are static. The shape rules' errors for a layer that does not
 * fit (CG_ESHAPE, CG_EINVAL). */
typedef struct cg_conv2d_algo { const char *algorithm, *gemm; } cg_conv2d_algo;
CG_API cg_status cg_conv2d_algorithm(const int64_t x_shape[4], const int64_t w_shape[4], const cg_conv2d_params *p,
                                     cg_conv2d_algo *out);
CG_API cg_status cg_conv2d_out_shape(int ndim, const int64_t *x_shape, const int64_t *w_shape,
                                     const cg_conv2d_params *p, int64_t *out_shape);
CG_API cg_status cg_conv_transpose2d_out_shape(int ndim, const int64_t *x_shape, const int64_t *w_shape,
                                               const cg_conv_transpose2d_params *p, int64_t *out_shape);
CG_API cg_status cg_pool2d_out_shape(int ndim, const int64_t *x_shape, const cg_pool2d_params *p,
                                     int64_t *out_shape);
CG_API cg_status cg_adaptive_pool2d_out_shape(int ndim, const int64_t *x_shape, int64_t oh, int64_t ow,
                                              int64_t *out_shape);
CG_API cg_status cg_upsample_nearest2d_out_shape(int ndim, const int64_t *x_shape, int64_t scale_h,
                                                 int64_t scale_w, int64_t *out_shape);
CG_API cg_status cg_linear_out_shape(int ndim, const int64_t *x_shape, const int64_t *w_shape,
                                     int64_t *out_shape);
CG_API cg_status cg_embedding_out_shape(int ndim, const int64_t *idx_shape, const int64_t *w_shape,
                                        int64_t *out_shape);

/* Dropout: zero with probability p, scale the rest by 1/(1-p); identity when !training.
 * dropout2d zeroes whole channels of [N,C,H,W] (or [N,C,L]); on [N,F] every feature is a channel,
 * so it drops element-wise, as PyTorch 1.13's nn.Dropout2d does. The mask draws from rng (NULL: the
 * default stream), half a draw per mask element, and nothing when !training, p == 0 or p == 1;
 * it is the same for any thread count. */
CG_API cg_tensor *cg_dropout(cg_tensor *x, float p, bool training, cg_rng *rng);
CG_API cg_tensor *cg_dropout2d(cg_tensor *x, float p, bool training, cg_rng *rng);

/* Softmax family along dim, max-subtracted. */
CG_API cg_tensor *cg_softmax(cg_tensor *x, int dim);
CG_API cg_tensor *cg_log_softmax(cg_tensor *x, int dim);

/* Losses. logp[N,C]; target an int64 tensor [N] of class indices in [0, C) (copied); an index
 * outside is an error naming it. reduction NONE returns [N]. */
CG_API cg_tensor *cg_nll_loss(cg_tensor *logp, const cg_tensor *target, cg_reduction r);
CG_API cg_tensor *cg_cross_entropy(cg_tensor *logits, const cg_tensor *target, cg_reduction r);
/* With PyTorch's options (F.nll_loss / F.cross_entropy): weight (a float32 tensor [C], NULL:
 * all 1; its values are copied, no gradient flows to it),
 * ignore_index (rows with that target give 0 and leave the mean's denominator; -100 by
 * default), label_smoothing in [0, 1] (cross_entropy's; the same formula here), reduction. mean
 * divides by the sum of the target rows' weights, as PyTorch. Start from cg_nll_defaults(). */
typedef struct cg_nll_options {
    const cg_tensor *weight;
    int64_t ignore_index;
    float label_smoothing;
    cg_reduction reduction;
} cg_nll_options;
CG_API cg_nll_options cg_nll_defaults(void);
CG_API cg_tensor *cg_nll_loss_ex(cg_tensor *logp, const cg_tensor *target, const cg_nll_options *o);
CG_API cg_tensor *cg_cross_entropy_ex(cg_tensor *logits, const cg_tensor *target, const cg_nll_options *o);
/* pred and target of the same shape; target gets no gradient. */
CG_API cg_tensor *cg_mse_loss(cg_tensor *pred, cg_tensor *target, cg_reduction r);
/* Layer normalisation over the last k dims (PyTorch's normalized_shape): weight and bias
 * (each may be NULL) have those dims' shape; eps > 0 (PyTorch: 1e-5). */
CG_API cg_tensor *cg_layer_norm(cg_tensor *x, int k, cg_tensor *weight, cg_tensor *bias, float eps);
/* Group normalisation of [N, C, ...] in num_groups groups of channels (C divisible by it);
 * weight and bias [C] (each may be NULL); eps > 0 (PyTorch: 1e-5). */
CG_API cg_tensor *cg_group_norm(cg_tensor *x, int64_t num_groups, cg_tensor *weight, cg_tensor *bias, float eps);

/* Pointwise losses of an input and a same-shaped target (lib/ops/pointwise_loss.c has the
 * formulas), PyTorch's: l1_loss; smooth_l1_loss (beta >= 0; 1 in PyTorch); huber_loss (delta > 0;
 * 1 in PyTorch); binary_cross_entropy_with_logits with an optional pos_weight over the last dim
 * ([C] or [1]; its values are copied, no gradient flows to it); kl_div of log-probabilities input
 * against probabilities target, or log-probabilities with log_target. MEAN divides by the
 * element count. The target gets a gradient when it requires one. */
CG_API cg_tensor *cg_l1_loss(cg_tensor *pred, cg_tensor *target, cg_reduction r);
CG_API cg_tensor *cg_smooth_l1_loss(cg_tensor *pred, cg_tensor *target, float beta, cg_reduction r);
CG_API cg_tensor *cg_huber_loss(cg_tensor *pred, cg_tensor *target, float delta, cg_reduction r);
CG_API cg_tensor *cg_bce_with_logits(cg_tensor *logits, cg_tensor *target, const cg_tensor *pos_weight,
                                     cg_reduction r);
CG_API cg_tensor *cg_kl_div(cg_tensor *input, cg_tensor *target, bool log_target, cg_reduction r);

/* Batch norm over [N,C,H,W] (or [N,C]). weight/bias [C] may be NULL. In training mode it
 * normalises with the batch statistics and updates running_mean/var (unbiased variance) in
 * place with the given momentum; in eval mode it uses the running statistics. */
CG_API cg_tensor *cg_batch_norm2d(cg_tensor *x, cg_tensor *weight, cg_tensor *bias,
                                  cg_tensor *running_mean, cg_tensor *running_var,
                                  bool training, float momentum, float eps);

#ifdef __cplusplus
}
#endif
#endif
