"""Looking inside a CNN: feature maps, saliency maps, Grad-CAM, and pictures of them.

The numbers: :func:`feature_maps` (a layer's output), :func:`saliency` (Simonyan, Vedaldi &
Zisserman 2014, "Deep inside convolutional networks", sec. 3: the largest |d score / d pixel|
over the colour channels) and :func:`grad_cam` (Selvaraju et al. 2017, "Grad-CAM", eq. 1-2:
ReLU of the layer's channels weighted by their spatially averaged gradients).

The pictures (PNG files, drawn with matplotlib's object API and its Agg renderer: no pyplot,
no global state, no display needed; matplotlib is the ``train`` extra, imported only to
draw): :func:`plot_filters`, :func:`plot_feature_maps`, :func:`plot_heatmap` (a saliency map
or Grad-CAM over its image) and :func:`plot_curves` (the training curves of a run).
``minicnn viz`` draws them from a checkpoint.
"""
import csv
import json
import math
import os

import numpy as np

__all__ = ["feature_maps", "saliency", "grad_cam", "plot_filters", "plot_feature_maps",
           "plot_heatmap", "plot_curves", "read_metrics"]


# ------------------------------------------------------------------ the numbers


def feature_maps(model, x, layer=None):
    """The output of ``model``'s module named ``layer`` (a dotted name from
    ``named_modules()``; default: the first Conv2d) when ``model`` runs on ``x``.

    ``x``: a Tensor or array (N, C, H, W) of the model's dtype. The model runs in eval mode
    (restored afterwards) without autograd. Returns an ndarray, usually (N, C', H', W').
    Raises ValueError for an unknown ``layer`` or one the forward pass does not call.
    """
    from ..autograd import no_grad

    module = _layer(model, layer, first=True)
    with _Capture(module) as capture, _eval(model), no_grad():
        model(_as_input(model, x))
    return capture.output.numpy()


def saliency(model, x, target=None):
    """Saliency maps: max over channels of |d logits[n, target[n]] / d x[n]| -> (N, H, W).

    ``x``: a Tensor or array (N, C, H, W); ``target``: a class index, one per image, or None
    (each image's top class). The model runs in eval mode; its parameters' ``.grad`` are left
    untouched. Raises ValueError for a target outside [0, classes) or of the wrong length.
    """
    x = _as_input(model, x).detach().requires_grad_()
    with _eval(model), _frozen(model):
        logits = model(x)
        logits.backward(_one_hot(logits, target))
    return np.abs(x.grad.numpy()).max(axis=1)


def grad_cam(model, x, layer=None, target=None):
    """Grad-CAM of the module named ``layer`` (default: the last Conv2d) -> (N, H', W'), the
    size of that layer's output: ReLU(sum_k alpha_k A_k) with A the layer's output (N, K, H',
    W') and alpha_k the mean over (H', W') of d logits[n, target[n]] / d A_k.

    ``target``: as for :func:`saliency`. Not normalized (divide by the max to draw it);
    :func:`plot_heatmap` stretches it over the image. Raises ValueError for an unknown layer, a
    layer whose output is not 4-D, or a bad target.
    """
    module = _layer(model, layer, first=False)
    x = _as_input(model, x).detach().requires_grad_()  # so the layer's output has a gradient
    with _Capture(module, retain_grad=True) as capture, _eval(model), _frozen(model):
        logits = model(x)
        logits.backward(_one_hot(logits, target))
    a = capture.output.detach().numpy()
    if a.ndim != 4:
        raise ValueError(f"grad_cam: layer {layer!r} gives a {a.ndim}-D output {tuple(a.shape)}; "
                         "choose a convolutional layer (N, C, H, W)")
    g = capture.output.grad.numpy()
    weights = g.mean(axis=(2, 3), keepdims=True)  # alpha_k, eq. 1
    return np.maximum((weights * a).sum(axis=1), 0)  # eq. 2


def _as_input(model, x):
    from ..creation import as_tensor
    from ..tensor import Tensor

    params = list(model.parameters())
    if not isinstance(x, Tensor):
        x = as_tensor(np.asarray(x, dtype=params[0].dtype if params else np.float32))
    if params and x.device != params[0].device:
        x = x.to(params[0].device)
    if x.ndim != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W), got shape {tuple(x.shape)}")
    return x


