# C kernels for linear layer, dropout, and losses: fused log-softmax + NLL cross entropy, nll, mse: included by _cpu.pyx.
