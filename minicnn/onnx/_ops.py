"""The op table of :func:`minicnn.onnx.export`: for each minicnn Function, a converter that adds
the ONNX nodes computing it (see :class:`minicnn.onnx._graph.Call` for what a converter gets).

Shapes are those of the traced run; with a dynamic batch, converters keep the batch axis out of
the constants they write (a Reshape copies it with 0, a Slice leaves its axis alone) and raise
:class:`Unsupported` where the op mixes it with other dimensions.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd import Function
from ..ops import activation as A
from ..ops import arithmetic as R
from ..ops import conv as C
from ..ops import linalg as L
from ..ops import loss as S
from ..ops import pointwise as P
from ..ops import pool as O
from ..ops import reduction as D
from ..ops import shape as H
from ..ops.norm import BatchNormFn, GroupNormFn, InstanceNormFn, LayerNormFn
from ..tensor import Tensor
from ._graph import Call, Unsupported

__all__ = ["OPS"]

_Converter = Callable[[Call], Any]
#: Function class -> converter; a Function missing here raises ExportError naming it
OPS: dict[type[Function], _Converter] = {}


def _op(*classes: type[Function]) -> Callable[[_Converter], _Converter]:
    def register(fn: _Converter) -> _Converter:
        for cls in classes:
            OPS[cls] = fn
        return fn
    return register


def _unary(op_type: str) -> _Converter:
    def convert(call: Call) -> str:
        return call.node(op_type, [call.input(0)])
    return convert


def _binary(op_type: str) -> _Converter:
    def convert(call: Call) -> str:
        return call.node(op_type, [call.input(0), call.input(1)])
    return convert


_UNARY: dict[type[Function], str] = {
    A.ReLUFn: "Relu", A.SigmoidFn: "Sigmoid", A.TanhFn: "Tanh", A.HardSwishFn: "HardSwish",
    A.ExpFn: "Exp", A.LogFn: "Log", A.SqrtFn: "Sqrt", A.AbsFn: "Abs", R.NegFn: "Neg",
    P.ErfFn: "Erf", P.ReciprocalFn: "Reciprocal", P.SinFn: "Sin", P.CosFn: "Cos",
    P.FloorFn: "Floor", P.CeilFn: "Ceil", P.SignFn: "Sign", H.CloneFn: "Identity"}
_BINARY: dict[type[Function], str] = {
    R.AddFn: "Add", R.SubFn: "Sub", R.MulFn: "Mul", R.DivFn: "Div", R.PowFn: "Pow",
    R.MatmulFn: "MatMul"}
OPS.update({cls: _unary(op_type) for cls, op_type in _UNARY.items()})
OPS.update({cls: _binary(op_type) for cls, op_type in _BINARY.items()})


# ------------------------------------------------------------------ activations


@_op(A.HardtanhFn, A.ClampFn)
def _clip(call: Call) -> str:
    """hardtanh / relu6 / clamp: Clip with its bounds as inputs ("" for a missing one); Max and
    Min for clamp's tensor bounds (Clip takes scalars only)."""
    lo, hi = call.args[1], call.args[2]
    if not isinstance(lo, Tensor) and not isinstance(hi, Tensor):
        return call.node("Clip", [call.input(0), "" if lo is None else call.const(lo),
                                  "" if hi is None else call.const(hi)])
    y = call.input(0)
    for i, op_type in ((1, "Max"), (2, "Min")):
        if call.args[i] is not None:
            bound = call.input(i) if isinstance(call.args[i], Tensor) else call.const(call.args[i])
            y = call.node(op_type, [y, bound])
    return y


@_op(A.LeakyReLUFn)
def _leaky_relu(call: Call) -> str:
    return call.node("LeakyRelu", [call.input(0)], alpha=float(call.args[1]))


@_op(A.SiLUFn)
def _silu(call: Call) -> str:
    x = call.input(0)
    return call.node("Mul", [x, call.node("Sigmoid", [x])])


