"""Adadelta, Adagrad, Adamax, NAdam, RAdam and ASGD (minicnn.optim) against torch.optim.

1. Trajectories: the same initial parameters and the same gradients (a function of the current
   parameters, so a wrong step changes every later one) for 50 steps, in float64 to 1e-10 (and
   float32 to 1e-5), with the default arguments and with non-default ones (weight decay,
   maximize, decoupled decay, ...), one or two parameter groups, a parameter that has no
   gradient on some steps; the state at the end equals torch's, key by key.
2. A least-squares loss minimized through autograd in each framework.
3. Checkpoints: state_dict() round trip mid-run (10 + 10 steps == 20 steps), also through
   minicnn.save; a torch state_dict loaded into minicnn continues as torch does.
4. The errors, with torch's messages; parameters on the CUDA device (emulated) raise TypeError.
"""
import functools

import numpy as np
import pytest

import minicnn
from minicnn import nn, optim

from helpers import (
    OPTIM_TOL,
    assert_optim_round_trip,
    assert_optim_state_matches_torch,
    assert_step_skips_missing_grads_and_runs_closure,
    make_minicnn_optim,
    make_torch_optim,
    optim_init_arrays,
    run_minicnn_optim,
    run_torch_optim,
)

CONFIGS = {
    "Adadelta": [{}, dict(lr=0.5, rho=0.5, eps=1e-3, weight_decay=0.1, maximize=True),
                 dict(rho=0.99, weight_decay=1e-2)],
    "Adagrad": [{}, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5,
                         eps=1e-6, maximize=True)],
    "Adamax": [{}, dict(lr=0.01, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.1, maximize=True)],
    "NAdam": [{}, dict(lr=0.01, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.1,
                       momentum_decay=0.05, maximize=True),
              dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)],
    # beta2 = 0.9: rho_t crosses 5 after a few steps, so both branches run
    "RAdam": [{}, dict(lr=0.01, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.1, maximize=True),
              dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)],
    # t0 = 10: the averaging starts within the run
    "ASGD": [{}, dict(lr=0.05, lambd=1e-2, alpha=0.5, t0=10, weight_decay=0.1, maximize=True)],
}
CASES = [(name, kwargs) for name, configs in CONFIGS.items() for kwargs in configs]
NAMES = list(CONFIGS)


def _case_id(case):
    name, kwargs = case
    return name + ("-" + ",".join(sorted(kwargs)) if kwargs else "-defaults")


# ---------------------------------------------------------------- harness (tests/helpers.py)

# a second parameter group's lr is 3 times the config's lr, or 3 * 1e-2 when it gives none
_make_minicnn = functools.partial(make_minicnn_optim, default_lr=1e-2)
_make_torch = functools.partial(make_torch_optim, default_lr=1e-2)


# ---------------------------------------------------------------- 1. trajectories vs torch

@pytest.mark.parametrize("split", [False, True], ids=["one-group", "two-groups"])
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_trajectory_matches_torch_float64(torch, case, split):
    name, kwargs = case
    arrays = optim_init_arrays(np.float64)
    params, opt = _make_minicnn(name, arrays, kwargs, split)
    tparams, topt = _make_torch(torch, name, arrays, kwargs, split)
    for t in range(0, 50, 10):  # compare every 10 steps, so a failure shows when it drifted
        ours = run_minicnn_optim(params, opt, 10, t)
        theirs = run_torch_optim(torch, tparams, topt, 10, t)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert a.dtype == np.float64
            np.testing.assert_allclose(a, b, **OPTIM_TOL[np.float64],
                                       err_msg=f"param {i} after {t + 10}")
    assert_optim_state_matches_torch(opt, topt, np.float64)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_trajectory_matches_torch_float32(torch, case):
    name, kwargs = case
    arrays = optim_init_arrays(np.float32)
    params, opt = _make_minicnn(name, arrays, kwargs, True)
    tparams, topt = _make_torch(torch, name, arrays, kwargs, True)
    for a, b in zip(run_minicnn_optim(params, opt, 50), run_torch_optim(torch, tparams, topt, 50)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, **OPTIM_TOL[np.float32])
    assert_optim_state_matches_torch(opt, topt, np.float32)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_match_torch(torch, name):
    opt = getattr(optim, name)([nn.Parameter(np.ones(2))])
    topt = getattr(torch.optim, name)([torch.ones(2, requires_grad=True)])
    assert opt.defaults  # every hyperparameter we have, torch has, with the same default
    for key, value in opt.defaults.items():
        assert topt.defaults[key] == value, key
    missing = set(topt.defaults) - set(opt.defaults)
    assert missing <= {"foreach", "capturable", "differentiable", "fused"}


