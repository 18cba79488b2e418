"""Bad inputs that used to pass silently (issue 18, "Reliability", item 1): arrays in non-native
byte order, sizes that are not ints, sizes beyond int64, and non-Tensors given to ops. Each
gives the right numbers or a clear error naming the argument, as PyTorch does."""
import inspect
import operator
import re

import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.backends import get_num_threads
from minicnn.geometry import GeometryError
from minicnn.nn import functional as F

BIG = ">f4" if np.little_endian else "<f4"  # a float32 array in the other byte order
BIG8 = ">i8" if np.little_endian else "<i8"


def swapped(array):
    """The same values, stored in the non-native byte order."""
    return np.asarray(array).astype(np.asarray(array).dtype.newbyteorder("S"))


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- byte order

@pytest.mark.parametrize("make", [minicnn.tensor, minicnn.Tensor, minicnn.as_tensor],
                         ids=["tensor", "Tensor", "as_tensor"])
def test_non_native_arrays_become_native(make):
    values = randn(2, 3)
    t = make(swapped(values))
    assert t.dtype == minicnn.float32 and t.dtype.isnative
    np.testing.assert_array_equal(t.numpy(), values)


def test_non_native_int_array_and_explicit_dtype():
    t = minicnn.tensor(swapped(np.arange(4)))
    assert t.dtype == minicnn.int64 and t.tolist() == [0, 1, 2, 3]
    t = minicnn.tensor([1.0, 2.0], dtype=BIG)  # '>f4' names float32 too
    assert t.dtype == minicnn.float32 and t.tolist() == [1.0, 2.0]
    assert minicnn.zeros(2, dtype=BIG).dtype == minicnn.float32


def test_as_tensor_shares_only_native_arrays():
    native = randn(3)
    assert np.shares_memory(minicnn.as_tensor(native).numpy(), native)
    assert not np.shares_memory(minicnn.as_tensor(swapped(native)).numpy(), native)


def test_from_numpy_refuses_non_native_as_torch(torch):
    # it shares memory, so it cannot convert; PyTorch raises the same ValueError
    a = swapped(randn(3))
    with pytest.raises(ValueError) as theirs:
        torch.from_numpy(a)
    with pytest.raises(ValueError) as ours:
        minicnn.from_numpy(a)
    assert str(ours.value) == str(theirs.value)


def test_data_setter_and_operands_take_non_native_arrays():
    values = randn(2, 3)
    t = minicnn.zeros(2, 3)
    t.data = swapped(values)
    np.testing.assert_array_equal(t.numpy(), values)
    np.testing.assert_array_equal((minicnn.ones(2, 3) + swapped(values)).numpy(), 1 + values)


def test_conv2d_on_non_native_input_matches_native():
    x, w, b = randn(2, 3, 6, 6, seed=1), randn(4, 3, 3, 3, seed=2), randn(4, seed=3)
    want = F.conv2d(minicnn.tensor(x), minicnn.tensor(w), minicnn.tensor(b), padding=1)
    got = F.conv2d(minicnn.tensor(swapped(x)), minicnn.Tensor(swapped(w)),
                   minicnn.as_tensor(swapped(b)), padding=1)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    y = F.linear(minicnn.tensor(swapped(x[:, :, 0, :3])), minicnn.tensor(swapped(w[:, :, 0, 0])))
    np.testing.assert_allclose(y.numpy(), x[:, :, 0, :3] @ w[:, :, 0, 0].T, rtol=1e-5)


@pytest.fixture
def cpu():
    return pytest.importorskip("minicnn.backends._cpu")


