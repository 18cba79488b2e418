"""Identity and Linear (``torch.nn.Identity``, ``torch.nn.Linear``)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

import numpy.typing as npt

from ...creation import empty
from ...geometry import integer
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

if TYPE_CHECKING:
    from ...device import device as Device

__all__ = ["Identity", "Linear"]


class Identity(Module):
    """Returns its input unchanged (``torch.nn.Identity``); any constructor arguments are
    ignored, so it can stand in for a layer that takes some."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """Affine map y = x W^T + b (``torch.nn.Linear``).

    Input (*, in_features), float32 or float64 (the parameters' dtype); output
    (*, out_features).

    Args: in_features, out_features (positive ints), bias=True, device, dtype (float32 by
    default). Attributes: ``weight`` (out_features, in_features) and ``bias`` (out_features,)
    (or None), both U(-1/sqrt(in_features), 1/sqrt(in_features)) as PyTorch's reset_parameters
    (kaiming_uniform_ with a=sqrt(5) for the weight), drawn from minicnn's generator.

    Raises TypeError in the constructor for non-int sizes (1.5, "4", True), ValueError for
    non-positive ones and, in forward, for an input
    whose last dimension is not in_features (naming the layer and the shapes).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: str | Device | None = None, dtype: npt.DTypeLike | None = None) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if integer(value, name, "Linear") < 1:
                raise ValueError(f"Linear: {name} must be a positive int, got {value!r}")
        self.in_features = in_features = int(in_features)
        self.out_features = out_features = int(out_features)
        self.weight = Parameter(empty((out_features, in_features), dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """weight ~ kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(in_features), 1/sqrt(in_features));
        bias ~ the same U (PyTorch's default)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        if not isinstance(input, Tensor) or not input.ndim \
                or input.shape[-1] != self.in_features:
            if not isinstance(input, Tensor):
                raise TypeError(f"{self!r} expected a minicnn.Tensor input, got "
                                f"{type(input).__name__}")
            raise ValueError(f"{self!r} expected input of shape (*, {self.in_features}), got "
                             f"{tuple(input.shape)}")
        params = self._parameters
        return F.linear(input, cast("Tensor", params["weight"]), params["bias"])

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
