"""Device memory: a caching allocator and :class:`DeviceArray`, the array type of the CUDA backend.

cudaMalloc and cudaFree are slow (cudaFree synchronizes the device), and a training step frees
and allocates the same sizes every iteration. So, like PyTorch's CUDA caching allocator
(c10/cuda/CUDACachingAllocator.cpp), freed blocks are kept on free lists by size class and
handed out again; :func:`empty_cache` returns them to the driver. Sizes are rounded up to a
multiple of 512 bytes up to 1 MiB and of 2 MiB above, so a request reuses any cached block of
its class (PyTorch additionally splits large blocks; this one does not). When cudaMalloc fails,
the cache is emptied and the allocation tried once more before the error is raised.

Everything runs on the default stream in issue order, so a block freed while kernels that use it
are still queued can be handed out at once: the next user's kernels run after them.
"""
import ctypes
import math
from collections import defaultdict

import numpy as np

from . import _lib

_SMALL = 1 << 20


def round_size(nbytes):
    """The size class of a request: a multiple of 512 bytes up to 1 MiB, of 2 MiB above."""
    if nbytes <= _SMALL:
        return max(512, -(-nbytes // 512) * 512)
    return -(-nbytes // (2 << 20)) * (2 << 20)


class CachingAllocator:
    """Size-class free lists over cudaMalloc; one per process (:data:`allocator`)."""

    def __init__(self):
        self._free = defaultdict(list)  # size class -> device pointers
        self.allocated = 0  # bytes in live blocks (by size class)
        self.reserved = 0  # bytes obtained from cudaMalloc and not yet returned

    def malloc(self, nbytes):
        """A device pointer (int) to at least ``nbytes`` bytes, and its size class."""
        size = round_size(nbytes)
        free = self._free[size]
        if free:
            ptr = free.pop()
        else:
            lib = _lib.lib()
            out = ctypes.c_void_p()
            if lib.mc_cuda_malloc(ctypes.byref(out), size) != 0:
                self.empty_cache()  # out of memory, perhaps only because of the cache
                _lib.check(lib.mc_cuda_malloc(ctypes.byref(out), size))
            ptr = out.value
            self.reserved += size
        self.allocated += size
        return ptr, size

    def release(self, ptr, size):
        """Give a block back to its free list (not to the driver)."""
        self._free[size].append(ptr)
        self.allocated -= size

    def empty_cache(self):
        """cudaFree every cached block (``torch.cuda.empty_cache``)."""
        lib = _lib.library()
        for size, ptrs in self._free.items():
            while ptrs:
                _lib.check(lib.mc_cuda_free(ptrs.pop()))
                self.reserved -= size


allocator = CachingAllocator()


class _Block:
    """Ownership of one allocation; the views of a DeviceArray share it, and it returns to the
    cache when the last of them is gone."""

    __slots__ = ("ptr", "size")

    def __init__(self, nbytes):
        self.ptr, self.size = allocator.malloc(nbytes) if nbytes else (None, 0)

    def __del__(self):
        # no ptr: __init__ failed; allocator None: interpreter shutdown
        if getattr(self, "ptr", None) is not None and allocator is not None:
            allocator.release(self.ptr, self.size)


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
    from NumPy, are in :mod:`minicnn.backends.cuda.array_ops`). ``np.asarray`` on it raises
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
            _lib.check(_lib.lib().mc_cuda_memcpy_htod(out.ptr, array.ctypes.data, out.nbytes))
        return out

    def to_host(self):
        """A new ndarray with a copy of the data (waits for the kernels writing it)."""
        out = np.empty(self.shape, self.dtype)
        if self.nbytes:
            _lib.check(_lib.lib().mc_cuda_memcpy_dtoh(out.ctypes.data, self.ptr, self.nbytes))
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
            _lib.check(_lib.lib().mc_cuda_memcpy_dtod(out.ptr, self.ptr, self.nbytes))
        return out

    def zero_(self):
        if self.nbytes:
            _lib.check(_lib.lib().mc_cuda_memset(self.ptr, 0, self.nbytes))
        return self

    # ------------------------------------------------------------ ndarray-like (array_ops)

    @property
    def flags(self):
        return _Flags(not self._view)

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def T(self):
        return _ops().transpose(self)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        raise TypeError("a CUDA array cannot be used as a NumPy array; copy it to the host with "
                        "tensor.cpu() (DeviceArray.to_host()) first")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _ops().array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _ops().array_function(func, args, kwargs)

    def item(self):
        """The value of a one-element array as a Python number (a device-to-host copy)."""
        if self.size != 1:
            raise ValueError(f"item(): the array has {self.size} elements, not 1")
        return self.to_host().item()

    def fill(self, value):
        _ops().fill(self, value)

    def astype(self, dtype, copy=True):
        return _ops().astype(self, dtype, copy)

    def ravel(self):
        return self.reshape(-1)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return _ops().transpose(self, axes or None)

    def swapaxes(self, a, b):
        return _ops().swapaxes(self, a, b)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return _ops().sum(self, axis, keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return _ops().mean(self, axis, keepdims)

    def _no_kernel(self, *args, **kwargs):
        raise _ops().unsupported("this reduction (max, min, argmax, argmin, var, std)")

    max = min = argmax = argmin = var = std = _no_kernel

    def __getitem__(self, index):
        return _ops().getitem(self, index)

    def __setitem__(self, index, value):
        _ops().setitem(self, index, value)

    def _binary(self, op, other, reflected=False, out=None):
        ops = _ops()
        if isinstance(other, np.ndarray) and other.ndim > 0:
            raise TypeError("expected all arrays on the same device, got a CUDA array and a host "
                            "(NumPy) array")
        a, b = (other, self) if reflected else (self, other)
        return ops.binary("DeviceArray operator", op, a, b, out)

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
            _ops().add_int64(self, other)
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
        return _ops().unary("negative", _ops().NEG, self)

    def __pow__(self, exponent):
        ops = _ops()
        if ops._scalar(exponent) is None:
            raise ops.unsupported("an array exponent")
        return ops.unary("power", ops.POW, self, ops._scalar(exponent))

    def __matmul__(self, other):
        return _ops().matmul(self, other)

    def _no_compare(self, other):
        raise _ops().unsupported("comparing CUDA arrays")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _no_compare
    __hash__ = object.__hash__

    def __bool__(self):
        raise TypeError("the truth value of a CUDA array is not defined (it would need a copy "
                        "to the host: use .item())")


def _ops():
    from . import array_ops  # imports this module: bound on first use

    return array_ops


def _infer(shape, size):
    shape = [int(s) for s in shape]
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: only one dimension can be -1, got {tuple(shape)}")
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape an array of {size} elements into {tuple(shape)}")
        shape[shape.index(-1)] = size // known
    if math.prod(shape) != size:
        raise ValueError(f"reshape: cannot reshape an array of {size} elements into {tuple(shape)}")
    return tuple(shape)


def empty(shape, dtype=np.float32):
    return DeviceArray(shape, dtype)


def zeros(shape, dtype=np.float32):
    return DeviceArray(shape, dtype).zero_()


def memory_allocated():
    """Bytes held by live device arrays (by size class), as ``torch.cuda.memory_allocated``."""
    return allocator.allocated


def memory_reserved():
    """Bytes obtained from cudaMalloc: live arrays plus the cache (``torch.cuda.memory_reserved``)."""
    return allocator.reserved


def empty_cache():
    allocator.empty_cache()
