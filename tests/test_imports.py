"""Which package may import which: ``shared`` is the contract both sides import, so it imports neither.

Every import is counted, at any depth (function-level imports included), and so is a module named as
a string to ``lazy(...)`` or ``importlib.import_module(...)``.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SIDES = ("edge_client", "cloud_server", "signstream")


def imported(path: Path) -> set[str]:
    """Top-level package names a module imports or names for a lazy import."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "lazy",
            "import_module",
        ):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "shared").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_shared_imports_neither_side(path):
    assert not imported(path) & set(SIDES)


def test_the_walk_sees_function_level_and_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from edge_client.runner import x\n\n"
        "g = lazy('cloud_server.serve', 'run')\nimportlib.import_module('signstream.demo')\n"
    )
    assert imported(module) == {"edge_client", "cloud_server", "signstream"}
