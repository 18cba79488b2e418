"""The Tensor-API ops of issue 15 against PyTorch: trigonometric and rounding functions, where,
masked_fill, bmm, add/sub with alpha, addcmul/addcdiv, lerp, index_put, comparisons,
swapaxes/repeat/repeat_interleave/meshgrid, normal and the creation functions, and the ``axis=``
alias of the reductions.

Most tables hold ``fn(L, *xs)`` written once for both libraries (``L`` is minicnn or torch).
:func:`agree` runs it on both with the same inputs and compares the values and the gradients of
a random upstream gradient, in float32 and float64; gradients are also checked by central
differences in float64 (:func:`minicnn.utils.gradcheck`), with inputs away from kinks.
"""
import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn
from minicnn import ops

from helpers import agree_with_torch, check_grad, f32, run

# the `torch` fixture only returns the module, so reusing it across examples is harmless
HSET = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
agree = functools.partial(agree_with_torch, tols=TOL)

seeds = st.integers(0, 2 ** 32 - 1)
dtypes = st.sampled_from(DTYPES)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4)
triples = hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=4)


# ---------------------------------------------------------------- helpers

def real(rng, shape):
    return np.asarray(rng.standard_normal(shape) * 2)


def positive(rng, shape):
    return np.asarray(rng.uniform(0.5, 3.0, shape))


# ---------------------------------------------------------------- trigonometric and hyperbolic

UNARY = [
    ("sin", lambda L, x: L.sin(x), real),
    ("cos", lambda L, x: L.cos(x), real),
    ("tan", lambda L, x: L.tan(x), lambda rng, s: np.asarray(rng.uniform(-1.3, 1.3, s))),
    ("sinh", lambda L, x: L.sinh(x), real),
    ("cosh", lambda L, x: L.cosh(x), real),
]


@pytest.mark.parametrize("name, fn, domain", UNARY, ids=[u[0] for u in UNARY])
@HSET
@given(shape=shapes, seed=seeds, dtype=dtypes)
def test_unary_matches_torch(torch, name, fn, domain, shape, seed, dtype):
    agree(torch, fn, domain(np.random.default_rng(seed), shape), dtype=dtype)


@pytest.mark.parametrize("name, fn, domain", UNARY, ids=[u[0] for u in UNARY])
def test_unary_gradcheck(name, fn, domain):
    check_grad(fn, domain(np.random.default_rng(1), (2, 3)))


@pytest.mark.parametrize("name", ["sin", "cos", "tan", "sinh", "cosh"])
def test_unary_integer_input_gives_float32(torch, name):
    x = np.array([0, 1, -2])
    y = getattr(minicnn, name)(minicnn.tensor(x))
    assert y.dtype == minicnn.float32
    np.testing.assert_allclose(y.numpy(), getattr(torch, name)(torch.tensor(x)).numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["sin", "cos", "tan", "sinh", "cosh", "floor", "ceil", "round",
                                  "sign"])
def test_unary_rejects_non_tensor(name):
    with pytest.raises(TypeError, match=rf"{name}\(\): argument 'input' \(position 1\) must be "
                                        r"Tensor, not list"):
        getattr(minicnn, name)([1.0, 2.0])


@HSET
@given(shapes=pairs, seed=seeds, dtype=dtypes)
def test_atan2_matches_torch(torch, shapes, seed, dtype):
    rng = np.random.default_rng(seed)
    a, b = (np.asarray(real(rng, s) + 0.1) for s in shapes.input_shapes)
    agree(torch, lambda L, y, x: L.atan2(y, x), a, b, dtype=dtype)


def test_atan2_gradcheck_and_quadrants(torch):
    check_grad(lambda L, y, x: L.atan2(y, x), np.array([1.0, -1.0, 2.0, -0.5]),
               np.array([[1.5], [-2.0]]))
    y, x = np.array([1.0, 1.0, -1.0, -1.0, 0.0]), np.array([1.0, -1.0, -1.0, 1.0, -1.0])
    got = minicnn.atan2(minicnn.tensor(y), minicnn.tensor(x)).numpy()
    np.testing.assert_allclose(got, torch.atan2(torch.tensor(y), torch.tensor(x)).numpy(),
                               rtol=1e-6)


def test_atan2_errors():
    x = f32(2, 3)
    with pytest.raises(TypeError,
                       match=r"argument 'other' \(position 2\) must be Tensor, not float"):
        minicnn.atan2(x, 1.0)
    with pytest.raises(TypeError, match=r"argument 'input' \(position 1\)"):
        minicnn.atan2(1.0, x)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        minicnn.atan2(x, f32(4))
    with pytest.raises(TypeError, match="dtype"):
        minicnn.atan2(x, x.double())


# ---------------------------------------------------------------- rounding

ROUNDING = [
    ("floor", lambda L, x: L.floor(x)),
    ("ceil", lambda L, x: L.ceil(x)),
    ("round", lambda L, x: L.round(x)),
    ("round_2", lambda L, x: L.round(x, decimals=2)),
    ("round_-1", lambda L, x: L.round(x, decimals=-1)),
    ("sign", lambda L, x: L.sign(x)),
]


@pytest.mark.parametrize("name, fn", ROUNDING, ids=[r[0] for r in ROUNDING])
@HSET
@given(shape=shapes, seed=seeds, dtype=dtypes)
def test_rounding_matches_torch_with_zero_gradient(torch, name, fn, shape, seed, dtype):
    rng = np.random.default_rng(seed)
    x = np.asarray(real(rng, shape) * 30)
    agree(torch, fn, x, dtype=dtype, tol=dict(rtol=0, atol=0))
    _, (g,) = run(minicnn, fn, [x], dtype)
    assert g.shape == x.shape and not g.any()  # zero, not None, as in PyTorch


