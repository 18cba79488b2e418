"""Winograd's minimal filtering F(2x2, 3x3) in plain NumPy: the algorithm behind the C kernels'
fast path for 3x3 stride-1 convolutions (csrc/cpu/winograd_impl.h), written to be read.

Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural Networks", section 4: a 2x2 block
of outputs of a 3x3 correlation over a 4x4 input tile d is

    Y = A^T [ (G g G^T) * (B^T d B) ] A          (* elementwise, over the 4x4 "Winograd domain")

with 16 multiplications instead of 36. Over channels the elementwise product becomes, for each
of the 16 positions xi of the 4x4 domain, one matrix product over the input channels:

    M[xi] (tiles, K) = V[xi] (tiles, C) @ U[xi] (C, K),   U = G g G^T,   V = B^T d B,

so the convolution costs 16 matrix products of depth C instead of one of depth 9 C: 2.25 times
fewer multiply-adds. The output tiles are 2x2 blocks of the output; tile (a, b) reads the input
window starting at row 2 a - ph, column 2 b - pw (zeros outside the image).

The gradients follow from Y being linear in U and in V:
    weight: dL/dU[xi] = sum over tiles of V[xi]^T @ (A dY A^T)[xi], then dL/dg = G^T (dL/dU) G;
    input:  the gradient of a stride-1 convolution is a convolution of the output gradient with
            the kernel rotated by 180 degrees and its channel axes swapped, padded by 2 - p.
"""
import numpy as np

from ...geometry import conv_output_size

__all__ = ["BT", "G", "AT", "winograd_conv2d", "winograd_conv2d_backward_input",
           "winograd_conv2d_backward_weight"]

BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)


def _tiles(x, ph, pw, Ho, Wo):
    """The 4x4 input tile of every 2x2 output block: (N, C, Ho/2, Wo/2, 4, 4) (sizes rounded up)."""
    N, C, H, W = x.shape
    th, tw = -(-Ho // 2), -(-Wo // 2)
    xp = np.zeros((N, C, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    h, w = min(H, 2 * th + 2 - ph), min(W, 2 * tw + 2 - pw)  # rows/columns any tile reads
    xp[:, :, ph:ph + h, pw:pw + w] = x[:, :, :h, :w]
    rows = 2 * np.arange(th)[:, None] + np.arange(4)  # (th, 4) row index of each tile row
    cols = 2 * np.arange(tw)[:, None] + np.arange(4)
    return xp[:, :, rows[:, None, :, None], cols[None, :, None, :]]


def winograd_conv2d(x, weight, ph, pw):
    """conv2d of x (N, C, H, W) with a 3x3 weight (K, C, 3, 3), stride 1, padding (ph, pw)."""
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, 3, 1, ph), conv_output_size(W, 3, 1, pw)
    U = np.einsum("ai,kcij,bj->abck", G, weight, G)                  # (4, 4, C, K)
    V = np.einsum("ar,ncxyrs,bs->abnxyc", BT, _tiles(x, ph, pw, Ho, Wo), BT)  # (4, 4, N, th, tw, C)
    M = np.einsum("abnxyc,abck->abnxyk", V, U)                       # 16 matrix products over C
    Y = np.einsum("ia,abnxyk,jb->nkxiyj", AT, M, AT)                 # (N, K, th, 2, tw, 2)
    N, K, th, _, tw, _ = Y.shape
    return Y.reshape(N, K, 2 * th, 2 * tw)[:, :, :Ho, :Wo].astype(x.dtype)


def winograd_conv2d_backward_input(grad_output, weight, H, W, ph, pw):
    """Gradient of winograd_conv2d with respect to x, for padding ph, pw <= 2: itself a
    winograd_conv2d of grad_output (N, K, Ho, Wo) with weight[:, :, ::-1, ::-1] swapped to
    (C, K, 3, 3), padded by (2 - ph, 2 - pw). Returns (N, C, H, W)."""
    flipped = np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    gx = winograd_conv2d(grad_output, flipped, 2 - ph, 2 - pw)
    assert gx.shape[2:] == (H, W)
    return gx


def winograd_conv2d_backward_weight(grad_output, x, ph, pw):
    """Gradient of winograd_conv2d with respect to the weight: (K, C, 3, 3)."""
    N, K, Ho, Wo = grad_output.shape
    th, tw = -(-Ho // 2), -(-Wo // 2)
    gy = np.zeros((N, K, 2 * th, 2 * tw), dtype=grad_output.dtype)  # blocks past the edge get 0
    gy[:, :, :Ho, :Wo] = grad_output
    gy = gy.reshape(N, K, th, 2, tw, 2)
    dM = np.einsum("ai,nkxiyj,bj->abnxyk", AT.T, gy, AT.T)           # A dY A^T per tile
    V = np.einsum("ar,ncxyrs,bs->abnxyc", BT, _tiles(x, ph, pw, Ho, Wo), BT)
    dU = np.einsum("abnxyc,abnxyk->abck", V, dM)                     # 16 products over tiles
    return np.einsum("ai,abck,bj->kcij", G, dU, G).astype(x.dtype)
