"""Mixed precision (minicnn.amp): autocast's op lists and numbers against PyTorch 2.13's CPU
autocast, gradients back in the float32 parameters, and GradScaler step by step against
torch.amp.GradScaler, including the float16 gradient underflow that loss scaling prevents."""
import numpy as np
import pytest

import minicnn
import minicnn.nn.functional as F
from minicnn import amp

pytest.importorskip("ml_dtypes")

LOW = {"bfloat16": lambda: minicnn.bfloat16, "float16": lambda: minicnn.float16}


def _inputs(seed=0):
    r = np.random.default_rng(seed)
    shapes = {"x4": (2, 3, 6, 6), "w": (4, 3, 3, 3), "wt": (3, 4, 3, 3), "b": (4,), "m": (4, 5),
              "m2": (5, 6), "lw": (6, 5), "lb": (6,), "b3": (2, 4, 5), "b3b": (2, 5, 6),
              "c": (4, 6), "v": (5,)}
    return {k: r.standard_normal(s).astype(np.float32) for k, s in shapes.items()}


# (name, minicnn op, torch op): each takes (library, functional, tensors by name, target)
CASES = [
    ("conv2d", lambda L, f, t, y: f.conv2d(t["x4"], t["w"], t["b"])),
    ("conv_transpose2d", lambda L, f, t, y: f.conv_transpose2d(t["x4"], t["wt"])),
    ("linear", lambda L, f, t, y: f.linear(t["m"], t["lw"], t["lb"])),
    ("matmul", lambda L, f, t, y: t["m"] @ t["m2"]),
    ("mm", lambda L, f, t, y: L.mm(t["m"], t["m2"])),
    ("bmm", lambda L, f, t, y: L.bmm(t["b3"], t["b3b"])),
    ("addmm", lambda L, f, t, y: L.addmm(t["c"], t["m"], t["m2"])),
    ("einsum", lambda L, f, t, y: L.einsum("ij,jk->ik", t["m"], t["m2"])),
    ("dot", lambda L, f, t, y: L.dot(t["v"], t["v"])),
    ("softmax", lambda L, f, t, y: f.softmax(t["m"], 1)),
    ("log_softmax", lambda L, f, t, y: f.log_softmax(t["m"], 1)),
    ("cross_entropy", lambda L, f, t, y: f.cross_entropy(t["m"], y)),
    ("nll_loss", lambda L, f, t, y: f.nll_loss(t["m"], y)),
    ("mse_loss", lambda L, f, t, y: f.mse_loss(t["m"], t["m"] * 0.5)),
    ("prod", lambda L, f, t, y: t["v"].prod()),
    ("layer_norm", lambda L, f, t, y: f.layer_norm(t["m"], (5,))),
    ("group_norm", lambda L, f, t, y: f.group_norm(t["x4"], 3)),
    ("batch_norm", lambda L, f, t, y: f.batch_norm(t["x4"], None, None, training=True)),
    ("batch_norm_float32_affine", lambda L, f, t, y: f.batch_norm(
        t["x4"], None, None, t["v"][:3].float(), t["v"][:3].float(), training=True)),
    ("layer_norm_float32_affine", lambda L, f, t, y: f.layer_norm(
        t["m"], (5,), t["v"].float(), t["v"].float())),
    ("relu", lambda L, f, t, y: f.relu(t["m"])),
    ("max_pool2d", lambda L, f, t, y: f.max_pool2d(t["x4"], 2)),
    ("avg_pool2d", lambda L, f, t, y: f.avg_pool2d(t["x4"], 2)),
    ("add", lambda L, f, t, y: t["m"] + t["m"]),
    ("add_float32", lambda L, f, t, y: t["m"] + t["m"].float()),
    ("sum", lambda L, f, t, y: t["m"].sum()),
    ("exp", lambda L, f, t, y: t["m"].exp()),
]


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
@pytest.mark.parametrize("inputs", ["float32", "low"])
@pytest.mark.parametrize("name,op", CASES, ids=[c[0] for c in CASES])
def test_output_dtypes_match_torch_autocast(torch, name, op, low, inputs):
    """The output dtype of each op under autocast, with float32 inputs and with inputs already
    in the low precision, is PyTorch 2.13's (its CPU lists: conv/linear/matmul low, the losses
    and prod float32, everything else following its inputs)."""
    arrays = _inputs()
    tdt = getattr(torch, low)
    tt = {k: torch.from_numpy(a) for k, a in arrays.items()}
    mt = {k: minicnn.from_numpy(a) for k, a in arrays.items()}
    if inputs == "low":
        tt = {k: a.to(tdt) for k, a in tt.items()}
        mt = {k: a.to(LOW[low]()) for k, a in mt.items()}
    y = [0, 1, 2, 3]
    with torch.autocast("cpu", dtype=tdt):
        expected = op(torch, torch.nn.functional, tt, torch.tensor(y))
    with minicnn.autocast("cpu", dtype=LOW[low]()):
        got = op(minicnn, F, mt, minicnn.tensor(y))
    assert got.dtype.name == str(expected.dtype).removeprefix("torch."), name


