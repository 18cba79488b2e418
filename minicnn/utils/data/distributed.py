"""``torch.utils.data.distributed``: the sampler that gives each rank of a data-parallel job its
shard of a data set (minicnn.distributed runs the job over MPI)."""
import numpy as np

from .sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    """The sample indices of one rank's shard of a data set, a new shuffle every epoch
    (``torch.utils.data.DistributedSampler``); give it to ``DataLoader(sampler=...)``.

    ``dataset``: anything with ``len()``; ``num_replicas``, ``rank``: default
    :func:`minicnn.distributed.get_world_size` and
    :func:`~minicnn.distributed.get_rank`; ``shuffle``: permute the indices each epoch;
    ``seed``: the shuffle seed, the same on every rank; ``drop_last``: see below.

    Epoch ``e`` permutes ``range(n)`` with a generator derived from ``(seed, e)`` (the one
    ``DataLoader(shuffle=True, seed=seed)`` uses, so one rank sees the order of a plain shuffled
    loader), then makes the length divisible by ``num_replicas``: by repeating indices from the
    start (``drop_last=False``: every sample is seen, a few twice) or by dropping the tail
    (``drop_last=True``: a few are not seen this epoch). Rank ``r`` takes every
    ``num_replicas``-th index starting at ``r``. So the shards of one epoch are disjoint and
    their union is the data set (plus padding), and every rank gets ``len(sampler)`` indices:
    ``ceil(n / num_replicas)``, or ``floor(n / num_replicas)`` with ``drop_last``.

    :meth:`set_epoch` chooses the epoch (the DataLoader calls it with its own epoch). Raises
    ValueError for a ``rank`` outside ``[0, num_replicas)`` or ``num_replicas`` < 1, TypeError
    for a dataset without ``len()``.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if num_replicas is None or rank is None:
            from ...distributed import get_rank, get_world_size
            num_replicas = get_world_size() if num_replicas is None else num_replicas
            rank = get_rank() if rank is None else rank
        for name, value, low in (("num_replicas", num_replicas, 1), ("rank", rank, 0),
                                 ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value < low:
                raise ValueError(f"DistributedSampler: {name} must be an int >= {low}, got "
                                 f"{value!r}")
        if rank >= num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in [0, {num_replicas - 1}], "
                             f"got {rank}")
        try:
            n = len(dataset)
        except TypeError:
            raise TypeError(f"DistributedSampler: dataset must have __len__, got "
                            f"{type(dataset).__name__}") from None
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        self.num_samples = (n // self.num_replicas if self.drop_last
                            else -(-n // self.num_replicas))
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch):
        """The epoch of the next iteration (its shuffle order)."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"DistributedSampler.set_epoch: epoch must be an int >= 0, got "
                             f"{epoch!r}")
        self.epoch = int(epoch)

    def indices(self):
        """This rank's indices for the current epoch, an int64 array of ``len(self)``."""
        n = len(self.dataset)
        order = (np.random.default_rng([self.seed, self.epoch, 0]).permutation(n)
                 if self.shuffle else np.arange(n))
        if self.total_size > n:  # pad by repeating from the start (wrapping for tiny sets)
            order = np.resize(order, self.total_size)
        return order[self.rank:self.total_size:self.num_replicas].astype(np.int64)

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self):
        return self.num_samples
