"""The engine's fast paths (issue 21) give exactly what the full path gives.

``x + y``, ``x - y``, ``x * y`` and ``x / y`` on two CPU float tensors of one shape and dtype,
neither requiring grad, skip the op machinery (minicnn/tensor_methods.py,
``_no_grad_fast_path``). These tests compare them with the ops they stand for, check that the
fast path is really the one taken, and that everything it does not cover still takes the full
path (grads, broadcasting, numbers, integer and mixed dtypes, an ONNX trace). The same for the
unary activations (relu, sigmoid, tanh, silu, hardswish: ``ops._util.unary_fast_path``), which
call their kernel directly when nothing is to be recorded.
"""
import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn
from minicnn import autograd, ops

OPERATORS = [(operator.add, "add"), (operator.sub, "sub"), (operator.mul, "mul"),
             (operator.truediv, "div")]
IDS = [name for _, name in OPERATORS]


def _full_path_only(monkeypatch):
    """Make every op that the operators delegate to raise: only the fast path can answer."""
    for _, name in OPERATORS:
        def refuse(*args, _name=name, **kwargs):
            raise AssertionError(f"ops.{_name} called: the fast path was not taken")
        monkeypatch.setattr(ops, name, refuse)


@pytest.mark.parametrize("op,name", OPERATORS, ids=IDS)
@settings(max_examples=25, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=5),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2 ** 32 - 1),
       grads=st.sampled_from([(False, False), (True, False), (False, True), (True, True)]),
       grad_mode=st.booleans())
def test_operator_equals_the_op(op, name, shape, dtype, seed, grads, grad_mode):
    rng = np.random.default_rng(seed)
    a = minicnn.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=grads[0])
    b = minicnn.tensor((rng.standard_normal(shape) + 3).astype(dtype), requires_grad=grads[1])
    with minicnn.set_grad_enabled(grad_mode):
        got, want = op(a, b), getattr(ops, name)(a, b)
    assert type(got) is minicnn.Tensor
    assert got.dtype == want.dtype and got.shape == want.shape and got.device == want.device
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    assert got.requires_grad == want.requires_grad
    assert (got.grad_fn is None) == (want.grad_fn is None)


@pytest.mark.parametrize("op,name", OPERATORS, ids=IDS)
def test_no_grad_tensors_take_the_fast_path(monkeypatch, op, name):
    a, b = minicnn.randn(4, 4), minicnn.randn(4, 4).abs() + 1
    want = op(a.numpy(), b.numpy())
    _full_path_only(monkeypatch)
    got = op(a, b)
    np.testing.assert_array_equal(got.numpy(), want)
    assert got.grad_fn is None and not got.requires_grad
    got.zero_()  # a fresh array: the operands are untouched
    assert got._vc is not a._vc
    np.testing.assert_array_equal(op(a, b).numpy(), want)


@pytest.mark.parametrize("op,name", OPERATORS, ids=IDS)
@pytest.mark.parametrize("case", ["requires_grad", "broadcast", "number", "int64", "mixed",
                                  "float16", "parameter", "two devices"])
def test_everything_else_takes_the_full_path(monkeypatch, op, name, case):
    a, b = minicnn.randn(3, 4), minicnn.randn(3, 4)
    if case == "requires_grad":
        b.requires_grad_()
    elif case == "broadcast":
        b = minicnn.randn(4)
    elif case == "number":
        b = 2.0
    elif case == "int64":
        a, b = minicnn.tensor([[1, 2]]), minicnn.tensor([[3, 4]])
    elif case == "mixed":
        b = b.double()
    elif case == "float16":
        a, b = a.half(), b.half()
    elif case == "two devices":  # both NumPy arrays, but the op raises for mixed devices
        b = b.to("numpy")
    elif case == "parameter":  # a subclass: only a plain Tensor operand qualifies
        b = minicnn.nn.Parameter(b, requires_grad=False)
    _full_path_only(monkeypatch)
    with pytest.raises(AssertionError, match="fast path was not taken"):
        op(a, b)


