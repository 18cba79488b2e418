"""PyTorch's checkpoint format (.pt/.pth), written and read by minicnn without PyTorch.

1. minicnn.save(obj, "x.pt") -> torch.load(weights_only=True): every dtype, 0-d and empty
   tensors, Parameters, requires_grad, nested checkpoints, optimizer states, views sharing one
   storage; the archive's layout is PyTorch's (records, order, 64-byte alignment, protocol 2);
2. torch.save -> minicnn.load / from_torch_state_dict: a ResNet-18 state_dict (same outputs),
   torch.optim.Adam's state_dict, strided/offset/shared/expanded storages, bfloat16, float16,
   big-endian files, devices and map_location;
3. without PyTorch: files written by minicnn.save load, and torch is never imported;
4. hostile files: pickles that call os.system, eval, a subclass, a global hidden in a nested
   position, an EXT opcode or an INST opcode are refused with CheckpointError naming the global,
   and their canary file is never created; truncated or corrupt archives, the pre-1.6 format,
   huge declared storages, out-of-bounds views and memo bombs are refused before allocating.
"""
import copyreg
import io
import math
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import minicnn
from minicnn import nn, serialization_torch
from minicnn.serialization import STRUCTURE_ENTRY, CheckpointError
from minicnn.utils import from_torch_state_dict

from helpers import read_entries, write_entries

DTYPES = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool",
          "uint16", "uint32", "uint64"]


# ---------------------------------------------------------------- helpers

def sample(dtype, shape, seed=0):
    values = np.random.default_rng(seed).standard_normal(shape) * 100
    if dtype == "bool":
        return np.asarray(values > 0)
    if np.dtype(dtype).kind == "u":
        values = np.abs(values)
    return np.asarray(values.astype(dtype))


def to_numpy(value):
    """A torch or minicnn tensor's values as an ndarray (bfloat16 as float32, as minicnn loads
    it)."""
    if isinstance(value, minicnn.Tensor):
        return value.detach().numpy()
    if str(value.dtype) == "torch.bfloat16":
        value = value.float()
    return value.detach().numpy()


def assert_tensors_equal(expected, got, path="obj"):
    a, b = to_numpy(expected), to_numpy(got)
    assert (a.dtype, a.shape) == (b.dtype, b.shape), path
    assert a.tobytes() == b.tobytes(), path


def assert_same_tree(expected, got, path="obj"):
    """Containers and plain values equal with the same types; tensors equal bitwise (either
    side may be torch or minicnn)."""
    if hasattr(expected, "detach"):
        assert hasattr(got, "detach"), path
        assert_tensors_equal(expected, got, path)
        assert expected.requires_grad == got.requires_grad, path
        return
    assert type(expected) is type(got), f"{path}: {type(expected)} != {type(got)}"
    if isinstance(expected, (list, tuple)):
        assert len(expected) == len(got), path
        for i, (x, y) in enumerate(zip(expected, got)):
            assert_same_tree(x, y, f"{path}[{i}]")
    elif isinstance(expected, dict):
        assert [(type(k), k) for k in expected] == [(type(k), k) for k in got], path
        for k in expected:
            assert_same_tree(expected[k], got[k], f"{path}[{k!r}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got), path
    else:
        assert expected == got, path


def archive(path, data_pkl, storages=(), byteorder=b"little"):
    """A PyTorch-layout archive around a hand-made data.pkl."""
    entries = {"archive/data.pkl": data_pkl, "archive/byteorder": byteorder}
    for key, data in enumerate(storages):
        entries[f"archive/data/{key}"] = data
    entries["archive/version"] = b"3\n"
    write_entries(path, entries)
    return path


def torch_layout(torch, t):
    """Storage pointer, offset, shape and stride of a torch tensor."""
    return (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride())


# ---------------------------------------------------------------- minicnn.save -> torch.load

@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_reaches_torch_and_back(torch, tmp_path, dtype):
    obj = {"t": minicnn.tensor(sample(dtype, (3, 4))), "scalar": minicnn.tensor(sample(dtype, ())),
           "empty": minicnn.tensor(sample(dtype, (0, 2))), "vec": minicnn.tensor(sample(dtype, 5))}
    path = tmp_path / "x.pt"
    minicnn.save(obj, path)
    got = torch.load(path, weights_only=True)
    assert list(got) == list(obj)
    for k, v in obj.items():
        assert got[k].dtype == getattr(torch, dtype) and not got[k].requires_grad
        assert_tensors_equal(v, got[k], k)
    back = minicnn.load(path)
    assert_same_tree(obj, back)
    assert all(back[k].dtype == np.dtype(dtype) for k in back)


def make_model(seed=0):
    minicnn.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(48, 4))


