"""PyTorch's checkpoint format (``torch.save`` since PyTorch 1.6), written and read without PyTorch.

:func:`minicnn.save` writes it for paths ending in ``.pt`` or ``.pth``; :func:`minicnn.load` reads
it from any file that holds it, whatever the name (``.bin`` included). PyTorch is never imported:
the pickle is written through stand-in objects that name PyTorch's globals, and read through an
unpickler that admits only tensor rebuilds, so loading a file runs none of its code.

On-disk format
--------------
A zip archive, records stored (not compressed), all in one folder: ``archive/`` here; PyTorch
names it after the file (``model/`` for ``model.pt``), and readers take the folder of
``data.pkl``. Records, in PyTorch's order:

- ``archive/data.pkl``: the object, pickled with protocol 2. A tensor is the call
  ``torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
  OrderedDict())`` (``size``, ``stride`` and the offset in elements); a Parameter is
  ``torch._utils._rebuild_parameter(tensor, requires_grad, OrderedDict())``; a dtype without a
  storage class (uint16, uint32, uint64) is ``torch._utils._rebuild_tensor_v3(storage, ...,
  OrderedDict(), torch.uint16)``. Dicts are ``dict`` or ``collections.OrderedDict``.
- A storage is a persistent id (pickle's BINPERSID): the tuple ``("storage", torch.FloatStorage,
  "0", "cpu", numel)``: a global naming its element type (DoubleStorage, FloatStorage,
  HalfStorage, BFloat16Storage, LongStorage, IntStorage, ShortStorage, CharStorage, ByteStorage,
  BoolStorage; ``torch.storage.UntypedStorage`` for raw bytes), its key, the device it was on
  (``"cpu"``, ``"cuda:0"``) and its length in elements (in bytes for UntypedStorage).
- ``archive/.format_version`` (``1``), ``archive/.storage_alignment`` (``64``),
  ``archive/byteorder`` (``little`` or ``big``: the byte order of every storage; files written
  before PyTorch 2.1 lack it, and are little-endian).
- ``archive/data/<key>``: each storage's bytes, keys ``0``, ``1``, ... in pickling order.
- ``archive/version`` (``3`` and a newline) and ``archive/.data/serialization_id`` (40 digits
  that identify the content).

Each record's data starts at a multiple of 64 bytes, padded by an extra field with id ``FB`` in
its local header, so that a reader can map storages into memory.

Writing: tensors that view one block of memory (the same tensor saved twice, a weight and its
transpose or a slice) share one storage; any other tensor gets a storage of its own, holding just
its elements. Storages are written little-endian; a tensor's location is ``"cuda:N"`` for a
minicnn CUDA tensor, else ``"cpu"``. Only dict (str, int, float, bool or None keys), OrderedDict,
list, tuple, Tensor, Parameter, int, float, bool, str and None can be saved (no NumPy arrays or
scalars: ``torch.load(path, weights_only=True)`` refuses them). The pickle is written by Python's
pure-Python pickler (``pickle._Pickler``), whose ``save_global`` can name a global that does not
exist here; the alignment padding needs the archive's write position (``ZipFile.fp.tell()``).

Reading: ``data.pkl`` goes through a restricted unpickler: the only globals it admits are the
three rebuild functions above, the storage classes, ``torch.storage.UntypedStorage``, dtypes
(``torch.float32`` ...) and ``collections.OrderedDict``; any other global (``os.system``, a class
of a pickled model) is refused by name before anything is called. Storage lengths are checked
against the sizes of their records, and every view against its storage, before any memory is
allocated. Tensors come back as minicnn Tensors (Parameters) with their dtype, shape and
requires_grad: bfloat16 as float32 (exact: a bfloat16 is the top half of a float32), float16 as
NumPy float16, a tensor that is a contiguous view of a storage as a view of it (so tensors that
shared memory in PyTorch still do), any other view as a copy, except a view that repeats
elements (an expanded tensor, stride 0), which stays a read-only view rather than multiply its
memory. A dtype saved on its own (``torch.float32``) comes back as the NumPy dtype
(``minicnn.float32``). Refused with CheckpointError: complex, float8 and quantized tensors
(minicnn has no such tensors), tensors with backward hooks or metadata, and the format PyTorch
wrote before 1.6 (``_use_new_zipfile_serialization=False``).
"""
import hashlib
import io
import math
import os
import pickle
import pickletools
import struct
import sys
import warnings
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from .device import as_device
from .tensor import Tensor

__all__ = ["TorchFormatError", "archive_prefix", "check_pickle", "encode", "is_legacy_torch_file",
           "load", "wants_torch_format"]

SUFFIXES = (".pt", ".pth")
ARCHIVE = "archive"
ALIGNMENT = 64
PROTOCOL = 2
# storages past this size get zip64 headers (zipfile's own rule reserves 5% for compression)
_ZIP64_FROM = zipfile.ZIP64_LIMIT // 2
# the number torch.save put first in its pickles before 1.6
_LEGACY_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
# deflate never compresses more than about 1032:1
_DEFLATE_RATIO = 1032
_READ_CHUNK = 1 << 24

