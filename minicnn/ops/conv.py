"""Convolution ops: conv2d and conv_transpose2d (``torch.nn.functional`` names and semantics).

Both run on the device's backend kernels ``conv2d``, ``conv2d_backward_input`` and
``conv2d_backward_weight`` (see minicnn/backends/reference/conv.py for the math). A transposed
convolution is the adjoint of a convolution, so it reuses the same three kernels with the roles
of forward and input-gradient swapped.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..autograd import Function, is_floating_dtype
from ..backends.reference.elementwise import activation_grad
from ..geometry import (
    GeometryError,
    check_output_padding,
    conv_output_size,
    conv_padding,
    conv_transpose_output_size,
    integer,
    output_size,
    pair,
    resolve_padding,
)
from ..tensor import Tensor
from . import _autocast
from ._util import c_contiguous as _c
from ._util import check_activation, tensor_args
from .shape import pad as _pad

if TYPE_CHECKING:
    from ..types import IntPair

__all__ = ["conv2d", "conv2d_activation", "conv_transpose2d"]


class Conv2dFn(Function):
    """conv2d, and ``activation`` ("relu", "relu6" or None) applied with the bias in the
    kernel's epilogue; its backward masks the gradient with the saved output first."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, activation):
        x, weight = _c(x), _c(weight)
        ctx.geometry = stride + padding + dilation + (groups,)
        act = {} if activation is None else {"activation": activation}
        y = ctx.backend.conv2d(x, weight, None if bias is None else _c(bias), *ctx.geometry,
                               **act)
        ctx.save_for_backward(x, weight, None if activation is None else y)
        ctx.activation = activation
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight, y = ctx.saved_tensors
        g = _c(g)
        if ctx.activation == "relu":
            g = ctx.backend.relu_backward(g, y)
        elif ctx.activation == "relu6":  # the mask of HardtanhFn, which relu6 runs unfused
            g = activation_grad(g, y, "relu6")
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if need_x:
            gx = ctx.backend.conv2d_backward_input(g, weight, x.shape[2], x.shape[3], *ctx.geometry)
        if need_w:
            gw = ctx.backend.conv2d_backward_weight(g, x, weight.shape[2], weight.shape[3],
                                                    *ctx.geometry)
        if need_b:
            gb = ctx.backend.bias_add_backward(g)
        return gx, gw, gb, None, None, None, None, None


class ConvTranspose2dFn(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, out_hw):
        x, weight = _c(x), _c(weight)
        ctx.save_for_backward(x, weight)
        ctx.geometry = stride + padding + dilation + (groups,)
        y = ctx.backend.conv2d_backward_input(x, weight, out_hw[0], out_hw[1], *ctx.geometry)
        return y if bias is None else ctx.backend.bias_add(y, _c(bias))

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        g = _c(g)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = ctx.backend.conv2d(g, weight, None, *ctx.geometry) if need_x else None
        gw = (ctx.backend.conv2d_backward_weight(x, g, weight.shape[2], weight.shape[3],
                                                 *ctx.geometry) if need_w else None)
        gb = ctx.backend.bias_add_backward(g) if need_b else None
        return gx, gw, gb, None, None, None, None, None


def _check(fn, input, weight, bias, groups):
    """Common checks: float input, 4-D (3-D is taken as one unbatched image), 4-D weight, one
    dtype for input, weight and bias, groups.
    Returns (input as 4-D, whether it was unbatched)."""
    if not is_floating_dtype(input.dtype):
        raise TypeError(f"{fn}: input must be float32 or float64, got {input.dtype}")
    unbatched = input.ndim == 3
    if unbatched:
        input = input.unsqueeze(0)
    if input.ndim != 4:
        raise ValueError(f"{fn}: input must be (N, C, H, W) or (C, H, W), got shape "
                         f"{tuple(input.shape)}")
    if weight.ndim != 4:
        raise ValueError(f"{fn}: weight must be 4-D, got shape {tuple(weight.shape)}")
    if weight.dtype != input.dtype:
        raise TypeError(f"{fn}: input has dtype {input.dtype} but weight has dtype {weight.dtype}")
    if bias is not None and bias.dtype != input.dtype:
        raise TypeError(f"{fn}: input has dtype {input.dtype} but bias has dtype {bias.dtype}")
    if integer(groups, "groups", fn) < 1:
        raise ValueError(f"{fn}: groups must be a positive int, got {groups!r}")
    return input, unbatched


