"""Image transforms with torchvision's names, vectorized over a batch.

Every transform is a callable that takes one image or a whole batch:

- after :class:`ToTensor`: float32 ``(C, H, W)`` or ``(N, C, H, W)`` (torchvision's tensor layout);
- before it, every transform but :class:`Normalize` also takes the uint8 arrays a data set
  stores: ``(H, W)``, ``(H, W, C)``, ``(N, H, W)`` or ``(N, H, W, C)``; a 3-D uint8 array is one
  ``(H, W, C)`` image when its last axis is 1, 3 or 4, else a ``(N, H, W)`` batch. The output
  keeps the input's layout and dtype. uint8 results follow torchvision's tensor functions on
  uint8: blends (brightness, contrast, saturation, sharpness) computed in float32 and truncated,
  resampling (resize, affine, blur) rounded half to even.
- :class:`AutoAugment`, :class:`RandAugment` and :class:`TrivialAugmentWide` take only uint8, as
  torchvision requires, so they go before ToTensor.

Tolerances against torchvision's tensor path (checked in tests/test_transforms_torchvision.py):
crops, flips, nearest resizing, the colour ops on uint8 and every AutoAugment op with nearest
resampling are exact; bilinear resizing, blur and affine agree to ~1e-5 on float images in
[0, 1] and within 1 on uint8 (float32 summation order moves a few values across .5); the hue
shift on uint8 within 1.

Random transforms draw parameters per sample (each image of a batch gets its own crop, flip,
angle, ...) in a few array operations rather than a Python loop over the batch. Their random
numbers come from, in order: the ``generator=`` (a ``numpy.random.Generator``) given to the
transform; the generator a :class:`~minicnn.data.DataLoader` sets for the batch it is loading
(see :func:`use_generator`), which makes augmentation reproducible from the loader's seed even
with worker threads; or minicnn's default generator, so ``minicnn.manual_seed`` governs them.

:class:`Mixup` and :class:`CutMix` work on a collated batch and its labels:
``(images, labels) -> (images, soft_labels)``.
"""
import math
import numbers

import numpy as np

from .. import random as _random
from ..random import use_generator

__all__ = ["Compose", "ToTensor", "Normalize", "Resize", "CenterCrop", "RandomCrop",
           "RandomResizedCrop", "RandomHorizontalFlip", "RandomRotation", "RandomAffine",
           "GaussianBlur", "ColorJitter", "RandomGrayscale", "RandomErasing", "AutoAugment",
           "RandAugment", "TrivialAugmentWide", "Mixup", "CutMix", "use_generator"]

def _check_generator(generator, owner):
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"{owner}: generator must be a numpy.random.Generator or None, "
                        f"got {type(generator).__name__}")
    return generator


class Transform:
    """Base class: ``batched`` tells a data set that the transform takes a whole batch at once."""

    batched = True

    def __init__(self, generator=None):
        self.generator = _check_generator(generator, type(self).__name__)

    def _rng(self):
        if self.generator is not None:
            return self.generator
        return _random.thread_generator()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "generator")
        return f"{type(self).__name__}({args})"


# ---------------------------------------------------------------- layouts


def _is_single(x):
    """True for one image, False for a batch (see the module docstring for the layouts)."""
    if x.dtype == np.uint8:
        return x.ndim == 2 or (x.ndim == 3 and x.shape[-1] in (1, 3, 4))
    return x.ndim == 3


def _as_nchw(x, name, allow_uint8=True):
    """An (N, C, H, W) view of ``x`` and a function that puts a result back in x's layout."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(x).__name__}")
    if np.issubdtype(x.dtype, np.floating):
        if x.ndim == 3:
            return x[None], lambda y: y[0]
        if x.ndim == 4:
            return x, lambda y: y
        raise ValueError(f"{name}: expected a float image (C, H, W) or batch (N, C, H, W), "
                         f"got shape {tuple(x.shape)}")
    if x.dtype != np.uint8:
        raise TypeError(f"{name}: expected a float32 or uint8 array, got dtype {x.dtype}")
    if not allow_uint8:
        raise TypeError(f"{name}: expected a float image (C, H, W) or batch (N, C, H, W) in "
                        f"[0, 1]; got a uint8 array of shape {tuple(x.shape)}: apply ToTensor() "
                        "first")
    if x.ndim == 2:
        return x[None, None], lambda y: y[0, 0]
    if x.ndim == 3 and _is_single(x):
        return x.transpose(2, 0, 1)[None], lambda y: y[0].transpose(1, 2, 0)
    if x.ndim == 3:
        return x[:, None], lambda y: y[:, 0]
    if x.ndim == 4:
        return x.transpose(0, 3, 1, 2), lambda y: y.transpose(0, 2, 3, 1)
    raise ValueError(f"{name}: expected a uint8 image (H, W) or (H, W, C) or a batch (N, H, W) or "
                     f"(N, H, W, C), got shape {tuple(x.shape)}")


def _pair(value, name, what):
    if isinstance(value, numbers.Number):
        return int(value), int(value)
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {what} must be an int or a pair (h, w), got {value!r}") from None
    return int(a), int(b)


def _per_channel(value, channels, name, what, dtype):
    """A scalar or per-channel sequence as an array broadcastable against (N, C, H, W)."""
    v = np.asarray(value, dtype=np.float64).reshape(-1)
    if v.size not in (1, channels):
        raise ValueError(f"{name}: {what} has {v.size} values for images with {channels} channels")
    return v.astype(dtype).reshape(1, -1, 1, 1)


# ---------------------------------------------------------------- deterministic


class Compose:
    """Apply ``transforms`` in order (``torchvision.transforms.Compose``).

    ``batched`` is True when every member takes batches, so a data set can transform a whole batch
    in one call; otherwise it calls the composition once per image.
    """

    def __init__(self, transforms):
        transforms = list(transforms)
        for t in transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got {t!r}")
        self.transforms = transforms

    @property
    def batched(self):
        return all(getattr(t, "batched", False) for t in self.transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({inner}\n)"


class ToTensor(Transform):
    """uint8 ``(H, W)``/``(H, W, C)`` -> float32 ``(C, H, W)`` in [0, 1], and batches
    ``(N, H, W)``/``(N, H, W, C)`` -> ``(N, C, H, W)``. Anything ``np.asarray`` takes (a PIL
    image) is accepted; a floating array is only converted to float32 and moved to channels-first
    (not scaled), as torchvision does. Raises TypeError for other dtypes."""

    def __init__(self):
        super().__init__()

    def __call__(self, x):
        x = np.asarray(x)
        if np.issubdtype(x.dtype, np.floating):
            if x.ndim == 2:
                x = x[:, :, None]
            if x.ndim not in (3, 4):
                raise ValueError(f"ToTensor: expected a float image (H, W) or (H, W, C) or a "
                                 f"batch (N, H, W, C), got shape {tuple(x.shape)}")
            axes = (2, 0, 1) if x.ndim == 3 else (0, 3, 1, 2)
            return np.ascontiguousarray(x.transpose(axes), dtype=np.float32)
        if x.dtype != np.uint8:
            raise TypeError(f"ToTensor: expected a uint8 or float array, got dtype {x.dtype}")
        x4, _ = _as_nchw(x, "ToTensor")
        out = np.empty(x4.shape, np.float32)  # C-contiguous NCHW whatever the input's strides
        np.divide(x4, np.float32(255), out=out)  # as torchvision (x / 255): the same bits
        return out[0] if _is_single(x) else out


class Normalize(Transform):
    """``(x - mean) / std`` per channel on float images ``(C, H, W)`` or batches
    ``(N, C, H, W)`` (torchvision.transforms.Normalize). ``mean``, ``std``: one value or one per
    channel. Raises ValueError for a zero std or a channel-count mismatch."""

    def __init__(self, mean, std, inplace=False):
        super().__init__()
        self.mean = tuple(float(m) for m in np.atleast_1d(mean))
        self.std = tuple(float(s) for s in np.atleast_1d(std))
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std must be non-zero, got {self.std}")
        self.inplace = bool(inplace)

    def __call__(self, x):
        x4, restore = _as_nchw(x, "Normalize", allow_uint8=False)
        c = x4.shape[1]
        mean = _per_channel(self.mean, c, "Normalize", "mean", x4.dtype)
        scale = 1 / _per_channel(self.std, c, "Normalize", "std", np.float64)
        out = x4 if self.inplace else None
        out = np.subtract(x4, mean, out=out)
        np.multiply(out, scale.astype(x4.dtype), out=out)
        return restore(out)


# ---------------------------------------------------------------- resampling


def _interpolation(value, name):
    """'nearest' or 'bilinear' from a string or an enum with that ``.value`` (InterpolationMode)."""
    mode = getattr(value, "value", value)
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"{name}: interpolation must be 'nearest' or 'bilinear', got {value!r}")
    return mode


def _work_dtype(dtype):
    """The dtype torchvision computes in: a float image's own, float32 for uint8."""
    return np.dtype(dtype).type if np.issubdtype(dtype, np.floating) else np.float32


