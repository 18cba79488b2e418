"""Normalization layers: BatchNorm1d, BatchNorm2d, InstanceNorm1d/2d/3d, LayerNorm, GroupNorm
(``torch.nn``'s).

Each holds its affine parameters (and, for batch and instance norm, the running statistics as
buffers) and calls :mod:`minicnn.nn.functional`; :func:`~minicnn.nn.functional.batch_norm` and
:func:`~minicnn.nn.functional.instance_norm` update the running statistics themselves, in place.
"""
from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

import numpy as np
import numpy.typing as npt

from ...creation import empty, ones, tensor, zeros
from ...geometry import integer
from ...ops.norm import batch_norm_activation
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

if TYPE_CHECKING:
    from ...device import device as Device

__all__ = ["BatchNorm1d", "BatchNorm2d", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
           "LayerNorm", "GroupNorm"]


def _positive_int(cls: str, name: str, value: object) -> int:
    """``value`` as an int >= 1: TypeError for a non-int (1.5, "4", True), ValueError below 1."""
    n = integer(value, name, cls)
    if n < 1:
        raise ValueError(f"{cls}: {name} must be a positive int, got {value!r}")
    return n


def _affine(module: Module, shape: int | tuple[int, ...], affine: bool, bias: bool,
            device: str | Device | None, dtype: npt.DTypeLike | None) -> None:
    """Register ``weight`` and ``bias`` Parameters of ``shape`` (or None when not affine)."""
    if affine:
        module.weight = Parameter(empty(shape, dtype=dtype, device=device))
        if bias:
            module.bias = Parameter(empty(shape, dtype=dtype, device=device))
        else:
            module.register_parameter("bias", None)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


