"""The build: the C extension is there (a failure here, never a skip), OpenMP is on, threads are
governed by one call, `python -m minicnn info` works, and no build output is committed."""
import os
import shutil
import subprocess
import sys

import pytest

import minicnn
from minicnn import backends

from helpers import needs_source_tree

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:
    import threadpoolctl
except ImportError:
    threadpoolctl = None


def _blas_threads():
    pools = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
    return pools[0]["num_threads"] if pools else None


@pytest.fixture
def restore_threads():
    """Put minicnn's, the C kernels' and the BLAS's thread counts back as they were."""
    before = minicnn.get_num_threads()
    before_c = backends._cpu.get_num_threads() if backends._cpu is not None else None
    before_state = backends._num_threads
    before_blas = _blas_threads() if threadpoolctl is not None else None
    try:
        yield before
    finally:
        if backends._cpu is not None:
            backends._cpu.set_num_threads(before_c)
        if threadpoolctl is not None and before_blas is not None:
            threadpoolctl.threadpool_limits(limits=before_blas, user_api="blas")
        backends._num_threads = before_state
        assert minicnn.get_num_threads() == before


def test_c_extension_is_importable():
    # A plain import, not importorskip: a broken build must fail this test.
    from minicnn.backends import _cpu

    assert backends._cpu is _cpu
    assert backends._CPU_IMPORT_ERROR is None
    package = os.path.dirname(os.path.abspath(minicnn.__file__))
    assert os.path.abspath(_cpu.__file__).startswith(package + os.sep)  # not another install's


@needs_source_tree("minicnn")
def test_the_checkout_is_what_is_tested():
    """From a checkout, its own package and build, not an older install."""
    from minicnn.backends import _cpu

    assert os.path.abspath(_cpu.__file__).startswith(os.path.join(REPO, "minicnn", ""))


def test_openmp_is_enabled():
    from minicnn.backends import _cpu

    assert _cpu.openmp_enabled() is True


def test_cpu_device_uses_c_kernels():
    from minicnn.backends import _cpu

    names = backends.c_kernels()
    for name in ["relu", "relu_backward", "sigmoid", "tanh", "gelu", "bias_add",
                 "bias_add_backward"]:
        assert name in names
        assert getattr(backends.BACKENDS["cpu"], name) is getattr(_cpu, name)


def test_info_keys_and_values():
    info = backends.info()
    assert isinstance(info, dict)
    assert {"version", "backends", "c_kernels", "openmp", "threads", "parallel", "blas",
            "cuda"} <= set(info)
    assert all(isinstance(v, str) for v in info.values())
    assert info["version"] == minicnn.__version__
    assert info["openmp"] == "on"
    assert "NOT BUILT" not in info["backends"]
    assert "cpu" in info["backends"] and "numpy" in info["backends"]
    assert "relu" in info["c_kernels"].split(", ")
    assert info["threads"] == str(minicnn.get_num_threads())
    assert info["cuda"].startswith("not available")
    assert "NumPy" in info["blas"]


PARALLEL_PROBE = ("from minicnn.backends import _load_cpu; c = _load_cpu(); c.set_num_threads(2); "
                  "print(c.parallel_min(), c.parallel_min_macs(), c.team_wake_us()); "
                  "c.set_num_threads(1); print(c.parallel_min(), c.parallel_min_macs(), "
                  "c.team_wake_us())")


_MEASURED = {k: v for k, v in os.environ.items() if k != "MINICNN_PARALLEL_MIN"}  # conftest's


def _parallel_thresholds(**env):
    proc = subprocess.run([sys.executable, "-c", PARALLEL_PROBE], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**_MEASURED, **env})
    assert proc.returncode == 0, proc.stderr
    return [[float(v) for v in line.split()] for line in proc.stdout.splitlines()]


@pytest.mark.parametrize("policy", ["ACTIVE", "PASSIVE"])
def test_parallel_thresholds_follow_the_measured_team_wake_up(policy):
    """A memory-bound pass uses the thread team from 18000 elements per microsecond of wake-up
    (32768 at least, 4M at most), a GEMM from 80000 multiply-adds per microsecond (1M at least);
    on one thread there is no team to wake and the floors hold."""
    (n, macs, wake), (n1, macs1, wake1) = _parallel_thresholds(OMP_WAIT_POLICY=policy)
    assert wake > 0 and wake1 == 0 and (n1, macs1) == (32768, 1 << 20)
    assert n == max(32768, min(1 << 22, int(wake * 18000)))
    assert macs == max(1 << 20, int(wake * 80000))


def test_parallel_threshold_fixed_by_the_environment():
    (n, macs, _), (n1, macs1, _) = _parallel_thresholds(MINICNN_PARALLEL_MIN="1000")
    assert (n, macs) == (n1, macs1) == (1000, 32000)


