"""The optional CUDA module (minicnn.backends.cuda, csrc/cuda).

Without a GPU: the sources compile with nvcc (skipped without nvcc), the built library loads,
is_available() is False and never raises, and every way onto the GPU fails with a clear error.
With a GPU: every CUDA kernel against the NumPy reference (minicnn.backends.reference, run in
float64 on the same values), forward and gradients, float32 at rtol 1e-4; the layout kernels of
CUDA tensors; training steps on the GPU against the CPU. (test_cuda_emulator.py and
test_cuda_tensors.py run the Python side of all this everywhere, on a CPU emulator.)
"""
import ctypes
import glob
import os
import shutil
import subprocess

import numpy as np
import pytest

import minicnn
from minicnn.backends import BACKENDS, reference
from minicnn.backends.cuda import _lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPU = minicnn.cuda.is_available()
needs_gpu = pytest.mark.skipif(not GPU, reason=f"no CUDA GPU: {minicnn.cuda.unavailable_reason()}")
NVCC = os.environ.get("NVCC") or shutil.which("nvcc")


# ---------------------------------------------------------------- without a GPU

@pytest.mark.skipif(NVCC is None, reason="nvcc not found")
def test_sources_build_with_nvcc_and_load(tmp_path):
    """One architecture only (the build's default is sm_75/80/90 + PTX): the point is that the
    sources compile and that the library loads with ctypes, GPU or not (static cudart)."""
    out = tmp_path / "libminicnn_cuda.so"
    sources = sorted(glob.glob(os.path.join(ROOT, "csrc", "cuda", "*.cu")))
    subprocess.run([NVCC, "-O1", "-shared", "-Xcompiler", "-fPIC", "-cudart", "static",
                    "-std=c++17", "-gencode=arch=compute_75,code=sm_75",
                    "-I" + os.path.join(ROOT, "csrc", "cuda"), *sources, "-o", str(out), "-ldl"],
                   check=True, capture_output=True)
    lib = _lib._bind(ctypes.CDLL(str(out)))  # every entry point of SIGNATURES exists
    count = ctypes.c_int(-1)
    rc = lib.mc_cuda_device_count(ctypes.byref(count))
    if rc:  # no driver: an error code and the CUDA error string, not a crash
        assert lib.mc_cuda_last_error().decode().startswith("cudaError")
    else:
        assert count.value >= 0


@pytest.mark.skipif(not os.path.exists(_lib.LIB_PATH), reason="the CUDA module is not built")
def test_built_library_loads():
    assert _lib.library() is not None


@pytest.mark.skipif(GPU, reason="a GPU and driver are present")
def test_unavailable_is_false_with_a_reason_and_never_raises():
    assert minicnn.cuda.is_available() is False
    reason = minicnn.cuda.unavailable_reason()
    assert isinstance(reason, str) and reason
    assert minicnn.cuda.device_count() == 0
    if os.path.exists(_lib.LIB_PATH):
        assert "driver" in reason or "device" in reason
    else:
        assert "built without" in reason


@pytest.mark.skipif(GPU, reason="a GPU and driver are present")
@pytest.mark.parametrize("make", [
    lambda: minicnn.tensor([1.0]).to("cuda"),
    lambda: minicnn.tensor([1.0]).cuda(),
    lambda: minicnn.tensor([1.0], device="cuda"),
    lambda: minicnn.nn.Linear(2, 2).to("cuda"),
])
def test_placing_on_cuda_is_a_clear_error(make):
    with pytest.raises(RuntimeError, match="CUDA is not available") as info:
        make()
    assert minicnn.cuda.unavailable_reason() in str(info.value)


@pytest.mark.skipif(GPU, reason="a GPU and driver are present")
def test_device_arrays_need_a_gpu():
    from minicnn.backends.cuda import DeviceArray
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        DeviceArray((2, 3))


