"""The layer modules of minicnn.nn against their torch.nn twins.

Each twin pair is built with the same constructor arguments; torch's parameters and buffers are
copied into ours with load_state_dict (numpy arrays). Then:
1. forward values, the input gradient and every parameter gradient agree (float64, and float32
   cases), in train and eval mode where the layer cares; hypothesis draws the conv and pooling
   configurations;
2. batch norm's running statistics and num_batches_tracked follow torch's over several steps
   (momentum, momentum=None, track_running_stats=False, eval in between);
3. state_dict keys and repr strings are torch's;
4. default initialization: PyTorch's bounds, dtypes, reproducible from minicnn.manual_seed;
5. bad input and bad constructor arguments raise errors that say what was expected.
"""
import math
import warnings
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn import nn

# torch's own note (once per process) that even 'same' kernels copy the input
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
HSET = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TOL = {np.float64: dict(rtol=1e-5, atol=1e-6), np.float32: dict(rtol=1e-4, atol=1e-4)}
DTYPES = [np.float64, np.float32]


# ---------------------------------------------------------------- helpers

def twins(torch, name, *args, dtype=np.float64, **kwargs):
    """(ours, torch's) built with the same arguments, torch's state copied into ours."""
    ours = getattr(nn, name)(*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    if dtype == np.float64:
        ours.double()
        theirs.double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def assert_close(ours, theirs, dtype, what=""):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = ours.detach().numpy() if hasattr(ours, "detach") else np.asarray(ours)
    assert ours.shape == theirs.shape, what
    assert ours.dtype == theirs.dtype, what
    np.testing.assert_allclose(ours, theirs, err_msg=what, **TOL[dtype])


def run_twins(torch, ours, theirs, x, *args, grad=True, seed=0):
    """Forward both on x (an ndarray); compare outputs; with ``grad``, backward a random
    upstream gradient through both and compare the input's and every parameter's gradient.
    Tuple outputs (return_indices) are compared whole, the first element differentiated."""
    dtype = x.dtype.type
    xo = mc.tensor(x, requires_grad=grad)
    xt = torch.tensor(x, requires_grad=grad)
    yo, yt = ours(xo, *args), theirs(xt.clone(), *args)  # a non-leaf, for torch's inplace=True
    outs_o = yo if isinstance(yo, tuple) else (yo,)
    outs_t = yt if isinstance(yt, tuple) else (yt,)
    assert len(outs_o) == len(outs_t)
    for i, (a, b) in enumerate(zip(outs_o, outs_t)):
        assert_close(a, b, dtype, f"output {i}")
    if grad:
        g = np.random.default_rng(seed).standard_normal(outs_t[0].shape).astype(dtype)
        ours.zero_grad()
        theirs.zero_grad()
        outs_o[0].backward(mc.tensor(g))
        outs_t[0].backward(torch.from_numpy(g))
        assert_close(xo.grad, xt.grad, dtype, "input gradient")
        tp = dict(theirs.named_parameters())
        assert [n for n, _ in ours.named_parameters()] == list(tp)
        for name, p in ours.named_parameters():
            assert_close(p.grad, tp[name].grad, dtype, f"gradient of {name}")
    return outs_o[0]


def assert_same_state(ours, theirs, dtype):
    """The same keys, and equal parameters and buffers (num_batches_tracked exactly)."""
    ts, os_ = theirs.state_dict(), ours.state_dict()
    assert list(os_) == list(ts)
    for k, v in ts.items():
        v = v.numpy()
        if v.dtype == np.int64:
            assert os_[k].dtype == np.int64 and os_[k].shape == v.shape, k
            np.testing.assert_array_equal(os_[k].numpy(), v, err_msg=k)
        else:
            assert_close(os_[k], v, dtype, k)


def data(shape, dtype=np.float64, seed=0, scale=1.0, offset=0.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale + offset).astype(dtype)


# ---------------------------------------------------------------- convolution

@st.composite
def conv_configs(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = draw(st.sampled_from([1, 2, (1, 2)]))
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    padding = draw(st.sampled_from([0, 1, 2, (0, 2), (1, 0), "same", "valid"]))
    stride = 1 if padding == "same" else draw(st.sampled_from([1, 2, 3, (2, 1)]))
    mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    # at least 3 rows/columns (reflect padding needs pad < size) and the dilated kernel
    size = [max(3, d[a] * (k[a] - 1) + 1) + draw(st.integers(0, 4)) for a in range(2)]
    shape = ((draw(st.integers(1, 3)),) if draw(st.booleans()) else ()) + (cin, *size)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                  bias=draw(st.booleans()), padding_mode=mode)
    return (cin, cout, k), kwargs, shape


@HSET
@given(cfg=conv_configs(), seed=st.integers(0, 2 ** 16))
def test_conv2d_matches_torch(torch, cfg, seed):
    args, kwargs, shape = cfg
    ours, theirs = twins(torch, "Conv2d", *args, **kwargs)
    run_twins(torch, ours, theirs, data(shape, seed=seed), seed=seed)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("kernel_size, dilation", [((2, 4), 1), ((3, 2), (2, 3)), (4, 2)])
def test_conv2d_same_padding_matches_torch(torch, mode, kernel_size, dilation):
    """Even total padding puts the extra row/column at the bottom/right."""
    ours, theirs = twins(torch, "Conv2d", 2, 3, kernel_size, padding="same", dilation=dilation,
                         padding_mode=mode)
    y = run_twins(torch, ours, theirs, data((2, 2, 7, 8)))
    assert y.shape == (2, 3, 7, 8)


@pytest.mark.parametrize("mode", ["zeros", "reflect"])
def test_conv2d_float32_matches_torch(torch, mode):
    ours, theirs = twins(torch, "Conv2d", 4, 6, 3, padding=1, stride=2, groups=2,
                         padding_mode=mode, dtype=np.float32)
    assert ours.weight.dtype == np.float32
    run_twins(torch, ours, theirs, data((2, 4, 9, 8), np.float32))


@st.composite
def conv_transpose_configs(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    output_padding = tuple(draw(st.integers(0, max(stride[a], dilation[a]) - 1)) for a in range(2))
    size = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    out = [(size[a] - 1) * stride[a] - 2 * padding[a] + dilation[a] * (k[a] - 1)
           + output_padding[a] + 1 for a in range(2)]
    assume(min(out) >= 1)
    shape = ((draw(st.integers(1, 3)),) if draw(st.booleans()) else ()) + (cin, *size)
    kwargs = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                  bias=draw(st.booleans()), dilation=dilation)
    return (cin, cout, k), kwargs, shape


@HSET
@given(cfg=conv_transpose_configs(), seed=st.integers(0, 2 ** 16))
def test_conv_transpose2d_matches_torch(torch, cfg, seed):
    args, kwargs, shape = cfg
    ours, theirs = twins(torch, "ConvTranspose2d", *args, **kwargs)
    run_twins(torch, ours, theirs, data(shape, seed=seed), seed=seed)


@pytest.mark.parametrize("shape, output_size", [((2, 4, 5, 6), (10, 12)), ((2, 4, 5, 6), [10, 11]),
                                                ((2, 4, 5, 6), (2, 6, 9, 12)),
                                                ((4, 5, 6), (6, 10, 11))])
def test_conv_transpose2d_output_size_matches_torch(torch, shape, output_size):
    ours, theirs = twins(torch, "ConvTranspose2d", 4, 6, 3, stride=2, padding=1)
    y = run_twins(torch, ours, theirs, data(shape), output_size)
    assert y.shape[-2:] == tuple(output_size)[-2:]


def test_conv_transpose2d_bad_output_size():
    m = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1)
    with pytest.raises(ValueError, match=r"valid sizes range from \[9, 11\] to \[10, 12\]"):
        m(mc.randn(1, 4, 5, 6), (12, 12))
    with pytest.raises(ValueError, match="output_size must have 2 or 4 elements"):
        m(mc.randn(1, 4, 5, 6), (10,))


