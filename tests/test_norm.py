"""Normalization: batch norm (training and eval), layer, group and instance norm.

Layers of the test plan (docs: DESIGN.md, "Tests, in layers"):
1. every C kernel of the family against its NumPy twin (hypothesis-drawn shapes from (N, C) to
   (N, C, D, H, W), big enough ones to run the OpenMP paths, float32 and float64, affine or not,
   data far from zero), bit-identical with 1 and 2 threads;
2. the ops against PyTorch (values, gradients, the running statistics after several steps) on
   both devices, and a direct float64 formula as an absolute reference;
3. float64 gradcheck of every op;
4. float32 stability for data with a large mean;
5. bad input: each error names the argument.
"""
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minicnn
from minicnn import backends
from minicnn.backends import reference
from minicnn.utils import gradcheck

_cpu = backends._cpu
F = minicnn.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

# The `torch` fixture only returns the module, so reusing it across examples is harmless.
HSET = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PARALLEL_MIN = 32768  # csrc/cpu/mc_internal.h
DTYPES = [np.float32, np.float64]
DEVICES = ["cpu", "numpy"]
KERNELS = ["batch_norm_forward_train", "batch_norm_forward_eval", "batch_norm_backward",
           "group_norm_forward", "group_norm_backward", "layer_norm_forward",
           "layer_norm_backward"]


def test_kernels_run_in_c_on_the_cpu_device():
    assert _cpu is not None, f"minicnn.backends._cpu failed to import: {backends._CPU_IMPORT_ERROR}"
    for name in KERNELS:
        assert name in backends.c_kernels(), name
        assert getattr(backends.BACKENDS["cpu"], name) is getattr(_cpu, name)
        assert getattr(backends.BACKENDS["numpy"], name) is getattr(reference, name)


# ---------------------------------------------------------------- data

