"""Lazy modules (nn.LazyConv2d, LazyConvTranspose2d, LazyLinear, LazyBatchNorm1d/2d) and
UninitializedParameter/Buffer, compared with torch's lazy modules: shape inference, the class
change, initialization, errors before materialization, load_state_dict and optimizers."""
import copy

import numpy as np
import pytest

import minicnn as mc
from minicnn import nn
from minicnn.nn.modules.lazy import LazyModuleMixin
from minicnn.nn.parameter import UninitializedBuffer, UninitializedParameter, is_lazy
from minicnn.utils import summary
from minicnn.utils.gradcheck import gradcheck


def conv_net(lib):
    return lib.Sequential(lib.LazyConv2d(4, 3, padding=1), lib.LazyBatchNorm2d(), lib.ReLU(),
                          lib.Flatten(), lib.LazyLinear(5))


def transposed_net(lib):
    return lib.Sequential(lib.LazyConvTranspose2d(3, (3, 2), stride=2, groups=1), lib.Flatten(),
                          lib.LazyBatchNorm1d(), lib.LazyLinear(4, bias=False))


NETS = [(conv_net, (4, 3, 6, 5)), (transposed_net, (3, 2, 4, 4))]


def copy_from_torch(model, tmodel):
    """Load torch's parameters and buffers into minicnn through numpy arrays."""
    model.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})


def to_np(t):
    return t.detach().numpy()


# ------------------------------------------------------------ parity with torch


@pytest.mark.parametrize("make,shape", NETS)
def test_forward_backward_match_torch(torch, make, shape):
    torch.manual_seed(0)
    x_np = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    model, tmodel = make(nn), make(torch.nn)
    model(mc.tensor(x_np))  # dry runs
    tmodel(torch.tensor(x_np))
    assert str(model) == str(tmodel)
    copy_from_torch(model, tmodel)

    x = mc.tensor(x_np, requires_grad=True)
    tx = torch.tensor(x_np, requires_grad=True)
    y, ty = model(x), tmodel(tx)
    np.testing.assert_allclose(to_np(y), to_np(ty), rtol=1e-5, atol=1e-5)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    y.backward(mc.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    tparams = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        # atol 1e-4: a bias before batch norm has a zero gradient, computed as rounding noise
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=1e-4,
                                   atol=1e-4, err_msg=name)
    tstate = tmodel.state_dict()
    for name, b in model.named_buffers():  # running statistics updated alike
        np.testing.assert_allclose(to_np(b), tstate[name].numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make,shape", NETS)
def test_repr_matches_torch_before_and_after(torch, make, shape):
    model, tmodel = make(nn), make(torch.nn)
    assert str(model) == str(tmodel)
    assert "LazyLinear(in_features=0" in str(model)
    model(mc.zeros(shape))
    tmodel(torch.zeros(shape))
    assert str(model) == str(tmodel)
    assert "Lazy" not in str(model)


LAYERS = [
    (lambda lib: lib.LazyConv2d(6, (3, 2), stride=2, padding=1, groups=2), (2, 4, 7, 7)),
    (lambda lib: lib.LazyConv2d(5, 3, bias=False), (3, 6, 6)),  # unbatched
    (lambda lib: lib.LazyConvTranspose2d(6, 3, groups=3, dilation=2), (2, 3, 4, 4)),
    (lambda lib: lib.LazyConvTranspose2d(2, 2, stride=2), (4, 5, 5)),
    (lambda lib: lib.LazyLinear(3), (2, 5, 7)),
    (lambda lib: lib.LazyLinear(3, bias=False), (7,)),
    (lambda lib: lib.LazyBatchNorm1d(), (4, 3)),
    (lambda lib: lib.LazyBatchNorm1d(momentum=None), (4, 3, 5)),
    (lambda lib: lib.LazyBatchNorm2d(affine=False), (2, 3, 4, 4)),
    (lambda lib: lib.LazyBatchNorm2d(track_running_stats=False, bias=False), (2, 3, 4, 4)),
]


@pytest.mark.parametrize("make,shape", LAYERS)
def test_layer_after_dry_run_is_torch_ordinary_layer(torch, make, shape):
    m, tm = make(nn), make(torch.nn)
    assert type(m).__name__ == type(tm).__name__ and str(m) == str(tm)
    m(mc.zeros(shape))
    tm(torch.zeros(shape))
    assert type(m) is getattr(nn, type(tm).__name__) and "Lazy" not in type(m).__name__
    assert str(m) == str(tm)
    tstate = tm.state_dict()
    state = m.state_dict()
    assert list(state) == list(tstate)
    for k in state:
        assert tuple(state[k].shape) == tuple(tstate[k].shape), k
        assert state[k].dtype == tstate[k].numpy().dtype, k
    assert not m._forward_pre_hooks  # the inference hook removed itself


@pytest.mark.parametrize("make,shape", LAYERS)
def test_initialized_as_the_ordinary_layer(make, shape):
    """Same draws from minicnn's generator as the ordinary layer of the inferred size."""
    mc.manual_seed(3)
    m = make(nn).eval()  # a dry run that leaves batch norm's statistics alone
    m(mc.zeros(shape))
    lazy_state = {k: to_np(v).copy() for k, v in m.state_dict().items()}
    after_lazy = mc.rand(3).numpy()
    mc.manual_seed(3)
    ordinary = _ordinary_like(m)
    after_ordinary = mc.rand(3).numpy()
    assert list(lazy_state) == list(ordinary.state_dict())
    for k, v in ordinary.state_dict().items():
        np.testing.assert_array_equal(lazy_state[k], to_np(v), err_msg=k)
    np.testing.assert_array_equal(after_lazy, after_ordinary)


def _ordinary_like(m):
    """The ordinary layer with the materialized module's arguments."""
    if isinstance(m, nn.ConvTranspose2d):
        return nn.ConvTranspose2d(m.in_channels, m.out_channels, m.kernel_size, m.stride,
                                  m.padding, m.output_padding, m.groups, m.bias is not None,
                                  m.dilation)
    if isinstance(m, nn.Conv2d):
        return nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                         m.dilation, m.groups, m.bias is not None)
    if isinstance(m, nn.Linear):
        return nn.Linear(m.in_features, m.out_features, m.bias is not None)
    return type(m)(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats,
                   bias=m.bias is not None)


