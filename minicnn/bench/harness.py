"""Timing primitives of the benchmarks, following the protocol of docs/benchmarking.md.

Two callables that do the same work run alternately, A B A B ..., after a warm-up; the figure
that counts is the median of the per-pair ratios A / B, which moves far less on a shared, noisy
machine than either absolute time. Times come from ``time.perf_counter``; process CPU time
(``time.process_time``) over wall time is recorded next to them: about the thread count on a
quiet machine, lower when another process took the cores. The ceilings (``sgemm_ceiling``,
``copy_bandwidth``) are measured on this machine, so a kernel's rate can be given as a fraction
of what the hardware delivers to NumPy.

Nothing here imports PyTorch: ``same_threads`` sets its thread count only when some other code
has imported it already.
"""
import contextlib
import json
import os
import platform
import resource
import statistics
import sys
import threading
import time

import numpy as np


def timed(fn):
    """Run ``fn()`` once; returns (wall seconds, process CPU seconds)."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def _ms(seconds):
    """[min, median, max] of a list of seconds, in milliseconds."""
    return [1e3 * min(seconds), 1e3 * statistics.median(seconds), 1e3 * max(seconds)]


def paired(a, b, repeat=10, warmup=3):
    """Time the zero-argument callables ``a`` and ``b`` interleaved: ``warmup`` untimed pairs,
    then ``repeat`` timed pairs a, b.

    Returns a dict: ``a_ms`` and ``b_ms`` ([min, median, max] milliseconds), ``ratio`` (median of
    the per-pair ratios a / b: below 1 means ``a`` is faster) and ``cpu_per_wall`` (process CPU
    time over wall time of the timed runs). Raises ValueError when ``repeat`` < 1.
    """
    if repeat < 1:
        raise ValueError(f"paired: repeat must be >= 1, got {repeat}")
    for _ in range(warmup):
        a()
        b()
    ta, tb, ratios, cpu, wall = [], [], [], 0.0, 0.0
    for _ in range(repeat):
        wa, ca = timed(a)
        wb, cb = timed(b)
        ta.append(wa)
        tb.append(wb)
        ratios.append(wa / wb)
        cpu += ca + cb
        wall += wa + wb
    return {"a_ms": _ms(ta), "b_ms": _ms(tb), "ratio": statistics.median(ratios),
            "cpu_per_wall": cpu / wall}


def alone(a, repeat=10, warmup=3):
    """Time one zero-argument callable when it has no peer (``warmup`` untimed runs, then
    ``repeat`` timed ones). Returns a dict: ``ms`` ([min, median, max] milliseconds) and
    ``cpu_per_wall``. Raises ValueError when ``repeat`` < 1."""
    if repeat < 1:
        raise ValueError(f"alone: repeat must be >= 1, got {repeat}")
    for _ in range(warmup):
        a()
    runs = [timed(a) for _ in range(repeat)]
    return {"ms": _ms([w for w, _ in runs]),
            "cpu_per_wall": sum(c for _, c in runs) / sum(w for w, _ in runs)}


@contextlib.contextmanager
def same_threads(n):
    """Give minicnn and PyTorch (when something has imported it) ``n`` threads inside the
    ``with`` block, and restore their previous counts after it. ``n=None`` changes nothing."""
    import minicnn

    torch = sys.modules.get("torch")
    if n is None:
        yield
        return
    before = minicnn.get_num_threads(), torch.get_num_threads() if torch else None
    minicnn.set_num_threads(n)
    if torch:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        minicnn.set_num_threads(before[0])
        if torch:
            torch.set_num_threads(before[1])


def import_torch():
    """The torch module, or None when PyTorch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def available_cores():
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# ---------------------------------------------------------------- this machine


def sgemm_ceiling(n=2048, repeat=5):
    """GFLOP/s of an (n, n) @ (n, n) float32 matrix product through NumPy's BLAS (2 n^3 flops),
    best of ``repeat`` runs after one warm-up; the BLAS uses minicnn's current thread count
    (``minicnn.set_num_threads`` governs it when threadpoolctl is installed). The ceiling for
    the compute-bound kernels: convolutions and linear layers."""
    a = np.ones((n, n), np.float32)
    out = np.empty_like(a)
    np.matmul(a, a, out=out)
    best = min(timed(lambda: np.matmul(a, a, out=out))[0] for _ in range(repeat))
    return 2 * n ** 3 / best / 1e9


