"""The whole stack at once: layers + loss + optimizer + scheduler + checkpoint, against PyTorch.

The unit tests check each piece; these check that they compose: the same model, data and recipe
give the same parameters after several training steps in minicnn and in torch, a model learns, and
a run resumed from a checkpoint continues exactly.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import nn, optim


def small_cnn(lib):
    return lib.nn.Sequential(
        lib.nn.Conv2d(2, 4, 3, padding=1, bias=False), lib.nn.BatchNorm2d(4), lib.nn.ReLU(),
        lib.nn.MaxPool2d(2), lib.nn.Conv2d(4, 6, 3, stride=2, padding=1), lib.nn.ReLU(),
        lib.nn.AdaptiveAvgPool2d(1), lib.nn.Flatten(), lib.nn.Dropout(0.0), lib.nn.Linear(6, 3))


def data(seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8, 2, 8, 8)).astype(dtype)
    y = rng.integers(0, 3, 8)
    return x, y


def make_optimizer(lib, name, params):
    if name == "sgd":
        return lib.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    if name == "adamw":
        return lib.optim.AdamW(params, lr=0.01, weight_decay=0.05)
    return lib.optim.RMSprop(params, lr=0.01, momentum=0.5, centered=True)


def train(lib, model, opt, sched, steps, dtype, start=0):
    for step in range(start, start + steps):
        x, y = data(step, dtype)
        out = model(lib.tensor(x))
        loss = lib.nn.functional.cross_entropy(out, lib.tensor(y), label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        lib.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        opt.step()
        sched.step()
    return loss.item()


@pytest.mark.parametrize("opt_name", ["sgd", "adamw", "rmsprop"])
def test_training_steps_match_torch(torch, opt_name):
    torch.manual_seed(0)
    theirs = small_cnn(torch).double()
    ours = small_cnn(mc).double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    results = []
    for lib, model in ((mc, ours), (torch, theirs)):
        opt = make_optimizer(lib, opt_name, model.parameters())
        sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=8)
        results.append(train(lib, model, opt, sched, 6, np.float64))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-9)
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)


def test_model_learns():
    mc.manual_seed(0)
    model = small_cnn(mc)
    opt = optim.Adam(model.parameters(), lr=0.02)
    x, _ = data(0, np.float32)
    y = (x[:, 0].mean(axis=(1, 2)) > 0).astype(np.int64)  # a learnable rule
    xt, yt = mc.tensor(x), mc.tensor(y)
    losses = []
    for _ in range(40):
        loss = nn.functional.cross_entropy(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    model.eval()
    with mc.no_grad():
        assert (model(xt).argmax(1).numpy() == y).mean() == 1.0


def test_resume_from_checkpoint_is_exact(tmp_path):
    def fresh():
        mc.manual_seed(1)
        model = small_cnn(mc).double()
        opt = make_optimizer(mc, "sgd", model.parameters())
        return model, opt, optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)

    model, opt, sched = fresh()
    straight = train(mc, model, opt, sched, 8, np.float64)
    expected = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    model, opt, sched = fresh()
    train(mc, model, opt, sched, 4, np.float64)
    mc.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "step": 4}, tmp_path / "ckpt.npz")
    model, opt, sched = fresh()
    ckpt = mc.load(tmp_path / "ckpt.npz")
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    resumed = train(mc, model, opt, sched, 8 - ckpt["step"], np.float64, start=ckpt["step"])
    assert resumed == straight
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), expected[k], err_msg=k)
