"""Indexing along a dimension with index tensors: gather, scatter and scatter_add (out of place),
index_select, masked_select and take_along_dim.

``gather(input, dim, index)`` reads ``out[i][j][k] = input[i][index[i][j][k]][k]`` (for dim 1):
``index`` has input's number of dimensions and is no larger than input outside ``dim``. scatter
writes the other way. Both are computed with one NumPy advanced index built from ``index`` and
open grids for the other dimensions (:func:`along`); the gradients move through the same index,
scatter-adding where a position can be read more than once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..autograd import Function, type_name
from ..tensor import Tensor
from ._util import as_operand, check_broadcast, host_only, is_number, normalize_dim, tensor_arg
from .shape import ExpandFn, GetItemFn, _put, _put_input_grad, reshape

if TYPE_CHECKING:
    from ..types import Number

_INDEX_KINDS = (np.dtype(np.int64), np.dtype(np.int32))


def along(index: Any, dim: int) -> tuple[Any, ...]:
    """The advanced index that picks ``x[..., index[p], ...]`` at each position p of ``index``:
    ``index`` itself for dimension ``dim``, an open grid 0..n-1 for every other dimension."""
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    return tuple(grid)


class GatherFn(Function):
    """out = x[along(index, dim)]; the gradient scatter-adds back (an index may repeat)."""

    @staticmethod
    def forward(ctx, x, index, dim):
        ctx.shape, ctx.where = x.shape, along(index, dim)
        return x[ctx.where]

    @staticmethod
    def backward(ctx, g):
        gx = np.zeros(ctx.shape, dtype=g.dtype)
        np.add.at(gx, ctx.where, g)
        return gx, None, None


class ScatterFn(Function):
    """A copy of x with x[along(index, dim)] = src (src cut to index's shape), or with src added
    there when ``add`` (repeated positions add up). Gradients: x's is g, without the overwritten
    positions unless ``add``; src's is g read back at those positions (zero where src was not
    used)."""

    @staticmethod
    def forward(ctx, x, index, src, dim, add):
        where = along(index, dim)
        ctx.where, ctx.add, ctx.src_shape = where, add, src.shape
        ctx.used = tuple(slice(0, n) for n in index.shape)
        return _put(x, where, src[ctx.used] if src.ndim else src, add)

    @staticmethod
    def backward(ctx, g):
        gx = gs = None
        if ctx.needs_input_grad[0]:
            gx = _put_input_grad(g, ctx.where, ctx.add)
        if ctx.needs_input_grad[2]:
            gs = np.zeros(ctx.src_shape, dtype=g.dtype)
            if gs.ndim:
                gs[ctx.used] = g[ctx.where]
            else:  # a scalar value broadcast to every indexed position
                gs = g[ctx.where].sum().astype(g.dtype)
        return gx, None, gs, None, None


# ---------------------------------------------------------------- checks

def _index_arg(fn, index, position=3):
    tensor_arg(fn, "index", position, index)
    if index.dtype not in _INDEX_KINDS:
        raise RuntimeError(f"{fn}(): Expected dtype int32/int64 for index")
    return index


def _check_bounds(index, size, dim):
    """RuntimeError in PyTorch's words for the first index outside [0, size)."""
    bad = (index < 0) | (index >= size)
    if bad.any():
        raise RuntimeError(f"index {int(index[bad].flat[0])} is out of bounds for dimension "
                           f"{dim} with size {size}")


def _at_least_1d(*tensors):
    """0-d tensors as 1-element 1-D ones: PyTorch treats a scalar as a vector of one here."""
    return tuple(reshape(t, 1) if t.ndim == 0 else t for t in tensors)


# ---------------------------------------------------------------- public functions

