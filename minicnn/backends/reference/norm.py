"""Reference kernels, normalization: batch norm (training and eval), layer, group and instance norm, in plain NumPy."""
import numpy as np  # noqa: F401

__all__ = []
