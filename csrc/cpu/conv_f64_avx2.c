/* The convolution kernels for double, 32-byte vectors, for AVX2 CPUs (see conv_kernels.h). */
#define MC_AVX2_BUILD
#define T double
#define SFX f64_avx2
#define VT mc_vf64
#define VL 4
#include "conv_kernels.h"
