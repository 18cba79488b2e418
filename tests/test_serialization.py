"""minicnn.save / minicnn.load: .npz checkpoints without pickle, and .safetensors (PyTorch's
.pt/.pth format: tests/test_pt_format.py).

1. round trips restore every supported type exactly (hypothesis-drawn nested structures, and the
   objects a training run saves: state_dicts, optimizer/scheduler state, RNG states);
2. the file is a plain .npz: numpy reads every entry, a state_dict's arrays keep their names;
3. writes are atomic: a failure mid-write leaves no file and an existing file untouched;
4. bad files (truncated, random bytes, plain .npz, pickled entries, a structure that does not
   match the arrays, a newer format) raise a clear error naming the file, and never unpickle;
5. unsupported objects raise TypeError naming their path inside obj;
6. .safetensors: round trip, metadata, and its errors.
"""
import io
import json
import math
import os
import sys
import zipfile
from collections import OrderedDict, defaultdict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn
from minicnn import nn
from minicnn.serialization import STRUCTURE_ENTRY, CheckpointError, NotACheckpointError

from helpers import read_entries, round_trip, write_entries

# ---------------------------------------------------------------- helpers

def assert_same(a, b, path="obj"):
    """a and b are equal and of exactly the same types, all the way down (bitwise for arrays)."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, minicnn.Tensor):
        assert (a.device, a.requires_grad) == (b.device, b.requires_grad), path
        a, b = a.detach().numpy(), b.detach().numpy()
    if isinstance(a, (np.ndarray, np.generic)):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), path
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), path
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a)
                                                      == math.copysign(1, b)), path
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert [(type(k), k) for k in a] == [(type(k), k) for k in b], path
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    else:
        assert a == b, path


def npy_bytes(array, allow_pickle=False):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def structure(entries):
    raw = np.lib.format.read_array(io.BytesIO(entries[STRUCTURE_ENTRY + ".npy"]))
    return json.loads(raw.tobytes())


def set_structure(entries, doc):
    text = json.dumps(doc).encode()
    entries[STRUCTURE_ENTRY + ".npy"] = npy_bytes(np.frombuffer(text, np.uint8))


class SmallNet(nn.Module):
    """Parameters, persistent and non-persistent buffers, and a nested child."""

    def __init__(self, rng, child=True):
        super().__init__()
        self.weight = nn.Parameter(rng.standard_normal((3, 2)).astype(np.float32))
        self.bias = nn.Parameter(rng.standard_normal(3).astype(np.float32))
        self.register_buffer("running_mean", minicnn.tensor(rng.standard_normal(3)
                                                            .astype(np.float32)))
        self.register_buffer("num_batches_tracked", minicnn.tensor(np.array(7, np.int64)))
        self.register_buffer("scratch", minicnn.zeros(2), persistent=False)
        if child:
            self.block = nn.Sequential(SmallNet(rng, child=False), SmallNet(rng, child=False))


# ---------------------------------------------------------------- round trips

def test_round_trip_of_every_supported_type():
    rng = np.random.default_rng(0)
    p = nn.Parameter(rng.standard_normal((2, 3)))
    obj = {
        "none": None, "true": True, "false": False, "int": -3, "big": 2 ** 200, "neg": -2 ** 130,
        "float": 0.1, "negzero": -0.0, "nan": math.nan, "inf": math.inf, "ninf": -math.inf,
        "str": "héllo \"quoted\" \n", "empty": "", 7: "int key", -1: [], "7": "str key",
        "list": [1, [2, [3, ()]], {}], "tuple": (1, (2.5,), [None]),
        "od": OrderedDict([("z", 1), ("a", 2)]),
        "t32": minicnn.tensor(rng.standard_normal((2, 3)).astype(np.float32)),
        "t64": minicnn.tensor(rng.standard_normal(4)),
        "t0d": minicnn.tensor(3.5), "tint": minicnn.tensor([1, 2, 3]),
        "tbool": minicnn.tensor(np.array([True, False])),
        "tempty": minicnn.zeros(0, 3), "tgrad": minicnn.ones(2, requires_grad=True),
        "param": p, "frozen": nn.Parameter(np.ones(2, np.float32), requires_grad=False),
        "arr": np.arange(12, dtype=np.int32).reshape(3, 4),
        "arr0d": np.array(5, np.uint8), "fortran": np.asfortranarray(np.ones((3, 2))),
        "strided": np.arange(20.0).reshape(4, 5)[::2, 1::2], "strings": np.array(["ab", "c"]),
        "bytes": np.array([b"x", b"yz"]), "dates": np.array(["2024-01-02"], "datetime64[D]"),
        "complex": np.array([1 + 2j], np.complex128),
        "f32": np.float32(1.5), "i64": np.int64(-9), "b": np.bool_(True), "u8": np.uint8(255),
        "f64": np.float64(2.5), "c64": np.complex64(1j), "npstr": np.str_("s"),
    }
    back = round_trip(obj)
    assert_same(obj, back)
    assert back["param"].requires_grad and not back["frozen"].requires_grad
    assert back["t0d"].shape == () and back["tempty"].shape == (0, 3)
    assert back["tgrad"].is_leaf and back["tgrad"].grad is None


def test_types_that_look_alike_stay_apart():
    # np.float64 is a float subclass and bool an int subclass: each must keep its own type
    back = round_trip([1, True, 1.0, np.float64(1.0), np.int64(1), np.bool_(True), "1",
                       {1: "a", "1": "b"}])
    assert [type(v) for v in back[:7]] == [int, bool, float, np.float64, np.int64, np.bool_, str]
    assert list(back[7]) == [1, "1"]


def test_dict_key_order_and_int_keys_are_kept():
    obj = {k: i for i, k in enumerate([5, "b", 0, "a", -2, 10 ** 30])}
    back = round_trip(obj)
    assert list(back.items()) == list(obj.items())
    assert all(type(k) is type(j) for k, j in zip(back, obj))


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 100, 2 ** 100),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6))
array_dtypes = st.sampled_from([np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_,
                                np.complex128, "<U3"])
arrays = hnp.arrays(array_dtypes, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                   max_side=3))
tensor_arrays = hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64, np.bool_]),
                           hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3))


@st.composite
def tensors(draw):
    a = draw(tensor_arrays)
    grad = a.dtype.kind == "f" and draw(st.booleans())
    if draw(st.booleans()) and a.dtype.kind == "f":
        return nn.Parameter(a, requires_grad=grad)
    return minicnn.tensor(a, requires_grad=grad)


leaves = st.one_of(scalars, arrays, tensors(), arrays.map(lambda a: a[(0,) * a.ndim]
                                                          if a.size else a.dtype.type(0)))
keys = st.one_of(st.text(max_size=5), st.integers(-10 ** 20, 10 ** 20))
nested = st.recursive(leaves, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.lists(kids, max_size=4).map(tuple),
    st.dictionaries(keys, kids, max_size=4),
    st.dictionaries(keys, kids, max_size=4).map(OrderedDict)), max_leaves=12)


@given(nested)
def test_round_trip_of_nested_structures(obj):
    assert_same(obj, round_trip(obj))


def test_module_state_dict_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    net = SmallNet(rng)
    sd = net.state_dict()
    path = tmp_path / "net.ckpt"
    minicnn.save(sd, path)
    assert not (tmp_path / "net.ckpt.npz").exists()  # the name is kept as given
    back = minicnn.load(path)
    assert type(back) is OrderedDict and list(back) == list(sd)
    assert_same(sd, back)
    assert "scratch" not in back and back["block.1.num_batches_tracked"].dtype == np.int64
    # a fresh model gets every value; the loaded tensors are its own copies, not the file's views
    other = SmallNet(np.random.default_rng(2))
    assert other.load_state_dict(back) == ([], [])
    assert_same(other.state_dict(), sd)
    back["weight"]._data[...] = 0
    assert not np.all(other.weight.detach().numpy() == 0)


def make_cnn(seed):
    minicnn.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.3), nn.Linear(12, 4))


def make_training(seed):
    model = make_cnn(seed)
    opt = minicnn.optim.Adam(model.parameters(), lr=0.01)
    sched = minicnn.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    return model, opt, sched


def train_steps(model, opt, sched, steps, seed):
    data = np.random.default_rng(seed)
    for _ in range(steps):
        x = minicnn.tensor(data.standard_normal((3, 2, 4, 4)).astype(np.float32))
        y = minicnn.tensor(data.integers(0, 4, 3))
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()


def test_resuming_training_from_a_checkpoint_is_exact(tmp_path):
    """Layers, Adam, StepLR, epoch and the dropout RNG saved mid-run: resuming continues the run
    exactly as if it had never stopped."""
    model, opt, sched = make_training(0)
    train_steps(model, opt, sched, 3, seed=0)
    path = tmp_path / "ckpt.npz"
    minicnn.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                  "scheduler": sched.state_dict(), "epoch": 3,
                  "rng": minicnn.random.default_generator().bit_generator.state}, path)
    train_steps(model, opt, sched, 2, seed=1)
    expected = model.state_dict()

    model2, opt2, sched2 = make_training(1)  # different initial weights and RNG
    ckpt = minicnn.load(path)
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optimizer"])
    sched2.load_state_dict(ckpt["scheduler"])
    minicnn.random.default_generator().bit_generator.state = ckpt["rng"]
    assert ckpt["epoch"] == 3 and ckpt["model"]["1.num_batches_tracked"].item() == 3
    train_steps(model2, opt2, sched2, 2, seed=1)
    assert sched2.get_last_lr() == sched.get_last_lr()
    for k, v in expected.items():
        np.testing.assert_array_equal(model2.state_dict()[k].numpy(), v.numpy(), err_msg=k)


def test_a_state_dict_is_a_plain_npz_with_its_names(tmp_path):
    sd = SmallNet(np.random.default_rng(3)).state_dict()
    path = tmp_path / "net.npz"
    minicnn.save(sd, path)
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(list(sd) + [STRUCTURE_ENTRY])
        for k, v in sd.items():
            np.testing.assert_array_equal(npz[k], v.numpy())


def test_training_checkpoint_round_trip(tmp_path):
    """model + optimizer (PyTorch's layout) + scheduler + epoch + RNG states."""
    rng = np.random.default_rng(4)
    net = SmallNet(rng)
    gen = np.random.default_rng(123)
    gen.standard_normal(5)  # advance it, so the state is not a fresh seed's
    ckpt = {
        "model": net.state_dict(),
        "optimizer": {
            "state": {i: {"step": minicnn.tensor(3.0), "exp_avg": minicnn.zeros_like(p),
                          "exp_avg_sq": minicnn.ones_like(p)}
                      for i, p in enumerate(net.parameters())},
            "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                              "amsgrad": False, "foreach": None,
                              "params": list(range(len(list(net.parameters()))))}],
        },
        "scheduler": {"step_size": 30, "gamma": 0.1, "base_lrs": [0.1], "last_epoch": 4,
                      "_last_lr": [0.1]},
        "epoch": 4,
        "rng": gen.bit_generator.state,
        "minicnn_rng": minicnn.random.default_generator().bit_generator.state,
        "mt": np.random.MT19937(5).state,
    }
    path = tmp_path / "ckpt.npz"
    minicnn.save(ckpt, path)
    back = minicnn.load(path)
    assert_same(ckpt, back)
    pcg = back["rng"]["state"]["state"]
    assert isinstance(pcg, int) and pcg > 2 ** 64  # a 128-bit int survives
    restored = np.random.default_rng()
    restored.bit_generator.state = back["rng"]
    np.testing.assert_array_equal(restored.standard_normal(4), gen.standard_normal(4))
    mt = np.random.MT19937()
    mt.state = back["mt"]
    assert mt.random_raw() == np.random.MT19937(5).random_raw()


