"""minicnn's random number generator: one NumPy Generator behind every random op, so that
``manual_seed(n)`` makes a whole run reproducible (``torch.manual_seed``); and
:func:`use_generator`, which lends a thread another generator for a block (the DataLoader gives
each batch's augmentation its own, derived from the loader's seed)."""
import threading
from contextlib import contextmanager

import numpy as np

_generator = np.random.default_rng()
_local = threading.local()  # the generator lent to this thread by use_generator, if any


def manual_seed(seed):
    """Reseed minicnn's generator with an int ``seed`` (>= 0); returns the generator."""
    global _generator
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be >= 0, got {seed}")
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator():
    """The numpy.random.Generator that minicnn's random ops draw from."""
    return _generator


@contextmanager
def use_generator(generator):
    """Within the block, on this thread, random transforms without their own ``generator=``
    draw from ``generator`` (a ``numpy.random.Generator``) instead of the default one."""
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"use_generator: generator must be a numpy.random.Generator, got "
                        f"{type(generator).__name__}")
    previous = getattr(_local, "generator", None)
    _local.generator = generator
    try:
        yield generator
    finally:
        _local.generator = previous


def thread_generator():
    """The generator lent to this thread by :func:`use_generator`, else the default one."""
    lent = getattr(_local, "generator", None)
    return lent if lent is not None else _generator
