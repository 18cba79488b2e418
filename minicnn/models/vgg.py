"""VGG with batch norm (Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for
Large-Scale Image Recognition"), torchvision's ``features`` layout, for CIFAR or ImageNet."""
from .. import nn
from ..ops import flatten
from .blocks import _initialize

__all__ = ["VGG", "vgg11_bn", "vgg16_bn"]

# the paper's table 1 columns: conv widths, "M" = 2x2 max-pool
cfgs = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def _linear_init(m):
    nn.init.normal_(m.weight, 0.0, 0.01)
    nn.init.zeros_(m.bias)


class VGG(nn.Module):
    """VGG: 3x3 convs (bias, padding 1) each followed by BatchNorm2d and ReLU when
    ``batch_norm``, with 2x2 max-pools between the stages; torchvision's module names
    (``features.N.*``, ``avgpool``, ``classifier.*``).

    ``cfg``: a key of :data:`cfgs` ("A" = VGG-11, "B" = 13, "D" = 16, "E" = 19) or a list in that
    form. Two heads:

    - ``small_input=True`` (CIFAR, 32x32 input): the five pools leave (N, 512, 1, 1);
      ``avgpool`` = AdaptiveAvgPool2d(1) (the identity at 32x32, so larger inputs work too) and
      ``classifier`` = Linear(512, num_classes), keys ``classifier.weight``/``.bias``.
    - ``small_input=False`` (ImageNet, 224x224): torchvision's head, AdaptiveAvgPool2d(7) and
      Linear(25088, 4096) -> ReLU -> Dropout -> Linear(4096, 4096) -> ReLU -> Dropout ->
      Linear(4096, num_classes), so torchvision's vgg*_bn weights load by name.

    Input (N, in_channels, H, W) with H, W >= 32; output (N, num_classes). Initialization as
    torchvision: He-normal (fan_out) convs, N(0, 0.01) linear weights, zero biases.
    """

    def __init__(self, cfg, num_classes=10, in_channels=3, batch_norm=True, small_input=True,
                 dropout=0.5):
        super().__init__()
        if isinstance(cfg, str):
            if cfg not in cfgs:
                raise ValueError(f"VGG: cfg must be one of {sorted(cfgs)} or a list, got {cfg!r}")
            cfg = cfgs[cfg]
        layers, channels = [], in_channels
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(nn.Conv2d(channels, v, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU())
            channels = v
        self.features = nn.Sequential(*layers)
        if small_input:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(channels, num_classes)
        else:
            self.avgpool = nn.AdaptiveAvgPool2d(7)
            self.classifier = nn.Sequential(
                nn.Linear(channels * 7 * 7, 4096), nn.ReLU(), nn.Dropout(dropout),
                nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout),
                nn.Linear(4096, num_classes),
            )
        _initialize(self, linear_init=_linear_init)

    def forward(self, x):
        return self.classifier(flatten(self.avgpool(self.features(x)), 1))


def vgg11_bn(num_classes=10, in_channels=3, small_input=True):
    """VGG-11 with batch norm (config "A"). CIFAR head (default): 9,231,114 parameters for 10
    classes; ``small_input=False``: torchvision's vgg11_bn (132,868,840 for 1000 classes)."""
    return VGG("A", num_classes=num_classes, in_channels=in_channels, small_input=small_input)


def vgg16_bn(num_classes=10, in_channels=3, small_input=True):
    """VGG-16 with batch norm (config "D"). CIFAR head (default): 14,728,266 parameters for 10
    classes; ``small_input=False``: torchvision's vgg16_bn (138,365,992 for 1000 classes)."""
    return VGG("D", num_classes=num_classes, in_channels=in_channels, small_input=small_input)
