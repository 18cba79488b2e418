"""Optimizers (minicnn.optim) and gradient clipping (minicnn.nn.utils.clip_grad).

1. Trajectories against torch.optim: the same initial parameters and the same gradients (a
   function of the current parameters, so a wrong step changes every later one) for 50 steps,
   over hypothesis-drawn hyperparameters, two parameter groups with different settings, a
   parameter that has no gradient on some steps; float64 to 1e-10, float32 to 1e-5. The state
   at the end equals torch's too.
2. Checkpoints: state_dict() round trip (10 + 10 steps == 20 steps), through minicnn.save, and
   a torch state_dict loaded into minicnn continues as torch does.
3. zero_grad in both modes; repr; the errors, with torch's messages.
4. A tiny model trained end to end, against the same model trained by torch.
5. clip_grad_norm_ / clip_grad_value_ against torch, norm types 2, 1, inf (and others).
"""
import functools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minicnn
from minicnn import nn, optim
from minicnn.nn.utils import clip_grad_norm_, clip_grad_value_

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

HSET = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
NAMES = ["SGD", "Adam", "AdamW", "RMSprop"]


# ---------------------------------------------------------------- configurations

def _sgd():
    momentum = st.sampled_from([0.0, 0.5, 0.9])

    @st.composite
    def build(draw):
        m = draw(momentum)
        nesterov = m > 0 and draw(st.booleans())
        return dict(lr=draw(st.sampled_from([1e-3, 0.05, 0.2])), momentum=m,
                    dampening=0.0 if nesterov else draw(st.sampled_from([0.0, 0.3])),
                    weight_decay=draw(st.sampled_from([0.0, 1e-2])), nesterov=nesterov,
                    maximize=draw(st.booleans()))
    return build()


def _adam(decay):
    return st.fixed_dictionaries(dict(
        lr=st.sampled_from([1e-3, 0.05]),
        betas=st.sampled_from([(0.9, 0.999), (0.5, 0.9), (0.3, 0.99), (0.0, 0.5)]),
        eps=st.sampled_from([1e-8, 1e-3]),
        weight_decay=st.sampled_from(decay),
        amsgrad=st.booleans(), maximize=st.booleans()))


def _rmsprop():
    return st.fixed_dictionaries(dict(
        lr=st.sampled_from([1e-3, 0.01]), alpha=st.sampled_from([0.99, 0.5, 0.3]),
        eps=st.sampled_from([1e-8, 1e-3]), weight_decay=st.sampled_from([0.0, 1e-2]),
        momentum=st.sampled_from([0.0, 0.9]), centered=st.booleans(), maximize=st.booleans()))


CONFIGS = {"SGD": _sgd(), "Adam": _adam([0.0, 1e-2]), "AdamW": _adam([0.0, 1e-2, 0.1]),
           "RMSprop": _rmsprop()}


# ---------------------------------------------------------------- harness (tests/helpers.py)

# a second parameter group's lr is 3 times the config's lr, or 3 * 1e-3 when it gives none
_make_minicnn = functools.partial(make_minicnn_optim, default_lr=1e-3)
_make_torch = functools.partial(make_torch_optim, default_lr=1e-3)


