"""Normalization against PyTorch: batch norm (training forward, eval forward, backward kernel,
and forward + backward through autograd), plus group, layer and instance norm, float32.

Forward through the public functions (minicnn.nn.functional vs torch.nn.functional, no grad,
running statistics updated in training mode as in a real step). The backward kernel against
aten's native_batch_norm_backward on the same saved tensors. "fwd+bwd" is a training step of
the layer through autograd: y = batch_norm(x, ..., training=True); y.backward(g), with input,
weight and bias requiring grad in both frameworks.

GB/s counts the bytes the fused two-pass kernels move at least (each pass reads its inputs once):
training forward 3 arrays (x read for the statistics, x read and y written), eval forward 2,
backward 5 (grad_output and x read for the sums, both again, grad_input written), forward +
backward 8; next to the machine's copy bandwidth (2 arrays per copy).

    python benchmarks/norm.py [--threads N] [--repeat R] [--shape 128 64 32 32] [--json F]
                              [--only batch]
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
from minicnn.backends import _cpu  # noqa: E402


def _as_numpy(r):
    if hasattr(r, "detach"):  # a minicnn or torch tensor
        return r.detach().numpy()
    return np.asarray(r)


def batch_cases(x, g, torch, eps=1e-5):
    """(name, bytes moved, minicnn callable, torch callable) for batch norm."""
    C = x.shape[1]
    n = x.nbytes
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 1.5, C).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    xt, gt, wt, bt = (torch.from_numpy(a) for a in (x, g, w, b))
    xm, gm, wm, bm = (minicnn.tensor(a) for a in (x, g, w, b))
    rm, rv = minicnn.zeros(C), minicnn.ones(C)
    trm, trv = torch.zeros(C), torch.ones(C)
    ev_m = rng.standard_normal(C).astype(np.float32) * 0.1
    ev_v = rng.uniform(0.5, 2.0, C).astype(np.float32)
    erm, erv, term, terv = minicnn.tensor(ev_m), minicnn.tensor(ev_v), torch.from_numpy(ev_m), \
        torch.from_numpy(ev_v)

    out = [
        ("bn train fwd", 3 * n,
         lambda: F.batch_norm(xm, rm, rv, wm, bm, training=True),
         lambda: torch.nn.functional.batch_norm(xt, trm, trv, wt, bt, training=True)),
        ("bn eval fwd", 2 * n,
         lambda: F.batch_norm(xm, erm, erv, wm, bm, training=False),
         lambda: torch.nn.functional.batch_norm(xt, term, terv, wt, bt, training=False)),
    ]
    _, mean, _, invstd = _cpu.batch_norm_forward_train(x, w, b, eps)
    tmean, tinvstd = torch.from_numpy(mean), torch.from_numpy(invstd)
    out.append(("bn bwd", 5 * n,
                lambda: _cpu.batch_norm_backward(g, x, mean, invstd, w, True, (True, True, True)),
                lambda: torch.ops.aten.native_batch_norm_backward(
                    gt, xt, wt, None, None, tmean, tinvstd, True, eps, [True, True, True])))

    xg, wg, bg = (minicnn.tensor(a, requires_grad=True) for a in (x, w, b))
    xtg, wtg, btg = (torch.from_numpy(a).clone().requires_grad_(True) for a in (x, w, b))

    def mc_step():
        xg.grad = wg.grad = bg.grad = None
        F.batch_norm(xg, rm, rv, wg, bg, training=True).backward(gm)
        return xg.grad

    def torch_step():
        xtg.grad = wtg.grad = btg.grad = None
        torch.nn.functional.batch_norm(xtg, trm, trv, wtg, btg, training=True).backward(gt)
        return xtg.grad

    out.append(("bn fwd+bwd", 8 * n, mc_step, torch_step))
    return out


def other_cases(x, g, torch, groups=32):
    """Group, layer and instance norm forward + backward through autograd (affine)."""
    C = x.shape[1]
    n = x.nbytes
    rng = np.random.default_rng(2)
    w = rng.uniform(0.5, 1.5, C).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    D = x.shape[-1]
    lw = rng.uniform(0.5, 1.5, D).astype(np.float32)
    lb = rng.standard_normal(D).astype(np.float32)
    gm = minicnn.tensor(g)
    gt = torch.from_numpy(g)
    out = []
    for name, fm, ft, params in [
        ("group_norm", lambda L, X, W, B: L.nn.functional.group_norm(X, groups, W, B),
         None, (w, b)),
        ("layer_norm", lambda L, X, W, B: L.nn.functional.layer_norm(X, (D,), W, B),
         None, (lw, lb)),
        ("instance_norm", lambda L, X, W, B: L.nn.functional.instance_norm(X, None, None, W, B),
         None, (w, b)),
    ]:
        xm, wm, bm = (minicnn.tensor(a, requires_grad=True) for a in (x,) + params)
        xt, wt, bt = (torch.from_numpy(a).clone().requires_grad_(True) for a in (x,) + params)

        def mc_step(fm=fm, xm=xm, wm=wm, bm=bm):
            xm.grad = wm.grad = bm.grad = None
            fm(minicnn, xm, wm, bm).backward(gm)
            return xm.grad

        def torch_step(fm=fm, xt=xt, wt=wt, bt=bt):
            xt.grad = wt.grad = bt.grad = None
            fm(torch, xt, wt, bt).backward(gt)
            return xt.grad

        out.append((f"{name} fwd+bwd", 8 * n, mc_step, torch_step))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--shape", type=int, nargs=4, default=[128, 64, 32, 32])
    p.add_argument("--only", choices=["batch", "all"], default="all",
                   help="batch: batch norm cases only")
    p.add_argument("--json", help="write the records to this JSON file")
    args = p.parse_args(argv)
    torch = harness.same_threads(args.threads)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(args.shape, dtype=np.float32) * 2 + 0.5).astype(np.float32)
    g = rng.standard_normal(args.shape, dtype=np.float32)
    bw = harness.copy_bandwidth(x.nbytes, torch)

    print(f"# {harness.cpu_model()}, {args.threads} threads, float32 {tuple(args.shape)}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"# copy bandwidth: numpy {bw['numpy']:.1f} GB/s (1 thread), "
          f"torch {bw['torch']:.1f} GB/s ({args.threads} threads)")
    print(f"{'case':22s} {'minicnn ms':>11s} {'torch ms':>9s} {'ratio':>6s} {'GB/s':>6s} "
          f"{'torchGB/s':>9s} {'%copy':>6s} {'rel err':>8s} {'cpu/wall':>8s}")
    ceiling = max(bw.values())
    cases = batch_cases(x, g, torch)
    if args.only == "all":
        cases += other_cases(x, g, torch)
    records = []
    for name, nbytes, fm, ft in cases:
        if "fwd+bwd" in name:  # a training step: autograd on
            ref, got = ft(), fm()
            r = harness.paired(fm, ft, repeat=args.repeat)
        else:
            with minicnn.no_grad(), torch.no_grad():
                ref, got = ft(), fm()
                r = harness.paired(fm, ft, repeat=args.repeat)
        ref = _as_numpy(ref[0] if isinstance(ref, tuple) else ref).astype(np.float64)
        got = _as_numpy(got[0] if isinstance(got, tuple) else got)
        err = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))
        gbs = nbytes / (r["a_ms"][1] / 1e3) / 1e9
        tgbs = nbytes / (r["b_ms"][1] / 1e3) / 1e9
        print(f"{name:22s} {r['a_ms'][1]:11.2f} {r['b_ms'][1]:9.2f} {r['ratio']:6.2f} "
              f"{gbs:6.1f} {tgbs:9.1f} {100 * gbs / ceiling:5.0f}% {err:8.1e} "
              f"{r['cpu_per_wall']:8.2f}")
        records.append({"op": name, "shape": args.shape, "dtype": "float32",
                        "threads": args.threads, "minicnn_ms": r["a_ms"], "torch_ms": r["b_ms"],
                        "ratio": r["ratio"], "gb_per_s": gbs, "torch_gb_per_s": tgbs,
                        "rel_err": err, "cpu_per_wall": r["cpu_per_wall"]})
    if args.json:
        harness.write_json(args.json, records, args.threads)


if __name__ == "__main__":
    main()
