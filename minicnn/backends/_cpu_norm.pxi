# C kernels for normalization: batch norm (training and eval), layer, group and instance norm: included by _cpu.pyx.