def trained(model, opt, steps=2):
    data = np.random.default_rng(1)
    for _ in range(steps):
        x = minicnn.tensor(data.standard_normal((5, 2, 4, 4)).astype(np.float32))
        y = minicnn.tensor(data.integers(0, 4, 5))
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def test_a_training_checkpoint_reaches_torch(torch, tmp_path):
    model = make_model()
    opt = minicnn.optim.Adam(model.parameters(), lr=0.01)
    trained(model, opt)
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
            "best": 0.25, "nan": math.nan, "inf": -math.inf, "big": 2 ** 100, "neg": -7,
            "name": "résumé", "flags": [True, False, None], "shape": (1, (2, 3)), 5: "int key",
            "od": OrderedDict([("b", 1), ("a", [])]), "empty": {}}
    path = tmp_path / "ckpt.pth"
    minicnn.save(ckpt, path)
    got = torch.load(path, weights_only=True)
    assert_same_tree(ckpt, got)
    assert type(got["model"]) is OrderedDict
    # torch's own model and optimizer take them
    tmodel = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.BatchNorm2d(3),
                                 torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(48, 4))
    assert tmodel.load_state_dict(got["model"]) is not None
    topt = torch.optim.Adam(tmodel.parameters(), lr=0.01)
    topt.load_state_dict(got["optimizer"])
    assert topt.state_dict()["param_groups"][0]["lr"] == 0.01
    assert_same_tree(ckpt, minicnn.load(path))


def test_resuming_training_from_a_pt_checkpoint_is_exact(tmp_path):
    model = make_model(0)
    opt = minicnn.optim.Adam(model.parameters(), lr=0.01)
    trained(model, opt)
    path = tmp_path / "ckpt.pt"
    minicnn.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 2}, path)
    trained(model, opt)
    model2 = make_model(1)
    opt2 = minicnn.optim.Adam(model2.parameters(), lr=0.5)
    ckpt = minicnn.load(path)
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optimizer"])
    trained(model2, opt2)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(model2.state_dict()[k].numpy(), v.numpy(), err_msg=k)


def test_parameters_and_requires_grad(torch, tmp_path):
    obj = {"p": nn.Parameter(sample("float32", (2, 3))),
           "frozen": nn.Parameter(sample("float64", 2), requires_grad=False),
           "leaf": minicnn.tensor(sample("float32", 3), requires_grad=True),
           "plain": minicnn.tensor(sample("float32", 3))}
    path = tmp_path / "p.pt"
    minicnn.save(obj, path)
    got = torch.load(path, weights_only=True)
    assert type(got["p"]) is torch.nn.Parameter and got["p"].requires_grad
    assert type(got["frozen"]) is torch.nn.Parameter and not got["frozen"].requires_grad
    assert type(got["leaf"]) is torch.Tensor and got["leaf"].requires_grad
    assert type(got["plain"]) is torch.Tensor and not got["plain"].requires_grad
    back = minicnn.load(path)
    assert type(back["p"]) is nn.Parameter and type(back["frozen"]) is nn.Parameter
    assert type(back["leaf"]) is minicnn.Tensor and back["leaf"].is_leaf
    assert_same_tree(obj, back)


def test_views_of_one_tensor_share_one_storage(torch, tmp_path):
    w = minicnn.tensor(np.arange(12.0, dtype=np.float32).reshape(3, 4))
    obj = {"w": w, "tied": w, "t": w.T, "row": w[1], "col": w[:, 2], "step": w[::2, 1::2]}
    path = tmp_path / "tied.pt"
    minicnn.save(obj, path)
    assert [n for n in read_entries(path) if "/data/" in n] == ["archive/data/0"]
    got = torch.load(path, weights_only=True)
    assert got["tied"] is got["w"]
    base = got["w"].untyped_storage().data_ptr()
    assert all(got[k].untyped_storage().data_ptr() == base for k in obj)
    assert torch_layout(torch, got["t"])[1:] == (0, (4, 3), (1, 4))
    assert torch_layout(torch, got["col"])[1:] == (2, (3,), (4,))
    assert torch_layout(torch, got["step"])[1:] == (1, (2, 2), (8, 2))
    for k, v in obj.items():
        assert_tensors_equal(v, got[k], k)
    got["w"][0, 0] = -1.0  # one storage in torch, as in minicnn
    assert got["t"][0, 0] == -1.0
    back = minicnn.load(path)
    assert back["tied"] is back["w"]
    assert_same_tree(obj, back)


