"""Image data sets with torchvision's classes, signatures and attributes.

:class:`MNIST`, :class:`FashionMNIST` (IDX files, gzipped or not), :class:`CIFAR10` (the python
pickle batches, or the binary ``.bin`` batches) and :class:`ImageFolder` (class sub-folders of
PNG/JPEG files, read with Pillow). The fixed sets decode every image once, into ``data``:

- ``data``: uint8 ndarray, ``(N, H, W)`` for the grey sets, ``(N, H, W, 3)`` for CIFAR-10;
- ``targets``: int64 ndarray ``(N,)``; ``classes``: list of str; ``class_to_idx``: dict;
- ``ds[i]`` -> ``(image, label)``: the transform's output, or the uint8 image without one;
- ``ds.__getitems__(indices)`` -> ``(images, labels)``: float32 ``(N, C, H, W)`` and int64
  ``(N,)``, the whole batch transformed in one call (ToTensor when there is no transform). The
  DataLoader uses it, as PyTorch's does.

Where the files are looked for, in order (the first folder holding the requested split wins):
``root``, then ``$MINICNN_DATA``, then the cache ``~/.cache/minicnn`` (``$XDG_CACHE_HOME``), each
as ``<base>/<name>`` (``fashion-mnist``), torchvision's layout (``<base>/FashionMNIST/raw``,
``<base>/cifar-10-batches-py``) and ``<base>`` itself; then system folders (Debian's
``dataset-fashion-mnist`` package: ``/usr/share/datasets/fashion-mnist``). Nothing is downloaded
unless ``download=True`` (or ``minicnn data fetch NAME``), see :mod:`minicnn.data.download`.

Every file is checked while it is read (:mod:`minicnn.data.formats`: IDX magic number, type code,
dimensions against the file length; CIFAR batch keys, shapes and dtypes; here: matching image and
label counts, label range). A bad file raises :class:`CorruptedFileError` naming the file, what
was expected and how to fix it. CIFAR-10's pickles are read with an unpickler that refuses every
global except the few NumPy needs to rebuild an array, so a malicious file cannot run code. The
table of data sets (:data:`DATASETS`) and the error classes are :mod:`minicnn.data.registry`'s,
re-exported here.
"""
import operator
import os

import numpy as np

from ..utils.data.dataset import Dataset
from .download import fetch
from .formats import (
    _GREY_MODES,
    IMG_EXTENSIONS,
    _load_pickle,
    _pil,
    _pil_errors,
    _read_cifar_bin,
    _read_cifar_pickle,
    load_image,
    read_idx,
)
from .registry import (
    _MNIST_FILES,
    DATASETS,
    ChecksumError,
    CorruptedFileError,
    DatasetError,
    DatasetInfo,
    DatasetNotFoundError,
    Download,
    DownloadError,
    UnsafePickleError,
    _size_text,
    cache_dir,
    canonical_name,
    download_dir,
    search_dirs,
)
from .transforms import ToTensor

__all__ = ["MNIST", "FashionMNIST", "CIFAR10", "ImageFolder", "get_dataset", "DATASETS",
           "DatasetInfo", "Download", "canonical_name", "search_dirs", "download_dir",
           "cache_dir", "read_idx", "load_image", "DatasetError", "DatasetNotFoundError",
           "CorruptedFileError", "UnsafePickleError", "DownloadError", "ChecksumError"]


# ---------------------------------------------------------------- messages


def _not_found(info, split, wanted, searched, root):
    lines = [f"{info.title} ({split} set) not found: looked for {wanted} in"]
    lines += [f"  {folder}  [{origin}: {note}]" for folder, origin, note in searched]
    size = sum(d.size for d in info.downloads)
    lines += ["Ways to provide it:",
              f"  - download it ({_size_text(size)}) with download=True, or run "
              f"`minicnn data fetch {info.name}`; it goes to {download_dir(info.name, root)}",
              "  - put the files in a folder and pass root=FOLDER, or set MINICNN_DATA=FOLDER "
              f"(source: {info.homepage})"]
    if info.apt_package:
        where = f" (installs {info.system_dirs[0]})" if info.system_dirs else ""
        lines.append(f"  - on Debian/Ubuntu: sudo apt-get install {info.apt_package}{where}")
    return "\n".join(lines)


