"""Lazy modules (``torch.nn.LazyConv2d``, ``LazyLinear``, ...): layers that infer their input size
from the first input they see.

A lazy module is constructed with the ordinary layer's arguments minus the input size
(``in_channels``, ``in_features``, ``num_features``, shown as 0 until known). Its parameters (and
batch norm's running statistics) are :class:`~minicnn.nn.parameter.UninitializedParameter` s
(``UninitializedBuffer`` s) until the first forward, whose input gives the size; then they are
materialized in place, initialized exactly as the ordinary layer does (its ``reset_parameters``,
drawing from minicnn's generator, so ``manual_seed(0); LazyLinear(4)(x)`` has the weights of
``manual_seed(0); Linear(x.shape[-1], 4)``), and the module's class becomes the ordinary one
(``type(m) is nn.Linear``), as PyTorch's ``cls_to_become``. Because the Parameter objects stay
the same, an optimizer built before or after that first "dry run" updates the real weights.

>>> model = nn.Sequential(nn.LazyConv2d(8, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10))
>>> model(minicnn.zeros(1, 3, 32, 32))  # dry run: in_channels 3, in_features 7200 # doctest: +SKIP
>>> optimizer = minicnn.optim.SGD(model.parameters(), lr=0.1)                     # doctest: +SKIP
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ...geometry import IntOrPair, is_int
from ...tensor import Tensor
from ..parameter import UninitializedBuffer, UninitializedParameter, is_lazy
from .conv import Conv2d, ConvTranspose2d
from .linear import Linear
from .norm import BatchNorm1d, BatchNorm2d

# For type checkers only, the bases the mixins stand in front of (at run time they derive from
# object and the layer class follows them in the MRO)
if TYPE_CHECKING:
    from ...device import device as Device
    from .module import Module
    from .norm import _BatchNorm

    class _Layer(Module):
        """What a lazy mixin takes from the layer class: its constructor and initialization."""

        def __init__(self, *args: Any, **kwargs: Any) -> None: ...

        def reset_parameters(self) -> None: ...

    _BatchNormBase = _BatchNorm
else:
    _Layer = _BatchNormBase = object

__all__ = ["LazyConv2d", "LazyConvTranspose2d", "LazyLinear",
           "LazyBatchNorm1d", "LazyBatchNorm2d"]


def _skip_reset() -> None:
    """Stands in for reset_parameters while the ordinary constructor runs (nothing to draw)."""


def _infer_parameters(module: LazyModuleMixin, args: tuple[Any, ...]) -> None:
    """The forward pre-hook of a lazy module: materialize from the input, then become the
    ordinary module (the hook removes itself)."""
    module.initialize_parameters(*args)
    if module.has_uninitialized_params():
        raise RuntimeError(f"module {type(module).__name__} has not been fully initialized")
    module._initialize_hook.remove()
    del module._initialize_hook
    if module.cls_to_become is not None:
        module.__class__ = module.cls_to_become


class LazyModuleMixin(_Layer):
    """What every lazy module shares (``torch.nn.modules.lazy.LazyModuleMixin``); put it before
    the ordinary module class in the bases.

    A subclass sets ``cls_to_become`` (the ordinary class), ``_size_attr`` (the attribute that
    holds the input size) and implements ``_infer_size(input)``, ``_shapes(size)`` (name ->
    shape of every parameter and buffer) and ``_size_from_checkpoint(shapes)``.

    ``load_state_dict`` into a lazy module first initializes it at the size the checkpoint's
    shapes imply (as the ordinary module of that size, drawing its initial weights), then copies
    the values; like PyTorch, the class changes at the next forward.
    """

    cls_to_become: type | None = None
    _size_attr: str = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # the ordinary constructor, given a placeholder size; its reset_parameters would draw
        # initial weights from the generator, which must wait until the real size is known
        object.__setattr__(self, "reset_parameters", _skip_reset)
        super().__init__(*args, **kwargs)
        del self.__dict__["reset_parameters"]
        setattr(self, self._size_attr, 0)
        for name, p in self._parameters.items():
            if p is not None:
                self._parameters[name] = UninitializedParameter(p.requires_grad, p.device,
                                                                p.dtype)
        for name, b in self._buffers.items():
            if b is not None and b.ndim:  # num_batches_tracked (0-d) does not depend on the size
                self._buffers[name] = UninitializedBuffer(b.requires_grad, b.device, b.dtype)
        self._initialize_hook = self.register_forward_pre_hook(_infer_parameters)

    def has_uninitialized_params(self) -> bool:
        """Whether a parameter or buffer of this module is still uninitialized."""
        return any(is_lazy(t) for t in itertools.chain(self._parameters.values(),
                                                       self._buffers.values()))

    def initialize_parameters(self, input: Tensor, *args: object, **kwargs: object) -> None:
        """Infer the input size from ``input`` (the first argument of forward; the rest are
        ignored), materialize the parameters and buffers and initialize them as the ordinary
        module does. Does nothing once initialized; the class changes only in forward.

        Raises TypeError for an input that is not a Tensor, and the subclass's error (naming the
        expected shape) for one whose size cannot be read."""
        if not self.has_uninitialized_params() and getattr(self, self._size_attr) != 0:
            return
        if not isinstance(input, Tensor):
            raise TypeError(f"{type(self).__name__} expected a minicnn.Tensor input, got "
                            f"{type(input).__name__}")
        size = self._infer_size(input)
        if size < 1:
            raise ValueError(f"{type(self).__name__}: {self._size_attr} inferred from an input "
                             f"of shape {tuple(input.shape)} must be positive, got {size}")
        self._materialize(size)

    def _materialize(self, size: int) -> None:
        setattr(self, self._size_attr, int(size))
        shapes = self._shapes(int(size))
        for store in (self._parameters, self._buffers):
            for name, t in store.items():
                if is_lazy(t):
                    t.materialize(shapes[name])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The ordinary module's initialization, once the size is known (a no-op before)."""
        if not self.has_uninitialized_params() and getattr(self, self._size_attr) != 0:
            super().reset_parameters()

    # what each subclass implements (see the class docstring)
    def _infer_size(self, input: Tensor) -> int:
        raise NotImplementedError

    def _shapes(self, size: int) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def _size_from_checkpoint(self, shapes: dict[str, tuple[int, ...]]) -> int | None:
        raise NotImplementedError

    def _lazy_load_hook(self, state_dict: Mapping[str, Any], prefix: str) -> None:
        """Called by Module.load_state_dict before it checks shapes: initialize at the size
        the checkpoint implies, when it implies one."""
        if not self.has_uninitialized_params():
            return
        shapes: dict[str, tuple[int, ...]] = {}
        for name in itertools.chain(self._parameters, self._buffers):
            key = prefix + name
            if key in state_dict and not is_lazy(state_dict[key]):
                shapes[name] = tuple(np.shape(state_dict[key]))
        size = self._size_from_checkpoint(shapes)
        if size is not None and size >= 1:
            self._materialize(size)


