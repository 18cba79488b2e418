"""Residual networks (He, Zhang, Ren & Sun 2016, "Deep Residual Learning for Image
Recognition"): torchvision's ImageNet ResNet-18/34/50/101/152, ResNeXt-50 32x4d (Xie et al. 2017)
and Wide ResNet-50-2 (Zagoruyko & Komodakis 2016), and the paper's CIFAR ResNet-20..110.
The CIFAR wide ResNets (pre-activation blocks) are in :mod:`minicnn.models.wide_resnet`."""
from .. import nn
from ..nn import functional as F
from ..ops import flatten
from .blocks import _initialize

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "ZeroPadShortcut", "CifarResNet", "resnet18",
           "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
           "wide_resnet50_2", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
           "PlainBlock", "plain20", "plain32", "plain44", "plain56"]


def _projection(in_channels, out_channels, stride):
    """Shortcut option B: 1x1 conv (stride) + BN; torchvision's ``downsample``."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                         nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers and a shortcut (the paper's fig. 2 left; torchvision's names):
    relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), shortcut = ``downsample`` or identity.
    ``stride`` applies to conv1. (N, inplanes, H, W) -> (N, planes, H / stride, W / stride).
    ``groups``/``base_width`` exist for :class:`ResNet`'s sake: like torchvision, anything but
    1 and 64 raises ValueError."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(f"BasicBlock only supports groups=1 and base_width=64, got "
                             f"groups={groups}, base_width={base_width}")
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 (stride) -> 1x1 (expand x4) conv-BN layers and a shortcut (the
    paper's fig. 5 right, with the stride on the 3x3 as torchvision's "ResNet v1.5").
    (N, inplanes, H, W) -> (N, 4 planes, H / stride, W / stride).

    The inner width is ``int(planes * base_width / 64) * groups`` and the 3x3 conv has
    ``groups`` groups (torchvision's): ``groups=1, base_width=64`` is ResNet's bottleneck,
    ``groups=32, base_width=4`` ResNeXt's (Xie et al. 2017, fig. 3c: 32 paths of width 4 at
    planes = 64), ``base_width=128`` Wide ResNet-50-2's (twice the inner width)."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _zero_init_last_bn(model):
    for m in model.modules():
        if isinstance(m, Bottleneck):
            nn.init.zeros_(m.bn3.weight)
        elif isinstance(m, BasicBlock):
            nn.init.zeros_(m.bn2.weight)


class ResNet(nn.Module):
    """torchvision's ImageNet ResNet: conv1 7x7/2 -> bn1 -> relu -> maxpool 3x3/2 ->
    layer1..layer4 (64, 128, 256, 512 planes; stride 1, 2, 2, 2) -> global average pool -> fc.

    ``block``: :class:`BasicBlock` or :class:`Bottleneck`; ``layers``: blocks per stage. The
    first block of a stage whose shape changes gets ``downsample`` = 1x1 conv + BN (option B).
    Keys are torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer2.0.downsample.0``,
    ``fc``), so its pretrained weights load by name.

    ``small_input=True`` adapts it to 32x32 images (as is usual for CIFAR): conv1 becomes 3x3
    stride 1 (padding 1) and the max-pool is dropped (``maxpool`` is an Identity), so layer4 sees
    4x4 maps instead of 1x1; every other layer (and every key) stays, conv1's weight being
    (64, C, 3, 3). Input (N, in_channels, H, W); output (N, num_classes).

    ``groups`` and ``width_per_group`` go to every :class:`Bottleneck` (ResNeXt, wide ResNet);
    :class:`BasicBlock` accepts only 1 and 64.

    Initialization as torchvision: He-normal (fan_out) convs, BN (1, 0), default Linear;
    ``zero_init_residual`` zeroes each block's last BN weight (Goyal et al. 2017).
    """

    def __init__(self, block, layers, num_classes=1000, in_channels=3, zero_init_residual=False,
                 small_input=False, groups=1, width_per_group=64):
        super().__init__()
        self.groups, self.base_width = groups, width_per_group
        if small_input:
            self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, 2, 1)
        self.inplanes = 64
        self.layer1 = self._make_layer(block, 64, layers[0], 1)
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        _initialize(self)
        if zero_init_residual:
            _zero_init_last_bn(self)

    def _make_layer(self, block, planes, blocks, stride):
        out = planes * block.expansion
        downsample = None
        if stride != 1 or self.inplanes != out:
            downsample = _projection(self.inplanes, out, stride)
        width = {"groups": self.groups, "base_width": self.base_width}
        layers = [block(self.inplanes, planes, stride, downsample, **width)]
        self.inplanes = out
        layers += [block(out, planes, **width) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(flatten(self.avgpool(x), 1))


def resnet18(num_classes=1000, in_channels=3, small_input=False, zero_init_residual=False):
    """ResNet-18 (BasicBlock, [2, 2, 2, 2]): 11,689,512 parameters for 1000 classes, 3 channels
    (11,181,642 for 10 classes). ImageNet input 224x224; 32x32 works (``small_input`` for CIFAR)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, zero_init_residual,
                  small_input)


