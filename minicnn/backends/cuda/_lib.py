"""Loading the nvcc-built kernel library (csrc/cuda, built by setup.py) with ctypes.

The library links the CUDA runtime statically (``-cudart static``), so it loads on any Linux
machine, GPU or not; only the NVIDIA driver (libcuda.so.1) is needed at run time. :func:`status`
looks for the driver itself before asking the runtime, which would report a missing driver as
"cudaErrorInsufficientDriver", and checks that GPU 0's compute capability is one the library
carries code for (:func:`unsupported_reason`). Every entry point returns 0 or an error code;
:func:`check` turns a nonzero code into :class:`CudaError` carrying the CUDA error string.
"""
import ctypes
import os
import re

LIB_NAME = "libminicnn_cuda.so"
LIB_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), LIB_NAME)


class CudaError(RuntimeError):
    """A failed CUDA runtime call, kernel launch or cuBLAS call; the message has the CUDA error
    name and string (e.g. ``cudaErrorMemoryAllocation: out of memory``) and where it happened."""


_P, _I, _I64, _F, _D, _SZ = (ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_float,
                             ctypes.c_double, ctypes.c_size_t)
_CONV = [_I] * 13  # N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw
_POOL = [_I] * 11  # P, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw

#: argument types of every entry point of minicnn_cuda.h (all return int unless listed below)
SIGNATURES = {
    "mc_cuda_runtime_version": [_P],
    "mc_cuda_device_count": [_P],
    "mc_cuda_device_name": [_I, _P, _I],
    "mc_cuda_device_capability": [_I, _P, _P],
    "mc_cuda_built_archs": [_P, _I],
    "mc_cuda_mem_info": [_P, _P],
    "mc_cuda_synchronize": [],
    "mc_cuda_malloc": [_P, _SZ],
    "mc_cuda_free": [_P],
    "mc_cuda_memcpy_htod": [_P, _P, _SZ],
    "mc_cuda_memcpy_dtoh": [_P, _P, _SZ],
    "mc_cuda_memcpy_dtod": [_P, _P, _SZ],
    "mc_cuda_memset": [_P, _I, _SZ],
    "mc_cuda_unary": [_I, _I64, _P, _P, _F, _F],
    "mc_cuda_unary_backward": [_I, _I64, _P, _P, _P, _F],
    "mc_cuda_binary": [_I, _I64, _P, _P, _P],
    "mc_cuda_fill": [_I64, _P, _F],
    "mc_cuda_strided_copy": [_I, _P, _P, _I64, _P, _P, _I64, _P, _I],
    "mc_cuda_cast": [_I64, _P, _I, _P, _I],
    "mc_cuda_add_int64": [_I64, _P, _I64],
    "mc_cuda_binary_broadcast": [_I, _I, _P, _P, _P, _P, _P, _P],
    "mc_cuda_bias_add": [_I64, _I64, _I64, _P, _P, _P],
    "mc_cuda_sum_axis": [_I64, _I64, _I64, _P, _P],
    "mc_cuda_sum_keep_axis": [_I64, _I64, _I64, _P, _P],
    "mc_cuda_softmax": [_I, _I64, _I64, _I64, _P, _P],
    "mc_cuda_softmax_backward": [_I, _I64, _I64, _I64, _P, _P, _P],
    "mc_cuda_sgemm": [_I, _I, _I, _I, _I, _F, _P, _I, _P, _I, _F, _P, _I],
    "mc_cuda_sgemm_tiled": [_I, _I, _I, _I, _I, _F, _P, _I, _P, _I, _F, _P, _I],
    "mc_cuda_cublas_available": [],
    "mc_cuda_im2col": [_P] + [_I] * 11 + [_P],
    "mc_cuda_col2im": [_P] + [_I] * 11 + [_P],
    "mc_cuda_conv2d": [_P] * 5 + _CONV + [_I, _I],
    "mc_cuda_conv2d_backward_input": [_P] * 4 + _CONV + [_I, _I],
    "mc_cuda_conv2d_backward_weight": [_P] * 4 + _CONV + [_I, _I],
    "mc_cuda_depthwise_conv2d": [_P] * 4 + _CONV,
    "mc_cuda_depthwise_conv2d_backward_input": [_P] * 3 + _CONV,
    "mc_cuda_depthwise_conv2d_backward_weight": [_P] * 3 + _CONV,
    "mc_cuda_max_pool2d": [_P] * 3 + _POOL + [_I, _I, _I],
    "mc_cuda_max_pool2d_backward": [_P] * 3 + [_I] * 5,
    "mc_cuda_avg_pool2d": [_P] * 2 + _POOL + [_I, _I, _I],
    "mc_cuda_avg_pool2d_backward": [_P] * 2 + _POOL + [_I, _I, _I],
    "mc_cuda_batch_norm_forward_train": [_P] * 7 + [_I, _I, _I, _F],
    "mc_cuda_batch_norm_forward_eval": [_P] * 6 + [_I, _I, _I, _F],
    "mc_cuda_batch_norm_backward": [_P] * 9 + [_I, _I, _I, _I],
    "mc_cuda_cross_entropy": [_P] * 6 + [_I, _I, _I, _I64, _F],
    "mc_cuda_cross_entropy_backward": [_P, _I] + [_P] * 5 + [_I, _I, _I, _I64, _F, _F],
    "mc_cuda_nll_loss": [_P] * 5 + [_I, _I, _I, _I64],
    "mc_cuda_nll_loss_backward": [_P, _I] + [_P] * 3 + [_I, _I, _I, _I64, _F],
    "mc_cuda_sgd_step": [_I64, _P, _P, _P, _F, _F, _F, _F, _I, _I, _I],
    "mc_cuda_adam_step": [_I64] + [_P] * 5 + [_F] * 5 + [_I, _I64, _I],
}


