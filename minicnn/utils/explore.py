"""One image's way through a CNN, as an interactive page: ``minicnn explore``.

:func:`build_explorer` runs a model on one image, with forward hooks on every module, and returns
one self-contained HTML page (the numbers embedded as base64 float32, the JavaScript and CSS
inline: no server, no network, no library) that shows

- the input, the class probabilities, and the Grad-CAM and saliency maps of
  :mod:`minicnn.utils.viz` for the predicted class and for a chosen one, each kind on one absolute
  scale (Grad-CAM weighted by the class probability, so a class ruled out looks cold);
- every layer the forward pass calls, in order, as a grid of its feature maps on one colour scale
  per layer with a colour bar; a block (ResNet's BasicBlock: any module with layers that is not a
  Sequential) shows its output, and its layers on demand; a wide layer pages through its channels,
  the most active (largest mean) first;
- for a clicked unit: its receptive field drawn on the input (from
  :func:`minicnn.utils.receptive_field`), its filter, and the arithmetic of its value (for a
  convolution: the sum over input channels and kernel positions of input x weight, plus the bias,
  as CNN Explainer shows it; for linear, batch norm, ReLU and pooling units their own formulas);
- the training curves and the confusion matrix of the run, when given.

A model too big for the page (``max_mb``) keeps the filters of its most active channels only, then,
if still too big, only the most active channels of each layer's maps; the page says which.

:func:`explore_checkpoint` is what ``minicnn explore`` runs on a checkpoint or run directory;
:func:`page_data` reads the embedded numbers back from a page. The page itself is the template
``explore_page.html`` next to this module.
"""
import base64
import json
import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from . import viz

if TYPE_CHECKING:
    from ..nn import Module

__all__ = ["build_explorer", "explore_checkpoint", "page_data"]

_PLACEHOLDER = "__EXPLORER_DATA__"
_DATA_SCRIPT = re.compile(r'<script type="application/json" id="explorer-data">(.*?)</script>',
                          re.S)
# filters kept per layer, then map channels kept per layer, tried in turn until the page fits
_LADDER = (None, 256, 128, 64, 32, 16, 8, 4, 2, 1)
_HEAT_ALL = 20  # Grad-CAM and saliency for every class up to this many classes, else the top 10


def build_explorer(model: "Module", image: Any, *, classes: Sequence[str] | None = None,
                   mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                   label: int | None = None, target: int | None = None,
                   history: Sequence[Mapping[str, Any]] | None = None,
                   confusion: Any = None, title: str = "", max_mb: float = 8.0) -> str:
    """The explorer page (an HTML document, as a str) of ``model`` on one image.

    ``image``: the model's input for one image, an array or Tensor (C, H, W) or (1, C, H, W),
    already normalized; ``mean`` and ``std`` (one per channel) undo that for display (without them
    the page stretches the input to its range). ``classes``: the class names (default "0", "1",
    ...); ``label``: the true class index, when known; ``target``: the class whose Grad-CAM and
    saliency show beside the predicted one's (default: the true class when the prediction is
    wrong, else the runner-up). ``history``: the run's epoch rows (dicts with ``epoch``,
    ``train_loss``, ``train_acc``, ``val_loss``, ... as :func:`minicnn.utils.viz.read_metrics`
    gives them); ``confusion``: the test confusion matrix (rows true, columns predicted).
    ``max_mb``: the page's size limit in MB; a bigger model keeps fewer filters, then fewer map
    channels per layer (the most active ones).

    The model runs in eval mode (restored afterwards). Raises TypeError when ``model`` is not an
    nn.Module; ValueError for an image that is not (C, H, W) or (1, C, H, W), a ``mean`` or
    ``std`` without one value per channel, a ``target`` or ``label`` outside the classes, a
    ``classes`` list or ``confusion`` matrix of the wrong size, or ``max_mb`` <= 0.
    """
    from ..nn import Module

    if not isinstance(model, Module):
        raise TypeError(f"build_explorer: model must be an nn.Module, got {type(model).__name__}")
    if not (isinstance(max_mb, (int, float)) and max_mb > 0):
        raise ValueError(f"build_explorer: max_mb must be a positive number, got {max_mb!r}")
    x = _input(model, image)
    for name, values in (("mean", mean), ("std", std)):
        if values is not None and len(values) != x.shape[1]:
            raise ValueError(f"build_explorer: {name} must have one value per channel "
                             f"({x.shape[1]}), got {len(values)}")
    arrays, layers, notes, logits = _layers(model, x, max_mb)
    probs = viz.softmax(logits.detach().cpu().numpy())[0]
    classes = _classes(classes, len(probs))
    for name, k in (("label", label), ("target", target)):
        if k is not None and not (isinstance(k, (int, np.integer)) and 0 <= k < len(probs)):
            raise ValueError(f"build_explorer: {name} must be a class index 0..{len(probs) - 1}, "
                             f"got {k!r}")
    predicted = int(probs.argmax())
    if target is None:
        runner_up = int(np.argsort(-probs, kind="stable")[1]) if len(probs) > 1 else predicted
        target = label if label is not None and label != predicted else runner_up
    data: dict[str, Any] = {
        "title": title or f"{type(model).__name__} explorer",
        "classes": classes, "probs": [float(p) for p in probs], "predicted": predicted,
        "label": None if label is None else int(label), "chosen": int(target),
        "input": {"shape": list(x.shape[1:]), "mean": _floats(mean), "std": _floats(std)},
        "history": _history(history), "confusion": _confusion(confusion, len(classes)),
    }
    data.update(layers=layers, notes=notes,
                heat=_heat(model, x, probs, int(target), layers, arrays))
    data["arrays"] = {k: _encode(*a) for k, a in arrays.items()}
    text = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    return _template().replace(_PLACEHOLDER, text, 1)


