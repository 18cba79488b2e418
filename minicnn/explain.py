"""Step-by-step printouts of what conv2d, max pooling and batch norm compute, on inputs small
enough to follow by hand (``minicnn explain conv2d|maxpool|batchnorm``).

Each function recomputes its op with plain loops and NumPy, printing every intermediate array
(for conv2d: the output-size formula, one output worked out term by term, im2col's column
matrix, the weight matrix and the GEMM), then runs minicnn's own op on the "cpu" device (the C
kernels) and prints the largest difference, which is 0 for the default integer-valued inputs.
The formulas are those of docs/02-convolution.md and docs/03-pooling-batchnorm-dropout.md.
Each returns a dict of the arrays it printed, so a notebook can look further.
"""
import sys

import numpy as np

from .geometry import integer, output_size, pool_window

__all__ = ["conv2d", "max_pool2d", "batch_norm"]


def conv2d(x=None, weight=None, bias=None, stride=1, padding=0, dilation=1, file=None):
    """Explain ``y = conv2d(x, weight, bias, stride, padding, dilation)`` (groups 1) for one
    image.

    ``x``: (C, H, W) or (1, C, H, W); ``weight``: (K, C, kh, kw); ``bias``: (K,) or None;
    float arrays (integers become float64). Defaults: a 2-channel 4x4 image of small integers,
    two 2x2 filters and bias (0.5, -1). ``stride``, ``padding``, ``dilation``: ints (the same
    for both axes). Prints to ``file`` (default stdout). Returns a dict with ``x`` (C, H, W),
    ``weight``, ``bias``, ``cols`` (C*kh*kw, Ho*Wo), ``weight_matrix`` (K, C*kh*kw), ``output``
    (K, Ho, Wo) and ``minicnn_output`` (the same from :func:`minicnn.nn.functional.conv2d`).

    Raises ValueError for shapes that do not fit together, naming the argument; the errors of
    :mod:`minicnn.geometry` for a bad stride, padding or dilation.
    """
    out = _printer(file)
    if x is None:
        x = (np.arange(32) * 7 % 5).reshape(2, 4, 4)
    if weight is None:
        weight = np.array([[[[1, 0], [0, -1]], [[0, 1], [1, 0]]],
                           [[[1, 1], [1, 1]], [[-1, 0], [0, 2]]]])
        bias = np.array([0.5, -1]) if bias is None else bias
    x = _image(x, "x")
    weight = np.asarray(weight, dtype=x.dtype)
    if weight.ndim != 4 or weight.shape[1] != x.shape[0]:
        raise ValueError(f"weight must be (K, C={x.shape[0]}, kh, kw), got shape "
                         f"{tuple(weight.shape)}")
    K, C, kh, kw = weight.shape
    bias = np.zeros(K, x.dtype) if bias is None else np.asarray(bias, dtype=x.dtype)
    if bias.shape != (K,):
        raise ValueError(f"bias must be ({K},), got shape {tuple(bias.shape)}")
    s, p, d = (integer(v, name, "conv2d", low) for v, name, low in
               ((stride, "stride", 1), (padding, "padding", 0), (dilation, "dilation", 1)))
    _, H, W = x.shape
    Ho, Wo = output_size("conv2d", (H, W), (kh, kw), (s, s), (p, p), (d, d))

    out(f"conv2d: x {tuple(x.shape)} (C, H, W), weight {tuple(weight.shape)} (K, C, kh, kw), "
        f"bias {tuple(bias.shape)}"
        f", stride {s}, padding {p}, dilation {d}")
    out("\nOutput size: Ho = floor((H + 2p - d(kh - 1) - 1) / s) + 1 = "
        f"floor(({H} + {2 * p} - {d * (kh - 1)} - 1) / {s}) + 1 = {Ho}; Wo = {Wo}"
        f"\nParameters: K*C*kh*kw + K = {K}*{C}*{kh}*{kw} + {K} = {weight.size + K}")
    for c in range(C):
        out(_matrix(f"x[{c}]", x[c]))
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    if p:
        for c in range(C):
            out(_matrix(f"x[{c}] padded with {p} zeros", xp[c]))
    for k in range(K):
        for c in range(C):
            out(_matrix(f"weight[{k}, {c}]", weight[k, c]))

    # the direct formula, for output (k, oh, ow) = (0, 0, 0)
    terms = [(weight[0, c, i, j], xp[c, i * d, j * d])
             for c in range(C) for i in range(kh) for j in range(kw)]
    total = bias[0] + sum(w * v for w, v in terms)
    out("\nDirect formula: y[k, oh, ow] = bias[k] + sum over c, i, j of "
        "weight[k, c, i, j] * xpad[c, oh*s + i*d, ow*s + j*d]")
    products = " + ".join(f"{_factor(w)}*{_factor(v)}" for w, v in terms)
    out(f"y[0, 0, 0] = {_num(bias[0])} + {products} = {_num(total)}")

    # im2col: one row per (c, i, j), one column per output position (oh, ow)
    cols = np.empty((C * kh * kw, Ho * Wo), dtype=x.dtype)
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                for oh in range(Ho):
                    for ow in range(Wo):
                        cols[(c * kh + i) * kw + j, oh * Wo + ow] = xp[c, oh * s + i * d,
                                                                       ow * s + j * d]
    out(_matrix(f"\nim2col: the column matrix ({C * kh * kw}, {Ho * Wo}), row (c, i, j), column "
                "(oh, ow): each column is the receptive field of one output", cols,
                rows=[f"({c},{i},{j})" for c in range(C) for i in range(kh) for j in range(kw)],
                cols=[f"({oh},{ow})" for oh in range(Ho) for ow in range(Wo)]))
    wm = weight.reshape(K, C * kh * kw)
    out(_matrix(f"\nThe weight matrix ({K}, {C * kh * kw}): filter k is row k",
                wm, rows=[f"k={k}" for k in range(K)]))
    gemm = wm @ cols
    out(_matrix(f"\nGEMM: weight matrix @ columns = ({K}, {Ho * Wo})", gemm,
                rows=[f"k={k}" for k in range(K)]))
    y = (gemm + bias[:, None]).reshape(K, Ho, Wo)
    out("\nAdd bias[k] to row k and fold each row back to (Ho, Wo): the output")
    for k in range(K):
        out(_matrix(f"y[{k}]", y[k]))

    mine = _minicnn_conv2d(x, weight, bias, s, p, d)
    _check(out, "minicnn.nn.functional.conv2d", y, mine)
    return dict(x=x, weight=weight, bias=bias, cols=cols, weight_matrix=wm, output=y,
                minicnn_output=mine)


