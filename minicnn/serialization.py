"""Checkpoints: :func:`save` and :func:`load` (``torch.save`` / ``torch.load``); loading never
executes code from the file, unlike ``torch.load`` of an untrusted pickle.

A checkpoint holds a nested structure of dicts (str or int keys), lists, tuples, tensors, NumPy
arrays and scalars, and Python int/float/bool/str/None: a model's ``state_dict()``, an
optimizer's or scheduler's ``state_dict()``, the epoch, RNG states (``bit_generator.state``).

Formats, by the suffix of the path ``save`` writes to (a file object's ``name`` counts as one):

=====================  ==========================================================================
``.pt``, ``.pth``      PyTorch's zip format, as ``torch.save`` writes it, so that
                       ``torch.load(path, weights_only=True)`` reads it: tensors, Parameters,
                       dict/OrderedDict/list/tuple and plain values, no NumPy objects
                       (:mod:`minicnn.serialization_torch` describes it)
``.safetensors``       the safetensors format (flat name -> tensor; ``pip install safetensors``)
anything else          the ``.npz`` checkpoint below (version 1), which holds every type above;
                       also a file object without a ``.pt``/``.pth`` name
=====================  ==========================================================================

``load`` tells the zip formats apart by their content, whatever the name (``torch.save``'s
``.bin`` files included): ``__minicnn_checkpoint__.npy`` marks a ``.npz`` checkpoint,
``<folder>/data.pkl`` a PyTorch one, read through an unpickler that admits tensor rebuilds,
OrderedDict and plain values only. Only ``.safetensors`` goes by its suffix.

``.npz`` on-disk format (version 1)
-----------------------------------
A ``.npz`` file: a zip archive (stored, not compressed) whose every entry is a ``.npy`` array,
so ``numpy.load(path, allow_pickle=False)`` can read every entry, and a flat state_dict's
arrays keep their names (``"features.0.weight"``).

- ``__minicnn_checkpoint__.npy``: the structure, a 1-D uint8 array of UTF-8 JSON::

      {"format": "minicnn-checkpoint", "version": 1, "root": NODE}

- one entry per array: every tensor, ndarray and NumPy scalar, named after its path in the
  structure (keys joined by ".", characters outside ``[A-Za-z0-9_.-]`` replaced by "_", and a
  ``~2``, ``~3`` ... suffix where two paths give the same name).

A NODE is JSON ``null``/``true``/``false``, an integer (of any size), a finite float, a string,
a JSON array (a Python list), or an object with a ``"type"``:

- ``{"type": "tuple", "items": [NODE, ...]}``
- ``{"type": "dict" | "OrderedDict", "items": [[KEY, NODE], ...]}``: KEY is a JSON string or
  integer (Python str/int/float/bool/None keys keep their type), pairs in insertion order
- ``{"type": "float", "value": "nan" | "inf" | "-inf"}``
- ``{"type": "Tensor" | "Parameter", "array": NAME, "dtype": DT, "shape": [...],
  "device": "cpu", "requires_grad": false}``
- ``{"type": "ndarray", "array": NAME, "dtype": DT, "shape": [...]}``
- ``{"type": "scalar", "array": NAME, "dtype": DT}``: a NumPy scalar, stored as a 0-d array

NAME is the entry name without ``.npy``; DT is NumPy's ``dtype.str`` (``"<f4"``). An object
reached twice (a tied weight) is stored once and loads as one object. Readers refuse a newer
``version``, an entry that the structure does not name (or the reverse), and an array whose
dtype or shape differs from its node (byte order aside: arrays load in native byte order).
Sizes are checked before memory is allocated: each entry's declared size against the file's,
the shape in each ``.npy`` header against its entry's size, so a damaged or hostile file costs
no more memory than its size.

``.safetensors`` (optional, ``pip install safetensors``)
---------------------------------------------------------
A path ending in ``.safetensors`` is written and read with the ``safetensors`` package instead:
it holds a flat mapping str -> tensor (a state_dict) plus optional str -> str metadata
(``save(..., metadata=...)``; read it back with
``safetensors.safe_open(path, "np").metadata()``).
"""
import io
import json
import math
import os
import re
import struct
import zipfile
import zlib
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np

