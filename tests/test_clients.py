"""Programs written in the PyTorch idiom (tests/clients/), each run twice: as written, with
``import torch``, and with only its import lines changed to minicnn (``import minicnn as torch``,
``from minicnn.utils.data import ...``), as a PyTorch user would; their printed results (the
last line, JSON) must agree. Issue 15's evidence that real PyTorch programs run unchanged."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

CLIENTS = Path(__file__).parent / "clients"
PROGRAMS = sorted(p.stem for p in CLIENTS.glob("*.py"))


def as_minicnn(source):
    """The program with its import lines, and only those, switched from torch to minicnn."""
    source = re.sub(r"^import torch$", "import minicnn as torch", source, flags=re.M)
    source = re.sub(r"^import torch\.(\S+) as ", r"import minicnn.\1 as ", source, flags=re.M)
    return re.sub(r"^from torch(\S*) import ", r"from minicnn\1 import ", source, flags=re.M)


def run(name, framework, cwd, env=None):
    source = (CLIENTS / f"{name}.py").read_text()
    if framework == "minicnn":
        source = as_minicnn(source)
    script = Path(cwd) / f"{name}.py"
    script.write_text(source)
    out = subprocess.run([sys.executable, str(script)], cwd=cwd, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    assert out.returncode == 0, f"{name} with {framework} failed:\n{out.stderr[-3000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def assert_same(a, b, rtol, path="result"):
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_same(a[k], b[k], rtol, f"{path}[{k!r}]")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: lengths {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, rtol, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol, err_msg=path)
    else:
        assert a == b, f"{path}: torch gave {a!r}, minicnn {b!r}"


# float64 programs agree to rounding; float32 ones to float32 rounding
TOLERANCE = {"hand_optimizer": 1e-10, "lazy_network": 1e-10, "plateau": 1e-10,
             "cifar_resnet": 1e-10, "pt_roundtrip": 1e-5, "quickstart_tutorial": 1e-5,
             "textbook_cnn_chapter": 1e-5}


def test_the_import_rewrite_touches_only_imports():
    src = "import torch\nimport torch.nn as nn\nfrom torch.utils.data import DataLoader\n" \
          "x = torch.ones(2)  # import torch\n"
    assert as_minicnn(src) == ("import minicnn as torch\nimport minicnn.nn as nn\n"
                               "from minicnn.utils.data import DataLoader\n"
                               "x = torch.ones(2)  # import torch\n")


@pytest.mark.parametrize("name", [n for n in PROGRAMS if n != "pt_roundtrip"])
def test_client_runs_unchanged_and_agrees_with_pytorch(name, tmp_path):
    (tmp_path / "torch").mkdir()
    (tmp_path / "minicnn").mkdir()
    expected = run(name, "torch", tmp_path / "torch")
    got = run(name, "minicnn", tmp_path / "minicnn")
    assert_same(expected, got, TOLERANCE.get(name, 1e-6))


def test_pt_files_cross_between_the_frameworks(tmp_path):
    """Each framework saves model.pt; each then loads the other's file into the same model."""
    a, b = tmp_path / "torch", tmp_path / "minicnn"
    a.mkdir()
    b.mkdir()
    run("pt_roundtrip", "torch", a)
    got = run("pt_roundtrip", "minicnn", b, {"PEER_FILE": str(a / "model.pt")})
    expected = run("pt_roundtrip", "torch", a, {"PEER_FILE": str(b / "model.pt")})
    assert expected["same_output"] and got["same_output"]
    assert_same(expected, got, TOLERANCE["pt_roundtrip"])
