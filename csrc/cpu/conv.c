/* Convolution kernels (im2col + GEMM, col2im, direct depthwise, Winograd), instantiated for
 * float and double from gemm_impl.h, conv_impl.h and winograd_impl.h. */
#include <string.h>

#include "mc_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

MC_INLINE int mc_thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Per-thread slack after the depthwise planes: the vectorised forward reads and writes up to two
 * 64-byte vectors past the end of a wide output block (64 elements cover float and double). */
#define MC_DW_SLACK 64

int64_t mc_depthwise_workspace(int64_t H, int64_t W, int64_t kw, int64_t sh, int64_t sw,
                               int64_t ph, int64_t pw, int64_t dw, int64_t Ho) {
    if (sh != 1 || sw != 1) return 0;
    const int64_t Wp = W + 2 * pw;
    return (int64_t)mc_get_num_threads() *
           ((H + 2 * ph) * Wp + (kw - 1) * dw + Ho * Wp + MC_DW_SLACK);
}

/* Output positions o in [0, n_out) whose input index o * stride + offset lies in [0, n_in):
 * the half-open range [*lo, *hi). Everything outside it reads the zero padding. */
MC_INLINE void mc_valid_range(int64_t offset, int64_t stride, int64_t n_in, int64_t n_out,
                           int64_t *lo, int64_t *hi) {
    int64_t a = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    int64_t b = n_in - 1 - offset >= 0 ? (n_in - 1 - offset) / stride + 1 : 0;
    if (a > n_out) a = n_out;
    if (b > n_out) b = n_out;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

/* 64-byte vectors (GCC's vector extension): one AVX-512 register, two AVX2 or four SSE ones,
 * depending on the clone being compiled. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi" /* vector helpers are always inlined: no ABI to keep */
#endif
typedef float mc_vf32 __attribute__((vector_size(64)));
typedef double mc_vf64 __attribute__((vector_size(64)));

#define T float
#define SFX f32
#define VT mc_vf32
#define VL 16
#include "gemm_impl.h"
#include "conv_impl.h"
#include "winograd_impl.h"
#undef T
#undef SFX
#undef VT
#undef VL

#define T double
#define SFX f64
#define VT mc_vf64
#define VL 8
#include "gemm_impl.h"
#include "conv_impl.h"
#include "winograd_impl.h"
#undef T
#undef SFX
#undef VT
#undef VL
