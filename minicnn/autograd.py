"""Reverse-mode automatic differentiation.

Every differentiable op is a :class:`Function` subclass with ``forward`` and ``backward`` side by
side (as ``torch.autograd.Function``). ``forward(ctx, *args)`` receives raw arrays (tensors are
unwrapped) and returns one array, or a tuple of arrays (several outputs); ``backward(ctx,
*grad_outputs)`` receives one gradient per output and returns one gradient (array or None) per
argument of ``forward``. ``Function.apply`` runs forward and, when gradients are needed, records
the call in the graph: the output tensors' ``grad_fn`` is the call's context (one node for all
the outputs of a call; each output knows its index, ``output_nr``). minicnn's own Functions are
named after their op with an ``Fn`` suffix (``ExpFn``, ``MaxPool2dFn``), so that none shares a
name with an nn module; their nodes keep the op's name (``ExpBackward``).

:func:`run_backward` walks that graph in reverse topological order, iteratively (a graph
thousands of ops deep works), keeping intermediate gradients in a dict dropped after the pass.
Only leaves (and tensors that called ``retain_grad()``) accumulate ``.grad``. Gradients of
broadcast inputs are reduced back to the input's shape in one place, :func:`sum_to_shape`.

This module does not import the Tensor class (minicnn.tensor builds on it): minicnn.tensor hands
it over with :func:`set_tensor_type` when it loads. Devices are reached only through their
kernel tables (``ctx.backend``).
"""
from __future__ import annotations

import functools
import os
import threading
import traceback
import warnings
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import numpy as np

from .backends import ARRAY_TYPES, BACKENDS, array_table, move, to_host

if TYPE_CHECKING:
    from .tensor import Tensor

_F = TypeVar("_F", bound=Callable[..., Any])

try:  # the optional ``amp`` extra: NumPy's bfloat16 dtype
    import ml_dtypes
    BFLOAT16: np.dtype[Any] | None = np.dtype(ml_dtypes.bfloat16)
except ImportError:
    BFLOAT16 = None
#: floating dtypes whose kind is not "f" (bfloat16 is an ml_dtypes extension type, kind "V")
_EXTRA_FLOATS = () if BFLOAT16 is None else (BFLOAT16,)


def is_floating_dtype(dtype: Any) -> bool:
    """True for float16, bfloat16 (with ml_dtypes), float32 and float64."""
    return dtype.kind == "f" or dtype in _EXTRA_FLOATS


def _float32() -> np.dtype[Any]:
    return np.dtype(np.float32)


class _ThreadState(threading.local):
    """The grad mode, per thread as in PyTorch. The class attributes are every thread's
    defaults: a read finds them without the AttributeError a getattr default pays (0.6 us, on
    every op)."""
    enabled = True
    inference = False


_state = _ThreadState()

_Tensor: Any = None  # the Tensor class, handed over by minicnn.tensor (see set_tensor_type)


