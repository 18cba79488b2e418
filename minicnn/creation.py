"""Tensor factories with PyTorch's names and defaults: tensor, zeros, ones, full, empty, arange,
linspace, eye, rand, randn, randint and the *_like variants. Floating tensors default to float32.
"""
import numpy as np

from .device import CPU, as_device, move
from .random import default_generator
from .tensor import Tensor

_DEFAULT_FLOAT = np.dtype(np.float32)


def _dtype(dtype, default=None):
    """A numpy dtype from a dtype, type or name ("float32"); None gives ``default``."""
    if dtype is None:
        return default
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected a dtype such as minicnn.float32, got {dtype!r}") from None


def _size(size):
    if len(size) == 1 and isinstance(size[0], (list, tuple)):
        size = size[0]
    return tuple(int(s) for s in size)


def _make(array, device, requires_grad):
    """A leaf tensor of host ``array`` on ``device`` (copied to the GPU for "cuda"; TypeError for
    a dtype the GPU does not hold, such as float64)."""
    device = as_device(device)
    t = Tensor._wrap(move(array, device), device)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (nested lists, numbers, ndarray or Tensor).

    dtype defaults as in PyTorch: Python floats give float32, Python ints int64, bools bool; an
    ndarray or NumPy scalar keeps its dtype. ``requires_grad=True`` needs a floating dtype (RuntimeError
    otherwise). Raises TypeError for data NumPy cannot turn into a numeric array.
    """
    if isinstance(data, Tensor):  # copied through the host; stays on its device by default
        device = data.device if device is None else device
        data = move(data._data, CPU)
    dtype = _dtype(dtype)
    array = np.array(data, dtype=dtype, copy=True)
    if dtype is None and not isinstance(data, (np.ndarray, np.generic)):
        if array.dtype == np.float64:
            array = array.astype(_DEFAULT_FLOAT)
        elif array.dtype.kind in "iu" and array.dtype != np.uint8:
            array = array.astype(np.int64)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"tensor: cannot make a tensor from data of dtype {array.dtype}")
    return _make(array, device, requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like :func:`tensor`, but shares memory with a matching ndarray or Tensor (no copy)."""
    if isinstance(data, Tensor) and (dtype is None or np.dtype(dtype) == data.dtype):
        return data if device is None or as_device(device) == data.device else data.to(device)
    if isinstance(data, np.ndarray) and (dtype is None or np.dtype(dtype) == data.dtype):
        return _make(data, device, False)
    return tensor(data, dtype=dtype, device=device)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _make(np.zeros(_size(size), dtype=_dtype(dtype, _DEFAULT_FLOAT)), device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _make(np.ones(_size(size), dtype=_dtype(dtype, _DEFAULT_FLOAT)), device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _make(np.empty(_size(size), dtype=_dtype(dtype, _DEFAULT_FLOAT)), device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = np.int64 if isinstance(fill_value, int) and not isinstance(fill_value, bool) \
            else _DEFAULT_FLOAT
    return _make(np.full(_size((size,)), fill_value, dtype=_dtype(dtype)), device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Values from start (default 0) to end (exclusive) by step; int64 unless a bound is a float."""
    if end is None:
        start, end = 0, start
    array = np.arange(start, end, step)
    if dtype is None:
        dtype = _DEFAULT_FLOAT if array.dtype.kind == "f" else np.int64
    return _make(array.astype(_dtype(dtype)), device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    return _make(np.linspace(start, end, int(steps)).astype(_dtype(dtype, _DEFAULT_FLOAT)),
                 device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _make(np.eye(n, m, dtype=_dtype(dtype, _DEFAULT_FLOAT)), device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1) from minicnn's generator (see manual_seed)."""
    dtype = _dtype(dtype, _DEFAULT_FLOAT)
    return _make(default_generator().random(_size(size), dtype=dtype), device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal samples from minicnn's generator (see manual_seed)."""
    dtype = _dtype(dtype, _DEFAULT_FLOAT)
    return _make(default_generator().standard_normal(_size(size), dtype=dtype), device, requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None):
    """Integers uniform in [low, high) (``randint(high, size)`` means low = 0); int64."""
    if high is None:
        low, high = 0, low
    array = default_generator().integers(low, high, size=_size((size,)))
    return _make(array.astype(_dtype(dtype, np.int64)), device, False)


def _like(fn, input, dtype, device, requires_grad):
    return fn(input.shape, dtype=input.dtype if dtype is None else dtype,
              device=input.device if device is None else device,
              requires_grad=requires_grad)


def zeros_like(input, dtype=None, device=None, requires_grad=False):
    return _like(zeros, input, dtype, device, requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad=False):
    return _like(ones, input, dtype, device, requires_grad)


def empty_like(input, dtype=None, device=None, requires_grad=False):
    return _like(empty, input, dtype, device, requires_grad)


def rand_like(input, dtype=None, device=None, requires_grad=False):
    return _like(rand, input, dtype, device, requires_grad)


def randn_like(input, dtype=None, device=None, requires_grad=False):
    return _like(randn, input, dtype, device, requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    return full(input.shape, fill_value, dtype=input.dtype if dtype is None else dtype,
                device=input.device if device is None else device, requires_grad=requires_grad)