@_op(A.GELUFn)
def _gelu(call: Call) -> str:
    """Opset 17 has no Gelu: 0.5 x (1 + erf(x / sqrt 2)), or the tanh form
    0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))."""
    x = call.input(0)
    if call.args[1] == "tanh":
        cube = call.node("Mul", [call.node("Mul", [x, x]), x])
        inner = call.node("Add", [x, call.node("Mul", [cube, call.const(0.044715)])])
        t = call.node("Tanh", [call.node("Mul", [inner, call.const(math.sqrt(2 / math.pi))])])
    else:
        t = call.node("Erf", [call.node("Div", [x, call.const(math.sqrt(2.0))])])
    half_x = call.node("Mul", [x, call.const(0.5)])
    return call.node("Mul", [half_x, call.node("Add", [t, call.const(1.0)])])


@_op(A.SoftmaxFn, A.LogSoftmaxFn)
def _softmax(call: Call) -> str:
    op_type = "Softmax" if call.cls is A.SoftmaxFn else "LogSoftmax"
    return call.node(op_type, [call.input(0)], axis=int(call.args[1]))


@_op(A.BiasAddFn)
def _bias_add(call: Call) -> str:
    """x (N, C, *) + bias (C,): the bias reshaped to (C, 1, ...) to broadcast."""
    ndim = len(call.shape(0))
    bias = call.node("Reshape", [call.input(1), call.ints([-1] + [1] * (ndim - 2))])
    return call.node("Add", [call.input(0), bias])


# ------------------------------------------------------------------ arithmetic


@_op(R.AddScaledFn)
def _add_scaled(call: Call) -> str:
    """a + alpha * b (add / sub with alpha)."""
    scaled = call.node("Mul", [call.input(1), call.const(call.args[2])])
    return call.node("Add", [call.input(0), scaled])


@_op(R.AddScalarFn, R.MulScalarFn)
def _scalar_operand(call: Call) -> str:
    """x + s, x * s for a Python number s: Add / Mul with s as a constant of x's dtype."""
    op_type = "Add" if call.cls is R.AddScalarFn else "Mul"
    return call.node(op_type, [call.input(0), call.const(call.args[1])])


@_op(R.PowScalarFn)
def _pow_scalar(call: Call) -> str:
    return call.node("Pow", [call.input(0), call.const(call.args[1])])


@_op(P.ExtremumFn)
def _extremum(call: Call) -> str:
    return call.node("Max" if call.args[2] else "Min", [call.input(0), call.input(1)])


@_op(S.LinearFn)
def _linear(call: Call) -> str:
    """Gemm(x, W, b, transB=1) for a 2-D x; MatMul(x, W^T) (+ b) for any other."""
    x, w = call.input(0), call.input(1)
    bias = [call.input(2)] if len(call.args) > 2 and call.args[2] is not None else []
    b = call.batch(0)
    if b is not None and b == len(call.shape(0)) - 1:
        raise Unsupported("the batch dimension is the features axis of the linear map")
    if len(call.shape(0)) == 2:
        return call.node("Gemm", [x, w, *bias], transB=1)
    y = call.node("MatMul", [x, call.node("Transpose", [w], perm=[1, 0])])
    return call.node("Add", [y, *bias]) if bias else y


@_op(S.DropoutFn)
def _dropout(call: Call) -> str:
    """Reached only by a dropout called with training=True in eval mode (the modules and
    ``training=self.training`` skip it): its random mask has no place in an inference graph."""
    raise Unsupported("dropout with training=True draws a random mask; pass "
                      "training=self.training (eval mode then skips it)")


@_op(L.AddmmFn)
def _addmm(call: Call) -> str:
    """beta * input + alpha * (mat1 @ mat2): Gemm."""
    inp, m1, m2, beta, alpha = call.args
    return call.node("Gemm", [call.input(1), call.input(2), call.input(0)],
                     alpha=float(alpha), beta=float(beta))


# ------------------------------------------------------------------ convolution


def _pairs(pair: tuple[int, int]) -> list[int]:
    """(h, w) paddings -> ONNX's [h_begin, w_begin, h_end, w_end]."""
    return [int(pair[0]), int(pair[1]), int(pair[0]), int(pair[1])]


def _activated(call: Call, y: str, activation: str | None) -> str:
    """The node of an op's fused ``activation`` ("relu", "relu6" or None) after output ``y``."""
    if activation == "relu":
        return call.node("Relu", [y])
    if activation == "relu6":
        return call.node("Clip", [y, call.const(0.0), call.const(6.0)])
    return y


