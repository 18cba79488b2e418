"""The classic zoo models: AlexNet, GoogLeNet, Network in Network and VGG-11/13/16/19 (with and
without batch norm, CIFAR and ImageNet heads).

Parameter counts are torchvision's published figures (``weights.meta["num_params"]``; checked
against torchvision 0.29 when these tests were written, as were the key fingerprints below).
Outputs and gradients are compared with hand-written PyTorch twins (in this file, written
after torchvision's source) whose weights are loaded into the minicnn models."""
import hashlib
from collections import namedtuple

import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.models import vgg as V
from minicnn.models.alexnet import alexnet
from minicnn.models.googlenet import GoogLeNetOutputs, googlenet
from minicnn.models.nin import nin
from minicnn.utils.summary import summary

VGGS = ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
_CFG = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture
def no_init(monkeypatch):
    """Skip weight initialization (the ImageNet VGGs draw ~140M random numbers, seconds each):
    for tests that count parameters or load every weight from a twin."""
    monkeypatch.setattr(nn.Linear, "reset_parameters", lambda self: None)
    monkeypatch.setattr(nn.Conv2d, "reset_parameters", lambda self: None)
    monkeypatch.setattr(V, "_initialize", lambda *args, **kwargs: None)


def _count(model):
    return sum(p.numel() for p in model.parameters())


def _case_id(name, kwargs):
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


def _out_shape(model_summary, name=""):
    """The output shape of the layer ``name`` ("" for the model) in a summary."""
    return {layer.name: layer.output_shape for layer in model_summary.layers}[name]


def _fingerprint(state_dict):
    """(number of keys, sha256 prefix of "key:shape" lines), to compare with torchvision's."""
    text = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in state_dict.items())
    return len(state_dict), hashlib.sha256(text.encode()).hexdigest()[:16]


# ------------------------------------------------------------------ the PyTorch twins

