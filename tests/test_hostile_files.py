"""Hostile data files cost time and memory bounded by their size, and fail with the documented
errors: a gzipped IDX file that inflates to 1 GiB, an IDX header whose dimensions overflow,
pickle bombs (shared references, a tuple key whose hash never ends, a huge memo index, a huge
empty array), Pillow's decompression bombs, an .npy entry whose header promises terabytes,
symbolic link loops in an ImageFolder. Also: harmless CIFAR batches whose labels are NumPy
integers load, and a big-endian array comes back from a checkpoint in native byte order.

The bounds (seconds, MiB) are generous upper limits, not benchmarks: without the checks these
cases take minutes, gigabytes, or never end."""
import gzip
import io
import os
import pickle
import struct
import time
import warnings
import zipfile

import numpy as np
import pytest

import minicnn
from minicnn import data as D
from minicnn.serialization import CheckpointError

from helpers import bounded as bounded_by

TIME_LIMIT_S = 2.0
MEMORY_LIMIT = 100 << 20


def bounded(load):
    """The exception ``load()`` raised within the bounds (the test fails when it raised none)."""
    error = bounded_by(load, TIME_LIMIT_S, MEMORY_LIMIT)
    assert error is not None, "the hostile file was accepted"
    return error


def idx_header(code, dims):
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


# ---------------------------------------------------------------- IDX


def test_gzip_bomb_is_refused_after_the_promised_bytes(tmp_path):
    # gzip members concatenate: a header, then 64 members of 16 MiB of zeros each (1 GiB)
    zeros = gzip.compress(bytes(16 << 20), compresslevel=9)
    payload = idx_header(0x08, (10, 28, 28)) + bytes(10 * 28 * 28)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(payload) + zeros * 64)
    assert path.stat().st_size < 2 << 20
    error = bounded(lambda: D.read_idx(path))
    assert isinstance(error, D.CorruptedFileError)
    assert "longer than its header says" in str(error) and str(path) in str(error)


def test_header_promising_more_than_gzip_can_hold_is_refused_before_inflating(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_header(0x08, (60000, 28, 28)) + bytes(1000)))
    error = bounded(lambda: D.read_idx(path))
    assert isinstance(error, D.CorruptedFileError)
    assert "gzip data can inflate to" in str(error)


@pytest.mark.parametrize("gz", [False, True])
def test_header_dimensions_whose_product_overflows_are_refused(tmp_path, gz):
    # 65536**4 = 2**64: 0 in 64-bit arithmetic, which an empty file would then match
    payload = idx_header(0x08, (65536,) * 4)
    path = tmp_path / "overflow-idx4-ubyte"
    path.write_bytes(gzip.compress(payload) if gz else payload)
    error = bounded(lambda: D.read_idx(path))
    assert isinstance(error, D.CorruptedFileError), repr(error)
    assert "(65536, 65536, 65536, 65536)" in str(error) and str(2 ** 64 + 20) in str(error)


# ---------------------------------------------------------------- CIFAR pickles


def cifar_folder(tmp_path, payload):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir(exist_ok=True)
    (folder / "test_batch").write_bytes(payload)
    return folder


def shared_list_bomb(levels):
    """A pickled dict {b"data": ..., b"labels": L} where L = [a, a, a, a] nested ``levels``
    deep, every level a list of four references to the one below (memo index 0): 4**levels
    leaves from 16 bytes per level."""
    bomb = b"]q\x00" + b"(h\x00h\x00h\x00h\x00lq\x0000h\x00" * levels
    return b"\x80\x02}q\x01(U\x04dataK\x00U\x06labels" + bomb + b"u."


def test_shared_list_bomb_is_refused_in_milliseconds(tmp_path):
    payload = shared_list_bomb(16)
    assert len(payload) < 300
    cifar_folder(tmp_path, payload)
    error = bounded(lambda: D.CIFAR10(tmp_path, train=False))
    assert isinstance(error, D.CorruptedFileError)
    assert "test_batch: not a readable CIFAR-10 pickle" in str(error) and "bomb" in str(error)


