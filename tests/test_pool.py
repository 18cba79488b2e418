"""Pooling: max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d, lp_pool2d.

The layers of DESIGN.md's test plan, for this family:
1. naive Python loops written from PyTorch's definitions are the absolute reference: both kernel
   backends must reproduce them (max: values and indices exactly);
2. every C kernel equals its NumPy twin on hypothesis-drawn shapes and windows (non-square,
   stride, padding, dilation, ceil_mode, odd sizes that exercise the 2x2 fast paths' edges), in
   float32 and float64, with ties, NaN and -inf in the data, bit-identical for 1 and 2 threads;
3. every op equals PyTorch (values, indices, gradients) on both devices, "cpu" and "numpy";
4. float64 gradcheck of every op on small inputs without ties;
5. bad input raises TypeError / ValueError naming the argument, never crashes.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import minicnn
from minicnn import backends
from minicnn.backends import reference
from minicnn.utils import gradcheck

from helpers import both_thread_counts

F = minicnn.nn.functional
_cpu = backends._cpu
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

HSET = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DTYPES = [np.float32, np.float64]
DEVICES = ["cpu", "numpy"]
KERNEL_NAMES = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
                "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "adaptive_max_pool2d"]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
seeds = st.integers(0, 2 ** 32 - 1)


# ---------------------------------------------------------------- naive loops (absolute reference)

def naive_out(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling_output_shape, written with math.floor / math.ceil."""
    span = (n + 2 * p - d * (k - 1) - 1) / s
    out = (math.ceil(span) if ceil_mode else math.floor(span)) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def naive_max_pool(x, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode):
    N, C, H, W = x.shape
    Ho, Wo = naive_out(H, kh, sh, ph, dh, ceil_mode), naive_out(W, kw, sw, pw, dw, ceil_mode)
    y = np.empty((N, C, Ho, Wo), x.dtype)
    ind = np.empty((N, C, Ho, Wo), np.int64)
    for n in range(N):
        for c in range(C):
            for oh in range(Ho):
                for ow in range(Wo):
                    h0, w0 = oh * sh - ph, ow * sw - pw
                    while h0 < 0:
                        h0 += dh
                    while w0 < 0:
                        w0 += dw
                    best, where = -math.inf, h0 * W + w0
                    for i in range(kh):
                        for j in range(kw):
                            ih, iw = oh * sh - ph + i * dh, ow * sw - pw + j * dw
                            if 0 <= ih < H and 0 <= iw < W:
                                v = x[n, c, ih, iw]
                                if v > best or math.isnan(v):
                                    best, where = v, ih * W + iw
                    y[n, c, oh, ow], ind[n, c, oh, ow] = best, where
    return y, ind


def naive_avg_pool(x, kh, kw, sh, sw, ph, pw, ceil_mode, count_include_pad, divisor_override):
    N, C, H, W = x.shape
    Ho, Wo = naive_out(H, kh, sh, ph, 1, ceil_mode), naive_out(W, kw, sw, pw, 1, ceil_mode)
    y = np.zeros((N, C, Ho, Wo), x.dtype)
    for oh in range(Ho):
        for ow in range(Wo):
            h0, w0 = oh * sh - ph, ow * sw - pw
            h1, w1 = min(h0 + kh, H + ph), min(w0 + kw, W + pw)
            padded = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
            if h0 >= h1 or w0 >= w1:
                continue
            div = divisor_override or (padded if count_include_pad else (h1 - h0) * (w1 - w0))
            for n in range(N):
                for c in range(C):
                    s = x.dtype.type(0)
                    for ih in range(h0, h1):
                        for iw in range(w0, w1):
                            s += x[n, c, ih, iw]
                    y[n, c, oh, ow] = s / x.dtype.type(div)
    return y


def naive_adaptive(x, oh_, ow_, kind):
    N, C, H, W = x.shape
    y = np.empty((N, C, oh_, ow_), x.dtype)
    ind = np.empty((N, C, oh_, ow_), np.int64)
    for oh in range(oh_):
        h0, h1 = math.floor(oh * H / oh_), math.ceil((oh + 1) * H / oh_)
        for ow in range(ow_):
            w0, w1 = math.floor(ow * W / ow_), math.ceil((ow + 1) * W / ow_)
            for n in range(N):
                for c in range(C):
                    win = x[n, c, h0:h1, w0:w1]
                    if kind == "avg":
                        y[n, c, oh, ow] = win.astype(np.float64).sum() / ((h1 - h0) * (w1 - w0))
                        continue
                    best, where = -math.inf, h0 * W + w0
                    for ih in range(h0, h1):
                        for iw in range(w0, w1):
                            v = x[n, c, ih, iw]
                            if v > best or math.isnan(v):
                                best, where = v, ih * W + iw
                    y[n, c, oh, ow], ind[n, c, oh, ow] = best, where
    return y, ind


# ---------------------------------------------------------------- strategies and data

@st.composite
def windows(draw, dilation=True, max_k=4, padding=True):
    """(kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode, H, W) with a valid (non-empty) output."""
    kh, kw = draw(st.integers(1, max_k)), draw(st.integers(1, max_k))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    ph, pw = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))) if padding else (0, 0)
    ceil_mode = draw(st.booleans())
    H = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), dh * (kh - 1) + 8))
    W = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), dw * (kw - 1) + 8))
    return kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode, H, W


