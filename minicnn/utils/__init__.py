"""Tools around the framework: gradient checking, PyTorch weight interop, model summary."""
from .gradcheck import GradcheckError, gradcheck  # noqa: F401
from .torch_interop import from_torch_state_dict, to_torch_state_dict  # noqa: F401
from .summary import LayerInfo, ModelSummary, summary  # noqa: F401
