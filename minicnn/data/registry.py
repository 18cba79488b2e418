"""The data-set table and the data package's errors.

:data:`DATASETS` holds what minicnn knows of each data set it can fetch (:class:`DatasetInfo`:
image shape, classes, mean/std, its files and their MD5s, the URLs to download them from, where
its files are looked for); :func:`canonical_name` resolves the aliases; :func:`search_dirs` and
:func:`download_dir` turn the table's folders into paths. The error classes of every data set
problem derive from :class:`DatasetError`.

:mod:`minicnn.data.datasets` (which reads the files) and :mod:`minicnn.data.download` (which
fetches them) both read this table; it imports neither of them.
"""
import os
from dataclasses import dataclass, field

__all__ = ["DATASETS", "DatasetInfo", "Download", "canonical_name", "search_dirs",
           "download_dir", "cache_dir", "DatasetError", "DatasetNotFoundError",
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
