"""Tensor factories with PyTorch's names and defaults: tensor, from_numpy, zeros, ones, full,
empty, arange, linspace, eye, rand, randn, randint, normal and the *_like variants; the default
float dtype (get_default_dtype / set_default_dtype, float32 unless changed), and the predicates
is_tensor, is_floating_point and numel.
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .autograd import Function, is_floating_dtype
from .device import CPU, as_device, move
from .geometry import check_numel, int_tuple
from .ops._util import _DEFAULT_FLOAT, default_float, operands
from .random import default_generator
from .tensor import Tensor, native_order

if TYPE_CHECKING:
    from .autograd import Context
    from .types import DeviceLike, DTypeLike, Number, ShapeLike

# what from_numpy accepts (PyTorch's list, less the complex and wide unsigned types minicnn lacks)
_FROM_NUMPY = tuple(np.dtype(d) for d in (np.float64, np.float32, np.float16, np.int64, np.int32,
                                          np.int16, np.int8, np.uint8, np.bool_))


def get_default_dtype() -> np.dtype[Any]:
    """The dtype of Python floats in :func:`tensor` and of floating factories (zeros, rand, ...)
    when no dtype is given: float32 unless :func:`set_default_dtype` changed it
    (``torch.get_default_dtype``)."""
    return default_float()


def set_default_dtype(d: DTypeLike) -> None:
    """Make ``d`` the default floating dtype (``torch.set_default_dtype``): Python floats and the
    factories give it, integer tensors meeting a Python float or a transcendental function are
    promoted to it. Modules built afterwards still create float32 parameters.

    Raises TypeError for a non-floating dtype, NotImplementedError for float16 (minicnn's
    differentiable ops are float32 and float64).
    """
    dtype = _dtype(d)
    if dtype.kind != "f":
        raise TypeError("only floating-point types are supported as the default type")
    if dtype not in (np.float32, np.float64):
        raise NotImplementedError(f"set_default_dtype: minicnn supports float32 and float64 as "
                                  f"the default type, not {dtype}")
    _DEFAULT_FLOAT[0] = dtype


def is_tensor(obj: object) -> bool:
    """True when ``obj`` is a minicnn Tensor (``torch.is_tensor``)."""
    return isinstance(obj, Tensor)


def _tensor_arg(fn: str, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(value).__name__}")
    return value


def is_floating_point(input: Tensor) -> bool:
    """True for a float16, bfloat16, float32 or float64 tensor (``torch.is_floating_point``)."""
    return is_floating_dtype(_tensor_arg("is_floating_point", input).dtype)


def numel(input: Tensor) -> int:
    """The number of elements of ``input`` (``torch.numel``)."""
    return _tensor_arg("numel", input).numel()


def from_numpy(ndarray: np.ndarray[Any, Any]) -> Tensor:
    """A CPU tensor sharing memory with ``ndarray`` and keeping its dtype, float64 included
    (``torch.from_numpy``): writes through either are seen by the other.

    Raises TypeError for a non-ndarray or an unsupported dtype (object, string, complex, ...),
    ValueError (PyTorch's) for an array in non-native byte order.
    """
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    if not ndarray.dtype.isnative:
        raise ValueError("given numpy array has byte order different from the native byte "
                         "order. Conversion between byte orders is currently not supported.")
    if ndarray.dtype not in _FROM_NUMPY:
        raise TypeError(f"can't convert np.ndarray of type numpy.{ndarray.dtype.type.__name__}. "
                        "The only supported types are: float64, float32, float16, int64, int32, "
                        "int16, int8, uint8, and bool.")
    return Tensor._wrap(ndarray, CPU)


def _dtype(dtype: DTypeLike | None, default: DTypeLike | None = None) -> Any:
    """A numpy dtype from a dtype, type or name ("float32"); None gives ``default``."""
    if dtype is None:
        return default
    try:  # '>f4' names float32 too: tensors hold native byte order
        return np.dtype(dtype).newbyteorder("=")
    except TypeError:
        raise TypeError(f"dtype: expected a dtype such as minicnn.float32, got {dtype!r}") from None


def _size(fn: str, size: Sequence[Any], dtype: Any) -> tuple[int, ...]:
    """A factory's ``size`` (``f(2, 3)`` or ``f((2, 3))``) as ints, checked for a tensor of
    ``dtype``: TypeError for a non-int entry, RuntimeError (PyTorch's messages, with the real
    numbers) for a negative size or more bytes than int64 counts."""
    shape = int_tuple(size, fn)
    if any(n < 0 for n in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension "
                           f"{next(n for n in shape if n < 0)}: {list(shape)}")
    check_numel(fn, shape, np.dtype(dtype).itemsize)
    return shape


def _make(array: Any, device: DeviceLike, requires_grad: bool) -> Tensor:
    """A leaf tensor of host ``array`` on ``device`` (copied to the GPU for "cuda"; TypeError for
    a dtype the GPU does not hold, such as float64)."""
    dev = as_device(device)
    t = Tensor._wrap(move(array, dev), dev)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data: Any, dtype: DTypeLike | None = None, device: DeviceLike = None,
           requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, ndarray or Tensor).

    dtype defaults as in PyTorch: Python floats give the default float dtype (float32), Python
    ints int64, bools bool; an ndarray or NumPy scalar keeps its dtype, in native byte order
    (a big-endian '>f4' array gives float32; PyTorch refuses it). ``requires_grad=True``
    needs a floating dtype (RuntimeError otherwise). Raises TypeError for data NumPy cannot turn
    into a numeric array.
    """
    if isinstance(data, Tensor):  # copied through the host; stays on its device by default
        device = data.device if device is None else device
        data = move(data._data, CPU)
    dtype = _dtype(dtype)
    array = native_order(np.array(data, dtype=dtype, copy=True))
    if dtype is None and not isinstance(data, (np.ndarray, np.generic)):
        if array.dtype == np.float64:
            array = array.astype(default_float())
        elif array.dtype.kind in "iu" and array.dtype != np.uint8:
            array = array.astype(np.int64)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"tensor: cannot make a tensor from data of dtype {array.dtype}")
    return _make(array, device, requires_grad)


