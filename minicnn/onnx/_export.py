"""The tracer and the graph builder behind :func:`minicnn.onnx.export`."""
from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import autograd
from ..autograd import Function, no_grad
from ..backends import to_host
from ..nn.modules.activation import Hardsigmoid
from ..nn.modules.module import Module
from ..tensor import Tensor
from ..version import __version__
from ._graph import Call, Graph, Unsupported, require_onnx
from ._ops import OPS

#: the opsets whose semantics the op table follows (17 brings LayerNormalization; 18 moves the
#: axes of the Reduce ops from an attribute to an input, which the table handles)
MIN_OPSET, MAX_OPSET = 17, 20
_BATCH = "batch"  # the name of the symbolic batch dimension


class ExportError(RuntimeError):
    """An op or a model that ONNX cannot express as traced: the message names the op, the
    module that called it and why (``torch.onnx``'s UnsupportedOperatorError is a RuntimeError
    too)."""


class _Value:
    """A traced tensor's place in the graph: its ONNX name, the axis that holds the batch (None
    when it holds none, or when the batch is not dynamic) and its version counter when it was
    made (a later change means it was modified in place, which the graph would not see)."""

    __slots__ = ("tensor", "name", "batch", "version")

    def __init__(self, tensor: Tensor, name: str, batch: int | None) -> None:
        self.tensor, self.name, self.batch = tensor, name, batch
        self.version = tensor._vc[0]


_Converter = Callable[[Call], Any]


class _Tracer(autograd.OpTracer):
    """Records the ops of one forward pass (see :class:`minicnn.autograd.OpTracer`) into a
    :class:`Graph` through the converters of ``ops``, on the thread that created it."""

    def __init__(self, graph: Graph, ops: Mapping[type[Function], _Converter],
                 params: dict[int, tuple[str, Tensor]], opset: int) -> None:
        self.graph, self.ops, self.params, self.opset = graph, ops, params, opset
        self.values: dict[int, _Value] = {}
        # the modules running, innermost last: (qualified name, module, whether it paused
        # the trace: a LEAF_MODULES one, exported as one node)
        self.stack: list[tuple[str, Module, bool]] = []
        self.thread = threading.get_ident()
        self.busy = False
        self.paused = 0  # inside a module exported as one node (see LEAF_MODULES)

    def wants(self) -> bool:
        return not self.busy and not self.paused and threading.get_ident() == self.thread

    def record(self, cls: type[Function], args: tuple[Any, ...]) -> Any:
        self.busy = True
        try:
            out = cls.apply(*args)
        finally:
            self.busy = False
        self.convert(cls, args, out)
        return out

    # -------------------------------------------------------------- values

    def add(self, tensor: Tensor, name: str, batch: int | None) -> None:
        self.values[id(tensor)] = _Value(tensor, name, batch)

    def scope(self) -> str:
        return self.stack[-1][0] if self.stack else ""

    def where(self) -> str:
        """The module running now, for messages: "module 'features.3' (Conv2d)"."""
        name, module, _ = self.stack[-1]
        return (f"module '{name}' ({type(module).__name__})" if name
                else f"the top-level module ({type(module).__name__})")

    def name_of(self, t: Tensor) -> str:
        """The ONNX name of tensor ``t``: a traced value, a parameter or buffer (by identity),
        or else a new constant initializer holding its values."""
        value = self.values.get(id(t))
        if value is not None:
            if t._vc[0] != value.version:
                raise Unsupported(f"its input {value.name!r} {tuple(t.shape)} was modified in "
                                  "place after it was computed (an in-place op such as relu_ "
                                  "or add_, which the trace does not see); use the out-of-place "
                                  "op (inplace=False)")
            return value.name
        param = self.params.get(id(t)) or self.params.get(id(t._data))
        if param is not None:
            name, tensor = param
            if name not in self.graph.added:  # only the parameters and buffers in use
                self.graph.initializer(name, to_host(tensor._data))
                self.graph.added.add(name)
            return name
        data = t._data
        for v in self.values.values():
            if autograd.shares_memory(data, v.tensor._data):
                raise Unsupported(f"an input shares memory with the traced value {v.name!r} but "
                                  "was not made by a minicnn op (detach(), .data or a NumPy "
                                  "view?): the export would freeze its values")
        array = to_host(data)
        name = self.graph.const(array, f"{self.scope()}/const" if self.scope() else "const")
        self.add(t, name, None)
        return name

    def batch_of(self, t: Tensor) -> int | None:
        value = self.values.get(id(t))
        return None if value is None else value.batch

    # -------------------------------------------------------------- ops

    def convert(self, cls: type[Function], args: tuple[Any, ...], out: Any) -> None:
        converter = self.ops.get(cls)
        call = Call(self, cls, args, out)
        try:
            if converter is None:
                raise Unsupported("minicnn.onnx has no conversion for it (see "
                                  "minicnn.onnx.OPS for the ops it exports)")
            names = converter(call)
            outs = out if isinstance(out, tuple) else (out,)
            names = names if isinstance(names, (list, tuple)) else [names]
            batch = call.out_batch
            for t, name in zip(outs, names):
                self.add(t, name, self._default_batch(call, t) if batch is Call._DEFAULT
                         else batch)
        except Unsupported as e:
            raise ExportError(f"minicnn.onnx.export: cannot export op '{cls._op_name}' in "
                              f"{self.where()} to ONNX opset {self.opset}: {e}") from None

    def _default_batch(self, call: Call, out: Tensor) -> int | None:
        """The output's batch axis: that of the first tensor argument holding the batch,
        counted from the right (broadcasting); Unsupported when the output's size there is not
        the batch size."""
        for a in call.args:
            if not isinstance(a, Tensor):
                continue
            b = self.batch_of(a)
            if b is None:
                continue
            axis = b + out.ndim - a.ndim
            if 0 <= axis < out.ndim and out.shape[axis] == a.shape[b]:
                return axis
            raise Unsupported(f"its output {tuple(out.shape)} does not keep the batch dimension "
                              f"(axis {b} of an input {tuple(a.shape)}); export with "
                              "dynamic_batch=False")
        return None


