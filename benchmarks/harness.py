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
import time


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


def host_info(threads):
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "threads": threads,
            "python": platform.python_version(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def write_json(path, records, threads):
    with open(path, "w") as f:
        json.dump({"host": host_info(threads), "records": records}, f, indent=1)
