"""The optional CUDA module (minicnn.backends.cuda, csrc/cuda).

Without a GPU: the sources compile with nvcc (skipped without nvcc), the built library loads,
is_available() is False and never raises, and every way onto the GPU fails with a clear error.
With a GPU: the caching allocator, CUDA errors as exceptions, and training steps on the GPU
against the CPU. Every kernel against the NumPy reference is in test_cuda_kernels.py, which runs
on the CPU emulator everywhere and on the real library too where there is a GPU.
"""
import ctypes
import glob
import os
import shutil
import subprocess

import numpy as np
import pytest

import minicnn
from minicnn.backends import BACKENDS, info, reference
from minicnn.backends.cuda import _lib

from cuda_emulator import Emulator, installed
from helpers import needs_source_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPU = minicnn.cuda.is_available()
needs_gpu = pytest.mark.skipif(not GPU, reason=f"no CUDA GPU: {minicnn.cuda.unavailable_reason()}")
NVCC = os.environ.get("NVCC") or shutil.which("nvcc")
try:
    ctypes.CDLL(_lib.DRIVER_NAME)
    DRIVER = True
except OSError:
    DRIVER = False
NO_DRIVER = "no NVIDIA driver found (libcuda.so.1 is not installed)"


# ---------------------------------------------------------------- without a GPU

@pytest.mark.skipif(NVCC is None, reason="nvcc not found")
@needs_source_tree("csrc/cuda")
def test_sources_build_with_nvcc_and_load(tmp_path):
    """One architecture only (the build's default is sm_75/80/90 + PTX): the point is that the
    sources compile and that the library loads with ctypes, GPU or not (static cudart), and
    reports the architectures the build named (-DMC_CUDA_ARCHS, as setup.py passes it)."""
    out = tmp_path / "libminicnn_cuda.so"
    sources = sorted(glob.glob(os.path.join(ROOT, "csrc", "cuda", "*.cu")))
    subprocess.run([NVCC, "-O1", "-shared", "-Xcompiler", "-fPIC", "-cudart", "static",
                    "-std=c++17", "-gencode=arch=compute_75,code=[sm_75,compute_75]",
                    "-DMC_CUDA_ARCHS=sm_75 compute_75",
                    "-I" + os.path.join(ROOT, "csrc", "cuda"), *sources, "-o", str(out), "-ldl"],
                   check=True, capture_output=True)
    lib = _lib._bind(ctypes.CDLL(str(out)))  # every entry point of SIGNATURES exists
    archs = ctypes.create_string_buffer(64)
    assert lib.mc_cuda_built_archs(archs, len(archs)) == 0
    assert archs.value == b"sm_75 compute_75"
    count, major, minor = ctypes.c_int(-1), ctypes.c_int(-1), ctypes.c_int(-1)
    rc = lib.mc_cuda_device_count(ctypes.byref(count))
    if rc:  # no driver: an error code and the CUDA error string, not a crash
        assert lib.mc_cuda_last_error().decode().startswith("cudaError")
        assert lib.mc_cuda_device_capability(0, ctypes.byref(major), ctypes.byref(minor)) == rc
        assert (major.value, minor.value) == (0, 0)
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


@pytest.mark.skipif(DRIVER, reason="an NVIDIA driver is installed")
def test_without_a_driver_every_message_says_so():
    assert _lib._load_driver() == (None, NO_DRIVER)
    assert minicnn.cuda.unavailable_reason().startswith(NO_DRIVER)
    assert needs_gpu.mark.kwargs["reason"].startswith(f"no CUDA GPU: {NO_DRIVER}")
    assert info()["cuda"].startswith(f"not available: {NO_DRIVER}")


def test_the_driver_is_looked_for_first(monkeypatch):
    monkeypatch.setattr(_lib, "DRIVER_NAME", "libcuda-that-is-not-there.so.1")
    monkeypatch.setattr(_lib, "_state", None)
    lib, reason, count = _lib.status()
    assert reason.startswith("no NVIDIA driver found (libcuda-that-is-not-there.so.1 is not "
                             "installed)") and count == 0
    assert (lib is None) == (not os.path.exists(_lib.LIB_PATH))


class FakeDriver:
    """libcuda's cuDriverGetVersion, for a driver that supports CUDA 12.2."""

    def cuDriverGetVersion(self, version):
        version._obj.value = 12020
        return 0