def _fix_hint(info, path):
    for d in info.system_dirs:
        if os.path.abspath(path).startswith(os.path.join(d, "")):
            return f"Reinstall it: sudo apt-get install --reinstall {info.apt_package}."
    return (f"Delete {path} and download it again: `minicnn data fetch {info.name}` "
            "(or download=True).")


# ---------------------------------------------------------------- data sets


class VisionDataset(Dataset):
    """Shared behaviour: indexing, the batched ``__getitems__`` path and the repr."""

    train = True

    def __init__(self, root, transform):
        if transform is not None and not callable(transform):
            raise TypeError(f"{type(self).__name__}: transform must be callable or None, "
                            f"got {transform!r}")
        self.root = root
        self.transform = transform

    def __len__(self):
        return len(self.targets)

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}

    def _index(self, index):
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(f"{type(self).__name__} index must be an integer, got "
                            f"{type(index).__name__}") from None
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"{type(self).__name__} index {i} out of range for {n} images")
        return i % n

    def _indices(self, indices):
        idx = np.asarray(indices)
        if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
            raise TypeError(f"{type(self).__name__}.__getitems__: indices must be a 1-D sequence "
                            f"of integers, got {indices!r:.80}")
        idx = idx.astype(np.intp, copy=False)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = idx[(idx < -n) | (idx >= n)][0]
            raise IndexError(f"{type(self).__name__} index {bad} out of range for {n} images")
        return idx

    def __getitem__(self, index):
        i = self._index(index)
        image = self._image(i)
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[i])

    def __getitems__(self, indices):
        """Images float32 ``(N, C, H, W)`` and labels int64 ``(N,)`` for ``indices``.

        A transform that takes batches (every minicnn transform, and Compose of them) runs once on
        the uint8 ``(N, H, W, C)`` batch; any other callable runs per image, as in ``ds[i]``.
        Without a transform, or when it leaves uint8 images, ToTensor finishes the job.
        """
        idx = self._indices(indices)
        batch = self._batch(idx)  # uint8 (N, H, W, C)
        t = self.transform
        if t is None:
            images = batch
        elif getattr(t, "batched", False):
            images = t(batch)
        else:
            singles = batch[..., 0] if batch.shape[-1] == 1 else batch
            images = np.stack([np.asarray(t(img)) for img in singles]) if len(idx) else batch
            if images.dtype == np.uint8 and images.ndim == 3:
                images = images[..., None]
        images = np.asarray(images)
        if images.dtype == np.uint8:
            images = ToTensor()(images)
        if images.ndim != 4 or not np.issubdtype(images.dtype, np.floating):
            raise ValueError(f"{type(self).__name__}: the transform gave {images.dtype} images of "
                             f"batch shape {tuple(images.shape)}; expected float (N, C, H, W)")
        return images.astype(np.float32, copy=False), self.targets[idx]

    def _image(self, i):
        return self.data[i]

    def _batch(self, idx):
        images = self.data[idx]
        return images[..., None] if images.ndim == 3 else images

    def __repr__(self):
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}",
                 f"    Root location: {getattr(self, 'folder', self.root)}"]
        if hasattr(self, "folder"):
            lines.append(f"    Split: {'Train' if self.train else 'Test'}")
        if self.transform is not None:
            lines.append("    Transform: " + repr(self.transform).replace("\n", "\n    "))
        return "\n".join(lines)


