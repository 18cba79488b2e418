"""minicnn.onnx.export and ``minicnn export``: every op of the table on a small model, every zoo
model, run by onnxruntime on random input and compared with minicnn's eval output; the graph
passes onnx.checker (full check); dynamic batch; names; errors; the command line.

The criterion of agreement: max |onnxruntime - minicnn| <= 1e-4 * max(1, max |minicnn|) (an
absolute 1e-4 for outputs of order 1, relative for larger ones: the deep CIFAR ResNets with
random batch-norm statistics reach 1e5 and beyond)."""
import io
import os
import sys

import numpy as np
import pytest

import minicnn
import minicnn.nn.functional as F
import minicnn.onnx
from minicnn import cli, models, nn
from minicnn.autograd import Function

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py

ATOL = 1e-4


@pytest.fixture(scope="module")
def ort():
    pytest.importorskip("onnx", reason="onnx is not installed (pip install -e '.[onnx]')")
    return pytest.importorskip("onnxruntime",
                               reason="onnxruntime is not installed (pip install -e '.[onnx]')")


def _session(ort, data):
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3  # no warnings about unused initializers and the like
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _export(model, x, **kwargs):
    """The exported model's bytes and its parsed proto (checked again here, fully)."""
    import onnx

    buf = io.BytesIO()
    minicnn.onnx.export(model, x, buf, **kwargs)
    data = buf.getvalue()
    onnx.checker.check_model(data, full_check=True)
    return data, onnx.load_from_string(data)


def _eval(model, x):
    with minicnn.no_grad():
        return model(minicnn.tensor(x)).numpy()


def _assert_close(actual, expected):
    diff = float(np.abs(actual - expected).max())
    assert diff <= ATOL * max(1.0, float(np.abs(expected).max())), diff
    return diff


def check(ort, model, shape, run_batch=3, seed=0, **kwargs):
    """Export ``model`` with a batch of 1 of ``shape`` (C, H, W ...), run the ONNX model on a
    batch of ``run_batch`` and compare with minicnn's eval output. Returns (proto, max diff)."""
    model.eval()
    rng = np.random.default_rng(seed)
    x1 = rng.standard_normal((1, *shape)).astype(np.float32)
    data, proto = _export(model, minicnn.tensor(x1), **kwargs)
    x = rng.standard_normal((run_batch, *shape)).astype(np.float32)
    (y,) = _session(ort, data).run(None, {"input": x})
    return proto, _assert_close(y, _eval(model, x))


def op_types(proto):
    return {n.op_type for n in proto.graph.node}


class Lambda(nn.Module):
    """``fn(self, x)`` as forward; ``layers`` become its sub-modules ``layers.0``, ..."""

    def __init__(self, fn, *layers):
        super().__init__()
        self.fn = fn
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        return self.fn(self, x)


def _bn(c, affine=True, eps=1e-5):
    bn = nn.BatchNorm2d(c, eps=eps, affine=affine)
    g = np.random.default_rng(c)
    bn.running_mean._data[:] = g.uniform(-0.5, 0.5, c)
    bn.running_var._data[:] = g.uniform(0.5, 1.5, c)
    if affine:
        bn.weight._data[:] = g.uniform(0.5, 1.5, c)
        bn.bias._data[:] = g.uniform(-0.5, 0.5, c)
    return bn