def set_tensor_type(cls: type) -> None:
    """Make ``cls`` the class whose instances Function.apply takes as tensor arguments and
    returns as results; minicnn.tensor calls it once, with Tensor, when it loads."""
    global _Tensor
    _Tensor = cls


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()`` (or after ``set_grad_enabled(False)``) on this thread."""
    return _state.enabled


class _GradMode:
    """Sets the grad mode for a ``with`` block, or for every call of a decorated function."""

    def __init__(self, mode: bool) -> None:
        self.mode = mode

    def __enter__(self) -> _GradMode:
        self.prev = is_grad_enabled()
        _state.enabled = self.mode
        return self

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self.prev

    def _fresh(self) -> _GradMode:
        """A new context manager of this mode (one per call of a decorated function: the
        previous mode is kept on the instance)."""
        return _GradMode(self.mode)

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class _FixedGradMode(_GradMode):
    """A grad mode fixed by the class; usable as ``with m():``, ``@m()`` or bare ``@m``."""

    MODE: bool

    def __new__(cls, fn: Callable[..., Any] | None = None) -> Any:
        if fn is not None:  # bare decorator: @no_grad
            return cls()(fn)
        return super().__new__(cls)

    def __init__(self, fn: Callable[..., Any] | None = None) -> None:
        super().__init__(self.MODE)


class no_grad(_FixedGradMode):
    """Context manager / decorator: ops inside record no graph (``torch.no_grad``)."""

    MODE = False


class enable_grad(_FixedGradMode):
    """Context manager / decorator: turns graph recording back on (``torch.enable_grad``)."""

    MODE = True


def is_inference_mode_enabled() -> bool:
    """True inside ``inference_mode()`` on this thread (``torch.is_inference_mode_enabled``)."""
    return _state.inference


class inference_mode(_GradMode):
    """Context manager / decorator for inference (``torch.inference_mode``): ops inside record
    no graph, as under ``no_grad``, and ``is_inference_mode_enabled()`` is True;
    ``inference_mode(False)`` leaves inference mode and turns grad mode on, as PyTorch's does
    (even inside ``no_grad``). Usable as ``with inference_mode():``,
    ``@inference_mode()`` or bare ``@inference_mode``.

    PyTorch also marks the tensors made inside as inference tensors, which autograd refuses
    later; minicnn's are ordinary tensors that do not require grad (what no_grad makes).
    """

    def __new__(cls, mode: bool | Callable[..., Any] = True) -> Any:
        if callable(mode):  # bare decorator: @inference_mode
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool | Callable[..., Any] = True) -> None:
        super().__init__(False)
        self.inference = bool(mode)

    def __enter__(self) -> inference_mode:
        self.prev, self.prev_inference = is_grad_enabled(), is_inference_mode_enabled()
        _state.enabled, _state.inference = not self.inference, self.inference
        return self

    def __exit__(self, *exc: object) -> None:
        _state.enabled, _state.inference = self.prev, self.prev_inference

    def _fresh(self) -> inference_mode:
        return inference_mode(self.inference)


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(mode)`` switches grad mode at once; as a context manager it restores the
    previous mode on exit; as a decorator it applies to each call (``torch.set_grad_enabled``)."""

    def __init__(self, mode: bool) -> None:
        super().__init__(bool(mode))
        self.prev = is_grad_enabled()
        _state.enabled = self.mode

    def __enter__(self) -> set_grad_enabled:
        return self

    def __call__(self, fn: _F) -> _F:
        _state.enabled = self.prev  # as a decorator it must not switch the mode for the caller
        return super().__call__(fn)


class _Anomaly:
    """The anomaly mode, global to the process as PyTorch's: ``enabled`` records each op's forward
    stack; ``check_nan`` makes backward raise at the first gradient holding a NaN."""

    enabled = False
    check_nan = True


def is_anomaly_enabled() -> bool:
    """True inside :class:`detect_anomaly` or after ``set_detect_anomaly(True)``
    (``torch.is_anomaly_enabled``)."""
    return _Anomaly.enabled


def is_anomaly_check_nan_enabled() -> bool:
    """Whether the anomaly mode checks gradients for NaN (``torch.is_anomaly_check_nan_enabled``).
    """
    return _Anomaly.check_nan


class set_detect_anomaly:
    """Turn the anomaly mode on or off at once; as a context manager it restores the previous
    mode on exit (``torch.autograd.set_detect_anomaly(mode, check_nan=True)``). See
    :class:`detect_anomaly` for what the mode does."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = (_Anomaly.enabled, _Anomaly.check_nan)
        _Anomaly.enabled, _Anomaly.check_nan = bool(mode), bool(check_nan)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        _Anomaly.enabled, _Anomaly.check_nan = self.prev


class detect_anomaly:
    """Context manager / decorator: the anomaly mode of ``torch.autograd.detect_anomaly``.

    While it is on, every recorded op keeps the stack of its forward call, and :func:`run_backward`
    checks each gradient a node's backward returns: the first one holding a NaN raises
    ``RuntimeError: Function 'DivBackward' returned nan values in its 1th output.`` (the index is
    that of the forward argument; the error is a :class:`NaNGradientError`), so the op that made the
    NaN is named rather than found later in the weights. When a backward raises, a warning shows the
    traceback of the forward call of its op. ``check_nan=False`` keeps the stacks without the NaN
    check. Entering warns, as PyTorch does, that the mode slows every op (a stack per op and a scan
    of every gradient): a debugging tool, not for normal runs.
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan

    def __enter__(self) -> None:
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", UserWarning, stacklevel=2)
        self.prev = (_Anomaly.enabled, _Anomaly.check_nan)
        _Anomaly.enabled, _Anomaly.check_nan = True, self.check_nan

    def __exit__(self, *exc: object) -> None:
        _Anomaly.enabled, _Anomaly.check_nan = self.prev

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class OpTracer:
    """What :func:`set_tracer` installs: the interface of ``minicnn.onnx``'s tracer.

    While installed, ``Function.apply`` asks ``wants()`` before every op (False on other threads
    and while the tracer itself runs the op) and, when it answers True, returns
    ``record(cls, args)`` instead of running the op: ``record`` runs it by calling
    ``cls.apply(*args)`` again (``wants()`` then answers False) and notes the call.
    """

    def wants(self) -> bool:
        raise NotImplementedError

    def record(self, cls: type[Function], args: tuple[Any, ...]) -> Any:
        raise NotImplementedError


