"""The convolution family: conv2d, its two gradients, im2col/col2im, conv_transpose2d.

Layers (docs: DESIGN.md, "Tests, in layers"):

1. A naive loop convolution written here, straight from the definition
       y[n, k, oh, ow] = sum_{c, i, j} xpad[n, g Cg + c, oh sh + i dh, ow sw + j dw] w[k, c, i, j]
   (and its two gradients, derived by hand from the same loops) is the absolute reference: both
   the C kernels (minicnn.backends._cpu) and the NumPy reference kernels must equal it. The
   adjoint identities <conv(x), gy> = <x, dconv/dx(gy)> = <w, dconv/dw(gy)> and
   <im2col(x), c> = <x, col2im(c)> check the gradients without any reference at all.
2. C kernel == reference kernel on the same hypothesis-drawn configurations (batch 1..4,
   C_in 1..9, H != W, non-square kernels 1..5, stride 1..3, padding 0..3, dilation 1..3, groups 1,
   2, C_in and depthwise with channel multiplier 2, 1x1 pointwise), float32 and float64, also
   above the OpenMP threshold and bit-identical with 1 and 2 threads.
3. minicnn.nn.functional.conv2d / conv_transpose2d == PyTorch (values and gradients of input,
   weight and bias) on both devices "cpu" and "numpy", and float64 gradcheck.
4. Bad input raises TypeError/ValueError naming the argument (public functions and the C
   wrappers), never crashes; the forward never builds a batch-wide column matrix.
"""
import subprocess
import sys
import tracemalloc
from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import minicnn
from minicnn import backends
from minicnn.backends import conv2d_algorithm, reference
from minicnn.utils import gradcheck

F = minicnn.nn.functional
_cpu = backends._cpu
pytestmark = pytest.mark.skipif(_cpu is None, reason="the C extension is not built")

DTYPES = (np.float32, np.float64)
DEVICES = ("cpu", "numpy")
MODULES = {"C": _cpu, "reference": reference}
# the `torch` fixture only returns the module, so reusing it across examples is harmless
HSET = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.filter_too_much])
seeds = st.integers(0, 2 ** 32 - 1)


def tol(dtype, expected=None):
    """float32: rtol 1e-4; float64: 1e-10; atol scaled by the largest expected magnitude."""
    scale = 1.0
    if expected is not None and np.size(expected):
        scale = max(1.0, float(np.abs(expected).max()))
    if np.dtype(dtype) == np.float32:
        return dict(rtol=1e-4, atol=1e-4 * scale)
    return dict(rtol=1e-10, atol=1e-10 * scale)


def assert_close(got, expected, dtype, what=""):
    got = np.asarray(got)
    assert got.shape == np.shape(expected), f"{what}: shape {got.shape} != {np.shape(expected)}"
    np.testing.assert_allclose(got, expected, err_msg=what, **tol(dtype, expected))


def out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


# ---------------------------------------------------------------- configurations