# (id, model factory, input shape without the batch, op types the graph must use)
OP_CASES = [
    ("conv", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), (3, 9, 9), {"Conv"}),
    ("conv-dilation-nobias", lambda: nn.Conv2d(3, 4, (3, 2), padding=(2, 1), dilation=2,
                                               bias=False), (3, 9, 8), {"Conv"}),
    ("conv-depthwise", lambda: nn.Conv2d(4, 8, 3, groups=4), (4, 7, 7), {"Conv"}),
    ("conv-same-even-kernel", lambda: nn.Conv2d(2, 3, 4, padding="same"), (2, 7, 7),
     {"Pad", "Conv"}),
    ("conv-transpose", lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1,
                                                  output_padding=1), (4, 5, 5),
     {"ConvTranspose"}),
    ("conv-transpose-groups-dilation", lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2,
                                                                  dilation=2), (4, 4, 5),
     {"ConvTranspose"}),
    ("conv-transpose-output-padding-above-stride",
     lambda: nn.ConvTranspose2d(2, 2, 3, stride=1, dilation=3, output_padding=2), (2, 4, 4),
     {"ConvTranspose"}),
    ("batchnorm", lambda: _bn(3), (3, 4, 4), {"BatchNormalization"}),
    ("batchnorm-no-affine-eps", lambda: _bn(3, affine=False, eps=1e-3), (3, 4, 4),
     {"BatchNormalization"}),
    ("maxpool-ceil-padding", lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), (2, 8, 8),
     {"MaxPool"}),
    ("maxpool-dilation", lambda: nn.MaxPool2d(2, 1, dilation=2), (2, 6, 7), {"MaxPool"}),
    ("avgpool-exclude-pad", lambda: nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
     (2, 7, 7), {"AveragePool"}),
    ("avgpool-ceil", lambda: nn.AvgPool2d(3, 2, ceil_mode=True), (2, 8, 8), {"AveragePool"}),
    ("avgpool-ceil-include-pad", lambda: nn.AvgPool2d(2, 2, padding=1, ceil_mode=True),
     (2, 6, 6), {"AveragePool"}),
    ("adaptive-avg-global", lambda: nn.AdaptiveAvgPool2d(1), (3, 5, 6), {"GlobalAveragePool"}),
    ("adaptive-avg-divisible", lambda: nn.AdaptiveAvgPool2d((2, 3)), (3, 8, 6),
     {"AveragePool"}),
    ("adaptive-avg-uneven", lambda: nn.AdaptiveAvgPool2d(3), (3, 7, 5), {"MatMul"}),
    ("adaptive-avg-upsampling", lambda: nn.AdaptiveAvgPool2d(6), (3, 1, 2), {"MatMul"}),
    ("adaptive-max-global", lambda: nn.AdaptiveMaxPool2d(1), (3, 5, 6), {"GlobalMaxPool"}),
    ("adaptive-max-divisible", lambda: nn.AdaptiveMaxPool2d((2, 3)), (3, 8, 6), {"MaxPool"}),
    ("relu", lambda: nn.ReLU(), (5,), {"Relu"}),
    ("relu6", lambda: nn.ReLU6(), (3, 4, 4), {"Clip"}),
    ("hardtanh", lambda: nn.Hardtanh(-0.5, 0.25), (7,), {"Clip"}),
    ("clamp-min-only", lambda: Lambda(lambda m, x: x.clamp(min=0.1)), (6,), {"Clip"}),
    ("clamp-tensor-bounds", lambda: Lambda(lambda m, x: x.clamp(min=minicnn.zeros(6) - 0.5,
                                                               max=0.25)), (6,), {"Max", "Min"}),
    ("leaky-relu", lambda: nn.LeakyReLU(0.2), (6,), {"LeakyRelu"}),
    ("gelu", lambda: nn.GELU(), (3, 4), {"Erf"}),
    ("gelu-tanh", lambda: nn.GELU(approximate="tanh"), (3, 4), {"Tanh"}),
    ("silu", lambda: nn.SiLU(), (3, 4), {"Sigmoid", "Mul"}),
    ("sigmoid", lambda: nn.Sigmoid(), (3, 4), {"Sigmoid"}),
    ("tanh", lambda: nn.Tanh(), (3, 4), {"Tanh"}),
    ("hardswish", lambda: nn.Hardswish(), (2, 4, 4), {"HardSwish"}),
    ("hardsigmoid-module", lambda: nn.Hardsigmoid(), (2, 4, 4), {"HardSigmoid"}),
    ("hardsigmoid-functional", lambda: Lambda(lambda m, x: F.hardsigmoid(x)), (2, 4, 4),
     {"Add", "Clip", "Div"}),
    ("softmax", lambda: nn.Softmax(dim=1), (5, 2), {"Softmax"}),
    ("log-softmax", lambda: nn.LogSoftmax(dim=-1), (2, 5), {"LogSoftmax"}),
    ("arithmetic-broadcast-scalars",
     lambda: Lambda(lambda m, x: (x * 2.0 + 1.0 - x.mean((2, 3), keepdim=True)) / 3.0),
     (2, 3, 3), {"Mul", "Add", "Sub", "Div", "ReduceMean"}),
    ("arithmetic-reversed-scalars", lambda: Lambda(lambda m, x: 1.0 - x * x / (x.abs() + 1.0)),
     (4,), {"Sub", "Mul", "Div", "Abs"}),
    ("add-alpha-pow", lambda: Lambda(lambda m, x: minicnn.add(x, x ** 2, alpha=0.5)), (4,),
     {"Pow", "Mul", "Add"}),
    ("maximum-exp-log", lambda: Lambda(lambda m, x: minicnn.maximum(x.exp(), x.abs().log())),
     (4,), {"Max", "Exp", "Log"}),
    ("cat", lambda: Lambda(lambda m, x: minicnn.cat([x, m.layers[0](x), x * 2], 1),
                           nn.Conv2d(2, 3, 1)), (2, 3, 3), {"Concat"}),
    ("flatten-linear", lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 5)), (3, 2, 2),
     {"Reshape", "Gemm"}),
    ("view-reshape", lambda: Lambda(lambda m, x: x.view(x.shape[0], 2, -1).reshape(
        x.shape[0], -1)), (4, 3), {"Reshape"}),
    ("permute-transpose", lambda: Lambda(lambda m, x: x.permute(0, 2, 3, 1).transpose(1, 2)),
     (2, 3, 4), {"Transpose"}),
    ("linear-3d-matmul", lambda: nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2, bias=False)),
     (5, 4), {"MatMul", "Transpose", "Add"}),
    ("matmul-constant", lambda: Lambda(lambda m, x: x @ minicnn.ones(4, 2)), (3, 4), {"MatMul"}),
    ("dropout-dropped", lambda: nn.Sequential(nn.Dropout2d(0.3), nn.Flatten(), nn.Dropout(0.5),
                                              nn.Linear(8, 2)), (2, 2, 2), {"Gemm"}),
    ("reductions", lambda: Lambda(lambda m, x: x.sum((1,)) + x.amax(2).mean(1, keepdim=True)),
     (3, 4), {"ReduceSum", "ReduceMax", "ReduceMean"}),
    ("layer-norm", lambda: nn.LayerNorm((3, 4)), (2, 3, 4), {"LayerNormalization"}),
    ("layer-norm-no-affine", lambda: nn.LayerNorm(4, elementwise_affine=False), (3, 4),
     {"LayerNormalization"}),
    ("group-norm", lambda: nn.GroupNorm(2, 4), (4, 3, 3), {"InstanceNormalization"}),
    ("instance-norm", lambda: nn.InstanceNorm2d(3, affine=True), (3, 4, 4),
     {"InstanceNormalization"}),
    ("slicing", lambda: Lambda(lambda m, x: x[:, 1:, ::2, ::-1]), (3, 5, 6), {"Slice"}),
    ("int-index-none-ellipsis", lambda: Lambda(lambda m, x: x[:, 1, None, ..., -1]), (3, 4, 5),
     {"Gather", "Unsqueeze"}),
    ("array-index", lambda: Lambda(lambda m, x: x[:, [2, 0, 2]]), (3, 4), {"Gather"}),
    ("chunk", lambda: Lambda(lambda m, x: x.chunk(2, dim=1)[1] * 2), (4, 3), {"Slice"}),
    ("pad-constant-crop", lambda: Lambda(lambda m, x: F.pad(x, (1, -1, 2, 0), value=0.5)),
     (2, 4, 4), {"Pad"}),
    ("pad-reflect-replicate", lambda: Lambda(lambda m, x: F.pad(F.pad(x, (2, 1), "reflect"),
                                                                (1, 1, 0, 2), "replicate")),
     (2, 4, 5), {"Gather"}),
    ("stack-expand", lambda: Lambda(lambda m, x: minicnn.stack([x, x + 1], 1)
                                    + minicnn.ones(1, 4).expand(2, 4)), (4,),
     {"Concat", "Unsqueeze", "Expand"}),
    ("channel-shuffle", lambda: Lambda(lambda m, x: models.shufflenet.channel_shuffle(x, 2)),
     (4, 2, 2), {"Reshape", "Transpose"}),
    ("clone-contiguous", lambda: Lambda(lambda m, x: x.transpose(1, 2).contiguous().clone()),
     (2, 3), {"Identity"}),
    ("expand-batched", lambda: Lambda(lambda m, x: x.unsqueeze(1).expand(-1, 2, -1) * 1.5),
     (3,), {"Expand"}),
    ("unary-math", lambda: Lambda(lambda m, x: (x.sin() + x.cos()).floor() + x.ceil()
                                  + x.sign() * x.abs().sqrt() - (x.abs() + 1).reciprocal()
                                  + x.neg().erf()), (5,),
     {"Sin", "Cos", "Floor", "Ceil", "Sign", "Sqrt", "Reciprocal", "Neg", "Erf"}),
    ("cast", lambda: Lambda(lambda m, x: (x.double() * 3).float()), (3,), {"Cast"}),
    ("addmm", lambda: Lambda(lambda m, x: minicnn.addmm(minicnn.ones(2), x, minicnn.ones(3, 2),
                                                        beta=0.5, alpha=2.0)), (3,), {"Gemm"}),
    ("bias-add", lambda: Lambda(lambda m, x: minicnn.ops.bias_add(x, minicnn.arange(3.0))),
     (3, 2, 2), {"Reshape", "Add"}),
    ("instance-norm-running-stats",
     lambda: nn.InstanceNorm2d(3, track_running_stats=True), (3, 4, 4),
     {"BatchNormalization"}),
]


