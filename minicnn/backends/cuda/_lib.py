"""Loading the nvcc-built kernel library (csrc/cuda, built by setup.py) with ctypes.

The library links the CUDA runtime statically (``-cudart static``), so it loads on any Linux
machine, GPU or not; only the NVIDIA driver (libcuda) is needed at run time, and the runtime
reports its absence as an error code. Every entry point returns 0 or an error code; :func:`check`
turns a nonzero code into :class:`CudaError` carrying the CUDA error string.
"""
import ctypes
import os

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


def status():
    """(lib, reason, device_count): the bound library or None, and why the GPU cannot be used
    (None when it can). Never raises; the answer is computed once per process."""
    global _state
    if _state is not None:
        return _state
    if not os.path.exists(LIB_PATH):
        _state = (None, "minicnn was built without its CUDA module (no nvcc at build time; "
                        "see docs/09-cuda.md)", 0)
        return _state
    try:
        lib = _bind(ctypes.CDLL(LIB_PATH))
    except (OSError, AttributeError) as exc:  # a broken or stale build
        _state = (None, f"minicnn's CUDA module failed to load ({exc})", 0)
        return _state
    count = ctypes.c_int(0)
    if lib.mc_cuda_device_count(ctypes.byref(count)) != 0:
        message = lib.mc_cuda_last_error().decode()
        _state = (lib, f"no usable NVIDIA driver or GPU ({message.split(' (')[0]})", 0)
    elif count.value == 0:
        _state = (lib, "no CUDA device found", 0)
    else:
        _state = (lib, None, count.value)
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


def check(code):
    """Raise CudaError with the library's message when ``code`` (an entry point's return) is not 0."""
    if code != 0:
        raise CudaError(library().mc_cuda_last_error().decode())
