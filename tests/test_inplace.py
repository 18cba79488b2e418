"""In-place ops and version counters (issue 15, part 1): every in-place change bumps the tensor's
version counter (shared with its views); a value saved for backward that changed since raises
PyTorch's RuntimeError; recorded in-place ops on non-leaves give PyTorch's gradients."""
import numpy as np
import pytest

import minicnn
from minicnn import nn, optim

torch = pytest.importorskip("torch")

VERSION_ERROR = "modified by an inplace operation"


def pair(values, dtype="float64", requires_grad=False):
    """The same values as a minicnn and a torch tensor."""
    a = np.asarray(values, dtype=dtype)
    return (minicnn.tensor(a, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


# ------------------------------------------------------------------ version counters


def test_version_starts_at_zero_and_every_inplace_op_bumps_it():
    x = minicnn.ones(3)
    assert x._version == 0
    for op in (lambda t: t.add_(1), lambda t: t.mul_(2), lambda t: t.zero_(),
               lambda t: t.fill_(3.0), lambda t: t.copy_(minicnn.ones(3)),
               lambda t: t.__setitem__(0, 5.0), lambda t: t.clamp_(0, 1),
               lambda t: t.uniform_(), lambda t: t.normal_(), lambda t: t.exp_()):
        before = x._version
        op(x)
        assert x._version == before + 1


def test_views_and_detach_share_the_counter_and_data_does_not():
    x = minicnn.zeros(2, 3)
    v = x[0]
    r = x.reshape(6)
    t = x.t()
    d = x.detach()
    v.add_(1)
    assert x._version == v._version == r._version == t._version == d._version == 1
    d.mul_(2)
    assert x._version == 2
    x.data.add_(1)  # as PyTorch: .data has its own counter
    assert x._version == 2
    np.testing.assert_array_equal(x.numpy()[0], [3, 3, 3])


def test_fresh_results_get_their_own_counter():
    x = minicnn.ones(3)
    y = x * 2
    y.add_(1)
    assert x._version == 0 and y._version == 1


# ------------------------------------------------------------------ the error, as PyTorch


def _error(fn):
    with pytest.raises(RuntimeError) as info:
        fn()
    return str(info.value)


def test_fill_of_a_saved_input_raises_pytorch_error():
    for lib in (minicnn, torch):
        w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        x = lib.ones(3)
        y = (x * w).sum()
        x.fill_(100.0)
        msg = _error(y.backward)
        prefix = "minicnn" if lib is minicnn else "torch"
        assert (f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{prefix}.FloatTensor [3]] is at version 1; expected "
                "version 0 instead.") in msg


def test_inplace_on_a_saved_output_names_its_op():
    w = minicnn.ones(3, requires_grad=True)
    q = w.exp()
    q.add_(1)
    msg = _error(lambda: q.sum().backward())
    assert "[minicnn.FloatTensor [3]], which is output 0 of ExpBackward, is at version 1; " \
           "expected version 0 instead" in msg


def test_optimizer_step_between_forward_and_backward_raises():
    for lib in (minicnn, torch):
        model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.ReLU(), lib.nn.Linear(4, 2))
        opt = lib.optim.SGD(model.parameters(), lr=0.1)
        x = lib.ones(4, 3)
        loss = model(x).sum()
        for p in model.parameters():
            p.grad = lib.ones_like(p)
        opt.step()
        assert VERSION_ERROR in _error(loss.backward)


def test_change_through_a_view_is_detected():
    w = minicnn.ones(2, 3, dtype=minicnn.float64, requires_grad=True)
    x = minicnn.ones(2, 3, dtype=minicnn.float64)
    y = (x * w).sum()
    x[1].mul_(3)                       # a view of x
    assert VERSION_ERROR in _error(y.backward)
    x2 = minicnn.ones(6, dtype=minicnn.float64)
    y2 = (x2.reshape(2, 3) * w).sum()  # the saved value is a view of x2
    x2.add_(1)
    assert VERSION_ERROR in _error(y2.backward)


def test_unchanged_values_backward_fine_and_nograd_changes_after_backward_are_fine():
    w = minicnn.ones(3, requires_grad=True)
    x = minicnn.tensor([1.0, 2.0, 3.0])
    y = (x * w).sum()
    y.backward()
    x.fill_(7.0)
    np.testing.assert_array_equal(w.grad.numpy(), [1, 2, 3])


def test_plain_training_loop_never_trips_the_check():
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 3))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    x, y = minicnn.randn(8, 1, 8, 8), minicnn.randint(0, 3, (8,))
    losses = []
    for _ in range(5):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


# ------------------------------------------------------------------ leaves and views


def test_leaf_that_requires_grad_refuses_inplace_outside_no_grad():
    for lib in (minicnn, torch):
        a = lib.ones(3, requires_grad=True)
        assert "a leaf Variable that requires grad is being used in an in-place operation" \
            in _error(lambda: a.add_(1))
        with lib.no_grad():
            a.mul_(2)
        assert a._version == 1


