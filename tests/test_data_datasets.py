"""minicnn.data data sets and downloads, on small files written here in the real formats: IDX
(.gz and raw), CIFAR-10 python pickle batches (Python 3 pickles and a hand-made Python 2 one) and
binary batches, a PNG/JPEG folder. No network: downloads come from file:// URLs or a patched
urlopen. One optional test reads the real Fashion-MNIST from Debian's package when installed."""
import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import re
import socket
import struct
import tarfile
from urllib.error import HTTPError, URLError

import numpy as np
import pytest

import minicnn
from minicnn import cli
from minicnn import data as D
from minicnn.data import download as dl
from minicnn.data import transforms as T
from minicnn.data.datasets import Download

DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No $MINICNN_DATA, an empty cache, no system folders, no network."""
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for name in ("mnist", "fashion-mnist", "cifar10"):
        info = dict.__getitem__(D.DATASETS, name)
        monkeypatch.setitem(D.DATASETS, name, dataclasses.replace(info, system_dirs=()))

    def offline(*args, **kwargs):
        raise AssertionError("a test tried to reach the network")

    monkeypatch.setattr(dl, "urlopen", offline)


# ---------------------------------------------------------------- writers


def idx_bytes(array, code=0x08):
    dtype = {0x08: ">u1", 0x0C: ">i4", 0x0D: ">f4"}[code]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.asarray(array).astype(dtype).tobytes()


def write(path, payload, gz):
    path = str(path) + (".gz" if gz else "")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
        f.write(payload)
    return path


def make_mnist(folder, gz=True, n_train=7, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        write(os.path.join(folder, f"{split}-images-idx3-ubyte"), idx_bytes(images), gz)
        write(os.path.join(folder, f"{split}-labels-idx1-ubyte"), idx_bytes(labels), gz)
        arrays[split] = images, labels
    return arrays


def cifar_dict(n, seed, labels=None):
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"training batch", b"filenames": [b"f%d.png" % i for i in range(n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, n).tolist() if labels is None else labels}


def make_cifar(folder, protocol=pickle.DEFAULT_PROTOCOL, n=4, meta=True):
    os.makedirs(folder, exist_ok=True)
    batches = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        batches[name] = cifar_dict(n, i)
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(batches[name], f, protocol=protocol)
    if meta:
        names = [b"c%d" % i for i in range(10)]
        with open(os.path.join(folder, "batches.meta"), "wb") as f:
            pickle.dump({b"label_names": names, b"num_cases_per_batch": n}, f, protocol=protocol)
    return batches


def py2_pickle(batch):
    """The opcodes Python 2's cPickle writes for a CIFAR batch: str as SHORT_BINSTRING/BINSTRING,
    the array through numpy.core.multiarray._reconstruct with a py2 dtype state."""
    def s(b):
        if len(b) < 256:
            return b"U" + bytes([len(b)]) + b
        return b"T" + struct.pack("<I", len(b)) + b

    images = batch[b"data"]
    n = images.shape[0]
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + s(b"b")
             + b"\x87R(K\x01M" + struct.pack("<H", n) + b"M\x00\x0c\x86"
             + b"cnumpy\ndtype\n" + s(b"u1") + b"K\x00K\x01\x87R"
             + b"(K\x03" + s(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
             + b"\x89" + s(images.tobytes()) + b"tb")
    labels = b"](" + b"".join(b"K" + bytes([int(v)]) for v in batch[b"labels"]) + b"e"
    names = b"](" + b"".join(s(f) for f in batch[b"filenames"]) + b"e"
    return (b"\x80\x02}(" + s(b"data") + array + s(b"labels") + labels
            + s(b"batch_label") + s(batch[b"batch_label"]) + s(b"filenames") + names + b"u.")


def as_hwc(flat):
    return flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


# ---------------------------------------------------------------- IDX sets


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("cls", [D.MNIST, D.FashionMNIST])
def test_idx_loading(tmp_path, gz, cls):
    arrays = make_mnist(tmp_path, gz=gz)
    for train, key in ((True, "train"), (False, "t10k")):
        ds = cls(root=tmp_path, train=train)
        images, labels = arrays[key]
        assert ds.data.dtype == np.uint8 and ds.data.shape == images.shape
        assert ds.targets.dtype == np.int64 and len(ds) == len(labels)
        np.testing.assert_array_equal(ds.data, images)
        np.testing.assert_array_equal(ds.targets, labels)
        assert ds.classes == list(D.DATASETS[cls.name].classes) and len(ds.class_to_idx) == 10
        img, label = ds[-1]
        assert img.dtype == np.uint8 and img.shape == (28, 28) and label == labels[-1]
        np.testing.assert_array_equal(img, images[-1])
    assert ds.folder == os.path.normpath(tmp_path)
    ds.data[0, 0, 0] = 1  # writable, like torchvision's


def test_getitems_batches_through_the_transform(tmp_path):
    arrays = make_mnist(tmp_path, n_train=9)
    images, labels = arrays["train"]
    ds = D.MNIST(tmp_path)
    x, y = ds.__getitems__([3, 0, 8])
    assert x.dtype == np.float32 and x.shape == (3, 1, 28, 28) and y.dtype == np.int64
    np.testing.assert_allclose(x[:, 0], images[[3, 0, 8]] / 255, rtol=1e-6)
    np.testing.assert_array_equal(y, labels[[3, 0, 8]])
    ds.transform = T.Compose([T.ToTensor(), T.Normalize(0.5, 0.25)])
    x, _ = ds.__getitems__(np.array([1, 2]))
    np.testing.assert_allclose(x[:, 0], (images[1:3] / 255 - 0.5) / 0.25, rtol=1e-5, atol=1e-6)
    single, label = ds[1]
    assert single.shape == (1, 28, 28) and label == labels[1]
    np.testing.assert_allclose(single, x[0], rtol=1e-6)
    ds.transform = lambda img: img.astype(np.float32)[None] / 2  # per-image callable
    x, _ = ds.__getitems__([4])
    np.testing.assert_allclose(x[0, 0], images[4] / 2)
    ds.transform = T.RandomHorizontalFlip(p=1.0)  # leaves uint8: ToTensor finishes the batch
    x, _ = ds.__getitems__([4])
    np.testing.assert_allclose(x[0, 0], images[4][:, ::-1] / 255, rtol=1e-6)
    with pytest.raises(IndexError, match="index 9 out of range for 9"):
        ds.__getitems__([0, 9])
    with pytest.raises(IndexError, match="out of range"):
        ds[-10]
    with pytest.raises(TypeError, match="integer"):
        ds[1.5]
    with pytest.raises(TypeError, match="transform must be callable"):
        D.MNIST(tmp_path, transform=3)


def test_loader_over_a_dataset(tmp_path):
    make_mnist(tmp_path, n_train=10)
    ds = D.FashionMNIST(tmp_path, transform=T.Compose([T.ToTensor(), T.RandomCrop(28, 2)]))
    batches = list(D.DataLoader(ds, batch_size=4, shuffle=True, seed=0, num_workers=2))
    assert [tuple(x.shape) for x, _ in batches] == [(4, 1, 28, 28)] * 2 + [(2, 1, 28, 28)]
    assert sorted(np.concatenate([y.numpy() for _, y in batches])) == sorted(ds.targets)


def test_torchvision_layout_env_and_cache_order(tmp_path, monkeypatch):
    tv = make_mnist(tmp_path / "tv" / "FashionMNIST" / "raw", seed=1)
    env = make_mnist(tmp_path / "env" / "fashion-mnist", seed=2)
    cache = make_mnist(tmp_path / "xdg" / "minicnn" / "fashion-mnist", seed=3)
    system = make_mnist(tmp_path / "system", seed=4, gz=False)

    def first_image():
        return D.FashionMNIST().data[0]

    info = dict.__getitem__(D.DATASETS, "fashion-mnist")
    monkeypatch.setitem(D.DATASETS, "fashion-mnist",
                        dataclasses.replace(info, system_dirs=(str(tmp_path / "system"),)))
    np.testing.assert_array_equal(first_image(), cache["train"][0][0])
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "env"))
    np.testing.assert_array_equal(first_image(), env["train"][0][0])
    np.testing.assert_array_equal(D.FashionMNIST(root=tmp_path / "tv").data[0], tv["train"][0][0])
    monkeypatch.delenv("MINICNN_DATA")
    for f in os.listdir(tmp_path / "xdg" / "minicnn" / "fashion-mnist"):
        os.remove(tmp_path / "xdg" / "minicnn" / "fashion-mnist" / f)
    np.testing.assert_array_equal(first_image(), system["train"][0][0])
    assert [o for _, o in D.search_dirs("fashion-mnist", root="r")] == \
        ["root"] * 3 + ["cache"] * 3 + ["system"]


def test_not_found_message_lists_places_and_remedies(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "env"))
    (tmp_path / "given").mkdir()
    with pytest.raises(D.DatasetNotFoundError) as info:
        D.MNIST(root=tmp_path / "given")
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, D.DatasetError)
    for folder, _ in D.search_dirs("mnist", tmp_path / "given"):
        assert folder in msg
    for text in ("MNIST (training set) not found", "train-images-idx3-ubyte[.gz]",
                 "download=True", "minicnn data fetch mnist", "MINICNN_DATA",
                 "lacks train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]",
                 "no such folder", str(tmp_path / "given" / "mnist")):
        assert text in msg
    with pytest.raises(D.DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        D.FashionMNIST()
    info = dict.__getitem__(D.DATASETS, "fashion-mnist")
    monkeypatch.setitem(D.DATASETS, "fashion-mnist", dataclasses.replace(
        info, system_dirs=(str(tmp_path / "nowhere"),)))
    with pytest.raises(D.DatasetNotFoundError, match="installs .*nowhere"):
        D.get_dataset("fashion_mnist", train=False)
    make_mnist(tmp_path / "half", n_test=0)
    os.remove(tmp_path / "half" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(D.DatasetNotFoundError, match=r"lacks t10k-labels-idx1-ubyte\[\.gz\]"):
        D.MNIST(tmp_path / "half", train=False)


def test_get_dataset_names(tmp_path):
    make_mnist(tmp_path)
    for name in ("fashion-mnist", "FashionMNIST", "fashion_mnist", " Fashion-MNIST "):
        assert isinstance(D.get_dataset(name, root=tmp_path), D.FashionMNIST)
    assert type(D.get_dataset("mnist", root=tmp_path)) is D.MNIST
    assert D.DATASETS["fashion_mnist"] is D.DATASETS["fashion-mnist"] and "cifar-10" in D.DATASETS
    info = D.DATASETS["cifar10"]
    assert info.shape == (3, 32, 32) and info["num_classes"] == 10 and info["mean"][0] == 0.4914
    with pytest.raises(ValueError, match="'imagenet'; expected one of: mnist, fashion-mnist, c"):
        D.get_dataset("imagenet")
    with pytest.raises(KeyError):
        D.DATASETS["imagenet"]


# ---------------------------------------------------------------- damaged IDX files


def raw_train_images(folder):
    make_mnist(folder, gz=False)
    path = folder / "train-images-idx3-ubyte"
    return path, path.read_bytes()


@pytest.mark.parametrize("cut", [0, 3, 6, 15, 16, 100, -1])
@pytest.mark.parametrize("gz", [False, True])
def test_truncated_files(tmp_path, cut, gz):
    path, payload = raw_train_images(tmp_path)
    if gz:
        os.remove(path)
        packed = gzip.compress(payload)
        path = tmp_path / "train-images-idx3-ubyte.gz"
        path.write_bytes(packed[:cut] if cut > 2 else packed[:len(packed) // 2])
    else:
        path.write_bytes(payload[:cut])
    with pytest.raises(D.CorruptedFileError) as info:
        D.MNIST(tmp_path)
    msg = str(info.value)
    assert str(path) in msg and "minicnn data fetch mnist" in msg and "Delete" in msg
    if not gz and cut > 16:
        assert "cut short" in msg and str(len(payload)) in msg


def test_wrong_magic_type_dims_counts_and_labels(tmp_path):
    path, payload = raw_train_images(tmp_path)
    path.write_bytes(b"\x00\x00\x08\x01" + payload[4:])  # says 1-D
    with pytest.raises(D.CorruptedFileError, match="longer than its header"):
        D.MNIST(tmp_path)
    path.write_bytes(b"\x12\x34\x08\x03" + payload[4:])
    with pytest.raises(D.CorruptedFileError, match="magic number 0x12340803"):
        D.MNIST(tmp_path)
    path.write_bytes(b"\x00\x00\x07\x03" + payload[4:])  # unknown type code
    with pytest.raises(D.CorruptedFileError, match="not an IDX file"):
        D.MNIST(tmp_path)
    path.write_bytes(idx_bytes(np.zeros((7, 28, 28), np.int32), code=0x0C))
    with pytest.raises(D.CorruptedFileError, match=r"expected uint8 images of shape \(N, 28, 28\)"):
        D.MNIST(tmp_path)
    path.write_bytes(idx_bytes(np.zeros((7, 27, 28), np.uint8)))
    with pytest.raises(D.CorruptedFileError, match="28, 28"):
        D.MNIST(tmp_path)
    path.write_bytes(idx_bytes(np.zeros((6, 28, 28), np.uint8)))
    with pytest.raises(D.CorruptedFileError, match="6 images but .* 7 labels"):
        D.MNIST(tmp_path)
    path.write_bytes(payload + b"\x00")
    with pytest.raises(D.CorruptedFileError, match="longer than its header says"):
        D.MNIST(tmp_path)
    path.write_bytes(payload)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.full(7, 10, np.uint8)))
    with pytest.raises(D.CorruptedFileError, match=r"labels must lie in \[0, 10\)"):
        D.MNIST(tmp_path)


def test_read_idx_other_types_and_gzip_by_content(tmp_path):
    a = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    p = write(tmp_path / "a.idx", idx_bytes(a, code=0x0C), gz=True)
    os.rename(p, tmp_path / "a.idx")  # gzip data without the .gz name
    out = D.read_idx(tmp_path / "a.idx")
    np.testing.assert_array_equal(out, a)
    assert out.dtype == np.int32 and out.dtype.isnative
    f = np.linspace(0, 1, 5, dtype=np.float32)
    (tmp_path / "f.idx").write_bytes(idx_bytes(f, code=0x0D))
    np.testing.assert_array_equal(D.read_idx(tmp_path / "f.idx"), f)


def test_system_file_hint_says_reinstall(tmp_path, monkeypatch):
    path, payload = raw_train_images(tmp_path / "sys")
    path.write_bytes(payload[:50])
    info = dict.__getitem__(D.DATASETS, "fashion-mnist")
    monkeypatch.setitem(D.DATASETS, "fashion-mnist",
                        dataclasses.replace(info, system_dirs=(str(tmp_path / "sys"),)))
    with pytest.raises(D.CorruptedFileError, match="apt-get install --reinstall dataset-fashion"):
        D.FashionMNIST()


# ---------------------------------------------------------------- CIFAR-10


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_python_batches(tmp_path, protocol):
    batches = make_cifar(tmp_path / "cifar-10-batches-py", protocol=protocol)
    ds = D.CIFAR10(root=tmp_path)  # torchvision's layout
    assert ds.data.shape == (20, 32, 32, 3) and ds.data.dtype == np.uint8
    assert ds.data.flags.c_contiguous
    expected = np.concatenate([batches[f"data_batch_{k}"][b"data"] for k in range(1, 6)])
    np.testing.assert_array_equal(ds.data, as_hwc(expected))
    assert ds.targets.dtype == np.int64
    labels = [v for k in range(1, 6) for v in batches[f"data_batch_{k}"][b"labels"]]
    assert ds.targets.tolist() == labels
    assert ds.classes == [f"c{i}" for i in range(10)]
    test = D.CIFAR10(root=tmp_path, train=False)
    np.testing.assert_array_equal(test.data, as_hwc(batches["test_batch"][b"data"]))
    x, y = test.__getitems__([0, 3])
    assert x.shape == (2, 3, 32, 32) and x.dtype == np.float32
    assert y.tolist() == [batches["test_batch"][b"labels"][i] for i in (0, 3)]
    chw = as_hwc(batches["test_batch"][b"data"])[3].transpose(2, 0, 1)
    np.testing.assert_allclose(x[1], chw / 255, rtol=1e-6)
    img, label = test[2]
    assert img.shape == (32, 32, 3) and label == batches["test_batch"][b"labels"][2]


def test_cifar_python2_pickle(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batch = cifar_dict(3, 5, labels=[1, 9, 0])
    (folder / "test_batch").write_bytes(py2_pickle(batch))
    ds = D.CIFAR10(tmp_path, train=False)
    np.testing.assert_array_equal(ds.data, as_hwc(batch[b"data"]))
    assert ds.targets.tolist() == [1, 9, 0]
    assert ds.classes == list(D.DATASETS["cifar10"].classes)  # no batches.meta: the defaults


def test_cifar_binary_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    records = {}
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        rec = rng.integers(0, 256, (3, 3073), dtype=np.uint8)
        rec[:, 0] %= 10
        records[name] = rec
        (folder / f"{name}.bin").write_bytes(rec.tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(f"k{i}" for i in range(10)) + "\n\n")
    ds = D.CIFAR10(tmp_path / "cifar-10-batches-bin")
    train = np.concatenate([records[f"data_batch_{k}"] for k in range(1, 6)])
    np.testing.assert_array_equal(ds.data, as_hwc(train[:, 1:]))
    np.testing.assert_array_equal(ds.targets, train[:, 0])
    assert ds.classes[3] == "k3"
    (folder / "test_batch.bin").write_bytes(records["test_batch"].tobytes()[:-7])
    with pytest.raises(D.CorruptedFileError, match="not a whole number of 3073-byte records"):
        D.CIFAR10(tmp_path, train=False)


def test_cifar_damaged_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar(folder)
    good = (folder / "test_batch").read_bytes()
    for cut in (1, 10, len(good) // 2, len(good) - 1):
        (folder / "test_batch").write_bytes(good[:cut])
        with pytest.raises(D.CorruptedFileError, match="test_batch: not a readable CIFAR-10"):
            D.CIFAR10(tmp_path, train=False)
    bad = cifar_dict(4, 0)
    bad[b"data"] = bad[b"data"][:, :100]
    (folder / "test_batch").write_bytes(pickle.dumps(bad))
    with pytest.raises(D.CorruptedFileError, match=r"uint8 of shape \(N, 3072\)"):
        D.CIFAR10(tmp_path, train=False)
    bad = cifar_dict(4, 0, labels=[1, 2, 3])
    (folder / "test_batch").write_bytes(pickle.dumps(bad))
    with pytest.raises(D.CorruptedFileError, match="4 images but 3 labels"):
        D.CIFAR10(tmp_path, train=False)
    (folder / "test_batch").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(D.CorruptedFileError, match="expected a pickled dict"):
        D.CIFAR10(tmp_path, train=False)


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar(folder)
    marker = tmp_path / "pwned"
    evil = Evil()
    evil.marker = marker
    payload = cifar_dict(4, 0)
    payload[b"batch_label"] = evil
    (folder / "test_batch").write_bytes(pickle.dumps(payload))
    with pytest.raises(D.UnsafePickleError, match=r"calls (posix|os)\.system.*nothing in it was"):
        D.CIFAR10(tmp_path, train=False)
    assert not marker.exists()
    # protocol 0 with the classic GLOBAL + REDUCE, and builtins.eval
    (folder / "test_batch").write_bytes(b"cbuiltins\neval\n(S'1+1'\ntR.")
    with pytest.raises(D.UnsafePickleError, match="builtins.eval"):
        D.CIFAR10(tmp_path, train=False)
    (folder / "test_batch").write_bytes(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00a"
                                        b"X\x06\x00\x00\x00base64\x86R.")
    with pytest.raises(D.UnsafePickleError, match="_codecs.encode with encoding 'base64'"):
        D.CIFAR10(tmp_path, train=False)


# ---------------------------------------------------------------- ImageFolder


def make_folder(root, rng, colour=False):
    Image = pytest.importorskip("PIL.Image")
    arrays = {}
    for cls, n in (("cat", 2), ("ant", 3), ("bee", 1)):
        (root / cls / "sub").mkdir(parents=True)
        for i in range(n):
            shape = (5, 6, 3) if colour and cls == "bee" else (5, 6)
            a = rng.integers(0, 256, shape, dtype=np.uint8)
            where = root / cls / ("sub" if i == 2 else "") / f"{i}.png"
            Image.fromarray(a).save(where)
            arrays[str(where)] = a
    (root / "ant" / "notes.txt").write_text("not an image")
    return arrays


def test_image_folder_grey(tmp_path, rng):
    arrays = make_folder(tmp_path, rng)
    ds = D.ImageFolder(tmp_path)
    assert ds.classes == ["ant", "bee", "cat"] and ds.class_to_idx == {"ant": 0, "bee": 1, "cat": 2}
    assert [t for _, t in ds.samples] == [0, 0, 0, 1, 2, 2] and ds.targets.dtype == np.int64
    assert ds.samples == sorted(ds.samples) and ds.mode == "L"
    for i, (path, target) in enumerate(ds.samples):
        img, label = ds[i]
        assert label == target
        np.testing.assert_array_equal(img, arrays[path])  # PNG is lossless
    x, y = ds.__getitems__([0, 5])
    assert x.shape == (2, 1, 5, 6) and y.tolist() == [0, 2]
    np.testing.assert_allclose(x[1, 0], arrays[ds.samples[5][0]] / 255, rtol=1e-6)
    (tmp_path / "ant" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(D.CorruptedFileError, match="broken.png: not a readable image"):
        D.ImageFolder(tmp_path)  # found while checking whether every image is grey


def test_image_folder_colour_jpeg_and_errors(tmp_path, rng):
    Image = pytest.importorskip("PIL.Image")
    make_folder(tmp_path, rng, colour=True)
    jpeg = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    Image.fromarray(jpeg).save(tmp_path / "cat" / "j.JPG")
    ds = D.ImageFolder(tmp_path, transform=T.ToTensor())
    assert ds.mode == "RGB" and len(ds) == 7
    assert ds[0][0].shape == (3, 5, 6)  # grey files converted to RGB too
    x, _ = ds.__getitems__(range(7))
    assert x.shape == (7, 3, 5, 6)
    assert D.ImageFolder(tmp_path, mode="L")[6][0].ndim == 2
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "cat" / "big.png")
    with pytest.raises(ValueError, match="one size"):
        D.ImageFolder(tmp_path).__getitems__(range(8))
    (tmp_path / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ds = D.ImageFolder(tmp_path, mode="RGB")  # images are decoded when read
    broken = [p for p, _ in ds.samples].index(str(tmp_path / "cat" / "broken.png"))
    with pytest.raises(D.CorruptedFileError, match="broken.png: not a readable image"):
        ds[broken]
    (tmp_path / "empty").mkdir()
    (tmp_path / "cat" / "broken.png").unlink()
    with pytest.raises(D.DatasetNotFoundError, match="no image in .*empty"):
        D.ImageFolder(tmp_path)
    with pytest.raises(D.DatasetNotFoundError, match="not a folder"):
        D.ImageFolder(tmp_path / "missing")


# ---------------------------------------------------------------- downloads


def md5(b):
    return hashlib.md5(b).hexdigest()


@pytest.fixture
def served_mnist(tmp_path, monkeypatch):
    """A tiny MNIST behind file:// URLs, with DATASETS["mnist"] pointing at it."""
    server = tmp_path / "server"
    make_mnist(server, gz=True)
    info = dict.__getitem__(D.DATASETS, "mnist")
    downloads, files = [], {}
    for d in info.downloads:
        payload = (server / d.filename).read_bytes()
        downloads.append(dataclasses.replace(d, urls=((server / d.filename).as_uri(),),
                                             md5=md5(payload), size=len(payload)))
        files[d.filename[:-3]] = md5(gzip.decompress(payload))
    patched = dataclasses.replace(info, downloads=tuple(downloads), files=files)
    monkeypatch.setitem(D.DATASETS, "mnist", patched)
    from urllib.request import urlopen
    monkeypatch.setattr(dl, "urlopen", urlopen)
    return patched