# ---------------------------------------------------------------- linear, flatten, identity

@pytest.mark.parametrize("shape", [(5,), (3, 5), (2, 3, 5), (0, 5)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_matches_torch(torch, shape, bias, dtype):
    ours, theirs = twins(torch, "Linear", 5, 4, bias=bias, dtype=dtype)
    run_twins(torch, ours, theirs, data(shape, dtype))


@pytest.mark.parametrize("name, args, shape", [
    ("Flatten", (), (2, 3, 4, 5)), ("Flatten", (0, 2), (2, 3, 4, 5)),
    ("Flatten", (-3, -2), (2, 3, 4, 5)), ("Unflatten", (1, (3, 4)), (2, 12, 5)),
    ("Unflatten", (-1, (2, -1)), (2, 3, 6)), ("Unflatten", (0, [1, 2]), (2, 3)),
    ("Identity", (7,), (2, 3))])
def test_shape_layers_match_torch(torch, name, args, shape):
    ours, theirs = twins(torch, name, *args)
    run_twins(torch, ours, theirs, data(shape))


def test_identity_returns_its_input():
    x = mc.randn(3)
    assert nn.Identity(1, 2, key="v")(x) is x


def test_unflatten_errors():
    with pytest.raises(TypeError, match="unflattened_size must be a tuple of ints"):
        nn.Unflatten(1, 6)
    with pytest.raises(TypeError, match="found element of type float at pos 1"):
        nn.Unflatten(1, (2, 3.0))
    with pytest.raises(ValueError, match=r"unflattened_size \(4, 2\) does not fit dimension 1 "
                                         r"of size 6"):
        nn.Unflatten(1, (4, 2))(mc.randn(2, 6))
    with pytest.raises(ValueError, match="does not fit"):
        nn.Unflatten(1, (4, -1))(mc.randn(2, 6))


# ---------------------------------------------------------------- normalization

BN_CASES = [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)), ("BatchNorm2d", (3, 3, 4, 5))]


@pytest.mark.parametrize("name, shape", BN_CASES)
@pytest.mark.parametrize("momentum", [0.1, None, 0.5])
@pytest.mark.parametrize("affine, bias", [(True, True), (True, False), (False, True)])
def test_batch_norm_trajectory_matches_torch(torch, name, shape, momentum, affine, bias):
    """Several training steps (outputs, gradients, running statistics, num_batches_tracked),
    then eval (running statistics in use, nothing updated), then training again."""
    ours, theirs = twins(torch, name, 3, momentum=momentum, affine=affine, bias=bias)
    for step, train in enumerate([True, True, True, False, True]):
        ours.train(train)
        theirs.train(train)
        x = data(shape, seed=step, scale=1 + step, offset=step - 1)
        run_twins(torch, ours, theirs, x, seed=step)
        assert_same_state(ours, theirs, np.float64)
    assert ours.num_batches_tracked.item() == 4 and ours.num_batches_tracked.shape == ()


@pytest.mark.parametrize("name, shape", BN_CASES)
@pytest.mark.parametrize("train", [True, False])
def test_batch_norm_without_running_stats_matches_torch(torch, name, shape, train):
    ours, theirs = twins(torch, name, 3, track_running_stats=False)
    assert ours.running_mean is None and ours.num_batches_tracked is None
    ours.train(train)
    theirs.train(train)
    run_twins(torch, ours, theirs, data(shape, offset=2.0))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]


