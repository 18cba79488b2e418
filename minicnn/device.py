"""Devices: where a tensor's data lives, and so which backend's kernels run on it."""
from . import backends, cuda

#: device types minicnn knows; "numpy" is the teaching device (pure-NumPy reference kernels)
DEVICE_TYPES = ("cpu", "numpy", "cuda")


class device:
    """A device, as ``torch.device``: ``device("cpu")``, ``device("numpy")``, ``device("cuda:0")``.

    Raises ValueError for an unknown device string and RuntimeError for "cuda" while tensors
    cannot live there (:func:`minicnn.cuda.unavailable_reason` says why).
    """

    __slots__ = ("type", "index", "_previous")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        elif isinstance(type, int) and not isinstance(type, bool):
            type, index = "cuda", type  # torch.device(0) is cuda:0
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu', got {type!r}")
        name, _, idx = type.partition(":")
        if name not in DEVICE_TYPES:
            raise ValueError(f"device: unknown device {type!r}; expected one of {DEVICE_TYPES}")
        if idx:
            index = int(idx)
        if name == "cuda":
            if cuda.unavailable_reason() is not None:
                raise RuntimeError(f"device {type!r}: CUDA is not available "
                                   f"({cuda.unavailable_reason()})")
            # "cuda" is the current device, which minicnn keeps at 0: one device, one name
            index = 0 if index is None else int(index)
            if not 0 <= index < cuda.device_count():
                raise RuntimeError(f"device {type!r}: invalid device ordinal (this machine has "
                                   f"{cuda.device_count()} CUDA device(s), and minicnn uses "
                                   "cuda:0)")
            if index != 0:
                raise RuntimeError(f"device {type!r}: minicnn runs on cuda:0 only")
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

    def __enter__(self):
        """``with minicnn.device("cuda"):`` makes it the default device for the block."""
        global _default
        self._previous = _default
        _default = self
        return self

    def __exit__(self, *exc):
        global _default
        _default = self._previous


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


def move(array, target):
    """``array`` (an ndarray or a device array) placed on device ``target``: copied to or from
    the GPU when it changes sides, returned as is otherwise. Raises TypeError for a dtype that
    cannot live on "cuda" (float64 and the rest: minicnn's CUDA kernels are float32)."""
    return backends.move(array, target.type)
