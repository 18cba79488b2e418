"""minicnn explore: the page's data, without a browser (tests/test_explore_browser.py opens it).

Every layer call is in the page in order; each embedded map equals the model's activation; each
receptive field equals utils.receptive_field's; a unit's arithmetic, redone from the embedded
numbers alone, gives its value; the Grad-CAM and saliency maps are viz's; a model too big for the
size limit keeps its most active channels; and the command writes the page of a run."""
import json
import os

import numpy as np
import pytest

import minicnn
from minicnn import cli, models, nn
from minicnn.utils import receptive_field, viz
from minicnn.utils.explore import build_explorer, explore_checkpoint, page_data

from helpers import N_TEST, write_fashion_mnist

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- shared with the browser tests


def resnet20(seed=0):
    """ResNet-20 for 1x28x28 images, untrained but with random batch-norm statistics and affine
    parameters, so that every batch norm does visible arithmetic."""
    minicnn.manual_seed(seed)
    model = models.resnet20(in_channels=1)
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(rng.normal(0, 0.2, n).astype(np.float32))
            m.running_var.copy_(rng.uniform(0.5, 2.0, n).astype(np.float32))
            m.weight.detach().copy_(rng.uniform(0.5, 1.5, n).astype(np.float32))
            m.bias.detach().copy_(rng.normal(0, 0.2, n).astype(np.float32))
    return model.eval()


def image(shape=(1, 28, 28), seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def layer_calls(model, x):
    """The ids the page should show, in order: every call of a module (not a Sequential) whose
    output is a map or a vector; a module's n-th call (n > 1) is "name#n"."""
    names = {id(m): n for n, m in model.named_modules()}
    ids, counts = [], {}

    def hook(module, args, out):
        if not isinstance(module, nn.Sequential) and out.ndim in (2, 4):
            name = names[id(module)]
            counts[name] = counts.get(name, 0) + 1
            ids.append(name if counts[name] == 1 else f"{name}#{counts[name]}")

    handles = [m.register_forward_hook(hook) for n, m in model.named_modules() if n]
    with minicnn.no_grad():
        model(minicnn.tensor(x[None]))
    for h in handles:
        h.remove()
    return ids


def activation(model, x, page, entry):
    """The model's own output for a layer entry: its module's output (its first call), or for a
    later call (ResNet's ReLU after the addition), the block's output it is."""
    name = entry["name"] if entry["call"] == 1 else entry["parent"]
    return viz.feature_maps(model, x[None], name, activation=False)[0]


def rf_box(rf, name, y, x):
    """(top, left, bottom, right), inclusive input pixels, of unit (y, x) of ``name``'s output,
    from utils.receptive_field's map (rf, jump, start)."""
    size, jump, start = rf.maps[name]
    cy, cx = start[0] + y * jump[0], start[1] + x * jump[1]
    return (cy - (size[0] - 1) / 2, cx - (size[1] - 1) / 2,
            cy + (size[0] - 1) / 2, cx + (size[1] - 1) / 2)


def train_tiny_run(root, model="lenet5"):
    """A run directory of minicnn train: one epoch on a tiny Fashion-MNIST in ``root``."""
    data = write_fashion_mnist(root)
    out = os.path.join(root, "run")
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--model", model, "--dataset", "fashion-mnist", "--epochs", "1",
                  "--batch-size", "32", "--data-root", data, "--out", out, "--no-plot"])
    assert info.value.code == 0
    return data, out


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory):
    return train_tiny_run(str(tmp_path_factory.mktemp("explore")))


@pytest.fixture(scope="module")
def resnet_page():
    model, x = resnet20(), image()
    html = build_explorer(model, x, classes=[f"c{k}" for k in range(10)], label=3)
    return model, x, page_data(html), html


@pytest.fixture(scope="module")
def lenet_page():
    minicnn.manual_seed(0)
    model, x = models.lenet5().eval(), image(seed=2)
    return model, x, page_data(build_explorer(model, x))


