"""``compare``: benchmark any kernel against references, checking its answers first.

The protocol is that of docs/benchmarking.md: per case, every callable runs once and its answer
is checked against each reference's (a fast wrong kernel is a failure, not a result); then the
candidate and each reference run interleaved, A B A B ..., after a warm-up, and the figure
reported is the median of the per-pair time ratios candidate / reference.
"""
import numpy as np

from . import harness
from .report import Report


class BenchmarkMismatch(AssertionError):
    """A candidate's answer differs from a reference's beyond the tolerance (or in shape)."""


def to_numpy(result):
    """A kernel's result as NumPy: an ndarray as is, a minicnn or torch tensor through
    ``.detach().cpu().numpy()``, a real number as a 0-d array, a tuple or list elementwise (a
    flat list of arrays, nested ones flattened). Raises TypeError for anything else (None
    included: a kernel under test must return its result)."""
    if isinstance(result, np.ndarray):
        return result
    if isinstance(result, (tuple, list)):
        flat = []
        for r in result:
            a = to_numpy(r)
            flat.extend(a if isinstance(a, list) else [a])
        return flat
    if isinstance(result, (int, float, np.integer, np.floating, np.bool_)):
        return np.asarray(result)
    if all(hasattr(result, a) for a in ("detach", "cpu", "numpy")):  # minicnn or torch tensor
        return np.asarray(result.detach().cpu().numpy())
    raise TypeError(f"cannot check a result of type {type(result).__name__}: a benchmarked "
                    "callable must return an ndarray, a minicnn or torch tensor, a number, or a "
                    "tuple or list of them")


def check_close(got, want, *, rtol=1e-4, atol=1e-5, case="", reference="reference"):
    """Check a candidate's result against a reference's (any mix of what :func:`to_numpy`
    takes); returns (max_abs_err, rel_err) over all arrays, or raises BenchmarkMismatch naming
    the case, the reference and both errors.

    The test is ``max|got - want| <= atol + rtol * max|want|`` per array: np.allclose's form,
    but scaled by the reference's largest magnitude rather than elementwise, because a float32
    sum's rounding error grows with the size of its terms, not of its result (an element of a
    long dot product near 0 keeps the error of the large terms). rel_err is
    ``max|got - want| / max|want|``, the figure docs/benchmarking.md reports. Shapes must match
    exactly; NaN or inf where the reference has none is a mismatch.
    """
    got, want = to_numpy(got), to_numpy(want)
    if isinstance(got, list) != isinstance(want, list) or \
            isinstance(got, list) and len(got) != len(want):
        raise BenchmarkMismatch(f"case {case!r}: the candidate returned {_structure(got)}, "
                                f"{reference} returned {_structure(want)}")
    pairs = list(zip(got, want)) if isinstance(got, list) else [(got, want)]
    worst_abs, worst_rel = 0.0, 0.0
    for i, (g, w) in enumerate(pairs):
        where = f" (output {i})" if len(pairs) > 1 else ""
        if g.shape != w.shape:
            raise BenchmarkMismatch(f"case {case!r}{where}: the candidate's result has shape "
                                    f"{tuple(g.shape)}, {reference}'s {tuple(w.shape)}")
        g, w = g.astype(np.float64), w.astype(np.float64)
        if g.size == 0:
            continue
        if not np.array_equal(np.isfinite(g), np.isfinite(w)) or \
                not np.array_equal(g[~np.isfinite(g)], w[~np.isfinite(w)], equal_nan=True):
            raise BenchmarkMismatch(f"case {case!r}{where}: the candidate's non-finite values "
                                    f"(NaN, inf) differ from {reference}'s")
        finite = np.isfinite(w)
        err = float(np.abs(g[finite] - w[finite]).max(initial=0.0))
        scale = float(np.abs(w[finite]).max(initial=0.0))
        rel = err / scale if scale > 0 else (0.0 if err == 0 else float("inf"))
        if err > atol + rtol * scale:
            raise BenchmarkMismatch(f"case {case!r}{where}: the candidate differs from "
                                    f"{reference}: max abs error {err:.3g}, rel error {rel:.3g} "
                                    f"(allowed: {atol:g} + {rtol:g} * max|reference| = "
                                    f"{atol + rtol * scale:.3g})")
        worst_abs, worst_rel = max(worst_abs, err), max(worst_rel, rel)
    return worst_abs, worst_rel


def _structure(x):
    return f"{len(x)} outputs" if isinstance(x, list) else f"one array of shape {tuple(x.shape)}"


