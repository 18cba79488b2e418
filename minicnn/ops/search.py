"""Sorting and searching: sort, argsort, topk, nonzero and unique.

sort and topk return (values, indices) named tuples, as PyTorch's ``torch.return_types``; the
values are differentiable (the gradient goes back to the positions the indices name). Sorting is
always stable here, and nan sorts above +inf as in PyTorch, so ``stable=False`` gives one of the
orders PyTorch may give; among tied values PyTorch's unstable sort and topk may pick other
indices.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..tensor import Tensor
from ._util import host_only, normalize_dim, tensor_arg
from .indexing import GatherFn

#: what sort returns, like torch.return_types.sort: (values, indices)
SortResult = namedtuple("SortResult", ["values", "indices"])
#: what topk returns, like torch.return_types.topk: (values, indices)
TopkResult = namedtuple("TopkResult", ["values", "indices"])


def _int_arg(fn, name, position, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be int, not "
                        f"{type(value).__name__}")
    return int(value)


def _order(a, axis, descending):
    """Stable argsort of ``a`` along ``axis``; nan last ascending, first descending (NumPy puts
    nan last). Descending order sorts the reversed line ascending and reverses the result, which
    keeps equal elements in their original order."""
    if not descending:
        return np.argsort(a, axis=axis, kind="stable")
    n = a.shape[axis]
    rev = np.argsort(np.flip(a, axis=axis), axis=axis, kind="stable")
    return (n - 1) - np.flip(rev, axis=axis)


def _sorted_part(input, dim, descending, k=None):
    """(values, indices) of the first ``k`` (all by default) elements of each line of ``input``
    along ``dim`` in sorted order; 0-d input is its own sort."""
    if input.ndim == 0:
        return input.clone(), Tensor._wrap(np.zeros((), np.int64), input.device)
    d = normalize_dim(dim, input.ndim)
    index = _order(input._data, d, descending)
    if k is not None:
        index = np.take(index, np.arange(k), axis=d)
    index = index.astype(np.int64, copy=False)
    values = GatherFn.apply(input, index, d)
    return values, Tensor._wrap(index, input.device)


def sort(input: Tensor, dim: int = -1, descending: bool = False, *,
         stable: bool = False) -> SortResult:
    """The elements of ``input`` sorted along ``dim``, and where they came from
    (``torch.sort``): a (values, indices) named tuple, indices int64. nan counts as larger than
    every number. The sort is always stable (equal elements keep their order), which is one of
    the orders ``stable=False`` allows. Values are differentiable.

    Raises TypeError for a non-Tensor input, IndexError for a bad ``dim``.
    """
    tensor_arg("sort", "input", 1, input)
    host_only("sort", input)
    return SortResult(*_sorted_part(input, dim, bool(descending)))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, *,
            stable: bool = False) -> Tensor:
    """The indices that sort ``input`` along ``dim`` (``torch.argsort``): the indices of
    :func:`sort`, int64."""
    tensor_arg("argsort", "input", 1, input)
    host_only("argsort", input)
    return _sorted_part(input, dim, bool(descending))[1]


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True,
         sorted: bool = True) -> TopkResult:
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim`` and their indices
    (``torch.topk``): a (values, indices) named tuple, in sorted order (also when
    ``sorted=False``, whose order PyTorch leaves unspecified). nan counts as the largest value.
    Values are differentiable.

    Raises TypeError for a non-Tensor input or a non-int ``k``, RuntimeError (PyTorch's message)
    for k < 0 or k larger than the dimension, IndexError for a bad ``dim``.
    """
    tensor_arg("topk", "input", 1, input)
    k = _int_arg("topk", "k", 2, k)
    host_only("topk", input)
    size = input.shape[normalize_dim(dim, input.ndim)] if input.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError("selected index k out of range")
    if input.ndim == 0:
        return TopkResult(*_sorted_part(input, dim, largest))
    return TopkResult(*_sorted_part(input, dim, bool(largest), k))


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Tensor | tuple[Tensor, ...]:
    """The indices of the non-zero elements (``torch.nonzero``): an (n, input.ndim) int64 tensor,
    one row per element in row-major order; with ``as_tuple=True`` a tuple of input.ndim 1-D
    tensors, one per dimension (a 0-d input counts as 1-D there, as in PyTorch)."""
    tensor_arg("nonzero", "input", 1, input)
    host_only("nonzero", input)
    data = input._data
    if as_tuple:
        found = np.nonzero(data.reshape(-1) if data.ndim == 0 else data)
        return tuple(Tensor._wrap(i.astype(np.int64), input.device) for i in found)
    return Tensor._wrap(np.argwhere(data).astype(np.int64), input.device)


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim: int | None = None) -> Tensor | tuple[Tensor, ...]:
    """The distinct elements of ``input``, flattened and in ascending order (``torch.unique``);
    with ``return_inverse`` also the index of each input element in that list (input's shape),
    with ``return_counts`` how often each occurs (both int64). The output is sorted also for
    ``sorted=False`` (PyTorch then leaves the order unspecified). No gradient.

    Raises NotImplementedError for ``dim`` (unique slices).
    """
    tensor_arg("unique", "input", 1, input)
    host_only("unique", input)
    if dim is not None:
        raise NotImplementedError("unique: dim= (unique slices) is not implemented")
    values, inverse, counts = np.unique(input._data, return_inverse=True, return_counts=True)
    out = [Tensor._wrap(values, input.device)]
    if return_inverse:
        out.append(Tensor._wrap(inverse.reshape(input.shape).astype(np.int64), input.device))
    if return_counts:
        out.append(Tensor._wrap(counts.astype(np.int64), input.device))
    return out[0] if len(out) == 1 else tuple(out)
