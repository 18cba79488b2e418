"""minicnn: a from-scratch deep learning framework for convolutional networks.

A small autograd engine in Python (:mod:`minicnn.autograd`) drives kernels written in C with
OpenMP (:mod:`minicnn.backends`), each with a plain NumPy twin. The API follows PyTorch's names
and semantics: ``import minicnn as torch`` should feel familiar.
"""
__version__ = "0.1.0"

import numpy as _np

from . import backends, cuda, random
from .autograd import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .backends import get_num_threads, set_num_threads
from .creation import (arange, as_tensor, empty, empty_like, eye, full, full_like, linspace,
                       normal, ones, ones_like, rand, rand_like, randint, randn, randn_like, tensor,
                       zeros, zeros_like)
from .device import device, get_default_device, set_default_device
from .ops import (abs, add, addcdiv, addcmul, allclose, amax, amin, argmax, argmin, atan2, bmm,
                  cat, ceil, clamp, clip, cos, cosh, div, eq, equal, exp, flatten, floor, ge, gt,
                  index_put, isclose, le, lerp, log, log_softmax, lt, masked_fill, matmul, max,
                  mean, meshgrid, min, mul, ne, permute, pow, relu, repeat_interleave, reshape,
                  round, rsub, sigmoid, sign, sin, sinh, softmax, sqrt, squeeze, stack, std, sub,
                  sum, swapaxes, swapdims, tan, tanh, transpose, unsqueeze, var, where)
from .random import manual_seed
from .serialization import load, save
from .tensor import Tensor

# dtypes, as numpy dtypes: tensor.dtype == minicnn.float32
float32 = _np.dtype(_np.float32)
float64 = _np.dtype(_np.float64)
int32 = _np.dtype(_np.int32)
int64 = _np.dtype(_np.int64)
uint8 = _np.dtype(_np.uint8)
bool = _np.dtype(_np.bool_)  # noqa: A001  (torch.bool)
float = float32  # noqa: A001  (torch.float)
double = float64
long = int64

from . import data, models, nn, optim, utils  # noqa: E402  (they use the names above)