@dataclass(frozen=True)
class Cfg:
    """One convolution: input (N, C, H, W), weight (K, C / groups, kh, kw), geometry, dtype."""

    N: int
    C: int
    H: int
    W: int
    K: int
    kh: int
    kw: int
    sh: int = 1
    sw: int = 1
    ph: int = 0
    pw: int = 0
    dh: int = 1
    dw: int = 1
    groups: int = 1
    dtype: type = np.float64

    @property
    def Ho(self):
        return out_size(self.H, self.kh, self.sh, self.ph, self.dh)

    @property
    def Wo(self):
        return out_size(self.W, self.kw, self.sw, self.pw, self.dw)

    @property
    def geometry(self):
        """The trailing arguments of every conv kernel: sh, sw, ph, pw, dh, dw, groups."""
        return (self.sh, self.sw, self.ph, self.pw, self.dh, self.dw, self.groups)

    @property
    def taps(self):
        """The trailing arguments of im2col: sh, sw, ph, pw, dh, dw."""
        return self.geometry[:6]

    @property
    def path(self):
        """Which code path of _cpu.conv2d this configuration takes (the extension's own rule,
        backends.conv2d_algorithm; "pointwise": the GEMM without im2col)."""
        if self.groups == self.C and self.groups > 1:
            return "depthwise"
        algorithm = conv2d_algorithm((self.N, self.C, self.H, self.W),
                                     (self.K, self.C // self.groups, self.kh, self.kw),
                                     (self.sh, self.sw), (self.ph, self.pw), (self.dh, self.dw),
                                     self.groups)
        if algorithm != "gemm":
            return algorithm
        if (self.kh, self.kw, self.sh, self.sw, self.ph, self.pw) == (1, 1, 1, 1, 0, 0):
            return "pointwise"
        return "gemm"

    def data(self, seed):
        """x, weight, bias, grad_output in self.dtype."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((self.N, self.C, self.H, self.W))
        w = rng.standard_normal((self.K, self.C // self.groups, self.kh, self.kw))
        b = rng.standard_normal(self.K)
        gy = rng.standard_normal((self.N, self.K, self.Ho, self.Wo))
        return tuple(np.ascontiguousarray(a.astype(self.dtype)) for a in (x, w, b, gy))


KINDS = ("dense", "groups2", "depthwise", "depthwise_x2", "pointwise", "winograd", "wide")


@st.composite
def configs(draw, kinds=KINDS, dtypes=DTYPES):
    """A valid convolution (kernel no larger than the padded input) of one of ``kinds``:
    dense (groups 1), groups2, depthwise (groups = C_in = C_out), depthwise_x2 (channel
    multiplier 2: C_out = 2 C_in), pointwise (1x1, stride 1, no padding), winograd (3x3,
    stride 1, >= 32 channels in and out on small images: the Winograd F(2x2, 3x3) path), wide
    (dense with 9 to 70 output channels: several micro-kernel blocks of the GEMM path, and
    their edges)."""
    kind = draw(st.sampled_from(kinds))
    N = draw(st.integers(1, 8))
    H = draw(st.integers(3, 12))
    W = draw(st.integers(3, 11))
    W += W >= H  # 3..12 without H
    if kind == "groups2":
        groups, C, K = 2, draw(st.sampled_from([2, 4, 6, 8])), 2 * draw(st.integers(1, 4))
    elif kind.startswith("depthwise"):
        C = draw(st.integers(2, 17))
        groups, K = C, (C if kind == "depthwise" else 2 * C)
    else:
        C, K, groups = draw(st.integers(1, 17)), draw(st.integers(1, 8)), 1
        if kind == "pointwise" and C % 2 == 0 and K % 2 == 0 and draw(st.booleans()):
            groups = 2
    if kind == "winograd":
        C, K = draw(st.integers(32, 48)), draw(st.integers(32, 48))
        N = draw(st.integers(9, 12))  # >= 128 output tiles: the batches Winograd takes
        H, W = draw(st.integers(10, 12)), draw(st.integers(10, 12))
    if kind == "wide":
        C, K = draw(st.integers(1, 12)), draw(st.integers(9, 70))
        N = draw(st.integers(1, 3))
    if kind == "pointwise":
        kh = kw = sh = sw = 1
        ph = pw = 0
    elif kind == "winograd":
        kh = kw = 3
        sh = sw = 1
        ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    else:
        kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
        sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    dh, dw = (1, 1) if kind == "winograd" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    cfg = Cfg(N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw, groups, draw(st.sampled_from(dtypes)))
    assume(cfg.Ho >= 1 and cfg.Wo >= 1)
    assert kind != "winograd" or cfg.path == "winograd", cfg
    return cfg


# ---------------------------------------------------------------- the naive loop convolution

def _window(cfg, oh, ow):
    """Index of the (C / groups, kh, kw) input window of output (oh, ow) in the padded input:
    rows oh sh + i dh (i < kh), columns ow sw + j dw (j < kw)."""
    return (slice(oh * cfg.sh, oh * cfg.sh + cfg.dh * (cfg.kh - 1) + 1, cfg.dh),
            slice(ow * cfg.sw, ow * cfg.sw + cfg.dw * (cfg.kw - 1) + 1, cfg.dw))


def _pad(x, cfg):
    return np.pad(x.astype(np.float64), ((0, 0), (0, 0), (cfg.ph, cfg.ph), (cfg.pw, cfg.pw)))


def naive_conv2d(x, w, b, cfg):
    """y[n, k, oh, ow] = sum over (c, i, j) of the window times w[k] (+ b[k]): loops over k, oh, ow;
    the batch n and the (c, i, j) sum vectorized. Computed in float64."""
    xp, w = _pad(x, cfg), w.astype(np.float64)
    Cg, Kg = cfg.C // cfg.groups, cfg.K // cfg.groups
    y = np.zeros((cfg.N, cfg.K, cfg.Ho, cfg.Wo))
    for k in range(cfg.K):
        chans = slice(k // Kg * Cg, (k // Kg + 1) * Cg)
        for oh in range(cfg.Ho):
            for ow in range(cfg.Wo):
                win = xp[(slice(None), chans) + _window(cfg, oh, ow)]  # (N, Cg, kh, kw)
                y[:, k, oh, ow] = (win * w[k]).sum(axis=(1, 2, 3))
    if b is not None:
        y += b.astype(np.float64)[None, :, None, None]
    return y


def naive_conv2d_backward_input(gy, w, cfg):
    """dL/dx: every output (n, k, oh, ow) sends gy[n, k, oh, ow] * w[k] back onto its window,
    then the padding is cut off. Float64."""
    gy, w = gy.astype(np.float64), w.astype(np.float64)
    Cg, Kg = cfg.C // cfg.groups, cfg.K // cfg.groups
    gxp = np.zeros((cfg.N, cfg.C, cfg.H + 2 * cfg.ph, cfg.W + 2 * cfg.pw))
    for k in range(cfg.K):
        chans = slice(k // Kg * Cg, (k // Kg + 1) * Cg)
        for oh in range(cfg.Ho):
            for ow in range(cfg.Wo):
                gxp[(slice(None), chans) + _window(cfg, oh, ow)] += (
                    gy[:, k, oh, ow][:, None, None, None] * w[k])
    return gxp[:, :, cfg.ph:cfg.ph + cfg.H, cfg.pw:cfg.pw + cfg.W]


def naive_conv2d_backward_weight(gy, x, cfg):
    """dL/dw[k] = sum over (n, oh, ow) of gy[n, k, oh, ow] * window(n, oh, ow). Float64."""
    xp, gy = _pad(x, cfg), gy.astype(np.float64)
    Cg, Kg = cfg.C // cfg.groups, cfg.K // cfg.groups
    gw = np.zeros((cfg.K, Cg, cfg.kh, cfg.kw))
    for k in range(cfg.K):
        chans = slice(k // Kg * Cg, (k // Kg + 1) * Cg)
        for oh in range(cfg.Ho):
            for ow in range(cfg.Wo):
                win = xp[(slice(None), chans) + _window(cfg, oh, ow)]  # (N, Cg, kh, kw)
                gw[k] += np.tensordot(gy[:, k, oh, ow], win, axes=(0, 0))
    return gw


def scalar_conv2d(x, w, cfg):
    """The definition with every index a Python loop (n, k, oh, ow, c, i, j) and explicit bounds
    tests instead of padding: slow, used on tiny configurations to check naive_conv2d."""
    Cg, Kg = cfg.C // cfg.groups, cfg.K // cfg.groups
    y = np.zeros((cfg.N, cfg.K, cfg.Ho, cfg.Wo))
    for n in range(cfg.N):
        for k in range(cfg.K):
            for oh in range(cfg.Ho):
                for ow in range(cfg.Wo):
                    s = 0.0
                    for c in range(Cg):
                        for i in range(cfg.kh):
                            for j in range(cfg.kw):
                                r = oh * cfg.sh - cfg.ph + i * cfg.dh
                                q = ow * cfg.sw - cfg.pw + j * cfg.dw
                                if 0 <= r < cfg.H and 0 <= q < cfg.W:
                                    s += float(x[n, k // Kg * Cg + c, r, q]) * float(w[k, c, i, j])
                    y[n, k, oh, ow] = s
    return y


def naive_im2col(x, cfg):
    """cols[(c kh + i) kw + j, oh Wo + ow] = xpad[c, oh sh + i dh, ow sw + j dw]."""
    xp = _pad(x[None], cfg)[0]
    cols = np.zeros((x.shape[0], cfg.kh, cfg.kw, cfg.Ho, cfg.Wo))
    for i in range(cfg.kh):
        for j in range(cfg.kw):
            for oh in range(cfg.Ho):
                for ow in range(cfg.Wo):
                    r, q = oh * cfg.sh + i * cfg.dh, ow * cfg.sw + j * cfg.dw
                    cols[:, i, j, oh, ow] = xp[:, r, q]
    return cols.reshape(-1, cfg.Ho * cfg.Wo)


def naive_col2im(cols, cfg):
    """x[c, r, q] = sum of every cols entry whose tap reads input pixel (c, r, q)."""
    C = cols.shape[0] // (cfg.kh * cfg.kw)
    cols = cols.astype(np.float64).reshape(C, cfg.kh, cfg.kw, cfg.Ho, cfg.Wo)
    xp = np.zeros((C, cfg.H + 2 * cfg.ph, cfg.W + 2 * cfg.pw))
    for i in range(cfg.kh):
        for j in range(cfg.kw):
            for oh in range(cfg.Ho):
                for ow in range(cfg.Wo):
                    r, q = oh * cfg.sh + i * cfg.dh, ow * cfg.sw + j * cfg.dw
                    xp[:, r, q] += cols[:, i, j, oh, ow]
    return xp[:, cfg.ph:cfg.ph + cfg.H, cfg.pw:cfg.pw + cfg.W]


TINY = [
    Cfg(2, 3, 5, 4, 2, 2, 3, 1, 2, 1, 0, 1, 1, 1),
    Cfg(1, 4, 6, 5, 6, 3, 2, 2, 1, 2, 1, 2, 1, 2),
    Cfg(2, 3, 7, 4, 6, 2, 2, 1, 1, 0, 3, 3, 2, 3),
    Cfg(1, 2, 4, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1),
]


@pytest.mark.parametrize("cfg", TINY, ids=[c.path + str(i) for i, c in enumerate(TINY)])
def test_naive_conv2d_is_the_definition(cfg):
    """The vectorized naive loops equal the all-scalar loops (so they are the definition)."""
    x, w, _, gy = cfg.data(1)
    y = naive_conv2d(x, w, None, cfg)
    np.testing.assert_allclose(y, scalar_conv2d(x, w, cfg), rtol=1e-12, atol=1e-12)
    # and the naive gradients are the adjoints of the naive forward
    lhs = np.vdot(y, gy)
    np.testing.assert_allclose(np.vdot(x, naive_conv2d_backward_input(gy, w, cfg)), lhs, rtol=1e-10)
    np.testing.assert_allclose(np.vdot(w, naive_conv2d_backward_weight(gy, x, cfg)), lhs,
                               rtol=1e-10)


def test_naive_conv2d_known_values():
    """A hand-computed case: a 2x2 box filter over 0..11 with zero padding 1 on the left only
    visible in the first column."""
    x = np.arange(12, dtype=np.float64).reshape(1, 1, 3, 4)
    w = np.ones((1, 1, 2, 2))
    cfg = Cfg(1, 1, 3, 4, 1, 2, 2, pw=1, sw=2)
    y = naive_conv2d(x, w, np.array([0.5]), cfg)
    # Wo = (4 + 2 - 1 - 1) // 2 + 1 = 3; windows at padded columns 0-1, 2-3, 4-5
    expected = np.array([[0 + 4, 1 + 2 + 5 + 6, 3 + 7], [4 + 8, 5 + 6 + 9 + 10, 7 + 11]]) + 0.5
    np.testing.assert_array_equal(y[0, 0], expected)
    for mod in MODULES.values():
        np.testing.assert_allclose(mod.conv2d(x, w, np.array([0.5]), *cfg.geometry)[0, 0], expected)


# ---------------------------------------------------------------- kernels == naive loops

def _check_kernels_forward(cfg, seed, with_bias):
    x, w, b, _ = cfg.data(seed)
    b = b if with_bias else None
    x0, w0 = x.copy(), w.copy()
    expected = naive_conv2d(x, w, b, cfg)
    got = {}
    for name, mod in MODULES.items():
        y = mod.conv2d(x, w, b, *cfg.geometry)
        assert isinstance(y, np.ndarray) and y.dtype == cfg.dtype and y.flags.c_contiguous, name
        assert_close(y, expected, cfg.dtype, f"{name} conv2d vs naive ({cfg.path})")
        got[name] = y
    np.testing.assert_array_equal(x, x0)  # inputs untouched
    np.testing.assert_array_equal(w, w0)
    assert_close(got["C"], got["reference"], cfg.dtype, "C vs reference")


@given(cfg=configs(), seed=seeds, with_bias=st.booleans())
def test_conv2d_kernels_match_naive_loops(cfg, seed, with_bias):
    _check_kernels_forward(cfg, seed, with_bias)


@given(cfg=configs(), seed=seeds)
def test_conv2d_backward_input_kernels_match_naive_loops(cfg, seed):
    _, w, _, gy = cfg.data(seed)
    expected = naive_conv2d_backward_input(gy, w, cfg)
    got = {}
    for name, mod in MODULES.items():
        gx = mod.conv2d_backward_input(gy, w, cfg.H, cfg.W, *cfg.geometry)
        assert gx.dtype == cfg.dtype and gx.flags.c_contiguous, name
        assert_close(gx, expected, cfg.dtype, f"{name} conv2d_backward_input vs naive ({cfg.path})")
        got[name] = gx
    assert_close(got["C"], got["reference"], cfg.dtype, "C vs reference")


@given(cfg=configs(), seed=seeds)
def test_conv2d_backward_weight_kernels_match_naive_loops(cfg, seed):
    x, _, _, gy = cfg.data(seed)
    expected = naive_conv2d_backward_weight(gy, x, cfg)
    got = {}
    for name, mod in MODULES.items():
        gw = mod.conv2d_backward_weight(gy, x, cfg.kh, cfg.kw, *cfg.geometry)
        assert gw.dtype == cfg.dtype and gw.flags.c_contiguous, name
        assert_close(gw, expected, cfg.dtype,
                     f"{name} conv2d_backward_weight vs naive ({cfg.path})")
        got[name] = gw
    assert_close(got["C"], got["reference"], cfg.dtype, "C vs reference")


@pytest.mark.parametrize("module", list(MODULES), ids=list(MODULES))
@given(cfg=configs(dtypes=(np.float64,)), seed=seeds)
def test_conv2d_gradients_are_adjoints(module, cfg, seed):
    """<conv(x; w), gy> == <x, backward_input(gy; w)> == <w, backward_weight(gy; x)>: the
    gradients of a bilinear map, with no reference implementation involved."""
    mod = MODULES[module]
    x, w, _, gy = cfg.data(seed)
    lhs = np.vdot(mod.conv2d(x, w, None, *cfg.geometry), gy)
    gx = mod.conv2d_backward_input(gy, w, cfg.H, cfg.W, *cfg.geometry)
    gw = mod.conv2d_backward_weight(gy, x, cfg.kh, cfg.kw, *cfg.geometry)
    scale = np.abs(x).sum() * np.abs(w).max() * np.abs(gy).max() + 1.0
    assert abs(np.vdot(x, gx) - lhs) <= 1e-12 * scale, (np.vdot(x, gx), lhs)
    assert abs(np.vdot(w, gw) - lhs) <= 1e-12 * scale, (np.vdot(w, gw), lhs)
    # linear in w: conv(x; a w1 + w2) = a conv(x; w1) + conv(x; w2)
    w2 = np.random.default_rng(seed ^ 1).standard_normal(w.shape)
    y12 = mod.conv2d(x, np.ascontiguousarray(2.5 * w + w2), None, *cfg.geometry)
    np.testing.assert_allclose(y12, 2.5 * mod.conv2d(x, w, None, *cfg.geometry)
                               + mod.conv2d(x, w2, None, *cfg.geometry), rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- im2col / col2im

@given(cfg=configs(kinds=("dense", "pointwise")), seed=seeds)
def test_im2col_matches_naive_and_reference(cfg, seed):
    x = cfg.data(seed)[0][0]  # one image (C, H, W)
    expected = naive_im2col(x, cfg)
    c = _cpu.im2col(x, cfg.kh, cfg.kw, *cfg.taps)
    r = reference.im2col(x, cfg.kh, cfg.kw, *cfg.taps)
    assert c.dtype == cfg.dtype and c.flags.c_contiguous
    assert c.shape == (cfg.C * cfg.kh * cfg.kw, cfg.Ho * cfg.Wo)
    np.testing.assert_array_equal(c, expected.astype(cfg.dtype))  # a pure copy: bit-exact
    np.testing.assert_array_equal(r, expected.astype(cfg.dtype))


@given(cfg=configs(kinds=("dense", "pointwise")), seed=seeds)
def test_col2im_matches_naive_and_reference_and_is_adjoint(cfg, seed):
    rng = np.random.default_rng(seed)
    x = cfg.data(seed)[0][0]
    cols = rng.standard_normal((cfg.C * cfg.kh * cfg.kw, cfg.Ho * cfg.Wo)).astype(cfg.dtype)
    expected = naive_col2im(cols, cfg)
    got = {}
    for name, mod in MODULES.items():
        img = mod.col2im(cols, cfg.C, cfg.H, cfg.W, cfg.kh, cfg.kw, *cfg.taps)
        assert img.dtype == cfg.dtype and img.shape == (cfg.C, cfg.H, cfg.W), name
        assert_close(img, expected, cfg.dtype, f"{name} col2im vs naive")
        # adjoint: <im2col(x), cols> == <x, col2im(cols)>
        lhs = np.vdot(mod.im2col(x, cfg.kh, cfg.kw, *cfg.taps).astype(np.float64), cols)
        rhs = np.vdot(x.astype(np.float64), img.astype(np.float64))
        eps = 1e-4 if cfg.dtype == np.float32 else 1e-11
        bound = eps * (np.abs(x).sum() * np.abs(cols).max() + 1)
        assert abs(lhs - rhs) <= bound, (name, lhs, rhs)
        got[name] = img
    assert_close(got["C"], got["reference"], cfg.dtype, "C vs reference")


# ---------------------------------------------------------------- above the OpenMP threshold

BIG = [  # the C loops above MC_PARALLEL_MIN (32768 in the tests, conftest: OpenMP on), chunking
    Cfg(2, 6, 30, 31, 5, 3, 5, 1, 2, 1, 2, 1, 2, 1, np.float32),
    Cfg(2, 8, 29, 31, 16, 3, 3, 2, 1, 1, 1, 2, 1, 8, np.float64),   # depthwise x2
    Cfg(3, 8, 25, 22, 8, 5, 4, 1, 1, 2, 3, 1, 1, 8, np.float32),    # depthwise
    Cfg(2, 8, 20, 21, 6, 1, 1, 1, 1, 0, 0, 1, 1, 2, np.float64),    # pointwise, groups 2
    Cfg(1, 4, 40, 33, 4, 2, 3, 3, 2, 0, 1, 2, 3, 2, np.float64),
    # batches that span several column chunks, the last one partial (images of 598 and 1120
    # output pixels), and large 1x1 images
    Cfg(5, 3, 28, 25, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1, np.float64),
    Cfg(3, 4, 36, 33, 4, 2, 2, 1, 1, 0, 0, 1, 1, 2, np.float32),
    Cfg(3, 4, 48, 45, 6, 1, 1, 1, 1, 0, 0, 1, 1, 1, np.float64),
    # Winograd: several image chunks (7 images forward, 2 for the weight gradient), the last
    # partial; odd output sizes (tiles hanging over the edge)
    Cfg(9, 64, 33, 33, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, np.float64),
    Cfg(3, 40, 13, 15, 36, 3, 3, 1, 1, 2, 0, 1, 1, 1, np.float32),
    # depthwise 3x3 stride 1 (MobileNet's): the unrolled 3x3 forward, and with padding 1 the
    # input gradient as a correlation with the flipped kernel; rows narrower than a vector
    Cfg(4, 32, 16, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 32, np.float32),
    Cfg(3, 24, 13, 7, 24, 3, 3, 1, 1, 1, 1, 1, 1, 24, np.float64),
    Cfg(2, 40, 9, 11, 40, 3, 3, 1, 1, 0, 1, 1, 1, 40, np.float32),   # not "same": the general loop
    # depthwise 3x3 stride 2 (MobileNet's downsampling): the forward's unrolled taps, odd sizes,
    # uneven padding, a channel multiplier
    Cfg(3, 24, 16, 16, 24, 3, 3, 2, 2, 1, 1, 1, 1, 24, np.float32),
    Cfg(2, 8, 9, 7, 16, 3, 3, 2, 2, 1, 0, 1, 1, 8, np.float64),
    Cfg(4, 6, 5, 6, 6, 3, 3, 2, 2, 0, 1, 1, 1, 6, np.float32),
    # the direct 3x3 kernel (stride 1, padding 1, at most 32 channels): output channels not a
    # multiple of its block of 4, rows narrower than a vector, one channel
    Cfg(3, 16, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, np.float32),
    Cfg(2, 3, 13, 7, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, np.float64),
    Cfg(2, 1, 5, 19, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, np.float32),
]


@pytest.fixture
def restore_threads():
    before = _cpu.get_num_threads()
    yield
    _cpu.set_num_threads(before)


@pytest.mark.parametrize("cfg", BIG, ids=[f"{i}-{c.path}-{np.dtype(c.dtype).name}"
                                         for i, c in enumerate(BIG)])
def test_big_configs_match_naive_and_are_thread_independent(cfg, restore_threads):
    x, w, b, gy = cfg.data(7)
    geo, taps = cfg.geometry, cfg.taps
    calls = {
        "conv2d": (lambda: _cpu.conv2d(x, w, b, *geo), naive_conv2d(x, w, b, cfg)),
        "backward_input": (lambda: _cpu.conv2d_backward_input(gy, w, cfg.H, cfg.W, *geo),
                           naive_conv2d_backward_input(gy, w, cfg)),
        "backward_weight": (lambda: _cpu.conv2d_backward_weight(gy, x, cfg.kh, cfg.kw, *geo),
                            naive_conv2d_backward_weight(gy, x, cfg)),
    }
    if cfg.groups == 1:
        img = x[0]
        cols = np.ascontiguousarray(naive_im2col(img, cfg).astype(cfg.dtype))
        calls["im2col"] = (lambda: _cpu.im2col(img, cfg.kh, cfg.kw, *taps), cols)
        calls["col2im"] = (lambda: _cpu.col2im(cols, cfg.C, cfg.H, cfg.W, cfg.kh, cfg.kw, *taps),
                           naive_col2im(cols, cfg))
    for name, (call, expected) in calls.items():
        _cpu.set_num_threads(1)
        one = call()
        _cpu.set_num_threads(2)
        two = call()
        np.testing.assert_array_equal(one, two, err_msg=f"{name}: 1 vs 2 threads")
        assert_close(one, expected, cfg.dtype, name)


# ---------------------------------------------------------------- PyTorch parity of the ops

def _parity(torch, device, mc_fn, t_fn, arrays, dtype, seed):
    """Forward values and the gradient of every array, minicnn on ``device`` vs torch."""
    xs = [minicnn.tensor(a, requires_grad=True, device=device) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = mc_fn(*xs), t_fn(*ts)
    assert isinstance(out, minicnn.Tensor) and out.device == minicnn.device(device)
    assert out.dtype == np.dtype(dtype)
    expected = ref.detach().numpy()
    assert tuple(out.shape) == expected.shape, (out.shape, expected.shape)
    assert_close(out.detach().numpy(), expected, dtype, "forward")
    g = np.random.default_rng(seed).standard_normal(expected.shape).astype(dtype)
    out.backward(g)
    ref.backward(torch.tensor(g))
    for i, (x, t) in enumerate(zip(xs, ts)):
        assert x.grad is not None, f"argument {i} got no gradient"
        assert x.grad.dtype == np.dtype(dtype)
        assert_close(x.grad.numpy(), t.grad.numpy(), dtype, f"gradient of argument {i}")


@st.composite
def public_conv2d_args(draw):
    """(cfg, padding argument, stride argument, dilation argument, bias?, unbatched?) with
    padding an int, a pair, "same" (stride 1) or "valid"."""
    cfg = draw(configs())
    mode = draw(st.sampled_from(["int", "pair", "same", "valid"]))
    if mode == "same":
        cfg = replace(cfg, sh=1, sw=1)
        padding = "same"
    elif mode == "valid":
        cfg = replace(cfg, ph=0, pw=0)
        padding = "valid"
    elif mode == "int":
        cfg = replace(cfg, pw=cfg.ph)
        padding = cfg.ph
    else:
        padding = (cfg.ph, cfg.pw)
    if mode != "same":
        assume(cfg.Ho >= 1 and cfg.Wo >= 1)
    stride = cfg.sh if cfg.sh == cfg.sw and draw(st.booleans()) else (cfg.sh, cfg.sw)
    dilation = cfg.dh if cfg.dh == cfg.dw and draw(st.booleans()) else (cfg.dh, cfg.dw)
    unbatched = draw(st.booleans())
    if unbatched:
        cfg = replace(cfg, N=1)
    return cfg, padding, stride, dilation, draw(st.booleans()), unbatched


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("device", DEVICES)
@HSET
@given(args=public_conv2d_args(), seed=seeds)
def test_conv2d_matches_torch(torch, device, args, seed):
    cfg, padding, stride, dilation, with_bias, unbatched = args
    x, w, b, _ = cfg.data(seed)
    if unbatched:
        x = x[0]
    arrays = [x, w, b] if with_bias else [x, w]
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=cfg.groups)

    def mc(x, w, b=None):
        return F.conv2d(x, w, b, **kw)

    def tf(x, w, b=None):
        return torch.nn.functional.conv2d(x, w, b, **kw)

    _parity(torch, device, mc, tf, arrays, cfg.dtype, seed)


@st.composite
def transpose_args(draw, dtypes=DTYPES):
    """conv_transpose2d: x (N, C_in, H, W), weight (C_in, C_out / groups, kh, kw),
    output_padding < stride."""
    N = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["dense", "groups2", "depthwise"]))
    if kind == "dense":
        C, groups = draw(st.integers(1, 6)), 1
    elif kind == "groups2":
        C, groups = draw(st.sampled_from([2, 4, 6])), 2
    else:
        C = draw(st.integers(2, 6))
        groups = C
    Kg = draw(st.integers(1, 3))
    H = draw(st.integers(2, 7))
    W = draw(st.integers(2, 6))
    W += W >= H  # 2..7 without H
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    oph, opw = draw(st.integers(0, sh - 1)), draw(st.integers(0, sw - 1))
    Ho = (H - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    Wo = (W - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    assume(Ho >= 1 and Wo >= 1)
    return dict(N=N, C=C, H=H, W=W, Kg=Kg, groups=groups, kernel=(kh, kw), stride=(sh, sw),
                padding=(ph, pw), output_padding=(oph, opw), dilation=(dh, dw), out=(Ho, Wo),
                dtype=draw(st.sampled_from(dtypes)), bias=draw(st.booleans()),
                unbatched=draw(st.booleans()))


def _transpose_arrays(a, seed):
    rng = np.random.default_rng(seed)
    N = 1 if a["unbatched"] else a["N"]
    x = rng.standard_normal((N, a["C"], a["H"], a["W"]))
    if a["unbatched"]:
        x = x[0]
    w = rng.standard_normal((a["C"], a["Kg"]) + a["kernel"])
    b = rng.standard_normal(a["Kg"] * a["groups"])
    arrays = [x, w, b] if a["bias"] else [x, w]
    return [np.ascontiguousarray(v.astype(a["dtype"])) for v in arrays]


def _transpose_kwargs(a):
    return dict(stride=a["stride"], padding=a["padding"], output_padding=a["output_padding"],
                groups=a["groups"], dilation=a["dilation"])


@pytest.mark.parametrize("device", DEVICES)
@HSET
@given(a=transpose_args(), seed=seeds)
def test_conv_transpose2d_matches_torch(torch, device, a, seed):
    kw = _transpose_kwargs(a)

    def mc(x, w, b=None):
        return F.conv_transpose2d(x, w, b, **kw)

    def tf(x, w, b=None):
        return torch.nn.functional.conv_transpose2d(x, w, b, **kw)

    _parity(torch, device, mc, tf, _transpose_arrays(a, seed), a["dtype"], seed)


@pytest.mark.parametrize("device", DEVICES)
@given(a=transpose_args(dtypes=(np.float64,)), seed=seeds)
def test_conv_transpose2d_matches_naive_loops(device, a, seed):
    """A transposed convolution is the input-gradient of the convolution it undoes: the naive
    backward loops give it, without torch."""
    a = dict(a, unbatched=False, bias=True)
    x, w, b = _transpose_arrays(a, seed)
    (sh, sw), (ph, pw), (dh, dw) = a["stride"], a["padding"], a["dilation"]
    cfg = Cfg(a["N"], a["Kg"] * a["groups"], a["out"][0], a["out"][1], a["C"], *a["kernel"],
              sh, sw, ph, pw, dh, dw, a["groups"])
    assert (cfg.Ho, cfg.Wo) == (a["H"], a["W"])
    expected = naive_conv2d_backward_input(x, w, cfg) + b[None, :, None, None]
    T = lambda v: minicnn.tensor(v, device=device)  # noqa: E731
    y = F.conv_transpose2d(T(x), T(w), T(b), **_transpose_kwargs(a))
    assert_close(y.numpy(), expected, np.float64, "conv_transpose2d vs naive")


@pytest.mark.parametrize("device", DEVICES)
@given(args=public_conv2d_args(), seed=seeds)
def test_conv2d_op_matches_naive_loops(device, args, seed):
    """F.conv2d, "same" padding included, against the naive loops (no torch needed)."""
    cfg, padding, stride, dilation, with_bias, unbatched = args
    x, w, b, _ = cfg.data(seed)
    b = b if with_bias else None
    if padding == "same":  # the odd extra row/column goes at the bottom/right
        th, tw = cfg.dh * (cfg.kh - 1), cfg.dw * (cfg.kw - 1)
        x_ = np.pad(x, ((0, 0), (0, 0), (0, th % 2), (0, tw % 2)))
        ref_cfg = replace(cfg, H=cfg.H + th % 2, W=cfg.W + tw % 2, ph=th // 2, pw=tw // 2)
        expected = naive_conv2d(x_, w, b, ref_cfg)
        assert expected.shape[2:] == (cfg.H, cfg.W)
    else:
        expected = naive_conv2d(x, w, b, cfg)
    T = lambda v: None if v is None else minicnn.tensor(v, device=device)  # noqa: E731
    y = F.conv2d(T(x[0] if unbatched else x), T(w), T(b), stride, padding, dilation, cfg.groups)
    assert_close(y.numpy(), expected[0] if unbatched else expected, cfg.dtype, "F.conv2d vs naive")


# output_padding >= stride is allowed by PyTorch when it is < dilation
OUTPUT_PADDING_GE_STRIDE = [
    dict(x=(1, 2, 4, 5), w=(2, 3, 3, 3), stride=1, dilation=2, output_padding=1),
    dict(x=(2, 2, 3, 4), w=(2, 1, 2, 3), stride=(2, 1), dilation=(3, 2), output_padding=(2, 1),
         groups=2),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", OUTPUT_PADDING_GE_STRIDE, ids=["s1d2op1", "groups2"])
def test_conv_transpose2d_output_padding_not_below_stride(torch, device, case):
    case = dict(case)
    xs, ws = case.pop("x"), case.pop("w")
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws),
              rng.standard_normal(ws[1] * case.get("groups", 1))]
    _parity(torch, device, lambda x, w, b: F.conv_transpose2d(x, w, b, **case),
            lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, **case),
            arrays, np.float64, 0)


@pytest.mark.parametrize("device", ["cpu", "numpy"])
@pytest.mark.parametrize("fn", ["conv2d", "conv_transpose2d"])
def test_empty_batch(torch, device, fn):
    x = np.zeros((0, 4, 5, 6))
    w = np.ones((4, 2, 3, 2))
    xt = minicnn.tensor(x, requires_grad=True, device=device)
    wt = minicnn.tensor(w, requires_grad=True, device=device)
    y = getattr(F, fn)(xt, wt, stride=2, padding=1, groups=2)
    ref = getattr(torch.nn.functional, fn)(torch.tensor(x), torch.tensor(w), stride=2, padding=1,
                                           groups=2)
    assert tuple(y.shape) == tuple(ref.shape)
    y.sum().backward()
    assert xt.grad.shape == x.shape
    np.testing.assert_array_equal(wt.grad.numpy(), np.zeros_like(w))


@pytest.mark.parametrize("module, groups", [
    pytest.param("C", 1, id="C-gemm"),
    pytest.param("C", 2, id="C-groups2"),
    pytest.param("C", 4, id="C-depthwise"),
    pytest.param("reference", 1, id="reference-gemm"),
    pytest.param("reference", 2, id="reference-groups2"),
    pytest.param("reference", 4, id="reference-depthwise"),
])
def test_kernels_on_an_empty_batch(module, groups):
    mod = MODULES[module]
    cfg = Cfg(0, 4, 5, 6, 4, 3, 2, 2, 2, 1, 1, 1, 1, groups)
    x, w, _, gy = cfg.data(0)
    assert mod.conv2d(x, w, None, *cfg.geometry).shape == gy.shape
    assert mod.conv2d_backward_input(gy, w, cfg.H, cfg.W, *cfg.geometry).shape == x.shape
    gw = mod.conv2d_backward_weight(gy, x, cfg.kh, cfg.kw, *cfg.geometry)
    np.testing.assert_array_equal(gw, np.zeros_like(w))


# ---------------------------------------------------------------- gradcheck (float64)

GRADCHECK_CONV = [
    dict(x=(2, 3, 5, 4), w=(4, 3, 2, 3), b=4, stride=1, padding=1),
    dict(x=(1, 4, 5, 6), w=(4, 2, 3, 2), b=4, stride=2, padding=(1, 0), groups=2),
    dict(x=(1, 3, 6, 5), w=(6, 1, 2, 2), b=None, padding=1, dilation=2, groups=3),
    dict(x=(2, 2, 4, 5), w=(3, 2, 2, 3), b=3, padding="same", dilation=(1, 2)),
    dict(x=(1, 4, 3, 4), w=(2, 4, 1, 1), b=2),
]
GRADCHECK_TRANSPOSE = [
    dict(x=(1, 2, 3, 4), w=(2, 3, 2, 3), b=3, stride=2, padding=1, output_padding=1),
    dict(x=(1, 4, 3, 3), w=(4, 1, 3, 2), b=2, stride=(2, 1), dilation=2, groups=2),
    dict(x=(2, 3, 2, 3), w=(3, 2, 2, 2), b=None, stride=3, padding=(0, 1), output_padding=(2, 0),
         groups=3),
]


def _gradcheck(fn, case, device):
    case = dict(case)
    rng = np.random.default_rng(3)
    shapes = [case.pop("x"), case.pop("w")]
    nb = case.pop("b")
    if nb is not None:
        shapes.append((nb,))
    leaves = [minicnn.tensor(rng.standard_normal(s), requires_grad=True, device=device)
              for s in shapes]
    assert gradcheck(lambda *a: fn(*a, **case), leaves) is True


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", GRADCHECK_CONV, ids=[f"c{i}" for i in range(len(GRADCHECK_CONV))])
def test_conv2d_gradcheck(case, device):
    _gradcheck(F.conv2d, case, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", GRADCHECK_TRANSPOSE,
                         ids=[f"t{i}" for i in range(len(GRADCHECK_TRANSPOSE))])
def test_conv_transpose2d_gradcheck(case, device):
    _gradcheck(F.conv_transpose2d, case, device)


# ---------------------------------------------------------------- dispatch and code paths

KERNEL_NAMES = ["im2col", "col2im", "conv2d", "conv2d_backward_input", "conv2d_backward_weight"]


def test_backend_tables_use_c_on_cpu_and_reference_on_numpy():
    for name in KERNEL_NAMES:
        assert name in reference.__all__ and name in backends.c_kernels(), name
        assert getattr(backends.BACKENDS["cpu"], name) is getattr(_cpu, name), name
        assert getattr(backends.BACKENDS["numpy"], name) is getattr(reference, name), name


@pytest.mark.parametrize("fn", ["conv2d", "conv_transpose2d"])
def test_ops_run_the_c_kernels_only_on_cpu(monkeypatch, fn):
    calls = []
    for name in ["conv2d", "conv2d_backward_input", "conv2d_backward_weight"]:
        def spy(*args, _name=name):
            calls.append(_name)
            return getattr(_cpu, _name)(*args)
        monkeypatch.setattr(backends.BACKENDS["cpu"], name, spy)
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3, 5, 6)), rng.standard_normal((3, 3, 3, 2))
    grads = []
    for device in DEVICES:
        xt = minicnn.tensor(x, requires_grad=True, device=device)
        wt = minicnn.tensor(w, requires_grad=True, device=device)
        getattr(F, fn)(xt, wt, stride=2, padding=1).sum().backward()
        grads.append((xt.grad.numpy(), wt.grad.numpy()))
        if device == "cpu":
            assert sorted(calls) == sorted(["conv2d", "conv2d_backward_input",
                                            "conv2d_backward_weight"]), calls
    assert len(calls) == 3  # the numpy device did not touch the C table
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def _peak(call):
    """Peak bytes NumPy (and Python) allocate during ``call()``, by tracemalloc."""
    tracemalloc.start()
    try:
        out = call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out, peak


def test_tracemalloc_sees_numpy_allocations():
    """The memory tests below rely on NumPy reporting its buffers to tracemalloc."""
    _, peak = _peak(lambda: np.ones(1 << 20, dtype=np.float32))
    assert peak >= 4 << 20


MEM = Cfg(64, 15, 32, 32, 16, 3, 3, ph=1, pw=1, dtype=np.float32)  # im2col (15 < 16 channels)
MIB = 1 << 20


@pytest.fixture(scope="module")
def mem_data():
    return MEM.data(11)


@pytest.fixture
def one_thread(restore_threads):
    """Memory does not depend on the thread count; one thread keeps these big calls quick when
    the 2-core machine is shared (64 small OpenMP regions stall when the cores are busy)."""
    _cpu.set_num_threads(1)


@pytest.mark.parametrize("kernel", ["conv2d", "conv2d_backward_input", "conv2d_backward_weight"])
def test_no_batch_wide_column_matrix(mem_data, kernel, one_thread):
    """A full-batch im2col would need N * C * 9 * Ho * Wo * 4 = 34 MiB; the kernels may use the
    output plus at most two single-image column buffers (0.53 MiB each) plus slack."""
    x, w, _, gy = mem_data
    full_cols = MEM.N * MEM.C * 9 * MEM.Ho * MEM.Wo * 4
    one_cols = MEM.C * 9 * MEM.Ho * MEM.Wo * 4
    call = {
        "conv2d": lambda: _cpu.conv2d(x, w, None, *MEM.geometry),
        "conv2d_backward_input": lambda: _cpu.conv2d_backward_input(gy, w, MEM.H, MEM.W,
                                                                    *MEM.geometry),
        "conv2d_backward_weight": lambda: _cpu.conv2d_backward_weight(gy, x, 3, 3, *MEM.geometry),
    }[kernel]
    out, peak = _peak(call)
    limit = out.nbytes + 2 * one_cols + MIB
    assert peak < limit, f"{kernel}: peak {peak} bytes >= {limit} (full-batch columns: {full_cols})"
    assert limit < full_cols / 4


@pytest.mark.parametrize("kernel", ["conv2d", "conv2d_backward_input", "conv2d_backward_weight"])
def test_winograd_workspace_is_bounded(kernel, one_thread):
    """Winograd F(2x2, 3x3) on (64, 64, 32, 32): the transformed input of the whole batch would
    be 16 * N * (Ho / 2) * (Wo / 2) * C * 4 = 64 MiB; the kernels work through chunks of images
    with at most 16 MiB of workspace."""
    cfg = Cfg(64, 64, 32, 32, 64, 3, 3, ph=1, pw=1, dtype=np.float32)
    assert cfg.path == "winograd"
    x, w, _, gy = cfg.data(3)
    call = {
        "conv2d": lambda: _cpu.conv2d(x, w, None, *cfg.geometry),
        "conv2d_backward_input": lambda: _cpu.conv2d_backward_input(gy, w, cfg.H, cfg.W,
                                                                    *cfg.geometry),
        "conv2d_backward_weight": lambda: _cpu.conv2d_backward_weight(gy, x, 3, 3, *cfg.geometry),
    }[kernel]
    out, peak = _peak(call)
    assert peak < out.nbytes + 16 * MIB, f"{kernel}: peak {peak / MIB:.1f} MiB"


@pytest.mark.parametrize("path", ["depthwise", "depthwise_x2", "pointwise"])
def test_depthwise_and_pointwise_allocate_no_columns(mem_data, path, one_thread):
    """The direct depthwise kernel and the 1x1 shortcut (on large images, where one image's
    pixels fill a GEMM) need no column buffer: only the output (and a few small views) is
    allocated, which also shows that these paths are taken."""
    x, w, _, gy = mem_data
    if path == "pointwise":
        cfg = replace(MEM, N=2, H=128, W=128, kh=1, kw=1, ph=0, pw=0)
        x = np.ascontiguousarray(np.random.default_rng(1).standard_normal(
            (cfg.N, cfg.C, cfg.H, cfg.W)).astype(np.float32))
    else:
        cfg = replace(MEM, groups=MEM.C, K=MEM.C * (2 if path == "depthwise_x2" else 1))
    assert cfg.path == path.split("_")[0]
    w = np.ascontiguousarray(np.random.default_rng(0).standard_normal(
        (cfg.K, cfg.C // cfg.groups, cfg.kh, cfg.kw)).astype(np.float32))
    one_cols = cfg.C // cfg.groups * cfg.kh * cfg.kw * cfg.Ho * cfg.Wo * 4
    slack = min(one_cols // 2, 256 << 10)
    y, peak = _peak(lambda: _cpu.conv2d(x, w, None, *cfg.geometry))
    assert peak < y.nbytes + slack, (peak, y.nbytes, one_cols)
    gy = np.ascontiguousarray(np.ones_like(y))
    gx, peak = _peak(lambda: _cpu.conv2d_backward_input(gy, w, cfg.H, cfg.W, *cfg.geometry))
    assert peak < gx.nbytes + slack, (peak, gx.nbytes, one_cols)
    if path != "pointwise":
        gw, peak = _peak(lambda: _cpu.conv2d_backward_weight(gy, x, cfg.kh, cfg.kw, *cfg.geometry))
        assert peak < 2 * gw.nbytes + (64 << 10), (peak, gw.nbytes)


# ---------------------------------------------------------------- bad input: the public ops

def T(shape, dtype=np.float64, device="cpu"):
    return minicnn.tensor(np.ones(shape, dtype=dtype), device=device)


BAD_CONV2D = [  # (id, x shape, w shape, kwargs, exception, message regex)
    ("channels", (1, 3, 5, 5), (4, 2, 3, 3), {}, ValueError, r"3 channels.*\(4, 2, 3, 3\)"),
    ("cin_groups", (1, 3, 5, 5), (4, 1, 3, 3), dict(groups=2), ValueError, r"3 channels.*groups=2"),
    ("cout_groups", (1, 4, 5, 5), (3, 2, 3, 3), dict(groups=2), ValueError, r"3.*groups=2"),
    ("kernel_too_big", (1, 1, 3, 6), (1, 1, 5, 2), {}, ValueError, r"larger than the padded input"),
    ("dilated_too_big", (1, 1, 6, 6), (1, 1, 3, 3), dict(dilation=3, padding=(1, 0)), ValueError,
     r"larger than the padded input"),
    ("same_stride2", (1, 1, 6, 6), (1, 1, 3, 3), dict(padding="same", stride=2), ValueError,
     r"same"),
    ("padding_word", (1, 1, 6, 6), (1, 1, 3, 3), dict(padding="full"), ValueError, r"padding"),
    ("input_2d", (5, 5), (1, 1, 3, 3), {}, ValueError, r"input.*\(5, 5\)"),
    ("input_5d", (1, 1, 1, 5, 5), (1, 1, 3, 3), {}, ValueError, r"input"),
    ("weight_3d", (1, 1, 5, 5), (1, 3, 3), {}, ValueError, r"weight.*\(1, 3, 3\)"),
    ("neg_padding", (1, 1, 5, 5), (1, 1, 3, 3), dict(padding=-1), ValueError, r"padding"),
    ("neg_padding_pair", (1, 1, 5, 5), (1, 1, 3, 3), dict(padding=(0, -2)), ValueError, r"padding"),
    ("zero_stride", (1, 1, 5, 5), (1, 1, 3, 3), dict(stride=0), ValueError, r"stride"),
    ("stride_triple", (1, 1, 5, 5), (1, 1, 3, 3), dict(stride=(1, 1, 1)), ValueError, r"stride"),
    ("zero_dilation", (1, 1, 5, 5), (1, 1, 3, 3), dict(dilation=(1, 0)), ValueError, r"dilation"),
    ("zero_groups", (1, 1, 5, 5), (1, 1, 3, 3), dict(groups=0), ValueError, r"groups"),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", BAD_CONV2D, ids=[c[0] for c in BAD_CONV2D])
def test_conv2d_bad_arguments_raise(case, device):
    _, xs, ws, kw, exc, pattern = case
    with pytest.raises(exc, match=pattern):
        F.conv2d(T(xs, device=device), T(ws, device=device), **kw)


@pytest.mark.parametrize("device", DEVICES)
def test_conv2d_bad_bias_raises(device):
    x, w = T((1, 2, 5, 5), device=device), T((3, 2, 3, 3), device=device)
    with pytest.raises(ValueError, match=r"bias.*\(3,\).*\(4,\)"):
        F.conv2d(x, w, T((4,), device=device))
    with pytest.raises(ValueError, match=r"bias"):
        F.conv2d(x, w, T((1, 3), device=device))
    with pytest.raises(TypeError, match=r"float64.*float32|float32.*float64"):
        F.conv2d(x, w, T((3,), np.float32, device))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fn, ws", [("conv2d", (2, 3, 3, 3)), ("conv_transpose2d", (3, 2, 3, 3))])
def test_dtype_errors(fn, ws, device):
    f = getattr(F, fn)
    with pytest.raises(TypeError, match=r"int64"):
        f(T((1, 3, 5, 5), np.int64, device), T(ws, device=device))
    with pytest.raises(TypeError, match=r"int32"):
        f(T((1, 3, 5, 5), np.int32, device), T(ws, np.int32, device))
    with pytest.raises(TypeError, match=r"float32.*float64"):
        f(T((1, 3, 5, 5), np.float32, device), T(ws, np.float64, device))
    with pytest.raises(TypeError, match=r"float64.*float32"):
        f(T((1, 3, 5, 5), np.float64, device), T(ws, np.float32, device))
    with pytest.raises(TypeError):
        f(np.ones((1, 3, 5, 5)), T(ws, device=device))  # an ndarray, not a Tensor


@pytest.mark.parametrize("device", ["cpu", "numpy"])
@pytest.mark.parametrize("fn, ws", [("conv2d", (2, 3, 3, 3)), ("conv_transpose2d", (3, 2, 3, 3))])
def test_integer_weight_raises_type_error(fn, ws, device):
    with pytest.raises(TypeError, match=r"int64"):
        getattr(F, fn)(T((1, 3, 5, 5), device=device), T(ws, np.int64, device))


BAD_TRANSPOSE = [
    ("channels", (1, 3, 4, 4), (2, 2, 3, 3), {}, ValueError, r"3 channels.*\(2, 2, 3, 3\)"),
    ("cin_groups", (1, 3, 4, 4), (3, 1, 3, 3), dict(groups=2), ValueError, r"3.*groups=2"),
    ("output_padding", (1, 2, 4, 4), (2, 2, 3, 3), dict(stride=2, output_padding=2), ValueError,
     r"output_padding"),
    ("output_padding_vs_dilation", (1, 2, 4, 4), (2, 2, 3, 3),
     dict(stride=2, dilation=2, output_padding=(0, 2)), ValueError, r"output_padding"),
    ("nonpositive_output", (1, 2, 1, 1), (2, 2, 1, 1), dict(padding=1), ValueError, r"output size"),
    ("input_2d", (4, 4), (2, 2, 3, 3), {}, ValueError, r"input"),
    ("weight_3d", (1, 2, 4, 4), (2, 3, 3), {}, ValueError, r"weight"),
    ("neg_padding", (1, 2, 4, 4), (2, 2, 3, 3), dict(padding=-1), ValueError, r"padding"),
    ("zero_stride", (1, 2, 4, 4), (2, 2, 3, 3), dict(stride=0), ValueError, r"stride"),
    ("zero_dilation", (1, 2, 4, 4), (2, 2, 3, 3), dict(dilation=0), ValueError, r"dilation"),
    ("zero_groups", (1, 2, 4, 4), (2, 2, 3, 3), dict(groups=0), ValueError, r"groups"),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", BAD_TRANSPOSE, ids=[c[0] for c in BAD_TRANSPOSE])
def test_conv_transpose2d_bad_arguments_raise(case, device):
    _, xs, ws, kw, exc, pattern = case
    with pytest.raises(exc, match=pattern):
        F.conv_transpose2d(T(xs, device=device), T(ws, device=device), **kw)


@pytest.mark.parametrize("device", DEVICES)
def test_conv_transpose2d_bad_bias_raises(device):
    with pytest.raises(ValueError, match=r"bias.*\(4,\)"):
        F.conv_transpose2d(T((1, 2, 4, 4), device=device), T((2, 2, 3, 3), device=device),
                           T((3,), device=device), groups=2)


# ---------------------------------------------------------------- bad input: the C wrappers

def _ok():
    """Valid arguments: x (2, 4, 6, 5), weight (6, 2, 3, 2) with groups 2, stride 1, padding 1."""
    x, w = np.ones((2, 4, 6, 5)), np.ones((6, 2, 3, 2))
    geo = (1, 1, 1, 1, 1, 1, 2)
    gy = np.ones((2, 6, 6, 6))  # Ho = 6 + 2 - 2 - 1 + 1 = 6, Wo = 5 + 2 - 1 - 1 + 1 = 6
    return x, w, gy, geo


def _strided(a):
    return np.repeat(a, 2, axis=-1)[..., ::2]


C_BAD = [  # (id, call, exception, message regex)
    ("conv2d-x-list", lambda x, w, gy, g: _cpu.conv2d(x.tolist(), w, None, *g), TypeError,
     r"conv2d: x must be a numpy.ndarray"),
    ("conv2d-w-list", lambda x, w, gy, g: _cpu.conv2d(x, w.tolist(), None, *g), TypeError,
     r"weight must be a numpy.ndarray"),
    ("conv2d-b-list", lambda x, w, gy, g: _cpu.conv2d(x, w, [0.0] * 6, *g), TypeError,
     r"bias must be a numpy.ndarray"),
    ("conv2d-x-int", lambda x, w, gy, g: _cpu.conv2d(x.astype(np.int64), w, None, *g), TypeError,
     r"x must have dtype float32 or float64, got int64"),
    ("conv2d-x-f16", lambda x, w, gy, g: _cpu.conv2d(x.astype(np.float16), w, None, *g), TypeError,
     r"float16"),
    ("conv2d-mixed", lambda x, w, gy, g: _cpu.conv2d(x.astype(np.float32), w, None, *g), TypeError,
     r"float64.*float32"),
    ("conv2d-x-strided", lambda x, w, gy, g: _cpu.conv2d(_strided(x), w, None, *g), ValueError,
     r"x must be C-contiguous"),
    ("conv2d-x-fortran", lambda x, w, gy, g: _cpu.conv2d(np.asfortranarray(x), w, None, *g),
     ValueError, r"contiguous"),
    ("conv2d-w-strided", lambda x, w, gy, g: _cpu.conv2d(x, _strided(w), None, *g), ValueError,
     r"weight must be C-contiguous"),
    ("conv2d-x-3d", lambda x, w, gy, g: _cpu.conv2d(x[0], w, None, *g), ValueError,
     r"x must be 4-D.*\(4, 6, 5\)"),
    ("conv2d-w-3d", lambda x, w, gy, g: _cpu.conv2d(x, w[0], None, *g), ValueError,
     r"weight must be 4-D.*\(2, 3, 2\)"),
    ("conv2d-w-1d", lambda x, w, gy, g: _cpu.conv2d(x, w.ravel(), None, *g), ValueError,
     r"weight must be 4-D"),
    ("conv2d-channels", lambda x, w, gy, g: _cpu.conv2d(x[:, :3].copy(), w, None, *g), ValueError,
     r"3 channels.*\(6, 2, 3, 2\)"),
    ("conv2d-cout-groups", lambda x, w, gy, g: _cpu.conv2d(x, w[:5].copy(), None, *g), ValueError,
     r"groups=2"),
    ("conv2d-bias-shape", lambda x, w, gy, g: _cpu.conv2d(x, w, np.ones(5), *g), ValueError,
     r"bias must be \(6,\)"),
    ("conv2d-bias-dtype", lambda x, w, gy, g: _cpu.conv2d(x, w, np.ones(6, np.float32), *g),
     (TypeError, ValueError), r"bias.*float32"),
    ("conv2d-too-big", lambda x, w, gy, g: _cpu.conv2d(x, np.ones((6, 2, 9, 2)), None, *g),
     ValueError, r"larger than the padded input \(8, 7\)"),
    ("conv2d-stride0", lambda x, w, gy, g: _cpu.conv2d(x, w, None, 0, 1, 1, 1, 1, 1, 2), ValueError,
     r"stride must be >= 1, got \(0, 1\)"),
    ("conv2d-pad-neg", lambda x, w, gy, g: _cpu.conv2d(x, w, None, 1, 1, 1, -1, 1, 1, 2),
     ValueError, r"padding must be >= 0, got \(1, -1\)"),
    ("conv2d-dil0", lambda x, w, gy, g: _cpu.conv2d(x, w, None, 1, 1, 1, 1, 0, 1, 2), ValueError,
     r"dilation"),
    ("conv2d-groups0", lambda x, w, gy, g: _cpu.conv2d(x, w, None, 1, 1, 1, 1, 1, 1, 0), ValueError,
     r"groups must be >= 1, got 0"),
    ("bi-gy-shape",
     lambda x, w, gy, g: _cpu.conv2d_backward_input(gy[:, :, :5].copy(), w, 6, 5, *g), ValueError,
     r"grad_output must have shape \(2, 6, 6, 6\), got \(2, 6, 5, 6\)"),
    ("bi-gy-channels",
     lambda x, w, gy, g: _cpu.conv2d_backward_input(gy[:, :4].copy(), w, 6, 5, *g), ValueError,
     r"grad_output must have shape \(2, 6, 6, 6\)"),
    ("bi-gy-3d", lambda x, w, gy, g: _cpu.conv2d_backward_input(gy[0], w, 6, 5, *g), ValueError,
     r"grad_output and weight must be 4-D"),
    ("bi-gy-list", lambda x, w, gy, g: _cpu.conv2d_backward_input(gy.tolist(), w, 6, 5, *g),
     TypeError, r"grad_output must be a numpy.ndarray"),
    ("bi-gy-int", lambda x, w, gy, g: _cpu.conv2d_backward_input(gy.astype(np.int32), w, 6, 5, *g),
     TypeError, r"int32"),
    ("bi-gy-strided", lambda x, w, gy, g: _cpu.conv2d_backward_input(_strided(gy), w, 6, 5, *g),
     ValueError, r"grad_output must be C-contiguous"),
    ("bi-mixed", lambda x, w, gy, g: _cpu.conv2d_backward_input(gy, w.astype(np.float32), 6, 5, *g),
     TypeError, r"float32.*float64"),
    ("bi-w-3d", lambda x, w, gy, g: _cpu.conv2d_backward_input(gy, w[0], 6, 5, *g), ValueError,
     r"weight must be 4-D"),
    ("bi-wrong-H", lambda x, w, gy, g: _cpu.conv2d_backward_input(gy, w, 9, 5, *g), ValueError,
     r"grad_output must have shape"),
    ("bi-too-big", lambda x, w, gy, g: _cpu.conv2d_backward_input(gy, w, 1, 1, 1, 1, 0, 0, 1, 1, 2),
     ValueError, r"larger"),
    ("bi-stride0", lambda x, w, gy, g: _cpu.conv2d_backward_input(gy, w, 6, 5, 1, 0, 1, 1, 1, 1, 2),
     ValueError, r"stride"),
    ("bw-gy-shape",
     lambda x, w, gy, g: _cpu.conv2d_backward_weight(gy[..., :4].copy(), x, 3, 2, *g), ValueError,
     r"grad_output must have shape \(2, 6, 6, 6\), got \(2, 6, 6, 4\)"),
    ("bw-gy-batch", lambda x, w, gy, g: _cpu.conv2d_backward_weight(gy[:1].copy(), x, 3, 2, *g),
     ValueError, r"grad_output must have shape"),
    ("bw-gy-groups", lambda x, w, gy, g: _cpu.conv2d_backward_weight(gy[:, :5].copy(), x, 3, 2, *g),
     ValueError, r"groups=2"),
    ("bw-x-3d", lambda x, w, gy, g: _cpu.conv2d_backward_weight(gy, x[0], 3, 2, *g), ValueError,
     r"4-D"),
    ("bw-x-list", lambda x, w, gy, g: _cpu.conv2d_backward_weight(gy, x.tolist(), 3, 2, *g),
     TypeError, r"x must be a numpy.ndarray"),
    ("bw-x-strided", lambda x, w, gy, g: _cpu.conv2d_backward_weight(gy, _strided(x), 3, 2, *g),
     ValueError, r"x must be C-contiguous"),
    ("bw-mixed",
     lambda x, w, gy, g: _cpu.conv2d_backward_weight(gy.astype(np.float32), x, 3, 2, *g), TypeError,
     r"float64.*float32"),
    ("bw-x-bool", lambda x, w, gy, g: _cpu.conv2d_backward_weight(gy, x.astype(bool), 3, 2, *g),
     TypeError, r"bool"),
    ("bw-kernel0", lambda x, w, gy, g: _cpu.conv2d_backward_weight(gy, x, 0, 2, *g), ValueError,
     r"kernel size"),
    ("bw-groups0",
     lambda x, w, gy, g: _cpu.conv2d_backward_weight(gy, x, 3, 2, 1, 1, 1, 1, 1, 1, 0), ValueError,
     r"groups"),
    ("im2col-4d", lambda x, w, gy, g: _cpu.im2col(x, 3, 2, 1, 1, 1, 1, 1, 1), ValueError,
     r"im2col: x must be one image \(C, H, W\)"),
    ("im2col-list", lambda x, w, gy, g: _cpu.im2col(x[0].tolist(), 3, 2, 1, 1, 1, 1, 1, 1),
     TypeError, r"ndarray"),
    ("im2col-int", lambda x, w, gy, g: _cpu.im2col(x[0].astype(np.int64), 3, 2, 1, 1, 1, 1, 1, 1),
     TypeError, r"int64"),
    ("im2col-strided", lambda x, w, gy, g: _cpu.im2col(_strided(x[0]), 3, 2, 1, 1, 1, 1, 1, 1),
     ValueError, r"contiguous"),
    ("im2col-too-big", lambda x, w, gy, g: _cpu.im2col(x[0], 9, 2, 1, 1, 1, 1, 1, 1), ValueError,
     r"larger"),
    ("im2col-pad-neg", lambda x, w, gy, g: _cpu.im2col(x[0], 3, 2, 1, 1, -1, 1, 1, 1), ValueError,
     r"padding"),
    ("col2im-shape", lambda x, w, gy, g: _cpu.col2im(np.ones((24, 35)), 4, 6, 5, 3, 2, 1, 1, 1, 1,
                                                      1, 1), ValueError,
     r"cols must have shape \(24, 36\), got \(24, 35\)"),
    ("col2im-1d",
     lambda x, w, gy, g: _cpu.col2im(np.ones(24 * 36), 4, 6, 5, 3, 2, 1, 1, 1, 1, 1, 1), ValueError,
     r"cols must have shape"),
    ("col2im-strided",
     lambda x, w, gy, g: _cpu.col2im(_strided(np.ones((24, 36))), 4, 6, 5, 3, 2, 1, 1, 1, 1, 1, 1),
     ValueError, r"contiguous"),
    ("col2im-int", lambda x, w, gy, g: _cpu.col2im(np.ones((24, 36), np.int64), 4, 6, 5, 3, 2, 1, 1,
                                                    1, 1, 1, 1), TypeError, r"int64"),
    ("col2im-stride0", lambda x, w, gy, g: _cpu.col2im(np.ones((24, 36)), 4, 6, 5, 3, 2, 0, 1, 1, 1,
                                                        1, 1), ValueError, r"stride"),
]


@pytest.mark.parametrize("case", C_BAD, ids=[c[0] for c in C_BAD])
def test_c_wrappers_reject_bad_input(case):
    _, call, exc, pattern = case
    with pytest.raises(exc, match=pattern):
        call(*_ok())


def test_c_wrappers_accept_the_valid_arguments():
    """The baseline of C_BAD: the same arguments, unbroken, work (so each case tests one flaw)."""
    x, w, gy, g = _ok()
    assert _cpu.conv2d(x, w, np.ones(6), *g).shape == gy.shape
    assert _cpu.conv2d_backward_input(gy, w, 6, 5, *g).shape == x.shape
    assert _cpu.conv2d_backward_weight(gy, x, 3, 2, *g).shape == w.shape
    assert _cpu.im2col(x[0], 3, 2, 1, 1, 1, 1, 1, 1).shape == (24, 36)
    assert _cpu.col2im(np.ones((24, 36)), 4, 6, 5, 3, 2, 1, 1, 1, 1, 1, 1).shape == (4, 6, 5)


def _in_subprocess(code):
    """Run ``code`` in a fresh interpreter (a segfault must not take pytest down)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("weight", ["np.ones(4)", "np.ones(())"])
def test_conv2d_backward_input_low_dim_weight_raises(weight):
    result = _in_subprocess(
        "import numpy as np\n"
        "from minicnn.backends import _cpu\n"
        "try:\n"
        f"    _cpu.conv2d_backward_input(np.ones((1, 2, 3, 3)), {weight}, 5, 5,\n"
        "                               1, 1, 0, 0, 1, 1, 1)\n"
        "except ValueError as e:\n"
        "    print('ValueError', e)\n")
    assert result.returncode == 0, f"crashed with return code {result.returncode}: {result.stderr}"
    assert "ValueError" in result.stdout and "weight" in result.stdout


ZERO_CHANNEL_CALLS = {
    "F.conv2d": "F.conv2d(minicnn.tensor(np.ones((2, 0, 5, 6))), "
                "minicnn.tensor(np.ones((3, 0, 3, 2))))",
    "conv2d": "_cpu.conv2d(np.ones((2, 0, 5, 6)), np.ones((3, 0, 3, 2)), None, "
              "1, 1, 0, 0, 1, 1, 1)",
    "conv2d_backward_input": "_cpu.conv2d_backward_input(np.ones((2, 3, 3, 5)), "
                             "np.ones((3, 0, 3, 2)), 5, 6, 1, 1, 0, 0, 1, 1, 1)",
    "conv2d_backward_weight": "_cpu.conv2d_backward_weight(np.ones((2, 3, 3, 5)), "
                              "np.ones((2, 0, 5, 6)), 3, 2, 1, 1, 0, 0, 1, 1, 1)",
}


@pytest.mark.parametrize("call", list(ZERO_CHANNEL_CALLS), ids=list(ZERO_CHANNEL_CALLS))
def test_zero_input_channels_do_not_crash(call):
    """Zero input channels: the empty sum (zeros, as the reference gives) or a ValueError, but
    never a dead process."""
    result = _in_subprocess(
        "import numpy as np, minicnn\n"
        "from minicnn.backends import _cpu\n"
        "F = minicnn.nn.functional\n"
        "try:\n"
        f"    y = {ZERO_CHANNEL_CALLS[call]}\n"
        "    y = y.numpy() if hasattr(y, 'numpy') else y\n"
        "    assert not y.any(), y\n"
        "    print('zeros', y.shape)\n"
        "except ValueError as e:\n"
        "    print('ValueError', e)\n")
    assert result.returncode == 0, f"crashed with return code {result.returncode}: {result.stderr}"


_arrays = st.tuples(array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4),
                    st.sampled_from([np.float32, np.float64, np.int64])
                    ).map(lambda t: np.ones(t[0], t[1]))


