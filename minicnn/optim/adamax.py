"""Adamax: Adam with the infinity norm (``torch.optim.Adamax``)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..backends.reference.optim import lerp_
from ._host import check_on_host
from .adam import _check_adam_args
from .optimizer import LossT, Optimizer, ParamsT

__all__ = ["Adamax"]


class Adamax(Optimizer):
    r"""Adamax (``torch.optim.Adamax``,
    https://pytorch.org/docs/stable/generated/torch.optim.Adamax.html): the infinity-norm variant
    of Adam, Kingma & Ba, "Adam: A Method for Stochastic Optimization" (ICLR 2015), section 7.1.

    For each parameter :math:`\theta` with gradient :math:`g` (parameters whose ``.grad`` is
    None are skipped), at step :math:`t = 1, 2, \dots`::

        g = -g                                  if maximize
        g = g + weight_decay * theta            if weight_decay != 0
        m = m + (1 - beta1) * (g - m)
        u = max(beta2 * u, |g| + eps)                       (exp_inf)
        theta = theta - lr / (1 - beta1^t) * m / u

    Args:
        params: iterable of tensors or of parameter-group dicts (see :class:`Optimizer`).
        lr (float): learning rate (default 2e-3).
        betas (tuple of 2 floats): decay rates of the gradient's running mean and of the
            running infinity norm (default (0.9, 0.999)).
        eps (float): added to |g| (default 1e-8).
        weight_decay (float): L2 penalty (default 0).
        maximize (bool, keyword): maximize the objective instead of minimizing it (default False).

    State per parameter: ``"step"`` (float), ``"exp_avg"`` (m) and ``"exp_inf"`` (u): Tensors
    like the parameter.

    Raises ValueError for lr, eps or weight_decay < 0 and betas outside [0, 1); TypeError at
    ``step()`` for parameters on a CUDA device (NumPy update only: use ``.cpu()``).
    """

    def __init__(self, params: ParamsT, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, *, maximize: bool = False) -> None:
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], LossT] | None = None) -> LossT | None:
        """One Adamax update of every parameter that has a gradient; returns ``closure()``'s
        loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            weight_decay, maximize = group["weight_decay"], group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                x, g = p._data, p.grad._data
                check_on_host("Adamax", p)
                state = self.state[p]
                if len(state) == 0:
                    self._start_state(state, p, "exp_avg", "exp_inf")
                step = state["step"] = state["step"] + 1
                m, u = state["exp_avg"]._data, state["exp_inf"]._data
                s, t = self._scratch(x, 2)

                g = self._direction(x, g, weight_decay, maximize, s)

                lerp_(m, g, 1 - beta1, t)
                u *= beta2
                np.abs(g, out=t)
                t += eps
                np.maximum(u, t, out=u)
                clr = lr / (1 - beta1 ** step)
                np.multiply(m, -clr, out=t)
                t /= u
                x += t
        return loss
