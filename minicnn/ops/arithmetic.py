"""Arithmetic with NumPy broadcasting: + - * / ** unary -, matmul, and comparisons.

Each backward returns gradients in the broadcast shape of the output; the engine reduces them to
each input's shape (autograd.sum_to_shape), so no op here repeats that logic.
"""
import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from ._util import operands


def _broadcast_error(name, a, b):
    return ValueError(f"{name}: shapes {a.shape} and {b.shape} are not broadcastable")


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g * b if ctx.needs_input_grad[0] else None
        gb = g * a if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g / b if ctx.needs_input_grad[0] else None
        gb = -g * a / (b * b) if ctx.needs_input_grad[1] else None
        return ga, gb


class PowScalar(Function):
    """x ** p for a Python number p: d/dx = p x^(p-1)."""

    @staticmethod
    def forward(ctx, x, p):
        ctx.save_for_backward(x)
        ctx.p = p
        return x ** p

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        p = ctx.p
        return g * (p * x ** (p - 1)) if p != 0 else np.zeros_like(g), None


class Pow(Function):
    """a ** b for tensors: d/da = b a^(b-1); d/db = a^b log(a), taken as 0 where a == 0 and b >= 0
    (PyTorch's convention, so 0 ** b has a finite gradient)."""

    @staticmethod
    def forward(ctx, a, b):
        y = a ** b
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = g * b * a ** (b - 1)
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = g * y * np.log(a)
            gb = np.where((a == 0) & (b >= 0), 0, gb).astype(g.dtype, copy=False)
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, g):
        return -g


class Matmul(Function):
    """Matrix product with ``numpy.matmul`` semantics: 1-D operands are promoted (and the added
    dimension removed again), batch dimensions broadcast. For C = A @ B:
    dA = dC @ B^T and dB = A^T @ dC."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        if a.ndim == 1 and b.ndim == 1:  # a dot product: g is 0-d
            return (g * b if ctx.needs_input_grad[0] else None,
                    g * a if ctx.needs_input_grad[1] else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1:
            g = np.expand_dims(g, -2)
        if b.ndim == 1:
            g = np.expand_dims(g, -1)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = np.matmul(g, np.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if ctx.needs_input_grad[1]:
            gb = np.matmul(np.swapaxes(a2, -1, -2), g)
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


def _binary(fn, name, a, b):
    a, b = operands(a, b)
    try:
        return fn.apply(a, b)
    except ValueError:
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise _broadcast_error(name, a, b) from None
        raise


def add(input, other):
    """input + other, broadcasting (``torch.add``)."""
    return _binary(Add, "add", input, other)


def sub(input, other):
    """input - other, broadcasting (``torch.sub``)."""
    return _binary(Sub, "sub", input, other)


def mul(input, other):
    """input * other, broadcasting (``torch.mul``)."""
    return _binary(Mul, "mul", input, other)


def div(input, other):
    """input / other (true division), broadcasting (``torch.div``)."""
    return _binary(Div, "div", input, other)


def pow(input, exponent):
    """input ** exponent; either may be a tensor or a Python number (``torch.pow``)."""
    if isinstance(input, Tensor) and isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
        return PowScalar.apply(input, exponent)
    return _binary(Pow, "pow", input, exponent)


def neg(input):
    """-input."""
    return Neg.apply(input)


def matmul(input, other):
    """Matrix product (``torch.matmul``): 1-D, 2-D and batched (N, ..., n, k) @ (..., k, m) with
    broadcast batch dimensions.

    Raises ValueError naming both shapes when the inner dimensions differ or an operand is 0-d.
    """
    a, b = operands(input, other)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both arguments need at least 1 dimension, got shapes "
                         f"{a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({k_a} != {k_b})")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of shapes {a.shape} and {b.shape} are not "
                         "broadcastable") from None
    return Matmul.apply(a, b)


def compare(ufunc, a, b):
    """Elementwise comparison with a NumPy ufunc (np.equal, np.less, ...): a bool tensor, no grad."""
    a, b = operands(a, b)
    if a.device != b.device:
        raise RuntimeError(f"comparison: expected tensors on one device, got {a.device} "
                           f"(shape {a.shape}) and {b.device} (shape {b.shape})")
    try:
        return Tensor._wrap(ufunc(a._data, b._data), a.device)
    except ValueError:
        raise _broadcast_error(ufunc.__name__, a, b) from None
