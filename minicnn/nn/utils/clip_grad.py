"""TODO(optim helper)."""
__all__ = []
