"""Tensors on the "cuda" device, each result against the same computation on "cpu".

Runs everywhere: a module fixture installs tests/cuda_emulator.py (a CPU stand-in for the CUDA
library whose kernels are transcribed from csrc/cuda), so the whole Python side of the CUDA path
runs: placement and transfers, ops and their gradients, modules, optimizers, checkpoints, the
training loop and ``minicnn train --device cuda``. The oracle is minicnn's CPU device on the same
float32 values (itself checked against PyTorch in test_ops_torch_parity.py); the emulator's copy
counters check that a training step keeps its data on the device.
"""
import copy
import io
import json
import math
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import minicnn
import minicnn.nn.functional as F
from minicnn import cli, nn, optim, training
from minicnn.backends.cuda import DeviceArray, _lib

from cuda_emulator import Emulator, installed
from helpers import write_fashion_mnist

rng = np.random.default_rng(0)


class Recorder(Emulator):
    """The emulator, also recording the size in bytes of every host <-> device copy."""

    def __init__(self):
        super().__init__()
        self.htod, self.dtoh = [], []

    def mc_cuda_memcpy_htod(self, dst, src, nbytes):
        self.htod.append(nbytes)
        return super().mc_cuda_memcpy_htod(dst, src, nbytes)

    def mc_cuda_memcpy_dtoh(self, dst, src, nbytes):
        self.dtoh.append(nbytes)
        return super().mc_cuda_memcpy_dtoh(dst, src, nbytes)

    def reset(self):
        self.calls.clear()
        self.htod.clear()
        self.dtoh.clear()


@pytest.fixture(scope="module", autouse=True)
def emu():
    with installed(Recorder()) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def cuda(emu):
    return minicnn.device("cuda")


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def positive(*shape):
    return rng.uniform(0.5, 2.0, shape).astype(np.float32)


def assert_close(got, want, rtol=1e-5, atol=1e-6):
    """A tensor on cuda against the CPU tensor; atol scaled by the values' size."""
    assert got.device == minicnn.device("cuda")
    want = want.detach().numpy()
    got = got.detach().cpu().numpy()
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=rtol,
                               atol=atol * max(1.0, float(np.abs(want).max(initial=0))))


def check_op(fn, *arrays, frozen=()):
    """``fn`` on CPU tensors and on CUDA tensors holding the same ``arrays``: the same result, on
    cuda, and after backward with the same random upstream gradient, the same gradients, on cuda.
    Float arrays are leaves requiring grad unless their position is in ``frozen``."""
    def leaves(device):
        return [minicnn.tensor(a, device=device,
                               requires_grad=a.dtype.kind == "f" and k not in frozen)
                for k, a in enumerate(arrays)]

    cpu, gpu = leaves("cpu"), leaves("cuda")
    want, got = fn(*cpu), fn(*gpu)
    assert isinstance(got._data, DeviceArray)
    assert_close(got, want)
    if not want.requires_grad:
        return
    g = randn(*want.shape)
    want.backward(minicnn.tensor(g))
    got.backward(minicnn.tensor(g, device="cuda"))
    for a, b in zip(cpu, gpu):
        if a.requires_grad:
            assert isinstance(b.grad._data, DeviceArray)
            assert_close(b.grad, a.grad)
        else:
            assert b.grad is None


# ---------------------------------------------------------------- 1. placement

def test_to_cuda_and_back(cuda):
    x = minicnn.tensor(randn(2, 3))
    for y in (x.to("cuda"), x.cuda(), x.to(cuda), minicnn.tensor(x.numpy(), device="cuda")):
        assert y.device == cuda and y.device.type == "cuda" and isinstance(y._data, DeviceArray)
        assert y.shape == (2, 3) and y.dtype == np.float32
        back = y.cpu()
        assert back.device == minicnn.device("cpu") and isinstance(back._data, np.ndarray)
        np.testing.assert_array_equal(back.numpy(), x.numpy())
    y = x.cuda()
    assert y.cuda() is y and y.to("cuda") is y  # nothing changes: the tensor itself
    assert x.cpu() is x


def test_creation_on_cuda(cuda):
    for t in (minicnn.zeros(2, 3, device="cuda"), minicnn.ones(2, 3, device="cuda"),
              minicnn.randn(2, 3, device="cuda"), minicnn.full((2, 3), 2.5, device="cuda"),
              minicnn.tensor([[1.0, 2.0, 3.0]] * 2, device="cuda")):
        assert t.device == cuda and isinstance(t._data, DeviceArray) and t.shape == (2, 3)
        assert t.dtype == np.float32
    np.testing.assert_array_equal(minicnn.zeros(2, 3, device="cuda").cpu().numpy(), 0)
    np.testing.assert_array_equal(minicnn.ones(2, 3, device="cuda").cpu().numpy(), 1)
    np.testing.assert_array_equal(minicnn.full((2,), 2.5, device="cuda").cpu().numpy(), 2.5)
    assert minicnn.ones(3, device="cuda", requires_grad=True).requires_grad


