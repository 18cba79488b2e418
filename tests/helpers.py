"""Helpers shared by several test files."""
import copy
import gzip
import io
import os
import struct
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import minicnn
from minicnn import nn, optim
from minicnn.backends import _cpu
from minicnn.training import Trainer
from minicnn.utils import gradcheck

N_TRAIN, N_TEST = 64, 32  # the tiny Fashion-MNIST of write_fashion_mnist
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout above tests/


def _not_in_checkout(paths):
    """The reason to skip a test that reads ``paths`` of the checkout, or "" when all exist."""
    missing = [p for p in paths if not os.path.exists(os.path.join(REPO, p))]
    return (f"needs the source tree: {', '.join(missing)} not found (the tests run against an "
            f"installed package, tests/wheel_check.sh)") if missing else ""


def needs_source_tree(*paths):
    """A skip mark for a test that reads files of the checkout (``paths``, relative to its root:
    README.md, docs/..., csrc/...), which a copy of tests/ run against an installed wheel
    (tests/wheel_check.sh) does not have. A decorator, or ``pytestmark = ...``."""
    reason = _not_in_checkout(paths)
    return pytest.mark.skipif(bool(reason), reason=reason)


def require_source_tree(*paths):
    """Skip the whole calling module when ``paths`` are missing (see needs_source_tree); called
    at the top level of a module that reads them as it is imported."""
    reason = _not_in_checkout(paths)
    if reason:
        pytest.skip(reason, allow_module_level=True)


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
    for a, b in zip(one if isinstance(one, tuple) else (one,),
                    two if isinstance(two, tuple) else (two,)):
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



def round_trip(obj):
    """``obj`` through minicnn.save and minicnn.load, in memory."""
    buf = io.BytesIO()
    minicnn.save(obj, buf)
    buf.seek(0)
    return minicnn.load(buf)


# ---------------------------------------------------------------- optimizer trajectories
# The harness of test_optim.py and test_optim_more.py: the same initial parameters and the same
# gradients (a function of the current parameters, so a wrong step changes every later one) fed
# to a minicnn optimizer and to torch's.

OPTIM_SHAPES = [(3, 4), (5,), (2, 3, 2), ()]
OPTIM_TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-6)}
SCALAR_STATE = {"step", "mu_product", "eta", "mu"}  # floats in minicnn, 0-d tensors in torch


def optim_init_arrays(dtype, seed=0):
    """One array per shape of OPTIM_SHAPES (the last one 0-d), standard normal."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in OPTIM_SHAPES]


def _trajectory_grad(x, t, i):
    """The gradient fed at step t to parameter i: depends on the parameter's current value."""
    phase = np.arange(x.size, dtype=np.float64).reshape(x.shape)
    return np.asarray(0.7 * x + np.sin(0.9 * t + 1.3 * i + phase), dtype=x.dtype)


def _has_grad(t, i):
    return i != 3 or t % 3 != 1  # the 0-d parameter gets no gradient on some steps


def _param_groups(params, kwargs, split, default_lr):
    """One group with everything, or two: the second with its own lr (3 times the given lr, or
    ``default_lr`` -- the optimizer's default -- when none is given) and weight decay."""
    if not split:
        return params
    second = {"params": params[2:], "lr": kwargs.get("lr", default_lr) * 3}
    if "weight_decay" in kwargs:
        second["weight_decay"] = 0.05
    return [{"params": params[:2]}, second]


def make_minicnn_optim(name, arrays, kwargs, split, default_lr):
    """Parameters from ``arrays`` and minicnn.optim.<name> over them (see _param_groups)."""
    params = [nn.Parameter(a.copy()) for a in arrays]
    return params, getattr(optim, name)(_param_groups(params, kwargs, split, default_lr), **kwargs)


def make_torch_optim(torch, name, arrays, kwargs, split, default_lr):
    """The same as make_minicnn_optim, with torch.optim.<name>."""
    params = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    return params, getattr(torch.optim, name)(_param_groups(params, kwargs, split, default_lr),
                                              **kwargs)


def _run_steps(make_grad, params, opt, steps, start):
    for t in range(start, start + steps):
        opt.zero_grad()
        for i, p in enumerate(params):
            if _has_grad(t, i):
                p.grad = make_grad(_trajectory_grad(p.detach().numpy(), t, i))
        opt.step()
    return [p.detach().numpy().copy() for p in params]


def run_minicnn_optim(params, opt, steps, start=0):
    """Steps ``start`` .. ``start + steps - 1`` of the trajectory; the parameters after them."""
    return _run_steps(minicnn.Tensor, params, opt, steps, start)


def run_torch_optim(torch, params, opt, steps, start=0):
    """The same as run_minicnn_optim, for torch's parameters and optimizer."""
    return _run_steps(torch.from_numpy, params, opt, steps, start)