@st.composite
def fast_windows(draw):
    """The 2x2 stride-2 window of the fast paths, on even and odd sizes, floor and ceil."""
    return (2, 2, 2, 2, 0, 0, 1, 1, draw(st.booleans()), draw(st.integers(2, 11)),
            draw(st.integers(2, 11)))


any_window = st.one_of(windows(), fast_windows())
avg_options = st.tuples(st.booleans(), st.sampled_from([None, None, 3, -2, 1]))


def make_x(rng, shape, dtype, special=0.0):
    """Normal data; a fraction ``special`` replaced by ties (0, 1), -inf and NaN."""
    x = rng.standard_normal(shape).astype(dtype)
    if special and x.size:
        flat = x.reshape(-1)
        mask = rng.random(flat.size) < special
        flat[mask] = rng.choice(np.array([0.0, 1.0, -np.inf, np.nan]), int(mask.sum()))
    return x


def distinct(rng, shape, dtype=np.float64):
    """No ties (values 0.1 apart): the argmax never flips under gradcheck's perturbation."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.1 - 0.05 * n + rng.uniform(0, 0.01, n)).reshape(shape).astype(
        dtype)


@pytest.fixture
def threads():
    before = _cpu.get_num_threads()
    yield
    _cpu.set_num_threads(before)


def test_kernels_are_in_both_backends_and_run_in_c():
    assert _cpu is not None, f"minicnn.backends._cpu failed to import: {backends._CPU_IMPORT_ERROR}"
    for name in KERNEL_NAMES:
        assert name in reference.__all__
        assert callable(getattr(_cpu, name))
        assert name in backends.c_kernels()
        assert getattr(backends.BACKENDS["cpu"], name) is getattr(_cpu, name)
        assert getattr(backends.BACKENDS["numpy"], name) is getattr(reference, name)


# ---------------------------------------------------------------- 1. naive loops

@pytest.mark.parametrize("backend", [reference, _cpu], ids=["reference", "c"])
@given(win=any_window, n=st.integers(0, 2), c=st.integers(1, 2), seed=seeds,
       dtype=st.sampled_from(DTYPES), special=st.sampled_from([0.0, 0.3]))
def test_max_pool_matches_naive_loops(backend, win, n, c, seed, dtype, special):
    *params, H, W = win
    x = make_x(np.random.default_rng(seed), (n, c, H, W), dtype, special)
    y, ind = backend.max_pool2d(x, *params)
    ey, eind = naive_max_pool(x, *params)
    np.testing.assert_array_equal(y, ey)  # NaN where NaN: assert_array_equal treats them equal
    np.testing.assert_array_equal(ind, eind)
    assert y.dtype == dtype and ind.dtype == np.int64


@pytest.mark.parametrize("backend", [reference, _cpu], ids=["reference", "c"])
@given(win=st.one_of(windows(dilation=False), fast_windows()), opts=avg_options,
       n=st.integers(0, 2), seed=seeds, dtype=st.sampled_from(DTYPES))
def test_avg_pool_matches_naive_loops(backend, win, opts, n, seed, dtype):
    kh, kw, sh, sw, ph, pw, _, _, ceil_mode, H, W = win
    x = make_x(np.random.default_rng(seed), (n, 2, H, W), dtype)
    args = (kh, kw, sh, sw, ph, pw, ceil_mode) + opts
    np.testing.assert_allclose(backend.avg_pool2d(x, *args), naive_avg_pool(x, *args),
                               **TOL[dtype])


@pytest.mark.parametrize("backend", [reference, _cpu], ids=["reference", "c"])
@given(H=st.integers(1, 9), W=st.integers(1, 9), oh=st.integers(1, 10), ow=st.integers(1, 10),
       seed=seeds, dtype=st.sampled_from(DTYPES), special=st.sampled_from([0.0, 0.3]))
def test_adaptive_pools_match_naive_loops(backend, H, W, oh, ow, seed, dtype, special):
    x = make_x(np.random.default_rng(seed), (2, 2, H, W), dtype, special)
    y, ind = backend.adaptive_max_pool2d(x, oh, ow)
    ey, eind = naive_adaptive(x, oh, ow, "max")
    np.testing.assert_array_equal(y, ey)
    np.testing.assert_array_equal(ind, eind)
    x = make_x(np.random.default_rng(seed), (2, 2, H, W), dtype)
    np.testing.assert_allclose(backend.adaptive_avg_pool2d(x, oh, ow),
                               naive_adaptive(x, oh, ow, "avg")[0], **TOL[dtype])


def test_naive_loops_can_fail():
    """The naive oracle is not vacuous: a wrong window rule disagrees with it."""
    x = make_x(np.random.default_rng(0), (1, 1, 5, 5), np.float64)
    y, _ = reference.max_pool2d(x, 2, 2, 1, 1, 0, 0, 1, 1, False)
    assert not np.array_equal(y, naive_max_pool(x, 2, 2, 2, 2, 0, 0, 1, 1, False)[0])


# ---------------------------------------------------------------- 2. C == NumPy reference

@given(win=any_window, n=st.integers(0, 3), c=st.integers(1, 3), seed=seeds,
       dtype=st.sampled_from(DTYPES), special=st.sampled_from([0.0, 0.2]))
def test_max_pool_kernels_c_equals_reference(win, n, c, seed, dtype, special):
    *params, H, W = win
    rng = np.random.default_rng(seed)
    x = make_x(rng, (n, c, H, W), dtype, special)
    y, ind = both_thread_counts(lambda: _cpu.max_pool2d(x, *params))
    ry, rind = reference.max_pool2d(x, *params)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(ind, rind)
    values_only, none = _cpu.max_pool2d(x, *params, False)
    assert none is None and reference.max_pool2d(x, *params, False)[1] is None
    np.testing.assert_array_equal(values_only, ry)
    g = make_x(rng, y.shape, dtype)
    gx = both_thread_counts(lambda: _cpu.max_pool2d_backward(g, ind, H, W))
    assert gx.shape == x.shape and gx.dtype == dtype and gx.flags.c_contiguous
    np.testing.assert_allclose(gx, reference.max_pool2d_backward(g, ind, H, W), **TOL[dtype])


@given(win=st.one_of(windows(dilation=False), fast_windows()), opts=avg_options,
       n=st.integers(0, 3), c=st.integers(1, 3), seed=seeds, dtype=st.sampled_from(DTYPES))
def test_avg_pool_kernels_c_equals_reference(win, opts, n, c, seed, dtype):
    kh, kw, sh, sw, ph, pw, _, _, ceil_mode, H, W = win
    args = (kh, kw, sh, sw, ph, pw, ceil_mode) + opts
    rng = np.random.default_rng(seed)
    x = make_x(rng, (n, c, H, W), dtype)
    y = both_thread_counts(lambda: _cpu.avg_pool2d(x, *args))
    np.testing.assert_allclose(y, reference.avg_pool2d(x, *args), **TOL[dtype])
    g = make_x(rng, y.shape, dtype)
    gx = both_thread_counts(lambda: _cpu.avg_pool2d_backward(g, H, W, *args))
    assert gx.shape == x.shape and gx.dtype == dtype
    np.testing.assert_allclose(gx, reference.avg_pool2d_backward(g, H, W, *args), **TOL[dtype])


@given(H=st.integers(1, 12), W=st.integers(1, 12), oh=st.integers(0, 13), ow=st.integers(1, 13),
       n=st.integers(0, 2), seed=seeds, dtype=st.sampled_from(DTYPES))
def test_adaptive_kernels_c_equals_reference(H, W, oh, ow, n, seed, dtype):
    rng = np.random.default_rng(seed)
    x = make_x(rng, (n, 3, H, W), dtype, 0.1)
    y, ind = both_thread_counts(lambda: _cpu.adaptive_max_pool2d(x, oh, ow))
    ry, rind = reference.adaptive_max_pool2d(x, oh, ow)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(ind, rind)
    x = make_x(rng, (n, 3, H, W), dtype)
    y = both_thread_counts(lambda: _cpu.adaptive_avg_pool2d(x, oh, ow))
    np.testing.assert_allclose(y, reference.adaptive_avg_pool2d(x, oh, ow), **TOL[dtype])
    g = make_x(rng, y.shape, dtype)
    gx = both_thread_counts(lambda: _cpu.adaptive_avg_pool2d_backward(g, H, W))
    np.testing.assert_allclose(gx, reference.adaptive_avg_pool2d_backward(g, H, W), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("params", [
    (2, 2, 2, 2, 0, 0, 1, 1, False),  # fast paths
    (2, 2, 2, 2, 0, 0, 1, 1, True),   # fast paths + ceil_mode's partial windows (odd sizes)
    (3, 3, 2, 2, 1, 1, 1, 1, False),  # Ho = H / 2: max backward tries the 2x2 blocks, falls back
    (3, 2, 1, 2, 1, 1, 2, 1, True),
], ids=["2x2", "2x2-ceil", "3x3s2p1", "dilated"])
def test_kernels_on_parallel_sizes(dtype, params, threads):
    """Above MC_PARALLEL_MIN (32768 elements) the OpenMP loops run: same results for 1 and 2
    threads, equal to the reference."""
    rng = np.random.default_rng(1)
    x = make_x(rng, (3, 5, 47, 41), dtype, 0.01)
    H, W = x.shape[2:]
    y, ind = both_thread_counts(lambda: _cpu.max_pool2d(x, *params))
    ry, rind = reference.max_pool2d(x, *params)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(ind, rind)
    g = make_x(rng, y.shape, dtype)
    gx = both_thread_counts(lambda: _cpu.max_pool2d_backward(g, ind, H, W))
    np.testing.assert_allclose(gx, reference.max_pool2d_backward(g, ind, H, W), **TOL[dtype])
    if params[6] == 1:
        args = params[:4] + params[4:6] + (params[8], False, None)
        y = both_thread_counts(lambda: _cpu.avg_pool2d(x, *args))
        np.testing.assert_allclose(y, reference.avg_pool2d(x, *args), **TOL[dtype])
        ga = make_x(rng, y.shape, dtype)
        gx = both_thread_counts(lambda: _cpu.avg_pool2d_backward(ga, H, W, *args))
        np.testing.assert_allclose(gx, reference.avg_pool2d_backward(ga, H, W, *args),
                                   **TOL[dtype])
    x = make_x(rng, (3, 5, 47, 41), dtype)
    for oh, ow in [(5, 7), (1, 1), (2, 1)]:  # (1, 1): the global pool's path; (2, 1): full rows
        y = both_thread_counts(lambda: _cpu.adaptive_avg_pool2d(x, oh, ow))
        np.testing.assert_allclose(y, reference.adaptive_avg_pool2d(x, oh, ow), **TOL[dtype])
        g = make_x(rng, y.shape, dtype)
        gx = both_thread_counts(lambda: _cpu.adaptive_avg_pool2d_backward(g, H, W))
        np.testing.assert_allclose(gx, reference.adaptive_avg_pool2d_backward(g, H, W),
                                   **TOL[dtype])
    y, ind = both_thread_counts(lambda: _cpu.adaptive_max_pool2d(x, 6, 5))
    ry, rind = reference.adaptive_max_pool2d(x, 6, 5)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(ind, rind)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_max_backward_scatters_any_indices(dtype):
    """max_pool2d_backward is a general scatter-add: indices outside an output's 2x2 block (here
    with the 2x2 fast-path shape Ho = H/2, Wo = W/2), repeated indices (accumulated) and indices
    outside the plane (skipped) all give the reference's answer."""
    rng = np.random.default_rng(3)
    N, C, H, W = 2, 3, 8, 6
    g = make_x(rng, (N, C, H // 2, W // 2), dtype)
    for ind in [rng.integers(0, H * W, g.shape), np.full(g.shape, 5),
                rng.integers(-3, H * W + 3, g.shape)]:
        ind = ind.astype(np.int64)
        got = _cpu.max_pool2d_backward(g, ind, H, W)
        np.testing.assert_allclose(got, reference.max_pool2d_backward(g, ind, H, W), **TOL[dtype])
    # the block-shaped indices of a real 2x2 pooling take the fast path and stay exact
    x = make_x(rng, (N, C, H, W), dtype)
    _, ind = _cpu.max_pool2d(x, 2, 2, 2, 2, 0, 0, 1, 1, False)
    np.testing.assert_array_equal(_cpu.max_pool2d_backward(g, ind, H, W),
                                  reference.max_pool2d_backward(g, ind, H, W))


# ---------------------------------------------------------------- 3. ops == PyTorch

def torch_leaf(torch, a):
    return torch.tensor(a, requires_grad=True)


def mc_leaf(a, device):
    return minicnn.tensor(a, requires_grad=True, device=device)


def compare(torch, mc_fn, t_fn, x, device, tol, rng, indices=False):
    """Forward values (and indices), then the gradient of one random upstream gradient.

    A window lying wholly in the padding (possible with dilation) gets -inf and, from both
    libraries, an index outside its plane; PyTorch's backward then writes into the next plane
    (out of bounds), minicnn's skips it, so gradients are compared only without such windows."""
    xm, xt = mc_leaf(x, device), torch_leaf(torch, x)
    ym, yt = mc_fn(xm), t_fn(xt)
    if indices:
        (ym, im), (yt, it) = ym, yt
        assert im.dtype == np.int64 and im.device == minicnn.device(device)
        np.testing.assert_array_equal(im.numpy(), it.numpy())
        if ((im.numpy() < 0) | (im.numpy() >= x.shape[-1] * x.shape[-2])).any():
            return
    assert ym.device == minicnn.device(device)
    assert ym.shape == tuple(yt.shape) and ym.dtype == x.dtype
    np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), equal_nan=True, **tol)
    g = rng.standard_normal(ym.shape).astype(x.dtype)
    ym.backward(g)
    yt.backward(torch.tensor(g))
    assert xm.grad.shape == x.shape and xm.grad.dtype == x.dtype
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), equal_nan=True, **tol)


