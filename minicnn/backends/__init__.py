"""Kernel backends and the choice between them.

Every device has a kernel table, a :class:`KernelTable` in :data:`BACKENDS`: the flat kernel API
whose names and signatures are those of :mod:`minicnn.backends.reference` (:data:`KERNELS`, its
``__all__``). The table is chosen from the data, by the tensor's device:

* ``"cpu"``   -- the C kernels of :mod:`minicnn.backends._cpu` (OpenMP) where they exist, the NumPy
                 reference for the rest (:data:`CPU_REFERENCE_KERNELS` names them);
* ``"numpy"`` -- the teaching device: every kernel from :mod:`minicnn.backends.reference`, so a
                 learner can step through a whole model in plain NumPy
                 (``model.to("numpy")``, ``x.to("numpy")``);
* ``"cuda"``  -- :mod:`minicnn.backends.cuda` on :class:`~minicnn.backends.cuda.DeviceArray`
                 (the optional nvcc-built module); the kernels it lacks
                 (``minicnn.backends.cuda.UNAVAILABLE``) raise NotImplementedError.

The first two devices hold NumPy arrays. Everything outside this package (tensors, autograd,
ops, optimizers, modules) reaches a device only through its table and the helpers here
(:func:`array_table`, :func:`to_host`, :func:`move`), never through its array type.

Importing minicnn changes nothing process-wide: :func:`configure_runtime` makes the OpenMP and
malloc settings that the command line and the benchmarks want. The C extension loads on first
use (so that those settings can still reach OpenMP). :func:`info` reports what was built and how
it runs.
"""
import ctypes
import importlib
import os
import sys
import warnings

import numpy as np

from . import cuda, cudnn, mps, reference  # noqa: F401  (cudnn, mps: torch.backends flags)
from ..geometry import is_int

#: the kernel API: every device's table has each of these names, with the reference's signature
KERNELS = tuple(reference.__all__)

#: the kernels that run as the NumPy reference on the "cpu" device (the C extension has none)
CPU_REFERENCE_KERNELS = (
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward", "nll_loss",
    "nll_loss_backward", "batch_norm_update_running", "batch_norm_invstd", "sgd_step",
    "adam_step", "rmsprop_step", "full", "cast", "to_host", "from_host",
)


# ---------------------------------------------------------------- the process

