/* Elementwise activation and bias kernels, instantiated for float and double from
 * elementwise_impl.h (a "template" included twice with T and SFX defined). */
/* GCC assumes by default that a float compare may raise an FP exception flag, which keeps the
 * selects in these loops (and in mc_math.h's exp) from vectorizing; minicnn never reads FP
 * exception flags, so this file turns that assumption off (as loss.c does). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <tgmath.h>

#include "mc_internal.h"
#include "mc_math.h"

#define T float
#define SFX f32
#define MC_EXP(v) mc_exp_f32(v)
#include "elementwise_impl.h"
#undef T
#undef SFX
#undef MC_EXP

#define T double
#define SFX f64
#define MC_EXP(v) mc_exp_f64(v)
#include "elementwise_impl.h"
#undef T
#undef SFX
#undef MC_EXP