def test_batch_norm_float32_matches_torch(torch):
    ours, theirs = twins(torch, "BatchNorm2d", 4, dtype=np.float32)
    for step in range(3):
        run_twins(torch, ours, theirs, data((2, 4, 5, 5), np.float32, seed=step, offset=step))
        assert_same_state(ours, theirs, np.float32)
    ours.eval()
    theirs.eval()
    run_twins(torch, ours, theirs, data((2, 4, 5, 5), np.float32, seed=9))


def test_batch_norm_momentum_none_is_the_cumulative_average():
    m = nn.BatchNorm1d(2, momentum=None).double()
    batches = [data((5, 2), seed=s, offset=s) for s in range(4)]
    for x in batches:
        m(mc.tensor(x))
    np.testing.assert_allclose(m.running_mean.numpy(), np.mean([b.mean(0) for b in batches], 0),
                               rtol=1e-12)
    np.testing.assert_allclose(m.running_var.numpy(),
                               np.mean([b.var(0, ddof=1) for b in batches], 0), rtol=1e-12)


def test_batch_norm_reset_and_failed_batch_leave_count_alone():
    m = nn.BatchNorm2d(2)
    m(mc.randn(2, 2, 3, 3))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        m(mc.randn(1, 2, 1, 1))
    assert m.num_batches_tracked.item() == 1
    m.reset_running_stats()
    assert m.num_batches_tracked.item() == 0 and m.num_batches_tracked.dtype == np.int64
    np.testing.assert_array_equal(m.running_mean.numpy(), [0, 0])
    np.testing.assert_array_equal(m.running_var.numpy(), [1, 1])


@pytest.mark.parametrize("shape, normalized_shape", [((2, 3, 4), 4), ((2, 3, 4), (3, 4)),
                                                     ((2, 3, 4, 5), [3, 4, 5]), ((6,), 6)])
@pytest.mark.parametrize("affine, bias", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_matches_torch(torch, shape, normalized_shape, affine, bias, dtype):
    ours, theirs = twins(torch, "LayerNorm", normalized_shape, eps=1e-4,
                         elementwise_affine=affine, bias=bias, dtype=dtype)
    # non-default affine values, so their gradients and effect are visible
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, dtype=p.dtype))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    run_twins(torch, ours, theirs, data(shape, dtype, offset=1.0))
    ours.eval()
    theirs.eval()
    run_twins(torch, ours, theirs, data(shape, dtype, seed=1))


@pytest.mark.parametrize("groups, channels, shape", [(2, 4, (3, 4, 5, 5)), (1, 6, (2, 6, 3)),
                                                     (3, 3, (2, 3, 4, 4)), (2, 4, (5, 4))])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_group_norm_matches_torch(torch, groups, channels, shape, affine, dtype):
    ours, theirs = twins(torch, "GroupNorm", groups, channels, affine=affine, dtype=dtype)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, dtype=p.dtype))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    run_twins(torch, ours, theirs, data(shape, dtype, offset=-1.0))


# ---------------------------------------------------------------- pooling

@st.composite
def pool_configs(draw, dilation=True):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.sampled_from([None, 1, 2, 3, (1, 2)]))
    padding = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    size = [d[a] * (k[a] - 1) + 1 + draw(st.integers(0, 5)) for a in range(2)]
    shape = ((draw(st.integers(1, 2)),) if draw(st.booleans()) else ()) + (
        draw(st.integers(1, 3)), *size)
    kernel_size = k if k[0] != k[1] or draw(st.booleans()) else k[0]
    return kernel_size, stride, padding, d, draw(st.booleans()), shape


@HSET
@given(cfg=pool_configs(), return_indices=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_max_pool2d_matches_torch(torch, cfg, return_indices, seed):
    k, stride, padding, dilation, ceil_mode, shape = cfg
    ours, theirs = twins(torch, "MaxPool2d", k, stride, padding, dilation,
                         return_indices=return_indices, ceil_mode=ceil_mode)
    run_twins(torch, ours, theirs, data(shape, seed=seed), seed=seed)


@HSET
@given(cfg=pool_configs(dilation=False), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, None, 1, 3]), seed=st.integers(0, 2 ** 16))
def test_avg_pool2d_matches_torch(torch, cfg, count_include_pad, divisor_override, seed):
    k, stride, padding, _, ceil_mode, shape = cfg
    ours, theirs = twins(torch, "AvgPool2d", k, stride, padding, ceil_mode=ceil_mode,
                         count_include_pad=count_include_pad, divisor_override=divisor_override)
    run_twins(torch, ours, theirs, data(shape, seed=seed), seed=seed)


@pytest.mark.parametrize("output_size", [1, 3, (2, 5), (None, 2), (4, None), [3, 1]])
@pytest.mark.parametrize("shape", [(2, 3, 7, 6), (3, 5, 4)])
def test_adaptive_pools_match_torch(torch, output_size, shape):
    ours, theirs = twins(torch, "AdaptiveAvgPool2d", output_size)
    run_twins(torch, ours, theirs, data(shape))
    for return_indices in (False, True):
        ours, theirs = twins(torch, "AdaptiveMaxPool2d", output_size, return_indices)
        run_twins(torch, ours, theirs, data(shape, seed=1))


@pytest.mark.parametrize("name, args", [("MaxPool2d", (3, 2, 1)), ("MaxPool2d", ((3,), [2])),
                                        ("AvgPool2d", (2,)), ("AvgPool2d", ((2,), None, [1])),
                                        ("AdaptiveAvgPool2d", (2,)), ("AdaptiveMaxPool2d", (2,))])
