"""The loss family (linear, dropout, dropout2d, cross_entropy, nll_loss, mse_loss) and the
hardswish activation: kernels, ops and errors, in the layers of DESIGN.md ("Tests, in layers").

1. C kernels (hardswish, hardswish_backward, cross_entropy, cross_entropy_backward) against their
   NumPy twins on hypothesis-drawn shapes and configurations, float32 and float64, bit-identical
   with 1 and 2 threads, including sizes above the OpenMP threshold.
2. Every op against PyTorch (values and gradients) on both devices ("cpu": C kernels, "numpy":
   the reference), including logits of 1e4 (stability) and -inf (masked classes).
3. float64 gradcheck of every op; dropout's statistics, scale, reproducibility and mask reuse.
4. Bad input: TypeError/ValueError naming the argument, at the kernel and at the public function.
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import minicnn
from minicnn import backends
from minicnn.backends import reference
from minicnn.utils import gradcheck

from helpers import both_thread_counts, needs_source_tree

F = minicnn.nn.functional
_cpu = backends._cpu
PARALLEL_MIN = 32768  # csrc/cpu/mc_internal.h
DTYPES = [np.float32, np.float64]
DEVICES = ["cpu", "numpy"]
HSET = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
seeds = st.integers(0, 2 ** 32 - 1)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf/nan in the references

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-12)}
TORCH_TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def test_extension_is_built_with_the_loss_kernels():
    assert _cpu is not None, f"minicnn.backends._cpu failed to import: {backends._CPU_IMPORT_ERROR}"
    for name in ["hardswish", "hardswish_backward", "cross_entropy", "cross_entropy_backward"]:
        assert name in backends.c_kernels(), name
        assert backends.BACKENDS["cpu"].__dict__[name] is getattr(_cpu, name)
        assert backends.BACKENDS["numpy"].__dict__[name] is getattr(reference, name)


# ================================================================ 1. C kernels == NumPy twins

# ---------------------------------------------------------------- hardswish (KERNELS-style table)

EXTREMES = np.array([1e4, -1e4, 88.0, -88.0, 0.0, -0.0, 3.0, -3.0, 2.9999, -2.9999, 6.0, -6.0])
HARDSWISH_KERNELS = [("hardswish", "unary"), ("hardswish_backward", "grad")]


@st.composite
def elementwise_shapes(draw):
    """0-d, empty, small, and above-threshold (32768 .. 70000 elements) shapes."""
    kind = draw(st.sampled_from(["special", "small", "big"]))
    if kind == "special":
        return draw(st.sampled_from([(), (0,), (1,), (3, 0), (PARALLEL_MIN - 1,), (PARALLEL_MIN,),
                                     (PARALLEL_MIN + 1,), (2, 3, 97, 120)]))
    if kind == "small":
        return draw(array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=9))
    lead = draw(st.integers(1, 4))
    return (lead, draw(st.integers(PARALLEL_MIN, 70000)) // lead)


def make_data(rng, shape, dtype, scale=1.0, extreme_fraction=0.1):
    x = np.asarray(rng.standard_normal(shape) * scale).astype(dtype)
    if x.size and extreme_fraction:
        flat = x.reshape(-1)
        mask = rng.random(flat.size) < extreme_fraction
        flat[mask] = rng.choice(EXTREMES, size=int(mask.sum())).astype(dtype)
    return np.ascontiguousarray(x)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name, kind", HARDSWISH_KERNELS, ids=[k[0] for k in HARDSWISH_KERNELS])
@given(shape=elementwise_shapes(), seed=seeds, scale=st.sampled_from([1.0, 4.0, 100.0]),
       extreme_fraction=st.sampled_from([0.0, 0.1, 1.0]))
def test_hardswish_kernels_match_reference(name, kind, dtype, shape, seed, scale, extreme_fraction):
    rng = np.random.default_rng(seed)
    x = make_data(rng, shape, dtype, scale, extreme_fraction)
    args = (x,) if kind == "unary" else (make_data(rng, shape, dtype, 1.0, 0.0), x)
    got = both_thread_counts(lambda: getattr(_cpu, name)(*args))
    expected = getattr(reference, name)(*args)
    assert isinstance(got, np.ndarray) and got.flags.c_contiguous
    assert got.dtype == np.dtype(dtype) and got.shape == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=0)


@pytest.mark.parametrize("module", [_cpu, reference], ids=["c", "numpy"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_hardswish_values_at_the_kinks(module, dtype):
    """PyTorch's choices: gradient 0 at x = -3 and 1 at x = 3; NaN stays NaN; -inf gives NaN
    (-inf * 0), as torch.nn.functional.hardswish."""
    x = np.array([-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0, np.nan, np.inf, -np.inf], dtype)
    y = module.hardswish(x)
    gx = module.hardswish_backward(np.ones_like(x), x)
    np.testing.assert_array_equal(
        y, np.array([-0.0, -0.0, -1.5 * 1.5 / 6, 0.0, 1.5 * 4.5 / 6, 3.0, 4.0, np.nan, np.inf,
                     np.nan], dtype))
    np.testing.assert_array_equal(
        gx, np.array([0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 1.0, np.nan, 1.0, 0.0], dtype))


# ---------------------------------------------------------------- cross entropy

@st.composite
def ce_configs(draw, big=None, max_n=6):
    """(N, C, spatial, weighted, ignore_index, label_smoothing, scale, ignore_fraction).
    Small configurations reach 16+ rows of <= 32 classes (the C kernel's blocked path) when
    max_n allows."""
    big = draw(st.booleans()) if big is None else big
    if big:  # above MC_PARALLEL_MIN, so the OpenMP path runs
        C = draw(st.sampled_from([10, 1000, 1500]))
        N = max(1, draw(st.integers(PARALLEL_MIN, 70000)) // C)
        spatial = ()
    else:
        N = draw(st.integers(0, max_n))
        C = draw(st.integers(1, 9))
        spatial = draw(st.sampled_from([(), (), (1,), (3,), (2, 3)]))
    weighted = draw(st.booleans())
    ignore_index = draw(st.sampled_from([-100, 0, C - 1, 5]))
    label_smoothing = draw(st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0]))
    scale = draw(st.sampled_from([1.0, 3.0, 30.0, 1e4]))
    ignore_fraction = draw(st.sampled_from([0.0, 0.3]))
    return N, C, spatial, weighted, ignore_index, label_smoothing, scale, ignore_fraction


def ce_arrays(rng, config, dtype):
    N, C, spatial, weighted, ignore_index, eps, scale, ignore_fraction = config
    x = (rng.standard_normal((N, C) + spatial) * scale).astype(dtype)
    t = rng.integers(0, C, (N,) + spatial)
    t[rng.random(t.shape) < ignore_fraction] = ignore_index
    w = rng.uniform(0.2, 3.0, C).astype(dtype) if weighted else None
    return x, t, w


def ce_tolerance(dtype, x):
    """float32 losses grow with the logits (about 1e4 here): compare relative to that scale."""
    tol = dict(TOL[dtype])
    if x.size:
        tol["atol"] = tol["atol"] * max(1.0, float(np.abs(x).max()))
    return tol


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@given(config=ce_configs(max_n=40), seed=seeds, per_element=st.booleans())
def test_cross_entropy_kernels_match_reference(dtype, config, seed, per_element):
    rng = np.random.default_rng(seed)
    x, t, w = ce_arrays(rng, config, dtype)
    ignore_index, eps = config[4], config[5]
    loss, stats = both_thread_counts(lambda: _cpu.cross_entropy(x, t, w, ignore_index, eps)[:2])
    _, _, lsum, wsum = _cpu.cross_entropy(x, t, w, ignore_index, eps)
    r_loss, r_stats, r_lsum, r_wsum = reference.cross_entropy(x, t, w, ignore_index, eps)
    tol = ce_tolerance(dtype, x)
    assert loss.dtype == np.dtype(dtype) and loss.shape == t.shape
    assert stats.shape == (2,) + t.shape
    np.testing.assert_allclose(loss, r_loss, **tol)
    np.testing.assert_allclose(stats, r_stats, **tol)
    np.testing.assert_allclose(lsum, r_lsum, rtol=tol["rtol"], atol=tol["atol"] * max(1, t.size))
    assert wsum == pytest.approx(r_wsum, rel=1e-12)
    assert np.all(np.isfinite(loss))  # finite logits, however large: finite losses

    g = (rng.standard_normal(t.shape) if per_element else rng.standard_normal(())).astype(dtype)
    scale = 1.0 if per_element else 1.0 / max(wsum, 1.0)
    gx = both_thread_counts(
        lambda: _cpu.cross_entropy_backward(g, x, t, w, stats, ignore_index, eps, scale))
    r_gx = reference.cross_entropy_backward(g, x, t, w, r_stats, ignore_index, eps, scale)
    assert gx.dtype == np.dtype(dtype) and gx.shape == x.shape and gx.flags.c_contiguous
    np.testing.assert_allclose(gx, r_gx, **TOL[dtype])


@pytest.fixture(scope="module")
def baseline_loss_lib(tmp_path_factory):
    """csrc/cpu/loss.c built as a plain shared library for baseline x86-64 (SSE2) without the
    per-instruction-set clones (-DMC_NO_CLONES): the copy that CPUs without AVX2 run, which
    the extension on this machine never picks. Loaded with ctypes."""
    import ctypes
    import os
    import shutil
    import subprocess

    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = os.path.join(root, "csrc", "cpu")
    lib = str(tmp_path_factory.mktemp("loss") / "libloss.so")
    cmd = [cc, "-O3", "-fopenmp", "-fPIC", "-shared", "-DMC_NO_CLONES", "-I", src,
           os.path.join(src, "loss.c"), os.path.join(src, "threads.c"), "-o", lib, "-lm"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return ctypes.CDLL(lib)


@needs_source_tree("csrc/cpu")
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@settings(max_examples=15)
@given(config=ce_configs(max_n=40), seed=seeds)
def test_cross_entropy_baseline_build_matches_reference(baseline_loss_lib, dtype, config, seed):
    import ctypes

    lib = baseline_loss_lib
    rng = np.random.default_rng(seed)
    x, t, w = ce_arrays(rng, config, dtype)
    ignore_index, eps = config[4], config[5]
    N, C = x.shape[:2]
    S = int(np.prod(x.shape[2:]))
    sfx, ct = ("f32", ctypes.c_float) if dtype == np.float32 else ("f64", ctypes.c_double)

    def ptr(a):
        return None if a is None else a.ctypes.data_as(ctypes.c_void_p)

    loss, stats = np.empty(t.shape, dtype), np.empty((2,) + t.shape, dtype)
    sums = np.zeros(2)
    fwd = getattr(lib, f"mc_cross_entropy_{sfx}")
    fwd.restype = None
    fwd(ptr(x), ptr(t), ptr(w), ptr(loss), ptr(stats), ctypes.c_int64(N), ctypes.c_int64(C),
        ctypes.c_int64(S), ctypes.c_int64(ignore_index), ct(eps), ptr(sums))
    r_loss, r_stats, r_lsum, _ = reference.cross_entropy(x, t, w, ignore_index, eps)
    tol = ce_tolerance(dtype, x)
    np.testing.assert_allclose(loss, r_loss, **tol)
    np.testing.assert_allclose(stats, r_stats, **tol)
    g = rng.standard_normal(t.shape).astype(dtype)
    gx = np.empty_like(x)
    bwd = getattr(lib, f"mc_cross_entropy_backward_{sfx}")
    bwd.restype = None
    bwd(ptr(g), ctypes.c_int64(1), ptr(x), ptr(t), ptr(w), ptr(stats), ptr(gx), ctypes.c_int64(N),
        ctypes.c_int64(C), ctypes.c_int64(S), ctypes.c_int64(ignore_index), ct(eps), ct(1.0))
    r_gx = reference.cross_entropy_backward(g, x, t, w, r_stats, ignore_index, eps)
    np.testing.assert_allclose(gx, r_gx, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_cross_entropy_kernel_gradient_rows_sum_to_zero(dtype):
    """Without weights, each row's gradient is softmax - smoothed one-hot: it sums to 0."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((50, 700)) * 5).astype(dtype)
    t = rng.integers(0, 700, 50)
    _, stats, _, _ = _cpu.cross_entropy(x, t, None, -100, 0.2)
    gx = _cpu.cross_entropy_backward(np.ones(50, dtype), x, t, None, stats, -100, 0.2, 1.0)
    np.testing.assert_allclose(gx.astype(np.float64).sum(axis=1), 0,
                               atol=1e-5 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("module", [_cpu, reference], ids=["c", "numpy"])
def test_cross_entropy_kernel_special_logits(module):
    """-inf logits (masked classes) give probability 0; NaN makes its own row NaN only; a row
    of an ignored target is 0 whatever its logits."""
    x = np.array([[0.0, -np.inf, 1.0], [np.nan, 0.0, 1.0], [np.nan, np.inf, 0.0],
                  [1e4, -1e4, 0.0]], np.float32)
    t = np.array([2, 1, -100, 0])
    loss, stats, _, wsum = module.cross_entropy(x, t, None, -100, 0.0)
    assert loss[0] == pytest.approx(math.log(1 + math.e) - 1, rel=1e-6)
    assert np.isnan(loss[1]) and loss[2] == 0 and loss[3] == 0 and wsum == 3
    gx = module.cross_entropy_backward(np.ones(4, np.float32), x, t, None, stats, -100, 0.0, 1.0)
    assert gx[0, 1] == 0 and np.all(np.isfinite(gx[0])) and np.all(np.isnan(gx[1]))
    assert np.all(gx[2] == 0)
    np.testing.assert_array_equal(gx[3], [0, 0, 0])


# ================================================================ 2. ops == PyTorch

def mc_tensor(a, device, requires_grad=True):
    return minicnn.tensor(a, requires_grad=requires_grad, device=device)


def assert_close(actual, expected, tol, what):
    actual = actual.detach().numpy() if isinstance(actual, minicnn.Tensor) else np.asarray(actual)
    expected = expected.detach().numpy() if hasattr(expected, "detach") else np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != torch {expected.dtype}"
    np.testing.assert_allclose(actual, expected, equal_nan=True, err_msg=what, **tol)


def backward_both(out, ref, rng, torch):
    g = np.asarray(rng.standard_normal(tuple(ref.shape))).astype(ref.detach().numpy().dtype)
    out.backward(minicnn.tensor(g, device=out.device))
    ref.backward(torch.tensor(g))


@pytest.mark.parametrize("device", DEVICES)
@HSET
@given(shape=array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5), seed=seeds,
       dtype=st.sampled_from(DTYPES))
def test_hardswish_matches_torch(torch, device, shape, seed, dtype):
    rng = np.random.default_rng(seed)
    x = make_data(rng, shape, dtype, 3.0, 0.2)
    xm, xt = mc_tensor(x, device), torch.tensor(x, requires_grad=True)
    out, ref = F.hardswish(xm), torch.nn.functional.hardswish(xt)
    assert_close(out, ref, TORCH_TOL[dtype], "hardswish")
    backward_both(out, ref, rng, torch)
    assert_close(xm.grad, xt.grad, TORCH_TOL[dtype], "hardswish grad")


@pytest.mark.parametrize("device", DEVICES)
@HSET
@given(lead=array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3),
       fin=st.integers(1, 6), fout=st.integers(1, 5), bias=st.booleans(),
       needs=st.sampled_from(["all", "x", "w"]), seed=seeds, dtype=st.sampled_from(DTYPES))
