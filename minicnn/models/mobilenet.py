"""The MobileNets, with torchvision's structure and keys where torchvision has the model:

- MobileNetV1 (Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto & Adam 2017,
  "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications");
- MobileNetV2 (Sandler, Howard, Zhu, Zhmoginov & Chen 2018, "MobileNetV2: Inverted Residuals
  and Linear Bottlenecks");
- MobileNetV3 (Howard, Sandler, Chu, Chen, Chen, Tan, Wang, Zhu, Pang, Vasudevan, Le & Adam
  2019, "Searching for MobileNetV3"), small and large.

``small_input=True`` adapts each to 32x32 images (CIFAR) without changing a parameter or a key:
the 3x3 stem conv gets stride 1 and so does the first stride-2 block after it, so the total
stride is 8 instead of 32 (a 32x32 image ends in 4x4 maps, as the CIFAR ResNets).
"""
import copy

from .. import nn
from ..nn import functional as F
from ..ops import flatten
from .blocks import Conv2dNormActivation, SqueezeExcitation, _initialize

__all__ = ["DepthwiseSeparableConv", "MobileNetV1", "mobilenet_v1", "InvertedResidual",
           "MobileNetV2", "mobilenet_v2", "InvertedResidualConfig", "InvertedResidualV3",
           "MobileNetV3", "mobilenet_v3_small", "mobilenet_v3_large"]


