"""Ops for normalization: batch norm (training and eval), layer, group and instance norm.

PyTorch's functional API (``torch.nn.functional.batch_norm``, ``layer_norm``, ``group_norm``,
``instance_norm``): same names, arguments, defaults and results. Each op's Function calls the
device's backend kernels (``ctx.backend``; minicnn.backends.reference.norm has the math):

* batch norm: ``batch_norm_forward_train`` / ``batch_norm_forward_eval`` / ``batch_norm_backward``
  (C kernels on the "cpu" device);
* instance norm: the same batch-norm kernels on the input viewed as (1, N * C, *), as PyTorch
  computes it;
* layer norm and group norm: ``layer_norm_forward`` / ``_backward`` and ``group_norm_forward`` /
  ``_backward``.

Running statistics (``running_mean``, ``running_var``) are minicnn Tensors updated in place
without autograd, as PyTorch's buffers are, by the kernel ``batch_norm_update_running``:
``running = (1 - momentum) * running + momentum * batch_statistic``, with the unbiased batch
variance (times M / (M - 1), M values per channel).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import autograd
from ..autograd import Function, is_floating_dtype
from ..backends import BACKENDS
from ..tensor import Tensor
from ._util import _F32, _F64, check_activation
from ._util import c_contiguous as _c

__all__ = ["batch_norm", "batch_norm_activation", "instance_norm", "layer_norm", "group_norm"]


# ---------------------------------------------------------------- Functions

class BatchNormFn(Function):
    """Batch norm over axis 1 of x (N, C, *); running stats updated in place in training mode;
    ``activation`` ("relu", "relu6" or None) applied to the output in the same kernel passes,
    forward and backward (the backward masks the gradient with the saved output)."""
    _low_precision = "input"  # a bfloat16 input with float32 parameters stays bfloat16

    @staticmethod
    def forward(ctx, x, running_mean, running_var, weight, bias, training, momentum, eps,
                activation):
        x, weight, bias = _c(x), _c(weight), _c(bias)
        act = {} if activation is None else {"activation": activation}
        if training:
            y, mean, var, invstd = ctx.backend.batch_norm_forward_train(x, weight, bias, eps,
                                                                        **act)
            M = x.size // x.shape[1] if x.shape[1] else 0
            if M > 0:  # PyTorch leaves the running statistics alone for an empty batch
                ctx.backend.batch_norm_update_running(running_mean, running_var, mean, var,
                                                      momentum, M)
        else:
            y = ctx.backend.batch_norm_forward_eval(x, _c(running_mean), _c(running_var), weight,
                                                    bias, eps, **act)
            if any(ctx.needs_input_grad):
                # copies: the running statistics may change in place before backward runs
                mean = running_mean.copy()
                invstd = ctx.backend.batch_norm_invstd(running_var, eps)
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(x, mean, invstd, weight, None if activation is None else y)
            ctx.training = training
            ctx.act = act
        return y

    @staticmethod
    def backward(ctx, g):
        x, mean, invstd, weight, y = ctx.saved_tensors
        need = ctx.needs_input_grad
        act = ctx.act if y is None else dict(ctx.act, output=y)
        gx, gw, gb = ctx.backend.batch_norm_backward(_c(g), x, mean, invstd, weight, ctx.training,
                                                     (need[0], need[3], need[4]), **act)
        return gx, None, None, gw, gb, None, None, None, None


class InstanceNormFn(Function):
    """Instance norm: batch norm of x (N, C, *) viewed as (1, N * C, *), as PyTorch computes it;
    weight, bias and the running statistics are repeated N times, and the running statistics
    get the mean over the batch of the N per-instance updates."""
    _low_precision = "input"  # a bfloat16 input with float32 parameters stays bfloat16

    @staticmethod
    def forward(ctx, x, running_mean, running_var, weight, bias, use_input_stats, momentum, eps):
        N, C = x.shape[0], x.shape[1]
        x1 = _c(x).reshape((1, N * C) + x.shape[2:])
        w = None if weight is None else np.tile(weight, N)
        b = None if bias is None else np.tile(bias, N)
        if use_input_stats:
            y, mean, var, invstd = ctx.backend.batch_norm_forward_train(x1, w, b, eps)
            S = x1.size // (N * C) if N * C else 0
            if N > 0 and S > 0:  # the mean over the batch of the N per-instance updates
                ctx.backend.batch_norm_update_running(running_mean, running_var,
                                                      mean.reshape(N, C), var.reshape(N, C),
                                                      momentum, S)
        else:
            rm, rv = np.tile(running_mean, N), np.tile(running_var, N)
            y = ctx.backend.batch_norm_forward_eval(x1, rm, rv, w, b, eps)
            mean = rm
            invstd = ctx.backend.batch_norm_invstd(rv, eps)
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(x1, mean, invstd, w)
            ctx.use_input_stats = use_input_stats
            ctx.shape = x.shape
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x1, mean, invstd, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        N, C = ctx.shape[0], ctx.shape[1]
        gx, gw, gb = ctx.backend.batch_norm_backward(_c(g).reshape(x1.shape), x1, mean, invstd, w,
                                                     ctx.use_input_stats,
                                                     (need[0], need[3], need[4]))
        gx = None if gx is None else gx.reshape(ctx.shape)
        gw = None if gw is None else gw.reshape(N, C).sum(axis=0)
        gb = None if gb is None else gb.reshape(N, C).sum(axis=0)
        return gx, None, None, gw, gb, None, None, None


class LayerNormFn(Function):
    """Layer norm over the last ``ndim`` dimensions of x (flattened to (M, D) for the kernels)."""
    _low_precision = "input"  # a bfloat16 input with float32 parameters stays bfloat16

    @staticmethod
    def forward(ctx, x, weight, bias, ndim, eps):
        D = math.prod(x.shape[x.ndim - ndim:])
        x2 = _c(x).reshape(-1, D) if D else x.reshape(math.prod(x.shape[:x.ndim - ndim]), 0)
        w = None if weight is None else _c(weight).reshape(D)
        b = None if bias is None else _c(bias).reshape(D)
        y, mean, invstd = ctx.backend.layer_norm_forward(x2, w, b, eps)
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(x2, mean, invstd, w)
            ctx.shapes = (x.shape, x.shape[x.ndim - ndim:])
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x2, mean, invstd, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        x_shape, w_shape = ctx.shapes  # weight and bias have the normalized shape
        gx, gw, gb = ctx.backend.layer_norm_backward(_c(g).reshape(x2.shape), x2, mean, invstd, w,
                                                     (need[0], need[1], need[2]))
        return (None if gx is None else gx.reshape(x_shape),
                None if gw is None else gw.reshape(w_shape),
                None if gb is None else gb.reshape(w_shape), None, None)


class GroupNormFn(Function):
    """Group norm of x (N, C, *): statistics per sample over each group of C / G channels."""
    _low_precision = "input"  # a bfloat16 input with float32 parameters stays bfloat16

    @staticmethod
    def forward(ctx, x, weight, bias, num_groups, eps):
        x, weight, bias = _c(x), _c(weight), _c(bias)
        y, mean, invstd = ctx.backend.group_norm_forward(x, weight, bias, num_groups, eps)
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(x, mean, invstd, weight)
            ctx.num_groups = num_groups
        return y

    @staticmethod
    def backward(ctx, g):
        x, mean, invstd, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx, gw, gb = ctx.backend.group_norm_backward(_c(g), x, mean, invstd, weight,
                                                     ctx.num_groups, (need[0], need[1], need[2]))
        return gx, gw, gb, None, None


# ---------------------------------------------------------------- argument checks

def _check_input(fn, input, min_ndim, layout):
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a minicnn.Tensor, got {type(input).__name__}")
    if not is_floating_dtype(input.dtype):
        raise TypeError(f"{fn}: input must have dtype float32 or float64, got {input.dtype}")
    if input.ndim < min_ndim:
        raise ValueError(f"{fn}: input must have shape {layout}, got {tuple(input.shape)} "
                         f"({input.ndim} dimensions)")


def _check_param(fn, name, t, shape, input, what):
    """None, or a Tensor of ``shape`` with input's dtype (weight, bias, running statistics);
    float32 ones also go with a float16/bfloat16 input (PyTorch's mixed precision)."""
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}: {name} must be a minicnn.Tensor or None, got {type(t).__name__}")
    if t.dtype != input.dtype and not (input.dtype.itemsize == 2 and t.dtype == np.float32):
        raise TypeError(f"{fn}: {name} has dtype {t.dtype} but input has dtype {input.dtype}")
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{fn}: {name} must have shape {tuple(shape)} to match {what} of input "
                         f"of shape {tuple(input.shape)}, got {tuple(t.shape)}")


