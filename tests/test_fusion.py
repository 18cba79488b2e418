"""Conv -> BatchNorm folding (minicnn/nn/utils/fusion.py): ``fuse_conv_bn_weights`` and
``fuse_conv_bn_eval`` against PyTorch's, and nn.Sequential's automatic folding in inference
against the unfolded path: when it folds, that its result equals the unfolded one to float
rounding, and every case where it must not fold. BatchNorm -> ReLU/ReLU6 as one op
(batch_norm_activation): the kernels against the NumPy reference, and Sequential's fused
forward and backward equal to the unfused ones, bit for bit. The convolution's epilogue (bias +
ReLU/ReLU6 in one pass, conv2d_activation) likewise, and in inference after a folded pair."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn
from minicnn import nn
from minicnn.nn.utils import fusion


def _randomize_bn(bn, rng):
    """Running statistics and affine parameters away from their identity initial values."""
    c = bn.num_features
    bn.running_mean.copy_(minicnn.tensor(rng.standard_normal(c).astype(np.float32)))
    bn.running_var.copy_(minicnn.tensor(rng.uniform(0.2, 3, c).astype(np.float32)))
    if bn.weight is not None:
        with minicnn.no_grad():
            bn.weight.copy_(minicnn.tensor(rng.uniform(0.5, 2, c).astype(np.float32)))
            bn.bias.copy_(minicnn.tensor(rng.standard_normal(c).astype(np.float32)))


def _block(rng, c_in=3, c_out=8, bias=False, affine=True, relu=True, **conv):
    minicnn.manual_seed(int(rng.integers(1 << 30)))
    layers = [nn.Conv2d(c_in, c_out, 3, bias=bias, **conv), nn.BatchNorm2d(c_out, affine=affine)]
    if relu:
        layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    _randomize_bn(model[1], rng)
    return model.eval()


def _unfolded_output(model, x):
    """model(x) as an array, with nn.Sequential's folding switched off."""
    fusion.enabled = False
    try:
        return model(x).detach().numpy()
    finally:
        fusion.enabled = True


@pytest.fixture
def unfolded(monkeypatch):
    """Make batch norm count its runs (forward and the fused BN -> ReLU both go through
    forward_activated): a folded pair never runs it."""
    calls = []
    original = nn.BatchNorm2d.forward_activated

    def forward_activated(self, input, activation):
        calls.append(self)
        return original(self, input, activation)

    monkeypatch.setattr(nn.BatchNorm2d, "forward_activated", forward_activated)
    return calls


# ---------------------------------------------------------------- the functions, against PyTorch

@pytest.mark.parametrize("conv_bias", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("transpose", [False, True])
def test_fuse_conv_bn_weights_matches_torch(torch, conv_bias, affine, transpose):
    from torch.nn.utils import fusion as tfusion

    rng = np.random.default_rng(0)
    shape = (4, 6, 3, 3) if transpose else (6, 4, 3, 3)  # 6 channels out of the conv
    arrays = {"w": rng.standard_normal(shape), "b": rng.standard_normal(6),
              "rm": rng.standard_normal(6), "rv": rng.uniform(0.2, 3, 6),
              "g": rng.uniform(0.5, 2, 6), "beta": rng.standard_normal(6)}
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
    ours, theirs = (
        [lib.tensor(arrays[k]) for k in ("w", "b", "rm", "rv", "g", "beta")]
        for lib in (minicnn, torch))
    for group in (ours, theirs):
        group[0].requires_grad_()
        if not conv_bias:
            group[1] = None
        if not affine:
            group[4] = group[5] = None
    w, b = fusion.fuse_conv_bn_weights(*ours[:4], 1e-5, *ours[4:], transpose=transpose)
    tw, tb = tfusion.fuse_conv_bn_weights(*theirs[:4], 1e-5, *theirs[4:], transpose=transpose)
    assert isinstance(w, nn.Parameter) and isinstance(b, nn.Parameter)
    assert (w.requires_grad, b.requires_grad) == (tw.requires_grad, tb.requires_grad)
    assert w.dtype == minicnn.float32 and b.dtype == minicnn.float32
    np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b.detach().numpy(), tb.detach().numpy(), rtol=1e-6, atol=1e-6)


