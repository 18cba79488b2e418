/* Pooling kernels (max, average, adaptive), instantiated for float and double from pool_impl.h
 * (a "template" included twice with T and SFX defined). Conventions in mc_pool.h. */
#include <math.h>
#include <stddef.h>

#include "mc_internal.h"

/* Outputs per chunk of the tap-major loops (stack buffers of this many values and indices). */
#define MC_POOL_CHUNK 256

/* Taps i < k of a window starting at s (step d) that fall inside [0, n): i in [*i0, *i1). */
static inline void mc_pool_taps(int64_t s, int64_t d, int64_t k, int64_t n, int64_t *i0,
                                int64_t *i1) {
    const int64_t a = s >= 0 ? 0 : (-s + d - 1) / d;
    const int64_t b = n - 1 - s < 0 ? 0 : (n - 1 - s) / d + 1;
    *i0 = a;
    *i1 = b < k ? b : k;
}

/* Outputs [*o0, *o1) of Wo whose whole window (start o * s - pad, k taps of step d) lies inside
 * [0, n): the "interior" that the vectorized loops handle; the rest is the border. */
static inline void mc_pool_interior(int64_t n, int64_t Wo, int64_t k, int64_t s, int64_t pad,
                                    int64_t d, int64_t *o0, int64_t *o1) {
    const int64_t last = n - 1 - (k - 1) * d + pad; /* largest allowed o * s */
    int64_t a = (pad + s - 1) / s, b = last < 0 ? 0 : last / s + 1;
    if (b > Wo) b = Wo;
    if (a > b) a = b;
    *o0 = a;
    *o1 = b;
}

#define T float
#define SFX f32
#include "pool_impl.h"
#undef T
#undef SFX

#define T double
#define SFX f64
#include "pool_impl.h"
#undef T
#undef SFX
