"""RMSprop, plain or centered, with momentum and weight decay (``torch.optim.RMSprop``)."""
from __future__ import annotations

from collections.abc import Callable

from .optimizer import LossT, Optimizer, ParamsT

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (``torch.optim.RMSprop``): Hinton, Neural Networks for Machine Learning, lecture
    6e; the centered variant from Graves, "Generating Sequences With Recurrent Neural Networks"
    (2013).

    For each parameter :math:`\theta` with gradient :math:`g` (parameters whose ``.grad`` is
    None are skipped)::

        g = -g                                  if maximize
        g = g + weight_decay * theta            if weight_decay != 0
        v = alpha * v + (1 - alpha) * g * g
        if centered: a = a + (1 - alpha) * (g - a);  d = sqrt(v - a * a) + eps
        else:        d = sqrt(v) + eps
        if momentum > 0: b = momentum * b + g / d;  theta = theta - lr * b
        else:            theta = theta - lr * g / d

    Args:
        params: iterable of tensors or of parameter-group dicts (see :class:`Optimizer`).
        lr (float): learning rate (default 1e-2).
        alpha (float): smoothing constant of the squared-gradient average (default 0.99).
        eps (float): added to the denominator (default 1e-8).
        weight_decay (float): L2 penalty (default 0).
        momentum (float): momentum factor (default 0).
        centered (bool): normalize by the estimated variance of the gradient (default False).
        maximize (bool, keyword): maximize the objective instead of minimizing it (default False).

    State per parameter: ``"step"`` (float), ``"square_avg"`` (v), ``"momentum_buffer"`` (b) when
    momentum > 0 and ``"grad_avg"`` (a) when centered: Tensors like the parameter.

    Raises ValueError for lr, eps, momentum, weight_decay or alpha < 0.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, *, maximize: bool = False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], LossT] | None = None) -> LossT | None:
        """One RMSprop update of every parameter that has a gradient (the device's
        ``rmsprop_step`` kernel); returns ``closure()``'s loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            momentum, centered = group["momentum"], group["centered"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                kernels = self._kernels(p, "rmsprop_step")
                state = self.state[p]
                if len(state) == 0:
                    self._start_state(state, p, "square_avg",
                                      *(("momentum_buffer",) if momentum > 0 else ()),
                                      *(("grad_avg",) if centered else ()))
                state["step"] += 1
                buf = state["momentum_buffer"]._data if momentum > 0 else None
                avg = state["grad_avg"]._data if centered else None
                kernels.rmsprop_step(p._data, p.grad._data, state["square_avg"]._data, buf, avg,
                                     group["lr"], group["alpha"], group["eps"],
                                     group["weight_decay"], momentum, group["maximize"])
        return loss
