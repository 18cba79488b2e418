"""The mobile model zoo (MobileNet V1/V2/V3, ShuffleNet V2, EfficientNet B0-B7) and Hardsigmoid:
parameter counts (torchvision's, verified with torchvision 0.29; MobileNetV1's computed from the
paper's table 1), hand-written PyTorch twins compared after copying weights (torchvision is not
needed), small_input, summaries at the native input, and constructor errors."""
import types

import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.models.efficientnet import (
    efficientnet_b0,
    efficientnet_b1,
    efficientnet_b2,
    efficientnet_b3,
    efficientnet_b4,
    efficientnet_b5,
    efficientnet_b6,
    efficientnet_b7,
)
from minicnn.models.mobilenet import (
    DepthwiseSeparableConv,
    InvertedResidualConfig,
    InvertedResidualV3,
    MobileNetV1,
    MobileNetV3,
    mobilenet_v1,
    mobilenet_v2,
    mobilenet_v3_large,
    mobilenet_v3_small,
)
from minicnn.models.shufflenet import (
    ShuffleNetV2,
    ShuffleV2Block,
    channel_shuffle,
    shufflenet_v2_x1_0,
)
from minicnn.utils import summary

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def _count(model):
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- Hardsigmoid

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hardsigmoid_matches_torch(torch, dtype):
    x = np.concatenate([np.array([-4.0, -3.0, -1.5, 0.0, 2.0, 3.0, 7.0]),
                        np.random.default_rng(0).uniform(-5, 5, 50)]).astype(dtype)
    xo, xt = minicnn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = nn.Hardsigmoid()(xo), torch.nn.Hardsigmoid()(xt)
    assert yo.dtype == dtype
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-7)
    g = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    yo.backward(minicnn.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_hardsigmoid_functional_repr_and_inplace(torch):
    assert repr(nn.Hardsigmoid(True)) == repr(torch.nn.Hardsigmoid(True)) == "Hardsigmoid()"
    x = minicnn.tensor(np.array([-6.0, 0.0, 1.5, 6.0]))
    out = nn.functional.hardsigmoid(x, inplace=True)
    assert out is x
    np.testing.assert_allclose(x.numpy(), [0.0, 0.5, 0.75, 1.0])
    with pytest.raises(TypeError, match=r"hardsigmoid\(\): argument 'input' .* must be Tensor"):
        nn.functional.hardsigmoid(np.zeros(3))


# ---------------------------------------------------------------- parameter counts

def _mobilenet_v1_count(num_classes, alpha=1.0):
    """MobileNetV1's parameters from the paper's table 1: a bias-free 3x3 stem conv with BN,
    13 depthwise separable layers (3x3 depthwise + BN, 1x1 pointwise + BN), the FC layer."""
    def width(c):
        return max(8, int(c * alpha))
    chans = [width(c) for c in (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512,
                                1024, 1024)]
    total = 3 * 9 * chans[0] + 2 * chans[0]
    for inp, oup in zip(chans, chans[1:]):
        total += 9 * inp + 2 * inp + inp * oup + 2 * oup
    return total + chans[-1] * num_classes + num_classes


def test_mobilenet_v1_count_is_the_papers():
    assert _mobilenet_v1_count(1000) == 4_231_976  # the paper's "4.2 million"
    assert _count(mobilenet_v1()) == 4_231_976
    for alpha in (0.75, 0.5, 0.25):  # the paper's table 6: 2.6, 1.3, 0.5 million
        assert _count(mobilenet_v1(width_mult=alpha)) == _mobilenet_v1_count(1000, alpha)
    assert _count(mobilenet_v1(width_mult=0.25)) == 470_072


# (constructor, torchvision's parameter count for 1000 classes, its state_dict length)
PUBLISHED = [
    (mobilenet_v2, 3_504_872, 314),
    (mobilenet_v3_small, 2_542_856, 244),
    (mobilenet_v3_large, 5_483_032, 312),
    (shufflenet_v2_x1_0, 2_278_604, 338),
    (efficientnet_b0, 5_288_548, 360),
    (efficientnet_b1, 7_794_184, 508),
    (efficientnet_b2, 9_109_994, 508),
    (efficientnet_b3, 12_233_232, 574),
    (efficientnet_b4, 19_341_616, 706),
    (efficientnet_b5, 30_389_784, 854),
    (efficientnet_b6, 43_040_704, 986),
    (efficientnet_b7, 66_347_960, 1200),
]
CHEAP = [mobilenet_v1, mobilenet_v2, mobilenet_v3_small, mobilenet_v3_large, shufflenet_v2_x1_0,
         efficientnet_b0, efficientnet_b1]


@pytest.mark.parametrize("ctor, params, keys", PUBLISHED, ids=lambda v: getattr(v, "__name__", ""))
def test_published_count_and_a_training_step(ctor, params, keys):
    """torchvision's parameter count and number of state_dict entries; then one forward and
    backward at 32x32 (batch 2) gives every parameter a finite gradient."""
    minicnn.manual_seed(0)
    model = ctor()
    assert _count(model) == params
    assert len(model.state_dict()) == keys
    x = minicnn.tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32), np.float32))
    y = model(x)
    assert y.shape == (2, 1000)
    nn.functional.cross_entropy(y, minicnn.tensor(np.array([1, 3]))).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), name


