/* minicnn's CUDA kernels: the extern "C" API that minicnn/backends/cuda/_lib.py binds with ctypes.
 *
 * Conventions (the same as csrc/cpu):
 *   - every function returns 0 on success, or a nonzero code (a cudaError_t, or MC_CUBLAS_ERROR)
 *     after storing a message for mc_cuda_last_error(); nothing ever aborts the process;
 *   - C never allocates device memory: Python passes every output and workspace pointer
 *     (from its caching allocator); the only allocation here is the cuBLAS handle;
 *   - arrays are dense, C-contiguous float32 (int64 for class indices and pooling indices);
 *     sizes, strides, paddings and dilations are explicit and separate for height and width;
 *   - everything runs on the default stream in issue order, so results are ready for any later
 *     call (a device-to-host copy synchronizes); launch errors are checked right after each launch,
 *     errors of the kernel's execution surface at the next synchronizing call.
 */
#ifndef MINICNN_CUDA_H
#define MINICNN_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MC_CUBLAS_ERROR 10000 /* returned for a failed cuBLAS call (the message has its status) */

/* ---- runtime: errors, devices, memory */
const char *mc_cuda_last_error(void);
int mc_cuda_runtime_version(int *version);
int mc_cuda_device_count(int *count);
int mc_cuda_device_name(int device, char *name, int len);
/* the device's compute capability, e.g. 8 and 6 for sm_86 */
int mc_cuda_device_capability(int device, int *major, int *minor);
/* the code built in, as "sm_75 sm_80 sm_90 compute_90" (SASS per sm_XY, PTX per compute_XY);
 * "" when the build did not pass -DMC_CUDA_ARCHS */
int mc_cuda_built_archs(char *archs, int len);
int mc_cuda_mem_info(size_t *free_bytes, size_t *total_bytes);
int mc_cuda_synchronize(void);
int mc_cuda_malloc(void **ptr, size_t nbytes);
int mc_cuda_free(void *ptr);
int mc_cuda_memcpy_htod(void *dst, const void *src, size_t nbytes);
int mc_cuda_memcpy_dtoh(void *dst, const void *src, size_t nbytes);
int mc_cuda_memcpy_dtod(void *dst, const void *src, size_t nbytes);
int mc_cuda_memset(void *ptr, int value, size_t nbytes);

#define MC_MAX_DIMS 8 /* dimensions of the strided kernels (copies, broadcasting) */

/* ---- elementwise (elementwise.cu) */
enum mc_unary_op {
    MC_RELU = 0,
    MC_LEAKY_RELU,
    MC_SIGMOID,
    MC_TANH,
    MC_SILU,
    MC_HARDSWISH,
    MC_GELU,
    MC_GELU_TANH,
    MC_EXP,
    MC_LOG,
    MC_SQRT,
    MC_ABS,
    MC_NEG,
    MC_AFFINE /* alpha * x + beta */,
    MC_POW /* x ** alpha */,
    MC_SIGN /* -1, 0 or 1; 0 for NaN */
};
enum mc_binary_op { MC_ADD = 0, MC_SUB, MC_MUL, MC_DIV };
/* y = op(x); alpha/beta: leaky_relu's slope, affine's a and b */
int mc_cuda_unary(int op, int64_t n, const float *x, float *y, float alpha, float beta);
/* gx = g * op'(.) from `saved`: the output for relu, sigmoid, tanh; the input for the others */
int mc_cuda_unary_backward(int op, int64_t n, const float *g, const float *saved, float *gx,
                           float alpha);
int mc_cuda_binary(int op, int64_t n, const float *a, const float *b, float *y);
/* y = a op b with NumPy broadcasting: y contiguous of `shape` (ndim <= MC_MAX_DIMS), a and b read
 * through element strides (0 along broadcast dimensions) */
int mc_cuda_binary_broadcast(int op, int ndim, const int64_t *shape, const int64_t *a_strides,
                             const float *a, const int64_t *b_strides, const float *b, float *y);
int mc_cuda_fill(int64_t n, float *y, float value);
/* y[n, c, s] = x[n, c, s] + bias[c]: x viewed as (N, C, S) */
int mc_cuda_bias_add(int64_t N, int64_t C, int64_t S, const float *x, const float *bias, float *y);