@settings(max_examples=150)
@given(name=st.sampled_from(KERNEL_NAMES), a=_arrays, b=_arrays,
       c=st.one_of(st.none(), _arrays), geo=st.lists(st.integers(-1, 3), min_size=11, max_size=11))
def test_c_wrappers_never_crash_on_random_arguments(name, a, b, c, geo):
    """Random shapes, dtypes and geometry: a result or a TypeError/ValueError, nothing else."""
    try:
        if name == "conv2d":
            y = _cpu.conv2d(a, b, c, *geo[:7])
        elif name == "conv2d_backward_input":
            y = _cpu.conv2d_backward_input(a, b, *geo[:9])
        elif name == "conv2d_backward_weight":
            y = _cpu.conv2d_backward_weight(a, b, *geo[:9])
        elif name == "im2col":
            y = _cpu.im2col(a, *geo[:8])
        else:
            y = _cpu.col2im(a, *geo[:11])
    except (TypeError, ValueError):
        return
    assert isinstance(y, np.ndarray)


# ---------------------------------------------------------------- the Winograd reference

@given(cfg=configs(kinds=("winograd",), dtypes=(np.float64,)), seed=seeds)
def test_winograd_reference_is_the_convolution(cfg, seed):
    """reference/winograd.py (the algorithm the C fast path implements) against the naive loops,
    all three passes."""
    from minicnn.backends.reference import winograd
    x, w, _, gy = cfg.data(seed)
    assert_close(winograd.winograd_conv2d(x, w, cfg.ph, cfg.pw), naive_conv2d(x, w, None, cfg),
                 cfg.dtype, "forward")
    assert_close(winograd.winograd_conv2d_backward_weight(gy, x, cfg.ph, cfg.pw),
                 naive_conv2d_backward_weight(gy, x, cfg), cfg.dtype, "weight gradient")
    if cfg.ph <= 2 and cfg.pw <= 2:
        assert_close(winograd.winograd_conv2d_backward_input(gy, w, cfg.H, cfg.W, cfg.ph, cfg.pw),
                     naive_conv2d_backward_input(gy, w, cfg), cfg.dtype, "input gradient")


