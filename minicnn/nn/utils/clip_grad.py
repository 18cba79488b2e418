"""Gradient clipping (``torch.nn.utils.clip_grad_norm_`` and friends).

The gradients are scaled or clamped in place on their arrays; nothing is recorded by autograd.
"""
from __future__ import annotations

import math
import types
import warnings
from collections.abc import Iterable

import numpy as np

from ...tensor import Tensor

_Tensors = Tensor | Iterable[Tensor]

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]


def _as_list(tensors: _Tensors) -> list[Tensor]:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _vector_norm(a: np.ndarray, p: float) -> np.ndarray | np.generic:
    """The p-norm of all of ``a``'s elements, as a 0-d array of its dtype (``vector_norm``)."""
    if p == 2.0:
        flat = a.reshape(-1)
        return np.sqrt(np.dot(flat, flat))  # BLAS, no |a|^2 temporary
    if p == math.inf:
        return np.maximum(a.max(), -a.min()) if a.size else a.dtype.type(0)
    if p == -math.inf:
        return np.abs(a).min()
    if p == 0.0:
        return a.dtype.type(np.count_nonzero(a))
    if p == 1.0:
        return np.abs(a).sum()
    return (np.abs(a) ** p).sum() ** (1.0 / p)


def get_total_norm(tensors: _Tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of all the elements of ``tensors`` taken together, as if
    concatenated into one vector (``torch.nn.utils.get_total_norm``).

    Args:
        tensors: a Tensor or an iterable of Tensors (typically gradients).
        norm_type (float): p of the p-norm; ``math.inf`` for the largest absolute value.
        error_if_nonfinite (bool): raise RuntimeError when the total is NaN or infinite.
        foreach: accepted for PyTorch compatibility; no effect.

    Returns a 0-d Tensor (float32 0.0 when there are no tensors); with float32 and float64
    tensors mixed, the total is float64.
    """
    tensors = _as_list(tensors)
    arrays = [t._data for t in tensors]
    norm_type = float(norm_type)
    if not arrays:
        return Tensor._wrap(np.array(0.0, np.float32), None)
    with np.errstate(over="ignore", invalid="ignore"):  # an infinite or NaN norm is an answer
        norms = np.array([_vector_norm(a, norm_type) for a in arrays],
                         dtype=np.result_type(*[a.dtype for a in arrays]))
        total = np.asarray(_vector_norm(norms, norm_type), dtype=norms.dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` "
                           "is non-finite, so it cannot be clipped. To disable this error and "
                           "scale the gradients by the non-finite norm anyway, set "
                           "`error_if_nonfinite=False`")
    return Tensor._wrap(total, tensors[0]._device)


def clip_grads_with_norm_(parameters: _Tensors, max_norm: float, total_norm: Tensor | float,
                          foreach: bool | None = None) -> None:
    """Scale the gradients of ``parameters`` in place by ``min(1, max_norm / (total_norm +
    1e-6))``, a precomputed ``total_norm`` (``torch.nn.utils.clip_grads_with_norm_``).

    As PyTorch, the factor is computed in ``total_norm``'s dtype and applied even when it is 1
    (so a NaN norm makes the gradients NaN). Parameters whose grad is None are skipped.
    """
    grads = [p.grad._data for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    total = total_norm._data if isinstance(total_norm, Tensor) else np.asarray(total_norm)
    dtype = total.dtype.type
    # max_norm / x as PyTorch evaluates it for a tensor x: reciprocal(x) * max_norm
    coef = np.minimum(np.reciprocal(total + dtype(1e-6)) * dtype(max_norm), dtype(1.0))
    if coef >= 1.0:
        return  # multiplying by exactly 1 changes nothing
    with np.errstate(invalid="ignore"):  # inf * 0 when the norm was infinite: NaN, as torch
        for g in grads:
            g *= coef.astype(g.dtype)


def clip_grad_norm_(parameters: _Tensors, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Rescale the gradients so that their total norm is at most ``max_norm``
    (``torch.nn.utils.clip_grad_norm_``), in place.

    The total norm is the ``norm_type``-norm of all the gradients concatenated (see
    :func:`get_total_norm`); each gradient is multiplied by ``min(1, max_norm / (total + 1e-6))``.

    Args:
        parameters: a Tensor or an iterable of Tensors whose ``.grad`` to clip (None grads are
            skipped).
        max_norm (float): the largest allowed total norm.
        norm_type (float): p of the norm (default 2.0; ``math.inf`` for the max norm).
        error_if_nonfinite (bool): raise RuntimeError if the total norm is NaN or infinite
            (default False: the gradients are scaled by the non-finite norm).
        foreach: accepted for PyTorch compatibility; no effect.

    Returns the total norm of the gradients before clipping, a 0-d Tensor.
    """
    if isinstance(parameters, types.GeneratorType):
        parameters = list(parameters)
        if not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                          stacklevel=2)
    parameters = _as_list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total_norm)
    return total_norm


def clip_grad_value_(parameters: _Tensors, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place
    (``torch.nn.utils.clip_grad_value_``). Parameters whose grad is None are skipped; NaNs stay.

    Args: parameters (a Tensor or an iterable of Tensors), clip_value (float), foreach (accepted
    for PyTorch compatibility; no effect).
    """
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            g = p.grad._data
            np.clip(g, -clip_value, clip_value, out=g)
