"""Loss layers: CrossEntropyLoss, NLLLoss, MSELoss (``torch.nn``'s), each calling the function
of the same name in :mod:`minicnn.nn.functional`. Class weights are a buffer named ``weight``,
so they follow ``.to()`` and appear in ``state_dict()`` as in PyTorch."""
import warnings

from ...tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss"]


def _legacy_reduction(size_average: bool | None, reduce: bool | None) -> str:
    """The reduction that PyTorch's deprecated size_average / reduce arguments stand for."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use "
                  f"reduction='{reduction}' instead.", UserWarning, stacklevel=4)
    return reduction


class _Loss(Module):
    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce)
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"{reduction} is not a valid value for reduction (expected 'none', "
                             "'mean' or 'sum')")
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """Cross entropy between logits and class targets (``torch.nn.CrossEntropyLoss``):
    log-softmax and negative log-likelihood in one fused kernel.

    forward(input, target): input logits (N, C), (N, C, d1, ...) or (C,), float32/float64;
    target int64 class indices (N,), (N, d1, ...) or (), or class probabilities of the input's
    shape. Args: weight (C,) class weights (a Tensor of the input's dtype) or None,
    size_average / reduce (deprecated, as PyTorch), ignore_index=-100, reduction "mean" |
    "sum" | "none", label_smoothing in [0, 1]. The weighted mean divides by the summed weights of
    the non-ignored targets.

    Raises ValueError in the constructor for a bad reduction or label_smoothing outside [0, 1],
    TypeError for a weight that is not a Tensor; in forward, as
    :func:`~minicnn.nn.functional.cross_entropy`.
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got "
                             f"{label_smoothing}")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, self._buffers["weight"], self.ignore_index,
                               self.reduction, self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (``torch.nn.NLLLoss``), usually after
    LogSoftmax: loss = -weight[t] * input[n, t]. Shapes, weight, ignore_index and reduction as
    :class:`CrossEntropyLoss` (class-index targets only). Raises ValueError in the constructor
    for a bad reduction; in forward, as :func:`~minicnn.nn.functional.nll_loss`."""

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, self._buffers["weight"], self.ignore_index,
                          self.reduction)


class MSELoss(_Loss):
    """Mean squared error (``torch.nn.MSELoss``): (input - target)^2, averaged ("mean"),
    summed ("sum") or elementwise ("none"). Input and target float tensors of one dtype and
    shape (a broadcastable target warns, as PyTorch). Raises ValueError in the constructor for a
    bad reduction; in forward, as :func:`~minicnn.nn.functional.mse_loss`."""

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, self.reduction)
