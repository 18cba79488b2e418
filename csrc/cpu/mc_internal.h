/* Helpers shared by the kernel sources; not part of the public C API. */
#ifndef MC_INTERNAL_H
#define MC_INTERNAL_H

#include "minicnn.h"

#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many elements (or multiply-adds) a memory-bound pass runs on the calling thread:
 * measured at run time (threads.c), as the cost of waking a team differs tenfold between
 * machines; compute-bound kernels count multiply-adds against mc_parallel_min_macs(). */
#define MC_PARALLEL_MIN mc_parallel_min()
/* The floor: a relu on 32K floats takes ~4 us on one core of a 2-core EPYC, about what a team
 * whose threads are still spinning costs to start. */
#define MC_PARALLEL_FLOOR_ELEMENTS 32768
#define MC_PARALLEL_FLOOR_MACS (32 * MC_PARALLEL_FLOOR_ELEMENTS) /* a GEMM's: ~1M, ~25 us */

/* Token pasting for the float/double templates: MC_NAME(relu) -> mc_relu_f32. */
#define MC_CAT_(a, b) a##b
#define MC_CAT(a, b) MC_CAT_(a, b)
#define MC_NAME(name) MC_CAT(MC_CAT(mc_, name), MC_CAT(_, SFX))

/* Hot loops can be compiled for three x86-64 levels (AVX-512, AVX2 + FMA, baseline SSE2), the
 * best one the CPU supports picked when the library loads (GCC's target_clones, through glibc's
 * ifunc): 4 to 16 floats per instruction instead of always 4. Elsewhere, or with -DMC_NO_CLONES
 * (the tests build the baseline copy that way): one version. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__) &&           \
    defined(__linux__) && defined(__GLIBC__) && !defined(MC_NO_CLONES)
#define MC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MC_CLONES
#endif

/* Helpers called from a cloned function must be inlined into each clone to be compiled for its
 * instruction set. */
#if defined(__GNUC__)
#define MC_INLINE static inline __attribute__((always_inline))
#else
#define MC_INLINE static inline
#endif

/* Whether the CPU has 32 vector registers of 64 bytes (AVX-512). The micro-kernels hold their
 * accumulators in 64-byte GCC vectors; with 16 registers of 32 bytes (AVX2) a 6 x 4 block of
 * them is 48 registers' worth and lives on the stack, so the GEMM takes 6 x 1 blocks there
 * (measured on an AVX2 AMD EPYC: conv2d 32->64 channels, 26x26, batch 64, from 278 to 116 ms;
 * GCC still moves 64-byte vectors through the stack on AVX2, which a 32-byte vector type per
 * clone would avoid). Set once; threads that race here all write the same value. */
static inline int mc_wide_vectors(void) {
#if defined(__GNUC__) && defined(__x86_64__)
    static int wide = -1;
    if (wide < 0) wide = __builtin_cpu_supports("avx512f") ? 1 : 0;
    return wide;
#else
    return 0;
#endif
}

/* The conv/linear kernels come in two builds (conv_kernels.h): 64-byte GCC vectors with the
 * x86-64-v4/v3/baseline clones (conv_f32.c, conv_f64.c), and 32-byte vectors compiled for
 * x86-64-v3 (conv_f32_avx2.c, conv_f64_avx2.c). GCC keeps a 64-byte vector on the stack when
 * the CPU's registers are 32 bytes wide (every use a load or a store: conv2d ran at 6-8 GFLOP/s
 * on an AVX2 EPYC, PyTorch at 48-87), so a CPU with AVX2 but no AVX-512 runs the second build:
 * each public function of the first starts with MC_ROUTE, which hands the call over.
 * MINICNN_AVX2_KERNELS=0 keeps a CPU on the first build, =1 puts any AVX2 CPU on the second
 * (the tests compare the two). */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__) &&           \
    defined(__linux__) && defined(__GLIBC__) && !defined(MC_NO_CLONES)
#define MC_HAVE_AVX2_BUILD 1
static inline int mc_avx2_build(void) {
    static int use = -1; /* set once; racing threads all write the same value */
    if (use < 0) {
        const char *env = getenv("MINICNN_AVX2_KERNELS");
        const int wanted = env && env[0] ? env[0] != '0' : !__builtin_cpu_supports("avx512f");
        use = wanted && __builtin_cpu_supports("x86-64-v3");
    }
    return use;
}
#endif

/* The calling thread's number in its OpenMP team (0 outside one, or without OpenMP). */
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

/* Per-thread slack after the depthwise planes: the vectorised forward reads and writes up to two
 * 64-byte vectors past the end of a wide output block (64 elements cover float and double). */
#define MC_DW_SLACK 64

/* Whether the depthwise forward takes VL planes at a time in an interleaved tile (conv_impl.h):
 * 3x3, stride 1, dilation 1, planes of at most 16 output pixels (4x4). */
MC_INLINE int mc_depthwise_interleaved(const mc_geometry *g) {
    return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 &&
           g->Ho * g->Wo <= 16;
}

/* Elements of one thread's share of the direct 3x3 kernel's workspace for C channels of H x W
 * and vectors of vl elements: the padded planes (C (H + 2) (W + 2)), slack for the last wide
 * vectors' reads (2 vl + 2), and 4 wide output planes (H (W + 2) + 2 vl each; 4 = MC_DK). */
static inline int64_t mc_direct3x3_workspace_per_thread(int64_t C, int64_t H, int64_t W,
                                                        int64_t vl) {
    return C * (H + 2) * (W + 2) + 2 * vl + 2 + 4 * (H * (W + 2) + 2 * vl);
}

#endif /* MC_INTERNAL_H */
