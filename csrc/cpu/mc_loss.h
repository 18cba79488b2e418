/* C kernels of the loss family (loss.c): cross entropy as one fused, numerically stable pass per
 * row (log-softmax and negative log-likelihood together); included by minicnn.h.
 *
 * Layout: logits x of shape (N, C, S) (S = d1 * d2 * ..., 1 for plain (N, C) logits), C-contiguous,
 * so the C logits of row (n, s) are x[(n * C + c) * S + s]; target (N, S) int64 class indices,
 * each in [0, C) or equal to ignore_index (the caller checks: C never reads weight[t] or x out of
 * bounds); weight NULL (every class weighs 1) or (C,).
 *
 * Forward, per row r = (n, s) with m = max_c x_c and L = log sum_c exp(x_c - m), so that
 * -log softmax(x)_c = L - (x_c - m), eps = label_smoothing, w_c the class weights:
 *   loss[r] = (1 - eps) w_t (L - (x_t - m)) + (eps / C) sum_c w_c (L - (x_c - m))   (0 if ignored)
 *   stats[r] = m, stats[N * S + r] = L  (what backward needs to rebuild softmax; 0 if ignored)
 *   sums[0] = sum_r loss[r], sums[1] = sum of w_t over rows not ignored (summed in double,
 * serially, so the result does not depend on the thread count). Backward, with g_r = gy[r *
 * gy_stride] * scale (gy_stride 0 broadcasts one upstream gradient) and p_c = exp((x_c - m) - L), W
 * = sum_c w_c: gx_c = g_r ((1 - eps) w_t + (eps / C) W) p_c - g_r (eps / C) w_c - [c == t] g_r (1 -
 * eps) w_t and 0 for ignored rows. */
#ifndef MC_LOSS_H
#define MC_LOSS_H

#include <stdint.h>

#define MC_DECLARE_LOSS(T, SFX)                                                                    \
    void mc_cross_entropy_##SFX(const T *x, const int64_t *target, const T *weight, T *loss,       \
                                T *stats, int64_t N, int64_t C, int64_t S, int64_t ignore_index,   \
                                T label_smoothing, double *sums);                                  \
    void mc_cross_entropy_backward_##SFX(const T *gy, int64_t gy_stride, const T *x,               \
                                         const int64_t *target, const T *weight, const T *stats,   \
                                         T *gx, int64_t N, int64_t C, int64_t S,                   \
                                         int64_t ignore_index, T label_smoothing, T scale);

MC_DECLARE_LOSS(float, f32)
MC_DECLARE_LOSS(double, f64)

#endif