def test_fetch_verifies_and_download_true_uses_it(tmp_path, served_mnist, capsys):
    folder = D.fetch("mnist", root=tmp_path / "data", progress=False)
    assert folder == str(tmp_path / "data" / "mnist")
    assert sorted(os.listdir(folder)) == sorted(d.filename for d in served_mnist.downloads)
    ds = D.MNIST(tmp_path / "data", download=True)
    assert len(ds) == 7
    assert "present and verified" in D.info("mnist", root=tmp_path / "data")
    text = D.info("fashion-mnist")
    assert "not found" in text and "minicnn data fetch fashion-mnist" in text
    # a second fetch finds everything in place and downloads nothing
    dl.urlopen = None
    assert D.fetch("mnist", root=tmp_path / "data") == folder


def test_download_true_into_the_cache(tmp_path, served_mnist):
    with pytest.raises(D.DatasetNotFoundError):
        D.MNIST()
    ds = D.MNIST(download=True, train=False)
    assert len(ds) == 5 and ds.folder == os.path.join(D.cache_dir(), "mnist")
    assert D.download_dir("mnist") == os.path.join(str(tmp_path / "xdg"), "minicnn", "mnist")


def test_md5_mismatch_removes_the_file(tmp_path, served_mnist, monkeypatch):
    bad = list(served_mnist.downloads)
    bad[1] = dataclasses.replace(bad[1], md5="0" * 32)
    monkeypatch.setitem(D.DATASETS, "mnist",
                        dataclasses.replace(served_mnist, downloads=tuple(bad)))
    with pytest.raises(D.ChecksumError) as info:
        D.fetch("mnist", root=tmp_path / "data", progress=False)
    msg = str(info.value)
    assert "train-labels-idx1-ubyte.gz" in msg and "0" * 32 in msg
    assert served_mnist.downloads[1].md5 in msg and "removed" in msg
    assert os.listdir(tmp_path / "data" / "mnist") == ["train-images-idx3-ubyte.gz"]


