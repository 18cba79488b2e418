"""Fuzzing every file parser: a small valid file of each format is mutated (cut short, bytes
flipped, header fields overwritten with drawn integers, bytes inserted; for the zip formats also
an entry's content changed inside a well-formed archive, so that the mutation reaches the .npy,
JSON and pickle parsers behind the zip's CRC check). Loading it must either succeed or raise one
of the parser's documented errors, within a time and a memory bound:

- IDX, raw and gzipped (``read_idx``): CorruptedFileError;
- CIFAR-10 python pickle and binary batches (``CIFAR10``): CorruptedFileError (UnsafePickleError
  is one);
- ``.npz`` checkpoints, PyTorch ``.pt`` files (``minicnn.load``): CheckpointError, or
  RuntimeError for a newer format version or a device not usable here, as documented;
- ``.safetensors`` (``minicnn.load``): CheckpointError.

The number of examples follows the hypothesis profile (tests/conftest.py): 25 per test by
default, 300 with HYPOTHESIS_PROFILE=thorough.
"""
import gzip
import io
import math
import pickle
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minicnn
from minicnn import data as D
from minicnn.serialization import CheckpointError

from helpers import bounded as bounded_by

# per example: far above what a valid file of these sizes takes, far below what a bomb would
TIME_LIMIT_S = 2.0
MEMORY_LIMIT = 64 << 20

FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def bounded(load):
    """The exception ``load()`` raised (None if none), within the time and memory bounds."""
    return bounded_by(load, TIME_LIMIT_S, MEMORY_LIMIT)


def check(error, allowed, path):
    if error is None:
        return
    if not isinstance(error, allowed):
        raise AssertionError(f"undocumented {type(error).__name__}: {error}") from error
    assert str(path) in str(error) or str(path.name) in str(error), str(error)


# ---------------------------------------------------------------- mutations


@st.composite
def mutations(draw, data, header=64, byteorder="<"):
    """``data`` (bytes) after 1 to 3 drawn mutations; offsets favour the first ``header``
    bytes, where the fields are."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        n = len(out)
        at = draw(st.one_of(st.integers(0, max(0, min(n, header) - 1)), st.integers(0, n)))
        kind = draw(st.sampled_from(["cut", "flip", "field", "insert"]))
        if kind == "cut":
            del out[at:]
        elif kind == "flip" and at < n:
            out[at] ^= draw(st.integers(1, 255))
        elif kind == "field":
            width = draw(st.sampled_from([1, 2, 4, 8]))
            value = draw(st.one_of(st.sampled_from([0, 1, 2**width * 8 - 1, 2**(width * 8 - 1)]),
                                   st.integers(0, 2**(width * 8) - 1)))
            order = draw(st.sampled_from([byteorder, "<" if byteorder == ">" else ">"]))
            out[at:at + width] = value.to_bytes(width, "little" if order == "<" else "big")
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(out)


@st.composite
def zip_mutations(draw, archive):
    """A well-formed zip (valid CRCs) whose entries are ``archive``'s with one changed (its
    content mutated, or removed, or renamed) or, half the time, the archive's bytes mutated."""
    if draw(st.booleans()):
        return draw(mutations(archive, header=128))
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    name = draw(st.sampled_from(sorted(entries)))
    kind = draw(st.sampled_from(["content", "content", "content", "remove", "rename"]))
    if kind == "content":
        entries[name] = draw(mutations(entries[name], header=128))
    elif kind == "remove":
        del entries[name]
    else:
        entries[name + draw(st.sampled_from(["x", "/", ".npy"]))] = entries.pop(name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for key, value in entries.items():
            zf.writestr(key, value)
    return buf.getvalue()


# ---------------------------------------------------------------- valid files


def idx_file(array, code):
    dtype = {0x08: ">u1", 0x0D: ">f4"}[code]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


RNG = np.random.default_rng(0)
IDX_IMAGES = idx_file(RNG.integers(0, 256, (3, 28, 28), dtype=np.uint8), 0x08)
IDX_FLOATS = idx_file(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), 0x0D)
IDX_FILES = [IDX_IMAGES, IDX_FLOATS, gzip.compress(IDX_IMAGES), gzip.compress(IDX_FLOATS)]