# torch dtype name -> the NumPy dtype of its elements (bfloat16: read as uint16, then widened)
_DTYPES = {
    "float64": np.float64, "float32": np.float32, "float16": np.float16, "bfloat16": np.uint16,
    "int64": np.int64, "int32": np.int32, "int16": np.int16, "int8": np.int8,
    "uint8": np.uint8, "bool": np.bool_, "uint16": np.uint16, "uint32": np.uint32,
    "uint64": np.uint64,
}
# legacy storage class -> torch dtype name (torch._utils._rebuild_tensor_v2 takes these)
_STORAGE_CLASSES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool",
}
# torch names of types minicnn tensors lack (complex; those NumPy lacks): refused by name
_UNSUPPORTED_TYPES = frozenset(
    ["complex32", "complex64", "complex128", "ComplexFloatStorage", "ComplexDoubleStorage",
     "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
     "float8_e8m0fnu", "float4_e2m1fn_x2", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
     "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16", "QInt8Storage", "QUInt8Storage",
     "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage"]
    + [f"{u}int{n}" for u in ("", "u") for n in range(1, 8)])


class TorchFormatError(ValueError):
    """A file in PyTorch's format that cannot be read; :func:`minicnn.load` raises it as a
    :class:`~minicnn.serialization.CheckpointError` whose message starts with the file name."""


def wants_torch_format(f):
    """True when ``f`` (a path, or a file object opened on one) ends in ``.pt`` or ``.pth``."""
    name = getattr(f, "name", None) if hasattr(f, "write") else f
    if not isinstance(name, (str, bytes, os.PathLike)):
        return False
    return os.fsdecode(name).lower().endswith(SUFFIXES)


def is_legacy_torch_file(head):
    """True when ``head``, a file's first bytes, starts a pre-1.6 ``torch.save`` pickle."""
    return _LEGACY_MAGIC in head[:32]


def archive_prefix(names):
    """The folder (with its trailing "/") of the ``data.pkl`` record among the zip's ``names``,
    or None when there is none: then the archive is not in PyTorch's format."""
    found = [n[:-len("data.pkl")] for n in names
             if n.rpartition("/")[2] == "data.pkl" and n.count("/") <= 1]
    if not found:
        return None
    if len(found) > 1:
        raise TorchFormatError(f"the archive holds several data.pkl records: {sorted(found)}")
    return found[0]


# ------------------------------------------------------------------ writing


class _TorchGlobal:
    """A PyTorch function or class, pickled by its name alone (``_Pickler.save_global``)."""

    __slots__ = ("module", "name")

    def __init__(self, module, name):
        self.module = module
        self.name = name

    def __reduce__(self):
        return self.name  # pickle's signal for "save as a global"

    def __call__(self, *args):  # pickle asks that a reduce function be callable; never called
        raise TypeError(f"{self.module}.{self.name} is a stand-in for pickling")


_REBUILD_TENSOR_V2 = _TorchGlobal("torch._utils", "_rebuild_tensor_v2")
_REBUILD_TENSOR_V3 = _TorchGlobal("torch._utils", "_rebuild_tensor_v3")
_REBUILD_PARAMETER = _TorchGlobal("torch._utils", "_rebuild_parameter")
_UNTYPED_STORAGE = _TorchGlobal("torch.storage", "UntypedStorage")
_STORAGE_GLOBALS = {np.dtype(_DTYPES[d]): _TorchGlobal("torch", cls)
                    for cls, d in _STORAGE_CLASSES.items() if d != "bfloat16"}
# dtypes PyTorch saves through _rebuild_tensor_v3 and an UntypedStorage
_V3_GLOBALS = {np.dtype(np.uint16): _TorchGlobal("torch", "uint16"),
               np.dtype(np.uint32): _TorchGlobal("torch", "uint32"),
               np.dtype(np.uint64): _TorchGlobal("torch", "uint64")}


class _SavedStorage:
    """A storage: ``array`` (1-D, contiguous) is written as the record ``data/<key>``."""

    __slots__ = ("array", "location")

    def __init__(self, array, location):
        self.array = array
        self.location = location


class _SavedTensor:
    __slots__ = ("array", "location", "requires_grad", "storage", "offset", "stride")

    def __init__(self, array, location, requires_grad):
        self.array = array
        self.location = location
        self.requires_grad = requires_grad
        self.storage = self.offset = self.stride = None  # set by _Encoder.assign_storages

    def __reduce__(self):
        args = (self.storage, self.offset, self.array.shape, self.stride, self.requires_grad,
                OrderedDict())
        v3 = _V3_GLOBALS.get(self.array.dtype.newbyteorder("="))
        if v3 is not None:
            return _REBUILD_TENSOR_V3, args + (v3,)
        return _REBUILD_TENSOR_V2, args


