"""Linear layer, dropout, and losses (``torch.nn.functional``'s linear, dropout, dropout2d,
cross_entropy, nll_loss, mse_loss).

cross_entropy with class-index targets runs the fused kernel ``cross_entropy`` (log-softmax and
negative log-likelihood in one pass per row, C with OpenMP on the "cpu" device, see
csrc/cpu/loss.c); its NumPy twin is in minicnn/backends/reference/loss.py. These functions are
small-tensor hot paths (a classifier head and its loss run once per step), so each does little
Python work per call.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import random as _random
from ..autograd import Function, is_floating_dtype, is_grad_enabled
from ..backends import array_table
from ..device import move
from ..tensor import Tensor
from . import _autocast
from ._util import c_contiguous as _c
from .activation import log_softmax

__all__ = ["linear", "dropout", "dropout2d", "cross_entropy", "nll_loss", "mse_loss"]

_REDUCTIONS = ("none", "mean", "sum")


def _tensor(fn, name, x):
    """Require a floating-point Tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor, got {type(x).__name__}")
    if not is_floating_dtype(x._data.dtype):
        raise TypeError(f"{fn}: {name} must have a floating dtype (float32 or float64), "
                        f"got {x.dtype}")


def _reduction(fn, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _mean(total, count):
    """total / count as PyTorch's float division gives it: nan for 0/0, +-inf for x/0."""
    if count:
        return total / count
    return math.nan if total == 0 or math.isnan(total) else math.copysign(math.inf, total)


# ---------------------------------------------------------------- linear

class LinearFn(Function):
    """y = x W^T + b over the last axis of x, on the backend's linear kernels."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        x2 = _c(x.reshape(math.prod(x.shape[:-1]), x.shape[-1]) if x.ndim != 2 else x)
        weight = _c(weight)
        y = ctx.backend.linear(x2, weight, None if bias is None else _c(bias))
        ctx.save_for_backward(x2, weight)
        ctx.x_shape = x.shape
        return y.reshape(x.shape[:-1] + (weight.shape[0],)) if x.ndim != 2 else y

    @staticmethod
    def backward(ctx, g):
        x2, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        g2 = _c(g.reshape(math.prod(g.shape[:-1]), g.shape[-1]) if g.ndim != 2 else g)
        gx = (ctx.backend.linear_backward_input(g2, weight).reshape(ctx.x_shape) if needs[0]
              else None)
        gw = ctx.backend.linear_backward_weight(g2, x2) if needs[1] else None
        gb = ctx.backend.bias_add_backward(g2) if len(needs) > 2 and needs[2] else None
        return (gx, gw, gb) if len(needs) > 2 else (gx, gw)


@_autocast.lower_precision
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map y = input @ weight^T + bias (``torch.nn.functional.linear``).

    Shapes: input (*, in_features) (any number of leading dimensions, including none), weight
    (out_features, in_features), bias (out_features,) or None; output (*, out_features). All
    float32 or all float64. Gradients for input, weight and bias, each computed only when
    needed. Raises TypeError for non-tensor or non-float arguments and ValueError when the shapes
    do not fit (naming both).
    """
    _tensor("linear", "input", input)
    _tensor("linear", "weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must have shape (out_features, in_features), got "
                         f"{tuple(weight.shape)}")
    if input.ndim < 1 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {tuple(input.shape)} does not fit weight of "
                         "shape "
                         f"{tuple(weight.shape)}: expected input (*, {weight.shape[1]})")
    if bias is None:
        return LinearFn.apply(input, weight)
    _tensor("linear", "bias", bias)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},) for weight of shape "
                         f"{tuple(weight.shape)}, got {tuple(bias.shape)}")
    return LinearFn.apply(input, weight, bias)


# ---------------------------------------------------------------- dropout

class DropoutFn(Function):
    """y = x * noise with a fixed noise array (0 or 1 / (1 - p), broadcast over x)."""

    @staticmethod
    def forward(ctx, x, noise):
        ctx.save_for_backward(noise)
        return x * noise

    @staticmethod
    def backward(ctx, g):
        (noise,) = ctx.saved_tensors
        return g * noise, None


def _check_p(fn, p):
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{fn}: dropout probability p has to be between 0 and 1, but got {p}")
    return p