# ---------------------------------------------------------------- 1. trajectories vs torch

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@HSET
@given(data=st.data())
def test_trajectory_matches_torch(torch, name, dtype, data):
    kwargs = data.draw(CONFIGS[name], label="kwargs")
    if dtype == np.float32 and kwargs.get("centered"):
        # sqrt(v - a^2) averaged over a few steps (small alpha) is the square root of a
        # difference of near-equal numbers: float32 rounding alone moves it by ~1e-5 (torch's
        # float32 run is as far from float64 as ours). float64 covers the small alphas.
        kwargs["alpha"] = max(kwargs["alpha"], 0.9)
    split = data.draw(st.booleans(), label="two groups")
    arrays = optim_init_arrays(dtype)
    params, opt = _make_minicnn(name, arrays, kwargs, split)
    tparams, topt = _make_torch(torch, name, arrays, kwargs, split)
    for t in range(0, 50, 10):  # compare every 10 steps, so a failure shows when it drifted
        ours = run_minicnn_optim(params, opt, 10, t)
        theirs = run_torch_optim(torch, tparams, topt, 10, t)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert a.dtype == dtype
            np.testing.assert_allclose(a, b, **OPTIM_TOL[dtype],
                                       err_msg=f"param {i} after {t + 10}")
    assert_optim_state_matches_torch(opt, topt, dtype)


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", {}), ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)),
    ("Adam", {}), ("AdamW", {}), ("RMSprop", {}),
    ("RMSprop", dict(momentum=0.9, centered=True, weight_decay=0.1)),
])
def test_defaults_and_group_keys_match_torch(torch, name, kwargs):
    arrays = optim_init_arrays(np.float64)
    params, opt = _make_minicnn(name, arrays, kwargs, False)
    tparams, topt = _make_torch(torch, name, arrays, kwargs, False)
    for key, value in opt.defaults.items():
        assert topt.defaults[key] == value, key
    ours, theirs = run_minicnn_optim(params, opt, 5), run_torch_optim(torch, tparams, topt, 5)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)


def test_step_skips_parameters_without_grad_and_returns_closure_loss():
    opt, _, b = assert_step_skips_missing_grads_and_runs_closure(optim.Adam)
    assert b not in opt.state  # no state for a parameter that never had a gradient


def test_closure_drives_a_step():
    x = nn.Parameter(np.array([3.0, -2.0]))

    def closure():
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    opt = optim.SGD([x], lr=0.25)
    loss = opt.step(closure)
    assert loss.item() == 13.0
    np.testing.assert_array_equal(x.detach().numpy(), [1.5, -1.0])


def test_update_is_in_place_and_records_no_graph():
    x = nn.Parameter(np.ones((2, 2), np.float32))
    data = x._data
    opt = optim.SGD([x], lr=0.5, momentum=0.9)
    x.grad = minicnn.Tensor(np.full((2, 2), 2.0, np.float32))
    grad = x.grad.numpy().copy()
    opt.step()
    assert x._data is data and x.grad_fn is None and x.is_leaf
    np.testing.assert_array_equal(x.grad.numpy(), grad)  # the gradient is not modified
    np.testing.assert_array_equal(x.detach().numpy(), np.zeros((2, 2)))
    buf = opt.state[x]["momentum_buffer"]
    assert isinstance(buf, minicnn.Tensor) and buf.dtype == np.float32
    assert not np.shares_memory(buf.numpy(), x.grad.numpy())


# ---------------------------------------------------------------- 2. checkpoints

