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
    the row and column labels (k=0, (c,i,j))."""
    lines = text.splitlines()
    start = lines.index(f"{title}:") + 1
    rows = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        row = [float(v) for v in line.split() if not re.search(r"[=(]", v)]  # no labels
        if row:  # not the column labels' line
            rows.append(row)
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


@pytest.mark.parametrize("kwargs", [
    {}, {"groups": 2}, {"groups": 2, "in_channels": 4, "stride": 2, "padding": 1},
    {"groups": 3, "dilation": 2, "padding": 1}, {"padding": 1, "stride": 2},
])
def test_conv2d_backward_steps(torch, kwargs):
    out = io.StringIO()
    r = explain.conv2d(**kwargs, backward=True, file=out)
    text = out.getvalue()
    s, p, d = kwargs.get("stride", 1), kwargs.get("padding", 0), kwargs.get("dilation", 1)
    G = kwargs.get("groups", 1)
    assert r["x"].shape[0] == kwargs.get("in_channels", 2 if 2 % G == 0 else G)
    x, w, b = (torch.tensor(r[k], requires_grad=True) for k in ("x", "weight", "bias"))
    y = torch.nn.functional.conv2d(x[None], w, b, s, p, d, G)
    y.backward(torch.from_numpy(r["grad_output"][None]))
    want = dict(output=y[0].detach().numpy(), grad_input=x.grad.numpy(),
                grad_weight=w.grad.numpy(), grad_bias=b.grad.numpy())
    for key, value in want.items():  # integer-valued: exact
        np.testing.assert_array_equal(r[key], value)
        np.testing.assert_array_equal(r["minicnn_" + key], value)
    np.testing.assert_array_equal(r["kernel_col2im"], want["grad_input"])
    C, K = r["x"].shape[0], r["weight"].shape[0]
    for c in range(C):  # what is printed is what autograd computes
        np.testing.assert_array_equal(printed(text, f"dX[{c}]"), want["grad_input"][c])
    for k in range(K):
        for c in range(C // G):
            np.testing.assert_array_equal(printed(text, f"dW[{k}, {c}]"), want["grad_weight"][k, c])
        np.testing.assert_array_equal(printed(text, f"y[{k}]"), want["output"][k])
    # the steps: dW = grad @ cols^T and W^T @ grad per group, printed as computed
    R, L = r["weight_matrix"].shape[1], r["cols"].shape[1]
    Cg, Kg = C // G, K // G
    for g in range(G):
        part = "" if G == 1 else (f" for group {g} (channels {g * Cg}..{(g + 1) * Cg - 1}, "
                                  f"filters {g * Kg}..{(g + 1) * Kg - 1})")
        rows, filters = slice(g * R, (g + 1) * R), slice(g * Kg, (g + 1) * Kg)
        gm = r["grad_output"].reshape(K, L)[filters]
        np.testing.assert_array_equal(
            printed(text, f"dW{part} = grad @ cols^T: ({K // G}, {L}) @ ({L}, {R}) = "
                          f"({K // G}, {R}), row k, column (c, i, j)"),
            gm @ r["cols"][rows].T)
        np.testing.assert_array_equal(
            printed(text, f"W^T @ grad{part}: ({R}, {K // G}) @ ({K // G}, {L}) = ({R}, {L}), the "
                          "gradient of each entry of the column matrix"),
            r["weight_matrix"][filters].T @ gm)
        np.testing.assert_array_equal(
            printed(text, f"GEMM{part}: weight matrix @ columns = ({K // G}, {L})"),
            r["weight_matrix"][filters] @ r["cols"][rows])
    assert ("depthwise" in text) == (G == C)
    assert text.count("max difference 0\n") == 5


def test_conv2d_groups_errors():
    with pytest.raises(ValueError, match=r"groups \(3\) must divide the 4 input channels"):
        explain.conv2d(groups=3, in_channels=4, file=io.StringIO())
    with pytest.raises(ValueError, match=r"weight must be \(K, C/groups=1, kh, kw\)"):
        explain.conv2d(np.ones((2, 3, 3)), np.ones((2, 2, 2, 2)), groups=2, file=io.StringIO())
    with pytest.raises(ValueError, match=r"groups \(2\) must divide the 3 filters"):
        explain.conv2d(np.ones((2, 3, 3)), np.ones((3, 1, 2, 2)), groups=2, file=io.StringIO())
    with pytest.raises(ValueError, match=r"grad_output must be \(2, 3, 3\)"):
        explain.conv2d(backward=True, grad_output=np.ones((2, 2, 2)), file=io.StringIO())


@pytest.mark.parametrize("op", [explain.max_pool2d, explain.avg_pool2d])
@pytest.mark.parametrize("kwargs", [{"kernel_size": 3, "stride": 1, "padding": 1},
                                    {"kernel_size": 3, "stride": 2, "padding": 1},
                                    {"kernel_size": 2, "stride": 1, "padding": 1}])
def test_pool_windows_stay_in_the_image(op, kwargs):
    # windows on the padding used to print rows/columns past the last one (4 of a 4x4 image)
    out = io.StringIO()
    op(**kwargs, file=out)
    windows = re.findall(r"^window \((\d+), (\d+)\): rows (-?\d+)\.\.(-?\d+), columns "
                         r"(-?\d+)\.\.(-?\d+)( \(and padding[^)]*\))?:", out.getvalue(), re.M)
    k, s, p = kwargs["kernel_size"], kwargs["stride"], kwargs["padding"]
    Ho = (4 + 2 * p - k) // s + 1
    assert len(windows) == Ho * Ho
    for oh, ow, r0, r1, c0, c1, padding in windows:
        oh, ow, r0, r1, c0, c1 = map(int, (oh, ow, r0, r1, c0, c1))
        assert (r0, r1) == (max(oh * s - p, 0), min(oh * s - p + k, 4) - 1)
        assert (c0, c1) == (max(ow * s - p, 0), min(ow * s - p + k, 4) - 1)
        assert bool(padding) == (r1 - r0 + 1 < k or c1 - c0 + 1 < k)


@pytest.mark.parametrize("kwargs", [{}, {"kernel_size": 3, "stride": 1, "padding": 1},
                                    {"kernel_size": 3, "stride": 2, "padding": 1}])
def test_avg_pool2d_steps(torch, rng, kwargs):
    out = io.StringIO()
    Ho = (4 + 2 - 3) // kwargs["stride"] + 1 if kwargs else 2
    g = None if not kwargs else rng.standard_normal((1, Ho, Ho))
    r = explain.avg_pool2d(**kwargs, grad_output=g, file=out)
    text = out.getvalue()
    x = torch.tensor(r["x"][None], requires_grad=True)
    k = kwargs.get("kernel_size", 2)
    y = torch.nn.functional.avg_pool2d(x, k, kwargs.get("stride"), kwargs.get("padding", 0))
    y.backward(torch.ones_like(y) if g is None else torch.from_numpy(g[None]))
    want = dict(output=y[0].detach().numpy(), grad_input=x.grad[0].numpy())
    for key, value in want.items():
        np.testing.assert_allclose(r[key], value, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(r["minicnn_" + key], value, rtol=1e-12, atol=1e-15)
        # printed to 4 significant digits
        name = {"output": "y[0]", "grad_input": "grad_input[0]"}[key]
        np.testing.assert_allclose(printed(text, name), value[0], rtol=1e-3, atol=1e-4)
    assert f"sum / {k * k} (count_include_pad" in text
    with pytest.raises(ValueError, match="padding should be at most half of kernel_size"):
        explain.avg_pool2d(kernel_size=2, padding=2, file=out)


def test_softmax_cross_entropy_steps(torch):
    out = io.StringIO()
    r = explain.softmax_cross_entropy(file=out)
    text = out.getvalue()
    z = torch.tensor([[2.0, 1, -1], [0, 3, 1]], dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(z, torch.tensor([0, 2]))
    loss.backward()
    p = torch.softmax(z, 1).detach().numpy()
    for mine in (r["probabilities"], r["minicnn_probabilities"]):
        np.testing.assert_allclose(mine, p, rtol=1e-12)
    for mine in (r["loss"], r["minicnn_loss"]):
        assert mine == pytest.approx(loss.item(), rel=1e-12)
    for mine in (r["grad"], r["minicnn_grad"]):
        np.testing.assert_allclose(mine, z.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(printed(text, "p"), p, rtol=1e-3)
    np.testing.assert_allclose(printed(text, "grad = (p - onehot) / N"), z.grad.numpy(),
                               rtol=1e-3)
    assert f"= {loss.item():.4g}\n" in text
    for bad in ([0, 3], [0], [0.0, 1.0]):
        with pytest.raises(ValueError, match=r"target must be 2 class indices in \[0, 3\)"):
            explain.softmax_cross_entropy(target=bad, file=out)


@pytest.mark.parametrize("argv, expected", [
    (["conv2d", "--backward", "--groups", "2"], "dX = col2im(W^T @ grad)"),
    (["conv2d", "--groups", "2", "--in-channels", "4"], "im2col for group 1 (channels 2..3"),
    (["avgpool", "--kernel-size", "3", "--padding", "1"], "(and padding, 0: 1 row above"),
    (["softmax"], "grad = (p - onehot) / N:"),
])
def test_cli_new_ops(capsys, argv, expected):
    code, out, _ = run(capsys, "explain", *argv)
    assert code == 0 and expected in out and "max difference 0\n" in out


def test_edge_filters_one_output_by_hand():
    """The printed 9 products and their sum are conv2d's output at the strongest edge, and the
    printed crops are the arrays returned."""
    out = io.StringIO()
    r = explain.edge_filters(file=out)
    text = out.getvalue()
    k, h, w = r["position"]
    line = re.search(rf"^y\[{k}, {h}, {w}\] = (.*) = (\S+)$", text, re.M)
    products = [float(a.strip("()")) * float(b.strip("()"))
                for a, b in (t.split("*") for t in line.group(1).split(" + "))]
    assert len(products) == 9 and sum(products) == float(line.group(2))
    assert float(line.group(2)) == r["minicnn_output"][k, h, w] == r["value"] != 0
    np.testing.assert_array_equal(r["output"], r["minicnn_output"])
    assert r["magnitude"][h, w] == r["magnitude"].max()
    for title, a in (("image", r["image"]), ("gx = y[0]", r["output"][0]),
                     ("gy = y[1]", r["output"][1])):
        lines = text.splitlines()
        start = lines.index(f"{title}:") + 1
        columns = [int(c) for c in lines[start].split()]  # the column labels, then 8 rows
        crop = np.array([[float(v) for v in line.split()] for line in lines[start + 1:start + 9]])
        rows = crop[:, 0].astype(int)  # the row labels
        assert len(columns) == len(rows) == 8 and h in rows and w in columns
        np.testing.assert_array_equal(crop[:, 1:], np.rint(a[np.ix_(rows, columns)]))
    assert "max difference 0\n" in text


def test_edge_filters_are_zero_on_a_constant_image():
    """A flat region has no edge; only the border is one, against the zero padding."""
    r = explain.edge_filters(np.full((10, 12), 7), file=io.StringIO())
    assert r["image"].dtype == np.float64 and r["minicnn_output"].shape == (2, 10, 12)
    np.testing.assert_array_equal(r["minicnn_output"][:, 1:-1, 1:-1], 0)
    assert np.all(r["magnitude"][0] > 0) and np.all(r["magnitude"][:, 0] > 0)
    with pytest.raises(ValueError, match=r"image must be \(H, W\).*got shape \(2, 3, 3\)"):
        explain.edge_filters(np.zeros((2, 3, 3)), file=io.StringIO())


def test_edge_filters_without_the_data_set(monkeypatch):
    """No Fashion-MNIST: one line says so and a synthetic rectangle stands in for it."""
    from minicnn import data

    def missing(*args, **kwargs):
        raise data.DatasetNotFoundError("no fashion-mnist here")

    monkeypatch.setattr(data, "get_dataset", missing)
    out = io.StringIO()
    r = explain.edge_filters(file=out)
    text = out.getvalue()
    assert text.count("synthetic") == 1 and "Fashion-MNIST is not installed" in text
    assert r["image"].shape == (28, 28) and set(np.unique(r["image"])) == {0, 200}
    k, h, w = r["position"]
    assert r["image"][h - 1:h + 2, w - 1:w + 2].std() > 0  # on the rectangle's outline
    np.testing.assert_array_equal(r["output"], r["minicnn_output"])
    assert r["value"] == r["minicnn_output"][k, h, w] != 0


def test_cli_edges(capsys):
    code, out, _ = run(capsys, "explain", "edges")
    assert code == 0 and "Sobel & Feldman 1968" in out and "max difference 0\n" in out