# ---------------------------------------------------------------- the two vector builds

_BUILD_SCRIPT = """
import sys
import numpy as np
from minicnn.backends import _cpu
rng = np.random.default_rng(0)
out = {}
# (N, C, H, W, K, kh, kw, stride, padding, dilation, groups): direct 3x3, Winograd (channels
# padded), im2col + GEMM (strided, grouped, dilated, 1x1), depthwise 3x3
cases = [(3, 5, 9, 11, 20, 3, 3, 1, 1, 1, 1), (2, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1),
         (2, 6, 12, 10, 16, 5, 5, 2, 2, 1, 2), (2, 8, 9, 9, 40, 3, 3, 1, 2, 2, 1),
         (4, 32, 6, 6, 24, 1, 1, 1, 0, 1, 1), (2, 12, 10, 10, 12, 3, 3, 1, 1, 1, 12)]
for dt in (np.float32, np.float64):
    for i, (N, C, H, W, K, kh, kw, s, p, d, g) in enumerate(cases):
        x = rng.standard_normal((N, C, H, W)).astype(dt)
        w = rng.standard_normal((K, C // g, kh, kw)).astype(dt)
        geo = (s, s, p, p, d, d, g)
        y = _cpu.conv2d(x, w, None, *geo)
        gy = rng.standard_normal(y.shape).astype(dt)
        out[f"conv{i}{dt.__name__}"] = y
        out[f"dx{i}{dt.__name__}"] = _cpu.conv2d_backward_input(gy, w, H, W, *geo)
        out[f"dw{i}{dt.__name__}"] = _cpu.conv2d_backward_weight(gy, x, kh, kw, *geo)
    for M in (3, 40):
        x = rng.standard_normal((M, 70)).astype(dt)
        w = rng.standard_normal((33, 70)).astype(dt)
        g = rng.standard_normal((M, 33)).astype(dt)
        out[f"lin{M}{dt.__name__}"] = _cpu.linear(x, w, None)
        out[f"lin_dx{M}{dt.__name__}"] = _cpu.linear_backward_input(g, w)
        out[f"lin_dw{M}{dt.__name__}"] = _cpu.linear_backward_weight(g, x)
np.savez(sys.argv[1], **out)
"""