def _close_in_low_precision(got, expected, low):
    """Agreement up to a few roundings in ``low`` (bfloat16 keeps 8 significant bits)."""
    eps = 2.0 ** -7 if low == "bfloat16" else 2.0 ** -10
    got = np.asarray(got.float().detach().numpy(), np.float64)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=4 * eps, atol=4 * eps * scale)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_lower_precision_ops_agree_with_torch(torch, low):
    """conv2d, linear and matmul under autocast give PyTorch's autocast numbers: inputs rounded
    to the low precision, float32 accumulation, the result rounded."""
    a = _inputs(1)
    tdt = getattr(torch, low)
    tt = {k: torch.from_numpy(v) for k, v in a.items()}
    mt = {k: minicnn.from_numpy(v) for k, v in a.items()}
    with torch.autocast("cpu", dtype=tdt):
        want = [torch.nn.functional.conv2d(tt["x4"], tt["w"], tt["b"], padding=1),
                torch.nn.functional.linear(tt["m"], tt["lw"], tt["lb"]), tt["m"] @ tt["m2"]]
    with minicnn.autocast(dtype=LOW[low]()):
        got = [F.conv2d(mt["x4"], mt["w"], mt["b"], padding=1),
               F.linear(mt["m"], mt["lw"], mt["lb"]), mt["m"] @ mt["m2"]]
    for g, w in zip(got, want):
        assert g.dtype == LOW[low]()
        _close_in_low_precision(g, w.float().numpy().astype(np.float64), low)
    # and not the float32 result: the inputs were rounded (bfloat16 differs by far more)
    if low == "bfloat16":
        exact = a["m"].astype(np.float64) @ a["m2"].astype(np.float64)
        assert np.abs(got[2].float().numpy() - exact).max() > 1e-3


def _torch_twin(torch, conv, lin):
    tconv = torch.nn.Conv2d(3, 4, 3)
    tlin = torch.nn.Linear(4 * 4 * 4, 5)
    with torch.no_grad():
        for tm, mm in ((tconv, conv), (tlin, lin)):
            tm.weight.copy_(torch.from_numpy(mm.weight.detach().numpy()))
            tm.bias.copy_(torch.from_numpy(mm.bias.detach().numpy()))
    return tconv, tlin