@pytest.mark.parametrize("error, reason", [
    (URLError(socket.gaierror(-3, "Temporary failure in name resolution")),
     "[Errno -3] Temporary failure in name resolution"),
    (URLError(TimeoutError("timed out")), "no answer within 60 s"),
    (TimeoutError("timed out"), "no answer within 60 s"),
    (ConnectionRefusedError(111, "Connection refused"),
     "ConnectionRefusedError: [Errno 111] Connection refused")])
def test_no_network_message_says_what_to_download_and_where(tmp_path, monkeypatch, capsys,
                                                            error, reason):
    timeouts = []

    def offline(url, timeout=None):
        timeouts.append(timeout)
        raise error

    monkeypatch.setattr(dl, "urlopen", offline)
    with pytest.raises(D.DownloadError) as info:
        D.MNIST(download=True)
    assert timeouts == [60]  # never an unbounded wait
    folder = os.path.join(str(tmp_path / "xdg"), "minicnn", "mnist")
    msg = str(info.value)
    expected = (f"could not reach ossci-datasets.s3.amazonaws.com ({reason}; no network?). "
                f"Download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                f"t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz from "
                f"https://ossci-datasets.s3.amazonaws.com/mnist/ and put them in {folder}/ (or in "
                f"DIR/mnist/ and pass root=DIR / --data-root DIR, or set MINICNN_DATA=DIR); then "
                f"run `minicnn data info mnist` to check them.")
    assert msg.startswith(expected) and isinstance(info.value, OSError)
    assert not (tmp_path / "xdg").exists()  # the folders fetch made for nothing are gone
    # the command line: one error line, exit status 1, the folder of --data-root
    with pytest.raises(SystemExit) as exit_:
        cli.main(["data", "fetch", "mnist", "--data-root", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("minicnn: error: could not reach ossci-datasets.s3.amazonaws.com")
    assert err.endswith(f"put them in {tmp_path / 'd' / 'mnist'}/; then run `minicnn data info "
                        f"mnist --data-root {tmp_path / 'd'}` to check them.\n")
    assert not (tmp_path / "d").exists()


def test_fashion_mnist_offline_names_both_mirrors_and_the_debian_package(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(dl, "urlopen", offline)
    with pytest.raises(D.DownloadError) as info:
        D.fetch("fashion-mnist", tmp_path)
    msg = str(info.value)
    assert msg.startswith("could not reach fashion-mnist.s3-website.eu-central-1.amazonaws.com or "
                          "raw.githubusercontent.com ([Errno -2] Name or service not known; "
                          "no network?)")
    assert ("from http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ (or https://raw."
            "githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/) and put "
            f"them in {tmp_path / 'fashion-mnist'}/;") in msg
    assert msg.endswith("Or, on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist.")
    assert os.listdir(tmp_path) == []


def test_http_errors_list_each_mirror(tmp_path, served_mnist, monkeypatch):
    def missing(url, timeout=None):
        raise HTTPError(url, 404, "Not Found", {}, None)

    monkeypatch.setattr(dl, "urlopen", missing)
    with pytest.raises(D.DownloadError) as info:
        D.fetch("mnist", tmp_path / "data", progress=False)
    msg = str(info.value)
    url = served_mnist.downloads[0].urls[0]
    assert msg.startswith(f"could not download train-images-idx3-ubyte.gz:\n  {url}: HTTP 404 "
                          f"Not Found\nDownload train-images-idx3-ubyte.gz, ")
    assert "no network" not in msg and not (tmp_path / "data").exists()


def test_mirrors_text_falls_back_to_each_url():
    a = Download("a.gz", ("https://x.org/d/a.gz", "https://y.org/a.gz"), "0" * 32, 1)
    b = Download("b.gz", ("https://x.org/d/b.gz", "https://y.org/b.gz"), "0" * 32, 1)
    c = Download("c.gz", ("https://z.org/c.gz?raw",), "0" * 32, 1)
    assert dl._mirrors_text([a, b]) == "https://x.org/d/ (or https://y.org/)"
    assert dl._mirrors_text([a, c]) == ("https://x.org/d/a.gz or https://y.org/a.gz or "
                                        "https://z.org/c.gz?raw")


class Served(io.BytesIO):
    """A response serving the bytes given, without headers."""

    headers = None


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_info_lists_exactly_the_urls_and_md5s_fetch_uses(tmp_path, monkeypatch, name):
    # the real table: every URL (mirrors in order) and every MD5, nothing else
    real = D.DATASETS[name]
    text = D.info(name)
    urls = [word for word in text.split() if "://" in word]
    assert urls == [real.homepage] + [u for d in real.downloads for u in d.urls]
    assert re.findall(r"MD5 ([0-9a-f]{32})", text) == [d.md5 for d in real.downloads]
    assert f"downloads {dl._size_text(sum(d.size for d in real.downloads))} into " \
           f"{D.download_dir(name)}" in text
    # fetch opens exactly those URLs, in that order, when each mirror but the last fails, and
    # keeps what the MD5s info shows accept (payloads made here, with their MD5 in the table)
    server = tmp_path / "server"
    if name == "cifar10":
        folder = make_cifar_tar(server / "cifar-10-python.tar.gz")
        files = {f: md5((folder / f).read_bytes()) for f in real.files}
    else:
        make_mnist(server)
        files = {f: md5(gzip.decompress((server / (f + ".gz")).read_bytes())) for f in real.files}
    payloads = {d.filename: (server / d.filename).read_bytes() for d in real.downloads}
    table = dataclasses.replace(real, files=files, downloads=tuple(
        dataclasses.replace(d, md5=md5(payloads[d.filename])) for d in real.downloads))
    monkeypatch.setitem(D.DATASETS, name, table)
    text = D.info(name)
    opened = []

    def opener(url, timeout=None):
        opened.append(url)
        d = next(d for d in table.downloads if url in d.urls)
        if url != d.urls[-1]:
            raise HTTPError(url, 503, "Service Unavailable", {}, None)
        return Served(payloads[d.filename])

    monkeypatch.setattr(dl, "urlopen", opener)
    target = D.fetch(name, progress=False)
    assert opened == [word for word in text.split() if "://" in word][1:]  # after the homepage
    assert re.findall(r"MD5 ([0-9a-f]{32})", text) == [md5(payloads[d.filename])
                                                       for d in table.downloads]
    assert f"downloads nothing: every file is verified in {target}" in D.info(name)


class Dying(io.BytesIO):
    """A response that fails half way through its body."""

    def __init__(self, exc):
        super().__init__(b"x" * 1000)
        self.exc = exc
        self.headers = {"Content-Length": "1000"}

    def read(self, n=-1):
        if self.tell() >= 500:
            raise self.exc
        return super().read(min(n, 500))


@pytest.mark.parametrize("response, expected, message", [
    (lambda: Dying(ConnectionResetError("reset by peer")), D.DownloadError,
     "interrupted (ConnectionResetError: reset by peer)"),
    (lambda: Dying(KeyboardInterrupt()), KeyboardInterrupt, None),
    (lambda: Served(b"<html>captive portal</html>"), D.ChecksumError, "the file was removed")],
    ids=["reset", "ctrl-c", "wrong-bytes"])
def test_failed_download_leaves_no_file_nor_folder(tmp_path, served_mnist, monkeypatch, response,
                                                   expected, message):
    monkeypatch.setattr(dl, "urlopen", lambda url, timeout=None: response())
    with pytest.raises(expected, match=message and re.escape(message)):
        D.fetch("mnist", root=tmp_path / "data" / "sets", progress=False)
    assert os.listdir(tmp_path) == ["server"]  # no data/sets/mnist, and no part file in it
    (tmp_path / "data").mkdir()  # a folder that was there before stays
    with pytest.raises(expected):
        D.fetch("mnist", root=tmp_path / "data", progress=False)
    assert os.listdir(tmp_path / "data") == []


def make_cifar_tar(path, extra=()):
    folder = path.parent / "src" / "cifar-10-batches-py"
    make_cifar(folder)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
        tar.add(folder / "test_batch", arcname="elsewhere/test_batch")
        for member, payload in extra:
            tar.addfile(member, io.BytesIO(payload) if payload is not None else None)
    return folder


@pytest.fixture
def served_cifar(tmp_path, monkeypatch):
    def serve(extra=()):
        archive = tmp_path / "server" / "cifar-10-python.tar.gz"
        archive.parent.mkdir(exist_ok=True)
        folder = make_cifar_tar(archive, extra)
        info = dict.__getitem__(D.DATASETS, "cifar10")
        payload = archive.read_bytes()
        d = dataclasses.replace(info.downloads[0], urls=(archive.as_uri(),), md5=md5(payload))
        files = {f: md5((folder / f).read_bytes()) for f in info.files}
        monkeypatch.setitem(D.DATASETS, "cifar10",
                            dataclasses.replace(info, downloads=(d,), files=files))
        from urllib.request import urlopen
        monkeypatch.setattr(dl, "urlopen", urlopen)
    return serve


def test_fetch_cifar_extracts_safely(tmp_path, served_cifar):
    served_cifar()
    ds = D.CIFAR10(tmp_path / "data", download=True)
    assert len(ds) == 20
    base = tmp_path / "data" / "cifar10"
    assert os.listdir(base) == ["cifar-10-batches-py"]  # archive removed once verified
    assert not (base / "elsewhere").exists()
    assert D.fetch("cifar10", tmp_path / "data") == str(base / "cifar-10-batches-py")


@pytest.mark.parametrize("name, kind", [("cifar-10-batches-py/../../evil", tarfile.REGTYPE),
                                        ("cifar-10-batches-py/link", tarfile.SYMTYPE),
                                        ("cifar-10-batches-py/a/b", tarfile.REGTYPE)])
def test_unsafe_archive_member_is_refused(tmp_path, served_cifar, name, kind):
    member = tarfile.TarInfo(name)
    member.type = kind
    if kind == tarfile.SYMTYPE:
        member.linkname = "/etc/passwd"
        payload = None
    else:
        payload = b"evil"
        member.size = 4
    served_cifar(extra=[(member, payload)])
    with pytest.raises(D.CorruptedFileError, match="refusing"):
        D.fetch("cifar10", tmp_path / "data", progress=False)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "data" / "evil").exists()
    # nothing unpacked stays; the archive (right MD5) is kept
    assert os.listdir(tmp_path / "data" / "cifar10") == ["cifar-10-python.tar.gz"]


def test_cifar_by_hand_as_the_offline_message_says(tmp_path, served_cifar, monkeypatch):
    served_cifar()

    def offline(url, timeout=None):
        raise URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(dl, "urlopen", offline)
    with pytest.raises(D.DownloadError) as info:
        D.fetch("cifar10", tmp_path / "data")
    folder = tmp_path / "data" / "cifar10"
    assert (f"Download cifar-10-python.tar.gz from {(tmp_path / 'server').as_uri()}/ and put it "
            f"in {folder}/; then run `minicnn data fetch cifar10 --data-root {tmp_path / 'data'}` "
            f"again, which checks the archive and unpacks it without the network.") in str(
        info.value)
    folder.mkdir(parents=True)
    (folder / "cifar-10-python.tar.gz").write_bytes(
        (tmp_path / "server" / "cifar-10-python.tar.gz").read_bytes())
    assert D.fetch("cifar10", tmp_path / "data") == str(folder / "cifar-10-batches-py")
    assert len(D.CIFAR10(tmp_path / "data")) == 20


def test_no_implicit_download(tmp_path):
    with pytest.raises(D.DatasetNotFoundError):  # the autouse fixture fails any network use
        D.CIFAR10(tmp_path)


# ---------------------------------------------------------------- the real data set


@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.undo()
    train, test = D.FashionMNIST(DEBIAN_FASHION), D.FashionMNIST(DEBIAN_FASHION, train=False)
    assert train.data.shape == (60000, 28, 28) and test.data.shape == (10000, 28, 28)
    assert np.bincount(train.targets).tolist() == [6000] * 10
    assert np.bincount(test.targets).tolist() == [1000] * 10
    mean, std = D.DATASETS["fashion-mnist"].mean[0], D.DATASETS["fashion-mnist"].std[0]
    assert abs(train.data.mean() / 255 - mean) < 1e-3 and abs(train.data.std() / 255 - std) < 1e-3
    assert all(s == "ok" for _, s in D.verify("fashion-mnist", DEBIAN_FASHION).values())
    minicnn.manual_seed(0)
