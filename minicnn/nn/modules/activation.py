"""Activation layers (``torch.nn``'s ReLU, ReLU6, Hardtanh, LeakyReLU, GELU, SiLU, Sigmoid, Tanh,
Hardswish, Hardsigmoid, Softmax, LogSoftmax): each calls the function of the same name in
:mod:`minicnn.nn.functional`. Any input shape; float32 or float64; the output has the input's
shape.

``inplace=True`` is accepted (and shown in the repr) as PyTorch does, but the result is always
computed out of place: minicnn has no in-place autograd, and ``x = act(x)`` gives the same
values either way. The input is left unchanged.
"""
import warnings

from ...tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["ReLU", "ReLU6", "Hardtanh", "LeakyReLU", "GELU", "SiLU", "Sigmoid", "Tanh",
           "Hardswish", "Hardsigmoid", "Softmax", "LogSoftmax"]


class ReLU(Module):
    """max(x, 0) elementwise (``torch.nn.ReLU``). ``inplace`` is accepted but computed out of
    place (see the module docstring)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Hardtanh(Module):
    """min(max(x, min_val), max_val) (``torch.nn.Hardtanh``; defaults -1 and 1); the gradient
    is 1 strictly inside (min_val, max_val), else 0. ``inplace`` is accepted but computed out
    of place. Raises ValueError in the constructor unless max_val > min_val."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0,
                 inplace: bool = False) -> None:
        super().__init__()
        if max_val <= min_val:
            raise ValueError(f"max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return (f"min_val={self.min_val}, max_val={self.max_val}"
                + (", inplace=True" if self.inplace else ""))


class ReLU6(Hardtanh):
    """min(max(x, 0), 6) (Howard et al. 2017, MobileNet; ``torch.nn.ReLU6``): Hardtanh(0, 6).
    ``inplace`` is accepted but computed out of place."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.relu6(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x (``torch.nn.LeakyReLU``; default slope 0.01).
    ``inplace`` is accepted but computed out of place."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """Gaussian error linear unit (Hendrycks & Gimpel 2016; ``torch.nn.GELU``):
    x * Phi(x) with approximate="none", or its tanh approximation with approximate="tanh".
    Raises ValueError in the constructor for another ``approximate``."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x) (Elfwing et al. 2018, "swish"; ``torch.nn.SiLU``). ``inplace`` is
    accepted but computed out of place."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    """1 / (1 + exp(-x)) (``torch.nn.Sigmoid``)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Tanh(Module):
    """tanh(x) (``torch.nn.Tanh``)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class Hardswish(Module):
    """x * relu6(x + 3) / 6 (Howard et al. 2019, MobileNetV3; ``torch.nn.Hardswish``).
    ``inplace`` is accepted (and, as in PyTorch, not shown in the repr) but computed out of
    place."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardswish(input)


class Hardsigmoid(Module):
    """relu6(x + 3) / 6 (Howard et al. 2019, MobileNetV3's gate; ``torch.nn.Hardsigmoid``).
    ``inplace`` is accepted (and, as in PyTorch, not shown in the repr) but computed out of
    place."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardsigmoid(input)


def _implicit_dim(cls: str, ndim: int) -> int:
    """PyTorch's legacy choice for dim=None: 0 for 0-, 1- and 3-D input, else 1 (with its
    deprecation warning)."""
    warnings.warn(f"{cls}: implicit dimension choice for softmax has been deprecated. Change the "
                  "call to include dim=X as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim`` (``torch.nn.Softmax``), computed stably.
    dim=None picks PyTorch's legacy dimension (0 for 0-, 1- and 3-D input, else 1) and warns.
    Raises IndexError in forward for a dim out of range."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim if self.dim is not None else _implicit_dim("Softmax", input.ndim)
        return F.softmax(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim`` (``torch.nn.LogSoftmax``), computed stably as
    (x - max) - log(sum(exp(x - max))). dim=None as Softmax."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim if self.dim is not None else _implicit_dim("LogSoftmax", input.ndim)
        return F.log_softmax(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