from . import serialization_torch
from .device import as_device
from .device import device as Device
from .tensor import Tensor

__all__ = ["CheckpointError", "NotACheckpointError", "load", "save"]

FORMAT = "minicnn-checkpoint"
FORMAT_VERSION = 1
STRUCTURE_ENTRY = "__minicnn_checkpoint__"

# dtype kinds an .npy entry holds without pickle: bool, ints, floats, complex, bytes, str, dates
_ARRAY_KINDS = frozenset("biufcSUMm")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.\-]")


# ------------------------------------------------------------------ save


def save(obj, f, *, metadata=None):
    """Save ``obj`` to ``f`` (``torch.save``); the format follows the suffix of ``f`` (see the
    module docstring): PyTorch's zip format for ``.pt``/``.pth``, safetensors for
    ``.safetensors``, and a ``.npz`` checkpoint for any other name and for file objects
    without a name.

    ``obj``: a nested structure of dict (str/int keys), list, tuple, Tensor (Parameter),
    ndarray, NumPy scalar, int, float, bool, str, None (no NumPy objects in a ``.pt`` file:
    ``torch.load(weights_only=True)`` would refuse them). ``f``: a path (str or os.PathLike) or
    a binary file object open for writing (its ``name`` picks the format as a path's would). A
    path is written atomically: to a temporary file in the same directory, then renamed over
    ``f``, so a crash leaves the old file or the new one, never half of one. For
    ``.safetensors``, ``obj`` must be a flat dict str -> tensor and ``metadata`` an optional
    dict str -> str.

    Tensors keep dtype, shape and requires_grad, not ``.grad``; ``.npz`` keeps the device name,
    ``.pt`` records "cpu" or "cuda:N" as PyTorch does.

    Raises TypeError naming the path of an unsupported object inside ``obj`` (e.g.
    ``obj['optimizer']['state'][0]['x']: cannot save a function``), before writing anything.
    """
    if _is_safetensors_path(f):
        _save_safetensors(obj, f, metadata)
        return
    if metadata is not None:
        raise TypeError("save: metadata is only for .safetensors files; put it in obj instead")
    if serialization_torch.wants_torch_format(f):
        write = serialization_torch.encode(obj).write
    else:
        entries = _Encoder().encode(obj)

        def write(fh):
            _write_zip(fh, entries)
    if isinstance(f, (str, os.PathLike)):
        with _atomic_path(f) as tmp, open(tmp, "wb") as fh:
            write(fh)
    elif hasattr(f, "write"):
        write(f)
    else:
        raise TypeError(f"save: f must be a path or a binary file object, got {type(f).__name__}")


