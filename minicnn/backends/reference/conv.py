"""Reference kernels for convolution, in plain NumPy: im2col/col2im, conv2d and its two gradients.

Layouts: input (N, C, H, W); weight (K, C / groups, kh, kw) (OIHW); output (N, K, Ho, Wo) with
    Ho = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1   (and the same for Wo),
as in ``torch.nn.Conv2d``. Output position (oh, ow) of kernel tap (i, j) reads input row
oh * sh - ph + i * dh and column ow * sw - pw + j * dw; taps that fall in the padding read 0.

Convolution as a matrix product (Chellapilla et al. 2006, "High performance convolutional neural
networks for document processing"): im2col unrolls one image into a column matrix with one row
per (channel, tap) and one column per output position, so that for each group
    out[n, group] = weight[group].reshape(K / groups, -1) @ im2col(x[n, group channels]).
The gradients are the same product transposed: grad_cols = weight^T @ grad_out, folded back onto
the image by col2im (the adjoint of im2col, which adds overlapping taps), and
grad_weight = sum over images of grad_out @ cols^T.
"""
import numpy as np

from ...geometry import conv_output_size
from .elementwise import activate

__all__ = ["im2col", "col2im", "conv2d", "conv2d_backward_input", "conv2d_backward_weight"]


def _tap_slices(i, j, Ho, Wo, sh, sw, dh, dw):
    """The strided window of the padded image that kernel tap (i, j) sees, for every output."""
    return (slice(i * dh, i * dh + sh * (Ho - 1) + 1, sh),
            slice(j * dw, j * dw + sw * (Wo - 1) + 1, sw))


def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw):
    """One image x (C, H, W) -> columns (C * kh * kw, Ho * Wo).

    Row (c * kh + i) * kw + j holds what tap (i, j) of channel c sees at every output position,
    in row-major (oh, ow) order; padding reads as 0.
    """
    C, H, W = x.shape
    Ho, Wo = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    cols = np.empty((C, kh, kw, Ho, Wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = _tap_slices(i, j, Ho, Wo, sh, sw, dh, dw)
            cols[:, i, j] = xp[:, rows, columns]
    return cols.reshape(C * kh * kw, Ho * Wo)


def col2im(cols, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw):
    """The adjoint of im2col: columns (C * kh * kw, Ho * Wo) -> image (C, H, W), adding up every
    tap that reads the same input pixel (and dropping what falls in the padding)."""
    Ho, Wo = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    cols = cols.reshape(C, kh, kw, Ho, Wo)
    xp = np.zeros((C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = _tap_slices(i, j, Ho, Wo, sh, sw, dh, dw)
            xp[:, rows, columns] += cols[:, i, j]
    return xp[:, ph:ph + H, pw:pw + W]


def conv2d(x, weight, bias, sh, sw, ph, pw, dh, dw, groups, activation=None):
    """y = x (*) weight + bias: x (N, C, H, W), weight (K, C / groups, kh, kw), bias (K,) or None
    -> y (N, K, Ho, Wo). One im2col and one matrix product per image and group. ``activation``
    ("relu", "relu6" or None) is applied to y after the bias (the C kernel does both in one
    pass)."""
    N, C, H, W = x.shape
    K, Cg, kh, kw = weight.shape
    Kg = K // groups
    Ho, Wo = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    y = np.empty((N, K, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for g in range(groups):
            cols = im2col(x[n, g * Cg:(g + 1) * Cg], kh, kw, sh, sw, ph, pw, dh, dw)
            w = weight[g * Kg:(g + 1) * Kg].reshape(Kg, -1)
            y[n, g * Kg:(g + 1) * Kg] = (w @ cols).reshape(Kg, Ho, Wo)
    if bias is not None:
        y += bias.reshape(1, K, 1, 1)
    return y if activation is None else activate(y, activation).astype(y.dtype, copy=False)


def conv2d_backward_input(grad_output, weight, H, W, sh, sw, ph, pw, dh, dw, groups):
    """dL/dx of conv2d: grad_output (N, K, Ho, Wo), weight (K, C / groups, kh, kw) and the input's
    H, W (several input sizes give the same Ho when the stride is > 1) -> (N, C, H, W)."""
    N, K, Ho, Wo = grad_output.shape
    _, Cg, kh, kw = weight.shape
    Kg = K // groups
    gx = np.empty((N, Cg * groups, H, W), dtype=grad_output.dtype)
    for n in range(N):
        for g in range(groups):
            w = weight[g * Kg:(g + 1) * Kg].reshape(Kg, -1)
            gcols = w.T @ grad_output[n, g * Kg:(g + 1) * Kg].reshape(Kg, Ho * Wo)
            gx[n, g * Cg:(g + 1) * Cg] = col2im(gcols, Cg, H, W, kh, kw, sh, sw, ph, pw, dh, dw)
    return gx


def conv2d_backward_weight(grad_output, x, kh, kw, sh, sw, ph, pw, dh, dw, groups):
    """dL/dweight of conv2d: grad_output (N, K, Ho, Wo) and input x (N, C, H, W)
    -> (K, C / groups, kh, kw), summed over the batch."""
    N, K, Ho, Wo = grad_output.shape
    C = x.shape[1]
    Cg, Kg = C // groups, K // groups
    gw = np.zeros((K, Cg * kh * kw), dtype=x.dtype)
    for n in range(N):
        for g in range(groups):
            cols = im2col(x[n, g * Cg:(g + 1) * Cg], kh, kw, sh, sw, ph, pw, dh, dw)
            gy = grad_output[n, g * Kg:(g + 1) * Kg].reshape(Kg, Ho * Wo)
            gw[g * Kg:(g + 1) * Kg] += gy @ cols.T
    return gw.reshape(K, Cg, kh, kw)
