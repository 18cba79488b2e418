"""Matrix products beyond matmul: mm, dot, outer, addmm, and einsum.

mm and dot check their operands as PyTorch does (no broadcasting, no 1-D promotion) and then use
:class:`~minicnn.ops.arithmetic.MatmulFn`. einsum is NumPy's, differentiated by einsum again: the
gradient of one operand is the einsum of the output gradient with the other operands.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..autograd import Function, type_name
from ..tensor import Tensor
from . import _autocast
from ._util import host_only, is_number, operands, tensor_arg
from .arithmetic import MatmulFn, _scalar, mul
from .shape import reshape

if TYPE_CHECKING:
    from ..types import Number


class AddmmFn(Function):
    """beta * input + alpha * (a @ b), input broadcast to the product's shape; with beta == 0 the
    input is ignored (nan and inf in it do not propagate), as in PyTorch. Gradients: beta g,
    alpha g b^T, alpha a^T g."""

    @staticmethod
    def forward(ctx, x, a, b, beta, alpha):
        ctx.save_for_backward(a, b)
        ctx.beta, ctx.alpha = beta, alpha
        y = a @ b
        if alpha != 1:
            y = y * alpha
        if beta != 0:
            y = y + (x if beta == 1 else beta * x)
        return y.astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        gx = g * ctx.beta if ctx.needs_input_grad[0] else None
        ga = (g @ b.T) * ctx.alpha if ctx.needs_input_grad[1] else None
        gb = (a.T @ g) * ctx.alpha if ctx.needs_input_grad[2] else None
        return gx, ga, gb, None, None


class EinsumFn(Function):
    """np.einsum over an explicit equation without ellipses ("ij,jk->ik"). The gradient of
    operand i is einsum("<out>,<others>-><operand i>") of g and the other operands; letters of
    operand i that appear nowhere else were summed away, so that gradient is broadcast back along
    them, and a repeated letter (a diagonal, "ii") is written back onto the diagonal."""

    @staticmethod
    def forward(ctx, inputs, output, *xs):
        ctx.save_for_backward(*xs)
        ctx.subs, ctx.output = inputs, output
        return np.asarray(np.einsum(f"{','.join(inputs)}->{output}", *xs))

    @staticmethod
    def backward(ctx, g):
        xs = ctx.saved_tensors
        grads = [None, None]
        for i, (sub, x) in enumerate(zip(ctx.subs, xs)):
            if not ctx.needs_input_grad[2 + i]:
                grads.append(None)
                continue
            others = [(s, y) for j, (s, y) in enumerate(zip(ctx.subs, xs)) if j != i]
            known = set(ctx.output).union(*(s for s, _ in others))
            letters = "".join(dict.fromkeys(sub))  # each letter once, in order
            target = "".join(c for c in letters if c in known)
            spec = ",".join([ctx.output] + [s for s, _ in others]) + "->" + target
            part = np.einsum(spec, g, *(y for _, y in others))
            sizes = dict(zip(sub, x.shape))
            # target keeps letters' order, so size-1 axes for the missing letters broadcast it
            part = part.reshape([part.shape[target.index(c)] if c in target else 1
                                 for c in letters])
            # a size-1 axis of x that einsum broadcast against the others sums back to size 1
            stretched = tuple(k for k, c in enumerate(letters)
                              if sizes[c] == 1 and part.shape[k] != 1)
            if stretched:
                part = part.sum(axis=stretched, keepdims=True)
            full = np.broadcast_to(part, [sizes[c] for c in letters])
            gx = np.zeros(x.shape, dtype=x.dtype)
            np.einsum(f"{sub}->{letters}", gx)[...] = full  # a writable (diagonal) view
            grads.append(gx)
        return tuple(grads)


# ---------------------------------------------------------------- public functions

def _matrix(name, t):
    if t.ndim != 2:
        raise RuntimeError(f"{name} must be a matrix")


@_autocast.lower_precision
def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """The matrix product of an (n, m) and an (m, p) tensor, giving (n, p) (``torch.mm``); no
    broadcasting. Differentiable.

    Raises TypeError for a non-Tensor argument, RuntimeError (PyTorch's messages) for operands
    that are not 2-D, inner sizes that differ, or different dtypes.
    """
    tensor_arg("mm", "input", 1, input)
    tensor_arg("mm", "mat2", 2, mat2)
    _matrix("self", input)
    _matrix("mat2", mat2)
    if input.shape[1] != mat2.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({input.shape[0]}x"
                           f"{input.shape[1]} and {mat2.shape[0]}x{mat2.shape[1]})")
    if input.dtype != mat2.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{type_name(input.dtype).lower()} != {type_name(mat2.dtype).lower()}")
    return MatmulFn.apply(input, mat2)


def dot(input: Tensor, tensor: Tensor) -> Tensor:
    """The inner product of two 1-D tensors of equal length, a 0-d tensor (``torch.dot``);
    differentiable.

    Raises RuntimeError (PyTorch's messages) for operands that are not 1-D, different lengths
    or different dtypes.
    """
    tensor_arg("dot", "input", 1, input)
    tensor_arg("dot", "tensor", 2, tensor)
    if input.ndim != 1 or tensor.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {tensor.ndim}D "
                           "tensors")
    if input.shape[0] != tensor.shape[0]:
        n, m = input.shape[0], tensor.shape[0]
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{n}] and src [{m}] to "
                           f"have the same number of elements, but got {n} and {m} elements "
                           "respectively")
    if input.dtype != tensor.dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found "
                           f"{type_name(input.dtype)} and {type_name(tensor.dtype)}")
    return MatmulFn.apply(input, tensor)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """The outer product of two 1-D tensors: out[i, j] = input[i] * vec2[j] (``torch.outer``,
    also ``ger``); an integer operand takes the other's floating dtype. Differentiable.

    Raises RuntimeError for an operand that is not 1-D.
    """
    tensor_arg("outer", "input", 1, input)
    tensor_arg("outer", "vec2", 2, vec2)
    for name, t in (("self", input), ("vec2", vec2)):
        if t.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t.ndim}-D")
    return mul(reshape(input, (-1, 1)), reshape(vec2, (1, -1)))


@_autocast.lower_precision
def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: Number = 1,
          alpha: Number = 1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2) (``torch.addmm``): mat1 (n, m), mat2 (m, p), input
    broadcastable to (n, p). With beta=0 ``input`` is ignored. Differentiable with respect to
    all three tensors.

    Raises the errors of :func:`mm`, TypeError for a non-number beta or alpha, ValueError when
    input does not broadcast to (n, p).
    """
    tensor_arg("addmm", "input", 1, input)
    tensor_arg("addmm", "mat1", 2, mat1)
    tensor_arg("addmm", "mat2", 3, mat2)
    for name, v in (("beta", beta), ("alpha", alpha)):
        if not is_number(v):
            raise TypeError(f"addmm(): argument '{name}' must be Number, not {type(v).__name__}")
    _matrix("mat1", mat1)
    _matrix("mat2", mat2)
    if mat1.shape[1] != mat2.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({mat1.shape[0]}x"
                           f"{mat1.shape[1]} and {mat2.shape[0]}x{mat2.shape[1]})")
    out_shape = (mat1.shape[0], mat2.shape[1])
    try:
        fits = np.broadcast_shapes(input.shape, out_shape) == out_shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"addmm: input of shape {tuple(input.shape)} does not broadcast to the "
                         f"product's shape {out_shape}")
    x, a = operands(input, mat1)
    return AddmmFn.apply(x, a, mat2, _scalar(beta), _scalar(alpha))


def _parse_einsum(equation, operands):
    """The equation as (input subscripts, output subscript), explicit and without ellipses: an
    ellipsis becomes letters the equation does not use (aligned from the right, as broadcasting
    aligns dimensions), and a missing output becomes the letters used once, in alphabetical
    order after the ellipsis dimensions (NumPy's and PyTorch's implicit mode)."""
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(operands):
        more = "more" if len(operands) > len(subs) else "fewer"
        raise RuntimeError(f"einsum(): {more} operands were provided than specified in the "
                           "equation")
    for part in subs + [out]:
        if any(not (c.isalpha() or c == ".") for c in part) or part.replace("...", "").count("."):
            raise RuntimeError(f"einsum(): invalid subscript given in the equation {equation!r}: "
                               "subscripts are letters, with at most one ellipsis '...' each")
    free = [c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq]
    widths = []
    for k, (sub, t) in enumerate(zip(subs, operands)):
        named = len(sub.replace("...", ""))
        if "..." not in sub and named != t.ndim or named > t.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) "
                               f"does not match the number of dimensions ({t.ndim}) for operand "
                               f"{k}{'' if '...' in sub else ' and no ellipsis was given'}")
        widths.append(t.ndim - named if "..." in sub else 0)
    width = max(widths, default=0)
    ell = "".join(free[:width])
    subs = [sub.replace("...", ell[width - w:]) for sub, w in zip(subs, widths)]
    if not arrow:
        counts = {c: "".join(subs).count(c) for c in "".join(subs) if c not in ell}
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1))
    else:
        out = out.replace("...", ell)
        for c in out:
            if c not in "".join(subs):
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the "
                                   "equation for any input operand")
            if out.count(c) > 1:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once in "
                                   "the output")
    return tuple(subs), out


