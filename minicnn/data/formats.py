"""Readers of the data set file formats; each checks the file as it reads it.

- IDX (MNIST, Fashion-MNIST), gzipped or not: :func:`read_idx` checks the magic number, the type
  code and the dimensions against the file length.
- CIFAR-10 batches: the python pickles, read with an unpickler that refuses every global except
  the few NumPy needs to rebuild an array (a malicious file cannot run code), and the binary
  ``.bin`` records; both checked for keys, shapes, dtypes and the label range.
- PNG/JPEG with Pillow (an optional extra): :func:`load_image`.

A bad file raises :class:`~minicnn.data.CorruptedFileError` naming the file and what was
expected, with the caller's ``hint`` (how to get a good copy) appended; a pickle that names a
global other than NumPy's raises :class:`~minicnn.data.UnsafePickleError` (a subclass).

A hostile file costs time and memory bounded by its size: an IDX header is checked before the
data is read, and gzip data is inflated no further than the header promises (a small file that
inflates to gigabytes is refused after the header's bytes); a pickle is checked before it is
unpickled (:func:`~minicnn.serialization_torch.check_pickle`: a shared-reference bomb, a huge memo
index, a declared length past its end), and the unpickler builds no array larger than its data;
Pillow's decompression-bomb check (``PIL.Image.MAX_IMAGE_PIXELS``) refuses huge images.
"""
import codecs
import contextlib
import gzip
import io
import math
import os
import pickle
import struct
import zlib

import numpy as np
from numpy._core.multiarray import _reconstruct, scalar
from numpy._core.numeric import _frombuffer

from ..serialization_torch import PICKLE_COST_PER_BYTE, PICKLE_COST_SLACK, check_pickle
from .registry import CorruptedFileError, UnsafePickleError

__all__ = ["read_idx", "load_image", "IMG_EXTENSIONS"]


# ---------------------------------------------------------------- IDX files

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# deflate never inflates more than about 1032:1: the most a gzip file of n bytes can hold
_DEFLATE_RATIO = 1032
_GZIP_MAGIC = b"\x1f\x8b"
# what gzip and zlib raise for damaged data (a damaged header is a BadGzipFile, an OSError)
_GZIP_ERRORS = (OSError, EOFError, zlib.error)
_READ_CHUNK = 1 << 24


