"""Benchmarks: minicnn against PyTorch, and any kernel of yours against references.

- :func:`compare` (``minicnn.bench.compare``): time your own kernel against minicnn's, PyTorch's
  or any other callable, with its answers checked first (docs/benchmarking.md has a worked
  example).
- :func:`run` (``minicnn bench``): the standard cases of docs/benchmarking.md, op by op
  (:func:`run_ops`), as whole training steps (:func:`run_models`) and as eval-mode inference
  at batch 1 and 128 against PyTorch and ONNX Runtime (:func:`run_inference`), and small
  work with each framework alone in its own process (:func:`run_overhead`).
- :mod:`minicnn.bench.harness`: the timing primitives (paired interleaved timing, the
  machine's sgemm and copy-bandwidth ceilings, host information).

PyTorch is optional: nothing here imports it until a run asks for it, and without it the
runners report minicnn's own times, rates and the ceilings.
"""
import sys

from . import harness
from .compare import BenchmarkMismatch, check_close, compare, to_numpy
from .models import PEER_MODES, run_inference, run_models
from .ops import run_ops
from .overhead import run_overhead
from .report import Report, say

WHAT = ("ops", "models", "overhead", "all")


def check_device(device):
    """Raise ConfigError unless the benchmarks can run on ``device``: "cpu", or "cuda" when
    :func:`minicnn.cuda.is_available`."""
    from minicnn import cuda
    from minicnn.training import ConfigError

    if device == "cuda" and not cuda.is_available():
        raise ConfigError(f"--device cuda: minicnn's CUDA backend is not available "
                          f"({cuda.unavailable_reason()}); benchmark on the CPU with "
                          f"--device cpu")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {device!r}; expected cpu or cuda")


def run(what="all", *, threads=None, repeat=None, cases=None, quick=False, device="cpu",
        inference=False, batch=None, json=None, plot=None, out=None):
    """Run the benchmarks of ``minicnn bench``: ``what`` is "ops" (:func:`run_ops`), "models"
    (:func:`run_models`), "overhead" (:func:`run_overhead`: small work, each framework in its
    own process, 5 rounds, 3 with ``quick``; CPU only) or "all" (the three; overhead only on
    the CPU), printing their tables to ``out`` as they go.

    threads: for minicnn and PyTorch (default: all cores). repeat: timed pairs per case
    (default 10; 3 with ``quick``, which also cuts the warm-up to 1, leaves torch.compile out of
    the training steps and skips the batch-1 and batch-32 convolutions: for smoke tests, not for
    figures). cases: substrings selecting cases by label (extra, non-standard op cases run only
    when named). json, plot: paths to write
    the records (:meth:`Report.to_json`) and the ratio plot (:meth:`Report.plot`, needs
    matplotlib; skipped with a note when no record has a ratio). out: the stream for the
    tables (default sys.stdout). device: "cpu", or "cuda" (minicnn's CUDA kernels, against
    PyTorch on the same GPU when its build can use it). inference: with "models", time the
    models' eval-mode forward at batch 1 and 128 (:func:`run_inference`) instead of training
    steps; with "all", in addition to them (CPU only). batch: the training steps' batch size
    (default 128; the inference keeps batch 1 and 128).

    Returns the combined :class:`Report`; its ``failures`` are the cases whose answer differed
    from PyTorch's. Raises ConfigError (a ValueError) for a bad ``what`` or ``device``,
    ``inference`` with "ops" or "overhead" or on "cuda", "overhead" on "cuda", ``batch`` where
    no training step runs or below 1, or when ``cases`` selects nothing.
    """
    from minicnn.backends import configure_runtime
    from minicnn.training import ConfigError

    configure_runtime()  # the settings the timings assume (a no-op after minicnn's CLI made them)
    out = sys.stdout if out is None else out
    if inference and what in ("ops", "overhead"):
        raise ConfigError("--inference times whole models: use it with `minicnn bench models` "
                          f"(or all), not {what}")
    if batch is not None and (what in ("ops", "overhead") or what == "models" and inference):
        raise ConfigError("--batch sets the batch of the training steps: use it with `minicnn "
                          "bench models` (or all), without --inference (batch 1 and 128)")
    if batch is not None and batch < 1:
        raise ConfigError(f"--batch must be a positive integer, got {batch}")
    if what == "overhead" and device != "cpu":
        raise ConfigError(f"overhead runs on the CPU only, not --device {device}")
    if inference and device != "cpu":
        raise ConfigError(f"--inference runs on the CPU only, not --device {device}")
    check_device(device)
    if what not in WHAT:
        raise ConfigError(f"unknown benchmark {what!r}; expected one of {', '.join(WHAT)}")
    torch = harness.import_torch()
    if torch is None:
        say(out, "# PyTorch is not installed: minicnn's own times and rates and the machine's "
                 "ceilings only (pip install torch for the comparison)")
    elif device == "cuda" and harness.torch_cuda(torch) is None:
        say(out, f"# this PyTorch ({torch.__version__}) cannot use the GPU: minicnn's own times "
                 "and the GPU's ceilings only")
    opts = dict(threads=threads, repeat=repeat or (3 if quick else 10), warmup=1 if quick else 3,
                out=out, device=device)
    parts = []
    if what in ("ops", "all"):
        parts.append(run_ops(cases, quick=quick, **opts))
    if what == "all" or what == "models" and not inference:
        # torch.compile's first step compiles for a minute: not in a --quick smoke test
        modes = ("channels_last",) if quick else PEER_MODES
        parts.append(run_models(cases, modes=modes, batch=batch or 128, **opts))
    if inference:
        del opts["device"]
        parts.append(run_inference(cases, **opts))
    if what == "overhead" or what == "all" and device == "cpu":
        parts.append(run_overhead(cases, threads=threads, rounds=3 if quick else 5, out=out))
    report = Report(host=next((p.host for p in reversed(parts) if p.records), {}))
    for part in parts:
        report.records += part.records
        report.summary.update(part.summary)
        report.targets.update(part.targets)
    if not report.records:
        raise ConfigError(f"--cases {' '.join(cases or [])}: no {what} case matches")
    if json:
        report.to_json(json)
    if plot:
        if any(r.get("ratio") is not None for r in report.records):
            report.plot(plot)
        else:
            say(out, f"# no ratios to plot: {plot} not written")
    if report.failures:
        say(out, f"# {len(report.failures)} case(s) FAILED the answer check against PyTorch"
                 + (" or ONNX Runtime" if inference else ""))
    return report


__all__ = ["BenchmarkMismatch", "Report", "check_close", "check_device", "compare", "harness",
           "run", "run_inference", "run_models", "run_ops", "run_overhead", "to_numpy"]
