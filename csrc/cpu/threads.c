/* Thread control for every minicnn kernel. The count is one process-wide value (not OpenMP's
 * per-thread ICV), so kernels called from any Python thread use the same number of threads. */
#include "minicnn.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static int mc_num_threads = 0; /* 0: not set yet, use OpenMP's default */

int mc_openmp_enabled(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

void mc_set_num_threads(int n) { mc_num_threads = n > 0 ? n : 1; }

int mc_get_num_threads(void) {
    if (mc_num_threads > 0) return mc_num_threads;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
