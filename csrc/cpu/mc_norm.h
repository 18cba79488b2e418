/* C kernels for normalization: batch norm (training and eval), layer, group and instance norm;
 * included by minicnn.h.
 *
 * Arrays are viewed as (N, C, S) with S = prod(spatial) (S = 1 for an (N, C) input); M = N * S
 * values per channel. weight and bias may be NULL (no affine transform); per-channel arrays have
 * C elements; work is a caller-allocated scratch array (3 * C or 2 * C doubles, as noted). Formulas
 * and sources: norm_impl.h. */
#ifndef MC_NORM_H
#define MC_NORM_H

#include <stdint.h>

#define MC_DECLARE_NORM(T, SFX)                                                                    \
    /* batch statistics: mean, var (biased), invstd = 1/sqrt(var + eps) per channel, and           \
     * y = act((x - mean) * invstd * weight + bias), act one of minicnn.h's MC_ACT_* */            \
    void mc_batch_norm_forward_train_##SFX(const T *x, const T *weight, const T *bias, T *y,       \
                                           T *mean, T *var, T *invstd, int64_t N, int64_t C,       \
                                           int64_t S, double eps, int act, double *work);          \
    /* y = act((x - running_mean) * weight / sqrt(running_var + eps) + bias) */                    \
    void mc_batch_norm_forward_eval_##SFX(const T *x, const T *running_mean, const T *running_var, \
                                          const T *weight, const T *bias, T *y, int64_t N,         \
                                          int64_t C, int64_t S, double eps, int act);              \
    /* gradients from the saved mean and invstd; train = 0 treats them as constants (eval);        \
     * gx, gw, gb may each be NULL when not wanted; with act, y is the forward's output and gy     \
     * is first taken back through the activation; work: 3 * C doubles */                          \
    void mc_batch_norm_backward_##SFX(const T *gy, const T *x, const T *mean, const T *invstd,     \
                                      const T *weight, T *gx, T *gw, T *gb, int64_t N, int64_t C,  \
                                      int64_t S, int train, const T *y, int act, double *work);    \
    /* group norm with G groups of C / G channels (layer norm of (M, D): N = M, C = D, S = 1,      \
     * G = 1); mean, invstd: (N, G); work: 2 * C doubles */                                        \
    void mc_group_norm_forward_##SFX(const T *x, const T *weight, const T *bias, T *y, T *mean,    \
                                     T *invstd, int64_t N, int64_t C, int64_t S, int64_t G,        \
                                     double eps);                                                  \
    void mc_group_norm_backward_##SFX(const T *gy, const T *x, const T *mean, const T *invstd,     \
                                      const T *weight, T *gx, T *gw, T *gb, int64_t N, int64_t C,  \
                                      int64_t S, int64_t G, double *work);

MC_DECLARE_NORM(float, f32)
MC_DECLARE_NORM(double, f64)

#endif
