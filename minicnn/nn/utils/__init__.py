"""Utilities for training modules (``torch.nn.utils``)."""
from .clip_grad import *  # noqa: F401,F403