@pytest.mark.parametrize("case", OP_CASES, ids=[c[0] for c in OP_CASES])
def test_op(ort, case):
    _, make, shape, expected = case
    minicnn.manual_seed(0)
    proto, _ = check(ort, make(), shape)
    assert expected <= op_types(proto)


# ------------------------------------------------------------------ the zoo

# Every zoo model, with 10 classes (the default heads: CIFAR for VGG), on the smallest input of
# its family that keeps it meaningful: 28x28 digits (lenet5, simple_cnn), 32x32 for the CIFAR
# models and for the ImageNet ones (total stride 32: the last maps are 1x1), 63x63 for AlexNet
# (the smallest its ImageNet stem takes), 8x8 for WRN-28-10 (its 5 GFLOPs at 32x32 would take
# 10 s; it ends in an adaptive pool). The HEAVY ones (5-15 s each on one thread, mostly building
# and serializing 36-67M parameters) run with MINICNN_TEST_HEAVY=1.
ZOO_SHAPES = {"lenet5": (1, 28, 28), "simple_cnn": (1, 28, 28), "alexnet": (3, 63, 63),
              "wrn_28_10": (3, 8, 8)}
HEAVY = {"wrn_28_10", "alexnet", "resnet101", "resnet152", "wide_resnet50_2",
         "efficientnet_b6", "efficientnet_b7"}


