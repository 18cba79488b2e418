"""A classifier head against PyTorch: linear (128x256 -> 10) and cross entropy on (128, 10) and
(128, 1000) logits, float32, forward, backward and forward+backward through the public functions
(minicnn.nn.functional vs torch.nn.functional).

These tensors are tiny, so per-call Python work (argument checks, the autograd graph) weighs as
much as the arithmetic: the numbers measure the whole call path, not just the kernels. Backward
is timed alone on a graph built outside the timed region (backward(retain_graph=True), with the
gradients reset before each call). Rates: GFLOP/s for linear (forward 2 M K N flops, backward
twice that), GB/s for cross entropy (forward reads the logits; backward reads them and writes the
gradient).

    python benchmarks/loss.py [--threads N] [--repeat R] [--json F]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import minicnn  # noqa: E402
import minicnn.nn.functional as F  # noqa: E402


def _np(t):
    t = t.detach() if hasattr(t, "detach") else t
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t, dtype=np.float64)


def _rel(a, b):
    a, b = _np(a), _np(b)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def _leaves(arrays, lib, torch):
    if lib == "minicnn":
        return [minicnn.tensor(a, requires_grad=True) for a in arrays]
    return [torch.tensor(a, requires_grad=True) for a in arrays]


def _graph_case(name, work, arrays, run_m, run_t, torch):
    """Three timed cases (fwd, bwd, fwd+bwd) of one op; ``run_*(leaves)`` returns the output."""
    lm, lt = _leaves(arrays, "minicnn", torch), _leaves(arrays, "torch", torch)
    out_m, out_t = run_m(lm), run_t(lt)
    gm = minicnn.tensor(np.ones(out_m.shape, np.float32))
    gt = torch.ones(tuple(out_t.shape))

    def reset(leaves):
        for x in leaves:
            x.grad = None

    def fwd_m():
        with minicnn.no_grad():
            return run_m(lm)

    def fwd_t():
        with torch.no_grad():
            return run_t(lt)

    def bwd_m():
        reset(lm)
        out_m.backward(gm, retain_graph=True)

    def bwd_t():
        reset(lt)
        out_t.backward(gt, retain_graph=True)

    def both_m():
        reset(lm)
        run_m(lm).backward(gm)

    def both_t():
        reset(lt)
        run_t(lt).backward(gt)

    def check_fwd():
        return _rel(fwd_m(), fwd_t())

    def check_grads():
        both_m()
        both_t()
        return max(_rel(a.grad, b.grad) for a, b in zip(lm, lt))

    fw, bw = work
    return [(f"{name} fwd", fw, fwd_m, fwd_t, check_fwd),
            (f"{name} bwd", bw, bwd_m, bwd_t, check_grads),
            (f"{name} fwd+bwd", fw + bw, both_m, both_t, check_grads)]


def cases(torch, rng):
    out = []
    # linear 128x256 -> 10 (the head of a small CNN): rate in GFLOP/s
    M, K, Nout = 128, 256, 10
    x = rng.standard_normal((M, K), dtype=np.float32)
    w = (rng.standard_normal((Nout, K), dtype=np.float32) / 16).astype(np.float32)
    b = rng.standard_normal(Nout, dtype=np.float32)
    flops = 2 * M * K * Nout
    out.append(("flop", _graph_case(
        f"linear {M}x{K}->{Nout}", (flops, 2 * flops), [x, w, b],
        lambda L: F.linear(*L), lambda L: torch.nn.functional.linear(*L), torch)))
    # cross entropy on logits (N, C) with int64 targets, mean reduction: rate in GB/s
    for N, C in [(128, 10), (128, 1000)]:
        logits = (rng.standard_normal((N, C), dtype=np.float32) * 3).astype(np.float32)
        target = rng.integers(0, C, N)
        tm, tt = minicnn.tensor(target), torch.from_numpy(target)
        nbytes = logits.nbytes
        out.append(("byte", _graph_case(
            f"cross_entropy {N}x{C}", (nbytes, 2 * nbytes), [logits],
            lambda L, tm=tm: F.cross_entropy(L[0], tm),
            lambda L, tt=tt: torch.nn.functional.cross_entropy(L[0], tt), torch)))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeat", type=int, default=200,
                   help="timed pairs per case (tiny tensors: many, the median is what counts)")
    p.add_argument("--json", help="write the records to this JSON file")
    args = p.parse_args(argv)
    torch = harness.same_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"# {harness.cpu_model()}, {args.threads} threads, float32, {time.strftime('%Y-%m-%d')}; "
          f"median of {args.repeat} interleaved pairs")
    print(f"{'case':30s} {'minicnn us':>10s} {'torch us':>9s} {'ratio':>6s} {'rate':>12s} "
          f"{'rel err':>8s} {'cpu/wall':>8s}")
    records = []
    for unit, group in cases(torch, rng):
        for name, work, fm, ft, check in group:
            err = check()
            r = harness.paired(fm, ft, repeat=args.repeat, warmup=20)
            sec = r["a_ms"][1] / 1e3
            rate = work / sec / 1e9
            rate_s = f"{rate:6.2f} GFLOP/s" if unit == "flop" else f"{rate:7.2f} GB/s"
            print(f"{name:30s} {1e3 * r['a_ms'][1]:10.1f} {1e3 * r['b_ms'][1]:9.1f} "
                  f"{r['ratio']:6.2f} {rate_s:>12s} {err:8.1e} {r['cpu_per_wall']:8.2f}")
            records.append({"op": name, "dtype": "float32", "threads": args.threads,
                            "minicnn_ms": r["a_ms"], "torch_ms": r["b_ms"], "ratio": r["ratio"],
                            ("gflops" if unit == "flop" else "gb_per_s"): rate, "rel_err": err,
                            "cpu_per_wall": r["cpu_per_wall"]})
    if args.json:
        harness.write_json(args.json, records, args.threads)


if __name__ == "__main__":
    main()
