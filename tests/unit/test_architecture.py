"""The map of the code (CONTRIBUTING.md) is enforced: no import cycle, and each part of the
package imports only the parts below it.

The import graph is read with ``ast`` from the source (module-level *and* function-level
imports, since a lazy import is still a dependency); imports under ``if TYPE_CHECKING:`` are
annotations only and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Source folders and the package name they are installed under.
SOURCES = {
    ROOT / "avem_plugins": "avem_plugins",
    ROOT / "plugins": "avem_plugins.plugins",
    ROOT / "tasks": "avem_plugins.tasks",
}

#: Each part of the code and the parts it may import (besides itself). A part is a module or
#: sub-package of ``avem_plugins``; ``plugins`` and ``tasks`` are the mapped top-level folders.
#: Keep in step with "Map of the code" in CONTRIBUTING.md.
BASE = {"__init__", "hookspecs", "modality", "runinfo", "importhook", "extras"}
ALLOWED: dict[str, set[str]] = {
    "__init__": set(),
    "hookspecs": set(),
    "modality": set(),
    "runinfo": set(),
    "importhook": set(),
    "extras": set(),
    "media": BASE,
    "chat_template": BASE | {"adapters", "media"},  # public alias of adapters.chat_template
    "adapters": BASE | {"media"},
    "registry": BASE | {"adapters", "tasks", "recipes"},
    "scoring": BASE | {"media"},
    "prefs": BASE | {"media", "scoring"},
    "dpo": BASE | {"adapters", "media", "prefs", "registry"},
    "lmms": BASE | {"adapters", "media", "registry"},
    "models": BASE | {"lmms"},
    "tasks": BASE | {"media", "scoring"},
    "recipes": set(),
    "plugins": BASE | {"adapters", "media", "registry"},
    "launch": BASE | {"adapters", "media", "dpo", "prefs", "registry", "recipes"},
    "testing": BASE | {"media", "adapters", "scoring", "prefs", "registry"},
    "report": BASE | {"scoring"},
    "doctor": BASE | {"adapters", "media", "registry", "launch", "lmms", "scoring"},
    "demo": BASE
    | {"adapters", "media", "registry", "testing", "report", "scoring", "prefs", "dpo"}
    | {"study", "study_table"},
    "compare": BASE | {"scoring", "tasks"},
    "study_stats": BASE,
    "study_table": BASE | {"report", "study_stats", "scoring"},
    "study_world": BASE | {"adapters", "media", "registry", "testing", "scoring", "prefs"},
    "study": BASE | {"study_table", "study_world", "study_stats", "testing", "report", "scoring"},
    "cli": set(),  # filled below: the CLI may import any part (it only parses and calls)
}


def _module_name(path: Path) -> str:
    for folder, package in SOURCES.items():
        if path.is_relative_to(folder):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            return ".".join([package, *parts])
    raise AssertionError(path)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for sub in ast.walk(child):
                    if hasattr(sub, "lineno"):
                        lines.add(sub.lineno)
    return lines


def import_graph() -> dict[str, set[str]]:
    """``module -> {our modules it imports}`` over avem_plugins, plugins/ and tasks/."""
    files = {p: _module_name(p) for folder in SOURCES for p in folder.rglob("*.py")}
    modules = set(files.values())
    graph: dict[str, set[str]] = {}
    for path, name in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    deps.add(target)
        graph[name] = deps
    return graph


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_is_read():
    graph = import_graph()
    assert "avem_plugins.dpo.trainer" in graph["avem_plugins.launch.launcher"] | {
        d for m in graph if m.startswith("avem_plugins.launch") for d in graph[m]
    }
    assert "avem_plugins.adapters.base" in graph["avem_plugins.registry"]


def test_no_import_cycle():
    cycle = _cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_detector_finds_a_planted_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_each_part_imports_only_what_the_map_allows():
    graph = import_graph()
    parts = {_part(m) for m in graph}
    unknown = parts - set(ALLOWED)
    assert not unknown, (
        f"parts missing from the map (add them here and to CONTRIBUTING.md): {unknown}"
    )
    bad = sorted(
        f"{module} imports {dep}"
        for module, deps in graph.items()
        for dep in deps
        if _part(module) != "cli"
        and _part(dep) != _part(module)
        and _part(dep) not in ALLOWED[_part(module)]
    )
    assert not bad, "layering broken:\n" + "\n".join(bad)


@pytest.mark.parametrize("part", ["modality", "hookspecs", "runinfo", "importhook", "extras"])
def test_the_base_imports_nothing_of_ours(part):
    graph = import_graph()
    assert not graph[f"avem_plugins.{part}"] - {"avem_plugins"}


def test_test_modules_have_unique_basenames():
    """pytest's default (prepend) import mode keys test and helper modules by basename: two
    ``test_study.py`` in different folders stop the whole session at collection. Folders
    mirror the package, so names must stay unique across ``tests/``."""
    seen: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if "data" in path.relative_to(ROOT / "tests").parts or path.name in (
            "conftest.py",
            "__init__.py",
        ):
            continue
        seen.setdefault(path.stem, []).append(str(path.relative_to(ROOT)))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, f"rename one of each: {clashes}"