def test_linear_matches_torch(torch, device, lead, fin, fout, bias, needs, seed, dtype):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(lead + (fin,)), rng.standard_normal((fout, fin))]
    if bias:
        arrays.append(rng.standard_normal(fout))
    arrays = [a.astype(dtype) for a in arrays]
    req = [needs in ("all", "x"), needs in ("all", "w"), needs == "all"]
    ms = [mc_tensor(a, device, r) for a, r in zip(arrays, req)]
    ts = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, req)]
    out, ref = F.linear(*ms), torch.nn.functional.linear(*ts)
    assert_close(out, ref, TORCH_TOL[dtype], "linear")
    backward_both(out, ref, rng, torch)
    for i, (m, t) in enumerate(zip(ms, ts)):
        if t.grad is None:
            assert m.grad is None, f"input {i} needs no gradient"
        else:
            assert_close(m.grad, t.grad, TORCH_TOL[dtype], f"linear grad {i}")


def ce_call(L, x, t, w, config, reduction):
    ignore_index, eps = config[4], config[5]
    return L.nn.functional.cross_entropy(x, t, weight=w, ignore_index=ignore_index,
                                         reduction=reduction, label_smoothing=eps)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@HSET
@given(config=ce_configs(big=False, max_n=20), seed=seeds, dtype=st.sampled_from(DTYPES),
       unbatched=st.booleans())
