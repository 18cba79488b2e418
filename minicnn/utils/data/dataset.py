"""Data sets: the map-style and iterable-style bases, TensorDataset, ConcatDataset,
ChainDataset, Subset and random_split.

Names, arguments and errors follow ``torch.utils.data.dataset``
(https://pytorch.org/docs/stable/data.html#dataset-types). A map-style data set may also define
``__getitems__(indices)``, which the DataLoader calls for a whole batch (as PyTorch's does):
returning a list of samples (PyTorch's contract) they are collated as usual; returning anything
else, such as the ``(images, labels)`` arrays of minicnn's data sets, it is taken as the batch
itself, which lets transforms run vectorized over it.
"""
from __future__ import annotations

import bisect
import math
import operator
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, SupportsIndex, TypeVar

import numpy as np

from ... import random as _random
from .sampler import _check_generator

if TYPE_CHECKING:
    from ...tensor import Tensor

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "ChainDataset",
           "Subset", "random_split"]

T_co = TypeVar("T_co", covariant=True)


class Dataset(Generic[T_co]):
    """Base class of map-style data sets (``torch.utils.data.Dataset``): a subclass defines
    ``__getitem__(index)`` and, for the default samplers, ``__len__``; it may define
    ``__getitems__(indices)`` to load a batch at once. ``a + b`` is ``ConcatDataset([a, b])``."""

    def __getitem__(self, index: Any) -> T_co:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: Dataset[T_co]) -> ConcatDataset[T_co]:
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co], Iterable[T_co]):
    """Base class of iterable-style data sets (``torch.utils.data.IterableDataset``): a subclass
    defines ``__iter__``. The DataLoader batches what it yields, in order; with
    ``num_workers > 0`` every worker thread iterates the data set itself, so ``__iter__`` should
    split the work with :func:`get_worker_info` (or each sample comes once per worker, as in
    PyTorch). ``a + b`` is ``ChainDataset([a, b])``."""

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    # a deliberate exception to Dataset's rule (PyTorch's): iterable data sets chain
    def __add__(self, other: Dataset[T_co]) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


class TensorDataset(Dataset[tuple["Tensor", ...]]):
    """Sample ``i`` is ``tuple(t[i] for t in tensors)`` (``torch.utils.data.TensorDataset``); the
    tensors share their first dimension, the number of samples. ``__getitems__`` indexes each
    tensor once for a whole batch. Raises AssertionError, as PyTorch does, when the first
    dimensions differ."""

    def __init__(self, *tensors: Tensor) -> None:
        sizes = [t.shape[0] for t in tensors]
        if len(set(sizes)) > 1:
            raise AssertionError(f"Size mismatch between tensors: first dimensions {sizes}")
        self.tensors = tensors

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, ...]:
        index = np.asarray(indices, dtype=np.intp)
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class ConcatDataset(Dataset[T_co]):
    """The samples of ``datasets``, one data set after the other
    (``torch.utils.data.ConcatDataset``). ``cumulative_sizes[k]`` is the number of samples in the
    first ``k + 1`` data sets. Negative indices count from the end. Raises AssertionError, as
    PyTorch does, for no data sets or an IterableDataset among them; indexing raises ValueError
    for a negative index beyond the length and IndexError for one past the end."""

    def __init__(self, datasets: Iterable[Dataset[T_co]]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        if any(isinstance(d, IterableDataset) for d in self.datasets):
            raise AssertionError("ConcatDataset does not support IterableDataset")
        # map-style data sets have __len__, which Dataset does not declare (as PyTorch's)
        sizes = [len(d) for d in self.datasets]  # type: ignore[arg-type]
        self.cumulative_sizes: list[int] = np.cumsum(sizes).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: SupportsIndex) -> T_co:
        idx = operator.index(idx)
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx += len(self)
        k = bisect.bisect_right(self.cumulative_sizes, idx)
        if k == len(self.datasets):
            raise IndexError(f"ConcatDataset index {idx} out of range for {len(self)} samples")
        return self.datasets[k][idx - (self.cumulative_sizes[k - 1] if k else 0)]


