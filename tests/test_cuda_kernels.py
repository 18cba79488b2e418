"""minicnn's CUDA kernels and their Python wrappers, against the NumPy reference.

The emulator itself first (tests/cuda_emulator.py, a CPU stand-in for the nvcc-built library:
argument conversion, device memory, errors). Then every wrapper of minicnn.backends.cuda against
minicnn.backends.reference (float64 on the same values; float32 at rtol 1e-4), DeviceArray's
NumPy-like operations and the caching allocator, each run on the ``backend`` fixture: the
emulator on every machine (its kernels are transcribed from csrc/cuda/*.cu, so this checks the
CUDA formulas and the wrappers), and the real library too where there is a GPU.
"""
import ctypes

import numpy as np
import pytest

import minicnn
from minicnn.backends import BACKENDS, reference
from minicnn.backends import cuda as cu
from minicnn.backends.cuda import _lib, memory

from cuda_emulator import Emulator, EmulatorError, installed

rng = np.random.default_rng(0)


GPU = minicnn.cuda.is_available()  # the real library, asked before any test installs the emulator


@pytest.fixture
def emu():
    with installed() as emulator:
        yield emulator


@pytest.fixture(params=["emulator"] + (["gpu"] if GPU else []))
def backend(request):
    """The library the kernel tests run on: the emulator (yielded, with its call counters), or the
    real one on a machine with a GPU (None)."""
    if request.param == "gpu":
        yield None
        return
    with installed() as emulator:
        yield emulator


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def dev(a, dtype=np.float32):
    return cu.DeviceArray.from_host(np.asarray(a, dtype))


def f64(a):
    return None if a is None else np.asarray(a, np.float64)


def opt(a):
    return None if a is None else dev(a)


def close(got, want, rtol=1e-4, atol=1e-5):
    """A device result against the float64 reference; atol scaled by the values' size."""
    got = got.to_host()
    want = np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol,
                               atol=atol * max(1.0, np.abs(want).max(initial=0)))


def int64s(*values):
    return (ctypes.c_int64 * max(len(values), 1))(*values)


# ---------------------------------------------------------------- the emulator itself

def test_every_entry_point_is_emulated():
    for name in _lib.SIGNATURES:
        assert not getattr(getattr(Emulator, name), "unimplemented", False), name
    emu = Emulator()
    assert emu.mc_cuda_last_error() == b"no error"
    emu.mc_cuda_use_cublas(0)
    assert emu.calls == {"mc_cuda_last_error": 1, "mc_cuda_use_cublas": 1}


def test_arguments_are_converted_as_ctypes_converts_them():
    emu = Emulator()
    out = ctypes.c_void_p()
    assert emu.mc_cuda_malloc(ctypes.byref(out), 16) == 0
    assert emu.mc_cuda_fill(4, out.value, 0.1) == 0  # c_float: rounded to float32
    got = np.empty(4, np.float32)
    emu.mc_cuda_memcpy_dtoh(got.ctypes.data, out.value, 16)
    assert (got == np.float32(0.1)).all()
    with pytest.raises(ctypes.ArgumentError, match="argument 1"):
        emu.mc_cuda_fill(4.0, out.value, 1.0)  # int64_t n
    with pytest.raises(ctypes.ArgumentError, match="argument 2"):
        emu.mc_cuda_fill(4, np.int64(out.value), 1.0)  # a pointer must be an int
    with pytest.raises(TypeError, match="takes 3 arguments"):
        emu.mc_cuda_fill(4, out.value)
    assert emu.calls["mc_cuda_fill"] == 1  # the rejected calls never ran


def test_device_memory_starts_as_garbage_and_is_bounds_checked(emu):
    assert np.isnan(cu.empty((3, 2)).to_host()).all()
    assert (cu.empty((3,), np.int64).to_host() == -1).all()
    x, y = dev(np.ones(4)), cu.empty((4,))
    # 200 floats run past x's 512-byte block: an illegal address, as on the GPU
    assert emu.mc_cuda_unary(0, 200, x.ptr, y.ptr, 0.0, 0.0) == 700
    assert emu.mc_cuda_last_error().decode().startswith("cudaErrorIllegalAddress")
    with pytest.raises(cu.CudaError, match="x is NULL"):
        _lib.check(emu.mc_cuda_unary(0, 4, None, y.ptr, 0.0, 0.0))


def test_installed_makes_cuda_available_and_restores_the_previous_state():
    state, allocator = _lib._state, memory.allocator
    with installed() as emu:
        assert _lib.lib() is emu
        assert minicnn.cuda.is_available() and minicnn.cuda.unavailable_reason() is None
        assert minicnn.cuda.device_count() == 1
        assert "emulator" in minicnn.cuda.get_device_name()
        kept = dev([1.0, 2.0])
        assert memory.allocator is not allocator
    assert _lib._state is state and memory.allocator is allocator
    # an array that outlives the emulator is detached: its block never reaches a real cache
    assert kept._block.ptr is None
    before = allocator.allocated
    del kept
    assert allocator.allocated == before


