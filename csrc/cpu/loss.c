/* Loss kernels (fused cross entropy), instantiated for float and double from loss_impl.h (a
 * "template" included twice with T and SFX defined).
 *
 * The exponentials are the hot loop (N * C of them forward and again backward); they use the
 * vectorizable exp of mc_math.h (the argument is always <= 0 here: logits minus their row max).
 *
 * GCC keeps a compare-and-select of floats as a branch under its default -ftrapping-math (the
 * compare might raise an FP exception flag), which stops the max and exp loops from vectorizing;
 * minicnn never reads FP exception flags, so this file turns that assumption off. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <string.h>
#include <tgmath.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "mc_internal.h"
#include "mc_math.h"

#define T float
#define SFX f32
#define MC_EXP(v) mc_exp_f32(v)
#include "loss_impl.h"
#undef T
#undef SFX
#undef MC_EXP

#define T double
#define SFX f64
#define MC_EXP(v) mc_exp_f64(v)
#include "loss_impl.h"
#undef T
#undef SFX
#undef MC_EXP
