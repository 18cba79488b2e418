"""minicnn's modules import each other without a cycle (tests/test_build_and_info.py checks
that ``import minicnn`` has no process-wide effect).

The import graph is read from the source (ast), function-level imports included: a cycle that
only closes inside a function still ties the two modules together. An edge goes to the module a
statement names and to the packages above it that importing it runs, except the packages the
importing module itself lives in (already being imported); an explicit import of one of those
(``from .. import name``, ``import minicnn``) counts. Imports under ``if TYPE_CHECKING:`` are
for type checkers only and do not run."""
import ast
import importlib.util
import sys
from pathlib import Path

# the minicnn under test, found without importing it: the checkout's, or an installed wheel's
PACKAGE = Path(importlib.util.find_spec("minicnn").origin).resolve().parent
ROOT = PACKAGE.parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def imports_of(name: str) -> set[str]:
    """The minicnn modules that importing (or calling into) module ``name`` imports."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                above = ".".join(parts[:i])
                explicit = i == len(parts)
                if above in MODULES and above != name and (
                        explicit or not name.startswith(above + ".")):
                    found.add(above)
    return found


def import_cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    graph = {name: imports_of(name) for name in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for name in sorted(MODULES):
        if name not in index:
            visit(name)
    return components


def test_no_import_cycles():
    assert import_cycles() == []


def test_the_check_sees_a_cycle(monkeypatch):
    """Planted: autograd importing the ops (which import autograd) is a cycle."""
    real = imports_of

    def planted(name):
        return real(name) | ({"minicnn.ops"} if name == "minicnn.autograd" else set())

    monkeypatch.setattr(sys.modules[__name__], "imports_of", planted)
    cycles = import_cycles()
    assert any({"minicnn.autograd", "minicnn.ops"} <= set(c) for c in cycles)


def test_function_level_and_type_checking_imports():
    tree_names = imports_of("minicnn.tensor")
    assert "minicnn.tensor_methods" not in tree_names  # under TYPE_CHECKING only
    assert "minicnn.autograd" in tree_names