@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    ("SGD", dict(lr=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("AdamW", dict(lr=0.05, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
])
@pytest.mark.parametrize("via_save", [False, True])
def test_state_dict_round_trip_continues_the_same_trajectory(name, kwargs, via_save):
    _, opt2, params2 = assert_optim_round_trip(_make_minicnn, name, kwargs, via_save)
    assert [id(q) for g in opt2.param_groups for q in g["params"]] == [id(q) for q in params2]


def test_state_dict_layout_is_torchs(torch):
    arrays = optim_init_arrays(np.float32)
    params, opt = _make_minicnn("Adam", arrays, dict(lr=0.01), True)
    run_minicnn_optim(params, opt, 2)
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3]]
    assert sorted(sd["state"]) == [0, 1, 2, 3]
    assert isinstance(sd["state"][0]["step"], float)
    assert isinstance(sd["state"][0]["exp_avg"], minicnn.Tensor)
    tparams, topt = _make_torch(torch, "Adam", arrays, dict(lr=0.01), True)
    run_torch_optim(torch, tparams, topt, 2)
    tsd = topt.state_dict()
    assert [g["params"] for g in tsd["param_groups"]] == [g["params"] for g in sd["param_groups"]]
    assert ({k: sorted(v) for k, v in tsd["state"].items()}
            == {k: sorted(v) for k, v in sd["state"].items()})


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-2)),
    ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=1e-2)),
    ("AdamW", dict(lr=0.05)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
])
def test_loading_a_torch_state_dict_continues_as_torch(torch, name, kwargs):
    arrays = optim_init_arrays(np.float64)
    tparams, topt = _make_torch(torch, name, arrays, kwargs, True)
    run_torch_optim(torch, tparams, topt, 10)
    tsd = topt.state_dict()
    keys = set(getattr(optim, name)([nn.Parameter(np.ones(1))]).defaults) | {"params"}
    converted = {  # tensors -> ndarrays, step -> float, and only the group keys minicnn has
        "state": {k: {key: v.item() if key == "step" else v.numpy().copy() for key, v in s.items()}
                  for k, s in tsd["state"].items()},
        "param_groups": [{k: v for k, v in g.items() if k in keys} for g in tsd["param_groups"]]}
    params, opt = _make_minicnn(name, [p.detach().numpy() for p in tparams], kwargs, True)
    opt.load_state_dict(converted)
    assert all(isinstance(v, minicnn.Tensor) or key == "step"
               for s in opt.state.values() for key, v in s.items())
    for a, b in zip(run_minicnn_optim(params, opt, 10, 10),
                    run_torch_optim(torch, tparams, topt, 10, 10)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_load_state_dict_casts_to_the_parameter_dtype_and_copies():
    p64 = nn.Parameter(np.ones(3))
    opt = optim.SGD([p64], lr=0.1, momentum=0.9)
    p64.grad = minicnn.Tensor(np.full(3, 0.1))
    opt.step()
    sd = opt.state_dict()
    p32 = nn.Parameter(np.ones(3, np.float32))
    opt32 = optim.SGD([p32], lr=0.1, momentum=0.9)
    opt32.load_state_dict(sd)
    buf = opt32.state[p32]["momentum_buffer"]
    assert buf.dtype == np.float32
    np.testing.assert_allclose(buf.numpy(), 0.1, rtol=1e-6)
    sd["param_groups"][0]["lr"] = 7.0
    sd["state"][0]["momentum_buffer"].numpy()[:] = 5
    assert opt32.param_groups[0]["lr"] == 0.1  # deep copies: later edits don't leak in
    np.testing.assert_allclose(buf.numpy(), 0.1, rtol=1e-6)


def test_load_state_dict_rejects_a_different_layout():
    a, b, c = (nn.Parameter(np.ones(2)) for _ in range(3))
    sd = optim.SGD([{"params": [a]}, {"params": [b, c]}]).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([a, b, c]).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        optim.SGD([{"params": [a, b]}, {"params": [c]}]).load_state_dict(sd)


def test_named_parameters_keep_their_names():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    opt = optim.SGD([("w", a), ("b", b)], lr=0.1)
    assert [id(q) for q in opt.param_groups[0]["params"]] == [id(a), id(b)]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]
    with pytest.raises(ValueError, match="Some param names are missing"):
        optim.SGD([("w", a), b])
    with pytest.raises(ValueError, match="with/without names"):
        opt.add_param_group({"params": [nn.Parameter(np.ones(1))]})


# ---------------------------------------------------------------- 3. zero_grad, repr, errors

def test_zero_grad_to_none_and_in_place():
    a, b, c = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3)), nn.Parameter(np.ones(1))
    opt = optim.SGD([a, b, c], lr=0.1)
    a.grad, b.grad = minicnn.Tensor(np.ones(2)), minicnn.Tensor(np.full(3, 2.0))
    array = a.grad.numpy()
    opt.zero_grad(set_to_none=False)
    assert a.grad.numpy() is array  # zeroed in place, as torch's grad.zero_()
    np.testing.assert_array_equal(a.grad.numpy(), [0, 0])
    np.testing.assert_array_equal(b.grad.numpy(), [0, 0, 0])
    assert c.grad is None
    opt.zero_grad()
    assert a.grad is None and b.grad is None and c.grad is None


