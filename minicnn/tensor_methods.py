"""The op methods of :class:`minicnn.Tensor`: ``x + y``, ``x.sum()``, ``x.reshape(...)``,
``x.add_(y)``, ``x[i] = v``, ``x.to(...)``, ``x.new_zeros(...)``, ... Each delegates to its op in
:mod:`minicnn.ops` (or to :mod:`minicnn.creation`); the in-place ones write the op's result
through Tensor's in-place machinery (``Tensor._inplace``).

They are written in the body of :class:`TensorMethods` and installed on Tensor when this module
loads (``import minicnn`` loads it right after the ops), as Chainer installs its Variable's
operators: the ops build on Tensor, so minicnn/tensor.py imports no op and there is no import
cycle between them.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from . import autograd as _autograd
from . import ops
from . import random as _random
from .autograd import is_floating_dtype
from .device import CPU, DEVICE_TYPES, move
from .device import device as _device
from .ops._util import as_operand, is_scalar, tensor_args
from .tensor import _ARRAYS, Tensor, _host

if TYPE_CHECKING:
    import numpy.typing as npt

    from .ops.reduction import MinMaxResult
    from .ops.search import SortResult, TopkResult
    from .types import DeviceLike, DTypeLike, Number, ShapeLike

__all__ = ["TensorMethods"]

_Operator = Callable[[Any, Any], Any]


def _operand(other: Any, like: Tensor, numbers: bool = True) -> Any:
    """``other`` as the right-hand side of an operator on ``like``: a Tensor (or a number, with
    ``numbers``) as it is, an ndarray as a tensor (``x * ndarray`` gives a Tensor, as in
    PyTorch), and NotImplemented for anything else (a list, None), so that Python raises its own
    TypeError ("unsupported operand type(s) for +: 'Tensor' and 'list'"), as for PyTorch's
    operators; the functions and methods raise TypeError for an ndarray too."""
    if isinstance(other, Tensor) or numbers and is_scalar(other):
        return other
    if isinstance(other, np.ndarray):
        return as_operand(other, like)
    return NotImplemented


def _operator(method: _Operator) -> _Operator:
    """Decorator for a binary operator (``__add__``, ``__radd__``, ``__iadd__``, ``__eq__``, ...):
    its operand passed through :func:`_operand`."""
    @functools.wraps(method)
    def operator(self: Any, other: Any) -> Any:
        other = _operand(other, self)
        return NotImplemented if other is NotImplemented else method(self, other)
    return operator


_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def _no_grad_fast_path(ufunc: np.ufunc) -> Callable[[_Operator], _Operator]:
    """Decorator for ``x + y``, ``x - y``, ``x * y`` and ``x / y``: two tensors in host memory
    (NumPy arrays) on one device, of one shape and one dtype, float32 or float64, neither
    requiring grad, outside an ONNX trace, go
    straight to ``ufunc`` on their arrays, skipping the op's argument checks, promotion and
    Function.apply (a 4x4 no-grad add: 4.1 us down to about 1, against PyTorch's 1.2; issue 21).
    The result is the one the full path gives: those ops' forwards are these very ufuncs, and
    nothing is recorded without grads. Anything else (numbers, broadcasting, mixed dtypes,
    grads, other devices) takes the full path."""
    def decorate(method: _Operator) -> _Operator:
        @functools.wraps(method)
        def operator(self: Any, other: Any) -> Any:
            if (type(other) is Tensor and not (self.requires_grad or other.requires_grad)
                    and _autograd._tracer is None):
                x, y = self._data, other._data
                if (type(x) is np.ndarray and type(y) is np.ndarray and x.dtype is y.dtype
                        and (x.dtype is _F32 or x.dtype is _F64) and x.shape == y.shape
                        and (self._device is other._device or self._device == other._device)):
                    return Tensor._wrap(ufunc(x, y), self._device)
            return method(self, other)
        return operator
    return decorate


class TensorMethods:
    """The methods installed on Tensor (see the module's docstring); not a class to use.

    Their ``self`` is hinted ``Any``: it is a Tensor, which mypy cannot see here, as Tensor is
    the subclass (the hints of the other arguments and of the results are what callers see).
    """

    def to(self: Any, *args: str | _device | DTypeLike, dtype: DTypeLike | None = None,
           device: DeviceLike = None) -> Tensor:
        """``to(device)``, ``to(dtype)`` or ``to(device, dtype)``: a converted tensor
        (differentiable), or this very tensor when nothing changes."""
        for a in args:
            if isinstance(a, _device) or isinstance(a, str) and a.partition(":")[0] in DEVICE_TYPES:
                device = a
            else:
                dtype = a
        return ops.to(self, dtype=dtype, device=device)

    def _fill(self: Any, name: str, values: Any) -> Tensor:
        """Overwrite every element with ``values`` (a number or an array of this shape)."""
        if self._recorded():
            return self._inplace(name, ops.index_put, Ellipsis, Tensor._wrap(
                np.asarray(values, dtype=self.dtype), CPU).to(self._device))
        if isinstance(values, np.ndarray):
            values = move(values.astype(self.dtype, copy=False), self._device)
        self._store(name, Ellipsis, values)
        self._vc[0] += 1
        return self

    def zero_(self: Any) -> Tensor:
        """Fill with zeros in place (``torch.Tensor.zero_``)."""
        return self._fill("zero_", 0)

    def fill_(self: Any, value: Tensor | Number) -> Tensor:
        """Fill with ``value`` (a number or a one-element tensor) in place."""
        if isinstance(value, Tensor):
            value = value.item()
        return self._fill("fill_", value)

    def uniform_(self: Any, from_: float = 0.0, to: float = 1.0) -> Tensor:
        """Fill with draws from U(from_, to), from minicnn's generator
        (``torch.Tensor.uniform_``)."""
        values = _random.default_generator().uniform(from_, to, self.shape)
        return self._fill("uniform_", values)

    def normal_(self: Any, mean: float = 0.0, std: float = 1.0) -> Tensor:
        """Fill with draws from N(mean, std^2), from minicnn's generator."""
        values = _random.default_generator().normal(mean, std, self.shape)
        return self._fill("normal_", values)

    def bernoulli_(self: Any, p: Tensor | float = 0.5) -> Tensor:
        """Fill with 1 (probability ``p``, a number or a tensor of this shape's broadcast) or 0."""
        p = _host(p._data) if isinstance(p, Tensor) else p
        values = _random.default_generator().random(self.shape) < p
        return self._fill("bernoulli_", values)

    def copy_(self: Any, src: Tensor | npt.ArrayLike, non_blocking: bool = False) -> Tensor:
        """Copy ``src``'s values (broadcast to this shape, cast to this dtype) into this tensor,
        from any device. Differentiable with respect to ``src`` under grad mode."""
        if self._recorded(src):
            src = src if isinstance(src, Tensor) else Tensor._wrap(np.asarray(src), self._device)
            return self._inplace("copy_", _copy_into, src.to(self._device))
        self._store("copy_", Ellipsis, self._same_side(src))
        self._vc[0] += 1
        return self

    def _same_side(self: Any, value: Any) -> Any:
        """A tensor's (or an array's) data on this tensor's side of the GPU; numbers pass."""
        if isinstance(value, Tensor):
            value = value._data
        if isinstance(value, _ARRAYS) and value.ndim > 0:
            return move(value, self._device)
        return _host(value) if isinstance(value, _ARRAYS) else value

    def __setitem__(self: Any, index: Any, value: Any) -> None:
        if self._recorded(value):
            self._inplace("__setitem__", ops.index_put, index, value)
            return
        self._store("__setitem__", ops.to_index(index), self._same_side(value))
        self._vc[0] += 1

    @tensor_args(or_number=("other",))
    def add_(self: Any, other: Tensor | Number, *args: Any, alpha: Number = 1) -> Tensor:
        """self += alpha * other, in place (``torch.Tensor.add_``; the deprecated
        ``add_(alpha, other)`` order is accepted with a warning, as PyTorch does)."""
        other, alpha = _legacy_scalar_first("add_", other, args, alpha)
        return self._inplace("add_", ops.add, other, alpha=alpha)

    @tensor_args(or_number=("other",))
    def sub_(self: Any, other: Tensor | Number, *args: Any, alpha: Number = 1) -> Tensor:
        """self -= alpha * other, in place."""
        other, alpha = _legacy_scalar_first("sub_", other, args, alpha)
        return self._inplace("sub_", ops.sub, other, alpha=alpha)

    @tensor_args(or_number=("other",))
    def mul_(self: Any, other: Tensor | Number) -> Tensor:
        return self._inplace("mul_", ops.mul, other)

    @tensor_args(or_number=("other",))
    def div_(self: Any, other: Tensor | Number) -> Tensor:
        return self._inplace("div_", ops.div, other)

    @tensor_args(or_number=("exponent",))
    def pow_(self: Any, exponent: Tensor | Number) -> Tensor:
        return self._inplace("pow_", ops.pow, exponent)

    def sqrt_(self: Any) -> Tensor:
        return self._inplace("sqrt_", ops.sqrt)

    def exp_(self: Any) -> Tensor:
        return self._inplace("exp_", ops.exp)

    def neg_(self: Any) -> Tensor:
        return self._inplace("neg_", ops.neg)

    def abs_(self: Any) -> Tensor:
        return self._inplace("abs_", ops.abs)

    def clamp_(self: Any, min: Tensor | Number | None = None,
               max: Tensor | Number | None = None) -> Tensor:
        return self._inplace("clamp_", ops.clamp, min, max)

    clip_ = clamp_

    def clamp_min_(self: Any, min: Tensor | Number) -> Tensor:
        return self._inplace("clamp_min_", ops.clamp, min, None)

    def clamp_max_(self: Any, max: Tensor | Number) -> Tensor:
        return self._inplace("clamp_max_", ops.clamp, None, max)

    def relu_(self: Any) -> Tensor:
        return self._inplace("relu_", ops.relu)

    def sigmoid_(self: Any) -> Tensor:
        return self._inplace("sigmoid_", ops.sigmoid)

    def tanh_(self: Any) -> Tensor:
        return self._inplace("tanh_", ops.tanh)

    def addcmul_(self: Any, tensor1: Tensor | Number, *args: Any, value: Number = 1) -> Tensor:
        """self += value * tensor1 * tensor2, in place (also the deprecated
        ``addcmul_(value, tensor1, tensor2)``)."""
        (tensor1, tensor2), value = _legacy_value_first("addcmul_", tensor1, args, value)
        return self._inplace("addcmul_", ops.addcmul, tensor1, tensor2, value=value)

    def addcdiv_(self: Any, tensor1: Tensor | Number, *args: Any, value: Number = 1) -> Tensor:
        """self += value * tensor1 / tensor2, in place (also the deprecated
        ``addcdiv_(value, tensor1, tensor2)``)."""
        (tensor1, tensor2), value = _legacy_value_first("addcdiv_", tensor1, args, value)
        return self._inplace("addcdiv_", ops.addcdiv, tensor1, tensor2, value=value)

    def lerp_(self: Any, end: Tensor, weight: Tensor | Number) -> Tensor:
        """self += weight * (end - self), in place."""
        return self._inplace("lerp_", ops.lerp, end, weight)

    def index_put_(self: Any, indices: Any, values: Tensor | Number,
                   accumulate: bool = False) -> Tensor:
        """``self[indices] = values`` (or ``+=`` with ``accumulate``), in place."""
        return self._inplace("index_put_", ops.index_put, indices, values, accumulate)

    def index_put(self: Any, indices: Any, values: Tensor | Number,
                  accumulate: bool = False) -> Tensor:
        return ops.index_put(self, indices, values, accumulate)

    def scatter_(self: Any, dim: int, index: Tensor, src: Tensor | None = None, *,
                 value: Number | None = None, reduce: str | None = None) -> Tensor:
        """``self[index[i][j]][j] = src[i][j]`` along ``dim``, in place
        (``torch.Tensor.scatter_``)."""
        return self._inplace("scatter_", ops.scatter, dim, index, src, value=value, reduce=reduce)

    def scatter_add_(self: Any, dim: int, index: Tensor, src: Tensor) -> Tensor:
        """``self[index[i][j]][j] += src[i][j]`` along ``dim``, in place."""
        return self._inplace("scatter_add_", ops.scatter_add, dim, index, src)

    def masked_fill_(self: Any, mask: Tensor, value: Tensor | Number) -> Tensor:
        """Set the elements where ``mask`` (bool, broadcast to this shape) is True to ``value``."""
        return self._inplace("masked_fill_", ops.masked_fill, mask, value)

    # the operators take a Tensor, a number or an ndarray, and answer NotImplemented to the rest
    # (_operator); the in-place ones work in place on an ndarray's values too
    @_operator
    def __iadd__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return self.add_(other)

    @_operator
    def __isub__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return self.sub_(other)

    @_operator
    def __imul__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return self.mul_(other)

    @_operator
    def __itruediv__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return self.div_(other)

    # ------------------------------------------------------------ arithmetic

    @_no_grad_fast_path(np.add)
    @_operator
    def __add__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return ops.add(self, other)

    @_operator
    def __radd__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return ops.add(other, self)

    @_no_grad_fast_path(np.subtract)
    @_operator
    def __sub__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return ops.sub(self, other)

    @_operator
    def __rsub__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return ops.sub(other, self)

    @_no_grad_fast_path(np.multiply)
    @_operator
    def __mul__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return ops.mul(self, other)

    @_operator
    def __rmul__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return ops.mul(other, self)

    @_no_grad_fast_path(np.true_divide)
    @_operator
    def __truediv__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return ops.div(self, other)

    @_operator
    def __rtruediv__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return ops.div(other, self)

    @_operator
    def __pow__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return ops.pow(self, other)

    @_operator
    def __rpow__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return ops.pow(other, self)

    # the operator takes an ndarray (x @ a, as PyTorch); the function and method take Tensors
    def __matmul__(self: Any, other: Tensor | npt.NDArray[Any]) -> Tensor:
        other = _operand(other, self, numbers=False)
        return NotImplemented if other is NotImplemented else ops.matmul(self, other)

    def __rmatmul__(self: Any, other: Tensor | npt.NDArray[Any]) -> Tensor:
        other = _operand(other, self, numbers=False)
        return NotImplemented if other is NotImplemented else ops.matmul(other, self)

    def matmul(self: Any, other: Tensor) -> Tensor:
        """self @ other (``torch.Tensor.matmul``); TypeError for a non-Tensor ``other``."""
        return ops.matmul(self, other)

    def __neg__(self: Any) -> Tensor:
        return ops.neg(self)

    def __pos__(self: Any) -> Tensor:
        return self

    neg = negative = __neg__

    # the methods take a Tensor or a number; TypeError for anything else, an ndarray included
    @tensor_args(or_number=("other",))
    def add(self: Any, other: Tensor | Number, *, alpha: Number = 1) -> Tensor:
        """self + alpha * other (``torch.Tensor.add``)."""
        return ops.add(self, other, alpha=alpha)

    @tensor_args(or_number=("other",))
    def sub(self: Any, other: Tensor | Number, *, alpha: Number = 1) -> Tensor:
        """self - alpha * other (``torch.Tensor.sub``)."""
        return ops.sub(self, other, alpha=alpha)

    @tensor_args(or_number=("other",))
    def mul(self: Any, other: Tensor | Number) -> Tensor:
        return ops.mul(self, other)

    @tensor_args(or_number=("other",))
    def div(self: Any, other: Tensor | Number) -> Tensor:
        return ops.div(self, other)

    @tensor_args(or_number=("exponent",))
    def pow(self: Any, exponent: Tensor | Number) -> Tensor:
        return ops.pow(self, exponent)

    subtract, multiply, divide, true_divide = sub, mul, div, div

    def addcmul(self: Any, tensor1: Tensor, tensor2: Tensor, *, value: Number = 1) -> Tensor:
        return ops.addcmul(self, tensor1, tensor2, value=value)

    def addcdiv(self: Any, tensor1: Tensor, tensor2: Tensor, *, value: Number = 1) -> Tensor:
        return ops.addcdiv(self, tensor1, tensor2, value=value)

    def lerp(self: Any, end: Tensor, weight: Tensor | Number) -> Tensor:
        return ops.lerp(self, end, weight)

    def bmm(self: Any, mat2: Tensor) -> Tensor:
        return ops.bmm(self, mat2)

    def atan2(self: Any, other: Tensor) -> Tensor:
        return ops.atan2(self, other)

    def where(self: Any, condition: Tensor, other: Tensor | Number) -> Tensor:
        """``where(condition, self, other)`` (``torch.Tensor.where``)."""
        return ops.where(condition, self, other)

    def masked_fill(self: Any, mask: Tensor, value: Tensor | Number) -> Tensor:
        return ops.masked_fill(self, mask, value)

    # comparisons: elementwise, bool result, never differentiable. The operators answer
    # NotImplemented to a list or None, so x == [1, 2] is False and x < [1, 2] raises, as in PyTorch
    @_operator
    def __eq__(self: Any, other: Any) -> Tensor:  # type: ignore[override]
        return ops.compare(np.equal, self, other)

    @_operator
    def __ne__(self: Any, other: Any) -> Tensor:  # type: ignore[override]
        return ops.compare(np.not_equal, self, other)

    @_operator
    def __lt__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return ops.compare(np.less, self, other)

    @_operator
    def __le__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return ops.compare(np.less_equal, self, other)

    @_operator
    def __gt__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return ops.compare(np.greater, self, other)

    @_operator
    def __ge__(self: Any, other: Tensor | Number | npt.NDArray[Any]) -> Tensor:
        return ops.compare(np.greater_equal, self, other)

    @tensor_args(or_number=("other",))
    def eq(self: Any, other: Tensor | Number) -> Tensor:
        return ops.compare(np.equal, self, other)

    @tensor_args(or_number=("other",))
    def ne(self: Any, other: Tensor | Number) -> Tensor:
        return ops.compare(np.not_equal, self, other)

    @tensor_args(or_number=("other",))
    def lt(self: Any, other: Tensor | Number) -> Tensor:
        return ops.compare(np.less, self, other)

    @tensor_args(or_number=("other",))
    def le(self: Any, other: Tensor | Number) -> Tensor:
        return ops.compare(np.less_equal, self, other)

    @tensor_args(or_number=("other",))
    def gt(self: Any, other: Tensor | Number) -> Tensor:
        return ops.compare(np.greater, self, other)

    @tensor_args(or_number=("other",))
    def ge(self: Any, other: Tensor | Number) -> Tensor:
        return ops.compare(np.greater_equal, self, other)

    greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne

    def equal(self: Any, other: Tensor) -> bool:
        """True when ``other`` has this shape and the same values (``torch.equal``)."""
        return ops.equal(self, other)

    # ------------------------------------------------------------ elementwise math

    def exp(self: Any) -> Tensor:
        return ops.exp(self)

    def log(self: Any) -> Tensor:
        return ops.log(self)

    def sqrt(self: Any) -> Tensor:
        return ops.sqrt(self)

    def abs(self: Any) -> Tensor:
        return ops.abs(self)

    __abs__ = abs  # abs(x), as torch.Tensor

    def clamp(self: Any, min: Tensor | Number | None = None,
              max: Tensor | Number | None = None) -> Tensor:
        return ops.clamp(self, min, max)

    clip = clamp

    def relu(self: Any) -> Tensor:
        return ops.relu(self)

    def sin(self: Any) -> Tensor:
        return ops.sin(self)

    def cos(self: Any) -> Tensor:
        return ops.cos(self)

    def tan(self: Any) -> Tensor:
        return ops.tan(self)

    def sinh(self: Any) -> Tensor:
        return ops.sinh(self)

    def cosh(self: Any) -> Tensor:
        return ops.cosh(self)

    def floor(self: Any) -> Tensor:
        return ops.floor(self)

    def ceil(self: Any) -> Tensor:
        return ops.ceil(self)

    def round(self: Any, decimals: int = 0) -> Tensor:
        return ops.round(self, decimals=decimals)

    def sign(self: Any) -> Tensor:
        return ops.sign(self)

    def clamp_min(self: Any, min: Tensor | Number) -> Tensor:
        return ops.clamp(self, min, None)

    def clamp_max(self: Any, max: Tensor | Number) -> Tensor:
        return ops.clamp(self, None, max)

    def sigmoid(self: Any) -> Tensor:
        return ops.sigmoid(self)

    def tanh(self: Any) -> Tensor:
        return ops.tanh(self)

    def softmax(self: Any, dim: int) -> Tensor:
        return ops.softmax(self, dim)

    def log_softmax(self: Any, dim: int) -> Tensor:
        return ops.log_softmax(self, dim)

    # ------------------------------------------------------------ reductions

    # ``axis`` is accepted as an alias of ``dim``, as PyTorch does (NumPy habits)
    def sum(self: Any, dim: ShapeLike | None = None, keepdim: bool = False, *,
            axis: ShapeLike | None = None, dtype: DTypeLike | None = None) -> Tensor:
        out = ops.sum(self, _dim(dim, axis), keepdim)
        return out if dtype is None else out.to(dtype)

    def mean(self: Any, dim: ShapeLike | None = None, keepdim: bool = False, *,
             axis: ShapeLike | None = None, dtype: DTypeLike | None = None) -> Tensor:
        return ops.mean(self if dtype is None else self.to(dtype), _dim(dim, axis), keepdim)

    def var(self: Any, dim: ShapeLike | None = None, unbiased: bool | None = None,
            keepdim: bool = False, *, correction: float | None = None,
            axis: ShapeLike | None = None) -> Tensor:
        return ops.var(self, _dim(dim, axis), unbiased, keepdim, correction=correction)

    def std(self: Any, dim: ShapeLike | None = None, unbiased: bool | None = None,
            keepdim: bool = False, *, correction: float | None = None,
            axis: ShapeLike | None = None) -> Tensor:
        return ops.std(self, _dim(dim, axis), unbiased, keepdim, correction=correction)

    # max() is the largest element; max(dim) gives (values, indices) along dim
    @overload
    def max(self: Any, dim: None = None, keepdim: bool = False, *,
            axis: None = None) -> Tensor: ...

    @overload
    def max(self: Any, dim: int, keepdim: bool = False, *,
            axis: None = None) -> MinMaxResult: ...

    @overload
    def max(self: Any, dim: None = None, keepdim: bool = False, *,
            axis: int) -> MinMaxResult: ...

    def max(self: Any, dim: int | None = None, keepdim: bool = False, *,
            axis: int | None = None) -> Tensor | MinMaxResult:
        return ops.max(self, _dim(dim, axis), keepdim)

    @overload
    def min(self: Any, dim: None = None, keepdim: bool = False, *,
            axis: None = None) -> Tensor: ...

    @overload
    def min(self: Any, dim: int, keepdim: bool = False, *,
            axis: None = None) -> MinMaxResult: ...

    @overload
    def min(self: Any, dim: None = None, keepdim: bool = False, *,
            axis: int) -> MinMaxResult: ...

    def min(self: Any, dim: int | None = None, keepdim: bool = False, *,
            axis: int | None = None) -> Tensor | MinMaxResult:
        return ops.min(self, _dim(dim, axis), keepdim)

    def amax(self: Any, dim: ShapeLike | None = None, keepdim: bool = False, *,
             axis: ShapeLike | None = None) -> Tensor:
        return ops.amax(self, _dim(dim, axis), keepdim)

    def amin(self: Any, dim: ShapeLike | None = None, keepdim: bool = False, *,
             axis: ShapeLike | None = None) -> Tensor:
        return ops.amin(self, _dim(dim, axis), keepdim)

    def argmax(self: Any, dim: int | None = None, keepdim: bool = False, *,
               axis: int | None = None) -> Tensor:
        return ops.argmax(self, _dim(dim, axis), keepdim)

    def argmin(self: Any, dim: int | None = None, keepdim: bool = False, *,
               axis: int | None = None) -> Tensor:
        return ops.argmin(self, _dim(dim, axis), keepdim)

    # ------------------------------------------------------------ shape

    def reshape(self: Any, *shape: ShapeLike) -> Tensor:
        return ops.reshape(self, *shape)

    def view(self: Any, *shape: ShapeLike) -> Tensor:
        return ops.reshape(self, *shape)

    def view_as(self: Any, other: Tensor) -> Tensor:
        return ops.reshape(self, *other.shape)

    def reshape_as(self: Any, other: Tensor) -> Tensor:
        return ops.reshape(self, *other.shape)

    def swapaxes(self: Any, axis0: int, axis1: int) -> Tensor:
        return ops.transpose(self, axis0, axis1)

    swapdims = swapaxes

    def repeat(self: Any, *sizes: ShapeLike) -> Tensor:
        return ops.repeat(self, *sizes)

    def repeat_interleave(self: Any, repeats: Tensor | int, dim: int | None = None) -> Tensor:
        return ops.repeat_interleave(self, repeats, dim)

    def flatten(self: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return ops.flatten(self, start_dim, end_dim)

    def transpose(self: Any, dim0: int, dim1: int) -> Tensor:
        return ops.transpose(self, dim0, dim1)

    def t(self: Any) -> Tensor:
        if self.ndim > 2:
            raise ValueError(f"t() expects a tensor with <= 2 dimensions, got shape "
                             f"{self._data.shape}")
        return self.T

    def permute(self: Any, *dims: ShapeLike) -> Tensor:
        return ops.permute(self, *dims)

    def squeeze(self: Any, dim: ShapeLike | None = None) -> Tensor:
        return ops.squeeze(self, dim)

    def unsqueeze(self: Any, dim: int) -> Tensor:
        return ops.unsqueeze(self, dim)

    def expand(self: Any, *sizes: ShapeLike) -> Tensor:
        return ops.expand(self, *sizes)

    def expand_as(self: Any, other: Tensor) -> Tensor:
        return ops.expand(self, *other.shape)

    def contiguous(self: Any) -> Tensor:
        return ops.contiguous(self)

    def clone(self: Any) -> Tensor:
        return ops.clone(self)

    # ------------------------------------------------------------ more of torch.Tensor's API

    def new_tensor(self: Any, data: Any, dtype: DTypeLike | None = None,
                   device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
        """A copy of ``data`` as a tensor with this tensor's dtype and device unless given."""
        from .creation import tensor
        return tensor(data, dtype=self.dtype if dtype is None else dtype,
                      device=self._device if device is None else device,
                      requires_grad=requires_grad)

    def _new(self: Any, factory: str, size: Sequence[Any], dtype: DTypeLike | None,
             device: DeviceLike, requires_grad: bool, *fill: Number) -> Tensor:
        from . import creation
        size = size[0] if len(size) == 1 and isinstance(size[0], (list, tuple)) else size
        return getattr(creation, factory)(tuple(size), *fill,
                                          dtype=self.dtype if dtype is None else dtype,
                                          device=self._device if device is None else device,
                                          requires_grad=requires_grad)

    def new_zeros(self: Any, *size: ShapeLike, dtype: DTypeLike | None = None,
                  device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
        """Zeros of ``size`` with this tensor's dtype and device unless given."""
        return self._new("zeros", size, dtype, device, requires_grad)

    def new_ones(self: Any, *size: ShapeLike, dtype: DTypeLike | None = None,
                 device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
        return self._new("ones", size, dtype, device, requires_grad)

    def new_empty(self: Any, *size: ShapeLike, dtype: DTypeLike | None = None,
                  device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
        return self._new("empty", size, dtype, device, requires_grad)

    def new_full(self: Any, size: ShapeLike, fill_value: Number, *, dtype: DTypeLike | None = None,
                 device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
        """``size`` (a tuple or list) filled with ``fill_value``, this tensor's dtype and device
        unless given."""
        if not isinstance(size, (list, tuple)):
            raise TypeError(f"new_full(): argument 'size' (position 1) must be tuple of ints, not "
                            f"{type(size).__name__}")
        return self._new("full", (size,), dtype, device, requires_grad, fill_value)

    def is_floating_point(self: Any) -> bool:
        return is_floating_dtype(self.dtype)

    # elementwise
    def isnan(self: Any) -> Tensor:
        return ops.isnan(self)

    def isinf(self: Any) -> Tensor:
        return ops.isinf(self)

    def isfinite(self: Any) -> Tensor:
        return ops.isfinite(self)

    @tensor_args("other")
    def maximum(self: Any, other: Tensor) -> Tensor:
        return ops.maximum(self, other)

    @tensor_args("other")
    def minimum(self: Any, other: Tensor) -> Tensor:
        return ops.minimum(self, other)

    def square(self: Any) -> Tensor:
        return ops.square(self)

    def rsqrt(self: Any) -> Tensor:
        return ops.rsqrt(self)

    def reciprocal(self: Any) -> Tensor:
        return ops.reciprocal(self)

    def log1p(self: Any) -> Tensor:
        return ops.log1p(self)

    def expm1(self: Any) -> Tensor:
        return ops.expm1(self)

    def log2(self: Any) -> Tensor:
        return ops.log2(self)

    def log10(self: Any) -> Tensor:
        return ops.log10(self)

    def erf(self: Any) -> Tensor:
        return ops.erf(self)

    # reductions, sorting and searching
    def all(self: Any, dim: ShapeLike | None = None, keepdim: bool = False) -> Tensor:
        return ops.all(self, dim, keepdim)

    def any(self: Any, dim: ShapeLike | None = None, keepdim: bool = False) -> Tensor:
        return ops.any(self, dim, keepdim)

    def prod(self: Any, dim: int | None = None, keepdim: bool = False, *,
             dtype: DTypeLike | None = None) -> Tensor:
        return ops.prod(self, dim, keepdim, dtype=dtype)

    def cumsum(self: Any, dim: int, *, dtype: DTypeLike | None = None) -> Tensor:
        return ops.cumsum(self, dim, dtype=dtype)

    def logsumexp(self: Any, dim: ShapeLike, keepdim: bool = False) -> Tensor:
        return ops.logsumexp(self, dim, keepdim)

    def norm(self: Any, p: float | str = "fro", dim: ShapeLike | None = None, keepdim: bool = False,
             dtype: DTypeLike | None = None) -> Tensor:
        return ops.norm(self, p, dim, keepdim, dtype)

    def count_nonzero(self: Any, dim: ShapeLike | None = None) -> Tensor:
        return ops.count_nonzero(self, dim)

    def nonzero(self: Any, *, as_tuple: bool = False) -> Tensor | tuple[Tensor, ...]:
        return ops.nonzero(self, as_tuple=as_tuple)

    def unique(self: Any, sorted: bool = True, return_inverse: bool = False,
               return_counts: bool = False, dim: int | None = None) -> Tensor | tuple[Tensor, ...]:
        return ops.unique(self, sorted, return_inverse, return_counts, dim)

    def topk(self: Any, k: int, dim: int = -1, largest: bool = True,
             sorted: bool = True) -> TopkResult:
        return ops.topk(self, k, dim, largest, sorted)

    def sort(self: Any, dim: int = -1, descending: bool = False, *,
             stable: bool = False) -> SortResult:
        return ops.sort(self, dim, descending, stable=stable)

    def argsort(self: Any, dim: int = -1, descending: bool = False, *,
                stable: bool = False) -> Tensor:
        return ops.argsort(self, dim, descending, stable=stable)

    # indexing along a dimension
    def gather(self: Any, dim: int, index: Tensor) -> Tensor:
        return ops.gather(self, dim, index)

    def scatter(self: Any, dim: int, index: Tensor, src: Tensor | None = None, *,
                value: Number | None = None, reduce: str | None = None) -> Tensor:
        return ops.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_add(self: Any, dim: int, index: Tensor, src: Tensor) -> Tensor:
        return ops.scatter_add(self, dim, index, src)

    def index_select(self: Any, dim: int, index: Tensor) -> Tensor:
        return ops.index_select(self, dim, index)

    def masked_select(self: Any, mask: Tensor) -> Tensor:
        return ops.masked_select(self, mask)

    def take_along_dim(self: Any, indices: Tensor, dim: int | None = None) -> Tensor:
        return ops.take_along_dim(self, indices, dim)

    # pieces and rearrangements
    def chunk(self: Any, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return ops.chunk(self, chunks, dim)

    def split(self: Any, split_size: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
        return ops.split(self, split_size, dim)

    def unbind(self: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return ops.unbind(self, dim)

    def narrow(self: Any, dim: int, start: int, length: int) -> Tensor:
        return ops.narrow(self, dim, start, length)

    def flip(self: Any, *dims: Any) -> Tensor:
        """``flip(0, 1)`` or ``flip((0, 1))``."""
        return ops.flip(self, dims[0] if len(dims) == 1 and isinstance(dims[0], (list, tuple))
                        else dims)

    def roll(self: Any, shifts: ShapeLike, dims: ShapeLike | None = None) -> Tensor:
        return ops.roll(self, shifts, dims)

    def tril(self: Any, diagonal: int = 0) -> Tensor:
        return ops.tril(self, diagonal)

    def triu(self: Any, diagonal: int = 0) -> Tensor:
        return ops.triu(self, diagonal)

    def broadcast_to(self: Any, size: ShapeLike) -> Tensor:
        return ops.broadcast_to(self, size)

    # matrix products
    def mm(self: Any, mat2: Tensor) -> Tensor:
        return ops.mm(self, mat2)

    def dot(self: Any, tensor: Tensor) -> Tensor:
        return ops.dot(self, tensor)

    def outer(self: Any, vec2: Tensor) -> Tensor:
        return ops.outer(self, vec2)

    def addmm(self: Any, mat1: Tensor, mat2: Tensor, *, beta: Number = 1,
              alpha: Number = 1) -> Tensor:
        return ops.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def __getitem__(self: Any, index: Any) -> Tensor:
        return ops.getitem(self, index)


@overload
def _dim(dim: int | None, axis: int | None) -> int | None: ...


@overload
def _dim(dim: ShapeLike | None, axis: ShapeLike | None) -> ShapeLike | None: ...


def _dim(dim: ShapeLike | None, axis: ShapeLike | None) -> ShapeLike | None:
    """``dim``, or its NumPy-style alias ``axis`` (not both)."""
    if axis is None:
        return dim
    if dim is not None:
        raise TypeError("got both dim and its alias axis")
    return axis


def _copy_into(before: Tensor, src: Tensor) -> Tensor:
    """The out-of-place op behind a recorded ``copy_``: ``src`` broadcast to ``before``'s shape
    and cast to its dtype (gradient: to src, none to the overwritten values)."""
    return ops.index_put(before, Ellipsis, src.to(before.dtype))


def _legacy_scalar_first(name: str, other: Any, args: tuple[Any, ...],
                         alpha: Number) -> tuple[Any, Number]:
    """``add_(alpha, other)``: PyTorch's deprecated order, still found in older optimizers."""
    if not args:
        return other, alpha
    if len(args) == 1 and isinstance(args[0], Tensor) and not isinstance(other, Tensor):
        warnings.warn(f"This overload of {name} is deprecated: {name}(Number alpha, Tensor "
                      f"other); use {name}(Tensor other, *, Number alpha = 1)", UserWarning,
                      stacklevel=4)  # the caller of add_, past tensor_args' wrapper
        return args[0], other
    raise TypeError(f"{name}() takes 1 positional argument (other) and the keyword alpha, got "
                    f"{1 + len(args)} positional arguments")


def _legacy_value_first(name: str, first: Any, args: tuple[Any, ...],
                        value: Number) -> tuple[tuple[Any, ...], Any]:
    """``addcmul_(value, tensor1, tensor2)``: PyTorch's deprecated order."""
    if len(args) == 1:
        return (first, args[0]), value
    if len(args) == 2 and not isinstance(first, Tensor):
        warnings.warn(f"This overload of {name} is deprecated: {name}(Number value, Tensor "
                      f"tensor1, Tensor tensor2); use {name}(Tensor tensor1, Tensor tensor2, *, "
                      "Number value = 1)", UserWarning, stacklevel=3)
        return tuple(args), first
    raise TypeError(f"{name}() takes 2 positional arguments (tensor1, tensor2) and the keyword "
                    f"value, got {1 + len(args)}")


#: what a class body defines besides its methods; __hash__ too: TensorMethods defines __eq__, so
#: Python set its __hash__ to None, and Tensor hashes by identity
_NOT_METHODS = {"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__hash__"}


def _install(cls: type) -> None:
    for name, value in vars(TensorMethods).items():
        if name not in _NOT_METHODS:
            setattr(cls, name, value)


_install(Tensor)