@pytest.mark.parametrize("call, name", [
    (lambda k, a: k.relu(a), "x"),
    (lambda k, a: k.conv2d(a, randn(2, 3, 3, 3), None, 1, 1, 0, 0, 1, 1, 1), "x"),
    (lambda k, a: k.conv2d(randn(2, 3, 5, 5), a[:2], None, 1, 1, 0, 0, 1, 1, 1), "weight"),
    (lambda k, a: k.linear(a[0, 0], randn(4, 5)), "x"),
    (lambda k, a: k.cross_entropy(randn(2, 3), swapped(np.zeros(2, np.int64))), "target"),
    (lambda k, a: k.max_pool2d_backward(randn(2, 3, 2, 2), swapped(np.zeros((2, 3, 2, 2),
                                                                           np.int64)), 5, 5),
     "indices"),
])
def test_c_wrappers_refuse_non_native_arrays(cpu, call, name):
    a = swapped(randn(2, 3, 5, 5))
    with pytest.raises(TypeError, match=f"{name} has dtype .*not in the machine's byte order"):
        call(cpu, a)


# ---------------------------------------------------------------- sizes that are not ints

NOT_INTS = [1.5, 2.0, "4", True]


@pytest.mark.parametrize("bad", NOT_INTS)
@pytest.mark.parametrize("make", [
    lambda v: minicnn.zeros(v), lambda v: minicnn.zeros(2, v), lambda v: minicnn.ones((v,)),
    lambda v: minicnn.empty([2, v]), lambda v: minicnn.rand(v), lambda v: minicnn.randn(v),
    lambda v: minicnn.full((v,), 1.0), lambda v: minicnn.randint(3, size=(v,)),
    lambda v: minicnn.eye(v), lambda v: minicnn.normal(0.0, 1.0, (v,)),
], ids=["zeros", "zeros2", "ones", "empty", "rand", "randn", "full", "randint", "eye", "normal"])
def test_factories_refuse_non_int_sizes(make, bad):
    with pytest.raises(TypeError, match=r"argument 'size' \(position 1\) must be tuple of ints, "
                                        f"but found element of type {type(bad).__name__}"):
        make(bad)


@pytest.mark.parametrize("bad", NOT_INTS)
@pytest.mark.parametrize("method, name", [("view", "shape"), ("reshape", "shape"),
                                          ("expand", "size"), ("repeat", "repeats")])
def test_shape_methods_refuse_non_int_sizes(method, name, bad):
    with pytest.raises(TypeError, match=f"'{name}'.* must be .*tuple of ints"):
        getattr(minicnn.zeros(1, 2), method)(bad, 2)


@pytest.mark.parametrize("arg", ["stride", "padding", "dilation", "groups"])
@pytest.mark.parametrize("bad", [1.5, 2.0, True, "4"])
def test_conv2d_refuses_non_int_window_arguments(torch, arg, bad):
    x, w = minicnn.randn(1, 2, 5, 5), minicnn.randn(2, 2, 3, 3)
    if (arg, bad) == ("padding", "4"):  # a padding string: 'same' or 'valid' only
        with pytest.raises(RuntimeError, match="padding must be 'same', 'valid'"):
            F.conv2d(x, w, padding=bad)
        return
    with pytest.raises(TypeError):
        torch.nn.functional.conv2d(torch.zeros(1, 2, 5, 5), torch.zeros(2, 2, 3, 3),
                                   **{arg: bad})
    with pytest.raises(TypeError, match=f"conv2d: {arg} must be an int"):
        F.conv2d(x, w, **{arg: bad})


@pytest.mark.parametrize("make, name", [
    (lambda v: nn.Conv2d(v, 2, 3), "in_channels"), (lambda v: nn.Conv2d(2, v, 3), "out_channels"),
    (lambda v: nn.Conv2d(2, 2, v), "kernel_size"), (lambda v: nn.Conv2d(2, 2, 3, groups=v),
                                                   "groups"),
    (lambda v: nn.ConvTranspose2d(2, 2, 3, output_padding=v), "output_padding"),
    (lambda v: nn.Linear(v, 2), "in_features"), (lambda v: nn.Linear(2, v), "out_features"),
    (lambda v: nn.BatchNorm2d(v), "num_features"), (lambda v: nn.GroupNorm(v, 4), "num_groups"),
    (lambda v: nn.MaxPool2d(v), "kernel_size"), (lambda v: nn.AvgPool2d(2, stride=v), "stride"),
    (lambda v: nn.AdaptiveAvgPool2d(v), "output_size"),
])
@pytest.mark.parametrize("bad", [1.5, "4"])
def test_layers_refuse_non_int_sizes(make, name, bad):
    with pytest.raises(TypeError, match=f"{name} must be an int"):
        make(bad)


