"""Parameter: a tensor that a :class:`~minicnn.nn.Module` registers as one of its weights."""
import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that is a module parameter (``torch.nn.Parameter``).

    Assigning a Parameter to a Module attribute registers it, so it appears in ``parameters()``
    and ``state_dict()``. ``data``: a Tensor (its array is shared, not copied) or anything
    ``np.asarray`` takes; ``None`` gives an empty float32 parameter. ``requires_grad`` defaults
    to True. Raises RuntimeError for a non-floating dtype that requires grad.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty(0, np.float32)
        if isinstance(data, Tensor):
            super().__init__(data._data, requires_grad=requires_grad, device=data._device)
        else:
            super().__init__(np.asarray(data), requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