# Modules exported as one node instead of the ops of their forward: the node's op type and
# attributes (a Hardsigmoid computes relu6(x + 3) / 6 in three ops; ONNX has it as one).
LEAF_MODULES: dict[type[Module], tuple[str, dict[str, Any]]] = {
    Hardsigmoid: ("HardSigmoid", {"alpha": 1.0 / 6.0, "beta": 0.5}),
}


def _install_hooks(model: Module, tracer: _Tracer) -> list[Any]:
    """Forward pre/post hooks on every module that keep ``tracer.stack`` (the qualified name of
    the module running) and export the LEAF_MODULES as one node."""
    names: dict[int, str] = {}
    for name, m in model.named_modules():
        names.setdefault(id(m), name)

    def pre(module: Module, args: tuple[Any, ...]) -> None:
        pause = type(module) in LEAF_MODULES and tracer.wants()
        tracer.stack.append((names[id(module)], module, pause))
        tracer.paused += pause

    def post(module: Module, args: tuple[Any, ...], output: Any) -> None:
        if tracer.stack[-1][2]:  # a LEAF_MODULES one, whose ops were not traced
            tracer.paused -= 1
            x = args[0]
            op_type, attrs = LEAF_MODULES[type(module)]
            call = Call(tracer, Function, (x,), output)
            try:
                name = call.node(op_type, [tracer.name_of(x)], **attrs)
            except Unsupported as e:
                raise ExportError(f"minicnn.onnx.export: cannot export {tracer.where()} to "
                                  f"ONNX opset {tracer.opset}: {e}") from None
            tracer.add(output, name, tracer.batch_of(x))
        tracer.stack.pop()

    handles = []
    for m in model.modules():
        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post))
    return handles