def _round_to(y, dtype):
    """A resampled float result in ``dtype``: uint8 rounds half to even and clamps (torchvision's
    ``_cast_squeeze_out``), float keeps its values."""
    if dtype == np.uint8:
        return np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return y.astype(dtype, copy=False)


def _linear_weights(in_size, start, length, out_size, antialias):
    """(out_size, in_size) float32 matrix that resamples ``length`` pixels from ``start`` to
    ``out_size`` pixels with torch's bilinear rule (align_corners=False, edges clamped). With
    ``antialias`` and shrinking, the triangle filter widens by the scale, as
    ``torch.nn.functional.interpolate(..., antialias=True)`` (PIL's rule)."""
    scale = length / out_size
    support = scale if antialias and scale >= 1 else 1.0
    center = scale * (np.arange(out_size) + 0.5)
    lo = np.maximum((center - support + 0.5).astype(np.int64), 0)  # truncation, as torch's int()
    hi = np.minimum((center + support + 0.5).astype(np.int64), length)
    taps = lo[:, None] + np.arange(int(math.ceil(2 * support)) + 2)[None, :]
    weight = np.maximum(0.0, 1 - np.abs((taps - center[:, None] + 0.5) / support))
    weight *= taps < hi[:, None]
    weight /= weight.sum(axis=1, keepdims=True)
    m = np.zeros((out_size, in_size), np.float64)
    rows = np.broadcast_to(np.arange(out_size)[:, None], taps.shape)
    keep = weight > 0
    m[rows[keep], start + taps[keep]] = weight[keep]
    return m.astype(np.float32)