def compare(candidate, reference, cases, *, repeat=10, warmup=3, rtol=1e-4, atol=1e-5,
            flops=None, bytes=None, threads=None):
    """Benchmark ``candidate`` against ``reference`` on ``cases``, checking its answers first.

    Args:
        candidate: any callable: your own C, Cython, NumPy... kernel.
        reference: a callable, or a dict {name: callable} of several (e.g. {"minicnn": ...,
            "torch": ...}); a single callable is named after its ``__name__``.
        cases: a list of cases, or a dict {case name: case}. A case is the arguments every
            callable gets: a tuple (positional), a dict (keyword), or any other value (one
            positional argument). Unnamed cases are named after their arguments' shapes.
        repeat: timed pairs per case and reference (at least 10 for figures you publish).
        warmup: untimed pairs before them (at least 3); the answer check runs once more.
        rtol, atol: the answer check of :func:`check_close`.
        flops: work per call in floating-point operations, a number or a callable taking the
            case's arguments (like the kernels); gives ``gflops`` (of the candidate).
        bytes: bytes read + written per call, a number or a callable like ``flops``; gives
            ``gbps``.
        threads: if given, minicnn and PyTorch (when imported) use this many threads for the
            run (``minicnn.set_num_threads``, ``torch.set_num_threads``), restored after it.

    Returns a :class:`Report` whose ``records`` hold one dict per case and reference: case,
    reference, candidate_ms and reference_ms ([min, median, max] milliseconds), ratio (median
    of the paired ratios candidate / reference: below 1, the candidate is faster), gflops and
    gbps (with flops/bytes; GFLOP/s and GB/s at the candidate's median time), max_abs_err,
    rel_err, cpu_per_wall (process CPU time over wall time of the timed pairs: about the thread
    count on a quiet machine), threads.

    Raises BenchmarkMismatch (an AssertionError) when the candidate's answer differs from a
    reference's, naming the case, the reference and the errors; TypeError when a callable
    returns something :func:`to_numpy` cannot check.
    """
    refs = dict(reference) if isinstance(reference, dict) else \
        {getattr(reference, "__name__", "reference"): reference}
    if not refs:
        raise ValueError("compare: no reference to compare with")
    with harness.same_threads(threads):
        import minicnn

        nthreads = minicnn.get_num_threads()
        records = []
        for name, args in _named_cases(cases):
            call = _binder(args)
            got = call(candidate)
            errors = {ref: check_close(got, call(fn), rtol=rtol, atol=atol, case=name,
                                       reference=ref) for ref, fn in refs.items()}
            work = {k: v(*call.args, **call.kwargs) if callable(v) else v
                    for k, v in (("gflops", flops), ("gbps", bytes)) if v is not None}
            for ref, fn in refs.items():
                t = harness.paired(lambda: call(candidate), lambda: call(fn), repeat, warmup)
                rec = {"case": name, "reference": ref, "candidate_ms": t["a_ms"],
                       "reference_ms": t["b_ms"], "ratio": t["ratio"]}
                rec.update({k: v / (t["a_ms"][1] / 1e3) / 1e9 for k, v in work.items()})
                rec.update(max_abs_err=errors[ref][0], rel_err=errors[ref][1],
                           cpu_per_wall=t["cpu_per_wall"], threads=nthreads)
                records.append(rec)
        host = harness.host_info(nthreads)
    return Report(records, host)


class _binder:
    """Calls a function with one case's arguments."""

    def __init__(self, args):
        self.args, self.kwargs = (args, {}) if isinstance(args, tuple) else \
            ((), args) if isinstance(args, dict) else ((args,), {})

    def __call__(self, fn):
        return fn(*self.args, **self.kwargs)


def _named_cases(cases):
    """[(name, args)]: a dict's keys, else names from the arguments (numbered when equal)."""
    if isinstance(cases, dict):
        return [(str(k), v) for k, v in cases.items()]
    cases = list(cases)
    if not cases:
        raise ValueError("compare: no cases")
    names = [_describe(c) for c in cases]
    return [(n if names.count(n) == 1 else f"{n} #{i}", c)
            for i, (n, c) in enumerate(zip(names, cases))]


def _describe(args):
    """'8x3x16x16, 4x3x3x3' for arrays, 'k=3' for keywords, short reprs for the rest."""
    def one(a):
        if hasattr(a, "shape"):
            return "x".join(map(str, a.shape)) or "scalar"
        text = repr(a)
        return text if len(text) <= 20 else type(a).__name__

    if isinstance(args, dict):
        return ", ".join(f"{k}={one(v)}" for k, v in args.items())
    return ", ".join(one(a) for a in (args if isinstance(args, tuple) else (args,)))


__all__ = ["BenchmarkMismatch", "check_close", "compare", "to_numpy"]
