"""Data-parallel training over MPI (mpi4py), in the style of ``torch.distributed`` and DDP.

Every rank (process) holds a full copy of the model and trains on its own shard of each batch;
after ``backward`` the gradients are averaged over the ranks, so every rank takes the same
optimizer step, the one a single process would take on the combined batch (for equal local
batch sizes). MPI does the communication: ``pip install minicnn[dist]`` brings mpi4py and the
MPICH wheel with its ``mpiexec``; Open MPI or a cluster's MPI work the same way. Launch::

    mpiexec -n 2 minicnn train --model lenet5 --distributed
    mpiexec -n 2 python my_script.py

A training script::

    from minicnn import distributed as dist

    rank, world = dist.init()                  # (0, 1) without MPI: a plain single process
    model = make_model()                       # same seed on every rank
    dist.broadcast_parameters(model)           # rank 0's weights and buffers everywhere
    sampler = DistributedSampler(train_set, shuffle=True, seed=0)   # minicnn.utils.data's
    loader = DataLoader(train_set, batch_size=64, sampler=sampler)   # 64 per rank
    for epoch in range(epochs):
        loader.set_epoch(epoch)                # also sets the sampler's epoch
        for x, y in loader:
            loss = cross_entropy(model(x), y)
            optimizer.zero_grad(); loss.backward()
            dist.allreduce_gradients(model)    # the mean gradient over the ranks
            optimizer.step()

minicnn's autograd has no backward hooks, so the gradients are averaged by this explicit call
after ``backward`` (PyTorch's DistributedDataParallel does it from hooks, overlapping it with
the backward pass); ``minicnn train --distributed`` makes it in :class:`~minicnn.training.Trainer`.

Communication: gradients and parameters travel as flat float buffers (one per bucket of up to
``bucket_cap_mb`` megabytes and one dtype, as DDP's buckets) through MPI's buffer-based
``Iallreduce``/``Ibcast``: no pickling, one call per bucket rather than per tensor.

Batch normalization: each rank normalizes with the statistics of its own local batch (as
``nn.BatchNorm2d`` under DDP; PyTorch's ``SyncBatchNorm``, which all-reduces the batch mean and
variance in every forward, is not implemented). The running statistics are per rank too;
:func:`broadcast_buffers` makes them rank 0's (the Trainer does before evaluating).

Failures: a job never hangs on a failure a rank can see.

- :func:`init` installs a ``sys.excepthook`` that prints the traceback and calls
  ``MPI.COMM_WORLD.Abort(1)`` (as ``python -m mpi4py`` does), so an uncaught exception on one
  rank ends every rank with a non-zero exit code instead of leaving the others blocked in a
  collective. ``minicnn train`` joins the job first, before it checks its options or loads
  ``--resume``, and calls :func:`abort` after its one-line message for a user's error.
- Every collective waits at most ``timeout`` seconds for the other ranks (:func:`init`; default
  :data:`default_pg_timeout`, 30 minutes, as ``torch.distributed.init_process_group``): it starts
  the non-blocking MPI call (``Ibarrier``, ``Iallreduce``, ``Ibcast``) and polls it: without a
  pause for the first 10 ms (as a blocking MPI call does), then sleeping 50 us doubling up to
  1 ms between polls, and past the timeout it raises :class:`DistributedTimeoutError`. So a
  rank that froze (an endless loop, a deadlock, a stopped process) becomes an error on the
  others, and the excepthook ends the job. The timed-out call is still pending: the job cannot
  go on, only end.
- A rank that vanished (killed, crashed in C) is seen by the launcher: MPICH's ``mpiexec`` ends
  the job at once with the rank's signal ("BAD TERMINATION"), before any timeout.
"""
import datetime
import importlib.util
import math
import os
import sys
import time

import numpy as np

from .backends import set_num_threads
from .tensor import Tensor

__all__ = ["DistributedTimeoutError", "default_pg_timeout", "init", "is_available",
           "is_initialized", "launched_by_mpi", "get_rank", "get_world_size", "barrier", "abort",
           "all_reduce", "broadcast_parameters", "broadcast_buffers", "allreduce_gradients"]

# environment variables that MPI launchers (MPICH/Hydra, Open MPI, PMIx, Slurm) set in each rank
_LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                       "SLURM_PROCID")
_comm = None          # MPI.COMM_WORLD after init(); None before, or in a single process
_initialized = False
_previous_excepthook = sys.__excepthook__