def test_runtime_queries(emu):
    version, free, total = ctypes.c_int(), ctypes.c_size_t(), ctypes.c_size_t()
    assert emu.mc_cuda_runtime_version(ctypes.byref(version)) == 0 and version.value >= 11000
    a = cu.empty((1000,))
    assert emu.mc_cuda_mem_info(ctypes.byref(free), ctypes.byref(total)) == 0
    assert total.value - free.value == memory.memory_reserved() == 4096
    buf = ctypes.create_string_buffer(8)
    assert emu.mc_cuda_device_name(0, buf, 8) == 0 and buf.value == b"minicnn"  # snprintf
    with pytest.raises(cu.CudaError, match="cudaErrorInvalidDevice"):
        _lib.check(emu.mc_cuda_device_name(1, buf, 8))
    del a


# ---------------------------------------------------------------- DeviceArray, allocator, errors

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_device_array_round_trip_and_views(backend, dtype):
    host = (rng.standard_normal((4, 3)) * 5).astype(dtype)
    a = cu.DeviceArray.from_host(host)
    assert (a.shape, a.dtype, a.size, a.nbytes) == ((4, 3), np.dtype(dtype), 12, host.nbytes)
    np.testing.assert_array_equal(a.to_host(), host)
    r = a.reshape(-1, 2)
    assert r.shape == (6, 2) and r.ptr == a.ptr
    np.testing.assert_array_equal(r.to_host(), host.reshape(6, 2))
    rows = a.view_rows(1, 3)
    assert rows.ptr == a.ptr + 3 * host.itemsize
    np.testing.assert_array_equal(rows.to_host(), host[1:3])
    c = a.copy()
    assert c.ptr != a.ptr
    rows.zero_()  # a view writes into its parent, not into the copy
    expected = host.copy()
    expected[1:3] = 0
    np.testing.assert_array_equal(a.to_host(), expected)
    np.testing.assert_array_equal(c.to_host(), host)
    empty = cu.DeviceArray.from_host(np.zeros((0, 3), dtype))
    assert empty.ptr is None and empty.to_host().shape == (0, 3)


def test_from_host_keeps_a_0d_shape(backend):
    assert dev(np.float32(2.5)).shape == ()


X = rng.standard_normal((3, 4, 5)).astype(np.float32)
Y = rng.standard_normal((4, 1)).astype(np.float32)
NDARRAY_OPS = {  # name: f(x, y) for x, y the DeviceArrays (or the ndarrays) of X, Y
    "sum": lambda x, y: x.sum(), "sum axis": lambda x, y: x.sum(axis=(0, 2), keepdims=True),
    "mean axis": lambda x, y: x.mean(axis=-1), "np.sum": lambda x, y: np.sum(x, axis=1),
    "add broadcast": lambda x, y: x + y, "rsub broadcast": lambda x, y: y - x,
    "mul number": lambda x, y: x * 2.5, "rtruediv number": lambda x, y: 2.5 / x,
    "pow": lambda x, y: x ** 2, "exp": lambda x, y: np.exp(x), "sign": lambda x, y: np.sign(x),
    "transpose": lambda x, y: x.transpose(1, 0, 2), "T": lambda x, y: x.T,
    "swapaxes": lambda x, y: x.swapaxes(0, 2),
    "matmul": lambda x, y: x.sum(axis=0) @ x.sum(axis=0).T,
    "broadcast_to": lambda x, y: np.broadcast_to(y, (2, 4, 3)),
    "expand_dims": lambda x, y: np.expand_dims(x, 1), "squeeze": lambda x, y: np.squeeze(y),
    "astype int64": lambda x, y: (x * 3).astype(np.int64),
    "astype bool": lambda x, y: (x * 3).astype(np.int64).astype(bool),
    "full_like": lambda x, y: np.full_like(x, 3.0),
}


@pytest.mark.parametrize("name", list(NDARRAY_OPS) + ["getitem", "setitem"])
def test_device_array_ndarray_operations_match_numpy(backend, name):
    def setitem(x, y):
        x = x.copy()
        x[::-1, 1:3, 2] = y[1:3, 0]
        return x

    f = {"getitem": lambda x, y: x[1, None, 3:0:-1], "setitem": setitem}.get(name)
    f = f or NDARRAY_OPS[name]
    want = f(X, Y)
    got = f(dev(X), dev(Y)).to_host()
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_caching_allocator_reuses_and_empties(emu):
    assert cu.memory_allocated() == cu.memory_reserved() == 0
    a = cu.empty((1000,))
    assert cu.memory_allocated() == 4096 and emu.calls["mc_cuda_malloc"] == 1
    ptr = a.ptr
    del a
    assert cu.memory_allocated() == 0 and cu.memory_reserved() == 4096
    b = cu.empty((1024,))  # the same size class: the cached block, no cudaMalloc
    assert b.ptr == ptr and emu.calls["mc_cuda_malloc"] == 1
    del b
    cu.empty_cache()
    assert cu.memory_reserved() == 0 and emu.calls["mc_cuda_free"] == 1
    assert emu.bytes_in_use == 0