def test_constructor_draws_nothing():
    mc.manual_seed(0)
    nn.LazyConv2d(8, 3)
    nn.LazyLinear(8)
    nn.LazyConvTranspose2d(8, 3)
    first = mc.rand(4).numpy()
    mc.manual_seed(0)
    np.testing.assert_array_equal(first, mc.rand(4).numpy())


# ------------------------------------------------------------ the class change


def test_class_changes_on_first_forward():
    m = nn.LazyConv2d(4, 3)
    assert type(m) is nn.LazyConv2d and isinstance(m, nn.Conv2d)
    assert m.in_channels == 0 and m.has_uninitialized_params()
    weight = m.weight
    assert type(weight) is UninitializedParameter and is_lazy(weight)
    m(mc.zeros(1, 3, 5, 5))
    assert type(m) is nn.Conv2d
    assert m.in_channels == 3
    assert m.weight is weight and type(weight) is nn.Parameter and not is_lazy(weight)
    assert tuple(weight.shape) == (4, 3, 3, 3) and weight.requires_grad
    assert not hasattr(m, "has_uninitialized_params")


def test_batchnorm_buffers_become_tensors():
    m = nn.LazyBatchNorm2d()
    assert type(m.running_mean) is UninitializedBuffer
    assert type(m.num_batches_tracked) is mc.Tensor  # 0-d, known from the start
    m(mc.randn(4, 3, 2, 2))
    assert type(m) is nn.BatchNorm2d and type(m.running_mean) is mc.Tensor
    assert not m.running_mean.requires_grad and m.num_batches_tracked.item() == 1
    np.testing.assert_array_equal(to_np(m.weight), np.ones(3, np.float32))


def test_initialize_parameters_keeps_the_class_until_forward(torch):
    m, tm = nn.LazyLinear(3), torch.nn.LazyLinear(3)
    m.initialize_parameters(mc.zeros(2, 7))
    tm.initialize_parameters(torch.zeros(2, 7))
    assert type(m) is nn.LazyLinear and type(tm) is torch.nn.LazyLinear
    assert not m.has_uninitialized_params() and tuple(m.weight.shape) == (3, 7)
    w = to_np(m.weight).copy()
    m.initialize_parameters(mc.zeros(2, 9))  # already initialized: nothing changes
    np.testing.assert_array_equal(to_np(m.weight), w)
    m(mc.zeros(1, 7))
    assert type(m) is nn.Linear and m.in_features == 7
    np.testing.assert_array_equal(to_np(m.weight), w)


