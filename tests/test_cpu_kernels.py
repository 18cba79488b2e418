"""Every C kernel of minicnn.backends._cpu against its NumPy twin in minicnn.backends.reference.

One table (KERNELS) drives the tests: hypothesis draws shapes from 0-d and empty arrays up to
~70000 elements (above MC_PARALLEL_MIN = 32768, so the OpenMP loops run), float32 and float64,
data sprinkled with extreme values (+-1e4, +-88, 0, -0.0). Results must also be bit-identical
with 1 and 2 threads. Then: bad input raises (never crashes), and the dispatch really runs C.
"""
import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import minicnn
from minicnn import backends
from minicnn.backends import reference

_cpu = backends._cpu  # None when the extension is not built: the module-level check below fails
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # nan/inf from the reference

PARALLEL_MIN = 32768  # csrc/cpu/mc_internal.h
EXTREMES = np.array([1e4, -1e4, 88.0, -88.0, 0.0, -0.0, 1e-20, -1e-20, 20.0, -20.0])


@dataclass
class Kernel:
    """A row of the table: how to call ``name`` and how close C and NumPy must be."""

    name: str
    kind: str  # "unary": f(x); "grad": f(gy, saved); "bias": f(x, b); "bias_grad": f(gy)
    kwargs: dict = field(default_factory=dict)
    transcendental: bool = False

    @property
    def id(self):
        extra = ",".join(f"{k}={v}" for k, v in self.kwargs.items())
        return f"{self.name}[{extra}]" if extra else self.name


KERNELS = [
    Kernel("relu", "unary"),
    Kernel("relu_backward", "grad"),
    Kernel("leaky_relu", "unary"),
    Kernel("leaky_relu", "unary", {"negative_slope": 0.2}),
    Kernel("leaky_relu_backward", "grad"),
    Kernel("leaky_relu_backward", "grad", {"negative_slope": 0.2}),
    Kernel("sigmoid", "unary", transcendental=True),
    Kernel("sigmoid_backward", "grad"),
    Kernel("tanh", "unary", transcendental=True),
    Kernel("tanh_backward", "grad"),
    Kernel("silu", "unary", transcendental=True),
    Kernel("silu_backward", "grad", transcendental=True),
    Kernel("gelu", "unary", {"approximate": "none"}, transcendental=True),
    Kernel("gelu", "unary", {"approximate": "tanh"}, transcendental=True),
    Kernel("gelu_backward", "grad", {"approximate": "none"}, transcendental=True),
    Kernel("gelu_backward", "grad", {"approximate": "tanh"}, transcendental=True),
    Kernel("bias_add", "bias"),
    Kernel("bias_add_backward", "bias_grad"),
]
KERNEL_IDS = [k.id for k in KERNELS]
DTYPES = [np.float32, np.float64]


def test_extension_is_built():
    assert _cpu is not None, f"minicnn.backends._cpu failed to import: {backends._CPU_IMPORT_ERROR}"


def test_table_names_exist_in_both_backends():
    for k in KERNELS:
        assert callable(getattr(_cpu, k.name)), k.name
        assert callable(getattr(reference, k.name)), k.name
    assert {k.name for k in KERNELS} <= set(backends.c_kernels())


# ---------------------------------------------------------------- data

def make_data(rng, shape, dtype, scale=1.0, extreme_fraction=0.1):
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    if x.size and extreme_fraction:
        flat = x.reshape(-1)
        mask = rng.random(flat.size) < extreme_fraction
        flat[mask] = rng.choice(EXTREMES, size=int(mask.sum())).astype(dtype)
    return np.ascontiguousarray(x)


def make_args(kernel, rng, shape, dtype, scale=1.0, extreme_fraction=0.1):
    """Positional arguments of ``kernel`` for an input (or grad_output) of ``shape``."""
    if kernel.kind == "unary":
        return (make_data(rng, shape, dtype, scale, extreme_fraction),)
    if kernel.kind == "grad":
        gy = make_data(rng, shape, dtype, 1.0, 0.0)
        saved = make_data(rng, shape, dtype, scale, extreme_fraction)
        return gy, saved
    if kernel.kind == "bias":
        return (make_data(rng, shape, dtype, scale, extreme_fraction),
                make_data(rng, (shape[1],), dtype, scale, extreme_fraction))
    if kernel.kind == "bias_grad":
        return (make_data(rng, shape, dtype, scale, extreme_fraction),)
    raise AssertionError(kernel.kind)


