"""ASGD: averaged stochastic gradient descent (``torch.optim.ASGD``)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._host import check_on_host
from .optimizer import LossT, Optimizer, ParamsT

__all__ = ["ASGD"]


def _float32(value: float) -> float:
    """``value`` rounded to float32, as PyTorch stores ASGD's eta and mu (see :class:`ASGD`)."""
    return float(np.float32(value))


class ASGD(Optimizer):
    r"""Averaged SGD (``torch.optim.ASGD``,
    https://pytorch.org/docs/stable/generated/torch.optim.ASGD.html): Polyak & Juditsky,
    "Acceleration of Stochastic Approximation by Averaging" (SIAM J. Control Optim. 1992), with
    the step-size schedule of Xu, "Towards Optimal One Pass Large Scale Learning with Averaged
    Stochastic Gradient Descent" (2011).

    For each parameter :math:`\theta` with gradient :math:`g` (parameters whose ``.grad`` is
    None are skipped), at step :math:`t = 1, 2, \dots` (eta starts at lr, mu at 1)::

        g = -g                                  if maximize
        g = g + weight_decay * theta            if weight_decay != 0
        theta = theta * (1 - lambd * eta) - eta * g
        ax = ax + mu * (theta - ax)             (ax = theta while mu == 1)
        eta = lr / (1 + lambd * lr * t)^alpha
        mu = 1 / max(1, t - t0)

    ``ax``, the running average of the iterates from step ``t0`` on, is the estimate to use
    after training (it is not written into the parameters). ``eta`` and ``mu`` are rounded to
    float32: PyTorch keeps them in scalar tensors of its default dtype (float32), and the
    trajectories agree only with the same rounding.

    Args:
        params: iterable of tensors or of parameter-group dicts (see :class:`Optimizer`).
        lr (float): learning rate (default 1e-2).
        lambd (float): decay term (default 1e-4).
        alpha (float): power of the eta schedule (default 0.75).
        t0 (float): the step from which the iterates are averaged (default 1e6).
        weight_decay (float): L2 penalty (default 0).
        maximize (bool, keyword): maximize the objective instead of minimizing it (default False).

    State per parameter: ``"step"``, ``"eta"`` and ``"mu"`` (floats) and ``"ax"`` (a Tensor
    like the parameter).

    Raises ValueError for lr or weight_decay < 0; TypeError at ``step()`` for parameters on a
    CUDA device (NumPy update only: use ``.cpu()``).
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lambd: float = 1e-4,
                 alpha: float = 0.75, t0: float = 1e6, weight_decay: float = 0, *,
                 maximize: bool = False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """As :meth:`Optimizer.load_state_dict`, with ``"eta"`` and ``"mu"`` (floats, or saved
        one-element arrays or Tensors) kept as floats."""
        super().load_state_dict(state_dict)
        for state in self.state.values():
            for key in ("eta", "mu"):
                if key in state:
                    state[key] = float(state[key])

    def step(self, closure: Callable[[], LossT] | None = None) -> LossT | None:
        """One ASGD update of every parameter that has a gradient; returns ``closure()``'s
        loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            lr, lambd, alpha, t0 = group["lr"], group["lambd"], group["alpha"], group["t0"]
            weight_decay, maximize = group["weight_decay"], group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                x, g = p._data, p.grad._data
                check_on_host("ASGD", p)
                state = self.state[p]
                if len(state) == 0:
                    self._start_state(state, p, "ax", eta=_float32(lr), mu=1.0)
                step = state["step"] = state["step"] + 1
                eta, mu, ax = state["eta"], state["mu"], state["ax"]._data
                s, t = self._scratch(x, 2)

                g = self._direction(x, g, weight_decay, maximize, s)

                x *= 1 - lambd * eta
                x += np.multiply(g, -eta, out=t)
                if mu != 1:
                    np.subtract(x, ax, out=t)
                    t *= mu
                    ax += t
                else:
                    ax[...] = x
                state["eta"] = _float32(lr / (1 + lambd * lr * step) ** alpha)
                state["mu"] = _float32(1 / max(1, step - t0))
        return loss