def test_shared_objects_are_stored_once_and_load_as_one(tmp_path):
    w = minicnn.randn(4, 4)
    a = np.arange(3)
    obj = {"encoder": w, "decoder": w, "arrays": [a, a]}
    path = tmp_path / "tied.npz"
    minicnn.save(obj, path)
    assert len(read_entries(path)) == 3  # structure + one tensor + one array
    back = minicnn.load(path)
    assert back["encoder"] is back["decoder"] and back["arrays"][0] is back["arrays"][1]
    assert_same(obj, back)


def test_entry_names_are_sanitized_and_unique(tmp_path):
    obj = {"a/b": np.ones(1), "a_b": np.zeros(1), "../x": np.ones(2), STRUCTURE_ENTRY: np.ones(3),
           "": {"": np.ones(4)}, 1: np.ones(5), "1": np.ones(6)}
    path = tmp_path / "names.npz"
    minicnn.save(obj, path)
    names = list(read_entries(path))
    assert len(names) == len(set(names)) == 8
    assert all("/" not in n for n in names) and names.count(STRUCTURE_ENTRY + ".npy") == 1
    assert_same(obj, minicnn.load(path))


def test_same_object_gives_same_bytes():
    obj = {"w": minicnn.tensor(np.arange(6.0).reshape(2, 3)), "step": 3}
    a, b = io.BytesIO(), io.BytesIO()
    minicnn.save(obj, a)
    minicnn.save(obj, b)
    assert a.getvalue() == b.getvalue()


