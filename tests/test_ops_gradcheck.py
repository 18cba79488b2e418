"""Layer 1 of the test plan (docs: DESIGN.md, "Tests, in layers"): every op's backward against
central differences, with :func:`minicnn.utils.gradcheck` in float64.

Inputs are drawn by hypothesis (every dimension 1..4, at most 3 dimensions, so numerical
differentiation stays fast) and kept away from kinks: relu/leaky_relu/abs at 0, clamp bounds,
tied maxima, log/sqrt near 0. The last section checks that gradcheck itself can fail.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn
from minicnn.utils import GradcheckError, gradcheck

F = minicnn.nn.functional

seeds = st.integers(0, 2 ** 32 - 1)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
shapes_nd = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
broadcast_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                    min_side=1, max_side=4)


# ---------------------------------------------------------------- value domains (float64)

def real(rng, shape):
    return np.asarray(rng.standard_normal(shape) * 2)


def positive(rng, shape):
    return np.asarray(rng.uniform(0.3, 3.0, shape))


def away(*kinks, gap=0.05):
    """Normal values pushed at least ``gap`` (>> gradcheck's eps) away from every kink."""
    def draw(rng, shape):
        x = real(rng, shape)
        for k in kinks:
            d = x - k
            x = np.where(np.abs(d) < gap, k + np.where(d >= 0, 1, -1) * (gap + np.abs(d)), x)
        return np.asarray(x)
    return draw


def distinct(rng, shape):
    """No ties: values at least 0.1 apart, so the arg-extreme never flips within eps."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.1 - 0.05 * n + rng.uniform(0, 0.01, n)).reshape(shape)


def leaf(array, device="cpu"):
    return minicnn.tensor(np.asarray(array, dtype=np.float64), requires_grad=True, device=device)


def check(fn, *arrays, device="cpu"):
    """gradcheck ``fn`` at float64 leaves made from ``arrays``; it must return True."""
    assert gradcheck(fn, [leaf(a, device) for a in arrays]) is True


# ---------------------------------------------------------------- elementwise unary ops

UNARY = [
    ("neg", lambda x: -x, real, False),
    ("exp", minicnn.exp, real, False),
    ("exp_method", lambda x: x.exp(), real, False),
    ("log", minicnn.log, positive, False),
    ("log_method", lambda x: x.log(), positive, False),
    ("sqrt", minicnn.sqrt, positive, False),
    ("sqrt_method", lambda x: x.sqrt(), positive, False),
    ("abs", minicnn.abs, away(0), False),
    ("abs_method", lambda x: x.abs(), away(0), False),
    ("clamp_min", lambda x: minicnn.clamp(x, min=-0.5), away(-0.5), False),
    ("clamp_max", lambda x: minicnn.clamp(x, max=0.7), away(0.7), False),
    ("clamp_both", lambda x: minicnn.clamp(x, -0.5, 0.7), away(-0.5, 0.7), False),
    ("clamp_method", lambda x: x.clamp(min=-1.0, max=1.0), away(-1, 1), False),
    ("clip", lambda x: minicnn.clip(x, -0.3, 0.4), away(-0.3, 0.4), False),
    ("pow_2", lambda x: x ** 2, real, False),
    ("pow_3", lambda x: x ** 3, real, False),
    ("pow_0", lambda x: x ** 0, real, False),
    ("pow_neg_int", lambda x: x ** -2, away(0, gap=0.3), False),
    ("pow_half", lambda x: x ** 0.5, positive, False),
    ("pow_neg_frac", lambda x: x ** -1.5, positive, False),
    ("pow_fn", lambda x: minicnn.pow(x, 3), real, False),
    ("rpow", lambda x: 2.0 ** x, real, False),
    ("rpow_int", lambda x: 3 ** x, real, False),
    ("add_scalar", lambda x: x + 2.5, real, False),
    ("radd_scalar", lambda x: 2.5 + x, real, False),
    ("sub_scalar", lambda x: x - 1.5, real, False),
    ("rsub_scalar", lambda x: 1.5 - x, real, False),
    ("mul_scalar", lambda x: x * 3.0, real, False),
    ("rmul_scalar", lambda x: -3 * x, real, False),
    ("div_scalar", lambda x: x / 4.0, real, False),
    ("rdiv_scalar", lambda x: 2.0 / x, away(0, gap=0.3), False),
    ("relu", minicnn.relu, away(0), True),
    ("relu_method", lambda x: x.relu(), away(0), True),
    ("leaky_relu_default", F.leaky_relu, away(0), True),
    ("leaky_relu_0.2", lambda x: F.leaky_relu(x, 0.2), away(0), True),
    ("leaky_relu_1.5", lambda x: F.leaky_relu(x, negative_slope=1.5), away(0), True),
    ("sigmoid", minicnn.sigmoid, real, True),
    ("sigmoid_method", lambda x: x.sigmoid(), real, True),
    ("tanh", minicnn.tanh, real, True),
    ("tanh_method", lambda x: x.tanh(), real, True),
    ("gelu", F.gelu, real, True),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), real, True),
    ("silu", F.silu, real, True),
    ("hardtanh", lambda x: F.hardtanh(x, -0.5, 0.7), away(-0.5, 0.7), False),
    ("relu6", lambda x: F.relu6(x * 8), away(0, 0.75), False),
]


def _unary_params():
    for name, fn, domain, is_act in UNARY:
        for device in (("cpu", "numpy") if is_act else ("cpu",)):
            yield pytest.param(name, fn, domain, device, id=f"{name}-{device}")


@pytest.mark.parametrize("name,fn,domain,device", list(_unary_params()))
@given(shape=shapes, seed=seeds)
def test_unary(name, fn, domain, device, shape, seed):
    check(fn, domain(np.random.default_rng(seed), shape), device=device)


# ---------------------------------------------------------------- binary ops with broadcasting

BINARY = [
    ("add", lambda a, b: a + b, real, real),
    ("sub", lambda a, b: a - b, real, real),
    ("mul", lambda a, b: a * b, real, real),
    ("div", lambda a, b: a / b, real, away(0, gap=0.3)),
    ("pow", lambda a, b: a ** b, positive, real),
    ("add_fn", minicnn.add, real, real),
    ("sub_fn", minicnn.sub, real, real),
    ("mul_fn", minicnn.mul, real, real),
    ("div_fn", minicnn.div, real, away(0, gap=0.3)),
    ("pow_fn", minicnn.pow, positive, real),
    ("reused_input", lambda a, b: a * b + a / (b * b + 1.0), real, real),
]


@pytest.mark.parametrize("name,fn,da,db", BINARY, ids=[b[0] for b in BINARY])
@given(shape_pair=broadcast_pairs, seed=seeds)
def test_binary_broadcasting(name, fn, da, db, shape_pair, seed):
    """Both gradients, summed back over broadcast dimensions (0-d operands included)."""
    rng = np.random.default_rng(seed)
    sa, sb = shape_pair.input_shapes
    check(fn, da(rng, sa), db(rng, sb))


@pytest.mark.parametrize("shapes_", [((3, 1, 4), (2, 4)), ((), (2, 3)), ((2, 3), ()),
                                     ((4, 1), (1, 3))])
@pytest.mark.parametrize("name,fn,da,db", BINARY[:5], ids=[b[0] for b in BINARY[:5]])
def test_binary_broadcasting_fixed(name, fn, da, db, shapes_, rng):
    check(fn, da(rng, shapes_[0]), db(rng, shapes_[1]))


@pytest.mark.parametrize("name,fn,da,db", BINARY[:5], ids=[b[0] for b in BINARY[:5]])
@given(shape=shapes, seed=seeds)
def test_binary_one_input_requires_grad(name, fn, da, db, shape, seed):
    """Only the input that requires grad is checked; the other is a constant tensor."""
    rng = np.random.default_rng(seed)
    const = minicnn.tensor(db(rng, shape))
    assert gradcheck(lambda a: fn(a, const), [leaf(da(rng, shape))])
    const = minicnn.tensor(da(rng, shape))
    assert gradcheck(lambda b: fn(const, b), [leaf(db(rng, shape))])


# ---------------------------------------------------------------- matmul

MATMUL_LAYOUTS = {
    "1d@1d": lambda b, n, k, m: ((k,), (k,)),
    "1d@2d": lambda b, n, k, m: ((k,), (k, m)),
    "2d@1d": lambda b, n, k, m: ((n, k), (k,)),
    "2d@2d": lambda b, n, k, m: ((n, k), (k, m)),
    "3d@3d": lambda b, n, k, m: ((b, n, k), (b, k, m)),
    "bcast_batch": lambda b, n, k, m: ((2, 1, n, k), (b, k, m)),
    "3d@2d": lambda b, n, k, m: ((b, n, k), (k, m)),
    "1d@3d": lambda b, n, k, m: ((k,), (b, k, m)),
    "3d@1d": lambda b, n, k, m: ((b, n, k), (k,)),
}


@pytest.mark.parametrize("layout", list(MATMUL_LAYOUTS))
@given(sizes=st.tuples(*[st.integers(1, 3)] * 4), seed=seeds)
def test_matmul(layout, sizes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = MATMUL_LAYOUTS[layout](*sizes)
    check(lambda a, b: a @ b, real(rng, sa), real(rng, sb))


def test_matmul_documented_batch_broadcast(rng):
    check(minicnn.matmul, real(rng, (2, 1, 3, 4)), real(rng, (5, 4, 2)))


# ---------------------------------------------------------------- reductions

@st.composite
def shape_and_dim(draw, min_dims=0, allow_none=True):
    """A shape and a ``dim`` for it: None, an int, a negative int or a tuple."""
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=1, max_side=4))
    nd = len(shape)
    kind = draw(st.sampled_from((["none"] if allow_none else []) + ["int", "neg", "tuple"]))
    if kind == "none":
        return shape, None
    if nd == 0:
        d = draw(st.sampled_from([0, -1]))
        return shape, ((d,) if kind == "tuple" else d)
    if kind == "int":
        return shape, draw(st.integers(0, nd - 1))
    if kind == "neg":
        return shape, draw(st.integers(-nd, -1))
    return shape, tuple(draw(st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=nd,
                                      unique_by=lambda d: d % nd)))


def _count(shape, dim):
    if dim is None or not shape:
        return int(np.prod(shape))
    dims = dim if isinstance(dim, tuple) else (dim,)
    return int(np.prod([shape[d] for d in dims]))


CORRECTED = [("var", {}), ("var", {"unbiased": False}), ("var", {"correction": 2}),
             ("std", {}), ("std", {"unbiased": False}), ("std", {"correction": 2})]
REDUCTIONS = [
    ("sum", lambda x, d, k: minicnn.sum(x, d, k), real),
    ("sum_method", lambda x, d, k: x.sum(dim=d, keepdim=k), real),
    ("mean", lambda x, d, k: minicnn.mean(x, d, k), real),
    ("mean_method", lambda x, d, k: x.mean(dim=d, keepdim=k), real),
    ("amax", lambda x, d, k: minicnn.amax(x, d, k), distinct),
    ("amin_method", lambda x, d, k: x.amin(dim=d, keepdim=k), distinct),
] + [
    (f"{op}_{'_'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}",
     (lambda op, kw: lambda x, d, k: getattr(minicnn, op)(x, dim=d, keepdim=k, **kw))(op, kw),
     real)
    for op, kw in CORRECTED
]


@pytest.mark.parametrize("name,fn,domain", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@given(sd=shape_and_dim(), keepdim=st.booleans(), seed=seeds)
def test_reduction(name, fn, domain, sd, keepdim, seed):
    shape, dim = sd
    if name.startswith(("var", "std")):
        correction = 2 if "=2" in name else 0 if "False" in name else 1
        assume(_count(shape, dim) > max(correction, 1 if name.startswith("std") else 0))
    check(lambda x: fn(x, dim, keepdim), domain(np.random.default_rng(seed), shape))


@pytest.mark.parametrize("op", ["max", "min"])
@given(shape=shapes, seed=seeds, method=st.booleans())
def test_max_min_without_dim(op, shape, seed, method):
    fn = (lambda x: getattr(x, op)()) if method else getattr(minicnn, op)
    check(fn, distinct(np.random.default_rng(seed), shape))


@pytest.mark.parametrize("op", ["max", "min"])
@given(sd=shape_and_dim(allow_none=False), keepdim=st.booleans(), seed=seeds)
def test_max_min_with_dim(op, sd, keepdim, seed):
    """The values of the (values, indices) pair; gradcheck ignores the int64 indices."""
    shape, dim = sd
    dim = dim[0] if isinstance(dim, tuple) else dim
    check(lambda x: getattr(minicnn, op)(x, dim, keepdim), distinct(np.random.default_rng(seed),
                                                                    shape))
    check(lambda x: getattr(x, op)(dim, keepdim).values * 1.0,
          distinct(np.random.default_rng(seed), shape))


# ---------------------------------------------------------------- shape ops

@st.composite
def reshape_case(draw):
    shape = draw(shapes)
    target = list(draw(st.permutations(list(shape))))
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return shape, tuple(target)


@st.composite
def flatten_case(draw):
    shape = draw(shapes_nd)
    nd = len(shape)
    s, e = sorted(draw(st.lists(st.integers(0, nd - 1), min_size=2, max_size=2)))
    return shape, (s - nd if draw(st.booleans()) else s, e - nd if draw(st.booleans()) else e)


@st.composite
def two_dims_case(draw):
    shape = draw(shapes_nd)
    nd = len(shape)
    return shape, (draw(st.integers(-nd, nd - 1)), draw(st.integers(-nd, nd - 1)))


@st.composite
def permute_case(draw):
    shape = draw(shapes_nd)
    return shape, tuple(draw(st.permutations(range(len(shape)))))


@st.composite
def squeeze_case(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=2))
    nd = len(shape)
    if nd == 0 or draw(st.booleans()):
        return shape, None
    return shape, draw(st.integers(-nd, nd - 1))


@st.composite
def unsqueeze_case(draw):
    shape = draw(shapes)
    return shape, draw(st.integers(-len(shape) - 1, len(shape)))


@st.composite
def expand_case(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    target = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 1)))]
    for n in shape:
        target.append(-1 if draw(st.booleans()) else draw(st.integers(1, 3)) if n == 1 else n)
    return shape, tuple(target)


def _just(shape_strategy):
    return st.tuples(shape_strategy, st.just(None))


SHAPE_OPS = [
    ("reshape", reshape_case(), lambda x, a: x.reshape(a)),
    ("view", reshape_case(), lambda x, a: x.view(a)),
    ("flatten", flatten_case(), lambda x, a: x.flatten(*a)),
    ("flatten_all", _just(shapes), lambda x, a: minicnn.flatten(x)),
    ("transpose", two_dims_case(), lambda x, a: x.transpose(*a)),
    ("permute", permute_case(), lambda x, a: x.permute(*a)),
    ("squeeze", squeeze_case(), lambda x, a: x.squeeze(a)),
    ("unsqueeze", unsqueeze_case(), lambda x, a: x.unsqueeze(a)),
    ("expand", expand_case(), lambda x, a: x.expand(a)),
    ("T", _just(shapes), lambda x, a: x.T),
    ("contiguous", _just(shapes_nd), lambda x, a: x.transpose(0, -1).contiguous() * 2.0),
    ("clone", _just(shapes), lambda x, a: x.clone() * x),
]


@pytest.mark.parametrize("name,case,fn", SHAPE_OPS, ids=[s[0] for s in SHAPE_OPS])
@given(data=st.data(), seed=seeds)
def test_shape_op(name, case, fn, data, seed):
    shape, args = data.draw(case)
    check(lambda x: fn(x, args), real(np.random.default_rng(seed), shape))


INDICES = [
    ("ints", (1, -2)),
    ("slices_steps", (slice(None, None, 2), slice(1, None, 2))),
    ("none_ellipsis", (None, Ellipsis, 1)),
    ("list_repeated", [0, 2, 0, 0, -1]),
    ("int64_array_repeated", np.array([[3, 1], [3, 3]], dtype=np.int64)),
    ("mc_tensor_repeated", "tensor"),
    ("mixed_list_slice", ([0, 2, 2], slice(1, 3))),
    ("two_lists", ([0, 0, 3], [1, 1, 4])),
    ("bool_mask", "mask"),
    ("bool_mask_first_dim", np.array([True, False, True, True])),
]


@pytest.mark.parametrize("name,index", INDICES, ids=[i[0] for i in INDICES])
@given(seed=seeds)
def test_getitem(name, index, seed):
    rng = np.random.default_rng(seed)
    if isinstance(index, str) and index == "tensor":
        index = minicnn.tensor(np.array([1, 1, 2, 1], dtype=np.int64))
    elif isinstance(index, str) and index == "mask":
        index = minicnn.tensor(rng.random((4, 5, 3)) < 0.5)
    check(lambda x: x[index], real(rng, (4, 5, 3)))


@pytest.mark.parametrize("op", ["cat", "stack"])
@given(data=st.data(), seed=seeds)
def test_cat_stack(op, data, seed):
    shape = data.draw(shapes_nd if op == "cat" else shapes, label="shape")
    nd = len(shape)
    n = data.draw(st.integers(1, 3), label="count")
    if op == "cat":
        dim = data.draw(st.integers(-nd, nd - 1), label="dim")
        sizes = [data.draw(st.integers(1, 3)) for _ in range(n)]
        shapes_ = [shape[:dim % nd] + (s,) + shape[dim % nd + 1:] for s in sizes]
    else:
        dim = data.draw(st.integers(-nd - 1, nd), label="dim")
        shapes_ = [shape] * n
    rng = np.random.default_rng(seed)
    check(lambda *xs: getattr(minicnn, op)(xs, dim), *[real(rng, s) for s in shapes_])


@st.composite
def pad_case(draw, mode):
    if mode == "constant":
        shape = draw(shapes_nd)
        k = draw(st.integers(1, len(shape)))
    else:
        nd = draw(st.sampled_from([2, 3]))
        shape = draw(hnp.array_shapes(min_dims=nd, max_dims=nd, min_side=1, max_side=3))
        k = draw(st.integers(1, nd - 1))
    pad = []
    for n in reversed(shape[-k:]):
        if mode == "constant":  # negative amounts crop
            lo = draw(st.integers(-(n - 1), 2))
            pad += [lo, draw(st.integers(-(n - 1 + min(lo, 0)), 2))]
        else:
            limit = {"reflect": n - 1, "replicate": n + 1, "circular": n}[mode]
            pad += [draw(st.integers(0, limit)), draw(st.integers(0, limit))]
    return shape, tuple(pad)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@given(data=st.data(), seed=seeds)
def test_pad(mode, data, seed):
    shape, pad = data.draw(pad_case(mode))
    value = 1.5 if mode == "constant" else 0.0
    check(lambda x: F.pad(x, pad, mode=mode, value=value), real(np.random.default_rng(seed), shape))


# ---------------------------------------------------------------- softmax family, conversions

SOFTMAX = [
    ("softmax", minicnn.softmax),
    ("softmax_method", lambda x, d: x.softmax(d)),
    ("log_softmax", F.log_softmax),
    ("log_softmax_method", lambda x, d: x.log_softmax(d)),
]


@pytest.mark.parametrize("device", ["cpu", "numpy"])
@pytest.mark.parametrize("name,fn", SOFTMAX, ids=[s[0] for s in SOFTMAX])
@given(sd=shape_and_dim(allow_none=False), seed=seeds)
def test_softmax_family(name, fn, device, sd, seed):
    shape, dim = sd
    dim = dim[0] if isinstance(dim, tuple) else dim
    check(lambda x: fn(x, dim), real(np.random.default_rng(seed), shape), device=device)


@pytest.mark.parametrize("name,fn", SOFTMAX, ids=[s[0] for s in SOFTMAX])
def test_softmax_family_shifted_far(name, fn, rng):
    """Inputs around 1000: the gradient is still right (nothing overflowed)."""
    check(lambda x: fn(x, -1), real(rng, (3, 4)) + 1000.0)


@given(shape=shapes, seed=seeds)
def test_device_roundtrip(shape, seed):
    """cpu -> "numpy" -> cpu: the gradient flows back through both conversions."""
    check(lambda x: minicnn.tanh(x.to("numpy")).to("cpu") * 2.0,
          real(np.random.default_rng(seed), shape))


def test_composite_graph(rng):
    """Several ops in one graph, one input used on several paths."""
    def fn(x, w):
        h = minicnn.tanh(x @ w)
        return (h.softmax(-1) * h).sum(dim=0) + x.amax(dim=1).mean()
    check(fn, distinct(rng, (3, 4)), real(rng, (4, 2)))


# ---------------------------------------------------------------- gradcheck itself

class SquareWrongGrad(minicnn.Function):
    """x ** 2 with the backward of x ** 2 / 2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x


class MulWrongSecond(minicnn.Function):
    """a * b with a correct gradient for a and a wrong one (off by one element) for b."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        gb = g * a
        gb[1, 2] += 1.0
        return g * b, gb


class ForgetsGradient(minicnn.Function):
    """exp(x) with a zero gradient."""

    @staticmethod
    def forward(ctx, x):
        return np.exp(x)

    @staticmethod
    def backward(ctx, g):
        return np.zeros_like(g)


class SquareRightGrad(minicnn.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * g * x


def test_gradcheck_passes_a_correct_function(rng):
    assert gradcheck(SquareRightGrad.apply, [leaf(real(rng, (2, 3)))]) is True


def test_gradcheck_fails_a_wrong_backward(rng):
    with pytest.raises(GradcheckError, match=r"input 0 .*at index \("):
        gradcheck(SquareWrongGrad.apply, [leaf(away(0, gap=0.5)(rng, (2, 3)))])


def test_gradcheck_fails_a_zero_backward(rng):
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(ForgetsGradient.apply, [leaf(real(rng, (3,)))])


def test_gradcheck_names_the_input_and_index(rng):
    """Only b's gradient is wrong, and only at (1, 2): the error says input 1, index (1, 2)."""
    a, b = leaf(real(rng, (2, 3))), leaf(real(rng, (2, 3)))
    with pytest.raises(GradcheckError) as info:
        gradcheck(MulWrongSecond.apply, [a, b])
    message = str(info.value)
    assert "input 1" in message and "(1, 2)" in message
    assert "input 0" not in message


def test_gradcheck_wrong_function_inside_a_graph(rng):
    """A wrong Function deep in a composite graph is still caught."""
    with pytest.raises(GradcheckError):
        gradcheck(lambda x: minicnn.tanh(SquareWrongGrad.apply(x * 2.0)).sum(dim=0),
                  [leaf(away(0, gap=0.5)(rng, (3, 2)))])


def test_gradcheck_rejects_float32(rng):
    x = minicnn.tensor(real(rng, (3,)).astype(np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(minicnn.exp, [x])


def test_gradcheck_rejects_float32_among_inputs(rng):
    a = leaf(real(rng, (3,)))
    b = minicnn.tensor(real(rng, (3,)).astype(np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="input 1"):
        gradcheck(lambda a, b: a * b.double(), [a, b])


def test_gradcheck_leaves_inputs_alone(rng):
    values = real(rng, (2, 3))
    x = leaf(values)
    assert gradcheck(minicnn.tanh, [x])
    assert x.grad is None
    np.testing.assert_array_equal(x.detach().numpy(), values)
