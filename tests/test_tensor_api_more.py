"""More of the Tensor API (issue 15) against PyTorch: creation helpers and dtypes
(from_numpy, default dtype, new_*), elementwise math (isnan ..., maximum/minimum, square, rsqrt,
log1p, ...), reductions and searching (prod, cumsum, logsumexp, norm, all/any, topk, sort,
nonzero, unique), indexing along a dimension (gather, scatter, index_select, ...), pieces and
rearrangements (chunk, split, flip, roll, tril, ...), matrix products (mm, dot, outer, addmm,
einsum) and one_hot.

Each table holds ``fn(L, *xs)`` written once for both libraries (``L`` is minicnn or torch);
:func:`agree` compares values, dtypes and the gradients of a random upstream gradient in float32
and float64, and :func:`check_grad` checks gradients by central differences in float64. Inputs
avoid ties wherever an op picks elements (topk, sort, maximum, norm with p=inf).
"""
import functools

import numpy as np
import pytest

import minicnn
from minicnn.nn import functional as F

from helpers import agree_with_torch, check_grad, f32, flat

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
agree = functools.partial(agree_with_torch, tols=TOL)


# ---------------------------------------------------------------- helpers

def distinct(rng, shape):
    """Normal values without ties (a shuffled, jittered grid), so sorting picks one order."""
    n = int(np.prod(shape))
    values = (np.arange(n) - n / 2) * 0.37 + rng.uniform(0, 0.1, n)
    return rng.permutation(values).reshape(shape)


def same_dtype(a, b):
    return str(a.dtype) == str(b.dtype).replace("torch.", "")


def both(fn, *arrays):
    """fn(L, *tensors) in both libraries, for ops with non-float inputs only."""
    import torch
    return (fn(minicnn, *(minicnn.tensor(a) for a in arrays)),
            fn(torch, *(torch.tensor(a) for a in arrays)))


def assert_same(got, want):
    for g, w in zip(flat(got), flat(want)):
        assert tuple(g.shape) == tuple(w.shape) and same_dtype(g, w)
        np.testing.assert_array_equal(g.numpy(), w.numpy())


# ---------------------------------------------------------------- creation and dtypes

def test_from_numpy_shares_memory_and_keeps_dtype(torch):
    for dtype in (np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
                  np.uint8, np.bool_):
        a = np.arange(6).reshape(2, 3).astype(dtype)
        t = minicnn.from_numpy(a)
        assert t.dtype == a.dtype and same_dtype(t, torch.from_numpy(a))
        assert t.shape == (2, 3) and np.shares_memory(t.numpy(), a)
    a = np.zeros(3)
    t = minicnn.from_numpy(a)
    a[0] = 5.0
    assert t[0].item() == 5.0  # writes through the array show in the tensor


def test_from_numpy_errors():
    with pytest.raises(TypeError, match="numpy.object_"):
        minicnn.from_numpy(np.array([1, None], dtype=object))
    with pytest.raises(ValueError, match="byte order"):
        minicnn.from_numpy(np.arange(3, dtype=">f4"))
    with pytest.raises(TypeError, match=r"expected np.ndarray \(got list\)"):
        minicnn.from_numpy([1.0, 2.0])


def test_predicates():
    x = minicnn.ones(2, 3)
    assert minicnn.is_tensor(x) and not minicnn.is_tensor(np.ones(2))
    assert minicnn.numel(x) == 6 and minicnn.is_floating_point(x) and x.is_floating_point()
    assert not minicnn.is_floating_point(minicnn.tensor([1]))
    with pytest.raises(TypeError, match=r"numel\(\): argument 'input'"):
        minicnn.numel([1, 2])


def test_default_dtype(torch):
    assert minicnn.get_default_dtype() == minicnn.float32
    try:
        minicnn.set_default_dtype(minicnn.float64)
        assert minicnn.get_default_dtype() == minicnn.float64
        assert minicnn.tensor([1.5]).dtype == minicnn.float64
        for t in (minicnn.zeros(2), minicnn.ones(2), minicnn.rand(2), minicnn.randn(2),
                  minicnn.full((2,), 1.5), minicnn.arange(0.0, 1.0, 0.5),
                  minicnn.linspace(0, 1, 3), minicnn.eye(2), minicnn.empty(2)):
            assert t.dtype == minicnn.float64
        assert minicnn.tensor([1, 2]).dtype == minicnn.int64  # ints are unaffected
        assert (minicnn.tensor([1, 2]) * 0.5).dtype == minicnn.float64
        assert minicnn.sin(minicnn.tensor([1])).dtype == minicnn.float64
    finally:
        minicnn.set_default_dtype(minicnn.float32)
    assert minicnn.tensor([1.5]).dtype == minicnn.float32
    with pytest.raises(TypeError, match="only floating-point types"):
        minicnn.set_default_dtype(minicnn.int64)
    with pytest.raises(NotImplementedError):
        minicnn.set_default_dtype(minicnn.float16)
    assert minicnn.get_default_dtype() == minicnn.float32


