"""conv2d forward and backward against PyTorch on the standard cases of ../shared/BENCHMARKS.md.

Forward: minicnn.nn.functional.conv2d against torch's, without autograd. Backward: one
backward() through a graph built beforehand (input, weight and bias gradients), for both. PyTorch
runs in its default NCHW layout and in channels_last, and the ratio against the faster of the two
is reported too ("vs best"). GFLOP/s counts 2 N K (C / groups) kh kw Ho Wo per pass (the
backward counts two of them: input and weight gradients; fwd+bwd ("f+b", a fresh forward with
autograd and its backward) three), also as a fraction of the measured NumPy sgemm ceiling.

    python benchmarks/conv.py [--threads N] [--repeat R] [--batch 128] [--cases 0 3 ...] [--json F]
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

# (name, C_in, C_out, H, kernel, stride, padding, groups)
CASES = [
    ("3x3 3->64 32x32", 3, 64, 32, 3, 1, 1, 1),
    ("3x3 64->64 32x32", 64, 64, 32, 3, 1, 1, 1),
    ("3x3 64->128 16x16", 64, 128, 16, 3, 1, 1, 1),
    ("3x3 128->128 16x16", 128, 128, 16, 3, 1, 1, 1),
    ("3x3 128->256 8x8", 128, 256, 8, 3, 1, 1, 1),
    ("3x3 256->256 8x8", 256, 256, 8, 3, 1, 1, 1),
    ("1x1 256->64 8x8", 256, 64, 8, 1, 1, 0, 1),
    ("3x3/2 64->128 32x32", 64, 128, 32, 3, 2, 1, 1),
    ("dw3x3 128 16x16", 128, 128, 16, 3, 1, 1, 128),
    ("5x5 1->6 28x28", 1, 6, 28, 5, 1, 2, 1),
]


_MEMORY_PROBE = """
import sys, numpy as np
framework, threads = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
x = rng.standard_normal((128, 64, 32, 32), dtype=np.float32)
w = rng.standard_normal((64, 64, 3, 3), dtype=np.float32)
g = rng.standard_normal((128, 64, 32, 32), dtype=np.float32)
if framework == "torch":
    import torch as fw
    import torch.nn.functional as F
    fw.set_num_threads(threads)
    x, w, g = (fw.tensor(a, requires_grad=r) for a, r in ((x, True), (w, True), (g, False)))
else:
    import minicnn as fw
    import minicnn.nn.functional as F
    fw.set_num_threads(threads)
    x, w = fw.tensor(x, requires_grad=True), fw.tensor(w, requires_grad=True)
def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current resident size
base = status("VmRSS:")
for _ in range(3):
    x.grad = w.grad = None
    F.conv2d(x, w, None, 1, 1).backward(g)
print((status("VmHWM:") - base) / 1024)
"""


def peak_memory(threads):
    """Peak resident memory growth (MiB, Linux VmHWM after resetting it) of three conv2d
    forward+backward steps at (128, 64, 32, 32), 3x3, each framework in a fresh process with its
    inputs allocated before the baseline."""
    import subprocess

    out = {}
    for fw in ("minicnn", "torch"):
        r = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, fw, str(threads)],
                           capture_output=True, text=True, check=True)
        out[fw] = float(r.stdout.strip().splitlines()[-1])
    return out


def sgemm_ceiling(n=2048, repeat=5):
    """GFLOP/s of a large float32 matrix product through NumPy's BLAS (best of ``repeat``)."""
    a = np.ones((n, n), np.float32)
    a @ a
    best = min(harness._timed(lambda: a @ a)[0] for _ in range(repeat))
    return 2 * n ** 3 / best / 1e9


