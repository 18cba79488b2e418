"""Shape ops: reshape/view/flatten, transpose/permute/swapaxes, squeeze/unsqueeze,
expand/broadcast_to, repeat/repeat_interleave, meshgrid, indexing (getitem, and index_put:
out-of-place assignment), cat/stack, pieces (chunk, split, unbind, narrow), flip/roll, tril/triu,
pad, and copies (clone, contiguous, to). Most are free views in forward; their
backward moves the gradient back into the input's layout.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..autograd import Function, is_floating_dtype
from ..backends import BACKENDS, to_host
from ..device import as_device
from ..tensor import Tensor
from ._util import (
    as_operand,
    normalize_dim,
    shape_arg,
    tensor_arg,
    tensor_args,
    tensor_or_number_arg,
)

if TYPE_CHECKING:
    from ..types import DeviceLike, DTypeLike, Number, ShapeLike


class ReshapeFn(Function):
    _low_precision = "native"

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class PermuteFn(Function):
    _low_precision = "native"

    @staticmethod
    def forward(ctx, x, dims):
        ctx.inverse = tuple(np.argsort(dims))
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(ctx.inverse), None


class ExpandFn(Function):
    """A broadcast view; the engine sums the gradient back over the expanded dimensions."""
    _low_precision = "native"

    @staticmethod
    def forward(ctx, x, shape):
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return g, None


class CloneFn(Function):
    _low_precision = "native"

    @staticmethod
    def forward(ctx, x):
        return x.copy()  # C order, on the array's device

    @staticmethod
    def backward(ctx, g):
        return g


def _convert(a, dtype, device):
    """A copy of array ``a`` with ``dtype`` on ``device``. Casts happen on the host side of a
    transfer, so a float64 tensor reaches the GPU as float32 without a float64 copy there.
    TypeError for a dtype the device cannot hold (its kernels ``cast`` and ``from_host``)."""
    target = BACKENDS[device.type]
    if isinstance(a, target.array_type):
        return target.cast(a, dtype)
    return target.from_host(to_host(a).astype(dtype, copy=False))


class ToFn(Function):
    """Copy to another dtype and/or device; the gradient goes back to the input's dtype and
    device."""
    _low_precision = "native"

    @staticmethod
    def forward(ctx, x, dtype, device, source):
        ctx.dtype, ctx.source = x.dtype, source
        ctx.output_device = device
        return _convert(x, dtype, device)

    @staticmethod
    def backward(ctx, g):
        return _convert(g, ctx.dtype, ctx.source), None, None, None


class GetItemFn(Function):
    """x[index]. Backward scatters the gradient into zeros: plain assignment for basic indices
    (ints, slices, None, Ellipsis: no position repeats), scatter-add (np.add.at) for integer or
    boolean arrays, where a position may be picked more than once."""
    _low_precision = "native"

    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.index = x.shape, index
        return x[index]

    @staticmethod
    def backward(ctx, g):
        gx = np.zeros_like(g, shape=ctx.shape)  # on g's device
        if _is_basic(ctx.index):
            gx[ctx.index] = g
        else:
            np.add.at(gx, ctx.index, g)
        return gx, None


def _put(x, where, values, add):
    """A copy of x with ``values`` at x[where], or added there when ``add`` (repeated positions
    adding up)."""
    y = x.copy()
    if add:
        np.add.at(y, where, values)
    else:
        y[where] = values
    return y


def _put_input_grad(g, where, add):
    """The gradient of _put's x: g, without the overwritten positions unless ``add``."""
    if add:
        return g
    g = g.copy()
    g[where] = 0
    return g


class IndexPutFn(Function):
    """A copy of x with x[index] = value (``accumulate``: x[index] += value, repeated positions
    adding up). Backward: the input's gradient everywhere except the overwritten positions
    (everywhere when accumulating); the value's gradient gathered from those positions."""

    @staticmethod
    def forward(ctx, x, index, value, accumulate):
        ctx.index, ctx.accumulate, ctx.value_ndim = index, accumulate, value.ndim
        return _put(x, index, value, accumulate)

    @staticmethod
    def backward(ctx, g):
        gx = gv = None
        if ctx.needs_input_grad[0]:
            gx = _put_input_grad(g, ctx.index, ctx.accumulate)
        if ctx.needs_input_grad[2]:
            gv = g[ctx.index]
            # a value may carry extra leading 1s (x[0] = v of shape (1, n)); the engine sums
            # the rest of the broadcast away
            if gv.ndim < ctx.value_ndim:
                gv = gv.reshape((1,) * (ctx.value_ndim - gv.ndim) + gv.shape)
        return gx, None, gv, None