@st.composite
def ncs_shapes(draw, min_spatial=0, max_spatial=3):
    """(N, C, *spatial): mostly small, sometimes above PARALLEL_MIN elements (OpenMP runs)."""
    n_sp = draw(st.integers(min_spatial, max_spatial))
    if draw(st.integers(0, 4)) == 0:  # big
        N, C = draw(st.integers(1, 5)), draw(st.integers(1, 9))
        per = draw(st.integers(PARALLEL_MIN // (N * C) + 1, 70000 // (N * C) + 2))
        sp = (per,) if n_sp else ()
        if n_sp >= 2:
            h = draw(st.integers(1, 8))
            sp = (h, per // h + 1)
        if not sp:
            N = PARALLEL_MIN // C + draw(st.integers(1, 100))
        return (N, C) + sp
    return (draw(st.integers(1, 5)), draw(st.integers(1, 6))) + tuple(
        draw(st.integers(1, 7)) for _ in range(n_sp))


def make(rng, shape, dtype, scale=1.0, offset=0.0):
    return np.ascontiguousarray((rng.standard_normal(shape) * scale + offset).astype(dtype))


def affine(rng, C, dtype, mode):
    """(weight, bias) for mode "both", "weight", "bias" or "none"."""
    w = (rng.uniform(0.5, 1.5, C) * rng.choice([-1, 1], C)).astype(dtype)
    b = rng.standard_normal(C).astype(dtype)
    return (w if mode in ("both", "weight") else None), (b if mode in ("both", "bias") else None)


def tol(dtype, scale=1.0, kappa=1.0):
    """Tolerances for results of magnitude ``scale`` from normalized sets of condition
    ``kappa`` (see :func:`kappa`): rounding x - mean costs eps * max|x| / std, relative."""
    k = max(1.0, kappa / 4)
    if dtype == np.float64:
        return dict(rtol=1e-10 * k, atol=1e-11 * scale * k)
    return dict(rtol=2e-5 * k, atol=2e-5 * scale * k)


def kappa(rows, eps=1e-5):
    """Condition of normalizing each row of ``rows`` (sets x values): max |x| / sqrt(var + eps).
    Random data gives a few; a short set whose values nearly coincide gives thousands."""
    rows = np.asarray(rows, np.float64)
    if rows.size == 0:
        return 1.0
    return float((np.abs(rows).max(axis=1) / np.sqrt(rows.var(axis=1) + eps)).max())


def channel_rows(x):
    """x (N, C, *) as the C sets of batch norm."""
    return np.moveaxis(x.reshape(x.shape[0], x.shape[1], -1), 1, 0).reshape(x.shape[1], -1)


def run_threads(fn, *args):
    """fn(*args) with 1 and with 2 threads; both results must be bit-identical."""
    before = _cpu.get_num_threads()
    try:
        _cpu.set_num_threads(1)
        one = fn(*args)
        _cpu.set_num_threads(2)
        two = fn(*args)
    finally:
        _cpu.set_num_threads(before)
    one_t = one if isinstance(one, tuple) else (one,)
    two_t = two if isinstance(two, tuple) else (two,)
    for a, b in zip(one_t, two_t):
        if a is None:
            assert b is None
        else:
            np.testing.assert_array_equal(a, b)
    return one


def assert_twins(got, expected, dtype, scale=1.0):
    got = got if isinstance(got, tuple) else (got,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(got) == len(expected)
    for i, (a, e) in enumerate(zip(got, expected)):
        if e is None:
            assert a is None, f"output {i}"
            continue
        assert isinstance(a, np.ndarray) and a.dtype == e.dtype and a.shape == e.shape, i
        assert a.flags.c_contiguous
        s = max(1.0, float(np.abs(e).max())) if e.size else 1.0
        np.testing.assert_allclose(a, e, err_msg=f"output {i}", **tol(dtype, s * scale))


# ---------------------------------------------------------------- 1. C kernels == NumPy twins

dtypes = st.sampled_from(DTYPES)
affines = st.sampled_from(["both", "weight", "bias", "none"])
offsets = st.sampled_from([0.0, 3.0, -50.0, 1000.0])
seeds = st.integers(0, 2 ** 32 - 1)
masks = st.tuples(st.booleans(), st.booleans(), st.booleans())


@given(shape=ncs_shapes(), dtype=dtypes, mode=affines, offset=offsets, seed=seeds,
       eps=st.sampled_from([1e-5, 1e-3]))
def test_batch_norm_forward_kernels_match_reference(shape, dtype, mode, offset, seed, eps):
    rng = np.random.default_rng(seed)
    x = make(rng, shape, dtype, rng.choice([0.1, 1.0, 5.0]), offset)
    w, b = affine(rng, shape[1], dtype, mode)
    got = run_threads(_cpu.batch_norm_forward_train, x, w, b, eps)
    expected = reference.batch_norm_forward_train(x, w, b, eps)
    y, mean, var, invstd = got
    assert_twins((y, mean), expected[:2], dtype, scale=1.0 + abs(offset) * (dtype == np.float32))
    np.testing.assert_allclose(var, expected[2], rtol=1e-5 if dtype == np.float32 else 1e-10,
                               atol=1e-6 * float(expected[2].max()))
    np.testing.assert_allclose(invstd, expected[3],
                               rtol=1e-5 if dtype == np.float32 else 1e-10)
    rm = make(rng, shape[1], dtype, 1.0, offset)
    rv = rng.uniform(0.1, 3.0, shape[1]).astype(dtype)
    got = run_threads(_cpu.batch_norm_forward_eval, x, rm, rv, w, b, eps)
    assert_twins(got, reference.batch_norm_forward_eval(x, rm, rv, w, b, eps), dtype,
                 scale=1.0 + abs(offset) * (dtype == np.float32))


@given(shape=ncs_shapes(), dtype=dtypes, mode=affines, seed=seeds, train=st.booleans(),
       mask=masks)
def test_batch_norm_backward_kernel_matches_reference(shape, dtype, mode, seed, train, mask):
    rng = np.random.default_rng(seed)
    x = make(rng, shape, dtype, 2.0, 1.0)
    g = make(rng, shape, dtype)
    w, b = affine(rng, shape[1], dtype, mode)
    _, mean, _, invstd = reference.batch_norm_forward_train(x, w, b, 1e-5)
    got = run_threads(_cpu.batch_norm_backward, g, x, mean, invstd, w, train, mask)
    expected = reference.batch_norm_backward(g, x, mean, invstd, w, train, mask)
    # the sums have M terms; a float32 grad_input is a difference of terms of that size
    M = x.size // shape[1]
    assert_twins(got, expected, dtype, scale=math.sqrt(M) if dtype == np.float32 else 1.0)


@st.composite
def group_cases(draw):
    shape = draw(ncs_shapes(max_spatial=2))
    divisors = [d for d in range(1, shape[1] + 1) if shape[1] % d == 0]
    return shape, draw(st.sampled_from(divisors))


@given(case=group_cases(), dtype=dtypes, mode=affines, offset=offsets, seed=seeds, mask=masks)
def test_group_norm_kernels_match_reference(case, dtype, mode, offset, seed, mask):
    shape, G = case
    rng = np.random.default_rng(seed)
    x = make(rng, shape, dtype, rng.choice([0.5, 2.0]), offset)
    g = make(rng, shape, dtype)
    w, b = affine(rng, shape[1], dtype, mode)
    big = 1.0 + abs(offset) * (dtype == np.float32)
    got = run_threads(_cpu.group_norm_forward, x, w, b, G, 1e-5)
    assert_twins(got, reference.group_norm_forward(x, w, b, G, 1e-5), dtype, scale=big)
    _, mean, invstd = reference.group_norm_forward(x, w, b, G, 1e-5)
    got = run_threads(_cpu.group_norm_backward, g, x, mean, invstd, w, G, mask)
    L = x.size // (shape[0] * G)
    assert_twins(got, reference.group_norm_backward(g, x, mean, invstd, w, G, mask), dtype,
                 scale=math.sqrt(max(L, shape[0])) if dtype == np.float32 else 1.0)


@given(M=st.integers(1, 40), D=st.sampled_from([2, 3, 7, 33, 64, 300, 1500]), dtype=dtypes,
       mode=affines, offset=offsets, seed=seeds, mask=masks)
def test_layer_norm_kernels_match_reference(M, D, dtype, mode, offset, seed, mask):
    rng = np.random.default_rng(seed)
    x = make(rng, (M, D), dtype, 1.0, offset)
    g = make(rng, (M, D), dtype)
    w, b = affine(rng, D, dtype, mode)
    got = run_threads(_cpu.layer_norm_forward, x, w, b, 1e-5)
    assert_twins(got, reference.layer_norm_forward(x, w, b, 1e-5), dtype,
                 scale=1.0 + abs(offset) * (dtype == np.float32))
    _, mean, invstd = reference.layer_norm_forward(x, w, b, 1e-5)
    got = run_threads(_cpu.layer_norm_backward, g, x, mean, invstd, w, mask)
    assert_twins(got, reference.layer_norm_backward(g, x, mean, invstd, w, mask), dtype,
                 scale=math.sqrt(max(M, D)) if dtype == np.float32 else 1.0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_kernels_on_empty_and_degenerate_shapes(dtype):
    """N = 0, C = 0, a spatial size 0: empty outputs (mean 0 / var 0 where a channel is empty)."""
    for shape in [(0, 3), (0, 3, 4), (2, 0, 5), (2, 3, 0), (3, 1), (1, 1, 1, 1)]:
        x = np.ones(shape, dtype)
        w, b = np.ones(shape[1], dtype), np.zeros(shape[1], dtype)
        for mod in (_cpu, reference):
            y, mean, var, invstd = mod.batch_norm_forward_train(x, w, b, 1e-5)
            assert y.shape == shape and mean.shape == (shape[1],)
            if x.size == 0:
                np.testing.assert_array_equal(mean, 0)
                np.testing.assert_array_equal(var, 0)
            gx, gw, gb = mod.batch_norm_backward(x, x, mean, invstd, w, True, (1, 1, 1))
            assert gx.shape == shape and gw.shape == (shape[1],)
            if x.size == 0:
                np.testing.assert_array_equal(gw, 0)
            y, mean, invstd = mod.group_norm_forward(x, w, b, 1, 1e-5)
            assert y.shape == shape and mean.shape == (shape[0], 1)
            gx, gw, gb = mod.group_norm_backward(x, x, mean, invstd, w, 1, (1, 1, 1))
            assert gx.shape == shape and gb.shape == (shape[1],)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_backward_vanishes_exactly_where_it_should(dtype):
    """gx is 0 for a constant upstream gradient (y.sum().backward()) up to rounding of the
    statistics, and exactly 0 with one value per channel or group (the output is then the bias
    alone): g - mean(g) is formed before scaling by invstd, which is 1/sqrt(eps) there."""
    rng = np.random.default_rng(6)
    x = make(rng, (8, 3, 5, 5), dtype, 2.0, 1.0)
    w = np.full(3, 1.5, dtype)
    g = np.ones_like(x)
    for mod in (_cpu, reference):
        _, mean, _, invstd = mod.batch_norm_forward_train(x, w, None, 1e-5)
        gx, _, _ = mod.batch_norm_backward(g, x, mean, invstd, w, True, (1, 0, 0))
        assert np.abs(gx).max() < (1e-5 if dtype == np.float32 else 1e-13)
    x1 = make(rng, (1, 4), dtype)
    g1 = make(rng, (1, 4), dtype)
    w4 = make(rng, 4, dtype)
    for mod in (_cpu, reference):
        _, mean, _, invstd = mod.batch_norm_forward_train(x1, w4, None, 1e-5)
        gx, _, _ = mod.batch_norm_backward(g1, x1, mean, invstd, w4, True, (1, 0, 0))
        np.testing.assert_array_equal(gx, 0)
        x2 = make(rng, (3, 4, 1), dtype)
        g2 = make(rng, (3, 4, 1), dtype)
        _, mean, invstd = mod.group_norm_forward(x2, w4, None, 4, 1e-5)
        gx, _, _ = mod.group_norm_backward(g2, x2, mean, invstd, w4, 4, (1, 0, 0))
        np.testing.assert_array_equal(gx, 0)


# ---------------------------------------------------------------- 2. ops == PyTorch

def torch_params(torch, arrays, requires_grad=True):
    return [None if a is None else torch.tensor(a, requires_grad=requires_grad) for a in arrays]


def mc_params(arrays, device, requires_grad=True):
    return [None if a is None else minicnn.tensor(a, requires_grad=requires_grad, device=device)
            for a in arrays]


def compare_grads(mc, tt, dtype, what, k=1.0, terms=1):
    """Gradients of (input, weight, bias). weight's and bias's are sums of ``terms`` products
    per element: PyTorch adds them in float32 (off by ~eps * sqrt(terms) * their size, 1e-4
    relative at 30000 terms) where minicnn adds in double, hence the extra atol."""
    for i, (m, t) in enumerate(zip(mc, tt)):
        if m is None:
            continue
        assert m.grad is not None, f"{what}: input {i} got no gradient"
        s = max(1.0, float(t.grad.abs().max()))
        tl = tol(dtype, s, k)
        if i > 0:
            tl["atol"] += (1e-5 if dtype == np.float32 else 1e-13) * math.sqrt(terms) * s
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), err_msg=f"{what}: grad {i}",
                                   **tl)


@HSET
@given(shape=ncs_shapes(max_spatial=2), dtype=dtypes, mode=affines, seed=seeds,
       momentum=st.sampled_from([0.1, 0.3]), device=st.sampled_from(DEVICES),
       steps=st.integers(1, 3), running=st.booleans())
def test_batch_norm_training_matches_torch(torch, shape, dtype, mode, seed, momentum, device,
                                           steps, running):
    """Several training steps: outputs, gradients and the running statistics (updated in place,
    running_var with the unbiased variance) equal PyTorch's."""
    if shape[0] * math.prod(shape[2:]) == 1:
        shape = (2,) + shape[1:]
    rng = np.random.default_rng(seed)
    C = shape[1]
    w, b = affine(rng, C, dtype, mode)
    rm0, rv0 = rng.standard_normal(C).astype(dtype), rng.uniform(0.5, 2, C).astype(dtype)
    RM, RV = (minicnn.tensor(a.copy(), device=device) for a in (rm0, rv0))
    TRM, TRV = torch.tensor(rm0.copy()), torch.tensor(rv0.copy())
    rm_data = RM._data
    for _ in range(steps):
        x = make(rng, shape, dtype, rng.uniform(0.5, 3), rng.uniform(-2, 2))
        g = make(rng, shape, dtype)
        mx, mw, mb = mc_params([x, w, b], device)
        tx, tw, tb = torch_params(torch, [x, w, b])
        y = F.batch_norm(mx, RM if running else None, RV if running else None, mw, mb,
                         training=True, momentum=momentum)
        ty = torch.nn.functional.batch_norm(tx, TRM if running else None,
                                            TRV if running else None, tw, tb, training=True,
                                            momentum=momentum)
        k = kappa(channel_rows(x))
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **tol(dtype, 3.0, k))
        y.backward(minicnn.tensor(g, device=device))
        ty.backward(torch.tensor(g))
        compare_grads([mx, mw, mb], [tx, tw, tb], dtype, "batch_norm train", k,
                      x.size // C)
    np.testing.assert_allclose(RM.numpy(), TRM.numpy(), rtol=1e-6 if dtype == np.float32 else 1e-12,
                               atol=1e-6 if dtype == np.float32 else 1e-12)
    # torch reduces float32 in float32: over ~32K values per channel its variance is off by
    # ~1e-6 relative (minicnn sums in double), so float32 allows 1e-5
    np.testing.assert_allclose(RV.numpy(), TRV.numpy(), rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert RM._data is rm_data and not RM.requires_grad and RM.grad_fn is None  # in place
    if not running:
        np.testing.assert_array_equal(RM.numpy(), rm0)


@HSET
@given(shape=ncs_shapes(max_spatial=2), dtype=dtypes, mode=affines, seed=seeds,
       device=st.sampled_from(DEVICES))
def test_batch_norm_eval_matches_torch(torch, shape, dtype, mode, seed, device):
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = make(rng, shape, dtype, 2.0, 0.5)
    g = make(rng, shape, dtype)
    w, b = affine(rng, C, dtype, mode)
    rm, rv = rng.standard_normal(C).astype(dtype), rng.uniform(0.5, 2, C).astype(dtype)
    RM, RV = (minicnn.tensor(a.copy(), device=device) for a in (rm, rv))
    mx, mw, mb = mc_params([x, w, b], device)
    tx, tw, tb = torch_params(torch, [x, w, b])
    y = F.batch_norm(mx, RM, RV, mw, mb, training=False, momentum=0.3)
    ty = torch.nn.functional.batch_norm(tx, torch.tensor(rm), torch.tensor(rv), tw, tb,
                                        training=False, momentum=0.3)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **tol(dtype, 3.0))
    np.testing.assert_array_equal(RM.numpy(), rm)  # eval mode never touches the statistics
    np.testing.assert_array_equal(RV.numpy(), rv)
    y.backward(minicnn.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    compare_grads([mx, mw, mb], [tx, tw, tb], dtype, "batch_norm eval", terms=x.size // C)


@pytest.mark.parametrize("momentum", [0.1, 0.3])
@pytest.mark.parametrize("shape", [(16, 5), (8, 4, 6, 7)], ids=["NC", "NCHW"])
@pytest.mark.parametrize("device", DEVICES)
def test_running_statistics_after_several_steps_float32(torch, momentum, shape, device):
    """Ten float32 training steps then eval: running_mean, running_var and the eval output equal
    PyTorch's (the momentum update, the unbiased running variance)."""
    rng = np.random.default_rng(7)
    C = shape[1]
    RM, RV = minicnn.zeros(C, device=device), minicnn.ones(C, device=device)
    TRM, TRV = torch.zeros(C), torch.ones(C)
    for _ in range(10):
        x = make(rng, shape, np.float32, 3.0, 2.0)
        F.batch_norm(minicnn.tensor(x, device=device), RM, RV, training=True, momentum=momentum)
        torch.nn.functional.batch_norm(torch.tensor(x), TRM, TRV, training=True,
                                       momentum=momentum)
    np.testing.assert_allclose(RM.numpy(), TRM.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(RV.numpy(), TRV.numpy(), rtol=1e-6)
    x = make(rng, shape, np.float32, 3.0, 2.0)
    y = F.batch_norm(minicnn.tensor(x, device=device), RM, RV, training=False)
    ty = torch.nn.functional.batch_norm(torch.tensor(x), TRM, TRV, training=False)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-5)


def test_batch_norm_against_the_formula():
    """The absolute reference: the definition written out in float64 with NumPy."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 5, 2)) * 2 + 1
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    for device in DEVICES:
        RM, RV = minicnn.zeros(3, dtype=minicnn.float64, device=device), \
            minicnn.ones(3, dtype=minicnn.float64, device=device)
        y = F.batch_norm(minicnn.tensor(x, device=device), RM, RV,
                         minicnn.tensor(w, device=device), minicnn.tensor(b, device=device),
                         training=True, momentum=0.25)
        for c in range(3):
            v = x[:, c].ravel()
            mean, var = sum(v) / v.size, sum((v - sum(v) / v.size) ** 2) / v.size
            expected = (x[:, c] - mean) / math.sqrt(var + 1e-5) * w[c] + b[c]
            np.testing.assert_allclose(y.numpy()[:, c], expected, rtol=1e-12, atol=1e-12)
            assert RM.numpy()[c] == pytest.approx(0.25 * mean, rel=1e-12)
            assert RV.numpy()[c] == pytest.approx(0.75 + 0.25 * var * v.size / (v.size - 1),
                                                  rel=1e-12)


def test_batch_norm_empty_batch_matches_torch(torch):
    x = np.zeros((0, 3, 4), np.float32)
    RM, RV = minicnn.zeros(3), minicnn.ones(3)
    y = F.batch_norm(minicnn.tensor(x), RM, RV, training=True)
    assert y.shape == (0, 3, 4)
    np.testing.assert_array_equal(RM.numpy(), 0)  # unchanged, as in PyTorch
    np.testing.assert_array_equal(RV.numpy(), 1)


def test_batch_norm_grads_only_where_needed():
    rng = np.random.default_rng(4)
    x = minicnn.tensor(rng.standard_normal((4, 3, 2)))
    w = minicnn.tensor(rng.uniform(1, 2, 3), requires_grad=True)
    b = minicnn.tensor(rng.standard_normal(3))
    F.batch_norm(x, None, None, w, b, training=True).sum().backward()
    assert x.grad is None and b.grad is None and w.grad is not None


def test_batch_norm_eval_backward_uses_statistics_of_its_forward():
    """The running statistics may change in place between forward and backward (a training step
    of the same layer); eval backward still uses those its forward saw."""
    rng = np.random.default_rng(5)
    RM, RV = minicnn.tensor(rng.standard_normal(3)), minicnn.tensor(rng.uniform(1, 2, 3))
    x = minicnn.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    y = F.batch_norm(x, RM, RV, training=False)
    expected = 1 / np.sqrt(RV.numpy() + 1e-5)
    F.batch_norm(minicnn.tensor(rng.standard_normal((4, 3)) * 9), RM, RV, training=True)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(expected, (4, 3)), rtol=1e-12)


@HSET
@given(shape=ncs_shapes(min_spatial=1, max_spatial=2), dtype=dtypes, mode=affines, seed=seeds,
       device=st.sampled_from(DEVICES), data=st.data())
def test_group_norm_matches_torch(torch, shape, dtype, mode, seed, device, data):
    if mode == "bias":  # torch 2.13's group_norm backward fails without a weight
        mode = "both"   # ("tensor does not have a device"); bias alone: the kernel twin tests
    C = shape[1]
    G = data.draw(st.sampled_from([d for d in range(1, C + 1) if C % d == 0]))
    if shape[0] * C // G * math.prod(shape[2:]) == 1:
        shape = (2,) + shape[1:]
    rng = np.random.default_rng(seed)
    x = make(rng, shape, dtype, 2.0, 0.5)
    g = make(rng, shape, dtype)
    w, b = affine(rng, C, dtype, mode)
    mx, mw, mb = mc_params([x, w, b], device)
    tx, tw, tb = torch_params(torch, [x, w, b])
    y = F.group_norm(mx, G, mw, mb, eps=1e-3)
    ty = torch.nn.functional.group_norm(tx, G, tw, tb, eps=1e-3)
    k = kappa(x.reshape(shape[0] * G, -1), 1e-3)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **tol(dtype, 3.0, k))
    y.backward(minicnn.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    compare_grads([mx, mw, mb], [tx, tw, tb], dtype, "group_norm", k, x.size // C)


@HSET
@given(lead=st.lists(st.integers(1, 4), min_size=0, max_size=2),
       normalized=st.lists(st.integers(1, 6), min_size=1, max_size=3), dtype=dtypes,
       mode=affines, seed=seeds, device=st.sampled_from(DEVICES), as_int=st.booleans())
def test_layer_norm_matches_torch(torch, lead, normalized, dtype, mode, seed, device, as_int):
    if math.prod(normalized[-1:] if as_int else normalized) == 1:
        normalized = normalized[:-1] + [2]  # one value per set: xhat is 0, torch's is rounding
    shape = tuple(lead + normalized)
    ns = normalized[-1] if as_int else tuple(normalized)
    if as_int:
        normalized = normalized[-1:]
    rng = np.random.default_rng(seed)
    x = make(rng, shape, dtype, 2.0, 0.5)
    g = make(rng, shape, dtype)
    w = (rng.uniform(0.5, 1.5, normalized).astype(dtype) if mode in ("both", "weight") else None)
    b = (rng.standard_normal(normalized).astype(dtype) if mode in ("both", "bias") else None)
    mx, mw, mb = mc_params([x, w, b], device)
    tx, tw, tb = torch_params(torch, [x, w, b])
    y = F.layer_norm(mx, ns, mw, mb)
    ty = torch.nn.functional.layer_norm(tx, (ns,) if as_int else ns, tw, tb)
    k = kappa(x.reshape(-1, math.prod(normalized)))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **tol(dtype, 3.0, k))
    y.backward(minicnn.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    compare_grads([mx, mw, mb], [tx, tw, tb], dtype, "layer_norm", k,
                  x.size // math.prod(normalized))


@HSET
@given(shape=ncs_shapes(min_spatial=1, max_spatial=2), dtype=dtypes, mode=affines, seed=seeds,
       device=st.sampled_from(DEVICES), use_input_stats=st.booleans(), running=st.booleans(),
       momentum=st.sampled_from([0.1, 0.3]))
def test_instance_norm_matches_torch(torch, shape, dtype, mode, seed, device, use_input_stats,
                                     running, momentum):
    if math.prod(shape[2:]) == 1:
        shape = shape[:2] + (2,)
    running = running or not use_input_stats
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = make(rng, shape, dtype, 2.0, 0.5)
    g = make(rng, shape, dtype)
    w, b = affine(rng, C, dtype, mode)
    rm, rv = rng.standard_normal(C).astype(dtype), rng.uniform(0.5, 2, C).astype(dtype)
    RM, RV = (minicnn.tensor(a.copy(), device=device) if running else None for a in (rm, rv))
    TRM, TRV = (torch.tensor(a.copy()) if running else None for a in (rm, rv))
    mx, mw, mb = mc_params([x, w, b], device)
    tx, tw, tb = torch_params(torch, [x, w, b])
    y = F.instance_norm(mx, RM, RV, mw, mb, use_input_stats, momentum)
    ty = torch.nn.functional.instance_norm(tx, TRM, TRV, tw, tb, use_input_stats, momentum)
    k = kappa(x.reshape(shape[0] * C, -1)) if use_input_stats else 1.0
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **tol(dtype, 3.0, k))
    if running:
        np.testing.assert_allclose(RM.numpy(), TRM.numpy(), **tol(dtype))
        np.testing.assert_allclose(RV.numpy(), TRV.numpy(), **tol(dtype))
    y.backward(minicnn.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    compare_grads([mx, mw, mb], [tx, tw, tb], dtype, "instance_norm", k, x.size // C)


INSTANCE_NORMS = {1: (4, 3, 5), 2: (3, 3, 4, 5), 3: (2, 3, 3, 2, 4)}  # d -> a batched input shape


def instance_norm_pair(torch, d, device="cpu", **kwargs):
    """(minicnn, torch) InstanceNorm{d}d in float64, torch's random weights, bias and running
    statistics loaded into minicnn's by name."""
    tm = getattr(torch.nn, f"InstanceNorm{d}d")(3, dtype=torch.float64, **kwargs)
    mm = getattr(minicnn.nn, f"InstanceNorm{d}d")(3, dtype=np.float64, device=device, **kwargs)
    assert list(mm.state_dict()) == list(tm.state_dict())
    with torch.no_grad():
        for name, v in tm.state_dict().items():
            if v.is_floating_point():
                v.uniform_(0.5, 1.5) if name == "running_var" else v.normal_()
    mm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    return mm, tm


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("track", [True, False], ids=["track", "notrack"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_instance_norm_modules_match_torch(torch, d, affine, track, batched, device):
    mm, tm = instance_norm_pair(torch, d, device, affine=affine, track_running_stats=track,
                                momentum=0.3)
    rng = np.random.default_rng(d)
    shape = INSTANCE_NORMS[d] if batched else INSTANCE_NORMS[d][1:]
    close = dict(rtol=1e-9, atol=1e-10)
    for training in (True, True, False):  # two training steps, then eval
        mm.train(training), tm.train(training)
        x, g = make(rng, shape, np.float64, 2.0, 0.5), make(rng, shape, np.float64)
        mx = minicnn.tensor(x, requires_grad=True, device=device)
        tx = torch.tensor(x, requires_grad=True)
        y, ty = mm(mx), tm(tx)
        assert tuple(y.shape) == shape
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **close)
        y.backward(minicnn.tensor(g, device=device))
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), **close)
        for name, p in tm.named_parameters():
            got = getattr(mm, name).grad
            np.testing.assert_allclose(got.numpy(), p.grad.numpy(), **close, err_msg=name)
        mm.zero_grad(), tm.zero_grad()
        for name, b in tm.state_dict().items():
            np.testing.assert_allclose(mm.state_dict()[name].numpy(), b.numpy(), **close,
                                       err_msg=name)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_instance_norm_module_repr_parameters_and_momentum_none(torch, d):
    configs = [{}, dict(affine=True), dict(affine=True, bias=False),
               dict(track_running_stats=True, momentum=None, eps=1e-3)]
    for kwargs in configs:
        mm, tm = instance_norm_pair(torch, d, **kwargs)
        assert repr(mm) == repr(tm)
        assert [n for n, _ in mm.named_parameters()] == [n for n, _ in tm.named_parameters()]
        assert [n for n, _ in mm.named_buffers()] == [n for n, _ in tm.named_buffers()]
        assert {n: p is None for n, p in mm._parameters.items()} \
            == {n: p is None for n, p in tm._parameters.items()}
    # momentum=None: PyTorch passes momentum 0, leaving the running statistics as they were
    x = make(np.random.default_rng(0), INSTANCE_NORMS[d], np.float64)
    before = {k: v.numpy().copy() for k, v in mm.state_dict().items()}
    mm(minicnn.tensor(x)), tm(torch.tensor(x))
    for name, b in tm.state_dict().items():  # PyTorch's (1 - 0) * r + 0 * x may move an ulp
        np.testing.assert_allclose(mm.state_dict()[name].numpy(), b.numpy(), rtol=1e-15, atol=1e-15)
        np.testing.assert_allclose(mm.state_dict()[name].numpy(), before[name], rtol=1e-15,
                                   atol=1e-15)
    assert repr(minicnn.nn.InstanceNorm2d(3)) == ("InstanceNorm2d(3, eps=1e-05, momentum=0.1, "
                                                  "affine=False, bias=False, "
                                                  "track_running_stats=False)")


# ---------------------------------------------------------------- 3. float64 gradcheck

def leaves(arrays, device):
    return [None if a is None else minicnn.tensor(a, requires_grad=True, device=device)
            for a in arrays]


def check(fn, arrays, device):
    inputs = [a for a in leaves(arrays, device)]
    present = [t for t in inputs if t is not None]

    def call(*ts):
        it = iter(ts)
        return fn(*[None if a is None else next(it) for a in inputs])

    assert gradcheck(call, present) is True


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 2, 3), (2, 3, 5)], ids=str)
@pytest.mark.parametrize("mode", ["both", "none"])
def test_gradcheck_batch_norm_training(device, shape, mode):
    rng = np.random.default_rng(11)
    w, b = affine(rng, shape[1], np.float64, mode)
    RM, RV = minicnn.zeros(shape[1], dtype=minicnn.float64, device=device), \
        minicnn.ones(shape[1], dtype=minicnn.float64, device=device)
    check(lambda x, w, b: F.batch_norm(x, RM, RV, w, b, training=True, momentum=0.2),
          [rng.standard_normal(shape) * 2 + 1, w, b], device)


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_batch_norm_eval(device):
    rng = np.random.default_rng(12)
    RM = minicnn.tensor(rng.standard_normal(3), device=device)
    RV = minicnn.tensor(rng.uniform(0.5, 2, 3), device=device)
    check(lambda x, w, b: F.batch_norm(x, RM, RV, w, b, training=False),
          [rng.standard_normal((3, 3, 2)), rng.standard_normal(3), rng.standard_normal(3)], device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape, G", [((2, 4, 3), 2), ((2, 6, 2, 2), 3), ((3, 4), 1)], ids=str)
def test_gradcheck_group_norm(device, shape, G):
    rng = np.random.default_rng(13)
    check(lambda x, w, b: F.group_norm(x, G, w, b),
          [rng.standard_normal(shape), rng.standard_normal(shape[1]),
           rng.standard_normal(shape[1])], device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape, ns", [((3, 5), (5,)), ((2, 3, 2, 2), (2, 2)), ((2, 4), (2, 4))],
                         ids=str)
def test_gradcheck_layer_norm(device, shape, ns):
    rng = np.random.default_rng(14)
    check(lambda x, w, b: F.layer_norm(x, ns, w, b),
          [rng.standard_normal(shape), rng.standard_normal(ns), rng.standard_normal(ns)], device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("use_input_stats", [True, False])
def test_gradcheck_instance_norm(device, use_input_stats):
    rng = np.random.default_rng(15)
    RM = minicnn.tensor(rng.standard_normal(3), device=device)
    RV = minicnn.tensor(rng.uniform(0.5, 2, 3), device=device)
    check(lambda x, w, b: F.instance_norm(x, RM, RV, w, b, use_input_stats=use_input_stats),
          [rng.standard_normal((2, 3, 2, 3)), rng.standard_normal(3), rng.standard_normal(3)],
          device)


# ---------------------------------------------------------------- 4. large means in float32

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("offset, spread", [(1000.0, 0.1), (1000.0, 1.0), (1e4, 1.0),
                                            (-3e4, 5.0)])
def test_float32_large_mean_is_stable(torch, device, offset, spread):
    """x = offset + small noise in float32: the variance and the output keep their accuracy
    against a float64 computation on the same float32 values (the textbook E[x^2] - E[x]^2 in
    float32 gives a variance of pure rounding noise here, even a negative one)."""
    rng = np.random.default_rng(21)
    x = (offset + spread * rng.standard_normal((16, 4, 8, 8))).astype(np.float32)
    C = 4
    RM, RV = minicnn.zeros(C, device=device), minicnn.ones(C, device=device)
    y = F.batch_norm(minicnn.tensor(x, device=device), RM, RV, training=True, momentum=1.0)
    x64 = torch.tensor(x.astype(np.float64))
    trm, trv = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
    ty = torch.nn.functional.batch_norm(x64, trm, trv, training=True, momentum=1.0).numpy()
    assert np.abs(y.numpy() - ty).max() < 1e-5
    np.testing.assert_allclose(RV.numpy(), trv.numpy(), rtol=1e-5)
    np.testing.assert_allclose(RM.numpy(), trm.numpy(), rtol=1e-7)
    # the same for the per-row statistics of group and layer norm
    gy = F.group_norm(minicnn.tensor(x, device=device), 2).numpy()
    tgy = torch.nn.functional.group_norm(x64, 2).numpy()
    assert np.abs(gy - tgy).max() < 1e-5
    ly = F.layer_norm(minicnn.tensor(x, device=device), (8, 8)).numpy()
    tly = torch.nn.functional.layer_norm(x64, (8, 8)).numpy()
    assert np.abs(ly - tly).max() < 1e-5


def test_textbook_variance_would_fail_the_large_mean_test():
    """The test above can fail: the one-pass E[x^2] - E[x]^2 in float32 is far off there."""
    rng = np.random.default_rng(21)
    x = (1000.0 + 0.1 * rng.standard_normal(4096)).astype(np.float32)
    naive = np.mean(x * x, dtype=np.float32) - np.float32(np.mean(x, dtype=np.float32)) ** 2
    assert abs(naive - x.astype(np.float64).var()) > 100 * 1e-5 * x.astype(np.float64).var()


# ---------------------------------------------------------------- 5. bad input

def t(shape, dtype=np.float32, device="cpu"):
    return minicnn.tensor(np.ones(shape, dtype), device=device)


def test_training_with_one_value_per_channel_raises():
    for shape in [(1, 3), (1, 3, 1, 1), (1, 2, 1)]:
        with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when "
                                             r"training, got input size \(1, "):
            F.batch_norm(t(shape), None, None, training=True)
    F.batch_norm(t((1, 3)), t(3), t(3), training=False)  # fine in eval mode


@pytest.mark.parametrize("name", ["running_mean", "running_var", "weight", "bias"])
def test_batch_norm_wrong_channel_count_names_argument_and_shapes(name):
    args = dict(running_mean=t(3), running_var=t(3), weight=t(3), bias=t(3))
    args[name] = t(4)
    with pytest.raises(ValueError, match=rf"{name} must have shape \(3,\).*\(2, 3, 5\).*\(4,\)"):
        F.batch_norm(t((2, 3, 5)), args.pop("running_mean"), args.pop("running_var"),
                     training=True, **args)
    args = dict(running_mean=t(3), running_var=t(3), weight=t(3), bias=t(3))
    args[name] = t((1, 3))
    with pytest.raises(ValueError, match=name):
        F.batch_norm(t((2, 3)), args.pop("running_mean"), args.pop("running_var"), **args)


def test_batch_norm_bad_arguments():
    with pytest.raises(ValueError, match=r"input must have shape \(N, C\)"):
        F.batch_norm(t(5), t(5), t(5))
    with pytest.raises(ValueError, match="running_mean and running_var must be given"):
        F.batch_norm(t((2, 3)), None, None, training=False)
    with pytest.raises(TypeError, match="input must be a minicnn.Tensor"):
        F.batch_norm(np.ones((2, 3), np.float32), t(3), t(3))
    with pytest.raises(TypeError, match="int64"):
        F.batch_norm(minicnn.tensor(np.ones((2, 3), np.int64)), None, None, training=True)
    with pytest.raises(TypeError, match="running_mean has dtype float64"):
        F.batch_norm(t((2, 3)), t(3, np.float64), t(3))
    with pytest.raises(TypeError, match="weight must be a minicnn.Tensor or None"):
        F.batch_norm(t((2, 3)), t(3), t(3), np.ones(3, np.float32))
    with pytest.raises(TypeError, match="momentum"):
        F.batch_norm(t((2, 3)), t(3), t(3), training=True, momentum=None)
    with pytest.raises(ValueError, match="eps"):
        F.batch_norm(t((2, 3)), t(3), t(3), eps=-1.0)
    with pytest.raises(RuntimeError, match="device"):
        F.batch_norm(t((2, 3)), t(3, device="numpy"), t(3, device="numpy"))


def test_group_norm_bad_arguments():
    with pytest.raises(ValueError, match=r"divisible by num_groups.*\(2, 6, 3\).*num_groups=4"):
        F.group_norm(t((2, 6, 3)), 4)
    with pytest.raises(ValueError, match="num_groups must be >= 1"):
        F.group_norm(t((2, 6, 3)), 0)
    with pytest.raises(TypeError, match="num_groups must be an int"):
        F.group_norm(t((2, 6, 3)), 2.0)
    with pytest.raises(ValueError, match=r"weight must have shape \(6,\).*\(5,\)"):
        F.group_norm(t((2, 6, 3)), 2, t(5))
    with pytest.raises(ValueError, match=r"input must have shape \(N, C, \*\)"):
        F.group_norm(t(6), 2)


def test_layer_norm_bad_arguments():
    with pytest.raises(ValueError, match=r"normalized_shape \(4,\) must match.*\(2, 3\)"):
        F.layer_norm(t((2, 3)), 4)
    with pytest.raises(ValueError, match=r"normalized_shape \(2, 3\) must match.*\(3, 2\)"):
        F.layer_norm(t((3, 2)), (2, 3))
    with pytest.raises(ValueError, match=r"normalized_shape \(2, 2, 3\) must match"):
        F.layer_norm(t((2, 3)), (2, 2, 3))
    with pytest.raises(ValueError, match="at least one dimension"):
        F.layer_norm(t((2, 3)), ())
    with pytest.raises(TypeError, match="normalized_shape must be an int or a sequence"):
        F.layer_norm(t((2, 3)), 3.5)
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\).*got \(1, 3\)"):
        F.layer_norm(t((2, 3)), 3, t(3), t((1, 3)))


def test_instance_norm_bad_arguments():
    with pytest.raises(ValueError, match=r"Expected more than 1 spatial element when training, "
                                         r"got input size \(2, 3, 1\)"):
        F.instance_norm(t((2, 3, 1)))
    with pytest.raises(ValueError, match="running_mean and running_var must be given"):
        F.instance_norm(t((2, 3, 4)), use_input_stats=False)
    with pytest.raises(ValueError, match=r"running_var must have shape \(3,\)"):
        F.instance_norm(t((2, 3, 4)), t(3), t(2))


def torch_error(torch, fn):
    """PyTorch's (type, message) for ``fn()``."""
    with pytest.raises(Exception) as info:
        fn()
    return info.type, str(info.value)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_instance_norm_module_bad_input(torch, d):
    mc_cls, t_cls = getattr(minicnn.nn, f"InstanceNorm{d}d"), getattr(torch.nn, f"InstanceNorm{d}d")
    batched = INSTANCE_NORMS[d]
    for shape in [batched[:-2], batched + (2,)]:  # one rank too few, one too many
        kind, message = torch_error(torch, lambda: t_cls(3)(torch.ones(shape)))
        with pytest.raises(kind, match=f"^{re.escape(message)}"):
            mc_cls(3)(t(shape))
    for shape in [(2, 4) + batched[2:], (4,) + batched[2:]]:  # 4 channels, batched and not
        kind, message = torch_error(torch, lambda: t_cls(3, affine=True)(torch.ones(shape)))
        with pytest.raises(kind, match=f"^{re.escape(message)}"):
            mc_cls(3, affine=True)(t(shape))
        # affine=False: num_features is unused, PyTorch only warns
        x = make(np.random.default_rng(1), shape, np.float32)
        with pytest.warns(UserWarning) as caught:
            ty = t_cls(3)(torch.tensor(x))
        with pytest.warns(UserWarning, match=f"^{re.escape(str(caught[0].message))}$") as ours:
            y = mc_cls(3)(minicnn.tensor(x))
        assert ours[0].filename == __file__  # points at the caller
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match=f"InstanceNorm{d}d\\(3\\) expected a minicnn.Tensor"):
        mc_cls(3)(np.ones(batched, np.float32))
    with pytest.raises(ValueError, match="Expected more than 1 spatial element when training"):
        mc_cls(3)(t((3,) + (1,) * d))
    mc_cls(3, track_running_stats=True).eval()(t((3,) + (1,) * d))  # fine with running stats


