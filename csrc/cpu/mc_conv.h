/* C kernels for convolution: im2col/col2im, conv2d and conv_transpose2d (forward and backward); included by minicnn.h. */
#ifndef MC_CONV_H
#define MC_CONV_H

#include <stdint.h>

#endif
