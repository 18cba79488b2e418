"""GoogLeNet (Szegedy et al. 2015, "Going Deeper with Convolutions"), in torchvision's layout
(Inception v1 with batch norm), with the optional auxiliary classifiers."""
from collections import namedtuple

import numpy as np

from .. import nn
from ..nn import functional as F
from ..ops import flatten
from .blocks import BasicConv2d, Inception

__all__ = ["GoogLeNet", "GoogLeNetOutputs", "InceptionAux", "googlenet"]

# what a GoogLeNet with auxiliary classifiers returns in training mode (torchvision's order)
GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])

# torchvision's transform_input: from ImageNet normalization (mean, std) to the (x - 0.5) / 0.5
# scaling of the original Inception weights, x' = x * std / 0.5 + (mean - 0.5) / 0.5
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)


class InceptionAux(nn.Module):
    """GoogLeNet's auxiliary classifier (the paper's sec. 5, torchvision's layout): adaptive
    average pool to 4x4 -> ``conv`` (:class:`BasicConv2d`, 1x1, 128) -> ``fc1``
    Linear(2048, 1024) -> ReLU -> Dropout(``dropout``) -> ``fc2`` Linear(1024, num_classes).
    Input (N, in_channels, H, W), any H, W >= 1; output (N, num_classes)."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = flatten(self.conv(F.adaptive_avg_pool2d(x, 4)), 1)
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """torchvision's GoogLeNet (the paper's table 1 with a batch-normalized
    :class:`BasicConv2d` for every conv), its module names:

    ``conv1`` 7x7/2 (64) -> ``maxpool1`` 3x3/2 -> ``conv2`` 1x1 (64) -> ``conv3`` 3x3 (192) ->
    ``maxpool2`` -> ``inception3a``, ``3b`` -> ``maxpool3`` -> ``inception4a`` .. ``4e`` ->
    ``maxpool4`` 2x2/2 -> ``inception5a``, ``5b`` -> ``avgpool`` (global) -> ``dropout`` ->
    ``fc`` Linear(1024, num_classes); every max-pool rounds up (ceil_mode). The Inception
    modules are :class:`~minicnn.models.blocks.Inception` with ``branch3_kernel_size=3``: the
    "5x5" branch is a 3x3 conv in torchvision's model (a known deviation from the paper, kept
    so that its weights load).

    ``aux_logits``: the two auxiliary classifiers ``aux1`` (after inception4a) and ``aux2``
    (after inception4d), :class:`InceptionAux`; they run in training mode only, where forward
    returns ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)`` (the paper weighs each
    auxiliary loss by 0.3). Without them, or in eval mode, forward returns the logits.
    ``transform_input``: rescale ImageNet-normalized input to the [-1, 1] scaling torchvision's
    pretrained weights expect (3 channels only). ``dropout`` before ``fc``, ``dropout_aux`` in
    the auxiliary heads.

    ``small_input=True`` (CIFAR, 32x32): ``conv1`` becomes 3x3 stride 1 (padding 1) and
    ``maxpool1`` an Identity (total stride 8 instead of 32: the inception3/4/5 stages see 16x16,
    8x8, 4x4 maps); every key stays, ``conv1.conv.weight`` being (64, C, 3, 3).

    Input (N, in_channels, H, W), 224x224 for ImageNet (H, W >= 15; >= 4 with small_input);
    output (N, num_classes). Parameters for 1000 classes, 3 channels: 6,624,904 without the
    auxiliary classifiers (torchvision's published googlenet), 13,004,888 with them.
    Initialization as torchvision: conv and linear weights N(0, 0.01) truncated to [-2, 2],
    BN (1, 0), linear biases PyTorch's default.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
                 transform_input: bool = False, dropout: float = 0.2, dropout_aux: float = 0.7,
                 small_input: bool = False) -> None:
        super().__init__()
        if transform_input and in_channels != 3:
            raise ValueError(f"GoogLeNet: transform_input needs in_channels=3 (RGB), got "
                             f"in_channels={in_channels}")
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        if small_input:
            self.conv1 = BasicConv2d(in_channels, 64, kernel_size=3, stride=1, padding=1)
            self.maxpool1 = nn.Identity()
        else:
            self.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
            self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        def inception(*channels):
            return Inception(*channels, branch3_kernel_size=3)

        self.inception3a = inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = inception(832, 384, 192, 384, 48, 128, 128)
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout_aux)
            self.aux2 = InceptionAux(528, num_classes, dropout_aux)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)

    def forward(self, x):
        if self.transform_input:
            dt = x.dtype
            x = x * (_IMAGENET_STD / 0.5).astype(dt) + ((_IMAGENET_MEAN - 0.5) / 0.5).astype(dt)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux = self.training and self.aux_logits
        aux1 = self.aux1(x) if aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if aux else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(flatten(self.avgpool(x), 1)))
        return GoogLeNetOutputs(x, aux2, aux1) if aux else x


def googlenet(num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
              transform_input: bool = False, small_input: bool = False, dropout: float = 0.2,
              dropout_aux: float = 0.7) -> GoogLeNet:
    """GoogLeNet as torchvision's ``googlenet()`` without pretrained weights (whose defaults
    are ``aux_logits=True``, ``transform_input=False``): 13,004,888 parameters for 1000 classes
    with the auxiliary classifiers, 6,624,904 with ``aux_logits=False`` (torchvision's published
    count, 5,610,154 for 10 classes). Input (N, in_channels, 224, 224) (``small_input`` for
    32x32 CIFAR images); output (N, num_classes), or ``GoogLeNetOutputs`` in training mode with
    ``aux_logits``. See :class:`GoogLeNet`."""
    return GoogLeNet(num_classes, in_channels, aux_logits, transform_input, dropout, dropout_aux,
                     small_input)
