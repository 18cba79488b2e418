"""The Tensor: an array, plus what autograd needs (requires_grad, grad, grad_fn), plus a device.

Names and semantics follow ``torch.Tensor``. The array behind a tensor on the "cpu" or "numpy"
device is a NumPy ndarray; ``.numpy()`` returns it (shared memory, like PyTorch). Every
differentiable method delegates to an op in :mod:`minicnn.ops`, where its Function (forward and
backward side by side) lives.

dtypes: float32 (the default for Python floats) and float64 for everything differentiable;
int64 and bool for indices, labels and comparison results. minicnn does not promote between
floating dtypes: combining a float32 and a float64 tensor raises TypeError.
"""
import math
import warnings

import numpy as np

from . import autograd
from . import random as _random
from .backends.cuda.memory import DeviceArray
from .device import CPU, DEVICE_TYPES, as_device, move
from .device import device as _device

_ARRAYS = (np.ndarray, DeviceArray)  # what a tensor's data may be: host or GPU memory
_TYPE_DTYPES = tuple(np.dtype(d) for d in (np.float32, np.float64, np.float16, np.int64,
                                            np.int32, np.int16, np.int8, np.uint8, np.bool_))


def _host(array):
    """The values of ``array`` in host memory (a copy when it is on the GPU)."""
    return array.to_host() if isinstance(array, DeviceArray) else array


class Size(tuple):
    """A tensor's shape (``torch.Size``): a tuple of ints that prints as ``minicnn.Size([2, 3])``
    and compares equal to the plain tuple."""

    __slots__ = ()

    def __repr__(self):
        return f"minicnn.Size({list(self)})"

    __str__ = __repr__

    def __getitem__(self, index):
        item = tuple.__getitem__(self, index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other):
        return Size(tuple(self) + tuple(other))

    def numel(self) -> int:
        """The number of elements of a tensor of this shape."""
        return math.prod(self)


