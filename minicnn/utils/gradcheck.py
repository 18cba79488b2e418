"""Numerical gradient checking by central differences (as ``torch.autograd.gradcheck``)."""
import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor


class GradcheckError(RuntimeError):
    """The analytical gradient of a function disagrees with its numerical gradient."""


def _outputs(fn, inputs):
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check the gradients of ``fn`` at ``inputs`` against central differences; return True.

    ``fn(*inputs)`` returns a tensor (or a tuple of tensors). A random upstream gradient ``v``
    (seeded by ``seed``) turns the outputs into the scalar L = sum(v * out); backward gives the
    analytical dL/dx of every input with requires_grad, and (L(x + eps e_i) - L(x - eps e_i)) /
    (2 eps) the numerical one, element by element. An element passes when
    |analytical - numerical| <= atol + rtol * |numerical|.

    The inputs must be float64 tensors (float32 has too few digits for central differences);
    they are copied, so their ``.grad`` is left alone. Keep them away from kinks (relu at 0,
    tied maxima), where the numerical derivative is meaningless.

    Inputs that are not tensors, or do not require grad, are passed to ``fn`` unchanged.
    Raises TypeError when an input that requires grad is not float64, ValueError when none
    requires grad, and :class:`GradcheckError` naming the input, the worst element's index,
    both values and the tolerance when a check fails.
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {x.dtype}; use float64 tensors "
                            "(central differences need double precision)")
    copies = tuple(Tensor(x._data.copy(), requires_grad=x.requires_grad, device=x.device)
                   if isinstance(x, Tensor) else x for x in inputs)
    checked = [i for i, x in enumerate(copies) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")

    rng = np.random.default_rng(seed)
    outs = _outputs(fn, copies)
    if not outs:
        raise ValueError("gradcheck: fn returned no floating-point tensor")
    vs = [rng.standard_normal(o.shape) for o in outs]
    loss = None
    for o, v in zip(outs, vs):
        if o.requires_grad:
            term = (o * Tensor(v, device=o.device)).sum()
            loss = term if loss is None else loss + term
    if loss is None:
        raise GradcheckError("gradcheck: no output depends on an input that requires grad")
    loss.backward()

    def objective():
        with no_grad():
            return sum(float((o._data * v).sum()) for o, v in zip(_outputs(fn, copies), vs))

    for i in checked:
        x = copies[i]
        analytical = np.zeros(x.shape) if x.grad is None else x.grad._data
        numerical = np.zeros(x.shape)
        flat = x._data.reshape(-1)  # a view: perturbs x in place
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            plus = objective()
            flat[j] = orig - eps
            minus = objective()
            flat[j] = orig
            numerical.reshape(-1)[j] = (plus - minus) / (2 * eps)
        excess = np.abs(analytical - numerical) - (atol + rtol * np.abs(numerical))
        if excess.size and (excess.max() > 0 or np.isnan(excess).any()):
            k = np.unravel_index(np.nanargmax(np.where(np.isnan(excess), np.inf, excess)), x.shape)
            raise GradcheckError(
                f"gradcheck failed for input {i} (shape {tuple(x.shape)}) at index "
                f"{tuple(map(int, k))}: "
                f"analytical {analytical[k]:.8g}, numerical {numerical[k]:.8g} "
                f"(|difference| {abs(analytical[k] - numerical[k]):.3g} > tolerance "
                f"{atol + rtol * abs(numerical[k]):.3g})")
    return True