def test_dtype_and_device_conversion_before_dry_run():
    m = nn.Sequential(nn.LazyConv2d(2, 3), nn.LazyBatchNorm2d()).double()
    assert m[0].weight.dtype == np.float64 and m[1].running_var.dtype == np.float64
    m(mc.randn(2, 3, 5, 5, dtype=mc.float64))
    assert m[0].weight.dtype == np.float64 and m[1].running_var.dtype == np.float64
    assert m[1].num_batches_tracked.dtype == np.int64


def test_gradcheck_materialized_network():
    model = conv_net(nn).double()
    x = mc.randn(3, 2, 4, 3, dtype=mc.float64)
    model(x)
    assert gradcheck(lambda x: model(x), [x.requires_grad_()])


def test_deepcopy_of_a_lazy_module_materializes_independently():
    m = nn.LazyLinear(3)
    c = copy.deepcopy(m)
    c(mc.zeros(1, 4))
    assert type(c) is nn.Linear and type(m) is nn.LazyLinear and m.has_uninitialized_params()
    m(mc.zeros(1, 6))
    assert tuple(m.weight.shape) == (3, 6) and tuple(c.weight.shape) == (3, 4)


# ------------------------------------------------------------ before materialization


USES = [
    ("shape", lambda w: w.shape),
    ("numel", lambda w: w.numel()),
    ("dim", lambda w: w.dim()),
    ("add", lambda w: w + 1),
    ("radd", lambda w: 1 + w),
    ("sum", lambda w: w.sum()),
    ("len", lambda w: len(w)),
    ("getitem", lambda w: w[0]),
    ("detach", lambda w: w.detach()),
    ("numpy", lambda w: w.numpy()),
    ("mul_", lambda w: w.mul_(2)),
    ("count", lambda w: sum(p.numel() for p in [w])),
]


@pytest.mark.parametrize("name,use", USES, ids=[u[0] for u in USES])
def test_using_an_uninitialized_parameter_raises_as_torch(torch, name, use):
    with pytest.raises(Exception) as texc:
        use(torch.nn.LazyLinear(3).weight)
    with pytest.raises(type(texc.value)) as exc:
        use(nn.LazyLinear(3).weight)
    assert type(exc.value) is type(texc.value)
    if isinstance(texc.value, RuntimeError):
        assert str(exc.value) == str(texc.value)  # the shape message, word for word
    else:
        assert str(exc.value).startswith("Attempted to use an uninitialized parameter in")
        assert "`LazyModule`" in str(exc.value) and "`forward`" in str(exc.value)


def test_what_works_before_materialization(torch):
    m = nn.LazyConv2d(4, 3)
    w = m.weight
    assert w.dtype == np.float32 and str(w.device) == "cpu" and w.requires_grad and w.is_leaf
    assert w.grad is None and repr(w) == repr(torch.nn.LazyConv2d(4, 3).weight)
    assert repr(nn.LazyBatchNorm1d().running_mean) == "<UninitializedBuffer>"
    m.requires_grad_(False)
    assert not w.requires_grad
    m.zero_grad()
    assert len(list(m.parameters())) == 2 and w in set(m.parameters())


def test_summary_works_after_materialization_and_on_dry_run():
    model = conv_net(nn)
    model(mc.zeros(2, 3, 6, 5))
    text = str(summary(model, (3, 6, 5)))
    assert "Conv2d" in text and "Lazy" not in text
    fresh = conv_net(nn)
    info = summary(fresh, (3, 6, 5))  # its forward pass is the dry run
    assert info.total_params == sum(p.numel() for p in model.parameters())
    assert type(fresh[0]) is nn.Conv2d


def test_state_dict_of_an_uninitialized_lazy_module_raises_clearly(torch):
    """Issue 15 asks for an error where PyTorch returns the placeholders (keep_vars=True still
    returns them, with PyTorch's keys)."""
    with pytest.raises(RuntimeError, match=r"'0.weight' of LazyConv2d is not initialized yet.*"
                                           "dry run"):
        conv_net(nn).state_dict()
    state, tstate = (conv_net(nn).state_dict(keep_vars=True),
                     conv_net(torch.nn).state_dict(keep_vars=True))
    assert list(state) == list(tstate)
    for k in state:
        assert type(state[k]).__name__ == type(tstate[k]).__name__, k


