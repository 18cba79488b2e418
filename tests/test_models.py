"""minicnn.models against hand-written PyTorch twins (minicnn/bench/torch_models.py): structure
(state_dict keys, shapes, parameter counts, torchvision's published counts), outputs and
gradients with the twin's weights loaded, a training step of every model, and the blocks."""
import inspect

import numpy as np
import pytest

import minicnn
from minicnn import models as M
from minicnn import nn

# (constructor, kwargs, input (C, H, W) for a batch of 2, published parameter count or None).
# The ImageNet models run on 32x32 (their total stride is 32, so the last maps are 1x1).
CASES = [
    ("lenet5", {}, (1, 28, 28), 61_706),
    ("lenet5", {"input_size": 32, "num_classes": 7, "in_channels": 3}, (3, 32, 32), None),
    ("simple_cnn", {}, (1, 28, 28), 1_199_882),
    ("convnet", {}, (3, 32, 32), 1_148_874),
    ("vgg11_bn", {}, (3, 32, 32), 9_231_114),
    ("vgg16_bn", {"num_classes": 100}, (3, 32, 32), None),
    ("resnet20", {}, (3, 32, 32), 269_722),
    ("resnet20", {"shortcut": "B", "in_channels": 1}, (1, 16, 16), None),
    ("resnet32", {}, (3, 16, 16), 464_154),
    ("resnet44", {}, (3, 16, 16), 658_586),
    ("resnet56", {}, (3, 16, 16), 853_018),
    ("resnet110", {}, (3, 16, 16), 1_727_962),
    ("plain20", {"in_channels": 1}, (1, 16, 16), None),
    ("plain56", {}, (3, 16, 16), 853_018),
    ("resnet18", {}, (3, 32, 32), 11_689_512),
    ("resnet18", {"small_input": True, "num_classes": 10}, (3, 32, 32), None),
    ("resnet34", {}, (3, 32, 32), 21_797_672),
    ("resnet50", {}, (3, 32, 32), 25_557_032),
    ("mobilenet_v2", {}, (3, 32, 32), 3_504_872),
    ("mobilenet_v2", {"width_mult": 0.5, "num_classes": 10}, (3, 32, 32), None),
    ("efficientnet_b0", {}, (3, 32, 32), 5_288_548),
    ("densenet121", {}, (3, 32, 32), 7_978_856),
    ("densenet", {"growth_rate": 8, "block_config": (2, 3), "num_init_features": 16,
                  "bn_size": 2, "drop_rate": 0.2, "num_classes": 10, "in_channels": 2,
                  "small_input": True},
     (2, 16, 16), None),
]
IMAGENET = {"resnet18", "resnet34", "resnet50", "mobilenet_v2", "efficientnet_b0", "densenet121",
            "densenet"}
CONSTRUCTORS = ["lenet5", "simple_cnn", "convnet", "vgg11_bn", "vgg16_bn", "resnet20",
                "resnet32", "resnet44", "resnet56", "resnet110", "plain20", "plain56", "resnet18",
                "resnet34", "resnet50", "mobilenet_v2", "efficientnet_b0", "densenet121",
                "densenet"]


def _case_id(case):
    name, kw = case[0], case[1]
    return name + "".join(f"-{k}={v}" for k, v in kw.items() if k != "block_config")


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture
def twins(torch):
    from minicnn.bench import torch_models
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield torch_models
    torch.set_num_threads(threads)