# The installed OpTracer, or None: Function.apply reads this one global first, which is all that
# tracing costs an op while nobody traces.
_tracer: OpTracer | None = None


def set_tracer(tracer: OpTracer | None) -> OpTracer | None:
    """Install ``tracer`` (an :class:`OpTracer`, or None to remove it) for every thread; returns
    the one it replaces. Used by ``minicnn.onnx.export`` to record a model's ops."""
    global _tracer
    previous, _tracer = _tracer, tracer
    return previous


class Context:
    """The record of one Function call: the graph node that is its output tensors' ``grad_fn``.

    ``backend``: the kernel table of the inputs' device. ``needs_input_grad``: per forward
    argument, whether its gradient is wanted (backward may skip the others).
    ``save_for_backward(*arrays)`` / ``saved_tensors``: what backward needs; freed after the pass
    unless ``retain_graph=True``, and reading them afterwards raises RuntimeError.
    ``mark_non_differentiable(*outputs)`` and ``set_materialize_grads(value)``: as in PyTorch,
    for a forward that returns several outputs.
    """

    __slots__ = ("function", "inputs", "needs_input_grad", "backend", "output_device", "_saved",
                 "_versions", "_freed", "__dict__")

    # Only a call with several outputs sets these (in its __dict__): the others, nearly every
    # op, pay nothing for them. _output_meta: (shape, dtype, device type) per output, for the
    # zero gradients of outputs that got none.
    _output_meta: tuple[tuple[tuple[int, ...], Any, str], ...] | None = None
    _non_differentiable: tuple[Any, ...] = ()
    # Set by apply for an op that computed float16/bfloat16 arguments in float32 (see
    # Function._low_precision): backward then gets float32 gradients and its results are rounded
    # to each input's dtype.
    _widened = False
    # Set in the anomaly mode only: the stack of the forward call (see detect_anomaly).
    forward_stack: traceback.StackSummary | None = None
    _materialize_grads = True

    function: type[Function]
    inputs: tuple[Tensor | None, ...]
    needs_input_grad: tuple[bool, ...]
    backend: Any
    output_device: Any
    _saved: tuple[Any, ...]
    _versions: Any  # (index, counter, version, tensor or None, output_nr) records
    _freed: bool

    def __init__(self, function: type[Function], backend: Any,
                 needs_input_grad: tuple[bool, ...]) -> None:
        self.function = function
        self.backend = backend
        self.needs_input_grad = needs_input_grad
        self.inputs = ()
        self.output_device = None  # set by forward only when the output changes device (to())
        self._saved = ()
        self._versions = ()
        self._freed = False

    def save_for_backward(self, *arrays: Any) -> None:
        self._saved = arrays

    def mark_non_differentiable(self, *outputs: Any) -> None:
        """Called in forward with some of the arrays it returns: those outputs, such as integer
        indices, never require grad (no ``grad_fn``), as with PyTorch's
        ``ctx.mark_non_differentiable``. Backward still receives a gradient for each of them
        (zeros). Outputs of a non-floating dtype are non-differentiable without being marked."""
        self._non_differentiable = outputs

    def set_materialize_grads(self, value: bool) -> None:
        """Called in forward: whether backward receives zeros (True, the default) or None for the
        outputs that got no gradient (``FunctionCtx.set_materialize_grads``)."""
        self._materialize_grads = bool(value)

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        """The arrays given to ``save_for_backward``. RuntimeError when they were freed by an
        earlier backward, or when a tensor whose memory one of them holds was modified in place
        since (its version counter moved on), in PyTorch's words."""
        if self._freed:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (or to read the saved values "
                f"of {self.name()} after they were freed): the first backward() freed them. "
                "Call backward(retain_graph=True) the first time to keep them.")
        for index, counter, version, tensor, output_nr in self._versions:
            if counter[0] != version:
                raise self._version_error(index, counter, version, tensor, output_nr)
        return self._saved

    def release(self) -> None:
        self._saved = ()
        self._versions = ()
        self._freed = True

    def record_versions(self, outputs: tuple[Tensor, ...], tensors: list[Tensor]) -> None:
        """Remember the version of every tensor whose memory a saved array holds: ``outputs``
        (the op's results: a saved output is the very array returned) and the tensor arguments
        ``tensors``. Called by Function.apply on every recorded op, so a record is a plain tuple:
        (index in saved, counter, version, tensor or None for an output, which is not held: it
        holds this node, and its index ``output_nr`` in the node that made it, None for a
        non-differentiable output, which no node made)."""
        records: list[tuple[Any, ...]] = []
        single = outputs[0]._data if len(outputs) == 1 else None  # the common case, kept cheap
        for i, saved in enumerate(self._saved):
            if single is not None:
                nr = 0 if saved is single else None
            else:
                nr = next((k for k, o in enumerate(outputs) if saved is o._data), None)
            if nr is not None:
                out = outputs[nr]
                records.append((i, out._vc, out._vc[0], None,
                                nr if out.grad_fn is not None else None))
                continue
            for t in tensors:
                if shares_memory(saved, t._data):
                    records.append((i, t._vc, t._vc[0], t, t._output_nr))
                    break
        self._versions = records

    def _version_error(self, index: int, counter: list[int], version: int, tensor: Tensor | None,
                       output_nr: int | None) -> RuntimeError:
        """PyTorch's error for a saved value whose tensor changed in place."""
        if tensor is None:  # one of this op's own outputs: described by the saved array
            array = self._saved[index]
            shape, dtype = array.shape, array.dtype
            origin = self.name() if output_nr is not None else None
            device = array_table(array).name
        else:
            shape, dtype = tensor._data.shape, tensor.dtype
            origin = tensor.grad_fn.name() if tensor.grad_fn is not None else None
            device = tensor.device.type
        what = f"[{_type_prefix(device)}{type_name(dtype)}Tensor {list(shape)}]"
        origin = f", which is output {output_nr} of {origin}," if origin else ""
        return RuntimeError(
            "one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: {what}{origin} is at version {counter[0]}; expected version "
            f"{version} instead. Hint: the value was changed in place (an in-place op such as "
            "add_, or an optimizer step) after the op that used it; do the change after "
            "backward(), or use the out-of-place op.")

    def unshare_saved(self, array: Any) -> None:
        """Replace the saved arrays that hold ``array``'s memory by copies, and stop checking
        their versions: an in-place op is about to overwrite ``array`` and this node, which it
        recorded, needs the values from before (PyTorch saves "original self" the same way)."""
        if not self._saved:
            return
        changed = {i for i, s in enumerate(self._saved) if shares_memory(s, array)}
        if changed:
            self._saved = tuple(s.copy() if i in changed else s for i, s in enumerate(self._saved))
            self._versions = [r for r in self._versions if r[0] not in changed]

    def output_grads(self, grads: list[Any]) -> list[Any]:
        """The gradients to pass to backward for ``grads`` (one per output, None where none
        arrived): zeros of the output's shape, dtype and device in place of None, unless forward
        called ``set_materialize_grads(False)``."""
        if not self._materialize_grads:
            return grads
        assert self._output_meta is not None  # set by apply for every call with several outputs
        return [g if g is not None else move(np.zeros(shape, dtype), device)
                for g, (shape, dtype, device) in zip(grads, self._output_meta)]

    def name(self) -> str:
        """PyTorch's name of the node: the op's, then "Backward" ("ExpBackward")."""
        return self.function._op_name + "Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"