def split(win):
    kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode, H, W = win
    return (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil_mode, (H, W)


@pytest.mark.parametrize("device", DEVICES)
@HSET
@given(win=any_window, n=st.integers(1, 2), seed=seeds, dtype=st.sampled_from(DTYPES),
       unbatched=st.booleans(), special=st.sampled_from([0.0, 0.0, 0.3]))
def test_max_pool2d_matches_torch(torch, device, win, n, seed, dtype, unbatched, special):
    k, s, p, d, ceil_mode, hw = split(win)
    rng = np.random.default_rng(seed)
    shape = (2,) + hw if unbatched else (n, 2) + hw
    x = make_x(rng, shape, dtype, special)
    # stride as a pair or an int, padding as an int when square: every argument form
    s_arg = s[0] if s[0] == s[1] else s
    compare(torch, lambda t: F.max_pool2d(t, k, s_arg, p, d, ceil_mode, return_indices=True),
            lambda t: torch.nn.functional.max_pool2d(t, k, s_arg, p, d, ceil_mode,
                                                     return_indices=True),
            x, device, TOL[dtype], rng, indices=True)


@pytest.mark.parametrize("device", DEVICES)
def test_max_pool2d_default_stride_and_no_indices(torch, device, rng):
    x = make_x(rng, (2, 3, 9, 8), np.float32)
    compare(torch, lambda t: F.max_pool2d(t, (3, 2)),
            lambda t: torch.nn.functional.max_pool2d(t, (3, 2)), x, device, TOL[np.float32], rng)
    y, ind = F.max_pool2d_with_indices(minicnn.tensor(x, device=device), 2)
    _, tind = torch.nn.functional.max_pool2d_with_indices(torch.tensor(x), 2)
    np.testing.assert_array_equal(ind.numpy(), tind.numpy())
    with minicnn.no_grad():  # inference: the kernel skips the indices, same values
        np.testing.assert_array_equal(F.max_pool2d(mc_leaf(x, device), 2).numpy(), y.numpy())


WITH_INDICES = {
    "max_pool2d": (lambda F, t: F.max_pool2d(t, 2, return_indices=True), "MaxPool2dBackward"),
    "adaptive_max_pool2d": (lambda F, t: F.adaptive_max_pool2d(t, 2, return_indices=True),
                            "AdaptiveMaxPool2dBackward"),
}


@pytest.mark.parametrize("name", list(WITH_INDICES))
def test_max_pool_indices_are_a_non_differentiable_output(torch, rng, name):
    """Values and indices come out of one Function call: the indices never require grad (as
    PyTorch's), and changing them in place before backward is caught, as in PyTorch."""
    fn, node = WITH_INDICES[name]
    x = make_x(rng, (1, 2, 4, 4), np.float64)
    (y, ind), (ty, tind) = fn(F, mc_leaf(x, "cpu")), fn(torch.nn.functional, torch_leaf(torch, x))
    assert y.grad_fn.name() == node and y.output_nr == ty.output_nr == 0
    assert not ind.requires_grad and ind.grad_fn is None and ind.output_nr == tind.output_nr
    assert ind.requires_grad == tind.requires_grad
    ind.add_(1)
    tind.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.sum().backward()
    with pytest.raises(RuntimeError, match=r"LongTensor \[1, 2, 2, 2\]\] is at version 1"):
        y.sum().backward()


@pytest.mark.parametrize("return_indices", [False, True])
@pytest.mark.parametrize("grad", [False, True])
def test_max_pool2d_computes_indices_only_when_needed(monkeypatch, rng, grad, return_indices):
    """The inference fast path: the kernel is asked for indices only when they are returned or
    the backward will need them."""
    table = backends.BACKENDS["cpu"]
    asked, kernel = [], table.max_pool2d

    def spy(*args):
        asked.append(args[-1])
        return kernel(*args)

    monkeypatch.setattr(table, "max_pool2d", spy)
    x = minicnn.tensor(make_x(rng, (1, 1, 4, 4), np.float32), requires_grad=grad)
    out = F.max_pool2d(x, 2, return_indices=return_indices)
    assert asked == [grad or return_indices]
    assert isinstance(out, tuple) == return_indices


@pytest.mark.parametrize("device", DEVICES)
@HSET
@given(win=st.one_of(windows(dilation=False), fast_windows()), opts=avg_options,
       n=st.integers(1, 2), seed=seeds, dtype=st.sampled_from(DTYPES), unbatched=st.booleans())
def test_avg_pool2d_matches_torch(torch, device, win, opts, n, seed, dtype, unbatched):
    k, s, p, _, ceil_mode, hw = split(win)
    cip, div = opts
    rng = np.random.default_rng(seed)
    x = make_x(rng, (3,) + hw if unbatched else (n, 3) + hw, dtype)
    compare(torch, lambda t: F.avg_pool2d(t, k, s, p, ceil_mode, cip, div),
            lambda t: torch.nn.functional.avg_pool2d(t, k, s, p, ceil_mode, cip, div),
            x, device, TOL[dtype], rng)


def _adaptive_size(draw_h, draw_w, form):
    return {"int": draw_h, "pair": (draw_h, draw_w), "none_h": (None, draw_w),
            "none_w": (draw_h, None)}[form]


@pytest.mark.parametrize("device", DEVICES)
@HSET
@given(H=st.integers(1, 10), W=st.integers(1, 10), oh=st.integers(1, 11), ow=st.integers(1, 11),
       form=st.sampled_from(["int", "pair", "none_h", "none_w"]), seed=seeds,
       dtype=st.sampled_from(DTYPES), unbatched=st.booleans(), special=st.sampled_from([0, 0.2]))
def test_adaptive_pools_match_torch(torch, device, H, W, oh, ow, form, seed, dtype, unbatched,
                                    special):
    rng = np.random.default_rng(seed)
    size = _adaptive_size(oh, ow, form)
    x = make_x(rng, (3, H, W) if unbatched else (2, 3, H, W), dtype)
    # torch computes a 1x1 output as a mean (another summation order): loose float32 tolerance
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else TOL[dtype]
    compare(torch, lambda t: F.adaptive_avg_pool2d(t, size),
            lambda t: torch.nn.functional.adaptive_avg_pool2d(t, size), x, device, tol, rng)
    x = make_x(rng, x.shape, dtype, special)
    compare(torch, lambda t: F.adaptive_max_pool2d(t, size, return_indices=True),
            lambda t: torch.nn.functional.adaptive_max_pool2d(t, size, return_indices=True),
            x, device, TOL[dtype], rng, indices=True)


@pytest.mark.parametrize("device", DEVICES)
@HSET
@given(win=st.one_of(windows(dilation=False, padding=False), fast_windows()),
       p=st.sampled_from([1, 2, 3, 1.5]),
       seed=seeds, dtype=st.sampled_from(DTYPES), zeros=st.booleans())
def test_lp_pool2d_matches_torch(torch, device, win, p, seed, dtype, zeros):
    k, s, _, _, ceil_mode, hw = split(win)
    rng = np.random.default_rng(seed)
    x = np.abs(make_x(rng, (2, 2) + hw, dtype)) + 0.1
    if zeros:  # all-zero windows: output 0 and, as in PyTorch, gradient 0 (not nan)
        x[:, 0] = 0
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    compare(torch, lambda t: F.lp_pool2d(t, p, k, s, ceil_mode),
            lambda t: torch.nn.functional.lp_pool2d(t, p, k, s, ceil_mode), x, device, tol, rng)


@pytest.mark.parametrize("device", DEVICES)
def test_lp_pool2d_signed_inputs_match_torch(torch, device, rng):
    """Odd norm_type with negative inputs: negative sums give nan for the 1/p root, as torch."""
    x = make_x(rng, (1, 2, 6, 6), np.float64)
    for p in (1, 3):
        compare(torch, lambda t: F.lp_pool2d(t, p, 2), lambda t: torch.nn.functional.lp_pool2d(
            t, p, 2), x, device, TOL[np.float64], rng)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("k, s", [(2, 2), (3, 1), (2, 1)])
def test_max_pool_ties_nan_and_inf_match_torch(torch, device, k, s, rng):
    """Ties go to the first maximum; a NaN wins (the last one); all -inf gives -inf at the first
    element; gradients follow the same indices (accumulated where windows overlap)."""
    x = rng.integers(0, 3, (2, 2, 7, 8)).astype(np.float32)
    x[0, 0, :2, :2] = -np.inf
    x[0, 1, 1, 1] = x[0, 1, 3, 4] = x[0, 1, 3, 5] = np.nan
    compare(torch, lambda t: F.max_pool2d(t, k, s, return_indices=True),
            lambda t: torch.nn.functional.max_pool2d(t, k, s, return_indices=True),
            x, device, TOL[np.float32], rng, indices=True)


# ---------------------------------------------------------------- 4. gradcheck (float64)

@pytest.mark.parametrize("device", DEVICES)
@given(win=windows(max_k=3), seed=seeds)
def test_max_pool2d_gradcheck(device, win, seed):
    k, s, p, d, ceil_mode, hw = split(win)
    x = distinct(np.random.default_rng(seed), (1, 2) + hw)
    # a dilated window can lie wholly in the padding: its -inf output has no finite derivative
    assume(np.isfinite(reference.max_pool2d(x, *win[:9])[0]).all())
    assert gradcheck(lambda t: F.max_pool2d(t, k, s, p, d, ceil_mode), [mc_leaf(x, device)])


@pytest.mark.parametrize("device", DEVICES)
@given(win=windows(dilation=False, max_k=3), opts=avg_options, seed=seeds)
def test_avg_pool2d_gradcheck(device, win, opts, seed):
    k, s, p, _, ceil_mode, hw = split(win)
    x = np.random.default_rng(seed).standard_normal((1, 2) + hw)
    assert gradcheck(lambda t: F.avg_pool2d(t, k, s, p, ceil_mode, *opts), [mc_leaf(x, device)])


@pytest.mark.parametrize("device", DEVICES)
@given(H=st.integers(1, 6), W=st.integers(1, 6), oh=st.integers(1, 7), ow=st.integers(1, 7),
       seed=seeds)
def test_adaptive_pools_gradcheck(device, H, W, oh, ow, seed):
    rng = np.random.default_rng(seed)
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t, (oh, ow)),
                     [mc_leaf(rng.standard_normal((1, 2, H, W)), device)])
    assert gradcheck(lambda t: F.adaptive_max_pool2d(t, (oh, ow)),
                     [mc_leaf(distinct(rng, (1, 2, H, W)), device)])