def configure_runtime():
    """Tune this process for minicnn's kernels; ``minicnn`` (the CLI) and the benchmarks call it
    first thing, and a program of yours may too. Safe to call more than once.

    Two process-wide settings, which is why importing minicnn does not make them:

    * ``OMP_WAIT_POLICY=PASSIVE``, unless the variable is set already. OpenMP worker threads
      that spin between parallel regions steal the cores from NumPy's BLAS threads, which run
      between minicnn's kernels (conv = im2col + GEMM): on a loaded 2-core machine a training
      step ran 10-50x slower. Sleeping workers cost a few microseconds of wake-up per region.
      libgomp reads the variable once, when the C extension loads (the first op on "cpu"), so
      call this before that; afterwards it no longer reaches OpenMP.
    * glibc's malloc serves large arrays from its heap instead of fresh mmap()s. glibc maps
      every allocation above 32 MiB (a (128, 64, 32, 32) float32 activation is 33.5 MiB)
      straight from the kernel and unmaps it on free, so each training step pays the page
      faults of zero-filling it again: relu on such a tensor took 5.8 ms instead of 2.8 ms.
      Raising the mmap and trim thresholds keeps freed blocks for reuse; the cost is that the
      process keeps its peak memory. ``MINICNN_MALLOC_TUNING=0`` leaves malloc alone; other
      C libraries (musl, other systems) are left alone.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if os.environ.get("MINICNN_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: 1 GiB
        libc.mallopt(-1, 1 << 31)  # M_TRIM_THRESHOLD: 2 GiB
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        pass


_cpu_state = None  # (module or None, ImportError or None) once the C extension was imported


def _load_cpu():
    """minicnn.backends._cpu, imported on first use; None when it is not built (an unbuilt
    source checkout: say so loudly, once, and keep the NumPy path usable)."""
    global _cpu_state
    if _cpu_state is None:
        try:
            _cpu_state = (importlib.import_module(f"{__name__}._cpu"), None)
        except ImportError as exc:
            _cpu_state = (None, exc)
            # a wheel on a machine without GCC's OpenMP runtime: install it, nothing to build
            fix = ("install GCC's OpenMP runtime (Debian/Ubuntu: apt-get install libgomp1)"
                   if "libgomp" in str(exc) else "build it with `pip install -e .`")
            warnings.warn(
                "minicnn's C extension minicnn.backends._cpu is not built or failed to load "
                f"({exc}); the 'cpu' device falls back to the slow NumPy reference kernels: "
                f"{fix}.", RuntimeWarning, stacklevel=3)
    return _cpu_state[0]


def __getattr__(name):
    # backends._cpu (None when not built) and backends._CPU_IMPORT_ERROR fill the "cpu" table,
    # which loads the extension; once it is imported, the import system binds _cpu here and
    # this is no longer asked for it
    if name in ("_cpu", "_CPU_IMPORT_ERROR"):
        c_kernels()  # fills the "cpu" table, importing the extension
        return _cpu_state[name == "_CPU_IMPORT_ERROR"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


try:
    import threadpoolctl
except ImportError:  # optional: without it set_num_threads cannot reach NumPy's BLAS
    threadpoolctl = None


# ---------------------------------------------------------------- kernel tables

class KernelTable:
    """The kernels of one device: an attribute for every name of :data:`KERNELS`.

    Each kernel is, by name, one of three things: the device's own (``native``: the function of
    the module that ``load`` returns); the NumPy reference (``reference_fallback``: declared,
    for a device whose arrays are NumPy arrays); or a stub raising NotImplementedError naming
    the kernel (``unavailable``: declared). A ``lazy`` table is filled on first use (the "cpu"
    one, so that the C extension is imported only then). tests/test_kernel_table.py checks that the
    declarations are true and that every native kernel has the reference's signature.

    Attributes besides the kernels: ``name`` (the device type), ``array_type`` (the class of the
    arrays its kernels take and return), ``host_memory`` (True when those are NumPy arrays in
    host memory), ``native``, ``reference_fallback`` and ``unavailable`` (tuples of names).
    """

    def __init__(self, name, load, *, array_type, host_memory, reference_fallback=(),
                 unavailable=(), lazy=False):
        self.name = name
        self.array_type = array_type
        self.host_memory = host_memory
        self.reference_fallback = tuple(reference_fallback)
        self.unavailable = tuple(unavailable)
        self._load = load  # () -> the module of the device's own kernels, or None
        self._native = None  # the names taken from that module, once filled
        if not lazy:
            self._fill()

    def _fill(self):
        module = self._load()
        native = []
        for k in KERNELS:
            own = None if module is None else getattr(module, k, None)
            if k in self.unavailable:
                kernel = _unavailable(self.name, k)
            elif own is not None and k not in self.reference_fallback:
                kernel = own
                native.append(k)
            else:
                kernel = getattr(reference, k)
            setattr(self, k, kernel)
        self._native = tuple(native)

    @property
    def native(self):
        """The kernels of the device's own module (the C extension's, the CUDA library's)."""
        if self._native is None:
            self._fill()
        return self._native

    def __getattr__(self, attr):  # only for attributes not set yet: the kernels before filling
        if attr in _KERNEL_NAMES and self.__dict__.get("_native") is None:
            self._fill()
            return getattr(self, attr)
        raise AttributeError(f"kernel table {self.__dict__.get('name')!r} has no attribute "
                             f"{attr!r}")

    def __repr__(self):
        return f"<KernelTable {self.name!r}>"


_KERNEL_NAMES = frozenset(KERNELS)


def _unavailable(device, name):
    def kernel(*args, **kwargs):
        raise NotImplementedError(f"{name} has no {device.upper()} kernel yet "
                                  f"(minicnn.backends.{device})")
    kernel.__name__ = name
    return kernel


#: kernel tables by device type
BACKENDS = {
    "cpu": KernelTable("cpu", _load_cpu, array_type=np.ndarray, host_memory=True,
                       reference_fallback=CPU_REFERENCE_KERNELS, lazy=True),
    "numpy": KernelTable("numpy", lambda: reference, array_type=np.ndarray, host_memory=True),
    "cuda": KernelTable("cuda", lambda: cuda, array_type=cuda.DeviceArray, host_memory=False,
                        unavailable=cuda.UNAVAILABLE),
}

#: the classes a tensor's data may have, one per kind of memory
ARRAY_TYPES = tuple(dict.fromkeys(t.array_type for t in BACKENDS.values()))


def array_table(array):
    """The kernel table of the memory ``array`` lives in: the "cpu" one for a NumPy array, the
    "cuda" one for a DeviceArray. TypeError for anything else."""
    if isinstance(array, np.ndarray):
        return BACKENDS["cpu"]
    for table in BACKENDS.values():
        if isinstance(array, table.array_type):
            return table
    raise TypeError(f"expected an array (one of {[t.__name__ for t in ARRAY_TYPES]}), got "
                    f"{type(array).__name__}")


