"""Optimizer: the base class of every optimizer (``torch.optim.Optimizer``).

An optimizer holds ``param_groups`` (a list of dicts: ``"params"``, a list of tensors, plus that
group's hyperparameters, defaulting to ``defaults``) and ``state`` (a dict from parameter to its
own dict of running statistics). Subclasses implement ``step``; an update runs on the
parameter's array in place (``p._data``), outside autograd, so no graph is ever recorded: a
kernel of the parameter's device (``sgd_step``, ``adam_step``, ``rmsprop_step``, see
:meth:`Optimizer._kernels`), or NumPy code for host memory in the optimizers without one.

State arrays (``momentum_buffer``, ``exp_avg``, ...) are :class:`minicnn.Tensor` s on the
parameter's device and of its dtype, as in PyTorch, and ``state["step"]`` is a Python float, so
``minicnn.save(optimizer.state_dict(), f)`` stores the whole state.
"""
from __future__ import annotations

import copy
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from ..autograd import enable_grad
from ..backends import BACKENDS
from ..backends.reference.optim import direction
from ..tensor import Tensor

if TYPE_CHECKING:
    from ..backends import KernelTable

__all__ = ["Optimizer", "required"]

#: what an optimizer takes as ``params``: tensors, ``(name, tensor)`` pairs or group dicts
ParamsT = Iterable[Tensor] | Iterable[tuple[str, Tensor]] | Iterable[dict[str, Any]]
#: the loss that a ``step(closure)`` closure returns, and ``step`` passes on
LossT = TypeVar("LossT", bound=Tensor | float)