def test_gradients_reach_the_float32_parameters_as_torch(torch):
    """Backward through bfloat16 ops leaves float32 gradients in the float32 parameters, equal
    to PyTorch's autocast gradients up to bfloat16 rounding; the loss is float32."""
    minicnn.manual_seed(0)
    conv, bn, lin = minicnn.nn.Conv2d(3, 4, 3), minicnn.nn.BatchNorm2d(4), minicnn.nn.Linear(64, 5)
    tconv, tlin = _torch_twin(torch, conv, lin)
    tbn = torch.nn.BatchNorm2d(4)
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 6)).astype(np.float32)
    y = [1, 3]

    def run(L, f, c, b, li, xx):
        with L.autocast("cpu", dtype=L.bfloat16):
            h = f.relu(b(c(xx)))
            out = li(h.flatten(1))
            assert out.dtype == L.bfloat16
            loss = f.cross_entropy(out, L.tensor(y))
        assert loss.dtype == L.float32
        loss.backward()
        return loss

    loss = run(minicnn, F, conv, bn, lin, minicnn.from_numpy(x))
    tloss = run(torch, torch.nn.functional, tconv, tbn, tlin, torch.from_numpy(x))
    assert abs(loss.item() - tloss.item()) < 2e-2
    for p, tp in ((conv.weight, tconv.weight), (lin.weight, tlin.weight), (bn.weight, tbn.weight)):
        assert p.grad.dtype == minicnn.float32
        g, tg = p.grad.numpy(), tp.grad.numpy()
        np.testing.assert_allclose(g, tg, rtol=0.05, atol=0.05 * np.abs(tg).max())


def test_low_precision_tensors_promote_and_move_as_torch():
    """A bfloat16 and a float32 tensor add to float32 (PyTorch's promotion), each input gets a
    gradient of its own dtype; data movement (reshape, indexing, cat) keeps bfloat16; float32
    and float64 still do not mix."""
    a = minicnn.randn(3, requires_grad=True)
    with minicnn.autocast():
        low = F.linear(a.reshape(1, 3), minicnn.eye(3))  # a bfloat16 tensor in the graph
    b = minicnn.randn(3, requires_grad=True)
    out = low.reshape(3) + b
    assert out.dtype == minicnn.float32
    assert low[0, 1:].dtype == minicnn.bfloat16
    assert minicnn.cat([low, low]).dtype == minicnn.bfloat16
    out.sum().backward()
    assert a.grad.dtype == b.grad.dtype == minicnn.float32
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(3, np.float32))
    with pytest.raises(TypeError, match="one dtype"):
        minicnn.randn(2) + minicnn.randn(2).double()
    with pytest.raises(TypeError, match="one dtype"):  # nor does bfloat16 with float64
        low.detach() + minicnn.randn(3).double()


def test_nesting_decorator_and_state():
    """enabled=False inside autocast turns it off; the decorator form applies to each call;
    is_autocast_enabled and get_autocast_dtype follow the blocks (PyTorch's)."""
    x, w = minicnn.randn(2, 3), minicnn.randn(4, 3)
    assert not amp.is_autocast_enabled()
    with minicnn.autocast(dtype=minicnn.float16):
        assert amp.is_autocast_enabled() and amp.get_autocast_dtype() == minicnn.float16
        assert F.linear(x, w).dtype == minicnn.float16
        with minicnn.amp.autocast("cpu", enabled=False):
            assert not amp.is_autocast_enabled()
            assert F.linear(x, w).dtype == minicnn.float32
        assert F.linear(x, w).dtype == minicnn.float16
    assert F.linear(x, w).dtype == minicnn.float32
    assert amp.get_autocast_dtype() == minicnn.bfloat16

    @minicnn.autocast()
    def forward(x):
        return x @ w.T

    assert forward(x).dtype == minicnn.bfloat16
    assert (x @ w.T).dtype == minicnn.float32


def test_parameter_casts_are_cached_until_the_outermost_exit():
    """With cache_enabled (the default) a parameter is cast once per autocast block, until it
    changes in place; leaving the outermost block frees the copies."""
    lin = minicnn.nn.Linear(3, 2)
    x = minicnn.randn(1, 3)
    with minicnn.autocast():
        lin(x)
        assert len(amp.state.cache) == 2  # weight and bias
        first = amp.state.cache[id(lin.weight)][2]
        lin(x)
        assert amp.state.cache[id(lin.weight)][2] is first
        with minicnn.no_grad():
            lin.weight.mul_(2.0)
        lin(x)
        assert amp.state.cache[id(lin.weight)][2] is not first
    assert amp.state.cache == {}
    with minicnn.autocast(cache_enabled=False):
        lin(x)
        assert amp.state.cache == {}


