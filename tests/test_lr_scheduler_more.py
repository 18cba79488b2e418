"""PolynomialLR, CyclicLR, CosineAnnealingWarmRestarts and ReduceLROnPlateau
(minicnn.optim.lr_scheduler) against torch.optim.lr_scheduler.

On an optimizer with two parameter groups of different learning rates, each schedule gives
PyTorch's lr sequence bit for bit (and CyclicLR the same momentum, or Adam's beta1);
ReduceLROnPlateau is fed the same metric sequence; CosineAnnealingWarmRestarts is also stepped
with fractional epochs. Also: state_dict round trips mid-run (also through minicnn.save), the
warnings, and the errors with torch's messages.
"""
import copy
import math
import warnings

import numpy as np
import pytest

import minicnn
from minicnn import nn, optim
from minicnn.optim import lr_scheduler as sched

from helpers import (
    assert_schedule_round_trip,
    assert_traces_equal,
    round_trip,
    trace_schedule,
    two_group_optimizers,
)


class Halving:
    """A custom CyclicLR scale_fn with state (which state_dict keeps)."""

    def __init__(self, base=0.5):
        self.base = base

    def __call__(self, x):
        return self.base ** (x - 1)


SPECS = [
    ("PolynomialLR", dict()), ("PolynomialLR", dict(total_iters=30, power=2.0)),
    ("PolynomialLR", dict(total_iters=17, power=0.5)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=7)),
    ("CyclicLR", dict(base_lr=[0.01, 0.002], max_lr=[0.1, 0.05], step_size_up=4,
                      step_size_down=9, mode="triangular2", base_momentum=[0.7, 0.75],
                      max_momentum=0.95)),
    ("CyclicLR", dict(base_lr=0.001, max_lr=0.2, step_size_up=5, mode="exp_range", gamma=0.97)),
    ("CyclicLR", dict(base_lr=0.001, max_lr=0.2, step_size_up=6, cycle_momentum=False)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.3, step_size_up=3, scale_fn=Halving(0.7))),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.3, step_size_up=3, step_size_down=2,
                      scale_fn=lambda x: 0.99 ** x, scale_mode="iterations")),
    ("CosineAnnealingWarmRestarts", dict(T_0=7)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=1e-3)),
    ("CosineAnnealingWarmRestarts", dict(T_0=1, T_mult=3)),
]


def _spec_id(spec):
    return spec[0] + "-" + ",".join(f"{k}={v}" for k, v in spec[1].items() if k != "scale_fn")


def _make(module, spec, opt):
    return getattr(module, spec[0])(opt, **spec[1])


# ---------------------------------------------------------------- lr sequences vs torch

@pytest.mark.parametrize("spec", SPECS, ids=_spec_id)
@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_lr_sequence_matches_torch(torch, spec, name):
    opt, topt = two_group_optimizers(torch, name)
    s, ts = _make(sched, spec, opt), _make(torch.optim.lr_scheduler, spec, topt)
    assert_traces_equal(trace_schedule(opt, s, 90), trace_schedule(topt, ts, 90))
    for key in ("initial_lr", "max_momentum", "base_momentum", "betas", "momentum"):
        assert [g.get(key) for g in opt.param_groups] == [g.get(key) for g in topt.param_groups]
    assert s.last_epoch == ts.last_epoch


def test_cyclic_lr_moves_momentum_against_the_lr(torch):
    opt, _ = two_group_optimizers(torch)
    s = sched.CyclicLR(opt, base_lr=0.1, max_lr=1.0, step_size_up=2, base_momentum=0.8,
                       max_momentum=0.9)
    lrs, momentums = [], []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        momentums.append(opt.param_groups[0]["momentum"])
        opt.step()
        s.step()
    np.testing.assert_allclose(lrs, [0.1, 0.55, 1.0, 0.55, 0.1], rtol=1e-12)
    np.testing.assert_allclose(momentums, [0.9, 0.85, 0.8, 0.85, 0.9], rtol=1e-12)