def _randomize_norms(torch, twin):
    """Non-trivial normalization statistics and affine parameters (and layer scales), so that
    loading them into the minicnn model matters."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in twin.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.LayerNorm)):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.2, generator=g)
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
                m.num_batches_tracked.fill_(3)
        for name, p in twin.named_parameters():
            if name.endswith("layer_scale"):
                p.uniform_(0.5, 1.5, generator=g)


def _state(twin):
    return {k: v.detach().numpy() for k, v in twin.state_dict().items()}


def _count(model):
    return sum(p.numel() for p in model.parameters())


def _close(actual, expected, rtol):
    expected = np.asarray(expected)
    scale = max(float(np.abs(expected).max()), 1e-6)
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol, atol=rtol * scale)


def _compare_with_twin(torch, model, twin, x_np, rtol=1e-4, grad_rtol=1e-3):
    """Same structure as the twin; with its weights, the same eval-mode output and the same
    gradients (input and every parameter) for a random upstream gradient."""
    own = model.state_dict()
    ref = twin.state_dict()
    assert list(own) == list(ref)
    for k in ref:
        assert tuple(own[k].shape) == tuple(ref[k].shape), k
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in twin.named_parameters()]
    assert _count(model) == sum(p.numel() for p in twin.parameters())

    _randomize_norms(torch, twin)
    model.load_state_dict(_state(twin))
    model.eval()
    twin.eval()
    xt = torch.tensor(x_np, requires_grad=True)
    yt = twin(xt)
    g = np.random.default_rng(2).standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g))
    x = minicnn.tensor(x_np, requires_grad=True)
    y = model(x)
    _close(y.detach().numpy(), yt.detach().numpy(), rtol)
    y.backward(minicnn.tensor(g))
    _close(x.grad.numpy(), xt.grad.numpy(), grad_rtol)
    ref_params = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        _close(p.grad.numpy(), ref_params[name].grad.numpy(), grad_rtol)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_model_matches_torch_twin(twins, torch, case):
    name, kw, chw, published = case
    model = getattr(M, name)(**kw)
    twin = twins.build(name, **kw)
    if published is not None:
        assert _count(model) == published
    x = np.random.default_rng(0).standard_normal((2,) + chw).astype(np.float32)
    _compare_with_twin(torch, model, twin, x)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_training_step_gives_every_parameter_a_finite_gradient(case):
    name, kw, chw, _ = case
    minicnn.manual_seed(0)
    model = getattr(M, name)(**kw)
    x = minicnn.tensor(np.random.default_rng(0).standard_normal((2,) + chw).astype(np.float32))
    y = model(x)
    assert y.shape == (2, kw.get("num_classes", 1000 if name in IMAGENET else 10))
    loss = nn.functional.cross_entropy(y, minicnn.tensor(np.array([1, 3])))
    loss.backward()
    assert np.isfinite(loss.item())
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert p.grad.shape == p.shape, pname
        assert np.isfinite(p.grad.numpy()).all(), pname
    # batch norm in training mode updated its running statistics
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert int(m.num_batches_tracked.item()) == 1


@pytest.mark.parametrize("name", CONSTRUCTORS)
def test_num_classes_and_in_channels_are_honored(name):
    model = getattr(M, name)(num_classes=5, in_channels=2)
    params = list(model.named_parameters())
    first_name, first = params[0]
    assert first.ndim == 4 and first.shape[1] == 2, first_name
    last_name, last = params[-1]
    assert last_name.endswith("bias") and last.shape == (5,)
    assert params[-2][1].shape[0] == 5


def test_vgg_imagenet_head_is_torchvisions():
    """small_input=False gives torchvision's vgg16_bn (its published parameter count)."""
    model = M.vgg16_bn(num_classes=1000, small_input=False)
    assert _count(model) == 138_365_992
    assert [k for k in model.state_dict() if k.startswith("classifier")] == [
        "classifier.0.weight", "classifier.0.bias", "classifier.3.weight", "classifier.3.bias",
        "classifier.6.weight", "classifier.6.bias"]
    assert model.classifier[0].weight.shape == (4096, 512 * 7 * 7)
    x = minicnn.tensor(np.zeros((1, 3, 32, 32), np.float32))
    assert model.eval()(x).shape == (1, 1000)


def test_small_input_options_keep_the_keys():
    big, small = M.resnet18(), M.resnet18(small_input=True)
    assert list(big.state_dict()) == list(small.state_dict())
    assert small.conv1.weight.shape == (64, 3, 3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, nn.Identity)
    d = M.densenet121(small_input=True)
    assert "pool0" not in dict(d.features.named_children())
    assert d.features.conv0.weight.shape == (64, 3, 3, 3)


def test_lenet5_shares_weights_between_28_and_32_inputs():
    m28, m32 = M.lenet5(), M.lenet5(input_size=32)
    m32.load_state_dict(m28.state_dict())
    assert m28.features[0].padding == (2, 2) and m32.features[0].padding == (0, 0)
    x = minicnn.tensor(np.random.default_rng(0).standard_normal((1, 1, 28, 28), dtype=np.float32))
    padded = nn.functional.pad(x, (2, 2, 2, 2))
    np.testing.assert_allclose(m28(x).detach().numpy(), m32(padded).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="input_size"):
        M.lenet5(input_size=30)


