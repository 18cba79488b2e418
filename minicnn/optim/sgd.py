"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay
(``torch.optim.SGD``)."""
import numpy as np

from ..backends import cuda as cuda_backend
from ..backends.cuda.memory import DeviceArray
from ..tensor import Tensor
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum (``torch.optim.SGD``).

    For each parameter :math:`\theta` with gradient :math:`g` (parameters whose ``.grad`` is
    None are skipped), in PyTorch's formulation::

        g = -g                         if maximize
        g = g + weight_decay * theta   if weight_decay != 0
        if momentum != 0:
            b = g (first step)  else  b = momentum * b + (1 - dampening) * g
            g = g + momentum * b       if nesterov  else  b
        theta = theta - lr * g

    Momentum as in Sutskever et al., "On the importance of initialization and momentum in deep
    learning" (ICML 2013), in PyTorch's form (the learning rate multiplies the whole velocity).

    Args:
        params: iterable of tensors or of parameter-group dicts (see :class:`Optimizer`).
        lr (float): learning rate (default 1e-3, PyTorch 2's default).
        momentum (float): momentum factor (default 0).
        dampening (float): dampening of the momentum (default 0).
        weight_decay (float): L2 penalty (default 0).
        nesterov (bool): Nesterov momentum (default False); needs momentum > 0, dampening 0.
        maximize (bool): maximize the objective instead of minimizing it (default False).

    State per parameter: ``"momentum_buffer"`` (a Tensor like the parameter) when momentum != 0.

    Raises ValueError for lr, momentum or weight_decay < 0 and for nesterov without momentum or
    with dampening.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """One SGD update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            weight_decay, nesterov, maximize = (group["weight_decay"], group["nesterov"],
                                                group["maximize"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                x, g = p._data, p.grad._data
                if isinstance(x, DeviceArray):  # one fused kernel on the GPU
                    self._cuda_step(p, x, g, group)
                    continue
                s, t = self._scratch(x, 2)
                g = self._direction(x, g, weight_decay, maximize, s)
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = Tensor._wrap(g.copy(), p._device)
                        b = buf._data
                    else:
                        b = buf._data
                        b *= momentum
                        if dampening != 0:
                            b += np.multiply(g, 1 - dampening, out=t)
                        else:
                            b += g
                    if nesterov:
                        np.multiply(b, momentum, out=t)
                        g = np.add(g, t, out=s)
                    else:
                        g = b
                x += np.multiply(g, -lr, out=t)
        return loss

    def _cuda_step(self, p, x, g, group):
        momentum = group["momentum"]
        state = self.state[p]
        first = momentum != 0 and "momentum_buffer" not in state
        if first:
            state["momentum_buffer"] = Tensor._wrap(cuda_backend.empty(x.shape), p._device)
        buf = state["momentum_buffer"]._data if momentum != 0 else None
        cuda_backend.sgd_step(x, g, buf, group["lr"], momentum, group["dampening"],
                              group["weight_decay"], group["nesterov"], first, group["maximize"])
