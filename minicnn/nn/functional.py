"""Stateless neural-network functions with PyTorch's names and signatures
(``torch.nn.functional``): activations, convolution, pooling, normalization, linear, dropout and
losses. Input layout NCHW; see each function's docstring for shapes, dtypes and errors."""
from ..ops import (gelu, hardswish, hardtanh, leaky_relu, log_softmax, pad, relu,  # noqa: F401
                   relu6, sigmoid, silu, softmax, tanh)
from ..ops.conv import conv2d, conv_transpose2d  # noqa: F401
from ..ops.loss import cross_entropy, dropout, dropout2d, linear, mse_loss, nll_loss  # noqa: F401
from ..ops.norm import batch_norm, group_norm, instance_norm, layer_norm  # noqa: F401
from ..ops.pool import (adaptive_avg_pool2d, adaptive_max_pool2d,  # noqa: F401
                        adaptive_max_pool2d_with_indices, avg_pool2d, lp_pool2d, max_pool2d,
                        max_pool2d_with_indices)