@pytest.mark.parametrize("T_mult", [1, 2, 3])
def test_warm_restarts_with_fractional_epochs_match_torch(torch, T_mult):
    opt, topt = two_group_optimizers(torch)
    s = sched.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=T_mult, eta_min=0.001)
    ts = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=2, T_mult=T_mult,
                                                              eta_min=0.001)
    iters = 7
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # step(epoch) does not warn here
        for epoch in range(16):
            for i in range(iters):
                opt.step()
                s.step(epoch + i / iters)
                topt.step()
                ts.step(epoch + i / iters)
                assert s.get_last_lr() == ts.get_last_lr(), (epoch, i)
                assert (s.T_cur, s.T_i, s.last_epoch) == (ts.T_cur, ts.T_i, ts.last_epoch)
    # interleaved: a jump, then plain steps continue from there
    for step in (26, None, None, 3.5, None):
        s.step(step)
        ts.step(step)
        assert s.get_last_lr() == ts.get_last_lr()


METRICS = {
    "plateaus": [1.0, 0.9, 0.9, 0.9, 0.9, 0.85, 0.85, 0.85, 0.85, 0.85, 0.8, 0.8, 0.8, 0.8, 0.8,
                 0.79999, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7],
    "noisy": list(1 / (1 + 0.1 * np.arange(60)) + 0.05 * np.sin(1.7 * np.arange(60))),
    "rising": list(np.minimum(np.arange(40) * 0.05, 0.6) + 0.01 * np.cos(np.arange(40))),
}

PLATEAU_SPECS = [
    ("plateaus", dict(patience=2)),
    ("plateaus", dict(patience=1, factor=0.5, cooldown=2, min_lr=[0.02, 0.01])),
    ("plateaus", dict(patience=0, threshold=0.1, threshold_mode="abs", min_lr=0.004)),
    ("noisy", dict(patience=3, factor=0.3, threshold=1e-2)),
    ("noisy", dict(patience=2, cooldown=1, threshold=0.05, threshold_mode="abs", eps=1e-3)),
    ("rising", dict(mode="max", patience=2, factor=0.5)),
    ("rising", dict(mode="max", patience=1, threshold=0.02, threshold_mode="abs", cooldown=3)),
]


@pytest.mark.parametrize("metrics,kwargs", PLATEAU_SPECS,
                         ids=lambda v: v if isinstance(v, str) else ",".join(v))
def test_reduce_on_plateau_matches_torch(torch, metrics, kwargs):
    values = METRICS[metrics]
    opt, topt = two_group_optimizers(torch)
    s = sched.ReduceLROnPlateau(opt, **kwargs)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    ours = trace_schedule(opt, s, len(values), values)
    theirs = trace_schedule(topt, ts, len(values), values)
    assert_traces_equal(ours, theirs)
    assert ours[-1][0] != ours[0][0]  # the lr did change
    for key in ("best", "num_bad_epochs", "cooldown_counter", "last_epoch", "min_lrs"):
        assert getattr(s, key) == getattr(ts, key), key
    assert "initial_lr" not in opt.param_groups[0]