def test_dtype_names(torch):
    for name in ("float16", "half", "int16", "short", "int8", "int", "float32", "float64"):
        assert same_dtype(minicnn.zeros(1, dtype=getattr(minicnn, name)),
                          torch.zeros(1, dtype=getattr(torch, name)))
    assert isinstance(minicnn.zeros(1).dtype, minicnn.dtype)
    assert minicnn.finfo(minicnn.float32).eps == torch.finfo(torch.float32).eps
    assert minicnn.finfo(minicnn.float64).max == torch.finfo(torch.float64).max
    assert minicnn.iinfo(minicnn.int64).max == torch.iinfo(torch.int64).max
    assert minicnn.iinfo(minicnn.int8).min == -128


@pytest.mark.parametrize("dtype", DTYPES)
def test_new_factories(torch, dtype):
    for L in (minicnn, torch):
        base = L.ones(2, dtype=getattr(L, np.dtype(dtype).name))
        outs = [base.new_zeros(2, 3), base.new_ones((3,)), base.new_empty([2]).fill_(1),
                base.new_full((2, 2), 7), base.new_tensor([1, 2]),
                base.new_zeros(2, dtype=L.int64), base.new_ones(1, requires_grad=True)]
        if L is minicnn:
            mine = outs
        else:
            theirs = outs
    for m, t in zip(mine, theirs):
        assert tuple(m.shape) == tuple(t.shape) and same_dtype(m, t)
        assert m.requires_grad == t.requires_grad
        np.testing.assert_array_equal(m.detach().numpy(), t.detach().numpy())
    with pytest.raises(TypeError, match="must be tuple of ints, not int"):
        minicnn.ones(2).new_full(2, 3.0)


# ---------------------------------------------------------------- elementwise

def positive(rng, shape):
    return np.asarray(rng.uniform(0.3, 3.0, shape))


def real(rng, shape):
    return np.asarray(rng.standard_normal(shape) * 1.5)


UNARY = [
    ("square", lambda L, x: L.square(x), real),
    ("rsqrt", lambda L, x: L.rsqrt(x), positive),
    ("reciprocal", lambda L, x: L.reciprocal(x), positive),
    ("log1p", lambda L, x: L.log1p(x), positive),
    ("expm1", lambda L, x: L.expm1(x), real),
    ("log2", lambda L, x: L.log2(x), positive),
    ("log10", lambda L, x: L.log10(x), positive),
    ("erf", lambda L, x: L.erf(x), real),
    ("method_rsqrt", lambda L, x: x.rsqrt() + x.square() + x.log1p(), positive),
]


@pytest.mark.parametrize("name, fn, domain", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_unary_matches_torch(torch, name, fn, domain, dtype, shape):
    agree(torch, fn, domain(np.random.default_rng(0), shape), dtype=dtype)


@pytest.mark.parametrize("name, fn, domain", UNARY, ids=[u[0] for u in UNARY])
def test_unary_gradcheck(name, fn, domain):
    check_grad(fn, domain(np.random.default_rng(1), (2, 3)))


def test_unary_integer_and_special_values(torch):
    for name in ("square", "rsqrt", "reciprocal", "log1p", "expm1", "log2", "log10", "erf"):
        for data in ([1, 2, 4], [True, False]):
            got, want = both(lambda L, x: getattr(L, name)(x), np.array(data))
            assert same_dtype(got, want), name
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    special = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan], np.float32)
    with np.errstate(all="ignore"):
        for name in ("rsqrt", "reciprocal", "log1p", "expm1", "log2", "log10", "erf"):
            got, want = both(lambda L, x: getattr(L, name)(x), special)
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_isnan_isinf_isfinite(torch):
    x = np.array([[1.0, np.nan, np.inf], [-np.inf, 0.0, -2.0]])
    for name in ("isnan", "isinf", "isfinite"):
        for data in (x, x.astype(np.float32), np.array([1, 2]), np.array([True])):
            assert_same(*both(lambda L, t: getattr(L, name)(t), data))
        got = getattr(minicnn.tensor(x), name)()
        np.testing.assert_array_equal(got.numpy(), getattr(torch.tensor(x), name)().numpy())
    with pytest.raises(TypeError, match=r"isnan\(\): argument 'input'"):
        minicnn.isnan(1.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum(torch, dtype, name):
    rng = np.random.default_rng(2)
    fn = lambda L, a, b: getattr(L, name)(a, b)  # noqa: E731
    agree(torch, fn, real(rng, (3, 4)), real(rng, (4,)), dtype=dtype)
    agree(torch, lambda L, a, b: getattr(a, name)(b), real(rng, (2, 1)), real(rng, (3,)),
          dtype=dtype)
    a = np.array([1.0, 2.0, 3.0])  # ties split the gradient in halves
    agree(torch, fn, a, np.array([1.0, 0.0, 3.0]), dtype=dtype)
    check_grad(fn, real(rng, (2, 3)), real(rng, (3,)))
    assert_same(*both(fn, np.array([1, 5]), np.array([3, 2])))
    got, want = both(fn, np.array([1, 5]), np.array([2.5, 2.5], np.float32))
    assert_same(got, want)
    got, want = both(fn, np.array([np.nan, 1.0]), np.array([0.0, 2.0]))
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_maximum_errors():
    with pytest.raises(TypeError, match=r"maximum\(\): argument 'other' \(position 2\) must be "
                                        r"Tensor, not float"):
        minicnn.maximum(f32(2), 1.0)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        minicnn.minimum(f32(2, 3), f32(4))
    with pytest.raises(TypeError, match="dtype"):
        minicnn.maximum(f32(2), f32(2).double())


# ---------------------------------------------------------------- reductions

REDUCE = [
    ("prod_all", lambda L, x: L.prod(x)),
    ("prod_dim", lambda L, x: L.prod(x, 1)),
    ("prod_keepdim", lambda L, x: x.prod(-1, keepdim=True)),
    ("cumsum_0", lambda L, x: L.cumsum(x, 0)),
    ("cumsum_-1", lambda L, x: x.cumsum(-1)),
    ("logsumexp", lambda L, x: L.logsumexp(x, 1)),
    ("logsumexp_tuple", lambda L, x: L.logsumexp(x, (0, 2), keepdim=True)),
    ("norm", lambda L, x: L.norm(x)),
    ("norm_fro_dim", lambda L, x: L.norm(x, "fro", dim=(1, 2))),
    ("norm_1", lambda L, x: L.norm(x, 1, dim=1)),
    ("norm_2_keepdim", lambda L, x: x.norm(2, dim=-1, keepdim=True)),
    ("norm_3", lambda L, x: L.norm(x, 3.5)),
    ("norm_inf", lambda L, x: L.norm(x, float("inf"), dim=0)),
    ("norm_-inf", lambda L, x: L.norm(x, -float("inf"), dim=2)),
    ("norm_0", lambda L, x: L.norm(x, 0, dim=1)),
]


@pytest.mark.parametrize("name, fn", REDUCE, ids=[r[0] for r in REDUCE])
@pytest.mark.parametrize("dtype", DTYPES)
def test_reductions_match_torch(torch, name, fn, dtype):
    x = distinct(np.random.default_rng(3), (2, 3, 4))
    agree(torch, fn, x, dtype=dtype, tol=dict(rtol=1e-4, atol=1e-5) if dtype == np.float32
          else None)


@pytest.mark.parametrize("name, fn", REDUCE, ids=[r[0] for r in REDUCE])
def test_reductions_gradcheck(name, fn):
    check_grad(fn, distinct(np.random.default_rng(4), (2, 3, 4)))


def test_prod_with_zeros(torch):
    x = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.5, 2.0, -1.0]])
    for fn in (lambda L, t: L.prod(t, 1), lambda L, t: L.prod(t), lambda L, t: L.prod(t, 0)):
        agree(torch, fn, x)
        check_grad(fn, x)