def assert_optim_state_matches_torch(opt, topt, dtype):
    """The state_dicts agree: the same state names in the same order, scalar states as floats,
    tensors of ``dtype`` equal to OPTIM_TOL; the same hyperparameters in every group."""
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert ours["state"].keys() == theirs["state"].keys()
    for k, state in theirs["state"].items():
        assert list(ours["state"][k]) == list(state), k  # same names, same order
        for key, value in state.items():
            mine = ours["state"][k][key]
            if key in SCALAR_STATE:
                assert isinstance(mine, float), key
                assert mine == value.item(), key
            else:
                assert isinstance(mine, minicnn.Tensor) and mine.dtype == dtype, key
                np.testing.assert_allclose(mine.numpy(), value.numpy(), **OPTIM_TOL[dtype],
                                           err_msg=key)
    for g, tg in zip(ours["param_groups"], theirs["param_groups"]):
        for key, value in g.items():
            assert tg[key] == value, key



def assert_optim_round_trip(make_minicnn, name, kwargs, via_save):
    """10 steps, then the state_dict (through minicnn.save when ``via_save``) loaded into a fresh
    optimizer made with lr=123 (the hyperparameters come from the state dict): its next 10 steps
    equal the uninterrupted run's. Returns (first optimizer, fresh optimizer, fresh params)."""
    arrays = optim_init_arrays(np.float64)
    params, opt = make_minicnn(name, arrays, kwargs, True)
    run_minicnn_optim(params, opt, 10)
    saved = copy.deepcopy(opt.state_dict())
    middle = [p.detach().numpy().copy() for p in params]
    expected = run_minicnn_optim(params, opt, 10, 10)
    if via_save:
        saved = round_trip(saved)
    params2, opt2 = make_minicnn(name, middle, dict(kwargs, lr=123.0), True)
    opt2.load_state_dict(saved)
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]
    for a, b in zip(run_minicnn_optim(params2, opt2, 10, 10), expected):
        np.testing.assert_array_equal(a, b)
    return opt, opt2, params2



def assert_step_skips_missing_grads_and_runs_closure(cls):
    """``cls([a, b], lr=0.1)`` with a gradient for a only: step(closure) returns the closure's
    loss, the closure runs with grad mode on (even under no_grad), b is untouched, a is updated
    in place without a graph and its gradient is left as it was. Returns (opt, a, b)."""
    a, b = nn.Parameter(np.ones(3)), nn.Parameter(np.ones(2))
    opt = cls([a, b], lr=0.1)
    a.grad = minicnn.Tensor(np.ones(3))
    data = a._data
    calls = []

    def closure():
        calls.append(minicnn.is_grad_enabled())
        return 1.5

    with minicnn.no_grad():
        assert opt.step(closure) == 1.5
    assert calls == [True]
    assert opt.step() is None
    np.testing.assert_array_equal(b.detach().numpy(), np.ones(2))
    assert a._data is data and a.grad_fn is None  # in place, no graph
    np.testing.assert_array_equal(a.grad.numpy(), np.ones(3))  # the gradient is not modified
    assert np.all(a.detach().numpy() < 1)
    assert opt.state[a]["step"] == 2.0
    return opt, a, b


# ---------------------------------------------------------------- learning-rate schedules
# Shared by test_lr_scheduler.py and test_lr_scheduler_more.py.

def two_group_optimizers(torch, name="SGD", **kwargs):
    """minicnn.optim.<name> and torch.optim.<name> over two parameter groups, the second with
    0.3 times the lr (SGD: lr 0.1, momentum 0.9; otherwise lr 0.01; ``kwargs`` override)."""
    ours = [nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))]
    theirs = [torch.ones(2, requires_grad=True), torch.ones(3, requires_grad=True)]
    kwargs = dict(dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.01), **kwargs)

    def groups(ps):
        return [{"params": ps[:1]}, {"params": ps[1:], "lr": kwargs["lr"] * 0.3}]

    return (getattr(optim, name)(groups(ours), **kwargs),
            getattr(torch.optim, name)(groups(theirs), **kwargs))


def trace_schedule(opt, scheduler, steps, metrics=None):
    """lr and momentum/beta1 of each group and get_last_lr(), before each of ``steps`` steps;
    ``metrics[t]`` is given to step t's scheduler.step (ReduceLROnPlateau)."""
    out = []
    for t in range(steps):
        groups = opt.param_groups
        out.append(([g["lr"] for g in groups],
                    [g.get("momentum", g.get("betas", (None,))[0]) for g in groups],
                    list(scheduler.get_last_lr())))
        opt.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[t])
    return out


def assert_traces_equal(ours, theirs):
    """Two trace_schedule results are equal, bit for bit."""
    assert len(ours) == len(theirs)
    for t, (a, b) in enumerate(zip(ours, theirs)):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(np.array(x, dtype=float), np.array(y, dtype=float),
                                          err_msg=f"step {t}")


