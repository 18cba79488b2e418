"""The training engine (minicnn/training/) and the model summary (minicnn/utils/summary.py).

Every run trains LeNet-5 for an epoch or two on a tiny Fashion-MNIST written here in the real
IDX format (64 training and 32 test images whose class is drawn as a bright band), so the run
directory, the checkpoints, the schedules, Ctrl-C and --resume are exercised end to end.
"""
import csv
import dataclasses
import io
import json
import math
import os
import re
import sys

import numpy as np
import pytest

import minicnn
from minicnn import nn, training
from minicnn.training import (
    COLUMNS,
    ConfigError,
    TrainConfig,
    Trainer,
    TrainingDiverged,
    TrainingInterrupted,
)
from minicnn.utils.summary import summary

from helpers import N_TEST, N_TRAIN, interrupt_after, needs_source_tree, write_fashion_mnist

BATCH = 16  # 4 batches per epoch


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return write_fashion_mnist(tmp_path_factory.mktemp("data"))


def config(data_root, out, **kw):
    kw = {"model": "lenet5", "dataset": "fashion-mnist", "epochs": 2, "batch_size": BATCH,
          "data_root": data_root, "out": str(out), "val_split": 0.0, **kw}
    return TrainConfig(**kw)


def run(cfg):
    stream = io.StringIO()
    results = Trainer(cfg, stream=stream).fit()
    return results, stream.getvalue()


@pytest.fixture(scope="module")
def trained_run(data_root, tmp_path_factory):
    """One finished 2-epoch run, shared by the tests that only read its directory."""
    out = tmp_path_factory.mktemp("run") / "lenet5"
    results, text = run(config(data_root, out))
    return out, results, text


