/* C kernels for normalization: batch norm (training and eval), layer, group and instance norm; included by minicnn.h. */
#ifndef MC_NORM_H
#define MC_NORM_H

#include <stdint.h>

#endif