class Tensor:
    """A multi-dimensional array with autograd, as ``torch.Tensor``. Create with :func:`minicnn.tensor`.

    Attributes: ``shape`` (a :class:`Size`), ``dtype`` (a numpy dtype: minicnn.float32 ...), ``ndim``,
    ``device``, ``requires_grad``, ``grad`` (a Tensor or None), ``grad_fn`` (the graph node that
    made it, None for a leaf), ``is_leaf``.
    """

    # _vc: the version counter, a one-element list shared by a tensor and its views; every
    # in-place change bumps it, and backward compares it with the version saved (autograd).
    # _base: the tensor this one is a view of (shares memory with), or None.
    __slots__ = ("_data", "_device", "requires_grad", "grad", "grad_fn", "_retains_grad", "_vc",
                 "_base", "__weakref__")
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator

    def __init__(self, data, requires_grad=False, device=None):
        """Wrap ``data`` (an ndarray, not copied; a DeviceArray; or anything np.asarray takes) as
        a leaf tensor on ``device`` (default: "cuda" for a DeviceArray, else the default device;
        host data is copied to the GPU for "cuda", TypeError for float64 there).

        Prefer :func:`minicnn.tensor`, which copies and applies the dtype defaults.
        """
        data = data if isinstance(data, _ARRAYS) else np.asarray(data)
        if device is None and isinstance(data, DeviceArray):
            device = "cuda"
        self._device = as_device(device)
        self._data = move(data, self._device)
        self.grad = None
        self.grad_fn = None
        self._retains_grad = False
        self._vc = [0]
        self._base = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array, device, grad_fn=None):
        """Fast internal constructor for op outputs (no checks, no copy)."""
        t = object.__new__(cls)
        t._data = array if isinstance(array, _ARRAYS) else np.asarray(array)
        t._device = device if device is not None else as_device(None)
        t.grad = None
        t.grad_fn = grad_fn
        t._retains_grad = False
        t._vc = [0]
        t._base = None
        t.requires_grad = grad_fn is not None
        return t

    # ------------------------------------------------------------ attributes

    @property
    def data(self):
        """The same values as a tensor that autograd does not track (shares memory). As in
        PyTorch, it has a version counter of its own: in-place changes through ``.data`` are not
        seen by autograd's checks (prefer ``detach()``, whose changes are)."""
        return Tensor._wrap(self._data, self._device)

    @data.setter
    def data(self, value):
        array = value._data if isinstance(value, Tensor) else np.asarray(value)
        array = move(array, self._device)
        if array.shape != self._data.shape or array.dtype != self._data.dtype:
            raise ValueError(f"data: new value has shape {tuple(array.shape)} and dtype "
                             f"{array.dtype}, "
                             f"expected shape {self._data.shape} and dtype {self.dtype}")
        self._data = array

    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        """The shape (a :class:`Size`), or one dimension of it (``torch.Tensor.size``)."""
        return Size(self._data.shape) if dim is None else self._data.shape[dim]

    @property
    def _version(self):
        """How many in-place changes this tensor's memory has seen (shared with its views)."""
        return self._vc[0]

    def _bump_version(self):
        """Record an in-place change of ``_data`` made outside the in-place methods (optimizer
        steps, kernels writing into an existing array)."""
        self._vc[0] += 1

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    def numel(self):
        return self._data.size

    @property
    def device(self):
        return self._device

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def T(self):
        """The dimensions reversed (for 2-D: the transpose)."""
        return self.permute(*reversed(range(self.ndim)))

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        body = np.array2string(_host(self._data), separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self._data.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype=minicnn.{self._data.dtype}")
        if self._device.type != "cpu":
            extras.append(f"device='{self._device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    __hash__ = object.__hash__  # == is elementwise, so hash by identity (as PyTorch)

    def __format__(self, format_spec):
        """A 0-d tensor formats as its number (``f"{loss:.4f}"``), as in PyTorch."""
        if self._data.ndim == 0:
            return self.item().__format__(format_spec)
        return object.__format__(self, format_spec)

    # ------------------------------------------------------------ conversion

    def _check_host(self, what):
        if isinstance(self._data, DeviceArray):
            raise TypeError(f"can't convert {self._device} device type tensor to {what}. Use "
                            "Tensor.cpu() to copy the tensor to host memory first.")

    def numpy(self):
        """The ndarray behind this tensor (shared memory). RuntimeError if it requires grad,
        TypeError for a tensor on the GPU (copy it with ``.cpu()`` first)."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on a tensor that requires grad; "
                               "use tensor.detach().numpy()")
        self._check_host("numpy")
        return self._data

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to Python "
                             f"scalars, got shape {self._data.shape}")
        return self._data.item()

    def tolist(self):
        return _host(self._data).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        """A one-element integer (or bool) tensor as a Python int: ``lst[t]``, ``range(t)``."""
        if self._data.size != 1 or self.dtype.kind not in "biu":
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with shape {self._data.shape} is "
                               "ambiguous")
        return bool(self._data.item())

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            raise RuntimeError("Can't convert a tensor that requires grad to a NumPy array; "
                               "use tensor.detach().numpy()")
        self._check_host("numpy")
        return self._data if dtype is None else self._data.astype(dtype)

    def to(self, *args, dtype=None, device=None):
        """``to(device)``, ``to(dtype)`` or ``to(device, dtype)``: a converted tensor (differentiable),
        or this very tensor when nothing changes."""
        for a in args:
            if isinstance(a, _device) or isinstance(a, str) and a.partition(":")[0] in DEVICE_TYPES:
                device = a
            else:
                dtype = a
        return ops.to(self, dtype=dtype, device=device)

    def type(self, dtype=None, non_blocking=False):
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

    def type_as(self, other):
        """This tensor converted to ``other``'s dtype."""
        return self.to(other.dtype)

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def long(self):
        return self.to(np.int64)

    def int(self):
        return self.to(np.int32)

    def bool(self):
        return self.to(np.bool_)

    def half(self):
        return self.to(np.float16)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    # ------------------------------------------------------------ autograd

    def detach(self):
        """A new leaf sharing this tensor's data (and its version counter), cut from the graph."""
        t = Tensor._wrap(self._data, self._device)
        t._vc = self._vc
        return t

    def detach_(self):
        """Cut this tensor from the graph in place; it becomes a leaf that requires no grad."""
        if self._base is not None and self._base.requires_grad:
            raise RuntimeError("detach_(): can't detach a view in place; use detach()")
        self.grad_fn, self.requires_grad = None, False
        return self

    def requires_grad_(self, requires_grad=True):
        """Set requires_grad in place (leaves only, floating dtypes only); returns self."""
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError(f"only tensors of floating point dtype can require gradients, "
                               f"got dtype {self.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        """Also fill ``.grad`` of this non-leaf tensor during backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that doesn't require grad")
        self._retains_grad = self.grad_fn is not None

    def backward(self, gradient=None, retain_graph=False):
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

    def _recorded(self, *operands):
        """Whether an in-place op on this tensor with these operands goes into the graph."""
        return autograd.is_grad_enabled() and (self.requires_grad or any(
            isinstance(a, Tensor) and a.requires_grad for a in operands))

    def _inplace(self, name, fn, *args, **kwargs):
        """``self <- fn(self, *args, **kwargs)`` in place; returns self."""
        args = tuple(self._operand(a) for a in args)
        if self._recorded(*args):
            self._check_rebase(name)
            before = Tensor._wrap(self._data, self._device, self.grad_fn)
            before.requires_grad, before._vc = self.requires_grad, self._vc
            result = fn(before, *args, **kwargs)
            if result.grad_fn is not None:
                result.grad_fn.unshare_saved(self._data)
            self._write(name, result._data)
            self.grad_fn, self.requires_grad = result.grad_fn, result.requires_grad
        else:
            with autograd.no_grad():
                result = fn(self, *args, **kwargs)
            self._write(name, result._data)
        self._vc[0] += 1
        return self

    def _operand(self, value):
        """A floating tensor operand of an in-place op is cast to this tensor's floating dtype
        (the result is written in this dtype anyway, as PyTorch does)."""
        if (isinstance(value, Tensor) and value.dtype != self.dtype and value.dtype.kind == "f"
                and self.dtype.kind == "f"):
            return value.to(self.dtype)
        return value

    def _check_rebase(self, name):
        if self.grad_fn is None and self.requires_grad:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               f"operation. ({name}: wrap it in `with minicnn.no_grad()` or use "
                               "the out-of-place op)")
        if self._base is not None and (self.requires_grad or self._base.requires_grad):
            raise RuntimeError(f"{name}: an in-place operation on a view of a tensor that is part "
                               "of a graph is not supported by minicnn (PyTorch rewrites the "
                               "base's history); clone() the view, or apply the op to the base")

    def _write(self, name, values):
        """Write ``values`` (this tensor's shape; a dtype that casts to its dtype) into _data."""
        if values.shape != self._data.shape:
            raise RuntimeError(f"{name}: output with shape {list(self.shape)} doesn't match the "
                               f"broadcast shape {list(values.shape)}")
        if values.dtype != self.dtype and not np.can_cast(values.dtype, self.dtype, "same_kind"):
            raise RuntimeError(f"{name}: result type {autograd.type_name(values.dtype)} can't be "
                               "cast to the desired output type "
                               f"{autograd.type_name(self.dtype)}")
        self._store(name, Ellipsis, values)

    def _store(self, name, index, values):
        try:
            self._data[index] = values
        except ValueError as e:
            if "read-only" not in str(e):
                raise
            raise RuntimeError(f"{name}: unsupported operation: more than one element of the "
                               "written-to tensor refers to a single memory location (it was "
                               "made by expand); clone() it before writing") from None

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
        return value.item() if isinstance(value, DeviceArray) else value

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


from . import ops  # noqa: E402  (ops needs Tensor defined first)