class _LazyConvMixin(LazyModuleMixin):
    """Size inference for LazyConv2d and LazyConvTranspose2d: in_channels from the input's
    channel axis, (N, C, H, W) or unbatched (C, H, W)."""

    _size_attr = "in_channels"
    # set by the convolution's constructor
    groups: int
    transposed: bool
    out_channels: int
    kernel_size: tuple[int, int]

    def _infer_size(self, input: Tensor) -> int:
        if input.ndim not in (3, 4):
            raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to "
                               f"{type(self).__name__}, but got input of size: "
                               f"{tuple(input.shape)}")
        in_channels = input.shape[-3]
        if in_channels % self.groups != 0:
            raise ValueError(f"in_channels must be divisible by groups (in_channels="
                             f"{in_channels}, groups={self.groups})")
        return in_channels

    def _shapes(self, size: int) -> dict[str, tuple[int, ...]]:
        if self.transposed:
            weight = (size, self.out_channels // self.groups) + self.kernel_size
        else:
            weight = (self.out_channels, size // self.groups) + self.kernel_size
        return {"weight": weight, "bias": (self.out_channels,)}

    def _size_from_checkpoint(self, shapes: dict[str, tuple[int, ...]]) -> int | None:
        weight = shapes.get("weight")
        if weight is None or len(weight) != 4:
            return None
        return weight[0] if self.transposed else weight[1] * self.groups


class LazyConv2d(_LazyConvMixin, Conv2d):
    """A :class:`~minicnn.nn.Conv2d` whose ``in_channels`` is inferred from the first input's
    channel axis (``torch.nn.LazyConv2d``).

    Args: out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
    padding_mode="zeros", device, dtype: as Conv2d. ``weight`` and ``bias`` are
    UninitializedParameters until the first forward, which makes them (C_out, C_in / groups,
    kh, kw) and (C_out,), initialized as Conv2d's, and turns the module into a Conv2d.

    Raises as Conv2d's constructor; in the first forward, TypeError for a non-Tensor input,
    RuntimeError for one that is not 3-D or 4-D and ValueError when groups does not divide its
    channels.
    """

    cls_to_become = Conv2d

    def __init__(self, out_channels: int, kernel_size: IntOrPair, stride: IntOrPair = 1,
                 padding: str | IntOrPair = 0, dilation: IntOrPair = 1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros",
                 device: str | Device | None = None, dtype: npt.DTypeLike | None = None) -> None:
        placeholder = groups if is_int(groups) and groups > 0 else 1
        super().__init__(placeholder, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)


class LazyConvTranspose2d(_LazyConvMixin, ConvTranspose2d):
    """A :class:`~minicnn.nn.ConvTranspose2d` whose ``in_channels`` is inferred from the first
    input's channel axis (``torch.nn.LazyConvTranspose2d``).

    Args: out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
    dilation=1, padding_mode="zeros", device, dtype: as ConvTranspose2d. The first forward makes
    ``weight`` (C_in, C_out / groups, kh, kw) and ``bias`` (C_out,) and turns the module into a
    ConvTranspose2d; errors as :class:`LazyConv2d`.
    """

    cls_to_become = ConvTranspose2d

    def __init__(self, out_channels: int, kernel_size: IntOrPair, stride: IntOrPair = 1,
                 padding: IntOrPair = 0, output_padding: IntOrPair = 0, groups: int = 1,
                 bias: bool = True, dilation: IntOrPair = 1, padding_mode: str = "zeros",
                 device: str | Device | None = None, dtype: npt.DTypeLike | None = None) -> None:
        placeholder = groups if is_int(groups) and groups > 0 else 1
        super().__init__(placeholder, out_channels, kernel_size, stride, padding,
                         output_padding, groups, bias, dilation, padding_mode, device, dtype)


class LazyLinear(LazyModuleMixin, Linear):
    """A :class:`~minicnn.nn.Linear` whose ``in_features`` is inferred from the first input's
    last dimension (``torch.nn.LazyLinear``).

    Args: out_features, bias=True, device, dtype. The first forward makes ``weight``
    (out_features, in_features) and ``bias`` (out_features,), initialized as Linear's, and turns
    the module into a Linear. Raises TypeError for a non-Tensor first input and ValueError for
    a 0-d one or one whose last dimension is 0.
    """

    cls_to_become = Linear
    _size_attr = "in_features"

    def __init__(self, out_features: int, bias: bool = True, device: str | Device | None = None,
                 dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(1, out_features, bias, device, dtype)

    def _infer_size(self, input: Tensor) -> int:
        if input.ndim == 0:
            raise ValueError(f"{type(self).__name__} expected input of shape (*, in_features), "
                             f"got ()")
        return input.shape[-1]

    def _shapes(self, size: int) -> dict[str, tuple[int, ...]]:
        return {"weight": (self.out_features, size), "bias": (self.out_features,)}

    def _size_from_checkpoint(self, shapes: dict[str, tuple[int, ...]]) -> int | None:
        weight = shapes.get("weight")
        return weight[-1] if weight else None


class _LazyBatchNormMixin(LazyModuleMixin, _BatchNormBase):
    """Size inference for the lazy batch norms: num_features from the input's axis 1."""

    _size_attr = "num_features"

    def _infer_size(self, input: Tensor) -> int:
        if input.ndim not in self._ndims:
            raise ValueError(f"{type(self).__name__} expected input of shape "
                             f"{self._layout.format(C='C')}, got {tuple(input.shape)}")
        return input.shape[1]

    def _shapes(self, size: int) -> dict[str, tuple[int, ...]]:
        return {name: (size,) for name in ("weight", "bias", "running_mean", "running_var")}

    def _size_from_checkpoint(self, shapes: dict[str, tuple[int, ...]]) -> int | None:
        for shape in shapes.values():
            if len(shape) == 1:
                return shape[0]
        return None


class LazyBatchNorm1d(_LazyBatchNormMixin, BatchNorm1d):
    """A :class:`~minicnn.nn.BatchNorm1d` whose ``num_features`` is inferred from the first
    input's axis 1 (``torch.nn.LazyBatchNorm1d``).

    Args: eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device, dtype, keyword
    bias=True: as BatchNorm1d. ``weight``, ``bias``, ``running_mean`` and ``running_var`` are
    uninitialized until the first forward, which makes them (C,) (1, 0, 0 and 1, as
    BatchNorm1d) and turns the module into a BatchNorm1d. Raises TypeError for a non-Tensor
    first input and ValueError for one that is not (N, C) or (N, C, L).
    """

    cls_to_become = BatchNorm1d

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: str | Device | None = None,
                 dtype: npt.DTypeLike | None = None, *, bias: bool = True) -> None:
        super().__init__(1, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)


class LazyBatchNorm2d(_LazyBatchNormMixin, BatchNorm2d):
    """A :class:`~minicnn.nn.BatchNorm2d` whose ``num_features`` is inferred from the first
    input's channel axis (``torch.nn.LazyBatchNorm2d``); arguments and behaviour as
    :class:`LazyBatchNorm1d`, for (N, C, H, W) inputs.
    """

    cls_to_become = BatchNorm2d

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: str | Device | None = None,
                 dtype: npt.DTypeLike | None = None, *, bias: bool = True) -> None:
        super().__init__(1, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
