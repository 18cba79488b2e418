"""``torch.utils.data`` for minicnn: data sets, samplers, collation and the DataLoader.

Names, signatures, defaults and errors follow ``torch.utils.data``
(https://pytorch.org/docs/stable/data.html), so ``from minicnn.utils.data import DataLoader,
TensorDataset`` (or ``import minicnn as torch; torch.utils.data.DataLoader``) runs PyTorch data
pipelines. Batches are minicnn Tensors. Differences: worker "processes" are threads; random
numbers come from NumPy Generators (``generator=`` takes a ``numpy.random.Generator``; by
default minicnn's generator, governed by ``minicnn.manual_seed``), so shuffles are reproducible
but not PyTorch's; a data set's ``__getitems__`` may return a ready batch (minicnn's data sets
do, which runs their transforms vectorized); the DataLoader also takes ``seed=`` and keeps an
``epoch`` (see :class:`DataLoader`). :mod:`minicnn.data` re-exports the DataLoader, Subset,
random_split and default_collate from here.

.. code-block:: python

    from minicnn.utils.data import DataLoader, TensorDataset, random_split

    data = TensorDataset(images, labels)            # minicnn Tensors, (N, ...) and (N,)
    train, val = random_split(data, [0.9, 0.1])
    for x, y in DataLoader(train, batch_size=64, shuffle=True):
        ...
"""
from .collate import default_collate, default_convert
from .dataloader import DataLoader, WorkerInfo, get_worker_info
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset,
                      random_split)
from .distributed import DistributedSampler
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                      SubsetRandomSampler, WeightedRandomSampler)

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "ChainDataset",
           "Subset", "random_split", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler", "DistributedSampler",
           "DataLoader", "default_collate", "default_convert", "get_worker_info", "WorkerInfo"]

