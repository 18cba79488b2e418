/* The convolution kernels (im2col + GEMM, col2im, direct depthwise, Winograd) for one element
 * type: conv_f32.c and conv_f64.c define T, SFX, VT (a GCC vector of 64 bytes of T) and VL (its
 * lane count), then include this file. Two translation units so that the build compiles
 * them in parallel. */
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

#include "gemm_impl.h"
#include "conv_impl.h"
#include "winograd_impl.h"
