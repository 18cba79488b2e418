"""MobileNetV2 (Sandler, Howard, Zhu, Zhmoginov & Chen 2018, "MobileNetV2: Inverted Residuals
and Linear Bottlenecks"), with torchvision's structure and keys."""
from .. import nn
from ..nn import functional as F
from ..ops import flatten
from .blocks import Conv2dNormActivation, _initialize

__all__ = ["InvertedResidual", "MobileNetV2", "mobilenet_v2"]


def _make_divisible(v, divisor=8, min_value=None):
    """The nearest multiple of ``divisor`` to ``v`` (at least ``min_value``), rounded up when
    rounding down would lose more than 10% (the TensorFlow reference's channel rounding)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class InvertedResidual(nn.Module):
    """The inverted residual with linear bottleneck (paper's table 1; torchvision's names):
    ``conv`` = [1x1 expand -> BN -> ReLU6 (only if expand_ratio != 1)] -> 3x3 depthwise
    (stride) -> BN -> ReLU6 -> 1x1 project -> BN (no activation); the input is added when
    stride == 1 and inp == oup. (N, inp, H, W) -> (N, oup, H / stride, W / stride)."""

    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual: stride should be 1 or 2, got {stride}")
        hidden = round(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(inp, hidden, 1, activation_layer=nn.ReLU6))
        layers += [
            Conv2dNormActivation(hidden, hidden, 3, stride, groups=hidden,
                                 activation_layer=nn.ReLU6),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (torchvision's ``MobileNetV2``, same keys: ``features.0.0.weight`` (stem
    conv), ``features.1.conv.0.0.weight``, ..., ``features.18.1.running_var``,
    ``classifier.1.weight``).

    features: 3x3/2 conv (32 x width_mult channels) -> 17 inverted residuals (the paper's table 2:
    t, c, n, s = (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
    (6, 160, 3, 2), (6, 320, 1, 1)) -> 1x1 conv to 1280 (x max(1, width_mult)) channels, every
    conv followed by BN and (except the projections) ReLU6; then global average pooling and
    classifier = Dropout(``dropout``) + Linear(1280, num_classes). Channel counts are
    multiplied by ``width_mult`` and rounded to multiples of ``round_nearest``.

    Input (N, in_channels, H, W), 224x224 for ImageNet (32x32 works: the total stride is 32);
    output (N, num_classes). Parameters: 3,504,872 for 1000 classes, width 1.0.
    Initialization as torchvision: He-normal (fan_out) convs, N(0, 0.01) linear, zero biases.
    """

    def __init__(self, num_classes=1000, in_channels=3, width_mult=1.0, round_nearest=8,
                 dropout=0.2):
        super().__init__()
        setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1],
                   [6, 160, 3, 2], [6, 320, 1, 1]]
        channels = _make_divisible(32 * width_mult, round_nearest)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features = [Conv2dNormActivation(in_channels, channels, stride=2,
                                         activation_layer=nn.ReLU6)]
        for t, c, n, s in setting:
            out = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                features.append(InvertedResidual(channels, out, s if i == 0 else 1, t))
                channels = out
        features.append(Conv2dNormActivation(channels, self.last_channel, 1,
                                             activation_layer=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout),
                                        nn.Linear(self.last_channel, num_classes))
        _initialize(self, linear_init=_linear_init)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(flatten(x, 1))


def _linear_init(m):
    nn.init.normal_(m.weight, 0.0, 0.01)
    nn.init.zeros_(m.bias)


def mobilenet_v2(num_classes=1000, in_channels=3, width_mult=1.0, dropout=0.2):
    """:class:`MobileNetV2`: 3,504,872 parameters for 1000 classes, 3 channels, width 1.0."""
    return MobileNetV2(num_classes=num_classes, in_channels=in_channels, width_mult=width_mult,
                       dropout=dropout)
