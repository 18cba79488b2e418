"""The docs chapters as Jupyter notebooks (minicnn.utils.notebooks, ``minicnn docs``): one per
docs/*.md, its code cells exactly the python blocks that tests/test_docs.py runs, the other
blocks never executed; one chapter's notebook runs in a real kernel (nbclient)."""
import copy
import json
import re
import sys
from pathlib import Path

import pytest

from minicnn import cli
from minicnn.utils import notebooks

from helpers import needs_source_tree

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)  # as tests/test_docs.py

jupytext = pytest.importorskip("jupytext", reason="needs jupytext (pip install -e '.[notebooks]')")
nbformat = pytest.importorskip("nbformat")


def minicnn_cli(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        cli.main([str(a) for a in argv])
    return info.value.code, *capsys.readouterr()


# minicnn docs finds the checkout's docs/ beside the package: not there for an installed wheel
in_checkout = needs_source_tree("docs", "pyproject.toml")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The notebooks that ``minicnn docs --notebooks`` writes: {chapter stem: notebook}."""
    out = tmp_path_factory.mktemp("notebooks")
    with pytest.raises(SystemExit) as info:
        cli.main(["docs", "--notebooks", str(out)])
    assert info.value.code == 0
    return {path.stem: nbformat.read(path, as_version=4) for path in out.glob("*.ipynb")}


@in_checkout
def test_one_notebook_per_chapter(written):
    assert sorted(written) == [path.stem for path in CHAPTERS]


@in_checkout
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_code_cells_are_the_python_blocks(written, chapter):
    notebook = written[chapter.stem]
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    text = chapter.read_text()
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert code == [block.rstrip("\n") for block in BLOCK.findall(text)]
    # nothing is lost: the prose and the other blocks are the markdown cells, unchanged
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    for fence in re.findall(r"^```(?!python\n).+$", text, re.M):  # ```bash, ```text, ...
        assert re.search(rf"^{re.escape(fence)}$", markdown, re.M), fence
    assert ".noeval" not in markdown


def test_other_blocks_stay_text():
    text = ("# T\n\n```python\nx = 1\n```\n\n```bash\nrm -rf build\n```\n\n"
            "````markdown\n```python\nnot = 'a cell'\n```\n````\n\n  ```cython\ncdef int i\n"
            "  ```\n\n```\nplain\n```\n\n```python\ny = 2\n```\n")
    notebook = notebooks.markdown_to_notebook(text)
    assert [c.source for c in notebook.cells if c.cell_type == "code"] == ["x = 1", "y = 2"]
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert "```bash\nrm -rf build\n```" in markdown
    assert "````markdown\n```python\nnot = 'a cell'\n```\n````" in markdown


@in_checkout
def test_execute_a_chapter(written, tmp_path):
    """docs/01 in a python3 kernel whose working directory is a scratch folder: its python
    cells run (their output is the chapter's), its bash block (which writes step.py) does not."""
    nbclient = pytest.importorskip("nbclient", reason="needs nbclient to run notebooks")
    pytest.importorskip("ipykernel", reason="needs ipykernel (the python3 kernel)")
    from jupyter_client.kernelspec import NoSuchKernel

    notebook = copy.deepcopy(written["01-tensors-and-autograd"])
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except NoSuchKernel:
        pytest.skip("no python3 Jupyter kernel installed (python -m ipykernel install)")
    outputs = "".join(out.get("text", "") for cell in notebook.cells
                      if cell.cell_type == "code" for out in cell.outputs)
    assert "<SigmoidBackward>" in outputs and "tensor([100.,   1.,  10.])" in outputs
    assert not (tmp_path / "step.py").exists()


@in_checkout
def test_docs_list(capsys):
    code, out, err = minicnn_cli(capsys, "docs")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == len(CHAPTERS)
    assert re.fullmatch(r"01-tensors-and-autograd\.md +1\. Tensors and autograd from scratch",
                        lines[0])
    assert minicnn_cli(capsys, "docs", "--list")[1] == out


def test_source_folder(tmp_path, capsys):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "intro.md").write_text("Intro\n\n```python\nprint(1)\n```\n")
    code, out, err = minicnn_cli(capsys, "docs", "--source", tmp_path / "docs")
    assert code == 0 and out == "intro.md  intro.md\n"  # no heading: the file name
    code, out, err = minicnn_cli(capsys, "docs", "--notebooks", tmp_path / "nb", "--source",
                                 tmp_path / "docs")
    assert code == 0 and out == f"wrote {tmp_path / 'nb' / 'intro.ipynb'}\n"
    cells = json.loads((tmp_path / "nb" / "intro.ipynb").read_text())["cells"]
    assert [c["cell_type"] for c in cells] == ["markdown", "code"]
    code, out, err = minicnn_cli(capsys, "docs", "--source", tmp_path / "none")
    assert code == 1 and err == (f"minicnn: error: --source {tmp_path / 'none'}: no such "
                                 "directory, or no *.md chapters in it\n")


def test_docs_not_found_outside_a_checkout(tmp_path, monkeypatch, capsys):
    # a wheel installed into site-packages: the module has no docs/ and no pyproject beside it
    site = tmp_path / "site-packages"
    (site / "docs").mkdir(parents=True)
    (site / "docs" / "other-package.md").write_text("# not minicnn's\n")
    monkeypatch.setattr(notebooks, "__file__", str(site / "minicnn" / "utils" / "notebooks.py"))
    code, out, err = minicnn_cli(capsys, "docs", "--notebooks", tmp_path / "nb")
    assert code == 1 and out == "" and not (tmp_path / "nb").exists()
    assert err == (f"minicnn: error: minicnn's docs/ folder is not next to the package ({site}): "
                   "the chapters come with the source, not with an installed wheel; use a "
                   "source checkout (pip install -e .) or pass --source DIR (the docs/ folder "
                   "of a checkout)\n")


def test_missing_jupytext(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "jupytext", None)
    code, out, err = minicnn_cli(capsys, "docs", "--notebooks", tmp_path / "nb")
    assert code == 1 and out == "" and not (tmp_path / "nb").exists()
    assert err == ("minicnn: error: notebooks need jupytext: pip install 'minicnn[notebooks]' "
                   "(in a source checkout: pip install -e '.[notebooks]')\n")
    (tmp_path / "ch.md").write_text("# A chapter\n")
    code, out, _ = minicnn_cli(capsys, "docs", "--list", "--source", tmp_path)
    assert (code, out) == (0, "ch.md  A chapter\n")  # listing needs nothing extra


def test_list_and_notebooks_exclude_each_other(capsys):
    code, _, err = minicnn_cli(capsys, "docs", "--list", "--notebooks", "x")
    assert code == 2 and "not allowed with argument --list" in err