class RepeatFn(Function):
    """np.tile semantics: x (shape n, with leading 1s up to len(sizes)) repeated sizes[i] times
    along each dimension i. Forward broadcasts x to (s0, n0, s1, n1, ...) and merges each pair;
    backward splits the gradient the same way and sums over the s axes."""
    _low_precision = "native"

    @staticmethod
    def forward(ctx, x, sizes):
        n = (1,) * (len(sizes) - x.ndim) + x.shape
        ctx.shape, ctx.split = x.shape, tuple(v for pair in zip(sizes, n) for v in pair)
        lifted = x.reshape(tuple(v for k in n for v in (1, k)))
        return np.broadcast_to(lifted, ctx.split).reshape(tuple(s * k for s, k in zip(sizes, n)))

    @staticmethod
    def backward(ctx, g):
        g = g.reshape(ctx.split).sum(axis=tuple(range(0, len(ctx.split), 2)))
        return g.reshape(ctx.shape), None


class CatFn(Function):
    _low_precision = "native"

    @staticmethod
    def forward(ctx, dim, *xs):
        ctx.dim = dim
        ctx.splits = np.cumsum([x.shape[dim] for x in xs])[:-1]
        return np.concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return (None,) + tuple(np.split(g, ctx.splits, axis=ctx.dim))


class StackFn(Function):
    _low_precision = "native"

    @staticmethod
    def forward(ctx, dim, *xs):
        ctx.dim, ctx.n = dim, len(xs)
        return np.stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return (None,) + tuple(np.take(g, i, axis=ctx.dim) for i in range(ctx.n))


class PadConstantFn(Function):
    """Constant padding; a negative pad crops. The input block is copied into a filled output,
    and backward reads the gradient of that block back out."""

    @staticmethod
    def forward(ctx, x, pairs, value):
        src, dst, out_shape = [], [], []
        for n, (lo, hi) in zip(x.shape, pairs):
            start, stop = -lo if lo < 0 else 0, n + hi if hi < 0 else n
            out_start = lo if lo > 0 else 0
            src.append(slice(start, stop))
            dst.append(slice(out_start, out_start + stop - start))
            out_shape.append(n + lo + hi)
        ctx.shape, ctx.src, ctx.dst = x.shape, tuple(src), tuple(dst)
        y = np.full(out_shape, value, dtype=x.dtype)
        y[ctx.dst] = x[ctx.src]
        return y

    @staticmethod
    def backward(ctx, g):
        gx = np.zeros(ctx.shape, dtype=g.dtype)
        gx[ctx.src] = g[ctx.dst]
        return gx, None, None


class PadIndexedFn(Function):
    """reflect / replicate / circular padding as a gather: along each padded dimension, output
    position i reads input position index[i]. Backward scatter-adds in reverse order."""

    @staticmethod
    def forward(ctx, x, indices):
        ctx.shapes = []
        for dim, index in indices:
            ctx.shapes.append(x.shape)
            x = np.take(x, index, axis=dim)
        ctx.indices = indices
        return x

    @staticmethod
    def backward(ctx, g):
        for (dim, index), shape in zip(reversed(ctx.indices), reversed(ctx.shapes)):
            gx = np.zeros(shape, dtype=g.dtype)
            np.add.at(gx, (slice(None),) * dim + (index,), g)
            g = gx
        return g, None


class FlipFn(Function):
    """The order of the elements reversed along ``dims`` (a copy, as in PyTorch)."""
    _low_precision = "native"

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return np.flip(x, axis=dims).copy()

    @staticmethod
    def backward(ctx, g):
        return np.flip(g, axis=ctx.dims), None