def page_data(html: str) -> dict:
    """The data embedded in an explorer page (the str :func:`build_explorer` returns), with each
    entry of ``"arrays"`` decoded to a dict of ``"shape"`` (the full shape: (C, H, W), (F,) ...),
    ``"channels"`` (the channel indices kept, None for all) and ``"data"`` (a float32 ndarray of
    the kept channels). Raises ValueError for a str without the page's data."""
    match = _DATA_SCRIPT.search(html)
    if match is None:
        raise ValueError("page_data: no explorer data in this page (not written by "
                         "build_explorer)")
    data = json.loads(match.group(1))
    arrays = data["arrays"]
    for key, a in arrays.items():
        if "b64" in a:
            flat = np.frombuffer(base64.b64decode(a["b64"]), dtype="<f4")
            shape = list(a["shape"])
            if a["channels"] is not None:
                shape[0] = len(a["channels"])
            arrays[key] = {"shape": tuple(a["shape"]), "channels": a["channels"],
                           "data": flat.reshape(shape)}
    for key, a in arrays.items():  # the ReLU outputs stored as max(0, their input)
        if "relu_of" in a:
            arrays[key] = {"shape": tuple(a["shape"]), "channels": None,
                           "data": np.maximum(arrays[a["relu_of"]]["data"], np.float32(0))}
    return data