def test_numpy_integers_are_still_sizes():
    n = np.int64(2)
    assert minicnn.zeros(n, np.int32(3)).shape == (2, 3)
    assert minicnn.ones(2, 3).view(n, -1).shape == (2, 3)
    assert minicnn.zeros(1).expand(n).shape == (2,)
    assert nn.Conv2d(n, n, n, stride=n, groups=n).weight.shape == (2, 1, 2, 2)
    assert nn.Linear(n, n).weight.shape == (2, 2)
    assert F.max_pool2d(minicnn.zeros(1, 1, 4, 4), n).shape == (1, 1, 2, 2)
    assert minicnn.zeros(minicnn.tensor(3)).shape == (3,)  # a 0-d integer tensor, as torch


@pytest.mark.parametrize("bad", [1.5, "4", True, None])
def test_set_num_threads_refuses_non_ints(bad):
    before = get_num_threads()
    with pytest.raises(TypeError, match=f"set_num_threads expects an int, but got "
                                        f"{type(bad).__name__}"):
        minicnn.set_num_threads(bad)
    assert get_num_threads() == before


def test_set_num_threads_limits():
    before = get_num_threads()
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        minicnn.set_num_threads(0)
    with pytest.raises(ValueError, match=f"at most 2147483647, got {2**40}"):
        minicnn.set_num_threads(2**40)
    minicnn.set_num_threads(np.int64(before))
    assert get_num_threads() == before


# ---------------------------------------------------------------- sizes beyond int64

@pytest.mark.parametrize("sizes", [(2**40, 2**40), (2**62, 4), (2**63,), (2**61, 2)])
def test_factories_report_overflowing_sizes_with_the_real_numbers(torch, sizes):
    with pytest.raises((RuntimeError, TypeError)):
        torch.zeros(*sizes)
    shown = re.escape(str(list(sizes)))
    with pytest.raises(RuntimeError, match=f"storage size calculation overflowed with sizes="
                                           f"{shown}"):
        minicnn.zeros(*sizes)


def test_factories_refuse_negative_sizes_as_torch(torch):
    with pytest.raises(RuntimeError, match=r"negative dimension -2: \[3, -2\]"):
        torch.ones(3, -2)
    with pytest.raises(RuntimeError, match=r"negative dimension -2: \[3, -2\]"):
        minicnn.ones(3, -2)


@pytest.mark.parametrize("kwargs, shown", [
    ({"padding": 2**62}, str(2**63 + 5)), ({"padding": 2**70}, str(2**70)),
    ({"stride": 2**63}, str(2**63)), ({"dilation": 2**62}, str(2**63 + 1)),
])
def test_conv2d_window_beyond_int64_names_the_numbers(kwargs, shown):
    x, w = minicnn.randn(1, 1, 5, 5), minicnn.randn(1, 1, 3, 3)
    with pytest.raises(GeometryError, match=f"conv2d: .*{shown}.*int64"):
        F.conv2d(x, w, **kwargs)


def test_pooling_window_beyond_int64_names_the_numbers():
    with pytest.raises(GeometryError, match=f"max_pool2d: kernel_size {2**64}.*int64"):
        F.max_pool2d(minicnn.randn(1, 1, 5, 5), 2**64)


# ---------------------------------------------------------------- non-Tensor arguments

def _x():
    return minicnn.randn(2, 3, 4, 4)