def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """Values of ``input`` along ``dim`` at ``index`` (``torch.gather``): for dim 1,
    out[i][j] = input[i][index[i][j]]. ``index`` (int64 or int32) has input's number of
    dimensions and sizes no larger than input's outside ``dim``; the output has index's shape.
    Differentiable with respect to ``input`` (repeated indices add up).

    Raises TypeError for a non-Tensor argument, RuntimeError (PyTorch's messages) for another
    index dtype, a different number of dimensions, an index larger than input outside ``dim`` or
    an index out of bounds; IndexError for a bad ``dim``.
    """
    tensor_arg("gather", "input", 1, input)
    _index_arg("gather", index)
    host_only("gather", input, index)
    if sparse_grad:
        raise NotImplementedError("gather: sparse_grad=True is not implemented (no sparse "
                                  "tensors in minicnn)")
    out_shape = index.shape
    x, idx = _at_least_1d(input, index)
    if x.ndim != idx.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    d = normalize_dim(dim, x.ndim)
    for k in range(x.ndim):
        if k != d and idx.shape[k] > x.shape[k]:
            raise RuntimeError(f"Size does not match at dimension {k} expected index "
                               f"{list(idx.shape)} to be no larger than self {list(x.shape)} "
                               f"apart from dimension {d}")
    _check_bounds(idx._data, x.shape[d], d)
    out = GatherFn.apply(x, idx._data, d)
    return out if out.shape == out_shape else reshape(out, out_shape)


def _scatter(fn, input, dim, index, src, add):
    tensor_arg(fn, "input", 1, input)
    _index_arg(fn, index)
    host_only(fn, input, index, src)
    if isinstance(src, Tensor):
        if src.dtype != input.dtype:
            raise RuntimeError(f"{fn}(): Expected self.dtype to be equal to src.dtype")
    elif is_number(src):  # scatter(input, dim, index, value)
        src = as_operand(input.dtype.type(src), input)
    else:
        raise TypeError(f"{fn}(): argument 'src' (position 4) must be Tensor, not "
                        f"{type(src).__name__}")
    x, idx = _at_least_1d(input, index)
    if x.ndim != idx.ndim or src.ndim not in (0, idx.ndim):
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    d = normalize_dim(dim, x.ndim)
    for k in range(x.ndim):
        if (k != d and idx.shape[k] > x.shape[k]) or (src.ndim and idx.shape[k] > src.shape[k]):
            detail = f" and to be no larger size than src {list(src.shape)}" if src.ndim else ""
            raise RuntimeError(f"Expected index {list(idx.shape)} to be no larger than self "
                               f"{list(x.shape)} apart from dimension {d}{detail}")
    _check_bounds(idx._data, x.shape[d], d)
    out = ScatterFn.apply(x, idx._data, src, d, add)
    return out if out.shape == input.shape else reshape(out, input.shape)


