"""Weight averaging (``torch.optim.swa_utils``): :class:`AveragedModel` keeps a running
average of a model's weights, equal-weight (stochastic weight averaging, Izmailov et al. 2018)
by default or exponential with :func:`get_ema_avg_fn` (an EMA of the weights, as timm's
ModelEmaV2 and Polyak averaging).

    ema = AveragedModel(model, avg_fn=get_ema_avg_fn(0.999), use_buffers=True)
    for x, y in loader:
        ...; optimizer.step()
        ema.update_parameters(model)
    evaluate(ema)          # or ema.module
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..autograd import no_grad
from ..creation import tensor
from ..nn.modules.module import Module
from ..tensor import Tensor

__all__ = ["AveragedModel", "get_ema_avg_fn"]

AvgFn = Callable[[Tensor, Tensor, Tensor], Tensor]


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    """The ``avg_fn`` of an exponential moving average: ``decay * averaged + (1 - decay) *
    current`` (``torch.optim.swa_utils.get_ema_avg_fn``)."""

    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged: Tensor) -> Tensor:
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


class AveragedModel(Module):
    """A copy of ``model`` (``self.module``) whose parameters (and buffers when
    ``use_buffers``) hold an average of those of ``model`` at each :meth:`update_parameters`
    call (``torch.optim.swa_utils.AveragedModel``).

    ``avg_fn(averaged, current, num_averaged)`` returns the new average of one tensor; the
    default is the equal-weight mean ``averaged + (current - averaged) / (num_averaged + 1)``.
    The first update copies the weights. Without ``use_buffers`` the buffers (batch norm's
    running statistics) are copied from ``model`` at each update, as PyTorch does (its
    ``update_bn`` recomputes them for SWA); with it they are averaged too, as an EMA of
    weights usually wants. ``n_averaged`` (an int64 buffer) counts the updates; the state dict
    holds it and ``module.*``. ``forward`` runs ``self.module``.
    """

    def __init__(self, model: Module, device: Any = None, avg_fn: AvgFn | None = None,
                 use_buffers: bool = False) -> None:
        super().__init__()
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", tensor(0))
        self.avg_fn = avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def _tensors(self, model: Module) -> list[Tensor]:
        return [*model.parameters(), *(model.buffers() if self.use_buffers else [])]

    @no_grad()
    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current weights into the average."""
        mine, theirs = self._tensors(self.module), self._tensors(model)
        n = self.n_averaged
        for averaged, current in zip(mine, theirs):
            current = current.detach().to(averaged.device)
            if int(n.item()) == 0:
                averaged.copy_(current)
                continue
            # integer buffers (num_batches_tracked) are averaged in float64 and truncated back,
            # as PyTorch's copy_ of a float result into them does
            a, c = ((averaged, current) if averaged.is_floating_point() else
                    (averaged.double(), current.double()))
            if self.avg_fn is None:
                averaged.copy_(a + (c - a) / (n.to(a.dtype) + 1))
            else:
                averaged.copy_(self.avg_fn(a, c, n))
        if not self.use_buffers:
            for averaged, current in zip(self.module.buffers(), model.buffers()):
                averaged.copy_(current.detach().to(averaged.device))
        self.n_averaged.copy_(n + 1)
