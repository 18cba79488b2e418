"""End-to-end training-step throughput: minicnn's models against identical PyTorch twins.

One step is what a training loop does per batch: ``optimizer.zero_grad()``, forward,
cross-entropy, ``backward()``, ``optimizer.step()`` with SGD (lr 0.01, momentum 0.9, weight
decay 5e-4), the model in train mode, batch 128 of random images and labels. The PyTorch twin
(:mod:`minicnn.bench.torch_models`) starts from minicnn's weights
(``minicnn.utils.to_torch_state_dict``) and gets the same arrays; the steps run interleaved and
the figure is the median of the paired step-time ratios minicnn / PyTorch, with images/s for
both. Before timing, the first step's loss is checked against PyTorch's (dropout switched off
for the check only: its random masks differ between the frameworks).
"""
import statistics
import time
from typing import Any, TextIO

import numpy as np

from . import harness
from .compare import BenchmarkMismatch, check_close
from .report import Report, say

# (model, constructor arguments, image shape (C, H, W)): the end-to-end cases of
# docs/benchmarking.md
MODELS = [
    ("lenet5", {}, (1, 28, 28)),
    ("convnet", {"in_channels": 1}, (1, 28, 28)),
    ("convnet", {}, (3, 32, 32)),
    ("resnet20", {}, (3, 32, 32)),
    ("mobilenet_v2", {"num_classes": 10}, (3, 32, 32)),
    ("resnet18", {"num_classes": 10, "small_input": True}, (3, 32, 32)),  # the CIFAR stem
]
TARGETS = {"training step <= 1.0": 1.0}  # issue 6
GPU_TARGETS = {"training step on the GPU <= 2.0": 2.0}  # issue 7 (for convnet 3x32x32)
SGD = {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4}
PEER_MODES = ("channels_last", "compile")  # PyTorch's modes besides eager NCHW (CPU)


def _label(name, image_shape):
    return f"{name} {'x'.join(map(str, image_shape))}"


def _dropout_off(*models):
    """Put the dropout modules of ``models`` in eval mode; returns a function that undoes it."""
    layers = [m for model in models for m in model.modules() if "Dropout" in type(m).__name__]
    for m in layers:
        m.eval()
    return lambda: [m.train() for m in layers]


# multiplications per output of Winograd F(2x2, 3x3) against the direct 3x3 convolution: 16
# per 2x2 tile instead of 4 * 9 (Lavin & Gray 2016)
WINOGRAD_MUL_FRACTION = 16 / 36