def _as_tuple(args: Any) -> tuple[Tensor, ...]:
    items = args if isinstance(args, (tuple, list)) else (args,)
    for i, a in enumerate(items):
        if not isinstance(a, Tensor):
            raise TypeError(f"export: args must be a Tensor or a tuple of Tensors (the model's "
                            f"inputs), got {type(a).__name__} at position {i}")
    if not items:
        raise ValueError("export: args is empty; give the model's example input")
    return tuple(items)


def _names(given: Sequence[str] | None, count: int, base: str, what: str) -> list[str]:
    if given is None:
        return [base] if count == 1 else [f"{base}{i}" for i in range(count)]
    given = list(given)
    if len(given) != count or not all(isinstance(n, str) and n for n in given):
        raise ValueError(f"export: {what} must be {count} non-empty string(s), one per "
                         f"{'input' if what == 'input_names' else 'output'}, got {given!r}")
    if len(set(given)) != len(given):
        raise ValueError(f"export: {what} must be distinct, got {given!r}")
    return given


def _value_info(onnx: Any, name: str, t: Tensor, batch: int | None) -> Any:
    shape: list[Any] = list(t.shape)
    if batch is not None:
        shape[batch] = _BATCH
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(t.dtype))
    return onnx.helper.make_tensor_value_info(name, elem, shape)


def _check_arguments(model: Any, f: Any, opset_version: Any, dynamic_batch: Any) -> None:
    if not isinstance(model, Module):
        raise TypeError(f"export: model must be a minicnn.nn.Module, got {type(model).__name__}")
    if not isinstance(f, (str, os.PathLike)) and not hasattr(f, "write"):
        raise TypeError(f"export: f must be a path or a binary file object, got "
                        f"{type(f).__name__}")
    if not isinstance(opset_version, int) or isinstance(opset_version, bool) or \
            not MIN_OPSET <= opset_version <= MAX_OPSET:
        raise ValueError(f"export: opset_version must be an int from {MIN_OPSET} to "
                         f"{MAX_OPSET}, got {opset_version!r}")
    if not isinstance(dynamic_batch, bool):
        raise TypeError(f"export: dynamic_batch must be a bool, got "
                        f"{type(dynamic_batch).__name__}")


