"""Optimizers and learning-rate schedulers, as ``torch.optim``: :class:`SGD`, :class:`Adam`,
:class:`AdamW`, :class:`RMSprop`, :class:`Adadelta`, :class:`Adagrad`, :class:`Adamax`,
:class:`NAdam`, :class:`RAdam`, :class:`ASGD`, the :class:`Optimizer` base class, and
:mod:`~minicnn.optim.lr_scheduler`."""
from . import lr_scheduler, swa_utils  # noqa: F401
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .asgd import ASGD
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["ASGD", "Adadelta", "Adagrad", "Adam", "Adamax", "AdamW", "NAdam", "Optimizer",
           "RAdam", "RMSprop", "SGD", "lr_scheduler"]