class _SavedParameter:
    __slots__ = ("tensor", "requires_grad")

    def __init__(self, tensor, requires_grad):
        self.tensor = tensor
        self.requires_grad = requires_grad

    def __reduce__(self):
        return _REBUILD_PARAMETER, (self.tensor, self.requires_grad, OrderedDict())


class _Pickler(pickle._Pickler):
    """The pure-Python pickler: unlike the C one, it lets ``save_global`` write the name of a
    global that cannot be imported here (PyTorch's)."""

    def __init__(self, file):
        super().__init__(file, protocol=PROTOCOL)
        self.storages = {}  # id(storage) -> (key, storage), keys in pickling order

    def persistent_id(self, obj):
        if type(obj) is not _SavedStorage:
            return None
        key, _ = self.storages.setdefault(id(obj), (str(len(self.storages)), obj))
        array = obj.array
        dtype = array.dtype.newbyteorder("=")
        if dtype in _V3_GLOBALS:
            return ("storage", _UNTYPED_STORAGE, key, obj.location, array.nbytes)
        return ("storage", _STORAGE_GLOBALS[dtype], key, obj.location, array.size)

    def save_global(self, obj, name=None):
        if type(obj) is _TorchGlobal:
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("ascii"))
            self.memoize(obj)
        else:
            super().save_global(obj, name)


class _Archive:
    """An encoded object, ready to write: what :func:`encode` returns."""

    def __init__(self, root):
        self.root = root

    def write(self, fh):
        """Write the archive to the binary file object ``fh``."""
        buf = io.BytesIO()
        pickler = _Pickler(buf)
        pickler.dump(self.root)
        digest = hashlib.sha1()
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            def record(name, data):
                info = _write_record(zf, name, data)
                digest.update(info.filename.encode() + struct.pack("<IQ", info.CRC,
                                                                   info.file_size))

            record("data.pkl", buf.getvalue())
            record(".format_version", b"1")
            record(".storage_alignment", str(ALIGNMENT).encode())
            record("byteorder", b"little")
            for key, storage in pickler.storages.values():
                record(f"data/{key}", _little_endian(storage.array))
            record("version", b"3\n")
            record(".data/serialization_id",
                   str(int(digest.hexdigest(), 16) % 10 ** 40).zfill(40).encode())


def _little_endian(array):
    if array.dtype.byteorder == ">" or (array.dtype.byteorder == "=" and sys.byteorder == "big"):
        return array.astype(array.dtype.newbyteorder("<"))
    return array


def _write_record(zf, name, data):
    """Write one stored record whose data starts at a multiple of ALIGNMENT bytes."""
    nbytes = data.nbytes if isinstance(data, np.ndarray) else len(data)
    info = zipfile.ZipInfo(f"{ARCHIVE}/{name}")  # fixed 1980 timestamp: same data, same bytes
    info.external_attr = 0o644 << 16
    zip64 = nbytes > _ZIP64_FROM
    # local header: 30 bytes, the name, our extra field (4 bytes + padding), zip64's (20 bytes)
    start = zf.fp.tell() + 30 + len(info.filename.encode("utf-8")) + 4 + (20 if zip64 else 0)
    pad = -start % ALIGNMENT
    info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
    with zf.open(info, "w", force_zip64=zip64) as out:
        if isinstance(data, np.ndarray):
            flat = data.reshape(-1).view(np.uint8)
            for at in range(0, flat.size, _READ_CHUNK):
                out.write(flat[at:at + _READ_CHUNK])
        else:
            out.write(data)
    return info


def encode(obj):
    """Check ``obj`` and turn it into an archive to write (``.write(fh)``), before any file is
    opened. Raises TypeError naming the path of an object a .pt file cannot hold."""
    return _Archive(_Encoder().encode(obj))


