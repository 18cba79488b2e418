"""RMSprop, plain or centered, with momentum and weight decay (``torch.optim.RMSprop``)."""
import numpy as np

from ..backends.cuda.memory import DeviceArray
from ..tensor import Tensor
from .adam import _lerp_
from .optimizer import Optimizer

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

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
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

    def step(self, closure=None):
        """One RMSprop update of every parameter that has a gradient; returns ``closure()``'s
        loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
            weight_decay, centered, maximize = (group["weight_decay"], group["centered"],
                                                group["maximize"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                x, g = p._data, p.grad._data
                if isinstance(x, DeviceArray):
                    raise TypeError("RMSprop has no CUDA kernel in minicnn; on cuda use SGD, Adam "
                                    "or AdamW")
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0.0
                    state["square_avg"] = Tensor._wrap(np.zeros_like(x), p._device)
                    if momentum > 0:
                        state["momentum_buffer"] = Tensor._wrap(np.zeros_like(x), p._device)
                    if centered:
                        state["grad_avg"] = Tensor._wrap(np.zeros_like(x), p._device)
                state["step"] += 1
                v = state["square_avg"]._data
                s, t = self._scratch(x, 2)

                g = self._direction(x, g, weight_decay, maximize, s)

                v *= alpha
                np.multiply(g, 1 - alpha, out=t)
                t *= g
                v += t
                if centered:
                    a = state["grad_avg"]._data
                    _lerp_(a, g, 1 - alpha, t)
                    avg = np.negative(a, out=t)
                    avg *= a
                    avg += v
                    np.sqrt(avg, out=avg)
                else:
                    avg = np.sqrt(v, out=t)
                avg += eps

                if momentum > 0:
                    b = state["momentum_buffer"]._data
                    b *= momentum
                    b += np.divide(g, avg, out=avg)
                    x += np.multiply(b, -lr, out=t)
                else:
                    step = np.multiply(g, -lr, out=s)
                    step /= avg
                    x += step
        return loss
