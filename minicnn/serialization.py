"""TODO(checkpoint helper)."""
__all__ = ["save", "load"]


def save(obj, f):
    raise NotImplementedError


def load(f):
    raise NotImplementedError
