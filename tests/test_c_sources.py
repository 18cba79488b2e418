"""The C kernels are plain C99: they compile warning-free with and without OpenMP (the serial
fallback a compiler without OpenMP gets)."""
import glob
import os
import shutil
import subprocess

import pytest

from helpers import needs_source_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = sorted(glob.glob(os.path.join(ROOT, "csrc", "cpu", "*.c")))
CC = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
pytestmark = needs_source_tree("csrc/cpu")


@pytest.mark.skipif(CC is None, reason="no C compiler")
@pytest.mark.parametrize("openmp", [True, False], ids=["openmp", "serial"])
@pytest.mark.parametrize("source", SOURCES, ids=os.path.basename)
def test_compiles_as_strict_c99(source, openmp, tmp_path):
    cmd = [CC, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O2",
           "-I", os.path.join(ROOT, "csrc", "cpu"), "-c", source, "-o", str(tmp_path / "k.o")]
    if openmp:
        cmd.append("-fopenmp")
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_sources_found():
    assert any(s.endswith("elementwise.c") for s in SOURCES)