def tolerances(kernel, dtype):
    if dtype == np.float64:
        return dict(rtol=1e-12, atol=1e-12)
    if kernel.transcendental:
        return dict(rtol=1e-5, atol=1e-5)
    return dict(rtol=1e-6, atol=1e-6)


@st.composite
def shapes(draw, min_dims=0):
    """Tiny, small and parallel-sized (32768 .. 70000 elements) shapes of 0 to 4 dimensions;
    sizes of 0 included (except in the big ones)."""
    kind = draw(st.sampled_from(["special", "small", "big"]))
    if kind == "special":
        pool = [s for s in SPECIAL_SHAPES if len(s) >= min_dims]
        return draw(st.sampled_from(pool))
    if kind == "small":
        return draw(array_shapes(min_dims=min_dims, max_dims=4, min_side=0, max_side=9))
    ndim = draw(st.integers(max(min_dims, 1), 4))
    lead = [draw(st.integers(1, 4)) for _ in range(ndim - 1)]
    total = draw(st.integers(PARALLEL_MIN, 70000))
    return tuple(lead + [max(1, total // math.prod(lead))])


SPECIAL_SHAPES = [(), (0,), (1,), (7,), (3, 0), (2, 0, 5), (0, 3, 2, 2), (1, 1, 1, 1),
                  (PARALLEL_MIN - 1,), (PARALLEL_MIN,), (PARALLEL_MIN + 1,), (2, 3, 97, 120),
                  (4, 16, 33, 33)]


def shape_for(kernel, shape):
    """bias kernels need (N, C, *): give a too-short shape leading dimensions."""
    if kernel.kind in ("bias", "bias_grad") and len(shape) < 2:
        return (1,) * (2 - len(shape)) + tuple(shape)
    return shape


@pytest.fixture
def restore_threads():
    before = _cpu.get_num_threads()
    try:
        yield
    finally:
        _cpu.set_num_threads(before)


def call(kernel, module, args):
    return getattr(module, kernel.name)(*args, **kernel.kwargs)


def check_against_reference(kernel, args, dtype):
    expected = call(kernel, reference, args)
    before = _cpu.get_num_threads()
    try:
        _cpu.set_num_threads(1)
        one = call(kernel, _cpu, args)
        _cpu.set_num_threads(2)
        two = call(kernel, _cpu, args)
    finally:
        _cpu.set_num_threads(before)
    assert isinstance(one, np.ndarray)
    assert one.dtype == np.dtype(dtype) and one.shape == np.shape(expected)
    assert one.flags.c_contiguous
    np.testing.assert_array_equal(one, two)  # bit-identical, whatever the thread count
    if kernel.kind == "bias_grad":
        check_bias_sum(args[0], one, expected, dtype)
    else:
        np.testing.assert_allclose(one, expected, **tolerances(kernel, dtype))


def check_bias_sum(gy, got, reference_sum, dtype):
    """bias_add_backward sums up to 70000 numbers per channel. Against the exactly rounded sum
    (math.fsum) the C kernel, which accumulates in double, may be off by the final rounding plus
    the error bound of a double-precision recursive sum; NumPy's sum in the input dtype by that
    bound in the input precision, which is how far apart the two twins may be."""
    channels = gy.shape[1]
    n = gy.size // channels if channels else 0
    rows = np.moveaxis(gy.astype(np.float64), 1, 0).reshape(channels, n)
    exact = np.array([math.fsum(r) for r in rows])
    magnitude = np.abs(rows).sum(axis=1)
    eps = float(np.finfo(dtype).eps)
    tiny = float(np.finfo(dtype).tiny)
    c_bound = eps * np.abs(exact) + n * 2.0 ** -52 * magnitude + tiny
    assert np.all(np.abs(got - exact) <= c_bound), (got, exact, c_bound)
    twin_bound = (n + 2) * eps * magnitude + tiny
    assert np.all(np.abs(got - reference_sum) <= twin_bound), (got, reference_sum, twin_bound)


# ---------------------------------------------------------------- C == NumPy

@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kernel", KERNELS, ids=KERNEL_IDS)
@given(shape=shapes(), seed=st.integers(0, 2 ** 32 - 1),
       scale=st.sampled_from([1.0, 4.0, 100.0]), extreme_fraction=st.sampled_from([0.0, 0.05, 1.0]))
def test_kernel_matches_reference(kernel, dtype, shape, seed, scale, extreme_fraction):
    rng = np.random.default_rng(seed)
    shape = shape_for(kernel, shape)
    args = make_args(kernel, rng, shape, dtype, scale, extreme_fraction)
    check_against_reference(kernel, args, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kernel", KERNELS, ids=KERNEL_IDS)
def test_kernel_matches_reference_on_special_shapes(kernel, dtype):
    rng = np.random.default_rng(0)
    for shape in SPECIAL_SHAPES:
        args = make_args(kernel, rng, shape_for(kernel, shape), dtype)
        check_against_reference(kernel, args, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kernel", KERNELS, ids=KERNEL_IDS)
def test_kernel_stable_on_extremes(kernel, dtype):
    """Inputs made only of extreme values: finite wherever the function is finite."""
    x = np.tile(EXTREMES, 4).astype(dtype)
    shape = (2, 4, 5) if kernel.kind in ("bias", "bias_grad") else x.shape
    x = x.reshape(shape)
    if kernel.kind == "unary":
        args = (x,)
    elif kernel.kind == "grad":
        args = (np.ones_like(x), x)
    elif kernel.kind == "bias":
        args = (x, EXTREMES[:4].astype(dtype))
    else:
        args = (x,)
    got = call(kernel, _cpu, args)
    assert np.all(np.isfinite(got)), (kernel.id, got)
    np.testing.assert_allclose(got, call(kernel, reference, args), **tolerances(kernel, dtype))


LIMITS = [  # (kernel, x, expected) at the saturating ends
    ("sigmoid", [-1e4, -88.0, 0.0, 88.0, 1e4], [0.0, 6.0546e-39, 0.5, 1.0, 1.0]),
    ("tanh", [-1e4, -20.0, 0.0, 20.0, 1e4], [-1.0, -1.0, 0.0, 1.0, 1.0]),
    ("silu", [-1e4, -88.0, 0.0, 88.0, 1e4], [0.0, -5.328e-37, 0.0, 88.0, 1e4]),
    ("gelu", [-1e4, -88.0, 0.0, 88.0, 1e4], [0.0, 0.0, 0.0, 88.0, 1e4]),
    ("relu", [-1e4, -0.0, 0.0, 88.0], [0.0, 0.0, 0.0, 88.0]),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name, x, expected", LIMITS, ids=[row[0] for row in LIMITS])
def test_saturating_values(name, x, expected, dtype):
    got = getattr(_cpu, name)(np.array(x, dtype=dtype))
    np.testing.assert_allclose(got, np.array(expected, dtype=dtype), rtol=1e-3, atol=1e-30)


@pytest.mark.parametrize("kernel", [pytest.param(k, id=k.id)
                                    for k in KERNELS if k.kind in ("unary", "grad")])
def test_nan_and_inf_agree_with_reference(kernel):
    """NaN and inf must come out of C as they come out of NumPy (a NaN hidden by an activation
    hides a diverging model)."""
    x = np.array([np.nan, np.inf, -np.inf, 1.0, -1.0], dtype=np.float64)
    args = (x,) if kernel.kind == "unary" else (np.ones_like(x), x)
    np.testing.assert_allclose(call(kernel, _cpu, args), call(kernel, reference, args),
                               rtol=1e-12, equal_nan=True)


# ---------------------------------------------------------------- C == PyTorch (forward, backward)

TORCH_ACTIVATIONS = [  # (name, kwargs, torch function name, backward takes the output)
    ("relu", {}, "relu", True),
    ("leaky_relu", {"negative_slope": 0.2}, "leaky_relu", False),
    ("sigmoid", {}, "sigmoid", True),
    ("tanh", {}, "tanh", True),
    ("silu", {}, "silu", False),
    ("gelu", {"approximate": "none"}, "gelu", False),
    ("gelu", {"approximate": "tanh"}, "gelu", False),
]


@pytest.mark.parametrize("name, kwargs, tname, from_output", TORCH_ACTIVATIONS,
                         ids=[f"{r[0]}{r[1].get('approximate', '')}" for r in TORCH_ACTIVATIONS])
def test_activation_kernels_match_torch(torch, name, kwargs, tname, from_output):
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    x = make_data(rng, (4, 3, 6, 5), np.float64, 3.0, 0.1)
    x[x == 0] = 0.5  # keep off the kink of relu/leaky_relu
    gy = rng.standard_normal(x.shape)
    y = getattr(_cpu, name)(x, **kwargs)
    tx = torch.tensor(x, requires_grad=True)
    ty = getattr(F, tname)(tx, **kwargs)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    gx = getattr(_cpu, name + "_backward")(gy, y if from_output else x, **kwargs)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_bias_kernels_match_torch(torch):
    rng = np.random.default_rng(2)
    x, b = rng.standard_normal((3, 5, 4, 7)), rng.standard_normal(5)
    gy = rng.standard_normal(x.shape)
    np.testing.assert_allclose(_cpu.bias_add(x, b),
                               (torch.tensor(x) + torch.tensor(b)[:, None, None]).numpy(),
                               rtol=1e-14)
    np.testing.assert_allclose(_cpu.bias_add_backward(gy), torch.tensor(gy).sum((0, 2, 3)).numpy(),
                               rtol=1e-12)


# ---------------------------------------------------------------- bad input raises, never crashes

def _good(dtype=np.float64, shape=(2, 3, 4)):
    return np.ones(shape, dtype=dtype)


def _bad_call(kernel, bad, position):
    """Call ``kernel`` with one argument replaced by ``bad`` and the others valid (and alike)."""
    if kernel.kind == "unary":
        args = [bad]
    elif kernel.kind == "grad":
        args = [_good(), _good()]
        args[position] = bad
    elif kernel.kind == "bias":
        args = [_good(), np.ones(3)]
        args[position] = bad
    else:
        args = [bad]
    return call(kernel, _cpu, args)


def _positions(kernel):
    return {"unary": [0], "grad": [0, 1], "bias": [0, 1], "bias_grad": [0]}[kernel.kind]


CASES = [(k, p) for k in KERNELS for p in _positions(k)]
CASE_IDS = [f"{k.id}-arg{p}" for k, p in CASES]


@pytest.mark.parametrize("kernel, position", CASES, ids=CASE_IDS)
def test_list_instead_of_ndarray_raises_type_error(kernel, position):
    with pytest.raises(TypeError, match="ndarray"):
        _bad_call(kernel, _good().tolist(), position)


@pytest.mark.parametrize("bad_dtype", [np.int64, np.float16, np.int32, np.complex128, np.bool_])
@pytest.mark.parametrize("kernel, position", CASES, ids=CASE_IDS)
def test_wrong_dtype_raises_type_error_naming_it(kernel, position, bad_dtype):
    with pytest.raises(TypeError, match=np.dtype(bad_dtype).name):
        _bad_call(kernel, _good(bad_dtype), position)


@pytest.mark.parametrize("view", ["step", "transpose", "fortran"])
@pytest.mark.parametrize("kernel, position", CASES, ids=CASE_IDS)
def test_non_contiguous_raises_value_error(kernel, position, view):
    if view == "step":
        bad = np.ones((2, 3, 8))[:, :, ::2]  # (2, 3, 4), strided
    elif view == "transpose":
        bad = np.ones((4, 3, 2)).T
    else:
        bad = np.asfortranarray(np.ones((2, 3, 4)))
    assert not bad.flags.c_contiguous
    with pytest.raises(ValueError, match="contiguous"):
        _bad_call(kernel, bad, position)


GRAD_KERNELS = [k for k in KERNELS if k.kind == "grad"]


@pytest.mark.parametrize("kernel", GRAD_KERNELS, ids=[k.id for k in GRAD_KERNELS])
def test_grad_shape_mismatch_names_both(kernel):
    with pytest.raises(ValueError, match=r"grad_output.*\(2, 3, 4\).*\(4, 3, 2\)"):
        call(kernel, _cpu, (np.ones((2, 3, 4)), np.ones((4, 3, 2))))
    with pytest.raises(ValueError, match=r"\(24,\).*\(2, 3, 4\)"):  # same size, other shape
        call(kernel, _cpu, (np.ones(24), np.ones((2, 3, 4))))


@pytest.mark.parametrize("kernel", GRAD_KERNELS, ids=[k.id for k in GRAD_KERNELS])
def test_grad_dtype_mismatch_names_both(kernel):
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        call(kernel, _cpu, (np.ones(5, np.float32), np.ones(5, np.float64)))
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        call(kernel, _cpu, (np.ones(5, np.float64), np.ones(5, np.float32)))


def test_bias_add_wrong_bias_raises():
    x = np.ones((2, 3, 4))
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3, 4\).*\(4,\)"):
        _cpu.bias_add(x, np.ones(4))
    with pytest.raises(ValueError, match="bias"):
        _cpu.bias_add(x, np.ones((1, 3)))
    with pytest.raises(ValueError, match="bias"):
        _cpu.bias_add(x, np.ones(()))
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        _cpu.bias_add(x, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        _cpu.bias_add(x, np.ones(6)[::2])


@pytest.mark.parametrize("shape", [(), (5,)])
def test_bias_kernels_need_two_dims(shape):
    with pytest.raises(ValueError, match=r"\(N, C"):
        _cpu.bias_add(np.ones(shape), np.ones(1))
    with pytest.raises(ValueError, match=r"\(N, C"):
        _cpu.bias_add_backward(np.ones(shape))


@pytest.mark.parametrize("name, args", [
    ("gelu", (np.ones(3),)),
    ("gelu_backward", (np.ones(3), np.ones(3))),
])
@pytest.mark.parametrize("approximate", ["bogus", "Tanh", None, ""])
def test_gelu_bad_approximate_raises(name, args, approximate):
    with pytest.raises(ValueError, match="approximate"):
        getattr(_cpu, name)(*args, approximate=approximate)


def test_set_num_threads_rejects_zero(restore_threads):
    with pytest.raises(ValueError, match="n must be >= 1"):
        _cpu.set_num_threads(0)
    _cpu.set_num_threads(3)
    assert _cpu.get_num_threads() == 3


# ---------------------------------------------------------------- dispatch

def test_backend_tables_point_at_the_right_modules():
    cpu, npy = backends.BACKENDS["cpu"], backends.BACKENDS["numpy"]
    for k in {k.name for k in KERNELS}:
        assert getattr(cpu, k) is getattr(_cpu, k), k
        assert getattr(npy, k) is getattr(reference, k), k
    assert cpu.relu is _cpu.relu and npy.relu is reference.relu
    for k in reference.__all__:  # kernels without a C version fall back to the reference
        assert getattr(cpu, k) is getattr(_cpu, k, getattr(reference, k)), k
        assert getattr(npy, k) is getattr(reference, k), k


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_tensor_relu_runs_the_c_kernel_on_cpu(monkeypatch, dtype):
    calls = []

    def spy(x):
        calls.append(x.shape)
        return _cpu.relu(x)

    monkeypatch.setattr(backends.BACKENDS["cpu"], "relu", spy)
    rng = np.random.default_rng(3)
    a = make_data(rng, (2, 3, 5, 5), dtype)
    y_cpu = minicnn.relu(minicnn.tensor(a))
    assert calls == [(2, 3, 5, 5)]
    y_np = minicnn.relu(minicnn.tensor(a, device="numpy"))
    assert calls == [(2, 3, 5, 5)]  # the numpy device does not touch the C table
    assert y_cpu.device.type == "cpu" and y_np.device.type == "numpy"
    assert y_cpu.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y_cpu.numpy(), y_np.numpy())
    np.testing.assert_array_equal(y_cpu.numpy(), reference.relu(a))


def test_tensor_relu_backward_runs_the_c_kernel_on_cpu(monkeypatch):
    calls = []

    def spy(g, y):
        calls.append("relu_backward")
        return _cpu.relu_backward(g, y)

    monkeypatch.setattr(backends.BACKENDS["cpu"], "relu_backward", spy)
    a = np.array([[-1.0, 2.0], [3.0, -4.0]])
    x = minicnn.tensor(a, requires_grad=True)
    minicnn.relu(x).sum().backward()
    assert calls == ["relu_backward"]
    xn = minicnn.tensor(a, device="numpy", requires_grad=True)
    minicnn.relu(xn).sum().backward()
    assert calls == ["relu_backward"]
    np.testing.assert_array_equal(x.grad.numpy(), xn.grad.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0], [1.0, 0.0]])


ACTIVATION_FNS = ["relu", "sigmoid", "tanh", "silu", "gelu", "leaky_relu"]


@pytest.mark.parametrize("name", ACTIVATION_FNS)
def test_tensor_activations_agree_between_devices(name):
    rng = np.random.default_rng(4)
    a = make_data(rng, (3, 4, 6), np.float64, 2.0, 0.1)
    a[a == 0] = 0.25
    g = rng.standard_normal(a.shape)
    fn = getattr(minicnn.nn.functional, name)
    outs, grads = [], []
    for device in ("cpu", "numpy"):
        x = minicnn.tensor(a, device=device, requires_grad=True)
        y = fn(x)
        y.backward(minicnn.tensor(g, device=device))
        outs.append(y.detach().numpy())
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=1e-12)