def test_reduce_on_plateau_takes_a_tensor_metric_and_warns_on_epoch():
    opt = optim.SGD([nn.Parameter(np.ones(2))], lr=1.0)
    s = sched.ReduceLROnPlateau(opt, patience=0)
    s.step(minicnn.tensor(2.0))
    s.step(minicnn.tensor([3.0]))
    assert s.best == 2.0 and s.get_last_lr() == [0.1]
    with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)`"):
        s.step(1.0, epoch=10)
    assert s.last_epoch == 10 and s.best == 1.0


def test_reduce_on_plateau_with_an_added_param_group(torch):
    opt, topt = two_group_optimizers(torch)
    s = sched.ReduceLROnPlateau(opt, patience=0, min_lr=0.005)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, patience=0, min_lr=0.005)
    opt.add_param_group({"params": [nn.Parameter(np.ones(1))], "lr": 0.2})
    topt.add_param_group({"params": [torch.ones(1, requires_grad=True)], "lr": 0.2})
    for metric in (1.0, 1.0, 1.0):
        s.step(metric)
        ts.step(metric)
    assert s.get_last_lr() == ts.get_last_lr() and s.min_lrs == ts.min_lrs == [0.005] * 3

    opt, topt = two_group_optimizers(torch)
    s = sched.ReduceLROnPlateau(opt, patience=0, min_lr=[0.0, 0.0])
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, patience=0, min_lr=[0.0, 0.0])
    opt.add_param_group({"params": [nn.Parameter(np.ones(1))]})
    topt.add_param_group({"params": [torch.ones(1, requires_grad=True)]})
    for scheduler in (ts, s):
        scheduler.step(1.0)
    with pytest.raises(RuntimeError) as theirs:
        ts.step(1.0)
    with pytest.raises(RuntimeError) as ours:
        s.step(1.0)
    assert str(ours.value) == str(theirs.value)


# ---------------------------------------------------------------- checkpoints

@pytest.mark.parametrize("spec", SPECS, ids=_spec_id)
@pytest.mark.parametrize("via_save", [False, True], ids=["dict", "minicnn.save"])
def test_state_dict_round_trip(torch, spec, via_save):
    """11 steps, save optimizer + scheduler, load both into fresh ones, continue ==
    uninterrupted."""
    fresh = spec
    if isinstance(spec[1].get("scale_fn"), Halving):
        fresh = (spec[0], dict(spec[1], scale_fn=Halving(0.1)))  # its state comes from the dict
    assert_schedule_round_trip(torch, lambda opt: _make(sched, spec, opt), 11, via_save, "Adam",
                               rebuild=lambda opt: _make(sched, fresh, opt))


def test_cyclic_lr_state_dict_keeps_a_callable_objects_state_only(torch):
    opt, _ = two_group_optimizers(torch)
    s = sched.CyclicLR(opt, 0.01, 0.1, scale_fn=Halving(0.3))
    state = s.state_dict()
    assert state["_scale_fn_custom"] == {"base": 0.3}
    s.load_state_dict(state)
    assert "_scale_fn_custom" in state  # the caller's dict is left alone
    state = sched.CyclicLR(opt, 0.01, 0.1, scale_fn=lambda x: 1.0).state_dict()
    assert state["_scale_fn_custom"] is None
    assert sched.CyclicLR(opt, 0.01, 0.1).state_dict()["_scale_fn_custom"] is None


@pytest.mark.parametrize("via_save", [False, True], ids=["dict", "minicnn.save"])
def test_reduce_on_plateau_state_dict_round_trip(torch, via_save):
    values = METRICS["noisy"]
    kwargs = dict(patience=2, cooldown=1, factor=0.5, min_lr=[0.01, 0.001])
    opt, _ = two_group_optimizers(torch)
    s = sched.ReduceLROnPlateau(opt, **kwargs)
    trace_schedule(opt, s, 13, values)
    saved = copy.deepcopy({"optimizer": opt.state_dict(), "scheduler": s.state_dict()})
    expected = trace_schedule(opt, s, 40, values[13:])
    if via_save:
        saved = round_trip(saved)
    opt2, _ = two_group_optimizers(torch)
    s2 = sched.ReduceLROnPlateau(opt2, mode="max")  # the settings come from the state dict
    opt2.load_state_dict(saved["optimizer"])
    s2.load_state_dict(saved["scheduler"])
    assert s2.mode == "min" and s2.min_lrs == [0.01, 0.001]
    assert_traces_equal(trace_schedule(opt2, s2, 40, values[13:]), expected)


def test_polynomial_lr_resume_and_closed_form_match_torch(torch):
    opt, topt = two_group_optimizers(torch)
    for group, tgroup in zip(opt.param_groups, topt.param_groups):
        group["initial_lr"] = tgroup["initial_lr"] = group["lr"]
    s = sched.PolynomialLR(opt, total_iters=12, power=1.5, last_epoch=3)
    ts = torch.optim.lr_scheduler.PolynomialLR(topt, total_iters=12, power=1.5, last_epoch=3)
    assert_traces_equal(trace_schedule(opt, s, 15), trace_schedule(topt, ts, 15))
    for epoch in (2, 9, 20):
        with pytest.warns(UserWarning, match="epoch parameter"):
            s.step(epoch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ts.step(epoch)
        assert s.get_last_lr() == ts.get_last_lr()


# ---------------------------------------------------------------- warnings and errors

def test_cyclic_lr_warns_before_optimizer_step_and_warm_restarts_does_not():
    opt = optim.SGD([nn.Parameter(np.ones(2))], lr=0.1, momentum=0.9)
    s = sched.CyclicLR(opt, 0.01, 0.1)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()
    opt = optim.SGD([nn.Parameter(np.ones(2))], lr=0.1)
    s = sched.CosineAnnealingWarmRestarts(opt, T_0=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.step()
        s.step(1.5)


def _assert_same_error(torch, cls, kwargs, error=ValueError, name="SGD"):
    opt, topt = two_group_optimizers(torch, name)
    with pytest.raises(error) as theirs:
        getattr(torch.optim.lr_scheduler, cls)(topt, **kwargs)
    with pytest.raises(error) as ours:
        getattr(sched, cls)(opt, **kwargs)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("cls,kwargs", [
    ("ReduceLROnPlateau", dict(factor=1.0)), ("ReduceLROnPlateau", dict(factor=2.0)),
    ("ReduceLROnPlateau", dict(mode="avg")), ("ReduceLROnPlateau", dict(threshold_mode="pct")),
    ("ReduceLROnPlateau", dict(min_lr=[0.1])),
    ("CyclicLR", dict(base_lr=0.1, max_lr=1.0, mode="sine")),
    ("CyclicLR", dict(base_lr=[0.1], max_lr=1.0)),
    ("CyclicLR", dict(base_lr=0.1, max_lr=[1.0, 2.0, 3.0])),
    ("CyclicLR", dict(base_lr=0.1, max_lr=1.0, max_momentum=[0.9])),
    ("CosineAnnealingWarmRestarts", dict(T_0=0)), ("CosineAnnealingWarmRestarts", dict(T_0=2.5)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=0)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=1.5)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, eta_min="0")),
], ids=lambda v: str(v))
def test_bad_arguments_raise_torchs_errors(torch, cls, kwargs):
    _assert_same_error(torch, cls, kwargs)


def test_cyclic_lr_needs_momentum_or_betas(torch):
    opt, topt = two_group_optimizers(torch, "Adagrad")
    for module, o in ((torch.optim.lr_scheduler, topt), (sched, opt)):
        with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
            module.CyclicLR(o, 0.01, 0.1)
    s = sched.CyclicLR(opt, 0.01, 0.1, step_size_up=2, cycle_momentum=False)
    ts = torch.optim.lr_scheduler.CyclicLR(topt, 0.01, 0.1, step_size_up=2, cycle_momentum=False)
    assert_traces_equal(trace_schedule(opt, s, 9), trace_schedule(topt, ts, 9))


def test_not_an_optimizer_and_negative_epoch():
    for make in (lambda o: sched.ReduceLROnPlateau(o), lambda o: sched.CyclicLR(o, 0.1, 1.0),
                 lambda o: sched.CosineAnnealingWarmRestarts(o, 2),
                 lambda o: sched.PolynomialLR(o)):
        with pytest.raises(TypeError, match="list is not an Optimizer"):
            make([])
    s = sched.CosineAnnealingWarmRestarts(optim.SGD([nn.Parameter(np.ones(1))]), 2)
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        s.step(-1)


def test_warm_restarts_restart_at_the_period_ends(torch):
    opt = optim.SGD([nn.Parameter(np.ones(1))], lr=1.0)
    s = sched.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    # periods of 2, then 4 epochs: restarts (lr back to 1) at epochs 2 and 6
    half = (1 + math.cos(math.pi / 2)) / 2
    expected = [1.0, 0.5, 1.0, (1 + math.cos(math.pi / 4)) / 2, half,
                (1 + math.cos(3 * math.pi / 4)) / 2, 1.0, (1 + math.cos(math.pi / 8)) / 2]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)


def test_polynomial_lr_after_a_warmup_in_sequential_lr(torch):
    opt, topt = two_group_optimizers(torch)
    made = []
    for module, o in ((sched, opt), (torch.optim.lr_scheduler, topt)):
        warm = module.LinearLR(o, start_factor=0.1, total_iters=4)
        poly = module.PolynomialLR(o, total_iters=20, power=2.0)
        made.append(module.SequentialLR(o, [warm, poly], milestones=[4]))
    assert_traces_equal(trace_schedule(opt, made[0], 30), trace_schedule(topt, made[1], 30))
