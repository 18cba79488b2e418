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

__all__ = ["feature_maps", "saliency", "grad_cam", "softmax", "plot_filters", "plot_feature_maps",
           "plot_heatmap", "plot_curves", "read_metrics"]


# ------------------------------------------------------------------ the numbers


def feature_maps(model, x, layer=None, activation=True, return_layer=False):
    """The feature maps of ``model``'s module named ``layer`` (a dotted name from
    ``named_modules()``; default: the first Conv2d) when ``model`` runs on ``x``.

    With ``activation`` (the default) and a Conv2d layer, the maps are taken after the layer's
    activation: the first activation module (ReLU, GELU, ...) that the forward pass calls right
    after the conv, past any normalization or dropout in between (conv -> BN -> ReLU gives the
    ReLU's output). A conv followed by no activation module (one applied with
    ``F.relu`` in ``forward``, or none) gives its own output. ``activation=False`` always gives
    the layer's own output.

    ``x``: a Tensor or array (N, C, H, W) of the model's dtype. The model runs in eval mode
    (restored afterwards) without autograd. Returns an ndarray, usually (N, C', H', W'), or
    ``(maps, name)`` with ``return_layer``: ``name`` the module whose output the maps are.
    Raises ValueError for an unknown ``layer`` or one the forward pass does not call.
    """
    from ..autograd import no_grad
    from ..nn import Conv2d

    module = _layer(model, layer, first=True)
    follow = activation and isinstance(module, Conv2d)
    with _Trace(model, module, follow) as trace, _eval(model), no_grad():
        model(_as_input(model, x))
    source, output = trace.result()
    if return_layer:
        names = {id(m): n for n, m in model.named_modules()}
        return output.numpy(), names[id(source)]
    return output.numpy()


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


def grad_cam(model, x, layer=None, target=None, by_probability=False):
    """Grad-CAM of the module named ``layer`` (default: the last Conv2d) -> (N, H', W'), the
    size of that layer's output: ReLU(sum_k alpha_k A_k) with A the layer's output (N, K, H',
    W') and alpha_k the mean over (H', W') of d logits[n, target[n]] / d A_k (Selvaraju et al.
    2017, "Grad-CAM", eq. 1-2).

    The scale: in logit units, not normalized (for a head of global average pooling and a
    linear layer, the sum of the map over its H' x W' positions, before the ReLU, is the
    class's logit less its bias), so
    maps of several classes or images are comparable on one colour scale. A class's logit
    gradient does not shrink with its probability, so a class the model rules out can still
    get a hot map; ``by_probability=True`` multiplies each map by the softmax probability of
    its class, so that a class with probability ~0 gets a map ~0 (cold on a shared scale) and
    the predicted class keeps most of its map.

    ``target``: as for :func:`saliency`. :func:`plot_heatmap` stretches the map over the image.
    Raises ValueError for an unknown layer, a layer whose output is not 4-D, or a bad target.
    """
    module = _layer(model, layer, first=False)
    x = _as_input(model, x).detach().requires_grad_()  # so the layer's output has a gradient
    with _Capture(module, retain_grad=True) as capture, _eval(model), _frozen(model):
        logits = model(x)
        one_hot = _one_hot(logits, target)
        logits.backward(one_hot)
    a = capture.output.detach().numpy()
    if a.ndim != 4:
        raise ValueError(f"grad_cam: layer {layer!r} gives a {a.ndim}-D output {tuple(a.shape)}; "
                         "choose a convolutional layer (N, C, H, W)")
    g = capture.output.grad.numpy()
    weights = g.mean(axis=(2, 3), keepdims=True)  # alpha_k, eq. 1
    cam = np.maximum((weights * a).sum(axis=1), 0)  # eq. 2
    if by_probability:
        p = (softmax(logits.detach().numpy()) * one_hot).sum(axis=1)
        cam = cam * p[:, None, None].astype(cam.dtype)
    return cam