def _bind(lib):
    for name, argtypes in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = ctypes.c_int
    lib.mc_cuda_last_error.argtypes = []
    lib.mc_cuda_last_error.restype = ctypes.c_char_p
    lib.mc_cuda_use_cublas.argtypes = [_I]
    lib.mc_cuda_use_cublas.restype = None
    return lib


_state = None  # (lib or None, reason or None, device count), decided once

DRIVER_NAME = "libcuda.so.1"
# the lowest compute capability (x10) each CUDA major version still compiles for
_TOOLKIT_MIN_ARCH = {12: 50, 13: 75}


def _load_driver():
    """(the NVIDIA driver's libcuda, None), or (None, why it is missing)."""
    try:
        return ctypes.CDLL(DRIVER_NAME), None
    except OSError as exc:
        text = str(exc)
        if "No such file" in text or "not found" in text:
            return None, f"no NVIDIA driver found ({DRIVER_NAME} is not installed)"
        return None, f"no usable NVIDIA driver ({DRIVER_NAME} failed to load: {text})"


def _version_text(version):
    """CUDA's integer versions as text: 12020 -> "12.2"."""
    return f"{version // 1000}.{version % 1000 // 10}"


def _parse_archs(built):
    """[(kind, major, minor, suffix)] of "sm_75 sm_90a compute_90": kind "sm" or "compute"."""
    archs = []
    for token in built.replace('"', " ").replace(",", " ").split():
        m = re.fullmatch(r"(sm|compute)_(\d+)(\d)([af]?)", token)
        if m is None:
            raise ValueError(f"built architectures: expected sm_XY or compute_XY, got {token!r} "
                             f"in {built!r}")
        archs.append((m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)))
    return archs


def _runs(capability, arch):
    major, minor = capability
    kind, x, y, suffix = arch
    if suffix == "a":  # architecture-specific code (sm_90a): that exact GPU only
        return (major, minor) == (x, y)
    if kind == "compute" and not suffix:  # PTX, compiled by the driver for any later GPU
        return (major, minor) >= (x, y)
    return major == x and minor >= y  # SASS (and family code): later minors of the same major


