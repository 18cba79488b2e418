"""Reductions: sum, mean, var/std, max/min (with and without a dim), amax/amin, argmax/argmin,
prod, logsumexp, norm, all/any, count_nonzero, and the scan cumsum.

``dim`` is an int, a tuple of ints, or None (every dimension); ``keepdim`` keeps reduced
dimensions with size 1, as in PyTorch. ``axis=`` is accepted as an alias of ``dim`` (PyTorch's
NumPy-compatible spelling).
"""
from __future__ import annotations

import builtins
from collections import namedtuple
from typing import TYPE_CHECKING, overload

import numpy as np

from .. import autograd
from ..autograd import Function, is_floating_dtype
from ..tensor import Tensor
from . import _autocast
from ._util import default_float, host_only, normalize_dim, normalize_dims, tensor_args

if TYPE_CHECKING:
    from ..types import DTypeLike, ShapeLike

#: what max(dim)/min(dim) return, like torch.return_types.max: (values, indices)
MinMaxResult = namedtuple("MinMaxResult", ["values", "indices"])


def _unreduce(g, shape, axes, keepdim):
    """Broadcast a gradient of a reduction back over the reduced axes of ``shape``."""
    if not keepdim and axes and g.ndim:  # a 0-d gradient (a full reduction) broadcasts as is
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


def _save_reduced(ctx, x, y, axes, keepdim):
    """The end of a reduction's forward that computed ``y`` with keepdims=True: keep x and y for
    backward (see _saved_reduced); y without the reduced axes unless ``keepdim``."""
    ctx.axes, ctx.keepdim = axes, keepdim
    ctx.save_for_backward(x, y)
    return y if keepdim else np.squeeze(y, axis=axes)


def _saved_reduced(ctx, g):
    """In backward: x and y kept by _save_reduced, and the gradient ``g`` broadcast to x's shape."""
    x, y = ctx.saved_tensors
    return x, y, _unreduce(g, x.shape, ctx.axes, ctx.keepdim)


