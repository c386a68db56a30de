"""Which package may import which, and no import cycle anywhere.

``shared`` is the contract both sides import, so it imports neither; the server (``cloud_server``) and
the kiosk (``edge_client``) do not import each other; only ``signstream`` (the command and the demo)
and ``bench`` put them together. Every import is counted, at any depth (function-level imports too),
and so is a module named as a string to ``lazy(...)`` or ``importlib.import_module(...)``.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "edge_client", "cloud_server", "signstream", "bench")
MAY_NOT_IMPORT = {
    "shared": {"edge_client", "cloud_server", "signstream", "bench"},
    "edge_client": {"cloud_server", "signstream", "bench"},
    "cloud_server": {"edge_client", "signstream", "bench"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imported(path: Path) -> set[str]:
    """Dotted names a module imports (``from a.b import c`` gives a.b and a.b.c) or names for a lazy import."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "lazy",
            "import_module",
        ):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
    return names


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.split(".")[0] in MAY_NOT_IMPORT))
def test_no_package_imports_what_it_may_not(name):
    tops = {target.split(".")[0] for target in imported(MODULES[name])}
    assert not tops & MAY_NOT_IMPORT[name.split(".")[0]]


# shared/'s parts, each importing only those below it (docs/architecture.md, "Who owns what")
SHARED_BELOW = {
    "app": set(),
    "contract": {"app"},
    "model": {"app", "contract"},
    "datasets": {"app", "contract", "model"},
    "hands": {"app", "contract", "model"},
    "registry": {"app", "contract", "model", "datasets"},
    "enrolment": {"app", "contract", "model", "datasets"},
}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.count(".") >= 2 and n.startswith("shared.")))
def test_each_part_of_shared_imports_only_the_parts_below_it(name):
    part = name.split(".")[1]
    for target in imported(MODULES[name]):
        if target.startswith("shared.") and target.count(".") >= 1:
            other = target.split(".")[1]
            assert other == part or other in SHARED_BELOW[part], f"{name} imports {target}"


def test_no_import_cycle():
    graph = {name: {t for t in imported(path) if t in MODULES and t != name} for name, path in MODULES.items()}
    assert cycles(graph) == []


def test_the_walk_sees_function_level_and_lazy_imports_and_cycles(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from edge_client.assembly import x\n\n"
        "g = lazy('cloud_server.serve', 'run')\nimportlib.import_module('signstream.demo')\n"
    )
    assert imported(module) == {
        "edge_client.assembly",
        "edge_client.assembly.x",
        "cloud_server.serve",
        "signstream.demo",
    }
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