# every public function of minicnn.nn.functional: (a valid call's arguments, the arguments that
# must be Tensors). A function added without an entry fails test_every_functional_op_is_listed.
FUNCTIONAL = {
    "adaptive_avg_pool2d": (lambda: dict(input=_x(), output_size=2), ["input"]),
    "adaptive_max_pool2d": (lambda: dict(input=_x(), output_size=2), ["input"]),
    "adaptive_max_pool2d_with_indices": (lambda: dict(input=_x(), output_size=2), ["input"]),
    "avg_pool2d": (lambda: dict(input=_x(), kernel_size=2), ["input"]),
    "batch_norm": (lambda: dict(input=_x(), running_mean=minicnn.zeros(3),
                                running_var=minicnn.ones(3), weight=minicnn.ones(3),
                                bias=minicnn.zeros(3)),
                   ["input", "running_mean", "running_var", "weight", "bias"]),
    "conv2d": (lambda: dict(input=_x(), weight=minicnn.randn(2, 3, 3, 3),
                            bias=minicnn.zeros(2)), ["input", "weight", "bias"]),
    "conv_transpose2d": (lambda: dict(input=_x(), weight=minicnn.randn(3, 2, 3, 3),
                                      bias=minicnn.zeros(2)), ["input", "weight", "bias"]),
    "cross_entropy": (lambda: dict(input=minicnn.randn(2, 3), target=minicnn.tensor([0, 2]),
                                   weight=minicnn.ones(3)), ["input", "target", "weight"]),
    "dropout": (lambda: dict(input=_x()), ["input"]),
    "dropout2d": (lambda: dict(input=_x()), ["input"]),
    "gelu": (lambda: dict(input=_x()), ["input"]),
    "group_norm": (lambda: dict(input=_x(), num_groups=3, weight=minicnn.ones(3),
                                bias=minicnn.zeros(3)), ["input", "weight", "bias"]),
    "hardsigmoid": (lambda: dict(input=_x()), ["input"]),
    "hardswish": (lambda: dict(input=_x()), ["input"]),
    "hardtanh": (lambda: dict(input=_x()), ["input"]),
    "instance_norm": (lambda: dict(input=_x(), running_mean=minicnn.zeros(3),
                                   running_var=minicnn.ones(3), weight=minicnn.ones(3),
                                   bias=minicnn.zeros(3)),
                      ["input", "running_mean", "running_var", "weight", "bias"]),
    "layer_norm": (lambda: dict(input=_x(), normalized_shape=(4,), weight=minicnn.ones(4),
                                bias=minicnn.zeros(4)), ["input", "weight", "bias"]),
    "leaky_relu": (lambda: dict(input=_x()), ["input"]),
    "linear": (lambda: dict(input=minicnn.randn(2, 3), weight=minicnn.randn(4, 3),
                            bias=minicnn.zeros(4)), ["input", "weight", "bias"]),
    "log_softmax": (lambda: dict(input=_x(), dim=1), ["input"]),
    "lp_pool2d": (lambda: dict(input=_x(), norm_type=2.0, kernel_size=2), ["input"]),
    "max_pool2d": (lambda: dict(input=_x(), kernel_size=2), ["input"]),
    "max_pool2d_with_indices": (lambda: dict(input=_x(), kernel_size=2), ["input"]),
    "mse_loss": (lambda: dict(input=_x(), target=_x()), ["input", "target"]),
    "nll_loss": (lambda: dict(input=minicnn.randn(2, 3), target=minicnn.tensor([0, 2]),
                              weight=minicnn.ones(3)), ["input", "target", "weight"]),
    "one_hot": (lambda: dict(tensor=minicnn.tensor([0, 2])), ["tensor"]),
    "pad": (lambda: dict(input=_x(), pad=(1, 1)), ["input"]),
    "relu": (lambda: dict(input=_x()), ["input"]),
    "relu6": (lambda: dict(input=_x()), ["input"]),
    "sigmoid": (lambda: dict(input=_x()), ["input"]),
    "silu": (lambda: dict(input=_x()), ["input"]),
    "softmax": (lambda: dict(input=_x(), dim=1), ["input"]),
    "tanh": (lambda: dict(input=_x()), ["input"]),
}


def _public_functions(module):
    return sorted(n for n, f in vars(module).items()
                  if not n.startswith("_") and inspect.isfunction(f))


def test_every_functional_op_is_listed():
    assert _public_functions(F) == sorted(FUNCTIONAL)


def _by_position(fn, kwargs):
    """The call's arguments as positional ones, in the signature's order."""
    names = list(inspect.signature(fn).parameters)
    return [kwargs[n] for n in names[:max(names.index(k) for k in kwargs) + 1]]


