"""Pooling layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d (``torch.nn``'s).

Each stores its arguments as given (so the repr is PyTorch's) after checking them, and calls
the function of the same name in :mod:`minicnn.nn.functional`. Input (N, C, H, W) or (C, H, W),
float32 or float64.
"""
from __future__ import annotations

from ...geometry import IntOrPair, is_int, pair, pool_window
from ...tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d"]

# an adaptive pooling's output size: oh (square) or (oh, ow), None keeping the input's size
_AdaptiveSize = int | None | tuple[int | None, int | None]

# The window arguments are checked in the constructor (PyTorch checks them in forward only), by
# the functions the ops use, so a layer and its function raise the same error.


class MaxPool2d(Module):
    """2-D max pooling (``torch.nn.MaxPool2d``): each output is the maximum of its
    kernel_size window (padding counts as -inf).

    Args: kernel_size, stride=None (= kernel_size), padding=0 (at most kernel_size // 2),
    dilation=1, return_indices=False (forward then returns (output, int64 indices): the flat
    position h * W + w of each maximum in its plane, as PyTorch's), ceil_mode=False.
    Output (N, C, H_out, W_out) with
    H_out = floor((H + 2 padding - dilation (k - 1) - 1) / stride) + 1 (ceil with ceil_mode).

    Raises in the constructor TypeError for non-int arguments and
    :class:`~minicnn.geometry.GeometryError` (a ValueError and a RuntimeError, as PyTorch
    raises) for out-of-range ones or a tuple of the wrong length, and in forward as
    :func:`~minicnn.nn.functional.max_pool2d` (input rank, window too large).
    """

    def __init__(self, kernel_size: IntOrPair, stride: IntOrPair | None = None,
                 padding: IntOrPair = 0, dilation: IntOrPair = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        stride = stride if stride is not None else kernel_size
        pool_window(kernel_size, stride, padding, dilation, "MaxPool2d")
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """2-D average pooling (``torch.nn.AvgPool2d``).

    Args: kernel_size, stride=None (= kernel_size), padding=0 (zeros, at most kernel_size // 2),
    ceil_mode=False, count_include_pad=True (divide by the window size including padding, or
    only by the input elements in it), divisor_override=None (a non-zero int divisor).
    Output sizes as MaxPool2d's.

    Raises in the constructor as MaxPool2d, TypeError for a non-int divisor_override and
    ValueError for divisor_override == 0 (as :func:`~minicnn.nn.functional.avg_pool2d`), and in
    forward as :func:`~minicnn.nn.functional.avg_pool2d`.
    """

    def __init__(self, kernel_size: IntOrPair, stride: IntOrPair | None = None,
                 padding: IntOrPair = 0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        stride = stride if stride is not None else kernel_size
        pool_window(kernel_size, stride, padding, 1, "AvgPool2d")
        if divisor_override is not None:
            if not is_int(divisor_override):
                raise TypeError(f"AvgPool2d: divisor_override must be a non-zero int or None, "
                                f"got {divisor_override!r}")
            if divisor_override == 0:
                raise ValueError("AvgPool2d: divisor_override must be a non-zero int or None, "
                                 "got 0")
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """2-D adaptive average pooling (``torch.nn.AdaptiveAvgPool2d``): output (N, C, oh, ow)
    for any input size, output_size = oh (square) or (oh, ow), None keeping the input's size;
    output (i, j) averages rows [floor(i H / oh), ceil((i + 1) H / oh)) and the matching
    columns. AdaptiveAvgPool2d(1) is global average pooling. Raises in the constructor
    TypeError for a non-int output_size, GeometryError for a negative one or a tuple of another
    length than 2."""

    def __init__(self, output_size: _AdaptiveSize) -> None:
        super().__init__()
        pair(output_size, "output_size", "AdaptiveAvgPool2d", 0, optional=True)
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """2-D adaptive max pooling (``torch.nn.AdaptiveMaxPool2d``): windows as
    AdaptiveAvgPool2d's, maxima as MaxPool2d's; return_indices=True makes forward return
    (output, int64 indices). Raises as AdaptiveAvgPool2d."""

    def __init__(self, output_size: _AdaptiveSize, return_indices: bool = False) -> None:
        super().__init__()
        pair(output_size, "output_size", "AdaptiveMaxPool2d", 0, optional=True)
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