class _RequiredParameter:
    """Marks a hyperparameter with no default: every parameter group must give it."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj: object) -> str:
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _mark_step_called(step: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a subclass's ``step`` so that LR schedulers can tell whether it ran (they warn when
    ``scheduler.step()`` comes before the first ``optimizer.step()``, as PyTorch does), and so
    that every parameter it updated (those with a gradient) has its version counter bumped: a
    backward through a graph built before the step then raises, as in PyTorch."""

    @functools.wraps(step)
    def wrapper(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        self._opt_called = True
        loss = step(self, *args, **kwargs)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p._bump_version()
        return loss

    return wrapper


class Optimizer:
    """Base class for all optimizers (``torch.optim.Optimizer``).

    Args:
        params: an iterable of tensors, of ``(name, tensor)`` pairs (``module.named_parameters()``;
            the names are kept in each group's ``"param_names"``), or of dicts, each one parameter
            group: ``{"params": [...], "lr": ..., ...}``; keys a group leaves out take the
            optimizer's defaults.
        defaults: dict of the hyperparameters' default values (:data:`required` for none).

    Raises:
        TypeError: ``params`` is a single tensor or not iterable; an element is not a Tensor;
            a group's params are a set (its order is not reproducible).
        ValueError: empty parameter list; a non-leaf tensor; a parameter listed twice (within a
            group or across groups: PyTorch only warns within one); a group missing a
            :data:`required` hyperparameter.
    """

    #: set by the first ``step()``: schedulers warn when they step before it
    _opt_called: bool

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _mark_step_called(cls.__dict__["step"])  # type: ignore[method-assign]

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        # per-dtype flat work arrays reused by every update (see _scratch); not part of the state
        self._work: dict[np.dtype[Any], npt.NDArray[Any]] = {}
        if isinstance(params, Tensor) or not isinstance(params, Iterable):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {_typename(params)}")
        # keyed by parameter (and, after load_state_dict, by the saved index of an entry that no
        # parameter matched)
        self.state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups: list[Any] = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Append a parameter group (a dict with ``"params"`` and optional hyperparameters), e.g.
        to train layers that were frozen so far. Missing hyperparameters take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {_typename(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but "
                            "the ordering of tensors in sets will change between runs. Please use "
                            "a list instead.")
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. Some param "
                                 "names are missing")
            params = [p[1] for p in params]
            param_group["param_names"] = names
        param_group["params"] = params

        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + _typename(p))
            if not (p.is_leaf or p._retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required optimization "
                                 f"parameter {name}")
            param_group.setdefault(name, default)

        ids = {id(p) for p in params}
        if len(ids) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        for group in self.param_groups:
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
            if not ids.isdisjoint(id(p) for p in group["params"]):
                raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradient of every parameter: to None (the default, as PyTorch 2), or to zeros
        in place (``set_to_none=False``). A parameter whose grad is None stays None."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif g.grad_fn is not None or not g._data.flags.writeable:
                    p.grad = Tensor._wrap(np.zeros_like(g._data), g._device)
                else:
                    g.requires_grad = False
                    g._data.fill(0)

    def step(self, closure: Callable[[], LossT] | None = None) -> LossT | None:
        """Update the parameters once; returns ``closure()``'s value (the loss) when given.

        ``closure``: a callable that re-evaluates the model (zero_grad, forward, backward) and
        returns the loss; it runs with grad mode on. Subclasses implement the update.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")

    @staticmethod
    def _run_closure(closure: Callable[[], LossT] | None) -> LossT | None:
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _scratch(self, like: npt.NDArray[Any], count: int) -> list[npt.NDArray[Any]]:
        """``count`` work arrays shaped like the ndarray ``like``, views of one flat per-dtype
        buffer reused across parameters and steps (updates need temporaries; this saves
        allocating them on every step). Valid until the next call."""
        n = like.size
        buf = self._work.get(like.dtype)
        if buf is None or buf.size < count * n:
            buf = self._work[like.dtype] = np.empty(count * n, like.dtype)
        return [buf[i * n:(i + 1) * n].reshape(like.shape) for i in range(count)]

    @staticmethod
    def _start_state(state: dict[str, Any], p: Tensor, *buffers: str,
                     **values: float) -> None:
        """Fill the empty state of parameter ``p`` in PyTorch's key order: ``"step"`` 0.0, then
        ``values`` (scalars), then a zero Tensor like ``p`` (its dtype and device) for each name
        in ``buffers``."""
        state["step"] = 0.0
        state.update(values)
        for name in buffers:
            state[name] = Tensor._wrap(np.zeros_like(p._data), p._device)

    #: the gradient the update follows (minicnn.backends.reference.optim.direction)
    _direction = staticmethod(direction)

    def _kernels(self, p: Tensor, kernel: str) -> KernelTable:
        """The kernel table of parameter ``p``'s device, for this optimizer's update ``kernel``
        (a name of minicnn.backends.KERNELS, such as "sgd_step"). TypeError when that device
        has no such kernel: this optimizer cannot update ``p`` there."""
        table = BACKENDS[p.device.type]
        if kernel in table.unavailable:
            raise TypeError(f"{type(self).__name__} has no {p.device.type.upper()} implementation "
                            f"in minicnn (no {kernel} kernel for {p.device.type}): move the "
                            "parameters to the CPU with .cpu() to use it")
        return table

    # ------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as a dict, in PyTorch's layout::

            {"state": {0: {"momentum_buffer": Tensor, ...}, 1: {...}},
             "param_groups": [{"lr": 0.01, ..., "params": [0, 1]}, {...}]}

        Parameters are replaced by their index, counted across groups in order. Like PyTorch,
        the state entries are the live dicts and tensors (not copies): save them (or deep-copy
        them) before stepping again.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {(index[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a :meth:`state_dict` (deep-copied). The parameters themselves are not part of it:
        the i-th index maps to this optimizer's i-th parameter. State arrays (Tensors or
        ndarrays) become Tensors of the parameter's dtype on its device; ``"step"`` a float.

        Raises ValueError when the number of groups, or the number of parameters of a group,
        differs from this optimizer's.
        """
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the "
                             "size of optimizer's group")
        id_map = {saved: p for g, s in zip(groups, saved_groups)
                  for saved, p in zip(s["params"], g["params"])}

        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = {key: _cast_state(param, key, value) for key, value in v.items()}
            else:
                state[k] = copy.deepcopy(v)

        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            new_groups.append(saved)
        self.state = state
        self.param_groups = new_groups

    def __repr__(self) -> str:
        text = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            text += "".join(f"    {key}: {group[key]}\n"
                            for key in sorted(group) if key != "params")
        return text + ")"


def _cast_state(param: Tensor, key: str | None, value: Any) -> Any:
    """A deep copy of one state entry for ``param``: arrays as Tensors of its dtype and device."""
    if key == "step":
        return float(value._data if isinstance(value, Tensor) else value)
    if isinstance(value, (Tensor, np.ndarray)):
        array = value._data if isinstance(value, Tensor) else value
        dtype = param.dtype if param.dtype.kind == "f" else array.dtype
        return Tensor._wrap(np.array(array, dtype=dtype, copy=True), param.device)
    if isinstance(value, dict):
        return {k: _cast_state(param, k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_state(param, None, v) for v in value)
    return copy.deepcopy(value)
