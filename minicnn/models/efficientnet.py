"""EfficientNet (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks"), with torchvision's structure and keys.

Compound scaling (the paper's sec. 3.3): from the baseline B0 (table 1, found by architecture
search at 224x224), scale depth by alpha^phi, width by beta^phi and resolution by gamma^phi with
alpha = 1.2, beta = 1.1, gamma = 1.15 (a grid search at phi = 1 under
alpha * beta^2 * gamma^2 ~= 2, so that each step of phi about doubles the FLOPs). B1..B7 use the
coefficients of the authors' reference code (rounded, and not exactly alpha^phi etc.), which
torchvision uses too:

====  =====  =====  ==========  =======
name  width  depth  resolution  dropout
====  =====  =====  ==========  =======
B0    1.0    1.0    224         0.2
B1    1.0    1.1    240         0.2
B2    1.1    1.2    260         0.3
B3    1.2    1.4    300         0.3
B4    1.4    1.8    380         0.4
B5    1.6    2.2    456         0.4
B6    1.8    2.6    528         0.5
B7    2.0    3.1    600         0.5
====  =====  =====  ==========  =======

``small_input=True`` adapts any of them to 32x32 images without changing a parameter or a key:
the stem conv and the first block of stage 2 get stride 1, so the total stride is 8 (4x4 maps
at the head) instead of 32.
"""
import copy
import math
from functools import partial

from .. import nn
from ..ops import flatten
from .blocks import Conv2dNormActivation, SqueezeExcitation, StochasticDepth, _initialize
from .mobilenet import _make_divisible

