"""Stateless neural-network functions with PyTorch's names and signatures
(``torch.nn.functional``): activations, softmax/log_softmax and pad so far."""
from ..ops import (gelu, leaky_relu, log_softmax, pad, relu, sigmoid, silu, softmax,  # noqa: F401
                   tanh)