def test_instance_norm_module_loads_running_stats_only_when_tracking(torch):
    """As PyTorch for its own (versioned) state dicts: running statistics are unexpected keys
    for a module that does not track them."""
    sd = torch.nn.InstanceNorm2d(3, track_running_stats=True).state_dict()
    theirs = torch.nn.InstanceNorm2d(3).load_state_dict(sd, strict=False)
    ours = minicnn.nn.InstanceNorm2d(3).load_state_dict({k: v.numpy() for k, v in sd.items()},
                                                        strict=False)
    assert ours.unexpected_keys == theirs.unexpected_keys and not ours.missing_keys
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "running_mean", '
                                           r'"running_var", "num_batches_tracked"'):
        minicnn.nn.InstanceNorm2d(3).load_state_dict(sd)


# the kernels themselves (Cython): never crash, name the argument

def _ok(shape=(2, 3, 4), dtype=np.float64):
    return np.ones(shape, dtype)


KERNEL_CALLS = {
    "batch_norm_forward_train": lambda x, v, g: _cpu.batch_norm_forward_train(x, v, v, 1e-5),
    "batch_norm_forward_eval": lambda x, v, g: _cpu.batch_norm_forward_eval(x, v, v, v, v, 1e-5),
    "batch_norm_backward": lambda x, v, g: _cpu.batch_norm_backward(g, x, v, v, v, True,
                                                                    (1, 1, 1)),
    "group_norm_forward": lambda x, v, g: _cpu.group_norm_forward(x, v, v, 3, 1e-5),
}