def test_reductions_integer_and_special_input(torch):
    i = np.array([[1, 2, 3], [4, 5, 6]])
    for fn in (lambda L, t: L.prod(t), lambda L, t: L.prod(t, 0),
               lambda L, t: L.cumsum(t, 1), lambda L, t: L.logsumexp(t, 1),
               lambda L, t: L.prod(t, 1, dtype=L.float64),
               lambda L, t: L.cumsum(t, 0, dtype=L.float64)):
        got, want = both(fn, i)
        assert same_dtype(got, want)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    assert_same(*both(lambda L, t: L.cumsum(t, 0), np.array([True, True, False])))
    inf = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [0.5, 1000.0]])
    got, want = both(lambda L, t: L.logsumexp(t, 1), inf)
    np.testing.assert_allclose(got.numpy(), want.numpy())
    assert_same(*both(lambda L, t: L.norm(t), np.zeros((2, 2))))
    x = minicnn.zeros(3, requires_grad=True)
    minicnn.norm(x).backward()  # the gradient at 0 is 0, not nan
    np.testing.assert_array_equal(x.grad.numpy(), 0)


def test_reduction_errors():
    with pytest.raises(TypeError, match="dim"):
        minicnn.prod(f32(2, 3), (0, 1))
    with pytest.raises(TypeError):
        minicnn.cumsum(f32(2))  # dim is required, as in PyTorch
    with pytest.raises(IndexError, match="out of range"):
        minicnn.cumsum(f32(2), 1)
    with pytest.raises(RuntimeError, match="Expected a floating point"):
        minicnn.norm(minicnn.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="Order abc not supported"):
        minicnn.norm(f32(2), "abc")
    with pytest.raises(NotImplementedError):
        minicnn.norm(f32(2, 2), "nuc")
    with pytest.raises(RuntimeError, match="dim must be a 2-tuple"):
        minicnn.norm(f32(2, 2, 2), "fro", dim=(0, 1, 2))


@pytest.mark.parametrize("name", ["all", "any", "count_nonzero"])
def test_all_any_count_nonzero(torch, name):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (3, 4, 2))
    fn = getattr(minicnn, name)
    for data in (x, x.astype(np.float32), x > 0, x.astype(np.uint8), np.array(2.0)):
        for dim in ((None, (0, 2), 1, -1) if data.ndim else (None,)):
            got = fn(minicnn.tensor(data)) if dim is None else fn(minicnn.tensor(data), dim)
            t = torch.tensor(data)
            want = getattr(torch, name)(t) if dim is None else getattr(torch, name)(t, dim)
            assert_same(got, want)
        if name != "count_nonzero" and data.ndim:
            assert_same(getattr(minicnn.tensor(data), name)(1, keepdim=True),
                        getattr(torch.tensor(data), name)(1, keepdim=True))


# ---------------------------------------------------------------- sorting and searching