def test_pools_float32_match_torch(torch, name, args):
    ours, theirs = twins(torch, name, *args, dtype=np.float32)
    run_twins(torch, ours, theirs, data((2, 3, 7, 6), np.float32))


# ---------------------------------------------------------------- activations

ACTIVATIONS = [("ReLU", ()), ("ReLU", (True,)), ("ReLU6", ()), ("Hardtanh", ()),
               ("Hardtanh", (-2.0, 3.5)), ("LeakyReLU", ()), ("LeakyReLU", (0.2, True)),
               ("GELU", ()), ("GELU", ("tanh",)), ("SiLU", ()), ("Sigmoid", ()), ("Tanh", ()),
               ("Hardswish", ()), ("Softmax", (1,)), ("Softmax", (-1,)), ("LogSoftmax", (0,)),
               ("LogSoftmax", (2,))]


@pytest.mark.parametrize("name, args", ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_match_torch(torch, name, args, dtype):
    ours, theirs = twins(torch, name, *args, dtype=dtype)
    run_twins(torch, ours, theirs, data((2, 3, 4, 5), dtype, scale=3.0))


@pytest.mark.parametrize("name", ["ReLU", "ReLU6", "Hardtanh", "LeakyReLU", "SiLU", "Hardswish"])
def test_inplace_activations_leave_the_input_alone(name):
    x = mc.randn(4, 5)
    before = x.numpy().copy()
    y = getattr(nn, name)(inplace=True)(x)
    np.testing.assert_array_equal(x.numpy(), before)
    np.testing.assert_allclose(y.numpy(), getattr(nn, name)()(x).numpy())


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (2, 3, 4, 5)])
def test_softmax_implicit_dim_matches_torch(torch, name, shape):
    ours, theirs = twins(torch, name)
    with pytest.warns(UserWarning, match="mplicit dimension choice"):
        yo = ours(mc.tensor(data(shape)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yt = theirs(torch.tensor(data(shape)))
    assert_close(yo, yt, np.float64)


# ---------------------------------------------------------------- dropout

@pytest.mark.parametrize("name", ["Dropout", "Dropout2d"])
def test_dropout_eval_and_p0_are_the_identity(name):
    x = mc.randn(2, 3, 4, 4, requires_grad=True)
    m = getattr(nn, name)(0.5).eval()
    assert m(x) is x
    m.train()
    assert getattr(nn, name)(0.0)(x) is x
    y = getattr(nn, name)(1.0)(x)
    np.testing.assert_array_equal(y.detach().numpy(), np.zeros(x.shape))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_statistics_and_gradient(p):
    x = mc.ones(200, 500, requires_grad=True)
    y = nn.Dropout(p)(x)
    values = y.detach().numpy()
    kept = values != 0
    np.testing.assert_allclose(values[kept], 1 / (1 - p), rtol=1e-6)
    n = values.size
    assert kept.mean() == pytest.approx(1 - p, abs=5 * math.sqrt(p * (1 - p) / n))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values)  # the same mask and scale


def test_dropout2d_drops_whole_channels():
    x = mc.ones(50, 40, 3, 3, requires_grad=True)
    y = nn.Dropout2d(0.5)(x).detach().numpy()
    per_channel = y.reshape(50, 40, 9)
    assert np.all(per_channel == per_channel[..., :1])  # each channel all kept or all dropped
    assert set(np.unique(y)) == {0.0, 2.0}
    assert (per_channel[..., 0] == 0).mean() == pytest.approx(0.5, abs=0.08)


def test_dropout_reproducible_from_manual_seed():
    x = mc.randn(10, 10)
    mc.manual_seed(3)
    a = nn.Dropout()(x).numpy()
    mc.manual_seed(3)
    np.testing.assert_array_equal(nn.Dropout()(x).numpy(), a)


def test_dropout_inplace():
    x = mc.ones(20, 20)
    y = nn.Dropout(0.5, inplace=True)(x)
    assert y is x and set(np.unique(x.numpy())) == {0.0, 2.0}
    # where autograd needs the input, it is computed out of place (same semantics otherwise)
    w = mc.ones(20, 20, requires_grad=True)
    y = nn.Dropout(0.5, inplace=True)(w)
    assert y is not w and np.all(w.detach().numpy() == 1)
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), y.detach().numpy())


# ---------------------------------------------------------------- losses

def loss_twins(torch, name, weight=None, **kwargs):
    ours = getattr(nn, name)(weight=None if weight is None else mc.tensor(weight), **kwargs)
    theirs = getattr(torch.nn, name)(weight=None if weight is None else torch.tensor(weight),
                                     **kwargs)
    return ours, theirs


def run_loss(torch, ours, theirs, x, target):
    dtype = x.dtype.type
    xo, xt = mc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lo, lt = ours(xo, mc.tensor(target)), theirs(xt, torch.tensor(target))
    assert_close(lo, lt, dtype, "loss")
    g = data(lt.shape, dtype, seed=5)
    lo.backward(mc.tensor(g))
    lt.backward(torch.tensor(g))
    assert_close(xo.grad, xt.grad, dtype, "input gradient")


LOSS_SHAPES = [((6, 4), (6,)), ((2, 4, 3, 3), (2, 3, 3)), ((4,), ())]


@pytest.mark.parametrize("shape, tshape", LOSS_SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index, label_smoothing", [(-100, 0.0), (1, 0.0), (-100, 0.2),
                                                           (2, 0.1)])
