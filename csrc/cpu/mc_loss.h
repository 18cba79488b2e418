/* C kernels for linear layer, dropout, and losses: fused log-softmax + NLL cross entropy, nll, mse; included by minicnn.h. */
#ifndef MC_LOSS_H
#define MC_LOSS_H

#include <stdint.h>

#endif