@_autocast.lower_precision
def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation (``torch.einsum``): ``einsum("ij,jk->ik", a, b)`` is a @ b,
    ``"bij,bjk->bik"`` a batched product, ``"ii->i"`` a diagonal, ``"i,j->ij"`` an outer product;
    "..." stands for broadcast dimensions, and without "->" the output is the letters used once,
    sorted. The operands may also come as one list. Differentiable with respect to every operand.

    Raises TypeError for a non-Tensor operand or a float32/float64 mix, RuntimeError (PyTorch's
    messages) for a malformed equation, operand count or subscript count, ValueError for sizes
    that disagree.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"einsum(): argument 'equation' (position 1) must be str, not "
                        f"{type(equation).__name__}")
    for k, t in enumerate(operands):
        if not isinstance(t, Tensor):
            raise TypeError(f"einsum(): expected Tensor as element {k} in argument 1, but got "
                            f"{type(t).__name__}")
    host_only("einsum", *operands)
    subs, out = _parse_einsum(equation, operands)
    sizes: dict[str, int] = {}
    for sub, t in zip(subs, operands):
        for c, n in zip(sub, t.shape):
            if sizes.setdefault(c, n) != n and 1 not in (n, sizes[c]):
                raise ValueError(f"einsum(): subscript {c} has size {n} for an operand, which "
                                 f"does not broadcast with size {sizes[c]} before")
            sizes[c] = n if sizes[c] == 1 else sizes[c]
    return EinsumFn.apply(subs, out, *operands)
