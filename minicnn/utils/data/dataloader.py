"""DataLoader: batches of a data set, in the order of a sampler, loaded by worker threads.

Arguments, defaults, semantics and errors follow ``torch.utils.data.DataLoader``
(https://pytorch.org/docs/stable/data.html#torch.utils.data.DataLoader), with threads for
worker processes: NumPy and minicnn's kernels release the GIL, and a thread needs no pickling.

Randomness is reproducible and independent of ``num_workers``. Each epoch has a base seed:
the loader's ``seed=`` (a minicnn extension) or else one drawn from ``generator`` or minicnn's
default generator (so ``minicnn.manual_seed`` governs it). With ``shuffle=True`` and no
``generator``, epoch ``k`` visits the permutation drawn by ``np.random.default_rng([seed, k,
0])``; batch ``b`` is loaded inside :func:`minicnn.data.transforms.use_generator` with
``np.random.default_rng([seed, k, 1, b])``, so random augmentation gives the same batches with
or without worker threads.
"""
from __future__ import annotations

import itertools
import math
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, cast

import numpy as np

from ... import random as _random
from ..._compat import add_note
from .collate import default_collate, default_convert
from .dataset import Dataset, IterableDataset
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    _check_generator,
    _is_int,
)

__all__ = ["DataLoader", "get_worker_info", "WorkerInfo"]

_local = threading.local()  # .info: this worker thread's WorkerInfo
_THREAD_PREFIX = "minicnn-DataLoader"
_DONE = object()  # a worker's end-of-data marker


