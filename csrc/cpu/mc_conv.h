/* C kernels for convolution: im2col/col2im for one image, and a direct depthwise convolution.
 * Included by minicnn.h. Shapes: image (C, H, W); columns (C * kh * kw, Ho * Wo), row
 * (c * kh + i) * kw + j starting at cols + row * ld (ld >= Ho * Wo: the row stride, so several
 * images' columns can sit side by side in one matrix, BLAS's "leading dimension"); depthwise input (N, C, H, W), weight (C * M, 1, kh, kw) for a channel
 * multiplier M, output (N, C * M, Ho, Wo). The caller computes Ho, Wo and validates everything.
 * ws: depthwise workspace, mc_depthwise_workspace(...) elements (used for stride 1 only). */
#ifndef MC_CONV_H
#define MC_CONV_H

#include <stdint.h>

#define MC_DECLARE_CONV(T, SFX)                                                               \
    void mc_im2col_##SFX(const T *x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, \
                         int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,          \
                         int64_t dw, int64_t Ho, int64_t Wo, T *cols, int64_t ld);            \
    /* x += col2im(cols): the caller zeroes x first */                                        \
    void mc_col2im_##SFX(const T *cols, int64_t ld, int64_t C, int64_t H, int64_t W,          \
                         int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,          \
                         int64_t pw, int64_t dh, int64_t dw, int64_t Ho, int64_t Wo, T *x);   \
    void mc_depthwise_conv2d_##SFX(const T *x, const T *w, T *y, int64_t N, int64_t C,        \
                                   int64_t H, int64_t W, int64_t M, int64_t kh, int64_t kw,   \
                                   int64_t sh, int64_t sw, int64_t ph, int64_t pw,            \
                                   int64_t dh, int64_t dw, int64_t Ho, int64_t Wo, T *ws);    \
    void mc_depthwise_conv2d_backward_input_##SFX(                                            \
        const T *gy, const T *w, T *gx, int64_t N, int64_t C, int64_t H, int64_t W,           \
        int64_t M, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,    \
        int64_t dh, int64_t dw, int64_t Ho, int64_t Wo, T *ws);                               \
    void mc_depthwise_conv2d_backward_weight_##SFX(                                           \
        const T *gy, const T *x, T *gw, int64_t N, int64_t C, int64_t H, int64_t W,           \
        int64_t M, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,    \
        int64_t dh, int64_t dw, int64_t Ho, int64_t Wo, T *ws);                               \
    /* linear layers, x (M, in), W (out, in), y (M, out), b (out,) or NULL; ws:             \
     * mc_linear_workspace_* elements */                                                     \
    int64_t mc_linear_workspace_##SFX(int64_t M, int64_t in, int64_t out);                    \
    void mc_linear_##SFX(const T *x, const T *w, const T *b, T *y, int64_t M, int64_t in,     \
                         int64_t out, T *ws);                                                 \
    void mc_linear_backward_input_##SFX(const T *g, const T *w, T *gx, int64_t M, int64_t in, \
                                        int64_t out, T *ws);                                  \
    void mc_linear_backward_weight_##SFX(const T *g, const T *x, T *gw, int64_t M,            \
                                         int64_t in, int64_t out, T *ws);                     \
    /* im2col + GEMM, any geometry and groups; ws: mc_conv2d_gemm_workspace_* elements for    \
     * pass 0 (conv2d_gemm), 1 (_backward_input) or 2 (_backward_weight) */                   \
    int64_t mc_conv2d_gemm_workspace_##SFX(int pass, int64_t N, int64_t C, int64_t K, int64_t kh, int64_t kw,     \
                                           int64_t sh, int64_t sw, int64_t ph, int64_t pw,   \
                                           int64_t groups, int64_t Ho, int64_t Wo);          \
    void mc_conv2d_gemm_##SFX(const T *x, const T *w, T *y, int64_t N, int64_t C, int64_t H,  \
                              int64_t W, int64_t K, int64_t kh, int64_t kw, int64_t sh,       \
                              int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,     \
                              int64_t groups, int64_t Ho, int64_t Wo, T *ws);                 \
    void mc_conv2d_gemm_backward_input_##SFX(                                                 \
        const T *gy, const T *w, T *gx, int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, \
        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,   \
        int64_t dw, int64_t groups, int64_t Ho, int64_t Wo, T *ws);                           \
    void mc_conv2d_gemm_backward_weight_##SFX(                                                \
        const T *gy, const T *x, T *gw, int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, \
        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,   \
        int64_t dw, int64_t groups, int64_t Ho, int64_t Wo, T *ws);                           \
    /* Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions (winograd_impl.h has the details).   \
     * Cp, Kp: C, K rounded up to a multiple of 64 bytes of T. U (16, Cp, Kp): G g G^T. */      \
    int64_t mc_winograd_scratch_##SFX(int64_t Cp, int64_t Kp);                                \
    void mc_winograd_conv2d_##SFX(const T *x, int64_t N, int64_t C, int64_t H, int64_t W,     \
                                  const T *U, int64_t K, int64_t ph, int64_t pw, T *y,        \
                                  int64_t Ho, int64_t Wo, int64_t n_chunk, T *xh, T *scratch); \
    void mc_winograd_conv2d_backward_weight_##SFX(                                            \
        const T *gy, const T *x, int64_t N, int64_t C, int64_t H, int64_t W, int64_t K,       \
        int64_t ph, int64_t pw, int64_t Ho, int64_t Wo, int64_t n_chunk, T *xh, T *gh,        \
        T *vbuf, T *gbuf, T *zero, T *dU);                                                     \
    /* U = G g G^T for a weight (K, C, 3, 3); gw (K, C, 3, 3) = G^T dU G */                  \
    void mc_winograd_weight_##SFX(const T *w, int64_t K, int64_t C, T *U);                    \
    void mc_winograd_weight_grad_##SFX(const T *dU, int64_t K, int64_t C, T *gw);

/* Elements of workspace the depthwise kernels need: per thread, one zero-padded plane (plus
 * slack) and one wide output row block; 0 when the stride is not 1. */
int64_t mc_depthwise_workspace(int64_t H, int64_t W, int64_t kw, int64_t sh, int64_t sw,
                               int64_t ph, int64_t pw, int64_t dw, int64_t Ho);

MC_DECLARE_CONV(float, f32)
MC_DECLARE_CONV(double, f64)

#endif
