"""Reference kernels, normalization: batch norm (training and eval), layer, group and instance
norm, in plain NumPy.

Every normalization computes, over some set of values, xhat = (x - mean) * invstd with
invstd = 1 / sqrt(var + eps) and var the biased variance (divided by the count), then an
optional affine transform y = xhat * weight + bias. They differ in the set:

* batch norm (Ioffe & Szegedy 2015): per channel c, over the batch and the spatial positions
  (x of shape (N, C, *) viewed as (N, C, S), S = prod(spatial));
* layer norm (Ba, Kiros & Hinton 2016): per row of an (M, D) array (the op flattens the
  ``normalized_shape`` trailing dimensions into D), weight and bias per element of the row;
* group norm (Wu & He 2018): per sample n and group of C / num_groups channels;
* instance norm (Ulyanov, Vedaldi & Lempitsky 2016): per sample and channel; it is batch norm on
  x viewed as (1, N * C, S), which is how minicnn.ops.norm runs it with the kernels below.

Statistics are computed in float64 (the mean first, then the squared deviations from it: the
two-pass algorithm, exact for data whose mean is large against its spread) and every result is
rounded once to x's dtype. ``weight`` and ``bias`` may be None: no affine transform.

The backward of all of them is the same formula over the normalized set (Ioffe & Szegedy 2015,
section 3): with g the gradient of xhat (grad_output, times weight when there is one),
``gx = invstd * (g - mean(g) - xhat * mean(g * xhat))``; ``grad_weight = sum(grad_output * xhat)``
and ``grad_bias = sum(grad_output)`` over everything but the weight's axis.

``output_mask`` = (input, weight, bias): which gradients to compute; the others come back None.
"""
import math

import numpy as np

from .elementwise import ACTIVATIONS
from .elementwise import activate as _activate
from .elementwise import activation_grad as _activation_grad

__all__ = [
    "batch_norm_forward_train", "batch_norm_forward_eval", "batch_norm_backward",
    "batch_norm_update_running", "batch_norm_invstd",
    "layer_norm_forward", "layer_norm_backward",
    "group_norm_forward", "group_norm_backward",
]


def _ncs(x):
    """x (N, C, *) as an (N, C, S) view, S = prod(spatial); S = 1 for an (N, C) array."""
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))


def _per_channel(v, default):
    """A (C,) array (or the scalar ``default`` for None) in float64, shaped to broadcast against
    an (N, C, S) array."""
    return default if v is None else v.astype(np.float64)[:, None]


# ---------------------------------------------------------------- batch norm

def batch_norm_forward_train(x, weight, bias, eps, activation=None):
    """Batch norm with the statistics of this batch (training mode).

    x: (N, C, *) float32/float64; weight, bias: (C,) or None; eps: float.
    Returns (y, mean, var, invstd): y like x; mean, var (biased: divided by M = N * S) and
    invstd = 1 / sqrt(var + eps), each (C,). y = (x - mean) * invstd * weight + bias, then
    ``activation`` ("relu", "relu6" or None) applied to it in the same pass.
    An empty channel (M = 0) has mean 0 and var 0.
    """
    x3 = _ncs(x)
    N, C, S = x3.shape
    xd = x3.astype(np.float64)
    if N * S == 0:
        mean, var = np.zeros(C), np.zeros(C)
    else:
        mean = xd.mean(axis=(0, 2))
        var = ((xd - mean[:, None]) ** 2).mean(axis=(0, 2))  # two-pass: exact for a large mean
    invstd = 1.0 / np.sqrt(var + eps)
    y = (xd - mean[:, None]) * invstd[:, None] * _per_channel(weight, 1.0) + _per_channel(bias, 0.0)
    y = _activate(y, activation)
    dt = x.dtype
    return y.astype(dt).reshape(x.shape), mean.astype(dt), var.astype(dt), invstd.astype(dt)


def batch_norm_forward_eval(x, running_mean, running_var, weight, bias, eps, activation=None):
    """Batch norm with given (running) statistics (eval mode).

    x: (N, C, *); running_mean, running_var, weight, bias: (C,) (weight, bias may be None).
    y = (x - running_mean) / sqrt(running_var + eps) * weight + bias, like x, then
    ``activation`` as in :func:`batch_norm_forward_train`.
    """
    x3 = _ncs(x).astype(np.float64)
    invstd = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
    y = ((x3 - _per_channel(running_mean, 0.0)) * invstd[:, None] * _per_channel(weight, 1.0)
         + _per_channel(bias, 0.0))
    return _activate(y, activation).astype(x.dtype).reshape(x.shape)


