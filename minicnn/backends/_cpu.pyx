# cython: language_level=3
"""minicnn's C kernels (csrc/cpu), bound with Cython.

Each function here has a NumPy twin of the same name and signature in
:mod:`minicnn.backends.reference`; the docstrings there give the math. The wrappers are thin:
they validate (ndarray, float32 or float64, C-contiguous, matching shapes and dtypes), allocate the
output, and call the C kernel with the GIL released. The C code never sees an invalid size.

Errors: ``TypeError`` for a non-ndarray, an array not in native byte order, a dtype other than
float32/float64 or mismatched dtypes;
``ValueError`` for a non-contiguous array or a wrong shape. Each names the argument.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int64_t

from ..geometry import integer, output_size, pair
from .reference.pool import check_pool_args

cnp.import_array()

cdef extern from "minicnn.h" nogil:
    # the sizes of a convolution or pooling window (minicnn.h)
    ctypedef struct mc_geometry:
        int64_t N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw, groups, Ho, Wo

    int mc_openmp_enabled()
    void mc_set_num_threads(int n)
    int mc_get_num_threads()
    void mc_calibrate_parallel()
    int64_t mc_parallel_min()
    int64_t mc_parallel_min_macs()
    double mc_team_wake_us()

    void mc_relu_f32(const float *x, float *y, int64_t n)
    void mc_relu_f64(const double *x, double *y, int64_t n)
    void mc_relu_backward_f32(const float *gy, const float *y, float *gx, int64_t n)
    void mc_relu_backward_f64(const double *gy, const double *y, double *gx, int64_t n)
    void mc_leaky_relu_f32(const float *x, float *y, int64_t n, float slope)
    void mc_leaky_relu_f64(const double *x, double *y, int64_t n, double slope)
    void mc_leaky_relu_backward_f32(const float *gy, const float *x, float *gx, int64_t n,
                                    float slope)
    void mc_leaky_relu_backward_f64(const double *gy, const double *x, double *gx, int64_t n,
                                    double slope)
    void mc_sigmoid_f32(const float *x, float *y, int64_t n)
    void mc_sigmoid_f64(const double *x, double *y, int64_t n)
    void mc_sigmoid_backward_f32(const float *gy, const float *y, float *gx, int64_t n)
    void mc_sigmoid_backward_f64(const double *gy, const double *y, double *gx, int64_t n)
    void mc_tanh_f32(const float *x, float *y, int64_t n)
    void mc_tanh_f64(const double *x, double *y, int64_t n)
    void mc_tanh_backward_f32(const float *gy, const float *y, float *gx, int64_t n)
    void mc_tanh_backward_f64(const double *gy, const double *y, double *gx, int64_t n)
    void mc_silu_f32(const float *x, float *y, int64_t n)
    void mc_silu_f64(const double *x, double *y, int64_t n)
    void mc_silu_backward_f32(const float *gy, const float *x, float *gx, int64_t n)
    void mc_silu_backward_f64(const double *gy, const double *x, double *gx, int64_t n)
    void mc_hardswish_f32(const float *x, float *y, int64_t n)
    void mc_hardswish_f64(const double *x, double *y, int64_t n)
    void mc_hardswish_backward_f32(const float *gy, const float *x, float *gx, int64_t n)
    void mc_hardswish_backward_f64(const double *gy, const double *x, double *gx, int64_t n)
    void mc_gelu_f32(const float *x, float *y, int64_t n, int tanh_approx)
    void mc_gelu_f64(const double *x, double *y, int64_t n, int tanh_approx)
    void mc_gelu_backward_f32(const float *gy, const float *x, float *gx, int64_t n,
                              int tanh_approx)
    void mc_gelu_backward_f64(const double *gy, const double *x, double *gx, int64_t n,
                              int tanh_approx)
    void mc_bias_add_f32(const float *x, const float *b, float *y, int64_t N, int64_t C, int64_t S)
    void mc_bias_add_f64(const double *x, const double *b, double *y, int64_t N, int64_t C,
                         int64_t S)
    void mc_bias_add_backward_f32(const float *gy, float *gb, int64_t N, int64_t C, int64_t S)
    void mc_bias_add_backward_f64(const double *gy, double *gb, int64_t N, int64_t C, int64_t S)
    void mc_bias_act_f32(float *y, const float *b, int64_t N, int64_t C, int64_t S, int act)
    void mc_bias_act_f64(double *y, const double *b, int64_t N, int64_t C, int64_t S, int act)


# ---------------------------------------------------------------- threads

def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(mc_openmp_enabled())


def set_num_threads(int n):
    """Number of OpenMP threads every kernel uses (n >= 1)."""
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    mc_set_num_threads(n)


def get_num_threads():
    """Number of OpenMP threads the kernels use (OMP_NUM_THREADS or all cores by default)."""
    return mc_get_num_threads()


def parallel_min():
    """Elements below which a memory-bound kernel runs on the calling thread (minicnn.h)."""
    return mc_parallel_min()


def parallel_min_macs():
    """Multiply-adds below which a GEMM or convolution runs on the calling thread (minicnn.h)."""
    return mc_parallel_min_macs()


def team_wake_us():
    """Measured microseconds to start the thread team from idle (0 with one thread)."""
    return mc_team_wake_us()


mc_calibrate_parallel()  # the team as OpenMP starts it, before any kernel runs


# ---------------------------------------------------------------- validation

cdef cnp.ndarray _array(str fn, str name, object a):
    """``a`` when it is an ndarray in native byte order: the kernels read its raw memory, and a
    '>f4' array has the dtype number of float32 but its bytes swapped. TypeError otherwise."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    cdef cnp.ndarray arr = a
    if not cnp.PyArray_ISNOTSWAPPED(arr):
        raise TypeError(f"{fn}: {name} has dtype {a.dtype.str}, not in the machine's byte order; "
                        f"convert it with {name}.astype({name}.dtype.newbyteorder('='))")
    return arr


