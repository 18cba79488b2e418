"""Adagrad (``torch.optim.Adagrad``)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..tensor import Tensor
from ._host import check_on_host
from .optimizer import LossT, Optimizer, ParamsT

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (``torch.optim.Adagrad``,
    https://pytorch.org/docs/stable/generated/torch.optim.Adagrad.html): Duchi, Hazan & Singer,
    "Adaptive Subgradient Methods for Online Learning and Stochastic Optimization" (JMLR 2011).

    For each parameter :math:`\theta` with gradient :math:`g` (parameters whose ``.grad`` is
    None are skipped), at step :math:`t = 1, 2, \dots`::

        g = -g                                  if maximize
        g = g + weight_decay * theta            if weight_decay != 0
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g                           (sum; starts at initial_accumulator_value)
        theta = theta - clr * g / (sqrt(s) + eps)

    As in PyTorch, the state of every parameter is created with the optimizer (so
    ``state_dict()`` lists all of them from the start), and the sums start at the
    ``initial_accumulator_value`` given to the constructor, even in a group that sets its own.

    Args:
        params: iterable of tensors or of parameter-group dicts (see :class:`Optimizer`).
        lr (float): learning rate (default 1e-2).
        lr_decay (float): learning-rate decay per step (default 0).
        weight_decay (float): L2 penalty (default 0).
        initial_accumulator_value (float): starting value of the sums (default 0).
        eps (float): added to the denominator (default 1e-10).
        maximize (bool, keyword): maximize the objective instead of minimizing it (default False).

    State per parameter: ``"step"`` (float) and ``"sum"`` (s, a Tensor like the parameter).

    Raises ValueError for lr, lr_decay, weight_decay, initial_accumulator_value or eps < 0;
    TypeError for parameters on a CUDA device (NumPy update only: use ``.cpu()``).
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, *, maximize: bool = False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError("Invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p: Tensor) -> None:
        check_on_host("Adagrad", p)
        state = self.state[p]
        state["step"] = 0.0
        state["sum"] = Tensor._wrap(
            np.full_like(p._data, self.defaults["initial_accumulator_value"]), p._device)

    def step(self, closure: Callable[[], LossT] | None = None) -> LossT | None:
        """One Adagrad update of every parameter that has a gradient; returns ``closure()``'s
        loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
            weight_decay, maximize = group["weight_decay"], group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                x, g = p._data, p.grad._data
                check_on_host("Adagrad", p)
                state = self.state[p]
                if len(state) == 0:  # a group added after construction
                    self._init_state(p)
                step = state["step"] = state["step"] + 1
                total = state["sum"]._data
                s, t = self._scratch(x, 2)

                g = self._direction(x, g, weight_decay, maximize, s)

                clr = lr / (1 + (step - 1) * lr_decay)
                total += np.multiply(g, g, out=t)
                std = np.sqrt(total, out=t)
                std += eps
                update = np.multiply(g, -clr, out=s)
                update /= std
                x += update
        return loss
