"""What mixed precision costs: one SGD training step (forward, loss, backward, step) in float32
against the same step under bfloat16 autocast (and float16 with a GradScaler), for minicnn and
for PyTorch's CPU autocast, on the same batch, weights and threads.

minicnn has no 16-bit kernels: under autocast each conv2d/linear widens its bfloat16 inputs to
float32, runs the float32 kernel and rounds the result (the NumPy casts are the whole extra cost).
PyTorch's CPU autocast runs bfloat16 kernels (oneDNN), which pay only where the CPU has bfloat16
instructions (AVX-512 BF16 or AMX).

    python benchmarks/amp.py                    # lenet5 and convnet, batch 128, all threads
    python benchmarks/amp.py --models lenet5 --threads 1 --repeat 20

Each row: the median of 10 interleaved pairs (float32 step, autocast step) and the median of
their per-pair ratios (autocast / float32: above 1 means autocast is slower).
"""
import argparse
import contextlib

import numpy as np

import minicnn
import minicnn.nn.functional as F
from minicnn.bench import harness
from minicnn.utils import to_torch_state_dict


def minicnn_steps(name, x, y):
    """(float32 step, bfloat16 autocast step, float16 autocast + GradScaler step) closures."""
    model = minicnn.models.get_model(name, in_channels=x.shape[1])
    opt = minicnn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = minicnn.amp.GradScaler()
    xt, yt = minicnn.tensor(x), minicnn.tensor(y)

    def step(autocast):
        with autocast:
            loss = F.cross_entropy(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def fp32():
        step(contextlib.nullcontext())

    def bf16():
        step(minicnn.autocast("cpu", dtype=minicnn.bfloat16))

    def fp16():
        with minicnn.autocast("cpu", dtype=minicnn.float16):
            loss = F.cross_entropy(model(xt), yt)
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    return model, fp32, bf16, fp16


def torch_steps(torch, name, model, x, y):
    """The PyTorch twin with minicnn's weights: (float32 step, bfloat16 autocast step)."""
    from minicnn.bench.torch_models import build

    twin = build(name, in_channels=x.shape[1])
    twin.load_state_dict(to_torch_state_dict(model))
    opt = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step(dtype):
        def run():
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not torch.float32):
                loss = torch.nn.functional.cross_entropy(twin(xt), yt)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return run

    return step(torch.float32), step(torch.bfloat16)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="lenet5,convnet")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=harness.available_cores())
    p.add_argument("--repeat", type=int, default=10)
    args = p.parse_args()
    torch = harness.import_torch()
    rng = np.random.default_rng(0)
    print(f"one training step, batch {args.batch_size} of (1, 28, 28), {args.threads} threads, "
          f"{harness.cpu_model()}")
    print("| model | framework | float32 ms | autocast ms | autocast / float32 |")
    print("|---|---|---|---|---|")
    with harness.same_threads(args.threads):
        for name in args.models.split(","):
            x = rng.standard_normal((args.batch_size, 1, 28, 28)).astype(np.float32)
            y = rng.integers(0, 10, args.batch_size)
            model, fp32, bf16, fp16 = minicnn_steps(name, x, y)
            rows = [("minicnn bfloat16", fp32, bf16), ("minicnn float16", fp32, fp16)]
            if torch is not None:
                rows.append(("PyTorch bfloat16", *torch_steps(torch, name, model, x, y)))
            for label, a, b in rows:
                r = harness.paired(b, a, repeat=args.repeat)
                print(f"| {name} | {label} | {r['b_ms'][1]:.1f} | {r['a_ms'][1]:.1f} | "
                      f"{r['ratio']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
