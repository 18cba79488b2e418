"""EfficientNet (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks"), with torchvision's structure and keys."""
import copy
import math
from functools import partial

from .. import nn
from ..ops import flatten
from .blocks import Conv2dNormActivation, SqueezeExcitation, StochasticDepth, _initialize
from .mobilenet import _make_divisible

__all__ = ["MBConvConfig", "MBConv", "EfficientNet", "efficientnet_b0"]


class MBConvConfig:
    """One stage of the paper's table 1: expand ratio, kernel, stride of its first block, input
    and output channels and block count; channels scaled by ``width_mult`` (rounded to multiples
    of 8) and the count by ``depth_mult`` (rounded up), as torchvision's ``MBConvConfig``."""

    def __init__(self, expand_ratio, kernel, stride, input_channels, out_channels, num_layers,
                 width_mult=1.0, depth_mult=1.0):
        self.expand_ratio = expand_ratio
        self.kernel = kernel
        self.stride = stride
        self.input_channels = _make_divisible(input_channels * width_mult, 8)
        self.out_channels = _make_divisible(out_channels * width_mult, 8)
        self.num_layers = math.ceil(num_layers * depth_mult)


class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-and-excitation (torchvision's ``MBConv``):
    ``block`` = [1x1 expand -> BN -> SiLU (when expand_ratio > 1)] -> k x k depthwise (stride)
    -> BN -> SiLU -> SqueezeExcitation (squeeze to max(1, input_channels // 4), SiLU, Sigmoid)
    -> 1x1 project -> BN; when stride == 1 and the channels match, the input is added after
    :class:`StochasticDepth` (row mode, probability ``stochastic_depth_prob``) on the branch."""

    def __init__(self, cnf, stochastic_depth_prob, norm_layer):
        super().__init__()
        if cnf.stride not in (1, 2):
            raise ValueError(f"MBConv: stride should be 1 or 2, got {cnf.stride}")
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        expanded = _make_divisible(cnf.input_channels * cnf.expand_ratio, 8)
        layers = []
        if expanded != cnf.input_channels:
            layers.append(Conv2dNormActivation(cnf.input_channels, expanded, 1,
                                               norm_layer=norm_layer, activation_layer=nn.SiLU))
        layers += [
            Conv2dNormActivation(expanded, expanded, cnf.kernel, cnf.stride, groups=expanded,
                                 norm_layer=norm_layer, activation_layer=nn.SiLU),
            SqueezeExcitation(expanded, max(1, cnf.input_channels // 4), activation=nn.SiLU),
            Conv2dNormActivation(expanded, cnf.out_channels, 1, norm_layer=norm_layer,
                                 activation_layer=None),
        ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")
        self.out_channels = cnf.out_channels

    def forward(self, input):
        result = self.block(input)
        if self.use_res_connect:
            return self.stochastic_depth(result) + input
        return result


def _linear_init(m):
    bound = 1.0 / math.sqrt(m.out_features)
    nn.init.uniform_(m.weight, -bound, bound)
    nn.init.zeros_(m.bias)


class EfficientNet(nn.Module):
    """EfficientNet-B* (torchvision's ``EfficientNet``, same keys: ``features.0.0.weight``,
    ``features.1.0.block.0.0.weight``, ``features.2.0.block.2.fc1.weight``,
    ``classifier.1.weight``, ...).

    features: 3x3/2 conv -> BN -> SiLU, seven stages of :class:`MBConv` (B0's table 1, scaled
    by ``width_mult``/``depth_mult``), 1x1 conv to 4 x the last width (1280 for B0) -> BN ->
    SiLU; then global average pooling and classifier = Dropout(``dropout``) +
    Linear(1280, num_classes). Block i of the T blocks drops its branch with probability
    ``stochastic_depth_prob * i / T``.

    Batch norm: ``norm_eps`` and ``norm_momentum`` default to BatchNorm2d's (1e-5, 0.1), as
    torchvision's B0-B4; its B5-B7 (ported TensorFlow weights) use 1e-3 and 0.01.
    Input (N, in_channels, H, W), 224x224 for B0 (32x32 works: total stride 32); output
    (N, num_classes). Initialization as torchvision: He-normal (fan_out) convs,
    U(-1/sqrt(num_classes), 1/sqrt(num_classes)) linear weights, zero biases.
    """

    def __init__(self, width_mult=1.0, depth_mult=1.0, dropout=0.2, stochastic_depth_prob=0.2,
                 num_classes=1000, in_channels=3, norm_eps=1e-5, norm_momentum=0.1):
        super().__init__()
        conf = partial(MBConvConfig, width_mult=width_mult, depth_mult=depth_mult)
        setting = [conf(1, 3, 1, 32, 16, 1), conf(6, 3, 2, 16, 24, 2), conf(6, 5, 2, 24, 40, 2),
                   conf(6, 3, 2, 40, 80, 3), conf(6, 5, 1, 80, 112, 3),
                   conf(6, 5, 2, 112, 192, 4), conf(6, 3, 1, 192, 320, 1)]
        norm_layer = partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum)
        layers = [Conv2dNormActivation(in_channels, setting[0].input_channels, 3, 2,
                                       norm_layer=norm_layer, activation_layer=nn.SiLU)]
        total = sum(cnf.num_layers for cnf in setting)
        index = 0
        for cnf in setting:
            stage = []
            for _ in range(cnf.num_layers):
                block_cnf = copy.copy(cnf)
                if stage:  # later blocks of a stage keep the width and the resolution
                    block_cnf.input_channels = block_cnf.out_channels
                    block_cnf.stride = 1
                stage.append(MBConv(block_cnf, stochastic_depth_prob * index / total, norm_layer))
                index += 1
            layers.append(nn.Sequential(*stage))
        last_in = setting[-1].out_channels
        last_out = 4 * last_in
        layers.append(Conv2dNormActivation(last_in, last_out, 1, norm_layer=norm_layer,
                                           activation_layer=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last_out, num_classes))
        _initialize(self, linear_init=_linear_init)

    def forward(self, x):
        return self.classifier(flatten(self.avgpool(self.features(x)), 1))


def efficientnet_b0(num_classes=1000, in_channels=3, dropout=0.2, stochastic_depth_prob=0.2):
    """EfficientNet-B0: 5,288,548 parameters for 1000 classes, 3 channels; 224x224 input."""
    return EfficientNet(1.0, 1.0, dropout, stochastic_depth_prob, num_classes, in_channels)
