"""The linear-layer kernels (csrc/cpu/gemm_impl.h: minicnn's own GEMM) against their NumPy twins
in minicnn.backends.reference.linear and against torch.nn.functional.linear: hypothesis draws
sizes across the micro-kernel's block edges (6 rows, 64 float / 32 double columns) and the
two-thread split; results must be bit-identical with 1 and 2 threads; bad input raises."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn import backends
from minicnn.backends import reference

_cpu = backends._cpu
pytestmark = pytest.mark.skipif(_cpu is None, reason="the C extension is not built")


def _close(got, want, dtype):
    scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


@pytest.fixture
def restore_threads():
    before = _cpu.get_num_threads()
    yield
    _cpu.set_num_threads(before)


@settings(deadline=None, max_examples=60)
@given(M=st.integers(1, 300), n_in=st.integers(1, 200), n_out=st.integers(1, 150),
       dtype=st.sampled_from([np.float32, np.float64]), bias=st.booleans(),
       seed=st.integers(0, 2 ** 32 - 1))
def test_linear_kernels_match_reference_with_any_thread_count(M, n_in, n_out, dtype, bias, seed):
    rng = np.random.default_rng(seed)
    x, w, g = (rng.standard_normal(s).astype(dtype) for s in ((M, n_in), (n_out, n_in), (M, n_out)))
    b = rng.standard_normal(n_out).astype(dtype) if bias else None
    before = _cpu.get_num_threads()
    try:
        for name, args in [("linear", (x, w, b)), ("linear_backward_input", (g, w)),
                           ("linear_backward_weight", (g, x))]:
            _cpu.set_num_threads(1)
            one = getattr(_cpu, name)(*args)
            _cpu.set_num_threads(2)
            two = getattr(_cpu, name)(*args)
            want = getattr(reference, name)(*args)
            assert one.dtype == dtype and one.flags.c_contiguous and one.shape == want.shape, name
            np.testing.assert_array_equal(one, two, err_msg=f"{name}: 1 vs 2 threads")
            _close(one, want, dtype)
    finally:
        _cpu.set_num_threads(before)


@pytest.mark.parametrize("M, n_in, n_out", [(1, 4096, 130), (3, 1000, 200), (8, 37, 5),
                                             (8, 1024, 64), (9, 70, 20), (1, 1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_forward_of_a_small_batch(M, n_in, n_out, dtype, restore_threads):
    """At most 8 rows run as dot products along W's rows (linear_impl.h), 9 and more on the GEMM;
    both against the twin, and the same bits on 1 and 2 threads (the larger cases split)."""
    rng = np.random.default_rng(M * n_in)
    x, w = rng.standard_normal((M, n_in)).astype(dtype), rng.standard_normal((n_out, n_in))
    b = rng.standard_normal(n_out).astype(dtype)
    w = w.astype(dtype)
    _cpu.set_num_threads(1)
    one = _cpu.linear(x, w, b)
    _cpu.set_num_threads(2)
    np.testing.assert_array_equal(one, _cpu.linear(x, w, b))
    _close(one, reference.linear(x, w, b), dtype)
    _close(_cpu.linear(x, w, None), reference.linear(x, w, None), dtype)


def test_linear_op_matches_torch(torch):
    import minicnn
    import minicnn.nn.functional as F
    rng = np.random.default_rng(0)
    x, w, b, g = (rng.standard_normal(s).astype(np.float32)
                  for s in ((4, 7, 130), (70, 130), (70,), (4, 7, 70)))
    xm, wm, bm = (minicnn.tensor(a, requires_grad=True) for a in (x, w, b))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ym, yt = F.linear(xm, wm, bm), torch.nn.functional.linear(xt, wt, bt)
    _close(ym.detach().numpy(), yt.detach().numpy(), np.float32)
    ym.backward(minicnn.tensor(g))
    yt.backward(torch.from_numpy(g))
    for m, t in [(xm, xt), (wm, wt), (bm, bt)]:
        _close(m.grad.numpy(), t.grad.detach().numpy(), np.float32)


@pytest.mark.parametrize("call, message", [
    (lambda x, w: _cpu.linear(x, np.zeros((4, 5), np.float32)), "x must have shape"),
    (lambda x, w: _cpu.linear(x, w.astype(np.float64)), "dtype"),
    (lambda x, w: _cpu.linear(x[:, ::2], w[:, :3]), "C-contiguous"),
    (lambda x, w: _cpu.linear(x, w, np.zeros(3, np.float32)), "bias must be"),
    (lambda x, w: _cpu.linear_backward_input(np.zeros((4, 3), np.float32), w), "grad_output"),
    (lambda x, w: _cpu.linear_backward_weight(np.zeros((5, 4), np.float32), x), "same M"),
    (lambda x, w: _cpu.linear(x.ravel(), w), "2-D"),
])
def test_linear_kernels_reject_bad_input(call, message):
    x = np.zeros((4, 6), np.float32)
    w = np.zeros((4, 6), np.float32)
    with pytest.raises((TypeError, ValueError), match=message):
        call(x, w)
