"""The autograd engine: graph building, the backward pass, grad mode, and Tensor basics.

Each behaviour is checked against its analytic value and, where PyTorch is installed, against
PyTorch itself (the ``torch`` fixture skips those checks when it is missing).
"""
import contextlib
import sys
import threading

import numpy as np
import pytest

import minicnn
from minicnn.tensor import Tensor


def leaf(values, dtype=np.float64):
    return minicnn.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def grad_of(t):
    assert t.grad is not None, "expected a gradient"
    assert isinstance(t.grad, Tensor)
    assert t.grad.shape == t.shape and t.grad.dtype == t.dtype
    return t.grad.numpy()


# ---------------------------------------------------------------- deep graphs (no recursion)

@pytest.fixture
def low_recursion_limit():
    """A recursive backward (or topological sort) could not get far under this limit."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(400)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def test_deep_affine_chain_backpropagates_without_recursion(low_recursion_limit):
    x = leaf([0.5, -2.0])
    y = x
    for _ in range(3000):  # 6000 graph nodes
        y = y * 1.0001 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(grad_of(x), np.full(2, 1.0001 ** 3000), rtol=1e-12)
    del y  # tearing the deep graph down must not crash either


def test_deep_tanh_chain_gradient_matches_analytic(low_recursion_limit):
    x0 = np.array([0.3, -1.2, 2.0])
    x = leaf(x0)
    y = x
    for _ in range(3000):
        y = y.tanh()
    y.sum().backward()
    # d/dx of tanh^(3000)(x) = prod_i (1 - tanh(v_i)^2), v_0 = x, v_{i+1} = tanh(v_i)
    v, d = x0.copy(), np.ones_like(x0)
    for _ in range(3000):
        v = np.tanh(v)
        d *= 1 - v * v
    np.testing.assert_allclose(grad_of(x), d, rtol=1e-9)
    np.testing.assert_allclose(y.detach().numpy(), v, rtol=1e-12)


# ---------------------------------------------------------------- accumulation along paths

def test_diamond_on_a_leaf_accumulates():
    x = leaf([1.0, -2.0, 3.0])
    y = x * x + x
    y.sum().backward()
    np.testing.assert_allclose(grad_of(x), 2 * x.detach().numpy() + 1)


def test_leaf_used_twice_in_one_op():
    x = leaf([1.5, -0.5])
    (x * x).sum().backward()
    np.testing.assert_allclose(grad_of(x), [3.0, -1.0])


@pytest.mark.parametrize("build", [
    pytest.param(lambda b: b * 3 + b, id="b*3+b"),
    pytest.param(lambda b: b + b * 3, id="b+b*3"),
])
def test_intermediate_used_twice_accumulates(build):
    x = leaf([1.0, 2.0])
    b = x * 2.0  # an intermediate (non-leaf) used on two paths
    build(b).sum().backward()
    np.testing.assert_allclose(grad_of(x), [8.0, 8.0])  # d/dx (2x + 6x)


def test_residual_block_matches_torch(torch):
    xv = np.array([[0.2, -0.4, 0.9]])
    wv = np.array([[0.5, -1.0], [0.3, 0.8], [-0.7, 0.1]])
    vv = np.array([[1.0, -0.5, 0.2], [0.4, 0.6, -0.3]])

    def run(lib, mk):
        x, w, v = mk(xv), mk(wv), mk(vv)
        h = (x @ w).tanh()
        out = h + ((h @ v) @ w).tanh()  # residual: h reaches the output on two paths
        (out * out).sum().backward()
        return [t.grad for t in (x, w, v)]

    ours = run(minicnn, leaf)
    theirs = run(torch, lambda a: torch.tensor(a, requires_grad=True))
    for g, tg in zip(ours, theirs):
        np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-10, atol=1e-12)


def test_only_leaves_accumulate_grad():
    x = leaf([1.0, 2.0])
    w = leaf([3.0, -1.0])
    h = x * w
    out = (h.exp() * 2.0).sum()
    out.backward()
    assert x.grad is not None and w.grad is not None
    assert h.grad is None and out.grad is None
    assert h.is_leaf is False and x.is_leaf is True


def test_retain_grad_fills_an_intermediate():
    x = leaf([1.0, 2.0, -3.0])
    h = x * 2.0
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(grad_of(h), 2 * h.detach().numpy())
    np.testing.assert_allclose(grad_of(x), 8 * x.detach().numpy())


def test_constant_operand_gets_no_grad():
    x = leaf([1.0, 2.0])
    c = minicnn.tensor(np.array([3.0, 4.0]))
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_allclose(grad_of(x), [3.0, 4.0])


# ---------------------------------------------------------------- backward twice

def test_two_fresh_graphs_accumulate_like_torch(torch):
    xv = np.array([0.5, -1.0, 2.0])
    x = leaf(xv)
    tx = torch.tensor(xv, requires_grad=True)
    for _ in range(2):
        (x * x * x).sum().backward()
        (tx * tx * tx).sum().backward()
    np.testing.assert_allclose(grad_of(x), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad_of(x), 2 * 3 * xv ** 2, rtol=1e-12)


def test_two_fresh_graphs_accumulate_doubled_analytic():
    xv = np.array([0.5, -1.0, 2.0])
    x = leaf(xv)
    (x.exp()).sum().backward()
    first = grad_of(x).copy()
    (x.exp()).sum().backward()
    np.testing.assert_allclose(first, np.exp(xv), rtol=1e-12)
    np.testing.assert_allclose(grad_of(x), 2 * np.exp(xv), rtol=1e-12)


SAVING_OPS = [
    pytest.param(lambda x: x * x, id="mul"),
    pytest.param(lambda x: x.exp(), id="exp"),
    pytest.param(lambda x: (x * 2.0).tanh() * x, id="tanh-mul"),
]


@pytest.mark.parametrize("op", SAVING_OPS)
def test_second_backward_through_same_graph_raises(op):
    x = leaf([0.5, 1.5])
    y = op(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


@pytest.mark.parametrize("op", SAVING_OPS)
def test_retain_graph_allows_second_backward_and_accumulates(op):
    x = leaf([0.5, 1.5])
    y = op(x).sum()
    y.backward(retain_graph=True)
    once = grad_of(x).copy()
    y.backward(retain_graph=True)
    np.testing.assert_allclose(grad_of(x), 2 * once, rtol=1e-12)
    y.backward()  # the last one may free the graph ...
    np.testing.assert_allclose(grad_of(x), 3 * once, rtol=1e-12)
    with pytest.raises(RuntimeError, match="retain_graph"):  # ... and after it, it is gone
        y.backward()


# ---------------------------------------------------------------- grad mode

def test_no_grad_context_manager():
    x = leaf([1.0, 2.0])
    assert minicnn.is_grad_enabled()
    with minicnn.no_grad():
        assert not minicnn.is_grad_enabled()
        y = x * 2.0
    assert minicnn.is_grad_enabled()
    assert y.requires_grad is False and y.grad_fn is None
    z = x * 2.0
    assert z.requires_grad is True and z.grad_fn is not None


def test_no_grad_restores_mode_after_exception():
    with pytest.raises(KeyError):
        with minicnn.no_grad():
            raise KeyError("boom")
    assert minicnn.is_grad_enabled()


def test_no_grad_as_decorator():
    x = leaf([1.0, 2.0])

    @minicnn.no_grad()
    def double(t):
        assert not minicnn.is_grad_enabled()
        return t * 2.0

    y = double(x)
    assert y.requires_grad is False and y.grad_fn is None
    assert minicnn.is_grad_enabled()
    assert double.__name__ == "double"


def test_no_grad_as_bare_decorator():
    @minicnn.no_grad
    def double(t):
        return t * 2.0

    assert double(leaf([1.0])).requires_grad is False


def test_enable_grad_inside_no_grad():
    x = leaf([1.0, 2.0])
    with minicnn.no_grad():
        with minicnn.enable_grad():
            assert minicnn.is_grad_enabled()
            y = x * 2.0
        assert not minicnn.is_grad_enabled()
        z = x * 2.0
    assert y.requires_grad and y.grad_fn is not None
    assert not z.requires_grad

    @minicnn.enable_grad()
    def tracked(t):
        return t * 3.0

    with minicnn.no_grad():
        w = tracked(x)
    assert w.requires_grad and w.grad_fn is not None


def test_set_grad_enabled_as_a_call():
    x = leaf([1.0, 2.0])
    try:
        minicnn.set_grad_enabled(False)
        assert not minicnn.is_grad_enabled()
        y = x * 2.0
        assert y.requires_grad is False and y.grad_fn is None
        minicnn.set_grad_enabled(True)
        assert minicnn.is_grad_enabled()
        assert (x * 2.0).requires_grad
    finally:
        minicnn.set_grad_enabled(True)


def test_set_grad_enabled_as_context_manager():
    x = leaf([1.0, 2.0])
    with minicnn.set_grad_enabled(False):
        assert not minicnn.is_grad_enabled()
        y = x * 2.0
    assert minicnn.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad
    with minicnn.no_grad():
        with minicnn.set_grad_enabled(True):
            z = x * 2.0
        assert not minicnn.is_grad_enabled()
    assert z.requires_grad


@pytest.mark.parametrize("outer", [None, "no_grad", "enable_grad"])
@pytest.mark.parametrize("mode", [True, False])
def test_inference_mode_matches_torch(torch, outer, mode):
    """Grad mode and is_inference_mode_enabled inside inference_mode(mode), inside another
    mode, and after it, as torch's (inference_mode(False) turns grad mode on, no_grad or not)."""
    def observe(lib):
        x = lib.ones(2, requires_grad=True)
        seen = []
        with getattr(lib, outer)() if outer else contextlib.nullcontext():
            with lib.inference_mode(mode):
                seen.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled(),
                             (x * 2).requires_grad))
            seen.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))
        seen.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))
        return seen

    assert observe(minicnn) == observe(torch)


