"""The command line (minicnn/cli.py): every subcommand in-process through ``cli.main(argv)``,
its output and exit codes (0 ok, 1 missing data/file, 2 bad option, 130 Ctrl-C), and the
``python -m minicnn`` entry in a subprocess. The data is a tiny Fashion-MNIST in IDX format."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minicnn
from minicnn import cli, training

from helpers import N_TEST, interrupt_after, write_fashion_mnist

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return write_fashion_mnist(tmp_path_factory.mktemp("data"))


def minicnn_cli(capsys, *argv):
    """Run ``minicnn ARGV`` in-process; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return info.value.code, out, err


def train_args(data_root, out, *extra):
    return ["train", "--model", "lenet5", "--dataset", "fashion-mnist", "--epochs", "1",
            "--batch-size", "16", "--data-root", data_root, "--out", out, *extra]


@pytest.fixture(scope="module")
def run_dir(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    with pytest.raises(SystemExit) as info:
        cli.main(train_args(data_root, str(out)))
    assert info.value.code == 0
    return out


def test_train(data_root, tmp_path, capsys):
    code, out, err = minicnn_cli(capsys, *train_args(data_root, tmp_path / "r", "--optimizer",
                                                     "adam", "--scheduler", "cosine", "--seed",
                                                     "3", "--augment"))
    assert code == 0, err
    assert "training lenet5 on fashion-mnist: 58 train, 6 val, 32 test images" in out  # 10% val
    assert "epoch 1/1  train loss" in out and "img/s" in out
    assert "accuracy" in out and "confusion matrix" in out
    cfg = json.load(open(tmp_path / "r" / "config.json"))
    assert (cfg["optimizer"], cfg["lr"], cfg["scheduler"], cfg["seed"], cfg["augment"]) == \
        ("adam", 0.001, "cosine", 3, True)
    assert err == ""


def test_default_run_directory_is_numbered(data_root, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = train_args(data_root, "x")[:-2]  # without --out
    assert minicnn_cli(capsys, *args)[0] == 0
    assert minicnn_cli(capsys, *args)[0] == 0
    assert os.path.isfile(tmp_path / "runs" / "lenet5-fashion-mnist" / "last.npz")
    assert os.path.isfile(tmp_path / "runs" / "lenet5-fashion-mnist-2" / "last.npz")


def test_out_holding_a_run_is_refused(data_root, run_dir, capsys):
    code, _, err = minicnn_cli(capsys, *train_args(data_root, run_dir))
    assert code == 2
    assert f"already holds a run (last.npz): continue it with --resume {run_dir}" in err


def test_ctrl_c_exits_130_then_resume(data_root, tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    args = train_args(data_root, out)
    args[args.index("--epochs") + 1] = "2"
    with monkeypatch.context() as m:
        interrupt_after(m, 6)  # epoch 2, batch 3 of 4
        code, stdout, err = minicnn_cli(capsys, *args)
    assert code == 130
    assert "interrupted in epoch 2/2 (train, batch 2/4)" in err
    assert f"resume with: minicnn train --resume {out}" in err
    assert "Traceback" not in err and "epoch 1/2" in stdout
    assert minicnn.load(out / "last.npz")["interrupted"]["epoch"] == 2

    code, stdout, err = minicnn_cli(capsys, "train", "--resume", out, "--workers", "1")
    assert code == 0, err
    epochs = [line.split()[1] for line in stdout.splitlines() if line.startswith("epoch ")]
    assert "resuming" in stdout and epochs == ["2/2"]
    straight = tmp_path / "straight"
    args[args.index("--out") + 1] = str(straight)
    assert minicnn_cli(capsys, *args)[0] == 0
    a, b = minicnn.load(out / "last.npz"), minicnn.load(straight / "last.npz")
    for key, value in a["model"].items():
        np.testing.assert_array_equal(value.numpy(), b["model"][key].numpy())


def test_resume_refuses_other_options(run_dir, capsys):
    code, _, err = minicnn_cli(capsys, "train", "--resume", run_dir, "--lr", "0.1", "--epochs",
                               "3")
    assert code == 2
    assert "drop --epochs, --lr" in err


def test_resume_without_checkpoint(tmp_path, capsys):
    code, _, err = minicnn_cli(capsys, "train", "--resume", tmp_path)
    assert code == 1 and "no checkpoint" in err


def test_plot_options(data_root, tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    code, stdout, err = minicnn_cli(capsys, *train_args(data_root, out, "--no-plot"))
    assert code == 0, err
    assert "curves.png" not in stdout and not os.path.exists(out / "curves.png")
    assert json.load(open(out / "config.json"))["plot"] is False
    # both may change on --resume (a finished run: only the final test and the plot again)
    code, stdout, err = minicnn_cli(capsys, "train", "--resume", out, "--no-plot")
    assert code == 0 and "curves.png" not in stdout, err
    if importlib.util.find_spec("matplotlib") is not None:
        code, stdout, err = minicnn_cli(capsys, "train", "--resume", out, "--plot")
        assert code == 0 and os.path.isfile(out / "curves.png"), err
        assert f"{out / 'curves.png'}  " in stdout
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    # without matplotlib, the default skips the plot with a note; --plot fails before training
    code, stdout, err = minicnn_cli(capsys, *train_args(data_root, tmp_path / "d"))
    assert code == 0 and "curves.png skipped: matplotlib is not installed" in stdout, err
    code, stdout, err = minicnn_cli(capsys, *train_args(data_root, tmp_path / "p", "--plot"))
    assert code == 1 and stdout == "" and not os.path.exists(tmp_path / "p")
    assert err.startswith("minicnn: error: --plot needs matplotlib: pip install matplotlib")


# ---------------------------------------------------------------- errors and exit codes


def test_missing_data_set(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "nothing").mkdir()
    code, out, err = minicnn_cli(capsys, "train", "--dataset", "mnist", "--data-root",
                                 tmp_path / "nothing", "--out", tmp_path / "r")
    assert code == 1
    assert err.startswith("minicnn: error: MNIST (training set) not found")
    assert str(tmp_path / "nothing") in err  # where it looked
    assert "minicnn data fetch mnist" in err  # how to provide it
    assert "Traceback" not in err
    # a --data-root that does not exist is a mistyped option, not a reason to look elsewhere
    code, out, err = minicnn_cli(capsys, "train", "--dataset", "mnist", "--data-root",
                                 tmp_path / "typo", "--out", tmp_path / "r")
    assert code == 2 and "Traceback" not in err
    assert err == (f"minicnn: error: --data-root {tmp_path / 'typo'}: no such directory; put the "
                   f"files there (minicnn data fetch mnist --data-root {tmp_path / 'typo'}) or "
                   "leave it out to search the default places\n")


def test_unknown_model(data_root, tmp_path, capsys):
    code, _, err = minicnn_cli(capsys, *train_args(data_root, tmp_path / "r", "--model",
                                                   "resnet9000"))
    assert code == 2
    assert err.strip().splitlines() == [
        "minicnn: error: unknown model 'resnet9000'; choose from "
        + ", ".join(minicnn.models.list_models())]


@pytest.mark.parametrize("option, value, message", [
    ("--lr", "-0.1", "minicnn: error: --lr must be a number > 0.0, got -0.1"),
    ("--optimizer", "lbfgs", "minicnn: error: argument --optimizer: invalid choice: 'lbfgs'"),
    ("--scheduler", "cyclic", "invalid choice: 'cyclic'"),
    ("--epochs", "many", "argument --epochs: invalid int value: 'many'"),
    ("--epochs", "0", "minicnn: error: --epochs must be an integer >= 1, got 0"),
    ("--val-split", "1.5", "--val-split must be a number >= 0.0 and < 1.0"),
    ("--dataset", "imagenet", "unknown data set 'imagenet'; expected one of: mnist, "
                              "fashion-mnist, cifar10"),
    ("--device", "tpu", "invalid choice: 'tpu'"),
])
def test_bad_values(data_root, tmp_path, capsys, option, value, message):
    code, _, err = minicnn_cli(capsys, *train_args(data_root, tmp_path / "r", option, value))
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if "invalid choice" in message:  # the valid ones are listed
        choices = {"--optimizer": training.OPTIMIZERS, "--device": training.DEVICES,
                   "--scheduler": training.SCHEDULERS}[option]
        assert all(c in err for c in choices)
    assert not os.path.exists(tmp_path / "r" / "last.npz")


def test_device_cuda(data_root, tmp_path, capsys):
    code, _, err = minicnn_cli(capsys, *train_args(data_root, tmp_path / "r", "--device",
                                                   "cuda"))
    assert code == 2
    assert "minicnn: error: --device cuda: CUDA is not available" in err


# ---------------------------------------------------------------- eval, predict, summary, data


def test_eval(run_dir, data_root, capsys):
    code, out, err = minicnn_cli(capsys, "eval", "--checkpoint", run_dir / "best.npz",
                                 "--data-root", data_root)
    assert code == 0, err
    results = json.load(open(run_dir / "results.json"))
    assert f"fashion-mnist test set ({N_TEST} images)" in out
    assert f"accuracy {results['test_acc']:.2%}" in out
    assert "T-shirt/top" in out and "Ankle boot" in out
    assert "confusion matrix (rows: true class, columns: predicted):" in out
    rows = out.split("predicted):\n")[1].strip().splitlines()[1:]
    matrix = [[int(v) for v in r.split()[1:]] for r in rows]
    assert matrix == results["confusion_matrix"]


def test_eval_errors(run_dir, tmp_path, capsys):
    code, _, err = minicnn_cli(capsys, "eval", "--checkpoint", tmp_path / "none.npz")
    assert code == 1 and "no such file" in err
    (tmp_path / "junk.npz").write_bytes(b"junk")
    code, _, err = minicnn_cli(capsys, "eval", "--checkpoint", tmp_path / "junk.npz")
    assert code == 1 and "not a minicnn checkpoint" in err
    code, _, err = minicnn_cli(capsys, "eval", "--checkpoint", run_dir / "best.npz",
                               "--dataset", "cifar10")
    assert code == 2 and "does not fit this model" in err


def test_predict(run_dir, data_root, tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    from minicnn.data import get_dataset

    test = get_dataset("fashion-mnist", root=data_root, train=False)
    Image.fromarray(test.data[0]).save(tmp_path / "a.png")
    Image.fromarray(test.data[1]).save(tmp_path / "b.jpg")
    code, out, err = minicnn_cli(capsys, "predict", "--checkpoint", run_dir / "best.npz",
                                 tmp_path / "a.png", tmp_path / "b.jpg", "--topk", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == str(tmp_path / "a.png") and lines[3] == str(tmp_path / "b.jpg")
    expected = training.predict_files(run_dir / "best.npz", [tmp_path / "a.png"], topk=2)[0]
    for line, (name, prob) in zip(lines[1:3], expected):
        assert line.split() == [*name.split(), f"{prob:.2%}"]
    code, _, err = minicnn_cli(capsys, "predict", "--checkpoint", run_dir / "best.npz",
                               tmp_path / "missing.png")
    assert code == 1 and "no such image file" in err
    code, _, err = minicnn_cli(capsys, "predict", "--checkpoint", run_dir / "best.npz",
                               tmp_path / "a.png", "--topk", "0")
    assert code == 2 and "--topk" in err


def test_summary(capsys):
    code, out, _ = minicnn_cli(capsys, "summary", "--model", "lenet5", "--input-shape",
                               "1,28,28")
    assert code == 0
    assert "Total params: 61,706" in out and "[1, 6, 28, 28]" in out
    code, out, _ = minicnn_cli(capsys, "summary", "--model", "lenet5", "--input-shape",
                               "3,32,32", "--num-classes", "100", "--batch-size", "8")
    assert code == 0
    assert "[8, 100]" in out and "Forward activations, batch 8" in out


@pytest.mark.parametrize("name", minicnn.models.list_models())
def test_summary_uses_the_native_input_shape(name, capsys):
    code, out, err = minicnn_cli(capsys, "summary", name)
    assert code == 0, err
    shape = minicnn.models.native_input_shape(name)
    assert f"Input shape: [1, {', '.join(map(str, shape))}]" in out
    if name == "resnet18":  # the model's own 1000 classes: torchvision's published count
        assert "Total params: 11,689,512" in out


def test_summary_of_a_checkpoint(run_dir, tmp_path, capsys):
    for argv in ([run_dir / "best.npz"], [run_dir], ["--checkpoint", run_dir / "best.npz"]):
        code, out, err = minicnn_cli(capsys, "summary", *argv)
        assert code == 0, err
        assert "Input shape: [1, 1, 28, 28]" in out and "Total params: 61,706" in out
    # the checkpoint's input shape, not the model's native 3x32x32
    ckpt = minicnn.load(run_dir / "best.npz")
    ckpt["config"]["model"] = "resnet20"
    ckpt["model"] = minicnn.models.resnet20(in_channels=1).state_dict()
    minicnn.save(ckpt, tmp_path / "resnet20.npz")
    code, out, err = minicnn_cli(capsys, "summary", tmp_path / "resnet20.npz")
    assert code == 0, err
    assert "Input shape: [1, 1, 28, 28]" in out and "CifarResNet" in out
    code, _, err = minicnn_cli(capsys, "summary", run_dir, "--input-shape", "1,32,32")
    assert code == 2 and "model 'lenet5' does not accept input shape 1,32,32" in err
    code, _, err = minicnn_cli(capsys, "summary", run_dir, "--num-classes", "3")
    assert code == 2 and "--num-classes and --small-input go with a model name only" in err


@pytest.mark.parametrize("argv, message", [
    (["--model", "lenet5", "--input-shape", "28,28"], "argument --input-shape: expected C,H,W"),
    (["--model", "lenet5", "--input-shape", "1,0,28"], "expected C,H,W"),
    (["--model", "nope", "--input-shape", "1,28,28"], "unknown model 'nope'; choose from"),
    (["--model", "simple_cnn", "--input-shape", "1,32,32"], "does not accept input shape"),
    (["resnet21"], "'resnet21' is neither a model (lenet5, simple_cnn,"),
    (["lenet5", "--model", "lenet5"], "argument --model: not allowed with argument"),
    ([], "one of the arguments MODEL|CHECKPOINT --model --checkpoint is required"),
])
def test_summary_errors(capsys, argv, message):
    code, _, err = minicnn_cli(capsys, "summary", *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_eval_and_predict_an_untrained_model(data_root, tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    warning = ("minicnn: warning: --model resnet20 has random weights (untrained): a smoke test "
               "of the pipeline, its results are chance level\n")
    code, out, err = minicnn_cli(capsys, "eval", "--model", "resnet20", "--data-root", data_root)
    assert code == 0 and err == warning
    assert out.startswith("model: resnet20 (random weights)\n")
    assert f"fashion-mnist test set ({N_TEST} images)" in out
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "a.png")
    code, out, err = minicnn_cli(capsys, "predict", "--model", "resnet20", tmp_path / "a.png",
                                 "--topk", "1")
    assert code == 0 and err == warning
    assert out.splitlines()[0] == str(tmp_path / "a.png") and len(out.splitlines()) == 2
    for argv, message in [
            ([], "one of the arguments --checkpoint --model is required"),
            (["--model", "lenet5", "--checkpoint", "x.npz"], "not allowed with argument"),
            (["--checkpoint", "x.npz", "--dataset", "mnist"], "--dataset goes with --model only"),
            (["--model", "simple_cnn", "--dataset", "cifar10"],
             "model 'simple_cnn' does not accept the 3x32x32 images of cifar10")]:
        code, _, err = minicnn_cli(capsys, "predict", *argv, tmp_path / "a.png")
        assert code == 2 and message in err and len(err.splitlines()) == 1, err
    for kwargs in ({}, {"path": "x.npz", "model": "lenet5"}):  # the library: exactly one
        with pytest.raises(training.ConfigError, match="give either a checkpoint"):
            training.evaluate_checkpoint(**kwargs)


def test_predict_warns_for_each_image_it_converts(run_dir, tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    dark = np.zeros((28, 28), np.uint8)
    dark[6:22, 4:24] = 220  # a light object on black, as Fashion-MNIST's
    Image.fromarray(dark).save(tmp_path / "match.png")
    photo = np.full((30, 40, 3), 250, np.uint8)
    photo[5:25, 8:32] = (140, 40, 30)  # a red shoe on white paper
    Image.fromarray(photo).save(tmp_path / "shoe.png")
    code, out, err = minicnn_cli(capsys, "predict", "--checkpoint", run_dir,
                                 tmp_path / "match.png", tmp_path / "shoe.png", "--topk", "1")
    assert code == 0
    assert err == (f"minicnn: warning: {tmp_path / 'shoe.png'}: converted colour to grey, "
                   "resized 40x30 to 28x28, inverted (light background); the model expects "
                   "28x28 grey images with a dark background (as in fashion-mnist), so "
                   "predictions may be poor\n")
    assert [line for line in out.splitlines() if not line.startswith(" ")] == \
        [str(tmp_path / "match.png"), str(tmp_path / "shoe.png")]


def test_output_into_a_closed_pipe_exits_quietly():
    # `minicnn summary resnet20 | head -1` once head has gone: the read end of the pipe is
    # closed. (argparse's --help ignores a failed write by itself.)
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "minicnn", "summary", "resnet20"], cwd=REPO,
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert proc.stderr == ""
    assert proc.returncode == cli.EXIT_BROKEN_PIPE == 141  # as a process killed by SIGPIPE


def test_data_info(data_root, capsys):
    code, out, _ = minicnn_cli(capsys, "data", "info", "fashion_mnist", "--data-root",
                               data_root)
    assert code == 0
    assert out.startswith("Fashion-MNIST (fashion-mnist): 10 classes, 1x28x28 images")
    assert "T-shirt/top" in out
    code, _, err = minicnn_cli(capsys, "data", "info", "svhn")
    assert code == 2 and "unknown data set 'svhn'" in err


def test_data_fetch_calls_the_data_package(tmp_path, capsys, monkeypatch):
    import minicnn.data

    calls = []
    monkeypatch.setattr(minicnn.data, "fetch", lambda name, root=None: calls.append(
        (name, root)) or os.path.join(root, name))
    code, out, _ = minicnn_cli(capsys, "data", "fetch", "CIFAR-10", "--data-root", tmp_path)
    assert code == 0 and calls == [("cifar10", str(tmp_path))]
    assert f"cifar10: files in {tmp_path / 'cifar10'}" in out


def test_info_still_works(capsys):
    code, out, _ = minicnn_cli(capsys, "info")
    assert code == 0 and f"version:   {minicnn.__version__}" in out


def test_python_m_minicnn_entry(data_root, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "minicnn", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for command in ("train", "eval", "predict", "summary", "data", "info"):
        assert command in proc.stdout
    # the console script's target, as an installed `minicnn` runs it
    code = "import sys; from minicnn.cli import main; sys.argv[0] = 'minicnn'; main()"
    proc = subprocess.run([sys.executable, "-c", code, *train_args(data_root, str(tmp_path))],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "epoch 1/1" in proc.stdout and os.path.isfile(tmp_path / "results.json")
    proc = subprocess.run([sys.executable, "-c", code, "train", "--lr", "-1"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("minicnn: error: --lr")


def test_config_file(data_root, tmp_path, capsys):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('epochs = 2\nbatch-size = 32\nrandaugment = "1,5"\nema = 0.9\n'
                      'val_split = 0.25\n')
    out = tmp_path / "run"
    code, _, err = minicnn_cli(capsys, *train_args(data_root, out, "--config", recipe,
                                                   "--no-plot"))  # --epochs 1 on the line wins
    assert code == 0, err
    config = json.loads((out / "config.json").read_text())
    assert (config["epochs"], config["batch_size"], config["randaugment"], config["ema"],
            config["val_split"]) == (1, 16, "1,5", 0.9, 0.25)
    recipe.write_text("epochs = 2\nlearning_rate = 0.1\n")
    code, _, err = minicnn_cli(capsys, *train_args(data_root, tmp_path / "r2", "--config",
                                                   recipe))
    assert code == 2 and err == (f"minicnn: error: --config {recipe}: unknown option(s) "
                                 "learning_rate; the keys are minicnn train's options without "
                                 "-- (see minicnn train --help)\n")
    recipe.write_text("epochs = \n")
    code, _, err = minicnn_cli(capsys, *train_args(data_root, tmp_path / "r3", "--config",
                                                   recipe))
    assert code == 2 and err.startswith(f"minicnn: error: --config {recipe}: not valid TOML")
    code, _, err = minicnn_cli(capsys, "train", "--resume", out, "--config", recipe)
    assert code == 2 and "drop --config" in err
    code, _, err = minicnn_cli(capsys, "train", "--config", tmp_path / "none.toml")
    assert code == 1 and "none.toml" in err and "Traceback" not in err


def test_ema_flag_takes_an_optional_decay():
    parser = cli.build_parser()
    assert parser.parse_args(["train", "--ema"]).ema == 0.999
    assert parser.parse_args(["train", "--ema", "0.99"]).ema == 0.99
    assert not hasattr(parser.parse_args(["train"]), "ema")