def explore_checkpoint(path: str | os.PathLike, *, image: int | None = None,
                       file: str | os.PathLike | None = None, target: int | str | None = None,
                       out: str | os.PathLike | None = None,
                       data_root: str | os.PathLike | None = None, max_mb: float = 8.0) -> str:
    """Write the explorer page of a ``minicnn train`` checkpoint (a ``.npz`` file, or a run
    directory meaning its ``best.npz``) and return the path written.

    The image: ``file`` (an image file, converted as ``minicnn predict`` does), or test image
    number ``image`` (default 0) of the checkpoint's data set (found as ``minicnn eval`` finds
    it, or in ``data_root``), whose label the page then shows. ``target``: a class index for
    Grad-CAM and saliency beside the predicted class (see :func:`build_explorer`), or its name.
    ``max_mb``: the page's size limit (see :func:`build_explorer`). The curves come
    from the run directory's ``metrics.jsonl`` (else the checkpoint's history), the confusion
    matrix from its ``results.json`` when there is one. ``out``: the page's path (default
    ``RUN/explore.html`` for a run directory, ``NAME-explore.html`` beside a checkpoint file
    ``NAME.npz``).

    Raises ConfigError (a ValueError) for both ``image`` and ``file``, an ``image`` outside the
    test set, a ``target`` that is not a class, or ``max_mb`` <= 0; FileNotFoundError for a
    missing checkpoint or image file; DatasetError for a missing or damaged test set;
    InputFileError for a file that is not a checkpoint or an image; OSError when the page
    cannot be written.
    """
    from ..data import get_dataset
    from ..data import transforms as T
    from ..training import ConfigError, load_checkpoint_model, read_images

    if image is not None and file is not None:
        raise ConfigError("give either --image N (a test image) or --file IMAGE, not both")
    if not (isinstance(max_mb, (int, float)) and max_mb > 0):
        raise ConfigError(f"--max-mb must be a positive number of MB, got {max_mb!r}")
    model, ckpt = load_checkpoint_model(path)
    info = ckpt["dataset"]
    classes = list(info["classes"])
    if isinstance(target, str) and target in classes:
        target = classes.index(target)
    if target is not None and not (isinstance(target, int) and 0 <= target < len(classes)):
        raise ConfigError(f"--class must be a class index 0..{len(classes) - 1} or one of "
                          f"{', '.join(classes)}; got {target!r}")
    label = None
    if file is not None:
        x, shown = read_images([file], info)[0], os.path.basename(file)
    else:
        transform = T.Compose([T.ToTensor(), T.Normalize(info["mean"], info["std"])])
        test_set = get_dataset(info["name"], root=data_root, train=False, transform=transform)
        index = 0 if image is None else int(image)
        if not 0 <= index < len(test_set):
            raise ConfigError(f"--image must be a test image index 0..{len(test_set) - 1} of "
                              f"{info['name']}, got {index}")
        x, label = test_set[index]
        x, label, shown = np.asarray(x), int(label), f"test image {index}"
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    history, confusion = _run_metrics(folder, ckpt, len(classes))
    html = build_explorer(model, x, classes=classes, mean=info["mean"], std=info["std"],
                          label=label, target=target, history=history, confusion=confusion,
                          title=f"{ckpt['config']['model']} on {info['name']}, {shown}",
                          max_mb=max_mb)
    if out is None:
        out = (os.path.join(path, "explore.html") if os.path.isdir(path)
               else os.path.splitext(path)[0] + "-explore.html")
    with open(out, "w", encoding="utf-8") as f:
        f.write(html)
    return os.fspath(out)


# ------------------------------------------------------------------ the forward pass


def _input(model, image):
    from ..tensor import Tensor

    a = image.detach().cpu().numpy() if isinstance(image, Tensor) else np.asarray(image)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[0] != 1:
        raise ValueError(f"build_explorer: image must be one image (C, H, W) or (1, C, H, W), "
                         f"got shape {tuple(a.shape)}")
    return viz._as_input(model, a)


class _Arrays(dict):
    """The page's arrays (key -> float32 ndarray), one per tensor value: a tensor is copied when a
    hook sees it, keyed by its identity and version, so that an in-place change made later in
    the forward pass (``out += identity``) neither alters nor hides the value a layer gave."""

    def __init__(self):
        super().__init__()
        self.keys_of = {}  # (id(tensor), version) -> key; the hooks keep the tensors alive

    def key(self, t):
        ident = (id(t), t._version)
        if ident not in self.keys_of:
            self.keys_of[ident] = f"a{len(self)}" if self else "input"
            self[self.keys_of[ident]] = t.detach().cpu().numpy()[0].astype(np.float32)
        return self.keys_of[ident]