def read_metrics(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def without_timing(rows):
    return [{k: v for k, v in r.items() if k not in ("epoch_time_s", "images_per_s")}
            for r in rows]


def assert_same_run(a, b):
    """Two run directories hold the same final weights, optimizer state, metrics and results."""
    ca, cb = minicnn.load(os.path.join(a, "last.npz")), minicnn.load(os.path.join(b, "last.npz"))
    assert ca["epoch"] == cb["epoch"]
    for key, value in ca["model"].items():
        np.testing.assert_array_equal(value.numpy(), cb["model"][key].numpy(), err_msg=key)
    for i, state in ca["optimizer"]["state"].items():
        for key, value in state.items():
            other = cb["optimizer"]["state"][i][key]
            np.testing.assert_array_equal(np.asarray(value), np.asarray(other))
    assert ca["scheduler"] == cb["scheduler"]
    assert ca["rng"] == cb["rng"]
    assert without_timing(read_metrics(a)) == without_timing(read_metrics(b))
    ra = json.load(open(os.path.join(a, "results.json")))
    rb = json.load(open(os.path.join(b, "results.json")))
    assert (ra["test_acc"], ra["test_loss"], ra["confusion_matrix"]) == \
        (rb["test_acc"], rb["test_loss"], rb["confusion_matrix"])


# ---------------------------------------------------------------- the run directory


def has_matplotlib():
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        return False
    return True


def test_run_directory(trained_run):
    out, results, text = trained_run
    files = {"best.npz", "config.json", "confusion_matrix.csv", "last.npz", "metrics.csv",
             "metrics.jsonl", "results.json"}
    assert set(os.listdir(out)) == files | ({"curves.png"} if has_matplotlib() else set())
    cfg = json.load(open(out / "config.json"))
    assert set(cfg) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert cfg["lr"] == 0.05 and cfg["epochs"] == 2 and cfg["model"] == "lenet5"

    rows = read_metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(list(r) == list(COLUMNS) for r in rows)
    assert all(r["val_acc"] is None and 0 <= r["test_acc"] <= 1 for r in rows)
    with open(out / "metrics.csv") as f:
        table = list(csv.reader(f))
    assert table[0] == list(COLUMNS) and len(table) == 3
    assert float(table[2][COLUMNS.index("train_loss")]) == rows[1]["train_loss"]

    last = minicnn.load(out / "last.npz")
    assert set(last) == {"format", "version", "epoch", "model", "optimizer", "scheduler", "rng",
                         "config", "dataset", "history", "best", "interrupted", "world_size",
                         "fingerprint", "ema", "scaler"}
    assert last["format"] == "minicnn-train" and last["epoch"] == 2
    assert last["interrupted"] is None
    assert last["rng"]["loader"] == {"seed": 0, "epoch": 2}
    assert last["rng"]["minicnn"]["bit_generator"] == "PCG64"
    assert last["dataset"]["classes"][0] == "T-shirt/top"
    assert last["dataset"]["image_size"] == [28, 28] and last["dataset"]["channels"] == 1
    assert set(last["model"]) == set(minicnn.models.lenet5().state_dict())
    assert last["history"] == rows
    best = minicnn.load(out / "best.npz")
    assert best["best"]["metric"] == "last"  # --val-split 0: the test set does not choose
    assert best["epoch"] == best["best"]["epoch"] == 2
    assert best["best"]["value"] == rows[-1]["test_acc"]

    cm = np.array(results["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == N_TEST
    assert results["test_acc"] == np.trace(cm) / N_TEST == rows[-1]["test_acc"]
    assert list(results["per_class_acc"]) == last["dataset"]["classes"]
    assert json.load(open(out / "results.json")) == json.loads(json.dumps(results))
    with open(out / "confusion_matrix.csv") as f:
        table = list(csv.reader(f))
    assert table[0][1:] == last["dataset"]["classes"]
    assert np.array_equal(np.array([r[1:] for r in table[1:]], int), cm)

    assert "; 2 epochs, batch 16," in text
    assert "epoch 1/2" in text and "epoch 2/2" in text
    assert f"accuracy {results['test_acc']:.2%}" in text and "confusion matrix" in text


@needs_source_tree("docs/05-training-recipes.md")
def test_run_directory_is_documented(trained_run):
    """docs/05-training-recipes.md, "The run directory", names every file, metrics column,
    checkpoint key and results key that a run writes."""
    out, results, _ = trained_run
    docs = open(os.path.join(os.path.dirname(__file__), "..", "docs",
                             "05-training-recipes.md")).read()
    section = docs.split("\n## The run directory\n", 1)[1].split("\n## ", 1)[0]
    last = minicnn.load(out / "last.npz")
    names = [f"`{f}`" for f in {*os.listdir(out), "curves.png"}]
    names += [f"`{c}`" for c in COLUMNS]
    names += [f'"{k}"' for k in [*last, *last["dataset"], *last["rng"], *last["best"], *results]]
    assert [n for n in names if n not in section] == []


def test_training_learns(data_root, tmp_path):
    results, _ = run(config(data_root, tmp_path / "r", epochs=6, optimizer="adam", lr=0.003))
    assert results["test_acc"] >= 0.6  # chance is 0.1


def test_same_seed_same_run_other_seed_differs(data_root, tmp_path, trained_run):
    run(config(data_root, tmp_path / "a"))
    assert_same_run(trained_run[0], tmp_path / "a")
    run(config(data_root, tmp_path / "b", seed=1))
    a, b = minicnn.load(tmp_path / "a" / "last.npz"), minicnn.load(tmp_path / "b" / "last.npz")
    assert not np.array_equal(a["model"]["classifier.4.weight"].numpy(),
                              b["model"]["classifier.4.weight"].numpy())


# ---------------------------------------------------------------- Ctrl-C and resume


RECIPES = {
    "sgd-onecycle": {},
    # simple_cnn has dropout: it draws from minicnn's generator, which resuming must restore
    "dropout-augment-val-cosine-warmup": dict(model="simple_cnn", augment=True, val_split=0.25,
                                              scheduler="cosine", warmup_epochs=1,
                                              label_smoothing=0.1, epochs=3),
    "adamw-step-workers": dict(optimizer="adamw", scheduler="step", workers=2),
}


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("calls", [0, 4, 6], ids=["first-batch", "epoch-boundary", "mid-epoch"])
def test_interrupt_then_resume_equals_uninterrupted(data_root, tmp_path, monkeypatch, recipe,
                                                     calls):
    kw = RECIPES[recipe]
    run(config(data_root, tmp_path / "straight", **kw))
    interrupted = tmp_path / "interrupted"
    with monkeypatch.context() as m:
        interrupt_after(m, calls)
        with pytest.raises(TrainingInterrupted) as info:
            run(config(data_root, interrupted, **kw))
    ckpt = minicnn.load(interrupted / "last.npz")
    per_epoch = (N_TRAIN - round(kw.get("val_split", 0) * N_TRAIN)) // BATCH
    done = calls // per_epoch
    assert ckpt["epoch"] == done
    assert ckpt["interrupted"] == {"epoch": done + 1, "batch": calls % per_epoch,
                                   "batches": per_epoch, "phase": "train"}
    assert len(read_metrics(interrupted)) == done
    assert not os.path.exists(interrupted / "results.json")
    message = str(info.value)
    assert f"minicnn train --resume {interrupted}" in message
    assert f"state after epoch {done}" in message
    assert info.value.checkpoint == str(interrupted / "last.npz")

    stream = io.StringIO()
    Trainer.resume(str(interrupted), stream=stream).fit()
    assert f"resuming {interrupted} after epoch {done}" in stream.getvalue()
    assert_same_run(tmp_path / "straight", interrupted)
    assert minicnn.load(interrupted / "last.npz")["interrupted"] is None


def test_interrupt_during_evaluation(data_root, tmp_path, monkeypatch):
    out = tmp_path / "r"
    calls = [0]
    original = Trainer.evaluate

    def evaluate(self, loader):
        calls[0] += 1
        if calls[0] == 2:  # the second epoch's evaluation
            raise KeyboardInterrupt
        return original(self, loader)

    monkeypatch.setattr(Trainer, "evaluate", evaluate)
    with pytest.raises(TrainingInterrupted, match=r"epoch 2/2 \(evaluation, batch 4/4\)"):
        run(config(data_root, out))
    ckpt = minicnn.load(out / "last.npz")
    assert ckpt["epoch"] == 1 and ckpt["interrupted"]["phase"] == "evaluation"


def test_resume_finished_run_only_retests(trained_run):
    out, results, _ = trained_run
    before = minicnn.load(out / "last.npz")
    stream = io.StringIO()
    again = Trainer.resume(str(out), stream=stream).fit()
    assert again["test_acc"] == results["test_acc"]
    assert "epoch 1/2" not in stream.getvalue()
    assert len(read_metrics(out)) == 2
    assert minicnn.load(out / "last.npz")["history"] == before["history"]


def test_resume_errors(trained_run, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        Trainer.resume(str(tmp_path))
    with pytest.raises(ConfigError, match="only threads, workers"):
        Trainer.resume(str(trained_run[0]), lr=0.1)
    minicnn.save({"model": {}}, tmp_path / "last.npz")
    with pytest.raises(training.InputFileError, match="not a checkpoint written by minicnn"):
        Trainer.resume(str(tmp_path))


# ---------------------------------------------------------------- options


def lrs(data_root, tmp_path, **kw):
    run(config(data_root, tmp_path, epochs=3, optimizer="sgd", lr=0.1, **kw))
    return [r["lr"] for r in read_metrics(tmp_path)]


@pytest.mark.parametrize("scheduler, kw, expected", [
    ("none", {}, [0.1, 0.1, 0.1]),
    ("step", {}, [0.1, 0.01, 0.001]),  # x 0.1 every third of the epochs
    ("cosine", {"warmup_epochs": 1}, [0.001, 0.1, 0.05]),  # warmup from lr/100, then cosine
    ("none", {"warmup_epochs": 1}, [0.001, 0.1, 0.1]),
    ("onecycle", {}, [0.1 / 25, None, None]),  # starts at max_lr / div_factor
])
def test_lr_schedules(data_root, tmp_path, scheduler, kw, expected):
    got = lrs(data_root, tmp_path, scheduler=scheduler, **kw)
    for g, e in zip(got, expected):
        if e is not None:
            assert g == pytest.approx(e, rel=1e-9)


def test_onecycle_cycles_sgd_momentum(data_root, tmp_path):
    trainer = Trainer(config(data_root, tmp_path, momentum=0.9), stream=io.StringIO())
    group = trainer.optimizer.param_groups[0]
    assert group["momentum"] == 0.9 and group["max_lr"] == 0.05
    trainer = Trainer(config(data_root, tmp_path, momentum=0.0), stream=io.StringIO())
    assert trainer.optimizer.param_groups[0]["momentum"] == 0.0


def test_val_split(data_root, tmp_path):
    cfg = config(data_root, tmp_path, val_split=0.25)
    a = Trainer(cfg, stream=io.StringIO())
    assert (len(a.train_set), len(a.val_set), len(a.test_set)) == (48, 16, N_TEST)
    assert not set(a.train_set.indices) & set(a.val_set.indices)
    b = Trainer(config(data_root, tmp_path, val_split=0.25), stream=io.StringIO())
    assert np.array_equal(a.val_set.indices, b.val_set.indices)
    c = Trainer(config(data_root, tmp_path, val_split=0.25, seed=5), stream=io.StringIO())
    assert not np.array_equal(a.val_set.indices, c.val_set.indices)
    a.fit()
    rows = read_metrics(tmp_path)
    assert all(r["val_acc"] is not None and r["test_acc"] is None for r in rows)
    assert minicnn.load(tmp_path / "best.npz")["best"]["metric"] == "val_acc"


def test_augmentation_changes_training_not_evaluation(data_root, tmp_path):
    plain = Trainer(config(data_root, tmp_path), stream=io.StringIO())
    aug = Trainer(config(data_root, tmp_path, augment=True, val_split=0.25),
                  stream=io.StringIO())
    names = [type(t).__name__ for t in aug.train_set.dataset.transform.transforms]
    assert names == ["RandomCrop", "RandomHorizontalFlip", "ToTensor", "Normalize"]
    assert [type(t).__name__ for t in plain.train_set.transform.transforms] == \
        ["ToTensor", "Normalize"]
    # validation images come from the training files, without augmentation
    x_val, _ = aug.val_set.__getitems__([0, 1])
    x_ref, _ = plain.train_set.__getitems__(aug.val_set.indices[:2])
    np.testing.assert_array_equal(x_val, x_ref)


@pytest.mark.parametrize("changes, message", [
    ({"lr": -0.1}, "--lr must be a number > 0.0"),
    ({"lr": float("nan")}, "--lr"),
    ({"optimizer": "lbfgs"}, "choose from sgd, adam, adamw"),
    ({"scheduler": "cyclic"}, "choose from onecycle, cosine, step, none"),
    ({"model": "resnet9000"}, "unknown model 'resnet9000'; choose from lenet5"),
    ({"dataset": "imagenet"}, "unknown data set 'imagenet'"),
    ({"epochs": 0}, "--epochs must be an integer >= 1"),
    ({"batch_size": 2.5}, "--batch-size must be an integer"),
    ({"momentum": 1.0}, "--momentum"),
    ({"val_split": 1.0}, "--val-split"),
    ({"label_smoothing": 1.5}, "--label-smoothing"),
    ({"warmup_epochs": 2}, "--warmup-epochs must be smaller than --epochs"),
    ({"threads": 0}, "--threads"),
    ({"val_split": 0.001}, "leaves 0 of 64 images for validation"),
    ({"device": "tpu"}, "choose from cpu, cuda"),
])
def test_bad_options(data_root, tmp_path, changes, message):
    with pytest.raises(ConfigError) as info:
        Trainer(config(data_root, tmp_path, **changes))
    assert message in str(info.value)
    assert not os.path.exists(tmp_path / "last.npz")


def test_threads(data_root, tmp_path):
    before = minicnn.get_num_threads()
    try:
        Trainer(config(data_root, tmp_path, threads=1))
        assert minicnn.get_num_threads() == 1
    finally:
        minicnn.set_num_threads(before)


def test_cuda_not_available(data_root, tmp_path):
    with pytest.raises(ConfigError, match="--device cuda: CUDA is not available .*--device cpu"):
        Trainer(config(data_root, tmp_path, device="cuda"))


def test_model_that_does_not_fit_the_images(data_root, tmp_path):
    # VGG's five 2x2 poolings need at least 32x32 inputs
    with pytest.raises(ConfigError, match="does not accept the 1x28x28 images of fashion-mnist"):
        Trainer(config(data_root, tmp_path, model="vgg11_bn"))


def test_missing_data_set(tmp_path, monkeypatch):
    from minicnn.data import DatasetNotFoundError

    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DatasetNotFoundError, match="minicnn data fetch mnist"):
        Trainer(config(str(tmp_path), tmp_path / "out", dataset="mnist"))


# ---------------------------------------------------------------- output


class Terminal(io.StringIO):
    def isatty(self):
        return True


PROGRESS = re.compile(r"  epoch (\d+)/(\d+)  step (\d+)/(\d+) \((\d+)%\)  loss (\d+\.\d{4})  "
                      r"acc (\d+\.\d\d)%  (\d+) img/s  ETA (\d+ s|\d+ min \d\d s)")


def progress_steps(text):
    """{epoch: [step, ...]} of the progress lines in ``text``; every line must parse whole."""
    steps = {}
    for line in text.splitlines():
        if " step " in line:
            match = PROGRESS.fullmatch(line)
            assert match, line
            steps.setdefault(int(match[1]), []).append(int(match[3]))
    return steps


def summary_lines(text):
    return [line for line in text.splitlines() if line.startswith("epoch ")]


def test_progress_lines_without_a_terminal(data_root, tmp_path, trained_run):
    # 64 batches of 1 image: a line each tenth of the epoch, the first after 7 batches
    _, text = run(config(data_root, tmp_path, batch_size=1, plot=False))
    tenths = [math.ceil(k * 64 / 10) for k in range(1, 11)]
    assert progress_steps(text) == {1: tenths, 2: tenths}
    lines = text.splitlines()
    first = lines.index(next(line for line in lines if " step " in line))
    assert lines[first].startswith("  epoch 1/2  step 7/64 (11%)  loss ")
    assert lines[first - 1].startswith("training lenet5")
    rows = read_metrics(tmp_path)
    for epoch, row in enumerate(rows, 1):
        # the epoch's last progress line comes just before its summary, with the same loss
        done = next(i for i, line in enumerate(lines) if line.startswith(f"epoch {epoch}/2"))
        last = PROGRESS.fullmatch(lines[done - 1])
        assert (last[3], last[5], last[9]) == ("64", "100", "0 s")
        assert float(last[6]) == pytest.approx(row["train_loss"], abs=1e-4)
        assert float(last[7]) == pytest.approx(100 * row["train_acc"], abs=0.01)
    # fewer than 10 batches (4): a line per batch
    assert progress_steps(trained_run[2]) == {1: [1, 2, 3, 4], 2: [1, 2, 3, 4]}


def test_progress_bar_on_a_terminal(data_root, tmp_path, monkeypatch):
    pytest.importorskip("tqdm")
    tty = Terminal()
    Trainer(config(data_root, tmp_path / "a", epochs=1, plot=False), stream=tty).fit()
    assert "4/4" in tty.getvalue() and "img_s=" in tty.getvalue()
    assert " step " not in tty.getvalue()  # the bar alone, no progress lines
    _, plain = run(config(data_root, tmp_path / "b", epochs=1, plot=False))
    assert "img_s=" not in plain
    # a terminal without tqdm gets the progress lines
    monkeypatch.setitem(sys.modules, "tqdm", None)
    tty = Terminal()
    Trainer(config(data_root, tmp_path / "c", epochs=1, plot=False), stream=tty).fit()
    assert "img_s=" not in tty.getvalue() and progress_steps(tty.getvalue()) == {1: [1, 2, 3, 4]}


@pytest.mark.parametrize("kw, expected", [
    # OneCycleLR over 1 epoch (16 steps) rises from lr / 25 to about lr (0.04996 at step 5)
    # and falls to lr / 25 / 1e4 within it
    (dict(epochs=1, batch_size=4), ["lr 0.002->0.05->2e-07"]),
    (dict(epochs=1, scheduler="cosine", lr=0.1), ["lr 0.1->0.0146"]),  # 4 steps: 0.1 .. 0.0146
    # constant within each epoch: x 0.1 after every third of the epochs
    (dict(epochs=3, scheduler="step", lr=0.1), ["lr 0.1", "lr 0.01", "lr 0.001"]),
])
def test_epoch_line_gives_the_lr_range(data_root, tmp_path, kw, expected):
    _, text = run(config(data_root, tmp_path, plot=False, **kw))
    assert [line.split("  ")[-2] for line in summary_lines(text)] == expected
    assert f"; {kw['epochs']} epoch{'s' if kw['epochs'] > 1 else ''}, batch " in text


def test_saved_paths_are_printed(trained_run):
    out, _, text = trained_run
    lines = text.splitlines()
    block = lines[lines.index("saved:") + 1:]
    names = ["best.npz", "last.npz", "metrics.csv", "results.json"]
    names += ["curves.png"] if has_matplotlib() else []
    assert [line.split()[0] for line in block] == [str(out / name) for name in names]
    best = minicnn.load(out / "best.npz")["best"]
    assert best["metric"] == "last" and best["epoch"] == 2  # no validation split: the last epoch
    assert block[0].split(None, 1)[1] == "epoch 2, the last epoch (--val-split 0)"
    assert block[1].split(None, 1)[1] == "epoch 2"


def test_plot_by_default(data_root, tmp_path):
    pytest.importorskip("matplotlib")
    _, text = run(config(data_root, tmp_path / "a", epochs=1))
    with open(tmp_path / "a" / "curves.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert [str(tmp_path / "a" / "curves.png"), "loss", "and", "accuracy", "curves"] == \
        text.splitlines()[-1].split()
    _, text = run(config(data_root, tmp_path / "b", epochs=1, plot=False))
    assert not os.path.exists(tmp_path / "b" / "curves.png") and "curves.png" not in text


def test_plot_without_matplotlib(data_root, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    results, text = run(config(data_root, tmp_path, epochs=1))  # skipped, with a note
    assert results["epochs"] == 1 and not os.path.exists(tmp_path / "curves.png")
    notes = [line for line in text.splitlines() if "curves.png" in line]
    assert notes == [("curves.png skipped: matplotlib is not installed (pip install matplotlib, "
                      "or minicnn[train]; --no-plot skips this note)")]
    with pytest.raises(ImportError, match=r"--plot needs matplotlib: .*minicnn\[train\]"):
        training.require_matplotlib()


# ---------------------------------------------------------------- eval and predict


def test_evaluate_checkpoint(trained_run, data_root):
    out, results, _ = trained_run
    result = training.evaluate_checkpoint(out / "last.npz", data_root=data_root)
    assert result["acc"] == results["test_acc"]
    assert result["confusion"].tolist() == results["confusion_matrix"]
    assert result["count"] == N_TEST and result["dataset"] == "fashion-mnist"
    with pytest.raises(ConfigError, match="does not fit this model"):
        training.evaluate_checkpoint(out / "last.npz", dataset="cifar10")
    with pytest.raises(FileNotFoundError):
        training.evaluate_checkpoint(out / "nope.npz")


def test_predict_files(trained_run, data_root, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from minicnn.data import get_dataset

    out = trained_run[0]
    test = get_dataset("fashion-mnist", root=data_root, train=False)
    Image.fromarray(test.data[0]).save(tmp_path / "a.png")
    Image.fromarray(test.data[1]).convert("RGB").resize((56, 56)).save(tmp_path / "b.jpg")
    with pytest.warns(training.InputConversionWarning) as record:  # b.jpg only: grey RGB
        top = training.predict_files(out / "last.npz", [tmp_path / "a.png", tmp_path / "b.jpg"],
                                     topk=3)
    assert [str(w.message).split(";")[0] for w in record] == \
        [f"{tmp_path / 'b.jpg'}: resized 56x56 to 28x28"]
    assert len(top) == 2 and all(len(t) == 3 for t in top)
    for t in top:
        probs = [p for _, p in t]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
        assert all(name in test.classes for name, _ in t)
    # the PNG gets exactly what evaluation sees: same class as the model's test prediction
    model, ckpt = training.load_checkpoint_model(out / "last.npz")
    from minicnn.data import transforms as T
    x = T.Compose([T.ToTensor(), T.Normalize(ckpt["dataset"]["mean"],
                                             ckpt["dataset"]["std"])])(test.data[:1])
    with minicnn.no_grad():
        expected = test.classes[int(model(minicnn.tensor(x)).numpy().argmax())]
    assert top[0][0][0] == expected
    assert len(training.predict_files(out, [tmp_path / "a.png"], topk=50)[0]) == 10
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(training.InputFileError, match="bad.png: not an image file"):
        training.predict_files(out / "last.npz", [tmp_path / "bad.png"])


# ---------------------------------------------------------------- summary


def test_summary_lenet5():
    model = minicnn.models.lenet5()
    s = summary(model, (1, 28, 28), batch_size=2)
    assert s.total_params == s.trainable_params == 61706
    assert sum(layer.num_params for layer in s.layers) == 61706
    by_name = {layer.name: layer for layer in s.layers}
    assert by_name[""].type == "LeNet5" and by_name[""].output_shape == (2, 10)
    assert by_name["features.0"].output_shape == (2, 6, 28, 28)
    assert by_name["features.5"].output_shape == (2, 16, 5, 5)
    assert by_name["classifier.0"].num_params == 400 * 120 + 120
    assert by_name["features.1"].trainable is None and by_name["features.0"].trainable is True
    assert by_name["features.0"].depth == 2 and by_name["features"].depth == 1
    leaf_outputs = sum(np.prod(layer.output_shape) for layer in s.layers if layer.is_leaf)
    assert s.activation_bytes == 4 * leaf_outputs
    text = str(s)
    assert "Total params: 61,706" in text and "    0 (Conv2d)" in text
    assert "[2, 6, 28, 28]" in text and "48,120" in text


def test_summary_frozen_shared_and_mode():
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared, nn.BatchNorm1d(4), nn.Linear(4, 2))
    model[4].weight.requires_grad_(False)
    model.train()
    s = summary(model, (4,))
    assert s.total_params == 20 + 8 + 10  # the shared layer counted once
    assert s.trainable_params == 20 + 8 + 2
    assert model.training and model[3].training
    assert [layer.trainable for layer in s.layers if layer.name == "4"] == ["partial"]
    np.testing.assert_array_equal(model[3].running_mean.numpy(), np.zeros(4))


def test_summary_errors():
    model = minicnn.models.lenet5()
    with pytest.raises(ValueError, match="input_shape"):
        summary(model, (1, -28, 28))
    with pytest.raises(ValueError, match="input_shape"):
        summary(model, "1x28x28")
    with pytest.raises(TypeError, match="nn.Module"):
        summary(object(), (1, 28, 28))
    with pytest.raises(ValueError, match="classifier"):  # the model's error names the layer
        summary(model, (1, 20, 20))
    assert model.training


def nan_after(monkeypatch, calls):
    """The training loss becomes NaN from the ``calls``-th training step on (the evaluation's
    cross_entropy calls, without grad, are not counted nor changed)."""
    real = minicnn.nn.functional.cross_entropy
    count = [0]

    def cross_entropy(*args, **kwargs):
        loss = real(*args, **kwargs)
        if not minicnn.is_grad_enabled():
            return loss
        count[0] += 1
        return loss * float("nan") if count[0] >= calls else loss

    monkeypatch.setattr(minicnn.nn.functional, "cross_entropy", cross_entropy)


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(data_root, tmp_path,
                                                                   monkeypatch):
    out = tmp_path / "diverged"
    per_epoch = N_TRAIN // BATCH
    nan_after(monkeypatch, per_epoch + 3)  # the third step of epoch 2
    trainer = Trainer(config(data_root, out), stream=io.StringIO())
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit()
    message = str(info.value)
    assert "the loss is nan at epoch 2/2, step 3/" in message
    assert "state after epoch 1" in message and "lower --lr" in message
    assert info.value.checkpoint == str(out / "last.npz")
    ckpt = minicnn.load(out / "last.npz")
    assert ckpt["epoch"] == 1
    assert all(np.isfinite(v.numpy()).all() for v in ckpt["model"].values())
    assert not (out / "results.json").exists()


def test_the_command_line_reports_divergence_in_one_line(data_root, tmp_path, monkeypatch,
                                                         capsys):
    from minicnn import cli

    nan_after(monkeypatch, 1)
    out = tmp_path / "cli"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--model", "lenet5", "--dataset", "fashion-mnist", "--epochs", "1",
                  "--data-root", str(data_root), "--out", str(out), "--no-plot"])
    err = capsys.readouterr().err
    assert exit_.value.code == 1
    assert err.startswith("minicnn: error: training diverged: the loss is nan at epoch 1/1, "
                          "step 1/")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ --detect-anomaly


def test_detect_anomaly_names_the_op_whose_backward_made_nan(data_root, tmp_path, monkeypatch):
    original = minicnn.nn.functional.cross_entropy

    def cross_entropy(logits, target, **kw):  # finite loss; sqrt'(0) = inf makes 0 * inf = nan
        return original(logits, target, **kw) + (logits * 0).sqrt().sum() * 0

    monkeypatch.setattr(minicnn.nn.functional, "cross_entropy", cross_entropy)
    out = tmp_path / "anomaly"
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        with pytest.raises(TrainingDiverged) as info:
            Trainer(config(data_root, out, detect_anomaly=True), stream=io.StringIO()).fit()
    message = str(info.value)
    assert "the loss is finite" in message and "the backward of SqrtBackward" in message
    assert f"forward at {__file__}:" in message and "epoch 1/2, step 1/" in message
    assert not minicnn.is_anomaly_enabled()  # the mode ends with the run
    assert all(np.isfinite(v.numpy()).all() for v in minicnn.load(out / "last.npz")["model"]
               .values())


# ------------------------------------------------------------------ one run per directory


def hold_lock(directory):
    """A separate process that takes DIR's lock as a run would, then sleeps: (process, pid)."""
    import subprocess

    code = ("import sys, time\nfrom minicnn.training.rundir import RunDirLock\n"
            "lock = RunDirLock(sys.argv[1]).acquire()\nprint('locked', flush=True)\n"
            "time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(directory)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_on_a_directory_in_use_is_refused(data_root, tmp_path, capsys):
    from minicnn import cli

    out = tmp_path / "busy"
    owner = hold_lock(out)
    try:
        argv = ["train", "--epochs", "1", "--data-root", str(data_root), "--out", str(out),
                "--no-plot"]
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        err = capsys.readouterr().err
        assert exit_.value.code == 1 and len(err.strip().splitlines()) == 1
        assert f"run directory {out} is in use by process {owner.pid} on " in err
        assert os.listdir(out) == [".lock"]  # nothing written
        with pytest.raises(training.rundir.RunDirBusyError, match=f"process {owner.pid}"):
            Trainer(config(data_root, out), stream=io.StringIO()).fit()  # the API refuses too
        with pytest.raises(SystemExit) as exit_:  # and so does --resume
            cli.main(["train", "--resume", str(out)])
        assert exit_.value.code != 0
    finally:
        owner.kill()
        owner.wait()
    # the kernel dropped the dead owner's lock: its file is not a stale lock
    assert os.path.exists(out / ".lock")
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 0
    assert not os.path.exists(out / ".lock")  # released at the end of the run


def test_two_runs_started_together_on_one_directory(data_root, tmp_path):
    import subprocess

    out = tmp_path / "race"
    argv = [sys.executable, "-m", "minicnn", "train", "--epochs", "1", "--data-root",
            str(data_root), "--out", str(out), "--no-plot"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes[0] == 0 and codes[1] in (1, 2), results
    err = next(e for code, _, e in results if code != 0)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    # "by process PID on HOST" as a rule; "by another process" if the owner never got to write
    assert "is in use by" in err or "already holds a run" in err
    assert minicnn.load(out / "last.npz")["epoch"] == 1


def test_write_json_uses_a_temporary_file_of_its_own(tmp_path):
    path = str(tmp_path / "results.json")
    with open(path + ".tmp", "w") as f:  # another writer's temporary file, by the old name
        f.write("theirs")
    training.rundir.write_json(path, {"a": 1})
    assert json.load(open(path)) == {"a": 1}
    assert open(path + ".tmp").read() == "theirs"
    assert sorted(os.listdir(tmp_path)) == ["results.json", "results.json.tmp"]


# ------------------------------------------------------------------ resume checks its data


def test_resume_on_other_data_is_refused_with_the_differences(data_root, tmp_path):
    from helpers import write_fashion_mnist as write

    out = tmp_path / "run"
    run(config(data_root, out, epochs=1))  # resuming a finished run redoes its final test
    ckpt = minicnn.load(out / "last.npz")
    smaller = write(tmp_path / "smaller", n_train=N_TRAIN - 16)
    with pytest.raises(training.InputFileError) as info:
        Trainer.resume(out, data_root=smaller, stream=io.StringIO())
    message = str(info.value)
    assert f"data train images: {N_TRAIN} in the checkpoint, {N_TRAIN - 16} now" in message
    assert "data content checksum" in message and "--data-root" in message

    relabelled = tmp_path / "relabelled"
    write(relabelled)
    labels = relabelled / "fashion-mnist" / "train-labels-idx1-ubyte.gz"
    import gzip

    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[8], raw[9] = raw[9], raw[8] if raw[8] != raw[9] else (raw[8] + 1) % 10
    labels.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(training.InputFileError, match=r"data content checksum \(labels and "
                       r"sampled images\): \w{12} in the checkpoint, \w{12} now\. Resume"):
        Trainer.resume(out, data_root=str(relabelled), stream=io.StringIO())

    ckpt["fingerprint"]["recipe"]["model"] = "0" * 64  # as if the zoo's lenet5 had changed
    minicnn.save(ckpt, out / "last.npz")
    with pytest.raises(training.InputFileError, match="recipe model layout"):
        Trainer.resume(out, data_root=data_root, stream=io.StringIO())

    del ckpt["fingerprint"]  # a checkpoint from before fingerprints: resumes unchecked
    minicnn.save(ckpt, out / "last.npz")
    assert Trainer.resume(out, data_root=data_root, stream=io.StringIO()).fit()["epochs"] == 1


# ------------------------------------------------------------------ recipes (issue 19, item 3)


def test_default_validation_split_chooses_best(data_root, tmp_path):
    cfg = TrainConfig(model="lenet5", epochs=2, batch_size=BATCH, data_root=data_root,
                      out=str(tmp_path))
    assert cfg.val_split == 0.1
    results, _ = run(cfg)
    rows = read_metrics(tmp_path)
    assert all(r["val_acc"] is not None and r["test_acc"] is None for r in rows)
    best = minicnn.load(tmp_path / "best.npz")["best"]
    assert best["metric"] == "val_acc" and best["value"] == max(r["val_acc"] for r in rows)


def test_augmentation_options_build_torchvisions_pipeline(data_root, tmp_path):
    cfg = config(data_root, tmp_path, random_resized_crop=True, augment=True, rotation=10,
                 color_jitter=0.4, randaugment="2,9")
    names = [type(t).__name__ for t in Trainer(cfg, stream=io.StringIO()).train_set.transform
             .transforms]
    assert names == ["RandomResizedCrop", "RandomCrop", "RandomHorizontalFlip", "RandomRotation",
                     "ColorJitter", "RandAugment", "ToTensor", "Normalize"]
    auto = Trainer(config(data_root, tmp_path, autoaugment=True), stream=io.StringIO())
    assert [type(t).__name__ for t in auto.train_set.transform.transforms][0] == "AutoAugment"


@pytest.mark.parametrize("changes, message", [
    ({"randaugment": "2"}, "--randaugment takes N,M"),
    ({"randaugment": "2,31"}, "--randaugment takes N,M"),
    ({"randaugment": "2,9", "autoaugment": True}, "choose one"),
    ({"mixup": -1.0}, "--mixup must be a number >= 0.0"),
    ({"ema": 1.0}, "--ema must be a number > 0.0 and < 1.0"),
    ({"warmup_start_factor": 0.0}, "--warmup-start-factor must be a number > 0.0"),
    ({"small_input": True}, "--small-input: lenet5 has no ImageNet stem"),
])
def test_recipe_option_errors(changes, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        TrainConfig(**changes).validate()


def test_mixup_cutmix_and_ema_train_and_resume_exactly(data_root, tmp_path, monkeypatch):
    recipe = dict(mixup=0.4, cutmix=1.0, ema=0.9, warmup_epochs=1, warmup_start_factor=0.1,
                  scheduler="cosine")
    whole = tmp_path / "whole"
    run(config(data_root, whole, **recipe))
    ckpt = minicnn.load(whole / "last.npz")
    assert ckpt["ema"]["n_averaged"].item() == 2 * N_TRAIN // BATCH
    # eval rebuilds the averaged weights, not the last ones
    model, _ = training.load_checkpoint_model(whole / "last.npz")
    ema_weight = ckpt["ema"]["module.features.0.weight"].numpy()
    np.testing.assert_array_equal(model.state_dict()["features.0.weight"].numpy(), ema_weight)
    assert not np.array_equal(ckpt["model"]["features.0.weight"].numpy(), ema_weight)
    # Ctrl-C in epoch 2, then --resume: the same final state as the uninterrupted run
    part = tmp_path / "part"
    interrupt_after(monkeypatch, N_TRAIN // BATCH + 1)
    with pytest.raises(TrainingInterrupted):
        run(config(data_root, part, **recipe))
    monkeypatch.undo()
    Trainer.resume(part, stream=io.StringIO()).fit()
    assert_same_run(whole, part)
    np.testing.assert_array_equal(minicnn.load(part / "last.npz")["ema"]["module.features.0."
                                                                        "weight"].numpy(),
                                  ema_weight)


def test_small_input_and_auxiliary_heads(data_root, tmp_path):
    # GoogLeNet on 28x28 grey images: the CIFAR stem, and its two auxiliary classifiers in the
    # loss (0.3 each) while training
    cfg = config(data_root, tmp_path, model="googlenet", small_input=True, epochs=1)
    trainer = Trainer(cfg, stream=io.StringIO())
    assert type(trainer.model.maxpool1).__name__ == "Identity"
    x, y = next(iter(trainer.train_loader))
    out = trainer.model(x)
    assert type(out).__name__ == "GoogLeNetOutputs"
    expected = sum(w * nn.functional.cross_entropy(o, y).item()
                   for w, o in zip((1, 0.3, 0.3), out))
    minicnn.manual_seed(0)
    trainer.model.train()
    loss, _ = trainer.train_step(x, y)
    assert math.isfinite(loss) and abs(loss - expected) < 0.5  # dropout draws differ
    with pytest.raises(ConfigError, match="--small-input gives it a stem for small images"):
        Trainer(config(data_root, tmp_path, model="alexnet"), stream=io.StringIO())


# ------------------------------------------------------------------ transfer learning (item 4)


def test_init_from_skips_a_head_of_another_size(trained_run, tmp_path):
    from minicnn.training.transfer import init_from

    out, _, _ = trained_run
    model = minicnn.models.lenet5(num_classes=7)
    loaded, skipped = init_from(model, str(out / "best.npz"))
    assert skipped == ["classifier.4.weight: shape (10, 84) in the file, (7, 84) here",
                       "classifier.4.bias: shape (10,) in the file, (7,) here"]
    trained = minicnn.load(out / "best.npz")["model"]
    assert len(loaded) == len(trained) - 2
    np.testing.assert_array_equal(model.features[0].weight.detach().numpy(),
                                  trained["features.0.weight"].numpy())
    # a plain state dict (what torch.save(model.state_dict()) holds) works the same
    minicnn.save(minicnn.models.lenet5().state_dict(), tmp_path / "sd.pt")
    assert init_from(minicnn.models.lenet5(), str(tmp_path / "sd.pt"))[1] == []
    minicnn.save(minicnn.models.resnet20().state_dict(), tmp_path / "other.npz")
    with pytest.raises(training.InputFileError, match="none of its .* entries matches"):
        init_from(minicnn.models.lenet5(), str(tmp_path / "other.npz"))


def test_linear_probe_then_unfreeze(trained_run, data_root, tmp_path):
    out, _, _ = trained_run
    start = minicnn.load(out / "best.npz")["model"]

    def trained(**kw):
        d = tmp_path / str(len(os.listdir(tmp_path)))
        run(config(data_root, d, init_from=str(out / "best.npz"), **kw))
        return minicnn.load(d / "last.npz")["model"]

    probe = trained(freeze="features")
    assert all(np.array_equal(probe[k].numpy(), start[k].numpy()) for k in start
               if k.startswith("features."))
    assert not np.array_equal(probe["classifier.4.weight"].numpy(),
                              start["classifier.4.weight"].numpy())
    gradual = trained(freeze="features.*", unfreeze_at=2)  # epoch 2 trains the body too
    assert not np.array_equal(gradual["features.0.weight"].numpy(),
                              start["features.0.weight"].numpy())


def test_freeze_bn_and_head_lr(data_root, tmp_path):
    cfg = config(data_root, tmp_path, model="resnet20", freeze_bn=True, head_lr=0.5, epochs=1,
                 scheduler="none")
    trainer = Trainer(cfg, stream=io.StringIO())
    groups = trainer.optimizer.param_groups
    assert [g["lr"] for g in groups] == [0.05, 0.5]
    assert [id(p) for p in groups[1]["params"]] == [id(trainer.model.fc.weight),
                                                    id(trainer.model.fc.bias)]
    before = {k: v.numpy().copy() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    after = trainer.model.state_dict()
    for key in ("bn1.running_mean", "bn1.running_var", "bn1.weight", "layer1.0.bn2.bias"):
        np.testing.assert_array_equal(after[key].numpy(), before[key], err_msg=key)
    assert not np.array_equal(after["conv1.weight"].numpy(), before["conv1.weight"])


@pytest.mark.parametrize("changes, message", [
    ({"freeze": "backbone.*"}, "--freeze 'backbone.*' matches no parameter"),
    ({"unfreeze_at": 2}, "--unfreeze-at goes with --freeze or --freeze-bn"),
    ({"head_lr": 0.0}, "--head-lr must be a number > 0.0"),
])
def test_transfer_option_errors(data_root, tmp_path, changes, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Trainer(config(data_root, tmp_path, **changes), stream=io.StringIO())


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_amp_trains_and_resumes_exactly(trained_run, data_root, tmp_path, monkeypatch, dtype):
    pytest.importorskip("ml_dtypes")
    whole = tmp_path / "whole"
    results, _ = run(config(data_root, whole, amp=dtype))
    assert math.isfinite(results["test_loss"])
    ckpt = minicnn.load(whole / "last.npz")
    fp32 = minicnn.load(trained_run[0] / "last.npz")  # the same recipe in float32
    w = "features.0.weight"
    difference = np.abs(ckpt["model"][w].numpy() - fp32["model"][w].numpy()).max()
    assert 0 < difference < 0.05  # rounded to 16 bits on the way, yet close
    assert (ckpt["scaler"] is not None) == (dtype == "float16")  # loss scaling for float16 only
    assert all(v.dtype == minicnn.float32 for v in ckpt["model"].values() if v.is_floating_point())
    part = tmp_path / "part"
    interrupt_after(monkeypatch, N_TRAIN // BATCH + 1)
    with pytest.raises(TrainingInterrupted):
        run(config(data_root, part, amp=dtype))
    monkeypatch.undo()
    Trainer.resume(part, stream=io.StringIO()).fit()
    assert_same_run(whole, part)