def test_tuple_bomb_as_a_dict_key_is_refused_before_it_is_hashed(tmp_path):
    # t = (t, t) 60 times (DUP, TUPLE2), then {t: 1}: hashing t would visit 2**60 tuples
    payload = b"\x80\x02})" + b"2\x86" * 60 + b"K\x01s."
    cifar_folder(tmp_path, payload)
    error = bounded(lambda: D.CIFAR10(tmp_path, train=False))
    assert isinstance(error, D.CorruptedFileError) and "bomb" in str(error)


def test_huge_memo_index_is_refused(tmp_path):
    # LONG_BINPUT 2**31 - 1: the C unpickler would size its memo to 16 GiB
    cifar_folder(tmp_path, b"\x80\x02}r\xff\xff\xff\x7f.")
    error = bounded(lambda: D.CIFAR10(tmp_path, train=False))
    assert isinstance(error, D.CorruptedFileError) and "memo index 2147483647" in str(error)


def test_reconstruct_of_a_huge_array_is_refused(tmp_path):
    # numpy's _reconstruct(ndarray, (2**40,), b"b"): would allocate a terabyte before BUILD
    payload = (b"\x80\x02}(U\x04datacnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
               b"\x8a\x06\x00\x00\x00\x00\x00\x01\x85U\x01b\x87RU\x06labels]u.")
    cifar_folder(tmp_path, payload)
    error = bounded(lambda: D.CIFAR10(tmp_path, train=False))
    assert isinstance(error, D.CorruptedFileError) and "_reconstruct" in str(error)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_labels_that_are_numpy_integers_load(tmp_path, protocol):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    labels = [np.int64(3), np.uint8(9), np.int32(0)]
    cifar_folder(tmp_path, pickle.dumps({b"data": images, b"labels": labels}, protocol=protocol))
    ds = D.CIFAR10(tmp_path, train=False)
    np.testing.assert_array_equal(ds.targets, [3, 9, 0])
    assert ds.targets.dtype == np.int64


def test_labels_that_are_not_integers_are_refused(tmp_path):
    images = np.zeros((2, 3072), np.uint8)
    for labels in ([[1], [2]], [1.5, 2.0], [2 ** 70, 1]):
        cifar_folder(tmp_path, pickle.dumps({b"data": images, b"labels": labels}))
        with pytest.raises(D.CorruptedFileError, match="'labels' must be a list of integers"):
            D.CIFAR10(tmp_path, train=False)


# ---------------------------------------------------------------- images (Pillow)


@pytest.fixture
def small_bomb_limit(monkeypatch):
    """Pillow's limit lowered to 100 pixels: a 30x30 image is then a decompression bomb
    (more than twice the limit), a 15x10 one draws the warning."""
    Image = pytest.importorskip("PIL.Image")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    return Image


def test_decompression_bomb_is_a_corrupted_file(tmp_path, small_bomb_limit):
    Image = small_bomb_limit
    (tmp_path / "cat").mkdir()
    path = tmp_path / "cat" / "big.png"
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(path)
    with pytest.raises(D.CorruptedFileError, match=r"big\.png: not a readable image"):
        D.load_image(path)
    with pytest.raises(D.CorruptedFileError, match=r"big\.png: not a readable image"):
        D.ImageFolder(tmp_path)
    ds = D.ImageFolder(tmp_path, mode="L")  # no header read at construction
    with pytest.raises(D.CorruptedFileError, match=r"big\.png: not a readable image"):
        ds[0]
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((10, 15), np.uint8)).save(small)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(D.CorruptedFileError, match=r"small\.png: not a readable image"):
            D.load_image(small)


