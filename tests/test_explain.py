"""minicnn.explain and `minicnn explain`: the printed steps recompute conv2d, max pooling and
batch norm by hand; the arrays and the printed numbers must equal minicnn's kernels (the C ones
on "cpu") and PyTorch's."""
import io
import re

import numpy as np
import pytest

from minicnn import cli, explain
from minicnn.backends import BACKENDS, reference


def printed(text, title):
    """The numbers printed under the line ``title:`` (up to the next unindented line), without
    the row labels (k=0, (c,i,j))."""
    lines = text.splitlines()
    start = lines.index(f"{title}:") + 1
    rows = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        rows.append([float(v) for v in line.split() if not re.search(r"[=(]", v)])  # no labels
    return np.array(rows)


@pytest.mark.parametrize("kwargs", [
    {}, {"padding": 1}, {"stride": 2, "padding": 1}, {"dilation": 2, "padding": 1},
])
def test_conv2d_steps(torch, kwargs):
    out = io.StringIO()
    r = explain.conv2d(**kwargs, file=out)
    text = out.getvalue()
    s, p, d = kwargs.get("stride", 1), kwargs.get("padding", 0), kwargs.get("dilation", 1)
    geometry = (2, 2, s, s, p, p, d, d)
    np.testing.assert_array_equal(r["cols"], BACKENDS["cpu"].im2col(r["x"], *geometry))
    np.testing.assert_array_equal(r["cols"], reference.im2col(r["x"], *geometry))
    expected = torch.nn.functional.conv2d(torch.from_numpy(r["x"][None]),
                                          torch.from_numpy(r["weight"]),
                                          torch.from_numpy(r["bias"]), s, p, d)[0].numpy()
    np.testing.assert_array_equal(r["output"], expected)
    np.testing.assert_array_equal(r["minicnn_output"], expected)
    for k in range(2):  # what is printed is what the kernels compute
        np.testing.assert_array_equal(printed(text, f"y[{k}]"), r["minicnn_output"][k])
    np.testing.assert_array_equal(printed(text, f"GEMM: weight matrix @ columns = (2, "
                                                f"{r['cols'].shape[1]})"),
                                  r["weight_matrix"] @ r["cols"])
    first = re.search(r"^y\[0, 0, 0\] = .* = (\S+)$", text, re.M).group(1)
    assert float(first) == expected[0, 0, 0]
    assert "max difference 0\n" in text


def test_conv2d_on_given_floats(torch, rng):
    x, w, b = rng.standard_normal((3, 5, 6)), rng.standard_normal((4, 3, 3, 2)), None
    r = explain.conv2d(x, w, b, stride=2, padding=1, file=io.StringIO())
    expected = torch.nn.functional.conv2d(torch.from_numpy(x[None]), torch.from_numpy(w),
                                          stride=2, padding=1)[0].numpy()
    np.testing.assert_allclose(r["output"], expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(r["minicnn_output"], expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"weight must be \(K, C=3, kh, kw\)"):
        explain.conv2d(x, w[:, :2], file=io.StringIO())
    with pytest.raises(ValueError, match="x must be one image"):
        explain.conv2d(np.zeros((2, 3, 5, 5)), w, file=io.StringIO())


@pytest.mark.parametrize("kwargs", [{}, {"kernel_size": 3, "stride": 1, "padding": 1},
                                    {"kernel_size": 3, "stride": 2}])
def test_max_pool2d_steps(torch, kwargs):
    out = io.StringIO()
    r = explain.max_pool2d(**kwargs, file=out)
    text = out.getvalue()
    x = torch.tensor(r["x"][None], requires_grad=True)
    k = kwargs.get("kernel_size", 2)
    y, idx = torch.nn.functional.max_pool2d(x, k, kwargs.get("stride"), kwargs.get("padding", 0),
                                            return_indices=True)
    y.sum().backward()
    for mine in (r["output"], r["minicnn_output"], printed(text, "y[0]")[None]):
        np.testing.assert_array_equal(mine, y[0].detach().numpy())
    for mine in (r["indices"], r["minicnn_indices"], printed(text, "indices[0]")[None]):
        np.testing.assert_array_equal(mine, idx[0].numpy())
    for mine in (r["grad_input"], r["minicnn_grad_input"], printed(text, "grad_input[0]")[None]):
        np.testing.assert_array_equal(mine, x.grad[0].numpy())
    with pytest.raises(ValueError, match="padding should be at most half of kernel_size"):
        explain.max_pool2d(kernel_size=2, padding=2, file=out)


def test_batch_norm_steps(torch):
    out = io.StringIO()
    r = explain.batch_norm(file=out)
    text = out.getvalue()
    x = torch.tensor((np.arange(16) * 5 % 7).reshape(2, 2, 2, 2), dtype=torch.float64,
                     requires_grad=True)
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    rm, rv = torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    y = torch.nn.functional.batch_norm(x, rm, rv, w, b, training=True)
    g = torch.from_numpy((np.arange(16) % 3 - 1).reshape(2, 2, 2, 2).astype(np.float64))
    y.backward(g)
    want = dict(output=y.detach().numpy(), running_mean=rm.numpy(), running_var=rv.numpy(),
                grad_input=x.grad.numpy(), grad_weight=w.grad.numpy(), grad_bias=b.grad.numpy())
    for key, value in want.items():
        np.testing.assert_allclose(r[key], value, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(r["minicnn_" + key], value, rtol=1e-12, atol=1e-14)
    for c in range(2):  # printed to 4 significant digits
        np.testing.assert_allclose(printed(text, f"grad_input[:, {c}]")[0],
                                   want["grad_input"][:, c].ravel(), rtol=1e-3, atol=1e-4)
    assert f"dbeta = {want['grad_bias'][1]:g}" in text
    with pytest.raises(ValueError, match=r"weight must be \(2,\)"):
        explain.batch_norm(np.ones((2, 2, 1, 1)), weight=[1.0], file=out)


def run(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_cli(capsys):
    code, out, _ = run(capsys, "explain", "conv2d", "--stride", "2", "--padding", "1")
    assert code == 0 and "im2col: the column matrix (8, 9)" in out
    assert "stride 2, padding 1, dilation 1" in out
    code, out, _ = run(capsys, "explain", "maxpool", "--kernel-size", "3", "--stride", "1")
    assert code == 0 and "kernel_size 3, stride 1" in out
    code, out, _ = run(capsys, "explain", "batchnorm")
    assert code == 0 and "dgamma" in out
    code, _, err = run(capsys, "explain", "maxpool", "--padding", "5")
    assert code == 2 and "padding should be at most half" in err and "Traceback" not in err