def export(model: Module, args: Tensor | tuple[Tensor, ...], f: str | os.PathLike[str] | io.IOBase,
           *, opset_version: int = 17, dynamic_batch: bool = True,
           input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
           metadata: Mapping[str, str] | None = None) -> None:
    """Write ``model`` as an ONNX model to ``f`` (``torch.onnx.export``'s names).

    model: a :class:`minicnn.nn.Module`; it runs once in eval mode under ``no_grad`` on
    ``args`` and is put back in the train/eval mode each of its modules had. args: the example
    input, a Tensor (N, C, H, W) (or a tuple of Tensors, one per input of ``forward``); its
    values do not matter, its shape does. f: a path or a binary file object.
    opset_version: 17 to 20. dynamic_batch: the first dimension of every input and output is
    the symbolic "batch" (the other dimensions are fixed to the example's); a model that mixes
    the batch with other dimensions (a reshape across it, indexing it) raises ExportError and
    exports with ``dynamic_batch=False``. input_names / output_names: default "input" and
    "output" ("input0", "input1", ... for several). metadata: strings stored in the model's
    ``metadata_props`` (Netron shows them; ``minicnn export`` stores the classes and the input
    normalization there).

    The model's parameters and buffers become initializers named as in its ``state_dict``
    (float32 or float64, as the model's); each node is named after the module that ran it
    ("layer1.0.conv1/Conv"). The result passes ``onnx.checker.check_model`` with
    ``full_check`` (shape inference) before it is written.

    Raises ImportError (naming ``pip install -e '.[onnx]'``) without the onnx package;
    TypeError / ValueError for a bad argument (naming it); :class:`ExportError` (a RuntimeError)
    for an op that ONNX cannot express as traced, naming the op, the module and the reason;
    ``onnx.checker.ValidationError`` should the graph be invalid (a bug in minicnn); OSError
    when ``f`` cannot be written; RuntimeError while another export runs (the trace hook is
    global: one export at a time). Models over 2 GB (protobuf's limit) cannot be written.
    """
    _check_arguments(model, f, opset_version, dynamic_batch)
    inputs = _as_tuple(args)
    in_names = _names(input_names, len(inputs), "input", "input_names")
    onnx = require_onnx()
    graph = Graph(opset_version)
    params: dict[int, tuple[str, Tensor]] = {}  # by the identity of the tensor or its array
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if t is not None and id(t) not in params:
            params[id(t)] = params.setdefault(id(t._data), (name, t))
            graph.used.add(name)
    for name in in_names:
        if name in graph.used:
            raise ValueError(f"export: input name {name!r} is also a parameter's name")
        graph.used.add(name)
    tracer = _Tracer(graph, OPS, params, opset_version)
    batch = 0 if dynamic_batch else None
    for x, name in zip(inputs, in_names):
        tracer.add(x, name, batch if x.ndim else None)
    previous = autograd.set_tracer(tracer)
    if previous is not None:  # the global hook serves one export at a time
        autograd.set_tracer(previous)
        raise RuntimeError("export: another export is running (on another thread?); export "
                           "one model at a time")
    modes = [(m, m.training) for m in model.modules()]
    handles = _install_hooks(model, tracer)
    model.eval()
    try:
        with no_grad():
            result = model(*inputs)
    finally:
        autograd.set_tracer(None)
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    for i, o in enumerate(outputs):
        if not isinstance(o, Tensor):
            raise ExportError(f"minicnn.onnx.export: the model returned a "
                              f"{type(o).__name__} as output {i}; it must return a Tensor or a "
                              "tuple of Tensors")
    out_names = _names(output_names, len(outputs), "output", "output_names")
    graph_outputs = _name_outputs(tracer, outputs, out_names)

    onnx_graph = onnx.helper.make_graph(
        graph.nodes, type(model).__name__,
        [_value_info(onnx, n, x, tracer.batch_of(x)) for x, n in zip(inputs, in_names)],
        graph_outputs, graph.initializers)
    opsets = [onnx.helper.make_opsetid("", opset_version)]
    proto = onnx.helper.make_model(onnx_graph, opset_imports=opsets, producer_name="minicnn",
                                   producer_version=__version__,
                                   doc_string=f"{type(model).__name__} exported by minicnn")
    proto.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    if metadata:
        onnx.helper.set_model_props(proto, {str(k): str(v) for k, v in metadata.items()})
    # serialized once: check_model and save_model would each serialize a ModelProto again
    data = proto.SerializeToString()
    onnx.checker.check_model(data, full_check=True)
    if hasattr(f, "write"):
        f.write(data)
    else:
        with open(f, "wb") as out:
            out.write(data)


def _name_outputs(tracer: _Tracer, outputs: Sequence[Tensor], names: list[str]) -> list[Any]:
    """Give the model's outputs their names (renaming the node outputs, or through an Identity
    for an input, a parameter or a tensor returned twice); returns their value infos."""
    graph = tracer.graph
    produced = {o: node for node in graph.nodes for o in node.output}
    infos = []
    for t, name in zip(outputs, names):
        if name in graph.used:
            raise ValueError(f"export: output name {name!r} is already an input's or a "
                             "parameter's name")
        source = tracer.name_of(t)
        batch = tracer.batch_of(t)
        node = produced.pop(source, None)
        graph.used.add(name)
        if node is None:
            graph.nodes.append(graph.onnx.helper.make_node("Identity", [source], [name],
                                                           name=graph.unique(f"{name}/Identity")))
        else:
            for n in graph.nodes:
                for i, v in enumerate(n.input):
                    if v == source:
                        n.input[i] = name
            node.output[list(node.output).index(source)] = name
            tracer.values[id(t)].name = name
        infos.append(_value_info(graph.onnx, name, t, batch))
    return infos
