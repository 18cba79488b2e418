# C kernels for convolution: im2col/col2im, conv2d and conv_transpose2d (forward and backward): included by _cpu.pyx.