SEARCH = [
    ("topk", lambda L, x: L.topk(x, 2)),
    ("topk_dim0_smallest", lambda L, x: L.topk(x, 1, dim=0, largest=False)),
    ("topk_method_all", lambda L, x: x.topk(4, 1)),
    ("topk_k0", lambda L, x: L.topk(x, 0)),
    ("sort", lambda L, x: L.sort(x)),
    ("sort_descending_dim1", lambda L, x: L.sort(x, dim=1, descending=True)),
    ("sort_method_stable", lambda L, x: x.sort(dim=0, stable=True)),
    ("argsort", lambda L, x: L.argsort(x, dim=1, descending=True)),
]


@pytest.mark.parametrize("name, fn", SEARCH, ids=[s[0] for s in SEARCH])
@pytest.mark.parametrize("dtype", DTYPES)
def test_search_matches_torch(torch, name, fn, dtype):
    agree(torch, fn, distinct(np.random.default_rng(6), (3, 4, 5)), dtype=dtype)


@pytest.mark.parametrize("name, fn", SEARCH[:-1], ids=[s[0] for s in SEARCH[:-1]])
def test_search_gradcheck(name, fn):
    check_grad(lambda L, x: fn(L, x).values, distinct(np.random.default_rng(7), (3, 4, 5)))


def test_sort_and_topk_special_cases(torch):
    x = np.array([3.0, np.nan, -1.0, np.inf, 2.0])  # nan sorts above inf
    for fn in (lambda L, t: L.sort(t), lambda L, t: L.sort(t, descending=True),
               lambda L, t: L.topk(t, 2), lambda L, t: L.topk(t, 2, largest=False)):
        got, want = both(fn, x)
        np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    ties = np.array([2, 1, 2, 1, 2])  # stable: equal elements keep their order
    for descending in (False, True):
        got, want = both(lambda L, t: L.sort(t, descending=descending, stable=True), ties)
        assert_same(got, want)
    assert_same(*both(lambda L, t: L.sort(t), np.array([True, False, True])))
    assert_same(*both(lambda L, t: L.topk(t, 1), np.array(4.0)))
    assert_same(*both(lambda L, t: L.sort(t), np.array(4.0)))
    got = minicnn.topk(minicnn.tensor([1.0, 3.0, 2.0]), 2)
    assert got._fields == ("values", "indices") and got.values.tolist() == [3.0, 2.0]
    assert got.indices.dtype == minicnn.int64


def test_search_errors():
    x = f32(2, 3)
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        minicnn.topk(x, 4)
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        minicnn.topk(x, -1)
    with pytest.raises(TypeError, match=r"topk\(\): argument 'k' \(position 2\) must be int"):
        minicnn.topk(x, 1.5)
    with pytest.raises(IndexError, match="out of range"):
        minicnn.sort(x, 2)
    with pytest.raises(TypeError, match=r"sort\(\): argument 'input'"):
        minicnn.sort([3, 1])


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 1, 3), ()])
def test_nonzero(torch, shape):
    rng = np.random.default_rng(8)
    for data in (rng.integers(0, 2, shape), rng.random(shape) < 0.5, np.ones(shape, np.float32)):
        assert_same(*both(lambda L, t: L.nonzero(t), data))
        got, want = both(lambda L, t: t.nonzero(as_tuple=True), data)
        assert len(got) == len(want)
        assert_same(got, want)


def test_unique(torch):
    x = np.array([[3, 1, 3], [2, 1, 5]])
    for kwargs in ({}, dict(return_counts=True), dict(return_inverse=True),
                   dict(return_inverse=True, return_counts=True), dict(sorted=True)):
        assert_same(*both(lambda L, t: L.unique(t, **kwargs), x))
    assert_same(*both(lambda L, t: t.unique(), np.array([2.5, -1.0, 2.5])))
    with pytest.raises(NotImplementedError):
        minicnn.unique(minicnn.tensor(x), dim=0)


# ---------------------------------------------------------------- indexing along a dimension

def _index(rng, shape, size, unique_along=None):
    """An int64 index array of ``shape`` with values in [0, size); without repeats along
    ``unique_along`` (for scatter, whose writes to one position are unordered)."""
    if unique_along is None:
        return rng.integers(0, size, shape)
    lines = np.moveaxis(np.zeros(shape, np.int64), unique_along, -1)
    for pos in np.ndindex(lines.shape[:-1]):
        lines[pos] = rng.permutation(size)[:lines.shape[-1]]
    return np.moveaxis(lines, -1, unique_along)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather_and_scatter_match_torch(torch, dtype, dim):
    rng = np.random.default_rng(9)
    x = real(rng, (3, 4, 5))
    shape = [2, 3, 4]
    shape[dim] = 2
    index = _index(rng, shape, x.shape[dim])  # repeats allowed: gather adds their gradients
    agree(torch, lambda L, x, i: L.gather(x, dim, i), x, index, dtype=dtype)
    agree(torch, lambda L, x, i: x.gather(dim, i), x, index, dtype=dtype)
    lines = [1, 1, 1]  # take_along_dim broadcasts the other dimensions instead
    lines[dim] = 3
    agree(torch, lambda L, x, i: L.take_along_dim(x, i, dim), x,
          _index(rng, lines, x.shape[dim]), dtype=dtype)
    uindex = _index(rng, shape, x.shape[dim], unique_along=dim % 3)
    src = real(rng, shape)  # torch cannot differentiate a src larger than index (we can)
    agree(torch, lambda L, x, i, s: L.scatter(x, dim, i, s), x, uindex, src, dtype=dtype)
    agree(torch, lambda L, x, i: x.scatter(dim, i, -2.5), x, uindex, dtype=dtype)
    agree(torch, lambda L, x, i: L.scatter(x, dim, i, value=1.5), x, uindex, dtype=dtype)
    agree(torch, lambda L, x, i, s: L.scatter_add(x, dim, i, s), x, index, src, dtype=dtype)
    agree(torch, lambda L, x, i, s: x.scatter_add(dim, i, s), x, index, src, dtype=dtype)


