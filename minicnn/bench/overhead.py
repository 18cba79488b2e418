"""``minicnn bench overhead``: small work, where the cost is the framework's, not the kernel's.

An op on a 4x4 tensor, a short forward+backward chain, and memory-bound kernels on one image
(1x64x32x32) take microseconds, and at that scale timing two frameworks in one process
misleads: one runtime's OpenMP threads keep spinning after its call, on the cores the other's
next call needs. So each framework runs alone in a process of its own (``python -m
minicnn.bench.overhead --worker minicnn|torch``), the processes alternating (minicnn first in
the even rounds, PyTorch first in the odd ones), and a round's ratio pairs the two processes of
that round. The figure is the median of those per-round ratios (docs/benchmarking.md's
protocol, with processes in place of calls).

Each case is written once for both libraries (``L`` is minicnn or torch, ``F`` its
nn.functional), so the two run the same statement. Within a process, a case is timed with
``timeit``: enough calls for 50 ms per repeat, seven repeats, the median per call.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import timeit
from typing import Any, TextIO

from . import harness
from .report import Report, say

# (case, setup, statement, no_grad): setup and statement use L (minicnn or torch) and F
CASES = [
    ("add 4x4", "a = L.randn(4, 4); b = L.randn(4, 4)", "a + b", True),
    ("relu 4x4", "a = L.randn(4, 4)", "F.relu(a)", True),
    ("4 ops f+b 4x4", "a = L.randn(4, 4, requires_grad=True); b = L.randn(4, 4)",
     "((a * b + b).relu() * 2).sum().backward()", False),
    ("relu 1x64x32x32", "x = L.randn(1, 64, 32, 32)", "F.relu(x)", True),
    ("batch_norm eval 1x64x32x32",
     "x = L.randn(1, 64, 32, 32); m, v = L.zeros(64), L.ones(64); w, b = L.ones(64), L.zeros(64)",
     "F.batch_norm(x, m, v, w, b, training=False)", True),
    ("max_pool2d 2x2 1x64x32x32", "x = L.randn(1, 64, 32, 32)", "F.max_pool2d(x, 2)", True),
]
FRAMEWORKS = ("minicnn", "torch")
REPEAT_SECONDS = 0.05  # per timed repeat; seven repeats per case and process


def time_cases(framework: str, threads: int, cases: list[str] | None = None) -> dict[str, float]:
    """In this process: microseconds per call of each case (all CASES, or those named in
    ``cases``) with ``framework`` ("minicnn" or "torch") on ``threads`` threads; the median of
    seven repeats of enough calls for REPEAT_SECONDS each, after as many warm-up calls."""
    if framework == "torch":
        import torch as lib
        from torch.nn import functional
    else:
        import minicnn as lib
        from minicnn.nn import functional
    lib.set_num_threads(threads)
    result = {}
    for name, setup, stmt, no_grad in CASES:
        if cases is not None and name not in cases:
            continue
        lib.manual_seed(0)
        lib.set_grad_enabled(not no_grad)
        timer = timeit.Timer(stmt, setup, globals={"L": lib, "F": functional})
        number, _ = timer.autorange()  # calls for >= 0.2 s: also the warm-up
        number = max(1, int(number * REPEAT_SECONDS / 0.2))
        result[name] = 1e6 * statistics.median(timer.repeat(7, number)) / number
        lib.set_grad_enabled(True)
    return result


def _in_process(framework: str, threads: int, cases: list[str]) -> dict[str, float]:
    """:func:`time_cases` in a fresh Python process; RuntimeError with its stderr if it fails."""
    cmd = [sys.executable, "-m", "minicnn.bench.overhead", "--worker", framework,
           "--threads", str(threads), "--cases", *cases]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the {framework} worker failed (exit {done.returncode}): "
                           f"{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_overhead(cases: list[str] | None = None, *, threads: int | None = None, rounds: int = 5,
                 out: TextIO | None = None) -> Report:
    """Time the CASES (those whose name contains one of the substrings ``cases``,
    case-insensitive; default all) in alternating processes, ``rounds`` of them per framework
    (PyTorch's only when it is installed), on ``threads`` threads each (default 1: small work
    is where a thread team costs more than it gives; both frameworks get the same number).

    Returns a :class:`Report` whose records hold op ("overhead"), case, threads, minicnn_us and
    torch_us ([min, median, max] over the rounds of the per-call microseconds) and ratio (the
    median of the per-round ratios minicnn / PyTorch: below 1, minicnn is faster); the table
    goes to ``out`` (None: silent). Raises ValueError when ``rounds`` < 1, RuntimeError when a
    worker process fails.
    """
    if rounds < 1:
        raise ValueError(f"run_overhead: rounds must be >= 1, got {rounds}")
    chosen = [c[0] for c in CASES
              if not cases or any(s.lower() in c[0].lower() for s in cases)]
    if not chosen:
        return Report()
    threads = threads or 1
    frameworks = [f for f in FRAMEWORKS if f != "torch" or harness.import_torch() is not None]
    times: dict[str, dict[str, list[float]]] = {f: {c: [] for c in chosen} for f in frameworks}
    ratios: dict[str, list[float]] = {c: [] for c in chosen}
    for r in range(rounds):
        order = frameworks if r % 2 == 0 else frameworks[::-1]
        got = {f: _in_process(f, threads, chosen) for f in order}
        for c in chosen:
            for f in frameworks:
                times[f][c].append(got[f][c])
            if "torch" in got:
                ratios[c].append(got["minicnn"][c] / got["torch"][c])
    report = Report(host=harness.host_info(threads))
    for c in chosen:
        rec: dict[str, Any] = {"op": "overhead", "case": c, "threads": threads,
                               "rounds": rounds}
        for f in frameworks:
            us = times[f][c]
            rec[f"{f}_us"] = [min(us), statistics.median(us), max(us)]
        if ratios[c]:
            rec["ratio"] = statistics.median(ratios[c])
        report.records.append(rec)
    say(out, f"# overhead: each framework alone in its own process, {rounds} alternating rounds, "
             f"{threads} thread(s), float32")
    say(out, report.table())
    return report


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a worker of minicnn bench overhead: prints "
                                                 "the microseconds per call of each case")
    parser.add_argument("--worker", choices=FRAMEWORKS, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cases", nargs="+")
    args = parser.parse_args(argv)
    print(json.dumps(time_cases(args.worker, args.threads, args.cases)))


if __name__ == "__main__":
    _main()
