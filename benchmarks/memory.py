"""Peak RSS and thread scaling of a training step, minicnn against PyTorch in fresh processes.

    python benchmarks/memory.py                # convnet, batch 128, 3x32x32, 1 and 2 threads
    python benchmarks/memory.py --threads 1,2,4,8,16 --repeats 3 --channels-last --json mem.json
    python benchmarks/memory.py --model lenet5 --input 1x28x28 --batch-size 64

Every (framework, thread count) runs ``python benchmarks/memory.py --worker ...``: it imports
its framework, reads its peak resident memory (``getrusage`` ru_maxrss: the baseline), builds
the model (``minicnn.models.get_model`` or its twin in minicnn.bench.torch_models), SGD (lr
0.01, momentum 0.9) and random data, runs ``--warmup`` and then ``--steps`` timed steps
(forward, cross-entropy, zero_grad, backward, step) and reads the peak again. Runs alternate,
minicnn t=1, torch t=1, minicnn t=2, torch t=2, ..., and the sequence is repeated ``--repeats``
times; the tables give medians over the repeats. Both sides get the same thread count
(``set_num_threads`` and OMP_NUM_THREADS). Reported per thread count: images/s (batch over the
median step time), the time ratio minicnn/torch (median of the per-repeat ratios: below 1,
minicnn is faster), the speedup over the smallest thread count, and peak RSS with its increase
over the post-import baseline (MiB), with the ratios minicnn/torch.
"""
import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def rss_mib():
    """Peak resident memory of this process so far, MiB (ru_maxrss: KiB on Linux, bytes on
    macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def model_kwargs(args):
    channels, height, _ = args.input
    kw = dict(num_classes=10, in_channels=channels)
    if args.model == "lenet5":
        kw["input_size"] = height
    return kw


def median_step(step, warmup, steps):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def minicnn_worker(args, threads):
    import numpy as np

    import minicnn
    import minicnn.nn.functional as F

    minicnn.backends.configure_runtime()  # first thing, as the CLI does
    minicnn.set_num_threads(threads)
    baseline = rss_mib()
    minicnn.manual_seed(0)
    model = minicnn.models.get_model(args.model, **model_kwargs(args)).train()
    opt = minicnn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = minicnn.tensor(rng.standard_normal((args.batch_size, *args.input), dtype=np.float32))
    y = minicnn.tensor(rng.integers(0, 10, args.batch_size))

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return baseline, median_step(step, args.warmup, args.steps), minicnn.__version__


def torch_worker(args, threads, channels_last):
    import torch

    # torch_models loaded from its file: importing the minicnn package would add minicnn's own
    # memory to this process
    package = importlib.util.find_spec("minicnn").submodule_search_locations[0]
    spec = importlib.util.spec_from_file_location(
        "torch_models", os.path.join(package, "bench", "torch_models.py"))
    torch_models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(torch_models)

    torch.set_num_threads(threads)
    baseline = rss_mib()
    torch.manual_seed(0)
    model = torch_models.build(args.model, **model_kwargs(args)).train()
    x = torch.randn(args.batch_size, *args.input)
    y = torch.randint(0, 10, (args.batch_size,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return baseline, median_step(step, args.warmup, args.steps), torch.__version__


def worker(args):
    threads = args.threads[0]
    if args.worker == "minicnn":
        baseline, step_s, version = minicnn_worker(args, threads)
    else:
        baseline, step_s, version = torch_worker(args, threads, args.worker == "torch_cl")
    print(json.dumps({"framework": args.worker, "version": version, "threads": threads,
                      "baseline_mb": baseline, "peak_mb": rss_mib(), "step_ms": 1e3 * step_s,
                      "images_per_s": args.batch_size / step_s}), flush=True)


def run_worker(args, framework, threads):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", framework,
           "--threads", str(threads), "--model", args.model, "--batch-size", str(args.batch_size),
           "--input", "x".join(map(str, args.input)), "--steps", str(args.steps),
           "--warmup", str(args.warmup)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"the {framework} worker at {threads} thread(s) failed "
                         f"(exit {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarize(runs, frameworks, threads):
    """One record per thread count: medians over the repeats, ratios and speedups."""
    rows = []
    for t in threads:
        row = {"threads": t}
        by = {fw: [r for r in runs if r["framework"] == fw and r["threads"] == t]
              for fw in frameworks}
        for fw, rs in by.items():
            row[f"{fw}_img_s"] = statistics.median(r["images_per_s"] for r in rs)
            row[f"{fw}_peak_mb"] = statistics.median(r["peak_mb"] for r in rs)
            row[f"{fw}_increase_mb"] = statistics.median(r["peak_mb"] - r["baseline_mb"]
                                                         for r in rs)
        for peer in frameworks[1:]:
            row[f"time_ratio_{peer}"] = statistics.median(
                m["step_ms"] / p["step_ms"] for m, p in zip(by["minicnn"], by[peer]))
        row["peak_ratio"] = row["minicnn_peak_mb"] / row["torch_peak_mb"]
        row["increase_ratio"] = row["minicnn_increase_mb"] / row["torch_increase_mb"]
        rows.append(row)
    for row in rows:
        for fw in frameworks:
            row[f"{fw}_speedup"] = row[f"{fw}_img_s"] / rows[0][f"{fw}_img_s"]
    return rows


def table(rows, columns):
    """Print ``rows`` under ``columns``, each (header, key, format spec), right-aligned."""
    widths = [len(header) + 3 for header, _, _ in columns]
    print("".join(f"{h:>{w}}" for (h, _, _), w in zip(columns, widths)))
    for r in rows:
        print("".join(f"{r[k]:>{w}{spec}}" for (_, k, spec), w in zip(columns, widths)))


def print_tables(rows, frameworks):
    threads = [("threads", "threads", "d")]
    table(rows, threads + [(f"{fw} img/s", f"{fw}_img_s", ".1f") for fw in frameworks]
          + [(f"minicnn/{p} time", f"time_ratio_{p}", ".2f") for p in frameworks[1:]]
          + [(f"{fw} speedup", f"{fw}_speedup", ".2f") for fw in frameworks])
    print(f"# time: median step time; speedup: img/s over img/s at {rows[0]['threads']} "
          "thread(s)\n")
    table(rows, threads + [(f"{fw} peak MiB", f"{fw}_peak_mb", ".1f") for fw in frameworks]
          + [("peak ratio", "peak_ratio", ".2f")]
          + [(f"{fw} +MiB", f"{fw}_increase_mb", ".1f") for fw in frameworks]
          + [("+MiB ratio", "increase_ratio", ".2f")])
    print("# peak: ru_maxrss after the steps; +MiB: over the baseline after the imports; "
          "ratios minicnn/torch")


def driver(args):
    from minicnn.bench import harness

    frameworks = ["minicnn", "torch"] + (["torch_cl"] if args.channels_last else [])
    threads = sorted(set(args.threads))
    runs = []
    for repeat in range(args.repeats):
        for t in threads:
            for fw in frameworks:
                runs.append(dict(run_worker(args, fw, t), repeat=repeat))
    rows = summarize(runs, frameworks, threads)
    print(f"# {harness.cpu_model()}, {time.strftime('%Y-%m-%d')}, batch {args.batch_size}, "
          f"input {'x'.join(map(str, args.input))}, {args.model}, SGD momentum 0.9, "
          f"{args.steps} steps after {args.warmup} warm-up, {args.repeats} repeat(s)")
    print_tables(rows, frameworks)
    if args.json:
        torch_version = next(r["version"] for r in runs if r["framework"] == "torch")
        host = dict(harness.host_info(max(threads)), torch=torch_version)
        harness.write_json(args.json, rows, host, runs=runs, args=vars(args))


def image_shape(text):
    return tuple(int(v) for v in text.split("x"))


def int_list(text):
    return [int(v) for v in text.split(",")]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="convnet")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--input", type=image_shape, default=(3, 32, 32),
                   help="C x H x W of one image (default 3x32x32)")
    p.add_argument("--threads", type=int_list, default=[1, 2],
                   help="thread counts, comma-separated (default 1,2)")
    p.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--repeats", type=int, default=1, help="runs of the whole sequence")
    p.add_argument("--channels-last", action="store_true",
                   help="also PyTorch with channels_last model and input")
    p.add_argument("--json", metavar="FILE", help="also write the records to FILE")
    p.add_argument("--worker", choices=["minicnn", "torch", "torch_cl"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if len(args.input) != 3:
        p.error("--input must be CxHxW, e.g. 3x32x32")
    if args.worker:
        worker(args)
    else:
        driver(args)


if __name__ == "__main__":
    main()