def test_kernel_table_has_the_reference_api():
    table = BACKENDS["cuda"]
    assert table.name == "cuda"
    from minicnn.backends import cuda
    for name in reference.__all__:
        assert callable(getattr(table, name))
    assert set(cuda.cuda_kernels()) >= {"conv2d", "max_pool2d", "batch_norm_backward", "cross_entropy"}
    with pytest.raises(NotImplementedError, match="layer_norm_forward has no CUDA kernel"):
        table.layer_norm_forward(None, None, None, 1e-5)


# ---------------------------------------------------------------- with a GPU: kernels vs reference

def dev(a, dtype=np.float32):
    from minicnn.backends.cuda import DeviceArray
    return DeviceArray.from_host(np.asarray(a, dtype))


def close(got, want, rtol=1e-4, atol=1e-5):
    """A device result against the float64 reference; atol scaled by the values' size."""
    got = got.to_host()
    want = np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * max(1.0, np.abs(want).max(initial=0)))


rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture(scope="module")
def cu():
    from minicnn.backends import cuda
    return cuda


UNARY = [("relu", "output", {}), ("leaky_relu", "x", {"negative_slope": 0.2}),
         ("sigmoid", "output", {}), ("tanh", "output", {}), ("silu", "x", {}),
         ("hardswish", "x", {}), ("gelu", "x", {"approximate": "none"}),
         ("gelu", "x", {"approximate": "tanh"})]


@needs_gpu
@pytest.mark.parametrize("name, saved, kw", UNARY)
def test_activations(cu, name, saved, kw):
    x, g = randn(3, 4, 5) * 3, randn(3, 4, 5)
    x64 = x.astype(np.float64)
    y = getattr(cu, name)(dev(x), **kw)
    close(y, getattr(reference, name)(x64, **kw))
    s = y if saved == "output" else dev(x)
    s64 = getattr(reference, name)(x64, **kw) if saved == "output" else x64
    close(getattr(cu, name + "_backward")(dev(g), s, **kw),
          getattr(reference, name + "_backward")(g.astype(np.float64), s64, **kw))


@needs_gpu
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family(cu, name, dim):
    x, g = randn(3, 4, 5) * 4, randn(3, 4, 5)
    y = getattr(cu, name)(dev(x), dim)
    y64 = getattr(reference, name)(x.astype(np.float64), dim)
    close(y, y64)
    close(getattr(cu, name + "_backward")(dev(g), y, dim),
          getattr(reference, name + "_backward")(g.astype(np.float64), y64, dim))


@needs_gpu
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4, 5)])
def test_bias_add(cu, shape):
    x, b = randn(*shape), randn(shape[1])
    close(cu.bias_add(dev(x), dev(b)), reference.bias_add(x.astype(np.float64), b))
    close(cu.bias_add_backward(dev(x)), reference.bias_add_backward(x.astype(np.float64)))


@needs_gpu
def test_arithmetic_and_sum(cu):
    a, b = randn(4, 5), randn(4, 5) + 3
    for name, f in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("div", np.divide)):
        close(getattr(cu, name)(dev(a), dev(b)), f(a.astype(np.float64), b))
    close(cu.affine(dev(a), 2.0, -1.0), 2.0 * a.astype(np.float64) - 1.0)
    for dim in (0, 1, -1):
        close(cu.sum(dev(a), dim), a.astype(np.float64).sum(axis=dim))
    close(cu.fill(dev(a), 1.5), np.full(a.shape, 1.5))
    with pytest.raises(ValueError, match="not broadcastable"):
        cu.add(dev(a), dev(b[:2]))
    with pytest.raises(TypeError, match="float32"):
        cu.relu(dev(a, np.float64))


@needs_gpu
@pytest.mark.parametrize("use_cublas", [False, True])
@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True), (True, True)])
def test_sgemm(cu, use_cublas, ta, tb):
    if use_cublas and not cu.cublas_available():
        pytest.skip("libcublas not found")
    M, N, K = 67, 33, 129  # not multiples of the 64 x 64 x 16 tiles
    a = randn(K, M) if ta else randn(M, K)
    b = randn(N, K) if tb else randn(K, N)
    want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b)
    close(cu.sgemm(dev(a), dev(b), ta, tb, use_cublas=use_cublas), want)