def copy_bandwidth(n_bytes=1 << 27, threads=None, repeat=5):
    """GB/s of copying an ``n_bytes`` float32 array into another (bytes read + bytes written,
    2 * n_bytes per copy), best of ``repeat`` runs after one warm-up. ``threads`` threads
    (default: minicnn's thread count) each copy one slice; NumPy releases the GIL while it
    copies, so they run in parallel. NumPy only, so it works without PyTorch. The ceiling for
    memory-bound kernels (pooling, normalization, activations). The default 128 MiB is larger
    than the caches, so this measures memory, not cache."""
    if threads is None:
        import minicnn

        threads = minicnn.get_num_threads()
    src = np.ones(n_bytes // 4, np.float32)
    dst = np.empty_like(src)
    bounds = np.linspace(0, src.size, threads + 1).astype(int)
    slices = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]

    def copy():
        workers = [threading.Thread(target=np.copyto, args=(dst[s], src[s])) for s in slices]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    copy()
    best = min(timed(copy)[0] for _ in range(repeat))
    return 2 * src.nbytes / best / 1e9


# ---------------------------------------------------------------- the GPU


def gpu_synced(fn, torch=None):
    """``fn`` followed by a wait for the GPU (minicnn's queue, and PyTorch's when ``torch`` is
    given), so that wall-clock timing covers the kernels and not only their launch."""
    import minicnn

    def run():
        result = fn()
        minicnn.cuda.synchronize()
        if torch is not None:
            torch.cuda.synchronize()
        return result
    return run


def gpu_sgemm_ceiling(n=4096, repeat=5):
    """GFLOP/s of an (n, n) @ (n, n) float32 product on the GPU through minicnn's GEMM path
    (cuBLAS when found: the device's practical float32 ceiling), best of ``repeat``."""
    import minicnn.backends.cuda as cu

    a = cu.DeviceArray.from_host(np.ones((n, n), np.float32))
    run = gpu_synced(lambda: cu.sgemm(a, a))
    run()
    best = min(timed(run)[0] for _ in range(repeat))
    return 2 * n ** 3 / best / 1e9


def gpu_copy_bandwidth(n_bytes=1 << 28, repeat=5):
    """GB/s of a device-to-device copy of ``n_bytes`` (read + written), best of ``repeat``:
    the ceiling for memory-bound kernels on the GPU."""
    import minicnn.backends.cuda as cu

    a = cu.zeros((n_bytes // 4,))
    run = gpu_synced(a.copy)
    run()
    best = min(timed(run)[0] for _ in range(repeat))
    return 2 * a.nbytes / best / 1e9


def torch_cuda(torch):
    """``torch`` when it can run on the GPU (torch.cuda.is_available()), else None."""
    return torch if torch is not None and torch.cuda.is_available() else None


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo on Linux), or what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def peak_rss_mb():
    """Peak resident memory of this process so far, MiB (resource.getrusage; Linux reports
    KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def host_info(threads=None, device="cpu"):
    """What a benchmark figure depends on: CPU model, cores, threads, the versions of Python,
    NumPy, minicnn and PyTorch (None when not imported), date and time, and peak RSS (MiB); for
    ``device="cuda"`` also the GPU's name."""
    import minicnn

    torch = sys.modules.get("torch")
    gpu = {"gpu": minicnn.cuda.get_device_name()} if device == "cuda" else {}
    return {**gpu, "cpu": cpu_model(), "cores": os.cpu_count(),
            "threads": minicnn.get_num_threads() if threads is None else threads,
            "python": platform.python_version(), "numpy": np.__version__,
            "minicnn": minicnn.__version__, "torch": torch.__version__ if torch else None,
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "peak_rss_mb": round(peak_rss_mb(), 1)}


def write_json(path, records, host=None, **extra):
    """Write ``{"host": host, "records": records, **extra}`` to ``path`` (indented JSON);
    ``host`` defaults to :func:`host_info`. NumPy scalars are written as numbers."""
    doc = {"host": host_info() if host is None else host, "records": records, **extra}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=_json_default)
        f.write("\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
