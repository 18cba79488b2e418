"""A CPU emulator of minicnn's CUDA C API (csrc/cuda/minicnn_cuda.h), so that tests run the whole
Python side of the CUDA path (minicnn.backends.cuda, device tensors, training) without a GPU.

:class:`Emulator` stands in for the ctypes library that ``minicnn.backends.cuda._lib`` binds, and
:func:`installed` puts one in its place (``minicnn.cuda.is_available()`` is then True)::

    with installed() as emu:
        y = cuda.relu(cuda.DeviceArray.from_host(x))
        assert emu.calls["mc_cuda_unary"] == 1

Faithful to the C, never forgiving, so that a bug of a Python wrapper (argument order, a wrong
shape, pointer or workspace size) shows up as a wrong result or an error:

* arguments are converted as the bound argtypes (``_lib.SIGNATURES``) convert them: a wrong
  type raises ctypes.ArgumentError, ints wrap to 32 or 64 bits, floats round to float32; a wrong
  argument count raises TypeError (ctypes would pass extra arguments silently);
* device memory is host memory: mc_cuda_malloc returns the 256-byte aligned address of a NumPy
  byte buffer filled with 0xFF (NaN as float32 and float64, -1 as int64), so reading memory that
  nobody wrote shows up. Every access of a kernel is checked against the live allocations: one
  outside them returns cudaErrorIllegalAddress at once (a GPU reports it at the next synchronizing
  call, if it notices; an access past an array's end but inside its allocator block goes unseen
  on both);
* each kernel is transcribed from its .cu file (the index rules, what is written and what is left
  alone, NULL optional pointers, the float32 / double arithmetic), not taken from the reference
  backend, so tests comparing against minicnn.backends.reference also check the CUDA formulas.
  Only the order of float additions differs (and nvcc's fused multiply-adds), so the last bits may;
* where the C would crash or its behaviour is undefined (a division by zero in a launcher, a
  negative size), :class:`EmulatorError` is raised rather than an error code returned.

``calls`` (a collections.Counter) counts the entry points called from Python, e.g.
``calls["mc_cuda_memcpy_dtoh"]``; entry points called by other entry points are not counted (as
the C calls its helpers directly).
"""
import bisect
import collections
import contextlib
import ctypes
import gc
import math

import numpy as np

from minicnn.backends.cuda import _lib, memory

_P = ctypes.c_void_p
MC_CUBLAS_ERROR = 10000
MC_MAX_DIMS = 8

# (cudaError_t, name, string) of the errors the emulator returns
INVALID_VALUE = (1, "cudaErrorInvalidValue", "invalid argument")
MEMORY_ALLOCATION = (2, "cudaErrorMemoryAllocation", "out of memory")
INVALID_DEVICE = (101, "cudaErrorInvalidDevice", "invalid device ordinal")
ILLEGAL_ADDRESS = (700, "cudaErrorIllegalAddress", "an illegal memory access was encountered")

# enum mc_unary_op, mc_binary_op and mc_dtype of minicnn_cuda.h
(RELU, LEAKY_RELU, SIGMOID, TANH, SILU, HARDSWISH, GELU, GELU_TANH, EXP, LOG, SQRT, ABS, NEG,
 AFFINE, POW, SIGN) = range(16)
ADD, SUB, MUL, DIV = range(4)
DTYPES = {0: np.dtype(np.float32), 1: np.dtype(np.float64), 2: np.dtype(np.int64),
          3: np.dtype(np.uint8)}

f32 = np.float32
_INV_SQRT_2, _INV_SQRT_2PI, _SQRT_2_OVER_PI = (f32(0.7071067811865476), f32(0.3989422804014327),
                                               f32(0.7978845608028654))


class EmulatorError(RuntimeError):
    """A call the C would crash on, or whose behaviour is undefined."""


class _Fail(Exception):
    """An error the C returns as a code after storing a message (mc_fail of runtime.cu)."""

    def __init__(self, error, what):
        code, name, text = error
        super().__init__(f"{name}: {text} ({what}; emulated)" if name else f"{text} ({what})")
        self.code = code


def _cdiv(a, b):
    """C's integer division (truncating toward zero)."""
    if b == 0:
        raise EmulatorError("integer division by zero in the C (SIGFPE)")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _out_size(n, k, s, p, d):
    """mc_out_size of conv.cu, with C division."""
    return _cdiv(n + 2 * p - d * (k - 1) - 1, s) + 1


def _nonneg(**sizes):
    for name, v in sizes.items():
        if v < 0:
            raise EmulatorError(f"{name} = {v} is negative (the C does not expect it)")


def _positive_strides(**strides):
    for name, v in strides.items():
        if v < 1:
            raise EmulatorError(f"{name} = {v}: the emulator supports strides >= 1 only")


