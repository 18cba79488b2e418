"""Data: the MNIST, Fashion-MNIST and CIFAR-10 data sets and ImageFolder (torchvision's names),
transforms vectorized over a batch, and downloads with MD5 checks. ``DataLoader``, ``Subset``,
``random_split`` and ``default_collate`` are :mod:`minicnn.utils.data`'s (``torch.utils.data``'s),
re-exported here.

Modules: :mod:`~minicnn.data.registry` (the table of data sets, :data:`DATASETS`, and the error
classes), :mod:`~minicnn.data.formats` (the IDX, CIFAR-10 and PNG/JPEG readers),
:mod:`~minicnn.data.datasets` (the data set classes), :mod:`~minicnn.data.download` (``fetch``,
``info``) and :mod:`~minicnn.data.transforms`.

.. code-block:: python

    from minicnn.data import DataLoader, get_dataset, DATASETS, transforms as T

    stats = DATASETS["fashion-mnist"]
    train = get_dataset("fashion-mnist", train=True, transform=T.Compose([
        T.ToTensor(), T.Normalize(stats.mean, stats.std),
        T.RandomCrop(28, padding=2), T.RandomHorizontalFlip()]))
    for x, y in DataLoader(train, batch_size=128, shuffle=True, seed=0):
        ...   # x: float32 Tensor (128, 1, 28, 28), y: int64 Tensor (128,)
"""
from ..utils.data import DataLoader, Subset, default_collate, random_split
from . import datasets, download, formats, registry, transforms
from .datasets import CIFAR10, MNIST, FashionMNIST, ImageFolder, get_dataset
from .download import fetch, info, verify
from .formats import load_image, read_idx
from .registry import (DATASETS, ChecksumError, CorruptedFileError, DatasetError, DatasetInfo,
                       DatasetNotFoundError, DownloadError, UnsafePickleError, cache_dir,
                       canonical_name, download_dir, search_dirs)

__all__ = ["transforms", "MNIST", "FashionMNIST", "CIFAR10", "ImageFolder", "get_dataset",
           "DATASETS", "DatasetInfo", "canonical_name", "search_dirs", "download_dir",
           "cache_dir", "read_idx", "load_image", "fetch", "info", "verify", "DataLoader",
           "Subset", "random_split", "default_collate", "DatasetError", "DatasetNotFoundError",
           "CorruptedFileError", "UnsafePickleError", "DownloadError", "ChecksumError",
           # the modules (listed so that the API reference has a page for each)
           "datasets", "download", "formats", "registry"]