@contextlib.contextmanager
def _open_maybe_gzip(path, hint=""):
    """A binary stream of the file's content, gunzipped (as it is read) when it starts with
    the gzip magic number; yields ``(stream, size, gz)``: the file size in bytes and whether it
    is gzip data. Damaged gzip data raises CorruptedFileError when it is read."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if f.read(2) != _GZIP_MAGIC:
            f.seek(0)
            yield f, size, False
            return
        f.seek(0)
        try:
            with gzip.GzipFile(fileobj=f, mode="rb") as stream:
                yield stream, size, True
        except _GZIP_ERRORS as e:
            raise CorruptedFileError(f"{path}: the gzip data is damaged or cut short ({e}). "
                                     f"{hint}".rstrip()) from None


def _read_upto(stream, n):
    """Up to ``n`` bytes of ``stream``, fewer only at its end."""
    parts, left = [], n
    while left:
        chunk = stream.read(min(left, _READ_CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_idx(path, hint=""):
    """An IDX file (``.gz`` or not, told by content) as an ndarray of native byte order.

    Checks the magic number (``00 00 <type code> <ndim>``), the type code (0x08 uint8, 0x09
    int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64) and that the file holds exactly
    the bytes its dimensions imply; raises :class:`CorruptedFileError` (with ``hint`` appended)
    otherwise. The header is checked before the data is read: a header promising more than the
    file can hold (more than 1032 times its size for gzip data, deflate's limit) is refused at
    once, and gzip data is inflated up to the size the header promises and one byte more, so a
    small file that inflates to gigabytes costs neither that memory nor that time.
    """
    def bad(problem):
        return CorruptedFileError(f"{path}: {problem}. {hint}".rstrip())

    with _open_maybe_gzip(path, hint) as (stream, size, gz):
        data = _read_upto(stream, 4)
        if len(data) < 4:
            raise bad(f"only {len(data)} bytes, too short for an IDX header (4-byte magic "
                      "number)")
        code, ndim = data[2], data[3]
        if data[0] or data[1] or code not in _IDX_TYPES or ndim == 0:
            raise bad(f"not an IDX file: magic number 0x{data[:4].hex()}, expected 0x0000TTDD "
                      f"(TT a type code such as 08 for uint8, DD the number of dimensions)")
        header = 4 + 4 * ndim
        data += _read_upto(stream, header - 4)
        if len(data) < header:
            raise bad(f"cut short: {len(data)} bytes, but the header of a {ndim}-D IDX file "
                      f"takes {header}")
        dims = struct.unpack(f">{ndim}I", data[4:])
        dtype = np.dtype(_IDX_TYPES[code])
        # Python ints: a product of 32-bit dimensions cannot wrap around
        expected = header + math.prod(dims) * dtype.itemsize
        shape = f"{dtype.name} array of shape {dims}"
        if not gz and expected > size:
            raise bad(f"cut short: {size} bytes, but its header ({shape}) implies {expected} "
                      "bytes")
        if gz and expected > size * _DEFLATE_RATIO + 1024:
            raise bad(f"cut short: its header ({shape}) implies {expected} bytes, more than "
                      f"{size} bytes of gzip data can inflate to")
        data += _read_upto(stream, expected - header)
        if len(data) < expected:
            raise bad(f"cut short: {len(data)} bytes, but its header ({shape}) implies "
                      f"{expected} bytes")
        if stream.read(1):
            raise bad(f"longer than its header says: more than {expected} bytes, but its header "
                      f"({shape}) implies {expected} bytes")
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


def _empty_array(subtype, shape, dtype):
    # NumPy pickles an array as _reconstruct(ndarray, (0,), b"b") filled by its state (BUILD);
    # a larger shape would allocate memory that the file never pays for
    if subtype is not np.ndarray or shape != (0,):
        raise ValueError(f"numpy _reconstruct({_short(subtype)}, {_short(shape)}) builds "
                         "something other than an empty ndarray to fill")
    return _reconstruct(subtype, shape, dtype)


def _numpy_scalar(dtype, data):
    # how a NumPy integer or float (a label such as np.int64(3)) is pickled
    if not (isinstance(dtype, np.dtype) and dtype.kind in "biufc" and type(data) is bytes
            and len(data) == dtype.itemsize):
        raise ValueError(f"numpy scalar({_short(dtype)}, {_short(data)}) is not a number")
    return scalar(dtype, data)


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# The only globals a CIFAR-10 batch needs: NumPy's array and scalar reconstruction, under their
# NumPy 1 and 2 module names. Anything else (os.system, builtins.eval, ...) is refused before it
# is called.
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _empty_array,
    ("numpy._core.multiarray", "_reconstruct"): _empty_array,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
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
    """A dict from a CIFAR pickle, str keys, without executing anything but array rebuilds.

    Before anything is unpickled, :func:`~minicnn.serialization_torch.check_pickle` bounds what
    the pickle builds by its size (a shared-reference bomb, a huge memo index, a length past the
    end are refused as CorruptedFileError); then the restricted unpickler refuses any global but
    NumPy's (UnsafePickleError). The values are counted as built, so a caller must still check
    the type of each value it uses (a list filled after it was memoized is counted empty)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        check_pickle(data, PICKLE_COST_PER_BYTE * len(data) + PICKLE_COST_SLACK)
    except ValueError as e:
        raise CorruptedFileError(f"{path}: not a readable CIFAR-10 pickle: {e}. {hint}") from None
    try:
        # encoding="bytes": the official batches are Python 2 pickles
        obj = _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except _Refused as e:
        raise UnsafePickleError(
            f"{path}: refused to load: the pickle calls {e}, which a CIFAR-10 batch never does "
            f"(only NumPy array reconstruction is allowed); nothing in it was executed. The file "
            f"is not a genuine CIFAR-10 batch. {hint}") from None
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
    labels = batch["labels"]
    # checked before NumPy walks it: a list of lists could be a shared-reference bomb
    if isinstance(labels, np.ndarray):
        integers = labels.dtype.kind in "iu"
    else:
        integers = type(labels) in (list, tuple) and all(
            isinstance(v, (int, np.integer)) for v in labels)
    try:
        if not integers:
            raise TypeError
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError, OverflowError):
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


def _pil_errors(Image):
    """What Pillow raises for a file it cannot or will not read: damaged data (OSError,
    SyntaxError, ValueError) and decompression bombs, images of more than
    ``Image.MAX_IMAGE_PIXELS`` pixels (DecompressionBombError past twice that; the
    DecompressionBombWarning below it, when warnings are turned into errors)."""
    return (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning)


def load_image(path, mode=None):
    """A PNG/JPEG file as a uint8 array: ``(H, W)`` for mode "L", ``(H, W, 3)`` for "RGB"; with
    ``mode=None``, "L" for a grey image and "RGB" otherwise. Needs Pillow (ImportError naming it
    otherwise); raises FileNotFoundError for a missing file, CorruptedFileError for an unreadable
    image and for a decompression bomb (more than twice ``PIL.Image.MAX_IMAGE_PIXELS`` pixels,
    refused by Pillow before it decodes anything)."""
    Image = _pil()
    try:
        with Image.open(path) as im:
            if mode is None:
                mode = "L" if im.mode in _GREY_MODES else "RGB"
            return np.array(im.convert(mode))
    except FileNotFoundError:
        raise
    except _pil_errors(Image) as e:
        raise CorruptedFileError(f"{path}: not a readable image ({e})") from None