@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
@pytest.mark.parametrize("how", ["keyword", "positional"])
def test_functional_ops_refuse_non_tensors(name, how):
    make, tensor_args = FUNCTIONAL[name]
    fn = getattr(F, name)
    fn(**make())  # the valid call works
    for arg in tensor_args:
        for bad in (make()[arg].tolist(), make()[arg].numpy()):
            kwargs = make()
            kwargs[arg] = bad
            call = ((lambda: fn(**kwargs)) if how == "keyword"
                    else (lambda: fn(*_by_position(fn, kwargs))))
            shown = "input" if name == "one_hot" else arg  # torch's name for it
            with pytest.raises(TypeError, match=f"'?{shown}'?.* must be .*Tensor"):
                call()


@pytest.mark.parametrize("call, message", [
    (lambda x: minicnn.relu([1.0]), r"relu\(\): argument 'input' \(position 1\) must be Tensor, "
                                    "not list"),
    (lambda x: minicnn.softmax(np.ones(3), 0), r"softmax\(\): argument 'input'"),
    (lambda x: minicnn.matmul(x, [1.0, 2.0]), r"matmul\(\): argument 'other' \(position 2\)"),
    (lambda x: minicnn.matmul([1.0, 2.0], x), r"matmul\(\): argument 'input' \(position 1\)"),
    (lambda x: x.matmul(np.ones(2, np.float32)), r"matmul\(\): argument 'other'"),
    (lambda x: minicnn.sum([1.0]), r"sum\(\): argument 'input'"),
])
def test_ops_refuse_non_tensors(call, message):
    with pytest.raises(TypeError, match=message):
        call(minicnn.ones(2, 2))


def test_operators_and_scalars_still_work():
    x = minicnn.ones(2)
    assert (minicnn.add(x, 2) + 1).tolist() == [4.0, 4.0]
    assert (x + np.ones(2, np.float32)).tolist() == [2.0, 2.0]  # as torch's x + ndarray
    assert (x @ np.ones(2, np.float32)).item() == 2.0  # as torch; x.matmul(ndarray) raises


# ---------------------------------------------------------------- arithmetic operands

LIST, TUPLE, ARRAY = [1.0, 2.0], (1.0, 2.0), np.ones(2)

