"""Ops for pooling: max and average pooling (max pooling saves its argmax indices for the
backward), adaptive max and average pooling, and power-average (Lp) pooling, with PyTorch's names,
signatures and semantics (``torch.nn.functional``).

Inputs are (N, C, H, W) or, as in PyTorch, unbatched (C, H, W); float32 or float64. The work is
done by the device's backend kernels (``ctx.backend``: C with OpenMP on "cpu", the NumPy
reference on "numpy"), whose docstrings (minicnn/backends/reference/pool.py) give the window and
divisor rules. The argument checks raise TypeError (wrong type) or ValueError (wrong value or
shape), naming the argument; the window's (:mod:`minicnn.geometry`, shared with the layers)
raise GeometryError, both a ValueError and the RuntimeError that PyTorch raises.
"""
from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from ..autograd import Function, is_floating_dtype, is_grad_enabled
from ..geometry import is_int, output_size, pair, pool_window
from ..tensor import Tensor
from ._util import c_contiguous as _c

if TYPE_CHECKING:
    from ..types import IntPair

__all__ = ["max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "adaptive_avg_pool2d",
           "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices", "lp_pool2d"]


def _batched(x):
    """(x as a C-contiguous (N, C, H, W) array, whether x was already batched)."""
    return (_c(x), True) if x.ndim == 4 else (_c(x[None]), False)


def _unbatch(a, batched):
    return a if batched else a[0]


# ---------------------------------------------------------------- Functions

def _max_pool_outputs(ctx, x4, y, ind, return_indices):
    """The outputs of a max pooling forward (plain or adaptive): the values, and with
    ``return_indices`` also the int64 indices, non-differentiable. The indices saved are the
    very array returned, so an in-place change of the returned indices is caught in backward."""
    ctx.size = x4.shape[2:]
    y = _unbatch(y, ctx.batched)
    ind = None if ind is None else _unbatch(ind, ctx.batched)
    ctx.save_for_backward(ind)
    if not return_indices:
        return y
    ctx.mark_non_differentiable(ind)
    return y, ind


def _max_pool_backward(ctx, g):
    """Max pooling's gradient (plain or adaptive): scattered through the saved argmax indices."""
    (ind,) = ctx.saved_tensors
    g4, ind4 = (g, ind) if ctx.batched else (g[None], ind[None])
    return _unbatch(ctx.backend.max_pool2d_backward(_c(g4), ind4, *ctx.size), ctx.batched)


class MaxPool2dFn(Function):
    """Max pooling; backward scatters the gradient through the saved argmax indices.

    forward(ctx, x, params, return_indices): params = (kh, kw, sh, sw, ph, pw, dh, dw,
    ceil_mode). Returns the values, or (values, indices) with ``return_indices``.
    """

    @staticmethod
    def forward(ctx, x, params, return_indices):
        x4, ctx.batched = _batched(x)
        # indices are written only when someone will read them: inference skips that traffic
        need = return_indices or (ctx.needs_input_grad[0] and is_grad_enabled())
        y, ind = ctx.backend.max_pool2d(x4, *params, need)
        return _max_pool_outputs(ctx, x4, y, ind, return_indices)

    @staticmethod
    def backward(ctx, g, grad_indices=None):
        return _max_pool_backward(ctx, g), None, None


class AdaptiveMaxPool2dFn(Function):
    """Adaptive max pooling; the backward is max pooling's (scatter through the indices).
    forward(ctx, x, oh, ow, return_indices): returns as MaxPool2dFn's."""

    @staticmethod
    def forward(ctx, x, oh, ow, return_indices):
        x4, ctx.batched = _batched(x)
        y, ind = ctx.backend.adaptive_max_pool2d(x4, oh, ow)
        return _max_pool_outputs(ctx, x4, y, ind, return_indices)

    @staticmethod
    def backward(ctx, g, grad_indices=None):
        return _max_pool_backward(ctx, g), None, None, None


class AvgPool2dFn(Function):
    """Average pooling: params = (kh, kw, sh, sw, ph, pw, ceil_mode, count_include_pad,
    divisor_override). Backward spreads grad / divisor over each window."""

    @staticmethod
    def forward(ctx, x, params):
        x4, ctx.batched = _batched(x)
        ctx.size, ctx.params = x4.shape[2:], params
        return _unbatch(ctx.backend.avg_pool2d(x4, *params), ctx.batched)

    @staticmethod
    def backward(ctx, g):
        g4 = _c(g if ctx.batched else g[None])
        gx = ctx.backend.avg_pool2d_backward(g4, *ctx.size, *ctx.params)
        return _unbatch(gx, ctx.batched), None


class AdaptiveAvgPool2dFn(Function):
    @staticmethod
    def forward(ctx, x, oh, ow):
        x4, ctx.batched = _batched(x)
        ctx.size = x4.shape[2:]
        return _unbatch(ctx.backend.adaptive_avg_pool2d(x4, oh, ow), ctx.batched)

    @staticmethod
    def backward(ctx, g):
        g4 = _c(g if ctx.batched else g[None])
        gx = ctx.backend.adaptive_avg_pool2d_backward(g4, *ctx.size)
        return _unbatch(gx, ctx.batched), None, None