@needs_gpu
def test_linear(cu):
    x, w, b, g = randn(5, 7), randn(3, 7), randn(3), randn(5, 3)
    x64, w64, g64 = (a.astype(np.float64) for a in (x, w, g))
    close(cu.linear(dev(x), dev(w), dev(b)), reference.linear(x64, w64, b.astype(np.float64)))
    close(cu.linear_backward_input(dev(g), dev(w)), reference.linear_backward_input(g64, w64))
    close(cu.linear_backward_weight(dev(g), dev(x)), reference.linear_backward_weight(g64, x64))


@needs_gpu
def test_im2col_col2im(cu):
    x = randn(3, 7, 6)
    args = (3, 2, 2, 1, 1, 0, 2, 1)  # kh kw sh sw ph pw dh dw: non-square, strided, dilated
    cols = cu.im2col(dev(x), *args)
    want = reference.im2col(x.astype(np.float64), *args)
    close(cols, want)
    close(cu.col2im(cols, 3, 7, 6, *args), reference.col2im(want, 3, 7, 6, *args))


CONV = [  # (N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw, groups)
    (2, 3, 8, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1),
    (1, 4, 9, 9, 6, 3, 2, 2, 1, 0, 1, 1, 1, 2),
    (2, 3, 7, 8, 5, 3, 3, 1, 2, 2, 1, 2, 1, 1),
    (2, 4, 5, 5, 8, 1, 1, 1, 1, 0, 0, 1, 1, 1),   # 1x1: no im2col
    (2, 4, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4),   # depthwise
    (1, 3, 7, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, 3),   # depthwise, multiplier 2, stride 2
]