def test_decompression_bomb_given_to_predict_is_an_input_file_error(tmp_path, small_bomb_limit):
    from minicnn.training import InputFileError, read_images
    path = tmp_path / "big.png"
    small_bomb_limit.fromarray(np.zeros((30, 30), np.uint8)).save(path)
    info = {"name": "mnist", "image_size": (28, 28), "channels": 1, "mean": (0.5,),
            "std": (0.5,)}
    with pytest.raises(InputFileError, match=r"big\.png: not an image file Pillow can read"):
        read_images([str(path)], info)


def test_image_folder_does_not_follow_link_loops(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    root = tmp_path / "root"
    outside = tmp_path / "more_dogs"
    for folder in (root / "cat" / "sub", root / "dog", outside):
        folder.mkdir(parents=True)
    for path in (root / "cat" / "a.png", root / "cat" / "sub" / "b.png", root / "dog" / "c.png",
                 outside / "d.png"):
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(path)
    os.symlink("..", root / "cat" / "up")  # the root: every class again, under "cat"
    os.symlink(".", root / "cat" / "sub" / "self")
    os.symlink("../..", root / "cat" / "sub" / "loop")
    os.symlink("/", root / "dog" / "everything")
    os.symlink("../cat", root / "dog" / "cats")  # another class
    os.symlink(outside, root / "dog" / "more")  # a folder elsewhere: followed, as torchvision
    start = time.perf_counter()
    ds = D.ImageFolder(root)
    assert time.perf_counter() - start < TIME_LIMIT_S
    got = [(os.path.relpath(p, root), t) for p, t in ds.samples]
    assert got == [("cat/a.png", 0), ("cat/sub/b.png", 0), ("dog/c.png", 1),
                   ("dog/more/d.png", 1)]


# ---------------------------------------------------------------- checkpoints


def test_npy_entry_promising_terabytes_is_refused_before_allocating(tmp_path):
    path = tmp_path / "model.npz"
    minicnn.save({"w": np.zeros(3, np.float32)}, path)
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    header = {"descr": "<f4", "fortran_order": False, "shape": (2 ** 40,)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    entries["w.npy"] = buf.getvalue() + bytes(12)
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    error = bounded(lambda: minicnn.load(path))
    assert isinstance(error, CheckpointError)
    assert "entry 'w' is not a valid .npy array" in str(error) and "(1099511627776,)" in str(error)


def test_big_endian_arrays_load_in_native_byte_order(tmp_path):
    path = tmp_path / "model.npz"
    values = np.arange(6, dtype=">f4").reshape(2, 3)
    minicnn.save({"t": minicnn.tensor(values.astype("<f4")), "a": values,
                  "s": np.float64(2.5).astype(">f8")}, path)
    with zipfile.ZipFile(path) as zf:  # the tensor stored big-endian, as another machine might
        entries = {n: zf.read(n) for n in zf.namelist()}
    buf = io.BytesIO()
    np.lib.format.write_array(buf, values)
    entries["t.npy"] = buf.getvalue()
    doc = entries["__minicnn_checkpoint__.npy"].replace(b'"<f4"', b'">f4"')
    entries["__minicnn_checkpoint__.npy"] = doc
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    got = minicnn.load(path)
    for value in (got["t"].numpy(), got["a"]):
        assert value.dtype == np.float32 and value.dtype.isnative
        np.testing.assert_array_equal(value, values)
    assert got["s"] == 2.5 and got["s"].dtype.isnative


def test_safetensors_dtype_numpy_lacks_is_a_checkpoint_error(tmp_path):
    pytest.importorskip("safetensors")
    header = b'{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}'
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x80\x3f\x00\xc0")
    try:
        import ml_dtypes  # noqa: F401  (the amp extra: NumPy gets a bfloat16 dtype)
    except ImportError:
        with pytest.raises(CheckpointError, match="tensor 'w' has dtype BF16"):
            minicnn.load(path)
    else:  # with it, bfloat16 tensors load as minicnn.bfloat16: [1.0, -2.0]
        w = minicnn.load(path)["w"]
        assert w.dtype == minicnn.bfloat16 and w.float().tolist() == [1.0, -2.0]
