"""ShuffleNet V2 (Ma, Zhang, Zheng & Sun 2018, "ShuffleNet V2: Practical Guidelines for Efficient
CNN Architecture Design"), with torchvision's structure and keys."""
from .. import nn
from ..ops import cat

__all__ = ["channel_shuffle", "ShuffleV2Block", "ShuffleNetV2", "shufflenet_v2_x1_0"]


def channel_shuffle(x, groups):
    """The channel shuffle (Zhang et al. 2018, ShuffleNet, fig. 1): view the C channels as a
    (groups, C / groups) grid and transpose it, so channel g * (C / groups) + j moves to
    j * groups + g and each group of the next grouped layer sees every group of this one.
    (N, C, H, W) -> (N, C, H, W), any float dtype, differentiable. Raises ValueError unless
    ``groups`` divides C."""
    n, c, h, w = x.shape
    if groups < 1 or c % groups:
        raise ValueError(f"channel_shuffle: groups ({groups}) must be a positive divisor of the "
                         f"channel count {c}")
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def _depthwise(channels, stride):
    return nn.Conv2d(channels, channels, 3, stride, 1, groups=channels, bias=False)


class ShuffleV2Block(nn.Module):
    """The ShuffleNet V2 unit (Ma et al. 2018, fig. 3c and 3d; torchvision's shufflenetv2
    ``InvertedResidual``), for ``oup`` output channels and b = oup // 2 per branch:

    - stride 1 (fig. 3c): the input's channels are split in two halves; the first passes
      unchanged, the second goes through ``branch2`` = 1x1 conv -> BN -> ReLU -> 3x3 depthwise
      -> BN -> 1x1 conv -> BN -> ReLU; ``branch1`` is empty. Needs inp == 2 b.
    - stride 2 (fig. 3d): both branches see the whole input: ``branch1`` = 3x3 depthwise
      (stride 2) -> BN -> 1x1 conv to b -> BN -> ReLU, and ``branch2`` as above with the
      stride on its depthwise conv.

    The two branches are concatenated and :func:`channel_shuffle`-d with 2 groups.
    (N, inp, H, W) -> (N, 2 b, H / stride, W / stride). Raises ValueError for a stride other
    than 1 or 2, or stride 1 with inp != 2 b.
    """

    def __init__(self, inp, oup, stride):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"ShuffleV2Block: stride should be 1 or 2, got {stride}")
        branch = oup // 2
        if stride == 1 and inp != 2 * branch:
            raise ValueError(f"ShuffleV2Block: with stride 1 the input channels ({inp}) must be "
                             f"2 * (oup // 2) = {2 * branch}")
        self.stride = stride
        if stride > 1:
            self.branch1 = nn.Sequential(
                _depthwise(inp, stride), nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch, 1, bias=False), nn.BatchNorm2d(branch), nn.ReLU())
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else branch, branch, 1, bias=False),
            nn.BatchNorm2d(branch), nn.ReLU(),
            _depthwise(branch, stride), nn.BatchNorm2d(branch),
            nn.Conv2d(branch, branch, 1, bias=False), nn.BatchNorm2d(branch), nn.ReLU())

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = cat([x1, self.branch2(x2)], 1)
        else:
            out = cat([self.branch1(x), self.branch2(x)], 1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """ShuffleNet V2 (Ma et al. 2018, table 5; torchvision's ``ShuffleNetV2``, same keys:
    ``conv1.0.weight``, ``stage2.0.branch1.0.weight``, ``stage3.1.branch2.3.weight``,
    ``conv5.1.running_var``, ``fc.weight``).

    conv1 = 3x3/2 conv -> BN -> ReLU (``stages_out_channels[0]`` channels), 3x3/2 max-pool;
    stage2..stage4: one stride-2 :class:`ShuffleV2Block`, then ``stages_repeats[i] - 1``
    stride-1 ones (``stages_out_channels[1..3]`` channels); conv5 = 1x1 conv -> BN -> ReLU to
    ``stages_out_channels[4]``; global average pool; fc = Linear. Every conv is bias-free.

    ``small_input=True`` (32x32 images): conv1 has stride 1 and the max-pool is an Identity,
    so the total stride is 8 (4x4 maps before conv5) instead of 32; same parameters and keys.
    Input (N, in_channels, H, W), 224x224 for ImageNet (32x32 works: total stride 32); output
    (N, num_classes). Initialization: PyTorch's layer defaults, as torchvision's. Raises
    ValueError unless there are 3 stage repeats and 5 channel counts.
    """

    def __init__(self, stages_repeats, stages_out_channels, num_classes=1000, in_channels=3,
                 small_input=False):
        super().__init__()
        if len(stages_repeats) != 3:
            raise ValueError(f"ShuffleNetV2: expected stages_repeats as a list of 3 positive "
                             f"ints, got {stages_repeats!r}")
        if len(stages_out_channels) != 5:
            raise ValueError(f"ShuffleNetV2: expected stages_out_channels as a list of 5 "
                             f"positive ints, got {stages_out_channels!r}")
        channels = stages_out_channels[0]
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, 1 if small_input else 2, 1, bias=False),
            nn.BatchNorm2d(channels), nn.ReLU())
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, 2, 1)
        for i, (repeats, out) in enumerate(zip(stages_repeats, stages_out_channels[1:4])):
            blocks = [ShuffleV2Block(channels, out, 2)]
            blocks += [ShuffleV2Block(out, out, 1) for _ in range(repeats - 1)]
            setattr(self, f"stage{i + 2}", nn.Sequential(*blocks))
            channels = out
        last = stages_out_channels[4]
        self.conv5 = nn.Sequential(nn.Conv2d(channels, last, 1, bias=False),
                                   nn.BatchNorm2d(last), nn.ReLU())
        self.fc = nn.Linear(last, num_classes)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return self.fc(x.mean((2, 3)))


def shufflenet_v2_x1_0(num_classes=1000, in_channels=3, small_input=False):
    """ShuffleNet V2 1x (Ma et al. 2018, table 5; torchvision's ``shufflenet_v2_x1_0``): stages
    of 4, 8, 4 units with 116, 232, 464 channels, conv1 24 and conv5 1024 channels. 2,278,604
    parameters for 1000 classes, 3 channels; input (N, 3, 224, 224) -> (N, num_classes)."""
    return ShuffleNetV2([4, 8, 4], [24, 116, 232, 464, 1024], num_classes, in_channels,
                        small_input)
