"""Utilities for training modules (``torch.nn.utils``)."""
from . import fusion  # noqa: F401
from .clip_grad import *  # noqa: F401,F403
from .fusion import fuse_conv_bn_eval, fuse_conv_bn_weights  # noqa: F401
