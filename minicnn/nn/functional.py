"""Stateless neural-network functions with PyTorch's names and signatures
(``torch.nn.functional``): activations, convolution, pooling, normalization, linear, dropout and
losses, one_hot. Input layout NCHW; see each function's docstring for shapes, dtypes and
errors."""
import numpy as np

from ..ops import (gelu, hardswish, hardtanh, leaky_relu, log_softmax, pad, relu,  # noqa: F401
                   relu6, sigmoid, silu, softmax, tanh)
from ..ops.conv import conv2d, conv_transpose2d  # noqa: F401
from ..ops.loss import cross_entropy, dropout, dropout2d, linear, mse_loss, nll_loss  # noqa: F401
from ..ops.norm import batch_norm, group_norm, instance_norm, layer_norm  # noqa: F401
from ..ops.pool import (adaptive_avg_pool2d, adaptive_max_pool2d,  # noqa: F401
                        adaptive_max_pool2d_with_indices, avg_pool2d, lp_pool2d, max_pool2d,
                        max_pool2d_with_indices)
from ..tensor import Tensor


def one_hot(tensor, num_classes=-1):
    """Class indices as one-hot rows (``torch.nn.functional.one_hot``): an int64 tensor of shape
    (*tensor.shape, num_classes) with a 1 at each index. ``num_classes=-1`` means one more than
    the largest index.

    Raises RuntimeError (PyTorch's messages) for a non-int64 tensor, negative indices, indices
    >= num_classes, or an empty tensor without ``num_classes``.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"one_hot(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(tensor).__name__}")
    if tensor.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    index = tensor.cpu().numpy()
    if num_classes == -1:
        if index.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(index.max()) + 1
    if index.size and index.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if index.size and index.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    out = (index[..., None] == np.arange(num_classes)).astype(np.int64)
    return Tensor(out, device=tensor.device)