def test_inplace_on_a_view_of_a_graph_tensor_is_refused_clearly():
    a = minicnn.ones(3, requires_grad=True)
    x = a * 2
    assert "view" in _error(lambda: x[0:2].mul_(3))


# ------------------------------------------------------------------ recorded in-place ops


RECORDED = [
    ("add_", lambda t, o: t.add_(o, alpha=0.5)),
    ("sub_", lambda t, o: t.sub_(o)),
    ("mul_", lambda t, o: t.mul_(o)),
    ("div_", lambda t, o: t.div_(o)),
    ("pow_", lambda t, o: t.pow_(2)),
    ("exp_", lambda t, o: t.exp_()),
    ("sqrt_", lambda t, o: t.sqrt_()),
    ("neg_", lambda t, o: t.neg_()),
    ("abs_", lambda t, o: t.abs_()),
    ("clamp_", lambda t, o: t.clamp_(0.7, 1.5)),
    ("clamp_min_", lambda t, o: t.clamp_min_(0.9)),
    ("relu_", lambda t, o: t.relu_()),
    ("addcmul_", lambda t, o: t.addcmul_(o, o, value=0.3)),
    ("addcdiv_", lambda t, o: t.addcdiv_(o, o + 2, value=0.3)),
    ("lerp_", lambda t, o: t.lerp_(o, 0.25)),
    ("copy_", lambda t, o: t.copy_(o)),
    ("masked_fill_", lambda t, o: t.masked_fill_(t > 1.2, 0.0)),
    ("iadd", lambda t, o: t.__iadd__(o)),
    ("imul", lambda t, o: t.__imul__(o)),
]


@pytest.mark.parametrize("name,op", RECORDED, ids=[r[0] for r in RECORDED])
def test_recorded_inplace_op_gradients_equal_pytorch(name, op):
    rng = np.random.default_rng(0)
    a_np = rng.uniform(0.5, 2.0, (2, 3))
    w_np = rng.uniform(0.5, 2.0, (2, 3))
    grads = []
    for lib in (minicnn, torch):
        a = lib.tensor(a_np, requires_grad=True)
        w = lib.tensor(w_np, requires_grad=True)
        x = a * 1.5
        out = op(x, w)
        assert out is x
        assert x.requires_grad and x.grad_fn is not None
        (x * x).sum().backward()
        grads.append((x.detach().numpy().copy(), a.grad.numpy().copy(),
                      None if w.grad is None else w.grad.numpy().copy()))
    (xm, gam, gwm), (xt, gat, gwt) = grads
    np.testing.assert_allclose(xm, xt, rtol=1e-12)
    np.testing.assert_allclose(gam, gat, rtol=1e-12)
    if gwt is None:
        assert gwm is None or not np.any(gwm)
    else:
        np.testing.assert_allclose(gwm, gwt, rtol=1e-12)


def test_setitem_on_a_non_leaf_is_differentiable():
    for lib in (minicnn, torch):
        a = lib.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        v = lib.tensor([10.0, 20.0, 30.0], requires_grad=True)
        x = a * 2
        x[1] = v * 3
        (x * x).sum().backward()
        if lib is minicnn:
            got = a.grad.numpy().copy(), v.grad.numpy().copy(), x.detach().numpy().copy()
        else:
            want = a.grad.numpy(), v.grad.numpy(), x.detach().numpy()
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w)


def test_fill_and_zero_on_a_non_leaf_cut_the_gradient():
    a = minicnn.ones(3, requires_grad=True)
    x = a * 2
    x.zero_()
    (x + a).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1, 1, 1])


def test_inplace_gradcheck_float64():
    from minicnn.utils import gradcheck

    def f(a, w):
        x = a * 1.0
        x.mul_(w).add_(a, alpha=2.0).addcmul_(w, w, value=0.5)
        return x.exp_()

    rng = np.random.default_rng(1)
    a = minicnn.tensor(rng.uniform(0.1, 1, (3, 2)), requires_grad=True)
    w = minicnn.tensor(rng.uniform(0.1, 1, (3, 2)), requires_grad=True)
    assert gradcheck(f, (a, w))


