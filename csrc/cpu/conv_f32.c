/* The convolution kernels for float, 64-byte vectors (see conv_kernels.h). */
#define T float
#define SFX f32
#define VT mc_vf32
#define VL 16
#include "conv_kernels.h"
