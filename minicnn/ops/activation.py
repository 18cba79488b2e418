"""Elementwise math and activations, softmax/log_softmax, and the channel bias.

The activations and softmax family call the device's backend kernels (``ctx.backend``): on the
"cpu" device those are C (OpenMP) where minicnn has them, on "numpy" the NumPy reference.
C kernels take C-contiguous arrays, so inputs are made contiguous here first (free when they are).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..autograd import Function
from ._util import c_contiguous as _c
from ._util import normalize_dim, tensor_args, unary_fast_path

if TYPE_CHECKING:
    from ..tensor import Tensor
    from ..types import Number


class ExpFn(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class LogFn(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / x


class SqrtFn(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g / (2 * y)


class AbsFn(Function):
    """|x|; gradient sign(x), which is 0 at x == 0 (as PyTorch)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * np.sign(x)


class ClampFn(Function):
    """min(max(x, lo), hi); the gradient passes where lo <= x <= hi (inclusive, as PyTorch)."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        y = x
        if lo is not None:
            y = np.maximum(y, np.asarray(lo, dtype=x.dtype))
        if hi is not None:
            y = np.minimum(y, np.asarray(hi, dtype=x.dtype))
        return y if y is not x else x.copy()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        keep = np.ones(x.shape, dtype=bool)
        if ctx.lo is not None:
            keep &= x >= ctx.lo
        if ctx.hi is not None:
            keep &= x <= ctx.hi
        return np.where(keep, g, 0).astype(g.dtype, copy=False), None, None


# ---------------------------------------------------------------- activations (backend kernels)

class ReLUFn(Function):
    @staticmethod
    def forward(ctx, x):
        y = ctx.backend.relu(_c(x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return ctx.backend.relu_backward(_c(g), y)


class LeakyReLUFn(Function):
    @staticmethod
    def forward(ctx, x, negative_slope):
        x = _c(x)
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return ctx.backend.leaky_relu(x, negative_slope)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return ctx.backend.leaky_relu_backward(_c(g), x, ctx.negative_slope), None


class HardtanhFn(Function):
    """clip(x, lo, hi); the gradient passes only strictly inside (lo, hi), as PyTorch's hardtanh
    (unlike clamp, whose interval is closed), so not at NaN: PyTorch's vectorized kernel gives
    NaN a 0 gradient too (its scalar tail, tensors of under 16 floats, passes it)."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return np.clip(x, x.dtype.type(lo), x.dtype.type(hi))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        inside = (x > ctx.lo) & (x < ctx.hi)
        return np.multiply(g, inside, dtype=g.dtype), None, None


