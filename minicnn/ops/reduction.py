"""Reductions: sum, mean, var/std, max/min (with and without a dim), amax/amin, argmax/argmin.

``dim`` is an int, a tuple of ints, or None (every dimension); ``keepdim`` keeps reduced
dimensions with size 1, as in PyTorch. ``axis=`` is accepted as an alias of ``dim`` (PyTorch's
NumPy-compatible spelling).
"""
from collections import namedtuple

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from ._util import normalize_dim, normalize_dims

#: what max(dim)/min(dim) return, like torch.return_types.max: (values, indices)
MinMaxResult = namedtuple("MinMaxResult", ["values", "indices"])


def _unreduce(g, shape, axes, keepdim):
    """Broadcast a gradient of a reduction back over the reduced axes of ``shape``."""
    if not keepdim and axes:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return x.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        return _unreduce(g, ctx.shape, ctx.axes, ctx.keepdim), None, None


class Mean(Function):
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


class Var(Function):
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


class Std(Function):
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


class Extreme(Function):
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


class TakeAlongDim(Function):
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


def _dim_or_axis(name, dim, axis):
    """``dim``, or ``axis`` when given instead; TypeError when both are."""
    if axis is None:
        return dim
    if dim is not None:
        raise TypeError(f"{name}() got both 'dim' and its alias 'axis'")
    return axis


def _check_nonempty(name, input, axes):
    if any(input.shape[a] == 0 for a in axes) or input.numel() == 0:
        raise ValueError(f"{name}: cannot reduce an empty dimension (input shape {input.shape})")


def sum(input, dim=None, keepdim=False, *, axis=None):
    """Sum over ``dim`` (int, tuple, or None for all) (``torch.sum``)."""
    dim = _dim_or_axis("sum", dim, axis)
    return Sum.apply(input, normalize_dims(dim, input.ndim), keepdim)


def mean(input, dim=None, keepdim=False, *, axis=None):
    """Mean over ``dim`` (``torch.mean``); floating-point input only."""
    dim = _dim_or_axis("mean", dim, axis)
    if input.dtype.kind != "f":
        raise TypeError(f"mean: input must be float32 or float64, got {input.dtype}")
    return Mean.apply(input, normalize_dims(dim, input.ndim), keepdim)


def _correction(name, unbiased, correction):
    if unbiased is not None and correction is not None:
        raise ValueError(f"{name}: pass either unbiased or correction, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    return correction


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None):
    """Variance over ``dim`` with Bessel's correction by default (``torch.var``).

    ``correction`` (default 1) is subtracted from the element count; ``unbiased=False`` means
    correction=0. Gives inf/nan when the count is <= correction, as PyTorch does.
    """
    dim = _dim_or_axis("var", dim, axis)
    correction = _correction("var", unbiased, correction)
    return Var.apply(input, normalize_dims(dim, input.ndim), keepdim, correction)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None):
    """Standard deviation, the square root of :func:`var` with the same arguments (``torch.std``)."""
    dim = _dim_or_axis("std", dim, axis)
    correction = _correction("std", unbiased, correction)
    return Std.apply(input, normalize_dims(dim, input.ndim), keepdim, correction)


def amax(input, dim=None, keepdim=False, *, axis=None):
    """Maximum over ``dim``; ties share the gradient evenly (``torch.amax``)."""
    dim = _dim_or_axis("amax", dim, axis)
    axes = normalize_dims(dim, input.ndim)
    _check_nonempty("amax", input, axes)
    return Extreme.apply(input, axes, keepdim, True)


def amin(input, dim=None, keepdim=False, *, axis=None):
    """Minimum over ``dim``; ties share the gradient evenly (``torch.amin``)."""
    dim = _dim_or_axis("amin", dim, axis)
    axes = normalize_dims(dim, input.ndim)
    _check_nonempty("amin", input, axes)
    return Extreme.apply(input, axes, keepdim, False)


def _extreme_along(name, input, dim, keepdim, arg):
    if input.ndim == 0:
        normalize_dim(dim, 0)
        return MinMaxResult(input, Tensor._wrap(np.zeros((), np.int64), input.device))
    d = normalize_dim(dim, input.ndim)
    _check_nonempty(name, input, (d,))
    index = arg(input._data, axis=d, keepdims=True)
    values = TakeAlongDim.apply(input, index, d, keepdim)
    indices = index if keepdim else np.squeeze(index, axis=d)
    return MinMaxResult(values, Tensor._wrap(indices.astype(np.int64), input.device))


def max(input, dim=None, keepdim=False, *, axis=None):
    """``max(input)``: the largest element (0-d). ``max(input, dim)``: (values, indices) along
    ``dim``, the gradient going to the first maximal element of each line (``torch.max``)."""
    dim = _dim_or_axis("max", dim, axis)
    if dim is None:
        return amax(input)
    return _extreme_along("max", input, dim, keepdim, np.argmax)


def min(input, dim=None, keepdim=False, *, axis=None):
    """``min(input)``: the smallest element. ``min(input, dim)``: (values, indices) (``torch.min``)."""
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


def argmax(input, dim=None, keepdim=False, *, axis=None):
    """Index of the maximum (over the flattened tensor when dim is None); int64, no gradient."""
    dim = _dim_or_axis("argmax", dim, axis)
    return _arg("argmax", np.argmax, input, dim, keepdim)


def argmin(input, dim=None, keepdim=False, *, axis=None):
    """Index of the minimum (over the flattened tensor when dim is None); int64, no gradient."""
    dim = _dim_or_axis("argmin", dim, axis)
    return _arg("argmin", np.argmin, input, dim, keepdim)