def test_gather_scatter_gradcheck():
    rng = np.random.default_rng(10)
    x, src = real(rng, (3, 4)), real(rng, (3, 4))
    index = np.array([[0, 2, 2], [1, 1, 0]])
    check_grad(lambda L, x: L.gather(x, 1, L.tensor(index)), x)
    check_grad(lambda L, x, s: L.scatter_add(x, 1, L.tensor(index), s), x, src)
    uindex = np.array([[0, 2], [3, 1]])
    check_grad(lambda L, x, s: L.scatter(x, 1, L.tensor(uindex), s), x, src)
    check_grad(lambda L, x: L.take_along_dim(x, L.tensor([[1], [1], [3]]), 1), x)


def test_take_along_dim_broadcasts_and_flattens(torch):
    rng = np.random.default_rng(11)
    x = real(rng, (3, 4))
    agree(torch, lambda L, x, i: L.take_along_dim(x, i), x, np.array([0, 11, 5]))
    agree(torch, lambda L, x, i: L.take_along_dim(x, i, 1), x, np.array([[3, 0]]))
    agree(torch, lambda L, x, i: L.take_along_dim(x, i, 0), real(rng, (3, 1)),
          np.array([[2, 0, 1, 1]]))
    idx = minicnn.argsort(minicnn.tensor(x), 1)  # the usual use: reorder with argsort
    np.testing.assert_array_equal(minicnn.take_along_dim(minicnn.tensor(x), idx, 1).numpy(),
                                  np.sort(x, 1))


