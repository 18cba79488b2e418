"""DataLoader (``torch.utils.data.DataLoader``), Subset and random_split.

The loader batches a data set's samples and yields ``(x, y)`` minicnn Tensors wrapping the
collated arrays (no copy): float32 ``(N, C, H, W)`` images and int64 labels for minicnn's data
sets. A data set with ``__getitems__(indices)`` (all of minicnn's) is asked for a whole batch at
once, which lets its transforms run vectorized over the batch; any other data set is indexed
sample by sample and collated (:func:`default_collate`).

Randomness is reproducible and independent of ``num_workers``: epoch ``k`` shuffles with a
generator derived from ``(seed, k)``, and batch ``b`` of that epoch is loaded inside
:func:`minicnn.data.transforms.use_generator` with a generator derived from ``(seed, k, b)``, so
random augmentation gives the same batches with or without worker threads. With ``seed=None``
each epoch draws its seed from minicnn's default generator (so ``minicnn.manual_seed`` governs
it). Worker threads prefetch batches in order while the main thread computes (NumPy and
minicnn's kernels release the GIL).
"""
import operator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import random as _random
from ..tensor import Tensor
from .transforms import use_generator

__all__ = ["DataLoader", "Subset", "random_split", "default_collate"]


def default_collate(samples):
    """Stack a list of ``(image, label)`` samples into ``(images, labels)`` arrays: images
    stacked along a new first axis (their dtype kept), labels as int64. Raises ValueError when
    the images differ in shape."""
    if not samples:
        raise ValueError("default_collate: empty batch")
    try:
        images = np.stack([np.asarray(s[0]) for s in samples])
    except ValueError as e:
        shapes = sorted({np.shape(s[0]) for s in samples})
        raise ValueError(f"default_collate: samples of one batch must have one shape, got "
                         f"{shapes}") from e
    labels = np.asarray([s[1] for s in samples], dtype=np.int64)
    return images, labels


