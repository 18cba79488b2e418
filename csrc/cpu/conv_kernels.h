/* The convolution kernels (im2col + GEMM, col2im, direct depthwise, Winograd) and the linear
 * layers, on one GEMM, for one element type: conv_f32.c and conv_f64.c define T, SFX, VT (a GCC
 * vector of 64 bytes of T) and VL (its lane count), then include this file. Two translation
 * units so that the build compiles them in parallel. */
#include <string.h>

#include "mc_internal.h"

/* 64-byte vectors (GCC's vector extension): one AVX-512 register, two AVX2 or four SSE ones,
 * depending on the clone being compiled. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi" /* vector helpers are always inlined: no ABI to keep */
#endif
typedef float mc_vf32 __attribute__((vector_size(64)));
typedef double mc_vf64 __attribute__((vector_size(64)));

#include "gemm_impl.h"
#include "linear_impl.h"
#include "conv_impl.h"
#include "winograd_impl.h"