def test_allocator_empties_its_cache_when_out_of_memory():
    with installed(Emulator(capacity=3584)) as emu:
        a = cu.empty((256,))  # 1 KiB
        del a  # cached
        b = cu.empty((700,))  # 3 KiB: fails, the cache is emptied, then fits
        assert emu.calls["mc_cuda_malloc"] == 3 and emu.calls["mc_cuda_free"] == 1
        with pytest.raises(cu.CudaError, match="cudaErrorMemoryAllocation: out of memory"):
            cu.empty((512,))
        del b


def test_failed_calls_raise_cuda_error_with_the_message(emu):
    lib = _lib.lib()
    with pytest.raises(cu.CudaError, match="cudaErrorInvalidValue"):
        _lib.check(lib.mc_cuda_memcpy_dtoh(None, 16, 64))  # 16 is no device address
    with pytest.raises(cu.CudaError, match="cudaErrorInvalidValue.*not an allocation"):
        _lib.check(lib.mc_cuda_free(12345))
    x = dev(np.ones(4))
    with pytest.raises(cu.CudaError, match="unknown src_type"):
        _lib.check(lib.mc_cuda_cast(4, x.ptr, 7, x.ptr, 0))
    with pytest.raises(cu.CudaError, match="ndim > MC_MAX_DIMS"):
        _lib.check(lib.mc_cuda_strided_copy(9, int64s(1), int64s(1), 0, x.ptr, int64s(1), 0,
                                            x.ptr, 4))
    with pytest.raises(cu.CudaError, match="cublasStatus_t 7"):  # lda < K
        _lib.check(lib.mc_cuda_sgemm(0, 0, 2, 2, 2, 1.0, x.ptr, 1, x.ptr, 2, 0.0, x.ptr, 2))
    with pytest.raises(EmulatorError, match="division by zero"):  # groups = 0: SIGFPE in C
        lib.mc_cuda_conv2d(x.ptr, x.ptr, None, x.ptr, x.ptr, 1, 1, 2, 2, 1, 1, 1, 1, 1, 0, 0, 1,
                           1, 0, 1)
    with pytest.raises(cu.CudaError, match="nb < 1"):  # images per chunk
        _lib.check(lib.mc_cuda_conv2d(x.ptr, x.ptr, None, x.ptr, x.ptr, 1, 1, 2, 2, 1, 1, 1, 1, 1,
                                      0, 0, 1, 1, 1, 0))


# ---------------------------------------------------------------- elementwise

UNARY = [("relu", "output", {}), ("leaky_relu", "x", {"negative_slope": 0.2}),
         ("sigmoid", "output", {}), ("tanh", "output", {}), ("silu", "x", {}),
         ("hardswish", "x", {}), ("gelu", "x", {"approximate": "none"}),
         ("gelu", "x", {"approximate": "tanh"})]


@pytest.mark.parametrize("name, saved, kw", UNARY)
def test_activations(backend, name, saved, kw):
    x, g = randn(3, 4, 5) * 3, randn(3, 4, 5)
    x[0, 0, :3] = [0.0, -3.0, 3.0]  # the kinks
    want = getattr(reference, name)(f64(x), **kw)
    y = getattr(cu, name)(dev(x), **kw)
    close(y, want)
    s, s64 = (y, want) if saved == "output" else (dev(x), f64(x))
    close(getattr(cu, name + "_backward")(dev(g), s, **kw),
          getattr(reference, name + "_backward")(f64(g), s64, **kw))


def test_math_and_arithmetic(backend):
    a, b = randn(4, 5), np.abs(randn(4, 5)) + 0.5
    for name, f in (("exp", np.exp), ("log", np.log), ("sqrt", np.sqrt), ("abs", np.abs),
                    ("neg", np.negative)):
        close(getattr(cu, name)(dev(b if name in ("log", "sqrt") else a)),
              f(f64(b if name in ("log", "sqrt") else a)))
    close(cu.affine(dev(a), 2.0, -1.0), 2.0 * f64(a) - 1.0)
    for name, f in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                    ("div", np.divide)):
        close(getattr(cu, name)(dev(a), dev(b)), f(f64(a), b))
        close(getattr(cu, name)(dev(a), dev(b[:1, :])), f(f64(a), b[:1, :]))  # broadcast
    close(cu.fill(dev(a), 1.5), np.full(a.shape, 1.5))
    for dim in (0, 1, -1):
        close(cu.sum(dev(a), dim), f64(a).sum(axis=dim))
    with pytest.raises(TypeError, match="float32"):
        cu.relu(dev(a, np.float64))