default_pg_timeout = datetime.timedelta(minutes=30)  # torch.distributed's, for gloo and mpi
_timeout = default_pg_timeout.total_seconds()  # how long a collective waits, in seconds
# the polls of a pending collective: MPICH advances a non-blocking collective only inside MPI
# calls, so a pause between polls delays every round of it. Without pauses for the first
# _SPIN_S (the wait of ranks in step, and a transfer under way, at a blocking call's speed),
# then the pauses of a rank that waits for a late one: the first, doubled up to the last
_SPIN_S, _FIRST_PAUSE_S, _LAST_PAUSE_S = 0.01, 50e-6, 1e-3
_FORWARD_S = 0.5  # abort(): time for mpiexec to forward this rank's last output


class DistributedTimeoutError(RuntimeError):
    """A collective waited longer than the timeout of :func:`init` for the other ranks: one of
    them is frozen or gone, or called another collective. ``torch.distributed`` raises a
    RuntimeError for a timeout too. The job cannot go on; uncaught, it ends every rank."""


def is_available():
    """True when mpi4py can be imported (``pip install minicnn[dist]``)."""
    return importlib.util.find_spec("mpi4py") is not None


def is_initialized():
    """True after :func:`init`."""
    return _initialized


def launched_by_mpi() -> bool:
    """True in a process started by an MPI launcher (mpiexec, mpirun, srun): one of the
    environment variables they set in each rank is present."""
    return any(v in os.environ for v in _LAUNCHER_VARIABLES)


def init(timeout: datetime.timedelta | float | None = None) -> tuple[int, int]:
    """Join the MPI job (``MPI.COMM_WORLD``) and return ``(rank, world_size)``.

    ``timeout``: how long each collective of this module waits for the other ranks before it
    raises :class:`DistributedTimeoutError` (module docstring, "Failures"); a
    ``datetime.timedelta`` or seconds. None keeps the current one: :data:`default_pg_timeout`
    (30 minutes, as torch's) unless an earlier call set another.

    Without mpi4py, in a process not started by an MPI launcher, this is a no-op returning
    ``(0, 1)``: the same script runs as a single process. Under a launcher without mpi4py it
    raises ImportError (otherwise every rank would train alone and overwrite the others' files).
    In a job of more than one rank it also:

    - sets minicnn's threads per rank (:func:`minicnn.set_num_threads`) to the cores of this
      node divided by the ranks on it (at least 1), unless ``OMP_NUM_THREADS`` is set, so the
      ranks of one machine do not oversubscribe its cores;
    - installs the excepthook that aborts every rank when one raises (module docstring).

    Calling it again returns the same values (and sets ``timeout`` when given). Raises TypeError
    for a ``timeout`` that is neither a timedelta nor a number, ValueError for one not > 0.
    """
    global _comm, _initialized, _timeout
    if timeout is not None:
        _timeout = _timeout_seconds(timeout)
    if _initialized:
        return get_rank(), get_world_size()
    if not is_available():
        if launched_by_mpi():
            raise ImportError("minicnn.distributed.init: started by an MPI launcher but mpi4py "
                              "is not installed: pip install minicnn[dist]")
        _initialized = True
        return 0, 1
    from mpi4py import MPI

    _comm = MPI.COMM_WORLD
    _initialized = True
    if _comm.Get_size() > 1:
        if "OMP_NUM_THREADS" not in os.environ:
            local = _comm.Split_type(MPI.COMM_TYPE_SHARED)
            set_num_threads(max(1, _cores() // local.Get_size()))
            local.Free()
        global _previous_excepthook
        _previous_excepthook, sys.excepthook = sys.excepthook, _abort_on_exception
    return get_rank(), get_world_size()


def _timeout_seconds(timeout):
    seconds = timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else timeout
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float, np.integer,
                                                             np.floating)):
        raise TypeError(f"minicnn.distributed.init: timeout must be a datetime.timedelta or a "
                        f"number of seconds, got {type(timeout).__name__}")
    if math.isnan(seconds) or seconds <= 0:
        raise ValueError(f"minicnn.distributed.init: timeout must be > 0 seconds, got {timeout!r}")
    return float(seconds)


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _abort_on_exception(kind, value, traceback):
    _previous_excepthook(kind, value, traceback)  # the traceback first
    abort(130 if issubclass(kind, KeyboardInterrupt) else 1)