def _sign(a):
    """PyTorch's sign: -1, 0 or 1, and 0 for NaN (NumPy's np.sign gives NaN)."""
    return ((a > 0).astype(a.dtype) - (a < 0).astype(a.dtype))


class LpRootFn(Function):
    """The last step of lp_pool2d, PyTorch's expression on the average of x^p over a window o:
    y = (sign(o) * relu(|o|) * area) ** (1 / p). Its gradient is that of the composed PyTorch ops
    (pow, mul, sign * relu(abs)); in particular it is 0 where o == 0 (not 0 * inf = nan)."""

    @staticmethod
    def forward(ctx, o, p, area):
        with np.errstate(invalid="ignore", divide="ignore"):
            s = _sign(o)
            r = np.maximum(np.abs(o), 0)  # relu(|o|); keeps NaN like torch.relu
            t = s * r * o.dtype.type(area)
            y = t ** (1.0 / p)
        ctx.save_for_backward(s, r, t)
        ctx.p, ctx.area = p, area
        return y.astype(o.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        s, r, t = ctx.saved_tensors
        e = 1.0 / ctx.p
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            gt = g * (e * t ** (e - 1))           # pow backward
            gr = gt * t.dtype.type(ctx.area) * s  # mul(area), then mul(sign) backward
            gr = np.where(r <= 0, 0, gr)          # relu backward (threshold_backward)
            go = gr * s                           # abs backward: grad * sgn(o)
        return go.astype(g.dtype, copy=False), None, None


# ---------------------------------------------------------------- argument checks

def _check_input(fn, input, nonempty_channels=True):
    """input must be a float32/float64 Tensor of shape (N, C, H, W) or (C, H, W), with non-zero
    C (unless ``nonempty_channels`` is False), H and W (N may be 0), as PyTorch requires."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a minicnn.Tensor, got {type(input).__name__}")
    if not is_floating_dtype(input.dtype):
        raise TypeError(f"{fn}: input must have dtype float32 or float64, got {input.dtype}")
    if input.ndim not in (3, 4):
        raise ValueError(f"{fn}: input must have shape (N, C, H, W) or (C, H, W), got "
                         f"{tuple(input.shape)} ({input.ndim}-D)")
    checked = input.shape[-3:] if nonempty_channels else input.shape[-2:]
    if 0 in checked:
        dims = "C, H and W" if nonempty_channels else "H and W"
        raise ValueError(f"{fn}: input must have non-zero {dims} (only the batch may be empty), "
                         f"got shape {tuple(input.shape)}")


def _geometry(fn, input, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate a pooling window for ``input``; return (kh, kw, sh, sw, ph, pw, dh, dw)."""
    window = pool_window(kernel_size, stride, padding, dilation, fn)
    output_size(fn, input.shape[-2:], *window, ceil_mode)
    return sum(window, ())


def _adaptive_size(fn, input, value):
    """output_size ``value`` as (oh, ow): an int, or a pair whose None entries keep the input's
    size."""
    size = pair(value, "output_size", fn, 0, optional=True)
    return tuple(input.shape[-2 + i] if v is None else v for i, v in enumerate(size))


# ---------------------------------------------------------------- public functions

def max_pool2d(input: Tensor, kernel_size: IntPair, stride: IntPair | None = None,
               padding: IntPair = 0, dilation: IntPair = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """2-D max pooling (``torch.nn.functional.max_pool2d``).

    input (N, C, H, W) or (C, H, W), float32/float64 -> output (N, C, Ho, Wo) (or (C, Ho, Wo)),
    Ho = floor((H + 2 padding - dilation (kernel_size - 1) - 1) / stride) + 1 (ceil instead of
    floor with ``ceil_mode``, as long as the last window starts inside the input or the left
    padding); the same for Wo. Each output is the maximum over its window, the padding being
    -inf; ties go to the first maximum and a NaN always propagates (as PyTorch).

    kernel_size, stride (default: kernel_size), padding, dilation: an int or a pair (h, w).
    ``return_indices=True`` also returns int64 indices (shape of the output): the flat position
    ih * W + iw of each maximum inside its (H, W) plane, exactly as PyTorch's, as a second output
    of the same Function call that never requires grad. The gradient flows to those positions
    (accumulated where windows overlap).

    Raises TypeError for a non-Tensor or non-float input or a non-int argument, ValueError for a
    wrong rank or empty C/H/W; :class:`~minicnn.geometry.GeometryError` (a ValueError and a
    RuntimeError) for kernel_size/stride/dilation < 1, padding < 0 or above kernel_size // 2, a
    tuple of the wrong length, or a kernel larger than the padded input.
    """
    _check_input("max_pool2d", input)
    params = _geometry("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode)
    return MaxPool2dFn.apply(input, params + (bool(ceil_mode),), bool(return_indices))


def max_pool2d_with_indices(input: Tensor, kernel_size: IntPair,
                            stride: IntPair | None = None, padding: IntPair = 0,
                            dilation: IntPair = 1, ceil_mode: bool = False,
                            return_indices: bool = True) -> Tensor | tuple[Tensor, Tensor]:
    """max_pool2d returning (output, indices) (``torch.nn.functional.max_pool2d_with_indices``)."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def avg_pool2d(input: Tensor, kernel_size: IntPair, stride: IntPair | None = None,
               padding: IntPair = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-D average pooling (``torch.nn.functional.avg_pool2d``).

    input (N, C, H, W) or (C, H, W), float32/float64 -> output (N, C, Ho, Wo), sizes as
    max_pool2d's (dilation 1). Each output is the sum of its window (zero padding) divided by:
    ``divisor_override`` when given; else the window size counted up to the padded border
    (``count_include_pad=True``: with ceil_mode a window running past the padding is clipped
    there) or only its elements inside the input (``count_include_pad=False``). A window with
    no input element gives 0. These are PyTorch's rules
    (aten/src/ATen/native/cpu/AvgPoolKernel.cpp).

    Raises TypeError / ValueError as max_pool2d, and ValueError for divisor_override == 0.
    """
    fn = "avg_pool2d"
    _check_input(fn, input)
    kh, kw, sh, sw, ph, pw, _, _ = _geometry(fn, input, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if not is_int(divisor_override):
            raise TypeError(f"{fn}: divisor_override must be an int or None, got "
                            f"{divisor_override!r}")
        if divisor_override == 0:
            raise ValueError(f"{fn}: divisor_override must be non-zero, got 0")
        divisor_override = int(divisor_override)
    params = (kh, kw, sh, sw, ph, pw, bool(ceil_mode), bool(count_include_pad), divisor_override)
    return AvgPool2dFn.apply(input, params)


def adaptive_avg_pool2d(input: Tensor,
                        output_size: int | None | tuple[int | None, int | None]) -> Tensor:
    """2-D adaptive average pooling (``torch.nn.functional.adaptive_avg_pool2d``).

    input (N, C, H, W) or (C, H, W) -> output (N, C, oh, ow) for output_size = oh (square), or
    (oh, ow) where None keeps the input's size. Output (i, j) averages rows
    [floor(i H / oh), ceil((i + 1) H / oh)) and the matching columns (PyTorch's windows).

    Raises TypeError for a non-Tensor or non-float input or a non-int output_size, ValueError
    for a wrong rank or empty H or W, GeometryError for a negative output size or a tuple of
    another length than 2.
    """
    fn = "adaptive_avg_pool2d"
    _check_input(fn, input, nonempty_channels=False)
    oh, ow = _adaptive_size(fn, input, output_size)
    return AdaptiveAvgPool2dFn.apply(input, oh, ow)


def adaptive_max_pool2d(input: Tensor,
                        output_size: int | None | tuple[int | None, int | None],
                        return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """2-D adaptive max pooling (``torch.nn.functional.adaptive_max_pool2d``).

    Windows as adaptive_avg_pool2d's, maxima (and ``return_indices``) as max_pool2d's.
    Errors as adaptive_avg_pool2d.
    """
    fn = "adaptive_max_pool2d"
    _check_input(fn, input, nonempty_channels=False)
    oh, ow = _adaptive_size(fn, input, output_size)
    return AdaptiveMaxPool2dFn.apply(input, oh, ow, bool(return_indices))


def adaptive_max_pool2d_with_indices(
        input: Tensor, output_size: int | None | tuple[int | None, int | None],
        return_indices: bool = True) -> Tensor | tuple[Tensor, Tensor]:
    """adaptive_max_pool2d returning (output, indices)."""
    return adaptive_max_pool2d(input, output_size, True)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size: IntPair,
              stride: IntPair | None = None, ceil_mode: bool = False) -> Tensor:
    """2-D power-average pooling (``torch.nn.functional.lp_pool2d``).

    output = (sum over the window of input ** p) ** (1 / p) for p = ``norm_type``, computed as
    PyTorch does: o = avg_pool2d(input ** p, kernel_size, stride, 0, ceil_mode), then
    (sign(o) * relu(|o|) * kh * kw) ** (1 / p). So with ceil_mode a clipped window's average is
    still scaled by the full kh * kw, and negative sums give NaN for fractional 1 / p (as in
    PyTorch). Shapes, kernel_size and stride as avg_pool2d (no padding).

    Raises TypeError for a non-number norm_type, ValueError for norm_type == 0, and the errors
    of avg_pool2d.
    """
    fn = "lp_pool2d"
    if not isinstance(norm_type, numbers.Real) or isinstance(norm_type, bool):
        raise TypeError(f"{fn}: norm_type must be a number, got {norm_type!r}")
    if norm_type == 0:
        raise ValueError(f"{fn}: norm_type must be non-zero (the result is a 1 / norm_type power)")
    _check_input(fn, input)
    kh, kw = _geometry(fn, input, kernel_size, stride, 0, 1, ceil_mode)[:2]
    p = norm_type if is_int(norm_type) else float(norm_type)
    out = avg_pool2d(input ** p, kernel_size, stride, 0, ceil_mode)
    return LpRootFn.apply(out, float(norm_type), kh * kw)