def test_fuse_conv_bn_eval_is_one_conv_for_both(torch):
    rng = np.random.default_rng(1)
    model = _block(rng, bias=True, relu=False, stride=2, padding=1)
    fused = fusion.fuse_conv_bn_eval(model[0], model[1])
    assert type(fused) is nn.Conv2d and fused is not model[0]
    x = minicnn.randn(2, 3, 9, 9)
    want = _unfolded_output(model, x)
    np.testing.assert_allclose(fused(x).detach().numpy(), want, rtol=1e-5, atol=1e-5)
    assert not np.array_equal(model[0].weight.detach().numpy(), fused.weight.detach().numpy())
    model[1].train()
    with pytest.raises(AssertionError, match="Fusion only for eval!"):
        fusion.fuse_conv_bn_eval(model[0], model[1])
    no_stats = nn.BatchNorm2d(8, track_running_stats=False).eval()
    with pytest.raises(AssertionError, match="running_mean and bn.running_var must not be None"):
        fusion.fuse_conv_bn_eval(model[0], no_stats)


# ---------------------------------------------------------------- Sequential, automatically

@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2 ** 31), bias=st.booleans(), affine=st.booleans(),
       stride=st.integers(1, 2), padding=st.integers(0, 2), dilation=st.integers(1, 2),
       groups=st.sampled_from([1, 2]), batch=st.integers(1, 4),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_sequential_folds_in_inference_and_agrees(seed, bias, affine, stride, padding, dilation,
                                                  groups, batch, dtype):
    rng = np.random.default_rng(seed)
    model = _block(rng, c_in=4, c_out=6, bias=bias, affine=affine, stride=stride,
                   padding=padding, dilation=dilation, groups=groups)
    model.to(dtype)
    x = minicnn.tensor(rng.standard_normal((batch, 4, 12, 12)).astype(dtype))
    with minicnn.no_grad():
        want = _unfolded_output(model, x)
        got = model(x)
    assert got.dtype == want.dtype and got.shape == want.shape and not got.requires_grad
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got.numpy(), want, rtol=tol, atol=tol)


def test_the_pair_is_folded_in_inference(unfolded):
    model = _block(np.random.default_rng(2))
    with minicnn.no_grad():
        model(minicnn.randn(2, 3, 16, 16))
    assert unfolded == []
    with minicnn.inference_mode():
        model(minicnn.randn(2, 3, 16, 16))
    assert unfolded == []


@pytest.mark.parametrize("case", ["grad", "switched off", "bn training", "forward hook",
                                  "pre hook", "autocast", "small output", "no running stats",
                                  "not adjacent", "unbatched"])
def test_what_is_not_folded(unfolded, case):
    rng = np.random.default_rng(3)
    model = _block(rng)
    x = minicnn.randn(2, 3, 16, 16)
    if case == "switched off":
        fusion.enabled = False
    elif case == "bn training":
        model[1].train()
    elif case == "forward hook":
        model[1].register_forward_hook(lambda m, args, out: None)
    elif case == "pre hook":
        model[0].register_forward_pre_hook(lambda m, args: None)
    elif case == "small output":  # 1 x 8 x 2 x 2 outputs, 8 x 3 x 3 x 3 weights
        x = minicnn.randn(1, 3, 4, 4)
    elif case == "no running stats":
        model[1] = nn.BatchNorm2d(8, track_running_stats=False).eval()
    elif case == "not adjacent":
        model = nn.Sequential(model[0], nn.Identity(), model[1])
    elif case == "unbatched":
        x = minicnn.randn(3, 16, 16)
    try:
        if case == "grad":
            model(x)
        elif case == "autocast":
            with minicnn.no_grad(), minicnn.autocast("cpu", dtype=minicnn.float16):
                model(x)
        elif case == "unbatched":  # BatchNorm2d takes 4-d input only: its own error
            with minicnn.no_grad(), pytest.raises(ValueError, match="expected input of shape"):
                model(x)
        else:
            with minicnn.no_grad():
                model(x)
    finally:
        fusion.enabled = True
    assert len(unfolded) == 1