def assert_schedule_round_trip(torch, build, steps, via_save, optimizer="SGD", rebuild=None):
    """``steps`` steps of the scheduler ``build(opt)``, then optimizer + scheduler state saved
    (through minicnn.save when ``via_save``) and loaded into fresh ones (the scheduler from
    ``rebuild``, by default ``build``): the next 40 steps equal the uninterrupted run's."""
    opt, _ = two_group_optimizers(torch, optimizer)
    s = build(opt)
    trace_schedule(opt, s, steps)
    saved = copy.deepcopy({"optimizer": opt.state_dict(), "scheduler": s.state_dict()})
    assert "optimizer" not in saved["scheduler"]
    expected = trace_schedule(opt, s, 40)
    if via_save:
        saved = round_trip(saved)
    opt2, _ = two_group_optimizers(torch, optimizer)
    s2 = (rebuild or build)(opt2)
    opt2.load_state_dict(saved["optimizer"])
    s2.load_state_dict(saved["scheduler"])
    assert_traces_equal(trace_schedule(opt2, s2, 40), expected)


# ---------------------------------------------------------------- Tensor-API ops against torch
# Shared by test_tensor_api_ops.py and test_tensor_api_more.py: an op is ``fn(L, *xs)``, written
# once for both libraries (``L`` is minicnn or torch).

def leaves(L, arrays, dtype):
    """Float arrays become leaves requiring grad; other arrays constant tensors; the rest
    (numbers, None) pass through."""
    out = []
    for a in arrays:
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            out.append(L.tensor(a.astype(dtype), requires_grad=True))
        elif isinstance(a, np.ndarray):
            out.append(L.tensor(a))
        else:
            out.append(a)
    return out


def flat(out):
    """The tensors in an op's result (a tensor, a tuple, or a named tuple)."""
    return list(out) if isinstance(out, (tuple, list)) else [out]


def run(L, fn, arrays, dtype, seed=0):
    """fn(L, *leaves): every output's values, and the leaves' gradients of sum(out_i * v_i)
    over the floating outputs that require grad (v_i random, from ``seed``)."""
    xs = leaves(L, arrays, dtype)
    outs = flat(fn(L, *xs))
    values = [o.detach().numpy() for o in outs]
    rng = np.random.default_rng(seed)
    loss = None
    for o in outs:
        if o.requires_grad:
            term = (o * L.tensor(rng.standard_normal(tuple(o.shape)).astype(dtype))).sum()
            loss = term if loss is None else loss + term
    grads = []
    if loss is not None:
        loss.backward()
        grads = [None if x.grad is None else x.grad.numpy()
                 for x in xs if hasattr(x, "requires_grad") and x.requires_grad]
    return values, grads


def agree_with_torch(torch, fn, *arrays, dtype=np.float64, tol=None, tols=None):
    """fn gives the same values, dtypes and gradients in minicnn as in torch, to ``tol`` (by
    default ``tols[dtype]``, the calling file's table)."""
    tol = tol or tols[dtype]
    ys, gs = run(minicnn, fn, arrays, dtype)
    tys, tgs = run(torch, fn, arrays, dtype)
    assert len(ys) == len(tys)
    for y, ty in zip(ys, tys):
        assert y.shape == ty.shape and y.dtype == ty.dtype, (y.shape, ty.shape, y.dtype, ty.dtype)
        np.testing.assert_allclose(y, ty, **tol)
    assert len(gs) == len(tgs)
    for g, tg in zip(gs, tgs):
        if tg is None:
            assert g is None or not g.any()
        else:
            np.testing.assert_allclose(g, tg, **tol)


def check_grad(fn, *arrays):
    """gradcheck fn(minicnn, *xs) at float64 leaves."""
    xs = leaves(minicnn, arrays, np.float64)
    assert gradcheck(lambda *a: fn(minicnn, *a), xs) is True


def f32(*shape):
    return minicnn.zeros(*shape)


# ---------------------------------------------------------------- zip archives (checkpoints)

def read_entries(path):
    """Every entry of the zip file at ``path``: {name: bytes}."""
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_entries(path, entries):
    """A zip file at ``path`` holding ``entries`` ({name: bytes}), in that order."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def bounded(load, seconds, memory):
    """Run ``load()`` and return the exception it raised (None if none), after asserting that it
    took less than ``seconds`` and, at its peak, less than ``memory`` bytes (tracemalloc): the
    bound the hostile-file and fuzz tests put on a parser."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        load()
        error = None
    except Exception as e:  # noqa: BLE001 - the caller checks the type
        error = e
    finally:
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    assert peak < memory, f"took {peak / 2**20:.0f} MiB"
    return error
