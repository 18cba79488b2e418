"""Samplers: the order in which a DataLoader visits a map-style data set.

Names, arguments and errors follow ``torch.utils.data.sampler`` (https://pytorch.org/docs/stable/
data.html#data-loading-order-and-sampler). Randomness comes from a ``numpy.random.Generator``
passed as ``generator=``, or else from minicnn's default generator (so ``minicnn.manual_seed``
makes it reproducible); the numbers drawn differ from PyTorch's stream.

Every ``__iter__`` here takes its random state when it is called, not at the first ``next()``, so
an iterator keeps the order it was started with.
"""
from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Generic, TypeVar

import numpy as np

from ... import random as _random

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]

T_co = TypeVar("T_co", covariant=True)

_CHUNK = 1024  # draws with replacement are made this many at a time


def _check_generator(generator: np.random.Generator | None,
                     owner: str) -> np.random.Generator | None:
    """``generator`` itself when it is a numpy Generator or None; TypeError otherwise."""
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"{owner}: generator must be a numpy.random.Generator or None (minicnn "
                        f"has no Generator class), got {type(generator).__name__}")
    return generator


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


class Sampler(Generic[T_co]):
    """Base class of samplers (``torch.utils.data.Sampler``): a subclass defines ``__iter__``,
    giving sample indices (or lists of them, for a batch sampler), and may define ``__len__``,
    which ``len(DataLoader)`` needs."""

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError


class SequentialSampler(Sampler[int]):
    """``0, 1, ..., len(data_source) - 1``, every epoch (``torch.utils.data.SequentialSampler``)."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """Random indices into ``data_source`` (``torch.utils.data.RandomSampler``).

    Without ``replacement``: a fresh permutation of ``range(len(data_source))`` for every
    ``len(data_source)`` indices drawn; with it, ``num_samples`` independent uniform draws.
    ``num_samples`` defaults to ``len(data_source)``. ``generator``: a numpy Generator that
    carries on from epoch to epoch; None (the default) seeds a new one each ``iter()`` from
    minicnn's default generator, as PyTorch does with its own.

    Raises TypeError for a non-bool ``replacement`` or a ``generator`` that is not a numpy
    Generator, ValueError when ``num_samples`` is not a positive int (an empty data set
    included).
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None,
                 generator: np.random.Generator | None = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = _check_generator(generator, "RandomSampler")
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got "
                            f"replacement={replacement}")
        if not _is_int(self.num_samples) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        rng = self.generator
        if rng is None:
            rng = np.random.default_rng(int(_random.default_generator().integers(2**63)))
        return self._draw(rng, len(self.data_source), int(self.num_samples))

    def _draw(self, rng: np.random.Generator, n: int, count: int) -> Iterator[int]:
        if self.replacement:
            for start in range(0, count, _CHUNK):
                yield from rng.integers(0, n, size=min(_CHUNK, count - start)).tolist()
            return
        for _ in range(count // n):
            yield from rng.permutation(n).tolist()
        if count % n:
            yield from rng.permutation(n)[:count % n].tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given ``indices`` in a random order, without replacement
    (``torch.utils.data.SubsetRandomSampler``). ``generator``: a numpy Generator, default
    minicnn's default generator."""

    def __init__(self, indices: Sequence[int],
                 generator: np.random.Generator | None = None) -> None:
        self.indices = indices
        self.generator = _check_generator(generator, "SubsetRandomSampler")

    def __iter__(self) -> Iterator[int]:
        rng = self.generator if self.generator is not None else _random.default_generator()
        order = rng.permutation(len(self.indices)).tolist()
        return (self.indices[i] for i in order)

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """``num_samples`` indices into ``range(len(weights))``, index ``i`` drawn with probability
    proportional to ``weights[i]`` (``torch.utils.data.WeightedRandomSampler``); without
    ``replacement`` an index is drawn at most once. ``generator``: a numpy Generator, default
    minicnn's default generator.

    Raises ValueError for ``num_samples`` that is not a positive int, a non-bool ``replacement``
    or ``weights`` that are not 1-D; iterating raises RuntimeError for negative weights, weights
    summing to 0, or (without replacement) fewer positive weights than ``num_samples``, as
    ``torch.multinomial`` does.
    """

    def __init__(self, weights: Sequence[float] | np.ndarray, num_samples: int,
                 replacement: bool = True, generator: np.random.Generator | None = None) -> None:
        if not _is_int(num_samples) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got "
                             f"replacement={replacement}")
        array = np.asarray(weights, dtype=np.float64)
        if array.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{tuple(array.shape)}")
        self.weights = array
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = _check_generator(generator, "WeightedRandomSampler")

    def __iter__(self) -> Iterator[int]:
        w = self.weights
        if (w < 0).any():
            raise RuntimeError("invalid multinomial distribution (encountering probability entry "
                               "< 0)")
        if not np.all(np.isfinite(w)):
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
        if w.sum() <= 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        if not self.replacement and self.num_samples > len(w):
            raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                               "replacement")
        rng = self.generator if self.generator is not None else _random.default_generator()
        if self.replacement:
            drawn = rng.choice(len(w), size=self.num_samples, p=w / w.sum())
        else:  # Efraimidis-Spirakis: the smallest Exp(1)/w keys; zero weights come last
            with np.errstate(divide="ignore"):
                keys = rng.exponential(size=len(w)) / w
            drawn = np.argsort(keys, kind="stable")[:self.num_samples]
        return iter(drawn.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler[list[int]]):
    """Group the indices of ``sampler`` (any iterable of indices) into lists of ``batch_size``
    (``torch.utils.data.BatchSampler``); ``drop_last`` drops a last, shorter list.

    >>> list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False))
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]

    Raises ValueError for a ``batch_size`` that is not a positive int or a non-bool
    ``drop_last``.
    """

    def __init__(self, sampler: Sampler[int] | Iterable[int], batch_size: int,
                 drop_last: bool) -> None:
        if not _is_int(batch_size) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = operator.index(batch_size)
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        return self._batches(iter(self.sampler))

    def _batches(self, indices: Iterator[int]) -> Iterator[list[int]]:
        while True:
            batch = list(itertools.islice(indices, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]  # TypeError when the sampler has none
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