def test_pow_and_sign_kernels(backend):
    """MC_POW and MC_SIGN (no wrapper of their own in minicnn.backends.cuda)."""
    lib = _lib.lib()
    x, g = np.array([-2.0, -0.5, 0.0, 0.5, 3.0, np.nan], np.float32), randn(6)
    xd, gd, y = dev(x), dev(g), cu.empty((6,))
    _lib.check(lib.mc_cuda_unary(14, 6, xd.ptr, y.ptr, 3.0, 0.0))
    close(y, f64(x) ** 3)
    _lib.check(lib.mc_cuda_unary_backward(14, 6, gd.ptr, xd.ptr, y.ptr, 3.0))
    close(y, f64(g) * 3 * f64(x) ** 2)
    _lib.check(lib.mc_cuda_unary(15, 6, xd.ptr, y.ptr, 0.0, 0.0))
    np.testing.assert_array_equal(y.to_host(), [-1, -1, 0, 1, 1, 0])  # 0 for NaN
    _lib.check(lib.mc_cuda_unary_backward(15, 6, gd.ptr, xd.ptr, y.ptr, 0.0))
    np.testing.assert_array_equal(y.to_host(), 0)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family(backend, name, dim):
    x, g = randn(3, 4, 5) * 4, randn(3, 4, 5)
    y = getattr(cu, name)(dev(x), dim)
    y64 = getattr(reference, name)(f64(x), dim)
    close(y, y64)
    close(getattr(cu, name + "_backward")(dev(g), y, dim),
          getattr(reference, name + "_backward")(f64(g), y64, dim))


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4, 5)])
def test_bias_add(backend, shape):
    x, b = randn(*shape), randn(shape[1])
    close(cu.bias_add(dev(x), dev(b)), reference.bias_add(f64(x), f64(b)))
    close(cu.bias_add_backward(dev(x)), reference.bias_add_backward(f64(x)))


# ---------------------------------------------------------------- copies and casts

def test_strided_copy(backend):
    lib = _lib.lib()
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    src = dev(x)
    # a permute: dst (4, 2, 3) contiguous, reading x with strides of axes (2, 0, 1)
    dst = cu.empty((4, 2, 3))
    _lib.check(lib.mc_cuda_strided_copy(3, int64s(4, 2, 3), int64s(1, 12, 4), 0, src.ptr,
                                        int64s(6, 3, 1), 0, dst.ptr, 4))
    np.testing.assert_array_equal(dst.to_host(), x.transpose(2, 0, 1))
    # a slice x[1, ::2, 3:0:-1] (offset, step 2, negative stride) into a contiguous (2, 3)
    dst = cu.empty((2, 3))
    _lib.check(lib.mc_cuda_strided_copy(2, int64s(2, 3), int64s(8, -1), 15, src.ptr,
                                        int64s(3, 1), 0, dst.ptr, 4))
    np.testing.assert_array_equal(dst.to_host(), x[1, ::2, 3:0:-1])
    # a broadcast (stride 0) of int64 into rows 1..2 of a (3, 2) destination, itemsize 8
    row, dst = dev([7, 8], np.int64), dev(np.zeros((3, 2)), np.int64)
    _lib.check(lib.mc_cuda_strided_copy(2, int64s(2, 2), int64s(0, 1), 0, row.ptr, int64s(2, 1),
                                        2, dst.ptr, 8))
    np.testing.assert_array_equal(dst.to_host(), [[0, 0], [7, 8], [7, 8]])
    # bytes (bool), 0-d
    flags, out = dev([True, False], np.bool_), dev([False], np.bool_)
    _lib.check(lib.mc_cuda_strided_copy(0, None, None, 0, flags.ptr, None, 0, out.ptr, 1))
    assert out.to_host().tolist() == [True]
    # reading past the source's 512-byte block is an illegal address
    assert lib.mc_cuda_strided_copy(1, int64s(200), int64s(1), 0, src.ptr, int64s(1), 0,
                                    cu.empty((200,)).ptr, 4) == 700


CODES = {np.float32: 0, np.float64: 1, np.int64: 2, np.bool_: 3}


@pytest.mark.parametrize("src", list(CODES))
@pytest.mark.parametrize("dst", list(CODES))
def test_cast(backend, src, dst):
    host = np.array([-2.75, -1.0, 0.0, 0.5, 3.25, 1e6], np.float64).astype(src)
    a, out = dev(host, src), cu.empty((6,), dst)
    _lib.check(_lib.lib().mc_cuda_cast(6, a.ptr, CODES[src], out.ptr, CODES[dst]))
    np.testing.assert_array_equal(out.to_host(), host.astype(dst))  # C casts truncate, as NumPy


