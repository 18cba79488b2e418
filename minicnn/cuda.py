"""minicnn's GPU path (``torch.cuda``'s counterpart).

The kernels live in :mod:`minicnn.backends.cuda`, a ctypes binding to the library that setup.py
builds from csrc/cuda with nvcc (docs/09-cuda.md). :func:`is_available` is True when that
library is built and a GPU with a driver is present; it never raises, so asking is always safe.

Tensors on "cuda" (``x.to("cuda")``, ``model.to("cuda")``) hold a
:class:`minicnn.backends.cuda.DeviceArray`, and the ops on them run these kernels. Without a GPU,
placing a tensor there raises RuntimeError with :func:`unavailable_reason`.
"""
import ctypes

from .backends.cuda import _lib, memory


def is_available():
    """True when minicnn's CUDA module is built and a GPU with a driver is present."""
    return _lib.status()[1] is None


def unavailable_reason():
    """Why :func:`is_available` is False, in words: no NVIDIA driver ("no NVIDIA driver found
    (libcuda.so.1 is not installed)"), the CUDA module not built or failing to load, a driver too
    old for it, no device, or a GPU whose compute capability the module was not built for (with
    the capability found, the architectures built and how to rebuild); None when it is True."""
    return _lib.status()[1]


def device_count():
    """Number of CUDA devices (0 without a driver or without the CUDA module)."""
    return _lib.status()[2]


def get_device_name(device=0):
    """The device's name and compute capability, e.g. "NVIDIA H100 80GB HBM3 (sm_90)"."""
    return _lib.device_name(device)


def get_device_capability(device: int = 0) -> tuple[int, int]:
    """The device's compute capability as ``(major, minor)`` ints, e.g. ``(9, 0)`` for an H100
    (``torch.cuda.get_device_capability``). RuntimeError without CUDA, CudaError for a device
    that does not exist."""
    major, minor = ctypes.c_int(0), ctypes.c_int(0)
    _lib.check(_lib.lib().mc_cuda_device_capability(device, ctypes.byref(major),
                                                     ctypes.byref(minor)))
    return major.value, minor.value


def synchronize():
    """Wait for every queued kernel (``torch.cuda.synchronize``)."""
    _lib.check(_lib.lib().mc_cuda_synchronize())


def memory_allocated():
    """Bytes held by live device arrays (by size class of the caching allocator)."""
    return memory.memory_allocated()


def memory_reserved():
    """Bytes the caching allocator holds from the driver: live arrays plus the cache."""
    return memory.memory_reserved()


def empty_cache():
    """Return the cached, unused device blocks to the driver (``torch.cuda.empty_cache``)."""
    memory.empty_cache()
