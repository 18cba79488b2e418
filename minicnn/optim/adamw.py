"""AdamW: Adam with decoupled weight decay (``torch.optim.AdamW``)."""
from __future__ import annotations

from .adam import Adam
from .optimizer import ParamsT

__all__ = ["AdamW"]


class AdamW(Adam):
    r"""AdamW (``torch.optim.AdamW``): Loshchilov & Hutter, "Decoupled Weight Decay
    Regularization" (ICLR 2019).

    The :class:`Adam` update, except that weight decay shrinks the weights directly,
    ``theta = theta * (1 - lr * weight_decay)``, before the Adam step, instead of adding an L2
    term to the gradient (so the decay is not rescaled by Adam's denominator).

    Args: as :class:`Adam`, with ``weight_decay`` defaulting to 1e-2; ``params``, ``lr=1e-3``,
    ``betas=(0.9, 0.999)``, ``eps=1e-8``, ``weight_decay=1e-2``, ``amsgrad=False``, and keyword
    ``maximize=False``. State and errors: as :class:`Adam`.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
