"""Layers as modules (``torch.nn``): each holds its parameters and calls
:mod:`minicnn.nn.functional`."""
from .activation import *  # noqa: F401,F403
from .container import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .flatten import *  # noqa: F401,F403
from .lazy import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .module import Module  # noqa: F401
from .norm import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
