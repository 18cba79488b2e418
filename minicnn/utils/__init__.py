"""Tools around the framework: gradient checking, PyTorch weight interop, model summary,
receptive fields and output sizes, (in :mod:`minicnn.utils.viz`) visualization, and (in
:mod:`minicnn.utils.data`) ``torch.utils.data``: data sets, samplers and the DataLoader."""
from . import (
                             data,  # noqa: F401
                             viz,  # noqa: F401  (matplotlib is imported only when drawing)
)
from .gradcheck import GradcheckError, gradcheck  # noqa: F401
from .receptive_field import ReceptiveField, RFLayer, conv_output_size, receptive_field  # noqa: F401
from .summary import LayerInfo, ModelSummary, summary  # noqa: F401
from .torch_interop import from_torch_state_dict, to_torch_state_dict  # noqa: F401