def test_inference_mode_as_decorator_and_after_an_exception():
    @minicnn.inference_mode
    def bare():
        return minicnn.is_grad_enabled(), minicnn.is_inference_mode_enabled()

    @minicnn.inference_mode(False)
    def off():
        return minicnn.is_grad_enabled(), minicnn.is_inference_mode_enabled()

    assert bare() == (False, True)
    with minicnn.no_grad():
        assert off() == (True, False)
    with pytest.raises(KeyError):
        with minicnn.inference_mode():
            raise KeyError
    assert minicnn.is_grad_enabled() and not minicnn.is_inference_mode_enabled()


def test_grad_mode_is_thread_local():
    x = leaf([1.0, 2.0])
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with minicnn.no_grad():
            inside.set()
            release.wait(10)
            seen["enabled"] = minicnn.is_grad_enabled()
            seen["requires_grad"] = (x * 2.0).requires_grad

    t = threading.Thread(target=worker)
    t.start()
    try:
        assert inside.wait(10)
        # the other thread is inside no_grad right now; this one is unaffected
        assert minicnn.is_grad_enabled()
        assert (x * 2.0).requires_grad
    finally:
        release.set()
        t.join(10)
    assert seen == {"enabled": False, "requires_grad": False}

    # and the reverse: this thread's no_grad does not reach a new thread
    with minicnn.no_grad():
        other = {}
        t = threading.Thread(target=lambda: other.setdefault("enabled", minicnn.is_grad_enabled()))
        t.start()
        t.join(10)
        assert other["enabled"] is True


