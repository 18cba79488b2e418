"""Automatic mixed precision (``torch.amp``): :class:`autocast` and :class:`GradScaler`.

``autocast(dtype=minicnn.bfloat16)`` (the default, as PyTorch's on CPU) or ``float16`` runs the
ops of PyTorch's CPU "lower_precision_fp" list (conv2d, conv_transpose2d, linear, matmul, mm,
bmm, addmm, einsum) on inputs rounded to the low precision, accumulating in float32 and storing
the result in the low precision; the ops of its "fp32" list (cross_entropy, nll_loss, mse_loss,
prod) upcast float16/bfloat16 inputs to float32; every other op follows its inputs, as in
PyTorch 2.13 on CPU (softmax, the normalizations, pooling and activations of a bfloat16 tensor
give bfloat16; a bfloat16 and a float32 tensor promote to float32).

minicnn has no low-precision kernels: a float16/bfloat16 tensor is widened to float32 for each
op and the result rounded back (``Function._low_precision``), which gives the numbers of a
kernel that accumulates in float32 but is slower than float32 itself. bfloat16 is the dtype of
the ``ml_dtypes`` package (``pip install minicnn[amp]``); float16 is NumPy's.

:class:`GradScaler` is dynamic loss scaling with PyTorch's semantics: the loss is multiplied by
the scale before backward so that small float16 gradients do not flush to zero; ``step``
unscales the gradients and skips ``optimizer.step()`` when any is inf or NaN; ``update`` halves
the scale after a skipped step and doubles it after ``growth_interval`` clean ones.
"""
from __future__ import annotations

import functools
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np

from . import autograd
from .autograd import BFLOAT16
from .ops import isfinite
from .ops._autocast import FLOAT32_OPS, LOWER_PRECISION_OPS, state
from .tensor import Tensor

__all__ = ["autocast", "GradScaler", "is_autocast_enabled", "get_autocast_dtype",
           "LOWER_PRECISION_OPS", "FLOAT32_OPS"]

_F = TypeVar("_F", bound=Callable[..., Any])
_FLOAT16 = np.dtype(np.float16)
_DEVICE_TYPES = ("cpu",)


def bfloat16_dtype() -> np.dtype[Any]:
    """``minicnn.bfloat16``: ml_dtypes' bfloat16 as a NumPy dtype. Raises ImportError, naming
    the extra that installs it, when ml_dtypes is missing."""
    if BFLOAT16 is None:
        raise ImportError("minicnn.bfloat16 needs the ml_dtypes package: "
                          "pip install 'minicnn[amp]' (or pip install ml_dtypes)")
    return BFLOAT16


def _check_device_type(device_type: Any) -> str:
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if device_type not in _DEVICE_TYPES:
        raise RuntimeError(f"autocast: minicnn autocasts on device_type 'cpu' only (tensors in "
                           f"host memory), got {device_type!r}")
    return device_type


def is_autocast_enabled(device_type: str = "cpu") -> bool:
    """True inside an enabled :class:`autocast` on this thread (``torch.is_autocast_enabled``).
    """
    _check_device_type(device_type)
    return state.depth > 0 and state.dtype is not None


def get_autocast_dtype(device_type: str = "cpu") -> np.dtype[Any]:
    """The dtype :class:`autocast` uses when given none: that of the innermost autocast on this
    thread, else bfloat16 (``torch.get_autocast_dtype``; ImportError without ml_dtypes)."""
    _check_device_type(device_type)
    configured = getattr(state, "configured", None)
    return bfloat16_dtype() if configured is None else configured