def test_zero_grad_after_backward_accumulates_from_zero():
    w = nn.Parameter(np.array([1.0, 2.0]))
    opt = optim.SGD([w], lr=0.1)
    for set_to_none in (False, True):
        (w * w).sum().backward()
        opt.zero_grad(set_to_none=set_to_none)
        (w * 3.0).sum().backward()
        np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0])
        opt.zero_grad()


def test_repr_matches_torch(torch):
    arrays = optim_init_arrays(np.float64)
    for name, kwargs in [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", {}), ("RMSprop", {})]:
        _, opt = _make_minicnn(name, arrays, kwargs, True)
        _, topt = _make_torch(torch, name, arrays, kwargs, True)
        ours = set(opt.defaults)
        theirs = [line for line in repr(topt).splitlines()
                  if not line.startswith("    ") or line.split(":")[0].strip() in ours]
        assert repr(opt) == "\n".join(theirs)


def _torch_error(torch, fn):
    with pytest.raises(Exception) as info:
        fn(torch)
    return info.type, str(info.value)


@pytest.mark.parametrize("case", [
    ("SGD", dict(lr=-0.1)), ("SGD", dict(momentum=-0.5)), ("SGD", dict(weight_decay=-1.0)),
    ("SGD", dict(nesterov=True)), ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1)),
    ("Adam", dict(lr=-1e-3)), ("Adam", dict(eps=-1.0)), ("Adam", dict(betas=(1.0, 0.9))),
    ("Adam", dict(betas=(0.9, -0.1))), ("Adam", dict(weight_decay=-1.0)),
    ("AdamW", dict(betas=(0.9, 1.0))), ("AdamW", dict(lr=-2.0)),
    ("RMSprop", dict(alpha=-0.5)), ("RMSprop", dict(momentum=-1.0)), ("RMSprop", dict(eps=-1.0)),
    ("RMSprop", dict(weight_decay=-1.0)), ("RMSprop", dict(lr=-1.0)),
], ids=str)
def test_invalid_hyperparameters_raise_torchs_error(torch, case):
    name, kwargs = case
    kind, message = _torch_error(torch, lambda t: getattr(t.optim, name)(
        [t.zeros(2, requires_grad=True)], **kwargs))
    with pytest.raises(kind) as info:
        getattr(optim, name)([nn.Parameter(np.zeros(2))], **kwargs)
    assert str(info.value) == message


def test_invalid_params_raise_torchs_errors(torch):
    p = nn.Parameter(np.ones(2))
    tp = torch.ones(2, requires_grad=True)
    pairs = [
        (lambda: optim.SGD(p), lambda: torch.optim.SGD(tp)),
        (lambda: optim.SGD([]), lambda: torch.optim.SGD([])),
        (lambda: optim.SGD([p * 2]), lambda: torch.optim.SGD([tp * 2])),
        (lambda: optim.SGD([{"params": [p]}, {"params": [p]}]),
         lambda: torch.optim.SGD([{"params": [tp]}, {"params": [tp]}])),
        (lambda: optim.SGD([{"params": {p}}]), lambda: torch.optim.SGD([{"params": {tp}}])),
    ]
    for ours, theirs in pairs:
        kind, message = _torch_error(torch, lambda t: theirs())
        with pytest.raises(kind) as info:
            ours()
        # torch names a tensor's type torch.FloatTensor; minicnn its class
        message = message.replace("torch.FloatTensor", "minicnn.nn.parameter.Parameter")
        assert str(info.value) == message