def test_like_constructors_follow_the_device(cuda):
    x = minicnn.randn(2, 3, device="cuda")
    for t, fill in ((minicnn.zeros_like(x), 0.0), (minicnn.ones_like(x), 1.0),
                    (minicnn.full_like(x, 3.0), 3.0), (minicnn.empty_like(x), None),
                    (minicnn.randn_like(x), None), (minicnn.rand_like(x), None)):
        assert t.device == cuda and isinstance(t._data, DeviceArray) and t.shape == x.shape
        if fill is not None:
            np.testing.assert_array_equal(t.cpu().numpy(), fill)
    u = minicnn.rand_like(x).cpu().numpy()
    assert ((u >= 0) & (u < 1)).all()


def test_repr_item_tolist():
    x = minicnn.tensor([[1.5, -2.0], [0.25, 4.0]], device="cuda")
    assert repr(x) == repr(x.cpu())[:-1] + ", device='cuda:0')"
    assert "device='cuda:0'" in repr(minicnn.tensor([1, 2], device="cuda"))
    assert "requires_grad=True" in repr(minicnn.ones(1, device="cuda", requires_grad=True))
    assert x[1, 1].item() == 4.0 and isinstance(x[1, 1].item(), float)
    assert x.sum().item() == 3.75 and float(x[0, 0]) == 1.5
    assert x.tolist() == [[1.5, -2.0], [0.25, 4.0]]
    assert minicnn.tensor([3, 4], device="cuda").tolist() == [3, 4]
    assert minicnn.tensor([True, False], device="cuda").tolist() == [True, False]
    with pytest.raises(ValueError, match="one-element"):
        x.item()


def test_numpy_and_asarray_ask_for_cpu():
    x = minicnn.randn(2, device="cuda")
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        x.numpy()
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        np.asarray(x)
    with pytest.raises(TypeError, match=r"cpu\(\)"):
        np.asarray(x._data)  # nor the device array behind it


@pytest.mark.parametrize("make", [
    lambda: minicnn.randn(2, dtype=minicnn.float64).to("cuda"),
    lambda: minicnn.randn(2, dtype=minicnn.float64).cuda(),
    lambda: minicnn.randn(2, device="cuda").double(),
    lambda: minicnn.tensor([1.0], dtype=minicnn.float64, device="cuda"),
    lambda: minicnn.zeros(2, dtype=minicnn.float64, device="cuda"),
    lambda: minicnn.tensor([1, 2], dtype=minicnn.uint8).cuda(),
], ids=["to", "cuda", "double", "tensor", "zeros", "uint8"])
def test_float64_cannot_go_to_cuda(make):
    with pytest.raises(TypeError, match="float32"):
        make()


def test_int64_labels_and_casts_move(cuda):
    y = minicnn.tensor([3, 0, 9]).cuda()
    assert y.device == cuda and y.dtype == np.int64
    assert y.cpu().tolist() == [3, 0, 9]
    x = minicnn.tensor([-1.5, 0.9, 2.0], device="cuda")
    assert x.long().dtype == np.int64 and x.long().cpu().tolist() == [-1, 0, 2]  # truncation
    assert x.to("cpu", minicnn.float64).dtype == np.float64
    assert y.float().cpu().tolist() == [3.0, 0.0, 9.0]


def test_to_cuda_is_differentiable():
    w = minicnn.tensor(randn(2, 3), requires_grad=True)
    y = w.to("cuda")
    assert y.requires_grad and y.grad_fn is not None
    (y * y).sum().backward()
    assert w.grad.device == minicnn.device("cpu") and isinstance(w.grad._data, np.ndarray)
    np.testing.assert_allclose(w.grad.numpy(), 2 * w.detach().numpy(), rtol=1e-6)
    # float64 on the host, float32 on the device: the gradient comes back as float64
    d = minicnn.tensor(randn(3).astype(np.float64), requires_grad=True)
    (d.to("cuda", minicnn.float32) * 3).sum().backward()
    assert d.grad.dtype == np.float64 and d.grad.device == minicnn.device("cpu")
    np.testing.assert_array_equal(d.grad.numpy(), 3.0)
    # and back: a cuda leaf through .cpu()
    c = minicnn.ones(2, device="cuda", requires_grad=True)
    (c.cpu() * 5).sum().backward()
    assert c.grad.device.type == "cuda" and c.grad.tolist() == [5.0, 5.0]


def test_copy_across_devices():
    src = randn(2, 3)
    a = minicnn.zeros(2, 3, device="cuda")
    assert a.copy_(minicnn.tensor(src)) is a
    np.testing.assert_array_equal(a.cpu().numpy(), src)
    b = minicnn.zeros(2, 3)
    b.copy_(a * 2)
    np.testing.assert_array_equal(b.numpy(), 2 * src)
    a.copy_(minicnn.tensor([1.0, 2.0, 3.0], device="cuda"))  # broadcast
    np.testing.assert_array_equal(a.cpu().numpy(), [[1, 2, 3]] * 2)