# ---------------------------------------------------------------- detach / data / requires_grad

def test_detach_shares_memory_and_cuts_graph():
    x = leaf([1.0, 2.0, 3.0])
    d = x.detach()
    assert d.requires_grad is False and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.numpy(), x.data.numpy())
    d.numpy()[0] = 10.0
    assert x.data.numpy()[0] == 10.0
    (x * x.detach()).sum().backward()  # only the tracked factor contributes
    np.testing.assert_allclose(grad_of(x), [10.0, 2.0, 3.0])


def test_detach_of_intermediate_is_a_leaf():
    x = leaf([1.0, 2.0])
    h = (x * 3.0).detach()
    assert h.is_leaf and not h.requires_grad
    h.requires_grad_()
    (h * x).sum().backward()
    np.testing.assert_allclose(grad_of(h), [1.0, 2.0])
    np.testing.assert_allclose(grad_of(x), [3.0, 6.0])  # not 2 * 3x: the detach cut that path


def test_data_is_untracked_and_shares_memory():
    x = leaf([1.0, 2.0])
    d = x.data
    assert isinstance(d, Tensor)
    assert d.requires_grad is False and d.grad_fn is None
    assert np.shares_memory(d.numpy(), x.detach().numpy())
    y = d * 2.0
    assert y.requires_grad is False and y.grad_fn is None
    d.numpy()[1] = -7.0
    assert x.detach().numpy()[1] == -7.0


def test_requires_grad_on_int_tensor_raises():
    t = minicnn.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="floating"):
        t.requires_grad_()
    with pytest.raises(RuntimeError):
        minicnn.tensor([1, 2], requires_grad=True)
    assert t.requires_grad is False


def test_requires_grad_underscore_returns_self():
    t = minicnn.tensor([1.0, 2.0])
    assert t.requires_grad_() is t and t.requires_grad


def test_numpy_on_requires_grad_raises():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    with pytest.raises(RuntimeError):
        np.asarray(x)
    with pytest.raises(RuntimeError):
        (x * 2.0).numpy()
    assert isinstance(x.detach().numpy(), np.ndarray)


# ---------------------------------------------------------------- backward() argument errors

def test_backward_non_scalar_without_gradient_raises():
    x = leaf(np.ones((2, 3)))
    y = x * 2.0
    with pytest.raises(RuntimeError, match=r"scalar.*\(2, 3\)"):
        y.backward()
    assert x.grad is None


