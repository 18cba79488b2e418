"""Dropout layers (``torch.nn.Dropout``, ``torch.nn.Dropout2d``): active in training mode, the
identity in eval mode."""
import numbers

from ...autograd import is_grad_enabled
from ...tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout2d"]


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p: float = p
        self.inplace: bool = inplace

    def _inplace(self, input: Tensor) -> bool:
        """In place only where no gradient is recorded for the input (minicnn has no in-place
        autograd); otherwise out of place, with the same values."""
        return self.inplace and not (input.requires_grad and is_grad_enabled())

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Inverted dropout (Srivastava et al. 2014; ``torch.nn.Dropout``): in training mode each
    element is zeroed with probability ``p`` and the rest are scaled by 1 / (1 - p); in eval
    mode the input is returned as is. The mask comes from minicnn's generator
    (:func:`minicnn.manual_seed`). Any shape, float32 or float64.

    ``inplace=True`` overwrites the input when no gradient is recorded for it, and computes out
    of place otherwise. Raises ValueError in the constructor for p outside [0, 1].
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self._inplace(input))


class Dropout2d(_DropoutNd):
    """Channel dropout (Tompson et al. 2015; ``torch.nn.Dropout2d``): in training mode each
    whole channel (n, c) of an (N, C, H, W) input is zeroed with probability ``p`` and the rest
    are scaled by 1 / (1 - p); the identity in eval mode. A 3-D input is read as (N, C, L) with
    a warning, as in PyTorch. ``inplace`` and errors as :class:`Dropout`.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training, self._inplace(input))
