"""Reference kernels, convolution: im2col/col2im, conv2d and conv_transpose2d (forward and backward), in plain NumPy."""
import numpy as np  # noqa: F401

__all__ = []