class autocast:  # noqa: N801  (torch.autocast)
    """Context manager and decorator: mixed precision for the ops inside (``torch.autocast``).

    Args: ``device_type`` ("cpu": tensors in host memory; anything else raises RuntimeError, a
    non-str ValueError), ``dtype`` (minicnn.bfloat16, the default, or minicnn.float16; another
    dtype warns and disables autocast, as PyTorch), ``enabled`` (False turns autocast off inside,
    also within an enclosing autocast), ``cache_enabled`` (reuse the low-precision copy of each
    parameter, a float32 leaf that requires grad, until the outermost autocast exits).

    Example::

        with minicnn.autocast(dtype=minicnn.bfloat16):
            logits = model(x)                 # conv2d/linear: bfloat16
            loss = F.cross_entropy(logits, y) # float32
        loss.backward()                       # float32 gradients in the float32 parameters
    """

    def __init__(self, device_type: str = "cpu", dtype: Any = None, enabled: bool = True,
                 cache_enabled: bool | None = None) -> None:
        self.device = _check_device_type(device_type)
        self.fast_dtype = get_autocast_dtype(device_type) if dtype is None else np.dtype(dtype)
        self._enabled = bool(enabled)
        self._cache_enabled = True if cache_enabled is None else bool(cache_enabled)
        if self._enabled and self.fast_dtype not in (_FLOAT16, BFLOAT16):
            warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling "
                          "autocast.\nCPU Autocast only supports dtypes of minicnn.bfloat16, "
                          "minicnn.float16 currently.", UserWarning, stacklevel=2)
            self._enabled = False

    def __enter__(self) -> None:
        self._prev = (state.dtype, state.cache_enabled, getattr(state, "configured", None))
        state.configured = self.fast_dtype
        state.dtype = self.fast_dtype if self._enabled else None
        state.cache_enabled = self._cache_enabled
        state.depth += 1

    def __exit__(self, *exc: object) -> None:
        state.depth -= 1
        state.dtype, state.cache_enabled, state.configured = self._prev
        if state.depth == 0:  # leaving the outermost autocast frees the cast parameters
            state.cache.clear()

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with autocast(self.device, self.fast_dtype, self._enabled, self._cache_enabled):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------- GradScaler

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


def _fresh_state() -> dict[str, Any]:
    return {"stage": _READY, "found_inf_per_device": {}}