class _Encoder:
    """Turns ``obj`` into (entry name, array) pairs, the structure entry first."""

    def __init__(self):
        # minicnn.nn imports this module's package, so import it when saving, not at import
        from .nn.parameter import Parameter
        self.parameter = Parameter
        self.arrays = {}  # entry name -> ndarray
        self.memo = {}  # id(Tensor/ndarray) -> its node, so a shared object is stored once
        self.active = set()  # ids of the containers being encoded (cycle detection)

    def encode(self, obj):
        root = self.node(obj, [])
        doc = {"format": FORMAT, "version": FORMAT_VERSION, "root": root}
        text = json.dumps(doc, allow_nan=False, separators=(",", ":")).encode("utf-8")
        return [(STRUCTURE_ENTRY, np.frombuffer(text, np.uint8)), *self.arrays.items()]

    def node(self, obj, path):
        t = type(obj)
        if obj is None or t in (bool, int, str):
            return obj
        if t is float:
            return obj if math.isfinite(obj) else {"type": "float", "value": repr(obj)}
        if isinstance(obj, (Tensor, np.ndarray, np.generic)):
            return self.array_node(obj, path)
        if t in (list, tuple, dict, OrderedDict):
            if id(obj) in self.active:
                raise TypeError(f"{_path_str(path)}: cannot save a circular reference")
            self.active.add(id(obj))
            if t is list:
                node = [self.node(v, path + [i]) for i, v in enumerate(obj)]
            elif t is tuple:
                node = {"type": "tuple", "items": [self.node(v, path + [i])
                                                   for i, v in enumerate(obj)]}
            else:
                node = {"type": t.__name__, "items": [[self.key(k, path), self.node(v, path + [k])]
                                                      for k, v in obj.items()]}
            self.active.discard(id(obj))
            return node
        hint = " (save its state_dict() instead)" if hasattr(obj, "state_dict") else ""
        raise TypeError(f"{_path_str(path)}: cannot save {_article(t.__name__)}{hint}; a "
                        "checkpoint holds dict, list, tuple, Tensor, ndarray, NumPy scalars, "
                        "int, float, bool, str and None")

    @staticmethod
    def key(k, path):
        if k is None or type(k) in (str, int, bool) or type(k) is float and math.isfinite(k):
            return k
        raise TypeError(f"{_path_str(path)}: cannot save a dict key of type {type(k).__name__} "
                        f"({k!r}); keys must be str or int")

    def array_node(self, obj, path):
        known = self.memo.get(id(obj))
        if known is not None:
            return known
        if isinstance(obj, Tensor):
            array = obj.detach().to("cpu")._data
        else:
            array = np.asarray(obj)
        if array.dtype.kind not in _ARRAY_KINDS:
            what = ("a Tensor" if isinstance(obj, Tensor) else
                    "a NumPy scalar" if isinstance(obj, np.generic) else "an ndarray")
            raise TypeError(f"{_path_str(path)}: cannot save {what} of dtype {array.dtype}: "
                            "only bool, numeric, string and datetime arrays can be stored "
                            "without pickle")
        if isinstance(obj, Tensor):
            kind = "Parameter" if isinstance(obj, self.parameter) else "Tensor"
        else:
            kind = "scalar" if isinstance(obj, np.generic) else "ndarray"
        name = self.entry_name(path)
        self.arrays[name] = array
        node = {"type": kind, "array": name, "dtype": array.dtype.str}
        if kind != "scalar":
            node["shape"] = list(array.shape)
        if isinstance(obj, Tensor):
            node["device"] = str(obj.device)
            node["requires_grad"] = obj.requires_grad
        self.memo[id(obj)] = node
        return node

    def entry_name(self, path):
        base = _UNSAFE_NAME.sub("_", ".".join(str(k) for k in path)) or "obj"
        name, n = base, 1
        while name in self.arrays or name == STRUCTURE_ENTRY:
            n += 1
            name = f"{base}~{n}"
        return name


def _write_zip(fh, entries):
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in entries:
            info = zipfile.ZipInfo(name + ".npy")  # fixed 1980 timestamp: same data, same bytes
            info.external_attr = 0o644 << 16
            # force_zip64: the size is not known before writing, and may pass 4 GiB
            with zf.open(info, "w", force_zip64=True) as out:
                np.lib.format.write_array(out, array, allow_pickle=False)


@contextmanager
def _atomic_path(f):
    """Yield a fresh temporary path next to ``f``; on success fsync it and rename it over ``f``,
    on any error (KeyboardInterrupt included) delete it and leave ``f`` as it was."""
    target = os.path.realpath(os.fspath(f))  # write through a symlink, as open() would
    folder, base = os.path.split(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: cannot write {os.fspath(f)!r}: directory {folder!r} "
                                "does not exist")
    tmp = os.path.join(folder, f".{base}.{os.urandom(6).hex()}.tmp")
    # O_EXCL: never clobber another writer's file; mode 0o666 lets the umask apply as for open()
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.fsync(fd)  # data on disk before the rename makes it visible
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# ------------------------------------------------------------------ load


class CheckpointError(ValueError):
    """Raised by :func:`load` for a file that is not a readable minicnn checkpoint."""


