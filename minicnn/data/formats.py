"""Readers of the data set file formats; each checks the file as it reads it.

- IDX (MNIST, Fashion-MNIST), gzipped or not: :func:`read_idx` checks the magic number, the type
  code and the dimensions against the file length.
- CIFAR-10 batches: the python pickles, read with an unpickler that refuses every global except
  the few NumPy needs to rebuild an array (a malicious file cannot run code), and the binary
  ``.bin`` records; both checked for keys, shapes, dtypes and the label range.
- PNG/JPEG with Pillow (an optional extra): :func:`load_image`.

A bad file raises :class:`~minicnn.data.CorruptedFileError` naming the file and what was
expected, with the caller's ``hint`` (how to get a good copy) appended.
"""
import codecs
import gzip
import pickle
import zlib

import numpy as np
from numpy._core.multiarray import _reconstruct
from numpy._core.numeric import _frombuffer

from .registry import CorruptedFileError, UnsafePickleError

__all__ = ["read_idx", "load_image", "IMG_EXTENSIONS"]


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