class _KnownDataset(VisionDataset):
    """A data set of :data:`DATASETS`: locate, optionally download, then read."""

    name = ""

    def __init__(self, root=None, train=True, transform=None, download=False):
        super().__init__(root, transform)
        self.train = bool(train)
        self.info = DATASETS[self.name]
        try:
            self.folder, paths = self._search(root)
        except DatasetNotFoundError:
            if not download:
                raise
            fetch(self.name, root)
            self.folder, paths = self._search(root)
        self._read(paths)

    def _search(self, root):
        searched = []
        for folder, origin in search_dirs(self.name, root):
            if not os.path.isdir(folder):
                searched.append((folder, origin, "no such folder"))
                continue
            paths, missing = self._probe(folder)
            if paths is not None:
                return folder, paths
            searched.append((folder, origin, "lacks " + missing))
        split = "training" if self.train else "test"
        raise DatasetNotFoundError(_not_found(self.info, split, self._wanted(), searched, root))

    def _hint(self, path):
        return _fix_hint(self.info, path)


class MNIST(_KnownDataset):
    """MNIST handwritten digits (torchvision.datasets.MNIST): 60,000 training and 10,000 test
    28x28 grey images, 10 classes. ``data`` uint8 (N, 28, 28), ``targets`` int64 (N,).

    ``root``: a folder holding the IDX files (``train-images-idx3-ubyte[.gz]``, ...), directly,
    in ``root/mnist`` or in torchvision's ``root/MNIST/raw``; None searches ``$MINICNN_DATA``, the
    cache and system folders (see the module docstring). ``train``: the training or the test
    split. ``transform``: a callable on the uint8 image (and on batches, see __getitems__).
    ``download``: fetch the files (with MD5 checks) when they are found nowhere.

    Raises DatasetNotFoundError (listing the places searched and the ways to provide the data),
    CorruptedFileError for a damaged file, DownloadError/ChecksumError when a download fails.
    """

    name = "mnist"

    def _stems(self):
        return _MNIST_FILES[:2] if self.train else _MNIST_FILES[2:]

    def _wanted(self):
        return " and ".join(f"{s}[.gz]" for s in self._stems())

    def _probe(self, folder):
        paths, missing = [], []
        for stem in self._stems():
            path = next((p for p in (os.path.join(folder, stem), os.path.join(folder, stem + ".gz"))
                         if os.path.isfile(p)), None)
            paths.append(path)
            if path is None:
                missing.append(stem + "[.gz]")
        return (None, ", ".join(missing)) if missing else (paths, "")

    def _read(self, paths):
        image_path, label_path = paths
        images = read_idx(image_path, self._hint(image_path))
        labels = read_idx(label_path, self._hint(label_path))
        size = self.info.image_size
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != size:
            raise CorruptedFileError(
                f"{image_path}: expected uint8 images of shape (N, {size[0]}, {size[1]}) "
                f"(magic number 0x00000803), got {images.dtype} {tuple(images.shape)}. "
                f"{self._hint(image_path)}")
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise CorruptedFileError(
                f"{label_path}: expected a 1-D uint8 array of labels (magic number 0x00000801), "
                f"got {labels.dtype} {tuple(labels.shape)}. {self._hint(label_path)}")
        if len(images) != len(labels):
            raise CorruptedFileError(
                f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} "
                f"labels; the two must match. {self._hint(label_path)}")
        if labels.size and labels.max() >= self.info.num_classes:
            raise CorruptedFileError(
                f"{label_path}: labels must lie in [0, {self.info.num_classes}), found "
                f"{labels.max()}. {self._hint(label_path)}")
        self.data = images
        self.targets = labels.astype(np.int64)
        self.classes = list(self.info.classes)
        self.files = [image_path, label_path]


class FashionMNIST(MNIST):
    """Fashion-MNIST (torchvision.datasets.FashionMNIST): Zalando's 28x28 grey images of 10 kinds
    of clothing, 60,000 training and 10,000 test. Same files, arguments, attributes and errors as
    :class:`MNIST`; also found in torchvision's ``root/FashionMNIST/raw`` and in the folder of
    Debian's ``dataset-fashion-mnist`` package (/usr/share/datasets/fashion-mnist)."""

    name = "fashion-mnist"


