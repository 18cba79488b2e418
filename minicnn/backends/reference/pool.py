"""Reference kernels for pooling, in plain NumPy: max and average pooling (with the argmax
indices max pooling saves for its backward), adaptive max and average pooling.

Layouts: input x (N, C, H, W), output y (N, C, Ho, Wo), float32 or float64; ``indices`` int64
(N, C, Ho, Wo), each the flat position ih * W + iw of the chosen element inside its (H, W)
plane, exactly as ``torch.nn.functional.max_pool2d(..., return_indices=True)``.

Output size (PyTorch's ``pooling_output_shape``, aten/src/ATen/native/Pool.h; computed by
:func:`minicnn.geometry.conv_output_size`)::

    Ho = floor((H + 2 ph - dh (kh - 1) - 1 + (sh - 1 if ceil_mode else 0)) / sh) + 1
    if ceil_mode and (Ho - 1) sh >= H + ph: Ho -= 1     (the last window must start inside the
                                                         input or the left/top padding)

Windows, as PyTorch's CPU kernels (aten/src/ATen/native/cpu/*PoolKernel.cpp):

* max: output (oh, ow) looks at rows oh sh - ph + i dh (i < kh) and the same for columns; the
  padding is -inf. The first maximum wins and a NaN always wins (so the last NaN is kept). When
  no in-range element beats -inf, the index is that of the window's first in-range position.
* avg: rows [oh sh - ph, oh sh - ph + kh), clipped to the padded input [-ph, H + ph) for the
  divisor of ``count_include_pad`` (so with ceil_mode a window running past the padding counts
  only up to it), then clipped to [0, H) for the sum. y = sum / divisor, divisor =
  divisor_override if given, else the padded window size (count_include_pad) or the clipped one.
  A window with no input element gives 0.
* adaptive: rows [floor(oh H / Ho), ceil((oh + 1) H / Ho)) (columns alike); avg = sum / kh / kw.

The C kernels (minicnn.backends._cpu) have the same names and signatures.
"""
import numpy as np

from ...geometry import output_size, pool_window

__all__ = [
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
    "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "adaptive_max_pool2d",
]


# ---------------------------------------------------------------- sizes and checks

def check_pool_args(fn, x_shape, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode):
    """Validate a pooling configuration for an input of shape (N, C, H, W); return (Ho, Wo).

    ValueError (naming the argument) for an input of the wrong rank or with no rows or
    columns; the window's errors from :func:`minicnn.geometry.pool_window` and
    :func:`~minicnn.geometry.output_size` (TypeError for a non-int; GeometryError, a
    ValueError, for kernel, stride or dilation < 1, padding < 0 or above kernel_size // 2, or
    an output size below 1).
    """
    if len(x_shape) != 4:
        raise ValueError(f"{fn}: x must have shape (N, C, H, W), got {tuple(x_shape)}")
    H, W = x_shape[2], x_shape[3]
    if H < 1 or W < 1:
        raise ValueError(f"{fn}: x must have non-zero H and W, got {tuple(x_shape)}")
    window = pool_window((kh, kw), (sh, sw), (ph, pw), (dh, dw), fn)
    return output_size(fn, (H, W), *window, ceil_mode)


def _check_grad(fn, grad_output, H, W, Ho, Wo):
    if grad_output.ndim != 4 or grad_output.shape[2:] != (Ho, Wo):
        raise ValueError(f"{fn}: grad_output must have shape (N, C, {Ho}, {Wo}) for an input of "
                         f"size ({H}, {W}), got {grad_output.shape}")


def adaptive_range(o, out, n):
    """Input range [start, end) of adaptive output o of ``out`` over length n:
    [floor(o n / out), ceil((o + 1) n / out))."""
    return (o * n) // out, -((-(o + 1) * n) // out)


# ---------------------------------------------------------------- max pooling