def test_torchvision_width_multipliers():
    # torchvision's mobilenet_v3_*(width_mult=0.75), mobilenet_v2(width_mult=0.5)
    assert _count(mobilenet_v3_small(width_mult=0.75)) == 1_653_920
    assert _count(mobilenet_v3_large(width_mult=0.75)) == 3_377_576
    assert _count(mobilenet_v2(width_mult=0.5)) == 1_968_680


def test_efficientnet_scaling_and_norms():
    """Compound scaling: the stage depths are ceil(depth * B0's), the widths multiples of 8 near
    width * B0's; B5-B7 use torchvision's TensorFlow batch-norm settings."""
    b0, b4 = efficientnet_b0(), efficientnet_b4()
    assert [len(s) for s in b0.features[1:8]] == [1, 2, 2, 3, 3, 4, 1]
    assert [len(s) for s in b4.features[1:8]] == [2, 4, 4, 6, 6, 8, 2]  # ceil(1.8 n)
    assert b4.features[0][0].out_channels == 48 and b4.classifier[1].in_features == 1792
    assert b4.classifier[0].p == 0.4
    assert (b4.features[0][1].eps, b4.features[0][1].momentum) == (1e-5, 0.1)
    b5 = efficientnet_b5(num_classes=10)
    assert (b5.features[0][1].eps, b5.features[0][1].momentum) == (1e-3, 0.01)
    assert b5.classifier[1].in_features == 2048
    # stochastic depth grows linearly to 0.2 over the blocks
    probs = [m.stochastic_depth.p for m in b0.modules() if hasattr(m, "stochastic_depth")]
    np.testing.assert_allclose(probs, 0.2 * np.arange(16) / 16)


# ---------------------------------------------------------------- small_input

@pytest.mark.parametrize("ctor", CHEAP, ids=lambda c: c.__name__)
def test_small_input_keeps_parameters_and_keeps_4x4_maps(ctor):
    big, small = ctor(num_classes=10), ctor(num_classes=10, small_input=True)
    assert [(k, v.shape) for k, v in big.state_dict().items()] == \
        [(k, v.shape) for k, v in small.state_dict().items()]
    x = minicnn.tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32), np.float32))
    first = next(m for m in small.modules() if isinstance(m, nn.Conv2d))
    assert first.kernel_size == (3, 3) and first.stride == (1, 1)
    if ctor is shufflenet_v2_x1_0:
        assert isinstance(small.maxpool, nn.Identity)
        before_head = small.stage4(small.stage3(small.stage2(small.maxpool(small.conv1(x)))))
        assert before_head.shape[2:] == (4, 4)
        assert big.stage4(big.stage3(big.stage2(big.maxpool(big.conv1(x))))).shape[2:] == (1, 1)
    else:
        assert small.features(x).shape[2:] == (4, 4)
        assert big.features(x).shape[2:] == (1, 1)
    y = small(x)
    assert y.shape == (2, 10)
    y.sum().backward()
    assert all(np.isfinite(p.grad.numpy()).all() for p in small.parameters())


@pytest.mark.parametrize("ctor", CHEAP, ids=lambda c: c.__name__)
def test_num_classes_and_in_channels(ctor):
    model = ctor(num_classes=5, in_channels=2)
    params = list(model.named_parameters())
    assert params[0][1].shape[1] == 2, params[0][0]
    assert params[-1][0].endswith("bias") and params[-1][1].shape == (5,)
    y = model(minicnn.tensor(np.random.default_rng(0).standard_normal((2, 2, 32, 32),
                                                                      np.float32)))
    assert y.shape == (2, 5)