def resnet34(num_classes=1000, in_channels=3, small_input=False, zero_init_residual=False):
    """ResNet-34 (BasicBlock, [3, 4, 6, 3]): 21,797,672 parameters for 1000 classes."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, zero_init_residual,
                  small_input)


def resnet50(num_classes=1000, in_channels=3, small_input=False, zero_init_residual=False):
    """ResNet-50 (Bottleneck, [3, 4, 6, 3]): 25,557,032 parameters for 1000 classes."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, zero_init_residual,
                  small_input)


def resnet101(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
              zero_init_residual: bool = False) -> ResNet:
    """ResNet-101 (Bottleneck, [3, 4, 23, 3]; He et al. 2016, table 1): 44,549,160 parameters
    for 1000 classes, 3 channels (torchvision's). Input (N, in_channels, 224, 224) (32x32 works;
    ``small_input`` for CIFAR); output (N, num_classes)."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, in_channels, zero_init_residual,
                  small_input)


def resnet152(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
              zero_init_residual: bool = False) -> ResNet:
    """ResNet-152 (Bottleneck, [3, 8, 36, 3]; He et al. 2016, table 1): 60,192,808 parameters
    for 1000 classes, 3 channels (torchvision's). Input (N, in_channels, 224, 224) (32x32 works;
    ``small_input`` for CIFAR); output (N, num_classes)."""
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes, in_channels, zero_init_residual,
                  small_input)


def resnext50_32x4d(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
                    zero_init_residual: bool = False) -> ResNet:
    """ResNeXt-50 32x4d (Xie, Girshick, Dollar, Tu & He 2017, "Aggregated Residual
    Transformations for Deep Neural Networks", table 1): ResNet-50's layout with grouped
    bottlenecks of cardinality 32 and width 4 per group (inner widths 128, 256, 512, 1024).
    25,028,904 parameters for 1000 classes, 3 channels (torchvision's). Input
    (N, in_channels, 224, 224) (``small_input`` for 32x32); output (N, num_classes)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, zero_init_residual,
                  small_input, groups=32, width_per_group=4)


def wide_resnet50_2(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
                    zero_init_residual: bool = False) -> ResNet:
    """Wide ResNet-50-2 (Zagoruyko & Komodakis 2016, "Wide Residual Networks"; torchvision's
    ImageNet variant): ResNet-50 with every bottleneck's inner width doubled (128, 256, 512,
    1024; the block outputs stay 256 .. 2048). 68,883,240 parameters for 1000 classes,
    3 channels. Input (N, in_channels, 224, 224) (``small_input`` for 32x32); output
    (N, num_classes). The CIFAR WRN-28-10 is :func:`minicnn.models.wide_resnet.wrn_28_10`."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, zero_init_residual,
                  small_input, width_per_group=128)


class ZeroPadShortcut(nn.Module):
    """Shortcut option A of He et al. 2016 (sec. 3.3, 4.2): the identity, subsampled by
    ``stride`` (every stride-th row and column) and extended with zero channels from
    ``in_channels`` to ``out_channels`` (appended after the existing ones). No parameters."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"ZeroPadShortcut: out_channels ({out_channels}) must be >= "
                             f"in_channels ({in_channels})")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x):
        s = self.stride
        return F.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, 0, self.out_channels - self.in_channels))

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class PlainBlock(BasicBlock):
    """:class:`BasicBlock` without its shortcut: relu(bn2(conv2(relu(bn1(conv1(x)))))), the
    "plain" counterpart of He et al. 2016 (sec. 4.1: the same layers, batch norm after every
    conv, no identity). (N, inplanes, H, W) -> (N, planes, H / stride, W / stride)."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        if downsample is not None:
            raise ValueError("PlainBlock has no shortcut: downsample must be None")
        super().__init__(inplanes, planes, stride)

    def forward(self, x):
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


class CifarResNet(nn.Module):
    """The CIFAR-10 ResNets of He et al. 2016, sec. 4.2: conv1 3x3 (16) -> bn1 -> relu ->
    layer1, layer2, layer3 (n :class:`BasicBlock` each, 16, 32, 64 channels on 32x32, 16x16,
    8x8 maps) -> global average pool -> fc; 6n + 2 weighted layers (``depth``).

    ``shortcut="A"`` (the paper's choice for these models): parameter-free
    :class:`ZeroPadShortcut` where the shape changes; ``"B"``: 1x1 conv + BN projections there
    (``downsample.0``/``.1``, 2,752 more parameters); ``"none"``: the paper's plain network,
    :class:`PlainBlock` everywhere (no shortcut; as many parameters as option A). Keys follow
    torchvision's ResNet (``conv1``, ``layer2.0.conv1``, ``fc``). Input (N, in_channels, 32,
    32) (any H, W >= 4 works); output (N, num_classes). Parameters for 10 classes with option
    A, as the paper's table 6: resnet20 269,722 (0.27M), resnet32 464,154, resnet44 658,586,
    resnet56 853,018, resnet110 1,727,962 (1.7M). Initialization: He-normal (fan_out) convs,
    default Linear.
    """

    def __init__(self, depth, num_classes=10, in_channels=3, shortcut="A"):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CifarResNet: depth must be 6n + 2 (20, 32, 44, 56, 110, ...), "
                             f"got {depth}")
        if shortcut not in ("A", "B", "none"):
            raise ValueError(f"CifarResNet: shortcut must be 'A', 'B' or 'none', got "
                             f"{shortcut!r}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        channels = 16
        for i, planes in enumerate((16, 32, 64)):
            stride = 1 if i == 0 else 2
            if shortcut == "none":
                blocks: list[nn.Module] = [PlainBlock(channels, planes, stride)]
                blocks += [PlainBlock(planes, planes) for _ in range(1, n)]
            else:
                downsample = None
                if stride != 1 or channels != planes:
                    downsample = (ZeroPadShortcut(channels, planes, stride) if shortcut == "A"
                                  else _projection(channels, planes, stride))
                blocks = [BasicBlock(channels, planes, stride, downsample)]
                blocks += [BasicBlock(planes, planes) for _ in range(1, n)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            channels = planes
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        _initialize(self)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(flatten(self.avgpool(x), 1))


def resnet20(num_classes=10, in_channels=3, shortcut="A"):
    """CIFAR ResNet-20 (n = 3): 269,722 parameters (0.27M) for 10 classes, option A."""
    return CifarResNet(20, num_classes, in_channels, shortcut)


def resnet32(num_classes=10, in_channels=3, shortcut="A"):
    """CIFAR ResNet-32 (n = 5): 464,154 parameters for 10 classes, option A."""
    return CifarResNet(32, num_classes, in_channels, shortcut)


def resnet44(num_classes=10, in_channels=3, shortcut="A"):
    """CIFAR ResNet-44 (n = 7): 658,586 parameters for 10 classes, option A."""
    return CifarResNet(44, num_classes, in_channels, shortcut)


def resnet56(num_classes=10, in_channels=3, shortcut="A"):
    """CIFAR ResNet-56 (n = 9): 853,018 parameters for 10 classes, option A."""
    return CifarResNet(56, num_classes, in_channels, shortcut)


def resnet110(num_classes=10, in_channels=3, shortcut="A"):
    """CIFAR ResNet-110 (n = 18): 1,727,962 parameters (1.7M) for 10 classes, option A."""
    return CifarResNet(110, num_classes, in_channels, shortcut)


def plain20(num_classes=10, in_channels=3):
    """The plain 20-layer CIFAR network of He et al. 2016 (sec. 4.2, fig. 6 left): ResNet-20's
    layers without shortcuts, batch norm after every conv. 269,722 parameters for 10 classes."""
    return CifarResNet(20, num_classes, in_channels, shortcut="none")


def plain32(num_classes=10, in_channels=3):
    """The plain 32-layer CIFAR network (He et al. 2016, fig. 6): 464,154 parameters."""
    return CifarResNet(32, num_classes, in_channels, shortcut="none")


def plain44(num_classes=10, in_channels=3):
    """The plain 44-layer CIFAR network (He et al. 2016, fig. 6): 658,586 parameters."""
    return CifarResNet(44, num_classes, in_channels, shortcut="none")


def plain56(num_classes=10, in_channels=3):
    """The plain 56-layer CIFAR network (He et al. 2016, fig. 6; its training error is higher
    than plain-20's: the degradation problem). 853,018 parameters for 10 classes."""
    return CifarResNet(56, num_classes, in_channels, shortcut="none")