class NotACheckpointError(CheckpointError):
    """A zip archive that is neither a minicnn checkpoint (no structure entry) nor a PyTorch
    one (no data.pkl record): a plain .npz, a zip of other files."""


def load(f, map_location=None, *, weights_only=True):
    """Load an object saved by :func:`save` or by ``torch.save`` (``torch.load``); loading never
    executes code from the file.

    ``f``: a path or a binary file object. The format is read from the content, not the name:
    a zip holding ``__minicnn_checkpoint__.npy`` is a minicnn ``.npz`` checkpoint, one holding
    ``<folder>/data.pkl`` is a PyTorch checkpoint (``.pt``, ``.pth``, ``.bin``); only a path
    ending in ``.safetensors`` is read as safetensors. ``map_location``: None puts each tensor
    back on the device it was saved from; a device or a string (``"cpu"``) puts every tensor
    there. ``weights_only`` is accepted for compatibility with ``torch.load``: whatever its
    value, only data is loaded (a PyTorch pickle through an unpickler that admits nothing but
    tensor rebuilds, OrderedDict and plain values). Types come back as saved: Tensor
    (Parameter) with dtype, shape and requires_grad, ndarray, NumPy scalar, tuple,
    OrderedDict, int keys; from a PyTorch file, bfloat16 tensors come back as float32 (exact).
    Arrays and tensors come back in native byte order (a ``>f4`` array as ``float32``). A
    ``.safetensors`` path gives an OrderedDict name -> Tensor (a dtype NumPy lacks, such as
    BF16, raises CheckpointError).

    Raises FileNotFoundError for a missing file; CheckpointError (a ValueError) naming the file
    and what was expected when it is not a complete zip archive (truncated, corrupted, random
    bytes, PyTorch's pre-1.6 format), is an .npz without the ``__minicnn_checkpoint__``
    structure entry (NotACheckpointError), holds pickled objects or, in a PyTorch file, a
    global other than those above (named in the message), or its structure does not match its
    arrays or records; RuntimeError when it was written in a newer format version than this
    minicnn reads, or a tensor was saved on a device not usable here (pass
    ``map_location='cpu'``).
    """
    if map_location is not None:
        if not isinstance(map_location, (str, Device)):
            raise TypeError("load: map_location must be None, a device or a string such as "
                            f"'cpu', got {type(map_location).__name__}")
        map_location = as_device(map_location)
    if _is_safetensors_path(f):
        return _load_safetensors(f, map_location)
    if isinstance(f, (str, os.PathLike)):
        name = os.fspath(f)
        with open(name, "rb") as fh:
            return _load_zip(fh, name, map_location)
    if not hasattr(f, "read"):
        raise TypeError(f"load: f must be a path or a binary file object, got {type(f).__name__}")
    name = str(getattr(f, "name", "<file object>"))
    if not (hasattr(f, "seekable") and f.seekable()):  # zip needs to seek to its directory
        f = io.BytesIO(f.read())
    return _load_zip(f, name, map_location)


def _load_zip(fh, name, map_location):
    start = fh.tell()
    size = fh.seek(0, io.SEEK_END)
    fh.seek(start)
    try:
        try:
            zf = zipfile.ZipFile(fh)
        except _ZIP_DIRECTORY_ERRORS as e:  # a damaged central directory fails in these ways
            raise zipfile.BadZipFile(f"{type(e).__name__}: {e}") from None
        with zf:
            names = zf.namelist()
            prefix = None
            if STRUCTURE_ENTRY + ".npy" not in names:
                prefix = serialization_torch.archive_prefix(names)
            if prefix is None:
                return _Decoder(zf, name, map_location, size).decode()
            return serialization_torch.load(zf, prefix, name, map_location, size)
    except zipfile.BadZipFile as e:
        fh.seek(start)
        if serialization_torch.is_legacy_torch_file(fh.read(32)):
            raise CheckpointError(
                f"{name}: a PyTorch checkpoint in the format torch.save wrote before PyTorch 1.6 "
                "(or with _use_new_zipfile_serialization=False), which minicnn does not read; "
                "re-save it with a current PyTorch: torch.save(torch.load(path), path)") from None
        raise CheckpointError(f"{name}: not a minicnn checkpoint: expected a complete zip "
                              "archive (.npz, or PyTorch's .pt/.pth), but the file is truncated, "
                              f"corrupted or not a zip ({e})") from None
    except serialization_torch.TorchFormatError as e:
        raise CheckpointError(f"{name}: {e}") from None


