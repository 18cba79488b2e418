"""Containers: Sequential, ModuleList, ModuleDict (as in ``torch.nn``); children are named
"0", "1", ... (or by their keys), so state_dict keys match PyTorch's."""
from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from typing import Any, SupportsIndex, cast, overload

import numpy as np

from ... import amp, autograd
from ...ops.conv import conv2d_activation
from ...tensor import Tensor
from ..utils import fusion
from .activation import ReLU, ReLU6
from .conv import Conv2d
from .module import Module, _note_layer
from .norm import BatchNorm1d, BatchNorm2d, _BatchNorm

__all__ = ["Sequential", "ModuleList", "ModuleDict"]


def _index(idx: SupportsIndex, length: int, cls: str) -> int:
    idx = operator.index(idx)
    if not -length <= idx < length:
        raise IndexError(f"index {idx} is out of range for {cls} of length {length}")
    return idx + length if idx < 0 else idx


def _children(container: Module) -> OrderedDict[str, Module]:
    """A container's children, which are modules: its methods take nothing else (only
    ``add_module(name, None)``, called on it directly, could store a None)."""
    return cast("OrderedDict[str, Module]", container._modules)


def _renumber(container: Module, items: Iterable[Module]) -> None:
    """Re-register ``items`` as the children "0", "1", ... (after a delete or an insert)."""
    container._modules.clear()
    for i, m in enumerate(items):
        container.add_module(str(i), m)


def _foldable(conv: Module, bn: Module, x: Any) -> bool:
    """Whether conv -> bn may run as one folded convolution on ``x`` (minicnn.nn.utils.fusion):
    exactly a zero-padded Conv2d and an eval-mode BatchNorm2d with running statistics, no hooks,
    a 4-d input in host memory (NumPy arrays: the fold is computed with them) the conv takes,
    outside autocast and an ONNX trace, and an output large
    enough for the fold to pay."""
    if not (type(conv) is Conv2d and type(bn) is BatchNorm2d and not bn.training
            and conv.padding_mode == "zeros" and bn.running_mean is not None
            and bn.running_var is not None and bn.num_features == conv.out_channels
            and not (conv._forward_hooks or conv._forward_pre_hooks or bn._forward_hooks
                     or bn._forward_pre_hooks)
            and isinstance(x, Tensor) and x.ndim == 4 and x.shape[1] == conv.in_channels
            and isinstance(x._data, np.ndarray) and autograd._tracer is None
            and not amp.is_autocast_enabled("cpu")):
        return False
    weight = conv.weight
    sh, sw = conv.stride
    out_elements = x.shape[0] * conv.out_channels * (x.shape[2] // sh) * (x.shape[3] // sw)
    return out_elements >= fusion.MIN_OUTPUT_PER_WEIGHT * weight.numel()


_ACTIVATIONS: dict[type, str] = {ReLU: "relu", ReLU6: "relu6"}


def _hooked(module: Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


def _bn_activation(bn: Module, act: Module, x: Any) -> str | None:
    """The activation ("relu", "relu6") that bn -> act may run as in one batch-norm op
    (minicnn.nn.utils.fusion), or None: exactly a BatchNorm1d/2d and a ReLU or ReLU6, in either
    mode, no hooks, a float32/float64 input in host memory (NumPy arrays), outside autocast
    (which may round between the two ops) and an ONNX trace."""
    kind = _ACTIVATIONS.get(type(act))
    if (kind is None or type(bn) not in (BatchNorm1d, BatchNorm2d) or _hooked(bn) or _hooked(act)
            or not isinstance(x, Tensor) or not isinstance(x._data, np.ndarray)
            or x.dtype not in (np.float32, np.float64) or autograd._tracer is not None
            or amp.is_autocast_enabled("cpu")):
        return None
    return kind


def _forward_fused(modules: list[Module], input: Any) -> Any:
    """Sequential's forward with fusion on: each BN -> ReLU/ReLU6 pair as one batch-norm op, and
    with grads off each foldable conv -> BN pair as one convolution."""
    fold = not autograd.is_grad_enabled()
    i = 0
    while i < len(modules):
        module = modules[i]
        kind = _bn_activation(module, modules[i + 1], input) if i + 1 < len(modules) else None
        if kind is not None:
            try:
                input = cast(_BatchNorm, module).forward_activated(input, kind)
            except Exception as e:  # named as module(input) names it
                _note_layer(e, module)
                raise
            i += 2
        elif fold and i + 1 < len(modules) and _foldable(module, modules[i + 1], input):
            conv, bn = cast(Conv2d, module), cast(BatchNorm2d, modules[i + 1])
            w, b = fusion.fold_conv_bn_arrays(
                conv.weight._data, None if conv.bias is None else conv.bias._data,
                bn.running_mean._data, bn.running_var._data, bn.eps,
                None if bn.weight is None else bn.weight._data,
                None if bn.bias is None else bn.bias._data)
            # a ReLU/ReLU6 after the pair runs with the bias in the convolution's epilogue
            act = (_ACTIVATIONS.get(type(modules[i + 2]))
                   if i + 2 < len(modules) and not _hooked(modules[i + 2]) else None)
            input = conv2d_activation(input, Tensor._wrap(w, input.device),
                                      Tensor._wrap(b, input.device), conv.stride, conv.padding,
                                      conv.dilation, conv.groups, act)
            i += 2 if act is None else 3
        else:
            input = module(input)
            i += 1
    return input


class Sequential(Module):
    """Modules applied one after another: ``Sequential(m1, m2, ...)`` or
    ``Sequential(OrderedDict(name=m, ...))``. ``forward(x)`` returns ``...m2(m1(x))``.
    Indexing with an int gives a layer, with a slice a new Sequential of the same layers."""

    @overload
    def __init__(self, *args: Module) -> None: ...

    @overload
    def __init__(self, arg: OrderedDict[str, Module], /) -> None: ...

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def forward(self, input: Any) -> Any:
        if fusion.enabled:
            return _forward_fused(list(_children(self).values()), input)
        for module in _children(self).values():
            input = module(input)
        return input

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(_children(self).values())

    @overload
    def __getitem__(self, idx: slice) -> Sequential: ...

    @overload
    def __getitem__(self, idx: SupportsIndex) -> Module: ...

    def __getitem__(self, idx: slice | SupportsIndex) -> Sequential | Module:
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(_children(self).items())[idx]))
        return list(_children(self).values())[_index(idx, len(self), "Sequential")]

    def __setitem__(self, idx: SupportsIndex, module: Module) -> None:
        key = list(self._modules)[_index(idx, len(self), "Sequential")]
        self.add_module(key, module)

    def __delitem__(self, idx: slice | SupportsIndex) -> None:
        keys = list(self._modules)
        for key in (keys[idx] if isinstance(idx, slice) else [keys[_index(idx, len(self),
                                                                          "Sequential")]]):
            del self._modules[key]
        _renumber(self, list(_children(self).values()))  # keys stay "0", "1", ... as PyTorch's

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        """Append each of ``modules``; returns self."""
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: SupportsIndex, module: Module) -> Sequential:
        """Insert ``module`` before position ``index`` (list.insert's rule); returns self."""
        items = list(_children(self).values())
        items.insert(index, module)
        _renumber(self, items)
        return self


