"""The deeper, grouped and wider ResNets (resnet101/152, resnext50_32x4d, wide_resnet50_2), the
CIFAR wide ResNets (wrn_28_10, wide_resnet_cifar) and ConvNeXt (convnext_tiny) against
hand-written PyTorch twins defined here: torchvision's published parameter counts (checked with
torchvision 0.29), the same state_dict keys and shapes as the twin, and with the twin's weights
the same outputs, gradients and batch-norm statistics in eval and in train mode."""
from types import SimpleNamespace

import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.models.blocks import ConvNeXtBlock
from minicnn.models.convnext import CNBlockConfig, ConvNeXt, LayerNorm2d, convnext_tiny
from minicnn.models.resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    resnet101,
    resnet152,
    resnext50_32x4d,
    wide_resnet50_2,
)
from minicnn.models.wide_resnet import WideResNet, wide_resnet_cifar, wrn_28_10

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def _make_twins(torch):
    """PyTorch twins written from torchvision's source (ResNet, ConvNeXt) and the WRN paper's
    code; each takes the same arguments as its minicnn counterpart."""
    tnn = torch.nn

    class Bottleneck(tnn.Module):
        def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64):
            super().__init__()
            width = int(planes * (base_width / 64.0)) * groups
            self.conv1 = tnn.Conv2d(inplanes, width, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(width)
            self.conv2 = tnn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
            self.bn2 = tnn.BatchNorm2d(width)
            self.conv3 = tnn.Conv2d(width, planes * 4, 1, bias=False)
            self.bn3 = tnn.BatchNorm2d(planes * 4)
            self.relu = tnn.ReLU()
            self.downsample = downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class ResNet(tnn.Module):
        def __init__(self, layers, num_classes=1000, in_channels=3, small_input=False, groups=1,
                     width_per_group=64):
            super().__init__()
            self.conv1 = (tnn.Conv2d(in_channels, 64, 3, 1, 1, bias=False) if small_input
                          else tnn.Conv2d(in_channels, 64, 7, 2, 3, bias=False))
            self.bn1 = tnn.BatchNorm2d(64)
            self.relu = tnn.ReLU()
            self.maxpool = tnn.Identity() if small_input else tnn.MaxPool2d(3, 2, 1)
            inplanes = 64
            for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
                stride = 1 if i == 0 else 2
                down = None
                if stride != 1 or inplanes != planes * 4:
                    down = tnn.Sequential(tnn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                          tnn.BatchNorm2d(planes * 4))
                blocks = [Bottleneck(inplanes, planes, stride, down, groups, width_per_group)]
                inplanes = planes * 4
                blocks += [Bottleneck(inplanes, planes, 1, None, groups, width_per_group)
                           for _ in range(1, n)]
                setattr(self, f"layer{i + 1}", tnn.Sequential(*blocks))
            self.avgpool = tnn.AdaptiveAvgPool2d(1)
            self.fc = tnn.Linear(2048, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    class WideBasicBlock(tnn.Module):
        def __init__(self, inplanes, planes, stride, dropout):
            super().__init__()
            self.bn1 = tnn.BatchNorm2d(inplanes)
            self.relu = tnn.ReLU()
            self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.dropout = tnn.Dropout(dropout)
            self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = tnn.Conv2d(inplanes, planes, 1, stride, bias=False)

        def forward(self, x):
            act = self.relu(self.bn1(x))
            out = self.conv2(self.dropout(self.relu(self.bn2(self.conv1(act)))))
            return out + (x if self.downsample is None else self.downsample(act))

    class WideResNet(tnn.Module):
        def __init__(self, depth, widen_factor, dropout=0.0, num_classes=10, in_channels=3):
            super().__init__()
            n, k = (depth - 4) // 6, widen_factor
            self.conv1 = tnn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
            channels = 16
            for i, planes in enumerate((16 * k, 32 * k, 64 * k)):
                blocks = [WideBasicBlock(channels if j == 0 else planes, planes,
                                         2 if i and not j else 1, dropout) for j in range(n)]
                setattr(self, f"layer{i + 1}", tnn.Sequential(*blocks))
                channels = planes
            self.bn = tnn.BatchNorm2d(channels)
            self.relu = tnn.ReLU()
            self.avgpool = tnn.AdaptiveAvgPool2d(1)
            self.fc = tnn.Linear(channels, num_classes)

        def forward(self, x):
            x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
            return self.fc(torch.flatten(self.avgpool(self.relu(self.bn(x))), 1))

    class LayerNorm2d(tnn.LayerNorm):
        def forward(self, x):
            x = tnn.functional.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape,
                                          self.weight, self.bias, self.eps)
            return x.permute(0, 3, 1, 2)

    class Permute(tnn.Module):
        def __init__(self, dims):
            super().__init__()
            self.dims = dims

        def forward(self, x):
            return x.permute(*self.dims)

    class CNBlock(tnn.Module):
        def __init__(self, dim, layer_scale, p):
            super().__init__()
            self.block = tnn.Sequential(
                tnn.Conv2d(dim, dim, 7, padding=3, groups=dim), Permute([0, 2, 3, 1]),
                tnn.LayerNorm(dim, eps=1e-6), tnn.Linear(dim, 4 * dim), tnn.GELU(),
                tnn.Linear(4 * dim, dim), Permute([0, 3, 1, 2]))
            self.layer_scale = tnn.Parameter(torch.ones(dim, 1, 1) * layer_scale)
            self.p = p

        def forward(self, x):
            assert not (self.training and self.p), "the comparisons run without drop path"
            return x + self.layer_scale * self.block(x)

    class ConvNeXt(tnn.Module):
        def __init__(self, setting, stochastic_depth_prob=0.0, layer_scale=1e-6,
                     num_classes=1000, in_channels=3, small_input=False):
            super().__init__()
            first = setting[0][0]
            k, s, pad = (3, 1, 1) if small_input else (4, 4, 0)
            layers = [tnn.Sequential(tnn.Conv2d(in_channels, first, k, s, pad),
                                     LayerNorm2d(first, eps=1e-6))]
            total, index = sum(n for _, _, n in setting), 0
            for cin, cout, n in setting:
                stage = []
                for _ in range(n):
                    stage.append(CNBlock(cin, layer_scale,
                                         stochastic_depth_prob * index / (total - 1.0)))
                    index += 1
                layers.append(tnn.Sequential(*stage))
                if cout is not None:
                    layers.append(tnn.Sequential(LayerNorm2d(cin, eps=1e-6),
                                                 tnn.Conv2d(cin, cout, 2, 2)))
            self.features = tnn.Sequential(*layers)
            self.avgpool = tnn.AdaptiveAvgPool2d(1)
            last = setting[-1][1] or setting[-1][0]
            self.classifier = tnn.Sequential(LayerNorm2d(last, eps=1e-6), tnn.Flatten(1),
                                             tnn.Linear(last, num_classes))

        def forward(self, x):
            return self.classifier(self.avgpool(self.features(x)))

    return SimpleNamespace(ResNet=ResNet, WideResNet=WideResNet, ConvNeXt=ConvNeXt)


@pytest.fixture
def twins(torch):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield _make_twins(torch)
    torch.set_num_threads(threads)


TINY = [(96, 192, 3), (192, 384, 3), (384, 768, 9), (768, None, 3)]
NARROW = [(8, 16, 2), (16, None, 1)]


def _convnext(setting, *args, **kw):
    return ConvNeXt([CNBlockConfig(*c) for c in setting], *args, **kw)


# (id, minicnn model, twin, published parameter count): the full configurations
FULL = [
    ("resnet101", resnet101, lambda t: t.ResNet([3, 4, 23, 3]), 44_549_160),
    ("resnet152", resnet152, lambda t: t.ResNet([3, 8, 36, 3]), 60_192_808),
    ("resnext50_32x4d", resnext50_32x4d,
     lambda t: t.ResNet([3, 4, 6, 3], groups=32, width_per_group=4), 25_028_904),
    ("wide_resnet50_2", wide_resnet50_2,
     lambda t: t.ResNet([3, 4, 6, 3], width_per_group=128), 68_883_240),
    ("wrn_28_10", wrn_28_10, lambda t: t.WideResNet(28, 10), 36_479_194),
    ("convnext_tiny", convnext_tiny, lambda t: t.ConvNeXt(TINY, 0.1), 28_589_128),
]


def _count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("build,twin,published", [c[1:] for c in FULL], ids=[c[0] for c in FULL])
def test_full_model_has_the_published_count_and_the_twins_keys(twins, build, twin, published):
    model, ref = build(), twin(twins)
    assert _count(model) == published
    own, theirs = model.state_dict(), ref.state_dict()
    assert list(own) == list(theirs)
    for k, v in theirs.items():
        assert tuple(own[k].shape) == tuple(v.shape), k


@pytest.mark.parametrize("build,count", [
    (lambda: wrn_28_10(num_classes=100), 36_536_884),
    (lambda: wide_resnet_cifar(16, 4), 2_748_890),  # the paper's table 4: 2.7M
    (lambda: wide_resnet_cifar(16, 8), 10_961_370),  # 11.0M
    (lambda: wide_resnet_cifar(40, 4), 8_949_210),  # 8.9M
], ids=["wrn-28-10-c100", "wrn-16-4", "wrn-16-8", "wrn-40-4"])
def test_wide_resnet_cifar_counts_match_the_paper(build, count):
    assert _count(build()) == count


def _randomize_norms(torch, twin):
    """Non-trivial norm statistics, affine parameters and layer scales, so that loading them
    into the minicnn model matters."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in twin.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.LayerNorm)):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.2, generator=g)
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
        for name, p in twin.named_parameters():
            if name.endswith("layer_scale"):
                p.uniform_(0.5, 1.5, generator=g)


def _close(actual, expected, rtol):
    expected = np.asarray(expected)
    scale = max(float(np.abs(expected).max()), 1e-6)
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol, atol=rtol * scale)


# (id, minicnn model, twin, input (N, C, H, W), modes): small inputs or narrow configurations
SMALL = [
    ("resnext50_32x4d", lambda: resnext50_32x4d(),
     lambda t: t.ResNet([3, 4, 6, 3], groups=32, width_per_group=4), (2, 3, 32, 32),
     ("eval",)),
    ("resnext-narrow-small_input",
     lambda: ResNet(Bottleneck, [1, 2, 1, 1], 7, 2, small_input=True, groups=4,
                    width_per_group=8),
     lambda t: t.ResNet([1, 2, 1, 1], 7, 2, True, groups=4, width_per_group=8), (2, 2, 16, 16),
     ("eval", "train")),
    ("wrn-10-2", lambda: wide_resnet_cifar(10, 2), lambda t: t.WideResNet(10, 2),
     (2, 3, 16, 16), ("eval", "train")),
    ("wrn-16-1-dropout", lambda: wide_resnet_cifar(16, 1, 0.3, 5, 1),
     lambda t: t.WideResNet(16, 1, 0.3, 5, 1), (2, 1, 12, 12), ("eval",)),
    # drop path (0.1 by default) is off in eval mode
    ("convnext_tiny", convnext_tiny, lambda t: t.ConvNeXt(TINY, 0.1), (2, 3, 32, 32), ("eval",)),
    ("convnext-narrow-small_input",
     lambda: _convnext(NARROW, 0.0, 0.5, num_classes=5, in_channels=2, small_input=True),
     lambda t: t.ConvNeXt(NARROW, 0.0, 0.5, 5, 2, True), (2, 2, 8, 8), ("eval", "train")),
]


@pytest.mark.parametrize("build,twin,shape,modes", [c[1:] for c in SMALL],
                         ids=[c[0] for c in SMALL])
def test_outputs_and_gradients_match_the_twin(torch, twins, build, twin, shape, modes):
    """Eval mode in float32. Train mode in float64: batch norm over the few values of the last
    stages' small maps is ill-conditioned (at 2x2 maps, batch 2, PyTorch's own float32 input
    gradient strays by ~7% of its scale from the float64 one), and at 1x1 maps (2 values per
    channel) each block of layer4 amplifies float64 rounding ~100-fold, so train mode runs on
    the narrow configurations only, whose last maps are 2x2."""
    minicnn.manual_seed(0)
    model, ref = build(), twin(twins)
    _randomize_norms(torch, ref)
    x_np = np.random.default_rng(0).standard_normal(shape)
    for mode in modes:
        if mode == "train":
            model, ref = model.double(), ref.double()
            dtype, rtol, grad_rtol = np.float64, 1e-9, 1e-8
        else:
            dtype, rtol, grad_rtol = np.float32, 1e-4, 1e-3
        model.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
        model.train(mode == "train")
        ref.train(mode == "train")
        model.zero_grad()
        ref.zero_grad()
        xt = torch.tensor(x_np.astype(dtype), requires_grad=True)
        yt = ref(xt)
        g = np.random.default_rng(2).standard_normal(tuple(yt.shape)).astype(dtype)
        yt.backward(torch.tensor(g))
        x = minicnn.tensor(x_np.astype(dtype), requires_grad=True)
        y = model(x)
        _close(y.detach().numpy(), yt.detach().numpy(), rtol)
        y.backward(minicnn.tensor(g))
        _close(x.grad.numpy(), xt.grad.numpy(), grad_rtol)
        theirs = dict(ref.named_parameters())
        for name, p in model.named_parameters():
            _close(p.grad.numpy(), theirs[name].grad.numpy(), grad_rtol)
        # train mode moved the batch-norm running statistics the same way
        their_buffers = dict(ref.named_buffers())
        for name, b in model.named_buffers():
            _close(b.numpy(), their_buffers[name].detach().numpy(), rtol)


@pytest.mark.parametrize("build", [resnext50_32x4d, lambda **kw: wide_resnet_cifar(10, 2, **kw),
                                   convnext_tiny], ids=["resnext", "wrn", "convnext"])
def test_num_classes_and_in_channels_and_a_training_step(build):
    minicnn.manual_seed(0)
    model = build(num_classes=5, in_channels=2)
    params = list(model.named_parameters())
    assert params[0][1].shape[1] == 2 and params[-1][1].shape == (5,)
    x = minicnn.tensor(np.random.default_rng(0).standard_normal((2, 2, 32, 32), np.float32))
    loss = nn.functional.cross_entropy(model(x), minicnn.tensor(np.array([1, 3])))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), name


def test_small_input_stems_keep_the_keys():
    big, small = resnext50_32x4d(num_classes=10), resnext50_32x4d(num_classes=10, small_input=True)
    assert list(big.state_dict()) == list(small.state_dict())
    assert small.conv1.weight.shape == (64, 3, 3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, nn.Identity)
    big, small = convnext_tiny(), convnext_tiny(small_input=True, num_classes=10)
    assert list(big.state_dict()) == list(small.state_dict())
    stem = small.features[0][0]
    assert stem.weight.shape == (96, 3, 3, 3) and (stem.stride, stem.padding) == ((1, 1), (1, 1))
    assert big.features[0][0].weight.shape == (96, 3, 4, 4)
    x = minicnn.tensor(np.zeros((1, 3, 32, 32), np.float32))
    features = small.features(x)
    assert features.shape == (1, 768, 4, 4)  # 32 -> 32, 16, 8, 4
    assert small.classifier(small.avgpool(features)).shape == (1, 10)
    assert big.features(x).shape == (1, 768, 1, 1)


def test_grouped_and_wide_bottlenecks():
    rx, wide = resnext50_32x4d(), wide_resnet50_2()
    assert rx.layer1[0].conv2.groups == 32 and rx.layer1[0].conv2.weight.shape == (128, 4, 3, 3)
    assert rx.layer4[2].conv1.weight.shape == (1024, 2048, 1, 1)
    assert wide.layer1[0].conv2.weight.shape == (128, 128, 3, 3)
    assert wide.layer4[0].conv3.weight.shape == (2048, 1024, 1, 1)
    with pytest.raises(ValueError, match="BasicBlock only supports groups=1 and base_width=64"):
        ResNet(BasicBlock, [1, 1, 1, 1], groups=2)
    with pytest.raises(ValueError, match="base_width=64"):
        BasicBlock(8, 8, base_width=32)


def test_zero_init_residual():
    model = resnext50_32x4d(zero_init_residual=True)
    assert all(np.all(b.bn3.weight.detach().numpy() == 0) for layer in (model.layer1, model.layer4)
               for b in layer)
    assert np.all(resnext50_32x4d().layer2[0].bn3.weight.detach().numpy() == 1)


def test_wide_resnet_structure_and_arguments():
    m = wrn_28_10(dropout=0.3)
    assert [len(getattr(m, f"layer{i}")) for i in (1, 2, 3)] == [4, 4, 4]
    b = m.layer2[0]
    assert b.conv1.stride == (2, 2) and b.conv1.weight.shape == (320, 160, 3, 3)
    assert b.downsample.weight.shape == (320, 160, 1, 1) and b.downsample.bias is None
    assert m.layer1[0].downsample.weight.shape == (160, 16, 1, 1)
    assert m.layer2[1].downsample is None and m.layer3[3].downsample is None
    assert isinstance(b.dropout, nn.Dropout) and b.dropout.p == 0.3
    assert isinstance(wide_resnet_cifar(10, 1).layer1[0].dropout, nn.Identity)
    assert m.fc.weight.shape == (10, 640)
    # dropout is active in training mode only
    small = wide_resnet_cifar(10, 1, dropout=0.5)
    x = minicnn.tensor(np.random.default_rng(0).standard_normal((2, 3, 8, 8), np.float32))
    minicnn.manual_seed(0)
    a, c = small(x).detach().numpy(), small(x).detach().numpy()
    assert not np.allclose(a, c)
    small.eval()
    np.testing.assert_array_equal(small(x).detach().numpy(), small(x).detach().numpy())
    for kw, match in [({"depth": 27}, "6n \\+ 4"), ({"depth": 4}, "6n \\+ 4"),
                      ({"widen_factor": 0}, "widen_factor"), ({"widen_factor": 2.5}, "widen"),
                      ({"dropout": 1.0}, "dropout")]:
        with pytest.raises(ValueError, match=match):
            WideResNet(**kw)


def test_convnext_drop_path_schedule_and_init():
    minicnn.manual_seed(0)
    m = convnext_tiny()
    blocks = [b for stage in (1, 3, 5, 7) for b in m.features[stage]]
    assert all(isinstance(b, ConvNeXtBlock) for b in blocks) and len(blocks) == 18
    # linear in the block index, 0 .. 0.1, as torchvision
    np.testing.assert_allclose([b.stochastic_depth.p for b in blocks],
                               0.1 * np.arange(18) / 17)
    assert np.all(blocks[4].layer_scale.detach().numpy() == np.float32(1e-6))
    assert isinstance(m.features[2][0], LayerNorm2d) and m.features[2][0].eps == 1e-6
    assert m.features[2][1].weight.shape == (192, 96, 2, 2)
    w = m.features[5][0].block[3].weight.detach().numpy()
    assert abs(w.std() - 0.02) < 0.002 and np.abs(w).max() <= 2.0
    assert np.all(m.classifier[2].bias.detach().numpy() == 0)
    one = _convnext([(8, None, 1)], 0.5)  # a single block: probability 0
    assert one.features[1][0].stochastic_depth.p == 0.0
    with pytest.raises(ValueError, match="block_setting"):
        ConvNeXt([])


def test_layer_norm_2d_normalizes_each_pixel_over_the_channels(torch):
    x_np = np.random.default_rng(0).standard_normal((2, 5, 3, 4)).astype(np.float64)
    ln = LayerNorm2d(5, eps=1e-6, dtype=np.float64)
    nn.init.uniform_(ln.weight, 0.5, 1.5)
    nn.init.uniform_(ln.bias, -1, 1)
    x = minicnn.tensor(x_np, requires_grad=True)
    y = ln(x)
    xt = torch.tensor(x_np, requires_grad=True)
    w, b = (torch.tensor(t.detach().numpy()) for t in (ln.weight, ln.bias))
    yt = torch.nn.functional.layer_norm(xt.permute(0, 2, 3, 1), (5,), w, b, 1e-6)
    yt = yt.permute(0, 3, 1, 2)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(x_np.shape)
    y.backward(minicnn.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
