"""Helpers shared by the op modules: argument checks, operand conversion and dimension
arguments."""
from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import numpy as np

from .. import autograd
from ..autograd import is_floating_dtype
from ..backends import BACKENDS
from ..backends.reference.elementwise import ACTIVATIONS
from ..device import CPU
from ..geometry import int_tuple
from ..tensor import Tensor, native_order

# The dtype of Python floats and of floating factories (torch.get_default_dtype); a one-element
# list so that set_default_dtype (minicnn.creation) changes it for every importer.
_DEFAULT_FLOAT = [np.dtype(np.float32)]


def default_float() -> np.dtype[Any]:
    """The default floating dtype: float32 unless ``minicnn.set_default_dtype`` changed it."""
    return _DEFAULT_FLOAT[0]


def as_operand(value: Any, like: Tensor) -> Tensor:
    """Turn a non-tensor operand into a constant tensor on ``like``'s device.

    Python and NumPy scalars (and lists) take the dtype of a floating-point ``like``, as PyTorch
    does for scalars, and the default float dtype next to an integer ``like``; an ndarray keeps
    its own dtype (in native byte order), so a float64 array meeting a float32 tensor
    raises the usual dtype error. On a device with memory of its own ("cuda") an ndarray stays a
    host tensor (so the op reports the device mismatch, as PyTorch does) and a number becomes a
    device scalar made by the device's ``full`` kernel rather than copied from the host
    (TypeError there for a dtype its arithmetic lacks: anything but float32 on "cuda").
    """
    if isinstance(value, Tensor):
        return value
    table = BACKENDS[like.device.type]
    if isinstance(value, np.ndarray):
        return Tensor._wrap(native_order(value), like.device if table.host_memory else CPU)
    array = np.asarray(value)
    if is_floating_dtype(like.dtype) and array.dtype.kind in "biuf":
        array = array.astype(like.dtype)
    elif array.dtype == np.float64:  # a Python float meeting an integer tensor: the default
        array = array.astype(default_float())  # float dtype, as PyTorch (int64 * 2.5 is float32)
    if table.host_memory:
        return Tensor._wrap(array, like.device)
    if array.ndim:
        return Tensor._wrap(array, CPU)
    return Tensor._wrap(table.full((), array[()], array.dtype), like.device)


def operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as tensors.

    Two numbers make ``a`` a 0-d host tensor first (int64, bool, or the default float dtype for a
    float, as ``torch.add(2, 3.5)``). An integer or bool tensor meeting a floating one takes the
    floating dtype, as in PyTorch (float32 * int64 is float32); two floating dtypes are never
    promoted (Function.apply raises).
    """
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        array = np.asarray(a)
        a = Tensor._wrap(array.astype(default_float()) if array.dtype == np.float64 else array,
                         CPU)
    a, b = (a, as_operand(b, a)) if isinstance(a, Tensor) else (as_operand(a, b), b)
    if is_floating_dtype(a.dtype) and b.dtype.kind in "biu":
        b = b.to(a.dtype)
    elif is_floating_dtype(b.dtype) and a.dtype.kind in "biu":
        a = a.to(b.dtype)
    return a, b


def normalize_dim(dim: int, ndim: int, name: str = "dim") -> int:
    """A dimension index in [-ndim, ndim) as a non-negative int; IndexError otherwise."""
    lo, hi = -max(ndim, 1), max(ndim, 1) - 1
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{name} must be an int, got {type(dim).__name__}")
    if not lo <= dim <= hi:
        raise IndexError(f"{name} out of range (expected to be in range of [{lo}, {hi}], "
                         f"but got {dim})")
    return int(dim) % max(ndim, 1)


def normalize_dims(dim: Any, ndim: int) -> tuple[int, ...]:
    """``dim`` as a sorted tuple of non-negative ints; None (or, as in PyTorch, an empty tuple)
    means every dimension."""
    if dim is None or isinstance(dim, (list, tuple)) and len(dim) == 0:
        return tuple(range(ndim))
    if ndim == 0:  # a 0-d tensor accepts dim 0 or -1 and has no axis to reduce
        normalize_dim(dim[0] if isinstance(dim, (list, tuple)) else dim, 0)
        return ()
    if isinstance(dim, (list, tuple)):
        dims = tuple(sorted(normalize_dim(d, ndim) for d in dim))
        if len(set(dims)) != len(dims):
            raise ValueError(f"dim {tuple(dim)} names a dimension twice")
        return dims
    return (normalize_dim(dim, ndim),)


def shape_arg(shape: Sequence[Any], fn: str, name: str = "size") -> tuple[int, ...]:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike, as PyTorch's reshape/view/expand/permute do;
    TypeError naming ``fn`` and ``name`` for an entry that is not an int (1.5, "4", True)."""
    return int_tuple(shape, fn, name)


def c_contiguous(a: Any) -> Any:
    """``a`` as a C-contiguous array for the C kernels: no copy when it is one already, 0-d stays
    0-d (unlike np.ascontiguousarray), None passes through."""
    return a if a is None or a.flags.c_contiguous else np.ascontiguousarray(a)


def host_only(name: str, *tensors: Any) -> None:
    """NotImplementedError for a tensor on a device with memory of its own ("cuda"): ``name`` is
    computed with NumPy on the host only (no kernel), and a silent round trip would hide the
    cost."""
    for t in tensors:
        if isinstance(t, Tensor) and not BACKENDS[t.device.type].host_memory:
            raise NotImplementedError(f"{name} is not implemented for {t.device.type} tensors "
                                      "(minicnn computes it with NumPy); copy the tensor to the "
                                      "host with .cpu() first")