@pytest.mark.parametrize("name", list(KERNEL_CALLS))
def test_kernel_bad_input_raises(name):
    call = KERNEL_CALLS[name]
    x, v, g = _ok(), np.ones(3), _ok()
    call(x, v, g)  # valid
    with pytest.raises(TypeError, match="x must be a numpy.ndarray"):
        call(x.tolist(), v, g)
    with pytest.raises(TypeError, match="x must have dtype float32 or float64, got int64"):
        call(x.astype(np.int64), v, g)
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        call(np.ones((2, 3, 8))[:, :, ::2], v, g)
    with pytest.raises(ValueError, match=r"must have shape \(N, C, \*\)"):
        call(np.ones(3), v, np.ones(3))
    with pytest.raises(ValueError, match=r"must have shape \(3,\) to match the 3 channels.*\(4,\)"):
        call(x, np.ones(4), g)
    with pytest.raises(TypeError, match="has dtype float32 but x has dtype float64"):
        call(x, np.ones(3, np.float32), g)
    with pytest.raises(ValueError, match="contiguous"):
        call(x, np.ones(6)[::2], g)


def test_backward_kernel_bad_input_raises():
    x = _ok()
    v = np.ones(3)
    with pytest.raises(ValueError, match=r"grad_output has shape \(4, 3, 2\).*\(2, 3, 4\)"):
        _cpu.batch_norm_backward(np.ones((4, 3, 2)), x, v, v, v, True, (1, 1, 1))
    with pytest.raises(TypeError, match="grad_output has dtype float32"):
        _cpu.batch_norm_backward(x.astype(np.float32), x, v, v, v, True, (1, 1, 1))
    with pytest.raises(ValueError, match="output_mask must have 3 entries"):
        _cpu.batch_norm_backward(x, x, v, v, v, True, (1, 1))
    with pytest.raises(TypeError, match="mean must be a numpy.ndarray, got NoneType"):
        _cpu.batch_norm_backward(x, x, None, v, v, True, (1, 1, 1))
    with pytest.raises(ValueError, match=r"num_groups must be >= 1 and divide the 3 channels"):
        _cpu.group_norm_forward(x, None, None, 2, 1e-5)
    with pytest.raises(ValueError, match=r"mean must have shape \(2, 3\)"):
        _cpu.group_norm_backward(x, x, np.ones((2, 1)), np.ones((2, 3)), None, 3, (1, 1, 1))
    with pytest.raises(ValueError, match=r"x must have shape \(M, D\)"):
        _cpu.layer_norm_forward(x, None, None, 1e-5)
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\) to match the 4 columns"):
        _cpu.layer_norm_forward(np.ones((3, 4)), np.ones(3), None, 1e-5)
    with pytest.raises(ValueError, match=r"invstd must have shape \(3,\) to match the 3 rows"):
        _cpu.layer_norm_backward(np.ones((3, 4)), np.ones((3, 4)), np.ones(3), np.ones(4), None,
                                 (1, 1, 1))