@pytest.mark.parametrize("dtype", DTYPES)
def test_rounding_special_values(torch, dtype):
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 2.675, -0.0, np.nan, np.inf, -np.inf], dtype)
    for fn in (lambda L, t: L.round(t), lambda L, t: L.round(t, decimals=2),
               lambda L, t: L.sign(t), lambda L, t: L.floor(t), lambda L, t: L.ceil(t)):
        np.testing.assert_array_equal(fn(minicnn, minicnn.tensor(x)).numpy(),
                                      fn(torch, torch.tensor(x)).numpy())


def test_rounding_integer_and_bool_tensors(torch):
    i = np.array([3, -2, 0])
    for name in ("floor", "ceil", "round", "sign"):
        got = getattr(minicnn, name)(minicnn.tensor(i))
        assert got.dtype == minicnn.int64
        np.testing.assert_array_equal(got.numpy(), getattr(torch, name)(torch.tensor(i)).numpy())
    b = np.array([True, False])
    np.testing.assert_array_equal(minicnn.sign(minicnn.tensor(b)).numpy(), b)
    with pytest.raises(NotImplementedError):
        minicnn.round(minicnn.tensor(i), decimals=1)
    with pytest.raises(TypeError, match="decimals"):
        minicnn.round(f32(2), decimals=1.5)
    with pytest.raises(TypeError):
        minicnn.round(f32(2), 2)  # decimals is keyword-only, as in PyTorch


# ---------------------------------------------------------------- where

@HSET
@given(shapes=triples, seed=seeds, dtype=dtypes)
def test_where_matches_torch(torch, shapes, seed, dtype):
    rng = np.random.default_rng(seed)
    sc, sa, sb = shapes.input_shapes
    cond = rng.random(sc) < 0.5
    agree(torch, lambda L, c, a, b: L.where(c, a, b), np.asarray(cond), real(rng, sa),
          real(rng, sb), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_where_with_numbers(torch, dtype):
    rng = np.random.default_rng(3)
    c, x = rng.random((3, 4)) < 0.5, real(rng, (3, 4))
    agree(torch, lambda L, c, x: L.where(c, x, 0.5), c, x, dtype=dtype)
    agree(torch, lambda L, c, x: L.where(c, -2, x), c, x, dtype=dtype)
    for a, b in ((1.0, 0.0), (1, 0), (1, 0.5), (True, False)):
        got = minicnn.where(minicnn.tensor(c), a, b)
        want = torch.where(torch.tensor(c), a, b)
        assert str(got.dtype) == str(want.dtype).replace("torch.", "")
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_where_gradcheck():
    rng = np.random.default_rng(4)
    c = rng.random((3, 1)) < 0.5
    check_grad(lambda L, c, a, b: L.where(c, a, b), c, real(rng, (3, 4)), real(rng, (4,)))


@pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 1, 3), ()])
def test_where_one_argument_gives_nonzero_indices(torch, shape):
    rng = np.random.default_rng(5)
    for value in (rng.random(shape) < 0.5, rng.integers(0, 2, shape), np.ones(shape, bool)):
        got = minicnn.where(minicnn.tensor(value))
        want = torch.where(torch.tensor(value))
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == minicnn.int64
            np.testing.assert_array_equal(g.numpy(), w.numpy())


def test_where_errors():
    x, c = f32(2, 3), f32(2, 3) > 0
    with pytest.raises(RuntimeError, match="where expected condition to be a boolean tensor"):
        minicnn.where(x, x, x)
    with pytest.raises(TypeError, match=r"argument 'condition' \(position 1\) must be Tensor"):
        minicnn.where([True], x, x)
    with pytest.raises(TypeError, match=r"argument 'other' \(position 3\)"):
        minicnn.where(c, x, "a")
    with pytest.raises(TypeError, match=r"argument 'input' \(position 2\)"):
        minicnn.where(c, [1.0], x)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        minicnn.where(c, x, f32(4))
    with pytest.raises(TypeError, match="dtype"):  # no float32/float64 promotion
        minicnn.where(c, x, x.double())


# ---------------------------------------------------------------- masked_fill

@HSET
@given(shapes=pairs, seed=seeds, dtype=dtypes)
def test_masked_fill_matches_torch(torch, shapes, seed, dtype):
    rng = np.random.default_rng(seed)
    sx, sm = shapes.input_shapes
    mask = np.asarray(rng.random(sm) < 0.5)
    agree(torch, lambda L, x, m: L.masked_fill(x, m, -1.5), real(rng, sx), mask, dtype=dtype)
    # a 0-d value tensor gets the gradient summed over the filled positions
    agree(torch, lambda L, x, m, v: L.masked_fill(x, m, v), real(rng, sx), mask,
          np.asarray(rng.standard_normal()), dtype=dtype)


def test_masked_fill_gradcheck_and_integer_input(torch):
    rng = np.random.default_rng(6)
    m = rng.random((3, 4)) < 0.5
    check_grad(lambda L, x, m, v: L.masked_fill(x, m, v), real(rng, (3, 4)), m, np.asarray(0.3))
    i = rng.integers(-5, 5, (3, 4))
    got = minicnn.masked_fill(minicnn.tensor(i), minicnn.tensor(m), 7)
    assert got.dtype == minicnn.int64
    np.testing.assert_array_equal(got.numpy(),
                                  torch.masked_fill(torch.tensor(i), torch.tensor(m), 7).numpy())