def zoo_shape(name):
    return ZOO_SHAPES.get(name, (3, 32, 32))


def randomize_norms(model):
    """Non-trivial batch-norm statistics, affine parameters and layer scales: a zero-initialized
    last BN in a residual block or a layer scale of 1e-6 would hide their branches."""
    g = np.random.default_rng(1)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
            m.weight._data[:] = g.uniform(0.5, 1.5, m.weight.shape)
            m.bias._data[:] = g.uniform(-0.2, 0.2, m.bias.shape)
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean._data[:] = g.uniform(-0.2, 0.2, m.running_mean.shape)
            m.running_var._data[:] = g.uniform(0.5, 1.5, m.running_var.shape)
    for name, p in model.named_parameters():
        if name.endswith("layer_scale"):
            p._data[:] = g.uniform(0.5, 1.5, p.shape)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.skipif(
        n in HEAVY and os.environ.get("MINICNN_TEST_HEAVY") != "1",
        reason="heavy model: set MINICNN_TEST_HEAVY=1")) for n in models.list_models()])
def test_zoo_model(ort, name):
    minicnn.manual_seed(0)
    model = models.get_model(name, num_classes=10)
    randomize_norms(model)
    check(ort, model, zoo_shape(name), run_batch=2)


# ------------------------------------------------------------------ graph, names, batch