def _nearest_index(length, out_size):
    """torch's 'nearest' source index of each output pixel: floor(i * (in / out)) in float32."""
    scale = np.float32(length) / np.float32(out_size)
    idx = np.floor(np.arange(out_size, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(idx, length - 1)


def _resized_crop(x4, boxes, size, mode, antialias):
    """Crop each image of ``x4`` (N, C, H, W) to its box and resize it to ``size`` (oh, ow).

    ``boxes``: int (K, 4) rows (top, left, height, width), K = N or 1 (one box for all). Bilinear
    is two matrix products per image (the crop is folded into the weights), in float32.
    """
    n, _, h, w = x4.shape
    oh, ow = size
    if mode == "nearest":
        rows = np.stack([t + _nearest_index(bh, oh) for t, _, bh, _ in boxes])
        cols = np.stack([left + _nearest_index(bw, ow) for _, left, _, bw in boxes])
        if len(boxes) == 1:
            return x4[:, :, rows[0][:, None], cols[0][None, :]]
        out = x4[np.arange(n)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
        return out.transpose(0, 3, 1, 2)
    wy = np.stack([_linear_weights(h, t, bh, oh, antialias) for t, _, bh, _ in boxes])
    wx = np.stack([_linear_weights(w, left, bw, ow, antialias) for _, left, _, bw in boxes])
    xf = x4.astype(_work_dtype(x4.dtype), copy=False)
    out = np.matmul(wy[:, None], np.matmul(xf, wx.transpose(0, 2, 1)[:, None]))
    return _round_to(out, x4.dtype)


def _resized_size(h, w, size, max_size):
    """torchvision's output size: (h, w) as given, or the shorter edge set to size[0] with the
    aspect ratio kept (the longer edge truncated, then capped at ``max_size``)."""
    if len(size) == 2:
        return size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size[0], int(size[0] * long / short)
    if max_size is not None and new_long > max_size:
        new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if w <= h else (new_short, new_long)


def _size_arg(size, name, allow_single=True):
    """An int or a 1- or 2-sequence as a tuple of positive ints."""
    if isinstance(size, numbers.Number):
        size = (int(size),) if allow_single else (int(size), int(size))
    else:
        try:
            size = tuple(int(s) for s in size)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: size must be an int or a sequence of 1 or 2 ints, "
                             f"got {size!r}") from None
        if len(size) == 1 and not allow_single:
            size = size * 2
    if len(size) not in (1, 2) or min(size) <= 0:
        raise ValueError(f"{name}: size must be positive, one int or (h, w), got {size!r}")
    return size


class Resize(Transform):
    """Resize images to ``size`` (torchvision.transforms.Resize on tensors).

    ``size``: (h, w), or an int (or 1-sequence) for the shorter edge, the longer edge following
    the aspect ratio (truncated) and capped at ``max_size``. ``interpolation``: "bilinear"
    (default) or "nearest" (torch's legacy nearest, ``floor(i * in / out)``); ``antialias``
    (default True, as torchvision >= 0.17) widens the bilinear filter when shrinking. Takes uint8
    and float images in every layout of the module docstring; uint8 results are rounded, as
    torchvision's tensor path does.

    Matches torchvision's tensor output to about 1e-6 on float images in [0, 1] (float32
    weights and summation order differ) and to within 1 on uint8 (a value at x.5 may round the
    other way); nearest is exact. An image already of the output size is returned as is.
    """

    def __init__(self, size, interpolation="bilinear", max_size=None, antialias=True):
        super().__init__()
        self.size = _size_arg(size, "Resize")
        if max_size is not None and (len(self.size) != 1 or max_size <= self.size[0]):
            raise ValueError(f"Resize: max_size must be an int larger than the shorter-edge "
                             f"size, and needs an int size; got size={size!r}, "
                             f"max_size={max_size!r}")
        self.interpolation = _interpolation(interpolation, "Resize")
        self.max_size = max_size
        self.antialias = bool(antialias)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x4, restore = _as_nchw(x, "Resize")
        h, w = x4.shape[2:]
        oh, ow = _resized_size(h, w, self.size, self.max_size)
        if (oh, ow) == (h, w):
            return x
        boxes = np.array([[0, 0, h, w]])
        return restore(_resized_crop(x4, boxes, (oh, ow), self.interpolation, self.antialias))


class CenterCrop(Transform):
    """Crop the central ``size`` window (torchvision.transforms.CenterCrop): top = round((H -
    h) / 2) (Python's round, half to even), likewise left; an image smaller than ``size`` is first
    padded with zeros, ``(size - H) // 2`` before and the rest after. ``size``: int or (h, w)."""

    def __init__(self, size):
        super().__init__()
        self.size = _size_arg(size, "CenterCrop", allow_single=False)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x4, restore = _as_nchw(x, "CenterCrop")
        th, tw = self.size
        n, c, h, w = x4.shape
        if th > h or tw > w:
            ph, pw = max(th - h, 0), max(tw - w, 0)
            padded = np.zeros((n, c, h + ph, w + pw), x4.dtype)
            padded[:, :, ph // 2:ph // 2 + h, pw // 2:pw // 2 + w] = x4
            x4, h, w = padded, h + ph, w + pw
        top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        return restore(x4[:, :, top:top + th, left:left + tw])


# ---------------------------------------------------------------- random spatial


class RandomCrop(Transform):
    """Crop a random ``size`` window, after padding each side by ``padding``
    (torchvision.transforms.RandomCrop). Each image of a batch gets its own offsets.

    ``size``: int or (h, w). ``padding``: int, (left/right, top/bottom) or (left, top, right,
    bottom). ``pad_if_needed``: pad images smaller than ``size`` (as torchvision, by the missing
    amount on both sides). ``fill``: the constant for ``padding_mode="constant"`` (a scalar or
    one per channel, in the input's units). ``padding_mode``: "constant", "edge", "reflect" or
    "symmetric". Raises ValueError when the crop is larger than the padded image.
    """

    _MODES = ("constant", "edge", "reflect", "symmetric")

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant",
                 generator=None):
        super().__init__(generator)
        self.size = _pair(size, "RandomCrop", "size")
        if min(self.size) <= 0:
            raise ValueError(f"RandomCrop: size must be positive, got {size!r}")
        if padding is None:
            pad = (0, 0, 0, 0)
        elif isinstance(padding, numbers.Number):
            pad = (int(padding),) * 4
        elif len(padding) == 2:
            pad = (int(padding[0]), int(padding[1])) * 2
        elif len(padding) == 4:
            pad = tuple(int(p) for p in padding)
        else:
            raise ValueError(f"RandomCrop: padding must be an int or a sequence of 2 or 4 ints, "
                             f"got {padding!r}")
        if min(pad) < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding!r}")
        if padding_mode not in self._MODES:
            raise ValueError(f"RandomCrop: padding_mode must be one of {self._MODES}, "
                             f"got {padding_mode!r}")
        self.padding = pad  # (left, top, right, bottom)
        self.pad_if_needed = bool(pad_if_needed)
        self.fill = fill
        self.padding_mode = padding_mode

    def _pad(self, x, left, top, right, bottom):
        if not (left or top or right or bottom):
            return x
        n, c, h, w = x.shape
        if self.padding_mode == "constant":
            out = np.empty((n, c, h + top + bottom, w + left + right), x.dtype)
            out[...] = _per_channel(self.fill, c, "RandomCrop", "fill", x.dtype)
            out[:, :, top:top + h, left:left + w] = x
            return out
        return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), mode=self.padding_mode)

    def __call__(self, x):
        x4, restore = _as_nchw(x, "RandomCrop")
        th, tw = self.size
        x4 = self._pad(x4, *self.padding)
        if self.pad_if_needed:
            dh, dw = max(th - x4.shape[2], 0), max(tw - x4.shape[3], 0)
            x4 = self._pad(x4, dw, dh, dw, dh)
        n, _, h, w = x4.shape
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the padded image "
                             f"({h}, {w}); pass a larger padding or pad_if_needed=True")
        rng = self._rng()
        i = rng.integers(0, h - th + 1, size=n)
        j = rng.integers(0, w - tw + 1, size=n)
        out = np.empty(x4.shape[:2] + (th, tw), x4.dtype)
        # one slice copy per distinct offset: at most (2p+1)^2 groups, far fewer than N samples
        key = i * (w - tw + 1) + j
        for k in np.unique(key):
            members = np.flatnonzero(key == k)
            a, b = divmod(int(k), w - tw + 1)
            out[members] = x4[members, :, a:a + th, b:b + tw]
        return restore(out)


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p``
    (torchvision.transforms.RandomHorizontalFlip); each image of a batch is drawn separately."""

    def __init__(self, p=0.5, generator=None):
        super().__init__(generator)
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, x):
        x4, restore = _as_nchw(x, "RandomHorizontalFlip")
        flip = self._rng().random(x4.shape[0]) < self.p
        return restore(np.where(flip[:, None, None, None], x4[..., ::-1], x4))


class RandomRotation(Transform):
    """Rotate each image by its own angle drawn uniformly from ``degrees`` (a number d means
    (-d, d)); positive angles turn counter-clockwise, as torchvision.transforms.RandomRotation.

    ``interpolation``: "nearest" (default, as torchvision) or "bilinear". ``center``: (x, y) in
    pixel indices, default the image centre ((W-1)/2, (H-1)/2). ``fill``: value of the area that
    comes from outside the image (a scalar or one per channel). The output keeps the input size.
    """

    def __init__(self, degrees, interpolation="nearest", center=None, fill=0, generator=None):
        super().__init__(generator)
        if isinstance(degrees, numbers.Number):
            if degrees < 0:
                raise ValueError(f"RandomRotation: degrees must be >= 0 when a single number, "
                                 f"got {degrees}")
            degrees = (-degrees, degrees)
        lo, hi = (float(d) for d in degrees)
        if lo > hi:
            raise ValueError(f"RandomRotation: degrees must be (min, max) with min <= max, "
                             f"got {degrees!r}")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"RandomRotation: interpolation must be 'nearest' or 'bilinear', "
                             f"got {interpolation!r}")
        self.degrees = (lo, hi)
        self.interpolation = interpolation
        self.center = None if center is None else tuple(float(c) for c in center)
        self.fill = fill

    def __call__(self, x):
        x4, restore = _as_nchw(x, "RandomRotation")
        n, c, h, w = x4.shape
        theta = np.deg2rad(self._rng().uniform(*self.degrees, size=n))
        cx, cy = self.center if self.center is not None else ((w - 1) / 2, (h - 1) / 2)
        dy = (np.arange(h) - cy)[None, :, None]
        dx = (np.arange(w) - cx)[None, None, :]
        cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
        # inverse map, output -> source, of a counter-clockwise turn with y pointing down
        sx = dx * cos - dy * sin + cx
        sy = dx * sin + dy * cos + cy
        fill = _per_channel(self.fill, c, "RandomRotation", "fill", np.float32)
        if self.interpolation == "nearest":
            out = self._sample(x4, np.rint(sy).astype(np.intp), np.rint(sx).astype(np.intp), fill)
        else:
            y0, x0 = np.floor(sy).astype(np.intp), np.floor(sx).astype(np.intp)
            wy, wx = (sy - y0)[:, None].astype(np.float32), (sx - x0)[:, None].astype(np.float32)
            out = ((1 - wy) * ((1 - wx) * self._sample(x4, y0, x0, fill)
                               + wx * self._sample(x4, y0, x0 + 1, fill))
                   + wy * ((1 - wx) * self._sample(x4, y0 + 1, x0, fill)
                           + wx * self._sample(x4, y0 + 1, x0 + 1, fill)))
        if x4.dtype == np.uint8:
            out = np.clip(np.rint(out), 0, 255)
        return restore(out.astype(x4.dtype, copy=False))

    @staticmethod
    def _sample(x4, sy, sx, fill):
        """x4[n, :, sy, sx] as float32 (N, C, H, W), ``fill`` where (sy, sx) is off the image."""
        n, _, h, w = x4.shape
        inside = (sy >= 0) & (sy < h) & (sx >= 0) & (sx < w)
        got = x4[np.arange(n)[:, None, None], :, np.clip(sy, 0, h - 1), np.clip(sx, 0, w - 1)]
        got = got.transpose(0, 3, 1, 2).astype(np.float32, copy=False)
        return np.where(inside[:, None], got, fill)


def _pair_range(value, name, what, symmetric=True):
    """A (min, max) float pair; a number v means (-v, v) when ``symmetric`` (v >= 0)."""
    if isinstance(value, numbers.Number):
        if symmetric and value < 0:
            raise ValueError(f"{name}: {what} must be >= 0 when a single number, got {value}")
        return (-float(value), float(value)) if symmetric else (float(value), float(value))
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {what} must be a number or a pair (min, max), "
                         f"got {value!r}") from None
    if lo > hi:
        raise ValueError(f"{name}: {what} must be (min, max) with min <= max, got {value!r}")
    return lo, hi


class RandomResizedCrop(Transform):
    """Crop a random box and resize it to ``size`` (torchvision.transforms.RandomResizedCrop).

    Each image draws its own box as torchvision's ``get_params``: up to 10 tries of an area
    fraction uniform in ``scale`` and an aspect ratio (w / h) log-uniform in ``ratio``, w and h
    rounded (half to even); the first box that fits is placed uniformly; when none fits, a central
    crop of the whole image clamped to ``ratio``. The resize is :class:`Resize`'s
    (``interpolation`` "bilinear" or "nearest", ``antialias``, same tolerances). Takes uint8 and
    float images in every layout of the module docstring.
    """

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), interpolation="bilinear",
                 antialias=True, generator=None):
        super().__init__(generator)
        self.size = _size_arg(size, "RandomResizedCrop", allow_single=False)
        self.scale = _pair_range(scale, "RandomResizedCrop", "scale", symmetric=False)
        self.ratio = _pair_range(ratio, "RandomResizedCrop", "ratio", symmetric=False)
        if self.scale[0] <= 0 or self.ratio[0] <= 0:
            raise ValueError(f"RandomResizedCrop: scale and ratio must be positive, got "
                             f"scale={scale!r}, ratio={ratio!r}")
        self.interpolation = _interpolation(interpolation, "RandomResizedCrop")
        self.antialias = bool(antialias)

    def get_params(self, height: int, width: int, n: int = 1) -> np.ndarray:
        """Boxes for ``n`` images of ``height`` x ``width``: int64 (n, 4) rows (top, left, h, w).

        Draws, in order: the (n, 10) area fractions, the (n, 10) log aspect ratios, then the
        tops and the lefts of all n boxes (those of fallback boxes are unused)."""
        rng = self._rng()
        area = height * width
        log_ratio = np.log(self.ratio)
        target = area * rng.uniform(*self.scale, size=(n, 10))
        aspect = np.exp(rng.uniform(*log_ratio, size=(n, 10)))
        bw = np.rint(np.sqrt(target * aspect)).astype(np.int64)
        bh = np.rint(np.sqrt(target / aspect)).astype(np.int64)
        fits = (bw > 0) & (bw <= width) & (bh > 0) & (bh <= height)
        first = fits.argmax(axis=1)
        found = fits.any(axis=1)
        rows = np.arange(n)
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            fw, fh = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            fw, fh = int(round(height * self.ratio[1])), height
        else:
            fw, fh = width, height
        bw = np.where(found, bw[rows, first], fw)
        bh = np.where(found, bh[rows, first], fh)
        top = rng.integers(0, height - bh + 1)
        left = rng.integers(0, width - bw + 1)
        top = np.where(found, top, (height - bh) // 2)
        left = np.where(found, left, (width - bw) // 2)
        return np.stack([top, left, bh, bw], axis=1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x4, restore = _as_nchw(x, "RandomResizedCrop")
        n, _, h, w = x4.shape
        boxes = self.get_params(h, w, n)
        return restore(_resized_crop(x4, boxes, self.size, self.interpolation, self.antialias))


def _inverse_affine_matrix(center, angle, translate, scale, shear):
    """torchvision's ``_get_inverse_affine_matrix`` for arrays: (N, 6) float64 maps from output
    to input pixel coordinates, both relative to the image centre.

    ``center``: (cx, cy) relative to the image centre; ``angle`` (N,) degrees, clockwise as
    torchvision's affine; ``translate`` (N, 2) pixels; ``scale`` (N,); ``shear`` (N, 2) degrees.
    """
    rot = np.radians(angle)
    sx, sy = np.radians(shear[:, 0]), np.radians(shear[:, 1])
    cx, cy = center
    tx, ty = translate[:, 0], translate[:, 1]
    a = np.cos(rot - sy) / np.cos(sy)
    b = -np.cos(rot - sy) * np.tan(sx) / np.cos(sy) - np.sin(rot)
    c = np.sin(rot - sy) / np.cos(sy)
    d = -np.sin(rot - sy) * np.tan(sx) / np.cos(sy) + np.cos(rot)
    zero = np.zeros_like(a)
    m = np.stack([d, -b, zero, -c, a, zero], axis=1) / np.asarray(scale, np.float64)[:, None]
    m[:, 2] += m[:, 0] * (-cx - tx) + m[:, 1] * (-cy - ty) + cx
    m[:, 5] += m[:, 3] * (-cx - tx) + m[:, 4] * (-cy - ty) + cy
    return m


def _affine(x4, matrix, mode, fill):
    """Warp each image of ``x4`` (N, C, H, W) by its inverse matrix (N, 6), as torchvision's
    tensor affine: the sampling grid in float32 through ``grid_sample(align_corners=False,
    padding_mode="zeros")``. ``fill``: None (zeros), or a number or one per channel for the area
    from outside the image, blended as torchvision does (``out * mask + (1 - mask) * fill``)."""
    n, c, h, w = x4.shape
    wt = np.float32
    theta = matrix.astype(wt).reshape(n, 2, 3) / np.array([0.5 * w, 0.5 * h], wt)[None, :, None]
    xs = (np.arange(w) - w * 0.5 + 0.5).astype(wt)[None, None, :]
    ys = (np.arange(h) - h * 0.5 + 0.5).astype(wt)[None, :, None]

    def coord(row, size):
        t = theta[:, row, :, None, None]
        g = xs * t[:, 0] + ys * t[:, 1] + t[:, 2]
        return (g + wt(1)) * wt(size / 2) - wt(0.5)  # grid_sample's unnormalize, in float32

    ix, iy = coord(0, w), coord(1, h)
    xf = x4.astype(_work_dtype(x4.dtype), copy=False)
    batch = np.arange(n)[:, None, None]

    def tap(yy, xx, weight):
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        got = xf[batch, :, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)].transpose(0, 3, 1, 2)
        return got * (weight * inside)[:, None], weight * inside

    if mode == "nearest":
        out, mask = tap(np.rint(iy).astype(np.intp), np.rint(ix).astype(np.intp), wt(1))
    else:
        x0, y0 = np.floor(ix), np.floor(iy)
        dx, dy = ix - x0, iy - y0
        x0, y0 = x0.astype(np.intp), y0.astype(np.intp)
        out, mask = 0, 0
        for yy, xx, weight in ((y0, x0, (1 - dx) * (1 - dy)), (y0, x0 + 1, dx * (1 - dy)),
                               (y0 + 1, x0, (1 - dx) * dy), (y0 + 1, x0 + 1, dx * dy)):
            val, m = tap(yy, xx, weight)
            out, mask = out + val, mask + m
    if fill is not None:
        fill = _per_channel(fill, c, "affine warp", "fill", out.dtype)
        mask = mask[:, None]
        if mode == "nearest":
            out = np.where(mask < 0.5, fill, out)
        else:
            out = out * mask + (1 - mask) * fill
    return _round_to(out, x4.dtype)


class RandomAffine(Transform):
    """Random rotation, translation, scale and shear per image, as
    torchvision.transforms.RandomAffine on tensors.

    ``degrees``: d (drawn from (-d, d)) or (min, max); positive angles turn clockwise, as
    torchvision's affine (its rotate, and :class:`RandomRotation`, turn counter-clockwise).
    ``translate``: (a, b): horizontal shift drawn from (-a W, a W), vertical from (-b H, b H), each
    rounded to whole pixels. ``scale``: (min, max). ``shear``: s (x-shear from (-s, s)), (min,
    max) for x, or (xmin, xmax, ymin, ymax), in degrees. ``interpolation``: "nearest" (default) or
    "bilinear". ``fill``: a number or one per channel for the area from outside the image.
    ``center``: (x, y) in pixel coordinates (default the image centre). Takes uint8 and float
    images in every layout of the module docstring.

    The output is torchvision's up to the float32 rounding of the sampling grid: with "nearest" a
    source coordinate within ~1e-5 of a half-pixel may pick the neighbouring pixel (a few pixels in
    10^4); bilinear float results agree to ~1e-5, uint8 to within 1.
    """

    def __init__(self, degrees, translate=None, scale=None, shear=None, interpolation="nearest",
                 fill=0, center=None, generator=None):
        super().__init__(generator)
        self.degrees = _pair_range(degrees, "RandomAffine", "degrees")
        if translate is not None:
            translate = tuple(float(t) for t in translate)
            if len(translate) != 2 or not all(0 <= t <= 1 for t in translate):
                raise ValueError(f"RandomAffine: translate must be (a, b) within [0, 1], "
                                 f"got {translate!r}")
        if scale is not None:
            scale = _pair_range(scale, "RandomAffine", "scale", symmetric=False)
            if scale[0] <= 0:
                raise ValueError(f"RandomAffine: scale values must be positive, got {scale!r}")
        if shear is not None:
            if isinstance(shear, numbers.Number) or len(shear) == 2:
                shear = _pair_range(shear, "RandomAffine", "shear")
            elif len(shear) == 4:
                shear = (_pair_range(shear[:2], "RandomAffine", "shear")
                         + _pair_range(shear[2:], "RandomAffine", "shear"))
            else:
                raise ValueError(f"RandomAffine: shear must be a number or a sequence of 2 or 4 "
                                 f"numbers, got {shear!r}")
        self.translate, self.scale, self.shear = translate, scale, shear
        self.interpolation = _interpolation(interpolation, "RandomAffine")
        self.fill = fill
        self.center = None if center is None else tuple(float(c) for c in center)

    def get_params(self, height: int, width: int, n: int = 1):
        """Per image: angle (n,), translate int64 (n, 2), scale (n,), shear (n, 2), drawn as
        torchvision's ``get_params`` does, each a vector over the n images in that order (the
        translations, scales and y-shears only when configured)."""
        rng = self._rng()
        angle = rng.uniform(*self.degrees, size=n)
        translate = np.zeros((n, 2), np.int64)
        if self.translate is not None:
            max_dx, max_dy = self.translate[0] * width, self.translate[1] * height
            translate[:, 0] = np.rint(rng.uniform(-max_dx, max_dx, size=n))
            translate[:, 1] = np.rint(rng.uniform(-max_dy, max_dy, size=n))
        scale = np.ones(n) if self.scale is None else rng.uniform(*self.scale, size=n)
        shear = np.zeros((n, 2))
        if self.shear is not None:
            shear[:, 0] = rng.uniform(*self.shear[:2], size=n)
            if len(self.shear) == 4:
                shear[:, 1] = rng.uniform(*self.shear[2:], size=n)
        return angle, translate, scale, shear

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x4, restore = _as_nchw(x, "RandomAffine")
        n, _, h, w = x4.shape
        center = (0.0, 0.0) if self.center is None else (self.center[0] - w * 0.5,
                                                         self.center[1] - h * 0.5)
        matrix = _inverse_affine_matrix(center, *self.get_params(h, w, n))
        return restore(_affine(x4, matrix, self.interpolation, self.fill))


def _gaussian_kernel(size, sigma):
    """torchvision's 1-D Gaussian kernels, float32 (N, size), for sigmas (N,)."""
    half = (size - 1) * 0.5
    x = np.linspace(-half, half, size).astype(np.float32)
    pdf = np.exp(np.float32(-0.5) * (x[None] / sigma.astype(np.float32)[:, None]) ** 2)
    return pdf / pdf.sum(axis=1, keepdims=True)