@pytest.mark.parametrize("index, nbytes", [(slice(10, 14), 32), (slice(None, None, 1000), 80)])
def test_a_lone_view_is_saved_compactly(torch, tmp_path, index, nbytes):
    big = minicnn.tensor(np.arange(10000.0))
    path = tmp_path / "small.pt"
    minicnn.save({"v": big[index]}, path)
    sizes = [len(d) for n, d in read_entries(path).items() if "/data/" in n]
    assert sizes == [nbytes]  # its elements, not the whole array it views
    got = torch.load(path, weights_only=True)["v"]
    assert_tensors_equal(big[index], got)
    assert got.is_contiguous() and got.storage_offset() == 0


def test_the_archive_has_pytorchs_layout(torch, tmp_path):
    sd = make_model().state_dict()
    path = tmp_path / "net.pt"
    minicnn.save(sd, path)
    tpath = tmp_path / "torch.pt"
    torch.save(OrderedDict((k, torch.from_numpy(v.numpy())) for k, v in sd.items()), tpath)
    with zipfile.ZipFile(path) as zf, zipfile.ZipFile(tpath) as tzf:
        names = [i.filename for i in zf.infolist()]
        torch_names = [i.filename.replace("torch/", "archive/", 1) for i in tzf.infolist()]
        assert names == torch_names  # same records, in the same order
        data = path.read_bytes()
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:
                                                             info.header_offset + 30])
            assert (info.header_offset + 30 + name_len + extra_len) % 64 == 0, info.filename
        for name in (".format_version", ".storage_alignment", "byteorder", "version"):
            assert zf.read("archive/" + name) == tzf.read("torch/" + name), name
        assert zf.read("archive/.data/serialization_id").isdigit()
        assert len(zf.read("archive/.data/serialization_id")) == 40
        assert zf.read("archive/data.pkl")[:2] == b"\x80\x02"  # protocol 2, as torch writes
    # the same object gives the same bytes (no timestamps, no random ids)
    again = tmp_path / "again.pt"
    minicnn.save(sd, again)
    assert again.read_bytes() == data
    assert_same_tree(torch.load(tpath, weights_only=True), torch.load(path, weights_only=True))


def test_the_suffix_picks_the_format(tmp_path):
    obj = {"w": minicnn.ones(2)}
    for name in ("a.pt", "b.pth", "c.PT"):
        minicnn.save(obj, tmp_path / name)
        assert "archive/data.pkl" in read_entries(tmp_path / name), name
    with open(tmp_path / "d.pt", "wb") as fh:  # a file object named .pt
        minicnn.save(obj, fh)
    assert "archive/data.pkl" in read_entries(tmp_path / "d.pt")
    for name in ("e.npz", "f.ckpt", "g.pt.npz", "h.bin"):
        minicnn.save(obj, tmp_path / name)
        assert STRUCTURE_ENTRY + ".npy" in read_entries(tmp_path / name), name
    buf = io.BytesIO()  # no name: .npz
    minicnn.save(obj, buf)
    assert STRUCTURE_ENTRY + ".npy" in read_entries(buf)
    for name in ("a.pt", "b.pth", "c.PT", "d.pt", "e.npz", "f.ckpt", "g.pt.npz", "h.bin"):
        assert_same_tree(obj, minicnn.load(tmp_path / name))


class Holder:
    pass


@pytest.mark.parametrize("obj, message", [
    ({"a": np.ones(2)}, r"^obj\['a'\]: cannot save an ndarray to a PyTorch \.pt/\.pth file.*"
                        r"minicnn\.tensor\(x\), or save to a \.npz file"),
    ({"acc": np.float64(0.5)}, r"^obj\['acc'\]: cannot save a NumPy scalar.*x\.item\(\)"),
    ([1, (2, {3})], r"^obj\[1\]\[1\]: cannot save a set"),
    ({"f": len}, r"^obj\['f'\]: cannot save a builtin_function_or_method"),
    ({"m": nn.Linear(1, 1)}, r"^obj\['m'\]: cannot save a Linear \(save its state_dict"),
    ({"h": Holder()}, r"^obj\['h'\]: cannot save a Holder"),
    ({(1, 2): 3}, r"^obj: cannot save a dict key of type tuple"),
    ({"q": minicnn.Tensor(np.ones(1, np.longdouble))},
     r"^obj\['q'\]: cannot save a Tensor of dtype float128 to a \.pt file"),
    ({"c": minicnn.Tensor(np.ones(1, np.complex64))}, r"^obj\['c'\]: .* dtype complex64"),
])
def test_unsupported_objects_name_their_path(tmp_path, obj, message):
    with pytest.raises(TypeError, match=message):
        minicnn.save(obj, tmp_path / "bad.pt")
    assert os.listdir(tmp_path) == []


