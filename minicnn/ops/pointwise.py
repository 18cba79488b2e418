"""Elementwise ops without a backend kernel: trigonometric and hyperbolic functions, atan2,
rounding (floor, ceil, round, sign), selection (where, masked_fill), powers and logarithms
(square, rsqrt, reciprocal, log1p, expm1, log2, log10), erf, maximum/minimum, and the tests
isnan/isinf/isfinite.

Rounding ops are piecewise constant: their gradient is zero everywhere, as in PyTorch. The
selection ops route the gradient to whichever side each element was taken from. Arguments are
validated as PyTorch's argument parser does: a Tensor where one is required (TypeError naming
the argument otherwise), a Python number where a Number is allowed.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, overload

import numpy as np

from ..autograd import Function, is_floating_dtype
from ..backends.reference.elementwise import _erf  # NumPy has no erf ufunc: one copy of it
from ..tensor import Tensor
from ._util import (
    as_operand,
    check_broadcast,
    default_float,
    host_only,
    operands,
    tensor_arg,
    tensor_or_number_arg,
)
from .arithmetic import PowScalarFn

if TYPE_CHECKING:
    from ..types import Number


def floating(x: Tensor) -> Tensor:
    """``x`` itself when floating, else converted to the default float dtype (float32): integer
    input to a transcendental function gives PyTorch's default float dtype."""
    return x if is_floating_dtype(x.dtype) else x.to(default_float())


# ---------------------------------------------------------------- trigonometric and hyperbolic