def shares_memory(a: Any, b: Any) -> bool:
    """True when array ``a`` is ``b`` or a view into the memory of ``b``. NumPy points a view's
    ``base`` at the array that owns the memory, so identity tests decide the common cases; a
    view made through another object falls back to a bounds check. Other array types answer
    ``np.may_share_memory`` themselves (a device array: whether both use one allocation)."""
    if a is b:
        return True
    if isinstance(a, np.ndarray):
        base = a.base
        if base is None or not isinstance(b, np.ndarray):
            return False
        if isinstance(base, np.ndarray):
            return base is b or base is b.base
    return bool(np.may_share_memory(a, b))


_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
               "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def type_name(dtype: Any) -> str:
    """PyTorch's name of a dtype in messages: Float, Double, Long, ..."""
    return _TYPE_NAMES.get(np.dtype(dtype).name, np.dtype(dtype).name)


def _type_prefix(device_type: str) -> str:
    """The prefix of PyTorch's type names: "minicnn." in host memory, "minicnn.cuda." on cuda."""
    return "minicnn." if BACKENDS[device_type].host_memory else f"minicnn.{device_type}."


def tensor_type(tensor: Tensor) -> str:
    """PyTorch's legacy type string of a tensor: "minicnn.FloatTensor",
    "minicnn.cuda.LongTensor"."""
    return f"{_type_prefix(tensor.device.type)}{type_name(tensor.dtype)}Tensor"


