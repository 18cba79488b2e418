/* Normalization kernels (batch norm: training and eval forward, backward; group norm, which
 * also serves layer norm), instantiated for float and double from norm_impl.h (a "template"
 * included twice with T and SFX defined). */
/* As in elementwise.c: no FP exception flags are read, so compares may become vector selects
 * (the fused ReLU/ReLU6 of the batch-norm passes). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <math.h>
#include <stddef.h>

#include "mc_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Values per block of a row sum taken in T before it is added in double (see norm_impl.h): with
 * 4 float lanes each lane adds 8 numbers, so a float32 block sum is good to a few ulp. */
#define MC_NORM_BLOCK 32

/* The calling thread's share of C channels inside a parallel region: contiguous and balanced
 * (all of them outside one, or without OpenMP). */
static void mc_norm_chunk(int64_t C, int64_t *c0, int64_t *c1) {
#ifdef _OPENMP
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    const int64_t t = 0, nt = 1;
#endif
    *c0 = C * t / nt;
    *c1 = C * (t + 1) / nt;
}

#define T float
#define SFX f32
#include "norm_impl.h"
#undef T
#undef SFX

#define T double
#define SFX f64
#include "norm_impl.h"
#undef T
#undef SFX
