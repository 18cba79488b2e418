"""minicnn explore in a real browser: headless Chromium driven by playwright.

The page of a tiny LeNet-5 run (through ``minicnn explore``) and of a ResNet-20 renders without a
console error and shows every layer; clicking a unit shows the receptive field box of
utils.receptive_field and the model's activation (to 1e-5), and the arithmetic panel's sum gives
that value. Each test keeps a screenshot: in $MINICNN_ARTIFACTS when set, else in its tmp_path.

Needs the playwright package and a Chromium executable (Debian: ``apt-get install chromium``;
``pip install playwright``; another executable: MINICNN_CHROMIUM=PATH); skips without them.
"""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from minicnn.utils import receptive_field
from minicnn.utils.explore import build_explorer, page_data

from test_explore import activation, image, odd_geometry, resnet20, rf_box, train_tiny_run

pytestmark = pytest.mark.usefixtures("one_thread")

CHROMIUM = (os.environ.get("MINICNN_CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser"))


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")
    if not CHROMIUM:
        pytest.skip("no Chromium executable found (Debian: apt-get install chromium; or set "
                    "MINICNN_CHROMIUM to one)")
    with sync_api.sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        except sync_api.Error as e:
            pytest.skip(f"{CHROMIUM} does not start: {str(e).splitlines()[0]}")
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    """(model, input, page data, path) of the explore page of a tiny LeNet-5 run, test image 2,
    written by the command line."""
    from minicnn import cli
    from minicnn.training import load_checkpoint_model

    data, run_dir = train_tiny_run(str(tmp_path_factory.mktemp("browser")))
    with pytest.raises(SystemExit) as info:
        cli.main(["explore", run_dir, "--image", "2", "--data-root", data])
    assert info.value.code == 0
    path = os.path.join(run_dir, "explore.html")
    page = page_data(Path(path).read_text("utf-8"))
    model = load_checkpoint_model(run_dir)[0]
    return model, page["arrays"]["input"]["data"], page, path


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    model, x = resnet20(), image()
    html = build_explorer(model, x, title="ResNet-20 (untrained)")
    path = tmp_path_factory.mktemp("browser") / "resnet20.html"
    path.write_text(html, "utf-8")
    return model, x, page_data(html), str(path)


def open_page(browser, path):
    """The page at ``path`` in a new tab, and the list its console errors go to."""
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(Path(path).as_uri())
    tab.wait_for_load_state("load")
    return tab, errors


