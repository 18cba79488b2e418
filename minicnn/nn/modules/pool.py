"""Pooling layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d (``torch.nn``'s).

Each stores its arguments as given (so the repr is PyTorch's) after checking them, and calls
the function of the same name in :mod:`minicnn.nn.functional`. Input (N, C, H, W) or (C, H, W),
float32 or float64.
"""
import numbers

from .. import functional as F
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d"]


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _pair(cls, name, value, minimum):
    """Check that ``value`` is an int or a tuple of one or two ints >= ``minimum`` (what the
    functional ops accept); return it as a pair."""
    pair = (value,) if _is_int(value) else value
    if (not isinstance(pair, (tuple, list)) or len(pair) not in (1, 2)
            or not all(_is_int(v) for v in pair)):
        raise TypeError(f"{cls}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{cls}: {name} must be >= {minimum}, got {value!r}")
    return pair[0], pair[-1]


def _check_window(cls, kernel_size, stride, padding, dilation=1):
    """The constructor checks of a pooling window; PyTorch makes them in forward only."""
    k = _pair(cls, "kernel_size", kernel_size, 1)
    _pair(cls, "stride", stride, 1)
    p = _pair(cls, "padding", padding, 0)
    _pair(cls, "dilation", dilation, 1)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{cls}: padding should be at most half of kernel_size, but got "
                         f"padding={padding!r} and kernel_size={kernel_size!r}")


class MaxPool2d(Module):
    """2-D max pooling (``torch.nn.MaxPool2d``): each output is the maximum of its
    kernel_size window (padding counts as -inf).

    Args: kernel_size, stride=None (= kernel_size), padding=0 (at most kernel_size // 2),
    dilation=1, return_indices=False (forward then returns (output, int64 indices): the flat
    position h * W + w of each maximum in its plane, as PyTorch's), ceil_mode=False.
    Output (N, C, H_out, W_out) with
    H_out = floor((H + 2 padding - dilation (k - 1) - 1) / stride) + 1 (ceil with ceil_mode).

    Raises TypeError/ValueError in the constructor for non-int or out-of-range arguments, and
    in forward as :func:`~minicnn.nn.functional.max_pool2d` (input rank, window too large).
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        stride = stride if stride is not None else kernel_size
        _check_window("MaxPool2d", kernel_size, stride, padding, dilation)
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """2-D average pooling (``torch.nn.AvgPool2d``).

    Args: kernel_size, stride=None (= kernel_size), padding=0 (zeros, at most kernel_size // 2),
    ceil_mode=False, count_include_pad=True (divide by the window size including padding, or
    only by the input elements in it), divisor_override=None (a non-zero int divisor).
    Output sizes as MaxPool2d's.

    Raises TypeError/ValueError in the constructor for non-int or out-of-range arguments or
    divisor_override == 0, and in forward as :func:`~minicnn.nn.functional.avg_pool2d`.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        stride = stride if stride is not None else kernel_size
        _check_window("AvgPool2d", kernel_size, stride, padding)
        if divisor_override is not None and (not _is_int(divisor_override)
                                             or divisor_override == 0):
            raise ValueError(f"AvgPool2d: divisor_override must be a non-zero int or None, got "
                             f"{divisor_override!r}")
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _check_output_size(cls, output_size):
    """An int, or a pair of ints or None (None keeps that input size); all >= 0."""
    pair = (output_size, output_size) if _is_int(output_size) else output_size
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or not all(v is None or _is_int(v) for v in pair)):
        raise TypeError(f"{cls}: output_size must be an int or a pair of ints or None, got "
                        f"{output_size!r}")
    if any(v is not None and v < 0 for v in pair):
        raise ValueError(f"{cls}: output_size must be non-negative, got {output_size!r}")


class AdaptiveAvgPool2d(Module):
    """2-D adaptive average pooling (``torch.nn.AdaptiveAvgPool2d``): output (N, C, oh, ow)
    for any input size, output_size = oh (square) or (oh, ow), None keeping the input's size;
    output (i, j) averages rows [floor(i H / oh), ceil((i + 1) H / oh)) and the matching
    columns. AdaptiveAvgPool2d(1) is global average pooling. Raises TypeError/ValueError in the
    constructor for a malformed output_size."""

    def __init__(self, output_size):
        super().__init__()
        _check_output_size("AdaptiveAvgPool2d", output_size)
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """2-D adaptive max pooling (``torch.nn.AdaptiveMaxPool2d``): windows as
    AdaptiveAvgPool2d's, maxima as MaxPool2d's; return_indices=True makes forward return
    (output, int64 indices). Raises as AdaptiveAvgPool2d."""

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        _check_output_size("AdaptiveMaxPool2d", output_size)
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"