def test_masked_fill_errors():
    x = f32(2, 3)
    with pytest.raises(RuntimeError, match="only supports boolean masks"):
        minicnn.masked_fill(x, minicnn.ones(2, 3, dtype=minicnn.int64), 1.0)
    with pytest.raises(RuntimeError, match="0-dimensional value tensor"):
        minicnn.masked_fill(x, x > 0, minicnn.ones(2))
    with pytest.raises(TypeError, match=r"argument 'mask' \(position 2\)"):
        minicnn.masked_fill(x, [True], 1.0)
    with pytest.raises(TypeError, match=r"argument 'value' \(position 3\)"):
        minicnn.masked_fill(x, x > 0, "a")
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        minicnn.masked_fill(x, minicnn.ones(4, dtype=minicnn.bool), 1.0)


# ---------------------------------------------------------------- bmm

@HSET
@given(b=st.integers(1, 3), n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4),
       seed=seeds, dtype=dtypes)
def test_bmm_matches_torch(torch, b, n, k, m, seed, dtype):
    rng = np.random.default_rng(seed)
    agree(torch, lambda L, x, y: L.bmm(x, y), real(rng, (b, n, k)), real(rng, (b, k, m)),
          dtype=dtype, tol=dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else None)


def test_bmm_gradcheck():
    rng = np.random.default_rng(7)
    check_grad(lambda L, x, y: L.bmm(x, y), real(rng, (2, 3, 4)), real(rng, (2, 4, 2)))


def test_bmm_errors():
    with pytest.raises(RuntimeError, match="batch1 must be a 3D tensor"):
        minicnn.bmm(f32(3, 4), f32(2, 4, 5))
    with pytest.raises(RuntimeError, match="batch2 must be a 3D tensor"):
        minicnn.bmm(f32(2, 3, 4), f32(2, 4, 5, 1))
    with pytest.raises(RuntimeError, match=r"batch2 tensor to be: \[2, 4\] but got: \[3, 4\]"):
        minicnn.bmm(f32(2, 3, 4), f32(3, 4, 5))
    with pytest.raises(RuntimeError, match=r"to be: \[2, 4\] but got: \[2, 5\]"):
        minicnn.bmm(f32(2, 3, 4), f32(2, 5, 5))
    with pytest.raises(TypeError, match=r"argument 'mat2' \(position 2\) must be Tensor, not list"):
        minicnn.bmm(f32(2, 3, 4), [1])
    with pytest.raises(TypeError, match="dtype"):
        minicnn.bmm(f32(2, 3, 4), f32(2, 4, 5).double())


# ---------------------------------------------------------------- add/sub with alpha, rsub

ALPHA = [
    ("add_alpha", lambda L, a, b: L.add(a, b, alpha=2.5)),
    ("add_alpha_int", lambda L, a, b: L.add(a, b, alpha=-3)),
    ("sub_alpha", lambda L, a, b: L.sub(a, b, alpha=0.5)),
    ("rsub", lambda L, a, b: L.rsub(a, b)),
    ("rsub_alpha", lambda L, a, b: L.rsub(a, b, alpha=2)),
    ("add_number", lambda L, a, b: L.add(a, 1.5, alpha=2) + b),
    ("rsub_number", lambda L, a, b: L.rsub(a, 3.0, alpha=0.25) * b),
]


@pytest.mark.parametrize("name, fn", ALPHA, ids=[a[0] for a in ALPHA])
@HSET
@given(shapes=pairs, seed=seeds, dtype=dtypes)
def test_alpha_ops_match_torch(torch, name, fn, shapes, seed, dtype):
    rng = np.random.default_rng(seed)
    a, b = (real(rng, s) for s in shapes.input_shapes)
    agree(torch, fn, a, b, dtype=dtype)


def test_alpha_gradcheck_and_integers(torch):
    rng = np.random.default_rng(8)
    check_grad(lambda L, a, b: L.sub(a, b, alpha=1.5), real(rng, (2, 3)), real(rng, (3,)))
    i, j = np.array([1, 2, 3]), np.array([4, 5, 6])
    got = minicnn.add(minicnn.tensor(i), minicnn.tensor(j), alpha=3)
    assert got.dtype == minicnn.int64
    np.testing.assert_array_equal(got.numpy(), torch.add(torch.tensor(i), torch.tensor(j),
                                                         alpha=3).numpy())


def test_alpha_errors():
    i = minicnn.tensor([1, 2])
    with pytest.raises(RuntimeError, match="alpha must not be a floating point number"):
        minicnn.add(i, i, alpha=2.5)
    with pytest.raises(TypeError, match="alpha"):
        minicnn.sub(f32(2), f32(2), alpha="2")
    with pytest.raises(TypeError):
        minicnn.add(f32(2), f32(2), 2)  # alpha is keyword-only
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        minicnn.add(f32(2, 3), f32(4), alpha=2)
    with pytest.raises(TypeError, match=r"rsub\(\): argument 'input'"):
        minicnn.rsub(1.0, f32(2))


# ---------------------------------------------------------------- addcmul, addcdiv, lerp

@HSET
@given(shapes=triples, seed=seeds, dtype=dtypes, value=st.sampled_from([1, -0.5, 2]))
def test_addcmul_addcdiv_match_torch(torch, shapes, seed, dtype, value):
    rng = np.random.default_rng(seed)
    x, t1 = (real(rng, s) for s in shapes.input_shapes[:2])
    t2 = positive(rng, shapes.input_shapes[2])
    agree(torch, lambda L, x, a, b: L.addcmul(x, a, b, value=value), x, t1, t2, dtype=dtype)
    agree(torch, lambda L, x, a, b: L.addcdiv(x, a, b, value=value), x, t1, t2, dtype=dtype,
          tol=dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else None)