class ChainDataset(IterableDataset[Any]):
    """The samples of the iterable ``datasets``, one after the other
    (``torch.utils.data.ChainDataset``). ``len()`` sums theirs; AssertionError, as in PyTorch,
    when one is not an IterableDataset."""

    def __init__(self, datasets: Iterable[Dataset[Any]]) -> None:
        self.datasets = datasets

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            total += len(d)  # type: ignore[arg-type]  # TypeError when one has no len()
        return total


class Subset(Dataset[T_co]):
    """The samples ``indices`` of ``dataset`` (``torch.utils.data.Subset``): ``subset[i]`` is
    ``dataset[indices[i]]``. ``indices`` is kept as an intp array. ``__getitems__`` hands the
    whole batch to the parent's ``__getitems__`` when it has one (keeping minicnn's vectorized
    path), else returns the list of samples; ``targets`` and ``classes`` follow the parent when
    it has them. Raises IndexError for indices outside ``[-len(dataset), len(dataset))``, which
    PyTorch would only find when loading."""

    def __init__(self, dataset: Dataset[T_co], indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.intp).reshape(-1)
        n = len(dataset)  # type: ignore[arg-type]  # a map-style data set has __len__
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices must lie in [-{n}, {n}) for a data set of {n}")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, idx: SupportsIndex | list[int]) -> Any:
        if isinstance(idx, list):
            return self.dataset[self.indices[idx].tolist()]
        return self.dataset[int(self.indices[operator.index(idx)])]

    def __getitems__(self, indices: Sequence[int]) -> Any:
        chosen = self.indices[np.asarray(indices, dtype=np.intp)].tolist()
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems(chosen)
        return [self.dataset[i] for i in chosen]

    # the parent's, when it has them (AttributeError otherwise)
    @property
    def targets(self) -> np.ndarray:
        return np.asarray(getattr(self.dataset, "targets"))[self.indices]

    @property
    def classes(self) -> Any:
        return getattr(self.dataset, "classes")


def _split_lengths(lengths: Sequence[int | float], n: int) -> list[int]:
    """Fractions summing to 1 turned into counts as PyTorch does: ``floor(n * f)`` each, the
    remainder handed out one by one from the first split on."""
    counts = []
    for i, frac in enumerate(lengths):
        if not 0 <= frac <= 1:
            raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        counts.append(math.floor(n * frac))
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    for i, count in enumerate(counts):
        if count == 0:
            warnings.warn(f"Length of split at index {i} is 0. This might result in an empty "
                          f"dataset.", stacklevel=3)
    return counts


def random_split(dataset: Dataset[T_co], lengths: Sequence[int | float],
                 generator: np.random.Generator | None = None) -> list[Subset[T_co]]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s
    (``torch.utils.data.random_split``).

    ``lengths``: ints summing to ``len(dataset)``, or fractions summing to 1 (split ``k`` gets
    ``floor(len(dataset) * lengths[k])`` samples, the remainder spread one by one from the
    first). ``generator``: the numpy Generator that draws the permutation; default minicnn's
    default generator, so ``minicnn.manual_seed`` fixes the split.

    Raises ValueError when the lengths do not sum to ``len(dataset)``, for a negative length,
    or for a fraction outside [0, 1]; TypeError for a ``generator`` that is not a numpy
    Generator. Warns (UserWarning) when a fraction gives an empty split.
    """
    _check_generator(generator, "random_split")
    n = len(dataset)  # type: ignore[arg-type]  # a map-style data set has __len__
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        lengths = _split_lengths(lengths, n)
    if sum(lengths) != n or any(x < 0 or int(x) != x for x in lengths):
        raise ValueError(f"Sum of input lengths does not equal the length of the input dataset! "
                         f"random_split: lengths must be non-negative ints summing to {n} (or "
                         f"fractions summing to 1), got {lengths}")
    rng = generator if generator is not None else _random.default_generator()
    perm = rng.permutation(n)
    bounds = np.cumsum([0] + [int(x) for x in lengths])
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
