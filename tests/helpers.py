"""Helpers shared by several test files."""
import gzip
import os
import struct

import numpy as np

from minicnn.backends import _cpu
from minicnn.training import Trainer

N_TRAIN, N_TEST = 64, 32  # the tiny Fashion-MNIST of write_fashion_mnist


def both_thread_counts(fn):
    """fn() with 1 and with 2 threads: the results must be bit-identical; returns the first."""
    before = _cpu.get_num_threads()
    try:
        _cpu.set_num_threads(1)
        one = fn()
        _cpu.set_num_threads(2)
        two = fn()
    finally:
        _cpu.set_num_threads(before)
    for a, b in zip(one if isinstance(one, tuple) else (one,), two if isinstance(two, tuple) else (two,)):
        np.testing.assert_array_equal(a, b)
    return one


def write_idx(path, array):
    """``array`` (uint8) as a gzipped IDX file: magic 0x0000080<ndim>, big-endian dims, data."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_fashion_mnist(root, n_train=N_TRAIN, n_test=N_TEST):
    """A tiny Fashion-MNIST under ``root/fashion-mnist``: the label of each image is the row of
    a bright horizontal band (rows 2k .. 2k+5), on noise."""
    folder = os.path.join(root, "fashion-mnist")
    os.makedirs(folder)
    rng = np.random.default_rng(123)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 60, (n, 28, 28))
        for i, k in enumerate(labels):
            images[i, 2 * k + 2:2 * k + 8, 4:24] += 180
        write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"), images)
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), labels)
    return str(root)


def interrupt_after(monkeypatch, calls):
    """Make Trainer.train_step raise KeyboardInterrupt on its ``calls + 1``-th call."""
    original = Trainer.train_step
    count = [0]

    def step(self, x, y):
        if count[0] == calls:
            raise KeyboardInterrupt
        count[0] += 1
        return original(self, x, y)

    monkeypatch.setattr(Trainer, "train_step", step)
