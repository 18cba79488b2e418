"""Building blocks shared by the model zoo, with torchvision's structure and parameter names.

- :class:`Conv2dNormActivation`: conv -> batch norm -> activation (``torchvision.ops``);
- :class:`SqueezeExcitation` (``torchvision.ops``) and :class:`SEBlock` (Hu et al. 2018);
- :class:`CBAM` with :class:`ChannelAttention` and :class:`SpatialAttention` (Woo et al. 2018);
- :class:`Inception` with :class:`BasicConv2d` (Szegedy et al. 2015, torchvision's GoogLeNet);
- :class:`ConvNeXtBlock` (Liu et al. 2022, torchvision's ``CNBlock``) with :class:`Permute`;
- :func:`stochastic_depth` / :class:`StochasticDepth` (Huang et al. 2016,
  ``torchvision.ops.stochastic_depth``).

All blocks take and return (N, C, H, W) tensors (float32 or float64).
"""
import numpy as np

from .. import nn
from .. import random as _random
from ..ops import amax, cat, mean, sigmoid

__all__ = ["Conv2dNormActivation", "SqueezeExcitation", "SEBlock", "ChannelAttention",
           "SpatialAttention", "CBAM", "BasicConv2d", "Inception", "Permute", "ConvNeXtBlock",
           "stochastic_depth", "StochasticDepth"]


class Conv2dNormActivation(nn.Sequential):
    """Conv2d -> norm -> activation as one Sequential (``torchvision.ops.Conv2dNormActivation``).

    Children "0" (Conv2d), "1" (the norm layer, if any) and "2" (the activation, if any), so the
    keys are torchvision's (``features.0.0.weight``, ``features.0.1.running_mean``).
    ``padding`` defaults to ``(kernel_size - 1) // 2 * dilation`` ("same" for odd kernels at
    stride 1); ``bias`` defaults to True only when there is no norm layer. ``norm_layer`` and
    ``activation_layer`` are callables (classes) or None; ``norm_layer`` is called with the
    channel count, ``activation_layer`` with no argument.
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=None, groups=1,
                 norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU, dilation=1, bias=None):
        if padding is None:
            padding = (kernel_size - 1) // 2 * dilation
        if bias is None:
            bias = norm_layer is None
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                            dilation=dilation, groups=groups, bias=bias)]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            layers.append(activation_layer())
        super().__init__(*layers)
        self.out_channels = out_channels


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (``torchvision.ops.SqueezeExcitation``):
    ``x * scale_activation(fc2(activation(fc1(avgpool(x)))))``.

    ``fc1``/``fc2`` are 1x1 convolutions with bias (input_channels -> squeeze_channels ->
    input_channels), i.e. fully connected layers over the pooled (N, C, 1, 1) descriptor.
    Parameters: 2 * C * S + C + S. Input (N, C, H, W) -> output of the same shape.
    """

    def __init__(self, input_channels, squeeze_channels, activation=nn.ReLU,
                 scale_activation=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, input):
        scale = self.fc2(self.activation(self.fc1(self.avgpool(input))))
        return self.scale_activation(scale) * input


class SEBlock(SqueezeExcitation):
    """The SE block of Hu et al. 2018, "Squeeze-and-Excitation Networks" (eq. 2-4):
    s = sigmoid(W2 relu(W1 z)), z the channel means, output x * s per channel.

    ``channels`` C, ``reduction`` r: the bottleneck has max(1, C // r) units (r = 16 in the
    paper). The two FC layers are ``fc1``/``fc2`` 1x1 convolutions with bias (as the authors'
    Caffe models and torchvision's SqueezeExcitation), so the parameter count is
    2 * C * (C // r) + C + C // r (C = 64, r = 16: 580). (N, C, H, W) -> same shape.
    """

    def __init__(self, channels, reduction=16):
        if reduction < 1:
            raise ValueError(f"SEBlock: reduction must be >= 1, got {reduction}")
        super().__init__(channels, max(1, channels // reduction))


class ChannelAttention(nn.Module):
    """CBAM's channel attention (Woo et al. 2018, eq. 2):
    M_c = sigmoid(MLP(avgpool(x)) + MLP(maxpool(x))), output x * M_c.

    The MLP is shared by both pooled descriptors: ``mlp`` = Sequential(Linear(C, C // r), ReLU,
    Linear(C // r, C)) with biases (as the authors' code).
    Parameters: 2 * C * (C // r) + C + C // r.
    """

    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(),
                                 nn.Linear(hidden, channels))

    def forward(self, input):
        n, c = input.shape[:2]
        logits = self.mlp(mean(input, (2, 3))) + self.mlp(amax(input, (2, 3)))
        return input * sigmoid(logits).reshape(n, c, 1, 1)


class SpatialAttention(nn.Module):
    """CBAM's spatial attention (Woo et al. 2018, eq. 3):
    M_s = sigmoid(conv_k([mean_c(x); max_c(x)])), output x * M_s.

    ``conv`` maps the 2 channel-pooled maps to 1 with a k x k kernel (k = 7 in the paper),
    padding k // 2, no bias (the paper's formula has none): 2 * k * k parameters.
    """

    def __init__(self, kernel_size=7):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"SpatialAttention: kernel_size must be odd, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, input):
        pooled = cat([mean(input, 1, keepdim=True), amax(input, 1, keepdim=True)], 1)
        return input * sigmoid(self.conv(pooled))


class CBAM(nn.Module):
    """Convolutional Block Attention Module (Woo et al. 2018, "CBAM: Convolutional Block
    Attention Module"): channel attention, then spatial attention, each multiplying the input.

    ``channels`` C, ``reduction`` r (16), ``kernel_size`` of the spatial conv (7). Parameters:
    2 * C * (C // r) + C + C // r + 2 * k * k. (N, C, H, W) -> same shape.
    """

    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__()
        self.channel_attention = ChannelAttention(channels, reduction)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, input):
        return self.spatial_attention(self.channel_attention(input))


