# C kernels for pooling: max/avg pooling with saved argmax indices, adaptive and Lp pooling: included by _cpu.pyx.
