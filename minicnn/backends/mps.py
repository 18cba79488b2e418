"""``torch.backends.mps`` (Apple's Metal GPUs): minicnn has no Metal backend, so scripts that ask
``minicnn.backends.mps.is_available()`` fall back to their CPU path.
Source: https://pytorch.org/docs/stable/backends.html#torch-backends-mps
"""


def is_available() -> bool:
    """False: minicnn has no Metal backend."""
    return False


def is_built() -> bool:
    """False: minicnn has no Metal backend."""
    return False
