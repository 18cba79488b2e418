"""The Tensor: an array, plus what autograd needs (requires_grad, grad, grad_fn), plus a device.

Names and semantics follow ``torch.Tensor``. The array behind a tensor on the "cpu" or "numpy"
device is a NumPy ndarray; ``.numpy()`` returns it (shared memory, like PyTorch). This module
holds what every op builds on: the data, the device, autograd's state and the in-place machinery
(version counters). The methods that are ops (``x + y``, ``x.sum()``, ``x.add_(y)``, ...) are
installed by :mod:`minicnn.tensor_methods`, each delegating to its op in :mod:`minicnn.ops`, where
its Function (forward and backward side by side) lives; so this module imports no op.

dtypes: float32 (the default for Python floats) and float64 for everything differentiable;
int64 and bool for indices, labels and comparison results. minicnn does not promote between
floating dtypes: combining a float32 and a float64 tensor raises TypeError.
"""
from __future__ import annotations

import builtins
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, SupportsIndex, overload

import numpy as np

from . import autograd
from .backends import ARRAY_TYPES, array_table
from .backends import to_host as _host
from .device import CPU, as_device, move

if TYPE_CHECKING:  # the op methods (x.sum(), x + y ...), installed by tensor_methods at import
    import numpy.typing as npt

    from .autograd import Context
    from .device import device
    from .tensor_methods import TensorMethods as _OpMethods
    from .types import DeviceLike, DTypeLike
else:
    _OpMethods = object

_ARRAYS = ARRAY_TYPES  # what a tensor's data may be: a NumPy array, or a device's own array
_TYPE_DTYPES = tuple(np.dtype(d) for d in (np.float32, np.float64, np.float16, np.int64,
                                            np.int32, np.int16, np.int8, np.uint8, np.bool_))


def native_order(array: Any) -> Any:
    """``array`` itself when its bytes are in this machine's order (or it is not an ndarray),
    else a copy converted to it: a '>f4' array from a big-endian file becomes float32. Every
    tensor holds native-order data, so the C kernels, which read raw memory, see the right
    numbers (they refuse a non-native array)."""
    if isinstance(array, np.ndarray) and not array.dtype.isnative:
        return array.astype(array.dtype.newbyteorder("="))
    return array