def test_initialization_follows_torchvision():
    minicnn.manual_seed(0)
    r = M.resnet50()
    w = r.layer3[0].conv2.weight.detach().numpy()
    # He normal, fan_out = 256 * 9: std sqrt(2 / 2304)
    assert abs(w.std() - np.sqrt(2 / 2304)) < 0.05 * np.sqrt(2 / 2304)
    assert np.all(r.layer1[0].bn1.weight.detach().numpy() == 1)
    z = M.resnet18(zero_init_residual=True)
    assert np.all(z.layer2[1].bn2.weight.detach().numpy() == 0)
    v = M.vgg16_bn()
    assert abs(v.classifier.weight.detach().numpy().std() - 0.01) < 0.002
    assert np.all(v.features[0].bias.detach().numpy() == 0)
    e = M.efficientnet_b0()
    assert np.abs(e.classifier[1].weight.detach().numpy()).max() <= 1 / np.sqrt(1000)
    # torchvision's B0 keeps BatchNorm2d's defaults; B5-B7 use eps 1e-3, momentum 0.01
    assert (e.features[0][1].eps, e.features[0][1].momentum) == (1e-5, 0.1)
    tf = M.EfficientNet(norm_eps=1e-3, norm_momentum=0.01, num_classes=3)
    assert (tf.features[3][1].block[0][1].eps, tf.features[3][1].block[0][1].momentum) == (1e-3,
                                                                                          0.01)


def test_wrong_input_channels_names_the_layer():
    x = minicnn.tensor(np.zeros((1, 1, 32, 32), np.float32))
    for model, layer in [(M.resnet18(), "conv1"), (M.vgg11_bn(), "features.0"),
                         (M.mobilenet_v2(), "features.0.0"), (M.densenet121(), "features.conv0")]:
        with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\)") as info:
            model(x)
        assert f"'{layer}' (Conv2d)" in " ".join(getattr(info.value, "__notes__", [])), layer


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="6n"):
        M.CifarResNet(21)
    with pytest.raises(ValueError, match="shortcut"):
        M.resnet20(shortcut="C")
    with pytest.raises(ValueError, match="no shortcut"):
        M.PlainBlock(16, 32, 2, downsample=M.ZeroPadShortcut(16, 32, 2))
    with pytest.raises(ValueError, match="cfg"):
        M.VGG("Z")
    with pytest.raises(ValueError, match="stride"):
        M.InvertedResidual(8, 8, 3, 6)
    with pytest.raises(ValueError, match="reduction"):
        M.SEBlock(16, reduction=0)
    with pytest.raises(ValueError, match="odd"):
        M.CBAM(16, kernel_size=4)


# ---------------------------------------------------------------- blocks

BLOCK_CASES = [
    ("SEBlock", {"channels": 64, "reduction": 16}, (64, 5, 6), 2 * 64 * 4 + 64 + 4),
    ("SEBlock", {"channels": 8, "reduction": 16}, (8, 3, 3), 2 * 8 * 1 + 8 + 1),
    ("CBAM", {"channels": 32, "reduction": 8}, (32, 7, 5), 2 * 32 * 4 + 32 + 4 + 2 * 49),
    ("CBAM", {"channels": 16, "reduction": 4, "kernel_size": 3}, (16, 4, 4),
     2 * 16 * 4 + 16 + 4 + 2 * 9),
    ("Inception", {"cin": 12, "ch1x1": 4, "ch3x3red": 3, "ch3x3": 5, "ch5x5red": 2, "ch5x5": 3,
                   "pool_proj": 2}, (12, 7, 7), None),
    ("Inception", {"cin": 12, "ch1x1": 4, "ch3x3red": 3, "ch3x3": 5, "ch5x5red": 2, "ch5x5": 3,
                   "pool_proj": 2, "kernel5": 3}, (12, 6, 5), None),
    ("ConvNeXtBlock", {"dim": 16}, (16, 6, 5), 8 * 16 * 16 + 58 * 16),
]
_MINICNN_ARGS = {"cin": "in_channels", "kernel5": "branch3_kernel_size"}


@pytest.mark.parametrize("case", BLOCK_CASES, ids=_case_id)
def test_block_matches_torch_twin(twins, torch, case):
    name, kw, chw, count = case
    model = getattr(M, name)(**{_MINICNN_ARGS.get(k, k): v for k, v in kw.items()})
    twin = twins.build(name, **kw)
    x = np.random.default_rng(0).standard_normal((2,) + chw).astype(np.float32)
    y = model(minicnn.tensor(x))
    if name == "Inception":
        assert y.shape == (2, 4 + 5 + 3 + 2) + chw[1:]
    else:
        assert y.shape == (2,) + chw
        assert _count(model) == count
    _compare_with_twin(torch, model, twin, x, rtol=1e-5, grad_rtol=1e-4)


def test_inception_branch3_kernel():
    paper = M.Inception(8, 4, 3, 5, 2, 3, 2)
    tv = M.Inception(8, 4, 3, 5, 2, 3, 2, branch3_kernel_size=3)
    assert paper.branch3[1].conv.weight.shape == (3, 2, 5, 5)
    assert tv.branch3[1].conv.weight.shape == (3, 2, 3, 3)
    assert tv.branch1.bn.eps == 1e-3
    with pytest.raises(ValueError, match="odd"):
        M.Inception(8, 4, 3, 5, 2, 3, 2, branch3_kernel_size=4)


