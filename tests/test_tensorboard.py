"""TensorBoard: minicnn.utils.tensorboard.SummaryWriter (PyTorch's calls on minicnn Tensors)
and ``minicnn train --tensorboard``, read back with TensorBoard's own EventAccumulator."""
import csv
import io
import json
import os
import re
import socket
import sys

import numpy as np
import pytest

import minicnn
from minicnn import cli
from minicnn.training import TrainConfig, Trainer
from minicnn.utils.tensorboard import SummaryWriter, filter_grid

from helpers import write_fashion_mnist

pytest.importorskip("tensorboardX", reason="needs tensorboardX (pip install -e '.[tensorboard]')")
event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="needs tensorboard to read the events (pip install -e '.[tensorboard]')")
plugin_data_pb2 = pytest.importorskip("tensorboard.plugins.hparams.plugin_data_pb2")
Image = pytest.importorskip("PIL.Image", reason="images need Pillow")


def read_events(path):
    """An EventAccumulator over the event files of ``path`` that keeps every event."""
    return event_accumulator.EventAccumulator(
        str(path), size_guidance={"scalars": 0, "histograms": 0, "images": 0,
                                  "tensors": 0}).Reload()


def scalars(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def image_pixels(event):
    return np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))


def session_start(path):
    """The hparams of the HParams plugin's session start in the run at ``path``."""
    content = read_events(path).PluginTagToContent("hparams")
    data = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"])
    return {k: getattr(v, v.WhichOneof("kind")) for k, v in
            data.session_start_info.hparams.items()}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return write_fashion_mnist(tmp_path_factory.mktemp("data"))


def train(capsys, data_root, out, *extra):
    argv = ["train", "--epochs", "2", "--batch-size", "16", "--data-root", data_root, "--out",
            out, "--no-plot", *extra]
    with pytest.raises(SystemExit) as info:
        cli.main([str(a) for a in argv])
    return info.value.code, *capsys.readouterr()


def resume(capsys, out, *extra):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--resume", str(out), *map(str, extra)])
    return info.value.code, *capsys.readouterr()


# ---------------------------------------------------------------- the SummaryWriter


