"""The CUDA backend: minicnn's kernel API on the GPU, over the nvcc-built csrc/cuda library.

Every function here has the name and signature of its counterpart in
:mod:`minicnn.backends.reference` (the oracle the tests compare it with), takes and returns
:class:`DeviceArray` (float32; int64 for class and pooling indices), allocates its outputs and
workspace from the caching allocator, and raises :class:`CudaError` with the CUDA error string
when a CUDA call or launch fails. Kernels run asynchronously on the default stream;
:meth:`DeviceArray.to_host` (or :func:`synchronize`) waits for them. The scalar sums of the
losses are returned as Python floats, which is a device-to-host copy.

Beyond the reference API: :func:`matmul` (cuBLAS when found at run time, else the tiled
shared-memory kernel; :func:`sgemm` picks explicitly), elementwise arithmetic (:func:`add`,
:func:`mul`, ...) and :func:`sum` along a dimension. ``minicnn.backends.BACKENDS["cuda"]`` is
the device's kernel table, built from this module: the kernels of :data:`UNAVAILABLE` raise
NotImplementedError there instead of silently running NumPy on device memory.

Missing so far: :data:`UNAVAILABLE` and float64.
"""
import numpy as np

from .. import reference
from ...geometry import conv_output_size
from ..reference.pool import check_pool_args
from . import array_ops
from ._lib import CudaError, check, lib
from .array_ops import (ABS, ADD, AFFINE, DIV, EXP, GELU, GELU_TANH, HARDSWISH, LEAKY_RELU, LOG,
                        MUL, NEG, RELU, SIGMOID, SILU, SQRT, SUB, TANH)
from .array_ops import DeviceArray, cublas_available, empty, sgemm, zeros
from .memory import empty_cache, memory_allocated, memory_reserved

__all__ = [
    "CudaError", "DeviceArray", "empty", "zeros", "empty_cache", "memory_allocated",
    "memory_reserved", "synchronize", "cuda_kernels", "cublas_available", "sgemm", "matmul",
    "add", "sub", "mul", "div", "fill", "sum", "exp", "log", "sqrt", "abs", "neg", "affine",
    "sgd_step", "adam_step",
]


def synchronize():
    """Wait for every queued kernel; raises CudaError for an error of one of them."""
    check(lib().mc_cuda_synchronize())


_f32 = array_ops.f32


def _same_shape(fn, a, b, names=("a", "b")):
    if a.shape != b.shape:
        raise ValueError(f"{fn}: {names[0]} and {names[1]} must have the same shape, got "
                         f"{a.shape} and {b.shape}")


def _ptr(a):
    return None if a is None else a.ptr


# ---------------------------------------------------------------- elementwise

_unary, _unary_backward = array_ops.unary, array_ops.unary_backward


def relu(x):
    return _unary("relu", RELU, x)


def relu_backward(grad_output, output):
    return _unary_backward("relu_backward", RELU, grad_output, output)


def leaky_relu(x, negative_slope=0.01):
    return _unary("leaky_relu", LEAKY_RELU, x, negative_slope)


def leaky_relu_backward(grad_output, x, negative_slope=0.01):
    return _unary_backward("leaky_relu_backward", LEAKY_RELU, grad_output, x, negative_slope)


def sigmoid(x):
    return _unary("sigmoid", SIGMOID, x)


def sigmoid_backward(grad_output, output):
    return _unary_backward("sigmoid_backward", SIGMOID, grad_output, output)


def tanh(x):
    return _unary("tanh", TANH, x)


def tanh_backward(grad_output, output):
    return _unary_backward("tanh_backward", TANH, grad_output, output)


def silu(x):
    return _unary("silu", SILU, x)


def silu_backward(grad_output, x):
    return _unary_backward("silu_backward", SILU, grad_output, x)


def hardswish(x):
    return _unary("hardswish", HARDSWISH, x)


def hardswish_backward(grad_output, x):
    return _unary_backward("hardswish_backward", HARDSWISH, grad_output, x)


def _gelu_op(fn, approximate):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{fn}: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU_TANH if approximate == "tanh" else GELU


