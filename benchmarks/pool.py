"""Pooling kernels of minicnn's C backend against PyTorch's, on one (N, C, H, W) float32 array.

Cases (the standard ones of ../shared/BENCHMARKS.md: MaxPool 2x2/2 and AvgPool on (128, 64, 32, 32),
plus a global average pool and a 3x3/2 max pool):
  fwd        the public function in training mode (input requires grad, so max pooling also
             writes its int64 indices, in both frameworks);
  fwd infer  the public function under no_grad (minicnn skips the indices; PyTorch runs its
             index-free kernel);
  bwd        the backward kernel alone against aten's, on the same saved tensors;
  fwd+bwd    forward and backward through autograd (y = pool(x); y.backward(g)) with x a leaf
             whose .grad is reset before each run.
PyTorch runs on NCHW tensors and, as a second opinion, on channels_last ones (its faster layout
for pooling); the ratio columns are minicnn / PyTorch (below 1: minicnn is faster). Memory-bound
work, so the rate is GB/s (bytes read + written once each), next to the machine's copy bandwidth.

    python benchmarks/pool.py [--threads N] [--repeat R] [--shape 128 64 32 32] [--json F]
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


def _np(r):
    """The array (or first array of a tuple) behind a minicnn or torch result, as float64."""
    if isinstance(r, tuple):
        r = r[0]
    if hasattr(r, "detach"):
        r = r.detach()
    return np.asarray(r.numpy() if hasattr(r, "numpy") else r, dtype=np.float64)


class Pool:
    """One pooling configuration: the minicnn and torch calls of forward, backward kernels and
    autograd forward+backward, and the bytes each moves."""

    def __init__(self, name, x, torch, kind, k, s, p=0, out=None):
        self.name, self.kind = name, kind
        aten, tf = torch.ops.aten, torch.nn.functional
        self.x = x
        n = x.nbytes
        N, C, H, W = x.shape
        if kind == "max":
            self.mc = lambda t: F.max_pool2d(t, k, s, p)
            self.tt = lambda t: tf.max_pool2d(t, k, s, p)
            y, ind = _cpu.max_pool2d(x, k, k, s, s, p, p, 1, 1, False)
            m = y.nbytes
            self.bytes = {"fwd": n + 3 * m, "fwd infer": n + m, "bwd": 3 * m + n}
            g = np.random.default_rng(1).standard_normal(y.shape, dtype=np.float32)
            xt, gt, it = torch.from_numpy(x), torch.from_numpy(g), torch.from_numpy(ind)
            self.bwd = (lambda: _cpu.max_pool2d_backward(g, ind, H, W),
                        lambda: aten.max_pool2d_with_indices_backward(
                            gt, xt, [k, k], [s, s], [p, p], [1, 1], False, it))
        elif kind == "avg":
            self.mc = lambda t: F.avg_pool2d(t, k, s, p)
            self.tt = lambda t: tf.avg_pool2d(t, k, s, p)
            y = _cpu.avg_pool2d(x, k, k, s, s, p, p, False, True, None)
            m = y.nbytes
            self.bytes = {"fwd": n + m, "fwd infer": n + m, "bwd": m + n}
            g = np.random.default_rng(1).standard_normal(y.shape, dtype=np.float32)
            xt, gt = torch.from_numpy(x), torch.from_numpy(g)
            self.bwd = (lambda: _cpu.avg_pool2d_backward(g, H, W, k, k, s, s, p, p, False, True,
                                                         None),
                        lambda: aten.avg_pool2d_backward(gt, xt, [k, k], [s, s], [p, p], False,
                                                         True, None))
        else:  # adaptive average to `out`
            self.mc = lambda t: F.adaptive_avg_pool2d(t, out)
            self.tt = lambda t: tf.adaptive_avg_pool2d(t, out)
            y = _cpu.adaptive_avg_pool2d(x, out, out)
            m = y.nbytes
            self.bytes = {"fwd": n + m, "fwd infer": n + m, "bwd": m + n}
            g = np.random.default_rng(1).standard_normal(y.shape, dtype=np.float32)
            gt, xt = torch.from_numpy(g), torch.from_numpy(x)
            self.bwd = (lambda: _cpu.adaptive_avg_pool2d_backward(g, H, W),
                        lambda: aten._adaptive_avg_pool2d_backward(gt, xt))
        self.bytes["fwd+bwd"] = self.bytes["fwd"] + self.bytes["bwd"]
        self.g = g

    def cases(self, torch, channels_last):
        """(case, minicnn callable, torch callable) for each measured case."""
        xm = minicnn.tensor(self.x, requires_grad=True)
        xt = torch.tensor(self.x, requires_grad=True)
        if channels_last:
            xt = xt.detach().to(memory_format=torch.channels_last).requires_grad_()
        gm, gt = self.g, torch.from_numpy(self.g)
        if channels_last:
            gt = gt.contiguous(memory_format=torch.channels_last)

        def mc_infer():
            with minicnn.no_grad():
                return self.mc(xm)

        def t_infer():
            with torch.no_grad():
                return self.tt(xt)

        def mc_train():
            xm.grad = None
            self.mc(xm).backward(gm)
            return xm.grad

        def t_train():
            xt.grad = None
            self.tt(xt).backward(gt)
            return xt.grad

        out = [("fwd", lambda: self.mc(xm), lambda: self.tt(xt)),
               ("fwd infer", mc_infer, t_infer)]
        if not channels_last:
            out.append(("bwd",) + self.bwd)
        out.append(("fwd+bwd", mc_train, t_train))
        return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--shape", type=int, nargs=4, default=[128, 64, 32, 32])
    p.add_argument("--no-channels-last", action="store_true",
                   help="skip the comparison with PyTorch's channels_last layout")
    p.add_argument("--json", help="write the records to this JSON file")
    args = p.parse_args(argv)
    torch = harness.same_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(args.shape, dtype=np.float32)
    N, C, H, W = args.shape
    xg = rng.standard_normal((N, C, max(1, H // 4), max(1, W // 4)), dtype=np.float32)
    bw = harness.copy_bandwidth(x.nbytes, torch)
    ceiling = max(bw.values())
    configs = [Pool("max 2x2/2", x, torch, "max", 2, 2),
               Pool("avg 2x2/2", x, torch, "avg", 2, 2),
               Pool("max 3x3/2 p1", x, torch, "max", 3, 2, 1),
               Pool("avg 3x3/1 p1", x, torch, "avg", 3, 1, 1),
               Pool(f"gap {xg.shape[2]}x{xg.shape[3]}->1", xg, torch, "adaptive", 0, 0, out=1)]

    print(f"# {harness.cpu_model()}, {args.threads} threads, float32 {tuple(args.shape)}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"# copy bandwidth: numpy {bw['numpy']:.1f} GB/s (1 thread), "
          f"torch {bw['torch']:.1f} GB/s ({args.threads} threads)")
    print(f"{'case':27s} {'torch':6s} {'minicnn ms':>10s} {'torch ms':>9s} {'ratio':>6s} "
          f"{'GB/s':>6s} {'%copy':>6s} {'rel err':>8s} {'cpu/wall':>8s}")
    records = []
    layouts = [False] if args.no_channels_last else [False, True]
    for cfg in configs:
        for cl in layouts:
            for case, fm, ft in cfg.cases(torch, cl):
                ref = _np(ft())
                err = float(np.abs(_np(fm()) - ref).max() / max(np.abs(ref).max(), 1e-30))
                r = harness.paired(fm, ft, repeat=args.repeat)
                gbs = cfg.bytes[case] / (r["a_ms"][1] / 1e3) / 1e9
                layout = "NHWC" if cl else "NCHW"
                label = f"{cfg.name} {case}"
                print(f"{label:27s} {layout:6s} {r['a_ms'][1]:10.2f} {r['b_ms'][1]:9.2f} "
                      f"{r['ratio']:6.2f} {gbs:6.1f} {100 * gbs / ceiling:5.0f}% {err:8.1e} "
                      f"{r['cpu_per_wall']:8.2f}", flush=True)
                records.append({"op": label, "torch_layout": layout, "shape": list(cfg.x.shape),
                                "dtype": "float32", "threads": args.threads,
                                "minicnn_ms": r["a_ms"], "torch_ms": r["b_ms"],
                                "ratio": r["ratio"], "gb_per_s": gbs, "rel_err": err,
                                "cpu_per_wall": r["cpu_per_wall"]})
    if args.json:
        harness.write_json(args.json, records, args.threads)


if __name__ == "__main__":
    main()
