"""Reference kernels, pooling: max/avg pooling with saved argmax indices, adaptive and Lp pooling, in plain NumPy."""
import numpy as np  # noqa: F401

__all__ = []