def test_weights_changed_between_calls_are_seen():
    """Nothing is cached: a write through .data (no version counter sees it) shows at once."""
    model = _block(np.random.default_rng(4))
    x = minicnn.randn(2, 3, 10, 10)
    with minicnn.no_grad():
        before = model(x).numpy()
        model[0].weight.data.mul_(2)
        model[1].running_mean.data.add_(1)
        after = model(x).numpy()
        want = _unfolded_output(model, x)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, want, rtol=1e-5, atol=1e-5)


def test_a_zoo_model_in_inference_agrees_with_and_without_folding():
    minicnn.manual_seed(0)
    model = minicnn.models.get_model("convnet").eval()
    rng = np.random.default_rng(5)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            _randomize_bn(m, rng)
    x = minicnn.randn(4, 3, 32, 32)
    with minicnn.no_grad():
        folded = model(x).numpy()
        plain = _unfolded_output(model, x)
    np.testing.assert_allclose(folded, plain, rtol=1e-5, atol=1e-5 * np.abs(plain).max())


# ---------------------------------------------------------------- BatchNorm -> ReLU / ReLU6


def _bn_act_model(c, act, training, dtype, rng, affine=True):
    minicnn.manual_seed(int(rng.integers(1 << 30)))
    model = nn.Sequential(nn.BatchNorm2d(c, affine=affine), act()).to(dtype)
    if affine:
        with minicnn.no_grad():
            model[0].weight.copy_(minicnn.tensor(rng.uniform(-2, 2, c).astype(dtype)))
            model[0].bias.copy_(minicnn.tensor(rng.standard_normal(c).astype(dtype)))
    model[0].running_var.copy_(minicnn.tensor(rng.uniform(0.2, 3, c).astype(dtype)))
    return model.train(training)


def _run_bn_act(model, x, g, fused):
    """(output, x.grad, weight.grad, bias.grad, running_mean, running_var, grad_fn name) of one
    forward and backward of a copy of ``model``."""
    import copy

    model = copy.deepcopy(model)
    fusion.enabled = fused
    try:
        xx = minicnn.tensor(x, requires_grad=True)
        y = model(xx)
        y.backward(minicnn.tensor(g))
    finally:
        fusion.enabled = True
    bn = model[0]
    grads = [None if p is None or p.grad is None else p.grad.numpy()
             for p in (bn.weight, bn.bias)]
    return ([y.detach().numpy(), xx.grad.numpy(), *grads, bn.running_mean.numpy(),
             bn.running_var.numpy()], y.grad_fn.name())


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(1, 9), hw=st.integers(1, 12),
       act=st.sampled_from([nn.ReLU, nn.ReLU6]), training=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), affine=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_bn_activation_fused_equals_unfused(n, c, hw, act, training, dtype, affine, seed):
    if training and n * hw * hw == 1:
        return  # one value per channel: batch norm's own error, fused or not
    rng = np.random.default_rng(seed)
    model = _bn_act_model(c, act, training, dtype, rng, affine)
    x = (rng.standard_normal((n, c, hw, hw)) * 4).astype(dtype)
    x.flat[::7] = 0.0  # outputs exactly at the kinks for a zero-mean channel
    g = rng.standard_normal(x.shape).astype(dtype)
    fused, fused_fn = _run_bn_act(model, x, g, True)
    plain, plain_fn = _run_bn_act(model, x, g, False)
    assert fused_fn == "BatchNormBackward" and plain_fn in ("ReLUBackward", "HardtanhBackward")
    for a, b in zip(fused, plain):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_bn_activation_keeps_nan_and_masks_as_torch(torch):
    """NaN stays NaN forward; ReLU6 gives it a 0 gradient (PyTorch's vectorized
    hardtanh_backward); the result agrees with PyTorch's BatchNorm2d -> ReLU6 in eval mode."""
    rng = np.random.default_rng(7)
    model = _bn_act_model(3, nn.ReLU6, False, np.float32, rng)
    x = (rng.standard_normal((2, 3, 4, 4)) * 6).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    g = rng.standard_normal(x.shape).astype(np.float32)
    (y, gx, gw, gb, _, _), _ = _run_bn_act(model, x, g, True)
    twin = torch.nn.Sequential(torch.nn.BatchNorm2d(3), torch.nn.ReLU6()).eval()
    twin.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                          for k, v in model.state_dict().items()})
    tx = torch.from_numpy(x.copy()).requires_grad_()
    ty = twin(tx)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-5, atol=1e-5, equal_nan=True)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-5, atol=1e-5, equal_nan=True)
    assert np.isnan(y[0, 0, 0, 0]) and gx[0, 0, 0, 0] == 0


