"""Ops for convolution: im2col/col2im, conv2d and conv_transpose2d (forward and backward)."""

__all__ = []
