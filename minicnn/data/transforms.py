"""Image transforms with torchvision's names, vectorized over a batch.

Every transform is a callable that takes one image or a whole batch:

- after :class:`ToTensor`: float32 ``(C, H, W)`` or ``(N, C, H, W)`` (torchvision's tensor layout);
- before it, the spatial transforms (:class:`RandomCrop`, :class:`RandomHorizontalFlip`,
  :class:`RandomRotation`) also take the uint8 arrays a data set stores: ``(H, W)``,
  ``(H, W, C)``, ``(N, H, W)`` or ``(N, H, W, C)``; a 3-D uint8 array is one ``(H, W, C)`` image
  when its last axis is 1, 3 or 4, else a ``(N, H, W)`` batch. The output keeps the input's layout.

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

__all__ = ["Compose", "ToTensor", "Normalize", "RandomCrop", "RandomHorizontalFlip",
           "RandomRotation", "ColorJitter", "RandomErasing", "Mixup", "CutMix", "use_generator"]

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
        np.multiply(x4, np.float32(1 / 255), out=out)
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


# ---------------------------------------------------------------- random photometric


def _grayscale(x):
    """ITU-R 601-2 luma of (n, 3, H, W), as torchvision's rgb_to_grayscale: (n, 1, H, W)."""
    return (0.2989 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).astype(x.dtype)


def _blend(a, b, factor):
    return np.clip(factor * a + (1 - factor) * b, 0, 1).astype(a.dtype, copy=False)


def _rgb_to_hsv(x):
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    maxc, minc = x.max(axis=1), x.min(axis=1)
    v = maxc
    delta = maxc - minc
    safe_max = np.where(maxc == 0, 1, maxc)
    s = delta / safe_max
    safe_delta = np.where(delta == 0, 1, delta)
    rc, gc, bc = (maxc - r) / safe_delta, (maxc - g) / safe_delta, (maxc - b) / safe_delta
    h = np.where(maxc == r, bc - gc, np.where(maxc == g, 2 + rc - bc, 4 + gc - rc))
    h = np.where(delta == 0, 0, (h / 6) % 1)
    return h, s, v


def _hsv_to_rgb(h, s, v):
    i = np.floor(h * 6)
    f = h * 6 - i
    i = i.astype(np.int64) % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=1)


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


class ColorJitter(Transform):
    """Randomly change brightness, contrast, saturation and hue, in a random order per image
    (torchvision.transforms.ColorJitter, same formulas). Takes float images in [0, 1]
    ``(C, H, W)`` or ``(N, C, H, W)`` with C = 1 or 3 (place it before Normalize); saturation and
    hue leave single-channel images unchanged, as torchvision does.

    ``brightness``, ``contrast``, ``saturation``: a number v (factor drawn from
    [max(0, 1 - v), 1 + v]) or a (min, max) pair; ``hue``: a number in [0, 0.5] or a pair within
    [-0.5, 0.5] (shift of the hue, as a fraction of the colour wheel).
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0, generator=None):
        super().__init__(generator)
        self.brightness = _range(brightness, "ColorJitter", "brightness")
        self.contrast = _range(contrast, "ColorJitter", "contrast")
        self.saturation = _range(saturation, "ColorJitter", "saturation")
        self.hue = _range(hue, "ColorJitter", "hue", center=0, bound=(-0.5, 0.5), clip_first=False)

    @staticmethod
    def _apply(op, x, f):
        if op == 0:
            return np.clip(x * f, 0, 1).astype(x.dtype, copy=False)
        if op == 1:
            gray = x if x.shape[1] == 1 else _grayscale(x)
            return _blend(x, gray.mean(axis=(1, 2, 3), keepdims=True, dtype=np.float64), f)
        if x.shape[1] == 1:
            return x
        if op == 2:
            return _blend(x, _grayscale(x), f)
        h, s, v = _rgb_to_hsv(x)
        return _hsv_to_rgb((h + f[:, 0]) % 1.0, s, v).astype(x.dtype, copy=False)

    def __call__(self, x):
        x4, restore = _as_nchw(x, "ColorJitter", allow_uint8=False)
        n, c = x4.shape[:2]
        if c not in (1, 3):
            raise ValueError(f"ColorJitter: expected 1 or 3 channels, got {c}")
        rng = self._rng()
        ranges = (self.brightness, self.contrast, self.saturation, self.hue)
        factors = [None if r is None else rng.uniform(*r, size=n).reshape(n, 1, 1, 1)
                   for r in ranges]
        order = np.argsort(rng.random((n, 4)), axis=1)  # a random order of the 4 ops per image
        out = x4.copy()
        for step in range(4):
            for op in range(4):
                if factors[op] is None:
                    continue
                members = np.flatnonzero(order[:, step] == op)
                if members.size:
                    out[members] = self._apply(op, out[members], factors[op][members])
        return restore(out)


class RandomErasing(Transform):
    """Erase a random rectangle in each image with probability ``p``
    (torchvision.transforms.RandomErasing, same sampling: up to 10 tries per image for a box of
    area ``scale`` x image area and aspect ratio in ``ratio`` (drawn log-uniformly) that fits;
    the image is left unchanged when none fits). Takes float ``(C, H, W)`` or ``(N, C, H, W)``.

    ``value``: a number, one number per channel, or "random" (standard normal noise).
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
        x4, restore = _as_nchw(x, "RandomErasing", allow_uint8=False)
        n, c, h, w = x4.shape
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