def test_autocast_argument_errors():
    """PyTorch's handling of bad arguments: a non-str device_type is a ValueError, an
    unsupported dtype warns and disables autocast; minicnn autocasts host tensors only."""
    with pytest.raises(ValueError, match="device_type"):
        minicnn.autocast(3)
    with pytest.raises(RuntimeError, match="'cpu' only"):
        minicnn.autocast("cuda")
    with pytest.warns(UserWarning, match="target dtype is not supported"):
        ctx = minicnn.autocast(dtype=minicnn.float32)
    with ctx:
        assert not amp.is_autocast_enabled()


def test_bfloat16_without_ml_dtypes_names_the_extra(monkeypatch):
    monkeypatch.setattr(amp, "BFLOAT16", None)
    with pytest.raises(ImportError, match=r"minicnn\[amp\]"):
        amp.bfloat16_dtype()
    with pytest.raises(ImportError, match="ml_dtypes"):
        minicnn.__getattr__("bfloat16")


# ---------------------------------------------------------------- GradScaler

def _scaler_run(L, make_scaler, steps, inf_at, params0):
    """Train a 3->2 linear model with SGD and a GradScaler; at the steps of ``inf_at`` a
    gradient is made inf after backward. Returns the scales seen, the steps' return values and
    the weights after each step."""
    lin = L.nn.Linear(3, 2)
    with L.no_grad():
        lin.weight.copy_(L.tensor(params0[0]))
        lin.bias.copy_(L.tensor(params0[1]))
    opt = L.optim.SGD(lin.parameters(), lr=0.1)
    scaler = make_scaler()
    x = L.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
    y = L.tensor([0, 1, 1, 0])
    scales, weights = [], []
    for i in range(steps):
        opt.zero_grad()
        loss = L.nn.functional.cross_entropy(lin(x), y)
        scaler.scale(loss).backward()
        if i in inf_at:
            with L.no_grad():
                lin.weight.grad[0, 0] = float("inf")
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
        weights.append(lin.weight.detach().numpy().copy())
    return scales, weights, scaler


def test_grad_scaler_matches_torch_step_by_step(torch):
    """Same scale sequence (backoff at the inf steps, growth after growth_interval clean
    ones), same skipped steps, same parameters as torch.amp.GradScaler."""
    r = np.random.default_rng(3)
    p0 = (r.standard_normal((2, 3)).astype(np.float32), r.standard_normal(2).astype(np.float32))
    kw = dict(init_scale=2.0 ** 10, growth_interval=3)
    steps, inf_at = 10, {2, 3, 7}
    ms, mw, _ = _scaler_run(minicnn, lambda: amp.GradScaler("cpu", **kw), steps, inf_at, p0)
    ts, tw, _ = _scaler_run(torch, lambda: torch.amp.GradScaler("cpu", **kw), steps, inf_at, p0)
    assert ms == ts
    # backoff at steps 2 and 3 (inf), growth after 3 clean steps (4, 5, 6), backoff at 7
    assert ms == [1024.0, 1024.0, 512.0, 256.0, 256.0, 256.0, 512.0, 256.0, 256.0, 256.0]
    for i, (m, t) in enumerate(zip(mw, tw)):
        np.testing.assert_allclose(m, t, rtol=1e-6, atol=1e-6)
        if i in inf_at:  # skipped: the weights did not move
            np.testing.assert_array_equal(m, mw[i - 1])