class _NormBase(Module):
    """The (C,) affine parameters and running-statistics buffers shared by batch and instance
    norm, as torch.nn's _NormBase: see BatchNorm2d for the arguments."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 device: str | Device | None = None, dtype: npt.DTypeLike | None = None, *,
                 bias: bool = True) -> None:
        super().__init__()
        self.num_features = _positive_int(type(self).__name__, "num_features", num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _affine(self, self.num_features, affine, bias, device, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(self.num_features, dtype=dtype,
                                                       device=device))
            self.register_buffer("running_var", ones(self.num_features, dtype=dtype,
                                                     device=device))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=np.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """running_mean <- 0, running_var <- 1, num_batches_tracked <- 0."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        """Reset the running statistics; weight <- 1, bias <- 0 (PyTorch's default)."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    """Batch normalization over the channel axis 1 (Ioffe & Szegedy 2015), as torch.nn's
    _BatchNorm: see BatchNorm2d for the arguments and semantics."""

    _ndims: tuple[int, ...]  # the accepted input ranks, set by each subclass
    _layout = ""  # the expected input layout, for error messages

    def forward(self, input: Tensor) -> Tensor:
        return self.forward_activated(input, None)

    def forward_activated(self, input: Tensor, activation: str | None) -> Tensor:
        """``activation(self(input))`` in one op, ``activation`` "relu", "relu6" or None
        (:func:`minicnn.ops.norm.batch_norm_activation`): what ``nn.Sequential`` runs for this
        layer followed by ReLU or ReLU6. Hooks are not called."""
        if not isinstance(input, Tensor) or input.ndim not in self._ndims \
                or input.shape[1] != self.num_features:
            self._bad_input(input)
        buffers, params = self._buffers, self._parameters
        momentum = self.momentum
        count = None
        if self.training and self.track_running_stats:
            count = buffers["num_batches_tracked"]
            if count is not None and momentum is None:  # cumulative moving average
                momentum = 1.0 / (int(count.item()) + 1)
        if momentum is None:
            momentum = 0.0  # unused: the running statistics are not updated
        running_mean, running_var = buffers["running_mean"], buffers["running_var"]
        if self.training and not self.track_running_stats:
            running_mean = running_var = None  # batch statistics, nothing to update
        # eval mode normalizes with the running statistics, when there are some
        use_batch_stats = self.training or (running_mean is None and running_var is None)
        out = batch_norm_activation(input, running_mean, running_var, params["weight"],
                                    params["bias"], use_batch_stats, momentum, self.eps,
                                    activation)
        if count is not None:  # counted once the batch went through (PyTorch counts first)
            count._data += 1
        return out

    def _bad_input(self, input: object) -> NoReturn:
        if not isinstance(input, Tensor):
            raise TypeError(f"{type(self).__name__}({self.num_features}) expected a "
                            f"minicnn.Tensor input, got {type(input).__name__}")
        raise ValueError(f"{type(self).__name__}({self.num_features}) expected input of shape "
                         f"{self._layout.format(C=self.num_features)}, got {tuple(input.shape)}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs (``torch.nn.BatchNorm1d``); arguments,
    buffers and semantics as :class:`BatchNorm2d`, statistics over (N,) or (N, L)."""

    _ndims = (2, 3)
    _layout = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of an (N, C, H, W) input (Ioffe & Szegedy 2015;
    ``torch.nn.BatchNorm2d``): y = (x - mean) / sqrt(var + eps) * weight + bias per channel.

    Args: num_features C, eps=1e-5, momentum=0.1 (None: cumulative moving average, the factor
    being 1 / num_batches_tracked), affine=True (learnable ``weight`` = 1 and ``bias`` = 0, (C,)),
    track_running_stats=True, device, dtype, keyword ``bias=True`` (False: no bias even when
    affine).

    Buffers (when track_running_stats): ``running_mean`` (C,) = 0, ``running_var`` (C,) = 1 and
    ``num_batches_tracked`` (0-d int64) = 0.

    Training mode: normalizes with the batch's mean and biased variance over (N, H, W); with
    track_running_stats, adds 1 to num_batches_tracked and updates the running statistics in
    place: running = (1 - momentum) * running + momentum * batch_stat, with the unbiased batch
    variance for running_var. Eval mode: normalizes with the running statistics; without them
    (track_running_stats=False) with the batch statistics, in both modes.

    Raises ValueError in forward for an input that is not (N, C, H, W) with C = num_features
    (naming the layer and the shape), and as :func:`~minicnn.nn.functional.batch_norm` (e.g.
    "Expected more than 1 value per channel when training").
    """

    _ndims = (4,)
    _layout = "(N, {C}, H, W)"


class _InstanceNorm(_NormBase):
    """Instance normalization (Ulyanov, Vedaldi & Lempitsky 2016), as torch.nn's _InstanceNorm:
    see InstanceNorm2d for the arguments and semantics."""

    _ndim: int  # the rank of a batched input, set by each subclass; one less is unbatched

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False,
                 device: str | Device | None = None, dtype: npt.DTypeLike | None = None, *,
                 bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype,
                         bias=bias)

    def forward(self, input: Tensor) -> Tensor:
        if not isinstance(input, Tensor):
            raise TypeError(f"{type(self).__name__}({self.num_features}) expected a "
                            f"minicnn.Tensor input, got {type(input).__name__}")
        batched = self._ndim
        if input.ndim not in (batched - 1, batched):
            raise ValueError(f"expected {batched - 1}D or {batched}D input "
                             f"(got {input.ndim}D input)")
        dim = input.ndim - batched + 1  # the channel axis: 0 unbatched, 1 batched
        if input.shape[dim] != self.num_features:
            if self.affine:
                raise ValueError(f"expected input's size at dim={dim} to match num_features "
                                 f"({self.num_features}), but got: {input.shape[dim]}.")
            # without weight or bias (and running statistics) any channel count works
            warnings.warn(f"input's size at dim={dim} does not match num_features. You can "
                          "silence this warning by not passing in num_features, which is not "
                          "used because affine=False", UserWarning, stacklevel=3)
        unbatched = dim == 0
        if unbatched:
            input = input.unsqueeze(0)
        buffers, params = self._buffers, self._parameters
        # momentum=None means no update here (PyTorch passes 0), not a cumulative average
        out = F.instance_norm(input, buffers["running_mean"], buffers["running_var"],
                              params["weight"], params["bias"],
                              self.training or not self.track_running_stats,
                              0.0 if self.momentum is None else self.momentum, self.eps)
        return out.squeeze(0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization of an (N, C, L) or unbatched (C, L) input
    (``torch.nn.InstanceNorm1d``); arguments, buffers and semantics as :class:`InstanceNorm2d`,
    statistics over L. Raises ValueError "expected 2D or 3D input (got 4D input)" for another
    rank.
    """

    _ndim = 3


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization (Ulyanov, Vedaldi & Lempitsky 2016, "Instance Normalization: The
    Missing Ingredient for Fast Stylization"; ``torch.nn.InstanceNorm2d``) of an (N, C, H, W)
    or unbatched (C, H, W) input: each sample's each channel is normalized over its (H, W)
    positions, y = (x - mean) / sqrt(var + eps) * weight + bias (biased variance). Output: the
    input's shape.

    Args: num_features C, eps=1e-5, momentum=0.1, affine=False (True: learnable ``weight`` = 1
    and ``bias`` = 0, (C,)), track_running_stats=False, device, dtype, keyword ``bias=True``
    (False: no bias even when affine).

    Buffers (when track_running_stats): ``running_mean`` (C,) = 0, ``running_var`` (C,) = 1 and
    ``num_batches_tracked`` (0-d int64) = 0, which, as in PyTorch, instance norm never counts.

    Statistics come from the input unless the module is in eval mode with track_running_stats,
    which normalizes with the running statistics. Training with track_running_stats updates them
    in place: running = (1 - momentum) * running + momentum * stat, stat being the batch mean of
    the per-instance means and unbiased variances; momentum=None leaves them unchanged.

    Raises TypeError for a non-Tensor input; ValueError "expected 3D or 4D input (got 5D
    input)" for another rank, "expected input's size at dim=1 to match num_features (3), but
    got: 4." when affine and the channel count differs (affine=False only warns, as PyTorch,
    though running statistics of the wrong size then raise), and as
    :func:`~minicnn.nn.functional.instance_norm` (e.g. "Expected more than 1 spatial element
    when training").
    """

    _ndim = 4


class InstanceNorm3d(_InstanceNorm):
    """Instance normalization of an (N, C, D, H, W) or unbatched (C, D, H, W) input
    (``torch.nn.InstanceNorm3d``); arguments, buffers and semantics as :class:`InstanceNorm2d`,
    statistics over (D, H, W). Raises ValueError "expected 4D or 5D input (got 6D input)" for
    another rank.
    """

    _ndim = 5


class LayerNorm(Module):
    """Layer normalization over the trailing ``normalized_shape`` dimensions (Ba, Kiros & Hinton
    2016; ``torch.nn.LayerNorm``). Input (*, *normalized_shape); output of the same shape.

    Args: normalized_shape (int or sequence of positive ints), eps=1e-5,
    elementwise_affine=True (``weight`` = 1 and ``bias`` = 0 of shape normalized_shape),
    bias=True, device, dtype. Statistics come from the input in training and eval mode alike.

    Raises ValueError in the constructor for an empty or non-positive normalized_shape and, in
    forward, as :func:`~minicnn.nn.functional.layer_norm` when the input's trailing dimensions
    are not normalized_shape.
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True,
                 device: str | Device | None = None, dtype: npt.DTypeLike | None = None) -> None:
        super().__init__()
        # int spelled out for the type checker, which does not see int as a numbers.Integral
        if isinstance(normalized_shape, (int, numbers.Integral)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(_positive_int("LayerNorm", "normalized_shape", d)
                                      for d in normalized_shape)
        if not self.normalized_shape:
            raise ValueError("LayerNorm: normalized_shape must have at least one dimension")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _affine(self, self.normalized_shape, elementwise_affine, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """weight <- 1, bias <- 0."""
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        params = self._parameters
        return F.layer_norm(input, self.normalized_shape, params["weight"], params["bias"],
                            self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Group normalization (Wu & He 2018; ``torch.nn.GroupNorm``): the C channels are split into
    ``num_groups`` groups and each sample's group is normalized over its channels and spatial
    positions; then a per-channel affine. Input (N, C, *); output of the same shape.

    Args: num_groups, num_channels C (divisible by num_groups), eps=1e-5, affine=True
    (``weight`` = 1, ``bias`` = 0, (C,)), device, dtype, keyword bias=True.

    Raises ValueError in the constructor when num_groups or num_channels is not positive or
    does not divide; in forward, for an input that is not (N, C, *) with C = num_channels.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device: str | Device | None = None, dtype: npt.DTypeLike | None = None, *,
                 bias: bool = True) -> None:
        super().__init__()
        num_groups = _positive_int("GroupNorm", "num_groups", num_groups)
        num_channels = _positive_int("GroupNorm", "num_channels", num_channels)
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _affine(self, num_channels, affine, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """weight <- 1, bias <- 0."""
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        if not isinstance(input, Tensor) or input.ndim < 2 \
                or input.shape[1] != self.num_channels:
            if not isinstance(input, Tensor):
                raise TypeError(f"{self!r} expected a minicnn.Tensor input, got "
                                f"{type(input).__name__}")
            raise ValueError(f"{self!r} expected input of shape (N, {self.num_channels}, *), "
                             f"got {tuple(input.shape)}")
        params = self._parameters
        return F.group_norm(input, self.num_groups, params["weight"], params["bias"], self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")
