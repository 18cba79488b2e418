"""nn.Module, Parameter and the containers: registration, traversal, state_dict, modes, hooks,
repr and error notes, compared with torch.nn where torch has the same concept."""
import types
from collections import OrderedDict

import numpy as np
import pytest

import minicnn as mc
from minicnn import _compat, nn


class Leaf(nn.Module):
    """A layer with one parameter, an optional bias and a buffer (no layer modules needed)."""

    def __init__(self, n, bias=True, lib=nn, make=mc.randn):
        super().__init__()
        self.weight = lib.Parameter(make(n))
        if bias:
            self.bias = lib.Parameter(make(n))
        else:
            self.register_parameter("bias", None)
        self.register_buffer("running", make(n) * 0)
        self.register_buffer("scratch", make(n) * 0, persistent=False)

    def forward(self, x):
        return x * self.weight + (self.bias if self.bias is not None else 0)


def build(lib=nn, make=mc.randn):
    """The same nested structure in minicnn or torch."""
    def leaf(n, bias=True):
        return Leaf(n, bias, lib, make)
    root = lib.Module()
    root.stem = leaf(3)
    root.blocks = lib.Sequential(leaf(3), lib.Sequential(OrderedDict(a=leaf(3, False), b=leaf(3))))
    root.heads = lib.ModuleDict({"cls": leaf(3), "box": leaf(3)})
    root.extra = lib.ModuleList([leaf(3)])
    return root


@pytest.fixture
def twins(torch):
    class TLeaf(torch.nn.Module):
        def __init__(self, n, bias=True):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.randn(n))
            if bias:
                self.bias = torch.nn.Parameter(torch.randn(n))
            else:
                self.register_parameter("bias", None)
            self.register_buffer("running", torch.zeros(n))
            self.register_buffer("scratch", torch.zeros(n), persistent=False)

    def tbuild():
        root = torch.nn.Module()
        root.stem = TLeaf(3)
        root.blocks = torch.nn.Sequential(TLeaf(3), torch.nn.Sequential(
            OrderedDict(a=TLeaf(3, False), b=TLeaf(3))))
        root.heads = torch.nn.ModuleDict({"cls": TLeaf(3), "box": TLeaf(3)})
        root.extra = torch.nn.ModuleList([TLeaf(3)])
        return root

    return build(), tbuild()


def test_names_match_torch(twins):
    ours, theirs = twins
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert "blocks.1.a.bias" not in ours.state_dict()  # a None parameter is not saved
    assert not any("scratch" in k for k in ours.state_dict())  # non-persistent buffer


def test_repr_matches_torch(twins):
    ours, theirs = twins
    assert repr(ours).replace("Leaf", "X") == repr(theirs).replace("TLeaf", "X")


def test_load_state_dict_report_matches_torch(twins):
    ours, theirs = twins
    sd = {k: v.numpy() for k, v in theirs.state_dict().items()}
    del sd["stem.weight"]
    sd["ghost.weight"] = np.zeros(3, np.float32)
    r_ours = ours.load_state_dict(sd, strict=False)
    r_theirs = theirs.load_state_dict({k: __import__("torch").from_numpy(v) for k, v in sd.items()},
                                      strict=False)
    assert r_ours.missing_keys == r_theirs.missing_keys == ["stem.weight"]
    assert r_ours.unexpected_keys == r_theirs.unexpected_keys == ["ghost.weight"]
    np.testing.assert_array_equal(ours.heads["box"].bias.detach().numpy(), sd["heads.box.bias"])


def test_load_state_dict_errors_and_atomicity():
    m = build()
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    sd = {k: v.numpy() + 1 for k, v in m.state_dict().items()}
    sd["blocks.0.weight"] = np.zeros((4,), np.float32)
    with pytest.raises(RuntimeError, match=r"size mismatch for blocks\.0\.weight.*\(4,\).*\(3,\)"):
        m.load_state_dict(sd)
    for k, v in m.state_dict().items():  # nothing was copied
        np.testing.assert_array_equal(v.numpy(), before[k])
    del sd["blocks.0.weight"]
    sd["zzz"] = np.zeros(1)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\).*"blocks\.0\.weight".*\n.*'
                                           r'Unexpected key\(s\).*"zzz"'):
        m.load_state_dict(sd)
    with pytest.raises(TypeError, match="dict-like"):
        m.load_state_dict([1, 2])


