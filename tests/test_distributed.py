"""minicnn.distributed: the sampler against torch's, the timeout of the collectives (a fake
clock and communicator), and 2-rank MPI jobs (``mpiexec -n 2``, from the mpich wheel of
``minicnn[dist]``) checked against a single-process run on the combined batch, an abort on one
rank's failure, a timeout on a frozen rank, and ``minicnn train --distributed`` with resume."""
import datetime
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import minicnn
from minicnn import distributed as dist
from minicnn import nn
from minicnn.cli import main
from minicnn.data import DataLoader
from minicnn.utils.data import DistributedSampler

from helpers import write_fashion_mnist

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(
    not dist.is_available() or MPIEXEC is None,
    reason="needs mpi4py and an mpiexec: pip install minicnn[dist] (mpi4py, mpich)")
HANG_LIMIT_S = 60  # a guard against a hung job, far above the few seconds a run takes


def mpiexec(*args, n=2):
    """Run ``mpiexec -n N ARGS`` (one thread per rank); returns the CompletedProcess. A job still
    running after HANG_LIMIT_S is killed (its whole process group) and the test fails."""
    return _launch([MPIEXEC, "-n", str(n), *map(str, args)])


def mpiexec_each(*commands):
    """Run one rank per command, each its own ARGS (MPMD: ``mpiexec -n 1 A : -n 1 B``), as
    :func:`mpiexec` does."""
    argv = [MPIEXEC]
    for command in commands:
        argv += [*([":"] if len(argv) > 1 else []), "-n", "1", *map(str, command)]
    return _launch(argv)


def _launch(argv):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=HANG_LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{' '.join(argv)} hung")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# ------------------------------------------------------------------ the sampler, no MPI needed