class Subset:
    """The samples ``indices`` of ``dataset`` (``torch.utils.data.Subset``), keeping the batched
    ``__getitems__`` path. ``targets`` and ``classes`` follow the parent when it has them."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.intp).reshape(-1)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices must lie in [-{n}, {n}) for a data set of {n}")

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.dataset[int(self.indices[operator.index(i)])]

    def __getitems__(self, indices):
        return _fetch(self.dataset, self.indices[np.asarray(indices, dtype=np.intp)], None)

    @property
    def targets(self):
        return np.asarray(self.dataset.targets)[self.indices]

    @property
    def classes(self):
        return self.dataset.classes


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping :class:`Subset` s of the given ``lengths`` (ints
    summing to ``len(dataset)``, or fractions summing to 1, as torch.utils.data.random_split).
    ``generator``: a numpy Generator; default minicnn's default generator."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and abs(sum(lengths) - 1) < 1e-6:
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):  # spread the remainder round-robin, as torch does
            counts[i % len(counts)] += 1
        lengths = counts
    if any(int(x) != x or x < 0 for x in lengths) or sum(lengths) != n:
        raise ValueError(f"random_split: lengths must be non-negative ints summing to {n} (or "
                         f"fractions summing to 1), got {lengths}")
    rng = generator if generator is not None else _random.default_generator()
    perm = rng.permutation(n)
    bounds = np.cumsum([0] + [int(x) for x in lengths])
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _fetch(dataset, indices, collate_fn):
    if collate_fn is None and hasattr(dataset, "__getitems__"):
        return dataset.__getitems__(indices)
    samples = [dataset[int(i)] for i in indices]
    return (collate_fn or default_collate)(samples)


def _to_tensor(value):
    if isinstance(value, np.ndarray):
        return Tensor(value, device="cpu")
    if isinstance(value, (tuple, list)):
        return type(value)(_to_tensor(v) for v in value)
    return value


class DataLoader:
    """Iterate over ``dataset`` in batches (``torch.utils.data.DataLoader``).

    ``batch_size``: samples per batch; ``shuffle``: a new random order every epoch;
    ``drop_last``: drop the last, incomplete batch; ``num_workers``: background threads that
    prefetch up to ``num_workers * prefetch_factor`` batches (0: load in the calling thread);
    ``seed``: makes the order and the augmentation reproducible (None: drawn from minicnn's
    default generator each epoch); ``collate_fn``: turns a list of samples ``dataset[i]`` into a
    batch (given one, the loader indexes sample by sample instead of using ``__getitems__``);
    ``sampler``: an iterable of sample indices giving the order of each epoch instead of
    ``shuffle`` (such as :class:`minicnn.distributed.DistributedSampler`; a sampler with
    ``set_epoch`` is set to the loader's epoch before each pass).

    Each batch is a tuple of minicnn Tensors wrapping the collated arrays, ``(x, y)``.
    ``len(loader)`` is the number of batches. Iterating starts epoch ``loader.epoch`` and then
    advances it; :meth:`set_epoch` sets it (like DistributedSampler.set_epoch) so a resumed run
    sees the same order. An exception raised while loading a batch in a worker is raised again in
    the iterating thread; leaving the loop early (break, exception) stops the workers.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, num_workers=0,
                 seed=None, collate_fn=None, prefetch_factor=2, sampler=None):
        for arg, value, low in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0),
                                ("prefetch_factor", prefetch_factor, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"DataLoader: {arg} must be an int >= {low}, got {value!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"DataLoader: seed must be an int >= 0 or None, got {seed!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {collate_fn!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        try:
            len(dataset)
        except TypeError:
            raise TypeError(f"DataLoader: dataset must have __len__ and __getitem__, got "
                            f"{type(dataset).__name__}") from None
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.num_workers = int(num_workers)
        self.seed = None if seed is None else int(seed)
        self.collate_fn = collate_fn
        self.prefetch_factor = int(prefetch_factor)
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch):
        """The epoch the next iteration runs (its shuffle order and augmentation)."""
        epoch = operator.index(epoch)
        if epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def __len__(self):
        n = len(self.dataset if self.sampler is None else self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _batches(self, seed):
        n = len(self.dataset)
        if self.sampler is not None:
            if hasattr(self.sampler, "set_epoch"):
                self.sampler.set_epoch(self.epoch)
            order = np.fromiter(self.sampler, dtype=np.intp)
        elif self.shuffle:
            order = np.random.default_rng([seed, self.epoch, 0]).permutation(n)
        else:
            order = np.arange(n)
        return [order[i:i + self.batch_size] for i in range(0, len(self) * self.batch_size,
                                                             self.batch_size)]

    def _load(self, seed, epoch, b, indices):
        with use_generator(np.random.default_rng([seed, epoch, 1, b])):
            return _to_tensor(_fetch(self.dataset, indices, self.collate_fn))

    def __iter__(self):
        seed = (self.seed if self.seed is not None
                else int(_random.default_generator().integers(2**63)))
        epoch = self.epoch
        batches = self._batches(seed)
        self.epoch += 1
        if self.num_workers == 0:
            return (self._load(seed, epoch, b, idx) for b, idx in enumerate(batches))
        return self._prefetch(seed, epoch, batches)

    def _prefetch(self, seed, epoch, batches):
        pool = ThreadPoolExecutor(self.num_workers, thread_name_prefix="minicnn-DataLoader")
        pending = []
        try:
            ahead = self.num_workers * self.prefetch_factor
            queue = iter(enumerate(batches))
            for b, idx in queue:
                pending.append((b, pool.submit(self._load, seed, epoch, b, idx)))
                if len(pending) >= ahead:
                    break
            while pending:
                b, future = pending.pop(0)
                nxt = next(queue, None)
                if nxt is not None:
                    pending.append((nxt[0], pool.submit(self._load, seed, epoch, *nxt)))
                try:
                    batch = future.result()
                except Exception as e:
                    e.add_note(f"(raised in a DataLoader worker thread while loading batch {b})")
                    raise
                yield batch
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def __repr__(self):
        return (f"DataLoader(dataset={type(self.dataset).__name__}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, "
                f"num_workers={self.num_workers}, seed={self.seed})")
