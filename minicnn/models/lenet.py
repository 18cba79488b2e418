"""Small networks for 28x28 / 32x32 digits: LeNet-5 and the PyTorch examples' MNIST CNN."""
from .. import nn
from ..nn import functional as F
from ..ops import flatten

__all__ = ["LeNet5", "lenet5", "SimpleCNN", "simple_cnn"]


class LeNet5(nn.Module):
    """LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to
    document recognition", fig. 2), as modern ports write it.

    features: conv 6@5x5 -> ReLU -> max-pool 2 -> conv 16@5x5 -> ReLU -> max-pool 2;
    classifier: fc 400 -> 120 -> ReLU -> 84 -> ReLU -> num_classes.
    Modernized as usual: ReLU for the scaled tanh, max-pooling for the trainable subsampling
    layers, a full C3 (every S2 map feeds every C3 map, not the paper's sparse table) and a
    linear output instead of the RBF units (pair it with cross-entropy).

    Input (N, in_channels, input_size, input_size), ``input_size`` 28 or 32: at 32 the first
    conv has no padding (the paper's geometry); at 28 (MNIST as stored) it pads by 2, as the
    classic MNIST port. Either way the second pool gives 16 x 5 x 5 = 400 features, so both
    sizes share the same weights. Output (N, num_classes) logits.
    Parameters: 61,706 for num_classes=10, in_channels=1.
    """

    def __init__(self, num_classes=10, in_channels=1, input_size=28):
        super().__init__()
        if input_size not in (28, 32):
            raise ValueError(f"LeNet5: input_size must be 28 or 32, got {input_size!r}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2 if input_size == 28 else 0), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(flatten(self.features(x), 1))


def lenet5(num_classes=10, in_channels=1, input_size=28):
    """:class:`LeNet5`: 61,706 parameters for 10 classes, 1 channel; 28x28 or 32x32 input."""
    return LeNet5(num_classes=num_classes, in_channels=in_channels, input_size=input_size)


class SimpleCNN(nn.Module):
    """The MNIST network of pytorch/examples (mnist/main.py ``Net``), same layer names.

    conv1 32@3x3 -> ReLU -> conv2 64@3x3 -> ReLU -> max-pool 2 -> dropout 0.25 -> flatten (9216)
    -> fc1 128 -> ReLU -> dropout 0.5 -> fc2 num_classes. The example ends in log_softmax;
    this returns the logits (use :func:`~minicnn.nn.functional.cross_entropy`).
    Input (N, in_channels, 28, 28) (fc1 expects 64 x 12 x 12); output (N, num_classes).
    Parameters: 1,199,882 for num_classes=10, in_channels=1.
    """

    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = flatten(self.dropout1(F.max_pool2d(x, 2)), 1)
        return self.fc2(self.dropout2(F.relu(self.fc1(x))))


def simple_cnn(num_classes=10, in_channels=1):
    """:class:`SimpleCNN`: 1,199,882 parameters for 10 classes; (N, 1, 28, 28) input."""
    return SimpleCNN(num_classes=num_classes, in_channels=in_channels)