def get_rank():
    """This process's rank in ``[0, world_size)``; 0 before :func:`init` or without MPI."""
    return _comm.Get_rank() if _comm is not None else 0


def get_world_size():
    """The number of ranks; 1 before :func:`init` or without MPI."""
    return _comm.Get_size() if _comm is not None else 1


def _communicator(caller):
    if not _initialized:
        raise RuntimeError(f"minicnn.distributed.{caller}: call minicnn.distributed.init() "
                           "first")
    return _comm


def barrier():
    """Wait until every rank gets here (``MPI_Ibarrier``, polled). Raises RuntimeError before
    :func:`init`, :class:`DistributedTimeoutError` after waiting the timeout of :func:`init`."""
    comm = _communicator("barrier")
    if comm is not None and comm.Get_size() > 1:
        _wait(comm.Ibarrier(), "barrier")


def _wait(request, caller):
    """Poll ``request`` (a pending non-blocking MPI call) until it completes, without pauses
    for _SPIN_S, then sleeping between polls; raise :class:`DistributedTimeoutError` once it
    has waited the timeout of init()."""
    start = time.monotonic()
    pause = _FIRST_PAUSE_S
    while not request.Test():
        waited = time.monotonic() - start
        if waited >= _timeout:
            raise DistributedTimeoutError(
                f"minicnn.distributed.{caller} timed out on rank {get_rank()} of "
                f"{get_world_size()} after waiting {waited:.2f} s for the other ranks (timeout "
                f"{_timeout:g} s): another rank is frozen or gone, or called another "
                "collective; if the ranks are only slow, raise the timeout (minicnn train "
                "--timeout SECONDS, or minicnn.distributed.init(timeout=...))")
        if waited < _SPIN_S:
            continue
        time.sleep(pause)
        pause = min(2 * pause, _LAST_PAUSE_S)


def abort(errorcode=1):
    """End every rank of the job now with exit code ``errorcode`` (``MPI_Abort``), after
    flushing this rank's stdout and stderr and half a second for mpiexec to forward them. Only
    in a job of more than one rank; otherwise it returns and the caller exits as usual."""
    if _comm is None or _comm.Get_size() == 1:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    # mpiexec forwards each rank's output through a pipe; aborting right after the write could
    # end the job before the error message got through (seen: mpiexec with an empty stderr)
    time.sleep(_FORWARD_S)
    _comm.Abort(int(errorcode))


def all_reduce(array):
    """Sum ``array`` over the ranks, in place (``torch.distributed.all_reduce`` with
    ``ReduceOp.SUM``), and return it. ``array``: a C-contiguous NumPy array or CPU Tensor of
    the same shape and dtype on every rank. Raises RuntimeError before :func:`init`, TypeError
    for anything else than such an array, :class:`DistributedTimeoutError` after waiting the
    timeout of :func:`init` for the other ranks."""
    comm = _communicator("all_reduce")
    data = _host_array("all_reduce", "array", array)
    if not data.flags.c_contiguous:
        raise TypeError("minicnn.distributed.all_reduce: array must be C-contiguous")
    if comm is not None and comm.Get_size() > 1:
        from mpi4py import MPI

        _wait(comm.Iallreduce(MPI.IN_PLACE, data, op=MPI.SUM), "all_reduce")
    return array


def _host_array(caller, name, value):
    if isinstance(value, Tensor):
        if value.device.type != "cpu":
            raise TypeError(f"minicnn.distributed.{caller}: {name} is on {value.device}; only "
                            "CPU tensors are supported")
        return value._data
    if isinstance(value, np.ndarray):
        return value
    raise TypeError(f"minicnn.distributed.{caller}: {name} must be a NumPy array or a "
                    f"Tensor, got {type(value).__name__}")


def _buckets(named_arrays, cap_bytes):
    """Consecutive runs of (name, array) of one dtype, each up to ``cap_bytes`` (a larger
    array gets a bucket of its own). Every rank must pass the same list, in the same order."""
    bucket, size = [], 0
    for name, array in named_arrays:
        if bucket and (array.dtype != bucket[0][1].dtype or size + array.nbytes > cap_bytes):
            yield bucket
            bucket, size = [], 0
        bucket.append((name, array))
        size += array.nbytes
    if bucket:
        yield bucket


