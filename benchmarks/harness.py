"""Paired, interleaved timing of minicnn against PyTorch, as ../shared/BENCHMARKS.md prescribes.

Each case gives two zero-argument callables (minicnn's and PyTorch's) that do the same work on
the same data. They run alternately, A B A B ..., after warm-up; the reported figure is the
median of the per-pair ratios minicnn / PyTorch, which is far steadier on a shared machine than
either absolute time. CPU time against wall time is recorded so a disturbed run shows.
"""
import json
import os
import platform
import resource
import statistics
import sys
import time

import numpy as np


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _timed(fn):
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def paired(a, b, repeat=10, warmup=3):
    """Time ``a`` and ``b`` interleaved; return a dict of medians (seconds) and the ratio stats."""
    for _ in range(warmup):
        a()
        b()
    ta, tb, ratios, cpu, wall = [], [], [], 0.0, 0.0
    for _ in range(repeat):
        wa, ca = _timed(a)
        wb, cb = _timed(b)
        ta.append(wa)
        tb.append(wb)
        ratios.append(wa / wb)
        cpu += ca + cb
        wall += wa + wb
    return {
        "a_ms": [1e3 * min(ta), 1e3 * statistics.median(ta), 1e3 * max(ta)],
        "b_ms": [1e3 * min(tb), 1e3 * statistics.median(tb), 1e3 * max(tb)],
        "ratio": statistics.median(ratios),
        "cpu_per_wall": cpu / wall,
    }


def alone(a, repeat=10, warmup=3):
    """Time one callable (when there is no peer): min/median/max in ms."""
    for _ in range(warmup):
        a()
    t = [_timed(a)[0] for _ in range(repeat)]
    return [1e3 * min(t), 1e3 * statistics.median(t), 1e3 * max(t)]


def same_threads(threads):
    """Import PyTorch (exit with a hint when it is missing) and give it and minicnn the same
    thread count; returns the torch module."""
    try:
        import torch
    except ImportError:
        sys.exit("this benchmark compares against PyTorch: pip install torch==2.13.0")
    import minicnn

    minicnn.set_num_threads(threads)
    torch.set_num_threads(threads)
    return torch


def copy_bandwidth(n_bytes, torch):
    """GB/s of a large copy (read + write): NumPy's (one thread) and PyTorch's (its thread
    pool), best of 5. The ceiling for memory-bound kernels."""
    src = np.ones(n_bytes // 4, np.float32)
    dst = np.empty_like(src)
    ts, td = torch.from_numpy(src), torch.from_numpy(dst)
    rates = {}
    for name, fn in [("numpy", lambda: np.copyto(dst, src)), ("torch", lambda: td.copy_(ts))]:
        fn()
        best = min(_timed(fn)[0] for _ in range(5))
        rates[name] = 2 * n_bytes / best / 1e9
    return rates


def host_info(threads):
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "threads": threads,
            "python": platform.python_version(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def write_json(path, records, threads):
    with open(path, "w") as f:
        json.dump({"host": host_info(threads), "records": records}, f, indent=1)
