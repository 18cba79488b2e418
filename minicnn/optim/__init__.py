"""TODO(optim helper)."""