class SigmoidFn(Function):
    @staticmethod
    def forward(ctx, x):
        y = ctx.backend.sigmoid(_c(x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return ctx.backend.sigmoid_backward(_c(g), y)


class TanhFn(Function):
    @staticmethod
    def forward(ctx, x):
        y = ctx.backend.tanh(_c(x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return ctx.backend.tanh_backward(_c(g), y)


class SiLUFn(Function):
    @staticmethod
    def forward(ctx, x):
        x = _c(x)
        ctx.save_for_backward(x)
        return ctx.backend.silu(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return ctx.backend.silu_backward(_c(g), x)


class HardSwishFn(Function):
    @staticmethod
    def forward(ctx, x):
        x = _c(x)
        ctx.save_for_backward(x)
        return ctx.backend.hardswish(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return ctx.backend.hardswish_backward(_c(g), x)


class GELUFn(Function):
    @staticmethod
    def forward(ctx, x, approximate):
        x = _c(x)
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        return ctx.backend.gelu(x, approximate)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return ctx.backend.gelu_backward(_c(g), x, ctx.approximate), None


class SoftmaxFn(Function):
    @staticmethod
    def forward(ctx, x, dim):
        y = ctx.backend.softmax(x, dim)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return ctx.backend.softmax_backward(g, y, ctx.dim), None


class LogSoftmaxFn(Function):
    @staticmethod
    def forward(ctx, x, dim):
        y = ctx.backend.log_softmax(x, dim)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return ctx.backend.log_softmax_backward(g, y, ctx.dim), None


class BiasAddFn(Function):
    """x (N, C, *) + bias (C,) along the channel axis: the bias step of conv2d and linear."""

    @staticmethod
    def forward(ctx, x, bias):
        return ctx.backend.bias_add(_c(x), _c(bias))

    @staticmethod
    def backward(ctx, g):
        gx = g if ctx.needs_input_grad[0] else None
        gb = ctx.backend.bias_add_backward(_c(g)) if ctx.needs_input_grad[1] else None
        return gx, gb


# ---------------------------------------------------------------- public functions

@tensor_args("input")
def exp(input: Tensor) -> Tensor:
    """e ** input, elementwise."""
    return ExpFn.apply(input)


@tensor_args("input")
def log(input: Tensor) -> Tensor:
    """Natural logarithm, elementwise (nan below 0, -inf at 0, as NumPy/PyTorch)."""
    return LogFn.apply(input)


@tensor_args("input")
def sqrt(input: Tensor) -> Tensor:
    return SqrtFn.apply(input)


@tensor_args("input")
def abs(input: Tensor) -> Tensor:
    return AbsFn.apply(input)


@tensor_args("input")
def clamp(input: Tensor, min: Tensor | Number | None = None,
          max: Tensor | Number | None = None) -> Tensor:
    """Clamp every element into [min, max] (``torch.clamp``); at least one bound is required."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return ClampFn.apply(input, min, max)


clip = clamp


@unary_fast_path("relu")
@tensor_args("input")
def relu(input: Tensor) -> Tensor:
    """max(input, 0) elementwise (``torch.relu``). Any shape; float32 or float64."""
    return ReLUFn.apply(input)


@tensor_args("input")
def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """input if input > 0 else negative_slope * input (``torch.nn.functional.leaky_relu``)."""
    return LeakyReLUFn.apply(input, float(negative_slope))


@tensor_args("input")
def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """min(max(input, min_val), max_val) elementwise (``torch.nn.functional.hardtanh``).

    Any shape; float32 or float64. Gradient 1 where min_val < input < max_val, else 0 (PyTorch's).
    Raises ValueError when min_val > max_val.
    """
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must be <= max_val ({max_val})")
    return HardtanhFn.apply(input, float(min_val), float(max_val))


@tensor_args("input")
def relu6(input: Tensor) -> Tensor:
    """min(max(input, 0), 6) (Howard et al. 2017, MobileNet; ``torch.nn.functional.relu6``)."""
    return HardtanhFn.apply(input, 0.0, 6.0)


@unary_fast_path("sigmoid")
@tensor_args("input")
def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-input)), stable for large |input| (``torch.sigmoid``)."""
    return SigmoidFn.apply(input)


@unary_fast_path("tanh")
@tensor_args("input")
def tanh(input: Tensor) -> Tensor:
    return TanhFn.apply(input)


@unary_fast_path("silu")
@tensor_args("input")
def silu(input: Tensor) -> Tensor:
    """input * sigmoid(input) (Elfwing et al. 2018; ``torch.nn.functional.silu``)."""
    return SiLUFn.apply(input)


@unary_fast_path("hardswish")
@tensor_args("input")
def hardswish(input: Tensor) -> Tensor:
    """input * relu6(input + 3) / 6 (Howard et al. 2019, MobileNetV3;
    ``torch.nn.functional.hardswish``). Any shape; float32 or float64. The gradient is PyTorch's:
    0 for input <= -3, 1 for input >= 3, input / 3 + 1/2 between."""
    return HardSwishFn.apply(input)


@tensor_args("input")
def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit (Hendrycks & Gimpel 2016; ``torch.nn.functional.gelu``).

    approximate="none": 0.5 x (1 + erf(x / sqrt 2)); "tanh": the tanh approximation.
    Raises ValueError for any other ``approximate``.
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELUFn.apply(input, approximate)


@tensor_args("input")
def softmax(input: Tensor, dim: int) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, computed as exp(x - max) so it never overflows."""
    return SoftmaxFn.apply(input, normalize_dim(dim, input.ndim))


@tensor_args("input")
def log_softmax(input: Tensor, dim: int) -> Tensor:
    """log(softmax(x)) along ``dim`` as (x - max) - log(sum(exp(x - max))): stable for any x."""
    return LogSoftmaxFn.apply(input, normalize_dim(dim, input.ndim))


@tensor_args("input", "bias")
def bias_add(input: Tensor, bias: Tensor) -> Tensor:
    """input (N, C, *) + bias (C,) broadcast over the channel axis 1.

    Raises ValueError when ``bias`` is not 1-D with C elements.
    """
    if input.ndim < 2 or bias.shape != (input.shape[1],):
        raise ValueError(f"bias_add: expected input (N, C, *) and bias (C,), got input "
                         f"{tuple(input.shape)} and bias {tuple(bias.shape)}")
    return BiasAddFn.apply(input, bias)