def _span(a, s, n, out):
    """The outputs o in [lo, hi) whose tap position o s + a falls inside [0, n), and the first
    such position; s >= 1."""
    lo = max(0, -(a // s))
    hi = min(out, -((a - n) // s))
    return lo, max(lo, hi), lo * s + a


def _taps(kh, kw, sh, sw, ph, pw, dh, dw, H, W, Ho, Wo):
    """The kernel taps (i, j) that read the input, in row-major order, as (i, j, outputs,
    inputs): the outputs (oh, ow) whose tap lands inside the (H, W) input as a pair of slices of
    (Ho, Wo), and the input positions they read as a pair of slices of (H, W). Output (oh, ow)
    of tap (i, j) reads (oh sh - ph + i dh, ow sw - pw + j dw), as in conv.cu and pool.cu."""
    _positive_strides(sh=sh, sw=sw)
    for i in range(kh):
        oa, ob, h0 = _span(i * dh - ph, sh, H, Ho)
        for j in range(kw):
            pa, pb, w0 = _span(j * dw - pw, sw, W, Wo)
            if ob > oa and pb > pa:
                yield i, j, (slice(oa, ob), slice(pa, pb)), (
                    slice(h0, h0 + (ob - oa - 1) * sh + 1, sh),
                    slice(w0, w0 + (pb - pa - 1) * sw + 1, sw))


def _host_address(p, what):
    """The address behind a host pointer argument: an int, a ctypes object, ctypes.byref(obj)."""
    if isinstance(p, int):
        return p
    if hasattr(p, "_as_parameter_"):
        return _host_address(p._as_parameter_, what)
    if hasattr(p, "_obj"):  # ctypes.byref(obj)
        return ctypes.addressof(p._obj)
    if isinstance(p, ctypes._SimpleCData | ctypes.Array | ctypes.Structure | ctypes._Pointer):
        return ctypes.addressof(p)
    raise EmulatorError(f"{what}: cannot take the address of {type(p).__name__}")


def _store(p, ctype, value, what):
    """*p = value for an out-parameter of C type ``ctype`` (ctypes.byref(obj) from Python)."""
    if p is None:
        raise EmulatorError(f"{what} is NULL: the C would write through it (segfault)")
    obj = getattr(p, "_obj", None)
    if obj is not None and ctypes.sizeof(obj) < ctypes.sizeof(ctype):
        raise EmulatorError(f"{what}: the C writes a {ctype.__name__} into a "
                            f"{type(obj).__name__} of {ctypes.sizeof(obj)} bytes")
    ctype.from_address(_host_address(p, what)).value = value


def _unary(op, x, a, b):
    """mc_unary of elementwise.cu on a float32 array."""
    if op == RELU:
        return np.where(x < 0, f32(0), x)
    if op == LEAKY_RELU:
        return np.where(x > 0, x, x * a)
    if op == SIGMOID:
        return _sigmoid(x)
    if op == TANH:
        return np.tanh(x)
    if op == SILU:
        return x * _sigmoid(x)
    if op == HARDSWISH:
        return x * np.clip(x + f32(3), f32(0), f32(6)) / f32(6)
    if op == GELU:
        return f32(0.5) * x * (f32(1) + _erf(x * _INV_SQRT_2))
    if op == GELU_TANH:
        return f32(0.5) * x * (f32(1) + np.tanh(_SQRT_2_OVER_PI * (x + f32(0.044715) * x * x * x)))
    if op == EXP:
        return np.exp(x)
    if op == LOG:
        return np.log(x)
    if op == SQRT:
        return np.sqrt(x)
    if op == ABS:
        return np.abs(x)
    if op == NEG:
        return -x
    if op == AFFINE:
        return a * x + b
    if op == POW:
        return np.power(x, a)
    if op == SIGN:
        return np.where(x > 0, f32(1), np.where(x < 0, f32(-1), f32(0)))
    return np.full_like(x, np.nan)  # the C's default case


def _unary_grad(op, g, s, a):
    """mc_unary_grad of elementwise.cu: g times op' from s (the output for relu, sigmoid, tanh,
    exp, sqrt; the input for the others)."""
    if op == RELU:
        return np.where(s <= 0, f32(0), g)
    if op == LEAKY_RELU:
        return np.where(s > 0, g, g * a)
    if op == SIGMOID:
        return g * s * (f32(1) - s)
    if op == TANH:
        return g * (f32(1) - s * s)
    if op == SILU:
        sg = _sigmoid(s)
        return g * sg * (f32(1) + s * (f32(1) - sg))
    if op == HARDSWISH:
        return np.where(s <= -3, f32(0), np.where(s >= 3, g, g * (s / f32(3) + f32(0.5))))
    if op == GELU:
        cdf = f32(0.5) * (f32(1) + _erf(s * _INV_SQRT_2))
        return g * (cdf + s * np.exp(f32(-0.5) * s * s) * _INV_SQRT_2PI)
    if op == GELU_TANH:
        t = np.tanh(_SQRT_2_OVER_PI * (s + f32(0.044715) * s * s * s))
        dinner = _SQRT_2_OVER_PI * (f32(1) + f32(3) * f32(0.044715) * s * s)
        return g * (f32(0.5) * (f32(1) + t) + f32(0.5) * s * (f32(1) - t * t) * dinner)
    if op == EXP:
        return g * s
    if op == LOG:
        return g / s
    if op == SQRT:
        return g / (f32(2) * s)
    if op == ABS:
        return np.where(s > 0, g, np.where(s < 0, -g, f32(0)))
    if op == NEG:
        return -g
    if op == AFFINE:
        return g * a
    if op == POW:
        return np.zeros_like(g) if a == 0 else g * a * np.power(s, a - f32(1))
    if op == SIGN:
        return np.zeros_like(g)
    return np.full_like(g, np.nan)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, f32(1) / (f32(1) + e), e / (f32(1) + e))


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(np.float32)


def _fmax_rows(x):
    """fmaxf over the last axis from -inf, as the kernels' loops (NaN is skipped)."""
    return np.fmax.reduce(x, axis=-1, initial=-np.inf).astype(np.float32)


class Emulator:
    """Stands in for the ctypes library of minicnn's CUDA module, on the CPU.

    One method per entry point of csrc/cuda/minicnn_cuda.h (every name of
    ``_lib.SIGNATURES``, plus ``mc_cuda_last_error()`` returning bytes and
    ``mc_cuda_use_cublas(use)``), taking what the Python wrappers pass: device pointers as ints
    (None for NULL), ``ctypes.byref`` out-parameters, ctypes arrays for host arrays. Each returns
    0 or a nonzero code with a message for mc_cuda_last_error, as the C does.

    ``cublas``: whether mc_cuda_cublas_available reports cuBLAS (its GEMMs then check their
    arguments as cuBLAS does); ``capacity``: bytes of device memory, beyond which mc_cuda_malloc
    fails with cudaErrorMemoryAllocation.
    """

    def __init__(self, cublas=True, capacity=1 << 30):
        self.cublas = bool(cublas)
        self.capacity = capacity
        self.calls = collections.Counter()
        self._message = b"no error"
        self._use_cublas = 1
        self._blocks = {}  # address -> uint8 buffer
        self._starts = []  # sorted addresses
        self.bytes_in_use = 0

    # ------------------------------------------------------------ device memory

    def owns(self, ptr):
        """True when ``ptr`` is the start of a live allocation of this emulator."""
        return ptr in self._blocks

    def _bytes(self, ptr, nbytes, what, error=ILLEGAL_ADDRESS):
        """The device bytes [ptr, ptr + nbytes) as a uint8 view; _Fail(error) unless they lie in
        one live allocation."""
        if not ptr:
            raise _Fail(error, f"{what} is NULL")
        if not isinstance(ptr, int):
            raise _Fail(error, f"{what} is a host object ({type(ptr).__name__}), not device memory")
        i = bisect.bisect_right(self._starts, ptr) - 1
        if i >= 0:
            start = self._starts[i]
            block = self._blocks[start]
            if ptr + nbytes <= start + block.size:
                return block[ptr - start:ptr - start + nbytes]
        raise _Fail(error, f"{what}: {nbytes} bytes at {ptr:#x} are outside device memory")

    def _array(self, ptr, shape, dtype, what):
        """A view of device memory at ``ptr`` as a C-contiguous array (nothing checked when it
        has no elements: the C reads nothing then)."""
        shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
        dtype = np.dtype(dtype)
        n = math.prod(shape)
        if n <= 0:
            return np.zeros(tuple(max(s, 0) for s in shape), dtype)
        return self._bytes(ptr, n * dtype.itemsize, what).view(dtype).reshape(shape)

    def _f32(self, ptr, shape, what):
        return self._array(ptr, shape, np.float32, what)

    def _optional(self, ptr, shape, what):
        return None if not ptr else self._f32(ptr, shape, what)

    def _strided(self, ptr, shape, strides, itemsize, what):
        """The strided view dst/src[index] = ptr[sum(index * strides)] (strides in elements of
        ``itemsize`` bytes, possibly 0 or negative), checked against device memory."""
        lo = sum(min(0, (s - 1) * st) for s, st in zip(shape, strides))
        hi = sum(max(0, (s - 1) * st) for s, st in zip(shape, strides))
        dtype = np.dtype(f"u{itemsize}")
        flat = self._bytes((ptr or 0) + lo * itemsize, (hi - lo + 1) * itemsize, what).view(dtype)
        return np.lib.stride_tricks.as_strided(flat[-lo:], shape, [st * itemsize for st in strides])

    def _memset(self, ptr, value, nbytes, what):
        if nbytes:
            ctypes.memset(self._bytes(ptr, nbytes, what, INVALID_VALUE).ctypes.data, value, nbytes)

    # ------------------------------------------------------------ runtime (runtime.cu)

    def mc_cuda_last_error(self):
        self.calls["mc_cuda_last_error"] += 1
        return self._message

    def mc_cuda_use_cublas(self, use):
        self.calls["mc_cuda_use_cublas"] += 1
        self._use_cublas = ctypes.c_int(use).value

    def _runtime_version(self, version):
        _store(version, ctypes.c_int, 13000, "version")

    def _device_count(self, count):
        _store(count, ctypes.c_int, 1, "count")

    def _device_name(self, device, name, length):
        if device != 0:
            raise _Fail(INVALID_DEVICE, "cudaGetDeviceProperties(&prop, device)")
        if length > 0:  # snprintf: at most length - 1 characters and a NUL
            text = b"minicnn CPU emulator (sm_90)"[:length - 1] + b"\0"
            ctypes.memmove(_host_address(name, "name"), text, len(text))

    def _device_capability(self, device, major, minor):
        _store(major, ctypes.c_int, 0, "major")
        _store(minor, ctypes.c_int, 0, "minor")
        if device != 0:
            raise _Fail(INVALID_DEVICE, "cudaDeviceGetAttribute(major, ..., device)")
        _store(major, ctypes.c_int, 9, "major")

    def _built_archs(self, archs, length):
        if length > 0:
            text = b"sm_90"[:length - 1] + b"\0"
            ctypes.memmove(_host_address(archs, "archs"), text, len(text))

    def _mem_info(self, free_bytes, total_bytes):
        _store(free_bytes, ctypes.c_size_t, self.capacity - self.bytes_in_use, "free_bytes")
        _store(total_bytes, ctypes.c_size_t, self.capacity, "total_bytes")

    def _synchronize(self):
        pass

    def _malloc(self, ptr, nbytes):
        _store(ptr, ctypes.c_void_p, None, "ptr")
        if nbytes == 0:
            return
        if self.bytes_in_use + nbytes > self.capacity:
            raise _Fail(MEMORY_ALLOCATION, f"cudaMalloc(ptr, {nbytes})")
        raw = np.empty(nbytes + 255, np.uint8)
        start = -raw.ctypes.data % 256
        block = raw[start:start + nbytes]
        block.fill(0xFF)
        address = block.ctypes.data
        self._blocks[address] = block
        bisect.insort(self._starts, address)
        self.bytes_in_use += nbytes
        _store(ptr, ctypes.c_void_p, address, "ptr")

    def _free(self, ptr):
        if not ptr:
            return  # cudaFree(NULL) succeeds
        if ptr not in self._blocks:
            raise _Fail(INVALID_VALUE, f"cudaFree({ptr:#x}): not an allocation")
        self.bytes_in_use -= self._blocks.pop(ptr).size
        self._starts.remove(ptr)

    def _memcpy_htod(self, dst, src, nbytes):
        if nbytes:
            d = self._bytes(dst, nbytes, "dst", INVALID_VALUE)
            ctypes.memmove(d.ctypes.data, self._host(src, "src"), nbytes)

    def _memcpy_dtoh(self, dst, src, nbytes):
        if nbytes:
            s = self._bytes(src, nbytes, "src", INVALID_VALUE)
            ctypes.memmove(self._host(dst, "dst"), s.ctypes.data, nbytes)

    def _memcpy_dtod(self, dst, src, nbytes):
        if nbytes:
            s = self._bytes(src, nbytes, "src", INVALID_VALUE)
            d = self._bytes(dst, nbytes, "dst", INVALID_VALUE)
            ctypes.memmove(d.ctypes.data, s.ctypes.data, nbytes)

    def _memset_entry(self, ptr, value, nbytes):
        self._memset(ptr, value & 0xFF, nbytes, "ptr")

    @staticmethod
    def _host(p, what):
        if p is None:
            raise _Fail(INVALID_VALUE, f"host pointer {what} is NULL")
        return _host_address(p, what)

    # ------------------------------------------------------------ elementwise (elementwise.cu)

    def _unary_entry(self, op, n, x, y, alpha, beta):
        if n <= 0:
            return
        xv = self._f32(x, n, "x")
        with np.errstate(all="ignore"):
            out = _unary(op, xv, f32(alpha), f32(beta))
        self._f32(y, n, "y")[...] = out

    def _unary_backward(self, op, n, g, saved, gx, alpha):
        if n <= 0:
            return
        gv, sv = self._f32(g, n, "g"), self._f32(saved, n, "saved")
        with np.errstate(all="ignore"):
            out = _unary_grad(op, gv, sv, f32(alpha))
        self._f32(gx, n, "gx")[...] = out

    def _binary(self, op, n, a, b, y):
        if n <= 0:
            return
        u, v = self._f32(a, n, "a"), self._f32(b, n, "b")
        with np.errstate(all="ignore"):
            out = u + v if op == ADD else u - v if op == SUB else u * v if op == MUL else u / v
        self._f32(y, n, "y")[...] = out

    def _binary_broadcast(self, op, ndim, shape, a_strides, a, b_strides, b, y):
        shape, sa, sb = self._layout("mc_cuda_binary_broadcast", ndim, shape, a_strides, b_strides)
        if math.prod(shape) == 0:
            return
        u = self._strided(a, shape, sa, 4, "a").view(np.float32)
        v = self._strided(b, shape, sb, 4, "b").view(np.float32)
        with np.errstate(all="ignore"):
            out = u + v if op == ADD else u - v if op == SUB else u * v if op == MUL else u / v
        self._f32(y, shape, "y")[...] = out

    def _fill(self, n, y, value):
        if n > 0:
            self._f32(y, n, "y")[...] = f32(value)

    def _bias_add(self, N, C, S, x, bias, y):
        _nonneg(N=N, C=C, S=S)
        if N * C * S == 0:
            return
        out = self._f32(x, (N, C, S), "x") + self._f32(bias, C, "bias")[None, :, None]
        self._f32(y, (N, C, S), "y")[...] = out

    def _sum_axis(self, outer, n, inner, x, y):
        _nonneg(outer=outer, n=n, inner=inner)
        if outer * inner == 0:
            return
        s = self._f32(x, (outer, n, inner), "x").sum(axis=1, dtype=np.float64)
        self._f32(y, (outer, inner), "y")[...] = s

    def _sum_keep_axis(self, A, B, C, x, y):
        _nonneg(A=A, B=B, C=C)
        if B == 0:
            return
        s = self._f32(x, (A, B, C), "x").sum(axis=(0, 2), dtype=np.float64)
        self._f32(y, B, "y")[...] = s

    def _softmax(self, log, outer, n, inner, x, y):
        _nonneg(outer=outer, n=n, inner=inner)
        if outer * n * inner == 0:
            return
        xv = self._f32(x, (outer, n, inner), "x")
        with np.errstate(all="ignore"):
            m = _fmax_rows(np.moveaxis(xv, 1, -1))[:, None, :]
            e = np.exp(xv - m)
            s = e.sum(axis=1, keepdims=True)
            out = xv - m - np.log(s) if log else e / s
        self._f32(y, (outer, n, inner), "y")[...] = out

    def _softmax_backward(self, log, outer, n, inner, g, y, gx):
        _nonneg(outer=outer, n=n, inner=inner)
        if outer * n * inner == 0:
            return
        gv, yv = self._f32(g, (outer, n, inner), "g"), self._f32(y, (outer, n, inner), "y")
        with np.errstate(all="ignore"):
            if log:
                out = gv - np.exp(yv) * gv.sum(axis=1, keepdims=True)
            else:
                out = yv * (gv - (gv * yv).sum(axis=1, keepdims=True))
        self._f32(gx, (outer, n, inner), "gx")[...] = out

    # ------------------------------------------------------------ copies (copy.cu)

    def _layout(self, fn, ndim, shape, a_strides, b_strides):
        """mc_make_layout of common.cuh: (shape, a_strides, b_strides) read from host int64
        arrays; _Fail for ndim out of [0, MC_MAX_DIMS]."""
        if ndim < 0 or ndim > MC_MAX_DIMS:
            raise _Fail(INVALID_VALUE, f"{fn}: ndim > MC_MAX_DIMS")

        def read(p, what):
            if not ndim:
                return []
            if p is None:
                raise EmulatorError(f"{fn}: {what} is NULL (the C reads it)")
            return list((ctypes.c_int64 * ndim).from_address(_host_address(p, what)))

        shape = read(shape, "shape")
        _nonneg(**{f"shape[{k}]": s for k, s in enumerate(shape)})
        return shape, read(a_strides, "a_strides"), read(b_strides, "b_strides")

    def _strided_copy(self, ndim, shape, src_strides, src_offset, src, dst_strides, dst_offset,
                      dst, itemsize):
        shape, ss, ds = self._layout("mc_cuda_strided_copy", ndim, shape, src_strides, dst_strides)
        if math.prod(shape) == 0:
            return
        if itemsize not in (1, 4, 8):
            raise _Fail(INVALID_VALUE, "mc_cuda_strided_copy: itemsize not 1, 4 or 8")
        s = self._strided((src or 0) + src_offset * itemsize, shape, ss, itemsize, "src")
        d = self._strided((dst or 0) + dst_offset * itemsize, shape, ds, itemsize, "dst")
        d[...] = s

    def _add_int64(self, n, x, value):
        if n > 0:
            with np.errstate(over="ignore"):  # wraps around, as in C
                self._array(x, n, np.int64, "x")[...] += np.int64(value)

    def _cast(self, n, src, src_type, dst, dst_type):
        if n <= 0:
            return
        if src_type not in DTYPES:
            raise _Fail(INVALID_VALUE, "mc_cuda_cast: unknown src_type")
        if dst_type not in DTYPES:
            raise _Fail(INVALID_VALUE, "mc_cuda_cast: unknown dst_type")
        s = self._array(src, n, DTYPES[src_type], "src")
        to = DTYPES[dst_type]
        if dst_type == 3:  # bool: value != 0 (NaN included)
            out = (s != 0).astype(np.uint8)
        elif to.kind == "i" and s.dtype.kind == "f":
            # float -> int64 on the GPU saturates, and NaN gives 0 (PTX cvt.rzi)
            big, small = s >= 2.0 ** 63, s < -2.0 ** 63
            with np.errstate(all="ignore"):
                out = np.where(np.isnan(s) | big | small, 0, s).astype(np.int64)
            out[big], out[small] = np.iinfo(np.int64).max, np.iinfo(np.int64).min
        else:
            out = s.astype(to)
        self._array(dst, n, to, "dst")[...] = out

    # ------------------------------------------------------------ GEMM (gemm.cu)

    def _cublas_available(self):
        return int(self.cublas)

    def _sgemm_entry(self, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc):
        if M == 0 or N == 0:
            return
        if self._use_cublas and self.cublas:
            # cublasSgemm_v2(handle, tb, ta, N, M, K, ..., B, ldb, A, lda, ..., C, ldc) checks
            # its arguments column-major: CUBLAS_STATUS_INVALID_VALUE = 7
            if (ta not in (0, 1, 2) or tb not in (0, 1, 2) or min(M, N, K) < 0
                    or ldb < max(1, K if tb else N) or lda < max(1, M if ta else K)
                    or ldc < max(1, N)):
                raise _Fail((MC_CUBLAS_ERROR, None, "cublasSgemm_v2 failed with cublasStatus_t 7"),
                            "gemm.cu, emulated")
        self._sgemm_tiled(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)

    def _sgemm_tiled(self, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc):
        if M == 0 or N == 0:
            return
        _nonneg(M=M, N=N)
        alpha, beta = f32(alpha), f32(beta)
        if K > 0:
            # op(A)[m, k] = ta ? A[k lda + m] : A[m lda + k]; op(B)[k, n] likewise with ldb
            a = (self._strided(A, (K, M), (lda, 1), 4, "A").T if ta
                 else self._strided(A, (M, K), (lda, 1), 4, "A")).view(np.float32)
            b = (self._strided(B, (N, K), (ldb, 1), 4, "B").T if tb
                 else self._strided(B, (K, N), (ldb, 1), 4, "B")).view(np.float32)
            acc = a @ b
        else:
            acc = np.zeros((M, N), np.float32)
        c = self._strided(C, (M, N), (ldc, 1), 4, "C").view(np.float32)
        with np.errstate(all="ignore"):  # beta == 0 does not read C (it may hold NaN)
            c[...] = alpha * acc if beta == 0 else alpha * acc + beta * c

    # ------------------------------------------------------------ convolution (conv.cu)

    def _im2col(self, x, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, cols):
        self._im2col_chunk(x, 0, 1, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, cols)

    def _col2im(self, cols, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, x):
        self._col2im_chunk(cols, 1, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, x, 0)

    def _conv_geometry(self, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw, groups):
        Ho, Wo = _out_size(H, kh, sh, ph, dh), _out_size(W, kw, sw, pw, dw)
        Cg, Kg = _cdiv(C, groups), _cdiv(K, groups)
        return Ho * Wo, Cg, Kg, Cg * kh * kw

    def _im2col_chunk(self, x, xs, nb, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, cols):
        """Columns of nb images (image n at x + n xs) side by side: (C kh kw, nb Ho Wo)."""
        Ho, Wo = _out_size(H, kh, sh, ph, dh), _out_size(W, kw, sw, pw, dw)
        if C * nb * Ho * Wo <= 0:
            return
        out = np.zeros((C, kh, kw, nb, Ho, Wo), np.float32)  # the padding reads 0
        for n in range(nb):
            xv = self._f32(_at(x, n * xs), (C, H, W), "x")
            for i, j, (oh, ow), (h, w) in _taps(kh, kw, sh, sw, ph, pw, dh, dw, H, W, Ho, Wo):
                out[:, i, j, n, oh, ow] = xv[:, h, w]
        self._f32(cols, out.size, "cols")[...] = out.reshape(-1)

    def _col2im_chunk(self, cols, nb, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, x, xs):
        Ho, Wo = _out_size(H, kh, sh, ph, dh), _out_size(W, kw, sw, pw, dw)
        if C * nb * H * W <= 0:
            return
        cv = self._f32(cols, (C, kh, kw, nb, Ho, Wo), "cols") if Ho > 0 and Wo > 0 else None
        for n in range(nb):
            out = np.zeros((C, H, W), np.float32)
            if cv is not None:  # each pixel adds its taps in (i, j) order, as the kernel
                for i, j, (oh, ow), (h, w) in _taps(kh, kw, sh, sw, ph, pw, dh, dw, H, W, Ho, Wo):
                    out[:, h, w] += cv[:, i, j, n, oh, ow]
            self._f32(_at(x, n * xs), out.shape, "x")[...] = out

    def _chunk_transpose(self, to_gemm, y, t, nb, Kg, K, P):
        """Between (nb, Kg, P) at image stride K P (y) and the GEMM's (Kg, nb P) (t)."""
        ys = self._strided(y, (nb, Kg, P), (K * P, P, 1), 4, "y")
        ts = self._strided(t, (nb, Kg, P), (P, nb * P, 1), 4, "t")
        if to_gemm:
            ts[...] = ys
        else:
            ys[...] = ts

    def _conv_chunks(self, N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw, groups, nb, work):
        """(P, Cg, Kg, R, xs) and the chunks (n0, m, cols, t) of conv.cu's three passes."""
        P, Cg, Kg, R = self._conv_geometry(C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw, groups)
        if nb < 1:
            raise _Fail(INVALID_VALUE, "conv2d: nb < 1")
        chunks = [(n0, min(nb, N - n0)) for n0 in range(0, N, nb)]
        return (P, Cg, Kg, R, C * H * W), [(n0, m, work, _at(work, R * m * P))
                                           for n0, m in chunks]

    def _conv2d(self, x, w, bias, y, work, N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw, groups,
                nb):
        (P, Cg, Kg, R, xs), chunks = self._conv_chunks(N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh,
                                                       dw, groups, nb, work)
        for n0, m, cols, t in chunks:
            for g in range(groups):
                self._im2col_chunk(_at(x, n0 * xs + g * Cg * H * W), xs, m, Cg, H, W, kh, kw, sh,
                                   sw, ph, pw, dh, dw, cols)
                self._sgemm_entry(0, 0, Kg, m * P, R, 1.0, _at(w, g * Kg * R), R, cols, m * P,
                                  0.0, t, m * P)
                self._chunk_transpose(0, _at(y, (n0 * K + g * Kg) * P), t, m, Kg, K, P)
        if bias:
            self._bias_add(N, K, P, y, bias, y)

    def _conv2d_backward_input(self, gy, w, gx, work, N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh,
                               dw, groups, nb):
        (P, Cg, Kg, R, xs), chunks = self._conv_chunks(N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh,
                                                       dw, groups, nb, work)
        for n0, m, cols, t in chunks:
            for g in range(groups):
                self._chunk_transpose(1, _at(gy, (n0 * K + g * Kg) * P), t, m, Kg, K, P)
                self._sgemm_entry(1, 0, R, m * P, Kg, 1.0, _at(w, g * Kg * R), R, t, m * P, 0.0,
                                  cols, m * P)
                self._col2im_chunk(cols, m, Cg, H, W, kh, kw, sh, sw, ph, pw, dh, dw,
                                   _at(gx, n0 * xs + g * Cg * H * W), xs)

    def _conv2d_backward_weight(self, gy, x, gw, work, N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh,
                                dw, groups, nb):
        (P, Cg, Kg, R, xs), chunks = self._conv_chunks(N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh,
                                                       dw, groups, nb, work)
        for n0, m, cols, t in chunks:
            for g in range(groups):
                self._chunk_transpose(1, _at(gy, (n0 * K + g * Kg) * P), t, m, Kg, K, P)
                self._im2col_chunk(_at(x, n0 * xs + g * Cg * H * W), xs, m, Cg, H, W, kh, kw, sh,
                                   sw, ph, pw, dh, dw, cols)
                # the first chunk writes (beta 0), the others accumulate
                self._sgemm_entry(0, 1, Kg, R, m * P, 1.0, t, m * P, cols, m * P,
                                  0.0 if n0 == 0 else 1.0, _at(gw, g * Kg * R), R)
        if N == 0:
            self._memset(gw, 0, 4 * K * R, "gw")

    def _depthwise_planes(self, x, N, C, H, W, K):
        """x (N, C, H, W) gathered per output channel: plane (n, k) is x[n, k / (K / C)]."""
        m = _cdiv(K, C) if C else 0
        if m == 0:
            raise EmulatorError(f"depthwise: K / C = 0 (K={K}, C={C}): the kernel divides by it")
        plane = np.arange(N)[:, None] * C + np.arange(K)[None, :] // m
        return self._f32(x, (int(plane.max()) + 1, H, W), "x")[plane], m

    def _depthwise_conv2d(self, x, w, bias, y, N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw):
        Ho, Wo = _out_size(H, kh, sh, ph, dh), _out_size(W, kw, sw, pw, dw)
        if N * K * Ho * Wo <= 0:
            return
        _nonneg(N=N, K=K, Ho=Ho, Wo=Wo, H=H, W=W, kh=kh, kw=kw)
        xs, _ = self._depthwise_planes(x, N, C, H, W, K)
        wv = self._f32(w, (K, kh, kw), "w")
        b = self._optional(bias, K, "bias")
        s = np.zeros((N, K, Ho, Wo), np.float32)
        if b is not None:  # the sum starts from the bias
            s[...] = b[None, :, None, None]
        # taps in (i, j) order, those in the padding skipped, as the kernel
        for i, j, (oh, ow), (h, w) in _taps(kh, kw, sh, sw, ph, pw, dh, dw, H, W, Ho, Wo):
            s[:, :, oh, ow] += wv[None, :, i, j, None, None] * xs[:, :, h, w]
        self._f32(y, s.shape, "y")[...] = s

    def _depthwise_conv2d_backward_input(self, gy, w, gx, N, C, H, W, K, kh, kw, sh, sw, ph, pw,
                                         dh, dw):
        Ho, Wo = _out_size(H, kh, sh, ph, dh), _out_size(W, kw, sw, pw, dw)
        if N * C * H * W <= 0:
            return
        _nonneg(N=N, C=C, H=H, W=W, K=K, kh=kh, kw=kw)
        m = _cdiv(K, C)
        out = np.zeros((N, C, H, W), np.float32)
        if Ho > 0 and Wo > 0 and m > 0:
            gv = self._f32(gy, (N, K, Ho, Wo), "gy")
            wv = self._f32(w, (K, kh, kw), "w")
            for r in range(m):  # input channel c gathers output channels c m .. c m + m - 1
                k = np.arange(C) * m + r
                for i, j, (oh, ow), (h, w) in _taps(kh, kw, sh, sw, ph, pw, dh, dw, H, W, Ho, Wo):
                    out[:, :, h, w] += wv[k, i, j][None, :, None, None] * gv[:, k, oh, ow]
        self._f32(gx, out.shape, "gx")[...] = out

    def _depthwise_conv2d_backward_weight(self, gy, x, gw, N, C, H, W, K, kh, kw, sh, sw, ph, pw,
                                          dh, dw):
        Ho, Wo = _out_size(H, kh, sh, ph, dh), _out_size(W, kw, sw, pw, dw)
        if K * kh * kw == 0:
            return
        _nonneg(N=N, K=K, H=H, W=W, kh=kh, kw=kw)
        out = np.zeros((K, kh, kw))  # one sum in double per weight (k, i, j)
        if N * Ho * Wo > 0:
            xs, _ = self._depthwise_planes(x, N, C, H, W, K)
            gv = self._f32(gy, (N, K, Ho, Wo), "gy").astype(np.float64)
            for i, j, (oh, ow), (h, w) in _taps(kh, kw, sh, sw, ph, pw, dh, dw, H, W, Ho, Wo):
                out[:, i, j] = (gv[:, :, oh, ow] * xs[:, :, h, w]).sum(axis=(0, 2, 3))
        elif N * Ho * Wo < 0:
            raise EmulatorError(f"N * Ho * Wo = {N * Ho * Wo} is negative")
        self._f32(gw, out.shape, "gw")[...] = out

    # ------------------------------------------------------------ pooling (pool.cu)

    @staticmethod
    def _windows(out, n, k, s, p, adaptive):
        """Per output along one axis: the window [start, end) clipped to [0, n), and the length
        of the window clipped to the padded input (count_include_pad's factor)."""
        o = np.arange(out)
        if adaptive:
            start, end = (o * n) // out, ((o + 1) * n + out - 1) // out
            return start, end, end - start
        start = o * s - p
        end = np.minimum(start + k, n + p)
        return np.maximum(start, 0), np.minimum(end, n), end - start

    @staticmethod
    def _pool_check(P, H, W, Ho, Wo):
        """False when there is no output (the C returns at once)."""
        _nonneg(P=P, H=H, W=W, Ho=Ho, Wo=Wo)
        return P * Ho * Wo > 0

    def _max_pool2d(self, x, y, indices, P, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw,
                    adaptive):
        if not self._pool_check(P, H, W, Ho, Wo):
            return
        xv = self._f32(x, (P, H, W), "x")
        best = np.full((P, Ho, Wo), -np.inf, np.float32)
        idx = np.full((P, Ho, Wo), -1, np.int64)

        def visit(v, pos, b, ix):  # one window element, for every window at once (in place)
            ix[...] = np.where(ix < 0, pos, ix)  # the first in-range position
            take = (v > b) | np.isnan(v)  # a NaN always wins
            b[...] = np.where(take, v, b)
            ix[...] = np.where(take, pos, ix)

        if adaptive:
            rs, re, _ = self._windows(Ho, H, 0, 0, 0, True)
            cs, ce, _ = self._windows(Wo, W, 0, 0, 0, True)
            for oh in range(Ho):
                for ow in range(Wo):
                    for h in range(rs[oh], re[oh]):
                        for w in range(cs[ow], ce[ow]):
                            visit(xv[:, h, w], h * W + w, best[:, oh, ow], idx[:, oh, ow])
        else:
            flat = np.arange(H * W).reshape(H, W)
            for _, _, (oh, ow), (h, w) in _taps(kh, kw, sh, sw, ph, pw, dh, dw, H, W, Ho, Wo):
                visit(xv[:, h, w], flat[h, w], best[:, oh, ow], idx[:, oh, ow])
        self._f32(y, best.shape, "y")[...] = best
        if indices:
            self._array(indices, idx.shape, np.int64, "indices")[...] = idx

    def _max_pool2d_backward(self, gy, indices, gx, P, H, W, Ho, Wo):
        has_output = self._pool_check(P, H, W, Ho, Wo)
        self._memset(gx, 0, 4 * P * H * W, "gx")  # zeroed first in any case
        if not has_output:
            return
        gv = self._f32(gy, (P, Ho * Wo), "gy")
        iv = self._array(indices, (P, Ho * Wo), np.int64, "indices")
        ok = (iv >= 0) & (iv < H * W)
        out = self._f32(gx, (P, H * W), "gx")
        np.add.at(out, (np.broadcast_to(np.arange(P)[:, None], iv.shape)[ok], iv[ok]), gv[ok])

    def _avg_pool(self, x, gy, out, P, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, count_include_pad,
                  divisor_override, adaptive):
        """avg_pool_kernel: the forward (gy None: out = y) or the backward (out = gx)."""
        rs, re, hp = self._windows(Ho, H, kh, sh, ph, adaptive)
        cs, ce, wp = self._windows(Wo, W, kw, sw, pw, adaptive)
        if adaptive or not (divisor_override or count_include_pad):
            div = ((re - rs)[:, None] * (ce - cs)[None, :]).astype(np.float32)
        elif divisor_override:
            div = np.full((Ho, Wo), divisor_override, np.float32)
        else:
            div = (hp[:, None] * wp[None, :]).astype(np.float32)
        empty = (re <= rs)[:, None] | (ce <= cs)[None, :]
        if gy is None:
            xv = self._f32(x, (P, H, W), "x")
            y = np.zeros((P, Ho, Wo), np.float32)
        else:
            gv = self._f32(gy, (P, Ho, Wo), "gy")
            gx = self._f32(out, (P, H, W), "gx")
        with np.errstate(all="ignore"):
            for oh in range(Ho):
                for ow in range(Wo):
                    if empty[oh, ow]:
                        continue
                    win = (slice(None), slice(rs[oh], re[oh]), slice(cs[ow], ce[ow]))
                    if gy is None:
                        y[:, oh, ow] = xv[win].sum(axis=(1, 2), dtype=np.float32) / div[oh, ow]
                    else:
                        gx[win] += (gv[:, oh, ow] / div[oh, ow])[:, None, None]
        if gy is None:
            self._f32(out, y.shape, "y")[...] = y

    def _avg_pool2d(self, x, y, P, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, count_include_pad,
                    divisor_override, adaptive):
        if self._pool_check(P, H, W, Ho, Wo):
            self._avg_pool(x, None, y, P, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, count_include_pad,
                           divisor_override, adaptive)

    def _avg_pool2d_backward(self, gy, gx, P, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw,
                             count_include_pad, divisor_override, adaptive):
        has_output = self._pool_check(P, H, W, Ho, Wo)
        self._memset(gx, 0, 4 * P * H * W, "gx")  # zeroed first in any case
        if has_output:
            self._avg_pool(None, gy, gx, P, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw,
                           count_include_pad, divisor_override, adaptive)

    # ------------------------------------------------------------ batch norm (norm.cu)

    def _bn_affine(self, weight, bias, C):
        w, b = self._optional(weight, C, "weight"), self._optional(bias, C, "bias")
        return (1.0 if w is None else w[:, None].astype(np.float64),
                0.0 if b is None else b[:, None].astype(np.float64))

    def _batch_norm_forward_train(self, x, weight, bias, y, mean, var, invstd, N, C, S, eps):
        _nonneg(N=N, C=C, S=S)
        if C == 0:
            return
        M = N * S
        xv = self._f32(x, (N, C, S), "x").transpose(1, 0, 2).reshape(C, M).astype(np.float64)
        mu = xv.mean(axis=1) if M else np.zeros(C)
        v = ((xv - mu[:, None]) ** 2).mean(axis=1) if M else np.zeros(C)
        m32, inv32 = mu.astype(np.float32), (1.0 / np.sqrt(v + eps)).astype(np.float32)
        self._f32(mean, C, "mean")[...] = m32
        self._f32(var, C, "var")[...] = v
        self._f32(invstd, C, "invstd")[...] = inv32
        if M == 0:
            return
        w, b = self._bn_affine(weight, bias, C)  # the apply kernel reads the float statistics
        out = (xv - m32[:, None]) * inv32[:, None].astype(np.float64) * w + b
        self._f32(y, (N, C, S), "y")[...] = out.reshape(C, N, S).transpose(1, 0, 2)

    def _batch_norm_forward_eval(self, x, running_mean, running_var, weight, bias, y, N, C, S,
                                 eps):
        _nonneg(N=N, C=C, S=S)
        if N * C * S == 0:
            return
        xv = self._f32(x, (N, C, S), "x").astype(np.float64)
        mu = self._f32(running_mean, C, "running_mean").astype(np.float64)[:, None]
        inv = 1.0 / np.sqrt(self._f32(running_var, C, "running_var").astype(np.float64) + eps)
        w, b = self._bn_affine(weight, bias, C)
        self._f32(y, (N, C, S), "y")[...] = (xv - mu) * inv[:, None] * w + b

    def _batch_norm_backward(self, gy, x, mean, invstd, weight, gx, gw, gb, work, N, C, S, train):
        _nonneg(N=N, C=C, S=S)
        if C == 0:
            return
        M = N * S
        g = self._f32(gy, (N, C, S), "gy").astype(np.float64)
        xv = self._f32(x, (N, C, S), "x").astype(np.float64)
        mu = self._f32(mean, C, "mean").astype(np.float64)[:, None]
        inv = self._f32(invstd, C, "invstd").astype(np.float64)[:, None]
        xhat = (xv - mu) * inv
        sums = self._array(work, (C, 2), np.float64, "work")
        sums[:, 0], sums[:, 1] = g.sum(axis=(0, 2)), (g * xhat).sum(axis=(0, 2))
        if gx and M > 0:
            w, _ = self._bn_affine(weight, None, C)
            k = inv * w
            if train:
                out = k / M * (M * g - sums[:, 0, None] - xhat * sums[:, 1, None])
            else:
                out = k * g
            self._f32(gx, (N, C, S), "gx")[...] = out
        if gw:
            self._f32(gw, C, "gw")[...] = sums[:, 1]
        if gb:
            self._f32(gb, C, "gb")[...] = sums[:, 0]

    # ------------------------------------------------------------ losses (loss.cu)

    def _rows(self, x, N, C, S, what):
        """x (N, C, S) as rows (N S, C): row r = (n, s) holds the C classes."""
        return self._f32(x, (N, C, S), what).transpose(0, 2, 1).reshape(N * S, C)

    def _targets(self, target, sums, R, C, ignore_index):
        """(target, ok mask); bad targets counted into sums[2], one of them in sums[3]."""
        t = self._array(target, R, np.int64, "target")
        valid = t != ignore_index
        bad = valid & ((t < 0) | (t >= C))
        if sums is not None and bad.any():
            s = self._array(sums, 4, np.float64, "sums")
            s[2] += bad.sum()
            s[3] = t[bad][0]
        return t, valid & ~bad

    def _class_weight(self, weight, C, t):
        """(w_c per class (C,), w_t per row) in float32, 1 without weights."""
        w = self._optional(weight, C, "weight")
        w = np.ones(C, np.float32) if w is None else w
        return w, w[t]

    def _cross_entropy(self, x, target, weight, loss, stats, sums, N, C, S, ignore_index,
                       label_smoothing):
        _nonneg(N=N, C=C, S=S)
        R = N * S
        if R == 0:
            return
        t, ok = self._targets(target, sums, R, C, ignore_index)
        lv, sv = self._f32(loss, R, "loss"), self._f32(stats, (2, R), "stats")
        eps = f32(label_smoothing)
        lv[~ok], sv[:, ~ok] = 0, 0
        if not ok.any():
            return
        xr = self._rows(x, N, C, S, "x")[ok]
        w, w_t = self._class_weight(weight, C, t[ok])
        with np.errstate(all="ignore"):
            m = _fmax_rows(xr)
            L = np.log(np.exp(xr - m[:, None]).sum(axis=1))
            nlogp = L[:, None] - (xr - m[:, None])
            ll = w_t * np.take_along_axis(nlogp, t[ok][:, None], axis=1)[:, 0]
            if eps > 0:
                ll = (f32(1) - eps) * ll + eps / f32(C) * (w * nlogp).sum(axis=1)
        lv[ok], sv[0, ok], sv[1, ok] = ll, m, L
        s = self._array(sums, 4, np.float64, "sums")
        s[0] += ll.sum(dtype=np.float64)
        s[1] += w_t.sum(dtype=np.float64)

    def _upstream(self, g, g_scalar, R, ok, scale):
        gv = self._f32(g, 1 if g_scalar else R, "g")
        return (np.broadcast_to(gv[0], (R,)) if g_scalar else gv)[ok] * f32(scale)

    def _cross_entropy_backward(self, g, g_scalar, x, target, weight, stats, gx, N, C, S,
                                ignore_index, label_smoothing, scale):
        _nonneg(N=N, C=C, S=S)
        R = N * S
        if R == 0:
            return
        t, ok = self._targets(target, None, R, C, ignore_index)
        out = np.zeros((R, C), np.float32)
        if ok.any():
            eps = f32(label_smoothing)
            gr = self._upstream(g, g_scalar, R, ok, scale)
            w, w_t = self._class_weight(weight, C, t[ok])
            W = w.sum(dtype=np.float32) if weight and eps > 0 else f32(C)
            a = gr * ((f32(1) - eps) * w_t + eps / f32(C) * W)
            b = gr * (eps / f32(C))
            sv = self._f32(stats, (2, R), "stats")
            xr = self._rows(x, N, C, S, "x")[ok]
            with np.errstate(all="ignore"):
                v = a[:, None] * np.exp(xr - sv[0, ok, None] - sv[1, ok, None]) - b[:, None] * w
                v[np.arange(len(v)), t[ok]] -= (f32(1) - eps) * gr * w_t
            out[ok] = v
        self._f32(gx, (N, C, S), "gx")[...] = out.reshape(N, S, C).transpose(0, 2, 1)

    def _nll_loss(self, x, target, weight, loss, sums, N, C, S, ignore_index):
        _nonneg(N=N, C=C, S=S)
        R = N * S
        if R == 0:
            return
        t, ok = self._targets(target, sums, R, C, ignore_index)
        lv = self._f32(loss, R, "loss")
        lv[~ok] = 0
        if not ok.any():
            return
        _, w_t = self._class_weight(weight, C, t[ok])
        ll = -w_t * self._rows(x, N, C, S, "x")[ok, t[ok]]
        lv[ok] = ll
        s = self._array(sums, 4, np.float64, "sums")
        s[0] += ll.sum(dtype=np.float64)
        s[1] += w_t.sum(dtype=np.float64)

    def _nll_loss_backward(self, g, g_scalar, target, weight, gx, N, C, S, ignore_index, scale):
        _nonneg(N=N, C=C, S=S)
        R = N * S
        if R == 0:
            return
        t, ok = self._targets(target, None, R, C, ignore_index)
        out = np.zeros((R, C), np.float32)
        if ok.any():
            _, w_t = self._class_weight(weight, C, t[ok])
            out[np.flatnonzero(ok), t[ok]] = -self._upstream(g, g_scalar, R, ok, scale) * w_t
        self._f32(gx, (N, C, S), "gx")[...] = out.reshape(N, S, C).transpose(0, 2, 1)

    # ------------------------------------------------------------ optimizers (optim.cu)

    def _sgd_step(self, n, param, grad, buf, lr, momentum, dampening, weight_decay, nesterov,
                  first_step, maximize):
        if n <= 0:
            return
        p = self._f32(param, n, "param")
        g = self._f32(grad, n, "grad")
        g = -g if maximize else g.copy()
        if weight_decay != 0:
            g += f32(weight_decay) * p
        if momentum != 0:
            bv = self._f32(buf, n, "buf")
            b = g if first_step else f32(momentum) * bv + (f32(1) - f32(dampening)) * g
            bv[...] = b
            g = g + f32(momentum) * b if nesterov else b
        p -= f32(lr) * g

    def _adam_step(self, n, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2,
                   eps, weight_decay, decoupled, step, maximize):
        if n <= 0:
            return
        # bias corrections in double on the host, once per tensor
        step_size = f32(lr / (1.0 - beta1 ** step))
        bc2_sqrt = f32(math.sqrt(1.0 - beta2 ** step))
        lr, b1, b2, eps, wd = (f32(v) for v in (lr, beta1, beta2, eps, weight_decay))
        p = self._f32(param, n, "param")
        g = self._f32(grad, n, "grad")
        g = -g if maximize else g.copy()
        m, v = self._f32(exp_avg, n, "exp_avg"), self._f32(exp_avg_sq, n, "exp_avg_sq")
        x = p.copy()
        if wd != 0:
            if decoupled:
                x *= f32(1) - lr * wd
            else:
                g += wd * x
        mi = b1 * m + (f32(1) - b1) * g
        vi = b2 * v + (f32(1) - b2) * g * g
        m[...], v[...] = mi, vi
        if max_exp_avg_sq:
            vmax = self._f32(max_exp_avg_sq, n, "max_exp_avg_sq")
            vmax[...] = vi = np.fmax(vmax, vi)
        p[...] = x - step_size * mi / (np.sqrt(vi) / bc2_sqrt + eps)


def _at(ptr, floats):
    """C's ``ptr + floats`` on a float pointer (NULL + k is a bad address, as in C)."""
    return (ptr or 0) + 4 * floats


def _entry(name, impl, argtypes):
    """The public entry point ``name``: converts the arguments as ctypes would for ``argtypes``,
    counts the call, runs ``impl`` and turns a _Fail into its code and message."""

    def entry(self, *args):
        if len(args) != len(argtypes):
            raise TypeError(f"{name} takes {len(argtypes)} arguments ({len(args)} given)")
        converted = []
        for i, (arg, ctype) in enumerate(zip(args, argtypes), 1):
            try:
                ctype.from_param(arg)
            except (TypeError, ValueError, OverflowError) as exc:
                raise ctypes.ArgumentError(f"argument {i}: {type(exc).__name__}: {exc}") from None
            converted.append(arg if ctype is _P else ctype(arg).value)
        self.calls[name] += 1
        try:
            result = impl(self, *converted)
        except _Fail as fail:
            self._message = str(fail).encode()
            return fail.code
        return 0 if result is None else result

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = f"{name} of minicnn_cuda.h, emulated by :meth:`Emulator.{impl.__name__}`."
    return entry


def _unimplemented(name):
    def entry(self, *args):
        raise NotImplementedError(f"{name} (in _lib.SIGNATURES) has no emulation in "
                                  "tests/cuda_emulator.py yet")
    entry.__name__ = name
    entry.unimplemented = True
    return entry


for _name, _argtypes in _lib.SIGNATURES.items():
    _short = "_" + _name[len("mc_cuda_"):]
    _impl = getattr(Emulator, _short + "_entry", None) or getattr(Emulator, _short, None)
    setattr(Emulator, _name, _unimplemented(_name) if _impl is None
            else _entry(_name, _impl, _argtypes))


@contextlib.contextmanager
def installed(emulator=None):
    """Put ``emulator`` (a new :class:`Emulator` by default) in place of the CUDA library, and
    a fresh caching allocator in place of ``minicnn.backends.cuda.memory.allocator``; yields the
    emulator. ``minicnn.cuda.is_available()`` is True inside, with one device.

    On exit, device arrays still alive (held by the caller or by a traceback, after a
    gc.collect()) are detached from their blocks, the cache is emptied through the emulator, and
    the previous library and allocator come back: no emulated pointer can ever reach a real
    session. Blocks of a previous session freed inside go back to that session's cache.
    """
    emu = Emulator() if emulator is None else emulator
    saved_state, saved_allocator = _lib._state, memory.allocator
    _lib._state = (emu, None, 1)
    memory.allocator = ours = memory.CachingAllocator()
    try:
        yield emu
    finally:
        try:
            for size, ptrs in ours._free.items():  # freed here, allocated by the real library
                for p in [p for p in ptrs if not emu.owns(p)]:
                    ptrs.remove(p)
                    saved_allocator._free[size].append(p)
                    saved_allocator.allocated -= size
                    ours.allocated += size
            if ours.allocated:  # arrays still alive, or only waiting for the cycle collector
                gc.collect()
            if ours.allocated:  # live emulated arrays: their blocks must never be released
                for obj in gc.get_objects():
                    if type(obj) is memory._Block and obj.ptr is not None and emu.owns(obj.ptr):
                        obj.ptr = None
            ours.empty_cache()
        finally:
            _lib._state, memory.allocator = saved_state, saved_allocator
