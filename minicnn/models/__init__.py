"""TODO(models helper)."""