# what zipfile.ZipFile raises for a damaged central directory, besides BadZipFile
_ZIP_DIRECTORY_ERRORS = (EOFError, OSError, ValueError, OverflowError, struct.error,
                         UnicodeDecodeError, NotImplementedError)
# what reading a damaged or unusual entry raises (RuntimeError: an encrypted entry)
_ZIP_ENTRY_ERRORS = (zipfile.BadZipFile, EOFError, OSError, zlib.error, RuntimeError,
                     NotImplementedError, OverflowError, struct.error)
# deflate never inflates more than about 1032:1
_DEFLATE_RATIO = 1032


class _Decoder:
    def __init__(self, zf, name, map_location, archive_size):
        from .nn.parameter import Parameter
        self.parameter = Parameter
        self.zf = zf
        self.name = name
        self.map_location = map_location
        self.archive_size = archive_size
        self.entries = set(zf.namelist())
        self.used = {}  # entry name -> the object it became (shared objects load as one)

    def fail(self, what):
        return CheckpointError(f"{self.name}: {what}")

    def decode(self):
        if STRUCTURE_ENTRY + ".npy" not in self.entries:
            hint = ""
            if self.entries and all(e.endswith(".npy") for e in self.entries):
                hint = " It is a plain .npz: read it with numpy.load(path, allow_pickle=False)."
            raise NotACheckpointError(f"{self.name}: not a minicnn checkpoint: no "
                                      f"'{STRUCTURE_ENTRY}' structure entry." + hint)
        raw = self.read_entry(STRUCTURE_ENTRY)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise self.fail(f"the structure entry is {raw.dtype} {raw.shape}, not 1-D uint8 JSON")
        try:
            doc = json.loads(raw.tobytes().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise self.fail(f"the structure entry is not valid UTF-8 JSON ({e})") from None
        except RecursionError:
            raise self.fail("the structure entry is nested too deeply") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise self.fail(f"the structure entry is not a {FORMAT} header")
        version = doc.get("version")
        if type(version) is not int or version < 1:
            raise self.fail(f"invalid checkpoint format version {version!r}")
        if version > FORMAT_VERSION:
            raise RuntimeError(f"{self.name}: checkpoint format version {version} is newer than "
                               f"this minicnn reads (up to {FORMAT_VERSION}); upgrade minicnn")
        try:
            obj = self.node(doc["root"])
        except CheckpointError:
            raise
        except RecursionError:
            raise self.fail("the structure entry is nested too deeply") from None
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as e:
            raise self.fail(f"malformed structure entry ({type(e).__name__}: {e})") from None
        unused = self.entries - {n + ".npy" for n in self.used} - {STRUCTURE_ENTRY + ".npy"}
        if unused:
            raise self.fail(f"the structure entry does not match the arrays: entries "
                            f"{sorted(unused)} are not part of the structure")
        return obj

    def read_entry(self, entry):
        """The entry's array, in native byte order. Its sizes are checked before anything is
        allocated: the entry's declared size against the file's, the shape in its .npy header
        against the entry's size."""
        if type(entry) is not str or entry + ".npy" not in self.entries:
            raise self.fail(f"the structure entry does not match the arrays: it names the array "
                            f"{entry!r}, which is not in the file")
        info = self.zf.getinfo(entry + ".npy")
        if info.compress_type == zipfile.ZIP_STORED:
            sane = info.file_size == info.compress_size
        else:  # zipfile refuses any method it cannot inflate when the entry is opened
            sane = info.file_size <= info.compress_size * _DEFLATE_RATIO + 1024
        if not (sane and info.header_offset + info.compress_size <= self.archive_size):
            raise self.fail(f"entry '{entry}' declares {info.file_size} bytes, more than the "
                            f"{self.archive_size}-byte file can hold (truncated or corrupted)")
        try:
            with self.zf.open(info) as fp:
                array = self.read_npy(fp, entry, info.file_size)
        except ValueError as e:
            if isinstance(e, CheckpointError):
                raise
            raise self.fail(f"entry '{entry}' is not a valid .npy array ({e})") from None
        except _ZIP_ENTRY_ERRORS as e:
            raise self.fail(f"entry '{entry}' is corrupted ({e})") from None
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        return array

    def read_npy(self, fp, entry, size):
        """The .npy array in the open entry ``fp`` of ``size`` bytes."""
        version = np.lib.format.read_magic(fp)
        # 3.0 only differs for structured dtypes, which a checkpoint never holds
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f"unsupported .npy format version {version}")
        try:
            shape, fortran, dtype = read_header(fp)  # at most 10000 bytes of header
        except Exception as e:  # noqa: BLE001 - NumPy parses it with ast and tokenize, whose
            # errors for a damaged header are many (SyntaxError, TokenError, RecursionError...)
            raise ValueError(f"damaged header ({type(e).__name__}: {e})") from None
        if dtype.hasobject:
            raise self.fail(f"entry '{entry}' holds pickled Python objects, which minicnn never "
                            "loads (unpickling can run arbitrary code)")
        if any(n < 0 for n in shape):
            raise ValueError(f"negative dimension in shape {shape}")
        nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        if fp.tell() + nbytes != size:
            raise ValueError(f"its header describes {dtype.str} {shape} ({nbytes} bytes), but "
                             f"the entry holds {size - fp.tell()} bytes of data")
        buf = bytearray(nbytes)
        if fp.readinto(buf) != nbytes or fp.read(1):
            raise EOFError("the entry's data ends early or late")
        array = np.frombuffer(buf, dtype)
        if fortran:
            return array.reshape(shape[::-1]).transpose()
        return array.reshape(shape)

    def node(self, node):
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is list:
            return [self.node(v) for v in node]
        kind = node["type"]
        if kind == "tuple":
            return tuple(self.node(v) for v in node["items"])
        if kind in ("dict", "OrderedDict"):
            items = ((self.key(k), self.node(v)) for k, v in node["items"])
            return dict(items) if kind == "dict" else OrderedDict(items)
        if kind == "float":
            if node["value"] not in ("nan", "inf", "-inf"):
                raise self.fail(f"invalid float node {node!r}")
            return float(node["value"])
        if kind in ("Tensor", "Parameter", "ndarray", "scalar"):
            return self.array(node, kind)
        raise self.fail(f"unknown node type {kind!r} in the structure entry")

    def key(self, k):
        if k is None or type(k) in (bool, int, float, str):
            return k
        raise self.fail(f"invalid dict key {k!r} in the structure entry")

    def array(self, node, kind):
        entry = node["array"]
        if entry in self.used:
            return self.used[entry]
        array = self.read_entry(entry)
        shape = [] if kind == "scalar" else node["shape"]
        dtype = node["dtype"]
        if type(dtype) is str and dtype[:1] in "<>":  # arrays load in native byte order
            dtype = "=" + dtype[1:]
        if array.dtype != np.dtype(dtype) or list(array.shape) != shape:
            raise self.fail(f"the structure entry does not match the arrays: '{entry}' should "
                            f"have dtype {node['dtype']} and shape {tuple(shape)}, the file holds "
                            f"{array.dtype.str} {array.shape}")
        if kind == "ndarray":
            obj = array
        elif kind == "scalar":
            obj = array[()]
        else:
            obj = self.tensor(array, node, kind)
        self.used[entry] = obj
        return obj

    def tensor(self, array, node, kind):
        device = self.map_location
        if device is None:
            try:
                device = as_device(node["device"])
            except (RuntimeError, ValueError) as e:
                raise RuntimeError(f"{self.name}: a tensor was saved on device "
                                   f"{node['device']!r}, which is not usable here ({e}); pass "
                                   "map_location='cpu'") from None
        requires_grad = node["requires_grad"]
        if type(requires_grad) is not bool:
            raise self.fail(f"invalid requires_grad {requires_grad!r} in the structure entry")
        t = Tensor._wrap(array, as_device("cpu")).to(device)
        try:
            if kind == "Parameter":
                return self.parameter(t, requires_grad=requires_grad)
            if requires_grad:
                t.requires_grad_(True)
        except RuntimeError as e:  # only floating point tensors can require grad
            raise self.fail(f"a {kind} of dtype {t.dtype} requires grad ({e})") from None
        return t


