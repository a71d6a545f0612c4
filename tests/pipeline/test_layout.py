"""The house's layout holds: no import cycle among ``filters/`` and ``pipeline/`` (counting every
import statement, those inside functions too), ``filters/`` never imports Beam or ``pipeline/``,
every wing says what lives there, and the ``c4`` dispatcher stays thin."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("filters", "pipeline")
WINGS = ("runners", "forget", "cloud", "masking", "transforms", "io", "formats", "report")


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = path
    return mods


def _imported(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its body (a ``from pkg import mod`` counts
    ``pkg.mod`` when that is a module, else ``pkg``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                keep = len(parts) - node.level + (1 if path.name == "__init__.py" else 0)
                base = ".".join([*parts[:keep], *([base] if base else [])])
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in mods:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                out.add(candidate)
    return out


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imported(name, path, mods) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_filters_stay_pure() -> None:
    for path in (REPO / "filters").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for imported in names:
                assert not imported.startswith(("apache_beam", "pipeline")), (path, imported)


def test_lower_wings_import_no_other_wing() -> None:
    """``formats/``, ``io/`` and ``runners/`` are the floor: they import no other wing and not the
    build; ``masking/`` never reaches up into ``forget/``, ``cloud/`` or the dispatcher."""
    graph = import_graph()
    floor = ("pipeline.formats", "pipeline.io", "pipeline.runners")
    for name, targets in graph.items():
        if name.startswith(floor):
            home = ".".join(name.split(".")[:2])
            others = {t for t in targets if t.startswith("pipeline") and not t.startswith(home)}
            assert not others, f"{name} imports {sorted(others)}"
        if name.startswith("pipeline.masking"):
            up = {t for t in targets if t.startswith(("pipeline.forget", "pipeline.cloud"))}
            assert not up and "pipeline.cli" not in targets, f"{name} imports {sorted(targets)}"


def test_every_wing_says_what_lives_there_and_what_it_may_import() -> None:
    for wing in WINGS:
        doc = ast.get_docstring(ast.parse((REPO / "pipeline" / wing / "__init__.py").read_text()))
        assert doc, f"pipeline/{wing}/__init__.py has no docstring"
        if wing not in ("io", "formats"):
            assert "May import" in doc, f"pipeline/{wing}/__init__.py: say what it may import"


def test_the_dispatcher_is_thin() -> None:
    """``pipeline/cli.py`` imports no command's module statically (each is looked up by name), so
    ``c4 --help`` and ``c4 estimate`` never import Beam, and no command imports ``cli``."""
    graph = import_graph()
    assert graph["pipeline.cli"] <= {"pipeline.runners.startup", "pipeline.stdio"}
    importers = sorted(name for name, targets in graph.items() if "pipeline.cli" in targets)
    assert importers == []
