"""Elementwise kernels of minicnn's C backend against PyTorch's, on one (N, C, H, W) float32 array.

Forward through the public functions (minicnn.nn.functional vs torch.nn.functional, no grad);
backward kernel against aten's backward kernel on the same saved tensors. Memory-bound work, so
the rate is GB/s (bytes read + written), next to the machine's copy bandwidth.

    python benchmarks/elementwise.py [--threads N] [--repeat R] [--shape 128 64 32 32] [--json F]
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


def cases(x, g, b, torch):
    """(name, bytes moved, minicnn callable, torch callable, check pair) for each kernel."""
    aten = torch.ops.aten
    xt, gt, bt = torch.from_numpy(x), torch.from_numpy(g), torch.from_numpy(b)
    xm = minicnn.tensor(x)
    n = x.nbytes
    out = []
    for name, fm, ft in [
        ("relu", F.relu, torch.relu),
        ("sigmoid", F.sigmoid, torch.sigmoid),
        ("tanh", F.tanh, torch.tanh),
        ("silu", F.silu, torch.nn.functional.silu),
        ("gelu", F.gelu, torch.nn.functional.gelu),
    ]:
        out.append((f"{name} fwd", 2 * n, lambda fm=fm: fm(xm), lambda ft=ft: ft(xt)))
    y_relu, y_sig, y_tanh = _cpu.relu(x), _cpu.sigmoid(x), _cpu.tanh(x)
    yt_relu, yt_sig, yt_tanh = (torch.from_numpy(a) for a in (y_relu, y_sig, y_tanh))
    out += [
        ("relu bwd", 3 * n, lambda: _cpu.relu_backward(g, y_relu),
         lambda: aten.threshold_backward(gt, yt_relu, 0)),
        ("sigmoid bwd", 3 * n, lambda: _cpu.sigmoid_backward(g, y_sig),
         lambda: aten.sigmoid_backward(gt, yt_sig)),
        ("tanh bwd", 3 * n, lambda: _cpu.tanh_backward(g, y_tanh),
         lambda: aten.tanh_backward(gt, yt_tanh)),
        ("silu bwd", 3 * n, lambda: _cpu.silu_backward(g, x), lambda: aten.silu_backward(gt, xt)),
        ("gelu bwd", 3 * n, lambda: _cpu.gelu_backward(g, x), lambda: aten.gelu_backward(gt, xt)),
        ("bias_add fwd", 2 * n, lambda: _cpu.bias_add(x, b), lambda: xt + bt.view(1, -1, 1, 1)),
        ("bias_add bwd", n, lambda: _cpu.bias_add_backward(g), lambda: gt.sum((0, 2, 3))),
    ]
    return out


def _as_numpy(r):
    return r.numpy() if hasattr(r, "numpy") else np.asarray(r)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--shape", type=int, nargs=4, default=[128, 64, 32, 32])
    p.add_argument("--json", help="write the records to this JSON file")
    args = p.parse_args(argv)
    torch = harness.same_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(args.shape, dtype=np.float32)
    g = rng.standard_normal(args.shape, dtype=np.float32)
    b = rng.standard_normal(args.shape[1], dtype=np.float32)
    bw = harness.copy_bandwidth(x.nbytes, torch)

    print(f"# {harness.cpu_model()}, {args.threads} threads, float32 {tuple(args.shape)}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"# copy bandwidth: numpy {bw['numpy']:.1f} GB/s (1 thread), "
          f"torch {bw['torch']:.1f} GB/s ({args.threads} threads)")
    print(f"{'case':14s} {'minicnn ms':>11s} {'torch ms':>9s} {'ratio':>6s} {'GB/s':>6s} "
          f"{'%copy':>6s} {'rel err':>8s} {'cpu/wall':>8s}")
    records = []
    ceiling = max(bw.values())
    with minicnn.no_grad(), torch.no_grad():
        for name, nbytes, fm, ft in cases(x, g, b, torch):
            ref = _as_numpy(ft()).astype(np.float64)
            err = float(np.abs(_as_numpy(fm()) - ref).max() / max(np.abs(ref).max(), 1e-30))
            r = harness.paired(fm, ft, repeat=args.repeat)
            gbs = nbytes / (r["a_ms"][1] / 1e3) / 1e9
            print(f"{name:14s} {r['a_ms'][1]:11.2f} {r['b_ms'][1]:9.2f} {r['ratio']:6.2f} "
                  f"{gbs:6.1f} {100 * gbs / ceiling:5.0f}% {err:8.1e} {r['cpu_per_wall']:8.2f}")
            records.append({"op": name, "shape": args.shape, "dtype": "float32",
                            "threads": args.threads, "minicnn_ms": r["a_ms"], "torch_ms": r["b_ms"],
                            "ratio": r["ratio"], "gb_per_s": gbs, "rel_err": err,
                            "cpu_per_wall": r["cpu_per_wall"]})
    if args.json:
        harness.write_json(args.json, records, args.threads)


if __name__ == "__main__":
    main()