def test_addcmul_addcdiv_gradcheck():
    rng = np.random.default_rng(9)
    x, a, b = real(rng, (2, 3)), real(rng, (3,)), positive(rng, (2, 1))
    check_grad(lambda L, x, a, b: L.addcmul(x, a, b, value=0.7), x, a, b)
    check_grad(lambda L, x, a, b: L.addcdiv(x, a, b, value=-2), x, a, b)


def test_addcmul_addcdiv_errors():
    x = f32(2, 3)
    with pytest.raises(TypeError,
                       match=r"argument 'tensor2' \(position 3\) must be Tensor, not int"):
        minicnn.addcdiv(x, x, 3, value=2)
    with pytest.raises(TypeError):
        minicnn.addcmul(x, x, x, 2)  # value is keyword-only
    with pytest.raises(RuntimeError, match="Integer division with addcdiv"):
        i = minicnn.tensor([1])
        minicnn.addcdiv(i, i, minicnn.tensor([2]))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        minicnn.addcmul(x, x, f32(4))
    with pytest.raises(TypeError, match="dtype"):
        minicnn.addcmul(x, x, x.double())


@HSET
@given(shapes=triples, seed=seeds, dtype=dtypes)
def test_lerp_matches_torch(torch, shapes, seed, dtype):
    rng = np.random.default_rng(seed)
    sa, se, sw = shapes.input_shapes
    a, e = real(rng, sa), real(rng, se)
    w = np.asarray(rng.uniform(-0.5, 1.5, sw))
    agree(torch, lambda L, a, e, w: L.lerp(a, e, w), a, e, w, dtype=dtype)
    for number in (0.25, 0.75, 1.0):
        agree(torch, lambda L, a, e: L.lerp(a, e, number), a, e, dtype=dtype)


def test_lerp_gradcheck_and_exact_ends():
    rng = np.random.default_rng(10)
    check_grad(lambda L, a, e, w: L.lerp(a, e, w), real(rng, (2, 3)), real(rng, (3,)),
               np.array([[0.2], [0.9]]))
    a, e = minicnn.tensor(real(rng, (5,))), minicnn.tensor(real(rng, (5,)))
    np.testing.assert_array_equal(minicnn.lerp(a, e, 1.0).numpy(), e.numpy())
    np.testing.assert_array_equal(minicnn.lerp(a, e, 0.0).numpy(), a.numpy())


def test_lerp_errors():
    x = f32(2, 3)
    with pytest.raises(TypeError, match=r"argument 'end' \(position 2\) must be Tensor, not float"):
        minicnn.lerp(x, 1.0, 0.5)
    with pytest.raises(TypeError, match=r"argument 'weight' \(position 3\)"):
        minicnn.lerp(x, x, "a")
    with pytest.raises(TypeError, match="`end`"):
        minicnn.lerp(x, x.double(), 0.5)
    with pytest.raises(TypeError, match="`weight`"):
        minicnn.lerp(x, x, minicnn.tensor([0.5], dtype=minicnn.float64))
    with pytest.raises(TypeError, match="float32 or float64"):
        minicnn.lerp(minicnn.tensor([1, 2]), minicnn.tensor([1, 2]), 0.5)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        minicnn.lerp(x, f32(4), 0.5)


# ---------------------------------------------------------------- index_put

def _put_torch(torch, x, index, value, accumulate):
    """torch's out-of-place index_put via a clone and an in-place write (autograd follows)."""
    y = x.clone()
    if accumulate:
        y.index_put_(index if isinstance(index, tuple) else (index,), value, accumulate=True)
    else:
        y[index] = value
    return y


def _idx(L, index):
    """An index with ndarrays turned into L tensors (minicnn also takes ndarrays and lists)."""
    if isinstance(index, tuple):
        return tuple(_idx(L, i) for i in index)
    return L.tensor(index) if isinstance(index, np.ndarray) else index


INDEX_PUT = [
    ("int", (4, 3), 1, (3,)),
    ("slice", (4, 3), (slice(1, 3), slice(None)), (1, 3)),
    ("basic_scalar", (4, 3), (slice(None), 2), ()),
    ("ellipsis_none", (2, 3, 2), (Ellipsis, None, 0), (3, 1)),
    ("leading_1", (4, 3), 0, (1, 3)),
    ("int_array", (5, 3), np.array([0, 3, 4]), (3, 1)),
    ("int_arrays_pair", (4, 5), (np.array([0, 2]), np.array([1, 4])), (2,)),
    ("bool_mask", (3, 4), np.array([[True, False, True, False]] * 3), ()),
    ("mixed", (3, 4, 2), (slice(None), np.array([1, 3]), 1), (3, 2)),
]


@pytest.mark.parametrize("name, shape, index, vshape", INDEX_PUT, ids=[c[0] for c in INDEX_PUT])
@pytest.mark.parametrize("dtype", DTYPES)
def test_index_put_matches_torch_setitem(torch, name, shape, index, vshape, dtype):
    rng = np.random.default_rng(11)
    x, v = real(rng, shape), real(rng, vshape)

    def fn(L, x, v):
        if L is minicnn:
            return ops.index_put(x, _idx(L, index), v)
        return _put_torch(torch, x, _idx(L, index), v, False)

    agree(torch, fn, x, v, dtype=dtype)
    if dtype == np.float64:
        check_grad(fn, x, v)