class GaussianBlur(Transform):
    """Blur each image with a Gaussian of its own sigma, drawn uniformly from ``sigma``
    (torchvision.transforms.GaussianBlur): ``kernel_size`` odd int or (kx, ky), reflect padding,
    torchvision's float32 kernel applied separably (rows, then columns). ``sigma``: a number
    (fixed) or (min, max), positive. Takes uint8 (rounded back) and float images in every layout
    of the module docstring; matches torchvision to ~1e-6 on float, within 1 on uint8.
    """

    def __init__(self, kernel_size, sigma=(0.1, 2.0), generator=None):
        super().__init__(generator)
        ks = _size_arg(kernel_size, "GaussianBlur", allow_single=False)
        if any(k % 2 == 0 for k in ks):
            raise ValueError(f"GaussianBlur: kernel_size must be odd and positive, "
                             f"got {kernel_size!r}")
        self.kernel_size = ks  # (kx, ky), torchvision's order
        self.sigma = _pair_range(sigma, "GaussianBlur", "sigma", symmetric=False)
        if self.sigma[0] <= 0:
            raise ValueError(f"GaussianBlur: sigma must be positive, got {sigma!r}")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x4, restore = _as_nchw(x, "GaussianBlur")
        n, _, h, w = x4.shape
        kx, ky = self.kernel_size
        if kx // 2 >= w or ky // 2 >= h:
            raise ValueError(f"GaussianBlur: kernel_size {self.kernel_size} needs images larger "
                             f"than half of it (reflect padding), got ({h}, {w})")
        sigma = self._rng().uniform(*self.sigma, size=n)
        xf = x4.astype(_work_dtype(x4.dtype), copy=False)
        xf = np.pad(xf, ((0, 0), (0, 0), (ky // 2, ky // 2), (kx // 2, kx // 2)), mode="reflect")
        wy = _gaussian_kernel(ky, sigma)[:, :, None, None, None]
        rows = sum(wy[:, k] * xf[:, :, k:k + h] for k in range(ky))
        wx = _gaussian_kernel(kx, sigma)[:, :, None, None, None]
        out = sum(wx[:, k] * rows[:, :, :, k:k + w] for k in range(kx))
        return restore(_round_to(out, x4.dtype))


# ---------------------------------------------------------------- random photometric


def _bound(dtype):
    return 255.0 if dtype == np.uint8 else 1.0


def _grayscale(x):
    """ITU-R 601-2 luma of (n, 3, H, W), as torchvision's rgb_to_grayscale: (n, 1, H, W) in x's
    dtype (computed in float32 for uint8, then truncated)."""
    wt = _work_dtype(x.dtype)
    r, g, b = (x[:, i:i + 1].astype(wt, copy=False) for i in range(3))
    return (wt(0.2989) * r + wt(0.587) * g + wt(0.114) * b).astype(x.dtype)


def _blend(a, b, ratio):
    """torchvision's ``_blend``: ``ratio * a + (1 - ratio) * b`` clamped to the dtype's range, in
    float32 for uint8 (then truncated). ``ratio``: float64 broadcastable against ``a``."""
    wt = _work_dtype(a.dtype)
    ratio = np.asarray(ratio, np.float64)
    out = ratio.astype(wt) * a.astype(wt, copy=False) + (1.0 - ratio).astype(wt) * b
    return np.clip(out, 0, _bound(a.dtype)).astype(a.dtype)


def _adjust_brightness(x, factor):
    return _blend(x, np.zeros((), _work_dtype(x.dtype)), factor)


def _adjust_contrast(x, factor):
    gray = _grayscale(x) if x.shape[1] == 3 else x
    mean = gray.mean(axis=(1, 2, 3), keepdims=True, dtype=np.float64)
    return _blend(x, mean.astype(_work_dtype(x.dtype)), factor)


def _adjust_saturation(x, factor):
    return x if x.shape[1] == 1 else _blend(x, _grayscale(x), factor)


def _rgb_to_hsv(x):
    """torchvision's ``_rgb2hsv`` on float (n, 3, H, W): h, s, v each (n, H, W)."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    maxc, minc = x.max(axis=1), x.min(axis=1)
    eqc = maxc == minc
    cr = maxc - minc
    one = np.ones((), x.dtype)
    s = cr / np.where(eqc, one, maxc)
    cr_divisor = np.where(eqc, one, cr)
    rc, gc, bc = (maxc - r) / cr_divisor, (maxc - g) / cr_divisor, (maxc - b) / cr_divisor
    h = np.where(maxc == r, bc - gc, 0) + np.where((maxc == g) & (maxc != r), 2 + rc - bc, 0)
    h = h + np.where((maxc != g) & (maxc != r), 4 + gc - rc, 0)
    return np.fmod(h / 6 + 1, 1).astype(x.dtype, copy=False), s, maxc


def _hsv_to_rgb(h, s, v):
    """torchvision's ``_hsv2rgb``: (n, 3, H, W) from h, s, v each (n, H, W)."""
    i = np.floor(h * 6)
    f = h * 6 - i
    i = i.astype(np.int64) % 6
    p = np.clip(v * (1 - s), 0, 1)
    q = np.clip(v * (1 - s * f), 0, 1)
    t = np.clip(v * (1 - s * (1 - f)), 0, 1)
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=1)


def _adjust_hue(x, factor):
    """Shift the hue by ``factor`` (n, 1, 1, 1) turns, as torchvision's adjust_hue: uint8 goes
    through float32 ``x / 255`` and back by ``trunc(y * 255.999)``."""
    if x.shape[1] == 1:
        return x
    xf = x.astype(np.float32) / np.float32(255) if x.dtype == np.uint8 else x
    h, s, v = _rgb_to_hsv(xf)
    h = np.mod(h + np.asarray(factor, np.float64)[:, 0].astype(xf.dtype), 1)
    out = _hsv_to_rgb(h, s, v)
    if x.dtype == np.uint8:
        return (out * np.float32(255.999)).astype(np.uint8)
    return out.astype(x.dtype, copy=False)


def _range(value, name, what, center=1.0, bound=(0, math.inf), clip_first=True):
    """torchvision's ColorJitter parameter rule: a number v means [center - v, center + v]."""
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"{name}: {what} must be non-negative, got {value}")
        lo, hi = center - value, center + value
        if clip_first:
            lo = max(lo, 0.0)
    else:
        try:
            lo, hi = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: {what} must be a number or a pair (min, max), "
                             f"got {value!r}") from None
    if not bound[0] <= lo <= hi <= bound[1]:
        raise ValueError(f"{name}: {what} range ({lo}, {hi}) must lie within {bound}")
    return None if lo == hi == center else (float(lo), float(hi))


