"""Adadelta (``torch.optim.Adadelta``)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._host import check_on_host
from .optimizer import LossT, Optimizer, ParamsT

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta (``torch.optim.Adadelta``,
    https://pytorch.org/docs/stable/generated/torch.optim.Adadelta.html): Zeiler, "ADADELTA: An
    Adaptive Learning Rate Method" (arXiv:1212.5701, 2012).

    For each parameter :math:`\theta` with gradient :math:`g` (parameters whose ``.grad`` is
    None are skipped)::

        g = -g                                  if maximize
        g = g + weight_decay * theta            if weight_decay != 0
        v = rho * v + (1 - rho) * g * g                     (square_avg)
        delta = sqrt(u + eps) / sqrt(v + eps) * g           (u: acc_delta)
        u = rho * u + (1 - rho) * delta * delta
        theta = theta - lr * delta

    The paper has no learning rate (lr = 1, the default); ``lr`` scales the step as PyTorch's.

    Args:
        params: iterable of tensors or of parameter-group dicts (see :class:`Optimizer`).
        lr (float): factor of the step (default 1.0).
        rho (float): decay rate of both running averages, in [0, 1] (default 0.9).
        eps (float): added inside both square roots (default 1e-6).
        weight_decay (float): L2 penalty (default 0).
        maximize (bool, keyword): maximize the objective instead of minimizing it (default False).

    State per parameter: ``"step"`` (float), ``"square_avg"`` (v) and ``"acc_delta"`` (u):
    Tensors like the parameter.

    Raises ValueError for lr, eps or weight_decay < 0 and rho outside [0, 1]; TypeError at
    ``step()`` for parameters on a CUDA device (NumPy update only: use ``.cpu()``).
    """

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, *, maximize: bool = False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], LossT] | None = None) -> LossT | None:
        """One Adadelta update of every parameter that has a gradient; returns ``closure()``'s
        loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            lr, rho, eps = group["lr"], group["rho"], group["eps"]
            weight_decay, maximize = group["weight_decay"], group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                x, g = p._data, p.grad._data
                check_on_host("Adadelta", p)
                state = self.state[p]
                if len(state) == 0:
                    self._start_state(state, p, "square_avg", "acc_delta")
                state["step"] += 1
                v, u = state["square_avg"]._data, state["acc_delta"]._data
                s, t, delta = self._scratch(x, 3)

                g = self._direction(x, g, weight_decay, maximize, s)

                v *= rho
                np.multiply(g, 1 - rho, out=t)
                t *= g
                v += t
                np.add(v, eps, out=t)
                std = np.sqrt(t, out=t)
                np.add(u, eps, out=delta)
                np.sqrt(delta, out=delta)
                delta /= std
                delta *= g
                u *= rho
                np.multiply(delta, 1 - rho, out=t)
                t *= delta
                u += t
                delta *= -lr
                x += delta
        return loss
