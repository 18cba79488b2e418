/*
 * minicnn CPU kernels: the C99 API that minicnn/backends/_cpu.pyx binds.
 *
 * Conventions (BLAS/Caffe style, see docs/design.md):
 *   - every kernel takes raw pointers and explicit sizes; C never allocates, the caller (Python)
 *     allocates every output and workspace;
 *   - arrays are C-contiguous; sizes are int64_t element counts;
 *   - each kernel exists for float (_f32) and double (_f64);
 *   - the caller validates shapes, dtypes and contiguity before calling (no checks here);
 *   - OpenMP parallelism lives inside the kernels and uses mc_get_num_threads() threads.
 */
#ifndef MINICNN_H
#define MINICNN_H

#include <stdint.h>

/* The geometry of a 2-d convolution or pooling window, in PyTorch's terms (torch.nn.Conv2d,
 * MaxPool2d): N images of C channels, H x W pixels; K output channels (a convolution's; the pools
 * keep C, and a depthwise convolution has K = C * M for a channel multiplier M); a kh x kw
 * window with stride (sh, sw), zero padding (ph, pw) and dilation (dh, dw); groups (the
 * convolutions); output Ho x Wo. The caller computes Ho and Wo and checks every size; the kernels
 * read only the fields they need. */
typedef struct mc_geometry {
    int64_t N, C, H, W, K;
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    int64_t groups, Ho, Wo;
} mc_geometry;

/* ---- threads (threads.c) ---- */
int mc_openmp_enabled(void);    /* 1 when built with OpenMP, else 0 */
void mc_set_num_threads(int n); /* n >= 1; governs every minicnn kernel */
int mc_get_num_threads(void);   /* defaults to omp_get_max_threads() (honours OMP_NUM_THREADS) */
/* Memory-bound passes on fewer elements than mc_parallel_min(), and GEMMs and convolutions of
 * fewer multiply-adds than mc_parallel_min_macs(), run on the calling thread: both thresholds
 * grow with the measured cost of waking the thread team (mc_team_wake_us(), median of nine empty
 * regions), from 32768 elements and 1M multiply-adds; MINICNN_PARALLEL_MIN fixes the first (and
 * the second 32 times it). Measured again by mc_calibrate_parallel(), which mc_set_num_threads
 * calls. */
void mc_calibrate_parallel(void);
int64_t mc_parallel_min(void);
int64_t mc_parallel_min_macs(void);
double mc_team_wake_us(void);

/* The activation a kernel may apply to its output in the pass that writes it (act arguments of
 * the batch-norm kernels and of bias_act): none, ReLU max(z, 0), ReLU6 min(max(z, 0), 6); NaN
 * stays NaN. */
#define MC_ACT_NONE 0
#define MC_ACT_RELU 1
#define MC_ACT_RELU6 2

/* ---- elementwise activations (elementwise.c); n = number of elements ----
 * Forward: y = f(x). Backward: gx = gy * f'(.), from the saved input x or output y as named. */
#define MC_DECLARE_ELEMENTWISE(T, SFX)                                                             \
    void mc_relu_##SFX(const T *x, T *y, int64_t n);                                               \
    void mc_relu_backward_##SFX(const T *gy, const T *y, T *gx, int64_t n);                        \
    void mc_leaky_relu_##SFX(const T *x, T *y, int64_t n, T slope);                                \
    void mc_leaky_relu_backward_##SFX(const T *gy, const T *x, T *gx, int64_t n, T slope);         \
    void mc_sigmoid_##SFX(const T *x, T *y, int64_t n);                                            \
    void mc_sigmoid_backward_##SFX(const T *gy, const T *y, T *gx, int64_t n);                     \
    void mc_tanh_##SFX(const T *x, T *y, int64_t n);                                               \
    void mc_tanh_backward_##SFX(const T *gy, const T *y, T *gx, int64_t n);                        \
    void mc_silu_##SFX(const T *x, T *y, int64_t n);                                               \
    void mc_silu_backward_##SFX(const T *gy, const T *x, T *gx, int64_t n);                        \
    void mc_hardswish_##SFX(const T *x, T *y, int64_t n);                                          \
    void mc_hardswish_backward_##SFX(const T *gy, const T *x, T *gx, int64_t n);                   \
    void mc_gelu_##SFX(const T *x, T *y, int64_t n, int tanh_approx);                              \
    void mc_gelu_backward_##SFX(const T *gy, const T *x, T *gx, int64_t n, int tanh_approx);       \
    /* y[n,c,s] = x[n,c,s] + b[c] for x of shape (N, C, S) */                                      \
    void mc_bias_add_##SFX(const T *x, const T *b, T *y, int64_t N, int64_t C, int64_t S);         \
    /* gb[c] = sum over n, s of gy[n,c,s] */                                                       \
    void mc_bias_add_backward_##SFX(const T *gy, T *gb, int64_t N, int64_t C, int64_t S);          \
    /* in place, y[n,c,s] = act(y[n,c,s] + b[c]) (b may be NULL: act(y)); act: MC_ACT_* */         \
    void mc_bias_act_##SFX(T *y, const T *b, int64_t N, int64_t C, int64_t S, int act);

MC_DECLARE_ELEMENTWISE(float, f32)
MC_DECLARE_ELEMENTWISE(double, f64)

/* ---- one header per kernel family ---- */
#include "mc_conv.h"
#include "mc_linear.h"
#include "mc_pool.h"
#include "mc_norm.h"
#include "mc_loss.h"

#endif /* MINICNN_H */