# (call, words): the same outcome as PyTorch 2.13 (exception type and message, or result) when
# words is None; else both raise TypeError and both messages contain the words (PyTorch's is
# then its long "received an invalid combination of arguments" list of overloads)
ARITHMETIC = {
    # functions: "add(): argument 'other' (position 2) must be Tensor, not list"
    **{f"{fn}-{side}-{kind}": ((lambda L, x, fn=fn, side=side, v=v:
                                getattr(L, fn)(*((x, v) if side == "other" else (v, x)))), None)
       for fn in ("add", "sub", "mul", "div") for side in ("input", "other")
       for kind, v in (("list", LIST), ("ndarray", ARRAY), ("tuple", TUPLE), ("None", None),
                       ("str", "ab"), ("0d-ndarray", np.array(2.0)))},
    "add-keyword": (lambda L, x: L.add(x, other=LIST), None),
    "mul-keyword-input": (lambda L, x: L.mul(input=ARRAY, other=x), None),
    "add-alpha-list": (lambda L, x: L.add(x, LIST, alpha=2), None),
    "sub-alpha-ndarray": (lambda L, x: L.sub(x, ARRAY, alpha=2), None),
    "pow-list": (lambda L, x: L.pow(x, LIST), ("pow(", "list")),
    "pow-ndarray-input": (lambda L, x: L.pow(ARRAY, x), ("pow(", "numpy.ndarray")),
    "pow-numbers": (lambda L, x: L.pow(2, 3), ("pow(", "int")),
    "rsub-list": (lambda L, x: L.rsub(x, LIST), ("rsub(", "list")),
    "eq-list": (lambda L, x: L.eq(x, LIST), ("eq(", "list")),
    "lt-ndarray": (lambda L, x: L.lt(x, ARRAY), ("lt(", "numpy.ndarray")),
    "ge-list-input": (lambda L, x: L.ge(LIST, x), ("ge(", "list")),
    "maximum-list": (lambda L, x: L.maximum(x, LIST), None),
    "minimum-ndarray-input": (lambda L, x: L.minimum(ARRAY, x), None),
    "maximum-number": (lambda L, x: L.maximum(x, 2), None),
    # methods count from the argument after self: "add(): argument 'other' (position 1) ..."
    **{f"method-{m}-{kind}": ((lambda L, x, m=m, v=v: getattr(x, m)(v)), None)
       for m in ("add", "sub", "mul", "div", "add_", "sub_", "mul_", "div_", "maximum",
                 "minimum")
       for kind, v in (("list", LIST), ("ndarray", ARRAY))},
    "method-add-keyword": (lambda L, x: x.add(other=LIST), None),
    "method-add_-keyword": (lambda L, x: x.add_(other=ARRAY), None),
    "method-pow": (lambda L, x: x.pow(LIST), ("pow(", "list")),
    "method-pow_": (lambda L, x: x.pow_(ARRAY), ("pow_(", "numpy.ndarray")),
    "method-multiply": (lambda L, x: x.multiply(LIST), ("(", "list")),
    "method-true_divide": (lambda L, x: x.true_divide(ARRAY), ("(", "numpy.ndarray")),
    "method-subtract": (lambda L, x: x.subtract(LIST), ("(", "list")),
    "method-eq": (lambda L, x: x.eq(LIST), ("eq(", "list")),
    "method-lt": (lambda L, x: x.lt(ARRAY), ("lt(", "numpy.ndarray")),
    "method-greater": (lambda L, x: x.greater(LIST), ("(", "list")),
    # operators answer NotImplemented: Python's own "unsupported operand type(s)" follows
    **{f"operator-{op.__name__}-{kind}": ((lambda L, x, op=op, v=v: op(x, v)), None)
       for op in (operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
                  operator.matmul, operator.iadd, operator.isub, operator.imul,
                  operator.itruediv, operator.lt, operator.le, operator.gt, operator.ge)
       for kind, v in (("list", LIST), ("None", None), ("str", "ab"), ("tuple", TUPLE))},
    **{f"reflected-{op.__name__}-{kind}": ((lambda L, x, op=op, v=v: op(v, x)), None)
       for op in (operator.add, operator.sub, operator.truediv, operator.pow, operator.matmul,
                  operator.lt)
       for kind, v in (("list", LIST), ("None", None))},
    **{f"dunder-{name}": ((lambda L, x, name=name: getattr(x, name)(LIST)), None)
       for name in ("__add__", "__radd__", "__rsub__", "__rmul__", "__rtruediv__", "__rpow__",
                    "__iadd__", "__imul__", "__eq__", "__lt__", "__matmul__", "__rmatmul__")},
    "operator-matmul-int": (lambda L, x: x @ 2, None),
    "operator-eq-list": (lambda L, x: x == LIST, None),  # False: no elementwise comparison
    "operator-ne-None": (lambda L, x: x != None, None),  # noqa: E711
    # accepted: numbers (Python and NumPy, bool), 0-d tensors, tensors, float32 ndarrays on the
    # right of an operator
    "add-int": (lambda L, x: L.add(x, 2), None),
    "add-int-input": (lambda L, x: L.add(2, x), None),
    "add-bool": (lambda L, x: L.add(x, True), None),
    "add-alpha-number": (lambda L, x: L.add(x, 2, alpha=2), None),
    "add-numpy-float": (lambda L, x: L.add(np.float64(2.5), x), None),
    "add-0d-tensor": (lambda L, x: L.add(x, L.tensor(3.0)), None),
    "add-numbers": (lambda L, x: L.add(2, 3), None),
    "add-float-numbers": (lambda L, x: L.add(2.5, 3), None),
    "sub-number-input": (lambda L, x: L.sub(2, x), None),
    "mul-numbers": (lambda L, x: L.mul(2, 3), None),
    "div-number": (lambda L, x: L.div(x, 2.5), None),
    "div-number-input": (lambda L, x: L.div(2.5, x), None),
    "pow-number": (lambda L, x: L.pow(x, 2), None),
    "pow-number-input": (lambda L, x: L.pow(2, x), None),
    "eq-number": (lambda L, x: L.eq(x, 1), None),
    "maximum-tensor": (lambda L, x: L.maximum(x, L.ones(2)), None),
    "method-add-number": (lambda L, x: x.add(2, alpha=3), None),
    "method-pow-keyword": (lambda L, x: x.pow(exponent=2), None),
    "method-mul_-number": (lambda L, x: x.mul_(2), None),
    "method-lt-number": (lambda L, x: x.lt(1.5), None),
    "operator-add-int": (lambda L, x: x + 2, None),
    "operator-rsub-int": (lambda L, x: 2 - x, None),
    "operator-truediv-float": (lambda L, x: x / 2.5, None),
    "operator-rtruediv-float": (lambda L, x: 2.5 / x, None),
    "operator-rpow-int": (lambda L, x: 2 ** x, None),
    "operator-radd-numpy-float": (lambda L, x: np.float64(2.0) + x, None),
    "operator-mul-numpy-int": (lambda L, x: x * np.int64(3), None),
    "operator-iadd-bool": (lambda L, x: operator.iadd(x, True), None),
    "operator-imul-0d-tensor": (lambda L, x: operator.imul(x, L.tensor(2.0)), None),
    "operator-lt-number": (lambda L, x: x < 1.5, None),
    "operator-eq-ndarray": (lambda L, x: x == np.ones(2, np.float32), None),
    "operator-mul-ndarray": (lambda L, x: x * np.ones(2, np.float32), None),
    "operator-matmul-ndarray": (lambda L, x: x @ np.ones(2, np.float32), None),
}