def step_flops(model, image_shape, batch, winograd=True):
    """(direct, executed) floating-point operations of one training step of ``model`` on a
    batch of (batch, *image_shape): 2 per multiply-add of the convolutions and linear layers,
    three products per layer (forward, input gradient, weight gradient; the first layer's
    input gradient is not computed). "direct" counts every layer as a direct convolution, the
    figure PyTorch's flop counter gives; "executed" counts the multiplications of the layers
    that run Winograd F(2x2, 3x3) at 16/36 of that (its transforms' adds not counted), the
    work the GEMMs really did (``winograd=False``: the GPU's kernels, which have none). Found
    with forward hooks in one no-grad forward pass on the model's device."""
    import minicnn
    from minicnn import backends, nn
    from minicnn.utils.summary import layer_macs

    found = []  # (multiply-adds of one product, executed fraction, is the first layer)

    def hook(module, args, output):
        first = not found
        algo = winograd and isinstance(module, nn.Conv2d) and backends.conv2d_algorithm(
            args[0].shape, module.weight.shape, module.stride, module.padding, module.dilation,
            module.groups)
        found.append((layer_macs(module, args, output),
                      WINOGRAD_MUL_FRACTION if algo == "winograd" else 1.0, first))

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with minicnn.no_grad():
            model(minicnn.zeros((batch, *image_shape), device=next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
    direct = sum(2 * macs * (2 if first else 3) for macs, _, first in found)
    executed = sum(2 * macs * (2 if first else 3) * frac for macs, frac, first in found)
    return direct, executed


def measure_model(name, kwargs, image_shape, torch=None, *, batch=128, repeat=10, warmup=3,
                  rtol=1e-4, device="cpu", modes=PEER_MODES):
    """Time training steps of ``minicnn.models.get_model(name, **kwargs)`` on (batch,
    *image_shape) inputs against its PyTorch twin (when ``torch`` is given), both on ``device``
    ("cpu" or "cuda"; on the GPU each step ends with a synchronize): eager NCHW, and on the CPU
    also the PyTorch ``modes`` ("channels_last", "compile": ``torch.compile`` with its default
    backend), each paired with minicnn in turn. Returns one record (see :func:`run_models`);
    ``error`` instead of timings when the first losses differ by more than ``rtol``."""
    import minicnn
    import minicnn.nn.functional as F

    gpu = device == "cuda"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *image_shape), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    minicnn.manual_seed(0)
    model = minicnn.models.get_model(name, **kwargs).train()
    model.to(device)
    opt = minicnn.optim.SGD(model.parameters(), **SGD)
    xm, ym = minicnn.tensor(x, device=device), minicnn.tensor(y, device=device)

    def step_m():
        opt.zero_grad()
        loss = F.cross_entropy(model(xm), ym)
        loss.backward()
        opt.step()

    if gpu:
        step_m = harness.gpu_synced(step_m)

    direct, executed = step_flops(model, image_shape, batch, winograd=not gpu)
    rec = {"op": "train step", "family": "model", "case": _label(name, image_shape),
           "standard": True, "shape": [batch, *image_shape], "dtype": "float32",
           "threads": minicnn.get_num_threads(), "step_gflop": direct / 1e9,
           "executed_gflop": executed / 1e9}
    if torch is None:
        t = harness.alone(step_m, repeat, warmup)
        return dict(rec, minicnn_ms=t["ms"], minicnn_img_s=batch / (t["ms"][1] / 1e3),
                    cpu_per_wall=t["cpu_per_wall"])

    import copy

    from minicnn.utils import to_torch_state_dict

    from . import torch_models

    twin = torch_models.build(name, **kwargs).train()
    twin.load_state_dict(to_torch_state_dict(model))
    twin.to(device)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def torch_step(net, inputs):
        topt = torch.optim.SGD(net.parameters(), **SGD)

        def step():
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(inputs), yt)
            loss.backward()
            topt.step()
        return harness.gpu_synced(step, torch) if gpu else step

    step_t = torch_step(twin, xt)
    # the other PyTorch modes a speed-minded user picks, each on its own copy of the twin
    peers = {}
    if not gpu and "channels_last" in modes:
        cl = copy.deepcopy(twin).to(memory_format=torch.channels_last)
        peers["torch_cl"] = torch_step(cl, xt.contiguous(memory_format=torch.channels_last))
    if not gpu and "compile" in modes:
        peers["torch_compile"] = torch_step(torch.compile(copy.deepcopy(twin)), xt)

    restore = _dropout_off(model, twin)
    try:
        _, rel = check_close(F.cross_entropy(model(xm), ym), torch.nn.functional.cross_entropy(
            twin(xt), yt), rtol=rtol, atol=0.0, case=rec["case"], reference="torch")
    except BenchmarkMismatch as e:
        return dict(rec, error=f"first-step loss: {e}")
    finally:
        restore()
    t = harness.paired(step_m, step_t, repeat, warmup)
    rec = dict(rec, minicnn_ms=t["a_ms"], torch_ms=t["b_ms"], ratio=t["ratio"],
               minicnn_img_s=batch / (t["a_ms"][1] / 1e3),
               torch_img_s=batch / (t["b_ms"][1] / 1e3), rel_err=rel,
               cpu_per_wall=t["cpu_per_wall"])
    for key, step in peers.items():
        ratio_key = "ratio_cl" if key == "torch_cl" else "ratio_compile"
        try:
            step()  # torch.compile compiles here, outside the timed pairs
        except Exception as e:  # e.g. no C++ compiler for the inductor backend
            rec[f"{key}_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
            continue
        p = harness.paired(step_m, step, repeat, warmup)
        rec[f"{key}_ms"], rec[ratio_key] = p["b_ms"], p["ratio"]
    rec["ratio_vs_best"] = max(rec[k] for k in ("ratio", "ratio_cl", "ratio_compile") if k in rec)
    return rec


def run_models(cases=None, *, threads=None, repeat=10, warmup=3, batch=128, out=None,
               device="cpu", modes=PEER_MODES):
    """Measure training steps of the MODELS (those whose label, e.g. ``"convnet 3x32x32"``,
    contains one of the substrings ``cases``, case-insensitive; default all) against PyTorch
    when it is installed, minicnn alone otherwise.

    threads: for both frameworks (default: all cores this process may use). repeat, warmup:
    timed and untimed step pairs. out: a stream for the table, printed row by row (None:
    silent).

    Returns a :class:`Report`. Records, one per model: op ("train step"), family ("model"),
    case, shape, dtype, threads, minicnn_ms and torch_ms ([min, median, max] milliseconds per
    step), ratio (median of paired step-time ratios minicnn / PyTorch), minicnn_img_s and
    torch_img_s (images per second at the median step time), rel_err (of the first-step loss),
    cpu_per_wall; or ``error`` when the first-step losses differ. On the CPU, for each of the
    PyTorch ``modes`` that runs ("channels_last", "compile"), torch_cl_ms / torch_compile_ms
    and ratio_cl / ratio_compile, else torch_cl_error / torch_compile_error saying why; and
    ratio_vs_best, against the fastest PyTorch mode. The work (:func:`step_flops`):
    step_gflop and executed_gflop per step, gflops (direct GFLOP at minicnn's median step time)
    and executed_fraction (executed GFLOP/s over the sgemm ceiling measured at the start, the
    report's summary ``sgemm_gflops``): how much of the machine's matrix-multiply rate the step
    reaches.

    device: "cpu", or "cuda": both frameworks on the GPU (PyTorch only when its build has CUDA).
    The target (training step <= 1.0) is the CPU's; on the GPU the issue asks for ConvNet
    3x32x32 within 2x of PyTorch.
    """
    import minicnn

    gpu = device == "cuda"
    torch = harness.import_torch()
    torch = harness.torch_cuda(torch) if gpu else torch
    chosen = [m for m in MODELS if not cases
              or any(c.lower() in _label(m[0], m[2]).lower() for c in cases)]
    if not chosen:
        return Report()
    with harness.same_threads(threads or harness.available_cores()):
        n = minicnn.get_num_threads()
        extra = [] if gpu or not torch else [
            k for mode, ks in (("channels_last", ["torch_cl_ms", "ratio_cl"]),
                               ("compile", ["torch_compile_ms", "ratio_compile"]))
            if mode in modes for k in ks]
        keys = ["op", "case", "minicnn_ms"] + (["torch_ms", "ratio"] if torch else []) + extra
        keys += ["ratio_vs_best"] if extra else []
        keys += ["minicnn_img_s"] + (["torch_img_s", "rel_err"] if torch else [])
        keys += ["gflops", "executed_fraction"]
        ceiling = harness.gpu_sgemm_ceiling() if gpu else harness.sgemm_ceiling()
        report = Report(host=harness.host_info(n, device), targets=GPU_TARGETS if gpu else TARGETS,
                        columns=keys + ["cpu_per_wall"], summary={"sgemm_gflops": ceiling})
        where = f"GPU {report.host['gpu']}" if gpu else f"{report.host['cpu']}, threads {n}"
        say(out, f"# models: {where}, float32, batch {batch}, "
                  f"SGD lr {SGD['lr']} momentum {SGD['momentum']} wd {SGD['weight_decay']}, "
                  f"{time.strftime('%Y-%m-%d')}")
        say(out, report.header())
        for name, kwargs, shape in chosen:
            rec = measure_model(name, kwargs, shape, torch, batch=batch, repeat=repeat,
                                warmup=warmup, device=device, modes=modes)
            if "minicnn_ms" in rec:  # the rates at the median step time
                seconds = rec["minicnn_ms"][1] / 1e3
                rec["gflops"] = rec["step_gflop"] / seconds
                rec["executed_fraction"] = rec["executed_gflop"] / seconds / ceiling
            report.records.append(rec)
            say(out, report.row(rec))
            for key, mode in (("torch_cl", "channels_last"), ("torch_compile", "torch.compile")):
                if f"{key}_error" in rec:
                    say(out, f"# {mode} did not run here: {rec[f'{key}_error']}")
        report.host = harness.host_info(n, device)
    return report


# ---------------------------------------------------------------- inference

INFERENCE_BATCHES = (1, 128)
SMALL_BATCH_FACTOR = 6  # batch 1: calls take ~1 ms, so six times the timed and warm-up calls
# the peers of minicnn's eval-mode forward: record key prefix -> what the notes call it
PEERS = {"torch": "PyTorch eager NCHW", "torch_cl": "PyTorch eager channels_last",
         "ort": "ONNX Runtime"}
RATIO_KEYS = {"torch": "ratio", "torch_cl": "ratio_cl", "ort": "ratio_ort"}  # minicnn / peer


def import_onnxruntime() -> tuple[Any, str | None]:
    """(the onnxruntime module, None), or (None, why) when onnxruntime, or the onnx package
    that :func:`minicnn.onnx.export` needs, is not installed."""
    try:
        import onnx  # noqa: F401  (minicnn.onnx.export builds the file with it)
        import onnxruntime
    except ImportError as e:
        return None, (f"{e.name or 'onnx'} is not installed: no ONNX Runtime peer "
                      f"(pip install -e '.[onnx]')")
    return onnxruntime, None


def ort_session(model: Any, image_shape: tuple[int, ...], threads: int, ort: Any) -> Any:
    """An onnxruntime.InferenceSession (CPU) of ``model`` exported by :func:`minicnn.onnx.export`
    with a free batch size, for inputs of shape (N, *image_shape): ``threads`` intra-op threads,
    one inter-op thread, sequential execution, everything else onnxruntime's defaults (graph
    optimizations on, spinning worker threads). Raises minicnn.onnx.ExportError when the model
    does not export."""
    import tempfile

    import minicnn
    import minicnn.onnx

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/model.onnx"
        minicnn.onnx.export(model, minicnn.zeros(1, *image_shape), path, dynamic_batch=True)
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class _Clocked:
    """A zero-argument callable that also keeps the wall time of each of its calls, so that the
    spread (max / median) comes from the very calls :func:`harness.paired` timed."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, []

    def __call__(self):
        t0 = time.perf_counter()
        result = self.fn()
        self.seconds.append(time.perf_counter() - t0)
        return result

    def last(self, n):
        return self.seconds[-n:]


def _spread(seconds):
    return max(seconds) / statistics.median(seconds)


def _forwards(name, kwargs, image_shape, torch, ort, threads):
    """The minicnn model (eval mode, seed 0) and its peers that can run: {"torch": its PyTorch
    twin with the same weights, "torch_cl": the twin in channels_last, "ort": an onnxruntime
    session of its ONNX export}. Returns (model, peers, notes), notes naming skipped peers."""
    import minicnn

    minicnn.manual_seed(0)
    model = minicnn.models.get_model(name, **kwargs).eval()
    peers, notes = {}, []
    if torch is not None:
        import copy

        from minicnn.utils import to_torch_state_dict

        from . import torch_models

        twin = torch_models.build(name, **kwargs).eval()
        twin.load_state_dict(to_torch_state_dict(model))
        peers["torch"] = twin
        peers["torch_cl"] = copy.deepcopy(twin).to(memory_format=torch.channels_last)
    if ort is not None:
        import minicnn.onnx

        try:
            peers["ort"] = ort_session(model, image_shape, threads, ort)
        except minicnn.onnx.ExportError as e:
            notes.append(f"no ONNX Runtime peer for {_label(name, image_shape)}: {e}")
    return model, peers, notes


def _calls(model, peers, x, torch):
    """Zero-argument callables running one eval-mode forward of ``x`` (a float32 NCHW array):
    {"minicnn": ..., peer: ...}. Inputs are made outside the timed calls (channels_last's
    too)."""
    import minicnn

    xm = minicnn.tensor(x)

    def mine():
        with minicnn.no_grad():
            return model(xm)

    calls = {"minicnn": mine}
    for key, peer in peers.items():
        if key == "ort":
            feed = {peer.get_inputs()[0].name: x}
            calls[key] = lambda s=peer, f=feed: s.run(None, f)[0]
            continue
        xt = torch.from_numpy(x)
        if key == "torch_cl":
            xt = xt.contiguous(memory_format=torch.channels_last)

        def eager(net=peer, xt=xt):
            with torch.inference_mode():
                return net(xt)
        calls[key] = eager
    return calls


def measure_inference(name: str, kwargs: dict[str, Any], image_shape: tuple[int, ...],
                      torch: Any = None, ort: Any = None, *,
                      batches: tuple[int, ...] = INFERENCE_BATCHES, repeat: int = 10,
                      warmup: int = 3, rtol: float = 1e-4, threads: int | None = None
                      ) -> tuple[list[dict[str, Any]], list[str]]:
    """Time eval-mode forwards of ``minicnn.models.get_model(name, **kwargs)`` (seed 0) on
    (batch, *image_shape) float32 inputs, for each batch in ``batches``, against its peers:
    the PyTorch twin (when ``torch`` is given) in NCHW and in channels_last under
    torch.inference_mode, and the model's ONNX export in onnxruntime (when ``ort``, the
    onnxruntime module, is given) with ``threads`` intra-op threads (default minicnn's).

    Per batch, every peer's output is first checked against minicnn's (check_close: ``rtol``
    times the largest output magnitude); then minicnn and each peer in turn run interleaved,
    ``warmup`` untimed and ``repeat`` timed pairs per peer (at batch 1, SMALL_BATCH_FACTOR
    times both). At batch 1 each framework is then timed alone as well, which shows what
    interleaving two runtimes' threads costs.

    Returns (records, notes): one record per batch (see :func:`run_inference`), and lines
    naming peers that could not run.
    """
    import minicnn

    threads = threads or minicnn.get_num_threads()
    model, peers, notes = _forwards(name, kwargs, image_shape, torch, ort, threads)
    records = []
    for batch in batches:
        x = np.random.default_rng(0).standard_normal((batch, *image_shape), dtype=np.float32)
        rec = {"op": "inference", "family": "inference",
               "case": f"{_label(name, image_shape)} batch {batch}", "standard": True,
               "batch": batch, "shape": [batch, *image_shape], "dtype": "float32",
               "threads": minicnn.get_num_threads()}
        calls = _calls(model, peers, x, torch)
        try:
            ours = calls["minicnn"]()
            errors = [check_close(ours, calls[k](), rtol=rtol, atol=0.0, case=rec["case"],
                                  reference=PEERS[k]) for k in peers]
        except BenchmarkMismatch as e:
            records.append(dict(rec, error=f"eval forward: {e}"))
            continue
        n, w = (SMALL_BATCH_FACTOR * repeat, SMALL_BATCH_FACTOR * warmup) if batch == 1 else \
            (repeat, warmup)
        clocked = {k: _Clocked(fn) for k, fn in calls.items()}
        mine = clocked["minicnn"]
        seconds: dict[str, list[float]] = {k: [] for k in calls}
        ratios: dict[str, float] = {}
        c0, t0 = time.process_time(), time.perf_counter()
        if not peers:
            harness.alone(mine, n, w)
            seconds["minicnn"] = mine.last(n)
        for key in peers:
            ratios[key] = harness.paired(mine, clocked[key], n, w)["ratio"]
            seconds["minicnn"] += mine.last(n)
            seconds[key] = clocked[key].last(n)
        rec["cpu_per_wall"] = (time.process_time() - c0) / (time.perf_counter() - t0)
        for key, s in seconds.items():
            rec[f"{key}_ms"] = harness._ms(s)
            if batch == 1:
                rec[f"{key}_spread"] = _spread(s)
        rec.update({RATIO_KEYS[k]: ratio for k, ratio in ratios.items()})
        if torch is not None:
            rec["ratio_vs_best_torch"] = max(ratios["torch"], ratios["torch_cl"])
        if peers:
            rec["ratio_vs_best"] = max(ratios.values())
            rec["max_abs_err"] = max(e[0] for e in errors)
            rec["rel_err"] = max(e[1] for e in errors)
        if batch == 1:  # the same calls with no other runtime in between
            for key, fn in calls.items():
                rec[f"{key}_alone_ms"] = harness.alone(fn, n, w)["ms"]
        records.append(rec)
    return records, notes


def run_inference(cases: list[str] | None = None, *, threads: int | None = None,
                  repeat: int = 10, warmup: int = 3, out: TextIO | None = None) -> Report:
    """Measure eval-mode inference of the MODELS (those whose label, e.g. ``"resnet20
    3x32x32"``, contains one of the substrings ``cases``, case-insensitive; default all) at
    batch 1 and 128 (:func:`measure_inference`) against PyTorch eager in NCHW and in
    channels_last and against ONNX Runtime, each peer when it is installed (a note says which
    is missing; with none, minicnn alone).

    threads: for minicnn, PyTorch and onnxruntime's intra-op pool (default: all cores this
    process may use). repeat, warmup: timed and untimed pairs per peer at batch 128;
    SMALL_BATCH_FACTOR times as many at batch 1. out: a stream for the table, printed row by
    row (None: silent).

    Returns a :class:`Report`. Records, one per model and batch: op and family ("inference"),
    case ("<model> <C>x<H>x<W> batch <N>"), batch, shape, dtype, threads;
    minicnn_ms, torch_ms (NCHW), torch_cl_ms (channels_last), ort_ms ([min, median, max]
    milliseconds per forward over the timed calls; minicnn's pooled over its pairings with
    every peer); ratio, ratio_cl, ratio_ort (medians of the paired time ratios minicnn /
    peer: below 1, minicnn is faster), ratio_vs_best_torch (against the faster PyTorch
    layout), ratio_vs_best (against the fastest peer); at batch 1 also <framework>_spread
    (max / median of its timed calls: latency steadiness) and <framework>_alone_ms (the
    same number of calls timed with no other runtime in between); max_abs_err and rel_err
    (the worst over the peers of minicnn's output against theirs); cpu_per_wall. A record
    whose outputs differ carries ``error`` instead of timings. The summary holds geometric
    means of the ratios per batch and, per framework, of the batch-1 median time paired over
    alone.
    """
    import minicnn

    torch = harness.import_torch()
    ort, why = import_onnxruntime()
    chosen = [m for m in MODELS if not cases
              or any(c.lower() in _label(m[0], m[2]).lower() for c in cases)]
    if not chosen:
        return Report()
    if why:
        say(out, f"# {why}")
    peers = ([k for k in PEERS if k != "ort"] if torch else []) + (["ort"] if ort else [])
    with harness.same_threads(threads or harness.available_cores()):
        n = minicnn.get_num_threads()
        keys = ["case", "minicnn_ms"] + [f"{k}_ms" for k in peers]
        keys += [RATIO_KEYS[k] for k in peers] + (["ratio_vs_best_torch"] if torch else [])
        keys += (["ratio_vs_best"] if peers else []) + ["minicnn_spread"]
        keys += [f"{k}_spread" for k in peers] + (["rel_err"] if peers else [])
        report = Report(host=harness.host_info(n), columns=keys + ["cpu_per_wall"])
        versions = "".join(f", {lib.__name__} {lib.__version__}" for lib in (torch, ort) if lib)
        say(out, f"# inference: {report.host['cpu']}, threads {n}, float32, eval mode"
                 f"{versions}, {time.strftime('%Y-%m-%d')}")
        say(out, report.header())
        for name, kwargs, shape in chosen:
            records, notes = measure_inference(name, kwargs, shape, torch, ort, repeat=repeat,
                                               warmup=warmup, threads=n)
            for line in notes:
                say(out, f"# {line}")
            for rec in records:
                report.records.append(rec)
                say(out, report.row(rec))
        report.summary.update(_inference_summary(report.records, ["minicnn"] + peers))
        report.host = harness.host_info(n)
        if ort:
            report.host["onnxruntime"] = ort.__version__
    for line in report.summary_lines():
        say(out, line)
    return report


def _inference_summary(records, frameworks):
    """Geometric means over the models: of each ratio per batch, and of each framework's
    batch-1 median time paired / alone (above 1: interleaving slowed it)."""
    def geomean(values):
        return float(np.exp(np.mean(np.log(values))))

    summary = {}
    ok = [r for r in records if not r.get("error")]
    for key, what in (("ratio_vs_best", "best peer"), ("ratio_vs_best_torch", "best torch"),
                      ("ratio_ort", "onnxruntime")):
        for batch in INFERENCE_BATCHES:
            values = [r[key] for r in ok if r["batch"] == batch and key in r]
            if values:
                summary[f"geomean inference ratio vs {what}, batch {batch}"] = geomean(values)
    small = [r for r in ok if r["batch"] == 1]
    if small:
        slowdown = {k: [r[f"{k}_ms"][1] / r[f"{k}_alone_ms"][1] for r in small
                        if f"{k}_alone_ms" in r] for k in frameworks}  # a model may lack a peer
        summary["batch 1 paired / alone median time"] = {
            k: geomean(v) for k, v in slowdown.items() if v}
    return summary
