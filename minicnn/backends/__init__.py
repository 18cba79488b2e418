"""Kernel backends and the choice between them.

Every backend exposes the same flat kernel API (names and signatures of
:mod:`minicnn.backends.reference`). The backend is chosen from the data, by the tensor's device:

* ``"cpu"``   -- the C kernels of :mod:`minicnn.backends._cpu` (OpenMP) where they exist, the NumPy
                 reference for the rest;
* ``"numpy"`` -- the teaching device: every kernel from :mod:`minicnn.backends.reference`, so a
                 learner can step through a whole model in plain NumPy
                 (``model.to("numpy")``, ``x.to("numpy")``);
* ``"cuda"``  -- :mod:`minicnn.backends.cuda` on :class:`~minicnn.backends.cuda.DeviceArray`
                 (the optional nvcc-built module; tensors cannot be placed there yet).

The first two devices hold NumPy arrays. :func:`info` reports what was built and how it runs.
"""
import ctypes
import os
import sys
import types
import warnings

import numpy as np

from . import cuda, cudnn, mps, reference  # noqa: F401  (cudnn, mps: torch.backends flags)

# OpenMP worker threads that spin between parallel regions steal the cores from NumPy's BLAS
# threads, which run between our kernels (conv = im2col + GEMM): on a loaded 2-core machine a
# training step ran 10-50x slower. Sleeping workers cost a few microseconds of wake-up per region.
# libgomp reads this once, when _cpu loads it; a value set by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _keep_freed_memory():
    """Ask glibc to serve large arrays from its heap instead of fresh mmap()s.

    glibc maps every allocation above 32 MiB (a (128, 64, 32, 32) float32 activation is 33.5 MiB)
    straight from the kernel and unmaps it on free, so each training step pays the page faults of
    zero-filling it again: relu on such a tensor took 5.8 ms instead of 2.8 ms. Raising the mmap and
    trim thresholds keeps freed blocks for reuse; the cost is that the process keeps its peak
    memory. ``MINICNN_MALLOC_TUNING=0`` leaves malloc alone; other C libraries are left alone.
    """
    if os.environ.get("MINICNN_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: 1 GiB
        libc.mallopt(-1, 1 << 31)  # M_TRIM_THRESHOLD: 2 GiB
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        pass


_keep_freed_memory()

try:
    from . import _cpu
    _CPU_IMPORT_ERROR = None
except ImportError as exc:  # an unbuilt source checkout: say so loudly, keep the NumPy path usable
    _cpu = None
    _CPU_IMPORT_ERROR = exc
    warnings.warn(
        "minicnn's C extension minicnn.backends._cpu is not built or failed to load "
        f"({exc}); the 'cpu' device falls back to the slow NumPy reference kernels. "
        "Build it with `pip install -e .`.",
        RuntimeWarning, stacklevel=2)

try:
    import threadpoolctl
except ImportError:  # optional: without it set_num_threads cannot reach NumPy's BLAS
    threadpoolctl = None


def _namespace(name, primary):
    """The kernel table of one backend: each reference kernel, overridden by ``primary``'s."""
    table = {k: getattr(primary, k, None) or getattr(reference, k) for k in reference.__all__}
    return types.SimpleNamespace(name=name, **table)


#: kernel tables by device type
BACKENDS = {
    "cpu": _namespace("cpu", _cpu),
    "numpy": _namespace("numpy", None),
    "cuda": cuda.kernel_table(),
}


def c_kernels():
    """Names of the kernels that run in C on the "cpu" device."""
    if _cpu is None:
        return []
    return [k for k in reference.__all__ if hasattr(_cpu, k)]


# ---------------------------------------------------------------- threads

_num_threads = None
_blas_limiter = None


def set_num_threads(n):
    """Use ``n`` threads in minicnn's OpenMP kernels and in the BLAS under NumPy (matmul).

    Like ``torch.set_num_threads``. The BLAS part needs the optional package threadpoolctl
    (installed by the ``test`` and ``bench`` extras); without it a RuntimeWarning says the BLAS
    keeps its own thread count. Raises ValueError for n < 1.
    """
    global _num_threads, _blas_limiter
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _num_threads = n
    if _cpu is not None:
        _cpu.set_num_threads(n)
    if threadpoolctl is None:
        warnings.warn("set_num_threads: threadpoolctl is not installed, so NumPy's BLAS keeps its "
                      "own thread count; `pip install threadpoolctl` to govern it too.",
                      RuntimeWarning, stacklevel=2)
    else:
        _blas_limiter = threadpoolctl.threadpool_limits(limits=n, user_api="blas")


def get_num_threads():
    """Threads minicnn's kernels use: set_num_threads's value, else OMP_NUM_THREADS or all cores."""
    if _num_threads is not None:
        return _num_threads
    if _cpu is not None:
        return _cpu.get_num_threads()
    return int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))


# ---------------------------------------------------------------- info

def _blas_info():
    if threadpoolctl is not None:
        pools = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            p = pools[0]
            return f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads)"
    cfg = getattr(np, "__config__", None)
    blas = getattr(cfg, "CONFIG", {}).get("Build Dependencies", {}).get("blas", {})
    if blas:
        return f"{blas.get('name')} {blas.get('version')} (thread count unknown without threadpoolctl)"
    return "unknown"


def info():
    """What minicnn was built with and how it runs, as a dict of strings.

    Keys: version, backends, c_kernels, openmp, threads, blas, cuda. Printed by
    ``python -m minicnn info``.
    """
    from .. import __version__

    if _cpu is None:
        cpu = f"cpu (NOT BUILT: {_CPU_IMPORT_ERROR}; using the NumPy reference kernels)"
        openmp = "n/a (C extension not built)"
    else:
        cpu = "cpu (C kernels, minicnn.backends._cpu)"
        openmp = "on" if _cpu.openmp_enabled() else "off (built without OpenMP: serial kernels)"
    return {
        "version": __version__,
        "backends": f"{cpu}; numpy (pure-NumPy reference kernels)",
        "c_kernels": ", ".join(c_kernels()) or "none",
        "openmp": openmp,
        "threads": str(get_num_threads()),
        "blas": f"{_blas_info()} via NumPy {np.__version__}",
        "cuda": _cuda_info(),
    }


def _cuda_info():
    from .. import cuda as public

    if not public.is_available():
        return "not available: " + public.unavailable_reason()
    gemm = "cuBLAS" if cuda.cublas_available() else "the tiled kernel (no libcublas found)"
    return (f"available: {public.get_device_name()}, {public.device_count()} device(s); GEMM by "
            f"{gemm}")
