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

Every file is checked while it is read (IDX magic number, type code, dimensions against the file
length, matching image and label counts, label range; CIFAR batch keys, shapes and dtypes). A
bad file raises :class:`CorruptedFileError` naming the file, what was expected and how to fix
it. CIFAR-10's pickles are read with an unpickler that refuses every global except the few NumPy
needs to rebuild an array, so a malicious file cannot run code.
"""
import codecs
import gzip
import operator
import os
import pickle
import zlib
from dataclasses import dataclass, field

import numpy as np
from numpy._core.multiarray import _reconstruct
from numpy._core.numeric import _frombuffer

from ..utils.data.dataset import Dataset
from .transforms import ToTensor

__all__ = ["MNIST", "FashionMNIST", "CIFAR10", "ImageFolder", "get_dataset", "DATASETS",
           "DatasetInfo", "Download", "canonical_name", "search_dirs", "download_dir",
           "cache_dir", "read_idx", "load_image", "DatasetError", "DatasetNotFoundError",
           "CorruptedFileError", "UnsafePickleError", "DownloadError", "ChecksumError"]


# ---------------------------------------------------------------- errors


class DatasetError(Exception):
    """Base class of every data set error (catch this one in a command line)."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The files are in none of the places searched; the message lists them and the ways to
    provide the data."""


class CorruptedFileError(DatasetError, ValueError):
    """A file is there but its content is wrong (truncated, bad header, inconsistent)."""


class UnsafePickleError(CorruptedFileError):
    """A CIFAR-10 pickle refers to a global other than NumPy's array reconstruction."""


class DownloadError(DatasetError, OSError):
    """A download failed (offline, HTTP error, ...); the message gives the URL and the reason."""


class ChecksumError(DatasetError, ValueError):
    """A downloaded or extracted file does not have the published MD5."""


# ---------------------------------------------------------------- metadata


@dataclass(frozen=True, eq=False)
class Download:
    """One file to download: its name, mirror URLs (tried in order), MD5 (of the file as
    downloaded, checked before it is kept) and size in bytes. The one table both
    :func:`minicnn.data.fetch` and ``minicnn data info NAME`` read."""

    filename: str
    urls: tuple
    md5: str
    size: int


@dataclass(frozen=True, eq=False)
class DatasetInfo:
    """What minicnn knows about a data set; also readable as a dict (``info["mean"]``).

    ``files`` maps each file of the data set to the MD5 of its content (of the decompressed
    content for the gzipped IDX files, so a recompressed copy such as Debian's still verifies).
    ``downloads`` are what :func:`minicnn.data.fetch` gets; ``subdirs`` the folders looked at
    under each base folder; ``archive_folder`` the folder a downloaded archive unpacks to.
    """

    name: str
    title: str
    channels: int
    image_size: tuple
    classes: tuple
    mean: tuple
    std: tuple
    train_size: int
    test_size: int
    files: dict
    downloads: tuple
    subdirs: tuple
    homepage: str
    archive_folder: str = ""
    system_dirs: tuple = ()
    apt_package: str = ""
    aliases: tuple = field(default=())

    @property
    def num_classes(self):
        return len(self.classes)

    @property
    def shape(self):
        """(C, H, W) of one image."""
        return (self.channels, *self.image_size)

    def __getitem__(self, key):
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None


_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx_downloads(bases, md5s, sizes):
    return tuple(Download(f + ".gz", tuple(b + f + ".gz" for b in bases), m, s)
                 for f, m, s in zip(_MNIST_FILES, md5s, sizes))


class _Registry(dict):
    """DATASETS: canonical names as keys; aliases ("fashion_mnist", "CIFAR-10") also look up."""

    def __missing__(self, key):
        try:
            return dict.__getitem__(self, canonical_name(key))
        except (TypeError, ValueError) as e:
            raise KeyError(str(e)) from None

    def __contains__(self, key):
        try:
            canonical_name(key)
        except (TypeError, ValueError):
            return False
        return True