def test_grad_scaler_state_dict_round_trip(torch):
    """state_dict has PyTorch's keys and values after the same run; loading it into a fresh
    scaler restores scale and tracker."""
    p0 = (np.ones((2, 3), np.float32), np.zeros(2, np.float32))
    kw = dict(init_scale=8.0, growth_interval=4)
    _, _, ms = _scaler_run(minicnn, lambda: amp.GradScaler(**kw), 6, {1}, p0)
    _, _, ts = _scaler_run(torch, lambda: torch.amp.GradScaler("cpu", **kw), 6, {1}, p0)
    assert ms.state_dict() == ts.state_dict()
    fresh = amp.GradScaler()
    fresh.load_state_dict(ms.state_dict())
    assert fresh.state_dict() == ms.state_dict()
    assert amp.GradScaler(enabled=False).state_dict() == {}
    with pytest.raises(RuntimeError, match="source state dict is empty"):
        fresh.load_state_dict({})


def test_grad_scaler_errors():
    """PyTorch's errors: unscale_ twice, unscale_ after step, step twice, a closure, float16
    gradients, bad factors; a disabled scaler passes everything through."""
    lin = minicnn.nn.Linear(2, 1)
    opt = minicnn.optim.SGD(lin.parameters(), lr=0.1)
    scaler = amp.GradScaler()
    with pytest.raises(AssertionError, match="_scale is None"):
        scaler.step(opt)
    scaler.scale(lin(minicnn.ones(1, 2)).sum()).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match=r"unscale_\(\) has already been called on this "
                       r"optimizer since the last update\(\)\."):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match=r"unscale_\(\) is being called after step\(\)\."):
        scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match=r"step\(\) has already been called"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        scaler.step(opt, closure=lambda: 0.0)
    scaler.update()
    lin.weight.grad = minicnn.ones(1, 2).half()
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients."):
        scaler.unscale_(opt)
    with pytest.raises(AssertionError, match="growth factor must be > 1.0"):
        amp.GradScaler(growth_factor=1.0)
    with pytest.raises(AssertionError, match="backoff factor must be < 1.0"):
        amp.GradScaler(backoff_factor=1.0)
    off = amp.GradScaler(enabled=False)
    loss = lin(minicnn.ones(1, 2)).sum()
    assert off.scale(loss) is loss and off.get_scale() == 1.0 and not off.is_enabled()


def _underflow_grads(L, scaler):
    """The float32 gradient of a linear layer whose loss is tiny (1e-9 times the output sum),
    with the forward under float16 autocast."""
    lin = L.nn.Linear(4, 3)
    with L.no_grad():
        lin.weight.fill_(0.5)
        lin.bias.fill_(0.0)
    opt = L.optim.SGD(lin.parameters(), lr=1.0)
    with L.autocast("cpu", dtype=L.float16):
        out = lin(L.ones(2, 4))
    loss = out.float().sum() * 1e-9
    (loss if scaler is None else scaler.scale(loss)).backward()
    if scaler is not None:
        scaler.unscale_(opt)
    return lin.weight.grad.numpy().copy()


def test_float16_gradients_underflow_without_loss_scaling(torch):
    """The gradient reaching the float16 output is 1e-9, below float16's smallest subnormal
    (6e-8): it flushes to zero and the weights learn nothing, in minicnn as in PyTorch. Scaled
    by 2**16 first it survives, and unscaling in float32 recovers 2e-9 per weight."""
    for L, make in ((minicnn, amp.GradScaler), (torch, lambda: torch.amp.GradScaler("cpu"))):
        assert not _underflow_grads(L, None).any()
        np.testing.assert_allclose(_underflow_grads(L, make()), 2e-9, rtol=1e-3)


def test_bfloat16_tensors_are_floating_point_as_in_torch(torch):
    pytest.importorskip("ml_dtypes")
    x = minicnn.zeros(3, dtype=minicnn.bfloat16)
    t = torch.zeros(3, dtype=torch.bfloat16)
    assert x.is_floating_point() == minicnn.is_floating_point(x) == t.is_floating_point() is True
    assert x.requires_grad_().requires_grad and t.requires_grad_().requires_grad
    layer = minicnn.nn.Linear(2, 2).to(minicnn.bfloat16)
    assert layer.weight.dtype == minicnn.bfloat16