def _trace(model, x):
    """Run ``model`` on ``x`` (eval mode, no autograd) with a hook on every module. Returns the
    arrays and, for every call of a module whose output is a map (1, C, H, W) or a vector
    (1, F), in the order the calls return (a block after its layers), a dict: ``name``,
    ``module``, ``out`` and ``inp`` (the tensors), ``data`` and ``input`` (their array keys;
    ``input`` only where the page redoes the arithmetic) and ``op`` (see :func:`_op`)."""
    from ..autograd import no_grad
    from ..nn import ModuleDict, ModuleList, Sequential
    from ..tensor import Tensor

    names = {id(m): n for n, m in model.named_modules()}
    arrays, calls = _Arrays(), []
    arrays.key(x)

    def hook(module, args, out):
        if not (isinstance(out, Tensor) and out.ndim in (2, 4) and out.shape[0] == 1) \
                or isinstance(module, (Sequential, ModuleList, ModuleDict)):
            return  # a Sequential's output is its last layer's: nothing of its own to show
        inp = args[0] if args and isinstance(args[0], Tensor) else None
        op = _op(module, inp, out)
        call = {"name": names[id(module)], "module": module, "inp": inp, "out": out,
                "data": arrays.key(out), "op": op or {"kind": "block" if module._modules
                                                      else "other"}}
        if op is not None:
            call["input"] = arrays.key(inp)
        calls.append(call)

    handles = [m.register_forward_hook(hook) for n, m in model.named_modules() if n]
    try:
        with viz._eval(model), no_grad():
            logits = model(x)
    finally:
        for h in handles:
            h.remove()
    return arrays, calls, logits


def _layers(model, x, max_mb):
    """The page's layer entries, its arrays (key -> (array, kept channels or None)), notes on
    what the size limit left out, and the logits."""
    from .receptive_field import receptive_field

    arrays, calls, logits = _trace(model, x)
    notes = []
    try:
        rf_maps = receptive_field(model, tuple(x.shape[1:])).maps
    except ValueError as e:  # a model the recurrence does not describe: no boxes, the rest stands
        rf_maps = {}
        notes.append(f"No receptive fields: {e}")
    seen: dict[str, int] = {}
    for e in calls:
        seen[e["name"]] = seen.get(e["name"], 0) + 1
        e.update(call=seen[e["name"]], type=type(e["module"]).__name__,
                 block=bool(e["module"]._modules),
                 id=e["name"] if seen[e["name"]] == 1 else f"{e['name']}#{seen[e['name']]}")
    _geometry(calls, x, rf_maps)
    ids = {e["name"] for e in calls if e["block"] and e["call"] == 1}
    for e in calls:  # the innermost block around a layer, by name
        parts = e["name"].split(".")
        e["parent"] = next((".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)
                            if ".".join(parts[:i]) in ids), None)
    has_children = {e["parent"] for e in calls}
    for e in calls:
        e["block"] = e["block"] and e["id"] in has_children
    kept, filters, channels = _fit(calls, arrays, max_mb)
    notes += _size_notes(calls, arrays, filters, channels, max_mb)
    layers = []
    for e in calls:
        a = arrays[e["data"]]
        channels = kept.get(e["data"])
        shown = a if channels is None else a[channels]
        lo, hi = (float(np.nanmin(shown)), float(np.nanmax(shown))) if shown.size else (0.0, 0.0)
        entry = {k: e[k] for k in ("id", "name", "call", "type", "block", "parent", "data",
                                   "input", "op", "rf") if k in e}
        entry.update(shape=list(a.shape), lo=_num(lo), hi=_num(hi))
        if a.ndim == 3:
            order = np.argsort(-np.nan_to_num(a.mean(axis=(1, 2)), nan=-np.inf), kind="stable")
            keep = set(range(a.shape[0]) if channels is None else channels)
            entry["order"] = [int(c) for c in order if c in keep]
        if e["op"]["kind"] in ("conv", "linear"):
            entry["op"] = _weights(e["op"], e["module"], entry, arrays, filters)
        layers.append(entry)
    derived = _derived(layers, arrays, kept)
    return ({k: (a, kept.get(k), derived.get(k)) for k, a in arrays.items()}, layers, notes,
            logits)