cdef bint _is_f64(str fn, str name, object a) except -1:
    """Check that ``a`` is a C-contiguous float32/float64 ndarray in native byte order; return
    True for float64."""
    cdef cnp.ndarray arr = _array(fn, name, a)
    cdef int t = cnp.PyArray_TYPE(arr)
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        raise TypeError(f"{fn}: {name} must have dtype float32 or float64, got {arr.dtype}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        raise ValueError(f"{fn}: {name} must be C-contiguous (shape {a.shape}); "
                         "call numpy.ascontiguousarray first")
    return t == cnp.NPY_FLOAT64


cdef bint _check_like(str fn, str name, object a, str ref_name, object ref) except -1:
    """Validate ``a`` and require the same shape and dtype as the already-validated ``ref``."""
    cdef bint f64 = _is_f64(fn, name, a)
    if a.dtype != ref.dtype:
        raise TypeError(f"{fn}: {name} has dtype {a.dtype} but {ref_name} has dtype {ref.dtype}")
    if a.shape != ref.shape:
        raise ValueError(f"{fn}: {name} has shape {a.shape} but {ref_name} has shape {ref.shape}")
    return f64


cdef int _activation_code(str fn, object activation) except -1:
    """The MC_ACT_* code of minicnn.h for ``activation``: None, "relu" or "relu6"."""
    if activation is None:
        return 0
    if activation == "relu":
        return 1
    if activation == "relu6":
        return 2
    raise ValueError(f"{fn}: activation must be None, 'relu' or 'relu6', got {activation!r}")


cdef int _tanh_flag(str fn, object approximate) except -1:
    if approximate == "none":
        return 0
    if approximate == "tanh":
        return 1
    raise ValueError(f"{fn}: approximate must be 'none' or 'tanh', got {approximate!r}")


cdef inline void* _ptr(object a):
    return cnp.PyArray_DATA(<cnp.ndarray>a)


# ---------------------------------------------------------------- activations

