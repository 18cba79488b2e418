"""Reference kernels for linear (fully connected) layers, in plain NumPy.

x (M, in) holds M samples as rows; weight (out, in) as ``torch.nn.Linear`` stores it; bias (out,).
    y = x @ weight^T + bias                 (M, out)
    grad_x = grad_y @ weight                (M, in)
    grad_weight = grad_y^T @ x              (out, in)      (grad_bias = grad_y summed over rows)
"""
import numpy as np

__all__ = ["linear", "linear_backward_input", "linear_backward_weight"]


def linear(x, weight, bias=None):
    y = x @ weight.T
    if bias is not None:
        y += bias
    return y


def linear_backward_input(grad_output, weight):
    return np.ascontiguousarray(grad_output @ weight)


def linear_backward_weight(grad_output, x):
    return np.ascontiguousarray(grad_output.T @ x)