def test_devices_and_map_location():
    t = minicnn.tensor([1.0, 2.0]).to("numpy")
    back = round_trip({"t": t, "p": nn.Parameter(minicnn.ones(2).to("numpy"))})
    assert back["t"].device == "numpy" and back["p"].device == "numpy"
    buf = io.BytesIO()
    minicnn.save({"t": t, "c": minicnn.ones(1)}, buf)
    for where in ("cpu", minicnn.device("cpu"), "numpy"):
        buf.seek(0)
        moved = minicnn.load(buf, map_location=where)
        assert moved["t"].device == where and moved["c"].device == where
        np.testing.assert_array_equal(moved["t"].numpy(), [1.0, 2.0])
    buf.seek(0)
    with pytest.raises(TypeError, match="map_location"):
        minicnn.load(buf, map_location={"cuda": "cpu"})


def test_a_tensor_saved_on_an_unusable_device_names_it(tmp_path):
    path = tmp_path / "gpu.npz"
    minicnn.save({"t": minicnn.ones(2)}, path)
    entries = read_entries(path)
    doc = structure(entries)
    doc["root"]["items"][0][1]["device"] = "cuda:0"
    set_structure(entries, doc)
    write_entries(path, entries)
    with pytest.raises(RuntimeError, match="cuda:0.*map_location='cpu'"):
        minicnn.load(path)
    assert minicnn.load(path, map_location="cpu")["t"].device == "cpu"