def _make_divisible(v, divisor=8, min_value=None):
    """The nearest multiple of ``divisor`` to ``v`` (at least ``min_value``), rounded up when
    rounding down would lose more than 10% (the TensorFlow reference's channel rounding)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _stem_and_block_strides(strides, small_input):
    """The stem's stride and the blocks' ``strides``: as given (stem 2), or with
    ``small_input`` the stem and the first stride-2 block at stride 1."""
    strides = list(strides)
    if not small_input:
        return 2, strides
    if 2 in strides:
        strides[strides.index(2)] = 1
    return 1, strides


def _linear_init(m):
    nn.init.normal_(m.weight, 0.0, 0.01)
    nn.init.zeros_(m.bias)


class DepthwiseSeparableConv(nn.Module):
    """MobileNetV1's depthwise separable convolution (Howard et al. 2017, fig. 3 right):
    ``depthwise`` = 3x3 depthwise conv (stride) -> BN -> ReLU, then ``pointwise`` = 1x1 conv ->
    BN -> ReLU, each a :class:`Conv2dNormActivation` (keys ``depthwise.0.weight``,
    ``pointwise.1.running_mean``, ...). Parameters: 9 inp + 2 inp + inp * oup + 2 oup.
    (N, inp, H, W) -> (N, oup, H / stride, W / stride). Raises ValueError for a stride other
    than 1 or 2."""

    def __init__(self, inp, oup, stride):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"DepthwiseSeparableConv: stride should be 1 or 2, got {stride}")
        self.depthwise = Conv2dNormActivation(inp, inp, 3, stride, groups=inp)
        self.pointwise = Conv2dNormActivation(inp, oup, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class MobileNetV1(nn.Module):
    """MobileNetV1 (Howard et al. 2017, table 1; torchvision has no MobileNetV1).

    features: ``features.0`` = 3x3/2 conv (32 channels) -> BN -> ReLU, then 13
    :class:`DepthwiseSeparableConv` (output channels and strides 64/1, 128/2, 128/1, 256/2,
    256/1, 512/2, 5 x 512/1, 1024/2, 1024/1: table 1 prints "s2" for the last depthwise conv,
    but its input and output are both 7x7, so stride 1, as the authors' TF-slim code); then
    global average pooling and classifier = Dropout(``dropout``, 0 by default: the paper uses
    little regularization) + Linear(1024, num_classes) (key ``classifier.1.weight``). Every conv
    is bias-free and followed by batch norm and ReLU (the paper's; TF-slim uses ReLU6).

    ``width_mult`` is the paper's width multiplier alpha: every layer has
    max(8, int(alpha * channels)) channels (TF-slim's rule; alpha in {1, 0.75, 0.5, 0.25} in the
    paper). The resolution multiplier rho is the input size (224, 192, 160 or 128).
    ``small_input``: see the module docstring.

    Input (N, in_channels, H, W), 224x224 for ImageNet; output (N, num_classes). Parameters:
    4,231,976 for 1000 classes, 3 channels, width 1.0 (the paper's 4.2 million).
    Initialization as torchvision's MobileNetV2: He-normal (fan_out) convs, N(0, 0.01) linear,
    zero biases.
    """

    _SETTING = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
                (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]

    def __init__(self, num_classes=1000, in_channels=3, width_mult=1.0, dropout=0.0,
                 small_input=False):
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"MobileNetV1: width_mult must be positive, got {width_mult}")

        def width(c):
            return max(8, int(c * width_mult))

        stem_stride, strides = _stem_and_block_strides([s for _, s in self._SETTING],
                                                       small_input)
        channels = width(32)
        features = [Conv2dNormActivation(in_channels, channels, 3, stem_stride)]
        for (c, _), stride in zip(self._SETTING, strides):
            features.append(DepthwiseSeparableConv(channels, width(c), stride))
            channels = width(c)
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, num_classes))
        _initialize(self, linear_init=_linear_init)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(flatten(x, 1))


def mobilenet_v1(num_classes=1000, in_channels=3, width_mult=1.0, dropout=0.0,
                 small_input=False):
    """:class:`MobileNetV1` (Howard et al. 2017): 4,231,976 parameters for 1000 classes,
    3 channels, width 1.0; input (N, 3, 224, 224) -> (N, num_classes)."""
    return MobileNetV1(num_classes=num_classes, in_channels=in_channels, width_mult=width_mult,
                       dropout=dropout, small_input=small_input)


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
    output (N, num_classes). ``small_input=True`` (32x32 images): the stem and the first
    24-channel block get stride 1 (total stride 8), same parameters and keys.
    Parameters: 3,504,872 for 1000 classes, width 1.0.
    Initialization as torchvision: He-normal (fan_out) convs, N(0, 0.01) linear, zero biases.
    """

    def __init__(self, num_classes=1000, in_channels=3, width_mult=1.0, round_nearest=8,
                 dropout=0.2, small_input=False):
        super().__init__()
        setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1],
                   [6, 160, 3, 2], [6, 320, 1, 1]]
        blocks = [(t, _make_divisible(c * width_mult, round_nearest), s if i == 0 else 1)
                  for t, c, n, s in setting for i in range(n)]
        stem_stride, strides = _stem_and_block_strides([s for _, _, s in blocks], small_input)
        channels = _make_divisible(32 * width_mult, round_nearest)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features = [Conv2dNormActivation(in_channels, channels, stride=stem_stride,
                                         activation_layer=nn.ReLU6)]
        for (t, out, _), stride in zip(blocks, strides):
            features.append(InvertedResidual(channels, out, stride, t))
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


def mobilenet_v2(num_classes=1000, in_channels=3, width_mult=1.0, dropout=0.2,
                 small_input=False):
    """:class:`MobileNetV2` (Sandler et al. 2018): 3,504,872 parameters for 1000 classes,
    3 channels, width 1.0; input (N, 3, 224, 224) -> (N, num_classes)."""
    return MobileNetV2(num_classes=num_classes, in_channels=in_channels, width_mult=width_mult,
                       dropout=dropout, small_input=small_input)


class InvertedResidualConfig:
    """One bottleneck row of MobileNetV3's tables 1 and 2 (torchvision's
    ``InvertedResidualConfig``): input channels, kernel, expanded ("exp size") and output
    channels, whether it has squeeze-and-excitation, its activation ("RE" ReLU or "HS"
    hard-swish) and stride; the channel counts are multiplied by ``width_mult`` and rounded to
    multiples of 8."""

    def __init__(self, input_channels, kernel, expanded_channels, out_channels, use_se,
                 activation, stride, width_mult=1.0):
        if activation not in ("RE", "HS"):
            raise ValueError(f"InvertedResidualConfig: activation should be 'RE' or 'HS', got "
                             f"{activation!r}")
        self.input_channels = _make_divisible(input_channels * width_mult, 8)
        self.kernel = kernel
        self.expanded_channels = _make_divisible(expanded_channels * width_mult, 8)
        self.out_channels = _make_divisible(out_channels * width_mult, 8)
        self.use_se = use_se
        self.use_hs = activation == "HS"
        self.stride = stride


class InvertedResidualV3(nn.Module):
    """MobileNetV3's bottleneck (Howard et al. 2019, sec. 5; torchvision's mobilenetv3
    ``InvertedResidual``): ``block`` = [1x1 expand -> BN -> act (when the expanded width differs
    from the input's)] -> k x k depthwise (stride) -> BN -> act -> [SqueezeExcitation to
    make_divisible(expanded // 4, 8) channels, ReLU, Hardsigmoid gate (when ``use_se``)] ->
    1x1 project -> BN; act is Hardswish or ReLU. The input is added when stride == 1 and the
    channels match. ``norm_layer`` builds the norms (BatchNorm2d(eps=1e-3, momentum=0.01) in
    :class:`MobileNetV3`). (N, C_in, H, W) -> (N, C_out, H / stride, W / stride). Raises
    ValueError for a stride other than 1 or 2."""

    def __init__(self, cnf, norm_layer):
        super().__init__()
        if cnf.stride not in (1, 2):
            raise ValueError(f"InvertedResidualV3: stride should be 1 or 2, got {cnf.stride}")
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        act = nn.Hardswish if cnf.use_hs else nn.ReLU
        exp = cnf.expanded_channels
        layers = []
        if exp != cnf.input_channels:
            layers.append(Conv2dNormActivation(cnf.input_channels, exp, 1, norm_layer=norm_layer,
                                               activation_layer=act))
        layers.append(Conv2dNormActivation(exp, exp, cnf.kernel, cnf.stride, groups=exp,
                                           norm_layer=norm_layer, activation_layer=act))
        if cnf.use_se:
            layers.append(SqueezeExcitation(exp, _make_divisible(exp // 4, 8),
                                            scale_activation=nn.Hardsigmoid))
        layers.append(Conv2dNormActivation(exp, cnf.out_channels, 1, norm_layer=norm_layer,
                                           activation_layer=None))
        self.block = nn.Sequential(*layers)
        self.out_channels = cnf.out_channels

    def forward(self, input):
        result = self.block(input)
        if self.use_res_connect:
            return result + input
        return result


def _v3_batch_norm(channels):
    # torchvision's MobileNetV3 norm (the TensorFlow reference's epsilon and decay)
    return nn.BatchNorm2d(channels, eps=0.001, momentum=0.01)


class MobileNetV3(nn.Module):
    """MobileNetV3 (Howard et al. 2019; torchvision's ``MobileNetV3``, same keys:
    ``features.0.0.weight``, ``features.1.block.0.0.weight``, ``features.4.block.2.fc1.weight``,
    ..., ``classifier.0.weight``, ``classifier.3.weight``).

    features: 3x3/2 conv -> BN -> Hardswish, one :class:`InvertedResidualV3` per row of
    ``inverted_residual_setting`` (:class:`InvertedResidualConfig`), 1x1 conv to 6 x the last
    width -> BN -> Hardswish; then global average pooling and classifier = Linear(6 x last
    width, ``last_channel``) -> Hardswish -> Dropout(``dropout``) -> Linear(last_channel,
    num_classes). All norms are BatchNorm2d(eps=1e-3, momentum=0.01). ``small_input``: see the
    module docstring (a stride-2 first block that becomes stride 1 with matching channels, as
    in the small model, then adds its input).

    Input (N, in_channels, H, W), 224x224 for ImageNet (32x32 works: total stride 32); output
    (N, num_classes). Initialization as torchvision: He-normal (fan_out) convs, N(0, 0.01)
    linear weights, zero biases. Raises ValueError for an empty setting.
    """

    def __init__(self, inverted_residual_setting, last_channel, num_classes=1000, in_channels=3,
                 dropout=0.2, small_input=False):
        super().__init__()
        if not inverted_residual_setting:
            raise ValueError("MobileNetV3: inverted_residual_setting should not be empty")
        stem_stride, strides = _stem_and_block_strides(
            [cnf.stride for cnf in inverted_residual_setting], small_input)
        layers = [Conv2dNormActivation(in_channels, inverted_residual_setting[0].input_channels,
                                       3, stem_stride, norm_layer=_v3_batch_norm,
                                       activation_layer=nn.Hardswish)]
        for cnf, stride in zip(inverted_residual_setting, strides):
            cnf = copy.copy(cnf)
            cnf.stride = stride
            layers.append(InvertedResidualV3(cnf, _v3_batch_norm))
        last_in = inverted_residual_setting[-1].out_channels
        last_out = 6 * last_in
        layers.append(Conv2dNormActivation(last_in, last_out, 1, norm_layer=_v3_batch_norm,
                                           activation_layer=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(last_out, last_channel), nn.Hardswish(),
                                        nn.Dropout(dropout), nn.Linear(last_channel, num_classes))
        _initialize(self, linear_init=_linear_init)

    def forward(self, x):
        return self.classifier(flatten(self.avgpool(self.features(x)), 1))


def _v3_setting(rows, width_mult):
    return [InvertedResidualConfig(*row, width_mult=width_mult) for row in rows]


# the paper's table 2 (small) and table 1 (large): input, kernel, exp size, out, SE, NL, stride
_V3_SMALL = [(16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2),
             (24, 3, 88, 24, False, "RE", 1), (24, 5, 96, 40, True, "HS", 2),
             (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
             (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1),
             (48, 5, 288, 96, True, "HS", 2), (96, 5, 576, 96, True, "HS", 1),
             (96, 5, 576, 96, True, "HS", 1)]
_V3_LARGE = [(16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2),
             (24, 3, 72, 24, False, "RE", 1), (24, 5, 72, 40, True, "RE", 2),
             (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
             (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1),
             (80, 3, 184, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
             (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
             (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1),
             (160, 5, 960, 160, True, "HS", 1)]


def mobilenet_v3_small(num_classes=1000, in_channels=3, width_mult=1.0, dropout=0.2,
                       small_input=False):
    """MobileNetV3-Small (Howard et al. 2019, table 2; torchvision's ``mobilenet_v3_small``):
    11 bottlenecks, last conv 576 channels, hidden layer 1024 (x width_mult). 2,542,856
    parameters for 1000 classes, 3 channels, width 1.0; input (N, 3, 224, 224) ->
    (N, num_classes)."""
    return MobileNetV3(_v3_setting(_V3_SMALL, width_mult), _make_divisible(1024 * width_mult, 8),
                       num_classes, in_channels, dropout, small_input)


def mobilenet_v3_large(num_classes=1000, in_channels=3, width_mult=1.0, dropout=0.2,
                       small_input=False):
    """MobileNetV3-Large (Howard et al. 2019, table 1; torchvision's ``mobilenet_v3_large``):
    15 bottlenecks, last conv 960 channels, hidden layer 1280 (x width_mult). 5,483,032
    parameters for 1000 classes, 3 channels, width 1.0; input (N, 3, 224, 224) ->
    (N, num_classes)."""
    return MobileNetV3(_v3_setting(_V3_LARGE, width_mult), _make_divisible(1280 * width_mult, 8),
                       num_classes, in_channels, dropout, small_input)