def _channels(x4, name, allowed=(1, 3)):
    if x4.shape[1] not in allowed:
        raise ValueError(f"{name}: expected images with 1 or 3 channels, got {x4.shape[1]}")


class ColorJitter(Transform):
    """Randomly change brightness, contrast, saturation and hue, in a random order per image
    (torchvision.transforms.ColorJitter, same formulas as its tensor functions). Takes uint8
    images before ToTensor (the blends computed in float32 and truncated, the hue through
    ``x / 255`` and back, as torchvision on uint8 tensors) and float images in [0, 1] after it
    (place it before Normalize), with 1 or 3 channels; saturation and hue leave single-channel
    images unchanged, as torchvision does.

    ``brightness``, ``contrast``, ``saturation``: a number v (factor drawn from
    [max(0, 1 - v), 1 + v]) or a (min, max) pair; ``hue``: a number in [0, 0.5] or a pair within
    [-0.5, 0.5] (shift of the hue, as a fraction of the colour wheel).
    """

    _OPS = (_adjust_brightness, _adjust_contrast, _adjust_saturation, _adjust_hue)

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0, generator=None):
        super().__init__(generator)
        self.brightness = _range(brightness, "ColorJitter", "brightness")
        self.contrast = _range(contrast, "ColorJitter", "contrast")
        self.saturation = _range(saturation, "ColorJitter", "saturation")
        self.hue = _range(hue, "ColorJitter", "hue", center=0, bound=(-0.5, 0.5), clip_first=False)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x4, restore = _as_nchw(x, "ColorJitter")
        _channels(x4, "ColorJitter")
        n = x4.shape[0]
        rng = self._rng()
        ranges = (self.brightness, self.contrast, self.saturation, self.hue)
        factors = [None if r is None else rng.uniform(*r, size=n).reshape(n, 1, 1, 1)
                   for r in ranges]
        order = np.argsort(rng.random((n, 4)), axis=1)  # a random order of the 4 ops per image
        out = x4.copy()
        for step in range(4):
            for op, factor in enumerate(factors):
                if factor is None:
                    continue
                members = np.flatnonzero(order[:, step] == op)
                if members.size:
                    out[members] = self._OPS[op](out[members], factor[members])
        return restore(out)