@needs_gpu
@pytest.mark.parametrize("case", CONV)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(cu, case, bias):
    N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw, groups = case
    x, w = randn(N, C, H, W), randn(K, C // groups, kh, kw)
    b = randn(K) if bias else None
    conv = (sh, sw, ph, pw, dh, dw, groups)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    y64 = reference.conv2d(x64, w64, None if b is None else b.astype(np.float64), *conv)
    close(cu.conv2d(dev(x), dev(w), None if b is None else dev(b), *conv), y64)
    g = randn(*y64.shape)
    g64 = g.astype(np.float64)
    close(cu.conv2d_backward_input(dev(g), dev(w), H, W, *conv),
          reference.conv2d_backward_input(g64, w64, H, W, *conv))
    close(cu.conv2d_backward_weight(dev(g), dev(x), kh, kw, *conv),
          reference.conv2d_backward_weight(g64, x64, kh, kw, *conv))


@needs_gpu
@pytest.mark.parametrize("args", [  # kh kw sh sw ph pw dh dw ceil_mode
    (2, 2, 2, 2, 0, 0, 1, 1, False), (3, 2, 2, 1, 1, 1, 1, 1, True), (3, 3, 1, 2, 1, 0, 2, 1, False)])
def test_max_pool2d(cu, args):
    x = randn(2, 3, 7, 8)
    x[0, 0, 0, :2] = 5.0  # a tie: the first wins
    y, idx = cu.max_pool2d(dev(x), *args)
    y64, idx64 = reference.max_pool2d(x.astype(np.float64), *args)
    close(y, y64)
    np.testing.assert_array_equal(idx.to_host(), idx64)
    g = randn(*y64.shape)
    close(cu.max_pool2d_backward(dev(g), idx, 7, 8),
          reference.max_pool2d_backward(g.astype(np.float64), idx64, 7, 8))


@needs_gpu
@pytest.mark.parametrize("args", [  # kh kw sh sw ph pw ceil_mode count_include_pad divisor_override
    (2, 2, 2, 2, 0, 0, False, True, None), (3, 3, 2, 2, 1, 1, True, False, None),
    (3, 2, 2, 1, 1, 1, True, True, None), (2, 3, 1, 2, 1, 1, False, True, 5)])
def test_avg_pool2d(cu, args):
    x = randn(2, 3, 7, 8)
    y64 = reference.avg_pool2d(x.astype(np.float64), *args)
    close(cu.avg_pool2d(dev(x), *args), y64)
    g = randn(*y64.shape)
    close(cu.avg_pool2d_backward(dev(g), 7, 8, *args),
          reference.avg_pool2d_backward(g.astype(np.float64), 7, 8, *args))


@needs_gpu
@pytest.mark.parametrize("out", [(1, 1), (3, 2), (5, 7)])
def test_adaptive_pools(cu, out):
    x, g = randn(2, 3, 7, 9), randn(2, 3, *out)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    close(cu.adaptive_avg_pool2d(dev(x), *out), reference.adaptive_avg_pool2d(x64, *out))
    close(cu.adaptive_avg_pool2d_backward(dev(g), 7, 9),
          reference.adaptive_avg_pool2d_backward(g64, 7, 9))
    y, idx = cu.adaptive_max_pool2d(dev(x), *out)
    y64, idx64 = reference.adaptive_max_pool2d(x64, *out)
    close(y, y64)
    np.testing.assert_array_equal(idx.to_host(), idx64)


@needs_gpu
@pytest.mark.parametrize("shape", [(4, 3), (3, 5, 4, 6)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm(cu, shape, affine):
    C = shape[1]
    x, g = randn(*shape) * 2 + 3, randn(*shape)
    w, b = (randn(C), randn(C)) if affine else (None, None)
    d = (lambda a: None if a is None else dev(a))
    f64 = (lambda a: None if a is None else a.astype(np.float64))
    y, mean, var, invstd = cu.batch_norm_forward_train(dev(x), d(w), d(b), 1e-5)
    want = reference.batch_norm_forward_train(f64(x), f64(w), f64(b), 1e-5)
    for got, ref in zip((y, mean, var, invstd), want):
        close(got, ref)
    for train in (True, False):
        got = cu.batch_norm_backward(dev(g), dev(x), mean, invstd, d(w), train, (True, affine, affine))
        ref = reference.batch_norm_backward(f64(g), f64(x), want[1], want[3], f64(w), train,
                                            (True, affine, affine))
        for a, r in zip(got, ref):
            assert (a is None) == (r is None)
            if a is not None:
                close(a, r)
    rm, rv = randn(C), np.abs(randn(C)) + 0.5
    close(cu.batch_norm_forward_eval(dev(x), dev(rm), dev(rv), d(w), d(b), 1e-5),
          reference.batch_norm_forward_eval(f64(x), f64(rm), f64(rv), f64(w), f64(b), 1e-5))


@needs_gpu
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 2, 3)])
@pytest.mark.parametrize("weighted, smoothing", [(False, 0.0), (True, 0.0), (True, 0.1)])
def test_cross_entropy_and_nll(cu, shape, weighted, smoothing):
    N, C = shape[:2]
    x = randn(*shape) * 3
    t = rng.integers(0, C, (N,) + shape[2:]).astype(np.int64)
    t.flat[0] = -100  # ignored
    w = np.abs(randn(C)) + 0.1 if weighted else None
    x64, w64 = x.astype(np.float64), None if w is None else w.astype(np.float64)
    dw = None if w is None else dev(w)
    loss, stats, lsum, wsum = cu.cross_entropy(dev(x), dev(t, np.int64), dw, -100, smoothing)
    rloss, rstats, rlsum, rwsum = reference.cross_entropy(x64, t, w64, -100, smoothing)
    close(loss, rloss)
    close(stats, rstats)
    np.testing.assert_allclose([lsum, wsum], [rlsum, rwsum], rtol=1e-4)
    for g in (np.float32(1.0), randn(*t.shape)):
        g_dev = dev(np.asarray(g))
        close(cu.cross_entropy_backward(g_dev, dev(x), dev(t, np.int64), dw, stats, -100, smoothing,
                                        0.5),
              reference.cross_entropy_backward(np.asarray(g, np.float64), x64, t, w64, rstats,
                                               -100, smoothing, 0.5))
        close(cu.nll_loss_backward(g_dev, dev(x), dev(t, np.int64), dw, -100, 0.5),
              reference.nll_loss_backward(np.asarray(g, np.float64), x64, t, w64, -100, 0.5))
    loss, lsum, wsum = cu.nll_loss(dev(x), dev(t, np.int64), dw, -100)
    rloss, rlsum, rwsum = reference.nll_loss(x64, t, w64, -100)
    close(loss, rloss)
    np.testing.assert_allclose([lsum, wsum], [rlsum, rwsum], rtol=1e-4)