def unsupported_reason(capability: tuple[int, int], built: str, name: str = "",
                       runtime_version: int = 0) -> str | None:
    """Whether GPU 0, of compute capability ``capability`` (``(major, minor)``, ints), can run a
    library that carries ``built``: None when it can, else a message saying what was found, what
    was built and how to rebuild.

    ``built``: the architectures the library was compiled for, as
    ``mc_cuda_built_archs`` reports them, e.g. ``"sm_75 sm_80 sm_90 compute_90"``: SASS for
    ``sm_XY``, which runs on a GPU of major X and minor >= Y (``sm_XYa``: on X.Y only), and PTX
    for ``compute_XY``, which the driver compiles for any capability >= X.Y. An empty ``built``
    (a build that did not say) counts as supported: the runtime reports a missing kernel image
    at the first launch. ``name``: the GPU's name, for the message; ``runtime_version``: the
    CUDA runtime the library was built with (e.g. 13000), to tell when the toolkit itself no
    longer compiles for that GPU. Raises ValueError for a malformed ``built``.
    """
    archs = _parse_archs(built)
    if not archs or any(_runs(capability, a) for a in archs):
        return None
    major, minor = capability
    sass = [f"{k}_{x}{y}{s}" for k, x, y, s in archs if k == "sm"]
    ptx = [f"{k}_{x}{y}{s}" for k, x, y, s in archs if k == "compute"]
    built_text = ", ".join(sass) + (" + " if sass and ptx else "") + (
        "PTX " + ", ".join(ptx) if ptx else "")
    gpu = f"GPU 0 ({name + ', ' if name else ''}compute capability {major}.{minor})"
    message = (f"{gpu} is not supported by this build (built for {built_text}); rebuild with "
               f"MINICNN_CUDA_ARCH={major}{minor} pip install -e .")
    lowest = _TOOLKIT_MIN_ARCH.get(runtime_version // 1000)
    if lowest is not None and major * 10 + minor < lowest:
        message += (f" using a CUDA toolkit older than {runtime_version // 1000}.0 (CUDA "
                    f"{runtime_version // 1000} compiles for compute capability "
                    f"{lowest // 10}.{lowest % 10} and newer only)")
    return message


def _device_reason(lib, driver):
    """(why the GPU cannot be used or None, device count), for a loaded library and driver."""
    count = ctypes.c_int(0)
    if lib.mc_cuda_device_count(ctypes.byref(count)) != 0:
        message = lib.mc_cuda_last_error().decode().split(" (")[0]
        if message.startswith("cudaErrorNoDevice"):
            return "no CUDA device found (the NVIDIA driver is installed)", 0
        if message.startswith("cudaErrorInsufficientDriver"):
            runtime, supported = ctypes.c_int(0), ctypes.c_int(0)
            lib.mc_cuda_runtime_version(ctypes.byref(runtime))
            driver.cuDriverGetVersion(ctypes.byref(supported))
            return (f"the NVIDIA driver is too old: it runs CUDA "
                    f"{_version_text(supported.value)} at most, minicnn's CUDA module was built "
                    f"with CUDA {_version_text(runtime.value)}; update the driver or rebuild "
                    f"with an older CUDA toolkit ({message})"), 0
        return f"CUDA cannot start ({message})", 0
    if count.value == 0:
        return "no CUDA device found", 0
    major, minor, runtime = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
    name, built = ctypes.create_string_buffer(256), ctypes.create_string_buffer(256)
    if (lib.mc_cuda_device_capability(0, ctypes.byref(major), ctypes.byref(minor))
            or lib.mc_cuda_device_name(0, name, len(name))):
        return f"CUDA cannot query GPU 0 ({lib.mc_cuda_last_error().decode()})", 0
    lib.mc_cuda_built_archs(built, len(built))
    lib.mc_cuda_runtime_version(ctypes.byref(runtime))
    try:
        reason = unsupported_reason((major.value, minor.value), built.value.decode(),
                                    name.value.decode().rsplit(" (sm_", 1)[0], runtime.value)
    except ValueError:  # a build that misreports its architectures: let the runtime decide
        reason = None
    return reason, (0 if reason else count.value)


def status():
    """(lib, reason, device_count): the bound library or None, and why the GPU cannot be used
    (None when it can): no NVIDIA driver, the module not built or not loading, a driver too old,
    no device, or GPU 0's compute capability not built for. Never raises; the answer is computed
    once per process."""
    global _state
    if _state is not None:
        return _state
    lib, reason = None, None
    if not os.path.exists(LIB_PATH):
        reason = ("minicnn was built without its CUDA module (the build needs nvcc, and an "
                  "NVIDIA driver unless MINICNN_CUDA=1; see docs/09-cuda.md)")
    else:
        try:
            lib = _bind(ctypes.CDLL(LIB_PATH))
        except (OSError, AttributeError) as exc:  # a broken or stale build
            reason = f"minicnn's CUDA module failed to load ({exc}); rebuild: pip install -e ."
    driver, no_driver = _load_driver()
    if no_driver is not None:  # first: without a driver nothing else matters
        _state = (lib, no_driver + (f"; also, {reason}" if reason else ""), 0)
    elif reason is not None:
        _state = (lib, reason, 0)
    else:
        _state = (lib, *_device_reason(lib, driver))
    return _state


def library():
    """The bound library, or None when it is not built or failed to load (whether or not a GPU
    is present: the build test loads it on machines without one)."""
    return status()[0]


def lib():
    """The bound library, ready to run kernels; RuntimeError naming the reason otherwise."""
    handle, reason, _ = status()
    if reason is not None:
        raise RuntimeError(f"CUDA is not available: {reason}")
    return handle


def device_name(device):
    """The device's name and compute capability, e.g. "NVIDIA H100 80GB HBM3 (sm_90)"."""
    buf = ctypes.create_string_buffer(256)
    check(lib().mc_cuda_device_name(device, buf, len(buf)))
    return buf.value.decode()


def check(code):
    """Raise CudaError with the library's message when ``code`` (an entry point's return) is
    not 0."""
    if code != 0:
        raise CudaError(library().mc_cuda_last_error().decode())
