#!/usr/bin/env bash
# The wheel, checked as a user without a C compiler gets it: build the sdist and the wheel with
# `python -m build` (from a copy of the tree: nothing is written here), install the wheel in a
# fresh virtual environment with CC=false CXX=false, run the test suite against the installed
# package (a copy of tests/ in a temporary folder, so `import minicnn` finds site-packages, never
# this checkout), then check that the sdist builds and imports.
# Run by hand, not by .ci/run (12 minutes on 2 cores, 8 of them the suite); needs PyPI for the
# build environment. Tests that read the source tree (README, docs/, csrc/) skip there: see
# needs_source_tree in tests/helpers.py.
#
#   tests/wheel_check.sh                                     # the whole suite
#   PYTEST_ARGS="-x tests/test_conv.py" tests/wheel_check.sh # a subset (paths as in the repo)
#   EXTRAS=test,train EXTRA_PACKAGES=torch==2.13.0 tests/wheel_check.sh
#       # the wheel's extras (default: test) and other packages: the image and parity tests too
#
# The log: $WHEEL_CHECK_LOG (default /tmp/wheel_check.log). KEEP=1 keeps the temporary folder;
# PYTHON: the interpreter that builds and makes the venvs (default python3).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
LOG=${WHEEL_CHECK_LOG:-/tmp/wheel_check.log}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/minicnn-wheel-check.XXXXXX")
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$WORK"' EXIT; fi
exec > >(tee "$LOG") 2>&1
unset PYTHONPATH  # the installed package only
step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }
fail() { echo "wheel_check: FAILED: $1"; exit 1; }

step "copy the tree ($REPO -> $WORK/src): tracked and untracked files git does not ignore"
mkdir "$WORK/src"
if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$REPO" ls-files -z --cached --others --exclude-standard \
        | (cd "$REPO" && tar --null -T - -cf -) | tar -xf - -C "$WORK/src"
else  # an unpacked sdist
    cp -a "$REPO/." "$WORK/src"
fi
cd "$WORK"  # from here on, never in the checkout: `python -c` would import minicnn from there

step "python -m build: the sdist, then the wheel from the unpacked sdist"
"$PYTHON" -m build --outdir "$WORK/dist" "$WORK/src"
SDIST=$(ls "$WORK"/dist/minicnn-*.tar.gz)
WHEEL=$(ls "$WORK"/dist/minicnn-*.whl)
ls -l "$WORK/dist"
"$PYTHON" - "$WORK/src" "$SDIST" "$WHEEL" <<'EOF' || fail "the contents of the sdist or the wheel"
import sys, tarfile, zipfile
from pathlib import Path
src, sdist, wheel = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
with tarfile.open(sdist) as tar:  # names without the leading minicnn-VERSION/
    in_sdist = {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}
in_wheel = set(zipfile.ZipFile(wheel).namelist())
# the source tree's files that the sdist must hold (build outputs aside: a tree without git)
in_tree = {p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()}
built = ("minicnn/backends/_cpu.c", "minicnn/backends/_cpu.html", "docs/api/")
want = {f for f in in_tree if f.startswith(("minicnn/", "csrc/", "tests/", "docs/"))
        and "__pycache__" not in f and not f.endswith((".pyc", ".so", ".o", ".so.cmd"))
        and not f.startswith(built)}
problems = [f"the sdist lacks {f}" for f in sorted(want - in_sdist)]
# the package's every file (modules, py.typed, data files) is installed; its Cython sources not
problems += [f"the wheel lacks {f}" for f in sorted(want - in_wheel)
             if f.startswith("minicnn/") and not f.endswith((".pyx", ".pxi"))]
if not any(f.startswith("minicnn/backends/_cpu.") and f.endswith(".so") for f in in_wheel):
    problems.append("the wheel has no compiled minicnn/backends/_cpu*.so")
problems += [f"the wheel holds {f}" for f in sorted(in_wheel)
             if f.startswith(("tests/", "csrc/", "docs/"))]
print("\n".join(problems) or f"sdist: {len(in_sdist)} files, wheel: {len(in_wheel)}: complete")
sys.exit(1 if problems else 0)
EOF

step "a fresh venv; pip install the wheel with CC=false CXX=false (any compile would fail)"
"$PYTHON" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
# shellcheck disable=SC2086  # EXTRA_PACKAGES is a list
CC=false CXX=false "$VPY" -m pip install -v "$WHEEL[${EXTRAS:-test}]" ${EXTRA_PACKAGES:-} \
    > "$WORK/pip.log" 2>&1 || { cat "$WORK/pip.log"; fail "pip install of the wheel"; }
grep -E '^(Successfully installed|Processing)' "$WORK/pip.log"
if grep -nE 'Building wheel for|Running setup.py|running build_ext' "$WORK/pip.log"; then
    fail "pip built something from source (above)"
fi
echo "pip -v shows no build step"
SO=$("$VPY" -c "import minicnn.backends._cpu as m; print(m.__file__)")
echo "the kernels: $SO"
"$VPY" - "$WORK/venv" <<'EOF'
import os, sys
import minicnn
print("minicnn imported from", minicnn.__file__)
assert minicnn.__file__.startswith(os.path.realpath(sys.argv[1])), "not the installed package"
EOF
if command -v readelf >/dev/null; then  # binutils: usually absent where there is no compiler
    n=$(readelf -sW "$SO" | grep -c ' IFUNC ' || true)
    echo "ISA dispatch: $n IFUNC symbols (target_clones resolvers: AVX-512, AVX2, SSE2 copies)"
    [ "$n" -gt 0 ] || fail "the kernels have no target_clones dispatch"
fi
command -v ldd >/dev/null && ldd "$SO"
"$WORK/venv/bin/minicnn" info

step "the test suite against the installed wheel (a copy of tests/ outside the checkout)"
mkdir "$WORK/run"
cp -r "$REPO/tests" "$WORK/run/tests"
find "$WORK/run/tests" -name __pycache__ -prune -exec rm -rf {} +
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of arguments
(cd "$WORK/run" && "$VPY" -m pytest -ra -p no:cacheprovider ${PYTEST_ARGS:-tests})

step "pip install the sdist (this one compiles) in another venv"
"$PYTHON" -m venv "$WORK/venv-sdist"
"$WORK/venv-sdist/bin/python" -m pip install -q "$SDIST"
"$WORK/venv-sdist/bin/python" -c \
    "import minicnn.backends._cpu as m; print('the sdist built and imports:', m.__file__)"

step "wheel_check: OK (log: $LOG)"
