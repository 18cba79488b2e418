"""Tools around the framework: gradient checking, PyTorch weight interop (more join later)."""
from .gradcheck import GradcheckError, gradcheck  # noqa: F401
from .torch_interop import from_torch_state_dict, to_torch_state_dict  # noqa: F401