def _twins(torch):
    """Builders of the PyTorch twins: torchvision's layouts, plus the small_input stems."""
    tnn = torch.nn

    def alexnet_twin(num_classes=1000, in_channels=3, small_input=False, dropout=0.5):
        class AlexNet(tnn.Module):
            def __init__(self):
                super().__init__()
                stem = (tnn.Conv2d(in_channels, 64, 3, 1, 1) if small_input
                        else tnn.Conv2d(in_channels, 64, 11, 4, 2))
                self.features = tnn.Sequential(
                    stem, tnn.ReLU(), tnn.Identity() if small_input else tnn.MaxPool2d(3, 2),
                    tnn.Conv2d(64, 192, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(3, 2),
                    tnn.Conv2d(192, 384, 3, padding=1), tnn.ReLU(),
                    tnn.Conv2d(384, 256, 3, padding=1), tnn.ReLU(),
                    tnn.Conv2d(256, 256, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(3, 2))
                self.avgpool = tnn.AdaptiveAvgPool2d((6, 6))
                self.classifier = tnn.Sequential(
                    tnn.Dropout(dropout), tnn.Linear(9216, 4096), tnn.ReLU(),
                    tnn.Dropout(dropout), tnn.Linear(4096, 4096), tnn.ReLU(),
                    tnn.Linear(4096, num_classes))

            def forward(self, x):
                return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
        return AlexNet()

    class BasicConv2d(tnn.Module):
        def __init__(self, cin, cout, **kwargs):
            super().__init__()
            self.conv = tnn.Conv2d(cin, cout, bias=False, **kwargs)
            self.bn = tnn.BatchNorm2d(cout, eps=0.001)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)))

    class Inception(tnn.Module):
        def __init__(self, cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
            super().__init__()
            self.branch1 = BasicConv2d(cin, ch1x1, kernel_size=1)
            self.branch2 = tnn.Sequential(BasicConv2d(cin, ch3x3red, kernel_size=1),
                                          BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
            # torchvision's "5x5" branch is a 3x3 conv
            self.branch3 = tnn.Sequential(BasicConv2d(cin, ch5x5red, kernel_size=1),
                                          BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))
            self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, 1, 1, ceil_mode=True),
                                          BasicConv2d(cin, pool_proj, kernel_size=1))

        def forward(self, x):
            return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x),
                              self.branch4(x)], 1)

    class InceptionAux(tnn.Module):
        def __init__(self, cin, num_classes, dropout):
            super().__init__()
            self.conv = BasicConv2d(cin, 128, kernel_size=1)
            self.fc1 = tnn.Linear(2048, 1024)
            self.fc2 = tnn.Linear(1024, num_classes)
            self.dropout = tnn.Dropout(dropout)

        def forward(self, x):
            x = torch.flatten(self.conv(tnn.functional.adaptive_avg_pool2d(x, (4, 4))), 1)
            return self.fc2(self.dropout(torch.relu(self.fc1(x))))

    outputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])

    def googlenet_twin(num_classes=1000, in_channels=3, aux_logits=True, transform_input=False,
                       dropout=0.2, dropout_aux=0.7, small_input=False):
        class GoogLeNet(tnn.Module):
            def __init__(self):
                super().__init__()
                if small_input:
                    self.conv1 = BasicConv2d(in_channels, 64, kernel_size=3, stride=1, padding=1)
                    self.maxpool1 = tnn.Identity()
                else:
                    self.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
                    self.maxpool1 = tnn.MaxPool2d(3, stride=2, ceil_mode=True)
                self.conv2 = BasicConv2d(64, 64, kernel_size=1)
                self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
                self.maxpool2 = tnn.MaxPool2d(3, stride=2, ceil_mode=True)
                self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
                self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
                self.maxpool3 = tnn.MaxPool2d(3, stride=2, ceil_mode=True)
                self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
                self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
                self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
                self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
                self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
                self.maxpool4 = tnn.MaxPool2d(2, stride=2, ceil_mode=True)
                self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
                self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
                if aux_logits:
                    self.aux1 = InceptionAux(512, num_classes, dropout_aux)
                    self.aux2 = InceptionAux(528, num_classes, dropout_aux)
                self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
                self.dropout = tnn.Dropout(dropout)
                self.fc = tnn.Linear(1024, num_classes)

            def forward(self, x):
                if transform_input:
                    x = torch.cat([x[:, 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5,
                                   x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5,
                                   x[:, 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5], 1)
                x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
                x = self.inception4a(self.maxpool3(self.inception3b(self.inception3a(x))))
                aux = self.training and aux_logits
                aux1 = self.aux1(x) if aux else None
                x = self.inception4d(self.inception4c(self.inception4b(x)))
                aux2 = self.aux2(x) if aux else None
                x = self.inception5b(self.inception5a(self.maxpool4(self.inception4e(x))))
                x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
                return outputs(x, aux2, aux1) if aux else x
        return GoogLeNet()

    def vgg_twin(cfg, batch_norm, num_classes=10, in_channels=3, small_input=True):
        cfgs = {"A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
                "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
                "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                      512, 512, 512, "M"],
                "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512,
                      "M", 512, 512, 512, 512, "M"]}

        class VGG(tnn.Module):
            def __init__(self):
                super().__init__()
                layers, c = [], in_channels
                for v in cfgs[cfg]:
                    if v == "M":
                        layers.append(tnn.MaxPool2d(2, 2))
                        continue
                    layers.append(tnn.Conv2d(c, v, 3, padding=1))
                    layers += [tnn.BatchNorm2d(v), tnn.ReLU()] if batch_norm else [tnn.ReLU()]
                    c = v
                self.features = tnn.Sequential(*layers)
                if small_input:
                    self.avgpool = tnn.AdaptiveAvgPool2d(1)
                    self.classifier = tnn.Linear(512, num_classes)
                else:
                    self.avgpool = tnn.AdaptiveAvgPool2d((7, 7))
                    self.classifier = tnn.Sequential(
                        tnn.Linear(512 * 7 * 7, 4096), tnn.ReLU(), tnn.Dropout(),
                        tnn.Linear(4096, 4096), tnn.ReLU(), tnn.Dropout(),
                        tnn.Linear(4096, num_classes))

            def forward(self, x):
                return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
        return VGG()

    def nin_twin(num_classes=10, in_channels=3):
        def mlpconv(cin, c, hidden, last, k, p):
            return tnn.Sequential(tnn.Conv2d(cin, c, k, padding=p), tnn.ReLU(),
                                  tnn.Conv2d(c, hidden, 1), tnn.ReLU(),
                                  tnn.Conv2d(hidden, last, 1), tnn.ReLU())

        class NiN(tnn.Module):
            def __init__(self):
                super().__init__()
                self.features = tnn.Sequential(
                    mlpconv(in_channels, 192, 160, 96, 5, 2), tnn.MaxPool2d(3, 2, ceil_mode=True),
                    tnn.Dropout(), mlpconv(96, 192, 192, 192, 5, 2),
                    tnn.AvgPool2d(3, 2, ceil_mode=True), tnn.Dropout(),
                    mlpconv(192, 192, 192, num_classes, 3, 1))
                self.avgpool = tnn.AdaptiveAvgPool2d(1)

            def forward(self, x):
                return torch.flatten(self.avgpool(self.features(x)), 1)
        return NiN()

    return {"alexnet": alexnet_twin, "googlenet": googlenet_twin, "nin": nin_twin,
            **{n: (lambda n: lambda **kw: vgg_twin(_CFG[n[:5]], n.endswith("_bn"), **kw))(n)
               for n in VGGS}}


@pytest.fixture
def twins(torch):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield _twins(torch)
    torch.set_num_threads(threads)


def _close(actual, expected, rtol):
    """|actual - expected| <= rtol (|expected| + max |expected|) everywhere (a cheaper
    assert_allclose: some of these arrays have 37M elements)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(float(np.abs(expected).max()), 1e-6)
    excess = np.abs(actual - expected) - rtol * np.abs(expected)
    worst = int(np.argmax(excess))
    assert excess.flat[worst] <= rtol * scale, (
        f"{actual.flat[worst]} != {expected.flat[worst]} at "
        f"{np.unravel_index(worst, expected.shape)} (max |expected| {scale})")


def _compare_with_twin(torch, model, twin, x_np, train=False, rtol=1e-4, grad_rtol=1e-3):
    """Same keys and shapes as the twin; with its weights (and random batch-norm statistics),
    the same outputs (every one of a tuple) and the same gradients of the input and of every
    parameter for random upstream gradients."""
    own, ref = model.state_dict(), twin.state_dict()
    assert list(own) == list(ref)
    for k in ref:
        assert tuple(own[k].shape) == tuple(ref[k].shape), k
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in twin.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.2, generator=g)
                m.running_mean.uniform_(-0.2, 0.2, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
    model.load_state_dict({k: v.detach().numpy() for k, v in twin.state_dict().items()})
    model.train(train)
    twin.train(train)

    xt = torch.tensor(x_np, requires_grad=True)
    yt = twin(xt)
    ys_t = list(yt) if isinstance(yt, tuple) else [yt]
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(tuple(y.shape)).astype(x_np.dtype) for y in ys_t]
    torch.autograd.backward(ys_t, [torch.tensor(gr) for gr in grads])

    x = minicnn.tensor(x_np, requires_grad=True)
    y = model(x)
    assert isinstance(y, tuple) == isinstance(yt, tuple)
    ys = list(y) if isinstance(y, tuple) else [y]
    assert len(ys) == len(ys_t)
    for a, b in zip(ys, ys_t):
        _close(a.detach().numpy(), b.detach().numpy(), rtol)
    total = sum((a * minicnn.tensor(gr)).sum() for a, gr in zip(ys, grads))
    total.backward()
    _close(x.grad.numpy(), xt.grad.numpy(), grad_rtol)
    ref_params = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        ref_grad = ref_params[name].grad
        assert (p.grad is None) == (ref_grad is None), name  # eval mode: aux heads unused
        if ref_grad is not None:
            _close(p.grad.numpy(), ref_grad.numpy(), grad_rtol)
    return y


# ------------------------------------------------------------------ parameter counts

# (constructor, kwargs, parameters): torchvision's published counts for 1000 classes, and the
# CIFAR (10-class) variants
COUNTS = [
    (alexnet, {}, 61_100_840),
    (alexnet, {"num_classes": 10}, 57_044_810),
    (alexnet, {"small_input": True}, 61_079_336),  # the 11x11 stem becomes 3x3
    (googlenet, {}, 13_004_888),  # torchvision's googlenet() default: with the aux heads
    (googlenet, {"aux_logits": False}, 6_624_904),  # torchvision's published figure
    (googlenet, {"aux_logits": False, "num_classes": 10}, 5_610_154),
    (nin, {}, 966_986),  # no published count: the authors' CIFAR-10 model, computed
    (V.vgg11, {}, 9_225_610), (V.vgg13, {}, 9_410_122), (V.vgg16, {}, 14_719_818),
    (V.vgg19, {}, 20_029_514), (V.vgg11_bn, {}, 9_231_114), (V.vgg13_bn, {}, 9_416_010),
    (V.vgg16_bn, {}, 14_728_266), (V.vgg19_bn, {}, 20_040_522),
]
VGG_IMAGENET_COUNTS = {"vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16": 138_357_544,
                       "vgg19": 143_667_240, "vgg11_bn": 132_868_840, "vgg13_bn": 133_053_736,
                       "vgg16_bn": 138_365_992, "vgg19_bn": 143_678_248}


@pytest.mark.parametrize("case", COUNTS,
                         ids=lambda c: _case_id(c[0].__name__, c[1]))
def test_parameter_counts(case, no_init):
    constructor, kwargs, published = case
    assert _count(constructor(**kwargs)) == published


def test_vgg_imagenet_parameter_counts(no_init):
    for name, published in VGG_IMAGENET_COUNTS.items():
        model = getattr(V, name)(num_classes=1000, small_input=False)
        assert _count(model) == published, name


def test_nin_count_is_the_sum_of_its_layers():
    """The 966,986 of the docstring: (in k k + 1) out per conv, the paper's CIFAR-10 widths."""
    convs = [(3, 192, 5), (192, 160, 1), (160, 96, 1), (96, 192, 5), (192, 192, 1),
             (192, 192, 1), (192, 192, 3), (192, 192, 1), (192, 10, 1)]
    assert sum((cin * k * k + 1) * cout for cin, cout, k in convs) == _count(nin())


# ------------------------------------------------------------------ torchvision's keys

def test_state_dict_keys_are_torchvisions(no_init):
    """The key lists (names and shapes) of torchvision 0.29's models, as fingerprints."""
    assert list(alexnet().state_dict()) == [
        f"{part}.{i}.{p}" for part, idx in (("features", (0, 3, 6, 8, 10)),
                                            ("classifier", (1, 4, 6)))
        for i in idx for p in ("weight", "bias")]
    assert _fingerprint(alexnet().state_dict()) == (16, "7cf57469ad654ca3")
    assert _fingerprint(googlenet().state_dict()) == (364, "563d3cdadc5f3358")
    assert _fingerprint(googlenet(aux_logits=False).state_dict()) == (344, "2fe40eb262730098")
    assert _fingerprint(V.vgg11(1000, small_input=False).state_dict()) == (22, "5e6ee14c22dc415d")
    assert _fingerprint(V.vgg19(1000, small_input=False).state_dict()) == (38, "b4eb1243614e83cf")
    assert _fingerprint(V.vgg16_bn(1000, small_input=False).state_dict()) == (97,
                                                                             "a463166a74dc0850")


@pytest.mark.parametrize("name", VGGS)
@pytest.mark.parametrize("small_input", [True, False])
def test_vgg_structure_matches_twin(twins, torch, no_init, name, small_input):
    num_classes = 10 if small_input else 1000
    model = getattr(V, name)(num_classes=num_classes, small_input=small_input)
    with torch.device("meta"):
        twin = twins[name](num_classes=num_classes, small_input=small_input)
    own, ref = model.state_dict(), twin.state_dict()
    assert [(k, tuple(v.shape)) for k, v in own.items()] == [
        (k, tuple(v.shape)) for k, v in ref.items()]


# ------------------------------------------------------------------ against the twins

TWIN_CASES = [
    # (name, kwargs, input (C, H, W) for a batch of 2, train mode); the 11x11 AlexNet stem is
    # compared in test_alexnet_imagenet_features_match_twin (its classifier is the same)
    ("alexnet", {"small_input": True, "num_classes": 10, "in_channels": 1}, (1, 16, 16), False),
    ("googlenet", {}, (3, 32, 32), False),
    # training mode: batch statistics and all three outputs
    ("googlenet", {"dropout": 0.0, "dropout_aux": 0.0}, (3, 64, 64), True),
    ("googlenet", {"small_input": True, "transform_input": True, "aux_logits": False,
                   "num_classes": 10}, (3, 16, 16), False),
    ("nin", {}, (3, 16, 16), False),
    ("nin", {"num_classes": 7, "in_channels": 2}, (2, 13, 11), False),
    ("vgg11", {}, (3, 32, 32), False),
    ("vgg11_bn", {"num_classes": 100, "in_channels": 2}, (2, 32, 32), False),
]
_BUILDERS = {"alexnet": alexnet, "googlenet": googlenet, "nin": nin, "vgg11": V.vgg11,
             "vgg11_bn": V.vgg11_bn}


@pytest.mark.parametrize("case", TWIN_CASES,
                         ids=lambda c: _case_id(c[0], c[1]) + ("-train" if c[3] else ""))
def test_model_matches_torch_twin(twins, torch, no_init, case):
    name, kwargs, chw, train = case
    model = _BUILDERS[name](**kwargs)
    twin = twins[name](**kwargs)
    x = np.random.default_rng(0).standard_normal((2,) + chw)
    if train:
        # in float32 both PyTorch's and minicnn's input gradients are 2-3e-4 (of the largest)
        # away from the float64 ones: the batch statistics of the last stages' 2x2 maps make
        # the backward pass ill-conditioned; compare in float64
        model, twin = model.double(), twin.double()
    else:
        x = x.astype(np.float32)
    y = _compare_with_twin(torch, model, twin, x, train=train)
    if name == "googlenet" and train:
        assert isinstance(y, GoogLeNetOutputs)
        assert y._fields == ("logits", "aux_logits2", "aux_logits1")


def test_alexnet_imagenet_features_match_twin(twins, torch, no_init):
    """The 11x11 stride-4 stem and the three pools at 64x64 (63x63 is the smallest input)."""
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    _compare_with_twin(torch, alexnet().features, twins["alexnet"]().features, x)


# ------------------------------------------------------------------ training and shapes

# (AlexNet's backward pass is checked against its twin: its 58M-weight classifier is slow)
TRAIN_CASES = [
    (googlenet, {"num_classes": 10}, (3, 32, 32)),
    (googlenet, {"num_classes": 10, "small_input": True, "aux_logits": False}, (3, 8, 8)),
    (nin, {}, (3, 16, 16)),
    (V.vgg13, {}, (3, 32, 32)),
    (V.vgg13_bn, {"num_classes": 10}, (3, 32, 32)),
]


@pytest.mark.parametrize("case", TRAIN_CASES,
                         ids=lambda c: _case_id(c[0].__name__, c[1]))
def test_training_step_gives_every_parameter_a_finite_gradient(case):
    constructor, kwargs, chw = case
    minicnn.manual_seed(0)
    model = constructor(**kwargs).train()
    x = minicnn.tensor(np.random.default_rng(0).standard_normal((2,) + chw).astype(np.float32))
    target = minicnn.tensor(np.array([1, 3]))
    out = model(x)
    if isinstance(out, GoogLeNetOutputs):
        # the paper's sec. 5: auxiliary losses weighted by 0.3
        loss = nn.functional.cross_entropy(out.logits, target) + 0.3 * (
            nn.functional.cross_entropy(out.aux_logits1, target)
            + nn.functional.cross_entropy(out.aux_logits2, target))
        assert all(o.shape == (2, 10) for o in out)
    else:
        assert out.shape == (2, 10)
        loss = nn.functional.cross_entropy(out, target)
    loss.backward()
    assert np.isfinite(loss.item())
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert np.isfinite(p.grad.numpy()).all(), name


@pytest.mark.parametrize("constructor", [alexnet, googlenet, nin, *(getattr(V, n) for n in VGGS)])
def test_num_classes_and_in_channels_are_honored(constructor, no_init):
    params = list(constructor(num_classes=5, in_channels=2).named_parameters())
    assert params[0][1].ndim == 4 and params[0][1].shape[1] == 2, params[0][0]
    last = [p for n, p in params if not n.startswith("aux")][-1]
    assert last.shape == (5,)


# native input, published multiply-adds (torchvision's GFLOPS, which count multiply-adds, or
# None), the time being small enough for the native size
SUMMARIES = [
    (alexnet, {}, (3, 224, 224), 714_188_480),  # torchvision: 0.714 G
    (googlenet, {"aux_logits": False}, (3, 224, 224), 1_498_376_192),  # torchvision: 1.498 G
    (googlenet, {}, (3, 224, 224), None),  # eval mode: the aux heads do not run
    (nin, {}, (3, 32, 32), None),
    *((getattr(V, n), {}, (3, 32, 32), None) for n in VGGS),
]


@pytest.mark.parametrize("case", SUMMARIES,
                         ids=lambda c: _case_id(c[0].__name__, c[1]))
def test_summary_at_native_input(case):
    constructor, kwargs, chw, macs = case
    model = constructor(**kwargs)
    s = summary(model, chw)
    assert s.total_params == _count(model)
    assert _out_shape(s) == (1, 1000 if chw[1] == 224 else 10)
    if macs is not None:
        assert s.total_macs == macs


def test_vgg_imagenet_head_at_native_input(twins, torch, no_init):
    """The ImageNet VGGs' summary at 224x224 takes ~10 s here: run it at 32x32 (the smallest
    input, 1x1 maps before the adaptive pool) and check the 224x224 output shape with the twin
    on the meta device."""
    model = V.vgg16(num_classes=1000, small_input=False)
    s = summary(model, (3, 32, 32))
    assert s.total_params == 138_357_544 and _out_shape(s) == (1, 1000)
    with torch.device("meta"):
        twin = twins["vgg16"](num_classes=1000, small_input=False)
        assert tuple(twin(torch.empty(1, 3, 224, 224)).shape) == (1, 1000)


# ------------------------------------------------------------------ model specifics

def test_googlenet_defaults_and_outputs():
    model = googlenet(num_classes=4)
    assert model.aux_logits and not model.transform_input  # torchvision's googlenet() defaults
    x = minicnn.tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32), np.float32))
    out = model.train()(x)
    assert isinstance(out, GoogLeNetOutputs) and [o.shape for o in out] == [(2, 4)] * 3
    assert model.eval()(x).shape == (2, 4)
    plain = googlenet(num_classes=4, aux_logits=False)
    assert plain.aux1 is None and plain.aux2 is None
    assert plain.train()(x).shape == (2, 4)
    # torchvision's init: N(0, 0.01) conv and linear weights (truncated at +-2), BN (1, 0)
    w = model.inception4c.branch2[1].conv.weight.detach().numpy()
    assert abs(w.std() - 0.01) < 0.001
    assert np.all(model.conv1.bn.weight.detach().numpy() == 1)
    with pytest.raises(ValueError, match="transform_input"):
        googlenet(in_channels=1, transform_input=True)


