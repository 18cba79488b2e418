"""Helpers shared by several test files."""
import numpy as np

from minicnn.backends import _cpu


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
