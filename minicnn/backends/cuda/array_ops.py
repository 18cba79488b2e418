""":class:`DeviceArray`, the array type of the CUDA backend, and its NumPy-like side on kernels.

A DeviceArray owns its memory through the caching allocator of :mod:`.memory`. minicnn's ops
are written against NumPy arrays (``a + b``, ``np.exp(x)``, ``g.sum(axis=0)``,
``x.reshape(...)``). A DeviceArray answers the same operators, methods and functions (through
NumPy's ``__array_ufunc__`` and ``__array_function__`` protocols, as CuPy does), each with one or
two kernel launches, so most ops run on the GPU unchanged and their results stay there.

What is covered: float32 arithmetic with NumPy broadcasting (``+ - * / **``, in place too),
``exp log sqrt abs sign negative``, 2-D ``matmul``; ``sum``/``mean`` over any axes; basic indexing
(ints, slices, None, Ellipsis) for reading and writing; ``transpose``, ``swapaxes``,
``broadcast_to``, ``expand_dims``, ``squeeze``, ``reshape``, 1-D ``tile``; ``astype`` between
float32, float64, int64 and bool; ``zeros_like``/``ones_like``/``empty_like``/``full_like``;
``may_share_memory`` (whether two device arrays use one allocation). Unlike NumPy,
``transpose``, slicing and ``broadcast_to`` return copies (device arrays are always contiguous).
Anything else raises TypeError naming the operation and suggesting ``.cpu()``; a DeviceArray is
never silently turned into a host array (``np.asarray`` on one raises).
"""
import builtins
import ctypes
import math
import numbers

import numpy as np

from ._lib import check, lib
from .memory import _Block

# enum mc_unary_op, mc_binary_op and mc_dtype of csrc/cuda/minicnn_cuda.h
(RELU, LEAKY_RELU, SIGMOID, TANH, SILU, HARDSWISH, GELU, GELU_TANH, EXP, LOG, SQRT, ABS, NEG,
 AFFINE, POW, SIGN) = range(16)
ADD, SUB, MUL, DIV = range(4)
DTYPE_CODES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.int64): 2,
               np.dtype(np.bool_): 3}
MAX_DIMS = 8  # MC_MAX_DIMS


class _Flags:
    """The part of ``ndarray.flags`` that minicnn reads: device arrays are always C-contiguous
    and writeable; ``owndata`` is False for views (reshape, view_rows)."""

    __slots__ = ("owndata", "c_contiguous", "writeable")

    def __init__(self, owndata):
        self.owndata, self.c_contiguous, self.writeable = owndata, True, True