/* ---- copies (copy.cu): slices, permutes, broadcasts and casts on the device */
/* dst[index] = src[index] over every index of `shape` (ndim <= MC_MAX_DIMS); strides and offsets
 * count elements of `itemsize` bytes (1, 4 or 8); a stride 0 repeats (broadcasting). Covers
 * permutes, slices (either side), expand and making a view contiguous. */
int mc_cuda_strided_copy(int ndim, const int64_t *shape, const int64_t *src_strides,
                         int64_t src_offset, const void *src, const int64_t *dst_strides,
                         int64_t dst_offset, void *dst, int itemsize);
enum mc_dtype { MC_FLOAT32 = 0, MC_FLOAT64, MC_INT64, MC_BOOL /* one byte, 0 or 1 */ };
/* dst = (dst_type) src elementwise, n elements; to bool: value != 0 */
int mc_cuda_cast(int64_t n, const void *src, int src_type, void *dst, int dst_type);
/* x += value for int64 x (counters such as batch norm's num_batches_tracked) */
int mc_cuda_add_int64(int64_t n, int64_t *x, int64_t value);

/* ---- reductions (elementwise.cu); sums accumulate in double */
/* y[o, i] = sum_k x[o, k, i]: x viewed as (outer, n, inner) */
int mc_cuda_sum_axis(int64_t outer, int64_t n, int64_t inner, const float *x, float *y);
/* y[b] = sum_{a, c} x[a, b, c]: x viewed as (A, B, C) (bias gradients, batch-norm sums) */
int mc_cuda_sum_keep_axis(int64_t A, int64_t B, int64_t C, const float *x, float *y);
/* softmax / log_softmax along the middle axis of (outer, n, inner), and their gradients */
int mc_cuda_softmax(int log, int64_t outer, int64_t n, int64_t inner, const float *x, float *y);
int mc_cuda_softmax_backward(int log, int64_t outer, int64_t n, int64_t inner, const float *g,
                             const float *y, float *gx);

