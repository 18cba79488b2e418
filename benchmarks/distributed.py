"""Data-parallel scaling on one machine: training steps of LeNet-5 and the ConvNet on 1 rank
against 2 MPI ranks (minicnn.distributed), at the same global batch, so that the cores are
never oversubscribed (ranks x threads = the cores given).

    python benchmarks/distributed.py                       # 1x1, 1xC and 2x(C/2) on C=2 cores
    python benchmarks/distributed.py --cores 4 --ranks 1 2 4 --steps 20 --json scaling.json

The driver launches ``mpiexec -n R python benchmarks/distributed.py --worker ...`` for every
layout (needs ``pip install minicnn[dist]``). A step is zero_grad, forward, cross-entropy,
backward, the gradient all-reduce (:func:`minicnn.distributed.allreduce_gradients`) and an SGD
step (momentum 0.9), on random 1x28x28 images (the speed does not depend on the values), global
batch ``--batch`` split evenly over the ranks. Reported, as medians over the timed steps (each
step's time is the slowest rank's):

- ``img/s``: global batch / step time;
- ``allreduce ms``: the all-reduce inside the step; on more than one rank it includes waiting
  for the slower rank to finish its backward pass;
- ``pure ms``: the same all-reduce right after a barrier, i.e. the communication alone;
- ``grad MB``: gradient bytes each rank sends and receives per step (float32).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

MODELS = ("lenet5", "convnet")


def worker(args):
    import minicnn
    from minicnn import distributed as dist
    from minicnn import models, nn, optim

    rank, world = dist.init()
    minicnn.set_num_threads(args.threads)
    local = args.batch // world
    rng = np.random.default_rng(rank)
    x = minicnn.tensor(rng.standard_normal((local, 1, 28, 28)).astype(np.float32))
    y = minicnn.tensor(rng.integers(0, 10, local))
    records = []
    for name in args.models:
        minicnn.manual_seed(0)
        model = models.get_model(name, num_classes=10, in_channels=1)
        dist.broadcast_parameters(model)
        optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        step_s, reduce_s, pure_s = [], [], []
        for i in range(args.warmup + args.steps):
            dist.barrier()
            start = time.perf_counter()
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            reduce = dist.allreduce_gradients(model)
            optimizer.step()
            elapsed = time.perf_counter() - start
            dist.barrier()
            pure = dist.allreduce_gradients(model)
            if i >= args.warmup:
                slowest = _max(np.array([elapsed, reduce, pure]))
                step_s.append(slowest[0])
                reduce_s.append(slowest[1])
                pure_s.append(slowest[2])
        grad_bytes = sum(p.numel() * p.dtype.itemsize for p in model.parameters())
        step = float(np.median(step_s))
        records.append({"model": name, "ranks": world, "threads": args.threads,
                        "global_batch": local * world, "step_ms": 1e3 * step,
                        "images_per_s": local * world / step,
                        "allreduce_ms": 1e3 * float(np.median(reduce_s)),
                        "pure_allreduce_ms": 1e3 * float(np.median(pure_s)),
                        "grad_mb": grad_bytes / 1e6})
    if rank == 0:
        print("RESULT " + json.dumps(records), flush=True)


def _max(values):
    from mpi4py import MPI

    out = np.empty_like(values)
    MPI.COMM_WORLD.Allreduce(values, out, op=MPI.MAX)
    return out


def driver(args):
    here = os.path.abspath(__file__)
    repo = os.path.dirname(os.path.dirname(here))
    layouts = list(dict.fromkeys([(1, 1)] + [(r, max(1, args.cores // r)) for r in args.ranks]))
    records = []
    for ranks, threads in layouts:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads),
                   PYTHONPATH=repo + os.pathsep + os.environ.get("PYTHONPATH", ""))
        cmd = ["mpiexec", "-n", str(ranks), sys.executable, here, "--worker",
               "--threads", str(threads), "--batch", str(args.batch), "--steps",
               str(args.steps), "--warmup", str(args.warmup), "--models", *args.models]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
        records += json.loads(lines[0][len("RESULT "):])
    base = {(r["model"], r["ranks"], r["threads"]): r["images_per_s"] for r in records}
    print(f"{'model':<8} {'ranks x threads':>15} {'batch':>6} {'step ms':>9} {'img/s':>8} "
          f"{'speedup':>8} {'allreduce ms':>13} {'pure ms':>8} {'grad MB':>8}")
    for r in records:
        speedup = r["images_per_s"] / base[(r["model"], 1, args.cores)]
        print(f"{r['model']:<8} {r['ranks']:>9} x {r['threads']:<3} {r['global_batch']:>6} "
              f"{r['step_ms']:>9.1f} {r['images_per_s']:>8.0f} {speedup:>8.2f} "
              f"{r['allreduce_ms']:>13.2f} {r['pure_allreduce_ms']:>8.2f} {r['grad_mb']:>8.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cores": args.cores, "records": records}, f, indent=2)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cores", type=int, default=os.cpu_count(),
                   help="cores to use: a layout of R ranks runs cores // R threads per rank")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2],
                   help="rank counts to compare (default 1 2), besides 1 rank x 1 thread")
    p.add_argument("--batch", type=int, default=128, help="global batch (default 128)")
    p.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--json", metavar="FILE", help="also write the records to FILE")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
    else:
        driver(args)


if __name__ == "__main__":
    main()
