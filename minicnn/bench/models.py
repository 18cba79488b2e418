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
import time

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
]
TARGETS = {"training step <= 1.0": 1.0}  # issue 6
GPU_TARGETS = {"training step on the GPU <= 2.0": 2.0}  # issue 7 (for convnet 3x32x32)
SGD = {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4}


def _label(name, image_shape):
    return f"{name} {'x'.join(map(str, image_shape))}"


def _dropout_off(*models):
    """Put the dropout modules of ``models`` in eval mode; returns a function that undoes it."""
    layers = [m for model in models for m in model.modules() if "Dropout" in type(m).__name__]
    for m in layers:
        m.eval()
    return lambda: [m.train() for m in layers]


def measure_model(name, kwargs, image_shape, torch=None, *, batch=128, repeat=10, warmup=3,
                  rtol=1e-4, device="cpu"):
    """Time training steps of ``minicnn.models.get_model(name, **kwargs)`` on (batch,
    *image_shape) inputs against its PyTorch twin (when ``torch`` is given), both on ``device``
    ("cpu" or "cuda"; on the GPU each step ends with a synchronize). Returns one record (see
    :func:`run_models`); ``error`` instead of timings when the first losses differ by more than
    ``rtol``."""
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

    rec = {"op": "train step", "family": "model", "case": _label(name, image_shape),
           "standard": True, "shape": [batch, *image_shape], "dtype": "float32",
           "threads": minicnn.get_num_threads()}
    if torch is None:
        t = harness.alone(step_m, repeat, warmup)
        return dict(rec, minicnn_ms=t["ms"], minicnn_img_s=batch / (t["ms"][1] / 1e3),
                    cpu_per_wall=t["cpu_per_wall"])

    from minicnn.utils import to_torch_state_dict

    from . import torch_models

    twin = torch_models.build(name, **kwargs).train()
    twin.load_state_dict(to_torch_state_dict(model))
    twin.to(device)
    topt = torch.optim.SGD(twin.parameters(), **SGD)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def step_t():
        topt.zero_grad()
        loss = torch.nn.functional.cross_entropy(twin(xt), yt)
        loss.backward()
        topt.step()

    if gpu:
        step_t = harness.gpu_synced(step_t, torch)

    restore = _dropout_off(model, twin)
    try:
        _, rel = check_close(F.cross_entropy(model(xm), ym), torch.nn.functional.cross_entropy(
            twin(xt), yt), rtol=rtol, atol=0.0, case=rec["case"], reference="torch")
    except BenchmarkMismatch as e:
        return dict(rec, error=f"first-step loss: {e}")
    finally:
        restore()
    t = harness.paired(step_m, step_t, repeat, warmup)
    return dict(rec, minicnn_ms=t["a_ms"], torch_ms=t["b_ms"], ratio=t["ratio"],
                minicnn_img_s=batch / (t["a_ms"][1] / 1e3),
                torch_img_s=batch / (t["b_ms"][1] / 1e3), rel_err=rel,
                cpu_per_wall=t["cpu_per_wall"])


def run_models(cases=None, *, threads=None, repeat=10, warmup=3, batch=128, out=None,
               device="cpu"):
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
    cpu_per_wall; or ``error`` when the first-step losses differ.

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
        keys = ["op", "case", "minicnn_ms"] + (["torch_ms", "ratio"] if torch else [])
        keys += ["minicnn_img_s"] + (["torch_img_s", "rel_err"] if torch else [])
        report = Report(host=harness.host_info(n, device), targets=GPU_TARGETS if gpu else TARGETS,
                        columns=keys + ["cpu_per_wall"])
        where = f"GPU {report.host['gpu']}" if gpu else f"{report.host['cpu']}, threads {n}"
        say(out, f"# models: {where}, float32, batch {batch}, "
                  f"SGD lr {SGD['lr']} momentum {SGD['momentum']} wd {SGD['weight_decay']}, "
                  f"{time.strftime('%Y-%m-%d')}")
        say(out, report.header())
        for name, kwargs, shape in chosen:
            rec = measure_model(name, kwargs, shape, torch, batch=batch, repeat=repeat,
                                warmup=warmup, device=device)
            report.records.append(rec)
            say(out, report.row(rec))
        report.host = harness.host_info(n, device)
    return report
