"""Shared test settings: hypothesis profiles sized for the 2-core CI machine, and the optional
PyTorch oracle."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# default (CI): the same examples every run (derandomize), so a red run is reproducible and
# never a coin toss; "thorough" draws new ones each time, with 12x as many examples
settings.register_profile("default", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# the kernels' parallel threshold at its floor (32768 elements), whatever waking a thread team
# costs on this machine: the cases sized above it then run the parallel paths everywhere
os.environ.setdefault("MINICNN_PARALLEL_MIN", "32768")


@pytest.fixture
def torch():
    """PyTorch as a test oracle; the test is skipped when torch is not installed."""
    return pytest.importorskip("torch")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def one_thread():
    """minicnn on one thread for a module: tests that run hundreds of small kernels on the busy
    2-core machine would otherwise wait at every barrier for a preempted thread (10-50x slower).
    Use as ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import minicnn

    before = minicnn.get_num_threads()
    minicnn.set_num_threads(1)
    yield
    minicnn.set_num_threads(before)