class ModuleList(Module):
    """A list of modules, registered so their parameters are found (``torch.nn.ModuleList``).
    It has no forward: index or iterate it in your own."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(_children(self).values())

    @overload
    def __getitem__(self, idx: slice) -> ModuleList: ...

    @overload
    def __getitem__(self, idx: SupportsIndex) -> Module: ...

    def __getitem__(self, idx: slice | SupportsIndex) -> ModuleList | Module:
        if isinstance(idx, slice):
            return ModuleList(list(_children(self).values())[idx])
        return _children(self)[str(_index(idx, len(self), "ModuleList"))]

    def __setitem__(self, idx: SupportsIndex, module: Module) -> None:
        self.add_module(str(_index(idx, len(self), "ModuleList")), module)

    def __delitem__(self, idx: slice | SupportsIndex) -> None:
        items = list(_children(self).values())
        if isinstance(idx, slice):
            del items[idx]
        else:
            del items[_index(idx, len(items), "ModuleList")]
        _renumber(self, items)

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append each of ``modules``; returns self."""
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: SupportsIndex, module: Module) -> None:
        """Insert ``module`` before position ``index`` (list.insert's rule)."""
        items = list(_children(self).values())
        items.insert(index, module)
        _renumber(self, items)


class ModuleDict(Module):
    """An ordered dict of named modules (``torch.nn.ModuleDict``); keys become the dotted names."""

    def __init__(
            self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None
    ) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return _children(self)[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> KeysView[str]:
        return self._modules.keys()

    def items(self) -> ItemsView[str, Module]:
        return _children(self).items()

    def values(self) -> ValuesView[Module]:
        return _children(self).values()

    def pop(self, key: str) -> Module:
        """Remove the module ``key`` and return it (KeyError when there is none)."""
        return _children(self).pop(key)

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules from a mapping or from (name, module) pairs."""
        pairs = modules.items() if hasattr(modules, "items") else modules
        for key, module in pairs:
            self[key] = module