def _first_inside(start, d):
    """First in-range position of a dilated window that starts at ``start`` (steps of d)."""
    return np.where(start < 0, start + ((-start + d - 1) // d) * d, start)


def max_pool2d(x, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode, return_indices=True):
    """Max pooling: x (N, C, H, W) -> (y (N, C, Ho, Wo), indices int64 (N, C, Ho, Wo)), or
    (y, None) with ``return_indices=False`` (when no backward will need them).

    y[n, c, oh, ow] = max over i < kh, j < kw of x[n, c, oh sh - ph + i dh, ow sw - pw + j dw]
    (-inf outside the input); indices hold the winner's flat position in its (H, W) plane.
    Written as one pass per kernel tap (i, j) over a -inf padded copy, in PyTorch's order, with
    PyTorch's rules for ties (first wins) and NaN (always wins).
    """
    N, C, H, W = x.shape
    Ho, Wo = check_pool_args("max_pool2d", x.shape, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode)
    # pad with -inf: ph / pw on the left, and on the right as far as the last (ceil) window reaches
    eh = max(0, (Ho - 1) * sh + (kh - 1) * dh + 1 - (H + ph))
    ew = max(0, (Wo - 1) * sw + (kw - 1) * dw + 1 - (W + pw))
    xp = np.pad(x, ((0, 0), (0, 0), (ph, eh), (pw, ew)), constant_values=-np.inf)
    rows0 = np.arange(Ho) * sh - ph  # first row (possibly in the padding) of each window
    cols0 = np.arange(Wo) * sw - pw
    y = np.full((N, C, Ho, Wo), -np.inf, dtype=x.dtype)
    # when nothing beats -inf: the first in-range position of the window
    idx = np.broadcast_to(_first_inside(rows0, dh)[:, None] * W + _first_inside(cols0, dw)[None, :],
                          y.shape).astype(np.int64)
    for i in range(kh):
        for j in range(kw):
            v = xp[:, :, i * dh:i * dh + sh * (Ho - 1) + 1:sh, j * dw:j * dw + sw * (Wo - 1) + 1:sw]
            take = (v > y) | np.isnan(v)
            y = np.where(take, v, y)
            pos = (rows0 + i * dh)[:, None] * W + (cols0 + j * dw)[None, :]
            idx = np.where(take, pos, idx)
    return y.astype(x.dtype, copy=False), (idx if return_indices else None)


def max_pool2d_backward(grad_output, indices, H, W):
    """Gradient of max pooling (and adaptive max pooling) with respect to its input.

    grad_output (N, C, Ho, Wo) and the forward's indices (N, C, Ho, Wo) -> grad_input
    (N, C, H, W): grad_input[n, c].flat[indices[n, c, o]] += grad_output[n, c, o], accumulated
    (overlapping windows can pick the same element). Indices outside [0, H W) are skipped.
    """
    if grad_output.ndim != 4 or indices.shape != grad_output.shape:
        raise ValueError(f"max_pool2d_backward: grad_output (N, C, Ho, Wo) and indices must have "
                         f"the same shape, got {grad_output.shape} and {indices.shape}")
    N, C, Ho, Wo = grad_output.shape
    P = N * C
    gx = np.zeros((P, H * W), dtype=grad_output.dtype)
    ind = indices.reshape(P, Ho * Wo)
    plane = np.broadcast_to(np.arange(P)[:, None], ind.shape)
    ok = (ind >= 0) & (ind < H * W)
    np.add.at(gx, (plane[ok], ind[ok]), grad_output.reshape(P, Ho * Wo)[ok])
    return gx.reshape(N, C, H, W)


# ---------------------------------------------------------------- average pooling

def _avg_ranges(n, out, k, s, p):
    """Per output position along one axis: clipped start and end, and the length of the window
    clipped to the padded input only (count_include_pad's count)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    padded = end - start
    return np.maximum(start, 0), np.minimum(end, n), padded


def _avg_divisor(H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """(divisor (Ho, Wo), empty-window mask (Ho, Wo)) of average pooling."""
    h0, h1, hp = _avg_ranges(H, Ho, kh, sh, ph)
    w0, w1, wp = _avg_ranges(W, Wo, kw, sw, pw)
    hc, wc = np.maximum(h1 - h0, 0), np.maximum(w1 - w0, 0)
    empty = (hc[:, None] == 0) | (wc[None, :] == 0)
    if divisor_override:
        div = np.full((Ho, Wo), divisor_override)
    elif count_include_pad:
        div = hp[:, None] * wp[None, :]
    else:
        div = hc[:, None] * wc[None, :]
    return np.where(empty, 1, div), empty


def avg_pool2d(x, kh, kw, sh, sw, ph, pw, ceil_mode, count_include_pad, divisor_override):
    """Average pooling: x (N, C, H, W) -> y (N, C, Ho, Wo).

    y[n, c, oh, ow] = (sum of x over the window clipped to the input) / divisor, the divisor as
    in the module docstring (``divisor_override`` None or 0 means none). Zero padding, one
    strided pass per kernel tap (i, j), summed in PyTorch's row-major order.
    """
    N, C, H, W = x.shape
    Ho, Wo = check_pool_args("avg_pool2d", x.shape, kh, kw, sh, sw, ph, pw, 1, 1, ceil_mode)
    eh = max(0, (Ho - 1) * sh + kh - (H + ph))
    ew = max(0, (Wo - 1) * sw + kw - (W + pw))
    xp = np.pad(x, ((0, 0), (0, 0), (ph, eh), (pw, ew)))
    s = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            s += xp[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw]
    div, empty = _avg_divisor(H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, count_include_pad,
                              divisor_override)
    return np.where(empty, 0, s / div.astype(x.dtype)).astype(x.dtype, copy=False)


def avg_pool2d_backward(grad_output, H, W, kh, kw, sh, sw, ph, pw, ceil_mode, count_include_pad,
                        divisor_override):
    """Gradient of average pooling with respect to its input: grad_output (N, C, Ho, Wo) ->
    grad_input (N, C, H, W); every input element of an output's (clipped) window receives
    grad_output / divisor, accumulated over overlapping windows."""
    N, C = grad_output.shape[:2]
    Ho, Wo = check_pool_args("avg_pool2d_backward", (N, C, H, W), kh, kw, sh, sw, ph, pw, 1, 1,
                             ceil_mode)
    _check_grad("avg_pool2d_backward", grad_output, H, W, Ho, Wo)
    div, empty = _avg_divisor(H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, count_include_pad,
                              divisor_override)
    delta = np.where(empty, 0, grad_output / div.astype(grad_output.dtype))
    eh = max(0, (Ho - 1) * sh + kh - (H + ph))
    ew = max(0, (Wo - 1) * sw + kw - (W + pw))
    gp = np.zeros((N, C, H + ph + eh, W + pw + ew), dtype=grad_output.dtype)
    for i in range(kh):
        for j in range(kw):
            gp[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw] += delta
    return np.ascontiguousarray(gp[:, :, ph:ph + H, pw:pw + W])


# ---------------------------------------------------------------- adaptive pooling

def _check_adaptive(fn, x, oh, ow):
    if x.ndim != 4:
        raise ValueError(f"{fn}: x must have shape (N, C, H, W), got {x.shape}")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{fn}: x must have non-zero H and W, got {x.shape}")
    if oh < 0 or ow < 0:
        raise ValueError(f"{fn}: output size must be >= 0, got ({oh}, {ow})")


def adaptive_avg_pool2d(x, oh, ow):
    """Adaptive average pooling: x (N, C, H, W) -> y (N, C, oh, ow); output (i, j) is the mean
    of rows [floor(i H / oh), ceil((i + 1) H / oh)) and the same columns over W / ow
    (``torch.nn.AdaptiveAvgPool2d``)."""
    _check_adaptive("adaptive_avg_pool2d", x, oh, ow)
    N, C, H, W = x.shape
    y = np.empty((N, C, oh, ow), dtype=x.dtype)
    for i in range(oh):
        h0, h1 = adaptive_range(i, oh, H)
        for j in range(ow):
            w0, w1 = adaptive_range(j, ow, W)
            s = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3))
            y[:, :, i, j] = s / x.dtype.type(h1 - h0) / x.dtype.type(w1 - w0)
    return y


def adaptive_avg_pool2d_backward(grad_output, H, W):
    """Gradient of adaptive average pooling: grad_output (N, C, oh, ow) -> grad_input
    (N, C, H, W), each window's input elements receiving grad_output / kh / kw."""
    if grad_output.ndim != 4:
        raise ValueError(f"adaptive_avg_pool2d_backward: grad_output must have shape "
                         f"(N, C, oh, ow), got {grad_output.shape}")
    N, C, oh, ow = grad_output.shape
    t = grad_output.dtype.type
    gx = np.zeros((N, C, H, W), dtype=grad_output.dtype)
    for i in range(oh):
        h0, h1 = adaptive_range(i, oh, H)
        for j in range(ow):
            w0, w1 = adaptive_range(j, ow, W)
            delta = grad_output[:, :, i, j] / t(h1 - h0) / t(w1 - w0)
            gx[:, :, h0:h1, w0:w1] += delta[:, :, None, None]
    return gx


def adaptive_max_pool2d(x, oh, ow):
    """Adaptive max pooling: x (N, C, H, W) -> (y (N, C, oh, ow), indices int64 (N, C, oh, ow)),
    over the adaptive windows, with max pooling's rules for ties, NaN and the flat indices.
    Its backward is :func:`max_pool2d_backward`."""
    _check_adaptive("adaptive_max_pool2d", x, oh, ow)
    N, C, H, W = x.shape
    y = np.empty((N, C, oh, ow), dtype=x.dtype)
    idx = np.empty((N, C, oh, ow), dtype=np.int64)
    for i in range(oh):
        h0, h1 = adaptive_range(i, oh, H)
        for j in range(ow):
            w0, w1 = adaptive_range(j, ow, W)
            win = x[:, :, h0:h1, w0:w1].reshape(N, C, (h1 - h0) * (w1 - w0))
            nan = np.isnan(win)
            last_nan = win.shape[2] - 1 - np.argmax(nan[:, :, ::-1], axis=2)
            k = np.where(nan.any(axis=2), last_nan, np.argmax(win, axis=2))  # first max wins
            y[:, :, i, j] = np.take_along_axis(win, k[:, :, None], axis=2)[:, :, 0]
            kw_ = w1 - w0
            idx[:, :, i, j] = (h0 + k // kw_) * W + w0 + k % kw_
    return y, idx