def max_pool2d(x=None, kernel_size=2, stride=None, padding=0, grad_output=None, file=None):
    """Explain max pooling of one image and its gradient.

    ``x``: (C, H, W) or (1, C, H, W), default one 4x4 channel of small integers;
    ``kernel_size``, ``stride`` (default ``kernel_size``), ``padding`` (the padding counts as
    -inf): ints. ``grad_output`` (C, Ho, Wo), default all ones, is routed to the position of each
    window's maximum (the first one on a tie), as in the backward. Prints to ``file``. Returns a
    dict with ``x`` (C, H, W), ``output`` (C, Ho, Wo), ``indices`` (flat positions h*W + w, as
    PyTorch's), ``grad_input`` (C, H, W), and ``minicnn_output`` / ``minicnn_indices`` /
    ``minicnn_grad_input`` from :func:`minicnn.nn.functional.max_pool2d` and autograd.

    Raises TypeError for a non-int argument, GeometryError (a ValueError) for one out of range
    (padding above kernel_size // 2 included: every window must hold an input) or a kernel
    larger than the padded image, ValueError for a grad_output of the wrong shape.
    """
    out = _printer(file)
    x = _image((np.arange(16) * 7 % 11).reshape(1, 4, 4) if x is None else x, "x")
    k = integer(kernel_size, "kernel_size", "max_pool2d")
    s = k if stride is None else integer(stride, "stride", "max_pool2d")
    p = integer(padding, "padding", "max_pool2d")
    window = pool_window(k, s, p, 1, "max_pool2d")
    C, H, W = x.shape
    Ho, Wo = output_size("max_pool2d", (H, W), *window)
    g = np.ones((C, Ho, Wo), x.dtype) if grad_output is None else np.asarray(grad_output, x.dtype)
    if g.shape != (C, Ho, Wo):
        raise ValueError(f"grad_output must be ({C}, {Ho}, {Wo}), got shape {tuple(g.shape)}")

    out(f"max_pool2d: x {tuple(x.shape)} (C, H, W), kernel_size {k}, stride {s}, padding {p}: "
        f"output ({C}, {Ho}, {Wo}), Ho = floor((H + 2p - k) / s) + 1 = {Ho}")
    y = np.empty((C, Ho, Wo), x.dtype)
    idx = np.empty((C, Ho, Wo), np.int64)
    gx = np.zeros_like(x)
    for c in range(C):
        out(_matrix(f"x[{c}]", x[c]))
        for oh in range(Ho):
            for ow in range(Wo):
                best = None
                for i in range(k):
                    for j in range(k):
                        h, w = oh * s - p + i, ow * s - p + j
                        if 0 <= h < H and 0 <= w < W and (best is None or x[c, h, w] > best[0]):
                            best = (x[c, h, w], h, w)
                y[c, oh, ow], h, w = best
                idx[c, oh, ow] = h * W + w
                gx[c, h, w] += g[c, oh, ow]  # overlapping windows add up
                rows = slice(max(oh * s - p, 0), oh * s - p + k)
                columns = slice(max(ow * s - p, 0), ow * s - p + k)
                out(f"window ({oh}, {ow}): rows {rows.start}..{rows.stop - 1}, columns "
                    f"{columns.start}..{columns.stop - 1}: "
                    f"{_flat(x[c, rows, columns])} -> max {_num(best[0])} at ({h}, {w}), "
                    f"index {h}*{W} + {w} = {h * W + w}")
        out(_matrix(f"y[{c}]", y[c]))
        out(_matrix(f"indices[{c}]", idx[c]))
    out("\nBackward: each grad_output[c, oh, ow] goes to the maximum of its window; every other "
        "input gets 0")
    for c in range(C):
        out(_matrix(f"grad_output[{c}]", g[c]))
        out(_matrix(f"grad_input[{c}]", gx[c]))

    import minicnn

    from .nn import functional as F

    t = minicnn.tensor(x[None], requires_grad=True)
    my, mi = F.max_pool2d(t, k, s, p, return_indices=True)
    my.backward(g[None])
    result = dict(x=x, output=y, indices=idx, grad_input=gx, minicnn_output=my.detach().numpy()[0],
                  minicnn_indices=mi.numpy()[0], minicnn_grad_input=t.grad.numpy()[0])
    _check(out, "minicnn.nn.functional.max_pool2d", y, result["minicnn_output"])
    _check(out, "its indices", idx, result["minicnn_indices"])
    _check(out, "its backward", gx, result["minicnn_grad_input"])
    return result


