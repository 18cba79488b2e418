"""The op-level hook of autocast (:mod:`minicnn.amp`): the autocast state of this thread and the
decorators that put a public op on one of PyTorch's CPU autocast lists.

Inside ``minicnn.autocast(dtype=low)`` an op decorated with :func:`lower_precision` casts its
float32 (and float16/bfloat16) tensor arguments to ``low`` and computes on them: Function.apply
widens those to float32, so the products are accumulated in float32 and the result is stored in
``low`` (see ``Function._low_precision``). An op decorated with :func:`float32` casts its
float16/bfloat16 tensor arguments to float32. float64 tensors, integer tensors and tensors in
device memory are never cast, as in PyTorch. Every cast is the differentiable ``Tensor.to``:
its backward casts the gradient back to the argument's dtype, so float32 parameters get float32
gradients.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from ..autograd import is_floating_dtype
from ..backends import BACKENDS
from ..tensor import Tensor
from .shape import to

_F = TypeVar("_F", bound=Callable[..., Any])

#: the ops of :func:`lower_precision` and :func:`float32`, by name (minicnn's share of PyTorch's
#: CPU lists; filled as the ops are decorated)
LOWER_PRECISION_OPS: list[str] = []
FLOAT32_OPS: list[str] = []


class _State(threading.local):
    """The autocast state of one thread: ``dtype`` is None outside autocast (or where it is
    disabled); ``cache`` holds the low-precision copies of float32 leaf tensors that require grad
    (the parameters), keyed by id, while the outermost enabled autocast lasts."""

    def __init__(self) -> None:
        self.dtype: np.dtype[Any] | None = None
        self.cache_enabled = True
        self.depth = 0  # enabled autocast blocks entered and not left
        self.cache: dict[int, tuple[Tensor, int, Tensor]] = {}


state = _State()


def _cast(t: Any, dtype: np.dtype[Any], cache: bool) -> Any:
    """``t`` cast to ``dtype`` when it is an eligible tensor (floating, not float64, in host
    memory, of another dtype); anything else as is."""
    if not isinstance(t, Tensor):
        return t
    dt = t._data.dtype
    if (dt == dtype or not is_floating_dtype(dt) or dt == np.float64
            or not BACKENDS[t.device.type].host_memory):
        return t
    if not (cache and t.requires_grad and t.grad_fn is None and dt == np.float32):
        return to(t, dtype)
    hit = state.cache.get(id(t))
    if hit is not None and hit[0] is t and hit[1] == t._vc[0]:
        return hit[2]
    low = to(t, dtype)
    state.cache[id(t)] = (t, t._vc[0], low)  # holding t keeps its id from being reused
    return low


def _autocast_op(to_low: bool, names: list[str]) -> Callable[[_F], _F]:
    def decorate(fn: _F) -> _F:
        names.append(fn.__name__)

        @functools.wraps(fn)
        def op(*args: Any, **kwargs: Any) -> Any:
            low = state.dtype
            if low is None:  # outside autocast: the op as written (the common case)
                return fn(*args, **kwargs)
            dtype = low if to_low else np.dtype(np.float32)
            cache = to_low and state.cache_enabled
            args = tuple(_cast(a, dtype, cache) for a in args)
            kwargs = {k: _cast(v, dtype, cache) for k, v in kwargs.items()}
            state.dtype = None  # the ops it calls are not autocast again (as PyTorch)
            try:
                return fn(*args, **kwargs)
            finally:
                state.dtype = low

        return op  # type: ignore[return-value]

    return decorate


def lower_precision(fn: _F) -> _F:
    """Decorator: under autocast, ``fn``'s eligible tensor arguments are cast to the autocast
    dtype (PyTorch's "lower_precision_fp" list: conv2d, linear, matmul, ...)."""
    return _autocast_op(True, LOWER_PRECISION_OPS)(fn)


def float32(fn: _F) -> _F:
    """Decorator: under autocast, ``fn``'s float16/bfloat16 tensor arguments are cast to
    float32 (PyTorch's "fp32" list: the losses, prod, ...)."""
    return _autocast_op(False, FLOAT32_OPS)(fn)
