"""Reference kernels, optimizer updates: one parameter's step of SGD, Adam (AdamW) and RMSprop.

Each ``*_step`` updates ``param`` and its state arrays (same shape and dtype as ``param``) in place
from ``grad``, with the formulas of the optimizer classes of :mod:`minicnn.optim` (whose
docstrings write them out) in PyTorch's order of float operations, so that results agree with
``torch.optim`` to the last bit or so. Nothing is returned. The arithmetic is in the arrays'
dtype; temporaries are allocated per call.

The helpers :func:`direction`, :func:`lerp_`, :func:`adam_direction` and :func:`adam_moments_`
are the building blocks shared with the optimizers that have no kernel of their own (Adagrad,
NAdam, RAdam, ...).
"""
import numpy as np

__all__ = ["sgd_step", "adam_step", "rmsprop_step"]


# ---------------------------------------------------------------- building blocks

def direction(x, g, weight_decay, maximize, out):
    """The gradient an update follows: -g when maximizing, plus the L2 term ``weight_decay * x``
    (PyTorch's order: negate first, then add the decay). Written into ``out`` when it differs
    from ``g``, else ``g`` itself."""
    if weight_decay != 0:
        np.multiply(x, weight_decay, out=out)
        return (np.subtract if maximize else np.add)(out, g, out=out)
    return np.negative(g, out=out) if maximize else g


def lerp_(start, end, weight, work):
    """start <- start + weight * (end - start), in place, as ``torch.lerp_`` computes it (from
    the nearer end, for accuracy when weight >= 0.5). ``work``: a scratch array like start."""
    np.subtract(end, start, out=work)
    if abs(weight) < 0.5:
        work *= weight
        start += work
    else:
        one = start.dtype.type(1)
        work *= one - start.dtype.type(weight)  # 1 - weight in the tensor's precision, as torch
        np.subtract(end, work, out=start)


def adam_direction(x, g, lr, weight_decay, decoupled, maximize, out):
    """The gradient Adam's moments follow (:func:`direction`); with ``decoupled`` weight decay
    (AdamW's) the weights ``x`` are decayed in place by ``lr * weight_decay`` instead of adding
    the L2 term."""
    if weight_decay != 0 and decoupled:
        x *= 1 - lr * weight_decay
    return direction(x, g, 0 if decoupled else weight_decay, maximize, out)


def adam_moments_(m, v, g, beta1, beta2, work):
    """Adam's moment estimates, in place and in PyTorch's order: m <- lerp(m, g, 1 - beta1),
    v <- beta2 * v + (1 - beta2) * g * g. ``work``: a scratch array like m."""
    lerp_(m, g, 1 - beta1, work)
    v *= beta2
    np.multiply(g, 1 - beta2, out=work)
    work *= g
    v += work


# ---------------------------------------------------------------- kernels

def sgd_step(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, first_step=False, maximize=False):
    """One ``torch.optim.SGD`` update of ``param`` in place, and of ``momentum_buffer`` (None
    when ``momentum`` is 0). ``first_step``: the buffer is set to the gradient instead of
    updated (its content before is ignored). ValueError for momentum != 0 without a buffer."""
    if momentum != 0 and momentum_buffer is None:
        raise ValueError("sgd_step: momentum != 0 needs a momentum_buffer")
    s, t = np.empty_like(param), np.empty_like(param)
    g = direction(param, grad, weight_decay, maximize, s)
    if momentum != 0:
        b = momentum_buffer
        if first_step:
            b[...] = g
        else:
            b *= momentum
            if dampening != 0:
                b += np.multiply(g, 1 - dampening, out=t)
            else:
                b += g
        if nesterov:
            np.multiply(b, momentum, out=t)
            g = np.add(g, t, out=s)
        else:
            g = b
    param += np.multiply(g, -lr, out=t)


def adam_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
              weight_decay=0.0, max_exp_avg_sq=None, decoupled_weight_decay=False, maximize=False):
    """One ``torch.optim.Adam`` update (AdamW's with ``decoupled_weight_decay``) of ``param``,
    ``exp_avg`` and ``exp_avg_sq`` in place; ``step`` is the 1-based count including this
    update; ``max_exp_avg_sq`` given means AMSGrad (it is updated too). ValueError for
    step < 1."""
    if step < 1:
        raise ValueError(f"adam_step: step must be >= 1, got {step}")
    beta1, beta2 = betas
    s, t = np.empty_like(param), np.empty_like(param)
    g = adam_direction(param, grad, lr, weight_decay, decoupled_weight_decay, maximize, s)
    adam_moments_(exp_avg, exp_avg_sq, g, beta1, beta2, t)
    bias_correction1 = 1 - beta1 ** step
    bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    v = exp_avg_sq
    if max_exp_avg_sq is not None:
        v = np.maximum(max_exp_avg_sq, v, out=max_exp_avg_sq)
    denom = np.sqrt(v, out=s)
    denom /= bias_correction2_sqrt
    denom += eps
    np.multiply(exp_avg, -(lr / bias_correction1), out=t)
    t /= denom
    param += t


def rmsprop_step(param, grad, square_avg, momentum_buffer, grad_avg, lr, alpha=0.99, eps=1e-8,
                 weight_decay=0.0, momentum=0.0, maximize=False):
    """One ``torch.optim.RMSprop`` update of ``param`` and ``square_avg`` in place; also of
    ``momentum_buffer`` (None unless momentum > 0) and ``grad_avg`` (the centered variant when
    given, else None). ValueError for momentum > 0 without a buffer."""
    if momentum > 0 and momentum_buffer is None:
        raise ValueError("rmsprop_step: momentum > 0 needs a momentum_buffer")
    s, t = np.empty_like(param), np.empty_like(param)
    g = direction(param, grad, weight_decay, maximize, s)
    v = square_avg
    v *= alpha
    np.multiply(g, 1 - alpha, out=t)
    t *= g
    v += t
    if grad_avg is not None:
        a = grad_avg
        lerp_(a, g, 1 - alpha, t)
        avg = np.negative(a, out=t)
        avg *= a
        avg += v
        np.sqrt(avg, out=avg)
    else:
        avg = np.sqrt(v, out=t)
    avg += eps
    if momentum > 0:
        b = momentum_buffer
        b *= momentum
        b += np.divide(g, avg, out=avg)
        param += np.multiply(b, -lr, out=t)
    else:
        update = np.multiply(g, -lr, out=s)
        update /= avg
        param += update