@pytest.mark.parametrize("act", ["relu", "relu6"])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bn_activation_kernels_match_the_reference(act, train, dtype):
    from minicnn.backends import BACKENDS, reference

    cpu = BACKENDS["cpu"]
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((3, 5, 6, 7)) * 5).astype(dtype)
    w, b = rng.uniform(-6, 6, 5).astype(dtype), rng.standard_normal(5).astype(dtype)
    rm, rv = rng.standard_normal(5).astype(dtype), rng.uniform(0.5, 2, 5).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    if train:
        got = cpu.batch_norm_forward_train(x, w, b, 1e-5, activation=act)
        want = reference.batch_norm_forward_train(x, w, b, 1e-5, activation=act)
        y, mean, invstd = got[0], got[1], got[3]
        for a, e in zip(got, want):
            np.testing.assert_allclose(a, e, **tol)
    else:
        y = cpu.batch_norm_forward_eval(x, rm, rv, w, b, 1e-5, activation=act)
        np.testing.assert_allclose(y, reference.batch_norm_forward_eval(x, rm, rv, w, b, 1e-5,
                                                                        activation=act), **tol)
        mean, invstd = rm, reference.batch_norm_invstd(rv, 1e-5)
    assert y.min() == 0 and (act == "relu" or y.max() == 6)
    g = rng.standard_normal(x.shape).astype(dtype)
    got = cpu.batch_norm_backward(g, x, mean, invstd, w, train, (True, True, True),
                                  activation=act, output=y)
    want = reference.batch_norm_backward(g, x, mean, invstd, w, train, (True, True, True),
                                         activation=act, output=y)
    for a, e in zip(got, want):
        np.testing.assert_allclose(a, e, **tol)
    with pytest.raises(ValueError, match="activation must be None, 'relu' or 'relu6'"):
        cpu.batch_norm_forward_eval(x, rm, rv, w, b, 1e-5, activation="gelu")
    with pytest.raises(ValueError, match="needs the forward's output"):
        cpu.batch_norm_backward(g, x, mean, invstd, w, train, (True, True, True),
                                activation=act)


@pytest.mark.parametrize("case", ["switched off", "hook on the relu", "relu subclass",
                                  "autocast", "leaky relu", "not adjacent", "trace"])