class RollFn(Function):
    """Elements shifted cyclically by ``shifts`` along ``dims``; backward shifts back."""
    _low_precision = "native"

    @staticmethod
    def forward(ctx, x, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        return np.roll(x, shifts, axis=dims)

    @staticmethod
    def backward(ctx, g):
        return np.roll(g, tuple(-s for s in ctx.shifts), axis=ctx.dims), None, None


class TriangleFn(Function):
    """The lower (tril) or upper (triu) triangle of the last two dimensions, the rest zeroed;
    the gradient passes through the kept triangle only."""

    @staticmethod
    def forward(ctx, x, diagonal, lower):
        rows, cols = x.shape[-2:]
        keep = np.tri(rows, cols, diagonal, dtype=bool) if lower else \
            ~np.tri(rows, cols, diagonal - 1, dtype=bool)
        ctx.save_for_backward(keep)
        return np.where(keep, x, x.dtype.type(0))

    @staticmethod
    def backward(ctx, g):
        (keep,) = ctx.saved_tensors
        return np.where(keep, g, g.dtype.type(0)), None, None


# ---------------------------------------------------------------- index helpers

def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (slice, int, np.integer))
               and not isinstance(i, bool) for i in items)


def to_index(index: Any) -> Any:
    """An index with tensors and lists replaced by ndarrays (lists index like arrays)."""
    if isinstance(index, tuple):
        return tuple(to_index(i) for i in index)
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, list):
        return np.asarray(index)
    return index


# ---------------------------------------------------------------- public functions

@tensor_args("input")
def reshape(input: Tensor, *shape: ShapeLike) -> Tensor:
    """The same elements in a new shape; one dimension may be -1 (``torch.reshape``).

    Raises ValueError when the element counts differ.
    """
    shape = shape_arg(shape, "reshape", "shape")
    try:
        return ReshapeFn.apply(input, shape)
    except ValueError:
        raise ValueError(f"reshape: shape {shape} is invalid for input of shape "
                         f"{tuple(input.shape)} "
                         f"({input.numel()} elements)") from None


view = reshape


@tensor_args("input")
def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions start_dim..end_dim into one (``torch.flatten``)."""
    if input.ndim == 0:
        return reshape(input, 1)
    s = normalize_dim(start_dim, input.ndim, "start_dim")
    e = normalize_dim(end_dim, input.ndim, "end_dim")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = input.shape[:s] + (int(np.prod(input.shape[s:e + 1])),) + input.shape[e + 1:]
    return reshape(input, shape)


@tensor_args("input")
def permute(input: Tensor, *dims: ShapeLike) -> Tensor:
    """Reorder the dimensions (``torch.permute``); ``dims`` must be a permutation of them."""
    order = tuple(normalize_dim(d, input.ndim) for d in shape_arg(dims, "permute", "dims"))
    if sorted(order) != list(range(input.ndim)):
        raise ValueError(f"permute: dims {order} are not a permutation of the {input.ndim} "
                         f"dimensions of shape {tuple(input.shape)}")
    return PermuteFn.apply(input, order)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions (``torch.transpose``)."""
    dims = list(range(input.ndim))
    a, b = normalize_dim(dim0, input.ndim), normalize_dim(dim1, input.ndim)
    dims[a], dims[b] = dims[b], dims[a]
    return PermuteFn.apply(input, tuple(dims))


def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    """Swap two dimensions (``torch.swapaxes``, NumPy's name for :func:`transpose`)."""
    return transpose(tensor_arg("swapaxes", "input", 1, input), axis0, axis1)