def test_names_and_initializers(ort):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), _bn(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    data, proto = _export(model, minicnn.zeros(1, 1, 4, 4))
    g = proto.graph
    params = {i.name for i in g.initializer} & set(model.state_dict())
    assert params == {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                      "1.running_var", "4.weight", "4.bias"}  # only those the graph reads
    assert [n.name for n in g.node] == ["0/Conv", "1/BatchNormalization", "2/Relu", "3/Reshape",
                                        "4/Gemm"]
    assert [i.name for i in g.input] == ["input"] and [o.name for o in g.output] == ["output"]
    assert g.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.opset_import[0].version == 17 and proto.producer_name == "minicnn"
    weights = {i.name: i for i in g.initializer}
    import onnx.numpy_helper as nh
    np.testing.assert_array_equal(nh.to_array(weights["0.weight"]),
                                  model[0].weight.detach().numpy())


def test_dynamic_batch(ort):
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(12, 2))
    data, _ = _export(model, minicnn.zeros(1, 2, 4, 4))
    x = np.random.default_rng(0).standard_normal((3, 2, 4, 4)).astype(np.float32)
    (y,) = _session(ort, data).run(None, {"input": x})
    assert y.shape == (3, 2)
    _assert_close(y, _eval(model, x))
    static, proto = _export(model, minicnn.zeros(1, 2, 4, 4), dynamic_batch=False)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    with pytest.raises(Exception, match="[Ii]nvalid|dimension"):
        _session(ort, static).run(None, {"input": x})


def test_a_reshape_across_the_batch_needs_a_static_batch(ort):
    model = Lambda(lambda m, x: (x.reshape(-1) * 2).reshape(2, -1))
    with pytest.raises(minicnn.onnx.ExportError,
                       match=r"cannot export op 'Reshape' in the top-level module \(Lambda\) to "
                       r"ONNX opset 17: the reshape \(2, 3\) -> \(6,\) merges or splits the batch "
                       r"dimension \(axis 0\); export with dynamic_batch=False"):
        _export(model, minicnn.zeros(2, 3))
    data, _ = _export(model, minicnn.zeros(2, 3), dynamic_batch=False)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    _assert_close(_session(ort, data).run(None, {"input": x})[0], _eval(model, x))


def test_unbatched_pooling_with_a_static_batch(ort):
    """Pooling an unbatched (C, H, W) tensor (here a sample of the batch, so the batch is
    static): ONNX pools (N, C, H, W), the converter adds and removes the N."""
    model = Lambda(lambda m, x: F.max_pool2d(x[0], 2) + F.avg_pool2d(x[0], 2)
                   + F.adaptive_avg_pool2d(x[0], 1) + F.adaptive_max_pool2d(x[0], 2))
    proto, _ = check(ort, model, (2, 4, 4), run_batch=1, dynamic_batch=False)
    assert {"MaxPool", "AveragePool", "GlobalAveragePool", "Unsqueeze", "Squeeze"} <= \
        op_types(proto)