def test_setitem_with_slices():
    want = np.zeros((3, 4, 5), np.float32)
    got = minicnn.zeros(3, 4, 5, device="cuda")
    row = randn(5)
    for index, value in [((slice(1, None), slice(None, None, 2)), 5.0),
                         ((0, slice(1, 3)), row),
                         ((Ellipsis, -1), randn(3, 4)),
                         ((slice(None, None, -1), 2), randn(5)),
                         ((2, None, slice(None), 0), randn(4))]:
        want[index] = value
        got[index] = value if isinstance(value, float) else minicnn.tensor(value).cuda()
        np.testing.assert_array_equal(got.cpu().numpy(), want)
    got[1] = minicnn.tensor(row)  # a host value is copied over
    want[1] = row
    np.testing.assert_array_equal(got.cpu().numpy(), want)
    assert got.device.type == "cuda" and isinstance(got._data, DeviceArray)


def test_tensor_of_a_cuda_tensor_stays_on_cuda(cuda):
    x = minicnn.randn(2, device="cuda")
    assert minicnn.tensor(x).device == cuda


def test_cuda_and_cuda0_are_one_device():
    y = minicnn.ones(2).to("cuda:0") + minicnn.ones(2).to("cuda")
    assert y.tolist() == [2.0, 2.0]


def test_a_missing_device_ordinal_is_an_error():
    assert minicnn.cuda.device_count() == 1
    with pytest.raises(RuntimeError):
        minicnn.zeros(2, device="cuda:1")


# ---------------------------------------------------------------- 2. ops stay on the device

@given(mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       st.sampled_from(["add", "sub", "mul", "div"]))
def test_broadcasting_arithmetic(shapes, op):
    (sa, sb), _ = shapes
    b = positive(*sb) * np.where(rng.random(sb) < 0.5, -1, 1).astype(np.float32)
    fn = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y,
          "mul": lambda x, y: x * y, "div": lambda x, y: x / y}[op]
    check_op(fn, randn(*sa), b)


@pytest.mark.parametrize("fn", [
    lambda x: (2 + x) * 3 - 1.5, lambda x: 1 - x, lambda x: 2 / x, lambda x: x / 4,
    lambda x: 0.5 * x + np.float32(2), lambda x: x ** 2, lambda x: x ** 0.5, lambda x: x ** -1,
    lambda x: -x, lambda x: +x * 1, lambda x: x.exp(), lambda x: x.log(), lambda x: x.sqrt(),
    lambda x: x.abs(), lambda x: (x - 1).abs(),
], ids=["scalars", "rsub", "rdiv", "div", "npscalar", "square", "sqrt_pow", "inv", "neg", "pos",
        "exp", "log", "sqrt", "abs", "abs_shifted"])
def test_elementwise_with_scalars(fn):
    check_op(fn, positive(3, 4))


@given(st.lists(st.integers(1, 3), min_size=1, max_size=4),
       st.data(), st.booleans(), st.sampled_from(["sum", "mean"]))
def test_reductions(shape, data, keepdim, how):
    nd = len(shape)
    dims = data.draw(st.none() | st.integers(-nd, nd - 1)
                     | st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True)
                     .map(tuple))
    check_op(lambda x: getattr(x, how)(dims, keepdim=keepdim) if dims is not None
             else getattr(x, how)(), randn(*shape))


@pytest.mark.parametrize("fn, shape", [
    (lambda x: x.reshape(4, -1), (2, 3, 4)), (lambda x: x.view(6, 4), (2, 3, 4)),
    (lambda x: x.flatten(1), (2, 3, 4)), (lambda x: x.flatten(), (2, 3, 4)),
    (lambda x: x.permute(2, 0, 1), (2, 3, 4)), (lambda x: x.transpose(0, 2), (2, 3, 4)),
    (lambda x: x.T, (3, 4)), (lambda x: x.t(), (3, 4)),
    (lambda x: x.squeeze(1), (2, 1, 4)), (lambda x: x.squeeze(), (2, 1, 4, 1)),
    (lambda x: x.unsqueeze(0), (2, 3)), (lambda x: x.unsqueeze(-1), (2, 3)),
    (lambda x: x.expand(2, 3, 4), (3, 1)), (lambda x: x.expand(-1, 5), (3, 1)),
    (lambda x: x.contiguous(), (2, 3)), (lambda x: x.clone(), (2, 3)),
    (lambda x: x[1:, None, ::2], (3, 4, 5)), (lambda x: x[1, :, -1], (3, 4, 5)),
    (lambda x: x[..., 1], (3, 4, 5)), (lambda x: x[::-1, 1:3], (3, 4, 5)),
    (lambda x: x[0], (3, 4, 5)),
], ids=["reshape", "view", "flatten1", "flatten", "permute", "transpose", "T", "t", "squeeze1",
        "squeeze", "unsqueeze0", "unsqueeze_last", "expand", "expand_minus1", "contiguous",
        "clone", "slices_none_step", "int_index", "ellipsis", "reversed", "first"])
def test_shape_ops_and_basic_indexing(fn, shape):
    check_op(fn, randn(*shape))