def test_cross_entropy_loss_matches_torch(torch, shape, tshape, weighted, reduction,
                                          ignore_index, label_smoothing):
    rng = np.random.default_rng(0)
    weight = rng.uniform(0.5, 2.0, 4) if weighted else None
    target = rng.integers(0, 4, tshape).astype(np.int64)
    ours, theirs = loss_twins(torch, "CrossEntropyLoss", weight, ignore_index=ignore_index,
                              reduction=reduction, label_smoothing=label_smoothing)
    run_loss(torch, ours, theirs, data(shape, scale=2.0), target)


def test_cross_entropy_loss_probability_targets_and_float32(torch):
    ours, theirs = loss_twins(torch, "CrossEntropyLoss", label_smoothing=0.1)
    probs = np.random.default_rng(1).dirichlet(np.ones(5), 6)
    run_loss(torch, ours, theirs, data((6, 5)), probs)
    target = np.array([0, 3, 1, 4], np.int64)
    run_loss(torch, ours, theirs, data((4, 5), np.float32), target)


@pytest.mark.parametrize("shape, tshape", LOSS_SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [-100, 0])
def test_nll_loss_matches_torch(torch, shape, tshape, weighted, reduction, ignore_index):
    rng = np.random.default_rng(2)
    weight = rng.uniform(0.5, 2.0, 4) if weighted else None
    target = rng.integers(0, 4, tshape).astype(np.int64)
    ours, theirs = loss_twins(torch, "NLLLoss", weight, ignore_index=ignore_index,
                              reduction=reduction)
    run_loss(torch, ours, theirs, data(shape), target)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_mse_loss_matches_torch(torch, reduction, dtype):
    ours, theirs = nn.MSELoss(reduction=reduction), torch.nn.MSELoss(reduction=reduction)
    run_loss(torch, ours, theirs, data((3, 4, 5), dtype), data((3, 4, 5), dtype, seed=1))


def test_loss_weight_is_a_buffer(torch):
    ours = nn.CrossEntropyLoss(weight=mc.tensor([1.0, 2.0, 3.0]))
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 3.0]))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    assert [n for n, _ in ours.named_buffers()] == ["weight"] and not list(ours.parameters())
    ours.double()
    assert ours.weight.dtype == np.float64
    loss = ours(mc.randn(4, 3).double(), mc.tensor([0, 1, 2, 1]))
    assert loss.dtype == np.float64
    assert list(nn.NLLLoss().state_dict()) == list(torch.nn.NLLLoss().state_dict()) == []


def test_legacy_size_average_and_reduce(torch):
    for size_average, reduce, expected in [(False, None, "sum"), (None, False, "none"),
                                           (True, True, "mean")]:
        with pytest.warns(UserWarning, match=f"reduction='{expected}'"):
            m = nn.MSELoss(size_average, reduce)
        assert m.reduction == expected
        with pytest.warns(UserWarning):
            assert nn.CrossEntropyLoss(None, size_average, -100, reduce).reduction == expected


# ---------------------------------------------------------------- a small network end to end

def small_cnn(lib):
    return lib.Sequential(
        lib.Conv2d(3, 8, 3, padding=1, bias=False), lib.BatchNorm2d(8), lib.ReLU(inplace=True),
        lib.MaxPool2d(2), lib.Conv2d(8, 8, 3, padding=1, groups=2), lib.GroupNorm(2, 8),
        lib.SiLU(), lib.AdaptiveAvgPool2d(1), lib.Flatten(), lib.Dropout(0.0),
        lib.Linear(8, 5))


@pytest.mark.parametrize("dtype", DTYPES)
def test_small_cnn_matches_torch(torch, dtype):
    ours, theirs = small_cnn(nn), small_cnn(torch.nn)
    assert str(ours) == str(theirs)
    if dtype == np.float64:
        ours.double()
        theirs.double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    target = np.array([0, 4, 2, 1], np.int64)
    for step in range(2):
        x = data((4, 3, 8, 8), dtype, seed=step)
        lo = nn.CrossEntropyLoss()(ours(mc.tensor(x)), mc.tensor(target))
        lt = torch.nn.CrossEntropyLoss()(theirs(torch.tensor(x)), torch.tensor(target))
        assert_close(lo, lt, dtype, "loss")
        ours.zero_grad()
        theirs.zero_grad()
        lo.backward()
        lt.backward()
        tp = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            assert_close(p.grad, tp[name].grad, dtype, name)
        assert_same_state(ours, theirs, dtype)
    ours.eval()
    theirs.eval()
    x = data((2, 3, 8, 8), dtype, seed=7)
    assert_close(ours(mc.tensor(x)), theirs(torch.tensor(x)), dtype, "eval output")


# ---------------------------------------------------------------- state_dict keys and repr

