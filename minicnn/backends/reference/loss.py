"""Reference kernels of the loss family, in plain NumPy: cross entropy (the fused log-softmax +
negative log-likelihood that csrc/cpu/loss.c implements in C) and the negative log-likelihood.

Shapes follow PyTorch: ``input`` (N, C) or (N, C, d1, d2, ...) with the classes on axis 1,
``target`` (N,) or (N, d1, d2, ...) int64 class indices, each in [0, C) or equal to
``ignore_index``; ``weight`` None or (C,) class weights. Every kernel returns unreduced,
per-element losses plus the two sums the reductions need, so that the op picks
``reduction="none" | "sum" | "mean"`` without another pass: mean = loss_sum / weight_sum, where
weight_sum adds the weight of each non-ignored target (their count without weights), as
``torch.nn.functional.nll_loss`` divides.
"""
import numpy as np

__all__ = ["cross_entropy", "cross_entropy_backward", "nll_loss", "nll_loss_backward"]


def _check(fn, input, target, weight, ignore_index, label_smoothing=0.0):
    """Validate like the C wrappers do; return (N, C, class-axis weight view)."""
    for name, a in (("input", input), ("target", target)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    if input.dtype not in (np.float32, np.float64):
        raise TypeError(f"{fn}: input must have dtype float32 or float64, got {input.dtype}")
    if input.ndim < 2:
        raise ValueError(f"{fn}: input must have shape (N, C) or (N, C, d1, ...), got "
                         f"{input.shape}")
    if target.dtype != np.int64:
        raise TypeError(f"{fn}: target must have dtype int64 (class indices), got {target.dtype}")
    expected = (input.shape[0],) + input.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{fn}: target must have shape {expected} for input of shape "
                         f"{input.shape}, got {target.shape}")
    C = input.shape[1]
    if C < 1:
        raise ValueError(f"{fn}: input must have at least one class (C >= 1), got shape "
                         f"{input.shape}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if weight is not None:
        if not isinstance(weight, np.ndarray) or weight.dtype != input.dtype:
            raise TypeError(f"{fn}: weight must be a {input.dtype} numpy.ndarray, got "
                            f"{getattr(weight, 'dtype', type(weight).__name__)}")
        if weight.shape != (C,):
            raise ValueError(f"{fn}: weight must have shape ({C},) for {C} classes, got "
                             f"{weight.shape}")
    bad = ((target < 0) | (target >= C)) & (target != ignore_index)
    if bad.any():
        raise ValueError(f"{fn}: target {target[bad].flat[0]} is out of bounds for {C} classes "
                         f"(expected 0 <= target < {C}, or ignore_index = {ignore_index})")
    return input.shape[0], C


def _picked(target, ignore_index, weight, dtype):
    """(valid mask, safe class index, w_t): the weight of each target, 0 where it is ignored."""
    valid = target != ignore_index
    t = np.where(valid, target, 0)
    w_t = (np.ones(t.shape, dtype) if weight is None else weight[t]) * valid
    return valid, t, w_t.astype(dtype, copy=False)


def _upstream(fn, grad_output, target, dtype):
    """The upstream gradient per element: grad_output shaped like target, or 0-d broadcast."""
    if not isinstance(grad_output, np.ndarray) or grad_output.dtype != dtype:
        raise TypeError(f"{fn}: grad_output must be a {dtype} numpy.ndarray, got "
                        f"{getattr(grad_output, 'dtype', type(grad_output).__name__)}")
    if grad_output.shape != target.shape and grad_output.ndim != 0:
        raise ValueError(f"{fn}: grad_output must have shape {target.shape} "
                         f"(reduction='none') or () (mean, sum), got {grad_output.shape}")
    return np.broadcast_to(grad_output, target.shape)


def _class_view(weight, ndim):
    """weight (C,) shaped to broadcast along axis 1 of an ndim-dimensional input."""
    return weight.reshape((1, -1) + (1,) * (ndim - 2))


def cross_entropy(input, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    """Cross entropy of logits ``input`` against class indices ``target``, unreduced.

    With m = max_c x_c, L = log sum_c exp(x_c - m) (so log softmax(x)_c = x_c - m - L, stable for
    any logits), eps = label_smoothing and w the class weights (all 1 when None), per element

        loss = (1 - eps) * w_t * (-log softmax(x)_t) + eps / C * sum_c w_c * (-log softmax(x)_c)

    and 0 where target == ignore_index: PyTorch's formula (torch.nn.functional.cross_entropy;
    aten/src/ATen/native/LossNLL.cpp, cross_entropy_loss_label_smoothing; label smoothing from
    Szegedy et al. 2016, "Rethinking the Inception Architecture").

    Returns (loss shaped like target, stats = stack(m, L) of shape (2, *target.shape) for the
    backward, loss_sum, weight_sum) with the sums as Python floats (mean = loss_sum / weight_sum).
    Raises TypeError/ValueError for bad arrays, and ValueError naming a target outside [0, C)
    that is not ignore_index.
    """
    _check("cross_entropy", input, target, weight, ignore_index, label_smoothing)
    C = input.shape[1]
    dtype = input.dtype
    valid, t, w_t = _picked(target, ignore_index, weight, dtype)
    m = input.max(axis=1, keepdims=True)
    shifted = input - m
    L = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    nlogp = L - shifted  # -log softmax, shape of input
    loss = w_t * np.take_along_axis(nlogp, np.expand_dims(t, 1), axis=1)[:, 0]
    if label_smoothing:
        w = np.ones(C, dtype) if weight is None else weight
        smooth = (nlogp * _class_view(w, input.ndim)).sum(axis=1)
        loss = (1 - label_smoothing) * loss + label_smoothing / C * smooth
    loss = np.where(valid, loss, 0).astype(dtype, copy=False)
    stats = np.stack([np.where(valid, m[:, 0], 0), np.where(valid, L[:, 0], 0)]).astype(dtype)
    return loss, stats, float(loss.sum(dtype=np.float64)), float(w_t.sum(dtype=np.float64))


def cross_entropy_backward(grad_output, input, target, weight, stats, ignore_index=-100,
                           label_smoothing=0.0, scale=1.0):
    """Gradient of :func:`cross_entropy` with respect to ``input``.

    ``grad_output``: the upstream gradient per element (shaped like target), or 0-d, one value
    for every element (reductions "sum" and "mean"); it is multiplied by ``scale`` (1 / weight_sum
    for "mean"). With p = softmax(x) rebuilt from stats as exp(x - m - L), g the scaled upstream
    gradient and W = sum_c w_c:

        d loss / d x_c = g * ((1 - eps) w_t + eps / C * W) * p_c - g * eps / C * w_c
                         - [c == t] * g * (1 - eps) * w_t

    (softmax minus the smoothed, weighted one-hot), and 0 for ignored elements.
    """
    _check("cross_entropy_backward", input, target, weight, ignore_index, label_smoothing)
    C = input.shape[1]
    dtype = input.dtype
    valid, t, w_t = _picked(target, ignore_index, weight, dtype)
    w = np.ones(C, dtype) if weight is None else weight
    g = _upstream("cross_entropy_backward", grad_output, target, dtype) * dtype.type(scale)
    g = np.where(valid, g, 0)
    z = (input - np.expand_dims(stats[0], 1)) - np.expand_dims(stats[1], 1)
    p = np.exp(np.where(np.expand_dims(valid, 1), z, -np.inf))  # 0 in ignored rows
    eps = label_smoothing
    a = np.expand_dims(g * ((1 - eps) * w_t + eps / C * w.sum()), 1)
    b = np.expand_dims(g * (eps / C), 1)
    gx = a * p - b * _class_view(w, input.ndim)
    onehot = np.zeros(input.shape, dtype)
    np.put_along_axis(onehot, np.expand_dims(t, 1), np.expand_dims((1 - eps) * g * w_t, 1), axis=1)
    return (gx - onehot).astype(dtype, copy=False)


def nll_loss(input, target, weight=None, ignore_index=-100):
    """Negative log-likelihood of log-probabilities ``input`` (N, C, *) at class indices ``target``
    (N, *), unreduced: loss = -w_t * input[n, t, ...], 0 where target == ignore_index
    (torch.nn.functional.nll_loss). Returns (loss shaped like target, loss_sum, weight_sum)."""
    _check("nll_loss", input, target, weight, ignore_index)
    valid, t, w_t = _picked(target, ignore_index, weight, input.dtype)
    loss = -w_t * np.take_along_axis(input, np.expand_dims(t, 1), axis=1)[:, 0]
    loss = np.where(valid, loss, 0).astype(input.dtype, copy=False)
    return loss, float(loss.sum(dtype=np.float64)), float(w_t.sum(dtype=np.float64))


def nll_loss_backward(grad_output, input, target, weight=None, ignore_index=-100, scale=1.0):
    """Gradient of :func:`nll_loss` with respect to ``input``: -g * w_t at each target class, 0
    elsewhere; ``grad_output`` per element or 0-d (times ``scale``), as in
    cross_entropy_backward."""
    _check("nll_loss_backward", input, target, weight, ignore_index)
    valid, t, w_t = _picked(target, ignore_index, weight, input.dtype)
    g = _upstream("nll_loss_backward", grad_output, target, input.dtype)
    gx = np.zeros(input.shape, input.dtype)
    vals = np.where(valid, -(g * input.dtype.type(scale)) * w_t, 0).astype(input.dtype, copy=False)
    np.put_along_axis(gx, np.expand_dims(t, 1), np.expand_dims(vals, 1), axis=1)
    return gx