def gelu(x, approximate="none"):
    return _unary("gelu", _gelu_op("gelu", approximate), x)


def gelu_backward(grad_output, x, approximate="none"):
    return _unary_backward("gelu_backward", _gelu_op("gelu_backward", approximate), grad_output, x)


def exp(x):
    return _unary("exp", EXP, x)


def log(x):
    return _unary("log", LOG, x)


def sqrt(x):
    return _unary("sqrt", SQRT, x)


def abs(x):
    return _unary("abs", ABS, x)


def neg(x):
    return _unary("neg", NEG, x)


def affine(x, a, b):
    """a * x + b elementwise, for float scalars a and b (scaling, adding a constant)."""
    return _unary("affine", AFFINE, x, a, b)


def add(a, b):
    """a + b with NumPy broadcasting (either may be a Python number); likewise sub, mul, div."""
    return array_ops.binary("add", ADD, a, b)


def sub(a, b):
    return array_ops.binary("sub", SUB, a, b)


def mul(a, b):
    return array_ops.binary("mul", MUL, a, b)


def div(a, b):
    return array_ops.binary("div", DIV, a, b)


fill = array_ops.fill

#: dtypes a device array may have: the kernels compute in float32; int64 and bool hold class
#: indices, pooling indices and counters
DTYPES = (np.dtype(np.float32), np.dtype(np.int64), np.dtype(np.bool_))


def _placeable(dtype):
    if np.dtype(dtype) not in DTYPES:
        raise TypeError(f"a {np.dtype(dtype)} tensor cannot be placed on cuda: minicnn's CUDA "
                        "kernels are float32 (int64 and bool for indices); convert with .float() "
                        "first")


def full(shape, value, dtype):
    """A float32 array of ``shape`` filled with ``value`` by a kernel (no host copy). TypeError
    for another dtype: arithmetic on the device is float32 only."""
    if np.dtype(dtype) != np.float32:
        raise TypeError(f"full: dtype {np.dtype(dtype)} on cuda is not implemented (the CUDA "
                        "kernels are float32); copy the tensor to the host with .cpu() first")
    return array_ops.full(shape, value)


def cast(x, dtype):
    """A converted copy of ``x`` (between float32, int64 and bool; TypeError for the rest)."""
    _placeable(dtype)
    return array_ops.astype(x, dtype, copy=True)


def to_host(x):
    """A new ndarray holding ``x``'s values (waits for the kernels writing x)."""
    return x.to_host()


def from_host(array):
    """A new device array holding a copy of the ndarray ``array``; TypeError for a dtype outside
    :data:`DTYPES`."""
    _placeable(array.dtype)
    return DeviceArray.from_host(array)


def _split(shape, dim):
    """(outer, n, inner) of ``shape`` around axis ``dim``."""
    dim = dim % len(shape)
    return int(np.prod(shape[:dim])), shape[dim], int(np.prod(shape[dim + 1:]))


def sum(x, dim):
    """Sum over axis ``dim`` (the axis removed), accumulated in double."""
    return array_ops.sum(x, dim)


def _softmax(fn, log_, x, dim):
    _f32(fn, "x", x)
    outer, n, inner = _split(x.shape, dim)
    y = empty(x.shape)
    check(lib().mc_cuda_softmax(log_, outer, n, inner, x.ptr, y.ptr))
    return y


def _softmax_backward(fn, log_, grad_output, output, dim):
    _f32(fn, "grad_output", grad_output)
    _f32(fn, "output", output)
    _same_shape(fn, grad_output, output, ("grad_output", "output"))
    outer, n, inner = _split(output.shape, dim)
    gx = empty(output.shape)
    check(lib().mc_cuda_softmax_backward(log_, outer, n, inner, grad_output.ptr, output.ptr,
                                         gx.ptr))
    return gx


def softmax(x, dim):
    return _softmax("softmax", 0, x, dim)


def softmax_backward(grad_output, output, dim):
    return _softmax_backward("softmax_backward", 0, grad_output, output, dim)


def log_softmax(x, dim):
    return _softmax("log_softmax", 1, x, dim)