def test_convnext_block_defaults_and_drop_path():
    b = M.ConvNeXtBlock(8, stochastic_depth_prob=0.5)
    np.testing.assert_array_equal(b.layer_scale.detach().numpy(),
                                  np.full((8, 1, 1), 1e-6, np.float32))
    nn.init.ones_(b.layer_scale)  # a visible branch
    assert b.block[2].eps == 1e-6
    assert b.stochastic_depth.p == 0.5 and b.stochastic_depth.mode == "row"
    x = minicnn.tensor(np.random.default_rng(0).standard_normal((64, 8, 3, 3), dtype=np.float32))
    minicnn.manual_seed(0)
    branch = (b(x) - x).detach().numpy()
    dropped = np.all(branch == 0, axis=(1, 2, 3))
    assert 0 < dropped.sum() < 64  # whole samples dropped, others kept
    b.eval()
    assert not np.all(((b(x) - x).detach().numpy() == 0), axis=(1, 2, 3)).any()


# ---------------------------------------------------------------- stochastic depth

def test_stochastic_depth_identity_cases():
    x = minicnn.tensor(np.ones((4, 3, 2, 2), np.float32))
    assert M.stochastic_depth(x, 0.3, "row", training=False) is x
    assert M.stochastic_depth(x, 0.0, "batch") is x
    sd = M.StochasticDepth(0.3, "row").eval()
    assert sd(x) is x
    assert repr(sd) == "StochasticDepth(p=0.3, mode=row)"
    np.testing.assert_array_equal(M.stochastic_depth(x, 1.0, "row").numpy(), 0)


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_masks_and_gradient(mode):
    minicnn.manual_seed(3)
    p = 0.25
    x_np = np.random.default_rng(0).uniform(1, 2, (400, 2, 3)).astype(np.float64)
    x = minicnn.tensor(x_np, requires_grad=True)
    y = M.stochastic_depth(x, p, mode)
    assert y.dtype == np.float64
    ratio = y.detach().numpy() / x_np
    # one factor per row (or for the whole batch): 0 or 1 / (1 - p)
    per_row = ratio.reshape(400, -1)
    np.testing.assert_allclose(per_row, per_row[:, :1] * np.ones_like(per_row))
    assert set(np.round(np.unique(per_row), 6)) <= {0.0, round(1 / (1 - p), 6)}
    if mode == "batch":
        assert np.ptp(per_row) < 1e-12
    else:
        kept = (per_row[:, 0] > 0).mean()
        assert abs(kept - (1 - p)) < 0.1
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), ratio)


def test_stochastic_depth_bad_arguments():
    x = minicnn.tensor(np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="between 0 and 1"):
        M.stochastic_depth(x, 1.5, "row")
    with pytest.raises(ValueError, match="mode"):
        M.stochastic_depth(x, 0.5, "col")
    with pytest.raises(ValueError, match="between 0 and 1"):
        M.StochasticDepth(-0.1, "row")
    with pytest.raises(ValueError, match="mode"):
        M.StochasticDepth(0.1, "rows")


def test_all_exports_resolve():
    for name in M.__all__:
        assert getattr(M, name) is not None, name
    assert len(set(M.__all__)) == len(M.__all__)


def test_get_model_builds_every_listed_model():
    names = M.list_models()
    assert {"lenet5", "convnet", "resnet20", "mobilenet_v2", "efficientnet_b0"} <= set(names)
    for name in names:
        assert callable(getattr(M, name))
    model = M.get_model("resnet20", num_classes=7, in_channels=1)
    assert model.fc.out_features == 7 and model.conv1.in_channels == 1
    with pytest.raises(ValueError, match="unknown model 'resnet21'.*resnet20"):
        M.get_model("resnet21")


def test_every_model_declares_its_native_input_shape():
    for name in M.list_models():
        shape = M.native_input_shape(name)
        assert len(shape) == 3 and all(isinstance(s, int) and s > 0 for s in shape), name
        # the channels of the constructor's default in_channels
        default = inspect.signature(getattr(M, name)).parameters["in_channels"].default
        assert shape[0] == default, name
    assert M.native_input_shape("lenet5") == M.native_input_shape("simple_cnn") == (1, 28, 28)
    assert M.native_input_shape("resnet20") == M.native_input_shape("vgg16_bn") == (3, 32, 32)
    assert M.native_input_shape("resnet18") == M.native_input_shape("densenet121") == \
        (3, 224, 224)
    assert M.native_input_shape("efficientnet_b7") == (3, 600, 600)  # compound scaling
    with pytest.raises(ValueError, match="native_input_shape: unknown model 'resnet9000'"):
        M.native_input_shape("resnet9000")