def _check_cap(caller, bucket_cap_mb):
    if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) \
            or not bucket_cap_mb > 0:
        raise ValueError(f"minicnn.distributed.{caller}: bucket_cap_mb must be a number > 0, "
                         f"got {bucket_cap_mb!r}")
    return int(bucket_cap_mb * 2**20)


def _broadcast(caller, named_tensors, root, bucket_cap_mb):
    comm = _communicator(caller)
    cap = _check_cap(caller, bucket_cap_mb)
    world = get_world_size()
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) \
            or not 0 <= root < world:
        raise ValueError(f"minicnn.distributed.{caller}: root must be a rank in [0, {world}), "
                         f"got {root!r}")
    if world == 1:
        return
    arrays = [(name, _host_array(caller, name, t)) for name, t in named_tensors]
    for bucket in _buckets(arrays, cap):
        flat = (np.concatenate([a.reshape(-1) for _, a in bucket]) if comm.Get_rank() == root
                else np.empty(sum(a.size for _, a in bucket), bucket[0][1].dtype))
        _wait(comm.Ibcast(flat, root=int(root)), caller)
        offset = 0
        for _, a in bucket:
            a[...] = flat[offset:offset + a.size].reshape(a.shape)
            offset += a.size


def broadcast_parameters(model, root=0, bucket_cap_mb=25):
    """Overwrite the parameters and buffers of ``model`` (an ``nn.Module``) on every rank with
    those of rank ``root``, in place (``MPI_Ibcast`` of flat buckets of one dtype, at most
    ``bucket_cap_mb`` MiB each). Call it once after building the model, as DDP's constructor
    does. Every rank must hold the same architecture. A no-op in a single process. Raises
    RuntimeError before :func:`init`, ValueError for a bad ``root`` or ``bucket_cap_mb``,
    TypeError for a tensor not on the CPU, :class:`DistributedTimeoutError` after waiting the
    timeout of :func:`init` for the other ranks."""
    _broadcast("broadcast_parameters",
               list(model.named_parameters()) + list(model.named_buffers()), root,
               bucket_cap_mb)


def broadcast_buffers(model, root=0, bucket_cap_mb=25):
    """Like :func:`broadcast_parameters` for the buffers only (batch-norm running statistics),
    as DDP's ``broadcast_buffers``: afterwards every rank evaluates rank ``root``'s model."""
    _broadcast("broadcast_buffers", list(model.named_buffers()), root, bucket_cap_mb)


def allreduce_gradients(model, bucket_cap_mb=25):
    """Replace the gradient of every parameter of ``model`` that requires grad by its mean over
    the ranks: ``grad = (sum over ranks of grad) / world_size``, with one buffer-based
    ``MPI_Iallreduce`` (sum, in place) per flat bucket of at most ``bucket_cap_mb`` MiB of one
    dtype (DDP's default cap, 25 MiB). Call it after ``loss.backward()`` and before
    ``optimizer.step()`` on every rank.

    With the mean loss over each rank's local batch of b samples, this is the gradient of the
    mean loss over the combined batch of b x world_size samples. A parameter whose ``grad`` is
    None counts as a zero gradient (its grad becomes the mean of the others'). A no-op in a
    single process. Returns the seconds spent communicating (0.0 for one rank). Raises
    RuntimeError before :func:`init`, ValueError for a bad ``bucket_cap_mb``, TypeError for a
    parameter not on the CPU, :class:`DistributedTimeoutError` after waiting the timeout of
    :func:`init` for the other ranks.
    """
    comm = _communicator("allreduce_gradients")
    cap = _check_cap("allreduce_gradients", bucket_cap_mb)
    world = get_world_size()
    if world == 1:
        return 0.0
    from mpi4py import MPI

    params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    grads = []
    for name, p in params:
        _host_array("allreduce_gradients", name, p)
        g = p.grad._data if p.grad is not None else np.zeros(p.shape, p.dtype)
        grads.append((name, g))
    seconds = 0.0
    new = {}
    for bucket in _buckets(grads, cap):
        flat = np.concatenate([g.reshape(-1) for _, g in bucket])
        start = time.perf_counter()
        _wait(comm.Iallreduce(MPI.IN_PLACE, flat, op=MPI.SUM), "allreduce_gradients")
        seconds += time.perf_counter() - start
        flat /= world
        offset = 0
        for name, g in bucket:
            new[name] = flat[offset:offset + g.size].reshape(g.shape)
            offset += g.size
    for name, p in params:
        p.grad = Tensor(new[name], device="cpu")
    return seconds