def _noise(shape, dtype, p):
    """PyTorch's inverted-dropout noise: each entry kept with probability 1 - p (drawn from
    minicnn's generator, so ``minicnn.manual_seed`` fixes it) and then worth 1 / (1 - p) in the
    input's dtype; all zeros for p = 1."""
    dtype = np.dtype(dtype)
    if p == 1.0:
        return np.zeros(shape, dtype)
    keep = _random.default_generator().random(shape, dtype=np.float32) >= np.float32(p)
    scale = dtype.type(1) / dtype.type(1.0 - p)
    return np.where(keep, scale, dtype.type(0))


def _apply_dropout(fn, input, noise, inplace):
    noise = move(noise, input.device)  # drawn on the host, by minicnn's generator
    if inplace:
        if input.requires_grad and is_grad_enabled():
            raise RuntimeError(f"{fn}(inplace=True): a tensor that requires grad cannot be "
                               "modified in place while gradients are recorded (minicnn has no "
                               "in-place autograd); use inplace=False")
        np.multiply(input._data, noise, out=input._data)
        return input
    return DropoutFn.apply(input, noise)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout (Srivastava et al. 2014; ``torch.nn.functional.dropout``).

    In training, each element is zeroed with probability ``p`` and the others are multiplied by
    1 / (1 - p), so the expected value is unchanged; the mask comes from minicnn's generator
    (:func:`minicnn.manual_seed` makes it reproducible) and the gradient uses the same mask.
    ``training=False`` or ``p=0`` return ``input`` itself; ``p=1`` gives zeros. Any shape, float32
    or float64. ``inplace=True`` overwrites ``input`` (only allowed where no gradient is recorded
    for it). Raises ValueError for p outside [0, 1] and TypeError for a non-float tensor.
    """
    _tensor("dropout", "input", input)
    p = _check_p("dropout", p)
    if not training or p == 0.0:
        return input
    return _apply_dropout("dropout", input, _noise(input.shape, input.dtype, p), inplace)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Channel dropout (Tompson et al. 2015; ``torch.nn.functional.dropout2d``): zeroes whole
    channels of an (N, C, H, W) input with probability ``p`` and scales the kept ones by
    1 / (1 - p); one draw per (n, c). Like PyTorch, a 3-D input is read as (N, C, L) (with a
    warning), and inputs that are not 3-D or 4-D warn. Raises ValueError for p outside [0, 1] or
    an input with fewer than 2 dimensions.
    """
    _tensor("dropout2d", "input", input)
    p = _check_p("dropout2d", p)
    if input.ndim < 2:
        raise ValueError(f"dropout2d: input must have shape (N, C, H, W), got {tuple(input.shape)}")
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is "
                      "deprecated in PyTorch; dropout2d is meant for (N, C, H, W) inputs",
                      UserWarning, stacklevel=2)
    elif input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d; as PyTorch does, it is read "
                      "as (N, C, L) and whole (n, c) rows are dropped", UserWarning, stacklevel=2)
    if not training or p == 0.0:
        return input
    shape = input.shape[:2] + (1,) * (input.ndim - 2)
    return _apply_dropout("dropout2d", input, _noise(shape, input.dtype, p), inplace)


# ---------------------------------------------------------------- cross entropy and nll