class DeviceArray:
    """A dense, C-contiguous array in GPU memory, owned through the caching allocator.

    ``DeviceArray(shape, dtype=float32)`` allocates (uninitialized); :meth:`from_host` copies an
    ndarray in, :meth:`to_host` copies out. Attributes: ``shape`` (tuple), ``dtype`` (a numpy
    dtype), ``ndim``, ``size``, ``nbytes``, ``ptr`` (the device address as an int; None when
    empty). The kernels take float32 arrays (int64 for class and pooling indices). Raises
    RuntimeError naming the reason when CUDA is not available.

    It also behaves like a (small) ndarray, on kernels: arithmetic with broadcasting, ufuncs such
    as ``np.exp``, ``sum``/``mean``, basic indexing, ``astype`` (the list, and the differences
    from NumPy, are in this module's docstring). ``np.asarray`` on it raises
    TypeError: data reaches the host only through :meth:`to_host`.
    """

    __slots__ = ("shape", "dtype", "_block", "ptr", "_view")
    __array_priority__ = 2000  # ndarray (op) DeviceArray defers to DeviceArray's operator

    def __init__(self, shape, dtype=np.float32, *, _block=None, _offset=0):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        if any(s < 0 for s in self.shape):
            raise ValueError(f"DeviceArray: shape must not be negative, got {self.shape}")
        self._view = _block is not None
        self._block = _Block(self.nbytes) if _block is None else _block
        self.ptr = None if self._block.ptr is None else self._block.ptr + _offset

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    def __repr__(self):
        return f"DeviceArray(shape={self.shape}, dtype={self.dtype})"

    @classmethod
    def from_host(cls, array):
        """A new device array holding a copy of ``array`` (anything np.asarray takes)."""
        array = np.asarray(array, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
        out = cls(array.shape, array.dtype)
        if out.nbytes:
            check(lib().mc_cuda_memcpy_htod(out.ptr, array.ctypes.data, out.nbytes))
        return out

    def to_host(self):
        """A new ndarray with a copy of the data (waits for the kernels writing it)."""
        out = np.empty(self.shape, self.dtype)
        if self.nbytes:
            check(lib().mc_cuda_memcpy_dtoh(out.ctypes.data, self.ptr, self.nbytes))
        return out

    def reshape(self, *shape):
        """A view with another shape (same memory); one dimension may be -1."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        shape = _infer(shape, self.size)
        return DeviceArray(shape, self.dtype, _block=self._block,
                           _offset=0 if self.ptr is None else self.ptr - self._block.ptr)

    def view_rows(self, start, stop):
        """Rows [start, stop) along the first dimension, as a view."""
        if not 0 <= start <= stop <= self.shape[0]:
            raise IndexError(f"view_rows: rows [{start}, {stop}) are outside the array's "
                             f"{self.shape[0]} rows")
        row = self.nbytes // self.shape[0] if self.shape[0] else 0
        if self.ptr is None:  # no elements: nothing to point into
            return DeviceArray((stop - start,) + self.shape[1:], self.dtype)
        return DeviceArray((stop - start,) + self.shape[1:], self.dtype, _block=self._block,
                           _offset=(self.ptr - self._block.ptr) + start * row)

    def copy(self):
        out = DeviceArray(self.shape, self.dtype)
        if self.nbytes:
            check(lib().mc_cuda_memcpy_dtod(out.ptr, self.ptr, self.nbytes))
        return out

    def zero_(self):
        if self.nbytes:
            check(lib().mc_cuda_memset(self.ptr, 0, self.nbytes))
        return self

    # ------------------------------------------------------------ ndarray-like
    # The module's functions below do the work; a method body sees them, not the class's own
    # attributes of the same name (fill, sum, transpose, ...).

    @property
    def flags(self):
        return _Flags(not self._view)

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def T(self):
        return transpose(self)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        raise TypeError("a CUDA array cannot be used as a NumPy array; copy it to the host with "
                        "tensor.cpu() (DeviceArray.to_host()) first")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return array_function(func, args, kwargs)

    def item(self):
        """The value of a one-element array as a Python number (a device-to-host copy)."""
        if self.size != 1:
            raise ValueError(f"item(): the array has {self.size} elements, not 1")
        return self.to_host().item()

    def fill(self, value):
        fill(self, value)

    def astype(self, dtype, copy=True):
        return astype(self, dtype, copy)

    def ravel(self):
        return self.reshape(-1)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return transpose(self, axes or None)

    def swapaxes(self, a, b):
        return swapaxes(self, a, b)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return sum(self, axis, keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return mean(self, axis, keepdims)

    def _no_kernel(self, *args, **kwargs):
        raise unsupported("this reduction (max, min, argmax, argmin, var, std)")

    max = min = argmax = argmin = var = std = _no_kernel

    def __getitem__(self, index):
        return getitem(self, index)

    def __setitem__(self, index, value):
        setitem(self, index, value)

    def _binary(self, op, other, reflected=False, out=None):
        if isinstance(other, np.ndarray) and other.ndim > 0:
            raise TypeError("expected all arrays on the same device, got a CUDA array and a host "
                            "(NumPy) array")
        a, b = (other, self) if reflected else (self, other)
        return binary("DeviceArray operator", op, a, b, out)

    def __add__(self, other):
        return self._binary(0, other)

    def __radd__(self, other):
        return self._binary(0, other, True)

    def __sub__(self, other):
        return self._binary(1, other)

    def __rsub__(self, other):
        return self._binary(1, other, True)

    def __mul__(self, other):
        return self._binary(2, other)

    def __rmul__(self, other):
        return self._binary(2, other, True)

    def __truediv__(self, other):
        return self._binary(3, other)

    def __rtruediv__(self, other):
        return self._binary(3, other, True)

    def _inplace(self, op, other):
        if self.dtype == np.int64 and op == 0 and isinstance(other, int):
            add_int64(self, other)
            return self
        return self._binary(op, other, out=self)

    def __iadd__(self, other):
        return self._inplace(0, other)

    def __isub__(self, other):
        return self._inplace(1, other)

    def __imul__(self, other):
        return self._inplace(2, other)

    def __itruediv__(self, other):
        return self._inplace(3, other)

    def __neg__(self):
        return unary("negative", NEG, self)

    def __pow__(self, exponent):
        if _scalar(exponent) is None:
            raise unsupported("an array exponent")
        return unary("power", POW, self, _scalar(exponent))

    def __matmul__(self, other):
        return matmul(self, other)

    def _no_compare(self, other):
        raise unsupported("comparing CUDA arrays")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _no_compare
    __hash__ = object.__hash__

    def __bool__(self):
        raise TypeError("the truth value of a CUDA array is not defined (it would need a copy "
                        "to the host: use .item())")


def _infer(shape, size):
    shape = [int(s) for s in shape]
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: only one dimension can be -1, got {tuple(shape)}")
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape an array of {size} elements into "
                             f"{tuple(shape)}")
        shape[shape.index(-1)] = size // known
    if math.prod(shape) != size:
        raise ValueError(f"reshape: cannot reshape an array of {size} elements into {tuple(shape)}")
    return tuple(shape)


def empty(shape, dtype=np.float32):
    return DeviceArray(shape, dtype)


def zeros(shape, dtype=np.float32):
    return DeviceArray(shape, dtype).zero_()



def unsupported(what):
    return TypeError(f"{what} is not implemented for CUDA arrays (minicnn.backends.cuda); copy "
                     "the tensor to the host with .cpu() first")


def f32(fn, name, a):
    """``a`` itself when it is a float32 DeviceArray; TypeError naming ``fn`` and ``name`` else."""
    if not isinstance(a, DeviceArray):
        raise TypeError(f"{fn}: {name} must be a DeviceArray, got {type(a).__name__}")
    if a.dtype != np.float32:
        raise TypeError(f"{fn}: {name} must have dtype float32 (the CUDA kernels are float32), "
                        f"got {a.dtype}")
    return a


def _int64s(values):
    values = list(values)
    return (ctypes.c_int64 * max(len(values), 1))(*values)


def contiguous_strides(shape):
    """Element strides of a C-contiguous array of ``shape``."""
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def _squeeze_layout(shape, *strides):
    """Drop the size-1 dimensions (their strides never matter) so that up to MAX_DIMS real
    dimensions fit the kernels; ValueError beyond that."""
    keep = [k for k, n in enumerate(shape) if n != 1]
    if len(keep) > MAX_DIMS:
        raise ValueError(f"CUDA strided kernels take at most {MAX_DIMS} dimensions of size > 1, "
                         f"got shape {tuple(shape)}")
    return [shape[k] for k in keep], [[s[k] for k in keep] for s in strides]


# ---------------------------------------------------------------- elementwise

def unary(fn, op, x, a=0.0, b=0.0, out=None):
    """y = op(x) elementwise (enum mc_unary_op; a, b: leaky_relu's slope, affine's a x + b, pow's
    exponent), into ``out`` when given."""
    f32(fn, "x", x)
    y = empty(x.shape) if out is None else _check_out(fn, out, x.shape)
    check(lib().mc_cuda_unary(op, x.size, x.ptr, y.ptr, a, b))
    return y


def unary_backward(fn, op, grad_output, saved, a=0.0):
    f32(fn, "grad_output", grad_output)
    f32(fn, "saved", saved)
    if grad_output.shape != saved.shape:
        raise ValueError(f"{fn}: grad_output and the saved forward value must have the same "
                         f"shape, got {grad_output.shape} and {saved.shape}")
    gx = empty(saved.shape)
    check(lib().mc_cuda_unary_backward(op, saved.size, grad_output.ptr, saved.ptr, gx.ptr, a))
    return gx


def _check_out(fn, out, shape):
    f32(fn, "out", out)
    if out.shape != tuple(shape):
        raise ValueError(f"{fn}: out has shape {out.shape}, the result has {tuple(shape)}")
    return out


def _scalar(v):
    """A Python float for a real number or a 0-d host array; None for anything else."""
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "biuf":
        return float(v)
    return None


def binary(fn, op, a, b, out=None):
    """a op b (enum mc_binary_op) with NumPy broadcasting; either side may be a Python number.
    Same shapes take the plain kernel, a number the affine kernel, the rest one strided kernel."""
    sa, sb = _scalar(a), _scalar(b)
    if sa is not None and sb is not None:
        raise TypeError(f"{fn}: one operand must be a DeviceArray")
    if sb is not None:  # array op number
        f32(fn, "a", a)
        if op == DIV:
            return unary(fn, AFFINE, a, 1.0 / sb, 0.0, out)
        scale, shift = {ADD: (1.0, sb), SUB: (1.0, -sb), MUL: (sb, 0.0)}[op]
        return unary(fn, AFFINE, a, scale, shift, out)
    if sa is not None:  # number op array
        f32(fn, "b", b)
        if op == DIV:  # s / b = s * b^-1
            y = unary(fn, POW, b, -1.0, 0.0, out)
            return unary(fn, AFFINE, y, sa, 0.0, y)
        scale, shift = {ADD: (1.0, sa), SUB: (-1.0, sa), MUL: (sa, 0.0)}[op]
        return unary(fn, AFFINE, b, scale, shift, out)
    f32(fn, "a", a)
    f32(fn, "b", b)
    if a.shape == b.shape:
        y = empty(a.shape) if out is None else _check_out(fn, out, a.shape)
        check(lib().mc_cuda_binary(op, a.size, a.ptr, b.ptr, y.ptr))
        return y
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{fn}: shapes {a.shape} and {b.shape} are not broadcastable") from None
    y = empty(shape) if out is None else _check_out(fn, out, shape)
    dims, (sa_, sb_) = _squeeze_layout(shape, _broadcast_strides(a.shape, shape),
                                       _broadcast_strides(b.shape, shape))
    check(lib().mc_cuda_binary_broadcast(op, len(dims), _int64s(dims), _int64s(sa_), a.ptr,
                                         _int64s(sb_), b.ptr, y.ptr))
    return y


def _broadcast_strides(shape, target):
    """Element strides that read an array of ``shape`` as if broadcast to ``target``."""
    lead = len(target) - len(shape)
    own = contiguous_strides(shape)
    return tuple(0 if k < lead or shape[k - lead] == 1 else own[k - lead]
                 for k in range(len(target)))


def fill(x, value):
    """Set every element of ``x`` to ``value`` in place (float32: any value; other dtypes: 0 or,
    for int64, any integer through a zero fill and an add); returns x."""
    if x.dtype == np.float32:
        check(lib().mc_cuda_fill(x.size, x.ptr, float(value)))
    elif value == 0:
        x.zero_()
    elif x.dtype == np.int64 and float(value).is_integer():
        x.zero_()
        check(lib().mc_cuda_add_int64(x.size, x.ptr, int(value)))
    else:
        raise unsupported(f"filling a {x.dtype} array with {value!r}")
    return x


def full(shape, value, dtype=np.float32):
    return fill(empty(shape, dtype), value)


def add_int64(x, value):
    """x += value in place for an int64 DeviceArray (batch norm's num_batches_tracked)."""
    if x.dtype != np.int64:
        raise TypeError(f"add_int64: x must be int64, got {x.dtype}")
    check(lib().mc_cuda_add_int64(x.size, x.ptr, int(value)))
    return x


# ---------------------------------------------------------------- layout: copies and casts

def strided_copy(shape, src, src_strides, src_offset, dst, dst_strides, dst_offset):
    """dst[...] = src[...] over ``shape`` through element strides and offsets (same dtype)."""
    dims, (ss, ds) = _squeeze_layout(tuple(shape), tuple(src_strides), tuple(dst_strides))
    check(lib().mc_cuda_strided_copy(len(dims), _int64s(dims), _int64s(ss), src_offset, src.ptr,
                                     _int64s(ds), dst_offset, dst.ptr, src.dtype.itemsize))


def broadcast_to(x, shape):
    """A new array of ``shape`` holding ``x`` broadcast (NumPy rules)."""
    shape = tuple(int(s) for s in shape)
    if x.shape == shape:
        return x.copy()
    try:
        if np.broadcast_shapes(x.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None
    y = empty(shape, x.dtype)
    strided_copy(shape, x, _broadcast_strides(x.shape, shape), 0, y, contiguous_strides(shape), 0)
    return y


def transpose(x, axes=None):
    """A contiguous copy with the dimensions permuted (``np.transpose``)."""
    axes = (tuple(reversed(range(x.ndim))) if axes is None
            else tuple(a % max(x.ndim, 1) for a in axes))
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {x.ndim} dimensions")
    shape = tuple(x.shape[a] for a in axes)
    own = contiguous_strides(x.shape)
    y = empty(shape, x.dtype)
    strided_copy(shape, x, [own[a] for a in axes], 0, y, contiguous_strides(shape), 0)
    return y


def swapaxes(x, a, b):
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, axes)


def astype(x, dtype, copy=True):
    """``x`` converted to ``dtype`` (float32, float64, int64 or bool), as ndarray.astype."""
    dtype = np.dtype(dtype)
    if dtype == x.dtype:
        return x.copy() if copy else x
    if dtype not in DTYPE_CODES or x.dtype not in DTYPE_CODES:
        raise unsupported(f"astype from {x.dtype} to {dtype}")
    y = empty(x.shape, dtype)
    check(lib().mc_cuda_cast(x.size, x.ptr, DTYPE_CODES[x.dtype], y.ptr, DTYPE_CODES[dtype]))
    return y


def _view(x, index):
    """Shape, element strides and element offset of ``x[index]`` for a basic index (ints,
    slices, None, Ellipsis), without copying; TypeError for advanced (array) indices."""
    if not isinstance(index, tuple):
        index = (index,)
    for i in index:
        if not (i is None or i is Ellipsis or isinstance(i, slice)
                or isinstance(i, numbers.Integral) and not isinstance(i, bool)):
            raise unsupported(f"indexing with {type(i).__name__} (only ints, slices, None and "
                              "... are)")
    if builtins.sum(i is Ellipsis for i in index) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = builtins.sum(i is not None and i is not Ellipsis for i in index)
    if used > x.ndim:
        raise IndexError(f"too many indices for an array of {x.ndim} dimensions: {used} were "
                         "indexed")
    if Ellipsis in index:
        k = index.index(Ellipsis)
        index = index[:k] + (slice(None),) * (x.ndim - used) + index[k + 1:]
    else:
        index = index + (slice(None),) * (x.ndim - used)
    own = contiguous_strides(x.shape)
    shape, strides, offset, d = [], [], 0, 0
    for i in index:
        if i is None:
            shape.append(1)
            strides.append(0)
            continue
        n = x.shape[d]
        if isinstance(i, slice):
            start, stop, step = i.indices(n)
            shape.append(len(range(start, stop, step)))
            strides.append(own[d] * step)
            offset += start * own[d]
        else:
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {d} with size {n}")
            offset += (i % n) * own[d]
        d += 1
    return tuple(shape), tuple(strides), offset


def getitem(x, index):
    shape, strides, offset = _view(x, index)
    y = empty(shape, x.dtype)
    strided_copy(shape, x, strides, offset, y, contiguous_strides(shape), 0)
    return y


def setitem(x, index, value):
    """x[index] = value: a DeviceArray broadcast to the indexed region, or a number."""
    shape, strides, offset = _view(x, index)
    if _scalar(value) is not None:
        value = full((), _scalar(value), x.dtype) if x.dtype == np.float32 else \
            astype(full((), _scalar(value)), x.dtype)
    if not isinstance(value, DeviceArray):
        raise TypeError(f"assigning a {type(value).__name__} into a CUDA array: move it to the "
                        "device first (tensor.to('cuda'))")
    if value.dtype != x.dtype:
        value = astype(value, x.dtype)
    try:
        if np.broadcast_shapes(value.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"could not broadcast a value of shape {value.shape} into the indexed "
                         f"shape {shape}") from None
    strided_copy(shape, value, _broadcast_strides(value.shape, shape), 0, x, strides, offset)


# ---------------------------------------------------------------- reductions and matmul

def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axis = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted({int(a) % max(ndim, 1) for a in axis}))


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (None: all; an int or a tuple), accumulated in double per output."""
    f32("sum", "x", x)
    axes = _axes(axis, x.ndim)
    kept = tuple(1 if k in axes else n for k, n in enumerate(x.shape))
    y = x
    for a in reversed(axes):  # last first, so the earlier axis numbers stay valid
        outer, n, inner = math.prod(y.shape[:a]), y.shape[a], math.prod(y.shape[a + 1:])
        out = empty(y.shape[:a] + y.shape[a + 1:])
        check(lib().mc_cuda_sum_axis(outer, n, inner, y.ptr, out.ptr))
        y = out
    if y is x:
        y = x.copy()
    return y.reshape(kept) if keepdims else y


def mean(x, axis=None, keepdims=False):
    axes = _axes(axis, x.ndim)
    count = math.prod(x.shape[a] for a in axes)
    y = sum(x, axis, keepdims)
    return unary("mean", AFFINE, y, 1.0 / count if count else float("nan"), 0.0, y)


def cublas_available():
    """True when libcublas was found at run time (then :func:`matmul` uses it)."""
    return bool(lib().mc_cuda_cublas_available())


def sgemm(a, b, trans_a=False, trans_b=False, use_cublas=None):
    """op(a) @ op(b) for 2-D float32 arrays; ``use_cublas``: None (cuBLAS when present), False
    (the hand-written tiled kernel of csrc/cuda/gemm.cu) or True (RuntimeError without cuBLAS)."""
    f32("sgemm", "a", a)
    f32("sgemm", "b", b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"sgemm: a and b must be 2-D, got {a.shape} and {b.shape}")
    M, K = a.shape[::-1] if trans_a else a.shape
    K2, N = b.shape[::-1] if trans_b else b.shape
    if K != K2:
        raise ValueError(f"sgemm: inner dimensions differ: op(a) is ({M}, {K}), op(b) ({K2}, {N})")
    if use_cublas and not cublas_available():
        raise RuntimeError("sgemm: use_cublas=True but libcublas was not found")
    c = empty((M, N))
    fn = lib().mc_cuda_sgemm_tiled if use_cublas is False else lib().mc_cuda_sgemm
    check(fn(int(trans_a), int(trans_b), M, N, K, 1.0, a.ptr, a.shape[1], b.ptr, b.shape[1], 0.0,
             c.ptr, N))
    return c


def matmul(a, b, out=None):
    """2-D a (M, K) @ b (K, N) on the GEMM kernel (cuBLAS when present)."""
    if (not (isinstance(a, DeviceArray) and isinstance(b, DeviceArray))
            or a.ndim != 2 or b.ndim != 2):
        raise unsupported("matmul other than of two 2-D CUDA arrays")
    y = sgemm(a, b)
    if out is not None:
        _check_out("matmul", out, y.shape)
        out[...] = y
        return out
    return y


# ---------------------------------------------------------------- NumPy protocols

_UNARY_UFUNCS = {np.exp: EXP, np.log: LOG, np.sqrt: SQRT, np.absolute: ABS, np.negative: NEG,
                 np.sign: SIGN}
_BINARY_UFUNCS = {np.add: ADD, np.subtract: SUB, np.multiply: MUL, np.true_divide: DIV}


def array_ufunc(ufunc, method, inputs, kwargs):
    """DeviceArray.__array_ufunc__: the ufuncs above on the device, TypeError for the rest."""
    out = kwargs.pop("out", None)
    if out is not None:
        out = out[0] if isinstance(out, tuple) else out
    if method != "__call__" or kwargs:
        raise unsupported(f"numpy.{ufunc.__name__}.{method} with {sorted(kwargs)}")
    for v in inputs:
        if isinstance(v, np.ndarray) and v.ndim > 0:
            raise TypeError(f"numpy.{ufunc.__name__}: expected all arrays on the same device, got "
                            "a CUDA array and a host (NumPy) array")
    name = f"numpy.{ufunc.__name__}"
    if ufunc in _UNARY_UFUNCS:
        return unary(name, _UNARY_UFUNCS[ufunc], inputs[0], out=out)
    if ufunc in _BINARY_UFUNCS:
        return binary(name, _BINARY_UFUNCS[ufunc], inputs[0], inputs[1], out)
    if ufunc is np.power and _scalar(inputs[1]) is not None:
        return unary(name, POW, inputs[0], _scalar(inputs[1]), 0.0, out)
    if ufunc is np.matmul:
        return matmul(inputs[0], inputs[1], out)
    raise unsupported(name)


def _like(fn):
    def like(a, dtype=None, shape=None, *args):
        shape = a.shape if shape is None else shape
        return fn(shape, a.dtype if dtype is None else np.dtype(dtype), *args)
    return like


def _squeeze(a, axis=None):
    axes = _axes(axis, a.ndim) if axis is not None else tuple(k for k, n in enumerate(a.shape)
                                                              if n == 1)
    if any(a.shape[k] != 1 for k in axes):
        raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return a.reshape(tuple(n for k, n in enumerate(a.shape) if k not in axes))


def _expand_dims(a, axis):
    axis = axis if isinstance(axis, tuple) else (axis,)
    ndim = a.ndim + len(axis)
    new = {int(k) % ndim for k in axis}
    it = iter(a.shape)
    return a.reshape(tuple(1 if k in new else next(it) for k in range(ndim)))


def _tile(a, reps):
    if a.ndim != 1 or not isinstance(reps, numbers.Integral):
        raise unsupported("numpy.tile other than of a 1-D array by an int")
    return broadcast_to(a, (int(reps), a.shape[0])).reshape(-1)


_FUNCTIONS = {
    np.zeros_like: lambda a, dtype=None, shape=None: _like(lambda s, d: empty(s, d).zero_())(
        a, dtype, shape),
    np.ones_like: lambda a, dtype=None, shape=None: _like(lambda s, d: full(s, 1, d) if d ==
                                                          np.float32 else astype(full(s, 1), d))(
        a, dtype, shape),
    np.empty_like: lambda a, dtype=None, shape=None: _like(empty)(a, dtype, shape),
    np.full_like: lambda a, fill_value, dtype=None, shape=None: fill(
        empty(a.shape if shape is None else shape, a.dtype if dtype is None else dtype),
        fill_value),
    np.sum: lambda a, axis=None, dtype=None, out=None, keepdims=False: sum(a, axis, keepdims),
    np.mean: lambda a, axis=None, dtype=None, out=None, keepdims=False: mean(a, axis, keepdims),
    np.reshape: lambda a, shape, order="C": a.reshape(shape),
    np.transpose: lambda a, axes=None: transpose(a, axes),
    np.swapaxes: swapaxes,
    np.broadcast_to: lambda a, shape, subok=False: broadcast_to(a, shape),
    np.expand_dims: _expand_dims,
    np.squeeze: _squeeze,
    np.ascontiguousarray: lambda a, dtype=None: a if dtype is None else astype(a, dtype, False),
    np.copy: lambda a, order="K", subok=False: a.copy(),
    np.shape: lambda a: a.shape,
    np.ndim: lambda a: a.ndim,
    np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
    np.matmul: matmul,
    np.tile: _tile,
    np.may_share_memory: lambda a, b, max_work=None: (
        isinstance(a, DeviceArray) and isinstance(b, DeviceArray) and a._block is b._block),
}


def array_function(func, args, kwargs):
    """DeviceArray.__array_function__: the functions above on the device, TypeError for the rest."""
    impl = _FUNCTIONS.get(func)
    if impl is None:
        raise unsupported(f"numpy.{func.__name__}")
    return impl(*args, **kwargs)