@pytest.mark.parametrize("n, replicas", [(10, 2), (10, 3), (7, 4), (3, 5), (12, 4)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_matches_torch_without_shuffle(torch, n, replicas, drop_last):
    TorchSampler = torch.utils.data.DistributedSampler

    for rank in range(replicas):
        ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        assert len(ours) == len(theirs)
        assert list(ours) == list(theirs)


@pytest.mark.parametrize("n, replicas", [(10, 2), (11, 3), (64, 2)])
def test_sampler_covers_the_data_once_per_epoch(n, replicas):
    orders = []
    for epoch in range(3):
        shards = []
        for rank in range(replicas):
            sampler = DistributedSampler(range(n), replicas, rank, seed=5)
            sampler.set_epoch(epoch)
            shards.append(sampler.indices())
        assert len({len(s) for s in shards}) == 1  # equal shards: no rank waits at the end
        everything = np.concatenate(shards)
        assert set(everything.tolist()) == set(range(n))
        assert len(everything) - n == (-n) % replicas  # only the padding is seen twice
        orders.append(np.stack(shards, 1).reshape(-1))
    assert not np.array_equal(orders[0], orders[1])  # a new shuffle each epoch
    dropped = [set(DistributedSampler(range(n), replicas, r, drop_last=True).indices().tolist())
               for r in range(replicas)]
    assert sum(map(len, dropped)) == n - n % replicas and len(set().union(*dropped)) == \
        n - n % replicas  # disjoint


def test_one_replica_is_the_plain_shuffled_loader():
    data = [(np.full(2, i, np.float32), i) for i in range(23)]
    plain = DataLoader(data, batch_size=5, shuffle=True, seed=3)
    sharded = DataLoader(data, batch_size=5, sampler=DistributedSampler(data, 1, 0, seed=3),
                         seed=3)
    for epoch in (0, 4):
        plain.set_epoch(epoch)
        sharded.set_epoch(epoch)  # also the sampler's epoch
        assert len(plain) == len(sharded) == 5
        for (_, a), (_, b) in zip(plain, sharded):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_sampler_and_loader_errors():
    with pytest.raises(ValueError, match="rank must be in"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas must be an int >= 1"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(TypeError, match="dataset must have __len__"):
        DistributedSampler(object(), 1, 0)
    with pytest.raises(ValueError, match="epoch must be an int >= 0"):
        DistributedSampler(range(4), 1, 0).set_epoch(-1)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(range(4), shuffle=True, sampler=DistributedSampler(range(4), 1, 0))


def test_single_process_without_init(monkeypatch):
    monkeypatch.setattr(dist, "_initialized", False)
    monkeypatch.setattr(dist, "_comm", None)
    model = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match=r"call minicnn.distributed.init\(\) first"):
        dist.allreduce_gradients(model)
    monkeypatch.setattr(dist, "_initialized", True)  # what init() leaves in a single process
    assert (dist.get_rank(), dist.get_world_size()) == (0, 1)
    model(minicnn.ones((1, 2))).sum().backward()
    grad = model.weight.grad.numpy().copy()
    assert dist.allreduce_gradients(model) == 0.0
    np.testing.assert_array_equal(model.weight.grad.numpy(), grad)
    with pytest.raises(ValueError, match="root must be a rank in"):
        dist.broadcast_parameters(model, root=1)
    with pytest.raises(ValueError, match="bucket_cap_mb must be a number > 0"):
        dist.allreduce_gradients(model, bucket_cap_mb=0)
    with pytest.raises(TypeError, match="array must be a NumPy array or a Tensor"):
        dist.all_reduce([1.0])


def test_init_under_a_launcher_without_mpi4py(monkeypatch):
    monkeypatch.setattr(dist, "_initialized", False)
    monkeypatch.setattr(dist, "is_available", lambda: False)
    monkeypatch.setenv("PMI_RANK", "0")
    with pytest.raises(ImportError, match=r"mpi4py is not installed: pip install minicnn\[dist\]"):
        dist.init()


# ------------------------------------------------------------------ timeouts, no MPI job needed


class FakeClock:
    """Stands in for the time module in minicnn.distributed: monotonic() moves only by sleep()
    (each recorded with the time it began) and by the requests' polls."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append((self.now, seconds))
        self.now += seconds


class FakeRequest:
    """A pending MPI request: Test() is true from its ``done_after``-th call on (1 us each)."""

    def __init__(self, clock, done_after=math.inf):
        self.clock, self.done_after, self.polls = clock, done_after, 0

    def Test(self):
        self.polls += 1
        self.clock.now += 1e-6
        return self.polls >= self.done_after


def test_wait_spins_then_sleeps_with_backoff_until_the_timeout(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(dist, "time", clock)
    monkeypatch.setattr(dist, "_timeout", 0.5)
    request = FakeRequest(clock)
    with pytest.raises(dist.DistributedTimeoutError,
                       match=r"^minicnn.distributed.barrier timed out on rank 0 of 1 after "
                       r"waiting 0.50 s for the other ranks \(timeout 0.5 s\): another rank is "
                       "frozen or gone"):
        dist._wait(request, "barrier")
    assert 0.5 <= clock.now < 0.5 + dist._LAST_PAUSE_S + 1e-5  # not much past the timeout
    starts, pauses = zip(*clock.sleeps)
    # no pause while ranks in step would finish; then 50 us doubling up to 1 ms: few polls
    assert dist._SPIN_S <= starts[0] < dist._SPIN_S + 2e-6
    assert pauses[:6] == pytest.approx([50e-6, 100e-6, 200e-6, 400e-6, 800e-6, 1e-3])
    assert set(pauses[5:]) == {dist._LAST_PAUSE_S}
    assert request.polls < dist._SPIN_S / 1e-6 + 600


def test_wait_returns_once_the_request_completes(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(dist, "time", clock)
    monkeypatch.setattr(dist, "_timeout", 0.5)
    dist._wait(FakeRequest(clock, done_after=1), "barrier")
    dist._wait(FakeRequest(clock, done_after=5), "barrier")  # ranks in step: no pause
    assert clock.sleeps == []
    spin_polls = round(dist._SPIN_S / 1e-6)
    late = FakeRequest(clock, done_after=spin_polls + 10)  # done 10 polls after the spin
    dist._wait(late, "barrier")
    assert 8 <= len(clock.sleeps) <= 11


class FrozenPeer:
    """Rank 0 of 2 whose peer never arrives: every non-blocking collective stays pending (a
    blocking one, which no timeout could end, is missing: AttributeError)."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 2

    def Ibarrier(self):
        return FakeRequest(FakeClock())

    def Iallreduce(self, sendbuf, recvbuf, op):
        return FakeRequest(FakeClock())

    def Ibcast(self, buf, root):
        return FakeRequest(FakeClock())


@pytest.mark.skipif(not dist.is_available(), reason="needs mpi4py: pip install minicnn[dist]")
@pytest.mark.parametrize("collective", ["barrier", "all_reduce", "broadcast_parameters",
                                        "broadcast_buffers", "allreduce_gradients"])
def test_every_collective_times_out(monkeypatch, collective):
    monkeypatch.setattr(dist, "_initialized", True)
    monkeypatch.setattr(dist, "_comm", FrozenPeer())
    monkeypatch.setattr(dist, "_timeout", dist._timeout)
    assert dist.init(timeout=datetime.timedelta(milliseconds=50)) == (0, 2)
    model = small_model()
    model(minicnn.ones((1, 1, 6, 6))).sum().backward()
    call = {"barrier": dist.barrier, "all_reduce": lambda: dist.all_reduce(np.ones(3)),
            "allreduce_gradients": lambda: dist.allreduce_gradients(model)}.get(
        collective, lambda: getattr(dist, collective)(model))
    start = time.monotonic()
    with pytest.raises(dist.DistributedTimeoutError,
                       match=rf"^minicnn.distributed.{collective} timed out on rank 0 of 2 "
                       r"after waiting 0\.\d\d s for the other ranks \(timeout 0.05 s\)"):
        call()
    assert 0.05 <= time.monotonic() - start < 5
    assert issubclass(dist.DistributedTimeoutError, RuntimeError)  # as torch's timeouts


def test_init_timeout(monkeypatch):
    monkeypatch.setattr(dist, "_initialized", True)  # what init() leaves in a single process
    monkeypatch.setattr(dist, "_comm", None)
    monkeypatch.setattr(dist, "_timeout", dist._timeout)
    assert dist.default_pg_timeout == datetime.timedelta(minutes=30)  # torch's
    assert dist.init(timeout=2.5) == (0, 1) and dist._timeout == 2.5
    dist.init()  # None keeps it
    assert dist._timeout == 2.5
    dist.init(timeout=datetime.timedelta(minutes=1))
    assert dist._timeout == 60.0
    for bad in (0, -1.0, math.nan, datetime.timedelta(0)):
        with pytest.raises(ValueError, match="timeout must be > 0 seconds"):
            dist.init(timeout=bad)
    for bad in ("60", True):
        with pytest.raises(TypeError, match="timeout must be a datetime.timedelta or a number"):
            dist.init(timeout=bad)
    assert dist._timeout == 60.0


def test_cli_timeout_option(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--timeout", "0", "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == \
        "minicnn: error: --timeout must be a number > 0.0, got 0.0\n"
    assert "timeout" in minicnn.training.RUNTIME_OPTIONS  # it may change on --resume


# ------------------------------------------------------------------ 2-rank MPI jobs

BATCH, STEPS = 8, 3


def small_model():
    """Conv, batch norm (eval mode: running statistics, the broadcast buffers), ReLU, linear."""
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(3 * 4 * 4, 5))
    model[1].running_mean.data = minicnn.tensor(np.array([0.1, -0.2, 0.3], np.float32))
    model[1].running_var.data = minicnn.tensor(np.array([1.5, 0.5, 2.0], np.float32))
    model.eval()
    return model


def combined_batch():
    rng = np.random.default_rng(1)
    return (rng.standard_normal((BATCH, 1, 6, 6)).astype(np.float32),
            rng.integers(0, 5, BATCH))


def train_steps(model, x, y):
    optimizer = minicnn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for _ in range(STEPS):
        loss = nn.functional.cross_entropy(model(minicnn.tensor(x)), minicnn.tensor(y))
        optimizer.zero_grad()
        loss.backward()
        dist.allreduce_gradients(model, bucket_cap_mb=1e-4)  # several buckets
        optimizer.step()


RANK_SCRIPT = """
import sys
import numpy as np
sys.path.insert(0, {tests!r})
import minicnn
from minicnn import distributed as dist
from test_distributed import combined_batch, small_model, train_steps

rank, world = dist.init()
model = small_model()
for t in list(model.parameters()) + list(model.buffers()):  # ranks start apart
    t.data = minicnn.tensor(t.detach().numpy() + rank)
dist.broadcast_parameters(model)
x, y = combined_batch()
share = len(y) // world
train_steps(model, x[rank * share:(rank + 1) * share], y[rank * share:(rank + 1) * share])
sampler = minicnn.utils.data.DistributedSampler(range(11), seed=2)
sampler.set_epoch(1)
np.savez({out!r} + f"/rank{{rank}}.npz", indices=sampler.indices(),
         threads=minicnn.get_num_threads(),
         **{{k: v.detach().numpy() for k, v in model.state_dict().items()}})
"""


@needs_mpi
def test_two_ranks_equal_one_process_on_the_combined_batch(tmp_path):
    script = tmp_path / "ranks.py"
    script.write_text(RANK_SCRIPT.format(tests=os.path.dirname(__file__), out=str(tmp_path)))
    proc = mpiexec(sys.executable, script)
    assert proc.returncode == 0, proc.stderr
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(2)]

    # the oracle: one process, the whole batch, no perturbation (rank 0's start)
    model = small_model()
    dist_state = (dist._initialized, dist._comm)
    try:
        dist._initialized, dist._comm = True, None
        train_steps(model, *combined_batch())
    finally:
        dist._initialized, dist._comm = dist_state
    expected = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    assert set(expected) < set(ranks[0])
    for name, value in expected.items():
        np.testing.assert_array_equal(ranks[0][name], ranks[1][name], err_msg=name)
        np.testing.assert_allclose(ranks[0][name], value, rtol=1e-5, atol=1e-7, err_msg=name)
    start = small_model().state_dict()["4.weight"].detach().numpy()
    assert not np.allclose(expected["4.weight"], start)  # the steps moved the weights

    # the sampler shards of one epoch: disjoint, together the data set plus one padding index
    both = np.concatenate([r["indices"] for r in ranks])
    assert len(both) == 12 and set(both.tolist()) == set(range(11))
    # OMP_NUM_THREADS=1 is respected (the cores/ranks default applies only without it)
    assert int(ranks[0]["threads"]) == 1


@needs_mpi
def test_a_failing_rank_ends_the_job(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        from minicnn import distributed as dist
        rank, world = dist.init()
        if rank == 1:
            raise RuntimeError("rank 1 failed")
        dist.all_reduce(np.ones(3))  # rank 0 would wait here forever
    """))
    proc = mpiexec(sys.executable, script)
    assert proc.returncode != 0
    assert "RuntimeError: rank 1 failed" in proc.stderr


def train_args(data_root, out, *extra):
    return ["train", "--model", "lenet5", "--dataset", "fashion-mnist", "--epochs", "2",
            "--scheduler", "cosine", "--data-root", data_root, "--out", out, *extra]


CRASH_IN_EPOCH_2 = """
import sys
from minicnn import distributed
from minicnn.cli import main
from minicnn.training import Trainer

original, calls = Trainer.train_step, [0]

def step(self, x, y):  # rank 1 fails in epoch 2 (4 batches of 8 per rank and epoch)
    calls[0] += 1
    if distributed.get_rank() == 1 and calls[0] == 6:
        raise RuntimeError("rank 1 failed in epoch 2")
    return original(self, x, y)

Trainer.train_step = step
main(sys.argv[1:])
"""


@needs_mpi
def test_cli_distributed_train_and_resume(tmp_path):
    data_root = write_fashion_mnist(tmp_path / "data")  # 64 training images
    full, crashed = tmp_path / "full", tmp_path / "crashed"

    proc = mpiexec(sys.executable, "-m", "minicnn",
                   *train_args(data_root, full, "--batch-size", "8", "--distributed"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("training lenet5") == 1  # rank 0 alone prints
    assert proc.stdout.count("epoch 2/2  train loss") == 1
    assert proc.stdout.count("  epoch 2/2  step ") == 4  # rank 0's 4 batches, a line each
    assert {"last.npz", "best.npz", "metrics.csv", "results.json"} <= set(os.listdir(full))
    last = minicnn.load(full / "last.npz")
    assert last["world_size"] == 2 and last["epoch"] == 2

    # the oracle: one process with the combined batch of 2 x 8 (the shards of a global batch
    # are the plain loader's batch of 16)
    with pytest.raises(SystemExit) as exit_info:
        main(train_args(data_root, str(tmp_path / "single"), "--batch-size", "16"))
    assert exit_info.value.code == 0
    single = minicnn.load(tmp_path / "single" / "last.npz")
    # float32: one step's gradients of 8 + 8 images and of 16 differ by rounding (~1e-7
    # relative); over the run's 8 steps that grows to a few 1e-6 in weights of ~0.05 (measured
    # up to 5.9e-6 with numpy 2.4's OpenBLAS), which is what the tolerance allows
    for name, value in single["model"].items():
        np.testing.assert_allclose(last["model"][name], value, rtol=1e-4, atol=2e-5,
                                   err_msg=name)
    assert last["history"][-1]["train_loss"] == pytest.approx(
        single["history"][-1]["train_loss"], rel=1e-5)
    # --distributed in a plain process (one rank) computes what a plain run does, bit for bit
    with pytest.raises(SystemExit) as exit_info:
        main(train_args(data_root, str(tmp_path / "one"), "--batch-size", "16", "--distributed"))
    assert exit_info.value.code == 0
    one = minicnn.load(tmp_path / "one" / "last.npz")
    for name, value in single["model"].items():
        np.testing.assert_array_equal(one["model"][name], value, err_msg=name)

    # rank 1 fails in epoch 2: every rank ends, non-zero; last.npz holds epoch 1
    script = tmp_path / "crash.py"
    script.write_text(CRASH_IN_EPOCH_2)
    proc = mpiexec(sys.executable, script,
                   *train_args(data_root, crashed, "--batch-size", "8", "--distributed"))
    assert proc.returncode != 0 and "rank 1 failed in epoch 2" in proc.stderr
    assert minicnn.load(crashed / "last.npz")["epoch"] == 1

    # resuming on one rank is refused; on two it finishes as the uninterrupted run
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--resume", str(crashed)])
    assert exit_info.value.code == 2
    proc = mpiexec(sys.executable, "-m", "minicnn", "train", "--resume", crashed,
                   "--distributed", "--timeout", "600")  # --timeout may change on resume
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("resuming") == 1
    resumed = minicnn.load(crashed / "last.npz")
    for name, value in last["model"].items():
        np.testing.assert_array_equal(resumed["model"][name], value, err_msg=name)
    assert [row["train_loss"] for row in resumed["history"]] == \
        [row["train_loss"] for row in last["history"]]


@needs_mpi
def test_a_frozen_rank_times_out(tmp_path):
    script = tmp_path / "frozen.py"
    script.write_text(textwrap.dedent(f"""
        import time
        import numpy as np
        from minicnn import distributed as dist
        rank, world = dist.init(timeout=2)
        if rank == 1:
            time.sleep({HANG_LIMIT_S * 2})  # frozen: alive, but never in the collective
        dist.all_reduce(np.ones(3))
    """))
    start = time.monotonic()
    proc = mpiexec(sys.executable, script)
    assert proc.returncode != 0
    assert time.monotonic() - start >= 2
    assert "DistributedTimeoutError: minicnn.distributed.all_reduce timed out on rank 0 of 2 " \
        "after waiting 2.0" in proc.stderr
    assert "(timeout 2 s): another rank is frozen or gone" in proc.stderr


@needs_mpi
@pytest.mark.parametrize("failing, message", [
    (["--resume", "{tmp}/missing"],
     "minicnn: error: --resume {tmp}/missing: no checkpoint {tmp}/missing/last.npz"),
    (["--model", "lenet5", "--epochs", "0"],
     "minicnn: error: --epochs must be an integer >= 1, got 0"),
], ids=["resume", "option"])
def test_cli_one_rank_failing_before_training_ends_the_job(tmp_path, failing, message):
    """Rank 1 alone fails where a command line fails before training (here its own arguments:
    mpiexec's MPMD form; in a real job, a checkpoint or data set that rank cannot read): the
    job ends at once with that rank's one-line message, and the other rank does not wait."""
    data_root = write_fashion_mnist(tmp_path / "data")
    failing = [arg.format(tmp=tmp_path) for arg in failing]
    proc = mpiexec_each(
        [sys.executable, "-m", "minicnn",
         *train_args(data_root, tmp_path / "run", "--batch-size", "8", "--distributed")],
        [sys.executable, "-m", "minicnn", "train", *failing, "--distributed"])
    assert proc.returncode != 0
    assert message.format(tmp=tmp_path) in proc.stderr
    assert "Traceback" not in proc.stderr


FROZEN_IN_EPOCH_1 = """
import sys
import time
from minicnn import distributed
from minicnn.cli import main
from minicnn.training import Trainer

original, calls = Trainer.train_step, [0]

def step(self, x, y):  # rank 1 freezes in its second step
    calls[0] += 1
    if distributed.get_rank() == 1 and calls[0] == 2:
        time.sleep(%d)
    return original(self, x, y)

Trainer.train_step = step
main(sys.argv[1:])
""" % (HANG_LIMIT_S * 2)


@needs_mpi
def test_cli_timeout_ends_a_job_with_a_frozen_rank(tmp_path):
    data_root = write_fashion_mnist(tmp_path / "data")
    script = tmp_path / "frozen.py"
    script.write_text(FROZEN_IN_EPOCH_1)
    proc = mpiexec(sys.executable, script,
                   *train_args(data_root, tmp_path / "run", "--batch-size", "8", "--distributed",
                               "--timeout", "2"))
    assert proc.returncode != 0
    assert "minicnn.distributed.allreduce_gradients timed out on rank 0 of 2 after waiting " \
        "2.0" in proc.stderr
    assert "(timeout 2 s)" in proc.stderr
