"""Turning samples into batches: :func:`default_collate` and :func:`default_convert`.

The rules are those of ``torch.utils.data.default_collate`` and ``default_convert``
(https://pytorch.org/docs/stable/data.html#dataloader-collate-fn), with minicnn Tensors in place
of torch's: NumPy arrays become Tensors sharing their memory, Python floats float64 and Python
ints int64 Tensors, and containers are collated field by field.
"""
from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...autograd import is_grad_enabled
from ...ops import stack
from ...tensor import Tensor

__all__ = ["default_collate", "default_convert"]

_STR_OR_OBJECT = re.compile(r"[SaUO]")  # NumPy dtype codes that have no Tensor dtype
_ERROR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
          "found {}")


class _ShapeMismatch(RuntimeError, ValueError):
    """Samples of one batch with different shapes: a RuntimeError as in PyTorch, and a
    ValueError as minicnn.stack raises for the same mistake."""


def _as_tensor(array: np.ndarray) -> Tensor:
    return Tensor(np.asarray(array), device="cpu")  # shares the array's memory


def _check_shapes(shapes: list[tuple[int, ...]]) -> None:
    for i, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise _ShapeMismatch(f"stack expects each tensor to be equal size, but got "
                                 f"{list(shapes[0])} at entry 0 and {list(shape)} at entry {i} "
                                 f"(default_collate: samples of one batch must have one shape)")


def _stack_arrays(arrays: Sequence[np.ndarray]) -> np.ndarray:
    _check_shapes([np.shape(a) for a in arrays])
    return np.stack(arrays)


def _collate_tensors(batch: Sequence[Tensor]) -> Tensor:
    _check_shapes([tuple(t.shape) for t in batch])
    on_cpu = all(t.device.type == "cpu" for t in batch)
    if on_cpu and not (is_grad_enabled() and any(t.requires_grad for t in batch)):
        return _as_tensor(np.stack([t._data for t in batch]))  # NumPy promotes mixed dtypes
    return stack(batch)  # keeps the graph and the device


def _rebuild(elem: Any, values: dict[Any, Any] | list[Any]) -> Any:
    """A container of ``elem``'s type holding ``values`` (PyTorch's rules: copy and update a
    mutable container, else call the type; a plain dict or list when neither works)."""
    try:
        if isinstance(values, list) and isinstance(elem, collections.abc.MutableSequence):
            items = copy.copy(elem)
            for i, v in enumerate(values):
                items[i] = v
            return items
        if isinstance(values, dict) and isinstance(elem, collections.abc.MutableMapping):
            mapping = copy.copy(elem)
            mapping.update(values)
            return mapping
        return type(elem)(values)
    except TypeError:
        return list(values) if isinstance(values, list) else dict(values)


def default_collate(batch: Sequence[Any]) -> Any:
    """Collate a list of samples into a batch (``torch.utils.data.default_collate``).

    By the type of the first sample: a Tensor -> the Tensors stacked along a new first axis; a
    NumPy array or NumPy scalar -> a Tensor of its dtype; ``float`` -> a float64 Tensor; ``int``
    -> an int64 Tensor (``bool`` -> a bool Tensor); ``str``/``bytes`` -> the batch unchanged; a
    mapping -> the same mapping with each key collated; a namedtuple -> the namedtuple of its
    collated fields; any other sequence -> a list (a tuple sample too) of its collated
    positions.

    >>> default_collate([(np.zeros(2), 0), (np.ones(2), 1)])   # [Tensor (2, 2), Tensor [0, 1]]

    Raises RuntimeError (also a ValueError) for arrays or Tensors of different shapes,
    RuntimeError for sequences of different lengths, TypeError for NumPy string or object arrays
    and for other types, IndexError for an empty batch.
    """
    if len(batch) == 0:
        raise IndexError("default_collate: the batch is empty")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _collate_tensors(batch)
    if isinstance(elem, np.ndarray):
        if _STR_OR_OBJECT.search(elem.dtype.str):
            raise TypeError(_ERROR.format(elem.dtype))
        return _as_tensor(_stack_arrays(batch))
    if isinstance(elem, (np.bool_, np.number, np.object_)):
        return _as_tensor(np.asarray(batch))
    if isinstance(elem, float):
        return _as_tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, int):
        values = np.asarray(batch)
        return _as_tensor(values.astype(np.int64) if values.dtype.kind in "iu" else values)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(field) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(column) for column in zip(*batch)]  # str columns stay tuples
        return columns if isinstance(elem, tuple) else _rebuild(elem, columns)
    raise TypeError(_ERROR.format(type(elem)))


def default_convert(data: Any) -> Any:
    """Turn the NumPy arrays and scalars in ``data`` into Tensors, leaving everything else as it
    is (``torch.utils.data.default_convert``); containers are converted element by element, a
    tuple into a list (a namedtuple stays one). Arrays keep their memory and dtype; string and
    object arrays stay arrays. This is what a DataLoader with ``batch_size=None`` applies to each
    sample, and what it applies to a batch that a data set's ``__getitems__`` returns ready-made.
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if _STR_OR_OBJECT.search(data.dtype.str) else _as_tensor(data)
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_)):
        return _as_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _rebuild(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild(data, [default_convert(d) for d in data])
    return data
