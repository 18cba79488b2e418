"""RAdam: Adam with a rectified adaptive learning rate (``torch.optim.RAdam``)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..backends.reference.optim import adam_direction, adam_moments_
from ._host import check_on_host
from .adam import _check_adam_args
from .optimizer import LossT, Optimizer, ParamsT

__all__ = ["RAdam"]


class RAdam(Optimizer):
    r"""RAdam (``torch.optim.RAdam``,
    https://pytorch.org/docs/stable/generated/torch.optim.RAdam.html): Liu et al., "On the
    Variance of the Adaptive Learning Rate and Beyond" (ICLR 2020); the decoupled weight decay
    from Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019).

    For each parameter :math:`\theta` with gradient :math:`g` (parameters whose ``.grad`` is
    None are skipped), at step :math:`t = 1, 2, \dots`::

        g = -g                                  if maximize
        theta = theta * (1 - lr * weight_decay) if decoupled_weight_decay
        g = g + weight_decay * theta            otherwise, if weight_decay != 0 (L2 penalty)
        m = m + (1 - beta1) * (g - m)
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1^t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)     (length of the approximated SMA)
        if rho_t > 5:  (the variance of the adaptive lr is tractable: rectify it)
            r = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))
            theta = theta - lr * m_hat * sqrt(1 - beta2^t) / (sqrt(v) + eps) * r
        else:          (the first steps: SGD with momentum)
            theta = theta - lr * m_hat

    Args:
        params: iterable of tensors or of parameter-group dicts (see :class:`Optimizer`).
        lr (float): learning rate (default 1e-3).
        betas (tuple of 2 floats): decay rates of the gradient's running mean and of its square's
            (default (0.9, 0.999)).
        eps (float): added to the denominator (default 1e-8).
        weight_decay (float): L2 penalty, or decoupled decay rate (default 0).
        decoupled_weight_decay (bool): decay the weights directly, as AdamW (default False).
        maximize (bool, keyword): maximize the objective instead of minimizing it (default False).

    State per parameter: ``"step"`` (float), ``"exp_avg"`` (m) and ``"exp_avg_sq"`` (v):
    Tensors like the parameter.

    Raises ValueError for lr, eps or weight_decay < 0 and betas outside [0, 1); TypeError at
    ``step()`` for parameters on a CUDA device (NumPy update only: use ``.cpu()``).
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 maximize: bool = False) -> None:
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], LossT] | None = None) -> LossT | None:
        """One RAdam update of every parameter that has a gradient; returns ``closure()``'s
        loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            weight_decay, maximize = group["weight_decay"], group["maximize"]
            decoupled = group["decoupled_weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                x, g = p._data, p.grad._data
                check_on_host("RAdam", p)
                state = self.state[p]
                if len(state) == 0:
                    self._start_state(state, p, "exp_avg", "exp_avg_sq")
                step = state["step"] = state["step"] + 1
                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                s, t = self._scratch(x, 2)

                g = adam_direction(x, g, lr, weight_decay, decoupled, maximize, s)

                adam_moments_(m, v, g, beta1, beta2, t)

                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                update = np.divide(m, bias_correction1, out=s)
                update *= lr
                rho_inf = 2 / (1 - beta2) - 1
                rho_t = rho_inf - 2 * step * beta2 ** step / bias_correction2
                if rho_t > 5.0:
                    rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                            / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                    adaptive = np.sqrt(v, out=t)
                    adaptive += eps
                    np.divide(bias_correction2 ** 0.5, adaptive, out=adaptive)
                    update *= adaptive
                    update *= rect
                x -= update
        return loss
