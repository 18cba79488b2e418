"""minicnn.utils.viz and `minicnn viz`: feature maps, saliency and Grad-CAM against the same
computation in PyTorch (forward hooks and autograd) on a tiny network, and the PNG files."""
import json

import numpy as np
import pytest

import minicnn
from minicnn import cli, nn
from minicnn.utils import to_torch_state_dict, viz

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"


def tiny(nn):
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(6, 5))


@pytest.fixture
def models(torch):
    minicnn.manual_seed(0)
    mine = tiny(nn).double()
    theirs = tiny(torch.nn).double()
    theirs.load_state_dict(to_torch_state_dict(mine))
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
    return mine, theirs, x


def torch_grad_cam(torch, model, x, layer, target):
    """Grad-CAM as Selvaraju et al. eq. 1-2, with a forward hook and autograd."""
    saved = {}
    handle = model[layer].register_forward_hook(lambda m, a, out: saved.setdefault("a", out))
    logits = model(torch.from_numpy(x))
    handle.remove()
    a = saved["a"]
    (grad,) = torch.autograd.grad(logits[torch.arange(len(x)), target].sum(), a)
    return torch.relu((grad.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1)).detach().numpy()


def test_grad_cam_matches_torch(torch, models):
    mine, theirs, x = models
    mine.train()
    target = theirs(torch.from_numpy(x)).argmax(dim=1)
    for layer in (0, 3):
        cam = viz.grad_cam(mine, x, str(layer))
        np.testing.assert_allclose(cam, torch_grad_cam(torch, theirs, x, layer, target),
                                   rtol=1e-10, atol=1e-12)
    # default layer: the last Conv2d; an explicit target per image
    np.testing.assert_allclose(viz.grad_cam(mine, x, target=[1, 4]),
                               torch_grad_cam(torch, theirs, x, 3, torch.tensor([1, 4])),
                               rtol=1e-10, atol=1e-12)
    assert cam.shape == (2, 4, 4) and cam.max() > 0
    assert mine.training and all(p.grad is None and p.requires_grad for p in mine.parameters())


def test_saliency_matches_torch(torch, models):
    mine, theirs, x = models
    xt = torch.from_numpy(x).requires_grad_()
    logits = theirs(xt)
    logits[torch.arange(2), torch.tensor([2, 2])].sum().backward()
    expected = xt.grad.abs().amax(dim=1).numpy()
    np.testing.assert_allclose(viz.saliency(mine, minicnn.tensor(x), target=2), expected,
                               rtol=1e-10, atol=1e-14)
    assert all(p.grad is None for p in mine.parameters())