class CIFAR10(_KnownDataset):
    """CIFAR-10 (torchvision.datasets.CIFAR10): 50,000 training and 10,000 test 32x32 colour
    images in 10 classes. ``data`` uint8 (N, 32, 32, 3), ``targets`` int64 (N,).

    Reads the python version (``cifar-10-batches-py/data_batch_1`` ... ``data_batch_5``,
    ``test_batch``, class names from ``batches.meta``) with a restricted unpickler that refuses any
    global but NumPy's array reconstruction, or the binary version
    (``cifar-10-batches-bin/data_batch_1.bin`` ..., ``test_batch.bin``: records of 1 label byte
    and 3072 pixel bytes, class names from ``batches.meta.txt``). ``root`` may hold either folder
    (torchvision's layout), or ``root/cifar10/<folder>``, or the batch files directly. Arguments
    and errors as :class:`MNIST`; a pickle that would run code raises UnsafePickleError.
    """

    name = "cifar10"

    def _names(self):
        return [f"data_batch_{i}" for i in range(1, 6)] if self.train else ["test_batch"]

    def _wanted(self):
        names = self._names()
        shown = f"{names[0]} ... {names[-1]}" if len(names) > 1 else names[0]
        return f"{shown} (python version) or the same names + .bin (binary version)"

    def _probe(self, folder):
        for suffix in ("", ".bin"):
            paths = [os.path.join(folder, n + suffix) for n in self._names()]
            if all(os.path.isfile(p) for p in paths):
                return (suffix, paths), ""
        missing = [n for n in self._names() if not os.path.isfile(os.path.join(folder, n))]
        return None, ", ".join(missing)

    def _read(self, found):
        suffix, paths = found
        reader = _read_cifar_bin if suffix else _read_cifar_pickle
        parts = [reader(p, self.info.num_classes, self._hint(p)) for p in paths]
        images = np.concatenate([p[0] for p in parts])
        self.data = np.ascontiguousarray(images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        self.targets = np.concatenate([p[1] for p in parts])
        self.classes = self._read_classes(suffix)
        self.files = paths

    def _read_classes(self, suffix):
        default = list(self.info.classes)
        if suffix:
            path = os.path.join(self.folder, "batches.meta.txt")
            if not os.path.isfile(path):
                return default
            with open(path, encoding="utf-8", errors="replace") as f:
                names = [line.strip() for line in f if line.strip()]
        else:
            path = os.path.join(self.folder, "batches.meta")
            if not os.path.isfile(path):
                return default
            names = _load_pickle(path, self._hint(path)).get("label_names", [])
            if type(names) not in (list, tuple) or not all(isinstance(n, (bytes, str))
                                                           for n in names):
                raise CorruptedFileError(f"{path}: 'label_names' must be a list of strings. "
                                         f"{self._hint(path)}")
            names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names]
        if len(names) != self.info.num_classes:
            raise CorruptedFileError(f"{path}: expected {self.info.num_classes} class names, "
                                     f"found {len(names)}. {self._hint(path)}")
        return names


