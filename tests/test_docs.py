"""Every Python code block in the README and docs/ runs: a file's blocks run in order, in one
namespace (as a reader pasting them one after another would), in a scratch directory."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


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


def test_the_readme_has_code_to_run():
    assert len(BLOCK.findall((ROOT / "README.md").read_text())) >= 1
