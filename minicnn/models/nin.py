"""Network in Network (Lin, Chen & Yan 2014, "Network In Network", ICLR): the CIFAR-10 model
of the paper, as in the authors' released Caffe definition (sec. 4.2, "NIN-CIFAR10")."""
from .. import nn
from ..ops import flatten
from .blocks import _initialize

__all__ = ["NiN", "nin"]


def _mlpconv(in_channels, out_channels, hidden, last, kernel_size, padding):
    """One mlpconv layer (the paper's fig. 2): a k x k conv followed by two 1x1 convs (the
    "micro network", a 3-layer perceptron shared over positions), each followed by ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding), nn.ReLU(),
        nn.Conv2d(out_channels, hidden, 1), nn.ReLU(),
        nn.Conv2d(hidden, last, 1), nn.ReLU(),
    )


class NiN(nn.Module):
    """Network in Network for CIFAR-10: three mlpconv layers, dropout between them, and global
    average pooling of one feature map per class instead of fully connected layers (sec. 3.2).

    ``features`` (the widths of the authors' Caffe model for CIFAR-10):

    - ``features.0``: mlpconv 5x5 (192, padding 2) -> 1x1 (160) -> 1x1 (96);
      ``features.1`` MaxPool(3, 2) and ``features.2`` Dropout;
    - ``features.3``: mlpconv 5x5 (192, padding 2) -> 1x1 (192) -> 1x1 (192);
      ``features.4`` AvgPool(3, 2) and ``features.5`` Dropout;
    - ``features.6``: mlpconv 3x3 (192, padding 1) -> 1x1 (192) -> 1x1 (num_classes);

    then ``avgpool`` (global) and flatten. Every conv has a bias and is followed by ReLU (the
    class maps too, as in the Caffe model). The pools round up (ceil_mode, as Caffe), so a
    32x32 image gives 32 -> 16 -> 8 maps and the global pool averages 8x8.

    Input (N, in_channels, H, W), 32x32 for CIFAR (any H, W >= 4); output (N, num_classes).
    966,986 parameters for 10 classes, 3 channels (the paper gives no count; computed:
    mlpconv layers 60,928 + 535,104 + 370,954). Initialization: He-normal (fan_in) convs with
    zero biases (the Caffe model used Gaussians of a hand-set std).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _mlpconv(in_channels, 192, 160, 96, 5, 2),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Dropout(dropout),
            _mlpconv(96, 192, 192, 192, 5, 2),
            nn.AvgPool2d(3, 2, ceil_mode=True),
            nn.Dropout(dropout),
            _mlpconv(192, 192, 192, num_classes, 3, 1),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        _initialize(self, conv_mode="fan_in")

    def forward(self, x):
        return flatten(self.avgpool(self.features(x)), 1)


def nin(num_classes: int = 10, in_channels: int = 3, dropout: float = 0.5) -> NiN:
    """Network in Network, the CIFAR-10 model (Lin et al. 2014): 966,986 parameters for 10
    classes, 3 channels. Input (N, in_channels, 32, 32); output (N, num_classes), the global
    average of one non-negative map per class. See :class:`NiN`."""
    return NiN(num_classes, in_channels, dropout)