class SumFn(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return x.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        return _unreduce(g, ctx.shape, ctx.axes, ctx.keepdim), None, None


class MeanFn(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        ctx.count = int(np.prod([x.shape[a] for a in axes]))
        return x.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        return _unreduce(g / ctx.count, ctx.shape, ctx.axes, ctx.keepdim), None, None


def _variance(ctx, x, axes, keepdim, correction):
    """sum((x - mean)^2) / (n - correction), keeping x - mean and the divisor on ctx."""
    n = int(np.prod([x.shape[a] for a in axes]))
    d = x - x.mean(axis=axes, keepdims=True)
    ctx.axes, ctx.keepdim = axes, keepdim
    ctx.denom = d.dtype.type(n - correction if n > correction else 0)  # (builtin max is shadowed)
    with np.errstate(divide="ignore", invalid="ignore"):
        return d, (d * d).sum(axis=axes, keepdims=keepdim) / ctx.denom


class VarFn(Function):
    """var = sum((x - mean)^2) / (n - correction); d var / dx = 2 (x - mean) / (n - correction)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, correction):
        d, v = _variance(ctx, x, axes, keepdim, correction)
        ctx.save_for_backward(d)
        return v

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = d.dtype.type(2) / ctx.denom
        return _unreduce(g, d.shape, ctx.axes, ctx.keepdim) * d * scale, None, None, None


class StdFn(Function):
    """std = sqrt(var); d std / dx = (x - mean) / ((n - correction) std), taken as 0 where
    std == 0 (constant data), as PyTorch does, instead of 0/0."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, correction):
        d, v = _variance(ctx, x, axes, keepdim, correction)
        s = np.sqrt(v)
        ctx.save_for_backward(d, s)
        return s

    @staticmethod
    def backward(ctx, g):
        d, s = ctx.saved_tensors
        s = _unreduce(s, d.shape, ctx.axes, ctx.keepdim)
        with np.errstate(divide="ignore", invalid="ignore"):
            gx = _unreduce(g, d.shape, ctx.axes, ctx.keepdim) * d / (ctx.denom * s)
        return np.where(s == 0, 0, gx).astype(d.dtype, copy=False), None, None, None


class ExtremeFn(Function):
    """amax/amin over ``axes``; the gradient is split evenly among tied extremes (as PyTorch)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, largest):
        y = x.max(axis=axes, keepdims=True) if largest else x.min(axis=axes, keepdims=True)
        mask = x == y
        ctx.save_for_backward(mask, mask.sum(axis=axes, keepdims=True))
        ctx.axes, ctx.keepdim = axes, keepdim
        return y if keepdim else np.squeeze(y, axis=axes)

    @staticmethod
    def backward(ctx, g):
        mask, count = ctx.saved_tensors
        g = _unreduce(g, mask.shape, ctx.axes, ctx.keepdim)
        return np.where(mask, g / count.astype(g.dtype), 0).astype(g.dtype), None, None, None


class TakeAlongDimFn(Function):
    """x's values at ``index`` (one per line along ``dim``, index having size 1 there): the values
    of max(dim)/min(dim). The gradient goes to the selected positions only."""

    @staticmethod
    def forward(ctx, x, index, dim, keepdim):
        ctx.save_for_backward(index)
        ctx.shape, ctx.dim, ctx.keepdim = x.shape, dim, keepdim
        y = np.take_along_axis(x, index, axis=dim)
        return y if keepdim else np.squeeze(y, axis=dim)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        if not ctx.keepdim:
            g = np.expand_dims(g, ctx.dim)
        gx = np.zeros(ctx.shape, dtype=g.dtype)
        np.put_along_axis(gx, index, g, axis=ctx.dim)
        return gx, None, None, None


class ProdFn(Function):
    """The product over ``axes``. d prod / dx_i = the product of the other elements: prod / x_i
    on lines without zeros; on a line with one zero, the product of the rest at the zero and 0
    elsewhere; 0 everywhere on lines with two or more zeros."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        return _save_reduced(ctx, x, x.prod(axis=axes, keepdims=True), axes, keepdim)

    @staticmethod
    def backward(ctx, g):
        x, y, g = _saved_reduced(ctx, g)
        zero = x == 0
        zeros = zero.sum(axis=ctx.axes, keepdims=True)
        rest = np.where(zero, 1, x).prod(axis=ctx.axes, keepdims=True)  # product of non-zeros
        with np.errstate(divide="ignore", invalid="ignore"):
            others = np.where(zeros == 0, y / np.where(zero, 1, x),
                              np.where(zero & (zeros == 1), rest, 0))
        return (g * others).astype(g.dtype, copy=False), None, None


class CumsumFn(Function):
    """Running sum along ``dim``; the gradient is the reversed running sum of g."""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return np.cumsum(x, axis=dim)

    @staticmethod
    def backward(ctx, g):
        flipped = np.flip(g, axis=ctx.dim)
        return np.flip(np.cumsum(flipped, axis=ctx.dim), axis=ctx.dim), None


class LogSumExpFn(Function):
    """log(sum(exp(x))) over ``axes``, as m + log(sum(exp(x - m))) with m the maximum (0 where it
    is infinite), so that it neither overflows nor gives nan for all -inf lines.
    d/dx = exp(x - y) (the softmax)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        m = x.max(axis=axes, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
        m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)
        with np.errstate(divide="ignore"):
            y = np.log(np.exp(x - m).sum(axis=axes, keepdims=True)) + m
        return _save_reduced(ctx, x, y, axes, keepdim)

    @staticmethod
    def backward(ctx, g):
        x, y, g = _saved_reduced(ctx, g)
        with np.errstate(invalid="ignore"):
            return g * np.exp(x - y), None, None


class VectorNormFn(Function):
    """The p-norm of the elements over ``axes``: (sum |x|^p)^(1/p); p = inf / -inf: the largest /
    smallest |x|; p = 0: the number of non-zeros. Gradients (PyTorch's): x / norm for p = 2,
    sign(x) for p = 1, sign(x) |x|^(p-1) / norm^(p-1) otherwise, all taken as 0 where the norm is
    0; for +-inf, sign(x) split evenly among the elements that attain the norm; 0 for p = 0."""

    @staticmethod
    def forward(ctx, x, p, axes, keepdim):
        ctx.p = p
        a = np.abs(x)
        if p == np.inf:
            y = a.max(axis=axes, keepdims=True)
        elif p == -np.inf:
            y = a.min(axis=axes, keepdims=True)
        elif p == 0:
            y = (x != 0).sum(axis=axes, keepdims=True).astype(x.dtype)
        elif p == 1:
            y = a.sum(axis=axes, keepdims=True)
        elif p == 2:
            y = np.sqrt((x * x).sum(axis=axes, keepdims=True))
        else:
            y = (a ** p).sum(axis=axes, keepdims=True) ** (1 / p)
        return _save_reduced(ctx, x, y, axes, keepdim)

    @staticmethod
    def backward(ctx, g):
        x, y, g = _saved_reduced(ctx, g)
        p = ctx.p
        if p == 0:
            return np.zeros_like(x), None, None, None
        if p == 1:
            return g * np.sign(x), None, None, None
        with np.errstate(divide="ignore", invalid="ignore"):
            if np.isinf(p):
                hit = np.abs(x) == y
                share = np.sign(x) * hit / hit.sum(axis=ctx.axes, keepdims=True)
            elif p == 2:
                share = x / y
            else:
                share = np.sign(x) * np.abs(x) ** (p - 1) / y ** (p - 1)
        share = np.where(y == 0, 0, share)
        return (g * share).astype(x.dtype, copy=False), None, None, None


def _dim_or_axis(name, dim, axis):
    """``dim``, or ``axis`` when given instead; TypeError when both are."""
    if axis is None:
        return dim
    if dim is not None:
        raise TypeError(f"{name}() got both 'dim' and its alias 'axis'")
    return axis


def _check_nonempty(name, input, axes):
    if builtins.any(input.shape[a] == 0 for a in axes) or input.numel() == 0:
        raise ValueError(f"{name}: cannot reduce an empty dimension (input shape "
                         f"{tuple(input.shape)})")


@tensor_args("input")
def sum(input: Tensor, dim: ShapeLike | None = None, keepdim: bool = False, *,
        axis: ShapeLike | None = None) -> Tensor:
    """Sum over ``dim`` (int, tuple, or None for all) (``torch.sum``)."""
    dim = _dim_or_axis("sum", dim, axis)
    return SumFn.apply(input, normalize_dims(dim, input.ndim), keepdim)


@tensor_args("input")
def mean(input: Tensor, dim: ShapeLike | None = None, keepdim: bool = False, *,
         axis: ShapeLike | None = None) -> Tensor:
    """Mean over ``dim`` (``torch.mean``); floating-point input only."""
    dim = _dim_or_axis("mean", dim, axis)
    if not is_floating_dtype(input.dtype):
        raise TypeError(f"mean: input must be float32 or float64, got {input.dtype}")
    return MeanFn.apply(input, normalize_dims(dim, input.ndim), keepdim)


def _correction(name, unbiased, correction):
    if unbiased is not None and correction is not None:
        raise ValueError(f"{name}: pass either unbiased or correction, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    return correction


@tensor_args("input")
def var(input: Tensor, dim: ShapeLike | None = None, unbiased: bool | None = None,
        keepdim: bool = False, *, correction: float | None = None,
        axis: ShapeLike | None = None) -> Tensor:
    """Variance over ``dim`` with Bessel's correction by default (``torch.var``).

    ``correction`` (default 1) is subtracted from the element count; ``unbiased=False`` means
    correction=0. Gives inf/nan when the count is <= correction, as PyTorch does.
    """
    dim = _dim_or_axis("var", dim, axis)
    correction = _correction("var", unbiased, correction)
    return VarFn.apply(input, normalize_dims(dim, input.ndim), keepdim, correction)


@tensor_args("input")
def std(input: Tensor, dim: ShapeLike | None = None, unbiased: bool | None = None,
        keepdim: bool = False, *, correction: float | None = None,
        axis: ShapeLike | None = None) -> Tensor:
    """Standard deviation, the square root of :func:`var` with the same arguments
    (``torch.std``)."""
    dim = _dim_or_axis("std", dim, axis)
    correction = _correction("std", unbiased, correction)
    return StdFn.apply(input, normalize_dims(dim, input.ndim), keepdim, correction)


@tensor_args("input")
def amax(input: Tensor, dim: ShapeLike | None = None, keepdim: bool = False, *,
         axis: ShapeLike | None = None) -> Tensor:
    """Maximum over ``dim``; ties share the gradient evenly (``torch.amax``)."""
    dim = _dim_or_axis("amax", dim, axis)
    axes = normalize_dims(dim, input.ndim)
    _check_nonempty("amax", input, axes)
    return ExtremeFn.apply(input, axes, keepdim, True)


@tensor_args("input")
def amin(input: Tensor, dim: ShapeLike | None = None, keepdim: bool = False, *,
         axis: ShapeLike | None = None) -> Tensor:
    """Minimum over ``dim``; ties share the gradient evenly (``torch.amin``)."""
    dim = _dim_or_axis("amin", dim, axis)
    axes = normalize_dims(dim, input.ndim)
    _check_nonempty("amin", input, axes)
    return ExtremeFn.apply(input, axes, keepdim, False)


def _extreme_along(name, input, dim, keepdim, arg):
    if input.ndim == 0:
        normalize_dim(dim, 0)
        return MinMaxResult(input, Tensor._wrap(np.zeros((), np.int64), input.device))
    d = normalize_dim(dim, input.ndim)
    _check_nonempty(name, input, (d,))
    index = arg(input._data, axis=d, keepdims=True)
    values = TakeAlongDimFn.apply(input, index, d, keepdim)
    indices = index if keepdim else np.squeeze(index, axis=d)
    return MinMaxResult(values, Tensor._wrap(indices.astype(np.int64), input.device))


@overload
def max(input: Tensor, dim: None = None, keepdim: bool = False, *,
        axis: None = None) -> Tensor: ...


@overload
def max(input: Tensor, dim: int, keepdim: bool = False, *,
        axis: None = None) -> MinMaxResult: ...


@overload
def max(input: Tensor, dim: None = None, keepdim: bool = False, *,
        axis: int) -> MinMaxResult: ...


@tensor_args("input")
def max(input: Tensor, dim: int | None = None, keepdim: bool = False, *,
        axis: int | None = None) -> Tensor | MinMaxResult:
    """``max(input)``: the largest element (0-d). ``max(input, dim)``: (values, indices) along
    ``dim``, the gradient going to the first maximal element of each line (``torch.max``)."""
    dim = _dim_or_axis("max", dim, axis)
    if dim is None:
        return amax(input)
    return _extreme_along("max", input, dim, keepdim, np.argmax)


@overload
def min(input: Tensor, dim: None = None, keepdim: bool = False, *,
        axis: None = None) -> Tensor: ...


@overload
def min(input: Tensor, dim: int, keepdim: bool = False, *,
        axis: None = None) -> MinMaxResult: ...


@overload
def min(input: Tensor, dim: None = None, keepdim: bool = False, *,
        axis: int) -> MinMaxResult: ...


@tensor_args("input")
def min(input: Tensor, dim: int | None = None, keepdim: bool = False, *,
        axis: int | None = None) -> Tensor | MinMaxResult:
    """``min(input)``: the smallest element. ``min(input, dim)``: (values, indices)
    (``torch.min``)."""
    dim = _dim_or_axis("min", dim, axis)
    if dim is None:
        return amin(input)
    return _extreme_along("min", input, dim, keepdim, np.argmin)


def _arg(name, fn, input, dim, keepdim):
    if input.ndim == 0 and dim is not None:  # a 0-d tensor's only index along dim 0 / -1
        normalize_dim(dim, 0)
        return Tensor._wrap(np.zeros((), np.int64), input.device)
    if dim is None:
        _check_nonempty(name, input, ())
        out = np.asarray(fn(input._data))
        if keepdim:
            out = out.reshape((1,) * input.ndim)
    else:
        d = normalize_dim(dim, input.ndim)
        _check_nonempty(name, input, (d,))
        out = fn(input._data, axis=d, keepdims=keepdim)
    return Tensor._wrap(out.astype(np.int64), input.device)


@tensor_args("input")
def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False, *,
           axis: int | None = None) -> Tensor:
    """Index of the maximum (over the flattened tensor when dim is None); int64, no gradient."""
    dim = _dim_or_axis("argmax", dim, axis)
    return _arg("argmax", np.argmax, input, dim, keepdim)


@tensor_args("input")
def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False, *,
           axis: int | None = None) -> Tensor:
    """Index of the minimum (over the flattened tensor when dim is None); int64, no gradient."""
    dim = _dim_or_axis("argmin", dim, axis)
    return _arg("argmin", np.argmin, input, dim, keepdim)


# ---------------------------------------------------------------- prod, cumsum, logsumexp, norm

def _int_dim(name, dim):
    """``dim`` as an int for the ops that take exactly one dimension (TypeError for a tuple, as
    PyTorch's parser gives)."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{name}(): argument 'dim' must be int, not {type(dim).__name__}")
    return dim


def _accumulating(input, dtype):
    """The input of prod/cumsum in the dtype of the result: ``dtype`` when given, else int64
    for integers and bools (as PyTorch accumulates them), else the input's own."""
    if dtype is not None:
        return input.to(dtype)
    return input.to(np.int64) if input.dtype.kind in "biu" else input


@tensor_args("input")
@_autocast.float32
def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *,
         dtype: DTypeLike | None = None) -> Tensor:
    """The product of all elements (0-d), or over one dimension ``dim`` (``torch.prod``).
    Integer and bool input gives int64; ``dtype`` converts the input first. Differentiable, zeros
    included (see :class:`ProdFn`).

    Raises TypeError for a tuple ``dim`` (PyTorch takes one int), IndexError for a bad ``dim``.
    """
    host_only("prod", input)
    x = _accumulating(input, dtype)
    axes = normalize_dims(None if dim is None else _int_dim("prod", dim), x.ndim)
    return ProdFn.apply(x, axes, keepdim if dim is not None else False)


def cumsum(input: Tensor, dim: int, *, dtype: DTypeLike | None = None) -> Tensor:
    """Running sums along ``dim`` (``torch.cumsum``): out[i] = input[0] + ... + input[i].
    Integer and bool input gives int64; ``dtype`` converts the input first. Differentiable.

    Raises TypeError for a non-int ``dim``, IndexError for one out of range.
    """
    host_only("cumsum", input)
    x = _accumulating(input, dtype)
    d = normalize_dim(_int_dim("cumsum", dim), x.ndim)
    if x.ndim == 0:
        return CumsumFn.apply(x.reshape(1), 0).reshape(())
    return CumsumFn.apply(x, d)


def logsumexp(input: Tensor, dim: ShapeLike, keepdim: bool = False) -> Tensor:
    """log(sum(exp(input))) over ``dim`` (an int or a tuple), computed without overflow
    (``torch.logsumexp``); integer input gives the default float dtype. Differentiable: the
    gradient is the softmax over ``dim``."""
    host_only("logsumexp", input)
    x = input if is_floating_dtype(input.dtype) else input.to(default_float())
    return LogSumExpFn.apply(x, normalize_dims(dim, x.ndim), keepdim)


@tensor_args("input")
def norm(input: Tensor, p: float | str = "fro", dim: ShapeLike | None = None, keepdim: bool = False,
         dtype: DTypeLike | None = None) -> Tensor:
    """The vector p-norm of ``input`` over ``dim`` (an int, a tuple, or None for every element)
    (``torch.norm``). ``p``: "fro" (the 2-norm of the elements, over at most 2 dimensions),
    a number (1, 2, 3.5, ...), ``inf`` (largest |x|), ``-inf`` (smallest |x|) or 0 (count of
    non-zeros). ``dtype`` converts the input first. Differentiable (see :class:`VectorNormFn`).

    Raises RuntimeError for integer input or a ``dim`` of more than 2 dimensions with "fro",
    NotImplementedError for p="nuc" (the nuclear norm needs an SVD), RuntimeError for any other
    string.
    """
    host_only("norm", input)
    x = input if dtype is None else input.to(dtype)
    if not is_floating_dtype(x.dtype):
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {autograd.type_name(x.dtype)}")
    if isinstance(p, str):
        if p == "nuc":
            raise NotImplementedError("norm: the nuclear norm (p='nuc') is not implemented")
        if p != "fro":
            raise RuntimeError(f"linalg.matrix_norm: Order {p} not supported.")
        if isinstance(dim, (list, tuple)) and len(dim) > 2:
            raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got "
                               f"{' '.join(str(d) for d in dim)}")
        p = 2
    return VectorNormFn.apply(x, float(p), normalize_dims(dim, x.ndim), keepdim)


# ---------------------------------------------------------------- all, any, count_nonzero

def _logical(name, ufunc, input, dim, keepdim):
    host_only(name, input)
    axes = normalize_dims(dim, input.ndim)
    out = ufunc(input._data.astype(bool, copy=False), axis=axes, keepdims=keepdim)
    # as PyTorch: uint8 input gives uint8, everything else bool
    dtype = np.uint8 if input.dtype == np.uint8 else np.bool_
    return Tensor._wrap(np.asarray(out, dtype=dtype), input.device)


@tensor_args("input")
def all(input: Tensor, dim: ShapeLike | None = None, keepdim: bool = False) -> Tensor:
    """True when every element (over ``dim``: an int, a tuple or None) is non-zero
    (``torch.all``); a bool tensor (uint8 for uint8 input), no gradient."""
    return _logical("all", np.all, input, dim, keepdim)


@tensor_args("input")
def any(input: Tensor, dim: ShapeLike | None = None, keepdim: bool = False) -> Tensor:
    """True when some element (over ``dim``) is non-zero (``torch.any``); as :func:`all`."""
    return _logical("any", np.any, input, dim, keepdim)


@tensor_args("input")
def count_nonzero(input: Tensor, dim: ShapeLike | None = None) -> Tensor:
    """The number of non-zero elements over ``dim`` (an int, a tuple or None for all)
    (``torch.count_nonzero``); int64."""
    host_only("count_nonzero", input)
    axes = normalize_dims(dim, input.ndim)
    out = np.count_nonzero(input._data, axis=axes) if axes else (input._data != 0)
    return Tensor._wrap(np.asarray(out, dtype=np.int64), input.device)