def swapdims(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions (``torch.swapdims``, an alias of :func:`transpose`)."""
    return transpose(tensor_arg("swapdims", "input", 1, input), dim0, dim1)


def repeat(input: Tensor, *sizes: ShapeLike) -> Tensor:
    """Tile ``input`` sizes[i] times along dimension i (``torch.Tensor.repeat``; NumPy's tile);
    with more sizes than dimensions, the input is first viewed with leading size-1 dimensions.
    ``sizes`` as ints or one tuple/list. The gradient sums over the copies.

    Raises TypeError for a non-int size, RuntimeError (PyTorch's messages) for fewer sizes than
    dimensions or a negative size.
    """
    tensor_arg("repeat", "input", 1, input)
    given: tuple[Any, ...] = sizes
    if len(given) == 1 and isinstance(given[0], (list, tuple)):
        given = tuple(given[0])
    for s in given:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"repeat(): argument 'repeats' must be a tuple of ints, but found "
                            f"element of type {type(s).__name__}")
    reps = tuple(int(s) for s in given)
    if len(reps) < input.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                           "of dimensions of tensor")
    n = (1,) * (len(reps) - input.ndim) + input.shape
    out = [s * k for s, k in zip(reps, n)]
    if any(s < 0 for s in reps):
        raise RuntimeError(f"Trying to create tensor with negative dimension "
                           f"{next(v for v in out if v < 0)}: {out}")
    return RepeatFn.apply(input, reps)


def _repeats_array(repeats, n, dim):
    """``repeats`` (int, or 0-d / 1-D integer tensor) as n non-negative counts for the n
    elements along dimension ``dim``."""
    if isinstance(repeats, Tensor):
        r = repeats.cpu().numpy()
        if r.dtype.kind not in "iu":
            raise TypeError(f"repeat_interleave: repeats must be an integer tensor, got {r.dtype}")
        if r.ndim > 1:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        if r.ndim == 1 and r.size != 1 and r.size != n:
            raise RuntimeError(f"repeats must have the same size as input along dim, but got "
                               f"repeats.size(0) = {r.size} and input.size({dim}) = {n}")
        if (r < 0).any():
            raise RuntimeError("repeats can not be negative")
        return np.broadcast_to(r.reshape(-1) if r.size != 1 else r.reshape(()), (n,))
    if not isinstance(repeats, (int, np.integer)) or isinstance(repeats, bool):
        raise TypeError(f"repeat_interleave(): argument 'repeats' must be int or Tensor, not "
                        f"{type(repeats).__name__}")
    if repeats < 0:
        raise RuntimeError("Repeats must be non-negative")
    return np.full(n, int(repeats))


def repeat_interleave(input: Tensor, repeats: Tensor | int | None = None, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    """Repeat each element ``repeats`` times along ``dim`` (``torch.repeat_interleave``): with
    dim=None the input is flattened first. ``repeats`` is an int or an integer tensor with one
    count per element along dim (or a single count). The gradient sums over the copies.

    ``repeat_interleave(repeats)`` (a 1-D integer tensor alone) gives the indices
    0 (repeats[0] times), 1 (repeats[1] times), ...

    ``output_size`` (the total length along dim) is accepted, as PyTorch's hint, and checked.
    Raises TypeError for a non-Tensor input or a non-integer ``repeats``, RuntimeError for
    negative counts or a count tensor of the wrong size, IndexError for a bad ``dim``.
    """
    tensor_arg("repeat_interleave", "input", 1, input)
    if repeats is None:  # repeat_interleave(repeats): indices
        if input.ndim != 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        counts = _repeats_array(input, input.shape[0], 0)
        index = np.repeat(np.arange(input.shape[0], dtype=np.int64), counts)
        return Tensor._wrap(index, input.device)
    if dim is None:
        input, d = reshape(input, -1), 0
    else:
        d = normalize_dim(dim, input.ndim)
    if input.ndim == 0:  # a 0-d input with a dim: one element along it
        input = reshape(input, 1)
    n = input.shape[d]
    counts = _repeats_array(repeats, n, d)
    index = np.repeat(np.arange(n, dtype=np.int64), counts)
    if output_size is not None and output_size != index.size:
        raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match the "
                           f"total of the repeats, {index.size}")
    return GetItemFn.apply(input, (slice(None),) * d + (index,))


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 0-d or 1-D tensors (``torch.meshgrid``): output i holds tensor i
    along dimension i, broadcast over the others; every output has shape (n0, n1, ...).
    ``indexing="xy"`` swaps the first two dimensions (NumPy's Cartesian default). The tensors
    may be passed as one list or tuple. Outputs are broadcast views; gradients sum back.

    Raises TypeError for a non-Tensor element, RuntimeError (PyTorch's messages) for an empty
    list, an unknown ``indexing``, a tensor with more than 1 dimension, or differing dtypes or
    devices.
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"meshgrid(): expected Tensor as element {i} in argument 0, but got "
                            f"{type(t).__name__}")
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: '
                           f'{indexing}')
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but "
                               f"got a tensor of shape {tuple(t.shape)}")
        if t.dtype != tensors[0].dtype:
            raise RuntimeError("meshgrid expects all tensors to have the same dtype")
        if t.device != tensors[0].device:
            raise RuntimeError("meshgrid expects all tensors to have the same device")
    axes = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        axes[0], axes[1] = 1, 0
    sizes = [t.numel() for t in tensors]
    shape = [0] * len(tensors)
    for axis, n in zip(axes, sizes):
        shape[axis] = n
    grids = []
    for t, axis in zip(tensors, axes):
        lifted = [1] * len(tensors)
        lifted[axis] = shape[axis]
        grids.append(ExpandFn.apply(reshape(t, tuple(lifted)), tuple(shape)))
    return tuple(grids)


@tensor_args("input")
def squeeze(input: Tensor, dim: ShapeLike | None = None) -> Tensor:
    """Drop dimensions of size 1: all of them, or those in ``dim`` (int or tuple); naming a
    dimension whose size is not 1 leaves it (as PyTorch)."""
    dims: Sequence[int]
    if dim is None:
        dims = range(input.ndim)
    else:
        dims = [normalize_dim(d, input.ndim)
                for d in (dim if isinstance(dim, (tuple, list)) else (dim,))]
    drop = {d for d in dims if input.ndim and input.shape[d] == 1}
    return reshape(input, tuple(n for i, n in enumerate(input.shape) if i not in drop))


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a dimension of size 1 at ``dim`` in [-ndim-1, ndim] (``torch.unsqueeze``)."""
    d = normalize_dim(dim, input.ndim + 1)
    return reshape(input, input.shape[:d] + (1,) + input.shape[d:])


@tensor_args("input")
def expand(input: Tensor, *sizes: ShapeLike) -> Tensor:
    """Broadcast view to ``sizes`` (-1 keeps a dimension); only size-1 dimensions stretch, and
    new dimensions may be added in front (``torch.Tensor.expand``). ValueError otherwise."""
    sizes = shape_arg(sizes, "expand")
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise ValueError(f"expand: target {sizes} has fewer dimensions than input "
                         f"{tuple(input.shape)}")
    target = []
    for i, n in enumerate(sizes):
        old = input.shape[i - lead] if i >= lead else None
        if n == -1:
            if old is None:
                raise ValueError(f"expand: -1 is not allowed for the new leading dimension {i}")
            n = old
        if old is not None and old != 1 and old != n:
            raise ValueError(f"expand: the expanded size {n} must match the existing size {old} "
                             f"at dimension {i} (input {tuple(input.shape)}, target {sizes})")
        target.append(n)
    return ExpandFn.apply(input, tuple(target))


@tensor_args("input")
def clone(input: Tensor) -> Tensor:
    """A differentiable copy (C-contiguous)."""
    return CloneFn.apply(input)


@tensor_args("input")
def contiguous(input: Tensor) -> Tensor:
    """This tensor if its memory is C-contiguous, else a contiguous differentiable copy."""
    return input if input._data.flags.c_contiguous else CloneFn.apply(input)


@tensor_args("input")
def to(input: Tensor, dtype: DTypeLike | None = None, device: DeviceLike = None) -> Tensor:
    """Convert dtype and/or device (``torch.Tensor.to``); returns ``input`` itself when nothing
    changes. Raises RuntimeError when a tensor that requires grad would become non-float, and
    TypeError for a dtype the device cannot hold (anything but float32, int64 and bool on
    "cuda")."""
    dtype = input.dtype if dtype is None else np.dtype(dtype)
    device = input.device if device is None else as_device(device)
    if dtype == input.dtype and device == input.device:
        return input
    if input.requires_grad and not is_floating_dtype(dtype):
        raise RuntimeError(f"to: a tensor that requires grad cannot become {dtype}; detach() first")
    return ToFn.apply(input, dtype, device, input.device)


def getitem(input: Tensor, index: Any) -> Tensor:
    """``input[index]``: ints, slices, None, Ellipsis, integer arrays/lists/tensors and boolean
    masks, with NumPy's semantics; the gradient scatter-adds (repeated indices accumulate)."""
    index = to_index(index)
    try:
        return GetItemFn.apply(input, index)
    except IndexError as e:
        raise IndexError(f"index {index!r} is invalid for a tensor of shape "
                         f"{tuple(input.shape)}: {e}") from None


def index_put(input: Tensor, indices: Any, values: Tensor | Number,
              accumulate: bool = False) -> Tensor:
    """Out-of-place ``input[indices] = values`` (``torch.index_put``): a copy of ``input`` with
    the indexed positions replaced by ``values`` (broadcast to them), or with ``values`` added
    there when ``accumulate`` (repeated positions then add up). ``indices`` is anything
    :func:`getitem` accepts: ints, slices, None, Ellipsis, integer or bool tensors, arrays or
    lists, or a tuple of them. ``values`` is a tensor or a number.

    Gradients: to ``input`` everywhere except the overwritten positions (everywhere with
    ``accumulate``); to ``values`` the gradient gathered from the indexed positions.
    Raises TypeError for a non-Tensor input or values neither tensor nor number, IndexError for
    an invalid index, ValueError when ``values`` does not broadcast to the indexed shape.
    """
    tensor_arg("index_put", "input", 1, input)
    tensor_or_number_arg("index_put", "values", 3, values)
    index = to_index(indices)
    if not isinstance(values, Tensor):
        values = as_operand(input.dtype.type(values), input)
    elif values.dtype != input.dtype and not (is_floating_dtype(values.dtype)
                                              and is_floating_dtype(input.dtype)):
        values = values.to(input.dtype)  # e.g. an int tensor into a float one
    try:
        return IndexPutFn.apply(input, index, values, bool(accumulate))
    except IndexError as e:
        raise IndexError(f"index {index!r} is invalid for a tensor of shape "
                         f"{tuple(input.shape)}: {e}") from None
    except ValueError as e:
        raise ValueError(f"index_put: values of shape {tuple(values.shape)} do not fit the "
                         f"positions {index!r} of a tensor of shape {tuple(input.shape)}: "
                         f"{e}") from None


def _check_sequence(name, tensors):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{name}: expected a list or tuple of tensors, got "
                        f"{type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{name}: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: element {i} is a {type(t).__name__}, not a Tensor")


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing dimension (``torch.cat``). All shapes must agree except
    along ``dim``: ValueError naming the shapes otherwise."""
    _check_sequence("cat", tensors)
    ref = tensors[0]
    d = normalize_dim(dim, ref.ndim)
    for t in tensors[1:]:
        if t.ndim != ref.ndim or t.shape[:d] + t.shape[d + 1:] != ref.shape[:d] + ref.shape[d + 1:]:
            raise ValueError(f"cat: expected all tensors to have the same shape except in "
                             f"dimension {d}, got {tuple(ref.shape)} and {tuple(t.shape)}")
    return CatFn.apply(d, *tensors)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack equal-shaped tensors along a new dimension ``dim`` (``torch.stack``)."""
    _check_sequence("stack", tensors)
    ref = tensors[0]
    for t in tensors[1:]:
        if t.shape != ref.shape:
            raise ValueError(f"stack: expected all tensors to have the same shape, got "
                             f"{tuple(ref.shape)} and {tuple(t.shape)}")
    return StackFn.apply(normalize_dim(dim, ref.ndim + 1), *tensors)


def _pad_index(n, lo, hi, mode):
    i = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return i % n
    i = np.abs(i)  # reflect about the first and the last element
    return np.where(i > n - 1, 2 * (n - 1) - i, i)


@tensor_args("input")
def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad (or, with negative amounts, crop) the last len(pad) // 2 dimensions
    (``torch.nn.functional.pad``).

    ``pad`` = (left, right) for the last dimension, then (top, bottom) for the one before, and
    so on. ``mode``: "constant" (fill with ``value``), "reflect" (mirror, excluding the edge;
    pad < size), "replicate" (repeat the edge, any amount), "circular" (wrap around; pad <= size).
    Raises ValueError for an odd-length or too long ``pad``, an unknown mode, or pad amounts
    the mode cannot take.
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: expected an even number of amounts, at most 2 per dimension "
                         f"({2 * input.ndim} for shape {tuple(input.shape)}), got {pad}")
    k = len(pad) // 2
    pairs = [(0, 0)] * (input.ndim - k) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(k))]
    if mode == "constant":
        for n, (lo, hi) in zip(input.shape, pairs):
            if n + lo + hi < 0:
                raise ValueError(f"pad: {pad} would give a negative size for input "
                                 f"{tuple(input.shape)}")
        return PadConstantFn.apply(input, tuple(pairs), value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', "
                         f"got {mode!r}")
    indices = []
    for dim, (n, (lo, hi)) in enumerate(zip(input.shape, pairs)):
        if lo == hi == 0:
            continue
        # reflect mirrors without the edge (pad < size), circular wraps once (pad <= size),
        # replicate repeats the edge any number of times
        limit = {"reflect": n - 1, "circular": n, "replicate": float("inf")}[mode]
        if lo < 0 or hi < 0 or lo > limit or hi > limit or n == 0:
            raise ValueError(f"pad: {mode} padding of ({lo}, {hi}) is invalid for dimension {dim} "
                             f"of size {n} (input {tuple(input.shape)}); amounts must be in "
                             f"[0, {limit}]")
        indices.append((dim, _pad_index(n, lo, hi, mode)))
    return PadIndexedFn.apply(input, tuple(indices))


