"""Every subcommand against a table of bad inputs (issue 18, item 7): each must end with one
line ``minicnn: error: ...`` on stderr (warnings aside), the documented exit code (1 for a bad
file or a failure, 2 for a bad option or value) and no traceback; ``--debug`` adds the
traceback. Run in-process through ``cli.main``; the data is a tiny Fashion-MNIST in IDX format.
"""
import errno
import gzip
import os
import shutil

import pytest

import minicnn
from minicnn import cli, serialization

from helpers import write_fashion_mnist


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Paths for the table: data, a good run, crafted and foreign checkpoints, bad images."""
    root = tmp_path_factory.mktemp("bad")
    data = write_fashion_mnist(root / "data")
    run = root / "run"
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--epochs", "1", "--batch-size", "16", "--data-root", data, "--out",
                  str(run), "--no-plot"])
    assert info.value.code == 0
    good = minicnn.load(run / "best.npz")

    def crafted(name, **changes):
        ckpt = {**good, **changes}
        minicnn.save(ckpt, root / name)

    crafted("missing-keys.npz", model="weights")
    crafted("huge-image.npz", dataset={**good["dataset"], "image_size": [10**6, 10**6]})
    crafted("other-model.npz", config={**good["config"], "model": "resnet20"})
    crafted("unknown-model.npz", config={**good["config"], "model": "nonet"})
    crafted("extra-option.npz", config={**good["config"], "rm_rf": True})
    crafted("bad-classes.npz", dataset={**good["dataset"], "classes": 7})
    crafted("negative-epoch.npz", epoch=-3)
    minicnn.save({"format": "minicnn-train"}, root / "only-format.npz")
    minicnn.save({"fc.weight": minicnn.zeros(2, 2)}, root / "foreign.npz")
    minicnn.save({"fc.weight": minicnn.zeros(2, 2)}, root / "foreign.pt")
    raw = (run / "best.npz").read_bytes()
    (root / "truncated.npz").write_bytes(raw[:len(raw) // 2])
    (root / "junk.npz").write_bytes(os.urandom(300))
    (root / "empty.npz").write_bytes(b"")
    (root / "not-an-image.png").write_text("hello")
    (root / "empty.png").write_bytes(b"")
    resume = root / "resume-crafted"
    resume.mkdir()
    shutil.copy(root / "missing-keys.npz", resume / "last.npz")
    no_optimizer = root / "resume-no-optimizer"
    no_optimizer.mkdir()
    minicnn.save({k: v for k, v in good.items() if k != "optimizer"}, no_optimizer / "last.npz")
    corrupt = root / "corrupt"
    shutil.copytree(os.path.join(data, "fashion-mnist"), corrupt / "fashion-mnist")
    images = corrupt / "fashion-mnist" / "train-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:1000]))
    (root / "a-file").write_text("x")
    return {"data": data, "run": str(run), "root": str(root), "corrupt": str(corrupt),
            "resume": str(resume)}


TRAIN = ["train", "--epochs", "1", "--batch-size", "16", "--no-plot", "--data-root", "{data}"]

# (argv with {placeholders} from `world`, exit code, a part of the one-line message)
CASES = [
    # train: options
    (TRAIN + ["--epochs", "0"], 2, "--epochs must be an integer >= 1"),
    (TRAIN + ["--epochs", "two"], 2, "invalid int value"),
    (TRAIN + ["--lr", "-1"], 2, "--lr must be a number > 0"),
    (TRAIN + ["--lr", "nan"], 2, "--lr must be a number > 0"),
    (TRAIN + ["--model", "nonet"], 2, "unknown model 'nonet'"),
    (TRAIN + ["--dataset", "imagenet"], 2, "imagenet"),
    (TRAIN + ["--threads", "0"], 2, "--threads must be an integer >= 1"),
    (TRAIN + ["--val-split", "1.5"], 2, "--val-split must be a number"),
    (TRAIN + ["--warmup-epochs", "3"], 2, "--warmup-epochs must be smaller"),
    (TRAIN + ["--bogus"], 2, "unrecognized arguments: --bogus"),
    # train: files and directories
    (TRAIN + ["--out", "{root}/a-file/run"], 1, "Not a directory"),
    (TRAIN + ["--out", "{run}"], 2, "already holds a run"),
    (["train", "--resume", "{root}/nowhere"], 1, "no checkpoint"),
    (["train", "--resume", "{resume}"], 1, "damaged or foreign minicnn train checkpoint"),
    (["train", "--resume", "{run}", "--epochs", "3"], 2, "--resume continues a run"),
    (["train", "--resume", "{run}", "--data-root", "{corrupt}"], 1, "train-images-idx3"),
    (["train", "--resume", "{run}", "--data-root", "{root}/nowhere"], 2, "no such directory"),
    (TRAIN[:-1] + ["{root}/nowhere", "--out", "{root}/r1"], 2, "no such directory"),
    (TRAIN[:-1] + ["{corrupt}", "--out", "{root}/r2"], 1, "train-images-idx3-ubyte.gz"),
    # eval
    (["eval", "--checkpoint", "{root}/none.npz"], 1, "no such file"),
    (["eval", "--checkpoint", "{root}/junk.npz"], 1, "not a minicnn checkpoint"),
    (["eval", "--checkpoint", "{root}/empty.npz"], 1, "empty.npz"),
    (["eval", "--checkpoint", "{root}/truncated.npz"], 1, "truncated"),
    (["eval", "--checkpoint", "{root}/foreign.npz"], 1, "not a checkpoint written by minicnn"),
    (["eval", "--checkpoint", "{root}/foreign.pt"], 1, "not a checkpoint written by minicnn"),
    (["eval", "--checkpoint", "{root}/only-format.npz"], 1, "'model' is NoneType"),
    (["eval", "--checkpoint", "{root}/missing-keys.npz"], 1, "'model' is str, expected dict"),
    (["eval", "--checkpoint", "{root}/negative-epoch.npz"], 1, "'epoch' is -3"),
    (["train", "--resume", "{root}/resume-no-optimizer"], 1, "last.npz does not fit the run"),
    (["eval", "--checkpoint", "{root}/huge-image.npz"], 1, "'dataset.image_size'"),
    (["eval", "--checkpoint", "{root}/bad-classes.npz"], 1, "'dataset.classes'"),
    (["eval", "--checkpoint", "{root}/other-model.npz"], 1, "does not match its weights"),
    (["eval", "--checkpoint", "{root}/unknown-model.npz"], 1, "'config.model' is 'nonet'"),
    (["eval", "--checkpoint", "{root}/extra-option.npz"], 1, "unknown options ['rm_rf']"),
    (["eval", "--checkpoint", "{root}"], 1, "no such file"),
    (["eval", "--checkpoint", "{run}", "--dataset", "cifar10"], 2, "does not fit this model"),
    (["eval", "--checkpoint", "{run}", "--batch-size", "0"], 2, "expected a positive integer"),
    (["eval", "--model", "nonet"], 2, "unknown model 'nonet'"),
    (["eval"], 2, "one of the arguments --checkpoint --model is required"),
    # predict
    (["predict", "--checkpoint", "{run}", "{root}/none.png"], 1, "none.png"),
    (["predict", "--checkpoint", "{run}", "{root}/not-an-image.png"], 1, "not-an-image.png"),
    (["predict", "--checkpoint", "{run}", "{root}/empty.png"], 1, "empty.png"),
    (["predict", "--checkpoint", "{root}/junk.npz", "{root}/empty.png"], 1, "not a minicnn"),
    (["predict", "--checkpoint", "{run}", "--topk", "0", "x.png"], 2, "positive integer"),
    # summary
    (["summary", "nonet"], 2, "neither a model"),
    (["summary", "resnet20", "--input-shape", "3,32"], 2, "expected C,H,W"),
    (["summary", "vgg11_bn", "--input-shape", "3,8,8"], 2, "does not accept input shape"),
    (["summary", "lenet5", "--input-shape", "1,4,4"], 2, "does not accept input shape"),
    (["summary", "{root}/junk.npz"], 1, "not a minicnn checkpoint"),
    (["summary", "{root}/huge-image.npz"], 1, "'dataset.image_size'"),
    (["summary", "{run}", "--num-classes", "3"], 2, "--num-classes and --small-input go with"),
    (["summary", "lenet5", "--small-input"], 2, "--small-input: lenet5 has no ImageNet stem"),
    # viz, explain, data, bench
    (["viz", "filters", "--checkpoint", "{root}/junk.npz"], 1, "not a minicnn checkpoint"),
    (["viz", "features", "--checkpoint", "{run}"], 2, "needs --image"),
    (["viz", "features", "--checkpoint", "{run}", "--image", "{root}/not-an-image.png"], 1,
     "not-an-image.png"),
    (["viz", "filters", "--checkpoint", "{run}", "--layer", "nolayer"], 2, "nolayer"),
    (["viz", "gradcam", "--checkpoint", "{run}", "--image", "{root}/x.png", "--target", "99"],
     1, "x.png"),
    (["explain", "conv2d", "--padding", "-1"], 2, "padding"),
    (["explain", "maxpool", "--kernel-size", "0"], 2, "positive integer"),
    (["data", "info", "imagenet"], 2, "imagenet"),
    (["bench", "ops", "--threads", "0"], 2, "positive integer"),
    (["bench", "--device", "tpu"], 2, "invalid choice"),
    ([], 2, "the following arguments are required"),
    (["frobnicate"], 2, "invalid choice"),
]


def fill(argv, world):
    return [a.format(**world) for a in argv]


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def errors_only(err):
    """stderr without the warning lines (an untrained model, a converted image)."""
    return [line for line in err.strip().splitlines() if not line.startswith("minicnn: warning")]


@pytest.mark.parametrize("argv, code, message", CASES,
                         ids=[" ".join(c[0][:1] + c[0][8 if c[0][:1] == ["train"] else 1:][:4])
                              for c in CASES])
def test_bad_input_ends_in_one_line(world, capsys, argv, code, message):
    if message.endswith(".png"):  # the error of reading the image, which needs Pillow
        pytest.importorskip("PIL", reason="Pillow is not installed (pip install -e '.[train]')")
    got, out, err = run_cli(fill(argv, world), capsys)
    lines = errors_only(err)
    assert "Traceback" not in out + err, err
    assert len(lines) == 1 and lines[0].startswith("minicnn: error: "), err
    assert message in lines[0], lines[0]
    assert got == code, lines[0]


@pytest.mark.parametrize("error, hint", [
    (errno.EACCES, "check its permissions"),
    (errno.EROFS, "it is on a read-only file system"),
    (errno.ENOSPC, "the disk is full"),
])
def test_unwritable_read_only_or_full_out(world, tmp_path, capsys, monkeypatch, error, hint):
    real_save = serialization.save

    def save(obj, f, **kw):  # the first checkpoint write meets the error (root ignores chmod)
        raise OSError(error, os.strerror(error), os.fspath(f))

    monkeypatch.setattr("minicnn.training.trainer.save", save)
    out = tmp_path / "out"
    got, _, err = run_cli(fill(TRAIN + ["--out", str(out)], world), capsys)
    assert got == 1 and "Traceback" not in err
    assert err.startswith(f"minicnn: error: {out / 'last.npz'}: {os.strerror(error)}; {hint}")
    assert len(err.strip().splitlines()) == 1
    assert real_save is serialization.save


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(world, capsys,
                                                                       monkeypatch):
    def broken(*args, **kw):
        raise ZeroDivisionError("planted")

    monkeypatch.setattr("minicnn.training.evaluate_checkpoint", broken)
    argv = ["eval", "--checkpoint", world["run"]]
    got, _, err = run_cli(argv, capsys)
    assert got == 1 and "Traceback" not in err
    assert err.strip() == ("minicnn: error: unexpected ZeroDivisionError: planted (a bug in "
                           "minicnn: rerun with --debug for the traceback, and please report it)")
    for debug in (argv + ["--debug"], ["--debug"] + argv):
        got, _, err = run_cli(debug, capsys)
        assert got == 1 and err.startswith("Traceback (most recent call last):")
        assert "ZeroDivisionError: planted" in err
        assert err.strip().splitlines()[-1].startswith("minicnn: error: unexpected")
    monkeypatch.setenv("MINICNN_DEBUG", "1")
    got, _, err = run_cli(argv, capsys)
    assert got == 1 and "Traceback" in err


def test_debug_shows_the_traceback_of_a_user_error(world, capsys):
    got, _, err = run_cli(["eval", "--checkpoint", f"{world['root']}/junk.npz", "--debug"],
                          capsys)
    assert got == 1 and "Traceback" in err and "CheckpointError" in err
    assert err.strip().splitlines()[-1].startswith("minicnn: error: ")
