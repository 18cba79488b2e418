"""Reference kernels, arrays: making a filled array, casting, and moving data to and from the host.

These are what the device-independent code (tensors, ops, optimizers) asks of a device beyond
the arithmetic that every array type answers NumPy-style. On the host devices ("cpu", "numpy")
the data is a NumPy array in host memory already, so the transfers are the identity; a device
with memory of its own (CUDA) copies, and refuses a dtype its arrays cannot have (TypeError).
"""
import numpy as np

__all__ = ["full", "cast", "to_host", "from_host"]


def full(shape, value, dtype):
    """A new array of ``shape`` (a tuple of ints; () for a scalar) and ``dtype``, every element
    ``value`` (a number, converted as ``np.full`` converts it)."""
    return np.full(shape, value, dtype=dtype)


def cast(x, dtype):
    """A new array holding ``x`` converted to ``dtype`` (always a copy, as ``x.astype``)."""
    return x.astype(dtype, copy=True)


def to_host(x):
    """``x``'s values as a NumPy array in host memory: ``x`` itself here (no copy)."""
    return x


def from_host(array):
    """The host ndarray ``array`` as an array of this device: ``array`` itself here (no copy)."""
    return array
