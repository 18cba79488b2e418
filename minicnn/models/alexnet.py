"""AlexNet (Krizhevsky, Sutskever & Hinton 2012, "ImageNet Classification with Deep
Convolutional Neural Networks"), in torchvision's single-tower layout."""
from .. import nn
from ..ops import flatten

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Module):
    """torchvision's AlexNet (the one-GPU variant of Krizhevsky 2014, "One weird trick", with
    64, 192, 384, 256, 256 filters and no local response normalization), its module names:

    - ``features``: Conv2d(C, 64, 11, stride 4, padding 2) -> ReLU -> MaxPool(3, 2) ->
      Conv2d(64, 192, 5, padding 2) -> ReLU -> MaxPool(3, 2) -> Conv2d(192, 384, 3, padding 1)
      -> ReLU -> Conv2d(384, 256, 3, padding 1) -> ReLU -> Conv2d(256, 256, 3, padding 1) ->
      ReLU -> MaxPool(3, 2) (keys ``features.0``, ``.3``, ``.6``, ``.8``, ``.10``);
    - ``avgpool``: AdaptiveAvgPool2d(6);
    - ``classifier``: Dropout -> Linear(9216, 4096) -> ReLU -> Dropout -> Linear(4096, 4096) ->
      ReLU -> Linear(4096, num_classes) (keys ``classifier.1``, ``.4``, ``.6``).

    ``small_input=True`` (CIFAR, 32x32): ``features.0`` becomes Conv2d(C, 64, 3, stride 1,
    padding 1) and the max-pool after it (``features.2``) an Identity, so a 32x32 image reaches
    the last pool as 15x15 (7x7 after it) instead of 1x1; every key stays, ``features.0.weight``
    being (64, C, 3, 3).

    Input (N, in_channels, H, W): 224x224 for ImageNet (H, W >= 63 without ``small_input``,
    >= 7 with it); output (N, num_classes). 61,100,840 parameters for 1000 classes, 3 channels
    (torchvision's alexnet). Initialization: PyTorch's default (as torchvision's).
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
                 small_input: bool = False) -> None:
        super().__init__()
        if small_input:
            stem, stem_pool = nn.Conv2d(in_channels, 64, 3, 1, 1), nn.Identity()
        else:
            stem, stem_pool = nn.Conv2d(in_channels, 64, 11, 4, 2), nn.MaxPool2d(3, 2)
        self.features = nn.Sequential(
            stem, nn.ReLU(), stem_pool,
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(6)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        return self.classifier(flatten(self.avgpool(self.features(x)), 1))


def alexnet(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
            dropout: float = 0.5) -> AlexNet:
    """AlexNet as torchvision's ``alexnet()``: 61,100,840 parameters for 1000 classes,
    3 channels (57,044,810 for 10). Input (N, in_channels, 224, 224) (``small_input`` for
    32x32 CIFAR images); output (N, num_classes). See :class:`AlexNet`."""
    return AlexNet(num_classes, in_channels, dropout, small_input)