def as_tensor(data: Any, dtype: DTypeLike | None = None, device: DeviceLike = None) -> Tensor:
    """Like :func:`tensor`, but shares memory with a matching ndarray or Tensor (no copy); an
    ndarray in non-native byte order ('>f4') is copied to native order."""
    if isinstance(data, Tensor) and (dtype is None or np.dtype(dtype) == data.dtype):
        return (data if device is None or as_device(device) == data.device
                else data.to(device=device))
    if isinstance(data, np.ndarray) and data.dtype.isnative and (
            dtype is None or np.dtype(dtype) == data.dtype):
        return _make(data, device, False)
    return tensor(data, dtype=dtype, device=device)


def zeros(*size: ShapeLike, dtype: DTypeLike | None = None, device: DeviceLike = None,
          requires_grad: bool = False) -> Tensor:
    dtype = _dtype(dtype, default_float())
    return _make(np.zeros(_size("zeros", size, dtype), dtype=dtype), device, requires_grad)


def ones(*size: ShapeLike, dtype: DTypeLike | None = None, device: DeviceLike = None,
         requires_grad: bool = False) -> Tensor:
    dtype = _dtype(dtype, default_float())
    return _make(np.ones(_size("ones", size, dtype), dtype=dtype), device, requires_grad)


def empty(*size: ShapeLike, dtype: DTypeLike | None = None, device: DeviceLike = None,
          requires_grad: bool = False) -> Tensor:
    dtype = _dtype(dtype, default_float())
    return _make(np.empty(_size("empty", size, dtype), dtype=dtype), device, requires_grad)


