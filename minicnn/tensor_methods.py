"""The op methods of :class:`minicnn.Tensor`: ``x + y``, ``x.sum()``, ``x.reshape(...)``,
``x.add_(y)``, ``x[i] = v``, ``x.to(...)``, ``x.new_zeros(...)``, ... Each delegates to its op in
:mod:`minicnn.ops` (or to :mod:`minicnn.creation`); the in-place ones write the op's result
through Tensor's in-place machinery (``Tensor._inplace``).

They are written in the body of :class:`TensorMethods` and installed on Tensor when this module
loads (``import minicnn`` loads it right after the ops), as Chainer installs its Variable's
operators: the ops build on Tensor, so minicnn/tensor.py imports no op and there is no import
cycle between them.
"""
import warnings

import numpy as np

from . import ops
from . import random as _random
from .device import CPU, DEVICE_TYPES, move
from .device import device as _device
from .tensor import _ARRAYS, Tensor, _host

__all__ = ["TensorMethods"]


class TensorMethods:
    """The methods installed on Tensor (see the module's docstring); not a class to use."""

    def to(self, *args, dtype=None, device=None):
        """``to(device)``, ``to(dtype)`` or ``to(device, dtype)``: a converted tensor (differentiable),
        or this very tensor when nothing changes."""
        for a in args:
            if isinstance(a, _device) or isinstance(a, str) and a.partition(":")[0] in DEVICE_TYPES:
                device = a
            else:
                dtype = a
        return ops.to(self, dtype=dtype, device=device)

    def _fill(self, name, values):
        """Overwrite every element with ``values`` (a number or an array of this shape)."""
        if self._recorded():
            return self._inplace(name, ops.index_put, Ellipsis, Tensor._wrap(
                np.asarray(values, dtype=self.dtype), CPU).to(self._device))
        if isinstance(values, np.ndarray):
            values = move(values.astype(self.dtype, copy=False), self._device)
        self._store(name, Ellipsis, values)
        self._vc[0] += 1
        return self

    def zero_(self):
        """Fill with zeros in place (``torch.Tensor.zero_``)."""
        return self._fill("zero_", 0)

    def fill_(self, value):
        """Fill with ``value`` (a number or a one-element tensor) in place."""
        if isinstance(value, Tensor):
            value = value.item()
        return self._fill("fill_", value)

    def uniform_(self, from_=0.0, to=1.0):
        """Fill with draws from U(from_, to), from minicnn's generator
        (``torch.Tensor.uniform_``)."""
        values = _random.default_generator().uniform(from_, to, self.shape)
        return self._fill("uniform_", values)

    def normal_(self, mean=0.0, std=1.0):
        """Fill with draws from N(mean, std^2), from minicnn's generator."""
        values = _random.default_generator().normal(mean, std, self.shape)
        return self._fill("normal_", values)

    def bernoulli_(self, p=0.5):
        """Fill with 1 (probability ``p``, a number or a tensor of this shape's broadcast) or 0."""
        p = _host(p._data) if isinstance(p, Tensor) else p
        values = _random.default_generator().random(self.shape) < p
        return self._fill("bernoulli_", values)

    def copy_(self, src, non_blocking=False):
        """Copy ``src``'s values (broadcast to this shape, cast to this dtype) into this tensor,
        from any device. Differentiable with respect to ``src`` under grad mode."""
        if self._recorded(src):
            src = src if isinstance(src, Tensor) else Tensor._wrap(np.asarray(src), self._device)
            return self._inplace("copy_", _copy_into, src.to(self._device))
        self._store("copy_", Ellipsis, self._same_side(src))
        self._vc[0] += 1
        return self

    def _same_side(self, value):
        """A tensor's (or an array's) data on this tensor's side of the GPU; numbers pass."""
        if isinstance(value, Tensor):
            value = value._data
        if isinstance(value, _ARRAYS) and value.ndim > 0:
            return move(value, self._device)
        return _host(value) if isinstance(value, _ARRAYS) else value

    def __setitem__(self, index, value):
        if self._recorded(value):
            self._inplace("__setitem__", ops.index_put, index, value)
            return
        self._store("__setitem__", ops.to_index(index), self._same_side(value))
        self._vc[0] += 1

    def add_(self, other, *args, alpha=1):
        """self += alpha * other, in place (``torch.Tensor.add_``; the deprecated
        ``add_(alpha, other)`` order is accepted with a warning, as PyTorch does)."""
        other, alpha = _legacy_scalar_first("add_", other, args, alpha)
        return self._inplace("add_", ops.add, other, alpha=alpha)

    def sub_(self, other, *args, alpha=1):
        """self -= alpha * other, in place."""
        other, alpha = _legacy_scalar_first("sub_", other, args, alpha)
        return self._inplace("sub_", ops.sub, other, alpha=alpha)

    def mul_(self, other):
        return self._inplace("mul_", ops.mul, other)

    def div_(self, other):
        return self._inplace("div_", ops.div, other)

    def pow_(self, exponent):
        return self._inplace("pow_", ops.pow, exponent)

    def sqrt_(self):
        return self._inplace("sqrt_", ops.sqrt)

    def exp_(self):
        return self._inplace("exp_", ops.exp)

    def neg_(self):
        return self._inplace("neg_", ops.neg)

    def abs_(self):
        return self._inplace("abs_", ops.abs)

    def clamp_(self, min=None, max=None):
        return self._inplace("clamp_", ops.clamp, min, max)

    clip_ = clamp_

    def clamp_min_(self, min):
        return self._inplace("clamp_min_", ops.clamp, min, None)

    def clamp_max_(self, max):
        return self._inplace("clamp_max_", ops.clamp, None, max)

    def relu_(self):
        return self._inplace("relu_", ops.relu)

    def sigmoid_(self):
        return self._inplace("sigmoid_", ops.sigmoid)

    def tanh_(self):
        return self._inplace("tanh_", ops.tanh)

    def addcmul_(self, tensor1, *args, value=1):
        """self += value * tensor1 * tensor2, in place (also the deprecated
        ``addcmul_(value, tensor1, tensor2)``)."""
        (tensor1, tensor2), value = _legacy_value_first("addcmul_", tensor1, args, value)
        return self._inplace("addcmul_", ops.addcmul, tensor1, tensor2, value=value)

    def addcdiv_(self, tensor1, *args, value=1):
        """self += value * tensor1 / tensor2, in place (also the deprecated
        ``addcdiv_(value, tensor1, tensor2)``)."""
        (tensor1, tensor2), value = _legacy_value_first("addcdiv_", tensor1, args, value)
        return self._inplace("addcdiv_", ops.addcdiv, tensor1, tensor2, value=value)

    def lerp_(self, end, weight):
        """self += weight * (end - self), in place."""
        return self._inplace("lerp_", ops.lerp, end, weight)

    def index_put_(self, indices, values, accumulate=False):
        """``self[indices] = values`` (or ``+=`` with ``accumulate``), in place."""
        return self._inplace("index_put_", ops.index_put, indices, values, accumulate)

    def index_put(self, indices, values, accumulate=False):
        return ops.index_put(self, indices, values, accumulate)

    def scatter_(self, dim, index, src=None, *, value=None, reduce=None):
        """``self[index[i][j]][j] = src[i][j]`` along ``dim``, in place
        (``torch.Tensor.scatter_``)."""
        return self._inplace("scatter_", ops.scatter, dim, index, src, value=value, reduce=reduce)

    def scatter_add_(self, dim, index, src):
        """``self[index[i][j]][j] += src[i][j]`` along ``dim``, in place."""
        return self._inplace("scatter_add_", ops.scatter_add, dim, index, src)

    def masked_fill_(self, mask, value):
        """Set the elements where ``mask`` (bool, broadcast to this shape) is True to ``value``."""
        return self._inplace("masked_fill_", ops.masked_fill, mask, value)

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    # ------------------------------------------------------------ arithmetic

    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __pow__(self, other):
        return ops.pow(self, other)

    def __rpow__(self, other):
        return ops.pow(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __pos__(self):
        return self

    mul, div, pow, matmul, neg = __mul__, __truediv__, __pow__, __matmul__, __neg__
    multiply, divide, true_divide, negative = mul, div, div, neg

    def add(self, other, *, alpha=1):
        """self + alpha * other (``torch.Tensor.add``)."""
        return ops.add(self, other, alpha=alpha)

    def sub(self, other, *, alpha=1):
        """self - alpha * other (``torch.Tensor.sub``)."""
        return ops.sub(self, other, alpha=alpha)

    subtract = sub

    def addcmul(self, tensor1, tensor2, *, value=1):
        return ops.addcmul(self, tensor1, tensor2, value=value)

    def addcdiv(self, tensor1, tensor2, *, value=1):
        return ops.addcdiv(self, tensor1, tensor2, value=value)

    def lerp(self, end, weight):
        return ops.lerp(self, end, weight)

    def bmm(self, mat2):
        return ops.bmm(self, mat2)

    def atan2(self, other):
        return ops.atan2(self, other)

    def where(self, condition, other):
        """``where(condition, self, other)`` (``torch.Tensor.where``)."""
        return ops.where(condition, self, other)

    def masked_fill(self, mask, value):
        return ops.masked_fill(self, mask, value)

    # comparisons: elementwise, bool result, never differentiable
    def __eq__(self, other):
        return ops.compare(np.equal, self, other)

    def __ne__(self, other):
        return ops.compare(np.not_equal, self, other)

    def __lt__(self, other):
        return ops.compare(np.less, self, other)

    def __le__(self, other):
        return ops.compare(np.less_equal, self, other)

    def __gt__(self, other):
        return ops.compare(np.greater, self, other)

    def __ge__(self, other):
        return ops.compare(np.greater_equal, self, other)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__
    greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne

    def equal(self, other):
        """True when ``other`` has this shape and the same values (``torch.equal``)."""
        return ops.equal(self, other)

    # ------------------------------------------------------------ elementwise math

    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def abs(self):
        return ops.abs(self)

    def clamp(self, min=None, max=None):
        return ops.clamp(self, min, max)

    clip = clamp

    def relu(self):
        return ops.relu(self)

    def sin(self):
        return ops.sin(self)

    def cos(self):
        return ops.cos(self)

    def tan(self):
        return ops.tan(self)

    def sinh(self):
        return ops.sinh(self)

    def cosh(self):
        return ops.cosh(self)

    def floor(self):
        return ops.floor(self)

    def ceil(self):
        return ops.ceil(self)

    def round(self, decimals=0):
        return ops.round(self, decimals=decimals)

    def sign(self):
        return ops.sign(self)

    def clamp_min(self, min):
        return ops.clamp(self, min, None)

    def clamp_max(self, max):
        return ops.clamp(self, None, max)

    def sigmoid(self):
        return ops.sigmoid(self)

    def tanh(self):
        return ops.tanh(self)

    def softmax(self, dim):
        return ops.softmax(self, dim)

    def log_softmax(self, dim):
        return ops.log_softmax(self, dim)

    # ------------------------------------------------------------ reductions

    # ``axis`` is accepted as an alias of ``dim``, as PyTorch does (NumPy habits)
    def sum(self, dim=None, keepdim=False, *, axis=None, dtype=None):
        out = ops.sum(self, _dim(dim, axis), keepdim)
        return out if dtype is None else out.to(dtype)

    def mean(self, dim=None, keepdim=False, *, axis=None, dtype=None):
        return ops.mean(self if dtype is None else self.to(dtype), _dim(dim, axis), keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None):
        return ops.var(self, _dim(dim, axis), unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None):
        return ops.std(self, _dim(dim, axis), unbiased, keepdim, correction=correction)

    def max(self, dim=None, keepdim=False, *, axis=None):
        return ops.max(self, _dim(dim, axis), keepdim)

    def min(self, dim=None, keepdim=False, *, axis=None):
        return ops.min(self, _dim(dim, axis), keepdim)

    def amax(self, dim=None, keepdim=False, *, axis=None):
        return ops.amax(self, _dim(dim, axis), keepdim)

    def amin(self, dim=None, keepdim=False, *, axis=None):
        return ops.amin(self, _dim(dim, axis), keepdim)

    def argmax(self, dim=None, keepdim=False, *, axis=None):
        return ops.argmax(self, _dim(dim, axis), keepdim)

    def argmin(self, dim=None, keepdim=False, *, axis=None):
        return ops.argmin(self, _dim(dim, axis), keepdim)

    # ------------------------------------------------------------ shape

    def reshape(self, *shape):
        return ops.reshape(self, *shape)

    def view(self, *shape):
        return ops.reshape(self, *shape)

    def view_as(self, other):
        return ops.reshape(self, *other.shape)

    def reshape_as(self, other):
        return ops.reshape(self, *other.shape)

    def swapaxes(self, axis0, axis1):
        return ops.transpose(self, axis0, axis1)

    swapdims = swapaxes

    def repeat(self, *sizes):
        return ops.repeat(self, *sizes)

    def repeat_interleave(self, repeats, dim=None):
        return ops.repeat_interleave(self, repeats, dim)

    def flatten(self, start_dim=0, end_dim=-1):
        return ops.flatten(self, start_dim, end_dim)

    def transpose(self, dim0, dim1):
        return ops.transpose(self, dim0, dim1)

    def t(self):
        if self.ndim > 2:
            raise ValueError(f"t() expects a tensor with <= 2 dimensions, got shape "
                             f"{self._data.shape}")
        return self.T

    def permute(self, *dims):
        return ops.permute(self, *dims)

    def squeeze(self, dim=None):
        return ops.squeeze(self, dim)

    def unsqueeze(self, dim):
        return ops.unsqueeze(self, dim)

    def expand(self, *sizes):
        return ops.expand(self, *sizes)

    def expand_as(self, other):
        return ops.expand(self, *other.shape)

    def contiguous(self):
        return ops.contiguous(self)

    def clone(self):
        return ops.clone(self)

    # ------------------------------------------------------------ more of torch.Tensor's API

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        """A copy of ``data`` as a tensor with this tensor's dtype and device unless given."""
        from .creation import tensor
        return tensor(data, dtype=self.dtype if dtype is None else dtype,
                      device=self._device if device is None else device,
                      requires_grad=requires_grad)

    def _new(self, factory, size, dtype, device, requires_grad, *fill):
        from . import creation
        size = size[0] if len(size) == 1 and isinstance(size[0], (list, tuple)) else size
        return getattr(creation, factory)(tuple(size), *fill,
                                          dtype=self.dtype if dtype is None else dtype,
                                          device=self._device if device is None else device,
                                          requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        """Zeros of ``size`` with this tensor's dtype and device unless given."""
        return self._new("zeros", size, dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new("ones", size, dtype, device, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new("empty", size, dtype, device, requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
        """``size`` (a tuple or list) filled with ``fill_value``, this tensor's dtype and device
        unless given."""
        if not isinstance(size, (list, tuple)):
            raise TypeError(f"new_full(): argument 'size' (position 1) must be tuple of ints, not "
                            f"{type(size).__name__}")
        return self._new("full", (size,), dtype, device, requires_grad, fill_value)

    def is_floating_point(self):
        return self.dtype.kind == "f"

    # elementwise
    def isnan(self):
        return ops.isnan(self)

    def isinf(self):
        return ops.isinf(self)

    def isfinite(self):
        return ops.isfinite(self)

    def maximum(self, other):
        return ops.maximum(self, other)

    def minimum(self, other):
        return ops.minimum(self, other)

    def square(self):
        return ops.square(self)

    def rsqrt(self):
        return ops.rsqrt(self)

    def reciprocal(self):
        return ops.reciprocal(self)

    def log1p(self):
        return ops.log1p(self)

    def expm1(self):
        return ops.expm1(self)

    def log2(self):
        return ops.log2(self)

    def log10(self):
        return ops.log10(self)

    def erf(self):
        return ops.erf(self)

    # reductions, sorting and searching
    def all(self, dim=None, keepdim=False):
        return ops.all(self, dim, keepdim)

    def any(self, dim=None, keepdim=False):
        return ops.any(self, dim, keepdim)

    def prod(self, dim=None, keepdim=False, *, dtype=None):
        return ops.prod(self, dim, keepdim, dtype=dtype)

    def cumsum(self, dim, *, dtype=None):
        return ops.cumsum(self, dim, dtype=dtype)

    def logsumexp(self, dim, keepdim=False):
        return ops.logsumexp(self, dim, keepdim)

    def norm(self, p="fro", dim=None, keepdim=False, dtype=None):
        return ops.norm(self, p, dim, keepdim, dtype)

    def count_nonzero(self, dim=None):
        return ops.count_nonzero(self, dim)

    def nonzero(self, *, as_tuple=False):
        return ops.nonzero(self, as_tuple=as_tuple)

    def unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):
        return ops.unique(self, sorted, return_inverse, return_counts, dim)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        return ops.topk(self, k, dim, largest, sorted)

    def sort(self, dim=-1, descending=False, *, stable=False):
        return ops.sort(self, dim, descending, stable=stable)

    def argsort(self, dim=-1, descending=False, *, stable=False):
        return ops.argsort(self, dim, descending, stable=stable)

    # indexing along a dimension
    def gather(self, dim, index):
        return ops.gather(self, dim, index)

    def scatter(self, dim, index, src=None, *, value=None, reduce=None):
        return ops.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_add(self, dim, index, src):
        return ops.scatter_add(self, dim, index, src)

    def index_select(self, dim, index):
        return ops.index_select(self, dim, index)

    def masked_select(self, mask):
        return ops.masked_select(self, mask)

    def take_along_dim(self, indices, dim=None):
        return ops.take_along_dim(self, indices, dim)

    # pieces and rearrangements
    def chunk(self, chunks, dim=0):
        return ops.chunk(self, chunks, dim)

    def split(self, split_size, dim=0):
        return ops.split(self, split_size, dim)

    def unbind(self, dim=0):
        return ops.unbind(self, dim)

    def narrow(self, dim, start, length):
        return ops.narrow(self, dim, start, length)

    def flip(self, *dims):
        """``flip(0, 1)`` or ``flip((0, 1))``."""
        return ops.flip(self, dims[0] if len(dims) == 1 and isinstance(dims[0], (list, tuple))
                        else dims)

    def roll(self, shifts, dims=None):
        return ops.roll(self, shifts, dims)

    def tril(self, diagonal=0):
        return ops.tril(self, diagonal)

    def triu(self, diagonal=0):
        return ops.triu(self, diagonal)

    def broadcast_to(self, size):
        return ops.broadcast_to(self, size)

    # matrix products
    def mm(self, mat2):
        return ops.mm(self, mat2)

    def dot(self, tensor):
        return ops.dot(self, tensor)

    def outer(self, vec2):
        return ops.outer(self, vec2)

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        return ops.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def __getitem__(self, index):
        return ops.getitem(self, index)


def _dim(dim, axis):
    """``dim``, or its NumPy-style alias ``axis`` (not both)."""
    if axis is None:
        return dim
    if dim is not None:
        raise TypeError("got both dim and its alias axis")
    return axis


def _copy_into(before, src):
    """The out-of-place op behind a recorded ``copy_``: ``src`` broadcast to ``before``'s shape
    and cast to its dtype (gradient: to src, none to the overwritten values)."""
    return ops.index_put(before, Ellipsis, src.to(before.dtype))


def _legacy_scalar_first(name, other, args, alpha):
    """``add_(alpha, other)``: PyTorch's deprecated order, still found in older optimizers."""
    if not args:
        return other, alpha
    if len(args) == 1 and isinstance(args[0], Tensor) and not isinstance(other, Tensor):
        warnings.warn(f"This overload of {name} is deprecated: {name}(Number alpha, Tensor "
                      f"other); use {name}(Tensor other, *, Number alpha = 1)", UserWarning,
                      stacklevel=3)
        return args[0], other
    raise TypeError(f"{name}() takes 1 positional argument (other) and the keyword alpha, got "
                    f"{1 + len(args)} positional arguments")


def _legacy_value_first(name, first, args, value):
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


def _install(cls):
    for name, value in vars(TensorMethods).items():
        if name not in _NOT_METHODS:
            setattr(cls, name, value)


_install(Tensor)