def test_backward_on_tensor_without_grad_raises():
    t = minicnn.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        t.sum().backward()
    with minicnn.no_grad():
        y = leaf([1.0]) * 2.0
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_backward_with_wrong_shaped_gradient_raises():
    x = leaf(np.ones((2, 3)))
    y = x * 2.0
    with pytest.raises(RuntimeError, match=r"\(3, 2\).*\(2, 3\)|\(2, 3\).*\(3, 2\)"):
        y.backward(minicnn.tensor(np.ones((3, 2))))
    assert x.grad is None


def test_backward_with_explicit_gradient():
    x = leaf([1.0, 2.0, 3.0])
    g = np.array([0.5, -1.0, 2.0])
    (x * x).backward(minicnn.tensor(g))
    np.testing.assert_allclose(grad_of(x), 2 * np.array([1.0, 2.0, 3.0]) * g)


# ---------------------------------------------------------------- custom Function

class ScaledMul(minicnn.Function):
    """a * b * scale, written on raw arrays; records what backward saw."""

    log = []

    @staticmethod
    def forward(ctx, a, b, scale):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        assert not isinstance(a, Tensor)
        ctx.save_for_backward(a, b)
        ctx.scale = scale
        return a * b * scale

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved_tensors
        ScaledMul.log.append(tuple(ctx.needs_input_grad))
        ga = grad_output * b * ctx.scale if ctx.needs_input_grad[0] else None
        gb = grad_output * a * ctx.scale if ctx.needs_input_grad[1] else None
        return ga, gb, None


@pytest.fixture
def scaled_mul():
    ScaledMul.log = []
    return ScaledMul


def test_custom_function_both_inputs(scaled_mul):
    a, b = leaf([1.0, 2.0]), leaf([3.0, -4.0])
    y = scaled_mul.apply(a, b, 0.5)
    assert y.grad_fn is not None and repr(y.grad_fn) == "<ScaledMulBackward>"
    np.testing.assert_allclose(y.detach().numpy(), [1.5, -4.0])
    y.sum().backward()
    assert scaled_mul.log == [(True, True, False)]
    np.testing.assert_allclose(grad_of(a), [1.5, -2.0])
    np.testing.assert_allclose(grad_of(b), [0.5, 1.0])


def test_custom_function_skips_inputs_without_grad(scaled_mul):
    a = leaf([1.0, 2.0])
    b = minicnn.tensor(np.array([3.0, -4.0]))
    scaled_mul.apply(a, b, 2.0).sum().backward()
    assert scaled_mul.log == [(True, False, False)]
    np.testing.assert_allclose(grad_of(a), [6.0, -8.0])
    assert b.grad is None


def test_custom_function_backward_not_called_when_nothing_needs_grad(scaled_mul):
    a = minicnn.tensor(np.array([1.0, 2.0]))
    b = minicnn.tensor(np.array([3.0, 4.0]))
    c = scaled_mul.apply(a, b, 1.0)
    assert c.requires_grad is False and c.grad_fn is None
    x = leaf([1.0, 1.0])
    (c * x).sum().backward()
    assert scaled_mul.log == []  # the constant branch was never differentiated
    np.testing.assert_allclose(grad_of(x), [3.0, 8.0])