@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.data())
def test_basic_indexing_drawn(shape, data):
    index = [data.draw(st.slices(n) | st.integers(-n, n - 1)) for n in shape]
    index.insert(data.draw(st.integers(0, len(index))), data.draw(st.sampled_from([None, ...])))
    check_op(lambda x: x[tuple(index)] * 1, randn(*shape))


@pytest.mark.parametrize("fn", [
    F.relu, F.sigmoid, F.tanh, F.gelu, lambda x: F.gelu(x, approximate="tanh"), F.silu,
    F.hardswish, lambda x: F.leaky_relu(x, 0.1), lambda x: F.softmax(x, 1),
    lambda x: F.softmax(x, 0), lambda x: F.log_softmax(x, -1), lambda x: x.relu(),
    lambda x: x.softmax(-1), lambda x: x.log_softmax(1),
], ids=["relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "silu", "hardswish", "leaky_relu",
        "softmax1", "softmax0", "log_softmax", "relu_method", "softmax_method",
        "log_softmax_method"])
def test_activations(fn):
    check_op(fn, randn(2, 3, 4))


@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 3), st.integers(1, 2), st.integers(1, 2), st.integers(0, 2),
       st.integers(1, 2), st.booleans(), st.booleans())
def test_conv2d(n, groups, cin_g, cout_g, kh, kw, stride, padding, dilation, bias, depthwise):
    if depthwise:
        cin_g, cout_g = 1, 1
    c_in, c_out = groups * cin_g, groups * cout_g
    h, w = dilation * (kh - 1) + 2 + stride, dilation * (kw - 1) + 3
    args = [randn(n, c_in, h, w), randn(c_out, cin_g, kh, kw)] + ([randn(c_out)] if bias else [])
    check_op(lambda x, wt, b=None: F.conv2d(x, wt, b, stride=(stride, 1), padding=padding,
                                            dilation=dilation, groups=groups), *args)


@pytest.mark.parametrize("kw", [
    dict(stride=2, padding=1, output_padding=1), dict(stride=1, padding=0, dilation=2, groups=2),
    dict(stride=(2, 1), padding=(0, 1)),
], ids=["stride2", "dilated_groups", "nonsquare"])
def test_conv_transpose2d(kw):
    groups = kw.get("groups", 1)
    check_op(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
             randn(2, 4, 4, 3), randn(4, 6 // groups, 3, 2), randn(6))


@pytest.mark.parametrize("fn", [
    lambda x: F.max_pool2d(x, 2), lambda x: F.max_pool2d(x, 3, 2, 1),
    lambda x: F.max_pool2d(x, (3, 2), 2, 0, ceil_mode=True),
    lambda x: F.max_pool2d(x, 2, 1, 0, dilation=2),
    lambda x: F.avg_pool2d(x, 2), lambda x: F.avg_pool2d(x, 3, 2, 1),
    lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
    lambda x: F.avg_pool2d(x, 3, 2, 0, ceil_mode=True),
    lambda x: F.adaptive_avg_pool2d(x, 1), lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
    lambda x: F.adaptive_max_pool2d(x, (2, 3)), lambda x: F.adaptive_max_pool2d(x, 1),
], ids=["max2", "max3s2p1", "max_ceil", "max_dilated", "avg2", "avg3s2p1", "avg_nocount",
        "avg_ceil", "adaptive_avg1", "adaptive_avg32", "adaptive_max23", "adaptive_max1"])
def test_pooling(fn):
    check_op(fn, randn(2, 3, 7, 6))  # random values: no max-pool ties


def test_max_pool_indices_on_cuda():
    x = randn(2, 3, 6, 5)
    y, i = F.max_pool2d_with_indices(minicnn.tensor(x, device="cuda"), 2)
    y0, i0 = F.max_pool2d_with_indices(minicnn.tensor(x), 2)
    assert i.device.type == "cuda" and i.dtype == np.int64
    np.testing.assert_array_equal(i.cpu().numpy(), i0.numpy())
    assert_close(y, y0)
    # values and indices are two outputs of one node, whose backward runs on the device
    xg = minicnn.tensor(x, device="cuda", requires_grad=True)
    x0 = minicnn.tensor(x, requires_grad=True)
    F.max_pool2d_with_indices(xg, 2)[0].sum().backward()
    F.max_pool2d(x0, 2).sum().backward()
    assert_close(xg.grad, x0.grad)


def test_two_output_function_gets_zero_gradients_on_the_device():
    """The gradient of an output the loss does not use: zeros, made on the output's device."""
    seen = []

    class Pair(minicnn.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g0, g1):
            seen.append(g1)
            return g0 * 2 + g1 * 3

    x = minicnn.tensor(randn(4), device="cuda", requires_grad=True)
    Pair.apply(x)[0].sum().backward()
    (g1,) = seen
    assert isinstance(g1, DeviceArray) and g1.shape == (4,) and g1.dtype == np.float32
    np.testing.assert_array_equal(g1.to_host(), np.zeros(4, np.float32))
    assert_close(x.grad, minicnn.full((4,), 2.0))


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (6, 3)], ids=["2d", "1d"])
def test_batch_norm_functional(shape):
    x, w, b = randn(*shape), randn(3), randn(3)
    check_op(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), x, w, b)
    check_op(lambda x, m, v, w, b: F.batch_norm(x, m, v, w, b, training=False),
             x, randn(3), positive(3), w, b, frozen=(1, 2))


