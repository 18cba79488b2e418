"""Every differentiable op: one Function class per op (forward and backward side by side) and the
public function that validates arguments and applies it. Tensor methods delegate here."""
from . import norm as _norm_ops  # noqa: F401  (loaded first: see ``norm`` below)
from .activation import (abs, bias_add, clamp, clip, exp, gelu, hardswish, hardtanh, leaky_relu,
                         log, log_softmax, relu, relu6, sigmoid, silu, softmax, sqrt, tanh)
from .arithmetic import (add, addcdiv, addcmul, allclose, bmm, compare, div, eq, equal, ge, gt,
                         isclose, le, lerp, lt, matmul, mul, ne, neg, pow, rsub, sub)
from .indexing import (gather, index_select, masked_select, scatter, scatter_add,
                       take_along_dim)
from .linalg import addmm, dot, einsum, mm, outer
from .pointwise import (atan2, ceil, cos, cosh, erf, expm1, floor, isfinite, isinf, isnan, log1p,
                        log2, log10, masked_fill, maximum, minimum, reciprocal, round, rsqrt,
                        sign, sin, sinh, square, tan, where)
# ``norm`` is the function (torch.norm): the normalization ops' module (ops/norm.py, the "norm"
# kernel family) is loaded above, so this name is not later replaced by that submodule
from .reduction import (MinMaxResult, all, amax, amin, any, argmax, argmin, count_nonzero, cumsum,
                        logsumexp, max, mean, min, norm, prod, std, sum, var)
from .search import SortResult, TopkResult, argsort, nonzero, sort, topk, unique
from .shape import (broadcast_to, cat, chunk, clone, contiguous, expand, flatten, flip, getitem,
                    index_put, meshgrid, narrow, pad, permute, repeat, repeat_interleave, reshape,
                    roll, split, squeeze, stack, swapaxes, swapdims, to, to_index, transpose,
                    tril, triu, unbind, unsqueeze, view)