CONFIGS = [
    ("Conv2d", (3, 64, 3), dict(padding=1, bias=False)),
    ("Conv2d", (3, 64, (3, 5)), dict(stride=(2, 1), padding=(1, 2), dilation=2)),
    ("Conv2d", (4, 8, 3), dict(groups=4, padding=1, padding_mode="reflect")),
    ("Conv2d", (4, 8, 3), dict(padding="same", padding_mode="circular")),
    ("Conv2d", (4, 8, 3), dict(padding="valid")),
    ("Conv2d", (4, 8, 1), dict(stride=2)),
    ("Conv2d", (4, 8, [2, 3]), dict(stride=[1, 2], dilation=(1, 1), padding=[0, 0])),
    ("ConvTranspose2d", (4, 8, 3), dict(stride=2, padding=1, output_padding=1)),
    ("ConvTranspose2d", (4, 8, 2), dict(stride=2, bias=False, groups=2, dilation=2)),
    ("Linear", (4, 2), {}), ("Linear", (4, 2), dict(bias=False)),
    ("BatchNorm2d", (64,), {}),
    ("BatchNorm2d", (8,), dict(eps=1e-3, momentum=None, affine=False, track_running_stats=False)),
    ("BatchNorm1d", (3,), dict(momentum=0.01)), ("BatchNorm2d", (4,), dict(bias=False)),
    ("LayerNorm", (4,), {}), ("LayerNorm", ([3, 4],), dict(eps=1e-6, elementwise_affine=False)),
    ("LayerNorm", ((5,),), dict(bias=False)),
    ("GroupNorm", (2, 4), {}), ("GroupNorm", (1, 6), dict(eps=1e-3, affine=False)),
    ("GroupNorm", (2, 6), dict(bias=False)),
    ("MaxPool2d", (2,), {}), ("MaxPool2d", (3, 2, 1), {}),
    ("MaxPool2d", ((2, 3),), dict(stride=(1, 2), padding=(1, 1), dilation=2, ceil_mode=True,
                                  return_indices=True)),
    ("MaxPool2d", ([2, 3],), {}), ("MaxPool2d", ((3,),), {}),
    ("AvgPool2d", (2,), {}),
    ("AvgPool2d", (3, 2, 1), dict(ceil_mode=True, count_include_pad=False, divisor_override=2)),
    ("AdaptiveAvgPool2d", (1,), {}), ("AdaptiveAvgPool2d", ((2, None),), {}),
    ("AdaptiveMaxPool2d", ((3, 4),), dict(return_indices=True)),
    ("ReLU", (), {}), ("ReLU", (), dict(inplace=True)), ("ReLU6", (), {}), ("ReLU6", (True,), {}),
    ("Hardtanh", (), {}), ("Hardtanh", (-2, 3.5, True), {}), ("LeakyReLU", (), {}),
    ("LeakyReLU", (0.2, True), {}), ("GELU", (), {}), ("GELU", (), dict(approximate="tanh")),
    ("SiLU", (), {}), ("SiLU", (True,), {}), ("Sigmoid", (), {}), ("Tanh", (), {}),
    ("Hardswish", (), {}), ("Hardswish", (True,), {}), ("Softmax", (), {}),
    ("Softmax", (), dict(dim=-1)), ("LogSoftmax", (1,), {}),
    ("Dropout", (), {}), ("Dropout", (0.2, True), {}), ("Dropout2d", (0.1,), {}),
    ("CrossEntropyLoss", (), {}),
    ("CrossEntropyLoss", (), dict(ignore_index=0, reduction="sum", label_smoothing=0.1)),
    ("NLLLoss", (), dict(reduction="none")), ("MSELoss", (), dict(reduction="sum")),
    ("Flatten", (), {}), ("Flatten", (0, 2), {}), ("Unflatten", (1, (2, 3)), {}),
    ("Identity", (), {}), ("Identity", (54,), dict(unused="x")),
]


@pytest.mark.parametrize("name, args, kwargs", CONFIGS)
def test_repr_and_state_dict_keys_equal_torch(torch, name, args, kwargs):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert str(ours) == str(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for key, value in theirs.state_dict().items():
        assert ours.state_dict()[key].shape == tuple(value.shape), key


def test_attributes_equal_torch(torch):
    for name, args, kwargs in CONFIGS[:9]:
        ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
        for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                     "dilation", "groups", "padding_mode", "output_padding", "transposed"):
            assert getattr(ours, attr) == getattr(theirs, attr), (name, attr)


# ---------------------------------------------------------------- default initialization

@pytest.mark.parametrize("make, fan_in", [(lambda: nn.Conv2d(4, 8, 3), 36),
                                          (lambda: nn.Conv2d(6, 3, (2, 3), groups=3), 12),
                                          (lambda: nn.ConvTranspose2d(4, 6, 3, groups=2), 27),
                                          (lambda: nn.Linear(50, 30), 50)])
def test_default_init_bounds(make, fan_in):
    m = make()
    bound = np.float32(1 / math.sqrt(fan_in))
    for p in m.parameters():
        assert p.dtype == np.float32 and p.requires_grad and p.is_leaf
        values = p.detach().numpy()
        assert np.abs(values).max() <= bound
        assert len(np.unique(values)) == p.numel()  # random, not constant


def test_default_init_distribution_is_pytorchs(torch):
    """kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)): compare the spread
    with torch's layer of the same shape."""
    ours, theirs = nn.Conv2d(64, 128, 3), torch.nn.Conv2d(64, 128, 3)
    w, tw = ours.weight.detach().numpy(), theirs.weight.detach().numpy()
    bound = 1 / math.sqrt(64 * 9)
    assert w.max() > 0.99 * bound and w.min() < -0.99 * bound
    assert w.std() == pytest.approx(tw.std(), rel=0.02)
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert abs(w.mean()) < 0.01 * bound


def test_default_init_reproducible_from_manual_seed():
    mc.manual_seed(0)
    a = [nn.Conv2d(3, 4, 3), nn.Linear(5, 6), nn.ConvTranspose2d(2, 3, 2)]
    b = [nn.Conv2d(3, 4, 3), nn.Linear(5, 6), nn.ConvTranspose2d(2, 3, 2)]
    mc.manual_seed(0)
    c = [nn.Conv2d(3, 4, 3), nn.Linear(5, 6), nn.ConvTranspose2d(2, 3, 2)]
    for ma, mb, mcc in zip(a, b, c):
        for (_, pa), (_, pb), (_, pc) in zip(ma.state_dict().items(), mb.state_dict().items(),
                                             mcc.state_dict().items()):
            np.testing.assert_array_equal(pa.numpy(), pc.numpy())
            assert not np.array_equal(pa.numpy(), pb.numpy())