def scatter(input: Tensor, dim: int, index: Tensor, src: Tensor | None = None, *,
            value: Number | None = None, reduce: str | None = None) -> Tensor:
    """Out-of-place scatter (``torch.scatter``): a copy of ``input`` with, for dim 1,
    out[i][index[i][j]] = src[i][j]. ``src`` is a tensor of input's dtype (only its first
    index.shape elements are used) or a number (also accepted as ``value=``). Where ``index``
    names a position twice, one of the writes wins (which one is unspecified, as in PyTorch).
    Differentiable with respect to ``input`` (zero at the written positions) and ``src``.

    Raises NotImplementedError for ``reduce`` (deprecated in PyTorch: use scatter_add), and the
    errors of :func:`gather`, plus RuntimeError for a src of another dtype.
    """
    if reduce is not None:
        raise NotImplementedError("scatter: reduce= is not implemented; use scatter_add for "
                                  "reduce='add'")
    if (src is None) == (value is None):
        raise TypeError("scatter(): pass either src (a Tensor or a number) or value")
    return _scatter("scatter", input, dim, index, value if src is None else src, add=False)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """Out-of-place scatter-add (``torch.scatter_add``): a copy of ``input`` with, for dim 1,
    out[i][index[i][j]] += src[i][j]; repeated positions add up. Differentiable with respect to
    ``input`` and ``src``. Errors as :func:`scatter`; ``src`` must be a Tensor."""
    tensor_arg("scatter_add", "src", 4, src)
    return _scatter("scatter_add", input, dim, index, src, add=True)


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices of ``input`` at positions ``index`` (a 1-D or 0-d int64/int32 tensor) along
    ``dim`` (``torch.index_select``); differentiable (repeated indices add up).

    Raises IndexError for an index of more than one dimension or a bad ``dim``, RuntimeError for
    another index dtype or an index out of bounds.
    """
    tensor_arg("index_select", "input", 1, input)
    tensor_arg("index_select", "index", 3, index)
    host_only("index_select", input, index)
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    if index.dtype not in _INDEX_KINDS:
        raise RuntimeError("index_select(): Expected dtype int32 or int64 for index")
    (x,) = _at_least_1d(input)
    d = normalize_dim(dim, x.ndim)
    idx = index._data.reshape(-1)
    _check_bounds(idx, x.shape[d], d)
    out = GetItemFn.apply(x, (slice(None),) * d + (idx,))
    return reshape(out, ()) if input.ndim == 0 else out


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The elements of ``input`` where the bool ``mask`` is True, as a 1-D tensor, input and mask
    broadcast together (``torch.masked_select``); differentiable with respect to ``input``.

    Raises TypeError for a non-Tensor argument, RuntimeError for a non-bool mask, ValueError for
    shapes that do not broadcast.
    """
    tensor_arg("masked_select", "input", 1, input)
    tensor_arg("masked_select", "mask", 2, mask)
    host_only("masked_select", input, mask)
    if mask.dtype.kind != "b":
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    shape = check_broadcast("masked_select", input, mask)
    x = input if input.shape == shape else ExpandFn.apply(input, shape)
    return GetItemFn.apply(x, np.broadcast_to(mask._data, shape))


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """Values of ``input`` at ``indices`` along ``dim`` (``torch.take_along_dim``, NumPy's
    take_along_axis): like :func:`gather`, but input and indices broadcast outside ``dim``.
    With dim=None both are flattened first. Differentiable with respect to ``input``.

    Raises RuntimeError for a different number of dimensions or indices out of bounds,
    ValueError for shapes that do not broadcast outside ``dim``.
    """
    tensor_arg("take_along_dim", "input", 1, input)
    tensor_arg("take_along_dim", "indices", 2, indices)
    if indices.dtype not in _INDEX_KINDS:
        raise RuntimeError(f"torch.take_along_dim(): dtype of indices should be int64 but got "
                           f"{type_name(indices.dtype)} instead")
    if dim is None:
        return gather(reshape(input, -1), 0, reshape(indices, -1))
    if input.ndim != indices.ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same "
                           f"number of dimensions, but got {input.ndim} dimensions for input, and "
                           f"{indices.ndim} dimensions for indices")
    x, idx = _at_least_1d(input, indices)
    d = normalize_dim(dim, x.ndim)
    outside = [list(t.shape) for t in (x, idx)]
    for s in outside:
        s[d] = 1
    try:
        common = list(np.broadcast_shapes(*(tuple(s) for s in outside)))
    except ValueError:
        raise ValueError(f"take_along_dim: shapes {tuple(input.shape)} and "
                         f"{tuple(indices.shape)} do not broadcast outside dimension {d}") from None
    x_shape, i_shape = list(common), list(common)
    x_shape[d], i_shape[d] = x.shape[d], idx.shape[d]
    if list(x.shape) != x_shape:
        x = ExpandFn.apply(x, tuple(x_shape))
    idx = Tensor._wrap(np.broadcast_to(idx._data, i_shape), idx.device)
    out = gather(x, d, idx)
    return reshape(out, ()) if input.ndim == 0 else out