def test_cross_entropy_matches_torch(torch, device, reduction, config, seed, dtype, unbatched):
    rng = np.random.default_rng(seed)
    if unbatched:  # (C,) logits and a 0-d target
        config = (1,) + config[1:2] + ((),) + config[3:]
    x, t, w = ce_arrays(rng, config, dtype)
    if unbatched:
        x, t = x[0], t[0]
    xm, xt = mc_tensor(x, device), torch.tensor(x, requires_grad=True)
    wm = None if w is None else minicnn.tensor(w, device=device)
    wt = None if w is None else torch.tensor(w)
    out = ce_call(minicnn, xm, minicnn.tensor(t, device=device), wm, config, reduction)
    ref = ce_call(torch, xt, torch.tensor(t), wt, config, reduction)
    tol = dict(TORCH_TOL[dtype])
    tol["atol"] *= max(1.0, float(np.abs(x).max(initial=0)))
    assert_close(out, ref, tol, "cross_entropy")
    if not np.isfinite(ref.detach().numpy()).all():
        return  # mean over no target at all: nan in both, no gradient to compare
    backward_both(out, ref, rng, torch)
    assert_close(xm.grad, xt.grad, TORCH_TOL[dtype], "cross_entropy grad")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_cross_entropy_huge_and_masked_logits_match_torch(torch, device, dtype):
    """Logits of +-1e4 and -inf (a masked class): finite losses and gradients, equal to torch's."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((64, 100)) * 1e4).astype(dtype)
    x[:, 3] = -np.inf
    t = rng.integers(4, 100, 64)
    for eps in (0.0, 0.1):
        xm, xt = mc_tensor(x, device), torch.tensor(x, requires_grad=True)
        out = F.cross_entropy(xm, minicnn.tensor(t, device=device), reduction="none")
        ref = torch.nn.functional.cross_entropy(xt, torch.tensor(t), reduction="none")
        assert np.all(np.isfinite(out.detach().numpy()))
        assert_close(out, ref, dict(rtol=1e-5, atol=1e-2 if dtype == np.float32 else 1e-8), "loss")
        out.sum().backward()
        ref.sum().backward()
        assert np.all(np.isfinite(xm.grad.numpy()))
        assert_close(xm.grad, xt.grad, TORCH_TOL[dtype], "grad")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@HSET
@given(shape=st.sampled_from([(4, 5), (3, 4, 2), (2, 3, 2, 2), (5,)]), weighted=st.booleans(),
       eps=st.sampled_from([0.0, 0.2]), seed=seeds, dtype=st.sampled_from(DTYPES))
def test_cross_entropy_probability_targets_match_torch(torch, device, reduction, shape, weighted,
                                                       eps, seed, dtype):
    rng = np.random.default_rng(seed)
    cdim = 0 if len(shape) == 1 else 1
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    p = rng.random(shape)
    p = (p / p.sum(axis=cdim, keepdims=True)).astype(dtype)
    w = rng.uniform(0.5, 2, shape[cdim]).astype(dtype) if weighted else None
    ms = [mc_tensor(x, device), mc_tensor(p, device)]
    ts = [torch.tensor(x, requires_grad=True), torch.tensor(p, requires_grad=True)]
    out = F.cross_entropy(*ms, weight=None if w is None else minicnn.tensor(w, device=device),
                          reduction=reduction, label_smoothing=eps)
    ref = torch.nn.functional.cross_entropy(*ts, weight=None if w is None else torch.tensor(w),
                                            reduction=reduction, label_smoothing=eps)
    assert_close(out, ref, TORCH_TOL[dtype], "cross_entropy (probabilities)")
    backward_both(out, ref, rng, torch)
    assert_close(ms[0].grad, ts[0].grad, TORCH_TOL[dtype], "input grad")
    assert_close(ms[1].grad, ts[1].grad, TORCH_TOL[dtype], "target grad")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@HSET
@given(config=ce_configs(big=False), seed=seeds, dtype=st.sampled_from(DTYPES))
def test_nll_loss_matches_torch(torch, device, reduction, config, seed, dtype):
    rng = np.random.default_rng(seed)
    x, t, w = ce_arrays(rng, config, dtype)
    xm, xt = mc_tensor(x, device), torch.tensor(x, requires_grad=True)
    out = F.nll_loss(xm, minicnn.tensor(t, device=device),
                     weight=None if w is None else minicnn.tensor(w, device=device),
                     ignore_index=config[4], reduction=reduction)
    ref = torch.nn.functional.nll_loss(xt, torch.tensor(t),
                                       weight=None if w is None else torch.tensor(w),
                                       ignore_index=config[4], reduction=reduction)
    tol = dict(TORCH_TOL[dtype])
    tol["atol"] *= max(1.0, float(np.abs(x).max(initial=0)))
    assert_close(out, ref, tol, "nll_loss")
    if not np.isfinite(ref.detach().numpy()).all():
        return
    backward_both(out, ref, rng, torch)
    assert_close(xm.grad, xt.grad, TORCH_TOL[dtype], "nll_loss grad")


def test_nll_of_log_softmax_is_cross_entropy():
    rng = np.random.default_rng(4)
    x = minicnn.tensor(rng.standard_normal((6, 5)))
    t = minicnn.tensor(rng.integers(0, 5, 6))
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(x, 1), t).numpy(),
                               F.cross_entropy(x, t).numpy(), rtol=1e-14)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@HSET
@given(shape=array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4), seed=seeds,
       dtype=st.sampled_from(DTYPES), target_grad=st.booleans())
def test_mse_loss_matches_torch(torch, device, reduction, shape, seed, dtype, target_grad):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    ms = [mc_tensor(a, device), mc_tensor(b, device, target_grad)]
    ts = [torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=target_grad)]
    out = F.mse_loss(*ms, reduction=reduction)
    ref = torch.nn.functional.mse_loss(*ts, reduction=reduction)
    assert_close(out, ref, TORCH_TOL[dtype], "mse_loss")
    backward_both(out, ref, rng, torch)
    assert_close(ms[0].grad, ts[0].grad, TORCH_TOL[dtype], "input grad")
    if target_grad:
        assert_close(ms[1].grad, ts[1].grad, TORCH_TOL[dtype], "target grad")
    else:
        assert ms[1].grad is None


def test_mse_loss_broadcast_warns_like_torch(torch):
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    am, bm = minicnn.tensor(a, requires_grad=True), minicnn.tensor(b, requires_grad=True)
    with pytest.warns(UserWarning, match="target size"):
        out = F.mse_loss(am, bm)
    at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torch.nn.functional.mse_loss(at, bt)
    out.backward()
    ref.backward()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(bm.grad.numpy(), bt.grad.numpy(), rtol=1e-12)


# ================================================================ 3. gradcheck and dropout

GRADCHECK_CASES = {
    "hardswish": (lambda x: F.hardswish(x), [(3, 4)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [(2, 3, 4), (5, 4), (5,)]),
    "linear_nobias_1d": (lambda x, w: F.linear(x, w), [(4,), (3, 4)]),
    "mse_loss": (lambda a, b: F.mse_loss(a, b), [(3, 4), (3, 4)]),
    "mse_loss_sum": (lambda a, b: F.mse_loss(a, b, reduction="sum"), [(2, 3), (2, 3)]),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(GRADCHECK_CASES))
def test_gradcheck_simple_ops(name, device):
    fn, shapes = GRADCHECK_CASES[name]
    rng = np.random.default_rng(11)
    xs = []
    for s in shapes:
        a = rng.standard_normal(s) * 2
        if name == "hardswish":  # away from the kinks at -3 and 3
            a = np.where(np.abs(np.abs(a) - 3) < 0.1, a + 0.3, a)
        xs.append(minicnn.tensor(a, requires_grad=True, device=device))
    assert gradcheck(fn, xs)


@pytest.mark.parametrize("device", DEVICES)
@given(config=ce_configs(big=False), reduction=st.sampled_from(["mean", "sum", "none"]),
       seed=seeds)
def test_gradcheck_cross_entropy_and_nll(device, config, reduction, seed):
    rng = np.random.default_rng(seed)
    config = config[:6] + (min(config[6], 3.0),) + config[7:]  # gradcheck needs moderate logits
    x, t, w = ce_arrays(rng, config, np.float64)
    if x.size == 0 or np.all(t == config[4]):
        return  # nothing differentiable
    tm = minicnn.tensor(t, device=device)
    wm = None if w is None else minicnn.tensor(w, device=device)
    xm = minicnn.tensor(x, requires_grad=True, device=device)
    assert gradcheck(lambda z: ce_call(minicnn, z, tm, wm, config, reduction), [xm])
    assert gradcheck(lambda z: F.nll_loss(z, tm, wm, config[4], reduction), [xm])


@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_gradcheck_cross_entropy_probability_targets(eps):
    rng = np.random.default_rng(12)
    x = minicnn.tensor(rng.standard_normal((3, 4, 2)), requires_grad=True)
    p = minicnn.tensor(rng.dirichlet(np.ones(4), (3, 2)).transpose(0, 2, 1).copy(),
                       requires_grad=True)
    w = minicnn.tensor(rng.uniform(0.5, 2, 4))
    assert gradcheck(lambda a, b: F.cross_entropy(a, b, weight=w, label_smoothing=eps), [x, p])


def test_gradcheck_dropout_with_a_fixed_mask():
    rng = np.random.default_rng(13)
    x = minicnn.tensor(rng.standard_normal((4, 3, 2, 2)), requires_grad=True)

    def fn(z):
        minicnn.manual_seed(3)  # the same mask at every evaluation
        return F.dropout(z, 0.4) + F.dropout2d(z, 0.5)

    assert gradcheck(fn, [x])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_scale_and_gradient(device, dtype, p):
    n = 200_000
    minicnn.manual_seed(1)
    x = minicnn.tensor(np.random.default_rng(0).uniform(1, 2, n).astype(dtype), requires_grad=True,
                       device=device)
    y = F.dropout(x, p)
    kept = y.detach().numpy() != 0
    sigma = math.sqrt(p * (1 - p) / n)
    assert abs(kept.mean() - (1 - p)) < 5 * sigma
    scale = dtype(1) / dtype(1 - p)  # PyTorch's: the kept mask is divided by (1 - p) in the dtype
    np.testing.assert_array_equal(y.detach().numpy()[kept], x.detach().numpy()[kept] * scale)
    g = np.random.default_rng(1).standard_normal(n).astype(dtype)
    y.backward(minicnn.tensor(g, device=device))
    np.testing.assert_array_equal(x.grad.numpy(), np.where(kept, g * scale, 0))  # same mask
    assert y.dtype == np.dtype(dtype) and y.device == minicnn.device(device)


def test_dropout_scale_is_torchs(torch):
    y = torch.nn.functional.dropout(torch.ones(10000), 0.3).numpy()
    minicnn.manual_seed(0)
    ours = F.dropout(minicnn.ones(10000), 0.3).numpy()
    assert set(np.unique(y)) == set(np.unique(ours)) == {0.0, np.float32(1) / np.float32(0.7)}


def test_dropout_is_reproducible_with_manual_seed():
    x = minicnn.ones(1000)
    minicnn.manual_seed(42)
    a = F.dropout(x, 0.5).numpy()
    b = F.dropout(x, 0.5).numpy()
    minicnn.manual_seed(42)
    c = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_dropout_edge_probabilities_and_eval_mode():
    x = minicnn.tensor(np.array([1.0, np.nan, -2.0], np.float32), requires_grad=True)
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 0.7, training=False) is x
    x4 = x.reshape(1, 3, 1, 1)
    assert F.dropout2d(x4, 0.7, training=False) is x4 and F.dropout2d(x4, 0.0) is x4
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y.detach().numpy(), [0.0, np.nan, -0.0])  # x * 0, as torch
    y.backward(minicnn.ones(3))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


def test_dropout_inplace():
    x = minicnn.ones(1000)
    minicnn.manual_seed(0)
    y = F.dropout(x, 0.5, inplace=True)
    assert y is x and 0 < (x.numpy() == 0).sum() < 1000
    leaf = minicnn.ones(10, requires_grad=True)
    with pytest.raises(RuntimeError, match="inplace"):
        F.dropout(leaf, 0.5, inplace=True)
    with minicnn.no_grad():
        assert F.dropout(leaf, 0.5, inplace=True) is leaf


@pytest.mark.parametrize("device", DEVICES)
def test_dropout2d_drops_whole_channels(device):
    minicnn.manual_seed(2)
    x = minicnn.tensor(np.random.default_rng(0).uniform(1, 2, (64, 32, 3, 5)), requires_grad=True,
                       device=device)
    y = F.dropout2d(x, 0.25).detach().numpy().reshape(64 * 32, 15)
    zero = np.all(y == 0, axis=1)
    assert np.all(zero | np.all(y != 0, axis=1)), "a channel was partly dropped"
    assert abs(zero.mean() - 0.25) < 5 * math.sqrt(0.25 * 0.75 / zero.size)
    np.testing.assert_allclose(y[~zero], x.detach().numpy().reshape(-1, 15)[~zero] / 0.75,
                               rtol=1e-15)


def test_dropout2d_warns_like_torch_for_other_ranks():
    with pytest.warns(UserWarning, match="3D input"):
        y = F.dropout2d(minicnn.ones(4, 6, 5), 0.5)  # read as (N, C, L): rows of L dropped
    rows = y.numpy().reshape(24, 5)
    assert np.all(np.all(rows == 0, axis=1) | np.all(rows == 2, axis=1))
    with pytest.warns(UserWarning, match="2-D input"):
        F.dropout2d(minicnn.ones(4, 6), 0.5)


# ================================================================ 4. bad input

@pytest.mark.parametrize("module", [_cpu, reference], ids=["c", "numpy"])
def test_cross_entropy_kernel_bad_input(module):
    x = np.zeros((3, 4))
    t = np.array([0, 1, 3])
    with pytest.raises(TypeError, match="input.*ndarray"):
        module.cross_entropy(x.tolist(), t)
    with pytest.raises(TypeError, match="float16"):
        module.cross_entropy(x.astype(np.float16), t)
    with pytest.raises(TypeError, match="target.*int32"):
        module.cross_entropy(x, t.astype(np.int32))
    with pytest.raises(ValueError, match=r"input.*\(N, C\)"):
        module.cross_entropy(np.zeros(4), np.array(0))
    with pytest.raises(ValueError, match=r"target.*\(3,\).*\(2,\)"):
        module.cross_entropy(x, t[:2])
    with pytest.raises(ValueError, match="at least one class"):
        module.cross_entropy(np.zeros((3, 0)), t)
    for bad in (4, -1, 2 ** 40, -2 ** 62):
        with pytest.raises(ValueError, match=f"target {bad} is out of bounds for 4 classes"):
            module.cross_entropy(x, np.array([0, bad, 1]))
    with pytest.raises(ValueError, match="target -100 is out of bounds"):
        module.cross_entropy(x, np.array([0, -100, 1]), None, 7)
    with pytest.raises(TypeError, match="weight.*float32"):
        module.cross_entropy(x, t, np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"weight.*\(4,\).*\(3,\)"):
        module.cross_entropy(x, t, np.ones(3))
    with pytest.raises(ValueError, match="label_smoothing"):
        module.cross_entropy(x, t, None, -100, 1.5)
    _, stats, _, _ = module.cross_entropy(x, t)
    with pytest.raises(ValueError, match=r"grad_output.*\(3,\).*\(2,\)"):
        module.cross_entropy_backward(np.ones(2), x, t, None, stats)
    with pytest.raises(TypeError, match="grad_output"):
        module.cross_entropy_backward(np.ones(3, np.float32), x, t, None, stats)
    with pytest.raises(ValueError, match="out of bounds"):
        module.cross_entropy_backward(np.ones(3), x, np.array([0, 9, 1]), None, stats)


def test_cross_entropy_c_kernel_needs_contiguous_arrays():
    x = np.zeros((3, 8))[:, ::2]
    with pytest.raises(ValueError, match="input.*contiguous"):
        _cpu.cross_entropy(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="target.*contiguous"):
        _cpu.cross_entropy(np.zeros((3, 4)), np.array([0, 0, 1, 1, 2, 2])[::2])
    _, stats, _, _ = _cpu.cross_entropy(np.zeros((3, 4)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="stats"):
        _cpu.cross_entropy_backward(np.ones(3), np.zeros((3, 4)), np.array([0, 1, 2]), None,
                                    stats[:1])


def _ce_inputs():
    return minicnn.randn(3, 4), minicnn.tensor([0, 1, 3])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll_loss"])
def test_loss_bad_arguments(fn, device):
    x, t = _ce_inputs()
    x, t = x.to(device), t.to(device)
    name = fn.__name__
    with pytest.raises(TypeError, match=f"{name}: input must be a Tensor"):
        fn(x.numpy(), t)
    with pytest.raises(TypeError, match="floating"):
        fn(t, t)
    with pytest.raises(TypeError, match="int32"):
        fn(x, t.to(minicnn.int32))
    with pytest.raises(ValueError, match=r"target of shape \(2,\).*\(3, 4\)"):
        fn(x, t[:2])
    with pytest.raises(ValueError, match="target 4 is out of bounds for 4 classes"):
        fn(x, minicnn.tensor([0, 4, 1], device=device))
    with pytest.raises(ValueError, match="target -1 is out of bounds"):
        fn(x, minicnn.tensor([0, -1, 1], device=device))
    with pytest.raises(ValueError, match="reduction"):
        fn(x, t, reduction="avg")
    with pytest.raises(ValueError, match=r"weight.*\(4,\)"):
        fn(x, t, weight=minicnn.ones(5, device=device))
    with pytest.raises(ValueError, match="input must have shape"):
        fn(minicnn.tensor(1.0, device=device), minicnn.tensor(0, device=device))


def test_cross_entropy_specific_bad_arguments():
    x, t = _ce_inputs()
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(ValueError, match="ignore_index"):
        F.cross_entropy(x, F.softmax(x, 1), ignore_index=1)
    with pytest.raises(ValueError, match="probability target.*shape"):
        F.cross_entropy(x, minicnn.ones(3, 5))
    assert F.cross_entropy(x, t.to(minicnn.uint8)).shape == ()  # torch's other index dtype


def test_linear_bad_arguments():
    x, w = minicnn.randn(3, 4), minicnn.randn(5, 4)
    with pytest.raises(ValueError, match=r"input of shape \(3, 6\).*weight of shape \(5, 4\)"):
        F.linear(minicnn.randn(3, 6), w)
    with pytest.raises(ValueError, match=r"weight must have shape \(out_features, in_features\)"):
        F.linear(x, minicnn.randn(4))
    with pytest.raises(ValueError, match=r"bias must have shape \(5,\)"):
        F.linear(x, w, minicnn.randn(4))
    with pytest.raises(TypeError, match="input must be a Tensor"):
        F.linear(x.numpy(), w)
    with pytest.raises(TypeError, match="floating"):
        F.linear(minicnn.tensor([[1, 2, 3, 4]]), w)
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        F.linear(x, w.double())


def test_dropout_and_mse_bad_arguments():
    x = minicnn.randn(2, 3)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout(x, bad)
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout2d(x.reshape(1, 2, 3), bad)
    with pytest.raises(ValueError, match=r"dropout2d.*\(N, C, H, W\)"):
        F.dropout2d(minicnn.randn(5), 0.5)
    with pytest.raises(TypeError, match="floating"):
        F.dropout(minicnn.tensor([1, 2]), 0.5)
    with pytest.raises(ValueError, match="does not broadcast"):
        F.mse_loss(x, minicnn.randn(4))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(x, x, reduction="max")
    with pytest.raises(TypeError, match="target must be a Tensor"):
        F.mse_loss(x, x.numpy())