/* ---- GEMM (gemm.cu): row-major C (M, N) = alpha op(A) (M, K) op(B) (K, N) + beta C */
int mc_cuda_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* the hand-written tiled kernel alone, whether or not cuBLAS is present (for tests, benchmarks) */
int mc_cuda_sgemm_tiled(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                        int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* 1 when cuBLAS was found (dlopen) and mc_cuda_sgemm uses it; set use = 0 to force the tiled kernel
 */
int mc_cuda_cublas_available(void);
void mc_cuda_use_cublas(int use);

/* ---- convolution (conv.cu); x (N, C, H, W), weight (K, C / groups, kh, kw), y (N, K, Ho, Wo) */
int mc_cuda_im2col(const float *x, int C, int H, int W, int kh, int kw, int sh, int sw, int ph,
                   int pw, int dh, int dw, float *cols);
int mc_cuda_col2im(const float *cols, int C, int H, int W, int kh, int kw, int sh, int sw, int ph,
                   int pw, int dh, int dw, float *x);
/* im2col + GEMM per chunk of nb images and group; work: workspace of
 * nb ((C / groups) kh kw + K / groups) Ho Wo floats (the chunk's columns, then its GEMM operand) */
int mc_cuda_conv2d(const float *x, const float *w, const float *bias, float *y, float *work, int N,
                   int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw,
                   int dh, int dw, int groups, int nb);
int mc_cuda_conv2d_backward_input(const float *gy, const float *w, float *gx, float *work, int N,
                                  int C, int H, int W, int K, int kh, int kw, int sh, int sw,
                                  int ph, int pw, int dh, int dw, int groups, int nb);
int mc_cuda_conv2d_backward_weight(const float *gy, const float *x, float *gw, float *work, int N,
                                   int C, int H, int W, int K, int kh, int kw, int sh, int sw,
                                   int ph, int pw, int dh, int dw, int groups, int nb);
/* direct depthwise convolution: groups == C, K a multiple of C (output channel k reads input
 * channel k / (K / C)); no workspace */
int mc_cuda_depthwise_conv2d(const float *x, const float *w, const float *bias, float *y, int N,
                             int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph,
                             int pw, int dh, int dw);
int mc_cuda_depthwise_conv2d_backward_input(const float *gy, const float *w, float *gx, int N,
                                            int C, int H, int W, int K, int kh, int kw, int sh,
                                            int sw, int ph, int pw, int dh, int dw);
int mc_cuda_depthwise_conv2d_backward_weight(const float *gy, const float *x, float *gw, int N,
                                             int C, int H, int W, int K, int kh, int kw, int sh,
                                             int sw, int ph, int pw, int dh, int dw);

/* ---- pooling (pool.cu); x (N, C, H, W) -> y (N, C, Ho, Wo); P = N * C planes.
 * adaptive = 1: windows [floor(o H / Ho), ceil((o + 1) H / Ho)) and kh..dw are ignored. */
int mc_cuda_max_pool2d(const float *x, float *y, int64_t *indices, int P, int H, int W, int Ho,
                       int Wo, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                       int adaptive);
int mc_cuda_max_pool2d_backward(const float *gy, const int64_t *indices, float *gx, int P, int H,
                                int W, int Ho, int Wo);
int mc_cuda_avg_pool2d(const float *x, float *y, int P, int H, int W, int Ho, int Wo, int kh,
                       int kw, int sh, int sw, int ph, int pw, int count_include_pad,
                       int divisor_override, int adaptive);
int mc_cuda_avg_pool2d_backward(const float *gy, float *gx, int P, int H, int W, int Ho, int Wo,
                                int kh, int kw, int sh, int sw, int ph, int pw,
                                int count_include_pad, int divisor_override, int adaptive);

/* ---- batch norm (norm.cu); x (N, C, S); statistics in double, per channel (C,) */
int mc_cuda_batch_norm_forward_train(const float *x, const float *weight, const float *bias,
                                     float *y, float *mean, float *var, float *invstd, int N, int C,
                                     int S, float eps);
int mc_cuda_batch_norm_forward_eval(const float *x, const float *running_mean,
                                    const float *running_var, const float *weight,
                                    const float *bias, float *y, int N, int C, int S, float eps);
/* gx, gw, gb may be NULL (not wanted); work: workspace of 2 C doubles */
int mc_cuda_batch_norm_backward(const float *gy, const float *x, const float *mean,
                                const float *invstd, const float *weight, float *gx, float *gw,
                                float *gb, double *work, int N, int C, int S, int train);

/* ---- losses (loss.c's contract, loss.cu); input (N, C, S), target (N, S) int64.
 * sums: 4 doubles written by the forward: loss sum, weight sum, count of bad targets, one bad
 * target (the caller zeroes them first). g_scalar = 1: grad_output is one value for all. */
int mc_cuda_cross_entropy(const float *x, const int64_t *target, const float *weight, float *loss,
                          float *stats, double *sums, int N, int C, int S, int64_t ignore_index,
                          float label_smoothing);
int mc_cuda_cross_entropy_backward(const float *g, int g_scalar, const float *x,
                                   const int64_t *target, const float *weight, const float *stats,
                                   float *gx, int N, int C, int S, int64_t ignore_index,
                                   float label_smoothing, float scale);
int mc_cuda_nll_loss(const float *x, const int64_t *target, const float *weight, float *loss,
                     double *sums, int N, int C, int S, int64_t ignore_index);
int mc_cuda_nll_loss_backward(const float *g, int g_scalar, const int64_t *target,
                              const float *weight, float *gx, int N, int C, int S,
                              int64_t ignore_index, float scale);

/* ---- optimizer updates (optim.cu), in place, PyTorch's formulas (minicnn/optim) */
int mc_cuda_sgd_step(int64_t n, float *param, const float *grad, float *buf, float lr,
                     float momentum, float dampening, float weight_decay, int nesterov,
                     int first_step, int maximize);
/* step: the 1-based step count after this update; max_exp_avg_sq NULL unless amsgrad */
int mc_cuda_adam_step(int64_t n, float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                      float *max_exp_avg_sq, float lr, float beta1, float beta2, float eps,
                      float weight_decay, int decoupled, int64_t step, int maximize);

#ifdef __cplusplus
}
#endif
#endif
