/* Helpers shared by the kernel sources; not part of the public C API. */
#ifndef MC_INTERNAL_H
#define MC_INTERNAL_H

#include "minicnn.h"

/* Below this many elements a parallel region costs more than it saves (measured on 2-core EPYC:
 * a relu on 32K floats takes ~5 us, about the cost of waking a thread team). */
#define MC_PARALLEL_MIN 32768

/* Token pasting for the float/double templates: MC_NAME(relu) -> mc_relu_f32. */
#define MC_CAT_(a, b) a##b
#define MC_CAT(a, b) MC_CAT_(a, b)
#define MC_NAME(name) MC_CAT(MC_CAT(mc_, name), MC_CAT(_, SFX))

#endif /* MC_INTERNAL_H */
