"""Stateless neural-network functions with PyTorch's names and signatures
(``torch.nn.functional``)."""
from ..ops import (gelu, leaky_relu, log_softmax, pad, relu, sigmoid, silu, softmax,  # noqa: F401
                   tanh)
from ..ops.conv import *  # noqa: F401,F403
from ..ops.loss import *  # noqa: F401,F403
from ..ops.norm import *  # noqa: F401,F403
from ..ops.pool import *  # noqa: F401,F403