class SinFn(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * np.cos(x)


class CosFn(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -g * np.sin(x)


class TanFn(Function):
    """tan x; d/dx = 1 + tan^2 x, from the saved output."""

    @staticmethod
    def forward(ctx, x):
        y = np.tan(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 + y * y)


class SinhFn(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sinh(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * np.cosh(x)


class CoshFn(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cosh(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * np.sinh(x)


class Atan2Fn(Function):
    """atan2(y, x), the angle of the point (x, y) in (-pi, pi]:
    d/dy = x / (x^2 + y^2), d/dx = -y / (x^2 + y^2)."""

    @staticmethod
    def forward(ctx, y, x):
        ctx.save_for_backward(y, x)
        return np.arctan2(y, x)

    @staticmethod
    def backward(ctx, g):
        y, x = ctx.saved_tensors
        scale = g / (x * x + y * y)
        gy = scale * x if ctx.needs_input_grad[0] else None
        gx = -scale * y if ctx.needs_input_grad[1] else None
        return gy, gx


# ---------------------------------------------------------------- rounding (zero gradient)

class _PiecewiseConstantFn(Function):
    """The base of the one-input rounding ops: the gradient is zero everywhere."""

    @staticmethod
    def backward(ctx, g):
        return np.zeros_like(g)


class FloorFn(_PiecewiseConstantFn):
    @staticmethod
    def forward(ctx, x):
        return np.floor(x)


class CeilFn(_PiecewiseConstantFn):
    @staticmethod
    def forward(ctx, x):
        return np.ceil(x)


class RoundFn(Function):
    """Round half to even at ``decimals`` digits (negative: to tens, hundreds, ...); NumPy's
    x * 10^d, rint, / 10^d, which gives PyTorch's results bit for bit."""

    @staticmethod
    def forward(ctx, x, decimals):
        return np.round(x, decimals)

    @staticmethod
    def backward(ctx, g):
        return np.zeros_like(g), None


class SignFn(_PiecewiseConstantFn):
    """-1, 0 or 1; computed as (x > 0) - (x < 0), so sign(nan) is 0 as in PyTorch."""

    @staticmethod
    def forward(ctx, x):
        return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


# ---------------------------------------------------------------- selection

class WhereFn(Function):
    """condition ? a : b, broadcasting all three; each side gets the gradient where it was
    chosen and zero elsewhere (the engine sums it back to the side's shape)."""

    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.save_for_backward(condition)
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx, g):
        (condition,) = ctx.saved_tensors
        zero = g.dtype.type(0)
        ga = np.where(condition, g, zero) if ctx.needs_input_grad[1] else None
        gb = np.where(condition, zero, g) if ctx.needs_input_grad[2] else None
        return None, ga, gb


class MaskedFillFn(Function):
    """input with ``value`` (a 0-d array) wherever ``mask`` is True, broadcasting input and mask.
    The input's gradient is zero at the filled positions; the value's is the sum of the
    gradient over them (the engine reduces the masked gradient to 0-d)."""

    @staticmethod
    def forward(ctx, x, mask, value):
        ctx.save_for_backward(mask)
        return np.where(mask, value, x)

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        zero = g.dtype.type(0)
        gx = np.where(mask, zero, g) if ctx.needs_input_grad[0] else None
        gv = np.where(mask, g, zero) if ctx.needs_input_grad[2] else None
        return gx, None, gv


# ---------------------------------------------------------------- powers, logarithms, erf

class RsqrtFn(Function):
    """1 / sqrt(x); d/dx = -x^(-3/2) / 2 = -y^3 / 2."""

    @staticmethod
    def forward(ctx, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            y = 1 / np.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (-0.5 * y * y * y)


class ReciprocalFn(Function):
    """1 / x; d/dx = -1 / x^2 = -y^2."""

    @staticmethod
    def forward(ctx, x):
        with np.errstate(divide="ignore"):
            y = 1 / x
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return -g * y * y


class Log1pFn(Function):
    """log(1 + x), accurate for small x; d/dx = 1 / (1 + x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (1 + x)


class Expm1Fn(Function):
    """exp(x) - 1, accurate for small x; d/dx = exp(x) = y + 1."""

    @staticmethod
    def forward(ctx, x):
        y = np.expm1(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (y + 1)


class LogBaseFn(Function):
    """log_b(x) for b = 2 or 10 (NumPy's exact log2/log10); d/dx = 1 / (x ln b)."""

    @staticmethod
    def forward(ctx, x, base):
        ctx.save_for_backward(x)
        ctx.scale = 1 / math.log(base)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log2(x) if base == 2 else np.log10(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ctx.scale / x, None


class ErfFn(Function):
    """The error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt; d/dx = 2/sqrt(pi) exp(-x^2).
    NumPy has no erf ufunc: the reference kernels' elementwise erf (math.erf per element, exact
    but slow on large tensors) computes it."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _erf(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (2 / math.sqrt(math.pi)) * np.exp(-x * x)


class ExtremumFn(Function):
    """maximum(a, b) / minimum(a, b) elementwise with broadcasting. Each side gets the gradient
    where it won; a tie splits it in halves, as PyTorch does. nan wins (propagates)."""

    @staticmethod
    def forward(ctx, a, b, largest):
        ctx.save_for_backward(a, b)
        ctx.largest = largest
        return np.maximum(a, b) if largest else np.minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a_wins = (a > b) if ctx.largest else (a < b)
        share = np.where(a == b, g.dtype.type(0.5), a_wins.astype(g.dtype))
        ga = g * share if ctx.needs_input_grad[0] else None
        gb = g * (1 - share) if ctx.needs_input_grad[1] else None
        return ga, gb, None


# ---------------------------------------------------------------- public functions

def sin(input: Tensor) -> Tensor:
    """Sine, elementwise (``torch.sin``); integer input gives float32."""
    return SinFn.apply(floating(tensor_arg("sin", "input", 1, input)))


def cos(input: Tensor) -> Tensor:
    """Cosine, elementwise (``torch.cos``); integer input gives float32."""
    return CosFn.apply(floating(tensor_arg("cos", "input", 1, input)))


def tan(input: Tensor) -> Tensor:
    """Tangent, elementwise (``torch.tan``); integer input gives float32."""
    return TanFn.apply(floating(tensor_arg("tan", "input", 1, input)))


def sinh(input: Tensor) -> Tensor:
    """Hyperbolic sine, elementwise (``torch.sinh``); integer input gives float32."""
    return SinhFn.apply(floating(tensor_arg("sinh", "input", 1, input)))


def cosh(input: Tensor) -> Tensor:
    """Hyperbolic cosine, elementwise (``torch.cosh``); integer input gives float32."""
    return CoshFn.apply(floating(tensor_arg("cosh", "input", 1, input)))


def atan2(input: Tensor, other: Tensor) -> Tensor:
    """The angle of the point (other, input), i.e. arctan(input / other) in the right quadrant,
    elementwise with broadcasting (``torch.atan2``). Integer tensors give float32. atan2(0, 0)
    is 0, but the gradient there is undefined (nan).

    Raises TypeError when either argument is not a Tensor, ValueError for shapes that do not
    broadcast.
    """
    tensor_arg("atan2", "input", 1, input)
    tensor_arg("atan2", "other", 2, other)
    y, x = operands(floating(input), floating(other))
    check_broadcast("atan2", y, x)
    return Atan2Fn.apply(y, x)


def floor(input: Tensor) -> Tensor:
    """The largest integer <= each element (``torch.floor``); zero gradient. Integer tensors
    come back unchanged (a copy)."""
    tensor_arg("floor", "input", 1, input)
    return FloorFn.apply(input) if is_floating_dtype(input.dtype) else input.clone()


def ceil(input: Tensor) -> Tensor:
    """The smallest integer >= each element (``torch.ceil``); zero gradient."""
    tensor_arg("ceil", "input", 1, input)
    return CeilFn.apply(input) if is_floating_dtype(input.dtype) else input.clone()


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """Round to ``decimals`` decimal places, halves to even (``torch.round``); zero gradient.

    Raises TypeError for a non-int ``decimals`` and NotImplementedError for ``decimals`` != 0
    on an integer tensor (as PyTorch).
    """
    tensor_arg("round", "input", 1, input)
    if not isinstance(decimals, (int, np.integer)) or isinstance(decimals, bool):
        raise TypeError(f"round(): argument 'decimals' must be int, not {type(decimals).__name__}")
    if not is_floating_dtype(input.dtype):
        if decimals:
            raise NotImplementedError(f"round: decimals={decimals} is not implemented for "
                                      f"{input.dtype} tensors")
        return input.clone()
    return RoundFn.apply(input, int(decimals))


def sign(input: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of each element, 0 for nan (``torch.sign``); zero gradient.
    A bool tensor comes back unchanged (a copy)."""
    tensor_arg("sign", "input", 1, input)
    return SignFn.apply(input) if input.dtype.kind != "b" else input.clone()


def _where_scalars(condition, input, other):
    """Both sides of where() as tensors: a number takes the other side's dtype; two numbers give
    the default float dtype if either is a float, else int64 (bool for two bools), as in PyTorch."""
    if isinstance(input, Tensor) or isinstance(other, Tensor):
        return operands(input, other)
    kinds = {np.asarray(v).dtype.kind for v in (input, other)}
    dtype = default_float() if "f" in kinds else np.bool_ if kinds == {"b"} else np.int64
    like = Tensor._wrap(np.zeros((), dtype), condition.device)
    return as_operand(input, like), as_operand(other, like)


@overload
def where(condition: Tensor, input: None = None, other: None = None) -> tuple[Tensor, ...]: ...


@overload
def where(condition: Tensor, input: Tensor | Number, other: Tensor | Number) -> Tensor: ...


def where(condition: Tensor, input: Tensor | Number | None = None,
          other: Tensor | Number | None = None) -> Tensor | tuple[Tensor, ...]:
    """``where(condition, input, other)``: elements of ``input`` where ``condition`` is True and
    of ``other`` elsewhere, all three broadcast (``torch.where``). ``input`` and ``other`` may be
    tensors or numbers; each gets the gradient of the elements it supplied.

    ``where(condition)``: the indices of the nonzero elements, as a tuple of int64 tensors (one
    per dimension, ``torch.nonzero(condition, as_tuple=True)``).

    Raises TypeError for a non-Tensor condition or a side that is neither Tensor nor number,
    RuntimeError for a non-bool condition (three-argument form), ValueError for shapes that do
    not broadcast.
    """
    tensor_arg("where", "condition", 1, condition)
    if input is None and other is None:
        data = condition._data.reshape(-1) if condition.ndim == 0 else condition._data
        return tuple(Tensor._wrap(i.astype(np.int64), condition.device) for i in np.nonzero(data))
    tensor_or_number_arg("where", "input", 2, input)
    tensor_or_number_arg("where", "other", 3, other)
    if condition.dtype.kind != "b":
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor "
                           f"with dtype {condition.dtype}")
    a, b = _where_scalars(condition, input, other)
    if a.dtype != b.dtype and is_floating_dtype(a.dtype) and is_floating_dtype(b.dtype):
        # Function.apply would compare both with the (bool) condition only
        raise TypeError(f"where: expected input and other of one dtype, got {a.dtype} and "
                        f"{b.dtype}; convert one with .to(dtype), .float() or .double()")
    check_broadcast("where", condition, a, b)
    return WhereFn.apply(condition, a, b)


def masked_fill(input: Tensor, mask: Tensor, value: Tensor | Number) -> Tensor:
    """``input`` with ``value`` wherever ``mask`` is True (``torch.masked_fill``). ``mask`` is a
    bool tensor broadcast with ``input``; ``value`` is a number or a 0-d tensor (which then gets
    the gradient summed over the filled positions).

    Raises TypeError for a non-Tensor input or mask, or a value that is neither a number nor a
    tensor; RuntimeError for a non-bool mask or a value tensor that is not 0-d; ValueError for
    shapes that do not broadcast.
    """
    tensor_arg("masked_fill", "input", 1, input)
    tensor_arg("masked_fill", "mask", 2, mask)
    tensor_or_number_arg("masked_fill", "value", 3, value)
    if mask.dtype.kind != "b":
        raise RuntimeError(f"masked_fill only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value.ndim} dimension(s).")
        if value.dtype != input.dtype and not (is_floating_dtype(value.dtype)
                                               and is_floating_dtype(input.dtype)):
            value = value.to(input.dtype)  # a number in a tensor; only float32/float64 clash
    else:  # a number in the input's dtype (a device scalar on "cuda")
        value = as_operand(input.dtype.type(value), input)
    check_broadcast("masked_fill", input, mask)
    return MaskedFillFn.apply(input, mask, value)


# ---------------------------------------------------------------- tests: isnan, isinf, isfinite

def _test(name, ufunc, input):
    tensor_arg(name, "input", 1, input)
    host_only(name, input)
    if not is_floating_dtype(input.dtype):  # integers and bools are always finite
        value = ufunc is np.isfinite
        return Tensor._wrap(np.full(input.shape, value), input.device)
    return Tensor._wrap(np.asarray(ufunc(input._data)), input.device)


def isnan(input: Tensor) -> Tensor:
    """A bool tensor, True where ``input`` is nan (``torch.isnan``); no gradient."""
    return _test("isnan", np.isnan, input)


def isinf(input: Tensor) -> Tensor:
    """A bool tensor, True where ``input`` is +inf or -inf (``torch.isinf``); no gradient."""
    return _test("isinf", np.isinf, input)


def isfinite(input: Tensor) -> Tensor:
    """A bool tensor, True where ``input`` is neither nan nor infinite (``torch.isfinite``)."""
    return _test("isfinite", np.isfinite, input)


# ---------------------------------------------------------------- powers, logarithms, erf

def _unary_float(name, fn, input, *args):
    """fn applied to ``input`` made floating (integer input gives the default float dtype)."""
    tensor_arg(name, "input", 1, input)
    host_only(name, input)
    return fn.apply(floating(input), *args)


def square(input: Tensor) -> Tensor:
    """input * input (``torch.square``); integer input stays integral (bool gives int64)."""
    tensor_arg("square", "input", 1, input)
    host_only("square", input)
    if input.dtype.kind == "b":
        input = input.to(np.int64)
    return PowScalarFn.apply(input, 2)


def rsqrt(input: Tensor) -> Tensor:
    """1 / sqrt(input) (``torch.rsqrt``): inf at 0, nan below; integer input gives float32."""
    return _unary_float("rsqrt", RsqrtFn, input)


def reciprocal(input: Tensor) -> Tensor:
    """1 / input (``torch.reciprocal``): inf at 0; integer input gives float32."""
    return _unary_float("reciprocal", ReciprocalFn, input)


def log1p(input: Tensor) -> Tensor:
    """log(1 + input), accurate near 0 (``torch.log1p``); integer input gives float32."""
    return _unary_float("log1p", Log1pFn, input)


def expm1(input: Tensor) -> Tensor:
    """exp(input) - 1, accurate near 0 (``torch.expm1``); integer input gives float32."""
    return _unary_float("expm1", Expm1Fn, input)


def log2(input: Tensor) -> Tensor:
    """Base-2 logarithm (``torch.log2``); integer input gives float32."""
    return _unary_float("log2", LogBaseFn, input, 2)


def log10(input: Tensor) -> Tensor:
    """Base-10 logarithm (``torch.log10``); integer input gives float32."""
    return _unary_float("log10", LogBaseFn, input, 10)


def erf(input: Tensor) -> Tensor:
    """The error function (``torch.erf``); integer input gives float32. Computed per element
    with math.erf (exact, slow on large tensors)."""
    return _unary_float("erf", ErfFn, input)


# ---------------------------------------------------------------- maximum, minimum

def _extremum(name, input, other, largest):
    tensor_arg(name, "input", 1, input)
    tensor_arg(name, "other", 2, other)
    host_only(name, input, other)
    a, b = operands(input, other)
    check_broadcast(name, a, b)
    return ExtremumFn.apply(a, b, largest)


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """The larger of ``input`` and ``other`` elementwise, broadcasting (``torch.maximum``); nan
    if either is nan. The gradient goes to the larger side, halved between equal sides.

    Raises TypeError for a non-Tensor argument (numbers too, as PyTorch: use clamp) or a
    float32/float64 mix, ValueError for shapes that do not broadcast.
    """
    return _extremum("maximum", input, other, True)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    """The smaller of ``input`` and ``other`` elementwise (``torch.minimum``); as
    :func:`maximum`."""
    return _extremum("minimum", input, other, False)