def _layer(model, name, first):
    """The module called ``name``, or the first (last) Conv2d when ``name`` is None."""
    from ..nn import Conv2d, Module

    if not isinstance(model, Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if name is None:
        convs = [m for _, m in model.named_modules() if isinstance(m, Conv2d)]
        if not convs:
            raise ValueError("layer: the model has no Conv2d; name a layer")
        return convs[0] if first else convs[-1]
    try:
        return model.get_submodule(name)
    except AttributeError as e:
        names = [n for n, m in model.named_modules() if n and not m._modules]
        raise ValueError(f"layer: no module named {name!r} ({e}); the layers are "
                         f"{', '.join(names)}") from None


def _one_hot(logits, target):
    n, classes = logits.shape
    if target is None:
        target = logits.detach().numpy().argmax(axis=1)
    target = np.broadcast_to(np.asarray(target, dtype=np.int64), (n,)) \
        if np.ndim(target) == 0 else np.asarray(target, dtype=np.int64)
    if target.shape != (n,):
        raise ValueError(f"target: expected one class per image ({n}), got {target.shape[0]}")
    if target.min() < 0 or target.max() >= classes:
        raise ValueError(f"target: classes are 0 .. {classes - 1}, got {target.tolist()}")
    grad = np.zeros(logits.shape, dtype=logits.dtype)
    grad[np.arange(n), target] = 1
    return grad


class _Capture:
    """A forward hook that keeps the output of a module's first call during a ``with``."""

    def __init__(self, module, retain_grad=False):
        self.module, self.retain, self.output = module, retain_grad, None

    def hook(self, module, args, output):
        if self.output is None:
            if self.retain:
                output.retain_grad()
            self.output = output

    def __enter__(self):
        self.handle = self.module.register_forward_hook(self.hook)
        return self

    def __exit__(self, *exc):
        self.handle.remove()
        if exc[0] is None and self.output is None:
            raise ValueError(f"layer: the forward pass never called {type(self.module).__name__}")


class _eval:
    """Eval mode for a ``with`` block, then the previous mode."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was_training)


class _frozen:
    """No gradients for the parameters during a ``with`` block, so their ``.grad`` stays."""

    def __init__(self, model):
        self.params = [p for p in model.parameters() if p.requires_grad]

    def __enter__(self):
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc):
        for p in self.params:
            p.requires_grad_(True)


# ------------------------------------------------------------------ the pictures


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("drawing needs matplotlib: pip install matplotlib "
                          "(or pip install minicnn[train])") from None
    return Figure(layout="constrained", **kwargs)


def _unit(a):
    """Scale to [0, 1] (a constant array becomes 0.5)."""
    a = np.asarray(a, dtype=np.float64)
    lo, hi = a.min(), a.max()
    return np.full_like(a, 0.5) if hi == lo else (a - lo) / (hi - lo)


def _grid(fig, count, title):
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return axes


def _save(fig, path):
    path = os.fspath(path)
    fig.savefig(path, dpi=100)
    return path


def plot_filters(model, path, layer=None, title=None):
    """Draw the weights of a Conv2d (the module named ``layer`` of ``model``; default its first
    Conv2d) as a grid of images into ``path`` (PNG), each filter scaled to [0, 1] on its own.

    ``model`` may also be a weight Tensor/array (K, C, kh, kw). With C = 3 a filter is one RGB
    tile, with C = 1 one grey tile; otherwise each (filter, input channel) gets a grey tile.
    Returns ``path``. Raises ValueError for a weight that is not 4-D, ImportError without
    matplotlib.
    """
    from ..nn import Module

    if isinstance(model, Module):
        module = _layer(model, layer, first=True)
        w = getattr(module, "weight", None)
        if w is None or w.ndim != 4:
            raise ValueError(f"plot_filters: layer {layer!r} is a {type(module).__name__}, not "
                             "a convolution with a weight (K, C, kh, kw)")
        title = title or f"{layer or 'first conv'}: {tuple(w.shape)}"
    else:
        w = model
    w = np.asarray(w.detach().numpy() if hasattr(w, "detach") else w)
    if w.ndim != 4:
        raise ValueError(f"plot_filters: expected a conv weight (K, C, kh, kw), got shape "
                         f"{tuple(w.shape)}")
    if w.shape[1] == 3:
        tiles = [_unit(f).transpose(1, 2, 0) for f in w]  # (kh, kw, 3) RGB
    else:
        tiles = [_unit(f) for f in w.reshape(-1, *w.shape[2:])]
    fig = _figure(figsize=(6, 6))
    for ax, tile in zip(_grid(fig, len(tiles), title), tiles):
        ax.imshow(tile, cmap="gray", interpolation="nearest")
    return _save(fig, path)


def plot_feature_maps(maps, path, max_maps=64, title=None):
    """Draw the channels of one image's feature maps ``maps`` (C, H, W) (for example
    ``feature_maps(model, x, "features.0")[0]``) as a grid of images into ``path``: the first
    ``max_maps`` channels, each scaled on its own. Returns ``path``."""
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"plot_feature_maps: expected maps (C, H, W) of one image, got shape "
                         f"{tuple(maps.shape)}")
    maps = maps[:max_maps]
    fig = _figure(figsize=(8, 8))
    for ax, m in zip(_grid(fig, len(maps), title), maps):
        ax.imshow(_unit(m), cmap="viridis", interpolation="nearest")
    return _save(fig, path)


def plot_heatmap(image, heatmap, path, title=None):
    """Draw ``image`` (C, H, W), and ``heatmap`` (h, w) (a saliency map or a Grad-CAM, scaled
    to [0, 1]) over it, side by side, into ``path``. A coarser heatmap is stretched over the
    whole image with bilinear interpolation. Returns ``path``."""
    image, heatmap = np.asarray(image), np.asarray(heatmap)
    if image.ndim != 3 or heatmap.ndim != 2:
        raise ValueError(f"plot_heatmap: expected image (C, H, W) and heatmap (h, w), got "
                         f"shapes {tuple(image.shape)} and {tuple(heatmap.shape)}")
    picture = _unit(image.transpose(1, 2, 0)) if image.shape[0] == 3 else _unit(image[0])
    H, W = picture.shape[:2]
    fig = _figure(figsize=(8, 4))
    left, right = fig.subplots(1, 2)
    for ax in (left, right):
        ax.imshow(picture, cmap="gray", interpolation="nearest")
        ax.set_axis_off()
    right.imshow(_unit(heatmap), cmap="jet", alpha=0.5, interpolation="bilinear",
                 extent=(-0.5, W - 0.5, H - 0.5, -0.5))
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def read_metrics(path):
    """The epoch rows of a run: ``path`` is a run directory, its ``metrics.jsonl`` or its
    ``metrics.csv`` (docs/05-training-recipes.md, "The run directory"). Returns a list of dicts
    (numbers as floats, ``epoch`` as int, empty cells as None). Raises FileNotFoundError."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.jsonl")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no metrics file {path}")
    with open(path, newline="") as f:
        if path.endswith(".csv"):
            rows = [{k: None if v == "" else float(v) for k, v in row.items()}
                    for row in csv.DictReader(f)]
        else:
            rows = [json.loads(line) for line in f if line.strip()]
    for row in rows:
        row["epoch"] = int(row["epoch"])
    return rows


def plot_curves(history, path, title=None):
    """Loss and accuracy per epoch (train, val and test where present) into ``path``.

    ``history``: the epoch rows (dicts with ``epoch``, ``train_loss``, ``train_acc``,
    ``val_loss``, ... as in metrics.jsonl, or a checkpoint's ``"history"``), or a path that
    :func:`read_metrics` reads. Returns ``path``. Raises ValueError for an empty history.
    """
    if isinstance(history, (str, os.PathLike)):
        history = read_metrics(history)
    if not history:
        raise ValueError("plot_curves: the history has no epochs yet")
    fig = _figure(figsize=(10, 4))
    epochs = [r["epoch"] for r in history]
    for ax, what in zip(fig.subplots(1, 2), ("loss", "acc")):
        for split in ("train", "val", "test"):
            values = [r.get(f"{split}_{what}") for r in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], "o-", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy" if what == "acc" else "loss")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)