def test_custom_function_wrong_number_of_grads_raises():
    class Bad(minicnn.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return (g,)

    y = Bad.apply(leaf([1.0]), leaf([2.0]))
    with pytest.raises(RuntimeError, match="BadBackward"):
        y.sum().backward()


def test_custom_function_wrong_grad_shape_raises():
    class Bad(minicnn.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return np.ones((5, 7))

    y = Bad.apply(leaf(np.ones((2, 3))))
    with pytest.raises(RuntimeError, match=r"\(5, 7\).*\(2, 3\)"):
        y.sum().backward()


def test_builtin_functions_are_named_fn_and_their_nodes_after_the_op():
    """minicnn's Functions carry an Fn suffix (no clash with nn.ReLU, nn.MaxPool2d, ...), their
    nodes PyTorch's names without it; a user's Function is named as written, as in PyTorch."""
    from minicnn.ops import activation, pool

    assert activation.ReLUFn is not minicnn.nn.ReLU and pool.MaxPool2dFn is not minicnn.nn.MaxPool2d
    assert repr(activation.ReLUFn.apply(leaf([1.0])).grad_fn) == "<ReLUBackward>"

    class MyFn(minicnn.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    assert MyFn.apply(leaf([1.0])).grad_fn.name() == "MyFnBackward"


# ---------------------------------------------------------------- custom Function, several outputs

def two_outputs(base):
    """(a * b, a + b ** 2), a Function of two outputs, as a subclass of ``base``: minicnn.Function
    or torch.autograd.Function (the code runs on NumPy arrays and on torch tensors alike).
    Backward logs the gradients it receives; ``materialize`` is ctx.set_materialize_grads's."""

    class ProductAndSquares(base):
        log = []

        @staticmethod
        def forward(ctx, a, b, materialize):
            ctx.set_materialize_grads(materialize)
            y0, y1 = a * b, a + b ** 2
            ctx.save_for_backward(a, b, y1)  # an output among the saved: version-checked
            return y0, y1

        @staticmethod
        def backward(ctx, g0, g1):
            ProductAndSquares.log.append((g0, g1))
            a, b, _ = ctx.saved_tensors
            ga = gb = 0
            if g0 is not None:
                ga, gb = ga + g0 * b, gb + g0 * a
            if g1 is not None:
                ga, gb = ga + g1, gb + 2 * b * g1
            return ga, gb, None

    return ProductAndSquares


LOSSES = {  # what a graph does with the two outputs
    "both": lambda y0, y1: (y0 * 3).sum() + (y1 * y1).sum(),
    "first": lambda y0, y1: (y0 * y0).sum(),
    "second": lambda y0, y1: (y1 * 2).sum(),
    "product": lambda y0, y1: (y0 * y1).sum() + y1.sum(),  # output 1 reached by two paths
}


def as_numpy(g):
    """A gradient that backward received (an array, a torch tensor or None) as an array."""
    if g is None:
        return None
    return g.detach().numpy() if hasattr(g, "detach") else np.asarray(g)


def test_two_output_function_gradcheck():
    fn = two_outputs(minicnn.Function)
    rng = np.random.default_rng(0)
    a, b = leaf(rng.standard_normal((2, 3))), leaf(rng.standard_normal((2, 3)))
    assert minicnn.utils.gradcheck(lambda a, b: fn.apply(a, b, True), (a, b))  # both outputs
    assert minicnn.utils.gradcheck(lambda a, b: fn.apply(a, b, True)[1], (a, b))  # the second


@pytest.mark.parametrize("materialize", [True, False])
@pytest.mark.parametrize("use", list(LOSSES))
def test_two_output_function_matches_torch(torch, use, materialize):
    """Input gradients, and the gradients backward receives (zeros, or None without
    materialization, for an unused output), as torch.autograd.Function."""
    av, bv = np.array([1.0, 2.0, -0.5]), np.array([3.0, -4.0, 0.25])
    ours, theirs = two_outputs(minicnn.Function), two_outputs(torch.autograd.Function)
    a, b = leaf(av), leaf(bv)
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (av, bv))
    LOSSES[use](*ours.apply(a, b, materialize)).backward()
    LOSSES[use](*theirs.apply(ta, tb, materialize)).backward()
    np.testing.assert_allclose(grad_of(a), ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad_of(b), tb.grad.numpy(), rtol=1e-12)
    assert len(ours.log) == len(theirs.log) == 1
    for g, tg in zip(ours.log[0], theirs.log[0]):
        assert (g is None) == (tg is None)
        if g is not None:
            assert g.dtype == np.float64
            np.testing.assert_allclose(as_numpy(g), as_numpy(tg), rtol=1e-12)


def test_two_output_function_outputs_share_one_node(torch):
    fn = two_outputs(minicnn.Function)
    y0, y1 = fn.apply(leaf([1.0, 2.0]), leaf([3.0, 4.0]), True)
    t0, t1 = two_outputs(torch.autograd.Function).apply(
        torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True), True)
    assert y0.grad_fn is y1.grad_fn and repr(y0.grad_fn) == "<ProductAndSquaresBackward>"
    assert (y0.output_nr, y1.output_nr) == (t0.output_nr, t1.output_nr) == (0, 1)
    assert y0.requires_grad and y1.requires_grad and not y0.is_leaf
    np.testing.assert_allclose(y1.detach().numpy(), [10.0, 18.0])
    # nothing requires grad: plain tensors, and no graph
    z0, z1 = fn.apply(minicnn.tensor([1.0]), minicnn.tensor([2.0]), True)
    assert z0.grad_fn is None and z1.grad_fn is None and not z1.requires_grad


def test_two_output_function_retain_graph_accumulates():
    fn = two_outputs(minicnn.Function)
    a, b = leaf([1.0, 2.0]), leaf([3.0, -1.0])
    loss = LOSSES["product"](*fn.apply(a, b, True))
    loss.backward(retain_graph=True)
    once = grad_of(a).copy(), grad_of(b).copy()
    loss.backward()
    np.testing.assert_allclose(grad_of(a), 2 * once[0])
    np.testing.assert_allclose(grad_of(b), 2 * once[1])
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


def test_two_output_function_saved_output_changed_in_place_raises():
    _, y1 = two_outputs(minicnn.Function).apply(leaf([1.0, 2.0]), leaf([3.0, 4.0]), True)
    y1.mul_(2)
    with pytest.raises(RuntimeError, match="output 1 of ProductAndSquaresBackward, is at version"):
        y1.sum().backward()


def split(base):
    """(2 x, 3 x), saving nothing, as a subclass of ``base``."""

    class Split(base):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g0, g1):
            return 2 * g0 + 3 * g1

    return Split