def test_what_is_not_fused(case):
    class MyReLU(nn.ReLU):
        pass

    model = nn.Sequential(nn.BatchNorm2d(4), nn.ReLU())
    x = minicnn.randn(2, 4, 5, 5)
    if case == "switched off":
        fusion.enabled = False
    elif case == "hook on the relu":
        model[1].register_forward_hook(lambda m, args, out: None)
    elif case == "relu subclass":
        model[1] = MyReLU()
    elif case == "leaky relu":
        model[1] = nn.LeakyReLU()
    elif case == "not adjacent":
        model = nn.Sequential(model[0], nn.Identity(), model[1])
    try:
        if case == "autocast":
            with minicnn.autocast("cpu", dtype=minicnn.float16):
                y = model(x)
        elif case == "trace":
            from minicnn import autograd
            from minicnn.nn.modules import container

            assert container._bn_activation(model[0], model[1], x) == "relu"
            autograd._tracer, saved = object(), autograd._tracer
            try:
                assert container._bn_activation(model[0], model[1], x) is None
            finally:
                autograd._tracer = saved
            return
        else:
            y = model(x)
    finally:
        fusion.enabled = True
    assert y.grad_fn.name() != "BatchNormBackward"


def test_a_zoo_model_trains_the_same_with_and_without_fusion():
    """MobileNetV2 (ReLU6) and the ConvNet (ReLU): one training step's loss and gradients."""
    for name, shape in (("convnet", (4, 3, 32, 32)), ("mobilenet_v2", (2, 3, 32, 32))):
        results = []
        for fused in (True, False):
            minicnn.manual_seed(0)
            model = minicnn.models.get_model(name, num_classes=10)
            x = minicnn.randn(*shape)
            fusion.enabled = fused
            try:
                target = minicnn.tensor([1, 2, 3, 4][:shape[0]])
                loss = nn.functional.cross_entropy(model(x), target)
                loss.backward()
            finally:
                fusion.enabled = True
            results.append([loss.item()] + [p.grad.numpy() for p in model.parameters()])
        for a, b in zip(*results):
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- conv epilogue: bias + ReLU


@pytest.mark.parametrize("act", ["relu", "relu6"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,groups", [((2, 3, 9, 9, 8, 3), 1),     # im2col + GEMM
                                          ((2, 64, 8, 8, 64, 3), 1),   # Winograd
                                          ((2, 8, 9, 9, 8, 3), 8)])    # depthwise