def full(size: ShapeLike, fill_value: Number, dtype: DTypeLike | None = None,
         device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``; the dtype follows the value when not
    given: bool for a bool, int64 for an int, the default float dtype for a float
    (``torch.full``)."""
    if dtype is None:
        dtype = (np.bool_ if isinstance(fill_value, (bool, np.bool_))
                 else np.int64 if isinstance(fill_value, (int, np.integer)) else default_float())
    dtype = _dtype(dtype)
    return _make(np.full(_size("full", (size,), dtype), fill_value, dtype=dtype), device,
                 requires_grad)


def _number(name: str, value: Any) -> float:
    """A real number from a Python/NumPy number or a one-element tensor (``arange(t.size(0))``
    and ``arange(torch.tensor(3))`` both work in PyTorch)."""
    if isinstance(value, Tensor):
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    # any numbers.Real (int, float, Fraction ...); mypy's numbers ABCs have no arithmetic
    return value  # type: ignore[return-value]


def arange(start: Number | Tensor = 0, end: Number | Tensor | None = None,
           step: Number | Tensor = 1, *, dtype: DTypeLike | None = None, device: DeviceLike = None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` (default 0) to ``end`` (exclusive) by ``step`` (``torch.arange``):
    ``arange(end)``, ``arange(start, end)``, ``arange(start, end, step)``. The dtype is int64
    when start, end and step are all ints, else the default float dtype (``arange(5.)`` is
    float32).

    Raises RuntimeError (PyTorch's messages) for step 0 or bounds on the wrong side of the
    step's sign, TypeError for a bound that is not a number.
    """
    if end is None:
        start, end = 0, start
    start, end, step = (_number(n, v) for n, v in (("start", start), ("end", end),
                                                      ("step", step)))
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    integral = all(isinstance(v, int) for v in (start, end, step))
    if dtype is None:
        dtype = np.int64 if integral else default_float()
    # computed in float64 (or int64) and then cast, as PyTorch computes start + i * step in
    # double precision for float32 output
    array = np.arange(start, end, step, dtype=np.int64 if integral else np.float64)
    return _make(array.astype(_dtype(dtype)), device, requires_grad)


def linspace(start: Number | Tensor, end: Number | Tensor, steps: int, *,
             dtype: DTypeLike | None = None, device: DeviceLike = None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included
    (``torch.linspace``); the default float dtype unless ``dtype`` says otherwise (integer
    dtypes truncate).

    Raises RuntimeError for a negative ``steps``, TypeError for a non-int ``steps``.
    """
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool):
        raise TypeError(f"linspace(): argument 'steps' must be int, not {type(steps).__name__}")
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    start, end = _number("start", start), _number("end", end)
    return _make(np.linspace(start, end, int(steps)).astype(_dtype(dtype, default_float())),
                 device, requires_grad)


def eye(n: int, m: int | None = None, dtype: DTypeLike | None = None, device: DeviceLike = None,
        requires_grad: bool = False) -> Tensor:
    """An (n, m) tensor (m defaults to n) with ones on the diagonal (``torch.eye``). Raises
    TypeError for a non-int size, RuntimeError for a negative or too large one."""
    dtype = _dtype(dtype, default_float())
    n, m = _size("eye", (n, n if m is None else m), dtype)
    return _make(np.eye(n, m, dtype=dtype), device, requires_grad)


def rand(*size: ShapeLike, dtype: DTypeLike | None = None, device: DeviceLike = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from minicnn's generator (see manual_seed)."""
    dtype = _dtype(dtype, default_float())
    return _make(default_generator().random(_size("rand", size, dtype), dtype=dtype), device,
                 requires_grad)


def randn(*size: ShapeLike, dtype: DTypeLike | None = None, device: DeviceLike = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples from minicnn's generator (see manual_seed)."""
    dtype = _dtype(dtype, default_float())
    samples = default_generator().standard_normal(_size("randn", size, dtype), dtype=dtype)
    return _make(samples, device, requires_grad)


def randint(low: int, high: int | None = None, size: ShapeLike = (), dtype: DTypeLike | None = None,
            device: DeviceLike = None) -> Tensor:
    """Integers uniform in [low, high) (``randint(high, size)`` means low = 0); int64."""
    if high is None:
        low, high = 0, low
    dtype = _dtype(dtype, np.int64)
    array = default_generator().integers(low, high, size=_size("randint", (size,), np.int64))
    return _make(array.astype(dtype), device, False)


class _NormalFn(Function):
    """A draw mean + std * N(0, 1), ``noise`` drawn beforehand. As in PyTorch, the sample is not
    reparameterized: the gradients to mean and std are zero (for a differentiable draw, write
    mean + std * randn_like(std))."""

    @staticmethod
    def forward(ctx: Context, mean: Any, std: Any, noise: Any) -> Any:
        return mean + std * noise

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple[Any, Any, None]:
        return (np.zeros_like(g) if ctx.needs_input_grad[0] else None,
                np.zeros_like(g) if ctx.needs_input_grad[1] else None, None)


def normal(mean: Tensor | float, std: Tensor | float = 1.0, size: ShapeLike | None = None, *,
           generator: np.random.Generator | None = None, dtype: DTypeLike | None = None,
           device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Normal samples with the given mean and standard deviation (``torch.normal``), from
    minicnn's generator (``manual_seed``) or ``generator`` (a numpy.random.Generator).

    PyTorch's overloads: ``normal(mean: Tensor, std: Tensor)`` (shapes broadcast),
    ``normal(mean: Tensor, std: float = 1.0)``, ``normal(mean: float, std: Tensor)`` -- the
    result has the tensors' dtype and device; and ``normal(mean: float, std: float, size)``, a
    new tensor of ``size`` (the default float dtype unless ``dtype``). Gradients to mean and std
    are zero.

    Raises TypeError for two numbers without ``size``, a ``size`` given with a tensor, or a
    non-floating tensor; RuntimeError for a negative std; ValueError for tensor shapes that do
    not broadcast.
    """
    rng = default_generator() if generator is None else generator
    if not isinstance(mean, Tensor) and not isinstance(std, Tensor):
        if size is None:
            raise TypeError("normal(): with a float mean and a float std, size is required: "
                            "normal(mean, std, size)")
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        dt = _dtype(dtype, default_float())
        noise = rng.standard_normal(_size("normal", (size,), dt), dtype=dt)
        return _make(noise * dt.type(std) + dt.type(mean), device, requires_grad)
    if size is not None:
        raise TypeError("normal(): size is only accepted with a float mean and a float std")
    for name, v in (("mean", mean), ("std", std)):
        if isinstance(v, Tensor) and v.dtype.kind != "f":
            raise TypeError(f"normal: {name} must be a floating tensor, got {v.dtype}")
    if isinstance(std, Tensor):
        if bool((std._data < 0).any()):
            raise RuntimeError("normal expects all elements of std >= 0.0")
    elif std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    mean_t, std_t = operands(mean, std)
    try:
        shape = np.broadcast_shapes(mean_t.shape, std_t.shape)
    except ValueError:
        raise ValueError(f"normal: shapes {tuple(mean_t.shape)} and {tuple(std_t.shape)} of mean "
                         "and std are not broadcastable") from None
    noise = move(rng.standard_normal(shape, dtype=mean_t.dtype), mean_t.device)
    return _NormalFn.apply(mean_t, std_t, noise)


def _like(fn: Callable[..., Tensor], input: Tensor, dtype: DTypeLike | None, device: DeviceLike,
          requires_grad: bool) -> Tensor:
    return fn(input.shape, dtype=input.dtype if dtype is None else dtype,
              device=input.device if device is None else device,
              requires_grad=requires_grad)


def zeros_like(input: Tensor, dtype: DTypeLike | None = None, device: DeviceLike = None,
               requires_grad: bool = False) -> Tensor:
    return _like(zeros, input, dtype, device, requires_grad)


def ones_like(input: Tensor, dtype: DTypeLike | None = None, device: DeviceLike = None,
              requires_grad: bool = False) -> Tensor:
    return _like(ones, input, dtype, device, requires_grad)


def empty_like(input: Tensor, dtype: DTypeLike | None = None, device: DeviceLike = None,
               requires_grad: bool = False) -> Tensor:
    return _like(empty, input, dtype, device, requires_grad)


def rand_like(input: Tensor, dtype: DTypeLike | None = None, device: DeviceLike = None,
              requires_grad: bool = False) -> Tensor:
    return _like(rand, input, dtype, device, requires_grad)


def randn_like(input: Tensor, dtype: DTypeLike | None = None, device: DeviceLike = None,
               requires_grad: bool = False) -> Tensor:
    return _like(randn, input, dtype, device, requires_grad)


def full_like(input: Tensor, fill_value: Number, dtype: DTypeLike | None = None,
              device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    return full(input.shape, fill_value, dtype=input.dtype if dtype is None else dtype,
                device=input.device if device is None else device, requires_grad=requires_grad)
