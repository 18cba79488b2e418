"""minicnn.distributed: the sampler against torch's, and 2-rank MPI jobs (``mpiexec -n 2``, from
the mpich wheel of ``minicnn[dist]``) checked against a single-process run on the combined batch,
an abort on one rank's failure, and ``minicnn train --distributed`` with resume."""
import os
import shutil
import signal
import subprocess
import sys
import textwrap

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
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    proc = subprocess.Popen([MPIEXEC, "-n", str(n), *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=HANG_LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"mpiexec -n {n} {' '.join(map(str, args))} hung")
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
                   "--distributed")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("resuming") == 1
    resumed = minicnn.load(crashed / "last.npz")
    for name, value in last["model"].items():
        np.testing.assert_array_equal(resumed["model"][name], value, err_msg=name)
    assert [row["train_loss"] for row in resumed["history"]] == \
        [row["train_loss"] for row in last["history"]]