def _avx2_cpu():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return all(f" {flag}" in flags for flag in ("avx2", "fma", "bmi2", "movbe"))


@pytest.mark.skipif(sys.platform != "linux" or not _avx2_cpu(), reason="needs an x86-64 AVX2 CPU")
def test_the_avx2_build_and_the_64_byte_build_agree(tmp_path):
    """conv_f32_avx2.c / conv_f64_avx2.c (32-byte vectors, what an AVX2 CPU without AVX-512
    runs) and conv_f32.c / conv_f64.c (64-byte vectors) compute the same convolutions and linear
    layers, each path of each: MINICNN_AVX2_KERNELS picks the build in a fresh process. Their
    blockings differ, so sums run in another order: equal to float rounding."""
    results = {}
    for choice in ("0", "1"):
        path = tmp_path / f"build{choice}.npz"
        env = dict(__import__("os").environ, MINICNN_AVX2_KERNELS=choice, OMP_NUM_THREADS="2")
        subprocess.run([sys.executable, "-c", _BUILD_SCRIPT, str(path)], env=env, check=True)
        results[choice] = np.load(path)
    wide, avx2 = results["0"], results["1"]
    assert sorted(wide.files) == sorted(avx2.files) and len(wide.files) == 48
    for key in wide.files:
        tol = 1e-5 if key.endswith("float32") else 1e-12
        scale = max(1.0, float(np.abs(wide[key]).max()))
        np.testing.assert_allclose(avx2[key], wide[key], rtol=0, atol=tol * scale, err_msg=key)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("C, K, H, k, stride, pad, dil, groups", [
    (4, 6, 9, 3, 1, 1, 1, 2), (8, 8, 8, 3, 2, 1, 1, 4), (3, 5, 11, 3, 1, 2, 2, 1),
    (16, 32, 8, 1, 1, 0, 1, 1), (6, 6, 7, 1, 2, 0, 1, 3), (64, 128, 16, 3, 1, 1, 1, 1),
    (5, 10, 6, 5, 1, 2, 1, 5)])