def test_writer_calls_read_back(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.standard_normal(1000).astype(np.float32)
    chw = rng.random((3, 4, 5)).astype(np.float32)
    batch = rng.random((2, 1, 3, 3)).astype(np.float32)
    with SummaryWriter(tmp_path) as writer:
        assert writer.get_logdir() == str(tmp_path) and writer.log_dir == str(tmp_path)
        for step in range(3):  # a Tensor, a Python float, a NumPy scalar, a 1-element Tensor
            writer.add_scalar("loss", minicnn.tensor(0.5 * step), step)
            writer.add_scalar("lr", [0.1, 0.05, 0.02][step], step)
        writer.add_scalar("np", np.float32(2.5), 7)
        writer.add_scalar("one", minicnn.tensor([1.25]), 0)
        writer.add_scalars("acc", {"train": minicnn.tensor(0.75), "val": 0.5}, 4)
        writer.add_histogram("weights", minicnn.tensor(values), 1)
        writer.add_histogram("auto", values, 2, bins="auto")
        writer.add_image("chw", minicnn.tensor(chw), 1)
        writer.add_image("hwc", chw.transpose(1, 2, 0), 1, dataformats="HWC")
        writer.add_image("gray", (chw[0] * 255).astype(np.uint8), 1, dataformats="HW")
        writer.add_images("batch", minicnn.tensor(batch), 1)
        writer.add_text("note", "**hello**", 0)
        writer.add_hparams({"lr": 0.1, "optimizer": "sgd", "nesterov": True, "depth": 20,
                            "ema": None, "wd": minicnn.tensor(5e-4)},
                           {"hparam/accuracy": minicnn.tensor(0.875)}, run_name="hp",
                           global_step=3)
        writer.flush()
    acc = read_events(tmp_path)
    assert scalars(acc, "loss") == [(0, 0.0), (1, 0.5), (2, 1.0)]
    assert scalars(acc, "lr") == [(0, pytest.approx(0.1)), (1, pytest.approx(0.05)),
                                  (2, pytest.approx(0.02))]
    assert scalars(acc, "np") == [(7, 2.5)] and scalars(acc, "one") == [(0, 1.25)]
    # add_scalars: one run per tag below log_dir/main_tag, each with the main tag
    assert scalars(read_events(tmp_path / "acc" / "train"), "acc") == [(4, 0.75)]
    assert scalars(read_events(tmp_path / "acc" / "val"), "acc") == [(4, 0.5)]
    (hist,) = acc.Histograms("weights")
    assert hist.step == 1 and hist.histogram_value.num == 1000
    assert hist.histogram_value.sum == pytest.approx(values.sum(), rel=1e-4)
    assert hist.histogram_value.min == pytest.approx(values.min())
    assert hist.histogram_value.max == pytest.approx(values.max())
    assert acc.Histograms("auto")[0].histogram_value.num == 1000
    expected = (chw.transpose(1, 2, 0) * 255).astype(np.uint8)  # float [0, 1] -> uint8
    for tag in ("chw", "hwc"):
        (event,) = acc.Images(tag)
        assert (event.step, event.width, event.height) == (1, 5, 4)
        np.testing.assert_array_equal(image_pixels(event), expected)
    gray = image_pixels(acc.Images("gray")[0])
    np.testing.assert_array_equal(gray[..., 0] if gray.ndim == 3 else gray,
                                  (chw[0] * 255).astype(np.uint8))
    batch_image = acc.Images("batch")[0]  # 2 images of 3x3 side by side
    assert (batch_image.width, batch_image.height) == (6, 3)
    assert "note/text_summary" in acc.Tags()["tensors"]
    assert session_start(tmp_path / "hp") == {"lr": 0.1, "optimizer": "sgd", "nesterov": True,
                                              "depth": 20.0,
                                              "wd": pytest.approx(5e-4)}  # None: left out
    assert scalars(read_events(tmp_path / "hp"), "hparam/accuracy") == [(3, 0.875)]


def test_default_log_dir_is_pytorchs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with SummaryWriter(comment="_lr0.1") as writer:
        writer.add_scalar("x", 1.0, 0)
    host = re.escape(socket.gethostname())
    assert re.fullmatch(rf"runs/[A-Z][a-z]{{2}}\d\d_\d\d-\d\d-\d\d_{host}_lr0\.1",
                        writer.get_logdir())
    assert os.listdir(tmp_path / writer.get_logdir())[0].startswith("events.out.tfevents.")


def test_event_file_names_are_pytorchs(tmp_path):
    """events.out.tfevents.TIME.HOST.PID.N: two writers started in the same second (a quick
    --resume) write two files, in creation order, where tensorboardX's names would collide."""
    for step in range(2):
        with SummaryWriter(tmp_path, filename_suffix=".x") as writer:
            writer.add_scalar("loss", float(step), step)
    names = sorted(os.listdir(tmp_path))
    host, pid = re.escape(socket.gethostname()), os.getpid()
    assert len(names) == 2 and all(re.fullmatch(rf"events\.out\.tfevents\.\d{{10}}\.{host}\."
                                                rf"{pid}\.\d+\.x", n) for n in names), names
    assert scalars(read_events(tmp_path), "loss") == [(0, 0.0), (1, 1.0)]


def test_purge_step_hides_the_events_of_a_crashed_run(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        for step in range(5):
            writer.add_scalar("loss", 10.0 + step, step)
    with SummaryWriter(tmp_path, purge_step=3) as writer:  # restarted from step 3
        for step in range(3, 5):
            writer.add_scalar("loss", float(step), step)
    assert scalars(read_events(tmp_path), "loss") == [(0, 10.0), (1, 11.0), (2, 12.0),
                                                      (3, 3.0), (4, 4.0)]


def test_writer_errors(tmp_path, monkeypatch):
    with SummaryWriter(tmp_path) as writer:
        with pytest.raises(ValueError, match=r"scalar_value must be a number or a one-element "
                           r"tensor, got Tensor of shape \(2,\)"):
            writer.add_scalar("x", minicnn.tensor([1.0, 2.0]), 0)
        with pytest.raises(ValueError, match=r"tag_scalar_dict\['a'\] must be a number"):
            writer.add_scalars("x", {"a": "high"}, 0)
        with pytest.raises(TypeError, match="hparam_dict and metric_dict should be dictionary"):
            writer.add_hparams([("lr", 0.1)], {})
        with pytest.raises(ValueError, match="value should be one of int, float, str, bool"):
            writer.add_hparams({"layers": [1, 2]}, {"hparam/acc": 0.5})
        with pytest.raises(NotImplementedError, match="hparam_domain_discrete"):
            writer.add_hparams({"opt": "sgd"}, {"hparam/acc": 0.5},
                               hparam_domain_discrete={"opt": ["sgd", "adam"]})
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"needs tensorboardX: pip install "
                       r"'minicnn\[tensorboard\]' \(in a source checkout: pip install -e "
                       r"'\.\[tensorboard\]'\)"):
        SummaryWriter(tmp_path / "none")


def test_pytorch_raises_the_same_hparams_errors(torch, tmp_path):
    pytest.importorskip("torch.utils.tensorboard")
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    with TorchWriter(tmp_path) as writer:
        with pytest.raises(TypeError, match="hparam_dict and metric_dict should be dictionary"):
            writer.add_hparams([("lr", 0.1)], {})
        with pytest.raises(ValueError, match="value should be one of int, float, str, bool"):
            writer.add_hparams({"layers": [1, 2]}, {"hparam/acc": 0.5})


def test_filter_grid():
    w = np.zeros((5, 1, 2, 3), np.float32)
    w[0, 0, 0, 0], w[4, 0, 1, 2] = 2.0, -1.0  # m = 2: 2 -> 1, -1 -> 0.25, 0 -> 0.5
    grid = filter_grid(minicnn.tensor(w), tile_size=6)  # tiles 2x3 enlarged 2x to 4x6
    assert grid.shape == (1, 2 * 5 + 1, 3 * 7 + 1) and grid.dtype == np.float32  # 3 x 2 grid
    assert np.all(grid[:, 0] == 1) and np.all(grid[:, :, 0] == 1)  # white borders
    np.testing.assert_array_equal(grid[0, 1:3, 1:3], 1.0)  # filter 0's w = 2, enlarged 2x2
    np.testing.assert_array_equal(grid[0, 1:5, 3:7], 0.5)
    np.testing.assert_array_equal(grid[0, 8:10, 12:14], 0.25)  # filter 4: row 1, column 1
    rgb = filter_grid(np.ones((4, 3, 3, 3)))  # 3 input channels: one RGB tile per filter
    assert rgb.shape == (3, 2 * 34 + 1, 2 * 34 + 1)  # 3x3 tiles enlarged 11x, nearest 32
    assert filter_grid(np.ones((300, 1, 3, 3)), max_tiles=10).shape == (1, 3 * 34 + 1,
                                                                       4 * 34 + 1)
    assert filter_grid(np.ones((300, 3, 3, 3)), max_tiles=4).shape == (3, 2 * 34 + 1,
                                                                      2 * 34 + 1)
    with pytest.raises(ValueError, match=r"weight must be a conv weight \(K, C, kh, kw\), got "
                       r"shape \(3, 3\)"):
        filter_grid(np.ones((3, 3)))


# ---------------------------------------------------------------- minicnn train --tensorboard


def test_train_tensorboard(data_root, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    grad_sums, original = [], Trainer._tensorboard_epoch

    def log_epoch(self, row):  # the gradients that the epoch's last step left
        grad_sums.append({n: float(p.grad.numpy().sum()) for n, p in
                          self.model.named_parameters()})
        original(self, row)

    monkeypatch.setattr(Trainer, "_tensorboard_epoch", log_epoch)
    code, stdout, err = train(capsys, data_root, out, "--tensorboard")
    assert code == 0, err
    tb = re.escape(str(out / "tb"))
    assert re.search(rf"\n  {tb} +TensorBoard event files \(tensorboard --logdir {tb}\)\n",
                     stdout)
    assert json.loads((out / "config.json").read_text())["tensorboard"] is True
    acc = read_events(out / "tb")
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    for column, tag in (("train_loss", "loss/train"), ("train_acc", "acc/train"),
                        ("val_loss", "loss/val"), ("val_acc", "acc/val"), ("lr", "lr"),
                        ("images_per_s", "speed/images_per_s")):
        assert scalars(acc, tag) == [(i + 1, pytest.approx(float(row[column]), rel=1e-6))
                                     for i, row in enumerate(rows)], tag
    assert "loss/test" not in acc.Tags()["scalars"]  # a validation split: no test per epoch
    model = minicnn.load(out / "last.npz")["model"]
    histograms = set(acc.Tags()["histograms"])
    assert histograms == {f"{kind}/{name}" for name in model for kind in ("params", "grads")}
    for name, value in model.items():
        events = acc.Histograms(f"params/{name}")
        assert [e.step for e in events] == [1, 2]
        assert events[-1].histogram_value.sum == pytest.approx(float(value.numpy().sum()),
                                                               rel=1e-4, abs=1e-5)
        grads = acc.Histograms(f"grads/{name}")
        assert [e.histogram_value.num for e in grads] == [value.numel()] * 2
        assert [e.histogram_value.sum for e in grads] == [
            pytest.approx(sums[name], rel=1e-4, abs=1e-6) for sums in grad_sums]
    (tag,) = acc.Tags()["images"]
    assert tag == "filters/features.0"  # lenet5's first conv: 6 filters 1x5x5
    images = acc.Images(tag)
    assert [(e.step, e.width, e.height) for e in images] == [(1, 94, 63), (2, 94, 63)]
    np.testing.assert_allclose(  # the last epoch's image is the last checkpoint's filters
        image_pixels(images[-1])[..., 0] / 255,
        filter_grid(model["features.0.weight"])[0], atol=1 / 255 + 1e-6)
    results = json.loads((out / "results.json").read_text())
    hparams = session_start(out / "tb" / "hparams")
    assert (hparams["model"], hparams["epochs"], hparams["lr"], hparams["augment"]) == \
        ("lenet5", 2.0, 0.05, False)
    assert "tensorboard" not in hparams and "threads" not in hparams  # runtime options
    hp = read_events(out / "tb" / "hparams")
    assert scalars(hp, "hparam/test_acc") == [(2, pytest.approx(results["test_acc"]))]
    assert scalars(hp, "hparam/best_val_acc") == [(2, pytest.approx(results["best"]["value"]))]


def test_tensorboard_dir_from_the_config_file_and_test_metrics(data_root, tmp_path, capsys):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'tensorboard = "{tmp_path / "logs"}"\nval-split = 0\nepochs = 1\n')
    code, _, err = train(capsys, data_root, tmp_path / "run", "--config", recipe)
    assert code == 0, err
    acc = read_events(tmp_path / "logs")
    assert [step for step, _ in scalars(acc, "acc/test")] == [1, 2]  # --epochs 2 wins
    assert "acc/val" not in acc.Tags()["scalars"]
    assert not os.path.exists(tmp_path / "run" / "tb")
    recipe.write_text("tensorboard = 3\n")
    code, _, err = train(capsys, data_root, tmp_path / "bad", "--config", recipe)
    assert code == 2
    assert err == ("minicnn: error: --tensorboard takes a directory, or no value for DIR/tb "
                   "(in a --config file: true or a path), got 3\n")


def test_resume_appends_and_purges_the_redone_epoch(data_root, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    original = Trainer._save

    def save_then_interrupt(self, checkpoint, path):  # Ctrl-C as epoch 2's checkpoint is due
        if checkpoint["epoch"] == 2 and not checkpoint["interrupted"]:
            raise KeyboardInterrupt
        original(self, checkpoint, path)

    with monkeypatch.context() as m:
        m.setattr(Trainer, "_save", save_then_interrupt)
        code, _, err = train(capsys, data_root, out, "--tensorboard")
    assert code == 130, err
    before = read_events(out / "tb")
    assert [s for s, _ in scalars(before, "loss/train")] == [1, 2]  # epoch 2 logged, unsaved
    code, _, err = resume(capsys, out)
    assert code == 0, err
    after = read_events(out / "tb")
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert scalars(after, "loss/train") == [
        (i + 1, pytest.approx(float(row["train_loss"]), rel=1e-6)) for i, row in enumerate(rows)]
    assert [e.step for e in after.Images("filters/features.0")] == [1, 2]
    assert [e.step for e in after.Histograms("grads/features.0.bias")] == [1, 2]


def test_tensorboard_may_be_turned_on_when_resuming(data_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(capsys, data_root, out)[0] == 0
    code, _, err = resume(capsys, out, "--tensorboard", tmp_path / "tb")
    assert code == 0, err  # a runtime option: the finished run's final test and hparams
    assert os.listdir(tmp_path / "tb" / "hparams")


def test_only_rank_0_writes(data_root, tmp_path):
    config = TrainConfig(epochs=1, batch_size=32, data_root=data_root, out=str(tmp_path / "r"),
                         plot=False, tensorboard=True)
    trainer = Trainer(config, stream=io.StringIO())
    trainer.rank = 1  # as rank 1 of a job (one process: its collectives are no-ops)
    trainer.fit()
    assert not os.path.exists(tmp_path / "r" / "tb")


def test_missing_tensorboardx_fails_before_training(data_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    code, stdout, err = train(capsys, data_root, tmp_path / "run", "--tensorboard")
    assert code == 1 and stdout == "" and not os.path.exists(tmp_path / "run")
    assert err.startswith("minicnn: error: TensorBoard logging needs tensorboardX: pip install "
                          "'minicnn[tensorboard]'")
