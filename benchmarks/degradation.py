"""The degradation problem of He et al. 2016 (sec. 4.2, fig. 6), in short runs: the training
error of the plain 20- and 56-layer CIFAR networks (batch norm after every conv, no shortcuts)
against ResNet-20 and ResNet-56 (the same layers with identity shortcuts, option A).

The paper's finding is about *optimization*, not overfitting: the deeper plain network has the
higher training error, while the deeper residual network has the lower one. Here each network
trains on the same images in the same order from the same seed, with the paper's recipe (SGD,
momentum 0.9, weight decay 1e-4, lr 0.1, batch 128) for 15 short epochs, and the script prints
the training error of each epoch (the running mean over its batches, as the paper's thin
curves) and the test error at the end.

    python benchmarks/degradation.py                      # Fashion-MNIST, 4,096 images, 14x14
    python benchmarks/degradation.py --size 28 --train-images 8192 --epochs 8

The images are Fashion-MNIST's (Debian's dataset-fashion-mnist, or --data-root), average-pooled
to --size pixels (14 by default: a 2-core CPU trains ResNet-56 four times faster than at 28);
without the data set, random CIFAR-shaped data with random labels (a memorization task, where
training error is all there is to measure).
"""
import argparse
import time

import numpy as np

import minicnn
import minicnn.nn.functional as F
from minicnn.data import DatasetNotFoundError, FashionMNIST

MODELS = ("plain20", "plain56", "resnet20", "resnet56")


def load(args):
    """(x_train, y_train, x_test, y_test, description): float32 NCHW, normalized; int64 labels."""
    try:
        train = FashionMNIST(root=args.data_root, train=True)
        test = FashionMNIST(root=args.data_root, train=False)
    except DatasetNotFoundError:
        rng = np.random.default_rng(args.seed)
        x = rng.standard_normal((args.train_images + 1024, 3, 32, 32)).astype(np.float32)
        y = rng.integers(0, 10, len(x))
        n = args.train_images
        return x[:n], y[:n], x[n:], y[n:], "random CIFAR-shaped data, random labels"

    def prepare(data, n):
        x = np.asarray(data.data[:n], np.float32).reshape(n, 1, 28, 28) / 255
        f = 28 // args.size
        x = x.reshape(n, 1, args.size, f, args.size, f).mean(axis=(3, 5))
        return (x - 0.286) / 0.353, np.asarray(data.targets[:n], np.int64)

    x_train, y_train = prepare(train, args.train_images)
    x_test, y_test = prepare(test, args.test_images)
    return (x_train, y_train, x_test, y_test,
            f"Fashion-MNIST, {args.size}x{args.size}, the first {args.train_images} training "
            f"images")


def run(name, data, args):
    """Train model ``name``; returns (training error per epoch, test error, seconds)."""
    x_train, y_train, x_test, y_test = data
    minicnn.manual_seed(args.seed)
    model = minicnn.models.get_model(name, in_channels=x_train.shape[1])
    opt = minicnn.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    order = np.random.default_rng(args.seed)
    errors = []
    start = time.perf_counter()
    for _ in range(args.epochs):
        model.train()
        perm = order.permutation(len(x_train))
        wrong = seen = 0
        for i in range(0, len(perm) - args.batch_size + 1, args.batch_size):
            idx = perm[i:i + args.batch_size]
            logits = model(minicnn.tensor(x_train[idx]))
            loss = F.cross_entropy(logits, minicnn.tensor(y_train[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            wrong += int((logits.argmax(1).numpy() != y_train[idx]).sum())
            seen += len(idx)
        errors.append(wrong / seen)
    model.eval()
    with minicnn.no_grad():
        pred = np.concatenate([model(minicnn.tensor(x_test[i:i + 256])).argmax(1).numpy()
                               for i in range(0, len(x_test), 256)])
    return errors, float((pred != y_test).mean()), time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--train-images", type=int, default=4096)
    p.add_argument("--test-images", type=int, default=2000)
    p.add_argument("--size", type=int, default=14, choices=(7, 14, 28))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None)
    args = p.parse_args()
    if args.threads:
        minicnn.set_num_threads(args.threads)
    *data, description = load(args)
    print(f"{description}; {args.epochs} epochs, batch {args.batch_size}, lr {args.lr}, "
          f"{minicnn.get_num_threads()} thread(s)")
    print("| model | training error by epoch (%) | test error (%) | time (s) |")
    print("|---|---|---|---|")
    for name in args.models.split(","):
        errors, test_error, seconds = run(name, data, args)
        curve = " ".join(f"{100 * e:.1f}" for e in errors)
        print(f"| {name} | {curve} | {100 * test_error:.1f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
