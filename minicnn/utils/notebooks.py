"""The docs chapters (``docs/*.md``) as Jupyter notebooks, generated from the Markdown by
jupytext (``minicnn docs --notebooks DIR``): the Markdown stays the only copy to edit.

Each ```` ```python ```` block becomes a code cell, in order, and the prose between them
markdown cells: a notebook runs what ``tests/test_docs.py`` runs, top to bottom in one
namespace. Every other fenced block (bash, text, C, Cython) stays in a markdown cell, shown but
never executed; jupytext alone would turn bash and Cython blocks into ``%%bash`` and
``%%cython`` cells, so they are marked with jupytext's ``.noeval`` attribute first.

The chapters are found in the ``docs/`` folder of the source checkout the package is imported
from (an editable install, ``pip install -e .``, or running from the checkout): they are not
part of the installed package. With a wheel, pass the folder of a checkout (``source``).
Needs ``pip install 'minicnn[notebooks]'`` (jupytext, and nbclient with ipykernel to run them).
"""
import os
import re
from pathlib import Path
from typing import Any, Optional, Union

__all__ = ["chapter_title", "chapters", "docs_dir", "markdown_to_notebook", "write_notebooks"]

_FENCE = re.compile(r"^( {0,3})(`{3,})(.*)$")
_NOEVAL = re.compile(r"^(`{3,}.*) \.noeval$", re.M)
_KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
           "language_info": {"name": "python"}}


def docs_dir(source: Optional[Union[str, os.PathLike]] = None) -> Path:
    """The folder of the chapters: ``source`` when given, else the ``docs/`` folder of the
    minicnn source checkout the package was imported from. Raises FileNotFoundError when it
    does not exist or holds no ``*.md`` file (an installed wheel has no docs: pass ``source``)."""
    if source is not None:
        folder = Path(source)
        if not folder.is_dir() or not any(folder.glob("*.md")):
            raise FileNotFoundError(f"--source {folder}: no such directory, or no *.md chapters "
                                    "in it")
        return folder
    root = Path(__file__).resolve().parents[2]  # <checkout>/minicnn/utils/notebooks.py
    folder = root / "docs"
    pyproject = root / "pyproject.toml"
    # a docs/ beside the package that is not minicnn's checkout (site-packages) does not count
    if not (pyproject.is_file() and 'name = "minicnn"' in pyproject.read_text()
            and folder.is_dir() and any(folder.glob("*.md"))):
        raise FileNotFoundError(f"minicnn's docs/ folder is not next to the package ({root}): "
                                "the chapters come with the source, not with an installed "
                                "wheel; use a source checkout (pip install -e .) or pass "
                                "--source DIR (the docs/ folder of a checkout)")
    return folder


def chapters(source: Optional[Union[str, os.PathLike]] = None) -> list[Path]:
    """The chapter files ``*.md`` of :func:`docs_dir`, sorted by name."""
    return sorted(docs_dir(source).glob("*.md"))


def chapter_title(path: Union[str, os.PathLike]) -> str:
    """The first level-1 heading (``# Title``) of a Markdown file, else its file name."""
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return Path(path).name


def _require_jupytext() -> Any:
    try:
        import jupytext
    except ImportError:
        raise ImportError("notebooks need jupytext: pip install 'minicnn[notebooks]' (in a "
                          "source checkout: pip install -e '.[notebooks]')") from None
    return jupytext


def _mark_noeval(text: str) -> str:
    """``text`` with jupytext's ``.noeval`` on the opening line of every fenced block that is
    not ```` ```python ```` (fences inside a block are left alone)."""
    lines, fence = text.split("\n"), None
    for i, line in enumerate(lines):
        match = _FENCE.match(line)
        if match is None:
            continue
        indent, ticks, info = match.groups()
        if fence is None:
            fence = ticks
            if not indent and info.strip() not in ("", "python"):
                lines[i] = f"{line.rstrip()} .noeval"
        elif len(ticks) >= len(fence) and not info.strip():
            fence = None
    return "\n".join(lines)


def markdown_to_notebook(text: str) -> Any:
    """A Markdown chapter as a notebook (an ``nbformat`` v4 NotebookNode, Python 3 kernel):
    ```` ```python ```` blocks as code cells, everything else as markdown cells (see the module
    docstring). Raises ImportError naming the extra without jupytext."""
    jupytext = _require_jupytext()
    notebook = jupytext.reads(_mark_noeval(text), fmt="md")
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = _NOEVAL.sub(r"\1", cell.source)
    notebook.metadata = dict(_KERNEL)
    return notebook


def write_notebooks(out: Union[str, os.PathLike],
                    source: Optional[Union[str, os.PathLike]] = None) -> list[Path]:
    """Write ``out/NAME.ipynb`` for every chapter ``NAME.md`` of :func:`docs_dir` (creating
    ``out``, replacing notebooks there); returns their paths. Raises FileNotFoundError
    without the chapters, ImportError without jupytext, OSError when ``out`` is not writable."""
    paths = chapters(source)
    _require_jupytext()  # before creating anything
    import nbformat  # a dependency of jupytext

    os.makedirs(out, exist_ok=True)
    written = []
    for path in paths:
        notebook = markdown_to_notebook(path.read_text(encoding="utf-8"))
        target = Path(out) / f"{path.stem}.ipynb"
        nbformat.write(notebook, str(target))
        written.append(target)
    return written
