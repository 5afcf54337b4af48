"""The one-way imports of the design, checked on the source: a violation fails here first."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# bench/'s subpackages, lowest first. Each imports only itself and the layers before it, so
# what a user gives (config) and what is stored (store) never depend on how it is run, and the
# readers of a run (analysis, plots, report) never on the command line. docs/architecture.md
# draws this list.
LAYERS = ["config", "store", "run", "probe", "analysis", "plots", "report", "cli"]


def _imports(path: Path) -> set[str]:
    """Every module a file imports (absolute names), at any depth of the file, lazy and
    TYPE_CHECKING imports included; `from pkg import name` counts as `pkg` and `pkg.name`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _offending(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _files(folder)
        for name in sorted(_imports(path))
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def _layer_of(module: str) -> str | None:
    """The bench subpackage a module name belongs to (None: not inside one)."""
    parts = module.split(".")
    if parts[:2] == ["statebench", "bench"] and len(parts) > 2 and parts[2] in LAYERS:
        return parts[2]
    return None


def _layer_graph() -> dict[str, dict[str, list[str]]]:
    """layer -> {imported layer: [files of the layer that import it]}."""
    graph: dict[str, dict[str, list[str]]] = {layer: {} for layer in LAYERS}
    for layer in LAYERS:
        for path in _files(f"bench/{layer}"):
            for name in _imports(path):
                target = _layer_of(name)
                if target is not None and target != layer:
                    graph[layer].setdefault(target, []).append(str(path.relative_to(ROOT)))
    return graph


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("tasks", ("statebench.bench", "statebench.models", "bench", "models")),
        ("models", ("statebench.bench", "statebench.tasks", "bench", "tasks")),
    ],
)
def test_imports_point_one_way(folder, forbidden):
    assert _files(folder), f"no Python files under {folder}"
    assert _offending(folder, forbidden) == []


def test_bench_is_made_of_the_layers_and_nothing_else():
    """No module lies directly under bench/ (its __init__ is the only file), and every
    subpackage is a named layer, so a new one has to take its place in LAYERS."""
    bench = ROOT / "bench"
    assert sorted(p.name for p in bench.glob("*.py")) == ["__init__.py"]
    packages = {p.parent.name for p in bench.glob("*/__init__.py")}
    assert packages == set(LAYERS)
    # a folder with Python files but no __init__.py would dodge the checks below
    folders = {p.relative_to(bench).parts[0] for p in bench.rglob("*.py") if p.parent != bench}
    assert folders <= set(LAYERS), folders


def test_each_layer_imports_only_itself_and_the_layers_below():
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    upward = [
        f"{file} ({layer}) imports {target}, a higher layer"
        for layer, targets in _layer_graph().items()
        for target, files in targets.items()
        if rank[target] > rank[layer]
        for file in sorted(set(files))
    ]
    assert upward == []


def test_no_import_circle_between_subpackages():
    graph = {layer: set(targets) for layer, targets in _layer_graph().items()}
    circles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt == path[0]:
                circles.append(" -> ".join([*path, nxt]))
            elif nxt not in path and nxt > path[0]:  # each circle once, from its least node
                visit(nxt, [*path, nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert circles == []


def test_the_bench_package_imports_none_of_its_layers():
    """`import statebench.bench` (which every subpackage import runs first) stays light."""
    assert not {n for n in _imports(ROOT / "bench" / "__init__.py") if _layer_of(n)}


def test_plots_and_report_take_scores_from_analysis():
    users = _files("bench/plots") + _files("bench/report")
    importers = {p.name for p in users if any("bench.analysis" in n for n in _imports(p))}
    assert importers, "plots and report no longer use bench.analysis"


def test_no_generic_top_level_imports_in_the_package():
    """Everything imports through the one namespace `statebench`."""
    files = [*_files("bench"), *_files("models"), *_files("tasks")]
    files += sorted((ROOT / "src" / "statebench").glob("*.py"))
    bare = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        for name in _imports(path)
        if name.split(".")[0] in ("bench", "models", "tasks")
    ]
    assert bare == []
