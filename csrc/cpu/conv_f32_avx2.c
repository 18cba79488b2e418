/* The convolution kernels for float, 32-byte vectors, for AVX2 CPUs (see conv_kernels.h). */
#define MC_AVX2_BUILD
#define T float
#define SFX f32_avx2
#define VT mc_vf32
#define VL 8
#include "conv_kernels.h"