def batch_norm_backward(grad_output, x, mean, invstd, weight, train, output_mask,
                        activation=None, output=None):
    """Gradients of batch norm (Ioffe & Szegedy 2015, section 3).

    grad_output, x: (N, C, *); mean, invstd: (C,), as returned by the forward (train=True), or
    the running mean and 1 / sqrt(running_var + eps) (train=False); weight: (C,) or None.
    With xhat = (x - mean) * invstd, M = N * S and sums over (n, s) of each channel:

    * train: grad_input = (weight * invstd / M) * (M * g - sum(g) - xhat * sum(g * xhat)),
      the statistics being functions of x;
    * eval:  grad_input = weight * invstd * g, the statistics being constants;
    * grad_weight = sum(g * xhat), grad_bias = sum(g).

    With ``activation`` ("relu" or "relu6"), the forward applied it and ``output`` (like x) is
    its result: g is first taken back through the activation (0 where output <= 0, and >= 6
    for ReLU6).

    Returns (grad_input, grad_weight, grad_bias), each None unless ``output_mask`` asks for it.
    """
    want_x, want_w, want_b = (bool(m) for m in output_mask)
    g3 = _ncs(grad_output).astype(np.float64)
    if activation is not None:
        if activation not in ACTIVATIONS or output is None:
            raise ValueError(f"batch_norm_backward: activation {activation!r} needs the "
                             "forward's output, and must be 'relu' or 'relu6'")
        g3 = _activation_grad(g3, _ncs(output), activation)
    x3 = _ncs(x).astype(np.float64)
    N, C, S = x3.shape
    M = N * S
    dt = x.dtype
    xhat = (x3 - mean.astype(np.float64)[:, None]) * invstd.astype(np.float64)[:, None]
    sum_g = g3.sum(axis=(0, 2))
    sum_gxhat = (g3 * xhat).sum(axis=(0, 2))
    gx = gw = gb = None
    if want_x:
        k = invstd.astype(np.float64)[:, None] * _per_channel(weight, 1.0)
        if train and M > 0:
            gx = (k / M) * (M * g3 - sum_g[:, None] - xhat * sum_gxhat[:, None])
        else:
            gx = k * g3
        gx = gx.astype(dt).reshape(x.shape)
    if want_w:
        gw = sum_gxhat.astype(dt)
    if want_b:
        gb = sum_g.astype(dt)
    return gx, gw, gb


def batch_norm_update_running(running_mean, running_var, mean, var, momentum, count):
    """Fold a batch's statistics into the running ones, in place, as PyTorch's buffers:
    ``running = (1 - momentum) * running + momentum * statistic``.

    running_mean, running_var: (C,), or None to leave that one alone. mean, var: the batch's
    per-channel mean and biased variance as :func:`batch_norm_forward_train` returns them, (C,);
    or (G, C) for G groups of C channels whose statistics are averaged first (instance norm: the
    N instances). count: values per channel (and group), >= 2; the variance is made unbiased
    (times count / (count - 1)) before it is folded in. Computed in float64, stored in the
    running arrays' dtype.
    """
    if running_mean is not None:
        _fold(running_mean, mean.astype(np.float64), momentum)
    if running_var is not None:
        _fold(running_var, var.astype(np.float64) * (count / (count - 1)), momentum)


def _fold(running, value, momentum):
    if value.ndim > 1:
        value = value.mean(axis=0)
    running[...] = (1.0 - momentum) * running.astype(np.float64) + momentum * value


def batch_norm_invstd(var, eps):
    """1 / sqrt(var + eps) in var's dtype, computed in float64: the ``invstd`` that
    :func:`batch_norm_backward` takes in eval mode, from the running variance (C,)."""
    return (1.0 / np.sqrt(var.astype(np.float64) + eps)).astype(var.dtype)


# ---------------------------------------------------------------- group norm and layer norm

