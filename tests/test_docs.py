"""Every Python code block in the README and docs/ runs: a file's blocks run in order, in one
namespace (as a reader pasting them one after another would), in a scratch directory. And the
API reference of docs/07-api-reference.md builds."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import needs_source_tree

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


@needs_source_tree("README.md", "docs")
@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run(path, tmp_path, monkeypatch, capsys):
    blocks = BLOCK.findall(path.read_text())
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{path.name} block {i + 1}", "exec"), namespace)
        except Exception as e:
            e.add_note(f"in the python block {i + 1} of {path.relative_to(ROOT)}")
            raise


@needs_source_tree("README.md")
def test_the_readme_has_code_to_run():
    assert len(BLOCK.findall((ROOT / "README.md").read_text())) >= 1


def test_api_reference_builds(tmp_path):
    """The command of docs/07-api-reference.md, on two modules (the whole package takes ~15 s)."""
    pytest.importorskip("pdoc", reason="pdoc is not installed (pip install -e '.[docs]')")
    subprocess.run([sys.executable, "-m", "pdoc", "minicnn.utils", "minicnn.explain",
                    "--docformat", "restructuredtext", "-o", str(tmp_path)], check=True,
                   cwd=ROOT, capture_output=True)
    page = (tmp_path / "minicnn" / "utils.html").read_text()
    assert "receptive_field" in page and "conv_output_size" in page
    assert (tmp_path / "minicnn" / "explain.html").stat().st_size > 0