def convnet():
    minicnn.manual_seed(0)
    return models.convnet(in_channels=1).eval()


# ---------------------------------------------------------------- every layer, its values


def test_lenet_layers_in_order(lenet_page):
    model, x, page = lenet_page
    ids = [e["id"] for e in page["layers"]]
    assert ids == [f"features.{i}" for i in range(6)] + [f"classifier.{i}" for i in range(5)]
    assert [e["type"] for e in page["layers"][:3]] == ["Conv2d", "ReLU", "MaxPool2d"]
    assert all(e["parent"] is None and not e["block"] for e in page["layers"])


def test_resnet_layers_and_blocks(resnet_page):
    model, x, page, _ = resnet_page
    layers = {e["id"]: e for e in page["layers"]}
    assert [e["id"] for e in page["layers"]] == layer_calls(model, x)
    leaves = [n for n, m in model.named_modules() if n and not m._modules]
    assert set(leaves) <= set(layers)  # every conv, BN, ReLU, shortcut, pool, fc
    assert "layer1.0.relu#2" in layers and "layer2.0.downsample" in layers
    for block in ("layer1.0", "layer2.0", "layer3.2"):  # collapsed blocks, their layers inside
        assert layers[block]["block"] and layers[block]["type"] == "BasicBlock"
        assert layers[f"{block}.conv1"]["parent"] == block
        assert layers[f"{block}.relu#2"]["parent"] == block
    assert layers["conv1"]["parent"] is None and layers["fc"]["parent"] is None
    assert "layer1" not in layers  # a Sequential is no layer of its own


@pytest.mark.parametrize("which", ["lenet", "resnet"])
def test_embedded_maps_are_the_activations(which, lenet_page, resnet_page):
    model, x, page = (lenet_page if which == "lenet" else resnet_page)[:3]
    for e in page["layers"]:
        embedded = page["arrays"][e["data"]]["data"]
        np.testing.assert_allclose(embedded, activation(model, x, page, e), rtol=0, atol=1e-5,
                                   err_msg=e["id"])
        assert e["shape"] == list(embedded.shape)
        if embedded.ndim == 3:  # channels listed most active first
            means = embedded.mean(axis=(1, 2))[e["order"]]
            assert sorted(e["order"]) == list(range(embedded.shape[0]))
            assert np.all(np.diff(means) <= 0)
            assert e["lo"] == pytest.approx(embedded.min()) and \
                e["hi"] == pytest.approx(embedded.max())


def test_resnet_page_size(resnet_page):
    assert len(resnet_page[3]) < 5e6  # a page of a few MB for ResNet-20 on 28x28 images
    assert resnet_page[2]["notes"] == []  # nothing left out


def test_receptive_fields_are_utils_receptive_field(resnet_page, lenet_page):
    for model, x, page in (resnet_page[:3], lenet_page):
        rf = receptive_field(model, x.shape)
        for e in page["layers"]:
            if len(e["shape"]) == 1:
                assert e["rf"] is None  # a vector: the page says the whole input
                continue
            name = e["name"] if e["call"] == 1 else e["parent"]
            size, jump, start = rf.maps[name]
            assert e["rf"] == {"rf": list(size), "jump": list(jump), "start": list(start)}, e["id"]
    layers = {e["id"]: e for e in resnet_page[2]["layers"]}
    assert layers["layer3.2.conv2"]["rf"]["jump"] == [4, 4]


# ---------------------------------------------------------------- the arithmetic, from the page


