/* Thread control for every minicnn kernel. The count is one process-wide value (not OpenMP's
 * per-thread ICV), so kernels called from any Python thread use the same number of threads. */
#include "mc_internal.h"

static int mc_num_threads = 0; /* 0: not set yet, use OpenMP's default */

/* Elements a memory-bound pass gets through per microsecond on one thread (relu, float32, in
 * cache: ~9000 on that EPYC), halved: a team of two saves half the pass, so it pays once that half
 * exceeds the wake-up. */
#define MC_ELEMENTS_PER_US 18000
/* Multiply-adds per microsecond of one core in the GEMMs (~40 GMAC/s of AVX2 FMAs), doubled as
 * above. */
#define MC_MACS_PER_US 80000
#define MC_PARALLEL_CEIL (1 << 22) /* beyond this, always a team: 16 MiB of float32 */
#define MC_WAKE_SAMPLES 9

static int64_t mc_parallel_threshold = MC_PARALLEL_FLOOR_ELEMENTS;
static int64_t mc_parallel_threshold_macs = MC_PARALLEL_FLOOR_MACS;
static double mc_wake_us = 0;

int mc_openmp_enabled(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* The median time to start an empty region of the current team, the threads having gone idle in
 * between as they do between two kernels. With OMP_WAIT_POLICY=PASSIVE (minicnn's runtime
 * setting) they sleep, and waking them costs 5-10 us on a bare machine but 60-80 us on the
 * 2-core virtual machine of the benchmarks, where a relu on one image's 64K floats took 75 us on
 * two threads against 7 us on one. */
static double mc_measure_wake_us(void) {
#ifdef _OPENMP
    const int n = mc_get_num_threads();
    if (n < 2 || omp_in_parallel()) return 0;
    double t[MC_WAKE_SAMPLES];
    for (int s = -2; s < MC_WAKE_SAMPLES; s++) { /* two to create the threads */
        volatile int sink = 0;
        const double t0 = omp_get_wtime();
#pragma omp parallel num_threads(n)
        sink += 0;
        if (s >= 0) t[s] = (omp_get_wtime() - t0) * 1e6;
        (void)sink;
    }
    for (int i = 1; i < MC_WAKE_SAMPLES; i++) /* insertion sort: nine values */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            const double v = t[j];
            t[j] = t[j - 1];
            t[j - 1] = v;
        }
    return t[MC_WAKE_SAMPLES / 2];
#else
    return 0;
#endif
}

void mc_calibrate_parallel(void) {
    const char *fixed = getenv("MINICNN_PARALLEL_MIN");
    mc_wake_us = mc_measure_wake_us();
    const double m = mc_wake_us * MC_MACS_PER_US;
    mc_parallel_threshold_macs = m < MC_PARALLEL_FLOOR_MACS ? MC_PARALLEL_FLOOR_MACS : (int64_t)m;
    if (fixed && atoll(fixed) > 0) {
        mc_parallel_threshold = atoll(fixed);
        mc_parallel_threshold_macs =
            mc_parallel_threshold * (MC_PARALLEL_FLOOR_MACS / MC_PARALLEL_FLOOR_ELEMENTS);
        return;
    }
    const double v = mc_wake_us * MC_ELEMENTS_PER_US;
    mc_parallel_threshold = v < MC_PARALLEL_FLOOR_ELEMENTS ? MC_PARALLEL_FLOOR_ELEMENTS
                            : v > MC_PARALLEL_CEIL         ? MC_PARALLEL_CEIL
                                                           : (int64_t)v;
}

int64_t mc_parallel_min(void) { return mc_parallel_threshold; }

int64_t mc_parallel_min_macs(void) { return mc_parallel_threshold_macs; }

double mc_team_wake_us(void) { return mc_wake_us; }

void mc_set_num_threads(int n) {
    mc_num_threads = n > 0 ? n : 1;
    mc_calibrate_parallel();
}

int mc_get_num_threads(void) {
    if (mc_num_threads > 0) return mc_num_threads;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