def test_cast_of_nan_and_infinity_to_int64_saturates(emu):
    a, out = dev([np.nan, np.inf, -np.inf, 2.5]), cu.empty((4,), np.int64)
    _lib.check(_lib.lib().mc_cuda_cast(4, a.ptr, 0, out.ptr, 2))
    info = np.iinfo(np.int64)
    np.testing.assert_array_equal(out.to_host(), [0, info.max, info.min, 2])


def test_add_int64(backend):
    x = dev([1, -2, 3], np.int64)
    _lib.check(_lib.lib().mc_cuda_add_int64(3, x.ptr, 5))
    np.testing.assert_array_equal(x.to_host(), [6, 3, 8])


def test_array_kernels_full_cast_and_transfers(backend):
    np.testing.assert_array_equal(cu.full((2, 3), 1.5, np.float32).to_host(),
                                  reference.full((2, 3), 1.5, np.float32))
    assert cu.full((), -2.0, np.float32).to_host().shape == ()
    with pytest.raises(TypeError, match=r"float32.*\.cpu\(\)"):
        cu.full((), 1, np.int64)
    host = np.array([-2.5, 0.0, 3.75], np.float32)
    a = cu.from_host(host)
    assert isinstance(a, cu.DeviceArray) and a.dtype == np.float32
    np.testing.assert_array_equal(cu.to_host(a), reference.to_host(host))
    for dtype in (np.int64, np.bool_, np.float32):
        got = cu.cast(a, dtype)
        assert got is not a and got.dtype == dtype
        np.testing.assert_array_equal(got.to_host(), reference.cast(host, dtype))
    for bad in (np.float64, np.int32):
        with pytest.raises(TypeError, match="cannot be placed on cuda"):
            cu.cast(a, bad)
        with pytest.raises(TypeError, match="cannot be placed on cuda"):
            cu.from_host(host.astype(bad))


# ---------------------------------------------------------------- GEMM and linear

@pytest.mark.parametrize("use_cublas", [False, None, True])
@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("M, N, K", [(7, 3, 5), (67, 33, 129)])  # (not multiples of the tiles)
def test_sgemm(backend, use_cublas, ta, tb, M, N, K):
    if use_cublas and not cu.cublas_available():
        pytest.skip("libcublas not found")
    a = randn(K, M) if ta else randn(M, K)
    b = randn(N, K) if tb else randn(K, N)
    want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b)
    close(cu.sgemm(dev(a), dev(b), ta, tb, use_cublas=use_cublas), want)
    tiled = "mc_cuda_sgemm_tiled" if use_cublas is False else "mc_cuda_sgemm"
    if backend is not None:
        assert backend.calls[tiled] == 1


def test_sgemm_without_cublas():
    with installed(Emulator(cublas=False)):
        assert not cu.cublas_available()
        a = randn(3, 4)
        close(cu.sgemm(dev(a), dev(a), trans_b=True), f64(a) @ f64(a).T)
        with pytest.raises(RuntimeError, match="libcublas was not found"):
            cu.sgemm(dev(a), dev(a), trans_b=True, use_cublas=True)


@pytest.mark.parametrize("entry", ["mc_cuda_sgemm", "mc_cuda_sgemm_tiled"])
def test_sgemm_alpha_beta_and_leading_dimensions(backend, entry):
    """C[1:3, 1:4] = 2 A[:, :2]^T B[1:, :3] - C[1:3, 1:4] on sub-matrices of larger arrays."""
    A, B, C = randn(4, 6), randn(5, 8), randn(4, 5)
    Ad, Bd, Cd = dev(A), dev(B), dev(C)
    rc = getattr(_lib.lib(), entry)(1, 0, 2, 3, 4, 2.0, Ad.ptr, 6, Bd.ptr + 4 * 8, 8, -1.0,
                                    Cd.ptr + 4 * 6, 5)
    assert rc == 0
    want = f64(C)
    want[1:3, 1:4] = 2 * f64(A)[:, :2].T @ f64(B)[1:, :3] - want[1:3, 1:4]
    close(Cd, want)


def test_matmul_and_linear(backend):
    x, w, b, g = randn(5, 7), randn(3, 7), randn(3), randn(5, 3)
    close(cu.matmul(dev(x), dev(w.T.copy())), f64(x) @ f64(w).T)
    close(cu.linear(dev(x), dev(w), dev(b)), reference.linear(f64(x), f64(w), f64(b)))
    close(cu.linear(dev(x), dev(w)), reference.linear(f64(x), f64(w)))
    close(cu.linear_backward_input(dev(g), dev(w)), reference.linear_backward_input(f64(g), f64(w)))
    close(cu.linear_backward_weight(dev(g), dev(x)),
          reference.linear_backward_weight(f64(g), f64(x)))