def test_a_circular_structure_is_refused():
    loop = [1]
    loop.append({"again": loop})
    with pytest.raises(TypeError, match=r"^obj\[1\]\['again'\]: cannot save a circular"):
        serialization_torch.encode(loop)


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    minicnn.save({"epoch": 1, "w": minicnn.ones(3)}, path)
    before = path.read_bytes()
    real, calls = serialization_torch._write_record, []

    def flaky(zf, name, data):
        calls.append(name)
        if name.startswith("data/"):
            raise OSError("disk full")
        return real(zf, name, data)

    monkeypatch.setattr(serialization_torch, "_write_record", flaky)
    with pytest.raises(OSError, match="disk full"):
        minicnn.save({"epoch": 2, "w": minicnn.zeros(3)}, path)
    assert calls[-1] == "data/0"
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.pt"]


# ---------------------------------------------------------------- torch.save -> minicnn.load

def torch_resnet18(nn_, num_classes):
    """ResNet-18 as torchvision builds it (same state_dict keys), from torch.nn alone."""

    class BasicBlock(nn_.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn_.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn_.BatchNorm2d(cout)
            self.relu = nn_.ReLU()
            self.conv2 = nn_.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn_.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn_.Sequential(nn_.Conv2d(cin, cout, 1, stride, bias=False),
                                                 nn_.BatchNorm2d(cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + identity)

    class ResNet(nn_.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn_.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn_.BatchNorm2d(64)
            self.relu = nn_.ReLU()
            self.maxpool = nn_.MaxPool2d(3, 2, 1)
            cin = 64
            for i, cout in enumerate((64, 128, 256, 512)):
                stride = 1 if i == 0 else 2
                setattr(self, f"layer{i + 1}", nn_.Sequential(BasicBlock(cin, cout, stride),
                                                              BasicBlock(cout, cout, 1)))
                cin = cout
            self.avgpool = nn_.AdaptiveAvgPool2d(1)
            self.fc = nn_.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet()


def test_a_resnet18_state_dict_from_torch(torch, tmp_path):
    torch.manual_seed(0)
    tnet = torch_resnet18(torch.nn, num_classes=10)
    with torch.no_grad():  # move the running statistics and num_batches_tracked
        tnet(torch.randn(2, 3, 32, 32))
    tnet.eval()
    path = tmp_path / "resnet18.pth"
    torch.save(tnet.state_dict(), path)  # an OrderedDict with _metadata (a BUILD opcode)
    sd = minicnn.load(path)
    assert type(sd) is OrderedDict and list(sd) == list(tnet.state_dict())
    assert_same_tree(tnet.state_dict(), sd)
    assert sd["layer2.0.downsample.1.num_batches_tracked"].dtype == np.int64
    mnet = minicnn.models.resnet18(num_classes=10)
    assert from_torch_state_dict(mnet, path) == ([], [])
    mnet.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = tnet(torch.from_numpy(x)).numpy()
    with minicnn.no_grad():
        got = mnet(minicnn.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_torch_adam_state_dict(torch, tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9), amsgrad=True)
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(4, 3)).pow(2).sum().backward()
        opt.step()
    path = tmp_path / "adam.pt"
    torch.save({"optimizer": opt.state_dict(), "epoch": 3}, path)
    got = minicnn.load(path)
    assert_same_tree(opt.state_dict(), got["optimizer"])
    assert got["epoch"] == 3 and got["optimizer"]["param_groups"][0]["betas"] == (0.8, 0.9)
    # and minicnn's Adam takes it
    mmodel = nn.Linear(3, 2)
    mopt = minicnn.optim.Adam(mmodel.parameters(), lr=0.5)
    mopt.load_state_dict(got["optimizer"])
    assert mopt.param_groups[0]["lr"] == 0.01


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_from_torch(torch, tmp_path, dtype):
    values = sample(dtype, (2, 3))
    obj = {"t": torch.from_numpy(values), "scalar": torch.from_numpy(sample(dtype, ())),
           "empty": torch.from_numpy(sample(dtype, (0, 4)))}
    path = tmp_path / "x.pt"
    torch.save(obj, path)
    got = minicnn.load(path)
    for k, v in obj.items():
        assert isinstance(got[k], minicnn.Tensor) and got[k].dtype == np.dtype(dtype)
        assert_tensors_equal(v, got[k], k)


def test_bfloat16_becomes_float32_exactly(torch, tmp_path):
    t = torch.randn(4, 5).to(torch.bfloat16)
    t[0, :4] = torch.tensor([float("inf"), float("-inf"), float("nan"), -0.0])
    path = tmp_path / "bf16.pt"
    torch.save({"w": t, "v": t[1:, ::2]}, path)
    got = minicnn.load(path)
    assert got["w"].dtype == np.float32
    assert got["w"].numpy().tobytes() == t.float().numpy().tobytes()
    assert got["v"].numpy().tobytes() == t[1:, ::2].float().contiguous().numpy().tobytes()


def test_strided_offset_and_shared_storages_from_torch(torch, tmp_path):
    a = torch.arange(24.0).reshape(4, 6)
    obj = {"a": a, "same": a, "t": a.t(), "col": a[:, 3], "rows": a[1:3], "step": a[::2, 1::3],
           "tail": a.view(-1)[5:], "scalar": a[2, 4], "expanded": torch.arange(3.0).expand(4, 3),
           "permuted": torch.arange(24).reshape(2, 3, 4).permute(2, 0, 1),
           "param": torch.nn.Parameter(a[0]), "grad": torch.ones(2, requires_grad=True)}
    path = tmp_path / "views.pt"
    torch.save(obj, path)
    got = minicnn.load(path)
    assert_same_tree(obj, got)
    assert got["same"] is got["a"]
    assert type(got["param"]) is nn.Parameter and got["param"].requires_grad
    # contiguous views still share memory, as after torch.load
    assert np.shares_memory(got["a"].numpy(), got["rows"].numpy())
    assert np.shares_memory(got["a"].numpy(), got["tail"].numpy())
    got["a"].numpy()[1, 0] = -5
    assert got["rows"].numpy()[0, 0] == -5
    # other views are copies; an expanded one stays a read-only view
    assert got["t"].numpy().flags.c_contiguous
    assert not got["expanded"].numpy().flags.writeable
    assert (got["expanded"] + 1).numpy().tolist() == [[1.0, 2.0, 3.0]] * 4


def test_a_big_endian_file(torch, tmp_path):
    obj = {"f": torch.randn(3), "d": torch.randn(2, 2, dtype=torch.float64),
           "i": torch.arange(-3, 3, dtype=torch.int16), "h": torch.randn(4).half(),
           "b": torch.randn(3).to(torch.bfloat16), "flag": torch.tensor([True, False]),
           "u": torch.from_numpy(np.arange(3, dtype=np.uint16))}
    path = tmp_path / "le.pt"
    torch.save(obj, path)
    entries = read_entries(path)
    prefix = "le/" if "le/data.pkl" in entries else "archive/"
    for key, t in enumerate(obj.values()):  # storages are keyed in pickling order
        dtype = np.dtype(np.uint16 if t.dtype == torch.bfloat16 else
                         str(t.dtype).replace("torch.", ""))
        name = f"{prefix}data/{key}"
        entries[name] = np.frombuffer(entries[name], dtype).byteswap().tobytes()
    entries[prefix + "byteorder"] = b"big"
    big = tmp_path / "be.pt"
    write_entries(big, entries)
    # torch agrees the file is right, except for uint16: torch 2.13 swaps the bytes of an
    # UntypedStorage (_rebuild_tensor_v3's) as single bytes, that is not at all
    from_torch = torch.load(big, weights_only=True)
    assert_same_tree({k: v for k, v in obj.items() if k != "u"},
                     {k: v for k, v in from_torch.items() if k != "u"})
    got = minicnn.load(big)
    assert_same_tree(obj, got)
    assert all(t.numpy().dtype.isnative for t in got.values())


def test_file_objects_streams_and_map_location(torch, tmp_path):
    obj = {"w": torch.randn(2, 3), "n": 4}
    buf = io.BytesIO()
    torch.save(obj, buf)

    class Stream(io.RawIOBase):  # a pipe: neither seekable nor tellable
        def __init__(self, data):
            self.data = io.BytesIO(data)

        def readinto(self, b):
            return self.data.readinto(b)

        def readable(self):
            return True

    for f in (io.BytesIO(buf.getvalue()), Stream(buf.getvalue())):
        got = minicnn.load(f, map_location="numpy")
        assert got["n"] == 4 and got["w"].device == "numpy"
        assert_tensors_equal(obj["w"], got["w"])


def test_a_tensor_saved_on_a_gpu(torch, tmp_path):
    path = tmp_path / "gpu.pt"
    minicnn.save({"w": minicnn.ones(2)}, path)
    entries = read_entries(path)
    old = b"X\x03\x00\x00\x00cpu"  # BINUNICODE "cpu" in the persistent id
    assert entries["archive/data.pkl"].count(old) == 1
    entries["archive/data.pkl"] = entries["archive/data.pkl"].replace(
        old, b"X\x06\x00\x00\x00cuda:0")
    write_entries(path, entries)
    assert torch.load(path, map_location="cpu", weights_only=True)["w"].tolist() == [1.0, 1.0]
    if not minicnn.cuda.is_available():
        with pytest.raises(RuntimeError, match=r"gpu\.pt: a tensor was saved on device "
                                               r"'cuda:0'.*map_location='cpu'"):
            minicnn.load(path)
    got = minicnn.load(path, map_location="cpu")
    assert got["w"].device == "cpu" and got["w"].numpy().tolist() == [1.0, 1.0]


def test_whole_models_and_bare_storages_are_refused(torch, tmp_path):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(CheckpointError, match=r"model\.pt: data\.pkl refers to the global "
                                              r"torch\.nn\.modules\.linear\.Linear.*"
                                              r"save model\.state_dict\(\) instead"):
        minicnn.load(path)
    torch.save({"s": torch.ones(2).untyped_storage()}, path)
    with pytest.raises(CheckpointError, match="not a tensor, a container or a plain value"):
        minicnn.load(path)
    for dtype in ("float8_e4m3fn", "complex64"):
        torch.save({"q": torch.ones(2, dtype=getattr(torch, dtype))}, path)
        with pytest.raises(CheckpointError, match=r"type torch\.(float8_e4m3fn|ComplexFloat"
                                                  r"Storage), which minicnn has no tensor type"):
            minicnn.load(path)


def test_the_legacy_format_is_named(torch, tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match=r"old\.pt: a PyTorch checkpoint in the format "
                                              r"torch\.save wrote before PyTorch 1\.6"):
        minicnn.load(path)


# ---------------------------------------------------------------- without torch

def test_pt_files_without_torch(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    model = make_model(3)
    path = tmp_path / "w.pt"
    minicnn.save({"model": model.state_dict(), "epoch": 1}, path)
    ckpt = minicnn.load(path)
    assert ckpt["epoch"] == 1
    assert_same_tree(model.state_dict(), ckpt["model"])
    minicnn.save(model.state_dict(), tmp_path / "sd.pth")
    other = make_model(4)
    assert from_torch_state_dict(other, tmp_path / "sd.pth") == ([], [])
    assert_same_tree(model.state_dict(), other.state_dict())


def test_saving_and_loading_pt_never_imports_torch(tmp_path):
    code = ("import sys, minicnn; p = sys.argv[1]; "
            "minicnn.save({'w': minicnn.ones(2, 3), 'e': 1}, p); "
            "assert minicnn.load(p)['e'] == 1; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.pt")], check=True)


# ---------------------------------------------------------------- hostile pickles


class Canary:
    """Pickles as ``function(*args)``: unpickling it would create the canary file."""

    def __init__(self, function, *args):
        self.function = function
        self.args = args

    def __reduce__(self):
        return self.function, self.args


class EvilDict(OrderedDict):
    """A subclass of an admitted class, whose unpickling (BUILD) runs a command."""

    def __reduce__(self):
        return EvilDict, (), self.command

    def __setstate__(self, command):
        os.system(command)


def payloads(canary):
    shell = f"touch {canary}"
    evil_dict = EvilDict()
    evil_dict.command = shell
    return {
        "os.system": pickle.dumps({"w": Canary(os.system, shell)}, protocol=2),
        "builtins.eval": pickle.dumps(
            [Canary(eval, f"open({str(canary)!r}, 'w').close()")], protocol=2),
        "subclass": pickle.dumps(OrderedDict(model=evil_dict), protocol=2),
        "nested": pickle.dumps({"model": OrderedDict(a=[1, (2, {"deep": [Canary(
            os.system, shell)]})])}, protocol=2),
        "dict key": pickle.dumps({Canary(os.system, shell): 1}, protocol=2),
        "protocol 4": pickle.dumps({"w": Canary(os.system, shell)}, protocol=4),
        "protocol 0": pickle.dumps({"w": Canary(os.system, shell)}, protocol=0),
        # INST: protocol 0's "call this class" opcode, with the global inline
        "INST": b"(V" + shell.encode() + b"\nios\nsystem\n.",
    }


KINDS = ["os.system", "builtins.eval", "subclass", "nested", "dict key", "protocol 4",
         "protocol 0", "INST"]


@pytest.mark.parametrize("kind", KINDS)
def test_malicious_pickles_run_nothing(tmp_path, kind):
    canary = tmp_path / "canary"
    path = archive(tmp_path / "evil.pt", payloads(canary)[kind])
    with pytest.raises(CheckpointError, match=r"evil\.pt: data\.pkl refers to the global "
                                              r"[\w.]*(os|posix|__builtin__|test_pt_format)\.\w+, "
                                              r"which minicnn does not load"):
        minicnn.load(path)
    assert not canary.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_the_payloads_are_real(tmp_path, kind):
    canary = tmp_path / "canary"
    pickle.loads(payloads(canary)[kind])  # a plain unpickler runs them
    assert canary.exists()


class StorageWithEvilClass:
    pass


def test_a_global_inside_a_storage_id(tmp_path):
    canary = tmp_path / "canary"

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, StorageWithEvilClass):
                return ("storage", Canary(os.system, f"touch {canary}"), "0", "cpu", 1)
            return None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump({"w": StorageWithEvilClass()})
    path = archive(tmp_path / "evil.pt", buf.getvalue(), [b"\0" * 4])
    with pytest.raises(CheckpointError, match=r"global (os|posix)\.system"):
        minicnn.load(path)
    assert not canary.exists()