def test_invalid_params_errors():
    p = nn.Parameter(np.ones(2))
    with pytest.raises(TypeError, match="can only optimize Tensors, but one of the params is "
                                        "numpy.ndarray"):
        optim.SGD([np.ones(2)])
    with pytest.raises(TypeError, match="iterable of Tensors or dicts, but got int"):
        optim.Adam(3)
    lin = nn.Module()
    with pytest.raises(TypeError, match="iterable of Tensors or dicts, but got minicnn.nn"):
        optim.Adam(lin)
    with pytest.raises(TypeError, match="one of the params is .*Module"):
        optim.Adam([lin])
    with pytest.raises(ValueError, match="duplicate parameters"):  # torch only warns here
        optim.SGD([p, p])
    with pytest.raises(TypeError, match="param_group must be a dict"):
        optim.SGD([p]).add_param_group([p])
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": p})
    q = nn.Parameter(np.ones(3))
    opt.add_param_group({"params": q, "lr": 0.5})  # a lone tensor is accepted; defaults fill in
    assert [id(x) for x in opt.param_groups[1]["params"]] == [id(q)]
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0


def test_required_hyperparameter():
    class Plain(optim.Optimizer):
        def __init__(self, params, lr=optim.optimizer.required):
            super().__init__(params, dict(lr=lr))

    p = nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="didn't specify a value of required optimization "
                                         "parameter lr"):
        Plain([p])
    assert Plain([{"params": [p], "lr": 0.1}]).param_groups[0]["lr"] == 0.1
    with pytest.raises(NotImplementedError, match="Plain does not implement step"):
        Plain([p], lr=0.1).step()


# ---------------------------------------------------------------- 4. end to end

def _mlp_data(rng):
    x = rng.standard_normal((16, 5))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    w1, b1 = rng.standard_normal((8, 5)) * 0.5, np.zeros(8)
    w2, b2 = rng.standard_normal((3, 8)) * 0.5, np.zeros(3)
    return x, y, [w1, b1, w2, b2]


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.2, momentum=0.9, nesterov=True)), ("Adam", dict(lr=0.02)),
    ("AdamW", dict(lr=0.02, weight_decay=0.1)), ("RMSprop", dict(lr=0.005, centered=True)),
])
def test_training_a_small_model_decreases_the_loss_as_torch(torch, rng, name, kwargs):
    F = nn.functional
    x, y, weights = _mlp_data(rng)
    params = [nn.Parameter(w.copy()) for w in weights]
    tparams = [torch.tensor(w.copy(), requires_grad=True) for w in weights]
    opt = getattr(optim, name)(params, **kwargs)
    topt = getattr(torch.optim, name)(tparams, **kwargs)
    xm, ym, xt, yt = minicnn.tensor(x), minicnn.tensor(y), torch.tensor(x), torch.tensor(y)
    losses, tlosses = [], []
    for _ in range(30):
        opt.zero_grad()
        h = F.relu(F.linear(xm, params[0], params[1]))
        loss = F.cross_entropy(F.linear(h, params[2], params[3]), ym)
        loss.backward()
        opt.step()
        losses.append(loss.item())

        topt.zero_grad()
        th = torch.nn.functional.relu(torch.nn.functional.linear(xt, tparams[0], tparams[1]))
        tloss = torch.nn.functional.cross_entropy(
            torch.nn.functional.linear(th, tparams[2], tparams[3]), yt)
        tloss.backward()
        topt.step()
        tlosses.append(tloss.item())
    assert losses[-1] < 0.5 * losses[0]
    np.testing.assert_allclose(losses, tlosses, rtol=1e-8)


def test_training_an_nn_linear_model_with_a_scheduler():
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    x = minicnn.randn(32, 4)
    y = (x * minicnn.tensor(np.array([1.0, -2.0, 0.5, 3.0], np.float32))).sum(1, keepdim=True)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.5)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.2 * first
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05 * 0.5 ** 3)


# ---------------------------------------------------------------- 5. gradient clipping

def _clip_pair(torch, rng, dtype, scale, with_none=True):
    arrays = [rng.standard_normal(s).astype(dtype) * scale for s in [(3, 4), (7,), (2, 2, 2)]]
    params = [nn.Parameter(np.zeros(a.shape, dtype)) for a in arrays]
    tparams = [torch.zeros(a.shape, dtype=torch.from_numpy(a).dtype, requires_grad=True)
               for a in arrays]
    for p, tp, a in zip(params, tparams, arrays):
        p.grad, tp.grad = minicnn.Tensor(a.copy()), torch.from_numpy(a.copy())
    if with_none:
        params.append(nn.Parameter(np.zeros(2, dtype)))
        tparams.append(torch.zeros(2, dtype=tparams[0].dtype, requires_grad=True))
    return params, tparams


