"""Step-by-step printouts of what conv2d (grouped and depthwise too, forward and backward),
max and average pooling, batch norm and softmax + cross entropy compute, on inputs small
enough to follow by hand (``minicnn explain conv2d|maxpool|avgpool|batchnorm|softmax``), and
hand-made Sobel edge filters on a real Fashion-MNIST image (``minicnn explain edges``).

Each function recomputes its op with plain loops and NumPy, printing every intermediate array
(for conv2d: the output-size formula, one output worked out term by term, im2col's column
matrix, the weight matrix and the GEMM, per group; with the backward dW = grad @ cols^T and
dX = col2im(W^T @ grad)), then runs minicnn's own op and autograd on the "cpu" device (the C
kernels) and prints the largest difference, which is 0 for the default integer-valued inputs.
The formulas are those of docs/02-convolution.md and docs/03-pooling-batchnorm-dropout.md.
Each returns a dict of the arrays it printed, so a notebook can look further.
"""
import sys

import numpy as np

from .geometry import integer, output_size, pool_window

__all__ = ["avg_pool2d", "batch_norm", "conv2d", "edge_filters", "max_pool2d",
           "softmax_cross_entropy"]


def conv2d(x=None, weight=None, bias=None, stride=1, padding=0, dilation=1, groups=1,
           backward=False, grad_output=None, in_channels=None, file=None):
    """Explain ``y = conv2d(x, weight, bias, stride, padding, dilation, groups)`` for one image,
    and with ``backward`` its gradients: dW = grad @ cols^T and dX = col2im(W^T @ grad).

    ``x``: (C, H, W) or (1, C, H, W); ``weight``: (K, C / groups, kh, kw); ``bias``: (K,) or
    None; float arrays (integers become float64). Defaults: a 4x4 image of small integers with
    ``in_channels`` channels (default 2, or ``groups`` when 2 is not a multiple of it), as many
    2x2 filters of small integers (for 2 channels and groups 1: fixed ones, bias (0.5, -1)).
    ``stride``, ``padding``, ``dilation``: ints (the same for both axes); ``groups``: an int
    dividing C and K, each group of C / groups channels convolved with its own K / groups
    filters (depthwise when groups = C). ``grad_output`` (K, Ho, Wo), default a fixed
    small-integer pattern, is used with ``backward``. Prints to ``file`` (default stdout).

    Returns a dict with ``x`` (C, H, W), ``weight``, ``bias``, ``cols`` (C*kh*kw, Ho*Wo: group g
    owns the rows of its channels), ``weight_matrix`` (K, C/groups*kh*kw), ``gemm`` (K, Ho*Wo),
    ``output`` (K, Ho, Wo) and ``minicnn_output`` (the same from
    :func:`minicnn.nn.functional.conv2d`); with ``backward`` also ``grad_output``,
    ``grad_weight`` (shaped like weight), ``grad_bias`` (K,), ``grad_cols`` (W^T @ grad, shaped
    like cols), ``grad_input_padded``, ``grad_input`` (C, H, W), ``kernel_col2im`` (the C
    kernel's col2im of grad_cols) and ``minicnn_grad_input`` / ``minicnn_grad_weight`` /
    ``minicnn_grad_bias`` from autograd.

    Raises ValueError for shapes that do not fit together, naming the argument; the errors of
    :mod:`minicnn.geometry` for a bad stride, padding, dilation or groups.
    """
    out = _printer(file)
    G = integer(groups, "groups", "conv2d", 1)
    if x is None:
        C0 = integer(in_channels, "in_channels", "conv2d", 1) if in_channels is not None else (
            2 if 2 % G == 0 else G)
        x = (np.arange(C0 * 16) * 7 % 5).reshape(C0, 4, 4)
    if weight is None:
        C0 = np.shape(x)[-3]
        if C0 == 2 and G == 1:
            weight = np.array([[[[1, 0], [0, -1]], [[0, 1], [1, 0]]],
                               [[[1, 1], [1, 1]], [[-1, 0], [0, 2]]]])
        elif C0 % G == 0:  # C0 filters over C0 / G channels each
            weight = (np.arange(C0 * (C0 // G) * 4) * 5 % 7 - 3).reshape(C0, C0 // G, 2, 2)
        if bias is None and weight is not None:
            bias = np.arange(C0) % 2 * -1.5 + 0.5  # 0.5, -1, 0.5, ...
    x = _image(x, "x")
    C, H, W = x.shape
    if C % G:
        raise ValueError(f"groups ({G}) must divide the {C} input channels")
    Cg = C // G
    weight = np.asarray(weight, dtype=x.dtype)
    if weight.ndim != 4 or weight.shape[1] != Cg:
        what = f"C={C}" if G == 1 else f"C/groups={Cg}"
        raise ValueError(f"weight must be (K, {what}, kh, kw), got shape {tuple(weight.shape)}")
    K, _, kh, kw = weight.shape
    if K % G:
        raise ValueError(f"groups ({G}) must divide the {K} filters of weight")
    Kg = K // G
    bias = np.zeros(K, x.dtype) if bias is None else np.asarray(bias, dtype=x.dtype)
    if bias.shape != (K,):
        raise ValueError(f"bias must be ({K},), got shape {tuple(bias.shape)}")
    s, p, d = (integer(v, name, "conv2d", low) for v, name, low in
               ((stride, "stride", 1), (padding, "padding", 0), (dilation, "dilation", 1)))
    Ho, Wo = output_size("conv2d", (H, W), (kh, kw), (s, s), (p, p), (d, d))
    L, R = Ho * Wo, Cg * kh * kw  # columns (output positions), rows per group

    out(f"conv2d: x {tuple(x.shape)} (C, H, W), weight {tuple(weight.shape)} "
        f"(K, C{'/groups' if G > 1 else ''}, kh, kw), bias {tuple(bias.shape)}"
        f", stride {s}, padding {p}, dilation {d}" + (f", groups {G}" if G > 1 else ""))
    if G > 1:
        out(f"\nGroups: the {C} channels split into {G} groups of {Cg}, the {K} filters into {G} "
            f"groups of {Kg}; filter k sees only the channels of group k // {Kg}"
            + (" (depthwise: one channel per group)" if Cg == 1 else ""))
    out("\nOutput size: Ho = floor((H + 2p - d(kh - 1) - 1) / s) + 1 = "
        f"floor(({H} + {2 * p} - {d * (kh - 1)} - 1) / {s}) + 1 = {Ho}; Wo = {Wo}"
        f"\nParameters: K*{'(C/groups)' if G > 1 else 'C'}*kh*kw + K = "
        f"{K}*{Cg}*{kh}*{kw} + {K} = {weight.size + K}")
    for c in range(C):
        out(_matrix(f"x[{c}]", x[c]))
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    if p:
        for c in range(C):
            out(_matrix(f"x[{c}] padded with {p} zeros", xp[c]))
    for k in range(K):
        for c in range(Cg):
            out(_matrix(f"weight[{k}, {c}]", weight[k, c]))

    # the direct formula, for output (k, oh, ow) = (0, 0, 0): filter 0 is in group 0
    terms = [(weight[0, c, i, j], xp[c, i * d, j * d])
             for c in range(Cg) for i in range(kh) for j in range(kw)]
    total = bias[0] + sum(w * v for w, v in terms)
    out("\nDirect formula: y[k, oh, ow] = bias[k] + sum over c, i, j of weight[k, c, i, j] * "
        + (f"xpad[g*{Cg} + c, oh*s + i*d, ow*s + j*d], g = k // {Kg} the group of filter k"
           if G > 1 else "xpad[c, oh*s + i*d, ow*s + j*d]"))
    products = " + ".join(f"{_factor(w)}*{_factor(v)}" for w, v in terms)
    out(f"y[0, 0, 0] = {_num(bias[0])} + {products} = {_num(total)}")

    # im2col: one row per (c, i, j), one column per output position (oh, ow)
    cols = np.empty((C * kh * kw, L), dtype=x.dtype)
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                for oh in range(Ho):
                    for ow in range(Wo):
                        cols[(c * kh + i) * kw + j, oh * Wo + ow] = xp[c, oh * s + i * d,
                                                                       ow * s + j * d]
    wm = weight.reshape(K, R)
    gemm = np.empty((K, L), dtype=x.dtype)
    position_labels = [f"({oh},{ow})" for oh in range(Ho) for ow in range(Wo)]
    for g in range(G):
        part = _group(g, G, Cg, Kg)
        rows, filters = slice(g * R, (g + 1) * R), slice(g * Kg, (g + 1) * Kg)
        out(_matrix(f"\nim2col{part}: the column matrix ({R}, {L}), row (c, i, j), column "
                    "(oh, ow): each column is the receptive field of one output", cols[rows],
                    rows=_cij(range(g * Cg, (g + 1) * Cg), kh, kw), cols=position_labels))
        out(_matrix(f"\nThe weight matrix{part} ({Kg}, {R}): filter k is row k",
                    wm[filters], rows=[f"k={k}" for k in range(g * Kg, (g + 1) * Kg)]))
        gemm[filters] = wm[filters] @ cols[rows]
        out(_matrix(f"\nGEMM{part}: weight matrix @ columns = ({Kg}, {L})", gemm[filters],
                    rows=[f"k={k}" for k in range(g * Kg, (g + 1) * Kg)]))
    y = (gemm + bias[:, None]).reshape(K, Ho, Wo)
    out("\nAdd bias[k] to row k and fold each row back to (Ho, Wo): the output")
    for k in range(K):
        out(_matrix(f"y[{k}]", y[k]))

    geometry = (s, p, d, G)
    if not backward:
        mine = _minicnn_conv2d(x, weight, bias, geometry)
        _check(out, "minicnn.nn.functional.conv2d", y, mine)
        return dict(x=x, weight=weight, bias=bias, cols=cols, weight_matrix=wm, gemm=gemm,
                    output=y, minicnn_output=mine)
    go = (np.arange(K * L) % 3 - 1).reshape(K, Ho, Wo) if grad_output is None else grad_output
    go = np.asarray(go, x.dtype)
    if go.shape != (K, Ho, Wo):
        raise ValueError(f"grad_output must be ({K}, {Ho}, {Wo}), got shape {tuple(go.shape)}")
    result = dict(x=x, weight=weight, bias=bias, cols=cols, weight_matrix=wm, gemm=gemm,
                  output=y, grad_output=go)
    result.update(_conv2d_backward(out, result, geometry))
    mine = _minicnn_conv2d(x, weight, bias, geometry, go)
    result.update(mine)
    _check(out, "minicnn.nn.functional.conv2d", y, mine["minicnn_output"])
    for what in ("grad_input", "grad_weight", "grad_bias"):
        _check(out, f"minicnn's autograd {what}", result[what], result["minicnn_" + what])
    return result


def _conv2d_backward(out, r, geometry):
    """Print and compute conv2d's gradients from the forward's arrays in ``r``."""
    s, p, d, G = geometry
    x, weight, cols, wm, go = r["x"], r["weight"], r["cols"], r["weight_matrix"], r["grad_output"]
    C, H, W = x.shape
    K, Cg, kh, kw = weight.shape
    Kg, R, (_, Ho, Wo) = K // G, Cg * kh * kw, go.shape
    L = Ho * Wo
    gm = go.reshape(K, L)
    out("\nBackward: given grad_output = dL/dy (K, Ho, Wo), as a matrix grad (K, Ho*Wo); "
        "y = W @ cols + bias, so dW = grad @ cols^T, dbias = the row sums of grad, and "
        "dX = col2im(W^T @ grad): the gradient of each column entry added back onto its pixel")
    for k in range(K):
        out(_matrix(f"grad_output[{k}]", go[k]))
    position_labels = [f"({oh},{ow})" for oh in range(Ho) for ow in range(Wo)]
    out(_matrix(f"\ngrad: grad_output as a ({K}, {L}) matrix, row k, column (oh, ow)", gm,
                rows=[f"k={k}" for k in range(K)], cols=position_labels))
    grad_bias = gm.sum(axis=1)
    out(f"\ndbias[k] = sum of row k of grad: {_flat(grad_bias)}")
    dw = np.empty((K, R), x.dtype)
    dcols = np.empty_like(cols)
    for g in range(G):
        part = _group(g, G, Cg, Kg)
        rows, filters = slice(g * R, (g + 1) * R), slice(g * Kg, (g + 1) * Kg)
        labels = _cij(range(g * Cg, (g + 1) * Cg), kh, kw)
        dw[filters] = gm[filters] @ cols[rows].T
        out(_matrix(f"\ndW{part} = grad @ cols^T: ({Kg}, {L}) @ ({L}, {R}) = ({Kg}, {R}), row k, "
                    "column (c, i, j)", dw[filters],
                    rows=[f"k={k}" for k in range(g * Kg, (g + 1) * Kg)], cols=labels))
        dcols[rows] = wm[filters].T @ gm[filters]
        out(_matrix(f"\nW^T @ grad{part}: ({R}, {Kg}) @ ({Kg}, {L}) = ({R}, {L}), the gradient of "
                    "each entry of the column matrix", dcols[rows], rows=labels,
                    cols=position_labels))
    # col2im: the transpose of im2col, so entries copied from one pixel add up there
    dxp = np.zeros((C, H + 2 * p, W + 2 * p), x.dtype)
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                for oh in range(Ho):
                    for ow in range(Wo):
                        dxp[c, oh * s + i * d, ow * s + j * d] += dcols[(c * kh + i) * kw + j,
                                                                        oh * Wo + ow]
    out("\ncol2im: add each entry (c, i, j), (oh, ow) of W^T @ grad onto the pixel it was copied "
        "from, xpad[c, oh*s + i*d, ow*s + j*d]; a pixel in several windows sums their gradients")
    if p:
        for c in range(C):
            out(_matrix(f"dX[{c}] on the image padded with {p}", dxp[c]))
        out("The padding is not an input: its border is dropped")
    dx = dxp[:, p:p + H, p:p + W]
    for c in range(C):
        out(_matrix(f"dX[{c}]", dx[c]))
    grad_weight = dw.reshape(weight.shape)
    for k in range(K):
        for c in range(Cg):
            out(_matrix(f"dW[{k}, {c}]", grad_weight[k, c]))
    out(f"dbias {_flat(grad_bias)}")

    from .backends import BACKENDS

    kernel = BACKENDS["cpu"].col2im(dcols, C, H, W, kh, kw, s, s, p, p, d, d)
    _check(out, "col2im", dx, kernel)
    return dict(grad_weight=grad_weight, grad_bias=grad_bias, grad_cols=dcols,
                grad_input_padded=dxp, grad_input=dx, kernel_col2im=kernel)


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
    x, k, s, p, g = _pool_setup("max_pool2d", x, kernel_size, stride, padding, grad_output)
    C, H, W = x.shape
    Ho, Wo = g.shape[1:]

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
                rows, columns, where = _window(oh, ow, k, s, p, H, W, "-inf")
                out(f"window ({oh}, {ow}): {where}: {_flat(x[c, rows, columns])} -> max "
                    f"{_num(best[0])} at ({h}, {w}), index {h}*{W} + {w} = {h * W + w}")
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


def avg_pool2d(x=None, kernel_size=2, stride=None, padding=0, grad_output=None, file=None):
    """Explain average pooling of one image and its gradient, with PyTorch's defaults
    (``count_include_pad=True``: the zero padding counts in each window's k*k divisor).

    ``x``: (C, H, W) or (1, C, H, W), default one 4x4 channel of small integers;
    ``kernel_size``, ``stride`` (default ``kernel_size``), ``padding``: ints. ``grad_output``
    (C, Ho, Wo), default all ones, is spread evenly, 1/k^2 to each position of its window, as in
    the backward. Prints to ``file``. Returns a dict with ``x`` (C, H, W), ``output``
    (C, Ho, Wo), ``grad_input`` (C, H, W), and ``minicnn_output`` / ``minicnn_grad_input`` from
    :func:`minicnn.nn.functional.avg_pool2d` and autograd.

    Raises TypeError for a non-int argument, GeometryError (a ValueError) for one out of range
    (padding above kernel_size // 2 included) or a kernel larger than the padded image,
    ValueError for a grad_output of the wrong shape.
    """
    out = _printer(file)
    x, k, s, p, g = _pool_setup("avg_pool2d", x, kernel_size, stride, padding, grad_output)
    C, H, W = x.shape
    Ho, Wo = g.shape[1:]

    out(f"avg_pool2d: x {tuple(x.shape)} (C, H, W), kernel_size {k}, stride {s}, padding {p}: "
        f"output ({C}, {Ho}, {Wo}), Ho = floor((H + 2p - k) / s) + 1 = {Ho}; each output is its "
        f"window's sum / k^2 = sum / {k * k} (count_include_pad: padding zeros count)")
    y = np.empty((C, Ho, Wo), x.dtype)
    gx = np.zeros_like(x)
    for c in range(C):
        out(_matrix(f"x[{c}]", x[c]))
        for oh in range(Ho):
            for ow in range(Wo):
                rows, columns, where = _window(oh, ow, k, s, p, H, W, "0")
                total = x[c, rows, columns].sum()
                y[c, oh, ow] = total / (k * k)
                gx[c, rows, columns] += g[c, oh, ow] / (k * k)  # overlapping windows add up
                out(f"window ({oh}, {ow}): {where}: {_flat(x[c, rows, columns])} -> "
                    f"{_num(total)} / {k * k} = {_num(y[c, oh, ow])}")
        out(_matrix(f"y[{c}]", y[c]))
    out(f"\nBackward: each grad_output[c, oh, ow] is spread over its window, grad / {k * k} to "
        "each input in it (the share of the padding is dropped); overlapping windows add up")
    for c in range(C):
        out(_matrix(f"grad_output[{c}]", g[c]))
        out(_matrix(f"grad_input[{c}]", gx[c]))

    import minicnn

    from .nn import functional as F

    t = minicnn.tensor(x[None], requires_grad=True)
    my = F.avg_pool2d(t, k, s, p)
    my.backward(g[None])
    result = dict(x=x, output=y, grad_input=gx, minicnn_output=my.detach().numpy()[0],
                  minicnn_grad_input=t.grad.numpy()[0])
    _check(out, "minicnn.nn.functional.avg_pool2d", y, result["minicnn_output"])
    _check(out, "its backward", gx, result["minicnn_grad_input"])
    return result


def softmax_cross_entropy(logits=None, target=None, file=None):
    """Explain softmax, the cross-entropy loss (mean over the batch) and its gradient with
    respect to the logits, (p - onehot(target)) / N.

    ``logits``: (N, K) floats (integers become float64), default (2, 3) small integers;
    ``target``: (N,) class indices in [0, K), default (0, 2). Prints to ``file``. Returns a dict
    with ``logits``, ``target``, ``probabilities`` (N, K), ``losses`` (N,), ``loss`` (a float),
    ``grad`` (N, K), and ``minicnn_probabilities`` / ``minicnn_loss`` / ``minicnn_grad`` from
    :func:`minicnn.nn.functional.softmax`, :func:`~minicnn.nn.functional.cross_entropy` and
    autograd.

    Raises ValueError for logits that are not (N, K) or a target that is not N indices in
    [0, K).
    """
    out = _printer(file)
    z = np.asarray([[2, 1, -1], [0, 3, 1]] if logits is None else logits)
    z = z.astype(z.dtype if z.dtype.kind == "f" else np.float64)
    if z.ndim != 2:
        raise ValueError(f"logits must be (N, K), got shape {tuple(z.shape)}")
    N, K = z.shape
    y = np.asarray((0, 2) if target is None else target)
    if y.shape != (N,) or y.dtype.kind not in "iu" or np.any((y < 0) | (y >= K)):
        raise ValueError(f"target must be {N} class indices in [0, {K}), got {y.tolist()}")

    out(f"softmax + cross entropy: logits {tuple(z.shape)} (N, K), target {_flat(y)}")
    out(_matrix("logits", z, rows=[f"n={n}" for n in range(N)]))
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    prob = e / e.sum(axis=1, keepdims=True)
    out("\nsoftmax: p[n, j] = exp(z[n, j] - m) / sum over i of exp(z[n, i] - m), m = max of row "
        "n (subtracting it changes nothing but keeps exp from overflowing)")
    out(_matrix("z - m", shifted, rows=[f"n={n}" for n in range(N)]))
    out(_matrix("exp(z - m)", e, rows=[f"n={n}" for n in range(N)]))
    for n in range(N):
        out(f"row {n}: sum = {_num(e[n].sum())}")
    out(_matrix("p", prob, rows=[f"n={n}" for n in range(N)]))
    losses = -np.log(prob[np.arange(N), y])
    loss = float(losses.mean())
    out("\ncross entropy: loss[n] = -log p[n, target[n]]; the loss is their mean")
    for n in range(N):
        out(f"loss[{n}] = -log p[{n}, {y[n]}] = -log {_num(prob[n, y[n]])} = {_num(losses[n])}")
    out(f"loss = ({' + '.join(_num(v) for v in losses)}) / {N} = {_num(loss)}")
    onehot = np.zeros_like(z)
    onehot[np.arange(N), y] = 1
    grad = (prob - onehot) / N
    out(f"\nGradient: dloss/dz[n, j] = (p[n, j] - onehot[n, j]) / N: p minus 1 at the target, "
        f"divided by N = {N} for the mean")
    out(_matrix("onehot(target)", onehot, rows=[f"n={n}" for n in range(N)]))
    out(_matrix("grad = (p - onehot) / N", grad, rows=[f"n={n}" for n in range(N)]))

    import minicnn

    from .nn import functional as F

    t = minicnn.tensor(z, requires_grad=True)
    mine = F.cross_entropy(t, minicnn.tensor(y.astype(np.int64)))
    mine.backward()
    result = dict(logits=z, target=y, probabilities=prob, losses=losses, loss=loss, grad=grad,
                  minicnn_probabilities=F.softmax(minicnn.tensor(z), 1).numpy(),
                  minicnn_loss=float(mine.item()), minicnn_grad=t.grad.numpy())
    for what in ("probabilities", "loss", "grad"):
        _check(out, f"minicnn's {what}", result[what], result["minicnn_" + what])
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


# Sobel & Feldman (1968), "A 3x3 isotropic gradient operator for image processing": a
# difference across the edge, smoothed 1-2-1 along it
SOBEL = np.array([[[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]],   # left to right: vertical edges
                  [[[-1, -2, -1], [0, 0, 0], [1, 2, 1]]]])  # top to bottom: horizontal edges


def edge_filters(image=None, index=0, crop=8, file=None):
    """Explain hand-made edge detectors: the two 3x3 Sobel filters (Sobel & Feldman 1968)
    applied by :func:`minicnn.nn.functional.conv2d` (padding 1, no bias) to one image.

    ``image``: (H, W), (1, H, W) or (1, 1, H, W), default Fashion-MNIST test image ``index``
    (pixels 0..255 as float64; when the data set is missing, a synthetic 28x28 image with a
    bright rectangle, said so in one printed line). Prints the filters, a ``crop`` x ``crop``
    window of the input and of each response around the strongest edge (the largest gradient
    magnitude sqrt(gx^2 + gy^2)), rounded to integers, and one output of the stronger filter
    there worked out as its 9 products and their sum. The zero padding makes the image's
    border an edge wherever the image is not 0 there. Prints to ``file`` (default stdout).

    Returns a dict with ``image`` (H, W), ``weight`` (2, 1, 3, 3), ``output`` (2, H, W): the
    responses recomputed with NumPy, ``minicnn_output`` (the same from conv2d), ``magnitude``
    (H, W), ``position`` (k, h, w) of the output worked out, ``products`` (3, 3) and ``value``
    (their sum, a float).

    Raises ValueError for an image of another shape, or a ``crop`` below 1; the data set's
    errors other than DatasetNotFoundError, IndexError for an ``index`` out of range.
    """
    out = _printer(file)
    if not isinstance(crop, int) or crop < 1:
        raise ValueError(f"crop must be a positive int, got {crop!r}")
    if image is None:
        from .data import DatasetNotFoundError, get_dataset

        try:
            test = get_dataset("fashion-mnist", train=False)
        except DatasetNotFoundError:
            image = np.zeros((28, 28))
            image[8:20, 6:22] = 200
            out("Fashion-MNIST is not installed (minicnn data info fashion-mnist): using a "
                "synthetic 28x28 image, a bright rectangle (200) on black (0)")
        else:
            pixels, label = test[index]
            image = np.asarray(pixels, np.float64)
            out(f"Fashion-MNIST test image {index} ({test.classes[label]}), pixels 0..255")
    x = np.asarray(image)
    while x.ndim > 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f"image must be (H, W), (1, H, W) or (1, 1, H, W), got shape "
                         f"{tuple(np.shape(image))}")
    x = x.astype(x.dtype if x.dtype.kind == "f" else np.float64)
    H, W = x.shape
    weight = SOBEL.astype(x.dtype)

    out(f"edges: image ({H}, {W}), two hand-made 3x3 Sobel filters (Sobel & Feldman 1968), "
        "conv2d with padding 1 (the output keeps the image's size), no bias")
    out("Each filter takes a difference across an edge (-1, 0, 1), smoothed 1-2-1 along it; "
        "a flat region gives 0, a step from dark to bright a large value")
    out(_matrix("weight[0] (gx: left to right, finds vertical edges)", weight[0, 0]))
    out(_matrix("weight[1] (gy: top to bottom, finds horizontal edges)", weight[1, 0]))
    xp = np.pad(x, 1)
    # cross-correlation as conv2d computes it: y[h, w] = sum of weight[i, j] * xpad[h+i, w+j]
    y = np.stack([sum(w[i, j] * xp[i:i + H, j:j + W] for i in range(3) for j in range(3))
                  for w in weight[:, 0]])
    magnitude = np.sqrt(y[0] ** 2 + y[1] ** 2)
    h, w = np.unravel_index(int(np.argmax(magnitude)), magnitude.shape)
    k = int(abs(y[1, h, w]) > abs(y[0, h, w]))
    r0, c0 = (min(max(v - crop // 2, 0), max(n - crop, 0)) for v, n in ((h, H), (w, W)))
    rows, cols = slice(r0, r0 + crop), slice(c0, c0 + crop)
    labels = dict(rows=[f"{r}" for r in range(H)][rows], cols=[f"{c}" for c in range(W)][cols])
    out(f"\nThe strongest edge: sqrt(gx^2 + gy^2) = {_num(magnitude[h, w])} at (h, w) = "
        f"({h}, {w}); rows {rows.start}..{min(rows.stop, H) - 1}, columns "
        f"{cols.start}..{min(cols.stop, W) - 1} around it, rounded to integers")
    for title, a in (("image", x), ("gx = y[0]", y[0]), ("gy = y[1]", y[1]),
                     ("sqrt(gx^2 + gy^2)", magnitude)):
        out(_matrix(title, np.rint(a[rows, cols]), **labels))

    products = weight[k, 0] * xp[h:h + 3, w:w + 3]
    value = float(products.sum())
    out("\nOne output: y[k, h, w] = sum over i, j of weight[k, i, j] * xpad[h + i, w + j], "
        "the 3x3 window of the padded image centred on pixel (h, w)")
    out(_matrix(f"xpad[{h}..{h + 2}, {w}..{w + 2}] (image rows {h - 1}..{h + 1}, columns "
                f"{w - 1}..{w + 1})", xp[h:h + 3, w:w + 3]))
    terms = " + ".join(f"{_factor(a)}*{_factor(b)}"
                       for a, b in zip(weight[k, 0].ravel(), xp[h:h + 3, w:w + 3].ravel()))
    out(f"y[{k}, {h}, {w}] = {terms} = {_num(value)}")

    import minicnn

    from .nn import functional as F

    mine = F.conv2d(minicnn.tensor(x[None, None]), minicnn.tensor(weight), padding=1).numpy()[0]
    out(f"conv2d's y[{k}, {h}, {w}] = {_num(mine[k, h, w])}")
    _check(out, "minicnn.nn.functional.conv2d", y, mine)
    return dict(image=x, weight=weight, output=y, minicnn_output=mine, magnitude=magnitude,
                position=(k, int(h), int(w)), products=products, value=value)


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


def _minicnn_conv2d(x, weight, bias, geometry, grad_output=None):
    """minicnn's conv2d output (without grad_output), or a dict of it and the gradients."""
    import minicnn

    from .nn import functional as F

    s, p, d, G = geometry
    need = grad_output is not None
    t, w, b = (minicnn.tensor(a, requires_grad=need) for a in (x[None], weight, bias))
    y = F.conv2d(t, w, b, stride=s, padding=p, dilation=d, groups=G)
    if not need:
        return y.numpy()[0]
    y.backward(grad_output[None])
    return dict(minicnn_output=y.detach().numpy()[0], minicnn_grad_input=t.grad.numpy()[0],
                minicnn_grad_weight=w.grad.numpy(), minicnn_grad_bias=b.grad.numpy())


def _group(g, G, Cg, Kg):
    """' for group g (channels .., filters ..)' in a title, or '' without groups."""
    if G == 1:
        return ""
    return (f" for group {g} (channels {g * Cg}..{(g + 1) * Cg - 1}, filters "
            f"{g * Kg}..{(g + 1) * Kg - 1})")


def _cij(channels, kh, kw):
    return [f"({c},{i},{j})" for c in channels for i in range(kh) for j in range(kw)]


def _pool_setup(fn, x, kernel_size, stride, padding, grad_output):
    """The checked arguments of a pooling explanation: (x (C, H, W), k, s, p, grad_output
    (C, Ho, Wo), ones by default)."""
    x = _image((np.arange(16) * 7 % 11).reshape(1, 4, 4) if x is None else x, "x")
    k = integer(kernel_size, "kernel_size", fn)
    s = k if stride is None else integer(stride, "stride", fn)
    p = integer(padding, "padding", fn)
    C, H, W = x.shape
    Ho, Wo = output_size(fn, (H, W), *pool_window(k, s, p, 1, fn))
    g = np.ones((C, Ho, Wo), x.dtype) if grad_output is None else np.asarray(grad_output, x.dtype)
    if g.shape != (C, Ho, Wo):
        raise ValueError(f"grad_output must be ({C}, {Ho}, {Wo}), got shape {tuple(g.shape)}")
    return x, k, s, p, g


def _window(oh, ow, k, s, p, H, W, padding_value):
    """The image rows and columns (slices) of pooling window (oh, ow), clipped to the image,
    and their description; the part of the window on the padding is said to be so."""
    r0, c0 = oh * s - p, ow * s - p
    rows = slice(max(r0, 0), min(r0 + k, H))
    columns = slice(max(c0, 0), min(c0 + k, W))
    text = f"rows {rows.start}..{rows.stop - 1}, columns {columns.start}..{columns.stop - 1}"
    sides = [f"{n} {what}{'s' if n > 1 else ''} {where}" for n, what, where in (
        (-r0, "row", "above"), (r0 + k - H, "row", "below"), (-c0, "column", "left"),
        (c0 + k - W, "column", "right")) if n > 0]
    if sides:
        text += f" (and padding, {padding_value}: {', '.join(sides)})"
    return rows, columns, text


def _check(out, what, mine, theirs):
    diff = float(np.max(np.abs(np.asarray(mine, np.float64) - theirs))) if np.size(mine) else 0.0
    out(f"check: {what} on the 'cpu' device (C kernels) gives the same, max difference "
        f"{_num(diff)}")