def redo(page, e, c, y, x):
    """One unit's value from the page's numbers alone, as the page's JavaScript computes it."""
    A, op = page["arrays"], e["op"]
    inp = A[e["input"]]["data"] if "input" in e else None
    if op["kind"] == "conv":
        K, Cg, kh, kw = op["wshape"]
        w = A[op["w"]]["data"][op["rows"].index(c)]
        g = c // (K // op["groups"])
        total = A[op["b"]]["data"][c] if "b" in op else 0.0
        for ci in range(Cg):
            for ky in range(kh):
                for kx in range(kw):
                    iy = y * op["stride"][0] - op["pad"][0] + ky * op["dil"][0]
                    ix = x * op["stride"][1] - op["pad"][1] + kx * op["dil"][1]
                    if 0 <= iy < inp.shape[1] and 0 <= ix < inp.shape[2]:
                        total += float(inp[g * Cg + ci, iy, ix]) * float(w[ci, ky, kx])
        return total
    if op["kind"] == "linear":
        w = A[op["w"]]["data"][op["rows"].index(c)]
        return float(inp.astype(np.float64) @ w) + (A[op["b"]]["data"][c] if "b" in op else 0)
    if op["kind"] == "bn":
        return ((inp[c, y, x] - op["mean"][c]) / np.sqrt(op["var"][c] + op["eps"])
                * op["gamma"][c] + op["beta"][c])
    if op["kind"] == "relu":
        return max(0.0, float(inp[c] if inp.ndim == 1 else inp[c, y, x]))
    if op["kind"] in ("maxpool", "avgpool"):
        (kh, kw), (ph, pw), (H, W) = op["k"], op["pad"], inp.shape[1:]
        y0, x0 = y * op["stride"][0] - ph, x * op["stride"][1] - pw
        window = [float(inp[c, y0 + i * op["dil"][0], x0 + j * op["dil"][1]])
                  for i in range(kh) for j in range(kw)
                  if 0 <= y0 + i * op["dil"][0] < H and 0 <= x0 + j * op["dil"][1] < W]
        if op["kind"] == "maxpool":
            return max(window)
        # PyTorch's divisor: the window clipped to the padded input, or to the input
        padded = (min(y0 + kh, H + ph) - y0) * (min(x0 + kw, W + pw) - x0)
        return sum(window) / (op["divisor"] or (padded if op["include_pad"] else len(window)))
    return None


@pytest.mark.parametrize("which", ["lenet", "resnet"])
def test_arithmetic_from_the_embedded_numbers(which, lenet_page, resnet_page):
    page = (lenet_page if which == "lenet" else resnet_page)[2]
    kinds = set()
    rng = np.random.default_rng(0)
    for e in page["layers"]:
        out = page["arrays"][e["data"]]["data"]
        units = [(0,) * out.ndim, tuple(s - 1 for s in out.shape)] + \
            [tuple(int(rng.integers(s)) for s in out.shape) for _ in range(3)]
        for unit in units:
            c, y, x = unit if out.ndim == 3 else (unit[0], 0, 0)
            value = redo(page, e, c, y, x)
            if value is not None:
                kinds.add(e["op"]["kind"])
                assert value == pytest.approx(out[unit], rel=1e-5, abs=1e-5), (e["id"], unit)
    expected = {"conv", "relu", "maxpool", "linear"} if which == "lenet" else \
        {"conv", "bn", "relu", "avgpool", "linear"}
    assert kinds == expected
    conv = next(e for e in page["layers"] if e["op"]["kind"] == "conv")
    assert conv["op"]["rows"] == list(range(conv["op"]["wshape"][0]))  # every filter kept