# ---------------------------------------------------------------- argument checks, as PyTorch's

_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class defined by a class statement


def type_name(value: Any) -> str:
    """The name PyTorch's argument errors give ``value``'s type: its C-level name (tp_name), so
    "numpy.ndarray" and "numpy.float64", but "list", and a class defined in Python by its bare
    name."""
    cls = type(value)
    if cls.__flags__ & _HEAPTYPE or cls.__module__ == "builtins":
        return cls.__name__
    return f"{cls.__module__}.{cls.__qualname__}"


def tensor_arg(fn: str, name: str, position: int, value: Any) -> Tensor:
    """``value`` itself when it is a Tensor; TypeError in PyTorch's words otherwise."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be Tensor, "
                        f"not {type_name(value)}")
    return value


_F = TypeVar("_F", bound=Callable[..., Any])


def tensor_args(*names: str, optional: tuple[str, ...] = (),
                or_number: tuple[str, ...] = ()) -> Callable[[_F], _F]:
    """Decorator: the function's arguments ``names`` must be Tensors, those in ``optional``
    Tensors or None and those in ``or_number`` Tensors or numbers (:func:`is_scalar`); TypeError
    otherwise, in PyTorch's words: "conv2d(): argument 'input' (position 1) must be Tensor, not
    list" (a list or an ndarray would otherwise fail deep inside the op, or be taken silently).
    As in PyTorch, an argument given by keyword has no position, and a method's position does not
    count ``self`` ("add_(): argument 'other' (position 1) ...").

    The positions come from the signature once; a call costs a look-up per argument.
    """
    def decorate(func: _F) -> _F:
        params = list(inspect.signature(func).parameters.values())
        index = {p.name: i for i, p in enumerate(params)}
        first = 1 if params and params[0].name == "self" else 0
        checks = [(name, index[name], params[index[name]].default, name in optional,
                   name in or_number) for name in (*names, *optional, *or_number)]

        @functools.wraps(func)
        def checked(*args: Any, **kwargs: Any) -> Any:
            for name, i, default, may_be_none, may_be_number in checks:
                value = args[i] if i < len(args) else kwargs.get(name, default)
                if value is inspect.Parameter.empty:  # missing: the call itself raises
                    continue
                if (isinstance(value, Tensor) or may_be_none and value is None
                        or may_be_number and is_scalar(value)):
                    continue
                where = f" (position {i + 1 - first})" if i < len(args) else ""
                raise TypeError(f"{func.__name__}(): argument '{name}'{where} must be "
                                f"Tensor{' or None' if may_be_none else ''}, not "
                                f"{type_name(value)}")
            return func(*args, **kwargs)

        return cast(_F, checked)
    return decorate


_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def check_activation(fn: str, activation: Any) -> None:
    """ValueError unless ``activation`` is one a kernel can fuse: None, "relu" or "relu6"."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"{fn}: activation must be None, 'relu' or 'relu6', got "
                         f"{activation!r}")


def unary_fast_path(kernel: str) -> Callable[[_F], _F]:
    """Decorator for an elementwise op ``op(input)`` whose Function's forward is the device
    kernel ``kernel`` applied to the input's array: with nothing to record (grads off, or an
    input that does not require grad), outside an ONNX trace, a float32/float64 C-contiguous
    NumPy array (the "cpu" and "numpy" devices) goes straight to the kernel, skipping the
    argument checks and Function.apply (its Context, saved arrays and version bookkeeping:
    about 2 of the 4.4 us a 4x4 ``F.relu`` took; issue 21). The result is the one the full path
    gives, and a fresh array, as there. Anything else takes the full path."""
    def decorate(func: _F) -> _F:
        @functools.wraps(func)
        def op(input: Any, *args: Any, **kwargs: Any) -> Any:
            if (type(input) is Tensor and not args and not kwargs
                    and not (input.requires_grad and autograd.is_grad_enabled())
                    and autograd._tracer is None):
                x = input._data
                if (type(x) is np.ndarray and (x.dtype is _F32 or x.dtype is _F64)
                        and x.flags.c_contiguous):
                    device = input._device
                    return Tensor._wrap(getattr(BACKENDS[device.type], kernel)(x), device)
            return func(input, *args, **kwargs)
        return cast(_F, op)
    return decorate


def is_number(value: Any) -> bool:
    """True for Python and NumPy real numbers (bool included, as PyTorch's Number)."""
    return isinstance(value, (numbers.Real, np.bool_)) and not isinstance(value, np.ndarray)


def is_scalar(value: Any) -> bool:
    """True for what PyTorch's arithmetic takes in place of a tensor: Python and NumPy numbers,
    complex and bool included (not a 0-d ndarray, a list or None)."""
    return isinstance(value, (numbers.Number, np.bool_))


def tensor_or_number_arg(fn: str, name: str, position: int, value: Any) -> Any:
    """``value`` when it is a Tensor or a real number; TypeError naming the argument otherwise."""
    if not isinstance(value, Tensor) and not is_number(value):
        raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be Tensor or "
                        f"Number, not {type_name(value)}")
    return value


def broadcast_error(fn: str, *tensors: Tensor) -> ValueError:
    shapes = " and ".join(str(tuple(t.shape)) for t in tensors)
    return ValueError(f"{fn}: shapes {shapes} are not broadcastable")


def check_broadcast(fn: str, *tensors: Tensor) -> tuple[int, ...]:
    """The broadcast shape of the tensors' shapes; ValueError naming them when there is none."""
    try:
        return np.broadcast_shapes(*(t.shape for t in tensors))
    except ValueError:
        raise broadcast_error(fn, *tensors) from None