class _Encoder:
    def __init__(self):
        # minicnn.nn imports this module's package, so import it when saving, not at import
        from .nn.parameter import Parameter
        self.parameter = Parameter
        self.memo = {}  # id(obj) -> its stand-in: what is shared stays shared
        self.active = set()  # ids of the containers being encoded (cycle detection)
        self.tensors = []

    def encode(self, obj):
        root = self.node(obj, [])
        self.assign_storages()
        return root

    def node(self, obj, path):
        t = type(obj)
        if obj is None or t in (bool, int, float, str):
            return obj
        known = self.memo.get(id(obj))
        if known is not None:
            return known
        if isinstance(obj, Tensor):
            out = self.tensor(obj, path)
        elif t in (list, tuple, dict, OrderedDict):
            if id(obj) in self.active:
                raise TypeError(f"{_path_str(path)}: cannot save a circular reference")
            self.active.add(id(obj))
            if t is list or t is tuple:
                out = t(self.node(v, path + [i]) for i, v in enumerate(obj))
            else:
                out = t((self.key(k, path), self.node(v, path + [k])) for k, v in obj.items())
            self.active.discard(id(obj))
        elif isinstance(obj, (np.ndarray, np.generic)):
            what = "an ndarray" if isinstance(obj, np.ndarray) else "a NumPy scalar"
            fix = ("minicnn.tensor(x)" if isinstance(obj, np.ndarray) else
                   "x.item() or minicnn.tensor(x)")
            raise TypeError(f"{_path_str(path)}: cannot save {what} to a PyTorch .pt/.pth file "
                            "(torch.load(weights_only=True) refuses NumPy objects): convert it "
                            f"with {fix}, or save to a .npz file")
        else:
            hint = " (save its state_dict() instead)" if hasattr(obj, "state_dict") else ""
            raise TypeError(f"{_path_str(path)}: cannot save {_article(t.__name__)}{hint}; a "
                            ".pt file holds dict, list, tuple, Tensor, int, float, bool, str "
                            "and None")
        self.memo[id(obj)] = out
        return out

    @staticmethod
    def key(k, path):
        if k is None or type(k) in (str, int, bool, float):
            return k
        raise TypeError(f"{_path_str(path)}: cannot save a dict key of type {type(k).__name__} "
                        f"({k!r}); keys must be str or int")

    def tensor(self, obj, path):
        array = obj.detach().to("cpu")._data
        dtype = array.dtype.newbyteorder("=")
        if dtype not in _STORAGE_GLOBALS and dtype not in _V3_GLOBALS:
            raise TypeError(f"{_path_str(path)}: cannot save a Tensor of dtype {array.dtype} to "
                            "a .pt file: PyTorch has no such dtype")
        device = obj.device
        location = f"cuda:{device.index or 0}" if device.type == "cuda" else "cpu"
        if isinstance(obj, self.parameter):
            saved = _SavedTensor(array, location, False)
            out = _SavedParameter(saved, obj.requires_grad)
        else:
            out = saved = _SavedTensor(array, location, obj.requires_grad)
        self.tensors.append(saved)
        return out

    def assign_storages(self):
        """Tensors viewing one block of memory share its storage; the others get their own."""
        blocks = {}
        for t in self.tensors:
            root = _memory_block(t.array)
            if root is not None:
                blocks.setdefault(id(root), (root, []))[1].append(t)
        shared = set()
        for root, tensors in blocks.values():
            if len(tensors) < 2:
                continue
            flat = root.reshape(-1, order="A")  # no copy: root is one contiguous block
            storage = _SavedStorage(flat, tensors[0].location)
            base = flat.ctypes.data
            for t in tensors:
                size = t.array.itemsize
                t.storage = storage
                t.offset = (t.array.ctypes.data - base) // size
                t.stride = tuple(s // size for s in t.array.strides)
                shared.add(id(t))
        for t in self.tensors:
            if id(t) not in shared:
                t.storage = _SavedStorage(np.ascontiguousarray(t.array).reshape(-1), t.location)
                t.offset = 0
                t.stride = _contiguous_strides(t.array.shape)


def _memory_block(array):
    """The array owning the contiguous memory that ``array`` views with non-negative strides in
    whole elements of the same dtype, or None when ``array`` cannot be described as a view of a
    storage (then it is saved as a copy)."""
    root = array
    while isinstance(root.base, np.ndarray):
        root = root.base
    if (array.size == 0 or root.dtype != array.dtype
            or not (root.flags.c_contiguous or root.flags.f_contiguous)):
        return None
    size = array.itemsize
    offset = array.ctypes.data - root.ctypes.data
    if offset < 0 or offset % size or any(s < 0 or s % size for s in array.strides):
        return None
    return root


def _contiguous_strides(shape):
    strides, n = [], 1
    for s in reversed(shape):
        strides.append(n)
        n *= s
    return tuple(reversed(strides))


def _path_str(path):
    return "obj" + "".join(f"[{k!r}]" for k in path)


def _article(noun):
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


# ------------------------------------------------------------------ reading


def load(zf, prefix, name, map_location, archive_size):
    """The object in the PyTorch archive ``zf`` whose records lie under ``prefix``.

    ``name`` names the file in RuntimeError's message; ``map_location``: None (each tensor on
    the device it was saved from) or a minicnn device; ``archive_size``: the file's size in
    bytes, the bound for every record. Raises TorchFormatError for anything unreadable or
    refused, RuntimeError for a tensor saved on a device that is not usable here.
    """
    return _Reader(zf, prefix, name, map_location, archive_size).load()


class _Opaque:
    """Base of what the unpickler hands to the pickle: nothing a pickle can change (BUILD)."""

    __slots__ = ()

    def __setstate__(self, state):
        raise TorchFormatError(f"data.pkl sets the state of a {type(self).__name__[1:]}, which "
                               "a checkpoint never does")


class _Call(_Opaque):
    """An admitted global function, as REDUCE calls it."""

    __slots__ = ("function",)

    def __init__(self, function):
        self.function = function

    def __call__(self, *args):
        return self.function(*args)


class _StorageClass(_Opaque):
    __slots__ = ("dtype",)  # a torch dtype name; None for UntypedStorage (bytes)

    def __init__(self, dtype):
        self.dtype = dtype


class _DType(_Opaque):
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


class _Storage(_Opaque):
    __slots__ = ("key", "dtype", "numel", "location", "record")

    def __init__(self, key, dtype, numel, location, record):
        self.key = key
        self.dtype = dtype
        self.numel = numel
        self.location = location
        self.record = record


class _TensorRef(_Opaque):
    __slots__ = ("storage", "dtype", "offset", "size", "stride", "requires_grad")

    def __init__(self, storage, dtype, offset, size, stride, requires_grad):
        self.storage = storage
        self.dtype = dtype
        self.offset = offset
        self.size = size
        self.stride = stride
        self.requires_grad = requires_grad


class _ParameterRef(_Opaque):
    __slots__ = ("tensor", "requires_grad")

    def __init__(self, tensor, requires_grad):
        self.tensor = tensor
        self.requires_grad = requires_grad


class _Unpickler(pickle.Unpickler):
    """Admits only the globals a tensor checkpoint needs; every one it returns is a stand-in
    (``_Opaque``), so the pickle can neither call nor alter anything else."""

    def __init__(self, data, reader):
        super().__init__(io.BytesIO(data))
        self.reader = reader

    def find_class(self, module, name):
        reader = self.reader
        if module == "collections" and name == "OrderedDict":
            return _Call(OrderedDict)
        if module == "torch._utils":
            rebuild = {"_rebuild_tensor_v2": reader.rebuild_tensor_v2,
                       "_rebuild_tensor_v3": reader.rebuild_tensor_v3,
                       "_rebuild_parameter": reader.rebuild_parameter}.get(name)
            if rebuild is not None:
                return _Call(rebuild)
        if module == "torch":
            if name in _STORAGE_CLASSES:
                return _StorageClass(_STORAGE_CLASSES[name])
            if name in _DTYPES:
                return _DType(name)
            if name in _UNSUPPORTED_TYPES:
                raise TorchFormatError(f"it holds tensors of type torch.{name}, which minicnn "
                                       "has no tensor type for (only bool, integer and floating "
                                       "point: NumPy's)")
        if (module, name) in (("torch.storage", "UntypedStorage"), ("torch", "UntypedStorage")):
            return _StorageClass(None)
        hint = ""
        if module.startswith("torch.nn.") or module == "__main__":
            hint = (" It pickles a whole object (torch.save(model)): save model.state_dict() "
                    "instead.")
        elif module.startswith("__torch__"):
            hint = " It is a TorchScript archive (torch.jit.save): use torch.jit.load."
        raise TorchFormatError(f"data.pkl refers to the global {module}.{name}, which "
                               "minicnn does not load: a checkpoint may only rebuild "
                               "tensors, dicts, lists and plain values (unpickling other "
                               "globals could run arbitrary code)." + hint)

    def persistent_load(self, pid):
        return self.reader.storage(pid)


class _Reader:
    def __init__(self, zf, prefix, name, map_location, archive_size):
        self.zf = zf
        self.prefix = prefix
        self.name = name
        self.map_location = map_location
        self.archive_size = archive_size
        self.storages = {}  # key -> _Storage
        self.bytes = {}  # key -> the record's bytes (uint8)
        self.arrays = {}  # (key, dtype) -> the storage as a 1-D native array
        self.order = "<"  # the storages' byte order, from the byteorder record
        self.done = {}  # id(unpickled object) -> what it became
        self.active = set()
        # copies of strided views may not take more memory than this (hostile views of one
        # large storage could otherwise ask for any amount)
        self.copy_budget = 2 * archive_size + (64 << 20)

    def fail(self, what):
        return TorchFormatError(what)

    # -------------------------------------------------------------- records

    def record(self, name):
        try:
            info = self.zf.getinfo(self.prefix + name)
        except KeyError:
            raise self.fail(f"the record '{self.prefix}{name}' is missing") from None
        end = info.header_offset + info.compress_size
        if info.compress_type == zipfile.ZIP_STORED:
            sane = info.file_size == info.compress_size and end <= self.archive_size
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            sane = (end <= self.archive_size
                    and info.file_size <= info.compress_size * _DEFLATE_RATIO + 1024)
        else:
            raise self.fail(f"record '{info.filename}' uses compression method "
                            f"{info.compress_type}; PyTorch archives store records uncompressed")
        if not sane:
            raise self.fail(f"record '{info.filename}' declares {info.file_size} bytes, more "
                            f"than the {self.archive_size}-byte file can hold (truncated or "
                            "corrupted)")
        return info

    def read(self, info):
        """The record's bytes as a writable uint8 array (its CRC checked)."""
        buf = np.empty(info.file_size, np.uint8)
        view = memoryview(buf)
        try:
            with self.zf.open(info) as fp:
                at = 0
                while at < info.file_size:
                    chunk = fp.read(min(_READ_CHUNK, info.file_size - at))
                    if not chunk:
                        raise EOFError("the record ends early")
                    view[at:at + len(chunk)] = chunk
                    at += len(chunk)
                if fp.read(1):
                    raise EOFError("the record is longer than declared")
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as e:
            raise self.fail(f"record '{info.filename}' is corrupted ({e})") from None
        return buf

    # -------------------------------------------------------------- the pickle

    def load(self):
        byteorder = b"little"
        if self.prefix + "byteorder" in self.zf.namelist():
            byteorder = self.read(self.record("byteorder")).tobytes()
            if byteorder not in (b"little", b"big"):
                raise self.fail(f"unknown byte order {byteorder[:20]!r} in its byteorder record")
        self.order = "<" if byteorder == b"little" else ">"
        data = self.read(self.record("data.pkl")).tobytes()
        self.check_opcodes(data)
        try:
            root = _Unpickler(data, self).load()
        except TorchFormatError:
            raise
        except RecursionError:
            raise self.fail("data.pkl is nested too deeply") from None
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
                AttributeError, OverflowError, MemoryError) as e:
            raise self.fail(f"data.pkl is not a valid checkpoint pickle ({type(e).__name__}: "
                            f"{e})") from None
        try:
            return self.convert(root)
        except RecursionError:
            raise self.fail("data.pkl is nested too deeply") from None

    def check_opcodes(self, data):
        """Refuse, before unpickling, a data.pkl that would cost far more than its size."""
        try:
            check_pickle(data, PICKLE_COST_PER_BYTE * len(data) + PICKLE_COST_SLACK)
        except ValueError as e:
            raise self.fail(f"data.pkl is not a valid pickle ({e})") from None

    def storage(self, pid):
        if not (type(pid) is tuple and len(pid) == 5 and pid[0] == "storage"):
            raise self.fail(f"data.pkl holds the persistent id {_short(pid)}, not a storage")
        _, cls, key, location, numel = pid
        if type(cls) is not _StorageClass or type(key) is not str or type(location) is not str:
            raise self.fail(f"data.pkl holds a malformed storage {_short(pid)}")
        if type(numel) is not int or numel < 0:
            raise self.fail(f"storage '{key}' has an invalid length {numel!r}")
        known = self.storages.get(key)
        if known is not None:
            if (known.dtype, known.numel) != (cls.dtype, numel):
                raise self.fail(f"storage '{key}' is declared twice, with different types or "
                                "lengths")
            return known
        info = self.record(f"data/{key}")
        itemsize = 1 if cls.dtype is None else np.dtype(_DTYPES[cls.dtype]).itemsize
        if numel * itemsize != info.file_size:  # Python ints: no overflow
            raise self.fail(f"storage '{key}' declares {numel} elements of {itemsize} bytes, but "
                            f"its record holds {info.file_size} bytes")
        storage = self.storages[key] = _Storage(key, cls.dtype, numel, location, info)
        return storage

    def rebuild_tensor_v2(self, storage, offset, size, stride, requires_grad, hooks,
                          metadata=None):
        if type(storage) is not _Storage or storage.dtype is None:
            raise self.fail("data.pkl rebuilds a tensor from something that is not a typed "
                            "storage")
        return self.tensor_ref(storage, storage.dtype, storage.numel, offset, size, stride,
                               requires_grad, hooks, metadata)

    def rebuild_tensor_v3(self, storage, offset, size, stride, requires_grad, hooks, dtype,
                          metadata=None):
        if type(storage) is not _Storage or storage.dtype is not None or type(dtype) is not _DType:
            raise self.fail("data.pkl rebuilds a tensor (v3) from something that is not an "
                            "untyped storage and a dtype")
        itemsize = np.dtype(_DTYPES[dtype.name]).itemsize
        if storage.numel % itemsize:
            raise self.fail(f"storage '{storage.key}' holds {storage.numel} bytes, not a whole "
                            f"number of torch.{dtype.name} elements")
        return self.tensor_ref(storage, dtype.name, storage.numel // itemsize, offset, size,
                               stride, requires_grad, hooks, metadata)

    def tensor_ref(self, storage, dtype, numel, offset, size, stride, requires_grad, hooks,
                   metadata):
        if not (_ints(size) and _ints(stride) and len(size) == len(stride)
                and type(offset) is int and offset >= 0 and type(requires_grad) is bool):
            raise self.fail(f"data.pkl rebuilds a tensor with invalid geometry: offset "
                            f"{_short(offset)}, size {_short(size)}, stride {_short(stride)}")
        if type(hooks) not in (dict, OrderedDict) or hooks or (metadata is not None and (
                type(metadata) not in (dict, OrderedDict) or metadata)):
            raise self.fail("data.pkl rebuilds a tensor with backward hooks or metadata, which "
                            "minicnn does not load")
        if 0 in size:
            last = offset - 1  # an empty tensor needs no element; torch allows offset == numel
        else:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= numel:
            raise self.fail(f"a tensor of size {size}, stride {stride} and offset {offset} "
                            f"reaches past the end of storage '{storage.key}' ({numel} "
                            "elements)")
        return _TensorRef(storage, dtype, offset, size, stride, requires_grad)

    def rebuild_parameter(self, data, requires_grad, hooks):
        if type(data) is not _TensorRef or type(requires_grad) is not bool:
            raise self.fail("data.pkl rebuilds a Parameter from something that is not a tensor")
        if type(hooks) not in (dict, OrderedDict) or hooks:
            raise self.fail("data.pkl rebuilds a Parameter with backward hooks, which minicnn "
                            "does not load")
        return _ParameterRef(data, requires_grad)

    # -------------------------------------------------------------- minicnn objects

    def convert(self, obj):
        """The unpickled tree, with tensors built: only plain values, containers, tensors."""
        t = type(obj)
        if obj is None or t in (bool, int, float, str, bytes):
            return obj
        known = self.done.get(id(obj))
        if known is not None:
            return known
        if id(obj) in self.active:
            raise self.fail("data.pkl holds a circular reference")
        if t is _TensorRef:
            out = self.tensor(obj)
        elif t is _ParameterRef:
            out = self.parameter(obj)
        elif t is _DType:
            if obj.name == "bfloat16":
                raise self.fail("data.pkl holds the dtype torch.bfloat16, which NumPy lacks")
            out = np.dtype(_DTYPES[obj.name])
        elif t in (list, tuple, dict, OrderedDict, set, frozenset):
            self.active.add(id(obj))
            try:
                if t in (dict, OrderedDict):
                    out = t((self.convert(k), self.convert(v)) for k, v in obj.items())
                else:
                    out = t(self.convert(v) for v in obj)
            except TypeError as e:  # a tensor as a set element or a dict key
                raise self.fail(f"data.pkl holds an unhashable key ({e})") from None
            self.active.discard(id(obj))
        else:
            raise self.fail(f"data.pkl holds {_article(t.__name__.lstrip('_'))}, which is not "
                            "a tensor, a container or a plain value")
        self.done[id(obj)] = out
        return out

    def array(self, ref):
        storage = self.storage_array(ref.storage, ref.dtype)
        size, stride, offset = ref.size, ref.stride, ref.offset
        if 0 in size:
            return np.empty(size, storage.dtype)
        if all(n == 1 or s == c for n, s, c in zip(size, stride, _contiguous_strides(size))):
            # a view of the storage, as torch.load gives: tensors sharing memory still do
            return storage[offset:offset + math.prod(size)].reshape(size)
        byte_strides = tuple(0 if n == 1 else s * storage.itemsize for n, s in zip(size, stride))
        if _overlapping(size, stride):
            return np.lib.stride_tricks.as_strided(storage[offset:], size, byte_strides,
                                                   writeable=False)
        nbytes = math.prod(size) * storage.itemsize
        self.copy_budget -= nbytes
        if self.copy_budget < 0:
            raise self.fail("its strided tensors would take far more memory than the file "
                            "holds")
        view = np.lib.stride_tricks.as_strided(storage[offset:], size, byte_strides,
                                               writeable=False)
        return np.array(view, order="C")

    def storage_array(self, storage, dtype):
        key = (storage.key, dtype)
        array = self.arrays.get(key)
        if array is not None:
            return array
        raw = self.bytes.get(storage.key)
        if raw is None:
            raw = self.bytes[storage.key] = self.read(storage.record)
        if dtype == "bool":
            array = raw != 0  # torch stores bools as bytes; NumPy wants exactly 0 or 1
        else:
            array = raw.view(np.dtype(_DTYPES[dtype]).newbyteorder(self.order))
            if dtype == "bfloat16":  # the top 16 bits of a float32: widening is exact
                array = (array.astype(np.uint32) << 16).view(np.float32)
            elif not array.dtype.isnative:
                array = array.astype(array.dtype.newbyteorder("="))
        self.arrays[key] = array
        return array

    def device(self, location):
        if self.map_location is not None:
            return self.map_location
        if location == "cpu":
            return as_device("cpu")
        try:
            return as_device(location)
        except (RuntimeError, ValueError) as e:
            raise RuntimeError(f"{self.name}: a tensor was saved on device {location!r}, which "
                               f"is not usable here ({e}); pass map_location='cpu'") from None

    def tensor(self, ref):
        try:
            array = self.array(ref)
        except (ValueError, OverflowError, MemoryError) as e:
            if isinstance(e, TorchFormatError):
                raise
            raise self.fail(f"a tensor of size {ref.size} cannot be built ({e})") from None
        t = Tensor._wrap(array, as_device("cpu"))
        device = self.device(ref.storage.location)
        if device != t.device:
            t = t.to(device)
        if ref.requires_grad:
            try:
                t.requires_grad_(True)
            except RuntimeError as e:
                raise self.fail(f"a tensor of dtype {t.dtype} requires grad ({e})") from None
        return t

    def parameter(self, ref):
        from .nn.parameter import Parameter
        data = self.convert(ref.tensor)
        try:
            return Parameter(data, requires_grad=ref.requires_grad)
        except RuntimeError as e:
            raise self.fail(f"a Parameter of dtype {data.dtype} requires grad ({e})") from None