def test_several_inputs_and_outputs_with_names(ort):
    model = _TwoInOut()
    x, y = minicnn.ones(1, 3), minicnn.ones(1, 3) * 2
    data, proto = _export(model, (x, y), input_names=["a", "b"], output_names=["sum", "a_again"])
    assert [i.name for i in proto.graph.input] == ["a", "b"]
    assert [o.name for o in proto.graph.output] == ["sum", "a_again"]
    a = np.ones((2, 3), np.float32)
    b = np.full((2, 3), 2.0, np.float32)
    total, again = _session(ort, data).run(None, {"a": a, "b": b})
    np.testing.assert_allclose(total, a + b)
    np.testing.assert_array_equal(again, a)


class _TwoInOut(nn.Module):
    def forward(self, a, b):
        return a + b, a


def test_opset_18_and_20(ort):
    model = Lambda(lambda m, x: F.gelu(x.mean((1,), keepdim=True)) + x.amax(1, keepdim=True))
    for opset in (18, 20):
        proto, _ = check(ort, model, (3, 4), opset_version=opset)
        assert proto.opset_import[0].version == opset


def test_float64_model(ort):
    """A float64 model exports float64 initializers and constants (onnxruntime's CPU kernels
    have float64 for these ops, not for Conv or Erf)."""
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU6(), nn.LayerNorm(4)).double().eval()
    data, proto = _export(model, minicnn.zeros(1, 3, dtype=minicnn.float64))
    assert {i.data_type for i in proto.graph.initializer} == {11}  # DOUBLE
    x = np.random.default_rng(0).standard_normal((2, 3))
    (y,) = _session(ort, data).run(None, {"input": x})
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, _eval(model, x), rtol=1e-9, atol=1e-9)  # float32: ~1e-7


def test_file_path_and_metadata(ort, tmp_path):
    path = tmp_path / "m.onnx"
    minicnn.onnx.export(nn.Linear(3, 2), minicnn.zeros(1, 3), path, metadata={"k": "v"})
    import onnx
    proto = onnx.load(str(path))
    assert {p.key: p.value for p in proto.metadata_props} == {"k": "v"}
    minicnn.onnx.export(nn.Linear(3, 2), minicnn.zeros(1, 3), str(path))
    assert onnx.load(str(path)).graph.node[0].op_type == "Gemm"


def test_modes_are_restored(ort):
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5), nn.Sequential(nn.BatchNorm1d(3)))
    model[2].eval()
    _export(model, minicnn.zeros(2, 3))
    assert model.training and model[1].training and not model[2].training
    assert not model[2][0].training
    model.eval()
    _export(model, minicnn.zeros(2, 3))
    assert not any(m.training for m in model.modules())
    bad = Lambda(lambda m, x: m.layers[0](x), nn.AdaptiveMaxPool2d(3)).train()
    with pytest.raises(minicnn.onnx.ExportError):
        _export(bad, minicnn.zeros(1, 1, 4, 4))
    assert bad.training and bad.layers[0].training
    assert minicnn.autograd._tracer is None  # the hook is gone after an error too


# ------------------------------------------------------------------ errors


class CubeFn(Function):
    @staticmethod
    def forward(ctx, x):
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        raise NotImplementedError


class Cube(nn.Module):
    def forward(self, x):
        return CubeFn.apply(x)