@pytest.mark.parametrize("momentum", [0.1, None], ids=["ema", "cumulative"])
def test_batch_norm_running_stats_on_device(momentum, cuda):
    bn = nn.BatchNorm2d(3, momentum=momentum)
    bc = copy.deepcopy(bn).to("cuda")
    for scale in (1.0, 3.0):
        x = randn(4, 3, 5, 5) * scale + 1
        check_op(lambda x: bc(x) if x.device.type == "cuda" else bn(x), x)
    for name in ("running_mean", "running_var"):
        assert getattr(bc, name).device == cuda
        assert_close(getattr(bc, name), getattr(bn, name))
    assert bc.num_batches_tracked.device == cuda and bc.num_batches_tracked.item() == 2
    bn.eval()
    bc.eval()
    check_op(lambda x: bc(x) if x.device.type == "cuda" else bn(x), randn(2, 3, 4, 4))
    assert bc.num_batches_tracked.item() == 2


@pytest.mark.parametrize("shapes", [((3, 4), (5, 4), (5,)), ((2, 3, 4), (5, 4), None)],
                         ids=["2d", "3d_nobias"])
def test_linear(shapes):
    arrays = [randn(*s) for s in shapes if s is not None]
    check_op(lambda x, w, b=None: F.linear(x, w, b), *arrays)


def test_matmul():
    check_op(lambda a, b: a @ b, randn(3, 4), randn(4, 5))


TARGET = np.array([1, 1, 2, 0, 4, 3])


@pytest.mark.parametrize("kw", [
    {}, dict(reduction="sum"), dict(reduction="none"), dict(ignore_index=1),
    dict(label_smoothing=0.1), dict(weight=True), dict(weight=True, reduction="none"),
    dict(weight=True, ignore_index=1, label_smoothing=0.2, reduction="sum"),
    dict(weight=True, ignore_index=2, label_smoothing=0.3),
], ids=["mean", "sum", "none", "ignore", "smoothing", "weight", "weight_none", "all_sum",
        "all_mean"])
def test_cross_entropy(kw):
    kw = dict(kw)
    if kw.pop("weight", False):
        check_op(lambda x, t, w: F.cross_entropy(x, t, weight=w, **kw),
                 randn(6, 5), TARGET, positive(5), frozen=(2,))
    else:
        check_op(lambda x, t: F.cross_entropy(x, t, **kw), randn(6, 5), TARGET)


@pytest.mark.parametrize("shapes", [((2, 5, 3, 2), (2, 3, 2)), ((5,), ())],
                         ids=["spatial", "unbatched"])
def test_cross_entropy_shapes(shapes):
    x, t = shapes
    check_op(F.cross_entropy, randn(*x), rng.integers(0, 5, t))


def test_cross_entropy_probability_targets():
    p = positive(6, 5)
    check_op(lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1), randn(6, 5),
             p / p.sum(1, keepdims=True), frozen=(1,))


@pytest.mark.parametrize("kw", [{}, dict(reduction="sum", ignore_index=0),
                                dict(weight=True, reduction="none"), dict(weight=True)],
                         ids=["mean", "sum_ignore", "weight_none", "weight_mean"])
def test_nll_loss(kw):
    kw = dict(kw)
    if kw.pop("weight", False):
        check_op(lambda x, t, w: F.nll_loss(x, t, weight=w, **kw), randn(6, 5), TARGET,
                 positive(5), frozen=(2,))
    else:
        check_op(lambda x, t: F.nll_loss(x, t, **kw), randn(6, 5), TARGET)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_dropout_deterministic(p):
    check_op(lambda x: F.dropout(x, p), randn(3, 4))
    check_op(lambda x: F.dropout(x, 0.5, training=False), randn(3, 4))


def test_dropout_draws_the_cpu_mask():
    """The noise is drawn on the host by minicnn's generator and uploaded, so one seed gives
    the same mask on both devices."""
    x = randn(4, 6)
    minicnn.manual_seed(7)
    want = F.dropout(minicnn.tensor(x), 0.5)
    minicnn.manual_seed(7)
    got = F.dropout(minicnn.tensor(x, device="cuda"), 0.5)
    assert_close(got, want)
    assert 0 < (want.numpy() == 0).sum() < x.size


def test_instance_norm():
    check_op(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), randn(2, 4, 3, 3),
             randn(4), randn(4))


# ---------------------------------------------------------------- 3. errors

