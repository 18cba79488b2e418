"""Learning-rate schedulers (minicnn.optim.lr_scheduler) against torch.optim.lr_scheduler.

Each scheduler, on an optimizer with two parameter groups of different learning rates, gives
the same lr sequence as PyTorch's over many steps (and, for OneCycleLR, the same momentum or
beta1), bit for bit: the recursive ("chainable") forms are computed in the same order. Also:
state_dict round trips (also through minicnn.save), resuming with last_epoch, step(epoch),
get_last_lr, the warnings, and the errors.
"""
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
    trace_schedule,
    two_group_optimizers,
)


def _factory(module, spec):
    """A scheduler builder from a spec: (class name, kwargs) or
    ("SequentialLR", [specs], milestones)."""
    def build(opt):
        if spec[0] == "SequentialLR":
            _, parts, milestones = spec
            subs = [_factory(module, p)(opt) for p in parts]
            return module.SequentialLR(opt, subs, milestones)
        kwargs = dict(spec[1])
        if spec[0] == "LambdaLR":
            kwargs["lr_lambda"] = LAMBDAS[kwargs["lr_lambda"]]
        return getattr(module, spec[0])(opt, **kwargs)
    return build


LAMBDAS = {"decay": lambda epoch: 0.95 ** epoch, "warmup": lambda epoch: min(1.0, (epoch + 1) / 7)}

SPECS = [
    ("StepLR", dict(step_size=7)), ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[5, 12, 12, 30], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.93)),
    ("CosineAnnealingLR", dict(T_max=20)), ("CosineAnnealingLR", dict(T_max=7, eta_min=1e-3)),
    ("LinearLR", dict()), ("LinearLR", dict(start_factor=0.1, end_factor=0.8, total_iters=13)),
    ("LambdaLR", dict(lr_lambda="decay")), ("LambdaLR", dict(lr_lambda="warmup")),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=60)),
    ("OneCycleLR", dict(max_lr=[0.5, 0.2], epochs=6, steps_per_epoch=10, pct_start=0.25,
                        anneal_strategy="linear", three_phase=True)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=60, cycle_momentum=False, div_factor=10.0,
                        final_div_factor=100.0)),
    ("SequentialLR", [("LinearLR", dict(start_factor=0.2, total_iters=5)),
                      ("CosineAnnealingLR", dict(T_max=30))], [5]),
    ("SequentialLR", [("ExponentialLR", dict(gamma=0.9)), ("StepLR", dict(step_size=4))], [10]),
    ("SequentialLR", [("LinearLR", dict(total_iters=3)), ("ExponentialLR", dict(gamma=0.8)),
                      ("MultiStepLR", dict(milestones=[3, 9]))], [4, 15]),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s[0] + str(s[1:])[:40])
@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_lr_sequence_matches_torch(torch, spec, name):
    opt, topt = two_group_optimizers(torch, name)
    s = _factory(sched, spec)(opt)
    ts = _factory(torch.optim.lr_scheduler, spec)(topt)
    steps = 60 if spec[0] == "OneCycleLR" else 80
    assert_traces_equal(trace_schedule(opt, s, steps), trace_schedule(topt, ts, steps))
    for key in ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum", "betas"):
        assert ([g.get(key) for g in opt.param_groups]
                == [g.get(key) for g in topt.param_groups]), key


def test_onecycle_errors_when_stepped_past_total_steps(torch):
    opt, topt = two_group_optimizers(torch)
    s = sched.OneCycleLR(opt, max_lr=0.1, total_steps=5)
    ts = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.1, total_steps=5)
    for _ in range(5):
        opt.step()
        s.step()
        topt.step()
        ts.step()
    with pytest.raises(ValueError) as theirs:
        ts.step()
    with pytest.raises(ValueError) as ours:
        s.step()
    assert str(ours.value) == str(theirs.value) == \
        "Tried to step 6 times. The specified number of total steps is 5"