def softmax(logits):
    """Softmax over the last axis of an array of logits (N, classes), computed stably (the max
    subtracted first). Returns float64 probabilities of the same shape."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


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


def _activation_types():
    from ..nn import modules as m

    acts = tuple(getattr(m, n) for n in (
        "ReLU", "ReLU6", "LeakyReLU", "Hardtanh", "GELU", "SiLU", "Sigmoid", "Tanh",
        "Hardswish", "Hardsigmoid") if hasattr(m, n))
    passive = tuple(getattr(m, n) for n in (
        "BatchNorm1d", "BatchNorm2d", "GroupNorm", "LayerNorm", "InstanceNorm2d", "Dropout",
        "Dropout2d", "Identity") if hasattr(m, n))
    return acts, passive


class _Trace:
    """Forward hooks on every leaf module (and ``module``) during a ``with``: the outputs in
    the order of the calls, to find the activation that follows ``module``'s first call."""

    def __init__(self, model, module, follow):
        self.module, self.follow, self.calls = module, follow, []
        self.watch = {id(m): m for _, m in model.named_modules() if not m._modules}
        self.watch[id(module)] = module

    def __enter__(self):
        self.handles = [m.register_forward_hook(
            lambda mod, args, out: self.calls.append((mod, out))) for m in self.watch.values()]
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()

    def result(self):
        """(module, output): ``module``'s first output, or that of the activation after it."""
        start = next((i for i, (m, _) in enumerate(self.calls) if m is self.module), None)
        if start is None:
            raise ValueError(f"layer: the forward pass never called {type(self.module).__name__}")
        if self.follow:
            acts, passive = _activation_types()
            for m, out in self.calls[start + 1:]:
                if isinstance(m, acts):
                    return m, out
                if not isinstance(m, passive):
                    break
        return self.calls[start]


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
    fig.savefig(os.fspath(path), dpi=100)


