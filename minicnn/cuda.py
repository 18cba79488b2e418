"""minicnn's GPU path (``torch.cuda``'s counterpart).

The CUDA kernel library is not part of this build yet, so :func:`is_available` is False and
tensors cannot be placed on ``"cuda"``. It never raises: asking is always safe.
"""


def is_available():
    """True when minicnn's CUDA module is built and a GPU with a driver is present."""
    return False


def unavailable_reason():
    """Why :func:`is_available` is False, in words."""
    return "minicnn was built without its CUDA module"