# ------------------------------------------------------------- pieces: chunk, split, unbind, narrow

def _int_arg(fn, name, position, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be int, not "
                        f"{type(value).__name__}")
    return int(value)


def _slice(input, d, start, stop):
    """input[..., start:stop, ...] along dimension ``d``: a view, differentiable."""
    return GetItemFn.apply(input, (slice(None),) * d + (slice(start, stop),))


def split(tensor: Tensor, split_size_or_sections: int | Sequence[int],
          dim: int = 0) -> tuple[Tensor, ...]:
    """Views of ``tensor`` cut along ``dim`` (``torch.split``): an int gives pieces of that size
    (the last one smaller when it does not divide); a list gives pieces of those sizes, which must
    add up to the dimension. A tuple of tensors, each differentiable.

    Raises RuntimeError (PyTorch's messages) for a negative size, size 0 on a non-empty
    dimension, or sizes that do not add up; IndexError for a bad ``dim``.
    """
    tensor_arg("split", "tensor", 1, tensor)
    if tensor.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = normalize_dim(dim, tensor.ndim)
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [_int_arg("split", "split_size", 2, s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                               f"(input tensor's size at dimension {d}), but got "
                               f"split_sizes={sizes}")
    else:
        size = _int_arg("split", "split_size", 2, split_size_or_sections)
        if size < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got "
                               f"split_size={size}")
        if size == 0:
            if n:
                raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                                   f"dimension size of {n}")
            return (_slice(tensor, d, 0, 0),)
        sizes = [min(size, n - start) for start in range(0, n, size)] or [0]
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(int)
    return tuple(_slice(tensor, d, int(a), int(a) + s) for a, s in zip(starts, sizes))


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """``chunks`` views of about equal size along ``dim`` (``torch.chunk``): each of size
    ceil(n / chunks), the last smaller, so fewer than ``chunks`` may come back.

    Raises RuntimeError for chunks <= 0 or a 0-d input, TypeError for a non-int ``chunks``.
    """
    tensor_arg("chunk", "input", 1, input)
    chunks = _int_arg("chunk", "chunks", 2, chunks)
    if input.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = input.shape[normalize_dim(dim, input.ndim)]
    if n == 0:  # an empty dimension gives ``chunks`` empty pieces, as PyTorch
        return split(input, [0] * chunks, dim)
    return split(input, -(-n // chunks), dim)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices of ``input`` along ``dim``, that dimension removed (``torch.unbind``): a
    tuple of views, each differentiable. Raises IndexError for a 0-d input or a bad ``dim``."""
    tensor_arg("unbind", "input", 1, input)
    if input.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    d = normalize_dim(dim, input.ndim)
    return tuple(GetItemFn.apply(input, (slice(None),) * d + (i,)) for i in range(input.shape[d]))


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The view input[..., start:start + length, ...] along ``dim`` (``torch.narrow``);
    ``start`` may be negative (counted from the end). Differentiable.

    Raises IndexError for ``start`` outside [-n, n] or a bad ``dim``, RuntimeError for a
    negative ``length`` or a range past the end (PyTorch's messages).
    """
    tensor_arg("narrow", "input", 1, input)
    if isinstance(start, Tensor):
        start = start.item()
    start = _int_arg("narrow", "start", 3, start)
    length = _int_arg("narrow", "length", 4, length)
    if input.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, input.ndim)
    n = input.shape[d]
    if not -n <= start <= n:
        raise IndexError(f"start out of range (expected to be in range of [{-n}, {n}], but got "
                         f"{start})")
    if start < 0:
        start += n
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return _slice(input, d, start, start + length)


# ------------------------------------------------------------- flip, roll, tril, triu, broadcast_to

def _dims_arg(fn, dims, ndim):
    """``dims`` (a tuple or list of ints) as distinct non-negative dimensions."""
    if isinstance(dims, (int, np.integer)) or not isinstance(dims, (list, tuple)):
        raise TypeError(f"{fn}(): argument 'dims' (position 2) must be tuple of ints, not "
                        f"{type(dims).__name__}")
    out = tuple(normalize_dim(d, ndim) for d in dims)
    for d in out:
        if out.count(d) > 1:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    return out


def flip(input: Tensor, dims: ShapeLike) -> Tensor:
    """A copy of ``input`` with the order of the elements reversed along each of ``dims``
    (``torch.flip``); differentiable.

    Raises TypeError when ``dims`` is not a tuple or list of ints, RuntimeError for a dimension
    named twice, IndexError for one out of range.
    """
    tensor_arg("flip", "input", 1, input)
    dims = _dims_arg("flip", dims, input.ndim)
    if input.ndim == 0 or not dims:
        return clone(input)
    return FlipFn.apply(input, dims)


def roll(input: Tensor, shifts: ShapeLike, dims: ShapeLike | None = None) -> Tensor:
    """``input`` shifted cyclically by ``shifts`` along ``dims`` (``torch.roll``): elements
    pushed past the end come back at the start. ``shifts`` and ``dims`` are ints or equally long
    tuples; without ``dims`` the tensor is flattened, rolled and reshaped. Differentiable.

    Raises RuntimeError (PyTorch's message) when shifts and dims do not pair up, IndexError for
    a bad dimension.
    """
    tensor_arg("roll", "input", 1, input)
    steps = tuple(_int_arg("roll", "shifts", 2, s)
                  for s in (shifts if isinstance(shifts, (list, tuple)) else (shifts,)))
    if dims is None:
        if len(steps) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(steps)}, dims:0")
        return reshape(RollFn.apply(reshape(input, -1), steps, (0,)), input.shape)
    axes = tuple(dims) if isinstance(dims, (list, tuple)) else (dims,)
    if len(steps) != len(axes):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(steps)}, "
                           f"dims:{len(axes)}")
    (x,) = (reshape(input, 1),) if input.ndim == 0 else (input,)
    out = RollFn.apply(x, steps, tuple(normalize_dim(d, x.ndim) for d in axes))
    return reshape(out, ()) if input.ndim == 0 else out


def _triangle(fn, input, diagonal, lower):
    tensor_arg(fn, "input", 1, input)
    diagonal = _int_arg(fn, "diagonal", 2, diagonal)
    if input.ndim < 2:
        raise RuntimeError(f"{fn}: input tensor must have at least 2 dimensions")
    return TriangleFn.apply(input, diagonal, lower)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dimensions, the rest zero (``torch.tril``): element
    (i, j) is kept when j - i <= ``diagonal``. Differentiable.

    Raises RuntimeError for input of fewer than 2 dimensions, TypeError for a non-int
    ``diagonal``.
    """
    return _triangle("tril", input, diagonal, True)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dimensions, the rest zero (``torch.triu``): element
    (i, j) is kept when j - i >= ``diagonal``. Errors as :func:`tril`."""
    return _triangle("triu", input, diagonal, False)


def broadcast_to(input: Tensor, size: ShapeLike) -> Tensor:
    """``input`` broadcast to ``size`` (``torch.broadcast_to``, :func:`expand`'s other name): a
    view; -1 keeps a dimension. Raises ValueError for sizes it cannot broadcast to."""
    tensor_arg("broadcast_to", "input", 1, input)
    return expand(input, *shape_arg((size,), "broadcast_to"))