class Function:
    """Base class of every differentiable op; subclass it and write forward and backward.

    Example (minicnn's own Functions end in ``Fn``; the node is still ``ExpBackward``)::

        class ExpFn(Function):
            @staticmethod
            def forward(ctx, x):
                y = np.exp(x)
                ctx.save_for_backward(y)
                return y

            @staticmethod
            def backward(ctx, grad_output):
                (y,) = ctx.saved_tensors
                return grad_output * y

        y = ExpFn.apply(x)

    Several outputs: forward returns a tuple of arrays, ``apply`` then a tuple of tensors that
    share one ``grad_fn`` (each with its ``output_nr``), and backward takes one gradient per
    output: zeros for an output that got none (None after ``ctx.set_materialize_grads(False)``),
    as in PyTorch. ``ctx.mark_non_differentiable(*outputs)`` keeps outputs such as integer
    indices out of the graph (those of a non-floating dtype always are)::

        class SortFn(Function):
            @staticmethod
            def forward(ctx, x):
                order = np.argsort(x, kind="stable")
                ctx.save_for_backward(order)
                ctx.mark_non_differentiable(order)
                return x[order], order

            @staticmethod
            def backward(ctx, grad_values, grad_order):
                (order,) = ctx.saved_tensors
                grad = np.zeros_like(grad_values)
                grad[order] = grad_values
                return grad

        values, order = SortFn.apply(x)
    """

    # The op's name in messages and in the node's name: the class name, less the "Fn" suffix
    # of minicnn's own Functions (set for each subclass by __init_subclass__).
    _op_name = "Function"

    # How the op treats float16/bfloat16 tensor arguments (kernels exist for float32 and float64
    # only): "float32" widens them to float32, runs forward, and rounds the floating outputs to
    # the arguments' dtype, or to the promoted one (PyTorch's) for arguments of mixed floating
    # dtypes: float16/bfloat16 with float32 give float32; "input" is the same, but the outputs
    # take the first floating argument's dtype (the normalizations: bfloat16 input, float32
    # affine parameters, bfloat16 output, as PyTorch); "native" passes them as they are (data
    # movement, which NumPy does on any dtype; mixed dtypes stay an error).
    _low_precision = "float32"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_op_name" in cls.__dict__:  # named in its body (a variant of another op)
            return
        name = cls.__name__
        # only minicnn's: a user's Function is named as written (MyFnBackward), as in PyTorch
        if name.endswith("Fn") and cls.__module__.startswith("minicnn."):
            name = name[:-2]
        cls._op_name = name

    @staticmethod
    def forward(ctx: Context, *args: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, *grad_outputs: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any) -> Any:
        """Run forward on the arrays behind ``args`` and record the call when grads are needed.
        Returns a Tensor, or a tuple of Tensors when forward returns a tuple of arrays.

        float16/bfloat16 arguments are computed in float32 and the results stored back in the low
        precision (see ``_low_precision``).

        Raises RuntimeError when tensor arguments live on different devices, TypeError when
        floating-point tensor arguments have different dtypes (minicnn promotes only a mix with
        float16/bfloat16, as PyTorch does) and when forward returns a tuple holding something
        other than arrays.
        """
        if _tracer is not None and _tracer.wants():  # minicnn.onnx is recording the ops
            return _tracer.record(cls, args)
        Tensor = _Tensor
        raw = []
        needs = []
        first = None
        any_grad = False
        floating = None  # the first floating-point tensor argument
        low = mixed = False  # a float16/bfloat16 argument; floating arguments of several dtypes
        for a in args:
            if isinstance(a, Tensor):
                if first is None:
                    first = a
                elif a._device is not first._device and a._device != first._device:
                    raise RuntimeError(
                        f"{cls._op_name}: expected all tensors on the same device, got "
                        f"{first.device} (shape {tuple(first.shape)}) and {a.device} (shape "
                        f"{tuple(a.shape)})")
                dt = a._data.dtype
                if dt.kind == "f" or dt in _EXTRA_FLOATS:
                    low = low or dt.itemsize == 2
                    if floating is None:
                        floating = a
                    elif dt != floating._data.dtype:
                        mixed = True
                        if not _promotes(cls, dt, floating._data.dtype):
                            raise TypeError(
                                f"{cls._op_name}: expected tensors of one dtype, got "
                                f"{floating.dtype} (shape {tuple(floating.shape)}) and "
                                f"{a.dtype} (shape {tuple(a.shape)}); convert one with "
                                ".to(dtype), .float() or .double()")
                raw.append(a._data)
                needs.append(a.requires_grad)
                any_grad = any_grad or a.requires_grad
            else:
                raw.append(a)
                needs.append(False)
        device: Any = first.device if first is not None else None
        record = any_grad and is_grad_enabled()
        ctx = Context(cls, BACKENDS[device.type if device is not None else "cpu"], tuple(needs))
        if low and cls._low_precision != "native":
            out_dtype = _widen(cls, ctx, args, raw, floating, mixed)
            out = cls.forward(ctx, *raw)
            if out_dtype is not None:
                out = _round_outputs(ctx.backend, out, out_dtype)
        else:
            out = cls.forward(ctx, *raw)
        if ctx.output_device is not None:
            device = ctx.output_device
        if record:
            if _Anomaly.enabled:
                ctx.forward_stack = _user_stack()
            ctx.inputs = tuple(a if isinstance(a, Tensor) and a.requires_grad else None
                               for a in args)
        if type(out) is not tuple:  # one output, nearly every op: the shortest path
            result = Tensor._wrap(out, device)
            data = result._data
            if record and is_floating_dtype(data.dtype) and not (ctx._non_differentiable
                                                                 and _marked(ctx, out)):
                result.grad_fn, result.requires_grad = ctx, True
            if first is None:
                return result
            # Most ops make a fresh array (no base), which is checked first: this runs on every
            # op, and only a view needs the search of _share_version.
            if data is first._data or (data.base is not None if isinstance(data, np.ndarray)
                                       else not data.flags.owndata):
                _share_version(result, args)
            if record and ctx._saved:
                ctx.record_versions((result,), [a for a in args if isinstance(a, Tensor)])
            return result
        for i, o in enumerate(out):
            if not isinstance(o, ARRAY_TYPES):
                raise TypeError(f"{cls._op_name}.forward returned a {type(o).__name__} as output "
                                f"{i}; a forward returns an array or a tuple of arrays")
        results = tuple(Tensor._wrap(o, device) for o in out)
        if record:
            for nr, (o, result) in enumerate(zip(out, results)):
                if is_floating_dtype(result._data.dtype) and not _marked(ctx, o):
                    result.grad_fn, result.requires_grad, result._output_nr = ctx, True, nr
            ctx._output_meta = tuple((o.shape, o.dtype, device.type) for o in out)
        for result in results:
            _share_version(result, args)
        if record and ctx._saved:
            ctx.record_versions(results, [a for a in args if isinstance(a, Tensor)])
        return results


