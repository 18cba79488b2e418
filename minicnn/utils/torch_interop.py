"""TODO(checkpoint helper)."""
__all__ = ["from_torch_state_dict", "to_torch_state_dict"]


def from_torch_state_dict(model, state_dict_or_path, strict=True):
    raise NotImplementedError


def to_torch_state_dict(model):
    raise NotImplementedError
