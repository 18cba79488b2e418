"""DenseNet (Huang, Liu, van der Maaten & Weinberger 2017, "Densely Connected Convolutional
Networks"), with torchvision's structure and keys."""
from collections import OrderedDict

from .. import nn
from ..nn import functional as F
from ..ops import cat, flatten
from .blocks import _initialize

__all__ = ["DenseLayer", "DenseBlock", "Transition", "DenseNet", "densenet", "densenet121"]


class DenseLayer(nn.Module):
    """The bottleneck composite function H (paper sec. 3, "DenseNet-B"): on the concatenation
    of all earlier feature maps, BN -> ReLU -> 1x1 conv (bn_size * growth_rate) -> BN -> ReLU ->
    3x3 conv (growth_rate), then dropout ``drop_rate`` in training. ``forward`` takes the list
    of earlier maps (N, C_i, H, W) and returns the new (N, growth_rate, H, W) map."""

    def __init__(self, num_input_features, growth_rate, bn_size, drop_rate=0.0):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.drop_rate = float(drop_rate)

    def forward(self, features):
        x = cat(features, 1) if isinstance(features, (list, tuple)) else features
        x = self.conv1(self.relu1(self.norm1(x)))
        x = self.conv2(self.relu2(self.norm2(x)))
        if self.drop_rate > 0:
            x = F.dropout(x, self.drop_rate, self.training)
        return x


class DenseBlock(nn.ModuleDict):
    """``num_layers`` :class:`DenseLayer` (named denselayer1, denselayer2, ...), each fed with
    the block input and all earlier outputs; returns their concatenation,
    (N, C, H, W) -> (N, C + num_layers * growth_rate, H, W)."""

    def __init__(self, num_layers, num_input_features, bn_size, growth_rate, drop_rate=0.0):
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}",
                            DenseLayer(num_input_features + i * growth_rate, growth_rate,
                                       bn_size, drop_rate))

    def forward(self, init_features):
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return cat(features, 1)


class Transition(nn.Sequential):
    """Between dense blocks: BN -> ReLU -> 1x1 conv -> 2x2 average pool (paper sec. 3,
    "transition layers"); children norm, relu, conv, pool."""

    def __init__(self, num_input_features, num_output_features):
        super().__init__(OrderedDict([
            ("norm", nn.BatchNorm2d(num_input_features)),
            ("relu", nn.ReLU()),
            ("conv", nn.Conv2d(num_input_features, num_output_features, 1, bias=False)),
            ("pool", nn.AvgPool2d(2, 2)),
        ]))


class DenseNet(nn.Module):
    """DenseNet-BC (torchvision's ``DenseNet``; keys ``features.conv0.weight``,
    ``features.denseblock1.denselayer1.norm1.weight``, ``features.transition1.conv.weight``,
    ``features.norm5.*``, ``classifier.*``).

    features: conv0 7x7/2 (``num_init_features``) -> norm0 -> relu0 -> pool0 (3x3/2 max), then
    one :class:`DenseBlock` per entry of ``block_config``, separated by :class:`Transition` layers
    that halve the channels (compression 0.5) and the resolution, then norm5; the head is
    ReLU -> global average pool -> ``classifier`` Linear. ``growth_rate`` k: channels each layer
    adds; ``bn_size``: bottleneck width factor (4k); ``drop_rate``: dropout after each layer.

    ``small_input=True`` (32x32 images): conv0 becomes 3x3 stride 1 and pool0 is dropped (same
    keys otherwise). Input (N, in_channels, H, W), 224x224 for ImageNet (32x32 works either
    way); output (N, num_classes). Initialization as torchvision: He-normal (fan_in) convs, BN
    (1, 0), zero linear bias.
    """

    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64,
                 bn_size=4, drop_rate=0.0, num_classes=1000, in_channels=3, small_input=False):
        super().__init__()
        if small_input:
            stem = [("conv0", nn.Conv2d(in_channels, num_init_features, 3, 1, 1, bias=False))]
        else:
            stem = [("conv0", nn.Conv2d(in_channels, num_init_features, 7, 2, 3, bias=False))]
        stem += [("norm0", nn.BatchNorm2d(num_init_features)), ("relu0", nn.ReLU())]
        if not small_input:
            stem.append(("pool0", nn.MaxPool2d(3, 2, 1)))
        self.features = nn.Sequential(OrderedDict(stem))
        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}", DenseBlock(
                num_layers, channels, bn_size, growth_rate, drop_rate))
            channels += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}",
                                         Transition(channels, channels // 2))
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.classifier = nn.Linear(channels, num_classes)
        _initialize(self, conv_mode="fan_in", linear_init=lambda m: nn.init.zeros_(m.bias))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(F.relu(self.features(x)), 1)
        return self.classifier(flatten(x, 1))


def densenet(growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, bn_size=4,
             drop_rate=0.0, num_classes=1000, in_channels=3, small_input=False):
    """A :class:`DenseNet` of any configuration (the defaults are DenseNet-121's)."""
    return DenseNet(growth_rate, block_config, num_init_features, bn_size, drop_rate, num_classes,
                    in_channels, small_input)


def densenet121(num_classes=1000, in_channels=3, small_input=False, drop_rate=0.0):
    """DenseNet-121 (k = 32, blocks (6, 12, 24, 16), 64 initial features): 7,978,856
    parameters for 1000 classes, 3 channels."""
    return DenseNet(32, (6, 12, 24, 16), 64, 4, drop_rate, num_classes, in_channels, small_input)
