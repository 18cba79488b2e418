"""Module: the base class of every layer and model (``torch.nn.Module``).

A module holds three ordered dicts, filled by plain attribute assignment: ``_parameters``
(a :class:`Parameter` assigned to an attribute), ``_buffers`` (tensors given to
:meth:`Module.register_buffer`: running statistics and the like) and ``_modules`` (sub-modules).
Everything else (parameters(), state_dict(), train(), to(), repr) walks those dicts, so the dotted
names ("features.0.weight") are exactly PyTorch's for the same structure.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from ..._compat import add_note
from ...autograd import is_floating_dtype, no_grad
from ...device import as_device, move
from ...device import device as Device
from ...tensor import Tensor
from ..parameter import Parameter, is_lazy

T = TypeVar("T", bound="Module")


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` returns (PyTorch's ``_IncompatibleKeys``): the keys
    the module has but the state dict lacked, and those the state dict had but the module lacks."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class RemovableHandle:
    """Returned by ``register_forward_hook``/``register_forward_pre_hook``; ``remove()`` undoes
    it."""

    _next_id = 0

    def __init__(self, hooks: dict[int, Callable[..., Any]]) -> None:
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class Module:
    """Base class for all layers and models (``torch.nn.Module``).

    Subclasses call ``super().__init__()`` first, assign parameters, buffers and sub-modules as
    attributes, and define ``forward``; calling the module runs ``forward`` (with hooks).
    ``training`` is True after construction; ``eval()`` clears it (dropout and batch norm read it).

    An error raised inside ``forward`` gets a note naming the layer that raised it, as a dotted path
    from the module that was called (e.g. ``layer 'features.0' (Conv2d)``).
    """

    training: bool
    # filled by __init__ through object.__setattr__ (this class's __setattr__ routes by them)
    _parameters: OrderedDict[str, Parameter | None]
    _buffers: OrderedDict[str, Tensor | None]
    _non_persistent_buffers_set: set[str]
    _modules: OrderedDict[str, Module | None]
    _forward_hooks: OrderedDict[int, Callable[..., Any]]
    _forward_pre_hooks: OrderedDict[int, Callable[..., Any]]

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation of the module: subclasses define it; call the module, not this."""
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  f'"forward" function')

    # ------------------------------------------------------------ calling

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            if self._forward_pre_hooks or self._forward_hooks:
                return self._call_with_hooks(args, kwargs)
            return self.forward(*args, **kwargs)
        except Exception as e:  # say which layer raised; costs nothing unless it raises
            _note_layer(e, self)
            raise

    def _call_with_hooks(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    def register_forward_hook(
            self: T, hook: Callable[[T, tuple[Any, ...], Any], Any]) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every forward; a non-None result replaces the
        output. Returns a handle whose ``remove()`` unregisters it."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(
            self: T, hook: Callable[[T, tuple[Any, ...]], Any]) -> RemovableHandle:
        """Call ``hook(module, args)`` before every forward; a non-None result replaces the args."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------ registration

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(minicnn.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            if d.get("_modules") is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name)
            d["_modules"][name] = value
        elif d.get("_modules") is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module "
                                f"'{name}' (minicnn.nn.Module or None expected)")
            d["_modules"][name] = None
        elif d.get("_buffers") is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(minicnn.Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        """Remove ``name`` from every place an attribute can live (before re-registering it)."""
        self.__dict__.pop(name, None)
        for key in ("_parameters", "_buffers", "_modules"):
            self.__dict__[key].pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    # only called when normal lookup fails; Any: what was registered under the name (a
    # Parameter, a buffer Tensor, a Module, or None)
    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            store = d.get(key)
            if store is not None and name in store:
                return store[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for key in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__[key]:
                del self.__dict__[key][name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def _check_name(self, kind: str, name: object, store: Mapping[str, object]) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{kind} name can't be empty or contain \".\", got {name!r}")
        if hasattr(self, name) and name not in store:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a Parameter, or None for an absent one such as a disabled bias)."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_name("parameter", name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter "
                            f"'{name}' (minicnn.nn.Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a tensor that is state but not a parameter (e.g. ``running_mean``).

        Persistent buffers are saved in ``state_dict()``; ``persistent=False`` keeps one out.
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_name("buffer", name, self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer "
                            f"'{name}' (minicnn.Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` (or None) as the child ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name("module", name, self._modules)
        self._modules[name] = module

    register_module = add_module

    # ------------------------------------------------------------ traversal

    def named_modules(self, memo: set[Module] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module ("") and every descendant, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every descendant, depth first (as :meth:`named_modules`)."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for each direct child, a module registered twice listed once."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and module not in seen:
                seen.add(module)
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct children (as :meth:`named_children`)."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, store: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        seen = set()
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for mod_prefix, module in modules:
            for name, value in getattr(module, store).items():
                if value is None or (remove_duplicate and value in seen):
                    continue
                if remove_duplicate:
                    seen.add(value)
                yield mod_prefix + ("." if mod_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs; a parameter shared by two layers is listed once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (of the descendants too unless ``recurse=False``), each once."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, Tensor) pairs for every buffer, persistent or not."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer (as :meth:`named_buffers`)."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The descendant at dotted path ``target`` ("" is self); AttributeError names the part
        that is missing."""
        module: Module = self
        for part in target.split(".") if target else []:
            child = module._modules.get(part)
            if not isinstance(child, Module):
                raise AttributeError(f"{type(module).__name__} has no submodule '{part}' "
                                     f"(looking up '{target}')")
            module = child
        return module

    def get_parameter(self, target: str) -> Parameter | None:
        """The parameter at dotted path ``target`` (None for one registered as None, such as a
        disabled bias); AttributeError when the module or the parameter is missing."""
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if name not in module._parameters:
            raise AttributeError(f"{type(module).__name__} has no parameter '{name}'")
        return module._parameters[name]

    # ------------------------------------------------------------ modes and bulk changes

    def train(self: T, mode: bool = True) -> T:
        """Set training mode on this module and all descendants; returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self: T) -> T:
        """``train(False)``: dropout off, batch norm uses its running statistics."""
        return self.train(False)

    def requires_grad_(self: T, requires_grad: bool = True) -> T:
        """Set requires_grad on every parameter (``False`` freezes the module); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad``: to None (default, as PyTorch 2) or to zeros."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = Tensor._wrap(np.zeros_like(p.grad._data), p.grad._device)

    def apply(self: T, fn: Callable[[Module], object]) -> T:
        """Call ``fn(module)`` on every descendant (children first) and on self; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def _apply_to_tensors(self: T, convert: Callable[[Tensor], Tensor]) -> T:
        """Replace every parameter's and buffer's array in place (optimizers keep their
        references), converting gradients the same way."""
        with no_grad():
            for m in self.modules():
                for store in (m._parameters, m._buffers):
                    for t in store.values():
                        if t is None:
                            continue
                        new = convert(t)
                        t._data, t._device = new._data, new._device
                        if t.grad is not None:
                            g = convert(t.grad)
                            t.grad = Tensor._wrap(g._data, g._device)
        return self

    def to(self: T, *args: str | Device | npt.DTypeLike, dtype: npt.DTypeLike | None = None,
           device: str | Device | None = None) -> T:
        """Move and/or cast parameters and buffers in place: ``to(device)``, ``to(dtype)``,
        ``to(device, dtype)``; returns self. Only floating tensors change dtype (integer
        buffers such as ``num_batches_tracked`` keep theirs), as in PyTorch."""
        for a in args:
            if isinstance(a, (str, Device)):
                device = a
            else:
                dtype = a
        if device is not None:
            device = as_device(device)
        if dtype is not None:
            dtype = np.dtype(dtype)
            if not is_floating_dtype(dtype):
                raise TypeError(f"Module.to only accepts floating point dtypes, got {dtype}")

        def convert(t: Tensor) -> Tensor:
            target = dtype if dtype is not None and is_floating_dtype(t.dtype) else None
            return t.to(device=device, dtype=target)

        return self._apply_to_tensors(convert)

    def float(self: T) -> T:
        """``to(float32)``."""
        return self.to(np.float32)

    def double(self: T) -> T:
        """``to(float64)``."""
        return self.to(np.float64)

    def cpu(self: T) -> T:
        """``to("cpu")``."""
        return self.to("cpu")

    def cuda(self: T) -> T:
        """``to("cuda")``."""
        return self.to("cuda")

    # ------------------------------------------------------------ state dict

    def state_dict(self, destination: dict[str, Tensor] | None = None, prefix: str = "",
                   keep_vars: bool = False) -> dict[str, Tensor]:
        """An OrderedDict from dotted name to tensor: every parameter and persistent buffer.

        The tensors share memory with the module (detached unless ``keep_vars``); the keys are
        PyTorch's for the same structure, e.g. ``"layer1.0.bn1.running_mean"``.

        Raises RuntimeError for a lazy module that has not seen its first input (its parameters
        have no shape yet; PyTorch would return the placeholders, which save as nothing usable).
        """
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else self._saved_value(prefix + name, p)
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else self._saved_value(prefix + name, b)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def _saved_value(self, key: str, tensor: Tensor) -> Tensor:
        if is_lazy(tensor):
            raise RuntimeError(f"state_dict(): {key!r} of {type(self).__name__} is not initialized "
                               "yet: a lazy module learns its input size from its first forward; "
                               "run the model once on an example input (a dry run) first")
        return tensor.detach()

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copy values from ``state_dict`` (name -> Tensor or ndarray) into parameters and buffers.

        Values are cast to each tensor's dtype. Returns ``(missing_keys, unexpected_keys)``.
        Raises RuntimeError naming each key whose shape differs (with both shapes) and, when
        ``strict``, listing missing and unexpected keys; nothing is changed when it raises (except
        that a lazy module is first initialized at the size the checkpoint's shapes imply).
        ``assign=True`` adopts the given arrays instead of copying into the existing ones.
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}")
        for name, module in self.named_modules():  # lazy modules take their sizes from it first
            hook = getattr(type(module), "_lazy_load_hook", None)
            if hook is not None:
                hook(module, state_dict, name + "." if name else "")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        arrays = {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = value._data if isinstance(value, Tensor) else _as_array(value, key)
            if array.shape != target.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape "
                              f"{tuple(array.shape)} from checkpoint, the shape in current "
                              f"model is {tuple(target.shape)}.")
                continue
            arrays[key] = array
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        with no_grad():
            for key, array in arrays.items():
                target = own[key]
                if assign:
                    target._data = move(np.ascontiguousarray(array, dtype=target.dtype),
                                        target.device)
                else:
                    target.copy_(array)  # from any device
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ repr

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in its repr (subclasses override)."""
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        main = type(self).__name__ + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                return main + lines[0] + ")"
            main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


def _as_array(value: object, key: str) -> np.ndarray:
    try:
        return np.asarray(value)
    except Exception as e:
        raise TypeError(f"state_dict[{key!r}]: expected a Tensor or array, "
                        f"got {type(value).__name__}") from e


def _note_layer(exc: BaseException, module: Module) -> None:
    """Record on ``exc`` which layer raised it, as a dotted path from the outermost caller."""
    origin = getattr(exc, "_minicnn_layer", None)
    if origin is None:
        try:
            exc._minicnn_layer = module  # type: ignore[attr-defined]  # read back by getattr
        except AttributeError:  # exception types without a __dict__
            return
        add_note(exc, f"(raised in layer {type(module).__name__})")
        return
    for name, m in module.named_modules():
        if m is origin:
            if name:  # replace the note made above (add_note keeps __notes__ on Python 3.10 too)
                notes = getattr(exc, "__notes__")
                notes[-1] = f"(raised in layer '{name}' ({type(origin).__name__}))"
            return
