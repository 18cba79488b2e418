"""Adam, with AMSGrad and (decoupled) weight decay (``torch.optim.Adam``)."""
from __future__ import annotations

from collections.abc import Callable

from .optimizer import LossT, Optimizer, ParamsT

__all__ = ["Adam"]


def _check_adam_args(lr: float, betas: tuple[float, float], eps: float,
                     weight_decay: float) -> None:
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    r"""Adam (``torch.optim.Adam``): Kingma & Ba, "Adam: A Method for Stochastic Optimization"
    (ICLR 2015); AMSGrad from Reddi et al., "On the Convergence of Adam and Beyond" (ICLR 2018).

    For each parameter :math:`\theta` with gradient :math:`g` (parameters whose ``.grad`` is
    None are skipped), at step :math:`t = 1, 2, \dots`::

        g = -g                                  if maximize
        theta = theta * (1 - lr * weight_decay) if decoupled_weight_decay (AdamW)
        g = g + weight_decay * theta            otherwise, if weight_decay != 0 (L2 penalty)
        m = m + (1 - beta1) * (g - m)           (a lerp, as PyTorch computes it)
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                   if amsgrad (and v_max replaces v below)
        theta = theta - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Args:
        params: iterable of tensors or of parameter-group dicts (see :class:`Optimizer`).
        lr (float): learning rate (default 1e-3).
        betas (tuple of 2 floats): decay rates of the gradient's running mean and of its square's
            (default (0.9, 0.999)).
        eps (float): added to the denominator (default 1e-8).
        weight_decay (float): L2 penalty, or decoupled decay rate (default 0).
        amsgrad (bool): use the AMSGrad variant (default False).
        maximize (bool): maximize the objective instead of minimizing it (default False).
        decoupled_weight_decay (bool): decay the weights directly, as :class:`AdamW` does
            (default False).

    State per parameter: ``"step"`` (float), ``"exp_avg"`` (m), ``"exp_avg_sq"`` (v) and, with
    amsgrad, ``"max_exp_avg_sq"``: Tensors like the parameter.

    Raises ValueError for lr, eps or weight_decay < 0 and for betas outside [0, 1).
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], LossT] | None = None) -> LossT | None:
        """One Adam update of every parameter that has a gradient (the device's ``adam_step``
        kernel); returns ``closure()``'s loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            amsgrad = group["amsgrad"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                kernels = self._kernels(p, "adam_step")
                state = self.state[p]
                if len(state) == 0:
                    self._start_state(state, p, "exp_avg", "exp_avg_sq",
                                      *(("max_exp_avg_sq",) if amsgrad else ()))
                step = state["step"] = state["step"] + 1
                vmax = state["max_exp_avg_sq"]._data if amsgrad else None
                kernels.adam_step(p._data, p.grad._data, state["exp_avg"]._data,
                                  state["exp_avg_sq"]._data, int(step), group["lr"],
                                  group["betas"], group["eps"], group["weight_decay"], vmax,
                                  group["decoupled_weight_decay"], group["maximize"])
        return loss