@_op(C.Conv2dFn)
def _conv2d(call: Call) -> str:
    x, w, bias, stride, padding, dilation, groups, activation = call.args
    inputs = [call.input(0), call.input(1)] + ([call.input(2)] if bias is not None else [])
    y = call.node("Conv", inputs, kernel_shape=list(w.shape[2:]), strides=list(stride),
                  pads=_pairs(padding), dilations=list(dilation), group=int(groups))
    return _activated(call, y, activation)


@_op(C.ConvTranspose2dFn)
def _conv_transpose2d(call: Call) -> str:
    """ConvTranspose; the output size the trace computed is reached with output_padding (below
    the stride: conv_transpose2d pads the input first when a larger one was asked for)."""
    x, w, bias, stride, padding, dilation, groups, out_hw = call.args
    inputs = [call.input(0), call.input(1)] + ([call.input(2)] if bias is not None else [])
    extra = [out_hw[i] - ((x.shape[2 + i] - 1) * stride[i] - 2 * padding[i]
                          + dilation[i] * (w.shape[2 + i] - 1) + 1) for i in range(2)]
    return call.node("ConvTranspose", inputs, kernel_shape=list(w.shape[2:]),
                     strides=list(stride), pads=_pairs(padding), dilations=list(dilation),
                     group=int(groups), output_padding=extra)


# ------------------------------------------------------------------ pooling


def _pool(call: Call, op_type: str, inputs: list[str] | None = None, **attrs: Any) -> str:
    """A pooling node on x, batched (N, C, H, W) or not (C, H, W: given an N of 1 and back)."""
    x = call.input(0) if inputs is None else inputs[0]
    rest = [] if inputs is None else inputs[1:]
    if len(call.shape(0)) == 4:
        return call.node(op_type, [x, *rest], **attrs)
    y = call.node(op_type, [call.node("Unsqueeze", [x, call.ints([0])]), *rest], **attrs)
    return call.node("Squeeze", [y, call.ints([0])])


@_op(O.MaxPool2dFn)
def _max_pool2d(call: Call) -> str:
    kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode = call.args[1]
    if call.args[2]:
        raise Unsupported("return_indices=True: ONNX's MaxPool indices count over the whole "
                          "tensor, PyTorch's over each plane")
    return _pool(call, "MaxPool", kernel_shape=[kh, kw], strides=[sh, sw], pads=_pairs((ph, pw)),
                 dilations=[dh, dw], ceil_mode=int(ceil_mode))


@_op(O.AvgPool2dFn)
def _avg_pool2d(call: Call) -> str:
    kh, kw, sh, sw, ph, pw, ceil_mode, count_include_pad, divisor = call.args[1]
    if divisor is not None:
        raise Unsupported(f"divisor_override={divisor}: AveragePool always divides by the "
                          "window's size")
    return _pool(call, "AveragePool", kernel_shape=[kh, kw], strides=[sh, sw],
                 pads=_pairs((ph, pw)), ceil_mode=int(ceil_mode),
                 count_include_pad=int(count_include_pad))


def _adaptive_matrix(n: int, out: int, dtype: np.dtype[Any]) -> np.ndarray:
    """(out, n): row i averages adaptive pooling's window i, [floor(i n / out),
    ceil((i + 1) n / out))."""
    m = np.zeros((out, n), dtype=dtype)
    for i in range(out):
        start, stop = (i * n) // out, -((-(i + 1) * n) // out)
        m[i, start:stop] = 1.0 / (stop - start)
    return m