def _outcome(lib, call):
    """What ``call`` gives on x = [1., 2.] of ``lib``: ("raised", type, message) or
    ("gave", dtype, values) for a tensor (or ("gave", value) for anything else)."""
    x = lib.tensor([1.0, 2.0])
    try:
        result = call(lib, x)
    except Exception as e:  # noqa: BLE001 - the outcome compared with PyTorch's
        return "raised", type(e), str(e)
    if isinstance(result, (lib.Tensor, minicnn.Tensor)):
        return "gave", str(result.dtype).removeprefix("torch."), result.tolist()
    return "gave", result


@pytest.mark.filterwarnings("ignore:__array_wrap__ must accept:DeprecationWarning")  # torch's
@pytest.mark.parametrize("case", sorted(ARITHMETIC))
def test_arithmetic_operands_as_torch(torch, case):
    call, words = ARITHMETIC[case]
    ours, theirs = _outcome(minicnn, call), _outcome(torch, call)
    if words is None:
        assert ours == theirs
        return
    assert ours[:2] == theirs[:2] == ("raised", TypeError), (ours, theirs)
    for word in words:
        assert word in ours[2] and word in theirs[2], (word, ours, theirs)


def test_operators_take_float32_ndarrays_on_either_side():
    # minicnn's own choice where PyTorch's result depends on NumPy's operator dispatch (torch:
    # ndarray * x raises, x * float64-ndarray is a float64 tensor without a graph): an ndarray is
    # a constant operand on either side, keeping its dtype; the functions and methods refuse it
    x, a = minicnn.tensor([1.0, 2.0], requires_grad=True), np.ones(2, np.float32)
    for y in (x * a, a * x, a - x, a / x, a ** x, a @ x, x @ a):
        assert isinstance(y, minicnn.Tensor) and y.requires_grad
    assert (a < x).tolist() == [False, True] and (x >= a).tolist() == [True, True]
    with pytest.raises(TypeError, match="expected tensors of one dtype"):
        x * np.ones(2)  # float64: minicnn never promotes float32 to float64 silently
    y = minicnn.zeros(2)
    before = y
    y += a  # in place, as y.add_(tensor)
    assert y is before and y.tolist() == [1.0, 1.0]