@needs_gpu
def test_cross_entropy_bad_target(cu):
    with pytest.raises(ValueError, match="target 7 is out of bounds for 5 classes"):
        cu.cross_entropy(dev(randn(3, 5)), dev([0, 7, 1], np.int64))


def _cpu_step(opt_cls, p0, grads, **kw):
    p = minicnn.nn.Parameter(minicnn.tensor(p0))
    opt = opt_cls([p], **kw)
    for g in grads:
        p.grad = minicnn.tensor(g)
        opt.step()
    return p.detach().numpy()


@needs_gpu
@pytest.mark.parametrize("kw", [dict(lr=0.1), dict(lr=0.1, momentum=0.9, weight_decay=0.01),
                                dict(lr=0.1, momentum=0.9, nesterov=True),
                                dict(lr=0.1, momentum=0.5, dampening=0.3, maximize=True)])
def test_sgd_step(cu, kw):
    p0, grads = randn(4, 3), [randn(4, 3) for _ in range(3)]
    p, buf = dev(p0), cu.zeros((4, 3))
    for i, g in enumerate(grads):
        cu.sgd_step(p, dev(g), buf if kw.get("momentum") else None, first_step=i == 0, **kw)
    close(p, _cpu_step(minicnn.optim.SGD, p0, grads, **kw))


@needs_gpu
@pytest.mark.parametrize("kw", [dict(lr=0.01), dict(lr=0.01, weight_decay=0.1),
                                dict(lr=0.01, weight_decay=0.1, amsgrad=True),
                                dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)])
def test_adam_step(cu, kw):
    p0, grads = randn(4, 3), [randn(4, 3) for _ in range(3)]
    p, m, v = dev(p0), cu.zeros((4, 3)), cu.zeros((4, 3))
    vmax = cu.zeros((4, 3)) if kw.get("amsgrad") else None
    gpu_kw = {k: v_ for k, v_ in kw.items() if k != "amsgrad"}
    for step, g in enumerate(grads, 1):
        cu.adam_step(p, dev(g), m, v, step, max_exp_avg_sq=vmax, **gpu_kw)
    close(p, _cpu_step(minicnn.optim.Adam, p0, grads, **kw))


@needs_gpu
def test_caching_allocator_reuses_blocks(cu):
    cu.synchronize()
    before = minicnn.cuda.memory_allocated()
    a = cu.empty((1000,))
    assert minicnn.cuda.memory_allocated() == before + 4096
    ptr = a.ptr
    del a
    assert minicnn.cuda.memory_allocated() == before
    assert cu.empty((1000,)).ptr == ptr  # the cached block, no cudaMalloc
    minicnn.cuda.empty_cache()
    assert minicnn.cuda.memory_reserved() == minicnn.cuda.memory_allocated()


@needs_gpu
def test_cuda_errors_become_exceptions(cu):
    with pytest.raises(cu.CudaError, match="cudaError"):
        _lib.check(_lib.lib().mc_cuda_memcpy_dtoh(None, 16, 64))  # 16 is no device address


# ---------------------------------------------------------------- with a GPU: layout kernels, tensors