def test_in_place_op_on_second_output_sends_its_gradient_to_that_output(torch):
    x, tx = leaf([1.0, -2.0]), torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    for fn, t in ((split(minicnn.Function), x), (split(torch.autograd.Function), tx)):
        _, y1 = fn.apply(t)
        y1.mul_(5)
        y1.sum().backward()
    np.testing.assert_allclose(grad_of(x), tx.grad.numpy())
    np.testing.assert_allclose(grad_of(x), [15.0, 15.0])


def sort_with_mask(base):
    """(sorted x, the argsort order, a float mask of x > 0), as a subclass of ``base``; the mask
    is marked non-differentiable, and so is the order (int64 anyway) when ``mark``."""

    class SortWithMask(base):
        log = []

        @staticmethod
        def forward(ctx, x, mark):
            order = x.argsort()
            mask = x * 0 + (x > 0)
            ctx.save_for_backward(order)
            ctx.mark_non_differentiable(*((order, mask) if mark else (mask,)))
            return x[order], order, mask

        @staticmethod
        def backward(ctx, g_values, g_order, g_mask):
            SortWithMask.log.append((g_order, g_mask))
            (order,) = ctx.saved_tensors
            grad = g_values * 0
            grad[order] = g_values
            return grad, None

    return SortWithMask


@pytest.mark.parametrize("mark", [True, False])
def test_mark_non_differentiable(torch, mark):
    xv = np.array([0.5, -1.0, 2.0, -3.0])
    ours, theirs = sort_with_mask(minicnn.Function), sort_with_mask(torch.autograd.Function)
    x, tx = leaf(xv), torch.tensor(xv, requires_grad=True)
    (values, order, mask), (tv, to, tm) = ours.apply(x, mark), theirs.apply(tx, mark)
    assert values.requires_grad and values.grad_fn is not None and values.output_nr == 0
    for t, tt in ((order, to), (mask, tm)):
        assert not t.requires_grad and t.grad_fn is None and t.is_leaf
        assert t.requires_grad == tt.requires_grad and t.output_nr == tt.output_nr
    assert order.dtype == np.int64 and mask.dtype == np.float64
    g = np.array([1.0, 2.0, 3.0, 4.0])
    values.backward(minicnn.tensor(g))
    tv.backward(torch.tensor(g))
    np.testing.assert_allclose(grad_of(x), tx.grad.numpy())
    # the non-differentiable outputs still get a gradient in backward: zeros of their dtype
    (g_order, g_mask), = ours.log
    (tg_order, tg_mask), = theirs.log
    for ours_g, theirs_g in ((g_order, tg_order), (g_mask, tg_mask)):
        np.testing.assert_array_equal(as_numpy(ours_g), as_numpy(theirs_g))
        assert as_numpy(ours_g).dtype == as_numpy(theirs_g).dtype


def single_output(base, kind):
    """A one-output Function whose output is an integer count ("int") or a float marked
    non-differentiable ("marked"), as a subclass of ``base``."""

    class Single(base):
        @staticmethod
        def forward(ctx, x):
            if kind == "int":
                return (x > 0).cumsum(0)
            y = x * 2
            ctx.mark_non_differentiable(y)
            return y

    return Single


@pytest.mark.parametrize("kind", ["int", "marked"])
def test_single_output_that_is_not_differentiable(torch, kind):
    y = single_output(minicnn.Function, kind).apply(leaf([1.0, -2.0, 3.0]))
    ty = single_output(torch.autograd.Function, kind).apply(
        torch.tensor([1.0, -2.0, 3.0], requires_grad=True))
    assert not y.requires_grad and y.grad_fn is None
    assert y.requires_grad == ty.requires_grad and (ty.grad_fn is None)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())


