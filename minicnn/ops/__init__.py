"""Every differentiable op: one Function class per op (forward and backward side by side) and the
public function that validates arguments and applies it. Tensor methods delegate here."""
from .activation import (abs, bias_add, clamp, clip, exp, gelu, hardswish, hardtanh, leaky_relu,
                         log, log_softmax, relu, relu6, sigmoid, silu, softmax, sqrt, tanh)
from .arithmetic import (add, addcdiv, addcmul, allclose, bmm, compare, div, eq, equal, ge, gt,
                         isclose, le, lerp, lt, matmul, mul, ne, neg, pow, rsub, sub)
from .pointwise import (atan2, ceil, cos, cosh, floor, masked_fill, round, sign, sin, sinh, tan,
                        where)
from .reduction import (MinMaxResult, amax, amin, argmax, argmin, max, mean, min, std, sum, var)
from .shape import (cat, clone, contiguous, expand, flatten, getitem, index_put, meshgrid, pad,
                    permute, repeat, repeat_interleave, reshape, squeeze, stack, swapaxes,
                    swapdims, to, to_index, transpose, unsqueeze, view)