def test_the_fast_path_keeps_out_of_an_onnx_trace(monkeypatch):
    recorded = []

    class Tracer:
        def wants(self):
            return True

        def record(self, cls, args):
            recorded.append(cls.__name__)
            return minicnn.Tensor._wrap(args[0]._data + args[1]._data, args[0].device)

    previous = autograd.set_tracer(Tracer())
    try:
        minicnn.ones(2) + minicnn.ones(2)
    finally:
        autograd.set_tracer(previous)
    assert recorded == ["AddFn"]


def test_a_gradient_still_flows_through_the_full_path():
    a = minicnn.tensor([1.0, 2.0], requires_grad=True)
    b = minicnn.tensor([3.0, 4.0])
    (a * b + b / a - a).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [3 - 3 / 1 - 1, 4 - 4 / 4 - 1])


# ---------------------------------------------------------------- unary activations

UNARY = ["relu", "sigmoid", "tanh", "silu", "hardswish"]


def _unary_full_path_only(monkeypatch):
    """Make Function.apply raise: only the fast path can answer."""
    def refuse(*args, **kwargs):
        raise AssertionError("Function.apply called: the fast path was not taken")
    monkeypatch.setattr(autograd.Function, "apply", classmethod(refuse))


@pytest.mark.parametrize("name", UNARY)
@settings(max_examples=20, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=5),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2 ** 32 - 1),
       requires_grad=st.booleans(), grad_mode=st.booleans(),
       device=st.sampled_from(["cpu", "numpy"]))
def test_unary_op_equals_the_full_path(name, shape, dtype, seed, requires_grad, grad_mode,
                                       device):
    rng = np.random.default_rng(seed)
    a = minicnn.tensor((rng.standard_normal(shape) * 4).astype(dtype), device=device,
                       requires_grad=requires_grad)
    op = getattr(ops, name)
    with minicnn.set_grad_enabled(grad_mode):
        got = op(a)
        want = getattr(ops.activation, name).__wrapped__(a)  # the undecorated op: full path
    assert type(got) is minicnn.Tensor
    assert got.dtype == want.dtype and got.shape == want.shape and got.device == want.device
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    assert got.requires_grad == want.requires_grad == (requires_grad and grad_mode)
    assert (got.grad_fn is None) == (want.grad_fn is None)


@pytest.mark.parametrize("name", UNARY)
def test_unary_ops_without_grads_take_the_fast_path(monkeypatch, name):
    import minicnn.nn.functional as F

    a = minicnn.randn(4, 4)
    want = getattr(ops, name)(a).numpy()
    _unary_full_path_only(monkeypatch)
    method = [getattr(a, name)()] if name in ("relu", "sigmoid", "tanh") else []  # torch's
    for got in [getattr(ops, name)(a), getattr(F, name)(a)] + method:
        np.testing.assert_array_equal(got.numpy(), want)
        assert got.grad_fn is None and not got.requires_grad
    with minicnn.no_grad():
        got = getattr(ops, name)(minicnn.randn(4, 4, requires_grad=True))
    assert not got.requires_grad
    before = a.numpy().copy()
    getattr(ops, name)(a).zero_()  # a fresh array: the input is untouched
    np.testing.assert_array_equal(a.numpy(), before)


@pytest.mark.parametrize("case", ["grad", "not contiguous", "float16", "integer", "not a tensor",
                                  "trace"])
def test_unary_ops_take_the_full_path_otherwise(monkeypatch, case):
    a = minicnn.randn(4, 4)
    if case == "grad":
        a.requires_grad_()
    elif case == "not contiguous":
        a = a.t()
    elif case == "float16":
        a = a.half()
    elif case == "integer":
        a = minicnn.arange(4)
    calls = []
    original = autograd.Function.apply.__func__

    def counting(cls, *args):
        calls.append(cls)
        return original(cls, *args)

    monkeypatch.setattr(autograd.Function, "apply", classmethod(counting))
    if case == "not a tensor":
        with pytest.raises(TypeError, match="argument 'input' \\(position 1\\) must be Tensor"):
            ops.relu(np.ones(3))
        return
    if case == "trace":
        class Tracer:  # an ONNX trace that records nothing here
            def wants(self):
                return False

        monkeypatch.setattr(autograd, "_tracer", Tracer())
        ops.relu(a)
        assert calls
        return
    try:
        ops.relu(a)
    except TypeError:  # integer tensors: the full path's own error
        assert case == "integer"
    assert calls
