"""TODO(layers helper)."""