def test_info_cli():
    proc = subprocess.run([sys.executable, "-m", "minicnn", "info"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert minicnn.__version__ in out
    assert "openmp" in out.lower()
    for key in ("version", "backends", "openmp", "threads", "blas", "cuda"):
        assert f"{key}:" in out
    assert "Traceback" not in proc.stderr


def test_cli_without_command_fails():
    proc = subprocess.run([sys.executable, "-m", "minicnn"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "info" in proc.stderr


def test_omp_num_threads_is_honored():
    code = ("import minicnn; "
            "print(minicnn.get_num_threads(), minicnn.backends._cpu.get_num_threads())")
    env = dict(os.environ, OMP_NUM_THREADS="3")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["3", "3"]



def test_import_has_no_process_wide_effects_until_configure_runtime():
    """Importing minicnn sets no environment and does not load the C extension (whose OpenMP
    reads OMP_WAIT_POLICY when it loads); configure_runtime, which the CLI calls first, sets
    the policy in time, and a value of the user's wins."""
    code = ("import os, sys; import minicnn; from minicnn import backends\n"
            "loaded = lambda: 'minicnn.backends._cpu' in sys.modules\n"
            "print(os.environ.get('OMP_WAIT_POLICY'), loaded())\n"
            "backends.configure_runtime(); minicnn.randn(2).relu()\n"
            "print(os.environ.get('OMP_WAIT_POLICY'), loaded())\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    for given, want in ((None, "PASSIVE"), ("ACTIVE", "ACTIVE")):
        if given is not None:
            env["OMP_WAIT_POLICY"] = given
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split("\n")[:2] == [f"{given} False", f"{want} True"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_configure_runtime_tunes_glibc_malloc_unless_told_not_to(monkeypatch):
    calls = []

    class LibC:
        def mallopt(self, param, value):
            calls.append((param, value))

    monkeypatch.setattr(backends.ctypes, "CDLL", lambda name: LibC())
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("MINICNN_MALLOC_TUNING", raising=False)
    backends.configure_runtime()
    assert calls == [(-3, 1 << 30), (-1, 1 << 31)]  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("MINICNN_MALLOC_TUNING", "0")
    backends.configure_runtime()
    assert len(calls) == 2


def test_cli_configures_the_runtime_before_anything_runs(monkeypatch, capsys):
    from minicnn import cli

    seen = []
    monkeypatch.setattr(backends, "configure_runtime", lambda: seen.append("configured"))
    monkeypatch.setattr(backends, "info", lambda: seen.append("info") or {"version": "0"})
    with pytest.raises(SystemExit):
        cli.main(["info"])
    assert seen == ["configured", "info"]

@pytest.mark.parametrize("n", [1, 2, 3])
def test_set_num_threads_governs_kernels_and_blas(restore_threads, n):
    minicnn.set_num_threads(n)
    assert minicnn.get_num_threads() == n
    assert backends._cpu.get_num_threads() == n
    assert backends.info()["threads"] == str(n)
    if threadpoolctl is not None and _blas_threads() is not None:
        # OpenBLAS cannot grow past the pool it started with (the core count), only shrink
        blas = _blas_threads()
        assert 1 <= blas <= n
        assert f"({blas} threads)" in backends.info()["blas"]


def test_set_num_threads_one(restore_threads):
    minicnn.set_num_threads(1)
    assert minicnn.get_num_threads() == 1
    assert backends._cpu.get_num_threads() == 1
    if threadpoolctl is not None:
        pools = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
        for p in pools:
            assert p["num_threads"] == 1, p


def test_set_num_threads_without_threadpoolctl_warns(restore_threads, monkeypatch):
    monkeypatch.setattr(backends, "threadpoolctl", None)
    with pytest.warns(RuntimeWarning, match="threadpoolctl"):
        minicnn.set_num_threads(2)
    assert backends._cpu.get_num_threads() == 2


def _git_files():
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    proc = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        pytest.skip(f"not a git checkout: {proc.stderr.strip()}")
    return proc.stdout.splitlines()


def test_no_compiled_artifacts_tracked():
    files = _git_files()
    assert files, "git ls-files listed nothing"
    bad = [f for f in files
           if f.endswith((".so", ".pyd", ".dylib", ".o", ".dll"))
           or f == "minicnn/backends/_cpu.c" or f.endswith("_cpu.html")]
    assert bad == []


def test_sources_of_the_extension_are_tracked():
    files = set(_git_files())
    assert "minicnn/backends/_cpu.pyx" in files
    assert any(f.startswith("csrc/cpu/") and f.endswith(".c") for f in files)
    assert "csrc/cpu/minicnn.h" in files


@pytest.mark.parametrize("error, fix", [
    ("libgomp.so.1: cannot open shared object file: No such file or directory",
     "apt-get install libgomp1"),
    ("No module named 'minicnn.backends._cpu'", "pip install -e ."),
])
def test_an_extension_that_fails_to_load_says_what_to_do(monkeypatch, error, fix):
    """A wheel on a machine without libgomp1 needs the runtime, not a build; a source checkout
    needs the build. Either way the NumPy kernels take over, with one warning."""
    def fail(name):
        raise ImportError(error)

    monkeypatch.setattr(backends, "_cpu_state", None)
    monkeypatch.setattr(backends.importlib, "import_module", fail)
    with pytest.warns(RuntimeWarning, match="falls back to the slow NumPy") as record:
        assert backends._load_cpu() is None
    assert fix in str(record[0].message) and error in str(record[0].message)