def test_one_image_weight_gradient(C, K, H, k, stride, pad, dil, groups, dtype):
    """At batch 1 the GEMM path's weight gradient is one product straight into place
    (conv_impl.h one_image_backward_weight): groups, strides, dilation, 1x1 and padding against
    the reference, the same bits on one thread and on two."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, C, H, H)).astype(dtype)
    Ho = (H + 2 * pad - dil * (k - 1) - 1) // stride + 1
    gy = rng.standard_normal((1, K, Ho, Ho)).astype(dtype)
    args = (k, k, stride, stride, pad, pad, dil, dil, groups)
    expected = reference.conv2d_backward_weight(gy, x, *args)
    before = _cpu.get_num_threads()
    try:
        got = []
        for threads in (1, 2):
            _cpu.set_num_threads(threads)
            got.append(_cpu.conv2d_backward_weight(gy, x, *args))
    finally:
        _cpu.set_num_threads(before)
    np.testing.assert_array_equal(got[0], got[1])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got[0], expected, rtol=tol, atol=tol * np.abs(expected).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N, C, K, H, k", [
    (1, 24, 96, 16, 1),   # 1x1, 64+ output channels: the forward packs the image
    (1, 96, 24, 32, 1),   # 1x1, few output channels: read in place; 96 rows: gradient packed
    (1, 32, 16, 16, 1),   # 1x1, both in place
    (1, 16, 40, 12, 5),   # 5x5 on one image: im2col and col2im split between the threads
    (3, 12, 20, 6, 5),    # chunks of images side by side, a partial last panel
    (2, 8, 70, 16, 1)])   # 1x1 on two images, each its own chunk, 70 rows (a partial block)
def test_panel_packed_operands(N, C, K, H, k, dtype):
    """The GEMM path's operands packed in panels (conv_impl.h: in_place_1x1, pack_grad,
    chunk_im2col_panels) and built by all of a shared GEMM's threads: forward, input gradient
    and weight gradient against the reference, the same bits on one thread and on two."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    w = rng.standard_normal((K, C, k, k)).astype(dtype)
    gy = rng.standard_normal((N, K, H, H)).astype(dtype)
    pad = k // 2
    assert conv2d_algorithm(x.shape, w.shape, (1, 1), (pad, pad)) == "gemm"
    geo = (1, 1, pad, pad, 1, 1, 1)
    passes = {
        "forward": (lambda m: m.conv2d(x, w, None, *geo)),
        "input": (lambda m: m.conv2d_backward_input(gy, w, H, H, *geo)),
        "weight": (lambda m: m.conv2d_backward_weight(gy, x, k, k, *geo))}
    before = _cpu.get_num_threads()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for name, run in passes.items():
        expected = run(reference)
        try:
            got = []
            for threads in (1, 2):
                _cpu.set_num_threads(threads)
                got.append(run(_cpu))
        finally:
            _cpu.set_num_threads(before)
        np.testing.assert_array_equal(got[0], got[1], err_msg=name)
        np.testing.assert_allclose(got[0], expected, rtol=tol, atol=tol * np.abs(expected).max(),
                                   err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N, C, M, H, pad", [
    (3, 21, 1, 4, 1),  # planes not a multiple of the vector: a partial last block
    (2, 8, 2, 4, 1),   # depth multiplier 2: two planes read one input channel
    (5, 7, 1, 2, 1), (4, 9, 1, 3, 0), (1, 3, 3, 2, 2), (2, 16, 1, 1, 1)])
def test_depthwise_small_planes(N, C, M, H, pad, dtype):
    """3x3 stride-1 depthwise convolutions of at most 16 output pixels run several planes at a
    time in an interleaved tile (conv_impl.h, mc_depthwise_interleaved): against the reference,
    the same bits on one thread and on two."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    w = rng.standard_normal((C * M, 1, 3, 3)).astype(dtype)
    geo = (1, 1, pad, pad, 1, 1, C)
    expected = reference.conv2d(x, w, None, *geo)
    before = _cpu.get_num_threads()
    try:
        got = []
        for threads in (1, 2):
            _cpu.set_num_threads(threads)
            got.append(_cpu.conv2d(x, w, None, *geo))
    finally:
        _cpu.set_num_threads(before)
    np.testing.assert_array_equal(got[0], got[1])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got[0], expected, rtol=tol, atol=tol * np.abs(expected).max())