@pytest.mark.parametrize("dtype", DTYPES)
def test_index_put_accumulate_with_repeats(torch, dtype):
    rng = np.random.default_rng(12)
    index = (np.array([0, 2, 0, 0]),)

    def fn(L, x, v):
        if L is minicnn:
            return ops.index_put(x, _idx(L, index), v, accumulate=True)
        return _put_torch(torch, x, _idx(L, index), v, True)

    agree(torch, fn, real(rng, (3, 2)), real(rng, (4, 2)), dtype=dtype)
    check_grad(fn, real(rng, (3, 2)), real(rng, (4, 2)))
    # torch.index_put itself (tuple of index tensors)
    x, v = real(rng, (3, 2)), real(rng, (4, 2))
    agree(torch, lambda L, x, v: L.index_put(x, _idx(L, index), v, accumulate=True), x, v,
          dtype=dtype)


def test_index_put_numbers_and_no_mutation():
    x = minicnn.arange(6.0).reshape(2, 3)
    y = ops.index_put(x, (slice(None), 1), 9)
    np.testing.assert_array_equal(y.numpy(), [[0, 9, 2], [3, 9, 5]])
    np.testing.assert_array_equal(x.numpy(), np.arange(6.0).reshape(2, 3))  # out of place
    assert y.dtype == minicnn.float32
    i = ops.index_put(minicnn.tensor([1, 2, 3]), [0, 2], minicnn.tensor([7, 8]))
    np.testing.assert_array_equal(i.numpy(), [7, 2, 8])


def test_index_put_errors():
    x = f32(2, 3)
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        ops.index_put(x, (5,), 1.0)
    with pytest.raises(ValueError, match=r"\(4,\).*\(2, 3\)"):
        ops.index_put(x, 0, f32(4))
    with pytest.raises(TypeError, match=r"argument 'values' \(position 3\)"):
        ops.index_put(x, 0, "a")
    with pytest.raises(TypeError, match=r"argument 'input' \(position 1\)"):
        ops.index_put(np.zeros(3), 0, 1.0)
    with pytest.raises(TypeError, match="dtype"):
        ops.index_put(x, 0, minicnn.zeros(3, dtype=minicnn.float64))


# ---------------------------------------------------------------- comparisons

@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge"])
@HSET
@given(shapes=pairs, seed=seeds, dtype=dtypes)
def test_comparisons_match_torch(torch, name, shapes, seed, dtype):
    rng = np.random.default_rng(seed)
    a, b = (rng.integers(0, 3, s).astype(dtype) for s in shapes.input_shapes)
    got = getattr(minicnn, name)(minicnn.tensor(a), minicnn.tensor(b))
    want = getattr(torch, name)(torch.tensor(a), torch.tensor(b))
    assert got.dtype == minicnn.bool
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(getattr(minicnn, name)(minicnn.tensor(a), 1).numpy(),
                                  getattr(torch, name)(torch.tensor(a), 1).numpy())