@pytest.mark.parametrize("dtype", [minicnn.float32, minicnn.float64])
@pytest.mark.parametrize("activation", [None, "relu", "relu6"])
def test_eval_batch_norm_with_nothing_to_record_skips_the_graph(dtype, activation, monkeypatch):
    """Eval-mode batch norm under no_grad (or with no argument requiring grad) calls the kernel
    without Function.apply: the same bits as the recorded path, and no graph."""
    from minicnn.ops.norm import BatchNormFn, batch_norm_activation

    x = minicnn.randn(2, 5, 4, 3, dtype=dtype) * 4
    stats = [minicnn.randn(5, dtype=dtype), minicnn.rand(5, dtype=dtype) + 0.5,
             minicnn.randn(5, dtype=dtype), minicnn.randn(5, dtype=dtype)]
    args = (False, 0.1, 1e-5, activation)
    recorded = batch_norm_activation(x.clone().requires_grad_(), *stats, *args)
    assert recorded.grad_fn is not None

    def no_apply(*a, **k):
        raise AssertionError("Function.apply ran")

    monkeypatch.setattr(BatchNormFn, "apply", no_apply)
    with minicnn.no_grad():
        fast = batch_norm_activation(x.clone().requires_grad_(), *stats, *args)
    plain = batch_norm_activation(x, *stats, *args)  # grads on, nothing requires them
    for y in (fast, plain):
        assert y.grad_fn is None and not y.requires_grad and y.dtype == dtype
        np.testing.assert_array_equal(y.numpy(), recorded.detach().numpy())
