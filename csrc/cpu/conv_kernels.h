/* The convolution kernels (im2col + GEMM, col2im, direct depthwise, Winograd) and the linear
 * layers, on one GEMM, for one element type and one vector width: each of conv_f32.c,
 * conv_f64.c (64-byte vectors: one AVX-512 register; cloned for x86-64-v4, v3 and baseline)
 * and conv_f32_avx2.c, conv_f64_avx2.c (32-byte vectors: one AVX2 register; compiled for
 * x86-64-v3, for CPUs without AVX-512, see mc_avx2_build) defines T, SFX, VT (mc_vf32 or
 * mc_vf64), VL (lanes per vector) and, for the AVX2 build, MC_AVX2_BUILD, then includes this
 * file. PL, the lanes of 64 bytes, pads Winograd's channel axes in both builds: the Cython
 * side sizes U and the buffers for it. Separate translation units, so the build compiles them
 * in parallel. */
#include <string.h>

#include "mc_internal.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi" /* vector helpers are always inlined: no ABI to keep */
#endif

#define PL (64 / (int64_t)sizeof(T))

#ifdef MC_AVX2_BUILD
#ifdef MC_HAVE_AVX2_BUILD
#undef MC_CLONES
#define MC_CLONES /* the whole translation unit is for x86-64-v3 */
#pragma GCC target("arch=x86-64-v3")
typedef float mc_vf32 __attribute__((vector_size(32)));
typedef double mc_vf64 __attribute__((vector_size(32)));
#define MC_VBYTES 32
#endif
#else
typedef float mc_vf32 __attribute__((vector_size(64)));
typedef double mc_vf64 __attribute__((vector_size(64)));
#define MC_VBYTES 64
#endif

#ifdef MC_HAVE_AVX2_BUILD
MC_DECLARE_CONV(float, f32_avx2)
MC_DECLARE_CONV(double, f64_avx2)
MC_DECLARE_LINEAR(float, f32_avx2)
MC_DECLARE_LINEAR(double, f64_avx2)
#endif

/* MC_ROUTE(name, args...) (MC_ROUTE_VOID for a void function) as the first statement of a public
 * function of the 64-byte build: on a CPU for the AVX2 build, return its version's result. */
#if defined(MC_HAVE_AVX2_BUILD) && !defined(MC_AVX2_BUILD)
#define MC_AVX2_NAME(name) MC_CAT(MC_NAME(name), _avx2)
#define MC_ROUTE(name, ...)                                                                        \
    if (mc_avx2_build()) return MC_AVX2_NAME(name)(__VA_ARGS__)
#define MC_ROUTE_VOID(name, ...)                                                                   \
    if (mc_avx2_build()) {                                                                         \
        MC_AVX2_NAME(name)(__VA_ARGS__);                                                           \
        return;                                                                                    \
    }
#else
#define MC_ROUTE(name, ...)
#define MC_ROUTE_VOID(name, ...)
#endif

#ifdef MC_VBYTES /* nothing to compile in an AVX2 build where there is no AVX2 build */
#include "gemm_impl.h"
#include "linear_impl.h"
#include "conv_impl.h"
#include "winograd_impl.h"
#endif