# ---------------------------------------------------------------- summaries

@pytest.mark.parametrize("ctor, size, params, macs", [
    (mobilenet_v1, 224, 4_231_976, 568_740_352),  # the paper's 569 million mult-adds
    (mobilenet_v3_small, 224, 2_542_856, 56_510_400),  # torch's flop counter on torchvision's
    (shufflenet_v2_x1_0, 224, 2_278_604, 144_907_992),
    (efficientnet_b1, 240, 7_794_184, 686_802_832),
], ids=lambda v: getattr(v, "__name__", ""))
def test_summary_at_native_input(ctor, size, params, macs):
    s = summary(ctor(), (3, size, size))
    assert s.total_params == params and s.total_macs == macs
    assert s.layers[-1].output_shape == (1, 1000)


# ---------------------------------------------------------------- PyTorch twins

def _build_twins(torch):
    """torchvision's MobileNetV3, ShuffleNetV2 and EfficientNet written out in PyTorch (keys,
    layers and forward as torchvision 0.29), with minicnn's in_channels and small_input."""
    tnn = torch.nn

    def make_divisible(v, divisor=8):
        new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
        return new_v + divisor if new_v < 0.9 * v else new_v

    class CNA(tnn.Sequential):
        def __init__(self, cin, cout, k=3, stride=1, groups=1, norm=tnn.BatchNorm2d,
                     act=tnn.ReLU):
            layers = [tnn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                      norm(cout)]
            if act is not None:
                layers.append(act())
            super().__init__(*layers)

    class SE(tnn.Module):
        def __init__(self, c, s, act=tnn.ReLU, scale=tnn.Sigmoid):
            super().__init__()
            self.avgpool = tnn.AdaptiveAvgPool2d(1)
            self.fc1, self.fc2 = tnn.Conv2d(c, s, 1), tnn.Conv2d(s, c, 1)
            self.activation, self.scale_activation = act(), scale()

        def forward(self, x):
            return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x))))) * x

    # ---- MobileNetV3
    def v3_norm(c):
        return tnn.BatchNorm2d(c, eps=0.001, momentum=0.01)

    class V3Block(tnn.Module):
        def __init__(self, cin, k, exp, cout, use_se, hs, stride):
            super().__init__()
            act = tnn.Hardswish if hs else tnn.ReLU
            layers = [] if exp == cin else [CNA(cin, exp, 1, norm=v3_norm, act=act)]
            layers.append(CNA(exp, exp, k, stride, exp, norm=v3_norm, act=act))
            if use_se:
                layers.append(SE(exp, make_divisible(exp // 4), scale=tnn.Hardsigmoid))
            layers.append(CNA(exp, cout, 1, norm=v3_norm, act=None))
            self.block = tnn.Sequential(*layers)
            self.res = stride == 1 and cin == cout

        def forward(self, x):
            return self.block(x) + x if self.res else self.block(x)

    v3_small_rows = [(16, 3, 16, 16, True, False, 2), (16, 3, 72, 24, False, False, 2),
                     (24, 3, 88, 24, False, False, 1), (24, 5, 96, 40, True, True, 2),
                     (40, 5, 240, 40, True, True, 1), (40, 5, 240, 40, True, True, 1),
                     (40, 5, 120, 48, True, True, 1), (48, 5, 144, 48, True, True, 1),
                     (48, 5, 288, 96, True, True, 2), (96, 5, 576, 96, True, True, 1),
                     (96, 5, 576, 96, True, True, 1)]

    class MobileNetV3Small(tnn.Module):
        def __init__(self, num_classes=1000, in_channels=3, dropout=0.2, small_input=False):
            super().__init__()
            rows = [list(r) for r in v3_small_rows]
            if small_input:  # the stem and the first stride-2 block at stride 1
                rows[0][6] = 1
            layers = [CNA(in_channels, 16, 3, 1 if small_input else 2, norm=v3_norm,
                          act=tnn.Hardswish)]
            layers += [V3Block(*r) for r in rows]
            layers.append(CNA(96, 576, 1, norm=v3_norm, act=tnn.Hardswish))
            self.features = tnn.Sequential(*layers)
            self.avgpool = tnn.AdaptiveAvgPool2d(1)
            self.classifier = tnn.Sequential(tnn.Linear(576, 1024), tnn.Hardswish(),
                                             tnn.Dropout(dropout), tnn.Linear(1024, num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    # ---- ShuffleNetV2
    def shuffle(x, groups):
        n, c, h, w = x.shape
        return x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous().view(n, c, h, w)

    class ShuffleBlock(tnn.Module):
        def __init__(self, inp, oup, stride):
            super().__init__()
            self.stride, b = stride, oup // 2
            if stride > 1:
                self.branch1 = tnn.Sequential(
                    tnn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
                    tnn.BatchNorm2d(inp), tnn.Conv2d(inp, b, 1, bias=False), tnn.BatchNorm2d(b),
                    tnn.ReLU())
            else:
                self.branch1 = tnn.Sequential()
            self.branch2 = tnn.Sequential(
                tnn.Conv2d(inp if stride > 1 else b, b, 1, bias=False), tnn.BatchNorm2d(b),
                tnn.ReLU(), tnn.Conv2d(b, b, 3, stride, 1, groups=b, bias=False),
                tnn.BatchNorm2d(b), tnn.Conv2d(b, b, 1, bias=False), tnn.BatchNorm2d(b),
                tnn.ReLU())

        def forward(self, x):
            if self.stride == 1:
                x1, x2 = x.chunk(2, dim=1)
                out = torch.cat((x1, self.branch2(x2)), dim=1)
            else:
                out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
            return shuffle(out, 2)

    class ShuffleNetV2x1(tnn.Module):
        def __init__(self, num_classes=1000, in_channels=3, small_input=False):
            super().__init__()
            self.conv1 = tnn.Sequential(
                tnn.Conv2d(in_channels, 24, 3, 1 if small_input else 2, 1, bias=False),
                tnn.BatchNorm2d(24), tnn.ReLU())
            self.maxpool = tnn.Identity() if small_input else tnn.MaxPool2d(3, 2, 1)
            cin = 24
            for name, repeats, cout in [("stage2", 4, 116), ("stage3", 8, 232),
                                        ("stage4", 4, 464)]:
                setattr(self, name, tnn.Sequential(
                    ShuffleBlock(cin, cout, 2), *[ShuffleBlock(cout, cout, 1)
                                                  for _ in range(repeats - 1)]))
                cin = cout
            self.conv5 = tnn.Sequential(tnn.Conv2d(464, 1024, 1, bias=False),
                                        tnn.BatchNorm2d(1024), tnn.ReLU())
            self.fc = tnn.Linear(1024, num_classes)

        def forward(self, x):
            x = self.maxpool(self.conv1(x))
            x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
            return self.fc(x.mean([2, 3]))

    # ---- EfficientNet
    class StochasticDepth(tnn.Module):
        def __init__(self, p):
            super().__init__()
            self.p = p

        def forward(self, x):
            if not self.training or self.p == 0.0:
                return x
            keep = torch.empty((x.shape[0], 1, 1, 1)).bernoulli_(1 - self.p)
            return x * keep / (1 - self.p)

    class MBConv(tnn.Module):
        def __init__(self, expand, k, stride, cin, cout, sd_prob, norm):
            super().__init__()
            exp = make_divisible(cin * expand)
            layers = [] if exp == cin else [CNA(cin, exp, 1, norm=norm, act=tnn.SiLU)]
            layers += [CNA(exp, exp, k, stride, exp, norm=norm, act=tnn.SiLU),
                       SE(exp, max(1, cin // 4), act=tnn.SiLU),
                       CNA(exp, cout, 1, norm=norm, act=None)]
            self.block = tnn.Sequential(*layers)
            self.stochastic_depth = StochasticDepth(sd_prob)
            self.res = stride == 1 and cin == cout

        def forward(self, x):
            y = self.block(x)
            return self.stochastic_depth(y) + x if self.res else y

    class EfficientNet(tnn.Module):
        def __init__(self, width, depth, dropout, num_classes=1000, in_channels=3,
                     small_input=False, sd_prob=0.2):
            super().__init__()
            rows = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
                    (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
                    (6, 3, 1, 192, 320, 1)]
            rows = [(e, k, 1 if small_input and i == 1 else s, make_divisible(ci * width),
                     make_divisible(co * width), int(np.ceil(n * depth)))
                    for i, (e, k, s, ci, co, n) in enumerate(rows)]
            norm = tnn.BatchNorm2d
            layers = [CNA(in_channels, rows[0][3], 3, 1 if small_input else 2, norm=norm,
                          act=tnn.SiLU)]
            total, index = sum(r[5] for r in rows), 0
            for e, k, s, ci, co, n in rows:
                stage = []
                for j in range(n):
                    stage.append(MBConv(e, k, s if j == 0 else 1, ci if j == 0 else co, co,
                                        sd_prob * index / total, norm))
                    index += 1
                layers.append(tnn.Sequential(*stage))
            last = rows[-1][4]
            layers.append(CNA(last, 4 * last, 1, norm=norm, act=tnn.SiLU))
            self.features = tnn.Sequential(*layers)
            self.avgpool = tnn.AdaptiveAvgPool2d(1)
            self.classifier = tnn.Sequential(tnn.Dropout(dropout),
                                             tnn.Linear(4 * last, num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    return types.SimpleNamespace(
        mobilenet_v3_small=MobileNetV3Small, shufflenet_v2_x1_0=ShuffleNetV2x1,
        efficientnet_b1=lambda **kw: EfficientNet(1.0, 1.1, 0.2, **kw))


@pytest.fixture
def twins(torch):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield _build_twins(torch)
    torch.set_num_threads(threads)


def _randomize_norms(torch, twin):
    """Non-trivial batch-norm statistics and affine parameters, so that loading them matters."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in twin.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.2, generator=g)
                m.running_mean.uniform_(-0.2, 0.2, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)


def _close(actual, expected, rtol, what):
    expected = np.asarray(expected)
    scale = max(float(np.abs(expected).max()), 1e-6)
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol, atol=rtol * scale,
                               err_msg=what)


TWIN_CASES = [
    ("mobilenet_v3_small", mobilenet_v3_small, {}),
    ("mobilenet_v3_small", mobilenet_v3_small, {"small_input": True, "num_classes": 10,
                                                "in_channels": 1}),
    ("shufflenet_v2_x1_0", shufflenet_v2_x1_0, {}),
    ("shufflenet_v2_x1_0", shufflenet_v2_x1_0, {"small_input": True, "num_classes": 10}),
    ("efficientnet_b1", efficientnet_b1, {}),
    ("efficientnet_b1", efficientnet_b1, {"small_input": True, "num_classes": 10}),
]


@pytest.mark.parametrize("name, ctor, kw", TWIN_CASES,
                         ids=[n + "".join(f"-{k}={v}" for k, v in kw.items())
                              for n, _, kw in TWIN_CASES])
def test_model_matches_pytorch_twin(twins, torch, name, ctor, kw):
    """Same keys, shapes and parameter order as the twin; with its weights (and random batch-norm
    statistics), the same eval-mode output and the same gradients of the input and every
    parameter for a random upstream gradient, at 32x32 with a batch of 2."""
    model, twin = ctor(**kw), getattr(twins, name)(**kw)
    ref = twin.state_dict()
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in ref.items()]
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in twin.named_parameters()]
    _randomize_norms(torch, twin)
    model.load_state_dict({k: v.detach().numpy() for k, v in twin.state_dict().items()})
    model.eval()
    twin.eval()
    x_np = np.random.default_rng(0).standard_normal((2, kw.get("in_channels", 3), 32, 32),
                                                    np.float32)
    xt = torch.tensor(x_np, requires_grad=True)
    yt = twin(xt)
    g = np.random.default_rng(2).standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g))
    x = minicnn.tensor(x_np, requires_grad=True)
    y = model(x)
    _close(y.detach().numpy(), yt.detach().numpy(), 1e-4, "output")
    y.backward(minicnn.tensor(g))
    _close(x.grad.numpy(), xt.grad.numpy(), 1e-3, "input gradient")
    twin_params = dict(twin.named_parameters())
    for pname, p in model.named_parameters():
        _close(p.grad.numpy(), twin_params[pname].grad.numpy(), 1e-3, pname)


def test_shufflenet_trains_like_its_twin(twins, torch):
    """Training mode (batch statistics, running-average updates) agrees too."""
    model, twin = shufflenet_v2_x1_0(num_classes=10, small_input=True), \
        twins.shufflenet_v2_x1_0(num_classes=10, small_input=True)
    model.load_state_dict({k: v.detach().numpy() for k, v in twin.state_dict().items()})
    x_np = np.random.default_rng(0).standard_normal((2, 3, 32, 32), np.float32)
    yt = twin(torch.tensor(x_np))
    y = model(minicnn.tensor(x_np))
    _close(y.detach().numpy(), yt.detach().numpy(), 1e-3, "output")
    after = twin.state_dict()
    for k, v in model.state_dict().items():
        if "running" in k:  # near 0 behind another BN: an absolute tolerance
            np.testing.assert_allclose(v.numpy(), after[k].numpy(), rtol=1e-4, atol=1e-6,
                                       err_msg=k)


# ---------------------------------------------------------------- blocks and errors

def test_channel_shuffle_permutes_channels():
    x_np = np.arange(2 * 6 * 2 * 3, dtype=np.float32).reshape(2, 6, 2, 3)
    x = minicnn.tensor(x_np, requires_grad=True)
    y = channel_shuffle(x, 2)
    # channel g * 3 + j goes to j * 2 + g
    np.testing.assert_array_equal(y.detach().numpy(), x_np[:, [0, 3, 1, 4, 2, 5]])
    weights = np.arange(6, dtype=np.float32).reshape(1, 6, 1, 1)
    (y * minicnn.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, :, 0, 0], [0, 2, 4, 1, 3, 5])
    with pytest.raises(ValueError, match="groups \\(4\\) must be a positive divisor .* 6"):
        channel_shuffle(x, 4)


def test_mobilenet_v1_layout():
    m = mobilenet_v1(num_classes=10)
    keys = list(m.state_dict())
    assert keys[:2] == ["features.0.0.weight", "features.0.1.weight"]
    assert "features.13.pointwise.0.weight" in keys and keys[-1] == "classifier.1.bias"
    strides = [b.depthwise[0].stride[0] for b in m.features[1:]]
    assert strides == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    assert all(b.depthwise[0].groups == b.depthwise[0].in_channels for b in m.features[1:])
    assert m.classifier[1].in_features == 1024
    assert mobilenet_v1(width_mult=0.5).classifier[1].in_features == 512


def test_mobilenet_v3_blocks():
    large = mobilenet_v3_large()
    # the SE gate is a hard sigmoid, the bottleneck activations ReLU then hard-swish
    se = large.features[4].block[2]
    assert isinstance(se.scale_activation, nn.Hardsigmoid) and isinstance(se.activation, nn.ReLU)
    assert se.fc1.out_channels == 24  # make_divisible(72 // 4, 8)
    assert isinstance(large.features[2].block[0][2], nn.ReLU)
    assert isinstance(large.features[7].block[0][2], nn.Hardswish)
    assert (large.features[0][1].eps, large.features[0][1].momentum) == (1e-3, 0.01)
    assert large.classifier[3].in_features == 1280 and large.features[-1][0].out_channels == 960


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="stride should be 1 or 2, got 3"):
        DepthwiseSeparableConv(8, 16, 3)
    with pytest.raises(ValueError, match="width_mult must be positive"):
        MobileNetV1(width_mult=0)
    with pytest.raises(ValueError, match="activation should be 'RE' or 'HS'"):
        InvertedResidualConfig(16, 3, 16, 16, False, "relu", 1)
    with pytest.raises(ValueError, match="stride should be 1 or 2, got 3"):
        InvertedResidualV3(InvertedResidualConfig(16, 3, 16, 16, False, "RE", 3),
                           nn.BatchNorm2d)
    with pytest.raises(ValueError, match="should not be empty"):
        MobileNetV3([], 1024)
    with pytest.raises(ValueError, match="stride should be 1 or 2"):
        ShuffleV2Block(24, 116, 3)
    with pytest.raises(ValueError, match="input channels \\(24\\) must be 2 \\* \\(oup // 2\\)"):
        ShuffleV2Block(24, 116, 1)
    with pytest.raises(ValueError, match="stages_repeats"):
        ShuffleNetV2([4, 8], [24, 116, 232, 464, 1024])
    with pytest.raises(ValueError, match="stages_out_channels"):
        ShuffleNetV2([4, 8, 4], [24, 116, 232, 464])