def _promotes(cls: type[Function], a: Any, b: Any) -> bool:
    """Whether ``cls`` takes floating arguments of the different dtypes ``a`` and ``b``: only
    float16/bfloat16 with float32 or with each other, in an op that computes them in float32
    (not a "native" one); float64 mixes with nothing, as float32 and float64 do not."""
    return (a.itemsize == 2 or b.itemsize == 2) and np.float64 not in (a, b) \
        and cls._low_precision != "native"


def _widen(cls: type[Function], ctx: Context, args: tuple[Any, ...], raw: list[Any],
           floating: Any, mixed: bool) -> Any:
    """Replace the float16/bfloat16 arrays of ``raw`` by float32 copies (through the kernel
    table's ``cast``) and mark ``ctx`` for backward. Returns the dtype the floating outputs are
    rounded to, or None when they stay float32 (a mix with float32: PyTorch's promotion)."""
    f32 = _float32()
    # mixed: float16/bfloat16 with float32 or with each other, which promote to float32
    out_dtype = f32 if mixed and cls._low_precision != "input" else floating._data.dtype
    for i, r in enumerate(raw):
        if isinstance(args[i], _Tensor) and r.dtype.itemsize == 2 and is_floating_dtype(r.dtype):
            raw[i] = ctx.backend.cast(r, f32)
    ctx._widened = True
    return None if out_dtype == f32 else out_dtype