@needs_gpu
def test_layout_kernels(cu):
    """The kernels behind CUDA tensors' NumPy-like surface (array_ops): broadcasting binary ops,
    the strided copy (slices, permutes, broadcasts, scatter into a slice), casts, int64 add."""
    x, y = randn(3, 4, 5), randn(4, 1)
    dx, dy = dev(x), dev(y)
    close(dx + dy, x + y.astype(np.float64))
    close(2.5 / dx, 2.5 / x.astype(np.float64))
    close(dx ** 2, x.astype(np.float64) ** 2)
    close(np.sign(dx), np.sign(x))
    close(dx.transpose(2, 0, 1), x.transpose(2, 0, 1))
    close(dx[1, None, 3:0:-1], x[1, None, 3:0:-1])
    close(np.broadcast_to(dy, (2, 4, 3)), np.broadcast_to(y, (2, 4, 3)))
    close(dx.sum(axis=(0, 2), keepdims=True), x.astype(np.float64).sum(axis=(0, 2), keepdims=True))
    z = dx.copy()
    z[::-1, 1:3, 2] = dy[1:3, 0]
    want = x.copy()
    want[::-1, 1:3, 2] = y[1:3, 0]
    close(z, want)
    ints = (dx * 3).astype(np.int64)
    np.testing.assert_array_equal(ints.to_host(), (x * 3).astype(np.int64))
    ints += 7
    np.testing.assert_array_equal(ints.astype(bool).to_host(), (x * 3).astype(np.int64) + 7 != 0)


@needs_gpu
def test_conv2d_in_several_chunks(cu, monkeypatch):
    """A workspace for 2 images: 5 images go through in chunks of 2, 2 and 1."""
    x, w, g = randn(5, 4, 6, 5), randn(6, 2, 3, 3), randn(5, 6, 6, 5)
    monkeypatch.setattr(cu, "CONV_WORKSPACE_BYTES", 2 * (2 * 9 + 3) * 30 * 4 + 3)
    conv = (1, 1, 1, 1, 1, 1, 2)
    x64, w64, g64 = x.astype(np.float64), w.astype(np.float64), g.astype(np.float64)
    close(cu.conv2d(dev(x), dev(w), None, *conv), reference.conv2d(x64, w64, None, *conv))
    close(cu.conv2d_backward_input(dev(g), dev(w), 6, 5, *conv),
          reference.conv2d_backward_input(g64, w64, 6, 5, *conv))
    close(cu.conv2d_backward_weight(dev(g), dev(x), 3, 3, *conv),
          reference.conv2d_backward_weight(g64, x64, 3, 3, *conv))


@needs_gpu
@pytest.mark.parametrize("name", ["lenet5", "convnet"])
def test_training_steps_on_the_gpu_match_the_cpu(name):
    """Three SGD steps of a model on "cuda" against the same steps on "cpu". Loose tolerances:
    float32 sums in another order can flip near-tied max-pool windows, and the difference grows
    over the steps; a wrong kernel is off by far more."""
    import copy

    import minicnn.nn.functional as F

    shape = (1, 28, 28) if name == "lenet5" else (3, 32, 32)
    kwargs = {"dropout": 0.0} if name == "convnet" else {}
    minicnn.manual_seed(0)
    cpu = minicnn.models.get_model(name, **kwargs)
    gpu = copy.deepcopy(cpu).to("cuda")
    opts = [minicnn.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
            for m in (cpu, gpu)]
    for _ in range(3):
        x, y = minicnn.randn(16, *shape), minicnn.randint(0, 10, (16,))
        losses = []
        for model, opt, dev_ in ((cpu, opts[0], "cpu"), (gpu, opts[1], "cuda")):
            opt.zero_grad()
            loss = F.cross_entropy(model(x.to(dev_)), y.to(dev_))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[1] == pytest.approx(losses[0], rel=5e-3)
    for p, q in zip(cpu.parameters(), gpu.parameters()):
        np.testing.assert_allclose(q.detach().cpu().numpy(), p.detach().numpy(), rtol=1e-2,
                                   atol=1e-3)
