"""Devices: where a tensor's data lives, and so which backend's kernels run on it."""
from . import cuda

#: device types minicnn knows; "numpy" is the teaching device (pure-NumPy reference kernels)
DEVICE_TYPES = ("cpu", "numpy", "cuda")


class device:
    """A device, as ``torch.device``: ``device("cpu")``, ``device("numpy")``, ``device("cuda:0")``.

    Raises ValueError for an unknown device string and RuntimeError for "cuda" while tensors
    cannot live there (:func:`minicnn.cuda.tensor_unavailable_reason` says why).
    """

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu', got {type!r}")
        name, _, idx = type.partition(":")
        if name not in DEVICE_TYPES:
            raise ValueError(f"device: unknown device {type!r}; expected one of {DEVICE_TYPES}")
        if idx:
            index = int(idx)
        if name == "cuda" and cuda.tensor_unavailable_reason() is not None:
            raise RuntimeError(f"device {type!r}: CUDA is not available "
                               f"({cuda.tensor_unavailable_reason()})")
        self.type = name
        self.index = index

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"


CPU = device("cpu")
_default = CPU


def as_device(d):
    """A :class:`device` from a device, a string, or None (the default device)."""
    if d is None:
        return _default
    if isinstance(d, device):
        return d
    return device(d)


def set_default_device(d):
    """Device for tensors created without one (``torch.set_default_device``); "cpu" at start."""
    global _default
    _default = as_device(d)


def get_default_device():
    return _default
