"""Adam, with AMSGrad and (decoupled) weight decay (``torch.optim.Adam``)."""
import numpy as np

from ..backends import cuda as cuda_backend
from ..backends.cuda.memory import DeviceArray
from .optimizer import Optimizer

__all__ = ["Adam"]


def _check_adam_args(lr, betas, eps, weight_decay):
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


def _adam_direction(x, g, lr, weight_decay, decoupled, maximize, out):
    """The gradient Adam's moments follow (Optimizer._direction); with ``decoupled`` weight
    decay (AdamW's) the weights ``x`` are decayed in place by ``lr * weight_decay`` instead of
    adding the L2 term."""
    if weight_decay != 0 and decoupled:
        x *= 1 - lr * weight_decay
    return Optimizer._direction(x, g, 0 if decoupled else weight_decay, maximize, out)


def _adam_moments_(m, v, g, beta1, beta2, work):
    """Adam's moment estimates, in place and in PyTorch's order: m <- lerp(m, g, 1 - beta1),
    v <- beta2 * v + (1 - beta2) * g * g. ``work``: a scratch array like m."""
    _lerp_(m, g, 1 - beta1, work)
    v *= beta2
    np.multiply(g, 1 - beta2, out=work)
    work *= g
    v += work


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

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """One Adam update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            weight_decay, amsgrad, maximize = (group["weight_decay"], group["amsgrad"],
                                               group["maximize"])
            decoupled = group["decoupled_weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                x, g = p._data, p.grad._data
                state = self.state[p]
                if len(state) == 0:
                    self._start_state(state, p, "exp_avg", "exp_avg_sq",
                                      *(("max_exp_avg_sq",) if amsgrad else ()))
                step = state["step"] = state["step"] + 1
                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                if isinstance(x, DeviceArray):  # one fused kernel on the GPU
                    vmax = state["max_exp_avg_sq"]._data if amsgrad else None
                    cuda_backend.adam_step(x, g, m, v, int(step), lr, (beta1, beta2), eps,
                                           weight_decay, vmax, decoupled, maximize)
                    continue
                s, t = self._scratch(x, 2)

                g = _adam_direction(x, g, lr, weight_decay, decoupled, maximize, s)
                _adam_moments_(m, v, g, beta1, beta2, t)

                bias_correction1 = 1 - beta1 ** step
                bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
                if amsgrad:
                    v = np.maximum(state["max_exp_avg_sq"]._data, v,
                                   out=state["max_exp_avg_sq"]._data)
                denom = np.sqrt(v, out=s)
                denom /= bias_correction2_sqrt
                denom += eps
                np.multiply(m, -(lr / bias_correction1), out=t)
                t /= denom
                x += t
        return loss


def _lerp_(start, end, weight, work):
    """start <- start + weight * (end - start), in place, as ``torch.lerp_`` computes it (from
    the nearer end, for accuracy when weight >= 0.5). ``work``: a scratch array like start."""
    np.subtract(end, start, out=work)
    if abs(weight) < 0.5:
        work *= weight
        start += work
    else:
        one = start.dtype.type(1)
        work *= one - start.dtype.type(weight)  # 1 - weight in the tensor's precision, as torch
        np.subtract(end, work, out=start)