@pytest.mark.parametrize("fn", [
    lambda: minicnn.randn(2, 3, device="cuda") + minicnn.randn(2, 3),
    lambda: minicnn.randn(2, 3) * minicnn.randn(3, device="cuda"),
    lambda: minicnn.randn(2, 3, device="cuda") + np.ones(3, np.float32),
    lambda: F.conv2d(minicnn.randn(1, 1, 3, 3, device="cuda"), minicnn.randn(1, 1, 2, 2)),
    lambda: F.conv2d(minicnn.randn(1, 1, 3, 3), minicnn.randn(1, 1, 2, 2, device="cuda")),
    lambda: F.cross_entropy(minicnn.randn(2, 3, device="cuda"), minicnn.tensor([0, 1])),
    lambda: F.cross_entropy(minicnn.randn(2, 3), minicnn.tensor([0, 1], device="cuda")),
    lambda: F.cross_entropy(minicnn.randn(2, 3, device="cuda"),
                            minicnn.tensor([0, 1], device="cuda"), weight=minicnn.ones(3)),
    lambda: nn.Linear(3, 2)(minicnn.randn(2, 3, device="cuda")),
    lambda: minicnn.randn(2, 3, device="cuda") @ minicnn.randn(3, 2),
], ids=["add", "mul_reflected", "ndarray", "conv_weight", "conv_input", "ce_target",
        "ce_input", "ce_weight", "module", "matmul"])
def test_mixing_devices_is_an_error(fn):
    with pytest.raises(RuntimeError, match=r"(?s)cuda.*cpu|cpu.*cuda"):
        fn()


@pytest.mark.parametrize("fn", [
    lambda x: x.argmax(), lambda x: x.argmax(1), lambda x: x.max(1),
    lambda x: x == x, lambda x: x > 0, lambda x: x != 1.0,
    lambda x: x[[0, 1]], lambda x: x[minicnn.tensor([0, 1])],
    lambda x: x[minicnn.tensor([0, 1], device="cuda")], lambda x: x[x.cpu() > 0],
    lambda x: x.__setitem__([0, 1], 1.0), lambda x: x ** x, lambda x: 2.0 ** x,
    lambda x: x.clamp(0, 1), lambda x: minicnn.cat([x, x]), lambda x: F.pad(x, (1, 1)),
], ids=["argmax", "argmax_dim", "max_dim", "eq", "gt", "ne", "index_list", "index_tensor",
        "index_cuda_tensor", "bool_mask", "setitem_list", "pow_tensor", "rpow", "clamp", "cat",
        "pad"])
def test_unsupported_ops_ask_for_cpu(fn):
    x = minicnn.randn(2, 3, device="cuda")
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        fn(x)


@pytest.mark.parametrize("fn", [lambda x: x.max(), lambda x: x.amin(1)], ids=["max", "amin"])
def test_full_reductions_max_min_ask_for_cpu(fn):
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        fn(minicnn.randn(2, 3, device="cuda"))


def test_integer_arithmetic_asks_for_cpu():
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        minicnn.tensor([1, 2], device="cuda") + 1


@pytest.mark.parametrize("fn", [lambda x: F.layer_norm(x, (3,)), lambda x: F.group_norm(x, 1)],
                         ids=["layer_norm", "group_norm"])
def test_ops_without_a_kernel_raise(fn):
    with pytest.raises(NotImplementedError, match="no CUDA kernel"):
        fn(minicnn.randn(2, 2, 3, device="cuda"))


# ---------------------------------------------------------------- 4. modules and optimizers

def test_module_to_moves_parameters_and_buffers(cuda):
    model = minicnn.models.get_model("convnet", in_channels=3, dropout=0.0)
    assert model.to("cuda") is model
    tensors = list(model.named_parameters()) + list(model.named_buffers())
    assert any(n.endswith("num_batches_tracked") for n, _ in tensors)
    for name, t in tensors:
        assert t.device == cuda and isinstance(t._data, DeviceArray), name
    bn = model.features[0][1]
    model(minicnn.randn(2, 3, 32, 32, device="cuda"))
    assert bn.num_batches_tracked.device == cuda and bn.num_batches_tracked.item() == 1
    assert bn.num_batches_tracked.dtype == np.int64
    model.cpu()
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        assert t.device.type == "cpu" and isinstance(t._data, np.ndarray), name


def test_module_to_moves_gradients():
    lin = nn.Linear(3, 2)
    lin(minicnn.randn(4, 3)).sum().backward()
    want = lin.weight.grad.numpy().copy()
    lin.to("cuda")
    assert lin.weight.grad.device.type == "cuda"
    np.testing.assert_array_equal(lin.weight.grad.cpu().numpy(), want)


def forward_backward(model, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss.item()


OPTIMIZERS = {
    "sgd_nesterov": lambda p: optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True,
                                        weight_decay=1e-3),
    "sgd_dampening": lambda p: optim.SGD(p, lr=0.02, momentum=0.5, dampening=0.3,
                                         weight_decay=1e-3),
    "adam": lambda p: optim.Adam(p, lr=1e-3, weight_decay=1e-3),
    "adam_amsgrad": lambda p: optim.Adam(p, lr=1e-3, amsgrad=True),
    "adamw_amsgrad": lambda p: optim.AdamW(p, lr=1e-3, weight_decay=0.1, amsgrad=True),
}
# input shape, get_model arguments, and the parameters whose gradient may differ at a max-pool
# near tie: a window whose two largest values are within float32 rounding (~1e-6) of each other
# can send the gradient to a different input on each device, a legitimate difference that
# changes the gradients of everything before that pool by up to a few percent. In convnet's
# 56K windows per batch that happens in about one step in fifty; in lenet5's 3K, not in 150
# steps tried.
MODELS = {"lenet5": ((1, 28, 28), {}, ()),
          "convnet": ((3, 32, 32), {"dropout": 0.0}, ("features.",))}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("name", list(MODELS))