DATASETS = _Registry({
    "mnist": DatasetInfo(
        name="mnist", title="MNIST", channels=1, image_size=(28, 28),
        classes=("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
                 "6 - six", "7 - seven", "8 - eight", "9 - nine"),
        mean=(0.1307,), std=(0.3081,), train_size=60000, test_size=10000,
        files=dict(zip(_MNIST_FILES, ("6bbc9ace898e44ae57da46a324031adb",
                                      "a25bea736e30d166cdddb491f175f624",
                                      "2646ac647ad5339dbf082846283269ea",
                                      "27ae3e4e09519cfbb04c329615203637"))),
        # the mirror torchvision uses (yann.lecun.com refuses downloads nowadays)
        downloads=_idx_downloads(("https://ossci-datasets.s3.amazonaws.com/mnist/",),
                                 ("f68b3c2dcbeaaa9fbdd348bbdeb94873",
                                  "d53e105ee54ea40749a09fcbcd1e9432",
                                  "9fb629c4189551a2d022fa330f9573f3",
                                  "ec29112dd5afa0611ce80d1b7f02629c"),
                                 (9912422, 28881, 1648877, 4542)),
        subdirs=("mnist", "MNIST/raw", ""), homepage="http://yann.lecun.com/exdb/mnist/"),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist", title="Fashion-MNIST", channels=1, image_size=(28, 28),
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
        mean=(0.2860,), std=(0.3530,), train_size=60000, test_size=10000,
        files=dict(zip(_MNIST_FILES, ("f4a8712d7a061bf5bd6d2ca38dc4d50a",
                                      "9018921c3c673c538a1fc5bad174d6f9",
                                      "8181f5470baa50b63fa0f6fddb340f0a",
                                      "15d484375f8d13e6eb1aabb0c3f46965"))),
        downloads=_idx_downloads(
            ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/"
             "fashion/"),
            ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
             "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
            (26421880, 29515, 4422102, 5148)),
        subdirs=("fashion-mnist", "FashionMNIST/raw", ""),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        system_dirs=("/usr/share/datasets/fashion-mnist",), apt_package="dataset-fashion-mnist",
        aliases=("fashionmnist", "fashion_mnist")),
    "cifar10": DatasetInfo(
        name="cifar10", title="CIFAR-10", channels=3, image_size=(32, 32),
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck"),
        mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
        train_size=50000, test_size=10000,
        files={"data_batch_1": "c99cafc152244af753f735de768cd75f",
               "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
               "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
               "data_batch_4": "634d18415352ddfa80567beed471001a",
               "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
               "test_batch": "40351d587109b95175f43aff81a1287e",
               "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"},
        downloads=(Download("cifar-10-python.tar.gz",
                            ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                            "c58f30108f718f92721af3b95e74349a", 170498071),),
        subdirs=("cifar10/cifar-10-batches-py", "cifar-10-batches-py",
                 "cifar10/cifar-10-batches-bin", "cifar-10-batches-bin", "cifar10", ""),
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
        archive_folder="cifar-10-batches-py", aliases=("cifar-10", "cifar_10")),
})


def canonical_name(name):
    """"mnist", "fashion-mnist" or "cifar10" for a name or alias (case-insensitive;
    "fashion_mnist", "FashionMNIST", "CIFAR-10", ...). Raises ValueError for an unknown name."""
    if not isinstance(name, str):
        raise TypeError(f"data set name must be a string, got {type(name).__name__}")
    key = name.strip().lower()
    for info in dict.values(DATASETS):
        if key == info.name or key in info.aliases:
            return info.name
    known = ", ".join(dict.keys(DATASETS))
    raise ValueError(f"unknown data set {name!r}; expected one of: {known}")


# ---------------------------------------------------------------- locating files


def cache_dir():
    """minicnn's cache folder: ``$XDG_CACHE_HOME/minicnn``, by default ``~/.cache/minicnn``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "minicnn")


def _bases(root):
    bases = []
    if root is not None:
        bases.append((os.path.expanduser(os.fspath(root)), "root"))
    if os.environ.get("MINICNN_DATA"):
        bases.append((os.path.expanduser(os.environ["MINICNN_DATA"]), "$MINICNN_DATA"))
    bases.append((cache_dir(), "cache"))
    return bases


def download_dir(name, root=None):
    """The folder where ``download=True`` and ``minicnn data fetch NAME`` put NAME's files:
    ``<base>/<name>`` for the first of ``root``, ``$MINICNN_DATA`` and the cache folder."""
    return os.path.join(_bases(root)[0][0], DATASETS[name].name)


def search_dirs(name, root=None):
    """The folders searched for data set ``name``, in order: a list of (folder, origin), origin
    being "root", "$MINICNN_DATA", "cache" or "system"."""
    info = DATASETS[name]
    found, seen = [], set()
    places = [(os.path.normpath(os.path.join(base, sub)), origin)
              for base, origin in _bases(root) for sub in info.subdirs]
    places += [(d, "system") for d in info.system_dirs]
    for folder, origin in places:
        if folder not in seen:
            seen.add(folder)
            found.append((folder, origin))
    return found


def _size_text(nbytes):
    return f"{nbytes / 1e6:.1f} MB" if nbytes >= 1e5 else f"{nbytes / 1e3:.1f} kB"


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


# ---------------------------------------------------------------- IDX files

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_maybe_gzip(path, hint=""):
    """The file's bytes, gunzipped when they start with the gzip magic number."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise CorruptedFileError(f"{path}: the gzip data is damaged or cut short ({e}). "
                                     f"{hint}".rstrip()) from None
    return raw