def test_load_state_dict_copies_and_casts():
    m = build().double()
    sd = {k: v.numpy().astype(np.float32) + 1 for k, v in build().state_dict().items()}
    m.load_state_dict(sd)
    w = m.stem.weight
    assert w.dtype == np.float64 and isinstance(w, nn.Parameter)
    np.testing.assert_allclose(w.detach().numpy(), sd["stem.weight"], rtol=1e-7)
    sd["stem.weight"][0] = 42  # copied, not aliased
    assert w.detach().numpy()[0] != 42
    m.load_state_dict({k: mc.tensor(v) for k, v in sd.items()}, assign=True)
    assert m.stem.weight.detach().numpy()[0] == 42 and m.stem.weight.dtype == np.float64


def test_state_dict_shares_memory_and_is_detached():
    m = build()
    sd = m.state_dict()
    assert not sd["stem.weight"].requires_grad
    with mc.no_grad():
        m.stem.weight.fill_(7.0)
    assert (sd["stem.weight"].numpy() == 7).all()
    assert m.state_dict(keep_vars=True)["stem.weight"] is m.stem.weight


def test_shared_parameter_listed_once():
    m = nn.Module()
    m.a = Leaf(2)
    m.b = Leaf(2)
    m.b.weight = m.a.weight
    names = [n for n, _ in m.named_parameters()]
    assert names == ["a.weight", "a.bias", "b.bias"]
    assert len(list(m.named_parameters(remove_duplicate=False))) == 4
    assert "b.weight" in m.state_dict()  # state_dict keeps both names, as PyTorch


