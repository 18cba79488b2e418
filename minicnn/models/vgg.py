"""VGG-11/13/16/19 with and without batch norm (Simonyan & Zisserman 2015, "Very Deep
Convolutional Networks for Large-Scale Image Recognition"), torchvision's ``features`` layout,
with a CIFAR head (the default) or torchvision's ImageNet head."""
from .. import nn
from ..ops import flatten
from .blocks import _initialize

__all__ = ["VGG", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn",
           "vgg19_bn"]

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


def _vgg(cfg, batch_norm, num_classes, in_channels, small_input, dropout):
    return VGG(cfg, num_classes=num_classes, in_channels=in_channels, batch_norm=batch_norm,
               small_input=small_input, dropout=dropout)


def vgg11(num_classes: int = 10, in_channels: int = 3, small_input: bool = True,
          dropout: float = 0.5) -> VGG:
    """VGG-11 (config "A"), no batch norm. CIFAR head (default): 9,225,610 parameters for 10
    classes; ``small_input=False``: torchvision's vgg11 (132,863,336 for 1000 classes).
    Input (N, in_channels, 32, 32) (224x224 with the ImageNet head); output (N, num_classes)."""
    return _vgg("A", False, num_classes, in_channels, small_input, dropout)


def vgg13(num_classes: int = 10, in_channels: int = 3, small_input: bool = True,
          dropout: float = 0.5) -> VGG:
    """VGG-13 (config "B"), no batch norm. CIFAR head (default): 9,410,122 parameters for 10
    classes; ``small_input=False``: torchvision's vgg13 (133,047,848 for 1000 classes).
    Input (N, in_channels, 32, 32) (224x224 with the ImageNet head); output (N, num_classes)."""
    return _vgg("B", False, num_classes, in_channels, small_input, dropout)


def vgg16(num_classes: int = 10, in_channels: int = 3, small_input: bool = True,
          dropout: float = 0.5) -> VGG:
    """VGG-16 (config "D"), no batch norm. CIFAR head (default): 14,719,818 parameters for 10
    classes; ``small_input=False``: torchvision's vgg16 (138,357,544 for 1000 classes).
    Input (N, in_channels, 32, 32) (224x224 with the ImageNet head); output (N, num_classes)."""
    return _vgg("D", False, num_classes, in_channels, small_input, dropout)


def vgg19(num_classes: int = 10, in_channels: int = 3, small_input: bool = True,
          dropout: float = 0.5) -> VGG:
    """VGG-19 (config "E"), no batch norm. CIFAR head (default): 20,029,514 parameters for 10
    classes; ``small_input=False``: torchvision's vgg19 (143,667,240 for 1000 classes).
    Input (N, in_channels, 32, 32) (224x224 with the ImageNet head); output (N, num_classes)."""
    return _vgg("E", False, num_classes, in_channels, small_input, dropout)


def vgg11_bn(num_classes: int = 10, in_channels: int = 3, small_input: bool = True,
             dropout: float = 0.5) -> VGG:
    """VGG-11 with batch norm (config "A"). CIFAR head (default): 9,231,114 parameters for 10
    classes; ``small_input=False``: torchvision's vgg11_bn (132,868,840 for 1000 classes).
    Input (N, in_channels, 32, 32) (224x224 with the ImageNet head); output (N, num_classes)."""
    return _vgg("A", True, num_classes, in_channels, small_input, dropout)


def vgg13_bn(num_classes: int = 10, in_channels: int = 3, small_input: bool = True,
             dropout: float = 0.5) -> VGG:
    """VGG-13 with batch norm (config "B"). CIFAR head (default): 9,416,010 parameters for 10
    classes; ``small_input=False``: torchvision's vgg13_bn (133,053,736 for 1000 classes).
    Input (N, in_channels, 32, 32) (224x224 with the ImageNet head); output (N, num_classes)."""
    return _vgg("B", True, num_classes, in_channels, small_input, dropout)


def vgg16_bn(num_classes: int = 10, in_channels: int = 3, small_input: bool = True,
             dropout: float = 0.5) -> VGG:
    """VGG-16 with batch norm (config "D"). CIFAR head (default): 14,728,266 parameters for 10
    classes; ``small_input=False``: torchvision's vgg16_bn (138,365,992 for 1000 classes).
    Input (N, in_channels, 32, 32) (224x224 with the ImageNet head); output (N, num_classes)."""
    return _vgg("D", True, num_classes, in_channels, small_input, dropout)


def vgg19_bn(num_classes: int = 10, in_channels: int = 3, small_input: bool = True,
             dropout: float = 0.5) -> VGG:
    """VGG-19 with batch norm (config "E"). CIFAR head (default): 20,040,522 parameters for 10
    classes; ``small_input=False``: torchvision's vgg19_bn (143,678,248 for 1000 classes).
    Input (N, in_channels, 32, 32) (224x224 with the ImageNet head); output (N, num_classes)."""
    return _vgg("E", True, num_classes, in_channels, small_input, dropout)