def test_small_input_stems_keep_the_keys(no_init):
    big, small = alexnet(), alexnet(small_input=True)
    assert list(big.state_dict()) == list(small.state_dict())
    assert small.features[0].weight.shape == (64, 3, 3, 3) and small.features[0].stride == (1, 1)
    assert isinstance(small.features[2], nn.Identity)
    big, small = googlenet(), googlenet(small_input=True)
    assert list(big.state_dict()) == list(small.state_dict())
    assert small.conv1.conv.weight.shape == (64, 3, 3, 3) and small.conv1.conv.stride == (1, 1)
    assert isinstance(small.maxpool1, nn.Identity)
    # total stride 8: a 32x32 image reaches the last inception stage as 4x4
    s = summary(googlenet(small_input=True, aux_logits=False), (3, 32, 32))
    assert _out_shape(s, "inception5b") == (1, 1024, 4, 4)


def test_nin_follows_the_caffe_model():
    model = nin()
    s = summary(model, (3, 32, 32))
    # ceil-mode pools as Caffe's: 32 -> 16 -> 8, one 8x8 map per class
    assert _out_shape(s, "features.1") == (1, 96, 16, 16)
    assert _out_shape(s, "features.4") == (1, 192, 8, 8)
    assert _out_shape(s, "features.6") == (1, 10, 8, 8)
    assert isinstance(model.features[4], nn.AvgPool2d)
    x = minicnn.tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32), np.float32))
    assert (model.eval()(x).detach().numpy() >= 0).all()  # ReLU on the class maps too