def test_forward_returning_a_tuple_of_non_arrays_raises():
    class Bad(minicnn.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, "not an array"

    with pytest.raises(TypeError, match="Bad.forward returned a str as output 1"):
        Bad.apply(leaf([1.0]))


# ---------------------------------------------------------------- broadcasting

def test_broadcast_gradients_have_input_shapes(torch, rng):
    av, bv = rng.standard_normal((3, 1)), rng.standard_normal((1, 4))
    gv = rng.standard_normal((3, 4))
    a, b = leaf(av), leaf(bv)
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (av, bv))
    ((a + b) * (a * b)).backward(minicnn.tensor(gv))
    ((ta + tb) * (ta * tb)).backward(torch.tensor(gv))
    assert a.grad.shape == (3, 1) and b.grad.shape == (1, 4)
    np.testing.assert_allclose(grad_of(a), ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad_of(b), tb.grad.numpy(), rtol=1e-12)


def test_broadcast_add_gradient_is_summed(rng):
    a, b = leaf(rng.standard_normal((3, 1))), leaf(rng.standard_normal((1, 4)))
    g = rng.standard_normal((3, 4))
    (a + b).backward(minicnn.tensor(g))
    np.testing.assert_allclose(grad_of(a), g.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(grad_of(b), g.sum(axis=0, keepdims=True))


def test_bias_broadcast_over_leading_dims(rng):
    x = leaf(rng.standard_normal((2, 3, 4)))
    bias = leaf(rng.standard_normal(4))
    g = rng.standard_normal((2, 3, 4))
    (x + bias).backward(minicnn.tensor(g))
    assert bias.grad.shape == (4,)
    np.testing.assert_allclose(grad_of(bias), g.sum(axis=(0, 1)))
    np.testing.assert_allclose(grad_of(x), g)


def test_scalar_tensor_broadcast_gradient(rng):
    s = leaf(2.0)
    x = leaf(rng.standard_normal((2, 3)))
    (s * x).sum().backward()
    assert s.grad.shape == ()
    np.testing.assert_allclose(grad_of(s), x.detach().numpy().sum())


# ---------------------------------------------------------------- grad_fn, seeds, dtypes

def test_grad_fn_repr():
    x = leaf([1.0])
    assert repr((x * 2.0).grad_fn) == "<MulBackward>"
    assert repr((x + 2.0).grad_fn) == "<AddBackward>"
    assert repr(x.exp().grad_fn) == "<ExpBackward>"
    assert "grad_fn=<MulBackward>" in repr(x * 2.0)
    assert x.grad_fn is None


def test_manual_seed_makes_randn_reproducible():
    minicnn.manual_seed(1234)
    a = minicnn.randn(3, 4).numpy().copy()
    b = minicnn.randn(3, 4).numpy().copy()
    minicnn.manual_seed(1234)
    c = minicnn.randn(3, 4).numpy()
    d = minicnn.randn(3, 4).numpy()
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(b, d)
    assert not np.array_equal(a, b)
    minicnn.manual_seed(4321)
    assert not np.array_equal(minicnn.randn(3, 4).numpy(), a)
    assert minicnn.randn(2, 2).dtype == minicnn.float32


@pytest.mark.parametrize("data, dtype", [
    (1.5, np.float32),
    ([1.0, 2.5], np.float32),
    ([[1, 2], [3, 4.5]], np.float32),
    (3, np.int64),
    ([1, 2, 3], np.int64),
    (True, np.bool_),
    ([True, False], np.bool_),
    (np.zeros(3, dtype=np.float64), np.float64),
    (np.zeros(3, dtype=np.float32), np.float32),
    (np.zeros(3, dtype=np.int32), np.int32),
])
def test_tensor_dtype_defaults(data, dtype, torch):
    t = minicnn.tensor(data)
    assert t.dtype == np.dtype(dtype)
    tt = torch.tensor(data)
    assert str(tt.dtype).replace("torch.", "") == np.dtype(dtype).name.replace("bool_", "bool")


def test_tensor_dtype_defaults_without_torch():
    assert minicnn.tensor(1.5).dtype == minicnn.float32
    assert minicnn.tensor([1, 2]).dtype == minicnn.int64
    assert minicnn.tensor(np.ones(2)).dtype == minicnn.float64
    assert minicnn.tensor([True]).dtype == minicnn.bool
    assert minicnn.tensor([1, 2], dtype=minicnn.float64).dtype == minicnn.float64


def test_tensor_copies_its_data():
    a = np.ones(3)
    t = minicnn.tensor(a)
    a[0] = 5.0
    assert t.numpy()[0] == 1.0


def test_numpy_float64_scalar_keeps_dtype():
    assert minicnn.tensor(np.float64(1.5)).dtype == minicnn.float64


def test_float_int_mix_keeps_float32_and_backpropagates():
    x = minicnn.tensor([1.0, 2.0], requires_grad=True)
    n = minicnn.tensor([3, 4])
    y = x * n
    assert y.dtype == minicnn.float32
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])