class OddGeometry(nn.Module):
    """Convolutions and pools of every geometry the arithmetic must get right: non-square
    kernels and strides, dilation, groups, "same" padding, no bias, padded and dilated pools."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2),
                               groups=2, bias=False)
        self.pool1 = nn.MaxPool2d(3, stride=1, padding=1, dilation=2)
        self.conv2 = nn.Conv2d(6, 3, 4, padding="same")
        self.pool2 = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.pool3 = nn.AvgPool2d(2, stride=2, padding=1, ceil_mode=True)
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        x = self.pool2(self.conv2(self.pool1(self.conv1(x))))
        return self.fc(self.pool3(x).flatten(1))


def odd_geometry():
    minicnn.manual_seed(0)
    return OddGeometry().eval(), image((4, 11, 9), seed=3)


def test_arithmetic_of_odd_geometries():
    model, x = odd_geometry()
    page = page_data(build_explorer(model, x))
    assert [e["id"] for e in page["layers"]] == ["conv1", "pool1", "conv2", "pool2", "pool3", "fc"]
    for e in page["layers"]:
        out = page["arrays"][e["data"]]["data"]
        np.testing.assert_allclose(out, activation(model, x, page, e), atol=1e-5)
        for unit in np.ndindex(out.shape):
            c, y, x_ = unit if out.ndim == 3 else (unit[0], 0, 0)
            assert redo(page, e, c, y, x_) == pytest.approx(out[unit], rel=1e-5, abs=1e-5), \
                (e["id"], unit)


def test_in_place_change_after_a_layer():
    """A forward pass that adds in place into a layer's output (out += x) changes the tensor
    after the hook saw it: the page keeps the value the layer gave."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, padding=1)
            self.relu = nn.ReLU()
            self.fc = nn.Linear(16, 2)

        def forward(self, x):
            out = self.conv(x)
            out += x
            return self.fc(self.relu(out).flatten(1))

    minicnn.manual_seed(0)
    model, x = Net().eval(), image((1, 4, 4))
    page = page_data(build_explorer(model, x))
    layers = {e["id"]: e for e in page["layers"]}
    conv = page["arrays"][layers["conv"]["data"]]["data"]
    np.testing.assert_allclose(conv, viz.feature_maps(model, x[None], "conv", False)[0] - x,
                               atol=1e-5)
    relu_in = page["arrays"][layers["relu"]["input"]]["data"]
    np.testing.assert_allclose(relu_in, conv + x, atol=1e-5)


# ---------------------------------------------------------------- Grad-CAM, saliency, classes


def test_gradcam_and_saliency_are_viz(resnet_page):
    model, x, page, _ = resnet_page
    heat = page["heat"]
    assert heat["layer"] == "layer3.2.conv2" and heat["classes"] == list(range(10))
    cams = page["arrays"][heat["gradcam"]]["data"]
    sal = page["arrays"][heat["saliency"]]["data"]
    for k in (page["predicted"], page["chosen"]):
        np.testing.assert_allclose(cams[k], viz.grad_cam(model, x[None], "layer3.2.conv2", k,
                                                         by_probability=True)[0], atol=1e-6)
        np.testing.assert_allclose(sal[k], viz.saliency(model, x[None], k)[0], atol=1e-6)
    assert heat["gradcam_max"] == pytest.approx(cams.max())
    with minicnn.no_grad():
        probs = viz.softmax(model(minicnn.tensor(x[None])).numpy())[0]
    np.testing.assert_allclose(page["probs"], probs, rtol=1e-6)
    assert page["predicted"] == probs.argmax() and page["label"] == 3
    # the true class 3 is shown beside a wrong prediction, else the runner-up
    assert page["chosen"] == (3 if probs.argmax() != 3 else np.argsort(-probs)[1])
    assert page["classes"] == [f"c{k}" for k in range(10)]


