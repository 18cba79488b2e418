"""Convolution layers: Conv2d and ConvTranspose2d (``torch.nn.Conv2d``,
``torch.nn.ConvTranspose2d``).

Each holds ``weight`` and ``bias`` and calls :func:`minicnn.nn.functional.conv2d` /
``conv_transpose2d``; names, defaults, attributes, initialization and repr are PyTorch's.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn, cast

import numpy.typing as npt

from ...creation import empty
from ...geometry import (
    IntOrPair,
    conv_padding,
    conv_transpose_output_size,
    integer,
    pair,
    resolve_padding,
)
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

if TYPE_CHECKING:
    from ...device import device as Device

__all__ = ["Conv2d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: argument checks, parameters, init, repr."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair, padding: str | IntOrPair, dilation: IntOrPair,
                 transposed: bool, output_padding: IntOrPair, groups: int, bias: bool,
                 padding_mode: str, device: str | Device | None,
                 dtype: npt.DTypeLike | None) -> None:
        super().__init__()
        cls = type(self).__name__
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if integer(value, name, cls) < 1:
                raise ValueError(f"{cls}: {name} must be a positive int, got {value!r}")
        if integer(groups, "groups", cls) <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError(f"in_channels must be divisible by groups (in_channels="
                             f"{in_channels}, groups={groups})")
        if out_channels % groups != 0:
            raise ValueError(f"out_channels must be divisible by groups (out_channels="
                             f"{out_channels}, groups={groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {list(_PADDING_MODES)}, but got "
                             f"padding_mode={padding_mode!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size", cls, 1)
        self.stride = pair(stride, "stride", cls, 1)
        self.dilation = pair(dilation, "dilation", cls, 1)
        # a transposed convolution takes no padding string (TypeError, as PyTorch)
        self.padding = (pair(padding, "padding", cls, 0) if transposed
                        else conv_padding(padding, self.stride, cls))
        self.transposed = transposed
        self.output_padding = pair(output_padding, "output_padding", cls, 0)
        self.groups = int(groups)
        self.padding_mode = padding_mode
        # F.pad amounts (left, right, top, bottom) for the non-"zeros" padding modes
        (top, bottom), (left, right) = resolve_padding(self.padding, self.kernel_size,
                                                       self.dilation)
        self._reversed_padding_repeated_twice = [left, right, top, bottom]
        if transposed:
            shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        else:
            shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(empty(shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(self.out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight ~ kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in),
        1/sqrt(fan_in)), and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in from the
        weight (shape[1] * kh * kw)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, " \
            f"stride={self.stride}"
        if self.padding != (0, 0):  # a string prints bare, as in PyTorch: padding=same
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def _bad_input(self, input: object) -> NoReturn:
        """Raise the error for an input that is not (N, C_in, H, W) or (C_in, H, W)."""
        if not isinstance(input, Tensor):
            raise TypeError(f"{self!r} expected a minicnn.Tensor input, got "
                            f"{type(input).__name__}")
        C = self.in_channels
        raise ValueError(f"{self!r} expected input of shape (N, {C}, H, W) or ({C}, H, W), got "
                         f"{tuple(input.shape)}")


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation) over an NCHW batch (``torch.nn.Conv2d``).

    Input (N, C_in, H, W) or (C_in, H, W), float32 or float64 (the parameters' dtype); output
    (N, C_out, H_out, W_out) with H_out = floor((H + 2 padding - dilation (kh - 1) - 1) / stride)
    + 1 (likewise W_out).

    Args: in_channels, out_channels, kernel_size (int or (kh, kw)), stride=1, padding=0 (int,
    pair, "valid" or "same"; "same" needs stride 1), dilation=1, groups=1 (in and out channels
    must be divisible by it), bias=True, padding_mode "zeros" | "reflect" | "replicate" |
    "circular" (the last three pad with :func:`~minicnn.nn.functional.pad` first), device,
    dtype (float32 by default).

    Attributes: ``weight`` (C_out, C_in / groups, kh, kw) and ``bias`` (C_out,) (or None), both
    initialized as PyTorch's ``reset_parameters`` does (see :meth:`reset_parameters`) from
    minicnn's generator; ``kernel_size``, ``stride``, ``dilation`` as pairs, ``padding`` a pair or
    the string.

    Raises in the constructor ValueError for non-positive channels, channels not divisible by
    groups or a bad padding_mode; TypeError for a non-int channel count, groups, kernel_size,
    stride, padding or dilation; :class:`~minicnn.geometry.GeometryError` (a ValueError and a
    RuntimeError, as PyTorch raises) for one out of range or of the wrong length, a bad padding
    string, or padding="same" with a stride. In forward, ValueError for an input that is not
    (N, C_in, H, W) or (C_in, H, W) (naming the layer and both shapes) and the errors of
    :func:`~minicnn.nn.functional.conv2d` (dtype, kernel larger than the input).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: str | IntOrPair = 0, dilation: IntOrPair = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: str | Device | None = None, dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, False,
                         0, groups, bias, padding_mode, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        if not isinstance(input, Tensor) or input.ndim not in (3, 4) \
                or input.shape[-3] != self.in_channels:
            self._bad_input(input)
        params = self._parameters
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return F.conv2d(input, cast("Tensor", params["weight"]), params["bias"], self.stride,
                            0, self.dilation, self.groups)
        return F.conv2d(input, cast("Tensor", params["weight"]), params["bias"], self.stride,
                        self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution, the gradient of Conv2d with respect to its input
    (``torch.nn.ConvTranspose2d``; the learned upsampling of FCN/U-Net decoders).

    Input (N, C_in, H, W) or (C_in, H, W); output (N, C_out, H_out, W_out) with
    H_out = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1.

    Args: in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0 (must be
    smaller than stride or dilation), groups=1, bias=True, dilation=1, padding_mode="zeros" (the
    only mode, as in PyTorch), device, dtype. Attributes: ``weight`` (C_in, C_out / groups, kh,
    kw), ``bias`` (C_out,), initialized as Conv2d's (fan_in read from weight.shape[1] * kh * kw,
    as PyTorch).

    ``forward(input, output_size=None)``: ``output_size`` ((H_out, W_out), optionally preceded by
    the batch and channel sizes) picks the output_padding that gives that size, as PyTorch;
    ValueError when no output_padding in [0, stride) does.

    Raises in the constructor as Conv2d does, ValueError for a padding_mode other than "zeros"
    and TypeError for a padding string; in forward, ValueError for an input that is not
    (N, C_in, H, W) or (C_in, H, W) and the errors of
    :func:`~minicnn.nn.functional.conv_transpose2d`.
    """

    padding: tuple[int, int]  # never a string: the constructor refuses one

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: IntOrPair = 0, output_padding: IntOrPair = 0,
                 groups: int = 1, bias: bool = True, dilation: IntOrPair = 1,
                 padding_mode: str = "zeros", device: str | Device | None = None,
                 dtype: npt.DTypeLike | None = None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, True,
                         output_padding, groups, bias, padding_mode, device, dtype)

    def _output_padding(self, input: Tensor, output_size: Sequence[int]) -> tuple[int, int]:
        """The output_padding that makes the output (H_out, W_out) = output_size."""
        output_size = list(output_size)
        if len(output_size) == input.ndim:  # (N, C, H, W) or (C, H, W): keep the spatial part
            output_size = output_size[-2:]
        if len(output_size) != 2:
            raise ValueError(f"ConvTranspose2D: for {input.ndim}D input, output_size must have 2 "
                             f"or {input.ndim} elements (got {len(output_size)})")
        lo = [conv_transpose_output_size(input.shape[-2 + d], self.kernel_size[d], self.stride[d],
                                         self.padding[d], 0, self.dilation[d]) for d in range(2)]
        hi = [lo[d] + self.stride[d] - 1 for d in range(2)]
        if any(not lo[d] <= output_size[d] <= hi[d] for d in range(2)):
            raise ValueError(f"requested an output size of {output_size}, but valid sizes range "
                             f"from {lo} to {hi} (for an input of {tuple(input.shape[-2:])})")
        return output_size[0] - lo[0], output_size[1] - lo[1]

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        if not isinstance(input, Tensor) or input.ndim not in (3, 4) \
                or input.shape[-3] != self.in_channels:
            self._bad_input(input)
        output_padding = (self.output_padding if output_size is None
                          else self._output_padding(input, output_size))
        params = self._parameters
        return F.conv_transpose2d(input, cast("Tensor", params["weight"]), params["bias"],
                                  self.stride, self.padding, output_padding, self.groups,
                                  self.dilation)