def test_norm_layers_default_values():
    bn = nn.BatchNorm2d(3)
    for name, value in [("weight", 1), ("bias", 0), ("running_mean", 0), ("running_var", 1)]:
        t = getattr(bn, name)
        assert t.dtype == np.float32 and t.shape == (3,)
        np.testing.assert_array_equal(t.detach().numpy(), np.full(3, value))
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.shape == ()
    assert bn.num_batches_tracked.item() == 0
    assert not bn.running_mean.requires_grad and bn.weight.requires_grad
    for m in (nn.LayerNorm((2, 3)), nn.GroupNorm(1, 4)):
        np.testing.assert_array_equal(m.weight.detach().numpy(), np.ones(m.weight.shape))
        np.testing.assert_array_equal(m.bias.detach().numpy(), np.zeros(m.bias.shape))


@pytest.mark.parametrize("make, x", [
    (lambda **f: nn.Conv2d(3, 4, 3, **f), (2, 3, 5, 5)),
    (lambda **f: nn.ConvTranspose2d(3, 4, 3, **f), (2, 3, 5, 5)),
    (lambda **f: nn.Linear(3, 4, **f), (2, 3)),
    (lambda **f: nn.BatchNorm2d(3, **f), (2, 3, 4, 4)),
    (lambda **f: nn.BatchNorm1d(3, **f), (2, 3)),
    (lambda **f: nn.LayerNorm(3, **f), (2, 3)),
    (lambda **f: nn.GroupNorm(1, 3, **f), (2, 3, 4))])
def test_dtype_and_device_arguments(make, x):
    m = make(dtype=mc.float64)
    for name, t in m.state_dict().items():
        assert t.dtype == (np.int64 if name == "num_batches_tracked" else np.float64), name
    assert m(mc.randn(*x).double()).dtype == np.float64
    with pytest.raises(TypeError, match="dtype"):
        m(mc.randn(*x))  # float32 input, float64 parameters: no silent promotion
    m = make(device="numpy")
    assert all(t.device == mc.device("numpy") for t in m.state_dict().values())
    assert m(mc.randn(*x, device="numpy")).device == mc.device("numpy")


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("layer, shape, message", [
    (nn.Conv2d(3, 64, 3), (2, 1, 28, 28),
     r"Conv2d\(3, 64, kernel_size=\(3, 3\), stride=\(1, 1\)\) expected input of shape "
     r"\(N, 3, H, W\) or \(3, H, W\), got \(2, 1, 28, 28\)"),
    (nn.Conv2d(3, 8, 3), (3, 28), r"expected input of shape \(N, 3, H, W\) or \(3, H, W\), "
                                  r"got \(3, 28\)"),
    (nn.Conv2d(3, 8, 3), (1, 1, 3, 9, 9), r"got \(1, 1, 3, 9, 9\)"),
    (nn.ConvTranspose2d(4, 2, 3), (2, 3, 5, 5), r"ConvTranspose2d\(4, 2, .*\) expected input "
                                                r"of shape \(N, 4, H, W\) or \(4, H, W\)"),
    (nn.Linear(4, 2), (3, 5), r"Linear\(in_features=4, out_features=2, bias=True\) expected "
                              r"input of shape \(\*, 4\), got \(3, 5\)"),
    (nn.Linear(4, 2), (), r"expected input of shape \(\*, 4\), got \(\)"),
    (nn.BatchNorm2d(64), (8, 64, 10), r"BatchNorm2d\(64\) expected input of shape "
                                      r"\(N, 64, H, W\), got \(8, 64, 10\)"),
    (nn.BatchNorm2d(64), (8, 32, 4, 4), r"expected input of shape \(N, 64, H, W\), "
                                        r"got \(8, 32, 4, 4\)"),
    (nn.BatchNorm1d(3), (2, 3, 4, 4), r"BatchNorm1d\(3\) expected input of shape \(N, 3\) or "
                                      r"\(N, 3, L\), got \(2, 3, 4, 4\)"),
    (nn.BatchNorm1d(3), (2, 4), r"got \(2, 4\)"),
    (nn.GroupNorm(2, 4), (2, 6, 3), r"GroupNorm\(2, 4, .*\) expected input of shape "
                                    r"\(N, 4, \*\), got \(2, 6, 3\)"),
    (nn.LayerNorm((3, 4)), (2, 4, 3), r"normalized_shape \(3, 4\) must match"),
    (nn.MaxPool2d(2), (4, 4), r"max_pool2d: input must have shape \(N, C, H, W\) or \(C, H, W\)"),
    (nn.AvgPool2d(5), (1, 1, 3, 3), r"kernel \(5, 5\) .* is larger than the padded input"),
    (nn.AdaptiveAvgPool2d(2), (2, 3, 4, 5, 6), r"input must have shape"),
    (nn.Conv2d(3, 8, 5), (1, 3, 3, 3), r"kernel \(5, 5\) .* is larger than the padded input"),
])
def test_bad_input_raises_value_error(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer(mc.randn(*shape))


def test_error_note_names_the_layer_path():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), nn.Conv2d(3, 8, 1)))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\)") as info:
        model(mc.randn(1, 3, 6, 6))
    assert info.value.__notes__[-1] == "(raised in layer '1.1' (Conv2d))"


@pytest.mark.parametrize("layer", [nn.Conv2d(3, 4, 3), nn.Linear(3, 4), nn.BatchNorm2d(3),
                                   nn.GroupNorm(1, 3), nn.ConvTranspose2d(3, 2, 2)])