@pytest.mark.parametrize("device", DEVICES)
@given(win=windows(dilation=False, max_k=3, padding=False), p=st.sampled_from([1, 2, 3, 2.5]),
       seed=seeds)
def test_lp_pool2d_gradcheck(device, win, p, seed):
    k, s, _, _, ceil_mode, hw = split(win)
    x = np.random.default_rng(seed).uniform(0.5, 2.0, (1, 2) + hw)
    assert gradcheck(lambda t: F.lp_pool2d(t, p, k, s, ceil_mode), [mc_leaf(x, device)])


def test_gradcheck_catches_a_wrong_pool_gradient(monkeypatch):
    """The gradchecks above can fail: a max-pool backward that drops the gradient is caught."""
    from minicnn.ops import pool as pool_ops
    from minicnn.utils import GradcheckError

    def broken(ctx, g):
        grads = orig(ctx, g)
        return (grads[0] * 0.5,) + grads[1:]

    orig = pool_ops.MaxPool2dFn.backward
    monkeypatch.setattr(pool_ops.MaxPool2dFn, "backward", staticmethod(broken))
    x = distinct(np.random.default_rng(0), (1, 1, 4, 4))
    with pytest.raises(GradcheckError):
        gradcheck(lambda t: F.max_pool2d(t, 2), [mc_leaf(x, "cpu")])