# ---------------------------------------------------------------- files and file objects

def test_paths_file_objects_and_streams(tmp_path):
    obj = {"w": minicnn.randn(3, 2), "epoch": 2}
    as_str = str(tmp_path / "s.ckpt")
    minicnn.save(obj, as_str)
    assert_same(obj, minicnn.load(as_str))
    with open(tmp_path / "f.ckpt", "wb") as fh:
        minicnn.save(obj, fh)
    with open(tmp_path / "f.ckpt", "rb") as fh:
        assert_same(obj, minicnn.load(fh))

    class Stream:
        """Neither seekable nor tellable, as a pipe or a socket."""

        def __init__(self, data=b""):
            self.buf = io.BytesIO(data)

        def write(self, b):
            return self.buf.write(b)

        def read(self, n=-1):
            return self.buf.read(n)

        def flush(self):
            pass

        def seekable(self):
            return False

    out = Stream()
    minicnn.save(obj, out)
    assert_same(obj, minicnn.load(Stream(out.buf.getvalue())))


def test_bad_f_arguments():
    with pytest.raises(TypeError, match="path or a binary file object"):
        minicnn.save({}, 3)
    with pytest.raises(TypeError, match="path or a binary file object"):
        minicnn.load(3.5)


def test_missing_file_or_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        minicnn.load(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match=r"nodir.*does not exist"):
        minicnn.save({"a": 1}, tmp_path / "nodir" / "x.pt")


def test_file_mode_follows_the_umask(tmp_path):
    path = tmp_path / "m.pt"
    old = os.umask(0o022)
    try:
        minicnn.save({"a": 1}, path)
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o644


def test_save_through_a_symlink_replaces_its_target(tmp_path):
    target = tmp_path / "real.pt"
    minicnn.save({"v": 1}, target)
    link = tmp_path / "link.pt"
    link.symlink_to(target)
    minicnn.save({"v": 2}, link)
    assert link.is_symlink() and minicnn.load(target) == {"v": 2}


# ---------------------------------------------------------------- atomic writes

def fail_on_second_array(monkeypatch, exc):
    """Make the second array written raise exc: the checkpoint is half written when it fails."""
    real = np.lib.format.write_array
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", flaky)
    return calls


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch, exc):
    calls = fail_on_second_array(monkeypatch, exc)
    path = tmp_path / "ckpt.npz"
    with pytest.raises(type(exc)):
        minicnn.save({"a": np.ones(3), "b": np.zeros(2)}, path)
    assert len(calls) == 2
    assert os.listdir(tmp_path) == []  # neither the checkpoint nor the temporary file


