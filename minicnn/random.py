"""minicnn's random number generator: one NumPy Generator behind every random op, so that
``manual_seed(n)`` makes a whole run reproducible (``torch.manual_seed``)."""
import numpy as np

_generator = np.random.default_rng()


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