@pytest.mark.parametrize("norm_type", [2.0, 1, math.inf, 3.0, 0.5, "inf"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@HSET
@given(scale=st.sampled_from([1e-3, 0.1, 1.0, 30.0]), max_norm=st.sampled_from([0.5, 1.0, 100.0]))
def test_clip_grad_norm_matches_torch(torch, dtype, norm_type, scale, max_norm):
    rng = np.random.default_rng(int(scale * 1000) + int(max_norm))
    params, tparams = _clip_pair(torch, rng, dtype, scale)
    norm_type = float(norm_type)
    total = clip_grad_norm_(params, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type)
    assert isinstance(total, minicnn.Tensor) and total.shape == () and total.dtype == dtype
    tol = OPTIM_TOL[dtype]
    np.testing.assert_allclose(total.item(), ttotal.item(), **tol)
    for p, tp in zip(params, tparams):
        if tp.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), **tol)
    if total.item() > max_norm:  # clipped down to max_norm (up to the 1e-6 guard)
        clipped = minicnn.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None],
                                                  norm_type)
        assert clipped.item() == pytest.approx(max_norm, rel=1e-4)


def test_clip_grad_norm_single_tensor_generator_and_no_grads(torch):
    p = nn.Parameter(np.zeros(3))
    p.grad = minicnn.Tensor(np.array([3.0, 4.0, 0.0]))
    assert clip_grad_norm_(p, 1.0).item() == 5.0
    np.testing.assert_allclose(p.grad.numpy(), np.array([3.0, 4.0, 0.0]) / (5 + 1e-6))
    assert clip_grad_norm_((q for q in [p]), 10.0).item() == pytest.approx(1.0)
    empty = clip_grad_norm_([nn.Parameter(np.ones(2))], 1.0)
    assert empty.item() == 0.0 and empty.dtype == np.float32
    with pytest.warns(UserWarning, match="empty generator"):
        clip_grad_norm_((q for q in []), 1.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_clip_grad_norm_nonfinite(torch, bad):
    p = nn.Parameter(np.zeros(3))
    p.grad = minicnn.Tensor(np.array([1.0, bad, 2.0]))
    with pytest.raises(RuntimeError, match="non-finite, so it cannot be clipped"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad.numpy(), [1.0, bad, 2.0])  # left alone
    tp = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    tp.grad = torch.tensor([1.0, bad, 2.0], dtype=torch.float64)
    for norm_type in (2.0, math.inf):
        total = clip_grad_norm_([p], 1.0, norm_type)
        ttotal = torch.nn.utils.clip_grad_norm_([tp], 1.0, norm_type)
        np.testing.assert_array_equal(total.item(), ttotal.item())
        np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("clip_value", [0.1, 1.0, 5])
def test_clip_grad_value_matches_torch(torch, rng, dtype, clip_value):
    params, tparams = _clip_pair(torch, rng, dtype, 2.0)
    params[0].grad.numpy()[0, 0] = np.nan
    tparams[0].grad[0, 0] = float("nan")
    arrays = [p.grad.numpy() for p in params if p.grad is not None]
    assert clip_grad_value_(params, clip_value) is None
    torch.nn.utils.clip_grad_value_(tparams, clip_value)
    for p, tp in zip(params, tparams):
        if tp.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())
    assert all(p.grad.numpy() is a for p, a in zip(params, arrays))  # in place
    single = nn.Parameter(np.zeros(2, dtype))
    single.grad = minicnn.Tensor(np.array([-9, 9], dtype))
    clip_grad_value_(single, 2)
    np.testing.assert_array_equal(single.grad.numpy(), [-2, 2])