@pytest.mark.parametrize("make,x,error,match", [
    (lambda: nn.LazyConv2d(4, 3), mc.zeros(2, 3), RuntimeError,
     r"Expected 3D \(unbatched\) or 4D \(batched\) input to LazyConv2d, but got input of size"),
    (lambda: nn.LazyConv2d(4, 3, groups=2), mc.zeros(1, 3, 5, 5), ValueError,
     "in_channels must be divisible by groups"),
    (lambda: nn.LazyConvTranspose2d(4, 3), mc.zeros(5), RuntimeError, "Expected 3D"),
    (lambda: nn.LazyLinear(4), mc.tensor(1.0), ValueError, r"shape \(\*, in_features\)"),
    (lambda: nn.LazyLinear(4), mc.zeros(2, 0), ValueError, "in_features inferred"),
    (lambda: nn.LazyBatchNorm2d(), mc.zeros(2, 3, 4), ValueError, r"\(N, C, H, W\)"),
    (lambda: nn.LazyBatchNorm1d(), mc.zeros(4), ValueError, r"\(N, C\) or \(N, C, L\)"),
    (lambda: nn.LazyLinear(4), np.zeros((2, 3)), TypeError, "expected a minicnn.Tensor"),
])
def test_bad_first_input_raises_and_stays_lazy(make, x, error, match):
    m = make()
    lazy_type = type(m)
    with pytest.raises(error, match=match):
        m(x)
    assert type(m) is lazy_type and m.has_uninitialized_params()


@pytest.mark.parametrize("make", [
    lambda: nn.LazyConv2d(0, 3), lambda: nn.LazyConv2d(4, 3, groups=0), lambda: nn.LazyLinear(-1),
    lambda: nn.LazyConvTranspose2d(4, 3, padding_mode="reflect")])
def test_bad_constructor_arguments(make):
    with pytest.raises(ValueError):
        make()


# ------------------------------------------------------------ load_state_dict


@pytest.mark.parametrize("make,shape", NETS)
def test_load_state_dict_materializes_from_checkpoint(torch, make, shape):
    source = make(nn)
    x = mc.randn(*shape)
    source(x)
    source.eval()
    target = make(nn)
    assert target.load_state_dict(source.state_dict()) == ([], [])
    assert not any(m.has_uninitialized_params() for m in target.modules()
                   if isinstance(m, LazyModuleMixin))
    assert str(target).replace("Lazy", "") == str(source)  # sizes from the checkpoint
    for (k, v), (k2, v2) in zip(target.state_dict().items(), source.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(to_np(v), to_np(v2))
    assert type(target[0]).__name__.startswith("Lazy")  # as torch: the class changes in forward
    target.eval()
    np.testing.assert_array_equal(to_np(target(x)), to_np(source(x)))
    assert str(target) == str(source)


def test_load_state_dict_mismatch_and_missing_weight():
    state = nn.Linear(6, 3).state_dict()
    state["bias"] = np.zeros(4, np.float32)
    with pytest.raises(RuntimeError, match=r"size mismatch for bias: .*\(4,\).* \(3,\)"):
        nn.LazyLinear(3).load_state_dict(state)
    m = nn.LazyConv2d(4, 3)  # in_channels is not known from the bias alone
    with pytest.raises(RuntimeError, match="Call `forward` to initialize the parameters"):
        m.load_state_dict({"bias": np.zeros(4, np.float32)}, strict=False)
    assert m.has_uninitialized_params()
    m(mc.zeros(1, 2, 3, 3))
    assert m.load_state_dict({"bias": np.ones(4, np.float32)}, strict=False) == (["weight"], [])
    np.testing.assert_array_equal(to_np(m.bias), np.ones(4, np.float32))


# ------------------------------------------------------------ optimizers


def _train(model, optimizer, steps=8):
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((16, 3, 6, 5)).astype(np.float32))
    target = mc.tensor(rng.integers(0, 5, 16))
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_optimizer_built_after_dry_run_trains():
    model = conv_net(nn)
    model(mc.zeros(2, 3, 6, 5))
    optimizer = mc.optim.SGD(model.parameters(), lr=0.1)
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    assert all(type(p) is nn.Parameter for p in model.parameters())
    before = [to_np(p).copy() for p in weights]
    losses = _train(model, optimizer)
    assert losses[-1] < 0.7 * losses[0]
    # (the convolution's bias has no gradient: the batch norm after it cancels it)
    assert all(not np.array_equal(b, to_np(p)) for b, p in zip(before, weights))


def test_optimizer_built_before_dry_run_sees_the_materialized_parameters():
    model = conv_net(nn)
    optimizer = mc.optim.SGD(model.parameters(), lr=0.1)  # allowed, as in torch
    losses = _train(model, optimizer)
    assert losses[-1] < 0.7 * losses[0]
    assert optimizer.param_groups[0]["params"][0] is model[0].weight