@tensor_args("input", "weight", optional=("bias",))
@_autocast.lower_precision
def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1,
           padding: IntPair | str = 0, dilation: IntPair = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) over an NCHW batch, as ``torch.nn.functional.conv2d``.

    input (N, C_in, H, W) or (C_in, H, W); weight (C_out, C_in / groups, kh, kw); bias (C_out,)
    or None; float32 or float64 (all the same dtype). stride, dilation: int or (h, w) >= 1;
    padding: int or (h, w) >= 0 (zeros), or "valid" (0) or "same" (output size = input size;
    stride 1 only; an odd total padding puts the extra row/column at the bottom/right, as
    PyTorch). Output (N, C_out, Ho, Wo) with Ho = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1.

    Raises TypeError for a non-Tensor input, weight or bias, non-float input or mixed dtypes, or
    a non-int stride, padding, dilation or groups; ValueError when C_in does not equal
    weight.shape[1] * groups, C_out is not divisible by groups, or the bias has the wrong length;
    :class:`~minicnn.geometry.GeometryError` (a ValueError and a RuntimeError, as PyTorch raises)
    for a stride or dilation < 1, a padding < 0, a tuple of the wrong length, a bad padding
    string, padding="same" with a stride, a (dilated) kernel larger than the padded input, or a
    size beyond int64.
    """
    return conv2d_activation(input, weight, bias, stride, padding, dilation, groups, None)


def conv2d_activation(input: Tensor, weight: Tensor, bias: Tensor | None, stride: IntPair,
                      padding: IntPair | str, dilation: IntPair, groups: int,
                      activation: str | None) -> Tensor:
    """``activation(conv2d(input, weight, bias, ...))`` in one op: :func:`conv2d`'s arguments,
    checks and result, then ``activation`` "relu" (``torch.relu``), "relu6"
    (``torch.nn.functional.relu6``) or None applied together with the bias in one pass over the
    output (the C kernel's epilogue), gradients included; what ``nn.Sequential`` runs in
    inference for Conv2d -> BatchNorm2d (folded) -> ReLU. The result equals the ops run one
    after the other. Takes Tensors only and does not autocast (conv2d's decorators do both for
    it). Raises as :func:`conv2d`, and ValueError for another activation."""
    check_activation("conv2d_activation", activation)
    input, unbatched = _check("conv2d", input, weight, bias, groups)
    N, C, H, W = input.shape
    K, Cg, kh, kw = weight.shape
    if Cg * groups != C:
        raise ValueError(f"conv2d: input has {C} channels but weight {tuple(weight.shape)} with "
                         f"groups={groups} expects {Cg * groups} (weight.shape[1] * groups)")
    if K % groups:
        raise ValueError(f"conv2d: out channels {K} (weight.shape[0]) are not divisible by "
                         f"groups={groups}")
    if bias is not None and bias.shape != (K,):
        raise ValueError(f"conv2d: bias must have shape ({K},), got {tuple(bias.shape)}")
    stride = pair(stride, "stride", "conv2d", 1)
    dilation = pair(dilation, "dilation", "conv2d", 1)
    padding = conv_padding(padding, stride, "conv2d")
    (top, bottom), (left, right) = resolve_padding(padding, (kh, kw), dilation)
    if (bottom, right) != (top, left):  # "same": the odd extra row/column goes bottom/right
        input = _pad(input, (0, right - left, 0, bottom - top))
        H, W = H + bottom - top, W + right - left
    padding = (top, left)
    output_size("conv2d", (H, W), (kh, kw), stride, padding, dilation)
    y = Conv2dFn.apply(input, weight, bias, stride, padding, dilation, int(groups), activation)
    return y.squeeze(0) if unbatched else y


@tensor_args("input", "weight", optional=("bias",))
@_autocast.lower_precision
def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: IntPair = 1, padding: IntPair = 0, output_padding: IntPair = 0,
                     groups: int = 1, dilation: IntPair = 1) -> Tensor:
    """Transposed convolution, the adjoint (gradient) of conv2d, as
    ``torch.nn.functional.conv_transpose2d``: the upsampling half of FCN/U-Net decoders.

    input (N, C_in, H, W) or (C_in, H, W); weight (C_in, C_out / groups, kh, kw); bias (C_out,).
    Output (N, C_out, Ho, Wo) with Ho = (H - 1) sh - 2 ph + dh (kh - 1) + output_padding_h + 1.
    output_padding must be smaller than the stride or the dilation (it only picks among the
    input sizes that a strided conv2d maps to the same output size).

    Raises TypeError/ValueError/GeometryError as conv2d does, naming the argument (TypeError
    for a padding string), and GeometryError for an output_padding too large or an output size
    below 1.
    """
    input, unbatched = _check("conv_transpose2d", input, weight, bias, groups)
    N, C, H, W = input.shape
    Cin, Kg, kh, kw = weight.shape
    if Cin != C:
        raise ValueError(f"conv_transpose2d: input has {C} channels but weight "
                         f"{tuple(weight.shape)} "
                         f"expects {Cin} (weight.shape[0])")
    if C % groups:
        raise ValueError(f"conv_transpose2d: in channels {C} are not divisible by groups={groups}")
    if bias is not None and bias.shape != (Kg * groups,):
        raise ValueError(f"conv_transpose2d: bias must have shape ({Kg * groups},), got "
                         f"{tuple(bias.shape)}")
    fn = "conv_transpose2d"
    stride = pair(stride, "stride", fn, 1)
    padding = pair(padding, "padding", fn, 0)
    dilation = pair(dilation, "dilation", fn, 1)
    output_padding = pair(output_padding, "output_padding", fn, 0)
    check_output_padding(output_padding, stride, dilation, fn)
    sizes = list(zip((H, W), (kh, kw), stride, padding, output_padding, dilation))
    out_hw = tuple(conv_transpose_output_size(*a) for a in sizes)
    if min(out_hw) < 1:
        raise GeometryError(f"{fn}: output size {out_hw} is not positive (input {(H, W)}, "
                            f"kernel {(kh, kw)}, stride {stride}, padding {padding}, "
                            f"output_padding {output_padding}, dilation {dilation})")
    # With output_padding >= stride (allowed when below the dilation), the convolution whose
    # adjoint this is produces more rows/columns than the input has: they are zeros.
    extra = [conv_output_size(o, k, s, p, d) - n
             for o, (n, k, s, p, _, d) in zip(out_hw, sizes)]
    if any(extra):
        input = _pad(input, (0, extra[1], 0, extra[0]))
    y = ConvTranspose2dFn.apply(input, weight, bias, stride, padding, dilation, int(groups), out_hw)
    return y.squeeze(0) if unbatched else y