def test_training_steps_match_cpu(name, optimizer):
    """Three steps on each device. The losses (forward) match; the gradients match, loosely
    where a max-pool near tie may route them differently (see MODELS); then the CPU model takes
    the CUDA gradients, so that one flipped tie does not make the runs drift apart, and the
    parameters, batch norm statistics and optimizer states after each step match."""
    shape, kw, tie_prone = MODELS[name]
    minicnn.manual_seed(0)
    model = minicnn.models.get_model(name, in_channels=shape[0], **kw)
    gpu_model = copy.deepcopy(model)
    opt = OPTIMIZERS[optimizer](model.parameters())
    gpu_opt = OPTIMIZERS[optimizer](gpu_model.parameters())  # created before .to
    gpu_model.to("cuda")
    data = np.random.default_rng(1)
    for _ in range(3):
        x = minicnn.tensor(data.standard_normal((2, *shape)).astype(np.float32))
        y = minicnn.tensor(data.integers(0, 10, 2))
        opt.zero_grad()
        gpu_opt.zero_grad()
        want = forward_backward(model, x, y)
        got = forward_backward(gpu_model, x.cuda(), y.cuda())
        assert math.isfinite(got) and got == pytest.approx(want, rel=1e-4)
        for (key, p), q in zip(model.named_parameters(), gpu_model.parameters()):
            assert q.grad.device.type == "cuda", key
            g, gq = p.grad.numpy(), q.grad.cpu().numpy()
            if key.startswith(tie_prone):
                assert np.linalg.norm(gq - g) <= 0.1 * np.linalg.norm(g), key
            else:
                np.testing.assert_allclose(gq, g, rtol=1e-4, atol=1e-5 * np.abs(g).max(),
                                           err_msg=key)
            p.grad = minicnn.tensor(gq)
        opt.step()
        gpu_opt.step()
        want_state, got_state = model.state_dict(), gpu_model.state_dict()
        assert list(got_state) == list(want_state)
        for key, t in got_state.items():
            assert t.device.type == "cuda", key
            np.testing.assert_allclose(t.cpu().numpy(), want_state[key].numpy(), rtol=1e-4,
                                       atol=1e-6, err_msg=key)
    for p, q in zip(model.parameters(), gpu_model.parameters()):
        assert gpu_opt.state[q].keys() == opt.state[p].keys()
        for key, s in gpu_opt.state[q].items():
            if isinstance(s, minicnn.Tensor):
                assert s.device.type == "cuda", key
                np.testing.assert_allclose(s.cpu().numpy(), opt.state[p][key].numpy(),
                                           rtol=1e-4, atol=1e-7, err_msg=key)
            else:
                assert s == opt.state[p][key], key


def test_rmsprop_on_cuda_raises():
    lin = nn.Linear(3, 2).to("cuda")
    opt = optim.RMSprop(lin.parameters(), lr=0.01)
    lin(minicnn.randn(4, 3, device="cuda")).sum().backward()
    with pytest.raises(TypeError, match="RMSprop.*cuda"):
        opt.step()


def test_zero_grad_in_place():
    x, y = randn(4, 3), rng.integers(0, 2, 4)
    models = [nn.Linear(3, 2)]
    models.append(copy.deepcopy(models[0]).to("cuda"))
    opts = [optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in models]
    for model, opt, dev in zip(models, opts, ("cpu", "cuda")):
        for _ in range(2):
            opt.zero_grad(set_to_none=False)
            F.cross_entropy(model(minicnn.tensor(x, device=dev)),
                            minicnn.tensor(y, device=dev)).backward()
            opt.step()
        opt.zero_grad(set_to_none=False)
        assert model.weight.grad.device.type == dev
        np.testing.assert_array_equal(model.weight.grad.cpu().numpy(), 0)
        F.cross_entropy(model(minicnn.tensor(x, device=dev)),
                        minicnn.tensor(y, device=dev)).backward()
    assert_close(models[1].weight.grad, models[0].weight.grad)
    assert_close(models[1].weight, models[0].weight)


def small_model():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8, 3))