def _check_eps(fn, eps):
    if not isinstance(eps, numbers.Real) or isinstance(eps, bool) or not eps >= 0:
        raise ValueError(f"{fn}: eps must be a non-negative number, got {eps!r}")
    return float(eps)


def _check_momentum(fn, momentum):
    if momentum is None:
        raise TypeError(f"{fn}: momentum must be a float, got None (the cumulative moving average "
                        "of momentum=None is the module's job: pass 1 / num_batches_tracked)")
    if not isinstance(momentum, numbers.Real) or isinstance(momentum, bool):
        raise TypeError(f"{fn}: momentum must be a float, got {type(momentum).__name__}")
    return float(momentum)


# ---------------------------------------------------------------- public functions

def _check_channel_stats(fn, input, expected, running_mean, running_var, weight, bias, momentum,
                         eps):
    """Checks shared by batch_norm and instance_norm: the input, four per-channel (C,) tensors
    (or None), momentum and eps. Returns (momentum, eps)."""
    _check_input(fn, input, 2, expected)
    C = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_param(fn, name, t, (C,), input, f"the {C} channels")
    return _check_momentum(fn, momentum), _check_eps(fn, eps)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization over the channel axis 1 (Ioffe & Szegedy 2015;
    ``torch.nn.functional.batch_norm``).

    input: (N, C) or (N, C, *spatial) (e.g. (N, C, H, W)), float32 or float64.
    running_mean, running_var: (C,) Tensors or None; weight, bias: (C,) Tensors or None.

    y = (x - mean) / sqrt(var + eps) * weight + bias, with per-channel statistics over
    (N, *spatial):

    * ``training=True``: the batch's mean and biased variance; ``running_mean`` and
      ``running_var`` (when given) are updated IN PLACE, without autograd:
      ``running = (1 - momentum) * running + momentum * stat``, with the UNBIASED batch variance
      (times M / (M - 1), M = N * prod(spatial)) for ``running_var``, as PyTorch;
    * ``training=False``: ``running_mean`` and ``running_var``.

    Gradients flow to input, weight and bias (each computed only when needed); in training mode
    through the batch statistics too. The running statistics get none.

    Raises TypeError for a non-Tensor or non-float input, a parameter of another dtype, or
    momentum=None (the cumulative average is the module's job); ValueError for input with fewer
    than 2 dims, a running statistic, weight or bias of a shape other than (C,) (naming it and
    both shapes), missing running statistics in eval mode, a negative eps, and, in training mode,
    a single value per channel ("Expected more than 1 value per channel when training").
    """
    return batch_norm_activation(input, running_mean, running_var, weight, bias, training,
                                 momentum, eps, None)


def batch_norm_activation(input: Tensor, running_mean: Tensor | None,
                          running_var: Tensor | None, weight: Tensor | None,
                          bias: Tensor | None, training: bool, momentum: float, eps: float,
                          activation: str | None) -> Tensor:
    """``activation(batch_norm(input, ...))`` in one op: :func:`batch_norm`'s arguments, checks
    and results, with ``activation`` "relu" (``torch.relu``), "relu6"
    (``torch.nn.functional.relu6``) or None applied in the batch-norm kernels' own passes over
    memory, forward and backward (minicnn's fusion, which PyTorch eager does not do; what
    ``nn.Sequential`` runs for BatchNorm -> ReLU). The results equal the two ops run one after
    the other, gradients included; the backward keeps the output instead of the ReLU's copy.

    Raises as :func:`batch_norm`, and ValueError for another activation.
    """
    check_activation("batch_norm_activation", activation)
    fn = "batch_norm"
    momentum, eps = _check_channel_stats(fn, input, "(N, C) or (N, C, *)", running_mean,
                                         running_var, weight, bias, momentum, eps)
    training = bool(training)
    if training:
        if input.shape[0] * math.prod(input.shape[2:]) == 1:
            raise ValueError("Expected more than 1 value per channel when training, got input "
                             f"size {tuple(input.shape)}")
    elif running_mean is None or running_var is None:
        raise ValueError(f"{fn}: running_mean and running_var must be given in evaluation mode "
                         "(training=False)")
    else:
        y = _eval_fast_path(input, running_mean, running_var, weight, bias, eps, activation)
        if y is not None:
            return y
    return BatchNormFn.apply(input, running_mean, running_var, weight, bias, training, momentum,
                             eps, activation)


def _eval_fast_path(input: Tensor, running_mean: Tensor, running_var: Tensor,
                    weight: Tensor | None, bias: Tensor | None, eps: float,
                    activation: str | None) -> Tensor | None:
    """Eval-mode batch norm with nothing to record (grads off, or no argument requiring grad),
    outside an ONNX trace, on float32/float64 NumPy arrays of one dtype and device: the forward's
    kernel without Function.apply (2-3 of the 26 us one image's batch norm took; issue 21).
    The same result as BatchNormFn's forward; None when the full path must run."""
    if autograd._tracer is not None:
        return None
    grad = autograd.is_grad_enabled()
    x = input._data
    if (grad and input.requires_grad or type(x) is not np.ndarray
            or not (x.dtype is _F32 or x.dtype is _F64) or not x.flags.c_contiguous):
        return None
    device = input._device
    arrays = []
    for t in (running_mean, running_var, weight, bias):
        a = None if t is None else t._data
        if t is not None and (grad and t.requires_grad or type(a) is not np.ndarray
                              or a.dtype is not x.dtype or not a.flags.c_contiguous
                              or t._device is not device and t._device != device):
            return None
        arrays.append(a)
    act = {} if activation is None else {"activation": activation}
    y = BACKENDS[device.type].batch_norm_forward_eval(x, *arrays, eps, **act)
    return Tensor._wrap(y, device)


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Instance normalization (Ulyanov, Vedaldi & Lempitsky 2016;
    ``torch.nn.functional.instance_norm``): each sample's each channel normalized over its
    spatial positions.

    input: (N, C, *spatial), float32 or float64; running_mean, running_var, weight, bias: (C,)
    Tensors or None. ``use_input_stats=True``: per-(n, c) statistics; the running statistics
    (when given) are updated in place with the batch mean of the per-instance updates (unbiased
    variance), as PyTorch. ``use_input_stats=False``: normalize with the running statistics.

    Raises TypeError / ValueError as :func:`batch_norm`; ValueError for a single spatial value
    with ``use_input_stats`` ("Expected more than 1 spatial element when training") and for
    missing running statistics without it.
    """
    fn = "instance_norm"
    momentum, eps = _check_channel_stats(fn, input, "(N, C, *)", running_mean, running_var,
                                         weight, bias, momentum, eps)
    use_input_stats = bool(use_input_stats)
    if use_input_stats:
        if math.prod(input.shape[2:]) == 1:
            raise ValueError("Expected more than 1 spatial element when training, got input "
                             f"size {tuple(input.shape)}")
    elif running_mean is None or running_var is None:
        raise ValueError(f"{fn}: running_mean and running_var must be given when "
                         "use_input_stats=False")
    return InstanceNormFn.apply(input, running_mean, running_var, weight, bias, use_input_stats,
                              momentum, eps)


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer normalization over the trailing ``normalized_shape`` dimensions (Ba, Kiros & Hinton
    2016; ``torch.nn.functional.layer_norm``).

    input: (*, *normalized_shape), float32 or float64; normalized_shape: an int or a sequence of
    ints; weight, bias: Tensors of shape normalized_shape, or None (elementwise affine).
    y = (x - mean) / sqrt(var + eps) * weight + bias, mean and biased var over the trailing dims.

    Raises TypeError for a non-Tensor or non-float input or a bad normalized_shape type;
    ValueError when normalized_shape is empty or does not match input's trailing dimensions, or
    weight/bias do not have shape normalized_shape (naming both shapes), and for a negative eps.
    """
    fn = "layer_norm"
    given: Any = normalized_shape
    if isinstance(given, (numbers.Integral,)) and not isinstance(given, bool):
        given = (int(given),)
    try:
        shape = tuple(int(d) for d in given)
    except TypeError:
        raise TypeError(f"{fn}: normalized_shape must be an int or a sequence of ints, got "
                        f"{type(normalized_shape).__name__}") from None
    if not shape:
        raise ValueError(f"{fn}: normalized_shape must have at least one dimension, got ()")
    _check_input(fn, input, 0, "(*, *normalized_shape)")
    k = len(shape)
    if input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ValueError(f"{fn}: normalized_shape {shape} must match the trailing dimensions of "
                         f"input, got input of shape {tuple(input.shape)} (expected input of "
                         f"shape [*, {', '.join(map(str, shape))}])")
    for name, t in (("weight", weight), ("bias", bias)):
        _check_param(fn, name, t, shape, input, f"normalized_shape {shape}")
    eps = _check_eps(fn, eps)
    return LayerNormFn.apply(input, weight, bias, k, eps)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Group normalization (Wu & He 2018; ``torch.nn.functional.group_norm``): the C channels are
    split into ``num_groups`` groups of C / num_groups; each sample's each group is normalized
    over its channels and spatial positions, then weight and bias apply per channel.

    input: (N, C, *spatial), float32 or float64; weight, bias: (C,) Tensors or None.

    Raises TypeError for a non-Tensor or non-float input or a non-int num_groups; ValueError when
    num_groups < 1 or does not divide C, for input with fewer than 2 dims, weight/bias of a shape
    other than (C,), a negative eps, and (as PyTorch) when N * C / num_groups * prod(spatial) is 1
    ("Expected more than 1 value per channel when training").
    """
    fn = "group_norm"
    _check_input(fn, input, 2, "(N, C, *)")
    if not isinstance(num_groups, numbers.Integral) or isinstance(num_groups, bool):
        raise TypeError(f"{fn}: num_groups must be an int, got {type(num_groups).__name__}")
    num_groups = int(num_groups)
    C = input.shape[1]
    if num_groups < 1:
        raise ValueError(f"{fn}: num_groups must be >= 1, got {num_groups}")
    if C % num_groups:
        raise ValueError(f"{fn}: Expected number of channels in input to be divisible by "
                         f"num_groups, but got input of shape {tuple(input.shape)} and "
                         f"num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        _check_param(fn, name, t, (C,), input, f"the {C} channels")
    eps = _check_eps(fn, eps)
    size = [input.shape[0] * C // num_groups, num_groups] + list(input.shape[2:])
    if size[0] * math.prod(size[2:]) == 1:  # PyTorch's check, on the same reshaped size
        raise ValueError(f"Expected more than 1 value per channel when training, got input "
                         f"size {size}")
    return GroupNormFn.apply(input, weight, bias, num_groups, eps)