@_op(O.AdaptiveAvgPool2dFn)
def _adaptive_avg_pool2d(call: Call) -> str:
    """GlobalAveragePool for a 1x1 output; AveragePool when the size divides evenly; otherwise
    (windows of different sizes, or overlapping) the exact product with the averaging matrices:
    A_h @ x @ A_w^T."""
    h, w = call.shape(0)[-2:]
    oh, ow = call.args[1], call.args[2]
    if (oh, ow) == (1, 1):
        return _pool(call, "GlobalAveragePool")
    if h % oh == 0 and w % ow == 0:
        k = [h // oh, w // ow]
        return _pool(call, "AveragePool", kernel_shape=k, strides=k)
    rows = call.const(_adaptive_matrix(h, oh, call.dtype))
    cols = call.const(_adaptive_matrix(w, ow, call.dtype).T)
    return call.node("MatMul", [rows, call.node("MatMul", [call.input(0), cols])])


@_op(O.AdaptiveMaxPool2dFn)
def _adaptive_max_pool2d(call: Call) -> str:
    h, w = call.shape(0)[-2:]
    oh, ow, return_indices = call.args[1], call.args[2], call.args[3]
    if return_indices:
        raise Unsupported("return_indices=True has no ONNX equivalent")
    if (oh, ow) == (1, 1):
        return _pool(call, "GlobalMaxPool")
    if h % oh or w % ow:
        raise Unsupported(f"output size {(oh, ow)} does not divide the input's {(h, w)}: the "
                          "windows differ in size, which MaxPool cannot express")
    k = [h // oh, w // ow]
    return _pool(call, "MaxPool", kernel_shape=k, strides=k)


# ------------------------------------------------------------------ normalization


def _ones(call: Call, t: Any, shape: tuple[int, ...], value: float) -> str:
    """Tensor argument ``t``'s name, or a constant of ``value`` when it is None."""
    if t is None:
        return call.const(np.full(shape, value))
    return call.tracer.name_of(t)


@_op(BatchNormFn)
def _batch_norm(call: Call) -> str:
    x, mean, var, weight, bias, training, momentum, eps, activation = call.args
    if training:
        raise Unsupported("it normalizes with the batch's statistics in eval mode "
                          "(track_running_stats=False); export needs running statistics")
    c = (x.shape[1],)
    y = call.node("BatchNormalization",
                  [call.input(0), _ones(call, weight, c, 1.0), _ones(call, bias, c, 0.0),
                   call.input(1), call.input(2)], epsilon=float(eps))
    return _activated(call, y, activation)


@_op(InstanceNormFn)
def _instance_norm(call: Call) -> str:
    x, mean, var, weight, bias, use_input_stats, momentum, eps = call.args
    c = (x.shape[1],)
    scale, shift = _ones(call, weight, c, 1.0), _ones(call, bias, c, 0.0)
    if not use_input_stats:
        return call.node("BatchNormalization", [call.input(0), scale, shift, call.input(1),
                                                call.input(2)], epsilon=float(eps))
    return call.node("InstanceNormalization", [call.input(0), scale, shift], epsilon=float(eps))


@_op(LayerNormFn)
def _layer_norm(call: Call) -> str:
    x, weight, bias, ndim, eps = call.args
    shape = tuple(x.shape[x.ndim - ndim:])
    b = call.batch(0)
    if b is not None and b >= x.ndim - ndim:
        raise Unsupported("it normalizes over the batch dimension")
    inputs = [call.input(0), _ones(call, weight, shape, 1.0)]
    if bias is not None:
        inputs.append(call.input(2))
    return call.node("LayerNormalization", inputs, axis=-int(ndim), epsilon=float(eps))


@_op(GroupNormFn)
def _group_norm(call: Call) -> str:
    """Opset 17 has no GroupNormalization: InstanceNormalization of x viewed as (N, G, -1),
    then the per-channel weight and bias."""
    x, weight, bias, groups, eps = call.args
    n, c = x.shape[0], x.shape[1]
    if call.batch(0) not in (None, 0):
        raise Unsupported("the batch dimension is not the first")
    first = 0 if call.batch(0) == 0 else n
    grouped = call.node("Reshape", [call.input(0), call.ints([first, groups, -1])])
    normed = call.node("InstanceNormalization",
                       [grouped, call.const(np.ones(groups)), call.const(np.zeros(groups))],
                       epsilon=float(eps))
    y = call.node("Reshape", [normed, call.node("Shape", [call.input(0)])])
    affine = (c,) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = call.node("Mul", [y, call.node("Reshape", [call.input(1), call.ints(affine)])])
    if bias is not None:
        y = call.node("Add", [y, call.node("Reshape", [call.input(2), call.ints(affine)])])
    return y


# ------------------------------------------------------------------ reductions


def _reduced_batch(call: Call, axes: tuple[int, ...], keepdim: bool) -> None:
    b = call.batch(0)
    if b is None:
        call.out_batch = None
    elif b in axes:
        raise Unsupported("it reduces over the batch dimension; export with "
                          "dynamic_batch=False")
    else:
        call.out_batch = b if keepdim else b - sum(a < b for a in axes)


@_op(D.MeanFn, D.SumFn)
def _mean_sum(call: Call) -> str:
    x, axes, keepdim = call.args
    axes = tuple(range(x.ndim)) if axes is None else tuple(axes)
    _reduced_batch(call, axes, keepdim)
    return call.reduce("ReduceMean" if call.cls is D.MeanFn else "ReduceSum", call.input(0), axes,
                       keepdim)


@_op(D.ExtremeFn)
def _amax(call: Call) -> str:
    x, axes, keepdim, largest = call.args
    axes = tuple(range(x.ndim)) if axes is None else tuple(axes)
    _reduced_batch(call, axes, keepdim)
    return call.reduce("ReduceMax" if largest else "ReduceMin", call.input(0), axes, keepdim)


# ------------------------------------------------------------------ shapes


@_op(H.ReshapeFn)
def _reshape(call: Call) -> str:
    """Reshape to the traced shape, with the batch axis kept dynamic: 0 (copy the input's) when
    the dimensions up to it are unchanged, -1 when it only moves; anything else mixes it with
    other dimensions."""
    old, new = call.shape(0), tuple(call.out.shape)
    target: list[int] = list(new)
    b = call.batch(0)
    if b is None:
        call.out_batch = None
    elif new[:b + 1] == old[:b + 1] and 0 not in new[b + 1:]:
        target[b] = 0
        call.out_batch = b
    else:
        moved = [j for j in range(len(new)) if new[j] == old[b]
                 and math.prod(new[:j]) == math.prod(old[:b])
                 and math.prod(new[j + 1:]) == math.prod(old[b + 1:])]
        if not moved:
            raise Unsupported(f"the reshape {old} -> {new} merges or splits the batch dimension "
                              f"(axis {b}); export with dynamic_batch=False")
        target[moved[0]] = -1
        call.out_batch = moved[0]
    return call.node("Reshape", [call.input(0), call.ints(target)])


@_op(H.PermuteFn)
def _permute(call: Call) -> str:
    perm = [int(d) for d in call.args[1]]
    b = call.batch(0)
    call.out_batch = None if b is None else perm.index(b)
    return call.node("Transpose", [call.input(0)], perm=perm)


@_op(H.ExpandFn)
def _expand(call: Call) -> str:
    """Expand to the traced shape; 1 on the batch axis keeps the input's (bidirectional
    broadcasting)."""
    shape = list(call.args[1])
    b = call.batch(0)
    if b is not None:
        axis = b + len(shape) - len(call.shape(0))
        shape[axis] = 1
        call.out_batch = axis
    return call.node("Expand", [call.input(0), call.ints(shape)])


@_op(H.ToFn)
def _to(call: Call) -> str:
    x, dtype = call.args[0], np.dtype(call.args[1])
    if dtype == np.dtype(x.dtype):
        return call.node("Identity", [call.input(0)])
    from onnx import helper
    return call.node("Cast", [call.input(0)], to=helper.np_dtype_to_tensor_dtype(dtype))


def _check_axis(call: Call, axis: int, what: str) -> None:
    for i, a in enumerate(call.args):
        if isinstance(a, Tensor) and call.batch(i) == axis:
            raise Unsupported(f"it {what} along the batch dimension; export with "
                              "dynamic_batch=False")


@_op(H.CatFn)
def _cat(call: Call) -> str:
    dim = int(call.args[0])
    _check_axis(call, dim, "concatenates")
    return call.node("Concat", [call.input(i) for i in range(1, len(call.args))], axis=dim)


@_op(H.StackFn)
def _stack(call: Call) -> str:
    dim = int(call.args[0])
    parts = [call.node("Unsqueeze", [call.input(i), call.ints([dim])])
             for i in range(1, len(call.args))]
    b = next((call.batch(i) for i in range(1, len(call.args)) if call.batch(i) is not None),
             None)
    call.out_batch = None if b is None else b + (b >= dim)
    return call.node("Concat", parts, axis=dim)


@_op(H.PadConstantFn)
def _pad_constant(call: Call) -> str:
    """Pad (mode constant); a negative amount crops, as ONNX's Pad does."""
    pairs, value = call.args[1], call.args[2]
    b = call.batch(0)
    if b is not None and pairs[b] != (0, 0):
        raise Unsupported("it pads the batch dimension; export with dynamic_batch=False")
    pads = [lo for lo, _ in pairs] + [hi for _, hi in pairs]
    return call.node("Pad", [call.input(0), call.ints(pads), call.const(value)], mode="constant")


@_op(H.PadIndexedFn)
def _pad_indexed(call: Call) -> str:
    """reflect / replicate / circular padding: the Gathers it is made of, one per dimension."""
    y = call.input(0)
    for dim, index in call.args[1]:
        if dim == call.batch(0):
            raise Unsupported("it pads the batch dimension; export with dynamic_batch=False")
        y = call.node("Gather", [y, call.ints(index)], axis=int(dim))
    return y


def _full(s: slice, n: int) -> bool:
    return s.indices(n) == (0, n, 1)


@_op(H.GetItemFn)
def _getitem(call: Call) -> str:
    """Basic indexing (ints, slices, None, Ellipsis) and one 1-D integer-array index: one
    Slice for the slices, a Gather per int (highest axis first, each drops its axis) and one for
    the array, then Unsqueeze for the Nones."""
    shape = call.shape(0)
    index = call.args[1] if isinstance(call.args[1], tuple) else (call.args[1],)
    used = sum(1 for i in index if i is not None and i is not Ellipsis)
    if any(i is Ellipsis for i in index):
        at = next(k for k, i in enumerate(index) if i is Ellipsis)
        index = index[:at] + (slice(None),) * (len(shape) - used) + index[at + 1:]
    index = tuple(int(i) if isinstance(i, np.ndarray) and i.ndim == 0 and i.dtype.kind in "iu"
                  else i for i in index)
    index = index + (slice(None),) * (len(shape) - sum(i is not None for i in index))
    arrays = [i for i in index if isinstance(i, np.ndarray)]
    if len(arrays) > 1 or any(a.dtype.kind not in "iu" or a.ndim != 1 for a in arrays):
        raise Unsupported("advanced indexing beyond one 1-D integer array (boolean masks, "
                          "several or multi-dimensional arrays) is not exported")
    b = call.batch(0)
    starts, ends, axes, steps = [], [], [], []
    ints: list[tuple[int, int]] = []
    gather: tuple[int, np.ndarray] | None = None
    out_axes: list[int | None] = []  # the input axis (or None for a new one) of each output axis
    axis = 0
    for i in index:
        if i is None:
            out_axes.append(None)
            continue
        n = shape[axis]
        if isinstance(i, slice):
            if not _full(i, n):
                if axis == b:
                    raise Unsupported("it slices the batch dimension; export with "
                                      "dynamic_batch=False")
                start, stop, step = i.indices(n)
                starts.append(start)
                ends.append(stop if stop >= 0 else -n - 1)  # a negative step running to 0
                axes.append(axis)
                steps.append(step)
            out_axes.append(axis)
        elif isinstance(i, np.ndarray):
            if axis == b:
                raise Unsupported("it indexes the batch dimension; export with "
                                  "dynamic_batch=False")
            gather = (axis, i)
            out_axes.append(axis)
        elif isinstance(i, (int, np.integer)) and not isinstance(i, bool):
            if axis == b:
                raise Unsupported("it indexes the batch dimension; export with "
                                  "dynamic_batch=False")
            ints.append((axis, int(i) % n))
        else:
            raise Unsupported(f"the index {i!r} is not exported")
        axis += 1
    y = call.input(0)
    if axes:
        y = call.node("Slice", [y, call.ints(starts), call.ints(ends), call.ints(axes),
                                call.ints(steps)])
    for a, k in sorted(ints, reverse=True):
        y = call.node("Gather", [y, call.const(np.int64(k), np.int64)], axis=a)
    if gather is not None:
        a, array = gather
        a -= sum(1 for ax, _ in ints if ax < a)
        y = call.node("Gather", [y, call.const(array.astype(np.int64), np.int64)], axis=a)
    new = [k for k, ax in enumerate(out_axes) if ax is None]
    if new:
        y = call.node("Unsqueeze", [y, call.ints(new)])
    call.out_batch = None if b is None else out_axes.index(b)
    return y if y != call.input(0) else call.node("Identity", [y])