# check_pickle's budget: a genuine pickle builds a few values per byte (cost 16 per byte leaves
# room for memoized globals and dtypes referenced from many places); a shared-reference bomb
# builds exponentially many
PICKLE_COST_PER_BYTE = 16
PICKLE_COST_SLACK = 1 << 16
_MEMO_PUTS = frozenset(["PUT", "BINPUT", "LONG_BINPUT"])
_MEMO_GETS = frozenset(["GET", "BINGET", "LONG_BINGET"])
# opcodes that change their first operand in place (a list, dict, set, or BUILD's object)
_MUTATORS = frozenset(["APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"])


def check_pickle(data, budget):
    """Check the pickle ``data`` (bytes) without building anything it describes; raises
    ValueError saying what is wrong, else returns None.

    Refused: a damaged pickle (an opcode or argument cut short, a length past the end: the
    C unpickler would allocate a declared length before reading it); a memo index larger than
    the number of opcodes before it (the C unpickler sizes its memo by the largest index, so one
    opcode could ask for gigabytes); and a pickle whose values, counted as trees (a value
    referenced twice counted twice), hold more than ``budget`` nodes, or whose construction
    costs more than ``budget`` in all: the 700-byte pickle of ``a = [a, a]`` nested 100 times,
    or a dict keyed by such a tuple (hashing it would never end), is refused here in
    milliseconds. The count follows each opcode's stack effect (``pickletools``); a container
    filled after it was memoized is counted as filled when it is fetched again."""
    stack = []  # one [size] cell per stack value (shared by its memo entries), None for a mark
    memo = {}
    cost = 0
    try:
        with warnings.catch_warnings():
            # a protocol-0 string with an invalid escape warns; the unpickler decides
            warnings.simplefilter("ignore", DeprecationWarning)
            for count, (op, arg, _) in enumerate(pickletools.genops(data)):
                cost = _count_opcode(op, arg, count, stack, memo, cost)
                if cost > budget or (stack and stack[-1] is not None and stack[-1][0] > budget):
                    raise ValueError(f"it builds more than {budget} values (references to "
                                     "shared values counted each time): a decompression bomb")
    except (IndexError, KeyError, TypeError):
        raise ValueError("its opcodes do not form a valid pickle (stack or memo misuse)") from None


