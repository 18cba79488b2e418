"""minicnn: a from-scratch deep learning framework for convolutional networks.

A small autograd engine in Python (:mod:`minicnn.autograd`) drives kernels written in C with
OpenMP (:mod:`minicnn.backends`), each with a plain NumPy twin. The API follows PyTorch's names
and semantics: ``import minicnn as torch`` should feel familiar.
"""
import numpy as _np

from . import accelerator, autograd, backends, cuda, random
from .version import __version__
from .autograd import (Function, enable_grad, inference_mode, is_anomaly_check_nan_enabled,
                       is_anomaly_enabled, is_grad_enabled, is_inference_mode_enabled, no_grad,
                       set_grad_enabled)
from .backends import get_num_threads, set_num_threads
from .creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like,
                       get_default_dtype, is_floating_point, is_tensor, linspace, normal, numel,
                       ones, ones_like, rand, rand_like, randint, randn, randn_like,
                       set_default_dtype, tensor, zeros, zeros_like)
from .device import device, get_default_device, set_default_device
from .ops import (abs, add, addcdiv, addcmul, addmm, all, allclose, amax, amin, any, argmax,
                  argmin, argsort, atan2, bmm, broadcast_to, cat, ceil, chunk, clamp, clip, cos,
                  cosh, count_nonzero, cumsum, div, dot, einsum, eq, equal, erf, exp, expm1,
                  flatten, flip, floor, gather, ge, gt, index_put, index_select, isclose,
                  isfinite, isinf, isnan, le, lerp, log, log1p, log2, log10, log_softmax,
                  logsumexp, lt, masked_fill, masked_select, matmul, max, maximum, mean, meshgrid,
                  min, minimum, mm, mul, narrow, ne, nonzero, norm, outer, permute, pow, prod,
                  reciprocal, relu, repeat_interleave, reshape, roll, round, rsqrt, rsub,
                  scatter, scatter_add, sigmoid, sign, sin, sinh, softmax, sort, split, sqrt,
                  square, squeeze, stack, std, sub, sum, swapaxes, swapdims, take_along_dim, tan,
                  tanh, topk, transpose, tril, triu, unbind, unique, unsqueeze, var, where)
from . import tensor_methods  # noqa: F401  (installs Tensor's op methods: x + y, x.sum(), ...)
from .random import manual_seed
from .serialization import load, save
from .tensor import Size, Tensor

# dtypes, as numpy dtypes: tensor.dtype == minicnn.float32
float32 = _np.dtype(_np.float32)
float64 = _np.dtype(_np.float64)
int32 = _np.dtype(_np.int32)
int64 = _np.dtype(_np.int64)
int16 = _np.dtype(_np.int16)
int8 = _np.dtype(_np.int8)
uint8 = _np.dtype(_np.uint8)
float16 = _np.dtype(_np.float16)
bool = _np.dtype(_np.bool_)  # noqa: A001  (torch.bool)
float = float32  # noqa: A001  (torch.float)
double = float64
half = float16
long = int64
int = int32  # noqa: A001  (torch.int)
short = int16
dtype = _np.dtype  # isinstance(t.dtype, minicnn.dtype)
finfo = _np.finfo  # minicnn.finfo(minicnn.float32).eps
iinfo = _np.iinfo

from . import data, models, nn, optim, utils  # noqa: E402  (they use the names above)
from . import amp  # noqa: E402
from . import onnx  # noqa: E402  (torch.onnx's place; the onnx package loads only on export)
from .amp import autocast  # noqa: E402

if autograd.BFLOAT16 is not None:
    bfloat16 = autograd.BFLOAT16  # ml_dtypes' (the "amp" extra)


def __getattr__(name: str) -> object:
    if name == "bfloat16":  # only reached without ml_dtypes: say what installs it
        return amp.bfloat16_dtype()
    raise AttributeError(f"module 'minicnn' has no attribute {name!r}")