def test_registration_rules():
    m = Leaf(2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = mc.randn(2)  # a plain tensor cannot replace a parameter
    m.weight = None
    assert m.weight is None and "weight" not in m.state_dict()
    with pytest.raises(TypeError, match="buffer 'running'"):
        m.running = np.zeros(2)
    m.running = mc.ones(2)
    assert m.state_dict()["running"].numpy().tolist() == [1, 1]
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", mc.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("forward", mc.zeros(1))
    with pytest.raises(TypeError, match="Parameter or None"):
        m.register_parameter("w2", mc.zeros(1))
    with pytest.raises(TypeError, match="not a Module"):
        m.add_module("child", 3)
    del m.running
    assert "running" not in m.state_dict()
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        m.nope

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(mc.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_reassigning_kind_moves_attribute():
    m = nn.Module()
    m.x = Leaf(1)
    m.x = nn.Parameter(mc.zeros(1))
    assert "x" not in m._modules and m._parameters["x"] is m.x


def test_train_eval_requires_grad_zero_grad_apply():
    m = build()
    assert all(sub.training for sub in m.modules())
    assert m.eval() is m and not any(sub.training for sub in m.modules())
    m.train()
    assert all(sub.training for sub in m.modules())
    m.blocks.requires_grad_(False)
    assert [n for n, p in m.named_parameters() if not p.requires_grad] == \
        [n for n, _ in m.named_parameters() if n.startswith("blocks")]
    out = m.stem(mc.ones(3)).sum()
    out.backward()
    assert m.stem.weight.grad is not None
    m.zero_grad(set_to_none=False)
    assert m.stem.weight.grad is not None and (m.stem.weight.grad.numpy() == 0).all()
    m.zero_grad()
    assert m.stem.weight.grad is None
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == "Module" and seen.count("Leaf") == 7
    with pytest.raises(ValueError, match="boolean"):
        m.train("yes")


def test_to_keeps_parameter_objects():
    m = build()
    w = m.stem.weight
    m.stem(mc.ones(3)).sum().backward()
    m.to(mc.float64)
    assert m.stem.weight is w and w.dtype == np.float64 and w.grad.dtype == np.float64
    assert m.stem.running.dtype == np.float64
    m.to("numpy")
    assert w.device.type == "numpy"
    m.to("cpu", mc.float32)
    assert w.device.type == "cpu" and w.dtype == np.float32
    with pytest.raises(TypeError, match="floating"):
        m.to(mc.int64)


def test_int_buffer_keeps_dtype():
    m = nn.Module()
    m.register_buffer("count", mc.tensor(3))
    m.double()
    assert m.count.dtype == np.int64


def test_hooks():
    m = Leaf(2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
    with mc.no_grad():
        m.weight.fill_(1.0)
        m.bias.fill_(0.0)
    assert m(mc.ones(2)).detach().numpy().tolist() == [3, 3]
    assert calls == [(2,)]
    h1.remove()
    h2.remove()
    assert m(mc.ones(2)).detach().numpy().tolist() == [1, 1]


@pytest.mark.parametrize("python", ["this", "3.10"])
def test_error_note_names_layer(python, monkeypatch):
    if python == "3.10":  # no BaseException.add_note: minicnn._compat keeps the notes itself
        monkeypatch.setattr(_compat, "sys", types.SimpleNamespace(version_info=(3, 10, 13)))

    class Bad(nn.Module):
        def forward(self, x):
            raise ValueError("expected 3 channels")

    root = nn.Module()
    root.body = nn.Sequential(Leaf(2), Bad())
    root.forward = lambda x: root.body(x)
    with pytest.raises(ValueError) as info:
        root(mc.ones(2))
    assert info.value.__notes__ == ["(raised in layer 'body.1' (Bad))"]
    with pytest.raises(ValueError) as info:
        Bad()(mc.ones(2))
    assert info.value.__notes__ == ["(raised in layer Bad)"]


def test_missing_forward():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


def test_sequential():
    a, b, c = Leaf(2), Leaf(2), Leaf(2)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    assert isinstance(s[1:], nn.Sequential) and list(s[1:]) == [b, c]
    assert list(s[1:].state_dict()) == ["1.weight", "1.bias", "1.running",
                                        "2.weight", "2.bias", "2.running"]
    x = mc.randn(2)
    np.testing.assert_allclose(s(x).detach().numpy(), c(b(a(x))).detach().numpy())
    del s[0]
    assert list(s._modules) == ["0", "1"] and s[0] is b
    s.append(a).insert(0, c)
    assert list(s) == [c, b, c, a]
    with pytest.raises(IndexError, match="out of range"):
        s[4]


def test_module_list_and_dict():
    items = [Leaf(1) for _ in range(3)]
    ml = nn.ModuleList(items[:2])
    ml += [items[2]]
    assert list(ml) == items and ml[-1] is items[2] and len(ml) == 3
    ml.insert(1, Leaf(1))
    assert len(ml) == 4 and ml[2] is items[1]
    del ml[0]
    assert list(ml._modules) == ["0", "1", "2"]
    with pytest.raises(NotImplementedError):
        ml(1)
    md = nn.ModuleDict({"x": items[0]})
    md["y"] = items[1]
    assert list(md) == ["x", "y"] and "y" in md and md.pop("x") is items[0]
    assert list(md.keys()) == ["y"]
    with pytest.raises(TypeError, match="not a Module"):
        md["z"] = 1


def test_get_submodule_and_parameter():
    m = build()
    assert m.get_submodule("blocks.1.b") is m.blocks[1].b
    assert m.get_parameter("heads.cls.bias") is m.heads["cls"].bias
    with pytest.raises(AttributeError, match="no submodule 'c'"):
        m.get_submodule("blocks.1.c")


def test_parameter():
    t = mc.randn(2, 3)
    p = nn.Parameter(t)
    assert p.requires_grad and p.is_leaf and np.shares_memory(p.detach().numpy(), t.numpy())
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert nn.Parameter().shape == (0,)
    with pytest.raises(RuntimeError, match="floating"):
        nn.Parameter(mc.tensor([1, 2]))