def to_host(array):
    """``array``'s values in host memory: a NumPy array itself, a copy of a device array."""
    return array if isinstance(array, np.ndarray) else array_table(array).to_host(array)


def move(array, device_type):
    """``array`` (an ndarray or a device array) placed on a device of type ``device_type``:
    copied across when that device keeps another kind of memory, returned as is otherwise.
    TypeError for a dtype the target cannot hold (float64 on "cuda")."""
    target = BACKENDS[device_type]
    if isinstance(array, target.array_type):
        return array
    return target.from_host(to_host(array))


def c_kernels():
    """Names of the kernels that run in C on the "cpu" device."""
    return list(BACKENDS["cpu"].native)


def conv2d_algorithm(x_shape, w_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                     groups=1):
    """The algorithm of the "cpu" device's conv2d (and its gradients) for input shape
    (N, C, H, W) and weight shape (K, C / groups, kh, kw): "winograd", "depthwise", "direct"
    (3x3 of few channels) or "gemm" (also when the C extension is not built: the reference's
    im2col). The benchmarks count the
    multiplications that ran with it. Raises ValueError for sizes conv2d refuses."""
    cpu = _load_cpu()
    if cpu is None:
        return "gemm"
    return cpu.conv2d_algorithm(tuple(x_shape), tuple(w_shape), *stride, *padding, *dilation,
                                groups)


# ---------------------------------------------------------------- threads

_num_threads = None
_blas_limiter = None
_C_INT_MAX = 2**31 - 1


def set_num_threads(n):
    """Use ``n`` threads in minicnn's OpenMP kernels and in the BLAS under NumPy (matmul).

    Like ``torch.set_num_threads``. The BLAS part needs the optional package threadpoolctl
    (installed by the ``test`` and ``bench`` extras); without it a RuntimeWarning says the BLAS
    keeps its own thread count. Raises TypeError for a non-int ``n`` (1.5, "4", True: PyTorch's
    message), ValueError for n < 1 or beyond a C int.
    """
    global _num_threads, _blas_limiter
    if not is_int(n):
        raise TypeError(f"set_num_threads expects an int, but got {type(n).__name__}")
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    if n > _C_INT_MAX:  # the kernels take a C int
        raise ValueError(f"set_num_threads: n must be at most {_C_INT_MAX}, got {n}")
    _num_threads = n
    if _load_cpu() is not None:
        _load_cpu().set_num_threads(n)
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
    if _load_cpu() is not None:
        return _load_cpu().get_num_threads()
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
        return (f"{blas.get('name')} {blas.get('version')} (thread count unknown without "
                "threadpoolctl)")
    return "unknown"


def info():
    """What minicnn was built with and how it runs, as a dict of strings.

    Keys: version, backends, c_kernels, openmp, threads, parallel (from what size the C kernels
    use the thread team, and the measured cost of waking it), blas, cuda. Printed by
    ``python -m minicnn info``.
    """
    from ..version import __version__

    c_module, error = _load_cpu(), _cpu_state[1]
    if c_module is None:
        cpu = f"cpu (NOT BUILT: {error}; using the NumPy reference kernels)"
        openmp = "n/a (C extension not built)"
    else:
        cpu = "cpu (C kernels, minicnn.backends._cpu)"
        openmp = "on" if c_module.openmp_enabled() else "off (built without OpenMP: serial kernels)"
    parallel = "n/a (C extension not built)" if c_module is None else (
        f"a team from {c_module.parallel_min():,} elements (memory-bound passes) and "
        f"{c_module.parallel_min_macs():,} multiply-adds (GEMMs, convolutions); waking it took "
        f"{c_module.team_wake_us():.1f} us")
    return {
        "version": __version__,
        "backends": f"{cpu}; numpy (pure-NumPy reference kernels)",
        "c_kernels": ", ".join(c_kernels()) or "none",
        "openmp": openmp,
        "threads": str(get_num_threads()),
        "parallel": parallel,
        "blas": f"{_blas_info()} via NumPy {np.__version__}",
        "cuda": _cuda_info(),
    }


def _cuda_info():
    _, reason, count = cuda._lib.status()
    if reason is not None:
        return "not available: " + reason
    gemm = "cuBLAS" if cuda.cublas_available() else "the tiled kernel (no libcublas found)"
    return f"available: {cuda._lib.device_name(0)}, {count} device(s); GEMM by {gemm}"