class RandomGrayscale(Transform):
    """Turn each image grey with probability ``p`` (torchvision.transforms.RandomGrayscale):
    ITU-R 601-2 luma repeated over the 3 channels (uint8 truncated, as torchvision); 1-channel
    images are returned unchanged. Takes uint8 and float images in every layout of the module
    docstring."""

    def __init__(self, p=0.1, generator=None):
        super().__init__(generator)
        if not 0 <= p <= 1:
            raise ValueError(f"RandomGrayscale: p must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x4, restore = _as_nchw(x, "RandomGrayscale")
        _channels(x4, "RandomGrayscale")
        pick = np.flatnonzero(self._rng().random(x4.shape[0]) < self.p)
        out = x4.copy()
        if x4.shape[1] == 3 and pick.size:
            out[pick] = _grayscale(x4[pick])
        return restore(out)


class RandomErasing(Transform):
    """Erase a random rectangle in each image with probability ``p``
    (torchvision.transforms.RandomErasing, same sampling: up to 10 tries per image for a box of
    area ``scale`` x image area and aspect ratio in ``ratio`` (drawn log-uniformly) that fits;
    the image is left unchanged when none fits). Takes float images after ToTensor and, as
    torchvision on uint8 tensors, uint8 images before it, in every layout of the module docstring.

    ``value``: a number, one number per channel (cast to the image's dtype, so uint8 truncates),
    or "random" (standard normal noise; float images only).
    """

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace=False,
                 generator=None):
        super().__init__(generator)
        if not 0 <= p <= 1:
            raise ValueError(f"RandomErasing: p must be in [0, 1], got {p}")
        scale, ratio = tuple(float(s) for s in scale), tuple(float(r) for r in ratio)
        if len(scale) != 2 or not 0 <= scale[0] <= scale[1] <= 1:
            raise ValueError(f"RandomErasing: scale must be (min, max) within [0, 1], got {scale}")
        if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"RandomErasing: ratio must be (min, max) with 0 < min <= max, "
                             f"got {ratio}")
        if isinstance(value, str) and value != "random":
            raise ValueError(f"RandomErasing: value must be a number, a sequence or 'random', "
                             f"got {value!r}")
        self.p, self.scale, self.ratio, self.value = float(p), scale, ratio, value
        self.inplace = bool(inplace)

    def _boxes(self, rng, n, h, w):
        """Per image: (erase?, top, left, height, width), torchvision's 10-try rule."""
        tries = 10
        area = rng.uniform(*self.scale, size=(n, tries)) * (h * w)
        aspect = np.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]),
                                    size=(n, tries)))
        bh = np.rint(np.sqrt(area * aspect)).astype(np.int64)
        bw = np.rint(np.sqrt(area / aspect)).astype(np.int64)
        fits = (bh < h) & (bw < w)
        first = fits.argmax(axis=1)
        rows = np.arange(n)
        bh, bw = bh[rows, first], bw[rows, first]
        erase = (rng.random(n) < self.p) & fits.any(axis=1)
        bh, bw = np.where(erase, bh, 0), np.where(erase, bw, 0)
        top = rng.integers(0, h - bh + 1)
        left = rng.integers(0, w - bw + 1)
        return erase, top, left, bh, bw

    def __call__(self, x):
        x4, restore = _as_nchw(x, "RandomErasing")
        n, c, h, w = x4.shape
        if isinstance(self.value, str) and x4.dtype == np.uint8:
            raise ValueError("RandomErasing: value='random' needs float images (normal noise); "
                             "apply it after ToTensor or pass a number")
        rng = self._rng()
        erase, top, left, bh, bw = self._boxes(rng, n, h, w)
        r = np.arange(h)[None, :, None]
        col = np.arange(w)[None, None, :]
        inside = ((r >= top[:, None, None]) & (r < (top + bh)[:, None, None])
                  & (col >= left[:, None, None]) & (col < (left + bw)[:, None, None]))
        inside &= erase[:, None, None]
        if isinstance(self.value, str):
            value = rng.standard_normal(x4.shape, dtype=np.float32).astype(x4.dtype, copy=False)
        else:
            value = _per_channel(self.value, c, "RandomErasing", "value", x4.dtype)
        out = x4 if self.inplace else x4.copy()
        np.copyto(out, value, where=inside[:, None])
        return restore(out)


# ---------------------------------------------------------------- automatic augmentation


