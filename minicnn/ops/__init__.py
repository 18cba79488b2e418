"""Every differentiable op: one Function class per op (forward and backward side by side) and the
public function that validates arguments and applies it. Tensor methods delegate here."""
from .activation import (abs, bias_add, clamp, clip, exp, gelu, hardswish, hardtanh, leaky_relu,
                         log, log_softmax, relu, relu6, sigmoid, silu, softmax, sqrt, tanh)
from .arithmetic import add, compare, div, matmul, mul, neg, pow, sub
from .reduction import (MinMaxResult, amax, amin, argmax, argmin, max, mean, min, std, sum, var)
from .shape import (cat, clone, contiguous, expand, flatten, getitem, pad, permute, reshape,
                    squeeze, stack, to, to_index, transpose, unsqueeze, view)