def run_case(case, batch, repeat, torch):
    name, C, K, H, k, s, p, groups = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, C, H, H), dtype=np.float32)
    w = (rng.standard_normal((K, C // groups, k, k)) / np.sqrt(C * k * k / groups)).astype(np.float32)
    b = rng.standard_normal(K, dtype=np.float32)
    Ho = (H + 2 * p - k) // s + 1
    flops = 2 * batch * K * (C // groups) * k * k * Ho * Ho

    xm, wm, bm = (minicnn.tensor(a, requires_grad=True) for a in (x, w, b))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    xcl = xt.detach().to(memory_format=torch.channels_last).requires_grad_()
    gy = rng.standard_normal((batch, K, Ho, Ho), dtype=np.float32)
    gt = torch.from_numpy(gy)

    def fwd_m():
        with minicnn.no_grad():
            return F.conv2d(xm, wm, bm, s, p, 1, groups)

    def fwd_t(xx=xt):
        with torch.no_grad():
            return torch.nn.functional.conv2d(xx, wt, bt, s, p, 1, groups)

    ym = F.conv2d(xm, wm, bm, s, p, 1, groups)
    yt = torch.nn.functional.conv2d(xt, wt, bt, s, p, 1, groups)
    ycl = torch.nn.functional.conv2d(xcl, wt, bt, s, p, 1, groups)

    def bwd_m():
        xm.grad = wm.grad = bm.grad = None
        ym.backward(gy, retain_graph=True)

    def bwd_t(y=yt, xx=xt):
        xx.grad = wt.grad = bt.grad = None
        y.backward(gt, retain_graph=True)

    def step_m():
        xm.grad = wm.grad = bm.grad = None
        F.conv2d(xm, wm, bm, s, p, 1, groups).backward(gy)

    def step_t(xx=xt):
        xx.grad = wt.grad = bt.grad = None
        torch.nn.functional.conv2d(xx, wt, bt, s, p, 1, groups).backward(gt)

    err = float(np.abs(fwd_m().numpy() - fwd_t().numpy()).max() / np.abs(fwd_t().numpy()).max())
    bwd_m()
    bwd_t()
    gerr = float(np.abs(wm.grad.numpy() - wt.grad.numpy()).max() / np.abs(wt.grad.numpy()).max())
    rows = []
    for phase, fm, ft, fcl, work in [
        ("fwd", fwd_m, fwd_t, lambda: fwd_t(xcl), flops),
        ("bwd", bwd_m, bwd_t, lambda: bwd_t(ycl, xcl), 2 * flops),
        ("f+b", step_m, step_t, lambda: step_t(xcl), 3 * flops),
    ]:
        r = harness.paired(fm, ft, repeat=repeat)
        rc = harness.paired(fm, fcl, repeat=repeat)
        rows.append({"op": f"conv2d {phase}", "case": name, "shape": [batch, C, H, H],
                     "minicnn_ms": r["a_ms"], "torch_ms": r["b_ms"], "torch_cl_ms": rc["b_ms"],
                     "ratio": r["ratio"], "ratio_vs_best": max(r["ratio"], rc["ratio"]),
                     "gflops": work / (r["a_ms"][1] / 1e3) / 1e9,
                     "rel_err": err if phase == "fwd" else gerr,
                     "cpu_per_wall": r["cpu_per_wall"]})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--cases", type=int, nargs="*", help="indices into CASES (default: all)")
    p.add_argument("--json")
    args = p.parse_args(argv)
    torch = harness.same_threads(args.threads)
    print(f"# {harness.cpu_model()}, {args.threads} threads, float32, batch {args.batch}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"{'case':22s} {'pass':4s} {'minicnn ms':>10s} {'torch ms':>9s} {'cl ms':>8s} "
          f"{'ratio':>6s} {'vs best':>7s} {'GFLOP/s':>8s} {'rel err':>8s} {'cpu/wall':>8s}")
    mem = peak_memory(args.threads)
    print(f"# peak RSS growth, conv2d fwd+bwd (128, 64, 32, 32) 3x3: minicnn {mem['minicnn']:.0f} "
          f"MiB, torch {mem['torch']:.0f} MiB (ratio {mem['minicnn'] / mem['torch']:.2f})")
    ceiling = sgemm_ceiling()
    print(f"# sgemm ceiling (NumPy, 2048^3 float32): {ceiling:.0f} GFLOP/s")
    records = []
    for i in (args.cases if args.cases else range(len(CASES))):
        for r in run_case(CASES[i], args.batch, args.repeat, torch):
            print(f"{r['case']:22s} {r['op'][7:]:4s} {r['minicnn_ms'][1]:10.2f} "
                  f"{r['torch_ms'][1]:9.2f} {r['torch_cl_ms'][1]:8.2f} {r['ratio']:6.2f} "
                  f"{r['ratio_vs_best']:7.2f} {r['gflops']:8.1f} {r['rel_err']:8.1e} "
                  f"{r['cpu_per_wall']:8.2f}", flush=True)
            records.append(dict(r, threads=args.threads, dtype="float32",
                                fraction_of_sgemm=r["gflops"] / ceiling))
    for label, keep in [("all rows", lambda r: True),
                        ("3x3 batch cases, fwd+bwd", lambda r: r["op"] == "conv2d f+b"
                         and r["case"].startswith("3x3 ") and "/" not in r["case"])]:
        rows = [r for r in records if keep(r)]
        if rows:
            gm = [np.exp(np.mean(np.log([r[k] for r in rows]))) for k in ("ratio", "ratio_vs_best")]
            print(f"# geometric mean over {label} ({len(rows)}): {gm[0]:.2f} vs NCHW, "
                  f"{gm[1]:.2f} vs the best torch layout")
    if args.json:
        harness.write_json(args.json, records, args.threads)


if __name__ == "__main__":
    main()