class WorkerInfo:
    """What :func:`get_worker_info` tells a worker thread: ``id`` (0 .. ``num_workers`` - 1),
    ``num_workers``, ``seed`` (the epoch's base seed + ``id``) and ``dataset``. Read-only, as in
    PyTorch."""

    __slots__ = ("id", "num_workers", "seed", "dataset")
    id: int
    num_workers: int
    seed: int
    dataset: Dataset[Any]

    def __init__(self, id: int, num_workers: int, seed: int, dataset: Dataset[Any]) -> None:
        for name, value in (("id", id), ("num_workers", num_workers), ("seed", seed),
                            ("dataset", dataset)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise RuntimeError(f"Cannot assign attributes to {type(self).__name__} objects")

    def __repr__(self) -> str:
        return (f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, "
                f"dataset={type(self.dataset).__name__})")


def get_worker_info() -> WorkerInfo | None:
    """This thread's :class:`WorkerInfo` inside a DataLoader worker, None elsewhere (the main
    thread included), as ``torch.utils.data.get_worker_info``. An IterableDataset's ``__iter__``
    uses it to give each worker its own share of the data."""
    return getattr(_local, "info", None)




class _InfiniteConstantSampler(Sampler[None]):
    """The sampler of an IterableDataset: None, forever (the data set decides when to stop)."""

    def __iter__(self) -> Iterator[None]:
        return itertools.repeat(None)


class _Iterator:
    """What ``iter(loader)`` returns: the batches of one epoch; ``len()`` is the loader's and
    ``close()`` stops the worker threads early."""

    def __init__(self, batches: Generator[Any, None, None], length: Callable[[], int]) -> None:
        self._batches, self._length = batches, length

    def __iter__(self) -> _Iterator:
        return self

    def __next__(self) -> Any:
        return next(self._batches)

    def __len__(self) -> int:
        return self._length()

    def close(self) -> None:
        self._batches.close()


class DataLoader:
    """Iterate over ``dataset`` in batches (``torch.utils.data.DataLoader``).

    ``dataset``: map-style (``__getitem__`` and ``__len__``; ``__getitems__`` is used for whole
    batches when present, see :mod:`minicnn.utils.data.dataset`) or an :class:`IterableDataset`.
    ``batch_size``: samples per batch; None turns batching off (each sample is converted with
    :func:`default_convert`, or passed to ``collate_fn``). ``shuffle``: a new order every epoch
    (:class:`RandomSampler`); ``sampler``: the indices' order instead (any iterable of indices;
    one with ``set_epoch``, such as :class:`minicnn.utils.data.DistributedSampler`, is set to
    the loader's epoch before each pass); ``batch_sampler``: yields whole lists of indices,
    replacing ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last``. ``drop_last``: drop a
    last, incomplete batch. ``collate_fn``: turns a list of samples into a batch (default
    :func:`default_collate`); its result is yielded as it is.

    ``num_workers``: threads that load batches ahead of the training loop, up to
    ``num_workers * prefetch_factor`` batches (``prefetch_factor`` defaults to 2 with workers,
    and must stay None without); batches arrive in order. Inside a worker,
    :func:`get_worker_info` describes it and ``worker_init_fn(worker_id)`` has run first. An
    exception raised in a worker is raised again in the iterating thread, noting the batch;
    ``timeout`` > 0 raises RuntimeError when a batch takes longer; leaving the loop early
    (``break``, an exception, ``close()``) stops the workers. ``generator``: a numpy Generator
    that draws the shuffle order and the epoch's seed.

    Accepted for PyTorch programs, with nothing to do here: ``pin_memory``,
    ``pin_memory_device``, ``multiprocessing_context`` (threads are used), ``persistent_workers``
    (threads are started for each epoch, and ``worker_init_fn`` runs again), ``in_order``
    (batches always arrive in order).

    minicnn extensions: ``seed`` (an int >= 0) fixes the order and the augmentation of every
    epoch (see the module docstring); ``loader.epoch`` is the epoch the next iteration runs and
    :meth:`set_epoch` sets it, so a resumed run sees the same batches.

    ``len(loader)`` is the number of batches (for an IterableDataset, from its ``len()``:
    TypeError without one). Raises ValueError, with PyTorch's messages, for a negative
    ``num_workers`` or ``timeout``, ``prefetch_factor`` or ``persistent_workers`` without
    workers, ``shuffle`` with a ``sampler``, ``batch_sampler`` with any of the options it
    replaces, ``batch_size=None`` with ``drop_last``, a bad ``batch_size``, a shuffle, sampler or
    batch_sampler with an IterableDataset, and setting ``batch_size``, ``batch_sampler``,
    ``sampler``, ``drop_last``, ``dataset`` or ``persistent_workers`` after construction;
    TypeError for a non-callable ``collate_fn``, a ``generator`` that is not a numpy Generator,
    and a map-style ``dataset`` without ``len()`` when the loader makes the sampler.
    """

    _frozen = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
               "persistent_workers")

    def __init__(self, dataset: Dataset[Any], batch_size: int | None = 1,
                 shuffle: bool | None = None, sampler: Sampler[Any] | Iterable[Any] | None = None,
                 batch_sampler: Sampler[list[Any]] | Iterable[list[Any]] | None = None,
                 num_workers: int = 0, collate_fn: Callable[[Any], Any] | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], object] | None = None,
                 multiprocessing_context: object = None,
                 generator: np.random.Generator | None = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True,
                 seed: int | None = None) -> None:
        if not _is_int(num_workers) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in "
                             "multiprocessing.let num_workers > 0 to enable multiprocessing, "
                             "otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and (not _is_int(prefetch_factor) or prefetch_factor < 0):
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None and num_workers == 0:
            raise ValueError(f"multiprocessing_context can only be used with multi-process "
                             f"loading (num_workers > 0), but got num_workers={num_workers}")
        if seed is not None and (not _is_int(seed) or seed < 0):
            raise ValueError(f"DataLoader: seed must be an int >= 0 or None, got {seed!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {collate_fn!r}")
        _check_generator(generator, "DataLoader")

        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            if shuffle not in (False, None):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")

        # the loader's own shuffle follows its epoch seed unless a generator was given: the
        # RandomSampler it makes then gets a generator for each epoch (see __iter__)
        self._epoch_shuffler: RandomSampler | None = None
        if sampler is None:
            if iterable:
                sampler = _InfiniteConstantSampler()
            else:
                sized = cast(Sized, dataset)  # checked here: TypeError from len() when not
                try:
                    len(sized)
                except TypeError:
                    raise TypeError(f"DataLoader: dataset must have __len__ and __getitem__ (or "
                                    f"be an IterableDataset), got {type(dataset).__name__}") \
                        from None
                if shuffle:
                    sampler = RandomSampler(sized, generator=generator)
                    if generator is None:
                        self._epoch_shuffler = sampler
                else:
                    sampler = SequentialSampler(sized)
        if batch_size is not None and batch_sampler is None:
            # an IterableDataset's sampler gives None: the batch sampler only makes it batch
            batch_sampler = BatchSampler(cast(Iterable[int], sampler), batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.collate_fn: Callable[[Any], Any] = collate_fn or (
            default_collate if self._auto_collation else default_convert)
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self.seed = None if seed is None else int(seed)
        self.epoch = 0
        self._initialized = True

    def __setattr__(self, name: str, value: object) -> None:
        if name in self._frozen and getattr(self, "_initialized", False):
            raise ValueError(f"{name} attribute should not be set after {type(self).__name__} "
                             f"is initialized")
        super().__setattr__(name, value)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Sampler[Any] | Iterable[Any]:
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration runs (its shuffle order and augmentation)."""
        if not _is_int(epoch) or epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: epoch must be an int >= 0, got {epoch!r}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)  # type: ignore[arg-type]  # TypeError when it has none
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        return len(self._index_sampler)  # type: ignore[arg-type]  # TypeError when it has none

    def __iter__(self) -> _Iterator:
        epoch = self.epoch
        self.epoch += 1
        if self.seed is not None:
            seed = self.seed
        else:
            rng = self.generator if self.generator is not None else _random.default_generator()
            seed = int(rng.integers(2**63))
        if isinstance(self.dataset, IterableDataset):
            batches = (self._iterable_batches(seed, epoch, (1,)) if self.num_workers == 0
                       else self._iterable_workers(seed, epoch))
        else:
            if hasattr(self.sampler, "set_epoch"):
                self.sampler.set_epoch(epoch)
            shuffler = self._epoch_shuffler
            if shuffler is not None:  # samplers take their generator when iter() is called
                shuffler.generator = np.random.default_rng([seed, epoch, 0])
            try:
                indices = iter(self._index_sampler)
            finally:
                if shuffler is not None:
                    shuffler.generator = None
            batches = (self._map_batches(seed, epoch, indices) if self.num_workers == 0
                       else self._map_workers(seed, epoch, indices))
        return _Iterator(batches, self.__len__)

    # ---------------------------------------------------------------- map-style data sets

    def _fetch(self, index: Any) -> Any:
        """The batch for ``index`` (a list of indices, or one index without auto-collation)."""
        if not self._auto_collation:
            return self.collate_fn(self.dataset[index])
        getitems = getattr(self.dataset, "__getitems__", None)
        if self.collate_fn is default_collate and callable(getitems):
            data = getitems(index)
            # a list of samples (PyTorch's contract) or a ready batch (minicnn's data sets)
            return default_collate(data) if isinstance(data, list) else default_convert(data)
        return self.collate_fn([self.dataset[i] for i in index])

    def _load(self, seed: int, epoch: int, b: int, index: Any) -> Any:
        with _random.use_generator(np.random.default_rng([seed, epoch, 1, b])):
            return self._fetch(index)

    def _map_batches(self, seed: int, epoch: int,
                     indices: Iterator[Any]) -> Generator[Any, None, None]:
        for b, index in enumerate(indices):
            yield self._load(seed, epoch, b, index)

    def _map_workers(self, seed: int, epoch: int,
                     indices: Iterator[Any]) -> Generator[Any, None, None]:
        assert self.prefetch_factor is not None  # set whenever there are workers
        ids, lock = itertools.count(), threading.Lock()

        def task(b: int, index: Any) -> Any:
            if get_worker_info() is None:  # this thread's first batch
                with lock:
                    w = next(ids)
                _local.info = WorkerInfo(w, self.num_workers, seed + w, self.dataset)
                if self.worker_init_fn is not None:
                    self.worker_init_fn(w)
            return self._load(seed, epoch, b, index)

        pool = ThreadPoolExecutor(self.num_workers, thread_name_prefix=_THREAD_PREFIX)
        ahead = max(1, self.num_workers * self.prefetch_factor)
        pending: list[tuple[int, Future[Any]]] = []
        timed_out = False
        try:
            work = enumerate(indices)
            for b, index in itertools.islice(work, ahead):
                pending.append((b, pool.submit(task, b, index)))
            while pending:
                b, future = pending.pop(0)
                for nb, index in itertools.islice(work, 1):
                    pending.append((nb, pool.submit(task, nb, index)))
                try:
                    batch = future.result(timeout=self.timeout or None)
                except TimeoutError:
                    timed_out = True
                    raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds") \
                        from None
                except Exception as e:
                    add_note(e, f"(raised in a DataLoader worker thread while loading batch {b})")
                    raise
                yield batch
        finally:  # a stuck worker cannot be stopped: after a timeout it is left to finish alone
            pool.shutdown(wait=not timed_out, cancel_futures=True)

    # ---------------------------------------------------------------- iterable data sets

    def _iterable_batches(self, seed: int, epoch: int,
                          key: tuple[int, ...]) -> Generator[Any, None, None]:
        """The batches of one pass over an IterableDataset; batch ``b`` is read under the
        augmentation generator ``(seed, epoch, *key, b)``."""
        samples = iter(self.dataset)
        for b in itertools.count():
            with _random.use_generator(np.random.default_rng([seed, epoch, *key, b])):
                if not self._auto_collation:
                    sample = next(samples, _DONE)
                    if sample is _DONE:
                        return
                    batch = self.collate_fn(sample)
                else:
                    assert self.batch_size is not None  # auto-collation of an IterableDataset
                    chunk = list(itertools.islice(samples, self.batch_size))
                    if not chunk or (self.drop_last and len(chunk) < self.batch_size):
                        return
                    batch = self.collate_fn(chunk)
            yield batch

    def _iterable_workers(self, seed: int, epoch: int) -> Generator[Any, None, None]:
        """Each worker thread iterates the data set; batches are taken from the workers in turn,
        skipping those that are done (PyTorch's order)."""
        assert self.prefetch_factor is not None  # set whenever there are workers
        n, stop = self.num_workers, threading.Event()
        queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=max(1, self.prefetch_factor))
                                          for _ in range(n)]

        def put(w: int, item: object) -> bool:
            while not stop.is_set():
                try:
                    queues[w].put(item, timeout=0.05)
                    return True
                except queue.Full:
                    pass
            return False

        def work(w: int) -> None:
            _local.info = WorkerInfo(w, n, seed + w, self.dataset)
            try:
                if self.worker_init_fn is not None:
                    self.worker_init_fn(w)
                for batch in self._iterable_batches(seed, epoch, (2, w)):
                    if not put(w, (True, batch)):
                        return
                put(w, _DONE)
            except Exception as e:
                put(w, (False, e))

        threads = [threading.Thread(target=work, args=(w,), name=f"{_THREAD_PREFIX}-{w}",
                                    daemon=True) for w in range(n)]
        for t in threads:
            t.start()
        timed_out = False
        try:
            active, turn = list(range(n)), 0
            while active:
                w = active[turn]
                try:
                    item = queues[w].get(timeout=self.timeout or None)
                except queue.Empty:
                    timed_out = True
                    raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds") \
                        from None
                if item is _DONE:
                    active.pop(turn)
                else:
                    ok, value = item
                    if not ok:
                        add_note(value, f"(raised in DataLoader worker thread {w})")
                        raise value
                    yield value
                    turn += 1
                turn = turn % len(active) if active else 0
        finally:
            stop.set()
            for t in threads if not timed_out else ():
                t.join()

    def __repr__(self) -> str:
        return (f"DataLoader(dataset={type(self.dataset).__name__}, batch_size={self.batch_size}, "
                f"sampler={type(self.sampler).__name__}, drop_last={self.drop_last}, "
                f"num_workers={self.num_workers}, seed={self.seed})")
