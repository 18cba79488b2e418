"""The graph under construction and what an op's converter sees of it (:class:`Call`)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..autograd import Function

if TYPE_CHECKING:
    from ._export import _Tracer


class Unsupported(Exception):
    """Raised by an op's converter with the reason it cannot be exported; the tracer turns it
    into an :class:`ExportError` naming the op and the module."""


def require_onnx() -> Any:
    """The onnx package; ImportError naming the extra that installs it when it is missing."""
    try:
        import onnx
    except ImportError:
        raise ImportError("minicnn.onnx.export needs the onnx package: pip install -e '.[onnx]' "
                          "(or pip install onnx onnxruntime)") from None
    return onnx


class Graph:
    """The ONNX graph under construction: nodes, initializers and unique names."""

    def __init__(self, opset: int) -> None:
        self.onnx = require_onnx()
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.used: set[str] = set()
        self.added: set[str] = set()  # the parameters and buffers added as initializers
        self._consts: dict[tuple[Any, ...], str] = {}

    def unique(self, base: str) -> str:
        """``base``, or ``base_1``, ``base_2``, ... : a name not used yet (now used)."""
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    def initializer(self, name: str, array: np.ndarray) -> str:
        """Add ``array`` as an initializer called exactly ``name``; returns ``name``."""
        if not array.flags.c_contiguous:  # (not ascontiguousarray: it makes a 0-d array 1-d)
            array = array.copy()
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def const(self, array: np.ndarray, hint: str) -> str:
        """An initializer holding ``array``, named after ``hint``; small constants of equal
        dtype, shape and values are shared."""
        array = np.asarray(array)
        key = None
        if array.size <= 64:
            key = (array.dtype.str, array.shape, array.tobytes())
            if key in self._consts:
                return self._consts[key]
        name = self.initializer(self.unique(hint), array)
        if key is not None:
            self._consts[key] = name
        return name

    def node(self, op_type: str, inputs: Sequence[str], scope: str, **attrs: Any) -> str:
        """Append a node ``op_type`` with ``inputs`` (names; "" for an omitted optional input)
        and ``attrs``, named after the module ``scope``; returns the name of its output (the
        node's name too)."""
        name = self.unique(f"{scope}/{op_type}" if scope else op_type)
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [name], name=name,
                                                     **attrs))
        return name


class Call:
    """One traced op, as its converter in :data:`minicnn.onnx._ops.OPS` sees it: ``args`` (the
    arguments given to ``Function.apply``, tensors included), ``out`` (the result: a Tensor or
    a tuple of them) and helpers to name inputs and add nodes. A converter returns the ONNX
    name of each output and may set ``out_batch`` (the output's batch axis, or None) when the
    default rule (same axis as the input's, counted from the right) does not fit."""

    _DEFAULT = object()

    def __init__(self, tracer: _Tracer, cls: type[Function], args: tuple[Any, ...],
                 out: Any) -> None:
        self.tracer, self.cls, self.args, self.out = tracer, cls, args, out
        self.graph = tracer.graph
        self.opset = self.graph.opset
        self.scope = tracer.scope()
        self.out_batch: Any = Call._DEFAULT

    # -------------------------------------------------------------- inputs

    def input(self, i: int) -> str:
        """The ONNX name of tensor argument ``i``."""
        return self.tracer.name_of(self.args[i])

    def batch(self, i: int) -> int | None:
        """The batch axis of tensor argument ``i`` (None: it holds no batch)."""
        return self.tracer.batch_of(self.args[i])

    def shape(self, i: int) -> tuple[int, ...]:
        """The shape of tensor argument ``i`` in the traced run."""
        return tuple(self.args[i].shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of the (first) output: that of the constants an op adds."""
        out = self.out[0] if isinstance(self.out, tuple) else self.out
        return np.dtype(out.dtype)

    # -------------------------------------------------------------- building

    def node(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        """Add a node with one output; returns its name."""
        return self.graph.node(op_type, inputs, self.scope, **attrs)

    def const(self, value: Any, dtype: Any = None) -> str:
        """A constant initializer: ``value`` as an array of ``dtype`` (default: the output's)."""
        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        return self.graph.const(array, f"{self.scope}/const" if self.scope else "const")

    def ints(self, values: Sequence[int]) -> str:
        """A 1-D int64 constant (shapes, axes, pads)."""
        return self.const(np.asarray(list(values), dtype=np.int64).reshape(-1), np.int64)

    def reduce(self, op_type: str, x: str, axes: Sequence[int], keepdims: bool) -> str:
        """A Reduce* node over ``axes``: an attribute before opset 18, an input from 18 on
        (ReduceSum's is an input since opset 13)."""
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.node(op_type, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.node(op_type, [x], axes=list(axes), keepdims=int(keepdims))
