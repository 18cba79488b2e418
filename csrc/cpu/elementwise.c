/* Elementwise activation and bias kernels, instantiated for float and double from
 * elementwise_impl.h (a "template" included twice with T and SFX defined). */
#include <tgmath.h>

#include "mc_internal.h"

#define T float
#define SFX f32
#include "elementwise_impl.h"
#undef T
#undef SFX

#define T double
#define SFX f64
#include "elementwise_impl.h"
#undef T
#undef SFX