def log_softmax_backward(grad_output, output, dim):
    return _softmax_backward("log_softmax_backward", 1, grad_output, output, dim)


def _ncs(shape):
    return shape[0], shape[1], int(np.prod(shape[2:]))


def bias_add(x, bias):
    _f32("bias_add", "x", x)
    _f32("bias_add", "bias", bias)
    if x.ndim < 2 or bias.shape != (x.shape[1],):
        raise ValueError(f"bias_add: bias must have shape (C,) for x (N, C, *), got {bias.shape} "
                         f"and {x.shape}")
    y = empty(x.shape)
    check(lib().mc_cuda_bias_add(*_ncs(x.shape), x.ptr, bias.ptr, y.ptr))
    return y


def bias_add_backward(grad_output):
    _f32("bias_add_backward", "grad_output", grad_output)
    N, C, S = _ncs(grad_output.shape)
    gb = empty((C,))
    check(lib().mc_cuda_sum_keep_axis(N, C, S, grad_output.ptr, gb.ptr))
    return gb


# ---------------------------------------------------------------- GEMM and linear

def matmul(a, b):
    """a (M, K) @ b (K, N) -> (M, N)."""
    return sgemm(a, b)


def linear(x, weight, bias=None):
    y = sgemm(x, weight, trans_b=True)
    return y if bias is None else bias_add(y, bias)


def linear_backward_input(grad_output, weight):
    return sgemm(grad_output, weight)


def linear_backward_weight(grad_output, x):
    return sgemm(grad_output, x, trans_a=True)


# ---------------------------------------------------------------- convolution

def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw):
    _f32("im2col", "x", x)
    C, H, W = x.shape
    Ho, Wo = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    cols = empty((C * kh * kw, Ho * Wo))
    check(lib().mc_cuda_im2col(x.ptr, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, cols.ptr))
    return cols


def col2im(cols, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw):
    _f32("col2im", "cols", cols)
    x = empty((C, H, W))
    check(lib().mc_cuda_col2im(cols.ptr, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, x.ptr))
    return x


def _conv_check(fn, x_shape, w_shape, groups):
    N, C, H, W = x_shape
    K, Cg, kh, kw = w_shape
    if groups < 1 or C % groups or K % groups or Cg != C // groups:
        raise ValueError(f"{fn}: weight {w_shape} does not fit input {x_shape} with "
                         f"groups={groups}")
    return N, C, H, W, K, kh, kw


def _depthwise(C, K, groups):
    return groups == C and K % C == 0


#: bytes of im2col workspace a convolution may take: the batch goes through in chunks of as many
#: images as fit (one GEMM per chunk; more images per GEMM keep a large GPU busy)
CONV_WORKSPACE_BYTES = 256 << 20