def _derived(layers, arrays, kept):
    """The ReLU outputs the page computes from their input (max(0, x) is exact in float32),
    so they need no space: output key -> input key."""
    derived = {}
    for e in layers:
        out, inp = e["data"], e.get("input")
        if e["op"]["kind"] == "relu" and inp is not None and out not in kept \
                and inp not in kept and out != inp and inp not in derived \
                and np.array_equal(arrays[out], np.maximum(arrays[inp], 0)):
            derived[out] = inp
    return derived


def _op(module, inp, out):
    """What the page needs to redo one unit's arithmetic (weights come later, by _weights), or
    None for a layer it shows no arithmetic for."""
    from ..geometry import resolve_padding
    from ..nn import modules as m
    from ..tensor import Tensor

    if not isinstance(inp, Tensor) or inp.shape[0] != 1:
        return None
    if isinstance(module, m.Conv2d) and module.padding_mode == "zeros" and inp.ndim == 4:
        # the zeros before the first row and column ("same" may pad more after the last)
        (top, _), (left, _) = resolve_padding(module.padding, module.kernel_size,
                                              module.dilation)
        return {"kind": "conv", "stride": list(module.stride), "pad": [top, left],
                "dil": list(module.dilation), "groups": int(module.groups)}
    if isinstance(module, m.Linear) and inp.ndim == 2:
        return {"kind": "linear"}
    if isinstance(module, m.BatchNorm2d) and module.running_mean is not None and inp.ndim == 4:
        return {"kind": "bn", "eps": float(module.eps),
                "mean": _floats(module.running_mean), "var": _floats(module.running_var),
                "gamma": _floats(module.weight), "beta": _floats(module.bias)}
    if isinstance(module, m.ReLU):
        return {"kind": "relu"}
    if isinstance(module, (m.MaxPool2d, m.AvgPool2d, m.AdaptiveAvgPool2d, m.AdaptiveMaxPool2d)):
        return _pool_window(module, inp, out)
    acts, _ = viz._activation_types()
    if isinstance(module, acts):
        return {"kind": "act"}
    return None