def test_item_shape_dtype_ndim():
    t = minicnn.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and isinstance(t.shape, tuple)
    assert t.dtype == minicnn.float32 and t.ndim == 2
    assert t.size() == (2, 3) and t.size(1) == 3 and t.numel() == 6
    s = t.sum()
    assert s.shape == () and s.ndim == 0
    v = s.item()
    assert isinstance(v, float) and v == 21.0
    assert isinstance(minicnn.tensor([7]).item(), int)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        t.item()


def test_float_and_double_conversions():
    x = minicnn.tensor([1.0, 2.0], requires_grad=True)
    d = x.double()
    assert d.dtype == minicnn.float64 and d.requires_grad
    f = d.float()
    assert f.dtype == minicnn.float32
    assert x.float() is x  # nothing to convert
    (d * d).sum().backward()
    assert x.grad.dtype == minicnn.float32  # the gradient comes back in the leaf's dtype
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    assert minicnn.tensor([1, 2]).float().dtype == minicnn.float32
    assert float(minicnn.tensor(2.5)) == 2.5


# ------------------------------------------------------------------ anomaly mode


def test_detect_anomaly_names_the_backward_that_made_nan_as_pytorch(torch):
    import warnings

    from minicnn import autograd

    def run(lib, mode):
        x = lib.tensor([0.0, 1.0], requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with mode():
                y = (x * 2).sum()
                y.backward()  # finite gradients: no error
                with pytest.raises(RuntimeError) as info:
                    (x / x).sum().backward()
        return str(info.value), [str(w.message) for w in caught]

    ours, our_warnings = run(minicnn, autograd.detect_anomaly)
    theirs, their_warnings = run(torch, torch.autograd.detect_anomaly)
    assert ours == theirs.replace("DivBackward0", "DivBackward")
    assert our_warnings[0] == their_warnings[0]  # "Anomaly Detection has been enabled. ..."
    trace = next(w for w in our_warnings if w.startswith("Error detected in DivBackward"))
    assert "Traceback of forward call that caused the error:" in trace
    assert trace.rstrip().endswith("(x / x).sum().backward()")  # the user's line, last
    assert not minicnn.is_anomaly_enabled()


def test_anomaly_mode_switches():
    from minicnn import autograd

    x = minicnn.tensor([0.0, 1.0], requires_grad=True)
    assert not minicnn.is_anomaly_enabled() and minicnn.is_anomaly_check_nan_enabled()
    (x / x).sum().backward()  # off: NaN gradients pass silently, as in PyTorch
    assert np.isnan(x.grad.numpy()[0])
    with autograd.set_detect_anomaly(True, check_nan=False):
        assert minicnn.is_anomaly_enabled() and not minicnn.is_anomaly_check_nan_enabled()
        (x / x).sum().backward()  # stacks only
    assert not minicnn.is_anomaly_enabled() and minicnn.is_anomaly_check_nan_enabled()

    @autograd.detect_anomaly()
    def step():
        assert minicnn.is_anomaly_enabled()
        (x.sqrt() * 0).sum().backward()

    with pytest.warns(UserWarning, match="Anomaly Detection"):
        with pytest.raises(autograd.NaNGradientError, match="'SqrtBackward' returned nan values "
                           "in its 0th output") as info:
            step()
    assert info.value.node.name() == "SqrtBackward" and info.value.index == 0
    assert not minicnn.is_anomaly_enabled()


@pytest.mark.parametrize("dtype", [minicnn.float32, minicnn.float64])
def test_number_operands_give_what_a_0d_tensor_operand_gives(dtype):
    """x * 2.5, 2.5 * x, x + 1, 1 + x take a fast path (the number kept on the node, not made a
    0-d tensor): the same bits, the same gradient, the same dtype and grad_fn name."""
    ops = [lambda a, b: a * b, lambda a, b: b * a, lambda a, b: a + b, lambda a, b: b + a]
    for s in (2, 0.1, -3.5):
        for op in ops:
            x = minicnn.randn(5, 7, dtype=dtype, requires_grad=True)
            x0 = x.detach().clone().requires_grad_()
            y, y0 = op(x, s), op(x0, minicnn.tensor(s, dtype=dtype))
            assert y.dtype == y0.dtype == dtype
            assert repr(y.grad_fn) == repr(y0.grad_fn) in ("<MulBackward>", "<AddBackward>")
            np.testing.assert_array_equal(y.detach().numpy(), y0.detach().numpy())
            g = minicnn.randn(5, 7, dtype=dtype)
            y.backward(g)
            y0.backward(g)
            np.testing.assert_array_equal(x.grad.numpy(), x0.grad.numpy())
    assert (minicnn.arange(3) * 2.5).dtype == minicnn.float32  # not the fast path: int tensor
    assert (minicnn.tensor([True]) * 2).dtype == minicnn.int64