def _linspace32(start, end, steps):
    """torch.linspace in float32 as float64 values: torch's two-sided formula, each value
    rounded once to float32 (torch's vectorized kernel fuses the multiply-add)."""
    start, end = np.float32(start), np.float32(end)
    if steps == 1:
        return np.array([start], np.float64)
    step = np.float64((end - start) / np.float32(steps - 1))
    i = np.arange(steps, dtype=np.float64)
    values = np.where(i < steps // 2, start + step * i, end - step * (steps - 1 - i))
    return values.astype(np.float32).astype(np.float64)


def _augmentation_space(kind, num_bins, height, width):
    """Op name -> (magnitudes float64 (num_bins,) or None for ops without one, signed), in
    torchvision's order, for "autoaugment", "randaugment" or "trivialaugment"."""
    wide = kind == "trivialaugment"
    amount = 0.99 if wide else 0.9
    shear = _linspace32(0.0, 0.99 if wide else 0.3, num_bins)
    shifts = [_linspace32(0.0, 32.0 if wide else 150.0 / 331.0 * size, num_bins)
              for size in (width, height)]
    levels = 6 if wide else 4
    bins = np.arange(num_bins, dtype=np.float32) / np.float32((num_bins - 1) / levels)
    space = {
        "ShearX": (shear, True), "ShearY": (shear, True),
        "TranslateX": (shifts[0], True), "TranslateY": (shifts[1], True),
        "Rotate": (_linspace32(0.0, 135.0 if wide else 30.0, num_bins), True),
        "Brightness": (_linspace32(0.0, amount, num_bins), True),
        "Color": (_linspace32(0.0, amount, num_bins), True),
        "Contrast": (_linspace32(0.0, amount, num_bins), True),
        "Sharpness": (_linspace32(0.0, amount, num_bins), True),
        "Posterize": ((8 - np.rint(bins)).astype(np.float64), False),
        "Solarize": (_linspace32(255.0, 0.0, num_bins), False),
        "AutoContrast": (None, False), "Equalize": (None, False),
    }
    if kind == "autoaugment":
        space["Invert"] = (None, False)
        return space
    return {"Identity": (None, False), **space}


def _sharpness_degenerate(x):
    """torchvision's ``_blurred_degenerate_image``: the 3x3 kernel [[1,1,1],[1,5,1],[1,1,1]] / 13
    inside the 1-pixel border (rounded for uint8), the border kept."""
    wt = _work_dtype(x.dtype)
    xf = x.astype(wt, copy=False)
    edge, centre = wt(1) / wt(13), wt(5) / wt(13)
    h, w = x.shape[2:]
    blurred = sum((centre if (i, j) == (1, 1) else edge) * xf[:, :, i:i + h - 2, j:j + w - 2]
                  for i in range(3) for j in range(3))
    out = x.copy()
    out[:, :, 1:-1, 1:-1] = _round_to(blurred, x.dtype)
    return out


def _autocontrast(x):
    """Stretch each channel to [0, 255], as torchvision's autocontrast on uint8."""
    xf = x.astype(np.float32)
    lo = xf.min(axis=(2, 3), keepdims=True)
    hi = xf.max(axis=(2, 3), keepdims=True)
    with np.errstate(divide="ignore"):
        scale = np.float32(1) / (hi - lo) * np.float32(255)  # torch's 255 / t is reciprocal * 255
    flat = ~np.isfinite(scale)
    lo, scale = np.where(flat, 0, lo), np.where(flat, 1, scale).astype(np.float32)
    return np.clip((xf - lo) * scale, 0, 255).astype(np.uint8)


def _equalize(x):
    """Histogram equalization of each channel of uint8 (N, C, H, W), torchvision's integer rule:
    step = (pixels - count of the top value) // 255; lut = (cumsum + step // 2) // step shifted by
    one bin; channels with step 0 are unchanged."""
    n, c = x.shape[:2]
    flat = x.reshape(n * c, -1).astype(np.int64)
    hist = np.bincount((flat + 256 * np.arange(n * c)[:, None]).ravel(), minlength=256 * n * c)
    hist = hist.reshape(n * c, 256)
    top = 255 - np.argmax(hist[:, ::-1] > 0, axis=1)
    step = (flat.shape[1] - hist[np.arange(n * c), top]) // 255
    safe = np.maximum(step, 1)[:, None]
    lut = (np.cumsum(hist, axis=1) + step[:, None] // 2) // safe
    lut = np.clip(np.concatenate([np.zeros((n * c, 1), np.int64), lut[:, :-1]], axis=1), 0, 255)
    out = np.take_along_axis(lut, flat, axis=1)
    out = np.where(step[:, None] == 0, flat, out)
    return out.astype(np.uint8).reshape(x.shape)


def _geometric(x, name, magnitude, interpolation, fill):
    """torchvision's autoaugment Shear/Translate/Rotate on uint8 (N, C, H, W): shears about the
    top-left corner by atan(magnitude), shifts by int(magnitude) pixels, rotations by magnitude
    degrees counter-clockwise about the centre."""
    n, _, h, w = x.shape
    zeros2 = np.zeros((n, 2))
    angle, shift, shear, center = np.zeros(n), zeros2.copy(), zeros2.copy(), (0.0, 0.0)
    if name in ("ShearX", "ShearY"):
        shear[:, int(name == "ShearY")] = np.degrees(np.arctan(magnitude))
        center = (-w * 0.5, -h * 0.5)
    elif name in ("TranslateX", "TranslateY"):
        shift[:, int(name == "TranslateY")] = np.trunc(magnitude)
    else:
        angle = -magnitude  # rotate() turns by -angle in affine()'s convention
    matrix = _inverse_affine_matrix(center, angle, shift, np.ones(n), shear)
    return _affine(x, matrix, interpolation, fill)


def _apply_op(x, name, magnitude, interpolation="nearest", fill=None):
    """One augmentation op of torchvision's autoaugment module on uint8 (N, C, H, W), each image
    with its own ``magnitude`` (N,) float64 (as torchvision's ``_apply_op``): returns uint8."""
    factor = (1.0 + magnitude)[:, None, None, None]
    if name in ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"):
        return _geometric(x, name, magnitude, interpolation, fill)
    if name == "Brightness":
        return _adjust_brightness(x, factor)
    if name == "Color":
        return _adjust_saturation(x, factor)
    if name == "Contrast":
        return _adjust_contrast(x, factor)
    if name == "Sharpness":
        if min(x.shape[2:]) <= 2:
            return x
        return _blend(x, _sharpness_degenerate(x), factor)
    if name == "Posterize":
        keep = (-(2 ** (8 - magnitude.astype(np.int64)))) & 0xFF
        return x & keep.astype(np.uint8)[:, None, None, None]
    if name == "Solarize":
        return np.where(x >= magnitude[:, None, None, None], 255 - x, x)
    if name == "AutoContrast":
        return _autocontrast(x)
    if name == "Equalize":
        return _equalize(x)
    if name == "Invert":
        return 255 - x
    if name == "Identity":
        return x
    raise ValueError(f"unknown augmentation op {name!r}")


def _uint8_nchw(x, name):
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name}: expected uint8 images (as torchvision requires for this "
                        f"transform); got float {tuple(x.shape)}: apply it before ToTensor")
    x4, restore = _as_nchw(x, name)
    _channels(x4, name)
    return x4, restore


class _AutoAugmentBase(Transform):
    """Shared by the policies: interpolation and fill, and applying per-image ops in groups."""

    def __init__(self, interpolation, fill, generator):
        super().__init__(generator)
        self.interpolation = _interpolation(interpolation, type(self).__name__)
        self.fill = fill

    def _run(self, out, names, magnitudes, active):
        """Apply op ``names[i]`` with ``magnitudes[i]`` to each image i where ``active``,
        one vectorized call per op."""
        for name in np.unique(names[active]):
            members = np.flatnonzero(active & (names == name))
            out[members] = _apply_op(out[members], str(name), magnitudes[members],
                                     self.interpolation, self.fill)

    @staticmethod
    def _magnitudes(space, names, bins, signs):
        """Per image: the magnitude of op ``names[i]`` at bin ``bins[i]``, negated where the op
        is signed and ``signs[i]``; 0 for ops without one."""
        out = np.zeros(len(names))
        for i, (name, b, negate) in enumerate(zip(names, bins, signs)):
            values, signed = space[name]
            if values is not None:
                out[i] = -values[b] if signed and negate else values[b]
        return out


# (op, probability, magnitude bin) pairs of Cubuk et al. 2019, as torchvision lists them
_POLICIES = {
    "imagenet": (
        (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
        (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
        (("Solarize", 0.6, 3), ("Equalize", 0.6, None)),
        (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
        (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
        (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
        (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
        (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
        (("Equalize", 0.0, None), ("Equalize", 0.8, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
        (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
        (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
        (("ShearX", 0.6, 5), ("Equalize", 1.0, None)),
        (("Color", 0.4, 0), ("Equalize", 0.6, None)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    ),
    "cifar10": (
        (("Invert", 0.1, None), ("Contrast", 0.2, 6)),
        (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
        (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
        (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)),
        (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
        (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
        (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
        (("Equalize", 0.6, None), ("Equalize", 0.5, None)),
        (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
        (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
        (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
        (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
        (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
        (("Solarize", 0.5, 2), ("Invert", 0.0, None)),
        (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.2, None), ("Equalize", 0.6, None)),
        (("Color", 0.9, 9), ("Equalize", 0.6, None)),
        (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)),
        (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
        (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)),
        (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)),
        (("Equalize", 0.8, None), ("Invert", 0.1, None)),
        (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
    ),
    "svhn": (
        (("ShearX", 0.9, 4), ("Invert", 0.2, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.6, None), ("Solarize", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("AutoContrast", 0.8, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.4, None)),
        (("ShearY", 0.9, 5), ("Solarize", 0.2, 6)),
        (("Invert", 0.9, None), ("AutoContrast", 0.8, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("Solarize", 0.3, 3)),
        (("ShearY", 0.8, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.9, None), ("TranslateY", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Contrast", 0.3, 3), ("Rotate", 0.8, 4)),
        (("Invert", 0.8, None), ("TranslateY", 0.0, 2)),
        (("ShearY", 0.7, 6), ("Solarize", 0.4, 8)),
        (("Invert", 0.6, None), ("Rotate", 0.8, 4)),
        (("ShearY", 0.3, 7), ("TranslateX", 0.9, 3)),
        (("ShearX", 0.1, 6), ("Invert", 0.6, None)),
        (("Solarize", 0.7, 2), ("TranslateY", 0.6, 7)),
        (("ShearY", 0.8, 4), ("Invert", 0.8, None)),
        (("ShearX", 0.7, 9), ("TranslateY", 0.8, 3)),
        (("ShearY", 0.8, 5), ("AutoContrast", 0.7, None)),
        (("ShearX", 0.7, 2), ("Invert", 0.1, None)),
    ),
}


class AutoAugment(_AutoAugmentBase):
    """AutoAugment (Cubuk et al. 2019) with torchvision's policies, op set and 10 magnitude bins
    (torchvision.transforms.AutoAugment). Each image draws its own sub-policy (uniformly), then
    applies each of its two ops with that op's probability, signed ops negated with probability
    1/2.

    ``policy``: "imagenet" (default), "cifar10" or "svhn" (or torchvision's AutoAugmentPolicy).
    ``interpolation``: "nearest" (default) or "bilinear" for the geometric ops; ``fill``: None
    (zeros), a number or one per channel. Takes uint8 images (torchvision requires uint8 here) in
    the uint8 layouts of the module docstring, with 1 or 3 channels; raises TypeError for float
    images (place it before ToTensor).

    Draws per batch of n, in order: the sub-policy of each image (n,), the (n, 2) uniforms tested
    against the ops' probabilities (op applied when u <= p), the (n, 2) signs (0 negates).
    """

    def __init__(self, policy="imagenet", interpolation="nearest", fill=None, generator=None):
        super().__init__(interpolation, fill, generator)
        policy = getattr(policy, "value", policy)
        if policy not in _POLICIES:
            raise ValueError(f"AutoAugment: policy must be one of {tuple(_POLICIES)}, "
                             f"got {policy!r}")
        self.policy = policy

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x4, restore = _uint8_nchw(x, "AutoAugment")
        n, _, h, w = x4.shape
        rng = self._rng()
        policies = _POLICIES[self.policy]
        chosen = rng.integers(len(policies), size=n)
        probs = rng.random((n, 2))
        signs = rng.integers(2, size=(n, 2))
        space = _augmentation_space("autoaugment", 10, h, w)
        out = x4.copy()
        for step in range(2):
            ops = [policies[k][step] for k in chosen]
            names = np.array([op[0] for op in ops])
            active = probs[:, step] <= np.array([op[1] for op in ops])
            bins = [0 if op[2] is None else op[2] for op in ops]
            mags = self._magnitudes(space, names, bins, signs[:, step] == 0)
            self._run(out, names, mags, active)
        return restore(out)


class RandAugment(_AutoAugmentBase):
    """RandAugment (Cubuk et al. 2020) as torchvision.transforms.RandAugment: ``num_ops`` ops in
    a row, each drawn uniformly per image from torchvision's 14 (Identity, ShearX, ShearY,
    TranslateX, TranslateY, Rotate, Brightness, Color, Contrast, Sharpness, Posterize, Solarize,
    AutoContrast, Equalize), all at bin ``magnitude`` of ``num_magnitude_bins``, signed ops
    negated with probability 1/2. ``interpolation``, ``fill`` and the input as
    :class:`AutoAugment`.

    Draws per op, in order: the op index of each image (n,), then the signs (n,) (1 negates).
    """

    def __init__(self, num_ops=2, magnitude=9, num_magnitude_bins=31, interpolation="nearest",
                 fill=None, generator=None):
        super().__init__(interpolation, fill, generator)
        if int(num_ops) < 0:
            raise ValueError(f"RandAugment: num_ops must be >= 0, got {num_ops}")
        if int(num_magnitude_bins) < 2 or not 0 <= int(magnitude) < int(num_magnitude_bins):
            raise ValueError(f"RandAugment: magnitude must be in [0, num_magnitude_bins) and "
                             f"num_magnitude_bins >= 2, got magnitude={magnitude}, "
                             f"num_magnitude_bins={num_magnitude_bins}")
        self.num_ops, self.magnitude = int(num_ops), int(magnitude)
        self.num_magnitude_bins = int(num_magnitude_bins)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x4, restore = _uint8_nchw(x, "RandAugment")
        n, _, h, w = x4.shape
        rng = self._rng()
        space = _augmentation_space("randaugment", self.num_magnitude_bins, h, w)
        keys = np.array(list(space))
        out = x4.copy()
        for _ in range(self.num_ops):
            names = keys[rng.integers(len(keys), size=n)]
            negate = rng.integers(2, size=n) == 1
            mags = self._magnitudes(space, names, [self.magnitude] * n, negate)
            self._run(out, names, mags, np.ones(n, bool))
        return restore(out)


class TrivialAugmentWide(_AutoAugmentBase):
    """TrivialAugment Wide (Müller & Hutter 2021) as torchvision.transforms.TrivialAugmentWide:
    one op per image drawn uniformly from RandAugment's 14, at a magnitude bin drawn uniformly
    from ``num_magnitude_bins`` of the wide ranges, signed ops negated with probability 1/2.
    ``interpolation``, ``fill`` and the input as :class:`AutoAugment`.

    Draws, in order: the op index (n,), the bin (n,), the signs (n,) (1 negates).
    """

    def __init__(self, num_magnitude_bins=31, interpolation="nearest", fill=None,
                 generator=None):
        super().__init__(interpolation, fill, generator)
        if int(num_magnitude_bins) < 2:
            raise ValueError(f"TrivialAugmentWide: num_magnitude_bins must be >= 2, "
                             f"got {num_magnitude_bins}")
        self.num_magnitude_bins = int(num_magnitude_bins)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x4, restore = _uint8_nchw(x, "TrivialAugmentWide")
        n, _, h, w = x4.shape
        rng = self._rng()
        space = _augmentation_space("trivialaugment", self.num_magnitude_bins, h, w)
        keys = np.array(list(space))
        names = keys[rng.integers(len(keys), size=n)]
        bins = rng.integers(self.num_magnitude_bins, size=n)
        negate = rng.integers(2, size=n) == 1
        out = x4.copy()
        self._run(out, names, self._magnitudes(space, names, bins, negate), np.ones(n, bool))
        return restore(out)


# ---------------------------------------------------------------- batch mixing


def _unwrap(images, labels, name, num_classes):
    """NCHW float images and (N, K) float32 soft labels from arrays or minicnn Tensors."""
    from ..tensor import Tensor

    is_tensor = isinstance(images, Tensor)
    x = images.numpy() if is_tensor else np.asarray(images)
    y = labels.numpy() if isinstance(labels, Tensor) else np.asarray(labels)
    if x.ndim != 4 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name}: images must be a float batch (N, C, H, W), got shape "
                         f"{tuple(x.shape)} "
                         f"and dtype {x.dtype}")
    if y.ndim == 1:
        if num_classes is None:
            raise ValueError(f"{name}: num_classes is needed to one-hot encode integer labels")
        in_range = y.size == 0 or (y.min() >= 0 and y.max() < num_classes)
        if not np.issubdtype(y.dtype, np.integer) or not in_range:
            raise ValueError(f"{name}: labels must be integers in [0, {num_classes}), got {y!r}")
        soft = np.zeros((y.shape[0], num_classes), np.float32)
        soft[np.arange(y.shape[0]), y] = 1
    elif y.ndim == 2:
        soft = y.astype(np.float32)
    else:
        raise ValueError(f"{name}: labels must be (N,) class indices or (N, K) probabilities, "
                         f"got shape {tuple(y.shape)}")
    if soft.shape[0] != x.shape[0]:
        raise ValueError(f"{name}: {x.shape[0]} images but {soft.shape[0]} labels")
    wrap = (lambda a: Tensor(a, device=images.device)) if is_tensor else (lambda a: a)
    return x, soft, wrap


class _Mixing(Transform):
    batched = False  # a whole-batch operation, not a per-image transform

    def __init__(self, alpha, num_classes, generator):
        super().__init__(generator)
        if not alpha > 0:
            raise ValueError(f"{type(self).__name__}: alpha must be > 0, got {alpha}")
        if num_classes is not None and int(num_classes) < 1:
            raise ValueError(f"{type(self).__name__}: num_classes must be >= 1, got {num_classes}")
        self.alpha = float(alpha)
        self.num_classes = None if num_classes is None else int(num_classes)


class Mixup(_Mixing):
    """Mixup (Zhang et al. 2018) on a batch, as torchvision.transforms.v2.MixUp: one
    ``lam ~ Beta(alpha, alpha)`` per batch; image i is mixed with image i-1 (the batch rolled by
    one): ``x = lam * x + (1 - lam) * roll(x)``, and likewise the one-hot labels.

    Call with ``(images, labels)``: float ``(N, C, H, W)`` (ndarray or Tensor) and int labels
    ``(N,)`` (or soft labels ``(N, num_classes)``). Returns ``(images, soft_labels)``, soft labels
    float32 ``(N, num_classes)`` summing to 1, of the same kind (ndarray or Tensor) as the input.
    The last ``lam`` is kept in ``self.lam``.
    """

    def __init__(self, alpha=1.0, num_classes=None, generator=None):
        super().__init__(alpha, num_classes, generator)

    def __call__(self, images, labels):
        x, y, wrap = _unwrap(images, labels, "Mixup", self.num_classes)
        lam = float(self._rng().beta(self.alpha, self.alpha))
        self.lam = lam
        out = (lam * x + (1 - lam) * np.roll(x, 1, axis=0)).astype(x.dtype, copy=False)
        soft = (lam * y + (1 - lam) * np.roll(y, 1, axis=0)).astype(np.float32)
        return wrap(out), wrap(soft)


class CutMix(_Mixing):
    """CutMix (Yun et al. 2019) on a batch, as torchvision.transforms.v2.CutMix: one
    ``lam ~ Beta(alpha, alpha)`` per batch gives a box of about (1 - lam) of the image area, at a
    uniformly drawn centre (clipped at the borders); image i gets that box from image i-1, and the
    labels are mixed by the pasted area: ``lam = 1 - box area / image area``.

    Same call and return as :class:`Mixup`; the last box (top, left, bottom, right) and its
    ``lam`` are kept in ``self.box`` and ``self.lam``.
    """

    def __init__(self, alpha=1.0, num_classes=None, generator=None):
        super().__init__(alpha, num_classes, generator)

    def __call__(self, images, labels):
        x, y, wrap = _unwrap(images, labels, "CutMix", self.num_classes)
        rng = self._rng()
        lam = float(rng.beta(self.alpha, self.alpha))
        h, w = x.shape[2:]
        cx, cy = int(rng.integers(w)), int(rng.integers(h))
        r = 0.5 * math.sqrt(1 - lam)
        half_w, half_h = int(r * w), int(r * h)
        x1, y1 = max(cx - half_w, 0), max(cy - half_h, 0)
        x2, y2 = min(cx + half_w, w), min(cy + half_h, h)
        out = x.copy()
        out[:, :, y1:y2, x1:x2] = np.roll(x, 1, axis=0)[:, :, y1:y2, x1:x2]
        lam = 1 - (x2 - x1) * (y2 - y1) / (w * h)
        self.box, self.lam = (y1, x1, y2, x2), lam
        soft = (lam * y + (1 - lam) * np.roll(y, 1, axis=0)).astype(np.float32)
        return wrap(out), wrap(soft)