def _rows(x, R):
    """x as R rows of float64 (the sets normalized together)."""
    return x.reshape(R, x.size // R if R else 0).astype(np.float64)


def _row_moments(rows):
    """Mean and biased variance of each row (two-pass, float64); 0 and 0 for an empty row."""
    if rows.shape[1] == 0:
        return np.zeros(rows.shape[0]), np.zeros(rows.shape[0])
    mean = rows.mean(axis=1)
    var = ((rows - mean[:, None]) ** 2).mean(axis=1)
    return mean, var


def _row_backward(g_xhat, xhat, invstd):
    """gx = invstd * (g - mean(g) - xhat * mean(g * xhat)) along each row (float64)."""
    if g_xhat.shape[1] == 0:
        return g_xhat
    return invstd[:, None] * (g_xhat - g_xhat.mean(axis=1, keepdims=True)
                              - xhat * (g_xhat * xhat).mean(axis=1, keepdims=True))


def group_norm_forward(x, weight, bias, num_groups, eps):
    """Group norm (Wu & He 2018): statistics per sample over each group of C / G channels.

    x: (N, C, *); weight, bias: (C,) or None; num_groups G divides C.
    Returns (y, mean, invstd): y like x; mean, invstd = 1 / sqrt(var + eps) of shape (N, G).
    y = (x - mean[n, g]) * invstd[n, g] * weight[c] + bias[c], g = c // (C / G).
    """
    N = x.shape[0]
    G = num_groups
    rows = _rows(x, N * G)
    mean, var = _row_moments(rows)
    invstd = 1.0 / np.sqrt(var + eps)
    xhat = _ncs(((rows - mean[:, None]) * invstd[:, None]).reshape(x.shape))
    y = xhat * _per_channel(weight, 1.0) + _per_channel(bias, 0.0)
    dt = x.dtype
    return (y.astype(dt).reshape(x.shape), mean.reshape(N, G).astype(dt),
            invstd.reshape(N, G).astype(dt))


def group_norm_backward(grad_output, x, mean, invstd, weight, num_groups, output_mask):
    """Gradients of group norm; mean, invstd (N, G) from the forward, weight (C,) or None.

    Per group: grad_input = invstd * (h - mean(h) - xhat * mean(h * xhat)) with h = g * weight;
    grad_weight[c] = sum over n, s of g * xhat; grad_bias[c] = sum over n, s of g.
    Returns (grad_input, grad_weight, grad_bias), None where ``output_mask`` says so.
    """
    want_x, want_w, want_b = (bool(m) for m in output_mask)
    N = x.shape[0]
    R = N * num_groups
    m, s = mean.reshape(R).astype(np.float64), invstd.reshape(R).astype(np.float64)
    xhat_rows = (_rows(x, R) - m[:, None]) * s[:, None]
    g3 = _ncs(grad_output).astype(np.float64)
    xhat = _ncs(xhat_rows.reshape(x.shape))
    dt = x.dtype
    gx = gw = gb = None
    if want_x:
        h = _rows(g3 * _per_channel(weight, 1.0), R)
        gx = _row_backward(h, xhat_rows, s).astype(dt).reshape(x.shape)
    if want_w:
        gw = (g3 * xhat).sum(axis=(0, 2)).astype(dt)
    if want_b:
        gb = g3.sum(axis=(0, 2)).astype(dt)
    return gx, gw, gb


def layer_norm_forward(x, weight, bias, eps):
    """Layer norm (Ba, Kiros & Hinton 2016) of each row of x (M, D).

    weight, bias: (D,) or None (the op flattens ``normalized_shape`` into D).
    Returns (y, mean, invstd): y (M, D); mean, invstd (M,).
    y = (x - mean[m]) * invstd[m] * weight[d] + bias[d].
    """
    M = x.shape[0]
    rows = _rows(x, M)
    mean, var = _row_moments(rows)
    invstd = 1.0 / np.sqrt(var + eps)
    y = (rows - mean[:, None]) * invstd[:, None]
    if weight is not None:
        y = y * weight.astype(np.float64)
    if bias is not None:
        y = y + bias.astype(np.float64)
    dt = x.dtype
    return y.astype(dt).reshape(x.shape), mean.astype(dt), invstd.astype(dt)


def layer_norm_backward(grad_output, x, mean, invstd, weight, output_mask):
    """Gradients of layer norm on x (M, D); mean, invstd (M,); weight (D,) or None.

    grad_input = invstd * (h - mean(h) - xhat * mean(h * xhat)) along each row, h = g * weight;
    grad_weight = sum over rows of g * xhat; grad_bias = sum over rows of g.
    Returns (grad_input, grad_weight, grad_bias), None where ``output_mask`` says so.
    """
    want_x, want_w, want_b = (bool(m) for m in output_mask)
    M = x.shape[0]
    s = invstd.astype(np.float64)
    xhat = (_rows(x, M) - mean.astype(np.float64)[:, None]) * s[:, None]
    g = _rows(grad_output, M)
    dt = x.dtype
    gx = gw = gb = None
    if want_x:
        h = g * weight.astype(np.float64) if weight is not None else g
        gx = _row_backward(h, xhat, s).astype(dt).reshape(x.shape)
    if want_w:
        gw = (g * xhat).sum(axis=0).astype(dt)
    if want_b:
        gb = g.sum(axis=0).astype(dt)
    return gx, gw, gb