def test_device_reasons_with_a_driver(monkeypatch):
    emu = Emulator()
    assert _lib._device_reason(emu, FakeDriver()) == (None, 1)

    def ampere(device, major, minor):  # an older GPU than the emulator's build (sm_90) is for
        major._obj.value, minor._obj.value = 8, 0
        return 0

    monkeypatch.setattr(emu, "mc_cuda_device_capability", ampere)
    assert _lib._device_reason(emu, FakeDriver()) == (
        ("GPU 0 (minicnn CPU emulator, compute capability 8.0) is not supported by this build "
         "(built for sm_90); rebuild with MINICNN_CUDA_ARCH=80 pip install -e ."), 0)
    # the runtime's own errors: a driver older than the build's CUDA, no device at all
    insufficient = ("cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA "
                    "runtime version")
    for code, error, reason in [
            (35, insufficient, ("the NVIDIA driver is too old: it runs CUDA 12.2 at most, "
                                "minicnn's CUDA module was built with CUDA 13.0; update the "
                                f"driver or rebuild with an older CUDA toolkit ({insufficient})")),
            (100, "cudaErrorNoDevice: no CUDA-capable device is detected",
             "no CUDA device found (the NVIDIA driver is installed)")]:
        monkeypatch.setattr(emu, "mc_cuda_device_count", lambda count, code=code: code)
        monkeypatch.setattr(emu, "mc_cuda_last_error", lambda error=error: (
            error + " (cudaGetDeviceCount(count) at runtime.cu:33)").encode())
        assert _lib._device_reason(emu, FakeDriver()) == (reason, 0)


BUILT = "sm_75 sm_80 sm_90 compute_90"  # setup.py's default


@pytest.mark.parametrize("capability, built", [
    ((7, 5), BUILT), ((8, 6), BUILT), ((8, 9), BUILT), ((9, 0), BUILT),
    ((10, 0), BUILT), ((12, 0), BUILT),  # later GPUs: the compute_90 PTX
    ((7, 5), "sm_70"), ((8, 6), "compute_80"), ((9, 0), "sm_90a"), ((10, 3), "sm_100f"),
    ((6, 0), ""),  # a build that did not say: the runtime decides
])
def test_supported_capabilities(capability, built):
    assert _lib.unsupported_reason(capability, built) is None


@pytest.mark.parametrize("capability, built, found, built_text", [
    ((7, 0), "sm_75", "7.0", "sm_75"),  # SASS: not on a lower minor
    ((10, 0), "sm_75 sm_80 sm_90", "10.0", "sm_75, sm_80, sm_90"),  # nor another major
    ((8, 0), "compute_86", "8.0", "PTX compute_86"),  # PTX: not on an older GPU
    ((10, 0), "sm_90a compute_90a", "10.0", "sm_90a + PTX compute_90a"),  # 9.0 only
    ((10, 3), "sm_100a", "10.3", "sm_100a"),  # 10.0 only
    ((12, 0), "sm_100f", "12.0", "sm_100f"),  # the 10.x family only
])
def test_unsupported_capabilities(capability, built, found, built_text):
    assert _lib.unsupported_reason(capability, built, "Some GPU") == (
        f"GPU 0 (Some GPU, compute capability {found}) is not supported by this build (built "
        f"for {built_text}); rebuild with MINICNN_CUDA_ARCH={found.replace('.', '')} pip "
        f"install -e .")


def test_unsupported_says_when_the_toolkit_is_too_new():
    message = ("GPU 0 (Tesla P100-PCIE-16GB, compute capability 6.0) is not supported by this "
               "build (built for sm_75, sm_80, sm_90 + PTX compute_90); rebuild with "
               "MINICNN_CUDA_ARCH=60 pip install -e .")
    assert _lib.unsupported_reason((6, 0), BUILT, "Tesla P100-PCIE-16GB", 12040) == message
    assert _lib.unsupported_reason((6, 0), BUILT, "Tesla P100-PCIE-16GB", 13000) == (
        message + " using a CUDA toolkit older than 13.0 (CUDA 13 compiles for compute "
        "capability 7.5 and newer only)")
    with pytest.raises(ValueError, match="expected sm_XY or compute_XY, got 'sm75'"):
        _lib.unsupported_reason((9, 0), "sm75")


def test_get_device_capability():
    with installed():
        assert minicnn.cuda.get_device_capability() == (9, 0)
        with pytest.raises(_lib.CudaError, match="cudaErrorInvalidDevice"):
            minicnn.cuda.get_device_capability(1)


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
    assert set(cuda.cuda_kernels()) >= {"conv2d", "max_pool2d", "batch_norm_backward",
                                        "cross_entropy"}
    with pytest.raises(NotImplementedError, match="layer_norm_forward has no CUDA kernel"):
        table.layer_norm_forward(None, None, None, 1e-5)


# ---------------------------------------------------------------- with a GPU

@pytest.fixture(scope="module")
def cu():
    from minicnn.backends import cuda
    return cuda


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