ctypedef void (*unary_f32)(const float *x, float *y, int64_t n) noexcept nogil
ctypedef void (*unary_f64)(const double *x, double *y, int64_t n) noexcept nogil
ctypedef void (*grad_f32)(const float *gy, const float *saved, float *gx, int64_t n) noexcept nogil
ctypedef void (*grad_f64)(const double *gy, const double *saved, double *gx,
                          int64_t n) noexcept nogil


cdef object _unary(str fn, object x, unary_f32 k32, unary_f64 k64):
    """y = f(x) elementwise with the float32 or float64 kernel."""
    cdef bint f64 = _is_f64(fn, "x", x)
    y = np.empty_like(x)
    cdef int64_t n = x.size
    cdef void *px = _ptr(x)
    cdef void *py = _ptr(y)
    with nogil:
        if f64:
            k64(<double*>px, <double*>py, n)
        else:
            k32(<float*>px, <float*>py, n)
    return y


cdef object _grad(str fn, object grad_output, str saved_name, object saved,
                  grad_f32 k32, grad_f64 k64):
    """grad_input = grad_output * f'(saved) elementwise, saved being the forward's x or y."""
    cdef bint f64 = _is_f64(fn, saved_name, saved)
    _check_like(fn, "grad_output", grad_output, saved_name, saved)
    gx = np.empty_like(saved)
    cdef int64_t n = saved.size
    cdef void *pg = _ptr(grad_output)
    cdef void *ps = _ptr(saved)
    cdef void *pgx = _ptr(gx)
    with nogil:
        if f64:
            k64(<double*>pg, <double*>ps, <double*>pgx, n)
        else:
            k32(<float*>pg, <float*>ps, <float*>pgx, n)
    return gx


def relu(x):
    return _unary("relu", x, mc_relu_f32, mc_relu_f64)


def relu_backward(grad_output, output):
    return _grad("relu_backward", grad_output, "output", output,
                 mc_relu_backward_f32, mc_relu_backward_f64)


def sigmoid(x):
    return _unary("sigmoid", x, mc_sigmoid_f32, mc_sigmoid_f64)


def sigmoid_backward(grad_output, output):
    return _grad("sigmoid_backward", grad_output, "output", output,
                 mc_sigmoid_backward_f32, mc_sigmoid_backward_f64)


def tanh(x):
    return _unary("tanh", x, mc_tanh_f32, mc_tanh_f64)


def tanh_backward(grad_output, output):
    return _grad("tanh_backward", grad_output, "output", output,
                 mc_tanh_backward_f32, mc_tanh_backward_f64)


def silu(x):
    return _unary("silu", x, mc_silu_f32, mc_silu_f64)


def silu_backward(grad_output, x):
    return _grad("silu_backward", grad_output, "x", x, mc_silu_backward_f32, mc_silu_backward_f64)


def hardswish(x):
    return _unary("hardswish", x, mc_hardswish_f32, mc_hardswish_f64)


def hardswish_backward(grad_output, x):
    return _grad("hardswish_backward", grad_output, "x", x,
                 mc_hardswish_backward_f32, mc_hardswish_backward_f64)


def leaky_relu(x, double negative_slope=0.01):
    cdef bint f64 = _is_f64("leaky_relu", "x", x)
    y = np.empty_like(x)
    cdef int64_t n = x.size
    cdef void *px = _ptr(x)
    cdef void *py = _ptr(y)
    with nogil:
        if f64:
            mc_leaky_relu_f64(<double*>px, <double*>py, n, negative_slope)
        else:
            mc_leaky_relu_f32(<float*>px, <float*>py, n, <float>negative_slope)
    return y


