/* C kernels for convolution (conv.c, conv_f32.c, conv_f64.c): im2col/col2im for one image, im2col
 * + GEMM for any geometry and groups, a direct depthwise convolution and Winograd F(2x2, 3x3).
 * Included by minicnn.h; every size comes in an mc_geometry. Shapes: image (C, H, W); columns
 * (C * kh * kw, Ho * Wo), row (c * kh + i) * kw + j starting at cols + row * ld (ld >= Ho * Wo:
 * the row stride, so several images' columns can sit side by side in one matrix, the "leading
 * dimension" of a GEMM); depthwise input (N, C, H, W), weight (C * M, 1, kh, kw) for a channel
 * multiplier M, output (N, C * M, Ho, Wo). The caller computes Ho, Wo and validates everything.
 * ws: depthwise workspace, mc_depthwise_workspace(g) elements (used for stride 1, and by the
 * forward for 3x3 stride 2). */
#ifndef MC_CONV_H
#define MC_CONV_H

#include <stdint.h>

#define MC_DECLARE_CONV(T, SFX)                                                                    \
    /* one image's C channels (g's C may be larger: a group's share), g's H, W, window, Ho, Wo */  \
    void mc_im2col_##SFX(const T *x, int64_t C, const mc_geometry *g, T *cols, int64_t ld);        \
    /* x += col2im(cols): the caller zeroes x first */                                             \
    void mc_col2im_##SFX(const T *cols, int64_t ld, int64_t C, const mc_geometry *g, T *x);        \
    void mc_depthwise_conv2d_##SFX(const T *x, const T *w, T *y, const mc_geometry *g, T *ws);     \
    void mc_depthwise_conv2d_backward_input_##SFX(const T *gy, const T *w, T *gx,                  \
                                                  const mc_geometry *g, T *ws);                    \
    void mc_depthwise_conv2d_backward_weight_##SFX(const T *gy, const T *x, T *gw,                 \
                                                   const mc_geometry *g, T *ws);                   \
    /* im2col + GEMM, any geometry and groups; ws: mc_conv2d_gemm_workspace_* elements for         \
     * pass 0 (conv2d_gemm), 1 (_backward_input) or 2 (_backward_weight) */                        \
    int64_t mc_conv2d_gemm_workspace_##SFX(int pass, const mc_geometry *g);                        \
    void mc_conv2d_gemm_##SFX(const T *x, const T *w, T *y, const mc_geometry *g, T *ws);          \
    void mc_conv2d_gemm_backward_input_##SFX(const T *gy, const T *w, T *gx, const mc_geometry *g, \
                                             T *ws);                                               \
    void mc_conv2d_gemm_backward_weight_##SFX(const T *gy, const T *x, T *gw,                      \
                                              const mc_geometry *g, T *ws);                        \
    /* Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions (winograd_impl.h has the details).       \
     * Cp, Kp: C, K rounded up to a multiple of 64 bytes of T. U (16, Cp, Kp): G g G^T. */         \
    int64_t mc_winograd_scratch_##SFX(int64_t Cp, int64_t Kp);                                     \
    void mc_winograd_conv2d_##SFX(const T *x, const T *U, T *y, const mc_geometry *g,              \
                                  int64_t n_chunk, T *xh, T *scratch);                             \
    void mc_winograd_conv2d_backward_weight_##SFX(const T *gy, const T *x, const mc_geometry *g,   \
                                                  int64_t n_chunk, T *xh, T *gh, T *vbuf, T *gbuf, \
                                                  T *zero, T *dU);                                 \
    /* direct 3x3, stride 1, padding 1, one group (conv_impl.h); ws: mc_direct3x3_workspace */     \
    void mc_direct3x3_conv2d_##SFX(const T *x, const T *w, T *y, const mc_geometry *g, T *ws);     \
    /* U = G g G^T for a weight (K, C, 3, 3); gw (K, C, 3, 3) = G^T dU G */                        \
    void mc_winograd_weight_##SFX(const T *w, int64_t K, int64_t C, T *U);                         \
    void mc_winograd_weight_grad_##SFX(const T *dU, int64_t K, int64_t C, T *gw);

/* Elements of workspace the depthwise kernels need: per thread, one zero-padded plane (plus
 * slack) and one wide output row block; 0 when the stride is not 1 (nor 3x3 stride 2). */
int64_t mc_depthwise_workspace(const mc_geometry *g);

/* Elements of workspace the direct 3x3 kernel needs (all threads). */
int64_t mc_direct3x3_workspace(const mc_geometry *g);

MC_DECLARE_CONV(float, f32)
MC_DECLARE_CONV(double, f64)

#endif
