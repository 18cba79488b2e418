"""Data: the MNIST, Fashion-MNIST and CIFAR-10 data sets and ImageFolder (torchvision's names),
transforms vectorized over a batch, and downloads with MD5 checks. ``DataLoader``, ``Subset``,
``random_split`` and ``default_collate`` are :mod:`minicnn.utils.data`'s (``torch.utils.data``'s),
re-exported here.

.. code-block:: python

    from minicnn.data import DataLoader, get_dataset, DATASETS, transforms as T

    stats = DATASETS["fashion-mnist"]
    train = get_dataset("fashion-mnist", train=True, transform=T.Compose([
        T.ToTensor(), T.Normalize(stats.mean, stats.std),
        T.RandomCrop(28, padding=2), T.RandomHorizontalFlip()]))
    for x, y in DataLoader(train, batch_size=128, shuffle=True, seed=0):
        ...   # x: float32 Tensor (128, 1, 28, 28), y: int64 Tensor (128,)
"""
from . import transforms
from .datasets import (CIFAR10, DATASETS, MNIST, ChecksumError, CorruptedFileError, DatasetError,
                       DatasetInfo, DatasetNotFoundError, DownloadError, FashionMNIST, ImageFolder,
                       UnsafePickleError, cache_dir, canonical_name, download_dir, get_dataset,
                       load_image, read_idx, search_dirs)
from .download import fetch, info, verify
from ..utils.data import DataLoader, Subset, default_collate, random_split

__all__ = ["transforms", "MNIST", "FashionMNIST", "CIFAR10", "ImageFolder", "get_dataset",
           "DATASETS", "DatasetInfo", "canonical_name", "search_dirs", "download_dir",
           "cache_dir", "read_idx", "load_image", "fetch", "info", "verify", "DataLoader",
           "Subset", "random_split", "default_collate", "DatasetError", "DatasetNotFoundError",
           "CorruptedFileError", "UnsafePickleError", "DownloadError", "ChecksumError"]