# ---------------------------------------------------------------- 5. bad input

def t32(*shape):
    return minicnn.tensor(np.ones(shape, np.float32))


BAD_OPS = [
    # (id, call, exception, message fragment)
    ("not-a-tensor", lambda: F.max_pool2d(np.ones((1, 1, 4, 4), np.float32), 2), TypeError,
     "input must be a minicnn.Tensor"),
    ("int-input", lambda: F.max_pool2d(minicnn.tensor(np.ones((1, 1, 4, 4), np.int64)), 2),
     TypeError, "float32 or float64"),
    ("2d-input", lambda: F.max_pool2d(t32(4, 4), 2), ValueError, r"\(N, C, H, W\)"),
    ("5d-input", lambda: F.avg_pool2d(t32(1, 1, 1, 4, 4), 2), ValueError, r"\(N, C, H, W\)"),
    ("zero-channels", lambda: F.max_pool2d(t32(1, 0, 4, 4), 2), ValueError, "non-zero C"),
    ("zero-width", lambda: F.avg_pool2d(t32(1, 1, 4, 0), 1), ValueError, "non-zero C"),
    ("kernel-too-large", lambda: F.max_pool2d(t32(1, 1, 3, 3), 4), ValueError,
     "larger than the padded input"),
    ("kernel-too-large-avg", lambda: F.avg_pool2d(t32(1, 1, 3, 8), (6, 2), padding=(1, 0)),
     ValueError, "larger than the padded input"),
    ("dilated-too-large", lambda: F.max_pool2d(t32(1, 1, 4, 4), 2, dilation=4), ValueError,
     "larger than the padded input"),
    ("padding-too-large", lambda: F.max_pool2d(t32(1, 1, 8, 8), 2, padding=2), ValueError,
     "padding should be at most half"),
    ("padding-too-large-dilated", lambda: F.max_pool2d(t32(1, 1, 8, 8), (4, 1), padding=(3, 0),
                                                       dilation=2), ValueError,
     "padding should be at most half"),
    ("negative-padding", lambda: F.avg_pool2d(t32(1, 1, 8, 8), 3, padding=-1), ValueError,
     "padding must be >= 0"),
    ("zero-kernel", lambda: F.max_pool2d(t32(1, 1, 8, 8), 0), ValueError,
     "kernel_size must be >= 1"),
    ("zero-stride", lambda: F.avg_pool2d(t32(1, 1, 8, 8), 2, 0), ValueError,
     "stride must be >= 1"),
    ("zero-dilation", lambda: F.max_pool2d(t32(1, 1, 8, 8), 2, dilation=(1, 0)), ValueError,
     "dilation must be >= 1"),
    ("float-kernel", lambda: F.max_pool2d(t32(1, 1, 8, 8), 2.0), TypeError, "kernel_size"),
    ("three-kernel", lambda: F.max_pool2d(t32(1, 1, 8, 8), (2, 2, 2)), ValueError,
     "kernel_size must be an int or a pair of ints"),
    ("bool-stride", lambda: F.avg_pool2d(t32(1, 1, 8, 8), 2, True), TypeError, "stride"),
    ("zero-divisor", lambda: F.avg_pool2d(t32(1, 1, 8, 8), 2, divisor_override=0), ValueError,
     "divisor_override must be non-zero"),
    ("float-divisor", lambda: F.avg_pool2d(t32(1, 1, 8, 8), 2, divisor_override=2.5), TypeError,
     "divisor_override"),
    ("adaptive-negative", lambda: F.adaptive_avg_pool2d(t32(1, 1, 8, 8), (-1, 2)), ValueError,
     "output_size must be >= 0"),
    ("adaptive-bad-size", lambda: F.adaptive_max_pool2d(t32(1, 1, 8, 8), (2, 2, 2)),
     RuntimeError, "output_size"),
    ("adaptive-empty-h", lambda: F.adaptive_avg_pool2d(t32(1, 1, 0, 8), 2), ValueError,
     "non-zero H and W"),
    ("adaptive-2d", lambda: F.adaptive_max_pool2d(t32(8, 8), 2), ValueError, r"\(N, C, H, W\)"),
    ("lp-zero-norm", lambda: F.lp_pool2d(t32(1, 1, 8, 8), 0, 2), ValueError, "norm_type"),
    ("lp-str-norm", lambda: F.lp_pool2d(t32(1, 1, 8, 8), "2", 2), TypeError, "norm_type"),
    ("lp-kernel-too-large", lambda: F.lp_pool2d(t32(1, 1, 2, 2), 2, 3), ValueError,
     "larger than the padded input"),
]


