"""The standard op cases of docs/benchmarking.md: minicnn against PyTorch, op by op.

Every case runs three passes, each checked against PyTorch before it is timed:
  fwd   the forward under no_grad (inference: max pooling writes no indices);
  bwd   one ``backward`` through a graph built beforehand (``retain_graph=True``), the
        gradients of every input that requires grad (inputs and upstream gradient prepared
        outside the timed region);
  f+b   a forward with autograd and its backward, as in a training step.
On 4-D inputs PyTorch runs in its default NCHW layout and in channels_last (its faster layout
for many kernels): ``ratio`` is against NCHW, ``ratio_vs_best`` against the faster of the two,
the one to quote. Rates: GFLOP/s for convolutions and linear layers (forward
2 N K (C / groups) kh kw Ho Wo flops for a convolution, 2 M K N for a linear layer; the backward
computes the input and the weight gradient, twice that; f+b three times), as a fraction of the
measured NumPy sgemm ceiling; GB/s (bytes read + bytes written, each array once per pass of the
kernel over it) for the memory-bound ops, as a fraction of the measured copy bandwidth.
Without PyTorch only minicnn's own times and rates are measured.
"""
import dataclasses
import math
import subprocess
import sys
import time

import numpy as np

from ..geometry import conv_output_size
from . import harness
from .compare import BenchmarkMismatch, compare
from .report import Report, say

PASSES = ("fwd", "bwd", "f+b")
SHAPE = (128, 64, 32, 32)  # pooling, batch norm and activations
TARGETS = {"conv f+b <= 1.25": 1.25, "pooling, batch norm <= 0.8": 0.8}  # issue 6


@dataclasses.dataclass
class OpCase:
    """One benchmark case of an op.

    fn(F, *tensors) computes the op with F = minicnn.nn.functional or torch.nn.functional (the
    same names in both); inputs() gives [(float32 or int64 array, requires_grad)], the same
    arrays for both frameworks; work maps each pass to its flops (unit "gflops") or bytes
    (unit "gbps") per call.
    """
    op: str
    family: str
    case: str
    shape: tuple
    fn: object
    inputs: object
    work: dict
    unit: str
    standard: bool = True  # a case of docs/benchmarking.md (the others run only when named)
    batch: int = 128

    @property
    def label(self):
        return f"{self.op} {self.case}"


# ---------------------------------------------------------------- the cases