class ImageFolder(VisionDataset):
    """Images in class sub-folders (torchvision.datasets.ImageFolder): ``root/<class>/*.png``
    (also .jpg, .jpeg; sub-folders of a class folder are searched too).

    ``classes``: the sub-folder names, sorted; ``class_to_idx``; ``samples`` (and ``imgs``): a
    list of (path, class index), sorted; ``targets`` int64. Symbolic links are followed, as
    torchvision does (a class folder or a sub-folder may be a link), except a link to a folder
    already searched, to the root or one of its ancestors, or to another class folder: a link
    to ``..`` neither loops nor puts another class's images under this label. Images are
    decoded lazily with Pillow (an optional extra: ImportError naming it when missing) and
    converted to one mode for all: ``mode="L"`` (grey, ``(H, W)``) or ``"RGB"`` (``(H, W, 3)``);
    by default "L" when every image is grey, else "RGB". ``__getitems__`` needs images of one
    size. Raises DatasetNotFoundError when ``root`` is missing or holds no class folder or a
    class folder has no image.
    """

    def __init__(self, root, transform=None, mode=None):
        super().__init__(root, transform)
        root = os.path.expanduser(os.fspath(root))
        if not os.path.isdir(root):
            raise DatasetNotFoundError(f"ImageFolder: {root} is not a folder")
        self.classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
        if not self.classes:
            raise DatasetNotFoundError(f"ImageFolder: no class sub-folder in {root}; expected "
                                       f"{root}/<class name>/<image>.png")
        self.samples = []
        # the root, its ancestors and the class folders: no walk enters them through a link
        skip = {_identity(os.path.join(root, name)) for name in self.classes}
        folder = os.path.realpath(root)
        while True:
            skip.add(_identity(folder))
            if os.path.dirname(folder) == folder:
                break
            folder = os.path.dirname(folder)
        for idx, name in enumerate(self.classes):
            found = _images_under(os.path.join(root, name), skip)
            if not found:
                raise DatasetNotFoundError(f"ImageFolder: no image in {os.path.join(root, name)}; "
                                           f"supported extensions: {', '.join(IMG_EXTENSIONS)}")
            self.samples += [(p, idx) for p in sorted(found)]
        self.imgs = self.samples
        self.targets = np.array([t for _, t in self.samples], dtype=np.int64)
        if mode not in (None, "L", "RGB"):
            raise ValueError(f"ImageFolder: mode must be None, 'L' or 'RGB', got {mode!r}")
        self.mode = mode if mode is not None else self._common_mode()

    def _common_mode(self):
        Image = _pil()
        for path, _ in self.samples:
            try:
                with Image.open(path) as im:  # reads the header only
                    if im.mode not in _GREY_MODES:
                        return "RGB"
            except _pil_errors(Image) as e:
                raise CorruptedFileError(f"{path}: not a readable image ({e})") from None
        return "L"

    def _image(self, i):
        return load_image(self.samples[i][0], self.mode)

    def _batch(self, idx):
        images = [self._image(i) for i in idx]
        shapes = {im.shape for im in images}
        if len(shapes) > 1:
            a, b = images[0].shape, next(s for s in shapes if s != images[0].shape)
            raise ValueError(f"ImageFolder: a batch needs images of one size, but "
                             f"{self.samples[idx[0]][0]} is {a[:2]} and another is {b[:2]}")
        if not images:
            c = 1 if self.mode == "L" else 3
            return np.zeros((0, 0, 0, c), np.uint8)
        batch = np.stack(images)
        return batch[..., None] if batch.ndim == 3 else batch


def _identity(path):
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _images_under(folder, skip):
    """The paths of the image files under ``folder``, sub-folders included, following links to
    folders except to one in ``skip`` (identities ``(st_dev, st_ino)``) or already visited, so
    that every folder is searched once and links cannot loop. Unreadable folders and broken
    links are passed over, as ``os.walk`` does."""
    found, seen, todo = [], set(skip), [folder]
    while todo:
        try:
            entries = list(os.scandir(todo.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir():
                    st = entry.stat()
                    if (st.st_dev, st.st_ino) not in seen:
                        seen.add((st.st_dev, st.st_ino))
                        todo.append(entry.path)
                elif entry.is_file() and entry.name.lower().endswith(IMG_EXTENSIONS):
                    found.append(entry.path)
            except OSError:
                continue
    return found


_CLASSES = {"mnist": MNIST, "fashion-mnist": FashionMNIST, "cifar10": CIFAR10}


def get_dataset(name, root=None, train=True, transform=None, download=False):
    """The data set called ``name`` ("mnist", "fashion-mnist" (or "fashionmnist",
    "fashion_mnist"), "cifar10"); other arguments as :class:`MNIST`. Raises ValueError for an
    unknown name."""
    return _CLASSES[canonical_name(name)](root=root, train=train, transform=transform,
                                          download=download)
