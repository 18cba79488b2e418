"""minicnn.nn.init against torch.nn.init: fans and gains equal to PyTorch's, distributions with
the right bounds and moments (statistical checks with generous tolerances on large tensors),
in-place semantics, reproducibility from minicnn.manual_seed, and errors."""
import math
import warnings

import numpy as np
import pytest

import minicnn as mc
from minicnn.nn import init

SHAPES = [(3, 4), (8, 4, 3, 3), (4, 2, 5), (6, 3, 2, 2, 2), (1, 1), (16, 1, 3, 3)]
NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                  "conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh", "relu",
                  "leaky_relu", "selu"]

def big(dtype=np.float32, shape=(400, 500)):
    return mc.zeros(*shape, dtype=dtype)


# ---------------------------------------------------------------- fans and gains

@pytest.mark.parametrize("shape", SHAPES)
def test_fans_equal_torch(torch, shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init._calculate_fan_in_and_fan_out(mc.empty(*shape)) == expected
    for mode in ("fan_in", "fan_out", "FAN_IN"):
        assert (init._calculate_correct_fan(mc.empty(*shape), mode)
                == torch.nn.init._calculate_correct_fan(torch.empty(shape), mode))


@pytest.mark.parametrize("name", NONLINEARITIES)
def test_gains_equal_torch(torch, name):
    assert init.calculate_gain(name) == torch.nn.init.calculate_gain(name)


@pytest.mark.parametrize("param", [None, 0, 0.2, 1, math.sqrt(5), -0.5])
def test_leaky_relu_gain_equals_torch(torch, param):
    assert init.calculate_gain("leaky_relu", param) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", param), rel=1e-15)


def test_gain_and_fan_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity softplus"):
        init.calculate_gain("softplus")
    for bad in ("0.2", True, [0.1]):
        with pytest.raises(ValueError, match="negative_slope .* not a valid number"):
            init.calculate_gain("leaky_relu", bad)
    for shape in [(5,), ()]:
        with pytest.raises(ValueError, match="fewer than 2 dimensions"):
            init._calculate_fan_in_and_fan_out(mc.empty(*shape))
        with pytest.raises(ValueError, match="fewer than 2 dimensions"):
            init.xavier_uniform_(mc.empty(*shape))
        with pytest.raises(ValueError, match="fewer than 2 dimensions"):
            init.kaiming_normal_(mc.empty(*shape))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(mc.empty(3, 4), mode="fan_avg")
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.kaiming_uniform_(mc.empty(3, 4), nonlinearity="swish")


def test_type_errors():
    with pytest.raises(TypeError, match="expected a minicnn.Tensor, got ndarray"):
        init.uniform_(np.zeros(3))
    with pytest.raises(TypeError, match="float32 or float64 tensor, got dtype int64"):
        init.normal_(mc.zeros(3, dtype=mc.int64))
    with pytest.raises(TypeError, match="int64"):
        init.kaiming_uniform_(mc.zeros(3, 3, dtype=mc.int64))
    with pytest.raises(ValueError, match="a <= b"):
        init.uniform_(mc.zeros(3), 1.0, 0.0)
    with pytest.raises(ValueError, match="std >= 0"):
        init.normal_(mc.zeros(3), 0.0, -1.0)
    with pytest.raises(ValueError, match="std > 0"):
        init.trunc_normal_(mc.zeros(3), std=0.0)
    with pytest.raises(ValueError, match="a <= b"):
        init.trunc_normal_(mc.zeros(3), a=1.0, b=-1.0)
    with pytest.raises(ValueError, match="unbounded"), pytest.warns(UserWarning, match="2 std"):
        init.trunc_normal_(mc.zeros(3), a=3.0, b=math.inf)
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions"):
        init.eye_(mc.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="3, 4, or 5 dimensions"):
        init.dirac_(mc.zeros(2, 2))
    with pytest.raises(ValueError, match="divisible by groups"):
        init.dirac_(mc.zeros(3, 2, 3, 3), groups=2)


# ---------------------------------------------------------------- in-place semantics

@pytest.mark.parametrize("fn", [lambda t: init.uniform_(t, -1, 1), init.normal_,
                                init.trunc_normal_, init.xavier_uniform_, init.xavier_normal_,
                                init.kaiming_uniform_, init.kaiming_normal_, init.ones_,
                                init.zeros_, lambda t: init.constant_(t, 0.5), init.eye_])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_returns_tensor_keeps_dtype_and_records_no_grad(fn, dtype):
    p = mc.nn.Parameter(mc.zeros(6, 5, dtype=dtype) + 7)
    array = p._data
    out = fn(p)
    assert out is p and p._data is array
    assert p.dtype == dtype and p.shape == (6, 5)
    assert p.is_leaf and p.requires_grad and p.grad is None
    assert not np.any(array == 7)


def test_constants_eye_dirac_equal_torch(torch):
    t = mc.zeros(3, 5)
    np.testing.assert_array_equal(init.eye_(t).numpy(), torch.nn.init.eye_(torch.empty(3, 5)))
    np.testing.assert_array_equal(init.constant_(mc.zeros(2, 3), 2.5).numpy(), np.full((2, 3), 2.5))
    np.testing.assert_array_equal(init.ones_(mc.zeros(4)).numpy(), np.ones(4))
    np.testing.assert_array_equal(init.zeros_(mc.ones(4)).numpy(), np.zeros(4))
    ints = mc.zeros(3, dtype=mc.int64)
    assert init.constant_(ints, 4).tolist() == [4, 4, 4] and ints.dtype == mc.int64
    for shape, groups in [((4, 3, 3, 3), 1), ((6, 2, 3, 5), 2), ((5, 3, 4), 1),
                          ((4, 4, 3, 3, 3), 2)]:
        ours = init.dirac_(mc.empty(*shape), groups).numpy()
        theirs = torch.nn.init.dirac_(torch.empty(shape), groups).numpy()
        np.testing.assert_array_equal(ours, theirs)


def test_dirac_weight_makes_conv_the_identity():
    w = init.dirac_(mc.empty(3, 3, 3, 3))
    x = mc.randn(2, 3, 5, 5)
    y = mc.nn.functional.conv2d(x, w, padding=1)
    np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- distributions

def assert_uniform(values, lo, hi):
    """Within [lo, hi], reaching near both ends, with the mean and std of U(lo, hi)."""
    lo_d, hi_d = values.dtype.type(lo), values.dtype.type(hi)  # the bounds the dtype holds
    values = values.astype(np.float64).ravel()
    n, width = values.size, hi - lo
    assert values.min() >= lo_d and values.max() <= hi_d
    assert values.min() < lo + 0.001 * width and values.max() > hi - 0.001 * width
    # 5 standard errors: the sample mean's is width / sqrt(12 n), the sample std's (relative)
    # sqrt(0.8 / n) / 2 for a uniform distribution (excess kurtosis -1.2)
    assert values.mean() == pytest.approx((lo + hi) / 2, abs=5 * width / math.sqrt(12 * n))
    assert values.std() == pytest.approx(width / math.sqrt(12), rel=2.5 * math.sqrt(0.8 / n))


def assert_normal(values, mean, std):
    values = values.astype(np.float64).ravel()
    n = values.size  # tolerances: 5 standard errors
    assert values.mean() == pytest.approx(mean, abs=5 * std / math.sqrt(n))
    assert values.std() == pytest.approx(std, rel=5 / math.sqrt(2 * n))
    # the fraction within one std is Phi(1) - Phi(-1) = 0.6827 for a normal distribution
    assert np.mean(np.abs(values - mean) < std) == pytest.approx(0.6827,
                                                                 abs=5 * 0.466 / math.sqrt(n))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_and_normal(dtype):
    assert_uniform(init.uniform_(big(dtype), -0.5, 2.0).numpy(), -0.5, 2.0)
    assert_uniform(init.uniform_(big(dtype)).numpy(), 0.0, 1.0)
    assert_normal(init.normal_(big(dtype), 3.0, 0.5).numpy(), 3.0, 0.5)
    assert_normal(init.normal_(big(dtype)).numpy(), 0.0, 1.0)


@pytest.mark.parametrize("shape", [(400, 500), (64, 32, 3, 3)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_xavier(shape, gain):
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(mc.empty(*shape))
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    assert_uniform(init.xavier_uniform_(big(shape=shape), gain).numpy(),
                   -math.sqrt(3) * std, math.sqrt(3) * std)
    assert_normal(init.xavier_normal_(big(shape=shape), gain).numpy(), 0.0, std)


@pytest.mark.parametrize("a, mode, nonlinearity", [
    (0, "fan_in", "leaky_relu"), (math.sqrt(5), "fan_in", "leaky_relu"),
    (0, "fan_out", "relu"), (0.2, "fan_out", "leaky_relu"), (0, "fan_in", "tanh"),
    (0, "fan_in", "linear")])
def test_kaiming(torch, a, mode, nonlinearity):
    shape = (128, 64, 3, 3)
    fan = torch.nn.init._calculate_correct_fan(torch.empty(shape), mode)
    std = torch.nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    assert_uniform(init.kaiming_uniform_(big(shape=shape), a, mode, nonlinearity).numpy(),
                   -math.sqrt(3) * std, math.sqrt(3) * std)
    assert_normal(init.kaiming_normal_(big(shape=shape), a, mode, nonlinearity).numpy(), 0, std)


def test_kaiming_uniform_sqrt5_is_pytorch_layer_default():
    w = init.kaiming_uniform_(big(shape=(300, 200, 2, 2)), a=math.sqrt(5)).numpy()
    bound = 1 / math.sqrt(200 * 4)
    assert_uniform(w, -bound, bound)


def test_kaiming_zero_element_tensor_warns_and_does_nothing():
    t = mc.zeros(0, 3)
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        assert init.kaiming_uniform_(t) is t
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        assert init.kaiming_normal_(t) is t


def truncated_moments(mean, std, a, b):
    """Mean and std of N(mean, std**2) conditioned on [a, b] (the standard formulas)."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))  # noqa: E731
    Z = cdf(beta) - cdf(alpha)
    m = mean + std * (pdf(alpha) - pdf(beta)) / Z
    var = std ** 2 * (1 + (alpha * pdf(alpha) - beta * pdf(beta)) / Z
                      - ((pdf(alpha) - pdf(beta)) / Z) ** 2)
    return m, math.sqrt(var), cdf, alpha, beta, Z


# mass in [a, b] above 0.3 (normal proposal) and below it (uniform proposal)
@pytest.mark.parametrize("mean, std, a, b", [(0.0, 1.0, -2.0, 2.0), (0.5, 0.02, 0.48, 0.56),
                                             (0.0, 1.0, 1.0, 3.0), (1.0, 2.0, -3.0, -1.0),
                                             (0.0, 1.0, -0.1, 0.1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trunc_normal(mean, std, a, b, dtype):
    v = init.trunc_normal_(big(dtype), mean, std, a, b).numpy().astype(np.float64).ravel()
    m, s, cdf, alpha, beta, Z = truncated_moments(mean, std, a, b)
    assert v.min() >= dtype(a) and v.max() <= dtype(b)  # the bounds as the dtype holds them
    assert v.mean() == pytest.approx(m, abs=5 * s / math.sqrt(v.size))
    assert v.std() == pytest.approx(s, rel=5 / math.sqrt(v.size))
    # the sample quartiles sit at the quartiles of the truncated distribution
    probs = [(cdf((q - mean) / std) - cdf(alpha)) / Z for q in np.quantile(v, [0.25, 0.5, 0.75])]
    np.testing.assert_allclose(probs, [0.25, 0.5, 0.75], atol=0.01)


def test_trunc_normal_warns_when_mean_far_from_interval():
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        init.trunc_normal_(mc.zeros(100), mean=5.0, std=1.0, a=-1.0, b=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        init.trunc_normal_(mc.zeros(100), mean=0.0, std=0.02)


# ---------------------------------------------------------------- reproducibility

@pytest.mark.parametrize("fn", [init.uniform_, init.normal_, init.trunc_normal_,
                                init.xavier_uniform_, init.kaiming_normal_])
def test_manual_seed_reproduces_and_generator_argument(fn):
    mc.manual_seed(7)
    first = fn(mc.zeros(20, 30)).numpy().copy()
    second = fn(mc.zeros(20, 30)).numpy().copy()
    mc.manual_seed(7)
    np.testing.assert_array_equal(fn(mc.zeros(20, 30)).numpy(), first)
    assert not np.array_equal(first, second)
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(fn(mc.zeros(20, 30), generator=g1).numpy(),
                                  fn(mc.zeros(20, 30), generator=g2).numpy())
