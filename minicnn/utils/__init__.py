"""Tools around the framework: gradient checking, PyTorch weight interop, model summary,
receptive fields and output sizes, (in :mod:`minicnn.utils.viz`) visualization, and (in
:mod:`minicnn.utils.data`) ``torch.utils.data``: data sets, samplers and the DataLoader."""
from . import data, viz  # viz imports matplotlib only when drawing
from .gradcheck import GradcheckError, gradcheck
from .receptive_field import ReceptiveField, RFLayer, conv_output_size, receptive_field
from .summary import LayerInfo, ModelSummary, summary
from .torch_interop import from_torch_state_dict, to_torch_state_dict