class GradScaler:
    """Dynamic loss scaling (``torch.amp.GradScaler``), with its semantics and errors.

    ``scale(loss)`` multiplies by the scale (a float32 number, ``init_scale`` at first);
    ``unscale_(optimizer)`` multiplies the optimizer's gradients in place by 1/scale and records
    whether any is inf or NaN; ``step(optimizer)`` unscales (unless done already) and calls
    ``optimizer.step()`` only if none was, returning its result (None when skipped);
    ``update()`` multiplies the scale by ``backoff_factor`` after a skipped step, by
    ``growth_factor`` after ``growth_interval`` consecutive clean ones (``update(new_scale)``
    sets it). ``enabled=False`` makes every method a no-op except ``step``, which steps.

    Raises AssertionError for growth_factor <= 1 or backoff_factor >= 1 (PyTorch's), RuntimeError
    for ``unscale_`` twice or after ``step`` before ``update``, for ``step`` twice, and for a
    ``closure`` keyword; ValueError for float16 gradients (keep the parameters float32).
    """

    def __init__(self, device: str = "cpu", init_scale: float = 2.0**16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = device
        self._enabled = bool(enabled)
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale: float | None = None  # a float32 value, set by the first scale()
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker: int | None = None
            self._per_optimizer_states: defaultdict[int, dict[str, Any]] = defaultdict(
                _fresh_state)

    def _check_scale_growth_tracker(self, funcname: str) -> None:
        fix = ("This may indicate your script did not use scaler.scale(loss or outputs) earlier "
               "in the iteration.")
        if self._scale is None:
            raise AssertionError(f"Attempted {funcname} but _scale is None.  " + fix)

    def _lazy_init(self) -> None:
        self._scale = float(np.float32(self._init_scale))
        self._growth_tracker = self._init_growth_tracker

    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a tensor, or a list/tuple/iterable of them, nested) times the scale, each
        keeping its dtype; returned unchanged when disabled. ValueError for anything else."""
        if not self._enabled:
            return outputs
        if self._scale is None:
            self._lazy_init()
        scale = self._scale

        def apply(val: Any) -> Any:
            if isinstance(val, Tensor):
                return val * scale
            if isinstance(val, Iterable):
                mapped = map(apply, val)
                return type(val)(mapped) if isinstance(val, (list, tuple)) else mapped
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply(outputs)

    def _unscale_grads_(self, optimizer: Any, inv_scale: float,
                        allow_fp16: bool) -> dict[str, float]:
        """Multiply every gradient of ``optimizer`` by ``inv_scale`` in place; per device type,
        1.0 when some gradient there holds an inf or NaN, else 0.0."""
        found: dict[str, bool] = {}
        with autograd.no_grad():
            for group in optimizer.param_groups:
                for param in group["params"]:
                    grad = param.grad
                    if grad is None:
                        continue
                    if not allow_fp16 and grad.dtype == _FLOAT16:
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    device = grad.device.type
                    bad = not bool(isfinite(grad).all())
                    found[device] = found.get(device, False) or bad
                    grad.mul_(inv_scale)
        return {d: float(f) for d, f in found.items()}

    def unscale_(self, optimizer: Any) -> None:
        """Divide ("unscale") ``optimizer``'s gradients by the scale, in place, and record
        whether any is inf/NaN; optional before :meth:`step` (to clip unscaled gradients).
        RuntimeError when called twice, or after ``step``, before :meth:`update`."""
        if not self._enabled:
            return
        self._check_scale_growth_tracker("unscale_")
        optimizer_state = self._per_optimizer_states[id(optimizer)]
        if optimizer_state["stage"] == _UNSCALED:
            raise RuntimeError(
                "unscale_() has already been called on this optimizer since the last update().")
        if optimizer_state["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        assert self._scale is not None
        inv_scale = float(np.float32(1.0 / self._scale))  # float32(1 / double(scale))
        optimizer_state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv_scale,
                                                                       False)
        optimizer_state["stage"] = _UNSCALED

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """Unscale (unless :meth:`unscale_` ran) and call ``optimizer.step(*args, **kwargs)``
        unless a gradient is inf/NaN; returns what it returns, None when skipped. RuntimeError
        for a second call before :meth:`update` and for ``closure=``."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_growth_tracker("step")
        optimizer_state = self._per_optimizer_states[id(optimizer)]
        if optimizer_state["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if optimizer_state["stage"] == _READY:
            self.unscale_(optimizer)
        if len(optimizer_state["found_inf_per_device"]) == 0:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        retval = None
        if not sum(optimizer_state["found_inf_per_device"].values()):
            retval = optimizer.step(*args, **kwargs)
        optimizer_state["stage"] = _STEPPED
        return retval

    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Update the scale for the next iteration: ``new_scale`` when given (a float or a
        one-element tensor that does not require grad, else AssertionError); otherwise times
        ``backoff_factor`` if any step of this iteration was skipped, times ``growth_factor``
        after ``growth_interval`` consecutive unskipped iterations (kept when that overflows)."""
        if not self._enabled:
            return
        self._check_scale_growth_tracker("update")
        if new_scale is not None:
            if isinstance(new_scale, float):
                self._scale = float(np.float32(new_scale))
            else:
                reason = ("new_scale should be a float or a 1-element minicnn.Tensor with "
                          "requires_grad=False.")
                if not isinstance(new_scale, Tensor) or new_scale.numel() != 1:
                    raise AssertionError(reason)
                if new_scale.requires_grad:
                    raise AssertionError(reason)
                self._scale = float(np.float32(new_scale.item()))
        else:
            found_infs = [f for s in self._per_optimizer_states.values()
                          for f in s["found_inf_per_device"].values()]
            if len(found_infs) == 0:
                raise AssertionError("No inf checks were recorded prior to update.")
            assert self._scale is not None and self._growth_tracker is not None
            if sum(found_infs):
                self._scale = float(np.float32(self._scale * self._backoff_factor))
                self._growth_tracker = 0
            else:
                successful = self._growth_tracker + 1
                if successful == self._growth_interval:
                    grown = np.float32(self._scale * self._growth_factor)
                    if np.isfinite(grown):
                        self._scale = float(grown)
                    self._growth_tracker = 0
                else:
                    self._growth_tracker = successful
        self._per_optimizer_states = defaultdict(_fresh_state)

    def get_scale(self) -> float:
        """The current scale (``init_scale`` before the first :meth:`scale`); 1.0 if disabled."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else self._scale

    def get_growth_factor(self) -> float:
        """The factor the scale grows by."""
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        """Set the factor the scale grows by."""
        self._growth_factor = new_factor

    def get_backoff_factor(self) -> float:
        """The factor the scale shrinks by after a skipped step."""
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        """Set the factor the scale shrinks by after a skipped step."""
        self._backoff_factor = new_factor

    def get_growth_interval(self) -> int:
        """How many consecutive clean steps grow the scale."""
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        """Set how many consecutive clean steps grow the scale."""
        self._growth_interval = new_interval

    def _get_growth_tracker(self) -> int:
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else self._growth_tracker

    def is_enabled(self) -> bool:
        """Whether this scaler scales."""
        return self._enabled

    def state_dict(self) -> dict[str, Any]:
        """The scaler's state: "scale", "growth_factor", "backoff_factor", "growth_interval" and
        "_growth_tracker" (PyTorch's keys); empty when disabled. Take it after :meth:`update`."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (a no-op when disabled). RuntimeError for an empty one
        (saved from a disabled scaler)."""
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        self._init_scale = state_dict["scale"]
        if self._scale is not None:
            self._scale = float(np.float32(state_dict["scale"]))
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._init_growth_tracker = state_dict["_growth_tracker"]
        if self._growth_tracker is not None:
            self._growth_tracker = state_dict["_growth_tracker"]