@pytest.mark.parametrize("call, exc, match", [r[1:] for r in BAD_OPS], ids=[r[0] for r in BAD_OPS])
def test_ops_reject_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_empty_batch_is_allowed_as_in_torch(torch):
    for fn, tfn in [(lambda t: F.max_pool2d(t, 2), lambda t: torch.nn.functional.max_pool2d(t, 2)),
                    (lambda t: F.avg_pool2d(t, 2), lambda t: torch.nn.functional.avg_pool2d(t, 2)),
                    (lambda t: F.adaptive_avg_pool2d(t, 3),
                     lambda t: torch.nn.functional.adaptive_avg_pool2d(t, 3))]:
        x = np.ones((0, 2, 4, 4), np.float32)
        assert fn(minicnn.tensor(x)).shape == tuple(tfn(torch.tensor(x)).shape)


X4 = np.ones((1, 2, 6, 6), np.float32)
G3 = np.ones((1, 2, 3, 3), np.float32)
I3 = np.zeros((1, 2, 3, 3), np.int64)
BAD_KERNEL_CALLS = [
    ("max-not-array", lambda b: b.max_pool2d([[1.0]], 2, 2, 2, 2, 0, 0, 1, 1, False), TypeError),
    ("max-int-dtype", lambda b: b.max_pool2d(X4.astype(np.int32), 2, 2, 2, 2, 0, 0, 1, 1, False),
     TypeError),
    ("max-3d", lambda b: b.max_pool2d(X4[0], 2, 2, 2, 2, 0, 0, 1, 1, False), ValueError),
    ("max-noncontig", lambda b: b.max_pool2d(X4[..., ::2], 2, 2, 2, 2, 0, 0, 1, 1, False),
     ValueError),
    ("max-zero-stride", lambda b: b.max_pool2d(X4, 2, 2, 0, 2, 0, 0, 1, 1, False), ValueError),
    ("max-big-pad", lambda b: b.max_pool2d(X4, 2, 2, 2, 2, 2, 0, 1, 1, False), ValueError),
    ("max-too-small", lambda b: b.max_pool2d(X4, 7, 2, 1, 1, 0, 0, 1, 1, False), ValueError),
    ("maxb-int32-indices", lambda b: b.max_pool2d_backward(G3, I3.astype(np.int32), 6, 6),
     TypeError),
    ("maxb-shape-mismatch", lambda b: b.max_pool2d_backward(G3, I3[:, :1], 6, 6), ValueError),
    ("maxb-bad-H", lambda b: b.max_pool2d_backward(G3, I3, 0, 6), ValueError),
    ("avg-zero-divisor", lambda b: b.avg_pool2d(X4, 2, 2, 2, 2, 0, 0, False, True, 0), ValueError),
    ("avg-f16", lambda b: b.avg_pool2d(X4.astype(np.float16), 2, 2, 2, 2, 0, 0, False, True, None),
     TypeError),
    ("avgb-wrong-grad-shape",
     lambda b: b.avg_pool2d_backward(G3, 8, 8, 2, 2, 2, 2, 0, 0, False, True, None), ValueError),
    ("avgb-kernel-too-large",
     lambda b: b.avg_pool2d_backward(G3, 2, 2, 3, 3, 1, 1, 0, 0, False, True, None), ValueError),
    ("adaptive-negative", lambda b: b.adaptive_avg_pool2d(X4, -1, 2), ValueError),
    ("adaptive-max-3d", lambda b: b.adaptive_max_pool2d(X4[0], 2, 2), ValueError),
    ("adaptiveb-3d", lambda b: b.adaptive_avg_pool2d_backward(G3[0], 6, 6), ValueError),
    # low-dimensional arrays: the wrappers check ndim before reading a shape (no bounds checks)
    ("max-0d", lambda b: b.max_pool2d(np.ones((), np.float32), 1, 1, 1, 1, 0, 0, 1, 1, False),
     ValueError),
    ("maxb-1d", lambda b: b.max_pool2d_backward(np.ones(4, np.float32), np.zeros(4, np.int64), 2,
                                                2), ValueError),
    ("avg-1d", lambda b: b.avg_pool2d(np.ones(4, np.float32), 1, 1, 1, 1, 0, 0, False, True,
                                      None), ValueError),
    ("avgb-0d", lambda b: b.avg_pool2d_backward(np.ones((), np.float32), 2, 2, 1, 1, 1, 1, 0, 0,
                                                False, True, None), ValueError),
    ("adaptive-1d", lambda b: b.adaptive_avg_pool2d(np.ones(4, np.float32), 1, 1), ValueError),
    ("adaptive-max-0d", lambda b: b.adaptive_max_pool2d(np.ones((), np.float64), 1, 1),
     ValueError),
    ("adaptiveb-1d", lambda b: b.adaptive_avg_pool2d_backward(np.ones(3, np.float32), 2, 2),
     ValueError),
]


@pytest.mark.parametrize("call, exc", [r[1:] for r in BAD_KERNEL_CALLS],
                         ids=[r[0] for r in BAD_KERNEL_CALLS])
def test_c_kernels_reject_bad_input(call, exc):
    """The C wrappers raise (naming the argument); the C code never sees an invalid size."""
    with pytest.raises(exc):
        call(_cpu)


REFERENCE_VALIDATES = ["max-zero-stride", "max-big-pad", "max-too-small", "maxb-shape-mismatch",
                       "avgb-wrong-grad-shape", "avgb-kernel-too-large", "adaptive-negative",
                       "adaptive-max-3d", "max-3d"]


@pytest.mark.parametrize("call, exc",
                         [r[1:] for r in BAD_KERNEL_CALLS if r[0] in REFERENCE_VALIDATES],
                         ids=REFERENCE_VALIDATES)
def test_reference_kernels_validate_the_window(call, exc):
    with pytest.raises(exc):
        call(reference)