def test_asgd_averages_from_t0(torch):
    """With t0 = 10 the average ``ax`` lags the iterate after step 11, and equals torch's."""
    arrays = optim_init_arrays(np.float64)
    kwargs = dict(lr=0.05, t0=10)
    params, opt = _make_minicnn("ASGD", arrays, kwargs, False)
    tparams, topt = _make_torch(torch, "ASGD", arrays, kwargs, False)
    run_minicnn_optim(params, opt, 10)
    np.testing.assert_array_equal(opt.state[params[0]]["ax"].numpy(), params[0].detach().numpy())
    run_minicnn_optim(params, opt, 20, 10)
    run_torch_optim(torch, tparams, topt, 30)
    ax = opt.state[params[0]]["ax"].numpy()
    assert not np.allclose(ax, params[0].detach().numpy())
    np.testing.assert_allclose(ax, topt.state[tparams[0]]["ax"].numpy(), rtol=1e-10)
    assert opt.state[params[0]]["mu"] == topt.state[tparams[0]]["mu"].item()
    assert opt.state[params[0]]["mu"] == float(np.float32(1 / 20))  # step 30: 1 / (30 - t0)


def test_adagrad_state_exists_from_construction_as_torchs(torch):
    """Every parameter has a state at once; sums start at the constructor's
    initial_accumulator_value, even in a group that gives its own (PyTorch's behaviour)."""
    arrays = optim_init_arrays(np.float64)
    groups = lambda ps: [{"params": ps[:2]},  # noqa: E731
                         {"params": ps[2:], "initial_accumulator_value": 2.0, "lr_decay": 0.1}]
    params = [nn.Parameter(a.copy()) for a in arrays]
    tparams = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    opt = optim.Adagrad(groups(params), lr=0.1, initial_accumulator_value=0.3)
    topt = torch.optim.Adagrad(groups(tparams), lr=0.1, initial_accumulator_value=0.3)
    assert_optim_state_matches_torch(opt, topt, np.float64)
    assert opt.state[params[3]]["sum"].item() == 0.3
    for a, b in zip(run_minicnn_optim(params, opt, 30), run_torch_optim(torch, tparams, topt, 30)):
        np.testing.assert_allclose(a, b, **OPTIM_TOL[np.float64])
    # a group added later gets its state at its first step
    extra, textra = nn.Parameter(np.ones(3)), torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt.add_param_group({"params": [extra]})
    topt.add_param_group({"params": [textra]})
    extra.grad, textra.grad = minicnn.Tensor(np.full(3, 0.5)), torch.full((3,), 0.5,
                                                                          dtype=torch.float64)
    opt.step()
    topt.step()
    np.testing.assert_allclose(extra.detach().numpy(), textra.detach().numpy(), rtol=1e-12)
    assert opt.state[extra]["step"] == 1.0


@pytest.mark.parametrize("name", NAMES)
def test_step_skips_parameters_without_grad_and_returns_closure_loss(name):
    assert_step_skips_missing_grads_and_runs_closure(getattr(optim, name))


# ---------------------------------------------------------------- 2. a loss through autograd

@pytest.mark.parametrize("name", NAMES)
def test_least_squares_through_autograd_matches_torch(torch, name):
    rng = np.random.default_rng(1)
    A, y, w0 = rng.standard_normal((8, 3)), rng.standard_normal(8), rng.standard_normal(3)
    kwargs = dict(lr=0.05, weight_decay=0.01)

    def train(lib, tensor):
        w = tensor(w0.copy(), requires_grad=True)
        opt = getattr(lib.optim, name)([w], **kwargs)
        A_, y_ = tensor(A), tensor(y)

        def closure():
            opt.zero_grad()
            loss = ((A_ @ w - y_) ** 2).mean()
            loss.backward()
            return loss

        losses = [float(opt.step(closure).item()) for _ in range(40)]
        return w.detach().numpy().copy(), losses

    ours, our_losses = train(minicnn, minicnn.tensor)
    theirs, their_losses = train(torch, torch.tensor)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(our_losses, their_losses, rtol=1e-10)
    assert our_losses[-1] < our_losses[0]


# ---------------------------------------------------------------- 3. checkpoints