def test_gather_scatter_errors():
    x = f32(2, 3)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        minicnn.gather(x, 1, minicnn.tensor([0]))
    with pytest.raises(RuntimeError, match=r"gather\(\): Expected dtype int32/int64 for index"):
        minicnn.gather(x, 1, minicnn.tensor([[0.0]]))
    with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 1 with size 3"):
        minicnn.gather(x, 1, minicnn.tensor([[5]]))
    with pytest.raises(RuntimeError, match="index -1 is out of bounds"):
        minicnn.gather(x, 1, minicnn.tensor([[-1]]))
    with pytest.raises(RuntimeError, match=r"Size does not match at dimension 0 expected index "
                                           r"\[3, 1\] to be no larger than self \[2, 3\]"):
        minicnn.gather(x, 1, minicnn.tensor([[0], [1], [1]]))
    with pytest.raises(TypeError, match=r"gather\(\): argument 'index' \(position 3\)"):
        minicnn.gather(x, 1, [[0]])
    with pytest.raises(RuntimeError, match=r"to be no larger size than src \[1, 1\]"):
        minicnn.scatter(x, 1, minicnn.tensor([[0, 1]]), f32(1, 1))
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        minicnn.scatter(x, 1, minicnn.tensor([[0, 1]]), f32(1, 2).double())
    with pytest.raises(TypeError, match=r"scatter_add\(\): argument 'src' \(position 4\) must "
                                        r"be Tensor, not float"):
        minicnn.scatter_add(x, 1, minicnn.tensor([[0, 1]]), 2.0)
    with pytest.raises(RuntimeError, match="index 3 is out of bounds"):
        minicnn.scatter(x, 1, minicnn.tensor([[3]]), 1.0)
    with pytest.raises(NotImplementedError):
        minicnn.scatter(x, 1, minicnn.tensor([[0]]), 1.0, reduce="multiply")
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        minicnn.take_along_dim(x, minicnn.tensor([0]), 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_index_select_and_masked_select(torch, dtype):
    rng = np.random.default_rng(12)
    x = real(rng, (3, 4, 2))
    for dim, index in ((0, np.array([2, 0, 2])), (1, np.array([3])), (-1, np.array(1)),
                       (1, np.array([1, 1, 0], np.int32))):
        agree(torch, lambda L, x, i: L.index_select(x, dim, i), x, index, dtype=dtype)
        agree(torch, lambda L, x, i: x.index_select(dim, i), x, index, dtype=dtype)
    for mask_shape in ((3, 4, 2), (4, 1), (2,)):
        mask = rng.random(mask_shape) < 0.5
        agree(torch, lambda L, x, m: L.masked_select(x, m), x, mask, dtype=dtype)
        agree(torch, lambda L, x, m: x.masked_select(m), x, mask, dtype=dtype)
    check_grad(lambda L, x: L.index_select(x, 1, L.tensor([0, 3, 0])), x)
    mask = rng.random((4, 1)) < 0.5
    check_grad(lambda L, x: L.masked_select(x, L.tensor(mask)), x)


def test_index_select_masked_select_errors():
    x = f32(2, 3)
    with pytest.raises(IndexError, match="Index is supposed to be a vector"):
        minicnn.index_select(x, 1, minicnn.tensor([[0]]))
    with pytest.raises(RuntimeError, match="Expected dtype int32 or int64 for index"):
        minicnn.index_select(x, 1, minicnn.tensor([0.0]))
    with pytest.raises(RuntimeError, match="index 3 is out of bounds for dimension 1"):
        minicnn.index_select(x, 1, minicnn.tensor([3]))
    with pytest.raises(RuntimeError, match="masked_select: expected BoolTensor for mask"):
        minicnn.masked_select(x, minicnn.ones(2, 3))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        minicnn.masked_select(x, minicnn.ones(4, dtype=minicnn.bool))


# ---------------------------------------------------------------- pieces and rearrangements

PIECES = [
    ("chunk", lambda L, x: L.chunk(x, 3, 1)),
    ("chunk_uneven", lambda L, x: x.chunk(4, -1)),
    ("chunk_more_than_size", lambda L, x: L.chunk(x, 9, 0)),
    ("split_int", lambda L, x: L.split(x, 2, 1)),
    ("split_sizes", lambda L, x: x.split([1, 3, 1], dim=2)),
    ("unbind", lambda L, x: L.unbind(x, 1)),
    ("unbind_method", lambda L, x: x.unbind()),
    ("narrow", lambda L, x: L.narrow(x, 1, 1, 2)),
    ("narrow_negative", lambda L, x: x.narrow(-1, -3, 2)),
    ("flip", lambda L, x: L.flip(x, (0, 2))),
    ("flip_method", lambda L, x: x.flip(1)),
    ("flip_method_list", lambda L, x: x.flip([-1, 0])),
    ("roll_flat", lambda L, x: L.roll(x, 5)),
    ("roll_dims", lambda L, x: L.roll(x, (1, -2), (0, 2))),
    ("roll_method", lambda L, x: x.roll(3, 1)),
    ("tril", lambda L, x: L.tril(x)),
    ("tril_diag", lambda L, x: x.tril(-1)),
    ("triu", lambda L, x: L.triu(x, 1)),
    ("triu_method", lambda L, x: x.triu()),
    ("broadcast_to", lambda L, x: L.broadcast_to(x[:, :1], (4, 2, 3, 5))),
    ("broadcast_to_method", lambda L, x: x.broadcast_to((2, -1, 4, 5))),
]


@pytest.mark.parametrize("name, fn", PIECES, ids=[p[0] for p in PIECES])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pieces_match_torch(torch, name, fn, dtype):
    agree(torch, fn, real(np.random.default_rng(13), (2, 4, 5)), dtype=dtype)


@pytest.mark.parametrize("name, fn", PIECES, ids=[p[0] for p in PIECES])
def test_pieces_gradcheck(name, fn):
    check_grad(fn, real(np.random.default_rng(14), (2, 4, 5)))


def test_pieces_are_views_like_torch(torch):
    x = minicnn.arange(12.0).reshape(3, 4)
    x.split(2, 1)[1][0, 0] = -1.0  # split, chunk, narrow and unbind share memory
    x.narrow(0, 2, 1)[0, 3] = -2.0
    x.unbind(1)[0][1] = -3.0
    t = torch.arange(12.0).reshape(3, 4)
    t.split(2, 1)[1][0, 0] = -1.0
    t.narrow(0, 2, 1)[0, 3] = -2.0
    t.unbind(1)[0][1] = -3.0
    np.testing.assert_array_equal(x.numpy(), t.numpy())
    f = x.flip(0)  # flip copies
    f[0, 0] = 100.0
    assert x[2, 0].item() == 8.0


def test_pieces_integer_and_empty(torch):
    i = np.arange(12).reshape(3, 4)
    for fn in (lambda L, t: L.flip(t, (1,)), lambda L, t: L.roll(t, 1, 0),
               lambda L, t: L.tril(t, 1), lambda L, t: L.chunk(t, 2, 1),
               lambda L, t: L.split(t, [1, 2]), lambda L, t: L.chunk(t[:, :0], 2, 1),
               lambda L, t: L.split(t[:0], 0), lambda L, t: L.narrow(t, 1, 4, 0)):
        assert_same(*both(fn, i))


def test_pieces_errors():
    x = f32(2, 3)
    with pytest.raises(RuntimeError, match="chunk expects `chunks` to be greater than 0"):
        minicnn.chunk(x, 0)
    with pytest.raises(TypeError, match=r"chunk\(\): argument 'chunks' \(position 2\) must be "
                                        r"int, not float"):
        minicnn.chunk(x, 2.0)
    with pytest.raises(RuntimeError, match="chunk expects at least a 1-dimensional tensor"):
        minicnn.chunk(minicnn.tensor(1.0), 1)
    with pytest.raises(RuntimeError, match=r"split_with_sizes expects split_sizes to sum exactly "
                                           r"to 3 .* but got split_sizes=\[1, 1\]"):
        minicnn.split(x, [1, 1], 1)
    with pytest.raises(RuntimeError, match="split_size can only be 0 if dimension size is 0"):
        minicnn.split(x, 0, 1)
    with pytest.raises(RuntimeError, match="split expects split_size be non-negative"):
        minicnn.split(x, -1, 1)
    with pytest.raises(IndexError, match="out of range"):
        minicnn.split(x, 1, 5)
    with pytest.raises(IndexError, match="no dimensions"):
        minicnn.unbind(minicnn.tensor(1.0))
    with pytest.raises(RuntimeError, match=r"start \(2\) \+ length \(2\) exceeds dimension size "
                                           r"\(3\)"):
        minicnn.narrow(x, 1, 2, 2)
    with pytest.raises(IndexError, match=r"start out of range \(expected to be in range of "
                                         r"\[-3, 3\], but got -4\)"):
        minicnn.narrow(x, 1, -4, 1)
    with pytest.raises(RuntimeError, match="length must be non-negative"):
        minicnn.narrow(x, 1, 1, -1)
    with pytest.raises(TypeError, match=r"flip\(\): argument 'dims' \(position 2\) must be "
                                        r"tuple of ints, not int"):
        minicnn.flip(x, 0)
    with pytest.raises(RuntimeError, match="dim 0 appears multiple times"):
        minicnn.flip(x, (0, 0))
    with pytest.raises(RuntimeError, match="shifts and dimensions must align. shifts: 2, dims:0"):
        minicnn.roll(x, (1, 2))
    with pytest.raises(RuntimeError, match="shifts and dimensions must align. shifts: 2, dims:1"):
        minicnn.roll(x, (1, 2), 0)
    with pytest.raises(RuntimeError, match="tril: input tensor must have at least 2 dimensions"):
        minicnn.tril(minicnn.ones(3))
    with pytest.raises(TypeError, match=r"triu\(\): argument 'diagonal' \(position 2\) must be "
                                        r"int, not float"):
        minicnn.triu(x, 1.5)
    with pytest.raises(ValueError, match="must match the existing size"):
        minicnn.broadcast_to(x, (3, 3))


# ---------------------------------------------------------------- matrix products

LINALG = [
    ("mm", lambda L, a, b, c: L.mm(a, b)),
    ("mm_method", lambda L, a, b, c: a.mm(b)),
    ("dot", lambda L, a, b, c: L.dot(a[0], c[0, 1:])),
    ("dot_method", lambda L, a, b, c: b[:, 1].dot(c[0, :4])),
    ("outer", lambda L, a, b, c: L.outer(a[1], c[0])),
    ("outer_method", lambda L, a, b, c: b[0].outer(a[:, 0])),
    ("addmm", lambda L, a, b, c: L.addmm(c, a, b)),
    ("addmm_scaled", lambda L, a, b, c: L.addmm(c[0], a, b, beta=0.5, alpha=-2)),
    ("addmm_method", lambda L, a, b, c: c[:, :1].addmm(a, b, alpha=3)),
    ("addmm_beta0", lambda L, a, b, c: L.addmm(c, a, b, beta=0)),
]


@pytest.mark.parametrize("name, fn", LINALG, ids=[m[0] for m in LINALG])
@pytest.mark.parametrize("dtype", DTYPES)
def test_linalg_matches_torch(torch, name, fn, dtype):
    rng = np.random.default_rng(15)
    a, b, c = real(rng, (3, 4)), real(rng, (4, 5)), real(rng, (3, 5))
    agree(torch, fn, a, b, c, dtype=dtype,
          tol=dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else None)


@pytest.mark.parametrize("name, fn", LINALG, ids=[m[0] for m in LINALG])
def test_linalg_gradcheck(name, fn):
    rng = np.random.default_rng(16)
    check_grad(fn, real(rng, (3, 4)), real(rng, (4, 5)), real(rng, (3, 5)))


def test_addmm_beta0_ignores_nan(torch):
    c = np.full((2, 2), np.nan)
    got, want = both(lambda L, c, a: L.addmm(c, a, a, beta=0), c, np.eye(2))
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_outer_mixed_dtypes(torch):
    got, want = both(lambda L, a, b: L.outer(a, b), np.ones(2, np.float32), np.arange(3))
    assert_same(got, want)


def test_linalg_errors():
    x = f32(2, 3)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 "
                                           r"and 2x3\)"):
        minicnn.mm(x, x)
    with pytest.raises(RuntimeError, match="mat2 must be a matrix"):
        minicnn.mm(x, f32(3))
    with pytest.raises(RuntimeError, match="self must be a matrix"):
        minicnn.mm(f32(3), x)
    with pytest.raises(RuntimeError, match="expected m1 and m2 to have the same dtype, but got: "
                                           "float != double"):
        minicnn.mm(x, f32(3, 2).double())
    with pytest.raises(RuntimeError, match="1D tensors expected, but got 2D and 2D tensors"):
        minicnn.dot(x, x)
    with pytest.raises(RuntimeError, match=r"inconsistent tensor size, expected tensor \[3\] and "
                                           r"src \[4\]"):
        minicnn.dot(f32(3), f32(4))
    with pytest.raises(RuntimeError, match="expected both vectors to have same dtype, but found "
                                           "Float and Long"):
        minicnn.dot(f32(3), minicnn.ones(3, dtype=minicnn.int64))
    with pytest.raises(RuntimeError, match="outer: Expected 1-D argument self, but got 2-D"):
        minicnn.outer(x, f32(3))
    with pytest.raises(RuntimeError, match=r"cannot be multiplied \(2x3 and 4x3\)"):
        minicnn.addmm(f32(3), x, f32(4, 3))
    with pytest.raises(ValueError, match=r"input of shape \(4,\) does not broadcast"):
        minicnn.addmm(f32(4), x, f32(3, 3))
    with pytest.raises(TypeError, match=r"argument 'mat2' \(position 2\) must be Tensor"):
        minicnn.mm(x, [[1.0]])