def _conv_work(N, C, K, groups, kh, kw, P):
    """(workspace, images per chunk) for the im2col passes: the chunk's columns and its
    (K / groups, nb P) GEMM operand."""
    per_image = ((C // groups) * kh * kw + K // groups) * P
    nb = max(1, min(N, CONV_WORKSPACE_BYTES // max(4 * per_image, 1)))
    return empty((nb * per_image,)), nb


# The activation the CPU kernels fuse into batch norm and the convolution's epilogue
# (nn.Sequential's BN -> ReLU, conv -> BN -> ReLU) runs here as a separate ReLU launch; ReLU6 has
# no CUDA kernel (Sequential fuses in host memory only).

def _fused_activation(fn, activation):
    if activation not in (None, "relu"):
        raise NotImplementedError(f"{fn}: activation {activation!r} has no CUDA kernel (only "
                                  "None and 'relu')")


def conv2d(x, weight, bias, sh, sw, ph, pw, dh, dw, groups, activation=None):
    """x (N, C, H, W), weight (K, C / groups, kh, kw), bias (K,) or None -> (N, K, Ho, Wo):
    the direct depthwise kernel when groups == C (> 1), else im2col + GEMM per chunk of images
    (:data:`CONV_WORKSPACE_BYTES`) and group; ``activation`` "relu" as a separate launch."""
    for name, a in (("x", x), ("weight", weight)):
        _f32("conv2d", name, a)
    _fused_activation("conv2d", activation)
    N, C, H, W, K, kh, kw = _conv_check("conv2d", x.shape, weight.shape, groups)
    Ho, Wo = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    y = empty((N, K, Ho, Wo))
    if groups > 1 and _depthwise(C, K, groups):
        check(lib().mc_cuda_depthwise_conv2d(x.ptr, weight.ptr, _ptr(bias), y.ptr, N, C, H, W, K,
                                             kh, kw, sh, sw, ph, pw, dh, dw))
    else:
        work, nb = _conv_work(N, C, K, groups, kh, kw, Ho * Wo)
        check(lib().mc_cuda_conv2d(x.ptr, weight.ptr, _ptr(bias), y.ptr, work.ptr, N, C, H, W, K,
                                   kh, kw, sh, sw, ph, pw, dh, dw, groups, nb))
    return y if activation is None else relu(y)


def conv2d_backward_input(grad_output, weight, H, W, sh, sw, ph, pw, dh, dw, groups):
    for name, a in (("grad_output", grad_output), ("weight", weight)):
        _f32("conv2d_backward_input", name, a)
    N, K, Ho, Wo = grad_output.shape
    _, Cg, kh, kw = weight.shape
    C = Cg * groups
    gx = empty((N, C, H, W))
    if groups > 1 and _depthwise(C, K, groups):
        check(lib().mc_cuda_depthwise_conv2d_backward_input(
            grad_output.ptr, weight.ptr, gx.ptr, N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw))
    else:
        work, nb = _conv_work(N, C, K, groups, kh, kw, Ho * Wo)
        check(lib().mc_cuda_conv2d_backward_input(grad_output.ptr, weight.ptr, gx.ptr, work.ptr, N,
                                                  C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw,
                                                  groups, nb))
    return gx


def conv2d_backward_weight(grad_output, x, kh, kw, sh, sw, ph, pw, dh, dw, groups):
    for name, a in (("grad_output", grad_output), ("x", x)):
        _f32("conv2d_backward_weight", name, a)
    N, C, H, W = x.shape
    K, Ho, Wo = grad_output.shape[1:]
    Cg = C // groups
    gw = empty((K, Cg, kh, kw))
    if groups > 1 and _depthwise(C, K, groups):
        check(lib().mc_cuda_depthwise_conv2d_backward_weight(
            grad_output.ptr, x.ptr, gw.ptr, N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw))
    else:
        work, nb = _conv_work(N, C, K, groups, kh, kw, Ho * Wo)
        check(lib().mc_cuda_conv2d_backward_weight(grad_output.ptr, x.ptr, gw.ptr, work.ptr, N, C,
                                                   H, W, K, kh, kw, sh, sw, ph, pw, dh, dw, groups,
                                                   nb))
    return gw


# ---------------------------------------------------------------- pooling

def max_pool2d(x, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode, return_indices=True):
    _f32("max_pool2d", "x", x)
    N, C, H, W = x.shape
    Ho, Wo = check_pool_args("max_pool2d", x.shape, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode)
    y = empty((N, C, Ho, Wo))
    idx = empty((N, C, Ho, Wo), np.int64) if return_indices else None
    check(lib().mc_cuda_max_pool2d(x.ptr, y.ptr, _ptr(idx), N * C, H, W, Ho, Wo, kh, kw, sh, sw,
                                   ph, pw, dh, dw, 0))
    return y, idx


def adaptive_max_pool2d(x, oh, ow):
    _f32("adaptive_max_pool2d", "x", x)
    N, C, H, W = x.shape
    y, idx = empty((N, C, oh, ow)), empty((N, C, oh, ow), np.int64)
    check(lib().mc_cuda_max_pool2d(x.ptr, y.ptr, idx.ptr, N * C, H, W, oh, ow, 0, 0, 1, 1, 0, 0,
                                   1, 1, 1))
    return y, idx


def max_pool2d_backward(grad_output, indices, H, W):
    _f32("max_pool2d_backward", "grad_output", grad_output)
    if grad_output.ndim != 4 or indices.shape != grad_output.shape or indices.dtype != np.int64:
        raise ValueError(f"max_pool2d_backward: grad_output (N, C, Ho, Wo) and int64 indices must "
                         f"have the same shape, got {grad_output.shape} and {indices.shape}")
    N, C, Ho, Wo = grad_output.shape
    gx = empty((N, C, H, W))
    check(lib().mc_cuda_max_pool2d_backward(grad_output.ptr, indices.ptr, gx.ptr, N * C, H, W, Ho,
                                            Wo))
    return gx


def avg_pool2d(x, kh, kw, sh, sw, ph, pw, ceil_mode, count_include_pad, divisor_override):
    _f32("avg_pool2d", "x", x)
    N, C, H, W = x.shape
    Ho, Wo = check_pool_args("avg_pool2d", x.shape, kh, kw, sh, sw, ph, pw, 1, 1, ceil_mode)
    y = empty((N, C, Ho, Wo))
    check(lib().mc_cuda_avg_pool2d(x.ptr, y.ptr, N * C, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw,
                                   int(bool(count_include_pad)), int(divisor_override or 0), 0))
    return y


def avg_pool2d_backward(grad_output, H, W, kh, kw, sh, sw, ph, pw, ceil_mode, count_include_pad,
                        divisor_override):
    _f32("avg_pool2d_backward", "grad_output", grad_output)
    N, C = grad_output.shape[:2]
    Ho, Wo = check_pool_args("avg_pool2d_backward", (N, C, H, W), kh, kw, sh, sw, ph, pw, 1, 1,
                             ceil_mode)
    if grad_output.shape[2:] != (Ho, Wo):
        raise ValueError(f"avg_pool2d_backward: grad_output must have shape (N, C, {Ho}, {Wo}) "
                         f"for an input of size ({H}, {W}), got {grad_output.shape}")
    gx = empty((N, C, H, W))
    check(lib().mc_cuda_avg_pool2d_backward(grad_output.ptr, gx.ptr, N * C, H, W, Ho, Wo, kh, kw,
                                            sh, sw, ph, pw, int(bool(count_include_pad)),
                                            int(divisor_override or 0), 0))
    return gx


def adaptive_avg_pool2d(x, oh, ow):
    _f32("adaptive_avg_pool2d", "x", x)
    N, C, H, W = x.shape
    y = empty((N, C, oh, ow))
    check(lib().mc_cuda_avg_pool2d(x.ptr, y.ptr, N * C, H, W, oh, ow, 0, 0, 1, 1, 0, 0, 0, 0, 1))
    return y


def adaptive_avg_pool2d_backward(grad_output, H, W):
    _f32("adaptive_avg_pool2d_backward", "grad_output", grad_output)
    N, C, oh, ow = grad_output.shape
    gx = empty((N, C, H, W))
    check(lib().mc_cuda_avg_pool2d_backward(grad_output.ptr, gx.ptr, N * C, H, W, oh, ow, 0, 0, 1,
                                            1, 0, 0, 0, 0, 1))
    return gx


# ---------------------------------------------------------------- batch norm

def batch_norm_forward_train(x, weight, bias, eps, activation=None):
    _f32("batch_norm_forward_train", "x", x)
    _fused_activation("batch_norm_forward_train", activation)
    N, C, S = _ncs(x.shape)
    y, mean, var, invstd = empty(x.shape), empty((C,)), empty((C,)), empty((C,))
    check(lib().mc_cuda_batch_norm_forward_train(x.ptr, _ptr(weight), _ptr(bias), y.ptr, mean.ptr,
                                                 var.ptr, invstd.ptr, N, C, S, eps))
    return (y if activation is None else relu(y)), mean, var, invstd


def batch_norm_forward_eval(x, running_mean, running_var, weight, bias, eps, activation=None):
    _f32("batch_norm_forward_eval", "x", x)
    _fused_activation("batch_norm_forward_eval", activation)
    N, C, S = _ncs(x.shape)
    y = empty(x.shape)
    check(lib().mc_cuda_batch_norm_forward_eval(x.ptr, running_mean.ptr, running_var.ptr,
                                                _ptr(weight), _ptr(bias), y.ptr, N, C, S, eps))
    return y if activation is None else relu(y)


def batch_norm_backward(grad_output, x, mean, invstd, weight, train, output_mask,
                        activation=None, output=None):
    _fused_activation("batch_norm_backward", activation)
    if activation is not None:
        grad_output = relu_backward(grad_output, output)
    _f32("batch_norm_backward", "grad_output", grad_output)
    _f32("batch_norm_backward", "x", x)
    _same_shape("batch_norm_backward", grad_output, x, ("grad_output", "x"))
    N, C, S = _ncs(x.shape)
    want_x, want_w, want_b = (bool(m) for m in output_mask)
    gx = empty(x.shape) if want_x else None
    gw = empty((C,)) if want_w else None
    gb = empty((C,)) if want_b else None
    work = empty((2 * C,), np.float64)
    check(lib().mc_cuda_batch_norm_backward(grad_output.ptr, x.ptr, mean.ptr, invstd.ptr,
                                            _ptr(weight), _ptr(gx), _ptr(gw), _ptr(gb), work.ptr,
                                            N, C, S, int(bool(train))))
    return gx, gw, gb


def batch_norm_update_running(running_mean, running_var, mean, var, momentum, count):
    """The reference's running-statistics update, in float32 on the device (as PyTorch's CUDA
    kernels compute it): a few elementwise launches."""
    for running, stat, scale in ((running_mean, mean, None),
                                 (running_var, var, count / (count - 1))):
        if running is None:
            continue
        _f32("batch_norm_update_running", "running statistics", running)
        value = stat if scale is None else stat * scale
        if value.ndim > 1:
            value = value.mean(axis=0)
        running *= 1.0 - momentum
        running += value * momentum


def batch_norm_invstd(var, eps):
    """1 / sqrt(var + eps), in float32."""
    _f32("batch_norm_invstd", "var", var)
    return (var + eps) ** -0.5


# ---------------------------------------------------------------- losses

def _loss_check(fn, input, target, weight):
    _f32(fn, "input", input)
    if input.ndim < 2:
        raise ValueError(f"{fn}: input must have shape (N, C) or (N, C, d1, ...), got "
                         f"{input.shape}")
    if not isinstance(target, DeviceArray) or target.dtype != np.int64:
        raise TypeError(f"{fn}: target must be an int64 DeviceArray of class indices")
    expected = (input.shape[0],) + input.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{fn}: target must have shape {expected} for input of shape "
                         f"{input.shape}, got {target.shape}")
    if weight is not None:
        _f32(fn, "weight", weight)
        if weight.shape != (input.shape[1],):
            raise ValueError(f"{fn}: weight must have shape ({input.shape[1]},), got "
                             f"{weight.shape}")
    return _ncs(input.shape)


def _sums(fn, sums, C, ignore_index):
    """(loss_sum, weight_sum) from the forward's 4 doubles; ValueError for a bad target."""
    loss_sum, weight_sum, bad, one = sums.to_host()
    if bad:
        raise ValueError(f"{fn}: target {int(one)} is out of bounds for {C} classes (expected "
                         f"0 <= target < {C}, or ignore_index = {ignore_index})")
    return float(loss_sum), float(weight_sum)


def _upstream(fn, grad_output, target):
    _f32(fn, "grad_output", grad_output)
    if grad_output.ndim != 0 and grad_output.shape != target.shape:
        raise ValueError(f"{fn}: grad_output must have shape {target.shape} (reduction='none') "
                         f"or () (mean, sum), got {grad_output.shape}")
    return int(grad_output.ndim == 0)


def cross_entropy(input, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    N, C, S = _loss_check("cross_entropy", input, target, weight)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    loss, stats, sums = empty(target.shape), empty((2,) + target.shape), zeros((4,), np.float64)
    check(lib().mc_cuda_cross_entropy(input.ptr, target.ptr, _ptr(weight), loss.ptr, stats.ptr,
                                      sums.ptr, N, C, S, ignore_index, label_smoothing))
    return (loss, stats) + _sums("cross_entropy", sums, C, ignore_index)


def cross_entropy_backward(grad_output, input, target, weight, stats, ignore_index=-100,
                           label_smoothing=0.0, scale=1.0):
    N, C, S = _loss_check("cross_entropy_backward", input, target, weight)
    g_scalar = _upstream("cross_entropy_backward", grad_output, target)
    gx = empty(input.shape)
    check(lib().mc_cuda_cross_entropy_backward(grad_output.ptr, g_scalar, input.ptr, target.ptr,
                                               _ptr(weight), stats.ptr, gx.ptr, N, C, S,
                                               ignore_index, label_smoothing, scale))
    return gx


def nll_loss(input, target, weight=None, ignore_index=-100):
    N, C, S = _loss_check("nll_loss", input, target, weight)
    loss, sums = empty(target.shape), zeros((4,), np.float64)
    check(lib().mc_cuda_nll_loss(input.ptr, target.ptr, _ptr(weight), loss.ptr, sums.ptr, N, C, S,
                                 ignore_index))
    return (loss,) + _sums("nll_loss", sums, C, ignore_index)


def nll_loss_backward(grad_output, input, target, weight=None, ignore_index=-100, scale=1.0):
    N, C, S = _loss_check("nll_loss_backward", input, target, weight)
    g_scalar = _upstream("nll_loss_backward", grad_output, target)
    gx = empty(input.shape)
    check(lib().mc_cuda_nll_loss_backward(grad_output.ptr, g_scalar, target.ptr, _ptr(weight),
                                          gx.ptr, N, C, S, ignore_index, scale))
    return gx


# ---------------------------------------------------------------- optimizers

def _param_state(fn, param, grad, *state):
    _f32(fn, "param", param)
    _f32(fn, "grad", grad)
    _same_shape(fn, param, grad, ("param", "grad"))
    for s in state:
        if s is not None:
            _f32(fn, "state", s)
            _same_shape(fn, param, s, ("param", "its state"))


def sgd_step(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, first_step=False, maximize=False):
    """One torch.optim.SGD update of ``param`` (and ``momentum_buffer``, None without momentum)
    in place; ``first_step``: the buffer is initialized to the gradient."""
    _param_state("sgd_step", param, grad, momentum_buffer)
    if momentum and momentum_buffer is None:
        raise ValueError("sgd_step: momentum != 0 needs a momentum_buffer")
    check(lib().mc_cuda_sgd_step(param.size, param.ptr, grad.ptr, _ptr(momentum_buffer), lr,
                                 momentum, dampening, weight_decay, int(nesterov), int(first_step),
                                 int(maximize)))


def adam_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
              weight_decay=0.0, max_exp_avg_sq=None, decoupled_weight_decay=False, maximize=False):
    """One torch.optim.Adam (AdamW with ``decoupled_weight_decay``) update in place; ``step`` is
    the 1-based count including this update; ``max_exp_avg_sq`` given means AMSGrad."""
    _param_state("adam_step", param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq)
    if step < 1:
        raise ValueError(f"adam_step: step must be >= 1, got {step}")
    check(lib().mc_cuda_adam_step(param.size, param.ptr, grad.ptr, exp_avg.ptr, exp_avg_sq.ptr,
                                  _ptr(max_exp_avg_sq), lr, betas[0], betas[1], eps, weight_decay,
                                  int(decoupled_weight_decay), step, int(maximize)))


# ---------------------------------------------------------------- the device's kernel table

#: the kernels of the reference API with no CUDA version yet: in ``BACKENDS["cuda"]`` they raise
#: NotImplementedError instead of silently running NumPy on device memory
UNAVAILABLE = ("layer_norm_forward", "layer_norm_backward", "group_norm_forward",
               "group_norm_backward", "rmsprop_step")


def cuda_kernels():
    """Names of the reference API that have a CUDA kernel."""
    return [k for k in reference.__all__ if k not in UNAVAILABLE]