def test_an_extension_code_goes_through_the_same_check(tmp_path):
    canary = tmp_path / "canary"
    code = 0x7ABC
    copyreg.add_extension(os.system.__module__, "system", code)
    try:
        data = pickle.dumps(Canary(os.system, f"touch {canary}"), protocol=2)
        assert pickle.EXT2 in data
        path = archive(tmp_path / "evil.pt", data)
        with pytest.raises(CheckpointError, match=r"global (os|posix)\.system"):
            minicnn.load(path)
    finally:
        copyreg.remove_extension(os.system.__module__, "system", code)
    assert not canary.exists()


@pytest.fixture
def good(tmp_path):
    """A small torch-format file written by minicnn, and its records."""
    path = tmp_path / "good.pt"
    minicnn.save({"w": minicnn.tensor(np.arange(64.0, dtype=np.float32)), "n": 4}, path)
    return path, read_entries(path)


def edit_pickle(good, *replacements):
    path, entries = good
    data = entries["archive/data.pkl"]
    for old, new in replacements:
        assert data.count(old) == 1, old
        data = data.replace(old, new)
    entries["archive/data.pkl"] = data
    write_entries(path, entries)
    return path


@pytest.mark.parametrize("replacements, message", [
    # the backward hooks' OrderedDict swapped for builtins.eval
    ([(b"ccollections\nOrderedDict\n", b"cbuiltins\neval\n")], r"global builtins\.eval"),
    # the tensor rebuild swapped for another torch function
    ([(b"_rebuild_tensor_v2\n", b"_rebuild_device_tensor_from_numpy\n")],
     r"global torch\._utils\._rebuild_device_tensor_from_numpy"),
    ([(b"ctorch\nFloatStorage\n", b"ctorch\nQInt8Storage\n")], r"type torch\.QInt8Storage"),
    # a storage of 10**15 elements, a length past int64, a negative one
    ([(b"K@t", b"\x8a\x07\x00\x80\xc6\xa4~\x8d\x03t")],
     r"storage '0' declares 1000000000000000 elements of 4 bytes, but its record holds 256"),
    ([(b"K@t", b"\x8a\x09" + (2 ** 64).to_bytes(9, "little") + b"t")],
     r"declares 18446744073709551616 elements"),
    ([(b"K@t", b"J\xff\xff\xff\xfft")], r"storage '0' has an invalid length -1"),
    # views past the end of the storage
    ([(b"K@\x85", b"KA\x85")], r"size \(65,\), stride \(1,\) and offset 0 reaches past the end"),
    ([(b"K\x00K@\x85", b"K\x01K@\x85")], r"offset 1 reaches past the end of storage"),
    ([(b"K@\x85", b"J\x00\xca\x9a;\x85")], r"size \(1000000000,\), .* reaches past the end"),
    ([(b"K\x01\x85", b"J\xff\xff\xff\xff\x85")], r"invalid geometry"),
    ([(b"X\x01\x00\x00\x000", b"X\x01\x00\x00\x009")], r"the record 'archive/data/9' is missing"),
    # a memo index far past the pickle: the C unpickler would allocate for it
    ([(b"q\x00", b"r\x00\x00\x00\x04")], r"memo index 67108864"),
])
def test_hostile_geometry_and_storages(good, replacements, message):
    path = edit_pickle(good, *replacements)
    with pytest.raises(CheckpointError, match=r"good\.pt: .*" + message):
        minicnn.load(path)