def screenshot(tab, tmp_path, name):
    folder = Path(os.environ.get("MINICNN_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(folder / name), full_page=True)
    assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def click_unit(tab, layer, y, x):
    """Click unit (y, x) of the first map shown of ``layer``; returns its channel."""
    canvas = tab.locator(f'canvas.fmap[data-layer="{layer}"]').first
    scale = float(canvas.get_attribute("data-scale"))
    canvas.click(position={"x": (x + 0.5) * scale, "y": (y + 0.5) * scale})
    return int(canvas.get_attribute("data-channel"))


def check_unit(tab, model, x, page, layer, y, x_, vector_cols=None):
    """Click a unit of ``layer`` and check the panel: its name, position, value (the model's
    activation), receptive field box (utils.receptive_field) and the arithmetic's sum."""
    entry = next(e for e in page["layers"] if e["id"] == layer)
    c = click_unit(tab, layer, y, x_)
    attr = lambda element, key: tab.locator(f"#{element}").get_attribute(f"data-{key}")  # noqa: E731
    assert attr("sel-layer", "layer") == layer
    maps = activation(model, x, page, entry)
    if vector_cols is None:
        assert (int(attr("sel-channel", "channel")), int(attr("sel-y", "y")),
                int(attr("sel-x", "x"))) == (c, y, x_)
        expected = maps[c, y, x_]
        name = entry["name"] if entry["call"] == 1 else entry["parent"]
        box = rf_box(receptive_field(model, x.shape), name, y, x_)
    else:
        unit = y * vector_cols + x_
        assert int(attr("sel-channel", "channel")) == unit
        expected = maps[unit]
        box = (0, 0, x.shape[1] - 1, x.shape[2] - 1)  # after flattening: the whole input
    value = float(attr("sel-value", "value"))
    assert value == pytest.approx(expected, abs=1e-5)
    assert float(tab.locator("#sel-value").inner_text()) == pytest.approx(expected, rel=1e-5,
                                                                          abs=1e-6)
    assert tuple(float(attr("rf-box", k)) for k in ("top", "left", "bottom", "right")) == box
    if entry["op"]["kind"] in ("conv", "linear", "bn", "relu", "maxpool", "avgpool"):
        assert float(tab.locator("#arith-total").get_attribute("data-value")) == \
            pytest.approx(expected, rel=1e-4, abs=1e-5)
    return entry


def check_layers(tab, errors, page):
    """No console error; one row per layer call, in the order of the forward pass, but a block
    before the layers inside it (its head, its layers, then its output)."""
    def in_page_order(parent):
        for e in page["layers"]:
            if e["parent"] == parent:
                yield e["id"]
                if e["block"]:
                    yield from in_page_order(e["id"])

    assert errors == []
    rows = tab.locator(".layer").evaluate_all("rows => rows.map(r => r.dataset.layer)")
    assert rows == list(in_page_order(None))
    assert sorted(rows) == sorted(e["id"] for e in page["layers"])


def test_lenet_page(browser, lenet, tmp_path):
    model, x, page, path = lenet
    tab, errors = open_page(browser, path)
    check_layers(tab, errors, page)
    assert tab.locator("#probs .prow").count() == 10
    assert tab.locator("#confusion-table tr").count() == 11  # the header and 10 classes
    for layer, y, x_ in [("features.0", 27, 0), ("features.0", 13, 20), ("features.2", 6, 9),
                         ("features.3", 9, 3), ("features.4", 0, 9), ("features.5", 4, 4)]:
        kind = check_unit(tab, model, x, page, layer, y, x_)["op"]["kind"]
        assert kind == {"features.0": "conv", "features.2": "maxpool", "features.3": "conv",
                        "features.4": "relu", "features.5": "maxpool"}[layer]
    check_unit(tab, model, x, page, "classifier.0", 1, 5, vector_cols=32)
    check_unit(tab, model, x, page, "classifier.4", 0, 7, vector_cols=10)
    check_unit(tab, model, x, page, "features.3", 5, 5)
    # by hand: conv 5x5 pad 2 (RF 5, start 0), pool 2 (RF 6, jump 2, start 0.5), conv 5x5
    # (RF 6 + 4 x 2 = 14, start 0.5 + 2 x 2 = 4.5): unit 5 is centred on 4.5 + 5 x 2 = 14.5
    assert tab.locator("#rf-box").inner_text().startswith("rows 8…21, columns 8…21 (14 pixels")
    assert tab.locator("#filter-tiles figure").count() == 6  # its 6 input channels of 5x5
    screenshot(tab, tmp_path, "explore-lenet5.png")
    assert errors == []


def test_resnet_page(browser, resnet, tmp_path):
    model, x, page, path = resnet
    tab, errors = open_page(browser, path)
    check_layers(tab, errors, page)
    # blocks start collapsed: their layers are in the page but hidden until expanded
    assert not tab.locator('.layer[data-layer="layer2.0.conv1"]').is_visible()
    assert tab.locator('.layer[data-layer="layer2.0"]').is_visible()
    tab.click('button.expand[data-block="layer2.0"]')
    assert tab.locator('.layer[data-layer="layer2.0.conv1"]').is_visible()
    for layer, y, x_ in [("conv1", 0, 27), ("bn1", 10, 3), ("layer2.0.conv1", 13, 0),
                         ("layer2.0.bn2", 5, 6), ("layer2.0.downsample", 3, 13),
                         ("layer2.0.relu#2", 7, 7), ("layer2.0", 2, 3), ("layer3.2", 6, 0),
                         ("avgpool", 0, 0)]:
        check_unit(tab, model, x, page, layer, y, x_)
    check_unit(tab, model, x, page, "fc", 0, 3, vector_cols=10)
    # a wide layer: 16 channels a page, the most active first; next page; all
    row = '.layer[data-layer="layer3.0"] > '
    order = next(e["order"] for e in page["layers"] if e["id"] == "layer3.0")
    shown = lambda: [int(c) for c in tab.locator(row + ".tiles canvas.fmap").evaluate_all(  # noqa: E731
        "cs => cs.map(c => c.dataset.channel)")]
    assert shown() == order[:16]
    tab.locator(row + ".layer-head button", has_text="▶").click()
    assert shown() == order[16:32]
    tab.locator(row + ".layer-head button", has_text="all").click()
    assert shown() == order
    # another class for Grad-CAM and saliency
    other = next(k for k in page["heat"]["classes"] if k not in (page["predicted"],
                                                                 page["chosen"]))
    tab.select_option("#class-select", str(other))
    assert tab.locator(f'#heat figure[data-heat="gradcam"][data-cls="{other}"]').count() == 1
    tab.click('button.expand[data-block="layer2.0"]')  # collapsed again for the picture
    check_unit(tab, model, x, page, "layer1.0", 4, 5)
    screenshot(tab, tmp_path, "explore-resnet20.png")
    assert errors == []
    assert np.isfinite(page["heat"]["gradcam_max"])


def test_odd_geometries(browser, tmp_path):
    """The page's arithmetic for non-square, strided, dilated, grouped and "same" convolutions
    and padded, dilated, ceil-mode pools: the corners of every map, where padding matters."""
    model, x = odd_geometry()
    path = tmp_path / "odd.html"
    html = build_explorer(model, x)
    path.write_text(html, "utf-8")
    page = page_data(html)
    tab, errors = open_page(browser, path)
    check_layers(tab, errors, page)
    for e in page["layers"][:-1]:
        _, H, W = e["shape"]
        for y, x_ in [(0, 0), (H - 1, W - 1), (0, W - 1), (H // 2, W // 2)]:
            check_unit(tab, model, x, page, e["id"], y, x_)
    check_unit(tab, model, x, page, "fc", 0, 3, vector_cols=4)
    assert errors == []