class Size(tuple[int, ...]):
    """A tensor's shape (``torch.Size``): a tuple of ints that prints as ``minicnn.Size([2, 3])``
    and compares equal to the plain tuple."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"minicnn.Size({list(self)})"

    __str__ = __repr__

    @overload
    def __getitem__(self, index: SupportsIndex) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> Size: ...

    def __getitem__(self, index: SupportsIndex | slice) -> int | Size:
        if isinstance(index, slice):
            return Size(tuple.__getitem__(self, index))
        return tuple.__getitem__(self, index)

    def __add__(self, other: tuple[int, ...]) -> Size:  # type: ignore[override]
        return Size(tuple(self) + tuple(other))

    def numel(self) -> int:
        """The number of elements of a tensor of this shape."""
        return math.prod(self)


class Tensor(_OpMethods):
    """A multi-dimensional array with autograd, as ``torch.Tensor``. Create with
    :func:`minicnn.tensor`.

    Attributes: ``shape`` (a :class:`Size`), ``dtype`` (a numpy dtype: minicnn.float32 ...),
    ``ndim``, ``device``, ``requires_grad``, ``grad`` (a Tensor or None), ``grad_fn`` (the graph
    node that made it, None for a leaf), ``output_nr`` (which output of ``grad_fn``), ``is_leaf``.
    """

    # _vc: the version counter, a one-element list shared by a tensor and its views; every
    # in-place change bumps it, and backward compares it with the version saved (autograd).
    # _base: the tensor this one is a view of (shares memory with), or None.
    # _output_nr: which output of its grad_fn this tensor is (a Function may return several).
    __slots__ = ("_data", "_device", "requires_grad", "grad", "grad_fn", "_retains_grad", "_vc",
                 "_base", "_output_nr", "__weakref__")
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator

    _data: Any  # an ndarray, or a device's own array
    _device: device
    requires_grad: bool
    grad: Tensor | None
    grad_fn: Context | None
    _retains_grad: bool
    _vc: list[int]
    _base: Tensor | None
    _output_nr: int

    def __init__(self, data: Any, requires_grad: bool = False,
                 device: DeviceLike = None) -> None:
        """Wrap ``data`` (an ndarray, not copied unless its byte order is not native; a device
        array such as a CUDA DeviceArray; or anything np.asarray takes) as a leaf tensor on
        ``device`` (default: the device of a device array, else the default device; host data is
        copied to the GPU for "cuda", TypeError for float64 there).

        Prefer :func:`minicnn.tensor`, which copies and applies the dtype defaults.
        """
        data = native_order(data if isinstance(data, _ARRAYS) else np.asarray(data))
        if device is None and not isinstance(data, np.ndarray):
            device = array_table(data).name
        self._device = as_device(device)
        self._data = move(data, self._device)
        self.grad = None
        self.grad_fn = None
        self._retains_grad = False
        self._vc = [0]
        self._base = None
        self._output_nr = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array: Any, device: device | None, grad_fn: Context | None = None) -> Tensor:
        """Fast internal constructor for op outputs (no checks, no copy)."""
        t = object.__new__(cls)
        t._data = array if isinstance(array, _ARRAYS) else np.asarray(array)
        t._device = device if device is not None else as_device(None)
        t.grad = None
        t.grad_fn = grad_fn
        t._retains_grad = False
        t._vc = [0]
        t._base = None
        t._output_nr = 0
        t.requires_grad = grad_fn is not None
        return t

    # ------------------------------------------------------------ attributes

    @property
    def data(self) -> Tensor:
        """The same values as a tensor that autograd does not track (shares memory). As in
        PyTorch, it has a version counter of its own: in-place changes through ``.data`` are not
        seen by autograd's checks (prefer ``detach()``, whose changes are)."""
        return Tensor._wrap(self._data, self._device)

    @data.setter
    def data(self, value: Any) -> None:
        array = value._data if isinstance(value, Tensor) else native_order(np.asarray(value))
        array = move(array, self._device)
        if array.shape != self._data.shape or array.dtype != self._data.dtype:
            raise ValueError(f"data: new value has shape {tuple(array.shape)} and dtype "
                             f"{array.dtype}, "
                             f"expected shape {self._data.shape} and dtype {self.dtype}")
        self._data = array

    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    @overload
    def size(self, dim: None = None) -> Size: ...

    @overload
    def size(self, dim: int) -> int: ...

    def size(self, dim: int | None = None) -> Size | int:
        """The shape (a :class:`Size`), or one dimension of it (``torch.Tensor.size``)."""
        return Size(self._data.shape) if dim is None else self._data.shape[dim]

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's memory has seen (shared with its views)."""
        return self._vc[0]

    def _bump_version(self) -> None:
        """Record an in-place change of ``_data`` made outside the in-place methods (optimizer
        steps, kernels writing into an existing array)."""
        self._vc[0] += 1

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return self._data.size

    @property
    def device(self) -> device:
        return self._device

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def output_nr(self) -> int:
        """Which output of its ``grad_fn`` this tensor is (0 for a leaf and for an op with one
        output), as ``torch.Tensor.output_nr``."""
        return self._output_nr

    @property
    def T(self) -> Tensor:
        """The dimensions reversed (for 2-D: the transpose)."""
        return self.permute(*reversed(range(self.ndim)))

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        body = np.array2string(_host(self._data), separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self._data.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype=minicnn.{self._data.dtype}")
        if self._device != CPU:  # as PyTorch, which names every device but the CPU
            extras.append(f"device='{self._device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    __hash__ = object.__hash__  # == is elementwise, so hash by identity (as PyTorch)

    def __format__(self, format_spec: str) -> str:
        """A 0-d tensor formats as its number (``f"{loss:.4f}"``), as in PyTorch."""
        if self._data.ndim == 0:
            return self.item().__format__(format_spec)
        return object.__format__(self, format_spec)

    # ------------------------------------------------------------ conversion

    def _check_host(self, what: str) -> None:
        if not isinstance(self._data, np.ndarray):
            raise TypeError(f"can't convert {self._device} device type tensor to {what}. Use "
                            "Tensor.cpu() to copy the tensor to host memory first.")

    def numpy(self) -> np.ndarray[Any, Any]:
        """The ndarray behind this tensor (shared memory). RuntimeError if it requires grad,
        TypeError for a tensor on the GPU (copy it with ``.cpu()`` first)."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on a tensor that requires grad; "
                               "use tensor.detach().numpy()")
        self._check_host("numpy")
        return self._data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to Python "
                             f"scalars, got shape {self._data.shape}")
        return self._data.item()

    def tolist(self) -> Any:
        return _host(self._data).tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        """A one-element integer (or bool) tensor as a Python int: ``lst[t]``, ``range(t)``."""
        if self._data.size != 1 or self.dtype.kind not in "biu":
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with shape {self._data.shape} is "
                               "ambiguous")
        return bool(self._data.item())

    def __array__(self, dtype: DTypeLike | None = None,
                  copy: bool | None = None) -> np.ndarray[Any, Any]:
        if self.requires_grad:
            raise RuntimeError("Can't convert a tensor that requires grad to a NumPy array; "
                               "use tensor.detach().numpy()")
        self._check_host("numpy")
        return self._data if dtype is None else self._data.astype(dtype)

    @overload
    def type(self, dtype: None = None, non_blocking: builtins.bool = False) -> str: ...

    @overload
    def type(self, dtype: DTypeLike, non_blocking: builtins.bool = False) -> Tensor: ...

    def type(self, dtype: DTypeLike | None = None,
             non_blocking: builtins.bool = False) -> str | Tensor:
        """With no argument, the type string ("minicnn.FloatTensor"); else this tensor converted
        to ``dtype`` (a dtype, or a type string such as "torch.LongTensor")."""
        if dtype is None:
            return autograd.tensor_type(self)
        if isinstance(dtype, str):
            name = dtype.rpartition(".")[2]
            by_name = {autograd.type_name(d) + "Tensor": d for d in _TYPE_DTYPES}
            if name not in by_name:
                raise ValueError(f"type: invalid type {dtype!r}")
            return self.to(by_name[name], device="cuda" if ".cuda." in dtype else None)
        return self.to(dtype)

    def type_as(self, other: Tensor) -> Tensor:
        """This tensor converted to ``other``'s dtype."""
        return self.to(other.dtype)

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def long(self) -> Tensor:
        return self.to(np.int64)

    def int(self) -> Tensor:
        return self.to(np.int32)

    def bool(self) -> Tensor:
        return self.to(np.bool_)

    def half(self) -> Tensor:
        return self.to(np.float16)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    # ------------------------------------------------------------ autograd

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data (and its version counter), cut from the graph."""
        t = Tensor._wrap(self._data, self._device)
        t._vc = self._vc
        return t

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place; it becomes a leaf that requires no grad."""
        if self._base is not None and self._base.requires_grad:
            raise RuntimeError("detach_(): can't detach a view in place; use detach()")
        self.grad_fn, self.requires_grad = None, False
        return self

    def requires_grad_(self, requires_grad: builtins.bool = True) -> Tensor:
        """Set requires_grad in place (leaves only, floating dtypes only); returns self."""
        if requires_grad and not autograd.is_floating_dtype(self._data.dtype):
            raise RuntimeError(f"only tensors of floating point dtype can require gradients, "
                               f"got dtype {self.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Also fill ``.grad`` of this non-leaf tensor during backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that doesn't require grad")
        self._retains_grad = self.grad_fn is not None

    def backward(self, gradient: Tensor | npt.ArrayLike | None = None,
                 retain_graph: builtins.bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (``torch.Tensor.backward``).

        ``gradient``: the upstream gradient, shaped like self; may be omitted only for a
        one-element tensor. Raises RuntimeError when self does not require grad, when a
        non-scalar has no gradient, when ``gradient``'s shape differs, or when the graph was
        already freed by an earlier backward (pass ``retain_graph=True`` to keep it).
        """
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a "
                               "grad_fn (backward() on a tensor that does not require grad)")
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; "
                                   f"this tensor has shape {self._data.shape}: pass gradient=")
            grad = np.ones_like(self._data)
        else:
            grad = gradient._data if isinstance(gradient, Tensor) else np.asarray(gradient)
            grad = move(grad, self._device)
            if grad.shape != self.shape:
                raise RuntimeError(f"backward: gradient has shape {tuple(grad.shape)} but the "
                                   "tensor "
                                   f"has shape {self._data.shape}")
            grad = grad.astype(self._data.dtype, copy=False)
        autograd.run_backward(self, grad, retain_graph=retain_graph)

    # ------------------------------------------------------------ in-place

    # Every in-place method computes its out-of-place op and writes the result into this
    # tensor's memory, then bumps the version counter. Under grad mode, when this tensor or an
    # operand requires grad, the op is recorded and this tensor takes its grad_fn (PyTorch's
    # "rebase"): the op sees an alias of the tensor as it was, and any value its backward saved
    # from that memory is copied first, so the write below cannot change it.

    def _recorded(self, *operands: Any) -> builtins.bool:
        """Whether an in-place op on this tensor with these operands goes into the graph."""
        return autograd.is_grad_enabled() and (self.requires_grad or any(
            isinstance(a, Tensor) and a.requires_grad for a in operands))

    def _inplace(self, name: str, fn: Callable[..., Tensor], *args: Any, **kwargs: Any) -> Tensor:
        """``self <- fn(self, *args, **kwargs)`` in place; returns self."""
        args = tuple(self._operand(a) for a in args)
        if self._recorded(*args):
            self._check_rebase(name)
            before = Tensor._wrap(self._data, self._device, self.grad_fn)
            before.requires_grad, before._vc = self.requires_grad, self._vc
            before._output_nr = self._output_nr
            result = fn(before, *args, **kwargs)
            if result.grad_fn is not None:
                result.grad_fn.unshare_saved(self._data)
            self._write(name, result._data)
            self.grad_fn, self.requires_grad = result.grad_fn, result.requires_grad
            self._output_nr = result._output_nr
        else:
            with autograd.no_grad():
                result = fn(self, *args, **kwargs)
            self._write(name, result._data)
        self._vc[0] += 1
        return self

    def _operand(self, value: Any) -> Any:
        """A floating tensor operand of an in-place op is cast to this tensor's floating dtype
        (the result is written in this dtype anyway, as PyTorch does)."""
        if (isinstance(value, Tensor) and value.dtype != self.dtype and value.dtype.kind == "f"
                and self.dtype.kind == "f"):
            return value.to(self.dtype)
        return value

    def _check_rebase(self, name: str) -> None:
        if self.grad_fn is None and self.requires_grad:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               f"operation. ({name}: wrap it in `with minicnn.no_grad()` or use "
                               "the out-of-place op)")
        if self._base is not None and (self.requires_grad or self._base.requires_grad):
            raise RuntimeError(f"{name}: an in-place operation on a view of a tensor that is part "
                               "of a graph is not supported by minicnn (PyTorch rewrites the "
                               "base's history); clone() the view, or apply the op to the base")

    def _write(self, name: str, values: Any) -> None:
        """Write ``values`` (this tensor's shape; a dtype that casts to its dtype) into _data."""
        if values.shape != self._data.shape:
            raise RuntimeError(f"{name}: output with shape {list(self.shape)} doesn't match the "
                               f"broadcast shape {list(values.shape)}")
        if values.dtype != self.dtype and not np.can_cast(values.dtype, self.dtype, "same_kind"):
            raise RuntimeError(f"{name}: result type {autograd.type_name(values.dtype)} can't be "
                               "cast to the desired output type "
                               f"{autograd.type_name(self.dtype)}")
        self._store(name, Ellipsis, values)

    def _store(self, name: str, index: Any, values: Any) -> None:
        try:
            self._data[index] = values
        except ValueError as e:
            if "read-only" not in str(e):
                raise
            raise RuntimeError(f"{name}: unsupported operation: more than one element of the "
                               "written-to tensor refers to a single memory location (it was "
                               "made by expand); clone() it before writing") from None


autograd.set_tensor_type(Tensor)  # autograd wraps op results in it
