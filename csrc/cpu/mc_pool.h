/* C kernels for pooling (pool.c, pool_impl.h): max and average pooling, adaptive max and average
 * pooling, forward and backward; included by minicnn.h.
 *
 * Sizes come in an mc_geometry (minicnn.h): N, C, H, W, the window (kh, kw, sh, sw, ph, pw, dh,
 * dw; the adaptive pools read none of it) and Ho, Wo; K and groups are not used.
 * Layout: every array is P = N * C planes stored one after the other (C-contiguous NCHW): the
 * input x and grad_input gx are (P, H, W), the output y, its gradient gy and the argmax indices
 * ind are (P, Ho, Wo). Indices are flat positions ih * W + iw inside one (H, W) plane, as int64
 * (PyTorch's max_pool2d(return_indices=True)).
 *
 * Window of output (oh, ow), as in PyTorch (aten/src/ATen/native/cpu/{MaxPool,AvgPool,
 * AdaptiveAvgPool,AdaptiveMaxPool}Kernel.cpp):
 *   max:      rows oh*sh - ph + i*dh for i < kh (columns alike), clipped to the input, implicit
 * -inf padding; first maximum wins, a NaN always wins (so the last NaN is kept); avg:      rows
 * [oh*sh - ph, oh*sh - ph + kh) clipped to [-ph, H + ph) for the divisor that counts padding, then
 * to [0, H) for the sum; y = sum / divisor where divisor is divisor_override if > 0, else the
 * padded window size (count_include_pad) or the clipped one; an empty clipped window gives 0;
 *   adaptive: rows [floor(oh*H/Ho), ceil((oh+1)*H/Ho)) (columns alike).
 * The caller computes Ho, Wo (PyTorch's rule, ceil_mode included) and validates every size; the
 * kernels check nothing, except that max_pool2d_backward skips indices outside [0, H*W).
 * max_pool2d's ind may be NULL: values only (inference, where no backward will need them).
 * Backward kernels write all of gx (zeroing it themselves, one plane at a time).
 * OpenMP: forward kernels split the P * Ho output rows, backward kernels the P planes. */
#ifndef MC_POOL_H
#define MC_POOL_H

#include <stdint.h>

#define MC_DECLARE_POOL(T, SFX)                                                                    \
    void mc_max_pool2d_##SFX(const T *x, T *y, int64_t *ind, const mc_geometry *g);                \
    /* gx[p, ind[p, o]] += gy[p, o]; used for adaptive_max_pool2d too */                           \
    void mc_max_pool2d_backward_##SFX(const T *gy, const int64_t *ind, T *gx,                      \
                                      const mc_geometry *g);                                       \
    void mc_avg_pool2d_##SFX(const T *x, T *y, const mc_geometry *g, int count_include_pad,        \
                             int64_t divisor_override);                                            \
    void mc_avg_pool2d_backward_##SFX(const T *gy, T *gx, const mc_geometry *g,                    \
                                      int count_include_pad, int64_t divisor_override);            \
    void mc_adaptive_avg_pool2d_##SFX(const T *x, T *y, const mc_geometry *g);                     \
    void mc_adaptive_avg_pool2d_backward_##SFX(const T *gy, T *gx, const mc_geometry *g);          \
    void mc_adaptive_max_pool2d_##SFX(const T *x, T *y, int64_t *ind, const mc_geometry *g);

MC_DECLARE_POOL(float, f32)
MC_DECLARE_POOL(double, f64)

#endif
