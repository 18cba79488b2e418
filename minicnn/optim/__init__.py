"""Optimizers and learning-rate schedulers, as ``torch.optim``: :class:`SGD`, :class:`Adam`,
:class:`AdamW`, :class:`RMSprop`, the :class:`Optimizer` base class, and
:mod:`~minicnn.optim.lr_scheduler`."""
from . import lr_scheduler  # noqa: F401
from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "lr_scheduler"]
