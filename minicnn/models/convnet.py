"""A plain VGG-style CNN for 32x32 images: the first model to train on CIFAR-10."""
from .. import nn
from ..ops import flatten

__all__ = ["ConvNet", "convnet"]


def _stage(in_channels, out_channels):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(),
        nn.MaxPool2d(2),
    )


class ConvNet(nn.Module):
    """Three stages of [conv3x3 -> BN -> ReLU] x 2 -> max-pool 2 with 64, 128 and 256 channels
    (bias-free convs, since BN adds the shift), then global average pooling, dropout and a
    linear classifier: the VGG recipe (Simonyan & Zisserman 2015) with batch norm (Ioffe &
    Szegedy 2015) and a global-pool head (Lin et al. 2014, "Network in Network").

    Keys: ``features.{0,1,2}.{0,1,3,4}.*`` (convs and BNs of each stage), ``classifier.1.*``.
    Input (N, in_channels, H, W), H and W >= 8 (32x32 for CIFAR-10); output (N, num_classes).
    Parameters: 1,148,874 for num_classes=10, in_channels=3 (1,146,304 in the convs and BNs,
    2,570 in the classifier). PyTorch's default initialization.
    """

    def __init__(self, num_classes=10, in_channels=3, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(_stage(in_channels, 64), _stage(64, 128), _stage(128, 256))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(256, num_classes))

    def forward(self, x):
        return self.classifier(flatten(self.avgpool(self.features(x)), 1))


def convnet(num_classes=10, in_channels=3, dropout=0.5):
    """:class:`ConvNet`: 1,148,874 parameters for 10 classes, 3 channels; 32x32 input."""
    return ConvNet(num_classes=num_classes, in_channels=in_channels, dropout=dropout)
