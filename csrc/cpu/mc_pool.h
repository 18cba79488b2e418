/* C kernels for pooling: max/avg pooling with saved argmax indices, adaptive and Lp pooling; included by minicnn.h. */
#ifndef MC_POOL_H
#define MC_POOL_H

#include <stdint.h>

#endif
