"""NAdam: Adam with Nesterov momentum (``torch.optim.NAdam``)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..backends.reference.optim import adam_direction, adam_moments_
from ._host import check_on_host
from .adam import _check_adam_args
from .optimizer import LossT, Optimizer, ParamsT

__all__ = ["NAdam"]


class NAdam(Optimizer):
    r"""NAdam (``torch.optim.NAdam``,
    https://pytorch.org/docs/stable/generated/torch.optim.NAdam.html): Dozat, "Incorporating
    Nesterov Momentum into Adam" (ICLR 2016 workshop); the decoupled weight decay from
    Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019).

    For each parameter :math:`\theta` with gradient :math:`g` (parameters whose ``.grad`` is
    None are skipped), at step :math:`t = 1, 2, \dots`::

        g = -g                                  if maximize
        theta = theta * (1 - lr * weight_decay) if decoupled_weight_decay
        g = g + weight_decay * theta            otherwise, if weight_decay != 0 (L2 penalty)
        mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))     (the momentum schedule)
        P = P * mu_t                                            (mu_product, starts at 1)
        m = m + (1 - beta1) * (g - m)
        v = beta2 * v + (1 - beta2) * g * g
        d = sqrt(v / (1 - beta2^t)) + eps
        theta = theta - lr * (1 - mu_t) / (1 - P) * g / d
                      - lr * mu_{t+1} / (1 - P * mu_{t+1}) * m / d

    ``mu_product`` is rounded to float32 after each product: PyTorch keeps it in a scalar
    tensor of its default dtype (float32), and the trajectories agree only with the same
    rounding.

    Args:
        params: iterable of tensors or of parameter-group dicts (see :class:`Optimizer`).
        lr (float): learning rate (default 2e-3).
        betas (tuple of 2 floats): decay rates of the gradient's running mean and of its square's
            (default (0.9, 0.999)).
        eps (float): added to the denominator (default 1e-8).
        weight_decay (float): L2 penalty, or decoupled decay rate (default 0).
        momentum_decay (float): psi, the speed of the momentum schedule (default 4e-3).
        decoupled_weight_decay (bool): decay the weights directly, as AdamW (default False).
        maximize (bool, keyword): maximize the objective instead of minimizing it (default False).

    State per parameter: ``"step"`` and ``"mu_product"`` (floats), ``"exp_avg"`` (m) and
    ``"exp_avg_sq"`` (v): Tensors like the parameter.

    Raises ValueError for lr, eps, weight_decay or momentum_decay < 0 and betas outside [0, 1);
    TypeError at ``step()`` for parameters on a CUDA device (NumPy update only: use ``.cpu()``).
    """

    def __init__(self, params: ParamsT, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False) -> None:
        _check_adam_args(lr, betas, eps, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """As :meth:`Optimizer.load_state_dict`, with ``"mu_product"`` (a float, or a saved
        one-element array or Tensor) kept as a float."""
        super().load_state_dict(state_dict)
        for state in self.state.values():  # a saved scalar tensor back to a float
            if "mu_product" in state:
                state["mu_product"] = float(state["mu_product"])

    def step(self, closure: Callable[[], LossT] | None = None) -> LossT | None:
        """One NAdam update of every parameter that has a gradient; returns ``closure()``'s
        loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            weight_decay, momentum_decay = group["weight_decay"], group["momentum_decay"]
            decoupled, maximize = group["decoupled_weight_decay"], group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                x, g = p._data, p.grad._data
                check_on_host("NAdam", p)
                state = self.state[p]
                if len(state) == 0:
                    self._start_state(state, p, "exp_avg", "exp_avg_sq", mu_product=1.0)
                step = state["step"] = state["step"] + 1
                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                s, t, denom = self._scratch(x, 3)

                g = adam_direction(x, g, lr, weight_decay, decoupled, maximize, s)

                mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
                mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
                mu_product = float(np.float32(state["mu_product"]) * np.float32(mu))
                state["mu_product"] = mu_product

                adam_moments_(m, v, g, beta1, beta2, t)

                np.divide(v, 1 - beta2 ** step, out=denom)
                np.sqrt(denom, out=denom)
                denom += eps
                np.multiply(g, -lr * (1.0 - mu) / (1.0 - mu_product), out=t)
                t /= denom
                x += t
                np.multiply(m, -lr * mu_next / (1.0 - mu_product * mu_next), out=t)
                t /= denom
                x += t
        return loss
