/* The convolution kernels for double, 64-byte vectors (see conv_kernels.h). */
#define T double
#define SFX f64
#define VT mc_vf64
#define VL 8
#include "conv_kernels.h"