def _conv(name, C, K, H, k, s, p, groups, batch=128):
    Ho = conv_output_size(H, k, s, p)
    flops = 2 * batch * K * (C // groups) * k * k * Ho * Ho

    def inputs():
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, C, H, H), dtype=np.float32)
        w = (rng.standard_normal((K, C // groups, k, k)) / math.sqrt(C * k * k / groups))
        b = rng.standard_normal(K, dtype=np.float32)
        return [(x, True), (w.astype(np.float32), True), (b, True)]

    return OpCase("conv2d", "conv", name + ("" if batch == 128 else f" batch {batch}"),
                  (batch, C, H, H), lambda F, x, w, b: F.conv2d(x, w, b, s, p, 1, groups),
                  inputs, {"fwd": flops, "bwd": 2 * flops, "f+b": 3 * flops}, "gflops",
                  batch=batch)


def _random_input():
    """[(standard normal SHAPE array, requires_grad)]: the input of pooling and activations."""
    return [(np.random.default_rng(0).standard_normal(SHAPE, dtype=np.float32), True)]


def _pool(op, name, fn, k, s, p, standard=True, out_hw=None):
    N, C, H, W = SHAPE
    n = 4 * N * C * H * W
    Ho, Wo = (out_hw, out_hw) if out_hw else (conv_output_size(H, k, s, p),
                                              conv_output_size(W, k, s, p))
    m = 4 * N * C * Ho * Wo
    if op == "max_pool2d":  # training forward also writes int64 indices (2 floats' worth each)
        work = {"fwd": n + m, "bwd": 3 * m + n, "f+b": 2 * n + 6 * m}
    else:
        work = {"fwd": n + m, "bwd": m + n, "f+b": 2 * (n + m)}
    return OpCase(op, "pool", name, SHAPE, fn, _random_input, work, "gbps", standard)


def _norm(op, name, fn, params, eval_stats=False, standard=True, work=(3, 5, 8)):
    """Normalization of SHAPE: x, then affine ``params`` arrays (requiring grad), then (batch
    norm) running mean and variance. Bytes: training forward 3 arrays (x read for the
    statistics, x read and y written), backward 5 (grad_output and x read for the sums, both
    again, grad_input written), f+b 8; eval forward 2, backward 3."""
    n = 4 * math.prod(SHAPE)

    def inputs():
        rng = np.random.default_rng(1)
        x = (rng.standard_normal(SHAPE, dtype=np.float32) * 2 + 0.5).astype(np.float32)
        arrays = [(x, True)]
        for size in params:
            arrays += [(rng.uniform(0.5, 1.5, size).astype(np.float32), True),
                       (rng.standard_normal(size).astype(np.float32), True)]
        if op == "batch_norm":
            C = SHAPE[1]
            mean = (rng.standard_normal(C) * 0.1 if eval_stats else np.zeros(C)).astype(np.float32)
            var = (rng.uniform(0.5, 2.0, C) if eval_stats else np.ones(C)).astype(np.float32)
            arrays += [(mean, False), (var, False)]
        return arrays

    return OpCase(op, "norm", name, SHAPE, fn, inputs, dict(zip(PASSES, (w * n for w in work))),
                  "gbps", standard)


def _elementwise(op, fn, standard=False):
    n = 4 * math.prod(SHAPE)  # forward reads x, writes y; backward reads grad and x (or y)
    return OpCase(op, "activation", f"{SHAPE}", SHAPE, fn, _random_input,
                  {"fwd": 2 * n, "bwd": 3 * n, "f+b": 5 * n}, "gbps", standard)


def _linear(M=128, K=256, N=10):
    flops = 2 * M * K * N

    def inputs():
        rng = np.random.default_rng(2)
        return [(rng.standard_normal((M, K), dtype=np.float32), True),
                ((rng.standard_normal((N, K)) / math.sqrt(K)).astype(np.float32), True),
                (rng.standard_normal(N, dtype=np.float32), True)]

    return OpCase("linear", "linear", f"{M}x{K}->{N}", (M, K),
                  lambda F, x, w, b: F.linear(x, w, b), inputs,
                  {"fwd": flops, "bwd": 2 * flops, "f+b": 3 * flops}, "gflops")


def _cross_entropy(N=128, C=10, standard=True):
    n = 4 * N * C  # forward reads the logits; backward reads them and writes their gradient

    def inputs():
        rng = np.random.default_rng(3)
        return [((rng.standard_normal((N, C)) * 3).astype(np.float32), True),
                (rng.integers(0, C, N), False)]

    return OpCase("cross_entropy", "loss", f"({N}, {C})", (N, C),
                  lambda F, x, t: F.cross_entropy(x, t), inputs,
                  {"fwd": n, "bwd": 2 * n, "f+b": 3 * n}, "gbps", standard)


CONV_3X3 = [(3, 64, 32), (64, 64, 32), (64, 128, 16), (128, 128, 16), (128, 256, 8), (256, 256, 8)]


def all_cases():
    """Every case, the standard ones of docs/benchmarking.md first, then the extra ones
    (``standard=False``: other activations, norms and pooling shapes)."""
    conv = [_conv(f"3x3 {C}->{K} {H}x{H}", C, K, H, 3, 1, 1, 1, batch)
            for batch in (128, 32, 1) for C, K, H in CONV_3X3]
    conv += [_conv("1x1 256->64 8x8", 256, 64, 8, 1, 1, 0, 1),
             _conv("3x3/2 64->128 32x32", 64, 128, 32, 3, 2, 1, 1),
             _conv("dw3x3 128 16x16", 128, 128, 16, 3, 1, 1, 128),
             _conv("5x5 1->6 28x28", 1, 6, 28, 5, 1, 2, 1)]
    C = SHAPE[1]
    return conv + [
        _pool("max_pool2d", "2x2/2", lambda F, x: F.max_pool2d(x, 2, 2), 2, 2, 0),
        _pool("avg_pool2d", "2x2/2", lambda F, x: F.avg_pool2d(x, 2, 2), 2, 2, 0),
        _norm("batch_norm", "train", lambda F, x, w, b, rm, rv:
              F.batch_norm(x, rm, rv, w, b, training=True), [C]),
        _norm("batch_norm", "eval", lambda F, x, w, b, rm, rv:
              F.batch_norm(x, rm, rv, w, b, training=False), [C], eval_stats=True,
              work=(2, 3, 5)),
        _elementwise("relu", lambda F, x: F.relu(x), standard=True),
        _linear(),
        _cross_entropy(),
        # extra cases
        _pool("max_pool2d", "3x3/2 pad 1", lambda F, x: F.max_pool2d(x, 3, 2, 1), 3, 2, 1,
              standard=False),
        _pool("avg_pool2d", "3x3/1 pad 1", lambda F, x: F.avg_pool2d(x, 3, 1, 1), 3, 1, 1,
              standard=False),
        _pool("adaptive_avg_pool2d", "->1x1", lambda F, x: F.adaptive_avg_pool2d(x, 1), 0, 0, 0,
              standard=False, out_hw=1),
        _norm("group_norm", "32 groups", lambda F, x, w, b: F.group_norm(x, 32, w, b), [C],
              standard=False),
        _norm("layer_norm", f"last dim {SHAPE[-1]}", lambda F, x, w, b:
              F.layer_norm(x, (SHAPE[-1],), w, b), [SHAPE[-1]], standard=False),
        *[_elementwise(name, lambda F, x, name=name: getattr(F, name)(x))
          for name in ("sigmoid", "tanh", "silu", "gelu")],
        _cross_entropy(128, 1000, standard=False),
    ]


def select(cases, names=None, quick=False):
    """The cases to run: with ``names`` (substrings, case-insensitive), those whose label
    (``"conv2d 3x3 64->64 32x32"``) contains one of them, extra cases included; without, the
    standard cases. ``quick`` drops the batch-1 and batch-32 convolutions."""
    if names:
        keep = [c for c in cases if any(n.lower() in c.label.lower() for n in names)]
    else:
        keep = [c for c in cases if c.standard]
    return [c for c in keep if not quick or c.batch == 128]


# ---------------------------------------------------------------- measuring


class _Framework:
    """How one framework (and layout) makes tensors and runs a case's passes."""

    def __init__(self, lib, channels_last=False, device="cpu", sync=None):
        self.lib, self.channels_last, self.device, self.sync = lib, channels_last, device, sync
        self.F = lib.nn.functional

    def tensor(self, array, requires_grad, first=False):
        t = self.lib.tensor(array, requires_grad=requires_grad, device=self.device)
        if self.channels_last and first and t.ndim == 4:
            t = t.detach().to(memory_format=self.lib.channels_last).requires_grad_(requires_grad)
        return t

    def passes(self, case, arrays, grad):
        """{pass: zero-argument callable returning its result: the output (fwd) or the
        gradients of the inputs that require grad (bwd, f+b)}."""
        leaves = [self.tensor(a, r, i == 0) for i, (a, r) in enumerate(arrays)]
        params = [t for t, (_, r) in zip(leaves, arrays) if r]
        g = self.lib.tensor(grad, device=self.device)
        if self.channels_last and g.ndim == 4:
            g = g.contiguous(memory_format=self.lib.channels_last)
        y = case.fn(self.F, *leaves)

        def fwd():
            with self.lib.no_grad():
                return case.fn(self.F, *leaves)

        def bwd():
            for t in params:
                t.grad = None
            y.backward(g, retain_graph=True)
            return tuple(t.grad for t in params)

        def fwd_bwd():
            for t in params:
                t.grad = None
            case.fn(self.F, *leaves).backward(g)
            return tuple(t.grad for t in params)

        runs = (fwd, bwd, fwd_bwd)
        if self.sync is not None:  # on the GPU: time the kernels, not their launches
            runs = tuple(self.sync(r) for r in runs)
        return dict(zip(PASSES, runs))


def measure(case, torch=None, *, repeat=10, warmup=3, rtol=1e-4, atol=1e-5, ceilings=None,
            device="cpu"):
    """Run the three passes of ``case`` on ``device`` ("cpu" or "cuda": then ``torch`` must be
    able to run there too, or be None); returns their records (see :func:`run_ops`). A pass
    whose answer differs from PyTorch's gives a record with ``error`` and no timings, an op
    without a CUDA kernel one with ``skipped``."""
    import minicnn

    arrays = case.inputs()
    gpu = device == "cuda"
    mine = _Framework(minicnn, device=device, sync=harness.gpu_synced if gpu else None)
    with minicnn.no_grad():
        out_shape = case.fn(mine.F, *(minicnn.tensor(a) for a, _ in arrays)).shape
    grad = np.asarray(np.random.default_rng(4).standard_normal(tuple(out_shape)), np.float32)
    base = {"op": case.op, "family": case.family, "case": case.case, "standard": case.standard,
            "shape": list(case.shape), "dtype": "float32", "threads": minicnn.get_num_threads()}
    try:
        ours = mine.passes(case, arrays, grad)
    except (NotImplementedError, TypeError) as e:  # an op the GPU path lacks
        if not gpu:
            raise
        return [dict(base, **{"pass": p, "skipped": f"not on cuda: {e}"}) for p in PASSES]
    theirs = {}
    if torch is not None:
        sync = (lambda fn: harness.gpu_synced(fn, torch)) if gpu else None
        theirs["torch"] = _Framework(torch, device=device, sync=sync).passes(case, arrays, grad)
        if len(case.shape) == 4:
            theirs["torch_cl"] = _Framework(torch, True, device, sync).passes(case, arrays, grad)
    ceiling = (ceilings or {}).get("sgemm_gflops" if case.unit == "gflops" else "copy_gbps")
    records = []
    for p in PASSES:
        rec = dict(base, **{"pass": p})
        if theirs:
            try:
                rep = compare(ours[p], {k: v[p] for k, v in theirs.items()}, {case.label: ()},
                              repeat=repeat, warmup=warmup, rtol=rtol, atol=atol)
            except BenchmarkMismatch as e:
                records.append(dict(rec, error=str(e)))
                continue
            by = {r["reference"]: r for r in rep.records}
            t = by["torch"]
            rec.update(minicnn_ms=t["candidate_ms"], torch_ms=t["reference_ms"])
            if "torch_cl" in by:
                rec["torch_cl_ms"] = by["torch_cl"]["reference_ms"]
            rec.update(ratio=t["ratio"], ratio_vs_best=max(r["ratio"] for r in by.values()),
                       rel_err=max(r["rel_err"] for r in by.values()),
                       cpu_per_wall=t["cpu_per_wall"])
        else:
            t = harness.alone(ours[p], repeat, warmup)
            rec.update(minicnn_ms=t["ms"], cpu_per_wall=t["cpu_per_wall"])
        rate = case.work[p] / (rec["minicnn_ms"][1] / 1e3) / 1e9
        rec[case.unit] = rate
        if ceiling:
            rec["fraction_of_ceiling"] = rate / ceiling
        records.append(rec)
    return records


# ---------------------------------------------------------------- peak memory

MEMORY_CASE = "conv2d 3x3 64->64 32x32"  # the standard case the probe below measures
MEMORY_KEY = "peak RSS growth MiB, conv2d f+b (128, 64, 32, 32) 3x3"

_MEMORY_PROBE = """
import sys, numpy as np
framework, threads = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
x = rng.standard_normal((128, 64, 32, 32), dtype=np.float32)
w = rng.standard_normal((64, 64, 3, 3), dtype=np.float32)
g = rng.standard_normal((128, 64, 32, 32), dtype=np.float32)
if framework == "torch":
    import torch as fw
    import torch.nn.functional as F
    fw.set_num_threads(threads)
    x, w, g = (fw.tensor(a, requires_grad=r) for a, r in ((x, True), (w, True), (g, False)))
else:
    import minicnn as fw
    import minicnn.nn.functional as F
    fw.set_num_threads(threads)
    x, w = fw.tensor(x, requires_grad=True), fw.tensor(w, requires_grad=True)
def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current resident size
base = status("VmRSS:")
for _ in range(3):
    x.grad = w.grad = None
    F.conv2d(x, w, None, 1, 1).backward(g)
print((status("VmHWM:") - base) / 1024)
"""


def peak_memory(threads, frameworks=("minicnn", "torch")):
    """Peak resident memory growth (MiB) of three conv2d forward+backward steps at
    (128, 64, 32, 32), 3x3 pad 1, each framework in a fresh process with its inputs allocated
    before the baseline: Linux's VmHWM after resetting it through /proc/self/clear_refs.
    Returns {framework: MiB, or None where the probe could not run (not Linux)}."""
    out = {}
    for fw in frameworks:
        r = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, fw, str(threads)],
                           capture_output=True, text=True)
        out[fw] = float(r.stdout.split()[-1]) if r.returncode == 0 else None
    return out


# ---------------------------------------------------------------- the run


def run_ops(cases=None, *, threads=None, repeat=10, warmup=3, quick=False, rtol=1e-4,
            atol=1e-5, out=None, device="cpu"):
    """Measure the op cases (the standard ones, or those ``cases`` names: see :func:`select`)
    against PyTorch when it is installed, minicnn alone otherwise.

    device: "cpu", or "cuda" (minicnn's CUDA kernels against PyTorch on the same GPU when its
    build has CUDA, alone otherwise; every timed call ends with a synchronize; the ceilings are
    the GPU's: :func:`~minicnn.bench.harness.gpu_sgemm_ceiling` and
    :func:`~minicnn.bench.harness.gpu_copy_bandwidth`; no peak-memory probe).

    threads: for both frameworks (default: all cores this process may use). repeat, warmup:
    timed and untimed pairs per pass. quick: the batch-1 and batch-32 convolutions are
    skipped and the ceilings measured on smaller arrays (for smoke tests, not for figures).
    rtol, atol: the answer check (:func:`minicnn.bench.check_close`). out: a stream for the
    table, printed row by row as cases finish (None: silent).

    Returns a :class:`Report`. Records, one per case and pass: op, family, case, pass
    ("fwd", "bwd", "f+b"), standard, shape (of the first input), dtype, threads, minicnn_ms,
    torch_ms, torch_cl_ms (PyTorch channels_last; 4-D inputs) ([min, median, max]
    milliseconds), ratio (median of paired minicnn / PyTorch NCHW ratios), ratio_vs_best
    (against the faster PyTorch layout), gflops or gbps (minicnn's rate at its median time),
    fraction_of_ceiling (of summary's sgemm_gflops or copy_gbps), rel_err (max |minicnn - torch|
    / max |torch| over the outputs or gradients), cpu_per_wall; or ``error`` when the answer
    check failed. The summary holds the ceilings, the geometric means of the ratios by family
    and the peak memory of :func:`peak_memory` when its case ran.
    """
    import minicnn

    gpu = device == "cuda"
    torch = harness.import_torch()
    torch = harness.torch_cuda(torch) if gpu else torch
    chosen = select(all_cases(), cases, quick)
    if not chosen:
        return Report()
    with harness.same_threads(threads or harness.available_cores()):
        n = minicnn.get_num_threads()
        if gpu:
            summary = {"sgemm_gflops": harness.gpu_sgemm_ceiling(1024 if quick else 4096),
                       "copy_gbps": harness.gpu_copy_bandwidth(1 << 24 if quick else 1 << 28)}
        else:
            summary = {"sgemm_gflops": harness.sgemm_ceiling(1024 if quick else 2048),
                       "copy_gbps": harness.copy_bandwidth(1 << 25 if quick else 1 << 27)}
        keys = ["op", "case", "pass", "minicnn_ms"]
        keys += ["torch_ms", "torch_cl_ms", "ratio", "ratio_vs_best"] if torch else []
        keys += ["gflops", "gbps", "fraction_of_ceiling"] + (["rel_err"] if torch else [])
        report = Report(host=harness.host_info(n, device), summary=summary,
                        targets={} if gpu else TARGETS, columns=keys + ["cpu_per_wall"])
        where = f"GPU {report.host['gpu']}" if gpu else f"{report.host['cpu']}, threads {n}"
        say(out, f"# ops: {where}, float32, "
                  f"{time.strftime('%Y-%m-%d')}; sgemm ceiling {summary['sgemm_gflops']:.0f} "
                  f"GFLOP/s, copy {summary['copy_gbps']:.1f} GB/s")
        say(out, report.header())
        for case in chosen:
            for rec in measure(case, torch, repeat=repeat, warmup=warmup, rtol=rtol, atol=atol,
                               ceilings=summary, device=device):
                report.records.append(rec)
                say(out, report.row(rec))
            if case.label == MEMORY_CASE and not gpu:
                report.summary[MEMORY_KEY] = peak_memory(
                    n, ("minicnn", "torch") if torch else ("minicnn",))
        report.summary.update(_geomeans(report.records))
        report.host = harness.host_info(n, device)
    for line in report.summary_lines():
        say(out, line)
    return report


def _geomeans(records):
    """{"geomean ratio <family>": value} over the standard cases (convolutions: f+b at batch
    128, the issue's target), against PyTorch's faster layout."""
    groups = {}
    for r in records:
        if r.get("standard") and r.get("ratio") is not None:
            if r["family"] == "conv" and (r["pass"] != "f+b" or r["shape"][0] != 128):
                continue
            name = "conv f+b" if r["family"] == "conv" else r["family"]
            groups.setdefault(name, []).append(r.get("ratio_vs_best") or r["ratio"])
    return {f"geomean ratio vs best torch, {k}": math.exp(np.mean(np.log(v)))
            for k, v in groups.items()}
