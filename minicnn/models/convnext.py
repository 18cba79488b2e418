"""ConvNeXt (Liu, Mao, Wu, Feichtenhofer, Darrell & Xie 2022, "A ConvNet for the 2020s"), with
torchvision's structure and keys."""
from functools import partial

from .. import nn
from ..nn import functional as F
from .blocks import Conv2dNormActivation, ConvNeXtBlock

__all__ = ["LayerNorm2d", "CNBlockConfig", "ConvNeXt", "convnext_tiny"]


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of an (N, C, H, W) tensor, separately at every pixel
    (torchvision's ``LayerNorm2d``: permute to channels-last, ``layer_norm`` over C, permute
    back); ``normalized_shape`` is C. Same parameters (``weight``, ``bias`` of shape (C,)) and
    arguments as :class:`~minicnn.nn.LayerNorm`. (N, C, H, W) -> same shape."""

    def forward(self, input):
        params = self._parameters
        x = F.layer_norm(input.permute(0, 2, 3, 1), self.normalized_shape, params["weight"],
                         params["bias"], self.eps)
        return x.permute(0, 3, 1, 2)


class CNBlockConfig:
    """One ConvNeXt stage (torchvision's ``CNBlockConfig``): ``num_layers`` blocks of width
    ``input_channels``, then (unless ``out_channels`` is None, the last stage) a downsampling
    layer to ``out_channels``."""

    def __init__(self, input_channels, out_channels, num_layers):
        self.input_channels = input_channels
        self.out_channels = out_channels
        self.num_layers = num_layers


def _init_weights(model):
    # torchvision's ConvNeXt init: truncated normal (std 0.02, cut at +-2) weights, zero biases
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ConvNeXt(nn.Module):
    """ConvNeXt (torchvision's ``ConvNeXt``, same keys: ``features.0.0.weight``,
    ``features.1.0.block.0.weight``, ``features.1.0.layer_scale``, ``features.2.1.weight``,
    ``classifier.2.weight``, ...).

    features: stem = 4x4 stride-4 conv (with bias; the paper's "patchify" layer) ->
    :class:`LayerNorm2d`, then per stage of ``block_setting`` a Sequential of
    :class:`~minicnn.models.blocks.ConvNeXtBlock` followed, between stages, by a downsampling
    Sequential(LayerNorm2d, 2x2 stride-2 conv); then global average pooling and classifier =
    (LayerNorm2d, Flatten, Linear). Every norm has eps 1e-6. Block i of the T blocks drops its
    branch with probability ``stochastic_depth_prob * i / (T - 1)``; ``layer_scale`` is the
    initial value of every block's gamma.

    ``small_input=True`` adapts it to 32x32 images, as the zoo's ResNets: the stem conv becomes
    3x3 stride 1 (padding 1), so the stages see 32, 16, 8, 4 pixel maps instead of 8, 4, 2, 1
    (ConvNeXt-T then costs about 1.5 G multiply-adds per image, a third of its 224x224 cost).
    Every key stays, the stem weight being (C0, in_channels, 3, 3).

    Input (N, in_channels, H, W): 224x224 for ImageNet (32x32 works: total stride 32); output
    (N, num_classes). Initialization as torchvision: truncated normal (std 0.02) conv and
    linear weights, zero biases, norms (1, 0). Raises ValueError for an empty block_setting.
    """

    def __init__(self, block_setting, stochastic_depth_prob=0.0, layer_scale=1e-6,
                 num_classes=1000, in_channels=3, small_input=False):
        super().__init__()
        if not block_setting:
            raise ValueError("ConvNeXt: block_setting must be a non-empty list of CNBlockConfig")
        norm_layer = partial(LayerNorm2d, eps=1e-6)
        first = block_setting[0].input_channels
        stem = (3, 1, 1) if small_input else (4, 4, 0)  # kernel, stride, padding
        layers = [Conv2dNormActivation(in_channels, first, *stem, norm_layer=norm_layer,
                                       activation_layer=None, bias=True)]
        total = sum(cnf.num_layers for cnf in block_setting)
        index = 0
        for cnf in block_setting:
            stage = []
            for _ in range(cnf.num_layers):
                # a single block (total 1) gets probability 0, not a division by zero
                p = stochastic_depth_prob * index / max(total - 1.0, 1.0)
                stage.append(ConvNeXtBlock(cnf.input_channels, layer_scale, p))
                index += 1
            layers.append(nn.Sequential(*stage))
            if cnf.out_channels is not None:
                layers.append(nn.Sequential(norm_layer(cnf.input_channels),
                                            nn.Conv2d(cnf.input_channels, cnf.out_channels, 2,
                                                      2)))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        last = block_setting[-1]
        channels = last.input_channels if last.out_channels is None else last.out_channels
        self.classifier = nn.Sequential(norm_layer(channels), nn.Flatten(1),
                                        nn.Linear(channels, num_classes))
        _init_weights(self)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


def convnext_tiny(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
                  stochastic_depth_prob: float = 0.1, layer_scale: float = 1e-6) -> ConvNeXt:
    """ConvNeXt-T (Liu et al. 2022, sec. 2-3: stage widths 96, 192, 384, 768, blocks
    3, 3, 9, 3): 28,589,128 parameters for 1000 classes, 3 channels (torchvision's).
    ``stochastic_depth_prob`` 0.1 as torchvision's (the paper's ImageNet-1K recipe).
    Input (N, in_channels, 224, 224) (32x32 works; ``small_input`` for CIFAR); output
    (N, num_classes)."""
    setting = [CNBlockConfig(96, 192, 3), CNBlockConfig(192, 384, 3), CNBlockConfig(384, 768, 9),
               CNBlockConfig(768, None, 3)]
    return ConvNeXt(setting, stochastic_depth_prob, layer_scale, num_classes, in_channels,
                    small_input)
