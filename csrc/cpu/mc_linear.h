/* C kernels of the linear layers (linear_impl.h, compiled in conv_f32.c and conv_f64.c with the
 * GEMM they share with the convolutions); included by minicnn.h. x (M, in), W (out, in),
 * y (M, out), b (out,) or NULL; ws: mc_linear_workspace_* elements. */
#ifndef MC_LINEAR_H
#define MC_LINEAR_H

#include <stdint.h>

#define MC_DECLARE_LINEAR(T, SFX)                                                                  \
    int64_t mc_linear_workspace_##SFX(int64_t M, int64_t in, int64_t out);                         \
    void mc_linear_##SFX(const T *x, const T *w, const T *b, T *y, int64_t M, int64_t in,          \
                         int64_t out, T *ws);                                                      \
    void mc_linear_backward_input_##SFX(const T *g, const T *w, T *gx, int64_t M, int64_t in,      \
                                        int64_t out, T *ws);                                       \
    void mc_linear_backward_weight_##SFX(const T *g, const T *x, T *gw, int64_t M, int64_t in,     \
                                         int64_t out, T *ws);

MC_DECLARE_LINEAR(float, f32)
MC_DECLARE_LINEAR(double, f64)

#endif