@pytest.mark.parametrize("bias", [True, False])
def test_conv_epilogue_kernel_matches_the_reference(act, dtype, shape, groups, bias):
    from minicnn.backends import BACKENDS, reference
    from minicnn.backends.reference.elementwise import activate

    cpu = BACKENDS["cpu"]
    rng = np.random.default_rng(9)
    N, C, H, W, K, k = shape
    x = (rng.standard_normal((N, C, H, W)) * 3).astype(dtype)
    w = rng.standard_normal((K, C // groups, k, k)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    geometry = (1, 1, 1, 1, 1, 1, groups)
    got = cpu.conv2d(x, w, b, *geometry, activation=act)
    plain = cpu.conv2d(x, w, b, *geometry)
    want = activate(plain, act).astype(dtype)
    np.testing.assert_array_equal(got, want)  # the same ops in the same order as unfused
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, reference.conv2d(x, w, b, *geometry, activation=act),
                               rtol=tol, atol=tol * np.abs(plain).max())
    assert got.min() == 0 and (act == "relu" or got.max() == 6)


@pytest.mark.parametrize("act", ["relu", "relu6"])
def test_conv2d_activation_gradients_equal_the_unfused_ops(act):
    from minicnn.ops.conv import conv2d_activation

    rng = np.random.default_rng(10)
    x0 = (rng.standard_normal((2, 4, 7, 7)) * 3).astype(np.float64)
    w0 = rng.standard_normal((5, 4, 3, 3))
    b0 = rng.standard_normal(5)
    g = rng.standard_normal((2, 5, 7, 7))
    results = []
    for fused in (True, False):
        x, w, b = (minicnn.tensor(a, requires_grad=True) for a in (x0, w0, b0))
        if fused:
            y = conv2d_activation(x, w, b, 1, 1, 1, 1, act)
        else:
            z = nn.functional.conv2d(x, w, b, 1, 1)
            y = nn.functional.relu(z) if act == "relu" else nn.functional.relu6(z)
        y.backward(minicnn.tensor(g))
        results.append([y.detach().numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()])
    for a, e in zip(*results):
        np.testing.assert_array_equal(a, e)
    with pytest.raises(ValueError, match="activation must be None, 'relu' or 'relu6'"):
        conv2d_activation(x, w, b, 1, 1, 1, 1, "tanh")


@pytest.mark.parametrize("act", [nn.ReLU, nn.ReLU6])
def test_inference_runs_the_relu_in_the_conv_epilogue(monkeypatch, act):
    calls = []
    original = act.forward

    def forward(self, input):
        calls.append(self)
        return original(self, input)

    monkeypatch.setattr(act, "forward", forward)
    rng = np.random.default_rng(11)
    model = _block(rng, relu=False)
    model.append(act())
    x = minicnn.randn(2, 3, 16, 16) * 3
    with minicnn.no_grad():
        fused = model(x).numpy()
    assert calls == []
    plain = _unfolded_output(model, x)
    assert len(calls) == 1
    np.testing.assert_allclose(fused, plain, rtol=1e-5, atol=1e-5 * np.abs(plain).max())
    assert fused.min() == 0 and (act is nn.ReLU or fused.max() == 6)
    model[2].register_forward_hook(lambda m, args, out: None)  # a hook keeps the module's call
    with minicnn.no_grad():
        model(x)
    assert len(calls) == 2


@pytest.mark.parametrize("shape", [(6, 5), (4, 5, 7)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm1d_relu_fused_equals_unfused(shape, training):
    rng = np.random.default_rng(12)
    minicnn.manual_seed(3)
    model = nn.Sequential(nn.BatchNorm1d(5), nn.ReLU()).train(training)
    model[0].running_var.copy_(minicnn.tensor(rng.uniform(0.5, 2, 5).astype(np.float32)))
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    fused, fused_fn = _run_bn_act(model, x, g, True)
    plain, plain_fn = _run_bn_act(model, x, g, False)
    assert (fused_fn, plain_fn) == ("BatchNormBackward", "ReLUBackward")
    for a, b in zip(fused, plain):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("act", ["relu", "relu6"])
@pytest.mark.parametrize("training", [True, False])
def test_fused_ops_pass_gradcheck_in_float64(act, training):
    """Central differences in float64, with the inputs kept away from the kinks at 0 and 6."""
    from minicnn.ops.conv import conv2d_activation
    from minicnn.ops.norm import batch_norm_activation
    from minicnn.utils import gradcheck

    rng = np.random.default_rng(13)

    def away_from_kinks(z):
        return np.all(np.minimum(np.abs(z), np.abs(z - 6)) > 1e-3)

    x = minicnn.tensor(rng.standard_normal((3, 4, 5, 5)) * 3, requires_grad=True)
    w = minicnn.tensor(rng.uniform(0.5, 2, 4), requires_grad=True)
    b = minicnn.tensor(rng.standard_normal(4), requires_grad=True)
    rm, rv = minicnn.tensor(rng.standard_normal(4)), minicnn.tensor(rng.uniform(0.5, 2, 4))

    def bn(x, w, b, activation=act):
        return batch_norm_activation(x, rm.clone(), rv.clone(), w, b, training, 0.1, 1e-5,
                                     activation)

    assert away_from_kinks(bn(x, w, b, None).detach().numpy())  # the values ReLU sees
    assert gradcheck(bn, (x, w, b))
    cw = minicnn.tensor(rng.standard_normal((3, 4, 3, 3)), requires_grad=True)
    cb = minicnn.tensor(rng.standard_normal(3), requires_grad=True)

    def conv(x, cw, cb, activation=act):
        return conv2d_activation(x, cw, cb, 1, 1, 1, 1, activation)

    assert away_from_kinks(conv(x, cw, cb, None).detach().numpy())
    assert gradcheck(conv, (x, cw, cb))