@pytest.mark.parametrize("model, shape, message", [
    (nn.Sequential(nn.Conv2d(1, 1, 1), nn.Sequential(nn.ReLU(), Cube())), (1, 2, 2),
     "cannot export op 'CubeFn' in module '1.1' (Cube) to ONNX opset 17: minicnn.onnx has no "
     "conversion for it"),
    (nn.Sequential(nn.Identity(), Lambda(lambda m, x: F.lp_pool2d(x, 2, 2))), (1, 4, 4),
     "cannot export op 'LpRoot' in module '1' (Lambda) to ONNX opset 17"),
    (nn.Sequential(nn.AdaptiveMaxPool2d(3)), (1, 4, 4),
     "cannot export op 'AdaptiveMaxPool2d' in module '0' (AdaptiveMaxPool2d) to ONNX opset 17: "
     "output size (3, 3) does not divide the input's (4, 4)"),
    (nn.Sequential(nn.AvgPool2d(2, divisor_override=3)), (1, 4, 4),
     "op 'AvgPool2d' in module '0' (AvgPool2d) to ONNX opset 17: divisor_override=3"),
    (nn.Sequential(nn.MaxPool2d(2, return_indices=True)), (1, 4, 4),
     "op 'MaxPool2d' in module '0' (MaxPool2d) to ONNX opset 17: return_indices=True"),
    (nn.Sequential(nn.BatchNorm2d(1, track_running_stats=False)), (1, 2, 2),
     "op 'BatchNorm' in module '0' (BatchNorm2d) to ONNX opset 17: it normalizes with the "
     "batch's statistics"),
    (Lambda(lambda m, x: x[0]), (3,), "op 'GetItem' in the top-level module (Lambda) to ONNX "
     "opset 17: it indexes the batch dimension; export with dynamic_batch=False"),
    (Lambda(lambda m, x: x.mean()), (3,), "op 'Mean' in the top-level module (Lambda) to ONNX "
     "opset 17: it reduces over the batch dimension"),
    (Lambda(lambda m, x: x[:, minicnn.tensor([True, False, True])]), (3,),
     "advanced indexing beyond one 1-D integer array (boolean masks"),
    (Lambda(lambda m, x: F.relu(m.layers[0](x), inplace=True) + m.layers[0].weight.sum(),
            nn.Linear(2, 2)),
     (2,), "was modified in place after it was computed"),
    (Lambda(lambda m, x: x + x.detach()), (2,), "shares memory with the traced value 'input'"),
    (Lambda(lambda m, x: F.dropout(x, 0.5, training=True)), (2,),
     "op 'Dropout' in the top-level module (Lambda) to ONNX opset 17: dropout with "
     "training=True"),
])
def test_unsupported_ops_name_the_module_and_the_op(ort, model, shape, message):
    with pytest.raises(minicnn.onnx.ExportError) as info:
        _export(model.eval(), minicnn.ones(2, *shape))
    assert str(info.value).startswith("minicnn.onnx.export: ")
    assert message in str(info.value)


def test_a_converter_for_your_own_function(ort, monkeypatch):
    """docs/21-onnx-export.md: a Function exports once OPS has a converter for it."""
    monkeypatch.setitem(minicnn.onnx.OPS, CubeFn,
                        lambda call: call.node("Pow", [call.input(0), call.const(3.0)]))
    proto, _ = check(ort, nn.Sequential(nn.Linear(3, 3), Cube()), (3,))
    assert [n.name for n in proto.graph.node] == ["0/Gemm", "1/Pow"]


def test_bad_arguments(ort):
    x = minicnn.zeros(1, 3)
    lin = nn.Linear(3, 2)
    buf = io.BytesIO()
    with pytest.raises(TypeError, match="model must be a minicnn.nn.Module, got function"):
        minicnn.onnx.export(lambda x: x, x, buf)
    with pytest.raises(TypeError, match="args must be a Tensor or a tuple of Tensors.*ndarray"):
        minicnn.onnx.export(lin, np.zeros((1, 3)), buf)
    with pytest.raises(ValueError, match="opset_version must be an int from 17 to 20, got 16"):
        minicnn.onnx.export(lin, x, buf, opset_version=16)
    with pytest.raises(TypeError, match="f must be a path or a binary file object, got int"):
        minicnn.onnx.export(lin, x, 3)
    with pytest.raises(ValueError, match=r"input_names must be 1 non-empty string\(s\)"):
        minicnn.onnx.export(lin, x, buf, input_names=["a", "b"])
    with pytest.raises(ValueError, match="output name 'weight' is already"):
        minicnn.onnx.export(lin, x, buf, output_names=["weight"])
    with pytest.raises(TypeError, match="dynamic_batch must be a bool"):
        minicnn.onnx.export(lin, x, buf, dynamic_batch=None)
    assert buf.getvalue() == b""


def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    with pytest.raises(ImportError, match=r"needs the onnx package: pip install -e '\.\[onnx\]'"):
        minicnn.onnx.export(nn.Linear(2, 2), minicnn.zeros(1, 2), io.BytesIO())


