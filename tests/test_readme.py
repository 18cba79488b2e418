"""The README is true to the letter: its install-and-run command and every `minicnn ...` command
it names run, with a tiny Fashion-MNIST in the real IDX format standing in for the data set
(and tiny MNIST and CIFAR-10 behind file:// URLs for `data fetch`). The Python block runs in
test_docs.py; the test command (`python -m pytest -q`) is this suite.

Each command is extracted from README.md; COMMANDS completes the ones the prose leaves open
(`minicnn eval` needs a checkpoint) and a test fails when the README names a command that
COMMANDS does not know, so a new sentence cannot go untested."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib

from minicnn import cli
from minicnn.data import datasets as D

from helpers import N_TEST, N_TRAIN, needs_source_tree, require_source_tree, write_fashion_mnist
from test_data_datasets import served_cifar, served_mnist  # noqa: F401 (fixtures)

require_source_tree("README.md")
ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
INSTALL = re.search(r"## Install and run\n.*?```bash\n(.*?)\n```", README, re.S).group(1)
SPANS = sorted(set(re.findall(r"`((?:python -m )?minicnn [^`]*|mpiexec [^`]*)`", README)))
RUN = "runs/lenet5-fashion-mnist"  # where the README's training leaves its files

# README span -> the commands that run it (argv after `minicnn`); "{run}" is the training's
# directory, "{image}" a 28x28 grey PNG. None: run by a dedicated test below.
COMMANDS = {
    "minicnn data fetch mnist": [["data", "fetch", "mnist"]],
    "minicnn data info NAME": [["data", "info", n] for n in ("mnist", "fashion-mnist", "cifar10")],
    "minicnn train --help": [["train", "--help"]],
    "mpiexec -n 2 minicnn train --distributed ...": None,
    "minicnn eval": [["eval", "--checkpoint", "{run}/best.npz"], ["eval", "--checkpoint", "{run}"],
                     ["eval", "--model", "lenet5"]],
    "minicnn predict": [["predict", "--checkpoint", "{run}", "{image}"],
                        ["predict", "--model", "lenet5", "{image}"]],
    "minicnn summary": [["summary", "--checkpoint", "{run}/best.npz"], ["summary", "lenet5"]],
    "minicnn summary resnet20": [["summary", "resnet20"]],
    "python -m minicnn info": [["info"]],
    "minicnn viz filters|features|gradcam|saliency|curves": [
        ["viz", what, "--checkpoint", "{run}/best.npz", "--image", "{image}",
         "--out", f"{what}.png"]
        for what in ("filters", "features", "gradcam", "saliency", "curves")],
    "minicnn explain conv2d|maxpool|avgpool|batchnorm|softmax|edges": [
        ["explain", op] for op in ("conv2d", "maxpool", "avgpool", "batchnorm", "softmax",
                                   "edges")],
    "minicnn explain conv2d --backward --groups 2": [
        ["explain", "conv2d", "--backward", "--groups", "2"]],
    "minicnn explain": [["explain", "conv2d"]],
    "minicnn train | eval | predict | summary | viz | explain | explore | export | data | docs "
    "| bench": [
        [command, "--help"] for command in
        ("train", "eval", "predict", "summary", "viz", "explain", "explore", "export", "data",
         "docs", "bench")],
    "minicnn explore RUN": [["explore", "{run}", "--image", "1"]],
    "minicnn export RUN --format onnx": [["export", "{run}", "--format", "onnx"]],
    "minicnn train --tensorboard": [["train", "--epochs", "1", "--out", "tb-run", "--tensorboard"]],
    "minicnn docs --notebooks DIR": [["docs", "--notebooks", "notebooks"]],
    # against PyTorch: one quick case
    "minicnn bench": [["bench", "models", "--quick", "--cases", "lenet5", "--repeat", "1"]],
}
NEEDS_TORCH = {"minicnn bench"}
# the optional packages a command needs (the test skips without them)
NEEDS = {"minicnn export RUN --format onnx": "onnx", "minicnn train --tensorboard": "tensorboardX",
         "minicnn docs --notebooks DIR": "jupytext"}
# what the README says a command shows: words its output must contain
SHOWS = {
    "minicnn train --help": ["--model", "--optimizer", "--scheduler", "--augment", "--resume DIR"],
    "python -m minicnn info": ["version:", "backends:", "openmp:", "threads:", "blas:", "cuda:"],
    "minicnn summary": ["Total params", "mult-adds"],
    "minicnn summary resnet20": ["Input shape: [1, 3, 32, 32]"],
    "minicnn data info NAME": ["MD5", "https://"],
    "minicnn eval": ["random weights"],
    "minicnn predict": ["random weights"],
}


def minicnn_argv(args):
    """The `minicnn` console script when it is installed next to this Python, else
    `python -m minicnn` (the same entry point, minicnn.cli:main)."""
    script = Path(sys.executable).with_name("minicnn")
    return [str(script)] if script.exists() else [sys.executable, "-m", "minicnn"]


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    """The README's training command, run as a user would run it: in a fresh directory, output
    to a log file (not a terminal), the data set a tiny Fashion-MNIST ($MINICNN_DATA)."""
    work = tmp_path_factory.mktemp("readme")
    data = work / "data"
    write_fashion_mnist(str(data))
    train = INSTALL.split("&&")[-1].split()
    assert train[0] == "minicnn", f"the README's command should end by training: {train}"
    env = dict(os.environ, MINICNN_DATA=str(data), XDG_CACHE_HOME=str(work / "cache"),
               MPLBACKEND="Agg")
    log = work / "train.log"
    with open(log, "w") as out:
        code = subprocess.run(minicnn_argv(train) + train[1:], cwd=work, env=env, stdout=out,
                              stderr=subprocess.STDOUT, timeout=600).returncode
    return work, env, train, code, log.read_text()


def test_every_command_the_readme_names_is_run():
    assert SPANS, "no `minicnn ...` commands found in the README"
    unknown = [span for span in SPANS if span not in COMMANDS]
    assert not unknown, f"README commands without a test (add them to COMMANDS): {unknown}"


@needs_source_tree("pyproject.toml", ".ci/run")
def test_install_steps_name_what_exists():
    """apt's package is the one the data package looks for, the torch pin is CI's, and every
    extra is declared in pyproject.toml."""
    steps = [step.strip() for step in INSTALL.split("&&")]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    ci = (ROOT / ".ci" / "run").read_text()
    fashion = dict.__getitem__(D.DATASETS, "fashion-mnist")
    kinds = []
    for step in steps:
        if step == "apt-get update":
            kinds.append("apt")
        elif step.startswith("apt-get install -y "):
            assert step.split()[-1] == fashion.apt_package
        elif step.startswith("pip install torch=="):
            assert f"pip install --quiet {step.split()[-1]}" in ci, "README and CI pin torch alike"
        elif step.startswith("pip install -e "):
            named = re.fullmatch(r'pip install -e "\.\[(.*)\]"', step).group(1).split(",")
            assert set(named) <= set(extras), f"unknown extras {set(named) - set(extras)}"
            kinds.append("minicnn")
        else:
            assert step.startswith("minicnn train "), f"unexpected step {step!r}"
            kinds.append("train")
    assert kinds[-2:] == ["minicnn", "train"]


def test_the_install_and_run_command_trains(readme_run):
    work, _, train, code, log = readme_run
    assert code == 0, log
    epochs = int(train[train.index("--epochs") + 1])
    assert f"; {epochs} epochs," in log.splitlines()[0]
    assert len(re.findall(r"^epoch \d/\d  train loss", log, re.M)) == epochs
    # not a terminal: progress lines with step, loss, img/s and ETA
    assert re.search(r"^  epoch 1/\d  step \d+/\d+ \(\d+%\)  loss [\d.]+ .* img/s  ETA ", log,
                     re.M)
    assert re.search(rf"^test \({N_TEST} images\): loss [\d.]+, accuracy [\d.]+%", log, re.M)
    # "leaves its checkpoints in runs/" and names what it saved
    for name in ("best.npz", "last.npz", "metrics.csv"):
        assert (work / RUN / name).is_file()
        assert f"{RUN}/{name}" in log
    if _has_matplotlib():
        assert (work / RUN / "curves.png").is_file() and f"{RUN}/curves.png" in log


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("span", [s for s in COMMANDS if COMMANDS[s]])
def test_readme_command_runs(span, readme_run, served_mnist, served_cifar,  # noqa: F811
                             monkeypatch, capsys):
    """Each command in-process (the network replaced by file:// URLs), from the directory of
    the README's training run, exit code 0."""
    work, env, _, code, _ = readme_run
    assert code == 0
    if span in NEEDS_TORCH:
        pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e '.[bench]')")
    if span in NEEDS:
        pytest.importorskip(NEEDS[span], reason=f"{NEEDS[span]} is not installed (see README)")
    served_cifar()
    monkeypatch.chdir(work)
    for key in ("MINICNN_DATA", "XDG_CACHE_HOME", "MPLBACKEND"):
        monkeypatch.setenv(key, env[key])
    image = work / "shoe.png"
    if not image.exists():
        pytest.importorskip("PIL", reason="Pillow is not installed (pip install -e '.[train]')")
        from PIL import Image
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    shown = ""
    for argv in COMMANDS[span]:
        argv = [a.format(run=RUN, image=image) for a in argv]
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        out = capsys.readouterr()
        assert exit_.value.code == 0, f"minicnn {' '.join(argv)}:\n{out.out}\n{out.err}"
        assert out.out.strip(), f"minicnn {' '.join(argv)} printed nothing"
        shown += out.out + out.err
    for words in SHOWS.get(span, []):
        assert words in shown, f"the README says {span!r} shows {words!r}"


def test_readme_distributed_command(readme_run):
    """`mpiexec -n 2 minicnn train --distributed ...`, the dots filled in as the README's own
    training command, one epoch."""
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install -e '.[dist]')")
    mpiexec = shutil.which("mpiexec") or str(Path(sys.executable).with_name("mpiexec"))
    if not os.path.exists(mpiexec):
        pytest.skip("no mpiexec")
    work, env, train, _, _ = readme_run
    span = next(s for s in SPANS if s.startswith("mpiexec"))
    head = span.replace("...", "").split()
    argv = ([mpiexec] + head[1:head.index("minicnn")] + minicnn_argv(train)
            + head[head.index("minicnn") + 1:] + train[2:train.index("--epochs")]
            + ["--epochs", "1", "--out", "dist", "--no-plot"])
    result = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (work / "dist" / "best.npz").is_file()
    n_val = round(0.1 * N_TRAIN)  # the default validation split
    assert f"{N_TRAIN - n_val} train, {n_val} val" in result.stdout