# ---------------------------------------------------------------- convolution

def test_im2col_col2im(backend):
    x = randn(3, 7, 6)
    args = (3, 2, 2, 1, 1, 0, 2, 1)  # kh kw sh sw ph pw dh dw: non-square, strided, dilated
    cols = cu.im2col(dev(x), *args)
    want = reference.im2col(f64(x), *args)
    close(cols, want)
    close(cu.col2im(cols, 3, 7, 6, *args), reference.col2im(want, 3, 7, 6, *args))


CONV = [  # (N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw, groups)
    (2, 3, 8, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1),
    (1, 4, 9, 9, 6, 3, 2, 2, 1, 0, 1, 1, 1, 2),   # groups, non-square kernel
    (2, 3, 7, 8, 5, 3, 3, 1, 2, 2, 1, 2, 1, 1),   # dilation, padding 2
    (2, 4, 5, 5, 8, 1, 1, 1, 1, 0, 0, 1, 1, 1),   # 1x1
    (5, 4, 6, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2),   # 5 images: chunks of 2, 2, 1 (see below)
    (2, 4, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4),   # depthwise
    (1, 3, 7, 6, 6, 3, 3, 2, 2, 1, 1, 2, 1, 3),   # depthwise, multiplier 2, stride 2, dilation
]