@pytest.mark.parametrize("kwargs,match", [
    (dict(max_lr=0.1), "either total_steps OR"),
    (dict(max_lr=0.1, epochs=3), "either total_steps OR"),
    (dict(max_lr=0.1, total_steps=0), "positive integer total_steps"),
    (dict(max_lr=0.1, total_steps=2.5), "positive integer total_steps"),
    (dict(max_lr=0.1, epochs=0, steps_per_epoch=3), "positive integer epochs"),
    (dict(max_lr=0.1, epochs=2, steps_per_epoch=-1), "positive integer steps_per_epoch"),
    (dict(max_lr=0.1, total_steps=10, pct_start=1.5), "pct_start"),
    (dict(max_lr=0.1, total_steps=10, anneal_strategy="exp"), "anneal_strategy"),
    (dict(max_lr=[0.1, 0.2, 0.3], total_steps=10), "max_lr must have the same length"),
    (dict(max_lr=0.1, total_steps=10, max_momentum=[0.9]), "max_momentum must have the same"),
])
def test_onecycle_bad_arguments_raise_torchs_errors(torch, kwargs, match):
    opt, topt = two_group_optimizers(torch)
    with pytest.raises(ValueError, match=match) as theirs:
        torch.optim.lr_scheduler.OneCycleLR(topt, **kwargs)
    with pytest.raises(ValueError) as ours:
        sched.OneCycleLR(opt, **kwargs)
    assert str(ours.value) == str(theirs.value)


def test_onecycle_needs_momentum_or_betas():
    class NoMomentum(optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, dict(lr=0.1))

        def step(self, closure=None):
            return None

    opt = NoMomentum([nn.Parameter(np.ones(1))])
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        sched.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    sched.OneCycleLR(opt, max_lr=0.1, total_steps=10, cycle_momentum=False)


@pytest.mark.parametrize("spec", [s for s in SPECS if s[0] != "LambdaLR"],
                         ids=lambda s: s[0] + str(s[1:])[:40])
@pytest.mark.parametrize("via_save", [False, True])
def test_state_dict_round_trip(torch, spec, via_save):
    """7 steps, save optimizer + scheduler, load both into fresh ones, continue == uninterrupted."""
    assert_schedule_round_trip(torch, _factory(sched, spec), 7, via_save)


def test_lambda_lr_state_dict_keeps_callable_objects_state(torch):
    class Schedule:
        def __init__(self):
            self.factor = 0.5

        def __call__(self, epoch):
            return self.factor ** epoch

    opt, _ = two_group_optimizers(torch)
    fn = Schedule()
    s = sched.LambdaLR(opt, [fn, lambda e: 1.0])
    fn.factor = 0.25
    state = s.state_dict()
    assert state["lr_lambdas"] == [{"factor": 0.25}, None]
    fresh = Schedule()
    s2 = sched.LambdaLR(opt, [fresh, lambda e: 1.0])
    s2.load_state_dict(state)
    assert fresh.factor == 0.25 and "lr_lambdas" in state
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        sched.LambdaLR(opt, [fn])