def test_an_impossible_view_is_refused(good):
    # size (10**10, 10**10), stride (0, 0): more bytes than an address space holds
    ten = b"\x8a\x05" + (10 ** 10).to_bytes(5, "little")
    path = edit_pickle(good, (b"K@\x85", ten + ten + b"\x86"), (b"K\x01\x85", b"K\x00K\x00\x86"))
    with pytest.raises(CheckpointError, match=r"good\.pt: a tensor of size \(10000000000, "
                                              r"10000000000\) cannot be built"):
        minicnn.load(path)


def test_an_expanded_view_is_not_materialized(good):
    # size (10**9, 10**9), stride (0, 0): one element seen 10**18 times stays a view of it
    path = edit_pickle(good, (b"K@\x85", b"J\x00\xca\x9a;J\x00\xca\x9a;\x86"),
                       (b"K\x01\x85", b"K\x00K\x00\x86"))
    w = minicnn.load(path)["w"]
    assert w.shape == (10 ** 9, 10 ** 9) and w.numpy()[12345, 678] == 0.0
    assert not w.numpy().flags.writeable


# ---------------------------------------------------------------- broken archives

@pytest.mark.parametrize("keep", [0, 10, 100, 0.3, 0.6, -30, -1])
def test_truncated_files(good, keep):
    path, _ = good
    data = path.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    path.write_bytes(data[:cut])
    with pytest.raises(CheckpointError, match=r"good\.pt: not a minicnn checkpoint.*truncated"):
        minicnn.load(path)


