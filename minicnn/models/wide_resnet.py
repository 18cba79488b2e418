"""The CIFAR wide residual networks WRN-d-k (Zagoruyko & Komodakis 2016, "Wide Residual
Networks"): pre-activation basic blocks, k times wider than the CIFAR ResNets of He et al.

They live apart from :mod:`minicnn.models.resnet`, whose blocks are post-activation
(conv -> BN -> ReLU, BN in every shortcut): these are BN -> ReLU -> conv with a bare 1x1 conv
shortcut and dropout between the two convs, and have no torchvision counterpart to mirror.
torchvision's ImageNet ``wide_resnet50_2`` (a wider bottleneck ResNet-50) is in
:mod:`minicnn.models.resnet`.
"""
from .. import nn
from ..ops import flatten
from .blocks import _initialize

__all__ = ["WideBasicBlock", "WideResNet", "wide_resnet_cifar", "wrn_28_10"]


class WideBasicBlock(nn.Module):
    """The paper's pre-activation block B(3, 3) with dropout (fig. 1d):
    conv2(dropout(relu(bn2(conv1(relu(bn1(x))))))) + shortcut, the convs 3x3 without bias and
    ``stride`` on conv1.

    When the shape changes (``stride`` != 1 or ``inplanes`` != ``planes``) the shortcut is
    ``downsample`` = 1x1 conv (stride, no bias, no BN) applied to relu(bn1(x)), the activated
    input shared with the residual branch, as the authors' code; otherwise it is x itself.
    ``dropout`` is the probability of :class:`~minicnn.nn.Dropout` (the paper's 0.3 on CIFAR;
    ``dropout`` 0 keeps the layer as an Identity). (N, inplanes, H, W) ->
    (N, planes, H / stride, W / stride).
    """

    def __init__(self, inplanes, planes, stride=1, dropout=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Conv2d(inplanes, planes, 1, stride, bias=False)

    def forward(self, x):
        act = self.relu(self.bn1(x))
        out = self.conv2(self.dropout(self.relu(self.bn2(self.conv1(act)))))
        return out + (x if self.downsample is None else self.downsample(act))


class WideResNet(nn.Module):
    """WRN-``depth``-``widen_factor`` for 32x32 images (Zagoruyko & Komodakis 2016, table 1):
    conv1 3x3 (16) -> layer1, layer2, layer3 (n = (depth - 4) / 6 :class:`WideBasicBlock` each;
    16k, 32k, 64k channels on 32x32, 16x16, 8x8 maps; stride 1, 2, 2) -> bn -> relu -> global
    average pool -> fc. ``depth`` counts the convolutions (6n + 2) plus the two 1x1 shortcut
    convs of layer2/layer3, as the paper does; layer1's shortcut (16 -> 16k) is a third one
    unless k = 1.

    Parameters for 10 classes (the paper's table 4/5 figures in parentheses): WRN-16-4 2,748,890
    (2.7M), WRN-16-8 10,961,370 (11.0M), WRN-22-8 17,158,106 (17.2M), WRN-28-10 36,479,194
    (36.5M), WRN-40-4 8,949,210 (8.9M), WRN-40-10 55,841,754 (55.8M).
    Keys follow torchvision's ResNet where they can (``conv1``, ``layer2.0.conv1``,
    ``layer2.0.downsample``, ``fc``; ``bn`` is the final norm). Input (N, in_channels, 32, 32)
    (any H, W >= 4 works); output (N, num_classes). Initialization: He-normal (fan_out) convs,
    BN (1, 0), PyTorch's default Linear.

    Raises ValueError for a depth that is not 6n + 4 (n >= 1), a widen_factor < 1 or a dropout
    outside [0, 1).
    """

    def __init__(self, depth=28, widen_factor=10, dropout=0.0, num_classes=10, in_channels=3):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WideResNet: depth must be 6n + 4 (10, 16, 22, 28, 40, ...), "
                             f"got {depth}")
        if int(widen_factor) != widen_factor or widen_factor < 1:
            raise ValueError(f"WideResNet: widen_factor must be a positive integer, got "
                             f"{widen_factor}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"WideResNet: dropout must be in [0, 1), got {dropout}")
        n, k = (depth - 4) // 6, int(widen_factor)
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        channels = 16
        for i, planes in enumerate((16 * k, 32 * k, 64 * k)):
            blocks = [WideBasicBlock(channels, planes, 1 if i == 0 else 2, dropout)]
            blocks += [WideBasicBlock(planes, planes, 1, dropout) for _ in range(1, n)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            channels = planes
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        _initialize(self)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        return self.fc(flatten(self.avgpool(self.relu(self.bn(x))), 1))


def wide_resnet_cifar(depth: int = 28, widen_factor: int = 10, dropout: float = 0.0,
                      num_classes: int = 10, in_channels: int = 3) -> WideResNet:
    """WRN-``depth``-``widen_factor`` (:class:`WideResNet`, see there for the parameter counts);
    e.g. ``wide_resnet_cifar(16, 8)`` is WRN-16-8. Input (N, in_channels, 32, 32); output
    (N, num_classes)."""
    return WideResNet(depth, widen_factor, dropout, num_classes, in_channels)


def wrn_28_10(num_classes: int = 10, in_channels: int = 3, dropout: float = 0.0) -> WideResNet:
    """WRN-28-10 (Zagoruyko & Komodakis 2016): depth 28 (4 blocks per group), widen factor 10
    (160, 320, 640 channels); 36,479,194 parameters for 10 classes, 3 channels (the paper's
    36.5M; 36,536,884 for 100 classes). The paper's best CIFAR results use ``dropout=0.3``.
    Input (N, in_channels, 32, 32); output (N, num_classes)."""
    return WideResNet(28, 10, dropout, num_classes, in_channels)