@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparison_errors(name):
    fn = getattr(minicnn, name)
    with pytest.raises(TypeError, match=rf"{name}\(\): argument 'input' \(position 1\)"):
        fn(1, f32(2))
    with pytest.raises(TypeError, match=r"argument 'other' \(position 2\)"):
        fn(f32(2), [1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        fn(f32(2, 3), f32(4))


def test_equal(torch):
    a = minicnn.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert minicnn.equal(a, a.clone()) is True
    assert minicnn.equal(a, a[:1]) is False  # shapes differ: False, even where they broadcast
    assert minicnn.equal(a, a + 1e-3) is False
    assert minicnn.equal(a, a.double()) is True  # dtypes may differ, as in torch
    assert torch.equal(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0], dtype=torch.float64))
    with pytest.raises(TypeError, match=r"argument 'other' \(position 2\)"):
        minicnn.equal(a, [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_isclose_allclose_match_torch(torch, dtype):
    a = np.array([1.0, 1.0 + 1e-6, 1.0 + 1e-3, np.inf, -np.inf, np.nan, 0.0, 1e-9], dtype)
    b = np.array([1.0, 1.0, 1.0, np.inf, np.inf, np.nan, 1e-9, 0.0], dtype)
    for kw in ({}, dict(equal_nan=True), dict(rtol=1e-2, atol=0.0), dict(atol=1e-3)):
        got = minicnn.isclose(minicnn.tensor(a), minicnn.tensor(b), **kw)
        want = torch.isclose(torch.tensor(a), torch.tensor(b), **kw)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        for x, y in ((a, b), (a[:3], b[:3]), (a[:2], b[:1])):
            assert minicnn.allclose(minicnn.tensor(x), minicnn.tensor(y), **kw) == \
                torch.allclose(torch.tensor(x), torch.tensor(y), **kw)


def test_isclose_errors():
    with pytest.raises(TypeError, match="float32 did not match float64"):
        minicnn.isclose(f32(2), f32(2).double())
    with pytest.raises(TypeError, match=r"argument 'other' \(position 2\) must be Tensor"):
        minicnn.isclose(f32(2), 1.0)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        minicnn.allclose(f32(2, 3), f32(4))


# ---------------------------------------------------------------- swapaxes, repeat

@pytest.mark.parametrize("name", ["swapaxes", "swapdims"])
def test_swapaxes_matches_torch(torch, name):
    rng = np.random.default_rng(13)
    for dims in ((0, 2), (-1, 1), (1, 1)):
        agree(torch, lambda L, x: getattr(L, name)(x, *dims), real(rng, (2, 3, 4)))
    with pytest.raises(IndexError, match="range"):
        getattr(minicnn, name)(f32(2, 3), 0, 2)
    with pytest.raises(TypeError, match=r"argument 'input' \(position 1\)"):
        getattr(minicnn, name)(np.zeros((2, 3)), 0, 1)


REPEAT_SIZES = [(2, 3), (1, 1), (3, 1, 2), (2, 2, 2, 1), (0, 2), (2,)]


@pytest.mark.parametrize("sizes", REPEAT_SIZES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_repeat_matches_torch(torch, sizes, dtype):
    rng = np.random.default_rng(14)
    shape = (3, 2)[2 - min(len(sizes), 2):]  # a 1-D input for a single size

    def fn(L, x):
        return ops.repeat(x, *sizes) if L is minicnn else x.repeat(*sizes)

    agree(torch, fn, real(rng, shape), dtype=dtype)
    agree(torch, lambda L, x: ops.repeat(x, sizes) if L is minicnn else x.repeat(sizes),
          real(rng, shape), dtype=dtype)
    if dtype == np.float64 and 0 not in sizes:
        check_grad(fn, real(rng, shape))


def test_repeat_of_0d_and_errors(torch):
    x = minicnn.tensor(2.5)
    np.testing.assert_array_equal(ops.repeat(x, 2, 3).numpy(),
                                  torch.tensor(2.5).repeat(2, 3).numpy())
    with pytest.raises(RuntimeError, match="can not be smaller than number of dimensions"):
        ops.repeat(f32(2, 3), 2)
    with pytest.raises(RuntimeError, match=r"negative dimension -2: \[-2, 6\]"):
        ops.repeat(f32(2, 3), -1, 2)
    with pytest.raises(TypeError, match="ints"):
        ops.repeat(f32(2, 3), 2.0, 1)


# ---------------------------------------------------------------- repeat_interleave

RI = [
    ("int_flat", lambda L, x: L.repeat_interleave(x, 2)),
    ("int_dim0", lambda L, x: L.repeat_interleave(x, 3, dim=0)),
    ("int_dim-1", lambda L, x: L.repeat_interleave(x, 2, dim=-1)),
    ("tensor_dim0", lambda L, x: L.repeat_interleave(x, L.tensor([1, 0, 2]), dim=0)),
    ("tensor_dim1", lambda L, x: L.repeat_interleave(x, L.tensor([2, 1]), dim=1)),
    ("tensor_1elem", lambda L, x: L.repeat_interleave(x, L.tensor([2]), dim=1)),
    ("tensor_0d", lambda L, x: L.repeat_interleave(x, L.tensor(3), dim=0)),
    ("tensor_flat", lambda L, x: L.repeat_interleave(x, L.tensor([1, 2, 0, 1, 3, 1]))),
    ("zero", lambda L, x: L.repeat_interleave(x, 0, dim=1)),
    ("output_size", lambda L, x: L.repeat_interleave(x, 2, dim=0, output_size=6)),
]


@pytest.mark.parametrize("name, fn", RI, ids=[r[0] for r in RI])
@pytest.mark.parametrize("dtype", DTYPES)
def test_repeat_interleave_matches_torch(torch, name, fn, dtype):
    rng = np.random.default_rng(15)
    x = real(rng, (3, 2))
    agree(torch, fn, x, dtype=dtype)
    if dtype == np.float64:
        check_grad(fn, x)


def test_repeat_interleave_index_form_and_0d(torch):
    r = np.array([2, 0, 3, 1])
    got = minicnn.repeat_interleave(minicnn.tensor(r))
    assert got.dtype == minicnn.int64
    np.testing.assert_array_equal(got.numpy(), torch.repeat_interleave(torch.tensor(r)).numpy())
    np.testing.assert_array_equal(minicnn.repeat_interleave(minicnn.tensor(3.0), 2).numpy(), [3, 3])


def test_repeat_interleave_errors():
    x = f32(2, 3)
    with pytest.raises(RuntimeError, match="Repeats must be non-negative"):
        minicnn.repeat_interleave(x, -1)
    with pytest.raises(RuntimeError, match="repeats can not be negative"):
        minicnn.repeat_interleave(x, minicnn.tensor([1, -2]), dim=0)
    with pytest.raises(RuntimeError, match=r"repeats.size\(0\) = 2 and input.size\(0\) = 6"):
        minicnn.repeat_interleave(x, minicnn.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="0-dim or 1-dim"):
        minicnn.repeat_interleave(x, minicnn.tensor([[1, 2]]), dim=0)
    with pytest.raises(RuntimeError, match="only accept 1D vector"):
        minicnn.repeat_interleave(minicnn.tensor([[1, 2]]))
    with pytest.raises(TypeError, match="integer tensor"):
        minicnn.repeat_interleave(x, minicnn.tensor([1.0, 2.0]), dim=0)
    with pytest.raises(TypeError, match="repeats"):
        minicnn.repeat_interleave(x, 2.0)
    with pytest.raises(IndexError, match="range"):
        minicnn.repeat_interleave(x, 2, dim=2)
    with pytest.raises(RuntimeError, match="output_size"):
        minicnn.repeat_interleave(x, 2, dim=0, output_size=5)


# ---------------------------------------------------------------- meshgrid

@pytest.mark.parametrize("sizes", [(3,), (3, 2), (2, 1, 4), (0, 3)], ids=str)
@pytest.mark.parametrize("indexing", ["ij", "xy"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_meshgrid_matches_torch(torch, sizes, indexing, dtype):
    rng = np.random.default_rng(16)
    xs = [real(rng, (n,)) for n in sizes]

    def fn(L, *ts):
        grids = L.meshgrid(*ts, indexing=indexing)
        return L.stack(grids) if L is torch else minicnn.stack(list(grids))

    agree(torch, fn, *xs, dtype=dtype)
    if dtype == np.float64 and 0 not in sizes:
        check_grad(fn, *xs)


def test_meshgrid_list_0d_and_default(torch):
    a, b = minicnn.arange(3), minicnn.tensor(5)
    got = minicnn.meshgrid([a, b])  # default "ij"
    want = torch.meshgrid([torch.arange(3), torch.tensor(5)], indexing="ij")
    for g, w in zip(got, want):
        assert g.shape == tuple(w.shape)
        np.testing.assert_array_equal(g.numpy(), w.numpy())


def test_meshgrid_errors():
    a = minicnn.arange(3)
    with pytest.raises(RuntimeError, match="non-empty TensorList"):
        minicnn.meshgrid()
    with pytest.raises(RuntimeError, match='indexing must be one of "xy" or "ij"'):
        minicnn.meshgrid(a, indexing="foo")
    with pytest.raises(RuntimeError, match="Expected 0D or 1D tensor"):
        minicnn.meshgrid(a, minicnn.zeros(2, 2, dtype=minicnn.int64))
    with pytest.raises(RuntimeError, match="same dtype"):
        minicnn.meshgrid(a, minicnn.zeros(2))
    with pytest.raises(TypeError, match="element 1"):
        minicnn.meshgrid(a, [1, 2])


# ---------------------------------------------------------------- normal

def test_normal_overloads_shapes_and_dtypes():
    m64 = minicnn.zeros(3, dtype=minicnn.float64)
    cases = [
        (minicnn.normal(minicnn.zeros(3), 1.0), (3,), minicnn.float32),
        (minicnn.normal(m64, 2.0), (3,), minicnn.float64),
        (minicnn.normal(0.0, minicnn.ones(2, 3)), (2, 3), minicnn.float32),
        (minicnn.normal(minicnn.zeros(3), minicnn.ones(2, 3)), (2, 3), minicnn.float32),
        (minicnn.normal(0.0, 1.0, (2, 3)), (2, 3), minicnn.float32),
        (minicnn.normal(0, 1, size=(4,)), (4,), minicnn.float32),
        (minicnn.normal(1.0, 2.0, size=[2], dtype=minicnn.float64), (2,), minicnn.float64),
    ]
    for t, shape, dtype in cases:
        assert t.shape == shape and t.dtype == dtype


def test_normal_statistics_and_seed():
    n = 200_000
    mean = minicnn.tensor([-3.0, 5.0]).reshape(2, 1)
    std = minicnn.tensor([0.5, 2.0]).reshape(2, 1)
    x = minicnn.normal(mean.expand(2, n), std.expand(2, n)).numpy()
    np.testing.assert_allclose(x.mean(axis=1), [-3.0, 5.0], atol=0.03)
    np.testing.assert_allclose(x.std(axis=1), [0.5, 2.0], rtol=0.02)
    y = minicnn.normal(1.5, 3.0, (n,)).numpy()
    assert abs(y.mean() - 1.5) < 0.05 and abs(y.std() - 3.0) < 0.05
    minicnn.manual_seed(7)
    a = minicnn.normal(minicnn.zeros(5), 1.0).numpy()
    minicnn.manual_seed(7)
    np.testing.assert_array_equal(a, minicnn.normal(minicnn.zeros(5), 1.0).numpy())
    z = minicnn.normal(0.0, 1.0, (3,), generator=np.random.default_rng(1)).numpy()
    np.testing.assert_array_equal(z, np.random.default_rng(1).standard_normal(3, np.float32))


def test_normal_gradients_are_zero_as_in_torch(torch):
    m, s = minicnn.zeros(3, requires_grad=True), minicnn.ones(3, requires_grad=True)
    y = minicnn.normal(m, s)
    assert y.requires_grad
    y.sum().backward()
    tm, ts = torch.zeros(3, requires_grad=True), torch.ones(3, requires_grad=True)
    torch.normal(tm, ts).sum().backward()
    np.testing.assert_array_equal(m.grad.numpy(), tm.grad.numpy())
    np.testing.assert_array_equal(s.grad.numpy(), ts.grad.numpy())


def test_normal_errors():
    with pytest.raises(TypeError, match="size is required"):
        minicnn.normal(0.0, 1.0)
    with pytest.raises(TypeError, match="size"):
        minicnn.normal(minicnn.zeros(3), minicnn.ones(3), size=(3,))
    with pytest.raises(RuntimeError, match="normal expects std >= 0.0, but found std -1"):
        minicnn.normal(0.0, -1.0, size=(3,))
    with pytest.raises(RuntimeError, match="std >= 0.0"):
        minicnn.normal(minicnn.zeros(3), -1.0)
    with pytest.raises(RuntimeError, match="all elements of std >= 0.0"):
        minicnn.normal(minicnn.zeros(3), minicnn.tensor([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        minicnn.normal(minicnn.zeros(3), minicnn.ones(4))
    with pytest.raises(TypeError, match="floating"):
        minicnn.normal(minicnn.zeros(3, dtype=minicnn.int64), 1.0)
    with pytest.raises(TypeError, match="dtype"):
        minicnn.normal(minicnn.zeros(3), minicnn.ones(3, dtype=minicnn.float64))


# ---------------------------------------------------------------- creation against torch

CREATION = [
    ("arange_int", lambda L: L.arange(5)),
    ("arange_float_end", lambda L: L.arange(5.0)),
    ("arange_start_end", lambda L: L.arange(2, 7)),
    ("arange_float_step", lambda L: L.arange(0, 1, 0.25)),
    ("arange_negative_step", lambda L: L.arange(5, 0, -1)),
    ("arange_float_negative", lambda L: L.arange(1.0, -1.0, -0.3)),
    ("arange_tenths", lambda L: L.arange(-1.0, 1.0, 0.1)),
    ("arange_end_kw", lambda L: L.arange(end=4)),
    ("arange_tensor", lambda L: L.arange(L.tensor(3))),
    ("arange_dtype", lambda L: L.arange(0, 10, 3, dtype=L.float64)),
    ("arange_int_dtype_float_args", lambda L: L.arange(0.0, 5.0, dtype=L.int64)),
    ("arange_empty", lambda L: L.arange(3, 3)),
    ("linspace", lambda L: L.linspace(0, 1, 5)),
    ("linspace_steps_kw", lambda L: L.linspace(-2.0, 3.0, steps=7)),
    ("linspace_int", lambda L: L.linspace(0, 10, 5, dtype=L.int64)),
    ("linspace_one", lambda L: L.linspace(0, 1, 1)),
    ("linspace_zero", lambda L: L.linspace(0, 1, 0)),
    ("linspace_f64", lambda L: L.linspace(0, 1, 11, dtype=L.float64)),
    ("full_float", lambda L: L.full((2,), 1.5)),
    ("full_int", lambda L: L.full((2, 1), 3)),
    ("full_bool", lambda L: L.full((2,), True)),
    ("full_like_int", lambda L: L.full_like(L.zeros(2, dtype=L.int64), 2.7)),
    ("full_like_float", lambda L: L.full_like(L.zeros(2, 2), 2)),
    ("full_like_dtype", lambda L: L.full_like(L.zeros(2), 2, dtype=L.float64)),
]


@pytest.mark.parametrize("name, fn", CREATION, ids=[c[0] for c in CREATION])
def test_creation_matches_torch(torch, name, fn):
    got, want = fn(minicnn), fn(torch)
    assert got.shape == tuple(want.shape)
    assert str(got.dtype) == str(want.dtype).replace("torch.", "")
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["rand_like", "randn_like"])
def test_random_like_keep_dtype_and_shape(name):
    for dtype in (minicnn.float32, minicnn.float64):
        t = getattr(minicnn, name)(minicnn.zeros(2, 3, dtype=dtype))
        assert t.shape == (2, 3) and t.dtype == dtype
    assert getattr(minicnn, name)(minicnn.zeros(2), dtype=minicnn.float64).dtype == minicnn.float64


def test_creation_errors():
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        minicnn.arange(0, 5, 0)
    with pytest.raises(RuntimeError, match="inconsistent with step sign"):
        minicnn.arange(5, 0)
    with pytest.raises(TypeError, match="end"):
        minicnn.arange("5")
    with pytest.raises(RuntimeError, match="number of steps must be non-negative"):
        minicnn.linspace(0, 1, -1)
    with pytest.raises(TypeError, match="steps"):
        minicnn.linspace(0, 1, 2.0)


# ---------------------------------------------------------------- axis= alias of reductions

AXIS = [
    ("sum", lambda L, x: L.sum(x, axis=1)),
    ("sum_keepdim", lambda L, x: L.sum(x, axis=(0, 2), keepdim=True)),
    ("mean", lambda L, x: L.mean(x, axis=-1)),
    ("var", lambda L, x: L.var(x, axis=0)),
    ("std", lambda L, x: L.std(x, axis=2)),
    ("amax", lambda L, x: L.amax(x, axis=1)),
    ("amin", lambda L, x: L.amin(x, axis=0)),
    ("max", lambda L, x: L.max(x, axis=1)[0]),
    ("min", lambda L, x: L.min(x, axis=2).values),
]


@pytest.mark.parametrize("name, fn", AXIS, ids=[a[0] for a in AXIS])
def test_reduction_axis_alias_matches_torch(torch, name, fn):
    rng = np.random.default_rng(17)
    x = rng.permutation(24).reshape(2, 3, 4) * 0.1  # no ties
    agree(torch, fn, x)


def test_argmax_argmin_axis_alias(torch):
    x = np.random.default_rng(18).permutation(12).reshape(3, 4).astype(np.float32)
    for name in ("argmax", "argmin"):
        for kw in (dict(axis=0), dict(axis=1, keepdim=True)):
            got = getattr(minicnn, name)(minicnn.tensor(x), **kw)
            want = getattr(torch, name)(torch.tensor(x), **kw)
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    with pytest.raises(TypeError, match="both 'dim' and its alias 'axis'"):
        minicnn.sum(f32(2, 3), 0, axis=0)


# ---------------------------------------------------------------- no float32/float64 promotion

@pytest.mark.parametrize("fn", [
    lambda a, b: minicnn.add(a, b, alpha=2),
    lambda a, b: minicnn.sub(a, b, alpha=2),
    lambda a, b: minicnn.addcdiv(a, b, a),
    lambda a, b: minicnn.lerp(a, b, 0.5),
    lambda a, b: minicnn.masked_fill(a, a > 0, b.sum()),
    lambda a, b: minicnn.where(a > 0, a, b),
    lambda a, b: minicnn.atan2(a, b),
], ids=["add", "sub", "addcdiv", "lerp", "masked_fill", "where", "atan2"])
def test_mixed_float_dtypes_raise(fn):
    with pytest.raises(TypeError, match="dtype"):
        fn(f32(2, 3), minicnn.zeros(2, 3, dtype=minicnn.float64))