class BasicConv2d(nn.Module):
    """torchvision GoogLeNet's unit: Conv2d(bias=False, **kwargs) -> BatchNorm2d(eps=1e-3) ->
    ReLU."""

    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """GoogLeNet's Inception module (Szegedy et al. 2015, "Going Deeper with Convolutions",
    fig. 2b), with torchvision's structure and keys (branch1..branch4).

    Four branches, concatenated along channels: 1x1 (``ch1x1``); 1x1 (``ch3x3red``) -> 3x3
    (``ch3x3``); 1x1 (``ch5x5red``) -> k x k (``ch5x5``); 3x3 max-pool (stride 1) -> 1x1
    (``pool_proj``). Every conv is a :class:`BasicConv2d`. ``branch3_kernel_size`` k is 5 as in the
    paper; torchvision's GoogLeNet uses 3 (pass 3 to load its weights).
    Input (N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W).
    """

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                 branch3_kernel_size=5):
        super().__init__()
        k = branch3_kernel_size
        if k % 2 != 1:
            raise ValueError(f"Inception: branch3_kernel_size must be odd, got {k}")
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                                     BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, kernel_size=1),
                                     BasicConv2d(ch5x5red, ch5x5, kernel_size=k, padding=k // 2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_channels, pool_proj, kernel_size=1))

    def forward(self, x):
        return cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


def stochastic_depth(input, p, mode, training=True):
    """Stochastic depth / drop path (Huang et al. 2016, "Deep Networks with Stochastic Depth";
    ``torchvision.ops.stochastic_depth``): zero the residual branch ``input`` with probability
    ``p``, per sample (``mode="row"``: one draw per row of the batch) or for the whole batch
    (``mode="batch"``), and scale the kept values by 1 / (1 - p). Returns ``input`` itself when
    not ``training`` or p == 0. Raises ValueError for p outside [0, 1] or another mode.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"stochastic_depth: drop probability p has to be between 0 and 1, "
                         f"but got {p}")
    if mode not in ("batch", "row"):
        raise ValueError(f"stochastic_depth: mode has to be either 'batch' or 'row', but got "
                         f"{mode!r}")
    if not training or p == 0.0:
        return input
    survival = 1.0 - p
    shape = (input.shape[0],) + (1,) * (input.ndim - 1) if mode == "row" else (1,) * input.ndim
    keep = _random.default_generator().random(shape) < survival
    scale = input.dtype.type(1.0 / survival) if survival > 0.0 else input.dtype.type(0)
    return input * np.where(keep, scale, input.dtype.type(0))


class StochasticDepth(nn.Module):
    """Module form of :func:`stochastic_depth` (``torchvision.ops.StochasticDepth``); active in
    training mode only."""

    def __init__(self, p, mode):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"StochasticDepth: p has to be between 0 and 1, but got {p}")
        if mode not in ("batch", "row"):
            raise ValueError(f"StochasticDepth: mode has to be 'batch' or 'row', got {mode!r}")
        self.p = float(p)
        self.mode = mode

    def forward(self, input):
        return stochastic_depth(input, self.p, self.mode, self.training)

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode}"


class Permute(nn.Module):
    """``input.permute(*dims)`` as a layer (``torchvision.ops.Permute``)."""

    def __init__(self, dims):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x):
        return x.permute(*self.dims)

    def extra_repr(self):
        return f"dims={list(self.dims)}"


class ConvNeXtBlock(nn.Module):
    """The ConvNeXt block (Liu et al. 2022, "A ConvNet for the 2020s", fig. 4), with
    torchvision's ``CNBlock`` structure and keys (``block.0`` depthwise conv, ``block.2``
    LayerNorm, ``block.3``/``block.5`` Linear, ``layer_scale``).

    x + drop_path(gamma * pw2(gelu(pw1(layernorm(dwconv7x7(x)))))): the norm and the two
    pointwise Linear layers (dim -> 4 dim -> dim) run channels-last, between two
    :class:`Permute` layers. ``layer_scale`` (the paper's gamma, shape (dim, 1, 1)) starts at
    ``layer_scale`` (1e-6); ``stochastic_depth_prob`` is the drop-path probability (row mode).
    Parameters: 8 dim^2 + 58 dim (dwconv 49 dim + dim, norm 2 dim, linears 8 dim^2 + 5 dim,
    gamma dim). (N, dim, H, W) -> same shape.
    """

    def __init__(self, dim, layer_scale=1e-6, stochastic_depth_prob=0.0):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim),
            Permute([0, 2, 3, 1]),
            nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, dim),
            Permute([0, 3, 1, 2]),
        )
        self.layer_scale = nn.Parameter(np.full((dim, 1, 1), layer_scale, dtype=np.float32))
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")

    def forward(self, input):
        return input + self.stochastic_depth(self.layer_scale * self.block(input))


def _initialize(model, conv_mode="fan_out", linear_init=None):
    """torchvision's initialization, shared by the zoo: He-normal conv weights (Kaiming He et
    al. 2015, gain sqrt(2), fans by ``conv_mode``) with zero biases; ``linear_init(layer)`` for
    each Linear when given (PyTorch's default otherwise). Norm layers keep their default (1, 0)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=conv_mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif linear_init is not None and isinstance(m, nn.Linear):
            linear_init(m)