def batch_norm(x=None, weight=None, bias=None, grad_output=None, eps=1e-5, momentum=0.1,
               file=None):
    """Explain batch normalization in training mode, forward and backward (Ioffe & Szegedy
    2015, alg. 1; the backward in the compact form derived in docs/03-pooling-batchnorm-dropout.md).

    ``x``: (N, C, H, W) or (N, C), default (2, 2, 2, 2) small integers; ``weight`` (gamma) and
    ``bias`` (beta): (C,), default ones and zeros ((1, 2) and (0, 1) with the default ``x``);
    ``grad_output``: shaped like ``x``,
    default a fixed small-integer pattern; ``eps``, ``momentum`` as
    :func:`minicnn.nn.functional.batch_norm`. Running statistics start at mean 0, variance 1.
    Prints to ``file``. Returns a dict with ``mean``, ``var`` (biased), ``xhat``, ``output``,
    ``running_mean``, ``running_var``, ``grad_input``, ``grad_weight``, ``grad_bias`` and the
    ``minicnn_*`` counterparts from :func:`minicnn.nn.functional.batch_norm` and autograd.
    """
    out = _printer(file)
    if x is None:
        x = (np.arange(16) * 5 % 7).reshape(2, 2, 2, 2)
        weight = (1, 2) if weight is None else weight
        bias = (0, 1) if bias is None else bias
    x = np.asarray(x)
    x = x.astype(x.dtype if x.dtype.kind == "f" else np.float64)
    if x.ndim < 2:
        raise ValueError(f"x must be (N, C) or (N, C, H, W), got shape {tuple(x.shape)}")
    C = x.shape[1]
    gamma = np.asarray(np.ones(C) if weight is None else weight, x.dtype)
    beta = np.asarray(np.zeros(C) if bias is None else bias, x.dtype)
    for name, v in (("weight", gamma), ("bias", beta)):
        if v.shape != (C,):
            raise ValueError(f"{name} must be ({C},), got shape {tuple(v.shape)}")
    g = (np.arange(x.size) % 3 - 1).reshape(x.shape) if grad_output is None else grad_output
    g = np.asarray(g, x.dtype)
    if g.shape != x.shape:
        raise ValueError(f"grad_output must have x's shape {tuple(x.shape)}, got {tuple(g.shape)}")
    axes = (0, *range(2, x.ndim))
    M = x.size // C
    shape = (1, C) + (1,) * (x.ndim - 2)

    out(f"batch_norm (training): x {tuple(x.shape)}; statistics per channel over the batch and the "
        f"positions: M = {M} values per channel; eps {eps:g}, momentum {momentum:g}")
    for c in range(C):
        out(_matrix(f"x[:, {c}] flattened", x[:, c].reshape(1, -1)))
    mean = x.mean(axis=axes)
    var = ((x - mean.reshape(shape)) ** 2).mean(axis=axes)
    invstd = 1 / np.sqrt(var + eps)
    xhat = (x - mean.reshape(shape)) * invstd.reshape(shape)
    y = gamma.reshape(shape) * xhat + beta.reshape(shape)
    for c in range(C):
        out(f"\nchannel {c}: mean = sum / M = {_num(x[:, c].sum())} / {M} = {_num(mean[c])}; "
            f"var = mean of (x - mean)^2 = {_num(var[c])} (biased, divide by M); "
            f"1/sqrt(var + eps) = {_num(invstd[c])}")
        out(_matrix(f"xhat[:, {c}] = (x - mean) / sqrt(var + eps)", xhat[:, c].reshape(1, -1)))
        out(_matrix(f"y[:, {c}] = gamma * xhat + beta = {_num(gamma[c])} * xhat + "
                    f"{_num(beta[c])}", y[:, c].reshape(1, -1)))
    running_mean = momentum * mean
    running_var = (1 - momentum) * 1 + momentum * var * M / (M - 1)
    out(f"\nRunning statistics (from 0 and 1): running = (1 - momentum) running + momentum stat, "
        f"with the unbiased variance var * M / (M - 1):\n  running_mean {_flat(running_mean)}, "
        f"running_var {_flat(running_var)}")

    grad_bias = g.sum(axis=axes)
    grad_weight = (g * xhat).sum(axis=axes)
    gx = (gamma * invstd / M).reshape(shape) * (
        M * g - grad_bias.reshape(shape) - xhat * grad_weight.reshape(shape))
    out("\nBackward: dbeta = sum g; dgamma = sum g * xhat; "
        "dx = gamma / (M sqrt(var + eps)) * (M g - sum g - xhat * sum g * xhat)")
    for c in range(C):
        out(_matrix(f"grad_output[:, {c}]", g[:, c].reshape(1, -1)))
        out(f"channel {c}: dbeta = {_num(grad_bias[c])}, dgamma = {_num(grad_weight[c])}")
        out(_matrix(f"grad_input[:, {c}]", gx[:, c].reshape(1, -1)))

    import minicnn

    from .nn import functional as F

    t = minicnn.tensor(x, requires_grad=True)
    w = minicnn.tensor(gamma, requires_grad=True)
    b = minicnn.tensor(beta, requires_grad=True)
    rm, rv = minicnn.zeros(C, dtype=x.dtype), minicnn.ones(C, dtype=x.dtype)
    my = F.batch_norm(t, rm, rv, w, b, training=True, momentum=momentum, eps=eps)
    my.backward(g)
    result = dict(mean=mean, var=var, xhat=xhat, output=y, running_mean=running_mean,
                  running_var=running_var, grad_input=gx, grad_weight=grad_weight,
                  grad_bias=grad_bias, minicnn_output=my.detach().numpy(),
                  minicnn_running_mean=rm.numpy(), minicnn_running_var=rv.numpy(),
                  minicnn_grad_input=t.grad.numpy(), minicnn_grad_weight=w.grad.numpy(),
                  minicnn_grad_bias=b.grad.numpy())
    for what in ("output", "running_mean", "running_var", "grad_input", "grad_weight",
                 "grad_bias"):
        _check(out, f"minicnn's {what}", result[what], result["minicnn_" + what])
    return result