def _pool_window(module, inp, out):
    """The window of a pooling layer (adaptive ones when the input size is a multiple of the
    output size), or None."""
    from ..geometry import pool_window
    from ..nn import modules as m

    if inp.ndim != 4 or out.ndim != 4:
        return None
    kind = "maxpool" if isinstance(module, (m.MaxPool2d, m.AdaptiveMaxPool2d)) else "avgpool"
    if isinstance(module, (m.MaxPool2d, m.AvgPool2d)):
        dilation = module.dilation if isinstance(module, m.MaxPool2d) else 1
        k, s, p, d = pool_window(module.kernel_size, module.stride, module.padding, dilation,
                                 type(module).__name__)
        extra = {} if kind == "maxpool" else {
            "include_pad": bool(module.count_include_pad), "divisor": module.divisor_override}
        return {"kind": kind, "k": list(k), "stride": list(s), "pad": list(p), "dil": list(d),
                **extra}
    if isinstance(module, (m.AdaptiveAvgPool2d, m.AdaptiveMaxPool2d)):
        size_in, size_out = inp.shape[2:], out.shape[2:]
        if any(i % o for i, o in zip(size_in, size_out)):
            return None
        k = [i // o for i, o in zip(size_in, size_out)]
        return {"kind": kind, "k": k, "stride": k, "pad": [0, 0], "dil": [1, 1],
                "include_pad": True, "divisor": None}
    return None


def _geometry(layers, x, rf_maps):
    """Each map layer's receptive field, jump and start (input pixels, (h, w) pairs): its
    module's row of receptive_field's maps for a first call; for a later call (ResNet's ReLU
    after the addition), that of the block whose output it is, or of its input when the layer
    does not move or resize the map (batch norm, activations)."""
    from ..nn import Conv2d

    by_tensor = {id(x): ((1, 1), (1, 1), (0.0, 0.0))}
    for e in layers:
        if e["call"] == 1 and e["name"] in rf_maps and e["out"].ndim == 4:
            by_tensor.setdefault(id(e["out"]), rf_maps[e["name"]])
    for e in layers:
        geo = None
        if e["out"].ndim == 4:
            geo = rf_maps.get(e["name"]) if e["call"] == 1 else by_tensor.get(id(e["out"]))
            inp = e["inp"]
            if geo is None and e["op"]["kind"] in ("bn", "relu", "act", "other") \
                    and not isinstance(e["module"], Conv2d) and not e["block"] \
                    and getattr(inp, "shape", None) == e["out"].shape:
                geo = by_tensor.get(id(inp))
        if geo is not None:
            by_tensor.setdefault(id(e["out"]), geo)
        e["rf"] = None if geo is None else {"rf": [float(v) for v in geo[0]],
                                            "jump": [float(v) for v in geo[1]],
                                            "start": [float(v) for v in geo[2]]}


def _fit(layers, arrays, max_mb):
    """What the page keeps to fit in ``max_mb``: first fewer filters, then fewer map channels,
    the most active ones. Returns the channels kept per map array (key -> sorted list; absent:
    all), the number of filters kept per conv or linear layer and of channels per map (None:
    all)."""
    budget = max_mb * 1e6 * 3 / 4 / 4  # float32 in base64
    weights = [(e, e["module"].weight.shape) for e in layers
               if e["op"]["kind"] in ("conv", "linear")]

    def weight_floats(keep):
        return sum((s[0] if keep is None else min(keep, s[0])) * math.prod(s[1:])
                   for _, s in weights)

    def map_floats(keep):
        return sum(a.size if a.ndim != 3 or keep is None or a.shape[0] <= keep
                   else keep * a.shape[1] * a.shape[2] for a in arrays.values())

    # all filters and maps; fewer filters (0: none); then no filters and fewer map channels
    options = [*((f, None) for f in (*_LADDER, 0)), *((0, c) for c in _LADDER[1:])]
    filters, channels = next(((f, c) for f, c in options
                              if map_floats(c) + weight_floats(f) <= budget), (0, 1))
    kept = {}
    if channels is not None:
        for k, a in arrays.items():
            if a.ndim == 3 and a.shape[0] > channels and k != "input":
                top = np.argsort(-a.mean(axis=(1, 2)), kind="stable")[:channels]
                kept[k] = sorted(int(c) for c in top)
    return kept, filters, channels


def _size_notes(layers, arrays, filters, channels, max_mb):
    """What the size limit left out, in words."""
    notes = []
    if filters is not None:
        wide = sum(e["module"].weight.shape[0] > filters for e in layers
                   if e["op"]["kind"] in ("conv", "linear"))
        notes.append(f"The page's size limit (max_mb {max_mb:g}) keeps the weights of only the "
                     f"{filters} most active output channels of each layer ({wide} layers have "
                     "more): the arithmetic of the others is not shown.")
    if channels is not None:
        wide = sum(arrays[e["data"]].ndim == 3 and arrays[e["data"]].shape[0] > channels
                   for e in layers)
        notes.append(f"It keeps the maps of only the {channels} most active channels of each "
                     f"layer ({wide} layers have more).")
    return notes


def _weights(op, module, entry, arrays, keep):
    """Add the weights (of the ``keep`` most active output channels; None: all) and the bias of
    a conv or linear entry to ``arrays``; returns its op with their keys."""
    w = module.weight.detach().cpu().numpy().astype(np.float32)
    out = arrays[entry["data"]]
    if keep is None or keep >= w.shape[0]:
        rows = list(range(w.shape[0]))
    else:
        means = out.mean(axis=(1, 2)) if out.ndim == 3 else out
        rows = sorted(int(c) for c in np.argsort(-means, kind="stable")[:keep])
    op = dict(op, wshape=list(w.shape), rows=rows,
              wmax=_num(float(np.abs(w).max()) if w.size else 0.0))
    if rows:
        op["w"] = f"w{len(arrays)}"
        arrays[op["w"]] = w[rows]
    if module.bias is not None:
        op["b"] = f"b{len(arrays)}"
        arrays[op["b"]] = module.bias.detach().cpu().numpy().astype(np.float32)
    return op


# ------------------------------------------------------------------ Grad-CAM and saliency


def _heat(model, x, probs, target, layers, arrays):
    """Grad-CAM (x p(class)) of the last Conv2d the forward pass called and saliency for every
    class (at most _HEAT_ALL classes, else the top 10 and ``target``), each kind with its one
    scale; None for a model without a Conv2d."""
    convs = [e["name"] for e in layers if e["type"] == "Conv2d" and len(e["shape"]) == 3]
    if not convs:
        return None
    if len(probs) <= _HEAT_ALL:
        wanted = list(range(len(probs)))
    else:
        wanted = sorted({*np.argsort(-probs, kind="stable")[:10].tolist(), target})
    batch = np.repeat(x.detach().cpu().numpy(), len(wanted), axis=0)
    cams = viz.grad_cam(model, batch, convs[-1], wanted, by_probability=True)
    sal = viz.saliency(model, batch, wanted)
    arrays["gradcam"] = (np.asarray(cams, np.float32), None, None)
    arrays["saliency"] = (np.asarray(sal, np.float32), None, None)
    return {"layer": convs[-1], "classes": [int(k) for k in wanted],
            "gradcam": "gradcam", "saliency": "saliency",
            "gradcam_max": _num(float(cams.max())), "saliency_max": _num(float(sal.max()))}


# ------------------------------------------------------------------ the run's metrics


def _run_metrics(folder, ckpt, num_classes):
    """(history, confusion) of the run in ``folder``: metrics.jsonl (else the checkpoint's
    history) and results.json's confusion matrix (None without one; a warning for a damaged
    file)."""
    history = ckpt.get("history")
    if os.path.isfile(os.path.join(folder, "metrics.jsonl")):
        try:
            history = viz.read_metrics(folder)
        except (OSError, ValueError, KeyError) as e:
            warnings.warn(f"{folder}/metrics.jsonl: cannot read it ({e}); the page shows the "
                          "checkpoint's history", stacklevel=3)
    confusion = None
    results = os.path.join(folder, "results.json")
    if os.path.isfile(results):
        try:
            with open(results) as f:
                confusion = json.load(f).get("confusion_matrix")
            _confusion(confusion, num_classes)
        except (OSError, ValueError, AttributeError) as e:
            warnings.warn(f"{results}: no usable confusion matrix ({e}); the page shows none",
                          stacklevel=3)
            confusion = None
    return history, confusion


def _history(history):
    if not history:
        return []
    keys = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
    return [{k: _num(row.get(k)) for k in keys} for row in history]


def _confusion(confusion, num_classes):
    if confusion is None:
        return None
    cm = np.asarray(confusion)
    if cm.shape != (num_classes, num_classes) or not np.issubdtype(cm.dtype, np.number):
        raise ValueError(f"confusion: expected a ({num_classes}, {num_classes}) matrix of counts, "
                         f"got shape {cm.shape}")
    return [[int(v) for v in row] for row in cm]


# ------------------------------------------------------------------ encoding


def _classes(classes, n):
    if classes is None:
        return [str(k) for k in range(n)]
    classes = [str(c) for c in classes]
    if len(classes) != n:
        raise ValueError(f"build_explorer: classes: the model has {n} outputs, got "
                         f"{len(classes)} class names")
    return classes


def _floats(values):
    if values is None:
        return None
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return [_num(float(v)) for v in np.ravel(np.asarray(values, dtype=np.float64))]


def _num(v):
    """A finite float, or None (JSON has no NaN or infinity)."""
    return float(v) if v is not None and math.isfinite(v) else None


def _encode(a, channels, relu_of):
    """An array as JSON: its full shape, the channels kept (None: all) and base64 float32, or
    ``relu_of``: the key of the array whose max(0, x) it is."""
    if relu_of is not None:
        return {"shape": list(a.shape), "channels": None, "relu_of": relu_of}
    kept = a if channels is None else a[channels]
    raw = np.ascontiguousarray(kept, dtype="<f4").tobytes()
    return {"shape": list(a.shape), "channels": channels,
            "b64": base64.b64encode(raw).decode("ascii")}


def _template():
    return resources.files(__package__).joinpath("explore_page.html").read_text("utf-8")