def _count_opcode(op, arg, count, stack, memo, cost):
    """Apply opcode number ``count`` to ``stack`` and ``memo`` as check_pickle counts them;
    the new total cost."""
    mark = pickletools.markobject
    name = op.name
    if name in _MEMO_PUTS or name == "MEMOIZE":
        index = len(memo) if name == "MEMOIZE" else arg
        if not 0 <= index <= count:
            raise ValueError(f"memo index {index} at opcode {count}")
        memo[index] = stack[-1]
        return cost
    if name in _MEMO_GETS:
        stack.append(memo[arg])
        return cost
    if name == "POP" and stack and stack[-1] is None:
        stack.pop()  # POP also removes a mark
        return cost
    before = op.stack_before
    popped = []
    if mark in before:
        while (cell := stack.pop()) is not None:
            popped.append(cell)
        below = before.index(mark)
    else:
        below = len(before)
    popped += [stack.pop() for _ in range(below)]  # the lowest operand last
    size = 1 + sum(c[0] for c in popped)
    if name in _MUTATORS:
        target = popped[-1]
        cost += size - target[0]
        target[0] = size  # every reference to the container sees it grow
        stack.append(target)
    else:
        cost += size
        stack.extend(None if s is mark else [size] for s in op.stack_after)
    return cost


def _ints(values):
    return type(values) is tuple and all(type(v) is int and v >= 0 for v in values)


def _overlapping(size, stride):
    """Whether two indices of the view can reach one element (sufficient test for strides >= 0:
    sorted by stride, each must step past everything the smaller ones reach)."""
    reach = 0
    for s, n in sorted((s, n) for n, s in zip(size, stride) if n > 1):
        if s <= reach:
            return True
        reach += (n - 1) * s
    return False


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