EINSUM = [
    ("matmul", "ij,jk->ik", [(2, 3), (3, 4)]),
    ("implicit_batched", "bij,bjk", [(2, 2, 3), (2, 3, 2)]),
    ("diagonal", "ii->i", [(3, 3)]),
    ("trace", "ii", [(3, 3)]),
    ("sum_all", "ij->", [(2, 3)]),
    ("outer", "i,j->ij", [(2,), (3,)]),
    ("ellipsis", "...ij,jk->...ik", [(2, 1, 2, 3), (3, 2)]),
    ("ellipsis_broadcast", "...i,...i", [(2, 1, 3), (4, 3)]),
    ("size_1_broadcast", "ij,ij->ij", [(1, 3), (2, 3)]),
    ("summed_only_here", "ij,k->i", [(2, 3), (4,)]),
    ("three_operands", "ab,bc,cd->ad", [(2, 3), (3, 4), (4, 2)]),
    ("attention", "bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
]


@pytest.mark.parametrize("name, eq, shapes", EINSUM, ids=[e[0] for e in EINSUM])
@pytest.mark.parametrize("dtype", DTYPES)
def test_einsum_matches_torch(torch, name, eq, shapes, dtype):
    rng = np.random.default_rng(17)
    agree(torch, lambda L, *xs: L.einsum(eq, *xs), *(real(rng, s) for s in shapes), dtype=dtype,
          tol=dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else None)
    agree(torch, lambda L, *xs: L.einsum(eq, list(xs)), *(real(rng, s) for s in shapes),
          dtype=dtype, tol=dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else None)


@pytest.mark.parametrize("name, eq, shapes", EINSUM, ids=[e[0] for e in EINSUM])
def test_einsum_gradcheck(name, eq, shapes):
    rng = np.random.default_rng(18)
    check_grad(lambda L, *xs: L.einsum(eq, *xs), *(real(rng, s) for s in shapes))


def test_einsum_errors():
    with pytest.raises(RuntimeError, match="more operands were provided"):
        minicnn.einsum("ij->i", f32(2, 3), f32(2))
    with pytest.raises(RuntimeError, match="fewer operands were provided"):
        minicnn.einsum("ij,j->i", f32(2, 3))
    with pytest.raises(RuntimeError, match=r"the number of subscripts in the equation \(2\) does "
                                           r"not match the number of dimensions \(3\)"):
        minicnn.einsum("ij->i", f32(2, 3, 4))
    with pytest.raises(RuntimeError, match="output subscript k does not appear"):
        minicnn.einsum("ij->k", f32(2, 3))
    with pytest.raises(ValueError, match="subscript j"):
        minicnn.einsum("ij,jk->ik", f32(2, 3), f32(4, 2))
    with pytest.raises(TypeError, match="expected Tensor as element 1"):
        minicnn.einsum("i,i->", f32(2), [1.0, 2.0])
    with pytest.raises(TypeError, match="dtype"):
        minicnn.einsum("i,i->", f32(2), f32(2).double())


# ---------------------------------------------------------------- one_hot

def test_one_hot(torch):
    for data, n in ((np.array([0, 2, 1]), -1), (np.array([[1], [0]]), 4),
                    (np.zeros(0, np.int64), 3), (np.array(2), 3)):
        assert_same(*both(lambda L, t: (F if L is minicnn else torch.nn.functional).one_hot(
            t, n), data))
    with pytest.raises(RuntimeError, match="only applicable to index tensor of type LongTensor"):
        F.one_hot(minicnn.tensor([1.0]))
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
        F.one_hot(minicnn.tensor([1, 5]), 3)
    with pytest.raises(RuntimeError, match="Class values must be non-negative"):
        F.one_hot(minicnn.tensor([1, -1]), 3)
    with pytest.raises(RuntimeError, match="Can not infer total number of classes"):
        F.one_hot(minicnn.tensor([], dtype=minicnn.int64))


# ---------------------------------------------------------------- a typical evaluation loop

def test_typical_eval_code_runs_unchanged(torch):
    """Top-5 accuracy, a confusion matrix and per-class counts, as PyTorch scripts write them."""
    rng = np.random.default_rng(19)
    logits, labels = distinct(rng, (8, 6)).astype(np.float32), rng.integers(0, 6, 8)

    def metrics(L):
        out, target = L.from_numpy(logits), L.from_numpy(labels)
        _, pred = out.topk(5, 1, True, True)
        pred = pred.t()
        correct = pred.eq(target.view(1, -1).expand_as(pred))
        top5 = correct[:5].reshape(-1).float().sum(0, keepdim=True)
        conf = L.zeros(6, 6, dtype=L.int64)
        conf = L.index_put(conf, (target, out.argmax(1)), L.ones(8, dtype=L.int64),
                           accumulate=True)
        probs = L.softmax(out, dim=1)
        onehot = (F if L is minicnn else torch.nn.functional).one_hot(target, 6)
        return (top5, conf, probs.max(1).values.sum(), onehot.sum(0),
                L.isfinite(probs).all(), L.logsumexp(out, 1).mean())

    for g, w in zip(metrics(minicnn), metrics(torch)):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5)