def test_corrupted_storage_bytes_fail_the_checksum(good):
    path, _ = good
    data = bytearray(path.read_bytes())
    at = data.find(np.arange(64.0, dtype=np.float32).tobytes())
    data[at + 9] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"good\.pt: record 'archive/data/0' is corrupted"):
        minicnn.load(path)


def test_a_record_that_claims_more_bytes_than_the_file(good):
    path, _ = good
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("archive/data/0")
    # rewrite both sizes of the record in the central directory: 4 GiB - 4 elements
    entry = data.rfind(b"PK\x01\x02", 0, data.rfind(b"archive/data/0") + 1)
    struct.pack_into("<II", data, entry + 20, 0xFFFFFFF0, 0xFFFFFFF0)
    path.write_bytes(bytes(data))
    assert info.file_size == 256
    with pytest.raises(CheckpointError, match=r"record 'archive/data/0' declares 4294967280 "
                                              "bytes, more than the"):
        minicnn.load(path)


@pytest.mark.parametrize("change, message", [
    (lambda e: e.update({"archive/data.pkl": e["archive/data.pkl"][:-5]}),
     r"data\.pkl is not a valid pickle"),
    (lambda e: e.update({"archive/data.pkl": b"\x80\x02]q\x00(K\x01K\x02e."}), None),
    (lambda e: e.pop("archive/data/0"), r"the record 'archive/data/0' is missing"),
    (lambda e: e.update({"archive/data/0": b"\0" * 12}), r"its record holds 12 bytes"),
    (lambda e: e.update({"archive/byteorder": b"middle"}), r"unknown byte order b'middle'"),
    (lambda e: e.update({"other/data.pkl": e["archive/data.pkl"]}), r"several data\.pkl"),
    (lambda e: e.update({"archive/data.pkl": b"\x80\x02Q."}), r"pickle data was truncated|"
                                                             r"not a valid"),
    (lambda e: e.update({"archive/data.pkl": b"\x80\x02K\x01Q."}), r"persistent id 1, not a "
                                                                   r"storage"),
    (lambda e: e.update({"archive/data.pkl": b"\x80\x02]q\x00h\x00a."}), r"circular reference"),
])
def test_broken_archives(good, change, message):
    path, entries = good
    change(entries)
    write_entries(path, entries)
    if message is None:  # a valid pickle without tensors: no storage record is needed
        assert minicnn.load(path) == [1, 2]
        return
    with pytest.raises(CheckpointError, match=r"good\.pt: .*(" + message + ")"):
        minicnn.load(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(CheckpointError, match=r"noise\.pt: not a minicnn checkpoint.*zip"):
        minicnn.load(path)
