"""Reference kernels: activations, softmax family and the channel bias, in plain NumPy."""
import math

import numpy as np

__all__ = [
    "relu", "relu_backward", "leaky_relu", "leaky_relu_backward",
    "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
    "silu", "silu_backward", "hardswish", "hardswish_backward", "gelu", "gelu_backward",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "bias_add", "bias_add_backward",
]


# ---------------------------------------------------------------- activations (PyTorch's formulas)

def relu(x):
    """relu(x) = max(x, 0); NaN stays NaN (as torch.relu)."""
    return np.where(x < 0, 0, x).astype(x.dtype, copy=False)


def relu_backward(grad_output, output):
    """Gradient of relu from its output: 0 where output <= 0 (so 0 at x == 0), else passed
    through, NaN outputs included (PyTorch's threshold_backward)."""
    return np.where(output <= 0, 0, grad_output).astype(output.dtype, copy=False)


def leaky_relu(x, negative_slope=0.01):
    """leaky_relu(x) = x if x > 0 else negative_slope * x (torch.nn.LeakyReLU)."""
    return np.where(x > 0, x, x * negative_slope).astype(x.dtype, copy=False)


def leaky_relu_backward(grad_output, x, negative_slope=0.01):
    return np.where(x > 0, grad_output, grad_output * negative_slope).astype(x.dtype, copy=False)


def sigmoid(x):
    """sigmoid(x) = 1 / (1 + exp(-x)), computed without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def sigmoid_backward(grad_output, output):
    """sigmoid'(x) = y (1 - y) with y = sigmoid(x)."""
    return grad_output * output * (1 - output)


def tanh(x):
    return np.tanh(x)


def tanh_backward(grad_output, output):
    """tanh'(x) = 1 - y^2 with y = tanh(x)."""
    return grad_output * (1 - output * output)


def silu(x):
    """silu(x) = x * sigmoid(x) (Elfwing et al. 2018; torch.nn.SiLU)."""
    return x * sigmoid(x)


def silu_backward(grad_output, x):
    """silu'(x) = s (1 + x (1 - s)) with s = sigmoid(x)."""
    s = sigmoid(x)
    return grad_output * s * (1 + x * (1 - s))


def hardswish(x):
    """hardswish(x) = x * relu6(x + 3) / 6 = x * min(max(x + 3, 0), 6) / 6 (Howard et al. 2019,
    "Searching for MobileNetV3"; torch.nn.Hardswish). NaN stays NaN."""
    return x * np.clip(x + 3, 0, 6).astype(x.dtype, copy=False) / np.asarray(6, x.dtype)


def hardswish_backward(grad_output, x):
    """hardswish'(x) = 0 for x <= -3, 1 for x >= 3, x / 3 + 1/2 between: PyTorch's choice at the
    kinks (0 at x = -3, 1 at x = 3). NaN inputs give NaN."""
    three = np.asarray(3, x.dtype)
    mid = grad_output * (x / three + np.asarray(0.5, x.dtype))
    grad = np.where(x <= -three, 0, np.where(x >= three, grad_output, mid))
    return grad.astype(x.dtype, copy=False)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def _erf(x):
    """Elementwise erf of a NumPy array (NumPy has no erf ufunc; math.erf is exact per element)."""
    return np.asarray(np.frompyfunc(math.erf, 1, 1)(x), dtype=x.dtype)  # 0-d gives a float


def gelu(x, approximate="none"):
    """gelu (Hendrycks & Gimpel 2016, torch.nn.GELU).

    approximate="none": x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2)));
    approximate="tanh": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    """
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)))
    if approximate == "none":
        return 0.5 * x * (1 + _erf(x / math.sqrt(2)))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def gelu_backward(grad_output, x, approximate="none"):
    """Derivative of gelu: Phi(x) + x phi(x) (exact), or the derivative of the tanh form."""
    if approximate == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))
        dinner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
        return grad_output * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner)
    if approximate == "none":
        cdf = 0.5 * (1 + _erf(x / math.sqrt(2)))
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return grad_output * (cdf + x * pdf)
    raise ValueError(f"gelu_backward: approximate must be 'none' or 'tanh', got {approximate!r}")


# ---------------------------------------------------------------- softmax family

def softmax(x, dim):
    """softmax along ``dim``: exp(x - max) / sum(exp(x - max)); subtracting the max keeps every
    exponent <= 0, so nothing overflows."""
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def softmax_backward(grad_output, output, dim):
    """d softmax: gx = y * (g - sum(g * y, dim))."""
    return output * (grad_output - (grad_output * output).sum(axis=dim, keepdims=True))


def log_softmax(x, dim):
    """log_softmax along ``dim``: (x - max) - log(sum(exp(x - max))), stable for any x."""
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


def log_softmax_backward(grad_output, output, dim):
    """d log_softmax: gx = g - exp(y) * sum(g, dim)."""
    return grad_output - np.exp(output) * grad_output.sum(axis=dim, keepdims=True)


# ---------------------------------------------------------------- bias

def bias_add(x, bias):
    """y = x + bias over the channel axis: x (N, C, *) and bias (C,), as a conv/linear bias."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return x + bias.reshape(shape)


def bias_add_backward(grad_output):
    """Gradient of bias_add with respect to the bias: sum over every axis but the channel axis 1."""
    axes = (0,) + tuple(range(2, grad_output.ndim))
    return grad_output.sum(axis=axes)


# ---------------------------------------------------------------- fused activations
# What a batch-norm kernel or a convolution applies to its output in the pass that writes it
# (their ``activation`` argument); helpers, not kernels of the table.

ACTIVATIONS = (None, "relu", "relu6")  # what a batch-norm kernel may apply to its output


def activate(y, activation):
    """ReLU max(y, 0) or ReLU6 min(max(y, 0), 6) of ``y`` (None: y itself); NaN stays NaN."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be None, 'relu' or 'relu6', got {activation!r}")
    if activation is not None:
        y = np.where(y < 0, 0.0, y)
        if activation == "relu6":
            y = np.where(y > 6, 6.0, y)
    return y


def activation_grad(g, output, activation):
    """g taken back through the activation whose output is ``output``: ReLU passes it where
    output > 0 or NaN (relu_backward's mask), ReLU6 only where 0 < output < 6 (hardtanh's)."""
    if activation == "relu6":
        return np.where((output > 0) & (output < 6), g, 0.0)
    return np.where(output <= 0, 0.0, g)
