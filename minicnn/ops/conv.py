"""Convolution ops: conv2d and conv_transpose2d (``torch.nn.functional`` names and semantics).

Both run on the device's backend kernels ``conv2d``, ``conv2d_backward_input`` and
``conv2d_backward_weight`` (see minicnn/backends/reference/conv.py for the math). A transposed
convolution is the adjoint of a convolution, so it reuses the same three kernels with the roles
of forward and input-gradient swapped.
"""
import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .shape import pad as _pad
from ._util import c_contiguous as _c

__all__ = ["conv2d", "conv_transpose2d"]


class Conv2d(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        x, weight = _c(x), _c(weight)
        ctx.save_for_backward(x, weight)
        ctx.geometry = stride + padding + dilation + (groups,)
        return ctx.backend.conv2d(x, weight, None if bias is None else _c(bias), *ctx.geometry)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        g = _c(g)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if need_x:
            gx = ctx.backend.conv2d_backward_input(g, weight, x.shape[2], x.shape[3], *ctx.geometry)
        if need_w:
            gw = ctx.backend.conv2d_backward_weight(g, x, weight.shape[2], weight.shape[3],
                                                    *ctx.geometry)
        if need_b:
            gb = ctx.backend.bias_add_backward(g)
        return gx, gw, gb, None, None, None, None


class ConvTranspose2d(Function):
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


def _pair(name, value, minimum):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    value = tuple(value)
    if len(value) != 2 or any(not isinstance(v, (int, np.integer)) or v < minimum for v in value):
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value}")
    return int(value[0]), int(value[1])


def _check(fn, input, weight, bias, groups):
    """Common checks: float input, 4-D (3-D is taken as one unbatched image), 4-D weight, one
    dtype for input, weight and bias, groups.
    Returns (input as 4-D, whether it was unbatched)."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{fn}: input and weight must be Tensors")
    if input.dtype.kind != "f":
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
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive int, got {groups!r}")
    return input, unbatched


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) over an NCHW batch, as ``torch.nn.functional.conv2d``.

    input (N, C_in, H, W) or (C_in, H, W); weight (C_out, C_in / groups, kh, kw); bias (C_out,)
    or None; float32 or float64 (all the same dtype). stride, dilation: int or (h, w) >= 1;
    padding: int or (h, w) >= 0 (zeros), or "valid" (0) or "same" (output size = input size;
    stride 1 only; an odd total padding puts the extra row/column at the bottom/right, as
    PyTorch). Output (N, C_out, Ho, Wo) with Ho = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1.

    Raises TypeError for non-float input or mixed dtypes; ValueError when C_in does not equal
    weight.shape[1] * groups, C_out is not divisible by groups, the bias has the wrong length, or
    the (dilated) kernel is larger than the padded input.
    """
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
    stride = _pair("conv2d: stride", stride, 1)
    dilation = _pair("conv2d: dilation", dilation, 1)
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError("conv2d: padding='same' is not supported for strided convolutions")
            total = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
            extra = (total[0] % 2, total[1] % 2)
            if any(extra):  # the odd extra row/column goes to the bottom/right
                input = _pad(input, (0, extra[1], 0, extra[0]))
                H, W = H + extra[0], W + extra[1]
            padding = (total[0] // 2, total[1] // 2)
        else:
            raise ValueError(f"conv2d: padding must be 'same', 'valid', an int or a pair, "
                             f"got {padding!r}")
    padding = _pair("conv2d: padding", padding, 0)
    Ho = (H + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    Wo = (W + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if Ho < 1 or Wo < 1:
        raise ValueError(f"conv2d: kernel ({kh}, {kw}) with dilation {dilation} is larger than the "
                         f"padded input ({H + 2 * padding[0]}, {W + 2 * padding[1]})")
    y = Conv2d.apply(input, weight, bias, stride, padding, dilation, int(groups))
    return y.squeeze(0) if unbatched else y


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed convolution, the adjoint (gradient) of conv2d, as
    ``torch.nn.functional.conv_transpose2d``: the upsampling half of FCN/U-Net decoders.

    input (N, C_in, H, W) or (C_in, H, W); weight (C_in, C_out / groups, kh, kw); bias (C_out,).
    Output (N, C_out, Ho, Wo) with Ho = (H - 1) sh - 2 ph + dh (kh - 1) + output_padding_h + 1.
    output_padding must be smaller than the stride or the dilation (it only picks among the
    input sizes that a strided conv2d maps to the same output size).

    Raises TypeError/ValueError as conv2d does, naming the argument.
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
    stride = _pair("conv_transpose2d: stride", stride, 1)
    padding = _pair("conv_transpose2d: padding", padding, 0)
    dilation = _pair("conv_transpose2d: dilation", dilation, 1)
    output_padding = _pair("conv_transpose2d: output_padding", output_padding, 0)
    for a in range(2):
        if output_padding[a] >= max(stride[a], dilation[a]):
            raise ValueError(f"conv_transpose2d: output_padding {output_padding} must be smaller "
                             f"than stride {stride} or dilation {dilation}")
    out_hw = tuple((n - 1) * stride[a] - 2 * padding[a] + dilation[a] * (k - 1)
                   + output_padding[a] + 1 for a, (n, k) in enumerate(((H, kh), (W, kw))))
    if min(out_hw) < 1:
        raise ValueError(f"conv_transpose2d: output size {out_hw} is not positive")
    # With output_padding >= stride (allowed when below the dilation), the convolution whose
    # adjoint this is produces more rows/columns than the input has: they are zeros.
    extra = [(out_hw[a] + 2 * padding[a] - dilation[a] * (k - 1) - 1) // stride[a] + 1 - n
             for a, (n, k) in enumerate(((H, kh), (W, kw)))]
    if any(extra):
        input = _pad(input, (0, extra[1], 0, extra[0]))
    y = ConvTranspose2d.apply(input, weight, bias, stride, padding, dilation, int(groups), out_hw)
    return y.squeeze(0) if unbatched else y
