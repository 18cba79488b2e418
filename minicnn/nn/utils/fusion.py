"""Folding batch norm into the convolution before it, for inference (``torch.nn.utils.fusion``:
``fuse_conv_bn_eval`` and ``fuse_conv_bn_weights`` with PyTorch's names and semantics).

In eval mode batch norm is a fixed affine map per channel c (Ioffe & Szegedy 2015, Alg. 2):
bn(z)_c = (z_c - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c. After a convolution
z = W * x + b it folds into the convolution's weights and bias (Jacob et al. 2018, sec. 3.2):

    s_c = gamma_c / sqrt(var_c + eps),   W'_c = s_c W_c,   b'_c = (b_c - mean_c) s_c + beta_c,

so conv -> BN is one convolution, with one pass over the output and one array fewer.

:class:`minicnn.nn.Sequential` does this by itself (``enabled``, on by default): with grads off
(``no_grad``, ``inference_mode``), a ``Conv2d`` straight followed by a ``BatchNorm2d`` in eval
mode runs as the folded convolution, for tensors in host memory (the CPU and NumPy devices),
outside autocast and an ONNX trace, when neither module has hooks and the output has at least
``MIN_OUTPUT_PER_WEIGHT`` times as many elements as the weight (folding reads and writes the
weight once per call: a batch-1 layer with a big weight and a small output is faster
unfolded). It folds on every call rather than caching, since weights can change in ways no
version counter sees (writes through ``.data``).
Folding reorders the rounding: the outputs agree with the unfolded ones to a few float32 ulps
(about 1e-6 relative), not bit for bit. A ``ReLU`` or ``ReLU6`` (without hooks) right after
the folded pair runs in the convolution's epilogue, the same pass that adds the bias
(:func:`minicnn.ops.conv.conv2d_activation`), instead of a pass of its own.

Sequential also runs a ``BatchNorm1d``/``BatchNorm2d`` straight followed by ``ReLU`` or
``ReLU6`` as one op, in training and in eval, grads on or off
(:func:`minicnn.ops.norm.batch_norm_activation`): the activation is applied in the batch-norm
kernel's pass that writes the output, and its backward masks the gradient inside batch norm's
two backward passes, so the pair reads and writes the activation-sized arrays 3 times fewer
forward and 1 time fewer backward, and keeps no separate ReLU output. Results, gradients and
running statistics equal the unfused ones bit for bit. Conditions: float32/float64 tensors in
host memory, no hooks on either module, exactly those module types, outside autocast and an
ONNX trace. The fused op's ``grad_fn`` is the batch norm's.

``minicnn.nn.utils.fusion.enabled = False`` switches both off.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ...tensor import Tensor
from ..parameter import Parameter

if TYPE_CHECKING:
    from ..modules.module import Module

__all__ = ["enabled", "fold_conv_bn_arrays", "fuse_conv_bn_eval", "fuse_conv_bn_weights"]

enabled = True  # nn.Sequential's conv -> BN folding and BN -> ReLU fusion (module docstring)
MIN_OUTPUT_PER_WEIGHT = 4

ConvT = TypeVar("ConvT", bound="Module")


def fold_conv_bn_arrays(w: np.ndarray, b: np.ndarray | None, mean: np.ndarray,
                        var: np.ndarray, eps: float, gamma: np.ndarray | None,
                        beta: np.ndarray | None, transpose: bool = False
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(W', b') of the module docstring on NumPy arrays: ``w`` (K, C/groups, kh, kw), or with
    ``transpose`` a transposed convolution's (C, K/groups, kh, kw) scaled along axis 1; ``b``,
    ``mean``, ``var``, ``gamma``, ``beta`` (K,), None meaning zeros (b, beta) or ones (gamma).
    The per-channel scale and the bias are computed in float64; W' in ``w``'s dtype directly
    (no float64 copy of the weight: this runs on every folded call). Returned in ``w``'s dtype
    (the bias in ``b``'s, or ``w``'s without)."""
    scale = 1.0 / np.sqrt(var.astype(np.float64) + eps)
    if gamma is not None:
        scale = scale * gamma
    shape = (1, -1) if transpose else (-1, 1)
    folded_w = w * scale.astype(w.dtype).reshape(shape + (1,) * (w.ndim - 2))
    shift = (0.0 if b is None else b) - mean.astype(np.float64)
    folded_b = shift * scale + (0.0 if beta is None else beta)
    return folded_w, folded_b.astype(w.dtype if b is None else b.dtype)


def _host(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _maybe_host(t: Tensor | None) -> np.ndarray | None:
    return None if t is None else _host(t)


def fuse_conv_bn_weights(conv_w: Tensor, conv_b: Tensor | None, bn_rm: Tensor, bn_rv: Tensor,
                         bn_eps: float, bn_w: Tensor | None, bn_b: Tensor | None,
                         transpose: bool = False) -> tuple[Parameter, Parameter]:
    """The folded convolution's (weight, bias) as new Parameters (``torch.nn.utils.fusion.
    fuse_conv_bn_weights``): conv_w (K, C/groups, kh, kw) (``transpose``: a transposed
    convolution's, scaled along its axis 1); conv_b, bn_rm, bn_rv, bn_w, bn_b (K,), a missing
    conv_b or bn_b meaning zeros and a missing bn_w ones. The weight keeps conv_w's dtype,
    device and requires_grad; the bias conv_b's (without one: conv_w's dtype, and bn_rm's
    device and requires_grad, as PyTorch's zeros_like(bn_rm))."""
    w, b = fold_conv_bn_arrays(_host(conv_w), _maybe_host(conv_b), _host(bn_rm), _host(bn_rv),
                               bn_eps, _maybe_host(bn_w), _maybe_host(bn_b), transpose)
    bias_ref = bn_rm if conv_b is None else conv_b
    return (Parameter(Tensor(w).to(conv_w.device), conv_w.requires_grad),
            Parameter(Tensor(b).to(bias_ref.device), bias_ref.requires_grad))


def fuse_conv_bn_eval(conv: ConvT, bn: Any, transpose: bool = False) -> ConvT:
    """A new convolution module (a deep copy of ``conv``) computing ``bn(conv(x))`` in one
    convolution (``torch.nn.utils.fusion.fuse_conv_bn_eval``); ``conv`` and ``bn`` are left
    as they are. ``transpose``: ``conv`` is a transposed convolution.

    Raises AssertionError, as PyTorch, when either module is in training mode ("Fusion only
    for eval!") or ``bn`` has no running statistics.
    """
    if conv.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("bn.running_mean and bn.running_var must not be None")
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias,
        transpose)
    return fused
