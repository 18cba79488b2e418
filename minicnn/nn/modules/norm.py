"""TODO(layers helper)."""
__all__ = []