def test_a_failed_write_leaves_the_old_checkpoint_untouched(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    old = {"epoch": 1, "w": np.arange(4.0)}
    minicnn.save(old, path)
    before = path.read_bytes()
    fail_on_second_array(monkeypatch, OSError("disk full"))
    with pytest.raises(OSError, match="disk full"):
        minicnn.save({"epoch": 2, "w": np.zeros(4), "v": np.ones(2)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.npz"]
    assert_same(old, minicnn.load(path))


def test_a_failed_rename_leaves_no_temporary_file(tmp_path, monkeypatch):
    def broken(*_):
        raise PermissionError("rename refused")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(PermissionError):
        minicnn.save({"a": 1}, tmp_path / "x.pt")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- unsupported objects

class Holder:
    pass


@pytest.mark.parametrize("obj, message", [
    ({"optimizer": {"state": {0: {"x": lambda: 0}}}},
     r"^obj\['optimizer'\]\['state'\]\[0\]\['x'\]: cannot save a function"),
    ([1, (2, {3})], r"^obj\[1\]\[1\]: cannot save a set"),
    ({"m": nn.Module()}, r"^obj\['m'\]: cannot save a Module \(save its state_dict\(\) instead\)"),
    ({"h": Holder()}, r"^obj\['h'\]: cannot save a Holder"),
    ({"o": np.array([1, "a"], dtype=object)}, r"^obj\['o'\]: cannot save an ndarray of dtype "
                                              "object.*without pickle"),
    ({(1, 2): 3}, r"^obj: cannot save a dict key of type tuple"),
    ({"d": defaultdict(list)}, r"^obj\['d'\]: cannot save a defaultdict"),
    ({"b": b"raw"}, r"^obj\['b'\]: cannot save a bytes"),
    ({"v": np.zeros(2, [("x", "f4")])}, r"^obj\['v'\]: cannot save an ndarray of dtype"),
])
def test_unsupported_objects_name_their_path(tmp_path, obj, message):
    path = tmp_path / "bad.npz"
    with pytest.raises(TypeError, match=message):
        minicnn.save(obj, path)
    assert os.listdir(tmp_path) == []  # checked before any file is opened


def test_circular_references_are_refused():
    loop = [1]
    loop.append({"again": loop})
    with pytest.raises(TypeError, match=r"^obj\[1\]\['again'\]: cannot save a circular"):
        minicnn.save(loop, io.BytesIO())
    same = [1]
    assert_same([same, same], round_trip([same, same]))  # shared, not circular: fine


# ---------------------------------------------------------------- bad files

@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "good.npz"
    minicnn.save({"w": np.arange(50.0), "b": minicnn.ones(3), "n": 4}, path)
    return path


@pytest.mark.parametrize("keep", [0, 1, 10, 100, 0.5, -22, -1])
def test_truncated_files(checkpoint, keep):
    data = checkpoint.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    checkpoint.write_bytes(data[:cut])
    with pytest.raises(CheckpointError, match=r"good\.npz: not a minicnn checkpoint.*truncated"):
        minicnn.load(checkpoint)


def test_random_bytes_and_other_formats(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(ValueError, match=r"noise\.pt: not a minicnn checkpoint.*zip"):
        minicnn.load(path)
    np.save(tmp_path / "single.npy", np.ones(3))  # a lone .npy, not an archive
    with pytest.raises(ValueError, match=r"single\.npy: not a minicnn checkpoint"):
        minicnn.load(tmp_path / "single.npy")


def test_corrupted_bytes_fail_the_checksum(checkpoint):
    data = bytearray(checkpoint.read_bytes())
    at = data.find(np.arange(50.0).tobytes())
    data[at + 8] ^= 0xFF
    checkpoint.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"good\.npz: entry 'w' is corrupted"):
        minicnn.load(checkpoint)


def test_a_plain_npz_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, weight=np.ones(3))
    with pytest.raises(NotACheckpointError,
                       match=rf"plain\.npz: not a minicnn checkpoint: no '{STRUCTURE_ENTRY}' "
                             r"structure entry.*numpy\.load"):
        minicnn.load(path)


def test_a_torch_save_file_is_recognised_by_its_content(tmp_path):
    # PyTorch's format (tests/test_pt_format.py): a data.pkl record in a folder, whatever the name
    path = tmp_path / "model.npz"
    write_entries(path, {"archive/data.pkl": b"\x80\x02}q\x00.", "archive/version": b"3\n"})
    assert minicnn.load(path) == {}


class Boom:
    """Unpickling this calls Boom.fire: the test fails if it ever runs."""

    fired = False

    @classmethod
    def fire(cls):
        cls.fired = True
        return "boom"

    def __reduce__(self):
        return (Boom.fire, ())


def test_pickled_entries_are_never_unpickled(tmp_path, checkpoint):
    evil = npy_bytes(np.array([Boom()], dtype=object), allow_pickle=True)
    # a checkpoint whose array entry was swapped for a pickled object array
    entries = read_entries(checkpoint)
    entries["w.npy"] = evil
    write_entries(checkpoint, entries)
    with pytest.raises(CheckpointError, match=r"good\.npz: entry 'w' holds pickled Python "
                                              "objects.*never loads"):
        minicnn.load(checkpoint)
    # and the structure entry itself pickled
    entries[STRUCTURE_ENTRY + ".npy"] = evil
    write_entries(checkpoint, entries)
    with pytest.raises(CheckpointError, match="holds pickled Python objects"):
        minicnn.load(checkpoint)
    # a plain .npz of pickles
    plain = tmp_path / "evil.npz"
    np.savez(plain, x=np.array([Boom()], dtype=object), allow_pickle=True)
    with pytest.raises(NotACheckpointError):
        minicnn.load(plain)
    assert not Boom.fired


def edit_structure(path, change):
    entries = read_entries(path)
    doc = structure(entries)
    change(doc, entries)
    set_structure(entries, doc)
    write_entries(path, entries)


def _items(doc):
    return dict(doc["root"]["items"])


@pytest.mark.parametrize("change, message", [
    (lambda doc, e: e.pop("b.npy"), r"names the array 'b', which is not in the file"),
    (lambda doc, e: e.update({"extra.npy": npy_bytes(np.ones(1))}),
     r"entries \['extra\.npy'\] are not part of the structure"),
    (lambda doc, e: e.update({"notes.txt": b"hi"}), r"\['notes\.txt'\] are not part"),
    (lambda doc, e: _items(doc)["w"].update(dtype="<f4"), r"'w' should have dtype <f4 and shape "
                                                          r"\(50,\), the file holds <f8 \(50,\)"),
    (lambda doc, e: _items(doc)["b"].update(shape=[4]), r"'b' should have dtype <f4 and shape"),
    (lambda doc, e: _items(doc)["w"].update(type="pickle"), r"unknown node type 'pickle'"),
    (lambda doc, e: _items(doc)["w"].pop("array"), r"malformed structure entry \(KeyError"),
    (lambda doc, e: doc["root"].update(items={"w": 1}), r"malformed structure entry"),
    (lambda doc, e: doc["root"].update(items=[[[1], 2]]), r"invalid dict key \[1\]"),
    (lambda doc, e: doc.update(format="other"), r"not a minicnn-checkpoint header"),
    (lambda doc, e: doc.update(version="1"), r"invalid checkpoint format version '1'"),
])
def test_a_structure_that_does_not_match_the_arrays(checkpoint, change, message):
    edit_structure(checkpoint, change)
    with pytest.raises(CheckpointError, match=r"good\.npz: .*" + message):
        minicnn.load(checkpoint)


def test_invalid_json_in_the_structure_entry(checkpoint):
    entries = read_entries(checkpoint)
    entries[STRUCTURE_ENTRY + ".npy"] = npy_bytes(np.frombuffer(b"{not json", np.uint8))
    write_entries(checkpoint, entries)
    with pytest.raises(CheckpointError, match=r"good\.npz: the structure entry is not valid"):
        minicnn.load(checkpoint)


def test_a_newer_format_version_is_refused(checkpoint):
    edit_structure(checkpoint, lambda doc, e: doc.update(version=99))
    with pytest.raises(RuntimeError, match=r"good\.npz: checkpoint format version 99 is newer "
                                           r"than this minicnn reads \(up to 1\)"):
        minicnn.load(checkpoint)


def test_a_compressed_npz_checkpoint_still_loads(checkpoint):
    # someone re-zipped it with deflate: still the same entries
    entries = read_entries(checkpoint)
    with zipfile.ZipFile(checkpoint, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    assert minicnn.load(checkpoint)["n"] == 4


# ---------------------------------------------------------------- safetensors

def test_safetensors_round_trip(tmp_path):
    safe_open = pytest.importorskip("safetensors").safe_open
    sd = SmallNet(np.random.default_rng(5)).state_dict()
    sd["strided"] = minicnn.tensor(np.arange(12.0).reshape(3, 4)).T  # not contiguous
    sd["flags"] = np.array([True, False])
    sd["half"] = np.ones(2, np.float16)
    path = tmp_path / "model.safetensors"
    minicnn.save(sd, path, metadata={"format": "pt", "epoch": "3"})
    back = minicnn.load(path)
    assert type(back) is OrderedDict and sorted(back) == sorted(sd)
    for k, v in sd.items():
        t = back[k]
        assert isinstance(t, minicnn.Tensor) and t.dtype == v.dtype and t.shape == v.shape
        np.testing.assert_array_equal(t.numpy(), np.asarray(v))
        t._data[...] = 0  # writable, the model may adopt it
    with safe_open(str(path), framework="np") as f:
        assert f.metadata() == {"format": "pt", "epoch": "3"}
    moved = minicnn.load(path, map_location="numpy")
    assert all(t.device == "numpy" for t in moved.values())
    other = SmallNet(np.random.default_rng(6))
    minicnn.save(other.state_dict(), tmp_path / "net.SafeTensors")  # the suffix, in any case
    assert_same(other.state_dict(), OrderedDict(
        (k, minicnn.load(tmp_path / "net.SafeTensors")[k]) for k in other.state_dict()))


@pytest.mark.parametrize("obj, kw, message", [
    ({"a": {"b": np.ones(1)}}, {}, r"obj\['a'\]: a \.safetensors file holds only a flat mapping"),
    ({"a": [np.ones(1)]}, {}, r"flat mapping name -> tensor, got list"),
    ({"a": 1.0}, {}, r"flat mapping name -> tensor, got float"),
    ({1: np.ones(1)}, {}, r"key 1 is a int, not a str"),
    ([np.ones(1)], {}, r"holds only a flat mapping name -> tensor \(a state_dict\), got list"),
    ({"c": np.ones(2, np.complex128)}, {}, r"safetensors cannot store dtype complex128"),
    ({"a": np.ones(1)}, {"metadata": {"epoch": 3}}, r"metadata must be a dict str -> str"),
])
def test_safetensors_errors(tmp_path, obj, kw, message):
    pytest.importorskip("safetensors")
    with pytest.raises(TypeError, match=message):
        minicnn.save(obj, tmp_path / "x.safetensors", **kw)
    assert os.listdir(tmp_path) == []


def test_metadata_is_only_for_safetensors(tmp_path):
    with pytest.raises(TypeError, match="metadata is only for .safetensors"):
        minicnn.save({"a": np.ones(1)}, tmp_path / "x.npz", metadata={"a": "b"})


def test_corrupt_safetensors_file(tmp_path):
    pytest.importorskip("safetensors")
    path = tmp_path / "x.safetensors"
    minicnn.save({"a": np.ones(100)}, path)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match=r"x\.safetensors: not a valid \.safetensors file"):
        minicnn.load(path)


def test_safetensors_write_is_atomic(tmp_path, monkeypatch):
    st = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "x.safetensors"
    minicnn.save({"a": np.ones(3)}, path)
    before = path.read_bytes()

    def half_written(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(st, "save_file", half_written)
    with pytest.raises(OSError):
        minicnn.save({"a": np.zeros(3)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["x.safetensors"]


def test_safetensors_missing_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)  # makes `import safetensors` fail
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    for call in (lambda: minicnn.save({"a": np.ones(1)}, tmp_path / "x.safetensors"),
                 lambda: minicnn.load(tmp_path / "x.safetensors")):
        with pytest.raises(ImportError, match="pip install safetensors"):
            call()
    # .npz checkpoints do not need it
    assert round_trip({"a": 1}) == {"a": 1}