def test_feature_maps(torch, models):
    mine, theirs, x = models
    expected = theirs[:2](torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(viz.feature_maps(mine, x, "1"), expected, rtol=1e-12)
    conv = theirs[0](torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(viz.feature_maps(mine, x, activation=False), conv, rtol=1e-12)
    assert conv.min() < 0


def test_feature_maps_after_activation(torch, models):
    mine, theirs, x = models
    # default: the first conv, after the ReLU that follows it
    maps, name = viz.feature_maps(mine, x, return_layer=True)
    np.testing.assert_allclose(maps, theirs[:2](torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-12)
    assert name == "1" and maps.min() >= 0 and maps.max() > 0
    assert viz.feature_maps(mine, x, "3", return_layer=True)[1] == "4"
    # past a batch norm to the ReLU; a conv that no activation module follows: its own output
    minicnn.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 3),
                        nn.MaxPool2d(2), nn.Tanh()).double()
    assert viz.feature_maps(net, x, return_layer=True)[1] == "2"
    last, name = viz.feature_maps(net, x, "3", return_layer=True)
    assert name == "3" and last.shape == (2, 2, 4, 4)
    with minicnn.no_grad():  # eval mode, as feature_maps runs it
        np.testing.assert_allclose(last, net.eval()[:4](minicnn.tensor(x)).numpy(), rtol=1e-12)


def test_errors(models):
    mine, _, x = models
    with pytest.raises(ValueError, match="no module named 'conv9'.*the layers are 0, 1, 2"):
        viz.grad_cam(mine, x, "conv9")
    with pytest.raises(ValueError, match="target: classes are 0 .. 4"):
        viz.saliency(mine, x, target=5)
    with pytest.raises(ValueError, match="one class per image"):
        viz.saliency(mine, x, target=[1, 2, 3])
    with pytest.raises(ValueError, match="2-D output .* choose a convolutional layer"):
        viz.grad_cam(mine, x, "7")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        viz.feature_maps(mine, x[0])
    with pytest.raises(ValueError, match="no Conv2d"):
        viz.feature_maps(nn.Sequential(nn.Linear(2, 2)), np.zeros((1, 1, 1, 2)))


def assert_png(path):
    data = open(path, "rb").read()
    assert data.startswith(PNG) and len(data) > 1000


def test_pictures(models, tmp_path):
    mine, _, x = models
    viz.plot_filters(mine, tmp_path / "f.png")
    viz.plot_feature_maps(viz.feature_maps(mine, x, "0")[0], tmp_path / "m.png")
    cam = viz.grad_cam(mine, x)
    viz.plot_heatmap(x[0], cam[0], tmp_path / "cam.png", title="Grad-CAM")
    viz.plot_heatmap(x[1, :1], viz.saliency(mine, x)[1], tmp_path / "s.png")
    for name in ("f", "m", "cam", "s"):
        assert_png(tmp_path / f"{name}.png")
    with pytest.raises(ValueError, match=r"\(K, C, kh, kw\)"):
        viz.plot_filters(np.zeros((3, 3)), tmp_path / "bad.png")
    with pytest.raises(ValueError, match="one per heatmap"):
        viz.plot_heatmap(x[0], cam, tmp_path / "bad.png", titles=["a"])


def clims(fig):
    return {im.get_clim() for ax in fig.axes for im in ax.images}


def test_filters_share_a_symmetric_diverging_scale(models, tmp_path):
    mine, _, _ = models
    for layer, w in ((None, mine[0].weight), ("3", mine[3].weight)):
        fig = viz.plot_filters(mine, tmp_path / "f.png", layer=layer)
        m = np.abs(w.detach().numpy()).max()
        tiles = [im for ax in fig.axes for im in ax.images]
        assert len(tiles) == w.shape[0] * w.shape[1]  # a tile per (filter, input channel)
        assert clims(fig) == {(-m, m)}  # one scale for the layer, centred at 0
        cmap = tiles[0].get_cmap()
        low, mid, high = cmap(0.0), cmap(0.5), cmap(1.0)
        assert low[2] > low[0] and high[0] > high[2]  # blue below 0, red above
        assert min(mid[:3]) > 0.9  # white at 0
        assert len([ax for ax in fig.axes if ax.get_label() == "<colorbar>"]) == 1


def test_feature_map_picture(models, tmp_path):
    mine, _, x = models
    maps = viz.feature_maps(mine, x)[0]
    fig = viz.plot_feature_maps(maps, tmp_path / "m.png")
    panels = [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]
    assert [ax.get_title() for ax in panels] == [f"ch {k}" for k in range(4)]
    assert clims(fig) == {(0.0, maps.max())}  # after the ReLU: 0 .. the layer's max
    assert len([ax for ax in fig.axes if ax.get_label() == "<colorbar>"]) == 1
    signed = viz.feature_maps(mine, x, activation=False)[0]
    m = np.abs(signed).max()
    assert clims(viz.plot_feature_maps(signed, tmp_path / "m.png")) == {(-m, m)}


def test_grad_cam_absolute_scale(models, tmp_path):
    mine, _, x = models
    with minicnn.no_grad():
        mine[7].bias[4] = -40.0  # class 4: probability ~0
        p = viz.softmax(mine(minicnn.tensor(x)).numpy())
    top = p.argmax(axis=1)
    assert (top != 4).all() and p[:, 4].max() < 1e-12
    np.testing.assert_allclose(p.sum(axis=1), 1)
    raw = viz.grad_cam(mine, x, target=4)
    ruled_out = viz.grad_cam(mine, x, target=4, by_probability=True)
    predicted = viz.grad_cam(mine, x, by_probability=True)
    np.testing.assert_allclose(ruled_out, raw * p[:, 4, None, None], rtol=1e-12)
    np.testing.assert_allclose(predicted, viz.grad_cam(mine, x) * p.max(axis=1)[:, None, None],
                               rtol=1e-12)
    assert raw.max() > 0  # unweighted, the ruled-out class still has a map
    for n in range(2):
        assert ruled_out[n].max() < 1e-6 * predicted[n].max()
    titles = [f"class {c} p={p[0, c]:.3f}" for c in (top[0], 4)]
    fig = viz.plot_heatmap(x[0], np.stack([predicted[0], ruled_out[0]]), tmp_path / "g.png",
                           titles=titles)
    overlays = [ax for ax in fig.axes if len(ax.images) == 2]  # the image and a heatmap
    assert [ax.get_title() for ax in overlays] == titles and "p=0.000" in titles[1]
    heat = [ax.images[1] for ax in overlays]
    assert {im.get_clim() for im in heat} == {(0.0, predicted[0].max())}  # shared, absolute
    assert heat[1].get_array().max() < 1e-6 * heat[1].get_clim()[1]  # cold


def test_softmax():
    z = np.array([[1000.0, 1000.0, -np.inf], [0.0, np.log(3), 0.0]])
    np.testing.assert_allclose(viz.softmax(z), [[0.5, 0.5, 0], [0.2, 0.6, 0.2]])


def test_training_curves(tmp_path, monkeypatch):
    rows = [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": None, "val_acc": None,
             "test_loss": 0.9, "test_acc": 0.6},
            {"epoch": 2, "train_loss": 0.7, "train_acc": 0.7, "val_loss": None, "val_acc": None,
             "test_loss": 0.8, "test_acc": 0.65}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "metrics.csv").write_text(
        "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc\n"
        "1,1.0,0.5,,,0.9,0.6\n2,0.7,0.7,,,0.8,0.65\n")
    assert viz.read_metrics(tmp_path) == rows
    assert viz.read_metrics(tmp_path / "metrics.csv") == rows
    fig = viz.plot_curves(tmp_path, tmp_path / "c.png", title="run")
    assert_png(tmp_path / "c.png")
    for ax in fig.axes:  # two epochs: ticks at whole epochs only
        ticks = ax.get_xticks()
        assert len(ticks) >= 2 and all(t == round(t) for t in ticks)
    viz.plot_curves(rows, tmp_path / "c2.png")
    assert_png(tmp_path / "c2.png")
    with pytest.raises(ValueError, match="no epochs"):
        viz.plot_curves([], tmp_path / "c3.png")
    with pytest.raises(FileNotFoundError):
        viz.read_metrics(tmp_path / "none")
    monkeypatch.setitem(__import__("sys").modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"minicnn\[train\]"):
        viz.plot_curves(rows, tmp_path / "c4.png")