def test_exact_numerics_of_a_handwritten_sgd_match_pytorch():
    """A PyTorch-idiom optimizer: in-place updates under no_grad, float64."""
    rng = np.random.default_rng(2)
    w0 = rng.normal(size=(4, 3))
    xs = rng.normal(size=(5, 8, 4))
    results = []
    for lib in (minicnn, torch):
        w = lib.tensor(w0, requires_grad=True)
        buf = lib.zeros_like(w)
        for x in xs:
            loss = (lib.tensor(x) @ w).pow(2).mean()
            loss.backward()
            with lib.no_grad():
                buf.mul_(0.9).add_(w.grad)
                w.sub_(buf, alpha=0.1)
                w.grad.zero_()
        results.append(w.detach().numpy().copy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


# ------------------------------------------------------------------ errors as PyTorch


def test_inplace_shape_and_dtype_errors():
    assert "doesn't match the broadcast shape [2, 3]" in _error(
        lambda: minicnn.zeros(3).add_(minicnn.ones(2, 3)))
    assert "result type Float can't be cast to the desired output type Long" in _error(
        lambda: minicnn.zeros(3, dtype=minicnn.int64).mul_(2.5))
    assert "more than one element" in _error(
        lambda: minicnn.zeros(1, 3).expand(2, 3).add_(1))


def test_float32_tensor_accepts_a_float64_operand_in_place():
    x = minicnn.ones(3)
    x.add_(minicnn.ones(3, dtype=minicnn.float64))
    assert x.dtype == minicnn.float32
    np.testing.assert_array_equal(x.numpy(), [2, 2, 2])


@pytest.mark.filterwarnings("ignore:This overload")
def test_legacy_scalar_first_overloads_warn_and_work():
    for lib in (minicnn, torch):  # torch warns once per process, so only minicnn's is checked
        x = lib.ones(3, dtype=lib.float64)
        with pytest.warns(UserWarning, match="deprecated") if lib is minicnn else _nothing():
            x.add_(-0.5, lib.ones(3, dtype=lib.float64))
        with pytest.warns(UserWarning, match="deprecated") if lib is minicnn else _nothing():
            x.addcmul_(2.0, lib.ones(3, dtype=lib.float64), lib.ones(3, dtype=lib.float64))
        np.testing.assert_array_equal(x.numpy(), [2.5, 2.5, 2.5])


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_random_fills_follow_manual_seed():
    minicnn.manual_seed(3)
    a = minicnn.empty(1000).uniform_(-2, 3)
    b = minicnn.empty(1000).normal_(1.0, 0.5)
    c = minicnn.empty(1000).bernoulli_(0.25)
    minicnn.manual_seed(3)
    np.testing.assert_array_equal(a.numpy(), minicnn.empty(1000).uniform_(-2, 3).numpy())
    assert -2 <= a.numpy().min() and a.numpy().max() < 3
    assert abs(b.numpy().mean() - 1.0) < 0.1 and abs(b.numpy().std() - 0.5) < 0.1
    assert set(np.unique(c.numpy())) <= {0.0, 1.0} and 0.15 < c.numpy().mean() < 0.35


@pytest.mark.parametrize("name,args", [("relu", ()), ("relu6", ()), ("leaky_relu", (0.2,)),
                                       ("hardtanh", (-0.5, 0.5)), ("silu", ()),
                                       ("hardswish", ())])
def test_functional_inplace_flag_writes_into_the_input(name, args):
    rng = np.random.default_rng(5)
    a_np = rng.normal(size=(3, 4)) * 4
    got = []
    for lib in (minicnn, torch):
        F = lib.nn.functional
        x = lib.tensor(a_np)
        y = getattr(F, name)(x, *args, inplace=True)
        assert y is x and x._version == 1
        a = lib.tensor(a_np, requires_grad=True)
        h = a * 1.0
        out = getattr(F, name)(h, *args, inplace=True)
        (out * out).sum().backward()
        got.append((x.numpy().copy(), a.grad.numpy().copy()))
    np.testing.assert_allclose(got[0][0], got[1][0], rtol=1e-12)
    np.testing.assert_allclose(got[0][1], got[1][1], rtol=1e-12, atol=1e-15)


def test_index_put_scatter_and_scatter_add_in_place():
    results = []
    for lib in (minicnn, torch):
        x = lib.zeros(3, 4, dtype=lib.float64)
        idx = lib.tensor([[0, 1], [2, 3], [1, 1]])
        x.scatter_(1, idx, lib.ones(3, 2, dtype=lib.float64))
        x.scatter_add_(1, idx, lib.full((3, 2), 2.0, dtype=lib.float64))
        x.index_put_((lib.tensor([0, 2]), lib.tensor([3, 0])), lib.tensor(7.0, dtype=lib.float64))
        x.index_put_((lib.tensor([1]),), lib.tensor(1.0, dtype=lib.float64), accumulate=True)
        results.append((x.numpy().copy(), x._version))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1] == 4


def test_nn_init_and_load_state_dict_count_as_inplace_changes():
    lin = nn.Linear(3, 2)
    for fill in (nn.init.zeros_, nn.init.kaiming_uniform_, nn.init.normal_,
                 nn.init.trunc_normal_, nn.init.eye_):
        before = lin.weight._version
        fill(lin.weight)
        assert lin.weight._version == before + 1
    hidden = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    loss = hidden(minicnn.ones(2, 3)).sum()
    hidden.load_state_dict(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).state_dict())
    assert VERSION_ERROR in _error(loss.backward)