@pytest.mark.parametrize("case", CONV)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(backend, case, bias, monkeypatch):
    N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw, groups = case
    if N == 5:  # a workspace for 2 images per GEMM: the batch goes through in several chunks
        Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
        per_image = ((C // groups) * kh * kw + K // groups) * Ho * Wo * 4
        monkeypatch.setattr(cu, "CONV_WORKSPACE_BYTES", 2 * per_image + 3)
    x, w = randn(N, C, H, W), randn(K, C // groups, kh, kw)
    b = randn(K) if bias else None
    conv = (sh, sw, ph, pw, dh, dw, groups)
    y64 = reference.conv2d(f64(x), f64(w), f64(b), *conv)
    close(cu.conv2d(dev(x), dev(w), opt(b), *conv), y64)
    g = randn(*y64.shape)
    close(cu.conv2d_backward_input(dev(g), dev(w), H, W, *conv),
          reference.conv2d_backward_input(f64(g), f64(w), H, W, *conv))
    close(cu.conv2d_backward_weight(dev(g), dev(x), kh, kw, *conv),
          reference.conv2d_backward_weight(f64(g), f64(x), kh, kw, *conv))
    path = "mc_cuda_depthwise_conv2d" if groups == C else "mc_cuda_conv2d"
    if backend is not None:
        assert backend.calls[path] == 1


# ---------------------------------------------------------------- pooling

@pytest.mark.parametrize("args", [  # kh kw sh sw ph pw dh dw ceil_mode
    (2, 2, 2, 2, 0, 0, 1, 1, False), (3, 2, 2, 1, 1, 1, 1, 1, True),
    (3, 3, 1, 2, 1, 0, 2, 1, False), (2, 2, 3, 3, 1, 1, 1, 1, True)])
def test_max_pool2d(backend, args):
    x = randn(2, 3, 7, 8)
    x[0, 0, 0, :2] = 5.0  # a tie: the first wins
    x[1, 2, 3, 3] = np.nan  # a NaN always wins
    y, idx = cu.max_pool2d(dev(x), *args)
    y64, idx64 = reference.max_pool2d(f64(x), *args)
    np.testing.assert_allclose(y.to_host(), y64, rtol=1e-6)
    np.testing.assert_array_equal(idx.to_host(), idx64)
    g = randn(*y64.shape)
    close(cu.max_pool2d_backward(dev(g), idx, 7, 8),
          reference.max_pool2d_backward(f64(g), idx64, 7, 8))
    assert cu.max_pool2d(dev(x), *args, return_indices=False)[1] is None


@pytest.mark.parametrize("args", [  # kh kw sh sw ph pw ceil_mode count_include_pad divisor_override
    (2, 2, 2, 2, 0, 0, False, True, None), (3, 3, 2, 2, 1, 1, True, False, None),
    (3, 2, 2, 1, 1, 1, True, True, None), (2, 3, 1, 2, 1, 1, False, True, 5)])
def test_avg_pool2d(backend, args):
    x = randn(2, 3, 7, 8)
    y64 = reference.avg_pool2d(f64(x), *args)
    close(cu.avg_pool2d(dev(x), *args), y64)
    g = randn(*y64.shape)
    close(cu.avg_pool2d_backward(dev(g), 7, 8, *args),
          reference.avg_pool2d_backward(f64(g), 7, 8, *args))


@pytest.mark.parametrize("out", [(1, 1), (3, 2), (5, 7), (9, 10)])
def test_adaptive_pools(backend, out):
    x, g = randn(2, 3, 7, 9), randn(2, 3, *out)
    close(cu.adaptive_avg_pool2d(dev(x), *out), reference.adaptive_avg_pool2d(f64(x), *out))
    close(cu.adaptive_avg_pool2d_backward(dev(g), 7, 9),
          reference.adaptive_avg_pool2d_backward(f64(g), 7, 9))
    y, idx = cu.adaptive_max_pool2d(dev(x), *out)
    y64, idx64 = reference.adaptive_max_pool2d(f64(x), *out)
    close(y, y64)
    np.testing.assert_array_equal(idx.to_host(), idx64)
    close(cu.max_pool2d_backward(dev(g), idx, 7, 9),
          reference.max_pool2d_backward(f64(g), idx64, 7, 9))


# ---------------------------------------------------------------- batch norm

@pytest.mark.parametrize("shape", [(4, 3), (3, 5, 4, 6)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm(backend, shape, affine):
    C = shape[1]
    x, g = randn(*shape) * 2 + 3, randn(*shape)
    w, b = (randn(C), randn(C)) if affine else (None, None)
    y, mean, var, invstd = cu.batch_norm_forward_train(dev(x), opt(w), opt(b), 1e-5)
    want = reference.batch_norm_forward_train(f64(x), f64(w), f64(b), 1e-5)
    for got, ref in zip((y, mean, var, invstd), want):
        close(got, ref)
    for train in (True, False):
        for mask in ((True, True, True), (True, False, False), (False, True, True),
                     (False, False, True)):
            got = cu.batch_norm_backward(dev(g), dev(x), mean, invstd, opt(w), train, mask)
            ref = reference.batch_norm_backward(f64(g), f64(x), want[1], want[3], f64(w), train,
                                                mask)
            for a, r in zip(got, ref):
                assert (a is None) == (r is None)
                if a is not None:
                    close(a, r)
    rm, rv = randn(C), np.abs(randn(C)) + 0.5
    close(cu.batch_norm_forward_eval(dev(x), dev(rm), dev(rv), opt(w), opt(b), 1e-5),
          reference.batch_norm_forward_eval(f64(x), f64(rm), f64(rv), f64(w), f64(b), 1e-5))


@pytest.mark.parametrize("groups", [None, 3])
def test_batch_norm_running_statistics(backend, groups):
    C = 4
    stat_shape = (C,) if groups is None else (groups, C)
    mean, var = randn(*stat_shape), np.abs(randn(*stat_shape)) + 0.1
    rm, rv = randn(C), np.abs(randn(C)) + 0.5
    got_m, got_v = dev(rm), dev(rv)
    cu.batch_norm_update_running(got_m, got_v, dev(mean), dev(var), 0.1, 7)
    want_m, want_v = f64(rm), f64(rv)
    reference.batch_norm_update_running(want_m, want_v, f64(mean), f64(var), 0.1, 7)
    close(got_m, want_m)
    close(got_v, want_v)
    only_var, want_v = dev(rv), f64(rv)  # running_mean None: left alone
    cu.batch_norm_update_running(None, only_var, dev(mean), dev(var), 0.5, 2)
    reference.batch_norm_update_running(None, want_v, f64(mean), f64(var), 0.5, 2)
    close(only_var, want_v)
    close(cu.batch_norm_invstd(dev(rv), 1e-3), reference.batch_norm_invstd(f64(rv), 1e-3))


# ---------------------------------------------------------------- losses

@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 2, 3)])
@pytest.mark.parametrize("weighted, smoothing", [(False, 0.0), (True, 0.0), (False, 0.2),
                                                 (True, 0.1)])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_cross_entropy_and_nll(backend, shape, weighted, smoothing, ignore_index):
    N, C = shape[:2]
    x = randn(*shape) * 3
    t = rng.integers(0, C, (N,) + shape[2:]).astype(np.int64)
    t.flat[0], t.flat[-1] = ignore_index, 2
    w = np.abs(randn(C)) + 0.1 if weighted else None
    td = dev(t, np.int64)
    loss, stats, lsum, wsum = cu.cross_entropy(dev(x), td, opt(w), ignore_index, smoothing)
    rloss, rstats, rlsum, rwsum = reference.cross_entropy(f64(x), t, f64(w), ignore_index,
                                                          smoothing)
    close(loss, rloss)
    close(stats, rstats)
    np.testing.assert_allclose([lsum, wsum], [rlsum, rwsum], rtol=1e-4)
    # per-element upstream gradients (reduction="none") and one scalar for all ("mean", "sum")
    for g in (randn(*t.shape), randn(1)):
        g_dev = dev(g).reshape(t.shape if g.size > 1 else ())
        g64 = f64(g).reshape(t.shape if g.size > 1 else ())
        close(cu.cross_entropy_backward(g_dev, dev(x), td, opt(w), stats, ignore_index,
                                        smoothing, 0.5),
              reference.cross_entropy_backward(g64, f64(x), t, f64(w), rstats, ignore_index,
                                               smoothing, 0.5))
        close(cu.nll_loss_backward(g_dev, dev(x), td, opt(w), ignore_index, 0.5),
              reference.nll_loss_backward(g64, f64(x), t, f64(w), ignore_index, 0.5))
    loss, lsum, wsum = cu.nll_loss(dev(x), td, opt(w), ignore_index)
    rloss, rlsum, rwsum = reference.nll_loss(f64(x), t, f64(w), ignore_index)
    close(loss, rloss)
    np.testing.assert_allclose([lsum, wsum], [rlsum, rwsum], rtol=1e-4)


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
def test_losses_reject_a_bad_target(backend, fn):
    with pytest.raises(ValueError, match="target 7 is out of bounds for 5 classes"):
        getattr(cu, fn)(dev(randn(3, 5)), dev([0, 7, 1], np.int64))


# ---------------------------------------------------------------- optimizers

def _cpu_steps(opt_cls, p0, grads, **kw):
    p = minicnn.nn.Parameter(minicnn.tensor(p0))
    optimizer = opt_cls([p], **kw)
    for g in grads:
        p.grad = minicnn.tensor(g)
        optimizer.step()
    return p.detach().numpy()


@pytest.mark.parametrize("kw", [dict(lr=0.1), dict(lr=0.1, momentum=0.9, weight_decay=0.01),
                                dict(lr=0.1, momentum=0.9, nesterov=True),
                                dict(lr=0.1, momentum=0.5, dampening=0.3, maximize=True)])
def test_sgd_step(backend, kw):
    p0, grads = randn(4, 3), [randn(4, 3) for _ in range(3)]
    p, buf = dev(p0), cu.empty((4, 3))  # garbage: the first step must overwrite it
    for i, g in enumerate(grads):
        cu.sgd_step(p, dev(g), buf if kw.get("momentum") else None, first_step=i == 0, **kw)
    close(p, _cpu_steps(minicnn.optim.SGD, p0, grads, **kw))


@pytest.mark.parametrize("kw", [dict(lr=0.01), dict(lr=0.01, weight_decay=0.1, maximize=True),
                                dict(lr=0.01, weight_decay=0.1, amsgrad=True),
                                dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)])
def test_adam_step(backend, kw):
    p0, grads = randn(4, 3), [randn(4, 3) for _ in range(3)]
    p, m, v = dev(p0), cu.zeros((4, 3)), cu.zeros((4, 3))
    vmax = cu.zeros((4, 3)) if kw.get("amsgrad") else None
    cuda_kw = {k: v_ for k, v_ in kw.items() if k != "amsgrad"}
    for step, g in enumerate(grads, 1):
        cu.adam_step(p, dev(g), m, v, step, max_exp_avg_sq=vmax, **cuda_kw)
    close(p, _cpu_steps(minicnn.optim.Adam, p0, grads, **kw))


# ---------------------------------------------------------------- coverage

#: the wrappers and names of minicnn.backends.cuda the tests above exercise
TESTED = {
    "CudaError", "DeviceArray", "empty", "zeros", "empty_cache", "memory_allocated",
    "memory_reserved", "synchronize", "cuda_kernels", "cublas_available", "sgemm", "matmul",
    "add", "sub", "mul", "div", "fill", "sum", "exp", "log", "sqrt", "abs", "neg", "affine",
    "sgd_step", "adam_step", "im2col", "col2im", "conv2d", "conv2d_backward_input",
    "conv2d_backward_weight", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
    "avg_pool2d_backward", "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d", "batch_norm_forward_train", "batch_norm_forward_eval",
    "batch_norm_backward", "batch_norm_update_running", "batch_norm_invstd", "full", "cast",
    "to_host", "from_host", "cross_entropy", "cross_entropy_backward", "nll_loss",
    "nll_loss_backward", "linear", "linear_backward_input", "linear_backward_weight",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward", "bias_add",
    "bias_add_backward", *(n for name, _, _ in UNARY for n in (name, name + "_backward")),
}


def test_every_wrapper_is_tested(emu):
    cu.synchronize()
    untested = (set(cu.__all__) | set(cu.cuda_kernels())) - TESTED
    assert not untested, f"wrappers of minicnn.backends.cuda without a test here: {untested}"
    table = BACKENDS["cuda"]
    for name in cu.cuda_kernels():
        assert getattr(table, name) is getattr(cu, name)
