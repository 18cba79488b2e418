"""The Tensor: an array, plus what autograd needs (requires_grad, grad, grad_fn), plus a device.

Names and semantics follow ``torch.Tensor``. The array behind a tensor on the "cpu" or "numpy"
device is a NumPy ndarray; ``.numpy()`` returns it (shared memory, like PyTorch). Every
differentiable method delegates to an op in :mod:`minicnn.ops`, where its Function (forward and
backward side by side) lives.

dtypes: float32 (the default for Python floats) and float64 for everything differentiable;
int64 and bool for indices, labels and comparison results. minicnn does not promote between
floating dtypes: combining a float32 and a float64 tensor raises TypeError.
"""
import numpy as np

from . import autograd
from .backends.cuda.memory import DeviceArray
from .device import DEVICE_TYPES, as_device, move
from .device import device as _device

_ARRAYS = (np.ndarray, DeviceArray)  # what a tensor's data may be: host or GPU memory


def _host(array):
    """The values of ``array`` in host memory (a copy when it is on the GPU)."""
    return array.to_host() if isinstance(array, DeviceArray) else array


class Tensor:
    """A multi-dimensional array with autograd, as ``torch.Tensor``. Create with :func:`minicnn.tensor`.

    Attributes: ``shape`` (tuple), ``dtype`` (a numpy dtype: minicnn.float32 ...), ``ndim``,
    ``device``, ``requires_grad``, ``grad`` (a Tensor or None), ``grad_fn`` (the graph node that
    made it, None for a leaf), ``is_leaf``.
    """

    __slots__ = ("_data", "_device", "requires_grad", "grad", "grad_fn", "_retains_grad",
                 "__weakref__")
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
        t.requires_grad = grad_fn is not None
        return t

    # ------------------------------------------------------------ attributes

    @property
    def data(self):
        """The same values as a tensor that autograd does not track (shares memory)."""
        return Tensor._wrap(self._data, self._device)

    @data.setter
    def data(self, value):
        array = value._data if isinstance(value, Tensor) else np.asarray(value)
        array = move(array, self._device)
        if array.shape != self._data.shape or array.dtype != self._data.dtype:
            raise ValueError(f"data: new value has shape {array.shape} and dtype {array.dtype}, "
                             f"expected shape {self.shape} and dtype {self.dtype}")
        self._data = array

    @property
    def shape(self):
        return self._data.shape

    def size(self, dim=None):
        """The shape, or one dimension of it (``torch.Tensor.size``)."""
        return self._data.shape if dim is None else self._data.shape[dim]

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
                             f"scalars, got shape {self.shape}")
        return self._data.item()

    def tolist(self):
        return _host(self._data).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with shape {self.shape} is ambiguous")
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

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def long(self):
        return self.to(np.int64)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    # ------------------------------------------------------------ autograd

    def detach(self):
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor._wrap(self._data, self._device)

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
                                   f"this tensor has shape {self.shape}: pass gradient=")
            grad = np.ones_like(self._data)
        else:
            grad = gradient._data if isinstance(gradient, Tensor) else np.asarray(gradient)
            grad = move(grad, self._device)
            if grad.shape != self.shape:
                raise RuntimeError(f"backward: gradient has shape {grad.shape} but the tensor "
                                   f"has shape {self.shape}")
            grad = grad.astype(self._data.dtype, copy=False)
        autograd.run_backward(self, grad, retain_graph=retain_graph)

    # ------------------------------------------------------------ in-place (no autograd)

    def _check_inplace(self, name):
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(f"{name}: a tensor that requires grad cannot be modified in place "
                               "outside no_grad()")

    def zero_(self):
        self._check_inplace("zero_")
        self._data.fill(0)
        return self

    def fill_(self, value):
        self._check_inplace("fill_")
        self._data.fill(value)
        return self

    def copy_(self, src):
        """Copy ``src``'s values (broadcast to this shape) into this tensor, from any device."""
        self._check_inplace("copy_")
        self._data[...] = self._same_side(src)
        return self

    def _same_side(self, value):
        """A tensor's (or an array's) data on this tensor's side of the GPU; numbers pass."""
        if isinstance(value, Tensor):
            value = value._data
        if isinstance(value, _ARRAYS) and value.ndim > 0:
            return move(value, self._device)
        return value.item() if isinstance(value, DeviceArray) else value

    def __setitem__(self, index, value):
        self._check_inplace("__setitem__")
        index = ops.to_index(index)
        self._data[index] = self._same_side(value)

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

    add, sub, mul, div, pow, matmul, neg = (
        __add__, __sub__, __mul__, __truediv__, __pow__, __matmul__, __neg__)

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

    def sigmoid(self):
        return ops.sigmoid(self)

    def tanh(self):
        return ops.tanh(self)

    def softmax(self, dim):
        return ops.softmax(self, dim)

    def log_softmax(self, dim):
        return ops.log_softmax(self, dim)

    # ------------------------------------------------------------ reductions

    def sum(self, dim=None, keepdim=False):
        return ops.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return ops.mean(self, dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return ops.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return ops.std(self, dim, unbiased, keepdim, correction=correction)

    def max(self, dim=None, keepdim=False):
        return ops.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return ops.min(self, dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        return ops.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return ops.amin(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return ops.argmin(self, dim, keepdim)

    # ------------------------------------------------------------ shape

    def reshape(self, *shape):
        return ops.reshape(self, *shape)

    def view(self, *shape):
        return ops.reshape(self, *shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return ops.flatten(self, start_dim, end_dim)

    def transpose(self, dim0, dim1):
        return ops.transpose(self, dim0, dim1)

    def t(self):
        if self.ndim > 2:
            raise ValueError(f"t() expects a tensor with <= 2 dimensions, got shape {self.shape}")
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

    def __getitem__(self, index):
        return ops.getitem(self, index)


from . import ops  # noqa: E402  (ops needs Tensor defined first)