def test_other_threads_are_not_traced(ort):
    """An op of another thread during the export runs normally and stays out of the graph."""
    import threading

    seen = []

    def work():
        seen.append(minicnn.ones(2) * 3)

    def fn(m, x):
        t = threading.Thread(target=work)
        t.start()
        t.join()
        return x + 1

    _, proto = _export(Lambda(fn), minicnn.zeros(1, 2))
    assert [n.op_type for n in proto.graph.node] == ["Add"]
    assert seen[0].tolist() == [3.0, 3.0]


def test_one_export_at_a_time(ort):
    inner = nn.Linear(2, 2)

    def fn(m, x):
        minicnn.onnx.export(inner, x, io.BytesIO())
        return x

    with pytest.raises(RuntimeError, match="another export is running"):
        _export(Lambda(fn), minicnn.zeros(1, 2))
    assert minicnn.autograd._tracer is None
    _export(inner, minicnn.zeros(1, 2))


# ------------------------------------------------------------------ the command line


def _checkpoint(path, model_name="lenet5"):
    """A minimal checkpoint of minicnn train (what eval, summary and export read)."""
    from minicnn.training.rundir import CHECKPOINT_FORMAT

    model = models.get_model(model_name, num_classes=3, in_channels=1)
    minicnn.save({"format": CHECKPOINT_FORMAT, "model": model.state_dict(),
                  "config": {"model": model_name},
                  "dataset": {"classes": ["a", "b", "c"], "channels": 1, "image_size": [28, 28],
                              "mean": [0.5], "std": [0.25]}}, path)
    return model


def test_cli_export(ort, tmp_path, capsys):
    import json

    import onnx

    run = tmp_path / "run"
    run.mkdir()
    model = _checkpoint(run / "best.npz")
    with pytest.raises(SystemExit) as info:
        cli.main(["export", str(run), "--format", "onnx"])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    path = run / "best.onnx"
    assert f"wrote {path}: lenet5 as ONNX opset 17" in out and "(batch, 1, 28, 28)" in out
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["classes"]) == ["a", "b", "c"] and json.loads(meta["std"]) == [0.25]
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    (y,) = _session(ort, str(path)).run(None, {"input": x})
    _assert_close(y, _eval(model.eval(), x))

    _checkpoint(tmp_path / "resnet20.npz", "resnet20")  # any input size
    with pytest.raises(SystemExit) as info:
        cli.main(["export", str(tmp_path / "resnet20.npz"), "--out", str(tmp_path / "x.onnx"),
                  "--opset", "18", "--input-shape", "1,16,12"])
    assert info.value.code == 0
    proto = onnx.load(str(tmp_path / "x.onnx"))
    assert proto.opset_import[0].version == 18
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [0, 1, 16, 12]


@pytest.mark.parametrize("argv, code, message", [
    (["{run}", "--opset", "16"], 2, "--opset must be from 17 to 20, got 16"),
    (["{run}", "--format", "tflite"], 2, "argument --format: invalid choice: 'tflite'"),
    (["{run}", "--input-shape", "1,8,8"], 2, "model 'lenet5' does not accept input shape 1,8,8"),
    (["{tmp}/none"], 1, "none: no such checkpoint file or run directory"),
])
def test_cli_export_errors(ort, tmp_path, capsys, argv, code, message):
    _checkpoint(tmp_path / "best.npz")
    argv = [a.format(run=tmp_path, tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as info:
        cli.main(["export", *argv])
    _, err = capsys.readouterr()
    assert info.value.code == code and message in err


def test_cli_export_without_onnx(tmp_path, capsys, monkeypatch):
    _checkpoint(tmp_path / "best.npz")
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(SystemExit) as info:
        cli.main(["export", str(tmp_path)])
    _, err = capsys.readouterr()
    assert info.value.code == 1
    assert "minicnn: error: minicnn.onnx.export needs the onnx package: pip install -e " in err
    assert not (tmp_path / "best.onnx").exists()