# ------------------------------------------------------------------ helpers


def _printer(file):
    def out(text=""):
        print(text, file=sys.stdout if file is None else file)
    return out


def _image(x, name):
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3:
        raise ValueError(f"{name} must be one image (C, H, W) or (1, C, H, W), got shape "
                         f"{tuple(x.shape)}")
    return x.astype(x.dtype if x.dtype.kind == "f" else np.float64)


def _num(v):
    """4 significant digits; integers without a decimal point."""
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.4g}"


def _factor(v):
    """A number in a product, negative ones in parentheses: (-1)*3."""
    return f"({_num(v)})" if v < 0 else _num(v)


def _flat(a):
    return "[" + " ".join(_num(v) for v in np.ravel(a)) + "]"


def _matrix(title, a, rows=None, cols=None):
    """``title:`` then the 2-D array ``a`` right-aligned, with optional row/column labels."""
    cells = [[_num(v) for v in row] for row in np.atleast_2d(a)]
    labels = rows or [""] * len(cells)
    header = [cols] if cols else []
    width = max(len(c) for r in cells + header for c in r)
    lead = max(len(label) for label in labels)
    margin = "  " + " " * (lead + 1 if lead else 0)
    lines = [f"{title}:"]
    if cols:
        lines.append(margin + " ".join(c.rjust(width) for c in cols))
    for label, r in zip(labels, cells):
        lines.append(f"  {label.ljust(lead)} "[:len(margin)] + " ".join(c.rjust(width) for c in r))
    return "\n".join(lines)


def _minicnn_conv2d(x, weight, bias, s, p, d):
    import minicnn

    from .nn import functional as F

    y = F.conv2d(minicnn.tensor(x[None]), minicnn.tensor(weight), minicnn.tensor(bias),
                 stride=s, padding=p, dilation=d)
    return y.numpy()[0]


def _check(out, what, mine, theirs):
    diff = float(np.max(np.abs(np.asarray(mine, np.float64) - theirs))) if np.size(mine) else 0.0
    out(f"check: {what} on the 'cpu' device (C kernels) gives the same, max difference "
        f"{_num(diff)}")