def leaky_relu_backward(grad_output, x, double negative_slope=0.01):
    cdef bint f64 = _is_f64("leaky_relu_backward", "x", x)
    _check_like("leaky_relu_backward", "grad_output", grad_output, "x", x)
    gx = np.empty_like(x)
    cdef int64_t n = x.size
    cdef void *pg = _ptr(grad_output)
    cdef void *px = _ptr(x)
    cdef void *pgx = _ptr(gx)
    with nogil:
        if f64:
            mc_leaky_relu_backward_f64(<double*>pg, <double*>px, <double*>pgx, n, negative_slope)
        else:
            mc_leaky_relu_backward_f32(<float*>pg, <float*>px, <float*>pgx, n,
                                       <float>negative_slope)
    return gx


def gelu(x, approximate="none"):
    cdef int t = _tanh_flag("gelu", approximate)
    cdef bint f64 = _is_f64("gelu", "x", x)
    y = np.empty_like(x)
    cdef int64_t n = x.size
    cdef void *px = _ptr(x)
    cdef void *py = _ptr(y)
    with nogil:
        if f64:
            mc_gelu_f64(<double*>px, <double*>py, n, t)
        else:
            mc_gelu_f32(<float*>px, <float*>py, n, t)
    return y


def gelu_backward(grad_output, x, approximate="none"):
    cdef int t = _tanh_flag("gelu_backward", approximate)
    cdef bint f64 = _is_f64("gelu_backward", "x", x)
    _check_like("gelu_backward", "grad_output", grad_output, "x", x)
    gx = np.empty_like(x)
    cdef int64_t n = x.size
    cdef void *pg = _ptr(grad_output)
    cdef void *px = _ptr(x)
    cdef void *pgx = _ptr(gx)
    with nogil:
        if f64:
            mc_gelu_backward_f64(<double*>pg, <double*>px, <double*>pgx, n, t)
        else:
            mc_gelu_backward_f32(<float*>pg, <float*>px, <float*>pgx, n, t)
    return gx


# ---------------------------------------------------------------- bias

cdef tuple _ncs(str fn, str name, object a):
    """(N, C, S) view of an array of shape (N, C, *spatial)."""
    if a.ndim < 2:
        raise ValueError(f"{fn}: {name} must have shape (N, C, *), got {a.shape}")
    cdef int64_t S = 1
    for d in a.shape[2:]:
        S *= d
    return a.shape[0], a.shape[1], S


def bias_add(x, bias):
    cdef bint f64 = _is_f64("bias_add", "x", x)
    _is_f64("bias_add", "bias", bias)
    cdef int64_t N, C, S
    N, C, S = _ncs("bias_add", "x", x)
    if bias.dtype != x.dtype:
        raise TypeError(f"bias_add: bias has dtype {bias.dtype} but x has dtype {x.dtype}")
    if bias.shape != (C,):
        raise ValueError(f"bias_add: bias must have shape ({C},) to match x of shape {x.shape}, "
                         f"got {bias.shape}")
    y = np.empty_like(x)
    cdef void *px = _ptr(x)
    cdef void *pb = _ptr(bias)
    cdef void *py = _ptr(y)
    with nogil:
        if f64:
            mc_bias_add_f64(<double*>px, <double*>pb, <double*>py, N, C, S)
        else:
            mc_bias_add_f32(<float*>px, <float*>pb, <float*>py, N, C, S)
    return y


def bias_add_backward(grad_output):
    cdef bint f64 = _is_f64("bias_add_backward", "grad_output", grad_output)
    cdef int64_t N, C, S
    N, C, S = _ncs("bias_add_backward", "grad_output", grad_output)
    gb = np.empty(C, dtype=grad_output.dtype)
    cdef void *pg = _ptr(grad_output)
    cdef void *pgb = _ptr(gb)
    with nogil:
        if f64:
            mc_bias_add_backward_f64(<double*>pg, <double*>pgb, N, C, S)
        else:
            mc_bias_add_backward_f32(<float*>pg, <float*>pgb, N, C, S)
    return gb


# ---------------------------------------------------------------- kernel families

include "_cpu_conv.pxi"
include "_cpu_linear.pxi"
include "_cpu_pool.pxi"
include "_cpu_norm.pxi"
include "_cpu_loss.pxi"