def test_gradcam_of_the_last_conv_called():
    """A conv the forward pass skips (GoogLeNet's auxiliary heads in eval mode) is no layer of
    the page, nor Grad-CAM's."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.fc = nn.Linear(8, 3)
            self.aux = nn.Conv2d(2, 2, 1)  # registered last, never called

        def forward(self, x):
            return self.fc(self.conv(x).flatten(1))

    page = page_data(build_explorer(Net(), image((1, 4, 4))))
    assert page["heat"]["layer"] == "conv" and "aux" not in {e["id"] for e in page["layers"]}


def test_chosen_class():
    minicnn.manual_seed(0)
    model, x = models.lenet5().eval(), image()
    page = page_data(build_explorer(model, x, target=7))
    assert page["chosen"] == 7 and page["label"] is None and page["classes"][7] == "7"


# ---------------------------------------------------------------- a model too big for the page


def test_convnet_and_the_size_limit():
    """ConvNet in full, then under a limit that leaves out filters, then map channels: what is
    kept is the most active, the page says so, and what is kept is still right."""
    model, x = convnet(), image((1, 16, 16))
    full = page_data(build_explorer(model, x))
    assert full["notes"] == [] and [e["id"] for e in full["layers"]] == layer_calls(model, x)
    conv = next(e for e in full["layers"] if e["id"] == "features.2.3")
    assert conv["op"]["rows"] == list(range(256))

    html = build_explorer(model, x, max_mb=3)  # fewer filters
    assert len(html) < 3e6
    page = page_data(html)
    conv = next(e for e in page["layers"] if e["id"] == "features.2.3")
    assert len(conv["op"]["rows"]) == 64
    assert page["notes"] == ["The page's size limit (max_mb 3) keeps the weights of only the 64 "
                             "most active output channels of each layer (4 layers have more): "
                             "the arithmetic of the others is not shown."]
    out = page["arrays"][conv["data"]]["data"]
    most_active = np.argsort(-out.mean(axis=(1, 2)), kind="stable")[:len(conv["op"]["rows"])]
    assert conv["op"]["rows"] == sorted(most_active.tolist())
    c = conv["op"]["rows"][0]
    assert redo(page, conv, c, 1, 2) == pytest.approx(out[c, 1, 2], rel=1e-5, abs=1e-5)

    page = page_data(build_explorer(model, x, max_mb=0.2))  # fewer map channels
    first = page["layers"][0]
    kept = page["arrays"][first["data"]]["channels"]
    assert kept is not None and len(kept) < 64 and len(first["order"]) == len(kept)
    assert first["shape"] == [64, 16, 16]
    maps = viz.feature_maps(model, x[None], "features.0.0", activation=False)[0]
    assert set(kept) == set(np.argsort(-maps.mean(axis=(1, 2)), kind="stable")[:len(kept)])
    np.testing.assert_allclose(page["arrays"][first["data"]]["data"], maps[kept], atol=1e-5)
    assert "the weights of only the 0 most active" in page["notes"][0]
    assert page["notes"][1].startswith(f"It keeps the maps of only the {len(kept)} most active")


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(model="not a model"), TypeError, "model must be an nn.Module"),
    (dict(image=np.zeros((2, 1, 28, 28), np.float32)), ValueError, r"one image \(C, H, W\)"),
    (dict(image=np.zeros((28, 28), np.float32)), ValueError, r"one image \(C, H, W\)"),
    (dict(target=10), ValueError, "target must be a class index 0..9"),
    (dict(label=-1), ValueError, "label must be a class index 0..9"),
    (dict(classes=["a", "b"]), ValueError, "10 outputs, got 2 class names"),
    (dict(max_mb=0), ValueError, "max_mb must be a positive number"),
    (dict(mean=[0.1, 0.2, 0.3]), ValueError, r"mean must have one value per channel \(1\)"),
    (dict(confusion=[[1, 2], [3, 4]]), ValueError, r"expected a \(10, 10\) matrix"),
])
def test_build_explorer_errors(kwargs, error, message):
    args = dict(model=models.lenet5(), image=image())
    args.update(kwargs)
    with pytest.raises(error, match=message):
        build_explorer(args.pop("model"), args.pop("image"), **args)


def test_page_data_of_another_page():
    with pytest.raises(ValueError, match="no explorer data"):
        page_data("<html></html>")


# ---------------------------------------------------------------- minicnn explore


def run(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_cli_explore_a_run(lenet_run, capsys):
    from minicnn.data import FashionMNIST

    data, run_dir = lenet_run
    code, out, err = run(capsys, "explore", run_dir, "--image", "5", "--data-root", data)
    assert code == 0, err
    path = os.path.join(run_dir, "explore.html")
    assert out == path + "\n"
    with open(path, encoding="utf-8") as f:
        page = page_data(f.read())
    test_set = FashionMNIST(data, train=False)
    assert page["label"] == int(test_set.targets[5]) and "test image 5" in page["title"]
    assert page["classes"] == test_set.classes
    with open(os.path.join(run_dir, "results.json")) as f:
        assert page["confusion"] == json.load(f)["confusion_matrix"]
    assert [r["epoch"] for r in page["history"]] == [1]
    assert page["history"][0]["train_loss"] == pytest.approx(
        viz.read_metrics(run_dir)[0]["train_loss"])
    # the normalized test image, as minicnn eval feeds it
    model, ckpt = minicnn.training.load_checkpoint_model(run_dir)
    info = ckpt["dataset"]
    expected = (test_set.data[5] / 255.0 - info["mean"][0]) / info["std"][0]
    np.testing.assert_allclose(page["arrays"]["input"]["data"][0], expected, atol=1e-5)


def test_cli_explore_a_checkpoint_file_and_an_image_file(lenet_run, capsys, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    data, run_dir = lenet_run
    png = tmp_path / "shoe.png"
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(png)  # light: inverted, warned
    checkpoint = os.path.join(run_dir, "best.npz")
    code, out, err = run(capsys, "explore", checkpoint, "--file", png, "--class", "Bag")
    assert code == 0, err
    assert out == os.path.join(run_dir, "best-explore.html") + "\n"
    assert "inverted (light background)" in err
    with open(out.strip(), encoding="utf-8") as f:
        page = page_data(f.read())
    assert page["chosen"] == page["classes"].index("Bag") and page["label"] is None
    assert "shoe.png" in page["title"]
    info = minicnn.training.load_checkpoint_model(run_dir)[1]["dataset"]
    with pytest.warns(minicnn.training.InputConversionWarning):
        expected = minicnn.training.read_images([str(png)], info)[0]
    np.testing.assert_allclose(page["arrays"]["input"]["data"], expected, atol=1e-6)


@pytest.mark.parametrize("argv, code, message", [
    (["--image", str(N_TEST)], 2, f"--image must be a test image index 0..{N_TEST - 1}"),
    (["--image", "-1"], 2, "--image must be a test image index"),
    (["--file", "missing.png"], 1, "no such image file: missing.png"),
    (["--class", "12"], 2, "--class must be a class index 0..9 or one of T-shirt/top"),
    (["--class", "cat"], 2, "--class must be a class index"),
    (["--image", "1", "--file", "x.png"], 2, "not allowed with argument"),
    (["--max-mb", "0"], 2, "--max-mb must be a positive number"),
])
def test_cli_explore_errors(lenet_run, capsys, monkeypatch, tmp_path, argv, code, message):
    monkeypatch.chdir(tmp_path)
    data, run_dir = lenet_run
    got, out, err = run(capsys, "explore", run_dir, "--data-root", data, "--out", "never.html",
                        *argv)
    assert (got, out) == (code, "") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not os.path.exists("never.html")


def test_cli_explore_missing_checkpoint(tmp_path, capsys):
    code, _, err = run(capsys, "explore", tmp_path / "nothing")
    assert code == 1 and "no such file" in err and err.count("\n") == 1


def test_explore_checkpoint_without_metrics(lenet_run, tmp_path):
    """A checkpoint alone (no run directory around it): the checkpoint's history, no confusion
    matrix."""
    import shutil

    data, run_dir = lenet_run
    shutil.copy(os.path.join(run_dir, "best.npz"), tmp_path / "model.npz")
    path = explore_checkpoint(tmp_path / "model.npz", data_root=data, out=tmp_path / "p.html")
    with open(path, encoding="utf-8") as f:
        page = page_data(f.read())
    assert page["confusion"] is None and [r["epoch"] for r in page["history"]] == [1]
