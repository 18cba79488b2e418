"""Stateless neural-network functions with PyTorch's names and signatures
(``torch.nn.functional``): activations, convolution, pooling, normalization, linear, dropout and
losses, one_hot. Input layout NCHW; see each function's docstring for shapes, dtypes and
errors."""
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import ops
from ..ops import gelu, log_softmax, pad, sigmoid, softmax, tanh  # noqa: F401
from ..ops._util import tensor_args as _tensor_args
from ..ops.conv import conv2d, conv_transpose2d  # noqa: F401
from ..ops.loss import cross_entropy, dropout, dropout2d, linear, mse_loss, nll_loss  # noqa: F401
from ..ops.norm import batch_norm, group_norm, instance_norm, layer_norm  # noqa: F401
from ..ops.pool import (  # noqa: F401
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    adaptive_max_pool2d_with_indices,
    avg_pool2d,
    lp_pool2d,
    max_pool2d,
    max_pool2d_with_indices,
)
from ..tensor import Tensor

# The activations take PyTorch's ``inplace`` flag: with inplace=True the result is written into
# ``input`` (an in-place op: it bumps the version counter, and is recorded when ``input`` is part
# of a graph) and ``input`` itself is returned. The modules (nn.ReLU(inplace=True), ...) compute
# out of place, which gives the same result without the copy.

def _maybe_inplace(name: str, fn: Callable[..., Tensor], input: Tensor, inplace: bool,
                   *args: Any) -> Tensor:
    if not inplace:
        return fn(input, *args)
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")
    return input._inplace(name + "_", fn, *args)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(input, 0) elementwise (``torch.nn.functional.relu``); any shape, float32 or float64."""
    return _maybe_inplace("relu", ops.relu, input, inplace)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(input, 0), 6) (``torch.nn.functional.relu6``)."""
    return _maybe_inplace("relu6", ops.relu6, input, inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """input if input > 0 else negative_slope * input (``torch.nn.functional.leaky_relu``)."""
    return _maybe_inplace("leaky_relu", ops.leaky_relu, input, inplace, negative_slope)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """min(max(input, min_val), max_val) (``torch.nn.functional.hardtanh``)."""
    return _maybe_inplace("hardtanh", ops.hardtanh, input, inplace, min_val, max_val)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """input * sigmoid(input) (``torch.nn.functional.silu``)."""
    return _maybe_inplace("silu", ops.silu, input, inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """input * relu6(input + 3) / 6 (``torch.nn.functional.hardswish``)."""
    return _maybe_inplace("hardswish", ops.hardswish, input, inplace)


def _hardsigmoid(input: Tensor) -> Tensor:
    return ops.relu6(input + 3.0) / 6.0


@_tensor_args("input")
def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(input + 3) / 6 (Howard et al. 2019, MobileNetV3;
    ``torch.nn.functional.hardsigmoid``): 0 for input <= -3, 1 for input >= 3, input / 6 + 1/2
    between. Any shape; float32 or float64. The gradient is 1/6 where 0 < input + 3 < 6, else 0
    (PyTorch's -3 < input < 3, but for input + 3 rounding to 6 just below input = 3). Raises
    TypeError when ``input`` is not a Tensor."""
    return _maybe_inplace("hardsigmoid", _hardsigmoid, input, inplace)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
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