# ------------------------------------------------------------------ safetensors

# the numpy dtypes that safetensors stores
_SAFETENSORS_DTYPES = frozenset(np.dtype(t) for t in (
    np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64,
    np.float16, np.float32, np.float64, np.complex64))


def _is_safetensors_path(f):
    return isinstance(f, (str, os.PathLike)) and os.fsdecode(f).lower().endswith(".safetensors")


def _import_safetensors():
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise ImportError(".safetensors files need the safetensors package: pip install "
                          "safetensors (or pip install minicnn[safetensors])") from None
    return safetensors


def _save_safetensors(obj, f, metadata):
    st = _import_safetensors()
    if type(obj) not in (dict, OrderedDict):
        raise TypeError(f"save: a .safetensors file holds only a flat mapping name -> tensor "
                        f"(a state_dict), got {type(obj).__name__}; save other objects to a "
                        ".npz checkpoint (any other file name)")
    arrays = {}
    for key, value in obj.items():
        if type(key) is not str:
            raise TypeError(f"save: a .safetensors file holds only a flat mapping name -> tensor; "
                            f"key {key!r} is a {type(key).__name__}, not a str")
        if not isinstance(value, (Tensor, np.ndarray)):
            raise TypeError(f"save: obj[{key!r}]: a .safetensors file holds only a flat mapping "
                            f"name -> tensor, got {type(value).__name__}; save nested or "
                            "non-tensor objects to a .npz checkpoint (any other file name)")
        array = value.detach().to("cpu")._data if isinstance(value, Tensor) else value
        if array.dtype not in _SAFETENSORS_DTYPES:
            raise TypeError(f"save: obj[{key!r}]: safetensors cannot store dtype {array.dtype}")
        # safetensors reads the raw buffer (np.ascontiguousarray would make a 0-d array 1-d)
        arrays[key] = array if array.flags.c_contiguous else array.copy(order="C")
    if metadata is not None and not (isinstance(metadata, dict) and all(
            type(k) is str and type(v) is str for k, v in metadata.items())):
        raise TypeError("save: metadata must be a dict str -> str")
    with _atomic_path(f) as tmp:
        st.numpy.save_file(arrays, tmp, metadata=metadata)


def _load_safetensors(f, map_location):
    st = _import_safetensors()
    name = os.fsdecode(f)
    device = map_location or as_device("cpu")
    out = OrderedDict()
    try:
        with st.safe_open(name, framework="np") as sf:
            for key in sf.keys():
                try:
                    # a writable copy, not a view of the file
                    array = sf.get_tensor(key)
                except (TypeError, AttributeError, ValueError):  # NumPy has no such dtype
                    raise CheckpointError(
                        f"{name}: tensor {key!r} has dtype {sf.get_slice(key).get_dtype()}, "
                        "which minicnn cannot load (no NumPy dtype)") from None
                out[key] = Tensor._wrap(array, as_device("cpu")).to(device)
    except st.SafetensorError as e:
        raise CheckpointError(f"{name}: not a valid .safetensors file ({e})") from None
    return out


# ------------------------------------------------------------------ helpers


def _path_str(path):
    return "obj" + "".join(f"[{k!r}]" for k in path)


def _article(noun):
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun
