"""Arithmetic with NumPy broadcasting: + - * / ** unary -, add/sub with alpha, addcmul, addcdiv,
lerp, matmul and bmm, and comparisons (eq ... ge, equal, isclose, allclose).

Each backward returns gradients in the broadcast shape of the output; the engine reduces them to
each input's shape (autograd.sum_to_shape), so no op here repeats that logic.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..autograd import Function, is_floating_dtype
from ..tensor import Tensor
from . import _autocast
from ._util import (
    _F32,
    _F64,
    check_broadcast,
    is_number,
    operands,
    tensor_arg,
    tensor_args,
    tensor_or_number_arg,
    type_name,
)

if TYPE_CHECKING:
    from ..types import Number


def _broadcast_error(name, a, b):
    return ValueError(f"{name}: shapes {tuple(a.shape)} and {tuple(b.shape)} are not "
                      "broadcastable")


class AddFn(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class AddScalarFn(Function):
    """x + s for a Python number s, as PyTorch's wrapped-number add: s stays a number on ctx
    instead of becoming a 0-d tensor operand (the saved ~3 us matter on small tensors)."""

    _op_name = "Add"  # AddBackward, as PyTorch names it

    @staticmethod
    def forward(ctx, x, s):
        return x + x.dtype.type(s)

    @staticmethod
    def backward(ctx, g):
        return g, None


class MulScalarFn(Function):
    """x * s for a Python number s (see AddScalarFn): d/dx = s."""

    _op_name = "Mul"

    @staticmethod
    def forward(ctx, x, s):
        ctx.s = x.dtype.type(s)
        return x * ctx.s

    @staticmethod
    def backward(ctx, g):
        return g * ctx.s, None


class AddScaledFn(Function):
    """a + alpha * b for a Python number alpha (add with alpha, and sub as alpha -> -alpha)."""

    @staticmethod
    def forward(ctx, a, b, alpha):
        ctx.alpha = alpha
        return a + alpha * b

    @staticmethod
    def backward(ctx, g):
        return g, (g * ctx.alpha if ctx.needs_input_grad[1] else None), None


class SubFn(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


class MulFn(Function):
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


class DivFn(Function):
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


class PowScalarFn(Function):
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


class PowFn(Function):
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


class NegFn(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, g):
        return -g


class AddcmulFn(Function):
    """input + value * t1 * t2: d/dinput = 1, d/dt1 = value t2, d/dt2 = value t1."""

    @staticmethod
    def forward(ctx, x, t1, t2, value):
        ctx.save_for_backward(t1, t2)
        ctx.value = value
        return x + value * t1 * t2

    @staticmethod
    def backward(ctx, g):
        t1, t2 = ctx.saved_tensors
        gv = g * ctx.value
        g1 = gv * t2 if ctx.needs_input_grad[1] else None
        g2 = gv * t1 if ctx.needs_input_grad[2] else None
        return g, g1, g2, None


class AddcdivFn(Function):
    """input + value * t1 / t2: d/dinput = 1, d/dt1 = value / t2, d/dt2 = -value t1 / t2^2."""

    @staticmethod
    def forward(ctx, x, t1, t2, value):
        ctx.save_for_backward(t1, t2)
        ctx.value = value
        return x + value * t1 / t2

    @staticmethod
    def backward(ctx, g):
        t1, t2 = ctx.saved_tensors
        gv = g * ctx.value / t2
        g1 = gv if ctx.needs_input_grad[1] else None
        g2 = -gv * t1 / t2 if ctx.needs_input_grad[2] else None
        return g, g1, g2, None


class LerpFn(Function):
    """input + weight (end - input), with ``weight`` an array or a Python number. Computed as
    PyTorch does, from the nearer end (end - (end - input)(1 - weight) for |weight| >= 0.5), so
    weight 1 gives ``end`` exactly. d/dinput = 1 - weight, d/dend = weight,
    d/dweight = end - input."""

    @staticmethod
    def forward(ctx, a, e, w):
        ctx.save_for_backward(a, e, w)
        d = e - a
        return np.where(np.abs(w) < 0.5, a + w * d, e - d * (1 - w))

    @staticmethod
    def backward(ctx, g):
        a, e, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        return (g * (1 - w) if need[0] else None, g * w if need[1] else None,
                g * (e - a) if need[2] else None)


class MatmulFn(Function):
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


_SCALAR_FNS = {AddFn: AddScalarFn, MulFn: MulScalarFn}  # commutative: the number on either side


def _binary(fn, name, a, b):
    scalar_fn = _SCALAR_FNS.get(fn)
    if scalar_fn is not None:
        t, s = (a, b) if isinstance(a, Tensor) else (b, a)
        # a float32/float64 host tensor and a Python number: the same values as the 0-d operand
        # (the number cast to the tensor's dtype), without making one
        if (type(s) in (int, float) and isinstance(t, Tensor) and type(t._data) is np.ndarray
                and t._data.dtype in (_F32, _F64)):
            return scalar_fn.apply(t, s)
    a, b = operands(a, b)
    try:
        return fn.apply(a, b)
    except ValueError:
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise _broadcast_error(name, a, b) from None
        raise


def _alpha(name, alpha, a, b):
    """``alpha`` checked as PyTorch does: a number, and an int when both operands are integral."""
    if not is_number(alpha):
        raise TypeError(f"{name}(): argument 'alpha' must be Number, not {type(alpha).__name__}")
    if (isinstance(alpha, (float, np.floating)) and a.dtype.kind in "biu"
            and b.dtype.kind in "biu"):
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating "
                           "point number.")
    return _scalar(alpha)


def _scalar(value):
    """A Python number: a NumPy scalar would promote float32 arrays to its own dtype."""
    return value.item() if isinstance(value, np.generic) else value


@tensor_args(or_number=("input", "other"))
def add(input: Tensor | Number, other: Tensor | Number, *, alpha: Number = 1) -> Tensor:
    """input + alpha * other, broadcasting (``torch.add``); either operand may be a number (two
    numbers give a 0-d tensor, as PyTorch).

    Raises TypeError for an operand that is neither a Tensor nor a number (a list, an ndarray:
    PyTorch's functions take no array-likes; the operators convert an ndarray), a non-number
    ``alpha``, RuntimeError for a float ``alpha`` with integer
    operands, ValueError for shapes that do not broadcast.
    """
    if type(alpha) is int and alpha == 1:
        return _binary(AddFn, "add", input, other)
    a, b = operands(input, other)
    check_broadcast("add", a, b)
    return AddScaledFn.apply(a, b, _alpha("add", alpha, a, b))


@tensor_args(or_number=("input", "other"))
def sub(input: Tensor | Number, other: Tensor | Number, *, alpha: Number = 1) -> Tensor:
    """input - alpha * other, broadcasting (``torch.sub``); either operand may be a number.
    Errors as :func:`add`."""
    if type(alpha) is int and alpha == 1:
        return _binary(SubFn, "sub", input, other)
    a, b = operands(input, other)
    check_broadcast("sub", a, b)
    return AddScaledFn.apply(a, b, -_alpha("sub", alpha, a, b))


def rsub(input: Tensor | Number, other: Tensor | Number, *, alpha: Number = 1) -> Tensor:
    """other - alpha * input (``torch.rsub``): :func:`sub` with the operands swapped."""
    tensor_arg("rsub", "input", 1, input)
    tensor_or_number_arg("rsub", "other", 2, other)
    return sub(other, input, alpha=alpha)


def _float_like(*tensors):
    """The tensors with integer ones converted to the first floating dtype among them (as
    operands() does for two); unchanged when none is floating."""
    ref = next((t.dtype for t in tensors if is_floating_dtype(t.dtype)), None)
    if ref is None:
        return tensors
    return tuple(t if is_floating_dtype(t.dtype) else t.to(ref) for t in tensors)


def _pointwise3(name, input, tensor1, tensor2, value):
    tensor_arg(name, "input", 1, input)
    tensor_arg(name, "tensor1", 2, tensor1)
    tensor_arg(name, "tensor2", 3, tensor2)
    if not is_number(value):
        raise TypeError(f"{name}(): argument 'value' must be Number, not {type(value).__name__}")
    ts = _float_like(input, tensor1, tensor2)
    check_broadcast(name, *ts)
    return ts


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Number = 1) -> Tensor:
    """input + value * tensor1 * tensor2, all three broadcast (``torch.addcmul``).

    Raises TypeError for a non-Tensor argument or a non-number ``value``, ValueError for shapes
    that do not broadcast.
    """
    x, t1, t2 = _pointwise3("addcmul", input, tensor1, tensor2, value)
    return AddcmulFn.apply(x, t1, t2, _scalar(value))


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Number = 1) -> Tensor:
    """input + value * tensor1 / tensor2 (true division), all three broadcast
    (``torch.addcdiv``).

    Raises RuntimeError when tensor1 and tensor2 are both integral (PyTorch no longer divides
    integers here); otherwise errors as :func:`addcmul`.
    """
    x, t1, t2 = _pointwise3("addcdiv", input, tensor1, tensor2, value)
    if t1.dtype.kind in "biu" and t2.dtype.kind in "biu":
        raise RuntimeError("Integer division with addcdiv is no longer supported; use "
                           "(input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) "
                           "for the old integer behaviour")
    return AddcdivFn.apply(x, t1, t2, _scalar(value))


def lerp(input: Tensor, end: Tensor, weight: Tensor | Number) -> Tensor:
    """Linear interpolation input + weight * (end - input) (``torch.lerp``); ``weight`` is a
    number or a tensor, and the tensors broadcast.

    Raises TypeError for a non-Tensor input or end, a weight that is neither a number nor a
    tensor, non-floating tensors, or tensors of different dtypes; ValueError for shapes that do
    not broadcast.
    """
    tensor_arg("lerp", "input", 1, input)
    tensor_arg("lerp", "end", 2, end)
    tensor_or_number_arg("lerp", "weight", 3, weight)
    named = [("end", end)] + ([("weight", weight)] if isinstance(weight, Tensor) else [])
    if not is_floating_dtype(input.dtype):
        raise TypeError(f"lerp: input must be float32 or float64, got {input.dtype}")
    for name, t in named:
        if t.dtype != input.dtype:
            raise TypeError(f"lerp: expected dtype {input.dtype} for `{name}` but got dtype "
                            f"{t.dtype}")
    check_broadcast("lerp", input, *(t for _, t in named))
    return LerpFn.apply(input, end, weight if isinstance(weight, Tensor) else float(weight))


@tensor_args(or_number=("input", "other"))
def mul(input: Tensor | Number, other: Tensor | Number) -> Tensor:
    """input * other, broadcasting (``torch.mul``); errors as :func:`add`."""
    return _binary(MulFn, "mul", input, other)


@tensor_args(or_number=("input", "other"))
def div(input: Tensor | Number, other: Tensor | Number) -> Tensor:
    """input / other (true division), broadcasting (``torch.div``); errors as :func:`add`."""
    return _binary(DivFn, "div", input, other)


@tensor_args(or_number=("input", "exponent"))
def pow(input: Tensor | Number, exponent: Tensor | Number) -> Tensor:
    """input ** exponent; either may be a tensor or a number, not both numbers (``torch.pow``).

    Raises TypeError for any other argument, or two numbers.
    """
    if not isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        raise TypeError(f"pow(): expected a Tensor as input or exponent, got "
                        f"{type_name(input)} and {type_name(exponent)}")
    if (isinstance(input, Tensor) and isinstance(exponent, (int, float))
            and not isinstance(exponent, bool)):
        return PowScalarFn.apply(input, exponent)
    return _binary(PowFn, "pow", input, exponent)


def neg(input: Tensor) -> Tensor:
    """-input."""
    return NegFn.apply(input)


@tensor_args("input", "other")
@_autocast.lower_precision
def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product (``torch.matmul``): 1-D, 2-D and batched (N, ..., n, k) @ (..., k, m) with
    broadcast batch dimensions.

    Raises ValueError naming both shapes when the inner dimensions differ or an operand is 0-d.
    """
    a, b = operands(input, other)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both arguments need at least 1 dimension, got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                         f"multiplied "
                         f"({k_a} != {k_b})")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of shapes {tuple(a.shape)} and "
                         f"{tuple(b.shape)} are not "
                         "broadcastable") from None
    return MatmulFn.apply(a, b)


@_autocast.lower_precision
def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of (B, n, k) and (B, k, m) tensors, giving (B, n, m)
    (``torch.bmm``); no broadcasting.

    Raises TypeError for a non-Tensor argument, RuntimeError (PyTorch's messages) when an operand
    is not 3-D or the batch or inner sizes differ.
    """
    tensor_arg("bmm", "input", 1, input)
    tensor_arg("bmm", "mat2", 2, mat2)
    for name, t in (("batch1", input), ("batch2", mat2)):
        if t.ndim != 3:
            raise RuntimeError(f"{name} must be a 3D tensor")
    expected = [input.shape[0], input.shape[2]]
    if list(mat2.shape[:2]) != expected:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"{expected} but got: {list(mat2.shape[:2])}.")
    return MatmulFn.apply(input, mat2)


def compare(ufunc: np.ufunc, a: Any, b: Any) -> Tensor:
    """Elementwise comparison with a NumPy ufunc (np.equal, np.less, ...): a bool tensor, no
    grad."""
    a, b = operands(a, b)
    if a.device != b.device:
        raise RuntimeError(f"comparison: expected tensors on one device, got {a.device} "
                           f"(shape {tuple(a.shape)}) and {b.device} (shape {tuple(b.shape)})")
    try:
        return Tensor._wrap(ufunc(a._data, b._data), a.device)
    except ValueError:
        raise _broadcast_error(ufunc.__name__, a, b) from None


def _comparison(name, ufunc):
    def fn(input, other):
        tensor_arg(name, "input", 1, input)
        tensor_or_number_arg(name, "other", 2, other)
        return compare(ufunc, input, other)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"input {name} other elementwise, broadcasting (``torch.{name}``): a bool "
                  "tensor. ``other`` is a tensor or a number; TypeError for anything else.")
    return fn


eq = _comparison("eq", np.equal)
ne = _comparison("ne", np.not_equal)
lt = _comparison("lt", np.less)
le = _comparison("le", np.less_equal)
gt = _comparison("gt", np.greater)
ge = _comparison("ge", np.greater_equal)


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both tensors have the same shape and the same values (``torch.equal``); the
    dtypes may differ. Raises TypeError for a non-Tensor argument."""
    tensor_arg("equal", "input", 1, input)
    tensor_arg("equal", "other", 2, other)
    if input.device != other.device:
        raise RuntimeError(f"equal: expected tensors on one device, got {input.device} and "
                           f"{other.device}")
    return input.shape == other.shape and bool(np.array_equal(input._data, other._data))


def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """|input - other| <= atol + rtol * |other| elementwise, broadcasting (``torch.isclose``): a
    bool tensor. Infinities are close to themselves; nan only with ``equal_nan``.

    Raises TypeError for a non-Tensor argument or different dtypes, ValueError for shapes that
    do not broadcast.
    """
    tensor_arg("isclose", "input", 1, input)
    tensor_arg("isclose", "other", 2, other)
    if input.dtype != other.dtype:
        raise TypeError(f"isclose: {input.dtype} did not match {other.dtype}")
    if input.device != other.device:
        raise RuntimeError(f"isclose: expected tensors on one device, got {input.device} and "
                           f"{other.device}")
    check_broadcast("isclose", input, other)
    close = np.isclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan)
    return Tensor._wrap(np.asarray(close), input.device)


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """True when :func:`isclose` holds everywhere (``torch.allclose``); same arguments and
    errors."""
    return bool(isclose(input, other, rtol, atol, equal_nan)._data.all())