def test_non_tensor_input_raises_type_error(layer):
    with pytest.raises(TypeError, match="expected a minicnn.Tensor input, got ndarray"):
        layer(np.zeros((2, 3, 4, 4), np.float32))


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Conv2d(3, 8, 3, groups=2), ValueError, "in_channels must be divisible by groups"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), ValueError, "out_channels must be divisible by groups"),
    (lambda: nn.Conv2d(4, 4, 3, groups=0), ValueError, "groups must be a positive integer"),
    (lambda: nn.Conv2d(0, 4, 3), ValueError, "in_channels must be a positive int, got 0"),
    (lambda: nn.Conv2d(4, -1, 3), ValueError, "out_channels must be a positive int"),
    (lambda: nn.Conv2d(4, 4, 0), ValueError, r"kernel_size must be >= 1, got \(0, 0\)"),
    (lambda: nn.Conv2d(4, 4, 3, stride=(1, 0)), ValueError, "stride must be >= 1"),
    (lambda: nn.Conv2d(4, 4, 3, padding=-1), ValueError, "padding must be >= 0"),
    (lambda: nn.Conv2d(4, 4, 3, dilation=0), ValueError, "dilation must be >= 1"),
    (lambda: nn.Conv2d(4, 4, (3, 3, 3)), RuntimeError, "kernel_size must be an int or a pair"),
    (lambda: nn.Conv2d(4, 4, 3, padding="full"), ValueError, "padding must be 'same', 'valid'"),
    (lambda: nn.Conv2d(4, 4, 3, padding="same", stride=2), ValueError,
     "padding='same' is not supported for strided convolutions"),
    (lambda: nn.Conv2d(4, 4, 3, padding_mode="mirror"), ValueError,
     "padding_mode must be one of .* but got padding_mode='mirror'"),
    (lambda: nn.ConvTranspose2d(4, 4, 3, padding_mode="reflect"), ValueError,
     'Only "zeros" padding mode is supported for ConvTranspose2d'),
    (lambda: nn.ConvTranspose2d(4, 4, 3, padding="same"), TypeError, "padding must be an int"),
    (lambda: nn.Linear(0, 3), ValueError, "in_features must be a positive int, got 0"),
    (lambda: nn.Linear(3, 2.5), TypeError, "out_features must be an int, got 2.5"),
    (lambda: nn.BatchNorm2d(0), ValueError, "num_features must be a positive int"),
    (lambda: nn.LayerNorm(()), ValueError, "at least one dimension"),
    (lambda: nn.LayerNorm((3, 0)), ValueError, "normalized_shape must be a positive int"),
    (lambda: nn.GroupNorm(3, 4), ValueError, r"num_channels \(4\) must be divisible by "
                                             r"num_groups \(3\)"),
    (lambda: nn.GroupNorm(0, 4), ValueError, "num_groups must be a positive int"),
    (lambda: nn.MaxPool2d(0), ValueError, "kernel_size must be >= 1"),
    (lambda: nn.MaxPool2d(2, stride=0), ValueError, "stride must be >= 1"),
    (lambda: nn.MaxPool2d(2, padding=2), ValueError, "padding should be at most half"),
    (lambda: nn.MaxPool2d(2.0), TypeError, "kernel_size must be an int or a pair"),
    (lambda: nn.MaxPool2d((2, 2, 2)), RuntimeError, "kernel_size must be an int or a pair"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError, "divisor_override must be"),
    (lambda: nn.AdaptiveAvgPool2d((2, 2, 2)), RuntimeError,
     "output_size must be an int or a pair"),
    (lambda: nn.AdaptiveMaxPool2d(-1), ValueError, "output_size must be >= 0"),
    (lambda: nn.GELU("fast"), ValueError, "approximate must be 'none' or 'tanh'"),
    (lambda: nn.Hardtanh(1.0, 1.0), ValueError, r"max_val \(1.0\) must be greater than min_val"),
    (lambda: nn.Dropout(1.5), ValueError,
     "dropout probability has to be between 0 and 1, but got 1.5"),
    (lambda: nn.Dropout2d(-0.1), ValueError, "dropout probability has to be between 0 and 1"),
    (lambda: nn.MSELoss(reduction="avg"), ValueError, "avg is not a valid value for reduction"),
    (lambda: nn.NLLLoss(reduction="max"), ValueError, "max is not a valid value for reduction"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=1.5), ValueError,
     "label_smoothing must be between 0.0 and 1.0"),
    (lambda: nn.CrossEntropyLoss(weight=[1.0, 2.0]), TypeError, "as buffer 'weight'|buffer"),
])
def test_bad_constructor_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_forward_errors_from_functional_ops():
    with pytest.raises(TypeError, match="dtype"):
        nn.Conv2d(3, 4, 3)(mc.randn(1, 3, 5, 5).double())
    with pytest.raises(ValueError, match="reflect padding .* is invalid"):
        nn.Conv2d(3, 4, 3, padding=2, padding_mode="reflect")(mc.randn(1, 3, 2, 2))
    with pytest.raises(IndexError, match="dim"):
        nn.Softmax(dim=3)(mc.randn(2, 3))
    with pytest.raises(ValueError, match="target"):
        nn.CrossEntropyLoss()(mc.randn(4, 3), mc.tensor([0, 1, 2]))


def test_state_dict_round_trip_between_layers():
    a, b = small_cnn(nn), small_cnn(nn)
    a(mc.randn(2, 3, 8, 8))  # changes the running statistics
    b.load_state_dict(a.state_dict())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va.numpy(), vb.numpy())
    assert b[1].num_batches_tracked.item() == 1
    model = OrderedDict(a.named_modules())
    assert isinstance(model["1"], nn.BatchNorm2d)
