"""Neural-network building blocks, as ``torch.nn``: :class:`Module`, :class:`Parameter`, the
layers and containers, :mod:`~minicnn.nn.functional`, :mod:`~minicnn.nn.init` and
:mod:`~minicnn.nn.utils`."""
from . import functional, init, utils  # noqa: F401
from .modules import *  # noqa: F401,F403
from .modules import Module  # noqa: F401
from .parameter import Parameter, UninitializedBuffer, UninitializedParameter  # noqa: F401