class CrossEntropyFn(Function):
    """Fused log-softmax + negative log-likelihood over class-index targets (backend kernel
    ``cross_entropy``); forward saves only the per-row max and log-sum-exp."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, label_smoothing, reduction):
        unbatched = x.ndim == 1
        if unbatched:
            x, target = x.reshape(1, x.shape[0]), target.reshape(1)
        x = _c(x)
        if weight is not None:
            weight = _c(weight)
        loss, stats, lsum, wsum = ctx.backend.cross_entropy(x, target, weight, ignore_index,
                                                            label_smoothing)
        ctx.save_for_backward(x, target, weight, stats)
        ctx.args = (ignore_index, label_smoothing, reduction, wsum, unbatched)
        if reduction == "none":
            return loss.reshape(()) if unbatched else loss
        return ctx.backend.full((), lsum if reduction == "sum" else _mean(lsum, wsum), x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, target, weight, stats = ctx.saved_tensors
        ignore_index, label_smoothing, reduction, wsum, unbatched = ctx.args
        if reduction == "none":
            g = _c(g).reshape(1) if unbatched else _c(g)
            scale = 1.0
        else:
            scale = 1.0 if reduction == "sum" else _mean(1.0, wsum)
        gx = ctx.backend.cross_entropy_backward(g, x, target, weight, stats, ignore_index,
                                                label_smoothing, scale)
        return (gx[0] if unbatched else gx), None, None, None, None, None


class NLLLossFn(Function):
    """Negative log-likelihood of log-probabilities (backend kernel ``nll_loss``)."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction):
        unbatched = x.ndim == 1
        if unbatched:
            x, target = x.reshape(1, x.shape[0]), target.reshape(1)
        loss, lsum, wsum = ctx.backend.nll_loss(x, target, weight, ignore_index)
        ctx.save_for_backward(x, target, weight)
        ctx.args = (ignore_index, reduction, wsum, unbatched)
        if reduction == "none":
            return loss.reshape(()) if unbatched else loss
        return ctx.backend.full((), lsum if reduction == "sum" else _mean(lsum, wsum), x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, target, weight = ctx.saved_tensors
        ignore_index, reduction, wsum, unbatched = ctx.args
        if reduction == "none" and unbatched:
            g = g.reshape(1)
        scale = _mean(1.0, wsum) if reduction == "mean" else 1.0
        gx = ctx.backend.nll_loss_backward(g, x, target, weight, ignore_index, scale)
        return (gx[0] if unbatched else gx), None, None, None, None


def _class_targets(fn, input, target, weight):
    """Check input (N, C, *) or (C,), int64/uint8 targets (N, *) or (), weight (C,) or None;
    return the target as a C-contiguous int64 array."""
    if not isinstance(target, Tensor):  # as PyTorch: an ndarray is not taken either
        raise TypeError(f"{fn}: target must be a Tensor of class indices, got "
                        f"{type(target).__name__}")
    t = target._data
    if array_table(t) is not array_table(input._data):
        raise RuntimeError(f"{fn}: expected input and target on the same device, got input on "
                           f"{input.device} and target on {target.device}")
    if t.dtype != np.int64:
        if t.dtype != np.uint8:
            raise TypeError(f"{fn}: target must hold class indices of dtype int64 (or uint8), or "
                            f"class probabilities of the input's dtype; got {t.dtype}")
        t = t.astype(np.int64)
    if input.ndim == 0:
        raise ValueError(f"{fn}: input must have shape (N, C), (N, C, d1, ...) or (C,), got ()")
    expected = () if input.ndim == 1 else (input.shape[0],) + input.shape[2:]
    if t.shape != expected:
        raise ValueError(f"{fn}: target of shape {tuple(t.shape)} does not match input of shape "
                         f"{tuple(input.shape)}: expected target shape {expected}")
    if weight is not None:
        _tensor(fn, "weight", weight)
        C = input.shape[0 if input.ndim == 1 else 1]
        if weight.shape != (C,):
            raise ValueError(f"{fn}: weight must have shape ({C},) for input of shape "
                             f"{tuple(input.shape)} ({C} classes), got {tuple(weight.shape)}")
    return t if t.flags.c_contiguous else np.ascontiguousarray(t)


@_autocast.float32
def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy between logits and targets (``torch.nn.functional.cross_entropy``).

    input: logits (N, C), (N, C, d1, d2, ...) or unbatched (C,); float32 or float64.
    target: class indices, int64 (or uint8), shape (N,), (N, d1, ...) or (); each in [0, C) or
    equal to ``ignore_index`` (those elements add nothing, to the loss or to the mean's divisor).
    Or class probabilities, a float tensor of the input's shape (then ``ignore_index`` must stay
    -100).
    weight: (C,) class weights or None. The weighted mean divides by the sum of the weights of the
    non-ignored targets, as PyTorch does.
    label_smoothing eps in [0, 1]: the target becomes (1 - eps) one-hot + eps / C uniform
    (Szegedy et al. 2016); with weights, the uniform part is weighted per class too.
    reduction: "none" (shape of target), "mean" or "sum" (0-d).

    With class indices it runs the fused kernel: loss = -log softmax(x)_t computed as
    L - (x_t - m) with m the row max and L = log sum exp(x - m), stable for any logits; the
    gradient is softmax(x) minus the (smoothed, weighted) one-hot, times the upstream gradient.

    Raises TypeError for non-tensor or non-float input, or targets of another dtype; ValueError
    for a bad reduction, label_smoothing outside [0, 1], mismatched shapes, a wrong weight, and a
    target outside [0, C) that is not ignore_index (naming the value).
    """
    _tensor("cross_entropy", "input", input)
    if reduction not in _REDUCTIONS:
        _reduction("cross_entropy", reduction)
    label_smoothing = float(label_smoothing)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got "
                         f"{label_smoothing}")
    if isinstance(target, Tensor) and is_floating_dtype(target._data.dtype):
        return _cross_entropy_probs(input, target, weight, ignore_index, reduction,
                                    label_smoothing)
    t = _class_targets("cross_entropy", input, target, weight)
    return CrossEntropyFn.apply(input, t, weight, int(ignore_index), label_smoothing, reduction)


def _cross_entropy_probs(input, target, weight, ignore_index, reduction, label_smoothing):
    """Cross entropy against class probabilities, composed of differentiable ops (gradients for
    input and target): loss = -sum_c w_c y_c log softmax(x)_c, PyTorch's formula
    (cross_entropy_loss_prob_target); the mean divides by the number of elements N * d1 * ...
    """
    if ignore_index != -100:
        raise ValueError("cross_entropy: ignore_index is not supported for class-probability "
                         "(floating point) targets")
    if target.shape != input.shape:
        raise ValueError(f"cross_entropy: class-probability target must have the input's shape "
                         f"{tuple(input.shape)}, got {tuple(target.shape)}")
    if input.ndim == 0:
        raise ValueError("cross_entropy: input must have shape (N, C), (N, C, d1, ...) or (C,)")
    cdim = 0 if input.ndim == 1 else 1
    C = input.shape[cdim]
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / C
    prod = log_softmax(input, cdim) * target
    if weight is not None:
        _tensor("cross_entropy", "weight", weight)
        if weight.shape != (C,):
            raise ValueError(f"cross_entropy: weight must have shape ({C},) for input of shape "
                             f"{tuple(input.shape)} ({C} classes), got {tuple(weight.shape)}")
        prod = prod * weight.reshape((C,) + (1,) * (input.ndim - 1 - cdim))
    loss = -prod.sum(dim=cdim)
    if reduction == "none":
        return loss
    total = loss.sum()
    return total if reduction == "sum" else total / (input._data.size // max(C, 1))


@_autocast.float32
def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood loss (``torch.nn.functional.nll_loss``): -w_t * input[n, t, ...].

    input: log-probabilities (N, C), (N, C, d1, ...) or (C,), float32/float64 (typically from
    log_softmax); target: int64 (or uint8) class indices (N,), (N, d1, ...) or (); weight (C,) or
    None; elements whose target is ``ignore_index`` count for nothing; the weighted mean divides
    by the summed weights of the non-ignored targets. reduction "none" | "mean" | "sum".
    Raises as :func:`cross_entropy` does.
    """
    _tensor("nll_loss", "input", input)
    _reduction("nll_loss", reduction)
    t = _class_targets("nll_loss", input, target, weight)
    return NLLLossFn.apply(input, t, weight, int(ignore_index), reduction)


# ---------------------------------------------------------------- mse

class MSELossFn(Function):
    @staticmethod
    def forward(ctx, x, target, reduction):
        d = x - target
        ctx.save_for_backward(d)
        ctx.reduction = reduction
        sq = d * d
        if reduction == "none":
            return sq
        return np.asarray(sq.sum() if reduction == "sum" else sq.mean(), dtype=d.dtype)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        if ctx.reduction == "mean":
            g = g * (2 / d.size) if d.size else g
        else:
            g = g * 2
        gd = g * d
        return (gd if ctx.needs_input_grad[0] else None,
                -gd if ctx.needs_input_grad[1] else None, None)


@_autocast.float32
def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error (``torch.nn.functional.mse_loss``): (input - target)^2, then reduced.

    input and target: float tensors of one dtype; a target of another shape is broadcast, with
    PyTorch's warning. Gradients for both. reduction "none" | "mean" | "sum". Raises TypeError
    for non-tensor or non-float arguments and ValueError for a bad reduction or shapes that do
    not broadcast.
    """
    _tensor("mse_loss", "input", input)
    _tensor("mse_loss", "target", target)
    _reduction("mse_loss", reduction)
    if target.shape != input.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ValueError(f"mse_loss: target of shape {tuple(target.shape)} does not "
                             "broadcast with "
                             f"input of shape {tuple(input.shape)}") from None
        warnings.warn(f"mse_loss: using a target size ({tuple(target.shape)}) that is different "
                      f"to the input size ({tuple(input.shape)}); it is broadcast, which is likely "
                      "not intended",
                      UserWarning, stacklevel=2)
    return MSELossFn.apply(input, target, reduction)