def test_resume_with_last_epoch_matches_torch(torch):
    for spec in [("CosineAnnealingLR", dict(T_max=10)), ("StepLR", dict(step_size=3)),
                 ("ExponentialLR", dict(gamma=0.9))]:
        opt, topt = two_group_optimizers(torch)
        for group, tgroup in zip(opt.param_groups, topt.param_groups):
            group["initial_lr"] = tgroup["initial_lr"] = group["lr"]
        kwargs = dict(spec[1], last_epoch=4)
        s = getattr(sched, spec[0])(opt, **kwargs)
        ts = getattr(torch.optim.lr_scheduler, spec[0])(topt, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert_traces_equal(trace_schedule(opt, s, 20), trace_schedule(topt, ts, 20))


def test_resume_without_initial_lr_raises_key_error(torch):
    opt, _ = two_group_optimizers(torch)
    with pytest.raises(KeyError, match="initial_lr"):
        sched.StepLR(opt, step_size=3, last_epoch=5)


def test_step_with_epoch_uses_the_closed_form_and_warns(torch):
    for spec in [("StepLR", dict(step_size=3)), ("MultiStepLR", dict(milestones=[2, 5])),
                 ("ExponentialLR", dict(gamma=0.9)), ("CosineAnnealingLR", dict(T_max=10)),
                 ("LinearLR", dict(total_iters=4))]:
        opt, topt = two_group_optimizers(torch)
        s, ts = _factory(sched, spec)(opt), _factory(torch.optim.lr_scheduler, spec)(topt)
        opt.step()
        topt.step()
        for epoch in (6, 2, 9):
            with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)`"):
                s.step(epoch)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ts.step(epoch)
            assert s.get_last_lr() == ts.get_last_lr()


def test_initial_lr_and_base_lrs(torch):
    opt, _ = two_group_optimizers(torch)
    s = sched.ExponentialLR(opt, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == pytest.approx([0.1, 0.03])
    assert s.base_lrs == pytest.approx([0.1, 0.03])
    assert s.get_last_lr() == pytest.approx([0.1, 0.03]) and s.last_epoch == 0
    opt.step()
    s.step()
    assert s.get_last_lr() == pytest.approx([0.05, 0.015]) and s.last_epoch == 1
    assert [g["lr"] for g in opt.param_groups] == s.get_last_lr()


def test_warns_when_scheduler_steps_before_optimizer():
    for make in (lambda p: optim.SGD(p, lr=0.1), lambda p: optim.AdamW(p)):
        opt = make([nn.Parameter(np.ones(2))])
        s = sched.StepLR(opt, step_size=2)
        with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
            s.step()
        opt2 = make([nn.Parameter(np.ones(2))])
        s2 = sched.StepLR(opt2, step_size=2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            opt2.step()
            s2.step()
            s2.step()


def test_sequential_lr_milestones_and_errors(torch):
    opt, _ = two_group_optimizers(torch)
    warm = sched.LinearLR(opt, start_factor=0.5, total_iters=2)
    decay = sched.ExponentialLR(opt, gamma=0.5)
    s = sched.SequentialLR(opt, [warm, decay], milestones=[3])
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    # warm-up 0.05 -> 0.075 -> 0.1, then at epoch 3 the exponential decay starts from 0.1
    np.testing.assert_allclose(lrs, [0.05, 0.075, 0.1, 0.1, 0.05, 0.025], rtol=1e-15)

    other, _ = two_group_optimizers(torch)
    with pytest.raises(ValueError, match="at least one scheduler"):
        sched.SequentialLR(opt, [], milestones=[])
    with pytest.raises(ValueError, match="number of milestones to be equal to 2"):
        sched.SequentialLR(opt, [warm, decay], milestones=[2, 4])
    with pytest.raises(ValueError, match="belong to the same optimizer"):
        sched.SequentialLR(opt, [warm, sched.StepLR(other, 2)], milestones=[2])
    with pytest.raises(TypeError, match="should have `optimizer` as its attribute"):
        sched.SequentialLR(opt, [warm, object()], milestones=[2])


@pytest.mark.parametrize("cls,kwargs", [
    ("LinearLR", dict(start_factor=0.0)), ("LinearLR", dict(start_factor=1.5)),
    ("LinearLR", dict(end_factor=-0.1)), ("LinearLR", dict(end_factor=1.1)),
])
def test_linear_lr_bad_factors_raise_torchs_errors(torch, cls, kwargs):
    opt, topt = two_group_optimizers(torch)
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim.lr_scheduler, cls)(topt, **kwargs)
    with pytest.raises(ValueError) as ours:
        getattr(sched, cls)(opt, **kwargs)
    assert str(ours.value) == str(theirs.value)


def test_not_an_optimizer_raises_type_error():
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        sched.StepLR([], step_size=2)
    with pytest.raises(TypeError, match="dict is not an Optimizer"):
        sched.OneCycleLR({}, max_lr=0.1, total_steps=3)


def test_scheduler_drives_training_lr(torch):
    """The scheduled lr is the one the next optimizer step uses."""
    p = nn.Parameter(np.zeros(1))
    opt = optim.SGD([p], lr=1.0)
    s = sched.MultiStepLR(opt, milestones=[1, 2], gamma=0.1)
    for _ in range(3):
        p.grad = minicnn.Tensor(np.ones(1))
        opt.step()
        s.step()
    np.testing.assert_allclose(p.detach().numpy(), [-(1.0 + 0.1 + 0.01)], rtol=1e-12)
    assert math.isclose(s.get_last_lr()[0], 0.01, rel_tol=1e-12)
