"""Neural-network building blocks (``torch.nn``). For now: :mod:`minicnn.nn.functional`."""
from . import functional