def _round_outputs(backend: Any, out: Any, dtype: Any) -> Any:
    """Forward's float32 output(s) ``out`` rounded to ``dtype``."""
    f32 = _float32()
    if type(out) is not tuple:
        return backend.cast(out, dtype) if out.dtype == f32 else out
    return tuple(backend.cast(o, dtype) if isinstance(o, ARRAY_TYPES) and o.dtype == f32 else o
                 for o in out)


def _marked(ctx: Context, array: Any) -> bool:
    """Whether forward marked its output ``array`` with ``ctx.mark_non_differentiable``."""
    return any(array is m for m in ctx._non_differentiable)


def _share_version(result: Tensor, args: tuple[Any, ...]) -> None:
    """Make the output ``result`` share the version counter (and base) of the tensor argument it
    is a view of, if any: a view (reshape, transpose, indexing, ...) shares its base's counter,
    so an in-place change through either is seen by everything saved from the other."""
    data = result._data
    for t in args:
        if isinstance(t, _Tensor) and shares_memory(data, t._data):
            result._vc = t._vc
            result._base = t if t._base is None else t._base
            break


def sum_to_shape(grad: Any, shape: tuple[int, ...]) -> Any:
    """Undo NumPy broadcasting: sum ``grad`` over the axes that broadcasting created or stretched
    so that it has ``shape``. The single place where broadcast gradients are reduced."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _topological_order(root: Context) -> list[Context]:
    """Graph nodes reachable from ``root``, each after every node that consumes its output."""
    # Iterative depth-first search, appending each node once all its inputs are finished. A node
    # is marked visited when it is expanded, not when pushed: marking at push time would let a
    # second consumer finish before that input, and the input's gradient would be incomplete.
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for t in node.inputs:
            if t is not None and t.grad_fn is not None and id(t.grad_fn) not in visited:
                stack.append((t.grad_fn, False))
    order.reverse()
    return order


def _accumulate(tensor: Tensor, grad: Any, owned: bool = False) -> None:
    """Add ``grad`` into ``tensor.grad``. The first gradient is stored as is when ``owned`` (a
    fresh array nobody else holds), else copied, so that no two ``.grad`` share memory."""
    if tensor.grad is None:
        tensor.grad = _Tensor._wrap(grad if owned else grad.copy(), tensor.device)
    else:
        tensor.grad = _Tensor._wrap(tensor.grad._data + grad, tensor.device)


def run_backward(root: Tensor, grad: Any, retain_graph: bool = False) -> None:
    """Backpropagate ``grad`` (an array shaped like ``root``) through the graph of ``root``."""
    if root.grad_fn is None:  # backward() on a leaf: its gradient is the seed itself
        _accumulate(root, grad)
        return
    grads: dict[int, Any] = {}
    _add_grad(grads, root.grad_fn, root._output_nr, grad)
    for node in _topological_order(root.grad_fn):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        single = node._output_meta is None  # nearly every node: one output, ``g`` an array
        try:
            if single:
                input_grads = node.function.backward(
                    node, _widen_grad(g) if node._widened else g)
            else:
                upstream = node.output_grads(g)
                if node._widened:  # computed in float32: so is its backward
                    upstream = [_widen_grad(u) for u in upstream]
                input_grads = node.function.backward(node, *upstream)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if len(input_grads) != len(node.inputs):
                raise RuntimeError(f"{node.name()} returned {len(input_grads)} gradients for "
                                   f"{len(node.inputs)} inputs")
            if _Anomaly.enabled and _Anomaly.check_nan:
                _check_nan(node, input_grads)
        except Exception:
            if _Anomaly.enabled:
                _warn_forward_stack(node)
            raise
        if not retain_graph:
            node.release()
        adopted = set()
        for t, gi in zip(node.inputs, input_grads):
            if t is None or gi is None:
                continue
            try:
                gi = sum_to_shape(gi if isinstance(gi, ARRAY_TYPES) else np.asarray(gi), t.shape)
            except (ValueError, IndexError):
                raise RuntimeError(f"{node.name()} returned a gradient of shape {np.shape(gi)} "
                                   f"for an input of shape {t._data.shape}") from None
            if gi.dtype != t._data.dtype and node._widened:  # back to the input's low precision
                gi = node.backend.cast(gi, t._data.dtype)
            elif gi.dtype != t._data.dtype:
                raise RuntimeError(f"{node.name()} returned a {gi.dtype} gradient for a "
                                   f"{t.dtype} input of shape {t._data.shape}")
            if t.grad_fn is None or t._retains_grad:
                # Adopt a gradient array the backward made for this input alone (a fresh, owning,
                # writable array that is neither the upstream gradient nor handed out already);
                # copy anything else. Saves a full copy per parameter per step.
                owned = (t.grad_fn is None
                         and (gi is not g if single else all(gi is not u for u in upstream))
                         and gi.flags.owndata and gi.flags.writeable and id(gi) not in adopted)
                adopted.add(id(gi))
                _accumulate(t, gi, owned)
            previous = t.grad_fn
            if previous is None:
                continue
            if previous._output_meta is None:  # inline: this runs once per edge of the graph
                key = id(previous)
                grads[key] = grads[key] + gi if key in grads else gi
            else:
                _add_grad(grads, previous, t._output_nr, gi)


def _widen_grad(g: Any) -> Any:
    """An upstream gradient of a node computed in float32 (see Function._low_precision), as a
    float32 array (None stays None: an output without gradient)."""
    if g is None or g.dtype.itemsize != 2:
        return g
    return array_table(g).cast(g, _float32())


class NaNGradientError(RuntimeError):
    """Raised in the anomaly mode when a backward returns a gradient holding a NaN. A
    RuntimeError with PyTorch's message; ``node`` is the graph node (its ``name()`` is the
    op's, ``forward_stack`` where its forward was called), ``index`` the forward argument."""

    def __init__(self, node: Context, index: int) -> None:
        super().__init__(f"Function '{node.name()}' returned nan values in its {index}th output.")
        self.node, self.index = node, index