def cifar_batch(protocol, numpy_labels):
    labels = RNG.integers(0, 10, 2)
    batch = {b"batch_label": b"testing batch 1 of 1", b"filenames": [b"a.png", b"b.png"],
             b"data": RNG.integers(0, 256, (2, 3072), dtype=np.uint8),
             b"labels": list(labels) if numpy_labels else labels.tolist()}
    return pickle.dumps(batch, protocol=protocol)


CIFAR_PICKLES = [cifar_batch(2, False), cifar_batch(2, True), cifar_batch(4, False),
                 cifar_batch(5, True)]
CIFAR_BIN = bytes(RNG.integers(0, 10, 2).astype(np.uint8)[:, None].tobytes()[:1]
                  + RNG.integers(0, 256, 3072, dtype=np.uint8).tobytes()) * 2


def checkpoint_bytes(suffix, obj):
    """``obj`` saved by minicnn.save to a file named ``*suffix``, as bytes."""
    buf = io.BytesIO()
    buf.name = "x" + suffix
    minicnn.save(obj, buf)
    return buf.getvalue()


def checkpoint():
    w = minicnn.nn.Parameter(minicnn.tensor(np.arange(6, dtype=np.float32).reshape(3, 2)))
    return {"model": {"w": w, "w_again": w, "b": minicnn.tensor(np.arange(3))},
            "step": 3, "lr": 0.1, "nan": math.nan, "name": "run", "t": (1, None, True)}


NPZ = checkpoint_bytes(".npz", {**checkpoint(), "array": np.arange(4, dtype=">f4"),
                                "scalar": np.float64(2.5)})
PT = checkpoint_bytes(".pt", checkpoint())


def safetensors_bytes(tmp_path):
    pytest.importorskip("safetensors")
    path = tmp_path / "valid.safetensors"
    minicnn.save({"w": minicnn.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)),
                  "i": minicnn.tensor(np.arange(4, dtype=np.int64))}, path,
                 metadata={"epoch": "3"})
    return path.read_bytes()


# ---------------------------------------------------------------- tests


@FUZZ
@given(data=st.data(), which=st.sampled_from(range(len(IDX_FILES))))
def test_idx(tmp_path, data, which):
    valid = IDX_FILES[which]
    payload = data.draw(mutations(valid, header=24 if which < 2 else 40, byteorder=">"))
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(payload)
    check(bounded(lambda: D.read_idx(path)), D.CorruptedFileError, path)


@FUZZ
@given(data=st.data(), which=st.sampled_from(range(len(CIFAR_PICKLES))))
def test_cifar_pickle(tmp_path, data, which):
    payload = data.draw(mutations(CIFAR_PICKLES[which], header=200))
    path = tmp_path / "test_batch"
    path.write_bytes(payload)
    check(bounded(lambda: D.CIFAR10(tmp_path, train=False)), D.CorruptedFileError, path)


@FUZZ
@given(data=st.data())
def test_cifar_binary(tmp_path, data):
    payload = data.draw(mutations(CIFAR_BIN, header=8))
    path = tmp_path / "test_batch.bin"
    path.write_bytes(payload)
    check(bounded(lambda: D.CIFAR10(tmp_path, train=False)), D.CorruptedFileError, path)


def checkpoint_errors(error):
    """CheckpointError, or the RuntimeErrors minicnn.load documents."""
    if isinstance(error, RuntimeError) and not isinstance(error, CheckpointError):
        assert "newer than this minicnn reads" in str(error) or "device" in str(error), error
        return RuntimeError
    return CheckpointError


@FUZZ
@given(data=st.data())
def test_npz_checkpoint(tmp_path, data):
    payload = data.draw(zip_mutations(NPZ))
    path = tmp_path / "model.npz"
    path.write_bytes(payload)
    error = bounded(lambda: minicnn.load(path))
    check(error, checkpoint_errors(error), path)


@FUZZ
@given(data=st.data())
def test_pt_checkpoint(tmp_path, data):
    payload = data.draw(zip_mutations(PT))
    path = tmp_path / "model.pt"
    path.write_bytes(payload)
    error = bounded(lambda: minicnn.load(path))
    check(error, checkpoint_errors(error), path)


@FUZZ
@given(data=st.data())
def test_safetensors(tmp_path, data):
    valid = safetensors_bytes(tmp_path)
    header = 8 + struct.unpack("<Q", valid[:8])[0]
    payload = data.draw(mutations(valid, header=header))
    path = tmp_path / "model.safetensors"
    path.write_bytes(payload)
    check(bounded(lambda: minicnn.load(path)), CheckpointError, path)
