"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay
(``torch.optim.SGD``)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..tensor import Tensor
from .optimizer import LossT, Optimizer, ParamsT

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum (``torch.optim.SGD``).

    For each parameter :math:`\theta` with gradient :math:`g` (parameters whose ``.grad`` is
    None are skipped), in PyTorch's formulation::

        g = -g                         if maximize
        g = g + weight_decay * theta   if weight_decay != 0
        if momentum != 0:
            b = g (first step)  else  b = momentum * b + (1 - dampening) * g
            g = g + momentum * b       if nesterov  else  b
        theta = theta - lr * g

    Momentum as in Sutskever et al., "On the importance of initialization and momentum in deep
    learning" (ICML 2013), in PyTorch's form (the learning rate multiplies the whole velocity).

    Args:
        params: iterable of tensors or of parameter-group dicts (see :class:`Optimizer`).
        lr (float): learning rate (default 1e-3, PyTorch 2's default).
        momentum (float): momentum factor (default 0).
        dampening (float): dampening of the momentum (default 0).
        weight_decay (float): L2 penalty (default 0).
        nesterov (bool): Nesterov momentum (default False); needs momentum > 0, dampening 0.
        maximize (bool): maximize the objective instead of minimizing it (default False).

    State per parameter: ``"momentum_buffer"`` (a Tensor like the parameter) when momentum != 0.

    Raises ValueError for lr, momentum or weight_decay < 0 and for nesterov without momentum or
    with dampening.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], LossT] | None = None) -> LossT | None:
        """One SGD update of every parameter that has a gradient (the device's ``sgd_step``
        kernel); returns ``closure()``'s loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            momentum = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                x, buf, first = p._data, None, False
                if momentum != 0:
                    state = self.state[p]
                    first = "momentum_buffer" not in state
                    if first:  # the kernel sets it to the first step's gradient
                        state["momentum_buffer"] = Tensor._wrap(np.empty_like(x), p._device)
                    buf = state["momentum_buffer"]._data
                self._kernels(p, "sgd_step").sgd_step(
                    x, p.grad._data, buf, group["lr"], momentum, group["dampening"],
                    group["weight_decay"], group["nesterov"], first, group["maximize"])
        return loss