def read_idx(path, hint=""):
    """An IDX file (``.gz`` or not, told by content) as an ndarray of native byte order.

    Checks the magic number (``00 00 <type code> <ndim>``), the type code (0x08 uint8, 0x09
    int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64) and that the file holds exactly
    the bytes its dimensions imply; raises :class:`CorruptedFileError` (with ``hint`` appended)
    otherwise.
    """
    data = _read_maybe_gzip(path, hint)

    def bad(problem):
        return CorruptedFileError(f"{path}: {problem}. {hint}".rstrip())

    if len(data) < 4:
        raise bad(f"only {len(data)} bytes, too short for an IDX header (4-byte magic number)")
    code, ndim = data[2], data[3]
    if data[0] or data[1] or code not in _IDX_TYPES or ndim == 0:
        raise bad(f"not an IDX file: magic number 0x{data[:4].hex()}, expected 0x0000TTDD "
                  f"(TT a type code such as 08 for uint8, DD the number of dimensions)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise bad(f"cut short: {len(data)} bytes, but the header of a {ndim}-D IDX file "
                  f"takes {header}")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[code])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "cut short" if len(data) < expected else "longer than its header says"
        raise bad(f"{what}: {len(data)} bytes, but its header ({dtype.name} array of shape "
                  f"{dims}) implies {expected} bytes")
    array = np.frombuffer(data, dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


# ---------------------------------------------------------------- CIFAR-10 batches


class _Refused(pickle.UnpicklingError):
    pass


def _latin1_encode(text, encoding):
    # Python 3's protocol-2 pickles store bytes as _codecs.encode(text, "latin1")
    if encoding != "latin1":
        raise _Refused(f"_codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1")


# The only globals a CIFAR-10 batch needs: NumPy's array reconstruction, under its NumPy 1 and 2
# module names. Anything else (os.system, builtins.eval, ...) is refused before it is called.
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None


def _load_pickle(path, hint):
    """A dict from a CIFAR pickle, str keys, without executing anything but array rebuilds."""
    try:
        with open(path, "rb") as f:
            # encoding="bytes": the official batches are Python 2 pickles
            obj = _RestrictedUnpickler(f, encoding="bytes").load()
    except _Refused as e:
        raise UnsafePickleError(
            f"{path}: refused to load: the pickle calls {e}, which a CIFAR-10 batch never does "
            f"(only NumPy array reconstruction is allowed); nothing in it was executed. The file "
            f"is not a genuine CIFAR-10 batch. {hint}") from None
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged pickle fails in many ways; report all
        raise CorruptedFileError(f"{path}: not a readable CIFAR-10 pickle "
                                 f"({type(e).__name__}: {e}). {hint}") from None
    if not isinstance(obj, dict):
        raise CorruptedFileError(f"{path}: expected a pickled dict, got {type(obj).__name__}. "
                                 f"{hint}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _check_cifar_batch(path, images, labels, num_classes, hint):
    if images.ndim != 2 or images.shape[1] != 3072 or images.dtype != np.uint8:
        raise CorruptedFileError(f"{path}: 'data' must be uint8 of shape (N, 3072), got "
                                 f"{images.dtype} {tuple(images.shape)}. {hint}")
    if labels.shape != (images.shape[0],):
        raise CorruptedFileError(f"{path}: {images.shape[0]} images but {labels.size} labels. "
                                 f"{hint}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise CorruptedFileError(f"{path}: labels must lie in [0, {num_classes}), found "
                                 f"{labels.min()}..{labels.max()}. {hint}")


def _read_cifar_pickle(path, num_classes, hint):
    batch = _load_pickle(path, hint)
    if "data" not in batch or "labels" not in batch:
        raise CorruptedFileError(f"{path}: a CIFAR-10 batch has keys 'data' and 'labels', found "
                                 f"{sorted(map(str, batch))}. {hint}")
    images = batch["data"]
    if not isinstance(images, np.ndarray):
        raise CorruptedFileError(f"{path}: 'data' must be a NumPy array, got "
                                 f"{type(images).__name__}. {hint}")
    try:
        labels = np.asarray(batch["labels"], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise CorruptedFileError(f"{path}: 'labels' must be a list of integers. {hint}") from None
    _check_cifar_batch(path, images, labels, num_classes, hint)
    return images, labels


def _read_cifar_bin(path, num_classes, hint):
    with open(path, "rb") as f:
        raw = f.read()
    if not raw or len(raw) % 3073:
        raise CorruptedFileError(f"{path}: {len(raw)} bytes is not a whole number of 3073-byte "
                                 f"records (1 label byte + 3072 pixel bytes); the file is cut "
                                 f"short or not a CIFAR-10 binary batch. {hint}")
    records = np.frombuffer(raw, np.uint8).reshape(-1, 3073)
    images, labels = records[:, 1:], records[:, 0].astype(np.int64)
    _check_cifar_batch(path, images, labels, num_classes, hint)
    return images, labels


# ---------------------------------------------------------------- images (Pillow)

IMG_EXTENSIONS = (".png", ".jpg", ".jpeg")
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading PNG/JPEG files needs Pillow: pip install pillow "
                          "(or pip install 'minicnn[train]')") from None
    return Image


def load_image(path, mode=None):
    """A PNG/JPEG file as a uint8 array: ``(H, W)`` for mode "L", ``(H, W, 3)`` for "RGB"; with
    ``mode=None``, "L" for a grey image and "RGB" otherwise. Needs Pillow (ImportError naming it
    otherwise); raises CorruptedFileError for an unreadable image."""
    Image = _pil()
    try:
        with Image.open(path) as im:
            if mode is None:
                mode = "L" if im.mode in _GREY_MODES else "RGB"
            return np.array(im.convert(mode))
    except FileNotFoundError:
        raise
    except (OSError, SyntaxError, ValueError) as e:  # what Pillow raises for damaged files
        raise CorruptedFileError(f"{path}: not a readable image ({e})") from None


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
            from .download import fetch

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
            names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]
        if len(names) != self.info.num_classes:
            raise CorruptedFileError(f"{path}: expected {self.info.num_classes} class names, "
                                     f"found {len(names)}. {self._hint(path)}")
        return names


class ImageFolder(VisionDataset):
    """Images in class sub-folders (torchvision.datasets.ImageFolder): ``root/<class>/*.png``
    (also .jpg, .jpeg; sub-folders of a class folder are searched too).

    ``classes``: the sub-folder names, sorted; ``class_to_idx``; ``samples`` (and ``imgs``): a
    list of (path, class index), sorted; ``targets`` int64. Images are decoded lazily with Pillow
    (an optional extra: ImportError naming it when missing) and converted to one mode for all:
    ``mode="L"`` (grey, ``(H, W)``) or ``"RGB"`` (``(H, W, 3)``); by default "L" when every image
    is grey, else "RGB". ``__getitems__`` needs images of one size. Raises DatasetNotFoundError
    when ``root`` is missing or holds no class folder or a class folder has no image.
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
        for idx, name in enumerate(self.classes):
            found = []
            for folder, _, files in os.walk(os.path.join(root, name), followlinks=True):
                found += [os.path.join(folder, f) for f in files
                          if f.lower().endswith(IMG_EXTENSIONS)]
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
            except (OSError, SyntaxError, ValueError) as e:
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


_CLASSES = {"mnist": MNIST, "fashion-mnist": FashionMNIST, "cifar10": CIFAR10}


def get_dataset(name, root=None, train=True, transform=None, download=False):
    """The data set called ``name`` ("mnist", "fashion-mnist" (or "fashionmnist",
    "fashion_mnist"), "cifar10"); other arguments as :class:`MNIST`. Raises ValueError for an
    unknown name."""
    return _CLASSES[canonical_name(name)](root=root, train=train, transform=transform,
                                          download=download)