def plot_filters(model, path, layer=None, title=None, max_tiles=256):
    """Draw the weights of a Conv2d (the module named ``layer`` of ``model``; default its first
    Conv2d) into ``path`` (PNG): one tile per (filter, input channel), at most ``max_tiles``.

    All tiles share one colour scale, symmetric about 0 (from -m to m, m the largest |weight|
    of the layer) on a diverging colour map (red positive, blue negative, white 0), with one
    colour bar: a filter's sign pattern and its size relative to the others stay visible.
    ``model`` may also be a weight Tensor/array (K, C, kh, kw). Returns the matplotlib Figure
    (already saved). Raises ValueError for a weight that is not 4-D, ImportError without
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
    m = float(np.abs(w).max()) or 1.0  # the layer's largest |w|; all-zero weights: any scale
    tiles = w.reshape(-1, *w.shape[2:])[:max_tiles]
    fig = _figure(figsize=(6, 6))
    axes = _grid(fig, len(tiles), title)
    for ax, tile in zip(axes, tiles):
        im = ax.imshow(tile, cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
    fig.colorbar(im, ax=list(axes), shrink=0.6, label="weight")
    _save(fig, path)
    return fig


def plot_feature_maps(maps, path, max_maps=64, title=None):
    """Draw the channels of one image's feature maps ``maps`` (C, H, W) (for example
    ``feature_maps(model, x, "features.0")[0]``, after the conv's ReLU) as a grid into
    ``path``: the first ``max_maps`` channels, each labelled "ch k", on one colour scale shared
    by the layer with a colour bar, so a weak channel looks weak. Non-negative maps (after a
    ReLU) use a sequential map from 0 to their max; maps with negative values a diverging map
    symmetric about 0. Returns the matplotlib Figure (already saved). Raises ValueError for
    maps that are not 3-D."""
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"plot_feature_maps: expected maps (C, H, W) of one image, got shape "
                         f"{tuple(maps.shape)}")
    maps = maps[:max_maps]
    hi = float(np.abs(maps).max()) or 1.0
    lo, cmap = (0.0, "viridis") if maps.min() >= 0 else (-hi, "RdBu_r")
    fig = _figure(figsize=(8, 8))
    axes = _grid(fig, len(maps), title)
    for k, (ax, m) in enumerate(zip(axes, maps)):
        im = ax.imshow(m, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(f"ch {k}", fontsize=8)
    fig.colorbar(im, ax=list(axes), shrink=0.6, label="activation")
    _save(fig, path)
    return fig


def plot_heatmap(image, heatmap, path, title=None, titles=None, vmax=None):
    """Draw ``image`` (C, H, W) and, beside it, each heatmap over it into ``path``.

    ``heatmap``: one map (h, w) or several (P, h, w) of the same image (saliency maps or
    Grad-CAMs, non-negative), for example of the predicted class and of another class;
    ``titles``: one panel title each (e.g. the class and its probability). The maps share one
    absolute colour scale from 0 to ``vmax`` (default: the largest value of all of them), with
    a colour bar, rather than each stretched to its own max: a map with small values looks
    cold. A coarser heatmap is stretched over the whole image with bilinear interpolation.
    Returns the matplotlib Figure (already saved). Raises ValueError for bad shapes or a
    wrong number of titles.
    """
    image, heatmap = np.asarray(image), np.asarray(heatmap)
    heatmaps = heatmap[None] if heatmap.ndim == 2 else heatmap
    if image.ndim != 3 or heatmaps.ndim != 3:
        raise ValueError(f"plot_heatmap: expected image (C, H, W) and heatmap (h, w) or "
                         f"(P, h, w), got shapes {tuple(image.shape)} and {tuple(heatmap.shape)}")
    if titles is not None and len(titles) != len(heatmaps):
        raise ValueError(f"plot_heatmap: titles: expected one per heatmap ({len(heatmaps)}), "
                         f"got {len(titles)}")
    vmax = float(heatmaps.max()) if vmax is None else float(vmax)
    vmax = vmax if vmax > 0 else 1.0  # all-zero maps: draw them cold
    picture = _unit(image.transpose(1, 2, 0)) if image.shape[0] == 3 else _unit(image[0])
    H, W = picture.shape[:2]
    fig = _figure(figsize=(4 * (len(heatmaps) + 1), 4))
    axes = np.atleast_1d(fig.subplots(1, len(heatmaps) + 1))
    for ax in axes:
        ax.imshow(picture, cmap="gray", interpolation="nearest")
        ax.set_axis_off()
    axes[0].set_title("input")
    for i, (ax, h) in enumerate(zip(axes[1:], heatmaps)):
        im = ax.imshow(h, cmap="jet", alpha=0.5, vmin=0, vmax=vmax, interpolation="bilinear",
                       extent=(-0.5, W - 0.5, H - 0.5, -0.5))
        if titles is not None:
            ax.set_title(titles[i])
    fig.colorbar(im, ax=list(axes[1:]), shrink=0.8)
    if title:
        fig.suptitle(title)
    _save(fig, path)
    return fig


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
    :func:`read_metrics` reads. The epoch axis has integer ticks. Returns the matplotlib Figure
    (already saved). Raises ValueError for an empty history.
    """
    if isinstance(history, (str, os.PathLike)):
        history = read_metrics(history)
    if not history:
        raise ValueError("plot_curves: the history has no epochs yet")
    fig = _figure(figsize=(10, 4))
    from matplotlib.ticker import MaxNLocator
    epochs = [r["epoch"] for r in history]
    for ax, what in zip(fig.subplots(1, 2), ("loss", "acc")):
        for split in ("train", "val", "test"):
            values = [r.get(f"{split}_{what}") for r in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], "o-", label=split)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.5
        ax.set_ylabel("accuracy" if what == "acc" else "loss")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    _save(fig, path)
    return fig