def test_state_dict_round_trips(cuda):
    model = small_model().to("cuda")
    model(minicnn.randn(2, 1, 4, 4, device="cuda"))  # running statistics change
    state = model.state_dict()
    assert all(t.device == cuda for t in state.values())
    buf = io.BytesIO()
    minicnn.save(state, buf)
    want = {k: t.cpu().numpy() for k, t in state.items()}

    def loaded(**kw):
        buf.seek(0)
        return minicnn.load(buf, **kw)

    assert all(t.device == cuda for t in loaded().values())  # the device it was saved from
    assert all(t.device.type == "cpu" for t in loaded(map_location="cpu").values())
    for target, kw in ((small_model(), {}), (small_model(), dict(map_location="cpu")),
                       (small_model().to("cuda"), {}),
                       (small_model().to("cuda"), dict(map_location="cpu"))):
        device = next(target.parameters()).device
        assert target.load_state_dict(loaded(**kw)) == ([], [])
        for key, t in target.state_dict().items():
            assert t.device == device, key
            np.testing.assert_array_equal(t.cpu().numpy(), want[key], err_msg=key)


def test_load_cpu_state_dict_into_cuda_model(cuda):
    cpu_model = small_model()
    for assign in (False, True):
        model = small_model().to("cuda")
        model.load_state_dict(cpu_model.state_dict(), assign=assign)
        for key, t in model.state_dict().items():
            assert t.device == cuda and isinstance(t._data, DeviceArray), key
            np.testing.assert_array_equal(t.cpu().numpy(), cpu_model.state_dict()[key].numpy())
        x = randn(2, 1, 4, 4)
        cpu_model.eval()
        model.eval()
        assert_close(model(minicnn.tensor(x, device="cuda")), cpu_model(minicnn.tensor(x)))


# ---------------------------------------------------------------- 5. no host round trips

@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_training_step_copies_only_the_batch(emu, dropout):
    model = minicnn.models.get_model("convnet", in_channels=3, dropout=dropout).to("cuda")
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x, y = minicnn.randn(2, 3, 32, 32), minicnn.randint(0, 10, (2,))
    batch = [x.numel() * 4, y.numel() * 8]
    if dropout:
        batch.append(2 * 256 * 4)  # the mask of the (N, 256) features, drawn on the host
    for _ in range(2):  # the first step creates the momentum buffers
        emu.reset()
        opt.zero_grad()
        loss = F.cross_entropy(model(x.cuda()), y.cuda())
        loss.backward()
        opt.step()
        assert emu.calls["mc_cuda_memcpy_dtoh"] == 1 and emu.dtoh == [32]  # the loss's sums
        assert sorted(emu.htod) == sorted(batch)
        assert emu.calls["mc_cuda_sgd_step"] == len(list(model.parameters()))


def test_eval_forward_copies_nothing(emu):
    model = minicnn.models.get_model("convnet", in_channels=3).to("cuda").eval()
    x = minicnn.randn(2, 3, 32, 32, device="cuda")
    emu.reset()
    with minicnn.no_grad():
        y = model(x)
    assert y.device.type == "cuda" and y.shape == (2, 10)
    assert emu.dtoh == [] and emu.htod == []


# ---------------------------------------------------------------- 6. minicnn train --device cuda

@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return write_fashion_mnist(tmp_path_factory.mktemp("data"))


def train(data_root, out, device):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--model", "lenet5", "--dataset", "fashion-mnist", "--epochs", "1",
                  "--batch-size", "16", "--seed", "5", "--data-root", data_root, "--out",
                  str(out), "--device", device])
    assert info.value.code == 0
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def cuda_run(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("cuda") / "run"
    return out, train(data_root, out, "cuda")


def test_cli_train_on_cuda_matches_cpu(cuda_run, data_root, tmp_path, capsys, emu):
    out, got = cuda_run
    want = train(data_root, tmp_path / "cpu", "cpu")
    assert math.isfinite(got["test_loss"])
    assert got["test_loss"] == pytest.approx(want["test_loss"], rel=1e-4)
    assert got["confusion_matrix"] == want["confusion_matrix"]
    with open(os.path.join(out, "metrics.jsonl")) as f:
        (row,) = [json.loads(line) for line in f]
    assert math.isfinite(row["train_loss"])
    capsys.readouterr()


def test_cuda_checkpoint_loads_on_cpu(cuda_run, data_root):
    out, results = cuda_run
    ckpt = minicnn.load(os.path.join(out, "best.npz"), map_location="cpu")
    model = minicnn.models.get_model("lenet5")
    assert model.load_state_dict(ckpt["model"]) == ([], [])
    assert all(t.device.type == "cpu" for t in model.state_dict().values())
    # minicnn eval's path (built on the CPU, weights copied from the saved cuda tensors)
    result = training.evaluate_checkpoint(out, data_root=data_root)
    assert result["loss"] == pytest.approx(results["test_loss"], rel=1e-4)


def test_cli_eval_of_a_cuda_checkpoint_without_cuda(cuda_run, data_root, monkeypatch, capsys):
    out, results = cuda_run
    monkeypatch.setattr(_lib, "_state", (None, "no GPU (hidden by this test)", 0))
    assert not minicnn.cuda.is_available()
    with pytest.raises(SystemExit) as info:
        cli.main(["eval", "--checkpoint", str(out / "best.npz"), "--data-root", data_root])
    assert info.value.code == 0
    assert f"loss {results['test_loss']:.4f}" in capsys.readouterr().out