def _check_nan(node: Context, input_grads: tuple[Any, ...]) -> None:
    """Anomaly mode: raise at the first gradient of ``node``'s backward holding a NaN."""
    for i, gi in enumerate(input_grads):
        on_device = isinstance(gi, ARRAY_TYPES) and not isinstance(gi, np.ndarray)
        if gi is not None and np.isnan(to_host(gi) if on_device else gi).any():
            raise NaNGradientError(node, i)


_OP_PLUMBING = tuple(os.path.join(os.path.dirname(__file__), name) for name in (
    "autograd.py", "tensor.py", "tensor_methods.py", "ops" + os.sep))


def _user_stack() -> traceback.StackSummary:
    """The current stack without its innermost frames inside minicnn's op plumbing (Function.apply,
    the ops package, Tensor methods): it ends at the line that called the op."""
    stack = traceback.extract_stack()
    end = len(stack)
    while end > 1 and stack[end - 1].filename.startswith(_OP_PLUMBING):
        end -= 1
    return traceback.StackSummary.from_list(stack[:end])


def _warn_forward_stack(node: Context) -> None:
    """Anomaly mode: show where the forward of the failing ``node`` was called (as PyTorch)."""
    stack = node.forward_stack
    if stack is None:  # recorded before the mode was turned on
        return
    warnings.warn(f"Error detected in {node.name()}. Traceback of forward call that caused the "
                  f"error:\n{''.join(traceback.format_list(stack)).rstrip()}", UserWarning,
                  stacklevel=4)  # the caller of Tensor.backward


def _add_grad(grads: dict[int, Any], node: Context, output_nr: int, grad: Any) -> None:
    """Add ``grad`` to the gradient of output ``output_nr`` of ``node`` held in ``grads`` (keyed
    by node): an array for a node with one output; for several, a list with one entry per
    output, None until a gradient reaches it. Sums make new arrays: a gradient may be shared."""
    key = id(node)
    if node._output_meta is None:
        grads[key] = grads[key] + grad if key in grads else grad
        return
    slots = grads.get(key)
    if slots is None:
        slots = grads[key] = [None] * len(node._output_meta)
    slots[output_nr] = grad if slots[output_nr] is None else slots[output_nr] + grad