__all__ = ["MBConvConfig", "MBConv", "EfficientNet", "efficientnet_b0", "efficientnet_b1",
           "efficientnet_b2", "efficientnet_b3", "efficientnet_b4", "efficientnet_b5",
           "efficientnet_b6", "efficientnet_b7"]


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
    by ``width_mult``/``depth_mult``), 1x1 conv to 4 x the last width (1280 for B0, 2560 for
    B7) -> BN -> SiLU; then global average pooling and classifier = Dropout(``dropout``) +
    Linear(4 x last width, num_classes). Block i of the T blocks drops its branch with probability
    ``stochastic_depth_prob * i / T``.

    Batch norm: ``norm_eps`` and ``norm_momentum`` default to BatchNorm2d's (1e-5, 0.1), as
    torchvision's B0-B4; its B5-B7 (ported TensorFlow weights) use 1e-3 and 0.01.
    ``small_input``: see the module docstring.
    Input (N, in_channels, H, W), 224x224 for B0 (32x32 works: total stride 32); output
    (N, num_classes). Initialization as torchvision: He-normal (fan_out) convs,
    U(-1/sqrt(num_classes), 1/sqrt(num_classes)) linear weights, zero biases.
    """

    def __init__(self, width_mult=1.0, depth_mult=1.0, dropout=0.2, stochastic_depth_prob=0.2,
                 num_classes=1000, in_channels=3, norm_eps=1e-5, norm_momentum=0.1,
                 small_input=False):
        super().__init__()
        conf = partial(MBConvConfig, width_mult=width_mult, depth_mult=depth_mult)
        setting = [conf(1, 3, 1, 32, 16, 1), conf(6, 3, 2, 16, 24, 2), conf(6, 5, 2, 24, 40, 2),
                   conf(6, 3, 2, 40, 80, 3), conf(6, 5, 1, 80, 112, 3),
                   conf(6, 5, 2, 112, 192, 4), conf(6, 3, 1, 192, 320, 1)]
        if small_input:  # the stem and stage 2 keep the resolution
            setting[1].stride = 1
        norm_layer = partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum)
        layers = [Conv2dNormActivation(in_channels, setting[0].input_channels, 3,
                                       1 if small_input else 2, norm_layer=norm_layer,
                                       activation_layer=nn.SiLU)]
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


def _efficientnet(width_mult, depth_mult, dropout, stochastic_depth_prob, num_classes,
                  in_channels, small_input, tf_norm=False):
    # tf_norm: torchvision's B5-B7 norms (their weights were ported from TensorFlow)
    eps, momentum = (1e-3, 0.01) if tf_norm else (1e-5, 0.1)
    return EfficientNet(width_mult, depth_mult, dropout, stochastic_depth_prob, num_classes,
                        in_channels, eps, momentum, small_input)


def efficientnet_b0(num_classes=1000, in_channels=3, dropout=0.2, stochastic_depth_prob=0.2,
                    small_input=False):
    """EfficientNet-B0, the baseline (the paper's table 1; width 1.0, depth 1.0): 5,288,548
    parameters for 1000 classes, 3 channels; native input (N, 3, 224, 224) ->
    (N, num_classes)."""
    return _efficientnet(1.0, 1.0, dropout, stochastic_depth_prob, num_classes, in_channels,
                         small_input)


def efficientnet_b1(num_classes=1000, in_channels=3, dropout=0.2, stochastic_depth_prob=0.2,
                    small_input=False):
    """EfficientNet-B1 (width 1.0, depth 1.1, resolution 240): 7,794,184 parameters for 1000
    classes, 3 channels; native input (N, 3, 240, 240) -> (N, num_classes)."""
    return _efficientnet(1.0, 1.1, dropout, stochastic_depth_prob, num_classes, in_channels,
                         small_input)


def efficientnet_b2(num_classes=1000, in_channels=3, dropout=0.3, stochastic_depth_prob=0.2,
                    small_input=False):
    """EfficientNet-B2 (width 1.1, depth 1.2, resolution 260; torchvision's weights are
    evaluated at 288): 9,109,994 parameters for 1000 classes, 3 channels; native input
    (N, 3, 260, 260) -> (N, num_classes)."""
    return _efficientnet(1.1, 1.2, dropout, stochastic_depth_prob, num_classes, in_channels,
                         small_input)


def efficientnet_b3(num_classes=1000, in_channels=3, dropout=0.3, stochastic_depth_prob=0.2,
                    small_input=False):
    """EfficientNet-B3 (width 1.2, depth 1.4, resolution 300): 12,233,232 parameters for 1000
    classes, 3 channels; native input (N, 3, 300, 300) -> (N, num_classes)."""
    return _efficientnet(1.2, 1.4, dropout, stochastic_depth_prob, num_classes, in_channels,
                         small_input)


def efficientnet_b4(num_classes=1000, in_channels=3, dropout=0.4, stochastic_depth_prob=0.2,
                    small_input=False):
    """EfficientNet-B4 (width 1.4, depth 1.8, resolution 380): 19,341,616 parameters for 1000
    classes, 3 channels; native input (N, 3, 380, 380) -> (N, num_classes)."""
    return _efficientnet(1.4, 1.8, dropout, stochastic_depth_prob, num_classes, in_channels,
                         small_input)


def efficientnet_b5(num_classes=1000, in_channels=3, dropout=0.4, stochastic_depth_prob=0.2,
                    small_input=False):
    """EfficientNet-B5 (width 1.6, depth 2.2, resolution 456; batch norm eps 1e-3, momentum
    0.01): 30,389,784 parameters for 1000 classes, 3 channels; native input (N, 3, 456, 456)
    -> (N, num_classes)."""
    return _efficientnet(1.6, 2.2, dropout, stochastic_depth_prob, num_classes, in_channels,
                         small_input, tf_norm=True)


def efficientnet_b6(num_classes=1000, in_channels=3, dropout=0.5, stochastic_depth_prob=0.2,
                    small_input=False):
    """EfficientNet-B6 (width 1.8, depth 2.6, resolution 528; batch norm eps 1e-3, momentum
    0.01): 43,040,704 parameters for 1000 classes, 3 channels; native input (N, 3, 528, 528)
    -> (N, num_classes)."""
    return _efficientnet(1.8, 2.6, dropout, stochastic_depth_prob, num_classes, in_channels,
                         small_input, tf_norm=True)


def efficientnet_b7(num_classes=1000, in_channels=3, dropout=0.5, stochastic_depth_prob=0.2,
                    small_input=False):
    """EfficientNet-B7 (width 2.0, depth 3.1, resolution 600; batch norm eps 1e-3, momentum
    0.01): 66,347,960 parameters for 1000 classes, 3 channels; native input (N, 3, 600, 600)
    -> (N, num_classes)."""
    return _efficientnet(2.0, 3.1, dropout, stochastic_depth_prob, num_classes, in_channels,
                         small_input, tf_norm=True)