# ---------------------------------------------------------------- minicnn viz


@pytest.fixture
def checkpoint(tmp_path):
    """A checkpoint in the format of minicnn train (minicnn/training/rundir.py), and a PNG image."""
    Image = pytest.importorskip("PIL.Image")
    model = minicnn.models.lenet5()
    classes = [f"class {i}" for i in range(9)] + ["boot"]
    history = [{"epoch": e, "train_loss": 1 / e, "train_acc": 0.5, "val_loss": None,
                "val_acc": None, "test_loss": 1 / e, "test_acc": 0.5} for e in (1, 2)]
    minicnn.save({"format": "minicnn-train", "version": 1, "config": {"model": "lenet5"},
                  "dataset": {"name": "fashion-mnist", "classes": classes, "channels": 1,
                              "image_size": [28, 28], "mean": [0.29], "std": [0.35]},
                  "model": model.state_dict(), "history": history}, tmp_path / "ckpt.npz")
    Image.fromarray((np.arange(28 * 28) % 255).astype(np.uint8).reshape(28, 28)).save(
        tmp_path / "shoe.png")
    return tmp_path


def run(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return info.value.code, out, err


@pytest.mark.parametrize("argv", [
    ["filters"], ["filters", "--layer", "features.3"], ["curves"],
    ["features", "--image", "shoe.png", "--layer", "features.2"],
    ["gradcam", "--image", "shoe.png"], ["gradcam", "--image", "shoe.png", "--target", "boot"],
    ["saliency", "--image", "shoe.png", "--target", "3"],
])
def test_cli_viz(checkpoint, capsys, monkeypatch, argv):
    monkeypatch.chdir(checkpoint)
    code, out, err = run(capsys, "viz", *argv, "--checkpoint", "ckpt.npz", "--out", "x.png")
    assert code == 0, err
    assert out == "wrote x.png\n"
    assert_png(checkpoint / "x.png")


@pytest.mark.parametrize("argv, message", [
    (["gradcam"], "viz gradcam needs --image FILE"),
    (["features", "--image", "shoe.png", "--layer", "nope"], "no module named 'nope'"),
    (["gradcam", "--image", "shoe.png", "--target", "cat"], "--target must be a class index"),
    (["filters", "--layer", "classifier.0"], "Linear"),
])
def test_cli_viz_errors(checkpoint, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(checkpoint)
    code, _, err = run(capsys, "viz", *argv, "--checkpoint", "ckpt.npz")
    assert code == 2 and message in err and "Traceback" not in err


def test_cli_gradcam_panels(checkpoint, capsys, monkeypatch):
    """The predicted class and the chosen one, side by side, titled with their probabilities."""
    monkeypatch.chdir(checkpoint)
    figures = []
    draw = viz.plot_heatmap
    monkeypatch.setattr(viz, "plot_heatmap", lambda *a, **k: figures.append(draw(*a, **k)))
    code, _, err = run(capsys, "viz", "gradcam", "--image", "shoe.png", "--target", "boot",
                       "--checkpoint", "ckpt.npz")
    assert code == 0, err
    titles = [ax.get_title() for ax in figures[0].axes if len(ax.images) == 2]
    assert len(titles) in (1, 2) and all(" p=0." in t or " p=1." in t for t in titles)
    assert titles[-1].startswith("'boot' p=")
    heat = [ax.images[1] for ax in figures[0].axes if len(ax.images) == 2]
    assert len({im.get_clim() for im in heat}) == 1 and heat[0].get_clim()[0] == 0