@pytest.mark.parametrize("via_save", [False, True], ids=["dict", "minicnn.save"])
@pytest.mark.parametrize("case", [(n, c[-1]) for n, c in CONFIGS.items()], ids=_case_id)
def test_state_dict_round_trip_continues_the_same_trajectory(case, via_save):
    name, kwargs = case
    opt, opt2, _ = assert_optim_round_trip(_make_minicnn, name, kwargs, via_save)
    assert opt2.state_dict()["state"].keys() == opt.state_dict()["state"].keys()


@pytest.mark.parametrize("case", [(n, c[-1]) for n, c in CONFIGS.items()], ids=_case_id)
def test_loading_a_torch_state_dict_continues_as_torch(torch, case):
    """torch's state (scalar tensors as arrays, as a user converting it would have them)."""
    name, kwargs = case
    arrays = optim_init_arrays(np.float64)
    tparams, topt = _make_torch(torch, name, arrays, kwargs, True)
    run_torch_optim(torch, tparams, topt, 15)
    tsd = topt.state_dict()
    keys = set(getattr(optim, name)([nn.Parameter(np.ones(1))]).defaults) | {"params"}
    converted = {
        "state": {k: {key: v.numpy().copy() for key, v in s.items()}
                  for k, s in tsd["state"].items()},
        "param_groups": [{k: v for k, v in g.items() if k in keys} for g in tsd["param_groups"]]}
    params, opt = _make_minicnn(name, [p.detach().numpy() for p in tparams], kwargs, True)
    opt.load_state_dict(converted)
    for a, b in zip(run_minicnn_optim(params, opt, 15, 15),
                    run_torch_optim(torch, tparams, topt, 15, 15)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert_optim_state_matches_torch(opt, topt, np.float64)


# ---------------------------------------------------------------- 4. errors

BAD_ARGS = [
    ("Adadelta", dict(lr=-1.0)), ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(rho=-0.1)),
    ("Adadelta", dict(eps=-1e-6)), ("Adadelta", dict(weight_decay=-0.1)),
    ("Adagrad", dict(lr=-0.1)), ("Adagrad", dict(lr_decay=-0.1)),
    ("Adagrad", dict(weight_decay=-0.1)), ("Adagrad", dict(initial_accumulator_value=-1.0)),
    ("Adagrad", dict(eps=-1.0)),
    ("Adamax", dict(lr=-0.1)), ("Adamax", dict(eps=-1.0)), ("Adamax", dict(betas=(1.0, 0.9))),
    ("Adamax", dict(betas=(0.9, -0.1))), ("Adamax", dict(weight_decay=-0.1)),
    ("NAdam", dict(lr=-0.1)), ("NAdam", dict(eps=-1.0)), ("NAdam", dict(betas=(-0.1, 0.9))),
    ("NAdam", dict(betas=(0.9, 1.0))), ("NAdam", dict(weight_decay=-1.0)),
    ("NAdam", dict(momentum_decay=-1.0)),
    ("RAdam", dict(lr=-0.1)), ("RAdam", dict(eps=-1.0)), ("RAdam", dict(betas=(1.5, 0.9))),
    ("RAdam", dict(betas=(0.9, 1.0))), ("RAdam", dict(weight_decay=-1.0)),
    ("ASGD", dict(lr=-0.1)), ("ASGD", dict(weight_decay=-0.1)),
]


@pytest.mark.parametrize("name,kwargs", BAD_ARGS, ids=lambda v: str(v))
def test_bad_arguments_raise_torchs_errors(torch, name, kwargs):
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)([torch.ones(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError) as ours:
        getattr(optim, name)([nn.Parameter(np.ones(2))], **kwargs)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_list_errors_come_from_the_base_class(name):
    with pytest.raises(ValueError, match="empty parameter list"):
        getattr(optim, name)([])
    with pytest.raises(TypeError, match="iterable of Tensors"):
        getattr(optim, name)(nn.Parameter(np.ones(2)))


@pytest.mark.parametrize("name", NAMES)
def test_parameters_on_cuda_raise_type_error(name):
    from cuda_emulator import installed

    with installed():
        lin = nn.Linear(3, 2).to("cuda")
        if name == "Adagrad":  # its state is made with the optimizer
            with pytest.raises(TypeError, match=r"Adagrad has no CUDA .*\.cpu\(\)"):
                optim.Adagrad(lin.parameters())
            return
        opt = getattr(optim, name)(lin.parameters())
        lin(minicnn.randn(4, 3, device="cuda")).sum().backward()
        with pytest.raises(TypeError, match=rf"{name} has no CUDA .*\.cpu\(\)"):
            opt.step()
